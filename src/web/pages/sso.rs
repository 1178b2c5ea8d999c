//! Single sign-on pages: `/login/oidc` sends the browser to the identity provider (with a
//! cookie that ties the coming callback to this browser), `/login/oidc/callback` finishes
//! the sign-in or shows the sign-in page with the reason in Spanish.

use super::auth::{show_login, signed_in};
use super::cookie_header;
use crate::service::sso::SsoCallback;
use crate::web::AppState;
use crate::web::error::{AppError, PageError};
use crate::web::extract::cookie;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// Ties the callback to the browser that started the sign-in. SameSite=Lax: the callback
/// is a navigation from the provider's site.
pub const SSO_COOKIE: &str = "soporte_oidc";

pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    match state.services.sso_start().await {
        Ok(start) => {
            let mut response = Redirect::to(&start.url).into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                cookie_header(
                    SSO_COOKIE,
                    &start.browser_token,
                    "/login/oidc",
                    "Lax",
                    state.config.cookie_secure,
                    Some(crate::domain::oauth::AUTHORIZATION_TTL_SECS),
                ),
            );
            Ok(response)
        }
        Err(e) => failed(&state, &headers, AppError::from(e)),
    }
}

#[derive(Deserialize, Default)]
pub struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<Response, PageError> {
    let q: CallbackQuery = raw
        .and_then(|r| serde_urlencoded::from_str(&r).ok())
        .unwrap_or_default();
    let callback = SsoCallback {
        state: q.state,
        code: q.code,
        error: q.error,
        error_description: q.error_description,
    };
    let browser = cookie(&headers, SSO_COOKIE);
    let result = state
        .services
        .sso_finish(&callback, browser.as_deref())
        .await;
    let mut response = match result {
        Ok((token, user)) => signed_in(&state, &token, &user),
        Err(e) => failed(&state, &headers, AppError::from(e))?,
    };
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(
            SSO_COOKIE,
            "",
            "/login/oidc",
            "Lax",
            state.config.cookie_secure,
            Some(0),
        ),
    );
    Ok(response)
}

/// The sign-in page with the reason; internal failures stay an error page with its id.
fn failed(state: &AppState, headers: &HeaderMap, e: AppError) -> Result<Response, PageError> {
    if e.status.is_server_error() && e.status != axum::http::StatusCode::SERVICE_UNAVAILABLE {
        return Err(PageError(e));
    }
    show_login(
        state,
        headers,
        None,
        e.status,
        String::new(),
        Some(e.message),
    )
}

//! Two-factor authentication pages: the second step of a sign-in (`/login/2fa`) and the
//! person's own set-up (`/account/2fa`: QR code drawn by the server, recovery codes shown
//! once, switching off).

use super::auth::signed_in;
use super::cookie_header;
use super::{Chrome, render};
use crate::service::auth::Session;
use crate::service::twofactor::{TotpSetup, TwoFactorStatus};
use crate::web::AppState;
use crate::web::error::{AppError, PageError};
use crate::web::extract::{
    AnySession, CHALLENGE_COOKIE, ClientAddr, CsrfForm, CurrentUser, LOGIN_CSRF_COOKIE, LoginForm,
    cookie,
};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "auth/second_factor.html")]
pub struct SecondFactorPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub error: Option<String>,
}

#[derive(Deserialize)]
pub struct CodeInput {
    #[serde(default)]
    code: String,
}

fn login_csrf(headers: &HeaderMap) -> Result<String, PageError> {
    match cookie(headers, LOGIN_CSRF_COOKIE)
        .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        Some(c) => Ok(c),
        None => Ok(crate::service::random_hex(32).map_err(AppError::from)?),
    }
}

fn second_factor_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, PageError> {
    let csrf = login_csrf(headers)?;
    let mut response = render(
        status,
        &SecondFactorPage {
            chrome: Chrome::anonymous(),
            csrf: csrf.clone(),
            error,
        },
    )?;
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(
            LOGIN_CSRF_COOKIE,
            &csrf,
            "/login",
            "Strict",
            state.config.cookie_secure,
            None,
        ),
    );
    Ok(response)
}

/// `GET /login/2fa`: the code form, while a right password is waiting for it.
pub async fn challenge_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let pending = match cookie(&headers, CHALLENGE_COOKIE) {
        Some(c) => state.services.challenge_pending(&c).await?,
        None => false,
    };
    if !pending {
        return Ok(Redirect::to("/login").into_response());
    }
    second_factor_page(&state, &headers, StatusCode::OK, None)
}

/// `POST /login/2fa`: checks the code (throttled like passwords) and signs in.
pub async fn challenge_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: ClientAddr,
    LoginForm(input): LoginForm<CodeInput>,
) -> Result<Response, PageError> {
    let Some(challenge) = cookie(&headers, CHALLENGE_COOKIE) else {
        return Ok(Redirect::to("/login").into_response());
    };
    match state
        .services
        .second_factor(&challenge, &input.code, &client.label())
        .await
    {
        Ok((token, user)) => {
            let mut response = signed_in(&state, &token, &user);
            response.headers_mut().append(
                header::SET_COOKIE,
                cookie_header(
                    CHALLENGE_COOKIE,
                    "",
                    "/login",
                    "Strict",
                    state.config.cookie_secure,
                    Some(0),
                ),
            );
            Ok(response)
        }
        Err(e) => {
            let e = AppError::from(e);
            if e.status.is_server_error() {
                return Err(PageError(e));
            }
            if e.code == "challenge_expired" {
                return super::auth::show_login(
                    &state,
                    &headers,
                    None,
                    e.status,
                    String::new(),
                    Some(e.message),
                );
            }
            second_factor_page(&state, &headers, e.status, Some(e.message))
        }
    }
}

#[derive(Template)]
#[template(path = "auth/twofactor.html")]
pub struct TwoFactorPage {
    pub chrome: Chrome,
    pub status: TwoFactorStatus,
    pub setup: Option<TotpSetup>,
    pub codes: Vec<String>,
    pub error: Option<String>,
    /// `--require-2fa-admins` sent this administrator here.
    pub required: bool,
    /// Signed in through the identity provider.
    pub external: bool,
}

fn chrome_of(session: &Session) -> Chrome {
    let user = CurrentUser {
        user: session.user.clone(),
        session: Some(session.clone()),
    };
    let mut chrome = Chrome::for_user(&user, "twofactor");
    chrome.locked = session.user.must_change_password;
    chrome
}

async fn page(
    state: &AppState,
    session: &Session,
    status_code: StatusCode,
    codes: Vec<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let status = state.services.two_factor_status(session.user.id).await?;
    let setup = if status.pending {
        Some(state.services.totp_setup(&session.user, false).await?)
    } else {
        None
    };
    let must = state.services.must_set_up_second_factor(session);
    let mut chrome = chrome_of(session);
    chrome.locked = (must && !status.enabled) || session.user.must_change_password;
    render(
        status_code,
        &TwoFactorPage {
            chrome,
            status,
            setup,
            codes,
            error,
            required: must && !status.enabled,
            external: session.method == "sso",
        },
    )
}

fn must_change_first(session: &Session) -> Option<Response> {
    session
        .user
        .must_change_password
        .then(|| Redirect::to("/account/password").into_response())
}

pub async fn show(
    State(state): State<AppState>,
    AnySession(session): AnySession,
) -> Result<Response, PageError> {
    if let Some(r) = must_change_first(&session) {
        return Ok(r);
    }
    let codes = state
        .services
        .take_recovery_codes(&session)
        .await
        .map_err(AppError::from)?;
    page(&state, &session, StatusCode::OK, codes, None).await
}

/// After a form that issued recovery codes: they wait, sealed, on the session and the page
/// after the redirect shows them once.
async fn show_codes_next(
    state: &AppState,
    session: &Session,
    codes: &[String],
) -> Result<Response, PageError> {
    state
        .services
        .keep_recovery_codes(session, codes)
        .await
        .map_err(AppError::from)?;
    Ok(Redirect::to("/account/2fa").into_response())
}

/// Starts a set-up (a new seed) and shows it.
pub async fn setup(
    State(state): State<AppState>,
    CsrfForm { session, .. }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    if let Some(r) = must_change_first(&session) {
        return Ok(r);
    }
    match state.services.totp_setup(&session.user, true).await {
        Ok(_) => Ok(Redirect::to("/account/2fa").into_response()),
        Err(e) => {
            let e = AppError::from(e);
            if e.status.is_server_error() {
                return Err(PageError(e));
            }
            page(&state, &session, e.status, Vec::new(), Some(e.message)).await
        }
    }
}

pub async fn enable(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<CodeInput>,
) -> Result<Response, PageError> {
    if let Some(r) = must_change_first(&session) {
        return Ok(r);
    }
    match state.services.totp_enable(&session.user, &form.code).await {
        Ok(codes) => show_codes_next(&state, &session, &codes).await,
        Err(e) => {
            let e = AppError::from(e);
            if e.status.is_server_error() {
                return Err(PageError(e));
            }
            page(&state, &session, e.status, Vec::new(), Some(e.message)).await
        }
    }
}

pub async fn disable(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<CodeInput>,
) -> Result<Response, PageError> {
    match state.services.totp_disable(&session.user, &form.code).await {
        Ok(()) => {
            super::redirect_with_flash(
                &state,
                &session,
                "/account/2fa",
                "Verificación en dos pasos desactivada.",
            )
            .await
        }
        Err(e) => {
            let e = AppError::from(e);
            if e.status.is_server_error() {
                return Err(PageError(e));
            }
            page(&state, &session, e.status, Vec::new(), Some(e.message)).await
        }
    }
}

pub async fn recovery(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<CodeInput>,
) -> Result<Response, PageError> {
    match state
        .services
        .recovery_codes_renew(&session.user, &form.code)
        .await
    {
        Ok(codes) => show_codes_next(&state, &session, &codes).await,
        Err(e) => {
            let e = AppError::from(e);
            if e.status.is_server_error() {
                return Err(PageError(e));
            }
            page(&state, &session, e.status, Vec::new(), Some(e.message)).await
        }
    }
}

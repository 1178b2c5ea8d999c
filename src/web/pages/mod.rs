//! HTML pages: one askama struct per page, compiled in. Shared pieces (the layout's
//! navigation, flash messages, formatting for people) live here.

pub mod admin;
pub mod attachments;
pub mod auth;
pub mod dashboard;
pub mod export;
pub mod quarantine;
pub mod status;
pub mod tickets;

use super::AppState;
use super::error::{AppError, PageError};
use super::extract::CurrentUser;
use crate::domain::access::{Capability, may};
use crate::domain::user::Role;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

/// What the layout needs: who is signed in, the CSRF token for the sign-out button, the
/// one-shot confirmation message, and which section is current.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    pub signed_in: bool,
    pub user_name: String,
    pub role_label: &'static str,
    pub is_staff: bool,
    pub is_admin: bool,
    pub csrf: String,
    pub flash: Option<String>,
    pub section: &'static str,
    /// Must choose a new password first: the navigation would only bounce back here.
    pub locked: bool,
}

impl Chrome {
    pub fn for_user(user: &CurrentUser, section: &'static str) -> Chrome {
        Chrome {
            signed_in: true,
            user_name: user.user.name.clone(),
            role_label: user.user.role.label(),
            is_staff: may(user.user.role, Capability::Dispatch),
            is_admin: user.user.role == Role::Admin,
            csrf: user.csrf().to_string(),
            flash: user.session.as_ref().and_then(|s| s.flash.clone()),
            section,
            locked: user.user.must_change_password,
        }
    }

    pub fn anonymous() -> Chrome {
        Chrome::default()
    }
}

/// Renders a template into a response; a render failure is an app error, never a panic.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Result<Response, PageError> {
    match page.render() {
        Ok(html) => Ok((status, Html(html)).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "failed to render template");
            Err(PageError(AppError::internal()))
        }
    }
}

pub fn ok<T: Template>(page: &T) -> Result<Response, PageError> {
    render(StatusCode::OK, page)
}

/// Redirect after a successful form, with a confirmation to show once.
pub async fn redirect_with_flash(
    state: &AppState,
    session: &crate::service::auth::Session,
    to: &str,
    message: &str,
) -> Result<Response, PageError> {
    state.services.set_flash(session, message).await?;
    Ok(Redirect::to(to).into_response())
}

pub async fn health(State(state): State<AppState>) -> Response {
    match state.services.health().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// A `Set-Cookie` value: HttpOnly always, `Secure` when the site is served over HTTPS.
pub fn cookie_header(
    name: &str,
    value: &str,
    path: &str,
    same_site: &str,
    secure: bool,
    max_age: Option<i64>,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite={same_site}");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

const STYLESHEET: &str = include_str!("../../../static/app.css");
/// The one script: a pasted screenshot becomes a file of the form (forms work without it).
const SCRIPT: &str = include_str!("../../../static/app.js");

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

pub async fn not_found(req: axum::extract::Request) -> Response {
    let (parts, _) = req.into_parts();
    if parts.uri.path().starts_with("/s/") {
        // A requester's mistyped link: their own page's 404, not the help desk's.
        return status::missing();
    }
    super::error::respond(&parts, AppError::not_found())
}

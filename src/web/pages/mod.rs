//! HTML pages: one askama struct per page, compiled in. Shared pieces (the layout's
//! navigation, flash messages, formatting for people) live here.

pub mod admin;
pub mod attachments;
pub mod auth;
pub mod dashboard;
pub mod export;
pub mod mailbox;
pub mod notifications;
pub mod quarantine;
pub mod queue;
pub mod sla;
pub mod sso;
pub mod status;
pub mod tickets;
pub mod twofactor;

use super::AppState;
use super::error::{AppError, PageError};
use super::extract::CurrentUser;
use crate::domain::access::{Capability, may};
use crate::domain::user::Role;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

pub use super::chrome::Chrome;

impl Chrome {
    /// The layout for the person of a request: their session's, or (an API token has no
    /// session) the same without a form token, flash or alert.
    pub fn for_user(user: &CurrentUser, section: &'static str) -> Chrome {
        match &user.session {
            Some(session) => Chrome::for_session(session, section),
            None => Chrome {
                signed_in: true,
                user_id: user.user.id.0,
                user_name: user.user.name.clone(),
                role_label: user.user.role.label(),
                is_staff: may(user.user.role, Capability::Dispatch),
                is_admin: user.user.role == Role::Admin,
                section,
                locked: user.user.must_change_password,
                ..Chrome::default()
            },
        }
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

#[derive(serde::Deserialize, Default)]
pub struct HealthQuery {
    #[serde(default)]
    detail: Option<String>,
}

/// `GET /healthz` (200 `ok` / 503), or with `?detail=1` the JSON
/// `{"status": "ok"|"degraded", "checks": {"database", "mail_fetch", "mail_send"}}`.
pub async fn health(
    State(state): State<AppState>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    let q: HealthQuery = raw
        .and_then(|r| serde_urlencoded::from_str(&r).ok())
        .unwrap_or_default();
    let detail = q
        .detail
        .is_some_and(|d| matches!(d.as_str(), "1" | "true" | "yes"));
    if detail {
        return health_detail(&state).await;
    }
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

/// `GET /healthz?detail=1`: each part's state as JSON.
async fn health_detail(state: &AppState) -> Response {
    use crate::domain::mailbox::{Direction, State as H};
    use crate::domain::time::format_rfc3339;
    use serde_json::json;
    let database_ok = match state.services.health().await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            false
        }
    };
    let (fetch_on, send_on) = state.services.mail_directions();
    let mut degraded = !database_ok;
    let mail = |d: Direction, on: bool| async move {
        let h = if database_ok {
            state.services.mail_health(d).await.ok()
        } else {
            None
        };
        let status = match &h {
            Some(h) => h.state(on),
            None if !on => H::Disabled,
            None => H::Unknown,
        };
        let h = h.unwrap_or_default();
        (
            status == H::Failing,
            json!({
                "status": status.as_str(),
                "last_success_at": h.last_success_at.map(format_rfc3339),
                "last_error": if status == H::Failing { h.last_error } else { None },
                "failing_since": h.failing_since.map(format_rfc3339),
            }),
        )
    };
    let (fetch_failing, fetch) = mail(Direction::Fetch, fetch_on).await;
    let (send_failing, send) = mail(Direction::Send, send_on).await;
    degraded |= fetch_failing || send_failing;
    let body = json!({
        "status": if degraded { "degraded" } else { "ok" },
        "checks": {
            "database": {"status": if database_ok { "ok" } else { "failing" }},
            "mail_fetch": fetch,
            "mail_send": send,
        }
    });
    let code = if database_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

/// The one stylesheet, served as `/static/app.css`: the base, then the queue's and the
/// ticket page's own rules.
const STYLESHEET: &str = concat!(
    include_str!("../../../static/css/base.css"),
    include_str!("../../../static/css/queue.css"),
    include_str!("../../../static/css/ticket.css"),
);
/// The one script, served as `/static/app.js`, made of one file per concern under
/// `static/js/`: a pasted screenshot becomes a file of the form; live updates share one
/// event stream per browser. Every page works without it.
const SCRIPT: &str = concat!(
    include_str!("../../../static/js/paste.js"),
    include_str!("../../../static/js/live.js"),
    include_str!("../../../static/js/queue.js"),
    include_str!("../../../static/js/ticket.js"),
    include_str!("../../../static/js/keys.js"),
);

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

/// The page a form's address belongs to: `/tickets/5/comment` → `/tickets/5`,
/// `/admin/credentials/3/reset` → `/admin/credentials`, `/account/2fa/setup` → `/account/2fa`.
pub fn form_home(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["tickets", id, _, ..] => Some(format!("/tickets/{id}")),
        ["admin", section, _, ..] | ["account", section, _, ..] => {
            Some(format!("/{}/{section}", parts[0]))
        }
        _ => None,
    }
}

/// A route exists but not for this method (usually a GET of an address that only takes
/// forms): a GET goes to the page the form lives on; anything else gets a Spanish page (or
/// the API's JSON error), never a browser's bare 405.
pub async fn method_not_allowed(req: axum::extract::Request) -> Response {
    let (parts, _) = req.into_parts();
    let get = parts.method == axum::http::Method::GET || parts.method == axum::http::Method::HEAD;
    if get
        && !super::error::wants_json(&parts)
        && let Some(home) = form_home(parts.uri.path())
    {
        return Redirect::to(&home).into_response();
    }
    super::error::respond(
        &parts,
        AppError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Esta dirección solo recibe formularios enviados desde la aplicación. Vuelva a la página y envíe el formulario desde allí.",
        ),
    )
}

pub async fn not_found(req: axum::extract::Request) -> Response {
    let (parts, _) = req.into_parts();
    if parts.uri.path().starts_with("/s/") {
        // A requester's mistyped link: their own page's 404, not the help desk's.
        return status::missing();
    }
    super::error::respond(&parts, AppError::not_found())
}

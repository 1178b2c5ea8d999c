//! `/admin/mail` (Correo): per direction the last success, the last error in Spanish and,
//! with OAuth2, the token's expiry; "Conectar buzón" (authorization code + PKCE at the
//! provider), "Desconectar", and "Probar conexión" (one fetch and one send).

use super::{Chrome, ok, redirect_with_flash, render};
use crate::domain::mailbox::State as HealthState;
use crate::domain::time::format_lima;
use crate::mail::watch::CheckLine;
use crate::service::mailbox::{DirectionView, MailboxStatus};
use crate::web::AppState;
use crate::web::error::{AppError, PageError};
use crate::web::extract::{Admin, CsrfForm, CurrentUser};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// One direction as the page shows it.
pub struct DirectionRow {
    pub label: &'static str,
    pub state: &'static str,
    pub state_class: &'static str,
    pub last_success: String,
    pub last_error: Option<String>,
    pub last_error_at: String,
    pub failing_since: String,
}

fn row(d: &DirectionView) -> DirectionRow {
    let state = d.health.state(d.configured);
    let (label, class) = match state {
        HealthState::Disabled => ("No configurado", "status-off"),
        HealthState::Unknown => ("Sin probar todavía", "status-off"),
        HealthState::Ok => ("Funciona", "status-ok"),
        HealthState::Failing => ("Falla", "status-failing"),
    };
    let when = |t: Option<i64>| t.map(format_lima).unwrap_or_else(|| "—".to_string());
    DirectionRow {
        label: d.direction.label(),
        state: label,
        state_class: class,
        last_success: when(d.health.last_success_at),
        last_error: d.health.last_error.clone(),
        last_error_at: when(d.health.last_error_at),
        failing_since: when(d.health.failing_since),
    }
}

/// The OAuth2 part of the page (never a token; "configurado" at most).
pub struct OAuthRow {
    pub provider: &'static str,
    pub grant: &'static str,
    pub delegated: bool,
    pub mechanism: &'static str,
    pub connected: bool,
    pub account: String,
    pub connected_at: String,
    pub connected_by: String,
    pub expires: String,
    pub refreshed_at: String,
    pub rotations: i64,
    pub refresh_token: &'static str,
}

#[derive(Template)]
#[template(path = "admin/mail.html")]
pub struct MailPage {
    pub chrome: Chrome,
    pub rows: Vec<DirectionRow>,
    pub oauth: Option<OAuthRow>,
    pub checks: Vec<CheckRow>,
    pub error: Option<String>,
}

pub struct CheckRow {
    pub label: &'static str,
    pub ok: bool,
    pub message: String,
}

fn page(
    admin: &CurrentUser,
    status: MailboxStatus,
    checks: Vec<CheckLine>,
    error: Option<String>,
) -> MailPage {
    let when = |t: Option<i64>| t.map(format_lima).unwrap_or_else(|| "—".to_string());
    let oauth = status.oauth.map(|o| OAuthRow {
        provider: o.provider,
        grant: match o.grant {
            crate::domain::oauth::Grant::Delegated => "delegado (una cuenta autoriza el acceso)",
            crate::domain::oauth::Grant::AppOnly => "de aplicación (credenciales de cliente)",
        },
        delegated: o.grant == crate::domain::oauth::Grant::Delegated,
        mechanism: o.mechanism,
        connected: o.connected,
        account: o.account.unwrap_or_else(|| "—".to_string()),
        connected_at: when(o.connected_at),
        connected_by: o.connected_by.unwrap_or_else(|| "—".to_string()),
        expires: when(o.access_expires_at),
        refreshed_at: when(o.refreshed_at),
        rotations: o.rotations,
        refresh_token: if o.refresh_token_stored {
            "configurado"
        } else {
            "no"
        },
    });
    MailPage {
        chrome: Chrome::for_user(admin, "mail"),
        rows: vec![row(&status.fetch), row(&status.send)],
        oauth,
        checks: checks
            .into_iter()
            .map(|c| CheckRow {
                label: c.direction.label(),
                ok: c.ok,
                message: c.message,
            })
            .collect(),
        error,
    }
}

/// What `session` keeps of a connection test between the POST and the page after it.
const TEST_RESULT: &str = "mail_test";

fn encode_checks(checks: &[CheckLine]) -> String {
    serde_json::Value::Array(
        checks
            .iter()
            .map(|c| {
                serde_json::json!({
                    "direction": c.direction.as_str(),
                    "ok": c.ok,
                    "message": c.message,
                })
            })
            .collect(),
    )
    .to_string()
}

fn decode_checks(text: &str) -> Vec<CheckLine> {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(text)
    else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|v| {
            Some(CheckLine {
                direction: crate::domain::mailbox::Direction::parse(v["direction"].as_str()?)?,
                ok: v["ok"].as_bool()?,
                message: v["message"].as_str()?.to_string(),
            })
        })
        .collect()
}

pub async fn show(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Response, PageError> {
    let checks = match admin.session.as_ref() {
        Some(session) => state
            .services
            .take_kept(session, TEST_RESULT)
            .await?
            .map(|t| decode_checks(&t))
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let status = state.services.mailbox_status().await?;
    ok(&page(&admin, status, checks, None))
}

/// "Conectar buzón" (a link: the provider's page is on another site, which the page's
/// `form-action 'self'` would not let a form reach).
pub async fn connect(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Response, PageError> {
    match state.services.mail_connect_start(&admin.user).await {
        Ok(url) => Ok(Redirect::to(&url).into_response()),
        Err(e) => failed(&state, &admin, AppError::from(e)).await,
    }
}

#[derive(Deserialize, Default)]
pub struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

pub async fn callback(
    State(state): State<AppState>,
    Admin(admin): Admin,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<Response, PageError> {
    let q: CallbackQuery = raw
        .and_then(|r| serde_urlencoded::from_str(&r).ok())
        .unwrap_or_default();
    match state
        .services
        .mail_connect_finish(
            &admin.user,
            q.state.as_deref(),
            q.code.as_deref(),
            q.error.as_deref(),
        )
        .await
    {
        Ok(account) => {
            let mailbox = state
                .config
                .mail
                .imap_user
                .as_deref()
                .map(|u| u.trim().to_lowercase());
            let message = match (account, mailbox) {
                (Some(a), Some(m)) if a.to_lowercase() != m => format!(
                    "Buzón conectado con la cuenta {a}, que no es la del buzón ({m}): si el servidor rechaza el ingreso, vuelva a conectar iniciando sesión como {m}."
                ),
                (Some(a), _) => format!("Buzón conectado con la cuenta {a}."),
                (None, _) => "Buzón conectado.".to_string(),
            };
            match &admin.session {
                Some(session) => {
                    redirect_with_flash(&state, session, "/admin/mail", &message).await
                }
                None => Ok(Redirect::to("/admin/mail").into_response()),
            }
        }
        Err(e) => failed(&state, &admin, AppError::from(e)).await,
    }
}

pub async fn disconnect(
    State(state): State<AppState>,
    Admin(admin): Admin,
    CsrfForm { session, .. }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    state.services.mail_disconnect(&admin.user).await?;
    redirect_with_flash(&state, &session, "/admin/mail", "Buzón desconectado.").await
}

/// "Probar conexión": one fetch and one send, and what happened.
pub async fn test(
    State(state): State<AppState>,
    Admin(admin): Admin,
    CsrfForm { session, .. }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let checks =
        crate::mail::watch::test_connection(&state.services, &state.config.mail, &admin.user.email)
            .await;
    // The result is kept for the page after the redirect: a refresh there does not test
    // (and send a test message) again.
    state
        .services
        .keep_for_next_page(&session, TEST_RESULT, &encode_checks(&checks))
        .await?;
    Ok(Redirect::to("/admin/mail").into_response())
}

async fn failed(state: &AppState, admin: &CurrentUser, e: AppError) -> Result<Response, PageError> {
    if e.status.is_server_error() && e.status != StatusCode::SERVICE_UNAVAILABLE {
        return Err(PageError(e));
    }
    let status = state.services.mailbox_status().await?;
    render(e.status, &page(admin, status, Vec::new(), Some(e.message)))
}

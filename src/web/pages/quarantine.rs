//! The quarantine (administrator only): messages kept out of the ticket flow, each of which
//! can be turned into a ticket by hand. Attachment downloads are in `attachments`.

use super::{Chrome, ok, redirect_with_flash};
use crate::domain::ids::TicketNumber;
use crate::domain::mail::human_size;
use crate::domain::time::format_lima;
use crate::web::AppState;
use crate::web::error::{AppError, PageError};
use crate::web::extract::{Admin, CsrfForm, CurrentUser};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

pub struct QuarantineRow {
    pub id: i64,
    pub received: String,
    pub sender: String,
    pub subject: String,
    pub reason: String,
    pub size: String,
    pub ticket: Option<(i64, String)>,
}

impl QuarantineRow {
    fn new(q: &crate::domain::mail::Quarantined) -> QuarantineRow {
        QuarantineRow {
            id: q.id,
            received: format_lima(q.received_at),
            sender: if q.sender.is_empty() {
                "(sin remitente)".to_string()
            } else {
                q.sender.clone()
            },
            subject: if q.subject.is_empty() {
                "(sin asunto)".to_string()
            } else {
                q.subject.clone()
            },
            reason: q.reason.clone(),
            size: human_size(usize::try_from(q.size).unwrap_or(0)),
            ticket: q.ticket.map(|t| (t.0, TicketNumber(t).to_string())),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/quarantine.html")]
pub struct QuarantinePage {
    pub chrome: Chrome,
    pub rows: Vec<QuarantineRow>,
}

pub async fn quarantine_list(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Response, PageError> {
    let rows = state.services.quarantine(&admin.actor()).await?;
    ok(&QuarantinePage {
        chrome: Chrome::for_user(&admin, "quarantine"),
        rows: rows.iter().map(QuarantineRow::new).collect(),
    })
}

#[derive(Template)]
#[template(path = "admin/quarantine_show.html")]
pub struct QuarantineShowPage {
    pub chrome: Chrome,
    pub row: QuarantineRow,
    pub text: String,
    pub headers: String,
    pub error: Option<String>,
}

async fn show_page(
    state: &AppState,
    admin: &CurrentUser,
    id: i64,
    error: Option<String>,
) -> Result<QuarantineShowPage, PageError> {
    let (entry, raw) = state.services.quarantined(&admin.actor(), id).await?;
    let mail = crate::mail::parse::parse(&raw, &state.config.mail_limits);
    // The header block as it arrived, for the administrator to judge (never interpreted).
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len())
        .min(16 * 1024);
    Ok(QuarantineShowPage {
        chrome: Chrome::for_user(admin, "quarantine"),
        row: QuarantineRow::new(&entry),
        text: mail.text.chars().take(20_000).collect(),
        headers: String::from_utf8_lossy(&raw[..head_end]).into_owned(),
        error,
    })
}

fn quarantine_id(raw: &str) -> Result<i64, AppError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(AppError::not_found)
}

pub async fn quarantine_show(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    ok(&show_page(&state, &admin, quarantine_id(&id)?, None).await?)
}

#[derive(Default, Deserialize)]
pub struct ReleaseForm {}

/// "Crear incidencia": the administrator turns a held message into a ticket.
pub async fn quarantine_release(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<ReleaseForm>,
) -> Result<Response, PageError> {
    let id = quarantine_id(&id)?;
    let limits = state.config.mail_limits;
    let result = state
        .services
        .release_quarantined(&admin.actor(), id, |raw| {
            crate::mail::parse::parse(raw, &limits)
        })
        .await
        .map_err(AppError::from);
    match result {
        Ok(ticket) => {
            redirect_with_flash(
                &state,
                &session,
                &format!("/tickets/{}", ticket.id),
                &format!("Incidencia {} creada desde la cuarentena.", ticket.number()),
            )
            .await
        }
        Err(e) if e.status.is_client_error() && e.status != axum::http::StatusCode::NOT_FOUND => {
            let page = show_page(&state, &admin, id, Some(e.message)).await?;
            super::render(e.status, &page)
        }
        Err(e) => Err(PageError(e)),
    }
}

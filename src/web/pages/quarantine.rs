//! The mail channel's pages: the quarantine (administrator only: messages kept out of the
//! ticket flow, each of which can be turned into a ticket by hand), attachment downloads
//! (through the ticket's visibility: a ticket the user may not see has no attachments for
//! them), and the attachments/related-tickets panel of a ticket's page.

use super::{Chrome, ok, redirect_with_flash};
use crate::domain::ids::{TicketId, TicketNumber};
use crate::domain::mail::{AttachmentInfo, human_size};
use crate::domain::time::format_lima;
use crate::domain::user::Actor;
use crate::web::AppState;
use crate::web::error::{AppError, PageError};
use crate::web::extract::{Admin, CsrfForm, CurrentUser, TicketPath};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
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

/// An attachment, ready to list on a ticket's page.
pub struct AttachmentView {
    pub url: String,
    pub filename: String,
    pub size: String,
    pub stored: bool,
}

/// A related ticket, ready to show.
pub struct LinkView {
    pub url: String,
    pub number: String,
    pub reason: String,
}

/// The mail panel of a ticket's page.
#[derive(Default)]
pub struct TicketMail {
    pub attachments: Vec<AttachmentView>,
    pub links: Vec<LinkView>,
}

impl TicketMail {
    pub fn is_empty(&self) -> bool {
        self.attachments.is_empty() && self.links.is_empty()
    }
}

pub async fn ticket_mail(
    state: &AppState,
    actor: &Actor,
    id: TicketId,
) -> Result<TicketMail, PageError> {
    let (attachments, links) = state.services.ticket_mail(actor, id).await?;
    Ok(TicketMail {
        attachments: attachments.iter().map(attachment_view).collect(),
        links: links
            .into_iter()
            .map(|l| LinkView {
                url: format!("/tickets/{}", l.other),
                number: TicketNumber(l.other).to_string(),
                reason: l.reason,
            })
            .collect(),
    })
}

fn attachment_view(a: &AttachmentInfo) -> AttachmentView {
    AttachmentView {
        url: format!("/tickets/{}/attachments/{}", a.ticket, a.id),
        filename: a.filename.clone(),
        size: human_size(usize::try_from(a.size).unwrap_or(0)),
        stored: a.stored,
    }
}

/// `filename*=UTF-8''…` encoding (RFC 5987).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Types a browser could run as a page are always served as plain downloads.
fn served_type(stored: &str) -> String {
    let t = stored.trim().to_ascii_lowercase();
    let risky = t.contains("html") || t.contains("xml") || t.contains("javascript") || t.is_empty();
    if risky || !t.is_ascii() || t.contains(['\r', '\n', ';', ',']) {
        "application/octet-stream".to_string()
    } else {
        t
    }
}

/// The `{attachment}` of `/tickets/{id}/attachments/{attachment}`.
#[derive(Deserialize)]
pub struct AttachmentName {
    attachment: String,
}

pub async fn attachment_download(
    State(state): State<AppState>,
    user: CurrentUser,
    TicketPath(ticket): TicketPath,
    Path(AttachmentName { attachment }): Path<AttachmentName>,
) -> Result<Response, PageError> {
    let id = attachment
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(AppError::not_found)?;
    let (info, data) = state.services.attachment(&user.actor(), ticket, id).await?;
    let ascii: String = info
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
        ascii.replace(['"', '\\'], "_"),
        percent_encode(&info.filename)
    );
    let mut response = data.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&served_type(&info.content_type)) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_scripts_are_never_served_as_such() {
        assert_eq!(served_type("text/html"), "application/octet-stream");
        assert_eq!(served_type("image/svg+xml"), "application/octet-stream");
        assert_eq!(served_type("application/pdf"), "application/pdf");
        assert_eq!(
            percent_encode("informe técnico.pdf"),
            "informe%20t%C3%A9cnico.pdf"
        );
    }
}

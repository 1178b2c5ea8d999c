//! `POST /intake/email`: the mailbox's door. JSON as in the brief; loopback-only until an
//! intake token is configured, then `Authorization: Bearer <token>` from everyone.

use super::AppState;
use super::error::{ApiError, AppError};
use super::extract::{CallerRefusals, ClientAddr, RawBody, check_caller, parse_json};
use crate::domain::ticket::NewTicket;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct IntakeJson {
    from: String,
    subject: String,
    body: String,
    #[serde(default)]
    message_id: Option<String>,
}

/// What intake says to a caller it refuses.
const REFUSALS: CallerRefusals = CallerRefusals {
    without_token: "Falta el token de ingreso: envíe Authorization: Bearer <token>.",
    not_local: "El ingreso de correos solo acepta llamadas locales mientras no se configure SOPORTE_INTAKE_TOKEN.",
};

pub async fn email(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    check_caller(
        state.config.intake_token.as_ref(),
        &headers,
        &client,
        &REFUSALS,
    )?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (new, key) = match content_type.as_str() {
        "application/json" => {
            let input: IntakeJson = parse_json(&body)?;
            let new = NewTicket::parse(&input.from, &input.subject, &input.body)?;
            let key = input
                .message_id
                .filter(|m| !m.trim().is_empty())
                .map(|m| format!("mid:{}", m.trim().trim_matches(['<', '>'])))
                .or_else(|| idempotency_key(&headers));
            (new, key)
        }
        "message/rfc822" => return raw_message(&state, &body).await,
        _ => {
            return Err(AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Envíe Content-Type: application/json o message/rfc822.",
            )
            .into());
        }
    };
    let received = state.services.receive(&new, key.as_deref()).await?;
    let status = if received.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let number = crate::domain::ids::TicketNumber(received.id).to_string();
    Ok((
        status,
        axum::Json(
            json!({"id": received.id.0, "number": number, "status": received.status.as_str()}),
        ),
    )
        .into_response())
}

fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| format!("idem:{k}"))
}

/// A raw message (`Content-Type: message/rfc822`): parsed, threaded and filed in one go.
/// 201 a new ticket, 200 a reply added to a ticket (or a repeated delivery), 202 kept in
/// quarantine (an auto-reply or bulk mail), 422 unreadable (also kept in quarantine).
async fn raw_message(state: &AppState, raw: &[u8]) -> Result<Response, ApiError> {
    use crate::domain::ids::TicketNumber;
    use crate::service::mail::MailOutcome;
    let mail = crate::mail::parse::parse(raw, &state.config.mail_limits);
    let outcome = state.services.receive_mail(raw, &mail).await?;
    let (status, body) = match outcome {
        MailOutcome::Created {
            ticket,
            status,
            linked_to,
        } => {
            let mut body = json!({"id": ticket.0, "number": TicketNumber(ticket).to_string(), "status": status.as_str()});
            if let Some(other) = linked_to {
                body["linked_to"] = json!(TicketNumber(other).to_string());
            }
            (StatusCode::CREATED, body)
        }
        MailOutcome::Replied {
            ticket,
            status,
            matched_by,
        } => (
            StatusCode::OK,
            json!({"id": ticket.0, "number": TicketNumber(ticket).to_string(), "status": status.as_str(), "matched_by": matched_by}),
        ),
        MailOutcome::Duplicate { ticket, status } => (
            StatusCode::OK,
            json!({"id": ticket.0, "number": TicketNumber(ticket).to_string(), "status": status.as_str()}),
        ),
        MailOutcome::Quarantined {
            entry, unreadable, ..
        } => {
            if unreadable {
                let code = if entry.reason_code == "too_large" {
                    "message_too_large"
                } else {
                    "unreadable_message"
                };
                let mut e = AppError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    code,
                    format!(
                        "{} Quedó registrado en la cuarentena (n.º {}).",
                        entry.reason, entry.id
                    ),
                );
                e.field = Some("message");
                return Err(e.into());
            }
            (
                StatusCode::ACCEPTED,
                json!({"quarantined": true, "quarantine_id": entry.id, "code": entry.reason_code, "reason": entry.reason}),
            )
        }
    };
    Ok((status, axum::Json(body)).into_response())
}

//! `/api/v1/tickets…` and `/api/v1/technicians`: the same use cases as the pages, as JSON.

use crate::domain::DomainError;
use crate::domain::classification::{CategoryId, Priority};
use crate::domain::ids::{TicketId, UserId};
use crate::domain::ticket::{NewTicket, Ticket};
use crate::domain::time::format_rfc3339;
use crate::domain::timeline::Event;
use crate::domain::user::User;
use crate::service::sla::SlaView;
use crate::service::tickets::{Action, PAGE_SIZE};
use crate::web::AppState;
use crate::web::error::{ApiError, AppError};
use crate::web::extract::{ApiJson, CurrentUser, Staff, TicketPath};
use crate::web::query::{ListQuery, encode_cursor};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

fn opt_time(t: Option<i64>) -> Value {
    t.map(|t| json!(format_rfc3339(t))).unwrap_or(Value::Null)
}

/// A ticket as the API shows it, with its priority, category and clocks read at `view`.
pub fn ticket_json(t: &Ticket, view: &SlaView) -> Value {
    let mut v = json!({
        "id": t.id.0,
        "number": t.number().to_string(),
        "status": t.status.as_str(),
        "status_label": t.status.label(),
        "version": t.version,
        "subject": t.subject,
        "body": t.body,
        "requester": t.requester,
        "requester_name": t.requester_name,
        "assignee": t.assignee_id.map(|id| json!({"id": id.0, "name": t.assignee_name})),
        "created_at": format_rfc3339(t.created_at),
        "updated_at": format_rfc3339(t.updated_at),
        "first_assigned_at": opt_time(t.first_assigned_at),
        "first_response_at": opt_time(t.first_response_at),
        "closed_at": opt_time(t.closed_at),
        "resolution": t.resolution,
        "waiting_since": opt_time(t.waiting_since),
        "rating": t.rating.map(|score| json!({"score": score, "comment": t.rating_comment})),
    });
    if let Value::Object(map) = &mut v {
        super::sla::ticket_fields(t, view, map);
    }
    v
}

fn event_json(e: &Event) -> Value {
    json!({
        "kind": e.kind.as_str(),
        "label": e.kind.label(),
        "actor": e.actor,
        "actor_id": e.actor_id.map(|u| u.0),
        "at": format_rfc3339(e.at),
        "visibility": e.kind.visibility().as_str(),
        "data": e.data,
    })
}

pub fn technician_json(u: &User) -> Value {
    json!({"id": u.id.0, "name": u.name, "email": u.email, "active": u.active, "phone": u.phone, "area": u.area})
}

pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let filter = query.to_filter()?;
    let page = state
        .services
        .list_tickets(&user.actor(), &filter, query.limit.unwrap_or(PAGE_SIZE))
        .await?;
    let view = state.services.sla_view().await?;
    Ok(axum::Json(json!({
        "items": page.items.iter().map(|t| ticket_json(t, &view)).collect::<Vec<_>>(),
        "next_cursor": page.next.map(encode_cursor),
    }))
    .into_response())
}

pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    TicketPath(id): TicketPath,
) -> Result<Response, ApiError> {
    let (ticket, events) = state.services.ticket(&user.actor(), id).await?;
    let view = state.services.sla_view().await?;
    let mut body = ticket_json(&ticket, &view);
    body["timeline"] = Value::Array(events.iter().map(event_json).collect());
    Ok(axum::Json(body).into_response())
}

#[derive(Deserialize)]
pub struct CreateInput {
    #[serde(alias = "requester")]
    from: String,
    subject: String,
    #[serde(default)]
    body: String,
}

pub async fn create(
    State(state): State<AppState>,
    Staff(user): Staff,
    ApiJson(input): ApiJson<CreateInput>,
) -> Result<Response, ApiError> {
    let new = NewTicket::parse(&input.from, &input.subject, &input.body)?;
    let ticket = state.services.create_ticket(&user.actor(), &new).await?;
    let view = state.services.sla_view().await?;
    Ok((StatusCode::CREATED, axum::Json(ticket_json(&ticket, &view))).into_response())
}

#[derive(Deserialize)]
pub struct ActionInput {
    #[serde(default)]
    version: Option<i64>,
    #[serde(default)]
    technician_id: Option<i64>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    resolution: Option<String>,
    #[serde(default)]
    wait: bool,
}

impl ActionInput {
    fn technician(&self) -> Result<UserId, AppError> {
        self.technician_id.map(UserId).ok_or_else(|| {
            AppError::from(crate::domain::DomainError::validation(
                "technician_id",
                "Falta el campo «technician_id».",
            ))
        })
    }
}

async fn act(
    state: AppState,
    user: CurrentUser,
    id: TicketId,
    version: Option<i64>,
    action: Action,
) -> Result<Response, ApiError> {
    let ticket = state
        .services
        .act(&user.actor(), id, version, action)
        .await?;
    let view = state.services.sla_view().await?;
    Ok(axum::Json(ticket_json(&ticket, &view)).into_response())
}

pub async fn assign(
    State(state): State<AppState>,
    Staff(user): Staff,
    TicketPath(id): TicketPath,
    ApiJson(input): ApiJson<ActionInput>,
) -> Result<Response, ApiError> {
    let technician = input.technician()?;
    act(
        state,
        user,
        id,
        input.version,
        Action::Assign { technician },
    )
    .await
}

pub async fn reassign(
    State(state): State<AppState>,
    user: CurrentUser,
    TicketPath(id): TicketPath,
    ApiJson(input): ApiJson<ActionInput>,
) -> Result<Response, ApiError> {
    let technician = input.technician()?;
    let reason = input.reason.unwrap_or_default();
    act(
        state,
        user,
        id,
        input.version,
        Action::Reassign { technician, reason },
    )
    .await
}

pub async fn comment(
    State(state): State<AppState>,
    user: CurrentUser,
    TicketPath(id): TicketPath,
    ApiJson(input): ApiJson<ActionInput>,
) -> Result<Response, ApiError> {
    let body = input.body.unwrap_or_default();
    act(state, user, id, input.version, Action::Comment { body }).await
}

/// `POST /api/v1/tickets/{id}/replies` `{"body", "wait"}`: a public reply, e-mailed to the
/// requester (201 with the ticket).
pub async fn reply(
    State(state): State<AppState>,
    user: CurrentUser,
    TicketPath(id): TicketPath,
    ApiJson(input): ApiJson<ActionInput>,
) -> Result<Response, ApiError> {
    let action = Action::Reply {
        body: input.body.unwrap_or_default(),
        wait: input.wait,
    };
    let ticket = state
        .services
        .act(&user.actor(), id, input.version, action)
        .await?;
    let view = state.services.sla_view().await?;
    Ok((StatusCode::CREATED, axum::Json(ticket_json(&ticket, &view))).into_response())
}

pub async fn close(
    State(state): State<AppState>,
    user: CurrentUser,
    TicketPath(id): TicketPath,
    ApiJson(input): ApiJson<ActionInput>,
) -> Result<Response, ApiError> {
    let resolution = input.resolution.unwrap_or_default();
    act(state, user, id, input.version, Action::Close { resolution }).await
}

pub async fn return_to_queue(
    State(state): State<AppState>,
    user: CurrentUser,
    TicketPath(id): TicketPath,
    ApiJson(input): ApiJson<ActionInput>,
) -> Result<Response, ApiError> {
    let reason = input.reason.unwrap_or_default();
    act(state, user, id, input.version, Action::Return { reason }).await
}

pub async fn reopen(
    State(state): State<AppState>,
    Staff(user): Staff,
    TicketPath(id): TicketPath,
    ApiJson(input): ApiJson<ActionInput>,
) -> Result<Response, ApiError> {
    let reason = input.reason.unwrap_or_default();
    act(state, user, id, input.version, Action::Reopen { reason }).await
}

/// Most tickets one bulk request may act on.
const BULK_MOST: usize = 100;

#[derive(Deserialize)]
pub struct BulkInput {
    ids: Vec<i64>,
    action: String,
    #[serde(default)]
    technician_id: Option<i64>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    resolution: Option<String>,
}

/// `POST /api/v1/tickets/bulk` `{"ids": [..], "action": "assign"|"reassign"|"close"|"return",
/// …}`: each ticket through the one write path on its own — each succeeds or fails alone,
/// each success a timeline event — answered `{"items": [{"id", "ok", "error"}]}` in the order
/// given (`error`: `{"code", "message"}` or null).
pub async fn bulk(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(input): ApiJson<BulkInput>,
) -> Result<Response, ApiError> {
    let invalid = |field: &'static str, message: &str| {
        ApiError::from(crate::domain::DomainError::validation(field, message))
    };
    if input.ids.is_empty() {
        return Err(invalid("ids", "Indique al menos una incidencia."));
    }
    if input.ids.len() > BULK_MOST {
        return Err(invalid(
            "ids",
            &format!("A lo más {BULK_MOST} incidencias por solicitud."),
        ));
    }
    let technician = || {
        input
            .technician_id
            .map(UserId)
            .ok_or_else(|| invalid("technician_id", "Falta el campo «technician_id»."))
    };
    let action = match input.action.as_str() {
        "assign" => Action::Assign {
            technician: technician()?,
        },
        "reassign" => Action::Reassign {
            technician: technician()?,
            reason: input.reason.clone().unwrap_or_default(),
        },
        "close" => Action::Close {
            resolution: input.resolution.clone().unwrap_or_default(),
        },
        "return" => Action::Return {
            reason: input.reason.clone().unwrap_or_default(),
        },
        _ => {
            return Err(invalid(
                "action",
                "La acción debe ser assign, reassign, close o return.",
            ));
        }
    };
    let actor = user.actor();
    let mut items = Vec::with_capacity(input.ids.len());
    for raw in &input.ids {
        let result = match TicketId::parse(&raw.to_string()) {
            Some(id) => state
                .services
                .act(&actor, id, None, action.clone())
                .await
                .map_err(AppError::from),
            None => Err(AppError::not_found()),
        };
        items.push(match result {
            Ok(t) => json!({"id": raw, "ok": true, "error": null, "status": t.status.as_str(), "version": t.version}),
            Err(e) => json!({"id": raw, "ok": false, "error": {"code": e.code, "message": e.message}}),
        });
    }
    Ok(axum::Json(json!({ "items": items })).into_response())
}

pub async fn technicians(
    State(state): State<AppState>,
    _user: CurrentUser,
) -> Result<Response, ApiError> {
    let techs = state
        .services
        .users(Some(crate::domain::user::Role::Technician))
        .await?;
    Ok(axum::Json(json!({
        "items": techs.iter().map(technician_json).collect::<Vec<_>>(),
        "next_cursor": null,
    }))
    .into_response())
}

/// `category_id` absent (unchanged), null (none) or an id.
fn double<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchInput {
    #[serde(default)]
    priority: Option<String>,
    #[serde(default, deserialize_with = "double")]
    category_id: Option<Option<i64>>,
    version: i64,
}

/// `PATCH /api/v1/tickets/{id}`: `{"priority"?, "category_id"?, "version"}`. Staff and the
/// technician who has the ticket; a timeline event records the change.
pub async fn patch(
    State(state): State<AppState>,
    user: CurrentUser,
    TicketPath(id): TicketPath,
    ApiJson(input): ApiJson<PatchInput>,
) -> Result<Response, ApiError> {
    let priority = input
        .priority
        .as_deref()
        .map(Priority::parse_field)
        .transpose()?;
    let category = match input.category_id {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => Some(Some(CategoryId::parse(&raw.to_string()).ok_or_else(
            || {
                AppError::from(DomainError::validation(
                    "category_id",
                    "La categoría no existe.",
                ))
            },
        )?)),
    };
    let ticket = state
        .services
        .act(
            &user.actor(),
            id,
            Some(input.version),
            Action::Classify { priority, category },
        )
        .await?;
    let view = state.services.sla_view().await?;
    Ok(axum::Json(ticket_json(&ticket, &view)).into_response())
}

//! `/api/v1/tickets…` and `/api/v1/technicians`: the same use cases as the pages, as JSON.

use crate::domain::DomainError;
use crate::domain::classification::{CategoryId, Priority};
use crate::domain::ids::{TicketId, UserId};
use crate::domain::ticket::{NewTicket, Ticket};
use crate::domain::time::format_rfc3339;
use crate::domain::timeline::Event;
use crate::domain::user::User;
use crate::service::queue::BULK_MOST;
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
        "channel": t.channel.as_str(),
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

/// `GET /api/v1/tickets`: the filters of the list page (`view`, `status=a,b`, `sort`,
/// `cursor`, …). Unlike the page, no view applies unless one is named. `prev_cursor` walks
/// back towards the newer side; `total` is given when the counts can tell it (a view or
/// statuses and a technician alone), else null.
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let view = query.view(None)?;
    let filter = query.to_filter_in(view, user.user.id)?;
    let actor = user.actor();
    let page = state
        .services
        .list_tickets(&actor, &filter, query.limit.unwrap_or(PAGE_SIZE))
        .await?;
    let total = state.services.count_tickets(&actor, &filter).await?;
    let view = state.services.sla_view().await?;
    Ok(axum::Json(json!({
        "items": page.items.iter().map(|t| ticket_json(t, &view)).collect::<Vec<_>>(),
        "next_cursor": page.next.map(encode_cursor),
        "prev_cursor": page.prev.map(encode_cursor),
        "total": total,
    }))
    .into_response())
}

/// `GET /api/v1/views`: the views of the caller's role with their counts, the home first
/// (a technician's counts are of their own tickets).
pub async fn views(State(state): State<AppState>, user: CurrentUser) -> Result<Response, ApiError> {
    let counts = state.services.view_counts(&user.actor()).await?;
    Ok(axum::Json(json!({
        "items": counts.iter().map(|c| json!({
            "name": c.view.as_str(),
            "label": c.view.label(),
            "count": c.count,
        })).collect::<Vec<_>>(),
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
    /// `correo` (default), `telefono`, `presencial`.
    #[serde(default)]
    channel: String,
}

pub async fn create(
    State(state): State<AppState>,
    Staff(user): Staff,
    ApiJson(input): ApiJson<CreateInput>,
) -> Result<Response, ApiError> {
    let new = NewTicket {
        channel: crate::domain::ticket::Channel::parse_field(&input.channel)?,
        ..NewTicket::parse(&input.from, &input.subject, &input.body)?
    };
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

/// A bulk action as the API and the list's form name it: `assign`, `reassign`, `close`,
/// `return`, with the fields each needs.
pub fn bulk_action(
    action: &str,
    technician_id: Option<i64>,
    reason: Option<String>,
    resolution: Option<String>,
) -> Result<Action, AppError> {
    let invalid = |field: &'static str, message: &str| {
        AppError::from(crate::domain::DomainError::validation(field, message))
    };
    let technician = || {
        technician_id
            .map(UserId)
            .ok_or_else(|| invalid("technician_id", "Falta el campo «technician_id»."))
    };
    Ok(match action {
        "assign" => Action::Assign {
            technician: technician()?,
        },
        "reassign" => Action::Reassign {
            technician: technician()?,
            reason: reason.unwrap_or_default(),
        },
        "close" => Action::Close {
            resolution: resolution.unwrap_or_default(),
        },
        "return" => Action::Return {
            reason: reason.unwrap_or_default(),
        },
        _ => {
            return Err(invalid(
                "action",
                "La acción debe ser assign, reassign, close o return.",
            ));
        }
    })
}

/// The ids of a bulk action: at least one, at most `BULK_MOST`, each once; an id that is not
/// one (0, negative) is answered as a ticket that does not exist.
pub fn bulk_ids(raw: &[i64]) -> Result<Vec<TicketId>, AppError> {
    let invalid = |message: &str| AppError::from(DomainError::validation("ids", message));
    if raw.is_empty() {
        return Err(invalid("Indique al menos una incidencia."));
    }
    if raw.len() > BULK_MOST {
        return Err(invalid(&format!(
            "A lo más {BULK_MOST} incidencias por solicitud."
        )));
    }
    let mut out: Vec<TicketId> = Vec::with_capacity(raw.len());
    for id in raw {
        let id = TicketId(*id);
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// `POST /api/v1/tickets/bulk` `{"ids": [..], "action": "assign"|"reassign"|"close"|"return",
/// …}`: each ticket through the one write path on its own (`Services::bulk`) — each succeeds
/// or fails alone, each success a timeline event — answered `{"items": [{"id", "ok",
/// "error"}]}` in the order given (`error`: `{"code", "message"}` or null).
pub async fn bulk(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(input): ApiJson<BulkInput>,
) -> Result<Response, ApiError> {
    let ids = bulk_ids(&input.ids)?;
    let action = bulk_action(
        &input.action,
        input.technician_id,
        input.reason,
        input.resolution,
    )?;
    let outcomes = state.services.bulk(&user.actor(), &ids, &action).await;
    let items = outcomes
        .into_iter()
        .map(|o| match o.result {
            Ok(t) => json!({"id": o.id.0, "ok": true, "error": null, "status": t.status.as_str(), "version": t.version}),
            Err(e) => {
                let e = AppError::from(e);
                json!({"id": o.id.0, "ok": false, "error": {"code": e.code, "message": e.message}})
            }
        })
        .collect::<Vec<_>>();
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

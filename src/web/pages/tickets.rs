//! Incidencias: the list (with the hand-made ticket form for staff), one ticket with its
//! timeline, and the action forms.

use super::{Chrome, ok, redirect_with_flash, render};
use crate::domain::ids::{TicketId, UserId};
use crate::domain::ticket::{Available, NewTicket, Status, Ticket, available};
use crate::domain::time::{age_in_words, format_lima, now};
use crate::domain::timeline::{Event, EventKind};
use crate::domain::user::User;
use crate::service::tickets::{Action, PAGE_SIZE};
use crate::web::AppState;
use crate::web::error::{AppError, PageError};
use crate::web::extract::{CsrfForm, CurrentUser, Staff, TicketPath};
use crate::web::query::{ListQuery, encode_cursor};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

/// A row of a ticket list, ready to show.
pub struct TicketRow {
    pub id: i64,
    pub number: String,
    pub subject: String,
    pub requester: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub assignee: String,
    pub created: String,
    pub age: String,
    pub last_event: String,
}

impl TicketRow {
    pub fn from_ticket(t: &Ticket, at: i64) -> TicketRow {
        TicketRow {
            id: t.id.0,
            number: t.number().to_string(),
            subject: t.subject.clone(),
            requester: t.requester.clone(),
            status: t.status.as_str(),
            status_label: t.status.label(),
            assignee: t
                .assignee_name
                .clone()
                .unwrap_or_else(|| "Sin asignar".to_string()),
            created: format_lima(t.created_at),
            age: age_in_words(at - t.created_at),
            last_event: format!(
                "{} · {}",
                EventKind::parse(&t.last_event_kind)
                    .map(EventKind::label)
                    .unwrap_or("—"),
                age_in_words(at - t.last_event_at)
            ),
        }
    }
}

pub struct Option_ {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn status_options(selected: &str) -> Vec<Option_> {
    Status::ALL
        .iter()
        .map(|s| Option_ {
            value: s.as_str().to_string(),
            label: s.label().to_string(),
            selected: s.as_str() == selected,
        })
        .collect()
}

fn technician_options(techs: &[User], selected: &str, except: Option<UserId>) -> Vec<Option_> {
    techs
        .iter()
        .filter(|t| Some(t.id) != except)
        .map(|t| Option_ {
            value: t.id.0.to_string(),
            label: match &t.area {
                Some(area) => format!("{} ({area})", t.name),
                None => t.name.clone(),
            },
            selected: t.id.0.to_string() == selected,
        })
        .collect()
}

#[derive(Default, Deserialize)]
pub struct CreateInput {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub body: String,
}

#[derive(Template)]
#[template(path = "tickets/list.html")]
pub struct ListPage {
    pub chrome: Chrome,
    pub rows: Vec<TicketRow>,
    pub query: ListQuery,
    pub statuses: Vec<Option_>,
    pub technicians: Vec<Option_>,
    pub next_url: Option<String>,
    pub filtered: bool,
    pub filter_error: Option<String>,
    pub create: CreateInput,
    pub create_error: Option<String>,
    pub create_open: bool,
}

fn next_url(q: &ListQuery, cursor: String) -> String {
    let pairs = [
        ("status", q.status.as_str()),
        ("technician", q.technician.as_str()),
        ("q", q.q.as_str()),
        ("from", q.from.as_str()),
        ("to", q.to.as_str()),
        ("cursor", cursor.as_str()),
    ];
    let query = serde_urlencoded::to_string(
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    format!("/?{query}")
}

async fn list_page(
    state: &AppState,
    user: &CurrentUser,
    query: ListQuery,
    create: CreateInput,
    create_error: Option<String>,
) -> Result<ListPage, PageError> {
    let chrome = Chrome::for_user(user, "tickets");
    let (filter, filter_error) = match query.to_filter() {
        Ok(f) => (f, None),
        Err(e) => (Default::default(), Some(e.message)),
    };
    let page = state
        .services
        .list_tickets(&user.actor(), &filter, PAGE_SIZE)
        .await?;
    let at = now();
    let technicians = if chrome.is_staff {
        technician_options(
            &state
                .services
                .users(Some(crate::domain::user::Role::Technician))
                .await?,
            &query.technician,
            None,
        )
    } else {
        Vec::new()
    };
    let filtered = [
        &query.status,
        &query.technician,
        &query.q,
        &query.from,
        &query.to,
        &query.cursor,
    ]
    .iter()
    .any(|v| !v.trim().is_empty());
    Ok(ListPage {
        rows: page
            .items
            .iter()
            .map(|t| TicketRow::from_ticket(t, at))
            .collect(),
        next_url: page.next.map(|n| next_url(&query, encode_cursor(n))),
        statuses: status_options(&query.status),
        technicians,
        filtered,
        filter_error,
        create_open: create_error.is_some(),
        create,
        create_error,
        query,
        chrome,
    })
}

pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    ok(&list_page(&state, &user, query, CreateInput::default(), None).await?)
}

/// A dispatcher registers a message that arrived at the support mailbox.
pub async fn create(
    State(state): State<AppState>,
    Staff(user): Staff,
    CsrfForm { session, form }: CsrfForm<CreateInput>,
) -> Result<Response, PageError> {
    let result = match NewTicket::parse(&form.from, &form.subject, &form.body) {
        Ok(new) => state
            .services
            .create_ticket(&user.actor(), &new)
            .await
            .map_err(AppError::from),
        Err(e) => Err(AppError::from(e)),
    };
    match result {
        Ok(ticket) => {
            let to = format!("/tickets/{}", ticket.id);
            redirect_with_flash(
                &state,
                &session,
                &to,
                &format!("Incidencia {} registrada.", ticket.number()),
            )
            .await
        }
        Err(e) if e.status.is_client_error() => {
            let page =
                list_page(&state, &user, ListQuery::default(), form, Some(e.message)).await?;
            render(e.status, &page)
        }
        Err(e) => Err(PageError(e)),
    }
}

/// A timeline entry, ready to show.
pub struct EventView {
    pub label: &'static str,
    pub kind: &'static str,
    pub actor: String,
    pub at: String,
    pub lines: Vec<String>,
    pub text: Option<String>,
}

fn status_label(s: &Option<String>) -> &'static str {
    s.as_deref()
        .and_then(Status::parse)
        .map(Status::label)
        .unwrap_or("—")
}

impl EventView {
    fn from_event(e: &Event) -> EventView {
        let d = &e.data;
        let mut lines = Vec::new();
        if d.from_status.is_some() || d.to_status.is_some() {
            lines.push(format!(
                "Estado: {} → {}",
                status_label(&d.from_status),
                status_label(&d.to_status)
            ));
        }
        if d.from_assignee_name.is_some() || d.to_assignee_name.is_some() {
            lines.push(format!(
                "Técnico: {} → {}",
                d.from_assignee_name.as_deref().unwrap_or("sin asignar"),
                d.to_assignee_name.as_deref().unwrap_or("sin asignar")
            ));
        }
        if let Some(r) = &d.reason {
            lines.push(format!("Motivo: {r}"));
        }
        if let Some(m) = &d.matched_by {
            lines.push(format!("Unido a la incidencia por: {m}"));
        }
        EventView {
            label: e.kind.label(),
            kind: e.kind.as_str(),
            actor: e.actor.clone(),
            at: format_lima(e.at),
            lines,
            text: d
                .body
                .clone()
                .or_else(|| d.resolution.clone().map(|r| format!("Resolución: {r}"))),
        }
    }
}

#[derive(Default, Deserialize)]
pub struct ActionInput {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub technician_id: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub resolution: String,
}

#[derive(Template)]
#[template(path = "tickets/show.html")]
pub struct ShowPage {
    pub chrome: Chrome,
    pub ticket: TicketRow,
    pub body: String,
    pub version: i64,
    pub resolution: Option<String>,
    pub closed: String,
    pub events: Vec<EventView>,
    pub can: Available,
    pub assign_options: Vec<Option_>,
    pub reassign_options: Vec<Option_>,
    pub is_technician: bool,
    /// The action whose form failed, its message, and what the user typed.
    pub error_action: String,
    pub error: Option<String>,
    pub draft: ActionInput,
    /// Attachments that came by e-mail and related tickets.
    pub mail: super::quarantine::TicketMail,
}

async fn show_page(
    state: &AppState,
    user: &CurrentUser,
    id: TicketId,
    error: Option<(String, String)>,
    draft: ActionInput,
) -> Result<ShowPage, PageError> {
    let actor = user.actor();
    let (ticket, events) = state.services.ticket(&actor, id).await?;
    let mail = super::quarantine::ticket_mail(state, &actor, id).await?;
    let can = available(&ticket.state(), &actor);
    let techs = if can.assign || can.reassign {
        state.services.active_technicians().await?
    } else {
        Vec::new()
    };
    let (error_action, error) = match error {
        Some((a, m)) => (a, Some(m)),
        None => (String::new(), None),
    };
    Ok(ShowPage {
        chrome: Chrome::for_user(user, "tickets"),
        body: ticket.body.clone(),
        version: ticket.version,
        resolution: ticket.resolution.clone(),
        closed: ticket.closed_at.map(format_lima).unwrap_or_default(),
        events: events.iter().map(EventView::from_event).collect(),
        assign_options: technician_options(&techs, &draft.technician_id, None),
        reassign_options: technician_options(&techs, &draft.technician_id, ticket.assignee_id),
        is_technician: !Chrome::for_user(user, "").is_staff,
        ticket: TicketRow::from_ticket(&ticket, now()),
        can,
        error_action,
        error,
        draft,
        mail,
    })
}

pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    TicketPath(id): TicketPath,
) -> Result<Response, PageError> {
    ok(&show_page(&state, &user, id, None, ActionInput::default()).await?)
}

fn technician(raw: &str) -> Result<UserId, AppError> {
    raw.trim().parse::<i64>().map(UserId).map_err(|_| {
        AppError::from(crate::domain::DomainError::validation(
            "technician_id",
            "Elija un técnico activo.",
        ))
    })
}

/// The `{action}` of `/tickets/{id}/{action}`.
#[derive(Deserialize)]
pub struct ActionName {
    action: String,
}

/// One handler for every ticket form: the action's name picks the command; the domain
/// decides whether this actor may, and the version refuses a stale view.
pub async fn act(
    State(state): State<AppState>,
    user: CurrentUser,
    TicketPath(id): TicketPath,
    Path(ActionName { action }): Path<ActionName>,
    CsrfForm { session, form }: CsrfForm<ActionInput>,
) -> Result<Response, PageError> {
    let version = form.version.trim().parse::<i64>().ok();
    let built: Result<(Action, &str), AppError> = match action.as_str() {
        "assign" => technician(&form.technician_id)
            .map(|t| (Action::Assign { technician: t }, "Incidencia derivada.")),
        "reassign" => technician(&form.technician_id).map(|t| {
            (
                Action::Reassign {
                    technician: t,
                    reason: form.reason.clone(),
                },
                "Incidencia reasignada.",
            )
        }),
        "comment" => Ok((
            Action::Comment {
                body: form.body.clone(),
            },
            "Comentario agregado.",
        )),
        "close" => Ok((
            Action::Close {
                resolution: form.resolution.clone(),
            },
            "Incidencia cerrada.",
        )),
        "return" => Ok((
            Action::Return {
                reason: form.reason.clone(),
            },
            "Incidencia devuelta a la cola.",
        )),
        "reopen" => Ok((
            Action::Reopen {
                reason: form.reason.clone(),
            },
            "Incidencia reabierta.",
        )),
        _ => return Err(AppError::not_found().into()),
    };
    let result = match built {
        Ok((a, message)) => state
            .services
            .act(&user.actor(), id, version, a)
            .await
            .map(|t| (t, message))
            .map_err(AppError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok((ticket, message)) => {
            // A technician who passed the ticket on no longer sees it: back to their list.
            let passed_on = !crate::domain::access::is_staff(user.user.role)
                && ticket.assignee_id != Some(user.user.id);
            let to = if passed_on {
                "/".to_string()
            } else {
                format!("/tickets/{}", ticket.id)
            };
            redirect_with_flash(
                &state,
                &session,
                &to,
                &format!("{} ({})", message, ticket.number()),
            )
            .await
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(PageError(e)),
        Err(e) if e.status.is_client_error() => {
            let message = if e.status == StatusCode::CONFLICT && e.code == "conflict" {
                "Alguien modificó esta incidencia mientras usted la veía: recargue la página (la versión actual se muestra abajo) y vuelva a intentar.".to_string()
            } else {
                e.message
            };
            let page = show_page(&state, &user, id, Some((action, message)), form).await?;
            render(e.status, &page)
        }
        Err(e) => Err(PageError(e)),
    }
}

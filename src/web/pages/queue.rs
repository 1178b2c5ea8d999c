//! The queue: the ticket list with its filters, and the dispatcher's manual entry of a
//! message that arrived at the support mailbox.

use super::{Chrome, ok, redirect_with_flash, render};
use crate::domain::ids::UserId;
use crate::domain::sla;
use crate::domain::ticket::{NewTicket, Status, Ticket};
use crate::domain::time::{age_in_words, format_lima};
use crate::domain::timeline::EventKind;
use crate::domain::user::User;
use crate::service::sla::SlaView;
use crate::service::tickets::PAGE_SIZE;
use crate::web::AppState;
use crate::web::error::{AppError, PageError};
use crate::web::extract::{CsrfForm, CurrentUser, Staff};
use crate::web::query::{ListQuery, encode_cursor};
use askama::Template;
use axum::extract::{Query, State};
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
    pub priority: &'static str,
    pub priority_label: &'static str,
    pub category: Option<String>,
    /// The due badge: its CSS class, words and the due time.
    pub due_class: &'static str,
    pub due_text: String,
    pub due_at: String,
}

impl TicketRow {
    pub fn from_ticket(t: &Ticket, view: &SlaView) -> TicketRow {
        let at = view.now;
        let clocks = view.clocks(t);
        let head = sla::headline(&clocks);
        let (due_class, due_text) = sla::badge(head, view.calendar(), at);
        TicketRow {
            priority: t.sla.priority.as_str(),
            priority_label: t.sla.priority.label(),
            category: t.category_name.clone(),
            due_class,
            due_text: format!("{}: {due_text}", head.target.label()),
            due_at: head.due_at.map(format_lima).unwrap_or_default(),
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

pub(super) fn status_options(selected: &str) -> Vec<Option_> {
    Status::ALL
        .iter()
        .map(|s| Option_ {
            value: s.as_str().to_string(),
            label: s.label().to_string(),
            selected: s.as_str() == selected,
        })
        .collect()
}

pub(super) fn technician_options(
    techs: &[User],
    selected: &str,
    except: Option<UserId>,
) -> Vec<Option_> {
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
    pub due_filters: Vec<Option_>,
    pub by_due: bool,
    pub next_url: Option<String>,
    pub filtered: bool,
    pub filter_error: Option<String>,
    pub create: CreateInput,
    pub create_error: Option<String>,
    pub create_open: bool,
    /// "Solicitante: x ✕": the requester filter and the list without it.
    pub requester_chip: Option<(String, String)>,
    /// The support mailbox ("Registrar correo recibido en …"), from the configuration.
    pub support_address: String,
}

/// The list's address with these filters (empty ones left out).
fn list_url(q: &ListQuery, requester: &str, cursor: &str) -> String {
    let pairs = [
        ("status", q.status.as_str()),
        ("technician", q.technician.as_str()),
        ("requester", requester),
        ("q", q.q.as_str()),
        ("from", q.from.as_str()),
        ("to", q.to.as_str()),
        ("sort", q.sort.as_str()),
        ("sla", q.sla.as_str()),
        ("cursor", cursor),
    ];
    let query = serde_urlencoded::to_string(
        pairs
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    if query.is_empty() {
        "/".to_string()
    } else {
        format!("/?{query}")
    }
}

fn next_url(q: &ListQuery, cursor: String) -> String {
    list_url(q, &q.requester, &cursor)
}

/// The list of one requester's tickets (the ticket page's "Otras incidencias de este
/// solicitante").
pub fn requester_url(address: &str) -> String {
    format!(
        "/?{}",
        serde_urlencoded::to_string([("requester", address)]).unwrap_or_default()
    )
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
    let view = state.services.sla_view().await?;
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
        &query.requester,
        &query.q,
        &query.from,
        &query.to,
        &query.cursor,
        &query.sort,
        &query.sla,
    ]
    .iter()
    .any(|v| !v.trim().is_empty());
    Ok(ListPage {
        support_address: state.config.support_address.clone(),
        rows: page
            .items
            .iter()
            .map(|t| TicketRow::from_ticket(t, &view))
            .collect(),
        due_filters: sla::DueFilter::ALL
            .iter()
            .map(|f| Option_ {
                value: f.as_str().to_string(),
                label: f.label().to_string(),
                selected: f.as_str() == query.sla.trim(),
            })
            .collect(),
        by_due: filter.by_due,
        next_url: page.next.map(|n| next_url(&query, encode_cursor(n))),
        statuses: status_options(&query.status),
        technicians,
        filtered,
        filter_error,
        requester_chip: (!query.requester.trim().is_empty())
            .then(|| (query.requester.trim().to_string(), list_url(&query, "", ""))),
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

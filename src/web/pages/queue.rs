//! The queue: the ticket list with its filters, and the dispatcher's manual entry of a
//! message that arrived at the support mailbox.

use super::{Chrome, ok, redirect_with_flash, render};
use crate::domain::access::{Capability, may};
use crate::domain::ids::UserId;
use crate::domain::queue::{Sort, View};
use crate::domain::sla;
use crate::domain::ticket::{Channel, NewTicket, Status, Ticket, TicketFilter};
use crate::domain::time::{age_in_words, format_lima};
use crate::domain::timeline::EventKind;
use crate::domain::user::{Role, User};
use crate::service::sla::SlaView;
use crate::service::tickets::{MAX_PAGE_SIZE, PAGE_SIZE};
use crate::web::AppState;
use crate::web::api::tickets::{bulk_action, bulk_ids};
use crate::web::error::{AppError, PageError};
use crate::web::extract::{CsrfForm, CurrentUser, Staff};
use crate::web::query::{ListQuery, encode_cursor};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// A row of a ticket list, ready to show.
pub struct TicketRow {
    pub id: i64,
    pub version: i64,
    /// Nobody has it (`nuevo`, `devuelto`): the list offers the technician picker.
    pub queued: bool,
    pub assignee_id: i64,
    /// "Correo", "Teléfono", "Presencial".
    pub channel_label: &'static str,
    /// Came some other way than e-mail (the list then says how).
    pub by_hand: bool,
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
            version: t.version,
            queued: t.status.is_queued(),
            assignee_id: t.assignee_id.map(|u| u.0).unwrap_or(0),
            channel_label: t.channel.label(),
            by_hand: t.channel != Channel::Correo,
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
    /// `correo`, `telefono` or `presencial`.
    #[serde(default)]
    pub channel: String,
}

/// A view in the list's header: its link and count.
pub struct ViewLink {
    pub name: &'static str,
    pub label: &'static str,
    pub count: String,
    pub href: String,
    pub current: bool,
}

/// A sortable column's header link.
pub struct SortLink {
    pub href: String,
    /// `ascending`, `descending` or empty (not sorted by this column).
    pub aria: &'static str,
}

#[derive(Template)]
#[template(path = "tickets/list.html")]
pub struct ListPage {
    pub chrome: Chrome,
    pub rows: Vec<TicketRow>,
    pub query: ListQuery,
    pub views: Vec<ViewLink>,
    /// Nobody may see any ticket yet (the "Todas" count is 0).
    pub nothing_at_all: bool,
    /// The view shown (its name), empty when none.
    pub view: &'static str,
    /// The statuses the list holds, for the live script (`nuevo,devuelto`; empty: any).
    pub live_statuses: String,
    /// The list holds only the signed-in person's tickets.
    pub live_mine: bool,
    pub statuses: Vec<Option_>,
    pub technicians: Vec<Option_>,
    /// Active technicians with their open load, for the pickers.
    pub pickers: Vec<Option_>,
    pub due_filters: Vec<Option_>,
    pub sorts: Vec<Option_>,
    pub by_due: bool,
    /// Newest first: the pager says "Más recientes" / "Anteriores".
    pub newest: bool,
    pub sort_caption: &'static str,
    pub sort_number: SortLink,
    pub sort_activity: SortLink,
    pub sort_priority: SortLink,
    pub sort_due: SortLink,
    pub next_url: Option<String>,
    pub prev_url: Option<String>,
    /// "1–25 de 1.234".
    pub range: String,
    /// The address of this list (where bulk actions come back to).
    pub here: String,
    pub filtered: bool,
    pub filter_error: Option<String>,
    pub create: CreateInput,
    pub create_error: Option<String>,
    pub create_open: bool,
    pub channels: Vec<Option_>,
    /// "Solicitante: x ✕": the requester filter and the list without it.
    pub requester_chip: Option<(String, String)>,
    /// The support mailbox ("Registrar correo recibido en …"), from the configuration.
    pub support_address: String,
}

/// `1234567` → `1.234.567` (Peru writes thousands with a point in this app's words).
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// "1–25 de 1.234": the rows shown from `pos` (1-based) and the total when known; without a
/// total (a search), "de más de N" while there are more pages, the exact number at the end.
pub fn range_words(pos: i64, shown: i64, total: Option<i64>, more: bool) -> String {
    if shown == 0 {
        return String::new();
    }
    let last = pos + shown - 1;
    let span = format!("{}–{}", thousands(pos), thousands(last));
    match total {
        Some(t) => format!("{span} de {}", thousands(t.max(last))),
        None if more => format!("{span} de más de {}", thousands(last)),
        None => format!("{span} de {}", thousands(last)),
    }
}

/// The list's address with these filters (empty ones left out), the view, the cursor and
/// the position of the page's first row.
fn list_url(q: &ListQuery, requester: &str, sort: &str, cursor: &str, pos: i64) -> String {
    let pos = if pos > 1 {
        pos.to_string()
    } else {
        String::new()
    };
    let limit = q.limit.map(|l| l.to_string()).unwrap_or_default();
    let pairs = [
        ("view", q.view.as_str()),
        ("status", q.status.as_str()),
        ("technician", q.technician.as_str()),
        ("requester", requester),
        ("q", q.q.as_str()),
        ("from", q.from.as_str()),
        ("to", q.to.as_str()),
        ("sort", sort),
        ("sla", q.sla.as_str()),
        ("limit", limit.as_str()),
        ("cursor", cursor),
        ("pos", pos.as_str()),
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

/// The list of one requester's tickets (the ticket page's "Otras incidencias de este
/// solicitante").
pub fn requester_url(address: &str) -> String {
    format!(
        "/?{}",
        serde_urlencoded::to_string([("requester", address)]).unwrap_or_default()
    )
}

/// The picker's options: each active technician with their open load.
pub(super) fn picker_options(loads: &[(User, i64)]) -> Vec<Option_> {
    loads
        .iter()
        .map(|(t, n)| Option_ {
            value: t.id.0.to_string(),
            label: format!(
                "{} ({n} {})",
                t.name,
                if *n == 1 { "abierta" } else { "abiertas" }
            ),
            selected: false,
        })
        .collect()
}

async fn list_page(
    state: &AppState,
    user: &CurrentUser,
    mut query: ListQuery,
    create: CreateInput,
    create_error: Option<String>,
) -> Result<ListPage, PageError> {
    let chrome = Chrome::for_user(user, "tickets");
    let actor = user.actor();
    let role = user.user.role;
    let (view, view_error) = match query.view(Some(View::home(role))) {
        Ok(v) => (v, None),
        Err(e) => (None, Some(e.message)),
    };
    // The view shown is named in every link of the page (sorting, paging, bulk's way back).
    if let Some(v) = view {
        query.view = v.as_str().to_string();
    }
    let (filter, filter_error) = match (view_error, query.to_filter_in(view, user.user.id)) {
        (Some(e), _) => (TicketFilter::default(), Some(e)),
        (None, Ok(f)) => (f, None),
        (None, Err(e)) => (TicketFilter::default(), Some(e.message)),
    };
    let limit = query.limit.unwrap_or(PAGE_SIZE).clamp(1, MAX_PAGE_SIZE);
    let page = state.services.list_tickets(&actor, &filter, limit).await?;
    let total = state.services.count_tickets(&actor, &filter).await?;
    let counts = state.services.view_counts(&actor).await?;
    let sla_view = state.services.sla_view().await?;
    let technicians = if chrome.is_staff {
        technician_options(
            &state.services.users(Some(Role::Technician)).await?,
            &query.technician,
            None,
        )
    } else {
        Vec::new()
    };
    let pickers = if chrome.is_staff {
        picker_options(&state.services.technician_loads().await?)
    } else {
        Vec::new()
    };
    let filtered = query.has_explicit_filter();
    let pos = query.pos.max(1);
    let shown = page.items.len() as i64;
    let sort = filter.sort;
    let sort_str = query.sort.trim().to_string();
    let next_url = page.next.map(|c| {
        list_url(
            &query,
            &query.requester,
            &sort_str,
            &encode_cursor(c),
            pos + shown,
        )
    });
    // The page before is read backwards from this page's first row (not the list's first
    // page, which may have grown meanwhile).
    let prev_url = page.prev.map(|c| {
        list_url(
            &query,
            &query.requester,
            &sort_str,
            &encode_cursor(c),
            (pos - limit).max(1),
        )
    });
    let sort_link = |s: Sort, toggle: Option<Sort>| {
        let (target, aria) = match toggle {
            Some(other) if sort == s => (other, "descending"),
            Some(_) if sort == Sort::Oldest && s == Sort::Newest => (Sort::Newest, "ascending"),
            _ => (s, if sort == s { "descending" } else { "" }),
        };
        SortLink {
            href: list_url(&query, &query.requester, target.as_str(), "", 1),
            aria,
        }
    };
    let mut sort_number = sort_link(Sort::Newest, Some(Sort::Oldest));
    if sort == Sort::Oldest {
        sort_number.aria = "ascending";
        sort_number.href = list_url(&query, &query.requester, Sort::Newest.as_str(), "", 1);
    }
    let mut sort_due = sort_link(Sort::Due, None);
    if sort == Sort::Due {
        sort_due.aria = "ascending";
    }
    Ok(ListPage {
        support_address: state.config.support_address.clone(),
        views: counts
            .iter()
            .map(|c| ViewLink {
                name: c.view.as_str(),
                label: c.view.label(),
                count: thousands(c.count),
                href: format!("/?view={}", c.view.as_str()),
                current: view == Some(c.view),
            })
            .collect(),
        view: view.map(View::as_str).unwrap_or(""),
        nothing_at_all: counts.iter().any(|c| c.view == View::Todas && c.count == 0),
        live_statuses: filter
            .statuses
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(","),
        live_mine: filter.technician == Some(user.user.id),
        rows: page
            .items
            .iter()
            .map(|t| TicketRow::from_ticket(t, &sla_view))
            .collect(),
        due_filters: sla::DueFilter::ALL
            .iter()
            .map(|f| Option_ {
                value: f.as_str().to_string(),
                label: f.label().to_string(),
                selected: f.as_str() == query.sla.trim(),
            })
            .collect(),
        sorts: Sort::ALL
            .iter()
            .map(|s| Option_ {
                value: if *s == Sort::Newest {
                    String::new()
                } else {
                    s.as_str().to_string()
                },
                label: s.label().to_string(),
                selected: *s == sort,
            })
            .collect(),
        by_due: sort == Sort::Due,
        newest: sort == Sort::Newest,
        sort_caption: match sort {
            Sort::Newest => "de la más reciente a la más antigua",
            Sort::Oldest => "de la más antigua a la más reciente",
            Sort::Activity => "por el último evento, el más reciente primero",
            Sort::Priority => "por prioridad, la más alta primero",
            Sort::Due => "de la que vence antes a la que vence después",
        },
        sort_number,
        sort_activity: sort_link(Sort::Activity, None),
        sort_priority: sort_link(Sort::Priority, None),
        sort_due,
        range: range_words(pos, shown, total, page.next.is_some()),
        here: list_url(&query, &query.requester, &sort_str, &query.cursor, pos),
        next_url,
        prev_url,
        statuses: status_options(&query.status),
        technicians,
        pickers,
        filtered,
        filter_error,
        requester_chip: (!query.requester.trim().is_empty()).then(|| {
            (
                query.requester.trim().to_string(),
                list_url(&query, "", &sort_str, "", 1),
            )
        }),
        create_open: create_error.is_some(),
        channels: Channel::ALL
            .iter()
            .map(|c| Option_ {
                value: c.as_str().to_string(),
                label: c.label().to_string(),
                selected: c.as_str() == create.channel.trim(),
            })
            .collect(),
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
    let parsed = NewTicket::parse(&form.from, &form.subject, &form.body).and_then(|new| {
        Ok(NewTicket {
            channel: Channel::parse_field(&form.channel)?,
            ..new
        })
    });
    let result = match parsed {
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

// ---------------------------------------------------------------------------------------
// Bulk actions from the list: a confirmation page (no script needed), then each ticket
// through `Services::bulk` — the same as `POST /api/v1/tickets/bulk` — and back to the list
// with what was done and what was not (POST, redirect, GET).

/// A bulk form as sent: `ids` repeats, so the fields are read as pairs.
struct BulkForm {
    ids: Vec<i64>,
    action: String,
    technician_id: String,
    reason: String,
    resolution: String,
    confirm: bool,
    back: String,
}

impl BulkForm {
    fn from_pairs(pairs: Vec<(String, String)>) -> BulkForm {
        let mut f = BulkForm {
            ids: Vec::new(),
            action: String::new(),
            technician_id: String::new(),
            reason: String::new(),
            resolution: String::new(),
            confirm: false,
            back: String::new(),
        };
        for (k, v) in pairs {
            match k.as_str() {
                // An id that is not a number is answered as a ticket that does not exist.
                "ids" => f.ids.push(v.trim().parse().unwrap_or(0)),
                "action" => f.action = v,
                "technician_id" => f.technician_id = v,
                "reason" => f.reason = v,
                "resolution" => f.resolution = v,
                "confirm" => f.confirm = v == "1",
                "back" => f.back = v,
                _ => {}
            }
        }
        f
    }

    /// Where to go back to: a path of this site, else the list.
    fn back(&self) -> String {
        let b = self.back.trim();
        if b.starts_with('/') && !b.starts_with("//") && !b.contains('\\') {
            b.to_string()
        } else {
            "/".to_string()
        }
    }
}

/// The question, the button and the words of the result, per action.
struct Wording {
    button: &'static str,
    done: &'static str,
}

fn wording(action: &str) -> Wording {
    match action {
        "assign" => Wording {
            button: "Sí, derivar",
            done: "derivadas",
        },
        "close" => Wording {
            button: "Sí, cerrar",
            done: "cerradas",
        },
        _ => Wording {
            button: "Sí, devolver",
            done: "devueltas a la cola",
        },
    }
}

fn incidencias(n: usize) -> String {
    if n == 1 {
        "1 incidencia".to_string()
    } else {
        format!("{n} incidencias")
    }
}

pub struct BulkRow {
    pub id: i64,
    pub number: String,
    pub subject: String,
    pub status_label: &'static str,
    pub assignee: String,
}

#[derive(Template)]
#[template(path = "tickets/bulk.html")]
pub struct BulkPage {
    pub chrome: Chrome,
    pub title: String,
    pub button: String,
    pub action: String,
    pub rows: Vec<BulkRow>,
    /// Ids asked for that the person may not act on (not found for them).
    pub missing: usize,
    pub technicians: Vec<Option_>,
    pub technician_name: Option<String>,
    pub technician_id: String,
    pub reason: String,
    pub resolution: String,
    pub back: String,
}

/// `GET /tickets/bulk` (a refresh of the confirmation's address, a bookmark): the list.
pub async fn bulk_get() -> Response {
    Redirect::to("/").into_response()
}

/// `POST /tickets/bulk`: without `confirm=1`, the confirmation page; with it, the action on
/// each ticket and a redirect back to the list with what happened.
pub async fn bulk(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfForm { session, form }: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let form = BulkForm::from_pairs(form);
    let back = form.back();
    let actor = user.actor();
    let ids = match bulk_ids(&form.ids) {
        Ok(ids) => ids,
        Err(e) => {
            let message = if form.ids.is_empty() {
                "Seleccione al menos una incidencia.".to_string()
            } else {
                e.message
            };
            return redirect_with_flash(&state, &session, &back, &message).await;
        }
    };
    if !matches!(form.action.as_str(), "assign" | "close" | "return") {
        return redirect_with_flash(
            &state,
            &session,
            &back,
            "Elija una acción: Derivar a…, Cerrar o Devolver.",
        )
        .await;
    }
    let words = wording(&form.action);
    let technician = form.technician_id.trim().parse::<i64>().ok();
    let staff = may(user.user.role, Capability::Dispatch);
    if form.action == "assign" && !staff {
        return Err(AppError::not_found().into());
    }
    let loads = if form.action == "assign" {
        state.services.technician_loads().await?
    } else {
        Vec::new()
    };
    let technician_name = technician.and_then(|t| {
        loads
            .iter()
            .find(|(u, _)| u.id.0 == t)
            .map(|(u, _)| u.name.clone())
    });
    let ready = form.confirm
        && match form.action.as_str() {
            "assign" => technician_name.is_some(),
            "close" => !form.resolution.trim().is_empty(),
            _ => !form.reason.trim().is_empty(),
        };
    if !ready {
        let found = state.services.tickets_by_ids(&actor, &ids).await?;
        let mut technicians = picker_options(&loads);
        for o in &mut technicians {
            o.selected = Some(o.value.as_str()) == form.technician_id.trim().into();
        }
        let page = BulkPage {
            title: match (form.action.as_str(), &technician_name) {
                ("assign", Some(name)) => {
                    format!("¿Derivar {} a {name}?", incidencias(found.len()))
                }
                ("assign", None) => format!("¿Derivar {}?", incidencias(found.len())),
                ("close", _) => format!("¿Cerrar {}?", incidencias(found.len())),
                _ => format!("¿Devolver {} a la cola?", incidencias(found.len())),
            },
            button: format!("{} {}", words.button, incidencias(found.len())),
            action: form.action.clone(),
            missing: ids.len() - found.len(),
            rows: found
                .iter()
                .map(|t| BulkRow {
                    id: t.id.0,
                    number: t.number().to_string(),
                    subject: t.subject.clone(),
                    status_label: t.status.label(),
                    assignee: t
                        .assignee_name
                        .clone()
                        .unwrap_or_else(|| "Sin asignar".to_string()),
                })
                .collect(),
            technicians,
            technician_name,
            technician_id: form.technician_id.trim().to_string(),
            reason: form.reason.clone(),
            resolution: form.resolution.clone(),
            back,
            chrome: Chrome::for_user(&user, "tickets"),
        };
        // A confirmation asked for again (a field left empty) says why.
        let status = if form.confirm {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        return render(status, &page);
    }
    let action = bulk_action(
        &form.action,
        technician,
        Some(form.reason.clone()),
        Some(form.resolution.clone()),
    )
    .map_err(PageError)?;
    let outcomes = state.services.bulk(&actor, &ids, &action).await;
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for o in outcomes {
        let number = crate::domain::ids::TicketNumber(o.id).to_string();
        match o.result {
            Ok(_) => done.push(number),
            Err(e) => failed.push(format!("{number}: {}", AppError::from(e).message)),
        }
    }
    let mut message = String::new();
    if !done.is_empty() {
        let to = match (&technician_name, form.action.as_str()) {
            (Some(name), "assign") => format!(" a {name}"),
            _ => String::new(),
        };
        message += &format!(
            "{} {}{to}: {}.",
            if done.len() == 1 {
                "1 incidencia".to_string()
            } else {
                format!("{} incidencias", done.len())
            },
            if done.len() == 1 {
                words.done.replacen("das", "da", 1)
            } else {
                words.done.to_string()
            },
            done.join(", ")
        );
    }
    if !failed.is_empty() {
        if !message.is_empty() {
            message.push(' ');
        }
        message += &format!(
            "No se pudo con {}: {}",
            incidencias(failed.len()),
            failed.join("; ")
        );
    }
    redirect_with_flash(&state, &session, &back, &message).await
}

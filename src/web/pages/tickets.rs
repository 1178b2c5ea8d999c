//! One ticket: its page with the timeline, and the action forms — among them the two of the conversation, a public reply to
//! the requester and an internal note, which take files (`web::upload`).

use super::attachments::FileView;
use super::queue::{Option_, TicketRow, requester_url, technician_options};
use super::{Chrome, ok, redirect_with_flash, render};
use crate::domain::classification::{CategoryId, Priority};
use crate::domain::ids::{TicketId, TicketNumber, UserId};
use crate::domain::mail::human_size;
use crate::domain::sla;
use crate::domain::ticket::{Available, MAX_SCORE, Status, Ticket, available};
use crate::domain::time::{duration_words, format_lima, span_words};
use crate::domain::timeline::{Event, EventKind, Visibility, waited};
use crate::service::tickets::Action;
use crate::web::AppState;
use crate::web::error::{AppError, PageError};
use crate::web::extract::{CsrfForm, CurrentUser, TicketPath, tokens_match};
use crate::web::upload::FilesForm;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// A timeline entry, ready to show.
pub struct EventView {
    pub id: i64,
    pub label: &'static str,
    pub kind: &'static str,
    /// Public: the requester reads it too (their page, their e-mail); internal: staff only.
    pub public: bool,
    pub actor: String,
    pub at: String,
    pub lines: Vec<String>,
    pub text: Option<String>,
    pub files: Vec<FileView>,
    /// The time since the step before, in words ("+2 h 5 min"); none for the first.
    pub step: Option<String>,
}

fn status_label(s: &Option<String>) -> &'static str {
    s.as_deref()
        .and_then(Status::parse)
        .map(Status::label)
        .unwrap_or("—")
}

/// "4 de 5", the way a rating reads everywhere.
pub fn score_words(score: i64) -> String {
    format!("{score} de {MAX_SCORE}")
}

impl EventView {
    fn from_event(e: &Event, files: Vec<FileView>) -> EventView {
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
        if d.from_priority.is_some() || d.to_priority.is_some() {
            let word = |p: &Option<String>| {
                p.as_deref()
                    .and_then(Priority::parse)
                    .map(Priority::label)
                    .unwrap_or("—")
            };
            lines.push(format!(
                "Prioridad: {} → {}",
                word(&d.from_priority),
                word(&d.to_priority)
            ));
        }
        if d.from_category.is_some() || d.to_category.is_some() {
            lines.push(format!(
                "Categoría: {} → {}",
                d.from_category.as_deref().unwrap_or("sin categoría"),
                d.to_category.as_deref().unwrap_or("sin categoría")
            ));
        }
        if let Some(target) = d.target.as_deref().and_then(sla::Target::parse) {
            let due = d.due_at.map(format_lima).unwrap_or_default();
            lines.push(match e.kind {
                EventKind::SlaBreach => format!("{}: venció el {due}", target.label()),
                _ => format!("{}: vence el {due}", target.label()),
            });
        }
        if let Some(score) = d.score {
            lines.push(format!("Valoración: {}", score_words(score)));
        }
        EventView {
            id: e.id,
            label: e.kind.label(),
            kind: e.kind.as_str(),
            public: e.kind.visibility() == Visibility::Public,
            actor: e.actor.clone(),
            at: format_lima(e.at),
            lines,
            text: d
                .body
                .clone()
                .or_else(|| d.resolution.clone().map(|r| format!("Resolución: {r}"))),
            files,
            step: None,
        }
    }
}

/// What someone did, for "Mientras escribía, …": who (empty when the clause names them
/// itself) and what they did to the ticket. `None` for steps nobody needs to hear about
/// (service-level notices).
fn change_clause(e: &Event, me: Option<UserId>) -> Option<(String, String)> {
    let who = if e.actor_id.is_some() && e.actor_id == me {
        "usted".to_string()
    } else {
        e.actor.clone()
    };
    let to = e.data.to_assignee_name.as_deref().unwrap_or("otro técnico");
    let (who, what) = match e.kind {
        EventKind::Assigned => (who, format!("derivó la incidencia a {to}")),
        EventKind::Reassigned => (who, format!("reasignó la incidencia a {to}")),
        EventKind::Commented => (who, "agregó una nota interna".to_string()),
        EventKind::Replied => (who, "respondió al solicitante".to_string()),
        EventKind::Returned => (who, "devolvió la incidencia a la cola".to_string()),
        EventKind::Closed => (who, "cerró la incidencia".to_string()),
        EventKind::Reopened => (who, "reabrió la incidencia".to_string()),
        EventKind::Classified => (who, "cambió la prioridad o la categoría".to_string()),
        EventKind::CustomerMessage => (String::new(), "el solicitante escribió".to_string()),
        EventKind::Rated => (
            String::new(),
            "el solicitante valoró la atención".to_string(),
        ),
        EventKind::Reminded => (
            String::new(),
            "se le recordó al solicitante que responda".to_string(),
        ),
        EventKind::Created | EventKind::SlaWarning | EventKind::SlaBreach => return None,
    };
    Some((who, what))
}

/// The sentence that says what changed since the person opened the page (the events after
/// `seen`, the last one their page showed): "Mientras escribía, Carlos Ruiz agregó una nota
/// interna y cerró la incidencia." A name is said once for the steps that follow each other;
/// at most four steps are named. `None` when nothing worth saying happened.
pub fn what_changed(events: &[Event], seen: i64, me: Option<UserId>) -> Option<String> {
    const NAMED: usize = 4;
    let mut clauses: Vec<(String, String)> = Vec::new();
    for e in events.iter().filter(|e| e.id > seen) {
        if let Some(c) = change_clause(e, me)
            && !clauses.contains(&c)
        {
            clauses.push(c);
        }
    }
    let more = clauses.len().saturating_sub(NAMED);
    clauses.truncate(NAMED);
    let mut parts: Vec<String> = Vec::new();
    let mut previous: Option<&str> = None;
    for (who, what) in &clauses {
        parts.push(if who.is_empty() || previous == Some(who.as_str()) {
            what.clone()
        } else {
            format!("{who} {what}")
        });
        previous = Some(who.as_str());
    }
    let listed = match parts.as_slice() {
        [] => return None,
        [one] => one.clone(),
        [init @ .., last] => format!("{} y {last}", init.join(", ")),
    };
    let tail = match more {
        0 => String::new(),
        1 => " (y un cambio más)".to_string(),
        n => format!(" (y {n} cambios más)"),
    };
    Some(format!("Mientras escribía, {listed}{tail}."))
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
    #[serde(default)]
    pub priority: String,
    #[serde(default)]
    pub category_id: String,
    /// The last timeline event the person's page showed: what changed after it is what the
    /// conflict message tells.
    #[serde(default)]
    pub seen: String,
    /// The close's second step: "1" closes, "volver" goes back to the page with the text kept.
    #[serde(default)]
    pub confirm: String,
    /// The reply form's "Esperar la respuesta del solicitante", kept when the page comes back.
    #[serde(skip)]
    pub wait: bool,
    /// Files were sent with a form that came back: they must be attached again.
    #[serde(skip)]
    pub had_files: bool,
}

/// A related ticket, ready to show.
pub struct LinkView {
    pub url: String,
    pub number: String,
    pub reason: String,
}

/// The panel of files that came with no message we know of (older e-mails) and of related
/// tickets.
#[derive(Default)]
pub struct TicketMail {
    pub attachments: Vec<FileView>,
    pub links: Vec<LinkView>,
}

impl TicketMail {
    pub fn is_empty(&self) -> bool {
        self.attachments.is_empty() && self.links.is_empty()
    }
}

/// Time in "Esperando al usuario", ready to show.
pub struct WaitView {
    /// The wait going on: since when, and how long so far.
    pub now: Option<(String, String)>,
    pub total: String,
}

/// The requester's rating of the last close.
pub struct RatingView {
    pub score: String,
    pub comment: Option<String>,
}

/// One service-level clock on the ticket's page.
pub struct ClockView {
    pub label: &'static str,
    pub target: String,
    pub due: String,
    pub elapsed: String,
    pub class: &'static str,
    pub text: String,
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
    /// The requester as people know them, their address and their other tickets.
    pub requester_name: Option<String>,
    pub requester_url: String,
    pub waiting: Option<WaitView>,
    pub rating: Option<RatingView>,
    pub events: Vec<EventView>,
    /// The files of the first message.
    pub request_files: Vec<FileView>,
    pub can: Available,
    pub assign_options: Vec<Option_>,
    pub reassign_options: Vec<Option_>,
    pub is_technician: bool,
    /// The action whose form failed, its message, and what the user typed.
    pub error_action: String,
    pub error: Option<String>,
    /// The message belongs to the reply or note form, which is on the page (otherwise — a
    /// ticket closed meanwhile — it shows at the top of the actions).
    pub error_at_compose: bool,
    pub draft: ActionInput,
    /// What the reply and note forms take, in words.
    pub files_hint: String,
    /// Files with no message we know of, and related tickets.
    pub mail: TicketMail,
    pub clocks: Vec<ClockView>,
    pub priority_options: Vec<Option_>,
    pub category_options: Vec<Option_>,
    /// The last event shown: forms send it back as `seen`.
    pub last_event: i64,
    /// A closed ticket's whole life, in words ("3 días 4 h").
    pub total: Option<String>,
    /// "Siguiente sin asignar": the oldest unassigned ticket other than this one, for staff.
    pub next_unassigned: Option<String>,
    /// What the person typed in a form that is no longer on the page (the ticket was closed
    /// meanwhile): shown to copy, never lost.
    pub orphan_draft: Option<String>,
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
    let (attachments, links) = state.services.ticket_mail(&actor, id).await?;
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
    let view = state.services.sla_view().await?;
    let clocks = view
        .clocks(&ticket)
        .iter()
        .map(|c| {
            let (class, text) = sla::badge(c, view.calendar(), view.now);
            ClockView {
                label: c.target.label(),
                target: c
                    .target_minutes
                    .map(|m| sla::business_words(m * 60))
                    .unwrap_or_else(|| "—".to_string()),
                due: c.due_at.map(format_lima).unwrap_or_else(|| "—".to_string()),
                elapsed: sla::business_words(c.elapsed_secs),
                class,
                text,
            }
        })
        .collect();
    let retry = error_action == "classify";
    let chosen_priority = if retry && !draft.priority.is_empty() {
        draft.priority.clone()
    } else {
        ticket.sla.priority.as_str().to_string()
    };
    let chosen_category = if retry {
        draft.category_id.clone()
    } else {
        ticket
            .sla
            .category
            .map(|c| c.to_string())
            .unwrap_or_default()
    };
    let (priority_options, category_options) = if can.classify {
        let categories = state.services.categories().await?;
        (
            Priority::ALL
                .iter()
                .map(|p| Option_ {
                    value: p.as_str().to_string(),
                    label: p.label().to_string(),
                    selected: p.as_str() == chosen_priority,
                })
                .collect(),
            categories
                .iter()
                .filter(|c| c.active || Some(c.id.0) == ticket.sla.category)
                .map(|c| Option_ {
                    value: c.id.0.to_string(),
                    label: c.name.clone(),
                    selected: c.id.0.to_string() == chosen_category,
                })
                .collect(),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let at = state.services.now();
    let files_of = |event: Option<i64>| -> Vec<FileView> {
        attachments
            .iter()
            .filter(|a| a.event == event)
            .map(|a| FileView::new(a, "/attachments"))
            .collect()
    };
    let created = events
        .iter()
        .find(|e| e.kind == EventKind::Created)
        .map(|e| e.id);
    let known = |a: &crate::domain::mail::AttachmentInfo| {
        a.event.is_some_and(|id| events.iter().any(|e| e.id == id))
    };
    let (since, total) = waited(&events, at);
    let limits = crate::web::upload::UploadLimits::of(&state.config);
    let next_unassigned = state
        .services
        .next_unassigned(&actor, id)
        .await?
        .map(|t| format!("/tickets/{t}"));
    let orphan_draft = {
        let (form_there, text) = match error_action.as_str() {
            "close" => (can.close, &draft.resolution),
            "reply" => (can.reply, &draft.body),
            "comment" => (can.comment, &draft.body),
            "return" => (can.return_to_queue, &draft.reason),
            "reopen" => (can.reopen, &draft.reason),
            "reassign" => (can.reassign, &draft.reason),
            _ => (true, &draft.body),
        };
        (!form_there && !text.trim().is_empty()).then(|| text.clone())
    };
    let mut views: Vec<EventView> = Vec::with_capacity(events.len());
    let mut previous: Option<i64> = None;
    for e in &events {
        let files = if Some(e.id) == created {
            Vec::new()
        } else {
            files_of(Some(e.id))
        };
        let mut v = EventView::from_event(e, files);
        v.step = previous.map(|p| format!("+{}", span_words(e.at - p)));
        previous = Some(e.at);
        views.push(v);
    }
    Ok(ShowPage {
        last_event: events.last().map(|e| e.id).unwrap_or(0),
        total: ticket
            .closed_at
            .filter(|_| ticket.status == Status::Cerrado)
            .map(|c| span_words(c - ticket.created_at)),
        next_unassigned,
        orphan_draft,
        clocks,
        priority_options,
        category_options,
        chrome: Chrome::for_user(user, "tickets"),
        body: ticket.body.clone(),
        version: ticket.version,
        resolution: ticket.resolution.clone(),
        closed: ticket.closed_at.map(format_lima).unwrap_or_default(),
        requester_name: ticket
            .requester_name
            .clone()
            .filter(|n| !n.trim().is_empty()),
        requester_url: requester_url(&ticket.requester),
        waiting: (since.is_some() || total > 0).then(|| WaitView {
            now: since.map(|s| (format_lima(s), duration_words(at - s))),
            total: duration_words(total),
        }),
        rating: ticket.rating.map(|score| RatingView {
            score: score_words(score),
            comment: ticket
                .rating_comment
                .clone()
                .filter(|c| !c.trim().is_empty()),
        }),
        request_files: files_of(created),
        events: views,
        mail: TicketMail {
            attachments: attachments
                .iter()
                .filter(|a| !known(a))
                .map(|a| FileView::new(a, "/attachments"))
                .collect(),
            links: links
                .into_iter()
                .map(|l| LinkView {
                    url: format!("/tickets/{}", l.other),
                    number: TicketNumber(l.other).to_string(),
                    reason: l.reason,
                })
                .collect(),
        },
        files_hint: format!(
            "Hasta {} archivos, de {} cada uno como máximo.",
            limits.files,
            human_size(limits.file_bytes)
        ),
        assign_options: technician_options(&techs, &draft.technician_id, None),
        reassign_options: technician_options(&techs, &draft.technician_id, ticket.assignee_id),
        is_technician: !Chrome::for_user(user, "").is_staff,
        ticket: TicketRow::from_ticket(&ticket, &view),
        error_at_compose: (error_action == "reply" && can.reply)
            || (error_action == "comment" && can.comment),
        can,
        error_action,
        error,
        draft,
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

/// The classification form: a priority and a category ("" = none), both always sent.
fn classification(form: &ActionInput) -> Result<Action, AppError> {
    let priority = match form.priority.trim() {
        "" => None,
        p => Some(Priority::parse_field(p)?),
    };
    let category = match form.category_id.trim() {
        "" => None,
        raw => Some(CategoryId::parse(raw).ok_or_else(|| {
            AppError::from(crate::domain::DomainError::validation(
                "category_id",
                "La categoría no existe.",
            ))
        })?),
    };
    Ok(Action::Classify {
        priority,
        category: Some(category),
    })
}

/// The `{action}` of `/tickets/{id}/{action}`.
#[derive(Deserialize)]
pub struct ActionName {
    action: String,
}

/// What a failed form shows: the page again with the message at the form and what the user
/// typed, or — for a ticket they may not see — the 404 page.
async fn refused(
    state: &AppState,
    user: &CurrentUser,
    id: TicketId,
    action: String,
    e: AppError,
    draft: ActionInput,
) -> Result<Response, PageError> {
    if e.status == StatusCode::NOT_FOUND
        && let Some(page) = lost(state, user, id, &action, &draft).await?
    {
        return render(StatusCode::CONFLICT, &page);
    }
    if e.status == StatusCode::NOT_FOUND || !e.status.is_client_error() {
        return Err(PageError(e));
    }
    let mut message = if e.status == StatusCode::CONFLICT {
        // A real conflict: say what changed since the page was opened, from the timeline.
        let seen = draft.seen.trim().parse::<i64>().unwrap_or(i64::MAX);
        let (_, events) = state.services.ticket(&user.actor(), id).await?;
        match what_changed(&events, seen, Some(user.user.id)) {
            Some(sentence) => format!(
                "{sentence} La incidencia se muestra como está ahora y su texto se conservó: revíselo antes de enviarlo otra vez."
            ),
            None if e.code == "conflict" => "Alguien modificó esta incidencia mientras usted la veía. Se muestra como está ahora y su texto se conservó: revíselo antes de enviarlo otra vez.".to_string(),
            None => e.message,
        }
    } else {
        e.message
    };
    if draft.had_files {
        message.push_str(" Su texto se conservó; vuelva a adjuntar los archivos.");
    }
    let page = show_page(state, user, id, Some((action, message)), draft).await?;
    render(e.status, &page)
}

/// A technician's form for a ticket taken from them while they wrote.
#[derive(Template)]
#[template(path = "tickets/lost.html")]
pub struct LostPage {
    pub chrome: Chrome,
    pub number: String,
    pub sentence: String,
    pub draft: String,
}

/// The page for a ticket the person held when they opened it and no longer sees (reassigned
/// or returned meanwhile): what happened and their text to copy. `None` when the ticket was
/// never theirs — then it does not exist for them (404).
async fn lost(
    state: &AppState,
    user: &CurrentUser,
    id: TicketId,
    action: &str,
    draft: &ActionInput,
) -> Result<Option<LostPage>, PageError> {
    let Some((number, events)) = state.services.lost_ticket(&user.actor(), id).await? else {
        return Ok(None);
    };
    let seen = draft.seen.trim().parse::<i64>().unwrap_or(i64::MAX);
    let sentence = what_changed(&events, seen, Some(user.user.id)).unwrap_or_else(|| {
        "Mientras escribía, la incidencia dejó de estar a su cargo.".to_string()
    });
    let text = match action {
        "close" => &draft.resolution,
        "reply" | "comment" => &draft.body,
        _ => &draft.reason,
    };
    Ok(Some(LostPage {
        chrome: Chrome::for_user(user, "tickets"),
        number,
        sentence,
        draft: text.clone(),
    }))
}

/// After a change: back to the ticket with a confirmation, or to the list for a technician
/// who passed it on and no longer sees it.
async fn done(
    state: &AppState,
    user: &CurrentUser,
    session: &crate::service::auth::Session,
    ticket: &Ticket,
    message: &str,
) -> Result<Response, PageError> {
    let passed_on = !crate::domain::access::is_staff(user.user.role)
        && ticket.assignee_id != Some(user.user.id);
    let to = if passed_on {
        "/".to_string()
    } else {
        format!("/tickets/{}", ticket.id)
    };
    redirect_with_flash(
        state,
        session,
        &to,
        &format!("{} ({})", message, ticket.number()),
    )
    .await
}

/// One handler for the ticket forms without files: the action's name picks the command; the
/// domain decides whether this actor may, and the version refuses a stale view. (The reply and
/// the note have routes of their own: `message`.)
pub async fn act(
    State(state): State<AppState>,
    user: CurrentUser,
    TicketPath(id): TicketPath,
    Path(ActionName { action }): Path<ActionName>,
    CsrfForm { session, form }: CsrfForm<ActionInput>,
) -> Result<Response, PageError> {
    let version = form.version.trim().parse::<i64>().ok();
    if action == "close" {
        match form.confirm.as_str() {
            "1" => {}
            // "Volver sin cerrar": the page again, the resolution kept in its form.
            "volver" => {
                let page = show_page(
                    &state,
                    &user,
                    id,
                    Some(("close".to_string(), String::new())),
                    form,
                )
                .await?;
                return ok(&ShowPage {
                    error: None,
                    ..page
                });
            }
            // The first step: confirm what cannot be undone (the requester is told), unless
            // the form will be refused anyway — then the refusal explains at once.
            _ => {
                if let Some(page) = close_confirmation(&state, &user, id, version, &form).await? {
                    return ok(&page);
                }
            }
        }
    }
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
        "classify" => classification(&form).map(|a| (a, "Prioridad y categoría guardadas.")),
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
        Ok((ticket, message)) => done(&state, &user, &session, &ticket, message).await,
        Err(e) => refused(&state, &user, id, action, e, form).await,
    }
}

/// The confirmation step of "Cerrar".
#[derive(Template)]
#[template(path = "tickets/confirm_close.html")]
pub struct ConfirmClosePage {
    pub chrome: Chrome,
    pub id: i64,
    pub number: String,
    pub subject: String,
    pub requester: String,
    pub version: String,
    pub seen: String,
    pub resolution: String,
}

/// The confirmation page for a close that would go through: typed resolution, the version
/// still current, and the person allowed to close. `None` sends the form on to be refused
/// with its own message.
async fn close_confirmation(
    state: &AppState,
    user: &CurrentUser,
    id: TicketId,
    version: Option<i64>,
    form: &ActionInput,
) -> Result<Option<ConfirmClosePage>, PageError> {
    if form.resolution.trim().is_empty() {
        return Ok(None);
    }
    let actor = user.actor();
    // A ticket gone from the person's view is explained by the refusal that follows.
    let Ok((ticket, _)) = state.services.ticket(&actor, id).await else {
        return Ok(None);
    };
    if version.is_some_and(|v| v != ticket.version) || !available(&ticket.state(), &actor).close {
        return Ok(None);
    }
    Ok(Some(ConfirmClosePage {
        chrome: Chrome::for_user(user, "tickets"),
        id: ticket.id.0,
        number: ticket.number().to_string(),
        subject: ticket.subject.clone(),
        requester: ticket.requester.clone(),
        version: form.version.clone(),
        seen: form.seen.clone(),
        resolution: form.resolution.clone(),
    }))
}

/// The two messages of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Message {
    Reply,
    Note,
}

/// `POST /tickets/{id}/reply`: a public reply, e-mailed to the requester with its files.
pub async fn reply(
    State(state): State<AppState>,
    user: CurrentUser,
    TicketPath(id): TicketPath,
    form: FilesForm,
) -> Result<Response, PageError> {
    message(&state, &user, id, Message::Reply, form).await
}

/// `POST /tickets/{id}/comment`: an internal note, with its files, for staff only.
pub async fn comment(
    State(state): State<AppState>,
    user: CurrentUser,
    TicketPath(id): TicketPath,
    form: FilesForm,
) -> Result<Response, PageError> {
    message(&state, &user, id, Message::Note, form).await
}

/// A reply or a note from the ticket's page (multipart with files, or a plain form): the CSRF
/// token first, then the files' limits — a refused file brings the page back with the text
/// kept and nothing written — then the one change function, with the files.
async fn message(
    state: &AppState,
    user: &CurrentUser,
    id: TicketId,
    kind: Message,
    form: FilesForm,
) -> Result<Response, PageError> {
    let Some(session) = user.session.clone() else {
        return Ok(axum::response::Redirect::to("/login").into_response());
    };
    if !tokens_match(form.field("csrf_token"), &session.csrf_token) {
        return Err(AppError::csrf().into());
    }
    let wait = kind == Message::Reply && form.checked("wait");
    let draft = ActionInput {
        version: form.field("version").to_string(),
        body: form.field("body").to_string(),
        seen: form.field("seen").to_string(),
        wait,
        had_files: form.had_files,
        ..ActionInput::default()
    };
    let action_name = match kind {
        Message::Reply => "reply",
        Message::Note => "comment",
    };
    if let Some(e) = form.refusal() {
        return refused(state, user, id, action_name.to_string(), e, draft).await;
    }
    let (action, confirmation) = match kind {
        Message::Reply => (
            Action::Reply {
                body: draft.body.clone(),
                wait,
            },
            if wait {
                "Respuesta al solicitante registrada; se le enviará por correo y la incidencia queda Esperando al usuario."
            } else {
                "Respuesta al solicitante registrada; se le enviará por correo."
            },
        ),
        Message::Note => (
            Action::Comment {
                body: draft.body.clone(),
            },
            "Nota interna agregada.",
        ),
    };
    // A message never conflicts with another change: it is added to the ticket as it is now
    // (the version the page showed is not pinned). Only a ticket closed meanwhile, or no
    // longer the person's, refuses it.
    let version = None;
    match state
        .services
        .act_with_files(&user.actor(), id, version, action, form.files)
        .await
    {
        Ok(ticket) => done(state, user, &session, &ticket, confirmation).await,
        Err(e) => refused(state, user, id, action_name.to_string(), e.into(), draft).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::timeline::EventData;

    fn event(id: i64, kind: EventKind, actor: (i64, &str), to: Option<&str>) -> Event {
        Event {
            id,
            kind,
            actor_id: Some(UserId(actor.0)),
            actor: actor.1.to_string(),
            at: id,
            data: EventData {
                to_assignee_name: to.map(str::to_string),
                ..EventData::default()
            },
        }
    }

    #[test]
    fn the_sentence_names_who_did_what_after_the_page_was_opened() {
        let carlos = (7, "Carlos Ruiz");
        let rosa = (8, "Rosa Lima");
        let events = [
            event(1, EventKind::Created, carlos, None),
            event(2, EventKind::Assigned, carlos, Some("Ana Túpac")),
            event(3, EventKind::Commented, carlos, None),
            event(4, EventKind::Closed, carlos, None),
            event(5, EventKind::Reassigned, rosa, Some("Luis Rojas")),
        ];
        assert_eq!(what_changed(&events, 5, None), None, "nothing new");
        assert_eq!(
            what_changed(&events[..4], 3, None).as_deref(),
            Some("Mientras escribía, Carlos Ruiz cerró la incidencia.")
        );
        assert_eq!(
            what_changed(&events, 2, None).as_deref(),
            Some(
                "Mientras escribía, Carlos Ruiz agregó una nota interna, cerró la incidencia y Rosa Lima reasignó la incidencia a Luis Rojas."
            )
        );
        assert_eq!(
            what_changed(&events[..4], 3, Some(UserId(7))).as_deref(),
            Some("Mientras escribía, usted cerró la incidencia.")
        );
        let sla = [event(9, EventKind::SlaBreach, (0, "Sistema"), None)];
        assert_eq!(what_changed(&sla, 0, None), None, "notices are not changes");
    }
}

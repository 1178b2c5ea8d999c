//! Timeline events: what happened to a ticket, who did it, and the before/after.
//! The timeline is append-only and is the source of truth for every time metric.

use super::ids::UserId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Created,
    Assigned,
    Reassigned,
    /// An internal note (the kind keeps its first name: "commented").
    Commented,
    /// A public reply, e-mailed to the requester.
    Replied,
    Returned,
    Closed,
    Reopened,
    CustomerMessage,
    /// The system reminded the requester that their answer is awaited.
    Reminded,
    /// The requester rated the close.
    Rated,
    /// The priority or the category changed.
    Classified,
    /// A service-level clock reached its warning share (`domain::sla::WARN_PERCENT`).
    SlaWarning,
    /// A service-level clock passed its due instant.
    SlaBreach,
}

/// Who may read an event: everyone the ticket concerns, the requester included (`public`),
/// or staff and the assigned technician only (`internal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    Internal,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Internal => "internal",
        }
    }
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Assigned => "assigned",
            EventKind::Reassigned => "reassigned",
            EventKind::Commented => "commented",
            EventKind::Replied => "replied",
            EventKind::Returned => "returned",
            EventKind::Closed => "closed",
            EventKind::Reopened => "reopened",
            EventKind::CustomerMessage => "customer_message",
            EventKind::Reminded => "reminded",
            EventKind::Rated => "rated",
            EventKind::Classified => "classified",
            EventKind::SlaWarning => "sla_warning",
            EventKind::SlaBreach => "sla_breach",
        }
    }

    /// Public: what the requester wrote or was written (their message, the replies, the
    /// reminder, the close with its resolution, their rating). Everything else — notes,
    /// assignments, returns, reopenings by staff — is internal.
    pub fn visibility(self) -> Visibility {
        match self {
            EventKind::Created
            | EventKind::Replied
            | EventKind::CustomerMessage
            | EventKind::Reminded
            | EventKind::Closed
            | EventKind::Rated => Visibility::Public,
            EventKind::Assigned
            | EventKind::Reassigned
            | EventKind::Commented
            | EventKind::Returned
            | EventKind::Reopened
            | EventKind::Classified
            | EventKind::SlaWarning
            | EventKind::SlaBreach => Visibility::Internal,
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        Some(match s {
            "created" => EventKind::Created,
            "assigned" => EventKind::Assigned,
            "reassigned" => EventKind::Reassigned,
            "commented" => EventKind::Commented,
            "replied" => EventKind::Replied,
            "returned" => EventKind::Returned,
            "closed" => EventKind::Closed,
            "reopened" => EventKind::Reopened,
            "customer_message" => EventKind::CustomerMessage,
            "reminded" => EventKind::Reminded,
            "rated" => EventKind::Rated,
            "classified" => EventKind::Classified,
            "sla_warning" => EventKind::SlaWarning,
            "sla_breach" => EventKind::SlaBreach,
            _ => return None,
        })
    }

    /// The Spanish words on screen; one word per idea (DESIGN.md).
    pub fn label(self) -> &'static str {
        match self {
            EventKind::Created => "Creada",
            EventKind::Assigned => "Derivada",
            EventKind::Reassigned => "Reasignada",
            EventKind::Commented => "Nota interna",
            EventKind::Replied => "Respuesta al solicitante",
            EventKind::Returned => "Devuelta a la cola",
            EventKind::Closed => "Cerrada",
            EventKind::Reopened => "Reabierta",
            EventKind::CustomerMessage => "Mensaje del solicitante",
            EventKind::Reminded => "Recordatorio al solicitante",
            EventKind::Rated => "Valoración del solicitante",
            EventKind::Classified => "Clasificada",
            EventKind::SlaWarning => "Aviso de vencimiento",
            EventKind::SlaBreach => "SLA vencido",
        }
    }
}

/// The before/after and free text of an event, stored as JSON. Names are captured when the
/// event is written, so history reads the same after someone is renamed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventData {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub to_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from_assignee: Option<UserId>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from_assignee_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub to_assignee: Option<UserId>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub to_assignee_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resolution: Option<String>,
    /// How an incoming message was joined to this ticket (mail threading).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub matched_by: Option<String>,
    /// A rating's score (1–5).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub score: Option<i64>,
    /// A classification's before/after: priorities as `Priority::as_str`, categories by name
    /// (a category change has at least one of the two names).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from_priority: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub to_priority: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from_category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub to_category: Option<String>,
    /// A service-level notice: which target (`sla::Target::as_str`) and its due instant.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub due_at: Option<i64>,
}

/// An event about to be written (the domain's decision).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub kind: EventKind,
    pub data: EventData,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: i64,
    pub kind: EventKind,
    pub actor_id: Option<UserId>,
    pub actor: String,
    pub at: i64,
    pub data: EventData,
}

/// Time spent waiting for the requester's answer (`en_espera`), read from the timeline: since
/// when the ticket waits now (`None` when it does not) and the total of every stay, the one
/// going on counted up to `now`.
pub fn waited(events: &[Event], now: i64) -> (Option<i64>, i64) {
    const WAITING: &str = "en_espera";
    let mut since: Option<i64> = None;
    let mut total = 0;
    for e in events {
        let to = e.data.to_status.as_deref();
        let from = e.data.from_status.as_deref();
        if to == Some(WAITING) && since.is_none() {
            since = Some(e.at);
        } else if from == Some(WAITING)
            && to != Some(WAITING)
            && let Some(start) = since.take()
        {
            total += (e.at - start).max(0);
        }
    }
    if let Some(start) = since {
        total += (now - start).max(0);
    }
    (since, total)
}

#[cfg(test)]
mod waited_tests {
    use super::*;

    fn moved(at: i64, from: &str, to: &str) -> Event {
        Event {
            id: at,
            kind: EventKind::Replied,
            actor_id: None,
            actor: String::new(),
            at,
            data: EventData {
                from_status: Some(from.into()),
                to_status: Some(to.into()),
                ..EventData::default()
            },
        }
    }

    #[test]
    fn stays_add_up_and_the_current_one_runs_to_now() {
        let events = [
            moved(100, "asignado", "en_espera"),
            moved(400, "en_espera", "en_atencion"),
            moved(1000, "en_atencion", "en_espera"),
        ];
        assert_eq!(waited(&events, 1500), (Some(1000), 300 + 500));
        assert_eq!(waited(&events[..2], 9999), (None, 300));
        assert_eq!(waited(&[], 10), (None, 0));
    }
}

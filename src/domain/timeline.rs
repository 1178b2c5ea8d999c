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
    Commented,
    Returned,
    Closed,
    Reopened,
    CustomerMessage,
    /// The priority or the category changed.
    Classified,
    /// A service-level clock reached its warning share (`domain::sla::WARN_PERCENT`).
    SlaWarning,
    /// A service-level clock passed its due instant.
    SlaBreach,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Assigned => "assigned",
            EventKind::Reassigned => "reassigned",
            EventKind::Commented => "commented",
            EventKind::Returned => "returned",
            EventKind::Closed => "closed",
            EventKind::Reopened => "reopened",
            EventKind::CustomerMessage => "customer_message",
            EventKind::Classified => "classified",
            EventKind::SlaWarning => "sla_warning",
            EventKind::SlaBreach => "sla_breach",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        Some(match s {
            "created" => EventKind::Created,
            "assigned" => EventKind::Assigned,
            "reassigned" => EventKind::Reassigned,
            "commented" => EventKind::Commented,
            "returned" => EventKind::Returned,
            "closed" => EventKind::Closed,
            "reopened" => EventKind::Reopened,
            "customer_message" => EventKind::CustomerMessage,
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
            EventKind::Commented => "Comentario",
            EventKind::Returned => "Devuelta a la cola",
            EventKind::Closed => "Cerrada",
            EventKind::Reopened => "Reabierta",
            EventKind::CustomerMessage => "Mensaje del cliente",
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

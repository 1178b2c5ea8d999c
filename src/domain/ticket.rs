//! A ticket's life: its states, the commands people give, and the one transition table that
//! decides what each command does in each state.

use super::access::{
    Capability, actor_may, is_assignee, may_classify, may_close, may_work_on, require,
};
use super::classification::{Category, CategoryRef, Classification, Priority};
use super::error::DomainError;
use super::ids::UserId;
use super::timeline::{EventData, EventKind, NewEvent};
use super::user::{Actor, Role};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Nuevo,
    Asignado,
    EnAtencion,
    /// Waiting for the requester's answer (the SLA resolution clock pauses).
    EnEspera,
    Devuelto,
    Cerrado,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Nuevo,
        Status::Asignado,
        Status::EnAtencion,
        Status::EnEspera,
        Status::Devuelto,
        Status::Cerrado,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Nuevo => "nuevo",
            Status::Asignado => "asignado",
            Status::EnAtencion => "en_atencion",
            Status::EnEspera => "en_espera",
            Status::Devuelto => "devuelto",
            Status::Cerrado => "cerrado",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s.trim())
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Nuevo => "Nuevo",
            Status::Asignado => "Asignado",
            Status::EnAtencion => "En atención",
            Status::EnEspera => "Esperando al usuario",
            Status::Devuelto => "Devuelto",
            Status::Cerrado => "Cerrado",
        }
    }

    pub fn is_open(self) -> bool {
        self != Status::Cerrado
    }

    /// Waiting in the dispatch queue, with nobody on it.
    pub fn is_queued(self) -> bool {
        matches!(self, Status::Nuevo | Status::Devuelto)
    }

    /// A technician has it (whether working or waiting for the requester).
    pub fn is_assigned(self) -> bool {
        matches!(
            self,
            Status::Asignado | Status::EnAtencion | Status::EnEspera
        )
    }

    /// Where the requester stands, in plain words (the status page).
    pub fn for_requester(self) -> &'static str {
        match self {
            Status::Nuevo | Status::Devuelto => "Recibida: pronto un técnico la tomará.",
            Status::Asignado => "Asignada a un técnico.",
            Status::EnAtencion => "Un técnico está trabajando en ella.",
            Status::EnEspera => "Esperamos su respuesta para continuar.",
            Status::Cerrado => "Cerrada.",
        }
    }
}

/// Limits on what people type.
pub const MAX_SUBJECT_CHARS: usize = 255;
pub const MAX_BODY_BYTES: usize = 100 * 1024;
pub const MAX_NOTE_CHARS: usize = 20_000;
/// The subject of a message that came without one.
pub const NO_SUBJECT: &str = "(sin asunto)";
/// Ratings go from 1 to 5.
pub const MAX_SCORE: i64 = 5;

/// A technician named as the target of an assignment, as storage found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    pub active: bool,
}

/// What the transition table needs to know about a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketState {
    pub status: Status,
    pub assignee: Option<UserId>,
    pub assignee_name: Option<String>,
    /// Whether the current (or, on a closed ticket, the last) assignee may still work.
    pub assignee_active: bool,
    pub classification: Classification,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Assign {
        to: Target,
    },
    Reassign {
        to: Target,
        reason: String,
    },
    /// An internal note: only staff see it.
    Comment {
        body: String,
    },
    /// A public reply: e-mailed to the requester; `wait` then waits for their answer.
    Reply {
        body: String,
        wait: bool,
    },
    Close {
        resolution: String,
    },
    /// The system closes a ticket whose requester did not answer in time.
    CloseUnanswered {
        resolution: String,
    },
    /// The system reminds the requester that their answer is awaited.
    Remind,
    /// The requester rates how their closed ticket was handled.
    Rate {
        score: i64,
        comment: String,
    },
    Return {
        reason: String,
    },
    Reopen {
        reason: String,
    },
    /// The customer wrote again (e-mail); on a closed ticket it reopens it.
    CustomerMessage {
        body: String,
        matched_by: String,
    },
    /// Set the priority and/or the category (`Some(None)`: no category); what is not given
    /// stays as it is.
    Classify {
        priority: Option<Priority>,
        category: Option<Option<Category>>,
    },
}

/// The decision: the ticket's new status and assignee, and the events that record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub status: Status,
    pub assignee: Option<UserId>,
    pub events: Vec<NewEvent>,
    /// The ticket's classification after the change, when it changed.
    pub classification: Option<Classification>,
}

fn required_text(field: &'static str, what: &str, raw: &str) -> Result<String, DomainError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(DomainError::validation(field, format!("Escriba {what}.")));
    }
    if s.chars().count() > MAX_NOTE_CHARS {
        return Err(DomainError::validation(
            field,
            format!("El texto no puede tener más de {MAX_NOTE_CHARS} caracteres."),
        ));
    }
    Ok(s.to_string())
}

fn check_target(to: &Target) -> Result<(), DomainError> {
    if to.role != Role::Technician || !to.active {
        return Err(DomainError::validation(
            "technician_id",
            "Elija un técnico activo.",
        ));
    }
    Ok(())
}

fn closed_error() -> DomainError {
    DomainError::InvalidTransition("La incidencia está cerrada: no admite esta acción.".to_string())
}

fn transition(from: Status, to: Status, mut data: EventData) -> EventData {
    if from != to {
        data.from_status = Some(from.as_str().to_string());
        data.to_status = Some(to.as_str().to_string());
    }
    data
}

/// The transition table. Visibility was already applied when the ticket was loaded: a
/// technician only ever reaches here with a ticket assigned to them (or closed by them).
/// Who may do what comes from `domain::access`.
pub fn decide(state: &TicketState, actor: &Actor, command: Command) -> Result<Change, DomainError> {
    use Status::*;
    let is_staff = actor_may(actor, Capability::Dispatch);
    let works_on = may_work_on(actor, state.assignee);
    let keep = |events| Change {
        status: state.status,
        assignee: state.assignee,
        events,
        classification: None,
    };

    match command {
        Command::Assign { to } => {
            require(actor, Capability::Dispatch, "derivar incidencias")?;
            match state.status {
                Nuevo | Devuelto => {}
                Asignado | EnAtencion | EnEspera => {
                    return Err(DomainError::InvalidTransition(
                        "La incidencia ya está asignada: use Reasignar.".to_string(),
                    ));
                }
                Cerrado => return Err(closed_error()),
            }
            check_target(&to)?;
            let data = transition(
                state.status,
                Asignado,
                EventData {
                    to_assignee: Some(to.id),
                    to_assignee_name: Some(to.name.clone()),
                    ..EventData::default()
                },
            );
            Ok(Change {
                status: Asignado,
                assignee: Some(to.id),
                events: vec![NewEvent {
                    kind: EventKind::Assigned,
                    data,
                }],
                classification: None,
            })
        }
        Command::Reassign { to, reason } => {
            let reason = reason.trim().to_string();
            if !works_on {
                return Err(DomainError::Forbidden("reasignar esta incidencia"));
            }
            if !is_staff && reason.is_empty() {
                return Err(DomainError::validation(
                    "reason",
                    "Indique el motivo para pasar la incidencia a otro técnico.",
                ));
            }
            if reason.chars().count() > MAX_NOTE_CHARS {
                return Err(DomainError::validation(
                    "reason",
                    "El motivo es demasiado largo.",
                ));
            }
            match state.status {
                Asignado | EnAtencion | EnEspera => {}
                Nuevo | Devuelto => {
                    return Err(DomainError::InvalidTransition(
                        "La incidencia no tiene técnico: use Derivar.".to_string(),
                    ));
                }
                Cerrado => return Err(closed_error()),
            }
            check_target(&to)?;
            if Some(to.id) == state.assignee {
                return Err(DomainError::validation(
                    "technician_id",
                    "La incidencia ya está asignada a ese técnico.",
                ));
            }
            let data = transition(
                state.status,
                Asignado,
                EventData {
                    from_assignee: state.assignee,
                    from_assignee_name: state.assignee_name.clone(),
                    to_assignee: Some(to.id),
                    to_assignee_name: Some(to.name.clone()),
                    reason: (!reason.is_empty()).then_some(reason),
                    ..EventData::default()
                },
            );
            Ok(Change {
                status: Asignado,
                assignee: Some(to.id),
                events: vec![NewEvent {
                    kind: EventKind::Reassigned,
                    data,
                }],
                classification: None,
            })
        }
        Command::Comment { body } => {
            let body = required_text("body", "el comentario", &body)?;
            if state.status == Cerrado {
                return Err(closed_error());
            }
            if !works_on {
                return Err(DomainError::Forbidden("comentar esta incidencia"));
            }
            // The assignee's first comment is the first response: the work has started.
            let to = if is_assignee(actor, state.assignee) && state.status == Asignado {
                EnAtencion
            } else {
                state.status
            };
            let data = transition(
                state.status,
                to,
                EventData {
                    body: Some(body),
                    ..EventData::default()
                },
            );
            Ok(Change {
                status: to,
                assignee: state.assignee,
                events: vec![NewEvent {
                    kind: EventKind::Commented,
                    data,
                }],
                classification: None,
            })
        }
        Command::Reply { body, wait } => {
            let body = required_text("body", "la respuesta", &body)?;
            if state.status == Cerrado {
                return Err(closed_error());
            }
            if !works_on {
                return Err(DomainError::Forbidden("responder al solicitante"));
            }
            let to = if wait {
                if !state.status.is_assigned() {
                    return Err(DomainError::validation(
                        "wait",
                        "Derive la incidencia a un técnico antes de esperar la respuesta del solicitante.",
                    ));
                }
                EnEspera
            } else if state.status == EnEspera
                || (is_assignee(actor, state.assignee) && state.status == Asignado)
            {
                // Writing again without waiting, or the assignee's first answer: at work.
                EnAtencion
            } else {
                state.status
            };
            let data = transition(
                state.status,
                to,
                EventData {
                    body: Some(body),
                    ..EventData::default()
                },
            );
            Ok(Change {
                status: to,
                assignee: state.assignee,
                events: vec![NewEvent {
                    kind: EventKind::Replied,
                    data,
                }],
                classification: None,
            })
        }
        Command::Close { resolution } => {
            let resolution = required_text("resolution", "la nota de resolución", &resolution)?;
            if !may_close(actor, state.assignee) {
                return Err(DomainError::Forbidden("cerrar esta incidencia"));
            }
            if state.status == Cerrado {
                return Err(DomainError::InvalidTransition(
                    "La incidencia ya está cerrada.".to_string(),
                ));
            }
            let data = transition(
                state.status,
                Cerrado,
                EventData {
                    resolution: Some(resolution),
                    ..EventData::default()
                },
            );
            Ok(Change {
                status: Cerrado,
                assignee: state.assignee,
                events: vec![NewEvent {
                    kind: EventKind::Closed,
                    data,
                }],
                classification: None,
            })
        }
        Command::CloseUnanswered { resolution } => {
            if !matches!(actor, Actor::System) {
                return Err(DomainError::Forbidden("cerrar por falta de respuesta"));
            }
            if state.status != EnEspera {
                return Err(DomainError::InvalidTransition(
                    "Solo se cierra por falta de respuesta una incidencia que espera al usuario."
                        .to_string(),
                ));
            }
            let data = transition(
                state.status,
                Cerrado,
                EventData {
                    resolution: Some(resolution),
                    ..EventData::default()
                },
            );
            Ok(Change {
                status: Cerrado,
                assignee: state.assignee,
                events: vec![NewEvent {
                    kind: EventKind::Closed,
                    data,
                }],
                classification: None,
            })
        }
        Command::Remind => {
            if !matches!(actor, Actor::System) {
                return Err(DomainError::Forbidden("enviar recordatorios"));
            }
            if state.status != EnEspera {
                return Err(DomainError::InvalidTransition(
                    "Solo se recuerda al usuario una incidencia que espera su respuesta."
                        .to_string(),
                ));
            }
            Ok(keep(vec![NewEvent {
                kind: EventKind::Reminded,
                data: EventData::default(),
            }]))
        }
        Command::Rate { score, comment } => {
            if !matches!(actor, Actor::Customer { .. }) {
                return Err(DomainError::Forbidden("valorar la atención"));
            }
            if state.status != Cerrado {
                return Err(DomainError::InvalidTransition(
                    "Solo se puede valorar una incidencia cerrada.".to_string(),
                ));
            }
            if !(1..=MAX_SCORE).contains(&score) {
                return Err(DomainError::validation(
                    "puntaje",
                    "Elija una valoración de 1 a 5.",
                ));
            }
            let comment = comment.trim();
            if comment.chars().count() > MAX_NOTE_CHARS {
                return Err(DomainError::validation(
                    "comentario",
                    format!("El comentario no puede tener más de {MAX_NOTE_CHARS} caracteres."),
                ));
            }
            Ok(keep(vec![NewEvent {
                kind: EventKind::Rated,
                data: EventData {
                    score: Some(score),
                    body: (!comment.is_empty()).then(|| comment.to_string()),
                    ..EventData::default()
                },
            }]))
        }
        Command::Return { reason } => {
            let reason = required_text("reason", "el motivo de la devolución", &reason)?;
            // The system hands back the tickets of a technician who can no longer work.
            let system = matches!(actor, Actor::System);
            if !works_on && !system {
                return Err(DomainError::Forbidden("devolver esta incidencia"));
            }
            match state.status {
                Asignado | EnAtencion | EnEspera => {}
                Nuevo | Devuelto => {
                    return Err(DomainError::InvalidTransition(
                        "La incidencia ya está en la cola.".to_string(),
                    ));
                }
                Cerrado => return Err(closed_error()),
            }
            let data = transition(
                state.status,
                Devuelto,
                EventData {
                    from_assignee: state.assignee,
                    from_assignee_name: state.assignee_name.clone(),
                    reason: Some(reason),
                    ..EventData::default()
                },
            );
            Ok(Change {
                status: Devuelto,
                assignee: None,
                events: vec![NewEvent {
                    kind: EventKind::Returned,
                    data,
                }],
                classification: None,
            })
        }
        Command::Reopen { reason } => {
            let reason = required_text("reason", "el motivo para reabrir", &reason)?;
            require(actor, Capability::Dispatch, "reabrir incidencias")?;
            if state.status != Cerrado {
                return Err(DomainError::InvalidTransition(
                    "Solo se puede reabrir una incidencia cerrada.".to_string(),
                ));
            }
            Ok(reopen(state, reason, None))
        }
        Command::CustomerMessage { body, matched_by } => {
            let body = body.trim().to_string();
            if !matches!(actor, Actor::Customer { .. }) {
                return Err(DomainError::Forbidden("escribir como cliente"));
            }
            let message = NewEvent {
                kind: EventKind::CustomerMessage,
                data: EventData {
                    body: Some(body),
                    matched_by: Some(matched_by),
                    ..EventData::default()
                },
            };
            if state.status == Cerrado {
                let mut change = reopen(
                    state,
                    "El cliente respondió a una incidencia cerrada.".to_string(),
                    None,
                );
                change.events.insert(0, message);
                Ok(change)
            } else if state.status == EnEspera {
                // The answer that was awaited: back to work.
                let mut message = message;
                message.data = transition(EnEspera, EnAtencion, message.data);
                Ok(Change {
                    status: EnAtencion,
                    assignee: state.assignee,
                    events: vec![message],
                    classification: None,
                })
            } else {
                Ok(keep(vec![message]))
            }
        }
        Command::Classify { priority, category } => {
            if state.status == Cerrado {
                return Err(closed_error());
            }
            if !may_classify(actor, state.assignee) {
                return Err(DomainError::Forbidden(
                    "cambiar la prioridad o la categoría de esta incidencia",
                ));
            }
            let (change, classification) = classify(&state.classification, priority, category)?;
            let mut decided = keep(vec![change]);
            decided.classification = Some(classification);
            Ok(decided)
        }
    }
}

/// A classification's event and the classification it leaves, or why it changes nothing.
fn classify(
    now: &Classification,
    priority: Option<Priority>,
    category: Option<Option<Category>>,
) -> Result<(NewEvent, Classification), DomainError> {
    if priority.is_none() && category.is_none() {
        return Err(DomainError::validation(
            "priority",
            "Indique la prioridad o la categoría.",
        ));
    }
    let mut next = now.clone();
    let mut data = EventData::default();
    if let Some(p) = priority.filter(|p| *p != now.priority) {
        data.from_priority = Some(now.priority.as_str().to_string());
        data.to_priority = Some(p.as_str().to_string());
        next.priority = p;
    }
    if let Some(category) = category {
        let current = now.category.as_ref().map(|c| c.id);
        if let Some(c) = &category
            && !c.active
            && current != Some(c.id)
        {
            return Err(DomainError::validation(
                "category_id",
                format!("La categoría «{}» está deshabilitada.", c.name),
            ));
        }
        if category.as_ref().map(|c| c.id) != current {
            data.from_category = now.category.as_ref().map(|c| c.name.clone());
            data.to_category = category.as_ref().map(|c| c.name.clone());
            next.category = category.as_ref().map(CategoryRef::from);
        }
    }
    if next == *now {
        return Err(DomainError::validation(
            "priority",
            "La incidencia ya tiene esa prioridad y esa categoría.",
        ));
    }
    Ok((
        NewEvent {
            kind: EventKind::Classified,
            data,
        },
        next,
    ))
}

/// Which actions the actor may take on the ticket now, found by asking `decide` itself, so
/// the buttons on screen can never disagree with the rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Available {
    pub assign: bool,
    pub reassign: bool,
    pub comment: bool,
    pub reply: bool,
    /// A reply may wait for the requester's answer.
    pub wait: bool,
    pub close: bool,
    pub return_to_queue: bool,
    pub reopen: bool,
    pub classify: bool,
}

impl Available {
    pub fn any(&self) -> bool {
        self.assign
            || self.reassign
            || self.comment
            || self.reply
            || self.close
            || self.return_to_queue
            || self.reopen
            || self.classify
    }
}

pub fn available(state: &TicketState, actor: &Actor) -> Available {
    let someone_else = Target {
        id: UserId(i64::MIN),
        name: String::new(),
        role: Role::Technician,
        active: true,
    };
    let text = || "x".to_string();
    let allowed = |command: Command| decide(state, actor, command).is_ok();
    Available {
        assign: allowed(Command::Assign {
            to: someone_else.clone(),
        }),
        reassign: allowed(Command::Reassign {
            to: someone_else.clone(),
            reason: text(),
        }),
        comment: allowed(Command::Comment { body: text() }),
        reply: allowed(Command::Reply {
            body: text(),
            wait: false,
        }),
        wait: allowed(Command::Reply {
            body: text(),
            wait: true,
        }),
        close: allowed(Command::Close { resolution: text() }),
        return_to_queue: allowed(Command::Return { reason: text() }),
        reopen: allowed(Command::Reopen { reason: text() }),
        classify: allowed(Command::Classify {
            priority: Some(if state.classification.priority == Priority::Baja {
                Priority::Alta
            } else {
                Priority::Baja
            }),
            category: None,
        }),
    }
}

/// A reopened ticket goes back to the technician who had it when they can still work,
/// otherwise to the dispatch queue.
fn reopen(state: &TicketState, reason: String, _note: Option<String>) -> Change {
    let (status, assignee) = match state.assignee {
        Some(id) if state.assignee_active => (Status::Asignado, Some(id)),
        _ => (Status::Nuevo, None),
    };
    let data = transition(
        Status::Cerrado,
        status,
        EventData {
            to_assignee: assignee,
            to_assignee_name: assignee.and(state.assignee_name.clone()),
            reason: Some(reason),
            ..EventData::default()
        },
    );
    Change {
        status,
        assignee,
        events: vec![NewEvent {
            kind: EventKind::Reopened,
            data,
        }],
        classification: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_narrowed_by_words_alone() {
        let words = TicketFilter {
            terms: vec!["impresora".to_string()],
            sort: Sort::Oldest,
            now: 1,
            ..TicketFilter::default()
        };
        assert!(words.words_only());
        for other in [
            TicketFilter {
                statuses: vec![Status::Cerrado],
                ..words.clone()
            },
            TicketFilter {
                requester: Some("ana@cliente.pe".to_string()),
                ..words.clone()
            },
            TicketFilter {
                technician: Some(UserId(3)),
                ..words.clone()
            },
            TicketFilter {
                number: Some(crate::domain::ids::TicketId(7)),
                ..words.clone()
            },
            TicketFilter {
                from: Some(0),
                ..words.clone()
            },
            TicketFilter {
                to: Some(0),
                ..words.clone()
            },
            TicketFilter {
                sla: Some(crate::domain::sla::DueFilter::Overdue),
                ..words.clone()
            },
        ] {
            assert!(!other.words_only(), "{other:?}");
        }
    }

    fn user(id: i64, role: Role) -> Actor {
        Actor::User {
            id: UserId(id),
            role,
            name: format!("u{id}"),
        }
    }
    fn tech(id: i64) -> Target {
        Target {
            id: UserId(id),
            name: format!("t{id}"),
            role: Role::Technician,
            active: true,
        }
    }
    fn state(status: Status, assignee: Option<i64>) -> TicketState {
        TicketState {
            status,
            assignee: assignee.map(UserId),
            assignee_name: assignee.map(|a| format!("t{a}")),
            assignee_active: true,
            classification: Classification::default(),
        }
    }

    #[test]
    fn dispatcher_assigns_a_new_ticket() {
        let c = decide(
            &state(Status::Nuevo, None),
            &user(1, Role::Dispatcher),
            Command::Assign { to: tech(7) },
        )
        .unwrap();
        assert_eq!(c.status, Status::Asignado);
        assert_eq!(c.assignee, Some(UserId(7)));
        assert_eq!(c.events[0].kind, EventKind::Assigned);
        assert_eq!(c.events[0].data.to_status.as_deref(), Some("asignado"));
    }

    #[test]
    fn technician_cannot_assign() {
        let e = decide(
            &state(Status::Nuevo, None),
            &user(7, Role::Technician),
            Command::Assign { to: tech(7) },
        );
        assert!(matches!(e, Err(DomainError::Forbidden(_))));
    }

    #[test]
    fn assigning_to_a_disabled_technician_is_refused() {
        let mut t = tech(7);
        t.active = false;
        let e = decide(
            &state(Status::Nuevo, None),
            &user(1, Role::Admin),
            Command::Assign { to: t },
        );
        assert!(matches!(e, Err(DomainError::Validation { .. })));
    }

    #[test]
    fn first_comment_by_assignee_starts_the_work() {
        let c = decide(
            &state(Status::Asignado, Some(7)),
            &user(7, Role::Technician),
            Command::Comment {
                body: "Reviso".into(),
            },
        )
        .unwrap();
        assert_eq!(c.status, Status::EnAtencion);
        let c = decide(
            &state(Status::EnAtencion, Some(7)),
            &user(7, Role::Technician),
            Command::Comment {
                body: "Sigo".into(),
            },
        )
        .unwrap();
        assert_eq!(c.status, Status::EnAtencion);
        assert_eq!(c.events[0].data.to_status, None);
    }

    #[test]
    fn dispatcher_note_does_not_start_the_work() {
        let c = decide(
            &state(Status::Asignado, Some(7)),
            &user(1, Role::Dispatcher),
            Command::Comment {
                body: "Nota".into(),
            },
        )
        .unwrap();
        assert_eq!(c.status, Status::Asignado);
    }

    #[test]
    fn technician_returns_with_a_reason() {
        let e = decide(
            &state(Status::EnAtencion, Some(7)),
            &user(7, Role::Technician),
            Command::Return {
                reason: "  ".into(),
            },
        );
        assert!(matches!(e, Err(DomainError::Validation { .. })));
        let c = decide(
            &state(Status::EnAtencion, Some(7)),
            &user(7, Role::Technician),
            Command::Return {
                reason: "No es de mi área".into(),
            },
        )
        .unwrap();
        assert_eq!((c.status, c.assignee), (Status::Devuelto, None));
    }

    #[test]
    fn technician_passes_to_a_colleague_only_with_a_reason() {
        let e = decide(
            &state(Status::Asignado, Some(7)),
            &user(7, Role::Technician),
            Command::Reassign {
                to: tech(8),
                reason: "".into(),
            },
        );
        assert!(matches!(e, Err(DomainError::Validation { .. })));
        let c = decide(
            &state(Status::Asignado, Some(7)),
            &user(7, Role::Technician),
            Command::Reassign {
                to: tech(8),
                reason: "Redes".into(),
            },
        )
        .unwrap();
        assert_eq!(c.assignee, Some(UserId(8)));
        assert_eq!(c.events[0].data.from_assignee, Some(UserId(7)));
    }

    #[test]
    fn dispatcher_may_not_close_but_admin_may() {
        let s = state(Status::Asignado, Some(7));
        let e = decide(
            &s,
            &user(1, Role::Dispatcher),
            Command::Close {
                resolution: "x".into(),
            },
        );
        assert!(matches!(e, Err(DomainError::Forbidden(_))));
        let c = decide(
            &s,
            &user(2, Role::Admin),
            Command::Close {
                resolution: "Listo".into(),
            },
        )
        .unwrap();
        assert_eq!(c.status, Status::Cerrado);
        assert_eq!(c.assignee, Some(UserId(7)));
    }

    #[test]
    fn closed_ticket_refuses_work_but_can_be_reopened() {
        let s = state(Status::Cerrado, Some(7));
        for cmd in [
            Command::Comment { body: "x".into() },
            Command::Close {
                resolution: "x".into(),
            },
            Command::Return { reason: "x".into() },
            Command::Assign { to: tech(8) },
        ] {
            assert!(decide(&s, &user(2, Role::Admin), cmd).is_err());
        }
        let c = decide(
            &s,
            &user(2, Role::Admin),
            Command::Reopen {
                reason: "Volvió a fallar".into(),
            },
        )
        .unwrap();
        assert_eq!((c.status, c.assignee), (Status::Asignado, Some(UserId(7))));
        let mut gone = s.clone();
        gone.assignee_active = false;
        let c = decide(
            &gone,
            &user(2, Role::Admin),
            Command::Reopen { reason: "x".into() },
        )
        .unwrap();
        assert_eq!((c.status, c.assignee), (Status::Nuevo, None));
    }

    #[test]
    fn customer_reply_reopens_a_closed_ticket() {
        let c = decide(
            &state(Status::Cerrado, Some(7)),
            &Actor::Customer {
                email: "c@d.com".into(),
            },
            Command::CustomerMessage {
                body: "Sigue fallando".into(),
                matched_by: "subject".into(),
            },
        )
        .unwrap();
        assert_eq!(c.status, Status::Asignado);
        let kinds: Vec<_> = c.events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![EventKind::CustomerMessage, EventKind::Reopened]);
    }

    #[test]
    fn available_actions_follow_the_table() {
        let tech = user(7, Role::Technician);
        let a = available(&state(Status::EnAtencion, Some(7)), &tech);
        assert!(a.comment && a.close && a.return_to_queue && a.reassign);
        assert!(!a.assign && !a.reopen);
        let d = available(&state(Status::Nuevo, None), &user(1, Role::Dispatcher));
        assert!(d.assign && d.comment && !d.close && !d.reassign);
        let closed = available(&state(Status::Cerrado, Some(7)), &user(1, Role::Dispatcher));
        assert_eq!(
            closed,
            Available {
                reopen: true,
                ..Available::default()
            }
        );
        assert!(a.classify && d.classify);
    }

    fn category(id: i64, name: &str, active: bool) -> Category {
        Category {
            id: super::super::ids::CategoryId(id),
            name: name.into(),
            active,
        }
    }

    #[test]
    fn classifying_records_what_changed_and_refuses_what_changes_nothing() {
        let s = state(Status::Asignado, Some(7));
        let c = decide(
            &s,
            &user(7, Role::Technician),
            Command::Classify {
                priority: Some(Priority::Alta),
                category: Some(Some(category(3, "Redes", true))),
            },
        )
        .unwrap();
        assert_eq!(c.events[0].kind, EventKind::Classified);
        let d = &c.events[0].data;
        assert_eq!(d.from_priority.as_deref(), Some("media"));
        assert_eq!(d.to_priority.as_deref(), Some("alta"));
        assert_eq!(
            (d.from_category.as_deref(), d.to_category.as_deref()),
            (None, Some("Redes"))
        );
        let next = c.classification.unwrap();
        assert_eq!(next.priority, Priority::Alta);
        assert_eq!(next.category.map(|c| c.name), Some("Redes".to_string()));
        assert_eq!((c.status, c.assignee), (Status::Asignado, Some(UserId(7))));
        // The same again, a disabled category, nothing at all, a closed ticket, a colleague.
        let mut same = s.clone();
        same.classification.priority = Priority::Alta;
        let e = decide(
            &same,
            &user(1, Role::Dispatcher),
            Command::Classify {
                priority: Some(Priority::Alta),
                category: None,
            },
        );
        assert!(matches!(e, Err(DomainError::Validation { .. })));
        let e = decide(
            &s,
            &user(1, Role::Dispatcher),
            Command::Classify {
                priority: None,
                category: Some(Some(category(4, "Antigua", false))),
            },
        )
        .unwrap_err();
        assert_eq!(e.message(), "La categoría «Antigua» está deshabilitada.");
        let e = decide(
            &s,
            &user(1, Role::Dispatcher),
            Command::Classify {
                priority: None,
                category: None,
            },
        );
        assert!(matches!(e, Err(DomainError::Validation { .. })));
        let e = decide(
            &state(Status::Cerrado, Some(7)),
            &user(1, Role::Admin),
            Command::Classify {
                priority: Some(Priority::Baja),
                category: None,
            },
        );
        assert!(matches!(e, Err(DomainError::InvalidTransition(_))));
        let e = decide(
            &s,
            &user(8, Role::Technician),
            Command::Classify {
                priority: Some(Priority::Baja),
                category: None,
            },
        );
        assert!(matches!(e, Err(DomainError::Forbidden(_))));
        // Clearing the category names the one it had.
        let mut with = s.clone();
        with.classification.category = Some(CategoryRef {
            id: super::super::ids::CategoryId(3),
            name: "Redes".into(),
        });
        let c = decide(
            &with,
            &user(1, Role::Dispatcher),
            Command::Classify {
                priority: None,
                category: Some(None),
            },
        )
        .unwrap();
        assert_eq!(c.events[0].data.from_category.as_deref(), Some("Redes"));
        assert_eq!(c.classification.unwrap().category, None);
    }

    #[test]
    fn status_words_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::EnAtencion.label(), "En atención");
    }
}

/// A ticket as people read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub id: super::ids::TicketId,
    /// How it reached the help desk (e-mail, or typed in by a dispatcher after a call or a
    /// visit).
    pub channel: Channel,
    pub status: Status,
    pub version: i64,
    pub subject: String,
    pub body: String,
    pub requester: String,
    /// The requester's name as their mail client wrote it, if it did.
    pub requester_name: Option<String>,
    pub assignee_id: Option<UserId>,
    pub assignee_name: Option<String>,
    pub assignee_active: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub first_assigned_at: Option<i64>,
    pub first_response_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub closed_by: Option<UserId>,
    pub resolution: Option<String>,
    pub last_event_at: i64,
    pub last_event_kind: String,
    /// When it entered the dispatch queue; `None` while someone has it or it is closed.
    pub queued_since: Option<i64>,
    /// Since when it waits for the requester (`en_espera`).
    pub waiting_since: Option<i64>,
    /// The requester's rating of the last close (1–5) and their comment.
    pub rating: Option<i64>,
    pub rating_comment: Option<String>,
    /// Its priority, category id and service-level clocks as the row keeps them.
    pub sla: super::sla::SlaRow,
    pub category_name: Option<String>,
}

impl Ticket {
    pub fn classification(&self) -> Classification {
        Classification {
            priority: self.sla.priority,
            category: match (self.sla.category, &self.category_name) {
                (Some(id), Some(name)) => Some(CategoryRef {
                    id: super::ids::CategoryId(id),
                    name: name.clone(),
                }),
                _ => None,
            },
        }
    }

    /// Where each service-level clock stopped (`sla::stops`).
    pub fn sla_stops(&self) -> [Option<i64>; 3] {
        super::sla::stops(
            self.first_assigned_at,
            self.first_response_at,
            self.closed_at,
        )
    }

    pub fn milestones(&self) -> Milestones {
        Milestones {
            first_assigned_at: self.first_assigned_at,
            first_response_at: self.first_response_at,
            closed_at: self.closed_at,
            closed_by: self.closed_by,
            resolution: self.resolution.clone(),
            queued_since: self.queued_since,
            waiting_since: self.waiting_since,
            rating: self.rating,
            rating_comment: self.rating_comment.clone(),
        }
    }

    pub fn number(&self) -> super::ids::TicketNumber {
        super::ids::TicketNumber(self.id)
    }

    pub fn state(&self) -> TicketState {
        TicketState {
            status: self.status,
            assignee: self.assignee_id,
            assignee_name: self.assignee_name.clone(),
            assignee_active: self.assignee_active,
            classification: self.classification(),
        }
    }
}

/// The milestone instants a ticket carries beside its timeline (projections of its events,
/// written in the same transaction): what the dashboard reads instead of replaying events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Milestones {
    pub first_assigned_at: Option<i64>,
    /// The first public reply by staff (before public replies existed: the first technician
    /// comment, kept as it was recorded).
    pub first_response_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub closed_by: Option<UserId>,
    pub resolution: Option<String>,
    /// When it entered the dispatch queue; `None` while someone has it or it is closed.
    pub queued_since: Option<i64>,
    /// When it began to wait for the requester; `None` unless `en_espera`.
    pub waiting_since: Option<i64>,
    /// The requester's rating of the last close, until the ticket reopens.
    pub rating: Option<i64>,
    pub rating_comment: Option<String>,
}

/// Stays a change ended, in seconds: in the dispatch queue, waiting for the requester.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ended {
    pub queue: Option<i64>,
    pub waiting: Option<i64>,
}

impl Milestones {
    /// A ticket that just arrived: queued since it was created.
    pub fn new_ticket(created_at: i64) -> Milestones {
        Milestones {
            queued_since: Some(created_at),
            ..Milestones::default()
        }
    }

    /// The milestones after `change` (decided on a ticket in status `from`) by `actor` at
    /// `at`, and the stays (in the queue, waiting for the requester) this change ended.
    pub fn after(
        &self,
        from: Status,
        change: &Change,
        actor: &Actor,
        at: i64,
    ) -> (Milestones, Ended) {
        let mut m = self.clone();
        for event in &change.events {
            match event.kind {
                EventKind::Assigned | EventKind::Reassigned => {
                    m.first_assigned_at.get_or_insert(at);
                }
                // The first response is the first public reply by staff.
                EventKind::Replied if actor.user_id().is_some() => {
                    m.first_response_at.get_or_insert(at);
                }
                EventKind::Closed => {
                    m.closed_at = Some(at);
                    m.closed_by = actor.user_id();
                    m.resolution = event.data.resolution.clone();
                }
                EventKind::Reopened => {
                    m.closed_at = None;
                    m.closed_by = None;
                    m.resolution = None;
                    m.rating = None;
                    m.rating_comment = None;
                }
                EventKind::Rated => {
                    m.rating = event.data.score;
                    m.rating_comment = event.data.body.clone();
                }
                _ => {}
            }
        }
        let stay = |since: Option<i64>| since.map(|since| (at - since).max(0));
        let mut ended = Ended::default();
        match (from.is_queued(), change.status.is_queued()) {
            (false, true) => m.queued_since = Some(at),
            (true, true) => {}
            (was, false) => {
                if was {
                    ended.queue = stay(self.queued_since);
                }
                m.queued_since = None;
            }
        }
        match (from == Status::EnEspera, change.status == Status::EnEspera) {
            (false, true) => m.waiting_since = Some(at),
            (true, false) => {
                ended.waiting = stay(self.waiting_since);
                m.waiting_since = None;
            }
            _ => {}
        }
        (m, ended)
    }
}

/// The order of a list (`?sort=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// `recientes`: the newest first (the highest number first).
    #[default]
    Newest,
    /// `antiguas` (also `numero`): the oldest first, i.e. by number and by age.
    Oldest,
    /// `actividad`: the latest timeline event first.
    Activity,
    /// `prioridad`: Crítica first, then the newest.
    Priority,
    /// `due` (also `vencimiento`): the next due of a running clock first, then the rest
    /// newest first.
    Due,
}

impl Sort {
    pub const ALL: [Sort; 5] = [
        Sort::Newest,
        Sort::Oldest,
        Sort::Activity,
        Sort::Priority,
        Sort::Due,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Newest => "recientes",
            Sort::Oldest => "antiguas",
            Sort::Activity => "actividad",
            Sort::Priority => "prioridad",
            Sort::Due => "due",
        }
    }

    pub fn parse(s: &str) -> Option<Sort> {
        match s.trim() {
            "" | "recientes" => Some(Sort::Newest),
            "antiguas" | "numero" | "edad" => Some(Sort::Oldest),
            "actividad" => Some(Sort::Activity),
            "prioridad" => Some(Sort::Priority),
            "due" | "vencimiento" => Some(Sort::Due),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Sort::Newest => "Más recientes",
            Sort::Oldest => "Más antiguas",
            Sort::Activity => "Último evento",
            Sort::Priority => "Prioridad",
            Sort::Due => "Próximas a vencer",
        }
    }

    /// Whether the keyset carries a value besides the id (the due order's is optional: the
    /// tickets without a running clock come last, by id).
    pub fn keyed(self) -> bool {
        matches!(self, Sort::Activity | Sort::Priority | Sort::Due)
    }
}

/// Where a page starts: after (older side) or before (newer side) a row shown, named by its
/// id and, in a keyed order, its sort value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor {
    pub id: i64,
    pub key: Option<i64>,
    /// The page before this row (the pager's "Más recientes"/"Anteriores").
    pub before: bool,
}

/// The rank the priority order sorts on (Crítica highest).
pub fn priority_rank(p: super::classification::Priority) -> i64 {
    use super::classification::Priority as P;
    match p {
        P::Critica => 4,
        P::Alta => 3,
        P::Media => 2,
        P::Baja => 1,
    }
}

/// What a ticket list asks for. The actor's scope is applied on top by storage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFilter {
    /// Any of these statuses (none: every status).
    pub statuses: Vec<Status>,
    /// Tickets of one requester (their address, lower case).
    pub requester: Option<String>,
    pub technician: Option<UserId>,
    /// Folded search words, each matched as a prefix.
    pub terms: Vec<String>,
    /// A ticket number typed into the search box.
    pub number: Option<super::ids::TicketId>,
    /// Created at or after (instant).
    pub from: Option<i64>,
    /// Created before (instant).
    pub to: Option<i64>,
    /// The order (`?sort=`).
    pub sort: Sort,
    /// Keyset position: the page after (or before) this row of the previous page.
    pub cursor: Option<ListCursor>,
    /// `sla=vencidas|por_vencer`, judged at `now`.
    pub sla: Option<super::sla::DueFilter>,
    pub now: i64,
}

impl TicketFilter {
    /// Whether the filter is only statuses, a technician and (alone) the overdue filter:
    /// what `ticket_counts` and the overdue index can count without reading tickets.
    pub fn countable(&self) -> bool {
        !self.needs_rows()
            && match self.sla {
                None => true,
                Some(super::sla::DueFilter::Overdue) => self.statuses.is_empty(),
                Some(super::sla::DueFilter::DueSoon) => false,
            }
    }
}

impl TicketFilter {
    /// Whether the list is narrowed by its search words alone (no status, requester,
    /// technician, number, dates or service-level filter).
    pub fn words_only(&self) -> bool {
        self.statuses.is_empty()
            && self.requester.is_none()
            && self.technician.is_none()
            && self.number.is_none()
            && self.from.is_none()
            && self.to.is_none()
            && self.sla.is_none()
    }

    /// Whether a condition only each ticket's row can answer is set: words, a number, a
    /// requester, dates.
    fn needs_rows(&self) -> bool {
        !self.terms.is_empty()
            || self.number.is_some()
            || self.requester.is_some()
            || self.from.is_some()
            || self.to.is_some()
    }

    /// Whether the filter is a due filter (overdue or due soon) and nothing else: what the
    /// index of the running clocks answers alone.
    pub fn only_due(&self) -> bool {
        self.sla.is_some()
            && !self.needs_rows()
            && self.statuses.is_empty()
            && self.technician.is_none()
    }
}

/// How a ticket reached the help desk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Channel {
    /// An e-mail (intake, the mailbox, or a dispatcher registering one by hand).
    #[default]
    Correo,
    /// A phone call, typed in by a dispatcher.
    Telefono,
    /// Someone at the desk, typed in by a dispatcher.
    Presencial,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Correo, Channel::Telefono, Channel::Presencial];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Correo => "correo",
            Channel::Telefono => "telefono",
            Channel::Presencial => "presencial",
        }
    }

    /// The API's word; the accented one people type (`teléfono`) is accepted too.
    pub fn parse(raw: &str) -> Option<Channel> {
        match raw.trim().to_lowercase().as_str() {
            "correo" => Some(Channel::Correo),
            "telefono" | "teléfono" => Some(Channel::Telefono),
            "presencial" => Some(Channel::Presencial),
            _ => None,
        }
    }

    /// The channel a form or a request sent, with the Spanish message for one that is not.
    pub fn parse_field(raw: &str) -> Result<Channel, DomainError> {
        match raw.trim() {
            "" => Ok(Channel::Correo),
            s => Channel::parse(s).ok_or_else(|| {
                DomainError::validation(
                    "channel",
                    "El canal debe ser correo, teléfono o presencial.",
                )
            }),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Channel::Correo => "Correo",
            Channel::Telefono => "Teléfono",
            Channel::Presencial => "Presencial",
        }
    }
}

/// A new ticket's request, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    /// How it reached the help desk: `correo` for intake and unless the dispatcher says.
    pub channel: Channel,
    pub requester: String,
    pub requester_name: Option<String>,
    pub subject: String,
    pub body: String,
}

/// `Juan Pérez <juan@dominio.pe>` → (`Some("Juan Pérez")`, `juan@dominio.pe`); a bare address
/// → (`None`, the address). The name loses surrounding quotes; an empty one is none.
pub fn split_mailbox(raw: &str) -> (Option<String>, &str) {
    let raw = raw.trim();
    match (raw.rfind('<'), raw.ends_with('>')) {
        (Some(open), true) => {
            let name = raw[..open].trim().trim_matches('"').trim();
            let name: String = name
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(120)
                .collect();
            (
                (!name.is_empty()).then_some(name),
                raw[open + 1..raw.len() - 1].trim(),
            )
        }
        _ => (None, raw),
    }
}

impl NewTicket {
    /// Validates what arrived by e-mail or was typed by a dispatcher. `from` may carry the
    /// sender's name (`Juan Pérez <juan@dominio.pe>`); a message without a subject gets
    /// "(sin asunto)".
    pub fn parse(from: &str, subject: &str, body: &str) -> Result<NewTicket, DomainError> {
        let (requester_name, address) = split_mailbox(from);
        let requester = super::user::Email::parse(address)
            .map_err(|_| {
                DomainError::validation(
                    "from",
                    "El remitente debe ser un correo electrónico válido.",
                )
            })?
            .to_string();
        let subject = match subject.trim() {
            "" => NO_SUBJECT,
            s => s,
        };
        if subject.chars().count() > MAX_SUBJECT_CHARS {
            return Err(DomainError::validation(
                "subject",
                format!("El asunto no puede tener más de {MAX_SUBJECT_CHARS} caracteres."),
            ));
        }
        let subject: String = subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if body.len() > MAX_BODY_BYTES {
            return Err(DomainError::validation(
                "body",
                "El mensaje no puede superar los 100 KB.",
            ));
        }
        Ok(NewTicket {
            channel: Channel::Correo,
            requester,
            requester_name,
            subject,
            body: body.trim().to_string(),
        })
    }
}

//! What a ticket's write leaves besides its events: the milestones on the ticket row, the
//! per-status-and-technician counters, the daily figures of the dashboard, and the text the
//! search document gains. Computed here, once, for every writer — the write path, intake, the
//! demo generator — so storage only writes what it is handed.

use super::figures::{self, Before, Delta};
use super::ids::UserId;
use super::search::document;
use super::ticket::{Change, Milestones, NewTicket, Status};
use super::timeline::EventKind;
use super::user::Actor;

/// A change of the count of tickets in one status with one technician (nobody: `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountDelta {
    pub status: Status,
    pub assignee: Option<UserId>,
    pub n: i64,
}

/// What one write leaves besides its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    /// The ticket's milestones after the write.
    pub milestones: Milestones,
    /// The kind of the last event written (the list shows it).
    pub last_event_kind: EventKind,
    pub counts: Vec<CountDelta>,
    pub figures: Vec<Delta>,
    /// Folded text for the search document: the whole document of a new ticket, or what a
    /// change adds to it.
    pub search: Vec<String>,
}

/// What a new ticket that just arrived (status `nuevo`, nobody on it) leaves.
pub fn arrival(new: &NewTicket, at: i64) -> Projection {
    Projection {
        milestones: Milestones::new_ticket(at),
        last_event_kind: EventKind::Created,
        counts: vec![CountDelta {
            status: Status::Nuevo,
            assignee: None,
            n: 1,
        }],
        figures: vec![figures::created(at)],
        search: vec![document(&format!(
            "{} {} {}",
            new.subject, new.body, new.requester
        ))],
    }
}

/// What a decided change leaves, on a ticket that was `before` (its last event kind
/// `last_kind`), by `actor` at `at`.
pub fn change(
    before: Before<'_>,
    last_kind: EventKind,
    change: &Change,
    actor: &Actor,
    at: i64,
) -> Projection {
    let (milestones, wait) = before.milestones.after(before.status, change, actor, at);
    let figures = figures::deltas(before, change, actor, at, &milestones, wait);
    let counts = if (before.status, before.assignee) == (change.status, change.assignee) {
        Vec::new()
    } else {
        vec![
            CountDelta {
                status: before.status,
                assignee: before.assignee,
                n: -1,
            },
            CountDelta {
                status: change.status,
                assignee: change.assignee,
                n: 1,
            },
        ]
    };
    let search = change
        .events
        .iter()
        .filter_map(|e| e.data.body.as_deref().or(e.data.resolution.as_deref()))
        .map(document)
        .collect();
    Projection {
        milestones,
        last_event_kind: change.events.last().map(|e| e.kind).unwrap_or(last_kind),
        counts,
        figures,
        search,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::figures::Figure;
    use crate::domain::ticket::{Command, Target, TicketState, decide};
    use crate::domain::user::Role;

    fn user(id: i64, role: Role) -> Actor {
        Actor::User {
            id: UserId(id),
            role,
            name: format!("u{id}"),
        }
    }

    #[test]
    fn a_new_ticket_counts_once_in_the_queue_and_indexes_its_text() {
        let new = NewTicket::parse("Ana@Dominio.pe", "Cámara sin señal", "No se ve").unwrap();
        let p = arrival(&new, 1_000);
        assert_eq!(p.milestones.queued_since, Some(1_000));
        assert_eq!(p.counts.len(), 1);
        assert_eq!((p.counts[0].status, p.counts[0].n), (Status::Nuevo, 1));
        assert_eq!(p.figures[0].figure, Figure::Created);
        assert!(p.search[0].contains("camara"), "{:?}", p.search);
    }

    #[test]
    fn an_assignment_moves_the_count_and_ends_the_queue_wait() {
        let state = TicketState {
            status: Status::Nuevo,
            assignee: None,
            assignee_name: None,
            assignee_active: true,
        };
        let to = Target {
            id: UserId(7),
            name: "Tec".into(),
            role: Role::Technician,
            active: true,
        };
        let c = decide(&state, &user(1, Role::Dispatcher), Command::Assign { to }).unwrap();
        let m = Milestones::new_ticket(1_000);
        let before = Before {
            created_at: 1_000,
            status: Status::Nuevo,
            assignee: None,
            milestones: &m,
        };
        let p = change(
            before,
            EventKind::Created,
            &c,
            &user(1, Role::Dispatcher),
            1_600,
        );
        assert_eq!(p.milestones.first_assigned_at, Some(1_600));
        assert_eq!(p.milestones.queued_since, None);
        assert_eq!(p.last_event_kind, EventKind::Assigned);
        assert_eq!(
            p.counts,
            vec![
                CountDelta {
                    status: Status::Nuevo,
                    assignee: None,
                    n: -1
                },
                CountDelta {
                    status: Status::Asignado,
                    assignee: Some(UserId(7)),
                    n: 1
                }
            ]
        );
        let wait = p.figures.iter().find(|d| d.figure == Figure::Wait).unwrap();
        assert_eq!(wait.secs, Some(600));
        assert!(p.search.is_empty());
    }
}

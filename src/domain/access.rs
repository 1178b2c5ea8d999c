//! Who may see and do what — the one place these rules are written.
//!
//! Two kinds of answer come from here, and every layer gives them the same way:
//! - **Visibility** (`TicketScope`) becomes a filter in every ticket query, so a ticket a
//!   technician may not see is simply not found: 404, the same as a ticket that does not exist.
//! - **Authority** (`Capability`, and the per-ticket rules `may_work_on`, `may_close`) answers
//!   whether a role may ever take an action: a refusal is `DomainError::Forbidden` (403).
//!
//! `domain::ticket::decide` consults these functions; the web extractors (`Staff`, `Admin`)
//! and the services ask the same ones.

use super::error::DomainError;
use super::ids::UserId;
use super::user::{Actor, Role};

/// Which tickets a query may return for an actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketScope {
    /// Administrators, dispatchers, and the system itself.
    All,
    /// A technician: only tickets assigned to them now.
    AssignedTo(UserId),
    /// Nobody (an actor with no right to tickets).
    Nothing,
}

impl TicketScope {
    /// Whether a ticket assigned to `assignee` is inside this scope.
    pub fn includes(self, assignee: Option<UserId>) -> bool {
        match self {
            TicketScope::All => true,
            TicketScope::AssignedTo(me) => assignee == Some(me),
            TicketScope::Nothing => false,
        }
    }
}

pub fn ticket_scope(actor: &Actor) -> TicketScope {
    match actor {
        Actor::User { role, id, .. } if *role == Role::Technician => TicketScope::AssignedTo(*id),
        Actor::User { .. } | Actor::System | Actor::Customer { .. } => TicketScope::All,
    }
}

/// Sections of the application and the actions only some roles may ever take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Create tickets by hand, assign, reassign any ticket, return any ticket, reopen: the
    /// dispatch queue's work ("staff": administrators and dispatchers).
    Dispatch,
    /// Close any ticket, whoever has it.
    CloseAny,
    /// Manage technicians and credentials.
    ManageUsers,
    /// See the whole dashboard (others see their own figures).
    SeeAllFigures,
}

pub fn may(role: Role, capability: Capability) -> bool {
    match capability {
        Capability::Dispatch | Capability::SeeAllFigures => is_staff(role),
        Capability::CloseAny | Capability::ManageUsers => role == Role::Admin,
    }
}

/// Administrators and dispatchers: they see every ticket and work the dispatch queue.
pub fn is_staff(role: Role) -> bool {
    matches!(role, Role::Admin | Role::Dispatcher)
}

/// Whether the actor is a signed-in user with this capability.
pub fn actor_may(actor: &Actor, capability: Capability) -> bool {
    actor.role().is_some_and(|r| may(r, capability))
}

/// A role gate: `Forbidden` (403) naming the action, when the actor may never take it.
pub fn require(
    actor: &Actor,
    capability: Capability,
    what: &'static str,
) -> Result<(), DomainError> {
    if actor_may(actor, capability) {
        Ok(())
    } else {
        Err(DomainError::Forbidden(what))
    }
}

/// Whether the actor is the technician the ticket is assigned to now.
pub fn is_assignee(actor: &Actor, assignee: Option<UserId>) -> bool {
    actor.user_id().is_some() && actor.user_id() == assignee
}

/// Comment on, reply to, return or pass on a ticket: staff, or the technician who has it.
pub fn may_work_on(actor: &Actor, assignee: Option<UserId>) -> bool {
    actor_may(actor, Capability::Dispatch) || is_assignee(actor, assignee)
}

/// Close a ticket: an administrator, or the technician who has it.
pub fn may_close(actor: &Actor, assignee: Option<UserId>) -> bool {
    actor_may(actor, Capability::CloseAny)
        || (actor.role() == Some(Role::Technician) && is_assignee(actor, assignee))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64, role: Role) -> Actor {
        Actor::User {
            id: UserId(id),
            role,
            name: "x".into(),
        }
    }

    #[test]
    fn technician_sees_only_their_tickets() {
        let a = user(5, Role::Technician);
        assert_eq!(ticket_scope(&a), TicketScope::AssignedTo(UserId(5)));
        assert!(ticket_scope(&a).includes(Some(UserId(5))));
        assert!(!ticket_scope(&a).includes(Some(UserId(6))));
        assert!(!ticket_scope(&a).includes(None));
        assert_eq!(ticket_scope(&user(1, Role::Dispatcher)), TicketScope::All);
        assert!(!TicketScope::Nothing.includes(Some(UserId(5))));
    }

    #[test]
    fn roles_and_capabilities() {
        assert!(!may(Role::Technician, Capability::Dispatch));
        assert!(may(Role::Dispatcher, Capability::Dispatch));
        assert!(!may(Role::Dispatcher, Capability::ManageUsers));
        assert!(!may(Role::Dispatcher, Capability::CloseAny));
        assert!(may(Role::Admin, Capability::ManageUsers));
        assert!(may(Role::Admin, Capability::CloseAny));
        assert!(!actor_may(&Actor::System, Capability::Dispatch));
        assert_eq!(
            require(&user(7, Role::Technician), Capability::Dispatch, "derivar"),
            Err(DomainError::Forbidden("derivar"))
        );
    }

    #[test]
    fn who_works_on_and_closes_a_ticket() {
        let tech = user(7, Role::Technician);
        assert!(may_work_on(&tech, Some(UserId(7))));
        assert!(!may_work_on(&tech, Some(UserId(8))));
        assert!(may_work_on(&user(1, Role::Dispatcher), Some(UserId(8))));
        assert!(may_close(&tech, Some(UserId(7))));
        assert!(!may_close(&user(1, Role::Dispatcher), Some(UserId(7))));
        assert!(may_close(&user(2, Role::Admin), None));
        assert!(!may_close(&Actor::System, None));
    }
}

//! Who may see and do what. Visibility becomes a filter in every ticket query
//! (`TicketScope`), so a ticket a technician may not see is simply not found.

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

pub fn ticket_scope(actor: &Actor) -> TicketScope {
    match actor {
        Actor::User {
            role: Role::Admin | Role::Dispatcher,
            ..
        } => TicketScope::All,
        Actor::User {
            id,
            role: Role::Technician,
            ..
        } => TicketScope::AssignedTo(*id),
        Actor::System | Actor::Customer { .. } => TicketScope::All,
    }
}

/// Sections of the application and the roles that may use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Create tickets by hand, assign, reassign, return, reopen.
    Dispatch,
    /// Manage technicians and credentials.
    ManageUsers,
    /// See the whole dashboard (others see their own figures).
    SeeAllFigures,
}

pub fn may(role: Role, capability: Capability) -> bool {
    match capability {
        Capability::Dispatch | Capability::SeeAllFigures => {
            matches!(role, Role::Admin | Role::Dispatcher)
        }
        Capability::ManageUsers => role == Role::Admin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn technician_sees_only_their_tickets() {
        let a = Actor::User {
            id: UserId(5),
            role: Role::Technician,
            name: "t".into(),
        };
        assert_eq!(ticket_scope(&a), TicketScope::AssignedTo(UserId(5)));
        assert!(!may(Role::Technician, Capability::Dispatch));
        assert!(!may(Role::Dispatcher, Capability::ManageUsers));
        assert!(may(Role::Admin, Capability::ManageUsers));
    }
}

//! The queue's words: the saved views people work in (`?view=`), the list orders
//! (`?sort=`) and the keyset position a page starts from. Pure: what each view means as a
//! filter, and which views a role sees first and in its header.

use super::ids::UserId;
use super::sla::DueFilter;
pub use super::ticket::{ListCursor, Sort, priority_rank};
use super::ticket::{Status, TicketFilter};
use super::user::Role;

/// A saved view of the list, each with a count in the list's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// `nuevo` + `devuelto`: nobody has them (the dispatcher's and administrator's home).
    SinAsignar,
    /// Open tickets assigned to the person looking (the technician's home).
    Mias,
    /// `en_espera`: waiting for the requester's answer.
    Esperando,
    /// A running SLA clock is past its due.
    Vencidas,
    /// Every status but `cerrado`.
    Abiertas,
    Cerradas,
    /// Everything, closed included.
    Todas,
}

impl View {
    pub const ALL: [View; 7] = [
        View::SinAsignar,
        View::Mias,
        View::Esperando,
        View::Vencidas,
        View::Abiertas,
        View::Cerradas,
        View::Todas,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            View::SinAsignar => "sin_asignar",
            View::Mias => "mias",
            View::Esperando => "esperando",
            View::Vencidas => "vencidas",
            View::Abiertas => "abiertas",
            View::Cerradas => "cerradas",
            View::Todas => "todas",
        }
    }

    pub fn parse(s: &str) -> Option<View> {
        View::ALL.into_iter().find(|v| v.as_str() == s.trim())
    }

    pub fn label(self) -> &'static str {
        match self {
            View::SinAsignar => "Sin asignar",
            View::Mias => "Mis abiertas",
            View::Esperando => "Esperando al usuario",
            View::Vencidas => "Vencidas",
            View::Abiertas => "Todas abiertas",
            View::Cerradas => "Cerradas",
            View::Todas => "Todas",
        }
    }

    /// The views a role has in its header, its home first. Staff see the dispatch queue and
    /// no "Mis abiertas" (nothing is assigned to them); a technician sees only their own
    /// tickets, so "Sin asignar" and "Todas abiertas" (the same as "Mis abiertas") are left
    /// out for them.
    pub fn for_role(role: Role) -> &'static [View] {
        match role {
            Role::Admin | Role::Dispatcher => &[
                View::SinAsignar,
                View::Esperando,
                View::Vencidas,
                View::Abiertas,
                View::Cerradas,
                View::Todas,
            ],
            Role::Technician => &[
                View::Mias,
                View::Esperando,
                View::Vencidas,
                View::Cerradas,
                View::Todas,
            ],
        }
    }

    /// The first screen of a role.
    pub fn home(role: Role) -> View {
        match role {
            Role::Admin | Role::Dispatcher => View::SinAsignar,
            Role::Technician => View::Mias,
        }
    }

    /// Narrows `filter` to this view, for the person `me`.
    pub fn apply(self, filter: &mut TicketFilter, me: UserId) {
        match self {
            View::SinAsignar => filter.statuses = vec![Status::Nuevo, Status::Devuelto],
            View::Mias => {
                filter.statuses = OPEN.to_vec();
                filter.technician = Some(me);
            }
            View::Esperando => filter.statuses = vec![Status::EnEspera],
            View::Vencidas => filter.sla = Some(DueFilter::Overdue),
            View::Abiertas => filter.statuses = OPEN.to_vec(),
            View::Cerradas => filter.statuses = vec![Status::Cerrado],
            View::Todas => {}
        }
    }
}

/// Every status but `cerrado`.
pub const OPEN: [Status; 5] = [
    Status::Nuevo,
    Status::Asignado,
    Status::EnAtencion,
    Status::EnEspera,
    Status::Devuelto,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_round_trip_and_each_role_starts_on_its_home() {
        for v in View::ALL {
            assert_eq!(View::parse(v.as_str()), Some(v));
        }
        assert_eq!(View::parse("otra"), None);
        for role in [Role::Admin, Role::Dispatcher, Role::Technician] {
            assert_eq!(View::for_role(role)[0], View::home(role));
        }
        assert_eq!(View::home(Role::Dispatcher), View::SinAsignar);
        assert_eq!(View::home(Role::Technician), View::Mias);
    }

    #[test]
    fn the_unassigned_view_is_new_and_returned_and_mine_is_my_open_work() {
        let me = UserId(7);
        let mut f = TicketFilter::default();
        View::SinAsignar.apply(&mut f, me);
        assert_eq!(f.statuses, vec![Status::Nuevo, Status::Devuelto]);
        assert_eq!(f.technician, None);
        let mut f = TicketFilter::default();
        View::Mias.apply(&mut f, me);
        assert!(!f.statuses.contains(&Status::Cerrado));
        assert_eq!(f.technician, Some(me));
        let mut f = TicketFilter::default();
        View::Vencidas.apply(&mut f, me);
        assert_eq!(f.sla, Some(DueFilter::Overdue));
    }

    #[test]
    fn sorts_parse_their_names_and_aliases() {
        for s in Sort::ALL {
            assert_eq!(Sort::parse(s.as_str()), Some(s));
        }
        assert_eq!(Sort::parse(""), Some(Sort::Newest));
        assert_eq!(Sort::parse("numero"), Some(Sort::Oldest));
        assert_eq!(Sort::parse("vencimiento"), Some(Sort::Due));
        assert_eq!(Sort::parse("azar"), None);
    }
}

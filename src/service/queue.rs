//! The queue people work in: the views' counts (from `ticket_counts` and the overdue index,
//! never a scan of tickets), the total of a list when it can be counted that way, the
//! technicians' open load for the pickers, and bulk actions — each ticket through the one
//! change function on its own.

use super::tickets::Action;
use super::{Result, Services};
use crate::domain::access::{TicketScope, ticket_scope};
use crate::domain::ids::{TicketId, UserId};
use crate::domain::queue::{OPEN, View};
use crate::domain::sla::DueFilter;
use crate::domain::ticket::{Status, Ticket, TicketFilter};
use crate::domain::user::{Actor, Role, User};
use crate::storage::{reports, tickets};

/// Most tickets one bulk action may take.
pub const BULK_MOST: usize = 100;

/// A view and how many tickets it holds for the person asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewCount {
    pub view: View,
    pub count: i64,
}

/// What a bulk action did to one ticket.
#[derive(Debug)]
pub struct BulkOutcome {
    pub id: TicketId,
    pub result: Result<Ticket>,
}

/// `ticket_counts` rows (status, assignee, n) as the actor may see them.
type Counts = Vec<(Status, Option<UserId>, i64)>;

fn sum(rows: &Counts, scope: TicketScope, statuses: &[Status], tech: Option<UserId>) -> i64 {
    rows.iter()
        .filter(|(s, a, _)| {
            (statuses.is_empty() || statuses.contains(s))
                && tech.is_none_or(|t| *a == Some(t))
                && match scope {
                    TicketScope::All => true,
                    TicketScope::AssignedTo(me) => *a == Some(me),
                    TicketScope::Nothing => false,
                }
        })
        .map(|(_, _, n)| n)
        .sum()
}

impl Services {
    /// The views of the actor's role with their counts, the home first. A technician's
    /// counts are of their own tickets only.
    pub async fn view_counts(&self, actor: &Actor) -> Result<Vec<ViewCount>> {
        let role = actor.role().unwrap_or(Role::Technician);
        let me = actor.user_id().unwrap_or(UserId(0));
        let scope = ticket_scope(actor);
        let now = self.now();
        Ok(on_replica!(self.store, actor.user_id(), |conn| {
            counts_of_views(conn, role, me, scope, now).await
        })?)
    }

    /// How many tickets the filter finds, when the counts can tell without reading tickets
    /// (statuses, a technician, or the overdue filter alone); `None` otherwise (a search, a
    /// requester, dates, "por vencer").
    pub async fn count_tickets(&self, actor: &Actor, filter: &TicketFilter) -> Result<Option<i64>> {
        if !filter.countable() {
            return Ok(None);
        }
        let scope = ticket_scope(actor);
        let now = self.now();
        Ok(Some(on_replica!(self.store, actor.user_id(), |conn| {
            count_of(conn, scope, filter, now).await
        })?))
    }

    /// The active technicians, each with how many open tickets they have now (from
    /// `ticket_counts`), for the assignment pickers.
    pub async fn technician_loads(&self) -> Result<Vec<(User, i64)>> {
        let techs = self.active_technicians().await?;
        let mut conn = self.store.read().await?;
        let rows = reports::counts(&mut conn).await?;
        Ok(techs
            .into_iter()
            .map(|t| {
                let n = sum(&rows, TicketScope::All, &OPEN, Some(t.id));
                (t, n)
            })
            .collect())
    }

    /// One action on several tickets: each through the one change function on its own (each
    /// succeeds or fails alone, each success its own timeline event), in the order given.
    /// The caller checks the number of tickets (`BULK_MOST`).
    pub async fn bulk(&self, actor: &Actor, ids: &[TicketId], action: &Action) -> Vec<BulkOutcome> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let result = self.act(actor, *id, None, action.clone()).await;
            out.push(BulkOutcome { id: *id, result });
        }
        out
    }

    /// The tickets with these ids that the actor may see, in the order given (a bulk
    /// action's confirmation lists them).
    pub async fn tickets_by_ids(&self, actor: &Actor, ids: &[TicketId]) -> Result<Vec<Ticket>> {
        let scope = ticket_scope(actor);
        let mut conn = self.store.read().await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(t) = tickets::find(&mut conn, scope, *id).await? {
                out.push(t);
            }
        }
        Ok(out)
    }
}

/// Each view's count for a role (read where `on_replica!` says).
async fn counts_of_views(
    conn: &mut crate::storage::Conn,
    role: Role,
    me: UserId,
    scope: TicketScope,
    now: i64,
) -> crate::storage::Result<Vec<ViewCount>> {
    let rows = reports::counts(conn).await?;
    let mut out = Vec::new();
    for view in View::for_role(role) {
        let mut f = TicketFilter::default();
        view.apply(&mut f, me);
        let count = if f.sla == Some(DueFilter::Overdue) {
            tickets::count_overdue(conn, scope, f.technician, now).await?
        } else {
            sum(&rows, scope, &f.statuses, f.technician)
        };
        out.push(ViewCount { view: *view, count });
    }
    Ok(out)
}

/// How many tickets a countable filter finds.
async fn count_of(
    conn: &mut crate::storage::Conn,
    scope: TicketScope,
    filter: &TicketFilter,
    now: i64,
) -> crate::storage::Result<i64> {
    if filter.sla == Some(DueFilter::Overdue) {
        return tickets::count_overdue(conn, scope, filter.technician, now).await;
    }
    let rows = reports::counts(conn).await?;
    Ok(sum(&rows, scope, &filter.statuses, filter.technician))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_follow_the_scope_and_the_technician() {
        let (ana, beto) = (UserId(1), UserId(2));
        let rows: Counts = vec![
            (Status::Nuevo, None, 3),
            (Status::Devuelto, None, 2),
            (Status::Asignado, Some(ana), 4),
            (Status::EnEspera, Some(beto), 1),
            (Status::Cerrado, Some(ana), 9),
        ];
        let q = [Status::Nuevo, Status::Devuelto];
        assert_eq!(sum(&rows, TicketScope::All, &q, None), 5);
        assert_eq!(sum(&rows, TicketScope::AssignedTo(ana), &q, None), 0);
        assert_eq!(sum(&rows, TicketScope::All, &OPEN, Some(ana)), 4);
        assert_eq!(sum(&rows, TicketScope::AssignedTo(beto), &[], None), 1);
        assert_eq!(sum(&rows, TicketScope::All, &[], None), 19);
        assert_eq!(sum(&rows, TicketScope::Nothing, &[], None), 0);
    }
}

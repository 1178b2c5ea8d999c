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

/// How long an overdue count is shown again at most, whatever else says it still holds.
const OVERDUE_KEPT_SECS: i64 = 30;

/// Most overdue counts kept at once (one per scope and technician asked about).
const OVERDUE_KEPT_MOST: usize = 256;

/// The overdue counts («Vencidas») this instance read, kept while they hold: counting the
/// overdue tickets reads every entry of the due-time index before `now` (tens of thousands
/// at ten million tickets), for each list page and views' counts. The count of tickets due
/// before `now` changes only with a ticket write (this process's change count and the
/// database's stamp move: `reports::not_behind`, as for the dashboard) or when `now`
/// reaches the next due time after the counted instant; until either, and for at most
/// `OVERDUE_KEPT_SECS`, the kept count is exact.
#[derive(Debug, Default)]
pub struct OverdueCounts {
    kept: std::sync::Mutex<std::collections::HashMap<(i64, i64, i64), KeptCount>>,
}

#[derive(Debug, Clone, Copy)]
struct KeptCount {
    generation: u64,
    stamp: (i64, i64, i64),
    count: i64,
    /// The instant counted, and the next due time at or after it.
    at: i64,
    until: i64,
}

impl OverdueCounts {
    /// The overdue count for the scope and technician at `now`, read on `conn` (a replica's
    /// or the primary's) unless a kept one holds; `generation`: the process's change count,
    /// read before.
    async fn count(
        &self,
        conn: &mut crate::storage::Conn,
        scope: TicketScope,
        technician: Option<UserId>,
        now: i64,
        generation: u64,
    ) -> crate::storage::Result<i64> {
        let key = match scope {
            TicketScope::All => (0, 0, technician.map_or(0, |t| t.0)),
            TicketScope::AssignedTo(me) => (1, me.0, technician.map_or(0, |t| t.0)),
            TicketScope::Nothing => return Ok(0),
        };
        let stamp = reports::stamp(conn).await?;
        let kept = self
            .kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .copied();
        if let Some(k) = kept
            && super::reports::not_behind((k.generation, k.stamp), (generation, stamp))
            && now >= k.at
            && now <= k.until
            && now < k.at + OVERDUE_KEPT_SECS
        {
            return Ok(k.count);
        }
        let count = tickets::count_overdue(conn, scope, technician, now).await?;
        let until = tickets::next_due(conn, scope, technician, now)
            .await?
            .unwrap_or(i64::MAX);
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= OVERDUE_KEPT_MOST {
            kept.clear();
        }
        kept.insert(
            key,
            KeptCount {
                generation,
                stamp,
                count,
                at: now,
                until,
            },
        );
        Ok(count)
    }
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
        let generation = self.change_generation().await;
        Ok(on_replica!(self.store, actor.user_id(), |conn| {
            counts_of_views(conn, &self.overdue, generation, role, me, scope, now).await
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
        let generation = self.change_generation().await;
        Ok(Some(on_replica!(self.store, actor.user_id(), |conn| {
            count_of(conn, &self.overdue, generation, scope, filter, now).await
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
    overdue: &OverdueCounts,
    generation: u64,
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
            overdue
                .count(conn, scope, f.technician, now, generation)
                .await?
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
    overdue: &OverdueCounts,
    generation: u64,
    scope: TicketScope,
    filter: &TicketFilter,
    now: i64,
) -> crate::storage::Result<i64> {
    if filter.sla == Some(DueFilter::Overdue) {
        return overdue
            .count(conn, scope, filter.technician, now, generation)
            .await;
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

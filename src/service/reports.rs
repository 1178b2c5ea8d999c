//! The dashboard's figures and the closed-ticket export. Administrators and dispatchers see
//! everything; a technician sees only the figures of their own tickets.

use super::{Result, Services};
use crate::domain::access::{Capability, may};
use crate::domain::figures::{Figure, lima_day};
use crate::domain::ids::{TicketId, UserId};
use crate::domain::metrics::{Csat, Period, Summary, TwoPass, age_buckets, summarize};
use crate::domain::ticket::Status;
use crate::domain::timeline::{EventData, EventKind};
use crate::domain::user::{Actor, Role};
use crate::storage::{figures, reports};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Tickets listed in the dashboard's open-ticket table (the oldest first).
pub const OPEN_TABLE_LIMIT: i64 = 200;

#[derive(Debug, Clone)]
pub struct TechnicianFigures {
    pub id: UserId,
    pub name: String,
    pub active: bool,
    pub open: i64,
    pub closed: usize,
    pub assign: Summary,
    pub response: Summary,
    pub close: Summary,
    pub csat: Csat,
}

#[derive(Debug, Clone)]
pub struct HandoffRow {
    pub ticket: TicketId,
    pub kind: EventKind,
    pub actor: String,
    pub at: i64,
    pub reason: String,
    pub to: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DayRow {
    pub day: jiff::civil::Date,
    pub opened: i64,
    pub closed: i64,
}

#[derive(Debug, Clone)]
pub struct Dashboard {
    pub period: Period,
    /// `Some` when the figures are one technician's own.
    pub technician: Option<UserId>,
    pub counts: Vec<(Status, i64)>,
    pub open_total: i64,
    pub assign: Summary,
    pub response: Summary,
    pub close: Summary,
    /// Stays in the dispatch queue that ended in the period (staff only).
    pub queue_wait: Option<Summary>,
    /// Stays waiting for the requester's answer that ended in the period.
    pub waiting: Summary,
    /// The requesters' ratings of the period's closes.
    pub csat: Csat,
    pub waiting_now: usize,
    pub longest_wait_now: Option<i64>,
    pub returned: i64,
    pub passed: i64,
    pub handoffs: Vec<HandoffRow>,
    pub backlog: Summary,
    pub backlog_buckets: [(&'static str, usize); 4],
    pub open_tickets: Vec<OpenTicket>,
    pub technicians: Vec<TechnicianFigures>,
    pub daily: Vec<DayRow>,
    /// Service levels met and missed in the period.
    pub sla: super::sla::SlaReport,
    pub generated_at: i64,
}

/// How long (by the service's clock) a computed dashboard may be shown while nothing
/// changes: its ages and open clocks are as of `generated_at`.
pub const DASHBOARD_FRESH_SECS: i64 = 30;
/// Periods and people whose dashboards are kept at once (the oldest is dropped).
const DASHBOARDS_KEPT: usize = 64;

/// Which dashboard: the period and whose figures.
type DashboardKey = (i64, i64, Option<i64>);

/// From this age on, a dashboard still shown is computed again in the background, so that
/// nobody waits for it when it turns `DASHBOARD_FRESH_SECS` old.
const REFRESH_AHEAD_SECS: i64 = 20;

/// How long nothing must change before the dashboard is computed ahead of anyone asking.
const QUIET_BEFORE_WARMING: std::time::Duration = std::time::Duration::from_secs(2);

/// A computed dashboard and what it was computed from.
struct Computed {
    /// The process's change count and the database's stamp, both read before the figures.
    generation: u64,
    stamp: (i64, i64, i64),
    /// Shared, not copied, with every request that shows it (`dashboard`), so a request
    /// costs no copy of its tables and a renderer can keep its output by this dashboard
    /// (`web::api::dashboard`).
    dashboard: Arc<Dashboard>,
    /// A background computation of its successor is under way.
    refreshing: bool,
}

type Slot = Arc<tokio::sync::Mutex<Option<Computed>>>;

/// A use counter, and per dashboard the count at its last use and its slot (the least
/// recently used goes first when the cache is full).
type Slots = (u64, BTreeMap<DashboardKey, (u64, Slot)>);

/// The dashboards this instance computed, kept until something changes: computed once per
/// change rather than once per request, and never shown after a change (see `dashboard`).
#[derive(Default)]
pub struct DashboardCache {
    slots: std::sync::Mutex<Slots>,
}

impl std::fmt::Debug for DashboardCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DashboardCache")
    }
}

impl DashboardCache {
    /// The slot of one dashboard (one computation at a time in it).
    fn slot(&self, key: DashboardKey) -> Slot {
        let Ok(mut guard) = self.slots.lock() else {
            return Slot::default();
        };
        let (clock, slots) = &mut *guard;
        *clock += 1;
        let used = *clock;
        if let Some((last, slot)) = slots.get_mut(&key) {
            *last = used;
            return slot.clone();
        }
        if slots.len() >= DASHBOARDS_KEPT
            && let Some(oldest) = slots.iter().min_by_key(|(_, (u, _))| *u).map(|(k, _)| *k)
        {
            slots.remove(&oldest);
        }
        let slot = Slot::default();
        slots.insert(key, (used, slot.clone()));
        slot
    }
}

/// Whether a figure kept from the data of (`generation`, `stamp`) is at least as new as what
/// a request sees (`seen`: this process's change count and the database's stamp — newest
/// event, service-level revision, recomputes — read now, where the request's reads go):
/// nothing this process heard of and nothing the stamp shows came after the kept one.
pub(crate) fn not_behind(kept: (u64, (i64, i64, i64)), seen: (u64, (i64, i64, i64))) -> bool {
    let ((kg, ks), (g, s)) = (kept, seen);
    kg >= g && ks.0 >= s.0 && ks.1 >= s.1 && ks.2 >= s.2
}

impl Services {
    /// The dashboard of `period` as `actor` may see it. Computed once per change: a computed
    /// one is shown again while it is at least as new as what this request sees — this
    /// process has seen no commit or notification since it was computed
    /// (`Changes::generation`) and the database's stamp (newest event, settings revision,
    /// recomputes) has not moved past its own, which catches other processes' writes too —
    /// and it is under `DASHBOARD_FRESH_SECS` old; the technicians' names are read fresh each
    /// time. The stamp and the names are read outside the slot's lock, which is held only to
    /// look at the kept one (concurrent requests do not queue behind each other's reads);
    /// requests that find none to show wait for one computation.
    pub async fn dashboard(&self, actor: &Actor, period: Period) -> Result<Arc<Dashboard>> {
        let role = actor.role().unwrap_or(Role::Technician);
        let technician = if may(role, Capability::SeeAllFigures) {
            None
        } else {
            actor.user_id()
        };
        let slot = self
            .dashboards
            .slot((period.from, period.to, technician.map(|t| t.0)));
        let generation = self.change_generation().await;
        // Read where this person's reads go (a replica that has their own changes, or the
        // primary): a dashboard kept from staler data than that is computed again.
        let stamp = on_replica!(self.store, actor.user_id(), |conn| reports::stamp(conn)
            .await)?;
        let now = self.now();
        let shown = |c: &Computed| {
            not_behind((c.generation, c.stamp), (generation, stamp))
                && (c.dashboard.generated_at..c.dashboard.generated_at + DASHBOARD_FRESH_SECS)
                    .contains(&now)
        };
        let kept = {
            let mut kept = slot.lock().await;
            match kept.as_mut() {
                Some(c) if shown(c) => {
                    if now >= c.dashboard.generated_at + REFRESH_AHEAD_SECS && !c.refreshing {
                        c.refreshing = true;
                        let services = self.clone();
                        let (slot, period, reader) =
                            (slot.clone(), period.clone(), actor.user_id());
                        tokio::spawn(async move {
                            services
                                .compute_into(slot, period, technician, reader, generation)
                                .await
                        });
                    }
                    Some(c.dashboard.clone())
                }
                _ => None,
            }
        };
        if let Some(d) = kept {
            return self.with_technicians(&slot, d, technician).await;
        }
        let mut kept = slot.lock().await;
        // Computed meanwhile by a request that held the lock first.
        if let Some(c) = kept.as_ref().filter(|c| shown(c)) {
            let d = c.dashboard.clone();
            drop(kept);
            return self.with_technicians(&slot, d, technician).await;
        }
        let computed = self
            .compute(period, technician, actor.user_id(), generation)
            .await?;
        let dashboard = computed.dashboard.clone();
        *kept = Some(computed);
        Ok(dashboard)
    }

    /// A kept dashboard with the technicians' names and active flags as they are now (its
    /// figures kept; a technician added since has none yet). The same dashboard when they
    /// have not changed; otherwise a copy with them, kept in the slot in its place (if the
    /// slot still holds it), so the copy is made once per change of the staff, not per
    /// request.
    async fn with_technicians(
        &self,
        slot: &Slot,
        d: Arc<Dashboard>,
        technician: Option<UserId>,
    ) -> Result<Arc<Dashboard>> {
        let users = {
            let mut conn = self.store.read().await?;
            crate::storage::users::list(&mut conn, Some(Role::Technician)).await?
        };
        let users: Vec<_> = users
            .into_iter()
            .filter(|u| technician.is_none_or(|t| t == u.id))
            .collect();
        let same = users.len() == d.technicians.len()
            && users
                .iter()
                .zip(&d.technicians)
                .all(|(u, t)| u.id == t.id && u.name == t.name && u.active == t.active);
        if same {
            return Ok(d);
        }
        let mut copy = Dashboard::clone(&d);
        let figures = std::mem::take(&mut copy.technicians);
        copy.technicians = users
            .into_iter()
            .map(|u| {
                let kept = figures.iter().find(|t| t.id == u.id);
                TechnicianFigures {
                    id: u.id,
                    name: u.name,
                    active: u.active,
                    ..kept.cloned().unwrap_or(TechnicianFigures {
                        id: u.id,
                        name: String::new(),
                        active: u.active,
                        open: 0,
                        closed: 0,
                        assign: Summary::default(),
                        response: Summary::default(),
                        close: Summary::default(),
                        csat: Csat::default(),
                    })
                }
            })
            .collect();
        let copy = Arc::new(copy);
        if let Some(c) = slot.lock().await.as_mut()
            && Arc::ptr_eq(&c.dashboard, &d)
        {
            c.dashboard = copy.clone();
        }
        Ok(copy)
    }

    /// Computes a dashboard from the data as it is now (`generation`: the process's change
    /// count read before), its reads where `reader`'s reads go.
    async fn compute(
        &self,
        period: Period,
        technician: Option<UserId>,
        reader: Option<UserId>,
        generation: u64,
    ) -> Result<Computed> {
        let (stamp, mut dashboard) = on_replica!(self.store, reader, |conn| {
            self.compute_dashboard(conn, period.clone(), technician)
                .await
        })?;
        // The service-level part is read from the primary: it is small.
        dashboard.sla = self.sla_report_for(technician, &dashboard.period).await?;
        Ok(Computed {
            generation,
            stamp,
            dashboard: Arc::new(dashboard),
            refreshing: false,
        })
    }

    /// Computes a dashboard in the background and keeps it in `slot` (taken only to store
    /// it: requests meanwhile are answered with the one kept). A failure is logged; the next
    /// request tries again.
    async fn compute_into(
        &self,
        slot: Slot,
        period: Period,
        technician: Option<UserId>,
        reader: Option<UserId>,
        generation: u64,
    ) {
        let computed = self.compute(period, technician, reader, generation).await;
        let mut kept = slot.lock().await;
        match computed {
            Ok(computed) => *kept = Some(computed),
            Err(e) => {
                tracing::warn!(error = %e, "the dashboard could not be computed in the background");
                if let Some(c) = kept.as_mut() {
                    c.refreshing = false;
                }
            }
        }
    }

    /// Keeps the dashboard people see first (everyone's, the last 30 days) computed, so that
    /// opening it after a quiet minute does not wait for it (hundreds of milliseconds at ten
    /// million tickets, most of it the open tickets' ages): once nothing has changed for
    /// `QUIET_BEFORE_WARMING`, and again when the kept one is `REFRESH_AHEAD_SECS` old. Not
    /// while tickets keep changing: a dashboard is shown only until the next change, so one
    /// computed under steady intake was out of date at the next commit, and its computation
    /// every 20 s took a core from intake (PERFORMANCE.md). Runs until the process ends.
    pub async fn keep_dashboard_warm(&self) {
        // Other instances' writes count as changes from here on (PostgreSQL: once this
        // process listens; its first `LISTEN` moves the generation, as in `dashboard`).
        self.store
            .changes()
            .ready(crate::storage::changes::LISTENER_WAIT)
            .await;
        loop {
            let seen = self.store.changes().generation();
            tokio::time::sleep(QUIET_BEFORE_WARMING).await;
            let generation = self.store.changes().generation();
            if generation != seen {
                continue;
            }
            let now = self.now();
            let Ok(period) = Period::lima_days(None, None, now) else {
                continue;
            };
            let slot = self.dashboards.slot((period.from, period.to, None));
            let fresh = slot.lock().await.as_ref().is_some_and(|c| {
                c.generation == generation && now < c.dashboard.generated_at + REFRESH_AHEAD_SECS
            });
            if !fresh {
                self.compute_into(slot, period, None, None, generation)
                    .await;
            }
        }
    }

    /// The dashboard's figures read on `c` (a replica or the primary), with the stamp of the
    /// data they were read from; the service levels are added by `compute`.
    async fn compute_dashboard(
        &self,
        c: &mut crate::storage::Conn,
        period: Period,
        technician: Option<UserId>,
    ) -> Result<((i64, i64, i64), Dashboard)> {
        let backend = self.store.backend();
        let now = self.now();
        // Every read below sees one snapshot: the durations are read twice and must be the
        // same both times.
        let mut snapshot = reports::snapshot(c, backend).await?;
        let c: &mut crate::storage::Conn = &mut snapshot;
        let stamp = reports::stamp(c).await?;
        let (from, to) = (period.from, period.to);
        let (from_day, to_day) = (lima_day(from), lima_day(to));

        // Everything dated in the period comes from the daily figures: about thirty rows per
        // figure and person, durations included, so the medians and percentiles are exact.
        // They are read twice and never held: a first pass counts (and sums every count),
        // a second gathers only the durations near the medians and 90th percentiles.
        let mine = |person: &i64| technician.is_none_or(|t| t.0 == *person);
        let mut per_day: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        let (mut returned, mut passed) = (0, 0);
        let mut csat = Csat::default();
        let mut csat_by: BTreeMap<i64, Csat> = BTreeMap::new();
        // A technician's "opened" are the tickets handed to them; everyone else's, arrivals.
        let opened_figure = if technician.is_some() {
            Figure::Received
        } else {
            Figure::Created
        };
        // Per figure with durations, its summaries overall and per person.
        let mut parts: BTreeMap<Figure, TwoPass> = BTreeMap::new();
        figures::each(c, from_day, to_day, false, |row| {
            let n: i64 = if technician.is_none() {
                row.n
            } else {
                row.people
                    .iter()
                    .filter(|(p, _)| mine(p))
                    .map(|(_, e)| e.n)
                    .sum()
            };
            match row.figure {
                Figure::Returned => returned += n,
                Figure::Passed => passed += n,
                Figure::Close => {
                    per_day.entry(row.day).or_default().1 += n;
                    csat.closes += n;
                    for (person, entry) in row.people.iter().filter(|(p, _)| mine(p)) {
                        csat_by.entry(*person).or_default().closes += entry.n;
                    }
                }
                Figure::Rating => {
                    for (person, entry) in row.people.iter().filter(|(p, _)| mine(p)) {
                        csat.add(&entry.secs);
                        csat_by.entry(*person).or_default().add(&entry.secs);
                    }
                }
                _ => {}
            }
            if row.figure == opened_figure {
                per_day.entry(row.day).or_default().0 += n;
            }
            if row.figure.has_durations() {
                let two = parts.entry(row.figure).or_default();
                for (person, entry) in row.people.iter().filter(|(p, _)| mine(p)) {
                    two.count(*person, &entry.secs);
                }
            }
        })
        .await?;
        parts.values_mut().for_each(TwoPass::prepare);
        figures::each(c, from_day, to_day, true, |row| {
            if let Some(two) = parts.get_mut(&row.figure) {
                for (person, entry) in row.people.iter().filter(|(p, _)| mine(p)) {
                    two.offer(*person, &entry.secs);
                }
            }
        })
        .await?;
        let mut summaries = |f: Figure| -> Result<(Summary, BTreeMap<i64, Summary>)> {
            match parts.remove(&f) {
                Some(two) => two.finish().ok_or_else(|| {
                    crate::storage::StorageError::Corrupt(
                        "the daily figures changed inside one snapshot".to_string(),
                    )
                    .into()
                }),
                None => Ok(Default::default()),
            }
        };
        let (assign, assign_by) = summaries(Figure::Assign)?;
        let (response, response_by) = summaries(Figure::Response)?;
        let (close, close_by) = summaries(Figure::Close)?;
        let (wait_summary, _) = summaries(Figure::Wait)?;
        let (waiting, _) = summaries(Figure::Waiting)?;

        let mut counts_by_status: BTreeMap<&'static str, i64> = BTreeMap::new();
        let mut open_by_tech: BTreeMap<i64, i64> = BTreeMap::new();
        for (status, assignee, n) in reports::counts(c).await? {
            if technician.is_some() && assignee != technician {
                continue;
            }
            *counts_by_status.entry(status.as_str()).or_default() += n;
            if status.is_open()
                && let Some(a) = assignee
            {
                *open_by_tech.entry(a.0).or_default() += n;
            }
        }
        let counts: Vec<(Status, i64)> = Status::ALL
            .iter()
            .map(|s| (*s, counts_by_status.get(s.as_str()).copied().unwrap_or(0)))
            .collect();
        let open_total = counts
            .iter()
            .filter(|(s, _)| s.is_open())
            .map(|(_, n)| n)
            .sum();

        let (queue_wait, waiting_now, longest_wait_now) = if technician.is_none() {
            let oldest = reports::oldest_queued(c).await?;
            let queued: i64 = counts
                .iter()
                .filter(|(s, _)| s.is_queued())
                .map(|(_, n)| *n)
                .sum();
            (
                Some(wait_summary),
                queued.max(0) as usize,
                oldest.map(|s| now - s),
            )
        } else {
            (None, 0, None)
        };

        let handoffs = reports::recent_handoffs(c, from, to, technician, 10)
            .await?
            .into_iter()
            .filter_map(|h| {
                let data: EventData = serde_json::from_str(&h.data).ok()?;
                Some(HandoffRow {
                    ticket: TicketId(h.ticket_id),
                    kind: EventKind::parse(&h.kind)?,
                    actor: h.actor,
                    at: h.at,
                    reason: data.reason.unwrap_or_default(),
                    to: data.to_assignee_name,
                })
            })
            .collect();

        let ages: Vec<i64> = reports::open_created(c, backend, technician)
            .await?
            .into_iter()
            .map(|created| now - created)
            .collect();
        let backlog_buckets = age_buckets(&ages);
        let backlog = summarize(ages);
        let open_tickets = reports::oldest_open(c, technician, OPEN_TABLE_LIMIT).await?;

        let daily = period
            .days()
            .into_iter()
            .map(|day| {
                let (opened, closed) = per_day
                    .get(&lima_day(crate::domain::time::lima_day_start(day)))
                    .copied()
                    .unwrap_or_default();
                DayRow {
                    day,
                    opened,
                    closed,
                }
            })
            .collect();

        let users = crate::storage::users::list(c, Some(Role::Technician)).await?;
        let technicians = users
            .into_iter()
            .filter(|u| technician.is_none_or(|t| t == u.id))
            .map(|u| TechnicianFigures {
                open: open_by_tech.get(&u.id.0).copied().unwrap_or(0),
                closed: close_by.get(&u.id.0).map(|s| s.count).unwrap_or(0),
                assign: assign_by.get(&u.id.0).copied().unwrap_or_default(),
                response: response_by.get(&u.id.0).copied().unwrap_or_default(),
                close: close_by.get(&u.id.0).copied().unwrap_or_default(),
                csat: csat_by.get(&u.id.0).copied().unwrap_or_default(),
                id: u.id,
                name: u.name,
                active: u.active,
            })
            .collect();
        snapshot.commit().await?;
        Ok((
            stamp,
            Dashboard {
                period,
                technician,
                counts,
                open_total,
                assign,
                response,
                close,
                queue_wait,
                waiting,
                csat,
                waiting_now,
                longest_wait_now,
                returned,
                passed,
                handoffs,
                backlog,
                backlog_buckets,
                open_tickets,
                technicians,
                daily,
                sla: Default::default(),
                generated_at: now,
            },
        ))
    }
}

pub use crate::storage::reports::{ClosedRow, ClosedRowRef, ClosedSink, OpenTicket};

/// Which closed tickets an export holds: the closing day within `[from, to)` (Lima days,
/// both optional), and the actor's own tickets when they are a technician.
#[derive(Debug, Clone, Copy)]
pub struct ExportScope {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub technician: Option<UserId>,
    /// Who exports: their reads may go to a replica that has their own changes.
    pub reader: Option<UserId>,
}

impl Services {
    pub fn export_scope(&self, actor: &Actor, from: Option<i64>, to: Option<i64>) -> ExportScope {
        let role = actor.role().unwrap_or(Role::Technician);
        ExportScope {
            from,
            to,
            technician: if may(role, Capability::SeeAllFigures) {
                None
            } else {
                actor.user_id()
            },
            reader: actor.user_id(),
        }
    }

    /// Every closed ticket in the scope, in ticket order, handed to `sink` row by row on a
    /// blocking thread (it may wait on a slow client; `Break` stops the read). Gives the sink
    /// back for its last words.
    pub async fn each_closed<S: ClosedSink>(&self, scope: &ExportScope, sink: S) -> Result<S> {
        Ok(reports::each_closed(
            &self.store,
            scope.from,
            scope.to,
            scope.technician,
            scope.reader,
            sink,
        )
        .await?)
    }

    /// The next chunk of the export after the ticket id `after` (0 to start).
    pub async fn closed_chunk(
        &self,
        scope: &ExportScope,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ClosedRow>> {
        Ok(on_replica!(self.store, scope.reader, |conn| {
            reports::closed_chunk(conn, scope.from, scope.to, scope.technician, after, limit).await
        })?)
    }
}

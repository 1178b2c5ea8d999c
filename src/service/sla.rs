//! Service levels as use cases: the settings each instance caches (checked against the stored
//! revision every few seconds), the clocks every ticket write carries, the administrators'
//! categories, calendar and targets (each change recomputes the open tickets at once, through
//! the one writer), `soporte sla recompute` for the rest, the warnings job (a lease, working
//! hours only, once per ticket and target, notices through the outbox) and the dashboard's
//! met/missed figures.

use super::notices::new_token;
use super::{Result, Services};
use crate::domain::DomainError;
use crate::domain::access::{Capability, require};
use crate::domain::classification::{Category, CategoryId, Priority, category_key, category_name};
use crate::domain::figures::lima_day;
use crate::domain::ids::{TicketId, UserId};
use crate::domain::mail::{NewNotice, NoticeKind, NoticeParams};
use crate::domain::metrics::Period;
use crate::domain::sla::{
    self, Clock, Facts, Holiday, Hours, Level, Settings, SlaRow, Tally, Target, Targets, Transition,
};
use crate::domain::ticket::{Change, Milestones, Status, Ticket};
use crate::domain::time::{format_lima, parse_date};
use crate::domain::timeline::{EventData, EventKind};
use crate::domain::user::{Actor, Role};
pub use crate::storage::sla::Which;
use crate::storage::sla::{self as store, Timeline};
use crate::storage::users;
use crate::storage::write::rows::{EventRow, TicketWrite, Written};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an instance trusts its cached settings before it looks at the stored revision
/// again (another instance may have changed them).
const RECHECK: Duration = Duration::from_secs(2);
/// Tickets read and written per recompute batch.
const BATCH: i64 = 500;
/// Tickets looked at per warnings round.
const NOTICE_BATCH: i64 = 200;
/// The warnings job's lease and pace.
const LEASE: &str = "sla-watch";
const LEASE_SECS: i64 = 180;
pub const WATCH_EVERY: Duration = Duration::from_secs(60);

/// Settings and when they were last known to be current.
type Fresh = (Arc<Settings>, Instant);

/// One instance's copy of the settings.
#[derive(Debug, Clone, Default)]
pub struct SlaCache(Arc<Mutex<Option<Fresh>>>);

impl SlaCache {
    fn get(&self) -> Option<Fresh> {
        self.0.lock().ok().and_then(|g| g.clone())
    }

    fn put(&self, s: Arc<Settings>) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some((s, Instant::now()));
        }
    }

    fn forget(&self) {
        if let Ok(mut g) = self.0.lock() {
            *g = None;
        }
    }
}

/// The ticket's clocks recomputed from its facts with `settings`; classification kept from
/// `base`.
pub(crate) fn clocks_for(
    settings: &Settings,
    created_at: i64,
    status: Status,
    milestones: &Milestones,
    base: &SlaRow,
    timeline: &Timeline,
) -> SlaRow {
    let facts = Facts {
        created_at,
        status: status.as_str(),
        first_assigned_at: milestones.first_assigned_at,
        first_response_at: milestones.first_response_at,
        closed_at: milestones.closed_at,
        transitions: &timeline.transitions,
        notified: timeline.notified,
    };
    let mut row = sla::project(&facts, settings.targets(base.priority), &settings.calendar);
    row.priority = base.priority;
    row.category = base.category;
    row.revision = settings.revision;
    row
}

/// A new ticket's classification and first clocks.
pub(crate) fn arrival(settings: &Settings, at: i64, priority: Priority) -> SlaRow {
    clocks_for(
        settings,
        at,
        Status::Nuevo,
        &Milestones::new_ticket(at),
        &SlaRow {
            priority,
            ..SlaRow::default()
        },
        &Timeline::default(),
    )
}

/// What the decided clocks of a ticket add to the daily figures before and after a write.
fn deltas(
    before: &SlaRow,
    before_stops: [Option<i64>; 3],
    before_assignee: Option<UserId>,
    after: &SlaRow,
    after_stops: [Option<i64>; 3],
    after_assignee: Option<UserId>,
) -> Vec<sla::SlaDelta> {
    sla::figure_deltas(
        &sla::decided(before, before_stops, before_assignee),
        &sla::decided(after, after_stops, after_assignee),
    )
}

/// The settings and the instant the clocks are read at, for showing tickets.
#[derive(Debug, Clone)]
pub struct SlaView {
    pub settings: Arc<Settings>,
    pub now: i64,
}

impl SlaView {
    pub fn clocks(&self, t: &Ticket) -> [Clock; 3] {
        sla::clocks(&t.sla, t.sla_stops(), &self.settings.calendar, self.now)
    }

    pub fn calendar(&self) -> &sla::Calendar {
        &self.settings.calendar
    }
}

/// What a warnings round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchRound {
    /// Another instance holds the lease.
    pub skipped: bool,
    /// Outside working hours: nothing is sent.
    pub closed: bool,
    pub warnings: usize,
    pub breaches: usize,
    /// Open tickets whose clocks were recomputed (computed with older settings).
    pub recomputed: usize,
}

/// The dashboard's service-level figures.
#[derive(Debug, Clone, Default)]
pub struct SlaReport {
    /// By `Target::index`.
    pub overall: [Tally; 3],
    pub by_priority: Vec<(Priority, [Tally; 3])>,
    /// Category name ("Sin categoría" for none).
    pub by_category: Vec<(String, [Tally; 3])>,
    /// Technician (id, name; "Sin asignar" for nobody).
    pub by_technician: Vec<(Option<UserId>, String, [Tally; 3])>,
    /// Tickets whose first missed due fell in the period (the latest first, at most 50).
    pub breached: Vec<store::Breached>,
    /// Whether there are more than those.
    pub breached_more: bool,
}

pub const BREACHED_LIMIT: i64 = 50;

impl Services {
    /// The calendar and targets, from this instance's cache while it is fresh.
    pub async fn sla_settings(&self) -> Result<Arc<Settings>> {
        if let Some((s, at)) = self.sla.get() {
            if at.elapsed() < RECHECK {
                return Ok(s);
            }
            let mut conn = self.store.read().await?;
            if store::revision(&mut conn).await? == s.revision {
                self.sla.put(s.clone());
                return Ok(s);
            }
        }
        let mut conn = self.store.read().await?;
        let s = Arc::new(store::settings(&mut conn).await?);
        self.sla.put(s.clone());
        Ok(s)
    }

    /// The settings and now, to show tickets' clocks.
    pub async fn sla_view(&self) -> Result<SlaView> {
        Ok(SlaView {
            settings: self.sla_settings().await?,
            now: self.now(),
        })
    }

    /// Recomputes the clocks of a change's write from the ticket's timeline (and the
    /// change's own events), with what that changes in the daily figures.
    pub(crate) async fn sla_for_change(
        &self,
        conn: &mut crate::storage::Conn,
        ticket: &Ticket,
        change: &Change,
        write: &mut TicketWrite,
    ) -> Result<()> {
        let settings = self.sla_settings().await?;
        let mut timeline = store::timelines(conn, &[ticket.id.0])
            .await?
            .remove(&ticket.id.0)
            .unwrap_or_default();
        for e in &change.events {
            if let Some(to) = &e.data.to_status {
                timeline.transitions.push(Transition {
                    at: write.at,
                    to: to.clone(),
                });
            }
        }
        let row = &write.row;
        let after = clocks_for(
            &settings,
            ticket.created_at,
            row.status,
            &row.milestones,
            &row.sla,
            &timeline,
        );
        let m = &row.milestones;
        write.sla_figures = deltas(
            &ticket.sla,
            ticket.sla_stops(),
            ticket.assignee_id,
            &after,
            sla::stops(m.first_assigned_at, m.first_response_at, m.closed_at),
            row.assignee,
        );
        write.row.sla = after;
        Ok(())
    }

    // Recomputing.

    /// Recomputes the clocks of the tickets `which` names with the settings now, writing
    /// only those that change (through the one writer, in batches, at each ticket's
    /// version; one that changed meanwhile is read again); an open ticket whose clocks stay
    /// as they were only gets the new revision. Returns how many tickets' clocks changed.
    pub async fn recompute_sla(&self, which: Which) -> Result<usize> {
        self.sla.forget();
        let settings = self.sla_settings().await?;
        let which = match which {
            Which::Stale(_) => Which::Stale(settings.revision),
            w => w,
        };
        let mut after = 0;
        let mut changed = 0;
        loop {
            let (tickets, timelines) = {
                let mut conn = self.store.read().await?;
                let tickets = store::tickets_after(&mut conn, which, after, BATCH).await?;
                let ids: Vec<i64> = tickets.iter().map(|t| t.id.0).collect();
                let timelines = store::timelines(&mut conn, &ids).await?;
                (tickets, timelines)
            };
            let Some(last) = tickets.last() else {
                break;
            };
            after = last.id.0;
            let at = self.now();
            let mut writes = Vec::new();
            let mut moved = Vec::new();
            for t in &tickets {
                let timeline = timelines.get(&t.id.0).cloned().unwrap_or_default();
                if let Some((w, m)) = recomputed(&settings, t, &timeline, at) {
                    moved.push((TicketId(w.row.id), m));
                    writes.push(w);
                }
            }
            let results = self.writer.commit(writes).await?;
            for ((id, m), result) in moved.into_iter().zip(results) {
                match result {
                    Written::Changed { .. } => changed += usize::from(m),
                    _ => changed += usize::from(self.recompute_one(id).await?),
                }
            }
            if (tickets.len() as i64) < BATCH {
                break;
            }
        }
        if changed > 0 {
            store::mark_recomputed(&self.store).await?;
        }
        Ok(changed)
    }

    /// One ticket's clocks recomputed, read again until its write lands (a person's change
    /// may be landing at the same moment; it carries fresh clocks itself).
    async fn recompute_one(&self, id: TicketId) -> Result<bool> {
        for _ in 0..3 {
            let settings = self.sla_settings().await?;
            let (ticket, timeline) = {
                let mut conn = self.store.read().await?;
                let Some(t) = crate::storage::tickets::find(
                    &mut conn,
                    crate::domain::access::TicketScope::All,
                    id,
                )
                .await?
                else {
                    return Ok(false);
                };
                let tl = store::timelines(&mut conn, &[id.0])
                    .await?
                    .remove(&id.0)
                    .unwrap_or_default();
                (t, tl)
            };
            let Some((write, moved)) = recomputed(&settings, &ticket, &timeline, self.now()) else {
                return Ok(false);
            };
            if matches!(
                self.writer.commit(vec![write]).await?.first(),
                Some(Written::Changed { .. })
            ) {
                return Ok(moved);
            }
        }
        Ok(false)
    }

    /// After the calendar or a policy changed: every open ticket at once.
    async fn after_settings_change(&self) -> Result<usize> {
        self.recompute_sla(Which::Open).await
    }

    // Administration.

    pub async fn categories(&self) -> Result<Vec<Category>> {
        let mut conn = self.store.read().await?;
        Ok(store::categories(&mut conn).await?)
    }

    pub async fn create_category(&self, actor: &Actor, raw: &str) -> Result<Category> {
        require(
            actor,
            Capability::ManageServiceLevels,
            "administrar categorías",
        )?;
        let name = category_name(raw)?;
        let mut conn = self.store.read().await?;
        let id = store::create_category(&mut conn, &name, &category_key(&name), self.now())
            .await
            .map_err(|e| duplicate_category(e, &name))?;
        Ok(Category {
            id,
            name,
            active: true,
        })
    }

    pub async fn rename_category(
        &self,
        actor: &Actor,
        id: CategoryId,
        raw: &str,
    ) -> Result<Category> {
        require(
            actor,
            Capability::ManageServiceLevels,
            "administrar categorías",
        )?;
        let name = category_name(raw)?;
        let mut conn = self.store.read().await?;
        if !store::rename_category(&mut conn, id, &name, &category_key(&name))
            .await
            .map_err(|e| duplicate_category(e, &name))?
        {
            return Err(DomainError::NotFound.into());
        }
        Ok(store::category(&mut conn, id)
            .await?
            .ok_or(DomainError::NotFound)?)
    }

    pub async fn set_category_active(
        &self,
        actor: &Actor,
        id: CategoryId,
        active: bool,
    ) -> Result<Category> {
        require(
            actor,
            Capability::ManageServiceLevels,
            "administrar categorías",
        )?;
        let mut conn = self.store.read().await?;
        if !store::set_category_active(&mut conn, id, active).await? {
            return Err(DomainError::NotFound.into());
        }
        Ok(store::category(&mut conn, id)
            .await?
            .ok_or(DomainError::NotFound)?)
    }

    /// Replaces the working hours; returns how many open tickets' clocks moved.
    pub async fn save_hours(&self, actor: &Actor, hours: Vec<Hours>) -> Result<usize> {
        require(
            actor,
            Capability::ManageServiceLevels,
            "cambiar el calendario",
        )?;
        let current = self.sla_settings().await?;
        // The whole calendar is checked before anything is written.
        sla::Calendar::new(&hours, current.calendar.holidays().to_vec())?;
        store::save_hours(&self.store, &hours).await?;
        self.after_settings_change().await
    }

    /// Adds a day off; returns how many open tickets' clocks moved.
    pub async fn add_holiday(&self, actor: &Actor, date: &str, name: &str) -> Result<usize> {
        require(
            actor,
            Capability::ManageServiceLevels,
            "cambiar el calendario",
        )?;
        let date = parse_date(date).ok_or_else(|| {
            DomainError::validation("date", "La fecha del feriado no es válida (aaaa-mm-dd).")
        })?;
        let holiday = Holiday {
            date,
            name: sla::holiday_name(name)?,
        };
        let current = self.sla_settings().await?;
        if let Some(h) = current.calendar.holiday(date) {
            return Err(sla::already_a_holiday(h).into());
        }
        if store::add_holiday(&self.store, &holiday).await?.is_none() {
            // Another administrator added it a moment ago.
            let mut conn = self.store.read().await?;
            let name = store::holidays(&mut conn)
                .await?
                .into_iter()
                .find(|h| h.date == date)
                .map_or(holiday.name, |h| h.name);
            return Err(sla::already_a_holiday(&Holiday { date, name }).into());
        }
        self.after_settings_change().await
    }

    /// Removes a day off; returns how many open tickets' clocks moved.
    pub async fn remove_holiday(&self, actor: &Actor, date: &str) -> Result<usize> {
        require(
            actor,
            Capability::ManageServiceLevels,
            "cambiar el calendario",
        )?;
        let not_one = || {
            DomainError::validation(
                "date",
                "Esa fecha no está entre los feriados del calendario.",
            )
        };
        let date = parse_date(date).ok_or_else(not_one)?;
        if store::remove_holiday(&self.store, date).await?.is_none() {
            return Err(not_one().into());
        }
        self.after_settings_change().await
    }

    /// Replaces the targets; returns how many open tickets' clocks moved.
    pub async fn save_policies(
        &self,
        actor: &Actor,
        policies: Vec<(Priority, Targets)>,
    ) -> Result<usize> {
        require(
            actor,
            Capability::ManageServiceLevels,
            "cambiar los objetivos de SLA",
        )?;
        for (p, t) in &policies {
            for target in Target::ALL {
                sla::check_target(
                    t[target.index()],
                    &format!("{}, {}", p.label(), target.label().to_lowercase()),
                )?;
            }
        }
        store::save_policies(&self.store, &policies).await?;
        self.after_settings_change().await
    }

    // Warnings.

    /// One round of the warnings job: holding the lease, inside working hours, each open
    /// ticket with a notice due gets it (once per target): a warning at `WARN_PERCENT` of a
    /// target to its technician (the dispatchers while nobody has it), a breach to the
    /// dispatchers. Each is a timeline event and an outbox notice in one write.
    pub async fn sla_round(&self, holder: &str, check_stale: bool) -> Result<WatchRound> {
        let mut round = WatchRound::default();
        if !self.acquire_lease(LEASE, holder, LEASE_SECS).await? {
            round.skipped = true;
            return Ok(round);
        }
        if check_stale {
            round.recomputed = self.recompute_sla(Which::Stale(0)).await?;
        }
        let settings = self.sla_settings().await?;
        let now = self.now();
        if !settings.calendar.is_working(now) {
            round.closed = true;
            return Ok(round);
        }
        let (tickets, timelines, people) = {
            let mut conn = self.store.read().await?;
            let tickets = store::notices_due(&mut conn, now, NOTICE_BATCH).await?;
            let ids: Vec<i64> = tickets.iter().map(|t| t.id.0).collect();
            let timelines = store::timelines(&mut conn, &ids).await?;
            let people = users::list(&mut conn, None).await?;
            (tickets, timelines, people)
        };
        let active = |role: Role| {
            people
                .iter()
                .filter(move |u| u.active && u.role == role)
                .collect::<Vec<_>>()
        };
        let mut dispatchers = active(Role::Dispatcher);
        if dispatchers.is_empty() {
            dispatchers = active(Role::Admin);
        }
        let mut writes = Vec::new();
        for t in &tickets {
            let mut timeline = timelines.get(&t.id.0).cloned().unwrap_or_default();
            let current = clocks_for(
                &settings,
                t.created_at,
                t.status,
                &t.milestones(),
                &t.sla,
                &timeline,
            );
            let clocks = sla::clocks(&current, t.sla_stops(), &settings.calendar, now);
            let due = sla::notices_due(&clocks, &timeline.notified, now);
            let mut events = Vec::new();
            let mut notices = Vec::new();
            for (target, level) in &due {
                let clock = &clocks[target.index()];
                let data = EventData {
                    target: Some(target.as_str().to_string()),
                    due_at: clock.due_at,
                    ..EventData::default()
                };
                let kind = match level {
                    Level::Warning => EventKind::SlaWarning,
                    Level::Breach => EventKind::SlaBreach,
                };
                events.push(EventRow::new(kind, &data, &Actor::System, now)?);
                timeline.notified.record(*level, *target);
                let assignee = t
                    .assignee_id
                    .and_then(|a| people.iter().find(|u| u.id == a && u.active));
                let to: Vec<&crate::domain::user::User> = match (level, assignee) {
                    (Level::Warning, Some(u)) => vec![u],
                    _ => dispatchers.clone(),
                };
                for user in to {
                    notices.push(sla_notice(
                        t,
                        *target,
                        *level,
                        clock,
                        &user.email,
                        &user.name,
                    )?);
                }
                match level {
                    Level::Warning => round.warnings += 1,
                    Level::Breach => round.breaches += 1,
                }
            }
            let after = clocks_for(
                &settings,
                t.created_at,
                t.status,
                &t.milestones(),
                &t.sla,
                &timeline,
            );
            if events.is_empty() && after == t.sla {
                continue;
            }
            let figures = deltas(
                &t.sla,
                t.sla_stops(),
                t.assignee_id,
                &after,
                t.sla_stops(),
                t.assignee_id,
            );
            let mut write = TicketWrite::bookkeeping(t, after, figures, events, now);
            write.notices = notices;
            writes.push(write);
        }
        // A ticket changed meanwhile is left for the next round, read afresh.
        self.writer.commit(writes).await?;
        Ok(round)
    }

    // Reports.

    /// Met and missed targets in the period (by the day each clock stopped) overall and by
    /// priority, category and technician, and the tickets whose first miss fell in it; a
    /// technician's own when the actor may not see every figure.
    pub async fn sla_report(&self, actor: &Actor, period: &Period) -> Result<SlaReport> {
        let technician = match actor.role() {
            Some(r) if crate::domain::access::may(r, Capability::SeeAllFigures) => None,
            _ => actor.user_id(),
        };
        self.sla_report_for(technician, period).await
    }

    /// The service-level report of one technician's tickets, or everyone's (`None`).
    pub(crate) async fn sla_report_for(
        &self,
        technician: Option<UserId>,
        period: &Period,
    ) -> Result<SlaReport> {
        let mut conn = self.store.read().await?;
        let mut overall = [Tally::default(); 3];
        let mut by_priority: BTreeMap<Priority, [Tally; 3]> = BTreeMap::new();
        let mut by_category: BTreeMap<i64, [Tally; 3]> = BTreeMap::new();
        let mut by_person: BTreeMap<i64, [Tally; 3]> = BTreeMap::new();
        store::each_tally(
            &mut conn,
            lima_day(period.from),
            lima_day(period.to),
            |target, key, tally| {
                if technician.is_some_and(|t| t.0 != key.person) {
                    return;
                }
                let i = target.index();
                overall[i].add(tally);
                by_priority.entry(key.priority).or_default()[i].add(tally);
                by_category.entry(key.category).or_default()[i].add(tally);
                by_person.entry(key.person).or_default()[i].add(tally);
            },
        )
        .await?;
        let categories = store::categories(&mut conn).await?;
        let people = users::list(&mut conn, None).await?;
        let to = period.to.min(self.now());
        // One more than shown says whether there are more (no count over the period).
        let mut breached =
            store::breached(&mut conn, period.from, to, technician, BREACHED_LIMIT + 1).await?;
        let breached_more = breached.len() as i64 > BREACHED_LIMIT;
        breached.truncate(BREACHED_LIMIT as usize);
        let mut by_category: Vec<(String, [Tally; 3])> = by_category
            .into_iter()
            .map(|(id, t)| {
                let name = categories
                    .iter()
                    .find(|c| c.id.0 == id)
                    .map_or_else(|| "Sin categoría".to_string(), |c| c.name.clone());
                (name, t)
            })
            .collect();
        by_category.sort_by(|a, b| a.0.cmp(&b.0));
        let mut by_technician: Vec<(Option<UserId>, String, [Tally; 3])> = by_person
            .into_iter()
            .map(|(id, t)| {
                let user = (id != 0).then_some(UserId(id));
                let name = user
                    .and_then(|u| people.iter().find(|p| p.id == u))
                    .map_or_else(|| "Sin asignar".to_string(), |p| p.name.clone());
                (user, name, t)
            })
            .collect();
        by_technician.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(SlaReport {
            overall,
            by_priority: Priority::ALL
                .iter()
                .filter_map(|p| by_priority.get(p).map(|t| (*p, *t)))
                .collect(),
            by_category,
            by_technician,
            breached,
            breached_more,
        })
    }
}

/// The bookkeeping write that brings one ticket's clocks up to `settings`, and whether its
/// clocks moved; `None` when nothing needs writing (a closed ticket whose clocks come out the
/// same keeps the revision it closed with).
fn recomputed(
    settings: &Settings,
    t: &Ticket,
    timeline: &Timeline,
    at: i64,
) -> Option<(TicketWrite, bool)> {
    let after = clocks_for(
        settings,
        t.created_at,
        t.status,
        &t.milestones(),
        &t.sla,
        timeline,
    );
    let moved = SlaRow {
        revision: t.sla.revision,
        ..after.clone()
    } != t.sla;
    if !moved && (after.revision == t.sla.revision || !t.status.is_open()) {
        return None;
    }
    let stops = t.sla_stops();
    let figures = deltas(&t.sla, stops, t.assignee_id, &after, stops, t.assignee_id);
    Some((
        TicketWrite::bookkeeping(t, after, figures, Vec::new(), at),
        moved,
    ))
}

fn duplicate_category(e: crate::storage::StorageError, name: &str) -> super::Error {
    if e.is_unique_violation() {
        DomainError::validation("name", format!("Ya existe la categoría «{name}».")).into()
    } else {
        e.into()
    }
}

/// A warning or breach notice to one person.
fn sla_notice(
    t: &Ticket,
    target: Target,
    level: Level,
    clock: &Clock,
    email: &str,
    name: &str,
) -> Result<NewNotice> {
    Ok(NewNotice {
        kind: match level {
            Level::Warning => NoticeKind::SlaWarning,
            Level::Breach => NoticeKind::SlaBreach,
        },
        ticket: t.id,
        recipient: email.to_string(),
        params: NoticeParams {
            number: String::new(),
            subject: t.subject.clone(),
            requester: t.requester.clone(),
            technician: Some(name.to_string()),
            resolution: None,
            target: Some(target.label().to_string()),
            due: clock.due_at.map(format_lima),
            priority: Some(t.sla.priority.label().to_string()),
            ..NoticeParams::default()
        },
        token: new_token()?,
        in_reply_to: None,
        references: Vec::new(),
    })
}

/// Runs the warnings job until `stop` resolves: a round every minute (the first also brings
/// any open ticket computed with older settings up to date; later ones do when the settings
/// changed).
pub async fn watch(
    services: Services,
    holder: String,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut seen: Option<i64> = None;
    loop {
        let revision = services.sla_settings().await.ok().map(|s| s.revision);
        let check = seen.is_none() || revision != seen;
        match services.sla_round(&holder, check).await {
            Ok(r) => {
                if !r.skipped && check {
                    seen = revision;
                }
                if r.warnings + r.breaches + r.recomputed > 0 {
                    tracing::info!(
                        warnings = r.warnings,
                        breaches = r.breaches,
                        recomputed = r.recomputed,
                        "service-level round"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "service-level round failed"),
        }
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(WATCH_EVERY) => {}
        }
    }
    let _ = services.release_lease(LEASE, &holder).await;
}

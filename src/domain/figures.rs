//! Daily figures: what each change adds to (or takes from) the dashboard, per Lima day and
//! person. Storage keeps one row per (day, figure, person) with a count and, for durations,
//! every duration of that day; a dashboard over a month reads about thirty rows per figure and
//! person instead of a month of tickets, and its means, medians and percentiles stay exact.

use super::ids::UserId;
use super::ticket::{Change, Ended, Milestones, Status};
use super::timeline::EventKind;
use super::user::Actor;

/// Lima has kept UTC−5 without daylight saving since 1994.
const LIMA_OFFSET: i64 = -5 * 3600;

/// The Lima calendar day of an instant, as days since 1970-01-01.
pub fn lima_day(instant: i64) -> i64 {
    (instant + LIMA_OFFSET).div_euclid(86_400)
}

/// What a daily row counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Figure {
    /// Tickets that arrived (person: nobody).
    Created,
    /// First assignments, with creation → assignment (person: who got it).
    Assign,
    /// First technician answers, with creation → answer (person: who answered).
    Response,
    /// Closes still standing, with creation → close (person: who had it when it closed).
    Close,
    /// Stays in the dispatch queue that ended, with their length (person: who got it).
    Wait,
    /// Returns to the queue (person: who returned it).
    Returned,
    /// Passes to a colleague (person: who passed it).
    Passed,
    /// Tickets handed to a technician, first time or not (person: who got it).
    Received,
    /// Stays waiting for the requester that ended, with their length (person: who had it).
    Waiting,
    /// The requesters' ratings of closes, on the day of the close; the "duration" is the
    /// score, 1–5 (person: who had the ticket when it closed).
    Rating,
}

impl Figure {
    pub const ALL: [Figure; 10] = [
        Figure::Created,
        Figure::Assign,
        Figure::Response,
        Figure::Close,
        Figure::Wait,
        Figure::Returned,
        Figure::Passed,
        Figure::Received,
        Figure::Waiting,
        Figure::Rating,
    ];

    /// The stored code (never reuse one).
    pub fn code(self) -> i64 {
        match self {
            Figure::Created => 0,
            Figure::Assign => 1,
            Figure::Response => 2,
            Figure::Close => 3,
            Figure::Wait => 4,
            Figure::Returned => 5,
            Figure::Passed => 6,
            Figure::Received => 7,
            Figure::Waiting => 8,
            Figure::Rating => 9,
        }
    }

    pub fn from_code(code: i64) -> Option<Figure> {
        Figure::ALL.into_iter().find(|f| f.code() == code)
    }

    /// Whether the row keeps the durations themselves, not only a count.
    pub fn has_durations(self) -> bool {
        matches!(
            self,
            Figure::Assign
                | Figure::Response
                | Figure::Close
                | Figure::Wait
                | Figure::Waiting
                | Figure::Rating
        )
    }
}

/// One change to one daily row: a count of ±1 and, for durations, the duration added or taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delta {
    pub figure: Figure,
    pub day: i64,
    pub person: Option<UserId>,
    /// +1 or −1.
    pub sign: i64,
    pub secs: Option<i64>,
}

impl Delta {
    fn add(figure: Figure, at: i64, person: Option<UserId>, secs: Option<i64>) -> Delta {
        Delta {
            figure,
            day: lima_day(at),
            person,
            sign: 1,
            secs,
        }
    }
}

/// What a new ticket adds.
pub fn created(at: i64) -> Delta {
    Delta::add(Figure::Created, at, None, None)
}

/// A ticket as it was before a change.
#[derive(Debug, Clone, Copy)]
pub struct Before<'a> {
    pub created_at: i64,
    pub status: Status,
    pub assignee: Option<UserId>,
    pub milestones: &'a Milestones,
}

/// What a decided change adds and takes: `after` are the milestones after it and `ended` the
/// stays it ended (as `Milestones::after` returns them).
pub fn deltas(
    ticket: Before<'_>,
    change: &Change,
    actor: &Actor,
    at: i64,
    after: &Milestones,
    ended: Ended,
) -> Vec<Delta> {
    let before = ticket.milestones;
    let age = |instant: i64| instant - ticket.created_at;
    let mut out = Vec::new();
    if before.first_assigned_at.is_none()
        && let Some(t) = after.first_assigned_at
    {
        out.push(Delta::add(Figure::Assign, t, change.assignee, Some(age(t))));
    }
    if before.first_response_at.is_none()
        && let Some(t) = after.first_response_at
    {
        out.push(Delta::add(
            Figure::Response,
            t,
            actor.user_id(),
            Some(age(t)),
        ));
    }
    if before.closed_at != after.closed_at {
        // Only the last close counts: a reopen (or a new close) takes the earlier one back.
        if let Some(t) = before.closed_at
            && ticket.status == Status::Cerrado
        {
            out.push(Delta {
                sign: -1,
                ..Delta::add(Figure::Close, t, ticket.assignee, Some(age(t)))
            });
        }
        if let Some(t) = after.closed_at {
            out.push(Delta::add(Figure::Close, t, change.assignee, Some(age(t))));
        }
    }
    if let Some(secs) = ended.queue {
        out.push(Delta::add(Figure::Wait, at, change.assignee, Some(secs)));
    }
    if let Some(secs) = ended.waiting {
        out.push(Delta::add(Figure::Waiting, at, ticket.assignee, Some(secs)));
    }
    // A rating counts on the day of the close it rates, for who had the ticket then; a new
    // rating of the same close, or a reopening, takes the earlier one back.
    if before.rating != after.rating || before.closed_at != after.closed_at {
        if let (Some(score), Some(closed)) = (before.rating, before.closed_at) {
            out.push(Delta {
                sign: -1,
                ..Delta::add(Figure::Rating, closed, ticket.assignee, Some(score))
            });
        }
        if let (Some(score), Some(closed)) = (after.rating, after.closed_at) {
            out.push(Delta::add(
                Figure::Rating,
                closed,
                change.assignee,
                Some(score),
            ));
        }
    }
    for event in &change.events {
        match event.kind {
            EventKind::Returned => {
                out.push(Delta::add(Figure::Returned, at, actor.user_id(), None));
            }
            EventKind::Reassigned => {
                out.push(Delta::add(Figure::Passed, at, actor.user_id(), None));
            }
            _ => {}
        }
        if matches!(event.kind, EventKind::Assigned | EventKind::Reassigned) {
            out.push(Delta::add(Figure::Received, at, change.assignee, None));
        }
    }
    out
}

/// One person's part of a daily row: a count and, for durations, the durations themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub n: i64,
    /// Seconds, up to 136 years (longer is clamped).
    pub secs: Vec<u32>,
}

/// A duration as stored.
pub fn stored_secs(secs: i64) -> u32 {
    secs.clamp(0, u32::MAX as i64) as u32
}

/// One day of one figure, per person (0 = nobody). Arrivals are only counted (`n`), since
/// every intake adds to them; the other figures keep their entries per person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyRow {
    pub day: i64,
    pub figure: Figure,
    pub n: i64,
    pub people: std::collections::BTreeMap<i64, Entry>,
}

impl DailyRow {
    pub fn new(day: i64, figure: Figure) -> DailyRow {
        DailyRow {
            day,
            figure,
            n: 0,
            people: Default::default(),
        }
    }

    /// Applies one delta of this row's day and figure. A duration to take back that is not
    /// there changes nothing and returns false.
    pub fn apply(&mut self, d: &Delta) -> bool {
        let key = d.person.map(|p| p.0).unwrap_or(0);
        if d.figure == Figure::Created {
            self.n += d.sign;
            return true;
        }
        let entry = self.people.entry(key).or_default();
        match d.secs.map(stored_secs) {
            Some(s) if d.sign < 0 => match entry.secs.iter().position(|x| *x == s) {
                Some(i) => {
                    entry.secs.swap_remove(i);
                }
                None => return false,
            },
            Some(s) => entry.secs.push(s),
            None => {}
        }
        entry.n += d.sign;
        self.n += d.sign;
        if entry.n == 0 && entry.secs.is_empty() {
            self.people.remove(&key);
        }
        true
    }

    /// Adds another row of the same day and figure.
    pub fn merge(&mut self, other: DailyRow) {
        self.n += other.n;
        for (person, e) in other.people {
            let mine = self.people.entry(person).or_default();
            mine.n += e.n;
            mine.secs.extend(e.secs);
        }
    }
}

/// Deltas summed in memory into daily rows (a bulk load writes the sum once).
#[derive(Debug, Default)]
pub struct Tally(std::collections::HashMap<(i64, Figure), DailyRow>);

impl Tally {
    pub fn add(&mut self, d: &Delta) {
        self.0
            .entry((d.day, d.figure))
            .or_insert_with(|| DailyRow::new(d.day, d.figure))
            .apply(d);
    }

    pub fn into_rows(self) -> Vec<DailyRow> {
        let mut rows: Vec<DailyRow> = self.0.into_values().collect();
        rows.sort_by_key(|r| (r.day, r.figure));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ticket::{Command, Target, TicketState, decide};
    use crate::domain::user::Role;

    fn person(id: i64, role: Role) -> Actor {
        Actor::User {
            id: UserId(id),
            name: format!("P{id}"),
            role,
        }
    }

    /// Runs commands through the real transition table and tallies what they add.
    fn life(steps: &[(i64, &Actor, Command)]) -> Tally {
        let mut tally = Tally::default();
        tally.add(&created(0));
        let mut state = TicketState {
            status: Status::Nuevo,
            assignee: None,
            assignee_name: None,
            assignee_active: true,
            classification: Default::default(),
        };
        let mut m = Milestones::new_ticket(0);
        for (at, actor, command) in steps {
            let change = decide(&state, actor, command.clone()).expect("allowed");
            let (after, wait) = m.after(state.status, &change, actor, *at);
            let before = Before {
                created_at: 0,
                status: state.status,
                assignee: state.assignee,
                milestones: &m,
            };
            for d in deltas(before, &change, actor, *at, &after, wait) {
                tally.add(&d);
            }
            m = after;
            state.status = change.status;
            state.assignee = change.assignee;
        }
        tally
    }

    #[test]
    fn a_reopened_ticket_counts_only_its_last_close_for_who_closed_it() {
        let d = person(2, Role::Dispatcher);
        let t1 = person(3, Role::Technician);
        let admin = person(1, Role::Admin);
        let target = |id: i64| Target {
            id: UserId(id),
            name: format!("P{id}"),
            role: Role::Technician,
            active: true,
        };
        let day = 86_400;
        let rows = life(&[
            (600, &d, Command::Assign { to: target(3) }),
            (
                900,
                &t1,
                Command::Reply {
                    wait: false,
                    body: "voy".into(),
                },
            ),
            (
                1_000,
                &t1,
                Command::Close {
                    resolution: "ok".into(),
                },
            ),
            (
                day + 100,
                &admin,
                Command::Reopen {
                    reason: "no".into(),
                },
            ),
            (
                2 * day + 7,
                &t1,
                Command::Close {
                    resolution: "ya".into(),
                },
            ),
        ])
        .into_rows();
        type Found = Vec<(i64, i64, Vec<(i64, Entry)>)>;
        let find = |f: Figure| -> Found {
            rows.iter()
                .filter(|r| r.figure == f && r.n != 0)
                .map(|r| (r.day, r.n, r.people.clone().into_iter().collect()))
                .collect()
        };
        let one = |secs: u32| {
            vec![(
                3,
                Entry {
                    n: 1,
                    secs: vec![secs],
                },
            )]
        };
        // Instant 0 is 19:00 on 1969-12-31 in Lima.
        assert_eq!(find(Figure::Created), [(-1, 1, vec![])]);
        assert_eq!(find(Figure::Assign), [(-1, 1, one(600))]);
        assert_eq!(find(Figure::Wait), [(-1, 1, one(600))]);
        assert_eq!(find(Figure::Response), [(-1, 1, one(900))]);
        assert_eq!(
            find(Figure::Close),
            [(1, 1, one((2 * day + 7) as u32))],
            "the first close was taken back by the reopen"
        );
    }

    #[test]
    fn lima_days_start_at_five_utc() {
        assert_eq!(lima_day(5 * 3600), 0);
        assert_eq!(lima_day(5 * 3600 - 1), -1);
    }
}

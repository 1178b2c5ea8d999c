//! The description of what a ticket write puts in the database — the one place that says
//! which tables and columns a new ticket or a change touches, as data: `TicketWrite` (the
//! rows one write adds or changes) and the `Table`s it goes to. `write::apply` turns it into
//! statements with the one multi-row statement builder here (`Statements`).

use super::super::{Backend, Result, StorageError};
use super::exec::Value;
use crate::domain::figures::Delta;
use crate::domain::ids::{TicketId, UserId};
use crate::domain::mail::{Attachment, NewNotice};
use crate::domain::projection::{CountDelta, Projection};
use crate::domain::sla::{SlaDelta, SlaRow};
use crate::domain::ticket::Channel;
use crate::domain::ticket::{Change, Milestones, NewTicket, Status, Ticket};
use crate::domain::timeline::{EventData, EventKind, NewEvent};
use crate::domain::user::Actor;
use std::collections::HashMap;

pub use super::exec::Table;

pub const TICKETS: Table = Table {
    name: "tickets",
    columns: &[
        "id",
        "subject",
        "body",
        "requester",
        "created_by",
        "created_at",
        "requester_name",
        "channel",
        "status",
        "version",
        "assignee_id",
        "updated_at",
        "first_assigned_at",
        "first_response_at",
        "closed_at",
        "closed_by",
        "resolution",
        "last_event_at",
        "last_event_kind",
        "queued_since",
        "waiting_since",
        "rating",
        "rating_comment",
        // Classification and service levels (`SlaRow`).
        "priority",
        "category_id",
        "assignment_target",
        "assignment_due_at",
        "assignment_secs",
        "response_target",
        "response_due_at",
        "response_secs",
        "resolution_target",
        "resolution_due_at",
        "resolution_secs",
        "sla_due_at",
        "sla_warn_at",
        "sla_breach_at",
        "sla_notify_at",
        "sla_revision",
    ],
    pg_wrap: &[],
};

/// The columns of `TICKETS` a change rewrites: those after the first `FIXED_COLUMNS`.
const FIXED_COLUMNS: usize = 8;
const TICKET_COLUMNS: usize = 39;

pub const EVENTS: Table = Table {
    name: "ticket_events",
    columns: &["id", "ticket_id", "at", "actor_id", "actor", "kind", "data"],
    pg_wrap: &[],
};

/// PostgreSQL's search documents (SQLite's FTS5 table is written one row a statement).
pub const SEARCH: Table = Table {
    name: "ticket_search",
    columns: &["ticket_id", "doc"],
    pg_wrap: &[(1, "to_tsvector('simple', {})")],
};

pub const INTAKE_KEYS: Table = Table {
    name: "intake_keys",
    columns: &["key", "ticket_id", "created_at"],
    pg_wrap: &[],
};

pub const OUTBOX: Table = Table {
    name: "mail_outbox",
    columns: &[
        "kind",
        "ticket_id",
        "recipient",
        "params",
        "token",
        "in_reply_to",
        "refs",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    ],
    pg_wrap: &[],
};

pub const ATTACHMENTS: Table = Table {
    name: "mail_attachments",
    columns: &[
        "ticket_id",
        "filename",
        "content_type",
        "size",
        "data",
        "created_at",
        "event_id",
    ],
    pg_wrap: &[],
};

pub const STATUS_LINKS: Table = Table {
    name: "status_links",
    columns: &["token_hash", "ticket_id", "created_at"],
    pg_wrap: &[],
};

pub const LINKS: Table = Table {
    name: "ticket_links",
    columns: &["ticket_id", "linked_id", "reason", "created_at"],
    pg_wrap: &[],
};

/// What a ticket row holds that never changes once written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixed {
    pub subject: String,
    pub body: String,
    pub requester: String,
    pub created_by: Option<UserId>,
    pub created_at: i64,
    pub requester_name: Option<String>,
    pub channel: Channel,
}

/// A ticket row: `fixed` for a new ticket, the rest for both a new ticket and a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRow {
    /// Handed out on write for a new ticket.
    pub id: i64,
    pub fixed: Option<Fixed>,
    pub status: Status,
    pub version: i64,
    pub assignee: Option<UserId>,
    pub updated_at: i64,
    pub milestones: Milestones,
    pub last_event_at: i64,
    pub last_event_kind: EventKind,
    /// Priority, category and the service-level clocks.
    pub sla: SlaRow,
}

impl TicketRow {
    /// The values of the columns a change rewrites, in `TICKETS` order.
    fn changing<'a>(&'a self, out: &mut Vec<Value<'a>>) {
        let m = &self.milestones;
        out.extend([
            Value::Text(Some(self.status.as_str())),
            Value::from(self.version),
            self.assignee.map(|u| u.0).into(),
            self.updated_at.into(),
            m.first_assigned_at.into(),
            m.first_response_at.into(),
            m.closed_at.into(),
            m.closed_by.map(|u| u.0).into(),
            (&m.resolution).into(),
            self.last_event_at.into(),
            Value::Text(Some(self.last_event_kind.as_str())),
            m.queued_since.into(),
            m.waiting_since.into(),
            m.rating.into(),
            (&m.rating_comment).into(),
        ]);
        let sla = &self.sla;
        out.extend([
            Value::Text(Some(sla.priority.as_str())),
            sla.category.into(),
        ]);
        for c in &sla.clocks {
            out.extend([
                Value::from(c.target_minutes),
                c.due_at.into(),
                c.business_secs.into(),
            ]);
        }
        out.extend([
            Value::from(sla.due_at),
            sla.warn_at.into(),
            sla.breach_at.into(),
            sla.notify_at.into(),
            sla.revision.into(),
        ]);
    }

    /// Every column's value, in `TICKETS` order; `None` if this row has no fixed part.
    fn all<'a>(&'a self, id: Option<i64>, out: &mut Vec<Value<'a>>) -> Option<()> {
        let f = self.fixed.as_ref()?;
        out.extend([
            Value::from(id),
            (&f.subject).into(),
            (&f.body).into(),
            (&f.requester).into(),
            f.created_by.map(|u| u.0).into(),
            f.created_at.into(),
            (&f.requester_name).into(),
            Value::from(f.channel.as_str()),
        ]);
        self.changing(out);
        Some(())
    }
}

/// A timeline event about to be appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub at: i64,
    pub actor_id: Option<UserId>,
    pub actor: String,
    pub kind: EventKind,
    /// `EventData` as JSON.
    pub data: String,
}

impl EventRow {
    pub fn new(kind: EventKind, data: &EventData, actor: &Actor, at: i64) -> Result<EventRow> {
        Ok(EventRow {
            at,
            actor_id: actor.user_id(),
            actor: actor.label(),
            kind,
            data: serde_json::to_string(data).map_err(|e| StorageError::Corrupt(e.to_string()))?,
        })
    }
}

/// What makes a new ticket's write conditional (besides its intake key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// A change: only if the ticket is still at this version.
    Version(i64),
    /// A ticket made from a held message: only if nobody released it yet; it is marked
    /// released by `by`.
    Quarantine { id: i64, by: Option<UserId> },
}

/// Everything one ticket write adds or changes. All of it is written, or none of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketWrite {
    pub row: TicketRow,
    /// Who had the ticket before a change (the live news tells them too).
    pub before_assignee: Option<UserId>,
    /// A message's key (its Message-ID, or an Idempotency-Key): a write whose key was seen
    /// before is not written; it answers with the ticket the first one made or changed.
    pub key: Option<String>,
    pub guard: Option<Guard>,
    pub events: Vec<EventRow>,
    pub counts: Vec<CountDelta>,
    pub figures: Vec<Delta>,
    /// Met and missed service-level clocks added or taken back (`sla_figures`).
    pub sla_figures: Vec<SlaDelta>,
    /// A new ticket's search document, or what a change adds to it (folded text).
    pub search: Vec<String>,
    /// Notices to send because of this write (their ticket and number are this ticket's).
    pub notices: Vec<NewNotice>,
    /// The SHA-256 of the status-page tokens the notices carry.
    pub status_links: Vec<String>,
    /// Files of the write's first event (the message they came with).
    pub attachments: Vec<Attachment>,
    /// A new ticket linked to another, with the reason.
    pub link: Option<(TicketId, String)>,
    /// When (intake key, notices, attachments, link).
    pub at: i64,
}

impl TicketWrite {
    pub fn is_new(&self) -> bool {
        self.row.fixed.is_some()
    }

    /// A ticket that just arrived by `actor` (a customer's message, or staff typing one in),
    /// with its classification and first clocks (`sla`).
    pub fn arrival(
        new: &NewTicket,
        actor: &Actor,
        at: i64,
        p: Projection,
        sla: SlaRow,
    ) -> Result<TicketWrite> {
        Ok(TicketWrite {
            before_assignee: None,
            row: TicketRow {
                id: 0,
                fixed: Some(Fixed {
                    subject: new.subject.clone(),
                    body: new.body.clone(),
                    requester: new.requester.clone(),
                    created_by: actor.user_id(),
                    created_at: at,
                    requester_name: new.requester_name.clone(),
                    channel: new.channel,
                }),
                status: Status::Nuevo,
                version: 1,
                assignee: None,
                updated_at: at,
                milestones: p.milestones,
                last_event_at: at,
                last_event_kind: p.last_event_kind,
                sla,
            },
            key: None,
            guard: None,
            events: vec![EventRow::new(
                EventKind::Created,
                &EventData::default(),
                actor,
                at,
            )?],
            counts: p.counts,
            figures: p.figures,
            sla_figures: Vec::new(),
            search: p.search,
            notices: Vec::new(),
            status_links: Vec::new(),
            attachments: Vec::new(),
            link: None,
            at,
        })
    }

    /// A decided change of `ticket` by `actor` at `at`, with what it leaves (`p`): written
    /// only if the ticket is still at the version it was decided on. Its clocks are the
    /// ticket's, with the new classification; the caller recomputes them (`sla`).
    pub fn change(
        ticket: &Ticket,
        change: &Change,
        p: Projection,
        actor: &Actor,
        at: i64,
    ) -> Result<TicketWrite> {
        Ok(TicketWrite {
            before_assignee: ticket.assignee_id,
            row: TicketRow {
                id: ticket.id.0,
                fixed: None,
                status: change.status,
                version: ticket.version + 1,
                assignee: change.assignee,
                updated_at: at,
                milestones: p.milestones,
                last_event_at: at,
                last_event_kind: p.last_event_kind,
                sla: match &change.classification {
                    Some(c) => SlaRow {
                        priority: c.priority,
                        category: c.category.as_ref().map(|c| c.id.0),
                        ..ticket.sla.clone()
                    },
                    None => ticket.sla.clone(),
                },
            },
            key: None,
            guard: Some(Guard::Version(ticket.version)),
            events: events(&change.events, actor, at)?,
            counts: p.counts,
            figures: p.figures,
            sla_figures: Vec::new(),
            search: p.search,
            notices: Vec::new(),
            status_links: Vec::new(),
            attachments: Vec::new(),
            link: None,
            at,
        })
    }
}

impl TicketWrite {
    /// Service-level bookkeeping on `ticket`: its clocks recomputed (`sla`, with what that
    /// changes in the daily figures) and any notices' events, by the system. The version
    /// stays: nothing a person decided on changed, so nobody's open form goes stale; the
    /// write still happens only if the ticket is at the version it was computed from.
    pub fn bookkeeping(
        ticket: &Ticket,
        sla: SlaRow,
        sla_figures: Vec<SlaDelta>,
        events: Vec<EventRow>,
        at: i64,
    ) -> TicketWrite {
        TicketWrite {
            before_assignee: ticket.assignee_id,
            status_links: Vec::new(),
            row: TicketRow {
                id: ticket.id.0,
                fixed: None,
                status: ticket.status,
                version: ticket.version,
                assignee: ticket.assignee_id,
                updated_at: ticket.updated_at,
                milestones: ticket.milestones(),
                last_event_at: ticket.last_event_at,
                last_event_kind: EventKind::parse(&ticket.last_event_kind)
                    .unwrap_or(EventKind::Created),
                sla,
            },
            key: None,
            guard: Some(Guard::Version(ticket.version)),
            events,
            counts: Vec::new(),
            figures: Vec::new(),
            sla_figures,
            search: Vec::new(),
            notices: Vec::new(),
            attachments: Vec::new(),
            link: None,
            at,
        }
    }
}

/// The events of a decision, as rows.
pub fn events(events: &[NewEvent], actor: &Actor, at: i64) -> Result<Vec<EventRow>> {
    events
        .iter()
        .map(|e| EventRow::new(e.kind, &e.data, actor, at))
        .collect()
}

/// What became of one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// A new ticket, with the id it was handed.
    Created(TicketId),
    /// A change; the ticket's new version.
    Changed { id: TicketId, version: i64 },
    /// Its key was seen before: nothing written; the ticket the key made or changed, now.
    Repeated { id: TicketId, status: Status },
    /// Its guard failed (someone changed the ticket, or released the message, first).
    Conflict,
}

/// Sizes of the multi-row statements for `n` rows: powers of two, largest first, at most
/// `max` rows, so an executor prepares a few statement shapes per table and reuses them, and
/// `n` rows take about log2(n) statements (plus n / max).
pub fn statement_sizes(mut n: usize, max: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut size = max.next_power_of_two();
    if size > max {
        size /= 2;
    }
    while n > 0 && size > 0 {
        while n >= size {
            out.push(size);
            n -= size;
        }
        size /= 2;
    }
    out
}

/// The text of multi-row `INSERT`s, built once per table, size and backend and kept. SQLite's
/// spell their placeholders `?N` (the same numbered parameter as `$N`, which both executors
/// take; a long statement then needs no rewriting on the native one).
#[derive(Debug, Default)]
pub struct Statements {
    texts: HashMap<(&'static str, usize, bool), String>,
}

impl Statements {
    /// `INSERT INTO table (cols) VALUES ($1, …), (…)` for `rows` rows.
    pub fn insert(&mut self, table: &Table, rows: usize, backend: Backend) -> &str {
        let pg = backend == Backend::Postgres;
        self.texts
            .entry((table.name, rows, pg))
            .or_insert_with(|| insert_text(table, rows, pg))
    }
}

fn insert_text(table: &Table, rows: usize, pg: bool) -> String {
    use std::fmt::Write as _;
    let width = table.columns.len();
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ",
        table.name,
        table.columns.join(", ")
    );
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            let p = format!("{}{}", if pg { '$' } else { '?' }, r * width + c + 1);
            match table.pg_wrap.iter().find(|(col, _)| pg && *col == c) {
                Some((_, f)) => sql.push_str(&f.replace("{}", &p)),
                None => {
                    let _ = write!(sql, "{p}");
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// `UPDATE tickets SET … WHERE id = $n AND version = $n+1`: a change, at the version seen.
pub fn change_text() -> String {
    let set: Vec<String> = TICKETS.columns[FIXED_COLUMNS..]
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 1))
        .collect();
    let n = TICKETS.columns.len() - FIXED_COLUMNS;
    format!(
        "UPDATE tickets SET {} WHERE id = ${} AND version = ${}",
        set.join(", "),
        n + 1,
        n + 2
    )
}

/// A new ticket's row, in `TICKETS` order; `id` is the one handed out, or `None` to let
/// SQLite number it (see `apply::next_ids`: the same number, without a seek a row).
pub fn ticket_row(row: &TicketRow, id: Option<i64>) -> Result<[Value<'_>; TICKET_COLUMNS]> {
    let mut out = Vec::with_capacity(TICKET_COLUMNS);
    row.all(id, &mut out)
        .ok_or_else(|| StorageError::Corrupt("a new ticket without its fixed columns".into()))?;
    out.try_into()
        .map_err(|_| StorageError::Corrupt("a ticket row of the wrong width".into()))
}

/// A timeline event's row, in `EVENTS` order; `id` as for `ticket_row`.
pub fn event_row(id: Option<i64>, ticket: i64, e: &EventRow) -> [Value<'_>; 7] {
    [
        id.into(),
        ticket.into(),
        e.at.into(),
        e.actor_id.map(|u| u.0).into(),
        (&e.actor).into(),
        Value::Text(Some(e.kind.as_str())),
        (&e.data).into(),
    ]
}

/// An intake key's row, in `INTAKE_KEYS` order.
pub fn key_row(key: &str, ticket: i64, at: i64) -> [Value<'_>; 3] {
    [key.into(), ticket.into(), at.into()]
}

/// What a notice stores besides its own fields: the recipient folded to lower case, its
/// parameters as JSON (with the ticket's number, known only now), its references joined.
#[derive(Debug)]
pub struct NoticeTexts {
    recipient: String,
    params: String,
    refs: Option<String>,
}

pub fn notice_texts(ticket: i64, event: Option<i64>, n: &NewNotice) -> Result<NoticeTexts> {
    let mut params = n.params.clone();
    params.number = crate::domain::ids::TicketNumber(TicketId(ticket)).to_string();
    params.ticket_id = Some(ticket);
    params.event_id = event;
    Ok(NoticeTexts {
        recipient: n.recipient.to_lowercase(),
        params: serde_json::to_string(&params).map_err(|e| StorageError::Corrupt(e.to_string()))?,
        refs: (!n.references.is_empty()).then(|| n.references.join(" ")),
    })
}

/// A pending notice's row, due at `at`, in `OUTBOX` order.
pub fn notice_row<'a>(
    ticket: i64,
    n: &'a NewNotice,
    t: &'a NoticeTexts,
    at: i64,
) -> [Value<'a>; 11] {
    [
        Value::Text(Some(n.kind.as_str())),
        ticket.into(),
        t.recipient.as_str().into(),
        t.params.as_str().into(),
        (&n.token).into(),
        (&n.in_reply_to).into(),
        (&t.refs).into(),
        "pending".into(),
        0i64.into(),
        at.into(),
        at.into(),
    ]
}

/// An attachment's row, in `ATTACHMENTS` order (`data` is null when only its record is
/// kept); `event` is the message it came with.
pub fn attachment_row(ticket: i64, a: &Attachment, at: i64, event: Option<i64>) -> [Value<'_>; 7] {
    [
        ticket.into(),
        (&a.filename).into(),
        (&a.content_type).into(),
        (a.size as i64).into(),
        Value::Blob(a.data.as_deref()),
        at.into(),
        event.into(),
    ]
}

/// A status-page link's row, in `STATUS_LINKS` order.
pub fn status_link_row(hash: &str, ticket: i64, at: i64) -> [Value<'_>; 3] {
    [hash.into(), ticket.into(), at.into()]
}

/// A link between two tickets, in `LINKS` order.
pub fn link_row(ticket: i64, to: TicketId, reason: &str, at: i64) -> [Value<'_>; 4] {
    [ticket.into(), to.0.into(), reason.into(), at.into()]
}

/// The values of `change_text` for a change seen at `seen`.
pub fn change_values(row: &TicketRow, seen: i64) -> Vec<Value<'_>> {
    let mut out = Vec::with_capacity(TICKETS.columns.len());
    row.changing(&mut out);
    out.push(row.id.into());
    out.push(seen.into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_split_into_powers_of_two() {
        assert_eq!(statement_sizes(0, 256), Vec::<usize>::new());
        assert_eq!(statement_sizes(30, 256), [16, 8, 4, 2]);
        assert_eq!(statement_sizes(600, 256), [256, 256, 64, 16, 8]);
        assert_eq!(statement_sizes(200, 64), [64, 64, 64, 8]);
        assert_eq!(statement_sizes(7, 5), [4, 2, 1]);
        for n in 0..1000 {
            assert_eq!(statement_sizes(n, 64).iter().sum::<usize>(), n);
            assert!(statement_sizes(n, 64).iter().all(|s| *s <= 64));
        }
    }

    #[test]
    fn a_multi_row_insert_numbers_its_placeholders_in_order() {
        let mut s = Statements::default();
        assert_eq!(
            s.insert(&LINKS, 2, Backend::Postgres),
            "INSERT INTO ticket_links (ticket_id, linked_id, reason, created_at) VALUES \
             ($1, $2, $3, $4), ($5, $6, $7, $8)"
        );
        assert_eq!(
            s.insert(&SEARCH, 1, Backend::Postgres),
            "INSERT INTO ticket_search (ticket_id, doc) VALUES ($1, to_tsvector('simple', $2))"
        );
        assert_eq!(
            s.insert(&SEARCH, 1, Backend::Sqlite),
            "INSERT INTO ticket_search (ticket_id, doc) VALUES (?1, ?2)"
        );
    }

    #[test]
    fn a_change_binds_every_changing_column_then_the_id_and_version() {
        let text = change_text();
        assert!(text.starts_with("UPDATE tickets SET status = $1, version = $2,"));
        assert!(text.ends_with("sla_revision = $31 WHERE id = $32 AND version = $33"));
        let row = TicketRow {
            id: 9,
            fixed: None,
            status: Status::Asignado,
            version: 3,
            assignee: Some(UserId(4)),
            updated_at: 10,
            milestones: Milestones::default(),
            last_event_at: 10,
            last_event_kind: EventKind::Assigned,
            sla: SlaRow::default(),
        };
        let values = change_values(&row, 2);
        assert_eq!(values.len(), 33);
        assert_eq!(values[15], Value::Text(Some("media")));
        assert_eq!(values[31], Value::Int(Some(9)));
        assert_eq!(values[32], Value::Int(Some(2)));
        assert!(ticket_row(&row, Some(9)).is_err());
        assert_eq!(TICKETS.columns.len(), TICKET_COLUMNS);
    }
}

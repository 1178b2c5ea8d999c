//! SQLite's intake writer: the statements `tickets::insert_many`, `tickets::*_intake_keys` and
//! `mail::enqueue_many` run for a batch of deliveries, on a native connection the intake
//! writer owns (no async round trip per statement; prepared statements reused). Its commits
//! skip SQLite's inline checkpoints: a `native::Checkpointer` runs them beside it.
//!
//! The rows written are the same as through the pool (the SQLite integration tests take this
//! path for every intake); PostgreSQL and in-memory SQLite keep the pooled path.

use super::native::insert_rows;
use super::tickets::{NewRow, arrivals_per_day, new_ticket_document};
use super::{Result, StorageError};
use crate::domain::figures::Figure;
use crate::domain::ids::TicketId;
use crate::domain::mail::NewNotice;
use crate::domain::ticket::Status;
use crate::domain::timeline::{EventData, EventKind};
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::HashMap;
use std::path::Path;

/// Rows per multi-row statement (the rest go one by one): one statement run for a whole batch
/// also builds the `status IN (…)` lookup tables of the CHECK and partial indexes once.
const ROWS: usize = 32;

/// The intake writer's own connection to the SQLite file.
pub struct SqliteWriter {
    conn: rusqlite::Connection,
}

impl SqliteWriter {
    /// Opens the file the pool uses, with the pool's durability (WAL, `synchronous = FULL`:
    /// a commit is on disk when it returns) but without inline checkpoints: `Checkpointer`
    /// runs them beside the writer, so no delivery waits for one.
    pub fn open(path: &Path) -> Result<SqliteWriter> {
        let conn = rusqlite::Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; \
             PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;",
        )?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(SqliteWriter { conn })
    }

    /// A write transaction (`BEGIN IMMEDIATE`, like the pool's writers).
    pub fn begin(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
    }
}

fn corrupt(e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(e.to_string())
}

/// The tickets that earlier deliveries with these keys created.
pub fn find_intake_keys(tx: &Transaction<'_>, keys: &[&str]) -> Result<HashMap<String, TicketId>> {
    let mut found = HashMap::new();
    let mut stmt = tx.prepare_cached("SELECT ticket_id FROM intake_keys WHERE key = ?1")?;
    for key in keys {
        if let Some(id) = stmt
            .query_row(params![key], |r| r.get::<_, i64>(0))
            .optional()?
        {
            found.insert((*key).to_string(), TicketId(id));
        }
    }
    Ok(found)
}

/// New tickets with their "created" event, search document, counter and arrival figures,
/// as `tickets::insert_many` writes them. Returns the ids, in order.
pub fn insert_tickets(tx: &Transaction<'_>, rows: &[NewRow<'_>]) -> Result<Vec<TicketId>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // The write transaction is exclusive, so the next ids are the largest + 1, …
    let max: Option<i64> = tx
        .prepare_cached("SELECT MAX(id) FROM tickets")?
        .query_row([], |r| r.get(0))?;
    let first = max.unwrap_or(0) + 1;
    let items: Vec<(i64, &NewRow<'_>)> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| (first + i as i64, row))
        .collect();
    insert_rows(
        tx,
        "tickets",
        "id, status, version, subject, body, requester, created_by, created_at, updated_at, \
         last_event_at, last_event_kind, queued_since",
        "(?, 'nuevo', 1, ?, ?, ?, ?, ?, ?, ?, 'created', ?)",
        ROWS,
        &items,
        |s, i, (id, row)| {
            s.raw_bind_parameter(i, id)?;
            s.raw_bind_parameter(i + 1, &row.new.subject)?;
            s.raw_bind_parameter(i + 2, &row.new.body)?;
            s.raw_bind_parameter(i + 3, &row.new.requester)?;
            s.raw_bind_parameter(i + 4, row.actor.user_id().map(|u| u.0))?;
            for c in 5..9 {
                s.raw_bind_parameter(i + c, row.at)?;
            }
            Ok(9)
        },
    )?;
    let created = serde_json::to_string(&EventData::default()).map_err(corrupt)?;
    insert_rows(
        tx,
        "ticket_events",
        "ticket_id, at, actor_id, actor, kind, data",
        "(?, ?, ?, ?, ?, ?)",
        ROWS,
        &items,
        |s, i, (id, row)| {
            s.raw_bind_parameter(i, id)?;
            s.raw_bind_parameter(i + 1, row.at)?;
            s.raw_bind_parameter(i + 2, row.actor.user_id().map(|u| u.0))?;
            s.raw_bind_parameter(i + 3, row.actor.label())?;
            s.raw_bind_parameter(i + 4, EventKind::Created.as_str())?;
            s.raw_bind_parameter(i + 5, &created)?;
            Ok(6)
        },
    )?;
    {
        // One row per statement: FTS5 flushes its pending terms at every statement's
        // savepoint, so a multi-row statement would only make more, smaller segments.
        let mut search =
            tx.prepare_cached("INSERT INTO ticket_search (rowid, doc) VALUES (?1, ?2)")?;
        for (id, row) in &items {
            search.execute(params![id, new_ticket_document(row.new)])?;
        }
    }
    tx.prepare_cached(
        "INSERT INTO ticket_counts (status, assignee_id, n) VALUES (?1, 0, ?2) \
         ON CONFLICT (status, assignee_id) DO UPDATE SET n = ticket_counts.n + excluded.n",
    )?
    .execute(params![Status::Nuevo.as_str(), rows.len() as i64])?;
    let mut arrivals = tx.prepare_cached(
        "INSERT INTO daily_figures (day, figure, n, people) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (day, figure) DO UPDATE SET n = daily_figures.n + excluded.n",
    )?;
    for (day, n) in arrivals_per_day(rows) {
        arrivals.execute(params![day, Figure::Created.code(), n, Vec::<u8>::new()])?;
    }
    Ok(items.iter().map(|(id, _)| TicketId(*id)).collect())
}

/// Remembers which ticket each key created.
pub fn insert_intake_keys(tx: &Transaction<'_>, keys: &[(&str, TicketId)], at: i64) -> Result<()> {
    insert_rows(
        tx,
        "intake_keys",
        "key, ticket_id, created_at",
        "(?, ?, ?)",
        ROWS,
        keys,
        |s, i, (key, id)| {
            s.raw_bind_parameter(i, key)?;
            s.raw_bind_parameter(i + 1, id.0)?;
            s.raw_bind_parameter(i + 2, at)?;
            Ok(3)
        },
    )
}

/// Pending notices due now, as `mail::enqueue_many` writes them.
pub fn enqueue_notices(tx: &Transaction<'_>, notices: &[NewNotice], at: i64) -> Result<()> {
    let rows: Vec<(&NewNotice, String, Option<String>)> = notices
        .iter()
        .map(|n| {
            let (params, refs) = super::mail::notice_texts(n)?;
            Ok((n, params, refs))
        })
        .collect::<Result<_>>()?;
    insert_rows(
        tx,
        "mail_outbox",
        super::mail::NEW_NOTICE_COLUMNS,
        "(?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
        ROWS,
        &rows,
        |s, i, (n, params, refs)| {
            s.raw_bind_parameter(i, n.kind.as_str())?;
            s.raw_bind_parameter(i + 1, n.ticket.0)?;
            s.raw_bind_parameter(i + 2, n.recipient.to_lowercase())?;
            s.raw_bind_parameter(i + 3, params)?;
            s.raw_bind_parameter(i + 4, &n.token)?;
            s.raw_bind_parameter(i + 5, &n.in_reply_to)?;
            s.raw_bind_parameter(i + 6, refs)?;
            s.raw_bind_parameter(i + 7, at)?;
            s.raw_bind_parameter(i + 8, at)?;
            Ok(9)
        },
    )
}

/// A ticket's status now (`None` if there is no such ticket).
pub fn ticket_status(tx: &Transaction<'_>, id: TicketId) -> Result<Option<Status>> {
    let status: Option<String> = tx
        .prepare_cached("SELECT status FROM tickets WHERE id = ?1")?
        .query_row(params![id.0], |r| r.get(0))
        .optional()?;
    status
        .map(|s| Status::parse(&s).ok_or_else(|| corrupt(format!("status {s}"))))
        .transpose()
}

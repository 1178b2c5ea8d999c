//! SQLite's intake writer: the statements `tickets::insert_many`, `tickets::*_intake_keys` and
//! `mail::enqueue_many` run for a batch of deliveries, on a native connection the intake
//! writer owns (no async round trip per statement; prepared statements reused), and the
//! background checkpointer that lets its commits skip SQLite's inline checkpoints.
//!
//! The rows written are the same as through the pool (the SQLite integration tests take this
//! path for every intake); PostgreSQL and in-memory SQLite keep the pooled path.

use super::{Result, StorageError};
use crate::domain::figures::{Figure, created as created_figure};
use crate::domain::ids::TicketId;
use crate::domain::mail::NewNotice;
use crate::domain::search::document;
use crate::domain::ticket::Status;
use crate::domain::timeline::{EventData, EventKind};
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::tickets::NewRow;

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

/// `INSERT INTO table (cols) VALUES (…), …` for `rows` rows; `values` is one row's list.
fn insert_sql(table: &str, cols: &str, values: &str, rows: usize) -> String {
    format!(
        "INSERT INTO {table} ({cols}) VALUES {}",
        vec![values; rows].join(", ")
    )
}

/// Runs `insert_sql` over `items` in statements of `ROWS` rows and then single rows; `bind`
/// binds one item from the given 1-based parameter index and returns how many it bound.
fn insert_all<T>(
    tx: &Transaction<'_>,
    table: &str,
    cols: &str,
    values: &str,
    items: &[T],
    bind: impl Fn(&mut rusqlite::Statement<'_>, usize, &T) -> Result<usize>,
) -> Result<()> {
    let mut chunks = items.chunks_exact(ROWS);
    if chunks.len() > 0 {
        let mut stmt = tx.prepare_cached(&insert_sql(table, cols, values, ROWS))?;
        for chunk in &mut chunks {
            let mut at = 1;
            for item in chunk {
                at += bind(&mut stmt, at, item)?;
            }
            stmt.raw_execute()?;
        }
    }
    if !chunks.remainder().is_empty() {
        let mut stmt = tx.prepare_cached(&insert_sql(table, cols, values, 1))?;
        for item in chunks.remainder() {
            bind(&mut stmt, 1, item)?;
            stmt.raw_execute()?;
        }
    }
    Ok(())
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
    insert_all(
        tx,
        "tickets",
        "id, status, version, subject, body, requester, created_by, created_at, updated_at, \
         last_event_at, last_event_kind, queued_since",
        "(?, 'nuevo', 1, ?, ?, ?, ?, ?, ?, ?, 'created', ?)",
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
    insert_all(
        tx,
        "ticket_events",
        "ticket_id, at, actor_id, actor, kind, data",
        "(?, ?, ?, ?, ?, ?)",
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
            let doc = document(&format!(
                "{} {} {}",
                row.new.subject, row.new.body, row.new.requester
            ));
            search.execute(params![id, doc])?;
        }
    }
    tx.prepare_cached(
        "INSERT INTO ticket_counts (status, assignee_id, n) VALUES (?1, 0, ?2) \
         ON CONFLICT (status, assignee_id) DO UPDATE SET n = ticket_counts.n + excluded.n",
    )?
    .execute(params![Status::Nuevo.as_str(), rows.len() as i64])?;
    let mut per_day: std::collections::BTreeMap<i64, i64> = Default::default();
    for row in rows {
        *per_day.entry(created_figure(row.at).day).or_default() += 1;
    }
    let mut arrivals = tx.prepare_cached(
        "INSERT INTO daily_figures (day, figure, n, people) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (day, figure) DO UPDATE SET n = daily_figures.n + excluded.n",
    )?;
    for (day, n) in per_day {
        arrivals.execute(params![day, Figure::Created.code(), n, Vec::<u8>::new()])?;
    }
    Ok(items.iter().map(|(id, _)| TicketId(*id)).collect())
}

/// Remembers which ticket each key created.
pub fn insert_intake_keys(tx: &Transaction<'_>, keys: &[(&str, TicketId)], at: i64) -> Result<()> {
    insert_all(
        tx,
        "intake_keys",
        "key, ticket_id, created_at",
        "(?, ?, ?)",
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
            let params = serde_json::to_string(&n.params).map_err(corrupt)?;
            let refs = (!n.references.is_empty()).then(|| n.references.join(" "));
            Ok((n, params, refs))
        })
        .collect::<Result<_>>()?;
    insert_all(
        tx,
        "mail_outbox",
        super::mail::NEW_NOTICE_COLUMNS,
        "(?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
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

/// A WAL this long (in pages: 64 MB) is restarted after the round's passive checkpoint: a
/// writer only starts the WAL over once every frame is copied, which under constant writes
/// never happens by itself, and a WAL that only grows costs every append a block allocation
/// and every read a longer WAL-index search.
const RESTART_FROM_FRAMES: i64 = 16384;

/// Past this length (1 GB) a restart waits up to `FORCED_RESTART_WAIT` for its moment even
/// when the policy says not to wait.
const FORCE_RESTART_FROM_FRAMES: i64 = 262_144;
const FORCED_RESTART_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// How a `Checkpointer` works.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointPolicy {
    /// How often a round runs.
    pub every: std::time::Duration,
    /// fsync the database after each checkpoint (a server's normal settings); without it
    /// the caller makes the end result durable itself (a bulk load).
    pub durable: bool,
    /// How long a restart may wait for writers and readers to finish, holding new writers
    /// back meanwhile. A server does not wait (a restart that waited held a delivery back for
    /// most of a second); a bulk load, the only writer, waits for its next chunk.
    pub restart_wait: std::time::Duration,
}

/// Copies what commits wrote to the WAL into the database file on a thread of its own, every
/// `every`, with passive checkpoints (they never wait for or block a writer; a round that
/// finds the database busy is simply retried on the next), and restarts a long WAL. Stopped
/// and joined when dropped.
pub struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    pub fn start(path: PathBuf, policy: CheckpointPolicy) -> Checkpointer {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".to_string())
            .spawn(move || {
                let conn = match rusqlite::Connection::open(&path).and_then(|c| {
                    let sync = if policy.durable { "FULL" } else { "OFF" };
                    c.execute_batch(&format!("PRAGMA synchronous = {sync};"))?;
                    Ok(c)
                }) {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::warn!(error = %e, "the WAL checkpointer could not open the database");
                        return;
                    }
                };
                let step = std::time::Duration::from_millis(20).min(policy.every);
                let mut waited = std::time::Duration::ZERO;
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(step);
                    waited += step;
                    if waited >= policy.every {
                        waited = std::time::Duration::ZERO;
                        checkpoint_round(&conn, &policy);
                    }
                }
            })
            .ok();
        Checkpointer { stop, thread }
    }
}

fn checkpoint_round(conn: &rusqlite::Connection, policy: &CheckpointPolicy) {
    // (busy, frames in the WAL) after a checkpoint in `mode`.
    let checkpoint = |mode: &str, wait: std::time::Duration| -> rusqlite::Result<(i64, i64)> {
        conn.busy_timeout(wait)?;
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
    };
    if let Ok((_, frames)) = checkpoint("PASSIVE", std::time::Duration::ZERO) {
        if frames >= RESTART_FROM_FRAMES {
            let started = std::time::Instant::now();
            let wait = if frames >= FORCE_RESTART_FROM_FRAMES {
                policy.restart_wait.max(FORCED_RESTART_WAIT)
            } else {
                policy.restart_wait
            };
            let restarted = matches!(checkpoint("RESTART", wait), Ok((0, _)));
            tracing::debug!(
                frames,
                restarted,
                ms = started.elapsed().as_millis() as u64,
                "WAL restart"
            );
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

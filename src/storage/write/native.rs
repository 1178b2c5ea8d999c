//! The native executor: a rusqlite connection of its own to a SQLite file, beside the pool.
//! No async round trip per statement and prepared statements reused, on a blocking thread:
//! it writes several times faster than the pool. Its commits skip SQLite's inline WAL
//! checkpoints: a `Checkpointer` thread runs them beside it, so no commit waits for one.
//!
//! It writes what the pooled executor writes: both run the same `write::apply`.

use super::super::{Backend, Result, StorageError};
use super::exec::{Cell, Exec, Kind, Value};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The server's writer: every commit durable (`synchronous = FULL`), foreign keys checked.
    Serve,
    /// A bulk load (`soporte demo`): no fsync per commit and no foreign-key checks on rows
    /// generated consistent; a big page cache. The load is made durable once, at its end.
    Bulk,
}

/// A native connection to the SQLite file.
pub struct NativeConn {
    conn: rusqlite::Connection,
}

impl NativeConn {
    pub fn open(path: &Path, purpose: Purpose) -> Result<NativeConn> {
        let conn = rusqlite::Connection::open(path)?;
        conn.execute_batch(match purpose {
            Purpose::Serve => {
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                 PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0; PRAGMA temp_store = MEMORY;"
            }
            Purpose::Bulk => {
                "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = OFF; \
                 PRAGMA cache_size = -262144; PRAGMA synchronous = OFF; \
                 PRAGMA wal_autocheckpoint = 0; PRAGMA temp_store = MEMORY;"
            }
        })?;
        if purpose == Purpose::Serve {
            conn.busy_handler(Some(wait_for_the_lock))?;
        }
        conn.set_prepared_statement_cache_capacity(96);
        Ok(NativeConn { conn })
    }

    pub fn begin(&mut self) -> Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    pub fn commit(&mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    /// Ends a failed transaction (nothing to do if SQLite already rolled it back).
    pub fn rollback(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    pub fn executor(&mut self) -> Native<'_> {
        Native {
            conn: &mut self.conn,
        }
    }

    /// After a bulk load: statements that maintain what the load skipped (indexes rebuilt,
    /// the search index merged), then a durable checkpoint; the connection closes.
    pub fn finish_bulk(self, maintenance: &[(String, String)]) -> Result<()> {
        self.conn.execute_batch("PRAGMA threads = 2;")?;
        for (name, sql) in maintenance {
            let t = std::time::Instant::now();
            self.conn.execute_batch(sql)?;
            tracing::debug!(what = %name, ms = t.elapsed().as_millis() as u64, "bulk load maintenance");
        }
        let t = std::time::Instant::now();
        self.conn
            .execute_batch("PRAGMA synchronous = FULL; PRAGMA wal_checkpoint(TRUNCATE);")?;
        tracing::debug!(ms = t.elapsed().as_millis() as u64, "bulk load checkpoint");
        self.conn.close().map_err(|(_, e)| StorageError::Native(e))
    }
}

/// How the server's writer waits for the write lock another connection holds (a pooled
/// write: a sign-in, a lease, a chat notice): in short steps, so it starts within a fraction
/// of a millisecond of the lock's release. SQLite's own handler behind `busy_timeout` sleeps
/// 1, 2, 5, 10, 15, 20, 25 … ms in turn: a lock released after 3.5 ms is seen only at 8.
/// Gives up after about ten seconds (the error reaches the callers, as before).
fn wait_for_the_lock(tries: i32) -> bool {
    match lock_wait_step(tries) {
        Some(step) => {
            std::thread::sleep(step);
            true
        }
        None => false,
    }
}

/// How long the writer sleeps before its try number `tries` + 1 for the write lock, or
/// `None` once it gives up: 100 µs steps for the first 0.2 s, then 1 ms steps.
fn lock_wait_step(tries: i32) -> Option<std::time::Duration> {
    const SHORT_STEPS: i32 = 2_000;
    const LONG_STEPS: i32 = 9_800;
    if tries < SHORT_STEPS {
        Some(std::time::Duration::from_micros(100))
    } else if tries < SHORT_STEPS + LONG_STEPS {
        Some(std::time::Duration::from_millis(1))
    } else {
        None
    }
}

/// The executor over a native connection in a transaction.
pub struct Native<'c> {
    conn: &'c mut rusqlite::Connection,
}

/// `$n` → `?n`: the same numbered parameter in SQLite's own spelling (rusqlite binds by
/// position, and `$n` would be a named parameter numbered by first appearance).
fn sqlite_placeholders(sql: &str) -> Cow<'_, str> {
    if sql.contains('$') {
        Cow::Owned(sql.replace('$', "?"))
    } else {
        Cow::Borrowed(sql)
    }
}

fn bind(stmt: &mut rusqlite::CachedStatement<'_>, args: &[Value<'_>]) -> rusqlite::Result<()> {
    for (i, v) in args.iter().enumerate() {
        match *v {
            Value::Int(x) => stmt.raw_bind_parameter(i + 1, x)?,
            Value::Text(x) => stmt.raw_bind_parameter(i + 1, x)?,
            Value::Blob(x) => stmt.raw_bind_parameter(i + 1, x)?,
        }
    }
    Ok(())
}

impl Exec for Native<'_> {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn max_rows(&self) -> usize {
        // One statement run builds the CHECK's and partial indexes' `status IN (…)` lookup
        // tables once: 64 rows a statement made a bulk load ~10 µs a ticket faster.
        64
    }

    async fn run(&mut self, sql: &str, args: &[Value<'_>]) -> Result<u64> {
        let mut stmt = self.conn.prepare_cached(&sqlite_placeholders(sql))?;
        bind(&mut stmt, args)?;
        Ok(stmt.raw_execute()? as u64)
    }

    async fn rows(
        &mut self,
        sql: &str,
        args: &[Value<'_>],
        kinds: &[Kind],
    ) -> Result<Vec<Vec<Cell>>> {
        let mut stmt = self.conn.prepare_cached(&sqlite_placeholders(sql))?;
        bind(&mut stmt, args)?;
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let cells = kinds
                .iter()
                .enumerate()
                .map(|(i, kind)| {
                    Ok(match kind {
                        Kind::Int => Cell::Int(row.get(i)?),
                        Kind::Text => Cell::Text(row.get(i)?),
                        Kind::Blob => Cell::Blob(row.get(i)?),
                    })
                })
                .collect::<rusqlite::Result<Vec<Cell>>>()?;
            out.push(cells);
        }
        Ok(out)
    }
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

/// How often a merge step runs: often enough that a level rarely holds many segments.
const MERGE_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

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
    /// Merge the search index's small segments between the writer's commits (the index does
    /// not merge inside them, see migration 0131).
    pub merge_search: bool,
}

impl CheckpointPolicy {
    pub fn for_purpose(purpose: Purpose) -> CheckpointPolicy {
        match purpose {
            // Each round ends with an fsync of the database file that slows the writer's own
            // fsyncs while it lasts: fewer, larger rounds cost intake less.
            Purpose::Serve => CheckpointPolicy {
                every: std::time::Duration::from_secs(1),
                durable: true,
                restart_wait: std::time::Duration::ZERO,
                merge_search: true,
            },
            // Most of the copying happens on the core the loader does not use, so the final,
            // durable checkpoint has little left to do.
            Purpose::Bulk => CheckpointPolicy {
                every: std::time::Duration::from_millis(100),
                durable: false,
                restart_wait: std::time::Duration::from_millis(100),
                // The load merges the whole index once, at its end.
                merge_search: false,
            },
        }
    }
}

/// Copies what commits wrote to the WAL into the database file on a thread of its own, every
/// `every`, with passive checkpoints (they never wait for or block a writer; a round that
/// finds the database busy is simply retried on the next), and restarts a long WAL; for a
/// server it also merges the search index's small segments, a step at a time between the
/// writer's commits. Stopped and joined when dropped.
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
                let mut since_merge = std::time::Duration::ZERO;
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(step);
                    waited += step;
                    since_merge += step;
                    if policy.merge_search && since_merge >= MERGE_EVERY {
                        since_merge = std::time::Duration::ZERO;
                        merge_search(&conn);
                    }
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

/// Pages of search-index segments one merge step writes, in a write transaction of its
/// own between the writer's: the writer waits for a step, so steps are small and frequent
/// (40 pages every 20 ms; 200 every 100 ms held the write lock for tens of milliseconds).
const MERGE_PAGES: i64 = 40;
/// How long a merge step waits for the writer's transaction to end before trying next time.
const MERGE_WAIT: std::time::Duration = std::time::Duration::from_millis(5);

/// One step of merging the search index's small segments (levels holding 16, FTS5's largest
/// `usermerge`, migration 0230), if the writer lets it in soon.
fn merge_search(conn: &rusqlite::Connection) {
    let step = || -> rusqlite::Result<()> {
        conn.busy_timeout(MERGE_WAIT)?;
        let started = std::time::Instant::now();
        conn.execute(
            "INSERT INTO ticket_search (ticket_search, rank) VALUES ('merge', ?1)",
            [MERGE_PAGES],
        )?;
        tracing::trace!(
            us = started.elapsed().as_micros() as u64,
            "search index merge step"
        );
        Ok(())
    };
    if let Err(e) = step()
        && !matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy)
        )
    {
        tracing::debug!(error = %e, "search index merge step");
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
    if let Ok((_, frames)) = checkpoint("PASSIVE", std::time::Duration::ZERO)
        && frames >= RESTART_FROM_FRAMES
    {
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

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_keep_their_numbers() {
        assert_eq!(
            super::sqlite_placeholders("UPDATE t SET a = $2 WHERE id = $1"),
            "UPDATE t SET a = ?2 WHERE id = ?1"
        );
        assert_eq!(super::sqlite_placeholders("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn the_writer_tries_for_the_lock_often_at_first_and_for_ten_seconds_in_all() {
        let steps: Vec<std::time::Duration> = (0..).map_while(super::lock_wait_step).collect();
        assert!(
            steps[..2_000]
                .iter()
                .all(|s| *s <= std::time::Duration::from_micros(100)),
            "the first tries follow each other within 100 µs"
        );
        let total: std::time::Duration = steps.iter().sum();
        assert!(
            total >= std::time::Duration::from_secs(9)
                && total <= std::time::Duration::from_secs(11),
            "{total:?}"
        );
    }

    /// The server's writer waits for a write lock another connection holds (here for 300 ms,
    /// past SQLite's default of failing at once) and writes once it is released.
    #[test]
    fn the_writer_waits_for_another_connections_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock.db");
        let other = rusqlite::Connection::open(&path).unwrap();
        other
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER);")
            .unwrap();
        let mut writer = super::NativeConn::open(&path, super::Purpose::Serve).unwrap();
        other
            .execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
            .unwrap();
        let (held, release) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            release.recv().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
            other.execute_batch("COMMIT").unwrap();
        });
        held.send(()).unwrap();
        writer.begin().expect("the writer waits instead of failing");
        writer
            .conn
            .execute_batch("INSERT INTO t VALUES (2);")
            .unwrap();
        writer.commit().unwrap();
        holder.join().unwrap();
        let rows: i64 = writer
            .conn
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2, "both writes are there, the held one first");
    }
}

//! Shared pieces of the native (rusqlite) SQLite connections beside the pool: multi-row
//! inserts through prepared statements, and the background WAL checkpointer. Used by the
//! intake writer (`intake`) and the demo loader (`demo`).

use super::Result;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// `(?, ?, …)`: one row of `n` parameters.
pub fn params_row(n: usize) -> String {
    format!("({})", vec!["?"; n].join(", "))
}

/// Inserts `items` with `INSERT INTO table (cols) VALUES values, …` statements of
/// `per_statement` rows, then one row per statement for the rest; `values` is one row's list
/// (`?` for each bound value). `bind` binds one item from the given 1-based parameter index
/// and returns how many parameters it bound.
pub fn insert_rows<T>(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    cols: &str,
    values: &str,
    per_statement: usize,
    items: &[T],
    bind: impl Fn(&mut rusqlite::Statement<'_>, usize, &T) -> rusqlite::Result<usize>,
) -> Result<()> {
    let sql = |rows: usize| {
        format!(
            "INSERT INTO {table} ({cols}) VALUES {}",
            vec![values; rows].join(", ")
        )
    };
    let mut chunks = items.chunks_exact(per_statement);
    if chunks.len() > 0 {
        let mut stmt = tx.prepare_cached(&sql(per_statement))?;
        for chunk in &mut chunks {
            let mut at = 1;
            for item in chunk {
                at += bind(&mut stmt, at, item)?;
            }
            stmt.raw_execute()?;
        }
    }
    if !chunks.remainder().is_empty() {
        let mut stmt = tx.prepare_cached(&sql(1))?;
        for item in chunks.remainder() {
            bind(&mut stmt, 1, item)?;
            stmt.raw_execute()?;
        }
    }
    Ok(())
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

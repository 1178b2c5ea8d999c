//! Read replicas (`--database-replica`, PostgreSQL streaming replicas): which one may serve a
//! read now. A background task looks at every replica once a second (never per request):
//! how far it has replayed the primary's WAL and how long ago it was last caught up with a
//! position the primary had reached. A replica that does not answer, or that lags more than
//! `--replica-max-lag-seconds`, is skipped until it catches up again.
//!
//! Read-your-writes: after a signed-in person's write commits, the primary's WAL position is
//! recorded against them in `replica_marks` (in the database, so every instance knows it);
//! their reads go to a replica only once that replica has replayed past it, else to the
//! primary. Only reads the service layer sends here (lists, search, views, dashboard,
//! export) ever touch a replica. SQLite has no replicas: the list is then empty.

use super::{Conn, Result, Url};
use crate::domain::ids::UserId;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, ConnectOptions};
use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the replicas are looked at.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The primary's WAL position as a byte offset (`pg_lsn` minus `0/0`).
const PRIMARY_LSN: &str = "SELECT CAST(pg_current_wal_lsn() - '0/0'::pg_lsn AS BIGINT)";
/// A replica's replayed position, whether it is a replica at all, and how long ago (ms) the
/// primary committed the last transaction it replayed.
const REPLAYED_LSN: &str = "SELECT CAST(pg_last_wal_replay_lsn() - '0/0'::pg_lsn AS BIGINT), \
     CAST(pg_is_in_recovery() AS INTEGER), \
     CAST(EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp())) * 1000 AS BIGINT)";

/// What the last look at one replica found.
#[derive(Debug, Clone, Copy, Default)]
struct Health {
    /// Answered, is a replica, and lags no more than the limit.
    usable: bool,
    /// Its replayed WAL position at the last look.
    replayed: i64,
}

#[derive(Debug)]
struct Replica {
    pool: AnyPool,
    /// `host:port/database`, for logs (never the password).
    name: String,
    health: Mutex<Health>,
}

/// The replicas of one primary.
#[derive(Debug)]
pub struct Replicas {
    list: Vec<Replica>,
    max_lag: Duration,
    next: AtomicUsize,
    /// Whether the checker runs (started by the first read that could use a replica).
    started: Mutex<bool>,
}

/// A read connection, and the replica it came from (`None`: the primary).
pub struct Reader {
    conn: sqlx::pool::PoolConnection<sqlx::Any>,
    replica: Option<usize>,
}

impl Reader {
    pub(crate) fn primary(conn: sqlx::pool::PoolConnection<sqlx::Any>) -> Reader {
        Reader {
            conn,
            replica: None,
        }
    }

    /// Which replica serves this read (`None`: the primary).
    pub fn replica(&self) -> Option<usize> {
        self.replica
    }
}

impl std::ops::Deref for Reader {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl std::ops::DerefMut for Reader {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

/// `host:port/database` of a PostgreSQL URL, without user or password.
pub fn describe(url: &str) -> String {
    match sqlx::postgres::PgConnectOptions::from_str(url) {
        Ok(o) => format!(
            "{}:{}/{}",
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or("")
        ),
        Err(_) => "(an unreadable URL)".to_string(),
    }
}

impl Replicas {
    /// Pools for the replicas, connected lazily (a replica that is down at start is simply
    /// skipped until it answers).
    pub fn new(urls: &[Url], max_lag: Duration) -> Result<Replicas> {
        let mut list = Vec::new();
        for url in urls {
            let options = sqlx::any::AnyConnectOptions::from_str(url.expose())?
                .log_slow_statements(log::LevelFilter::Warn, Duration::from_secs(10));
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .min_connections(0)
                // A replica that stopped answering is skipped quickly, the read goes to the
                // primary.
                .acquire_timeout(Duration::from_secs(1))
                .test_before_acquire(true)
                .connect_lazy_with(options);
            list.push(Replica {
                pool,
                name: describe(url.expose()),
                health: Mutex::new(Health::default()),
            });
        }
        Ok(Replicas {
            list,
            max_lag,
            next: AtomicUsize::new(0),
            started: Mutex::new(false),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Starts the checker once (it stops when the store is gone).
    pub fn watch(self: &Arc<Self>, primary: &AnyPool) {
        if let Ok(mut started) = self.started.lock()
            && !*started
            && tokio::runtime::Handle::try_current().is_ok()
        {
            *started = true;
            tokio::spawn(check(Arc::downgrade(self), primary.clone()));
        }
    }

    /// A usable replica that has replayed at least `mark`, round-robin, and a connection to
    /// it; `None` when there is none (the read goes to the primary).
    pub async fn pick(&self, mark: i64) -> Option<Reader> {
        let n = self.list.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for k in 0..n {
            let i = (start + k) % n;
            let replica = &self.list[i];
            let health = replica.health.lock().map(|h| *h).unwrap_or_default();
            if !health.usable || health.replayed < mark {
                continue;
            }
            match replica.pool.acquire().await {
                Ok(conn) => {
                    return Some(Reader {
                        conn,
                        replica: Some(i),
                    });
                }
                Err(e) => self.failed(i, &e.to_string()),
            }
        }
        None
    }

    /// A read on replica `i` failed: skip it until the checker finds it well again.
    pub fn failed(&self, i: usize, error: &str) {
        if let Some(r) = self.list.get(i)
            && let Ok(mut h) = r.health.lock()
        {
            if h.usable {
                tracing::warn!(replica = %r.name, error, "a read replica failed; reads go elsewhere");
            }
            h.usable = false;
        }
    }

    /// Whether replica `i` is in use now (for `/healthz?detail=1` and tests).
    pub fn usable(&self) -> Vec<bool> {
        self.list
            .iter()
            .map(|r| r.health.lock().map(|h| h.usable).unwrap_or(false))
            .collect()
    }

    pub async fn close(&self) {
        for r in &self.list {
            r.pool.close().await;
        }
    }
}

/// The primary's WAL position now.
pub async fn primary_position(conn: &mut Conn) -> Result<i64> {
    Ok(sqlx::query_scalar(PRIMARY_LSN).fetch_one(conn).await?)
}

/// Records that `user` just wrote: their reads wait for a replica past this position.
/// One round trip: the position is read by the statement itself, after the write committed.
pub async fn mark(conn: &mut Conn, user: UserId, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO replica_marks (user_id, position, at) \
         VALUES ($1, CAST(pg_current_wal_lsn() - '0/0'::pg_lsn AS BIGINT), $2) \
         ON CONFLICT (user_id) DO UPDATE SET position = GREATEST(replica_marks.position, \
         excluded.position), at = excluded.at",
    )
    .bind(user.0)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The position `user`'s reads must see (0: they wrote nothing a replica could miss).
pub async fn mark_of(conn: &mut Conn, user: UserId) -> Result<i64> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT position FROM replica_marks WHERE user_id = $1")
            .bind(user.0)
            .fetch_optional(conn)
            .await?
            .unwrap_or(0),
    )
}

/// How far behind a replica is: nothing when it has replayed the primary's newest remembered
/// position (an idle primary's last commit may be hours old: that is no lag); else the
/// smaller of the age of the newest remembered primary position it has passed (precise to
/// the check's period) and the age of the last commit it replayed (precise while the
/// primary commits); `None` when neither is known (it is then skipped).
fn lag(
    seen: &VecDeque<(Instant, i64)>,
    replayed: i64,
    since_commit_ms: Option<i64>,
    now: Instant,
) -> Option<Duration> {
    if seen.back().is_some_and(|(_, p)| *p <= replayed) {
        return Some(Duration::ZERO);
    }
    let by_position = seen
        .iter()
        .rev()
        .find(|(_, p)| *p <= replayed)
        .map(|(t, _)| now.duration_since(*t));
    let by_commit = since_commit_ms.map(|ms| Duration::from_millis(ms.max(0) as u64));
    match (by_position, by_commit) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Once a second: the primary's position (kept for a while, with when it was seen), then
/// each replica's replayed position. A replica's lag is how long ago the primary stood where
/// the replica stands now: 0 when it has replayed everything the primary had at this look
/// (an idle primary, whose last commit may be old, gives no lag), else the age of the newest
/// remembered primary position it has passed. Lag over the limit, no answer, or a server
/// that is not in recovery: skipped.
async fn check(replicas: std::sync::Weak<Replicas>, primary: AnyPool) {
    let mut seen: VecDeque<(Instant, i64)> = VecDeque::new();
    let mut ticker = tokio::time::interval(CHECK_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(replicas) = replicas.upgrade() else {
            return;
        };
        let now = Instant::now();
        let position = match primary.acquire().await {
            Ok(mut conn) => primary_position(&mut conn).await.ok(),
            Err(_) => None,
        };
        if let Some(p) = position {
            seen.push_back((now, p));
        }
        let keep = replicas.max_lag + CHECK_EVERY * 3;
        while seen
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > keep)
        {
            seen.pop_front();
        }
        for replica in &replicas.list {
            let looked = tokio::time::timeout(CHECK_EVERY, async {
                let mut conn = replica.pool.acquire().await?;
                sqlx::query_as::<_, (Option<i64>, i32, Option<i64>)>(REPLAYED_LSN)
                    .fetch_one(&mut *conn)
                    .await
            })
            .await;
            let health = match looked {
                Ok(Ok((Some(replayed), 1, since_commit))) => {
                    let lag = lag(&seen, replayed, since_commit, now);
                    Health {
                        usable: lag.is_some_and(|l| l <= replicas.max_lag),
                        replayed,
                    }
                }
                Ok(Ok(_)) => {
                    tracing::warn!(replica = %replica.name, "a configured read replica is not in recovery (not a replica); not used");
                    Health::default()
                }
                Ok(Err(e)) => {
                    tracing::debug!(replica = %replica.name, error = %e, "read replica unreachable");
                    Health::default()
                }
                Err(_) => Health::default(),
            };
            if let Ok(mut h) = replica.health.lock() {
                if h.usable != health.usable {
                    if health.usable {
                        tracing::info!(replica = %replica.name, "read replica in use");
                    } else {
                        tracing::warn!(replica = %replica.name, "read replica skipped: down or lagging");
                    }
                }
                *h = health;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_zero_when_caught_up_even_if_the_last_commit_is_old() {
        let now = Instant::now();
        let seen: VecDeque<(Instant, i64)> = [(now - Duration::from_secs(2), 100), (now, 100)]
            .into_iter()
            .collect();
        assert_eq!(lag(&seen, 100, Some(3_600_000), now), Some(Duration::ZERO));
    }

    #[test]
    fn lag_behind_a_busy_primary_is_the_age_of_the_last_replayed_commit() {
        let now = Instant::now();
        let seen: VecDeque<(Instant, i64)> = [
            (now - Duration::from_secs(3), 100),
            (now - Duration::from_secs(2), 200),
            (now - Duration::from_secs(1), 300),
            (now, 400),
        ]
        .into_iter()
        .collect();
        // Passed the position of 2 s ago, last replayed commit 1.5 s old: 1.5 s.
        assert_eq!(
            lag(&seen, 250, Some(1_500), now),
            Some(Duration::from_millis(1_500))
        );
        // After an idle spell the last replayed commit is old: the positions tell.
        assert_eq!(
            lag(&seen, 250, Some(600_000), now),
            Some(Duration::from_secs(2))
        );
        // Behind everything remembered and nothing replayed yet: unknown, so skipped.
        assert_eq!(lag(&seen, 50, None, now), None);
    }

    #[test]
    fn a_replica_is_named_without_its_credentials() {
        let name = describe("postgres://soporte:hunter2@replica1.interno:5433/soporte");
        assert_eq!(name, "replica1.interno:5433/soporte");
        assert!(!describe("postgres://u:hunter2@h/db").contains("hunter2"));
        assert!(!describe("no es una url:hunter2").contains("hunter2"));
    }
}

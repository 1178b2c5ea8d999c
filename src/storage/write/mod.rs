//! The one writer of tickets. Every ticket write — intake (JSON and raw e-mail), web and API
//! creation and changes, mail replies, the requeue of a disabled technician's tickets, the
//! demo loader — is a `TicketWrite` (rows.rs: the description of what it adds or changes)
//! committed through `Writer::commit`. `apply` turns a batch of writes into statements, once,
//! for both executors: the native one on a SQLite file, the pooled one otherwise.
//!
//! A serving `Writer` is a queue in front of one task: it takes everything that queued up
//! while the previous commit was on disk and commits it together (group commit); a batch
//! that fails is retried call by call, so one bad write cannot fail the others. A bulk
//! `Writer` (the demo loader) commits each call on its own connection with bulk settings.

mod apply;
pub mod copying;
pub mod exec;
pub mod native;
pub mod pooled;
pub mod rows;

use super::{Backend, Result, StorageError, Store};
use apply::{Ids, Next, apply};
use rows::{Statements, TicketWrite, Written};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Mutex, mpsc, oneshot};

pub use rows::{EventRow, Fixed, TicketRow};

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 512;

/// Under heavy load (the last batch held at least `GATHER_FROM` calls) the writer waits up to
/// `GATHER` for as many calls as the last batch had before committing: the clients the last
/// commit answered are sending again, and one commit for all of them beats two half-size
/// ones. It starts as soon as they are all there; a quiet system never waits.
const GATHER_FROM: usize = 16;
const GATHER: std::time::Duration = std::time::Duration::from_millis(1);

struct Job {
    writes: Vec<TicketWrite>,
    reply: oneshot::Sender<Result<Vec<Written>>>,
}

/// The one way tickets are written. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    route: Route,
}

#[derive(Clone)]
enum Route {
    /// The serving writer task.
    Queue(mpsc::Sender<Job>),
    /// No runtime to run a task on: each call commits on its own pooled transaction.
    Direct(Store),
    /// A bulk load's own connections.
    Bulk(std::sync::Arc<Bulk>),
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Route::Queue(_) => "Queue",
            Route::Direct(_) => "Direct",
            Route::Bulk(_) => "Bulk",
        })
    }
}

impl Writer {
    /// The serving writer: its task starts when a Tokio runtime is running (always, in the
    /// server and the command line).
    pub fn start(store: &Store) -> Writer {
        let route = match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let (sender, receiver) = mpsc::channel::<Job>(8 * MAX_BATCH);
                handle.spawn(serve(store.clone(), receiver));
                if store.backend() == Backend::Postgres {
                    handle.spawn(flush_search_pending(store.clone(), sender.downgrade()));
                }
                Route::Queue(sender)
            }
            Err(_) => Route::Direct(store.clone()),
        };
        Writer { route }
    }

    /// A writer for a bulk load: its own connection with bulk settings (see `Bulk`).
    pub async fn bulk(store: &Store) -> Result<Writer> {
        let bulk = Bulk::open(store).await?;
        Ok(Writer {
            route: Route::Bulk(std::sync::Arc::new(bulk)),
        })
    }

    /// How many calls this writer commits at the same time: a bulk load on PostgreSQL has
    /// more than one connection; everything else commits one call after another (the
    /// serving writer gathers concurrent calls into one commit instead).
    pub fn lanes(&self) -> usize {
        match &self.route {
            Route::Bulk(bulk) => bulk.lanes.len(),
            _ => 1,
        }
    }

    /// Commits the writes together: all of them, or none. Returns what became of each, in
    /// order, once they are durable.
    pub async fn commit(&self, writes: Vec<TicketWrite>) -> Result<Vec<Written>> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        match &self.route {
            Route::Queue(sender) => {
                let (reply, answer) = oneshot::channel();
                sender
                    .send(Job { writes, reply })
                    .await
                    .map_err(|_| StorageError::Bulk("the ticket writer stopped".to_string()))?;
                answer.await.map_err(|_| {
                    StorageError::Bulk("the ticket writer dropped a write".to_string())
                })?
            }
            Route::Direct(store) => commit_alone(&mut Executor::pooled(store), writes).await,
            Route::Bulk(bulk) => {
                let lane = bulk.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    % bulk.lanes.len().max(1);
                let mut guard = bulk.lanes[lane].lock().await;
                let executor = guard
                    .as_mut()
                    .ok_or_else(|| StorageError::Bulk("the bulk load is finished".to_string()))?;
                let (_, outcome) = executor.commit(vec![writes]).await;
                Ok(outcome?.pop().unwrap_or_default())
            }
        }
    }

    /// Ends a bulk load: runs `maintenance` (index definitions to create again, after a load
    /// that dropped them) on the loading connection and makes the load durable. Returns
    /// whether it ran them (SQLite files); otherwise the caller runs them on the pool.
    pub async fn finish(self, maintenance: Vec<(String, String)>) -> Result<bool> {
        let Route::Bulk(bulk) = self.route else {
            return Ok(false);
        };
        bulk.finish(maintenance).await
    }
}

/// PostgreSQL: flushes the search index's pending list every second, so the commit that
/// fills it never has to (migration 0131); stops with the writer.
async fn flush_search_pending(store: Store, writer: mpsc::WeakSender<Job>) {
    while writer.upgrade().is_some() {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        if let Err(e) = pooled::flush_search_pending(&store).await {
            tracing::debug!(error = %e, "search index pending list");
        }
    }
}

/// Where a batch is committed: the native connection to a SQLite file (on a blocking
/// thread), or a pooled transaction.
enum Executor {
    Native {
        conn: Option<native::NativeConn>,
        statements: Option<Statements>,
        store: Store,
        announce: bool,
        _checkpointer: native::Checkpointer,
    },
    /// With what it knows of the ids that come next (PostgreSQL).
    Pooled(Store, Statements, Claims),
    /// PostgreSQL's bulk load: rows through `COPY` on a connection of its own.
    Copying(Box<copying::Copying>, Store, Statements),
}

/// Calls (each a list of writes, committed all or nothing) handed to an executor, and handed
/// back with the outcome so a failed batch can be retried call by call.
type Calls = Vec<Vec<TicketWrite>>;

impl Executor {
    fn pooled(store: &Store) -> Executor {
        Executor::Pooled(store.clone(), Statements::default(), Claims::default())
    }

    /// Whether its writes are announced as live news (a bulk load's are not).
    fn announces(&self) -> bool {
        match self {
            Executor::Native { announce, .. } => *announce,
            Executor::Pooled(..) => true,
            Executor::Copying(..) => false,
        }
    }

    async fn open(store: &Store, purpose: native::Purpose) -> Result<Executor> {
        let Some(path) = store.sqlite_file() else {
            return Ok(Executor::pooled(store));
        };
        let opened = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || native::NativeConn::open(&path, purpose)).await?
        }?;
        Ok(Executor::Native {
            conn: Some(opened),
            statements: Some(Statements::default()),
            store: store.clone(),
            announce: purpose == native::Purpose::Serve,
            _checkpointer: native::Checkpointer::start(
                path,
                native::CheckpointPolicy::for_purpose(purpose),
            ),
        })
    }

    /// Commits the calls' writes in one transaction; the answers, call by call.
    async fn commit(&mut self, calls: Calls) -> (Calls, Result<Vec<Vec<Written>>>) {
        let announce = self.announces();
        let (calls, answers) = match self {
            Executor::Pooled(store, statements, claims) => {
                let answers = async {
                    let flat: Vec<&TicketWrite> = calls.iter().flatten().collect();
                    let applied = if store.backend() == Backend::Postgres {
                        commit_postgres(store, statements, &flat, announce, claims).await?
                    } else {
                        let mut tx = store.begin_write().await?;
                        let applied = apply(
                            &mut pooled::Pooled::new(&mut tx, store.backend()),
                            statements,
                            &flat,
                            announce,
                            Ids::Ask { lock: false },
                        )
                        .await?;
                        tx.commit().await?;
                        applied
                    };
                    // PostgreSQL's news went out with the commit; SQLite's goes out now.
                    if store.backend() == Backend::Sqlite {
                        store.changes().publish(applied.news);
                    }
                    Ok(applied.answers)
                }
                .await;
                (calls, answers)
            }
            Executor::Copying(copying, _, statements) => {
                let flat: Vec<&TicketWrite> = calls.iter().flatten().collect();
                let answers = async {
                    copying.begin().await?;
                    // The load's two connections ask for ids at once: no lock between them.
                    let applied = apply(
                        copying.as_mut(),
                        statements,
                        &flat,
                        false,
                        Ids::Ask { lock: false },
                    )
                    .await;
                    copying.end(applied.is_ok()).await?;
                    applied.map(|applied| applied.answers)
                }
                .await;
                drop(flat);
                (calls, answers)
            }
            Executor::Native {
                conn,
                statements,
                store,
                ..
            } => {
                let (Some(mut c), Some(mut s)) = (conn.take(), statements.take()) else {
                    let lost = StorageError::Bulk("the SQLite writer was lost".to_string());
                    return (calls, Err(lost));
                };
                // The writes cross to the blocking thread and come back with the answers.
                let done = tokio::task::spawn_blocking(move || {
                    let applied = commit_native(&mut c, &mut s, &calls, announce);
                    (c, s, calls, applied)
                })
                .await;
                match done {
                    Ok((c, s, calls, applied)) => {
                        *conn = Some(c);
                        *statements = Some(s);
                        let answers = applied.map(|applied| {
                            store.changes().publish(applied.news);
                            applied.answers
                        });
                        (calls, answers)
                    }
                    Err(e) => {
                        // The writes went with the failed thread; their callers see the error.
                        tracing::error!(error = %e, "the SQLite writer failed");
                        return (Vec::new(), Err(e.into()));
                    }
                }
            }
        };
        if answers.is_ok() {
            // Caches of this process see the commit (PostgreSQL's own news comes back later
            // through the listener; a bulk load announces nothing).
            match self {
                Executor::Pooled(store, ..)
                | Executor::Native { store, .. }
                | Executor::Copying(_, store, _) => store.changes().touch(),
            }
        }
        let answers = answers.map(|all| {
            let mut all = all.into_iter();
            calls
                .iter()
                .map(|c| all.by_ref().take(c.len()).collect())
                .collect()
        });
        (calls, answers)
    }
}

/// What a PostgreSQL writer knows of its ids: where they go on, and, after claims were
/// refused, how many batches ask for them before it claims again.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Claims {
    next: Next,
    /// Batches still to ask before the next claim.
    wait: u32,
    /// Batches asked after the last refusal (doubled at each refusal in a row).
    backoff: u32,
}

/// The most batches a writer asks for its ids after refused claims before trying a claim
/// again.
const MOST_ASKED: u32 = 64;

impl Claims {
    /// Whether this batch may try a claim (counts down the batches to ask first).
    fn may_claim(&mut self) -> bool {
        if self.wait > 0 {
            self.wait -= 1;
            return false;
        }
        true
    }

    /// A claim went through: the next batch claims again.
    fn claimed(&mut self, done: Next) {
        self.next = ahead(self.next, done);
        self.backoff = 0;
    }

    /// A claim was refused: what the writer knew is stale, and while other instances keep
    /// taking ids (each refusal in a row doubles the wait, up to `MOST_ASKED`), batches ask
    /// instead of costing a refused claim each.
    fn refused(&mut self) {
        self.next = Next::default();
        self.backoff = (self.backoff * 2).clamp(1, MOST_ASKED);
        self.wait = self.backoff;
    }
}

/// PostgreSQL: a batch in a transaction of its own, on a pooled connection, its statements
/// held and sent together (see `pooled`). A batch that can claims its ids and goes in one
/// round trip; if the claim fails (another writer took ids since, or a key was stored
/// before), nothing of it was written and it is written again asking for keys and ids.
async fn commit_postgres(
    store: &Store,
    statements: &mut Statements,
    writes: &[&TicketWrite],
    announce: bool,
    claims: &mut Claims,
) -> Result<apply::Applied> {
    let claim = match apply::claimable(writes, claims.next) {
        Some(claim) if claims.may_claim() => Some(claim),
        _ => None,
    };
    if let Some(claim) = claim {
        store
            .write_counters()
            .claimed
            .fetch_add(1, Ordering::Relaxed);
        match attempt_postgres(store, statements, writes, announce, claim).await {
            Ok(applied) => {
                claims.claimed(applied.next);
                return Ok(applied);
            }
            // The server refused it: the transaction did not commit.
            Err(StorageError::Db(sqlx::Error::Database(e))) => {
                tracing::debug!(error = %e, "claimed ids refused; asking for them");
                store
                    .write_counters()
                    .asked_again
                    .fetch_add(1, Ordering::Relaxed);
                claims.refused();
            }
            Err(e) => {
                claims.next = Next::default();
                return Err(e);
            }
        }
    }
    let applied =
        attempt_postgres(store, statements, writes, announce, Ids::Ask { lock: true }).await;
    claims.next = match &applied {
        Ok(applied) => ahead(claims.next, applied.next),
        Err(_) => Next::default(),
    };
    applied
}

/// What a writer knows comes next after a batch that handed out `done`'s ids.
fn ahead(known: Next, done: Next) -> Next {
    Next {
        ticket: done.ticket.or(known.ticket),
        event: done.event.or(known.event),
    }
}

async fn attempt_postgres(
    store: &Store,
    statements: &mut Statements,
    writes: &[&TicketWrite],
    announce: bool,
    how: Ids,
) -> Result<apply::Applied> {
    let mut held = pooled::Settling::acquire(store).await?;
    let mut e = pooled::Pooled::beginning(held.conn());
    let done = match apply(&mut e, statements, writes, announce, how).await {
        Ok(applied) => e.finish("COMMIT").await.map(|()| applied),
        Err(err) => Err(err),
    };
    let counters = store.write_counters();
    counters.transactions.fetch_add(1, Ordering::Relaxed);
    counters
        .round_trips
        .fetch_add(e.messages(), Ordering::Relaxed);
    let ended = done.is_ok() || !e.sent();
    held.settle(ended).await;
    done
}

/// The ticket writer's PostgreSQL transactions on one store since the process started: how
/// many, the messages they sent, the batches that claimed their ids and those of them written
/// again after a refused claim.
#[derive(Debug, Default)]
pub struct Counters {
    transactions: AtomicU64,
    round_trips: AtomicU64,
    claimed: AtomicU64,
    asked_again: AtomicU64,
}

impl Counters {
    pub fn read(&self) -> WriteCounts {
        WriteCounts {
            transactions: self.transactions.load(Ordering::Relaxed),
            round_trips: self.round_trips.load(Ordering::Relaxed),
            claimed: self.claimed.load(Ordering::Relaxed),
            asked_again: self.asked_again.load(Ordering::Relaxed),
        }
    }
}

/// A reading of `Counters` (`GET /metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteCounts {
    /// Transactions (a batch written again after a refused claim counts twice).
    pub transactions: u64,
    /// Messages those transactions sent, each a round trip to the server.
    pub round_trips: u64,
    /// Batches that claimed their ids.
    pub claimed: u64,
    /// Claimed batches the server refused and that were written again asking for their ids.
    pub asked_again: u64,
}

/// A batch on the native connection, in a transaction of its own. The write path is async
/// (it is written once for both executors); on this executor nothing in it ever waits, so
/// the future completes the first time it is polled.
fn commit_native(
    conn: &mut native::NativeConn,
    statements: &mut Statements,
    calls: &Calls,
    announce: bool,
) -> Result<apply::Applied> {
    use futures_util::FutureExt;
    conn.begin()?;
    let flat: Vec<&TicketWrite> = calls.iter().flatten().collect();
    let done = apply(
        &mut conn.executor(),
        statements,
        &flat,
        announce,
        Ids::Ask { lock: false },
    )
    .now_or_never()
    .unwrap_or_else(|| {
        Err(StorageError::Bulk(
            "the native SQLite writer waited".to_string(),
        ))
    });
    let done = done.and_then(|answers| conn.commit().map(|()| answers));
    if done.is_err() {
        conn.rollback();
    }
    done
}

/// The serving writer's loop: gather what queued up, commit it together, answer each call.
async fn serve(store: Store, mut receiver: mpsc::Receiver<Job>) {
    // Opened with the first write: a process that never writes a ticket (most commands)
    // opens no second connection and starts no checkpointer.
    let mut executor: Option<Executor> = None;
    let mut last = 0usize;
    while let Some(first) = receiver.recv().await {
        let exec = match &mut executor {
            Some(exec) => exec,
            None => executor.insert(match Executor::open(&store, native::Purpose::Serve).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, "ticket writes go through the pool: the SQLite writer did not open");
                    Executor::pooled(&store)
                }
            }),
        };
        let mut batch = vec![first];
        let drain = |batch: &mut Vec<Job>, receiver: &mut mpsc::Receiver<Job>| {
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        };
        drain(&mut batch, &mut receiver);
        if last >= GATHER_FROM && batch.len() < last {
            let deadline = tokio::time::Instant::now() + GATHER;
            while batch.len() < last {
                match tokio::time::timeout_at(deadline, receiver.recv()).await {
                    Ok(Some(job)) => {
                        batch.push(job);
                        drain(&mut batch, &mut receiver);
                    }
                    _ => break,
                }
            }
        }
        last = batch.len();
        commit_batch(exec, batch).await;
    }
}

/// A batch that takes this long is logged (at debug): the writer's stalls, in the log.
const SLOW_BATCH: std::time::Duration = std::time::Duration::from_millis(15);

/// Commits the batch in one transaction; if that fails, each call is retried on its own.
async fn commit_batch(exec: &mut Executor, batch: Vec<Job>) {
    let started = std::time::Instant::now();
    let size = batch.len();
    let (replies, calls): (Vec<_>, Calls) = batch.into_iter().map(|j| (j.reply, j.writes)).unzip();
    let (calls, outcome) = exec.commit(calls).await;
    let took = started.elapsed();
    if took >= SLOW_BATCH {
        tracing::debug!(
            size,
            ms = took.as_millis() as u64,
            "slow ticket write batch"
        );
    } else {
        tracing::trace!(
            size,
            total_us = took.as_micros() as u64,
            "ticket write batch"
        );
    }
    match outcome {
        Ok(answers) => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(Ok(answer));
            }
        }
        Err(e) => {
            if size > 1 {
                tracing::warn!(error = %e, size, "ticket write batch failed; retrying call by call");
            }
            for (reply, writes) in replies.into_iter().zip(calls) {
                let _ = reply.send(commit_alone(exec, writes).await);
            }
        }
    }
}

/// One call in its own transaction. A key another instance wrote meanwhile (a unique
/// violation) is settled by trying again: the key is then found.
async fn commit_alone(exec: &mut Executor, writes: Vec<TicketWrite>) -> Result<Vec<Written>> {
    let mut calls = vec![writes];
    let mut tries = 0;
    loop {
        let (back, outcome) = exec.commit(calls).await;
        match outcome {
            Ok(mut answers) => return Ok(answers.pop().unwrap_or_default()),
            Err(e) if e.is_unique_violation() && tries < 2 && !back.is_empty() => {
                tries += 1;
                calls = back;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A bulk load's connections (lanes): on a SQLite file one native connection with bulk
/// settings and a checkpointer copying the WAL beside it (SQLite has one writer); on
/// PostgreSQL `COPY_LANES` connections of their own that copy the rows in (`copying`), so the
/// server works on two batches at once (one connection's `COPY` keeps one core busy).
struct Bulk {
    lanes: Vec<Mutex<Option<Executor>>>,
    next: std::sync::atomic::AtomicUsize,
}

/// PostgreSQL bulk connections: the machine this runs on has two cores.
const COPY_LANES: usize = 2;

impl Bulk {
    async fn open(store: &Store) -> Result<Bulk> {
        if store.backend() == Backend::Sqlite && store.sqlite_file().is_none() {
            return Err(StorageError::Bulk(
                "a bulk load needs a SQLite file, not an in-memory database".to_string(),
            ));
        }
        let mut lanes = Vec::new();
        match store.postgres_url() {
            Some(url) => {
                for _ in 0..COPY_LANES {
                    lanes.push(Mutex::new(Some(Executor::Copying(
                        Box::new(copying::Copying::open(url.expose()).await?),
                        store.clone(),
                        Statements::default(),
                    ))));
                }
            }
            None => lanes.push(Mutex::new(Some(
                Executor::open(store, native::Purpose::Bulk).await?,
            ))),
        }
        Ok(Bulk {
            lanes,
            next: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Ends the load on every lane; returns whether the native lane ran `maintenance`.
    async fn finish(&self, maintenance: Vec<(String, String)>) -> Result<bool> {
        let mut ran = false;
        let mut maintenance = Some(maintenance);
        for lane in &self.lanes {
            let Some(executor) = lane.lock().await.take() else {
                continue;
            };
            match executor {
                Executor::Copying(copying, ..) => copying.finish().await?,
                Executor::Native {
                    conn: Some(conn),
                    _checkpointer: checkpointer,
                    ..
                } => {
                    // The checkpointer stops first: the final checkpoint is the loading
                    // connection's.
                    drop(checkpointer);
                    let work = maintenance.take().unwrap_or_default();
                    tokio::task::spawn_blocking(move || conn.finish_bulk(&work)).await??;
                    ran = true;
                }
                _ => {}
            }
        }
        Ok(ran)
    }
}

#[cfg(test)]
mod tests {
    use super::{Claims, MOST_ASKED, Next};

    fn asked_before_claiming(c: &mut Claims) -> u32 {
        let mut asked = 0;
        while !c.may_claim() {
            asked += 1;
        }
        asked
    }

    #[test]
    fn refused_claims_make_the_writer_ask_for_longer_each_time_and_a_claim_resets_it() {
        let mut c = Claims::default();
        assert_eq!(
            asked_before_claiming(&mut c),
            0,
            "a lone writer always claims"
        );
        let mut waits = Vec::new();
        for _ in 0..9 {
            c.refused();
            assert_eq!(c.next, Next::default(), "a refusal forgets the stale ids");
            waits.push(asked_before_claiming(&mut c));
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, MOST_ASKED, MOST_ASKED]);
        let done = Next {
            ticket: Some(41),
            event: Some(97),
        };
        c.claimed(done);
        assert_eq!(c.next, done);
        c.refused();
        assert_eq!(
            asked_before_claiming(&mut c),
            1,
            "a claim that went through starts over"
        );
    }
}

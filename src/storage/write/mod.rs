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

pub mod exec;
pub mod native;
pub mod pooled;
pub mod rows;

use super::figures::{pack, unpack};
use super::{Backend, Result, StorageError, Store};
use crate::domain::figures::{DailyRow, Delta, Figure};
use crate::domain::ids::{TicketId, UserId};
use crate::domain::ticket::Status;
use exec::{Exec, Kind, Value};
use rows::{Guard, Statements, TicketWrite, Written};
use std::collections::HashMap;
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
    /// A bulk load's own connection.
    Bulk(std::sync::Arc<Mutex<Option<Bulk>>>),
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
            route: Route::Bulk(std::sync::Arc::new(Mutex::new(Some(bulk)))),
        })
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
                let mut guard = bulk.lock().await;
                let bulk = guard
                    .as_mut()
                    .ok_or_else(|| StorageError::Bulk("the bulk load is finished".to_string()))?;
                let (_, outcome) = bulk.executor.commit(vec![writes]).await;
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
        let Some(bulk) = bulk.lock().await.take() else {
            return Ok(false);
        };
        bulk.finish(maintenance).await
    }
}

/// Where a batch is committed: the native connection to a SQLite file (on a blocking
/// thread), or a pooled transaction.
enum Executor {
    Native {
        conn: Option<native::NativeConn>,
        statements: Option<Statements>,
        _checkpointer: native::Checkpointer,
    },
    Pooled(Store, Statements),
}

/// Calls (each a list of writes, committed all or nothing) handed to an executor, and handed
/// back with the outcome so a failed batch can be retried call by call.
type Calls = Vec<Vec<TicketWrite>>;

impl Executor {
    fn pooled(store: &Store) -> Executor {
        Executor::Pooled(store.clone(), Statements::default())
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
            _checkpointer: native::Checkpointer::start(
                path,
                native::CheckpointPolicy::for_purpose(purpose),
            ),
        })
    }

    /// Commits the calls' writes in one transaction; the answers, call by call.
    async fn commit(&mut self, calls: Calls) -> (Calls, Result<Vec<Vec<Written>>>) {
        let (calls, answers) = match self {
            Executor::Pooled(store, statements) => {
                let answers = async {
                    let mut tx = store.begin_write().await?;
                    let flat: Vec<&TicketWrite> = calls.iter().flatten().collect();
                    let answers = apply(
                        &mut pooled::Pooled::new(&mut tx, store.backend()),
                        statements,
                        &flat,
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(answers)
                }
                .await;
                (calls, answers)
            }
            Executor::Native {
                conn, statements, ..
            } => {
                let (Some(mut c), Some(mut s)) = (conn.take(), statements.take()) else {
                    let lost = StorageError::Bulk("the SQLite writer was lost".to_string());
                    return (calls, Err(lost));
                };
                // The writes cross to the blocking thread and come back with the answers.
                let done = tokio::task::spawn_blocking(move || {
                    let answers = commit_native(&mut c, &mut s, &calls);
                    (c, s, calls, answers)
                })
                .await;
                match done {
                    Ok((c, s, calls, answers)) => {
                        *conn = Some(c);
                        *statements = Some(s);
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

/// A batch on the native connection, in a transaction of its own. The write path is async
/// (it is written once for both executors); on this executor nothing in it ever waits, so
/// the future completes the first time it is polled.
fn commit_native(
    conn: &mut native::NativeConn,
    statements: &mut Statements,
    calls: &Calls,
) -> Result<Vec<Written>> {
    use futures_util::FutureExt;
    conn.begin()?;
    let flat: Vec<&TicketWrite> = calls.iter().flatten().collect();
    let done = apply(&mut conn.executor(), statements, &flat)
        .now_or_never()
        .unwrap_or_else(|| Err(StorageError::Bulk("the native SQLite writer waited".to_string())));
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

/// Commits the batch in one transaction; if that fails, each call is retried on its own.
async fn commit_batch(exec: &mut Executor, batch: Vec<Job>) {
    let started = std::time::Instant::now();
    let size = batch.len();
    let (replies, calls): (Vec<_>, Calls) = batch.into_iter().map(|j| (j.reply, j.writes)).unzip();
    let (calls, outcome) = exec.commit(calls).await;
    tracing::trace!(
        size,
        total_us = started.elapsed().as_micros() as u64,
        "ticket write batch"
    );
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

/// A bulk load's connection: on a SQLite file a native connection with bulk settings and a
/// checkpointer copying the WAL beside it; otherwise a pooled transaction per call.
struct Bulk {
    executor: Executor,
}

impl Bulk {
    async fn open(store: &Store) -> Result<Bulk> {
        if store.backend() == Backend::Sqlite && store.sqlite_file().is_none() {
            return Err(StorageError::Bulk(
                "a bulk load needs a SQLite file, not an in-memory database".to_string(),
            ));
        }
        Ok(Bulk {
            executor: Executor::open(store, native::Purpose::Bulk).await?,
        })
    }

    async fn finish(self, maintenance: Vec<(String, String)>) -> Result<bool> {
        let Executor::Native {
            conn: Some(conn),
            _checkpointer: checkpointer,
            ..
        } = self.executor
        else {
            return Ok(false);
        };
        // The checkpointer stops first: the final checkpoint is the loading connection's.
        drop(checkpointer);
        tokio::task::spawn_blocking(move || conn.finish_bulk(&maintenance)).await??;
        Ok(true)
    }
}

// ---------------------------------------------------------------------------------------------
// The write path, once for both executors.

/// What to do with a write, decided before anything is written.
#[derive(Debug, Clone, Copy)]
enum Plan {
    Write,
    /// Its key made or changed this stored ticket before.
    Stored(TicketId),
    /// Its key is the same as that of an earlier write in this batch.
    Same(usize),
}

/// Writes a batch on the executor's open transaction and returns what became of each write.
/// The order: keys seen before, new ids, guards (a failed guard writes nothing of its write),
/// then every table's rows for the whole batch in a few multi-row statements.
pub(crate) async fn apply<E: Exec>(
    e: &mut E,
    sql: &mut Statements,
    writes: &[&TicketWrite],
) -> Result<Vec<Written>> {
    let keys: Vec<&str> = writes.iter().filter_map(|w| w.key.as_deref()).collect();
    let known = known_keys(e, &keys).await?;
    let mut first_with_key: HashMap<&str, usize> = HashMap::new();
    let plans: Vec<Plan> = writes
        .iter()
        .enumerate()
        .map(|(i, w)| match w.key.as_deref() {
            Some(k) => match known.get(k) {
                Some(id) => Plan::Stored(*id),
                None => match first_with_key.get(k) {
                    Some(j) => Plan::Same(*j),
                    None => {
                        first_with_key.insert(k, i);
                        Plan::Write
                    }
                },
            },
            None => Plan::Write,
        })
        .collect();

    // Ids for the new tickets, in order.
    let creating = writes
        .iter()
        .zip(&plans)
        .filter(|(w, p)| w.is_new() && matches!(p, Plan::Write))
        .count();
    let mut fresh = next_ids(e, creating).await?.into_iter();
    let mut ids = Vec::with_capacity(writes.len());
    for (w, p) in writes.iter().zip(&plans) {
        ids.push(match p {
            Plan::Write if w.is_new() => fresh
                .next()
                .ok_or_else(|| StorageError::Corrupt("no ticket id was handed out".into()))?,
            _ => w.row.id,
        });
    }

    // Guards: a change at the version seen; a held message nobody released yet.
    let mut live = vec![false; writes.len()];
    for (i, w) in writes.iter().enumerate() {
        if !matches!(plans[i], Plan::Write) {
            continue;
        }
        live[i] = match &w.guard {
            None => true,
            Some(Guard::Version(seen)) => {
                let values = rows::change_values(&w.row, *seen);
                e.run(&rows::change_text(), &values).await? == 1
            }
            Some(Guard::Quarantine { id, .. }) => unreleased(e, *id).await?,
        };
    }
    let written: Vec<(i64, &TicketWrite)> = writes
        .iter()
        .enumerate()
        .filter(|(i, _)| live[*i])
        .map(|(i, w)| (ids[i], *w))
        .collect();

    insert_tickets(e, sql, &written).await?;
    insert_events(e, sql, &written).await?;
    write_search(e, sql, &written).await?;
    add_counts(e, written.iter().flat_map(|(_, w)| &w.counts)).await?;
    add_figures(e, written.iter().flat_map(|(_, w)| &w.figures)).await?;
    insert_keys(e, sql, &written).await?;
    insert_notices(e, sql, &written).await?;
    insert_attachments(e, sql, &written).await?;
    insert_links_and_releases(e, sql, &written).await?;

    // The answers; repeated keys answer with the ticket's status now.
    let stored: Vec<i64> = plans
        .iter()
        .filter_map(|p| match p {
            Plan::Stored(id) => Some(id.0),
            _ => None,
        })
        .collect();
    let statuses = statuses(e, &stored).await?;
    let mut out: Vec<Written> = Vec::with_capacity(writes.len());
    for (i, w) in writes.iter().enumerate() {
        let answer = match plans[i] {
            Plan::Write if !live[i] => Written::Conflict,
            Plan::Write if w.is_new() => Written::Created(TicketId(ids[i])),
            Plan::Write => Written::Changed {
                id: TicketId(ids[i]),
                version: w.row.version,
            },
            Plan::Stored(id) => Written::Repeated {
                id,
                status: statuses.get(&id.0).copied().unwrap_or(Status::Nuevo),
            },
            Plan::Same(j) => match out.get(j).copied() {
                Some(Written::Conflict) | None => Written::Conflict,
                Some(_) => Written::Repeated {
                    id: TicketId(ids[j]),
                    status: writes[j].row.status,
                },
            },
        };
        out.push(answer);
    }
    Ok(out)
}

/// Runs a multi-row insert of `values` (whole rows of `table`) in statements of the sizes
/// the executor takes.
async fn insert<E: Exec>(
    e: &mut E,
    sql: &mut Statements,
    table: &rows::Table,
    values: &[Value<'_>],
) -> Result<()> {
    let width = table.columns.len();
    let mut done = 0;
    for size in rows::statement_sizes(values.len() / width, e.max_rows()) {
        let text = sql.insert(table, size, e.backend());
        e.run(text, &values[done * width..(done + size) * width])
            .await?;
        done += size;
    }
    Ok(())
}

/// The tickets already made or changed by any of these keys.
async fn known_keys<E: Exec>(e: &mut E, keys: &[&str]) -> Result<HashMap<String, TicketId>> {
    let mut found = HashMap::new();
    let mut done = 0;
    for size in rows::statement_sizes(keys.len(), e.max_rows()) {
        let list: Vec<String> = (1..=size).map(|i| format!("${i}")).collect();
        let text = format!(
            "SELECT key, ticket_id FROM intake_keys WHERE key IN ({})",
            list.join(", ")
        );
        let args: Vec<Value<'_>> = keys[done..done + size].iter().map(|k| (*k).into()).collect();
        done += size;
        for row in e.rows(&text, &args, &[Kind::Text, Kind::Int]).await? {
            if let (Some(k), Some(id)) = (row[0].text(), row[1].int()) {
                found.insert(k.to_string(), TicketId(id));
            }
        }
    }
    Ok(found)
}

/// `n` new ticket ids. SQLite's write transaction is exclusive, so they are the largest + 1,
/// …; PostgreSQL takes them from the sequence.
async fn next_ids<E: Exec>(e: &mut E, n: usize) -> Result<Vec<i64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    match e.backend() {
        Backend::Sqlite => {
            let max = e
                .rows("SELECT MAX(id) FROM tickets", &[], &[Kind::Int])
                .await?
                .first()
                .and_then(|r| r[0].int())
                .unwrap_or(0);
            Ok((1..=n as i64).map(|i| max + i).collect())
        }
        Backend::Postgres => Ok(e
            .rows(
                "SELECT nextval('tickets_id_seq') FROM generate_series(1, $1)",
                &[(n as i64).into()],
                &[Kind::Int],
            )
            .await?
            .iter()
            .filter_map(|r| r[0].int())
            .collect()),
    }
}

/// Whether a held message is still unreleased, locking its row until the commit.
async fn unreleased<E: Exec>(e: &mut E, id: i64) -> Result<bool> {
    let text = match e.backend() {
        Backend::Sqlite => "SELECT ticket_id FROM mail_quarantine WHERE id = $1",
        Backend::Postgres => "SELECT ticket_id FROM mail_quarantine WHERE id = $1 FOR UPDATE",
    };
    let found = e.rows(text, &[id.into()], &[Kind::Int]).await?;
    Ok(found.first().is_some_and(|r| r[0].int().is_none()))
}

async fn insert_tickets<E: Exec>(
    e: &mut E,
    sql: &mut Statements,
    written: &[(i64, &TicketWrite)],
) -> Result<()> {
    let mut values = Vec::new();
    for (id, w) in written.iter().filter(|(_, w)| w.is_new()) {
        rows::new_ticket_values(&w.row, *id, &mut values)?;
    }
    insert(e, sql, &rows::TICKETS, &values).await
}

async fn insert_events<E: Exec>(
    e: &mut E,
    sql: &mut Statements,
    written: &[(i64, &TicketWrite)],
) -> Result<()> {
    let mut values = Vec::new();
    for (id, w) in written {
        for ev in &w.events {
            values.extend([
                Value::from(*id),
                ev.at.into(),
                ev.actor_id.map(|u| u.0).into(),
                (&ev.actor).into(),
                Value::Text(Some(ev.kind.as_str())),
                (&ev.data).into(),
            ]);
        }
    }
    insert(e, sql, &rows::EVENTS, &values).await
}

/// New tickets' search documents and what changes add to theirs.
async fn write_search<E: Exec>(
    e: &mut E,
    sql: &mut Statements,
    written: &[(i64, &TicketWrite)],
) -> Result<()> {
    let (new, changed): (Vec<&(i64, &TicketWrite)>, Vec<&(i64, &TicketWrite)>) =
        written.iter().partition(|(_, w)| w.is_new());
    let docs: Vec<(i64, String)> = new
        .iter()
        .map(|(id, w)| (*id, w.search.join(" ")))
        .collect();
    match e.backend() {
        Backend::Sqlite => {
            // One row a statement: FTS5 flushes its pending terms at every statement's
            // savepoint, so a multi-row statement would only make more, smaller segments.
            for (id, doc) in &docs {
                e.run(
                    "INSERT INTO ticket_search (rowid, doc) VALUES ($1, $2)",
                    &[(*id).into(), doc.as_str().into()],
                )
                .await?;
            }
        }
        Backend::Postgres => {
            let values: Vec<Value<'_>> = docs
                .iter()
                .flat_map(|(id, doc)| [Value::from(*id), doc.as_str().into()])
                .collect();
            insert(e, sql, &rows::SEARCH, &values).await?;
        }
    }
    let append = match e.backend() {
        Backend::Sqlite => "UPDATE ticket_search SET doc = doc || ' ' || $1 WHERE rowid = $2",
        Backend::Postgres => {
            "UPDATE ticket_search SET doc = doc || to_tsvector('simple', $1) WHERE ticket_id = $2"
        }
    };
    for (id, w) in changed {
        for text in &w.search {
            e.run(append, &[text.as_str().into(), (*id).into()]).await?;
        }
    }
    Ok(())
}

/// Keeps `ticket_counts` (tickets per status and technician) in step with the rows: the
/// batch's changes summed, one statement per status and technician.
async fn add_counts<'a, E: Exec>(
    e: &mut E,
    deltas: impl Iterator<Item = &'a crate::domain::projection::CountDelta>,
) -> Result<()> {
    let mut sums: Vec<((Status, Option<UserId>), i64)> = Vec::new();
    for d in deltas {
        let key = (d.status, d.assignee);
        match sums.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += d.n,
            None => sums.push((key, d.n)),
        }
    }
    for ((status, assignee), n) in sums.into_iter().filter(|(_, n)| *n != 0) {
        e.run(
            "INSERT INTO ticket_counts (status, assignee_id, n) VALUES ($1, $2, $3) \
             ON CONFLICT (status, assignee_id) DO UPDATE SET n = ticket_counts.n + excluded.n",
            &[
                status.as_str().into(),
                assignee.map(|u| u.0).unwrap_or(0).into(),
                n.into(),
            ],
        )
        .await?;
    }
    Ok(())
}

/// Applies the batch's daily-figure deltas: arrivals summed per day into the count in
/// place; each other row read (locked on PostgreSQL; SQLite writers are serialised), changed
/// by its deltas in order, and written back.
async fn add_figures<'a, E: Exec>(
    e: &mut E,
    deltas: impl Iterator<Item = &'a Delta>,
) -> Result<()> {
    let mut arrivals: Vec<(i64, i64)> = Vec::new();
    let mut groups: Vec<((i64, Figure), Vec<&Delta>)> = Vec::new();
    let mut index: HashMap<(i64, Figure), usize> = HashMap::new();
    for d in deltas {
        if d.figure == Figure::Created {
            match arrivals.iter_mut().find(|(day, _)| *day == d.day) {
                Some((_, n)) => *n += d.sign,
                None => arrivals.push((d.day, d.sign)),
            }
            continue;
        }
        let key = (d.day, d.figure);
        let at = *index.entry(key).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(d);
    }
    for (day, n) in arrivals {
        e.run(
            "INSERT INTO daily_figures (day, figure, n, people) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (day, figure) DO UPDATE SET n = daily_figures.n + excluded.n",
            &[
                day.into(),
                Figure::Created.code().into(),
                n.into(),
                Value::Blob(Some(&[])),
            ],
        )
        .await?;
    }
    let read = match e.backend() {
        Backend::Sqlite => "SELECT n, people FROM daily_figures WHERE day = $1 AND figure = $2",
        Backend::Postgres => {
            "SELECT n, people FROM daily_figures WHERE day = $1 AND figure = $2 FOR UPDATE"
        }
    };
    for ((day, figure), deltas) in groups {
        // The row exists before it is locked, so two writers of a new day's row queue on it
        // instead of both finding nothing and the second overwriting the first.
        e.run(
            "INSERT INTO daily_figures (day, figure, n, people) VALUES ($1, $2, 0, $3) \
             ON CONFLICT (day, figure) DO NOTHING",
            &[day.into(), figure.code().into(), Value::Blob(Some(&[]))],
        )
        .await?;
        let found = e
            .rows(read, &[day.into(), figure.code().into()], &[Kind::Int, Kind::Blob])
            .await?;
        let Some(stored) = found.first() else {
            return Err(StorageError::Corrupt(format!(
                "daily figures of day {day} vanished"
            )));
        };
        let mut row = DailyRow {
            day,
            figure,
            n: stored[0].int().unwrap_or(0),
            people: unpack(figure, stored[1].blob())?,
        };
        for d in deltas {
            if !row.apply(d) {
                tracing::warn!(figure = ?d.figure, day = d.day, "a duration to take back was not in its daily row");
            }
        }
        let packed = pack(figure, &row.people)?;
        e.run(
            "UPDATE daily_figures SET n = $1, people = $2 WHERE day = $3 AND figure = $4",
            &[
                row.n.into(),
                Value::Blob(Some(&packed)),
                day.into(),
                figure.code().into(),
            ],
        )
        .await?;
    }
    Ok(())
}

async fn insert_keys<E: Exec>(
    e: &mut E,
    sql: &mut Statements,
    written: &[(i64, &TicketWrite)],
) -> Result<()> {
    let values: Vec<Value<'_>> = written
        .iter()
        .filter_map(|(id, w)| {
            w.key
                .as_deref()
                .map(|k| [Value::from(k), (*id).into(), w.at.into()])
        })
        .flatten()
        .collect();
    insert(e, sql, &rows::INTAKE_KEYS, &values).await
}

/// A notice's stored texts: its parameters as JSON (with the ticket's number) and its
/// references space-separated.
struct NoticeTexts {
    recipient: String,
    params: String,
    refs: Option<String>,
}

async fn insert_notices<E: Exec>(
    e: &mut E,
    sql: &mut Statements,
    written: &[(i64, &TicketWrite)],
) -> Result<()> {
    let mut texts = Vec::new();
    for (id, w) in written {
        for n in &w.notices {
            let mut params = n.params.clone();
            params.number = crate::domain::ids::TicketNumber(TicketId(*id)).to_string();
            texts.push(NoticeTexts {
                recipient: n.recipient.to_lowercase(),
                params: serde_json::to_string(&params)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))?,
                refs: (!n.references.is_empty()).then(|| n.references.join(" ")),
            });
        }
    }
    let mut texts = texts.iter();
    let mut values = Vec::new();
    for (id, w) in written {
        for n in &w.notices {
            let t = texts
                .next()
                .ok_or_else(|| StorageError::Corrupt("a notice lost its texts".into()))?;
            values.extend([
                Value::Text(Some(n.kind.as_str())),
                (*id).into(),
                t.recipient.as_str().into(),
                t.params.as_str().into(),
                (&n.token).into(),
                (&n.in_reply_to).into(),
                (&t.refs).into(),
                "pending".into(),
                0i64.into(),
                w.at.into(),
                w.at.into(),
            ]);
        }
    }
    insert(e, sql, &rows::OUTBOX, &values).await
}

async fn insert_attachments<E: Exec>(
    e: &mut E,
    sql: &mut Statements,
    written: &[(i64, &TicketWrite)],
) -> Result<()> {
    let mut values = Vec::new();
    for (id, w) in written {
        for a in &w.attachments {
            values.extend([
                Value::from(*id),
                (&a.filename).into(),
                (&a.content_type).into(),
                (a.size as i64).into(),
                Value::Blob(a.data.as_deref()),
                w.at.into(),
            ]);
        }
    }
    insert(e, sql, &rows::ATTACHMENTS, &values).await
}

async fn insert_links_and_releases<E: Exec>(
    e: &mut E,
    sql: &mut Statements,
    written: &[(i64, &TicketWrite)],
) -> Result<()> {
    let mut values = Vec::new();
    for (id, w) in written {
        if let Some((to, reason)) = &w.link {
            values.extend([
                Value::from(*id),
                to.0.into(),
                reason.as_str().into(),
                w.at.into(),
            ]);
        }
        if let Some(Guard::Quarantine { id: held, by }) = &w.guard {
            e.run(
                "UPDATE mail_quarantine SET ticket_id = $1, released_by = $2, released_at = $3 \
                 WHERE id = $4",
                &[
                    (*id).into(),
                    by.map(|u| u.0).into(),
                    w.at.into(),
                    (*held).into(),
                ],
            )
            .await?;
        }
    }
    insert(e, sql, &rows::LINKS, &values).await
}

/// The status now of the stored tickets repeated keys answer with.
async fn statuses<E: Exec>(e: &mut E, ids: &[i64]) -> Result<HashMap<i64, Status>> {
    let mut out = HashMap::new();
    for id in ids {
        let found = e
            .rows(
                "SELECT status FROM tickets WHERE id = $1",
                &[(*id).into()],
                &[Kind::Text],
            )
            .await?;
        if let Some(status) = found.first().and_then(|r| r[0].text()).and_then(Status::parse) {
            out.insert(*id, status);
        }
    }
    Ok(out)
}

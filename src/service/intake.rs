//! Intake: a message that arrived for the support mailbox becomes a ticket, once.
//!
//! Every acknowledged ticket is committed (fsync'd) before the answer, and concurrent
//! deliveries share one transaction (group commit): a single writer task takes everything
//! that queued up while the previous commit was on disk and commits it together.

use super::{Clock, Error, Result, Services};
use crate::domain::access::TicketScope;
use crate::domain::ids::TicketId;
use crate::domain::mail::NewNotice;
use crate::domain::ticket::{NewTicket, Status};
use crate::domain::user::Actor;
use crate::storage::{Store, Tx, intake, native, tickets};
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};

/// What intake answers: the ticket and whether this delivery created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: TicketId,
    pub status: Status,
    pub created: bool,
}

/// Most deliveries committed in one transaction.
const MAX_BATCH: usize = 512;

struct Job {
    new: NewTicket,
    key: Option<String>,
    reply: oneshot::Sender<Result<Received>>,
}

/// The queue in front of the single intake writer.
#[derive(Clone, Debug)]
pub struct IntakeQueue {
    sender: Option<mpsc::Sender<Job>>,
}

impl IntakeQueue {
    /// Starts the writer task when a Tokio runtime is running (always, in the server).
    pub(crate) fn start(store: &Store, clock: Clock) -> IntakeQueue {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return IntakeQueue { sender: None };
        };
        let (sender, receiver) = mpsc::channel::<Job>(8 * MAX_BATCH);
        handle.spawn(writer(store.clone(), clock, receiver));
        IntakeQueue {
            sender: Some(sender),
        }
    }
}

/// Under heavy load (the last batch held at least `GATHER_FROM` deliveries) the writer waits
/// up to `GATHER` for as many deliveries as the last batch had before committing: the clients
/// the last commit answered are sending again, and one commit for all of them beats two
/// half-size ones. It starts as soon as they are all there; a quiet system never waits.
const GATHER_FROM: usize = 16;
const GATHER: std::time::Duration = std::time::Duration::from_millis(1);

/// The SQLite file's own writer connection, when there is a file (see `storage::intake`).
/// `None` on PostgreSQL and for in-memory databases: their batches go through the pool.
struct Native {
    writer: Option<intake::SqliteWriter>,
    _checkpointer: native::Checkpointer,
}

/// How often the background checkpointer copies the WAL into the database. Each round ends
/// with an fsync of the database file that slows the writer's own fsyncs while it lasts, so
/// fewer, larger rounds cost intake less than frequent small ones.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

async fn open_native(store: &Store) -> Option<Native> {
    let path = store.sqlite_file()?;
    let opened = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || intake::SqliteWriter::open(&path))
            .await
            .map_err(crate::storage::StorageError::from)
            .and_then(|opened| opened)
    };
    match opened {
        Ok(writer) => Some(Native {
            writer: Some(writer),
            _checkpointer: native::Checkpointer::start(
                path,
                native::CheckpointPolicy {
                    every: CHECKPOINT_EVERY,
                    durable: true,
                    restart_wait: std::time::Duration::ZERO,
                },
            ),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "intake falls back to the pool: the SQLite writer did not open");
            None
        }
    }
}

async fn writer(store: Store, clock: Clock, mut receiver: mpsc::Receiver<Job>) {
    // Opened with the first delivery: a process that never takes one (a CLI command) opens
    // no second connection and starts no checkpointer.
    let mut native: Option<Option<Native>> = None;
    let mut last = 0usize;
    while let Some(first) = receiver.recv().await {
        if native.is_none() {
            native = Some(open_native(&store).await);
        }
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
        // Under heavy load, give the clients the last commit answered a moment to send again:
        // up to `GATHER`, but no longer than it takes as many deliveries as last time to come.
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
        commit_batch(
            &store,
            &clock,
            native.as_mut().and_then(Option::as_mut),
            batch,
        )
        .await;
    }
}

/// Commits the batch in one transaction; if that fails, each job is retried on its own so
/// one bad delivery cannot fail the others.
async fn commit_batch(store: &Store, clock: &Clock, native: Option<&mut Native>, batch: Vec<Job>) {
    let started = std::time::Instant::now();
    let size = batch.len();
    let at = clock.now();
    let (batch, outcome) = match native.and_then(|n| n.writer.take().map(|w| (n, w))) {
        Some((native, mut writer)) => {
            let done = tokio::task::spawn_blocking(move || {
                let outcome = commit_native(&mut writer, at, &batch);
                (writer, batch, outcome)
            })
            .await;
            match done {
                Ok((writer, batch, outcome)) => {
                    native.writer = Some(writer);
                    (batch, outcome)
                }
                Err(e) => {
                    // The jobs went with the panicked task; their callers see the writer gone.
                    tracing::error!(error = %e, "the SQLite intake writer failed");
                    return;
                }
            }
        }
        None => {
            let outcome = async {
                let mut tx = store.begin_write().await?;
                let jobs: Vec<(&NewTicket, Option<&str>)> =
                    batch.iter().map(|j| (&j.new, j.key.as_deref())).collect();
                let results = insert_batch(&mut tx, store, at, &jobs).await?;
                tx.commit().await?;
                Ok::<_, Error>(results)
            }
            .await;
            (batch, outcome)
        }
    };
    tracing::trace!(
        size,
        total_us = started.elapsed().as_micros() as u64,
        "intake batch"
    );
    match outcome {
        Ok(results) => {
            for (job, result) in batch.into_iter().zip(results) {
                let _ = job.reply.send(Ok(result));
            }
        }
        Err(e) => {
            if batch.len() > 1 {
                tracing::warn!(error = %e, size = batch.len(), "intake batch failed; retrying one by one");
            }
            for job in batch {
                let result = receive_alone(store, clock, &job.new, job.key.as_deref()).await;
                let _ = job.reply.send(result);
            }
        }
    }
}

/// The batch on SQLite's own writer connection, committed before it returns.
fn commit_native(
    writer: &mut intake::SqliteWriter,
    at: i64,
    batch: &[Job],
) -> Result<Vec<Received>> {
    let jobs: Vec<(&NewTicket, Option<&str>)> =
        batch.iter().map(|j| (&j.new, j.key.as_deref())).collect();
    let tx = writer.begin()?;
    let keys: Vec<&str> = jobs.iter().filter_map(|(_, k)| *k).collect();
    let known = if keys.is_empty() {
        Default::default()
    } else {
        intake::find_intake_keys(&tx, &keys)?
    };
    let plans = plan(&jobs, &known);
    let creating = creating(&plans);
    let actors = actors(&jobs, &creating);
    let ids = intake::insert_tickets(&tx, &rows(&jobs, &creating, &actors, at))?;
    let made = made(&jobs, &creating, &ids)?;
    intake::insert_intake_keys(&tx, &made.keys, at)?;
    intake::enqueue_notices(&tx, &made.notices, at)?;
    let mut statuses = HashMap::new();
    for id in stored(&plans) {
        if let Some(status) = intake::ticket_status(&tx, id)? {
            statuses.insert(id, status);
        }
    }
    let out = answers(&plans, &made.tickets, &statuses)?;
    tx.commit().map_err(crate::storage::StorageError::from)?;
    Ok(out)
}

/// Inserts one delivery on the caller's transaction, or finds the ticket its key made.
pub(super) async fn insert_one(
    tx: &mut Tx,
    store: &Store,
    at: i64,
    new: &NewTicket,
    key: Option<&str>,
) -> Result<Received> {
    insert_batch(tx, store, at, &[(new, key)])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Internal("intake answered nothing".to_string()))
}

/// What a delivery does: create a ticket, repeat an earlier one in the batch (by index), or
/// repeat a stored ticket its key made before.
enum Plan {
    Create,
    Repeat(usize),
    Stored(TicketId),
}

/// Plans deliveries in order: a delivery whose key already made a ticket (before, or earlier
/// in this batch) gets that ticket; the others create one.
fn plan(jobs: &[(&NewTicket, Option<&str>)], known: &HashMap<String, TicketId>) -> Vec<Plan> {
    let mut first_with_key: HashMap<&str, usize> = Default::default();
    jobs.iter()
        .enumerate()
        .map(|(i, (_, key))| match key {
            Some(k) => match known.get(*k) {
                Some(id) => Plan::Stored(*id),
                None => match first_with_key.get(k) {
                    Some(j) => Plan::Repeat(*j),
                    None => {
                        first_with_key.insert(k, i);
                        Plan::Create
                    }
                },
            },
            None => Plan::Create,
        })
        .collect()
}

/// The indexes of the deliveries that create a ticket.
fn creating(plans: &[Plan]) -> Vec<usize> {
    plans
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p, Plan::Create))
        .map(|(i, _)| i)
        .collect()
}

/// The stored tickets repeated deliveries answer with.
fn stored(plans: &[Plan]) -> Vec<TicketId> {
    plans
        .iter()
        .filter_map(|p| match p {
            Plan::Stored(id) => Some(*id),
            _ => None,
        })
        .collect()
}

fn actors(jobs: &[(&NewTicket, Option<&str>)], creating: &[usize]) -> Vec<Actor> {
    creating
        .iter()
        .map(|i| Actor::Customer {
            email: jobs[*i].0.requester.clone(),
        })
        .collect()
}

fn rows<'a>(
    jobs: &[(&'a NewTicket, Option<&str>)],
    creating: &[usize],
    actors: &'a [Actor],
    at: i64,
) -> Vec<tickets::NewRow<'a>> {
    creating
        .iter()
        .zip(actors)
        .map(|(i, actor)| tickets::NewRow {
            new: jobs[*i].0,
            actor,
            at,
        })
        .collect()
}

/// The tickets the batch made, by delivery index, with the keys to remember and the
/// acknowledgement to each sender (written with the ticket it announces).
struct Made<'a> {
    tickets: Vec<Option<TicketId>>,
    keys: Vec<(&'a str, TicketId)>,
    notices: Vec<NewNotice>,
}

fn made<'a>(
    jobs: &[(&NewTicket, Option<&'a str>)],
    creating: &[usize],
    ids: &[TicketId],
) -> Result<Made<'a>> {
    let mut out = Made {
        tickets: vec![None; jobs.len()],
        keys: Vec::new(),
        notices: Vec::with_capacity(ids.len()),
    };
    for (i, id) in creating.iter().zip(ids) {
        out.tickets[*i] = Some(*id);
        let (new, key) = jobs[*i];
        if let Some(k) = key {
            out.keys.push((k, *id));
        }
        out.notices
            .push(super::mail::received_notice(*id, new, key)?);
    }
    Ok(out)
}

/// Each delivery's answer, in order.
fn answers(
    plans: &[Plan],
    made: &[Option<TicketId>],
    statuses: &HashMap<TicketId, Status>,
) -> Result<Vec<Received>> {
    let made_by = |i: usize| {
        made[i].ok_or_else(|| Error::Internal("a new ticket was not handed an id".to_string()))
    };
    plans
        .iter()
        .enumerate()
        .map(|(i, plan)| {
            Ok(match plan {
                Plan::Create => Received {
                    id: made_by(i)?,
                    status: Status::Nuevo,
                    created: true,
                },
                Plan::Repeat(j) => Received {
                    id: made_by(*j)?,
                    status: Status::Nuevo,
                    created: false,
                },
                Plan::Stored(id) => Received {
                    id: *id,
                    status: statuses.get(id).copied().unwrap_or(Status::Nuevo),
                    created: false,
                },
            })
        })
        .collect()
}

/// Inserts deliveries on the caller's pooled transaction (PostgreSQL, in-memory SQLite, and
/// a delivery retried on its own), with the same plan as `commit_native`.
async fn insert_batch(
    tx: &mut Tx,
    store: &Store,
    at: i64,
    jobs: &[(&NewTicket, Option<&str>)],
) -> Result<Vec<Received>> {
    let keys: Vec<&str> = jobs.iter().filter_map(|(_, k)| *k).collect();
    let known = if keys.is_empty() {
        Default::default()
    } else {
        tickets::find_intake_keys(tx, &keys).await?
    };
    let plans = plan(jobs, &known);
    let creating = creating(&plans);
    let actors = actors(jobs, &creating);
    let ids =
        tickets::insert_many(tx, store.backend(), &rows(jobs, &creating, &actors, at)).await?;
    let made = made(jobs, &creating, &ids)?;
    if !made.keys.is_empty() {
        tickets::insert_intake_keys(tx, &made.keys, at).await?;
    }
    crate::storage::mail::enqueue_many(tx, &made.notices, at).await?;
    let mut statuses = HashMap::new();
    for id in stored(&plans) {
        if let Some(t) = tickets::find(tx, TicketScope::All, id).await? {
            statuses.insert(id, t.status);
        }
    }
    answers(&plans, &made.tickets, &statuses)
}

/// One delivery in its own transaction. A unique-key race with another instance is settled
/// by reading the winner's ticket.
async fn receive_alone(
    store: &Store,
    clock: &Clock,
    new: &NewTicket,
    key: Option<&str>,
) -> Result<Received> {
    for _ in 0..2 {
        let mut tx = store.begin_write().await?;
        match insert_one(&mut tx, store, clock.now(), new, key).await {
            Ok(r) => {
                tx.commit().await?;
                return Ok(r);
            }
            Err(Error::Storage(e)) if e.is_unique_violation() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::Internal(
        "failed to settle a repeated delivery".to_string(),
    ))
}

fn normalize_key(key: Option<&str>) -> Option<String> {
    key.map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| k.chars().take(500).collect())
}

impl Services {
    /// Creates a ticket from a message. A `key` (the message's Message-ID, or an
    /// Idempotency-Key) makes a retried delivery return the first ticket instead of a second.
    /// Returns only once the ticket is committed.
    pub async fn receive(&self, new: &NewTicket, key: Option<&str>) -> Result<Received> {
        let key = normalize_key(key);
        let Some(sender) = &self.intake.sender else {
            return receive_alone(&self.store, &self.settings.clock, new, key.as_deref()).await;
        };
        let (reply, answer) = oneshot::channel();
        sender
            .send(Job {
                new: new.clone(),
                key,
                reply,
            })
            .await
            .map_err(|_| Error::Internal("the intake writer stopped".to_string()))?;
        answer
            .await
            .map_err(|_| Error::Internal("the intake writer dropped a delivery".to_string()))?
    }
}

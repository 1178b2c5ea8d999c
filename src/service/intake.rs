//! Intake: a message that arrived for the support mailbox becomes a ticket, once.
//!
//! Every acknowledged ticket is committed (fsync'd) before the answer, and concurrent
//! deliveries share one transaction (group commit): a single writer task takes everything
//! that queued up while the previous commit was on disk and commits it together.

use super::{Clock, Error, Result, Services};
use crate::domain::access::TicketScope;
use crate::domain::ids::TicketId;
use crate::domain::ticket::{NewTicket, Status};
use crate::domain::user::Actor;
use crate::storage::{Store, Tx, tickets};
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
/// `GATHER` (about a millisecond, the timer's resolution) before committing: the clients the
/// last commit answered are sending again, and one commit for all of them beats two
/// half-size ones. A quiet or moderately busy system never waits.
const GATHER_FROM: usize = 16;
const GATHER: std::time::Duration = std::time::Duration::from_micros(500);

async fn writer(store: Store, clock: Clock, mut receiver: mpsc::Receiver<Job>) {
    let mut last = 0usize;
    while let Some(first) = receiver.recv().await {
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
        // Under heavy load, give the clients the last commit answered a moment to send again.
        if last >= GATHER_FROM && batch.len() < last * 2 {
            tokio::time::sleep(GATHER).await;
            drain(&mut batch, &mut receiver);
        }
        last = batch.len();
        commit_batch(&store, &clock, batch).await;
    }
}

/// Commits the batch in one transaction; if that fails, each job is retried on its own so
/// one bad delivery cannot fail the others.
async fn commit_batch(store: &Store, clock: &Clock, batch: Vec<Job>) {
    let started = std::time::Instant::now();
    let size = batch.len();
    let attempt = async {
        let mut tx = store.begin_write().await?;
        let jobs: Vec<(&NewTicket, Option<&str>)> =
            batch.iter().map(|j| (&j.new, j.key.as_deref())).collect();
        let results = insert_batch(&mut tx, store, clock.now(), &jobs).await?;
        let written = started.elapsed();
        tx.commit().await?;
        tracing::trace!(
            size,
            written_us = written.as_micros() as u64,
            total_us = started.elapsed().as_micros() as u64,
            "intake batch"
        );
        Ok::<_, Error>(results)
    };
    match attempt.await {
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

/// Inserts deliveries on the caller's transaction, in order: a delivery whose key already
/// made a ticket (before, or earlier in this batch) gets that ticket; the others become new
/// tickets, each with the acknowledgement to its sender, written together.
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
    // Which job creates a ticket, and which repeats an earlier one (by index or stored id).
    enum Plan {
        Create,
        Repeat(usize),
        Stored(TicketId),
    }
    let mut first_with_key: std::collections::HashMap<&str, usize> = Default::default();
    let plans: Vec<Plan> = jobs
        .iter()
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
        .collect();
    let creating: Vec<usize> = plans
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p, Plan::Create))
        .map(|(i, _)| i)
        .collect();
    let actors: Vec<Actor> = creating
        .iter()
        .map(|i| Actor::Customer {
            email: jobs[*i].0.requester.clone(),
        })
        .collect();
    let rows: Vec<tickets::NewRow<'_>> = creating
        .iter()
        .zip(&actors)
        .map(|(i, actor)| tickets::NewRow {
            new: jobs[*i].0,
            actor,
            at,
        })
        .collect();
    let ids = tickets::insert_many(tx, store.backend(), &rows).await?;
    // The ticket each creating job made, by job index.
    let mut made: Vec<Option<TicketId>> = vec![None; jobs.len()];
    let mut new_keys = Vec::new();
    let mut notices = Vec::with_capacity(ids.len());
    for (i, id) in creating.iter().zip(&ids) {
        made[*i] = Some(*id);
        let (new, key) = jobs[*i];
        if let Some(k) = key {
            new_keys.push((k, *id));
        }
        // The acknowledgement to the sender is written with the ticket it announces.
        notices.push(super::mail::received_notice(*id, new, key)?);
    }
    if !new_keys.is_empty() {
        tickets::insert_intake_keys(tx, &new_keys, at).await?;
    }
    crate::storage::mail::enqueue_many(tx, &notices, at).await?;

    let made_by = |i: usize| {
        made[i].ok_or_else(|| Error::Internal("a new ticket was not handed an id".to_string()))
    };
    let mut out = Vec::with_capacity(jobs.len());
    for (i, plan) in plans.iter().enumerate() {
        out.push(match plan {
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
                status: tickets::find(tx, TicketScope::All, *id)
                    .await?
                    .map(|t| t.status)
                    .unwrap_or(Status::Nuevo),
                created: false,
            },
        });
    }
    Ok(out)
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

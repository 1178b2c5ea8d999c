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

async fn writer(store: Store, clock: Clock, mut receiver: mpsc::Receiver<Job>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&store, &clock, batch).await;
    }
}

/// Commits the batch in one transaction; if that fails, each job is retried on its own so
/// one bad delivery cannot fail the others.
async fn commit_batch(store: &Store, clock: &Clock, batch: Vec<Job>) {
    let attempt = async {
        let mut tx = store.begin_write().await?;
        let mut results = Vec::with_capacity(batch.len());
        for job in &batch {
            results
                .push(insert_one(&mut tx, store, clock.now(), &job.new, job.key.as_deref()).await?);
        }
        tx.commit().await?;
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
    if let Some(k) = key
        && let Some(id) = tickets::find_intake_key(tx, k).await?
    {
        let status = tickets::find(tx, TicketScope::All, id)
            .await?
            .map(|t| t.status)
            .unwrap_or(Status::Nuevo);
        return Ok(Received {
            id,
            status,
            created: false,
        });
    }
    let actor = Actor::Customer {
        email: new.requester.clone(),
    };
    let id = tickets::insert(tx, store.backend(), new, &actor, at).await?;
    if let Some(k) = key {
        tickets::insert_intake_key(tx, k, id, at).await?;
    }
    // The acknowledgement to the sender is written with the ticket it announces.
    super::mail::notify_received(tx, id, new, key, at).await?;
    Ok(Received {
        id,
        status: Status::Nuevo,
        created: true,
    })
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

//! Live news of ticket writes, for the event stream (`GET /events`). Each committed
//! `TicketWrite` becomes a `TicketChanged`, delivered to every instance within a second:
//! on PostgreSQL through `NOTIFY` sent in the write's own transaction (so only committed
//! writes are announced, to every instance's `LISTEN`), on SQLite — one instance — straight
//! from the writer after the commit. Subscribers get a broadcast receiver; a slow one misses
//! news (it is told to reload), it never holds the writer back.

use super::{Backend, Conn, Result};
use crate::domain::ids::{TicketId, UserId};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// The `NOTIFY` channel.
pub const CHANNEL: &str = "soporte_tickets";
/// How many pieces of news a slow subscriber may fall behind before it is told to reload.
const BACKLOG: usize = 1024;
/// How long a reader waits for this process's listener's first `LISTEN` (`Changes::ready`):
/// time enough to connect to a database that answers; past it they go on without.
pub const LISTENER_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// One ticket that changed: enough for a list to update a row, a count, or say who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketChanged {
    /// The id of the write's last timeline event: the stream's order and resume point.
    pub seq: i64,
    pub ticket: TicketId,
    pub status: String,
    pub version: i64,
    pub assignee: Option<UserId>,
    /// Who had it before the write (a ticket passed away from someone concerns them too).
    pub previous_assignee: Option<UserId>,
    /// The last event's kind, and who wrote it.
    pub kind: String,
    pub actor: String,
    pub actor_id: Option<UserId>,
    pub created: bool,
}

impl TicketChanged {
    /// Whether a technician (`me`) may hear of it: tickets they have, or just had.
    pub fn concerns(&self, me: UserId) -> bool {
        self.assignee == Some(me) || self.previous_assignee == Some(me)
    }
}

/// The news hub of one process.
#[derive(Debug)]
pub struct Changes {
    sender: broadcast::Sender<TicketChanged>,
    /// Counts what this process knows changed: each commit of its writer, each notification
    /// from another instance, each (re)connection of the listener (news may have been lost).
    /// A cache that read it before reading the database is stale once it moved.
    generation: AtomicU64,
    /// PostgreSQL: the URL to `LISTEN` on, and whether the listener runs.
    listen: Option<(super::Url, Mutex<bool>)>,
    /// PostgreSQL: whether the listener's first attempt to `LISTEN` is over (news sent
    /// before it succeeds is not heard here). It stays set: a listener that lost its
    /// connection moves `generation` when it is back, and readers do not wait for it.
    settled: tokio::sync::watch::Sender<bool>,
}

impl Changes {
    pub fn new(backend: Backend, url: &super::Url) -> Arc<Changes> {
        let (sender, _) = broadcast::channel(BACKLOG);
        Arc::new(Changes {
            sender,
            generation: AtomicU64::new(0),
            listen: (backend == Backend::Postgres).then(|| (url.clone(), Mutex::new(false))),
            settled: tokio::sync::watch::Sender::new(false),
        })
    }

    /// News from now on. On PostgreSQL the first subscriber starts this process's listener.
    pub fn subscribe(self: &Arc<Self>) -> broadcast::Receiver<TicketChanged> {
        let receiver = self.sender.subscribe();
        self.watch();
        receiver
    }

    /// Makes sure other instances' writes reach this process (on PostgreSQL, starts the
    /// listener once; SQLite has one instance).
    fn watch(self: &Arc<Self>) {
        if let Some((url, started)) = &self.listen
            && let Ok(mut started) = started.lock()
            && !*started
            && tokio::runtime::Handle::try_current().is_ok()
        {
            *started = true;
            tokio::spawn(listen(url.clone(), Arc::downgrade(self)));
        }
    }

    /// Waits (at most `wait`) until other instances' writes are heard here: on PostgreSQL
    /// until the listener's first `LISTEN` (or its first failure), so a stream opened now
    /// hears a write made just after. Starts the listener if needed; only the first readers
    /// of a process ever wait. SQLite hears everything at once.
    pub async fn ready(self: &Arc<Self>, wait: std::time::Duration) {
        if self.listen.is_none() {
            return;
        }
        self.watch();
        let mut settled = self.settled.subscribe();
        // Past `wait` the reader goes on without (see `LISTENER_WAIT`).
        let _ = tokio::time::timeout(wait, settled.wait_for(|l| *l)).await;
    }

    /// Where this process's count of changes stands (see `generation`).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Something was committed (or news may have been missed).
    pub fn touch(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Announces committed writes (SQLite; on PostgreSQL the listener does it).
    pub fn publish(&self, news: impl IntoIterator<Item = TicketChanged>) {
        self.touch();
        for n in news {
            // No subscriber is no error.
            let _ = self.sender.send(n);
        }
    }
}

/// Readers waiting for the first `LISTEN` go on without it: it failed (the database is
/// unreachable, and they will say so themselves); the next attempt is two seconds away.
fn settle(hub: &std::sync::Weak<Changes>) {
    if let Some(hub) = hub.upgrade() {
        hub.settled.send_replace(true);
    }
}

/// PostgreSQL: relays every notification on `CHANNEL` to this process's subscribers, until
/// the hub is gone. A lost connection is made again (news sent meanwhile is lost; clients
/// that miss a piece still reload on their next reconnect).
async fn listen(url: super::Url, hub: std::sync::Weak<Changes>) {
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect(url.expose()).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "the live-update listener could not connect; retrying");
                settle(&hub);
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "failed to LISTEN for live updates; retrying");
            settle(&hub);
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            continue;
        }
        // Whatever was sent before the listener listened is not heard: caches filled
        // meanwhile start again, and streams waiting for the listener may go on.
        match hub.upgrade() {
            Some(hub) => {
                hub.touch();
                hub.settled.send_replace(true);
            }
            None => return,
        }
        loop {
            let Some(hub) = hub.upgrade() else {
                return;
            };
            match tokio::time::timeout(std::time::Duration::from_secs(30), listener.recv()).await {
                Ok(Ok(n)) => match serde_json::from_str::<Vec<TicketChanged>>(n.payload()) {
                    Ok(news) => hub.publish(news),
                    Err(e) => tracing::warn!(error = %e, "an unreadable live-update payload"),
                },
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "the live-update listener lost its connection");
                    break;
                }
                // Nothing for a while: look again whether anyone still listens.
                Err(_) => {}
            }
        }
    }
}

/// The news of the writes after `after` (a reconnecting stream's Last-Event-ID), at most
/// `limit`, each with its ticket as it is now.
pub async fn since(conn: &mut Conn, after: i64, limit: i64) -> Result<Vec<TicketChanged>> {
    let rows = sqlx::query(
        "SELECT e.id, e.ticket_id, e.kind, e.actor, e.actor_id, e.data, t.status, t.version, t.assignee_id \
         FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id \
         WHERE e.id > $1 ORDER BY e.id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let data: String = r.try_get("data")?;
            let data: crate::domain::timeline::EventData =
                serde_json::from_str(&data).unwrap_or_default();
            let kind: String = r.try_get("kind")?;
            Ok(TicketChanged {
                seq: r.try_get("id")?,
                ticket: TicketId(r.try_get("ticket_id")?),
                status: r.try_get("status")?,
                version: r.try_get("version")?,
                assignee: r.try_get::<Option<i64>, _>("assignee_id")?.map(UserId),
                previous_assignee: data.from_assignee,
                created: kind == "created",
                kind,
                actor: r.try_get("actor")?,
                actor_id: r.try_get::<Option<i64>, _>("actor_id")?.map(UserId),
            })
        })
        .collect()
}

//! Live updates for one person: the news of ticket writes (`storage::changes`) they may hear
//! — everything for staff, their own tickets (or the ones just taken from them) for a
//! technician — in order, resumable after a reconnection from the last piece they got.

use super::{Result, Services};
use crate::domain::access::{TicketScope, ticket_scope};
use crate::domain::user::Actor;
use crate::storage::changes::{self, TicketChanged};
use tokio::sync::broadcast::error::RecvError;

/// Most pieces of news replayed to a stream that reconnects.
const REPLAY: i64 = 500;

/// What a live stream delivers next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveItem {
    Changed(TicketChanged),
    /// The stream fell too far behind: the page should reload what it shows.
    Reload,
}

/// One person's live stream.
pub struct Live {
    scope: TicketScope,
    receiver: tokio::sync::broadcast::Receiver<TicketChanged>,
    /// News to give before the live ones (a reconnection's replay), oldest last.
    pending: Vec<TicketChanged>,
    /// The last sequence number delivered (no piece twice after a replay).
    last: i64,
}

impl Live {
    fn may_hear(&self, n: &TicketChanged) -> bool {
        match self.scope {
            TicketScope::All => true,
            TicketScope::AssignedTo(me) => n.concerns(me),
            TicketScope::Nothing => false,
        }
    }

    /// The next piece of news this person may hear; `None` when the news stops (shutdown).
    pub async fn next(&mut self) -> Option<LiveItem> {
        while let Some(n) = self.pending.pop() {
            if self.may_hear(&n) {
                self.last = self.last.max(n.seq);
                return Some(LiveItem::Changed(n));
            }
        }
        loop {
            match self.receiver.recv().await {
                Ok(n) if n.seq > self.last && self.may_hear(&n) => {
                    self.last = n.seq;
                    return Some(LiveItem::Changed(n));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return Some(LiveItem::Reload),
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

impl Services {
    /// A live stream for `actor`, from now on; after a reconnection (`after`: the last
    /// sequence number the client got) the news written meanwhile comes first.
    pub async fn live(&self, actor: &Actor, after: Option<i64>) -> Result<Live> {
        // Subscribed before the replay is read: nothing falls between the two.
        let receiver = self.store.changes().subscribe();
        // On PostgreSQL the first stream of this process starts the listener: wait for it (a
        // bounded moment), or a write made just after the stream opened would go unheard.
        // Should it not come up in time the stream still opens; its reconnection replays.
        self.store.changes().ready(changes::LISTENER_WAIT).await;
        let mut pending = match after {
            Some(after) => {
                let mut conn = self.store.read().await?;
                changes::since(&mut conn, after, REPLAY).await?
            }
            None => Vec::new(),
        };
        pending.reverse();
        Ok(Live {
            scope: ticket_scope(actor),
            receiver,
            pending,
            last: after.unwrap_or(0),
        })
    }
}

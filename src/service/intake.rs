//! Intake: a message that arrived for the support mailbox becomes a ticket, once.
//!
//! Every acknowledged ticket is committed (fsync'd) before the answer. Concurrent deliveries
//! share one commit: the one writer (`storage::Writer`) commits together whatever queued up
//! while the previous commit was on disk.

use super::{Error, Result, Services, notices};
use crate::domain::ids::TicketId;
use crate::domain::projection;
use crate::domain::ticket::{NewTicket, Status};
use crate::domain::user::Actor;
use crate::storage::write::rows::{TicketWrite, Written};

/// What intake answers: the ticket and whether this delivery created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: TicketId,
    pub status: Status,
    pub created: bool,
}

/// What a customer's new ticket writes: the ticket with its first event, the acknowledgement
/// to the sender, and the delivery's key (so a retried delivery finds this ticket).
pub(super) fn arrival(
    new: &NewTicket,
    key: Option<&str>,
    at: i64,
    sla: &crate::domain::sla::Settings,
) -> Result<TicketWrite> {
    let actor = Actor::Customer {
        email: new.requester.clone(),
    };
    let clocks = super::sla::arrival(sla, at, Default::default());
    let mut write = TicketWrite::arrival(new, &actor, at, projection::arrival(new, at), clocks)?;
    write.key = key.map(str::to_string);
    let acknowledgement = notices::received(new, key)?;
    write.notices = acknowledgement.notices;
    write.status_links = acknowledgement.status_links;
    Ok(write)
}

/// A delivery's key, trimmed and bounded; an empty one is none.
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
        let settings = self.sla_settings().await?;
        let write = arrival(new, key.as_deref(), self.now(), &settings)?;
        match self.writer.commit(vec![write]).await?.first() {
            Some(Written::Created(id)) => Ok(Received {
                id: *id,
                status: Status::Nuevo,
                created: true,
            }),
            Some(Written::Repeated { id, status }) => Ok(Received {
                id: *id,
                status: *status,
                created: false,
            }),
            _ => Err(Error::Internal(
                "intake's write was neither made nor found".to_string(),
            )),
        }
    }
}

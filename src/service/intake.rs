//! Intake: a message that arrived for the support mailbox becomes a ticket, once.

use super::{Result, Services};
use crate::domain::ids::TicketId;
use crate::domain::ticket::{NewTicket, Status};
use crate::domain::time::now;
use crate::domain::user::Actor;
use crate::storage::tickets;

/// What intake answers: the ticket and whether this delivery created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: TicketId,
    pub status: Status,
    pub created: bool,
}

impl Services {
    /// Creates a ticket from a message. A `key` (the message's Message-ID, or an
    /// Idempotency-Key) makes a retried delivery return the first ticket instead of a second.
    pub async fn receive(&self, new: &NewTicket, key: Option<&str>) -> Result<Received> {
        let actor = Actor::Customer {
            email: new.requester.clone(),
        };
        let key = key
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| k.chars().take(500).collect::<String>());
        for attempt in 0..2 {
            let mut tx = self.store.begin_write().await?;
            if let Some(k) = &key
                && let Some(id) = tickets::find_intake_key(&mut tx, k).await?
            {
                let status = tickets::find(&mut tx, crate::domain::access::TicketScope::All, id)
                    .await?
                    .map(|t| t.status)
                    .unwrap_or(Status::Nuevo);
                return Ok(Received {
                    id,
                    status,
                    created: false,
                });
            }
            let id = tickets::insert(&mut tx, self.store.backend(), new, &actor, now()).await?;
            if let Some(k) = &key {
                match tickets::insert_intake_key(&mut tx, k, id, now()).await {
                    Ok(()) => {}
                    // Another delivery of the same message won the race: read its ticket.
                    Err(e) if e.is_unique_violation() && attempt == 0 => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            tx.commit().await?;
            return Ok(Received {
                id,
                status: Status::Nuevo,
                created: true,
            });
        }
        Err(super::Error::Internal(
            "failed to settle a repeated delivery".to_string(),
        ))
    }
}

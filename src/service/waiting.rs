//! Tickets waiting for their requester (`en_espera`): a reminder once the wait is long, and
//! an automatic close, by "Sistema" with the closing e-mail, once it is too long. Each step is
//! a change through the one change function (decided by `domain::ticket::decide`).

use super::tickets::ChangeRequest;
use super::{Error, Result, Services};
use crate::domain::DomainError;
use crate::domain::access::TicketScope;
use crate::domain::ticket::Command;
use crate::domain::user::Actor;
use crate::storage::tickets;

/// When the requester is reminded and when the ticket closes itself, in seconds of waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowUp {
    pub remind_after: i64,
    pub close_after: i64,
}

impl FollowUp {
    /// From whole days (at least one each; the close never before the reminder).
    pub fn days(remind: i64, close: i64) -> FollowUp {
        let remind = remind.max(1);
        FollowUp {
            remind_after: remind * 86_400,
            close_after: close.max(remind) * 86_400,
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FollowedUp {
    pub reminded: usize,
    pub closed: usize,
}

/// Tickets looked at per round (the rest wait for the next one).
const ROUND: i64 = 200;

impl Services {
    /// Reminds the requesters who owe an answer for `remind_after` and closes the tickets
    /// whose answer is `close_after` late.
    pub async fn follow_up_waiting(&self, rules: FollowUp) -> Result<FollowedUp> {
        let now = self.now();
        let due = {
            let mut conn = self.store.read().await?;
            tickets::waiting_since_before(&mut conn, now - rules.remind_after, ROUND).await?
        };
        let mut done = FollowedUp::default();
        for ticket in due {
            let (command, counter) = if ticket.since <= now - rules.close_after {
                let days = rules.close_after / 86_400;
                (
                    Command::CloseUnanswered {
                        resolution: format!(
                            "Cerrada automáticamente: el solicitante no respondió en {days} días."
                        ),
                    },
                    &mut done.closed,
                )
            } else if !ticket.reminded {
                (Command::Remind, &mut done.reminded)
            } else {
                continue;
            };
            let changed = self
                .change(ChangeRequest {
                    actor: &Actor::System,
                    id: ticket.id,
                    scope: TicketScope::All,
                    seen_version: None,
                    command,
                    key: None,
                    attachments: Vec::new(),
                })
                .await;
            match changed {
                Ok(_) => *counter += 1,
                // The requester answered (or staff moved it) meanwhile.
                Err(Error::Domain(DomainError::InvalidTransition(_))) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

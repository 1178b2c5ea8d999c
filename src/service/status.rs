//! The requester's status page, without an account: a link from any e-mail we sent them
//! opens their ticket's page — number, subject, status in plain words and the public
//! timeline only, never internal notes, staff e-mail addresses or other tickets — where
//! they can write (recorded like an e-mail from them) and rate a close. A link stops working
//! 90 days after the ticket closes; an unknown link is simply not found. One address may use
//! the page only so fast (counted in the database, across instances).

use super::notices::link_key;
use super::tickets::{ChangeRequest, Changed};
use super::{Error, Result, Services};
use crate::domain::DomainError;
use crate::domain::access::TicketScope;
use crate::domain::ids::TicketId;
use crate::domain::mail::{Attachment, AttachmentInfo};
use crate::domain::ticket::{Command, Status, Ticket};
use crate::domain::timeline::{Event, Visibility};
use crate::domain::user::Actor;
use crate::storage::{Conn, mail as store_mail, status, tickets};

/// How long after the close a link keeps working.
pub const LINK_DAYS_AFTER_CLOSE: i64 = 90;
/// Requests one address may make to the page in a minute.
const REQUESTS_PER_MINUTE: i64 = 60;

/// What the requester's page shows.
#[derive(Debug, Clone)]
pub struct StatusPage {
    pub ticket: Ticket,
    /// The public events only, oldest first.
    pub events: Vec<Event>,
    /// The files of those events.
    pub attachments: Vec<AttachmentInfo>,
}

impl StatusPage {
    /// The requester may rate: the ticket is closed.
    pub fn may_rate(&self) -> bool {
        self.ticket.status == Status::Cerrado
    }
}

impl Services {
    /// Counts a request to the status page from `client`; too many in a minute is `Throttled`.
    pub async fn status_page_request(&self, client: &str) -> Result<()> {
        let now = self.now();
        let mut conn = self.store.read().await?;
        let n = status::count_request(
            &mut conn,
            &format!("status:{client}"),
            now,
            now - 60,
            now - 3600,
        )
        .await?;
        if n > REQUESTS_PER_MINUTE {
            return Err(Error::Throttled);
        }
        Ok(())
    }

    /// The ticket a link opens, if it still does.
    async fn linked_ticket(&self, conn: &mut Conn, token: &str) -> Result<Ticket> {
        let key = link_key(token).ok_or(DomainError::NotFound)?;
        let id = status::ticket_of(conn, &key)
            .await?
            .ok_or(DomainError::NotFound)?;
        let ticket = tickets::find(conn, TicketScope::All, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        let expired = ticket.status == Status::Cerrado
            && ticket
                .closed_at
                .is_some_and(|c| c + LINK_DAYS_AFTER_CLOSE * 86_400 < self.now());
        if expired {
            return Err(DomainError::NotFound.into());
        }
        Ok(ticket)
    }

    /// The requester's page.
    pub async fn status_page(&self, token: &str) -> Result<StatusPage> {
        let mut conn = self.store.read().await?;
        let ticket = self.linked_ticket(&mut conn, token).await?;
        let events: Vec<Event> = tickets::events(&mut conn, ticket.id)
            .await?
            .into_iter()
            .filter(|e| e.kind.visibility() == Visibility::Public)
            .collect();
        let attachments = store_mail::attachments(&mut conn, ticket.id)
            .await?
            .into_iter()
            .filter(|a| a.event.is_some_and(|id| events.iter().any(|e| e.id == id)))
            .collect();
        Ok(StatusPage {
            ticket,
            events,
            attachments,
        })
    }

    /// One file of the page's public events.
    pub async fn status_attachment(
        &self,
        token: &str,
        id: i64,
    ) -> Result<(AttachmentInfo, Vec<u8>)> {
        let page = self.status_page(token).await?;
        if !page.attachments.iter().any(|a| a.id == id) {
            return Err(DomainError::NotFound.into());
        }
        let mut conn = self.store.read().await?;
        match store_mail::attachment(&mut conn, page.ticket.id, id).await? {
            Some((info, Some(data))) => Ok((info, data)),
            _ => Err(DomainError::NotFound.into()),
        }
    }

    /// The requester writes on the page: recorded like an e-mail from them (an answer awaited
    /// puts the ticket back to work; on a closed ticket it reopens it).
    pub async fn status_message(
        &self,
        token: &str,
        body: &str,
        files: Vec<Attachment>,
    ) -> Result<TicketId> {
        let ticket = {
            let mut conn = self.store.read().await?;
            self.linked_ticket(&mut conn, token).await?
        };
        let body = body.trim();
        if body.is_empty() && files.is_empty() {
            return Err(DomainError::validation("body", "Escriba su mensaje.").into());
        }
        let actor = Actor::Customer {
            email: ticket.requester.clone(),
        };
        let changed = self
            .change(ChangeRequest {
                actor: &actor,
                id: ticket.id,
                scope: TicketScope::All,
                seen_version: None,
                command: Command::CustomerMessage {
                    body: crate::domain::mail::fit_body(body),
                    matched_by: "página de estado".to_string(),
                },
                key: None,
                attachments: files,
            })
            .await?;
        match changed {
            Changed::Done { .. } => Ok(ticket.id),
            Changed::Repeated { id } => Ok(id),
        }
    }

    /// The requester rates the close (again, until the ticket reopens).
    pub async fn status_rate(&self, token: &str, score: i64, comment: &str) -> Result<()> {
        let ticket = {
            let mut conn = self.store.read().await?;
            self.linked_ticket(&mut conn, token).await?
        };
        let actor = Actor::Customer {
            email: ticket.requester.clone(),
        };
        self.change(ChangeRequest {
            actor: &actor,
            id: ticket.id,
            scope: TicketScope::All,
            seen_version: None,
            command: Command::Rate {
                score,
                comment: comment.to_string(),
            },
            key: None,
            attachments: Vec::new(),
        })
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::notices::{link_key, new_link};

    #[test]
    fn only_a_well_formed_token_is_looked_up() {
        // A link sent before keys carried their time: stored as its SHA-256, still opens.
        assert_eq!(
            link_key(&"A1".repeat(20)),
            Some(crate::service::sha256_hex(&"a1".repeat(20)))
        );
        assert!(link_key(&"a".repeat(54)).is_some());
        assert!(link_key("abc").is_none());
        assert!(link_key(&"g".repeat(40)).is_none());
        assert!(link_key(&"a".repeat(41)).is_none());
        assert!(link_key(&"a".repeat(55)).is_none());
    }

    #[test]
    fn a_new_link_opens_with_its_key_and_later_keys_sort_last() {
        let (token, key) = new_link().unwrap();
        assert_eq!(token.len(), 54);
        assert_eq!(link_key(&token).as_deref(), Some(key.as_str()));
        assert_eq!(link_key(&token.to_ascii_uppercase()), Some(key.clone()));
        // The secret part is not in the key.
        assert!(!key.contains(&token[14..]));
        // After every key of the old form (hex digits sort before `t`), and in time order.
        assert!(key.as_str() > "ffff");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let (_, later) = new_link().unwrap();
        assert!(later > key);
        // Two links of one instant differ.
        assert_ne!(new_link().unwrap().0, new_link().unwrap().0);
    }
}

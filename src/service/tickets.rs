//! The one write path for ticket changes, shared by web, API, mail and CLI:
//! load through the actor's scope → `domain::ticket::decide` → `storage::tickets::apply`
//! (row at the seen version + events, one transaction). Also reading and listing.

use super::{Result, Services};
use crate::domain::DomainError;
use crate::domain::access::ticket_scope;
use crate::domain::ids::{TicketId, UserId};
use crate::domain::ticket::{Command, NewTicket, Target, Ticket, TicketFilter, decide};
use crate::domain::timeline::Event;
use crate::domain::user::{Actor, Role};
use crate::storage::{Tx, tickets, users};

/// A command as people send it: technicians by id, not yet looked up.
#[derive(Debug, Clone)]
pub enum Action {
    Assign { technician: UserId },
    Reassign { technician: UserId, reason: String },
    Comment { body: String },
    Close { resolution: String },
    Return { reason: String },
    Reopen { reason: String },
}

/// One page of a list and where the next one starts.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Ticket>,
    /// The id to continue after.
    pub next: Option<i64>,
}

pub const PAGE_SIZE: i64 = 25;
pub const MAX_PAGE_SIZE: i64 = 100;

impl Services {
    /// Creates a ticket by hand (a dispatcher typing what arrived at the mailbox).
    pub async fn create_ticket(&self, actor: &Actor, new: &NewTicket) -> Result<Ticket> {
        if !matches!(actor.role(), Some(Role::Admin | Role::Dispatcher)) {
            return Err(DomainError::Forbidden("crear incidencias").into());
        }
        let mut tx = self.store.begin_write().await?;
        let id = tickets::insert(&mut tx, self.store.backend(), new, actor, self.now()).await?;
        let ticket = tickets::find(&mut tx, ticket_scope(actor), id)
            .await?
            .ok_or(DomainError::NotFound)?;
        tx.commit().await?;
        Ok(ticket)
    }

    /// A ticket and its timeline, if the actor may see it.
    pub async fn ticket(&self, actor: &Actor, id: TicketId) -> Result<(Ticket, Vec<Event>)> {
        let mut conn = self.store.read().await?;
        let ticket = tickets::find(&mut conn, ticket_scope(actor), id)
            .await?
            .ok_or(DomainError::NotFound)?;
        let events = tickets::events(&mut conn, id).await?;
        Ok((ticket, events))
    }

    /// A page of the tickets the actor may see, newest first.
    pub async fn list_tickets(
        &self,
        actor: &Actor,
        filter: &TicketFilter,
        limit: i64,
    ) -> Result<Page> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let mut conn = self.store.read().await?;
        let mut items = tickets::list(
            &mut conn,
            self.store.backend(),
            ticket_scope(actor),
            filter,
            limit + 1,
        )
        .await?;
        let next = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|t| t.id.0)
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// Applies an action. `seen_version` is the version the actor's view showed; a stale one
    /// is refused with `Conflict`, and so is losing a race to another writer.
    pub async fn act(
        &self,
        actor: &Actor,
        id: TicketId,
        seen_version: Option<i64>,
        action: Action,
    ) -> Result<Ticket> {
        let mut tx = self.store.begin_write().await?;
        let ticket = tickets::find(&mut tx, ticket_scope(actor), id)
            .await?
            .ok_or(DomainError::NotFound)?;
        if seen_version.is_some_and(|v| v != ticket.version) {
            return Err(DomainError::Conflict.into());
        }
        let command = resolve(&mut tx, action).await?;
        let change = decide(&ticket.state(), actor, command)?;
        tickets::apply(
            &mut tx,
            self.store.backend(),
            &ticket,
            &change,
            actor,
            self.now(),
        )
        .await?
        .ok_or(DomainError::Conflict)?;
        // Notices (assignment, closing) go to the outbox in this same transaction.
        super::mail::notify_change(&mut tx, &ticket, &change, self.now()).await?;
        // The actor may no longer see it (a technician who passed it on): read it unscoped.
        let updated = tickets::find(&mut tx, crate::domain::access::TicketScope::All, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        tx.commit().await?;
        Ok(updated)
    }
}

/// Looks up the technician an action names, so the domain can judge them.
async fn resolve(tx: &mut Tx, action: Action) -> Result<Command> {
    async fn target(tx: &mut Tx, id: UserId) -> Result<Target> {
        let user = users::find(tx, id)
            .await?
            .ok_or_else(|| DomainError::validation("technician_id", "Elija un técnico activo."))?;
        Ok(Target {
            id: user.id,
            name: user.name,
            role: user.role,
            active: user.active,
        })
    }
    Ok(match action {
        Action::Assign { technician } => Command::Assign {
            to: target(tx, technician).await?,
        },
        Action::Reassign { technician, reason } => Command::Reassign {
            to: target(tx, technician).await?,
            reason,
        },
        Action::Comment { body } => Command::Comment { body },
        Action::Close { resolution } => Command::Close { resolution },
        Action::Return { reason } => Command::Return { reason },
        Action::Reopen { reason } => Command::Reopen { reason },
    })
}

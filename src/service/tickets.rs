//! Tickets: creating one by hand, reading and listing through the actor's scope, and the one
//! change function every change goes through — web forms, the API, a customer's e-mail, the
//! requeue of a disabled technician's tickets:
//! find in scope → `domain::ticket::decide` → `domain::projection` → notices →
//! `storage::Writer::commit` at the version decided on → a lost race is `Conflict`.

use super::{Result, Services, notices};
use crate::domain::DomainError;
use crate::domain::access::{Capability, TicketScope, require, ticket_scope};
use crate::domain::classification::{CategoryId, Priority};
use crate::domain::figures::Before;
use crate::domain::ids::{TicketId, UserId};
use crate::domain::mail::Attachment;
use crate::domain::projection;
use crate::domain::queue::{ListCursor, Sort, priority_rank};
use crate::domain::ticket::{Change, Command, NewTicket, Target, Ticket, TicketFilter, decide};
use crate::domain::timeline::{Event, EventKind};
use crate::domain::user::Actor;
use crate::storage::write::rows::{TicketWrite, Written};
use crate::storage::{Conn, tickets, users};

/// A command as people send it: technicians by id, not yet looked up.
#[derive(Debug, Clone)]
pub enum Action {
    Assign {
        technician: UserId,
    },
    Reassign {
        technician: UserId,
        reason: String,
    },
    /// An internal note.
    Comment {
        body: String,
    },
    /// A public reply to the requester; `wait` waits for their answer.
    Reply {
        body: String,
        wait: bool,
    },
    Close {
        resolution: String,
    },
    Return {
        reason: String,
    },
    Reopen {
        reason: String,
    },
    /// Set the priority and/or the category (`Some(None)`: none); what is not given stays.
    Classify {
        priority: Option<Priority>,
        category: Option<Option<CategoryId>>,
    },
}

/// One page of a list and where the pages beside it start.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Ticket>,
    /// Where the next (older side) page starts.
    pub next: Option<ListCursor>,
    /// Where the previous (newer side) page ends.
    pub prev: Option<ListCursor>,
}

pub const PAGE_SIZE: i64 = 25;
pub const MAX_PAGE_SIZE: i64 = 100;

/// The value a row has in a keyed order (see `tickets::list`).
fn sort_key(sort: Sort, t: &Ticket) -> Option<i64> {
    match sort {
        Sort::Newest | Sort::Oldest => None,
        Sort::Activity => Some(t.last_event_at),
        Sort::Priority => Some(priority_rank(t.sla.priority)),
        Sort::Due => t.sla.due_at,
    }
}

/// A change to make: who, on which ticket (as the actor's scope finds it), from which version
/// they saw, what; and, for a customer's e-mail, the message's key and files.
#[derive(Debug, Clone)]
pub(crate) struct ChangeRequest<'a> {
    pub actor: &'a Actor,
    pub id: TicketId,
    pub scope: TicketScope,
    /// The version the actor's view showed; `None` when they acted on the ticket as it is.
    pub seen_version: Option<i64>,
    pub command: Command,
    pub key: Option<String>,
    pub attachments: Vec<Attachment>,
}

/// What a change did.
#[derive(Debug, Clone)]
pub(crate) enum Changed {
    /// Written: the decision.
    Done { change: Change },
    /// The request's key was seen before: nothing written.
    Repeated { id: TicketId },
}

impl Services {
    /// Creates a ticket by hand (a dispatcher typing what arrived at the mailbox).
    pub async fn create_ticket(&self, actor: &Actor, new: &NewTicket) -> Result<Ticket> {
        require(actor, Capability::Dispatch, "crear incidencias")?;
        let at = self.now();
        let sla = super::sla::arrival(&*self.sla_settings().await?, at, Priority::default());
        let write = TicketWrite::arrival(new, actor, at, projection::arrival(new, at), sla)?;
        let id = match self.writer.commit(vec![write]).await?.first() {
            Some(Written::Created(id)) => *id,
            _ => return Err(DomainError::Conflict.into()),
        };
        let mut conn = self.store.read().await?;
        Ok(tickets::find(&mut conn, ticket_scope(actor), id)
            .await?
            .ok_or(DomainError::NotFound)?)
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

    /// A ticket the actor can no longer see but once held (a technician whose ticket was
    /// reassigned or returned while they wrote): its number and timeline, so the page can say
    /// what happened. `None` for staff, and for a ticket that was never theirs (that one does
    /// not exist for them).
    pub async fn lost_ticket(
        &self,
        actor: &Actor,
        id: TicketId,
    ) -> Result<Option<(String, Vec<Event>)>> {
        let Some(me) = actor.user_id() else {
            return Ok(None);
        };
        if crate::domain::access::actor_may(actor, Capability::Dispatch) {
            return Ok(None);
        }
        let mut conn = self.store.read().await?;
        let Some(ticket) = tickets::find(&mut conn, TicketScope::All, id).await? else {
            return Ok(None);
        };
        let events = tickets::events(&mut conn, id).await?;
        let held = events
            .iter()
            .any(|e| e.data.to_assignee == Some(me) || e.data.from_assignee == Some(me));
        Ok(held.then(|| (ticket.number().to_string(), events)))
    }

    /// The oldest unassigned ticket other than `current`, for staff who may assign (`None`
    /// for everyone else, and when the queue is empty).
    pub async fn next_unassigned(
        &self,
        actor: &Actor,
        current: TicketId,
    ) -> Result<Option<TicketId>> {
        if !crate::domain::access::actor_may(actor, Capability::Dispatch) {
            return Ok(None);
        }
        let mut conn = self.store.read().await?;
        Ok(tickets::next_unassigned(&mut conn, current).await?)
    }

    /// A page of the tickets the actor may see, in the filter's order, after or before the
    /// filter's cursor.
    ///
    /// A filter with both a number and words (a bare "19995" typed in the search) finds the
    /// ticket with that number if the actor may see it, else searches the words.
    pub async fn list_tickets(
        &self,
        actor: &Actor,
        filter: &TicketFilter,
        limit: i64,
    ) -> Result<Page> {
        if filter.number.is_some() && !filter.terms.is_empty() {
            let by_number = TicketFilter {
                terms: Vec::new(),
                ..filter.clone()
            };
            let page = self.page_of(actor, &by_number, limit).await?;
            if !page.items.is_empty() {
                return Ok(page);
            }
            let by_words = TicketFilter {
                number: None,
                ..filter.clone()
            };
            return self.page_of(actor, &by_words, limit).await;
        }
        self.page_of(actor, filter, limit).await
    }

    async fn page_of(&self, actor: &Actor, filter: &TicketFilter, limit: i64) -> Result<Page> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let filter = &TicketFilter {
            now: self.now(),
            ..filter.clone()
        };
        let backend = self.store.backend();
        let statistics = self.store.search_statistics();
        let mut items = on_replica!(self.store, actor.user_id(), |conn| {
            tickets::list(
                conn,
                backend,
                statistics,
                ticket_scope(actor),
                filter,
                limit + 1,
            )
            .await
        })?;
        let more = items.len() as i64 > limit;
        let before = filter.cursor.is_some_and(|c| c.before);
        if more {
            // The extra row is the one farthest from the cursor.
            if before {
                items.remove(0);
            } else {
                items.truncate(limit as usize);
            }
        }
        let at = |t: &Ticket, before: bool| ListCursor {
            id: t.id.0,
            key: sort_key(filter.sort, t),
            before,
        };
        let (has_prev, has_next) = if before {
            (more, true)
        } else {
            (filter.cursor.is_some(), more)
        };
        Ok(Page {
            next: items.last().filter(|_| has_next).map(|t| at(t, false)),
            prev: items.first().filter(|_| has_prev).map(|t| at(t, true)),
            items,
        })
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
        self.act_with_files(actor, id, seen_version, action, Vec::new())
            .await
    }

    /// `act` with files (a reply's or a note's), which go with the action's event and have its
    /// visibility.
    pub async fn act_with_files(
        &self,
        actor: &Actor,
        id: TicketId,
        seen_version: Option<i64>,
        action: Action,
        files: Vec<Attachment>,
    ) -> Result<Ticket> {
        if !files.is_empty() && !matches!(action, Action::Comment { .. } | Action::Reply { .. }) {
            return Err(DomainError::validation(
                "files",
                "Solo se adjuntan archivos a una respuesta o a una nota.",
            )
            .into());
        }
        let command = {
            let mut conn = self.store.read().await?;
            resolve(&mut conn, action).await?
        };
        self.change(ChangeRequest {
            actor,
            id,
            scope: ticket_scope(actor),
            seen_version,
            command,
            key: None,
            attachments: files,
        })
        .await?;
        // The actor may no longer see it (a technician who passed it on): read it unscoped.
        let mut conn = self.store.read().await?;
        Ok(tickets::find(&mut conn, TicketScope::All, id)
            .await?
            .ok_or(DomainError::NotFound)?)
    }

    /// The one change function (see the module's documentation). A request that pinned no
    /// version (an API call without one, a customer's e-mail, the system) and lost a race is
    /// decided again on the ticket as it now is; one that pinned a version gets `Conflict`.
    pub(crate) async fn change(&self, req: ChangeRequest<'_>) -> Result<Changed> {
        const TRIES: usize = 3;
        for attempt in 1..=TRIES {
            let mut conn = self.store.read().await?;
            let ticket = tickets::find(&mut conn, req.scope, req.id)
                .await?
                .ok_or(DomainError::NotFound)?;
            if req.seen_version.is_some_and(|v| v != ticket.version) {
                return Err(DomainError::Conflict.into());
            }
            let change = decide(&ticket.state(), req.actor, req.command.clone())?;
            let at = self.now();
            let milestones = ticket.milestones();
            let projection = projection::change(
                Before {
                    created_at: ticket.created_at,
                    status: ticket.status,
                    assignee: ticket.assignee_id,
                    milestones: &milestones,
                },
                EventKind::parse(&ticket.last_event_kind).unwrap_or(EventKind::Created),
                &change,
                req.actor,
                at,
            );
            let mut write = TicketWrite::change(&ticket, &change, projection, req.actor, at)?;
            let notices = notices::for_change(&mut conn, &ticket, &change, req.actor).await?;
            write.notices = notices.notices;
            write.status_links = notices.status_links;
            self.sla_for_change(&mut conn, &ticket, &change, &mut write)
                .await?;
            drop(conn);
            write.key = req.key.clone();
            write.attachments = req.attachments.clone();
            match self.writer.commit(vec![write]).await?.first() {
                Some(Written::Changed { .. }) => {
                    return Ok(Changed::Done { change });
                }
                Some(Written::Repeated { id, .. }) => return Ok(Changed::Repeated { id: *id }),
                _ if req.seen_version.is_none() && attempt < TRIES => continue,
                _ => break,
            }
        }
        Err(DomainError::Conflict.into())
    }
}

/// Looks up the technician an action names, so the domain can judge them.
async fn resolve(conn: &mut Conn, action: Action) -> Result<Command> {
    async fn target(conn: &mut Conn, id: UserId) -> Result<Target> {
        let user = users::find(conn, id)
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
            to: target(conn, technician).await?,
        },
        Action::Reassign { technician, reason } => Command::Reassign {
            to: target(conn, technician).await?,
            reason,
        },
        Action::Comment { body } => Command::Comment { body },
        Action::Reply { body, wait } => Command::Reply { body, wait },
        Action::Close { resolution } => Command::Close { resolution },
        Action::Return { reason } => Command::Return { reason },
        Action::Reopen { reason } => Command::Reopen { reason },
        Action::Classify { priority, category } => Command::Classify {
            priority,
            category: match category {
                None => None,
                Some(None) => Some(None),
                Some(Some(id)) => Some(Some(
                    crate::storage::sla::category(conn, id)
                        .await?
                        .ok_or_else(|| {
                            DomainError::validation("category_id", "La categoría no existe.")
                        })?,
                )),
            },
        },
    })
}

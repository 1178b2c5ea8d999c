//! The mail channel's use cases. An incoming message (already parsed) becomes a new ticket,
//! the customer's message on an existing ticket, a new ticket linked to one the sender is not
//! part of, or a quarantine record. Tickets are written through the one writer (a new
//! ticket as intake writes it; a reply through the one change function), with the message's
//! key, files and notices in the same commit; `mail::outbound` sends the notices. Also: the
//! quarantine for administrators, attachments through the ticket's visibility, and the
//! leases of the background jobs.

use super::tickets::{ChangeRequest, Changed};
use super::{Error, Result, Services};
use crate::domain::DomainError;
use crate::domain::access::{Capability, TicketScope, require, ticket_scope};
use crate::domain::ids::{TicketId, TicketNumber};
use crate::domain::mail::{
    AttachmentInfo, Header, InboundMail, Notice, NoticeKind, Problem, Quarantined, Thread,
    ThreadClues, TicketLink, classify, fit_body, fit_subject, is_unreadable_code, strip_quoted,
    thread,
};
use crate::domain::projection;
use crate::domain::ticket::{Command, NewTicket, Status, Ticket};
use crate::domain::user::{Actor, Email};
use crate::storage::mail::NewQuarantine;
use crate::storage::write::rows::{Guard, TicketWrite, Written};
use crate::storage::{Conn, mail as store_mail, tickets};

/// What became of an incoming message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailOutcome {
    /// A new ticket (linked to another when the sender named a ticket they are not part of).
    Created {
        ticket: TicketId,
        status: Status,
        linked_to: Option<TicketId>,
    },
    /// The customer's message was added to a ticket's timeline.
    Replied {
        ticket: TicketId,
        status: Status,
        matched_by: String,
    },
    /// This message was already received (same Message-ID or same bytes).
    Duplicate { ticket: TicketId, status: Status },
    /// Kept in quarantine: not answered, not a ticket.
    Quarantined {
        entry: Quarantined,
        /// The message could not be read (malformed, no sender, too large).
        unreadable: bool,
        /// It had already been quarantined before.
        duplicate: bool,
    },
}

/// How much of a too-large message the quarantine keeps.
const TOO_LARGE_KEEP_BYTES: usize = 256 * 1024;
/// How many held messages the administrator's list shows.
const QUARANTINE_PAGE: i64 = 200;

fn require_admin(actor: &Actor) -> Result<()> {
    // The quarantine is an administrator's section: to anyone else it does not exist.
    require(actor, Capability::ManageUsers, "ver la cuarentena")
        .map_err(|_| DomainError::NotFound.into())
}

impl Services {
    /// Receives one message: replays answer what the first delivery did; the message's
    /// ticket write (with its key, files and notices) is committed before this returns.
    pub async fn receive_mail(&self, raw: &[u8], mail: &InboundMail) -> Result<MailOutcome> {
        for _ in 0..3 {
            match self.receive_mail_once(raw, mail).await {
                Err(Error::Storage(e)) if e.is_unique_violation() => continue,
                Err(Error::Domain(DomainError::Conflict)) => continue,
                other => return other,
            }
        }
        Err(Error::Internal(
            "failed to settle a message delivered twice at once".to_string(),
        ))
    }

    async fn receive_mail_once(&self, raw: &[u8], mail: &InboundMail) -> Result<MailOutcome> {
        let at = self.now();
        let mut conn = self.store.read().await?;
        if let Some(id) = tickets::find_intake_key(&mut conn, &mail.key).await? {
            let status = status_of(&mut conn, id).await?;
            return Ok(MailOutcome::Duplicate { ticket: id, status });
        }
        if let Some(entry) = store_mail::quarantined_by_key(&mut conn, &mail.key).await? {
            let unreadable = is_unreadable_code(&entry.reason_code);
            return Ok(MailOutcome::Quarantined {
                entry,
                unreadable,
                duplicate: true,
            });
        }
        if let Some(hold) = classify(mail) {
            drop(conn);
            return self.hold(raw, mail, hold, at).await;
        }
        // `classify` holds every message without a valid sender.
        let sender = Email::parse(mail.sender.as_deref().unwrap_or_default())?.to_string();
        let clues = clues(&mut conn, mail).await?;
        drop(conn);
        match thread(&sender, &clues) {
            Thread::Reply { ticket, matched_by } => {
                let actor = Actor::Customer {
                    email: sender.clone(),
                };
                let body = fit_body(&strip_quoted(&mail.text));
                let changed = self
                    .change(ChangeRequest {
                        actor: &actor,
                        id: ticket,
                        scope: TicketScope::All,
                        seen_version: None,
                        command: Command::CustomerMessage {
                            body,
                            matched_by: matched_by.clone(),
                        },
                        key: Some(mail.key.clone()),
                        attachments: mail.attachments.clone(),
                    })
                    .await?;
                Ok(match changed {
                    Changed::Done { change, .. } => MailOutcome::Replied {
                        ticket,
                        status: change.status,
                        matched_by,
                    },
                    Changed::Repeated { id } => MailOutcome::Duplicate {
                        ticket: id,
                        status: self.status(id).await?,
                    },
                })
            }
            decision => {
                let mut new =
                    NewTicket::parse(&sender, &fit_subject(&mail.subject), &fit_body(&mail.text))?;
                new.requester_name = mail.sender_name.clone();
                let mut write = super::intake::arrival(
                    &new,
                    Some(&mail.key),
                    at,
                    &*self.sla_settings().await?,
                )?;
                write.attachments = mail.attachments.clone();
                let linked_to = match decision {
                    Thread::Linked { to, reason } => {
                        write.link = Some((to, reason));
                        Some(to)
                    }
                    _ => None,
                };
                match self.writer.commit(vec![write]).await?.first() {
                    Some(Written::Created(id)) => Ok(MailOutcome::Created {
                        ticket: *id,
                        status: Status::Nuevo,
                        linked_to,
                    }),
                    Some(Written::Repeated { id, status }) => Ok(MailOutcome::Duplicate {
                        ticket: *id,
                        status: *status,
                    }),
                    _ => Err(DomainError::Conflict.into()),
                }
            }
        }
    }

    /// Keeps a message in quarantine: not answered, not a ticket.
    async fn hold(
        &self,
        raw: &[u8],
        mail: &InboundMail,
        hold: crate::domain::mail::Hold,
        at: i64,
    ) -> Result<MailOutcome> {
        let kept = if mail.problem == Some(Problem::TooLarge) {
            &raw[..raw.len().min(TOO_LARGE_KEEP_BYTES)]
        } else {
            raw
        };
        let sender = mail.sender.clone().unwrap_or_default();
        let subject: String = mail.subject.chars().take(500).collect();
        let mut tx = self.store.begin_write().await?;
        let id = store_mail::quarantine(
            &mut tx,
            &NewQuarantine {
                key: &mail.key,
                sender: &sender.chars().take(320).collect::<String>(),
                subject: &subject,
                reason_code: hold.code,
                reason: &hold.reason,
                size: mail.size as i64,
                raw: kept,
            },
            at,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(
            quarantine = id,
            code = hold.code,
            "incoming message quarantined"
        );
        Ok(MailOutcome::Quarantined {
            entry: Quarantined {
                id,
                received_at: at,
                sender,
                subject,
                reason_code: hold.code.to_string(),
                reason: hold.reason.clone(),
                size: mail.size as i64,
                ticket: None,
                released_at: None,
            },
            unreadable: hold.is_unreadable(),
            duplicate: false,
        })
    }

    /// A ticket's status now (`nuevo` if it cannot be read).
    async fn status(&self, id: TicketId) -> Result<Status> {
        let mut conn = self.store.read().await?;
        status_of(&mut conn, id).await
    }

    /// The held messages, newest first (administrators only).
    pub async fn quarantine(&self, actor: &Actor) -> Result<Vec<Quarantined>> {
        require_admin(actor)?;
        let mut conn = self.store.read().await?;
        Ok(store_mail::quarantine_list(&mut conn, QUARANTINE_PAGE).await?)
    }

    /// One held message and its raw bytes (administrators only).
    pub async fn quarantined(&self, actor: &Actor, id: i64) -> Result<(Quarantined, Vec<u8>)> {
        require_admin(actor)?;
        let mut conn = self.store.read().await?;
        Ok(store_mail::quarantined(&mut conn, id)
            .await?
            .ok_or(DomainError::NotFound)?)
    }

    /// An administrator turns a held message into a ticket. `parse` reads the stored bytes
    /// (the caller owns the parser). No acknowledgement is sent: the sender is most likely a
    /// machine. Two administrators releasing it at once: one ticket, the other `Conflict`.
    pub async fn release_quarantined(
        &self,
        actor: &Actor,
        id: i64,
        parse: impl FnOnce(&[u8]) -> InboundMail,
    ) -> Result<Ticket> {
        require_admin(actor)?;
        let at = self.now();
        let mut conn = self.store.read().await?;
        let (entry, raw) = store_mail::quarantined(&mut conn, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        if let Some(ticket) = entry.ticket {
            return Err(DomainError::InvalidTransition(format!(
                "Este mensaje ya se convirtió en la incidencia {}.",
                TicketNumber(ticket)
            ))
            .into());
        }
        let mail = parse(&raw);
        let sender = Email::parse(mail.sender.as_deref().unwrap_or(&entry.sender)).map_err(|_| {
            DomainError::validation(
                "from",
                "El mensaje no tiene un remitente válido: no se puede crear una incidencia con él.",
            )
        })?;
        let text = if mail.text.trim().is_empty() {
            format!("(Mensaje recuperado de la cuarentena: {})", entry.reason)
        } else {
            mail.text.clone()
        };
        let new = NewTicket::parse(
            sender.as_str(),
            &fit_subject(if mail.subject.is_empty() {
                &entry.subject
            } else {
                &mail.subject
            }),
            &fit_body(&text),
        )?;
        let key_free = !mail.key.is_empty()
            && tickets::find_intake_key(&mut conn, &mail.key)
                .await?
                .is_none();
        drop(conn);
        let clocks = super::sla::arrival(&*self.sla_settings().await?, at, Default::default());
        let mut write =
            TicketWrite::arrival(&new, actor, at, projection::arrival(&new, at), clocks)?;
        write.key = key_free.then(|| mail.key.clone());
        write.attachments = mail.attachments;
        write.guard = Some(Guard::Quarantine {
            id,
            by: actor.user_id(),
        });
        let ticket = match self.writer.commit(vec![write]).await?.first() {
            Some(Written::Created(ticket)) => *ticket,
            _ => return Err(DomainError::Conflict.into()),
        };
        let mut conn = self.store.read().await?;
        Ok(tickets::find(&mut conn, TicketScope::All, ticket)
            .await?
            .ok_or(DomainError::NotFound)?)
    }

    /// A ticket's attachments and related tickets, if the actor may see the ticket.
    pub async fn ticket_mail(
        &self,
        actor: &Actor,
        id: TicketId,
    ) -> Result<(Vec<AttachmentInfo>, Vec<TicketLink>)> {
        let mut conn = self.store.read().await?;
        tickets::find(&mut conn, ticket_scope(actor), id)
            .await?
            .ok_or(DomainError::NotFound)?;
        let attachments = store_mail::attachments(&mut conn, id).await?;
        let links = store_mail::links(&mut conn, id).await?;
        Ok((attachments, links))
    }

    /// One attachment's bytes, through the ticket's visibility: a ticket the actor may not
    /// see has no attachments for them (404).
    pub async fn attachment(
        &self,
        actor: &Actor,
        ticket: TicketId,
        id: i64,
    ) -> Result<(AttachmentInfo, Vec<u8>)> {
        let (info, data) = self.attachment_by_id(actor, id).await?;
        if info.ticket != ticket {
            return Err(DomainError::NotFound.into());
        }
        Ok((info, data))
    }

    /// One attachment by its own id, if the actor may see its ticket.
    pub async fn attachment_by_id(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<(AttachmentInfo, Vec<u8>)> {
        let mut conn = self.store.read().await?;
        let Some((info, data)) = store_mail::attachment_by_id(&mut conn, id).await? else {
            return Err(DomainError::NotFound.into());
        };
        tickets::find(&mut conn, ticket_scope(actor), info.ticket)
            .await?
            .ok_or(DomainError::NotFound)?;
        match data {
            Some(data) => Ok((info, data)),
            None => Err(DomainError::NotFound.into()),
        }
    }

    /// The notices written for a ticket (what the outbox holds), if the actor may see it.
    pub async fn notices(&self, actor: &Actor, ticket: TicketId) -> Result<Vec<Notice>> {
        let mut conn = self.store.read().await?;
        tickets::find(&mut conn, ticket_scope(actor), ticket)
            .await?
            .ok_or(DomainError::NotFound)?;
        Ok(store_mail::notices_for(&mut conn, ticket).await?)
    }

    // -- for the outbox sender (mail::outbound) ----------------------------------------------

    /// Pending notices whose time has come.
    pub async fn due_notices(&self, limit: i64) -> Result<Vec<Notice>> {
        let mut conn = self.store.read().await?;
        Ok(store_mail::due(&mut conn, self.now(), limit).await?)
    }

    /// Marks a notice sent. The status-page token it carried is not kept: only its hash stays
    /// (in the ticket's links).
    pub async fn notice_sent(&self, notice: &Notice) -> Result<()> {
        let mut params = notice.params.clone();
        params.status_token = None;
        let params = serde_json::to_string(&params).map_err(|e| Error::Internal(e.to_string()))?;
        let mut conn = self.store.read().await?;
        Ok(store_mail::mark_sent(&mut conn, notice.id, self.now(), &params).await?)
    }

    /// The files a notice sends: those of the reply it carries (name, type, bytes).
    pub async fn notice_files(&self, notice: &Notice) -> Result<Vec<(String, String, Vec<u8>)>> {
        let (NoticeKind::Reply, Some(event)) = (notice.kind, notice.params.event_id) else {
            return Ok(Vec::new());
        };
        let mut conn = self.store.read().await?;
        Ok(store_mail::event_files(&mut conn, notice.ticket, event)
            .await?
            .into_iter()
            .map(|(info, data)| (info.filename, info.content_type, data))
            .collect())
    }

    pub async fn notice_retry(&self, id: i64, next_at: i64, error: &str) -> Result<()> {
        let mut conn = self.store.read().await?;
        let error: String = error.chars().take(1000).collect();
        Ok(store_mail::mark_retry(&mut conn, id, next_at, &error).await?)
    }

    /// Ends a notice unsent: `failed` or `suppressed`, with the reason kept.
    pub async fn notice_final(&self, id: i64, status: &str, error: &str) -> Result<()> {
        let mut conn = self.store.read().await?;
        let error: String = error.chars().take(1000).collect();
        Ok(store_mail::mark_final(&mut conn, id, status, &error).await?)
    }

    /// Notices sent to an address in the last 24 hours.
    pub async fn sent_last_day(&self, recipient: &str) -> Result<i64> {
        let mut conn = self.store.read().await?;
        Ok(store_mail::sent_to_since(&mut conn, recipient, self.now() - 86_400).await?)
    }

    /// Takes or renews a background job's lease for `ttl_secs`; `false` while another
    /// instance holds it.
    pub async fn acquire_lease(&self, name: &str, holder: &str, ttl_secs: i64) -> Result<bool> {
        let now = self.now();
        let mut conn = self.store.read().await?;
        Ok(store_mail::acquire_lease(&mut conn, name, holder, now, now + ttl_secs).await?)
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        let mut conn = self.store.read().await?;
        Ok(store_mail::release_lease(&mut conn, name, holder).await?)
    }
}

/// What storage knows for threading: the ticket of a message the headers name, and the
/// ticket named in the subject with the people on it.
async fn clues(conn: &mut Conn, mail: &InboundMail) -> Result<ThreadClues> {
    let mut clues = ThreadClues::default();
    let named = mail
        .in_reply_to
        .iter()
        .map(|id| (Header::InReplyTo, id))
        .chain(
            mail.references
                .iter()
                .rev()
                .map(|id| (Header::References, id)),
        );
    for (header, id) in named {
        if let Some(ticket) = store_mail::ticket_of_message(conn, id).await? {
            clues.by_header = Some((ticket, header, id.clone()));
            break;
        }
    }
    if let Some(number) = TicketNumber::find_in(&mail.subject)
        && tickets::find(conn, TicketScope::All, number.0)
            .await?
            .is_some()
    {
        clues.by_subject = Some((number, store_mail::participants(conn, number.0).await?));
    }
    Ok(clues)
}

/// A ticket's status now (`nuevo` if there is no such ticket).
async fn status_of(conn: &mut Conn, id: TicketId) -> Result<Status> {
    Ok(tickets::find(conn, TicketScope::All, id)
        .await?
        .map(|t| t.status)
        .unwrap_or(Status::Nuevo))
}

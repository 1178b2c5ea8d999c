//! The notices a ticket write causes — the acknowledgement to the sender of a new ticket, the
//! "assigned to you" to a technician, a public reply, a reminder and the closing message to
//! the requester — built here and written to the outbox with the write itself
//! (`storage::write`), so a notice exists exactly when its event does. `mail::outbound`
//! sends them. Every notice to the requester carries a link to their status page: a fresh
//! token (its time and 160 random bits), of which only the time and the SHA-256 are stored
//! (with the write, in `status_links`; `new_link`).

use super::{Result, random_hex, sha256_hex};
use crate::domain::ids::TicketId;
use crate::domain::mail::{NewNotice, NoticeKind, NoticeParams};
use crate::domain::ticket::{Change, NewTicket, Ticket};
use crate::domain::timeline::EventKind;
use crate::domain::user::Actor;
use crate::storage::{Conn, mail as store_mail, users};

/// A fresh Message-ID left part for a notice: the time in microseconds (fixed-width hex, so
/// tokens sort by time and the outbox's unique index takes new ones at its end instead of
/// on a random page each, ~a third of what an intake commit wrote) and 10 random bytes.
pub(crate) fn new_token() -> Result<String> {
    Ok(format!("soporte.{:014x}{}", now_micros(), random_hex(10)?))
}

/// Microseconds since 1970: the leading part of tokens that sort by time.
fn now_micros() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

/// Hexadecimal digits of a link's time (microseconds since 1970, fixed width).
const TIME_DIGITS: usize = 14;
/// Random bytes in a link (160 bits).
const RANDOM_BYTES: usize = 20;

/// A fresh status-page link: the token the e-mail carries and the key stored for it. The
/// token is the time in microseconds (fixed-width hex) and 160 random bits; the key is `t`,
/// that time and the token's SHA-256. Keys made later sort later, so each intake adds its
/// key at the end of `status_links`' unique index instead of on a random page of it (a
/// page less in every intake commit); only the hash of the secret part is stored.
pub(crate) fn new_link() -> Result<(String, String)> {
    let token = format!(
        "{:0width$x}{}",
        now_micros(),
        random_hex(RANDOM_BYTES)?,
        width = TIME_DIGITS
    );
    let key = link_key(&token).ok_or_else(|| super::Error::Internal("a malformed link".into()))?;
    Ok((token, key))
}

/// The stored key of a token as links carry it, or `None` when it cannot be one. Links
/// sent before keys carried their time are 40 hexadecimal digits, stored as their SHA-256,
/// and keep working.
pub(crate) fn link_key(token: &str) -> Option<String> {
    let t = token.trim().to_ascii_lowercase();
    if !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match t.len() {
        n if n == 2 * RANDOM_BYTES => Some(sha256_hex(&t)),
        n if n == TIME_DIGITS + 2 * RANDOM_BYTES => {
            Some(format!("t{}{}", &t[..TIME_DIGITS], sha256_hex(&t)))
        }
        _ => None,
    }
}

/// What a batch of notices adds to a write: the notices and the stored keys of the
/// status-page links they carry.
#[derive(Debug, Default)]
pub(crate) struct Notices {
    pub notices: Vec<NewNotice>,
    pub status_links: Vec<String>,
}

impl Notices {
    fn push(&mut self, notice: NewNotice) {
        self.notices.push(notice);
    }

    /// A notice to the requester, with a link to their status page.
    fn push_with_link(&mut self, mut notice: NewNotice) -> Result<()> {
        let (token, key) = new_link()?;
        self.status_links.push(key);
        notice.params.status_token = Some(token);
        self.notices.push(notice);
        Ok(())
    }
}

/// A notice's parameters; the ticket's number and id are filled in when the write is made (a
/// new ticket has neither before).
fn params_of(subject: &str, requester: &str) -> NoticeParams {
    NoticeParams {
        subject: subject.to_string(),
        requester: requester.to_string(),
        ..NoticeParams::default()
    }
}

/// The acknowledgement to the sender of a new ticket. `key` is the delivery's intake key: a
/// message's own id (`mid:…`) is what the acknowledgement answers.
pub(crate) fn received(new: &NewTicket, key: Option<&str>) -> Result<Notices> {
    let answered = key.and_then(|k| k.strip_prefix("mid:")).map(str::to_string);
    let mut out = Notices::default();
    out.push_with_link(NewNotice {
        kind: NoticeKind::Acknowledgement,
        ticket: TicketId(0),
        recipient: new.requester.clone(),
        params: params_of(&new.subject, &new.requester),
        token: new_token()?,
        references: answered.iter().cloned().collect(),
        in_reply_to: answered,
    })?;
    Ok(out)
}

/// Notices a decided change of `ticket` by `actor` causes: to the technician it was assigned
/// to; to the requester a public reply, a reminder, or the close (answering their last
/// message, so their mail client threads them).
pub(crate) async fn for_change(
    conn: &mut Conn,
    ticket: &Ticket,
    change: &Change,
    actor: &Actor,
) -> Result<Notices> {
    let mut out = Notices::default();
    let to_requester = |kind, params: NoticeParams, ids: &[String]| -> Result<NewNotice> {
        Ok(NewNotice {
            kind,
            ticket: ticket.id,
            recipient: ticket.requester.clone(),
            params,
            token: new_token()?,
            in_reply_to: ids.last().cloned(),
            references: ids.iter().rev().take(10).rev().cloned().collect(),
        })
    };
    for event in &change.events {
        match event.kind {
            EventKind::Assigned | EventKind::Reassigned => {
                let Some(tech) = event.data.to_assignee else {
                    continue;
                };
                let Some(user) = users::find(conn, tech).await? else {
                    continue;
                };
                let mut params = params_of(&ticket.subject, &ticket.requester);
                params.technician = Some(user.name.clone());
                out.push(NewNotice {
                    kind: NoticeKind::Assigned,
                    ticket: ticket.id,
                    recipient: user.email.clone(),
                    params,
                    token: new_token()?,
                    in_reply_to: None,
                    references: Vec::new(),
                });
            }
            EventKind::Replied => {
                let ids = store_mail::inbound_message_ids(conn, ticket.id).await?;
                let mut params = params_of(&ticket.subject, &ticket.requester);
                params.body = event.data.body.clone();
                params.wait = event.data.to_status.as_deref() == Some("en_espera");
                params.technician = actor.user_id().map(|_| actor.label());
                out.push_with_link(to_requester(NoticeKind::Reply, params, &ids)?)?;
            }
            EventKind::Reminded => {
                let ids = store_mail::inbound_message_ids(conn, ticket.id).await?;
                let params = params_of(&ticket.subject, &ticket.requester);
                out.push_with_link(to_requester(NoticeKind::Reminder, params, &ids)?)?;
            }
            EventKind::Closed => {
                let ids = store_mail::inbound_message_ids(conn, ticket.id).await?;
                let mut params = params_of(&ticket.subject, &ticket.requester);
                params.resolution = event.data.resolution.clone();
                params.technician = ticket.assignee_name.clone();
                out.push_with_link(to_requester(NoticeKind::Closed, params, &ids)?)?;
            }
            _ => {}
        }
    }
    Ok(out)
}

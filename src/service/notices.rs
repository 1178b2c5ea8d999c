//! The notices a ticket write causes — the acknowledgement to the sender of a new ticket, the
//! "assigned to you" to a technician, the closing message to the requester — built here and
//! written to the outbox with the write itself (`storage::write`), so a notice exists exactly
//! when its event does. `mail::outbound` sends them.

use super::{Result, random_hex};
use crate::domain::ids::TicketId;
use crate::domain::mail::{NewNotice, NoticeKind, NoticeParams};
use crate::domain::ticket::{Change, NewTicket, Ticket};
use crate::domain::timeline::EventKind;
use crate::storage::{Conn, mail as store_mail, users};

/// A fresh Message-ID left part for a notice: the time in microseconds (fixed-width hex, so
/// tokens sort by time and the outbox's unique index takes new ones at its end instead of
/// on a random page each, ~a third of what an intake commit wrote) and 10 random bytes.
pub(crate) fn new_token() -> Result<String> {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    Ok(format!("soporte.{micros:014x}{}", random_hex(10)?))
}

/// A notice's parameters; the ticket's number is filled in when the write is made (a new
/// ticket has no number before).
fn params_of(subject: &str, requester: &str) -> NoticeParams {
    NoticeParams {
        number: String::new(),
        subject: subject.to_string(),
        requester: requester.to_string(),
        ..NoticeParams::default()
    }
}

/// The acknowledgement to the sender of a new ticket. `key` is the delivery's intake key: a
/// message's own id (`mid:…`) is what the acknowledgement answers.
pub(crate) fn received(new: &NewTicket, key: Option<&str>) -> Result<NewNotice> {
    let answered = key.and_then(|k| k.strip_prefix("mid:")).map(str::to_string);
    Ok(NewNotice {
        kind: NoticeKind::Acknowledgement,
        ticket: TicketId(0),
        recipient: new.requester.clone(),
        params: params_of(&new.subject, &new.requester),
        token: new_token()?,
        references: answered.iter().cloned().collect(),
        in_reply_to: answered,
    })
}

/// Notices a decided change of `ticket` causes: to the technician it was assigned to, to the
/// requester when it is closed (answering their last message).
pub(crate) async fn for_change(
    conn: &mut Conn,
    ticket: &Ticket,
    change: &Change,
) -> Result<Vec<NewNotice>> {
    let mut out = Vec::new();
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
            EventKind::Closed => {
                let ids = store_mail::inbound_message_ids(conn, ticket.id).await?;
                let mut params = params_of(&ticket.subject, &ticket.requester);
                params.resolution = event.data.resolution.clone();
                params.technician = ticket.assignee_name.clone();
                let references: Vec<String> = ids.iter().rev().take(10).rev().cloned().collect();
                out.push(NewNotice {
                    kind: NoticeKind::Closed,
                    ticket: ticket.id,
                    recipient: ticket.requester.clone(),
                    params,
                    token: new_token()?,
                    in_reply_to: ids.last().cloned(),
                    references,
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

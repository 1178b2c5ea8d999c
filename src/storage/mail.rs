//! The mail channel's tables: the outbox of notices, the quarantine, attachments, links
//! between tickets, the message ids that thread replies, and the leases that let one
//! instance at a time poll the mailbox or send mail. Notices, attachments and links are
//! written with the ticket write that causes them (`storage::write`); here they are read,
//! and the outbox's sender marks what became of each notice.

use super::{Conn, Result, StorageError};
use crate::domain::ids::TicketId;
use crate::domain::mail::{
    AttachmentInfo, Notice, NoticeKind, NoticeParams, Quarantined, TicketLink,
};
use sqlx::Row;
use sqlx::any::AnyRow;

// ---------------------------------------------------------------------------------------------
// Outbox

const NOTICE_COLUMNS: &str = "id, kind, ticket_id, recipient, params, token, in_reply_to, refs, \
     status, attempts, next_attempt_at, last_error, created_at, sent_at";

fn notice_from_row(row: &AnyRow) -> Result<Notice> {
    let kind: String = row.try_get("kind")?;
    let params: String = row.try_get("params")?;
    let refs: Option<String> = row.try_get("refs")?;
    Ok(Notice {
        id: row.try_get("id")?,
        kind: NoticeKind::parse(&kind)
            .ok_or_else(|| StorageError::Corrupt(format!("notice kind {kind}")))?,
        ticket: TicketId(row.try_get("ticket_id")?),
        recipient: row.try_get("recipient")?,
        params: serde_json::from_str::<NoticeParams>(&params)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?,
        token: row.try_get("token")?,
        in_reply_to: row.try_get("in_reply_to")?,
        references: refs
            .map(|r| r.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        sent_at: row.try_get("sent_at")?,
    })
}

/// Pending notices whose time has come, oldest first.
pub async fn due(conn: &mut Conn, now: i64, limit: i64) -> Result<Vec<Notice>> {
    let sql = format!(
        "SELECT {NOTICE_COLUMNS} FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= $1 \
         ORDER BY id LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(now)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter().map(notice_from_row).collect()
}

/// Every notice about a ticket, oldest first.
pub async fn notices_for(conn: &mut Conn, ticket: TicketId) -> Result<Vec<Notice>> {
    let sql = format!("SELECT {NOTICE_COLUMNS} FROM mail_outbox WHERE ticket_id = $1 ORDER BY id");
    let rows = sqlx::query(&sql).bind(ticket.0).fetch_all(conn).await?;
    rows.iter().map(notice_from_row).collect()
}

/// Marks a notice sent; `params` replace its parameters (a status-page token is not kept
/// once the e-mail that carried it is gone).
pub async fn mark_sent(conn: &mut Conn, id: i64, at: i64, params: &str) -> Result<()> {
    sqlx::query(
        "UPDATE mail_outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1, \
         last_error = NULL, params = $2 WHERE id = $3 AND status = 'pending'",
    )
    .bind(at)
    .bind(params)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn mark_retry(conn: &mut Conn, id: i64, next_at: i64, error: &str) -> Result<()> {
    sqlx::query(
        "UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 \
         WHERE id = $3 AND status = 'pending'",
    )
    .bind(next_at)
    .bind(error)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends a notice without sending it: `failed` (the server refused it for good) or
/// `suppressed` (the address reached its daily limit). The row stays as the record.
pub async fn mark_final(conn: &mut Conn, id: i64, status: &str, error: &str) -> Result<()> {
    sqlx::query(
        "UPDATE mail_outbox SET status = $1, last_error = $2 WHERE id = $3 AND status = 'pending'",
    )
    .bind(status)
    .bind(error)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Notices sent to an address since an instant (for the daily limit).
pub async fn sent_to_since(conn: &mut Conn, recipient: &str, since: i64) -> Result<i64> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM mail_outbox \
         WHERE recipient = $1 AND status = 'sent' AND sent_at >= $2",
    )
    .bind(recipient.to_lowercase())
    .bind(since)
    .fetch_one(conn)
    .await?)
}

// ---------------------------------------------------------------------------------------------
// Threading

/// The ticket that one of our messages (an incoming one we recorded by its Message-ID, or a
/// notice we sent, by its token) belongs to.
pub async fn ticket_of_message(conn: &mut Conn, message_id: &str) -> Result<Option<TicketId>> {
    let key = format!("mid:{message_id}");
    if let Some(id) =
        sqlx::query_scalar::<_, i64>("SELECT ticket_id FROM intake_keys WHERE key = $1")
            .bind(&key)
            .fetch_optional(&mut *conn)
            .await?
    {
        return Ok(Some(TicketId(id)));
    }
    // Our notices' ids are `<soporte.HEX@domain>`: only those can name an outbox row.
    let token = message_id.split('@').next().unwrap_or(message_id);
    if !token.starts_with("soporte.") {
        return Ok(None);
    }
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT ticket_id FROM mail_outbox WHERE token = $1")
            .bind(token)
            .fetch_optional(conn)
            .await?
            .map(TicketId),
    )
}

/// The Message-IDs of the customer's messages on a ticket, oldest first.
pub async fn inbound_message_ids(conn: &mut Conn, ticket: TicketId) -> Result<Vec<String>> {
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT key FROM intake_keys WHERE ticket_id = $1 AND key LIKE 'mid:%' ORDER BY created_at, key",
    )
    .bind(ticket.0)
    .fetch_all(conn)
    .await?;
    Ok(keys
        .into_iter()
        .filter_map(|k| k.strip_prefix("mid:").map(str::to_string))
        .collect())
}

/// Who takes part in a ticket: its requester and every address that wrote into it.
pub async fn participants(conn: &mut Conn, ticket: TicketId) -> Result<Vec<String>> {
    let mut people: Vec<String> = sqlx::query_scalar("SELECT requester FROM tickets WHERE id = $1")
        .bind(ticket.0)
        .fetch_all(&mut *conn)
        .await?;
    let writers: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT actor FROM ticket_events WHERE ticket_id = $1 AND kind = 'customer_message'",
    )
    .bind(ticket.0)
    .fetch_all(conn)
    .await?;
    people.extend(writers);
    Ok(people)
}

// ---------------------------------------------------------------------------------------------
// Quarantine

/// What is written for a held message.
pub struct NewQuarantine<'a> {
    pub key: &'a str,
    pub sender: &'a str,
    pub subject: &'a str,
    pub reason_code: &'a str,
    pub reason: &'a str,
    pub size: i64,
    pub raw: &'a [u8],
}

pub async fn quarantine(conn: &mut Conn, q: &NewQuarantine<'_>, at: i64) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO mail_quarantine (key, received_at, sender, subject, reason_code, reason, size, raw) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(q.key)
    .bind(at)
    .bind(q.sender)
    .bind(q.subject)
    .bind(q.reason_code)
    .bind(q.reason)
    .bind(q.size)
    .bind(q.raw.to_vec())
    .fetch_one(conn)
    .await?)
}

const QUARANTINE_COLUMNS: &str =
    "id, received_at, sender, subject, reason_code, reason, size, ticket_id, released_at";

fn quarantined_from_row(row: &AnyRow) -> Result<Quarantined> {
    Ok(Quarantined {
        id: row.try_get("id")?,
        received_at: row.try_get("received_at")?,
        sender: row.try_get("sender")?,
        subject: row.try_get("subject")?,
        reason_code: row.try_get("reason_code")?,
        reason: row.try_get("reason")?,
        size: row.try_get("size")?,
        ticket: row.try_get::<Option<i64>, _>("ticket_id")?.map(TicketId),
        released_at: row.try_get("released_at")?,
    })
}

pub async fn quarantined_by_key(conn: &mut Conn, key: &str) -> Result<Option<Quarantined>> {
    let sql = format!("SELECT {QUARANTINE_COLUMNS} FROM mail_quarantine WHERE key = $1");
    let row = sqlx::query(&sql).bind(key).fetch_optional(conn).await?;
    row.as_ref().map(quarantined_from_row).transpose()
}

/// The newest held messages first.
pub async fn quarantine_list(conn: &mut Conn, limit: i64) -> Result<Vec<Quarantined>> {
    let sql = format!(
        "SELECT {QUARANTINE_COLUMNS} FROM mail_quarantine ORDER BY received_at DESC, id DESC LIMIT $1"
    );
    let rows = sqlx::query(&sql).bind(limit).fetch_all(conn).await?;
    rows.iter().map(quarantined_from_row).collect()
}

/// One held message with its raw bytes.
pub async fn quarantined(conn: &mut Conn, id: i64) -> Result<Option<(Quarantined, Vec<u8>)>> {
    let sql = format!("SELECT {QUARANTINE_COLUMNS}, raw FROM mail_quarantine WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    match row {
        Some(row) => Ok(Some((quarantined_from_row(&row)?, row.try_get("raw")?))),
        None => Ok(None),
    }
}

// ---------------------------------------------------------------------------------------------
// Attachments and links

const ATTACHMENT_COLUMNS: &str = "id, ticket_id, event_id, filename, content_type, size, \
     CAST(CASE WHEN data IS NULL THEN 0 ELSE 1 END AS BIGINT) AS stored, created_at";

fn attachment_from_row(row: &AnyRow) -> Result<AttachmentInfo> {
    Ok(AttachmentInfo {
        id: row.try_get("id")?,
        ticket: TicketId(row.try_get("ticket_id")?),
        event: row.try_get("event_id")?,
        filename: row.try_get("filename")?,
        content_type: row.try_get("content_type")?,
        size: row.try_get("size")?,
        stored: row.try_get::<i64, _>("stored")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn attachments(conn: &mut Conn, ticket: TicketId) -> Result<Vec<AttachmentInfo>> {
    let sql = format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM mail_attachments WHERE ticket_id = $1 ORDER BY id"
    );
    let rows = sqlx::query(&sql).bind(ticket.0).fetch_all(conn).await?;
    rows.iter().map(attachment_from_row).collect()
}

/// One attachment of one ticket, with its bytes (`None` if only its record was kept).
pub async fn attachment(
    conn: &mut Conn,
    ticket: TicketId,
    id: i64,
) -> Result<Option<(AttachmentInfo, Option<Vec<u8>>)>> {
    let sql = format!(
        "SELECT {ATTACHMENT_COLUMNS}, data FROM mail_attachments WHERE id = $1 AND ticket_id = $2"
    );
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(ticket.0)
        .fetch_optional(conn)
        .await?;
    match row {
        Some(row) => Ok(Some((attachment_from_row(&row)?, row.try_get("data")?))),
        None => Ok(None),
    }
}

/// One attachment by its id, with its bytes (`None` if only its record was kept).
pub async fn attachment_by_id(
    conn: &mut Conn,
    id: i64,
) -> Result<Option<(AttachmentInfo, Option<Vec<u8>>)>> {
    let sql = format!("SELECT {ATTACHMENT_COLUMNS}, data FROM mail_attachments WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    match row {
        Some(row) => Ok(Some((attachment_from_row(&row)?, row.try_get("data")?))),
        None => Ok(None),
    }
}

/// The stored files that came with one event, with their bytes.
pub async fn event_files(
    conn: &mut Conn,
    ticket: TicketId,
    event: i64,
) -> Result<Vec<(AttachmentInfo, Vec<u8>)>> {
    let sql = format!(
        "SELECT {ATTACHMENT_COLUMNS}, data FROM mail_attachments \
         WHERE ticket_id = $1 AND event_id = $2 AND data IS NOT NULL ORDER BY id"
    );
    let rows = sqlx::query(&sql)
        .bind(ticket.0)
        .bind(event)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| Ok((attachment_from_row(row)?, row.try_get("data")?)))
        .collect()
}

/// The tickets linked to this one, in either direction.
pub async fn links(conn: &mut Conn, ticket: TicketId) -> Result<Vec<TicketLink>> {
    let rows = sqlx::query(
        "SELECT linked_id AS other, reason, created_at FROM ticket_links WHERE ticket_id = $1 \
         UNION ALL \
         SELECT ticket_id AS other, reason, created_at FROM ticket_links WHERE linked_id = $1 \
         ORDER BY created_at",
    )
    .bind(ticket.0)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(TicketLink {
                other: TicketId(row.try_get("other")?),
                reason: row.try_get("reason")?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Leases

/// Takes or renews the lease `name` for `holder` until `until`; `false` while another holder's
/// lease has not expired. One statement, so two instances cannot both win.
pub async fn acquire_lease(
    conn: &mut Conn,
    name: &str,
    holder: &str,
    now: i64,
    until: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO mail_leases (name, holder, until_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = $2, until_at = $3 \
         WHERE mail_leases.until_at < $4 OR mail_leases.holder = $2",
    )
    .bind(name)
    .bind(holder)
    .bind(until)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn release_lease(conn: &mut Conn, name: &str, holder: &str) -> Result<()> {
    sqlx::query("UPDATE mail_leases SET until_at = 0 WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute(conn)
        .await?;
    Ok(())
}

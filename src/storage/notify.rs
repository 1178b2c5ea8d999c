//! Chat notices' rows: channels (targets and secrets sealed by the service), deliveries (the
//! outbox the sender works through), and the feed's cursor over the append-only timeline.

use super::{Backend, Conn, Result};
use sqlx::Row;

/// A channel as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRow {
    pub id: i64,
    pub kind: String,
    pub name: String,
    /// Sealed URL or bot token.
    pub target: String,
    pub target_hint: String,
    pub chat_id: Option<String>,
    /// Sealed signing secret (generic webhooks).
    pub secret: Option<String>,
    pub events: String,
    pub owner_id: Option<i64>,
    pub owner_name: Option<String>,
    pub active: bool,
    pub created_at: i64,
    /// Deliveries sent in the last 24 hours, failed ones, and waiting ones (for the page).
    pub sent_last_day: i64,
    pub failed: i64,
    pub pending: i64,
}

pub struct NewChannel<'a> {
    pub kind: &'a str,
    pub name: &'a str,
    pub target: &'a str,
    pub target_hint: &'a str,
    pub chat_id: Option<&'a str>,
    pub secret: Option<&'a str>,
    pub events: &'a str,
    pub owner_id: Option<i64>,
    pub created_by: Option<i64>,
    pub created_at: i64,
}

pub async fn insert_channel(conn: &mut Conn, c: &NewChannel<'_>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO notify_channels (kind, name, target, target_hint, chat_id, secret, events, \
         owner_id, active, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10) RETURNING id",
    )
    .bind(c.kind)
    .bind(c.name)
    .bind(c.target)
    .bind(c.target_hint)
    .bind(c.chat_id)
    .bind(c.secret)
    .bind(c.events)
    .bind(c.owner_id)
    .bind(c.created_by)
    .bind(c.created_at)
    .fetch_one(conn)
    .await?)
}

const CHANNEL_SELECT: &str = "SELECT c.id, c.kind, c.name, c.target, c.target_hint, c.chat_id, \
     c.secret, c.events, c.owner_id, u.name AS owner_name, c.active, c.created_at, \
     (SELECT COUNT(*) FROM notify_deliveries d WHERE d.channel_id = c.id AND d.status = 'sent' \
        AND d.sent_at >= $1) AS sent_last_day, \
     (SELECT COUNT(*) FROM notify_deliveries d WHERE d.channel_id = c.id AND d.status = 'failed') AS failed, \
     (SELECT COUNT(*) FROM notify_deliveries d WHERE d.channel_id = c.id AND d.status = 'pending') AS pending \
     FROM notify_channels c LEFT JOIN users u ON u.id = c.owner_id";

fn channel_from(r: &sqlx::any::AnyRow) -> Result<ChannelRow> {
    Ok(ChannelRow {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        name: r.try_get("name")?,
        target: r.try_get("target")?,
        target_hint: r.try_get("target_hint")?,
        chat_id: r.try_get("chat_id")?,
        secret: r.try_get("secret")?,
        events: r.try_get("events")?,
        owner_id: r.try_get("owner_id")?,
        owner_name: r.try_get("owner_name")?,
        active: r.try_get::<i64, _>("active")? != 0,
        created_at: r.try_get("created_at")?,
        sent_last_day: r.try_get("sent_last_day")?,
        failed: r.try_get("failed")?,
        pending: r.try_get("pending")?,
    })
}

pub async fn channels(conn: &mut Conn, now: i64) -> Result<Vec<ChannelRow>> {
    let sql = format!("{CHANNEL_SELECT} ORDER BY c.id");
    let rows = sqlx::query(&sql).bind(now - 86_400).fetch_all(conn).await?;
    rows.iter().map(channel_from).collect()
}

pub async fn channel(conn: &mut Conn, id: i64, now: i64) -> Result<Option<ChannelRow>> {
    let sql = format!("{CHANNEL_SELECT} WHERE c.id = $2");
    let row = sqlx::query(&sql)
        .bind(now - 86_400)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(channel_from).transpose()
}

pub async fn delete_channel(conn: &mut Conn, id: i64) -> Result<bool> {
    sqlx::query("DELETE FROM notify_deliveries WHERE channel_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let done = sqlx::query("DELETE FROM notify_channels WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_channel_active(conn: &mut Conn, id: i64, active: bool) -> Result<bool> {
    let done = sqlx::query("UPDATE notify_channels SET active = $1 WHERE id = $2")
        .bind(super::flag(active))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Every channel's sealed target and secret (for `soporte secrets rotate`).
pub async fn sealed_values(conn: &mut Conn) -> Result<Vec<(i64, String, Option<String>)>> {
    let rows = sqlx::query("SELECT id, target, secret FROM notify_channels ORDER BY id")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("target")?, r.try_get("secret")?)))
        .collect()
}

pub async fn reseal_channel(
    conn: &mut Conn,
    id: i64,
    target: &str,
    secret: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE notify_channels SET target = $1, secret = $2 WHERE id = $3")
        .bind(target)
        .bind(secret)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

// -- the feed ----------------------------------------------------------------------------------

/// A position in the timeline: (transaction id, event id). On SQLite the transaction id is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    pub tx_id: i64,
    pub event_id: i64,
}

pub const FEED: &str = "chat-notices";

pub async fn cursor(conn: &mut Conn, name: &str) -> Result<Option<Cursor>> {
    let row = sqlx::query("SELECT tx_id, event_id FROM notify_cursor WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await?;
    row.map(|r| {
        Ok(Cursor {
            tx_id: r.try_get("tx_id")?,
            event_id: r.try_get("event_id")?,
        })
    })
    .transpose()
}

/// Where a new feed starts: after the newest event already committed, so channels never
/// receive history. (On PostgreSQL an event still being written at this very moment by an
/// older transaction is left out too: it belongs to the past the feed skips.)
pub async fn cursor_now(conn: &mut Conn, backend: Backend) -> Result<Cursor> {
    Ok(match backend {
        Backend::Sqlite => Cursor {
            tx_id: 0,
            event_id: sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM ticket_events")
                .fetch_one(conn)
                .await?,
        },
        Backend::Postgres => {
            let row = sqlx::query(
                "SELECT tx_id, id FROM ticket_events ORDER BY tx_id DESC, id DESC LIMIT 1",
            )
            .fetch_optional(conn)
            .await?;
            match row {
                Some(r) => Cursor {
                    tx_id: r.try_get("tx_id")?,
                    event_id: r.try_get("id")?,
                },
                None => Cursor::default(),
            }
        }
    })
}

pub async fn put_cursor(conn: &mut Conn, name: &str, c: Cursor) -> Result<()> {
    sqlx::query(
        "INSERT INTO notify_cursor (name, tx_id, event_id) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET tx_id = excluded.tx_id, event_id = excluded.event_id",
    )
    .bind(name)
    .bind(c.tx_id)
    .bind(c.event_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves the cursor from `from` to `to` if it is still at `from`; whether it moved.
pub async fn move_cursor(conn: &mut Conn, name: &str, from: Cursor, to: Cursor) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE notify_cursor SET tx_id = $4, event_id = $5 \
         WHERE name = $1 AND tx_id = $2 AND event_id = $3",
    )
    .bind(name)
    .bind(from.tx_id)
    .bind(from.event_id)
    .bind(to.tx_id)
    .bind(to.event_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A timeline event after the cursor, with what a notice says of its ticket.
#[derive(Debug, Clone)]
pub struct FeedEvent {
    pub at: Cursor,
    pub ticket_id: i64,
    pub when: i64,
    pub kind: String,
    pub data: String,
    pub subject: String,
    pub status: String,
    pub requester: String,
}

/// The next events after `after`, in commit-safe order (see the migration 0162 note).
/// PostgreSQL's cursor is a row comparison, which the planner turns into where the walk of
/// `ticket_events_tx (tx_id, id)` starts; written as `tx_id > $1 OR (tx_id = $1 AND id > $2)`
/// it was only a filter, and every poll walked the whole timeline up to the cursor (seconds
/// at ten million tickets, a PostgreSQL core kept busy while intake ran).
pub async fn events_after(
    conn: &mut Conn,
    backend: Backend,
    after: Cursor,
    limit: i64,
) -> Result<Vec<FeedEvent>> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT 0 AS tx_id, e.id, e.ticket_id, e.at, e.kind, e.data, t.subject, t.status, \
             t.requester FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id \
             WHERE e.id > $2 AND $1 >= 0 ORDER BY e.id LIMIT $3"
        }
        Backend::Postgres => {
            "SELECT e.tx_id, e.id, e.ticket_id, e.at, e.kind, e.data, t.subject, t.status, \
             t.requester FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id \
             WHERE (e.tx_id, e.id) > ($1, $2) \
               AND e.tx_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
             ORDER BY e.tx_id, e.id LIMIT $3"
        }
    };
    let rows = sqlx::query(sql)
        .bind(after.tx_id)
        .bind(after.event_id)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(FeedEvent {
                at: Cursor {
                    tx_id: r.try_get("tx_id")?,
                    event_id: r.try_get("id")?,
                },
                ticket_id: r.try_get("ticket_id")?,
                when: r.try_get("at")?,
                kind: r.try_get("kind")?,
                data: r.try_get("data")?,
                subject: r.try_get("subject")?,
                status: r.try_get("status")?,
                requester: r.try_get("requester")?,
            })
        })
        .collect()
}

/// Every channel's subscription: `(id, events, owner, active)`.
pub async fn subscriptions(conn: &mut Conn) -> Result<Vec<(i64, String, Option<i64>, bool)>> {
    let rows = sqlx::query("SELECT id, events, owner_id, active FROM notify_channels")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                r.try_get("events")?,
                r.try_get("owner_id")?,
                r.try_get::<i64, _>("active")? != 0,
            ))
        })
        .collect()
}

// -- deliveries --------------------------------------------------------------------------------

pub async fn enqueue(
    conn: &mut Conn,
    channel: i64,
    event_id: Option<i64>,
    event: &str,
    payload: &str,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO notify_deliveries (channel_id, event_id, event, payload, status, attempts, \
         next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5) \
         ON CONFLICT (channel_id, event_id) DO NOTHING",
    )
    .bind(channel)
    .bind(event_id)
    .bind(event)
    .bind(payload)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A delivery due now, with its channel's sealed target.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: i64,
    pub channel_id: i64,
    pub kind: String,
    pub target: String,
    pub chat_id: Option<String>,
    pub secret: Option<String>,
    pub payload: String,
    pub attempts: i64,
}

pub async fn due(conn: &mut Conn, now: i64, limit: i64) -> Result<Vec<DueDelivery>> {
    let rows = sqlx::query(
        "SELECT d.id, d.channel_id, c.kind, c.target, c.chat_id, c.secret, d.payload, d.attempts \
         FROM notify_deliveries d JOIN notify_channels c ON c.id = d.channel_id \
         WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND c.active = 1 \
         ORDER BY d.next_attempt_at, d.id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DueDelivery {
                id: r.try_get("id")?,
                channel_id: r.try_get("channel_id")?,
                kind: r.try_get("kind")?,
                target: r.try_get("target")?,
                chat_id: r.try_get("chat_id")?,
                secret: r.try_get("secret")?,
                payload: r.try_get("payload")?,
                attempts: r.try_get("attempts")?,
            })
        })
        .collect()
}

pub async fn mark_sent(conn: &mut Conn, id: i64, at: i64) -> Result<()> {
    sqlx::query(
        "UPDATE notify_deliveries SET status = 'sent', sent_at = $1, attempts = attempts + 1, \
         last_error = NULL WHERE id = $2",
    )
    .bind(at)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn mark_retry(conn: &mut Conn, id: i64, next_at: i64, error: &str) -> Result<()> {
    sqlx::query(
        "UPDATE notify_deliveries SET attempts = attempts + 1, next_attempt_at = $1, \
         last_error = $2 WHERE id = $3",
    )
    .bind(next_at)
    .bind(error)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn mark_final(conn: &mut Conn, id: i64, status: &str, error: &str) -> Result<()> {
    sqlx::query(
        "UPDATE notify_deliveries SET status = $1, attempts = attempts + 1, last_error = $2 \
         WHERE id = $3",
    )
    .bind(status)
    .bind(error)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a test delivery that was already attempted ("Enviar prueba").
pub async fn record_test(
    conn: &mut Conn,
    channel: i64,
    payload: &str,
    ok: bool,
    error: Option<&str>,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO notify_deliveries (channel_id, event_id, event, payload, status, attempts, \
         next_attempt_at, last_error, created_at, sent_at) \
         VALUES ($1, NULL, 'test', $2, $3, 1, $4, $5, $4, $6)",
    )
    .bind(channel)
    .bind(payload)
    .bind(if ok { "sent" } else { "failed" })
    .bind(at)
    .bind(error)
    .bind(if ok { Some(at) } else { None })
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn sent_since(conn: &mut Conn, channel: i64, since: i64) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM notify_deliveries WHERE channel_id = $1 AND status = 'sent' \
         AND sent_at >= $2",
    )
    .bind(channel)
    .bind(since)
    .fetch_one(conn)
    .await?)
}

/// The latest deliveries (for the page): `(channel name, event, status, attempts, last
/// error, created, sent)`.
#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub channel: String,
    pub event: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

pub async fn recent(conn: &mut Conn, limit: i64) -> Result<Vec<DeliveryRow>> {
    let rows = sqlx::query(
        "SELECT c.name, d.event, d.status, d.attempts, d.last_error, d.created_at, d.sent_at \
         FROM notify_deliveries d JOIN notify_channels c ON c.id = d.channel_id \
         ORDER BY d.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DeliveryRow {
                channel: r.try_get("name")?,
                event: r.try_get("event")?,
                status: r.try_get("status")?,
                attempts: r.try_get("attempts")?,
                last_error: r.try_get("last_error")?,
                created_at: r.try_get("created_at")?,
                sent_at: r.try_get("sent_at")?,
            })
        })
        .collect()
}

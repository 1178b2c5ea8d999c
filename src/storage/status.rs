//! The requester's status page: which ticket a link's token opens (by its stored key,
//! `service::notices::link_key`),
//! and the request counts that limit how fast one address may use the page.

use super::{Conn, Result};
use crate::domain::ids::TicketId;

/// The ticket a status-page link (given by its stored key) belongs to.
pub async fn ticket_of(conn: &mut Conn, key: &str) -> Result<Option<TicketId>> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT ticket_id FROM status_links WHERE token_hash = $1")
            .bind(key)
            .fetch_optional(conn)
            .await?
            .map(TicketId),
    )
}

/// Counts one request under `key`, forgets the key's requests older than `forget_before`,
/// and returns how many it has since `since` (this one included).
pub async fn count_request(
    conn: &mut Conn,
    key: &str,
    at: i64,
    since: i64,
    forget_before: i64,
) -> Result<i64> {
    sqlx::query("DELETE FROM request_counts WHERE key = $1 AND at < $2")
        .bind(key)
        .bind(forget_before)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO request_counts (key, at) VALUES ($1, $2)")
        .bind(key)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM request_counts WHERE key = $1 AND at >= $2",
    )
    .bind(key)
    .bind(since)
    .fetch_one(conn)
    .await?)
}

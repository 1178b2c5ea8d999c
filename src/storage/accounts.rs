//! The history of an account: what an administrator (or the system) did to it.

use super::{Conn, Result};
use crate::domain::ids::UserId;
use sqlx::Row;

/// One entry of an account's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountEvent {
    pub kind: String,
    pub actor_name: String,
    pub detail: Option<String>,
    pub at: i64,
}

pub async fn record(
    conn: &mut Conn,
    user: UserId,
    kind: &str,
    actor: Option<(UserId, &str)>,
    detail: Option<&str>,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO account_events (user_id, kind, actor_id, actor_name, detail, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user.0)
    .bind(kind)
    .bind(actor.map(|(id, _)| id.0))
    .bind(actor.map(|(_, n)| n).unwrap_or("Sistema"))
    .bind(detail)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The account's history, newest first.
pub async fn history(conn: &mut Conn, user: UserId, limit: i64) -> Result<Vec<AccountEvent>> {
    let rows = sqlx::query(
        "SELECT kind, actor_name, detail, at FROM account_events WHERE user_id = $1 \
         ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(user.0)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AccountEvent {
                kind: r.try_get("kind")?,
                actor_name: r.try_get("actor_name")?,
                detail: r.try_get("detail")?,
                at: r.try_get("at")?,
            })
        })
        .collect()
}

/// The latest entries of every account's history, newest first, with whose they are.
pub async fn recent(conn: &mut Conn, limit: i64) -> Result<Vec<(UserId, AccountEvent)>> {
    let rows = sqlx::query(
        "SELECT user_id, kind, actor_name, detail, at FROM account_events \
         ORDER BY at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                UserId(r.try_get("user_id")?),
                AccountEvent {
                    kind: r.try_get("kind")?,
                    actor_name: r.try_get("actor_name")?,
                    detail: r.try_get("detail")?,
                    at: r.try_get("at")?,
                },
            ))
        })
        .collect()
}

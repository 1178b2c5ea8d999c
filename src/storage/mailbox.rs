//! The support mailbox's OAuth2 grant (sealed tokens, one row), authorizations under way, and
//! the health of each mail direction.

use super::{Backend, Conn, Result};
use crate::domain::mailbox::{Direction, Health};
use sqlx::Row;

pub const SLOT: &str = "mailbox";

/// The stored grant. Tokens are sealed text; the service opens them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrantRow {
    pub grant_type: String,
    pub account: Option<String>,
    pub refresh_token: Option<String>,
    pub access_token: Option<String>,
    pub access_expires_at: Option<i64>,
    pub connected_by: Option<i64>,
    pub connected_at: Option<i64>,
    pub refreshed_at: Option<i64>,
    pub rotations: i64,
}

fn grant_from(r: &sqlx::any::AnyRow) -> Result<GrantRow> {
    Ok(GrantRow {
        grant_type: r.try_get("grant_type")?,
        account: r.try_get("account")?,
        refresh_token: r.try_get("refresh_token")?,
        access_token: r.try_get("access_token")?,
        access_expires_at: r.try_get("access_expires_at")?,
        connected_by: r.try_get("connected_by")?,
        connected_at: r.try_get("connected_at")?,
        refreshed_at: r.try_get("refreshed_at")?,
        rotations: r.try_get("rotations")?,
    })
}

const GRANT_COLUMNS: &str = "grant_type, account, refresh_token, access_token, access_expires_at, \
     connected_by, connected_at, refreshed_at, rotations";

pub async fn grant(conn: &mut Conn) -> Result<Option<GrantRow>> {
    let sql = format!("SELECT {GRANT_COLUMNS} FROM mail_oauth WHERE slot = $1");
    let row = sqlx::query(&sql).bind(SLOT).fetch_optional(conn).await?;
    row.as_ref().map(grant_from).transpose()
}

/// The grant, locked until the transaction ends, so one refresh at a time uses (and
/// replaces) the refresh token: `FOR UPDATE` on PostgreSQL; on SQLite the write
/// transaction (`BEGIN IMMEDIATE`) already holds the database's one write lock.
pub async fn grant_for_update(conn: &mut Conn, backend: Backend) -> Result<Option<GrantRow>> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let sql = format!("SELECT {GRANT_COLUMNS} FROM mail_oauth WHERE slot = $1{lock}");
    let row = sqlx::query(&sql).bind(SLOT).fetch_optional(conn).await?;
    row.as_ref().map(grant_from).transpose()
}

/// Stores a new grant (after consent, or the first app-only token), replacing any other.
pub async fn put_grant(conn: &mut Conn, g: &GrantRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO mail_oauth (slot, grant_type, account, refresh_token, access_token, \
         access_expires_at, connected_by, connected_at, refreshed_at, rotations) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (slot) DO UPDATE SET grant_type = excluded.grant_type, \
         account = excluded.account, refresh_token = excluded.refresh_token, \
         access_token = excluded.access_token, access_expires_at = excluded.access_expires_at, \
         connected_by = excluded.connected_by, connected_at = excluded.connected_at, \
         refreshed_at = excluded.refreshed_at, rotations = excluded.rotations",
    )
    .bind(SLOT)
    .bind(&g.grant_type)
    .bind(&g.account)
    .bind(&g.refresh_token)
    .bind(&g.access_token)
    .bind(g.access_expires_at)
    .bind(g.connected_by)
    .bind(g.connected_at)
    .bind(g.refreshed_at)
    .bind(g.rotations)
    .execute(conn)
    .await?;
    Ok(())
}

/// After a refresh: the new access token, and the rotated refresh token when there is one.
pub async fn store_refresh(
    conn: &mut Conn,
    access_token: &str,
    expires_at: i64,
    rotated_refresh: Option<&str>,
    at: i64,
) -> Result<()> {
    match rotated_refresh {
        Some(rt) => {
            sqlx::query(
                "UPDATE mail_oauth SET access_token = $1, access_expires_at = $2, \
                 refresh_token = $3, refreshed_at = $4, rotations = rotations + 1 WHERE slot = $5",
            )
            .bind(access_token)
            .bind(expires_at)
            .bind(rt)
            .bind(at)
            .bind(SLOT)
            .execute(conn)
            .await?;
        }
        None => {
            sqlx::query(
                "UPDATE mail_oauth SET access_token = $1, access_expires_at = $2, \
                 refreshed_at = $3 WHERE slot = $4",
            )
            .bind(access_token)
            .bind(expires_at)
            .bind(at)
            .bind(SLOT)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

pub async fn delete_grant(conn: &mut Conn) -> Result<()> {
    sqlx::query("DELETE FROM mail_oauth WHERE slot = $1")
        .bind(SLOT)
        .execute(conn)
        .await?;
    Ok(())
}

// -- authorizations under way ------------------------------------------------------------------

pub async fn insert_pending(
    conn: &mut Conn,
    state_hash: &str,
    user: i64,
    verifier: &str,
    at: i64,
) -> Result<()> {
    sqlx::query("DELETE FROM mail_oauth_pending WHERE created_at < $1")
        .bind(at - crate::domain::oauth::AUTHORIZATION_TTL_SECS)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO mail_oauth_pending (state_hash, user_id, pkce_verifier, created_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(state_hash)
    .bind(user)
    .bind(verifier)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes an authorization out (single use): `(user id, PKCE verifier, started at)`.
pub async fn take_pending(conn: &mut Conn, state_hash: &str) -> Result<Option<(i64, String, i64)>> {
    let row = sqlx::query(
        "DELETE FROM mail_oauth_pending WHERE state_hash = $1 \
         RETURNING user_id, pkce_verifier, created_at",
    )
    .bind(state_hash)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok((
            r.try_get("user_id")?,
            r.try_get("pkce_verifier")?,
            r.try_get("created_at")?,
        ))
    })
    .transpose()
}

// -- health ------------------------------------------------------------------------------------

pub async fn health(conn: &mut Conn, direction: Direction) -> Result<Health> {
    let row = sqlx::query(
        "SELECT last_success_at, last_error_at, last_error, failing_since, alerted_at \
         FROM mail_health WHERE direction = $1",
    )
    .bind(direction.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some(r) => Health {
            last_success_at: r.try_get("last_success_at")?,
            last_error_at: r.try_get("last_error_at")?,
            last_error: r.try_get("last_error")?,
            failing_since: r.try_get("failing_since")?,
            alerted_at: r.try_get("alerted_at")?,
        },
        None => Health::default(),
    })
}

pub async fn put_health(conn: &mut Conn, direction: Direction, h: &Health) -> Result<()> {
    sqlx::query(
        "INSERT INTO mail_health (direction, last_success_at, last_error_at, last_error, \
         failing_since, alerted_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (direction) DO UPDATE SET last_success_at = excluded.last_success_at, \
         last_error_at = excluded.last_error_at, last_error = excluded.last_error, \
         failing_since = excluded.failing_since, alerted_at = excluded.alerted_at",
    )
    .bind(direction.as_str())
    .bind(h.last_success_at)
    .bind(h.last_error_at)
    .bind(&h.last_error)
    .bind(h.failing_since)
    .bind(h.alerted_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Locks the health row of a direction for the rest of the transaction (PostgreSQL), so two
/// instances do not both send the alert.
pub async fn health_for_update(
    conn: &mut Conn,
    backend: Backend,
    direction: Direction,
) -> Result<Health> {
    if backend == Backend::Postgres {
        sqlx::query(
            "INSERT INTO mail_health (direction) VALUES ($1) ON CONFLICT (direction) DO NOTHING",
        )
        .bind(direction.as_str())
        .execute(&mut *conn)
        .await?;
        sqlx::query("SELECT direction FROM mail_health WHERE direction = $1 FOR UPDATE")
            .bind(direction.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    }
    health(conn, direction).await
}

/// Active administrators' addresses (whom a mailbox alert goes to).
pub async fn admin_addresses(conn: &mut Conn) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT email, name FROM users WHERE role = 'admin' AND active = 1 ORDER BY id",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("email")?, r.try_get("name")?)))
        .collect()
}

/// Replaces the sealed tokens as they are (for `soporte secrets rotate`).
pub async fn reseal_grant(
    conn: &mut Conn,
    refresh_token: Option<&str>,
    access_token: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE mail_oauth SET refresh_token = $1, access_token = $2 WHERE slot = $3")
        .bind(refresh_token)
        .bind(access_token)
        .bind(SLOT)
        .execute(conn)
        .await?;
    Ok(())
}

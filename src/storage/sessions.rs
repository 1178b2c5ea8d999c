//! Sign-in sessions, kept in the database so every instance sees them.

use super::users::user_from_row;
use super::{Conn, Result};
use crate::domain::ids::UserId;
use crate::domain::user::User;
use sqlx::Row;

pub struct SessionRecord {
    pub user: User,
    pub csrf_token: String,
    pub last_seen_at: i64,
    pub flash: Option<String>,
    /// How it signed in: `password`, `ldap` or `sso`.
    pub method: String,
    /// Whether the user has a second factor (TOTP) switched on.
    pub two_factor: bool,
}

pub async fn insert(
    conn: &mut Conn,
    id_hash: &str,
    user: UserId,
    csrf: &str,
    now: i64,
) -> Result<()> {
    insert_signed_in_by(conn, id_hash, user, csrf, now, "password").await
}

/// A new session, with how it signed in (`password`, `ldap`, `sso`).
pub async fn insert_signed_in_by(
    conn: &mut Conn,
    id_hash: &str,
    user: UserId,
    csrf: &str,
    now: i64,
    method: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, method) \
         VALUES ($1, $2, $3, $4, $4, $5)",
    )
    .bind(id_hash)
    .bind(user.0)
    .bind(csrf)
    .bind(now)
    .bind(method)
    .execute(conn)
    .await?;
    Ok(())
}

/// The session and its user, if the session exists and the user is active.
pub async fn find(conn: &mut Conn, id_hash: &str) -> Result<Option<SessionRecord>> {
    let row = sqlx::query(
        "SELECT u.id, u.email, u.name, u.role, u.must_change_password, u.active, u.phone, u.area, \
                u.last_login_at, u.created_at, s.csrf_token, s.last_seen_at, s.flash, s.method, \
                (SELECT COUNT(*) FROM user_totp t WHERE t.user_id = u.id \
                   AND t.enabled_at IS NOT NULL) AS two_factor \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id_hash = $1 AND u.active = 1",
    )
    .bind(id_hash)
    .fetch_optional(conn)
    .await?;
    match row {
        Some(row) => Ok(Some(SessionRecord {
            user: user_from_row(&row)?,
            csrf_token: row.try_get("csrf_token")?,
            last_seen_at: row.try_get("last_seen_at")?,
            flash: row.try_get("flash")?,
            method: row.try_get("method")?,
            two_factor: row.try_get::<i64, _>("two_factor")? > 0,
        })),
        None => Ok(None),
    }
}

pub async fn touch(conn: &mut Conn, id_hash: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
        .bind(now)
        .bind(id_hash)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_flash(conn: &mut Conn, id_hash: &str, flash: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE sessions SET flash = $1 WHERE id_hash = $2")
        .bind(flash)
        .bind(id_hash)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete(conn: &mut Conn, id_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete_for_user(conn: &mut Conn, user: UserId) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// Every other session of the user (after a password change).
pub async fn delete_others(conn: &mut Conn, user: UserId, keep_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
        .bind(user.0)
        .bind(keep_hash)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete_idle(conn: &mut Conn, seen_before: i64) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1")
        .bind(seen_before)
        .execute(conn)
        .await?
        .rows_affected())
}

/// Keeps a one-time password (sealed or marked plain by the service) on the session until
/// the next page takes it.
pub async fn set_issued(conn: &mut Conn, id_hash: &str, issued: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE sessions SET issued = $1 WHERE id_hash = $2")
        .bind(issued)
        .bind(id_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// The one-time password kept on the session, if any.
pub async fn issued(conn: &mut Conn, id_hash: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar::<_, Option<String>>("SELECT issued FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(conn)
            .await?
            .flatten(),
    )
}

/// Keeps a result for the session's next page (`None` clears it).
pub async fn set_kept(conn: &mut Conn, id_hash: &str, kept: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE sessions SET kept = $1 WHERE id_hash = $2")
        .bind(kept)
        .bind(id_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// The result kept on the session, if any.
pub async fn kept(conn: &mut Conn, id_hash: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar::<_, Option<String>>("SELECT kept FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(conn)
            .await?
            .flatten(),
    )
}

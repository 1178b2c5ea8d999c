//! Company sign-in's rows: TOTP seeds (sealed by the service before they get here) and
//! recovery codes (hashed), the second step of a sign-in, pending OpenID Connect sign-ins,
//! and which directory identity is which account.

use super::{Conn, Result};
use crate::domain::ids::UserId;
use sqlx::Row;

/// A person's TOTP, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRow {
    /// Sealed seed.
    pub secret: String,
    pub enabled_at: Option<i64>,
    pub last_step: Option<i64>,
}

pub async fn totp(conn: &mut Conn, user: UserId) -> Result<Option<TotpRow>> {
    let row = sqlx::query("SELECT secret, enabled_at, last_step FROM user_totp WHERE user_id = $1")
        .bind(user.0)
        .fetch_optional(conn)
        .await?;
    row.map(|r| {
        Ok(TotpRow {
            secret: r.try_get("secret")?,
            enabled_at: r.try_get("enabled_at")?,
            last_step: r.try_get("last_step")?,
        })
    })
    .transpose()
}

/// Starts (or restarts) a set-up: a new sealed seed, not enabled yet.
pub async fn begin_totp(conn: &mut Conn, user: UserId, sealed: &str, at: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO user_totp (user_id, secret, enabled_at, last_step, created_at) \
         VALUES ($1, $2, NULL, NULL, $3) \
         ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, enabled_at = NULL, \
         last_step = NULL, created_at = excluded.created_at",
    )
    .bind(user.0)
    .bind(sealed)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn enable_totp(conn: &mut Conn, user: UserId, step: i64, at: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE user_totp SET enabled_at = $1, last_step = $2 WHERE user_id = $3 AND enabled_at IS NULL",
    )
    .bind(at)
    .bind(step)
    .bind(user.0)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the step of an accepted code, only if it is later than the last one (so two
/// sign-ins racing with one code cannot both win).
pub async fn use_step(conn: &mut Conn, user: UserId, step: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE user_totp SET last_step = $1 WHERE user_id = $2 AND enabled_at IS NOT NULL \
         AND (last_step IS NULL OR last_step < $1)",
    )
    .bind(step)
    .bind(user.0)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_totp(conn: &mut Conn, user: UserId) -> Result<()> {
    sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
        .bind(user.0)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM user_recovery_codes WHERE user_id = $1")
        .bind(user.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// Replaces the recovery codes with new ones (their hashes).
pub async fn set_recovery_codes(
    conn: &mut Conn,
    user: UserId,
    hashes: &[String],
    at: i64,
) -> Result<()> {
    sqlx::query("DELETE FROM user_recovery_codes WHERE user_id = $1")
        .bind(user.0)
        .execute(&mut *conn)
        .await?;
    for h in hashes {
        sqlx::query(
            "INSERT INTO user_recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(user.0)
        .bind(h)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Uses up a recovery code; `false` when it does not exist or was used.
pub async fn use_recovery_code(conn: &mut Conn, user: UserId, hash: &str, at: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE user_recovery_codes SET used_at = $1 \
         WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(at)
    .bind(user.0)
    .bind(hash)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn unused_recovery_codes(conn: &mut Conn, user: UserId) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM user_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user.0)
    .fetch_one(conn)
    .await?)
}

/// Whether the user has TOTP switched on (a set-up under way does not count).
pub async fn has_totp(conn: &mut Conn, user: UserId) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM user_totp WHERE user_id = $1 AND enabled_at IS NOT NULL",
    )
    .bind(user.0)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

// -- the second step of a sign-in -----------------------------------------------------------

pub async fn insert_challenge(
    conn: &mut Conn,
    id_hash: &str,
    user: UserId,
    method: &str,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO login_challenges (id_hash, user_id, method, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(id_hash)
    .bind(user.0)
    .bind(method)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The user a challenge belongs to and how they signed in, if it is younger than `since`.
pub async fn challenge(
    conn: &mut Conn,
    id_hash: &str,
    since: i64,
) -> Result<Option<(UserId, String)>> {
    let row = sqlx::query(
        "SELECT user_id, method FROM login_challenges WHERE id_hash = $1 AND created_at >= $2",
    )
    .bind(id_hash)
    .bind(since)
    .fetch_optional(conn)
    .await?;
    row.map(|r| Ok((UserId(r.try_get("user_id")?), r.try_get("method")?)))
        .transpose()
}

pub async fn delete_challenge(conn: &mut Conn, id_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM login_challenges WHERE id_hash = $1")
        .bind(id_hash)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn prune_challenges(conn: &mut Conn, before: i64) -> Result<()> {
    sqlx::query("DELETE FROM login_challenges WHERE created_at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(())
}

// -- OpenID Connect sign-ins under way --------------------------------------------------------

pub struct PendingOidc {
    pub browser_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub created_at: i64,
}

pub async fn insert_oidc_login(conn: &mut Conn, state_hash: &str, p: &PendingOidc) -> Result<()> {
    sqlx::query(
        "INSERT INTO oidc_logins (state_hash, browser_hash, nonce, pkce_verifier, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(state_hash)
    .bind(&p.browser_hash)
    .bind(&p.nonce)
    .bind(&p.pkce_verifier)
    .bind(p.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes a pending sign-in out (single use): found and deleted in one statement, so a
/// replayed callback finds nothing.
pub async fn take_oidc_login(conn: &mut Conn, state_hash: &str) -> Result<Option<PendingOidc>> {
    let row = sqlx::query(
        "DELETE FROM oidc_logins WHERE state_hash = $1 \
         RETURNING browser_hash, nonce, pkce_verifier, created_at",
    )
    .bind(state_hash)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(PendingOidc {
            browser_hash: r.try_get("browser_hash")?,
            nonce: r.try_get("nonce")?,
            pkce_verifier: r.try_get("pkce_verifier")?,
            created_at: r.try_get("created_at")?,
        })
    })
    .transpose()
}

pub async fn prune_oidc_logins(conn: &mut Conn, before: i64) -> Result<()> {
    sqlx::query("DELETE FROM oidc_logins WHERE created_at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(())
}

// -- directory identities ---------------------------------------------------------------------

/// Records that `provider`'s `subject` signed in as `user` (first time, or again).
pub async fn record_identity(
    conn: &mut Conn,
    user: UserId,
    provider: &str,
    subject: &str,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO user_identities (user_id, provider, subject, created_at, last_seen_at) \
         VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (provider, subject) DO UPDATE SET user_id = excluded.user_id, \
         last_seen_at = excluded.last_seen_at",
    )
    .bind(user.0)
    .bind(provider)
    .bind(subject)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn identities(conn: &mut Conn, user: UserId) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT provider, subject FROM user_identities WHERE user_id = $1 ORDER BY provider",
    )
    .bind(user.0)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("provider")?, r.try_get("subject")?)))
        .collect()
}

/// Every sealed TOTP seed (for `soporte secrets rotate`).
pub async fn sealed_totp(conn: &mut Conn) -> Result<Vec<(i64, String)>> {
    let rows = sqlx::query("SELECT user_id, secret FROM user_totp ORDER BY user_id")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("user_id")?, r.try_get("secret")?)))
        .collect()
}

pub async fn reseal_totp(conn: &mut Conn, user: i64, sealed: &str) -> Result<()> {
    sqlx::query("UPDATE user_totp SET secret = $1 WHERE user_id = $2")
        .bind(sealed)
        .bind(user)
        .execute(conn)
        .await?;
    Ok(())
}

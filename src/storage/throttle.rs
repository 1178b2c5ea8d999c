//! Sign-in failures and locks, in the database so the count holds across instances.

use super::{Conn, Result};

pub async fn record_failure(conn: &mut Conn, email: &str, ip: &str, at: i64) -> Result<()> {
    sqlx::query("INSERT INTO login_failures (email, ip, at) VALUES ($1, $2, $3)")
        .bind(email)
        .bind(ip)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn failures_for_email(conn: &mut Conn, email: &str, since: i64) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM login_failures WHERE email = $1 AND at >= $2")
            .bind(email)
            .bind(since)
            .fetch_one(conn)
            .await?,
    )
}

pub async fn failures_for_ip(conn: &mut Conn, ip: &str, since: i64) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM login_failures WHERE ip = $1 AND at >= $2")
            .bind(ip)
            .bind(since)
            .fetch_one(conn)
            .await?,
    )
}

pub async fn clear_for_email(conn: &mut Conn, email: &str) -> Result<()> {
    sqlx::query("DELETE FROM login_failures WHERE email = $1")
        .bind(email)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn lock(conn: &mut Conn, key: &str, until: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO login_locks (key, until_at) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET until_at = excluded.until_at",
    )
    .bind(key)
    .bind(until)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether any of the keys holds a lock that has not run out.
pub async fn locked(conn: &mut Conn, keys: [&str; 2], now: i64) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM login_locks WHERE key IN ($1, $2) AND until_at > $3",
    )
    .bind(keys[0])
    .bind(keys[1])
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// Forget failures and locks that no longer matter.
pub async fn prune(conn: &mut Conn, before: i64) -> Result<()> {
    sqlx::query("DELETE FROM login_failures WHERE at < $1")
        .bind(before)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM login_locks WHERE until_at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(())
}

/// The accounts (by their `email:` key) locked until a later instant than `now`, with that
/// instant: what Técnicos and Credenciales show.
pub async fn account_locks(conn: &mut Conn, now: i64) -> Result<Vec<(String, i64)>> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT key, until_at FROM login_locks WHERE key LIKE 'email:%' AND until_at > $1",
    )
    .bind(now)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let key: String = r.try_get("key")?;
            Ok((
                key.trim_start_matches("email:").to_string(),
                r.try_get("until_at")?,
            ))
        })
        .collect()
}

/// Lifts an account's lock and forgets its failures, so it starts over with a full count.
/// Returns whether a lock that had not run out was lifted.
pub async fn unlock_email(conn: &mut Conn, email: &str, now: i64) -> Result<bool> {
    let lifted = sqlx::query("DELETE FROM login_locks WHERE key = $1 AND until_at > $2")
        .bind(format!("email:{email}"))
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM login_locks WHERE key = $1")
        .bind(format!("email:{email}"))
        .execute(&mut *conn)
        .await?;
    clear_for_email(conn, email).await?;
    Ok(lifted > 0)
}

//! Personal API tokens, stored as SHA-256 hashes.

use super::users::user_from_row;
use super::{Conn, Result};
use crate::domain::ids::UserId;
use crate::domain::user::User;

pub async fn insert(conn: &mut Conn, user: UserId, token_hash: &str, now: i64) -> Result<()> {
    sqlx::query("INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES ($1, $2, $3)")
        .bind(user.0)
        .bind(token_hash)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// The active user a token belongs to.
pub async fn find_user(conn: &mut Conn, token_hash: &str) -> Result<Option<User>> {
    let row = sqlx::query(
        "SELECT u.id, u.email, u.name, u.role, u.must_change_password, u.active, u.phone, u.area, \
                u.last_login_at, u.created_at \
         FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND u.active = 1",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

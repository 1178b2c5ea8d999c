//! Accounts: administrators, dispatchers and technicians.

use super::{Conn, Result, StorageError, flag};
use crate::domain::ids::UserId;
use crate::domain::user::{Role, User};
use sqlx::Row;
use sqlx::any::AnyRow;

const COLUMNS: &str =
    "id, email, name, role, must_change_password, active, phone, area, last_login_at, created_at";

pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub password_hash: &'a str,
    pub must_change_password: bool,
    pub phone: Option<&'a str>,
    pub area: Option<&'a str>,
    pub created_at: i64,
}

pub(crate) fn user_from_row(row: &AnyRow) -> Result<User> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: UserId(row.try_get("id")?),
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        role: Role::parse(&role).ok_or_else(|| StorageError::Corrupt(format!("role {role}")))?,
        must_change_password: row.try_get::<i64, _>("must_change_password")? != 0,
        active: row.try_get::<i64, _>("active")? != 0,
        phone: row.try_get("phone")?,
        area: row.try_get("area")?,
        last_login_at: row.try_get("last_login_at")?,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn insert(conn: &mut Conn, new: &NewUser<'_>) -> Result<UserId> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (email, name, role, password_hash, must_change_password, active, phone, area, created_at) \
         VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8) RETURNING id",
    )
    .bind(new.email)
    .bind(new.name)
    .bind(new.role.as_str())
    .bind(new.password_hash)
    .bind(flag(new.must_change_password))
    .bind(new.phone)
    .bind(new.area)
    .bind(new.created_at)
    .fetch_one(conn)
    .await?;
    Ok(UserId(id))
}

pub async fn find(conn: &mut Conn, id: UserId) -> Result<Option<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(&sql).bind(id.0).fetch_optional(conn).await?;
    row.as_ref().map(user_from_row).transpose()
}

/// The user and their password hash, for signing in.
pub async fn find_with_hash(conn: &mut Conn, email: &str) -> Result<Option<(User, String)>> {
    let sql = format!("SELECT {COLUMNS}, password_hash FROM users WHERE email = $1");
    let row = sqlx::query(&sql).bind(email).fetch_optional(conn).await?;
    match row {
        Some(row) => Ok(Some((user_from_row(&row)?, row.try_get("password_hash")?))),
        None => Ok(None),
    }
}

pub async fn password_hash(conn: &mut Conn, id: UserId) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(id.0)
            .fetch_optional(conn)
            .await?,
    )
}

/// Everyone, or everyone of one role, by name.
pub async fn list(conn: &mut Conn, role: Option<Role>) -> Result<Vec<User>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM users WHERE ($1 = '' OR role = $1) ORDER BY LOWER(name), id"
    );
    let rows = sqlx::query(&sql)
        .bind(role.map(Role::as_str).unwrap_or(""))
        .fetch_all(conn)
        .await?;
    rows.iter().map(user_from_row).collect()
}

pub async fn count_active_admins(conn: &mut Conn) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND active = 1")
            .fetch_one(conn)
            .await?,
    )
}

pub async fn update_profile(
    conn: &mut Conn,
    id: UserId,
    email: &str,
    name: &str,
    phone: Option<&str>,
    area: Option<&str>,
) -> Result<bool> {
    let done =
        sqlx::query("UPDATE users SET email = $1, name = $2, phone = $3, area = $4 WHERE id = $5")
            .bind(email)
            .bind(name)
            .bind(phone)
            .bind(area)
            .bind(id.0)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_role(conn: &mut Conn, id: UserId, role: Role) -> Result<()> {
    sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
        .bind(role.as_str())
        .bind(id.0)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_password(
    conn: &mut Conn,
    id: UserId,
    hash: &str,
    must_change: bool,
) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1, must_change_password = $2 WHERE id = $3")
        .bind(hash)
        .bind(flag(must_change))
        .bind(id.0)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_active(conn: &mut Conn, id: UserId, active: bool) -> Result<()> {
    sqlx::query("UPDATE users SET active = $1 WHERE id = $2")
        .bind(flag(active))
        .bind(id.0)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn record_login(conn: &mut Conn, id: UserId, at: i64) -> Result<()> {
    sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id.0)
        .execute(conn)
        .await?;
    Ok(())
}

//! The SQL behind `soporte backup`: open an existing SQLite database without creating it,
//! copy it with `VACUUM INTO` (a consistent snapshot taken in one read transaction, so
//! writers may keep committing meanwhile), and check a copy. SQLite only; PostgreSQL has
//! pg_dump. It must not touch the file system beyond what SQLite itself writes.

use super::{Backend, Result, StorageError, Store};
use sqlx::{Connection, Executor};

/// Opens a database that must already exist. `Store::connect` creates a missing SQLite file
/// (right for `serve`, wrong for a backup: it would copy an empty new database).
pub async fn open_existing(url: &str) -> Result<Store> {
    let backend = Backend::from_url(url).ok_or(StorageError::UnsupportedUrl)?;
    let url = if backend == Backend::Sqlite && !url.contains("mode=") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}mode=rw")
    } else {
        url.to_string()
    };
    Store::connect_with(&url, 2).await
}

/// Writes a consistent copy of the whole database to `path`, which must not exist.
pub async fn vacuum_into(store: &Store, path: &str) -> Result<()> {
    let mut conn = store.pool().acquire().await?;
    sqlx::query("VACUUM INTO $1")
        .bind(path)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What a check of a copied file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyCheck {
    /// `PRAGMA integrity_check` rows: exactly `["ok"]` when the file is sound.
    pub integrity: Vec<String>,
    pub tickets: i64,
}

/// Opens the copy on its own connection, turns it into one self-contained file (rollback
/// journal: no `-wal` beside it; the server switches it back to WAL when it opens it), and
/// checks it.
pub async fn check_copy(path: &str) -> Result<CopyCheck> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&format!("sqlite://{path}?mode=rw")).await?;
    conn.execute("PRAGMA journal_mode = DELETE").await?;
    let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await?;
    let tickets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tickets")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(CopyCheck { integrity, tickets })
}

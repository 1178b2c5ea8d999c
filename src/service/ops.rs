//! Operations: the backup of a live SQLite database and the figures `/metrics` reports from
//! the database. The per-instance request counters live in `web::metrics`, not here.

use super::{Result, Services, random_hex};
use crate::domain::ticket::Status;
use crate::storage::{Backend, StorageError, backup, reports};

/// How the ticket writer's PostgreSQL transactions went (`GET /metrics`).
pub use crate::storage::write::WriteCounts;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a backup was not made.
#[derive(Debug, Error)]
pub enum BackupError {
    /// PostgreSQL is copied with its own tools (pg_dump), not by soporte.
    #[error("PostgreSQL databases are backed up with pg_dump")]
    Postgres,
    #[error("unsupported database URL (use sqlite://… or postgres://…)")]
    UnsupportedUrl,
    /// The target exists: a backup never overwrites a file.
    #[error("{0} already exists")]
    Exists(PathBuf),
    /// SQLite takes the target as text.
    #[error("the path {0} is not valid UTF-8")]
    BadPath(PathBuf),
    #[error("failed to open the database: {0}")]
    Open(StorageError),
    #[error("failed to copy the database: {0}")]
    Copy(StorageError),
    #[error("the copy failed its integrity check: {0}")]
    Check(String),
    #[error("failed to write the copy: {0}")]
    Io(#[from] std::io::Error),
}

/// What `backup` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    pub path: PathBuf,
    pub tickets: i64,
    pub bytes: u64,
}

/// Copies the SQLite database at `url` to `to`, consistently even while a server writes to
/// it. The copy is written beside `to` under a temporary name, checked (`integrity_check`,
/// ticket count), flushed to disk and only then renamed to `to`, so a file at `to` is always
/// a complete copy. Does not migrate: a backup taken before an upgrade is of the old schema.
pub async fn backup(url: &str, to: &Path) -> Result<BackupSummary, BackupError> {
    match Backend::from_url(url) {
        Some(Backend::Sqlite) => {}
        Some(Backend::Postgres) => return Err(BackupError::Postgres),
        None => return Err(BackupError::UnsupportedUrl),
    }
    if to.exists() {
        return Err(BackupError::Exists(to.to_path_buf()));
    }
    let name = to
        .file_name()
        .ok_or_else(|| BackupError::BadPath(to.to_path_buf()))?
        .to_string_lossy()
        .into_owned();
    let suffix = random_hex(4).map_err(|e| BackupError::Check(e.to_string()))?;
    let partial = to.with_file_name(format!(".{name}.{suffix}.partial"));
    let partial_text = partial
        .to_str()
        .ok_or_else(|| BackupError::BadPath(to.to_path_buf()))?
        .to_string();

    let store = backup::open_existing(url)
        .await
        .map_err(BackupError::Open)?;
    let copied = backup::vacuum_into(&store, &partial_text).await;
    store.close().await;
    let result = match copied {
        Ok(()) => finish(&partial, &partial_text, to).await,
        Err(e) => Err(BackupError::Copy(e)),
    };
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

async fn finish(
    partial: &Path,
    partial_text: &str,
    to: &Path,
) -> Result<BackupSummary, BackupError> {
    let check = backup::check_copy(partial_text)
        .await
        .map_err(|e| BackupError::Check(e.to_string()))?;
    if check.integrity != ["ok"] {
        return Err(BackupError::Check(check.integrity.join("; ")));
    }
    // SQLite does not fsync what VACUUM INTO writes.
    std::fs::File::open(partial)?.sync_all()?;
    if to.exists() {
        return Err(BackupError::Exists(to.to_path_buf()));
    }
    std::fs::rename(partial, to)?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Makes the rename itself durable; not every platform can open a directory.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(BackupSummary {
        path: to.to_path_buf(),
        tickets: check.tickets,
        bytes: std::fs::metadata(to)?.len(),
    })
}

impl Services {
    /// Tickets now, per status, every status listed (zero included), from `ticket_counts`.
    pub async fn ticket_counts_by_status(&self) -> Result<Vec<(Status, i64)>> {
        let mut conn = self.store.read().await?;
        let rows = reports::counts(&mut conn).await?;
        Ok(Status::ALL
            .iter()
            .map(|s| {
                let n = rows
                    .iter()
                    .filter(|(status, _, _)| status == s)
                    .map(|(_, _, n)| n)
                    .sum();
                (*s, n)
            })
            .collect())
    }

    /// How the ticket writer's PostgreSQL transactions went since this process started (all
    /// zero on SQLite).
    pub fn write_counts(&self) -> WriteCounts {
        self.store.write_counters().read()
    }
}

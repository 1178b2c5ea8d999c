//! The only place with SQL. One implementation over sqlx's `Any` driver serves SQLite and
//! PostgreSQL; the few statements that must differ branch on `Backend` and return the same
//! types. Functions take a connection so the service layer owns each transaction.

pub mod backup;
pub mod demo;
pub mod figures;
pub mod identity;
pub mod intake;
pub mod mail;
pub mod mailbox;
pub mod native;
pub mod notify;
pub mod reports;
pub mod sessions;
pub mod throttle;
pub mod tickets;
pub mod tokens;
pub mod users;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Executor, Transaction};
use std::str::FromStr;
use std::time::Duration;
use thiserror::Error;

pub type Tx = Transaction<'static, sqlx::Any>;
pub type Conn = AnyConnection;

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL (use sqlite://… or postgres://…)")]
    UnsupportedUrl,
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("bulk load failed: {0}")]
    Bulk(String),
    #[error("database error: {0}")]
    Native(#[from] rusqlite::Error),
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl StorageError {
    /// A UNIQUE constraint refused the write (e.g. a duplicate e-mail address).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StorageError::Db(sqlx::Error::Database(db)) => {
                db.is_unique_violation()
                    || db.code().as_deref() == Some("23505")
                    || db.message().contains("UNIQUE constraint failed")
            }
            _ => false,
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// The connection pool and which backend is behind it.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The SQLite URL, for the native connection a bulk load uses (`None` on PostgreSQL, so a
    /// URL with a password is never kept).
    sqlite_url: Option<std::sync::Arc<str>>,
}

/// SQLite must be told to create a missing file.
fn normalize_url(url: &str, backend: Backend) -> String {
    if backend == Backend::Sqlite && !url.contains("mode=") && !url.contains(":memory:") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}mode=rwc")
    } else {
        url.to_string()
    }
}

impl Store {
    pub async fn connect(url: &str) -> Result<Store> {
        Self::connect_with(url, 16).await
    }

    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or(StorageError::UnsupportedUrl)?;
        // sqlx warns about statements over a second with their whole text; bulk demo loads
        // (multi-row literal statements) would fill the log, so only truly slow ones say so.
        let options = AnyConnectOptions::from_str(&normalize_url(url, backend))?
            .log_slow_statements(log::LevelFilter::Warn, Duration::from_secs(10));
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers work while one writer commits; FULL makes every
                        // acknowledged commit durable; the busy timeout queues writers.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let sqlite_url = (backend == Backend::Sqlite).then(|| normalize_url(url, backend).into());
        Ok(Store {
            pool,
            backend,
            sqlite_url,
        })
    }

    /// The file of a SQLite database, for a native connection beside the pool; `None` on
    /// PostgreSQL and for in-memory databases (another connection would see another
    /// database).
    pub(crate) fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        let url = self.sqlite_url.as_deref()?;
        if url.contains(":memory:") || url.contains("mode=memory") {
            return None;
        }
        // sqlx's own reading of the URL (percent-decoding included), so both open one file.
        sqlx::sqlite::SqliteConnectOptions::from_str(url)
            .ok()
            .map(|o| o.get_filename().to_path_buf())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await?,
            Backend::Postgres => {
                sqlx::migrate!("migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    /// A transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so a read-then-write never fails half-way with SQLITE_BUSY.
    pub async fn begin_write(&self) -> Result<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// A read-only connection from the pool.
    pub async fn read(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.pool.acquire().await?)
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Booleans are stored as 0/1 on both backends.
pub(crate) fn flag(b: bool) -> i64 {
    i64::from(b)
}

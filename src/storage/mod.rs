//! The only place with SQL. One implementation over sqlx's `Any` driver serves SQLite and
//! PostgreSQL; the few statements that must differ branch on `Backend` and return the same
//! types. Reads and account writes take a connection so the service layer owns each
//! transaction; every ticket write goes through `write::Writer`.

pub mod accounts;
pub mod backup;
pub mod changes;
pub mod demo;
pub mod figures;
pub mod identity;
pub mod mail;
pub mod mailbox;
pub mod notify;
pub mod replicas;
pub mod reports;
pub mod sessions;
pub mod sla;
pub mod status;
pub mod throttle;
pub mod tickets;
pub mod tokens;
pub mod users;
pub mod write;

pub use write::Writer;

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
    #[error("failed to lock the database for migration: {0}")]
    Lock(String),
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

/// A database URL, which may hold a password: never shown in logs or `Debug`.
#[derive(Clone)]
pub struct Url(std::sync::Arc<str>);

impl Url {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Url(<redacted>)")
    }
}

/// The connection pool and which backend is behind it.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Live news of ticket writes (see `changes`).
    changes: std::sync::Arc<changes::Changes>,
    /// The SQLite URL, for the native connection a bulk load uses (`None` on PostgreSQL, so a
    /// URL with a password is never kept).
    sqlite_url: Option<std::sync::Arc<str>>,
    /// PostgreSQL's URL, for the connection a bulk load copies its rows on (`COPY` is not
    /// the pool's); never printed (`Url`'s `Debug` hides it).
    postgres_url: Option<Url>,
    /// PostgreSQL read replicas (`--database-replica`); empty on SQLite.
    replicas: Option<std::sync::Arc<replicas::Replicas>>,
    /// How the ticket writer's PostgreSQL transactions went (`write::WriteCounts`).
    write_counters: std::sync::Arc<write::Counters>,
    /// PostgreSQL's statistics of the search documents, read at most once a minute.
    search_statistics: std::sync::Arc<tickets::SearchStatistics>,
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
        let changes = changes::Changes::new(backend, &Url(url.into()));
        Ok(Store {
            pool,
            backend,
            changes,
            sqlite_url,
            postgres_url: (backend == Backend::Postgres).then(|| Url(url.into())),
            replicas: None,
            write_counters: Default::default(),
            search_statistics: Default::default(),
        })
    }

    /// Reads that may go to a replica (lists, search, views, dashboard, export) go to these
    /// PostgreSQL streaming replicas when they are well and caught up. SQLite has none: the
    /// URLs are then ignored (said once in the log).
    pub fn with_replicas(mut self, urls: &[String], max_lag: Duration) -> Result<Store> {
        if urls.is_empty() {
            return Ok(self);
        }
        if self.backend != Backend::Postgres {
            tracing::warn!("--database-replica is for PostgreSQL; ignored on SQLite");
            return Ok(self);
        }
        if urls
            .iter()
            .any(|u| Backend::from_url(u) != Some(Backend::Postgres))
        {
            return Err(StorageError::UnsupportedUrl);
        }
        let urls: Vec<Url> = urls.iter().map(|u| Url(u.as_str().into())).collect();
        let replicas = replicas::Replicas::new(&urls, max_lag)?;
        for u in &urls {
            tracing::info!(replica = %replicas::describe(u.expose()), "read replica configured");
        }
        self.replicas = Some(std::sync::Arc::new(replicas));
        Ok(self)
    }

    /// A connection for a read that a replica may serve: a well replica that has replayed
    /// `user`'s last write, round-robin, else the primary.
    pub async fn read_for(
        &self,
        user: Option<crate::domain::ids::UserId>,
    ) -> Result<replicas::Reader> {
        let Some(replicas) = &self.replicas else {
            return Ok(replicas::Reader::primary(self.pool.acquire().await?));
        };
        replicas.watch(&self.pool);
        let mark = match user {
            Some(u) => {
                let mut conn = self.pool.acquire().await?;
                replicas::mark_of(&mut conn, u).await?
            }
            None => 0,
        };
        match replicas.pick(mark).await {
            Some(reader) => Ok(reader),
            None => Ok(replicas::Reader::primary(self.pool.acquire().await?)),
        }
    }

    /// A read on a replica failed: it is skipped until it is found well again.
    pub fn replica_failed(&self, replica: usize, error: &dyn std::fmt::Display) {
        if let Some(r) = &self.replicas {
            r.failed(replica, &error.to_string());
        }
    }

    /// `user` just wrote: with replicas, remember where the primary's WAL stood, so their
    /// next reads wait for a replica that has replayed it.
    pub async fn remember_write(&self, user: crate::domain::ids::UserId, now: i64) -> Result<()> {
        if self.replicas.is_none() {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await?;
        replicas::mark(&mut conn, user, now).await
    }

    /// Whether each configured replica is in use now (empty without replicas).
    pub fn replicas_in_use(&self) -> Vec<bool> {
        self.replicas
            .as_ref()
            .map(|r| r.usable())
            .unwrap_or_default()
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

    /// Whether reads may go to PostgreSQL read replicas (`--database-replica`).
    pub(crate) fn has_replicas(&self) -> bool {
        self.replicas.is_some()
    }

    /// PostgreSQL's URL (for a bulk load's own connection); `None` on SQLite.
    pub(crate) fn postgres_url(&self) -> Option<&Url> {
        self.postgres_url.as_ref()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// PostgreSQL's statistics of the search documents, as a text search reads them.
    pub fn search_statistics(&self) -> &tickets::SearchStatistics {
        &self.search_statistics
    }

    /// Live news of ticket writes.
    pub fn changes(&self) -> &std::sync::Arc<changes::Changes> {
        &self.changes
    }

    /// The ticket writer's counters of its PostgreSQL transactions.
    pub fn write_counters(&self) -> &write::Counters {
        &self.write_counters
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Applies the migrations. Two processes starting on one database wait for each other:
    /// PostgreSQL's migrator takes an advisory lock; on a SQLite file an exclusive lock on a
    /// file beside it (`<database>.migrate-lock`) is held while migrating.
    pub async fn migrate(&self) -> Result<()> {
        let _lock = match self.sqlite_file() {
            Some(path) => Some(MigrationLock::take(&path).await?),
            None => None,
        };
        match self.backend {
            Backend::Sqlite => self.migrate_sqlite().await,
            Backend::Postgres => {
                sqlx::migrate!("migrations/postgres")
                    .run(&self.pool)
                    .await?;
                Ok(())
            }
        }
    }

    /// SQLite's migrations run on one connection with foreign keys off: changing a table's
    /// constraints means rebuilding it (a new table, the rows copied, the old one dropped),
    /// which SQLite's own procedure does with them off. When a migration was applied, every
    /// foreign key is checked before they are turned back on.
    async fn migrate_sqlite(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        let before = applied_migrations(&mut conn).await?;
        sqlx::raw_sql("PRAGMA foreign_keys = OFF")
            .execute(&mut *conn)
            .await?;
        let migrated = sqlx::migrate!("migrations/sqlite").run(&mut *conn).await;
        let broken = if migrated.is_ok() && applied_migrations(&mut conn).await? != before {
            sqlx::query("PRAGMA foreign_key_check")
                .fetch_all(&mut *conn)
                .await
                .map(|rows| rows.len())
        } else {
            Ok(0)
        };
        sqlx::raw_sql("PRAGMA foreign_keys = ON")
            .execute(&mut *conn)
            .await?;
        migrated?;
        match broken? {
            0 => Ok(()),
            n => Err(StorageError::Corrupt(format!(
                "{n} rows break a foreign key after the migrations"
            ))),
        }
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
        if let Some(r) = &self.replicas {
            r.close().await;
        }
        self.pool.close().await;
    }
}

/// How many migrations a SQLite database has applied (none before the first).
async fn applied_migrations(conn: &mut Conn) -> Result<i64> {
    let exists: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = '_sqlx_migrations'")
            .fetch_one(&mut *conn)
            .await?;
    if exists == 0 {
        return Ok(0);
    }
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut *conn)
        .await?)
}

/// An exclusive lock on the file beside a SQLite database, released when dropped.
struct MigrationLock(#[allow(dead_code)] std::fs::File);

impl MigrationLock {
    async fn take(database: &std::path::Path) -> Result<MigrationLock> {
        let mut name = database.as_os_str().to_owned();
        name.push(".migrate-lock");
        let path = std::path::PathBuf::from(name);
        let file = tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            // Blocks until another process's migration is done.
            file.lock()?;
            Ok::<_, std::io::Error>(file)
        })
        .await?
        .map_err(|e| StorageError::Lock(e.to_string()))?;
        Ok(MigrationLock(file))
    }
}

/// Booleans are stored as 0/1 on both backends.
pub(crate) fn flag(b: bool) -> i64 {
    i64::from(b)
}

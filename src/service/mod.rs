//! Use cases. Each public function owns its transaction and goes through `domain` for every
//! decision and `storage` for every read and write. Web, mail and CLI call only this layer.

/// Runs a read on a replica when one may serve `user` (`storage::replicas`), and once more on
/// the primary if the replica fails half-way: a replica's trouble never reaches the user.
/// `$read` is an expression over `$conn: &mut Conn` giving a storage `Result`.
macro_rules! on_replica {
    ($store:expr, $user:expr, |$conn:ident| $read:expr) => {{
        let mut reader = $store.read_for($user).await?;
        let replica = reader.replica();
        let first = {
            let $conn: &mut crate::storage::Conn = &mut reader;
            $read
        };
        match (first, replica) {
            (Err(e), Some(i)) => {
                drop(reader);
                $store.replica_failed(i, &e);
                let mut primary = $store.read().await?;
                let $conn: &mut crate::storage::Conn = &mut primary;
                $read
            }
            (result, _) => result,
        }
    }};
}

pub mod accounts;
pub mod auth;
pub mod demo;
pub mod intake;
pub mod live;
pub mod mail;
mod notices;
pub mod ops;
pub mod queue;
pub mod reports;
pub mod sla;
pub mod status;
pub mod tickets;
pub mod waiting;
// Company connections (issue 16): service/connect.rs has the shared part.
pub mod company;
pub mod connect;
pub mod ldap;
pub mod mailbox;
pub mod notify;
pub mod secrets;
pub mod signin;
pub mod sso;
pub mod twofactor;

use crate::domain::DomainError;
use crate::storage::{StorageError, Store, Writer};
use thiserror::Error;

/// What a use case can answer besides success.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// Wrong e-mail or password (never says which).
    #[error("bad credentials")]
    BadCredentials,
    /// Too many failed sign-ins.
    #[error("throttled")]
    Throttled,
    /// The account must choose a new password before anything else.
    #[error("password change required")]
    PasswordChangeRequired,
    /// Signed in on the wrong role's page.
    #[error("wrong role for this sign-in page")]
    WrongRole,
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Storage(StorageError::Db(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where "now" comes from: the system clock, or a clock the tests set, so scenarios run
/// through the real write path at known instants.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(std::sync::Arc<std::sync::atomic::AtomicI64>),
}

impl Clock {
    pub fn manual(start: i64) -> Clock {
        Clock::Manual(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(
            start,
        )))
    }

    pub fn now(&self) -> i64 {
        match self {
            Clock::System => crate::domain::time::now(),
            Clock::Manual(t) => t.load(std::sync::atomic::Ordering::SeqCst),
        }
    }

    /// Sets a manual clock (no effect on the system clock).
    pub fn set(&self, at: i64) {
        if let Clock::Manual(t) = self {
            t.store(at, std::sync::atomic::Ordering::SeqCst);
        }
    }

    pub fn advance(&self, secs: i64) {
        if let Clock::Manual(t) = self {
            t.fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// Settings the use cases need.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Seconds of inactivity after which a session ends.
    pub session_idle_secs: i64,
    pub clock: Clock,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            session_idle_secs: 8 * 3600,
            clock: Clock::System,
        }
    }
}

/// The use cases, over one store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Services {
    pub(crate) store: Store,
    pub(crate) settings: Settings,
    /// The one writer of tickets.
    pub(crate) writer: Writer,
    pub(crate) connect: std::sync::Arc<connect::Connect>,
    /// This instance's copy of the service-level settings.
    pub(crate) sla: sla::SlaCache,
    /// The dashboards computed since the last change.
    pub(crate) dashboards: std::sync::Arc<reports::DashboardCache>,
    /// The overdue counts read since the last change.
    pub(crate) overdue: std::sync::Arc<queue::OverdueCounts>,
}

impl Services {
    pub fn new(store: Store, settings: Settings) -> Services {
        let writer = Writer::start(&store);
        Services {
            store,
            settings,
            writer,
            connect: Default::default(),
            sla: sla::SlaCache::default(),
            dashboards: Default::default(),
            overdue: Default::default(),
        }
    }

    /// Opens the database at `url` (a SQLite file is created), applies the migrations and
    /// returns the use cases over it.
    pub async fn open(url: &str, settings: Settings) -> Result<Services> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(Services::new(store, settings))
    }

    /// Now, by this service's clock.
    pub fn now(&self) -> i64 {
        self.settings.clock.now()
    }

    /// This process's change count (`Changes::generation`), once its listener hears other
    /// instances' writes (on PostgreSQL its first `LISTEN` moves the count, so it is waited
    /// for): read before a kept figure is compared with the database (`reports::not_behind`).
    pub(crate) async fn change_generation(&self) -> u64 {
        let changes = self.store.changes();
        changes.ready(crate::storage::changes::LISTENER_WAIT).await;
        changes.generation()
    }

    pub async fn health(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    /// Sends lists, search, the dashboard and the export to these PostgreSQL read replicas
    /// when they are well and caught up (`--database-replica`, `--replica-max-lag-seconds`).
    pub fn with_replicas(mut self, urls: &[String], max_lag_seconds: u64) -> Result<Services> {
        self.store = self
            .store
            .with_replicas(urls, std::time::Duration::from_secs(max_lag_seconds))?;
        Ok(self)
    }

    /// `user` just made a change: their next reads wait for a replica that has it. A failure
    /// here costs only a read from the primary later, so it is logged, not returned.
    pub async fn remember_write(&self, user: crate::domain::ids::UserId) {
        if let Err(e) = self.store.remember_write(user, self.now()).await {
            tracing::warn!(error = %e, "failed to record a write's WAL position for read replicas");
        }
    }

    /// Whether each configured read replica is in use now.
    pub fn replicas_in_use(&self) -> Vec<bool> {
        self.store.replicas_in_use()
    }

    pub fn backend(&self) -> crate::storage::Backend {
        self.store.backend()
    }

    pub async fn close(&self) {
        self.store.close().await;
    }
}

/// Random bytes as lower-case hex.
pub(crate) fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| Error::Internal(format!("failed to get random bytes: {e}")))?;
    Ok(hex(&buf))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

pub(crate) fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(text.as_bytes()))
}

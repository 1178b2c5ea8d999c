//! Use cases. Each public function owns its transaction and goes through `domain` for every
//! decision and `storage` for every read and write. Web, mail and CLI call only this layer.

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

    pub async fn health(&self) -> Result<()> {
        Ok(self.store.ping().await?)
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

//! The IMAP poller: every interval, the instance holding the `imap-poller` lease (in the
//! database, so several instances never poll at once) reads the unseen messages of the
//! support folder and hands each to `Services::receive_mail`. A message is marked seen (or
//! moved) only after its ticket, reply or quarantine record is committed; it is fetched with
//! `BODY.PEEK[]`, so reading alone changes nothing. A crash in between leaves it unseen: the
//! next poll fetches it again and the Message-ID (or the hash of its bytes) makes it a
//! duplicate that is then marked seen — nothing is lost and nothing is filed twice.

use crate::config::{MailArgs, Secret};
use crate::domain::mail::MailLimits;
use crate::mail::parse::{parse, parse_too_large};
use crate::service::Services;
use crate::service::mail::MailOutcome;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, pki_types::ServerName};

/// Where the mailbox is and how to treat it.
#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub user: String,
    pub password: Secret,
    pub folder: String,
    /// Folder filed messages are moved to; `None` marks them seen instead.
    pub move_to: Option<String>,
    pub every: Duration,
    pub limits: MailLimits,
    /// Longest wait for the server on any step.
    pub timeout: Duration,
    /// Sign in with an OAuth2 access token (XOAUTH2 / OAUTHBEARER) instead of the password.
    pub oauth: bool,
}

impl ImapConfig {
    /// The configuration from the command line; `None` when no IMAP host is set.
    pub fn from_args(args: &MailArgs) -> Result<Option<ImapConfig>, String> {
        let Some(host) = args.imap_host.clone().filter(|h| !h.trim().is_empty()) else {
            return Ok(None);
        };
        let user = args
            .imap_user
            .clone()
            .filter(|u| !u.is_empty())
            .ok_or("SOPORTE_IMAP_USER is required with SOPORTE_IMAP_HOST")?;
        let oauth = args
            .mail_oauth
            .as_deref()
            .is_some_and(|p| !p.trim().is_empty());
        let password = match args.imap_password.clone() {
            Some(p) => p,
            None if oauth => Secret::new(""),
            None => {
                return Err(
                    "SOPORTE_IMAP_PASSWORD is required with SOPORTE_IMAP_HOST (or set SOPORTE_MAIL_OAUTH)"
                        .into(),
                );
            }
        };
        Ok(Some(ImapConfig {
            host: host.trim().to_string(),
            port: args
                .imap_port
                .unwrap_or(if args.imap_tls { 993 } else { 143 }),
            tls: args.imap_tls,
            user,
            password,
            folder: args.imap_folder.clone(),
            move_to: args.imap_move_to.clone().filter(|f| !f.trim().is_empty()),
            every: Duration::from_secs(args.imap_interval.max(1)),
            limits: args.limits.limits(),
            timeout: Duration::from_secs(60),
            oauth,
        }))
    }
}

/// Why a poll did not finish.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("IMAP: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("failed to connect: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("the IMAP server did not answer in time")]
    Timeout,
    #[error("the IMAP server closed the connection")]
    Closed,
    #[error(transparent)]
    Service(#[from] crate::service::Error),
    /// The server refused the login (password or token).
    #[error("IMAP login refused: {0}")]
    Login(String),
    /// No access token could be had (the message is Spanish, for the administrator).
    #[error("OAuth2: {0}")]
    Token(String),
}

impl PollError {
    /// The error in Spanish, for `/admin/mail` and the alert e-mail.
    pub fn spanish(&self, config: &ImapConfig) -> String {
        let server = format!("{}:{}", config.host, config.port);
        match self {
            PollError::Login(detail) => format!(
                "El servidor IMAP {server} rechazó el inicio de sesión de {} ({}): {}",
                config.user,
                if config.oauth {
                    "token OAuth2"
                } else {
                    "contraseña"
                },
                clip(detail)
            ),
            PollError::Token(m) => m.clone(),
            PollError::Io(e) => format!(
                "No se pudo conectar con el servidor IMAP {server} ({}).",
                io_words(e)
            ),
            PollError::Tls(e) => format!(
                "Falló la conexión segura (TLS) con el servidor IMAP {server}: {}",
                clip(e)
            ),
            PollError::Timeout => format!("El servidor IMAP {server} no respondió a tiempo."),
            PollError::Closed => format!("El servidor IMAP {server} cerró la conexión."),
            PollError::Imap(e) => format!(
                "El servidor IMAP {server} respondió con un error: {}",
                clip(&e.to_string())
            ),
            PollError::Service(_) => {
                "No se pudieron guardar los correos en la base de datos.".to_string()
            }
        }
    }
}

fn clip(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect()
}

fn io_words(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "conexión rechazada",
        std::io::ErrorKind::TimedOut => "tiempo de espera agotado",
        std::io::ErrorKind::NotFound => "no se encontró el servidor",
        _ => "error de red",
    }
}

/// The SASL exchange for OAuth2: the initial response, then (if the server answers with an
/// error challenge) the empty or `^A` response that lets it say NO.
struct OAuthSasl {
    initial: Option<String>,
    mechanism: crate::domain::oauth::Mechanism,
}

impl async_imap::Authenticator for OAuthSasl {
    type Response = Vec<u8>;
    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        match self.initial.take() {
            Some(s) => s.into_bytes(),
            None => match self.mechanism {
                crate::domain::oauth::Mechanism::XOAuth2 => Vec::new(),
                crate::domain::oauth::Mechanism::OAuthBearer => vec![1],
            },
        }
    }
}

/// The access token for this connection, when the mailbox uses OAuth2.
pub async fn token_for(
    services: &Services,
    config: &ImapConfig,
) -> Result<Option<crate::service::mailbox::MailToken>, PollError> {
    if !config.oauth {
        return Ok(None);
    }
    services.mail_access_token().await.map_err(|e| match e {
        crate::service::connect::ConnectError::Problem(p) => PollError::Token(p.message),
        crate::service::connect::ConnectError::Service(e) => PollError::Service(e),
    })
}

/// What one poll did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Another instance holds the lease: this one did not poll.
    pub skipped: bool,
    /// Messages that became tickets or replies (or were already filed).
    pub filed: usize,
    pub quarantined: usize,
    /// Messages left unseen because filing them failed; the next poll tries again.
    pub failed: usize,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Stream for T {}
type Session = async_imap::Session<Box<dyn Stream>>;

const LEASE: &str = "imap-poller";
/// Most messages handled in one poll (the rest wait for the next).
const BATCH: usize = 200;

async fn within<T, E: Into<PollError>>(
    limit: Duration,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, PollError> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r.map_err(Into::into),
        Err(_) => Err(PollError::Timeout),
    }
}

fn tls_connector() -> Result<TlsConnector, PollError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| PollError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn connect(
    config: &ImapConfig,
    token: Option<&crate::service::mailbox::MailToken>,
) -> Result<Session, PollError> {
    let tcp = within(
        config.timeout,
        TcpStream::connect((config.host.as_str(), config.port)),
    )
    .await?;
    let stream: Box<dyn Stream> = if config.tls {
        let name = ServerName::try_from(config.host.clone())
            .map_err(|e| PollError::Tls(format!("invalid server name: {e}")))?;
        Box::new(within(config.timeout, tls_connector()?.connect(name, tcp)).await?)
    } else {
        Box::new(tcp)
    };
    let mut client = async_imap::Client::new(stream);
    within(config.timeout, client.read_response())
        .await?
        .ok_or(PollError::Closed)?;
    let login = match token {
        Some(t) => {
            let sasl = OAuthSasl {
                initial: Some(crate::domain::oauth::sasl(
                    t.mechanism,
                    &config.user,
                    &config.host,
                    config.port,
                    t.access_token.expose(),
                )),
                mechanism: t.mechanism,
            };
            tokio::time::timeout(
                config.timeout,
                client.authenticate(t.mechanism.name(), sasl),
            )
            .await
        }
        None => {
            tokio::time::timeout(
                config.timeout,
                client.login(&config.user, config.password.expose()),
            )
            .await
        }
    }
    .map_err(|_| PollError::Timeout)?;
    login.map_err(|(e, _)| match e {
        async_imap::error::Error::No(m) | async_imap::error::Error::Bad(m) => PollError::Login(m),
        other => PollError::Imap(other),
    })
}

/// "Probar conexión": signs in, opens the folder and counts its unseen messages, changing
/// nothing. Returns the count.
pub async fn check(services: &Services, config: &ImapConfig) -> Result<usize, PollError> {
    let token = token_for(services, config).await?;
    let mut session = connect(config, token.as_ref()).await?;
    within(config.timeout, session.select(&config.folder)).await?;
    let unseen = within(config.timeout, session.uid_search("UNSEEN"))
        .await?
        .len();
    let _ = within(config.timeout, session.logout()).await;
    Ok(unseen)
}

/// The raw message (or, when it is over the limit, its header block) and its full size.
async fn fetch(
    session: &mut Session,
    uid: u32,
    config: &ImapConfig,
) -> Result<Option<(Vec<u8>, usize, bool)>, PollError> {
    let size = {
        let mut fetches = within(
            config.timeout,
            session.uid_fetch(uid.to_string(), "RFC822.SIZE"),
        )
        .await?;
        let mut size = None;
        while let Some(f) = within(config.timeout, async {
            Ok::<_, PollError>(fetches.next().await)
        })
        .await?
        {
            if let Some(s) = f?.size {
                size = Some(s as usize);
            }
        }
        size
    };
    let Some(size) = size else { return Ok(None) };
    let too_large = size > config.limits.max_message_bytes;
    let query = if too_large {
        "BODY.PEEK[HEADER]"
    } else {
        "BODY.PEEK[]"
    };
    let mut fetches = within(config.timeout, session.uid_fetch(uid.to_string(), query)).await?;
    let mut raw = None;
    while let Some(f) = within(config.timeout, async {
        Ok::<_, PollError>(fetches.next().await)
    })
    .await?
    {
        let f = f?;
        let bytes = if too_large { f.header() } else { f.body() };
        if let Some(b) = bytes {
            raw = Some(b.to_vec());
        }
    }
    Ok(raw.map(|r| (r, size, too_large)))
}

/// Marks a filed message: moved to `move_to`, or flagged seen.
async fn mark_filed(session: &mut Session, uid: u32, config: &ImapConfig) -> Result<(), PollError> {
    match &config.move_to {
        Some(folder) => within(config.timeout, session.uid_mv(uid.to_string(), folder)).await,
        None => {
            let mut updates = within(
                config.timeout,
                session.uid_store(uid.to_string(), "+FLAGS (\\Seen)"),
            )
            .await?;
            while let Some(u) = within(config.timeout, async {
                Ok::<_, PollError>(updates.next().await)
            })
            .await?
            {
                u?;
            }
            Ok(())
        }
    }
}

fn drain(session: &mut Session) {
    while session.unsolicited_responses.try_recv().is_ok() {}
}

/// One poll: take the lease, file every unseen message, mark each only after it is filed.
pub async fn poll_once(
    services: &Services,
    config: &ImapConfig,
    holder: &str,
) -> Result<PollReport, PollError> {
    let mut report = PollReport::default();
    let lease_secs = (config.every.as_secs() as i64 * 3).max(120);
    if !services.acquire_lease(LEASE, holder, lease_secs).await? {
        report.skipped = true;
        return Ok(report);
    }
    let token = token_for(services, config).await?;
    let mut session = connect(config, token.as_ref()).await?;
    within(config.timeout, session.select(&config.folder)).await?;
    if let Some(folder) = &config.move_to {
        // Make sure the destination exists; "already exists" is fine.
        let _ = within(config.timeout, session.create(folder)).await;
    }
    let mut uids: Vec<u32> = within(config.timeout, session.uid_search("UNSEEN"))
        .await?
        .into_iter()
        .collect();
    uids.sort_unstable();
    drain(&mut session);
    for uid in uids.into_iter().take(BATCH) {
        if !services.acquire_lease(LEASE, holder, lease_secs).await? {
            break;
        }
        let Some((raw, size, too_large)) = fetch(&mut session, uid, config).await? else {
            continue;
        };
        let mail = if too_large {
            parse_too_large(&raw, size)
        } else {
            parse(&raw, &config.limits)
        };
        match services.receive_mail(&raw, &mail).await {
            Ok(outcome) => {
                mark_filed(&mut session, uid, config).await?;
                match outcome {
                    MailOutcome::Quarantined { .. } => report.quarantined += 1,
                    _ => report.filed += 1,
                }
            }
            Err(e) => {
                // Left unseen: the next poll tries again.
                tracing::error!(uid, error = %e, "failed to file a message; it stays unseen");
                report.failed += 1;
            }
        }
        drain(&mut session);
    }
    let _ = within(config.timeout, session.logout()).await;
    Ok(report)
}

/// Polls every `config.every` until `stop` resolves.
pub async fn run(
    services: Services,
    config: ImapConfig,
    holder: String,
    stop: impl std::future::Future<Output = ()>,
) {
    tracing::info!(host = %config.host, port = config.port, folder = %config.folder, "IMAP poller started");
    tokio::pin!(stop);
    loop {
        let outcome = poll_once(&services, &config, &holder).await;
        let health = match &outcome {
            Ok(r) if r.skipped => None,
            Ok(_) => Some(Ok(())),
            Err(e) => Some(Err(e.spanish(&config))),
        };
        match outcome {
            Ok(r) if r.filed + r.quarantined + r.failed > 0 => {
                tracing::info!(
                    filed = r.filed,
                    quarantined = r.quarantined,
                    failed = r.failed,
                    "mailbox polled"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "mailbox poll failed; will try again"),
        }
        if let Some(h) = health {
            let recorded = services
                .record_mail_health(
                    crate::domain::mailbox::Direction::Fetch,
                    h.as_ref().map(|_| ()).map_err(String::as_str),
                )
                .await;
            if let Err(e) = recorded {
                tracing::warn!(error = %e, "failed to record the mailbox's health");
            }
        }
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(config.every) => {}
        }
    }
    let _ = services.release_lease(LEASE, &holder).await;
}

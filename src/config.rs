//! The one typed configuration: command-line flags with environment fallbacks.
//! Secrets are wrapped so `Debug` (and therefore logs) never shows them.

use clap::{Args, Parser, Subcommand};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// A value that must not reach logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "soporte",
    version,
    about = "Mesa de ayuda: correos que se vuelven incidencias"
)]
pub struct Cli {
    /// Database URL: sqlite://FILE (created and migrated on start) or postgres://…
    #[arg(
        long = "database",
        env = "DATABASE_URL",
        default_value = "sqlite://soporte.db",
        global = true,
        hide_env_values = true
    )]
    pub database: Secret,

    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server (the default).
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage personal API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Fill the database with realistic demo data (staff, tickets, whole timelines).
    Demo {
        /// How many tickets to create.
        #[arg(long, default_value_t = 1000)]
        tickets: u64,
        /// Spread them over this many days up to now.
        #[arg(long, default_value_t = 180)]
        days: i64,
        /// The same seed gives the same data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Read one raw e-mail from standard input (an MTA's pipe transport) and file it.
    Intake(IntakeArgs),
    /// Copy a live SQLite database to FILE, consistently (PostgreSQL: use pg_dump).
    Backup(BackupArgs),
}

/// `soporte backup --to FILE`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Where to write the copy; the file must not exist yet.
    #[arg(long)]
    pub to: std::path::PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["admin", "dispatcher", "technician"])]
        role: String,
        /// Ready-to-use password; without it one is generated, printed once, and must be
        /// changed at first sign-in.
        #[arg(long)]
        password: Option<Secret>,
    },
    /// Set an account's password (read from standard input).
    Passwd {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a personal API token and print it once.
    Create {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "SOPORTE_BIND", default_value = "127.0.0.1:5000")]
    pub bind: SocketAddr,

    /// Bearer token required by POST /intake/email; without it only loopback callers may use it.
    #[arg(long, env = "SOPORTE_INTAKE_TOKEN", hide_env_values = true)]
    pub intake_token: Option<Secret>,

    /// Comma-separated addresses of reverse proxies whose X-Forwarded-For/Forwarded is trusted.
    #[arg(long, env = "SOPORTE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,

    /// Mark the session cookie `Secure` (serve over HTTPS).
    #[arg(long, env = "SOPORTE_COOKIE_SECURE", default_value_t = false)]
    pub cookie_secure: bool,

    /// Minutes of inactivity after which a session ends.
    #[arg(long, env = "SOPORTE_SESSION_IDLE_MINUTES", default_value_t = 480)]
    pub session_idle_minutes: i64,

    /// Largest request body accepted, in bytes (larger gets 413).
    #[arg(long, env = "SOPORTE_MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Bearer token required by GET /metrics; without it only loopback callers may read it.
    #[arg(long, env = "SOPORTE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,

    /// The address people reach the help-desk at, for links in e-mails (the status page, a
    /// ticket's page).
    #[arg(
        long,
        env = "SOPORTE_PUBLIC_URL",
        default_value = "http://127.0.0.1:5000"
    )]
    pub public_url: String,

    /// Days a ticket waits for its requester before they are reminded.
    #[arg(long, env = "SOPORTE_WAIT_REMIND_DAYS", default_value_t = 3)]
    pub wait_remind_days: i64,

    /// Days a ticket waits for its requester before it closes itself.
    #[arg(long, env = "SOPORTE_WAIT_CLOSE_DAYS", default_value_t = 7)]
    pub wait_close_days: i64,

    #[command(flatten)]
    pub mail: MailArgs,
}

/// Size limits for incoming mail (HTTP raw messages, the pipe and IMAP).
#[derive(Debug, Clone, Args)]
pub struct MailLimitArgs {
    /// Largest incoming e-mail, in bytes; larger ones are kept in quarantine (headers only).
    #[arg(long, env = "SOPORTE_MAIL_MAX_MESSAGE_BYTES", default_value_t = crate::domain::mail::DEFAULT_MAX_MESSAGE_BYTES)]
    pub mail_max_message_bytes: usize,

    /// Largest attachment kept, in bytes; larger ones are recorded without their content.
    #[arg(long, env = "SOPORTE_MAIL_MAX_ATTACHMENT_BYTES", default_value_t = crate::domain::mail::DEFAULT_MAX_ATTACHMENT_BYTES)]
    pub mail_max_attachment_bytes: usize,
}

impl Default for MailLimitArgs {
    fn default() -> Self {
        MailLimitArgs {
            mail_max_message_bytes: crate::domain::mail::DEFAULT_MAX_MESSAGE_BYTES,
            mail_max_attachment_bytes: crate::domain::mail::DEFAULT_MAX_ATTACHMENT_BYTES,
        }
    }
}

impl MailLimitArgs {
    pub fn limits(&self) -> crate::domain::mail::MailLimits {
        crate::domain::mail::MailLimits {
            max_message_bytes: self.mail_max_message_bytes.max(1024),
            max_attachment_bytes: self.mail_max_attachment_bytes,
        }
    }
}

/// `soporte intake`: reads one message from standard input.
#[derive(Debug, Clone, Args)]
pub struct IntakeArgs {
    #[command(flatten)]
    pub limits: MailLimitArgs,
}

/// The mail channel (docs/mail.md): the mailbox to poll and the server that sends notices.
/// Polling runs when `SOPORTE_IMAP_HOST` is set, sending when `SOPORTE_SMTP_HOST` is set.
#[derive(Debug, Clone, Args)]
pub struct MailArgs {
    #[command(flatten)]
    pub limits: MailLimitArgs,

    /// IMAP server of the support mailbox; unset turns polling off.
    #[arg(long, env = "SOPORTE_IMAP_HOST")]
    pub imap_host: Option<String>,

    /// IMAP port (default 993 with TLS, 143 without).
    #[arg(long, env = "SOPORTE_IMAP_PORT")]
    pub imap_port: Option<u16>,

    /// Connect to IMAP over TLS (IMAPS).
    #[arg(long, env = "SOPORTE_IMAP_TLS", default_value_t = true, action = clap::ArgAction::Set)]
    pub imap_tls: bool,

    #[arg(long, env = "SOPORTE_IMAP_USER")]
    pub imap_user: Option<String>,

    #[arg(long, env = "SOPORTE_IMAP_PASSWORD", hide_env_values = true)]
    pub imap_password: Option<Secret>,

    /// Folder to read new messages from.
    #[arg(long, env = "SOPORTE_IMAP_FOLDER", default_value = "INBOX")]
    pub imap_folder: String,

    /// Folder to move filed messages to; unset marks them as seen instead.
    #[arg(long, env = "SOPORTE_IMAP_MOVE_TO")]
    pub imap_move_to: Option<String>,

    /// Seconds between two polls of the mailbox.
    #[arg(long, env = "SOPORTE_IMAP_INTERVAL", default_value_t = 60)]
    pub imap_interval: u64,

    /// SMTP server that sends notices; unset keeps them waiting in the outbox.
    #[arg(long, env = "SOPORTE_SMTP_HOST")]
    pub smtp_host: Option<String>,

    /// SMTP port (default 587 with starttls, 465 with tls, 25 with none).
    #[arg(long, env = "SOPORTE_SMTP_PORT")]
    pub smtp_port: Option<u16>,

    /// SMTP security: starttls, tls (implicit, port 465) or none (a trusted local relay).
    #[arg(long, env = "SOPORTE_SMTP_TLS", default_value = "starttls", value_parser = ["starttls", "tls", "none"])]
    pub smtp_tls: String,

    #[arg(long, env = "SOPORTE_SMTP_USER")]
    pub smtp_user: Option<String>,

    #[arg(long, env = "SOPORTE_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<Secret>,

    /// Sender of notices, e.g. "Soporte <atencion@miempresa.com>".
    #[arg(
        long,
        env = "SOPORTE_SMTP_FROM",
        default_value = "Soporte <atencion@miempresa.com>"
    )]
    pub smtp_from: String,

    /// Automatic messages one address may receive in 24 hours (loop protection).
    #[arg(long, env = "SOPORTE_MAIL_DAILY_LIMIT", default_value_t = crate::domain::mail::DEFAULT_DAILY_LIMIT)]
    pub mail_daily_limit: i64,
}

impl Default for MailArgs {
    fn default() -> Self {
        MailArgs {
            limits: MailLimitArgs::default(),
            imap_host: None,
            imap_port: None,
            imap_tls: true,
            imap_user: None,
            imap_password: None,
            imap_folder: "INBOX".to_string(),
            imap_move_to: None,
            imap_interval: 60,
            smtp_host: None,
            smtp_port: None,
            smtp_tls: "starttls".to_string(),
            smtp_user: None,
            smtp_password: None,
            smtp_from: "Soporte <atencion@miempresa.com>".to_string(),
            mail_daily_limit: crate::domain::mail::DEFAULT_DAILY_LIMIT,
        }
    }
}

impl Default for ServeArgs {
    fn default() -> Self {
        ServeArgs {
            bind: SocketAddr::from(([127, 0, 0, 1], 5000)),
            intake_token: None,
            trusted_proxies: Vec::new(),
            cookie_secure: false,
            session_idle_minutes: 480,
            max_body_bytes: 2 * 1024 * 1024,
            metrics_token: None,
            public_url: "http://127.0.0.1:5000".to_string(),
            wait_remind_days: 3,
            wait_close_days: 7,
            mail: MailArgs::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_show_in_debug() {
        let s = Secret::new("postgres://u:hunter2@h/db");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn defaults_match_the_design() {
        let cli = Cli::try_parse_from(["soporte"]).unwrap();
        assert_eq!(cli.serve.bind.to_string(), "127.0.0.1:5000");
        assert_eq!(cli.database.expose(), "sqlite://soporte.db");
        assert!(cli.command.is_none());
    }
}

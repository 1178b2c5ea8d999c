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
    /// Stored secrets (docs/operations.md, "Rotating the secret key").
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Service levels (SLA).
    #[command(subcommand)]
    Sla(SlaCommand),
}

#[derive(Debug, Subcommand)]
pub enum SlaCommand {
    /// Recompute the SLA clocks of every ticket (closed ones included) with today's calendar
    /// and targets. Open tickets are recomputed on their own whenever those change.
    Recompute {
        /// Only tickets created on or after this day (aaaa-mm-dd, Lima).
        #[arg(long)]
        since: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Seal every stored secret again under SOPORTE_SECRET_KEY, reading values sealed under
    /// SOPORTE_SECRET_KEY_PREVIOUS.
    Rotate {
        #[arg(long, env = "SOPORTE_SECRET_KEY", hide_env_values = true)]
        secret_key: Option<Secret>,
        #[arg(long, env = "SOPORTE_SECRET_KEY_PREVIOUS", hide_env_values = true)]
        secret_key_previous: Option<Secret>,
    },
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
    /// Remove an account's second factor (TOTP and recovery codes) and end its sessions,
    /// for someone who lost both their phone and their recovery codes.
    #[command(name = "reset-2fa")]
    Reset2fa {
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

    /// The address people reach the help-desk at, for links in e-mails and chat notices (the
    /// status page, a ticket's page) and the sign-in callbacks
    /// (`{public-url}/login/oidc/callback`, `{public-url}/admin/mail/callback`).
    #[arg(
        long,
        env = "SOPORTE_PUBLIC_URL",
        default_value = "http://127.0.0.1:5000"
    )]
    pub public_url: String,

    /// The support mailbox people write to, shown to dispatchers in "Registrar correo
    /// recibido en …"; unset, the address of --smtp-from.
    #[arg(long, env = "SOPORTE_SUPPORT_ADDRESS")]
    pub support_address: Option<String>,

    /// Days a ticket waits for its requester before they are reminded.
    #[arg(long, env = "SOPORTE_WAIT_REMIND_DAYS", default_value_t = 3)]
    pub wait_remind_days: i64,

    /// Days a ticket waits for its requester before it closes itself.
    #[arg(long, env = "SOPORTE_WAIT_CLOSE_DAYS", default_value_t = 7)]
    pub wait_close_days: i64,

    /// A PostgreSQL streaming replica for reads (lists, search, dashboard, export);
    /// repeatable, or comma-separated in the environment variable. Ignored on SQLite.
    #[arg(
        long = "database-replica",
        env = "SOPORTE_DATABASE_REPLICAS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub database_replica: Vec<Secret>,

    /// A replica that lags the primary by more than this many seconds is skipped.
    #[arg(long, env = "SOPORTE_REPLICA_MAX_LAG_SECONDS", default_value_t = 5)]
    pub replica_max_lag_seconds: u64,

    #[command(flatten)]
    pub mail: MailArgs,

    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Company connections (docs/operations.md): the secret key, single sign-on (OpenID
/// Connect), LDAP / Active Directory, two-factor authentication and chat notices.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Key material that seals stored secrets (refresh tokens, TOTP seeds, webhook secrets);
    /// 32 characters or more, e.g. `openssl rand -base64 32`. Required with mail OAuth2.
    #[arg(long, env = "SOPORTE_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<Secret>,

    /// The previous secret key, still readable while `soporte secrets rotate` re-seals.
    #[arg(long, env = "SOPORTE_SECRET_KEY_PREVIOUS", hide_env_values = true)]
    pub secret_key_previous: Option<Secret>,

    /// OpenID Connect issuer (discovery at `{issuer}/.well-known/openid-configuration`);
    /// unset turns single sign-on off.
    #[arg(long, env = "SOPORTE_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,

    #[arg(long, env = "SOPORTE_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,

    #[arg(long, env = "SOPORTE_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<Secret>,

    /// Groups to roles, e.g. `TI-Admins=admin,TI-Derivadores=dispatcher,TI-Soporte=technician`.
    #[arg(long, env = "SOPORTE_OIDC_ROLE_MAP", default_value = "")]
    pub oidc_role_map: String,

    /// The ID-token claim that lists the person's groups.
    #[arg(long, env = "SOPORTE_OIDC_GROUPS_CLAIM", default_value = "groups")]
    pub oidc_groups_claim: String,

    /// Create an account the first time someone the provider vouches for signs in.
    #[arg(long, env = "SOPORTE_OIDC_AUTO_CREATE", default_value_t = false)]
    pub oidc_auto_create: bool,

    /// Scopes asked of the provider.
    #[arg(
        long,
        env = "SOPORTE_OIDC_SCOPES",
        default_value = "openid email profile"
    )]
    pub oidc_scopes: String,

    /// Name on the sign-in button ("Ingresar con …"); derived from the issuer when unset.
    #[arg(long, env = "SOPORTE_OIDC_LABEL")]
    pub oidc_label: Option<String>,

    /// Who may sign in with a local password: on (everyone), admins (administrators only, a
    /// way in when the directory is down) or off.
    #[arg(long, env = "SOPORTE_LOCAL_PASSWORDS", default_value = "on", value_parser = ["on", "admins", "off"])]
    pub local_passwords: String,

    /// LDAP server: `ldaps://host` (TLS), `ldap://host` (StartTLS required; plain only to
    /// 127.0.0.1); unset turns directory sign-in off.
    #[arg(long, env = "SOPORTE_LDAP_URL")]
    pub ldap_url: Option<String>,

    /// Service account that searches the directory (unset: bind directly as the person).
    #[arg(long, env = "SOPORTE_LDAP_BIND_DN")]
    pub ldap_bind_dn: Option<String>,

    #[arg(long, env = "SOPORTE_LDAP_BIND_PASSWORD", hide_env_values = true)]
    pub ldap_bind_password: Option<Secret>,

    /// Where people and groups are searched, e.g. `dc=miempresa,dc=com`.
    #[arg(long, env = "SOPORTE_LDAP_BASE_DN", default_value = "")]
    pub ldap_base_dn: String,

    /// Finds the person by what they typed (`{0}`).
    #[arg(
        long,
        env = "SOPORTE_LDAP_USER_FILTER",
        default_value = "(&(objectClass=person)(|(mail={0})(userPrincipalName={0})(sAMAccountName={0})(uid={0})))"
    )]
    pub ldap_user_filter: String,

    /// Groups to roles, like `--oidc-role-map` (group CN or DN).
    #[arg(long, env = "SOPORTE_LDAP_ROLE_MAP", default_value = "")]
    pub ldap_role_map: String,

    /// Create an account the first time a directory user signs in.
    #[arg(long, env = "SOPORTE_LDAP_AUTO_CREATE", default_value_t = false)]
    pub ldap_auto_create: bool,

    /// Extra CA certificates (PEM) trusted for LDAPS/StartTLS (an internal CA).
    #[arg(long, env = "SOPORTE_LDAP_CA_FILE")]
    pub ldap_ca_file: Option<std::path::PathBuf>,

    /// Administrators must use two-factor authentication (TOTP) to use the application.
    #[arg(long, env = "SOPORTE_REQUIRE_2FA_ADMINS", default_value_t = false)]
    pub require_2fa_admins: bool,

    /// Chat notices one channel may receive in 24 hours.
    #[arg(long, env = "SOPORTE_NOTIFY_DAILY_LIMIT", default_value_t = 500)]
    pub notify_daily_limit: i64,

    /// Telegram's Bot API address (changed only to test against a stand-in).
    #[arg(
        long,
        env = "SOPORTE_TELEGRAM_API_URL",
        default_value = "https://api.telegram.org",
        hide = true
    )]
    pub telegram_api_url: String,
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

    /// OAuth2 for IMAP and SMTP instead of passwords: microsoft, google or generic.
    #[arg(long, env = "SOPORTE_MAIL_OAUTH", value_parser = ["microsoft", "google", "generic"])]
    pub mail_oauth: Option<String>,

    /// delegated (an administrator connects the mailbox once) or app (client credentials).
    #[arg(long, env = "SOPORTE_MAIL_OAUTH_GRANT", default_value = "delegated", value_parser = ["delegated", "app"])]
    pub mail_oauth_grant: String,

    /// Microsoft 365 tenant (id or domain; `organizations` for delegated sign-in).
    #[arg(long, env = "SOPORTE_MAIL_OAUTH_TENANT", default_value = "")]
    pub mail_oauth_tenant: String,

    #[arg(long, env = "SOPORTE_MAIL_OAUTH_CLIENT_ID")]
    pub mail_oauth_client_id: Option<String>,

    #[arg(long, env = "SOPORTE_MAIL_OAUTH_CLIENT_SECRET", hide_env_values = true)]
    pub mail_oauth_client_secret: Option<Secret>,

    /// Generic provider: its issuer (endpoints by discovery) …
    #[arg(long, env = "SOPORTE_MAIL_OAUTH_ISSUER")]
    pub mail_oauth_issuer: Option<String>,

    /// … or its endpoints.
    #[arg(long, env = "SOPORTE_MAIL_OAUTH_AUTH_URL")]
    pub mail_oauth_auth_url: Option<String>,

    #[arg(long, env = "SOPORTE_MAIL_OAUTH_TOKEN_URL")]
    pub mail_oauth_token_url: Option<String>,

    /// Scopes (space- or comma-separated); the presets' when unset.
    #[arg(long, env = "SOPORTE_MAIL_OAUTH_SCOPES")]
    pub mail_oauth_scopes: Option<String>,

    /// SASL mechanism for IMAP: xoauth2 or oauthbearer (SMTP always uses XOAUTH2).
    #[arg(long, env = "SOPORTE_MAIL_OAUTH_MECHANISM", default_value = "xoauth2", value_parser = ["xoauth2", "oauthbearer"])]
    pub mail_oauth_mechanism: String,
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
            mail_oauth: None,
            mail_oauth_grant: "delegated".to_string(),
            mail_oauth_tenant: String::new(),
            mail_oauth_client_id: None,
            mail_oauth_client_secret: None,
            mail_oauth_issuer: None,
            mail_oauth_auth_url: None,
            mail_oauth_token_url: None,
            mail_oauth_scopes: None,
            mail_oauth_mechanism: "xoauth2".to_string(),
        }
    }
}

impl Default for ConnectArgs {
    fn default() -> Self {
        ConnectArgs {
            secret_key: None,
            secret_key_previous: None,
            oidc_issuer: None,
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_role_map: String::new(),
            oidc_groups_claim: "groups".to_string(),
            oidc_auto_create: false,
            oidc_scopes: "openid email profile".to_string(),
            oidc_label: None,
            local_passwords: "on".to_string(),
            ldap_url: None,
            ldap_bind_dn: None,
            ldap_bind_password: None,
            ldap_base_dn: String::new(),
            ldap_user_filter: "(&(objectClass=person)(|(mail={0})(userPrincipalName={0})(sAMAccountName={0})(uid={0})))".to_string(),
            ldap_role_map: String::new(),
            ldap_auto_create: false,
            ldap_ca_file: None,
            require_2fa_admins: false,
            notify_daily_limit: 500,
            telegram_api_url: "https://api.telegram.org".to_string(),
        }
    }
}

impl ServeArgs {
    /// The support mailbox's address: `--support-address`, or the address inside
    /// `--smtp-from` ("Soporte <atencion@miempresa.com>" → "atencion@miempresa.com").
    pub fn support_address(&self) -> String {
        let configured = self
            .support_address
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty());
        let raw = configured.unwrap_or(self.mail.smtp_from.as_str());
        match (raw.rfind('<'), raw.rfind('>')) {
            (Some(start), Some(end)) if start < end => raw[start + 1..end].trim().to_string(),
            _ => raw.trim().to_string(),
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
            support_address: None,
            wait_remind_days: 3,
            wait_close_days: 7,
            database_replica: Vec::new(),
            replica_max_lag_seconds: 5,
            mail: MailArgs::default(),
            connect: ConnectArgs::default(),
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
    fn the_support_address_defaults_to_the_sender_of_notices() {
        let cli = Cli::try_parse_from(["soporte"]).unwrap();
        assert_eq!(cli.serve.support_address(), "atencion@miempresa.com");
        let cli = Cli::try_parse_from(["soporte", "--smtp-from", "Mesa <mesa@acme.pe>"]).unwrap();
        assert_eq!(cli.serve.support_address(), "mesa@acme.pe");
        let cli = Cli::try_parse_from([
            "soporte",
            "--support-address",
            "ayuda@acme.pe",
            "--smtp-from",
            "noreply@acme.pe",
        ])
        .unwrap();
        assert_eq!(cli.serve.support_address(), "ayuda@acme.pe");
    }

    #[test]
    fn read_replicas_repeat_and_lag_defaults_to_five_seconds() {
        let cli = Cli::try_parse_from([
            "soporte",
            "--database-replica",
            "postgres://u:clave@r1/soporte",
            "--database-replica",
            "postgres://u:clave@r2/soporte",
        ])
        .unwrap();
        let r: Vec<&str> = cli
            .serve
            .database_replica
            .iter()
            .map(Secret::expose)
            .collect();
        assert_eq!(
            r,
            [
                "postgres://u:clave@r1/soporte",
                "postgres://u:clave@r2/soporte"
            ]
        );
        assert_eq!(cli.serve.replica_max_lag_seconds, 5);
        assert!(!format!("{:?}", cli.serve).contains("clave"));
        let none = Cli::try_parse_from(["soporte", "--replica-max-lag-seconds", "2"]).unwrap();
        assert!(none.serve.database_replica.is_empty());
        assert_eq!(none.serve.replica_max_lag_seconds, 2);
    }

    #[test]
    fn defaults_match_the_design() {
        let cli = Cli::try_parse_from(["soporte"]).unwrap();
        assert_eq!(cli.serve.bind.to_string(), "127.0.0.1:5000");
        assert_eq!(cli.database.expose(), "sqlite://soporte.db");
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.public_url, "http://127.0.0.1:5000");
    }

    #[test]
    fn the_company_connection_flags_parse_with_their_defaults() {
        let cli = Cli::try_parse_from([
            "soporte",
            "--oidc-issuer",
            "https://idp.example",
            "--oidc-client-id",
            "soporte",
            "--oidc-client-secret",
            "s3creto",
            "--oidc-role-map",
            "TI-Admins=admin,TI-Derivadores=dispatcher,TI-Soporte=technician",
            "--oidc-auto-create",
            "--ldap-url",
            "ldaps://dc.miempresa.com",
            "--ldap-bind-dn",
            "cn=svc,dc=miempresa,dc=com",
            "--ldap-bind-password",
            "x",
            "--ldap-base-dn",
            "dc=miempresa,dc=com",
            "--ldap-user-filter",
            "(sAMAccountName={0})",
            "--ldap-role-map",
            "TI-Admins=admin",
            "--require-2fa-admins",
        ])
        .unwrap();
        let c = &cli.serve.connect;
        assert_eq!(c.oidc_issuer.as_deref(), Some("https://idp.example"));
        assert_eq!(c.oidc_groups_claim, "groups");
        assert!(c.oidc_auto_create && c.require_2fa_admins);
        assert_eq!(c.ldap_user_filter, "(sAMAccountName={0})");
        let d = ConnectArgs::default();
        let parsed = Cli::try_parse_from(["soporte"]).unwrap().serve.connect;
        assert_eq!(d.oidc_groups_claim, parsed.oidc_groups_claim);
        assert_eq!(d.ldap_user_filter, parsed.ldap_user_filter);
        assert_eq!(d.local_passwords, parsed.local_passwords);
        assert_eq!(d.oidc_scopes, parsed.oidc_scopes);
        assert!(!parsed.oidc_auto_create);
    }
}

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
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage personal API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
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

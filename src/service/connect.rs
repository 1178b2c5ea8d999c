//! Company connections, the shared part: settings read once at start (`Connect`), the
//! keyring that seals stored secrets, the HTTP client for token endpoints and chat webhooks,
//! and the error these use cases answer with (`ConnectError`: a Spanish refusal with its
//! kind, or a service failure).
//!
//! The use cases themselves are in `sso` (OpenID Connect), `ldap`, `twofactor`, `mailbox`
//! (OAuth2 mail, health) and `notify` (chat notices).

use super::{Error, Services};
use crate::config::{MailArgs, ServeArgs};
use crate::domain::identity::{LocalPasswords, RoleMap};
use crate::domain::secrets::{Keyring, NONCE_LEN, SecretKey};
use std::sync::Arc;
use std::time::Duration;

/// What kind of refusal, so the web layer picks the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// 422: bad input, nothing changed.
    Invalid,
    /// 401: credentials refused.
    Unauthorized,
    /// 403: not allowed.
    Forbidden,
    /// 404.
    NotFound,
    /// 409: not possible in the current state (e.g. a feature is not configured).
    Conflict,
    /// 429.
    Throttled,
    /// 502/503: a server we depend on (identity provider, directory, mail) failed.
    Unavailable,
}

/// A refusal people read: a stable code and a Spanish sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{}: {}", .0.code, .0.message)]
    Problem(Problem),
    #[error(transparent)]
    Service(#[from] Error),
}

impl ConnectError {
    pub fn new(kind: ProblemKind, code: &'static str, message: impl Into<String>) -> Self {
        ConnectError::Problem(Problem {
            kind,
            code,
            message: message.into(),
        })
    }

    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ProblemKind::Invalid, code, message)
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ProblemKind::Unavailable, code, message)
    }

    /// The problem's code, or `None` for a service failure.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            ConnectError::Problem(p) => Some(p.code),
            ConnectError::Service(_) => None,
        }
    }
}

impl From<crate::storage::StorageError> for ConnectError {
    fn from(e: crate::storage::StorageError) -> Self {
        ConnectError::Service(Error::Storage(e))
    }
}

impl From<sqlx::Error> for ConnectError {
    fn from(e: sqlx::Error) -> Self {
        ConnectError::Service(Error::from(e))
    }
}

impl From<crate::domain::DomainError> for ConnectError {
    fn from(e: crate::domain::DomainError) -> Self {
        ConnectError::Service(Error::Domain(e))
    }
}

pub type CResult<T> = std::result::Result<T, ConnectError>;

type BannerCache = (
    std::time::Instant,
    (
        crate::domain::mailbox::Health,
        crate::domain::mailbox::Health,
    ),
);

/// Settings of the company connections and the caches they share; one per process.
#[derive(Debug)]
pub struct Connect {
    pub(crate) keyring: Option<Keyring>,
    pub(crate) public_url: String,
    pub(crate) http: reqwest::Client,
    pub(crate) oidc: Option<super::company::OidcSettings>,
    pub(crate) ldap: Option<super::company::LdapSettings>,
    pub(crate) mail_oauth: Option<super::company::OAuthSettings>,
    pub(crate) local_passwords: LocalPasswords,
    pub(crate) require_2fa_admins: bool,
    pub(crate) notify_daily_limit: i64,
    pub(crate) telegram_api_url: String,
    /// Whether IMAP polling and SMTP sending are configured (for health checks).
    pub(crate) fetch_configured: bool,
    pub(crate) send_configured: bool,
    pub(crate) provider_cache: tokio::sync::Mutex<super::company::ProviderCache>,
    pub(crate) mail_endpoints: tokio::sync::Mutex<Option<crate::domain::oauth::Endpoints>>,
    /// The mail directions' health for the administrators' banner, read from the database
    /// at most every few seconds.
    pub(crate) banner_cache: std::sync::Mutex<Option<BannerCache>>,
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("soporte/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

impl Default for Connect {
    fn default() -> Self {
        Connect {
            keyring: None,
            public_url: "http://127.0.0.1:5000".to_string(),
            http: http_client(),
            oidc: None,
            ldap: None,
            mail_oauth: None,
            local_passwords: LocalPasswords::On,
            require_2fa_admins: false,
            notify_daily_limit: 500,
            telegram_api_url: "https://api.telegram.org".to_string(),
            fetch_configured: false,
            send_configured: false,
            provider_cache: Default::default(),
            mail_endpoints: Default::default(),
            banner_cache: Default::default(),
        }
    }
}

fn filled(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl Connect {
    /// Reads the settings; an inconsistent configuration refuses to start, with the reason.
    pub fn from_args(args: &ServeArgs) -> Result<Connect, String> {
        let c = &args.connect;
        let key = |s: &Option<crate::config::Secret>, name: &str| {
            s.as_ref()
                .filter(|k| !k.expose().trim().is_empty())
                .map(|k| SecretKey::derive(k.expose()).map_err(|e| format!("{name}: {e}")))
                .transpose()
        };
        let current = key(&c.secret_key, "SOPORTE_SECRET_KEY")?;
        let previous = key(&c.secret_key_previous, "SOPORTE_SECRET_KEY_PREVIOUS")?;
        if current.is_none() && previous.is_some() {
            return Err(
                "SOPORTE_SECRET_KEY_PREVIOUS is set without SOPORTE_SECRET_KEY".to_string(),
            );
        }
        let keyring = current.map(|k| Keyring::new(k, previous));
        let public_url = args.public_url.trim().trim_end_matches('/').to_string();
        url::Url::parse(&public_url)
            .map_err(|e| format!("SOPORTE_PUBLIC_URL is not a URL ({e})"))?;
        let local_passwords = LocalPasswords::parse(&c.local_passwords)
            .ok_or("SOPORTE_LOCAL_PASSWORDS must be on, admins or off")?;

        let oidc = match filled(&c.oidc_issuer) {
            None => None,
            Some(issuer) => {
                let client_id = filled(&c.oidc_client_id)
                    .ok_or("SOPORTE_OIDC_CLIENT_ID is required with SOPORTE_OIDC_ISSUER")?;
                let client_secret = c
                    .oidc_client_secret
                    .clone()
                    .filter(|s| !s.expose().is_empty())
                    .ok_or("SOPORTE_OIDC_CLIENT_SECRET is required with SOPORTE_OIDC_ISSUER")?;
                let role_map = RoleMap::parse(&c.oidc_role_map)
                    .map_err(|e| format!("SOPORTE_OIDC_ROLE_MAP: {e}"))?;
                // The groups are the authorization: without a map, automatic accounts would
                // let in anyone the provider knows (any Google account, say).
                if c.oidc_auto_create && role_map.is_empty() {
                    return Err("SOPORTE_OIDC_AUTO_CREATE needs SOPORTE_OIDC_ROLE_MAP: without groups, anyone the identity provider knows would get an account".to_string());
                }
                let label = filled(&c.oidc_label)
                    .unwrap_or_else(|| crate::domain::oidc::provider_label(&issuer).to_string());
                Some(super::company::OidcSettings {
                    redirect_uri: format!("{public_url}/login/oidc/callback"),
                    issuer,
                    client_id,
                    client_secret,
                    role_map,
                    groups_claim: if c.oidc_groups_claim.trim().is_empty() {
                        "groups".to_string()
                    } else {
                        c.oidc_groups_claim.trim().to_string()
                    },
                    auto_create: c.oidc_auto_create,
                    scopes: crate::domain::oauth::parse_scopes(&c.oidc_scopes),
                    label,
                })
            }
        };
        if local_passwords == LocalPasswords::Off && oidc.is_none() && c.ldap_url.is_none() {
            return Err(
                "SOPORTE_LOCAL_PASSWORDS=off needs single sign-on or LDAP, or nobody could sign in"
                    .to_string(),
            );
        }
        let ldap = super::company::LdapSettings::from_args(c)?;
        let mail_oauth = super::company::OAuthSettings::from_args(&args.mail, &public_url)?;
        if mail_oauth.is_some() && keyring.is_none() {
            return Err(
                "mail OAuth2 (SOPORTE_MAIL_OAUTH) needs SOPORTE_SECRET_KEY to seal its tokens: \
                 set it to 32 random characters or more (openssl rand -base64 32)"
                    .to_string(),
            );
        }
        Ok(Connect {
            keyring,
            public_url,
            http: http_client(),
            oidc,
            ldap,
            mail_oauth,
            local_passwords,
            require_2fa_admins: c.require_2fa_admins,
            notify_daily_limit: c.notify_daily_limit.max(1),
            telegram_api_url: c.telegram_api_url.trim_end_matches('/').to_string(),
            fetch_configured: configured(&args.mail.imap_host),
            send_configured: configured(&args.mail.smtp_host),
            ..Connect::default()
        })
    }
}

fn configured(host: &Option<String>) -> bool {
    host.as_ref().is_some_and(|h| !h.trim().is_empty())
}

/// Mail settings seen by the web layer's checks, without the rest of the configuration.
pub fn mail_configured(mail: &MailArgs) -> (bool, bool) {
    (configured(&mail.imap_host), configured(&mail.smtp_host))
}

impl Services {
    /// The same services with the company connections configured.
    pub fn with_connect(mut self, connect: Connect) -> Services {
        self.connect = Arc::new(connect);
        self
    }

    pub fn public_url(&self) -> &str {
        &self.connect.public_url
    }

    pub fn has_secret_key(&self) -> bool {
        self.connect.keyring.is_some()
    }

    fn keyring(&self) -> CResult<&Keyring> {
        self.connect.keyring.as_ref().ok_or_else(|| {
            ConnectError::new(
                ProblemKind::Conflict,
                "secret_key_missing",
                "Falta configurar SOPORTE_SECRET_KEY: sin ella no se pueden guardar secretos cifrados.",
            )
        })
    }

    /// Seals a secret for the column `context` under the current key.
    pub(crate) fn seal(&self, plain: &str, context: &str) -> CResult<String> {
        let ring = self.keyring()?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)
            .map_err(|e| Error::Internal(format!("failed to get a nonce: {e}")))?;
        Ok(ring.seal(plain.as_bytes(), nonce, context))
    }

    /// Opens a sealed secret of the column `context`.
    pub(crate) fn unseal(&self, sealed: &str, context: &str) -> CResult<String> {
        let ring = self.keyring()?;
        ring.open_text(sealed, context).map_err(|e| {
            tracing::error!(context, error = %e, "failed to open a stored secret");
            ConnectError::new(
                ProblemKind::Conflict,
                "secret_unreadable",
                "Un secreto guardado no se puede descifrar con SOPORTE_SECRET_KEY (¿se cambió la clave sin SOPORTE_SECRET_KEY_PREVIOUS?).",
            )
        })
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.connect.http
    }
}

/// Random bytes (for states, nonces, PKCE verifiers).
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)
        .map_err(|e| Error::Internal(format!("failed to get random bytes: {e}")))?;
    Ok(b)
}

/// An HTTP failure in words for the administrator (no URL query, no secret).
pub(crate) fn describe_http(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no respondió a tiempo".to_string()
    } else if e.is_connect() {
        "no se pudo conectar".to_string()
    } else if e.is_decode() || e.is_body() {
        "respondió algo ilegible".to_string()
    } else {
        "falló la conexión".to_string()
    }
}

/// Compares two secrets in constant time.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

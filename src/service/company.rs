//! The company connections' settings, read once at start from the command line: single
//! sign-on (`--oidc-*`), mail OAuth2 (`--mail-oauth-*`) and LDAP (`--ldap-*`), with the
//! caches they share. Plain data; the use cases are in `sso`, `mailbox` and `ldap`.

use crate::config::{ConnectArgs, MailArgs, Secret};
use crate::domain::identity::RoleMap;
use crate::domain::oauth::{Grant, Mechanism, ProviderKind, parse_scopes};
use crate::domain::oidc::{Discovery, Jwks};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_rustls::rustls;

/// The provider's settings (from `--oidc-*`).
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub role_map: RoleMap,
    pub groups_claim: String,
    pub auto_create: bool,
    pub scopes: Vec<String>,
    /// "Ingresar con {label}".
    pub label: String,
    pub redirect_uri: String,
}

/// Discovery document and keys, fetched when first needed and kept an hour; the keys are
/// fetched again when a token names one we do not have (the provider rotated them).
#[derive(Debug, Default)]
pub struct ProviderCache {
    pub(crate) discovery: Option<(Discovery, Instant)>,
    pub(crate) jwks: Option<(Jwks, Instant)>,
}

/// How the client proves itself to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic (RFC 6749 §2.3.1): what every OAuth2 server must accept.
    Basic,
    /// `client_secret` in the form (what Microsoft's and Google's guides show).
    Post,
    /// A public client (PKCE only, no secret).
    None,
}

/// Mail OAuth2 settings (from `--mail-oauth-*`).
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub kind: ProviderKind,
    pub grant: Grant,
    pub mechanism: Mechanism,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub client_auth: ClientAuth,
    pub tenant: String,
    pub issuer: Option<String>,
    pub auth_url: Option<String>,
    pub token_url: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub redirect_uri: String,
}

fn filled(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl OAuthSettings {
    pub fn from_args(m: &MailArgs, public_url: &str) -> Result<Option<OAuthSettings>, String> {
        let Some(kind) = filled(&m.mail_oauth) else {
            return Ok(None);
        };
        let kind = ProviderKind::parse(&kind)
            .ok_or("SOPORTE_MAIL_OAUTH must be microsoft, google or generic")?;
        let grant = Grant::parse(&m.mail_oauth_grant)
            .ok_or("SOPORTE_MAIL_OAUTH_GRANT must be delegated or app")?;
        let mechanism = Mechanism::parse(&m.mail_oauth_mechanism)
            .ok_or("SOPORTE_MAIL_OAUTH_MECHANISM must be xoauth2 or oauthbearer")?;
        let client_id = filled(&m.mail_oauth_client_id)
            .ok_or("SOPORTE_MAIL_OAUTH_CLIENT_ID is required with SOPORTE_MAIL_OAUTH")?;
        let client_secret = m
            .mail_oauth_client_secret
            .clone()
            .filter(|s| !s.expose().is_empty());
        if kind == ProviderKind::Google && grant == Grant::AppOnly {
            return Err("Gmail takes no client-credentials token: use SOPORTE_MAIL_OAUTH_GRANT=delegated (docs/mail.md)".to_string());
        }
        if client_secret.is_none() && (grant == Grant::AppOnly || kind != ProviderKind::Generic) {
            return Err(
                "SOPORTE_MAIL_OAUTH_CLIENT_SECRET is required for this provider and grant"
                    .to_string(),
            );
        }
        let issuer = filled(&m.mail_oauth_issuer);
        let auth_url = filled(&m.mail_oauth_auth_url);
        let token_url = filled(&m.mail_oauth_token_url);
        if kind == ProviderKind::Generic {
            if issuer.is_none() && token_url.is_none() {
                return Err("a generic mail OAuth2 provider needs SOPORTE_MAIL_OAUTH_ISSUER or SOPORTE_MAIL_OAUTH_TOKEN_URL".to_string());
            }
            if grant == Grant::Delegated && issuer.is_none() && auth_url.is_none() {
                return Err("delegated mail OAuth2 with a generic provider needs SOPORTE_MAIL_OAUTH_ISSUER or SOPORTE_MAIL_OAUTH_AUTH_URL".to_string());
            }
        }
        if m.imap_host.is_some() && filled(&m.imap_user).is_none() {
            return Err(
                "SOPORTE_IMAP_USER (the mailbox address) is required with mail OAuth2".to_string(),
            );
        }
        let client_auth = match (&client_secret, kind) {
            (None, _) => ClientAuth::None,
            (Some(_), ProviderKind::Generic) => ClientAuth::Basic,
            (Some(_), _) => ClientAuth::Post,
        };
        Ok(Some(OAuthSettings {
            kind,
            grant,
            mechanism,
            client_id,
            client_secret,
            client_auth,
            tenant: m.mail_oauth_tenant.trim().to_string(),
            issuer,
            auth_url,
            token_url,
            scopes: m
                .mail_oauth_scopes
                .as_deref()
                .map(parse_scopes)
                .filter(|s| !s.is_empty()),
            redirect_uri: format!("{public_url}/admin/mail/callback"),
        }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `ldaps://`: TLS from the first byte.
    Tls,
    /// `ldap://` with StartTLS (required for any host but this machine).
    StartTls,
    /// `ldap://` to 127.0.0.1 / ::1 / localhost only.
    Plain,
}

#[derive(Clone)]
pub struct LdapSettings {
    pub url: String,
    pub security: Security,
    pub bind_dn: Option<String>,
    pub bind_password: Option<Secret>,
    pub base_dn: String,
    pub user_filter: String,
    pub role_map: RoleMap,
    pub auto_create: bool,
    pub tls: Arc<rustls::ClientConfig>,
    pub timeout: Duration,
}

impl std::fmt::Debug for LdapSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapSettings")
            .field("url", &self.url)
            .field("security", &self.security)
            .field("bind_dn", &self.bind_dn)
            .field("base_dn", &self.base_dn)
            .finish_non_exhaustive()
    }
}

fn tls_config(ca_file: Option<&std::path::Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("SOPORTE_LDAP_CA_FILE {}: {e}", path.display()))?;
        let mut n = 0;
        for cert in certs {
            let cert = cert.map_err(|e| format!("SOPORTE_LDAP_CA_FILE {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("SOPORTE_LDAP_CA_FILE {}: {e}", path.display()))?;
            n += 1;
        }
        if n == 0 {
            return Err(format!(
                "SOPORTE_LDAP_CA_FILE {} holds no certificate",
                path.display()
            ));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

impl LdapSettings {
    pub fn from_args(c: &ConnectArgs) -> Result<Option<LdapSettings>, String> {
        let Some(raw) = c
            .ldap_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        else {
            return Ok(None);
        };
        let url = url::Url::parse(raw).map_err(|e| format!("SOPORTE_LDAP_URL: {e}"))?;
        let host = url.host_str().unwrap_or("");
        let loopback = matches!(host, "127.0.0.1" | "[::1]" | "::1" | "localhost");
        let security = match url.scheme() {
            "ldaps" => Security::Tls,
            "ldap" if loopback => Security::Plain,
            "ldap" => Security::StartTls,
            other => return Err(format!("SOPORTE_LDAP_URL: unknown scheme {other}")),
        };
        if c.ldap_base_dn.trim().is_empty() {
            return Err("SOPORTE_LDAP_BASE_DN is required with SOPORTE_LDAP_URL".to_string());
        }
        if !c.ldap_user_filter.contains("{0}") {
            return Err(
                "SOPORTE_LDAP_USER_FILTER must contain {0} (what the person typed)".to_string(),
            );
        }
        let bind_dn = c
            .ldap_bind_dn
            .clone()
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty());
        if bind_dn.is_some() && c.ldap_bind_password.is_none() {
            return Err(
                "SOPORTE_LDAP_BIND_PASSWORD is required with SOPORTE_LDAP_BIND_DN".to_string(),
            );
        }
        Ok(Some(LdapSettings {
            url: raw.to_string(),
            security,
            bind_dn,
            bind_password: c.ldap_bind_password.clone(),
            base_dn: c.ldap_base_dn.trim().to_string(),
            user_filter: c.ldap_user_filter.clone(),
            role_map: RoleMap::parse(&c.ldap_role_map)
                .map_err(|e| format!("SOPORTE_LDAP_ROLE_MAP: {e}"))?,
            auto_create: c.ldap_auto_create,
            tls: tls_config(c.ldap_ca_file.as_deref())?,
            timeout: Duration::from_secs(10),
        }))
    }
}

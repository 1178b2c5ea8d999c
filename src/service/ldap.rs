//! LDAP / Active Directory sign-in through the ordinary `/login` form: find the person (with
//! a service account, or directly by DN / UPN), bind as them with the password they typed
//! over LDAPS or StartTLS, read their e-mail, name and groups, and hand them to the same
//! admission as single sign-on (groups → role, accounts created when configured, disabled
//! accounts stay out). A directory that does not answer is told apart from a wrong password.

use super::Services;
use crate::config::{ConnectArgs, Secret};
use crate::domain::identity::RoleMap;
use crate::domain::oidc::Identity;
use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry, ldap_escape};
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;

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

/// What the directory said.
#[derive(Debug)]
pub enum DirectoryAnswer {
    /// The password is right: who the person is.
    Person(Identity),
    /// Nobody by that name, or a wrong password.
    Refused,
    /// The directory did not answer (or our own service account was refused).
    Down(String),
}

fn first(entry: &SearchEntry, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        entry
            .attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .and_then(|(_, v)| v.first().cloned())
            .filter(|v| !v.trim().is_empty())
    })
}

fn all(entry: &SearchEntry, name: &str) -> Vec<String> {
    entry
        .attrs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.iter().cloned())
        .collect()
}

const ATTRS: [&str; 7] = [
    "mail",
    "userPrincipalName",
    "displayName",
    "cn",
    "memberOf",
    "uid",
    "sAMAccountName",
];

async fn lookup(settings: &LdapSettings, typed: &str, password: &str) -> DirectoryAnswer {
    let down = |what: &str, e: &dyn std::fmt::Display| {
        tracing::warn!(url = %settings.url, error = %e, "{what}");
        DirectoryAnswer::Down(what.to_string())
    };
    let conn_settings = LdapConnSettings::new()
        .set_conn_timeout(settings.timeout)
        .set_starttls(settings.security == Security::StartTls)
        .set_config(settings.tls.clone());
    let (conn, mut ldap) = match LdapConnAsync::with_settings(conn_settings, &settings.url).await {
        Ok(c) => c,
        Err(e) => return down("failed to connect to the directory", &e),
    };
    ldap3::drive!(conn);
    let filter = settings.user_filter.replace("{0}", &ldap_escape(typed));
    // Find the person: with the service account, or bind directly with what they typed
    // (a DN, a UPN user@domain or DOMAIN\user) and search as themselves.
    let user_dn = match (&settings.bind_dn, &settings.bind_password) {
        (Some(dn), Some(pw)) => {
            match ldap
                .with_timeout(settings.timeout)
                .simple_bind(dn, pw.expose())
                .await
            {
                Ok(r) if r.rc == 0 => {}
                Ok(r) => {
                    return down("the directory refused the service account", &r);
                }
                Err(e) => return down("failed to bind the service account", &e),
            }
            let found = match ldap
                .with_timeout(settings.timeout)
                .search(&settings.base_dn, Scope::Subtree, &filter, ATTRS.to_vec())
                .await
                .and_then(|r| r.success())
            {
                Ok((entries, _)) => entries,
                Err(e) => return down("failed to search the directory", &e),
            };
            if found.len() != 1 {
                let _ = ldap.unbind().await;
                return DirectoryAnswer::Refused;
            }
            let entry = found.into_iter().next().map(SearchEntry::construct);
            match entry {
                Some(e) => e.dn,
                None => return DirectoryAnswer::Refused,
            }
        }
        _ => {
            let looks_bindable = typed.contains('@')
                || typed.contains('\\')
                || (typed.contains('=') && typed.contains(','));
            if !looks_bindable {
                let _ = ldap.unbind().await;
                return DirectoryAnswer::Refused;
            }
            typed.to_string()
        }
    };
    match ldap
        .with_timeout(settings.timeout)
        .simple_bind(&user_dn, password)
        .await
    {
        Ok(r) if r.rc == 0 => {}
        // 49: invalidCredentials (and 53: unwilling, e.g. a disabled AD account).
        Ok(r) if r.rc == 49 || r.rc == 53 || r.rc == 50 => {
            let _ = ldap.unbind().await;
            return DirectoryAnswer::Refused;
        }
        Ok(r) => return down("the directory refused the bind", &r),
        Err(e) => return down("failed to bind as the person", &e),
    }
    // Read the person (as themselves): by DN when we have it, else by the filter.
    let (base, scope, f) = if settings.bind_dn.is_some() || typed.contains('=') {
        (user_dn.clone(), Scope::Base, "(objectClass=*)".to_string())
    } else {
        (settings.base_dn.clone(), Scope::Subtree, filter.clone())
    };
    let entries = match ldap
        .with_timeout(settings.timeout)
        .search(&base, scope, &f, ATTRS.to_vec())
        .await
        .and_then(|r| r.success())
    {
        Ok((entries, _)) => entries,
        Err(e) => return down("failed to read the person from the directory", &e),
    };
    let Some(entry) = entries.into_iter().next().map(SearchEntry::construct) else {
        let _ = ldap.unbind().await;
        return DirectoryAnswer::Refused;
    };
    let mut groups = all(&entry, "memberOf");
    // Directories without memberOf (OpenLDAP without the overlay): groups naming the person.
    let group_filter = format!(
        "(&(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=group))(|(member={0})(uniqueMember={0})))",
        ldap_escape(&entry.dn)
    );
    if let Ok((found, _)) = ldap
        .with_timeout(settings.timeout)
        .search(&settings.base_dn, Scope::Subtree, &group_filter, vec!["cn"])
        .await
        .and_then(|r| r.success())
    {
        for g in found.into_iter().map(SearchEntry::construct) {
            if !groups.iter().any(|x| x.eq_ignore_ascii_case(&g.dn)) {
                groups.push(g.dn);
            }
        }
    }
    let _ = ldap.unbind().await;
    let email = first(&entry, &["mail", "userPrincipalName"]).map(|e| e.trim().to_lowercase());
    DirectoryAnswer::Person(Identity {
        subject: entry.dn.clone(),
        email,
        // The directory is the company's own record of the address.
        email_verified: true,
        name: first(&entry, &["displayName", "cn"]),
        groups,
    })
}

impl Services {
    pub fn ldap_configured(&self) -> bool {
        self.connect.ldap.is_some()
    }

    /// Asks the directory about a person (never with an empty password: that would be an
    /// anonymous bind, which many directories accept).
    pub(crate) async fn ldap_lookup(&self, typed: &str, password: &str) -> DirectoryAnswer {
        let Some(settings) = &self.connect.ldap else {
            return DirectoryAnswer::Refused;
        };
        let typed = typed.trim();
        if password.is_empty() || typed.is_empty() || typed.len() > 256 {
            return DirectoryAnswer::Refused;
        }
        match tokio::time::timeout(settings.timeout * 3, lookup(settings, typed, password)).await {
            Ok(answer) => answer,
            Err(_) => {
                tracing::warn!(url = %settings.url, "the directory did not answer in time");
                DirectoryAnswer::Down("timeout".to_string())
            }
        }
    }

    pub(crate) fn ldap_settings(&self) -> Option<&LdapSettings> {
        self.connect.ldap.as_ref()
    }
}

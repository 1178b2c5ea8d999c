//! LDAP / Active Directory sign-in through the ordinary `/login` form: find the person (with
//! a service account, or directly by DN / UPN), bind as them with the password they typed
//! over LDAPS or StartTLS, read their e-mail, name and groups, and hand them to the same
//! admission as single sign-on (groups → role, accounts created when configured, disabled
//! accounts stay out). A directory that does not answer is told apart from a wrong password.

pub use super::company::{LdapSettings, Security};

use super::Services;
use crate::domain::oidc::Identity;
use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry, ldap_escape};

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

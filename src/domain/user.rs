//! People: roles, e-mail addresses, password rules and the acting user.

use super::error::DomainError;
use super::ids::UserId;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Dispatcher,
    Technician,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Dispatcher, Role::Technician];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Dispatcher => "dispatcher",
            Role::Technician => "technician",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s.trim() {
            "admin" => Some(Role::Admin),
            "dispatcher" => Some(Role::Dispatcher),
            "technician" => Some(Role::Technician),
            _ => None,
        }
    }

    /// The word people see.
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Administrador",
            Role::Dispatcher => "Derivador",
            Role::Technician => "Técnico",
        }
    }

    /// The path segment of the role's own sign-in page.
    pub fn login_slug(self) -> &'static str {
        self.as_str()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lower-cased, trimmed e-mail address with one `@`, a local part and a dotted domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Email, DomainError> {
        let s = raw.trim().to_lowercase();
        let bad = || DomainError::validation("email", "Ingrese un correo electrónico válido.");
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        let valid_local = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let valid_domain = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if valid_local && valid_domain {
            Ok(Email(s))
        } else {
            Err(bad())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The password rule: at least 10 characters, and not the password being replaced.
pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_CHARS: usize = 200;

pub fn check_new_password(new: &str, old: Option<&str>) -> Result<(), DomainError> {
    let n = new.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(DomainError::validation(
            "password",
            format!("La contraseña debe tener al menos {MIN_PASSWORD_CHARS} caracteres."),
        ));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(DomainError::validation(
            "password",
            format!("La contraseña no puede tener más de {MAX_PASSWORD_CHARS} caracteres."),
        ));
    }
    if old == Some(new) {
        return Err(DomainError::validation(
            "password",
            "La nueva contraseña debe ser distinta de la anterior.",
        ));
    }
    Ok(())
}

/// A display name: trimmed, 1 to 120 characters, no control characters.
pub fn parse_name(raw: &str) -> Result<String, DomainError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(DomainError::validation("name", "Ingrese el nombre."));
    }
    if s.chars().count() > 120 || s.chars().any(char::is_control) {
        return Err(DomainError::validation(
            "name",
            "El nombre debe tener como máximo 120 caracteres, sin caracteres de control.",
        ));
    }
    Ok(s.to_string())
}

/// An optional short text (phone, area): trimmed, empty becomes `None`.
pub fn parse_optional_short(
    field: &'static str,
    label: &str,
    raw: &str,
    max: usize,
) -> Result<Option<String>, DomainError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(DomainError::validation(
            field,
            format!("{label}: como máximo {max} caracteres."),
        ));
    }
    Ok(Some(s.to_string()))
}

/// Who is acting: a signed-in user, a customer writing by e-mail, or the system itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User {
        id: UserId,
        role: Role,
        name: String,
    },
    Customer {
        email: String,
    },
    System,
}

impl Actor {
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Actor::User { id, .. } => Some(*id),
            _ => None,
        }
    }

    pub fn role(&self) -> Option<Role> {
        match self {
            Actor::User { role, .. } => Some(*role),
            _ => None,
        }
    }

    /// What the timeline shows as "who".
    pub fn label(&self) -> String {
        match self {
            Actor::User { name, .. } => name.clone(),
            Actor::Customer { email } => email.clone(),
            Actor::System => "Sistema".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Cliente@Dominio.COM ").map(|e| e.to_string()),
            Ok("cliente@dominio.com".to_string())
        );
    }

    #[test]
    fn email_without_at_or_dotted_domain_is_refused() {
        for bad in [
            "",
            "cliente",
            "cliente@",
            "@dominio.com",
            "a@b",
            "a@.com",
            "a@b..com",
            "a b@c.com",
            "a@b.com\n",
        ] {
            assert!(
                Email::parse(bad).is_err() || bad.trim() != bad,
                "{bad:?} should be refused"
            );
        }
        assert!(Email::parse("a b@c.com").is_err());
    }

    #[test]
    fn password_needs_ten_characters_and_a_change() {
        assert!(check_new_password("corta", None).is_err());
        assert!(check_new_password("admin12345", Some("admin12345")).is_err());
        assert!(check_new_password("ñandú-seguro-1", Some("admin123")).is_ok());
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
        assert_eq!(Role::Technician.label(), "Técnico");
    }
}

/// A person with an account, as the rest of the application reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub must_change_password: bool,
    pub phone: Option<String>,
    pub area: Option<String>,
    pub last_login_at: Option<i64>,
    pub created_at: i64,
}

impl User {
    pub fn actor(&self) -> Actor {
        Actor::User {
            id: self.id,
            role: self.role,
            name: self.name.clone(),
        }
    }
}

//! Signing in with the company's directory (OpenID Connect or LDAP): which role a person's
//! groups give, and what becomes of a sign-in the directory vouches for — an existing
//! account, a disabled one (stays out whatever the directory says), an unknown person
//! (refused unless automatic accounts are on).

use super::user::Role;

/// `TI-Admins=admin,TI-Derivadores=dispatcher,TI-Soporte=technician`: directory groups to
/// roles. Groups match without regard to case, by name or, for LDAP, by the group's DN or
/// its first RDN value (`cn=TI-Admins,ou=…` matches `TI-Admins`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleMap {
    entries: Vec<(String, Role)>,
}

/// Why a role map was refused (at start, so the operator sees it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid role map entry {entry:?}: use GROUP=admin|dispatcher|technician, separated by commas"
)]
pub struct RoleMapError {
    pub entry: String,
}

impl RoleMap {
    pub fn parse(raw: &str) -> Result<RoleMap, RoleMapError> {
        let mut entries = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (group, role) = entry.rsplit_once('=').ok_or_else(|| RoleMapError {
                entry: entry.to_string(),
            })?;
            let role = Role::parse(role.trim()).ok_or_else(|| RoleMapError {
                entry: entry.to_string(),
            })?;
            let group = group.trim();
            if group.is_empty() {
                return Err(RoleMapError {
                    entry: entry.to_string(),
                });
            }
            entries.push((group.to_lowercase(), role));
        }
        Ok(RoleMap { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The strongest role any of the groups gives (administrator over dispatcher over
    /// technician), or `None` when no group is mapped.
    pub fn role_for<S: AsRef<str>>(&self, groups: &[S]) -> Option<Role> {
        let mut best: Option<Role> = None;
        for g in groups {
            let g = g.as_ref().trim().to_lowercase();
            let short = first_rdn_value(&g);
            for (name, role) in &self.entries {
                if *name == g || short.as_deref() == Some(name.as_str()) {
                    best = Some(match best {
                        Some(b) if rank(b) >= rank(*role) => b,
                        _ => *role,
                    });
                }
            }
        }
        best
    }
}

fn rank(role: Role) -> u8 {
    match role {
        Role::Admin => 3,
        Role::Dispatcher => 2,
        Role::Technician => 1,
    }
}

/// `cn=ti-admins,ou=grupos,dc=x` → `ti-admins`.
fn first_rdn_value(dn: &str) -> Option<String> {
    let first = dn.split(',').next()?;
    let (attr, value) = first.split_once('=')?;
    if attr.trim().is_empty() || !dn.contains(',') {
        return None;
    }
    Some(value.trim().to_string())
}

/// An account as it stands before an external sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Existing {
    pub active: bool,
    pub role: Role,
}

/// What an external sign-in turns into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Sign the existing account in, with this role (changed when the groups say so).
    SignIn { role: Role, role_changed: bool },
    /// Create the account with this role, then sign it in.
    Create { role: Role },
    /// Refused, with the reason.
    Refuse(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Disabled,
    Unknown,
    NoMappedGroup,
    UnverifiedEmail,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Disabled => "account_disabled",
            Refusal::Unknown => "unknown_account",
            Refusal::NoMappedGroup => "no_mapped_group",
            Refusal::UnverifiedEmail => "unverified_email",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::Disabled => {
                "Su cuenta en la mesa de ayuda está desactivada. Consulte con un administrador."
            }
            Refusal::Unknown => {
                "No hay una cuenta de la mesa de ayuda con su correo. Pida a un administrador que la cree."
            }
            Refusal::NoMappedGroup => {
                "Su cuenta de la empresa no pertenece a ningún grupo autorizado para la mesa de ayuda."
            }
            Refusal::UnverifiedEmail => {
                "El proveedor de identidad no confirma que el correo de su cuenta esté verificado."
            }
        }
    }
}

/// Decides an external sign-in. `mapped` is the role the groups give (`None` when none of
/// them is mapped); `map_configured` says whether a role map exists at all: without one, an
/// existing account keeps its role and a new one is a technician; with one, a person in no
/// mapped group is refused, and an existing account takes the mapped role.
pub fn admit(
    existing: Option<Existing>,
    mapped: Option<Role>,
    map_configured: bool,
    auto_create: bool,
) -> Admission {
    match existing {
        Some(e) if !e.active => Admission::Refuse(Refusal::Disabled),
        Some(e) => match (map_configured, mapped) {
            (false, _) => Admission::SignIn {
                role: e.role,
                role_changed: false,
            },
            (true, Some(role)) => Admission::SignIn {
                role,
                role_changed: role != e.role,
            },
            (true, None) => Admission::Refuse(Refusal::NoMappedGroup),
        },
        None if !auto_create => Admission::Refuse(Refusal::Unknown),
        None => match (map_configured, mapped) {
            (false, _) => Admission::Create {
                role: Role::Technician,
            },
            (true, Some(role)) => Admission::Create { role },
            (true, None) => Admission::Refuse(Refusal::NoMappedGroup),
        },
    }
}

/// Who may use the local password form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LocalPasswords {
    /// Everyone with a local password (the default).
    #[default]
    On,
    /// Only administrators (a way in when the identity provider is down).
    Admins,
    /// Nobody: sign-in only through the company's directory.
    Off,
}

impl LocalPasswords {
    pub fn parse(s: &str) -> Option<LocalPasswords> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" | "all" => LocalPasswords::On,
            "admins" | "admin" => LocalPasswords::Admins,
            "off" | "false" | "no" | "none" => LocalPasswords::Off,
            _ => return None,
        })
    }

    pub fn allows(self, role: Role) -> bool {
        match self {
            LocalPasswords::On => true,
            LocalPasswords::Admins => role == Role::Admin,
            LocalPasswords::Off => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_map_of_the_design_parses_and_picks_the_strongest_role() {
        let m = RoleMap::parse("TI-Admins=admin,TI-Derivadores=dispatcher,TI-Soporte=technician")
            .unwrap();
        assert_eq!(m.role_for(&["ti-soporte"]), Some(Role::Technician));
        assert_eq!(m.role_for(&["TI-Soporte", "TI-Admins"]), Some(Role::Admin));
        assert_eq!(
            m.role_for(&["cn=TI-Derivadores,ou=Grupos,dc=miempresa,dc=com"]),
            Some(Role::Dispatcher)
        );
        assert_eq!(m.role_for(&["Ventas"]), None);
        assert_eq!(m.role_for::<&str>(&[]), None);
        assert!(RoleMap::parse("").unwrap().is_empty());
        assert!(RoleMap::parse("TI-Admins=root").is_err());
        assert!(RoleMap::parse("=admin").is_err());
        assert!(RoleMap::parse("TI-Admins").is_err());
    }

    #[test]
    fn a_disabled_account_stays_disabled_whatever_the_groups_say() {
        let e = Existing {
            active: false,
            role: Role::Technician,
        };
        assert_eq!(
            admit(Some(e), Some(Role::Admin), true, true),
            Admission::Refuse(Refusal::Disabled)
        );
    }

    #[test]
    fn unknown_people_are_refused_unless_automatic_accounts_are_on() {
        assert_eq!(
            admit(None, Some(Role::Technician), true, false),
            Admission::Refuse(Refusal::Unknown)
        );
        assert_eq!(
            admit(None, Some(Role::Dispatcher), true, true),
            Admission::Create {
                role: Role::Dispatcher
            }
        );
        assert_eq!(
            admit(None, None, true, true),
            Admission::Refuse(Refusal::NoMappedGroup)
        );
        assert_eq!(
            admit(None, None, false, true),
            Admission::Create {
                role: Role::Technician
            }
        );
    }

    #[test]
    fn groups_set_the_role_of_an_existing_account_when_a_map_is_configured() {
        let e = Existing {
            active: true,
            role: Role::Technician,
        };
        assert_eq!(
            admit(Some(e), Some(Role::Admin), true, false),
            Admission::SignIn {
                role: Role::Admin,
                role_changed: true
            }
        );
        assert_eq!(
            admit(Some(e), None, false, false),
            Admission::SignIn {
                role: Role::Technician,
                role_changed: false
            }
        );
        assert_eq!(
            admit(Some(e), None, true, false),
            Admission::Refuse(Refusal::NoMappedGroup)
        );
    }

    #[test]
    fn local_passwords_can_be_kept_for_administrators_only() {
        assert!(LocalPasswords::On.allows(Role::Technician));
        assert!(LocalPasswords::Admins.allows(Role::Admin));
        assert!(!LocalPasswords::Admins.allows(Role::Dispatcher));
        assert!(!LocalPasswords::Off.allows(Role::Admin));
        assert_eq!(
            LocalPasswords::parse("ADMINS"),
            Some(LocalPasswords::Admins)
        );
        assert_eq!(LocalPasswords::parse("quizá"), None);
    }
}

//! The `/login` form with the company connections: a local password (unless
//! `--local-passwords` keeps it to administrators or turns it off), then the directory
//! (LDAP) when one is configured, then the second factor when the account has one. Failures
//! of every kind count in the same throttle as before.

use super::connect::{CResult, ConnectError, ProblemKind};
use super::ldap::DirectoryAnswer;
use super::{Error, Services};
use crate::domain::user::{Role, User};

/// What a right first step gives.
#[derive(Debug, Clone)]
pub enum SignIn {
    /// Signed in: the session's cookie token.
    Done { token: String, user: User },
    /// The password was right; the second factor is asked next (the challenge's cookie).
    SecondFactor { challenge: String },
}

impl Services {
    /// Whether the password form serves everyone (for the login page's wording).
    pub fn local_passwords(&self) -> crate::domain::identity::LocalPasswords {
        self.connect.local_passwords
    }

    /// The sign-in form: what was typed in "correo" (an e-mail, or a directory user name)
    /// and the password.
    pub async fn sign_in(
        &self,
        typed: &str,
        password: &str,
        client_ip: &str,
        only_role: Option<Role>,
    ) -> CResult<SignIn> {
        let key = typed.trim().to_lowercase();
        if self.sign_in_locked(&key, client_ip).await? {
            return Err(Error::Throttled.into());
        }
        if let Some(user) = self.check_password(&key, password).await? {
            if !self.connect.local_passwords.allows(user.role) {
                let with = self
                    .sso_label()
                    .map(|l| format!(" Use «Ingresar con {l}»."))
                    .unwrap_or_default();
                return Err(ConnectError::new(
                    ProblemKind::Forbidden,
                    "local_passwords_off",
                    format!(
                        "El ingreso con contraseña local está desactivado para esta cuenta.{with}"
                    ),
                ));
            }
            return self.first_step_done(user, "password", only_role).await;
        }
        if self.ldap_configured() {
            match self.ldap_lookup(typed, password).await {
                DirectoryAnswer::Person(identity) => {
                    let Some(settings) = self.ldap_settings() else {
                        return Err(Error::BadCredentials.into());
                    };
                    let (role_map, auto_create) = (settings.role_map.clone(), settings.auto_create);
                    let user = self
                        .admit_external("ldap", &identity, &role_map, auto_create)
                        .await?;
                    return self.first_step_done(user, "ldap", only_role).await;
                }
                DirectoryAnswer::Refused => {}
                DirectoryAnswer::Down(_) => {
                    self.record_sign_in_failure(&key, client_ip).await?;
                    return Err(ConnectError::new(
                        ProblemKind::Unavailable,
                        "directory_unavailable",
                        "El directorio de la empresa (LDAP) no responde, así que no se pudo comprobar su contraseña. Intente en unos minutos; las cuentas locales, como la del administrador, pueden ingresar igual.",
                    ));
                }
            }
        }
        self.record_sign_in_failure(&key, client_ip).await?;
        Err(Error::BadCredentials.into())
    }

    async fn first_step_done(
        &self,
        user: User,
        method: &str,
        only_role: Option<Role>,
    ) -> CResult<SignIn> {
        if only_role.is_some_and(|r| r != user.role) {
            return Err(Error::WrongRole.into());
        }
        if self.has_second_factor(user.id).await? {
            let challenge = self.start_challenge(user.id, method).await?;
            return Ok(SignIn::SecondFactor { challenge });
        }
        let token = self.open_session(&user, method).await?;
        Ok(SignIn::Done { token, user })
    }
}

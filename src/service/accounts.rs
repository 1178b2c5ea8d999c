//! Accounts: the first administrator, technicians (Técnicos) and credentials (Credenciales).

use super::auth::hash_password;
use super::{Error, Result, Services};
use crate::domain::DomainError;
use crate::domain::access::TicketScope;
use crate::domain::ids::UserId;
use crate::domain::ticket::Command;
use crate::domain::user::{
    Actor, Email, Role, User, check_new_password, parse_name, parse_optional_short,
};
use crate::storage::{accounts, sessions, throttle, tickets, users};
use std::collections::HashMap;

/// One entry of an account's history (what the pages show).
pub use crate::storage::accounts::AccountEvent;

pub const DEFAULT_ADMIN_EMAIL: &str = "admin@miempresa.com";
pub const DEFAULT_ADMIN_PASSWORD: &str = "admin123";
/// The sealing context of the one-time password kept on a session.
const ISSUED_CONTEXT: &str = "sessions.issued";

/// A person's details as typed into a form (validated here).
#[derive(Debug, Clone, Default)]
pub struct ProfileInput {
    pub name: String,
    pub email: String,
    pub phone: String,
    pub area: String,
}

struct Profile {
    name: String,
    email: Email,
    phone: Option<String>,
    area: Option<String>,
}

fn parse_profile(input: &ProfileInput) -> Result<Profile> {
    Ok(Profile {
        name: parse_name(&input.name)?,
        email: Email::parse(&input.email)?,
        phone: parse_optional_short("phone", "Teléfono", &input.phone, 40)?,
        area: parse_optional_short("area", "Área", &input.area, 80)?,
    })
}

/// How the first password of a new account is chosen.
#[derive(Debug, Clone)]
pub enum InitialPassword {
    /// Typed by the operator on the command line: ready to use.
    Chosen(String),
    /// Typed by an administrator in Credenciales: the user must change it at first sign-in.
    Typed(String),
    /// Generated and shown once: the user must change it at first sign-in.
    Generated,
}

fn duplicate_email(e: crate::storage::StorageError) -> Error {
    if e.is_unique_violation() {
        DomainError::validation("email", "Ya existe una cuenta con ese correo.").into()
    } else {
        e.into()
    }
}

impl Services {
    /// On first start: when no active administrator exists, create the default one, who must
    /// choose a new password at first sign-in. Returns whether it was created.
    pub async fn ensure_admin(&self) -> Result<bool> {
        let mut tx = self.store.begin_write().await?;
        if users::count_active_admins(&mut tx).await? > 0 {
            return Ok(false);
        }
        if users::find_with_hash(&mut tx, DEFAULT_ADMIN_EMAIL)
            .await?
            .is_some()
        {
            tracing::warn!(
                "no active administrator, and {DEFAULT_ADMIN_EMAIL} exists with another role or disabled"
            );
            return Ok(false);
        }
        let hash = hash_password(DEFAULT_ADMIN_PASSWORD).await?;
        users::insert(
            &mut tx,
            &users::NewUser {
                email: DEFAULT_ADMIN_EMAIL,
                name: "Administrador",
                role: Role::Admin,
                password_hash: &hash,
                must_change_password: true,
                phone: None,
                area: None,
                created_at: self.now(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Creates an account. Returns the user and, when generated, the password to show once.
    pub async fn create_user(
        &self,
        input: &ProfileInput,
        role: Role,
        password: InitialPassword,
    ) -> Result<(User, Option<String>)> {
        let profile = parse_profile(input)?;
        let (plain, must_change, shown) = match password {
            InitialPassword::Chosen(p) => {
                check_new_password(&p, None)?;
                (p, false, None)
            }
            InitialPassword::Typed(p) => {
                check_new_password(&p, None)?;
                (p, true, None)
            }
            InitialPassword::Generated => {
                let p = generate_password()?;
                (p.clone(), true, Some(p))
            }
        };
        let hash = hash_password(&plain).await?;
        let mut tx = self.store.begin_write().await?;
        let id = users::insert(
            &mut tx,
            &users::NewUser {
                email: profile.email.as_str(),
                name: &profile.name,
                role,
                password_hash: &hash,
                must_change_password: must_change,
                phone: profile.phone.as_deref(),
                area: profile.area.as_deref(),
                created_at: self.now(),
            },
        )
        .await
        .map_err(duplicate_email)?;
        let user = users::find(&mut tx, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        tx.commit().await?;
        Ok((user, shown))
    }

    pub async fn users(&self, role: Option<Role>) -> Result<Vec<User>> {
        let mut conn = self.store.read().await?;
        Ok(users::list(&mut conn, role).await?)
    }

    /// Active technicians, for the assignment forms.
    pub async fn active_technicians(&self) -> Result<Vec<User>> {
        Ok(self
            .users(Some(Role::Technician))
            .await?
            .into_iter()
            .filter(|u| u.active)
            .collect())
    }

    pub async fn user(&self, id: UserId) -> Result<User> {
        let mut conn = self.store.read().await?;
        Ok(users::find(&mut conn, id)
            .await?
            .ok_or(DomainError::NotFound)?)
    }

    pub async fn user_by_email(&self, email: &str) -> Result<User> {
        let email = Email::parse(email)?;
        let mut conn = self.store.read().await?;
        Ok(users::find_with_hash(&mut conn, email.as_str())
            .await?
            .map(|(u, _)| u)
            .ok_or(DomainError::NotFound)?)
    }

    pub async fn update_profile(&self, id: UserId, input: &ProfileInput) -> Result<User> {
        let profile = parse_profile(input)?;
        let mut tx = self.store.begin_write().await?;
        let found = users::update_profile(
            &mut tx,
            id,
            profile.email.as_str(),
            &profile.name,
            profile.phone.as_deref(),
            profile.area.as_deref(),
        )
        .await
        .map_err(duplicate_email)?;
        if !found {
            return Err(DomainError::NotFound.into());
        }
        let user = users::find(&mut tx, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        tx.commit().await?;
        Ok(user)
    }

    /// Enables or disables an account. Disabling ends the user's sessions at once and puts a
    /// technician's open tickets back in the dispatch queue, with a timeline event each (after
    /// the account is disabled, so nobody can hand them a ticket meanwhile; a requeue cut
    /// short is finished by the next start, see `requeue_orphaned_tickets`).
    pub async fn set_active(&self, by: &User, id: UserId, active: bool) -> Result<User> {
        let mut tx = self.store.begin_write().await?;
        let user = users::find(&mut tx, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        if !active {
            if user.id == by.id {
                return Err(DomainError::validation(
                    "user",
                    "No puede deshabilitar su propia cuenta.",
                )
                .into());
            }
            if user.role == Role::Admin
                && user.active
                && users::count_active_admins(&mut tx).await? <= 1
            {
                return Err(last_admin().into());
            }
        }
        users::set_active(&mut tx, id, active).await?;
        if !active {
            sessions::delete_for_user(&mut tx, id).await?;
        }
        if active != user.active {
            let kind = if active { "enabled" } else { "disabled" };
            accounts::record(&mut tx, id, kind, Some((by.id, &by.name)), None, self.now()).await?;
        }
        let user = users::find(&mut tx, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        tx.commit().await?;
        if !active {
            self.requeue_open_tickets(id, "Técnico deshabilitado")
                .await?;
        }
        Ok(user)
    }

    /// Changes an account's role; the last active administrator keeps theirs.
    pub async fn set_role(&self, id: UserId, role: Role) -> Result<User> {
        let mut tx = self.store.begin_write().await?;
        let user = users::find(&mut tx, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        if user.role == Role::Admin
            && role != Role::Admin
            && user.active
            && users::count_active_admins(&mut tx).await? <= 1
        {
            return Err(last_admin().into());
        }
        users::set_role(&mut tx, id, role).await?;
        // A new role means new rights: sign in again.
        sessions::delete_for_user(&mut tx, id).await?;
        let updated = users::find(&mut tx, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        tx.commit().await?;
        if user.role == Role::Technician && role != Role::Technician {
            self.requeue_open_tickets(id, "El usuario dejó de ser técnico")
                .await?;
        }
        Ok(updated)
    }

    /// Sets a new password chosen by an administrator (typed, or generated and returned to
    /// show once); the user must change it at the next sign-in and their sessions end.
    /// A reset also lifts a sign-in lock on the account (the person is about to use the new
    /// password); both are recorded in the account's history.
    pub async fn reset_password(
        &self,
        by: &User,
        id: UserId,
        typed: Option<String>,
    ) -> Result<Option<String>> {
        let (plain, shown) = match typed.filter(|p| !p.is_empty()) {
            Some(p) => {
                check_new_password(&p, None)?;
                (p, None)
            }
            None => {
                let p = generate_password()?;
                (p.clone(), Some(p))
            }
        };
        let hash = hash_password(&plain).await?;
        let mut tx = self.store.begin_write().await?;
        let user = users::find(&mut tx, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        users::set_password(&mut tx, id, &hash, true).await?;
        sessions::delete_for_user(&mut tx, id).await?;
        let at = self.now();
        let actor = Some((by.id, by.name.as_str()));
        accounts::record(&mut tx, id, "password_reset", actor, None, at).await?;
        if throttle::unlock_email(&mut tx, &user.email.to_lowercase(), at).await? {
            accounts::record(&mut tx, id, "unlocked", actor, None, at).await?;
        }
        tx.commit().await?;
        Ok(shown)
    }

    /// The operator sets a password from the command line (`soporte user passwd`): ready to
    /// use, and every session of the account ends.
    pub async fn set_password_by_operator(&self, email: &str, password: &str) -> Result<()> {
        check_new_password(password, None)?;
        let user = self.user_by_email(email).await?;
        let hash = hash_password(password).await?;
        let mut tx = self.store.begin_write().await?;
        users::set_password(&mut tx, user.id, &hash, false).await?;
        sessions::delete_for_user(&mut tx, user.id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The accounts whose sign-in is locked now (too many failures), by lower-case e-mail,
    /// with the instant the lock runs out.
    pub async fn account_locks(&self) -> Result<HashMap<String, i64>> {
        let mut conn = self.store.read().await?;
        Ok(throttle::account_locks(&mut conn, self.now())
            .await?
            .into_iter()
            .collect())
    }

    /// An administrator lifts the sign-in lock of an account (and its count of failures).
    /// Returns the account and whether a lock was in force; a lift is recorded in the
    /// account's history.
    pub async fn unlock(&self, by: &User, id: UserId) -> Result<(User, bool)> {
        let mut tx = self.store.begin_write().await?;
        let user = users::find(&mut tx, id)
            .await?
            .ok_or(DomainError::NotFound)?;
        let at = self.now();
        let lifted = throttle::unlock_email(&mut tx, &user.email.to_lowercase(), at).await?;
        if lifted {
            accounts::record(&mut tx, id, "unlocked", Some((by.id, &by.name)), None, at).await?;
        }
        tx.commit().await?;
        Ok((user, lifted))
    }

    /// What was done to an account, newest first (its last 50 entries).
    pub async fn account_history(&self, id: UserId) -> Result<Vec<AccountEvent>> {
        let mut conn = self.store.read().await?;
        Ok(accounts::history(&mut conn, id, 50).await?)
    }

    /// The latest entries of all accounts' histories (the last 200), newest first.
    pub async fn recent_account_history(&self) -> Result<Vec<(UserId, AccountEvent)>> {
        let mut conn = self.store.read().await?;
        Ok(accounts::recent(&mut conn, 200).await?)
    }

    /// How many open tickets a user holds: what disabling them hands back to the queue.
    pub async fn open_ticket_count(&self, id: UserId) -> Result<i64> {
        let mut conn = self.store.read().await?;
        Ok(tickets::open_assigned_count(&mut conn, id).await?)
    }

    /// Keeps a one-time password on the administrator's session for the page after the
    /// redirect (sealed when a secret key is configured).
    pub async fn keep_issued(
        &self,
        session: &super::auth::Session,
        email: &str,
        password: &str,
    ) -> Result<()> {
        let plain = format!("{email}\n{password}");
        let stored = if self.has_secret_key() {
            let sealed = self.seal(&plain, ISSUED_CONTEXT).map_err(|e| {
                super::Error::Internal(format!("failed to seal a one-time password: {e:?}"))
            })?;
            format!("s:{sealed}")
        } else {
            format!("p:{plain}")
        };
        let mut tx = self.store.begin_write().await?;
        sessions::set_issued(&mut tx, &session.id_hash, Some(&stored)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes the one-time password kept on the session: shown once, then gone.
    pub async fn take_issued(
        &self,
        session: &super::auth::Session,
    ) -> Result<Option<(String, String)>> {
        let stored = {
            let mut conn = self.store.read().await?;
            sessions::issued(&mut conn, &session.id_hash).await?
        };
        let Some(stored) = stored else {
            return Ok(None);
        };
        let mut tx = self.store.begin_write().await?;
        sessions::set_issued(&mut tx, &session.id_hash, None).await?;
        tx.commit().await?;
        let plain = match stored.split_once(':') {
            Some(("s", sealed)) => match self.unseal(sealed, ISSUED_CONTEXT) {
                Ok(p) => p,
                Err(_) => return Ok(None),
            },
            Some(("p", plain)) => plain.to_string(),
            _ => return Ok(None),
        };
        Ok(plain
            .split_once('\n')
            .map(|(e, p)| (e.to_string(), p.to_string())))
    }

    /// Hands a user's open tickets back to the dispatch queue, each through the one change
    /// function, by the system.
    async fn requeue_open_tickets(&self, user: UserId, reason: &str) -> Result<()> {
        let open = {
            let mut conn = self.store.read().await?;
            tickets::open_assigned_to(&mut conn, user).await?
        };
        for ticket in open {
            let requeued = self
                .change(super::tickets::ChangeRequest {
                    actor: &Actor::System,
                    id: ticket.id,
                    scope: TicketScope::All,
                    seen_version: None,
                    command: Command::Return {
                        reason: reason.to_string(),
                    },
                    key: None,
                    attachments: Vec::new(),
                })
                .await;
            match requeued {
                // Someone returned or closed it meanwhile: nothing left to hand back.
                Ok(_) | Err(Error::Domain(DomainError::InvalidTransition(_))) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// At start: the open tickets of accounts that can no longer work them (disabled, or no
    /// longer technicians) go back to the queue — what a requeue cut short left behind.
    pub async fn requeue_orphaned_tickets(&self) -> Result<usize> {
        let orphaned = {
            let mut conn = self.store.read().await?;
            users::list(&mut conn, None)
                .await?
                .into_iter()
                .filter(|u| !u.active || u.role != Role::Technician)
                .map(|u| u.id)
                .collect::<Vec<_>>()
        };
        let mut n = 0;
        for user in orphaned {
            let open = {
                let mut conn = self.store.read().await?;
                tickets::open_assigned_to(&mut conn, user).await?.len()
            };
            if open > 0 {
                self.requeue_open_tickets(user, "Técnico deshabilitado")
                    .await?;
                n += open;
            }
        }
        Ok(n)
    }
}

fn last_admin() -> DomainError {
    DomainError::validation(
        "user",
        "No se puede deshabilitar ni cambiar el rol del último administrador activo.",
    )
}

/// A password to show once: 16 characters from an alphabet without look-alikes.
fn generate_password() -> Result<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut buf = [0u8; 16];
    getrandom::fill(&mut buf)
        .map_err(|e| Error::Internal(format!("failed to get random bytes: {e}")))?;
    Ok(buf
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

//! Signing in and out, sessions, throttling, API tokens and password hashing.

use super::{Error, Result, Services, random_hex, sha256_hex};
use crate::domain::DomainError;
use crate::domain::user::{Email, Role, User};
use crate::storage::{sessions, throttle, tokens, users};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Failures within the window that lock an account or an address.
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;
pub const THROTTLE_WINDOW_SECS: i64 = 15 * 60;
pub const LOCK_SECS: i64 = 15 * 60;

/// A signed-in session as the web layer sees it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The SHA-256 of the cookie's token: how the session is found again.
    pub id_hash: String,
    pub user: User,
    pub csrf_token: String,
    pub flash: Option<String>,
    /// How it signed in: `password`, `ldap` or `sso`.
    pub method: String,
    /// Whether the user has a second factor (TOTP) switched on.
    pub two_factor: bool,
    /// A warning every page shows this user (administrators: a failing mailbox).
    pub alert: Option<String>,
}

/// Hash a password with argon2id (off the async threads: it is slow on purpose).
pub async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_string();
    crate::cpu::run(move || {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt)
            .map_err(|e| Error::Internal(format!("failed to get salt: {e}")))?;
        let salt = SaltString::encode_b64(&salt)
            .map_err(|e| Error::Internal(format!("failed to encode salt: {e}")))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("failed to hash password: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(format!("failed to join hashing task: {e}")))?
}

pub async fn verify_password(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_string(), hash.to_string());
    crate::cpu::run(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A valid hash of nothing anyone knows, verified when the account does not exist so that
/// the answer takes as long either way.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29wb3J0ZXNvcG9ydGU$yRcH0WJ8Oa9ogIqeFWhXtQ7lP0rEdtrL4cL7bNcNWkc";

impl Services {
    /// Checks e-mail and password; on success opens a session and returns its cookie token.
    /// `only_role` is the role of a role-specific sign-in page.
    pub async fn login(
        &self,
        email_raw: &str,
        password: &str,
        client_ip: &str,
        only_role: Option<Role>,
    ) -> Result<(String, User)> {
        let email = email_raw.trim().to_lowercase();
        if self.sign_in_locked(&email, client_ip).await? {
            return Err(Error::Throttled);
        }
        let Some(user) = self.check_password(&email, password).await? else {
            self.record_sign_in_failure(&email, client_ip).await?;
            return Err(Error::BadCredentials);
        };
        if only_role.is_some_and(|r| r != user.role) {
            return Err(Error::WrongRole);
        }
        let token = self.open_session(&user, "password").await?;
        Ok((
            token,
            User {
                last_login_at: Some(self.now()),
                ..user
            },
        ))
    }

    /// Whether the account (by its lower-case e-mail or what was typed) or the address is
    /// locked after too many failures.
    pub(crate) async fn sign_in_locked(&self, email: &str, client_ip: &str) -> Result<bool> {
        let email_key = format!("email:{email}");
        let ip_key = format!("ip:{client_ip}");
        let mut conn = self.store.read().await?;
        Ok(throttle::locked(&mut conn, [&email_key, &ip_key], self.now()).await?)
    }

    /// The active account whose local password this is; `None` otherwise. Takes as long when
    /// the account does not exist.
    pub(crate) async fn check_password(&self, email: &str, password: &str) -> Result<Option<User>> {
        let found = match Email::parse(email) {
            Ok(e) => {
                let mut conn = self.store.read().await?;
                users::find_with_hash(&mut conn, e.as_str()).await?
            }
            Err(_) => None,
        };
        let ok = match &found {
            Some((user, hash)) => verify_password(password, hash).await && user.active,
            None => {
                verify_password(password, DUMMY_HASH).await;
                false
            }
        };
        Ok(found.filter(|_| ok).map(|(user, _)| user))
    }

    /// Counts a failed sign-in (a password, a directory bind or a second factor) against the
    /// account and the address, and locks either when it reaches its limit.
    pub(crate) async fn record_sign_in_failure(&self, email: &str, client_ip: &str) -> Result<()> {
        let t = self.now();
        let mut tx = self.store.begin_write().await?;
        throttle::record_failure(&mut tx, email, client_ip, t).await?;
        let since = t - THROTTLE_WINDOW_SECS;
        if throttle::failures_for_email(&mut tx, email, since).await? >= MAX_FAILURES_PER_ACCOUNT {
            throttle::lock(&mut tx, &format!("email:{email}"), t + LOCK_SECS).await?;
        }
        if throttle::failures_for_ip(&mut tx, client_ip, since).await? >= MAX_FAILURES_PER_ADDRESS {
            throttle::lock(&mut tx, &format!("ip:{client_ip}"), t + LOCK_SECS).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Opens a session for a user who proved who they are (`method`: `password`, `ldap`,
    /// `sso`) and returns its cookie token; the account's failure count starts over.
    pub(crate) async fn open_session(&self, user: &User, method: &str) -> Result<String> {
        let t = self.now();
        let token = random_hex(32)?;
        let csrf = random_hex(32)?;
        let mut tx = self.store.begin_write().await?;
        throttle::clear_for_email(&mut tx, &user.email).await?;
        throttle::prune(&mut tx, t - THROTTLE_WINDOW_SECS - LOCK_SECS).await?;
        sessions::insert_signed_in_by(&mut tx, &sha256_hex(&token), user.id, &csrf, t, method)
            .await?;
        users::record_login(&mut tx, user.id, t).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The session behind a cookie token, if it exists, its user is active, and it has not
    /// been idle too long. Takes the one-shot flash message with it.
    pub async fn session(&self, token: &str) -> Result<Option<Session>> {
        let id_hash = sha256_hex(token);
        let t = self.now();
        let mut conn = self.store.read().await?;
        let Some(rec) = sessions::find(&mut conn, &id_hash).await? else {
            return Ok(None);
        };
        drop(conn);
        if t - rec.last_seen_at > self.settings.session_idle_secs {
            let mut tx = self.store.begin_write().await?;
            sessions::delete(&mut tx, &id_hash).await?;
            tx.commit().await?;
            return Ok(None);
        }
        // Writing on every request would serialise readers behind the writer; a minute's
        // precision is plenty for an idle timeout of hours.
        if t - rec.last_seen_at > 60 || rec.flash.is_some() {
            let mut tx = self.store.begin_write().await?;
            sessions::touch(&mut tx, &id_hash, t).await?;
            if rec.flash.is_some() {
                sessions::set_flash(&mut tx, &id_hash, None).await?;
            }
            tx.commit().await?;
        }
        Ok(Some(Session {
            id_hash,
            user: rec.user,
            csrf_token: rec.csrf_token,
            flash: rec.flash,
            method: rec.method,
            two_factor: rec.two_factor,
            alert: None,
        }))
    }

    /// A message to show once on the next page (e.g. "Incidencia derivada").
    pub async fn set_flash(&self, session: &Session, message: &str) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        sessions::set_flash(&mut tx, &session.id_hash, Some(message)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Keeps a result (`kind` names it) for the session's next page: a form that answers
    /// with something to read redirects, and the page after the redirect takes it.
    pub async fn keep_for_next_page(
        &self,
        session: &Session,
        kind: &str,
        text: &str,
    ) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        sessions::set_kept(&mut tx, &session.id_hash, Some(&format!("{kind}\n{text}"))).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes the result of `kind` kept on the session: shown once, then gone.
    pub async fn take_kept(&self, session: &Session, kind: &str) -> Result<Option<String>> {
        let kept = {
            let mut conn = self.store.read().await?;
            sessions::kept(&mut conn, &session.id_hash).await?
        };
        let Some(kept) = kept else {
            return Ok(None);
        };
        let mut tx = self.store.begin_write().await?;
        sessions::set_kept(&mut tx, &session.id_hash, None).await?;
        tx.commit().await?;
        Ok(kept
            .split_once('\n')
            .filter(|(k, _)| *k == kind)
            .map(|(_, text)| text.to_string()))
    }

    pub async fn logout(&self, session: &Session) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        sessions::delete(&mut tx, &session.id_hash).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The signed-in user chooses a new password (required after a reset or on first use).
    /// Other sessions of the same user end.
    pub async fn change_own_password(
        &self,
        session: &Session,
        current: &str,
        new: &str,
    ) -> Result<()> {
        let mut conn = self.store.read().await?;
        let hash = users::password_hash(&mut conn, session.user.id)
            .await?
            .ok_or(DomainError::NotFound)?;
        drop(conn);
        if !verify_password(current, &hash).await {
            return Err(DomainError::validation(
                "current_password",
                "La contraseña actual no es correcta.",
            )
            .into());
        }
        crate::domain::user::check_new_password(new, Some(current))?;
        let new_hash = hash_password(new).await?;
        let mut tx = self.store.begin_write().await?;
        users::set_password(&mut tx, session.user.id, &new_hash, false).await?;
        sessions::delete_others(&mut tx, session.user.id, &session.id_hash).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates a personal API token for a user and returns it (only its hash is kept).
    pub async fn create_token(&self, email: &str) -> Result<String> {
        let email = Email::parse(email)?;
        let mut tx = self.store.begin_write().await?;
        let (user, _) = users::find_with_hash(&mut tx, email.as_str())
            .await?
            .ok_or(DomainError::NotFound)?;
        let token = format!("sop_{}", random_hex(32)?);
        tokens::insert(&mut tx, user.id, &sha256_hex(&token), self.now()).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The active user behind an API token.
    pub async fn token_user(&self, token: &str) -> Result<Option<User>> {
        let mut conn = self.store.read().await?;
        Ok(tokens::find_user(&mut conn, &sha256_hex(token)).await?)
    }

    /// Ends sessions idle past the limit (run from time to time by the server).
    pub async fn prune_sessions(&self) -> Result<u64> {
        let mut tx = self.store.begin_write().await?;
        let n =
            sessions::delete_idle(&mut tx, self.now() - self.settings.session_idle_secs).await?;
        tx.commit().await?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dummy_hash_parses_and_refuses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_password("anything", DUMMY_HASH).await);
    }

    #[tokio::test]
    async fn hashes_verify() {
        let h = hash_password("una-clave-larga").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("una-clave-larga", &h).await);
        assert!(!verify_password("otra-clave-larga", &h).await);
    }
}

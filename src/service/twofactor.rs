//! Two-factor authentication (TOTP) for accounts that sign in with a password (local or
//! directory): setting it up (a sealed seed, a QR code drawn by the server, ten recovery
//! codes kept hashed), switching it off, and the second step of a sign-in — throttled like
//! passwords, in the same tables, so five wrong codes lock the account for 15 minutes.

use super::Services;
use super::connect::{CResult, ConnectError, ProblemKind, random_bytes};
use crate::domain::ids::UserId;
use crate::domain::totp::{
    self, QrPath, RECOVERY_CODES, SECRET_BYTES, looks_like_recovery_code, normalize_recovery_code,
};
use crate::domain::user::User;
use crate::storage::identity as store_id;

/// How long the second step may wait after a right password.
pub const CHALLENGE_TTL_SECS: i64 = 300;
const SEED_CONTEXT: &str = "user_totp.secret";
/// What the session keeps between a form that issued recovery codes and the page after it.
const KEPT_CODES: &str = "recovery_codes";
const KEPT_CODES_CONTEXT: &str = "sessions.kept.recovery_codes";
const ISSUER: &str = "Soporte";

/// What the set-up page shows while the person scans the code.
#[derive(Debug, Clone)]
pub struct TotpSetup {
    /// The seed in base32 groups, for typing by hand.
    pub secret: String,
    pub uri: String,
    pub qr: QrPath,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwoFactorStatus {
    pub enabled: bool,
    /// A set-up was started and not confirmed.
    pub pending: bool,
    pub recovery_left: i64,
}

fn wrong_code() -> ConnectError {
    ConnectError::new(
        ProblemKind::Unauthorized,
        "wrong_code",
        "El código no es correcto o ya se usó. Escriba el código de seis dígitos que muestra su aplicación ahora.",
    )
}

fn recovery_hash(code: &str) -> String {
    super::sha256_hex(&format!(
        "soporte-recovery:{}",
        normalize_recovery_code(code)
    ))
}

impl Services {
    pub fn require_2fa_admins(&self) -> bool {
        self.connect.require_2fa_admins
    }

    /// `--require-2fa-admins`: whether this session must set up TOTP before anything else
    /// (an administrator who signed in with a password and has none; the identity provider
    /// is trusted with its own second factor).
    pub fn must_set_up_second_factor(&self, session: &super::auth::Session) -> bool {
        self.connect.require_2fa_admins
            && session.user.role == crate::domain::user::Role::Admin
            && session.method != "sso"
            && !session.two_factor
    }

    pub async fn two_factor_status(&self, user: UserId) -> CResult<TwoFactorStatus> {
        let mut conn = self.store.read().await?;
        let row = store_id::totp(&mut conn, user).await?;
        let recovery_left = store_id::unused_recovery_codes(&mut conn, user).await?;
        Ok(TwoFactorStatus {
            enabled: row.as_ref().is_some_and(|r| r.enabled_at.is_some()),
            pending: row.as_ref().is_some_and(|r| r.enabled_at.is_none()),
            recovery_left,
        })
    }

    fn setup_of(&self, user: &User, seed: &[u8]) -> CResult<TotpSetup> {
        let uri = totp::otpauth_uri(ISSUER, &user.email, seed);
        let qr = totp::qr_path(&uri)
            .ok_or_else(|| super::Error::Internal("failed to draw the QR code".to_string()))?;
        Ok(TotpSetup {
            secret: totp::grouped_secret(seed),
            uri,
            qr,
        })
    }

    async fn seed(&self, user: UserId) -> CResult<Option<(Vec<u8>, store_id::TotpRow)>> {
        let row = {
            let mut conn = self.store.read().await?;
            store_id::totp(&mut conn, user).await?
        };
        let Some(row) = row else { return Ok(None) };
        let b32 = self.unseal(&row.secret, SEED_CONTEXT)?;
        let seed = totp::base32_decode(&b32)
            .ok_or_else(|| super::Error::Internal("stored TOTP seed is not base32".into()))?;
        Ok(Some((seed, row)))
    }

    /// Starts a set-up with a new seed (or shows the one under way). Refused while TOTP is on.
    pub async fn totp_setup(&self, user: &User, fresh: bool) -> CResult<TotpSetup> {
        if let Some((seed, row)) = self.seed(user.id).await? {
            if row.enabled_at.is_some() {
                return Err(ConnectError::new(
                    ProblemKind::Conflict,
                    "two_factor_on",
                    "La verificación en dos pasos ya está activada. Desactívela primero para configurar otro dispositivo.",
                ));
            }
            if !fresh {
                return self.setup_of(user, &seed);
            }
        }
        let seed = random_bytes::<SECRET_BYTES>()?;
        let sealed = self.seal(&totp::base32_encode(&seed), SEED_CONTEXT)?;
        let mut tx = self.store.begin_write().await?;
        store_id::begin_totp(&mut tx, user.id, &sealed, self.now()).await?;
        tx.commit().await?;
        self.setup_of(user, &seed)
    }

    /// Keeps freshly issued recovery codes, sealed, on the session for the page after the
    /// redirect: the form that made them redirects, so a refresh neither re-posts it nor
    /// shows them again.
    pub async fn keep_recovery_codes(
        &self,
        session: &super::auth::Session,
        codes: &[String],
    ) -> CResult<()> {
        let sealed = self.seal(&codes.join(" "), KEPT_CODES_CONTEXT)?;
        self.keep_for_next_page(session, KEPT_CODES, &sealed)
            .await?;
        Ok(())
    }

    /// The recovery codes kept on the session, taken: shown once, then gone (none when
    /// nothing was kept).
    pub async fn take_recovery_codes(
        &self,
        session: &super::auth::Session,
    ) -> CResult<Vec<String>> {
        let Some(sealed) = self.take_kept(session, KEPT_CODES).await? else {
            return Ok(Vec::new());
        };
        Ok(self
            .unseal(&sealed, KEPT_CODES_CONTEXT)?
            .split(' ')
            .map(str::to_string)
            .collect())
    }

    /// Confirms the set-up with a code from the app; returns the ten recovery codes to show
    /// once (only their hashes are kept).
    pub async fn totp_enable(&self, user: &User, code: &str) -> CResult<Vec<String>> {
        let Some((seed, row)) = self.seed(user.id).await? else {
            return Err(ConnectError::invalid(
                "no_setup",
                "Primero inicie la configuración (escanee el código QR).",
            ));
        };
        if row.enabled_at.is_some() {
            return Err(ConnectError::new(
                ProblemKind::Conflict,
                "two_factor_on",
                "La verificación en dos pasos ya está activada.",
            ));
        }
        let Some(step) = totp::verify(&seed, code, self.now(), None) else {
            return Err(ConnectError::invalid(
                "wrong_code",
                "El código no coincide. Revise que la hora de su teléfono sea correcta y escriba el código que muestra ahora.",
            ));
        };
        let codes = self.new_recovery_codes()?;
        let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        if !store_id::enable_totp(&mut tx, user.id, step, now).await? {
            return Err(ConnectError::new(
                ProblemKind::Conflict,
                "two_factor_on",
                "La verificación en dos pasos ya está activada.",
            ));
        }
        store_id::set_recovery_codes(&mut tx, user.id, &hashes, now).await?;
        tx.commit().await?;
        tracing::info!(user = user.id.0, "two-factor authentication switched on");
        Ok(codes)
    }

    fn new_recovery_codes(&self) -> CResult<Vec<String>> {
        (0..RECOVERY_CODES)
            .map(|_| Ok(totp::recovery_code(random_bytes::<8>()?)))
            .collect()
    }

    /// Checks a code (or a recovery code) of a user with TOTP on, using it up.
    async fn use_second_factor(&self, user: UserId, typed: &str) -> CResult<bool> {
        let Some((seed, row)) = self.seed(user).await? else {
            return Ok(false);
        };
        if row.enabled_at.is_none() {
            return Ok(false);
        }
        let now = self.now();
        if looks_like_recovery_code(typed) {
            let mut tx = self.store.begin_write().await?;
            let ok = store_id::use_recovery_code(&mut tx, user, &recovery_hash(typed), now).await?;
            tx.commit().await?;
            if ok {
                tracing::info!(user = user.0, "a recovery code was used");
            }
            return Ok(ok);
        }
        let Some(step) = totp::verify(&seed, typed, now, row.last_step) else {
            return Ok(false);
        };
        let mut tx = self.store.begin_write().await?;
        let ok = store_id::use_step(&mut tx, user, step).await?;
        tx.commit().await?;
        Ok(ok)
    }

    /// Switches TOTP off after a current code (or recovery code).
    pub async fn totp_disable(&self, user: &User, code: &str) -> CResult<()> {
        if !self.use_second_factor(user.id, code).await? {
            return Err(wrong_code());
        }
        let mut tx = self.store.begin_write().await?;
        store_id::delete_totp(&mut tx, user.id).await?;
        tx.commit().await?;
        tracing::info!(user = user.id.0, "two-factor authentication switched off");
        Ok(())
    }

    /// New recovery codes (the old ones stop working), after a current code.
    pub async fn recovery_codes_renew(&self, user: &User, code: &str) -> CResult<Vec<String>> {
        if looks_like_recovery_code(code) || !self.use_second_factor(user.id, code).await? {
            return Err(wrong_code());
        }
        let codes = self.new_recovery_codes()?;
        let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
        let mut tx = self.store.begin_write().await?;
        store_id::set_recovery_codes(&mut tx, user.id, &hashes, self.now()).await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// The operator removes someone's second factor (`soporte user reset-2fa`: a lost phone
    /// and lost codes); their sessions end. Returns whether there was one.
    pub async fn reset_second_factor(&self, email: &str) -> CResult<bool> {
        let user = self.user_by_email(email).await?;
        let status = self.two_factor_status(user.id).await?;
        let mut tx = self.store.begin_write().await?;
        store_id::delete_totp(&mut tx, user.id).await?;
        crate::storage::sessions::delete_for_user(&mut tx, user.id).await?;
        tx.commit().await?;
        tracing::warn!(user = user.id.0, "second factor removed by the operator");
        Ok(status.enabled || status.pending)
    }

    pub(crate) async fn has_second_factor(&self, user: UserId) -> CResult<bool> {
        let mut conn = self.store.read().await?;
        Ok(store_id::has_totp(&mut conn, user).await?)
    }

    /// After a right password: a challenge for the second step (cookie token).
    pub(crate) async fn start_challenge(&self, user: UserId, method: &str) -> CResult<String> {
        let token = super::random_hex(32)?;
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        store_id::prune_challenges(&mut tx, now - CHALLENGE_TTL_SECS).await?;
        store_id::insert_challenge(&mut tx, &super::sha256_hex(&token), user, method, now).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Whether a challenge cookie is still good (for showing the form).
    pub async fn challenge_pending(&self, token: &str) -> CResult<bool> {
        let mut conn = self.store.read().await?;
        Ok(store_id::challenge(
            &mut conn,
            &super::sha256_hex(token),
            self.now() - CHALLENGE_TTL_SECS,
        )
        .await?
        .is_some())
    }

    /// The second step: a code (or recovery code) for the challenge; opens the session.
    pub async fn second_factor(
        &self,
        challenge: &str,
        code: &str,
        client_ip: &str,
    ) -> CResult<(String, User)> {
        let hash = super::sha256_hex(challenge);
        let found = {
            let mut conn = self.store.read().await?;
            store_id::challenge(&mut conn, &hash, self.now() - CHALLENGE_TTL_SECS).await?
        };
        let Some((user_id, method)) = found else {
            return Err(ConnectError::new(
                ProblemKind::Invalid,
                "challenge_expired",
                "El ingreso caducó. Vuelva a escribir su correo y contraseña.",
            ));
        };
        let user = self.user(user_id).await?;
        if self.sign_in_locked(&user.email, client_ip).await? {
            return Err(super::Error::Throttled.into());
        }
        if !user.active {
            return Err(super::Error::BadCredentials.into());
        }
        if !self.use_second_factor(user.id, code).await? {
            self.record_sign_in_failure(&user.email, client_ip).await?;
            return Err(wrong_code());
        }
        {
            let mut tx = self.store.begin_write().await?;
            store_id::delete_challenge(&mut tx, &hash).await?;
            tx.commit().await?;
        }
        let token = self.open_session(&user, &method).await?;
        Ok((token, user))
    }
}

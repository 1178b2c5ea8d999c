//! The support mailbox's OAuth2 tokens and its health.
//!
//! Delegated: an administrator clicks "Conectar buzón", signs in at the provider
//! (authorization code + PKCE), and the refresh token is kept sealed. Every refresh happens
//! inside one write transaction that holds the stored grant (`FOR UPDATE` on PostgreSQL; the
//! one writer on SQLite): read the refresh token, use it, store the new access token and the
//! rotated refresh token, commit — so a rotated token is never used without being kept, and
//! two instances never spend the same refresh token. App-only: client credentials, no user
//! token. Access tokens are renewed five minutes before they expire.
//!
//! Health: each direction (fetch: IMAP, send: SMTP) records its last success and last error
//! (in Spanish); after 15 minutes of failing, administrators see a banner and get an e-mail
//! (sent by `mail::watch`).

use super::connect::{CResult, ConnectError, ProblemKind, describe_http, random_bytes};
use super::{Error, Services};
use crate::config::Secret;
use crate::domain::mailbox::{Direction, Health, banner};
use crate::domain::oauth::{
    AUTHORIZATION_TTL_SECS, Endpoints, Grant, Mechanism, ProviderKind, TokenRefusal, Tokens,
    http_refusal, needs_refresh, parse_token_response, pkce, preset, url_token,
};
use crate::domain::user::User;
use crate::storage::mailbox::{self as store_mb, GrantRow};
use std::time::{Duration, Instant};

pub use super::company::{ClientAuth, OAuthSettings};

const REFRESH_CONTEXT: &str = "mail_oauth.refresh_token";
const ACCESS_CONTEXT: &str = "mail_oauth.access_token";
const BANNER_TTL: Duration = Duration::from_secs(10);

/// An access token ready for IMAP/SMTP.
#[derive(Debug, Clone)]
pub struct MailToken {
    pub access_token: Secret,
    pub mechanism: Mechanism,
    pub expires_at: i64,
}

/// What `/admin/mail` shows of the OAuth2 connection (never a token).
#[derive(Debug, Clone)]
pub struct OAuthView {
    pub provider: &'static str,
    pub grant: Grant,
    pub mechanism: &'static str,
    pub connected: bool,
    pub account: Option<String>,
    pub connected_at: Option<i64>,
    pub connected_by: Option<String>,
    pub access_expires_at: Option<i64>,
    pub refreshed_at: Option<i64>,
    pub rotations: i64,
    pub refresh_token_stored: bool,
}

#[derive(Debug, Clone)]
pub struct DirectionView {
    pub direction: Direction,
    pub configured: bool,
    pub health: Health,
}

#[derive(Debug, Clone)]
pub struct MailboxStatus {
    pub oauth: Option<OAuthView>,
    pub fetch: DirectionView,
    pub send: DirectionView,
    pub banner: Option<String>,
}

fn token_error(r: TokenRefusal) -> ConnectError {
    ConnectError::new(ProblemKind::Unavailable, "oauth_token_refused", r.message)
}

fn not_connected() -> ConnectError {
    ConnectError::new(
        ProblemKind::Conflict,
        "mailbox_not_connected",
        "El buzón no está conectado: un administrador debe usar «Conectar buzón» en Correo.",
    )
}

impl Services {
    fn mail_oauth(&self) -> CResult<&OAuthSettings> {
        self.connect.mail_oauth.as_ref().ok_or_else(|| {
            ConnectError::new(
                ProblemKind::Conflict,
                "oauth_not_configured",
                "El correo no usa OAuth2 (configure SOPORTE_MAIL_OAUTH).",
            )
        })
    }

    pub fn mail_oauth_configured(&self) -> bool {
        self.connect.mail_oauth.is_some()
    }

    /// The provider's endpoints: the preset, the configured URLs, or discovery (cached).
    async fn mail_endpoints(&self, s: &OAuthSettings) -> CResult<Endpoints> {
        if let Some(mut e) = preset(s.kind, s.grant, &s.tenant) {
            if let Some(scopes) = &s.scopes {
                e.scopes = scopes.clone();
            }
            return Ok(e);
        }
        let mut cache = self.connect.mail_endpoints.lock().await;
        if let Some(e) = cache.as_ref() {
            return Ok(e.clone());
        }
        let (mut auth, mut token) = (s.auth_url.clone(), s.token_url.clone());
        if let Some(issuer) = &s.issuer
            && (auth.is_none() || token.is_none())
        {
            let url = crate::domain::oidc::discovery_url(issuer);
            let d: crate::domain::oidc::Discovery = self
                .http()
                .get(&url)
                .send()
                .await
                .map_err(|e| {
                    ConnectError::unavailable(
                        "oauth_provider_unavailable",
                        format!("El proveedor OAuth2 no responde ({}).", describe_http(&e)),
                    )
                })?
                .json()
                .await
                .map_err(|_| {
                    ConnectError::unavailable(
                        "oauth_provider_unavailable",
                        "El proveedor OAuth2 respondió un documento de descubrimiento ilegible.",
                    )
                })?;
            auth = auth.or(Some(d.authorization_endpoint));
            token = token.or(Some(d.token_endpoint));
        }
        let token_url = token.ok_or_else(|| {
            ConnectError::unavailable("oauth_provider_unavailable", "Falta la URL de token.")
        })?;
        let e = Endpoints {
            authorization_url: auth,
            token_url,
            scopes: s
                .scopes
                .clone()
                .unwrap_or_else(|| vec!["openid".into(), "email".into(), "offline_access".into()]),
            // OpenID providers hand out a refresh token for offline_access only with consent.
            extra_authorize: if s.grant == Grant::Delegated {
                vec![("prompt".into(), "consent".into())]
            } else {
                vec![]
            },
        };
        *cache = Some(e.clone());
        Ok(e)
    }

    /// POSTs a token request and reads the answer.
    async fn token_request(
        &self,
        s: &OAuthSettings,
        token_url: &str,
        mut form: Vec<(&'static str, String)>,
    ) -> CResult<Tokens> {
        let mut request = self.http().post(token_url);
        match (s.client_auth, &s.client_secret) {
            (ClientAuth::Basic, Some(secret)) => {
                request = request.basic_auth(
                    super::sso::form_encode(&s.client_id),
                    Some(super::sso::form_encode(secret.expose())),
                );
            }
            (ClientAuth::Post, Some(secret)) => {
                form.push(("client_id", s.client_id.clone()));
                form.push(("client_secret", secret.expose().to_string()));
            }
            _ => form.push(("client_id", s.client_id.clone())),
        }
        let response = request.form(&form).send().await.map_err(|e| {
            ConnectError::unavailable(
                "oauth_provider_unavailable",
                format!(
                    "No se pudo pedir el token al proveedor ({}).",
                    describe_http(&e)
                ),
            )
        })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            ConnectError::unavailable(
                "oauth_provider_unavailable",
                format!("El proveedor cortó la respuesta ({}).", describe_http(&e)),
            )
        })?;
        match parse_token_response(&body, self.now()) {
            Ok(t) => Ok(t),
            Err(r) if r.code == "invalid_response" && !status.is_success() => {
                Err(token_error(http_refusal(status.as_u16())))
            }
            Err(r) => {
                tracing::warn!(code = %r.code, "token endpoint refused");
                Err(token_error(r))
            }
        }
    }

    /// "Conectar buzón": where to send the administrator's browser.
    pub async fn mail_connect_start(&self, admin: &User) -> CResult<String> {
        let s = self.mail_oauth()?;
        if s.grant != Grant::Delegated {
            return Err(ConnectError::new(
                ProblemKind::Conflict,
                "oauth_app_only",
                "Con credenciales de aplicación no hace falta conectar el buzón.",
            ));
        }
        let e = self.mail_endpoints(s).await?;
        let auth = e.authorization_url.clone().ok_or_else(|| {
            ConnectError::unavailable(
                "oauth_provider_unavailable",
                "Falta la URL de autorización.",
            )
        })?;
        let state = url_token(&random_bytes::<32>()?);
        let pkce = pkce(random_bytes::<32>()?);
        let mut tx = self.store.begin_write().await?;
        store_mb::insert_pending(
            &mut tx,
            &super::sha256_hex(&state),
            admin.id.0,
            &pkce.verifier,
            self.now(),
        )
        .await?;
        tx.commit().await?;
        let mut url = url::Url::parse(&auth).map_err(|_| {
            ConnectError::unavailable(
                "oauth_provider_unavailable",
                "La URL de autorización no es válida.",
            )
        })?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &s.client_id)
                .append_pair("redirect_uri", &s.redirect_uri)
                .append_pair("scope", &e.scopes.join(" "))
                .append_pair("state", &state)
                .append_pair("code_challenge", &pkce.challenge)
                .append_pair("code_challenge_method", "S256");
            for (k, v) in &e.extra_authorize {
                q.append_pair(k, v);
            }
        }
        Ok(url.to_string())
    }

    /// The provider's redirect back: checks the state (single use, this administrator, ten
    /// minutes), exchanges the code, and keeps the sealed refresh token.
    pub async fn mail_connect_finish(
        &self,
        admin: &User,
        state: Option<&str>,
        code: Option<&str>,
        error: Option<&str>,
    ) -> CResult<Option<String>> {
        let s = self.mail_oauth()?;
        let invalid = || {
            ConnectError::invalid(
                "oauth_state_invalid",
                "Esta autorización ya se usó, caducó o no la inició usted. Vuelva a pulsar «Conectar buzón».",
            )
        };
        let state = state
            .filter(|v| !v.is_empty() && v.len() < 200)
            .ok_or_else(invalid)?;
        let now = self.now();
        let pending = {
            let mut tx = self.store.begin_write().await?;
            let p = store_mb::take_pending(&mut tx, &super::sha256_hex(state)).await?;
            tx.commit().await?;
            p.ok_or_else(invalid)?
        };
        let (user_id, verifier, created_at) = pending;
        if user_id != admin.id.0 || now - created_at > AUTHORIZATION_TTL_SECS {
            return Err(invalid());
        }
        if let Some(error) = error {
            tracing::info!(error, "mail OAuth2 consent not given");
            return Err(ConnectError::new(
                ProblemKind::Unauthorized,
                "oauth_denied",
                "El proveedor no autorizó el acceso al buzón (se canceló o faltan permisos).",
            ));
        }
        let code = code
            .filter(|c| !c.is_empty() && c.len() < 4096)
            .ok_or_else(invalid)?;
        let e = self.mail_endpoints(s).await?;
        let tokens = self
            .token_request(
                s,
                &e.token_url,
                vec![
                    ("grant_type", "authorization_code".into()),
                    ("code", code.to_string()),
                    ("redirect_uri", s.redirect_uri.clone()),
                    ("code_verifier", verifier),
                ],
            )
            .await?;
        let refresh = tokens.refresh_token.clone().ok_or_else(|| {
            ConnectError::new(
                ProblemKind::Unavailable,
                "oauth_no_refresh_token",
                "El proveedor no entregó un token de actualización (refresh token): revise que el permiso offline_access esté incluido y vuelva a conectar.",
            )
        })?;
        let account = tokens
            .id_token
            .as_deref()
            .and_then(unverified_email)
            .or_else(|| Some(admin.email.clone()));
        let row = GrantRow {
            grant_type: Grant::Delegated.as_str().to_string(),
            account: account.clone(),
            refresh_token: Some(self.seal(&refresh, REFRESH_CONTEXT)?),
            access_token: Some(self.seal(&tokens.access_token, ACCESS_CONTEXT)?),
            access_expires_at: Some(tokens.expires_at),
            connected_by: Some(admin.id.0),
            connected_at: Some(now),
            refreshed_at: Some(now),
            rotations: 0,
        };
        let mut tx = self.store.begin_write().await?;
        store_mb::put_grant(&mut tx, &row).await?;
        tx.commit().await?;
        tracing::info!(by = admin.id.0, "mailbox connected by OAuth2");
        Ok(account)
    }

    /// Forgets the stored grant (the provider's own consent stays until revoked there).
    pub async fn mail_disconnect(&self, admin: &User) -> CResult<()> {
        let mut tx = self.store.begin_write().await?;
        store_mb::delete_grant(&mut tx).await?;
        tx.commit().await?;
        tracing::info!(by = admin.id.0, "mailbox OAuth2 grant removed");
        Ok(())
    }

    /// A usable access token for IMAP/SMTP; `None` when mail uses passwords.
    pub async fn mail_access_token(&self) -> CResult<Option<MailToken>> {
        let Some(s) = self.connect.mail_oauth.as_ref() else {
            return Ok(None);
        };
        let now = self.now();
        let stored = {
            let mut conn = self.store.read().await?;
            store_mb::grant(&mut conn).await?
        };
        if let Some(g) = &stored
            && g.grant_type == s.grant.as_str()
            && let (Some(at), Some(exp)) = (&g.access_token, g.access_expires_at)
            && !needs_refresh(exp, now)
        {
            return Ok(Some(MailToken {
                access_token: Secret::new(self.unseal(at, ACCESS_CONTEXT)?),
                mechanism: s.mechanism,
                expires_at: exp,
            }));
        }
        let tokens = match s.grant {
            Grant::AppOnly => self.client_credentials(s).await?,
            Grant::Delegated => {
                if stored.is_none() {
                    return Err(not_connected());
                }
                self.refresh(s).await?
            }
        };
        Ok(Some(MailToken {
            access_token: Secret::new(tokens.0),
            mechanism: s.mechanism,
            expires_at: tokens.1,
        }))
    }

    async fn client_credentials(&self, s: &OAuthSettings) -> CResult<(String, i64)> {
        let e = self.mail_endpoints(s).await?;
        let t = self
            .token_request(
                s,
                &e.token_url,
                vec![
                    ("grant_type", "client_credentials".into()),
                    ("scope", e.scopes.join(" ")),
                ],
            )
            .await?;
        let now = self.now();
        let row = GrantRow {
            grant_type: Grant::AppOnly.as_str().to_string(),
            account: None,
            refresh_token: None,
            access_token: Some(self.seal(&t.access_token, ACCESS_CONTEXT)?),
            access_expires_at: Some(t.expires_at),
            connected_by: None,
            connected_at: Some(now),
            refreshed_at: Some(now),
            rotations: 0,
        };
        let mut tx = self.store.begin_write().await?;
        store_mb::put_grant(&mut tx, &row).await?;
        tx.commit().await?;
        Ok((t.access_token, t.expires_at))
    }

    /// Uses the refresh token and keeps what comes back, in one transaction that holds the
    /// grant (see the module note).
    async fn refresh(&self, s: &OAuthSettings) -> CResult<(String, i64)> {
        let e = self.mail_endpoints(s).await?;
        let mut tx = self.store.begin_write().await?;
        let g = store_mb::grant_for_update(&mut tx, self.store.backend())
            .await?
            .ok_or_else(not_connected)?;
        let now = self.now();
        // Another instance may have refreshed while this one waited for the lock.
        if let (Some(at), Some(exp)) = (&g.access_token, g.access_expires_at)
            && !needs_refresh(exp, now)
        {
            return Ok((self.unseal(at, ACCESS_CONTEXT)?, exp));
        }
        let refresh = g.refresh_token.as_deref().ok_or_else(not_connected)?;
        let refresh = self.unseal(refresh, REFRESH_CONTEXT)?;
        let mut form = vec![
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", refresh.clone()),
        ];
        if s.kind == ProviderKind::Microsoft {
            form.push(("scope", e.scopes.join(" ")));
        }
        let t = self.token_request(s, &e.token_url, form).await?;
        let access = self.seal(&t.access_token, ACCESS_CONTEXT)?;
        let rotated = match &t.refresh_token {
            Some(new) if *new != refresh => Some(self.seal(new, REFRESH_CONTEXT)?),
            _ => None,
        };
        store_mb::store_refresh(&mut tx, &access, t.expires_at, rotated.as_deref(), now).await?;
        tx.commit().await?;
        tracing::info!(rotated = rotated.is_some(), "mail access token refreshed");
        Ok((t.access_token, t.expires_at))
    }

    // -- health -----------------------------------------------------------------------------------

    /// Records the outcome of a fetch or a send (or a connection test).
    pub async fn record_mail_health(
        &self,
        direction: Direction,
        outcome: Result<(), &str>,
    ) -> Result<(), Error> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let mut h = store_mb::health_for_update(&mut tx, self.store.backend(), direction).await?;
        match outcome {
            Ok(()) => h.succeeded(now),
            Err(message) => h.failed(now, message),
        }
        store_mb::put_health(&mut tx, direction, &h).await?;
        tx.commit().await?;
        if let Ok(mut cache) = self.connect.banner_cache.lock() {
            *cache = None;
        }
        Ok(())
    }

    pub async fn mail_health(&self, direction: Direction) -> Result<Health, Error> {
        let mut conn = self.store.read().await?;
        Ok(store_mb::health(&mut conn, direction).await?)
    }

    pub fn mail_directions(&self) -> (bool, bool) {
        (self.connect.fetch_configured, self.connect.send_configured)
    }

    /// The banner administrators see on every page while the mailbox fails. The health rows
    /// are cached for a few seconds (it is asked on every page); the 15 minutes are counted
    /// at each call.
    pub async fn mail_banner(&self) -> Option<String> {
        let (fetch_on, send_on) = self.mail_directions();
        if !fetch_on && !send_on {
            return None;
        }
        let cached = self.connect.banner_cache.lock().ok().and_then(|cache| {
            cache
                .as_ref()
                .filter(|(at, _)| at.elapsed() < BANNER_TTL)
                .map(|(_, h)| h.clone())
        });
        let (fetch, send) = match cached {
            Some(h) => h,
            None => {
                let fetch = if fetch_on {
                    self.mail_health(Direction::Fetch).await.ok()?
                } else {
                    Health::default()
                };
                let send = if send_on {
                    self.mail_health(Direction::Send).await.ok()?
                } else {
                    Health::default()
                };
                if let Ok(mut cache) = self.connect.banner_cache.lock() {
                    *cache = Some((Instant::now(), (fetch.clone(), send.clone())));
                }
                (fetch, send)
            }
        };
        banner(&fetch, &send, self.now())
    }

    /// Directions whose alert e-mail is due (failing 15 minutes, not alerted yet).
    pub async fn mail_alerts_due(&self) -> Result<Vec<(Direction, Health)>, Error> {
        let (fetch_on, send_on) = self.mail_directions();
        let mut due = Vec::new();
        for (d, on) in [(Direction::Fetch, fetch_on), (Direction::Send, send_on)] {
            if !on {
                continue;
            }
            let h = self.mail_health(d).await?;
            if h.alert_due(self.now()) {
                due.push((d, h));
            }
        }
        Ok(due)
    }

    pub async fn mark_mail_alerted(&self, direction: Direction) -> Result<(), Error> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let mut h = store_mb::health_for_update(&mut tx, self.store.backend(), direction).await?;
        h.alerted_at = Some(now);
        store_mb::put_health(&mut tx, direction, &h).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Active administrators: `(address, name)`.
    pub async fn admin_addresses(&self) -> Result<Vec<(String, String)>, Error> {
        let mut conn = self.store.read().await?;
        Ok(store_mb::admin_addresses(&mut conn).await?)
    }

    /// Everything `/admin/mail` shows.
    pub async fn mailbox_status(&self) -> CResult<MailboxStatus> {
        let (fetch_on, send_on) = self.mail_directions();
        let oauth = match self.connect.mail_oauth.as_ref() {
            None => None,
            Some(s) => {
                let g = {
                    let mut conn = self.store.read().await?;
                    store_mb::grant(&mut conn).await?
                };
                let g = g.filter(|g| g.grant_type == s.grant.as_str());
                let connected_by = match g.as_ref().and_then(|g| g.connected_by) {
                    Some(id) => self
                        .user(crate::domain::ids::UserId(id))
                        .await
                        .ok()
                        .map(|u| u.name),
                    None => None,
                };
                Some(OAuthView {
                    provider: s.kind.label(),
                    grant: s.grant,
                    mechanism: s.mechanism.name(),
                    connected: g
                        .as_ref()
                        .is_some_and(|g| g.refresh_token.is_some() || s.grant == Grant::AppOnly),
                    account: g.as_ref().and_then(|g| g.account.clone()),
                    connected_at: g.as_ref().and_then(|g| g.connected_at),
                    connected_by,
                    access_expires_at: g.as_ref().and_then(|g| g.access_expires_at),
                    refreshed_at: g.as_ref().and_then(|g| g.refreshed_at),
                    rotations: g.as_ref().map(|g| g.rotations).unwrap_or(0),
                    refresh_token_stored: g.as_ref().is_some_and(|g| g.refresh_token.is_some()),
                })
            }
        };
        Ok(MailboxStatus {
            oauth,
            fetch: DirectionView {
                direction: Direction::Fetch,
                configured: fetch_on,
                health: self.mail_health(Direction::Fetch).await?,
            },
            send: DirectionView {
                direction: Direction::Send,
                configured: send_on,
                health: self.mail_health(Direction::Send).await?,
            },
            banner: self.mail_banner().await,
        })
    }
}

/// The e-mail an ID token names, read without verifying it: only to show the administrator
/// which account consented (it grants nothing; the provider checks the tokens it issued).
fn unverified_email(id_token: &str) -> Option<String> {
    use base64::Engine;
    let payload = id_token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims
        .get("email")
        .or_else(|| claims.get("preferred_username"))
        .and_then(|v| v.as_str())
        .map(|s| s.chars().take(320).collect())
}

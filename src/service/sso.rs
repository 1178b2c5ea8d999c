//! Single sign-on with OpenID Connect: `/login/oidc` starts an authorization-code sign-in
//! with PKCE (S256), a `state` tied to the browser that started it and a `nonce`; the
//! callback takes the pending sign-in out (single use), exchanges the code, verifies the ID
//! token (signature by the provider's published keys, issuer, audience, expiry, nonce),
//! matches the account by verified e-mail, maps groups to a role, and opens a session.
//! Unknown people are refused unless automatic accounts are on; a disabled account stays
//! out whatever the provider says.

use super::Services;
use super::connect::{CResult, ConnectError, ProblemKind, describe_http, random_bytes};
use crate::domain::identity::{Admission, Existing, RoleMap, admit};
use crate::domain::oauth::{AUTHORIZATION_TTL_SECS, parse_token_response, pkce, url_token};
use crate::domain::oidc::{
    Discovery, Expected, Identity, Jwks, TokenError, check_claims, discovery_url, same_issuer,
    verify_signature,
};
use crate::domain::user::User;
use crate::storage::identity::{self as store_id, PendingOidc};
use std::time::{Duration, Instant};

pub use super::company::{OidcSettings, ProviderCache};

const CACHE_TTL: Duration = Duration::from_secs(3600);
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(30);

/// Where to send the browser, and the value of the cookie that ties the callback to it.
#[derive(Debug, Clone)]
pub struct SsoStart {
    pub url: String,
    pub browser_token: String,
}

/// The callback's query.
#[derive(Debug, Clone, Default)]
pub struct SsoCallback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

fn unavailable(what: &str) -> ConnectError {
    ConnectError::unavailable(
        "identity_provider_unavailable",
        format!(
            "El proveedor de identidad no responde ({what}). Intente más tarde o ingrese con su contraseña."
        ),
    )
}

fn expired() -> ConnectError {
    ConnectError::new(
        ProblemKind::Invalid,
        "sso_state_invalid",
        "Este inicio de sesión ya se usó, caducó o no se inició en este navegador. Vuelva a ingresar.",
    )
}

fn refused(e: &TokenError) -> ConnectError {
    tracing::warn!(error = %e, "ID token refused");
    ConnectError::new(ProblemKind::Unauthorized, "sso_token_invalid", e.message())
}

impl Services {
    /// The sign-in button's label, when single sign-on is configured.
    pub fn sso_label(&self) -> Option<&str> {
        self.connect.oidc.as_ref().map(|o| o.label.as_str())
    }

    fn oidc(&self) -> CResult<&OidcSettings> {
        self.connect.oidc.as_ref().ok_or_else(|| {
            ConnectError::new(
                ProblemKind::NotFound,
                "sso_not_configured",
                "El ingreso con la cuenta de la empresa no está configurado.",
            )
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str, what: &str) -> CResult<T> {
        let response = self.http().get(url).send().await.map_err(|e| {
            tracing::warn!(url, error = %e, "failed to reach the identity provider");
            unavailable(&format!("{what}: {}", describe_http(&e)))
        })?;
        if !response.status().is_success() {
            tracing::warn!(url, status = %response.status(), "identity provider answered an error");
            return Err(unavailable(&format!(
                "{what}: estado {}",
                response.status().as_u16()
            )));
        }
        response.json::<T>().await.map_err(|e| {
            tracing::warn!(url, error = %e, "identity provider sent an unreadable document");
            unavailable(&format!("{what}: respuesta ilegible"))
        })
    }

    async fn discovery(&self, oidc: &OidcSettings) -> CResult<Discovery> {
        let mut cache = self.connect.provider_cache.lock().await;
        if let Some((d, at)) = &cache.discovery
            && at.elapsed() < CACHE_TTL
        {
            return Ok(d.clone());
        }
        let d: Discovery = self
            .get_json(&discovery_url(&oidc.issuer), "documento de descubrimiento")
            .await?;
        if !same_issuer(&d.issuer, &oidc.issuer) {
            tracing::error!(configured = %oidc.issuer, published = %d.issuer, "issuer mismatch in discovery");
            return Err(unavailable(
                "el emisor publicado no coincide con el configurado",
            ));
        }
        cache.discovery = Some((d.clone(), Instant::now()));
        Ok(d)
    }

    async fn jwks(&self, discovery: &Discovery, refetch: bool) -> CResult<Jwks> {
        let mut cache = self.connect.provider_cache.lock().await;
        if let Some((k, at)) = &cache.jwks {
            let fresh = at.elapsed() < CACHE_TTL;
            if (fresh && !refetch) || at.elapsed() < JWKS_MIN_REFETCH {
                return Ok(k.clone());
            }
        }
        let k: Jwks = self
            .get_json(&discovery.jwks_uri, "claves públicas")
            .await?;
        cache.jwks = Some((k.clone(), Instant::now()));
        Ok(k)
    }

    /// Starts a sign-in: remembers state, nonce and PKCE verifier, and says where to go.
    pub async fn sso_start(&self) -> CResult<SsoStart> {
        let oidc = self.oidc()?;
        let discovery = self.discovery(oidc).await?;
        let state = url_token(&random_bytes::<32>()?);
        let nonce = url_token(&random_bytes::<32>()?);
        let browser_token = url_token(&random_bytes::<32>()?);
        let pkce = pkce(random_bytes::<32>()?);
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        store_id::prune_oidc_logins(&mut tx, now - AUTHORIZATION_TTL_SECS).await?;
        store_id::insert_oidc_login(
            &mut tx,
            &super::sha256_hex(&state),
            &PendingOidc {
                browser_hash: super::sha256_hex(&browser_token),
                nonce: nonce.clone(),
                pkce_verifier: pkce.verifier,
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        let mut url = url::Url::parse(&discovery.authorization_endpoint)
            .map_err(|_| unavailable("dirección de autorización no válida"))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &oidc.client_id)
            .append_pair("redirect_uri", &oidc.redirect_uri)
            .append_pair("scope", &oidc.scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(SsoStart {
            url: url.to_string(),
            browser_token,
        })
    }

    /// Finishes a sign-in at the callback: returns the new session's cookie token.
    pub async fn sso_finish(
        &self,
        callback: &SsoCallback,
        browser_token: Option<&str>,
    ) -> CResult<(String, User)> {
        let oidc = self.oidc()?;
        let state = callback.state.as_deref().unwrap_or("");
        if state.is_empty() || state.len() > 200 {
            return Err(expired());
        }
        let now = self.now();
        let pending = {
            let mut tx = self.store.begin_write().await?;
            let p = store_id::take_oidc_login(&mut tx, &super::sha256_hex(state)).await?;
            tx.commit().await?;
            p.ok_or_else(expired)?
        };
        let browser_ok = browser_token.is_some_and(|b| {
            super::connect::same_secret(&super::sha256_hex(b), &pending.browser_hash)
        });
        if !browser_ok || now - pending.created_at > AUTHORIZATION_TTL_SECS {
            return Err(expired());
        }
        if let Some(error) = &callback.error {
            tracing::info!(error = %error, "identity provider returned an error to the callback");
            let message = match error.as_str() {
                "access_denied" => {
                    "Se canceló el ingreso en el proveedor de identidad.".to_string()
                }
                _ => "El proveedor de identidad no completó el ingreso. Intente de nuevo."
                    .to_string(),
            };
            return Err(ConnectError::new(
                ProblemKind::Unauthorized,
                "sso_denied",
                message,
            ));
        }
        let code = callback
            .code
            .as_deref()
            .filter(|c| !c.is_empty() && c.len() < 4096)
            .ok_or_else(expired)?;
        let discovery = self.discovery(oidc).await?;
        let response = self
            .http()
            .post(&discovery.token_endpoint)
            .basic_auth(
                form_encode(&oidc.client_id),
                Some(form_encode(oidc.client_secret.expose())),
            )
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", oidc.redirect_uri.as_str()),
                ("code_verifier", pending.pkce_verifier.as_str()),
            ])
            .send()
            .await
            .map_err(|e| unavailable(&format!("token: {}", describe_http(&e))))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable(&format!("token: {}", describe_http(&e))))?;
        let tokens = parse_token_response(&body, now).map_err(|r| {
            tracing::warn!(status = %status, code = %r.code, "token endpoint refused the code");
            ConnectError::new(
                ProblemKind::Unauthorized,
                "sso_code_refused",
                "El proveedor de identidad rechazó el código de ingreso (ya usado o caducado). Vuelva a ingresar.",
            )
        })?;
        let id_token = tokens.id_token.ok_or_else(|| {
            ConnectError::new(
                ProblemKind::Unauthorized,
                "sso_token_invalid",
                "El proveedor de identidad no envió un ID token.",
            )
        })?;
        let mut keys = self.jwks(&discovery, false).await?;
        let claims = match verify_signature(&id_token, &keys) {
            Err(e) if e.is_unknown_key() => {
                keys = self.jwks(&discovery, true).await?;
                verify_signature(&id_token, &keys)
            }
            other => other,
        }
        .map_err(|e| refused(&e))?;
        let identity = check_claims(
            &claims,
            &Expected {
                issuer: &oidc.issuer,
                client_id: &oidc.client_id,
                nonce: &pending.nonce,
                now,
                groups_claim: &oidc.groups_claim,
            },
        )
        .map_err(|e| refused(&e))?;
        let user = self
            .admit_external("oidc", &identity, &oidc.role_map, oidc.auto_create)
            .await?;
        // The provider is trusted with its own second factor (docs/operations.md).
        let token = self.open_session(&user, "sso").await?;
        Ok((token, user))
    }

    /// Applies what the directory says of a person: refuse, sign in (role updated), or
    /// create then sign in. Shared by OpenID Connect and LDAP.
    pub(crate) async fn admit_external(
        &self,
        provider: &str,
        identity: &Identity,
        role_map: &RoleMap,
        auto_create: bool,
    ) -> CResult<User> {
        let email = identity
            .email
            .as_deref()
            .ok_or_else(|| refused(&TokenError::NoEmail))?;
        if !identity.email_verified {
            let r = crate::domain::identity::Refusal::UnverifiedEmail;
            return Err(ConnectError::new(
                ProblemKind::Forbidden,
                r.code(),
                r.message(),
            ));
        }
        let email = crate::domain::user::Email::parse(email)?;
        let existing = self.user_by_email(email.as_str()).await.ok();
        let mapped = role_map.role_for(&identity.groups);
        let admission = admit(
            existing.as_ref().map(|u| Existing {
                active: u.active,
                role: u.role,
            }),
            mapped,
            !role_map.is_empty(),
            auto_create,
        );
        let user = match (admission, existing) {
            (Admission::Refuse(r), _) => {
                tracing::info!(provider, code = r.code(), "external sign-in refused");
                let kind = match r {
                    crate::domain::identity::Refusal::Unknown => ProblemKind::Forbidden,
                    _ => ProblemKind::Forbidden,
                };
                return Err(ConnectError::new(kind, r.code(), r.message()));
            }
            (Admission::SignIn { role, role_changed }, Some(user)) => {
                if role_changed {
                    tracing::info!(provider, user = user.id.0, from = %user.role, to = %role, "role set by directory groups");
                    self.set_role(user.id, role).await?
                } else {
                    user
                }
            }
            (Admission::Create { role }, _) | (Admission::SignIn { role, .. }, None) => {
                let name = identity
                    .name
                    .clone()
                    .unwrap_or_else(|| email.as_str().split('@').next().unwrap_or("").to_string());
                let user = self
                    .create_external_user(email.as_str(), &name, role)
                    .await?;
                tracing::info!(provider, user = user.id.0, role = %role, "account created at first sign-in");
                user
            }
        };
        {
            let mut tx = self.store.begin_write().await?;
            store_id::record_identity(&mut tx, user.id, provider, &identity.subject, self.now())
                .await?;
            tx.commit().await?;
        }
        Ok(user)
    }

    /// An account the directory vouches for, with no local password (its hash is not a
    /// valid PHC string, so no password ever matches it).
    pub(crate) async fn create_external_user(
        &self,
        email: &str,
        name: &str,
        role: crate::domain::user::Role,
    ) -> CResult<User> {
        let name = crate::domain::user::parse_name(name)
            .or_else(|_| crate::domain::user::parse_name(email))?;
        let mut tx = self.store.begin_write().await?;
        let id = crate::storage::users::insert(
            &mut tx,
            &crate::storage::users::NewUser {
                email,
                name: &name,
                role,
                password_hash: EXTERNAL_PASSWORD_HASH,
                must_change_password: false,
                phone: None,
                area: None,
                created_at: self.now(),
            },
        )
        .await?;
        let user = crate::storage::users::find(&mut tx, id)
            .await?
            .ok_or(crate::domain::DomainError::NotFound)?;
        tx.commit().await?;
        Ok(user)
    }
}

/// The password hash of accounts created by the directory: matches no password.
pub const EXTERNAL_PASSWORD_HASH: &str = "!external";

/// `application/x-www-form-urlencoded` encoding of client credentials for HTTP Basic
/// (RFC 6749 §2.3.1).
pub(crate) fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

//! OAuth 2.0 for the support mailbox: provider presets (Microsoft 365, Google, a generic
//! provider), PKCE (RFC 7636), reading token responses, when to refresh, and the SASL strings
//! IMAP and SMTP servers take (XOAUTH2, and OAUTHBEARER of RFC 7628).
//!
//! Pure: HTTP calls, storage and randomness belong to `service::mailbox`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// An access token is renewed when it has less than this left (seconds), so a poll or a
/// send never starts with a token about to die.
pub const REFRESH_MARGIN_SECS: i64 = 300;
/// A token response without `expires_in` is taken to last an hour (the usual lifetime).
pub const DEFAULT_EXPIRES_IN: i64 = 3600;
/// An authorization started at the provider must come back within this time.
pub const AUTHORIZATION_TTL_SECS: i64 = 600;

/// Which kind of provider holds the mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Microsoft,
    Google,
    Generic,
}

impl ProviderKind {
    pub fn parse(s: &str) -> Option<ProviderKind> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "microsoft" | "microsoft365" | "m365" | "office365" => ProviderKind::Microsoft,
            "google" | "gmail" | "workspace" => ProviderKind::Google,
            "generic" | "oidc" => ProviderKind::Generic,
            _ => return None,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            ProviderKind::Microsoft => "Microsoft 365",
            ProviderKind::Google => "Google Workspace",
            ProviderKind::Generic => "proveedor OAuth2",
        }
    }
}

/// How soporte gets its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// An administrator signs in once at the provider ("Conectar buzón"); the refresh token
    /// it yields is kept (sealed) and renewed.
    Delegated,
    /// Client credentials: the application itself is allowed into the mailbox (Microsoft
    /// 365's `IMAP.AccessAsApp` / `SMTP.SendAsApp` for a shared mailbox). No user token.
    AppOnly,
}

impl Grant {
    pub fn parse(s: &str) -> Option<Grant> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "delegated" | "delegado" | "user" => Grant::Delegated,
            "app" | "app-only" | "application" | "client_credentials" => Grant::AppOnly,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Grant::Delegated => "delegated",
            Grant::AppOnly => "app",
        }
    }
}

/// The SASL mechanism used with the access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    XOAuth2,
    OAuthBearer,
}

impl Mechanism {
    pub fn parse(s: &str) -> Option<Mechanism> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "xoauth2" => Mechanism::XOAuth2,
            "oauthbearer" => Mechanism::OAuthBearer,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::XOAuth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

/// Where the provider's endpoints are and what to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub authorization_url: Option<String>,
    pub token_url: String,
    pub scopes: Vec<String>,
    /// Extra query parameters of the authorization request (Google needs
    /// `access_type=offline` and `prompt=consent` to hand out a refresh token).
    pub extra_authorize: Vec<(String, String)>,
}

/// The preset endpoints and scopes of a provider. `tenant` is Microsoft's directory (tenant
/// id or domain; `organizations` for delegated sign-in by any work account).
pub fn preset(kind: ProviderKind, grant: Grant, tenant: &str) -> Option<Endpoints> {
    let tenant = if tenant.trim().is_empty() {
        "organizations"
    } else {
        tenant.trim()
    };
    match (kind, grant) {
        (ProviderKind::Microsoft, Grant::Delegated) => Some(Endpoints {
            authorization_url: Some(format!(
                "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize"
            )),
            token_url: format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
            scopes: vec![
                "offline_access".into(),
                "https://outlook.office.com/IMAP.AccessAsUser.All".into(),
                "https://outlook.office.com/SMTP.Send".into(),
            ],
            extra_authorize: vec![],
        }),
        (ProviderKind::Microsoft, Grant::AppOnly) => Some(Endpoints {
            authorization_url: None,
            token_url: format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
            scopes: vec!["https://outlook.office365.com/.default".into()],
            extra_authorize: vec![],
        }),
        (ProviderKind::Google, Grant::Delegated) => Some(Endpoints {
            authorization_url: Some("https://accounts.google.com/o/oauth2/v2/auth".into()),
            token_url: "https://oauth2.googleapis.com/token".into(),
            scopes: vec!["https://mail.google.com/".into()],
            extra_authorize: vec![
                ("access_type".into(), "offline".into()),
                ("prompt".into(), "consent".into()),
            ],
        }),
        // Gmail takes no client-credentials token: a Workspace service account with
        // domain-wide delegation is another flow (docs/mail.md).
        (ProviderKind::Google, Grant::AppOnly) => None,
        (ProviderKind::Generic, _) => None,
    }
}

/// Splits a scope list given as "a b" or "a,b".
pub fn parse_scopes(raw: &str) -> Vec<String> {
    raw.split([' ', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// A PKCE pair: the verifier stays with soporte, the challenge goes to the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

/// PKCE with S256 from 32 random bytes (a 43-character verifier).
pub fn pkce(random: [u8; 32]) -> Pkce {
    let verifier = URL_SAFE_NO_PAD.encode(random);
    Pkce {
        challenge: pkce_challenge(&verifier),
        verifier,
    }
}

pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Random bytes as an opaque URL-safe value (state, nonce).
pub fn url_token(random: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// A successful answer of a token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    pub access_token: String,
    /// When the access token stops working (Unix seconds).
    pub expires_at: i64,
    /// A new refresh token, when the provider sent one (rotation); keep the old one if not.
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub scope: Option<String>,
}

#[derive(Deserialize)]
struct RawTokens {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
    refresh_token: Option<String>,
    id_token: Option<String>,
    scope: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// What a token endpoint refused, in words for the administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRefusal {
    /// The OAuth error code (`invalid_grant`, …) or `invalid_response`.
    pub code: String,
    /// A Spanish explanation (with the provider's description, which names no secret).
    pub message: String,
}

impl TokenRefusal {
    /// The stored grant no longer works: someone must connect the mailbox again.
    pub fn needs_reconnect(&self) -> bool {
        matches!(self.code.as_str(), "invalid_grant" | "interaction_required")
    }
}

fn refusal(code: &str, description: Option<&str>) -> TokenRefusal {
    let base = match code {
        "invalid_grant" => {
            "El proveedor rechazó la autorización guardada (caducó, fue revocada o ya se usó); vuelva a conectar el buzón"
        }
        "invalid_client" | "unauthorized_client" => {
            "El proveedor rechazó la aplicación (identificador o secreto de cliente incorrecto, o sin permiso para este flujo)"
        }
        "invalid_scope" => "El proveedor rechazó los permisos (scopes) solicitados",
        "interaction_required" | "consent_required" => {
            "El proveedor pide que un administrador vuelva a iniciar sesión y dar su consentimiento"
        }
        "invalid_response" => "El proveedor respondió algo que no es una respuesta de token",
        _ => "El proveedor rechazó la solicitud de token",
    };
    let message = match description.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => format!("{base} ({code}: {}).", clip(d, 300)),
        None => format!("{base} ({code})."),
    };
    TokenRefusal {
        code: code.to_string(),
        message,
    }
}

fn clip(s: &str, max: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    one_line.chars().take(max).collect()
}

/// Reads a token endpoint's JSON answer received at `now`.
pub fn parse_token_response(body: &[u8], now: i64) -> Result<Tokens, TokenRefusal> {
    let raw: RawTokens = serde_json::from_slice(body)
        .map_err(|_| refusal("invalid_response", Some("la respuesta no es JSON")))?;
    if let Some(code) = raw.error {
        return Err(refusal(&code, raw.error_description.as_deref()));
    }
    let access_token = raw
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| refusal("invalid_response", Some("falta access_token")))?;
    if let Some(tt) = &raw.token_type
        && !tt.eq_ignore_ascii_case("bearer")
    {
        return Err(refusal(
            "invalid_response",
            Some("el token no es de tipo Bearer"),
        ));
    }
    let expires_in = match raw.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(DEFAULT_EXPIRES_IN),
        Some(serde_json::Value::String(s)) => s.parse().unwrap_or(DEFAULT_EXPIRES_IN),
        _ => DEFAULT_EXPIRES_IN,
    };
    Ok(Tokens {
        access_token,
        expires_at: now + expires_in.clamp(0, 366 * 86_400),
        refresh_token: raw.refresh_token.filter(|t| !t.is_empty()),
        id_token: raw.id_token,
        scope: raw.scope,
    })
}

/// An error answer that is not JSON (an HTML error page, a proxy's 502).
pub fn http_refusal(status: u16) -> TokenRefusal {
    refusal(
        "invalid_response",
        Some(&format!("estado HTTP {status} sin respuesta OAuth")),
    )
}

/// Whether an access token expiring at `expires_at` should be renewed before use.
pub fn needs_refresh(expires_at: i64, now: i64) -> bool {
    expires_at - now < REFRESH_MARGIN_SECS
}

/// The XOAUTH2 initial response (before base64, which the IMAP/SMTP client adds).
pub fn xoauth2(user: &str, access_token: &str) -> String {
    format!("user={user}\x01auth=Bearer {access_token}\x01\x01")
}

/// The OAUTHBEARER initial response (RFC 7628 §3.1), before base64.
pub fn oauthbearer(user: &str, host: &str, port: u16, access_token: &str) -> String {
    let user = user.replace('=', "=3D").replace(',', "=2C");
    format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {access_token}\x01\x01")
}

/// The SASL initial response for a mechanism.
pub fn sasl(mechanism: Mechanism, user: &str, host: &str, port: u16, token: &str) -> String {
    match mechanism {
        Mechanism::XOAuth2 => xoauth2(user, token),
        Mechanism::OAuthBearer => oauthbearer(user, host, port, token),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let p = pkce([9; 32]);
        assert_eq!(p.verifier.len(), 43);
        assert_eq!(p.challenge, pkce_challenge(&p.verifier));
    }

    #[test]
    fn token_responses_are_read_with_expiry_and_rotation() {
        let t = parse_token_response(
            br#"{"access_token":"at","token_type":"Bearer","expires_in":3599,"refresh_token":"rt2"}"#,
            1000,
        )
        .unwrap();
        assert_eq!(t.access_token, "at");
        assert_eq!(t.expires_at, 4599);
        assert_eq!(t.refresh_token.as_deref(), Some("rt2"));
        let t = parse_token_response(br#"{"access_token":"at","expires_in":"60"}"#, 0).unwrap();
        assert_eq!((t.expires_at, t.refresh_token), (60, None));
    }

    #[test]
    fn refusals_say_what_to_do_in_spanish() {
        let e = parse_token_response(
            br#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#,
            0,
        )
        .unwrap_err();
        assert!(e.needs_reconnect());
        assert!(
            e.message.contains("vuelva a conectar el buzón"),
            "{}",
            e.message
        );
        assert!(e.message.contains("grant request is invalid"));
        let e = parse_token_response(b"<html>", 0).unwrap_err();
        assert_eq!(e.code, "invalid_response");
        let e = parse_token_response(br#"{"access_token":"x","token_type":"mac"}"#, 0).unwrap_err();
        assert_eq!(e.code, "invalid_response");
    }

    #[test]
    fn tokens_are_renewed_five_minutes_before_they_expire() {
        assert!(!needs_refresh(1000 + 301, 1000));
        assert!(needs_refresh(1000 + 299, 1000));
        assert!(needs_refresh(900, 1000));
    }

    #[test]
    fn sasl_strings_follow_the_specs() {
        assert_eq!(
            xoauth2(
                "someuser@example.com",
                "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
            ),
            "user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
        assert_eq!(
            oauthbearer(
                "user@example.com",
                "server.example.com",
                143,
                "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="
            ),
            "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
    }

    #[test]
    fn presets_point_at_the_providers() {
        let m = preset(
            ProviderKind::Microsoft,
            Grant::Delegated,
            "contoso.onmicrosoft.com",
        )
        .unwrap();
        assert!(
            m.token_url
                .contains("/contoso.onmicrosoft.com/oauth2/v2.0/token")
        );
        assert!(
            m.scopes
                .iter()
                .any(|s| s.ends_with("IMAP.AccessAsUser.All"))
        );
        assert!(m.scopes.iter().any(|s| s == "offline_access"));
        let app = preset(ProviderKind::Microsoft, Grant::AppOnly, "t").unwrap();
        assert_eq!(app.scopes, vec!["https://outlook.office365.com/.default"]);
        assert!(app.authorization_url.is_none());
        let g = preset(ProviderKind::Google, Grant::Delegated, "").unwrap();
        assert!(
            g.extra_authorize
                .contains(&("access_type".into(), "offline".into()))
        );
        assert!(preset(ProviderKind::Google, Grant::AppOnly, "").is_none());
        assert_eq!(parse_scopes("a b,c  "), vec!["a", "b", "c"]);
    }
}

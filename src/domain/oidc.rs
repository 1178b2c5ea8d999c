//! OpenID Connect: the provider's discovery document, its signing keys (JWKS), and the ID
//! token check — signature (RS256/384/512, PS256/384/512, ES256/384, EdDSA; never `none` or a
//! shared-secret HMAC), issuer, audience (and `azp`), expiry, issue time and nonce — then
//! the claims soporte uses: the e-mail, whether the provider verified it, and the groups.
//!
//! Pure: signatures are checked with `ring`; fetching documents is `service::sso`'s.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Seconds of clock difference tolerated between soporte and the provider.
pub const LEEWAY_SECS: i64 = 60;

/// The parts of `/.well-known/openid-configuration` soporte needs.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
}

/// The URL of the discovery document of an issuer.
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// Issuers are compared exactly, except for one trailing slash.
pub fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// One public key of the provider.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// Why an ID token was not accepted. Each says which check failed (for the log and the
/// tests); people see one Spanish sentence (`message`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a signed JWT")]
    Malformed,
    #[error("algorithm {0} is not accepted")]
    Algorithm(String),
    #[error("no provider key matches the token (kid {0:?})")]
    UnknownKey(Option<String>),
    #[error("the signature does not verify")]
    Signature,
    #[error("issuer {0:?} is not the configured one")]
    Issuer(String),
    #[error("the token is not for this client")]
    Audience,
    #[error("the token expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the nonce does not match this sign-in")]
    Nonce,
    #[error("the token has no e-mail")]
    NoEmail,
}

impl TokenError {
    /// Whether fetching the provider's keys again might help (it rotated them).
    pub fn is_unknown_key(&self) -> bool {
        matches!(self, TokenError::UnknownKey(_))
    }

    pub fn message(&self) -> &'static str {
        match self {
            TokenError::Expired | TokenError::NotYetValid => {
                "La respuesta del proveedor de identidad caducó o llegó fuera de tiempo. Intente ingresar de nuevo."
            }
            TokenError::Nonce => {
                "La respuesta del proveedor de identidad no corresponde a este inicio de sesión. Intente ingresar de nuevo."
            }
            TokenError::NoEmail => {
                "El proveedor de identidad no envió el correo de su cuenta; no se puede saber quién es."
            }
            _ => {
                "La respuesta del proveedor de identidad no es válida (firma, emisor o destinatario). Intente de nuevo o consulte con un administrador."
            }
        }
    }
}

/// A compact JWS split into what the checks need.
struct Jws {
    alg: String,
    kid: Option<String>,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
    claims: Map<String, Value>,
}

fn b64(part: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| TokenError::Malformed)
}

fn split(token: &str) -> Result<Jws, TokenError> {
    let mut parts = token.trim().split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header: Map<String, Value> =
        serde_json::from_slice(&b64(h)?).map_err(|_| TokenError::Malformed)?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&b64(p)?).map_err(|_| TokenError::Malformed)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(TokenError::Malformed)?
        .to_string();
    if header.get("crit").is_some() {
        // Extensions we do not understand must not be ignored (RFC 7515 §4.1.11).
        return Err(TokenError::Malformed);
    }
    Ok(Jws {
        alg,
        kid: header.get("kid").and_then(Value::as_str).map(String::from),
        signing_input: format!("{h}.{p}").into_bytes(),
        signature: b64(s)?,
        claims,
    })
}

fn verify_with(jws: &Jws, key: &Jwk) -> Result<(), TokenError> {
    use ring::signature as sig;
    let bad = |_| TokenError::Signature;
    match (jws.alg.as_str(), key.kty.as_str()) {
        (alg @ ("RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512"), "RSA") => {
            let n = b64(key.n.as_deref().ok_or(TokenError::Signature)?)?;
            let e = b64(key.e.as_deref().ok_or(TokenError::Signature)?)?;
            let params: &sig::RsaParameters = match alg {
                "RS256" => &sig::RSA_PKCS1_2048_8192_SHA256,
                "RS384" => &sig::RSA_PKCS1_2048_8192_SHA384,
                "RS512" => &sig::RSA_PKCS1_2048_8192_SHA512,
                "PS256" => &sig::RSA_PSS_2048_8192_SHA256,
                "PS384" => &sig::RSA_PSS_2048_8192_SHA384,
                _ => &sig::RSA_PSS_2048_8192_SHA512,
            };
            sig::RsaPublicKeyComponents { n: &n, e: &e }
                .verify(params, &jws.signing_input, &jws.signature)
                .map_err(bad)
        }
        (alg @ ("ES256" | "ES384"), "EC") => {
            let (curve, algorithm): (&str, &'static sig::EcdsaVerificationAlgorithm) = match alg {
                "ES256" => ("P-256", &sig::ECDSA_P256_SHA256_FIXED),
                _ => ("P-384", &sig::ECDSA_P384_SHA384_FIXED),
            };
            if key.crv.as_deref() != Some(curve) {
                return Err(TokenError::Signature);
            }
            let mut point = vec![4u8];
            point.extend(b64(key.x.as_deref().ok_or(TokenError::Signature)?)?);
            point.extend(b64(key.y.as_deref().ok_or(TokenError::Signature)?)?);
            sig::UnparsedPublicKey::new(algorithm, point)
                .verify(&jws.signing_input, &jws.signature)
                .map_err(bad)
        }
        ("EdDSA", "OKP") if key.crv.as_deref() == Some("Ed25519") => {
            let x = b64(key.x.as_deref().ok_or(TokenError::Signature)?)?;
            sig::UnparsedPublicKey::new(&sig::ED25519, x)
                .verify(&jws.signing_input, &jws.signature)
                .map_err(bad)
        }
        _ => Err(TokenError::Signature),
    }
}

const ACCEPTED_ALGS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// Checks the signature against the provider's keys and returns the claims.
pub fn verify_signature(token: &str, jwks: &Jwks) -> Result<Map<String, Value>, TokenError> {
    let jws = split(token)?;
    if !ACCEPTED_ALGS.contains(&jws.alg.as_str()) {
        return Err(TokenError::Algorithm(jws.alg));
    }
    let candidates: Vec<&Jwk> = jwks
        .keys
        .iter()
        .filter(|k| k.use_.as_deref().is_none_or(|u| u == "sig"))
        .filter(|k| k.alg.as_deref().is_none_or(|a| a == jws.alg))
        .filter(|k| match (&jws.kid, &k.kid) {
            (Some(want), Some(have)) => want == have,
            (Some(_), None) => false,
            (None, _) => true,
        })
        .collect();
    if candidates.is_empty() {
        return Err(TokenError::UnknownKey(jws.kid));
    }
    if candidates.iter().any(|k| verify_with(&jws, k).is_ok()) {
        Ok(jws.claims)
    } else {
        Err(TokenError::Signature)
    }
}

/// What soporte expects of this ID token.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: i64,
    /// The claim that lists the person's groups (`groups` by default).
    pub groups_claim: &'a str,
}

/// The person an accepted ID token describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub groups: Vec<String>,
}

fn as_time(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Checks the claims of a token whose signature was verified.
pub fn check_claims(
    claims: &Map<String, Value>,
    want: &Expected<'_>,
) -> Result<Identity, TokenError> {
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    if !same_issuer(iss, want.issuer) {
        return Err(TokenError::Issuer(iss.to_string()));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !audiences.contains(&want.client_id) {
        return Err(TokenError::Audience);
    }
    // With several audiences, the authorized party must be us (OIDC Core §3.1.3.7).
    if let Some(azp) = claims.get("azp").and_then(Value::as_str) {
        if azp != want.client_id {
            return Err(TokenError::Audience);
        }
    } else if audiences.len() > 1 {
        return Err(TokenError::Audience);
    }
    let exp = as_time(claims.get("exp")).ok_or(TokenError::Expired)?;
    if exp + LEEWAY_SECS <= want.now {
        return Err(TokenError::Expired);
    }
    if let Some(iat) = as_time(claims.get("iat"))
        && iat - LEEWAY_SECS > want.now
    {
        return Err(TokenError::NotYetValid);
    }
    if let Some(nbf) = as_time(claims.get("nbf"))
        && nbf - LEEWAY_SECS > want.now
    {
        return Err(TokenError::NotYetValid);
    }
    let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if nonce.is_empty()
        || !bool::from(subtle::ConstantTimeEq::ct_eq(
            nonce.as_bytes(),
            want.nonce.as_bytes(),
        ))
    {
        return Err(TokenError::Nonce);
    }
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .ok_or(TokenError::Malformed)?
        .to_string();
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty());
    // Entra ID sends no `email_verified`; its optional claim `xms_edov` says the domain
    // owner verified the address (docs/operations.md).
    let email_verified = truthy(claims.get("email_verified")) || truthy(claims.get("xms_edov"));
    let groups = match claims.get(want.groups_claim) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => vec![],
    };
    let name = claims
        .get("name")
        .and_then(Value::as_str)
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    Ok(Identity {
        subject,
        email,
        email_verified,
        name,
        groups,
    })
}

/// A label for the sign-in button from the issuer ("Ingresar con Microsoft").
pub fn provider_label(issuer: &str) -> &'static str {
    let host = issuer
        .split("://")
        .nth(1)
        .unwrap_or(issuer)
        .split('/')
        .next()
        .unwrap_or("");
    if host.ends_with("microsoftonline.com") || host.ends_with("microsoft.com") {
        "Microsoft"
    } else if host == "accounts.google.com" {
        "Google"
    } else {
        "la cuenta de la empresa"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

    fn es256_key() -> (EcdsaKeyPair, Jwk) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let public = pair.public_key().as_ref();
        let jwk = Jwk {
            kty: "EC".into(),
            kid: Some("k1".into()),
            alg: Some("ES256".into()),
            use_: Some("sig".into()),
            n: None,
            e: None,
            crv: Some("P-256".into()),
            x: Some(URL_SAFE_NO_PAD.encode(&public[1..33])),
            y: Some(URL_SAFE_NO_PAD.encode(&public[33..65])),
        };
        (pair, jwk)
    }

    fn sign(pair: &EcdsaKeyPair, header: Value, claims: Value) -> String {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let p = URL_SAFE_NO_PAD.encode(claims.to_string());
        let sig = pair
            .sign(&SystemRandom::new(), format!("{h}.{p}").as_bytes())
            .unwrap();
        format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    fn claims(now: i64) -> Value {
        serde_json::json!({
            "iss": "https://idp.example/", "aud": "soporte", "sub": "u1", "nonce": "n-1",
            "exp": now + 300, "iat": now, "email": "Ana@MiEmpresa.com", "email_verified": true,
            "groups": ["TI-Soporte"], "name": "Ana Pérez"
        })
    }

    fn want(now: i64) -> Expected<'static> {
        Expected {
            issuer: "https://idp.example",
            client_id: "soporte",
            nonce: "n-1",
            now,
            groups_claim: "groups",
        }
    }

    #[test]
    fn a_good_token_gives_the_person() {
        let (pair, jwk) = es256_key();
        let jwks = Jwks { keys: vec![jwk] };
        let now = 1_700_000_000;
        let t = sign(
            &pair,
            serde_json::json!({"alg":"ES256","kid":"k1"}),
            claims(now),
        );
        let c = verify_signature(&t, &jwks).unwrap();
        let id = check_claims(&c, &want(now)).unwrap();
        assert_eq!(id.email.as_deref(), Some("ana@miempresa.com"));
        assert!(id.email_verified);
        assert_eq!(id.groups, vec!["TI-Soporte"]);
    }

    #[test]
    fn a_forged_or_unsigned_token_is_refused() {
        let (pair, jwk) = es256_key();
        let (_, other) = es256_key();
        let now = 1_700_000_000;
        let t = sign(
            &pair,
            serde_json::json!({"alg":"ES256","kid":"k1"}),
            claims(now),
        );
        assert_eq!(
            verify_signature(&t, &Jwks { keys: vec![other] }),
            Err(TokenError::Signature)
        );
        let mut parts: Vec<&str> = t.split('.').collect();
        let tampered =
            URL_SAFE_NO_PAD.encode(claims(now).to_string().replace("TI-Soporte", "TI-Admins"));
        parts[1] = &tampered;
        assert_eq!(
            verify_signature(
                &parts.join("."),
                &Jwks {
                    keys: vec![jwk.clone()]
                }
            ),
            Err(TokenError::Signature)
        );
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims(now).to_string())
        );
        assert_eq!(
            verify_signature(
                &none,
                &Jwks {
                    keys: vec![jwk.clone()]
                }
            ),
            Err(TokenError::Algorithm("none".into()))
        );
        let hs = sign(
            &pair,
            serde_json::json!({"alg":"HS256","kid":"k1"}),
            claims(now),
        );
        assert!(matches!(
            verify_signature(
                &hs,
                &Jwks {
                    keys: vec![jwk.clone()]
                }
            ),
            Err(TokenError::Algorithm(_))
        ));
        let unknown = sign(
            &pair,
            serde_json::json!({"alg":"ES256","kid":"k9"}),
            claims(now),
        );
        assert!(
            verify_signature(&unknown, &Jwks { keys: vec![jwk] })
                .unwrap_err()
                .is_unknown_key()
        );
    }

    #[test]
    fn issuer_audience_expiry_and_nonce_are_checked() {
        let now = 1_700_000_000;
        let mut c = claims(now).as_object().unwrap().clone();
        assert!(check_claims(&c, &want(now)).is_ok());
        assert_eq!(
            check_claims(&c, &want(now + 300 + LEEWAY_SECS)),
            Err(TokenError::Expired)
        );
        let mut w = want(now);
        w.nonce = "otro";
        assert_eq!(check_claims(&c, &w), Err(TokenError::Nonce));
        let mut w = want(now);
        w.issuer = "https://otro.example";
        assert!(matches!(check_claims(&c, &w), Err(TokenError::Issuer(_))));
        c.insert("aud".into(), serde_json::json!(["soporte", "otra-app"]));
        assert_eq!(check_claims(&c, &want(now)), Err(TokenError::Audience));
        c.insert("azp".into(), serde_json::json!("soporte"));
        assert!(check_claims(&c, &want(now)).is_ok());
        c.insert("aud".into(), serde_json::json!("otra-app"));
        assert_eq!(check_claims(&c, &want(now)), Err(TokenError::Audience));
    }

    #[test]
    fn entra_verification_claim_counts_and_strings_are_read() {
        let now = 1_700_000_000;
        let mut c = claims(now).as_object().unwrap().clone();
        c.remove("email_verified");
        assert!(!check_claims(&c, &want(now)).unwrap().email_verified);
        c.insert("xms_edov".into(), serde_json::json!("true"));
        assert!(check_claims(&c, &want(now)).unwrap().email_verified);
        c.insert("roles".into(), serde_json::json!("TI-Admins"));
        let mut w = want(now);
        w.groups_claim = "roles";
        assert_eq!(check_claims(&c, &w).unwrap().groups, vec!["TI-Admins"]);
    }

    #[test]
    fn labels_name_the_big_providers() {
        assert_eq!(
            provider_label("https://login.microsoftonline.com/abc/v2.0"),
            "Microsoft"
        );
        assert_eq!(provider_label("https://accounts.google.com"), "Google");
        assert_eq!(
            provider_label("https://sso.miempresa.com/realms/ti"),
            "la cuenta de la empresa"
        );
    }
}

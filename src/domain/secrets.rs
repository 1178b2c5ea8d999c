//! Secrets at rest (refresh tokens, TOTP seeds, webhook secrets, chat tokens): sealed with
//! ChaCha20-Poly1305 under a key derived from `SOPORTE_SECRET_KEY`. Each sealed value carries
//! the id of the key that sealed it, its own random nonce, and is bound to the column it
//! lives in (the associated data), so a value copied into another column does not open.
//!
//! Text form: `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`. Rotation: the previous key
//! stays readable (`SOPORTE_SECRET_KEY_PREVIOUS`) while `soporte secrets rotate` seals every
//! value again under the current one (docs/operations.md).
//!
//! Pure: the nonce comes from the caller (the service layer draws it from the OS).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Shortest key material accepted (characters): 32 random bytes in base64 are 44.
pub const MIN_KEY_CHARS: usize = 32;
pub const NONCE_LEN: usize = 12;
const VERSION: &str = "v1";

/// Why a key or a sealed value was refused. Never carries the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("SOPORTE_SECRET_KEY must be at least {MIN_KEY_CHARS} characters")]
    KeyTooShort,
    #[error("the value is not a sealed secret")]
    Malformed,
    #[error("the value was sealed with key {0}, which is not configured")]
    UnknownKey(String),
    #[error("the value does not open with its key (altered, or moved from another column)")]
    Tampered,
}

/// A 256-bit sealing key and its public id (the first 8 hex digits of a derivation).
#[derive(Clone)]
pub struct SecretKey {
    id: String,
    key: [u8; 32],
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.id)
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; 32],
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

impl SecretKey {
    /// Derives the sealing key and its id from the operator's key material (HKDF-SHA256:
    /// extract with a fixed salt, expand once per purpose).
    pub fn derive(material: &str) -> Result<SecretKey, SealError> {
        let material = material.trim();
        if material.chars().count() < MIN_KEY_CHARS {
            return Err(SealError::KeyTooShort);
        }
        let prk = hmac(b"soporte secret key v1", material.as_bytes());
        let key = hmac(&prk, b"seal\x01");
        let id_bytes = hmac(&prk, b"key id\x01");
        let id = id_bytes[..4].iter().map(|b| format!("{b:02x}")).collect();
        Ok(SecretKey { id, key })
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The current key, and the previous one while a rotation is under way.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: SecretKey,
    previous: Option<SecretKey>,
}

impl Keyring {
    pub fn new(current: SecretKey, previous: Option<SecretKey>) -> Keyring {
        let previous = previous.filter(|p| p.id != current.id);
        Keyring { current, previous }
    }

    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `plain` for the column named by `context` (e.g. `"mail_oauth.refresh_token"`).
    pub fn seal(&self, plain: &[u8], nonce: [u8; NONCE_LEN], context: &str) -> String {
        let cipher = ChaCha20Poly1305::new((&self.current.key).into());
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            // Encryption only fails for messages over 256 GiB.
            .unwrap_or_default();
        let mut raw = Vec::with_capacity(NONCE_LEN + sealed.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&sealed);
        format!(
            "{VERSION}.{}.{}",
            self.current.id,
            URL_SAFE_NO_PAD.encode(raw)
        )
    }

    /// Opens a value sealed by `seal` for the same `context`, with whichever configured key
    /// sealed it.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, SealError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(VERSION), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::Malformed);
        };
        let key = if id == self.current.id {
            &self.current
        } else {
            match &self.previous {
                Some(p) if p.id == id => p,
                _ => return Err(SealError::UnknownKey(id.to_string())),
            }
        };
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Malformed)?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        ChaCha20Poly1305::new((&key.key).into())
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SealError::Tampered)
    }

    /// Opens a value sealed from UTF-8 text.
    pub fn open_text(&self, sealed: &str, context: &str) -> Result<String, SealError> {
        String::from_utf8(self.open(sealed, context)?).map_err(|_| SealError::Tampered)
    }

    /// Whether a sealed value is under an older key (rotation has work to do).
    pub fn is_stale(&self, sealed: &str) -> bool {
        sealed
            .split('.')
            .nth(1)
            .is_some_and(|id| id != self.current.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "una-clave-de-prueba-suficientemente-larga-1";
    const K2: &str = "otra-clave-de-prueba-suficientemente-larga-2";

    fn ring(k: &str) -> Keyring {
        Keyring::new(SecretKey::derive(k).unwrap(), None)
    }

    #[test]
    fn a_sealed_value_opens_only_in_its_column_and_hides_the_plain_text() {
        let r = ring(K1);
        let sealed = r.seal(b"refresh-token-123", [7; 12], "mail_oauth.refresh_token");
        assert!(sealed.starts_with(&format!("v1.{}.", r.current_id())));
        assert!(!sealed.contains("refresh-token"));
        assert_eq!(
            r.open(&sealed, "mail_oauth.refresh_token").unwrap(),
            b"refresh-token-123"
        );
        assert_eq!(
            r.open(&sealed, "user_totp.secret"),
            Err(SealError::Tampered)
        );
    }

    #[test]
    fn another_nonce_gives_another_text() {
        let r = ring(K1);
        assert_ne!(r.seal(b"x", [1; 12], "c"), r.seal(b"x", [2; 12], "c"));
    }

    #[test]
    fn a_flipped_byte_is_refused() {
        let r = ring(K1);
        let sealed = r.seal(b"secreto", [3; 12], "c");
        let mut raw = URL_SAFE_NO_PAD
            .decode(sealed.rsplit('.').next().unwrap())
            .unwrap();
        raw[14] ^= 1;
        let bad = format!("v1.{}.{}", r.current_id(), URL_SAFE_NO_PAD.encode(raw));
        assert_eq!(r.open(&bad, "c"), Err(SealError::Tampered));
        assert_eq!(r.open("basura", "c"), Err(SealError::Malformed));
    }

    #[test]
    fn rotation_reads_the_previous_key_and_marks_its_values_stale() {
        let old = ring(K1);
        let sealed = old.seal(b"semilla", [4; 12], "c");
        let new_only = ring(K2);
        assert!(matches!(
            new_only.open(&sealed, "c"),
            Err(SealError::UnknownKey(_))
        ));
        let both = Keyring::new(
            SecretKey::derive(K2).unwrap(),
            Some(SecretKey::derive(K1).unwrap()),
        );
        assert!(both.is_stale(&sealed));
        assert_eq!(both.open(&sealed, "c").unwrap(), b"semilla");
        let resealed = both.seal(b"semilla", [5; 12], "c");
        assert!(!both.is_stale(&resealed));
        assert_eq!(new_only.open(&resealed, "c").unwrap(), b"semilla");
    }

    #[test]
    fn short_keys_are_refused_and_ids_do_not_reveal_the_key() {
        assert_eq!(
            SecretKey::derive("corta").unwrap_err(),
            SealError::KeyTooShort
        );
        let k = SecretKey::derive(K1).unwrap();
        assert_eq!(k.id().len(), 8);
        assert!(!format!("{k:?}").contains("clave"));
        assert_eq!(k.id(), SecretKey::derive(K1).unwrap().id());
    }
}

//! Two-factor authentication by TOTP (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits — what
//! every authenticator app reads from an `otpauth://` QR code), the recovery codes that stand
//! in for a lost phone, and the QR code itself as an SVG path drawn by the server.
//!
//! Pure: secrets and codes come in as bytes and text; randomness and storage are the
//! service's.

use hmac::{Hmac, Mac};
use sha1::Sha1;

pub const STEP_SECS: i64 = 30;
pub const DIGITS: u32 = 6;
/// A code from one step before or after now is accepted (clock drift, slow typing).
pub const SKEW_STEPS: i64 = 1;
pub const SECRET_BYTES: usize = 20;
pub const RECOVERY_CODES: usize = 10;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (what `otpauth://` URIs carry).
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u64 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes base32, ignoring case, spaces and padding; `None` on any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buffer: u64 = 0;
    let mut bits = 0u32;
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let v = BASE32
            .iter()
            .position(|&x| x as char == c.to_ascii_uppercase())? as u64;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// The code for one time step (RFC 4226's dynamic truncation).
pub fn code_at(secret: &[u8], step: i64) -> u32 {
    let Ok(mut mac) = <Hmac<Sha1> as Mac>::new_from_slice(secret) else {
        return 0;
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let binary = (u32::from(digest[offset]) & 0x7f) << 24
        | u32::from(digest[offset + 1]) << 16
        | u32::from(digest[offset + 2]) << 8
        | u32::from(digest[offset + 3]);
    binary % 10u32.pow(DIGITS)
}

pub fn step_of(unix: i64) -> i64 {
    unix.div_euclid(STEP_SECS)
}

/// The code as the app shows it (six digits, leading zeros kept).
pub fn format_code(code: u32) -> String {
    format!("{code:06}")
}

/// The code for `unix` seconds, as text (what a test or a setup screen computes).
pub fn code_for(secret: &[u8], unix: i64) -> String {
    format_code(code_at(secret, step_of(unix)))
}

/// Checks a typed code against the steps around `now`. Returns the matched step, which must
/// be later than `last_used_step` (a code works once), or `None`.
pub fn verify(secret: &[u8], typed: &str, now: i64, last_used_step: Option<i64>) -> Option<i64> {
    let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() != DIGITS as usize || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = digits.parse().ok()?;
    let now_step = step_of(now);
    let mut found = None;
    // Check every candidate (no early exit), so timing does not tell which step matched.
    for step in (now_step - SKEW_STEPS)..=(now_step + SKEW_STEPS) {
        let ok = subtle_eq(code_at(secret, step), wanted);
        if ok && last_used_step.is_none_or(|last| step > last) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

fn subtle_eq(a: u32, b: u32) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.to_be_bytes().ct_eq(&b.to_be_bytes()))
}

fn uri_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `otpauth://` URI an authenticator app reads from the QR code.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        uri_escape(issuer),
        uri_escape(account),
        base32_encode(secret),
        uri_escape(issuer)
    )
}

/// The secret grouped by four characters, for typing it by hand.
pub fn grouped_secret(secret: &[u8]) -> String {
    base32_encode(secret)
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Letters and digits people do not confuse (no 0/o, 1/l/i).
const RECOVERY_ALPHABET: &[u8; 31] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A recovery code from 8 random bytes: `xxxx-xxxx-xxxx` (about 60 bits).
pub fn recovery_code(random: [u8; 8]) -> String {
    let mut n = u64::from_be_bytes(random);
    let mut chars = Vec::with_capacity(14);
    for i in 0..12 {
        if i > 0 && i % 4 == 0 {
            chars.push(b'-');
        }
        chars.push(RECOVERY_ALPHABET[(n % 31) as usize]);
        n /= 31;
    }
    String::from_utf8_lossy(&chars).into_owned()
}

/// A typed recovery code in the form it is hashed in (lower case, no spaces or dashes).
pub fn normalize_recovery_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Whether what was typed looks like a recovery code rather than a six-digit code.
pub fn looks_like_recovery_code(typed: &str) -> bool {
    normalize_recovery_code(typed).len() == 12
}

/// A QR code as one SVG path over a `size`×`size` grid of modules (quiet zone included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrPath {
    pub size: usize,
    pub path: String,
}

/// Draws `text` as a QR code (medium error correction). `None` if it does not fit.
pub fn qr_path(text: &str) -> Option<QrPath> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    let quiet = 4;
    let mut path = String::new();
    for y in 0..width {
        let mut x = 0;
        while x < width {
            if colors[y * width + x] == qrcode::Color::Dark {
                let start = x;
                while x < width && colors[y * width + x] == qrcode::Color::Dark {
                    x += 1;
                }
                path.push_str(&format!(
                    "M{} {}h{}v1h-{}z",
                    start + quiet,
                    y + quiet,
                    x - start,
                    x - start
                ));
            } else {
                x += 1;
            }
        }
    }
    Some(QrPath {
        size: width + 2 * quiet,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (8 digits there; the last 6 here).
    #[test]
    fn rfc_6238_vectors() {
        let secret = b"12345678901234567890";
        for (t, expected8) in [
            (59i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_for(secret, t), &expected8[2..], "t={t}");
        }
    }

    #[test]
    fn base32_round_trips_and_matches_rfc_4648() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("mzxw 6ytb oi======").unwrap(), b"foobar");
        assert!(base32_decode("1!").is_none());
        let secret: Vec<u8> = (0u8..20).collect();
        assert_eq!(base32_decode(&base32_encode(&secret)).unwrap(), secret);
    }

    #[test]
    fn a_code_works_within_one_step_and_only_once() {
        let secret = b"12345678901234567890";
        let now = 1_700_000_000;
        let code = code_for(secret, now);
        let step = verify(secret, &code, now, None).unwrap();
        assert_eq!(step, step_of(now));
        assert_eq!(verify(secret, &code, now + 30, None), Some(step));
        assert_eq!(verify(secret, &code, now + 90, None), None);
        assert_eq!(verify(secret, &code, now, Some(step)), None, "replay");
        assert_eq!(verify(secret, "12345", now, None), None);
        assert_eq!(verify(secret, "abcdef", now, None), None);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(verify(secret, &spaced, now, None).is_some());
    }

    #[test]
    fn the_uri_names_issuer_account_and_secret() {
        let uri = otpauth_uri("Soporte", "ana@miempresa.com", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/Soporte:ana@miempresa.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Soporte&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn recovery_codes_are_readable_and_normalize() {
        let c = recovery_code([1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(c.len(), 14);
        assert_eq!(c.matches('-').count(), 2);
        assert!(looks_like_recovery_code(&c.to_uppercase()));
        assert_eq!(
            normalize_recovery_code(&format!(" {} ", c.to_uppercase())),
            c.replace('-', "")
        );
        assert_ne!(c, recovery_code([8, 7, 6, 5, 4, 3, 2, 1]));
        assert!(!looks_like_recovery_code("123456"));
    }

    #[test]
    fn the_qr_code_is_a_square_path() {
        let qr = qr_path("otpauth://totp/Soporte:a@b.co?secret=ABC").unwrap();
        assert!(qr.size >= 21 + 8);
        assert!(qr.path.starts_with('M'));
        assert!(
            qr.path
                .chars()
                .all(|c| c.is_ascii_digit() || "Mhvz -".contains(c))
        );
    }
}

//! Raw e-mail bytes → `domain::mail::InboundMail`. Pure and total: any input — a malformed
//! MIME tree, binary garbage, a 30 MB message — gives a value (with `problem` set when it
//! could not be read), never a panic. Decoding is mail-parser's: encoded-word subjects,
//! quoted-printable and base64 bodies, charsets, RFC 2231 file names. Added here: the
//! windows-1252 fallback for raw 8-bit headers and bodies, the idempotency key, the
//! auto-reply signals and the size limits.

use crate::domain::mail::{Attachment, AutoSignals, InboundMail, MailLimits, Problem};
use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

/// How much of a too-large message is read to learn who sent it.
const HEAD_BYTES: usize = 256 * 1024;
/// Longest message id kept (the intake key has a prefix and the same cap as other keys).
const MAX_ID_CHARS: usize = 490;

/// Parses a raw message.
pub fn parse(raw: &[u8], limits: &MailLimits) -> InboundMail {
    let size = raw.len();
    if size > limits.max_message_bytes {
        return parse_too_large(raw, size);
    }
    let parsed = MessageParser::default().parse(raw);
    let mut mail = match &parsed {
        Some(m) if looks_like_mail(m) => read(m, limits, true),
        _ => InboundMail {
            problem: Some(Problem::Unreadable),
            ..InboundMail::default()
        },
    };
    mail.size = size;
    mail.key = key_for(mail.message_id.as_deref(), raw);
    mail
}

/// A message over the size limit: only its headers are read (from `raw`, which may be just
/// its header block, as an IMAP server sends it), to record who sent it and why it was held.
pub fn parse_too_large(raw: &[u8], size: usize) -> InboundMail {
    let head = &raw[..header_end(raw).unwrap_or(raw.len().min(HEAD_BYTES))];
    let mut mail = match MessageParser::default().parse_headers(head) {
        Some(m) => read(&m, &MailLimits::default(), false),
        None => InboundMail::default(),
    };
    mail.text.clear();
    mail.size = size;
    mail.problem = Some(Problem::TooLarge);
    mail.key = key_for(mail.message_id.as_deref(), raw);
    mail
}

/// Where the header block ends (after the blank line), within the first `HEAD_BYTES`.
fn header_end(raw: &[u8]) -> Option<usize> {
    let window = &raw[..raw.len().min(HEAD_BYTES)];
    let crlf = window
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4);
    let lf = window.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A message needs at least one header a mail has; random bytes get none.
fn looks_like_mail(m: &Message<'_>) -> bool {
    m.from().is_some() || m.subject().is_some() || m.message_id().is_some() || m.date().is_some()
}

/// The idempotency key: the Message-ID, or a hash of the bytes when there is none (a message
/// fetched twice hashes the same).
fn key_for(message_id: Option<&str>, raw: &[u8]) -> String {
    match message_id {
        Some(id) => format!("mid:{id}"),
        None => {
            let hash = Sha256::digest(raw);
            let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
            format!("sha:{hex}")
        }
    }
}

fn clean_id(id: &str) -> Option<String> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Some(id.chars().take(MAX_ID_CHARS).collect())
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let list: Vec<&str> = match value {
        HeaderValue::Text(t) => vec![t.as_ref()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.as_ref()).collect(),
        _ => Vec::new(),
    };
    list.into_iter()
        .flat_map(|t| t.split_whitespace())
        .filter_map(clean_id)
        .take(50)
        .collect()
}

fn raw_header(m: &Message<'_>, name: &str) -> Option<String> {
    m.header_raw(name)
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The raw bytes of a header's value in the message, if the parser kept its offsets.
fn header_bytes<'a>(m: &'a Message<'_>, name: &str) -> Option<&'a [u8]> {
    let h = m
        .headers()
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))?;
    m.raw_message()
        .get(h.offset_start() as usize..h.offset_end() as usize)
}

/// Decodes windows-1252 (a superset of ISO-8859-1 as mail clients use it).
pub fn decode_cp1252(bytes: &[u8]) -> String {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9f => HIGH[(b - 0x80) as usize],
            _ => char::from(b),
        })
        .collect()
}

/// A header decoded by the parser, or — when it was raw 8-bit text that is not UTF-8 and
/// came out with replacement characters — decoded as windows-1252.
fn text_header(m: &Message<'_>, name: &str, decoded: Option<&str>) -> Option<String> {
    let decoded = decoded?;
    if decoded.contains('\u{FFFD}')
        && let Some(bytes) = header_bytes(m, name)
        && std::str::from_utf8(bytes).is_err()
    {
        let text = decode_cp1252(bytes);
        return Some(text.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    Some(decoded.to_string())
}

fn read(m: &Message<'_>, limits: &MailLimits, with_body: bool) -> InboundMail {
    let from = m.from().and_then(|a| a.first());
    let sender = from
        .and_then(|a| a.address())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let sender_name = from
        .and_then(|a| a.name())
        .and_then(|n| text_header(m, "From", Some(n)))
        .filter(|s| !s.is_empty());
    let subject = text_header(m, "Subject", m.subject()).unwrap_or_default();
    let signals = AutoSignals {
        auto_submitted: raw_header(m, "Auto-Submitted"),
        x_autoreply: raw_header(m, "X-Autoreply"),
        x_autorespond: raw_header(m, "X-Autorespond"),
        x_auto_response_suppress: raw_header(m, "X-Auto-Response-Suppress"),
        precedence: raw_header(m, "Precedence"),
        null_return_path: raw_header(m, "Return-Path").is_some_and(|v| v.replace(' ', "") == "<>"),
        delivery_report: m.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        }),
    };
    let (text, attachments) = if with_body {
        (body_text(m), attachments(m, limits))
    } else {
        (String::new(), Vec::new())
    };
    InboundMail {
        key: String::new(),
        message_id: m.message_id().and_then(clean_id),
        sender,
        sender_name,
        subject,
        text,
        in_reply_to: ids(m.in_reply_to()),
        references: ids(m.references()),
        signals,
        attachments,
        size: 0,
        problem: None,
    }
}

/// The readable text: every text body (text/plain chosen from multipart/alternative; an
/// HTML-only message turned into text by the parser), joined.
fn body_text(m: &Message<'_>) -> String {
    let mut parts = Vec::new();
    for i in 0..m.text_body_count() {
        let Some(text) = m.body_text(i) else { continue };
        let mut text = text.into_owned();
        if text.contains('\u{FFFD}')
            && let Some(part) = m.text_part(i as u32)
            && matches!(part.body, PartType::Text(_))
            && let Some(raw) = m
                .raw_message()
                .get(part.offset_body as usize..part.offset_end as usize)
            && std::str::from_utf8(raw).is_err()
            && part
                .content_transfer_encoding()
                .is_none_or(|e| e.eq_ignore_ascii_case("8bit") || e.eq_ignore_ascii_case("7bit"))
        {
            text = decode_cp1252(raw);
        }
        let text = text.replace("\r\n", "\n");
        if !text.trim().is_empty() {
            parts.push(text.trim().to_string());
        }
    }
    parts.join("\n\n")
}

fn attachments(m: &Message<'_>, limits: &MailLimits) -> Vec<Attachment> {
    m.attachments()
        .take(100)
        .enumerate()
        .map(|(i, part)| {
            let content_type = part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".to_string())
                .to_ascii_lowercase();
            let default_name = match &part.body {
                PartType::Message(_) => format!("mensaje-{}.eml", i + 1),
                _ => format!("adjunto-{}", i + 1),
            };
            let filename = part
                .attachment_name()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .unwrap_or(default_name);
            let contents = part.contents();
            Attachment {
                filename: crate::domain::mail::safe_filename(&filename),
                content_type,
                size: contents.len(),
                data: (contents.len() <= limits.max_attachment_bytes).then(|| contents.to_vec()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> Vec<u8> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/mail")
            .join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn parsed(name: &str) -> InboundMail {
        parse(&fixture(name), &MailLimits::default())
    }

    #[test]
    fn plain_utf8_message() {
        let m = parsed("plain.eml");
        assert_eq!(m.sender.as_deref(), Some("cliente@dominio.com"));
        assert_eq!(m.sender_name.as_deref(), Some("Cliente Pérez"));
        assert_eq!(m.subject, "Problema de red en el 3.er piso");
        assert!(m.text.contains("No hay conexión"), "{}", m.text);
        assert_eq!(m.message_id.as_deref(), Some("plain-1@dominio.com"));
        assert_eq!(m.key, "mid:plain-1@dominio.com");
        assert_eq!(m.problem, None);
        assert_eq!(crate::domain::mail::classify(&m), None);
    }

    #[test]
    fn encoded_word_subjects_in_utf8_and_latin1() {
        assert_eq!(
            parsed("encoded-utf8.eml").subject,
            "Cámara no enciende — urgente"
        );
        let latin = parsed("encoded-latin1.eml");
        assert_eq!(latin.subject, "Impresión atascada en Logística");
        assert_eq!(latin.sender_name.as_deref(), Some("José Núñez"));
    }

    #[test]
    fn quoted_printable_and_base64_bodies() {
        let qp = parsed("quoted-printable.eml");
        assert!(
            qp.text
                .contains("La contraseña caducó y no puedo ingresar."),
            "{}",
            qp.text
        );
        let b64 = parsed("base64.eml");
        assert!(
            b64.text.contains("El monitor parpadea desde ayer."),
            "{}",
            b64.text
        );
    }

    #[test]
    fn text_plain_is_chosen_from_alternative_and_html_alone_becomes_text() {
        let alt = parsed("alternative.eml");
        assert!(alt.text.contains("Versión en texto"), "{}", alt.text);
        assert!(!alt.text.contains("Versión HTML"), "{}", alt.text);
        let html = parsed("html-only.eml");
        assert!(
            html.text.contains("El correo no sincroniza"),
            "{}",
            html.text
        );
        assert!(
            !html.text.contains("<p>") && !html.text.contains("<b>"),
            "{}",
            html.text
        );
    }

    #[test]
    fn attachments_are_kept_and_oversized_ones_only_recorded() {
        let m = parsed("attachment.eml");
        assert_eq!(m.attachments.len(), 2);
        let pdf = &m.attachments[0];
        assert_eq!(pdf.filename, "informe técnico.pdf");
        assert_eq!(pdf.content_type, "application/pdf");
        assert_eq!(pdf.data.as_deref(), Some(&b"%PDF-1.4 prueba"[..]));
        let small = parse(
            &fixture("attachment.eml"),
            &MailLimits {
                max_attachment_bytes: 4,
                ..MailLimits::default()
            },
        );
        assert!(
            small
                .attachments
                .iter()
                .all(|a| a.data.is_none() && a.size > 4)
        );
    }

    #[test]
    fn threading_headers_are_read() {
        let m = parsed("reply.eml");
        assert_eq!(
            m.in_reply_to,
            vec!["soporte.abc123@miempresa.com".to_string()]
        );
        assert_eq!(
            m.references,
            vec![
                "first@dominio.com".to_string(),
                "soporte.abc123@miempresa.com".to_string()
            ]
        );
    }

    #[test]
    fn auto_replies_and_bounces_are_classified() {
        for (name, code) in [
            ("autoreply.eml", "auto_submitted"),
            ("x-autoreply.eml", "autoreply"),
            ("outlook-oof.eml", "auto_response_suppress"),
            ("bulk.eml", "bulk"),
            ("bounce.eml", "mailer_daemon"),
        ] {
            let m = parsed(name);
            assert_eq!(
                crate::domain::mail::classify(&m).map(|h| h.code),
                Some(code),
                "{name}"
            );
        }
    }

    #[test]
    fn raw_latin1_headers_and_body_fall_back_to_windows_1252() {
        let m = parsed("raw-latin1.eml");
        assert_eq!(m.subject, "Teléfono sin línea");
        assert!(
            m.text
                .contains("El anexo 204 no da tono, ¿pueden revisarlo?"),
            "{}",
            m.text
        );
    }

    #[test]
    fn garbage_is_unreadable_and_keyed_by_its_hash() {
        let m = parse(&[0u8, 159, 146, 150, 255, 0, 1, 2], &MailLimits::default());
        assert_eq!(m.problem, Some(Problem::Unreadable));
        assert!(m.key.starts_with("sha:") && m.key.len() == 68);
        let empty = parse(b"", &MailLimits::default());
        assert_eq!(empty.problem, Some(Problem::Unreadable));
    }

    #[test]
    fn a_message_over_the_limit_keeps_only_its_headers() {
        let mut raw = fixture("plain.eml");
        raw.extend(std::iter::repeat_n(b'x', 30 * 1024 * 1024));
        let m = parse(&raw, &MailLimits::default());
        assert_eq!(m.problem, Some(Problem::TooLarge));
        assert_eq!(m.sender.as_deref(), Some("cliente@dominio.com"));
        assert_eq!(m.key, "mid:plain-1@dominio.com");
        assert!(m.text.is_empty() && m.attachments.is_empty());
    }

    /// A tiny deterministic generator (xorshift), so the fuzz loop needs no dependency and
    /// reproduces exactly.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    const PIECES: &[&[u8]] = &[
        b"\r\n",
        b"\n\n",
        b"--",
        b"Content-Type: multipart/mixed; boundary=\"b\"\r\n",
        b"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"=?utf-8?B?w6E=?=",
        b"=?iso-8859-1?Q?=E1?=",
        b"=?",
        b"?=",
        b"=\r\n",
        b"=FF",
        b"\xff\xfe\x00",
        b"Subject: ",
        b"From: <",
        b"Message-ID: <x@y>\r\n",
        b"References: <a@b> <c@d>\r\n",
        b"Content-Disposition: attachment; filename*=utf-8''%C3%B1.txt\r\n",
        b"\r\n--b--\r\n",
        b"Content-Type: message/rfc822\r\n\r\n",
    ];

    /// The fuzz target: thousands of generated inputs (fixtures mutated by byte flips,
    /// truncations, splices of MIME syntax, and pure noise) through the parsing entry point.
    /// Passing means: no panic, and every result has a key and a coherent size.
    #[test]
    fn fuzz_parse_never_panics() {
        let names = [
            "plain.eml",
            "encoded-utf8.eml",
            "encoded-latin1.eml",
            "quoted-printable.eml",
            "base64.eml",
            "alternative.eml",
            "html-only.eml",
            "attachment.eml",
            "reply.eml",
            "bounce.eml",
            "raw-latin1.eml",
            "malformed.eml",
        ];
        let corpus: Vec<Vec<u8>> = names.iter().map(|n| fixture(n)).collect();
        let iterations: usize = std::env::var("SOPORTE_FUZZ_ITERATIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000);
        let limits = MailLimits {
            max_message_bytes: 64 * 1024,
            max_attachment_bytes: 512,
        };
        let mut rng = Rng(0x5eed_cafe_f00d_1234);
        for i in 0..iterations {
            let mut input = corpus[rng.below(corpus.len())].clone();
            for _ in 0..=rng.below(8) {
                match rng.below(6) {
                    0 if !input.is_empty() => {
                        let at = rng.below(input.len());
                        input[at] = rng.next() as u8;
                    }
                    1 => {
                        let at = rng.below(input.len() + 1);
                        input.truncate(at);
                    }
                    2 => {
                        let at = rng.below(input.len() + 1);
                        let piece = PIECES[rng.below(PIECES.len())];
                        input.splice(at..at, piece.iter().copied());
                    }
                    3 => {
                        let n = rng.below(64);
                        input.extend((0..n).map(|_| rng.next() as u8));
                    }
                    4 => {
                        let at = rng.below(input.len() + 1);
                        let copy = input[..at].to_vec();
                        input.extend(copy);
                    }
                    _ => {
                        input = (0..rng.below(512)).map(|_| rng.next() as u8).collect();
                    }
                }
            }
            let m = parse(&input, &limits);
            assert!(
                m.key.starts_with("mid:") || m.key.starts_with("sha:"),
                "input {i}"
            );
            assert_eq!(m.size, input.len(), "input {i}");
            let _ = crate::domain::mail::classify(&m);
        }
    }
}

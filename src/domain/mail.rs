//! The mail channel's rules, free of I/O: what an incoming message is (`InboundMail`), whether
//! it was written by a person (loop protection), which ticket it belongs to (threading), how
//! a customer's text is fitted into a ticket, and how often a notice may be sent or retried.
//! Parsing bytes is `mail::parse`'s job; storing is `storage::mail`'s.

use super::ids::{TicketId, TicketNumber};
use super::ticket::{MAX_BODY_BYTES, MAX_SUBJECT_CHARS};
use serde::{Deserialize, Serialize};

/// Size limits for incoming mail (configurable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailLimits {
    /// Larger messages are kept in quarantine (their first bytes) instead of becoming tickets.
    pub max_message_bytes: usize,
    /// Larger attachments are recorded (name, type, size) without their content.
    pub max_attachment_bytes: usize,
}

pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 25 * 1024 * 1024;
pub const DEFAULT_MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
/// Automatic messages one address may receive in 24 hours.
pub const DEFAULT_DAILY_LIMIT: i64 = 20;

impl Default for MailLimits {
    fn default() -> Self {
        MailLimits {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_attachment_bytes: DEFAULT_MAX_ATTACHMENT_BYTES,
        }
    }
}

/// The headers that tell a person's message from a machine's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutoSignals {
    pub auto_submitted: Option<String>,
    pub x_autoreply: Option<String>,
    pub x_autorespond: Option<String>,
    pub x_auto_response_suppress: Option<String>,
    pub precedence: Option<String>,
    /// `Return-Path: <>`: the null sender of bounces and other automatic replies.
    pub null_return_path: bool,
    /// `Content-Type: multipart/report` (delivery status notifications).
    pub delivery_report: bool,
}

/// A file that came with a message. `data` is `None` when it was over the size limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub size: usize,
    pub data: Option<Vec<u8>>,
}

/// Why a message could not be read as a person's message at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    TooLarge,
    Unreadable,
}

/// An incoming message, decoded. Built by `mail::parse` from the raw bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboundMail {
    /// Idempotency key: `mid:<Message-ID>`, or `sha:<hash of the bytes>` when there is none.
    pub key: String,
    pub message_id: Option<String>,
    /// The From address as written (not yet validated).
    pub sender: Option<String>,
    pub sender_name: Option<String>,
    pub subject: String,
    /// The readable text: text/plain, or the HTML turned into text.
    pub text: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub signals: AutoSignals,
    pub attachments: Vec<Attachment>,
    /// Size of the raw message in bytes.
    pub size: usize,
    pub problem: Option<Problem>,
}

/// Why a message goes to quarantine: a stable code and the Spanish reason people read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub code: &'static str,
    pub reason: String,
}

impl Hold {
    fn new(code: &'static str, reason: impl Into<String>) -> Hold {
        Hold {
            code,
            reason: reason.into(),
        }
    }

    /// The message itself could not be read (as opposed to a machine's well-formed message).
    pub fn is_unreadable(&self) -> bool {
        is_unreadable_code(self.code)
    }
}

/// Whether a quarantine reason means the message could not be read (rather than that a
/// machine wrote it).
pub fn is_unreadable_code(code: &str) -> bool {
    matches!(code, "unreadable" | "no_sender" | "too_large")
}

fn lower(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
}

/// Loop protection: auto-replies, bulk mail and bounces are held, never answered, never
/// turned into tickets by themselves. `None` means a person wrote it.
pub fn classify(mail: &InboundMail) -> Option<Hold> {
    match mail.problem {
        Some(Problem::TooLarge) => {
            return Some(Hold::new(
                "too_large",
                format!(
                    "El mensaje ({}) supera el tamaño máximo permitido.",
                    human_size(mail.size)
                ),
            ));
        }
        Some(Problem::Unreadable) => {
            return Some(Hold::new(
                "unreadable",
                "El mensaje no tiene un formato de correo legible.",
            ));
        }
        None => {}
    }
    let s = &mail.signals;
    if let Some(v) = lower(&s.auto_submitted)
        && v != "no"
    {
        return Some(Hold::new(
            "auto_submitted",
            format!("Respuesta automática (Auto-Submitted: {v})."),
        ));
    }
    if s.x_autoreply.is_some() || s.x_autorespond.is_some() {
        return Some(Hold::new(
            "autoreply",
            "Respuesta automática (X-Autoreply).",
        ));
    }
    if let Some(v) = lower(&s.x_auto_response_suppress) {
        return Some(Hold::new(
            "auto_response_suppress",
            format!("Mensaje automático (X-Auto-Response-Suppress: {v})."),
        ));
    }
    if let Some(v) = lower(&s.precedence)
        && matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply")
    {
        return Some(Hold::new(
            "bulk",
            format!("Correo masivo o de lista (Precedence: {v})."),
        ));
    }
    let sender = lower(&mail.sender).unwrap_or_default();
    let local = sender.split('@').next().unwrap_or("");
    if matches!(local, "mailer-daemon" | "postmaster") || s.delivery_report {
        return Some(Hold::new(
            "mailer_daemon",
            "Aviso de entrega del servidor de correo (rebote).",
        ));
    }
    if s.null_return_path {
        return Some(Hold::new(
            "null_sender",
            "Mensaje automático (remitente de sobre vacío).",
        ));
    }
    if super::user::Email::parse(&sender).is_err() {
        return Some(Hold::new(
            "no_sender",
            "El mensaje no tiene un remitente válido (From).",
        ));
    }
    None
}

/// "2,5 MB" for people.
pub fn human_size(bytes: usize) -> String {
    const KB: f64 = 1024.0;
    let b = bytes as f64;
    if b >= KB * KB {
        format!("{:.1} MB", b / (KB * KB)).replace('.', ",")
    } else if b >= KB {
        format!("{:.0} KB", b / KB)
    } else {
        format!("{bytes} B")
    }
}

/// Which header of an incoming message named one of a ticket's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    InReplyTo,
    References,
}

/// What storage found for the threading decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadClues {
    /// A ticket one of whose messages the In-Reply-To/References name, with the header and id.
    pub by_header: Option<(TicketId, Header, String)>,
    /// The ticket number in the subject, if that ticket exists, and who takes part in it
    /// (its requester and every address that wrote into it).
    pub by_subject: Option<(TicketNumber, Vec<String>)>,
}

/// Where an incoming message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Thread {
    /// Into this ticket's timeline as the customer's message.
    Reply {
        ticket: TicketId,
        matched_by: String,
    },
    /// A new ticket, linked to one the sender named but does not take part in.
    Linked { to: TicketId, reason: String },
    /// A new ticket.
    New,
}

/// The threading rules: a header naming one of a ticket's messages wins (a message id is not
/// guessed); otherwise the ticket number in the subject, but only from someone on that
/// ticket — a stranger's tag opens a new ticket linked to it instead of writing into someone
/// else's.
pub fn thread(sender: &str, clues: &ThreadClues) -> Thread {
    if let Some((ticket, header, id)) = &clues.by_header {
        let name = match header {
            Header::InReplyTo => "In-Reply-To",
            Header::References => "References",
        };
        return Thread::Reply {
            ticket: *ticket,
            matched_by: format!("{name}: <{id}>"),
        };
    }
    if let Some((number, participants)) = &clues.by_subject {
        let sender = sender.trim().to_lowercase();
        if participants
            .iter()
            .any(|p| p.trim().to_lowercase() == sender)
        {
            return Thread::Reply {
                ticket: number.0,
                matched_by: format!("Asunto: {number}"),
            };
        }
        return Thread::Linked {
            to: number.0,
            reason: format!(
                "El remitente {sender} no participa en {number}: se abrió una incidencia nueva relacionada."
            ),
        };
    }
    Thread::New
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

const TRIMMED_NOTE: &str = "\n\n[… mensaje recortado: superaba los 100 KB]";

/// A customer's text as a ticket holds it: at most 100 KB, with a note when it was cut.
pub fn fit_body(text: &str) -> String {
    let text = text.trim();
    if text.len() <= MAX_BODY_BYTES {
        return text.to_string();
    }
    let mut out = cut(text, MAX_BODY_BYTES - TRIMMED_NOTE.len()).to_string();
    out.push_str(TRIMMED_NOTE);
    out
}

/// A subject a ticket can hold: one line, at most 255 characters, never empty.
pub fn fit_subject(subject: &str) -> String {
    let clean: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    if clean.is_empty() {
        return "(sin asunto)".to_string();
    }
    clean.chars().take(MAX_SUBJECT_CHARS).collect()
}

/// A reply without the quoted history below it ("> …", "El … escribió:", "-----Original
/// Message-----"), so the timeline shows what the customer added. Falls back to the whole
/// text when nothing would be left.
pub fn strip_quoted(text: &str) -> String {
    let mut kept = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        let lower = t.to_lowercase();
        let starts_history = (lower.starts_with("el ") && lower.ends_with("escribió:"))
            || (lower.starts_with("on ") && lower.ends_with("wrote:"))
            || lower.starts_with("-----original message-----")
            || lower.starts_with("-----mensaje original-----")
            || (lower.starts_with("de:") && kept.iter().any(|l: &&str| l.trim().is_empty()));
        if starts_history && !kept.is_empty() {
            break;
        }
        if t.starts_with('>') {
            continue;
        }
        kept.push(line);
    }
    let out = kept.join("\n").trim().to_string();
    if out.is_empty() {
        text.trim().to_string()
    } else {
        out
    }
}

/// The notices the help-desk sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// To the sender: we received your message, here is its number.
    Acknowledgement,
    /// To the technician: a ticket was assigned to you.
    Assigned,
    /// To the sender: your ticket was closed.
    Closed,
    /// To the sender: a staff member's public reply, with its files.
    Reply,
    /// To the sender: we are still waiting for your answer.
    Reminder,
    /// To the assignee (the dispatchers while nobody has it): a service-level target is near.
    SlaWarning,
    /// To the dispatchers: a service-level target was missed.
    SlaBreach,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Acknowledgement => "ack",
            NoticeKind::Assigned => "assigned",
            NoticeKind::Closed => "closed",
            NoticeKind::Reply => "reply",
            NoticeKind::Reminder => "reminder",
            NoticeKind::SlaWarning => "sla_warning",
            NoticeKind::SlaBreach => "sla_breach",
        }
    }

    pub fn parse(s: &str) -> Option<NoticeKind> {
        match s {
            "ack" => Some(NoticeKind::Acknowledgement),
            "assigned" => Some(NoticeKind::Assigned),
            "closed" => Some(NoticeKind::Closed),
            "reply" => Some(NoticeKind::Reply),
            "reminder" => Some(NoticeKind::Reminder),
            "sla_warning" => Some(NoticeKind::SlaWarning),
            "sla_breach" => Some(NoticeKind::SlaBreach),
            _ => None,
        }
    }
}

/// What a notice's templates show, captured when its event happens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeParams {
    pub number: String,
    pub subject: String,
    pub requester: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub technician: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// A public reply's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The reply waits for the requester's answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait: bool,
    /// The ticket's id (links to its page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<i64>,
    /// The event the notice is about: its files go with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<i64>,
    /// The requester's status-page token (kept only until the notice is sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_token: Option<String>,
    /// Service-level notices: the target's name, the due time (Lima, `dd/mm/aaaa HH:MM`) and
    /// the priority's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
}

/// A notice about to be written to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotice {
    pub kind: NoticeKind,
    pub ticket: TicketId,
    pub recipient: String,
    pub params: NoticeParams,
    /// The Message-ID's left part (`<token@domain>`), unique.
    pub token: String,
    /// Message ids (without angle brackets) this notice answers.
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
}

/// A notice in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: i64,
    pub kind: NoticeKind,
    pub ticket: TicketId,
    pub recipient: String,
    pub params: NoticeParams,
    pub token: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// Seconds to wait before the next try after `attempts` failed ones: doubling from `base`,
/// at most an hour. A server that is down only delays notices, never drops them.
pub fn retry_delay(attempts: i64, base: i64) -> i64 {
    let base = base.max(1);
    let exp = attempts.clamp(1, 20) - 1;
    base.saturating_mul(1i64 << exp).min(3600)
}

/// Whether another automatic message may go to an address that got `sent_last_day` of them
/// in the last 24 hours: a cap, so two auto-responders can never ping-pong.
pub fn within_daily_limit(sent_last_day: i64, limit: i64) -> bool {
    sent_last_day < limit
}

/// A message held in quarantine, as the administrator reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    pub id: i64,
    pub received_at: i64,
    pub sender: String,
    pub subject: String,
    pub reason_code: String,
    pub reason: String,
    pub size: i64,
    pub ticket: Option<TicketId>,
    pub released_at: Option<i64>,
}

/// An attachment's record (without its bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentInfo {
    pub id: i64,
    pub ticket: TicketId,
    /// The message it came with (older files: none).
    pub event: Option<i64>,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    /// False when the file was over the size limit and only its record was kept.
    pub stored: bool,
    pub created_at: i64,
}

/// Another ticket this one is related to, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketLink {
    pub other: TicketId,
    pub reason: String,
}

/// A file name safe to offer for download: no path, no control characters, not empty.
pub fn safe_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | ';'))
        .take(150)
        .collect();
    let clean = clean.trim().trim_start_matches('.').to_string();
    if clean.is_empty() {
        "adjunto".to_string()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(sender: &str) -> InboundMail {
        InboundMail {
            sender: Some(sender.to_string()),
            ..InboundMail::default()
        }
    }

    #[test]
    fn a_person_is_not_held() {
        assert_eq!(classify(&person("cliente@dominio.com")), None);
        let mut m = person("cliente@dominio.com");
        m.signals.auto_submitted = Some("no".into());
        assert_eq!(classify(&m), None);
    }

    #[test]
    fn machines_are_held_with_a_reason() {
        type Case = (fn(&mut AutoSignals), &'static str);
        let cases: Vec<Case> = vec![
            (
                |s| s.auto_submitted = Some("auto-replied".into()),
                "auto_submitted",
            ),
            (|s| s.x_autoreply = Some("yes".into()), "autoreply"),
            (
                |s| s.x_auto_response_suppress = Some("All".into()),
                "auto_response_suppress",
            ),
            (|s| s.precedence = Some("Bulk".into()), "bulk"),
            (|s| s.precedence = Some("junk".into()), "bulk"),
            (|s| s.precedence = Some("list".into()), "bulk"),
            (|s| s.delivery_report = true, "mailer_daemon"),
            (|s| s.null_return_path = true, "null_sender"),
        ];
        for (set, code) in cases {
            let mut m = person("cliente@dominio.com");
            set(&mut m.signals);
            assert_eq!(classify(&m).map(|h| h.code), Some(code));
        }
        assert_eq!(
            classify(&person("MAILER-DAEMON@mx.dominio.com")).map(|h| h.code),
            Some("mailer_daemon")
        );
        assert_eq!(
            classify(&person("no es correo")).map(|h| h.code),
            Some("no_sender")
        );
        let mut big = person("a@b.com");
        big.problem = Some(Problem::TooLarge);
        big.size = 30 * 1024 * 1024;
        let h = classify(&big).unwrap();
        assert!(
            h.is_unreadable() && h.reason.contains("30,0 MB"),
            "{}",
            h.reason
        );
    }

    #[test]
    fn a_header_match_wins_and_a_strangers_tag_opens_a_linked_ticket() {
        let clues = ThreadClues {
            by_header: Some((TicketId(5), Header::InReplyTo, "abc@x".into())),
            by_subject: Some((TicketNumber(TicketId(9)), vec!["otro@x.com".into()])),
        };
        assert_eq!(
            thread("c@d.com", &clues),
            Thread::Reply {
                ticket: TicketId(5),
                matched_by: "In-Reply-To: <abc@x>".into()
            }
        );
        let tag = |who: &str| ThreadClues {
            by_header: None,
            by_subject: Some((TicketNumber(TicketId(9)), vec![who.to_string()])),
        };
        assert_eq!(
            thread("C@D.com", &tag("c@d.com")),
            Thread::Reply {
                ticket: TicketId(9),
                matched_by: "Asunto: INC-000009".into()
            }
        );
        assert!(matches!(
            thread("intruso@x.com", &tag("c@d.com")),
            Thread::Linked {
                to: TicketId(9),
                ..
            }
        ));
        assert_eq!(thread("c@d.com", &ThreadClues::default()), Thread::New);
    }

    #[test]
    fn bodies_and_subjects_are_fitted() {
        let long = "ñ".repeat(MAX_BODY_BYTES);
        let fitted = fit_body(&long);
        assert!(fitted.len() <= MAX_BODY_BYTES && fitted.ends_with("100 KB]"));
        assert_eq!(fit_subject("  \r\n "), "(sin asunto)");
        assert_eq!(fit_subject("Hola\r\n mundo"), "Hola mundo");
        assert_eq!(fit_subject(&"a".repeat(300)).chars().count(), 255);
    }

    #[test]
    fn quoted_history_is_dropped_from_replies() {
        let reply = "Sigue sin funcionar.\n\nEl lun, 3 mar 2025 a las 10:00, Soporte escribió:\n> Cerramos su incidencia.";
        assert_eq!(strip_quoted(reply), "Sigue sin funcionar.");
        assert_eq!(strip_quoted("> solo citas"), "> solo citas");
    }

    #[test]
    fn retries_back_off_up_to_an_hour_and_the_daily_limit_holds() {
        assert_eq!(retry_delay(1, 30), 30);
        assert_eq!(retry_delay(2, 30), 60);
        assert_eq!(retry_delay(50, 30), 3600);
        assert!(within_daily_limit(19, 20));
        assert!(!within_daily_limit(20, 20));
    }

    #[test]
    fn download_names_are_safe() {
        assert_eq!(safe_filename("../../etc/passwd"), "passwd");
        assert_eq!(
            safe_filename("C:\\x\\informe \"final\".pdf"),
            "informe final.pdf"
        );
        assert_eq!(safe_filename(""), "adjunto");
        assert_eq!(safe_filename(".htaccess"), "htaccess");
    }
}

//! Chat notices: which timeline events become which notice (new ticket, assigned, SLA warning,
//! SLA breach), who receives them (every channel that asked for the kind; "assigned" also to
//! the channel of the technician it went to), what each kind of channel is sent (Microsoft
//! Teams' Workflows webhook, a Telegram bot, a Slack-compatible webhook, a generic signed
//! webhook), the signature of the generic webhook, and which URLs are acceptable.
//!
//! Pure: the feed job and the sender are `service::notify`'s.

use super::ids::UserId;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

/// What a channel can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeEvent {
    New,
    Assigned,
    SlaWarning,
    SlaBreach,
}

impl NoticeEvent {
    pub const ALL: [NoticeEvent; 4] = [
        NoticeEvent::New,
        NoticeEvent::Assigned,
        NoticeEvent::SlaWarning,
        NoticeEvent::SlaBreach,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeEvent::New => "new",
            NoticeEvent::Assigned => "assigned",
            NoticeEvent::SlaWarning => "sla_warning",
            NoticeEvent::SlaBreach => "sla_breach",
        }
    }

    pub fn parse(s: &str) -> Option<NoticeEvent> {
        NoticeEvent::ALL
            .into_iter()
            .find(|e| e.as_str() == s.trim())
    }

    pub fn label(self) -> &'static str {
        match self {
            NoticeEvent::New => "Incidencia nueva",
            NoticeEvent::Assigned => "Incidencia derivada",
            NoticeEvent::SlaWarning => "SLA por vencer",
            NoticeEvent::SlaBreach => "SLA vencido",
        }
    }

    /// The notice a timeline event kind gives, if any. `sla_warning` / `sla_breach` are the
    /// names the SLA work writes to the timeline.
    pub fn from_event_kind(kind: &str) -> Option<NoticeEvent> {
        Some(match kind {
            "created" => NoticeEvent::New,
            "assigned" | "reassigned" => NoticeEvent::Assigned,
            "sla_warning" => NoticeEvent::SlaWarning,
            "sla_breach" => NoticeEvent::SlaBreach,
            _ => return None,
        })
    }
}

/// Parses a list of event names; refuses unknown ones and an empty list.
pub fn parse_events<S: AsRef<str>>(names: &[S]) -> Result<Vec<NoticeEvent>, String> {
    let mut out = Vec::new();
    for n in names {
        match NoticeEvent::parse(n.as_ref()) {
            Some(e) if !out.contains(&e) => out.push(e),
            Some(_) => {}
            None => {
                return Err(format!(
                    "El evento «{}» no existe; use new, assigned, sla_warning o sla_breach.",
                    n.as_ref().chars().take(40).collect::<String>()
                ));
            }
        }
    }
    if out.is_empty() {
        return Err("Elija al menos un evento.".to_string());
    }
    Ok(out)
}

pub fn events_to_text(events: &[NoticeEvent]) -> String {
    events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub fn events_from_text(text: &str) -> Vec<NoticeEvent> {
    text.split(',').filter_map(NoticeEvent::parse).collect()
}

/// Where a channel delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Teams,
    Telegram,
    Slack,
    Webhook,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 4] = [
        ChannelKind::Teams,
        ChannelKind::Telegram,
        ChannelKind::Slack,
        ChannelKind::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Teams => "teams",
            ChannelKind::Telegram => "telegram",
            ChannelKind::Slack => "slack",
            ChannelKind::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<ChannelKind> {
        ChannelKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
    }

    pub fn label(self) -> &'static str {
        match self {
            ChannelKind::Teams => "Microsoft Teams (flujo de trabajo)",
            ChannelKind::Telegram => "Telegram (bot)",
            ChannelKind::Slack => "Slack o compatible",
            ChannelKind::Webhook => "Webhook genérico firmado",
        }
    }
}

/// A ticket event worth a notice, as the feed reads it from the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketNotice {
    pub event: NoticeEvent,
    /// The timeline event's id (`None` for "Enviar prueba").
    pub event_id: Option<i64>,
    pub ticket_id: i64,
    pub number: String,
    pub subject: String,
    pub status: String,
    pub requester: String,
    /// For "assigned": whom it went to.
    pub assignee: Option<(UserId, String)>,
    pub at: i64,
    /// Link to the ticket's page.
    pub url: String,
}

/// A channel as the feed sees it (no secrets needed to decide).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub channel_id: i64,
    pub events: Vec<NoticeEvent>,
    /// A technician's own channel: it receives only what concerns them.
    pub owner: Option<UserId>,
    pub active: bool,
}

/// Whether a channel receives a notice: it asked for the kind, and a technician's own
/// channel gets only what was assigned to that technician.
pub fn wants(sub: &Subscription, notice: &TicketNotice) -> bool {
    if !sub.active || !sub.events.contains(&notice.event) {
        return false;
    }
    match sub.owner {
        None => true,
        Some(owner) => notice.assignee.as_ref().is_some_and(|(id, _)| *id == owner),
    }
}

/// One line a person reads: "INC-000123 · Incidencia nueva: Impresora atascada".
pub fn headline(n: &TicketNotice) -> String {
    let mut s = format!("{} · {}: {}", n.number, n.event.label(), n.subject);
    if let (NoticeEvent::Assigned, Some((_, name))) = (n.event, &n.assignee) {
        s.push_str(&format!(" (para {name})"));
    }
    s
}

fn iso(at: i64) -> String {
    super::time::format_rfc3339(at)
}

/// The generic webhook's JSON body (documented in docs/API.md).
pub fn webhook_body(n: &TicketNotice) -> Value {
    json!({
        "event": n.event.as_str(),
        "event_id": n.event_id,
        "at": iso(n.at),
        "ticket": {
            "id": n.ticket_id,
            "number": n.number,
            "subject": n.subject,
            "status": n.status,
            "requester": n.requester,
            "assignee": n.assignee.as_ref().map(|(id, name)| json!({"id": id.0, "name": name})),
            "url": n.url,
        },
        "text": headline(n),
    })
}

/// Slack's (and Mattermost's, Rocket.Chat's, Google Chat's) incoming-webhook body.
pub fn slack_body(n: &TicketNotice) -> Value {
    json!({ "text": format!("{}\n{}", headline(n), n.url) })
}

/// A Teams Workflows ("When a Teams webhook request is received") body: an Adaptive Card.
pub fn teams_body(n: &TicketNotice) -> Value {
    let mut facts = vec![
        json!({"title": "Estado", "value": n.status}),
        json!({"title": "Solicitante", "value": n.requester}),
    ];
    if let Some((_, name)) = &n.assignee {
        facts.push(json!({"title": "Técnico", "value": name}));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
                     "text": format!("{} · {}", n.number, n.event.label())},
                    {"type": "TextBlock", "wrap": true, "text": n.subject},
                    {"type": "FactSet", "facts": facts}
                ],
                "actions": [{"type": "Action.OpenUrl", "title": "Ver incidencia", "url": n.url}]
            }
        }]
    })
}

/// Telegram's `sendMessage` body (plain text: nothing to escape, nothing to inject).
pub fn telegram_body(chat_id: &str, n: &TicketNotice) -> Value {
    json!({
        "chat_id": chat_id,
        "text": format!("{}\n{}", headline(n), n.url),
        "disable_web_page_preview": true,
    })
}

/// `X-Soporte-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", signature_hex(secret, t, body))
}

fn signature_hex(secret: &str, t: i64, body: &[u8]) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a receiver does (docs/API.md shows the same in Python): read `t` and every `v1`,
/// recompute, compare in constant time, refuse stale timestamps (replays).
pub fn verify_signature(
    header: &str,
    secret: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> bool {
    let mut t = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => candidates.push(v.to_string()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (now - t).abs() > tolerance_secs {
        return false;
    }
    let expected = signature_hex(secret, t, body);
    candidates.iter().any(|c| {
        c.len() == expected.len()
            && bool::from(subtle::ConstantTimeEq::ct_eq(
                c.as_bytes(),
                expected.as_bytes(),
            ))
    })
}

/// Shortest webhook secret accepted.
pub const MIN_SECRET_CHARS: usize = 16;

/// Checks a delivery URL: `https://`, or `http://` to this machine only (a receiver on the
/// same host, the tests); no credentials in it; at most 2,000 characters.
pub fn check_url(raw: &str) -> Result<url::Url, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("Escriba la dirección (URL) del webhook.".into());
    }
    if raw.len() > 2000 {
        return Err("La dirección del webhook es demasiado larga.".into());
    }
    let url = url::Url::parse(raw).map_err(|_| {
        "La dirección del webhook no es una URL válida (debe empezar con https://).".to_string()
    })?;
    let host = url.host_str().unwrap_or("");
    if host.is_empty() {
        return Err("La dirección del webhook no tiene servidor.".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("La dirección del webhook no debe llevar usuario ni contraseña.".into());
    }
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(
            "El webhook debe usar https:// (http:// solo se admite hacia este mismo servidor)."
                .into(),
        ),
        _ => Err("La dirección del webhook debe empezar con https://.".into()),
    }
}

/// Checks a Telegram bot token (`123456:ABC-…`) and chat id (a number or `@canal`).
pub fn check_telegram(token: &str, chat_id: &str) -> Result<(), String> {
    let token = token.trim();
    let ok_token = token.split_once(':').is_some_and(|(id, rest)| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && rest.len() >= 20
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if !ok_token {
        return Err(
            "El token del bot de Telegram no tiene la forma 123456:ABC… que da BotFather.".into(),
        );
    }
    let chat = chat_id.trim();
    let ok_chat = (chat.starts_with('@') && chat.len() > 1)
        || (!chat.is_empty()
            && chat
                .trim_start_matches('-')
                .bytes()
                .all(|b| b.is_ascii_digit())
            && chat != "-");
    if !ok_chat {
        return Err(
            "El chat de Telegram debe ser un número (p. ej. -1001234567890) o @canal.".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(event: NoticeEvent) -> TicketNotice {
        TicketNotice {
            event,
            event_id: Some(7),
            ticket_id: 42,
            number: "INC-000042".into(),
            subject: "Impresora <atascada>".into(),
            status: "asignado".into(),
            requester: "cliente@dominio.com".into(),
            assignee: Some((UserId(5), "Rosa Díaz".into())),
            at: 1_700_000_000,
            url: "http://127.0.0.1:5000/tickets/42".into(),
        }
    }

    #[test]
    fn timeline_kinds_map_to_notices() {
        assert_eq!(
            NoticeEvent::from_event_kind("created"),
            Some(NoticeEvent::New)
        );
        assert_eq!(
            NoticeEvent::from_event_kind("reassigned"),
            Some(NoticeEvent::Assigned)
        );
        assert_eq!(
            NoticeEvent::from_event_kind("sla_breach"),
            Some(NoticeEvent::SlaBreach)
        );
        assert_eq!(NoticeEvent::from_event_kind("commented"), None);
        assert!(parse_events(&["new", "nuevo"]).is_err());
        assert!(parse_events::<&str>(&[]).is_err());
        assert_eq!(
            parse_events(&["assigned", "new", "new"]).unwrap(),
            vec![NoticeEvent::Assigned, NoticeEvent::New]
        );
    }

    #[test]
    fn a_technicians_channel_gets_only_their_assignments() {
        let mine = Subscription {
            channel_id: 1,
            events: vec![NoticeEvent::Assigned, NoticeEvent::New],
            owner: Some(UserId(5)),
            active: true,
        };
        assert!(wants(&mine, &notice(NoticeEvent::Assigned)));
        let mut other = notice(NoticeEvent::Assigned);
        other.assignee = Some((UserId(6), "Otro".into()));
        assert!(!wants(&mine, &other));
        let mut new = notice(NoticeEvent::New);
        new.assignee = None;
        assert!(!wants(&mine, &new));
        let team = Subscription {
            owner: None,
            ..mine.clone()
        };
        assert!(wants(&team, &new));
        assert!(!wants(
            &Subscription {
                active: false,
                ..team
            },
            &new
        ));
    }

    #[test]
    fn signatures_verify_and_stale_or_altered_ones_do_not() {
        let body = br#"{"event":"new"}"#;
        let h = signature("secreto-de-prueba-123", 1_700_000_000, body);
        assert!(h.starts_with("t=1700000000,v1="));
        assert_eq!(h.len(), "t=1700000000,v1=".len() + 64);
        assert!(verify_signature(
            &h,
            "secreto-de-prueba-123",
            body,
            1_700_000_010,
            300
        ));
        assert!(!verify_signature(
            &h,
            "otro-secreto-de-prueba",
            body,
            1_700_000_010,
            300
        ));
        assert!(!verify_signature(
            &h,
            "secreto-de-prueba-123",
            b"{}",
            1_700_000_010,
            300
        ));
        assert!(!verify_signature(
            &h,
            "secreto-de-prueba-123",
            body,
            1_700_001_000,
            300
        ));
        assert!(!verify_signature(
            "v1=abc",
            "secreto-de-prueba-123",
            body,
            0,
            300
        ));
    }

    #[test]
    fn the_hmac_matches_an_independent_computation() {
        // echo -n '1700000000.{}' | openssl dgst -sha256 -hmac 'clave'
        assert_eq!(
            signature("clave", 1_700_000_000, b"{}"),
            "t=1700000000,v1=c4c4f57719294e53c5f906f3c8dec5240d8f93bc243d478d9c063d87890bd71e"
        );
    }

    #[test]
    fn bodies_carry_the_ticket() {
        let n = notice(NoticeEvent::Assigned);
        let w = webhook_body(&n);
        assert_eq!(w["event"], "assigned");
        assert_eq!(w["ticket"]["number"], "INC-000042");
        assert_eq!(w["ticket"]["assignee"]["name"], "Rosa Díaz");
        assert!(
            slack_body(&n)["text"]
                .as_str()
                .unwrap()
                .contains("para Rosa Díaz")
        );
        let t = teams_body(&n);
        assert_eq!(t["attachments"][0]["content"]["type"], "AdaptiveCard");
        assert_eq!(telegram_body("-100", &n)["chat_id"], "-100");
    }

    #[test]
    fn urls_must_be_https_except_to_this_machine() {
        assert!(check_url("https://hooks.slack.com/services/T/B/X").is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(check_url("http://intranet.local/hook").is_err());
        assert!(check_url("ftp://x.com/").is_err());
        assert!(check_url("no es url").is_err());
        assert!(check_url("https://u:p@x.com/").is_err());
        assert!(check_url("").is_err());
    }

    #[test]
    fn telegram_tokens_and_chats_are_checked() {
        assert!(check_telegram("123456:ABCdefGhIJKlmnoPQRstuVWXyz-_12", "-1001234567890").is_ok());
        assert!(check_telegram("123456:ABCdefGhIJKlmnoPQRstuVWXyz", "@soporte_ti").is_ok());
        assert!(check_telegram("abc", "1").is_err());
        assert!(check_telegram("123456:ABCdefGhIJKlmnoPQRstuVWXyz", "x y").is_err());
    }
}

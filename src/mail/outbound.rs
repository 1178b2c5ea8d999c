//! The outbox sender: notices written by `service` (in the same transaction as their events)
//! are rendered from the Spanish templates (`templates/mail/*.txt` + `.html`, the subject is
//! the text template's first line) and handed to the SMTP server with lettre. One instance
//! sends at a time (a lease in the database). A server that is down only delays notices:
//! each failed try is recorded and retried with a doubling delay (at most an hour); a
//! permanent refusal (5xx) ends the notice as `failed`, with the server's answer kept. Every
//! notice carries its recorded Message-ID, In-Reply-To/References, and `Auto-Submitted`, so
//! replies thread back and other robots do not answer it.

use crate::config::MailArgs;
use crate::domain::mail::{Notice, NoticeKind, NoticeParams, retry_delay, within_daily_limit};
use crate::service::Services;
use askama::Template;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// STARTTLS required (usually port 587).
    StartTls,
    /// TLS from the first byte (usually port 465).
    Tls,
    /// Plain text: only for a trusted relay on the same machine or network.
    None,
}

/// Everything the sender needs.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub user: Option<String>,
    pub password: Option<crate::config::Secret>,
    pub from: Mailbox,
    /// Automatic messages one address may receive in 24 hours.
    pub daily_limit: i64,
    /// First retry delay in seconds; it doubles up to an hour.
    pub retry_base_secs: i64,
    /// Pause between two looks at the outbox.
    pub every: Duration,
    /// The help-desk's public address, for links in notices.
    pub public_url: String,
    pub timeout: Duration,
    /// Sign in with an OAuth2 access token (XOAUTH2) instead of the password.
    pub oauth: bool,
}

impl SmtpConfig {
    /// The configuration from the command line, `None` when no SMTP host is set.
    pub fn from_args(args: &MailArgs, public_url: &str) -> Result<Option<SmtpConfig>, String> {
        let Some(host) = args.smtp_host.clone().filter(|h| !h.trim().is_empty()) else {
            return Ok(None);
        };
        let tls = match args.smtp_tls.as_str() {
            "tls" => SmtpTls::Tls,
            "none" => SmtpTls::None,
            _ => SmtpTls::StartTls,
        };
        let port = args.smtp_port.unwrap_or(match tls {
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        });
        let from = args
            .smtp_from
            .parse::<Mailbox>()
            .map_err(|e| format!("SOPORTE_SMTP_FROM is not a valid address ({e})"))?;
        Ok(Some(SmtpConfig {
            host: host.trim().to_string(),
            port,
            tls,
            user: args.smtp_user.clone().filter(|u| !u.is_empty()),
            password: args.smtp_password.clone(),
            from,
            daily_limit: args.mail_daily_limit.max(1),
            retry_base_secs: 30,
            every: Duration::from_secs(5),
            public_url: public_url.trim_end_matches('/').to_string(),
            timeout: Duration::from_secs(30),
            oauth: args
                .mail_oauth
                .as_deref()
                .is_some_and(|p| !p.trim().is_empty()),
        }))
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        self.transport_with(None)
    }

    /// The transport, signing in with `access_token` (XOAUTH2) when one is given. The login
    /// is the SMTP user, or the sender's address.
    pub fn transport_with(
        &self,
        access_token: Option<&str>,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let builder = match self.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host),
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&self.host)
                .map_err(|e| format!("failed to set up SMTP STARTTLS: {e}"))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&self.host)
                .map_err(|e| format!("failed to set up SMTP TLS: {e}"))?,
        };
        let mut builder = builder.port(self.port).timeout(Some(self.timeout));
        if let Some(token) = access_token {
            let user = self
                .user
                .clone()
                .unwrap_or_else(|| self.from.email.to_string());
            builder = builder
                .credentials(Credentials::new(user, token.to_string()))
                .authentication(vec![Mechanism::Xoauth2]);
        } else if let Some(user) = &self.user {
            let password = self
                .password
                .as_ref()
                .map(|p| p.expose().to_string())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(builder.build())
    }
}

macro_rules! mail_template {
    ($name:ident, $path:literal) => {
        #[derive(Template)]
        #[template(path = $path)]
        struct $name<'a> {
            p: &'a NoticeParams,
            /// The public address of the help-desk, for links (no trailing slash).
            url: &'a str,
        }
    };
}
mail_template!(AckText, "mail/ack.txt");
mail_template!(AckHtml, "mail/ack.html");
mail_template!(AssignedText, "mail/assigned.txt");
mail_template!(AssignedHtml, "mail/assigned.html");
mail_template!(ClosedText, "mail/closed.txt");
mail_template!(ClosedHtml, "mail/closed.html");
mail_template!(ReplyText, "mail/reply.txt");
mail_template!(ReplyHtml, "mail/reply.html");
mail_template!(ReminderText, "mail/reminder.txt");
mail_template!(ReminderHtml, "mail/reminder.html");
mail_template!(SlaWarningText, "mail/sla_warning.txt");
mail_template!(SlaWarningHtml, "mail/sla_warning.html");
mail_template!(SlaBreachText, "mail/sla_breach.txt");
mail_template!(SlaBreachHtml, "mail/sla_breach.html");

/// A notice rendered: subject, plain text and HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders a notice from its template pair. The text template's first line is the subject;
/// links start at `url`, the help-desk's public address.
pub fn render(kind: NoticeKind, p: &NoticeParams, url: &str) -> Result<Rendered, String> {
    let url = url.trim_end_matches('/');
    let (text, html) = match kind {
        NoticeKind::Acknowledgement => (AckText { p, url }.render(), AckHtml { p, url }.render()),
        NoticeKind::Assigned => (
            AssignedText { p, url }.render(),
            AssignedHtml { p, url }.render(),
        ),
        NoticeKind::Closed => (
            ClosedText { p, url }.render(),
            ClosedHtml { p, url }.render(),
        ),
        NoticeKind::Reply => (ReplyText { p, url }.render(), ReplyHtml { p, url }.render()),
        NoticeKind::Reminder => (
            ReminderText { p, url }.render(),
            ReminderHtml { p, url }.render(),
        ),
        NoticeKind::SlaWarning => (
            SlaWarningText { p, url }.render(),
            SlaWarningHtml { p, url }.render(),
        ),
        NoticeKind::SlaBreach => (
            SlaBreachText { p, url }.render(),
            SlaBreachHtml { p, url }.render(),
        ),
    };
    let text = text.map_err(|e| format!("failed to render the text template: {e}"))?;
    let html = html.map_err(|e| format!("failed to render the HTML template: {e}"))?;
    let (subject, body) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    let subject: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Ok(Rendered {
        subject: subject.trim().to_string(),
        text: body.trim_start_matches('\n').to_string(),
        html,
    })
}

fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string())
}

/// A file to send with a notice: its name, content type and bytes.
pub type OutgoingFile = (String, String, Vec<u8>);

/// The e-mail for a notice, with its recorded Message-ID and threading headers, links to
/// `url`, and its files attached.
pub fn build(
    notice: &Notice,
    from: &Mailbox,
    url: &str,
    files: Vec<OutgoingFile>,
) -> Result<Message, String> {
    let rendered = render(notice.kind, &notice.params, url)?;
    let to = notice
        .recipient
        .parse::<Mailbox>()
        .map_err(|e| format!("invalid recipient {}: {e}", notice.recipient))?;
    let domain = from.email.domain().to_string();
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(rendered.subject)
        .message_id(Some(format!("<{}@{}>", notice.token, domain)))
        .raw_header(header("Auto-Submitted", "auto-replied"))
        .raw_header(header("X-Auto-Response-Suppress", "All"));
    if let Some(id) = &notice.in_reply_to {
        builder = builder.in_reply_to(format!("<{id}>"));
    }
    if !notice.references.is_empty() {
        let refs: Vec<String> = notice.references.iter().map(|r| format!("<{r}>")).collect();
        builder = builder.references(refs.join(" "));
    }
    let body = MultiPart::alternative_plain_html(rendered.text, rendered.html);
    let body = if files.is_empty() {
        body
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for (name, content_type, data) in files {
            let content_type = lettre::message::header::ContentType::parse(&content_type)
                .unwrap_or(lettre::message::header::ContentType::TEXT_PLAIN);
            mixed =
                mixed.singlepart(lettre::message::Attachment::new(name).body(data, content_type));
        }
        mixed
    };
    builder
        .multipart(body)
        .map_err(|e| format!("failed to build the message: {e}"))
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Another instance holds the lease: this one did nothing.
    pub skipped: bool,
    pub sent: usize,
    pub retried: usize,
    pub suppressed: usize,
    pub failed: usize,
}

const LEASE: &str = "outbox-sender";
const LEASE_SECS: i64 = 120;
const BATCH: i64 = 50;

/// Sends what is due, once. On a temporary failure the round stops (the server is likely
/// down) and the notice is rescheduled; the rest wait for the next round.
pub async fn send_due(
    services: &Services,
    config: &SmtpConfig,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    holder: &str,
) -> Result<Round, crate::service::Error> {
    let mut round = Round::default();
    if !services.acquire_lease(LEASE, holder, LEASE_SECS).await? {
        round.skipped = true;
        return Ok(round);
    }
    for notice in services.due_notices(BATCH).await? {
        if !services.acquire_lease(LEASE, holder, LEASE_SECS).await? {
            round.skipped = true;
            break;
        }
        let sent_today = services.sent_last_day(&notice.recipient).await?;
        if !within_daily_limit(sent_today, config.daily_limit) {
            services
                .notice_final(
                    notice.id,
                    "suppressed",
                    &format!(
                        "Límite diario alcanzado: {} mensajes automáticos a {} en 24 horas.",
                        sent_today, notice.recipient
                    ),
                )
                .await?;
            tracing::warn!(notice = notice.id, recipient = %notice.recipient, "daily limit reached; notice suppressed");
            round.suppressed += 1;
            continue;
        }
        let files = match services.notice_files(&notice).await {
            Ok(files) => files,
            Err(e) => {
                tracing::warn!(notice = notice.id, error = %e, "a notice's files could not be read; will retry");
                round.retried += 1;
                break;
            }
        };
        let message = match build(&notice, &config.from, &config.public_url, files) {
            Ok(m) => m,
            Err(e) => {
                services.notice_final(notice.id, "failed", &e).await?;
                tracing::error!(notice = notice.id, error = %e, "notice cannot be built");
                round.failed += 1;
                continue;
            }
        };
        match transport.send(message).await {
            Ok(_) => {
                services.notice_sent(&notice).await?;
                round.sent += 1;
                record(services, Ok(())).await;
            }
            // A refused login is the server's (or the token's) problem, not the notice's:
            // keep the notice and retry, like a server that is down.
            Err(e) if is_login_refusal(&e) => {
                let next =
                    services.now() + retry_delay(notice.attempts + 1, config.retry_base_secs);
                services
                    .notice_retry(notice.id, next, &e.to_string())
                    .await?;
                tracing::warn!(notice = notice.id, error = %e, "SMTP login refused; will retry");
                record(services, Err(spanish(config, &e))).await;
                round.retried += 1;
                break;
            }
            Err(e) if e.is_permanent() => {
                services
                    .notice_final(notice.id, "failed", &e.to_string())
                    .await?;
                tracing::error!(notice = notice.id, error = %e, "SMTP server refused the notice");
                round.failed += 1;
            }
            Err(e) => {
                let next =
                    services.now() + retry_delay(notice.attempts + 1, config.retry_base_secs);
                services
                    .notice_retry(notice.id, next, &e.to_string())
                    .await?;
                tracing::warn!(notice = notice.id, error = %e, "SMTP unavailable; will retry");
                record(services, Err(spanish(config, &e))).await;
                round.retried += 1;
                break;
            }
        }
    }
    Ok(round)
}

/// Records the send direction's health (a failure to record is only logged).
async fn record(services: &Services, outcome: Result<(), String>) {
    if let Err(e) = services
        .record_mail_health(
            crate::domain::mailbox::Direction::Send,
            outcome.as_ref().map(|_| ()).map_err(String::as_str),
        )
        .await
    {
        tracing::warn!(error = %e, "failed to record the send direction's health");
    }
}

/// 530/534/535/538: the server refused to authenticate us.
fn is_login_refusal(e: &lettre::transport::smtp::Error) -> bool {
    e.status().is_some_and(|c| {
        let code = c.to_string();
        matches!(code.as_str(), "530" | "534" | "535" | "538" | "454")
    })
}

/// An SMTP failure in Spanish, for `/admin/mail` and the alert e-mail.
pub fn spanish(config: &SmtpConfig, e: &lettre::transport::smtp::Error) -> String {
    let server = format!("{}:{}", config.host, config.port);
    let detail: String = e
        .to_string()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    if is_login_refusal(e) {
        format!(
            "El servidor SMTP {server} rechazó el inicio de sesión ({}): {detail}",
            if config.oauth {
                "token OAuth2"
            } else {
                "contraseña"
            }
        )
    } else if e.is_timeout() {
        format!("El servidor SMTP {server} no respondió a tiempo.")
    } else if e.is_tls() {
        format!("Falló la conexión segura (TLS) con el servidor SMTP {server}: {detail}")
    } else if e.is_transient() {
        format!("El servidor SMTP {server} no está disponible por ahora: {detail}")
    } else if e.is_response() || e.is_permanent() {
        format!("El servidor SMTP {server} respondió con un error: {detail}")
    } else {
        format!("No se pudo conectar con el servidor SMTP {server}: {detail}")
    }
}

/// The transport for this round: with a fresh access token when the mailbox uses OAuth2.
pub async fn transport_for(
    services: &Services,
    config: &SmtpConfig,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    if !config.oauth {
        return config.transport();
    }
    match services.mail_access_token().await {
        Ok(Some(t)) => config.transport_with(Some(t.access_token.expose())),
        Ok(None) => config.transport(),
        Err(crate::service::connect::ConnectError::Problem(p)) => Err(p.message),
        Err(e) => Err(format!("No se pudo obtener el token de acceso: {e}")),
    }
}

/// "Probar conexión": sends one message to `to` and says what happened.
pub async fn check(services: &Services, config: &SmtpConfig, to: &str) -> Result<(), String> {
    let transport = transport_for(services, config).await?;
    let to = to
        .parse::<Mailbox>()
        .map_err(|e| format!("Dirección no válida: {e}"))?;
    let domain = config.from.email.domain().to_string();
    let message = Message::builder()
        .from(config.from.clone())
        .to(to)
        .subject("Prueba de conexión de la mesa de ayuda")
        .message_id(Some(format!(
            "<soporte.prueba.{}@{domain}>",
            crate::service::random_hex(10).map_err(|e| e.to_string())?
        )))
        .raw_header(header("Auto-Submitted", "auto-generated"))
        .body(
            "Este es un mensaje de prueba enviado desde Correo → Probar conexión.\nSi lo recibió, el envío de correo funciona."
                .to_string(),
        )
        .map_err(|e| format!("No se pudo armar el mensaje: {e}"))?;
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| spanish(config, &e))
}

/// How often an idle sender checks that it can still sign in to the SMTP server.
const IDLE_PROBE: Duration = Duration::from_secs(300);

/// Runs the sender until `stop` resolves.
pub async fn run(
    services: Services,
    config: SmtpConfig,
    holder: String,
    stop: impl std::future::Future<Output = ()>,
) {
    let plain = match config.transport() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "outbox sender not started");
            return;
        }
    };
    tracing::info!(host = %config.host, port = config.port, oauth = config.oauth, "outbox sender started");
    tokio::pin!(stop);
    let mut last_probe: Option<std::time::Instant> = None;
    loop {
        // With OAuth2 the transport is built each round with the current access token.
        let fresh;
        let transport = if config.oauth {
            match transport_for(&services, &config).await {
                Ok(t) => {
                    fresh = t;
                    &fresh
                }
                Err(e) => {
                    tracing::warn!("SMTP sign-in not possible: no access token");
                    if services
                        .acquire_lease(LEASE, &holder, LEASE_SECS)
                        .await
                        .unwrap_or(false)
                    {
                        record(&services, Err(e)).await;
                    }
                    tokio::select! {
                        () = &mut stop => break,
                        () = tokio::time::sleep(config.every.max(Duration::from_secs(30))) => {}
                    }
                    continue;
                }
            }
        } else {
            &plain
        };
        let outcome = send_due(&services, &config, transport, &holder).await;
        let idle = matches!(outcome, Ok(r) if !r.skipped && r.sent + r.retried + r.failed + r.suppressed == 0);
        if idle && last_probe.is_none_or(|at| at.elapsed() >= IDLE_PROBE) {
            last_probe = Some(std::time::Instant::now());
            match transport.test_connection().await {
                Ok(true) => record(&services, Ok(())).await,
                Ok(false) => {
                    record(
                        &services,
                        Err(format!(
                            "El servidor SMTP {}:{} no respondió a la prueba de conexión.",
                            config.host, config.port
                        )),
                    )
                    .await
                }
                Err(e) => record(&services, Err(spanish(&config, &e))).await,
            }
        }
        match outcome {
            Ok(r) if r.sent + r.retried + r.suppressed + r.failed > 0 => {
                tracing::info!(
                    sent = r.sent,
                    retried = r.retried,
                    suppressed = r.suppressed,
                    failed = r.failed,
                    "outbox round"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "outbox round failed"),
        }
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(config.every) => {}
        }
    }
    let _ = services.release_lease(LEASE, &holder).await;
}

/// Builds the transport (for callers that drive `send_due` themselves, such as tests).
pub fn transport(config: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    config.transport()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> NoticeParams {
        NoticeParams {
            number: "INC-000042".into(),
            subject: "Impresora <atascada> & sin tóner".into(),
            requester: "cliente@dominio.com".into(),
            technician: Some("Rosa Díaz".into()),
            resolution: Some("Se cambió el tóner.".into()),
            target: Some("Primera respuesta".into()),
            due: Some("09/11/2026 11:30".into()),
            priority: Some("Crítica".into()),
            body: Some("¿Podría enviar una <foto>?".into()),
            ticket_id: Some(42),
            status_token: Some("ab".repeat(20)),
            ..NoticeParams::default()
        }
    }

    const URL: &str = "https://soporte.miempresa.com";

    #[test]
    fn every_notice_has_a_subject_with_the_number_and_both_bodies() {
        for kind in [
            NoticeKind::Acknowledgement,
            NoticeKind::Assigned,
            NoticeKind::Closed,
            NoticeKind::Reply,
            NoticeKind::Reminder,
            NoticeKind::SlaWarning,
            NoticeKind::SlaBreach,
        ] {
            let r = render(kind, &params(), URL).unwrap();
            assert!(
                r.subject.starts_with("[INC-000042] ")
                    || r.subject.starts_with("Re: [INC-000042] "),
                "{}",
                r.subject
            );
            assert!(r.text.contains("INC-000042") && !r.text.contains("[INC-000042] "));
            if kind == NoticeKind::Reply {
                // A reply is the staff's own words; the subject line names the ticket.
                continue;
            }
            assert!(
                r.html
                    .contains("Impresora &#60;atascada&#62; &#38; sin tóner"),
                "{}",
                r.html
            );
            assert!(r.text.contains("Impresora <atascada> & sin tóner"));
        }
        let closed = render(NoticeKind::Closed, &params(), URL).unwrap();
        assert!(closed.text.contains("Se cambió el tóner."));
        assert!(closed.text.contains("la incidencia se reabrirá"));
        let warning = render(NoticeKind::SlaWarning, &params(), URL).unwrap();
        assert!(
            warning.subject.contains("Por vencer: Primera respuesta"),
            "{}",
            warning.subject
        );
        assert!(
            warning
                .text
                .contains("80 % de su plazo de primera respuesta")
        );
        assert!(
            warning
                .text
                .contains("Vence: 09/11/2026 11:30 (hora de Lima)")
        );
        let breach = render(NoticeKind::SlaBreach, &params(), URL).unwrap();
        assert!(breach.subject.contains("SLA vencido: Primera respuesta"));
        assert!(breach.html.contains("Prioridad: Crítica"));
    }

    #[test]
    fn the_requester_gets_a_link_to_their_page_and_the_close_five_ratings() {
        let token = "ab".repeat(20);
        let page = format!("{URL}/s/{token}");
        for kind in [
            NoticeKind::Acknowledgement,
            NoticeKind::Closed,
            NoticeKind::Reply,
            NoticeKind::Reminder,
        ] {
            let r = render(kind, &params(), &format!("{URL}/")).unwrap();
            assert!(r.text.contains(&page), "{kind:?}: {}", r.text);
            assert!(
                r.html.contains(&format!("href=\"{page}")),
                "{kind:?}: {}",
                r.html
            );
        }
        let closed = render(NoticeKind::Closed, &params(), URL).unwrap();
        for n in 1..=5 {
            let link = format!("{page}/valorar?puntaje={n}");
            assert!(
                closed.text.contains(&link) && closed.html.contains(&link),
                "{n}"
            );
        }
        let reply = render(NoticeKind::Reply, &params(), URL).unwrap();
        assert_eq!(
            reply.subject,
            "Re: [INC-000042] Impresora <atascada> & sin tóner"
        );
        assert!(reply.text.contains("¿Podría enviar una <foto>?"));
        assert!(reply.html.contains("¿Podría enviar una &#60;foto&#62;?"));
        let assigned = render(NoticeKind::Assigned, &params(), URL).unwrap();
        assert!(assigned.text.contains(&format!("{URL}/tickets/42")));
        // Without a token (an older notice) there is no link at all.
        let mut old = params();
        old.status_token = None;
        let ack = render(NoticeKind::Acknowledgement, &old, URL).unwrap();
        assert!(!ack.text.contains("/s/"));
    }

    #[test]
    fn the_message_carries_its_ids_and_says_it_is_automatic() {
        let notice = Notice {
            id: 1,
            kind: NoticeKind::Acknowledgement,
            ticket: crate::domain::ids::TicketId(42),
            recipient: "cliente@dominio.com".into(),
            params: params(),
            token: "soporte.abc".into(),
            in_reply_to: Some("m1@dominio.com".into()),
            references: vec!["m0@dominio.com".into(), "m1@dominio.com".into()],
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
            created_at: 0,
            sent_at: None,
        };
        let from: Mailbox = "Soporte <atencion@miempresa.com>".parse().unwrap();
        let raw = String::from_utf8(
            build(&notice, &from, "https://soporte.miempresa.com", Vec::new())
                .unwrap()
                .formatted(),
        )
        .unwrap();
        assert!(
            raw.contains("Message-ID: <soporte.abc@miempresa.com>"),
            "{raw}"
        );
        assert!(raw.contains("In-Reply-To: <m1@dominio.com>"), "{raw}");
        assert!(
            raw.contains("References: <m0@dominio.com> <m1@dominio.com>"),
            "{raw}"
        );
        assert!(raw.contains("Auto-Submitted: auto-replied"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
    }
}

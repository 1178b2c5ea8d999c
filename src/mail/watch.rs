//! The mailbox watch: once a minute, the instance holding the `mail-alert` lease looks for a
//! mail direction that has been failing for 15 minutes and e-mails every active
//! administrator about it, once per run of failures (the banner on every page says the
//! same). When sending is what fails, the e-mail cannot go out: it is tried again each
//! minute, so it leaves as soon as SMTP works again, and the banner and `/healthz` carry
//! the news meanwhile. Also "Probar conexión": one fetch and one send, said in Spanish.

use super::outbound::{SmtpConfig, transport_for};
use super::poller::ImapConfig;
use crate::config::MailArgs;
use crate::domain::mailbox::{Direction, Health};
use crate::domain::time::format_lima;
use crate::service::Services;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncTransport, Message};
use std::time::Duration;

const LEASE: &str = "mail-alert";
const EVERY: Duration = Duration::from_secs(60);

fn alert_text(direction: Direction, h: &Health) -> (String, String) {
    let what = match direction {
        Direction::Fetch => "no se pueden leer los correos entrantes (IMAP)",
        Direction::Send => "no se pueden enviar correos (SMTP)",
    };
    let since = h.failing_since.map(format_lima).unwrap_or_default();
    let last_ok = h
        .last_success_at
        .map(format_lima)
        .unwrap_or_else(|| "nunca".to_string());
    let error = h.last_error.clone().unwrap_or_default();
    (
        format!("[Soporte] El buzón de soporte falla: {what}"),
        format!(
            "El buzón de soporte falla desde {since} (hora de Lima): {what}.\n\n\
             Último error: {error}\n\
             Último funcionamiento correcto: {last_ok}\n\n\
             Revise la página Correo de la mesa de ayuda (/admin/mail) y pulse «Probar conexión» \
             cuando lo corrija. Este aviso se envía una vez por falla.\n"
        ),
    )
}

/// One look: sends the alerts that are due. Returns how many e-mails went out.
pub async fn alert_once(services: &Services, smtp: Option<&SmtpConfig>, holder: &str) -> usize {
    if !services
        .acquire_lease(LEASE, holder, 180)
        .await
        .unwrap_or(false)
    {
        return 0;
    }
    let due = match services.mail_alerts_due().await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "failed to read the mailbox's health");
            return 0;
        }
    };
    let mut sent = 0;
    for (direction, health) in due {
        tracing::error!(direction = direction.as_str(), error = ?health.last_error, "the mailbox has been failing for 15 minutes");
        let Some(smtp) = smtp else {
            // No way to e-mail: the banner and /healthz are the alert.
            let _ = services.mark_mail_alerted(direction).await;
            continue;
        };
        let admins = match services.admin_addresses().await {
            Ok(a) => a,
            Err(_) => continue,
        };
        let transport = match transport_for(services, smtp).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "mailbox alert not sent: no SMTP transport");
                continue;
            }
        };
        let (subject, body) = alert_text(direction, &health);
        let mut all_ok = true;
        for (address, name) in &admins {
            let to = match format!("{name} <{address}>")
                .parse::<Mailbox>()
                .or_else(|_| address.parse::<Mailbox>())
            {
                Ok(m) => m,
                Err(_) => continue,
            };
            let message = Message::builder()
                .from(smtp.from.clone())
                .to(to)
                .subject(subject.clone())
                .header(ContentType::TEXT_PLAIN)
                .body(body.clone());
            let Ok(message) = message else { continue };
            match transport.send(message).await {
                Ok(_) => sent += 1,
                Err(e) => {
                    all_ok = false;
                    tracing::warn!(error = %e, "mailbox alert not sent; will try again");
                    break;
                }
            }
        }
        if all_ok {
            let _ = services.mark_mail_alerted(direction).await;
        }
    }
    sent
}

/// Watches until `stop` resolves.
pub async fn run(
    services: Services,
    smtp: Option<SmtpConfig>,
    holder: String,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        alert_once(&services, smtp.as_ref(), &holder).await;
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
    let _ = services.release_lease(LEASE, &holder).await;
}

/// One line of "Probar conexión".
#[derive(Debug, Clone)]
pub struct CheckLine {
    pub direction: Direction,
    pub ok: bool,
    pub message: String,
}

/// "Probar conexión": one fetch (sign in, open the folder, count unseen messages) and one
/// send (a test message to `to`), each recorded in the mailbox's health.
pub async fn test_connection(services: &Services, mail: &MailArgs, to: &str) -> Vec<CheckLine> {
    let mut lines = Vec::new();
    let fetch = match ImapConfig::from_args(mail) {
        Ok(None) => Err("No está configurada (SOPORTE_IMAP_HOST).".to_string()),
        Err(e) => Err(format!("La configuración no es válida: {e}")),
        Ok(Some(config)) => match super::poller::check(services, &config).await {
            Ok(n) => {
                let _ = services.record_mail_health(Direction::Fetch, Ok(())).await;
                Ok(format!(
                    "Correcto: se ingresó como {} y se abrió la carpeta {} ({n} mensajes sin leer).",
                    config.user, config.folder
                ))
            }
            Err(e) => {
                let m = e.spanish(&config);
                let _ = services.record_mail_health(Direction::Fetch, Err(&m)).await;
                Err(m)
            }
        },
    };
    lines.push(CheckLine {
        direction: Direction::Fetch,
        ok: fetch.is_ok(),
        message: fetch.unwrap_or_else(|e| e),
    });
    let send = match SmtpConfig::from_args(mail, services.public_url()) {
        Ok(None) => Err("No está configurado (SOPORTE_SMTP_HOST).".to_string()),
        Err(e) => Err(format!("La configuración no es válida: {e}")),
        Ok(Some(config)) => match super::outbound::check(services, &config, to).await {
            Ok(()) => {
                let _ = services.record_mail_health(Direction::Send, Ok(())).await;
                Ok(format!("Correcto: se envió un mensaje de prueba a {to}."))
            }
            Err(m) => {
                let _ = services.record_mail_health(Direction::Send, Err(&m)).await;
                Err(m)
            }
        },
    };
    lines.push(CheckLine {
        direction: Direction::Send,
        ok: send.is_ok(),
        message: send.unwrap_or_else(|e| e),
    });
    lines
}

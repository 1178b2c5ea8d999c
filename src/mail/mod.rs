//! The mail channel's transports: `parse` (raw bytes → `domain::mail::InboundMail`, pure),
//! `poller` (IMAP mailbox → `service`, one instance at a time by a lease in the database),
//! `outbound` (the outbox → SMTP, with retry and backoff) and `followup` (reminders to
//! requesters who owe an answer, and the close of tickets they never answered). Decisions are
//! `domain`'s, transactions `service`'s; nothing here writes SQL.

pub mod followup;
pub mod outbound;
pub mod parse;
pub mod poller;
pub mod watch;

use crate::config::ServeArgs;
use crate::service::Services;

/// The background mail jobs of one server process.
pub struct MailTasks {
    stop: tokio::sync::watch::Sender<bool>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl MailTasks {
    /// Starts the IMAP poller and the outbox sender when they are configured, and the
    /// follow-up of tickets waiting for their requester.
    pub fn spawn(services: &Services, serve: &ServeArgs) -> Result<MailTasks, String> {
        let args = &serve.mail;
        let (stop, _) = tokio::sync::watch::channel(false);
        let holder = format!(
            "{}-{}",
            std::process::id(),
            crate::service::random_hex(8).map_err(|e| e.to_string())?
        );
        let mut handles = Vec::new();
        let stopped = |stop: &tokio::sync::watch::Sender<bool>| {
            let mut rx = stop.subscribe();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        if let Some(config) = poller::ImapConfig::from_args(args)? {
            handles.push(tokio::spawn(poller::run(
                services.clone(),
                config,
                holder.clone(),
                stopped(&stop),
            )));
        }
        let smtp = outbound::SmtpConfig::from_args(args, &serve.public_url)?;
        if let Some(config) = smtp.clone() {
            handles.push(tokio::spawn(outbound::run(
                services.clone(),
                config,
                holder.clone(),
                stopped(&stop),
            )));
        }
        if args.imap_host.is_some() || smtp.is_some() {
            handles.push(tokio::spawn(watch::run(
                services.clone(),
                smtp,
                holder.clone(),
                stopped(&stop),
            )));
        }
        handles.push(tokio::spawn(followup::run(
            services.clone(),
            followup::Rules::from_args(serve),
            holder,
            stopped(&stop),
        )));
        Ok(MailTasks { stop, handles })
    }

    /// Asks the jobs to stop and waits (a little) for them to release their leases.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for handle in self.handles {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), handle).await;
        }
    }
}

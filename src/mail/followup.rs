//! Tickets waiting for their requester (`en_espera`): after `--wait-remind-days` without an
//! answer the requester is reminded once, after `--wait-close-days` the ticket closes itself
//! (by "Sistema", with the closing e-mail). One instance at a time does it (a lease in the
//! database); the decisions are the domain's, through `service::waiting`.

use crate::config::ServeArgs;
use crate::service::Services;
use crate::service::waiting::FollowUp;
use std::time::Duration;

/// When reminders and automatic closes happen, and how often to look.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub follow_up: FollowUp,
    pub every: Duration,
}

impl Rules {
    pub fn from_args(args: &ServeArgs) -> Rules {
        Rules {
            follow_up: FollowUp::days(args.wait_remind_days, args.wait_close_days),
            every: Duration::from_secs(60),
        }
    }
}

const LEASE: &str = "waiting-followup";

/// Runs the follow-up until `stop` resolves.
pub async fn run(
    services: Services,
    rules: Rules,
    holder: String,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        let lease_secs = (rules.every.as_secs() as i64 * 2).max(60);
        match services.acquire_lease(LEASE, &holder, lease_secs).await {
            Ok(true) => match services.follow_up_waiting(rules.follow_up).await {
                Ok(done) if done.reminded + done.closed > 0 => tracing::info!(
                    reminded = done.reminded,
                    closed = done.closed,
                    "waiting tickets followed up"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "failed to follow up waiting tickets"),
            },
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "failed to take the follow-up lease"),
        }
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(rules.every) => {}
        }
    }
    let _ = services.release_lease(LEASE, &holder).await;
}

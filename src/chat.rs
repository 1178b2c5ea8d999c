//! The chat notices' background jobs (`service::notify`): the feed, which turns new timeline
//! events into deliveries, and the sender, which posts them with retries. Each runs on one
//! instance at a time, by a lease in the database; both go idle when no channel exists.

use crate::service::Services;
use std::time::Duration;

const FEED_LEASE: &str = "chat-feed";
const SEND_LEASE: &str = "chat-sender";
const LEASE_SECS: i64 = 120;

/// The jobs of one server process.
pub struct ChatTasks {
    stop: tokio::sync::watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

impl ChatTasks {
    /// Starts the feed and the sender, looking every `every`.
    pub fn spawn(services: &Services, every: Duration) -> Result<ChatTasks, String> {
        let holder = format!(
            "{}-{}",
            std::process::id(),
            crate::service::random_hex(8).map_err(|e| e.to_string())?
        );
        let (stop, mut rx) = tokio::sync::watch::channel(false);
        let services = services.clone();
        let handle = tokio::spawn(async move {
            loop {
                round(&services, &holder).await;
                tokio::select! {
                    _ = rx.wait_for(|s| *s) => break,
                    () = tokio::time::sleep(every) => {}
                }
            }
            let _ = services.release_lease(FEED_LEASE, &holder).await;
            let _ = services.release_lease(SEND_LEASE, &holder).await;
        });
        Ok(ChatTasks { stop, handle })
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.handle).await;
    }
}

/// One round: read the timeline into deliveries (until caught up), then send what is due.
pub async fn round(services: &Services, holder: &str) {
    if services
        .acquire_lease(FEED_LEASE, holder, LEASE_SECS)
        .await
        .unwrap_or(false)
    {
        for _ in 0..20 {
            match services.notify_feed_once().await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "chat notice feed failed; will try again");
                    break;
                }
            }
        }
    }
    if services
        .acquire_lease(SEND_LEASE, holder, LEASE_SECS)
        .await
        .unwrap_or(false)
    {
        match services.notify_send_due().await {
            Ok(r) if r.sent + r.retried + r.failed + r.suppressed > 0 => tracing::info!(
                sent = r.sent,
                retried = r.retried,
                failed = r.failed,
                suppressed = r.suppressed,
                "chat notices round"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "chat notice round failed"),
        }
    }
}

//! `soporte [serve]`: open the database, make sure an administrator exists, serve HTTP until
//! SIGINT/SIGTERM, letting in-flight requests finish.

use crate::config::{Secret, ServeArgs};
use crate::service::Settings;
use crate::web;

pub async fn run(database: &Secret, args: ServeArgs) -> Result<(), String> {
    let settings = Settings {
        session_idle_secs: args.session_idle_minutes.max(1) * 60,
        ..Settings::default()
    };
    let connect = crate::service::connect::Connect::from_args(&args)?;
    let replicas: Vec<String> = args
        .database_replica
        .iter()
        .map(|r| r.expose().to_string())
        .collect();
    let services = super::open(database, settings)
        .await?
        .with_connect(connect)
        .with_replicas(&replicas, args.replica_max_lag_seconds)
        .map_err(|e| format!("read replicas: {e}"))?;
    if services.ensure_admin().await.map_err(super::describe)? {
        tracing::warn!(
            "created the first administrator {}; sign in and choose a new password",
            crate::service::accounts::DEFAULT_ADMIN_EMAIL
        );
    }
    match services.requeue_orphaned_tickets().await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            tickets = n,
            "returned to the queue the open tickets of accounts that can no longer work them"
        ),
        Err(e) => tracing::error!(error = %e, "failed to return orphaned tickets to the queue"),
    }
    let server = web::build(services.clone(), &args)
        .await
        .map_err(|e| format!("failed to listen on {}: {e}", args.bind))?;
    tracing::info!(address = %server.local_addr(), backend = ?services.backend(), "soporte listening");
    let mail = crate::mail::MailTasks::spawn(&services, &args)
        .map_err(|e| format!("mail settings: {e}"))?;
    // The service-level warnings: one instance at a time (a lease), every minute.
    let (stop_sla, stopped) = tokio::sync::watch::channel(false);
    let holder = format!(
        "{}-{}",
        std::process::id(),
        crate::service::random_hex(8).map_err(super::describe)?
    );
    let sla = tokio::spawn(crate::service::sla::watch(
        services.clone(),
        holder,
        async move {
            let mut rx = stopped;
            let _ = rx.wait_for(|s| *s).await;
        },
    ));
    let chat = crate::chat::ChatTasks::spawn(&services, std::time::Duration::from_secs(5))?;
    // The dashboard most people open is kept computed (hundreds of milliseconds at ten
    // million tickets).
    let warm = services.clone();
    let warm = tokio::spawn(async move { warm.keep_dashboard_warm().await });
    server
        .run_until(shutdown_signal())
        .await
        .map_err(|e| format!("server failed: {e}"))?;
    chat.stop().await;
    warm.abort();
    let _ = stop_sla.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), sla).await;
    mail.stop().await;
    services.close().await;
    tracing::info!("soporte stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

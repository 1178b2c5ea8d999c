//! HTTP: application state, the server, middleware. The route table is in `routes.rs`;
//! extractors that declare who may call a handler are in `extract.rs`.

pub mod api;
pub mod charts;
pub mod chrome;
pub mod error;
pub mod events;
pub mod extract;
pub mod intake;
pub mod metrics;
pub mod middleware;
pub mod pages;
pub mod query;
pub mod routes;
pub mod upload;

use crate::config::{Secret, ServeArgs};
use crate::service::Services;
use axum::Router;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::net::TcpListener;

/// What the web layer needs beyond the use cases.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    pub intake_token: Option<Secret>,
    pub trusted_proxies: Vec<IpAddr>,
    pub cookie_secure: bool,
    pub max_body_bytes: usize,
    /// Bearer token for `GET /metrics`; without it only loopback callers may read it.
    pub metrics_token: Option<Secret>,
    /// Limits for raw e-mails posted to intake.
    pub mail_limits: crate::domain::mail::MailLimits,
    /// The mail settings, for "Probar conexión" on `/admin/mail`.
    pub mail: crate::config::MailArgs,
    /// The support mailbox's address ("Registrar correo recibido en …").
    pub support_address: String,
}

impl WebConfig {
    pub fn from_args(args: &ServeArgs) -> WebConfig {
        WebConfig {
            intake_token: args.intake_token.clone().filter(|t| !t.expose().is_empty()),
            trusted_proxies: args.trusted_proxies.clone(),
            cookie_secure: args.cookie_secure,
            max_body_bytes: args.max_body_bytes,
            metrics_token: args
                .metrics_token
                .clone()
                .filter(|t| !t.expose().is_empty()),
            mail_limits: args.mail.limits.limits(),
            mail: args.mail.clone(),
            support_address: args.support_address(),
        }
    }
}

/// Shared by every handler: one reference count, so cloning it (every extractor and
/// middleware layer of every request does) is one atomic increment. (As a plain struct of
/// the services' handles, a dozen reference counts shared by every thread, its clones and
/// drops stood out in a `perf` profile of the server at full intake.)
#[derive(Debug, Clone)]
pub struct AppState(Arc<AppParts>);

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// What `AppState` shares.
#[derive(Debug)]
pub struct AppParts {
    pub services: Services,
    pub config: Arc<WebConfig>,
    /// This instance's request counters for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// Turns true when the server begins to stop: long-lived responses (the event stream)
    /// end, so in-flight requests can finish.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// `GET /api/v1/dashboard`'s bodies, written once per dashboard the service computes.
    pub dashboard_bodies: api::dashboard::KeptBodies,
}

/// A bound listener and the app, ready to serve.
pub struct Server {
    listener: TcpListener,
    router: Router,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until `signal` completes, then lets in-flight requests finish.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stop = self.stop;
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            signal.await;
            let _ = stop.send(true);
        })
        .await
    }
}

/// Binds the address (port 0 picks a free one) and builds the app.
pub async fn build(services: Services, args: &ServeArgs) -> std::io::Result<Server> {
    let listener = TcpListener::bind(args.bind).await?;
    Ok(build_on(listener, services, args))
}

/// Builds the app on a listener bound already (tests that must know the port before the
/// services are configured, e.g. for `--public-url`).
pub fn build_on(listener: TcpListener, services: Services, args: &ServeArgs) -> Server {
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let state = AppState(Arc::new(AppParts {
        services,
        config: Arc::new(WebConfig::from_args(args)),
        metrics: Arc::new(metrics::Metrics::default()),
        stopping,
        dashboard_bodies: Default::default(),
    }));
    Server {
        listener,
        router: routes::router(state),
        stop,
    }
}

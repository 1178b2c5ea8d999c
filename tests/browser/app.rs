//! The real app, in-process, on 127.0.0.1 with port 0 over a fresh temp SQLite file — the
//! same `soporte::web::build` the binary runs. Seeding helpers go through `Services`, the way
//! the CLI and intake do, for the tests whose subject is not how the data got there.

use soporte::config::ServeArgs;
use soporte::domain::ids::TicketId;
use soporte::domain::ticket::{NewTicket, Ticket};
use soporte::domain::user::{Role, User};
use soporte::service::accounts::{InitialPassword, ProfileInput};
use soporte::service::tickets::Action;
use soporte::service::{Services, Settings};
use soporte::storage::Store;

/// The password of every account the tests seed (ready to use, no forced change).
pub const PASSWORD: &str = "clave-de-prueba-1";

pub struct App {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub services: Services,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl App {
    pub async fn spawn() -> App {
        Self::spawn_with(ServeArgs::default()).await
    }

    /// The app with a clock the test sets (`Clock::set`), starting at `start`.
    pub async fn spawn_at(start: i64) -> (App, soporte::service::Clock) {
        let clock = soporte::service::Clock::manual(start);
        let app = App::spawn_configured(
            ServeArgs::default(),
            Settings {
                clock: clock.clone(),
                ..Settings::default()
            },
        )
        .await;
        (app, clock)
    }

    /// The app with these settings (company connections); `--public-url` is its real
    /// address, so sign-in callbacks come back to it.
    pub async fn spawn_with(args: ServeArgs) -> App {
        App::spawn_configured(args, Settings::default()).await
    }

    async fn spawn_configured(mut args: ServeArgs, settings: Settings) -> App {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("soporte.db").display());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        args.bind = addr;
        args.public_url = format!("http://{addr}");
        let store = Store::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let services = Services::new(store, settings).with_connect(
            soporte::service::connect::Connect::from_args(&args).expect("connection settings"),
        );
        services.ensure_admin().await.expect("first administrator");
        let server = soporte::web::build_on(listener, services.clone(), &args);
        let base = format!("http://{addr}");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = server
                .run_until(async move {
                    let _ = rx.await;
                })
                .await;
        });
        App {
            base,
            services,
            shutdown: Some(tx),
            _dir: dir,
        }
    }

    /// An account with `PASSWORD`, ready to use.
    pub async fn user(&self, role: Role, name: &str, email: &str, area: &str) -> User {
        let input = ProfileInput {
            name: name.to_string(),
            email: email.to_string(),
            area: area.to_string(),
            ..ProfileInput::default()
        };
        self.services
            .create_user(&input, role, InitialPassword::Chosen(PASSWORD.to_string()))
            .await
            .expect("create user")
            .0
    }

    /// A ticket registered by hand by `by` (an administrator or dispatcher).
    pub async fn ticket(&self, by: &User, from: &str, subject: &str, body: &str) -> Ticket {
        let new = NewTicket::parse(from, subject, body).expect("valid ticket");
        self.services
            .create_ticket(&by.actor(), &new)
            .await
            .expect("create ticket")
    }

    pub async fn act(&self, by: &User, id: TicketId, action: Action) -> Ticket {
        self.services
            .act(&by.actor(), id, None, action)
            .await
            .expect("ticket action")
    }
}

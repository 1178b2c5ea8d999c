//! `TestApp::spawn(Backend)`: the real app on port 0 over a fresh database (a temp SQLite
//! file, or a new PostgreSQL database per test), and a cookie-keeping client that does not
//! follow redirects. Helpers are named after what a person does.

#![allow(dead_code)]

use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use soporte::config::ServeArgs;
use soporte::domain::user::{Role, User};
use soporte::service::accounts::{InitialPassword, ProfileInput};
use soporte::service::{Clock, Services, Settings};
use soporte::storage::{Backend, Store};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const PASSWORD: &str = "clave-de-prueba-1";
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The ids of a ticket list's items (`GET /api/v1/tickets`), in the list's order.
pub fn ids_of(v: &Value) -> Vec<i64> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {v}"))
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

pub fn pg_admin_url() -> String {
    std::env::var("SOPORTE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

fn unique() -> String {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).expect("random");
    format!(
        "{}_{}",
        COUNTER.fetch_add(1, Ordering::SeqCst),
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

/// Creates an empty PostgreSQL database and returns its URL; `None` (with the reason
/// printed) only outside CI, where PostgreSQL may be missing. In CI a missing server fails.
pub async fn fresh_pg_database() -> Option<(String, String)> {
    sqlx::any::install_default_drivers();
    let admin = pg_admin_url();
    let conn = sqlx::AnyPool::connect(&admin).await;
    let pool = match conn {
        Ok(p) => p,
        Err(e) => {
            if std::env::var("CI").is_ok() {
                panic!("PostgreSQL is required in CI but {admin} is unreachable: {e}");
            }
            eprintln!("SKIPPED (PostgreSQL at {admin} unreachable, CI unset): {e}");
            return None;
        }
    };
    let name = format!("soporte_t_{}", unique());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create database");
    pool.close().await;
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin.clone());
    Some((format!("{base}/{name}"), name))
}

pub fn drop_pg_database(name: &str) {
    let name = name.to_string();
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            if let Ok(pool) = sqlx::AnyPool::connect(&pg_admin_url()).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&pool)
                    .await;
                pool.close().await;
            }
        });
    })
    .join();
}

pub struct TestApp {
    pub clock: Clock,
    pub addr: SocketAddr,
    pub services: Services,
    pub store: Store,
    pub backend: Backend,
    pub database_url: String,
    dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.abort();
        }
        if let Some(name) = self.pg_name.take() {
            drop_pg_database(&name);
        }
    }
}

/// A database URL for the backend: a temp SQLite file or a new PostgreSQL database.
pub async fn fresh_database(
    backend: Backend,
) -> Option<(String, Option<tempfile::TempDir>, Option<String>)> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}", dir.path().join("soporte.db").display());
            Some((url, Some(dir), None))
        }
        Backend::Postgres => {
            let (url, name) = fresh_pg_database().await?;
            Some((url, None, Some(name)))
        }
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, ServeArgs::default()).await
    }

    pub async fn spawn_with(backend: Backend, mut args: ServeArgs) -> Option<TestApp> {
        let (url, dir, pg_name) = fresh_database(backend).await?;
        Some(Self::spawn_on(backend, url, dir, pg_name, &mut args, Clock::System).await)
    }

    /// An app whose clock the test sets (`app.clock.set(…)`), starting at `start`.
    pub async fn spawn_at(backend: Backend, start: i64) -> Option<TestApp> {
        let (url, dir, pg_name) = fresh_database(backend).await?;
        Some(
            Self::spawn_on(
                backend,
                url,
                dir,
                pg_name,
                &mut ServeArgs::default(),
                Clock::manual(start),
            )
            .await,
        )
    }

    /// An app with these settings whose clock the test sets, starting at `start`.
    pub async fn spawn_with_at(
        backend: Backend,
        mut args: ServeArgs,
        start: i64,
    ) -> Option<TestApp> {
        let (url, dir, pg_name) = fresh_database(backend).await?;
        Some(Self::spawn_on(backend, url, dir, pg_name, &mut args, Clock::manual(start)).await)
    }

    /// Another server on an existing database (several instances).
    pub async fn spawn_on_url(backend: Backend, url: &str, mut args: ServeArgs) -> TestApp {
        Self::spawn_on(
            backend,
            url.to_string(),
            None,
            None,
            &mut args,
            Clock::System,
        )
        .await
    }

    async fn spawn_on(
        backend: Backend,
        url: String,
        dir: Option<tempfile::TempDir>,
        pg_name: Option<String>,
        args: &mut ServeArgs,
        clock: Clock,
    ) -> TestApp {
        // Bound first, so `--public-url` (sign-in callbacks, links) names the real port.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let bound = listener.local_addr().expect("addr");
        args.bind = bound;
        if args.public_url == ServeArgs::default().public_url {
            args.public_url = format!("http://{bound}");
        }
        let store = Store::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let services = Services::new(
            store.clone(),
            Settings {
                session_idle_secs: args.session_idle_minutes * 60,
                clock: clock.clone(),
            },
        )
        .with_connect(
            soporte::service::connect::Connect::from_args(args).expect("connection settings"),
        )
        .with_replicas(
            &args
                .database_replica
                .iter()
                .map(|r| r.expose().to_string())
                .collect::<Vec<_>>(),
            args.replica_max_lag_seconds,
        )
        .expect("read replicas");
        services.ensure_admin().await.expect("ensure admin");
        let server = soporte::web::build_on(listener, services.clone(), args);
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let _ = server
                .run_until(async move {
                    let _ = rx.await;
                })
                .await;
        });
        TestApp {
            clock,
            addr,
            services,
            store,
            backend,
            database_url: url,
            dir,
            pg_name,
            shutdown: Some(tx),
            server: Some(handle),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn client() -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// Creates an account with `PASSWORD`, ready to use.
    pub async fn create_user(&self, role: Role, name: &str) -> User {
        let email = format!(
            "{}.{}@miempresa.com",
            name.to_lowercase().replace(' ', "."),
            unique()
        );
        let input = ProfileInput {
            name: name.to_string(),
            email,
            ..ProfileInput::default()
        };
        self.services
            .create_user(&input, role, InitialPassword::Chosen(PASSWORD.to_string()))
            .await
            .expect("create user")
            .0
    }

    /// GETs the page and returns its first `csrf_token` value.
    pub async fn csrf_of(&self, client: &Client, path: &str) -> String {
        let html = client
            .get(self.url(path))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        csrf_in(&html).unwrap_or_default()
    }

    /// Signs in through the form of `page` (e.g. "/login" or "/login/technician").
    pub async fn sign_in(
        &self,
        client: &Client,
        page: &str,
        email: &str,
        password: &str,
    ) -> Response {
        let csrf = self.csrf_of(client, page).await;
        client
            .post(self.url(page))
            .form(&[
                ("email", email),
                ("password", password),
                ("csrf_token", &csrf),
            ])
            .send()
            .await
            .expect("post login")
    }

    /// A new account of `role`, signed in through /login.
    pub async fn signed_in(&self, role: Role, name: &str) -> Browser {
        let user = self.create_user(role, name).await;
        self.browser_for(user).await
    }

    pub async fn browser_for(&self, user: User) -> Browser {
        let client = Self::client();
        let r = self.sign_in(&client, "/login", &user.email, PASSWORD).await;
        assert_redirect_to(&r, "/");
        let csrf = self.csrf_of(&client, "/account/password").await;
        assert!(!csrf.is_empty(), "session has a CSRF token");
        Browser {
            client,
            csrf,
            user,
            base: format!("http://{}", self.addr),
        }
    }

    /// The brief's intake call.
    pub async fn intake(&self, from: &str, subject: &str, body: &str) -> Value {
        let r = Self::client()
            .post(self.url("/intake/email"))
            .json(&serde_json::json!({"from": from, "subject": subject, "body": body}))
            .send()
            .await
            .expect("intake");
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.expect("json")
    }

    /// A raw count straight from the database (for "nothing was written" checks).
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(self.store.pool())
            .await
            .expect("count")
    }

    /// A personal API token for the user.
    pub async fn token_for(&self, user: &User) -> String {
        self.services
            .create_token(&user.email)
            .await
            .expect("token")
    }

    /// `n` dispatchers' API tokens and `n` technicians' ids ("Derivador i", "Tecnico i"): the
    /// contenders of a race to assign one ticket.
    pub async fn dispatchers_and_technicians(&self, n: usize) -> (Vec<String>, Vec<i64>) {
        let (mut tokens, mut techs) = (Vec::new(), Vec::new());
        for i in 0..n {
            let d = self
                .create_user(Role::Dispatcher, &format!("Derivador {i}"))
                .await;
            tokens.push(self.token_for(&d).await);
            techs.push(
                self.create_user(Role::Technician, &format!("Tecnico {i}"))
                    .await
                    .id
                    .0,
            );
        }
        (tokens, techs)
    }
}

/// A signed-in browser: its cookie jar, its session's CSRF token, and who it is.
pub struct Browser {
    pub client: Client,
    pub csrf: String,
    pub user: User,
    pub base: String,
}

impl Browser {
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .expect("get")
    }

    pub async fn get_html(&self, path: &str) -> (StatusCode, String) {
        let r = self.get(path).await;
        let s = r.status();
        (s, r.text().await.expect("text"))
    }

    /// Posts a form with this session's CSRF token added.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf_token", &self.csrf));
        self.client
            .post(format!("{}{}", self.base, path))
            .form(&all)
            .send()
            .await
            .expect("post")
    }

    pub async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .client
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .expect("get");
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .client
            .post(format!("{}{}", self.base, path))
            .json(&body)
            .send()
            .await
            .expect("post");
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }
}

pub fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

pub fn location(r: &Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[track_caller]
pub fn assert_redirect_to(r: &Response, path: &str) {
    assert!(
        r.status().is_redirection(),
        "expected a redirect to {path}, got {}",
        r.status()
    );
    assert_eq!(location(r), path);
}

/// Runs one scenario on SQLite and on PostgreSQL, as two tests.
#[macro_export]
macro_rules! both_backends {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::helpers::TestApp::spawn(soporte::storage::Backend::Sqlite)
                    .await
                    .expect("sqlite app");
                super::$scenario(app).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) =
                    $crate::helpers::TestApp::spawn(soporte::storage::Backend::Postgres).await
                {
                    super::$scenario(app).await;
                }
            }
        }
    };
}

/// Mon 9 Nov 2026, 09:00 in Lima: inside working hours, a start for clocked scenarios.
pub const MONDAY_0900: i64 = 1_794_232_800;

/// Runs one scenario on SQLite and on PostgreSQL, as two tests, each app's clock starting at
/// `$start` (a constant of the calling module; the test sets the clock from there).
#[macro_export]
macro_rules! both_backends_at {
    ($scenario:ident, $start:ident) => {
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::helpers::TestApp::spawn_at(
                    soporte::storage::Backend::Sqlite,
                    super::$start,
                )
                .await
                .expect("sqlite app");
                super::$scenario(app).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::helpers::TestApp::spawn_at(
                    soporte::storage::Backend::Postgres,
                    super::$start,
                )
                .await
                {
                    super::$scenario(app).await;
                }
            }
        }
    };
}

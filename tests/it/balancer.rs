//! Three instances on one PostgreSQL database behind a real HAProxy (Debian's `haproxy`,
//! round-robin, health checks on `/healthz`), everything asserted THROUGH the balancer: a
//! session made on one instance works on the others, sign-in throttling counts across them,
//! the live stream (`GET /events`) held through HAProxy hears a change made on another
//! instance within a second (and outlives HAProxy's idle timeouts thanks to its heartbeat),
//! concurrent assignments have one winner, and an instance stopped with SIGTERM finishes what
//! it was doing while HAProxy sends everything else to the other two, with no failed request.
//!
//! HAProxy adds `X-Served-By: <server name>` to each answer, so each test knows which
//! instance answered. PostgreSQL and HAProxy are required under `CI=true`; outside CI a
//! missing one skips the test with the reason printed.

use crate::helpers::*;
use crate::ops::{Binary, Db};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use soporte::config::{Secret, ServeArgs};
use soporte::domain::user::Role;
use soporte::storage::Backend;
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const INTAKE_TOKEN: &str = "token-de-ingreso-del-balanceador";

/// Debian's HAProxy, or `None` (reason printed) outside CI; under CI a missing one fails.
fn haproxy_binary() -> Option<String> {
    let found = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(str::to_string);
    if found.is_none() {
        if std::env::var("CI").is_ok() {
            panic!("HAProxy is required in CI (apt-get install haproxy; .ci/run does it)");
        }
        eprintln!("SKIPPED (haproxy not installed, CI unset): apt-get install haproxy");
    }
    found
}

/// A port nobody listens on right now, for HAProxy's frontend (HAProxy binds it itself; a
/// lost race is retried by `Haproxy::start`).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The configuration `docs/operations.md` shows, on loopback, with short health-check
/// intervals so the test does not wait long, and 20 s idle timeouts (longer than the event
/// stream's 15 s heartbeat, shorter than the test's quiet period).
fn config(port: u16, servers: &[SocketAddr]) -> String {
    let mut c = format!(
        "global
    maxconn 2000

defaults
    mode http
    option forwardfor
    timeout connect 2s
    timeout client 20s
    timeout server 20s
    timeout tunnel 1h
    timeout http-request 10s
    timeout http-keep-alive 10s
    # A request refused by a stopping instance goes to another one.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response

frontend soporte
    bind 127.0.0.1:{port}
    default_backend instances

backend instances
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 300ms fall 2 rise 2
    http-response set-header X-Served-By %[srv_name]
"
    );
    for (i, s) in servers.iter().enumerate() {
        c.push_str(&format!("    server s{} {s} check\n", i + 1));
    }
    c
}

/// HAProxy as a child process, killed on drop.
struct Haproxy {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    async fn start(servers: &[SocketAddr]) -> Option<Haproxy> {
        let binary = haproxy_binary()?;
        let dir = tempfile::tempdir().unwrap();
        for _attempt in 0..5 {
            let port = free_port();
            let path = dir.path().join("haproxy.cfg");
            std::fs::write(&path, config(port, servers)).unwrap();
            let check = Command::new(&binary)
                .arg("-c")
                .arg("-f")
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "haproxy refuses the configuration: {}{}",
                String::from_utf8_lossy(&check.stdout),
                String::from_utf8_lossy(&check.stderr)
            );
            // -db: stay in the foreground, so the child is HAProxy itself.
            let mut child = Command::new(&binary)
                .arg("-db")
                .arg("-f")
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start haproxy");
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut up = false;
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break; // the port was taken meanwhile: try another
                }
                if let Ok(r) = plain()
                    .get(format!("http://127.0.0.1:{port}/healthz"))
                    .send()
                    .await
                    && r.status() == StatusCode::OK
                {
                    up = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if up {
                return Some(Haproxy {
                    child,
                    port,
                    _dir: dir,
                });
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("haproxy did not start on a free port in 5 attempts");
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client without cookies that does not follow redirects.
fn plain() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Which instance answered (HAProxy's server name).
fn served_by(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-served-by")
        .and_then(|v| v.to_str().ok())
        .expect("HAProxy names the instance that answered")
        .to_string()
}

/// What each instance is started with behind the balancer: the balancer is a trusted proxy
/// (the client's address comes from X-Forwarded-For), so intake needs its token.
fn behind_balancer() -> ServeArgs {
    ServeArgs {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        intake_token: Some(Secret::new(INTAKE_TOKEN)),
        ..ServeArgs::default()
    }
}

/// Three instances on one fresh PostgreSQL database, and HAProxy in front of them.
struct Cluster {
    // HAProxy goes first (fields drop in order), then the instances, the first one last: it
    // drops the database.
    balancer: Haproxy,
    instances: Vec<TestApp>,
}

impl Cluster {
    async fn start() -> Option<Cluster> {
        let first = TestApp::spawn_with(Backend::Postgres, behind_balancer()).await?;
        let mut rest = Vec::new();
        for _ in 0..2 {
            rest.push(
                TestApp::spawn_on_url(Backend::Postgres, &first.database_url, behind_balancer())
                    .await,
            );
        }
        let addrs: Vec<SocketAddr> = std::iter::once(first.addr)
            .chain(rest.iter().map(|a| a.addr))
            .collect();
        let balancer = Haproxy::start(&addrs).await?;
        let mut instances = rest;
        instances.insert(0, first);
        Some(Cluster {
            balancer,
            instances,
        })
    }

    fn url(&self, path: &str) -> String {
        self.balancer.url(path)
    }

    fn app(&self) -> &TestApp {
        &self.instances[0]
    }

    /// The instance HAProxy calls `name` (`s1` is the first).
    fn instance(&self, name: &str) -> &TestApp {
        let i: usize = name.trim_start_matches('s').parse().unwrap();
        &self.instances[i - 1]
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The first instance drops the database: let it go last.
        while self.instances.len() > 1 {
            self.instances.pop();
        }
    }
}

/// Signs in through the balancer's form (the form's page and its post may reach different
/// instances); returns the post's answer and who served it.
async fn sign_in_through(
    cluster: &Cluster,
    client: &Client,
    email: &str,
    password: &str,
) -> (reqwest::Response, String) {
    let html = client
        .get(cluster.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&html).unwrap_or_default();
    let r = client
        .post(cluster.url("/login"))
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    let by = served_by(&r);
    (r, by)
}

macro_rules! behind_haproxy {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(cluster) = super::Cluster::start().await {
                    super::$scenario(cluster).await;
                }
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------

async fn a_session_made_on_one_instance_works_on_the_others(cluster: Cluster) {
    let user = cluster
        .app()
        .create_user(Role::Dispatcher, "Derivadora Balanceada")
        .await;
    let client = TestApp::client();
    let (r, _) = sign_in_through(&cluster, &client, &user.email, PASSWORD).await;
    assert_redirect_to(&r, "/");
    // Page after page through the balancer, each from the next instance: the same person.
    let mut who = BTreeSet::new();
    let mut csrf = String::new();
    for _ in 0..6 {
        let r = client.get(cluster.url("/")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        who.insert(served_by(&r));
        let html = r.text().await.unwrap();
        assert!(html.contains("Derivadora Balanceada"));
        csrf = csrf_in(&html).expect("a form with the session's CSRF token");
    }
    assert_eq!(who.len(), 3, "every instance served the session: {who:?}");
    // Forms posted with that token are accepted whichever instance takes them.
    let mut took = BTreeSet::new();
    for i in 0..3 {
        let r = client
            .post(cluster.url("/"))
            .form(&[
                ("from", "cliente@dominio.com"),
                ("subject", &format!("Creada tras el balanceador {i}")),
                ("body", "b"),
                ("csrf_token", &csrf),
            ])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "{}", r.status());
        took.insert(served_by(&r));
    }
    assert_eq!(took.len(), 3, "{took:?}");
    assert_eq!(
        cluster
            .app()
            .count("SELECT COUNT(*) FROM tickets WHERE subject LIKE 'Creada tras el balanceador %'")
            .await,
        3
    );
    // Signing out through the balancer ends the session on every instance.
    let r = client
        .post(cluster.url("/logout"))
        .form(&[("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());
    for app in &cluster.instances {
        let r = client.get(app.url("/")).send().await.unwrap();
        assert_redirect_to(&r, "/login");
    }
}
behind_haproxy!(a_session_made_on_one_instance_works_on_the_others);

async fn failed_sign_ins_spread_over_the_instances_lock_the_account(cluster: Cluster) {
    let user = cluster.app().create_user(Role::Technician, "Tecnico").await;
    let mut who = BTreeSet::new();
    for i in 0..5 {
        let (r, by) =
            sign_in_through(&cluster, &TestApp::client(), &user.email, "incorrecta-123").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
        who.insert(by);
    }
    assert_eq!(who.len(), 3, "the failures reached every instance: {who:?}");
    // The right password is now refused by every instance, through the balancer or not.
    let mut refused_by = BTreeSet::new();
    for _ in 0..3 {
        let (r, by) = sign_in_through(&cluster, &TestApp::client(), &user.email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        refused_by.insert(by);
    }
    assert!(refused_by.len() >= 2, "{refused_by:?}");
    for app in &cluster.instances {
        let r = app
            .sign_in(&TestApp::client(), "/login", &user.email, PASSWORD)
            .await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}
behind_haproxy!(failed_sign_ins_spread_over_the_instances_lock_the_account);

/// An open `GET /events` stream read a chunk at a time.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    /// The next `incidencia` event's data within `wait` (heartbeats skipped).
    async fn next_ticket(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if block
                    .lines()
                    .any(|l| l.strip_prefix("event:").map(str::trim) == Some("incidencia"))
                {
                    let data: String = block
                        .lines()
                        .filter_map(|l| l.strip_prefix("data:"))
                        .map(str::trim)
                        .collect();
                    return Some(serde_json::from_str(&data).unwrap());
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .expect("the stream is not cut")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// The brief's intake call made straight to one instance (with the intake token).
async fn intake_at(url: String, subject: &str) -> Value {
    let r = plain()
        .post(url)
        .bearer_auth(INTAKE_TOKEN)
        .json(&json!({"from": "cliente@dominio.com", "subject": subject, "body": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

async fn the_event_stream_through_the_balancer_hears_changes_made_on_other_instances(
    cluster: Cluster,
) {
    let dispatcher = cluster
        .app()
        .create_user(Role::Dispatcher, "Derivador")
        .await;
    let token = cluster.app().token_for(&dispatcher).await;
    let response = plain()
        .get(cluster.url("/events"))
        .bearer_auth(&token)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let holder = served_by(&response);
    let mut stream = Stream {
        response,
        buffer: String::new(),
    };
    // A ticket arriving at each of the other instances reaches the stream within a second.
    let others: Vec<String> = ["s1", "s2", "s3"]
        .into_iter()
        .filter(|s| *s != holder)
        .map(str::to_string)
        .collect();
    assert_eq!(others.len(), 2);
    for other in &others {
        let sent = Instant::now();
        let made = intake_at(
            cluster.instance(other).url("/intake/email"),
            &format!("Llega por {other}"),
        )
        .await;
        let news = stream
            .next_ticket(Duration::from_secs(1))
            .await
            .unwrap_or_else(|| panic!("no news within 1 s of a change on {other}"));
        assert_eq!(news["ticket"], made["id"]);
        assert_eq!(news["created"], true);
        eprintln!(
            "stream on {holder} heard a ticket made on {other} {:?} after the request",
            sent.elapsed()
        );
    }
    // Quiet for longer than HAProxy's 20 s client/server timeouts: the stream's heartbeat
    // (a comment every 15 s) keeps it open, and it still delivers.
    tokio::time::sleep(Duration::from_secs(24)).await;
    let made = intake_at(
        cluster.instance(&others[0]).url("/intake/email"),
        "Tras el silencio",
    )
    .await;
    let news = stream
        .next_ticket(Duration::from_secs(1))
        .await
        .expect("the stream outlived HAProxy's idle timeouts");
    assert_eq!(news["ticket"], made["id"]);
}
behind_haproxy!(the_event_stream_through_the_balancer_hears_changes_made_on_other_instances);

async fn concurrent_assignments_through_the_balancer_have_one_winner(cluster: Cluster) {
    let app = cluster.app();
    let admin = app.create_user(Role::Admin, "Admin").await;
    let (tokens, techs) = app.dispatchers_and_technicians(6).await;
    let admin_token = app.token_for(&admin).await;
    for round in 0..3 {
        let id = intake_at(cluster.url("/intake/email"), &format!("Carrera {round}")).await["id"]
            .as_i64()
            .unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(tokens.len()));
        let mut handles = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            let (url, token, tech, barrier) = (
                cluster.url(&format!("/api/v1/tickets/{id}/assign")),
                token.clone(),
                techs[i],
                barrier.clone(),
            );
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                let r = plain()
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"technician_id": tech, "version": 1}))
                    .send()
                    .await
                    .unwrap();
                (r.status(), served_by(&r), tech)
            }));
        }
        let mut results = Vec::new();
        for h in handles {
            results.push(h.await.unwrap());
        }
        let winners: Vec<i64> = results
            .iter()
            .filter(|(s, _, _)| *s == StatusCode::OK)
            .map(|(_, _, t)| *t)
            .collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        assert!(
            results
                .iter()
                .all(|(s, _, _)| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
            "{results:?}"
        );
        let who: BTreeSet<&String> = results.iter().map(|(_, by, _)| by).collect();
        assert_eq!(who.len(), 3, "the race ran on every instance: {results:?}");
        // Every instance tells the same story, and the timeline matches the row.
        for instance in &cluster.instances {
            let v: Value = plain()
                .get(instance.url(&format!("/api/v1/tickets/{id}")))
                .bearer_auth(&admin_token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(v["version"], 2);
            assert_eq!(v["assignee"]["id"], winners[0]);
            let assigned = v["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["kind"] == "assigned")
                .count();
            assert_eq!(assigned, 1);
        }
    }
}
behind_haproxy!(concurrent_assignments_through_the_balancer_have_one_winner);

// ---------------------------------------------------------------------------------------------
// Draining: the real binary, three processes, one stopped with SIGTERM under load.

/// What the load loop saw: each request's outcome and who served it.
#[derive(Debug, Clone)]
struct Outcome {
    at: Instant,
    what: &'static str,
    status: Option<u16>,
    served_by: Option<String>,
    error: Option<String>,
    subject: Option<String>,
}

async fn stopping_one_instance_with_sigterm_drains_it_and_no_request_fails() {
    const CLOSED: i64 = 40_000;
    let Some(db) = Db::new(Backend::Postgres).await else {
        return;
    };
    let token = crate::ops::admin_token(&db.url);
    crate::ops::insert_closed_tickets(&db, CLOSED).await;
    let env = [
        ("SOPORTE_TRUSTED_PROXIES", "127.0.0.1"),
        ("SOPORTE_INTAKE_TOKEN", INTAKE_TOKEN),
    ];
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(Binary::start(&db.url, &env).await);
    }
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr()).collect();
    let Some(balancer) = Haproxy::start(&addrs).await else {
        return;
    };
    let base = balancer.url("");

    // A large export through the balancer, read slowly: in flight across the signal.
    let mut export = plain()
        .get(format!("{base}/export/closed.csv"))
        .bearer_auth(&token)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    let stopped = served_by(&export);
    let mut body = export
        .chunk()
        .await
        .unwrap()
        .expect("a first chunk")
        .to_vec();

    // Steady load through the balancer: intake deliveries and list reads, four clients.
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for worker in 0..4 {
        let (outcomes, stop, base, token) =
            (outcomes.clone(), stop.clone(), base.clone(), token.clone());
        load.push(tokio::spawn(async move {
            let client = plain();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let (what, request, subject) = if n % 2 == 0 {
                    let subject = format!("Drenaje {worker}-{n}");
                    (
                        "intake",
                        client
                            .post(format!("{base}/intake/email"))
                            .bearer_auth(INTAKE_TOKEN)
                            .json(&json!({"from": "c@d.com", "subject": subject, "body": "b"})),
                        Some(subject),
                    )
                } else {
                    (
                        "list",
                        client
                            .get(format!("{base}/api/v1/tickets"))
                            .bearer_auth(&token),
                        None,
                    )
                };
                let at = Instant::now();
                let outcome = match request.send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let by = r
                            .headers()
                            .get("x-served-by")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let _ = r.bytes().await;
                        Outcome {
                            at,
                            what,
                            status: Some(status),
                            served_by: by,
                            error: None,
                            subject,
                        }
                    }
                    Err(e) => Outcome {
                        at,
                        what,
                        status: None,
                        served_by: None,
                        error: Some(e.to_string()),
                        subject,
                    },
                };
                outcomes.lock().unwrap().push(outcome);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let index: usize = stopped.trim_start_matches('s').parse().unwrap();
    let signalled = Instant::now();
    servers[index - 1].signal("TERM");
    // The export started before the signal runs to its last row.
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(30), export.chunk())
        .await
        .expect("the export keeps flowing")
        .expect("the export is not cut")
    {
        body.extend_from_slice(&chunk);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let text = String::from_utf8(body).unwrap();
    let lines = text.split("\r\n").filter(|l| !l.is_empty()).count() as i64;
    assert_eq!(lines, CLOSED + 1, "header and every closed ticket");
    let status = servers[index - 1].wait_exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0), "{}", servers[index - 1].log_text());
    let exited = Instant::now();
    // The others keep taking the load for a while after the stopped one is gone.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for h in load {
        h.await.unwrap();
    }
    let outcomes = outcomes.lock().unwrap().clone();

    let failed: Vec<(&str, Option<u16>, Option<&String>)> = outcomes
        .iter()
        .filter(|o| !matches!(o.status, Some(200 | 201)))
        .map(|o| (o.what, o.status, o.error.as_ref()))
        .collect();
    assert!(failed.is_empty(), "failed requests: {failed:?}");
    let before: BTreeSet<&str> = outcomes
        .iter()
        .filter(|o| o.at < signalled)
        .filter_map(|o| o.served_by.as_deref())
        .collect();
    assert_eq!(
        before.len(),
        3,
        "all three served before the signal: {before:?}"
    );
    let after_exit: Vec<&Outcome> = outcomes.iter().filter(|o| o.at > exited).collect();
    assert!(after_exit.len() >= 10, "load went on after the exit");
    assert!(
        after_exit
            .iter()
            .all(|o| o.served_by.as_deref() != Some(stopped.as_str())),
        "nothing reached the stopped instance once it was gone"
    );
    // Each acknowledged delivery is one ticket, none doubled by HAProxy's retries.
    let acked: Vec<&String> = outcomes
        .iter()
        .filter(|o| o.what == "intake")
        .filter_map(|o| o.subject.as_ref())
        .collect();
    let pool = db.pool().await;
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT subject, COUNT(*) FROM tickets WHERE subject LIKE 'Drenaje %' GROUP BY subject",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    let stored: HashMap<String, i64> = rows.into_iter().collect();
    assert_eq!(stored.len(), acked.len());
    for s in acked {
        assert_eq!(stored.get(s), Some(&1), "{s}");
    }
    eprintln!(
        "{} requests through HAProxy, none failed; {stopped} drained its export and exited {:?} after SIGTERM",
        outcomes.len(),
        exited - signalled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_one_instance_with_sigterm_drains_it_and_no_request_fails_postgres() {
    stopping_one_instance_with_sigterm_drains_it_and_no_request_fails().await;
}

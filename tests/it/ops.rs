//! Operations, with the real binary where a process boundary matters: kill -9 in the middle
//! of an intake stream loses no acknowledged ticket and duplicates none; SIGTERM lets
//! in-flight requests finish and exits 0; `soporte backup` copies a database while it is
//! being written; request logs carry no secrets; `/metrics` speaks Prometheus; the XLSX
//! export's peak memory does not grow with its rows.

use crate::both_backends;
use crate::helpers::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use soporte::domain::user::Role;
use soporte::storage::Backend;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ADMIN_EMAIL: &str = "operaciones@miempresa.com";
const ADMIN_PASSWORD: &str = "clave-operaciones-1";

/// A database for one test: a temp SQLite file, or a fresh PostgreSQL database dropped at the end.
pub(crate) struct Db {
    pub(crate) url: String,
    pub(crate) backend: Backend,
    dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl Db {
    pub(crate) async fn new(backend: Backend) -> Option<Db> {
        let (url, dir, pg_name) = fresh_database(backend).await?;
        Some(Db {
            url,
            backend,
            dir,
            pg_name,
        })
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.as_ref().expect("a SQLite test").path().join(name)
    }

    pub(crate) async fn pool(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::pool::PoolOptions::<sqlx::Any>::new()
            .max_connections(2)
            .connect(&self.url)
            .await
            .expect("connect to the test database")
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            drop_pg_database(&name);
        }
    }
}

/// Runs one scenario taking a `Db` on SQLite and on PostgreSQL, as two tests.
macro_rules! on_both {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = super::Db::new(soporte::storage::Backend::Sqlite)
                    .await
                    .expect("sqlite database");
                super::$scenario(&db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = super::Db::new(soporte::storage::Backend::Postgres).await {
                    super::$scenario(&db).await;
                }
            }
        }
    };
}

/// Runs a sub-command of the real binary to the end.
fn soporte(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_soporte"))
        .args(args)
        .env("DATABASE_URL", db)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run soporte")
}

#[track_caller]
fn assert_ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An administrator made from the command line and a personal API token for them.
pub(crate) fn admin_token(db: &str) -> String {
    assert_ok(&soporte(
        db,
        &[
            "user",
            "add",
            "--email",
            ADMIN_EMAIL,
            "--name",
            "Operaciones",
            "--role",
            "admin",
            "--password",
            ADMIN_PASSWORD,
        ],
    ));
    let out = soporte(db, &["token", "create", "--email", ADMIN_EMAIL]);
    assert_ok(&out);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The real binary, serving on a port it picked itself (read from its "listening" log line),
/// with JSON logs on stderr kept for the test to read.
pub(crate) struct Binary {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Binary {
    pub(crate) async fn start(db: &str, env: &[(&str, &str)]) -> Binary {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_soporte"));
        cmd.args(["serve", "--bind", "127.0.0.1:0"])
            .env("DATABASE_URL", db)
            .env("SOPORTE_LOG_FORMAT", "json")
            .env("RUST_LOG", "info,sqlx=warn")
            .env_remove("SOPORTE_INTAKE_TOKEN")
            .env_remove("SOPORTE_METRICS_TOKEN")
            .env_remove("SOPORTE_IMAP_HOST")
            .env_remove("SOPORTE_SMTP_HOST")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start soporte");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let lines = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("soporte listening")
                    && let Ok(v) = serde_json::from_str::<Value>(&line)
                    && let Some(a) = v["fields"]["address"].as_str()
                {
                    let _ = tx.send(a.to_string());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            if let Ok(a) = rx.try_recv() {
                break a.parse().expect("address in the log");
            }
            if let Ok(Some(status)) = child.try_wait() {
                let _ = reader.join();
                panic!(
                    "soporte exited before listening ({status}):\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "soporte did not start listening in 60 s:\n{}",
                log.lock().unwrap().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        Binary {
            child,
            addr,
            log,
            reader: Some(reader),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends a signal by name (`TERM`, `KILL`) with the system's `kill`.
    pub(crate) fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{name} failed");
    }

    pub(crate) async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "soporte did not exit within {timeout:?}:\n{}",
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub(crate) fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Intake deliveries that were answered 201: (subject, ticket id).
#[derive(Default)]
struct Acks {
    list: Mutex<Vec<(String, i64)>>,
    n: AtomicUsize,
}

impl Acks {
    fn count(&self) -> usize {
        self.n.load(Ordering::SeqCst)
    }
    fn snapshot(&self) -> Vec<(String, i64)> {
        self.list.lock().unwrap().clone()
    }
}

/// How one writer task ended.
#[derive(Debug, Default)]
struct WriterEnd {
    sent: usize,
    /// Requests that got no answer (the server went away).
    errors: usize,
    /// Answers other than 201.
    others: Vec<u16>,
}

fn message_id(tag: &str, task: usize, i: usize) -> String {
    format!("<{tag}-{task}-{i}@prueba.soporte>")
}

/// `tasks` concurrent clients, each sending up to `per_task` distinct messages (each with its
/// own Message-ID) until `stop` is set or the server stops answering.
fn spawn_writers(
    base: &str,
    tag: &str,
    tasks: usize,
    per_task: usize,
    acks: &Arc<Acks>,
    stop: &Arc<AtomicBool>,
    bearer: Option<&str>,
) -> Vec<tokio::task::JoinHandle<WriterEnd>> {
    (0..tasks)
        .map(|task| {
            let (url, tag, acks, stop, bearer) = (
                format!("{base}/intake/email"),
                tag.to_string(),
                acks.clone(),
                stop.clone(),
                bearer.map(str::to_string),
            );
            tokio::spawn(async move {
                let c = client();
                let mut end = WriterEnd::default();
                for i in 0..per_task {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let subject = format!("{tag} {task}-{i}");
                    let mut req = c.post(&url).json(&json!({
                        "from": format!("cliente{task}@dominio.com"),
                        "subject": subject,
                        "body": "No hay conexión",
                        "message_id": message_id(&tag, task, i),
                    }));
                    if let Some(b) = &bearer {
                        req = req.bearer_auth(b);
                    }
                    end.sent += 1;
                    match req.send().await {
                        Ok(r) if r.status() == StatusCode::CREATED => {
                            let v: Value = r.json().await.expect("json");
                            acks.list
                                .lock()
                                .unwrap()
                                .push((subject, v["id"].as_i64().expect("id")));
                            acks.n.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(r) => end.others.push(r.status().as_u16()),
                        Err(_) => {
                            end.errors += 1;
                            break;
                        }
                    }
                }
                end
            })
        })
        .collect()
}

async fn join_writers(handles: Vec<tokio::task::JoinHandle<WriterEnd>>) -> Vec<WriterEnd> {
    let mut ends = Vec::new();
    for h in handles {
        ends.push(
            tokio::time::timeout(Duration::from_secs(60), h)
                .await
                .expect("writer finished")
                .expect("writer task"),
        );
    }
    ends
}

async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every stored ticket whose subject starts with `prefix`: subject → ids.
async fn tickets_by_subject(db: &Db, prefix: &str) -> HashMap<String, Vec<i64>> {
    let pool = db.pool().await;
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT id, subject FROM tickets")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    let mut by_subject: HashMap<String, Vec<i64>> = HashMap::new();
    for (id, subject) in rows {
        if subject.starts_with(prefix) {
            by_subject.entry(subject).or_default().push(id);
        }
    }
    by_subject
}

async fn integrity_check(db: &Db) {
    if db.backend == Backend::Sqlite {
        let pool = db.pool().await;
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        assert_eq!(rows, ["ok"]);
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Durability: kill -9 in the middle of an intake stream.

async fn kill_9_mid_stream_loses_no_acknowledged_ticket_and_duplicates_none(db: &Db) {
    const TASKS: usize = 16;
    const ACKS_BEFORE_KILL: usize = 200;
    let tag = "Durabilidad";
    let mut server = Binary::start(&db.url, &[]).await;
    let acks = Arc::new(Acks::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let writers = spawn_writers(
        &format!("http://{}", server.addr),
        tag,
        TASKS,
        10_000,
        &acks,
        &stop,
        None,
    );
    wait_until("acknowledgements", Duration::from_secs(120), || {
        acks.count() >= ACKS_BEFORE_KILL
    })
    .await;
    server.signal("KILL");
    let killed_after = started.elapsed();
    let status = server.wait_exit(Duration::from_secs(10)).await;
    assert!(!status.success(), "killed, not exited: {status}");
    let ends = join_writers(writers).await;
    let acked = acks.snapshot();
    let unanswered: usize = ends.iter().map(|e| e.errors).sum();
    assert!(
        ends.iter().all(|e| e.others.is_empty()),
        "every answer before the kill was 201: {ends:?}"
    );
    assert_eq!(
        unanswered, TASKS,
        "every client lost the server mid-stream: {ends:?}"
    );

    // Restart on the same database: everything acknowledged is there, exactly once.
    let server = Binary::start(&db.url, &[]).await;
    integrity_check(db).await;
    let stored = tickets_by_subject(db, tag).await;
    for (subject, ids) in &stored {
        assert_eq!(ids.len(), 1, "{subject} stored {} times", ids.len());
    }
    for (subject, id) in &acked {
        assert_eq!(
            stored.get(subject),
            Some(&vec![*id]),
            "acknowledged {subject} (ticket {id}) is stored once, under the acknowledged id"
        );
    }
    // Committed but never acknowledged (the answer was lost with the process) is allowed;
    // the sender retries with the same Message-ID and gets the same ticket (below).
    eprintln!(
        "{:?}: {} acknowledged in {killed_after:?} by {TASKS} clients, {} stored after kill -9 \
         ({} committed but unanswered)",
        db.backend,
        acked.len(),
        stored.len(),
        stored.len() - acked.len()
    );

    // The idempotency record survived too: a retried delivery answers 200 with the same
    // ticket, and a sample of tickets reads back through the API.
    let token = admin_token(&db.url);
    let c = client();
    for (subject, id) in &acked {
        let (task, i) = subject
            .trim_start_matches(&format!("{tag} "))
            .split_once('-')
            .unwrap();
        let r = c
            .post(server.url("/intake/email"))
            .json(&json!({
                "from": format!("cliente{task}@dominio.com"),
                "subject": subject,
                "body": "No hay conexión",
                "message_id": message_id(tag, task.parse().unwrap(), i.parse().unwrap()),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{subject} retried");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["id"], *id);
    }
    for (subject, id) in acked.iter().step_by(25) {
        let v: Value = c
            .get(server.url(&format!("/api/v1/tickets/{id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["subject"], subject.as_str());
        assert_eq!(v["status"], "nuevo");
    }
    let stored_again = tickets_by_subject(db, tag).await;
    assert_eq!(stored_again.len(), stored.len(), "retries created nothing");
}
on_both!(kill_9_mid_stream_loses_no_acknowledged_ticket_and_duplicates_none);

// ---------------------------------------------------------------------------------------------
// 2. Graceful shutdown on SIGTERM.

/// Closed tickets written straight into the table, enough for an export of many megabytes.
pub(crate) async fn insert_closed_tickets(db: &Db, n: i64) {
    let columns = "status, subject, body, requester, created_at, updated_at, first_assigned_at, \
                   first_response_at, closed_at, resolution, last_event_at, last_event_kind";
    let values = "'cerrado', 'Exportación ' || n, 'cuerpo', 'cliente' || n || '@dominio.com', \
                  1700000000 + n, 1700007200 + n, 1700000600 + n, 1700001200 + n, 1700007200 + n, \
                  'Se reinició el equipo, se verificó la conexión y el usuario confirmó ' || n, \
                  1700007200 + n, 'closed'";
    let sql = match db.backend {
        Backend::Sqlite => format!(
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {n}) \
             INSERT INTO tickets ({columns}) SELECT {values} FROM seq"
        ),
        Backend::Postgres => format!(
            "INSERT INTO tickets ({columns}) SELECT {values} FROM generate_series(1, {n}) AS s(n)"
        ),
    };
    let pool = db.pool().await;
    sqlx::query(&sql).execute(&pool).await.unwrap();
    pool.close().await;
}

async fn sigterm_lets_in_flight_requests_finish_and_exits_0(db: &Db) {
    const CLOSED: i64 = 40_000;
    let token = admin_token(&db.url);
    insert_closed_tickets(db, CLOSED).await;
    let mut server = Binary::start(&db.url, &[]).await;
    let started = Instant::now();

    // A large export, read slowly: in flight from before the signal to well after it.
    let mut export = client()
        .get(server.url("/export/closed.csv"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    let mut body = export
        .chunk()
        .await
        .unwrap()
        .expect("a first chunk")
        .to_vec();

    // And a burst of intake deliveries.
    let acks = Arc::new(Acks::default());
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(
        &format!("http://{}", server.addr),
        "Apagado",
        8,
        10_000,
        &acks,
        &stop,
        None,
    );
    wait_until("acknowledgements", Duration::from_secs(60), || {
        acks.count() >= 50
    })
    .await;
    server.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The listener is closed: nobody new gets in…
    assert!(
        client()
            .get(server.url("/healthz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_err(),
        "no new connections after SIGTERM"
    );
    // …yet the process is still there, waiting for the export it started before the signal…
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "soporte waits for the export in flight"
    );
    // …which runs to its last row.
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(30), export.chunk())
        .await
        .expect("the export keeps flowing")
        .expect("the export is not cut")
    {
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body).unwrap();
    let lines = text.split("\r\n").filter(|l| !l.is_empty()).count() as i64;
    assert_eq!(lines, CLOSED + 1, "header and every closed ticket");
    assert!(text.contains(&format!("Exportación {CLOSED},")));

    let status = server.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0), "{}", server.log_text());
    assert!(server.log_text().contains("soporte stopped"));
    let ends = join_writers(writers).await;
    assert!(
        ends.iter().all(|e| e.others.is_empty()),
        "every answered delivery was a 201, none cut into a 5xx: {ends:?}"
    );
    let acked = acks.snapshot();
    let stored = tickets_by_subject(db, "Apagado").await;
    for (subject, id) in &acked {
        assert_eq!(stored.get(subject), Some(&vec![*id]));
    }
    eprintln!(
        "{:?}: export of {} bytes finished {:?} after start; {} deliveries acknowledged, all stored",
        db.backend,
        text.len(),
        started.elapsed(),
        acked.len()
    );
}
on_both!(sigterm_lets_in_flight_requests_finish_and_exits_0);

// ---------------------------------------------------------------------------------------------
// 2½. The workbook export's memory, read from /proc.

/// A process's resident memory in kB: (`VmRSS` now, `VmHWM` its peak so far), from /proc.
fn memory_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {status}"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The workbook goes row by row from the database into a constant-memory worksheet and
/// leaves as a file in chunks: during the export of every closed ticket the server's peak
/// memory stays within a bound that does not depend on the number of rows (measured in a
/// debug build: +9 MB on SQLite, +20 MB on PostgreSQL, which reads 5,000-row chunks), where
/// holding the rows and the finished file took ~0.6 KB a row (+57 to +66 MB here). And the
/// workbook that arrives holds every row.
async fn the_workbook_export_keeps_memory_flat(db: &Db) {
    const CLOSED: i64 = 100_000;
    const GROWTH_LIMIT_KB: u64 = 32 * 1024;
    let token = admin_token(&db.url);
    insert_closed_tickets(db, CLOSED).await;
    let server = Binary::start(&db.url, &[]).await;
    let r = client()
        .get(server.url("/api/v1/tickets"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (before, _) = memory_kb(server.child.id());

    let r = client()
        .get(server.url("/export/closed.xlsx"))
        .bearer_auth(&token)
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let length: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let bytes = r.bytes().await.unwrap();
    let (_, peak) = memory_kb(server.child.id());
    assert_eq!(bytes.len(), length);

    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut sheet = String::new();
    std::io::Read::read_to_string(
        &mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(),
        &mut sheet,
    )
    .unwrap();
    assert_eq!(
        sheet.matches("<row ").count() as i64,
        CLOSED + 1,
        "the header and every closed ticket"
    );
    assert!(sheet.contains(&format!("Exportación {CLOSED}<")));
    assert!(sheet.contains(&format!("<autoFilter ref=\"A1:Z{}\"", CLOSED + 1)));

    let growth = peak.saturating_sub(before);
    eprintln!(
        "{:?}: a workbook of {CLOSED} rows, {} bytes; server RSS {before} kB before, peak {peak} kB",
        db.backend,
        bytes.len()
    );
    assert!(
        growth < GROWTH_LIMIT_KB,
        "the export took {growth} kB of memory (from {before} to {peak} kB)"
    );
}
on_both!(the_workbook_export_keeps_memory_flat);

// ---------------------------------------------------------------------------------------------
// 3. `soporte backup`.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_intake_writes_holds_every_acknowledged_ticket() {
    let db = Db::new(Backend::Sqlite).await.unwrap();
    let server = Binary::start(&db.url, &[]).await;
    let acks = Arc::new(Acks::default());
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(
        &format!("http://{}", server.addr),
        "Copia",
        8,
        10_000,
        &acks,
        &stop,
        None,
    );
    wait_until("acknowledgements", Duration::from_secs(60), || {
        acks.count() >= 150
    })
    .await;
    let before = acks.snapshot();
    let copy = db.path("copia.db");
    let copy_arg = copy.display().to_string();
    let url = db.url.clone();
    let out = tokio::task::spawn_blocking(move || soporte(&url, &["backup", "--to", &copy_arg]))
        .await
        .unwrap();
    let during = acks.count() - before.len();
    // Writers keep going a little after the copy, then stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let ends = join_writers(writers).await;
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("copia de seguridad guardada"));
    assert!(
        ends.iter().all(|e| e.errors == 0 && e.others.is_empty()),
        "{ends:?}"
    );
    assert!(
        during > 0,
        "deliveries were acknowledged while the copy ran"
    );
    drop(server);

    // The copy is one sound file, opened as a new server.
    assert!(copy.exists());
    let mut sidecar = copy.clone().into_os_string();
    sidecar.push("-wal");
    assert!(
        !std::path::Path::new(&sidecar).exists(),
        "no -wal beside the copy"
    );
    let copy_url = format!("sqlite://{}", copy.display());
    let app = TestApp::spawn_on_url(Backend::Sqlite, &copy_url, Default::default()).await;
    let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(app.store.pool())
        .await
        .unwrap();
    assert_eq!(integrity, ["ok"]);
    let in_copy = app.count("SELECT COUNT(*) FROM tickets").await;
    assert!(
        in_copy as usize >= before.len(),
        "{in_copy} tickets in the copy, {} acknowledged before it started",
        before.len()
    );
    // Every ticket reads back through the API, page by page.
    let admin = app.create_user(Role::Admin, "Admin").await;
    let token = app.token_for(&admin).await;
    let c = client();
    let mut seen: HashMap<i64, String> = HashMap::new();
    let mut next = "/api/v1/tickets".to_string();
    for _ in 0..1000 {
        let v: Value = c
            .get(app.url(&next))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for t in v["items"].as_array().unwrap() {
            seen.insert(
                t["id"].as_i64().unwrap(),
                t["subject"].as_str().unwrap().to_string(),
            );
        }
        match v["next_cursor"].as_str() {
            Some(cursor) => next = format!("/api/v1/tickets?cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        seen.len() as i64,
        in_copy,
        "every ticket in the copy reads back"
    );
    for (subject, id) in &before {
        assert_eq!(
            seen.get(id),
            Some(subject),
            "acknowledged ticket {id} is in the copy"
        );
    }
    eprintln!(
        "backup: {in_copy} tickets in the copy; {} acknowledged before it, {during} while it ran",
        before.len()
    );
}

#[test]
fn backup_refuses_to_overwrite_a_missing_source_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("soporte.db").display());
    assert_ok(&soporte(&db, &["migrate"]));
    let taken = dir.path().join("ya.db");
    std::fs::write(&taken, b"no tocar").unwrap();
    let out = soporte(&db, &["backup", "--to", &taken.display().to_string()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ya existe"));
    assert_eq!(std::fs::read(&taken).unwrap(), b"no tocar");

    // A database that does not exist is not created (and copied empty).
    let missing = dir.path().join("no-existe.db");
    let out = soporte(
        &format!("sqlite://{}", missing.display()),
        &[
            "backup",
            "--to",
            &dir.path().join("copia.db").display().to_string(),
        ],
    );
    assert!(!out.status.success());
    assert!(!missing.exists());
    assert!(!dir.path().join("copia.db").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // PostgreSQL: a pointer to pg_dump and a non-zero exit, without connecting.
    let out = soporte(
        "postgres://postgres@127.0.0.1:1/nada",
        &[
            "backup",
            "--to",
            &dir.path().join("pg.dump").display().to_string(),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pg_dump"), "{err}");
    assert!(!dir.path().join("pg.dump").exists());
}

// ---------------------------------------------------------------------------------------------
// 4. Structured logs without secrets.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_logs_name_method_path_status_and_time_but_no_secret() {
    let db = Db::new(Backend::Sqlite).await.unwrap();
    let api_token = admin_token(&db.url);
    let intake_token = "token-de-ingreso-7f3a9c";
    let metrics_token = "token-de-metricas-51be02";
    let wrong_password = "clave-equivocada-9d1e";
    let query_secret = "secreto-en-la-consulta-4c2b";
    let mut server = Binary::start(
        &db.url,
        &[
            ("SOPORTE_INTAKE_TOKEN", intake_token),
            ("SOPORTE_METRICS_TOKEN", metrics_token),
        ],
    )
    .await;
    let c = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = c
        .get(server.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&html).unwrap_or_default();
    let r = c
        .post(server.url("/login"))
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", wrong_password),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c
        .post(server.url("/login"))
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.split(';').next()?.strip_prefix("soporte_session="))
        .map(str::to_string)
        .expect("a session cookie");
    let r = client()
        .get(server.url(&format!("/api/v1/tickets?q={query_secret}")))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client()
        .post(server.url("/intake/email"))
        .bearer_auth(intake_token)
        .json(&json!({"from": "a@b.com", "subject": "Registro", "body": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = client()
        .get(server.url("/metrics"))
        .bearer_auth(metrics_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    server.signal("TERM");
    assert_eq!(
        server.wait_exit(Duration::from_secs(30)).await.code(),
        Some(0)
    );
    let log = server.log_text();
    for secret in [
        ADMIN_PASSWORD,
        wrong_password,
        api_token.as_str(),
        intake_token,
        metrics_token,
        query_secret,
        session.as_str(),
    ] {
        assert!(!log.contains(secret), "the log shows a secret: {secret}");
    }
    // One JSON line per request with method, path, status and time.
    let requests: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "request")
        .collect();
    let find = |method: &str, path: &str| {
        requests
            .iter()
            .find(|v| v["fields"]["method"] == method && v["fields"]["path"] == path)
            .unwrap_or_else(|| panic!("no log line for {method} {path}:\n{log}"))
    };
    for (method, path, status) in [
        ("GET", "/login", 200),
        ("POST", "/login", 401),
        ("GET", "/api/v1/tickets", 200),
        ("POST", "/intake/email", 201),
        ("GET", "/metrics", 200),
    ] {
        let line = find(method, path);
        if path != "/login" || method == "GET" {
            assert_eq!(line["fields"]["status"], status, "{line}");
        }
        assert!(line["fields"]["ms"].is_string(), "{line}");
        assert!(line["fields"]["request_id"].is_string(), "{line}");
    }
    assert_eq!(
        requests
            .iter()
            .filter(|v| v["fields"]["path"] == "/login" && v["fields"]["method"] == "POST")
            .count(),
        2
    );
}

// ---------------------------------------------------------------------------------------------
// 5. /metrics.

/// Checks the text format line by line: comments, or `name{labels} value` with a number.
fn assert_prometheus_text(text: &str) {
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect(line);
        assert!(value.parse::<f64>().is_ok(), "value of {line}");
        let name = series.split('{').next().unwrap();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "name of {line}"
        );
        if series.contains('{') {
            assert!(series.ends_with('}'), "labels of {line}");
        }
    }
}

async fn metrics_count_requests_by_route_template_and_tickets_by_status(app: TestApp) {
    let admin = app.signed_in(Role::Admin, "Admin").await;
    let first = app.intake("a@b.com", "Uno", "b").await["id"]
        .as_i64()
        .unwrap();
    let second = app.intake("a@b.com", "Dos", "b").await["id"]
        .as_i64()
        .unwrap();
    for id in [first, second] {
        let (s, _) = admin.get_html(&format!("/tickets/{id}")).await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, _) = admin.get_html("/tickets/999999").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for i in 0..20 {
        let r = TestApp::client()
            .get(app.url(&format!("/no-existe/{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let r = TestApp::client()
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Served without a session to a loopback caller.
    let r = TestApp::client()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    assert_prometheus_text(&text);
    for expected in [
        "soporte_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"2xx\"} 1",
        "soporte_http_requests_total{method=\"POST\",route=\"/intake/email\",status=\"2xx\"} 2",
        "soporte_http_requests_total{method=\"GET\",route=\"/tickets/{id}\",status=\"2xx\"} 2",
        "soporte_http_requests_total{method=\"GET\",route=\"/tickets/{id}\",status=\"4xx\"} 1",
        "soporte_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"4xx\"} 20",
        "soporte_http_request_duration_seconds_count{method=\"GET\",route=\"/tickets/{id}\"} 3",
        "soporte_http_request_duration_seconds_bucket{method=\"GET\",route=\"/tickets/{id}\",le=\"+Inf\"} 3",
        "# TYPE soporte_http_request_duration_seconds histogram",
        "soporte_tickets{status=\"nuevo\"} 2",
        "soporte_tickets{status=\"cerrado\"} 0",
        "soporte_database_up 1",
        "soporte_http_requests_in_flight 1",
    ] {
        assert!(text.contains(expected), "missing {expected}:\n{text}");
    }
    // Raw paths never become labels: the cardinality stays bounded.
    assert!(!text.contains(&format!("/tickets/{first}")));
    assert!(!text.contains("/no-existe"));
}
both_backends!(metrics_count_requests_by_route_template_and_tickets_by_status);

#[tokio::test]
async fn metrics_are_for_loopback_callers_until_a_token_is_set() {
    // Behind a trusted proxy, a forwarded request is not loopback.
    let args = soporte::config::ServeArgs {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..Default::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, args).await.unwrap();
    let r = TestApp::client()
        .get(app.url("/metrics"))
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SOPORTE_METRICS_TOKEN")
    );

    // With a token, everyone needs it, loopback included.
    let args = soporte::config::ServeArgs {
        metrics_token: Some(soporte::config::Secret::new("token-de-metricas")),
        ..Default::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, args).await.unwrap();
    let c = TestApp::client();
    let r = c.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c
        .get(app.url("/metrics"))
        .bearer_auth("otro-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c
        .get(app.url("/metrics"))
        .bearer_auth("token-de-metricas")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The metrics token is not a personal API token.
    let r = c
        .get(app.url("/api/v1/tickets"))
        .bearer_auth("token-de-metricas")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

//! Read replicas with a REAL streaming replica the test makes on this machine:
//! `pg_basebackup -R -X stream` of the local PostgreSQL into a temporary directory, started
//! with Debian's `pg_ctl` of the server's own major version on a free port (as the `postgres`
//! user when the test runs as root). The app is started with `--database-replica` pointing at
//! it and `--replica-max-lag-seconds 3`, and the test shows: lists, search and the dashboard
//! are served by the replica (a ticket the paused replica has not replayed is missing from
//! them), a person who just made a change sees it at once (their reads go to the primary
//! until a replica has replayed their write), a paused replica is skipped once it lags past
//! the limit and used again after `pg_wal_replay_resume()`, and a stopped replica is skipped
//! with no error.
//!
//! Needs the primary to accept replication connections from 127.0.0.1 (`.ci/run` adds the
//! `pg_hba.conf` line). `pg_basebackup` copies the whole cluster (1.5 s for ~50 MB here):
//! a large database on the same server, such as bench/instances.sh's, makes it slower.
//! Under `CI=true` anything missing fails; outside CI the test is
//! skipped with the reason printed.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use soporte::config::{Secret, ServeArgs};
use soporte::domain::user::Role;
use soporte::storage::Backend;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn missing(what: &str) -> Option<std::convert::Infallible> {
    if std::env::var("CI").is_ok() {
        panic!("read-replica test: {what} (required in CI)");
    }
    eprintln!("SKIPPED (CI unset): {what}");
    None
}

/// Runs a command as the `postgres` user when we are root (PostgreSQL refuses root).
fn as_postgres(program: &Path) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if root {
        let mut c = Command::new("runuser");
        c.arg("-u").arg("postgres").arg("--").arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A hot standby of the local PostgreSQL, stopped (immediately) on drop.
struct Standby {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Standby {
    async fn create(admin: &sqlx::AnyPool) -> Option<Standby> {
        let version: String = sqlx::query_scalar("SELECT current_setting('server_version_num')")
            .fetch_one(admin)
            .await
            .unwrap();
        let major = version.parse::<u32>().unwrap() / 10000;
        let bin = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"));
        if !bin.join("pg_ctl").exists() || !bin.join("pg_basebackup").exists() {
            missing(&format!("no pg_ctl/pg_basebackup in {}", bin.display()))?;
        }
        // The settings a hot standby must have at least as high as its primary.
        let mut settings = String::new();
        for name in [
            "max_connections",
            "max_worker_processes",
            "max_wal_senders",
            "max_prepared_transactions",
            "max_locks_per_transaction",
        ] {
            let v: String = sqlx::query_scalar(&format!("SELECT current_setting('{name}')"))
                .fetch_one(admin)
                .await
                .unwrap();
            settings.push_str(&format!("{name} = {v}\n"));
        }
        let dir = tempfile::Builder::new()
            .prefix("soporte-standby-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        let port = free_port();
        let _ = Command::new("chown")
            .arg("postgres:postgres")
            .arg(dir.path())
            .status();
        let out = as_postgres(&bin.join("pg_basebackup"))
            .args(["-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-D"])
            .arg(&data)
            .args(["-R", "-X", "stream", "-c", "fast"])
            .output()
            .unwrap();
        if !out.status.success() {
            missing(&format!(
                "pg_basebackup failed (does pg_hba.conf allow replication from 127.0.0.1? .ci/run adds it): {}",
                String::from_utf8_lossy(&out.stderr)
            ))?;
        }
        // Debian keeps the configuration outside the data directory: the standby gets its
        // own (pg_basebackup -R wrote primary_conninfo and standby.signal already).
        std::fs::write(
            data.join("postgresql.conf"),
            format!(
                "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
                 hot_standby = on\nfsync = off\n{settings}",
                dir.path().display()
            ),
        )
        .unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhost all all 127.0.0.1/32 trust\n",
        )
        .unwrap();
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status();
        let out = as_postgres(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("standby.log"))
            .args(["-w", "-t", "60", "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the standby did not start: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(dir.path().join("standby.log")).unwrap_or_default()
        );
        Some(Standby {
            bin,
            data,
            port,
            _dir: dir,
        })
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn stop(&self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Drops the test's database at the end (the app was started on a URL it did not create).
struct DropDatabase(String);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        drop_pg_database(&self.0);
    }
}

async fn subjects(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let r = TestApp::client()
        .get(app.url(&format!("/api/v1/tickets{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["subject"].as_str().unwrap().to_string())
        .collect()
}

/// The dashboard's count of open tickets, as this person's reads see it.
async fn open_on_dashboard(app: &TestApp, token: &str) -> i64 {
    let r = TestApp::client()
        .get(app.url("/api/v1/dashboard"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["open"].as_i64().unwrap()
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_to_a_streaming_replica_that_is_well_and_has_the_readers_own_changes() {
    let Some((url, name)) = fresh_pg_database().await else {
        return;
    };
    let _drop = DropDatabase(name.clone());
    let admin = sqlx::AnyPool::connect(&pg_admin_url()).await.unwrap();
    let Some(standby) = Standby::create(&admin).await else {
        return;
    };
    admin.close().await;
    let replica = sqlx::AnyPool::connect(&standby.url(&name)).await;
    let replica = match replica {
        Ok(p) => p,
        Err(e) => panic!("the standby does not serve the test database: {e}"),
    };
    let args = ServeArgs {
        database_replica: vec![Secret::new(standby.url(&name))],
        replica_max_lag_seconds: 3,
        ..ServeArgs::default()
    };
    let app = TestApp::spawn_on_url(Backend::Postgres, &url, args).await;
    let writer = app.create_user(Role::Dispatcher, "Escribe").await;
    let reader = app.create_user(Role::Dispatcher, "Lee").await;
    let (writer_token, reader_token) = (app.token_for(&writer).await, app.token_for(&reader).await);

    // The replica comes into use (the first read starts the once-a-second check).
    app.intake("c@d.com", "Primera incidencia", "b").await;
    wait_for("the replica in use", Duration::from_secs(20), async || {
        subjects(&app, &reader_token, "").await;
        app.services.replicas_in_use() == vec![true]
    })
    .await;
    wait_for(
        "the replica to replay the first ticket",
        Duration::from_secs(10),
        async || {
            subjects(&app, &reader_token, "")
                .await
                .contains(&"Primera incidencia".to_string())
        },
    )
    .await;

    // Paused, the replica serves lists and search: a ticket it has not replayed is missing
    // for someone who did not write it…
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&replica)
        .await
        .unwrap();
    let paused = Instant::now();
    app.intake("c@d.com", "Llega con la replica en pausa", "impresora")
        .await;
    let (s, made) = {
        let r = TestApp::client()
            .post(app.url("/api/v1/tickets"))
            .bearer_auth(&writer_token)
            .json(
                &json!({"from": "cliente@dominio.com", "subject": "Creada por quien escribe",
                          "body": "impresora"}),
            )
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json::<Value>().await.unwrap())
    };
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let by_reader = subjects(&app, &reader_token, "").await;
    let searched = subjects(&app, &reader_token, "?q=impresora").await;
    let reader_open = open_on_dashboard(&app, &reader_token).await;
    assert!(
        paused.elapsed() < Duration::from_secs(2),
        "the machine is too slow for this check ({:?})",
        paused.elapsed()
    );
    assert!(by_reader.contains(&"Primera incidencia".to_string()));
    assert!(
        !by_reader.contains(&"Llega con la replica en pausa".to_string()),
        "the list came from the paused replica: {by_reader:?}"
    );
    assert!(searched.is_empty(), "search too: {searched:?}");
    assert_eq!(reader_open, 1, "the dashboard too");
    // …while the person who just wrote sees their change at once (their reads wait for a
    // replica past their write: the primary, here), in the list and in search.
    let by_writer = subjects(&app, &writer_token, "").await;
    assert!(
        by_writer.contains(&"Creada por quien escribe".to_string()),
        "{by_writer:?}"
    );
    let searched = subjects(&app, &writer_token, "?q=impresora").await;
    assert!(
        searched.contains(&"Creada por quien escribe".to_string()),
        "{searched:?}"
    );
    assert_eq!(open_on_dashboard(&app, &writer_token).await, 3);

    // Once it lags more than 3 s it is skipped: everyone reads the primary.
    wait_for(
        "the lagging replica to be skipped",
        Duration::from_secs(15),
        async || {
            subjects(&app, &reader_token, "")
                .await
                .contains(&"Llega con la replica en pausa".to_string())
        },
    )
    .await;
    let skipped_after = paused.elapsed();
    assert!(
        skipped_after >= Duration::from_secs(2),
        "skipped only past the limit: {skipped_after:?}"
    );
    assert_eq!(app.services.replicas_in_use(), vec![false]);

    // Resumed, it catches up and is used again (paused once more, it serves the lists again).
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&replica)
        .await
        .unwrap();
    wait_for(
        "the replica in use again",
        Duration::from_secs(15),
        async || app.services.replicas_in_use() == vec![true],
    )
    .await;
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&replica)
        .await
        .unwrap();
    app.intake("c@d.com", "Segunda pausa", "b").await;
    let by_reader = subjects(&app, &reader_token, "").await;
    assert!(
        !by_reader.contains(&"Segunda pausa".to_string()),
        "{by_reader:?}"
    );
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&replica)
        .await
        .unwrap();
    wait_for(
        "the replica in use again",
        Duration::from_secs(15),
        async || app.services.replicas_in_use() == vec![true],
    )
    .await;
    replica.close().await;

    // Stopped: the very next reads (before the check notices) and all after it succeed.
    standby.stop();
    for _ in 0..3 {
        let all = subjects(&app, &reader_token, "").await;
        assert!(all.contains(&"Segunda pausa".to_string()), "{all:?}");
        let r = TestApp::client()
            .get(app.url("/api/v1/dashboard"))
            .bearer_auth(&reader_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = TestApp::client()
            .get(app.url("/export/closed.csv"))
            .bearer_auth(&reader_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert_eq!(app.services.replicas_in_use(), vec![false]);
}

/// A replica that never answered (wrong port, not started yet) is skipped from the start:
/// lists, the dashboard and the export answer from the primary, with no error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_never_answers_is_skipped_from_the_start() {
    let Some((url, name)) = fresh_pg_database().await else {
        return;
    };
    let _drop = DropDatabase(name);
    let args = ServeArgs {
        database_replica: vec![Secret::new(format!(
            "postgres://postgres@127.0.0.1:{}/nada",
            free_port()
        ))],
        ..ServeArgs::default()
    };
    let app = TestApp::spawn_on_url(Backend::Postgres, &url, args).await;
    let reader = app.create_user(Role::Dispatcher, "Lee").await;
    let token = app.token_for(&reader).await;
    app.intake("c@d.com", "Sin replica", "b").await;
    for _ in 0..3 {
        assert_eq!(
            subjects(&app, &token, "").await,
            vec!["Sin replica".to_string()]
        );
        for path in ["/api/v1/dashboard", "/export/closed.csv"] {
            let r = TestApp::client()
                .get(app.url(path))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{path}");
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert_eq!(app.services.replicas_in_use(), vec![false]);
}

/// SQLite has no replicas: the setting is ignored and everything reads the one file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_ignores_replica_settings() {
    let args = ServeArgs {
        database_replica: vec![Secret::new("postgres://postgres@127.0.0.1:1/nada")],
        ..ServeArgs::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, args).await.unwrap();
    let reader = app.create_user(Role::Dispatcher, "Lee").await;
    let token = app.token_for(&reader).await;
    app.intake("c@d.com", "En SQLite", "b").await;
    assert_eq!(
        subjects(&app, &token, "").await,
        vec!["En SQLite".to_string()]
    );
    assert!(app.services.replicas_in_use().is_empty());
}

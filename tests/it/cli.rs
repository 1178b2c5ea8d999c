//! The command line: `migrate`, `user add`, `user passwd`, `token create`, and `serve`.

use crate::helpers::*;
use reqwest::StatusCode;
use std::io::Write;
use std::process::{Command, Stdio};

fn soporte(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_soporte"))
        .args(args)
        .env("DATABASE_URL", db)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run soporte")
}

#[test]
fn user_add_passwd_and_token_work_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("cli.db").display());
    let out = soporte(&db, &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = soporte(
        &db,
        &[
            "user",
            "add",
            "--email",
            "Rosa@MiEmpresa.com",
            "--name",
            "Rosa",
            "--role",
            "technician",
            "--password",
            "clave-operador-1",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("rosa@miempresa.com"));
    // A duplicate and a bad role fail with a message and a non-zero code.
    let out = soporte(
        &db,
        &[
            "user",
            "add",
            "--email",
            "rosa@miempresa.com",
            "--name",
            "Rosa",
            "--role",
            "technician",
            "--password",
            "clave-operador-1",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Ya existe"));
    let out = soporte(
        &db,
        &[
            "user",
            "add",
            "--email",
            "x@miempresa.com",
            "--name",
            "X",
            "--role",
            "root",
        ],
    );
    assert!(!out.status.success());
    // Without --password one is generated and must be changed.
    let out = soporte(
        &db,
        &[
            "user",
            "add",
            "--email",
            "pepe@miempresa.com",
            "--name",
            "Pepe",
            "--role",
            "dispatcher",
        ],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("contraseña inicial"));
    // passwd reads the new password from stdin.
    let mut child = Command::new(env!("CARGO_BIN_EXE_soporte"))
        .args(["user", "passwd", "--email", "rosa@miempresa.com"])
        .env("DATABASE_URL", &db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"otra-clave-segura\n")
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    let out = soporte(&db, &["token", "create", "--email", "rosa@miempresa.com"]);
    assert!(out.status.success());
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(token.starts_with("sop_") && token.len() > 40);
    let out = soporte(&db, &["token", "create", "--email", "nadie@miempresa.com"]);
    assert!(!out.status.success());

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let app =
            TestApp::spawn_on_url(soporte::storage::Backend::Sqlite, &db, Default::default()).await;
        let r = TestApp::client()
            .get(app.url("/api/v1/tickets"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = app
            .sign_in(
                &TestApp::client(),
                "/login",
                "rosa@miempresa.com",
                "otra-clave-segura",
            )
            .await;
        assert_redirect_to(&r, "/");
        let r = app
            .sign_in(
                &TestApp::client(),
                "/login",
                "rosa@miempresa.com",
                "clave-operador-1",
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    });
}

#[test]
fn serve_creates_the_database_and_answers_health_on_the_chosen_address() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("nuevo.db");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_soporte"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", format!("sqlite://{}", db_path.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ok = rt.block_on(async {
        for _ in 0..100 {
            if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await {
                return r.status() == StatusCode::OK;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        false
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(ok, "server answered /healthz");
    assert!(db_path.exists(), "database file created");
    let mode: String = rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db_path.display()))
            .await
            .unwrap();
        sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&pool)
            .await
            .unwrap()
    });
    assert_eq!(mode, "wal");
}

/// The server and a command such as `soporte token create` started at once on a new SQLite
/// file both migrate it: the second waits for the first instead of failing half-way.
#[test]
fn processes_starting_at_once_on_one_new_database_all_migrate_it() {
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("race.db").display());
        let children: Vec<_> = (0..6)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_soporte"))
                    .arg("migrate")
                    .env("DATABASE_URL", &db)
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("run soporte")
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

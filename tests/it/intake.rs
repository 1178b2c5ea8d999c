//! `POST /intake/email`: the brief's command, who may call it, bad input, idempotency.

use crate::both_backends;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use soporte::config::{Secret, ServeArgs};
use soporte::storage::Backend;

async fn the_briefs_command_creates_a_ticket(app: TestApp) {
    let r = TestApp::client()
        .post(app.url("/intake/email"))
        .header("Content-Type", "application/json")
        .body(r#"{"from": "cliente@dominio.com", "subject": "Problema de red", "body": "No hay conexión"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: serde_json::Value = r.json().await.unwrap();
    let id = body["id"].as_i64().unwrap();
    assert_eq!(body["number"], format!("INC-{id:06}"));
    assert_eq!(body["status"], "nuevo");
    let ticket = app
        .services
        .ticket(
            &soporte::domain::user::Actor::System,
            soporte::domain::ids::TicketId(id),
        )
        .await
        .unwrap();
    assert_eq!(ticket.0.subject, "Problema de red");
    assert_eq!(ticket.0.body, "No hay conexión");
    assert_eq!(ticket.0.requester, "cliente@dominio.com");
    assert_eq!(ticket.1.len(), 1);
    assert_eq!(ticket.1[0].kind.as_str(), "created");
}
both_backends!(the_briefs_command_creates_a_ticket);

async fn bad_input_gets_a_spanish_json_error_and_stores_nothing(app: TestApp) {
    let c = TestApp::client();
    let post = |body: String| {
        let c = c.clone();
        let url = app.url("/intake/email");
        async move {
            c.post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let cases: Vec<(String, StatusCode, &str)> = vec![
        ("{not json".into(), StatusCode::BAD_REQUEST, "JSON válido"),
        (
            r#"{"from": "a@b.com", "body": "x"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Falta el campo «subject»",
        ),
        (
            r#"{"from": "no-es-correo", "subject": "s", "body": "x"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "correo electrónico válido",
        ),
        (
            json!({"from": "a@b.com", "subject": "a".repeat(256), "body": "x"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "255 caracteres",
        ),
        (
            json!({"from": "a@b.com", "subject": "s", "body": "a".repeat(100 * 1024 + 1)})
                .to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "100 KB",
        ),
        (
            json!({"from": "a@b.com", "subject": "   ", "body": "x"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "asunto",
        ),
        (
            r#"{"from": 5, "subject": "s", "body": "x"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "tipo",
        ),
    ];
    for (body, status, text) in cases {
        let r = post(body.clone()).await;
        assert_eq!(r.status(), status, "{}", &body[..body.len().min(80)]);
        let v: serde_json::Value = r.json().await.unwrap();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(text),
            "{message:?} should mention {text:?}"
        );
        assert!(v["error"]["code"].is_string());
    }
    let r = c
        .post(app.url("/intake/email"))
        .header("content-type", "text/plain")
        .body("hola")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(app.count("SELECT COUNT(*) FROM tickets").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM ticket_events").await, 0);
}
both_backends!(bad_input_gets_a_spanish_json_error_and_stores_nothing);

async fn a_retried_delivery_creates_the_ticket_once(app: TestApp) {
    let c = TestApp::client();
    let msg = json!({"from": "a@b.com", "subject": "Correo", "body": "x", "message_id": "<abc@mail.b.com>"});
    let first = c
        .post(app.url("/intake/email"))
        .json(&msg)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: serde_json::Value = first.json().await.unwrap();
    let again = c
        .post(app.url("/intake/email"))
        .json(&msg)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    // The Idempotency-Key header does the same.
    let plain = json!({"from": "a@b.com", "subject": "Otro", "body": "y"});
    let a: serde_json::Value = c
        .post(app.url("/intake/email"))
        .header("Idempotency-Key", "k-1")
        .json(&plain)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b: serde_json::Value = c
        .post(app.url("/intake/email"))
        .header("Idempotency-Key", "k-1")
        .json(&plain)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a["id"], b["id"]);
    assert_eq!(app.count("SELECT COUNT(*) FROM tickets").await, 2);
    // Concurrent retries of one message still make one ticket.
    let msg =
        json!({"from": "a@b.com", "subject": "Carrera", "body": "x", "message_id": "<race@b.com>"});
    let mut handles = Vec::new();
    for _ in 0..8 {
        let c = c.clone();
        let url = app.url("/intake/email");
        let msg = msg.clone();
        handles.push(tokio::spawn(async move {
            c.post(url).json(&msg).send().await.unwrap().status()
        }));
    }
    let mut created = 0;
    for h in handles {
        let s = h.await.unwrap();
        assert!(s == StatusCode::CREATED || s == StatusCode::OK, "{s}");
        created += usize::from(s == StatusCode::CREATED);
    }
    assert_eq!(created, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM tickets").await, 3);
    // Each new ticket got exactly one acknowledgement, repeats none.
    assert_eq!(app.count("SELECT COUNT(*) FROM mail_outbox").await, 3);
    assert_eq!(
        app.count("SELECT COUNT(DISTINCT ticket_id) FROM mail_outbox")
            .await,
        3
    );
}
both_backends!(a_retried_delivery_creates_the_ticket_once);

#[tokio::test]
async fn without_a_token_only_loopback_callers_are_accepted() {
    // The proxy at 127.0.0.1 is trusted, so the forwarded client is what counts.
    let args = ServeArgs {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..Default::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, args).await.unwrap();
    let msg = json!({"from": "a@b.com", "subject": "s", "body": "b"});
    let r = TestApp::client()
        .post(app.url("/intake/email"))
        .header("X-Forwarded-For", "203.0.113.9")
        .json(&msg)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SOPORTE_INTAKE_TOKEN")
    );
    // A proxy that forwards a loopback client still does not count as loopback.
    let r = TestApp::client()
        .post(app.url("/intake/email"))
        .header("X-Forwarded-For", "127.0.0.1")
        .json(&msg)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Direct loopback works.
    let r = TestApp::client()
        .post(app.url("/intake/email"))
        .json(&msg)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn forwarding_headers_from_untrusted_peers_are_ignored() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    // No trusted proxies: X-Forwarded-For cannot make a loopback caller look remote or vice versa.
    let r = TestApp::client()
        .post(app.url("/intake/email"))
        .header("X-Forwarded-For", "203.0.113.9")
        .json(&json!({"from": "a@b.com", "subject": "s", "body": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn with_a_token_every_caller_needs_it() {
    let args = ServeArgs {
        intake_token: Some(Secret::new("s3creto-de-ingreso")),
        ..Default::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, args).await.unwrap();
    let msg = json!({"from": "a@b.com", "subject": "s", "body": "b"});
    let c = TestApp::client();
    let r = c
        .post(app.url("/intake/email"))
        .json(&msg)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c
        .post(app.url("/intake/email"))
        .bearer_auth("otro")
        .json(&msg)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c
        .post(app.url("/intake/email"))
        .bearer_auth("s3creto-de-ingreso")
        .json(&msg)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(app.count("SELECT COUNT(*) FROM tickets").await, 1);
}

/// On a SQLite file the JSON intake goes through the intake writer's own connection
/// (`storage::intake`), while a raw message goes through the pool (`tickets::insert_many`):
/// both must write the very same rows, or one path's tickets would look different later.
#[tokio::test]
async fn the_sqlite_writer_and_the_pooled_path_write_the_same_rows() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    let c = TestApp::client();
    let native = c
        .post(app.url("/intake/email"))
        .json(
            &json!({"from": "Cliente@Dominio.com", "subject": "Impresora atascada",
                      "body": "No imprime", "message_id": "<uno@dominio.com>"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(native.status(), StatusCode::CREATED);
    let raw = crate::mail::eml(
        "Cliente@Dominio.com",
        "Impresora atascada",
        "dos@dominio.com",
        "",
        "No imprime",
    );
    let (pooled, _) = crate::mail::post_raw(&app, raw).await;
    assert_eq!(pooled, StatusCode::CREATED);

    let pool = app.store.pool();
    let rows = |sql: &'static str| async move {
        let rows: Vec<sqlx::any::AnyRow> = sqlx::query(sql).fetch_all(pool).await.unwrap();
        rows.iter()
            .map(|r| {
                use sqlx::Row;
                (0..r.len())
                    .map(|i| {
                        r.try_get::<Option<String>, _>(i)
                            .map(|v| v.unwrap_or_else(|| "NULL".into()))
                            .or_else(|_| r.try_get::<Option<i64>, _>(i).map(|v| format!("{v:?}")))
                            .unwrap()
                    })
                    .collect::<Vec<String>>()
            })
            .collect::<Vec<_>>()
    };
    let same = |what: &str, rows: Vec<Vec<String>>| {
        assert_eq!(rows.len(), 2, "{what}: {rows:?}");
        assert_eq!(rows[0], rows[1], "{what} differ between the two paths");
    };
    same(
        "tickets",
        rows(
            "SELECT status, version, subject, body, requester, created_by, assignee_id, \
              first_assigned_at, first_response_at, closed_at, closed_by, resolution, \
              last_event_kind, updated_at - created_at, last_event_at - created_at, \
              queued_since - created_at FROM tickets ORDER BY id",
        )
        .await,
    );
    same(
        "events",
        rows(
            "SELECT e.at - t.created_at, e.actor_id, e.actor, e.kind, e.data \
              FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id ORDER BY e.id",
        )
        .await,
    );
    same(
        "search documents",
        rows("SELECT doc FROM ticket_search ORDER BY rowid").await,
    );
    same(
        "notices",
        rows(
            "SELECT kind, recipient, REPLACE(params, CAST(ticket_id AS TEXT), 'N'), status, \
              attempts, next_attempt_at - created_at, in_reply_to IS NULL, refs IS NULL, \
              length(token), substr(token, 1, 8) FROM mail_outbox ORDER BY id",
        )
        .await,
    );
    same(
        "intake keys",
        rows("SELECT substr(key, 1, 4), created_at - (SELECT created_at FROM tickets t WHERE t.id = k.ticket_id) \
              FROM intake_keys k ORDER BY ticket_id")
        .await,
    );
    assert_eq!(
        app.count("SELECT n FROM ticket_counts WHERE status = 'nuevo' AND assignee_id = 0")
            .await,
        2
    );
    assert_eq!(
        app.count("SELECT SUM(n) FROM daily_figures WHERE figure = 0")
            .await,
        2
    );
    // Both are found by the same search.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ticket_search WHERE ticket_search MATCH 'impresora'")
            .await,
        2
    );
}

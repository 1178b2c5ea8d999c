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

/// Every row of a query as text, whatever each column's type (for comparing databases).
async fn dump(pool: &sqlx::AnyPool, sql: &str) -> Vec<Vec<String>> {
    use sqlx::Row;
    let rows: Vec<sqlx::any::AnyRow> = sqlx::query(sql).fetch_all(pool).await.unwrap();
    rows.iter()
        .map(|r| {
            (0..r.len())
                .map(|i| {
                    if let Ok(v) = r.try_get::<Option<i64>, _>(i) {
                        format!("{v:?}")
                    } else if let Ok(v) = r.try_get::<Option<String>, _>(i) {
                        format!("{v:?}")
                    } else {
                        format!("{:?}", r.try_get::<Option<Vec<u8>>, _>(i).unwrap())
                    }
                })
                .collect()
        })
        .collect()
}

/// The same deliveries and changes, at the same instants: a JSON intake, its repeat, a raw
/// e-mail with attachments, an assignment, a comment, a close, and the customer's e-mailed
/// answer that reopens the ticket. Returns every table the writes touch, as text.
async fn same_story(url: &str) -> Vec<(&'static str, Vec<Vec<String>>)> {
    use soporte::domain::ids::TicketId;
    use soporte::domain::ticket::NewTicket;
    use soporte::domain::user::Role;
    use soporte::service::accounts::{InitialPassword, ProfileInput};
    use soporte::service::tickets::Action;
    use soporte::service::{Clock, Services, Settings};
    let store = soporte::storage::Store::connect_with(url, 1).await.unwrap();
    store.migrate().await.unwrap();
    let clock = Clock::manual(1_780_000_000);
    let services = Services::new(
        store.clone(),
        Settings {
            clock: clock.clone(),
            ..Settings::default()
        },
    );
    let person = |name: &str, email: &str| ProfileInput {
        name: name.into(),
        email: email.into(),
        ..ProfileInput::default()
    };
    let (dispatcher, _) = services
        .create_user(
            &person("Paty", "paty@miempresa.com"),
            Role::Dispatcher,
            InitialPassword::Chosen(PASSWORD.into()),
        )
        .await
        .unwrap();
    let (tech, _) = services
        .create_user(
            &person("Tito", "tito@miempresa.com"),
            Role::Technician,
            InitialPassword::Chosen(PASSWORD.into()),
        )
        .await
        .unwrap();
    let new = NewTicket::parse("Cliente@Dominio.com", "Impresora atascada", "No imprime").unwrap();
    let first = services
        .receive(&new, Some("mid:uno@dominio.com"))
        .await
        .unwrap();
    assert!(first.created);
    let again = services
        .receive(&new, Some("mid:uno@dominio.com"))
        .await
        .unwrap();
    assert_eq!((again.id, again.created), (first.id, false));
    clock.advance(60);
    let limits = soporte::domain::mail::MailLimits::default();
    let raw = crate::mail::fixture("attachment.eml");
    services
        .receive_mail(&raw, &soporte::mail::parse::parse(&raw, &limits))
        .await
        .unwrap();
    clock.advance(60);
    let id = TicketId(first.id.0);
    // Service levels: a category, and the warnings job's round 50 minutes later (80 % of the
    // assignment's hour has gone by: on each ticket a timeline event and a notice to the
    // dispatcher).
    let (admin, _) = services
        .create_user(
            &person("Ada", "ada@miempresa.com"),
            Role::Admin,
            InitialPassword::Chosen(PASSWORD.into()),
        )
        .await
        .unwrap();
    let redes = services
        .create_category(&admin.actor(), "Redes")
        .await
        .unwrap();
    clock.advance(50 * 60);
    let round = services.sla_round("story", false).await.unwrap();
    assert_eq!(round.warnings, 2, "both tickets: {round:?}");
    let steps = [
        (
            dispatcher.actor(),
            Action::Classify {
                priority: Some(soporte::domain::classification::Priority::Alta),
                category: Some(Some(redes.id)),
            },
        ),
        (
            dispatcher.actor(),
            Action::Assign {
                technician: tech.id,
            },
        ),
        (
            tech.actor(),
            Action::Reply {
                body: "¿Qué modelo es?".into(),
                wait: true,
            },
        ),
    ];
    for (actor, action) in steps {
        services.act(&actor, id, None, action).await.unwrap();
        clock.advance(600);
    }
    let answer = crate::mail::eml(
        "cliente@dominio.com",
        &format!("Re: [INC-{:06}] Impresora atascada", id.0),
        "tres@dominio.com",
        "",
        "Es una HP",
    );
    services
        .receive_mail(&answer, &soporte::mail::parse::parse(&answer, &limits))
        .await
        .unwrap();
    clock.advance(600);
    let steps = [
        (
            tech.actor(),
            Action::Comment {
                body: "Reviso el equipo".into(),
            },
        ),
        (
            tech.actor(),
            Action::Close {
                resolution: "Se cambió el rodillo".into(),
            },
        ),
    ];
    for (actor, action) in steps {
        services.act(&actor, id, None, action).await.unwrap();
        clock.advance(600);
    }
    let token: String = sqlx::query_scalar(
        "SELECT params FROM mail_outbox WHERE kind = 'closed' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(store.pool())
    .await
    .map(|p: String| {
        serde_json::from_str::<serde_json::Value>(&p).unwrap()["status_token"]
            .as_str()
            .unwrap()
            .to_string()
    })
    .unwrap();
    services.status_rate(&token, 4, "Rápido").await.unwrap();
    clock.advance(600);
    let (t, timeline) = services
        .ticket(&soporte::domain::user::Actor::System, id)
        .await
        .unwrap();
    assert_eq!(t.status.as_str(), "cerrado");
    assert_eq!(
        (t.rating, t.rating_comment.as_deref()),
        (Some(4), Some("Rápido"))
    );
    // The first response is the public reply, not the later note.
    let replied = timeline
        .iter()
        .find(|e| e.kind.as_str() == "replied")
        .unwrap();
    assert_eq!(t.first_response_at, Some(replied.at));
    let kinds: Vec<&str> = timeline.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "created",
            "sla_warning",
            "classified",
            "assigned",
            "replied",
            "customer_message",
            "commented",
            "closed",
            "rated"
        ]
    );
    assert_eq!(timeline[5].data.to_status.as_deref(), Some("en_atencion"));
    let pool = store.pool();
    let mut out = Vec::new();
    for (what, sql) in [
        ("tickets", "SELECT * FROM tickets ORDER BY id"),
        // Not `*`: PostgreSQL's events also carry `tx_id`, the writing transaction (the chat
        // feed's position, migration 0162), which SQLite does not need.
        (
            "events",
            "SELECT id, ticket_id, at, actor_id, actor, kind, data FROM ticket_events ORDER BY id",
        ),
        (
            "counts",
            "SELECT * FROM ticket_counts WHERE n <> 0 ORDER BY status, assignee_id",
        ),
        (
            "daily figures",
            "SELECT * FROM daily_figures ORDER BY day, figure",
        ),
        (
            "sla figures",
            "SELECT * FROM sla_figures ORDER BY day, target",
        ),
        ("categories", "SELECT * FROM categories ORDER BY id"),
        ("intake keys", "SELECT * FROM intake_keys ORDER BY key"),
        (
            "notices",
            "SELECT id, kind, ticket_id, recipient, params, in_reply_to, refs, status, attempts, \
             next_attempt_at, created_at, LENGTH(token) FROM mail_outbox ORDER BY id",
        ),
        ("attachments", "SELECT * FROM mail_attachments ORDER BY id"),
        ("links", "SELECT * FROM ticket_links ORDER BY ticket_id"),
        (
            "status links",
            "SELECT ticket_id, created_at, LENGTH(token_hash) FROM status_links ORDER BY created_at, ticket_id",
        ),
    ] {
        let mut rows = dump(pool, sql).await;
        // Status-page tokens are random: each notice must carry one, whatever it is.
        for cell in rows.iter_mut().flatten() {
            if let Some(at) = cell.find("status_token") {
                let end = cell[at..]
                    .find(',')
                    .or_else(|| cell[at..].find('}'))
                    .unwrap();
                cell.replace_range(at..at + end, "status_token");
            }
        }
        out.push((what, rows));
    }
    // Search documents differ in kind (FTS5 text, tsvector); each must find the words.
    let found = services
        .list_tickets(
            &dispatcher.actor(),
            &soporte::domain::ticket::TicketFilter {
                terms: vec!["rodillo".into()],
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    out.push((
        "search",
        vec![found.items.iter().map(|t| t.id.0.to_string()).collect()],
    ));
    if url.starts_with("sqlite") {
        out.push((
            "sqlite search documents",
            dump(pool, "SELECT rowid, doc FROM ticket_search ORDER BY rowid").await,
        ));
    }
    services.close().await;
    out
}

/// Every ticket write runs the one `storage::write::apply` on one of two executors: rusqlite
/// on a SQLite file, sqlx on PostgreSQL and on SQLite without a file. The same story must
/// leave the very same rows on each, or one path's tickets would look different later.
#[tokio::test]
async fn every_executor_writes_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let file = format!("sqlite://{}", dir.path().join("native.db").display());
    let native = same_story(&file).await;
    assert!(native[0].1.len() == 2, "two tickets: {:?}", native[0].1);
    assert_eq!(
        native.iter().find(|(w, _)| *w == "search").unwrap().1,
        [["1"]]
    );
    // The story leaves met/missed clocks in the figures and classified, clocked tickets.
    let sla = &native.iter().find(|(w, _)| *w == "sla figures").unwrap().1;
    assert!(sla.len() >= 2, "{sla:?}");
    let tickets = &native[0].1;
    assert!(
        tickets
            .iter()
            .any(|t| t.contains(&"Some(\"alta\")".to_string())),
        "{tickets:?}"
    );
    let pooled = same_story("sqlite::memory:").await;
    assert_eq!(
        native, pooled,
        "the native and the pooled executor differ on SQLite"
    );
    if let Some((url, name)) = fresh_pg_database().await {
        let pg = same_story(&url).await;
        drop_pg_database(&name);
        let sqlite: Vec<_> = native
            .iter()
            .filter(|(w, _)| *w != "sqlite search documents")
            .collect();
        let pg: Vec<_> = pg.iter().collect();
        assert_eq!(sqlite, pg, "SQLite and PostgreSQL rows differ");
    }
}

/// The brief's senders often write `Name <address>` and sometimes leave the subject empty:
/// both are taken, the name kept beside the address.
async fn a_named_sender_and_an_empty_subject_are_taken(app: TestApp) {
    let r = TestApp::client()
        .post(app.url("/intake/email"))
        .json(&json!({"from": "Juan Pérez <Juan@Dominio.pe>", "subject": "  ", "body": "Sin red"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let (ticket, _) = app
        .services
        .ticket(
            &soporte::domain::user::Actor::System,
            soporte::domain::ids::TicketId(id),
        )
        .await
        .unwrap();
    assert_eq!(ticket.requester, "juan@dominio.pe");
    assert_eq!(ticket.requester_name.as_deref(), Some("Juan Pérez"));
    assert_eq!(ticket.subject, "(sin asunto)");
}
both_backends!(a_named_sender_and_an_empty_subject_are_taken);

/// Deliveries one after another, each its own commit (on SQLite a new search-index segment
/// each): the background merges keep combining them between commits, and every ticket is
/// still found by its own word. SQLite's index also passes FTS5's own integrity check.
async fn every_ticket_is_found_after_many_small_commits_and_their_merges(app: TestApp) {
    const N: i64 = 120;
    let mut ids = Vec::new();
    for i in 0..N {
        let v = app
            .intake(
                &format!("cliente{i}@dominio.com"),
                &format!("Falla del equipo {i}"),
                &format!("Código de la falla: zq{i}w"),
            )
            .await;
        ids.push(v["id"].as_i64().unwrap());
    }
    if app.backend == Backend::Sqlite {
        // A segment of a few documents is one row of the index's data; with no background
        // merge, 120 commits would leave at least 57 segments (FTS5's own crisis merge only
        // combines 64 at a time). Bounded wait: the merges run every 20 ms.
        let rows = || app.count("SELECT COUNT(*) FROM ticket_search_data");
        let mut left = rows().await;
        for _ in 0..100 {
            if left <= 40 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            left = rows().await;
        }
        assert!(left <= 40, "{left} rows of index data after {N} commits");
        sqlx::query("INSERT INTO ticket_search (ticket_search) VALUES ('integrity-check')")
            .execute(app.store.pool())
            .await
            .expect("the search index is sound");
    }
    let d = app
        .signed_in(soporte::domain::user::Role::Dispatcher, "Paty")
        .await;
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(found_by(&d, &format!("zq{i}w")).await, vec![*id], "zq{i}w");
    }
}
both_backends!(every_ticket_is_found_after_many_small_commits_and_their_merges);

/// The ids of the tickets a search of `word` finds through the API, newest first.
async fn found_by(d: &Browser, word: &str) -> Vec<i64> {
    let (s, v) = d.get_json(&format!("/api/v1/tickets?q={word}")).await;
    assert_eq!(s, StatusCode::OK);
    ids_of(&v)
}

/// Texts with what SQL strings, PostgreSQL's array literals and escape strings read specially
/// (quotes, backslashes, braces, commas, the word NULL, `\x` spellings, line breaks, accents
/// and emoji), sent at once so the writer takes several in one batch: every one comes back
/// exactly as sent, and is found by its own word. (`write::pooled`'s tests run PostgreSQL's
/// form of a batch's rows, a JSON recordset, with such texts directly.)
async fn texts_that_sql_and_arrays_read_specially_come_back_as_sent(app: TestApp) {
    const TRICKY: [&str; 8] = [
        r#"O'Brien dice "hola""#,
        r"C:\ruta\nueva\{x,y} \\servidor",
        "NULL",
        r#"{"a": [1, 2], "b": null}"#,
        r"\x00ff y \\x41 y E'\\' y $1 y ?1",
        "ñandú ÁÉÍÓÚ 🙂 — «comillas» ‘simples’",
        "línea uno\nlínea dos\r\n\ttabulada",
        r#"",NULL,"\"#,
    ];
    let c = TestApp::client();
    let sends = TRICKY.iter().enumerate().map(|(i, text)| {
        let c = c.clone();
        let url = app.url("/intake/email");
        let subject = format!("Asunto {text} qx{i}z");
        let body = format!("{text}\n{text} cuerpo");
        async move {
            let r = c
                .post(url)
                .json(&json!({"from": format!("raro{i}@dominio.com"), "subject": subject, "body": body}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
            let v: serde_json::Value = r.json().await.unwrap();
            (i, v["id"].as_i64().unwrap(), subject, body)
        }
    });
    let sent = futures_util::future::join_all(sends).await;
    let d = app
        .signed_in(soporte::domain::user::Role::Dispatcher, "Paty")
        .await;
    for (i, id, subject, body) in sent {
        let (ticket, events) = app
            .services
            .ticket(
                &soporte::domain::user::Actor::System,
                soporte::domain::ids::TicketId(id),
            )
            .await
            .unwrap();
        assert_eq!(
            ticket.subject,
            subject.replace(['\n', '\r', '\t'], " ").trim(),
            "{i}"
        );
        assert_eq!(ticket.body, body, "{i}");
        assert_eq!(ticket.requester, format!("raro{i}@dominio.com"));
        assert_eq!(events.len(), 1);
        assert_eq!(found_by(&d, &format!("qx{i}z")).await, vec![id], "qx{i}z");
    }
}
both_backends!(texts_that_sql_and_arrays_read_specially_come_back_as_sent);

//! Chat notices end to end: channels created by the API and the page, deliveries derived
//! from the timeline (not from the write path), signed generic webhooks checked by a
//! receiver that recomputes the HMAC itself, Teams/Slack/Telegram bodies, retries with
//! backoff, permanent refusals, the daily limit, a technician's own channel, "Enviar prueba".

use crate::helpers::{TestApp, location};
use crate::mail_oauth::KEY;
use crate::sso::on_both;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use soporte::config::{Secret, ServeArgs};
use soporte::domain::user::Role;
use soporte::service::notify::ChannelInput;
use soporte::service::tickets::Action;
use soporte::storage::Backend;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

const SECRET: &str = "secreto-del-receptor-0123";

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub signature: Option<String>,
    pub event: Option<String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A webhook receiver on 127.0.0.1: records every request and answers `status`.
pub struct Receiver {
    pub base: String,
    pub status: Arc<AtomicU16>,
    got: Arc<tokio::sync::Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let status = Arc::new(AtomicU16::new(200));
        let got = Arc::new(tokio::sync::Mutex::new(Vec::new()));
        let (s, g) = (status.clone(), got.clone());
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (s, g) = (s.clone(), g.clone());
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap().to_vec();
                let header = |n: &str| {
                    parts
                        .headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .map(String::from)
                };
                g.lock().await.push(Received {
                    path: parts.uri.path().to_string(),
                    signature: header("x-soporte-signature"),
                    event: header("x-soporte-event"),
                    body,
                });
                let code = axum::http::StatusCode::from_u16(s.load(Ordering::SeqCst)).unwrap();
                (code, axum::Json(json!({"ok": code.is_success()})))
            }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            base,
            status,
            got,
            task,
        }
    }

    pub async fn received(&self) -> Vec<Received> {
        self.got.lock().await.clone()
    }
}

/// What a receiver does with `X-Soporte-Signature` (docs/API.md), written here from the
/// documentation rather than with soporte's own function.
pub fn verify(header: &str, secret: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        if let Some(x) = part.strip_prefix("t=") {
            t = Some(x.to_string());
        }
        if let Some(x) = part.strip_prefix("v1=") {
            v1 = Some(x.to_string());
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let age = soporte::domain::time::now() - t.parse::<i64>().unwrap();
    if age.abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == v1
}

/// One round of the chat jobs, once the timeline's newest event is readable by the feed. On
/// PostgreSQL the feed reads only events of transactions older than every transaction still
/// running in the cluster (other tests' included), so it may have to wait a moment.
pub async fn round(app: &TestApp) {
    if app.backend == Backend::Postgres {
        for _ in 0..200 {
            let ready: i64 = app
                .count(
                    "SELECT CASE WHEN COALESCE(MAX(tx_id), 0) \
                     < pg_snapshot_xmin(pg_current_snapshot())::text::bigint THEN 1 ELSE 0 END \
                     FROM ticket_events",
                )
                .await;
            if ready == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    soporte::chat::round(&app.services, "prueba").await;
}

/// An administrator's signed webhook to the receiver, for `events`.
async fn webhook(
    app: &TestApp,
    admin: &soporte::domain::user::User,
    receiver: &Receiver,
    events: &[&str],
) -> soporte::service::notify::ChannelView {
    app.services
        .channel_create(
            admin,
            &ChannelInput {
                kind: "webhook".into(),
                url: format!("{}/hook", receiver.base),
                secret: SECRET.into(),
                events: events.iter().map(|e| e.to_string()).collect(),
                ..ChannelInput::default()
            },
        )
        .await
        .unwrap()
}

fn args(receiver: &Receiver) -> ServeArgs {
    let mut a = ServeArgs::default();
    a.connect.secret_key = Some(Secret::new(KEY));
    a.connect.telegram_api_url = format!("{}/telegram", receiver.base);
    a
}

async fn post_webhook(app: &TestApp, token: Option<&str>, body: Value) -> (StatusCode, String) {
    let mut r = TestApp::client()
        .post(app.url("/api/v1/admin/webhooks"))
        .json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn the_api_creates_signed_webhooks_and_each_event_arrives_once(backend: Backend) {
    let receiver = Receiver::start().await;
    let Some(app) = TestApp::spawn_with(backend, args(&receiver)).await else {
        return;
    };
    // The feed starts at "now": nothing that happened before a channel existed is sent.
    app.intake("antes@dominio.com", "Antes", "Anterior a los canales")
        .await;
    app.services.notify_feed_once().await.unwrap();

    let admin = app.create_user(Role::Admin, "Admin Api").await;
    let token = app.token_for(&admin).await;
    let tech_user = app.create_user(Role::Technician, "Rosa Díaz").await;
    let tech_token = app.token_for(&tech_user).await;
    let url = format!("{}/hook", receiver.base);
    let good = json!({"url": url, "secret": SECRET, "events": ["new", "assigned"]});

    // Refusals change nothing.
    for (body, status, words) in [
        (
            json!({"url": "ftp://x.com/h", "secret": SECRET, "events": ["new"]}),
            422,
            "https://",
        ),
        (
            json!({"url": "http://intranet.local/h", "secret": SECRET, "events": ["new"]}),
            422,
            "https://",
        ),
        (
            json!({"url": url, "secret": SECRET, "events": ["nuevo"]}),
            422,
            "no existe",
        ),
        (
            json!({"url": url, "secret": SECRET, "events": []}),
            422,
            "al menos un evento",
        ),
        (
            json!({"url": url, "secret": "corto", "events": ["new"]}),
            422,
            "al menos 16",
        ),
        (json!({"url": url, "events": ["new"]}), 422, "«secret»"),
    ] {
        let (s, text) = post_webhook(&app, Some(&token), body).await;
        assert_eq!(s.as_u16(), status, "{text}");
        assert!(text.contains(words), "{text}");
    }
    let (s, _) = post_webhook(&app, None, good.clone()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = post_webhook(&app, Some(&tech_token), good.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM notify_channels").await, 0);

    let (s, text) = post_webhook(&app, Some(&token), good).await;
    assert_eq!(s, StatusCode::CREATED, "{text}");
    assert!(
        !text.contains(SECRET),
        "the secret is never sent back: {text}"
    );
    let created: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(created["secret_configured"], true);
    assert_eq!(created["events"], json!(["new", "assigned"]));
    assert_eq!(created["url"], url);
    let sealed: String = sqlx::query_scalar("SELECT secret FROM notify_channels")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert!(sealed.starts_with("v1.") && !sealed.contains(SECRET));

    // A new ticket, then its assignment: two timeline events, two deliveries.
    let t = app
        .intake("cliente@dominio.com", "Sin red", "No hay conexión")
        .await;
    let id = soporte::domain::ids::TicketId(t["id"].as_i64().unwrap());
    app.services
        .act(
            &admin.actor(),
            id,
            None,
            Action::Assign {
                technician: tech_user.id,
            },
        )
        .await
        .unwrap();
    app.services
        .act(
            &tech_user.actor(),
            id,
            None,
            Action::Comment {
                body: "Revisando".into(),
            },
        )
        .await
        .unwrap();
    round(&app).await;
    let got = receiver.received().await;
    assert_eq!(got.len(), 2, "{got:?}");
    for r in &got {
        assert_eq!(r.path, "/hook");
        assert!(
            verify(r.signature.as_deref().unwrap(), SECRET, &r.body),
            "{r:?}"
        );
        assert!(!verify(
            r.signature.as_deref().unwrap(),
            "otro-secreto-cualquiera",
            &r.body
        ));
    }
    assert_eq!(got[0].event.as_deref(), Some("new"));
    assert_eq!(got[0].json()["ticket"]["number"], t["number"]);
    assert_eq!(got[1].json()["event"], "assigned");
    assert_eq!(got[1].json()["ticket"]["assignee"]["name"], "Rosa Díaz");
    assert!(
        got[1].json()["ticket"]["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/tickets/{}", id.0))
    );
    // Exactly once: another round sends nothing new.
    round(&app).await;
    assert_eq!(receiver.received().await.len(), 2);

    let list: Value = TestApp::client()
        .get(app.url("/api/v1/admin/webhooks"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let r = TestApp::client()
        .delete(app.url(&format!("/api/v1/admin/webhooks/{}", created["id"])))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.count("SELECT COUNT(*) FROM notify_channels").await, 0);
}
on_both!(the_api_creates_signed_webhooks_and_each_event_arrives_once);

/// With no channel listening the feed skips what is new without reading it (a busy intake
/// gives it thousands of events a minute), and a channel made afterwards hears only of what
/// happens after it: the skipped events are neither delivered then nor later.
async fn events_nobody_listens_to_are_skipped_and_never_sent_later(backend: Backend) {
    let receiver = Receiver::start().await;
    let Some(app) = TestApp::spawn_with(backend, args(&receiver)).await else {
        return;
    };
    app.services.notify_feed_once().await.unwrap();
    for i in 0..3 {
        app.intake(
            &format!("sin-canal{i}@dominio.com"),
            &format!("Sin canal {i}"),
            "Nadie escucha",
        )
        .await;
    }
    round(&app).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM notify_deliveries").await, 0);
    assert_eq!(
        app.count("SELECT event_id FROM notify_cursor WHERE name = 'chat-notices'")
            .await,
        app.count("SELECT MAX(id) FROM ticket_events").await,
        "the cursor moved past every event nobody listened to"
    );

    let admin = app.create_user(Role::Admin, "Admin").await;
    webhook(&app, &admin, &receiver, &["new"]).await;
    let later = app
        .intake("despues@dominio.com", "Después del canal", "Ahora sí")
        .await;
    round(&app).await;
    round(&app).await;
    let got = receiver.received().await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].json()["ticket"]["id"], later["id"]);
    assert_eq!(got[0].json()["ticket"]["subject"], "Después del canal");
}
on_both!(events_nobody_listens_to_are_skipped_and_never_sent_later);

async fn teams_slack_telegram_and_a_technicians_own_channel_get_their_bodies(backend: Backend) {
    let receiver = Receiver::start().await;
    let Some(app) = TestApp::spawn_with(backend, args(&receiver)).await else {
        return;
    };
    app.services.notify_feed_once().await.unwrap();
    let admin = app.create_user(Role::Admin, "Admin").await;
    let rosa = app.create_user(Role::Technician, "Rosa").await;
    let luis = app.create_user(Role::Technician, "Luis").await;
    let channel = |kind: &str, url: String, events: &[&str], owner| ChannelInput {
        kind: kind.into(),
        name: kind.into(),
        url,
        events: events.iter().map(|e| e.to_string()).collect(),
        owner,
        ..ChannelInput::default()
    };
    // Loopback http is accepted for tests; chat services are https in real life.
    for c in [
        channel("teams", format!("{}/teams", receiver.base), &["new"], None),
        channel("slack", format!("{}/slack", receiver.base), &["new"], None),
        channel(
            "slack",
            format!("{}/rosa", receiver.base),
            &["assigned"],
            Some(rosa.id),
        ),
        ChannelInput {
            bot_token: "123456:ABCdefGhIJKlmnoPQRstuVWXyz".into(),
            chat_id: "-1001234567890".into(),
            ..channel("telegram", String::new(), &["new"], None)
        },
    ] {
        app.services.channel_create(&admin, &c).await.unwrap();
    }
    let t = app
        .intake("cliente@dominio.com", "Impresora", "Atascada")
        .await;
    let id = soporte::domain::ids::TicketId(t["id"].as_i64().unwrap());
    let assign = |who: soporte::domain::ids::UserId| Action::Assign { technician: who };
    app.services
        .act(&admin.actor(), id, None, assign(luis.id))
        .await
        .unwrap();
    round(&app).await;
    let got = receiver.received().await;
    let at = |p: &str| got.iter().filter(|r| r.path == p).collect::<Vec<_>>();
    let teams = at("/teams");
    assert_eq!(teams.len(), 1);
    assert_eq!(
        teams[0].json()["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert!(
        teams[0].signature.is_none(),
        "only generic webhooks are signed"
    );
    let slack = at("/slack");
    assert!(
        slack[0].json()["text"]
            .as_str()
            .unwrap()
            .contains("Impresora")
    );
    let tg = at("/telegram/bot123456:ABCdefGhIJKlmnoPQRstuVWXyz/sendMessage");
    assert_eq!(tg.len(), 1, "{got:?}");
    assert_eq!(tg[0].json()["chat_id"], "-1001234567890");
    assert!(at("/rosa").is_empty(), "Luis's assignment is not Rosa's");
    // Reassigned to Rosa: her channel hears of it.
    app.services
        .act(
            &admin.actor(),
            id,
            None,
            Action::Reassign {
                technician: rosa.id,
                reason: "Rosa sabe de impresoras".into(),
            },
        )
        .await
        .unwrap();
    round(&app).await;
    let got = receiver.received().await;
    let rosa_got: Vec<_> = got.iter().filter(|r| r.path == "/rosa").collect();
    assert_eq!(rosa_got.len(), 1);
    assert!(
        rosa_got[0].json()["text"]
            .as_str()
            .unwrap()
            .contains("para Rosa")
    );
}
on_both!(teams_slack_telegram_and_a_technicians_own_channel_get_their_bodies);

async fn failures_are_retried_with_backoff_and_the_daily_limit_holds(backend: Backend) {
    let receiver = Receiver::start().await;
    let mut a = args(&receiver);
    a.connect.notify_daily_limit = 2;
    let start = soporte::domain::time::now();
    let Some(app) = TestApp::spawn_with_at(backend, a, start).await else {
        return;
    };
    app.services.notify_feed_once().await.unwrap();
    let admin = app.create_user(Role::Admin, "Admin").await;
    let c = webhook(&app, &admin, &receiver, &["new"]).await;
    receiver.status.store(503, Ordering::SeqCst);
    app.intake("a@dominio.com", "Uno", "Primero").await;
    round(&app).await;
    assert_eq!(receiver.received().await.len(), 1);
    let (attempts, status): (i64, String) =
        sqlx::query_as("SELECT attempts, status FROM notify_deliveries WHERE channel_id = $1")
            .bind(c.id)
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    assert_eq!((attempts, status.as_str()), (1, "pending"));
    // Not due again before its delay (30 s)…
    receiver.status.store(200, Ordering::SeqCst);
    round(&app).await;
    assert_eq!(receiver.received().await.len(), 1);
    // …and delivered after it.
    app.clock.advance(31);
    round(&app).await;
    let got = receiver.received().await;
    assert_eq!(got.len(), 2);
    assert!(
        got[1]
            .signature
            .as_deref()
            .unwrap()
            .starts_with(&format!("t={},v1=", start + 31))
    );
    // A permanent refusal ends the delivery as failed.
    receiver.status.store(404, Ordering::SeqCst);
    app.intake("b@dominio.com", "Dos", "Segundo").await;
    round(&app).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM notify_deliveries WHERE status = 'failed'")
            .await,
        1
    );
    // The daily limit (2 here): the third notice of the day is suppressed, not sent.
    receiver.status.store(200, Ordering::SeqCst);
    app.intake("c@dominio.com", "Tres", "Tercero").await;
    app.intake("d@dominio.com", "Cuatro", "Cuarto").await;
    round(&app).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM notify_deliveries WHERE status = 'sent'")
            .await,
        2
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM notify_deliveries WHERE status = 'suppressed'")
            .await,
        1
    );
}
on_both!(failures_are_retried_with_backoff_and_the_daily_limit_holds);

async fn the_page_adds_channels_sends_a_test_and_never_shows_secrets(backend: Backend) {
    let receiver = Receiver::start().await;
    let Some(app) = TestApp::spawn_with(backend, args(&receiver)).await else {
        return;
    };
    let admin = app.signed_in(Role::Admin, "Admin Pagina").await;
    let tech = app.signed_in(Role::Technician, "Tec").await;
    assert_eq!(
        tech.get("/admin/notificaciones").await.status(),
        StatusCode::FORBIDDEN
    );
    let (s, page) = admin.get_html("/admin/notificaciones").await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("Nuevo canal") && page.contains("name=\"csrf_token\""));

    let r = admin
        .post_form(
            "/admin/notificaciones",
            &[
                ("kind", "webhook"),
                ("url", "http://intranet.local/h"),
                ("secret", SECRET),
                ("event_new", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("debe usar https://"), "{page}");
    assert!(!page.contains(SECRET), "a typed secret is not sent back");
    assert_eq!(app.count("SELECT COUNT(*) FROM notify_channels").await, 0);

    let hook = format!("{}/pagina", receiver.base);
    let r = admin
        .post_form(
            "/admin/notificaciones",
            &[
                ("kind", "webhook"),
                ("name", "Receptor"),
                ("url", &hook),
                ("secret", SECRET),
                ("event_new", "1"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/admin/notificaciones");
    let (_, page) = admin.get_html("/admin/notificaciones").await;
    assert!(page.contains("Canal «Receptor» agregado"));
    assert!(page.contains("configurado"));
    assert!(!page.contains(SECRET));
    let id = app.count("SELECT id FROM notify_channels").await;

    let r = admin
        .post_form(&format!("/admin/notificaciones/{id}/test"), &[])
        .await;
    assert_eq!(location(&r), "/admin/notificaciones");
    let (_, page) = admin.get_html("/admin/notificaciones").await;
    assert!(page.contains("Prueba enviada a «Receptor»"), "{page}");
    let got = receiver.received().await;
    assert_eq!(got.len(), 1);
    assert!(verify(
        got[0].signature.as_deref().unwrap(),
        SECRET,
        &got[0].body
    ));

    receiver.status.store(500, Ordering::SeqCst);
    admin
        .post_form(&format!("/admin/notificaciones/{id}/test"), &[])
        .await;
    let (_, page) = admin.get_html("/admin/notificaciones").await;
    assert!(
        page.contains("no llegó: el destino respondió 500"),
        "{page}"
    );

    let r = admin
        .client
        .post(app.url(&format!("/admin/notificaciones/{id}/delete")))
        .form(&[("csrf_token", "falso")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    admin
        .post_form(&format!("/admin/notificaciones/{id}/delete"), &[])
        .await;
    assert_eq!(app.count("SELECT COUNT(*) FROM notify_channels").await, 0);
}
on_both!(the_page_adds_channels_sends_a_test_and_never_shows_secrets);

/// PostgreSQL: a transaction that took its id earlier but commits later must not be skipped.
/// An open transaction holds an earlier transaction id while a ticket is created and
/// committed; the feed waits; then the open transaction writes an `sla_warning` event (the
/// name the SLA work writes) and commits: both arrive, in transaction order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_late_by_an_older_transaction_is_not_skipped() {
    let receiver = Receiver::start().await;
    let Some(app) = TestApp::spawn_with(Backend::Postgres, args(&receiver)).await else {
        return;
    };
    app.services.notify_feed_once().await.unwrap();
    let admin = app.create_user(Role::Admin, "Admin").await;
    webhook(&app, &admin, &receiver, &["new", "sla_warning"]).await;
    let first = app.intake("a@dominio.com", "Primera", "Uno").await;
    // The open transaction writes its event first (taking the lower event id)…
    let mut held = app.store.pool().begin().await.unwrap();
    let held_xid: i64 = sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint")
        .fetch_one(&mut *held)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO ticket_events (ticket_id, at, actor_id, actor, kind, data) \
         VALUES ($1, $2, NULL, 'Sistema', 'sla_warning', '{}')",
    )
    .bind(first["id"].as_i64().unwrap())
    .bind(soporte::domain::time::now())
    .execute(&mut *held)
    .await
    .unwrap();
    // …another commits a later one meanwhile; a cursor by event id alone would now move past
    // the open transaction's event and never see it.
    let second = app.intake("b@dominio.com", "Segunda", "Dos").await;
    soporte::chat::round(&app.services, "prueba").await;
    let got = receiver.received().await;
    assert!(
        got.iter().all(|r| r.json()["ticket"]["id"] != second["id"]),
        "the feed does not pass a transaction still running"
    );
    held.commit().await.unwrap();
    round(&app).await;
    let got = receiver.received().await;
    let events: Vec<(String, i64)> = got
        .iter()
        .map(|r| {
            let j = r.json();
            (
                j["event"].as_str().unwrap().to_string(),
                j["ticket"]["id"].as_i64().unwrap(),
            )
        })
        .collect();
    let first_id = first["id"].as_i64().unwrap();
    let second_id = second["id"].as_i64().unwrap();
    assert_eq!(
        events,
        vec![
            ("new".to_string(), first_id),
            ("sla_warning".to_string(), first_id),
            ("new".to_string(), second_id)
        ],
        "held transaction {held_xid}"
    );
}

//! `GET /events`: the live stream of new and changed tickets, with the list's visibility,
//! resumable with Last-Event-ID, heard on every instance of one database.

use crate::both_backends;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;
use soporte::domain::ids::TicketId;
use soporte::domain::user::Role;
use soporte::service::tickets::Action;
use std::time::Duration;

/// An open event stream and what it delivered so far.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

/// One delivered event: its name, id and data.
#[derive(Debug)]
struct Delivered {
    event: String,
    id: Option<i64>,
    data: Value,
}

impl Stream {
    async fn open(app: &TestApp, token: &str, last_event_id: Option<i64>) -> Stream {
        Stream::open_at(app, token, "/events", last_event_id).await
    }

    async fn open_at(app: &TestApp, token: &str, path: &str, last_event_id: Option<i64>) -> Stream {
        let mut request = TestApp::client().get(app.url(path)).bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Stream {
            response,
            buffer: String::new(),
        }
    }

    /// The next event within `wait` (comments skipped), or `None`.
    async fn next(&mut self, wait: Duration) -> Option<Delivered> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = (String::new(), None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if event.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some(Delivered {
                    event,
                    id,
                    data: serde_json::from_str(&data).unwrap(),
                });
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .unwrap()?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Events until `wait` passes without one.
    async fn drain(&mut self, wait: Duration) -> Vec<Delivered> {
        let mut out = Vec::new();
        while let Some(d) = self.next(wait).await {
            out.push(d);
        }
        out
    }
}

async fn staff_hear_everything_and_a_technician_only_their_tickets(app: TestApp) {
    let dispatcher = app.create_user(Role::Dispatcher, "Paty").await;
    let tech = app.create_user(Role::Technician, "Tito").await;
    let other = app.create_user(Role::Technician, "Otro").await;
    let mut staff = Stream::open(&app, &app.token_for(&dispatcher).await, None).await;
    let mut mine = Stream::open(&app, &app.token_for(&tech).await, None).await;

    let created = app.intake("cliente@dominio.com", "Sin red", "x").await;
    // Announced with the commit, before the 201: heard within a second of it.
    let started = std::time::Instant::now();
    let id = TicketId(created["id"].as_i64().unwrap());
    let news = staff
        .next(Duration::from_secs(2))
        .await
        .expect("the new ticket");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(news.event, "incidencia");
    assert_eq!(news.data["ticket"], id.0);
    assert_eq!(news.data["created"], true);
    assert_eq!(news.data["status"], "nuevo");
    assert!(
        mine.next(Duration::from_millis(300)).await.is_none(),
        "not theirs"
    );

    // Assigned to the technician: both hear it.
    app.services
        .act(
            &dispatcher.actor(),
            id,
            None,
            Action::Assign {
                technician: tech.id,
            },
        )
        .await
        .unwrap();
    let heard = mine
        .next(Duration::from_secs(2))
        .await
        .expect("assigned to them");
    assert_eq!(heard.data["assignee"], tech.id.0);
    assert_eq!(heard.data["actor"], "Paty");
    assert_eq!(
        staff.next(Duration::from_secs(2)).await.unwrap().data["kind"],
        "assigned"
    );

    // Passed to a colleague: the one who had it hears that it left; then nothing more.
    app.services
        .act(
            &tech.actor(),
            id,
            None,
            Action::Reassign {
                technician: other.id,
                reason: "Redes".into(),
            },
        )
        .await
        .unwrap();
    let left = mine.next(Duration::from_secs(2)).await.expect("passed on");
    assert_eq!(left.data["previous_assignee"], tech.id.0);
    assert_eq!(left.data["assignee"], other.id.0);
    app.services
        .act(
            &other.actor(),
            id,
            None,
            Action::Comment {
                body: "Nota privada".into(),
            },
        )
        .await
        .unwrap();
    assert!(
        mine.next(Duration::from_millis(400)).await.is_none(),
        "no longer theirs"
    );
    let all = staff.drain(Duration::from_millis(500)).await;
    assert_eq!(all.len(), 2, "{all:?}");
    // Nothing in the news tells a note's text.
    assert!(
        all.iter()
            .all(|d| !d.data.to_string().contains("Nota privada"))
    );
}
both_backends!(staff_hear_everything_and_a_technician_only_their_tickets);

async fn a_stream_that_reconnects_gets_what_it_missed(app: TestApp) {
    let dispatcher = app.create_user(Role::Dispatcher, "Paty").await;
    let token = app.token_for(&dispatcher).await;
    let mut first = Stream::open(&app, &token, None).await;
    app.intake("a@dominio.com", "Uno", "x").await;
    let seen = first.next(Duration::from_secs(2)).await.unwrap();
    let last = seen.id.expect("an id to resume from");
    drop(first);
    // Missed while away.
    app.intake("b@dominio.com", "Dos", "x").await;
    app.intake("c@dominio.com", "Tres", "x").await;
    let mut again = Stream::open(&app, &token, Some(last)).await;
    let missed = again.drain(Duration::from_millis(700)).await;
    let subjects: Vec<i64> = missed.iter().map(|d| d.id.unwrap()).collect();
    assert_eq!(missed.len(), 2, "{missed:?}");
    assert!(subjects.iter().all(|id| *id > last));
    // A browser tab taking over the shared stream resumes with `?after=` (an EventSource
    // cannot send the header on its first request): the same two.
    let mut tab = Stream::open_at(&app, &token, &format!("/events?after={last}"), None).await;
    let resumed: Vec<i64> = tab
        .drain(Duration::from_millis(700))
        .await
        .iter()
        .map(|d| d.id.unwrap())
        .collect();
    assert_eq!(resumed, subjects);
    // And it goes on live.
    app.intake("d@dominio.com", "Cuatro", "x").await;
    assert!(again.next(Duration::from_secs(2)).await.is_some());
}
both_backends!(a_stream_that_reconnects_gets_what_it_missed);

async fn a_change_on_one_instance_is_heard_on_the_other(a: TestApp) {
    if a.backend == soporte::storage::Backend::Sqlite {
        // Several instances are a PostgreSQL set-up (docs/operations.md).
        return;
    }
    let b = TestApp::spawn_on_url(a.backend, &a.database_url, Default::default()).await;
    let dispatcher = a.create_user(Role::Dispatcher, "Paty").await;
    let mut on_b = Stream::open(&b, &b.token_for(&dispatcher).await, None).await;
    let created = a
        .intake("cliente@dominio.com", "Por la instancia A", "x")
        .await;
    let started = std::time::Instant::now();
    let heard = on_b.next(Duration::from_secs(3)).await.expect("heard on B");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(heard.data["ticket"], created["id"]);
}
both_backends!(a_change_on_one_instance_is_heard_on_the_other);

//! Several instances on one database, as behind a load balancer: nothing one instance needs
//! lives in another's memory. Sessions, sign-in throttling, the one-winner rule and intake
//! replays hold across two servers. PostgreSQL is the supported setup; the same scenarios
//! run on one SQLite file too.

use crate::both_backends;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use soporte::domain::user::Role;

/// A second server on the first one's database.
async fn second_instance(app: &TestApp) -> TestApp {
    TestApp::spawn_on_url(app.backend, &app.database_url, Default::default()).await
}

/// The same cookie jar and CSRF token, pointed at the other instance.
fn through(b: &Browser, other: &TestApp) -> Browser {
    Browser {
        client: b.client.clone(),
        csrf: b.csrf.clone(),
        user: b.user.clone(),
        base: format!("http://{}", other.addr),
    }
}

async fn a_session_made_on_one_instance_works_on_the_other(a: TestApp) {
    let b = second_instance(&a).await;
    let on_a = a.signed_in(Role::Dispatcher, "Derivadora Ana").await;
    let on_b = through(&on_a, &b);
    let (s, html) = on_b.get_html("/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Derivadora Ana"));
    // A form posted to B with the CSRF token A's page gave: the session is in the database.
    let r = on_b
        .post_form(
            "/",
            &[
                ("from", "cliente@dominio.com"),
                ("subject", "Creada en la otra instancia"),
                ("body", "b"),
            ],
        )
        .await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let (_, html) = on_a.get_html("/").await;
    assert!(html.contains("Creada en la otra instancia"));
    // Signing out on B ends the session on A.
    let r = on_b.post_form("/logout", &[]).await;
    assert!(r.status().is_redirection());
    let r = on_a.get("/").await;
    assert_redirect_to(&r, "/login");
}
both_backends!(a_session_made_on_one_instance_works_on_the_other);

async fn failures_split_between_instances_lock_the_account(a: TestApp) {
    let b = second_instance(&a).await;
    let user = a.create_user(Role::Technician, "Tecnico").await;
    let c = TestApp::client();
    for i in 0..5 {
        let app = if i % 2 == 0 { &a } else { &b };
        let r = app
            .sign_in(&c, "/login", &user.email, "incorrecta-123")
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    for app in [&a, &b] {
        let r = app
            .sign_in(&TestApp::client(), "/login", &user.email, PASSWORD)
            .await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}
both_backends!(failures_split_between_instances_lock_the_account);

async fn concurrent_assignments_through_both_instances_have_one_winner(a: TestApp) {
    let b = second_instance(&a).await;
    let admin = a.create_user(Role::Admin, "Admin").await;
    let (tokens, techs) = a.dispatchers_and_technicians(6).await;
    for round in 0..3 {
        let id = a.intake("c@d.com", &format!("Carrera {round}"), "b").await["id"]
            .as_i64()
            .unwrap();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(tokens.len()));
        let mut handles = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            // Even dispatchers go through A, odd ones through B.
            let app = if i % 2 == 0 { &a } else { &b };
            let (url, token, tech, barrier) = (
                app.url(&format!("/api/v1/tickets/{id}/assign")),
                token.clone(),
                techs[i],
                barrier.clone(),
            );
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                let r = TestApp::client()
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"technician_id": tech, "version": 1}))
                    .send()
                    .await
                    .unwrap();
                (r.status(), tech)
            }));
        }
        let mut results = Vec::new();
        for h in handles {
            results.push(h.await.unwrap());
        }
        let winners: Vec<i64> = results
            .iter()
            .filter(|(s, _)| *s == StatusCode::OK)
            .map(|(_, t)| *t)
            .collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        assert!(
            results
                .iter()
                .all(|(s, _)| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
            "{results:?}"
        );
        // Both instances tell the same story, and the timeline matches the row.
        let token = a.token_for(&admin).await;
        for app in [&a, &b] {
            let v: Value = TestApp::client()
                .get(app.url(&format!("/api/v1/tickets/{id}")))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(v["version"], 2);
            assert_eq!(v["assignee"]["id"], winners[0]);
            let assigned: Vec<&Value> = v["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["kind"] == "assigned")
                .collect();
            assert_eq!(assigned.len(), 1);
            assert_eq!(assigned[0]["data"]["to_assignee"], winners[0]);
        }
    }
}
both_backends!(concurrent_assignments_through_both_instances_have_one_winner);

async fn one_message_delivered_to_both_instances_at_once_is_one_ticket(a: TestApp) {
    let b = second_instance(&a).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let mut handles = Vec::new();
    for i in 0..8 {
        let app = if i % 2 == 0 { &a } else { &b };
        let (url, barrier) = (app.url("/intake/email"), barrier.clone());
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            intake_at(url, "Doble", "<doble@dominio.com>").await
        }));
    }
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.unwrap());
    }
    assert_eq!(
        results
            .iter()
            .filter(|(s, _)| *s == StatusCode::CREATED)
            .count(),
        1,
        "{results:?}"
    );
    assert!(results.iter().all(|(_, id)| *id == results[0].1));
    assert_eq!(
        a.count("SELECT COUNT(*) FROM tickets WHERE subject = 'Doble'")
            .await,
        1
    );
}
both_backends!(one_message_delivered_to_both_instances_at_once_is_one_ticket);

/// Posts one intake and returns its status and ticket id.
async fn intake(app: &TestApp, subject: &str, message_id: &str) -> (StatusCode, i64) {
    intake_at(app.url("/intake/email"), subject, message_id).await
}

/// Posts one intake to `url` (an instance's `/intake/email`) and returns its status and
/// ticket id; owns its arguments, so a spawned task can call it.
async fn intake_at(url: String, subject: &str, message_id: &str) -> (StatusCode, i64) {
    let r = TestApp::client()
        .post(url)
        .json(&json!({"from": "c@d.com", "subject": subject, "body": "b",
                      "message_id": message_id}))
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json::<Value>().await.unwrap()["id"].as_i64().unwrap())
}

async fn after_its_first_batch_an_intake_goes_to_postgresql_in_one_round_trip(a: TestApp) {
    let (s, first) = intake(&a, "Primero", "<primero@dominio.com>").await;
    assert_eq!(s, StatusCode::CREATED);
    let before = a.services.write_counts();
    let mut ids = vec![first];
    for i in 0..10 {
        let (s, id) = intake(
            &a,
            &format!("Uno a uno {i}"),
            &format!("<uno-{i}@dominio.com>"),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        ids.push(id);
    }
    let after = a.services.write_counts();
    if a.backend == soporte::storage::Backend::Sqlite {
        // SQLite's writer is not PostgreSQL's: nothing to count.
        assert_eq!(after, Default::default());
        return;
    }
    // Each intake alone: its batch claimed its ids and was one message.
    assert_eq!(
        after.transactions - before.transactions,
        10,
        "{before:?} {after:?}"
    );
    assert_eq!(
        after.round_trips - before.round_trips,
        10,
        "{before:?} {after:?}"
    );
    assert_eq!(after.claimed - before.claimed, 10, "{before:?} {after:?}");
    assert_eq!(after.asked_again, before.asked_again);
    // The claimed ids are the sequence's own, in order, and every ticket has its event.
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    assert_eq!(
        a.count(
            "SELECT COUNT(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id \
                 WHERE t.subject LIKE 'Uno a uno %' AND e.kind = 'created'"
        )
        .await,
        10
    );
    // A delivery seen before fails the claim (its key is stored): written again by asking,
    // it answers with its first ticket, and nothing is written twice.
    let (s, id) = intake(&a, "Uno a uno 3", "<uno-3@dominio.com>").await;
    assert_eq!((s, id), (StatusCode::OK, ids[4]));
    let again = a.services.write_counts();
    assert_eq!(
        again.asked_again - after.asked_again,
        1,
        "{after:?} {again:?}"
    );
    assert_eq!(
        a.count("SELECT COUNT(*) FROM tickets WHERE subject = 'Uno a uno 3'")
            .await,
        1
    );
    // The next new ticket takes the very next id: the refused claim left no gap behind.
    let (s, next) = intake(&a, "Después", "<despues@dominio.com>").await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(next, ids[10] + 1);
    let metrics = TestApp::client()
        .get(a.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("soporte_ticket_write_round_trips_total ")
            && metrics.contains("soporte_ticket_write_asked_again_total 1\n"),
        "{metrics}"
    );
}
both_backends!(after_its_first_batch_an_intake_goes_to_postgresql_in_one_round_trip);

async fn two_instances_taking_intake_at_once_hand_out_each_id_once(a: TestApp) {
    let b = second_instance(&a).await;
    // Each instance learns where the ids are, then the other one moves them.
    for (i, app) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        let (s, _) = intake(app, "Turnos", &format!("<turno-{i}@dominio.com>")).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(24));
    let mut handles = Vec::new();
    for i in 0..24 {
        let app = if i % 2 == 0 {
            a.url("/intake/email")
        } else {
            b.url("/intake/email")
        };
        let barrier = barrier.clone();
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            intake_at(app, "A la vez", &format!("<vez-{i}@dominio.com>")).await
        }));
    }
    let mut ids = Vec::new();
    for h in handles {
        let (s, id) = h.await.unwrap();
        assert_eq!(s, StatusCode::CREATED);
        ids.push(id);
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 24);
    assert_eq!(
        a.count("SELECT COUNT(*) FROM tickets WHERE subject IN ('Turnos', 'A la vez')")
            .await,
        29
    );
    // Every ticket has exactly its one creation event, and no event id was used twice.
    assert_eq!(
        a.count(
            "SELECT COUNT(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id \
                 WHERE t.subject IN ('Turnos', 'A la vez') AND e.kind = 'created'"
        )
        .await,
        29
    );
    if a.backend == soporte::storage::Backend::Postgres {
        // The sequences are past every id handed out, and the other instance's ids made
        // claims fail that were then written by asking.
        assert_eq!(
            a.count("SELECT CAST(last_value AS BIGINT) FROM tickets_id_seq")
                .await,
            a.count("SELECT MAX(id) FROM tickets").await
        );
        let refused = a.services.write_counts().asked_again + b.services.write_counts().asked_again;
        assert!(refused >= 2, "{refused}");
    }
}
both_backends!(two_instances_taking_intake_at_once_hand_out_each_id_once);

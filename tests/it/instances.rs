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
            let r = TestApp::client()
                .post(url)
                .json(&json!({"from": "c@d.com", "subject": "Doble", "body": "b",
                              "message_id": "<doble@dominio.com>"}))
                .send()
                .await
                .unwrap();
            let s = r.status();
            (s, r.json::<Value>().await.unwrap()["id"].as_i64().unwrap())
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

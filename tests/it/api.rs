//! The JSON API: tokens, shapes, who sees what (404, never 403), concurrent writers, and the
//! OpenAPI document covering every route.

use crate::both_backends;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use soporte::domain::user::Role;

async fn api_tokens_authenticate_and_shapes_hold(app: TestApp) {
    let d = app.create_user(Role::Dispatcher, "Derivador").await;
    let tech = app.create_user(Role::Technician, "Tecnica").await;
    let token = app.token_for(&d).await;
    let c = TestApp::client();
    let r = c
        .post(app.url("/api/v1/tickets"))
        .bearer_auth(&token)
        .json(&json!({"from": "c@d.com", "subject": "Teclado", "body": "Teclas pegadas"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let t: Value = r.json().await.unwrap();
    for key in [
        "id",
        "number",
        "status",
        "version",
        "subject",
        "requester",
        "assignee",
    ] {
        assert!(t.get(key).is_some(), "ticket has {key}");
    }
    assert_eq!(t["status"], "nuevo");
    let id = t["id"].as_i64().unwrap();
    let r = c
        .post(app.url(&format!("/api/v1/tickets/{id}/assign")))
        .bearer_auth(&token)
        .json(&json!({"technician_id": tech.id.0, "version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["status"], "asignado");
    assert_eq!(t["assignee"]["id"], tech.id.0);
    let v: Value = c
        .get(app.url(&format!("/api/v1/tickets/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ev = &v["timeline"][1];
    for key in ["kind", "actor", "at", "data"] {
        assert!(ev.get(key).is_some(), "event has {key}");
    }
    assert_eq!(ev["data"]["to_status"], "asignado");
    assert!(
        ev["at"].as_str().unwrap().ends_with("-05:00"),
        "Lima offset"
    );
    let list: Value = c
        .get(app.url("/api/v1/technicians"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = &list["items"][0];
    for key in ["id", "name", "email", "active"] {
        assert!(first.get(key).is_some(), "technician has {key}");
    }
    assert!(list.get("next_cursor").is_some());
    // A wrong token is 401 JSON.
    let r = c
        .get(app.url("/api/v1/tickets"))
        .bearer_auth("sop_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The token is stored hashed.
    let stored: String = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_ne!(stored, token);
    // Bad JSON and missing fields.
    let r = c
        .post(app.url(&format!("/api/v1/tickets/{id}/comments")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = c
        .post(app.url(&format!("/api/v1/tickets/{id}/assign")))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("technician_id")
    );
    // A stale version is 409; so is an action the state no longer allows.
    let r = c
        .post(app.url(&format!("/api/v1/tickets/{id}/comments")))
        .bearer_auth(&token)
        .json(&json!({"body": "x", "version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "conflict");
    let r = c
        .post(app.url(&format!("/api/v1/tickets/{id}/assign")))
        .bearer_auth(&token)
        .json(&json!({"technician_id": tech.id.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "invalid_transition");
}
both_backends!(api_tokens_authenticate_and_shapes_hold);

/// Every ticket route, for a technician who is not the assignee: 404, as for a ticket that
/// does not exist; and nothing in lists or search gives it away.
async fn a_technician_cannot_see_or_touch_a_colleagues_ticket(app: TestApp) {
    let d = app.signed_in(Role::Dispatcher, "Derivador").await;
    let mine = app.signed_in(Role::Technician, "Tecnico Propio").await;
    let other = app.signed_in(Role::Technician, "Tecnico Ajeno").await;
    let theirs = app
        .intake("c@d.com", "Secreto de otro técnico", "zanahoria")
        .await["id"]
        .as_i64()
        .unwrap();
    let own = app.intake("c@d.com", "Mío", "b").await["id"]
        .as_i64()
        .unwrap();
    let unassigned = app.intake("c@d.com", "En cola", "zanahoria").await["id"]
        .as_i64()
        .unwrap();
    for (t, who) in [(theirs, &other), (own, &mine)] {
        let (s, _) = d
            .post_json(
                &format!("/api/v1/tickets/{t}/assign"),
                json!({"technician_id": who.user.id.0}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let missing = 9_999_999;
    for id in [theirs, unassigned, missing] {
        let (s, html) = mine.get_html(&format!("/tickets/{id}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "page {id}");
        assert!(html.contains("No encontrado"));
        let (s, v) = mine.get_json(&format!("/api/v1/tickets/{id}")).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
        for (action, body) in [
            ("comments", json!({"body": "x"})),
            ("close", json!({"resolution": "x"})),
            ("return", json!({"reason": "x"})),
            (
                "reassign",
                json!({"technician_id": mine.user.id.0, "reason": "x"}),
            ),
        ] {
            let (s, _) = mine
                .post_json(&format!("/api/v1/tickets/{id}/{action}"), body)
                .await;
            assert_eq!(s, StatusCode::NOT_FOUND, "api {action} {id}");
        }
        for action in ["comment", "close", "return", "reassign"] {
            let r = mine
                .post_form(
                    &format!("/tickets/{id}/{action}"),
                    &[
                        ("body", "x"),
                        ("resolution", "x"),
                        ("reason", "x"),
                        ("technician_id", &mine.user.id.to_string()),
                    ],
                )
                .await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "form {action} {id}");
        }
        // Staff-only actions are refused by role, the same for every id.
        let (s, _) = mine
            .post_json(
                &format!("/api/v1/tickets/{id}/assign"),
                json!({"technician_id": mine.user.id.0}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    // Lists and search show only their own ticket.
    let (_, v) = mine.get_json("/api/v1/tickets").await;
    let ids: Vec<i64> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [own]);
    let (_, v) = mine.get_json("/api/v1/tickets?q=zanahoria").await;
    assert!(v["items"].as_array().unwrap().is_empty());
    let (_, v) = mine
        .get_json(&format!("/api/v1/tickets?technician={}", other.user.id))
        .await;
    assert!(v["items"].as_array().unwrap().is_empty());
    let (_, html) = mine.get_html("/?q=zanahoria").await;
    assert!(!html.contains("Secreto de otro"));
    let (_, html) = mine.get_html("/").await;
    assert!(!html.contains("Secreto de otro") && !html.contains("En cola"));
    // Nothing was written.
    let (_, v) = d.get_json(&format!("/api/v1/tickets/{theirs}")).await;
    assert_eq!(v["version"], 2);
}
both_backends!(a_technician_cannot_see_or_touch_a_colleagues_ticket);

/// A ticket or account is named by its id as the app writes it (`/tickets/12`); any other
/// spelling (`+12`, `012`, `12.0`, words, overflow) names nothing: the same 404 as a missing
/// one on every route, JSON on the API and the Spanish page elsewhere, and nothing changes.
/// Who may ask is settled first: without a session it is still the sign-in redirect or 401.
async fn ids_are_read_once_and_only_in_their_own_spelling(app: TestApp) {
    let admin = app.signed_in(Role::Admin, "Administradora").await;
    let tech = app.create_user(Role::Technician, "Tecnico Uno").await;
    let id = app.intake("c@d.com", "Monitor", "parpadea").await["id"]
        .as_i64()
        .unwrap();
    let (s, v) = admin.get_json(&format!("/api/v1/tickets/{id}")).await;
    assert_eq!(s, StatusCode::OK, "the id as the app writes it: {v}");
    let version = v["version"].as_i64().unwrap();
    let (s, _) = admin
        .get_html(&format!("/admin/technicians/{}", tech.id))
        .await;
    assert_eq!(s, StatusCode::OK);

    let spellings = |n: i64| {
        [
            format!("+{n}"),
            format!("0{n}"),
            format!("{n}.0"),
            format!("{n}%20"),
            format!("-{n}"),
            "0".to_string(),
            "abc".to_string(),
            "99999999999999999999".to_string(),
        ]
    };
    for bad in spellings(id) {
        let (s, html) = admin.get_html(&format!("/tickets/{bad}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "page {bad}");
        assert!(html.contains("No encontrado"), "page {bad}: {html}");
        let r = admin.get(&format!("/tickets/{bad}/attachments/1")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "attachment {bad}");
        let r = admin
            .post_form(&format!("/tickets/{bad}/comment"), &[("body", "x")])
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "form {bad}");
        assert!(r.text().await.unwrap().contains("No encontrado"));
        let (s, v) = admin.get_json(&format!("/api/v1/tickets/{bad}")).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "api {bad}"
        );
        let (s, v) = admin
            .post_json(
                &format!("/api/v1/tickets/{bad}/comments"),
                json!({"body": "x"}),
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "api comment {bad}"
        );
    }
    for bad in spellings(tech.id.0) {
        let (s, html) = admin.get_html(&format!("/admin/technicians/{bad}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "technician {bad}");
        assert!(html.contains("No encontrado"));
        let r = admin
            .post_form(
                &format!("/admin/credentials/{bad}/active"),
                &[("active", "0"), ("confirm", "1")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "credential {bad}");
    }
    let (_, v) = admin.get_json(&format!("/api/v1/tickets/{id}")).await;
    assert_eq!(v["version"].as_i64(), Some(version), "nothing was written");
    assert!(app.services.user(tech.id).await.unwrap().active);

    let c = TestApp::client();
    assert_redirect_to(
        &c.get(app.url("/tickets/abc")).send().await.unwrap(),
        "/login",
    );
    let r = c.get(app.url("/api/v1/tickets/abc")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
both_backends!(ids_are_read_once_and_only_in_their_own_spelling);

async fn concurrent_actions_on_one_ticket_have_exactly_one_winner(app: TestApp) {
    let admin = app.create_user(Role::Admin, "Admin").await;
    let mut dispatchers = Vec::new();
    let mut techs = Vec::new();
    for i in 0..4 {
        dispatchers.push(
            app.create_user(Role::Dispatcher, &format!("Derivador {i}"))
                .await,
        );
        techs.push(
            app.create_user(Role::Technician, &format!("Tecnico {i}"))
                .await,
        );
    }
    let id = app.intake("c@d.com", "Carrera", "b").await["id"]
        .as_i64()
        .unwrap();
    let mut tokens = Vec::new();
    for d in &dispatchers {
        tokens.push(app.token_for(d).await);
    }
    // Four assignments to four technicians, all on version 1, at once.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(4));
    let mut handles = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let (c, url, token, tech, barrier) = (
            TestApp::client(),
            app.url(&format!("/api/v1/tickets/{id}/assign")),
            token.clone(),
            techs[i].id.0,
            barrier.clone(),
        );
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            c.post(url)
                .bearer_auth(token)
                .json(&json!({"technician_id": tech, "version": 1}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for h in handles {
        statuses.push(h.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    let admin_token = app.token_for(&admin).await;
    let v: Value = TestApp::client()
        .get(app.url(&format!("/api/v1/tickets/{id}")))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let assigned: Vec<&Value> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "assigned")
        .collect();
    assert_eq!(assigned.len(), 1);
    assert_eq!(
        assigned[0]["data"]["to_assignee"], v["assignee"]["id"],
        "timeline matches the final state"
    );
    assert_eq!(v["version"], 2);

    // Two closes at once (no version given): one closes, the other is told it is closed.
    let mut handles = Vec::new();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    for n in 0..2 {
        let (c, url, token, barrier) = (
            TestApp::client(),
            app.url(&format!("/api/v1/tickets/{id}/close")),
            admin_token.clone(),
            barrier.clone(),
        );
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            c.post(url)
                .bearer_auth(token)
                .json(&json!({"resolution": format!("cierre {n}")}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for h in handles {
        statuses.push(h.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let v: Value = TestApp::client()
        .get(app.url(&format!("/api/v1/tickets/{id}")))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "cerrado");
    assert_eq!(
        v["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "closed")
            .count(),
        1
    );
}
both_backends!(concurrent_actions_on_one_ticket_have_exactly_one_winner);

#[tokio::test]
async fn openapi_lists_every_route_the_router_serves_under_api_and_intake() {
    let app = TestApp::spawn(soporte::storage::Backend::Sqlite)
        .await
        .unwrap();
    let doc: Value = TestApp::client()
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let routes =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/routes.rs")).unwrap();
    let mut served = Vec::new();
    for chunk in routes.split(".route(").skip(1) {
        let Some(rest) = chunk.trim_start().strip_prefix('"') else {
            continue;
        };
        let path = rest.split('"').next().unwrap();
        let handlers = chunk;
        if path.starts_with("/api/v1") || path.starts_with("/intake") {
            for method in ["get", "post", "put", "patch", "delete"] {
                if handlers.contains(&format!("{method}(")) {
                    served.push((path.to_string(), method));
                }
            }
        }
    }
    assert!(
        served.len() >= 11,
        "found the API routes in routes.rs: {served:?}"
    );
    for (path, method) in &served {
        assert!(
            paths.get(path).and_then(|p| p.get(*method)).is_some(),
            "openapi.json lacks {method} {path}"
        );
    }
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            assert!(
                served.iter().any(|(p, m)| p == path && m == method),
                "openapi.json documents {method} {path}, which is not served"
            );
        }
    }
}

/// Bulk actions: each ticket through the one write path on its own; one refusal does not stop
/// the others, and each success is a timeline event.
async fn a_bulk_action_acts_on_each_ticket_alone(app: TestApp) {
    let d = app.create_user(Role::Dispatcher, "Derivador").await;
    let tech = app.create_user(Role::Technician, "Tecnica").await;
    let token = app.token_for(&d).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(
            app.intake("c@d.com", &format!("Caso {i}"), "x").await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    // One is already assigned: "assign" refuses it alone.
    app.services
        .act(
            &d.actor(),
            soporte::domain::ids::TicketId(ids[3]),
            None,
            soporte::service::tickets::Action::Assign {
                technician: tech.id,
            },
        )
        .await
        .unwrap();
    let c = TestApp::client();
    let mut asked = ids.clone();
    asked.push(999_999);
    let r = c
        .post(app.url("/api/v1/tickets/bulk"))
        .bearer_auth(&token)
        .json(&json!({"ids": asked, "action": "assign", "technician_id": tech.id.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    for (i, item) in items.iter().enumerate().take(3) {
        assert_eq!(item["id"], ids[i]);
        assert_eq!(item["ok"], true, "{item}");
        assert!(item["error"].is_null());
        assert_eq!(item["status"], "asignado");
    }
    assert_eq!(items[3]["ok"], false);
    assert_eq!(items[3]["error"]["code"], "invalid_transition");
    assert_eq!(items[4]["ok"], false);
    assert_eq!(items[4]["error"]["code"], "not_found");
    let events = app
        .count("SELECT COUNT(*) FROM ticket_events WHERE kind = 'assigned'")
        .await;
    assert_eq!(events, 4, "three by bulk and the one before");

    // A technician may not assign: each one refused, nothing written.
    let r = c
        .post(app.url("/api/v1/tickets/bulk"))
        .bearer_auth(app.token_for(&tech).await)
        .json(&json!({"ids": [ids[0]], "action": "return", "reason": "No es mío"}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["items"][0]["ok"], true, "their own ticket: {v}");
    let r = c
        .post(app.url("/api/v1/tickets/bulk"))
        .bearer_auth(app.token_for(&tech).await)
        .json(&json!({"ids": [ids[1], ids[2]], "action": "assign", "technician_id": tech.id.0}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    for item in v["items"].as_array().unwrap() {
        assert_eq!(item["ok"], false);
        assert_eq!(item["error"]["code"], "forbidden", "{item}");
    }
    // Bad requests change nothing and say why in Spanish.
    for (body, field) in [
        (json!({"ids": [], "action": "assign"}), "ids"),
        (
            json!({"ids": (0..101).collect::<Vec<i64>>(), "action": "close"}),
            "ids",
        ),
        (json!({"ids": [ids[0]], "action": "borrar"}), "action"),
        (
            json!({"ids": [ids[0]], "action": "assign"}),
            "technician_id",
        ),
    ] {
        let r = c
            .post(app.url("/api/v1/tickets/bulk"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["field"], field, "{v}");
    }
}
both_backends!(a_bulk_action_acts_on_each_ticket_alone);

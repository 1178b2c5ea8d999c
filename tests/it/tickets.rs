//! Tickets in the web UI: creating by hand, the list with filters and search, the ticket page
//! and its timeline, every action as a form, stale views, and escaping.

use crate::both_backends;
use crate::helpers::*;
use reqwest::StatusCode;
use soporte::domain::user::Role;

fn id_from_location(r: &reqwest::Response) -> i64 {
    location(r)
        .trim_start_matches("/tickets/")
        .parse()
        .expect("ticket id in location")
}

async fn a_dispatcher_creates_a_ticket_by_hand(app: TestApp) {
    let d = app.signed_in(Role::Dispatcher, "Derivador").await;
    // Validation re-renders the form with the input kept.
    let r = d
        .post_form(
            "/",
            &[
                ("from", "mal"),
                ("subject", "Monitor"),
                ("body", "No enciende"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("El remitente debe ser un correo electrónico válido"));
    assert!(html.contains("value=\"Monitor\"") && html.contains("No enciende</textarea>"));
    let r = d
        .post_form(
            "/",
            &[
                ("from", "ana@cliente.com"),
                ("subject", "Monitor"),
                ("body", "No enciende"),
            ],
        )
        .await;
    assert!(r.status().is_redirection());
    let id = id_from_location(&r);
    let (s, html) = d.get_html(&format!("/tickets/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(&format!("INC-{id:06}")));
    assert!(html.contains("registrada"), "confirmation after the action");
    assert!(
        html.contains("ana@cliente.com") && html.contains("No enciende") && html.contains("Nuevo")
    );
    // A technician may not create.
    let t = app.signed_in(Role::Technician, "Tecnico").await;
    let r = t
        .post_form(
            "/",
            &[("from", "ana@cliente.com"), ("subject", "x"), ("body", "y")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM tickets").await, 1);
}
both_backends!(a_dispatcher_creates_a_ticket_by_hand);

async fn a_ticket_lives_its_whole_life_through_the_forms(app: TestApp) {
    let d = app.signed_in(Role::Dispatcher, "Derivadora Sol").await;
    let t1 = app.signed_in(Role::Technician, "Tecnico Uno").await;
    let t2 = app.signed_in(Role::Technician, "Tecnico Dos").await;
    let admin = app.signed_in(Role::Admin, "Admin").await;
    let id = app
        .intake("cliente@dominio.com", "Problema de red", "No hay conexión")
        .await["id"]
        .as_i64()
        .unwrap();
    let page = format!("/tickets/{id}");

    // Dispatcher assigns to t1.
    let r = d
        .post_form(
            &format!("{page}/assign"),
            &[("technician_id", &t1.user.id.to_string()), ("version", "1")],
        )
        .await;
    assert_redirect_to(&r, &page);
    let (_, html) = d.get_html(&page).await;
    assert!(
        html.contains("Incidencia derivada")
            && html.contains("Asignado")
            && html.contains("Tecnico Uno")
    );
    // A dispatcher cannot close.
    let r = d
        .post_form(
            &format!("{page}/close"),
            &[("confirm", "1"), ("resolution", "x"), ("version", "2")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // t1 comments: en atención.
    let r = t1
        .post_form(
            &format!("{page}/comment"),
            &[("body", "Reviso el router"), ("version", "2")],
        )
        .await;
    assert_redirect_to(&r, &page);
    let (_, html) = t1.get_html(&page).await;
    assert!(html.contains("En atención") && html.contains("Reviso el router"));
    // An empty comment keeps the page with a message.
    let r = t1
        .post_form(
            &format!("{page}/comment"),
            &[("body", "  "), ("version", "3")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Escriba el comentario"));

    // t1 passes it to t2 with a reason; a reason is required.
    let r = t1
        .post_form(
            &format!("{page}/reassign"),
            &[
                ("technician_id", &t2.user.id.to_string()),
                ("reason", ""),
                ("version", "3"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = t1
        .post_form(
            &format!("{page}/reassign"),
            &[
                ("technician_id", &t2.user.id.to_string()),
                ("reason", "Es de redes"),
                ("version", "3"),
            ],
        )
        .await;
    assert_redirect_to(&r, "/");
    assert_eq!(
        t1.get(&page).await.status(),
        StatusCode::NOT_FOUND,
        "t1 no longer sees it"
    );

    // t2 returns it to the queue with a reason.
    let r = t2
        .post_form(
            &format!("{page}/return"),
            &[
                ("reason", "Falta información del cliente"),
                ("version", "4"),
            ],
        )
        .await;
    assert_redirect_to(&r, "/");
    let (_, html) = d.get_html(&page).await;
    assert!(html.contains("Devuelto") && html.contains("Falta información del cliente"));

    // Dispatcher assigns to t2 again, t2 closes with a resolution.
    let r = d
        .post_form(
            &format!("{page}/assign"),
            &[("technician_id", &t2.user.id.to_string()), ("version", "5")],
        )
        .await;
    assert_redirect_to(&r, &page);
    let r = t2
        .post_form(
            &format!("{page}/close"),
            &[("confirm", "1"), ("resolution", ""), ("version", "6")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = t2
        .post_form(
            &format!("{page}/close"),
            &[
                ("confirm", "1"),
                ("resolution", "Se cambió el cable"),
                ("version", "6"),
            ],
        )
        .await;
    assert_redirect_to(&r, &page);
    let (_, html) = t2.get_html(&page).await;
    assert!(html.contains("Cerrado") && html.contains("Se cambió el cable"));
    // Closed: no more comments (409) — and the admin reopens it.
    let r = t2
        .post_form(
            &format!("{page}/comment"),
            &[("body", "otra"), ("version", "7")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = admin
        .post_form(
            &format!("{page}/reopen"),
            &[("reason", "El cliente insiste"), ("version", "7")],
        )
        .await;
    assert_redirect_to(&r, &page);
    let r = admin
        .post_form(
            &format!("{page}/close"),
            &[
                ("confirm", "1"),
                ("resolution", "Cerrado por el administrador"),
                ("version", "8"),
            ],
        )
        .await;
    assert_redirect_to(&r, &page);

    // The timeline tells the whole story, in order, with who and Lima time.
    let (_, v) = admin.get_json(&format!("/api/v1/tickets/{id}")).await;
    let kinds: Vec<&str> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "created",
            "assigned",
            "commented",
            "reassigned",
            "returned",
            "assigned",
            "closed",
            "reopened",
            "closed"
        ]
    );
    assert_eq!(v["version"], 9);
    let (_, html) = admin.get_html(&page).await;
    let shown = soporte::domain::time::format_lima(soporte::domain::time::now());
    assert!(html.contains(&shown[..10]), "Lima date shown");
    for who in [
        "Derivadora Sol",
        "Tecnico Uno",
        "Tecnico Dos",
        "cliente@dominio.com",
    ] {
        assert!(html.contains(who), "{who} in the timeline");
    }
    assert!(
        html.contains("Estado: En atención → Asignado")
            || html.contains(
                "Estado: En atención → Asignado"
                    .replace("→", "&rarr;")
                    .as_str()
            )
    );
}
both_backends!(a_ticket_lives_its_whole_life_through_the_forms);

async fn a_stale_form_gets_a_reload_message(app: TestApp) {
    let d = app.signed_in(Role::Dispatcher, "Derivador").await;
    let t1 = app.create_user(Role::Technician, "Tecnico Uno").await;
    let t2 = app.create_user(Role::Technician, "Tecnico Dos").await;
    let id = app.intake("c@d.com", "s", "b").await["id"]
        .as_i64()
        .unwrap();
    let r = d
        .post_form(
            &format!("/tickets/{id}/assign"),
            &[("technician_id", &t1.id.to_string()), ("version", "1")],
        )
        .await;
    assert!(r.status().is_redirection());
    // Someone else's view still shows version 1.
    let r = d
        .post_form(
            &format!("/tickets/{id}/reassign"),
            &[("technician_id", &t2.id.to_string()), ("version", "1")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Alguien modificó esta incidencia") && html.contains("su texto se conservó")
    );
    let (_, v) = d.get_json(&format!("/api/v1/tickets/{id}")).await;
    assert_eq!(v["assignee"]["id"], t1.id.0, "nothing was overwritten");
}
both_backends!(a_stale_form_gets_a_reload_message);

async fn html_and_script_are_shown_as_text(app: TestApp) {
    let d = app.signed_in(Role::Dispatcher, "Derivador").await;
    let t = app
        .intake(
            "x@y.com",
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(2)>",
        )
        .await;
    let id = t["id"].as_i64().unwrap();
    let r = d
        .post_form(
            &format!("/tickets/{id}/comment"),
            &[("body", "<b>negrita</b>\"'")],
        )
        .await;
    assert!(r.status().is_redirection());
    for page in ["/".to_string(), format!("/tickets/{id}")] {
        let (_, html) = d.get_html(&page).await;
        assert!(!html.contains("<script>alert(1)</script>"), "{page}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
                || html.contains("&#60;script&#62;"),
            "{page}"
        );
        assert!(!html.contains("<img src=x"));
        assert!(!html.contains("<b>negrita</b>"));
    }
}
both_backends!(html_and_script_are_shown_as_text);

async fn the_list_filters_searches_and_pages(app: TestApp) {
    let d = app.signed_in(Role::Dispatcher, "Derivador").await;
    let tech = app.create_user(Role::Technician, "Tecnico").await;
    let camara = app
        .intake(
            "seguridad@cliente.com",
            "Cámara del almacén apagada",
            "La cámara no graba",
        )
        .await;
    let red = app
        .intake(
            "ana@cliente.com",
            "Problema de red",
            "Sin conexión en el piso 3",
        )
        .await;
    let (s, _) = d
        .post_json(
            &format!("/api/v1/tickets/{}/assign", red["id"]),
            serde_json::json!({"technician_id": tech.id.0}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = d
        .post_json(
            &format!("/api/v1/tickets/{}/comments", red["id"]),
            serde_json::json!({"body": "Switch averiado reemplazado"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for i in 0..30 {
        app.intake(
            &format!("u{i}@cliente.com"),
            &format!("Consulta {i}"),
            "Varios",
        )
        .await;
    }
    let numbers = |v: &serde_json::Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["number"].as_str().unwrap().to_string())
            .collect()
    };
    // Accent- and case-insensitive search, also in comments and the sender.
    for q in ["camara", "CÁMARA", "camar", "almacen"] {
        let (_, v) = d.get_json(&format!("/api/v1/tickets?q={q}")).await;
        assert_eq!(numbers(&v), [camara["number"].as_str().unwrap()], "{q}");
    }
    let (_, v) = d.get_json("/api/v1/tickets?q=switch").await;
    assert_eq!(numbers(&v), [red["number"].as_str().unwrap()]);
    let (_, v) = d.get_json("/api/v1/tickets?q=ana%40cliente").await;
    assert_eq!(numbers(&v), [red["number"].as_str().unwrap()]);
    let (_, v) = d
        .get_json(&format!(
            "/api/v1/tickets?q={}",
            red["number"].as_str().unwrap()
        ))
        .await;
    assert_eq!(numbers(&v), [red["number"].as_str().unwrap()]);
    // Filters.
    let (_, v) = d.get_json("/api/v1/tickets?status=asignado").await;
    assert_eq!(numbers(&v), [red["number"].as_str().unwrap()]);
    let (_, v) = d
        .get_json(&format!("/api/v1/tickets?technician={}", tech.id))
        .await;
    assert_eq!(numbers(&v), [red["number"].as_str().unwrap()]);
    let today = soporte::domain::time::lima_date(soporte::domain::time::now())
        .unwrap()
        .to_string();
    let (_, v) = d
        .get_json(&format!(
            "/api/v1/tickets?from={today}&to={today}&limit=100"
        ))
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 32);
    let (_, v) = d
        .get_json("/api/v1/tickets?from=2000-01-01&to=2000-01-02")
        .await;
    assert!(v["items"].as_array().unwrap().is_empty());
    let (s, v) = d.get_json("/api/v1/tickets?status=abierto").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["error"]["message"], "El estado no es válido.");
    // Newest first, keyset pages that cover everything once.
    let mut seen = Vec::new();
    let mut url = "/api/v1/tickets?limit=10".to_string();
    loop {
        let (_, v) = d.get_json(&url).await;
        let ids: Vec<i64> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect();
        seen.extend(ids);
        match v["next_cursor"].as_str() {
            Some(c) => url = format!("/api/v1/tickets?limit=10&cursor={c}"),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first");
    assert_eq!(seen.len(), 32);
    // The HTML list pages too and keeps the filters.
    let (_, html) = d.get_html("/?q=consulta").await;
    assert!(html.contains("Más antiguas"));
    let unescaped = html.replace("&#38;", "&").replace("&amp;", "&");
    assert!(
        unescaped.contains("/?q=consulta&cursor="),
        "the next page keeps the filters"
    );
    let (_, html) = d.get_html("/?q=nada-parecido").await;
    assert!(html.contains("Ninguna incidencia coincide"));
}
both_backends!(the_list_filters_searches_and_pages);

async fn the_timeline_is_append_only_in_the_database(app: TestApp) {
    app.intake("c@d.com", "s", "b").await;
    let update = sqlx::query("UPDATE ticket_events SET actor = 'x'")
        .execute(app.store.pool())
        .await;
    assert!(update.is_err(), "UPDATE refused");
    let delete = sqlx::query("DELETE FROM ticket_events")
        .execute(app.store.pool())
        .await;
    assert!(delete.is_err(), "DELETE refused");
    assert_eq!(app.count("SELECT COUNT(*) FROM ticket_events").await, 1);
}
both_backends!(the_timeline_is_append_only_in_the_database);

async fn a_failed_change_writes_nothing(app: TestApp) {
    let d = app.signed_in(Role::Dispatcher, "Derivador").await;
    let id = app.intake("c@d.com", "s", "b").await["id"]
        .as_i64()
        .unwrap();
    let events = app.count("SELECT COUNT(*) FROM ticket_events").await;
    for (action, body) in [
        ("close", serde_json::json!({"resolution": "x"})),
        ("return", serde_json::json!({"reason": "x"})),
        ("assign", serde_json::json!({"technician_id": 999_999})),
    ] {
        let (s, _) = d
            .post_json(&format!("/api/v1/tickets/{id}/{action}"), body)
            .await;
        assert!(s.is_client_error(), "{action}: {s}");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ticket_events").await,
        events
    );
    assert_eq!(app.count("SELECT version FROM tickets").await, 1);
}
both_backends!(a_failed_change_writes_nothing);

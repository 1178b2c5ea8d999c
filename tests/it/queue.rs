//! The queue people work in (issue 15): views with counts per role, the role's first
//! screen, the multi-status filter, the orders and the pager both ways, bulk actions from the
//! list through a confirmation page, a bare number finding its ticket, a reversed date range,
//! and the open event streams gauge — on both backends.

use crate::both_backends_at;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use soporte::domain::ids::TicketId;
use soporte::domain::user::{Role, User};
use soporte::service::tickets::Action;

fn count_of(v: &Value, name: &str) -> Option<i64> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .map(|i| i["count"].as_i64().unwrap())
}

async fn new_ticket(app: &TestApp, subject: &str) -> i64 {
    let v = app.intake("ana@cliente.pe", subject, "x").await;
    v["id"].as_i64().unwrap_or_else(|| panic!("{v}"))
}

async fn act(app: &TestApp, who: &User, id: i64, action: Action) {
    app.services
        .act(&who.actor(), TicketId(id), None, action)
        .await
        .unwrap_or_else(|e| panic!("{id}: {e:?}"));
}

/// Six tickets: two new, one returned, one assigned to Tito, one waiting for the requester
/// (Tito's), one closed (Tito's). Returns the ids in that order.
async fn a_morning(app: &TestApp, d: &User, tito: &User) -> Vec<i64> {
    let mut ids = Vec::new();
    for s in [
        "Sin red",
        "Impresora",
        "Caso devuelto",
        "Caso asignado",
        "Caso en espera",
        "Caso cerrado",
    ] {
        ids.push(new_ticket(app, s).await);
    }
    let assign = || Action::Assign {
        technician: tito.id,
    };
    for id in &ids[2..] {
        act(app, d, *id, assign()).await;
    }
    act(
        app,
        tito,
        ids[2],
        Action::Return {
            reason: "No es de mi área".into(),
        },
    )
    .await;
    act(
        app,
        tito,
        ids[4],
        Action::Reply {
            body: "¿Ya reinició el equipo?".into(),
            wait: true,
        },
    )
    .await;
    act(
        app,
        tito,
        ids[5],
        Action::Close {
            resolution: "Listo".into(),
        },
    )
    .await;
    ids
}

async fn views_count_for_each_role_and_each_role_starts_on_its_home(app: TestApp) {
    let d = app.signed_in(Role::Dispatcher, "Paty Derivadora").await;
    let tito_user = app.create_user(Role::Technician, "Tito Técnico").await;
    let other = app.create_user(Role::Technician, "Otra Técnica").await;
    let ids = a_morning(&app, &d.user, &tito_user).await;
    // Another technician's open ticket: counted for staff, never for Tito.
    let theirs = new_ticket(&app, "De otra").await;
    act(
        &app,
        &d.user,
        theirs,
        Action::Assign {
            technician: other.id,
        },
    )
    .await;

    let (s, v) = d.get_json("/api/v1/views").await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "sin_asignar",
            "esperando",
            "vencidas",
            "abiertas",
            "cerradas",
            "todas"
        ]
    );
    assert_eq!(v["items"][0]["label"], "Sin asignar");
    assert_eq!(
        count_of(&v, "sin_asignar"),
        Some(3),
        "two new + one returned"
    );
    assert_eq!(count_of(&v, "esperando"), Some(1));
    assert_eq!(count_of(&v, "abiertas"), Some(6));
    assert_eq!(count_of(&v, "cerradas"), Some(1));
    assert_eq!(count_of(&v, "todas"), Some(7));

    let tito = app.browser_for(tito_user.clone()).await;
    let (_, v) = tito.get_json("/api/v1/views").await;
    assert_eq!(v["items"][0]["name"], "mias");
    assert_eq!(v["items"][0]["label"], "Mis abiertas");
    assert_eq!(
        count_of(&v, "mias"),
        Some(2),
        "assigned + waiting, his own only"
    );
    assert_eq!(count_of(&v, "cerradas"), Some(1));
    assert_eq!(count_of(&v, "todas"), Some(3));
    assert_eq!(count_of(&v, "sin_asignar"), None, "not a technician's view");

    // The dispatcher's first screen is "Sin asignar", with the counts in the header.
    let (s, html) = d.get_html("/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains(r#"href="/?view=sin_asignar" data-view="sin_asignar" aria-current="page">Sin asignar <span class="view-count" data-count="sin_asignar">3</span>"#),
        "{html}"
    );
    assert!(
        html.contains("Sin red") && html.contains("Impresora") && html.contains("Caso devuelto")
    );
    assert!(!html.contains("Caso asignado") && !html.contains("Caso cerrado"));
    assert!(html.contains("1–3 de 3"));
    // The technician's is "Mis abiertas".
    let (_, html) = tito.get_html("/").await;
    assert!(html.contains(r#"data-view="mias" aria-current="page""#));
    assert!(html.contains("Caso asignado") && html.contains("Caso en espera"));
    assert!(!html.contains("Caso cerrado") && !html.contains("De otra"));
    // An explicit filter overrides the home view; a view can be named.
    let (_, html) = d.get_html("/?status=cerrado").await;
    assert!(html.contains("Caso cerrado") && !html.contains("Sin red"));
    assert!(!html.contains("aria-current=\"page\">Sin asignar"));
    let (_, html) = d.get_html("/?view=esperando").await;
    assert!(html.contains("Caso en espera") && !html.contains("Sin red"));
    let (_, html) = d.get_html("/?view=todas").await;
    for s in ["Sin red", "Caso cerrado", "De otra"] {
        assert!(html.contains(s), "{s}");
    }
    // A view that does not exist is said in Spanish, not a 500.
    let (s, html) = d.get_html("/?view=urgentes").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("La vista no es válida"));
    let (s, v) = d.get_json("/api/v1/tickets?view=urgentes").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v["error"]["message"].as_str().unwrap().contains("vista"));
    // The API lists by view too, with the total from the counts.
    let (_, v) = d.get_json("/api/v1/tickets?view=sin_asignar").await;
    let mut got = ids_of(&v);
    got.sort();
    assert_eq!(got, vec![ids[0], ids[1], ids[2]]);
    assert_eq!(v["total"], 3);
    let _ = ids;
}
crate::both_backends!(views_count_for_each_role_and_each_role_starts_on_its_home);

async fn several_statuses_filter_the_page_and_the_api(app: TestApp) {
    let d = app.signed_in(Role::Dispatcher, "Paty").await;
    let tito = app.create_user(Role::Technician, "Tito").await;
    let ids = a_morning(&app, &d.user, &tito).await;
    let (s, v) = d.get_json("/api/v1/tickets?status=nuevo,devuelto").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ids_of(&v), vec![ids[2], ids[1], ids[0]], "newest first");
    assert_eq!(v["total"], 3);
    let (_, v) = d.get_json("/api/v1/tickets?status=en_espera,cerrado").await;
    assert_eq!(ids_of(&v), vec![ids[5], ids[4]]);
    let (s, v) = d.get_json("/api/v1/tickets?status=nuevo,abierto").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["error"]["message"], "El estado no es válido.");
    let (_, html) = d.get_html("/?status=nuevo%2Cdevuelto").await;
    assert!(html.contains("Sin red") && html.contains("Caso devuelto"));
    assert!(!html.contains("Caso en espera") && !html.contains("Caso cerrado"));
    // A search has no total from the counts: the API says null.
    let (_, v) = d.get_json("/api/v1/tickets?q=impresora").await;
    assert_eq!(ids_of(&v), vec![ids[1]]);
    assert!(v["total"].is_null());
}
crate::both_backends!(several_statuses_filter_the_page_and_the_api);

async fn the_pager_goes_both_ways_in_every_order(app: TestApp) {
    let d = app.signed_in(Role::Dispatcher, "Paty").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        app.clock.advance(60);
        ids.push(new_ticket(&app, &format!("Caso {i}")).await);
    }
    // Priorities: 2 and 5 are critical, 4 is high; the rest medium.
    for (i, p) in [(2, "critica"), (5, "critica"), (4, "alta")] {
        let r = d
            .client
            .patch(format!("{}/api/v1/tickets/{}", d.base, ids[i]))
            .json(&json!({"priority": p, "version": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Activity: a note on ticket 1 makes it the latest.
    app.clock.advance(60);
    act(
        &app,
        &d.user,
        ids[1],
        Action::Comment {
            body: "Llamé al usuario".into(),
        },
    )
    .await;
    let rev = |v: &[usize]| v.iter().map(|i| ids[*i]).collect::<Vec<_>>();
    let orders = [
        ("recientes", rev(&[6, 5, 4, 3, 2, 1, 0])),
        ("antiguas", rev(&[0, 1, 2, 3, 4, 5, 6])),
        ("numero", rev(&[0, 1, 2, 3, 4, 5, 6])),
        // The note is the latest event; the priority changes (2, 4, 5) came at the minute
        // ticket 6 arrived: ties go newest first.
        ("actividad", rev(&[1, 6, 5, 4, 2, 3, 0])),
        ("prioridad", rev(&[5, 2, 4, 6, 3, 1, 0])),
    ];
    for (sort, expected) in orders {
        // Forward three at a time to the end…
        let mut seen = Vec::new();
        let mut url = format!("/api/v1/tickets?view=todas&sort={sort}&limit=3");
        let mut last = Value::Null;
        for _ in 0..5 {
            let (s, v) = d.get_json(&url).await;
            assert_eq!(s, StatusCode::OK, "{sort}: {v}");
            seen.extend(ids_of(&v));
            last = v.clone();
            match v["next_cursor"].as_str() {
                Some(c) => {
                    url = format!("/api/v1/tickets?view=todas&sort={sort}&limit=3&cursor={c}")
                }
                None => break,
            }
        }
        assert_eq!(seen, expected, "{sort}");
        // …and back from the last page to the first.
        let mut back = ids_of(&last);
        let mut prev = last["prev_cursor"].as_str().map(str::to_string);
        for _ in 0..5 {
            let Some(c) = prev else { break };
            let (_, v) = d
                .get_json(&format!(
                    "/api/v1/tickets?view=todas&sort={sort}&limit=3&cursor={c}"
                ))
                .await;
            let mut page = ids_of(&v);
            page.extend(back);
            back = page;
            prev = v["prev_cursor"].as_str().map(str::to_string);
        }
        assert_eq!(back, seen, "{sort}: walking back gives the same order");
    }
    // The page: "1–3 de 7", then "4–6 de 7" with both links, and back.
    let (_, html) = d.get_html("/?view=todas&limit=3").await;
    assert!(html.contains("1–3 de 7"), "{html}");
    assert!(!html.contains("Más recientes</a>"));
    let next = html
        .split("rel=\"next\"")
        .next()
        .and_then(|h| h.rsplit("href=\"").next())
        .and_then(|h| h.split('"').next())
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let (_, html) = d.get_html(&next).await;
    assert!(html.contains("4–6 de 7"), "{next}: {html}");
    assert!(html.contains("← Más recientes") && html.contains("Anteriores →"));
    assert!(html.contains("Caso 3") && !html.contains("Caso 6"));
    // A bad order or cursor is a Spanish message, not a 500.
    let (s, v) = d.get_json("/api/v1/tickets?sort=azar").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v["error"]["message"].as_str().unwrap().contains("orden"));
    let (s, _) = d.get_json("/api/v1/tickets?sort=prioridad&cursor=12").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}
both_backends_at!(the_pager_goes_both_ways_in_every_order, MONDAY_0900);

async fn bulk_actions_from_the_list_confirm_then_say_what_was_done(app: TestApp) {
    let d = app.signed_in(Role::Dispatcher, "Paty").await;
    let tito = app.create_user(Role::Technician, "Carlos Ruiz").await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(new_ticket(&app, &format!("Caso {i}")).await);
    }
    // The picker shows each technician's open load.
    act(
        &app,
        &d.user,
        ids[3],
        Action::Assign {
            technician: tito.id,
        },
    )
    .await;
    let (_, html) = d.get_html("/").await;
    assert!(html.contains("Carlos Ruiz (1 abierta)"), "{html}");
    assert!(html.contains("data-picker"));
    let id = |i: usize| ids[i].to_string();
    // Marked rows and "Derivar a…": the confirmation page first, nothing written yet.
    let tech = tito.id.0.to_string();
    let r = d
        .post_form(
            "/tickets/bulk",
            &[
                ("ids", &id(0)),
                ("ids", &id(1)),
                ("ids", &id(3)),
                ("action", "assign"),
                ("technician_id", &tech),
                ("back", "/?view=sin_asignar"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("¿Derivar 3 incidencias a Carlos Ruiz?"),
        "{html}"
    );
    assert!(html.contains("Caso 0") && html.contains("Caso 3"));
    assert!(html.contains("name=\"csrf_token\""));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ticket_events WHERE kind = 'assigned'")
            .await,
        1
    );
    // Confirmed: each through the one write path; the one already assigned fails alone.
    let r = d
        .post_form(
            "/tickets/bulk",
            &[
                ("ids", &id(0)),
                ("ids", &id(1)),
                ("ids", &id(3)),
                ("action", "assign"),
                ("technician_id", &tech),
                ("confirm", "1"),
                ("back", "/?view=sin_asignar"),
            ],
        )
        .await;
    assert_redirect_to(&r, "/?view=sin_asignar");
    let (_, html) = d.get_html("/?view=sin_asignar").await;
    let n = |i: usize| format!("INC-{:06}", ids[i]);
    assert!(
        html.contains(&format!(
            "2 incidencias derivadas a Carlos Ruiz: {}, {}.",
            n(0),
            n(1)
        )),
        "{html}"
    );
    assert!(html.contains(&format!("No se pudo con 1 incidencia: {}:", n(3))));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ticket_events WHERE kind = 'assigned'")
            .await,
        3
    );
    // The row's own picker acts at once (derivar is not final) and comes back.
    let r = d
        .post_form(
            "/tickets/bulk",
            &[
                ("ids", &id(2)),
                ("action", "assign"),
                ("technician_id", &tech),
                ("confirm", "1"),
                ("back", "/"),
            ],
        )
        .await;
    assert_redirect_to(&r, "/");
    // A dispatcher may not close: each ticket refused alone, with the reason.
    let r = d
        .post_form(
            "/tickets/bulk",
            &[
                ("ids", &id(0)),
                ("action", "close"),
                ("resolution", "Resuelto"),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_redirect_to(&r, "/");
    let (_, html) = d.get_html("/").await;
    assert!(
        html.contains(&format!("No se pudo con 1 incidencia: {}:", n(0))),
        "{html}"
    );
    // The administrator closes: the confirmation asks for the resolution; confirmed without
    // one, the page says so and nothing is closed.
    let admin = app.signed_in(Role::Admin, "Ada Admin").await;
    let r = admin
        .post_form(
            "/tickets/bulk",
            &[("ids", &id(0)), ("ids", &id(1)), ("action", "close")],
        )
        .await;
    let html = r.text().await.unwrap();
    assert!(html.contains("¿Cerrar 2 incidencias?"), "{html}");
    assert!(html.contains("name=\"resolution\""));
    let r = admin
        .post_form(
            "/tickets/bulk",
            &[
                ("ids", &id(0)),
                ("ids", &id(1)),
                ("action", "close"),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM tickets WHERE status = 'cerrado'")
            .await,
        0
    );
    let r = admin
        .post_form(
            "/tickets/bulk",
            &[
                ("ids", &id(0)),
                ("ids", &id(1)),
                ("action", "close"),
                ("resolution", "Resuelto en sitio"),
                ("confirm", "1"),
                // Only a path of this site is a way back.
                ("back", "https://malo.example/"),
            ],
        )
        .await;
    assert_redirect_to(&r, "/");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM tickets WHERE status = 'cerrado'")
            .await,
        2
    );
    let (_, html) = admin.get_html("/").await;
    assert!(html.contains(&format!("2 incidencias cerradas: {}, {}.", n(0), n(1))));
    // Nothing marked: the list says so. Without the CSRF token: refused, nothing written.
    let r = d.post_form("/tickets/bulk", &[("action", "close")]).await;
    assert_redirect_to(&r, "/");
    let (_, html) = d.get_html("/").await;
    assert!(html.contains("Seleccione al menos una incidencia."));
    let r = d
        .client
        .post(format!("{}/tickets/bulk", d.base))
        .form(&[
            ("ids", id(2).as_str()),
            ("action", "return"),
            ("reason", "x"),
            ("confirm", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ticket_events WHERE kind = 'returned'")
            .await,
        0
    );
    // A GET of the form's address is the list, not a browser error page.
    let r = d.get("/tickets/bulk").await;
    assert_redirect_to(&r, "/");
    // A technician may not assign from the list.
    let t = app.browser_for(tito).await;
    let r = t
        .post_form(
            "/tickets/bulk",
            &[
                ("ids", &id(2)),
                ("action", "assign"),
                ("technician_id", &tech),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
crate::both_backends!(bulk_actions_from_the_list_confirm_then_say_what_was_done);

async fn a_bare_number_finds_its_ticket_and_a_reversed_range_says_so(app: TestApp) {
    let d = app.signed_in(Role::Dispatcher, "Paty").await;
    let mut last = 0;
    for i in 0..12 {
        last = new_ticket(&app, &format!("Caso {i}")).await;
    }
    let (_, v) = d.get_json(&format!("/api/v1/tickets?q={last}")).await;
    assert_eq!(ids_of(&v), vec![last]);
    let (_, html) = d.get_html(&format!("/?q={last}")).await;
    assert!(html.contains(&format!("INC-{last:06}")), "{html}");
    assert!(html.contains("1–1 de 1"));
    // A number that is no ticket is still searched as words.
    let words = new_ticket(&app, "Anexo 4471 sin tono").await;
    let (_, v) = d.get_json("/api/v1/tickets?q=4471").await;
    assert_eq!(ids_of(&v), vec![words]);

    let (s, html) = d.get_html("/?from=2026-11-30&to=2026-11-01").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("La fecha inicial es posterior a la final."));
    let (s, v) = d
        .get_json("/api/v1/tickets?from=2026-11-30&to=2026-11-01")
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["error"]["message"],
        "La fecha inicial es posterior a la final."
    );
}
crate::both_backends!(a_bare_number_finds_its_ticket_and_a_reversed_range_says_so);

async fn overdue_tickets_are_counted_from_the_index_for_each_scope(app: TestApp) {
    let paty = app.create_user(Role::Dispatcher, "Paty").await;
    let tito_user = app.create_user(Role::Technician, "Tito").await;
    let late = new_ticket(&app, "Atrasada").await;
    let mine = new_ticket(&app, "Atrasada de Tito").await;
    act(
        &app,
        &paty,
        mine,
        Action::Assign {
            technician: tito_user.id,
        },
    )
    .await;
    // A closed one has no running clock: never overdue.
    let admin = app.create_user(Role::Admin, "Ada").await;
    let done = new_ticket(&app, "Resuelta").await;
    act(
        &app,
        &admin,
        done,
        Action::Close {
            resolution: "Listo".into(),
        },
    )
    .await;
    // A week later every running clock is past its due.
    app.clock.advance(7 * 86_400);
    let fresh = new_ticket(&app, "Recién llegada").await;
    // Signed in now: a week-old session would have ended.
    let d = app.browser_for(paty).await;
    let (_, v) = d.get_json("/api/v1/views").await;
    assert_eq!(count_of(&v, "vencidas"), Some(2));
    let (_, v) = d.get_json("/api/v1/tickets?view=vencidas").await;
    // Newest first, like every list (on SQLite a walk of the running clocks by number), a
    // page at a time both ways, and oldest first.
    assert_eq!(ids_of(&v), vec![mine, late]);
    assert_eq!(v["total"], 2);
    let (_, first) = d.get_json("/api/v1/tickets?view=vencidas&limit=1").await;
    assert_eq!(ids_of(&first), vec![mine]);
    let page_at = |cursor: &Value| {
        let url = format!(
            "/api/v1/tickets?view=vencidas&limit=1&cursor={}",
            cursor.as_str().unwrap()
        );
        let d = &d;
        async move { d.get_json(&url).await.1 }
    };
    let second = page_at(&first["next_cursor"]).await;
    assert_eq!(ids_of(&second), vec![late]);
    assert!(second["next_cursor"].is_null(), "{second}");
    let back = page_at(&second["prev_cursor"]).await;
    assert_eq!(ids_of(&back), vec![mine]);
    let (_, v) = d
        .get_json("/api/v1/tickets?view=vencidas&sort=antiguas")
        .await;
    assert_eq!(ids_of(&v), vec![late, mine]);
    let tito = app.browser_for(tito_user).await;
    let (_, v) = tito.get_json("/api/v1/views").await;
    assert_eq!(count_of(&v, "vencidas"), Some(1));
    let (_, html) = tito.get_html("/?view=vencidas").await;
    assert!(html.contains("Atrasada de Tito") && !html.contains("Recién llegada"));
    let _ = fresh;
}
both_backends_at!(
    overdue_tickets_are_counted_from_the_index_for_each_scope,
    MONDAY_0900
);

async fn open_event_streams_are_a_gauge_in_metrics(app: TestApp) {
    let d = app.signed_in(Role::Dispatcher, "Paty").await;
    let gauge = |text: &str| -> i64 {
        text.lines()
            .find_map(|l| l.strip_prefix("soporte_event_streams_open "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(-1)
    };
    let metrics = || async {
        TestApp::client()
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert_eq!(gauge(&metrics().await), 0);
    let stream = d.get("/events").await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(gauge(&metrics().await), 1);
    drop(stream);
    // The server notices the closed connection at its next write (a heartbeat or an event).
    new_ticket(&app, "Despierta al stream").await;
    let mut closed = false;
    for _ in 0..50 {
        if gauge(&metrics().await) == 0 {
            closed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(closed, "the gauge goes back to 0 once the stream is gone");
}
crate::both_backends!(open_event_streams_are_a_gauge_in_metrics);

async fn manual_entry_records_the_channel(app: TestApp) {
    let d = app.signed_in(Role::Dispatcher, "Paty").await;
    let r = d
        .post_form(
            "/",
            &[
                ("channel", "telefono"),
                ("from", "ana@cliente.pe"),
                ("subject", "Llamó: no imprime"),
                ("body", "Por teléfono"),
            ],
        )
        .await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let id: i64 = location(&r)
        .strip_prefix("/tickets/")
        .unwrap()
        .parse()
        .unwrap();
    let (_, v) = d.get_json(&format!("/api/v1/tickets/{id}")).await;
    assert_eq!(v["channel"], "telefono");
    let (_, html) = d.get_html(&format!("/tickets/{id}")).await;
    assert!(html.contains("<dt>Canal</dt><dd>Teléfono</dd>"), "{html}");
    let (_, html) = d.get_html("/").await;
    assert!(html.contains("ana@cliente.pe · Teléfono"), "{html}");
    // The API takes it too; intake is always e-mail.
    let (s, v) = d
        .post_json(
            "/api/v1/tickets",
            json!({"from": "luis@cliente.pe", "subject": "Vino a la mesa", "channel": "presencial"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["channel"], "presencial");
    let mailed = new_ticket(&app, "Por correo").await;
    let (_, v) = d.get_json(&format!("/api/v1/tickets/{mailed}")).await;
    assert_eq!(v["channel"], "correo");
    // A channel that is not one: a Spanish message, nothing written.
    let before = app.count("SELECT COUNT(*) FROM tickets").await;
    let r = d
        .post_form(
            "/",
            &[
                ("channel", "fax"),
                ("from", "ana@cliente.pe"),
                ("subject", "x"),
                ("body", "x"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("El canal debe ser correo, teléfono o presencial.")
    );
    let (s, _) = d
        .post_json(
            "/api/v1/tickets",
            json!({"from": "luis@cliente.pe", "subject": "x", "channel": "fax"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT COUNT(*) FROM tickets").await, before);
}
crate::both_backends!(manual_entry_records_the_channel);

/// The reads behind the views and the orders are index ranges, not scans: the query planner
/// of each backend says which index it reads (PostgreSQL with sequential scans discouraged,
/// since a test database is small enough that a scan would win).
async fn the_counts_and_orders_read_their_indexes(app: TestApp) {
    use sqlx::Row;
    let mut conn = app.store.pool().acquire().await.unwrap();
    let (explain, column) = match app.backend {
        soporte::storage::Backend::Sqlite => ("EXPLAIN QUERY PLAN ", "detail"),
        soporte::storage::Backend::Postgres => {
            sqlx::query("SET enable_seqscan = off")
                .execute(&mut *conn)
                .await
                .unwrap();
            ("EXPLAIN ", "QUERY PLAN")
        }
    };
    let rank =
        "(CASE t.priority WHEN 'critica' THEN 4 WHEN 'alta' THEN 3 WHEN 'media' THEN 2 ELSE 1 END)";
    for (sql, index) in [
        (
            "SELECT CAST(COUNT(*) AS BIGINT) FROM tickets t WHERE t.sla_due_at IS NOT NULL \
             AND t.sla_due_at < 100 AND t.assignee_id = 3"
                .to_string(),
            "tickets_sla_due_assignee",
        ),
        (
            "SELECT CAST(COUNT(*) AS BIGINT) FROM tickets t WHERE t.sla_due_at IS NOT NULL \
             AND t.sla_due_at < 100"
                .to_string(),
            "tickets_sla_due",
        ),
        (
            "SELECT t.id FROM tickets t WHERE (t.last_event_at, t.id) < (100, 7) \
             ORDER BY t.last_event_at DESC, t.id DESC LIMIT 26"
                .to_string(),
            "tickets_last_event",
        ),
        (
            format!("SELECT t.id FROM tickets t ORDER BY {rank} DESC, t.id DESC LIMIT 26"),
            "tickets_priority_rank",
        ),
    ] {
        let full = format!("{explain}{sql}");
        let rows = sqlx::query(&full).fetch_all(&mut *conn).await.unwrap();
        let plan: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String, _>(column).unwrap())
            .collect();
        assert!(
            plan.iter().any(|l| l.contains(index)),
            "{sql}\nreads {plan:#?}, not {index}"
        );
        // A page's cursor is where the walk starts (a range of the index), not a filter of
        // every row before it.
        if sql.contains("(t.last_event_at, t.id) <") {
            let ranged = match app.backend {
                soporte::storage::Backend::Sqlite => plan.iter().any(|l| l.contains("SEARCH")),
                soporte::storage::Backend::Postgres => {
                    plan.iter().any(|l| l.contains("Index Cond: (ROW("))
                        && !plan.iter().any(|l| l.contains("Filter:"))
                }
            };
            assert!(ranged, "{sql}\nreads {plan:#?}");
        }
    }
}
crate::both_backends!(the_counts_and_orders_read_their_indexes);

//! Priorities, categories and service levels on the business calendar, through the real app on
//! both backends at instants the tests set: the ticket's clocks in the API, classifying with a
//! version, the calendar and targets as the API shows them, the administrator's pages moving
//! due times (and refusing bad input without changing anything), the list's due order and
//! filters, the warnings job, the dashboard's figures and the export's columns.

use crate::both_backends_at;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use soporte::domain::user::{Role, User};
use soporte::storage::Backend;

/// A Lima wall-clock instant.
pub fn lima(y: i16, m: i8, d: i8, h: i8, min: i8) -> i64 {
    jiff::civil::date(y, m, d)
        .at(h, min, 0, 0)
        .to_zoned(jiff::tz::TimeZone::get("America/Lima").unwrap())
        .unwrap()
        .timestamp()
        .as_second()
}

/// A JSON client with a user's token.
struct Api {
    app_base: String,
    token: String,
    c: reqwest::Client,
}

impl Api {
    async fn for_user(app: &TestApp, user: &User) -> Api {
        Api {
            app_base: app.url(""),
            token: app.token_for(user).await,
            c: TestApp::client(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self
            .c
            .request(method, format!("{}{path}", self.app_base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (s, v) = self.send(reqwest::Method::GET, path, None).await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
        v
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }
}

fn due(t: &Value, target: &str) -> String {
    t["sla"][target]["due_at"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

// Fri 6 Nov 2026, 17:30 in Lima.
const FRIDAY_1730: i64 = 1_794_004_200;

async fn a_new_ticket_is_media_with_three_business_clocks(app: TestApp) {
    assert_eq!(FRIDAY_1730, lima(2026, 11, 6, 17, 30));
    let d = app.create_user(Role::Dispatcher, "Derivadora").await;
    let api = Api::for_user(&app, &d).await;
    let id = app
        .intake("ana@cliente.pe", "VPN caída", "No conecta")
        .await["id"]
        .as_i64()
        .unwrap();
    let t = api.get(&format!("/api/v1/tickets/{id}")).await;
    assert_eq!(t["priority"], "media");
    assert_eq!(t["category"], Value::Null);
    // 60 / 240 / 1800 business minutes from Friday 17:30.
    assert_eq!(due(&t, "assignment"), "2026-11-09T08:30:00-05:00");
    assert_eq!(due(&t, "first_response"), "2026-11-09T11:30:00-05:00");
    assert_eq!(due(&t, "resolution"), "2026-11-11T17:30:00-05:00");
    let a = &t["sla"]["assignment"];
    assert_eq!(a["target_minutes"], 60);
    assert_eq!(a["elapsed_business_minutes"], 0);
    assert_eq!(a["met"], Value::Null);
    assert_eq!(a["breached"], false);
    // Saturday noon: only Friday's half hour has counted.
    app.clock.set(lima(2026, 11, 7, 12, 0));
    let list = api.get("/api/v1/tickets").await;
    let item = &list["items"][0];
    assert_eq!(item["priority"], "media");
    assert_eq!(item["sla"]["assignment"]["elapsed_business_minutes"], 30);
    assert_eq!(item["sla"]["assignment"]["breached"], false);
    // Monday 10:00: the assignment is 150 minutes in (30 on Friday, 120 today), 90 past due.
    app.clock.set(lima(2026, 11, 9, 10, 0));
    let t = api.get(&format!("/api/v1/tickets/{id}")).await;
    assert_eq!(t["sla"]["assignment"]["elapsed_business_minutes"], 150);
    assert_eq!(t["sla"]["assignment"]["breached"], true);
    assert_eq!(t["sla"]["assignment"]["met"], false);
    assert_eq!(t["sla"]["first_response"]["breached"], false);
}
both_backends_at!(
    a_new_ticket_is_media_with_three_business_clocks,
    FRIDAY_1730
);

async fn classifying_takes_the_version_and_leaves_a_timeline_event(app: TestApp) {
    let admin = app.create_user(Role::Admin, "Admin").await;
    let d = app.create_user(Role::Dispatcher, "Derivadora").await;
    let tech = app.create_user(Role::Technician, "Tecnico").await;
    let other = app.create_user(Role::Technician, "Otro").await;
    let redes = app
        .services
        .create_category(&admin.actor(), "Redes")
        .await
        .unwrap();
    let api = Api::for_user(&app, &d).await;
    let id = app
        .intake("ana@cliente.pe", "VPN caída", "No conecta")
        .await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/tickets/{id}");
    let (s, t) = api
        .patch(
            &path,
            json!({"priority": "alta", "category_id": redes.id.0, "version": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["priority"], "alta");
    assert_eq!(t["category"], json!({"id": redes.id.0, "name": "Redes"}));
    assert_eq!(t["version"], 2);
    // Alta: 30 business minutes, so Friday 17:30 → 18:00; recomputed from arrival.
    assert_eq!(due(&t, "assignment"), "2026-11-06T18:00:00-05:00");
    assert_eq!(t["sla"]["assignment"]["target_minutes"], 30);
    let full = api.get(&path).await;
    let ev = full["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "classified")
        .expect("a classification event");
    assert_eq!(ev["data"]["from_priority"], "media");
    assert_eq!(ev["data"]["to_priority"], "alta");
    assert_eq!(ev["data"]["to_category"], "Redes");
    // A stale version, bad input, nothing to change: refused, nothing written.
    let (s, e) = api
        .patch(&path, json!({"priority": "baja", "version": 1}))
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    for (body, message) in [
        (
            json!({"priority": "urgente", "version": 2}),
            "La prioridad «urgente» no es válida: debe ser baja, media, alta o critica.",
        ),
        (
            json!({"category_id": 999, "version": 2}),
            "La categoría no existe.",
        ),
        (
            json!({"version": 2}),
            "Indique la prioridad o la categoría.",
        ),
        (
            json!({"priority": "alta", "version": 2}),
            "La incidencia ya tiene esa prioridad y esa categoría.",
        ),
        (json!({"priority": "baja"}), "Falta el campo «version»."),
    ] {
        let (s, e) = api.patch(&path, body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(e["error"]["message"], message, "{body}");
    }
    let now = api.get(&path).await;
    assert_eq!(
        (now["version"].as_i64(), now["priority"].as_str()),
        (Some(2), Some("alta"))
    );
    // The ticket page's form: the same rules, the message on the page, nothing written.
    let browser = app.browser_for(d.clone()).await;
    let form = format!("/tickets/{id}/classify");
    let r = browser
        .post_form(
            &form,
            &[
                ("version", "2"),
                ("priority", "urgente"),
                ("category_id", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("La prioridad «urgente» no es válida")
    );
    let r = browser
        .post_form(
            &form,
            &[("version", "1"), ("priority", "baja"), ("category_id", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = browser
        .post_form(
            &form,
            &[
                ("version", "2"),
                ("priority", "baja"),
                ("category_id", "abc"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let now = api.get(&path).await;
    assert_eq!(
        (now["version"].as_i64(), now["priority"].as_str()),
        (Some(2), Some("alta"))
    );
    // Technicians: only on the ticket they have (another's is 404); clearing the category.
    let (s, _) = api
        .post(
            &format!("{path}/assign"),
            json!({"technician_id": tech.id.0}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let tech_api = Api::for_user(&app, &tech).await;
    let other_api = Api::for_user(&app, &other).await;
    let (s, _) = other_api
        .patch(&path, json!({"priority": "critica", "version": 3}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, t) = tech_api
        .patch(
            &path,
            json!({"priority": "critica", "category_id": null, "version": 3}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["category"], Value::Null);
    assert_eq!(t["priority"], "critica");
    // A disabled category is refused.
    app.services
        .set_category_active(&admin.actor(), redes.id, false)
        .await
        .unwrap();
    let (s, e) = tech_api
        .patch(&path, json!({"category_id": redes.id.0, "version": 4}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        e["error"]["message"],
        "La categoría «Redes» está deshabilitada."
    );
}
both_backends_at!(
    classifying_takes_the_version_and_leaves_a_timeline_event,
    FRIDAY_1730
);

async fn the_calendar_policies_and_categories_read_as_the_issue_shows(app: TestApp) {
    let admin = app.create_user(Role::Admin, "Admin").await;
    let tech = app.create_user(Role::Technician, "Tecnico").await;
    app.services
        .create_category(&admin.actor(), "Impresoras")
        .await
        .unwrap();
    let api = Api::for_user(&app, &tech).await;
    let cal = api.get("/api/v1/calendar").await;
    assert_eq!(cal["time_zone"], "America/Lima");
    assert_eq!(
        cal["hours"][0],
        json!({"weekday": 1, "from": "08:00", "to": "18:00"})
    );
    assert_eq!(cal["hours"].as_array().unwrap().len(), 5);
    let holidays = cal["holidays"].as_array().unwrap();
    assert_eq!(holidays.len(), 32);
    assert!(holidays.contains(&json!({"date": "2026-07-28", "name": "Fiestas Patrias"})));
    assert!(holidays.contains(&json!({"date": "2027-03-26", "name": "Viernes Santo"})));
    let policies = api.get("/api/v1/sla/policies").await;
    assert!(policies["items"].as_array().unwrap().contains(&json!(
        {"priority": "media", "assignment": 60, "first_response": 240, "resolution": 1800}
    )));
    assert!(policies["items"].as_array().unwrap().contains(&json!(
        {"priority": "critica", "assignment": 15, "first_response": 30, "resolution": 240}
    )));
    let cats = api.get("/api/v1/categories").await;
    assert_eq!(cats["items"][0]["name"], "Impresoras");
    assert_eq!(cats["items"][0]["active"], true);
}
crate::both_backends!(the_calendar_policies_and_categories_read_as_the_issue_shows);

async fn the_admin_edits_the_calendar_and_the_due_moves(app: TestApp) {
    let admin = app.signed_in(Role::Admin, "Admin").await;
    let d = app.create_user(Role::Dispatcher, "Derivadora").await;
    let api = Api::for_user(&app, &d).await;
    let id = app
        .intake("ana@cliente.pe", "VPN caída", "No conecta")
        .await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/tickets/{id}");
    assert_eq!(
        due(&api.get(&path).await, "assignment"),
        "2026-11-09T08:30:00-05:00"
    );
    // Monday 9 November becomes a day off: the half hour left moves to Tuesday.
    let r = admin
        .post_form(
            "/admin/calendar/holidays",
            &[
                ("date", "2026-11-09"),
                ("name", "Día no laborable (decreto)"),
            ],
        )
        .await;
    assert_redirect_to(&r, "/admin/calendar");
    assert_eq!(
        due(&api.get(&path).await, "assignment"),
        "2026-11-10T08:30:00-05:00"
    );
    let (_, page) = admin.get_html("/admin/calendar").await;
    assert!(
        page.contains("1 incidencia abierta cambió de vencimiento"),
        "flash"
    );
    assert!(page.contains("Día no laborable (decreto)"));
    let holidays = app
        .count("SELECT CAST(COUNT(*) AS BIGINT) FROM sla_holidays")
        .await;
    let revision = app.count("SELECT revision FROM sla_revision").await;
    // The same day twice: a Spanish message, nothing changes.
    let r = admin
        .post_form(
            "/admin/calendar/holidays",
            &[("date", "2026-11-09"), ("name", "Otra vez")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("El 09/11/2026 ya es feriado (Día no laborable (decreto))."),
        "{html}"
    );
    // 25:00: refused, what was typed kept.
    let mut fields: Vec<(String, String)> = Vec::new();
    for day in 1..=5 {
        fields.push((format!("on_{day}"), "1".into()));
        fields.push((format!("from_{day}"), "08:00".into()));
        fields.push((
            format!("to_{day}"),
            if day == 2 { "25:00" } else { "18:00" }.into(),
        ));
    }
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = admin.post_form("/admin/calendar/hours", &borrowed).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("La hora «25:00» no es válida: escriba HH:MM entre 00:00 y 24:00 (martes)."),
        "{html}"
    );
    assert!(html.contains("value=\"25:00\""), "what was typed stays");
    // A negative target: refused.
    let mut targets: Vec<(String, String)> = Vec::new();
    for p in ["critica", "alta", "media", "baja"] {
        for t in ["assignment", "first_response", "resolution"] {
            let v = if (p, t) == ("media", "assignment") {
                "-5"
            } else {
                "100"
            };
            targets.push((format!("{p}_{t}"), v.into()));
        }
    }
    let borrowed: Vec<(&str, &str)> = targets
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = admin.post_form("/admin/sla", &borrowed).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains(
        "Media, asignación: el objetivo debe ser mayor que cero minutos (se recibió -5)."
    ));
    // Nothing changed by the three refusals.
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM sla_holidays")
            .await,
        holidays
    );
    assert_eq!(
        app.count("SELECT revision FROM sla_revision").await,
        revision
    );
    assert_eq!(
        app.count("SELECT assignment_minutes FROM sla_policies WHERE priority = 'media'")
            .await,
        60
    );
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM sla_hours WHERE to_minute = 1080")
            .await,
        5
    );
    // Working Saturdays 09:00–13:00: the ticket (arrived Friday 17:30) is due Saturday 09:30.
    let r = admin
        .post_form("/admin/calendar/holidays/delete", &[("date", "2026-11-09")])
        .await;
    assert_redirect_to(&r, "/admin/calendar");
    let mut fields: Vec<(String, String)> = Vec::new();
    for day in 1..=6 {
        fields.push((format!("on_{day}"), "1".into()));
        fields.push((
            format!("from_{day}"),
            if day == 6 { "09:00" } else { "08:00" }.into(),
        ));
        fields.push((
            format!("to_{day}"),
            if day == 6 { "13:00" } else { "18:00" }.into(),
        ));
    }
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = admin.post_form("/admin/calendar/hours", &borrowed).await;
    assert_redirect_to(&r, "/admin/calendar");
    assert_eq!(
        due(&api.get(&path).await, "assignment"),
        "2026-11-07T09:30:00-05:00"
    );
    let cal = api.get("/api/v1/calendar").await;
    assert_eq!(
        cal["hours"][5],
        json!({"weekday": 6, "from": "09:00", "to": "13:00"})
    );
    // Targets: media assignment 120 minutes.
    targets.iter_mut().for_each(|(k, v)| {
        *v = match k.as_str() {
            "media_assignment" => "120".into(),
            "media_first_response" => "240".into(),
            "media_resolution" => "1800".into(),
            _ => "300".into(),
        }
    });
    let borrowed: Vec<(&str, &str)> = targets
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = admin.post_form("/admin/sla", &borrowed).await;
    assert_redirect_to(&r, "/admin/sla");
    let t = api.get(&path).await;
    assert_eq!(t["sla"]["assignment"]["target_minutes"], 120);
    assert_eq!(due(&t, "assignment"), "2026-11-07T10:30:00-05:00");
    // Only administrators.
    let disp = app.browser_for(d.clone()).await;
    for page in ["/admin/calendar", "/admin/sla", "/admin/categories"] {
        assert_eq!(
            disp.get(page).await.status(),
            StatusCode::FORBIDDEN,
            "{page}"
        );
    }
    let r = disp
        .post_form(
            "/admin/calendar/holidays",
            &[("date", "2026-12-24"), ("name", "Nochebuena")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // And the CSRF token is required.
    let r = admin
        .client
        .post(app.url("/admin/calendar/holidays"))
        .form(&[("date", "2026-12-24"), ("name", "Nochebuena")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM sla_holidays WHERE day = '2026-12-24'")
            .await,
        0
    );
}
both_backends_at!(the_admin_edits_the_calendar_and_the_due_moves, FRIDAY_1730);

async fn categories_are_created_renamed_and_disabled_by_administrators(app: TestApp) {
    let admin = app.signed_in(Role::Admin, "Admin").await;
    let r = admin
        .post_form("/admin/categories", &[("name", "Redes")])
        .await;
    assert_redirect_to(&r, "/admin/categories");
    let r = admin
        .post_form("/admin/categories", &[("name", " REDES ")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Ya existe la categoría «REDES».")
    );
    let r = admin
        .post_form("/admin/categories", &[("name", "  ")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let id = app.count("SELECT MAX(id) FROM categories").await;
    let r = admin
        .post_form(
            &format!("/admin/categories/{id}"),
            &[("name", "Redes y Wi-Fi")],
        )
        .await;
    assert_redirect_to(&r, "/admin/categories");
    let r = admin
        .post_form(
            &format!("/admin/categories/{id}/active"),
            &[("active", "0")],
        )
        .await;
    assert_redirect_to(&r, "/admin/categories");
    let (s, html) = admin.get_html("/admin/categories").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("value=\"Redes y Wi-Fi\"") && html.contains("Deshabilitada"));
    let r = admin
        .post_form("/admin/categories/999999/active", &[("active", "1")])
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = admin
        .post_form("/admin/categories/abc", &[("name", "x")])
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.count("SELECT CAST(COUNT(*) AS BIGINT) FROM categories")
            .await,
        1
    );
}
crate::both_backends!(categories_are_created_renamed_and_disabled_by_administrators);

async fn the_list_sorts_by_due_and_filters_overdue_and_due_soon(app: TestApp) {
    assert_eq!(MONDAY_0900, lima(2026, 11, 9, 9, 0));
    let d = app.create_user(Role::Dispatcher, "Derivadora").await;
    let api = Api::for_user(&app, &d).await;
    let mut ids = Vec::new();
    for (i, p) in ["baja", "critica", "media", "alta"].iter().enumerate() {
        app.clock.set(MONDAY_0900 + i as i64 * 60);
        let id = app
            .intake("ana@cliente.pe", &format!("Caso {p}"), "x")
            .await["id"]
            .as_i64()
            .unwrap();
        if *p != "media" {
            let (s, v) = api
                .patch(
                    &format!("/api/v1/tickets/{id}"),
                    json!({"priority": p, "version": 1}),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
        ids.push(id);
    }
    // A closed one has no due and comes after the rest.
    app.clock.set(MONDAY_0900 + 300);
    let closed = app.intake("ana@cliente.pe", "Ya resuelto", "x").await["id"]
        .as_i64()
        .unwrap();
    let admin = app.create_user(Role::Admin, "Admin").await;
    app.services
        .act(
            &admin.actor(),
            soporte::domain::ids::TicketId(closed),
            None,
            soporte::service::tickets::Action::Close {
                resolution: "Listo".into(),
            },
        )
        .await
        .unwrap();
    let order = |v: &Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect()
    };
    // critica (15) 09:16, alta (30) 09:33, media (60) 10:02, baja (240) 13:00.
    let v = api.get("/api/v1/tickets?sort=due").await;
    assert_eq!(order(&v), vec![ids[1], ids[3], ids[2], ids[0], closed]);
    // Two at a time: the cursor walks the due order, then the rest.
    let mut seen = Vec::new();
    let mut url = "/api/v1/tickets?sort=due&limit=2".to_string();
    loop {
        let v = api.get(&url).await;
        seen.extend(order(&v));
        match v["next_cursor"].as_str() {
            Some(c) => url = format!("/api/v1/tickets?sort=due&limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, vec![ids[1], ids[3], ids[2], ids[0], closed]);
    // 09:28: critica is overdue; alta is past 80 % of its 30 minutes (09:25).
    app.clock.set(lima(2026, 11, 9, 9, 28));
    assert_eq!(
        order(&api.get("/api/v1/tickets?sla=vencidas").await),
        vec![ids[1]]
    );
    // The «Vencidas» count (kept between changes, PERFORMANCE.md) is exact as time goes by:
    // still one at 09:32, two once alta's due (09:33) has passed, with no write between.
    let overdue = |v: Value| -> i64 {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == "vencidas")
            .map(|i| i["count"].as_i64().unwrap())
            .unwrap()
    };
    assert_eq!(overdue(api.get("/api/v1/views").await), 1);
    app.clock.set(lima(2026, 11, 9, 9, 32));
    assert_eq!(overdue(api.get("/api/v1/views").await), 1);
    app.clock.set(lima(2026, 11, 9, 9, 34));
    assert_eq!(overdue(api.get("/api/v1/views").await), 2);
    app.clock.set(lima(2026, 11, 9, 9, 28));
    assert_eq!(overdue(api.get("/api/v1/views").await), 1);
    assert_eq!(
        order(&api.get("/api/v1/tickets?sla=por_vencer").await),
        vec![ids[3]]
    );
    let (s, e) = api
        .send(reqwest::Method::GET, "/api/v1/tickets?sla=tarde", None)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(e["error"]["message"].as_str().unwrap().contains("vencidas"));
    // The HTML list shows the same, with the badges' words.
    let browser = app.browser_for(d).await;
    let (s, html) = browser.get_html("/?sla=vencidas&sort=due").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Caso critica") && !html.contains("Caso baja"));
    // Critica arrived 09:01: due 09:16, 12 minutes ago.
    assert!(html.contains("vencida hace 12 min"), "{html}");
    let (_, html) = browser.get_html("/?sort=due").await;
    assert!(html.contains("vence en 5 min"), "alta, due 09:33");
    assert!(html.contains("Crítica"));
    // 10:10: critica, alta and media are overdue, baja (the oldest) and the closed one (the
    // newest) are not. The «Vencidas» list is newest first, a page at a time, and its
    // cursor goes on past the tickets that are not overdue.
    app.clock.set(lima(2026, 11, 9, 10, 10));
    let mut seen = Vec::new();
    let mut url = "/api/v1/tickets?sla=vencidas&limit=2".to_string();
    for _ in 0..4 {
        let v = api.get(&url).await;
        seen.extend(order(&v));
        match v["next_cursor"].as_str() {
            Some(c) => url = format!("/api/v1/tickets?sla=vencidas&limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, vec![ids[3], ids[2], ids[1]]);
    assert_eq!(
        order(&api.get("/api/v1/tickets?sla=vencidas&sort=antiguas").await),
        vec![ids[1], ids[2], ids[3]]
    );
    // A change, at the same instant: closing media takes it out of the count at once.
    assert_eq!(overdue(api.get("/api/v1/views").await), 3);
    app.services
        .act(
            &admin.actor(),
            soporte::domain::ids::TicketId(ids[2]),
            None,
            soporte::service::tickets::Action::Close {
                resolution: "Listo".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(overdue(api.get("/api/v1/views").await), 2);
}
both_backends_at!(
    the_list_sorts_by_due_and_filters_overdue_and_due_soon,
    MONDAY_0900
);

async fn warnings_and_breaches_go_once_inside_working_hours(app: TestApp) {
    let d1 = app.create_user(Role::Dispatcher, "Paty").await;
    let _d2 = app.create_user(Role::Dispatcher, "Raul").await;
    let tech = app.create_user(Role::Technician, "Tito").await;
    let id = app.intake("ana@cliente.pe", "Sin red", "x").await["id"]
        .as_i64()
        .unwrap();
    let notices = |kind: &'static str| {
        let app = &app;
        async move {
            app.count(&format!(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM mail_outbox WHERE kind = '{kind}'"
            ))
            .await
        }
    };
    let events = |kind: &'static str| {
        let app = &app;
        async move {
            app.count(&format!(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM ticket_events WHERE kind = '{kind}'"
            ))
            .await
        }
    };
    // 09:47: before 80 % of the assignment's 60 minutes (09:48): nothing.
    app.clock.set(lima(2026, 11, 9, 9, 47));
    let r = app.services.sla_round("t1", true).await.unwrap();
    assert_eq!((r.warnings, r.breaches), (0, 0));
    // 09:50: the warning, to both dispatchers (nobody has the ticket); once.
    app.clock.set(lima(2026, 11, 9, 9, 50));
    let r = app.services.sla_round("t1", false).await.unwrap();
    assert_eq!((r.warnings, r.breaches), (1, 0));
    assert_eq!(notices("sla_warning").await, 2);
    assert_eq!(events("sla_warning").await, 1);
    let r = app.services.sla_round("t1", false).await.unwrap();
    assert_eq!((r.warnings, r.breaches), (0, 0));
    assert_eq!(notices("sla_warning").await, 2);
    // Another instance does nothing while the lease is held.
    assert!(app.services.sla_round("t2", false).await.unwrap().skipped);
    // 10:01: the breach, to the dispatchers.
    app.clock.set(lima(2026, 11, 9, 10, 1));
    let r = app.services.sla_round("t1", false).await.unwrap();
    assert_eq!((r.warnings, r.breaches), (0, 1));
    assert_eq!(notices("sla_breach").await, 2);
    let recipients = sqlx::query_scalar::<_, String>(
        "SELECT recipient FROM mail_outbox WHERE kind = 'sla_breach' ORDER BY recipient",
    )
    .fetch_all(app.store.pool())
    .await
    .unwrap();
    assert!(recipients.contains(&d1.email.to_lowercase()));
    // Assigned at 10:05: the first response (240 min) is due at 13:00, its warning at 12:12.
    app.clock.set(lima(2026, 11, 9, 10, 5));
    app.services
        .act(
            &d1.actor(),
            soporte::domain::ids::TicketId(id),
            None,
            soporte::service::tickets::Action::Assign {
                technician: tech.id,
            },
        )
        .await
        .unwrap();
    app.clock.set(lima(2026, 11, 9, 12, 0));
    let r = app.services.sla_round("t1", false).await.unwrap();
    assert_eq!((r.warnings, r.breaches), (0, 0));
    // Nobody looks at 23:59 (outside working hours); at Tuesday's opening the first response
    // is past its due: the breach alone goes (the warning is moot), once.
    app.clock.set(lima(2026, 11, 9, 23, 59));
    assert!(app.services.sla_round("t1", false).await.unwrap().closed);
    assert_eq!(notices("sla_breach").await, 2);
    app.clock.set(lima(2026, 11, 10, 8, 1));
    let r = app.services.sla_round("t1", false).await.unwrap();
    assert_eq!((r.warnings, r.breaches), (0, 1));
    assert_eq!(notices("sla_breach").await, 4);
    assert_eq!(events("sla_breach").await, 2);
    // The resolution (1800 min) reaches 80 % after 24 business hours: Wednesday 13:00. A
    // holiday on Wednesday moves it to Thursday, and nothing is sent on the holiday.
    let admin = app.create_user(Role::Admin, "Admin").await;
    app.services
        .add_holiday(&admin.actor(), "2026-11-11", "Día de la empresa")
        .await
        .unwrap();
    app.clock.set(lima(2026, 11, 11, 13, 5));
    assert!(app.services.sla_round("t1", false).await.unwrap().closed);
    app.clock.set(lima(2026, 11, 12, 12, 55));
    assert_eq!(
        app.services.sla_round("t1", false).await.unwrap().warnings,
        0
    );
    app.clock.set(lima(2026, 11, 12, 13, 5));
    let r = app.services.sla_round("t1", false).await.unwrap();
    assert_eq!((r.warnings, r.breaches), (1, 0));
    // While the ticket has a technician, the warning is theirs alone.
    let to = sqlx::query_scalar::<_, String>(
        "SELECT recipient FROM mail_outbox WHERE kind = 'sla_warning' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!(to, tech.email.to_lowercase());
    assert_eq!(notices("sla_warning").await, 3);
    let row = app
        .count(&format!(
            "SELECT sla_notify_at FROM tickets WHERE id = {id}"
        ))
        .await;
    // 30 business hours: Monday 9, Tuesday 10, Thursday 10, Friday 1.
    assert_eq!(
        row,
        lima(2026, 11, 13, 9, 0),
        "next: the resolution's due, Friday 09:00"
    );
    // Warnings never bump the version: a form opened before still works.
    let t = app
        .services
        .ticket(&d1.actor(), soporte::domain::ids::TicketId(id))
        .await
        .unwrap()
        .0;
    assert_eq!(t.version, 2);
}
both_backends_at!(
    warnings_and_breaches_go_once_inside_working_hours,
    MONDAY_0900
);

async fn the_dashboard_and_export_report_met_and_missed(app: TestApp) {
    let admin = app.create_user(Role::Admin, "Admin").await;
    let d = app.create_user(Role::Dispatcher, "Derivadora").await;
    let tech = app.create_user(Role::Technician, "Tecnico").await;
    let redes = app
        .services
        .create_category(&admin.actor(), "Redes")
        .await
        .unwrap();
    let act = |who: User, id: i64, action: soporte::service::tickets::Action| {
        let app = &app;
        async move {
            app.services
                .act(
                    &who.actor(),
                    soporte::domain::ids::TicketId(id),
                    None,
                    action,
                )
                .await
                .unwrap()
        }
    };
    use soporte::service::tickets::Action;
    // One in time: assigned at 09:30, answered 10:00, closed 11:00.
    let a = app.intake("ana@cliente.pe", "A tiempo", "x").await["id"]
        .as_i64()
        .unwrap();
    act(
        d.clone(),
        a,
        Action::Classify {
            priority: None,
            category: Some(Some(redes.id)),
        },
    )
    .await;
    app.clock.set(lima(2026, 11, 9, 9, 30));
    act(
        d.clone(),
        a,
        Action::Assign {
            technician: tech.id,
        },
    )
    .await;
    app.clock.set(lima(2026, 11, 9, 10, 0));
    act(
        tech.clone(),
        a,
        Action::Comment {
            body: "Reviso".into(),
        },
    )
    .await;
    app.clock.set(lima(2026, 11, 9, 11, 0));
    act(
        tech.clone(),
        a,
        Action::Close {
            resolution: "Listo".into(),
        },
    )
    .await;
    // One late to assign: arrived 11:00, assigned 12:30 (due 12:00), closed 13:00.
    let b = app.intake("luis@cliente.pe", "Tarde", "x").await["id"]
        .as_i64()
        .unwrap();
    app.clock.set(lima(2026, 11, 9, 12, 30));
    act(
        d.clone(),
        b,
        Action::Assign {
            technician: tech.id,
        },
    )
    .await;
    app.clock.set(lima(2026, 11, 9, 13, 0));
    act(tech.clone(), b, Action::Comment { body: "Voy".into() }).await;
    act(
        tech.clone(),
        b,
        Action::Close {
            resolution: "Listo".into(),
        },
    )
    .await;
    let api = Api::for_user(&app, &d).await;
    let dash = api
        .get("/api/v1/dashboard?from=2026-11-01&to=2026-11-30")
        .await;
    let sla = &dash["sla"];
    assert_eq!(
        sla["assignment"],
        json!({"met": 1, "breached": 1, "pct_met": 50.0})
    );
    assert_eq!(
        sla["first_response"],
        json!({"met": 2, "breached": 0, "pct_met": 100.0})
    );
    assert_eq!(sla["resolution"]["met"], 2);
    let by_cat = sla["by_category"].as_array().unwrap();
    assert!(
        by_cat
            .iter()
            .any(|c| c["category"] == "Redes" && c["assignment"]["met"] == 1)
    );
    // Both were "media": that priority carries both, the others nothing.
    for p in sla["by_priority"].as_array().unwrap() {
        let counted = p["assignment"]["met"].as_i64().unwrap()
            + p["assignment"]["breached"].as_i64().unwrap();
        if p["priority"] == "media" {
            assert_eq!(
                p["assignment"],
                json!({"met": 1, "breached": 1, "pct_met": 50.0})
            );
        } else {
            assert_eq!(counted, 0, "{p}");
        }
    }
    assert!(
        sla["by_priority"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["priority"] == "media")
    );
    let by_tech = sla["by_technician"].as_array().unwrap();
    assert_eq!(by_tech[0]["technician"]["id"], tech.id.0);
    assert_eq!(sla["breached_more"], false);
    assert_eq!(sla["breached_tickets"].as_array().unwrap().len(), 1);
    assert_eq!(sla["breached_tickets"][0]["id"], b);
    // The technician's own dashboard counts their tickets only (both are theirs).
    let own = Api::for_user(&app, &tech).await;
    let mine = own
        .get("/api/v1/dashboard?from=2026-11-01&to=2026-11-30")
        .await;
    assert_eq!(mine["sla"]["assignment"]["met"], 1);
    // The HTML dashboard shows the section.
    let browser = app.browser_for(d.clone()).await;
    let (_, html) = browser
        .get_html("/dashboard?from=2026-11-01&to=2026-11-30")
        .await;
    assert!(
        html.contains("SLA en el periodo") && html.contains("1 de 2 (50,0 %)"),
        "{html}"
    );
    // A reopen takes the close back: the resolution counts once, at the last close.
    app.clock.set(lima(2026, 11, 9, 14, 0));
    act(
        d.clone(),
        a,
        Action::Reopen {
            reason: "Volvió".into(),
        },
    )
    .await;
    let dash = api
        .get("/api/v1/dashboard?from=2026-11-01&to=2026-11-30")
        .await;
    assert_eq!(dash["sla"]["resolution"]["met"], 1);
    app.clock.set(lima(2026, 11, 9, 15, 0));
    act(
        tech.clone(),
        a,
        Action::Close {
            resolution: "Ahora sí".into(),
        },
    )
    .await;
    let dash = api
        .get("/api/v1/dashboard?from=2026-11-01&to=2026-11-30")
        .await;
    assert_eq!(dash["sla"]["resolution"]["met"], 2);
    // The export's new columns.
    let csv = browser
        .get("/export/closed.csv")
        .await
        .text()
        .await
        .unwrap();
    let mut lines = csv.lines();
    let head = lines.next().unwrap();
    for col in [
        "Prioridad",
        "Categoría",
        "Vencimiento asignación",
        "Asignación cumplida",
        "Minutos hábiles hasta asignar",
        "Resolución cumplida",
    ] {
        assert!(head.contains(col), "{head}");
    }
    let row_a = lines
        .clone()
        .find(|l| l.contains(&format!("INC-{a:06}")))
        .unwrap();
    assert!(
        row_a.contains(",Media,Redes,09/11/2026 10:00,Sí,30,"),
        "{row_a}"
    );
    let row_b = lines.find(|l| l.contains(&format!("INC-{b:06}"))).unwrap();
    assert!(row_b.contains(",Media,,09/11/2026 12:00,No,90,"), "{row_b}");
}
both_backends_at!(the_dashboard_and_export_report_met_and_missed, MONDAY_0900);

#[tokio::test]
async fn the_shipped_holidays_are_the_migrations() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn(backend).await else {
            continue;
        };
        let stored = sqlx::query_as::<_, (String, String)>(
            "SELECT day, name FROM sla_holidays ORDER BY day",
        )
        .fetch_all(app.store.pool())
        .await
        .unwrap();
        let shipped: Vec<(String, String)> = soporte::domain::sla::peru_holidays()
            .into_iter()
            .map(|h| (h.date.to_string(), h.name))
            .collect();
        assert_eq!(stored, shipped, "{backend:?}");
    }
}

async fn closed_tickets_keep_their_clocks_until_sla_recompute(app: TestApp) {
    use soporte::domain::ids::TicketId;
    use soporte::service::tickets::Action;
    let admin = app.create_user(Role::Admin, "Admin").await;
    let closed = app.intake("ana@cliente.pe", "Cerrada", "x").await["id"]
        .as_i64()
        .unwrap();
    let open = app.intake("luis@cliente.pe", "Abierta", "x").await["id"]
        .as_i64()
        .unwrap();
    app.clock.set(lima(2026, 11, 9, 9, 30));
    app.services
        .act(
            &admin.actor(),
            TicketId(closed),
            None,
            Action::Close {
                resolution: "Listo".into(),
            },
        )
        .await
        .unwrap();
    let target = |id: i64| {
        let app = &app;
        async move {
            app.count(&format!(
                "SELECT assignment_target FROM tickets WHERE id = {id}"
            ))
            .await
        }
    };
    let mut policies: Vec<_> = soporte::domain::classification::Priority::ALL
        .iter()
        .map(|p| (*p, soporte::domain::sla::default_targets(*p)))
        .collect();
    for (p, t) in policies.iter_mut() {
        if *p == soporte::domain::classification::Priority::Media {
            t[0] = 20;
        }
    }
    let moved = app
        .services
        .save_policies(&admin.actor(), policies)
        .await
        .unwrap();
    assert_eq!(moved, 1, "the open ticket only");
    assert_eq!((target(closed).await, target(open).await), (60, 20));
    let api = Api::for_user(&app, &admin).await;
    let dash = api
        .get("/api/v1/dashboard?from=2026-11-01&to=2026-11-30")
        .await;
    assert_eq!(
        dash["sla"]["assignment"],
        json!({"met": 1, "breached": 0, "pct_met": 100.0})
    );
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_soporte"))
            .args(args)
            .env("DATABASE_URL", &app.database_url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, text) = run(&["sla", "recompute", "--since", "2027-01-01"]);
    assert!(ok && text.contains("0 incidencias cambiaron"), "{text}");
    assert_eq!(target(closed).await, 60);
    let (ok, text) = run(&["sla", "recompute", "--since", "2026-11-01"]);
    assert!(ok && text.contains("1 incidencia cambió"), "{text}");
    assert_eq!(target(closed).await, 20);
    // Closed at 09:30 against a 20-minute target: missed now, and the figures moved with it.
    let dash = api
        .get("/api/v1/dashboard?from=2026-11-01&to=2026-11-30")
        .await;
    assert_eq!(
        dash["sla"]["assignment"],
        json!({"met": 0, "breached": 1, "pct_met": 0.0})
    );
    // A day off far ahead moves nobody's clocks: nothing counts as changed, and a replay of
    // everything changes nothing either (the closed tickets keep their revision).
    let moved = app
        .services
        .add_holiday(&admin.actor(), "2027-12-31", "Fin de año")
        .await
        .unwrap();
    assert_eq!(moved, 0);
    let (ok, text) = run(&["sla", "recompute"]);
    assert!(ok && text.contains("0 incidencias cambiaron"), "{text}");
    let (ok, text) = run(&["sla", "recompute", "--since", "ayer"]);
    assert!(!ok && text.contains("no es una fecha"), "{text}");
}
both_backends_at!(
    closed_tickets_keep_their_clocks_until_sla_recompute,
    MONDAY_0900
);

async fn another_instance_follows_a_calendar_change_within_seconds(app: TestApp) {
    let other = TestApp::spawn_on_url(
        app.backend,
        &app.database_url,
        soporte::config::ServeArgs::default(),
    )
    .await;
    let d = app.create_user(Role::Dispatcher, "Derivadora").await;
    let api = Api::for_user(&app, &d).await;
    // The other instance has read (and cached) the calendar with a ticket of its own.
    let first = other.intake("ana@cliente.pe", "Antes", "x").await["id"]
        .as_i64()
        .unwrap();
    let admin = app.create_user(Role::Admin, "Admin").await;
    app.services
        .add_holiday(&admin.actor(), "2026-12-24", "Nochebuena (empresa)")
        .await
        .unwrap();
    // Within its recheck (2 s) it sees the new revision and computes with the new calendar.
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    let second = other.intake("luis@cliente.pe", "Después", "x").await["id"]
        .as_i64()
        .unwrap();
    let rev = |id: i64| {
        let app = &app;
        async move {
            app.count(&format!("SELECT sla_revision FROM tickets WHERE id = {id}"))
                .await
        }
    };
    let current = app.count("SELECT revision FROM sla_revision").await;
    assert_eq!(rev(second).await, current);
    assert_eq!(
        rev(first).await,
        current,
        "the open ticket was recomputed at once"
    );
    let t = api.get(&format!("/api/v1/tickets/{second}")).await;
    assert_eq!(t["sla"]["assignment"]["target_minutes"], 60);
}
crate::both_backends!(another_instance_follows_a_calendar_change_within_seconds);

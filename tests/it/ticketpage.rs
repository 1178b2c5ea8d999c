//! Issue 15, the ticket page and the administrator's half: no lost work on conflicts
//! (POST/redirect/GET, a comment never conflicts, a real conflict says what changed and keeps
//! the draft, no browser 405 page, the one-time password shown once), locks seen and lifted,
//! confirmation steps, "Siguiente sin asignar", the timeline's spans, the support address,
//! the dashboard's status chart, error pages with the menu.

use crate::both_backends;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use soporte::config::ServeArgs;
use soporte::domain::user::Role;
use soporte::storage::Backend;

/// 2026-11-29 15:27:00 UTC: 10:27 in Lima.
const T0: i64 = 1_795_966_020;

/// Runs one scenario on both backends with the clock the test sets, from `T0`.
macro_rules! both_at_t0 {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::helpers::TestApp::spawn_at(
                    soporte::storage::Backend::Sqlite,
                    super::T0,
                )
                .await
                .expect("sqlite app");
                super::$scenario(app).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::helpers::TestApp::spawn_at(
                    soporte::storage::Backend::Postgres,
                    super::T0,
                )
                .await
                {
                    super::$scenario(app).await;
                }
            }
        }
    };
}

/// The value of the first hidden input named `name` in the page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).map(|i| i + marker.len()).unwrap_or(0);
    let end = html[start..].find('"').map(|i| i + start).unwrap_or(start);
    html[start..end].to_string()
}

/// A new ticket from the mailbox, assigned to `tech` by `by` through the API; its id.
async fn assigned_ticket(app: &TestApp, by: &Browser, tech: &Browser, subject: &str) -> i64 {
    let id = app.intake("maria@cliente.pe", subject, "No funciona").await["id"]
        .as_i64()
        .unwrap();
    let (s, v) = by
        .post_json(
            &format!("/api/v1/tickets/{id}/assign"),
            json!({"technician_id": tech.user.id.0}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    id
}

async fn a_comment_never_conflicts_and_a_real_conflict_says_what_changed(app: TestApp) {
    let carlos = app.signed_in(Role::Admin, "Carlos Ruiz").await;
    let tech = app.signed_in(Role::Technician, "Ana Túpac").await;
    let id = assigned_ticket(&app, &carlos, &tech, "Impresora atascada").await;
    let page = format!("/tickets/{id}");

    // The technician opens the page; meanwhile Carlos writes a note.
    let (_, html) = tech.get_html(&page).await;
    let (version, seen) = (hidden(&html, "version"), hidden(&html, "seen"));
    assert!(
        !seen.is_empty() && seen.parse::<i64>().is_ok(),
        "forms carry the last event shown"
    );
    let (s, _) = carlos
        .post_json(
            &format!("/api/v1/tickets/{id}/comments"),
            json!({"body": "El proveedor llega a las 3"}),
        )
        .await;
    assert!(s.is_success());
    // Her note, sent from the page opened before, goes in: a note never conflicts.
    let r = tech
        .post_form(
            &format!("{page}/comment"),
            &[
                ("body", "Revisé el rodillo"),
                ("version", &version),
                ("seen", &seen),
            ],
        )
        .await;
    assert_redirect_to(&r, &page);
    let (_, html) = tech.get_html(&page).await;
    assert!(html.contains("Revisé el rodillo") && html.contains("El proveedor llega a las 3"));
    // A reply from a stale page goes in too.
    let r = tech
        .post_form(
            &format!("{page}/reply"),
            &[
                ("body", "Ya vamos para allá"),
                ("version", &version),
                ("seen", &seen),
            ],
        )
        .await;
    assert_redirect_to(&r, &page);

    // Now she opens the page again, types a resolution, and Carlos closes it first.
    let (_, html) = tech.get_html(&page).await;
    let (version, seen) = (hidden(&html, "version"), hidden(&html, "seen"));
    let (s, v) = carlos
        .post_json(
            &format!("/api/v1/tickets/{id}/close"),
            json!({"resolution": "Se cambió el tóner"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let events_before = app.count("SELECT COUNT(*) FROM ticket_events").await;
    let r = tech
        .post_form(
            &format!("{page}/close"),
            &[
                ("resolution", "Reinicié la cola de impresión"),
                ("version", &version),
                ("seen", &seen),
                ("confirm", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Mientras escribía, Carlos Ruiz cerró la incidencia."),
        "the sentence names who did what"
    );
    assert!(html.contains("su texto se conservó"));
    // The current ticket, with her draft kept (its form is gone: the ticket is closed).
    assert!(html.contains("Se cambió el tóner") && html.contains("Cerrado"));
    assert!(
        html.contains(">Reinicié la cola de impresión</textarea>"),
        "the draft is kept"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ticket_events").await,
        events_before,
        "nothing was written"
    );
    // A note on the ticket closed meanwhile: refused, explained, the text kept.
    let r = tech
        .post_form(
            &format!("{page}/comment"),
            &[
                ("body", "Dejé una nota tarde"),
                ("version", &version),
                ("seen", &seen),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(html.contains("Mientras escribía, Carlos Ruiz cerró la incidencia."));
    assert!(html.contains(">Dejé una nota tarde</textarea>"));
}
both_backends!(a_comment_never_conflicts_and_a_real_conflict_says_what_changed);

async fn a_stale_reassignment_keeps_the_reason_and_says_who_reassigned(app: TestApp) {
    let carlos = app.signed_in(Role::Dispatcher, "Carlos Ruiz").await;
    let other = app.signed_in(Role::Dispatcher, "Rosa Lima").await;
    let ana = app.signed_in(Role::Technician, "Ana Túpac").await;
    let luis = app.create_user(Role::Technician, "Luis Rojas").await;
    let id = assigned_ticket(&app, &carlos, &ana, "VPN").await;
    let page = format!("/tickets/{id}");
    let (_, html) = other.get_html(&page).await;
    let (version, seen) = (hidden(&html, "version"), hidden(&html, "seen"));
    let (s, _) = carlos
        .post_json(
            &format!("/api/v1/tickets/{id}/reassign"),
            json!({"technician_id": luis.id.0, "reason": "Luis conoce la VPN"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let r = other
        .post_form(
            &format!("{page}/reassign"),
            &[
                ("technician_id", &ana.user.id.to_string()),
                ("reason", "Ana está libre"),
                ("version", &version),
                ("seen", &seen),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(html.contains("Mientras escribía, Carlos Ruiz reasignó la incidencia a Luis Rojas."));
    assert!(
        html.contains("value=\"Ana está libre\""),
        "the reason stays in its field"
    );
    // The form now carries the current version: sending again works.
    let r = other
        .post_form(
            &format!("{page}/reassign"),
            &[
                ("technician_id", &ana.user.id.to_string()),
                ("reason", "Ana está libre"),
                ("version", &hidden(&html, "version")),
                ("seen", &hidden(&html, "seen")),
            ],
        )
        .await;
    assert_redirect_to(&r, &page);
}
both_backends!(a_stale_reassignment_keeps_the_reason_and_says_who_reassigned);

async fn a_get_of_a_form_address_never_shows_a_browser_error(app: TestApp) {
    let admin = app.signed_in(Role::Admin, "Admin Uno").await;
    let tech = app.signed_in(Role::Technician, "Ana Túpac").await;
    let id = assigned_ticket(&app, &admin, &tech, "Correo").await;
    for (path, home) in [
        (format!("/tickets/{id}/comment"), format!("/tickets/{id}")),
        (format!("/tickets/{id}/reply"), format!("/tickets/{id}")),
        (format!("/tickets/{id}/close"), format!("/tickets/{id}")),
        (format!("/tickets/{id}/assign"), format!("/tickets/{id}")),
        (
            format!("/admin/credentials/{}/reset", tech.user.id),
            "/admin/credentials".to_string(),
        ),
        (
            format!("/admin/credentials/{}/role", tech.user.id),
            "/admin/credentials".to_string(),
        ),
        (
            format!("/admin/technicians/{}/unlock", tech.user.id),
            "/admin/technicians".to_string(),
        ),
        (
            "/admin/calendar/hours".to_string(),
            "/admin/calendar".to_string(),
        ),
        ("/account/2fa/setup".to_string(), "/account/2fa".to_string()),
    ] {
        let r = admin.get(&path).await;
        assert_redirect_to(&r, &home);
        let (s, _) = admin.get_html(&home).await;
        assert_eq!(s, StatusCode::OK, "{home} is a page");
    }
    // Another method on a form's address: a Spanish page with the person's menu.
    let r = admin
        .client
        .put(app.url(&format!("/tickets/{id}/comment")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let html = r.text().await.unwrap();
    assert!(html.contains("Esta dirección solo recibe formularios"));
    assert!(html.contains("aria-label=\"Secciones\"") && html.contains("Admin Uno"));
    // The API answers in JSON.
    let r = admin.get(&format!("/api/v1/tickets/{id}/assign")).await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "method_not_allowed");
    // Error pages keep the menu of whoever is signed in, and show none to anyone else.
    let (s, html) = tech.get_html("/tickets/99999999").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(html.contains("aria-label=\"Secciones\"") && html.contains("Ana Túpac"));
    assert!(!html.contains("/admin/technicians"), "a technician's menu");
    let (s, html) = tech.get_html("/admin/technicians").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(html.contains("aria-label=\"Secciones\""));
    let r = TestApp::client()
        .get(app.url("/no-existe"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(!r.text().await.unwrap().contains("aria-label=\"Secciones\""));
}
both_backends!(a_get_of_a_form_address_never_shows_a_browser_error);

async fn the_one_time_password_is_shown_once_after_a_redirect(app: TestApp) {
    let admin = app.signed_in(Role::Admin, "Admin Uno").await;
    let r = admin
        .post_form(
            "/admin/technicians",
            &[("name", "Lucía Ramos"), ("email", "lucia@miempresa.com")],
        )
        .await;
    assert_redirect_to(&r, "/admin/technicians");
    let (_, html) = admin.get_html("/admin/technicians").await;
    assert!(html.contains("Contraseña inicial de lucia@miempresa.com"));
    assert!(html.contains("Se creó la cuenta de técnico de Lucía Ramos."));
    let start = html.find("class=\"secret\">").unwrap() + "class=\"secret\">".len();
    let password = html[start..start + 16].to_string();
    // A refresh shows the list, not the password again.
    let (_, again) = admin.get_html("/admin/technicians").await;
    assert!(!again.contains("Contraseña inicial de") && !again.contains(&password));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE issued IS NOT NULL")
            .await,
        0,
        "nothing kept once shown"
    );
    let r = app
        .sign_in(
            &TestApp::client(),
            "/login",
            "lucia@miempresa.com",
            &password,
        )
        .await;
    assert_redirect_to(&r, "/account/password");

    // A reset: the same, on Credenciales.
    let lucia = app
        .services
        .user_by_email("lucia@miempresa.com")
        .await
        .unwrap();
    let r = admin
        .post_form(
            &format!("/admin/credentials/{}/reset", lucia.id),
            &[("password", "")],
        )
        .await;
    assert_redirect_to(&r, "/admin/credentials");
    let (_, html) = admin.get_html("/admin/credentials").await;
    assert!(html.contains("Contraseña inicial de lucia@miempresa.com"));
    let (_, again) = admin.get_html("/admin/credentials").await;
    assert!(!again.contains("Contraseña inicial de"));
    // A typed password is not shown at all.
    let r = admin
        .post_form(
            "/admin/credentials",
            &[
                ("name", "Diego Paz"),
                ("email", "diego@miempresa.com"),
                ("role", "dispatcher"),
                ("password", "inicial-12345"),
            ],
        )
        .await;
    assert_redirect_to(&r, "/admin/credentials");
    let (_, html) = admin.get_html("/admin/credentials").await;
    assert!(html.contains("Credencial creada para diego@miempresa.com"));
    assert!(!html.contains("Contraseña inicial de"));
}
both_backends!(the_one_time_password_is_shown_once_after_a_redirect);

/// Five wrong passwords lock the account for 15 minutes.
async fn lock_out(app: &TestApp, email: &str) {
    let c = TestApp::client();
    for _ in 0..5 {
        app.sign_in(&c, "/login", email, "equivocada-123").await;
    }
    let r = app.sign_in(&c, "/login", email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "locked");
}

async fn the_administrator_sees_and_lifts_a_lock(app: TestApp) {
    let admin = app.signed_in(Role::Admin, "Carlos Ruiz").await;
    let ana = app.create_user(Role::Technician, "Ana Túpac").await;
    let diego = app.create_user(Role::Dispatcher, "Diego Paz").await;
    lock_out(&app, &ana.email).await;
    lock_out(&app, &diego.email).await;

    // Locked at 10:27 Lima for 15 minutes: until 10:42, on both pages.
    let (_, html) = admin.get_html("/admin/technicians").await;
    assert!(
        html.contains("Bloqueada hasta 10:42"),
        "Técnicos shows the lock"
    );
    assert!(html.contains(&format!("action=\"/admin/technicians/{}/unlock\"", ana.id)));
    let (_, html) = admin.get_html("/admin/credentials").await;
    assert_eq!(
        html.matches("Bloqueada hasta 10:42").count(),
        2,
        "Credenciales too"
    );

    // Only an administrator may lift it, and only with the form's token.
    let dispatcher = app.signed_in(Role::Dispatcher, "Otro Derivador").await;
    let r = dispatcher
        .post_form(&format!("/admin/technicians/{}/unlock", ana.id), &[])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = admin
        .client
        .post(app.url(&format!("/admin/technicians/{}/unlock", ana.id)))
        .form(&[("csrf_token", "falso")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM account_events").await,
        0,
        "nothing lifted"
    );

    let r = admin
        .post_form(&format!("/admin/technicians/{}/unlock", ana.id), &[])
        .await;
    assert_redirect_to(&r, "/admin/technicians");
    let (_, html) = admin.get_html("/admin/technicians").await;
    assert!(html.contains("Se desbloqueó la cuenta de Ana Túpac"));
    assert!(!html.contains("Bloqueada hasta"));
    let r = app
        .sign_in(&TestApp::client(), "/login", &ana.email, PASSWORD)
        .await;
    assert_redirect_to(&r, "/");
    // Recorded in her account's history, with who lifted it.
    let (_, html) = admin
        .get_html(&format!("/admin/technicians/{}", ana.id))
        .await;
    let at = html.find("Historial de la cuenta").unwrap_or(0);
    assert!(
        html.contains(
            "Se levantó el bloqueo de ingreso · Carlos Ruiz · <time>29/11/2026 10:27</time>"
        ),
        "{}",
        &html[at..]
    );

    // A password reset lifts Diego's lock, and both are recorded.
    let r = admin
        .post_form(
            &format!("/admin/credentials/{}/reset", diego.id),
            &[("password", "nueva-clave-2026")],
        )
        .await;
    assert_redirect_to(&r, "/admin/credentials");
    let (_, html) = admin.get_html("/admin/credentials").await;
    assert!(!html.contains("Bloqueada hasta"));
    let r = app
        .sign_in(
            &TestApp::client(),
            "/login",
            &diego.email,
            "nueva-clave-2026",
        )
        .await;
    assert_redirect_to(&r, "/account/password");
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM account_events WHERE user_id = $1 ORDER BY id")
            .bind(diego.id.0)
            .fetch_all(app.store.pool())
            .await
            .unwrap();
    assert_eq!(kinds, ["password_reset", "unlocked"]);
    let (_, html) = admin.get_html("/admin/credentials").await;
    assert!(
        html.contains("Se restableció la contraseña · Carlos Ruiz")
            && html.contains("Se levantó el bloqueo de ingreso · Carlos Ruiz"),
        "Credenciales shows the latest changes of each account"
    );

    // The lock runs out by itself after 15 minutes: the badge goes with it.
    lock_out(&app, &ana.email).await;
    app.clock.advance(15 * 60 + 1);
    let (_, html) = admin.get_html("/admin/technicians").await;
    assert!(!html.contains("Bloqueada hasta"));
}
both_at_t0!(the_administrator_sees_and_lifts_a_lock);

async fn disabling_a_technician_asks_first_with_their_open_tickets(app: TestApp) {
    let admin = app.signed_in(Role::Admin, "Carlos Ruiz").await;
    let ana = app.signed_in(Role::Technician, "Ana Túpac").await;
    for n in 0..4 {
        assigned_ticket(&app, &admin, &ana, &format!("Caso {n}")).await;
    }
    let path = format!("/admin/technicians/{}/active", ana.user.id);
    // The list's button is a link to the confirmation page.
    let (_, html) = admin.get_html("/admin/technicians").await;
    assert!(html.contains(&format!("href=\"{path}\"")));
    let (s, html) = admin.get_html(&path).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("¿Deshabilitar la cuenta de Ana Túpac?"));
    assert!(html.contains("Sus 4 incidencias abiertas volverán a la cola."));
    // A post without the confirmation shows the same page and changes nothing.
    let r = admin.post_form(&path, &[("active", "0")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Sí, deshabilitar la cuenta")
    );
    assert!(app.services.user(ana.user.id).await.unwrap().active);
    assert_eq!(
        app.services.open_ticket_count(ana.user.id).await.unwrap(),
        4
    );
    // Confirmed: disabled, tickets back in the queue, a message that needs no gender.
    let r = admin
        .post_form(&path, &[("active", "0"), ("confirm", "1")])
        .await;
    assert_redirect_to(&r, "/admin/technicians");
    let (_, html) = admin.get_html("/admin/technicians").await;
    assert!(html.contains(
        "Se deshabilitó la cuenta de Ana Túpac: sus sesiones terminaron. Sus 4 incidencias abiertas volvieron a la cola."
    ));
    assert!(!app.services.user(ana.user.id).await.unwrap().active);
    assert_eq!(
        app.services.open_ticket_count(ana.user.id).await.unwrap(),
        0
    );
    // A disabled account's confirmation address leads back to the list.
    assert_redirect_to(&admin.get(&path).await, "/admin/technicians");
    // Credenciales asks the same.
    let diego = app.create_user(Role::Dispatcher, "Diego Paz").await;
    let (_, html) = admin
        .get_html(&format!("/admin/credentials/{}/active", diego.id))
        .await;
    assert!(
        html.contains("¿Deshabilitar la cuenta de Diego Paz?")
            && html.contains("No tiene incidencias abiertas.")
    );
    let r = admin
        .post_form(
            &format!("/admin/credentials/{}/active", diego.id),
            &[("active", "1")],
        )
        .await;
    assert_redirect_to(&r, "/admin/credentials");
    let (_, html) = admin.get_html("/admin/credentials").await;
    assert!(html.contains("Se habilitó la cuenta de Diego Paz."));
}
both_backends!(disabling_a_technician_asks_first_with_their_open_tickets);

async fn closing_asks_to_confirm_without_script(app: TestApp) {
    let admin = app.signed_in(Role::Admin, "Carlos Ruiz").await;
    let ana = app.signed_in(Role::Technician, "Ana Túpac").await;
    let id = assigned_ticket(&app, &admin, &ana, "Monitor").await;
    let page = format!("/tickets/{id}");
    let (_, html) = ana.get_html(&page).await;
    let (version, seen) = (hidden(&html, "version"), hidden(&html, "seen"));
    let fields = |confirm: &'static str| {
        vec![
            ("resolution", "Se cambió el cable HDMI".to_string()),
            ("version", version.clone()),
            ("seen", seen.clone()),
            ("confirm", confirm.to_string()),
        ]
    };
    let post = |confirm: &'static str| {
        let f = fields(confirm);
        let ana = &ana;
        let page = &page;
        async move {
            let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            ana.post_form(&format!("{page}/close"), &refs).await
        }
    };
    let r = post("").await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("¿Cerrar INC-") && html.contains("Se cambió el cable HDMI"));
    assert!(html.contains("Sí, cerrar la incidencia") && html.contains("Volver sin cerrar"));
    let (_, v) = admin.get_json(&format!("/api/v1/tickets/{id}")).await;
    assert_eq!(v["status"], "asignado", "nothing closed yet");
    // "Volver sin cerrar": the ticket page, the resolution still in its field.
    let r = post("volver").await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains(">Se cambió el cable HDMI</textarea>"));
    let (_, v) = admin.get_json(&format!("/api/v1/tickets/{id}")).await;
    assert_eq!(v["status"], "asignado");
    // Confirmed.
    let r = post("1").await;
    assert_redirect_to(&r, &page);
    let (_, v) = admin.get_json(&format!("/api/v1/tickets/{id}")).await;
    assert_eq!(v["status"], "cerrado");
    // An empty resolution is refused at once, without a confirmation.
    let other = assigned_ticket(&app, &admin, &ana, "Teclado").await;
    let r = ana
        .post_form(
            &format!("/tickets/{other}/close"),
            &[("resolution", "  "), ("version", "2")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
both_backends!(closing_asks_to_confirm_without_script);

async fn the_timeline_shows_the_time_between_steps_and_the_total(app: TestApp) {
    let admin = app.signed_in(Role::Admin, "Carlos Ruiz").await;
    let ana = app.signed_in(Role::Technician, "Ana Túpac").await;
    let id = app.intake("maria@cliente.pe", "Wifi", "Sin señal").await["id"]
        .as_i64()
        .unwrap();
    app.clock.advance(2 * 3600 + 5 * 60);
    let (s, _) = admin
        .post_json(
            &format!("/api/v1/tickets/{id}/assign"),
            json!({"technician_id": ana.user.id.0}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, html) = admin.get_html(&format!("/tickets/{id}")).await;
    assert!(html.contains("+2 h 5 min"));
    assert!(!html.contains("Total:"), "no total while open");
    app.clock
        .advance(3 * 86_400 + 4 * 3600 - (2 * 3600 + 5 * 60));
    // Three days later the session has gone idle: sign in again.
    let admin = app.browser_for(admin.user.clone()).await;
    let (s, _) = admin
        .post_json(
            &format!("/api/v1/tickets/{id}/close"),
            json!({"resolution": "Se reinició el router"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, html) = admin.get_html(&format!("/tickets/{id}")).await;
    assert!(html.contains("+3 días 1 h 55 min") || html.contains("+3 días 1 h"));
    assert!(html.contains("Total: 3 días 4 h"));
}
both_at_t0!(the_timeline_shows_the_time_between_steps_and_the_total);

async fn the_next_unassigned_ticket_is_one_click_away_for_staff(app: TestApp) {
    let d = app.signed_in(Role::Dispatcher, "Carlos Ruiz").await;
    let ana = app.signed_in(Role::Technician, "Ana Túpac").await;
    let first = assigned_ticket(&app, &d, &ana, "Uno").await;
    let second = app.intake("a@b.pe", "Dos", "x").await["id"]
        .as_i64()
        .unwrap();
    let third = app.intake("a@b.pe", "Tres", "x").await["id"]
        .as_i64()
        .unwrap();
    let link = |id: i64| format!("href=\"/tickets/{id}\">Siguiente sin asignar");
    let (_, html) = d.get_html(&format!("/tickets/{first}")).await;
    assert!(html.contains(&link(second)), "the oldest waiting one");
    let (_, html) = d.get_html(&format!("/tickets/{second}")).await;
    assert!(html.contains(&link(third)), "never the ticket itself");
    // A technician does not assign: no link.
    let (_, html) = ana.get_html(&format!("/tickets/{first}")).await;
    assert!(!html.contains("Siguiente sin asignar"));
    // Returned tickets wait too; an empty queue shows no link.
    let (s, _) = d
        .post_json(
            &format!("/api/v1/tickets/{second}/assign"),
            json!({"technician_id": ana.user.id.0}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, html) = d.get_html(&format!("/tickets/{third}")).await;
    assert!(!html.contains("Siguiente sin asignar"));
    let (s, _) = ana
        .post_json(
            &format!("/api/v1/tickets/{first}/return"),
            json!({"reason": "No es de mi área"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, html) = d.get_html(&format!("/tickets/{third}")).await;
    assert!(html.contains(&link(first)));
}
both_backends!(the_next_unassigned_ticket_is_one_click_away_for_staff);

async fn support_address_scenario(backend: Backend) {
    let cases = [
        (ServeArgs::default(), "atencion@miempresa.com"),
        (
            ServeArgs {
                support_address: Some("mesa@acme.pe".to_string()),
                ..ServeArgs::default()
            },
            "mesa@acme.pe",
        ),
        (
            {
                let mut a = ServeArgs::default();
                a.mail.smtp_from = "Mesa de ayuda <ayuda@acme.pe>".to_string();
                a
            },
            "ayuda@acme.pe",
        ),
    ];
    for (args, shown) in cases {
        let Some(app) = TestApp::spawn_with(backend, args).await else {
            return;
        };
        let d = app.signed_in(Role::Dispatcher, "Carlos Ruiz").await;
        let (_, html) = d.get_html("/").await;
        assert!(
            html.contains(&format!("Registrar correo recibido en {shown}</summary>")),
            "{shown}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_support_address_comes_from_the_configuration_sqlite() {
    support_address_scenario(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_support_address_comes_from_the_configuration_postgres() {
    support_address_scenario(Backend::Postgres).await;
}

async fn the_status_chart_shows_open_statuses_apart_from_the_closed(app: TestApp) {
    let admin = app.signed_in(Role::Admin, "Carlos Ruiz").await;
    let ana = app.signed_in(Role::Technician, "Ana Túpac").await;
    for n in 0..3 {
        let id = assigned_ticket(&app, &admin, &ana, &format!("Caso {n}")).await;
        let (s, _) = admin
            .post_json(
                &format!("/api/v1/tickets/{id}/close"),
                json!({"resolution": "Listo"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    app.intake("a@b.pe", "Nuevo", "x").await;
    let (_, html) = admin.get_html("/dashboard").await;
    let chart_start = html.find("id=\"ch-status-t\"").unwrap();
    let chart = &html[chart_start..chart_start + html[chart_start..].find("</svg>").unwrap()];
    assert!(chart.contains("Nuevo: 1"), "open statuses on the chart");
    assert!(
        !chart.contains("Cerrado"),
        "the closed are not on the open chart's scale"
    );
    assert!(html.contains("Cerradas (desde el inicio)</span><strong>3</strong>"));
    assert!(
        html.contains("id=\"ch-daily-n-t\"") && html.contains("id=\"ch-status-n-t\""),
        "each chart is also drawn for a phone's width"
    );
}
both_backends!(the_status_chart_shows_open_statuses_apart_from_the_closed);

async fn a_technician_whose_ticket_was_taken_meanwhile_keeps_her_text(app: TestApp) {
    let carlos = app.signed_in(Role::Dispatcher, "Carlos Ruiz").await;
    let ana = app.signed_in(Role::Technician, "Ana Túpac").await;
    let luis = app.signed_in(Role::Technician, "Luis Rojas").await;
    let id = assigned_ticket(&app, &carlos, &ana, "Proyector").await;
    let (_, html) = ana.get_html(&format!("/tickets/{id}")).await;
    let (version, seen) = (hidden(&html, "version"), hidden(&html, "seen"));
    let (s, _) = carlos
        .post_json(
            &format!("/api/v1/tickets/{id}/reassign"),
            json!({"technician_id": luis.user.id.0, "reason": "Luis está en la sala"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let r = ana
        .post_form(
            &format!("/tickets/{id}/comment"),
            &[
                ("body", "Cambié la lámpara"),
                ("version", &version),
                ("seen", &seen),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(html.contains("ya no está a su cargo"));
    assert!(html.contains("Mientras escribía, Carlos Ruiz reasignó la incidencia a Luis Rojas."));
    assert!(html.contains(">Cambié la lámpara</textarea>"));
    assert!(
        !html.contains("Proyector"),
        "nothing of the ticket itself is shown"
    );
    // A ticket that was never hers still does not exist for her.
    let other = assigned_ticket(&app, &carlos, &luis, "Otro").await;
    let r = ana
        .post_form(
            &format!("/tickets/{other}/comment"),
            &[("body", "x"), ("seen", "1")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
both_backends!(a_technician_whose_ticket_was_taken_meanwhile_keeps_her_text);

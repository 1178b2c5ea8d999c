//! Técnicos and Credenciales: only administrators; create, edit, disable, reset; the last
//! administrator stays.

use crate::both_backends;
use crate::helpers::*;
use reqwest::StatusCode;
use soporte::domain::user::Role;

async fn admin_sections_are_for_administrators_only(app: TestApp) {
    let admin = app.signed_in(Role::Admin, "Admin").await;
    let dispatcher = app.signed_in(Role::Dispatcher, "Derivador").await;
    let tech = app.signed_in(Role::Technician, "Tecnico").await;
    for path in [
        "/admin/technicians",
        "/admin/credentials",
        &format!("/admin/technicians/{}", tech.user.id),
    ] {
        assert_eq!(admin.get(path).await.status(), StatusCode::OK, "{path}");
        for other in [&dispatcher, &tech] {
            let r = other.get(path).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
            assert!(
                r.text()
                    .await
                    .unwrap()
                    .contains("solo para administradores")
            );
        }
    }
    let posts: Vec<String> = vec![
        "/admin/technicians".into(),
        format!("/admin/technicians/{}", tech.user.id),
        format!("/admin/technicians/{}/active", tech.user.id),
        "/admin/credentials".into(),
        format!("/admin/credentials/{}/reset", tech.user.id),
        format!("/admin/credentials/{}/active", tech.user.id),
        format!("/admin/credentials/{}/role", tech.user.id),
    ];
    let before = app.count("SELECT COUNT(*) FROM users").await;
    for path in &posts {
        for other in [&dispatcher, &tech] {
            let r = other
                .post_form(
                    path,
                    &[
                        ("name", "X"),
                        ("email", "x@miempresa.com"),
                        ("role", "admin"),
                        ("active", "0"),
                        ("confirm", "1"),
                        ("password", "nueva-clave-123"),
                    ],
                )
                .await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        }
        let anon = TestApp::client()
            .post(app.url(path))
            .form(&[("a", "b")])
            .send()
            .await
            .unwrap();
        assert!(
            anon.status() == StatusCode::FORBIDDEN || anon.status().is_redirection(),
            "{path}: {}",
            anon.status()
        );
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, before);
    let me = app.services.user(tech.user.id).await.unwrap();
    assert!(me.active && me.role == Role::Technician && !me.must_change_password);
    // Navigation shows only what the role may use.
    let (_, html) = dispatcher.get_html("/").await;
    assert!(!html.contains("/admin/technicians"));
    let (_, html) = admin.get_html("/").await;
    assert!(html.contains("/admin/technicians") && html.contains("/admin/credentials"));
}
both_backends!(admin_sections_are_for_administrators_only);

async fn technicians_are_created_edited_disabled_and_enabled(app: TestApp) {
    let admin = app.signed_in(Role::Admin, "Admin").await;
    // A validation error keeps what was typed.
    let r = admin
        .post_form(
            "/admin/technicians",
            &[
                ("name", "Lucía Ramos"),
                ("email", "no-es-correo"),
                ("phone", "999 888 777"),
                ("area", "Redes"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Ingrese un correo electrónico válido"));
    assert!(html.contains("value=\"Lucía Ramos\"") && html.contains("value=\"999 888 777\""));

    let r = admin
        .post_form(
            "/admin/technicians",
            &[
                ("name", "Lucía Ramos"),
                ("email", "lucia@miempresa.com"),
                ("phone", "999 888 777"),
                ("area", "Redes"),
            ],
        )
        .await;
    assert_redirect_to(&r, "/admin/technicians");
    let (_, html) = admin.get_html("/admin/technicians").await;
    assert!(html.contains("Contraseña inicial de lucia@miempresa.com"));
    let start = html.find("class=\"secret\">").unwrap() + "class=\"secret\">".len();
    let generated = html[start..start + 16].to_string();
    let lucia = app
        .services
        .user_by_email("lucia@miempresa.com")
        .await
        .unwrap();
    assert_eq!(lucia.role, Role::Technician);
    assert!(lucia.must_change_password);
    assert_eq!(lucia.area.as_deref(), Some("Redes"));

    // Duplicate e-mail is a form message, not a 500.
    let r = admin
        .post_form(
            "/admin/technicians",
            &[("name", "Otra"), ("email", "LUCIA@miempresa.com")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Ya existe una cuenta con ese correo")
    );

    // The generated password signs in and must be changed.
    let c = TestApp::client();
    let r = app
        .sign_in(&c, "/login/technician", "lucia@miempresa.com", &generated)
        .await;
    assert_redirect_to(&r, "/account/password");

    // Edit.
    let path = format!("/admin/technicians/{}", lucia.id);
    let r = admin
        .post_form(
            &path,
            &[
                ("name", "Lucía Ramos Paz"),
                ("email", "lucia.ramos@miempresa.com"),
                ("phone", ""),
                ("area", "Soporte"),
            ],
        )
        .await;
    assert_redirect_to(&r, "/admin/technicians");
    let edited = app.services.user(lucia.id).await.unwrap();
    assert_eq!(
        (
            edited.name.as_str(),
            edited.email.as_str(),
            edited.phone.as_deref(),
            edited.area.as_deref()
        ),
        (
            "Lucía Ramos Paz",
            "lucia.ramos@miempresa.com",
            None,
            Some("Soporte")
        )
    );
    let (_, html) = admin.get_html("/admin/technicians").await;
    assert!(html.contains("Datos de Lucía Ramos Paz guardados"));

    // Disable: sessions end, cannot sign in, cannot be assigned.
    let tech = app.signed_in(Role::Technician, "Tecnico Dos").await;
    assert_eq!(tech.get("/").await.status(), StatusCode::OK);
    let r = admin
        .post_form(
            &format!("/admin/technicians/{}/active", tech.user.id),
            &[("active", "0"), ("confirm", "1")],
        )
        .await;
    assert_redirect_to(&r, "/admin/technicians");
    assert_redirect_to(&tech.get("/").await, "/login");
    let r = app
        .sign_in(&TestApp::client(), "/login", &tech.user.email, PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let t = app
        .intake("cliente@dominio.com", "Impresora", "No imprime")
        .await;
    let (s, body) = admin
        .post_json(
            &format!("/api/v1/tickets/{}/assign", t["id"]),
            serde_json::json!({"technician_id": tech.user.id.0}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // Enable again.
    let r = admin
        .post_form(
            &format!("/admin/technicians/{}/active", tech.user.id),
            &[("active", "1")],
        )
        .await;
    assert_redirect_to(&r, "/admin/technicians");
    let r = app
        .sign_in(&TestApp::client(), "/login", &tech.user.email, PASSWORD)
        .await;
    assert_redirect_to(&r, "/");
}
both_backends!(technicians_are_created_edited_disabled_and_enabled);

async fn disabling_a_technician_returns_their_open_tickets_to_the_queue(app: TestApp) {
    let admin = app.signed_in(Role::Admin, "Admin").await;
    let tech = app.create_user(Role::Technician, "Tecnico").await;
    let open = app.intake("a@cliente.com", "Correo", "No llega").await;
    let done = app.intake("b@cliente.com", "VPN", "No conecta").await;
    for t in [&open, &done] {
        let (s, _) = admin
            .post_json(
                &format!("/api/v1/tickets/{}/assign", t["id"]),
                serde_json::json!({"technician_id": tech.id.0}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, _) = admin
        .post_json(
            &format!("/api/v1/tickets/{}/close", done["id"]),
            serde_json::json!({"resolution": "Listo"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let r = admin
        .post_form(
            &format!("/admin/technicians/{}/active", tech.id),
            &[("active", "0"), ("confirm", "1")],
        )
        .await;
    assert_redirect_to(&r, "/admin/technicians");
    let (_, t) = admin
        .get_json(&format!("/api/v1/tickets/{}", open["id"]))
        .await;
    assert_eq!(t["status"], "devuelto");
    assert!(t["assignee"].is_null());
    let last = t["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "returned");
    assert_eq!(last["actor"], "Sistema");
    assert_eq!(last["data"]["reason"], "Técnico deshabilitado");
    let (_, t) = admin
        .get_json(&format!("/api/v1/tickets/{}", done["id"]))
        .await;
    assert_eq!(t["status"], "cerrado", "closed tickets stay closed");
}
both_backends!(disabling_a_technician_returns_their_open_tickets_to_the_queue);

async fn credentials_are_created_reset_disabled_and_the_last_admin_stays(app: TestApp) {
    let admin = app.signed_in(Role::Admin, "Admin").await;
    // A typed initial password: must be changed at first sign-in.
    let r = admin
        .post_form(
            "/admin/credentials",
            &[
                ("name", "Diego"),
                ("email", "diego@miempresa.com"),
                ("role", "dispatcher"),
                ("password", "inicial-12345"),
            ],
        )
        .await;
    assert_redirect_to(&r, "/admin/credentials");
    let c = TestApp::client();
    let r = app
        .sign_in(
            &c,
            "/login/dispatcher",
            "diego@miempresa.com",
            "inicial-12345",
        )
        .await;
    assert_redirect_to(&r, "/account/password");
    // A short typed password is refused with the input kept.
    let r = admin
        .post_form(
            "/admin/credentials",
            &[
                ("name", "Eva"),
                ("email", "eva@miempresa.com"),
                ("role", "technician"),
                ("password", "corta"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("al menos 10 caracteres") && html.contains("value=\"eva@miempresa.com\"")
    );
    // Only dispatchers and technicians are created here.
    let r = admin
        .post_form(
            "/admin/credentials",
            &[
                ("name", "Eva"),
                ("email", "eva@miempresa.com"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Reset: a generated password shown once; the user must change it; sessions end.
    let diego = app
        .services
        .user_by_email("diego@miempresa.com")
        .await
        .unwrap();
    let r = admin
        .post_form(
            &format!("/admin/credentials/{}/reset", diego.id),
            &[("password", "")],
        )
        .await;
    assert_redirect_to(&r, "/admin/credentials");
    let (_, html) = admin.get_html("/admin/credentials").await;
    let start = html.find("class=\"secret\">").unwrap() + "class=\"secret\">".len();
    let generated = html[start..start + 16].to_string();
    assert_redirect_to(
        &c.get(app.url("/account/password")).send().await.unwrap(),
        "/login",
    );
    let r = app
        .sign_in(
            &TestApp::client(),
            "/login",
            "diego@miempresa.com",
            &generated,
        )
        .await;
    assert_redirect_to(&r, "/account/password");

    // Disable and enable.
    let r = admin
        .post_form(
            &format!("/admin/credentials/{}/active", diego.id),
            &[("active", "0"), ("confirm", "1")],
        )
        .await;
    assert_redirect_to(&r, "/admin/credentials");
    assert!(!app.services.user(diego.id).await.unwrap().active);
    let r = admin
        .post_form(
            &format!("/admin/credentials/{}/active", diego.id),
            &[("active", "1")],
        )
        .await;
    assert_redirect_to(&r, "/admin/credentials");
    assert!(app.services.user(diego.id).await.unwrap().active);

    // The last active administrator: the default one is still there, so disable it first.
    let default = app
        .services
        .user_by_email("admin@miempresa.com")
        .await
        .unwrap();
    let r = admin
        .post_form(
            &format!("/admin/credentials/{}/active", default.id),
            &[("active", "0"), ("confirm", "1")],
        )
        .await;
    assert_redirect_to(&r, "/admin/credentials");
    // Now `admin` is the last one: it cannot demote itself, and nobody can disable it.
    let r = admin
        .post_form(
            &format!("/admin/credentials/{}/role", admin.user.id),
            &[("role", "technician")],
        )
        .await;
    assert_redirect_to(&r, "/admin/credentials");
    let (_, html) = admin.get_html("/admin/credentials").await;
    assert!(
        html.contains("último administrador activo"),
        "the refusal is shown"
    );
    let me = app.services.user(admin.user.id).await.unwrap();
    assert_eq!(me.role, Role::Admin);
    assert!(me.active);
    let err = app
        .services
        .set_active(&default, admin.user.id, false)
        .await
        .unwrap_err();
    assert!(matches!(err, soporte::service::Error::Domain(_)));
    assert!(app.services.user(admin.user.id).await.unwrap().active);
    // Promote Diego: now demoting works.
    let r = admin
        .post_form(
            &format!("/admin/credentials/{}/role", diego.id),
            &[("role", "admin")],
        )
        .await;
    assert_redirect_to(&r, "/admin/credentials");
    assert_eq!(app.services.user(diego.id).await.unwrap().role, Role::Admin);
}
both_backends!(credentials_are_created_reset_disabled_and_the_last_admin_stays);

//! Sign-in, the forced first password change, sessions, CSRF, throttling, security headers.

use crate::both_backends;
use crate::helpers::*;
use reqwest::StatusCode;
use soporte::domain::user::Role;

async fn first_admin_must_change_password_before_anything_else(app: TestApp) {
    let c = TestApp::client();
    let r = app
        .sign_in(&c, "/login/admin", "admin@miempresa.com", "admin123")
        .await;
    assert_redirect_to(&r, "/account/password");
    // Every other page sends them back; the API refuses.
    assert_redirect_to(
        &c.get(app.url("/")).send().await.unwrap(),
        "/account/password",
    );
    assert_redirect_to(
        &c.get(app.url("/admin/credentials")).send().await.unwrap(),
        "/account/password",
    );
    let api = c.get(app.url("/api/v1/tickets")).send().await.unwrap();
    assert_eq!(api.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "password_change_required");

    // The page offers only what works now: no navigation that would bounce back here.
    let html = c
        .get(app.url("/account/password"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Antes de continuar debe elegir una contraseña nueva"));
    assert!(!html.contains("href=\"/admin/credentials\"") && !html.contains("href=\"/dashboard\""));
    assert!(html.contains("Salir"));
    let csrf = app.csrf_of(&c, "/account/password").await;
    let change = |new: &'static str, confirm: &'static str| {
        let c = c.clone();
        let csrf = csrf.clone();
        let url = app.url("/account/password");
        async move {
            c.post(url)
                .form(&[
                    ("current_password", "admin123"),
                    ("new_password", new),
                    ("confirm_password", confirm),
                    ("csrf_token", &csrf),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let short = change("corta", "corta").await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        short
            .text()
            .await
            .unwrap()
            .contains("al menos 10 caracteres")
    );
    let same = c
        .post(app.url("/account/password"))
        .form(&[
            ("current_password", "admin123"),
            ("new_password", "admin123"),
            ("confirm_password", "admin123"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let mismatch = change("una-clave-nueva-1", "otra-clave-nueva").await;
    assert_eq!(mismatch.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let ok = change("una-clave-nueva-1", "una-clave-nueva-1").await;
    assert_redirect_to(&ok, "/");
    let (status, html) = (
        c.get(app.url("/")).send().await.unwrap().status(),
        c.get(app.url("/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Incidencias"));
    // The old password no longer works; the new one does.
    let fresh = TestApp::client();
    let r = app
        .sign_in(&fresh, "/login", "admin@miempresa.com", "admin123")
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .sign_in(&fresh, "/login", "admin@miempresa.com", "una-clave-nueva-1")
        .await;
    assert_redirect_to(&r, "/");
}
both_backends!(first_admin_must_change_password_before_anything_else);

async fn role_pages_accept_only_their_role(app: TestApp) {
    let tech = app.create_user(Role::Technician, "Tecnico Uno").await;
    let c = TestApp::client();
    let r = app.sign_in(&c, "/login/admin", &tech.email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Esta cuenta no corresponde a este acceso"),
        "{html}"
    );
    assert!(
        c.get(app.url("/"))
            .send()
            .await
            .unwrap()
            .status()
            .is_redirection(),
        "no session was opened"
    );
    let r = app
        .sign_in(&c, "/login/dispatcher", &tech.email, PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .sign_in(&c, "/login/technician", &tech.email, PASSWORD)
        .await;
    assert_redirect_to(&r, "/");
    let unknown = TestApp::client()
        .get(app.url("/login/root"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}
both_backends!(role_pages_accept_only_their_role);

async fn pages_need_a_session_and_json_gets_401(app: TestApp) {
    let c = TestApp::client();
    for path in [
        "/",
        "/tickets/1",
        "/admin/technicians",
        "/admin/credentials",
        "/account/password",
    ] {
        let r = c.get(app.url(path)).send().await.unwrap();
        assert_redirect_to(&r, "/login");
    }
    for path in [
        "/api/v1/tickets",
        "/api/v1/tickets/1",
        "/api/v1/technicians",
    ] {
        let r = c.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let r = c
        .get(app.url("/"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
both_backends!(pages_need_a_session_and_json_gets_401);

async fn session_cookie_is_safe_new_at_sign_in_and_gone_at_sign_out(app: TestApp) {
    let user = app.create_user(Role::Dispatcher, "Derivador").await;
    let c = TestApp::client();
    let r = app.sign_in(&c, "/login", &user.email, PASSWORD).await;
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("soporte_session="))
        .expect("session cookie");
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "not configured for HTTPS");
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("soporte_session=")
        .to_string();
    // Signing in again gives a new session id.
    let r2 = app
        .sign_in(&TestApp::client(), "/login", &user.email, PASSWORD)
        .await;
    let cookie2 = r2
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(!cookie2.contains(&token));
    // Sign-out deletes the session server-side: replaying the old cookie fails.
    let csrf = app.csrf_of(&c, "/").await;
    let out = c
        .post(app.url("/logout"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_redirect_to(&out, "/login");
    let replay = TestApp::client()
        .get(app.url("/"))
        .header("cookie", format!("soporte_session={token}"))
        .send()
        .await
        .unwrap();
    assert_redirect_to(&replay, "/login");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions").await,
        1,
        "only the second sign-in remains"
    );
}
both_backends!(session_cookie_is_safe_new_at_sign_in_and_gone_at_sign_out);

#[tokio::test]
async fn secure_cookie_when_configured() {
    let args = soporte::config::ServeArgs {
        cookie_secure: true,
        ..Default::default()
    };
    let app = TestApp::spawn_with(soporte::storage::Backend::Sqlite, args)
        .await
        .unwrap();
    let user = app.create_user(Role::Dispatcher, "Derivador").await;
    let r = app
        .sign_in(&TestApp::client(), "/login", &user.email, PASSWORD)
        .await;
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

async fn idle_sessions_expire(app: TestApp) {
    let b = app.signed_in(Role::Dispatcher, "Derivador").await;
    assert_eq!(b.get("/").await.status(), StatusCode::OK);
    sqlx::query("UPDATE sessions SET last_seen_at = last_seen_at - 9 * 3600")
        .execute(app.store.pool())
        .await
        .unwrap();
    assert_redirect_to(&b.get("/").await, "/login");
}
both_backends!(idle_sessions_expire);

async fn forms_without_the_right_csrf_token_are_refused(app: TestApp) {
    let b = app.signed_in(Role::Admin, "Admin").await;
    let before = app.count("SELECT COUNT(*) FROM users").await;
    let fields = [
        ("name", "Ana"),
        ("email", "ana@miempresa.com"),
        ("role", "dispatcher"),
    ];
    let missing = b
        .client
        .post(app.url("/admin/credentials"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    assert!(missing.text().await.unwrap().contains("Recargue la página"));
    let mut wrong = fields.to_vec();
    wrong.push(("csrf_token", "0000"));
    let r = b
        .client
        .post(app.url("/admin/credentials"))
        .form(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    for path in [
        "/",
        "/tickets/1/comment",
        "/admin/technicians",
        "/account/password",
        "/logout",
    ] {
        let r = b
            .client
            .post(app.url(path))
            .form(&[("x", "y")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    // Cross-site browser posts are refused even with a token.
    let mut with = fields.to_vec();
    with.push(("csrf_token", &b.csrf));
    let r = b
        .client
        .post(app.url("/admin/credentials"))
        .header("origin", "https://evil.example")
        .form(&with)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, before);
    // The sign-in form is protected too.
    let c = TestApp::client();
    let r = c
        .post(app.url("/login"))
        .form(&[("email", "admin@miempresa.com"), ("password", "admin123")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
both_backends!(forms_without_the_right_csrf_token_are_refused);

async fn security_headers_on_every_response(app: TestApp) {
    let c = TestApp::client();
    for path in [
        "/login",
        "/healthz",
        "/static/app.css",
        "/no-such-page",
        "/api/openapi.json",
    ] {
        let r = c.get(app.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
        assert!(h.get("referrer-policy").is_some());
        assert!(h.get("x-request-id").is_some());
    }
}
both_backends!(security_headers_on_every_response);

async fn five_failures_lock_an_account_with_the_same_message_for_unknown_ones(app: TestApp) {
    let user = app.create_user(Role::Technician, "Tecnico").await;
    let c = TestApp::client();
    for _ in 0..5 {
        let r = app
            .sign_in(&c, "/login", &user.email, "incorrecta-123")
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Correo o contraseña incorrectos")
        );
    }
    // Now even the right password is refused, with a clear message.
    let r = app.sign_in(&c, "/login", &user.email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let locked_text = r.text().await.unwrap();
    assert!(locked_text.contains("Demasiados intentos fallidos"));
    // An account that does not exist behaves the same.
    for _ in 0..5 {
        let r = app
            .sign_in(&c, "/login", "nadie@miempresa.com", "incorrecta-123")
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app
        .sign_in(&c, "/login", "nadie@miempresa.com", "incorrecta-123")
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // The lock lasts 15 minutes: move it into the past and the right password works.
    sqlx::query("UPDATE login_locks SET until_at = until_at - 901")
        .execute(app.store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE login_failures SET at = at - 901")
        .execute(app.store.pool())
        .await
        .unwrap();
    let r = app.sign_in(&c, "/login", &user.email, PASSWORD).await;
    assert_redirect_to(&r, "/");
}
both_backends!(five_failures_lock_an_account_with_the_same_message_for_unknown_ones);

async fn twenty_failures_lock_an_address(app: TestApp) {
    let user = app.create_user(Role::Technician, "Tecnico").await;
    let c = TestApp::client();
    for i in 0..20 {
        let r = app
            .sign_in(
                &c,
                "/login",
                &format!("persona{i}@miempresa.com"),
                "incorrecta-123",
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let r = app.sign_in(&c, "/login", &user.email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}
both_backends!(twenty_failures_lock_an_address);

async fn last_sign_in_is_recorded(app: TestApp) {
    let b = app.signed_in(Role::Technician, "Tecnica Rosa").await;
    let user = app.services.user(b.user.id).await.unwrap();
    let at = user.last_login_at.expect("recorded");
    assert!((soporte::domain::time::now() - at).abs() < 60);
    let admin = app.signed_in(Role::Admin, "Admin").await;
    let shown = soporte::domain::time::format_lima(at);
    for page in ["/admin/technicians", "/admin/credentials"] {
        let (s, html) = admin.get_html(page).await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            html.contains(&shown),
            "{page} shows the last sign-in {shown}"
        );
    }
}
both_backends!(last_sign_in_is_recorded);

async fn oversized_bodies_get_413(app: TestApp) {
    let b = app.signed_in(Role::Dispatcher, "Derivador").await;
    let big = "x".repeat(3 * 1024 * 1024);
    let r = b
        .post_form(
            "/",
            &[("from", "a@b.com"), ("subject", "s"), ("body", &big)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.text().await.unwrap().contains("demasiado grande"));
    let r = TestApp::client()
        .post(app.url("/intake/email"))
        .header("content-type", "application/json")
        .body(format!(
            "{{\"from\":\"a@b.com\",\"subject\":\"s\",\"body\":\"{big}\"}}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert_eq!(app.count("SELECT COUNT(*) FROM tickets").await, 0);
}
both_backends!(oversized_bodies_get_413);

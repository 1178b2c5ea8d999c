//! Two-factor authentication (TOTP, RFC 6238): set-up with a QR code drawn by the server and
//! the seed sealed at rest, ten recovery codes, the second step of a sign-in (a code works
//! once; five wrong ones lock like passwords), and `--require-2fa-admins`.

use crate::helpers::{Browser, PASSWORD, TestApp, location};
use crate::mail_oauth::KEY;
use crate::sso::on_both;
use reqwest::StatusCode;
use soporte::config::{Secret, ServeArgs};
use soporte::domain::totp;
use soporte::domain::user::Role;
use soporte::storage::Backend;

fn args() -> ServeArgs {
    let mut a = ServeArgs::default();
    a.connect.secret_key = Some(Secret::new(KEY));
    a
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let a = html.find(start)? + start.len();
    let b = html[a..].find(end)? + a;
    Some(&html[a..b])
}

/// Sets TOTP up through the pages; returns the seed and the recovery codes shown.
pub async fn enrol(app: &TestApp, who: &Browser) -> (Vec<u8>, Vec<String>) {
    let (s, page) = who.get_html("/account/2fa").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("Configurar la verificación en dos pasos"),
        "{page}"
    );
    let r = who.post_form("/account/2fa/setup", &[]).await;
    assert_eq!(location(&r), "/account/2fa");
    let (_, page) = who.get_html("/account/2fa").await;
    assert!(
        page.contains("<svg class=\"qr\""),
        "the QR code is drawn by the server"
    );
    assert!(
        !page.contains("chart.googleapis") && !page.contains("<img"),
        "no outside service"
    );
    let secret_text = between(&page, "id=\"clave\">", "<").unwrap().to_string();
    let seed = totp::base32_decode(&secret_text).unwrap();
    assert_eq!(seed.len(), totp::SECRET_BYTES);
    // The seed is sealed at rest.
    let stored: String = sqlx::query_scalar("SELECT secret FROM user_totp WHERE user_id = $1")
        .bind(who.user.id.0)
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert!(stored.starts_with("v1."));
    assert!(!stored.contains(&totp::base32_encode(&seed)));

    let r = who
        .post_form("/account/2fa/enable", &[("code", "000000")])
        .await;
    if r.status() == StatusCode::OK {
        panic!("a wrong code must not switch TOTP on");
    }
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("no coincide"));
    let code = totp::code_for(&seed, soporte::domain::time::now());
    let r = who
        .post_form("/account/2fa/enable", &[("code", &code)])
        .await;
    // Post, then redirect: the codes wait on the session for the next page, once.
    crate::helpers::assert_redirect_to(&r, "/account/2fa");
    let (_, page) = who.get_html("/account/2fa").await;
    let list = between(&page, "<ol class=\"codes\" id=\"codigos\">", "</ol>").unwrap();
    let codes: Vec<String> = list
        .split("<li>")
        .skip(1)
        .map(|c| c.split("</li>").next().unwrap().trim().to_string())
        .collect();
    assert_eq!(codes.len(), 10, "{page}");
    assert!(page.contains("Activada"));
    let (_, page) = who.get_html("/account/2fa").await;
    assert!(
        !page.contains(&secret_text),
        "the seed is never shown again"
    );
    assert!(
        !page.contains("id=\"codigos\"") && !page.contains(&codes[0]),
        "a refresh does not show the recovery codes again"
    );
    (seed, codes)
}

/// Password first: the answer (a redirect to the second step when TOTP is on).
async fn first_step(app: &TestApp, client: &reqwest::Client, email: &str) -> reqwest::Response {
    app.sign_in(client, "/login", email, PASSWORD).await
}

async fn second_step(app: &TestApp, client: &reqwest::Client, code: &str) -> reqwest::Response {
    let csrf = app.csrf_of(client, "/login/2fa").await;
    client
        .post(app.url("/login/2fa"))
        .form(&[("code", code), ("csrf_token", &csrf)])
        .send()
        .await
        .unwrap()
}

async fn signed_in(app: &TestApp, client: &reqwest::Client) -> bool {
    client.get(app.url("/")).send().await.unwrap().status() == StatusCode::OK
}

async fn totp_guards_the_sign_in_and_a_code_works_once(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, args()).await else {
        return;
    };
    let tech = app.signed_in(Role::Technician, "Rosa Díaz").await;
    let (seed, recovery) = enrol(&app, &tech).await;

    let client = TestApp::client();
    let r = first_step(&app, &client, &tech.user.email).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login/2fa");
    assert!(
        !signed_in(&app, &client).await,
        "a password alone does not sign in"
    );
    let r = second_step(&app, &client, "123456").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("El código no es correcto"));
    assert!(!signed_in(&app, &client).await);
    // This time step's code was spent by the set-up; the next step's is accepted (one step
    // of drift either way).
    let last: i64 = app.count("SELECT last_step FROM user_totp").await;
    let spent = totp::format_code(totp::code_at(&seed, last));
    let r = second_step(&app, &client, &spent).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a code works once");
    let code = totp::format_code(totp::code_at(&seed, last + 1));
    let r = second_step(&app, &client, &code).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    assert!(signed_in(&app, &client).await);

    // The same code again, in another sign-in: refused.
    let other = TestApp::client();
    first_step(&app, &other, &tech.user.email).await;
    let r = second_step(&app, &other, &code).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A recovery code works once.
    let r = second_step(&app, &other, &recovery[0].to_uppercase()).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let again = TestApp::client();
    first_step(&app, &again, &tech.user.email).await;
    let r = second_step(&app, &again, &recovery[0]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let used: i64 = app
        .count("SELECT COUNT(*) FROM user_recovery_codes WHERE used_at IS NOT NULL")
        .await;
    assert_eq!(used, 1);
    // Without a password first there is nothing to answer.
    let stranger = TestApp::client();
    let r = stranger.get(app.url("/login/2fa")).send().await.unwrap();
    assert_eq!(location(&r), "/login");
}
on_both!(totp_guards_the_sign_in_and_a_code_works_once);

async fn wrong_codes_lock_the_account_like_wrong_passwords(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, args()).await else {
        return;
    };
    let tech = app.signed_in(Role::Technician, "Luis Paz").await;
    let (seed, _) = enrol(&app, &tech).await;
    let client = TestApp::client();
    first_step(&app, &client, &tech.user.email).await;
    for _ in 0..5 {
        let r = second_step(&app, &client, "999999").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let code = totp::code_for(&seed, soporte::domain::time::now());
    let r = second_step(&app, &client, &code).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().await.unwrap().contains("Demasiados intentos"));
    assert!(!signed_in(&app, &client).await);
    // The password form is locked for the account too.
    let r = first_step(&app, &TestApp::client(), &tech.user.email).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}
on_both!(wrong_codes_lock_the_account_like_wrong_passwords);

async fn administrators_must_set_up_totp_when_required(backend: Backend) {
    let mut a = args();
    a.connect.require_2fa_admins = true;
    let Some(app) = TestApp::spawn_with(backend, a).await else {
        return;
    };
    let admin = app.signed_in(Role::Admin, "Jefa TI").await;
    let r = admin.get("/").await;
    assert_eq!(location(&r), "/account/2fa");
    let r = admin.get("/admin/technicians").await;
    assert_eq!(location(&r), "/account/2fa");
    let (_, page) = admin.get_html("/account/2fa").await;
    assert!(page.contains("Los administradores deben activar"), "{page}");
    let tech = app.signed_in(Role::Technician, "Técnico Libre").await;
    assert_eq!(
        tech.get("/").await.status(),
        StatusCode::OK,
        "only administrators"
    );

    let (_, recovery) = enrol(&app, &admin).await;
    assert_eq!(admin.get("/").await.status(), StatusCode::OK);
    // Next time: password, then a code (a recovery code here: this time step's code was
    // spent by the set-up).
    let client = TestApp::client();
    let r = first_step(&app, &client, &admin.user.email).await;
    assert_eq!(location(&r), "/login/2fa");
    assert_eq!(
        second_step(&app, &client, &recovery[1]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert!(signed_in(&app, &client).await);

    // Switching it off needs a current code, then the requirement applies again.
    let r = admin
        .post_form("/account/2fa/disable", &[("code", "000000")])
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let code = recovery[2].clone();
    let r = admin
        .post_form("/account/2fa/disable", &[("code", &code)])
        .await;
    assert_eq!(location(&r), "/account/2fa");
    assert_eq!(app.count("SELECT COUNT(*) FROM user_totp").await, 0);
    assert_eq!(location(&admin.get("/").await), "/account/2fa");
}
on_both!(administrators_must_set_up_totp_when_required);

async fn without_the_secret_key_totp_cannot_be_set_up(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let tech = app.signed_in(Role::Technician, "Sin Clave").await;
    let r = tech.post_form("/account/2fa/setup", &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("SOPORTE_SECRET_KEY"));
    assert_eq!(app.count("SELECT COUNT(*) FROM user_totp").await, 0);
    // A form without its CSRF token changes nothing.
    let r = tech
        .client
        .post(app.url("/account/2fa/setup"))
        .form(&[("csrf_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
on_both!(without_the_secret_key_totp_cannot_be_set_up);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_removes_a_lost_second_factor_from_the_command_line() {
    let app = TestApp::spawn_with(Backend::Sqlite, args()).await.unwrap();
    let tech = app.signed_in(Role::Technician, "Sin Telefono").await;
    enrol(&app, &tech).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_soporte"))
        .args(["user", "reset-2fa", "--email", &tech.user.email])
        .env("DATABASE_URL", &app.database_url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("verificación en dos pasos quitada"));
    assert_eq!(app.count("SELECT COUNT(*) FROM user_totp").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM user_recovery_codes").await,
        0
    );
    assert!(!signed_in(&app, &tech.client).await, "their sessions ended");
    let client = TestApp::client();
    let r = first_step(&app, &client, &tech.user.email).await;
    assert_eq!(location(&r), "/", "a password alone signs in again");
}

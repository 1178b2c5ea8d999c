//! Secrets at rest and in logs: `soporte secrets rotate` seals every stored secret (TOTP
//! seeds, mail tokens, chat channels' targets and secrets) under a new key in one
//! transaction, refuses (changing nothing) without the old key, and the app then works with
//! the new key alone; the real binary, configured with every kind of secret and made to use
//! them, logs none of them.

use crate::helpers::{PASSWORD, TestApp, location};
use crate::mail_oauth::KEY;
use crate::notify::{Receiver, verify};
use crate::ops::Binary;
use crate::sso::on_both;
use reqwest::StatusCode;
use soporte::config::{Secret, ServeArgs};
use soporte::domain::secrets::{Keyring, SecretKey};
use soporte::domain::totp;
use soporte::domain::user::Role;
use soporte::service::notify::ChannelInput;
use soporte::storage::Backend;
use std::time::Duration;

const NEW_KEY: &str = "la-clave-nueva-de-las-pruebas-9876543210";

fn rotate(db: &str, key: &str, previous: Option<&str>) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_soporte"));
    cmd.args(["secrets", "rotate"])
        .env("DATABASE_URL", db)
        .env("SOPORTE_SECRET_KEY", key)
        .env("RUST_LOG", "warn")
        .env_remove("SOPORTE_SECRET_KEY_PREVIOUS");
    if let Some(p) = previous {
        cmd.env("SOPORTE_SECRET_KEY_PREVIOUS", p);
    }
    cmd.output().unwrap()
}

async fn sealed_values(app: &TestApp) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for sql in [
        "SELECT secret FROM user_totp",
        "SELECT refresh_token FROM mail_oauth",
        "SELECT access_token FROM mail_oauth",
        "SELECT target FROM notify_channels",
        "SELECT secret FROM notify_channels",
    ] {
        let v: Vec<Option<String>> = sqlx::query_scalar(sql)
            .fetch_all(app.store.pool())
            .await
            .unwrap();
        all.extend(v.into_iter().flatten());
    }
    all
}

async fn rotation_seals_everything_under_the_new_key(backend: Backend) {
    let receiver = Receiver::start().await;
    let mut args = ServeArgs::default();
    args.connect.secret_key = Some(Secret::new(KEY));
    let Some(app) = TestApp::spawn_with(backend, args).await else {
        return;
    };
    let tech = app.signed_in(Role::Technician, "Rosa").await;
    let (seed, _) = crate::twofactor::enrol(&app, &tech).await;
    let admin = app.create_user(Role::Admin, "Admin").await;
    let channel = app
        .services
        .channel_create(
            &admin,
            &ChannelInput {
                kind: "webhook".into(),
                url: format!("{}/hook", receiver.base),
                secret: "secreto-del-webhook-0123".into(),
                events: vec!["new".into()],
                ..ChannelInput::default()
            },
        )
        .await
        .unwrap();
    let old = Keyring::new(SecretKey::derive(KEY).unwrap(), None);
    {
        let mut conn = app.store.pool().acquire().await.unwrap();
        soporte::storage::mailbox::put_grant(
            &mut conn,
            &soporte::storage::mailbox::GrantRow {
                grant_type: "delegated".into(),
                refresh_token: Some(old.seal(b"rt-prueba", [1; 12], "mail_oauth.refresh_token")),
                access_token: Some(old.seal(b"at-prueba", [2; 12], "mail_oauth.access_token")),
                access_expires_at: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let before = sealed_values(&app).await;
    assert_eq!(before.len(), 5);
    assert!(
        before
            .iter()
            .all(|v| v.starts_with(&format!("v1.{}.", old.current_id())))
    );

    // Without the old key nothing can be read: refused, nothing changed.
    let out = rotate(&app.database_url, NEW_KEY, None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SOPORTE_SECRET_KEY_PREVIOUS"), "{err}");
    assert_eq!(sealed_values(&app).await, before);

    let out = rotate(&app.database_url, NEW_KEY, Some(KEY));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("1 semillas TOTP, 2 tokens de correo, 2 datos de canales"),
        "{said}"
    );
    let new = Keyring::new(SecretKey::derive(NEW_KEY).unwrap(), None);
    let after = sealed_values(&app).await;
    assert!(
        after
            .iter()
            .all(|v| v.starts_with(&format!("v1.{}.", new.current_id()))),
        "{after:?}"
    );
    assert_eq!(
        new.open_text(&after[1], "mail_oauth.refresh_token")
            .unwrap(),
        "rt-prueba"
    );
    let again = rotate(&app.database_url, NEW_KEY, Some(KEY));
    assert!(String::from_utf8_lossy(&again.stdout).contains("(5 ya estaban con la clave actual)"));

    // The app with the new key alone: the second factor and the webhook still work.
    let mut args = ServeArgs::default();
    args.connect.secret_key = Some(Secret::new(NEW_KEY));
    let next = TestApp::spawn_on_url(backend, &app.database_url, args).await;
    let client = TestApp::client();
    let r = next
        .sign_in(&client, "/login", &tech.user.email, PASSWORD)
        .await;
    assert_eq!(location(&r), "/login/2fa");
    let last: i64 = next.count("SELECT last_step FROM user_totp").await;
    let code = totp::format_code(totp::code_at(&seed, last + 1));
    let csrf = next.csrf_of(&client, "/login/2fa").await;
    let r = client
        .post(next.url("/login/2fa"))
        .form(&[("code", code.as_str()), ("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    next.services
        .channel_test(&admin, channel.id)
        .await
        .unwrap();
    let got = receiver.received().await;
    assert!(verify(
        got[0].signature.as_deref().unwrap(),
        "secreto-del-webhook-0123",
        &got[0].body
    ));
}
on_both!(rotation_seals_everything_under_the_new_key);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_logs_no_secret_of_the_company_connections() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("logs.db").display());
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = format!("http://127.0.0.1:{closed}");
    let secrets = [
        ("SOPORTE_SECRET_KEY", "clave-maestra-que-no-debe-verse-0001"),
        (
            "SOPORTE_OIDC_CLIENT_SECRET",
            "secreto-oidc-que-no-debe-verse",
        ),
        ("SOPORTE_LDAP_BIND_PASSWORD", "clave-ldap-que-no-debe-verse"),
        (
            "SOPORTE_MAIL_OAUTH_CLIENT_SECRET",
            "secreto-correo-que-no-debe-verse",
        ),
    ];
    let mut env: Vec<(&str, &str)> = secrets.to_vec();
    let ldap = format!("ldap://127.0.0.1:{closed}");
    let port = closed.to_string();
    env.extend([
        ("SOPORTE_OIDC_ISSUER", nowhere.as_str()),
        ("SOPORTE_OIDC_CLIENT_ID", "soporte"),
        ("SOPORTE_LDAP_URL", ldap.as_str()),
        ("SOPORTE_LDAP_BASE_DN", "dc=miempresa,dc=com"),
        ("SOPORTE_LDAP_BIND_DN", "cn=svc,dc=miempresa,dc=com"),
        ("SOPORTE_MAIL_OAUTH", "generic"),
        ("SOPORTE_MAIL_OAUTH_GRANT", "app"),
        ("SOPORTE_MAIL_OAUTH_CLIENT_ID", "soporte"),
        ("SOPORTE_MAIL_OAUTH_ISSUER", nowhere.as_str()),
        ("SOPORTE_IMAP_HOST", "127.0.0.1"),
        ("SOPORTE_IMAP_PORT", port.as_str()),
        ("SOPORTE_IMAP_TLS", "false"),
        ("SOPORTE_IMAP_USER", "soporte@miempresa.com"),
        ("SOPORTE_IMAP_INTERVAL", "1"),
        ("RUST_LOG", "debug,sqlx=warn,hyper=info,h2=info,rustls=info"),
    ]);
    let mut server = Binary::start(&db, &env).await;
    let c = TestApp::client();
    let r = c.get(server.url("/login/oidc")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("El proveedor de identidad no responde")
    );
    let html = c
        .get(server.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::helpers::csrf_in(&html).unwrap();
    let typed_password = "clave-tecleada-que-no-debe-verse";
    let r = c
        .post(server.url("/login"))
        .form(&[
            ("email", "jperez"),
            ("password", typed_password),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Let the poller try (and fail) to get its token a few times.
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.signal("TERM");
    server.wait_exit(Duration::from_secs(30)).await;
    let log = server.log_text();
    assert!(log.contains("mailbox poll failed"), "the poller ran: {log}");
    for (name, value) in secrets.iter().chain([("typed", typed_password)].iter()) {
        assert!(!log.contains(value), "{name} reached the log:\n{log}");
    }
}

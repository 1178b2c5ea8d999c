//! OAuth2 mail against real servers: Dovecot with its `oauth2` passdb, which checks every
//! XOAUTH2/OAUTHBEARER token at the test's `oidc-provider` (token introspection), for IMAP
//! and for SMTP (Dovecot's submission service, relaying to the tests' SMTP sink). Delegated
//! (an administrator connects the mailbox through the provider's pages) and app-only
//! (client credentials); tokens refreshed and the refresh token rotated, across a restart;
//! the mailbox's health, the banner, the alert e-mail, `/healthz?detail=1` and `/metrics`.

use crate::helpers::{Browser, TestApp, assert_redirect_to, location};
use crate::idp::{CLIENT_ID, CLIENT_SECRET, DOVECOT_CLIENT, DOVECOT_SECRET, Idp, Person, walk};
use crate::mail::{SmtpSink, eml};
use crate::sso::on_both;
use reqwest::StatusCode;
use serde_json::{Value, json};
use soporte::config::{Secret, ServeArgs};
use soporte::domain::secrets::{Keyring, SecretKey};
use soporte::domain::user::Role;
use soporte::mail::outbound::SmtpConfig;
use soporte::mail::poller::{ImapConfig, poll_once};
use soporte::storage::Backend;
use std::time::Duration;

pub const KEY: &str = "clave-de-las-pruebas-de-soporte-0123456789";
pub const MAILBOX: &str = "soporte@prueba.test";
const PLAIN_PASSWORD: &str = "clave-imap-de-prueba";

/// Debian's Dovecot on 127.0.0.1: IMAP and submission (relaying to `relay_port`), tokens
/// checked by the `oauth2` passdb at the provider's introspection endpoint; a passwd-file
/// user (plain password) for the test itself to put messages in.
pub struct OAuthDovecot {
    pub imap_port: u16,
    pub submission_port: u16,
    child: std::process::Child,
    pub dir: tempfile::TempDir,
}

impl Drop for OAuthDovecot {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl OAuthDovecot {
    /// `None` (with the reason printed) only outside CI when Dovecot is not installed.
    pub async fn start(idp: &Idp, relay_port: u16) -> Option<OAuthDovecot> {
        let binary = "/usr/sbin/dovecot";
        let submission = std::path::Path::new("/usr/lib/dovecot/submission");
        if !std::path::Path::new(binary).exists() || !submission.exists() {
            if std::env::var("CI").is_ok() {
                panic!(
                    "Dovecot is required in CI (apt-get install dovecot-imapd dovecot-submissiond)"
                );
            }
            eprintln!("SKIPPED (Dovecot or its submission service not installed, CI unset)");
            return None;
        }
        for _ in 0..5 {
            if let Some(d) = Self::try_start(binary, idp, relay_port).await {
                return Some(d);
            }
        }
        panic!("Dovecot did not start");
    }

    async fn try_start(binary: &str, idp: &Idp, relay_port: u16) -> Option<OAuthDovecot> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        for sub in ["mail", "run", "state"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        assert!(
            std::process::Command::new("chown")
                .args(["-R", "mail:mail"])
                .arg(d.join("mail"))
                .status()
                .unwrap()
                .success()
        );
        std::fs::write(
            d.join("passwd"),
            format!("{MAILBOX}:{{PLAIN}}{PLAIN_PASSWORD}\n"),
        )
        .unwrap();
        std::fs::write(
            d.join("oauth2.conf.ext"),
            format!(
                "introspection_mode = post\n\
                 introspection_url = http://{DOVECOT_CLIENT}:{DOVECOT_SECRET}@{}/token/introspection\n\
                 username_attribute = username\nactive_attribute = active\nactive_value = true\n\
                 force_introspection = yes\n",
                idp.host_port()
            ),
        )
        .unwrap();
        let (imap_port, submission_port) = (free_port(), free_port());
        let p = d.display();
        let conf = format!(
            "protocols = imap submission\nlisten = 127.0.0.1\nbase_dir = {p}/run\nstate_dir = {p}/state\n\
             log_path = {p}/dovecot.log\nssl = no\ndisable_plaintext_auth = no\n\
             auth_mechanisms = plain login xoauth2 oauthbearer\nmail_location = maildir:{p}/mail/%u\n\
             first_valid_uid = 1\ndefault_internal_user = mail\ndefault_internal_group = mail\n\
             default_login_user = mail\nhostname = prueba.test\n\
             submission_relay_host = 127.0.0.1\nsubmission_relay_port = {relay_port}\nsubmission_relay_trusted = yes\n\
             passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {p}/oauth2.conf.ext\n}}\n\
             passdb {{\n  driver = passwd-file\n  mechanisms = plain login\n  args = scheme=PLAIN username_format=%u {p}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid=mail gid=mail home={p}/mail/%u\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {imap_port}\n  }}\n  \
             inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service submission-login {{\n  inet_listener submission {{\n    address = 127.0.0.1\n    port = {submission_port}\n  }}\n}}\n"
        );
        std::fs::write(d.join("dovecot.conf"), conf).unwrap();
        let child = std::process::Command::new(binary)
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .arg("-F")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut dovecot = OAuthDovecot {
            imap_port,
            submission_port,
            child,
            dir,
        };
        for _ in 0..100 {
            if let Ok(Some(_)) = dovecot.child.try_wait() {
                return None;
            }
            if dovecot.session().await.is_some()
                && tokio::net::TcpStream::connect(("127.0.0.1", submission_port))
                    .await
                    .is_ok()
            {
                return Some(dovecot);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    async fn session(&self) -> Option<async_imap::Session<tokio::net::TcpStream>> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.imap_port))
            .await
            .ok()?;
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.ok()??;
        client.login(MAILBOX, PLAIN_PASSWORD).await.ok()
    }

    pub async fn append(&self, raw: &[u8]) {
        let mut s = self.session().await.unwrap();
        s.append("INBOX", None, None, raw).await.unwrap();
        s.logout().await.unwrap();
    }

    pub async fn unseen(&self) -> usize {
        let mut s = self.session().await.unwrap();
        s.select("INBOX").await.unwrap();
        let n = s.uid_search("UNSEEN").await.unwrap().len();
        s.logout().await.unwrap();
        n
    }

    /// Dovecot's log (who logged in, with which mechanism).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

/// soporte's settings for this Dovecot and provider.
pub fn mail_args(idp: &Idp, dovecot: &OAuthDovecot, grant: &str, mechanism: &str) -> ServeArgs {
    let mut a = ServeArgs::default();
    a.connect.secret_key = Some(Secret::new(KEY));
    let m = &mut a.mail;
    m.imap_host = Some("127.0.0.1".into());
    m.imap_port = Some(dovecot.imap_port);
    m.imap_tls = false;
    m.imap_user = Some(MAILBOX.into());
    m.imap_interval = 1;
    m.smtp_host = Some("127.0.0.1".into());
    m.smtp_port = Some(dovecot.submission_port);
    m.smtp_tls = "none".into();
    m.smtp_user = Some(MAILBOX.into());
    m.smtp_from = format!("Soporte <{MAILBOX}>");
    m.mail_oauth = Some("generic".into());
    m.mail_oauth_grant = grant.into();
    m.mail_oauth_client_id = Some(CLIENT_ID.into());
    m.mail_oauth_client_secret = Some(Secret::new(CLIENT_SECRET));
    m.mail_oauth_issuer = Some(idp.issuer.clone());
    m.mail_oauth_mechanism = mechanism.into();
    if grant == "app" {
        m.mail_oauth_scopes = Some("mail".into());
    }
    a
}

fn keyring() -> Keyring {
    Keyring::new(SecretKey::derive(KEY).unwrap(), None)
}

/// The refresh token as stored (sealed) and opened with the test key.
async fn stored_refresh_token(app: &TestApp) -> (String, String) {
    let sealed: String = sqlx::query_scalar("SELECT refresh_token FROM mail_oauth")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    let plain = keyring()
        .open_text(&sealed, "mail_oauth.refresh_token")
        .unwrap();
    (sealed, plain)
}

/// An administrator connects the mailbox through the provider's pages as `login`.
pub async fn connect_mailbox(app: &TestApp, idp: &Idp, admin: &Browser, login: &str) -> String {
    let r = admin.get("/admin/mail/connect").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    assert!(
        to.starts_with(&idp.issuer) && to.contains("code_challenge_method=S256"),
        "{to}"
    );
    let back = walk(&admin.client, idp, &to, login).await;
    assert!(back.starts_with(&app.url("/admin/mail/callback")), "{back}");
    let r = admin.client.get(&back).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    assert_eq!(location(&r), "/admin/mail");
    back
}

fn mailbox_person() -> Vec<Person<'static>> {
    vec![Person {
        login: "buzon",
        email: MAILBOX,
        verified: true,
        name: "Buzón de soporte",
        groups: &[],
    }]
}

async fn a_connected_mailbox_works_by_oauth2_and_its_refresh_token_rotates_across_a_restart(
    backend: Backend,
) {
    // Access tokens live two minutes: less than the five-minute margin, so every use of
    // the mailbox refreshes (and rotates) — what happens hourly in production.
    let Some(idp) = Idp::start(&mailbox_person(), json!({"AccessToken": 120}), MAILBOX) else {
        return;
    };
    let sink = SmtpSink::start().await;
    let Some(dovecot) = OAuthDovecot::start(&idp, sink.port).await else {
        return;
    };
    let args = mail_args(&idp, &dovecot, "delegated", "xoauth2");
    let Some(app) = TestApp::spawn_with(backend, args.clone()).await else {
        return;
    };
    let admin = app.signed_in(Role::Admin, "Admin Correo").await;
    let (_, page) = admin.get_html("/admin/mail").await;
    assert!(
        page.contains("Sin conectar") && page.contains("Conectar buzón"),
        "{page}"
    );

    let callback = connect_mailbox(&app, &idp, &admin, "buzon").await;
    let (_, page) = admin.get_html("/admin/mail").await;
    assert!(
        page.contains("Buzón conectado con la cuenta soporte@prueba.test"),
        "{page}"
    );
    assert!(
        page.contains("Conectado") && page.contains("configurado"),
        "{page}"
    );
    let (sealed_1, refresh_1) = stored_refresh_token(&app).await;
    assert!(sealed_1.starts_with(&format!("v1.{}.", keyring().current_id())));
    assert!(
        !sealed_1.contains(&refresh_1),
        "sealed, not stored in clear"
    );
    assert!(!page.contains(&refresh_1), "the page never shows a token");
    // The callback works once.
    let r = admin.client.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("ya se usó"));

    // Reading: one poll signs in with XOAUTH2 and files the message.
    dovecot
        .append(&eml(
            "cliente@dominio.com",
            "Sin internet",
            "<oauth-1@dominio.com>",
            "",
            "No hay red.",
        ))
        .await;
    let imap = ImapConfig::from_args(&args.mail).unwrap().unwrap();
    assert!(imap.oauth);
    let report = poll_once(&app.services, &imap, "prueba").await.unwrap();
    assert_eq!(report.filed, 1, "{report:?}");
    assert_eq!(dovecot.unseen().await, 0);
    assert!(
        dovecot
            .log()
            .contains(&format!("user=<{MAILBOX}>, method=XOAUTH2")),
        "{}",
        dovecot.log()
    );
    let (_, refresh_2) = stored_refresh_token(&app).await;
    assert_ne!(
        refresh_2, refresh_1,
        "the refresh token rotated and the new one is kept"
    );
    let rotations: i64 = app.count("SELECT rotations FROM mail_oauth").await;
    assert!(rotations >= 1);

    // Sending: "Probar conexión" reads the folder and sends through Dovecot's submission
    // service (XOAUTH2), which relays to the sink.
    let r = admin.post_form("/admin/mail/test", &[]).await;
    assert_redirect_to(&r, "/admin/mail");
    let (_, page) = admin.get_html("/admin/mail").await;
    assert_eq!(page.matches("correcto.").count(), 2, "{page}");
    // Shown once: a refresh neither tests again nor shows the result again.
    let (_, again) = admin.get_html("/admin/mail").await;
    assert!(!again.contains("Resultado de la prueba"), "{again}");
    assert!(page.contains("se envió un mensaje de prueba"), "{page}");
    let sent = sink.messages().await;
    assert!(
        sent.iter()
            .any(|m| String::from_utf8_lossy(m).contains("mensaje de prueba")),
        "the sink got the test message"
    );
    assert!(
        dovecot.log().contains("submission-login: Info: Login"),
        "{}",
        dovecot.log()
    );

    // A restart: a new process on the same database uses the stored (rotated) token.
    let refresh_before_restart = stored_refresh_token(&app).await.1;
    // The first process stops: it lets go of the poller's lease, as the server does.
    app.services
        .release_lease("imap-poller", "prueba")
        .await
        .unwrap();
    let restarted = TestApp::spawn_on_url(backend, &app.database_url, args.clone()).await;
    dovecot
        .append(&eml(
            "cliente@dominio.com",
            "Impresora",
            "<oauth-2@dominio.com>",
            "",
            "Atascada.",
        ))
        .await;
    let report = poll_once(&restarted.services, &imap, "otra-instancia")
        .await
        .unwrap();
    assert_eq!(report.filed, 1);
    let refresh_after = stored_refresh_token(&restarted).await.1;
    assert_ne!(refresh_after, refresh_before_restart);

    // The first refresh token was consumed by its rotation: the provider refuses it.
    let (status, answer) = idp.refresh(&refresh_1).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "invalid_grant");
    // The provider took that replay as a stolen token and revoked the whole grant: the next
    // refresh fails, and the mailbox says so in words an administrator can act on.
    let e = poll_once(&restarted.services, &imap, "otra-instancia")
        .await
        .unwrap_err();
    let words = e.spanish(&imap);
    assert!(words.contains("vuelva a conectar el buzón"), "{words}");
}
on_both!(a_connected_mailbox_works_by_oauth2_and_its_refresh_token_rotates_across_a_restart);

async fn app_only_credentials_open_the_shared_mailbox_with_oauthbearer(backend: Backend) {
    let Some(idp) = Idp::start(&[], json!({}), MAILBOX) else {
        return;
    };
    let sink = SmtpSink::start().await;
    let Some(dovecot) = OAuthDovecot::start(&idp, sink.port).await else {
        return;
    };
    let args = mail_args(&idp, &dovecot, "app", "oauthbearer");
    let Some(app) = TestApp::spawn_with(backend, args.clone()).await else {
        return;
    };
    dovecot
        .append(&eml(
            "cliente@dominio.com",
            "Correo compartido",
            "<app-1@dominio.com>",
            "",
            "Hola.",
        ))
        .await;
    let imap = ImapConfig::from_args(&args.mail).unwrap().unwrap();
    let report = poll_once(&app.services, &imap, "prueba").await.unwrap();
    assert_eq!(report.filed, 1);
    assert!(
        dovecot
            .log()
            .contains(&format!("user=<{MAILBOX}>, method=OAUTHBEARER")),
        "{}",
        dovecot.log()
    );
    // No user token: nothing to refresh, the access token is kept sealed for the others.
    let refresh: Option<String> = sqlx::query_scalar("SELECT refresh_token FROM mail_oauth")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert!(refresh.is_none());
    let smtp = SmtpConfig::from_args(&args.mail, &args.public_url)
        .unwrap()
        .unwrap();
    soporte::mail::outbound::check(&app.services, &smtp, "jefe@miempresa.com")
        .await
        .unwrap();
    assert_eq!(sink.messages().await.len(), 1);
    let admin = app.signed_in(Role::Admin, "Admin").await;
    let (_, page) = admin.get_html("/admin/mail").await;
    assert!(
        page.contains("de aplicación (credenciales de cliente)"),
        "{page}"
    );
    assert!(
        !page.contains("Conectar buzón"),
        "nothing to connect with app-only access"
    );
}
on_both!(app_only_credentials_open_the_shared_mailbox_with_oauthbearer);

async fn a_mailbox_that_fails_says_so_everywhere_and_alerts_the_administrators(backend: Backend) {
    let Some(idp) = Idp::start(&mailbox_person(), json!({}), MAILBOX) else {
        return;
    };
    let sink = SmtpSink::start().await;
    let Some(dovecot) = OAuthDovecot::start(&idp, sink.port).await else {
        return;
    };
    // Reading by password, a wrong one; sending straight to the sink.
    let mut args = mail_args(&idp, &dovecot, "delegated", "xoauth2");
    args.mail.mail_oauth = None;
    args.mail.imap_password = Some(Secret::new("no-es-la-clave"));
    args.mail.smtp_port = Some(sink.port);
    args.mail.smtp_user = None;
    let start = soporte::domain::time::now();
    let Some(app) = TestApp::spawn_with_at(backend, args.clone(), start).await else {
        return;
    };
    let admin = app.signed_in(Role::Admin, "Admin Alerta").await;
    let tech = app.signed_in(Role::Technician, "Técnico").await;

    let r = admin.post_form("/admin/mail/test", &[]).await;
    assert_redirect_to(&r, "/admin/mail");
    let (_, page) = admin.get_html("/admin/mail").await;
    assert!(page.contains("rechazó el inicio de sesión"), "{page}");
    assert!(page.contains("se envió un mensaje de prueba"), "{page}");

    let health: Value = TestApp::client()
        .get(app.url("/healthz?detail=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["checks"]["database"]["status"], "ok");
    assert_eq!(health["checks"]["mail_fetch"]["status"], "failing");
    assert!(
        health["checks"]["mail_fetch"]["last_error"]
            .as_str()
            .unwrap()
            .contains("rechazó el inicio de sesión")
    );
    assert_eq!(health["checks"]["mail_send"]["status"], "ok");
    let plain = TestApp::client()
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(plain.text().await.unwrap(), "ok");
    let metrics = TestApp::client()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("soporte_mail_fetch_ok 0"), "{metrics}");
    assert!(metrics.contains("soporte_mail_send_ok 1"), "{metrics}");
    assert!(
        metrics.contains(&format!("soporte_mail_send_last_success_seconds {start}")),
        "{metrics}"
    );

    // Fifteen minutes on: a banner for administrators on every page, and one e-mail each.
    app.clock.advance(16 * 60);
    let (_, page) = admin.get_html("/").await;
    assert!(
        page.contains("El buzón de soporte falla desde hace más de 15 minutos"),
        "{page}"
    );
    let (_, page) = admin.get_html("/dashboard").await;
    assert!(page.contains("no se pueden leer los correos entrantes"));
    let (_, page) = tech.get_html("/").await;
    assert!(
        !page.contains("El buzón de soporte falla"),
        "technicians are not told"
    );
    let smtp = SmtpConfig::from_args(&args.mail, &args.public_url)
        .unwrap()
        .unwrap();
    let before = sink.messages().await.len();
    let sent = soporte::mail::watch::alert_once(&app.services, Some(&smtp), "vigia").await;
    assert!(sent >= 1);
    let alerts: Vec<String> = sink.messages().await[before..]
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    assert!(
        alerts.iter().any(|m| m.contains(&admin.user.email)),
        "{alerts:?}"
    );
    assert!(alerts.iter().all(|m| !m.contains(&tech.user.email)));
    assert!(alerts[0].contains("rechaz"), "{}", alerts[0]);
    // Once per failure.
    assert_eq!(
        soporte::mail::watch::alert_once(&app.services, Some(&smtp), "vigia").await,
        0
    );

    // Fixed: the next check clears the banner.
    let mut fixed = args.clone();
    fixed.mail.imap_password = None;
    fixed.mail.mail_oauth = None;
    fixed.mail.imap_password = Some(Secret::new(PLAIN_PASSWORD));
    let imap = ImapConfig::from_args(&fixed.mail).unwrap().unwrap();
    soporte::mail::poller::check(&app.services, &imap)
        .await
        .unwrap();
    app.services
        .record_mail_health(soporte::domain::mailbox::Direction::Fetch, Ok(()))
        .await
        .unwrap();
    let (_, page) = admin.get_html("/").await;
    assert!(!page.contains("El buzón de soporte falla"));
}
on_both!(a_mailbox_that_fails_says_so_everywhere_and_alerts_the_administrators);

#[test]
fn oauth2_mail_refuses_to_start_without_the_secret_key() {
    let mut args = ServeArgs::default();
    args.mail.mail_oauth = Some("microsoft".into());
    args.mail.mail_oauth_client_id = Some("id".into());
    args.mail.mail_oauth_client_secret = Some(Secret::new("s"));
    let e = soporte::service::connect::Connect::from_args(&args).unwrap_err();
    assert!(e.contains("SOPORTE_SECRET_KEY"), "{e}");
    args.connect.secret_key = Some(Secret::new("corta"));
    let e = soporte::service::connect::Connect::from_args(&args).unwrap_err();
    assert!(e.contains("32"), "{e}");
    args.connect.secret_key = Some(Secret::new(KEY));
    assert!(soporte::service::connect::Connect::from_args(&args).is_ok());
}

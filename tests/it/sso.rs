//! Single sign-on against a real OpenID provider (`oidc-provider`, started by the test):
//! sign-in with PKCE, groups mapped to roles, unknown people refused unless automatic
//! accounts are on, disabled accounts kept out, a wrong nonce, an expired ID token, a
//! replayed callback and an unverified e-mail refused — each with a Spanish message.

use crate::helpers::{PASSWORD, TestApp, location};
use crate::idp::{CLIENT_ID, CLIENT_SECRET, Idp, Person, walk};
use reqwest::StatusCode;
use serde_json::json;
use soporte::config::{Secret, ServeArgs};
use soporte::domain::user::Role;
use soporte::service::accounts::{InitialPassword, ProfileInput};
use soporte::storage::Backend;

pub const ROLE_MAP: &str = "TI-Admins=admin,TI-Derivadores=dispatcher,TI-Soporte=technician";

pub fn sso_args(idp: &Idp, auto_create: bool) -> ServeArgs {
    let mut a = ServeArgs::default();
    a.connect.oidc_issuer = Some(idp.issuer.clone());
    a.connect.oidc_client_id = Some(CLIENT_ID.into());
    a.connect.oidc_client_secret = Some(Secret::new(CLIENT_SECRET));
    a.connect.oidc_role_map = ROLE_MAP.into();
    a.connect.oidc_auto_create = auto_create;
    a.connect.oidc_scopes = "openid email profile groups".into();
    a.connect.oidc_label = Some("Proveedor de Prueba".into());
    a
}

fn people() -> Vec<Person<'static>> {
    vec![
        Person {
            login: "ana",
            email: "ana.sso@miempresa.com",
            verified: true,
            name: "Ana Quispe",
            groups: &["Todos", "TI-Admins"],
        },
        Person {
            login: "beto",
            email: "beto.sso@miempresa.com",
            verified: true,
            name: "Beto Ramos",
            groups: &["TI-Derivadores"],
        },
        Person {
            login: "carla",
            email: "carla.sso@miempresa.com",
            verified: true,
            name: "Carla Díaz",
            groups: &["Ventas"],
        },
        Person {
            login: "dario",
            email: "dario.sso@miempresa.com",
            verified: false,
            name: "Darío Soto",
            groups: &["TI-Soporte"],
        },
    ]
}

pub async fn account(
    app: &TestApp,
    email: &str,
    name: &str,
    role: Role,
) -> soporte::domain::user::User {
    app.services
        .create_user(
            &ProfileInput {
                name: name.into(),
                email: email.into(),
                ..ProfileInput::default()
            },
            role,
            InitialPassword::Chosen(PASSWORD.into()),
        )
        .await
        .unwrap()
        .0
}

/// A browser goes through `/login/oidc`, the provider's pages as `login`, and back; the
/// callback's answer.
pub async fn sign_in_with_provider(
    app: &TestApp,
    idp: &Idp,
    client: &reqwest::Client,
    login: &str,
) -> reqwest::Response {
    let r = client.get(app.url("/login/oidc")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    assert!(to.starts_with(&idp.issuer), "{to}");
    for p in [
        "code_challenge_method=S256",
        "code_challenge=",
        "nonce=",
        "state=",
    ] {
        assert!(to.contains(p), "the authorization request has {p}: {to}");
    }
    let back = walk(client, idp, &to, login).await;
    assert!(back.starts_with(&app.url("/login/oidc/callback")), "{back}");
    client.get(back).send().await.unwrap()
}

async fn html(r: reqwest::Response) -> (StatusCode, String) {
    let s = r.status();
    (s, r.text().await.unwrap())
}

macro_rules! on_both {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$scenario(soporte::storage::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$scenario(soporte::storage::Backend::Postgres).await;
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both;

async fn a_known_person_signs_in_and_their_groups_set_the_role(backend: Backend) {
    let Some(idp) = Idp::start(&people(), json!({}), "soporte@prueba.test") else {
        return;
    };
    let Some(app) = TestApp::spawn_with(backend, sso_args(&idp, false)).await else {
        return;
    };
    let ana = account(
        &app,
        "ana.sso@miempresa.com",
        "Ana Quispe",
        Role::Technician,
    )
    .await;
    let client = TestApp::client();
    let login = client
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        login.contains("Ingresar con Proveedor de Prueba"),
        "{login}"
    );
    assert!(login.contains("href=\"/login/oidc\""));

    let r = sign_in_with_provider(&app, &idp, &client, "ana").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    // Signed in, as an administrator now (TI-Admins), with the session cookie.
    let (s, page) = html(
        client
            .get(app.url("/admin/technicians"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(page.contains("Ana Quispe"));
    let now = app.services.user(ana.id).await.unwrap();
    assert_eq!(now.role, Role::Admin);
    assert!(now.last_login_at.is_some());
    let subject: i64 = app
        .count("SELECT COUNT(*) FROM user_identities WHERE provider = 'oidc' AND subject = 'ana'")
        .await;
    assert_eq!(subject, 1);
    // The local password still works beside single sign-on.
    let other = TestApp::client();
    let r = app
        .sign_in(&other, "/login", "ana.sso@miempresa.com", PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}
on_both!(a_known_person_signs_in_and_their_groups_set_the_role);

async fn unknown_people_are_refused_unless_automatic_accounts_are_on(backend: Backend) {
    let Some(idp) = Idp::start(&people(), json!({}), "soporte@prueba.test") else {
        return;
    };
    let Some(app) = TestApp::spawn_with(backend, sso_args(&idp, false)).await else {
        return;
    };
    let users_before = app.count("SELECT COUNT(*) FROM users").await;
    let client = TestApp::client();
    let (s, page) = html(sign_in_with_provider(&app, &idp, &client, "beto").await).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        page.contains("No hay una cuenta de la mesa de ayuda con su correo"),
        "{page}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, users_before);
    assert!(
        client
            .get(app.url("/"))
            .send()
            .await
            .unwrap()
            .status()
            .is_redirection(),
        "not signed in"
    );

    // With automatic accounts: created with the role its groups give.
    let Some(auto) = TestApp::spawn_with(backend, sso_args(&idp, true)).await else {
        return;
    };
    let client = TestApp::client();
    let r = sign_in_with_provider(&auto, &idp, &client, "beto").await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let beto = auto
        .services
        .user_by_email("beto.sso@miempresa.com")
        .await
        .unwrap();
    assert_eq!(
        (beto.role, beto.name.as_str()),
        (Role::Dispatcher, "Beto Ramos")
    );
    assert!(!beto.must_change_password);
    // A created account has no local password anyone knows.
    let r = auto
        .sign_in(
            &TestApp::client(),
            "/login",
            "beto.sso@miempresa.com",
            "!external",
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Someone in no mapped group gets no account even so.
    let (s, page) =
        html(sign_in_with_provider(&auto, &idp, &TestApp::client(), "carla").await).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        page.contains("no pertenece a ningún grupo autorizado"),
        "{page}"
    );
    assert!(
        auto.services
            .user_by_email("carla.sso@miempresa.com")
            .await
            .is_err()
    );
}
on_both!(unknown_people_are_refused_unless_automatic_accounts_are_on);

async fn a_disabled_account_stays_disabled_and_an_unverified_email_is_refused(backend: Backend) {
    let Some(idp) = Idp::start(&people(), json!({}), "soporte@prueba.test") else {
        return;
    };
    let Some(app) = TestApp::spawn_with(backend, sso_args(&idp, true)).await else {
        return;
    };
    let admin = account(&app, "jefa@miempresa.com", "Jefa", Role::Admin).await;
    let ana = account(
        &app,
        "ana.sso@miempresa.com",
        "Ana Quispe",
        Role::Technician,
    )
    .await;
    app.services
        .set_active(&admin, ana.id, false)
        .await
        .unwrap();
    let (s, page) = html(sign_in_with_provider(&app, &idp, &TestApp::client(), "ana").await).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(page.contains("está desactivada"), "{page}");
    let ana = app.services.user(ana.id).await.unwrap();
    assert!(!ana.active);
    assert_eq!(ana.role, Role::Technician, "the groups changed nothing");

    let (s, page) =
        html(sign_in_with_provider(&app, &idp, &TestApp::client(), "dario").await).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(page.contains("no confirma que el correo"), "{page}");
    assert!(
        app.services
            .user_by_email("dario.sso@miempresa.com")
            .await
            .is_err()
    );
}
on_both!(a_disabled_account_stays_disabled_and_an_unverified_email_is_refused);

async fn a_wrong_nonce_a_replayed_callback_and_a_foreign_browser_are_refused(backend: Backend) {
    let Some(idp) = Idp::start(&people(), json!({}), "soporte@prueba.test") else {
        return;
    };
    let Some(app) = TestApp::spawn_with(backend, sso_args(&idp, false)).await else {
        return;
    };
    account(
        &app,
        "ana.sso@miempresa.com",
        "Ana Quispe",
        Role::Technician,
    )
    .await;

    // The provider signs a token for another nonce than the one this sign-in sent.
    let client = TestApp::client();
    let r = client.get(app.url("/login/oidc")).send().await.unwrap();
    let to = location(&r);
    let nonce_at = to.find("nonce=").unwrap() + "nonce=".len();
    let nonce_end = to[nonce_at..]
        .find('&')
        .map(|e| e + nonce_at)
        .unwrap_or(to.len());
    let forged = format!("{}otro-nonce{}", &to[..nonce_at], &to[nonce_end..]);
    let back = walk(&client, &idp, &forged, "ana").await;
    let (s, page) = html(client.get(&back).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        page.contains("no corresponde a este inicio de sesión"),
        "{page}"
    );
    assert!(
        client
            .get(app.url("/"))
            .send()
            .await
            .unwrap()
            .status()
            .is_redirection()
    );

    // A good sign-in, then the same callback again: single use.
    let client = TestApp::client();
    let r = client.get(app.url("/login/oidc")).send().await.unwrap();
    let back = walk(&client, &idp, &location(&r), "ana").await;
    assert_eq!(
        client.get(&back).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    let (s, page) = html(client.get(&back).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("ya se usó"), "{page}");

    // A callback carried to another browser (login CSRF): refused, nothing signed in.
    let victim = TestApp::client();
    let attacker = TestApp::client();
    let r = attacker.get(app.url("/login/oidc")).send().await.unwrap();
    let back = walk(&attacker, &idp, &location(&r), "ana").await;
    let (s, _) = html(victim.get(&back).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        victim
            .get(app.url("/"))
            .send()
            .await
            .unwrap()
            .status()
            .is_redirection()
    );

    // A state nobody issued.
    let (s, page) = html(
        TestApp::client()
            .get(app.url("/login/oidc/callback?state=inventado&code=x"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Vuelva a ingresar"), "{page}");
    let (s, _) = html(
        TestApp::client()
            .get(app.url("/login/oidc/callback?%zz"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}
on_both!(a_wrong_nonce_a_replayed_callback_and_a_foreign_browser_are_refused);

async fn an_expired_id_token_is_refused(backend: Backend) {
    let Some(idp) = Idp::start(&people(), json!({"IdToken": 300}), "soporte@prueba.test") else {
        return;
    };
    // soporte's clock is an hour ahead of the provider's tokens: they expired long ago.
    let start = soporte::domain::time::now() + 3600;
    let Some(app) = TestApp::spawn_with_at(backend, sso_args(&idp, false), start).await else {
        return;
    };
    account(
        &app,
        "ana.sso@miempresa.com",
        "Ana Quispe",
        Role::Technician,
    )
    .await;
    let (s, page) = html(sign_in_with_provider(&app, &idp, &TestApp::client(), "ana").await).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(page.contains("caducó"), "{page}");
}
on_both!(an_expired_id_token_is_refused);

#[test]
fn automatic_accounts_need_a_role_map() {
    let mut a = ServeArgs::default();
    a.connect.oidc_issuer = Some("https://accounts.google.com".into());
    a.connect.oidc_client_id = Some("id".into());
    a.connect.oidc_client_secret = Some(Secret::new("s"));
    a.connect.oidc_auto_create = true;
    let e = soporte::service::connect::Connect::from_args(&a).unwrap_err();
    assert!(e.contains("SOPORTE_OIDC_ROLE_MAP"), "{e}");
    a.connect.oidc_role_map = ROLE_MAP.into();
    assert!(soporte::service::connect::Connect::from_args(&a).is_ok());
    a.connect.oidc_role_map = "TI-Admins=root".into();
    assert!(soporte::service::connect::Connect::from_args(&a).is_err());
}

async fn local_passwords_can_be_kept_for_administrators_only(backend: Backend) {
    let Some(idp) = Idp::start(&people(), json!({}), "soporte@prueba.test") else {
        return;
    };
    let mut args = sso_args(&idp, false);
    args.connect.local_passwords = "admins".into();
    let Some(app) = TestApp::spawn_with(backend, args).await else {
        return;
    };
    let tech = account(
        &app,
        "tec.local@miempresa.com",
        "Técnico Local",
        Role::Technician,
    )
    .await;
    let boss = account(&app, "jefe.local@miempresa.com", "Jefe Local", Role::Admin).await;
    let r = app
        .sign_in(&TestApp::client(), "/login", &tech.email, PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let page = r.text().await.unwrap();
    assert!(page.contains("contraseña local está desactivado"), "{page}");
    assert!(page.contains("Ingresar con Proveedor de Prueba"));
    let r = app
        .sign_in(&TestApp::client(), "/login", &boss.email, PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}
on_both!(local_passwords_can_be_kept_for_administrators_only);

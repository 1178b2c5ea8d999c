//! Signing in when it goes wrong: a wrong password, then the lock after five failures.

use crate::app::{App, PASSWORD};
use crate::harness::Browser;
use crate::journeys::sign_in;
use soporte::domain::user::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_and_five_failures_lock_the_account() {
    let app = App::spawn().await;
    let Some(b) = Browser::open(&app.base, 1280).await else {
        return;
    };
    app.user(
        Role::Technician,
        "Rosa Huamán",
        "rosa.huaman@miempresa.com",
        "Redes",
    )
    .await;

    sign_in(
        &b,
        "/login/technician",
        "rosa.huaman@miempresa.com",
        "no-es-esta",
    )
    .await;
    b.wait_text("Correo o contraseña incorrectos.").await;
    assert_eq!(b.path().await, "/login/technician");
    // The address stays typed; the password does not.
    assert_eq!(
        b.js("return [document.querySelector('#email').value, document.querySelector('#password').value]")
            .await,
        serde_json::json!(["rosa.huaman@miempresa.com", ""])
    );

    for attempt in 2..=5 {
        sign_in(
            &b,
            "/login/technician",
            "rosa.huaman@miempresa.com",
            &format!("intento-{attempt}"),
        )
        .await;
        b.wait_text("Correo o contraseña incorrectos.").await;
    }
    // Locked: even the right password is refused now, with the throttling message.
    sign_in(
        &b,
        "/login/technician",
        "rosa.huaman@miempresa.com",
        PASSWORD,
    )
    .await;
    b.wait_text("Demasiados intentos fallidos").await;
    assert_eq!(b.path().await, "/login/technician");
    b.goto("/").await;
    b.wait_path("/login").await;
    b.close().await;
}

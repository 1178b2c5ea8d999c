//! The technician's day on one ticket page (issue 15): changes by others arrive live as a
//! banner without touching what she is typing, a ticket newly assigned to her is heard
//! without a reload, and a real conflict brings the page back with her draft and a sentence
//! saying what changed. Screenshots of the banner and of the conflict at 1280 and 375 px.

use crate::accessibility::page_problems;
use crate::app::{App, PASSWORD};
use crate::harness::{Browser, screenshot_dir};
use crate::journeys::sign_in;
use crate::layout::layout_problems;
use soporte::domain::classification::Priority;
use soporte::domain::user::Role;
use soporte::service::tickets::Action;
use std::time::{Duration, Instant};

/// The value of a form field, read in the page.
async fn value_of(b: &Browser, css: &str) -> String {
    b.js(&format!("return document.querySelector('{css}').value"))
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_technician_sees_changes_live_and_a_conflict_keeps_her_draft() {
    let app = App::spawn().await;
    let Some(b) = Browser::open(&app.base, 1280).await else {
        return;
    };
    let admin = app
        .user(Role::Admin, "Carlos Ruiz", "carlos.ruiz@miempresa.com", "")
        .await;
    let ana = app
        .user(
            Role::Technician,
            "Ana Túpac",
            "ana.tupac@miempresa.com",
            "Redes",
        )
        .await;
    let ticket = app
        .ticket(
            &admin,
            "maria@cliente.pe",
            "Sin internet en el piso 3",
            "Se cayó la red.",
        )
        .await;
    app.act(&admin, ticket.id, Action::Assign { technician: ana.id })
        .await;

    sign_in(&b, "/login", &ana.email, PASSWORD).await;
    b.wait_path("/").await;
    let page = format!("/tickets/{}", ticket.id);
    b.goto(&page).await;
    b.wait_text("Sin internet en el piso 3").await;
    // Whatever the page hears from the live stream, kept to look at.
    b.js("window.__heard = []; document.addEventListener('soporte:incidencia', e => window.__heard.push(e.detail.number)); return null")
        .await;
    // Give the page's one event stream time to open before anyone acts (an EventSource
    // never shows in resource timing while it is open).
    tokio::time::sleep(Duration::from_secs(2)).await;

    // She starts typing the resolution.
    let draft = "Se reemplazó el switch del piso 3.";
    b.type_into("#close_resolution", draft).await;

    // Carlos writes a note: the banner appears, her draft is untouched.
    app.act(
        &admin,
        ticket.id,
        Action::Comment {
            body: "El proveedor confirmó el corte.".into(),
        },
    )
    .await;
    b.wait_text("Actualizada por Carlos Ruiz hace un momento — ver cambios")
        .await;
    assert_eq!(value_of(&b, "#close_resolution").await, draft);
    let dir = screenshot_dir();
    for width in [1280, 375] {
        b.resize(width, 900).await;
        b.screenshot_full_page(&dir.join(format!("incidencia-en-vivo-{width}.png")), width)
            .await;
    }
    b.resize(1280, 900).await;
    // "ver cambios" with a draft in a form: the fresh timeline comes in, the draft stays.
    b.click_text("p[@id='live-banner']", "ver cambios").await;
    b.wait_text("El proveedor confirmó el corte.").await;
    assert_eq!(b.path().await, page, "no navigation");
    assert_eq!(value_of(&b, "#close_resolution").await, draft);

    // A ticket newly assigned to her is heard on this page without a reload.
    let other = app
        .ticket(
            &admin,
            "jose@cliente.pe",
            "Impresora sin tóner",
            "No imprime.",
        )
        .await;
    app.act(&admin, other.id, Action::Assign { technician: ana.id })
        .await;
    let number = other.number().to_string();
    let start = Instant::now();
    loop {
        let heard = b.js("return window.__heard").await;
        if heard.to_string().contains(&number) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{number} was not heard: {heard}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Carlos changes the priority meanwhile; her close from the page she had is refused
    // with what changed, and her resolution is still in its field.
    app.act(
        &admin,
        ticket.id,
        Action::Classify {
            priority: Some(Priority::Alta),
            category: None,
        },
    )
    .await;
    b.follow("form[contains(@action,'/close')]", "Cerrar…")
        .await;
    b.wait_text(
        "Mientras escribía, Carlos Ruiz agregó una nota interna y cambió la prioridad o la categoría.",
    )
        .await;
    assert_eq!(value_of(&b, "#close_resolution").await, draft);
    let mut problems = Vec::new();
    for width in [1280, 375] {
        b.resize(width, 900).await;
        b.screenshot_full_page(
            &dir.join(format!("incidencia-conflicto-{width}.png")),
            width,
        )
        .await;
        for p in layout_problems(&b).await {
            problems.push(format!("conflict page at {width} px: {p}"));
        }
    }
    for p in page_problems(&b).await {
        problems.push(format!("conflict page: {p}"));
    }
    b.resize(1280, 900).await;
    // Sent again from the page as it is now: the confirmation, then closed.
    b.follow("form[contains(@action,'/close')]", "Cerrar…")
        .await;
    b.wait_text("¿Cerrar").await;
    for width in [1280, 375] {
        b.resize(width, 900).await;
        b.screenshot_full_page(&dir.join(format!("cerrar-confirmar-{width}.png")), width)
            .await;
        for p in layout_problems(&b).await {
            problems.push(format!("close confirmation at {width} px: {p}"));
        }
    }
    for p in page_problems(&b).await {
        problems.push(format!("close confirmation: {p}"));
    }
    b.resize(1280, 900).await;
    assert!(
        problems.is_empty(),
        "layout problems:\n{}",
        problems.join("\n")
    );
    b.follow("main", "Sí, cerrar la incidencia").await;
    b.wait_text("Incidencia cerrada.").await;
    assert_eq!(
        app.services
            .ticket(&admin.actor(), ticket.id)
            .await
            .unwrap()
            .0
            .resolution
            .as_deref(),
        Some(draft)
    );
    b.close().await;
}

//! Service levels in the browser: a dispatcher sets a ticket's priority and category and sees
//! its due badge change; the administrator shortens Friday in the calendar and the due time
//! moves to Monday; the list sorts by due and shows the badges. Screenshots of each page at
//! 1280 px and 375 px (`sla-*.png`).

use crate::app::{App, PASSWORD};
use crate::harness::{Browser, say, screenshot_dir};
use crate::journeys::sign_in;
use crate::layout::WIDTHS;
use soporte::domain::user::Role;

/// Fri 6 Nov 2026, 17:00 in Lima.
const FRIDAY_1700: i64 = 1_794_002_400;

async fn shots(b: &Browser, name: &str) {
    let dir = screenshot_dir();
    for width in WIDTHS {
        b.screenshot_full_page(&dir.join(format!("sla-{name}-{width}.png")), width)
            .await;
    }
    b.resize(WIDTHS[0], 900).await;
}

async fn facts_due(b: &Browser) -> String {
    b.find(".facts .badge.sla")
        .await
        .text()
        .await
        .expect("due badge")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_category_and_calendar_move_the_due_time() {
    let (app, _clock) = App::spawn_at(FRIDAY_1700).await;
    let admin = app
        .user(
            Role::Admin,
            "Patricia Flores",
            "patricia.flores@miempresa.com",
            "",
        )
        .await;
    let dispatcher = app
        .user(
            Role::Dispatcher,
            "Carla Mendoza",
            "carla.mendoza@miempresa.com",
            "",
        )
        .await;
    app.services
        .create_category(&admin.actor(), "Redes")
        .await
        .expect("category");
    let vpn = app
        .ticket(
            &dispatcher,
            "ana@cliente.pe",
            "VPN no conecta",
            "Tiempo de espera agotado.",
        )
        .await;
    app.ticket(
        &dispatcher,
        "luis@cliente.pe",
        "Impresora atascada",
        "Papel atascado.",
    )
    .await;
    let Some(d) = Browser::open(&app.base, WIDTHS[0]).await else {
        return;
    };
    sign_in(&d, "/login", &dispatcher.email, PASSWORD).await;
    d.wait_path("/").await;

    // Media: 60 business minutes from Friday 17:00 → 18:00 today.
    let page = format!("/tickets/{}", vpn.id.0);
    d.goto(&page).await;
    assert_eq!(facts_due(&d).await, "Asignación: vence en 1 h");
    d.wait_text("06/11/2026 18:00").await;
    shots(&d, "incidencia-media").await;

    // Crítica and Redes: 15 minutes, due at 17:15; a timeline event records it.
    d.choose("#classify_priority", "Crítica").await;
    d.choose("#classify_category", "Redes").await;
    d.follow("main", "Guardar prioridad y categoría").await;
    d.wait_text("Prioridad y categoría guardadas.").await;
    assert_eq!(facts_due(&d).await, "Asignación: vence en 15 min");
    d.wait_text("06/11/2026 17:15").await;
    d.wait_text("Prioridad: Media → Crítica").await;
    d.wait_text("Categoría: sin categoría → Redes").await;
    let text = d.text().await;
    assert!(text.contains("Crítica") && text.contains("Redes"), "{text}");
    shots(&d, "incidencia-critica").await;

    // The administrator ends Friday at 17:10: ten minutes today, five on Monday.
    let Some(a) = Browser::open(&app.base, WIDTHS[0]).await else {
        return;
    };
    sign_in(&a, "/login", &admin.email, PASSWORD).await;
    a.wait_path("/").await;
    a.follow("header", "Calendario").await;
    a.wait_text("Horario de atención").await;
    a.wait_text("Fiestas Patrias").await;
    shots(&a, "calendario").await;
    a.type_into("#to_5", "25:00").await;
    a.follow("main", "Guardar horario").await;
    a.wait_text("La hora «25:00» no es válida").await;
    shots(&a, "calendario-error").await;
    a.type_into("#to_5", "17:10").await;
    a.follow("main", "Guardar horario").await;
    a.wait_text("Horario guardado; 2 incidencias abiertas cambiaron de vencimiento.")
        .await;

    d.goto(&page).await;
    d.wait_text("09/11/2026 08:05").await;
    assert_eq!(facts_due(&d).await, "Asignación: vence en 15 min");
    shots(&d, "incidencia-calendario").await;

    // The list, by due: the critical one first, its badge in words.
    d.goto("/?sort=due").await;
    let first = d
        .find("table.tickets tbody tr td.subject a")
        .await
        .text()
        .await
        .expect("first row");
    assert_eq!(first, "VPN no conecta");
    d.wait_text("vence en 15 min").await;
    shots(&d, "incidencias-por-vencimiento").await;

    // The targets page and the categories page, as the administrator sees them.
    a.follow("header", "SLA").await;
    a.wait_text("Objetivos por prioridad").await;
    shots(&a, "objetivos").await;
    a.follow("header", "Categorías").await;
    a.wait_text("Redes").await;
    shots(&a, "categorias").await;
    say(&format!(
        "SLA screenshots in {}",
        screenshot_dir().display()
    ));
    a.close().await;
    d.close().await;
}

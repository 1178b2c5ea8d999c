//! The dispatcher's morning in a real browser: open "Sin asignar", mark five tickets and
//! hand them to a technician through the confirmation page, and watch them leave the same
//! view in a second browser, live, within a couple of seconds; the keys (j/k, ?); a second
//! tab of one browser sharing its one event stream (read from the `/metrics` gauge); and
//! screenshots of the queue at 1280 and 375 px.

use crate::app::{App, PASSWORD};
use crate::harness::{Browser, WAIT, screenshot_dir};
use crate::journeys::sign_in;
use soporte::domain::user::Role;
use std::time::{Duration, Instant};

/// `soporte_event_streams_open` as `/metrics` says now.
async fn streams_open(app: &App) -> i64 {
    let text = reqwest::get(format!("{}/metrics", app.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix("soporte_event_streams_open "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the gauge is in /metrics")
}

/// Waits (bounded) until the gauge reads `n`.
async fn wait_streams(app: &App, n: i64) {
    let start = Instant::now();
    loop {
        let now = streams_open(app).await;
        if now == n {
            return;
        }
        assert!(
            start.elapsed() < WAIT,
            "expected {n} open event streams, /metrics says {now}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn rows_shown(b: &Browser) -> i64 {
    b.js("return document.querySelectorAll('table[data-queue] tbody tr[data-ticket]').length")
        .await
        .as_i64()
        .unwrap_or(-1)
}

async fn count_in_header(b: &Browser, view: &str) -> String {
    b.js(&format!(
        "const e = document.querySelector('[data-count=\"{view}\"]'); return e ? e.textContent : ''"
    ))
    .await
    .as_str()
    .unwrap_or_default()
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dispatchers_morning() {
    let app = App::spawn().await;
    let Some(paty) = Browser::open(&app.base, 1280).await else {
        return;
    };
    let d = app
        .user(
            Role::Dispatcher,
            "Paty Derivadora",
            "paty@miempresa.com",
            "",
        )
        .await;
    let other = app
        .user(Role::Dispatcher, "Raúl Derivador", "raul@miempresa.com", "")
        .await;
    let tech = app
        .user(
            Role::Technician,
            "Carlos Ruiz",
            "carlos@miempresa.com",
            "Redes",
        )
        .await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let t = app
            .ticket(
                &d,
                &format!("usuario{i}@cliente.pe"),
                &format!("Sin conexión en la oficina {i}"),
                "No hay red desde esta mañana.",
            )
            .await;
        ids.push(t.id.0);
    }

    // Paty opens the help desk: her first screen is "Sin asignar", seven tickets.
    sign_in(&paty, "/login", "paty@miempresa.com", PASSWORD).await;
    paty.wait_path("/").await;
    paty.wait_text("Sin asignar").await;
    assert_eq!(count_in_header(&paty, "sin_asignar").await, "7");
    assert_eq!(rows_shown(&paty).await, 7);
    paty.wait_text("Carlos Ruiz (0 abiertas)").await;

    // Raúl has the same view open in another browser.
    let Some(raul) = Browser::open(&app.base, 1280).await else {
        return;
    };
    sign_in(&raul, "/login", &other.email, PASSWORD).await;
    raul.wait_path("/").await;
    assert_eq!(rows_shown(&raul).await, 7);
    // Each browser holds its one stream.
    wait_streams(&app, 2).await;

    // Screenshots of the queue at both widths (the layout checks run in layout.rs).
    let dir = screenshot_dir();
    for width in [1280, 375] {
        paty.resize(width, 900).await;
        paty.screenshot_full_page(&dir.join(format!("cola-sin-asignar-{width}.png")), width)
            .await;
    }
    paty.resize(1280, 900).await;

    // The keys: j moves a visible selection, ? shows the help.
    paty.keys("jj").await;
    let marked = paty
        .js("const r = document.querySelector('tr.kbd-current'); return r ? r.getAttribute('data-ticket') : null")
        .await;
    assert_eq!(
        marked.as_str().map(str::to_string),
        Some(ids[5].to_string()),
        "two rows down from the top (newest first)"
    );
    paty.keys("?").await;
    paty.wait_text("Atajos de teclado").await;
    paty.keys("\u{e00c}").await; // Escape
    let hidden = paty
        .js("const h = document.querySelector('.keys-help'); return !!h && h.hidden")
        .await;
    assert_eq!(hidden.as_bool(), Some(true));
    // `a` goes to the marked row's technician picker; `/` to the search, where typing `j`
    // is text, not a move.
    paty.keys("a").await;
    assert_eq!(
        paty.js("return document.activeElement && document.activeElement.id")
            .await,
        serde_json::json!(format!("pick-{}", ids[5]))
    );
    paty.keys("\u{e00c}").await;
    paty.js("document.activeElement.blur()").await;
    paty.keys("/").await;
    paty.keys("jk").await;
    assert_eq!(
        paty.js("return [document.activeElement.id, document.activeElement.value]")
            .await,
        serde_json::json!(["q", "jk"])
    );
    paty.js("const q = document.getElementById('q'); q.value = ''; q.blur()")
        .await;

    // She marks the five oldest and hands them to Carlos.
    for id in &ids[..5] {
        paty.find(&format!(
            "tr[data-ticket=\"{id}\"] input[type=\"checkbox\"]"
        ))
        .await
        .click()
        .await
        .expect("mark a row");
    }
    paty.choose("#bulk-tech", "Carlos Ruiz (0 abiertas)").await;
    paty.follow("main", "Derivar a…").await;
    paty.wait_text("¿Derivar 5 incidencias a Carlos Ruiz?")
        .await;
    let started = Instant::now();
    paty.follow("main", "Sí, derivar 5 incidencias").await;
    paty.wait_text("5 incidencias derivadas a Carlos Ruiz")
        .await;
    assert_eq!(rows_shown(&paty).await, 2);

    // Raúl's view loses them without a reload, within a couple of seconds.
    let live = Instant::now();
    loop {
        if rows_shown(&raul).await == 2 && count_in_header(&raul, "sin_asignar").await == "2" {
            break;
        }
        assert!(
            live.elapsed() < Duration::from_secs(3),
            "the second browser still shows {} rows and a count of {:?}",
            rows_shown(&raul).await,
            count_in_header(&raul, "sin_asignar").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    crate::harness::say(&format!(
        "dispatcher's morning: the second browser saw the five leave {} ms after the confirmation was clicked ({} ms after Paty's page came back)",
        started.elapsed().as_millis(),
        live.elapsed().as_millis()
    ));
    // Nothing was reloaded: the rows left are the two newest.
    let left = raul
        .js("return [...document.querySelectorAll('table[data-queue] tbody tr[data-ticket]')].map(r => Number(r.getAttribute('data-ticket')))")
        .await;
    assert_eq!(left, serde_json::json!([ids[6], ids[5]]));

    // A second tab of Raúl's browser shares his one stream: still two in all.
    let tab = raul.client.new_window(true).await.expect("new tab");
    raul.client
        .switch_to_window(tab.handle)
        .await
        .expect("switch to the new tab");
    raul.goto("/").await;
    raul.wait_text("Sin asignar").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        streams_open(&app).await,
        2,
        "two tabs of one browser hold one stream"
    );
    // And the new tab hears the news through the first tab's stream: a new ticket shows as
    // "1 incidencia nueva — mostrar", not slipped into the list.
    app.ticket(&d, "nueva@cliente.pe", "Llegó una más", "x")
        .await;
    raul.wait_text("1 incidencia nueva — mostrar").await;
    assert_eq!(rows_shown(&raul).await, 2);
    // On "Todas abiertas" a ticket that changes is updated in place: its status badge and
    // technician, without a reload.
    raul.goto("/?view=abiertas").await;
    raul.wait_text("Todas abiertas").await;
    raul.js("window.__same_page = true").await;
    app.act(
        &d,
        soporte::domain::ids::TicketId(ids[6]),
        soporte::service::tickets::Action::Assign {
            technician: tech.id,
        },
    )
    .await;
    let start = Instant::now();
    loop {
        let cell = raul
            .js(&format!(
                "const r = document.querySelector('tr[data-ticket=\"{}\"]'); \
                 return r ? [r.querySelector('td.state .badge').textContent, r.querySelector('td.tech').innerText.trim(), window.__same_page === true] : null",
                ids[6]
            ))
            .await;
        if cell == serde_json::json!(["Asignado", "Carlos Ruiz", true]) {
            break;
        }
        assert!(start.elapsed() < WAIT, "the row reads {cell}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // On a ticket's page, `c` goes to the internal note and `r` to the reply.
    paty.goto(&format!("/tickets/{}", ids[0])).await;
    paty.wait_text("Nota interna").await;
    paty.keys("c").await;
    assert_eq!(
        paty.js("return document.activeElement.id").await,
        serde_json::json!("comment_body")
    );
    paty.js("document.activeElement.blur()").await;
    paty.keys("r").await;
    assert_eq!(
        paty.js("return document.activeElement.id").await,
        serde_json::json!("reply_body")
    );
    paty.close().await;
    raul.close().await;
}

/// A technician on "Mis abiertas" who asked to be told («Avisarme…») gets a browser
/// notification when a ticket is assigned to them, and the list offers it as new without
/// slipping it in. The page's Notification is replaced by a recorder (a headless browser
/// shows no notifications); what is checked is when the page asks for one and with what.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_technician_is_told_of_a_ticket_assigned_to_them() {
    let app = App::spawn().await;
    let Some(b) = Browser::open(&app.base, 1280).await else {
        return;
    };
    let d = app
        .user(
            Role::Dispatcher,
            "Paty Derivadora",
            "paty@miempresa.com",
            "",
        )
        .await;
    let tech = app
        .user(
            Role::Technician,
            "Carlos Ruiz",
            "carlos@miempresa.com",
            "Redes",
        )
        .await;
    let t = app
        .ticket(
            &d,
            "ana@cliente.pe",
            "No imprime",
            "La impresora no responde.",
        )
        .await;
    sign_in(&b, "/login", "carlos@miempresa.com", PASSWORD).await;
    b.wait_path("/").await;
    b.wait_text("No tiene incidencias asignadas.").await;
    wait_streams(&app, 1).await;
    b.js(
        "window.__notified = []; \
         window.Notification = function (title, options) { window.__notified.push([title, options.body]); }; \
         window.Notification.permission = 'default'; \
         window.Notification.requestPermission = function () { \
           window.Notification.permission = 'granted'; return Promise.resolve('granted'); };",
    )
    .await;
    b.click_text("main", "Avisarme cuando me asignen una incidencia")
        .await;
    b.wait_text("Le avisaremos cuando le asignen una incidencia.")
        .await;

    app.act(
        &d,
        t.id,
        soporte::service::tickets::Action::Assign {
            technician: tech.id,
        },
    )
    .await;
    b.wait_text("1 incidencia nueva — mostrar").await;
    assert_eq!(rows_shown(&b).await, 0, "nothing slipped in");
    let start = Instant::now();
    loop {
        let got = b.js("return window.__notified").await;
        if got.as_array().is_some_and(|a| !a.is_empty()) {
            assert_eq!(
                got,
                serde_json::json!([[
                    format!("{} asignada a usted", t.number()),
                    "Paty Derivadora: Derivada"
                ]])
            );
            break;
        }
        assert!(start.elapsed() < WAIT, "no notification asked for");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The count follows (read again from /api/v1/views).
    let start = Instant::now();
    while count_in_header(&b, "mias").await != "1" {
        assert!(
            start.elapsed() < WAIT,
            "the count of «Mis abiertas» stays 0"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // «mostrar» brings the first page with it.
    b.follow("main", "1 incidencia nueva — mostrar").await;
    assert_eq!(rows_shown(&b).await, 1);
    b.close().await;
}

//! The conversation with the requester, in a real browser at 1280 px and at 375 px: the
//! technician answers with a pasted screenshot (a real `paste` event whose clipboard holds a
//! PNG; the page's own script turns it into a file of the form) and waits for the requester,
//! writes an internal note, the requester answers on their status page, the technician
//! closes, and the requester rates from the closing e-mail's link. Screenshots of each step
//! go to `target/screenshots/conversacion-*.png`.

use crate::app::{App, PASSWORD};
use crate::harness::{Browser, WAIT, say, screenshot_dir};
use crate::journeys::sign_in;
use crate::layout::WIDTHS;
use crate::pages::{PNG, status_link};
use serde_json::Value;
use soporte::domain::user::{Actor, Role, User};
use soporte::service::tickets::Action;
use std::time::Instant;

/// Dispatches a paste of one PNG (named like a browser names a pasted picture) into the
/// field `css`, as a person pressing Ctrl+V with a screenshot on the clipboard. Returns what
/// the page's script made of it: whether it took the paste, and the names of the files the
/// form now holds.
fn paste_png(css: &str) -> String {
    let bytes: Vec<String> = PNG.iter().map(|b| b.to_string()).collect();
    format!(
        r#"
const bytes = new Uint8Array([{bytes}]);
const picture = new File([bytes], 'image.png', {{ type: 'image/png' }});
const clipboard = new DataTransfer();
clipboard.items.add(picture);
const field = document.querySelector({css});
field.focus();
const event = new ClipboardEvent('paste', {{ clipboardData: clipboard, bubbles: true, cancelable: true }});
field.dispatchEvent(event);
const input = field.form.querySelector('input[type=file]');
return {{ taken: event.defaultPrevented, files: [...input.files].map(f => f.name + ' ' + f.type + ' ' + f.size) }};
"#,
        bytes = bytes.join(","),
        css = serde_json::json!(css),
    )
}

/// Waits until every image in `scope` has loaded (a thumbnail that failed has no width),
/// scrolling each into view: thumbnails load lazily, as a person scrolls to them.
async fn images_loaded(b: &Browser, scope: &str) -> usize {
    let script = format!(
        "const imgs = [...document.querySelectorAll({})]; \
         imgs.forEach(i => {{ if (!i.complete) i.scrollIntoView({{block: 'center'}}); }}); \
         return imgs.length > 0 && imgs.every(i => i.complete) ? imgs.filter(i => i.naturalWidth > 0).length : -1",
        serde_json::json!(format!("{scope} img"))
    );
    let start = Instant::now();
    loop {
        let v = b.js(&script).await;
        if let Some(n) = v.as_i64().filter(|n| *n >= 0) {
            return n as usize;
        }
        assert!(start.elapsed() < WAIT, "images in {scope} never loaded");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn sign_out(b: &Browser) {
    b.follow("header", "Salir").await;
    b.wait_path("/login").await;
}

async fn badge(b: &Browser) -> String {
    b.find(".facts .badge").await.text().await.expect("badge")
}

async fn shot(b: &Browser, name: &str, width: u32) {
    let file = screenshot_dir().join(format!("conversacion-{name}-{width}.png"));
    b.screenshot_full_page(&file, width).await;
}

/// One whole conversation at one width.
async fn converse(app: &App, b: &Browser, width: u32, dispatcher: &User, ana: &User) {
    let subject = format!("Pantalla azul en la laptop ({width} px)");
    let ticket = app
        .ticket(
            dispatcher,
            "Jorge Salas <jorge.salas@cliente.pe>",
            &subject,
            "La laptop muestra una pantalla azul al iniciar.",
        )
        .await;
    let id = ticket.id;
    app.act(dispatcher, id, Action::Assign { technician: ana.id })
        .await;
    let page = format!("/tickets/{}", id.0);

    // The technician answers with a pasted screenshot and waits for the requester.
    sign_in(b, "/login", &ana.email, PASSWORD).await;
    b.wait_path("/").await;
    b.goto(&page).await;
    b.wait_text("Jorge Salas").await;
    b.wait_text("Otras incidencias de este solicitante").await;
    b.type_into(
        "#reply_body",
        "Hola, Jorge: ¿la pantalla azul se ve como en la captura?",
    )
    .await;
    // The hint about pasting shows only where the script runs.
    assert_eq!(
        b.js("return document.querySelector('#responder .paste-hint').hidden")
            .await,
        Value::Bool(false)
    );
    let pasted = b.js(&paste_png("#reply_body")).await;
    assert_eq!(pasted["taken"], Value::Bool(true), "{pasted}");
    let files = pasted["files"].as_array().expect("files").clone();
    assert_eq!(files.len(), 1, "{pasted}");
    let name = files[0].as_str().unwrap_or_default();
    assert!(
        name.starts_with("captura-") && name.contains(".png image/png 69"),
        "{name}"
    );
    // The form lists it, with a way to take it back.
    b.wait_text("Quitar el archivo").await;
    let listed = b.find("#reply_picked").await.text().await.expect("list");
    assert!(
        listed.contains("captura-") && listed.contains("(69 B)"),
        "{listed}"
    );
    b.find("#reply_wait").await.click().await.expect("wait box");
    shot(b, "respuesta", width).await;
    b.follow("form[@id='responder']", "Responder al solicitante")
        .await;
    b.wait_text("Respuesta al solicitante registrada").await;
    assert_eq!(badge(b).await, "Esperando al usuario");
    assert_eq!(
        images_loaded(b, ".timeline").await,
        1,
        "the thumbnail shows"
    );
    b.wait_text("Público").await;

    // An internal note, which only staff read.
    b.type_into(
        "#comment_body",
        "Código CRITICAL_PROCESS_DIED: sospecho del disco.",
    )
    .await;
    b.follow("main", "Agregar nota interna").await;
    b.wait_text("Nota interna agregada.").await;
    b.wait_text("Interno").await;
    assert_eq!(badge(b).await, "Esperando al usuario");
    shot(b, "incidencia", width).await;
    sign_out(b).await;

    // The requester opens the link of the reply's e-mail and answers.
    let admin = app
        .user(
            Role::Admin,
            "Revisa Enlaces",
            &format!("enlaces{width}@miempresa.com"),
            "",
        )
        .await;
    let link = status_link(app, &admin, id).await;
    b.goto(&link).await;
    b.wait_text("Esperamos su respuesta para continuar.").await;
    b.wait_text("¿la pantalla azul se ve como en la captura?")
        .await;
    let text = b.text().await;
    assert!(!text.contains("CRITICAL_PROCESS_DIED"), "{text}");
    assert!(!text.contains("Nota interna"), "{text}");
    assert!(!text.contains("@miempresa.com"), "{text}");
    assert_eq!(
        images_loaded(b, ".timeline").await,
        1,
        "the thumbnail shows"
    );
    shot(b, "seguimiento", width).await;
    b.type_into("#body", "Sí, es igual. Ocurre cada vez que la enciendo.")
        .await;
    b.follow("main", "Enviar mensaje").await;
    b.wait_text("Recibimos su mensaje.").await;
    b.wait_text("Sí, es igual. Ocurre cada vez que la enciendo.")
        .await;
    b.wait_text("Un técnico está trabajando en ella.").await;

    // Back at work: the technician reads the answer and closes.
    sign_in(b, "/login", &ana.email, PASSWORD).await;
    b.wait_path("/").await;
    b.goto(&page).await;
    b.wait_text("Mensaje del solicitante").await;
    assert_eq!(badge(b).await, "En atención");
    b.type_into(
        "#close_resolution",
        "Se reemplazó el disco y se reinstaló Windows.",
    )
    .await;
    b.follow("form[contains(@action,'/close')]", "Cerrar…")
        .await;
    b.follow("main", "Sí, cerrar la incidencia").await;
    b.wait_text("Incidencia cerrada.").await;
    assert_eq!(badge(b).await, "Cerrado");
    sign_out(b).await;

    // The closing e-mail's link for 4: it shows the choice, records nothing.
    let link = status_link(app, &admin, id).await;
    b.goto(&format!("{link}/valorar?puntaje=4")).await;
    b.wait_text("¿Cómo calificaría la atención que recibió?")
        .await;
    assert_eq!(
        b.js("return document.querySelector('input[name=puntaje]:checked').value")
            .await,
        "4"
    );
    let (t, _) = app
        .services
        .ticket(&Actor::System, id)
        .await
        .expect("ticket");
    assert_eq!(t.rating, None, "opening the link records nothing");
    // The requester changes their mind, comments and sends.
    b.find("#puntaje_5").await.click().await.expect("choose 5");
    b.type_into("#comentario", "Muy rápido, gracias.").await;
    shot(b, "valorar", width).await;
    b.follow("main", "Enviar valoración").await;
    b.wait_text("Gracias: registramos su valoración.").await;
    b.wait_text("5 de 5").await;
    let (t, _) = app
        .services
        .ticket(&Actor::System, id)
        .await
        .expect("ticket");
    assert_eq!(
        (t.rating, t.rating_comment.as_deref()),
        (Some(5), Some("Muy rápido, gracias."))
    );
    shot(b, "valorada", width).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_with_a_pasted_screenshot_wait_answer_close_and_rate() {
    let app = App::spawn().await;
    let dispatcher = app
        .user(
            Role::Dispatcher,
            "Carla Mendoza",
            "carla.mendoza@miempresa.com",
            "",
        )
        .await;
    let ana = app
        .user(
            Role::Technician,
            "Ana Quispe",
            "ana.quispe@miempresa.com",
            "Redes",
        )
        .await;
    for width in WIDTHS {
        let Some(b) = Browser::open(&app.base, width).await else {
            return;
        };
        converse(&app, &b, width, &dispatcher, &ana).await;
        b.close().await;
    }
    say(&format!(
        "conversation screenshots written to {}",
        screenshot_dir().display()
    ));
}

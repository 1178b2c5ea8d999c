//! The conversation with the requester, over the HTML forms and pages: a public reply and an
//! internal note with files (multipart), downloads and thumbnails and who may have them, the
//! requester's status page (what it shows and never shows, their message, the rating), bad
//! input refused with the draft kept and nothing written, the requester filter and the
//! dashboard's ratings and waiting time.

use crate::helpers::{Browser, MONDAY_0900, TestApp, assert_redirect_to, location};
use crate::{both_backends, both_backends_at};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use soporte::config::ServeArgs;
use soporte::domain::ids::{TicketId, TicketNumber};
use soporte::domain::user::{Actor, Role, User};
use soporte::service::tickets::Action;

/// A 1×1 PNG: a real image, for thumbnails.
const PNG: [u8; 69] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53,
    0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xe0, 0x8e, 0x59, 0x0b,
    0x00, 0x01, 0x8a, 0x01, 0x15, 0x01, 0xf2, 0xab, 0xd8, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A file to send: name, type, bytes.
type File<'a> = (&'a str, &'a str, Vec<u8>);

fn form(fields: &[(&str, &str)], files: &[File<'_>]) -> Form {
    let mut form = Form::new();
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    for (name, kind, data) in files {
        form = form.part(
            "files",
            Part::bytes(data.clone())
                .file_name(name.to_string())
                .mime_str(kind)
                .unwrap(),
        );
    }
    form
}

/// Posts a multipart form (the reply and note forms) with this session's CSRF token.
async fn post_files(
    b: &Browser,
    path: &str,
    fields: &[(&str, &str)],
    files: &[File<'_>],
) -> reqwest::Response {
    let mut all = fields.to_vec();
    all.push(("csrf_token", &b.csrf));
    b.client
        .post(format!("{}{path}", b.base))
        .multipart(form(&all, files))
        .send()
        .await
        .unwrap()
}

/// A ticket from Juan Pérez, assigned to a new technician; returns (id, technician, admin).
async fn assigned_ticket(app: &TestApp) -> (TicketId, Browser, Browser) {
    let t = app
        .intake(
            "Juan Pérez <juan@dominio.pe>",
            "La VPN no conecta",
            "Desde hoy la VPN dice «tiempo de espera agotado».",
        )
        .await;
    let id = TicketId(t["id"].as_i64().unwrap());
    let admin = app.signed_in(Role::Admin, "Ana Admin").await;
    let tech_user = app.create_user(Role::Technician, "Tito Técnico").await;
    app.services
        .act(
            &admin.user.actor(),
            id,
            None,
            Action::Assign {
                technician: tech_user.id,
            },
        )
        .await
        .unwrap();
    let tech = app.browser_for(tech_user).await;
    (id, tech, admin)
}

async fn version(app: &TestApp, id: TicketId) -> String {
    let (t, _) = app.services.ticket(&Actor::System, id).await.unwrap();
    t.version.to_string()
}

async fn status(app: &TestApp, id: TicketId) -> String {
    let (t, _) = app.services.ticket(&Actor::System, id).await.unwrap();
    t.status.as_str().to_string()
}

/// Rows of a table for one ticket (for "nothing was written").
async fn rows(app: &TestApp, table: &str, id: TicketId) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) FROM {table} WHERE ticket_id = {}",
        id.0
    ))
    .await
}

/// Everything one ticket has written: events, files, notices, and its version.
async fn footprint(app: &TestApp, id: TicketId) -> (i64, i64, i64, String) {
    (
        rows(app, "ticket_events", id).await,
        rows(app, "mail_attachments", id).await,
        rows(app, "mail_outbox", id).await,
        version(app, id).await,
    )
}

/// The latest status-page link the requester was sent for the ticket (still in the outbox:
/// nothing sends mail in these tests).
async fn status_token(app: &TestApp, by: &User, id: TicketId) -> String {
    app.services
        .notices(&by.actor(), id)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .find_map(|n| n.params.status_token)
        .expect("a notice to the requester carries a status-page link")
}

/// The ids in `href="{prefix}N"` links of a page, in order.
fn linked_ids(html: &str, prefix: &str) -> Vec<i64> {
    html.match_indices(prefix)
        .filter_map(|(i, _)| {
            let digits: String = html[i + prefix.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

// ------------------------------------------------------------------------------------------
// Reply and note

async fn a_reply_and_a_note_are_two_forms_with_files(app: TestApp) {
    let (id, tech, _admin) = assigned_ticket(&app).await;
    let page = format!("/tickets/{}", id.0);
    let (s, html) = tech.get_html(&page).await;
    assert_eq!(s, StatusCode::OK);
    // Two clearly different forms, each saying where its text goes, both taking files.
    for needle in [
        &format!(
            "action=\"/tickets/{}/reply\" enctype=\"multipart/form-data\"",
            id.0
        ),
        &format!(
            "action=\"/tickets/{}/comment\" enctype=\"multipart/form-data\"",
            id.0
        ),
        "Responder al solicitante",
        "Se envía por correo a juan@dominio.pe",
        "Nota interna",
        "Solo la ve el personal de soporte",
        "Esperar la respuesta del solicitante",
        "name=\"files\" multiple",
        "Juan Pérez",
        "href=\"/?requester=juan%40dominio.pe\"",
        "Otras incidencias de este solicitante",
        "<script src=\"/static/app.js\" defer></script>",
    ] {
        assert!(html.contains(needle), "{needle}\n{html}");
    }

    // A public reply with a screenshot, waiting for the requester's answer.
    let v = version(&app, id).await;
    let r = post_files(
        &tech,
        &format!("/tickets/{}/reply", id.0),
        &[
            ("version", &v),
            ("body", "¿Puede enviarnos el mensaje de error completo?"),
            ("wait", "1"),
        ],
        &[("captura de pantalla.png", "image/png", PNG.to_vec())],
    )
    .await;
    assert_redirect_to(&r, &page);
    assert_eq!(status(&app, id).await, "en_espera");
    let (_, html) = tech.get_html(&page).await;
    assert!(html.contains(&format!(
        "Respuesta al solicitante registrada; se le enviará por correo y la incidencia queda Esperando al usuario. ({})",
        TicketNumber(id)
    )));
    // An internal note with a log file.
    let v = version(&app, id).await;
    let r = post_files(
        &tech,
        &format!("/tickets/{}/comment", id.0),
        &[
            ("version", &v),
            ("body", "El túnel cae por el MTU; pruebo 1400."),
        ],
        &[("registro vpn.txt", "text/plain", b"MTU 1500 drop".to_vec())],
    )
    .await;
    assert_redirect_to(&r, &page);
    assert_eq!(status(&app, id).await, "en_espera");

    let (_, events) = app.services.ticket(&Actor::System, id).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.ends_with(&["replied", "commented"]), "{kinds:?}");
    let (files, _) = app.services.ticket_mail(&Actor::System, id).await.unwrap();
    let reply_event = events[events.len() - 2].id;
    let note_event = events[events.len() - 1].id;
    let png = files
        .iter()
        .find(|f| f.filename == "captura de pantalla.png")
        .unwrap();
    let txt = files
        .iter()
        .find(|f| f.filename == "registro vpn.txt")
        .unwrap();
    assert_eq!(
        (png.event, png.content_type.as_str(), png.size),
        (Some(reply_event), "image/png", PNG.len() as i64)
    );
    assert_eq!(txt.event, Some(note_event));
    // The reply goes out by e-mail; the note does not.
    let notices = app.services.notices(&tech.user.actor(), id).await.unwrap();
    let to_requester: Vec<&str> = notices
        .iter()
        .filter(|n| n.recipient == "juan@dominio.pe")
        .map(|n| n.kind.as_str())
        .collect();
    assert_eq!(to_requester.last(), Some(&"reply"), "{to_requester:?}");

    // The timeline tells public from internal in words, with each event's files.
    let (_, html) = tech.get_html(&page).await;
    assert!(html.contains("<span class=\"vis vis-public\">Público</span>"));
    assert!(html.contains("<span class=\"vis vis-internal\">Interno</span>"));
    assert!(html.contains("ev-replied ev-public") && html.contains("ev-commented ev-internal"));
    assert!(html.contains(&format!("src=\"/attachments/{}?vista=miniatura\"", png.id)));
    assert!(!html.contains(&format!("/attachments/{}?vista=miniatura", txt.id)));
    assert!(html.contains("Esperando al usuario"));
    assert!(html.contains("Nota interna agregada."));

    // Downloads: the stored type, a download with the UTF-8 name, no sniffing.
    let r = tech.get(&format!("/attachments/{}", png.id)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''captura%20de%20pantalla.png"),
        "{disposition}"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG.as_slice());
    let r = tech.get(&format!("/attachments/{}", txt.id)).await;
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"MTU 1500 drop");
    // The thumbnail: inline, for real images only, under a CSP that runs nothing.
    let r = tech
        .get(&format!("/attachments/{}?vista=miniatura", png.id))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline;")
    );
    assert_eq!(
        r.headers()["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let r = tech
        .get(&format!("/attachments/{}?vista=miniatura", txt.id))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The first round's address serves the same file.
    let r = tech
        .get(&format!("/tickets/{}/attachments/{}", id.0, png.id))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
}
both_backends!(a_reply_and_a_note_are_two_forms_with_files);

async fn a_technician_gets_404_for_another_technicians_attachment(app: TestApp) {
    let (id, tech, admin) = assigned_ticket(&app).await;
    let v = version(&app, id).await;
    let r = post_files(
        &tech,
        &format!("/tickets/{}/comment", id.0),
        &[("version", &v), ("body", "Adjunto la configuración.")],
        &[("config.png", "image/png", PNG.to_vec())],
    )
    .await;
    assert!(r.status().is_redirection());
    let (files, _) = app.services.ticket_mail(&Actor::System, id).await.unwrap();
    let file = files[0].id;
    let other = app.signed_in(Role::Technician, "Otra Técnica").await;
    for path in [
        format!("/attachments/{file}"),
        format!("/attachments/{file}?vista=miniatura"),
        format!("/tickets/{}/attachments/{file}", id.0),
    ] {
        let (s, html) = other.get_html(&path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert!(html.contains("No encontrado"), "{path}");
        assert_eq!(tech.get(&path).await.status(), StatusCode::OK, "{path}");
        assert_eq!(admin.get(&path).await.status(), StatusCode::OK, "{path}");
    }
    // What does not exist, or is not an id, answers the same.
    for path in [
        "/attachments/999999",
        "/attachments/0",
        "/attachments/abc",
        "/attachments/01",
    ] {
        assert_eq!(
            admin.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    // Without a session: to the sign-in page.
    let r = TestApp::client()
        .get(app.url(&format!("/attachments/{file}")))
        .send()
        .await
        .unwrap();
    assert_redirect_to(&r, "/login");
}
both_backends!(a_technician_gets_404_for_another_technicians_attachment);

// ------------------------------------------------------------------------------------------
// The requester's status page

async fn the_status_page_shows_the_public_timeline_only(app: TestApp) {
    let (id, tech, admin) = assigned_ticket(&app).await;
    // Another requester's ticket, which must never show.
    let other = app
        .intake("maria@otra.pe", "Impresora del tercer piso", "No imprime")
        .await;
    let page = format!("/tickets/{}", id.0);
    let v = version(&app, id).await;
    post_files(
        &tech,
        &format!("{page}/comment"),
        &[
            ("version", &v),
            ("body", "NOTA-SECRETA: el usuario tiene la clave vencida"),
        ],
        &[("secreto-interno.png", "image/png", PNG.to_vec())],
    )
    .await;
    let v = version(&app, id).await;
    let r = post_files(
        &tech,
        &format!("{page}/reply"),
        &[
            ("version", &v),
            ("body", "Reinicie el cliente VPN, por favor."),
            ("wait", "1"),
        ],
        &[("pasos.png", "image/png", PNG.to_vec())],
    )
    .await;
    assert_redirect_to(&r, &page);
    let token = status_token(&app, &admin.user, id).await;
    let (files, _) = app.services.ticket_mail(&Actor::System, id).await.unwrap();
    let secret = files
        .iter()
        .find(|f| f.filename == "secreto-interno.png")
        .unwrap()
        .id;
    let public = files.iter().find(|f| f.filename == "pasos.png").unwrap().id;

    // The requester needs no account; a browser with nothing but the link.
    let requester = TestApp::client();
    let r = requester
        .get(app.url(&format!("/s/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-robots-tag"], "noindex, nofollow");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("soporte_status_csrf=")
            && cookie.contains("Path=/s/")
            && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let html = r.text().await.unwrap();
    for needle in [
        "<meta name=\"robots\" content=\"noindex, nofollow\">",
        &TicketNumber(id).to_string(),
        "La VPN no conecta",
        "Esperamos su respuesta para continuar.",
        "Desde hoy la VPN dice «tiempo de espera agotado».",
        "Reinicie el cliente VPN, por favor.",
        "Tito Técnico",
        &format!("href=\"/s/{token}/adjuntos/{public}\""),
        &format!("src=\"/s/{token}/adjuntos/{public}?vista=miniatura\""),
        "Escribir a Soporte",
        "name=\"csrf_token\"",
    ] {
        assert!(html.contains(needle), "{needle}\n{html}");
    }
    for never in [
        "NOTA-SECRETA",
        "secreto-interno.png",
        "Nota interna",
        "@miempresa.com",
        "Impresora del tercer piso",
        &TicketNumber(TicketId(other["id"].as_i64().unwrap())).to_string(),
        "/tickets/",
        "/dashboard",
        "Salir",
    ] {
        assert!(
            !html.contains(never),
            "the status page shows {never}:\n{html}"
        );
    }
    // Files: the public one, never the note's (404, as for a file that does not exist).
    let r = requester
        .get(app.url(&format!("/s/{token}/adjuntos/{public}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    let r = requester
        .get(app.url(&format!("/s/{token}/adjuntos/{public}?vista=miniatura")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    for path in [
        format!("/s/{token}/adjuntos/{secret}"),
        format!("/s/{token}/adjuntos/999999"),
        format!("/s/{token}/adjuntos/abc"),
    ] {
        let r = requester.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }

    // An unknown, malformed or other-length token: the Spanish 404, without the staff menu.
    for bad in [
        "0".repeat(40),
        // The last character changed (to "1" when it already was "0").
        format!(
            "{}{}",
            &token[..token.len() - 1],
            if token.ends_with('0') { '1' } else { '0' }
        ),
        "abc".to_string(),
        format!("{token}0"),
    ] {
        for path in [format!("/s/{bad}"), format!("/s/{bad}/valorar?puntaje=5")] {
            let r = requester.get(app.url(&path)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(r.headers()["x-robots-tag"], "noindex, nofollow");
            let html = r.text().await.unwrap();
            assert!(html.contains("Enlace no válido"), "{html}");
            assert!(
                !html.contains("Incidencias") && !html.contains("/login"),
                "{html}"
            );
        }
    }
    // A staff session changes nothing: the page is the requester's, not the technician's.
    let r = tech.get(&format!("/s/{token}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(!html.contains("NOTA-SECRETA") && !html.contains("Salir"));

    // A link e-mailed before links carried their time (40 hex digits, kept as its bare
    // SHA-256) still opens its page.
    let old = "ab".repeat(20);
    let hash: String = {
        use sha2::Digest;
        sha2::Sha256::digest(old.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    sqlx::query("INSERT INTO status_links (token_hash, ticket_id, created_at) VALUES ($1, $2, 0)")
        .bind(hash)
        .bind(id.0)
        .execute(app.store.pool())
        .await
        .unwrap();
    let r = requester
        .get(app.url(&format!("/s/{old}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains(&TicketNumber(id).to_string())
    );
}
both_backends!(the_status_page_shows_the_public_timeline_only);

async fn the_requester_answers_on_the_status_page(app: TestApp) {
    let (id, tech, admin) = assigned_ticket(&app).await;
    let page = format!("/tickets/{}", id.0);
    let v = version(&app, id).await;
    post_files(
        &tech,
        &format!("{page}/reply"),
        &[
            ("version", &v),
            ("body", "¿Qué versión de Windows usa?"),
            ("wait", "1"),
        ],
        &[],
    )
    .await;
    assert_eq!(status(&app, id).await, "en_espera");
    let token = status_token(&app, &admin.user, id).await;
    let requester = TestApp::client();
    let base = app.url(&format!("/s/{token}"));
    let html = requester
        .get(&base)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::helpers::csrf_in(&html).unwrap();

    // Without the form's token: refused, nothing written.
    let before = footprint(&app, id).await;
    let r = requester
        .post(&base)
        .multipart(form(&[("body", "Windows 11")], &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("El formulario caducó"));
    // A token without the cookie (another browser) is refused too.
    let r = TestApp::client()
        .post(&base)
        .multipart(form(&[("body", "Windows 11"), ("csrf_token", &csrf)], &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Nothing typed: a Spanish message, nothing written.
    let r = requester
        .post(&base)
        .multipart(form(&[("body", "  "), ("csrf_token", &csrf)], &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Escriba su mensaje."));
    assert_eq!(footprint(&app, id).await, before);

    // The answer with a file: recorded like an e-mail from them, the ticket back at work.
    let r = requester
        .post(&base)
        .multipart(form(
            &[("body", "Windows 11, versión 23H2."), ("csrf_token", &csrf)],
            &[("error.png", "image/png", PNG.to_vec())],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/s/{token}?aviso=mensaje"));
    let html = requester
        .get(app.url(&location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Recibimos su mensaje."), "{html}");
    assert!(html.contains("Windows 11, versión 23H2.") && html.contains("error.png"));
    assert_eq!(status(&app, id).await, "en_atencion");
    let (_, events) = app.services.ticket(&Actor::System, id).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.kind.as_str(), "customer_message");
    assert_eq!(last.actor, "juan@dominio.pe");
    let (files, _) = app.services.ticket_mail(&Actor::System, id).await.unwrap();
    assert_eq!(
        files
            .iter()
            .find(|f| f.filename == "error.png")
            .map(|f| f.event),
        Some(Some(last.id))
    );
    // The technician reads it on the ticket's page.
    let (_, html) = tech.get_html(&page).await;
    assert!(html.contains("Mensaje del solicitante") && html.contains("Windows 11, versión 23H2."));

    // An address under /s/ that is no page: the requester's 404, not the help desk's.
    let r = requester
        .get(app.url(&format!("/s/{token}/otra/cosa")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.headers()["x-robots-tag"], "noindex, nofollow");
    assert!(r.text().await.unwrap().contains("Enlace no válido"));

    // One address may ask only so fast: soon a Spanish 429, for any token, right or wrong.
    let mut throttled = None;
    for n in 0..80 {
        let path = if n % 2 == 0 {
            format!("/s/{token}")
        } else {
            format!("/s/{}", "f".repeat(40))
        };
        let r = requester.get(app.url(&path)).send().await.unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(r);
            break;
        }
    }
    let r = throttled.expect("the status page is rate-limited");
    assert_eq!(r.headers()["x-robots-tag"], "noindex, nofollow");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Demasiadas solicitudes") && html.contains("Espere un minuto"),
        "{html}"
    );
    // Staff pages are not counted with it.
    assert_eq!(tech.get(&page).await.status(), StatusCode::OK);
}
both_backends!(the_requester_answers_on_the_status_page);

async fn the_rating_link_shows_and_only_the_form_records(app: TestApp) {
    let (id, tech, admin) = assigned_ticket(&app).await;
    let page = format!("/tickets/{}", id.0);
    let v = version(&app, id).await;
    let r = tech
        .post_form(
            &format!("{page}/close"),
            &[
                ("confirm", "1"),
                ("version", &v),
                ("resolution", "Se actualizó el cliente VPN."),
            ],
        )
        .await;
    assert_redirect_to(&r, &page);
    let token = status_token(&app, &admin.user, id).await;
    let requester = TestApp::client();
    let rate = app.url(&format!("/s/{token}/valorar"));
    let before = footprint(&app, id).await;

    // A mail scanner opening every link records nothing: the GET only shows the choice.
    for n in 1..=5 {
        let r = requester
            .get(format!("{rate}?puntaje={n}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-robots-tag"], "noindex, nofollow");
        let html = r.text().await.unwrap();
        assert!(
            html.contains(&format!(
                "id=\"puntaje_{n}\" name=\"puntaje\" value=\"{n}\" required checked"
            )),
            "{html}"
        );
        assert_eq!(html.matches(" checked").count(), 1);
        assert!(html.contains("Comentario") && html.contains("Enviar valoración"));
    }
    assert_eq!(footprint(&app, id).await, before);
    assert_eq!(
        app.services
            .ticket(&Actor::System, id)
            .await
            .unwrap()
            .0
            .rating,
        None
    );
    // A score of 9, by link or by form: a Spanish 422 and nothing recorded.
    let r = requester
        .get(format!("{rate}?puntaje=9"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Elija una valoración de 1 a 5.") && !html.contains(" checked"));
    let csrf = crate::helpers::csrf_in(&html).unwrap();
    for bad in ["9", "0", "-1", "cinco", ""] {
        let r = requester
            .post(&rate)
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("puntaje", bad),
                ("comentario", "Muy amables"),
                ("desde", "valorar"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let html = r.text().await.unwrap();
        assert!(html.contains("Elija una valoración de 1 a 5."), "{bad}");
        assert!(
            html.contains(">Muy amables</textarea>"),
            "the comment is kept: {html}"
        );
    }
    // Without the form's token: refused.
    let r = requester
        .post(&rate)
        .form(&[("puntaje", "5")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(footprint(&app, id).await, before);

    // The form records it, and may change it while the ticket stays closed.
    let r = requester
        .post(&rate)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("puntaje", "5"),
            ("comentario", "Rápido y claro"),
            ("desde", "valorar"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/s/{token}?aviso=valoracion"));
    let (t, _) = app.services.ticket(&Actor::System, id).await.unwrap();
    assert_eq!(
        (t.rating, t.rating_comment.as_deref()),
        (Some(5), Some("Rápido y claro"))
    );
    let r = requester
        .post(&rate)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("puntaje", "3"),
            ("comentario", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (t, _) = app.services.ticket(&Actor::System, id).await.unwrap();
    assert_eq!(t.rating, Some(3));
    let html = requester
        .get(app.url(&format!("/s/{token}?aviso=valoracion")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Gracias: registramos su valoración."));
    assert!(html.contains("Su valoración actual es <strong>3 de 5</strong>"));

    // Staff see it on the ticket and on the dashboard, overall and per technician.
    let (_, html) = admin.get_html(&page).await;
    assert!(
        html.contains("<dt>Valoración</dt><dd><strong>3 de 5</strong>"),
        "{html}"
    );
    let (_, html) = admin.get_html("/dashboard").await;
    for needle in [
        "Valoración de los solicitantes",
        "<dt>Promedio</dt><dd>3,0 de 5</dd>",
        "<dt>Valoraciones</dt><dd>1</dd>",
        "<dt>Tasa de respuesta</dt><dd>100 %</dd>",
        "Distribución de 1 a 5",
        "(1 de 1 cierres)",
        "Tiempo esperando al usuario",
        "Desde que llega hasta la primera respuesta pública al solicitante",
    ] {
        assert!(html.contains(needle), "{needle}");
    }

    // Reopened: the rating is gone and a new one waits for the next close.
    let v = version(&app, id).await;
    admin
        .post_form(
            &format!("{page}/reopen"),
            &[("version", &v), ("reason", "Volvió a fallar")],
        )
        .await;
    let before = footprint(&app, id).await;
    let r = requester
        .post(&rate)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("puntaje", "4"),
            ("desde", "valorar"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Podrá valorar la atención cuando su incidencia esté cerrada.")
    );
    assert_eq!(footprint(&app, id).await, before);
}
both_backends!(the_rating_link_shows_and_only_the_form_records);

// ------------------------------------------------------------------------------------------
// Bad input

async fn a_reply_to_a_closed_ticket_changes_nothing(app: TestApp) {
    let (id, tech, admin) = assigned_ticket(&app).await;
    let page = format!("/tickets/{}", id.0);
    let v = version(&app, id).await;
    admin
        .post_form(
            &format!("{page}/close"),
            &[("confirm", "1"), ("version", &v), ("resolution", "Listo")],
        )
        .await;
    assert_eq!(status(&app, id).await, "cerrado");
    let (_, html) = admin.get_html(&page).await;
    assert!(
        !html.contains("/reply\"") && !html.contains("/comment\""),
        "no forms on a closed ticket"
    );
    let before = footprint(&app, id).await;
    let v = version(&app, id).await;
    for who in [&admin, &tech] {
        let r = post_files(
            who,
            &format!("{page}/reply"),
            &[("version", &v), ("body", "Una respuesta tardía")],
            &[("tarde.png", "image/png", PNG.to_vec())],
        )
        .await;
        // The closed ticket stays its technician's to see; neither may answer on it.
        assert_eq!(r.status(), StatusCode::CONFLICT, "{}", who.user.name);
        let html = r.text().await.unwrap();
        assert!(
            html.contains("La incidencia está cerrada: no admite esta acción."),
            "{html}"
        );
        assert!(html.contains("Su texto se conservó; vuelva a adjuntar los archivos."));
        assert!(
            html.contains(">Una respuesta tardía</textarea>")
                || !html.contains("id=\"reply_body\"")
        );
    }
    assert_eq!(footprint(&app, id).await, before);
}
both_backends!(a_reply_to_a_closed_ticket_changes_nothing);

/// Files up to 64 KB, messages up to 128 KB: small enough to pass in a test.
fn small_limits() -> ServeArgs {
    let mut args = ServeArgs::default();
    args.mail.limits.mail_max_attachment_bytes = 64 * 1024;
    args.mail.limits.mail_max_message_bytes = 128 * 1024;
    args
}

async fn refused_files_keep_the_draft_and_write_nothing(app: TestApp) {
    let (id, tech, admin) = assigned_ticket(&app).await;
    let page = format!("/tickets/{}", id.0);
    let before = footprint(&app, id).await;
    let v = version(&app, id).await;
    let draft = "Texto que no debe perderse <b>ni escaparse</b>";
    let big = vec![b'x'; 64 * 1024 + 1];
    let cases: Vec<(&str, Vec<File<'_>>, StatusCode, &str)> = vec![
        (
            "reply",
            vec![("vacío.png", "image/png", Vec::new())],
            StatusCode::UNPROCESSABLE_ENTITY,
            "El archivo «vacío.png» está vacío",
        ),
        (
            "comment",
            vec![("grande.log", "text/plain", big.clone())],
            StatusCode::PAYLOAD_TOO_LARGE,
            "El archivo «grande.log» supera el tamaño máximo de 64 KB por archivo.",
        ),
        (
            "reply",
            vec![
                ("bien.png", "image/png", PNG.to_vec()),
                ("grande.log", "text/plain", big.clone()),
            ],
            StatusCode::PAYLOAD_TOO_LARGE,
            "supera el tamaño máximo",
        ),
        (
            "comment",
            (0..3)
                .map(|_| {
                    (
                        "parte.bin",
                        "application/octet-stream",
                        vec![1u8; 60 * 1024],
                    )
                })
                .collect(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "Los archivos juntos superan el máximo de 128 KB por mensaje.",
        ),
        (
            "reply",
            (0..11)
                .map(|_| ("uno.png", "image/png", PNG.to_vec()))
                .collect(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "Adjunte como máximo 10 archivos por mensaje.",
        ),
    ];
    for (action, files, expected, message) in cases {
        let r = post_files(
            &tech,
            &format!("{page}/{action}"),
            &[("version", &v), ("body", draft), ("wait", "1")],
            &files,
        )
        .await;
        assert_eq!(r.status(), expected, "{action} {message}");
        let html = r.text().await.unwrap();
        assert!(html.contains(message), "{message}\n{html}");
        assert!(html.contains("vuelva a adjuntar los archivos"), "{html}");
        let textarea = format!(
            "name=\"body\" rows=\"{}\" required autofocus>Texto que no debe perderse &#60;b&#62;ni escaparse&#60;/b&#62;</textarea>",
            if action == "reply" { 5 } else { 3 }
        );
        assert!(
            html.contains(&textarea),
            "the draft is kept, escaped:\n{html}"
        );
        if action == "reply" {
            assert!(
                html.contains("name=\"wait\" value=\"1\" checked"),
                "the checkbox is kept"
            );
        }
        assert_eq!(footprint(&app, id).await, before, "{action} {message}");
    }
    // A file input left empty is no file at all: the note goes through.
    let r = post_files(
        &tech,
        &format!("{page}/comment"),
        &[("version", &v), ("body", "Sin adjuntos")],
        &[("", "application/octet-stream", Vec::new())],
    )
    .await;
    assert_redirect_to(&r, &page);
    assert_eq!(rows(&app, "mail_attachments", id).await, before.1);

    // The requester's page refuses the same way, keeping their text.
    let v = version(&app, id).await;
    post_files(
        &tech,
        &format!("{page}/reply"),
        &[("version", &v), ("body", "¿Sigue?")],
        &[],
    )
    .await;
    let token = status_token(&app, &admin.user, id).await;
    let requester = TestApp::client();
    let base = app.url(&format!("/s/{token}"));
    let html = requester
        .get(&base)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::helpers::csrf_in(&html).unwrap();
    let before = footprint(&app, id).await;
    let r = requester
        .post(&base)
        .multipart(form(
            &[("body", "Sí, sigue igual"), ("csrf_token", &csrf)],
            &[("enorme.png", "image/png", big.clone())],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("El archivo «enorme.png» supera el tamaño máximo"),
        "{html}"
    );
    assert!(html.contains(">Sí, sigue igual</textarea>"), "{html}");
    assert_eq!(footprint(&app, id).await, before);
}

mod refused_files_keep_the_draft_and_write_nothing {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = crate::helpers::TestApp::spawn_with(
            soporte::storage::Backend::Sqlite,
            super::small_limits(),
        )
        .await
        .expect("sqlite app");
        super::refused_files_keep_the_draft_and_write_nothing(app).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) = crate::helpers::TestApp::spawn_with(
            soporte::storage::Backend::Postgres,
            super::small_limits(),
        )
        .await
        {
            super::refused_files_keep_the_draft_and_write_nothing(app).await;
        }
    }
}

async fn a_body_past_the_upload_limit_is_cut_off_as_it_streams(app: TestApp) {
    let (id, tech, _admin) = assigned_ticket(&app).await;
    let before = footprint(&app, id).await;
    let v = version(&app, id).await;
    // Past the route's limit (files + text + framing): the stream is cut, not buffered.
    let huge = vec![b'x'; 4 * 1024 * 1024];
    let mut all = vec![("version", v.as_str()), ("body", "Con un archivo enorme")];
    all.push(("csrf_token", &tech.csrf));
    let r = tech
        .client
        .post(format!("{}/tickets/{}/comment", tech.base, id.0))
        .multipart(form(
            &all,
            &[("enorme.iso", "application/octet-stream", huge)],
        ))
        .send()
        .await;
    // The server answers 413 as soon as it stops reading; a client still sending may see
    // the connection close instead. Either way nothing is written.
    match r {
        Ok(r) => assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE),
        Err(e) => eprintln!("PROBE connection closed: {e}"),
    }
    assert_eq!(footprint(&app, id).await, before);
}

mod a_body_past_the_upload_limit_is_cut_off_as_it_streams {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = crate::helpers::TestApp::spawn_with(
            soporte::storage::Backend::Sqlite,
            super::small_limits(),
        )
        .await
        .expect("sqlite app");
        super::a_body_past_the_upload_limit_is_cut_off_as_it_streams(app).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) = crate::helpers::TestApp::spawn_with(
            soporte::storage::Backend::Postgres,
            super::small_limits(),
        )
        .await
        {
            super::a_body_past_the_upload_limit_is_cut_off_as_it_streams(app).await;
        }
    }
}

// ------------------------------------------------------------------------------------------
// The list

async fn the_list_filters_by_requester_with_a_chip(app: TestApp) {
    let (id, tech, admin) = assigned_ticket(&app).await;
    let second = app
        .intake(
            "Juan Pérez <JUAN@dominio.pe>",
            "Otra vez la VPN",
            "Sigue sin conectar",
        )
        .await;
    app.intake("maria@otra.pe", "Impresora", "No imprime").await;
    let v = version(&app, id).await;
    post_files(
        &tech,
        &format!("/tickets/{}/reply", id.0),
        &[("version", &v), ("body", "¿Sigue?"), ("wait", "1")],
        &[],
    )
    .await;
    let (s, html) = admin.get_html("/?requester=juan%40dominio.pe").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("La VPN no conecta") && html.contains("Otra vez la VPN"));
    assert!(!html.contains("Impresora"));
    assert!(html.contains("Solicitante: juan@dominio.pe"), "{html}");
    assert!(html.contains("aria-label=\"Quitar el filtro de solicitante juan@dominio.pe\""));
    assert!(html.contains("<input type=\"hidden\" name=\"requester\" value=\"juan@dominio.pe\">"));
    assert!(html.contains("Esperando al usuario"));
    assert_eq!(
        linked_ids(&html, "href=\"/tickets/")
            .iter()
            .filter(|n| **n == second["id"].as_i64().unwrap())
            .count(),
        2
    );
    // The chip's ✕ keeps the other filters and drops the requester.
    let (_, html) = admin
        .get_html("/?requester=juan%40dominio.pe&status=en_espera")
        .await;
    assert!(html.contains("href=\"/?status=en_espera\""), "{html}");
    assert!(html.contains("La VPN no conecta") && !html.contains("Otra vez la VPN"));
    // Not an address: a Spanish message, not a 500.
    let (s, html) = admin.get_html("/?requester=juan").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("El solicitante debe ser un correo electrónico válido."));
}
both_backends!(the_list_filters_by_requester_with_a_chip);

/// The conversation through the API: a reply (201, e-mailed, waiting), a note (never
/// e-mailed), every timeline event marked public or internal, refusals that write nothing,
/// and the requester filter with the requester's name.
async fn the_api_replies_and_every_event_says_who_sees_it(app: TestApp) {
    let (id, tech, admin) = assigned_ticket(&app).await;
    let path = format!("/api/v1/tickets/{}", id.0);
    let outbox = || rows(&app, "mail_outbox", id);
    let sent_before = outbox().await;

    let (s, t) = tech
        .post_json(
            &format!("{path}/replies"),
            serde_json::json!({"body": "Reinicie el router, por favor.", "wait": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(t["status"], "en_espera");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM mail_outbox WHERE ticket_id = {} AND recipient = 'juan@dominio.pe' AND kind = 'reply'",
            id.0
        ))
        .await,
        1,
        "the reply goes to the requester"
    );
    assert_eq!(outbox().await, sent_before + 1);

    let (s, t) = tech
        .post_json(
            &format!("{path}/comments"),
            serde_json::json!({"body": "Revisar el firewall de la sede."}),
        )
        .await;
    assert!(s.is_success(), "{s} {t}");
    assert_eq!(outbox().await, sent_before + 1, "a note is never e-mailed");

    let (s, t) = tech.get_json(&path).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t["requester"], "juan@dominio.pe");
    assert_eq!(t["requester_name"], "Juan Pérez");
    let timeline = t["timeline"].as_array().unwrap();
    let seen: Vec<(&str, &str)> = timeline
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["visibility"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("created", "public"),
            ("assigned", "internal"),
            ("replied", "public"),
            ("commented", "internal"),
        ]
    );
    assert_eq!(
        timeline[2]["data"]["body"],
        "Reinicie el router, por favor."
    );

    // An empty reply, a reply to someone else's ticket: refused, nothing written.
    let before = footprint(&app, id).await;
    let (s, e) = tech
        .post_json(
            &format!("{path}/replies"),
            serde_json::json!({"body": "  "}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().len() > 5);
    let other = app
        .browser_for(app.create_user(Role::Technician, "Otra Técnica").await)
        .await;
    let (s, _) = other
        .post_json(
            &format!("{path}/replies"),
            serde_json::json!({"body": "Hola"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(footprint(&app, id).await, before);

    // The requester filter: the address in any case, only that requester's tickets, and a
    // technician still only sees their own.
    let second = app
        .intake("Juan Pérez <JUAN@dominio.pe>", "Otra vez la VPN", "Nada")
        .await["id"]
        .as_i64()
        .unwrap();
    app.intake("maria@otra.pe", "Impresora", "No imprime").await;
    let ids = |v: &serde_json::Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect()
    };
    let (s, list) = admin
        .get_json("/api/v1/tickets?requester=Juan%40Dominio.pe")
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(ids(&list), [second, id.0]);
    let (_, list) = tech
        .get_json("/api/v1/tickets?requester=juan%40dominio.pe")
        .await;
    assert_eq!(ids(&list), [id.0]);
    let (s, e) = admin.get_json("/api/v1/tickets?requester=juan").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
}
both_backends!(the_api_replies_and_every_event_says_who_sees_it);

/// Ratings reach `GET /api/v1/dashboard` as `csat`, overall and per technician, and the
/// requester's page stops answering 90 days after the close (not a day before).
async fn ratings_reach_the_dashboard_json_and_the_link_ends_90_days_after_the_close(app: TestApp) {
    let (id, tech, admin) = assigned_ticket(&app).await;
    app.clock.set(MONDAY_0900 + 3_600);
    let v = version(&app, id).await;
    let r = tech
        .post_form(
            &format!("/tickets/{}/close", id.0),
            &[("version", &v), ("resolution", "Listo."), ("confirm", "1")],
        )
        .await;
    assert_redirect_to(&r, &format!("/tickets/{}", id.0));
    let closed_at = MONDAY_0900 + 3_600;
    let token = status_token(&app, &admin.user, id).await;
    let requester = TestApp::client();
    let rate = app.url(&format!("/s/{token}/valorar"));
    let html = requester
        .get(format!("{rate}?puntaje=4"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::helpers::csrf_in(&html).unwrap();
    let r = requester
        .post(&rate)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("puntaje", "4"),
            ("comentario", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let (s, d) = admin
        .get_json("/api/v1/dashboard?from=2026-11-01&to=2026-11-30")
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["csat"]["responses"], 1);
    assert_eq!(d["csat"]["mean"], 4.0);
    assert_eq!(
        d["csat"]["by_score"],
        serde_json::json!({"1": 0, "2": 0, "3": 0, "4": 1, "5": 0})
    );
    let mine = d["technicians"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == tech.user.id.0)
        .unwrap_or_else(|| panic!("the technician's row: {d}"));
    assert_eq!(mine["csat"]["responses"], 1);

    let page = app.url(&format!("/s/{token}"));
    let status_of = |at: i64| {
        let (app, requester, page) = (&app, &requester, &page);
        async move {
            app.clock.set(at);
            requester.get(page).send().await.unwrap().status()
        }
    };
    assert_eq!(status_of(closed_at + 89 * 86_400).await, StatusCode::OK);
    assert_eq!(
        status_of(closed_at + 90 * 86_400 - 60).await,
        StatusCode::OK
    );
    assert_eq!(
        status_of(closed_at + 90 * 86_400 + 60).await,
        StatusCode::NOT_FOUND
    );
    // The rating form ends with it.
    assert_eq!(
        requester
            .get(format!("{rate}?puntaje=5"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}
both_backends_at!(
    ratings_reach_the_dashboard_json_and_the_link_ends_90_days_after_the_close,
    MONDAY_0900
);

/// Waiting for the requester pauses the resolution clock (no due while paused, the business
/// minutes stand still) and their answer resumes it with the due moved by the time waited.
async fn waiting_pauses_the_resolution_clock_until_the_requester_answers(app: TestApp) {
    let (id, tech, admin) = assigned_ticket(&app).await;
    let path = format!("/api/v1/tickets/{}", id.0);
    let resolution = |t: &serde_json::Value| t["sla"]["resolution"].clone();
    let at = |t: &serde_json::Value| {
        t["due_at"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second()
    };
    let (_, t) = tech.get_json(&path).await;
    let due_before = at(&resolution(&t));
    assert_eq!(resolution(&t)["state"], "running");

    app.clock.set(MONDAY_0900 + 3_600);
    let (s, t) = tech
        .post_json(
            &format!("{path}/replies"),
            serde_json::json!({"body": "¿Qué versión de Windows usa?", "wait": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let r = resolution(&t);
    assert_eq!(
        (r["state"].as_str(), r["due_at"].is_null()),
        (Some("paused"), true),
        "{r}"
    );
    assert_eq!(r["elapsed_business_minutes"], 60);

    // Two working hours later the clock has not moved.
    app.clock.set(MONDAY_0900 + 3 * 3_600);
    let (_, t) = tech.get_json(&path).await;
    assert_eq!(resolution(&t)["elapsed_business_minutes"], 60);
    assert_eq!(resolution(&t)["state"], "paused");

    // The requester answers on their page: back at work, the due two hours later.
    let token = status_token(&app, &admin.user, id).await;
    let requester = TestApp::client();
    let base = app.url(&format!("/s/{token}"));
    let html = requester
        .get(&base)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::helpers::csrf_in(&html).unwrap();
    let r = requester
        .post(&base)
        .multipart(form(&[("body", "Windows 11."), ("csrf_token", &csrf)], &[]))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let (_, t) = tech.get_json(&path).await;
    assert_eq!(t["status"], "en_atencion");
    let r = resolution(&t);
    assert_eq!(r["state"], "running", "{r}");
    assert_eq!(r["elapsed_business_minutes"], 60);
    assert_eq!(at(&r) - due_before, 2 * 3_600, "{r}");
}
both_backends_at!(
    waiting_pauses_the_resolution_clock_until_the_requester_answers,
    MONDAY_0900
);

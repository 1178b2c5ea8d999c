//! The dashboard and the exports, with tickets whose every event happened at a known instant
//! (the app's clock is set by the test and each step goes through the real write path), and
//! an export large enough to stream in many buffers over demo data.

use crate::both_backends;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;
use soporte::domain::ids::TicketId;
use soporte::domain::ticket::NewTicket;
use soporte::domain::user::{Actor, Role, User};
use soporte::service::tickets::Action;
use soporte::storage::Backend;

/// 2026-11-02 14:00 in Lima (19:00 UTC).
const T0: i64 = 1_793_646_000;

struct Scenario {
    app: TestApp,
    admin: User,
    t1: User,
    t2: User,
    ids: [i64; 5],
}

async fn at(app: &TestApp, secs: i64) {
    app.clock.set(T0 + secs);
}

async fn act(app: &TestApp, who: &User, id: i64, action: Action) {
    app.services
        .act(&who.actor(), TicketId(id), None, action)
        .await
        .expect("action applies");
}

async fn receive(app: &TestApp, subject: &str) -> i64 {
    let new = NewTicket::parse("cliente@dominio.com", subject, "cuerpo").unwrap();
    app.services.receive(&new, None).await.unwrap().id.0
}

/// A: assigned +600 to t1, first response +1800, closed +7200.
/// B (created +3600): assigned +1200 to t1, returned +2400, assigned to t2 +3000, t2 comments
///   +3600, t2 passes to t1 +4000, t1 closes +9000.
/// C (created +7200): assigned +300 to t2, comment +900, closed +3000, reopened +5000,
///   closed again +8000.
/// D (created +10000): still new.  E (created +10800): assigned +100 to t1.
async fn scenario(backend: Backend) -> Option<Scenario> {
    let app = TestApp::spawn_at(backend, T0).await?;
    let admin = app.create_user(Role::Admin, "Admin").await;
    let d = app.create_user(Role::Dispatcher, "Derivadora").await;
    let t1 = app.create_user(Role::Technician, "Tecnico Uno").await;
    let t2 = app.create_user(Role::Technician, "Tecnico Dos").await;
    let assign = |t: &User| Action::Assign { technician: t.id };

    at(&app, 0).await;
    let a = receive(&app, "A: red").await;
    at(&app, 600).await;
    act(&app, &d, a, assign(&t1)).await;
    at(&app, 1800).await;
    act(
        &app,
        &t1,
        a,
        Action::Reply {
            body: "reviso".into(),
            wait: false,
        },
    )
    .await;

    at(&app, 3600).await;
    let b = receive(&app, "=HYPERLINK(\"http://x\")").await;
    at(&app, 3600 + 1200).await;
    act(&app, &d, b, assign(&t1)).await;
    at(&app, 3600 + 2400).await;
    act(
        &app,
        &t1,
        b,
        Action::Return {
            reason: "No es de mi área".into(),
        },
    )
    .await;
    at(&app, 3600 + 3000).await;
    act(&app, &d, b, assign(&t2)).await;
    at(&app, 3600 + 3600).await;
    act(
        &app,
        &t2,
        b,
        Action::Reply {
            body: "veo".into(),
            wait: false,
        },
    )
    .await;

    at(&app, 7200).await;
    act(
        &app,
        &t1,
        a,
        Action::Close {
            resolution: "Cable cambiado".into(),
        },
    )
    .await;
    let c = receive(&app, "C: impresora").await;
    at(&app, 7200 + 300).await;
    act(&app, &d, c, assign(&t2)).await;
    at(&app, 3600 + 4000).await;
    act(
        &app,
        &t2,
        b,
        Action::Reassign {
            technician: t1.id,
            reason: "Redes".into(),
        },
    )
    .await;
    at(&app, 7200 + 900).await;
    act(
        &app,
        &t2,
        c,
        Action::Reply {
            body: "voy".into(),
            wait: false,
        },
    )
    .await;
    at(&app, 7200 + 3000).await;
    act(
        &app,
        &t2,
        c,
        Action::Close {
            resolution: "Tóner".into(),
        },
    )
    .await;
    at(&app, 3600 + 9000).await;
    act(
        &app,
        &t1,
        b,
        Action::Close {
            resolution: "Puerto del switch".into(),
        },
    )
    .await;
    at(&app, 7200 + 5000).await;
    act(
        &app,
        &admin,
        c,
        Action::Reopen {
            reason: "Sigue fallando".into(),
        },
    )
    .await;
    at(&app, 7200 + 8000).await;
    act(
        &app,
        &t2,
        c,
        Action::Close {
            resolution: "Fusor cambiado".into(),
        },
    )
    .await;

    at(&app, 10_000).await;
    let dd = receive(&app, "D: correo").await;
    at(&app, 10_800).await;
    let e = receive(&app, "E: vpn").await;
    at(&app, 10_900).await;
    act(&app, &d, e, assign(&t1)).await;
    at(&app, 20_000).await;
    Some(Scenario {
        app,
        admin,
        t1,
        t2,
        ids: [a, b, c, dd, e],
    })
}

fn stat(v: &Value, key: &str) -> (u64, f64, f64, f64) {
    let s = &v[key];
    (
        s["count"].as_u64().unwrap(),
        s["mean_seconds"].as_f64().unwrap(),
        s["median_seconds"].as_f64().unwrap(),
        s["p90_seconds"].as_f64().unwrap(),
    )
}

async fn dashboard_figures_match_the_hand_worked_values(backend: Backend) {
    let Some(s) = scenario(backend).await else {
        return;
    };
    let admin = s.app.browser_for(s.admin.clone()).await;
    let (status, v) = admin
        .get_json("/api/v1/dashboard?from=2026-11-02&to=2026-11-02")
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // Assign: A 600, B 1200, C 300, E 100.
    assert_eq!(stat(&v, "time_to_assign"), (4, 550.0, 450.0, 1200.0));
    // First technician comment: A 1800, B 3600 (t2, after the return), C 900.
    assert_eq!(
        stat(&v, "time_to_first_response"),
        (3, 2100.0, 1800.0, 3600.0)
    );
    // Close: A 7200, B 9000, C 8000 (the last close after reopening).
    let (n, mean, median, p90) = stat(&v, "time_to_close");
    assert_eq!((n, median, p90), (3, 8000.0, 9000.0));
    assert!((mean - 24_200.0 / 3.0).abs() < 1e-6);
    // Queue waits: A 600, B 1200 and 600, C 300, E 100.
    assert_eq!(stat(&v, "queue_wait"), (5, 560.0, 600.0, 1200.0));
    assert_eq!(v["waiting_in_queue_now"], 1);
    assert_eq!(v["longest_wait_now_seconds"], 10_000);
    assert_eq!(v["counts"]["cerrado"], 3);
    assert_eq!(v["counts"]["nuevo"], 1);
    assert_eq!(v["counts"]["asignado"], 1);
    assert_eq!(v["counts"]["en_atencion"], 0);
    assert_eq!(v["open"], 2);
    assert_eq!(v["returned"], 1);
    assert_eq!(v["passed_on"], 1);
    let reasons: Vec<&str> = v["recent_handoffs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["Redes", "No es de mi área"]);
    // Backlog: D is 10 000 s old, E 9 200 s.
    assert_eq!(stat(&v, "backlog_age"), (2, 9600.0, 9600.0, 10_000.0));
    let open: Vec<i64> = v["open_tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(open, [s.ids[3], s.ids[4]], "oldest first");
    assert_eq!(v["daily"].as_array().unwrap().len(), 1);
    assert_eq!(v["daily"][0]["opened"], 5);
    assert_eq!(v["daily"][0]["closed"], 3);
    // Per technician, each time counted for who had the ticket at that milestone: the first
    // assignee, the technician who answered, the one who closed.
    let tech = |id: i64| {
        v["technicians"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()
            .clone()
    };
    let t1 = tech(s.t1.id.0);
    assert_eq!(t1["open"], 1);
    assert_eq!(t1["closed"], 2);
    assert_eq!(
        stat(&t1, "time_to_assign"),
        (3, 1900.0 / 3.0, 600.0, 1200.0)
    );
    assert_eq!(stat(&t1, "time_to_close"), (2, 8100.0, 8100.0, 9000.0));
    let t2 = tech(s.t2.id.0);
    // B's first answer was t2's (3600) before t2 passed it to t1; C's was t2's too (900).
    assert_eq!(
        stat(&t2, "time_to_first_response"),
        (2, 2250.0, 2250.0, 3600.0)
    );
    assert_eq!(stat(&t2, "time_to_assign"), (1, 300.0, 300.0, 300.0));
    assert_eq!(
        stat(&t1, "time_to_first_response"),
        (1, 1800.0, 1800.0, 1800.0)
    );
    assert_eq!(stat(&t2, "time_to_close"), (1, 8000.0, 8000.0, 8000.0));

    // The same figures on the page, with their formula notes and both charts.
    let (s_html, html) = admin
        .get_html("/dashboard?from=2026-11-02&to=2026-11-02")
        .await;
    assert_eq!(s_html, StatusCode::OK);
    for text in [
        "9 min",
        "7 min 30 s",
        "2 h 14 min",
        "Mediana",
        "Percentil 90",
        "el último, si se reabrió",
        "No es de mi área",
        "<svg",
        "Ver como tabla",
    ] {
        assert!(html.contains(text), "dashboard shows {text:?}");
    }
    // Its charts need no script: the only one is the shared file every page may go without.
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script src=\"/static/app.js\" defer></script>")
            .count(),
        "no inline script"
    );

    // A technician sees only their own figures.
    let t1b = s.app.browser_for(s.t1.clone()).await;
    let (_, v) = t1b
        .get_json("/api/v1/dashboard?from=2026-11-02&to=2026-11-02")
        .await;
    assert_eq!(v["scope"], "own");
    assert_eq!(v["counts"]["cerrado"], 2);
    assert_eq!(v["counts"]["nuevo"], 0);
    assert_eq!(stat(&v, "time_to_close"), (2, 8100.0, 8100.0, 9000.0));
    assert!(v["queue_wait"].is_null());
    assert_eq!(v["technicians"].as_array().unwrap().len(), 1);
    let open: Vec<i64> = v["open_tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(open, [s.ids[4]]);
    // A period with nothing in it.
    let (_, v) = admin
        .get_json("/api/v1/dashboard?from=2026-10-01&to=2026-10-05")
        .await;
    assert_eq!(v["time_to_close"]["count"], 0);
    assert!(v["time_to_close"]["mean_seconds"].is_null());
    let (status, v) = admin.get_json("/api/v1/dashboard?from=ayer").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v["error"]["message"].as_str().unwrap().contains("desde"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_figures_match_the_hand_worked_values_sqlite() {
    dashboard_figures_match_the_hand_worked_values(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_figures_match_the_hand_worked_values_postgres() {
    dashboard_figures_match_the_hand_worked_values(Backend::Postgres).await;
}

async fn the_csv_opens_cleanly_in_excel(backend: Backend) {
    let Some(s) = scenario(backend).await else {
        return;
    };
    let admin = s.app.browser_for(s.admin.clone()).await;
    let r = admin.get("/export/closed.csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let bytes = r.bytes().await.unwrap();
    assert!(
        bytes.starts_with("\u{feff}".as_bytes()),
        "UTF-8 byte-order mark"
    );
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    assert!(text.ends_with("\r\n"));
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "CRLF line ends only"
    );
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 4, "header + the three closed tickets");
    assert_eq!(
        lines[0],
        "Número,Remitente,Asunto,Técnico,Creada,Asignada,Primera respuesta,Cerrada,Cerrada por,Horas hasta asignar,Horas hasta primera respuesta,Horas hasta cierre,Nota de resolución,Valoración,Comentario de valoración,Prioridad,Categoría,Vencimiento asignación,Asignación cumplida,Minutos hábiles hasta asignar,Vencimiento primera respuesta,Primera respuesta cumplida,Minutos hábiles hasta primera respuesta,Vencimiento resolución,Resolución cumplida,Minutos hábiles hasta resolución"
    );
    let a = lines[1];
    assert_eq!(
        a,
        format!(
            "INC-{:06},cliente@dominio.com,A: red,Tecnico Uno,02/11/2026 14:00,02/11/2026 14:10,02/11/2026 14:30,02/11/2026 16:00,Tecnico Uno,0.17,0.50,2.00,Cable cambiado,,,\
             Media,,02/11/2026 15:00,Sí,10,02/11/2026 18:00,Sí,30,05/11/2026 14:00,Sí,120",
            s.ids[0]
        )
    );
    // A subject that Excel would run as a formula is neutralised (and quoted, having quotes).
    assert!(
        lines[2].contains(",\"'=HYPERLINK(\"\"http://x\"\")\","),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].contains(",2.22,Fusor cambiado,,,Media,"),
        "{}",
        lines[3]
    );

    // The semicolon variant for a decimal-comma Excel.
    let text = admin
        .get("/export/closed.csv?sep=semicolon")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(";0,17;0,50;2,00;Cable cambiado;;;Media;;02/11/2026 15:00;Sí;10;"),
        "{text}"
    );

    // Date range on the closing day, and a technician's export holds only their tickets.
    let text = admin
        .get("/export/closed.csv?from=2026-11-03&to=2026-11-30")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(text.split("\r\n").filter(|l| !l.is_empty()).count(), 1);
    let t2 = s.app.browser_for(s.t2.clone()).await;
    let text = t2.get("/export/closed.csv").await.text().await.unwrap();
    let rows: Vec<&str> = text
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].starts_with(&format!("INC-{:06},", s.ids[2])));
    let r = admin.get("/export/closed.csv?from=mal").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The workbook: a real xlsx with the same rows, dates as date cells.
    let r = admin.get("/export/closed.xlsx").await;
    assert_eq!(r.status(), StatusCode::OK);
    let bytes = r.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut sheet = String::new();
    std::io::Read::read_to_string(
        &mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(),
        &mut sheet,
    )
    .unwrap();
    let mut strings = String::new();
    if let Ok(mut f) = zip.by_name("xl/sharedStrings.xml") {
        std::io::Read::read_to_string(&mut f, &mut strings).unwrap();
    }
    let all = format!("{sheet}{strings}");
    assert!(all.contains(&format!("INC-{:06}", s.ids[0])) && all.contains("Fusor cambiado"));
    // 02/11/2026 14:00 as an Excel serial date (days since 1899-12-30).
    assert!(
        sheet.contains("<v>46328.58333333"),
        "created date as a number"
    );
    assert!(sheet.contains("<col "), "column widths set");
    let mut styles = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("xl/styles.xml").unwrap(), &mut styles).unwrap();
    assert!(styles.contains("dd/mm/yyyy hh:mm"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_csv_opens_cleanly_in_excel_sqlite() {
    the_csv_opens_cleanly_in_excel(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_csv_opens_cleanly_in_excel_postgres() {
    the_csv_opens_cleanly_in_excel(Backend::Postgres).await;
}

/// The text of one part of a downloaded workbook.
fn workbook_part(bytes: &[u8], name: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut text).unwrap();
    text
}

/// The workbook's dates are Lima wall-clock time as the time-zone database has it, the same
/// the CSV shows: in February 1994 Peru kept summer time (UTC−4), in April it did not.
async fn the_workbook_and_the_csv_read_the_same_lima_clock(backend: Backend) {
    // 1994-02-01 13:00 UTC: 09:00 in Lima that summer.
    let summer = 760_107_600;
    // 1994-04-05 14:00 UTC: 09:00 in Lima, back on UTC−5.
    let autumn = summer + 63 * 86_400 + 3_600;
    let Some(app) = TestApp::spawn_at(backend, summer).await else {
        return;
    };
    let admin = app.create_user(Role::Admin, "Admin").await;
    let tech = app.create_user(Role::Technician, "Tecnico").await;
    for start in [summer, autumn] {
        app.clock.set(start);
        let id = receive(&app, "Reloj").await;
        app.clock.set(start + 5_400);
        for action in [
            Action::Assign {
                technician: tech.id,
            },
            Action::Close {
                resolution: "Hora revisada".into(),
            },
        ] {
            act(&app, &admin, id, action).await;
        }
    }
    let admin = app.browser_for(admin).await;
    let csv = admin.get("/export/closed.csv").await.text().await.unwrap();
    assert!(
        csv.contains(",01/02/1994 09:00,01/02/1994 10:30,,01/02/1994 10:30,")
            && csv.contains(",05/04/1994 09:00,05/04/1994 10:30,,05/04/1994 10:30,"),
        "{csv}"
    );
    let r = admin.get("/export/closed.xlsx").await;
    assert_eq!(r.status(), StatusCode::OK);
    let sheet = workbook_part(&r.bytes().await.unwrap(), "xl/worksheets/sheet1.xml");
    // Excel serial dates (days since 1899-12-30): 1994-02-01 09:00 and 10:30, 1994-04-05
    // 09:00 and 10:30.
    for serial in ["34366.375", "34366.4375", "34429.375", "34429.4375"] {
        assert!(
            sheet.contains(&format!("<v>{serial}</v>")),
            "{serial} in {sheet}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workbook_and_the_csv_read_the_same_lima_clock_sqlite() {
    the_workbook_and_the_csv_read_the_same_lima_clock(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workbook_and_the_csv_read_the_same_lima_clock_postgres() {
    the_workbook_and_the_csv_read_the_same_lima_clock(Backend::Postgres).await;
}

/// Enough closed tickets for the CSV to leave in many buffers: every closed ticket exactly
/// once, in ticket order, each record whole; a client that stops reading half-way leaves the
/// server able to export again.
async fn a_large_export_streams_every_closed_ticket(app: TestApp) {
    let options = soporte::service::demo::DemoOptions::new(3_000, 60, 11);
    app.services.demo(&options).await.unwrap();
    let admin = app.create_user(Role::Admin, "Admin").await;
    let admin = app.browser_for(admin).await;
    let closed = app
        .count("SELECT COUNT(*) FROM tickets WHERE status = 'cerrado'")
        .await;
    let id_sum = app
        .count("SELECT CAST(SUM(id) AS BIGINT) FROM tickets WHERE status = 'cerrado'")
        .await;
    assert!(closed > 2_000, "{closed}");

    let bytes = admin.get("/export/closed.csv").await.bytes().await.unwrap();
    assert!(bytes.len() > 4 * 64 * 1024, "{} bytes", bytes.len());
    assert!(bytes.starts_with("\u{feff}".as_bytes()));
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let (mut rows, mut sum, mut last) = (0, 0, 0);
    for record in reader.records() {
        let record = record.unwrap();
        assert_eq!(record.len(), 26, "{record:?}");
        let id: i64 = record[0].trim_start_matches("INC-").parse().unwrap();
        assert!(id > last, "ticket order: {id} after {last}");
        (rows, sum, last) = (rows + 1, sum + id, id);
    }
    assert_eq!((rows, sum), (closed, id_sum));

    // Hang up after the first bytes: the read behind it stops, and the next export is whole.
    let mut r = admin.get("/export/closed.csv").await;
    assert!(!r.chunk().await.unwrap().unwrap_or_default().is_empty());
    drop(r);
    let again = admin.get("/export/closed.csv").await.bytes().await.unwrap();
    assert_eq!(again, bytes);

    // The workbook holds the same tickets in the same order, one row each under the header,
    // and arrives whole again after a client that hung up half-way.
    let workbook = admin
        .get("/export/closed.xlsx")
        .await
        .bytes()
        .await
        .unwrap();
    let sheet = workbook_part(&workbook, "xl/worksheets/sheet1.xml");
    let numbers: Vec<i64> = sheet
        .split("<c r=\"A")
        .skip(2)
        .map(|cell| {
            let text = cell
                .split("<t>")
                .nth(1)
                .unwrap()
                .split("</t>")
                .next()
                .unwrap();
            text.trim_start_matches("INC-").parse().unwrap()
        })
        .collect();
    let in_csv: Vec<i64> = csv::Reader::from_reader(&bytes[3..])
        .records()
        .map(|r| r.unwrap()[0].trim_start_matches("INC-").parse().unwrap())
        .collect();
    assert_eq!(numbers, in_csv);
    assert_eq!(sheet.matches("<row ").count() as i64, closed + 1);
    let mut r = admin.get("/export/closed.xlsx").await;
    assert!(!r.chunk().await.unwrap().unwrap_or_default().is_empty());
    drop(r);
    let again = admin
        .get("/export/closed.xlsx")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(workbook_part(&again, "xl/worksheets/sheet1.xml"), sheet);
}

both_backends!(a_large_export_streams_every_closed_ticket);

/// Every page and endpoint that takes `from`/`to` dates reads them one way: a date that is
/// not one is named in Spanish, «desde» or «hasta» — a 422 where the answer is the data, the
/// message on the page where the page still shows (with the default filter).
async fn every_date_filter_names_the_bad_date(app: TestApp) {
    let admin = app.signed_in(Role::Admin, "Admin").await;
    for (query, which) in [("from=ayer", "«desde»"), ("to=31/02/2026", "«hasta»")] {
        let message = format!("La fecha {which} no es válida (aaaa-mm-dd).");
        for path in ["/api/v1/tickets", "/api/v1/dashboard"] {
            let (s, v) = admin.get_json(&format!("{path}?{query}")).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}?{query}");
            assert_eq!(v["error"]["message"], message.as_str(), "{path}?{query}");
        }
        for path in ["/export/closed.csv", "/export/closed.xlsx"] {
            let (s, html) = admin.get_html(&format!("{path}?{query}")).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}?{query}");
            assert!(html.contains(&message), "{path}?{query}: {html}");
        }
        for path in ["/", "/dashboard"] {
            let (s, html) = admin.get_html(&format!("{path}?{query}")).await;
            assert_eq!(s, StatusCode::OK, "{path}?{query}");
            assert!(html.contains(&message), "{path}?{query}: {html}");
        }
    }
}

both_backends!(every_date_filter_names_the_bad_date);

#[tokio::test]
async fn the_dashboard_and_exports_need_a_session() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let c = TestApp::client();
    for p in ["/dashboard", "/export/closed.csv", "/export/closed.xlsx"] {
        assert_redirect_to(&c.get(app.url(p)).send().await.unwrap(), "/login");
    }
    let r = c.get(app.url("/api/v1/dashboard")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let _ = Actor::System;
}

/// The dashboard is computed once per change, not once per request: shown again while
/// nothing changed (its `generated_at` stays), computed anew as soon as a ticket changes —
/// through this server, or through another process on the same database with its own writer
/// — and after half a minute without changes (ages move); a technician added meanwhile is
/// listed at once.
async fn the_dashboard_is_computed_once_per_change(backend: Backend) {
    let Some(app) = TestApp::spawn_at(backend, T0).await else {
        return;
    };
    let admin = app.create_user(Role::Admin, "Admin").await;
    let actor = admin.actor();
    let period =
        || soporte::domain::metrics::Period::lima_days(None, None, T0).expect("the last 30 days");
    let first = app.services.dashboard(&actor, period()).await.unwrap();
    assert_eq!((first.generated_at, first.open_total), (T0, 0));

    at(&app, 5).await;
    let again = app.services.dashboard(&actor, period()).await.unwrap();
    assert_eq!(again.generated_at, T0, "nothing changed: the same figures");
    let tech = app.create_user(Role::Technician, "Nueva").await;
    let listed = app.services.dashboard(&actor, period()).await.unwrap();
    assert_eq!(listed.generated_at, T0);
    assert!(
        listed.technicians.iter().any(|t| t.id == tech.id),
        "a new technician is listed without waiting for a change"
    );

    // Through the API, whose body is written once per dashboard: the same body while
    // nothing changes, a technician's new name at once, a change's figures at once.
    let browser = app.browser_for(admin.clone()).await;
    let api = || async {
        let (status, v) = browser.get_json("/api/v1/dashboard").await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v
    };
    let name_of = |v: &Value| {
        v["technicians"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == tech.id.0)
            .map(|t| t["name"].as_str().unwrap().to_string())
    };
    let shown = api().await;
    assert_eq!(name_of(&shown).as_deref(), Some("Nueva"));
    assert_eq!(api().await, shown, "nothing changed: the same body");
    let profile = soporte::service::accounts::ProfileInput {
        name: "Nueva Rojas".into(),
        email: tech.email.clone(),
        phone: String::new(),
        area: String::new(),
    };
    app.services
        .update_profile(tech.id, &profile)
        .await
        .unwrap();
    let renamed = api().await;
    assert_eq!(name_of(&renamed).as_deref(), Some("Nueva Rojas"));
    assert_eq!(renamed["generated_at"], shown["generated_at"]);
    assert_eq!(
        app.services
            .dashboard(&actor, period())
            .await
            .unwrap()
            .technicians
            .iter()
            .find(|t| t.id == tech.id)
            .map(|t| t.name.as_str()),
        Some("Nueva Rojas")
    );

    receive(&app, "Por este servidor").await;
    let after = app.services.dashboard(&actor, period()).await.unwrap();
    assert_eq!((after.generated_at, after.open_total), (T0 + 5, 1));
    let changed = api().await;
    assert_eq!(changed["open"], 1, "{changed}");
    assert_ne!(changed["generated_at"], shown["generated_at"]);

    // Another process with its own writer and its own news (a second instance, or the
    // command line) writes to the same database.
    let other = soporte::service::Services::open(
        &app.database_url,
        soporte::service::Settings {
            clock: app.clock.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    at(&app, 6).await;
    let new = NewTicket::parse("otro@dominio.com", "Por otro proceso", "x").unwrap();
    other.receive(&new, None).await.unwrap();
    let seen = app.services.dashboard(&actor, period()).await.unwrap();
    assert_eq!((seen.generated_at, seen.open_total), (T0 + 6, 2));
    if backend == Backend::Postgres {
        // Its notification reaches this server a moment later and counts as a change too.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let seen = app.services.dashboard(&actor, period()).await.unwrap();
    assert_eq!((seen.generated_at, seen.open_total), (T0 + 6, 2));
    other.close().await;

    // Near half a minute without changes: the request gets the one kept, and from 20 s of
    // age it is computed again in the background (the backlog a little older), so nobody
    // waits for it when it turns 30 s old.
    let refresh_at = 6 + soporte::service::reports::DASHBOARD_FRESH_SECS - 1;
    at(&app, refresh_at).await;
    let kept = app.services.dashboard(&actor, period()).await.unwrap();
    assert_eq!(kept.generated_at, T0 + 6);
    let mut aged = kept;
    for _ in 0..200 {
        aged = app.services.dashboard(&actor, period()).await.unwrap();
        if aged.generated_at != T0 + 6 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        aged.generated_at,
        T0 + refresh_at,
        "computed again in the background"
    );
    assert!(aged.backlog.mean > seen.backlog.mean);
    at(&app, 6 + soporte::service::reports::DASHBOARD_FRESH_SECS).await;
    let later = app.services.dashboard(&actor, period()).await.unwrap();
    assert_eq!(
        later.generated_at,
        T0 + refresh_at,
        "the one computed ahead is shown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_computed_once_per_change_sqlite() {
    the_dashboard_is_computed_once_per_change(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_computed_once_per_change_postgres() {
    the_dashboard_is_computed_once_per_change(Backend::Postgres).await;
}

/// The dashboard most people open is computed ahead once tickets stop changing: opening it
/// after a quiet moment shows the one computed then, with every ticket written before.
async fn the_dashboard_is_computed_ahead_once_tickets_stop_changing(backend: Backend) {
    let Some(app) = TestApp::spawn_at(backend, T0).await else {
        return;
    };
    let admin = app.create_user(Role::Admin, "Admin").await;
    let warm = app.services.clone();
    let warming = tokio::spawn(async move { warm.keep_dashboard_warm().await });
    for i in 1..=3 {
        at(&app, i).await;
        receive(&app, &format!("Llega la {i}")).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    // Quiet for three times as long as the warm-up waits for (its two-second watch may
    // have started just before the last change), and time for the computation.
    at(&app, 4).await;
    tokio::time::sleep(std::time::Duration::from_millis(6_000)).await;
    at(&app, 9).await;
    let period =
        soporte::domain::metrics::Period::lima_days(None, None, T0 + 9).expect("the last 30 days");
    let shown = app
        .services
        .dashboard(&admin.actor(), period)
        .await
        .unwrap();
    warming.abort();
    assert_eq!(
        (shown.generated_at, shown.open_total),
        (T0 + 4, 3),
        "the one computed during the quiet moment, with the three tickets"
    );
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_computed_ahead_once_tickets_stop_changing_sqlite() {
    the_dashboard_is_computed_ahead_once_tickets_stop_changing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_computed_ahead_once_tickets_stop_changing_postgres() {
    the_dashboard_is_computed_ahead_once_tickets_stop_changing(Backend::Postgres).await;
}

/// The dashboard's backlog ages read the open tickets' creation instants a chunk at a time:
/// whatever the chunk, every open ticket once (closed ones never), ties on the same second
/// included, for everyone and for one technician.
async fn the_backlog_reads_every_open_ticket_in_chunks(app: TestApp) {
    use sqlx::Row;
    let admin = app.create_user(Role::Admin, "Ada").await;
    let tech = app.create_user(Role::Technician, "Tito").await;
    for i in 0..23_i64 {
        // Tickets in the same second: the chunks' row comparison must split ties.
        app.clock.set(T0 + i / 3);
        let id = receive(&app, &format!("Caso {i}")).await;
        let action = match i % 5 {
            0 => Action::Close {
                resolution: "Listo".into(),
            },
            1 | 2 => Action::Assign {
                technician: tech.id,
            },
            _ => continue,
        };
        act(&app, &admin, id, action).await;
    }
    let mut conn = app.store.pool().acquire().await.unwrap();
    let expected = |sql: &'static str| {
        let pool = app.store.pool().clone();
        async move {
            let mut v: Vec<i64> = sqlx::query(sql)
                .fetch_all(&pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get::<i64, _>(0).unwrap())
                .collect();
            v.sort();
            v
        }
    };
    let all = expected("SELECT created_at FROM tickets WHERE status <> 'cerrado'").await;
    let mine = expected(
        "SELECT t.created_at FROM tickets t JOIN users u ON u.id = t.assignee_id \
         WHERE t.status <> 'cerrado' AND u.name = 'Tito'",
    )
    .await;
    assert_eq!((all.len(), mine.len()), (18, 10));
    for chunk in [1, 2, 4, 7, 1_000] {
        let mut got =
            soporte::storage::reports::open_created_by(&mut conn, app.backend, None, chunk)
                .await
                .unwrap();
        got.sort();
        assert_eq!(got, all, "chunk {chunk}");
        let mut got = soporte::storage::reports::open_created_by(
            &mut conn,
            app.backend,
            Some(tech.id),
            chunk,
        )
        .await
        .unwrap();
        got.sort();
        assert_eq!(got, mine, "chunk {chunk}, the technician's");
    }
}
both_backends!(the_backlog_reads_every_open_ticket_in_chunks);

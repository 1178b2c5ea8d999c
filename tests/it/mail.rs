//! The mail channel for real: raw messages over HTTP and through the pipe transport, threading,
//! quarantine, attachments, notices through a real SMTP conversation (a small sink written
//! here with tokio) and the IMAP poller against a real Dovecot started on 127.0.0.1.

use crate::both_backends;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;
use soporte::config::ServeArgs;
use soporte::domain::ids::{TicketId, TicketNumber};
use soporte::domain::mail::{MailLimits, Notice};
use soporte::domain::user::{Actor, Role};
use soporte::mail::outbound::{SmtpConfig, SmtpTls, send_due};
use soporte::mail::parse::parse;
use soporte::mail::poller::{ImapConfig, poll_once};
use soporte::service::tickets::Action;
use soporte::service::{Clock, Services, Settings};
use soporte::storage::Backend;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub(crate) fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/mail/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A message as a mail client writes it.
pub(crate) fn eml(from: &str, subject: &str, message_id: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: atencion@miempresa.com\r\nSubject: {subject}\r\nDate: Tue, 4 Mar 2025 10:00:00 -0500\r\nMessage-ID: <{message_id}>\r\n{extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

pub(crate) async fn post_raw(app: &TestApp, raw: Vec<u8>) -> (StatusCode, Value) {
    let r = TestApp::client()
        .post(app.url("/intake/email"))
        .header("Content-Type", "message/rfc822")
        .body(raw)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn count(app: &TestApp, table: &str) -> i64 {
    app.count(&format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}"))
        .await
}

fn id_of(v: &Value) -> TicketId {
    TicketId(v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}")))
}

async fn notices(app: &TestApp, id: TicketId) -> Vec<Notice> {
    app.services.notices(&Actor::System, id).await.unwrap()
}

/// Assigns a ticket to a new technician (as a dispatcher) and returns the technician.
async fn assign(app: &TestApp, id: TicketId, name: &str) -> soporte::domain::user::User {
    let dispatcher = app.create_user(Role::Dispatcher, "Diego Derivador").await;
    let tech = app.create_user(Role::Technician, name).await;
    app.services
        .act(
            &dispatcher.actor(),
            id,
            None,
            Action::Assign {
                technician: tech.id,
            },
        )
        .await
        .unwrap();
    tech
}

// ------------------------------------------------------------------------------------------
// Raw messages over HTTP

async fn a_raw_message_becomes_a_ticket_with_downloadable_attachments(app: TestApp) {
    let (status, body) = post_raw(&app, fixture("attachment.eml")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = id_of(&body);
    assert_eq!(body["number"], TicketNumber(id).to_string());
    let (ticket, _) = app.services.ticket(&Actor::System, id).await.unwrap();
    assert_eq!(ticket.requester, "carla@dominio.com");
    assert_eq!(ticket.subject, "Con adjunto");
    assert!(ticket.body.contains("Adjunto el informe del error."));

    // The acknowledgement was written with the ticket, answering the customer's message.
    let acks = notices(&app, id).await;
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].kind.as_str(), "ack");
    assert_eq!(acks[0].recipient, "carla@dominio.com");
    assert_eq!(acks[0].in_reply_to.as_deref(), Some("att-1@dominio.com"));

    // Staff see the attachments on the ticket's page and can download them.
    let admin = app.signed_in(Role::Admin, "Ana Admin").await;
    let (s, html) = admin.get_html(&format!("/tickets/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("informe técnico.pdf") && html.contains("captura.png"));
    let marker = "href=\"/attachments/";
    let start = html.find(marker).unwrap() + "href=\"".len();
    let url: String = html[start..].chars().take_while(|c| *c != '"').collect();
    // The first round's address still serves the same file.
    let old = format!("/tickets/{id}/{}", url.trim_start_matches('/'));
    assert_eq!(admin.get(&old).await.status(), StatusCode::OK, "{old}");
    let r = admin.get(&url).await;
    assert_eq!(r.status(), StatusCode::OK);
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.contains("filename*=UTF-8''informe%20t%C3%A9cnico.pdf"),
        "{disposition}"
    );
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"%PDF-1.4 prueba");

    // A technician who may not see the ticket may not see its attachments: 404, as for a
    // ticket that does not exist; once it is theirs, they may.
    let tech_user = app.create_user(Role::Technician, "Tito Técnico").await;
    let tech = app.browser_for(tech_user.clone()).await;
    assert_eq!(tech.get(&url).await.status(), StatusCode::NOT_FOUND);
    let dispatcher = app.create_user(Role::Dispatcher, "Diego Derivador").await;
    app.services
        .act(
            &dispatcher.actor(),
            id,
            None,
            Action::Assign {
                technician: tech_user.id,
            },
        )
        .await
        .unwrap();
    assert_eq!(tech.get(&url).await.status(), StatusCode::OK);
    assert_eq!(
        admin
            .get(&format!("/tickets/{id}/attachments/999999"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}
both_backends!(a_raw_message_becomes_a_ticket_with_downloadable_attachments);

#[tokio::test]
async fn an_oversized_attachment_is_recorded_without_its_content() {
    let mut args = ServeArgs::default();
    args.mail.limits.mail_max_attachment_bytes = 10;
    let app = TestApp::spawn_with(Backend::Sqlite, args).await.unwrap();
    let (status, body) = post_raw(&app, fixture("attachment.eml")).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = id_of(&body);
    let admin = app.signed_in(Role::Admin, "Ana Admin").await;
    let (_, html) = admin.get_html(&format!("/tickets/{id}")).await;
    assert!(html.contains("informe técnico.pdf"));
    assert!(
        html.contains("no se guardó: supera el tamaño máximo"),
        "{html}"
    );
    assert!(!html.contains("href=\"/attachments/"));
}

// ------------------------------------------------------------------------------------------
// Threading

async fn replies_join_their_ticket_by_header_or_tag_and_reopen_it(app: TestApp) {
    let (status, body) = post_raw(&app, fixture("plain.eml")).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = id_of(&body);
    let number = TicketNumber(id).to_string();
    let ack_token = notices(&app, id).await[0].token.clone();

    // The technician closes it; the closing notice answers the customer's message.
    let tech = assign(&app, id, "Rosa Díaz").await;
    app.services
        .act(
            &tech.actor(),
            id,
            None,
            Action::Close {
                resolution: "Se cambió el cable.".into(),
            },
        )
        .await
        .unwrap();
    let all = notices(&app, id).await;
    let kinds: Vec<&str> = all.iter().map(|n| n.kind.as_str()).collect();
    assert_eq!(kinds, vec!["ack", "assigned", "closed"]);
    assert_eq!(all[1].recipient, tech.email);
    assert_eq!(all[2].recipient, "cliente@dominio.com");
    assert_eq!(all[2].in_reply_to.as_deref(), Some("plain-1@dominio.com"));

    // A reply to our acknowledgement (In-Reply-To names its Message-ID) reopens the ticket.
    let reply = eml(
        "Cliente <cliente@dominio.com>",
        "Re: sigue igual",
        "r1@dominio.com",
        &format!("In-Reply-To: <{ack_token}@miempresa.com>\r\n"),
        "Sigue sin funcionar.\r\n\r\nEl lun, 3 mar 2025, Soporte escribió:\r\n> Recibimos su solicitud.",
    );
    let (status, body) = post_raw(&app, reply.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(id_of(&body), id);
    assert_eq!(body["status"], "asignado");
    assert_eq!(
        body["matched_by"],
        format!("In-Reply-To: <{ack_token}@miempresa.com>")
    );
    let (ticket, events) = app.services.ticket(&Actor::System, id).await.unwrap();
    assert_eq!(ticket.assignee_id, Some(tech.id));
    let message = events
        .iter()
        .find(|e| e.kind.as_str() == "customer_message")
        .unwrap();
    assert_eq!(message.actor, "cliente@dominio.com");
    assert_eq!(message.data.body.as_deref(), Some("Sigue sin funcionar."));
    assert!(events.iter().any(|e| e.kind.as_str() == "reopened"));

    // The same reply delivered again changes nothing.
    let before = events.len();
    let (status, _) = post_raw(&app, reply).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.services
            .ticket(&Actor::System, id)
            .await
            .unwrap()
            .1
            .len(),
        before
    );

    // References naming the first message also thread it.
    let (status, body) = post_raw(
        &app,
        eml(
            "cliente@dominio.com",
            "Otra cosa",
            "r2@dominio.com",
            "References: <unknown@x.com> <plain-1@dominio.com>\r\n",
            "Un dato más.",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["matched_by"], "References: <plain-1@dominio.com>");

    // The ticket number in the subject, from the requester.
    let (status, body) = post_raw(
        &app,
        eml(
            "CLIENTE@dominio.com",
            &format!("Re: [{number}] Problema de red"),
            "r3@dominio.com",
            "",
            "Ya probé reiniciar.",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["matched_by"], format!("Asunto: {number}"));

    // The same tag from a stranger opens a new ticket linked to it instead.
    let events_before = app
        .services
        .ticket(&Actor::System, id)
        .await
        .unwrap()
        .1
        .len();
    let (status, body) = post_raw(
        &app,
        eml(
            "intruso@otro.com",
            &format!("Re: [{number}] Problema de red"),
            "x1@otro.com",
            "",
            "Yo también tengo el problema.",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let other = id_of(&body);
    assert_ne!(other, id);
    assert_eq!(body["linked_to"], number);
    assert_eq!(
        app.services
            .ticket(&Actor::System, id)
            .await
            .unwrap()
            .1
            .len(),
        events_before
    );
    let admin = app.signed_in(Role::Admin, "Ana Admin").await;
    let (_, html) = admin.get_html(&format!("/tickets/{other}")).await;
    assert!(html.contains(&format!(
        "Relacionada con <a href=\"/tickets/{id}\">{number}</a>"
    )));
    let (_, html) = admin.get_html(&format!("/tickets/{id}")).await;
    assert!(
        html.contains("Unido a la incidencia por: Asunto: "),
        "{html}"
    );
}
both_backends!(replies_join_their_ticket_by_header_or_tag_and_reopen_it);

// ------------------------------------------------------------------------------------------
// Loop protection and quarantine

async fn machines_are_quarantined_and_an_admin_can_file_one_by_hand(app: TestApp) {
    let mut first = None;
    for (name, code) in [
        ("autoreply.eml", "auto_submitted"),
        ("x-autoreply.eml", "autoreply"),
        ("outlook-oof.eml", "auto_response_suppress"),
        ("bulk.eml", "bulk"),
        ("bounce.eml", "mailer_daemon"),
    ] {
        let (status, body) = post_raw(&app, fixture(name)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{name}: {body}");
        assert_eq!(body["code"], code, "{name}");
        assert_eq!(body["quarantined"], true);
        first.get_or_insert(body["quarantine_id"].as_i64().unwrap());
    }
    assert_eq!(count(&app, "tickets").await, 0);
    assert_eq!(
        count(&app, "mail_outbox").await,
        0,
        "robots are never answered"
    );
    // A redelivery is recorded once.
    let (_, again) = post_raw(&app, fixture("autoreply.eml")).await;
    assert_eq!(again["quarantine_id"].as_i64(), first);
    assert_eq!(count(&app, "mail_quarantine").await, 5);

    let admin = app.signed_in(Role::Admin, "Ana Admin").await;
    let (s, html) = admin.get_html("/admin/quarantine").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("vacaciones@dominio.com"));
    assert!(html.contains("Respuesta automática (Auto-Submitted: auto-replied)."));
    let dispatcher = app.signed_in(Role::Dispatcher, "Diego Derivador").await;
    let (s, html) = dispatcher.get_html("/admin/quarantine").await;
    assert_ne!(s, StatusCode::OK);
    assert!(!html.contains("vacaciones@dominio.com"));

    let q = first.unwrap();
    let (s, html) = admin.get_html(&format!("/admin/quarantine/{q}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Estoy de vacaciones hasta el lunes."));
    assert!(html.contains("Auto-Submitted: auto-replied"));
    let r = admin
        .post_form(&format!("/admin/quarantine/{q}/release"), &[])
        .await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let to = location(&r);
    let id: i64 = to.trim_start_matches("/tickets/").parse().unwrap();
    let (ticket, _) = app
        .services
        .ticket(&Actor::System, TicketId(id))
        .await
        .unwrap();
    assert_eq!(ticket.requester, "vacaciones@dominio.com");
    assert_eq!(
        count(&app, "mail_outbox").await,
        0,
        "no acknowledgement to a robot"
    );
    let (_, html) = admin.get_html("/admin/quarantine").await;
    assert!(html.contains(&TicketNumber(TicketId(id)).to_string()));
    // Filing it twice is refused with a message.
    let r = admin
        .post_form(&format!("/admin/quarantine/{q}/release"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("ya se convirtió en la incidencia")
    );
}
both_backends!(machines_are_quarantined_and_an_admin_can_file_one_by_hand);

async fn garbage_and_malformed_mime_get_a_clear_answer_and_a_record(app: TestApp) {
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let (status, body) = post_raw(&app, garbage.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "unreadable_message");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("cuarentena"), "{message}");
    assert_eq!(count(&app, "mail_quarantine").await, 1);
    let (status, again) = post_raw(&app, garbage).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(again, body, "the same record, once");
    assert_eq!(count(&app, "mail_quarantine").await, 1);

    // Broken MIME with a readable sender still becomes a ticket (what could be read of it).
    let (status, body) = post_raw(&app, fixture("malformed.eml")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Over the HTTP body limit (a 30 MB message): 413 in JSON, nothing half-stored. Raw TCP,
    // because the answer comes once the limit is passed, before the rest of the body is
    // sent, and an HTTP client that keeps writing would only see the closed connection.
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /intake/email HTTP/1.1\r\nHost: {}\r\nContent-Type: message/rfc822\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        app.addr,
        30 * 1024 * 1024
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    // One byte past the limit: the server reads it all, so it closes cleanly after answering.
    let mut body = fixture("plain.eml");
    body.resize(2 * 1024 * 1024 + 1, b'a');
    let _ = socket.write_all(&body).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read_to_end(&mut socket, &mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    assert_eq!(count(&app, "tickets").await, 1);
}
both_backends!(garbage_and_malformed_mime_get_a_clear_answer_and_a_record);

#[tokio::test]
async fn a_message_over_the_mail_limit_is_kept_in_quarantine_with_a_clear_error() {
    let mut args = ServeArgs::default();
    args.mail.limits.mail_max_message_bytes = 64 * 1024;
    let app = TestApp::spawn_with(Backend::Sqlite, args).await.unwrap();
    let mut big = fixture("plain.eml");
    big.extend(std::iter::repeat_n(b'a', 200 * 1024));
    let (status, body) = post_raw(&app, big).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "message_too_large");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("supera el tamaño máximo")
    );
    let admin = app.signed_in(Role::Admin, "Ana Admin").await;
    let (_, html) = admin.get_html("/admin/quarantine").await;
    assert!(html.contains("cliente@dominio.com") && html.contains("Problema de red"));
}

// ------------------------------------------------------------------------------------------
// The pipe transport

fn pipe(database: &str, input: Vec<u8>) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_soporte"))
        .arg("intake")
        .env("DATABASE_URL", database)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

async fn the_pipe_transport_files_messages_and_exits_with_mta_codes(app: TestApp) {
    let db = app.database_url.clone();
    let run = move |input: Vec<u8>| {
        let db = db.clone();
        async move {
            tokio::task::spawn_blocking(move || pipe(&db, input))
                .await
                .unwrap()
        }
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();

    let out = run(fixture("plain.eml")).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("creada"),
        "{}",
        text(&out.stdout)
    );
    let out = run(fixture("plain.eml")).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("ya recibido"));
    assert_eq!(count(&app, "tickets").await, 1);

    // An auto-reply is filed in quarantine: success for the MTA (no bounce to a robot).
    let out = run(fixture("autoreply.eml")).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("en cuarentena"));

    // Garbage and a 30 MB message: recorded, and EX_DATAERR with the reason on stderr.
    let out = run(vec![0xff, 0xfe, 0, 1, 2, 3, 0x80]).await;
    assert_eq!(out.status.code(), Some(65));
    assert!(
        text(&out.stderr).contains("cuarentena"),
        "{}",
        text(&out.stderr)
    );
    let mut big = fixture("encoded-utf8.eml");
    big.extend(std::iter::repeat_n(b'x', 30 * 1024 * 1024));
    let started = std::time::Instant::now();
    let out = run(big).await;
    assert_eq!(out.status.code(), Some(65));
    assert!(
        text(&out.stderr).contains("supera el tamaño máximo"),
        "{}",
        text(&out.stderr)
    );
    eprintln!("30 MB through the pipe: {:?}", started.elapsed());
    let size: i64 = app
        .count("SELECT size FROM mail_quarantine WHERE sender = 'ana@dominio.com'")
        .await;
    assert!(size > 30 * 1024 * 1024);
    assert_eq!(count(&app, "tickets").await, 1);

    // The database unreachable: EX_TEMPFAIL, so the MTA keeps the message and retries.
    let out = tokio::task::spawn_blocking(|| {
        pipe("postgres://nadie@127.0.0.1:1/nada", fixture("plain.eml"))
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(75), "{}", text(&out.stderr));
}
both_backends!(the_pipe_transport_files_messages_and_exits_with_mta_codes);

// ------------------------------------------------------------------------------------------
// Notices through a real SMTP conversation

/// A small SMTP server: it records every message it accepts, or, while `down`, answers 421
/// (service not available) as a server that is restarting does.
pub(crate) struct SmtpSink {
    pub(crate) port: u16,
    pub(crate) down: Arc<AtomicBool>,
    received: Arc<tokio::sync::Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    pub(crate) async fn start() -> SmtpSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let received = Arc::new(tokio::sync::Mutex::new(Vec::new()));
        let (d, r) = (down.clone(), received.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (d, r) = (d.clone(), r.clone());
                tokio::spawn(async move {
                    let _ =
                        tokio::time::timeout(Duration::from_secs(20), session(socket, d, r)).await;
                });
            }
        });
        SmtpSink {
            port,
            down,
            received,
            task,
        }
    }

    pub(crate) async fn messages(&self) -> Vec<Vec<u8>> {
        self.received.lock().await.clone()
    }
}

async fn session(
    socket: tokio::net::TcpStream,
    down: Arc<AtomicBool>,
    received: Arc<tokio::sync::Mutex<Vec<Vec<u8>>>>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    if down.load(Ordering::SeqCst) {
        write
            .write_all(b"421 sink.test Service not available, try again later\r\n")
            .await?;
        return Ok(());
    }
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line).to_ascii_uppercase();
        if command.starts_with("EHLO") || command.starts_with("HELO") {
            write
                .write_all(b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if command.starts_with("DATA") {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = Vec::new();
            loop {
                line.clear();
                if lines.read_until(b'\n', &mut line).await? == 0 {
                    return Ok(());
                }
                if line == b".\r\n" {
                    break;
                }
                let unstuffed = if line.starts_with(b"..") {
                    &line[1..]
                } else {
                    &line[..]
                };
                data.extend_from_slice(unstuffed);
            }
            received.lock().await.push(data);
            write.write_all(b"250 2.0.0 queued\r\n").await?;
        } else if command.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"250 OK\r\n").await?;
        }
    }
}

fn smtp_config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::None,
        user: None,
        password: None,
        from: "Soporte <atencion@miempresa.com>".parse().unwrap(),
        daily_limit: 20,
        retry_base_secs: 30,
        every: Duration::from_millis(100),
        timeout: Duration::from_secs(5),
        oauth: false,
        public_url: "https://soporte.miempresa.com".into(),
    }
}

/// Another instance's services on the same database, with a clock the test moves.
/// Services for the outbox sender with a clock of their own, starting now: make them after
/// the notices a test sends are written, or those written in a later second are not due yet.
fn sender_services(app: &TestApp) -> (Services, Clock) {
    let clock = Clock::manual(soporte::domain::time::now());
    let services = Services::new(
        app.store.clone(),
        Settings {
            clock: clock.clone(),
            ..Settings::default()
        },
    );
    (services, clock)
}

fn header_of(raw: &[u8], name: &str) -> String {
    let text = String::from_utf8_lossy(raw);
    text.lines()
        .find(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l[name.len()..].starts_with(':')
        })
        .map(|l| l[name.len() + 1..].trim().to_string())
        .unwrap_or_default()
}

async fn notices_wait_while_smtp_is_down_and_go_out_once_when_it_is_back(app: TestApp) {
    let sink = SmtpSink::start().await;
    sink.down.store(true, Ordering::SeqCst);
    let config = smtp_config(sink.port);
    let transport = soporte::mail::outbound::transport(&config).unwrap();

    let (_, body) = post_raw(&app, fixture("plain.eml")).await;
    let id = id_of(&body);
    let tech = assign(&app, id, "Rosa Díaz").await;
    app.services
        .act(
            &tech.actor(),
            id,
            None,
            Action::Close {
                resolution: "Se cambió el cable de red.".into(),
            },
        )
        .await
        .unwrap();
    // The sender's clock starts now, after every notice above was written (on a loaded
    // machine the steps above can take more than a second).
    let (sender, clock) = sender_services(&app);

    // The server is down: every try is recorded and rescheduled, nothing is lost.
    for _ in 0..4 {
        let round = send_due(&sender, &config, &transport, "instancia-a")
            .await
            .unwrap();
        assert_eq!(round.sent, 0);
        clock.advance(120);
    }
    let waiting = notices(&app, id).await;
    assert_eq!(waiting.len(), 3);
    assert!(waiting.iter().all(|n| n.status == "pending"));
    // Each round stops at the first refusal (the server is down): the oldest notice was
    // tried and rescheduled with its error kept.
    assert!(waiting[0].attempts >= 1, "{waiting:?}");
    assert!(waiting[0].next_attempt_at > waiting[0].created_at);
    assert!(
        waiting[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("421"))
    );
    assert!(sink.messages().await.is_empty());

    // Back up: each notice goes out once.
    sink.down.store(false, Ordering::SeqCst);
    clock.advance(3600);
    let round = send_due(&sender, &config, &transport, "instancia-a")
        .await
        .unwrap();
    assert_eq!(round.sent, 3, "{round:?}");
    let round = send_due(&sender, &config, &transport, "instancia-a")
        .await
        .unwrap();
    assert_eq!(round.sent, 0);
    let sent = sink.messages().await;
    assert_eq!(sent.len(), 3);
    let stored = notices(&app, id).await;
    assert!(
        stored
            .iter()
            .all(|n| n.status == "sent" && n.sent_at.is_some())
    );

    let number = TicketNumber(id).to_string();
    let read: Vec<_> = sent
        .iter()
        .map(|raw| parse(raw, &MailLimits::default()))
        .collect();
    assert_eq!(
        read[0].subject,
        format!("[{number}] Recibimos su solicitud: Problema de red en el 3.er piso")
    );
    assert_eq!(
        read[1].subject,
        format!("[{number}] Se le asignó una incidencia: Problema de red en el 3.er piso")
    );
    assert_eq!(
        read[2].subject,
        format!("[{number}] Incidencia cerrada: Problema de red en el 3.er piso")
    );
    assert!(
        read[2].text.contains("Se cambió el cable de red."),
        "{}",
        read[2].text
    );
    for (raw, notice) in sent.iter().zip(&stored) {
        assert_eq!(
            header_of(raw, "Message-ID"),
            format!("<{}@miempresa.com>", notice.token)
        );
        assert_eq!(header_of(raw, "Auto-Submitted"), "auto-replied");
    }
    assert_eq!(header_of(&sent[0], "In-Reply-To"), "<plain-1@dominio.com>");
    assert_eq!(header_of(&sent[2], "In-Reply-To"), "<plain-1@dominio.com>");

    // The customer answers the closing notice from their mail client: it threads back by the
    // recorded Message-ID and reopens the ticket.
    let answer = eml(
        "cliente@dominio.com",
        "Re: Incidencia cerrada",
        "answer-1@dominio.com",
        &format!("In-Reply-To: {}\r\n", header_of(&sent[2], "Message-ID")),
        "Volvió a fallar.",
    );
    let (status, body) = post_raw(&app, answer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(id_of(&body), id);
    assert_eq!(body["status"], "asignado");
}
both_backends!(notices_wait_while_smtp_is_down_and_go_out_once_when_it_is_back);

async fn an_address_gets_at_most_its_daily_limit_of_automatic_messages(app: TestApp) {
    let sink = SmtpSink::start().await;
    let mut config = smtp_config(sink.port);
    config.daily_limit = 2;
    let transport = soporte::mail::outbound::transport(&config).unwrap();
    for i in 0..3 {
        let (status, _) = post_raw(
            &app,
            eml(
                "robot-sin-cabeceras@dominio.com",
                &format!("Alerta {i}"),
                &format!("alerta-{i}@dominio.com"),
                "",
                "Alerta.",
            ),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (sender, _) = sender_services(&app);
    let round = send_due(&sender, &config, &transport, "instancia-a")
        .await
        .unwrap();
    assert_eq!((round.sent, round.suppressed), (2, 1), "{round:?}");
    assert_eq!(sink.messages().await.len(), 2);
    let suppressed = app
        .count("SELECT CAST(COUNT(*) AS BIGINT) FROM mail_outbox WHERE status = 'suppressed' AND last_error LIKE 'Límite diario%'")
        .await;
    assert_eq!(suppressed, 1);
}
both_backends!(an_address_gets_at_most_its_daily_limit_of_automatic_messages);

async fn one_instance_sends_at_a_time(app: TestApp) {
    let sink = SmtpSink::start().await;
    let config = smtp_config(sink.port);
    let transport = soporte::mail::outbound::transport(&config).unwrap();
    post_raw(&app, fixture("plain.eml")).await;
    let (sender, _) = sender_services(&app);
    assert!(
        sender
            .acquire_lease("outbox-sender", "instancia-b", 600)
            .await
            .unwrap()
    );
    let round = send_due(&sender, &config, &transport, "instancia-a")
        .await
        .unwrap();
    assert!(round.skipped && round.sent == 0);
    sender
        .release_lease("outbox-sender", "instancia-b")
        .await
        .unwrap();
    let round = send_due(&sender, &config, &transport, "instancia-a")
        .await
        .unwrap();
    assert_eq!(round.sent, 1);
}
both_backends!(one_instance_sends_at_a_time);

// ------------------------------------------------------------------------------------------
// IMAP against a real Dovecot

/// Debian's Dovecot on 127.0.0.1 with its own configuration in a temp folder, one
/// passwd-file user, maildir storage owned by `mail` (Dovecot refuses uid 0).
struct Dovecot {
    port: u16,
    child: std::process::Child,
    dir: tempfile::TempDir,
}

const IMAP_USER: &str = "soporte@prueba.test";
const IMAP_PASSWORD: &str = "secreto-imap-1";

impl Drop for Dovecot {
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

impl Dovecot {
    /// `None` (with the reason printed) only outside CI when Dovecot is not installed.
    async fn start() -> Option<Dovecot> {
        let binary = "/usr/sbin/dovecot";
        if !std::path::Path::new(binary).exists() {
            if std::env::var("CI").is_ok() {
                panic!("Dovecot is required in CI (apt-get install dovecot-imapd)");
            }
            eprintln!("SKIPPED (Dovecot not installed, CI unset)");
            return None;
        }
        for _ in 0..5 {
            if let Some(d) = Self::try_start(binary).await {
                return Some(d);
            }
        }
        panic!("Dovecot did not start");
    }

    async fn try_start(binary: &str) -> Option<Dovecot> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        for sub in ["mail", "run", "state"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        let chown = std::process::Command::new("chown")
            .args(["-R", "mail:mail"])
            .arg(d.join("mail"))
            .status()
            .unwrap();
        assert!(chown.success());
        std::fs::write(
            d.join("passwd"),
            format!("{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}\n"),
        )
        .unwrap();
        // A free port: the kernel picks it, Dovecot takes it right after.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let p = d.display();
        let conf = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {p}/run\nstate_dir = {p}/state\n\
             log_path = {p}/dovecot.log\nssl = no\ndisable_plaintext_auth = no\n\
             auth_mechanisms = plain login\nmail_location = maildir:{p}/mail/%u\n\
             first_valid_uid = 1\ndefault_internal_user = mail\ndefault_internal_group = mail\n\
             default_login_user = mail\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {p}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid=mail gid=mail home={p}/mail/%u\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  \
             inet_listener imaps {{\n    port = 0\n  }}\n}}\n"
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
        let mut dovecot = Dovecot { port, child, dir };
        for _ in 0..100 {
            if let Ok(Some(_)) = dovecot.child.try_wait() {
                return None;
            }
            if dovecot.session().await.is_some() {
                return Some(dovecot);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    async fn session(&self) -> Option<async_imap::Session<tokio::net::TcpStream>> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .ok()?;
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.ok()??;
        client.login(IMAP_USER, IMAP_PASSWORD).await.ok()
    }

    async fn append(&self, raw: &[u8]) {
        let mut s = self.session().await.unwrap();
        s.append("INBOX", None, None, raw).await.unwrap();
        s.logout().await.unwrap();
    }

    async fn unseen(&self, folder: &str) -> usize {
        let mut s = self.session().await.unwrap();
        s.select(folder).await.unwrap();
        let n = s.uid_search("UNSEEN").await.unwrap().len();
        s.logout().await.unwrap();
        n
    }

    async fn count(&self, folder: &str) -> u32 {
        let mut s = self.session().await.unwrap();
        let n = s.select(folder).await.unwrap().exists;
        s.logout().await.unwrap();
        n
    }

    fn config(&self) -> ImapConfig {
        ImapConfig {
            host: "127.0.0.1".into(),
            port: self.port,
            tls: false,
            user: IMAP_USER.into(),
            password: soporte::config::Secret::new(IMAP_PASSWORD),
            folder: "INBOX".into(),
            move_to: None,
            every: Duration::from_secs(1),
            limits: MailLimits::default(),
            timeout: Duration::from_secs(10),
            oauth: false,
        }
    }
}

async fn the_poller_files_each_message_once_even_across_a_crash(app: TestApp) {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    let _keep = &dovecot.dir;
    let config = dovecot.config();
    let first = fixture("plain.eml");
    dovecot.append(&first).await;
    dovecot.append(&fixture("autoreply.eml")).await;
    // No Message-ID: its bytes are its identity.
    dovecot
        .append(b"From: sin-id@dominio.com\r\nSubject: Sin identificador\r\nDate: Tue, 4 Mar 2025 10:00:00 -0500\r\n\r\nEl teclado no responde.\r\n")
        .await;
    dovecot
        .append(&eml(
            "cliente@dominio.com",
            "Re: red",
            "imap-reply-1@dominio.com",
            "References: <plain-1@dominio.com>\r\n",
            "Ahora tampoco hay Wi-Fi.",
        ))
        .await;
    assert_eq!(dovecot.unseen("INBOX").await, 4);

    // A crash after the first message was committed but before it was marked seen.
    let mail = parse(&first, &MailLimits::default());
    app.services.receive_mail(&first, &mail).await.unwrap();

    // Another instance holds the lease: this one does not poll.
    assert!(
        app.services
            .acquire_lease("imap-poller", "instancia-b", 600)
            .await
            .unwrap()
    );
    let report = poll_once(&app.services, &config, "instancia-a")
        .await
        .unwrap();
    assert!(report.skipped);
    assert_eq!(dovecot.unseen("INBOX").await, 4);
    app.services
        .release_lease("imap-poller", "instancia-b")
        .await
        .unwrap();

    let report = poll_once(&app.services, &config, "instancia-a")
        .await
        .unwrap();
    assert_eq!(
        (report.filed, report.quarantined, report.failed),
        (3, 1, 0),
        "{report:?}"
    );
    assert_eq!(dovecot.unseen("INBOX").await, 0);
    assert_eq!(
        count(&app, "tickets").await,
        2,
        "no duplicate of the first message"
    );
    assert_eq!(count(&app, "mail_quarantine").await, 1);
    let first_id = TicketId(
        app.count("SELECT ticket_id FROM intake_keys WHERE key = 'mid:plain-1@dominio.com'")
            .await,
    );
    let (_, events) = app.services.ticket(&Actor::System, first_id).await.unwrap();
    assert!(events.iter().any(|e| e.kind.as_str() == "customer_message"
        && e.data.matched_by.as_deref() == Some("References: <plain-1@dominio.com>")));

    // A poll with nothing new files nothing.
    let report = poll_once(&app.services, &config, "instancia-a")
        .await
        .unwrap();
    assert_eq!(report.filed + report.quarantined, 0);

    // The database is down: the poll fails and the message stays unseen; later it is filed.
    dovecot
        .append(&eml(
            "nuevo@dominio.com",
            "Proyector",
            "imap-5@dominio.com",
            "",
            "No proyecta.",
        ))
        .await;
    let broken = Services::new(
        soporte::storage::Store::connect(&app.database_url)
            .await
            .unwrap(),
        Settings::default(),
    );
    broken.close().await;
    assert!(poll_once(&broken, &config, "instancia-a").await.is_err());
    assert_eq!(dovecot.unseen("INBOX").await, 1);
    let report = poll_once(&app.services, &config, "instancia-a")
        .await
        .unwrap();
    assert_eq!(report.filed, 1);
    assert_eq!(count(&app, "tickets").await, 3);

    // Configured to move filed messages: they leave the inbox for the folder.
    let mut moving = config.clone();
    moving.move_to = Some("Procesados".into());
    dovecot
        .append(&eml(
            "otro@dominio.com",
            "Impresora",
            "imap-6@dominio.com",
            "",
            "Sin tóner.",
        ))
        .await;
    let inbox_before = dovecot.count("INBOX").await;
    let report = poll_once(&app.services, &moving, "instancia-a")
        .await
        .unwrap();
    assert_eq!(report.filed, 1);
    assert_eq!(dovecot.count("INBOX").await, inbox_before - 1);
    assert_eq!(dovecot.count("Procesados").await, 1);
}
both_backends!(the_poller_files_each_message_once_even_across_a_crash);

// ------------------------------------------------------------------------------------------
// The conversation: a public reply out by SMTP and the requester's answer back through IMAP

/// A technician's public reply goes out threaded on the requester's message, with its file
/// and a link to the status page; the requester's answer to it, picked up from the real
/// mailbox, joins the same ticket and puts it back to work. The internal note never leaves.
async fn a_public_reply_goes_out_threaded_and_the_answer_comes_back(app: TestApp) {
    let Some(dovecot) = Dovecot::start().await else {
        return;
    };
    let _keep = &dovecot.dir;
    let sink = SmtpSink::start().await;
    let config = smtp_config(sink.port);
    let transport = soporte::mail::outbound::transport(&config).unwrap();

    let (_, body) = post_raw(&app, fixture("plain.eml")).await;
    let id = id_of(&body);
    let tech = assign(&app, id, "Rosa Díaz").await;
    let photo = soporte::domain::mail::Attachment {
        filename: "guía de conexión.png".into(),
        content_type: "image/png".into(),
        size: 4,
        data: Some(vec![0x89, b'P', b'N', b'G']),
    };
    app.services
        .act(
            &tech.actor(),
            id,
            None,
            Action::Comment {
                body: "Nota: el switch del piso 3 es viejo".into(),
            },
        )
        .await
        .unwrap();
    let replied = app
        .services
        .act_with_files(
            &tech.actor(),
            id,
            None,
            Action::Reply {
                body: "¿Podría decirnos qué luz tiene el router?".into(),
                wait: true,
            },
            vec![photo],
        )
        .await
        .unwrap();
    assert_eq!(replied.status.as_str(), "en_espera");

    let (sender, _clock) = sender_services(&app);
    let round = send_due(&sender, &config, &transport, "instancia-a")
        .await
        .unwrap();
    // The acknowledgement, the assignment and the reply; not the note.
    assert_eq!(round.sent, 3, "{round:?}");
    let sent = sink.messages().await;
    let reply = sent
        .iter()
        .find(|raw| header_of(raw, "Subject").starts_with("Re: "))
        .expect("the reply was sent");
    let number = TicketNumber(id).to_string();
    let subject = header_of(reply, "Subject");
    assert!(subject.contains(&format!("[{number}]")), "{subject}");
    assert_eq!(header_of(reply, "To"), "cliente@dominio.com");
    assert_eq!(header_of(reply, "In-Reply-To"), "<plain-1@dominio.com>");
    assert!(header_of(reply, "References").contains("<plain-1@dominio.com>"));
    let message_id = header_of(reply, "Message-ID");
    assert!(
        message_id.starts_with("<soporte.") && message_id.ends_with("@miempresa.com>"),
        "{message_id}"
    );
    let read = parse(reply, &MailLimits::default());
    assert!(
        read.text
            .contains("¿Podría decirnos qué luz tiene el router?"),
        "{}",
        read.text
    );
    assert!(
        !read.text.contains("switch del piso 3"),
        "the note stays inside"
    );
    let raw_text = String::from_utf8_lossy(reply);
    assert!(raw_text.contains("text/html"), "text and HTML parts");
    assert_eq!(read.attachments.len(), 1, "the reply's file goes with it");
    assert_eq!(read.attachments[0].filename, "guía de conexión.png");
    assert_eq!(
        read.attachments[0].data.as_deref(),
        Some(&[0x89, b'P', b'N', b'G'][..])
    );
    // The link to the status page, whose token is not kept once sent.
    let link = read
        .text
        .split_whitespace()
        .find(|w| w.starts_with("https://soporte.miempresa.com/s/"))
        .expect("a status-page link")
        .to_string();
    let token = link.rsplit('/').next().unwrap().to_string();
    assert_eq!(token.len(), 54);
    let page = app.services.status_page(&token).await.unwrap();
    assert_eq!(page.ticket.id, id);
    assert!(page.events.iter().all(|e| e.kind.as_str() != "commented"));
    let stored = notices(&app, id).await;
    assert!(
        stored.iter().all(|n| n.params.status_token.is_none()),
        "{stored:?}"
    );

    // The requester answers the reply from their mail client; it lands in the mailbox.
    let answer = eml(
        "cliente@dominio.com",
        &subject,
        "answer-1@dominio.com",
        &format!("In-Reply-To: {message_id}\r\nReferences: <plain-1@dominio.com> {message_id}\r\n"),
        "La luz roja parpadea.\r\n\r\nEl mar, 4 mar 2025 escribió:\r\n> ¿Podría decirnos qué luz tiene el router?",
    );
    dovecot.append(&answer).await;
    let report = poll_once(&app.services, &dovecot.config(), "instancia-a")
        .await
        .unwrap();
    assert!(!report.skipped);
    let (ticket, timeline) = app.services.ticket(&Actor::System, id).await.unwrap();
    assert_eq!(
        ticket.status.as_str(),
        "en_atencion",
        "the awaited answer resumes the work"
    );
    let last = timeline.last().unwrap();
    assert_eq!(last.kind.as_str(), "customer_message");
    assert_eq!(last.data.body.as_deref(), Some("La luz roja parpadea."));
    assert_eq!(
        last.data
            .matched_by
            .as_deref()
            .map(|m| m.starts_with("In-Reply-To")),
        Some(true),
        "{:?}",
        last.data.matched_by
    );
}
both_backends!(a_public_reply_goes_out_threaded_and_the_answer_comes_back);

/// A ticket waiting for its requester: a reminder after three days without an answer (once),
/// and after seven the system closes it, with the closing e-mail and its rating links.
async fn an_unanswered_wait_is_reminded_once_then_closed_by_the_system(app: TestApp) {
    use soporte::service::waiting::FollowUp;
    let start = app.clock.now();
    let (_, body) = post_raw(&app, fixture("plain.eml")).await;
    let id = id_of(&body);
    let tech = assign(&app, id, "Rosa Díaz").await;
    app.services
        .act(
            &tech.actor(),
            id,
            None,
            Action::Reply {
                body: "¿Sigue sin conexión?".into(),
                wait: true,
            },
        )
        .await
        .unwrap();
    let rules = FollowUp::days(3, 7);
    app.clock.set(start + 2 * 86_400);
    assert_eq!(
        app.services
            .follow_up_waiting(rules)
            .await
            .unwrap()
            .reminded,
        0
    );
    app.clock.set(start + 3 * 86_400 + 60);
    let done = app.services.follow_up_waiting(rules).await.unwrap();
    assert_eq!((done.reminded, done.closed), (1, 0));
    app.clock.set(start + 4 * 86_400);
    let done = app.services.follow_up_waiting(rules).await.unwrap();
    assert_eq!((done.reminded, done.closed), (0, 0), "reminded once");
    app.clock.set(start + 7 * 86_400 + 60);
    let done = app.services.follow_up_waiting(rules).await.unwrap();
    assert_eq!((done.reminded, done.closed), (0, 1));

    let (ticket, timeline) = app.services.ticket(&Actor::System, id).await.unwrap();
    assert_eq!(ticket.status.as_str(), "cerrado");
    let kinds: Vec<&str> = timeline.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["created", "assigned", "replied", "reminded", "closed"]
    );
    let closed = timeline.last().unwrap();
    assert_eq!(closed.actor, "Sistema");
    assert!(
        closed
            .data
            .resolution
            .as_deref()
            .unwrap()
            .contains("7 días")
    );
    let kinds: Vec<String> = notices(&app, id)
        .await
        .iter()
        .map(|n| n.kind.as_str().to_string())
        .collect();
    assert_eq!(kinds, ["ack", "assigned", "reply", "reminder", "closed"]);
    // The time spent waiting for the requester reaches the dashboard.
    let admin = app.create_user(Role::Admin, "Ana Admin").await;
    let period = soporte::domain::metrics::Period::lima_days(None, None, app.clock.now()).unwrap();
    let dashboard = app
        .services
        .dashboard(&admin.actor(), period)
        .await
        .unwrap();
    assert_eq!(dashboard.waiting.count, 1);
}
mod an_unanswered_wait_is_reminded_once_then_closed_by_the_system {
    // 2026-11-02 09:00 in Lima.
    const START: i64 = 1_793_628_000;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = crate::helpers::TestApp::spawn_at(soporte::storage::Backend::Sqlite, START)
            .await
            .expect("sqlite app");
        super::an_unanswered_wait_is_reminded_once_then_closed_by_the_system(app).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) =
            crate::helpers::TestApp::spawn_at(soporte::storage::Backend::Postgres, START).await
        {
            super::an_unanswered_wait_is_reminded_once_then_closed_by_the_system(app).await;
        }
    }
}

/// The limit of mail to one address reads an index of the sent notices only: a new ticket's
/// acknowledgement (pending) is not in it, so an intake commit adds no entry on the random
/// page an address picks; the notice joins the index when it is marked sent.
async fn the_daily_limit_reads_an_index_of_sent_notices_only(app: TestApp) {
    use sqlx::Row;
    app.intake("limite@dominio.com", "Sin red", "x").await;
    let mut conn = app.store.pool().acquire().await.unwrap();
    let (explain, column) = match app.backend {
        Backend::Sqlite => ("EXPLAIN QUERY PLAN ", "detail"),
        Backend::Postgres => {
            sqlx::query("SET enable_seqscan = off")
                .execute(&mut *conn)
                .await
                .unwrap();
            ("EXPLAIN ", "QUERY PLAN")
        }
    };
    let sql = "SELECT CAST(COUNT(*) AS BIGINT) FROM mail_outbox \
               WHERE recipient = 'limite@dominio.com' AND status = 'sent' AND sent_at >= 0";
    let plan: Vec<String> = sqlx::query(&format!("{explain}{sql}"))
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>(column).unwrap())
        .collect();
    assert!(
        plan.iter()
            .any(|l| l.contains("mail_outbox_recipient_sent")),
        "{plan:#?}"
    );
    // The pending acknowledgement is counted by nothing, then by the limit once sent.
    let id: i64 =
        sqlx::query_scalar("SELECT id FROM mail_outbox WHERE recipient = 'limite@dominio.com'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    let before: i64 = sqlx::query_scalar(sql).fetch_one(&mut *conn).await.unwrap();
    assert_eq!(before, 0);
    soporte::storage::mail::mark_sent(&mut conn, id, 10, "{}")
        .await
        .unwrap();
    let after: i64 = sqlx::query_scalar(sql).fetch_one(&mut *conn).await.unwrap();
    assert_eq!(after, 1);
}
both_backends!(the_daily_limit_reads_an_index_of_sent_notices_only);

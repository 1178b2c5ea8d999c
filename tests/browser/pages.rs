//! The main pages, over a help desk with some history, for the layout and accessibility
//! checks: who must be signed in to see each one, and data that fills them.

use crate::app::{App, PASSWORD};
use crate::harness::Browser;
use crate::journeys::sign_in;
use soporte::domain::ids::TicketId;
use soporte::domain::mail::Attachment;
use soporte::domain::user::{Role, User};
use soporte::service::tickets::Action;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Who {
    Nobody,
    Administrator,
    Technician,
}

pub struct Page {
    /// File-name friendly, e.g. `incidencias`.
    pub name: &'static str,
    pub path: String,
    pub who: Who,
}

pub struct Seeded {
    pub admin: User,
    pub technician: User,
    /// A ticket the technician is working on, with a timeline worth reading.
    pub worked: TicketId,
    /// The requester's link to the worked ticket's status page.
    pub worked_link: String,
    /// The requester's link to a closed ticket's page (to rate it).
    pub closed_link: String,
}

/// A 1×1 PNG, for a screenshot in the conversation.
pub const PNG: [u8; 69] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53,
    0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xe0, 0x8e, 0x59, 0x0b,
    0x00, 0x01, 0x8a, 0x01, 0x15, 0x01, 0xf2, 0xab, 0xd8, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

/// The latest status-page link the requester of `id` was sent (nothing sends mail here, so
/// the outbox still holds it).
pub async fn status_link(app: &App, by: &User, id: TicketId) -> String {
    let token = app
        .services
        .notices(&by.actor(), id)
        .await
        .expect("notices")
        .into_iter()
        .rev()
        .find_map(|n| n.params.status_token)
        .expect("a notice with a status-page link");
    format!("/s/{token}")
}

/// A help desk mid-morning: technicians, a dispatcher, tickets in every state.
pub async fn seed(app: &App) -> Seeded {
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
    // Five wrong passwords (from an address of its own): Técnicos and Credenciales show a
    // locked account with its «Desbloquear».
    for _ in 0..5 {
        let _ = app
            .services
            .sign_in(
                "carla.mendoza@miempresa.com",
                "equivocada-123",
                "127.0.0.9",
                None,
            )
            .await;
    }
    let ana = app
        .user(
            Role::Technician,
            "Ana Quispe",
            "ana.quispe@miempresa.com",
            "Redes",
        )
        .await;
    let luis = app
        .user(
            Role::Technician,
            "Luis Rojas",
            "luis.rojas@miempresa.com",
            "Soporte",
        )
        .await;
    app.user(
        Role::Technician,
        "María José Fernández Villanueva",
        "maria.jose.fernandez.villanueva@miempresa.com",
        "Impresoras y equipos multifunción",
    )
    .await;

    let t = |from: &'static str, subject: &'static str, body: &'static str| {
        let d = dispatcher.clone();
        async move { app.ticket(&d, from, subject, body).await.id }
    };
    t(
        "gerencia.comercial@cliente.pe",
        "El correo no sincroniza en el celular",
        "Desde ayer el correo corporativo no llega al celular.",
    )
    .await;
    let printer = t(
        "contabilidad@cliente.pe",
        "Impresora de contabilidad atascada",
        "La impresora del área de contabilidad indica atasco de papel.",
    )
    .await;
    app.act(&dispatcher, printer, Action::Assign { technician: ana.id })
        .await;

    let worked = t(
        "jorge.salas@cliente.pe",
        "Pantalla azul al iniciar Windows en la laptop de gerencia general después de la actualización",
        "Cada vez que enciendo la laptop aparece una pantalla azul con el código \
         CRITICAL_PROCESS_DIED.\n\nYa probé reiniciarla tres veces.\n\nGracias,\nJorge Salas",
    )
    .await;
    app.act(
        &dispatcher,
        worked,
        Action::Assign {
            technician: luis.id,
        },
    )
    .await;
    app.act(
        &luis,
        worked,
        Action::Reassign {
            technician: ana.id,
            reason: "Ana tiene el equipo de reemplazo.".into(),
        },
    )
    .await;
    app.act(
        &ana,
        worked,
        Action::Comment {
            body: "Reviso la laptop a las 3 p. m.; mientras tanto puede usar la de préstamo."
                .into(),
        },
    )
    .await;

    let redes = app
        .services
        .create_category(&admin.actor(), "Redes")
        .await
        .expect("category");
    app.services
        .create_category(&admin.actor(), "Impresoras y equipos multifunción")
        .await
        .expect("category");
    app.act(
        &dispatcher,
        worked,
        Action::Classify {
            priority: Some(soporte::domain::classification::Priority::Alta),
            category: Some(Some(redes.id)),
        },
    )
    .await;
    // The conversation: a screenshot for the requester, waiting for their answer, and a note.
    let png = |name: &str| Attachment {
        filename: name.to_string(),
        content_type: "image/png".to_string(),
        size: PNG.len(),
        data: Some(PNG.to_vec()),
    };
    app.services
        .act_with_files(
            &ana.actor(),
            worked,
            None,
            Action::Reply {
                body: "Hola, Jorge: ¿la pantalla azul es como la de la imagen? Responda a este \
                       correo o desde el enlace."
                    .into(),
                wait: true,
            },
            vec![png("pantalla azul de referencia.png")],
        )
        .await
        .expect("a reply with a screenshot");
    app.services
        .act_with_files(
            &ana.actor(),
            worked,
            None,
            Action::Comment {
                body: "El disco da errores SMART: pedir reemplazo si vuelve a fallar.".into(),
            },
            vec![png("smart.png")],
        )
        .await
        .expect("a note with a file");

    let access = t(
        "rrhh@cliente.pe",
        "Acceso a la carpeta compartida de RR. HH.",
        "Necesito acceso de lectura a \\\\servidor\\rrhh.",
    )
    .await;
    app.act(
        &dispatcher,
        access,
        Action::Assign {
            technician: luis.id,
        },
    )
    .await;
    app.act(
        &luis,
        access,
        Action::Return {
            reason: "Falta la aprobación de la jefa de RR. HH.".into(),
        },
    )
    .await;

    let phone = t(
        "recepcion@cliente.pe",
        "Teléfono IP sin tono",
        "El anexo 204 no tiene tono.",
    )
    .await;
    app.act(&dispatcher, phone, Action::Assign { technician: ana.id })
        .await;
    app.act(
        &ana,
        phone,
        Action::Close {
            resolution: "Se cambió el cable de red del teléfono.".into(),
        },
    )
    .await;

    let worked_link = status_link(app, &admin, worked).await;
    let closed_link = status_link(app, &admin, phone).await;
    Seeded {
        admin,
        technician: ana,
        worked,
        worked_link,
        closed_link,
    }
}

pub fn pages(s: &Seeded) -> Vec<Page> {
    let p = |name, path: &str, who| Page {
        name,
        path: path.to_string(),
        who,
    };
    vec![
        p("ingreso", "/login", Who::Nobody),
        p("ingreso-tecnico", "/login/technician", Who::Nobody),
        p("seguimiento", &s.worked_link, Who::Nobody),
        p(
            "valorar",
            &format!("{}/valorar?puntaje=4", s.closed_link),
            Who::Nobody,
        ),
        p("incidencias", "/", Who::Administrator),
        p("incidencias-todas", "/?view=todas", Who::Administrator),
        p(
            "incidencia",
            &format!("/tickets/{}", s.worked.0),
            Who::Administrator,
        ),
        p("tablero", "/dashboard", Who::Administrator),
        p("tecnicos", "/admin/technicians", Who::Administrator),
        p("credenciales", "/admin/credentials", Who::Administrator),
        p(
            "tecnico-historial",
            &format!("/admin/technicians/{}", s.technician.id),
            Who::Administrator,
        ),
        p(
            "deshabilitar-confirmar",
            &format!("/admin/technicians/{}/active", s.technician.id),
            Who::Administrator,
        ),
        p("categorias", "/admin/categories", Who::Administrator),
        p("calendario", "/admin/calendar", Who::Administrator),
        p("objetivos-sla", "/admin/sla", Who::Administrator),
        p("contrasena", "/account/password", Who::Administrator),
        p("correo", "/admin/mail", Who::Administrator),
        p(
            "notificaciones",
            "/admin/notificaciones",
            Who::Administrator,
        ),
        p("dos-pasos", "/account/2fa", Who::Administrator),
        p("no-encontrado", "/tickets/999999", Who::Administrator),
        p("incidencias-tecnico", "/", Who::Technician),
        p(
            "incidencia-tecnico",
            &format!("/tickets/{}", s.worked.0),
            Who::Technician,
        ),
    ]
}

/// Signs `b` in (or out) as `who` when it is not already that person.
pub async fn become_(b: &Browser, s: &Seeded, who: Who, current: &mut Who) {
    if *current == who {
        return;
    }
    if *current != Who::Nobody {
        b.goto("/").await;
        b.follow("header", "Salir").await;
        b.wait_path("/login").await;
    }
    match who {
        Who::Nobody => {}
        Who::Administrator => sign_in(b, "/login", s.admin.email.as_str(), PASSWORD).await,
        Who::Technician => sign_in(b, "/login", s.technician.email.as_str(), PASSWORD).await,
    }
    if who != Who::Nobody {
        b.wait_path("/").await;
    }
    *current = who;
}

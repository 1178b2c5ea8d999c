//! The main pages, over a help desk with some history, for the layout and accessibility
//! checks: who must be signed in to see each one, and data that fills them.

use crate::app::{App, PASSWORD};
use crate::harness::Browser;
use crate::journeys::sign_in;
use soporte::domain::ids::TicketId;
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

    Seeded {
        admin,
        technician: ana,
        worked,
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
        p("incidencias", "/", Who::Administrator),
        p(
            "incidencia",
            &format!("/tickets/{}", s.worked.0),
            Who::Administrator,
        ),
        p("tablero", "/dashboard", Who::Administrator),
        p("tecnicos", "/admin/technicians", Who::Administrator),
        p("credenciales", "/admin/credentials", Who::Administrator),
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

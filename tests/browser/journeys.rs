//! Each role's day, clicking and typing as a person would: the administrator's first sign-in
//! and the accounts they create, the dispatcher registering and handing out tickets, the
//! technician working them, and the administrator reading the dashboard and the export.

use crate::app::App;
use crate::harness::Browser;

/// Signs in through the form at `page` and waits for the next page.
pub async fn sign_in(b: &Browser, page: &str, email: &str, password: &str) {
    b.goto(page).await;
    b.type_into("#email", email).await;
    b.type_into("#password", password).await;
    b.follow("main", "Ingresar").await;
}

/// The forced password change every new account meets at its first sign-in.
async fn choose_password(b: &Browser, current: &str, new: &str) {
    b.wait_path("/account/password").await;
    b.wait_text("Antes de continuar debe elegir una contraseña nueva.")
        .await;
    b.type_into("#current_password", current).await;
    b.type_into("#new_password", new).await;
    b.type_into("#confirm_password", new).await;
    b.follow("main", "Guardar contraseña").await;
    b.wait_path("/").await;
    b.wait_text("Contraseña actualizada.").await;
}

async fn sign_out(b: &Browser) {
    b.follow("header", "Salir").await;
    b.wait_path("/login").await;
}

/// The password the administration page shows once for a new account.
async fn issued_password(b: &Browser) -> String {
    let p = b
        .find(".issued code.secret")
        .await
        .text()
        .await
        .expect("issued password");
    assert!(p.len() >= 10, "a generated password is long enough: {p:?}");
    p
}

/// Registers a ticket by hand from the list page; returns its id and number.
async fn register_ticket(b: &Browser, from: &str, subject: &str, body: &str) -> (String, String) {
    b.goto("/").await;
    b.click_text(
        "main",
        "Registrar correo recibido en atencion@miempresa.com",
    )
    .await;
    b.type_into("#from", from).await;
    b.type_into("#subject", subject).await;
    b.type_into("#body", body).await;
    b.follow("main", "Registrar incidencia").await;
    let path = b.path().await;
    let id = path
        .strip_prefix("/tickets/")
        .unwrap_or_else(|| panic!("a new ticket opens its page, got {path}"))
        .to_string();
    let number = b.find(".number").await.text().await.expect("ticket number");
    b.wait_text(&format!("Incidencia {number} registrada."))
        .await;
    b.wait_text("Nuevo").await;
    (id, number)
}

async fn badge_on_page(b: &Browser) -> String {
    b.find(".facts .badge")
        .await
        .text()
        .await
        .expect("status badge")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_at_the_help_desk() {
    let app = App::spawn().await;
    let Some(b) = Browser::open(&app.base, 1280).await else {
        return;
    };

    // The administrator's first sign-in, with the password from the installation notes.
    sign_in(&b, "/login", "admin@miempresa.com", "admin123").await;
    // Nothing else works until the password is changed.
    b.goto("/").await;
    b.wait_path("/account/password").await;
    choose_password(&b, "admin123", "admin-nueva-2024").await;

    // Técnicos: two technicians, their first passwords generated and shown once.
    b.follow("header", "Técnicos").await;
    b.wait_text("Aún no hay técnicos.").await;
    let mut technician_passwords = Vec::new();
    for (name, email, area) in [
        ("Ana Quispe", "ana.quispe@miempresa.com", "Redes"),
        ("Luis Rojas", "luis.rojas@miempresa.com", "Soporte"),
    ] {
        b.click_text("main", "Nuevo técnico").await;
        b.type_into("#name", name).await;
        b.type_into("#email", email).await;
        b.type_into("#phone", "987 654 321").await;
        b.type_into("#area", area).await;
        b.follow("main", "Crear técnico").await;
        b.wait_text(&format!("Se creó la cuenta de técnico de {name}."))
            .await;
        technician_passwords.push(issued_password(&b).await);
    }
    let list = b.text().await;
    assert!(list.contains("ana.quispe@miempresa.com") && list.contains("luis.rojas@miempresa.com"));

    // Credenciales: the dispatcher's account.
    b.follow("header", "Credenciales").await;
    b.click_text("main", "Nueva credencial").await;
    b.type_into("#name", "Carla Mendoza").await;
    b.type_into("#email", "carla.mendoza@miempresa.com").await;
    b.choose("#role", "Derivador").await;
    b.follow("main", "Crear credencial").await;
    b.wait_text("carla.mendoza@miempresa.com").await;
    let dispatcher_password = issued_password(&b).await;
    sign_out(&b).await;

    // The dispatcher: first sign-in on their role's page, then two messages from the mailbox.
    sign_in(
        &b,
        "/login/dispatcher",
        "carla.mendoza@miempresa.com",
        &dispatcher_password,
    )
    .await;
    choose_password(&b, &dispatcher_password, "derivadora-2024").await;
    b.wait_text("Aún no hay incidencias.").await;
    let (printer_id, printer_number) = register_ticket(
        &b,
        "maria.torres@cliente.pe",
        "La impresora del 3er piso no imprime",
        "Desde esta mañana la impresora HP del tercer piso muestra «Error de papel».",
    )
    .await;
    b.choose("#assign_tech", "Ana Quispe (Redes)").await;
    b.follow("main", "Derivar").await;
    b.wait_text(&format!("Incidencia derivada. ({printer_number})"))
        .await;
    assert_eq!(badge_on_page(&b).await, "Asignado");
    b.wait_text("Ana Quispe").await;

    let (vpn_id, vpn_number) = register_ticket(
        &b,
        "jorge.salas@cliente.pe",
        "No conecta la VPN",
        "Al conectar la VPN desde casa aparece «tiempo de espera agotado».",
    )
    .await;
    b.choose("#assign_tech", "Ana Quispe (Redes)").await;
    b.follow("main", "Derivar").await;
    b.wait_text(&format!("Incidencia derivada. ({vpn_number})"))
        .await;

    // Back on the queue (her home is «Sin asignar»: both have left it), «Todas abiertas»
    // shows both, assigned, with their age in words.
    b.follow("main", "← Incidencias").await;
    b.wait_text("No hay incidencias sin asignar.").await;
    b.follow("nav[@class='views']", "Todas abiertas 2").await;
    let list = b.text().await;
    assert!(
        list.contains("La impresora del 3er piso no imprime"),
        "{list}"
    );
    assert!(list.contains("No conecta la VPN"), "{list}");
    assert!(list.contains("hace un momento"), "{list}");
    assert_eq!(
        b.js("return document.querySelectorAll('table.tickets .badge.st-asignado').length")
            .await,
        2
    );
    sign_out(&b).await;

    // The technician: first sign-in on the technicians' page.
    sign_in(
        &b,
        "/login/technician",
        "ana.quispe@miempresa.com",
        &technician_passwords[0],
    )
    .await;
    choose_password(&b, &technician_passwords[0], "tecnica-ana-2024").await;
    let list = b.text().await;
    assert!(
        list.contains(&printer_number) && list.contains(&vpn_number),
        "{list}"
    );

    // Works the printer: an internal note (the work starts), then closes it.
    b.follow("main", "La impresora del 3er piso no imprime")
        .await;
    b.wait_path(&format!("/tickets/{printer_id}")).await;
    b.type_into(
        "#comment_body",
        "Voy al tercer piso a revisar la bandeja de papel.",
    )
    .await;
    b.follow("main", "Agregar nota interna").await;
    b.wait_text(&format!("Nota interna agregada. ({printer_number})"))
        .await;
    assert_eq!(badge_on_page(&b).await, "En atención");
    b.wait_text("Voy al tercer piso a revisar la bandeja de papel.")
        .await;
    b.type_into(
        "#close_resolution",
        "Se retiró una hoja atascada y se probó la impresión.",
    )
    .await;
    b.follow("main", "Cerrar…").await;
    b.wait_text("¿Cerrar").await;
    b.follow("main", "Sí, cerrar la incidencia").await;
    b.wait_text(&format!("Incidencia cerrada. ({printer_number})"))
        .await;
    assert_eq!(badge_on_page(&b).await, "Cerrado");

    // Passes the VPN ticket to a colleague, with the reason; it leaves her list.
    b.follow("main", "← Incidencias").await;
    b.follow("main", "No conecta la VPN").await;
    b.choose("#reassign_tech", "Luis Rojas (Soporte)").await;
    b.type_into("#reassign_reason", "Luis administra el concentrador VPN.")
        .await;
    b.follow("main", "Reasignar").await;
    b.wait_path("/").await;
    b.wait_text(&format!("Incidencia reasignada. ({vpn_number})"))
        .await;
    let list = b.text().await;
    assert!(!list.contains("No conecta la VPN"), "{list}");
    // Her home is «Mis abiertas»: the closed printer ticket is under «Cerradas».
    assert!(!list.contains(&printer_number), "{list}");
    b.follow("nav[@class='views']", "Cerradas 1").await;
    let list = b.text().await;
    assert!(list.contains(&printer_number), "{list}");

    // The colleague's ticket, by its address: it does not exist for her.
    b.goto(&format!("/tickets/{vpn_id}")).await;
    b.wait_text("No encontrado").await;
    assert!(!b.text().await.contains("No conecta la VPN"));
    b.goto("/").await;
    sign_out(&b).await;

    // Luis sees the ticket with the reason on its timeline.
    sign_in(
        &b,
        "/login/technician",
        "luis.rojas@miempresa.com",
        &technician_passwords[1],
    )
    .await;
    choose_password(&b, &technician_passwords[1], "tecnico-luis-2024").await;
    b.follow("main", "No conecta la VPN").await;
    b.wait_text("Motivo: Luis administra el concentrador VPN.")
        .await;
    sign_out(&b).await;

    crate::dashboard::administrator_reads_the_dashboard_and_exports(
        &b,
        "admin@miempresa.com",
        "admin-nueva-2024",
        &[(
            &printer_number,
            "Ana Quispe",
            "Se retiró una hoja atascada y se probó la impresión.",
        )],
        &[&vpn_number],
    )
    .await;
    b.close().await;
}

//! `soporte user add`, `soporte user passwd` and `soporte user reset-2fa`.

use crate::config::Secret;
use crate::domain::user::Role;
use crate::service::Settings;
use crate::service::accounts::{InitialPassword, ProfileInput};
use tokio::io::AsyncBufReadExt;

pub async fn add(
    database: &Secret,
    email: &str,
    name: &str,
    role: &str,
    password: Option<Secret>,
) -> Result<(), String> {
    let role = Role::parse(role).ok_or("role must be admin, dispatcher or technician")?;
    let services = super::open(database, Settings::default()).await?;
    let initial = match password {
        Some(p) => InitialPassword::Chosen(p.expose().to_string()),
        None => InitialPassword::Generated,
    };
    let input = ProfileInput {
        name: name.to_string(),
        email: email.to_string(),
        ..ProfileInput::default()
    };
    let (user, shown) = services
        .create_user(&input, role, initial)
        .await
        .map_err(super::describe)?;
    services.close().await;
    say!("cuenta creada: {} ({})", user.email, user.role.label());
    if let Some(p) = shown {
        say!("contraseña inicial (debe cambiarse al ingresar): {p}");
    }
    Ok(())
}

/// Reads the new password from the first line of standard input.
pub async fn passwd(database: &Secret, email: &str) -> Result<(), String> {
    shout!("Nueva contraseña para {email} (una línea):");
    let mut line = String::new();
    tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await
        .map_err(|e| format!("failed to read the password: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']);
    let services = super::open(database, Settings::default()).await?;
    services
        .set_password_by_operator(email, password)
        .await
        .map_err(super::describe)?;
    services.close().await;
    say!("contraseña actualizada");
    Ok(())
}

/// Removes an account's second factor and ends its sessions.
pub async fn reset_2fa(database: &Secret, email: &str) -> Result<(), String> {
    let services = super::open(database, Settings::default()).await?;
    let removed = services
        .reset_second_factor(email)
        .await
        .map_err(|e| match e {
            crate::service::connect::ConnectError::Service(e) => super::describe(e),
            crate::service::connect::ConnectError::Problem(p) => p.message,
        })?;
    services.close().await;
    if removed {
        say!("verificación en dos pasos quitada a {email}; deberá configurarla de nuevo");
    } else {
        say!("{email} no tenía verificación en dos pasos");
    }
    Ok(())
}

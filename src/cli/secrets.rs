//! `soporte secrets rotate`: seal every stored secret again under `SOPORTE_SECRET_KEY`,
//! reading the ones still sealed under `SOPORTE_SECRET_KEY_PREVIOUS` (docs/operations.md).

use crate::config::{Secret, SecretsCommand, ServeArgs};
use crate::service::Settings;
use crate::service::connect::Connect;

pub async fn run(database: &Secret, command: SecretsCommand) -> Result<(), String> {
    let SecretsCommand::Rotate {
        secret_key,
        secret_key_previous,
    } = command;
    if secret_key
        .as_ref()
        .is_none_or(|k| k.expose().trim().is_empty())
    {
        return Err("SOPORTE_SECRET_KEY (the new key) is required".to_string());
    }
    let mut args = ServeArgs::default();
    args.connect.secret_key = secret_key;
    args.connect.secret_key_previous = secret_key_previous;
    let connect = Connect::from_args(&args)?;
    let services = super::open(database, Settings::default())
        .await?
        .with_connect(connect);
    let r = services
        .rotate_secrets()
        .await
        .map_err(|e| format!("failed to rotate the secrets: {e}"))?;
    say!(
        "secretos cifrados de nuevo: {} semillas TOTP, {} tokens de correo, {} datos de canales ({} ya estaban con la clave actual)",
        r.totp,
        r.mail,
        r.channels,
        r.current
    );
    services.close().await;
    Ok(())
}

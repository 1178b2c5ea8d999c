//! `soporte token create --email E`: print a new personal API token once.

use crate::config::Secret;
use crate::service::Settings;

pub async fn create(database: &Secret, email: &str) -> Result<(), String> {
    let services = super::open(database, Settings::default()).await?;
    let token = services
        .create_token(email)
        .await
        .map_err(super::describe)?;
    services.close().await;
    say!("{token}");
    Ok(())
}

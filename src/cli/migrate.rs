//! `soporte migrate`: apply the migrations and exit.

use crate::config::Secret;
use crate::service::Settings;

pub async fn run(database: &Secret) -> Result<(), String> {
    let services = super::open(database, Settings::default()).await?;
    services.close().await;
    say!("migraciones aplicadas");
    Ok(())
}

//! `soporte demo --tickets N`: realistic demo data, and how fast it was written.

use crate::config::Secret;
use crate::service::Settings;
use crate::service::demo::{DEMO_PASSWORD, DemoOptions};
use std::time::Instant;

pub async fn run(database: &Secret, tickets: u64, days: i64, seed: u64) -> Result<(), String> {
    let services = super::open(database, Settings::default()).await?;
    let started = Instant::now();
    let report = services
        .demo(&DemoOptions::new(tickets, days, seed))
        .await
        .map_err(super::describe)?;
    let secs = started.elapsed().as_secs_f64();
    services.close().await;
    say!(
        "{} incidencias y {} eventos en {:.1} s ({:.0} incidencias/s)",
        report.tickets,
        report.events,
        secs,
        report.tickets as f64 / secs.max(1e-9)
    );
    for (email, role) in &report.staff {
        say!("cuenta de demostración: {email} ({role}), contraseña {DEMO_PASSWORD}");
    }
    Ok(())
}

//! `soporte sla recompute [--since DATE]`: replays the SLA clocks of every ticket (closed ones
//! too, which keep the clocks they closed with until then) with the calendar and targets now.

use crate::config::Secret;
use crate::domain::time::{lima_day_start, parse_date};
use crate::service::Settings;
use crate::service::sla::Which;

pub async fn recompute(database: &Secret, since: Option<&str>) -> Result<(), String> {
    let which = match since {
        None => Which::Since(i64::MIN),
        Some(raw) => {
            Which::Since(lima_day_start(parse_date(raw).ok_or_else(|| {
                format!("--since: «{raw}» no es una fecha (aaaa-mm-dd)")
            })?))
        }
    };
    let services = super::open(database, Settings::default()).await?;
    let started = std::time::Instant::now();
    let changed = services.recompute_sla(which).await.map_err(super::describe);
    services.close().await;
    let changed = changed?;
    let what = match changed {
        1 => "1 incidencia cambió".to_string(),
        n => format!("{n} incidencias cambiaron"),
    };
    say!(
        "SLA recalculado: {what} ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

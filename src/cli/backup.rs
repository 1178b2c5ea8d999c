//! `soporte backup --to FILE`: a consistent copy of a live SQLite database (the server may
//! keep running and writing). PostgreSQL is refused with a pointer to pg_dump.

use crate::config::Secret;
use crate::service::ops::{self, BackupError};
use std::path::Path;

pub async fn run(database: &Secret, to: &Path) -> Result<(), String> {
    match ops::backup(database.expose(), to).await {
        Ok(summary) => {
            say!(
                "copia de seguridad guardada en {} ({} incidencias, {} bytes, integridad verificada)",
                summary.path.display(),
                summary.tickets,
                summary.bytes
            );
            Ok(())
        }
        Err(BackupError::Postgres) => Err(
            "`soporte backup` copia bases SQLite. Para PostgreSQL use pg_dump, por ejemplo: \
             pg_dump --format=custom --file=soporte.dump \"$DATABASE_URL\" \
             (se restaura con pg_restore; vea docs/operations.md)."
                .to_string(),
        ),
        Err(BackupError::Exists(path)) => Err(format!(
            "{} ya existe: elija otro nombre (una copia nunca sobrescribe un archivo).",
            path.display()
        )),
        Err(e) => Err(format!("no se pudo hacer la copia de seguridad: {e}")),
    }
}

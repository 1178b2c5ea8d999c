//! What a bulk load (`soporte demo`) does around its writes, which go through the one writer
//! (`storage::write`, in bulk mode): the secondary indexes dropped before a large load and
//! created again after it, the search index merged, the planner's statistics refreshed.

use super::{Backend, Conn, Result};
use sqlx::Row;

/// The secondary indexes of the bulk-loaded tables worth dropping before a large load, as the
/// database itself defines them (so nothing here repeats the migrations), to be created again
/// after it: building an index from sorted data beats millions of random index inserts.
async fn secondary_indexes(conn: &mut Conn, backend: Backend) -> Result<Vec<(String, String)>> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
             AND tbl_name IN ('tickets', 'ticket_events') ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT i.indexname::text AS name, i.indexdef::text AS sql FROM pg_indexes i \
             WHERE i.schemaname = current_schema() \
             AND i.tablename IN ('tickets', 'ticket_events', 'ticket_search') \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) ORDER BY i.indexname"
        }
    };
    let rows = sqlx::query(sql).fetch_all(conn).await?;
    let all: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            Ok::<_, super::StorageError>((
                r.try_get::<String, _>("name")?,
                r.try_get::<String, _>("sql")?,
            ))
        })
        .collect::<Result<_>>()?;
    Ok(all
        .into_iter()
        .filter(|(name, _)| !KEPT_DURING_LOAD.contains(&name.as_str()))
        .collect())
}

/// Indexes cheaper to keep than to rebuild: only the few open tickets are in them. (Even
/// indexes whose keys arrive in order cost ~1 µs per insert, more than a sorted rebuild.)
const KEPT_DURING_LOAD: [&str; 3] = ["tickets_open", "tickets_open_assignee", "tickets_queued"];

/// PostgreSQL: the foreign keys of the bulk-loaded tables, as ("table.name", the statement
/// that adds it back). Added back after the load, each is checked once for every row (one
/// join) instead of by a trigger per row — seventeen a demo ticket, the load's largest cost.
/// (SQLite's bulk connection loads with `foreign_keys = OFF`.)
async fn foreign_keys(conn: &mut Conn, backend: Backend) -> Result<Vec<(String, String)>> {
    if backend != Backend::Postgres {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT c.conrelid::regclass::text AS tbl, c.conname::text AS name, \
         pg_get_constraintdef(c.oid) AS def FROM pg_constraint c WHERE c.contype = 'f' \
         AND c.conrelid IN ('tickets'::regclass, 'ticket_events'::regclass, 'ticket_search'::regclass) \
         ORDER BY 1, 2",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let (table, name, def): (String, String, String) =
                (r.try_get("tbl")?, r.try_get("name")?, r.try_get("def")?);
            Ok((
                format!("{table}.{name}"),
                format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}"),
            ))
        })
        .collect()
}

/// Drops a foreign key named as `foreign_keys` names it.
async fn drop_foreign_key(conn: &mut Conn, qualified: &str) -> Result<()> {
    let Some((table, name)) = qualified.split_once('.') else {
        return Ok(());
    };
    // Names come from the database's own catalogue, never from input.
    sqlx::raw_sql(&format!("ALTER TABLE {table} DROP CONSTRAINT {name}"))
        .execute(conn)
        .await?;
    Ok(())
}

async fn drop_index(conn: &mut Conn, name: &str) -> Result<()> {
    // Index names come from the database's own catalogue, never from input.
    sqlx::raw_sql(&format!("DROP INDEX {name}"))
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets aside, before a large load, the secondary indexes and (PostgreSQL) the foreign keys
/// of the bulk-loaded tables: dropped now, returned as `(indexes, foreign keys)` with the
/// statements that make them again (`after_load` for the indexes; the keys after them, so
/// they are checked against every row with the indexes there).
pub async fn set_aside(
    conn: &mut Conn,
    backend: Backend,
) -> Result<(Vec<(String, String)>, Vec<(String, String)>)> {
    let indexes = secondary_indexes(conn, backend).await?;
    for (name, _) in &indexes {
        drop_index(conn, name).await?;
    }
    let keys = foreign_keys(conn, backend).await?;
    for (name, _) in &keys {
        drop_foreign_key(conn, name).await?;
    }
    Ok((indexes, keys))
}

/// What to run after a load that dropped `indexes`: each created again and, on SQLite, the
/// search index merged into one segment (otherwise the deliveries after the load would pay
/// for merging the load's big segments: a one-second stall after ~2,000 commits at a
/// million tickets).
pub fn after_load(backend: Backend, indexes: Vec<(String, String)>) -> Vec<(String, String)> {
    let merge = backend == Backend::Sqlite && !indexes.is_empty();
    let mut out = indexes;
    if merge {
        out.push((
            "ticket_search merge".to_string(),
            "INSERT INTO ticket_search (ticket_search) VALUES ('optimize')".to_string(),
        ));
    }
    out
}

/// Runs one of `after_load`'s statements on a pooled connection. PostgreSQL builds an index
/// with more memory than its default 64 MB (the search index of ten million tickets in one
/// pass instead of many).
pub async fn run_maintenance(conn: &mut Conn, backend: Backend, sql: &str) -> Result<()> {
    match backend {
        Backend::Sqlite => sqlx::raw_sql(sql).execute(conn).await?,
        Backend::Postgres => {
            let text =
                format!("SET maintenance_work_mem = '1GB'; {sql}; RESET maintenance_work_mem");
            sqlx::raw_sql(&text).execute(conn).await?
        }
    };
    Ok(())
}

/// Refreshes the planner's statistics after a bulk load.
pub async fn analyze(conn: &mut Conn, backend: Backend) -> Result<()> {
    // SQLite: a sampled ANALYZE (analysis_limit) takes a second instead of reading every index.
    let sql = match backend {
        Backend::Sqlite => "PRAGMA analysis_limit = 2000; ANALYZE",
        Backend::Postgres => "ANALYZE",
    };
    sqlx::raw_sql(sql).execute(conn).await?;
    Ok(())
}

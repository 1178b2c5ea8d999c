//! Bulk writes for demo data: whole tickets with their timeline and projections, many rows
//! per statement (prepared once, reused), so a million tickets load in well under a minute.
//! The rows are produced by `service::demo` through the domain's own transition table.

use super::{Backend, Conn, Result};
use sqlx::Row;

/// A value for a bulk row.
#[derive(Debug, Clone)]
pub enum Val {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
}

/// One ticket with everything written alongside it.
#[derive(Debug, Clone)]
pub struct DemoTicket {
    pub id: i64,
    pub status: &'static str,
    pub version: i64,
    pub subject: String,
    pub body: String,
    pub requester: String,
    pub assignee_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub first_assigned_at: Option<i64>,
    pub first_response_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub closed_by: Option<i64>,
    pub resolution: Option<String>,
    pub last_event_at: i64,
    pub last_event_kind: &'static str,
    pub queued_since: Option<i64>,
    /// Folded search text.
    pub doc: String,
    /// (at, actor id, actor label, kind, data JSON)
    pub events: Vec<(i64, Option<i64>, String, &'static str, String)>,
    /// What the ticket's life added to the daily figures.
    pub figures: Vec<crate::domain::figures::Delta>,
}

/// The id the next ticket should take.
pub async fn next_ticket_id(conn: &mut Conn) -> Result<i64> {
    let max: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM tickets")
        .fetch_one(conn)
        .await?;
    Ok(max.unwrap_or(0) + 1)
}

/// A SQL literal for a generated value. Demo rows never contain user input, and text is
/// quoted by doubling `'` (standard SQL on both backends), so literal statements are safe
/// here and far cheaper than binding millions of parameters one by one.
fn literal(out: &mut String, v: &Val) {
    use std::fmt::Write;
    match v {
        Val::Int(i) | Val::OptInt(Some(i)) => {
            let _ = write!(out, "{i}");
        }
        Val::OptInt(None) | Val::OptText(None) => out.push_str("NULL"),
        Val::Text(s) | Val::OptText(Some(s)) => {
            out.push('\'');
            for c in s.chars().filter(|c| *c != '\0') {
                if c == '\'' {
                    out.push('\'');
                }
                out.push(c);
            }
            out.push('\'');
        }
    }
}

/// Inserts the rows with multi-row literal statements of up to `per_statement` rows;
/// `wrap` turns one column's literal (by index) into an expression.
async fn insert_rows(
    conn: &mut Conn,
    table: &str,
    cols: &[&str],
    rows: Vec<Vec<Val>>,
    per_statement: usize,
    wrap: &dyn Fn(usize, String) -> String,
) -> Result<()> {
    for chunk in rows.chunks(per_statement) {
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", cols.join(", "));
        for (r, row) in chunk.iter().enumerate() {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for (c, v) in row.iter().enumerate() {
                if c > 0 {
                    sql.push_str(", ");
                }
                let mut lit = String::new();
                literal(&mut lit, v);
                sql.push_str(&wrap(c, lit));
            }
            sql.push(')');
        }
        sqlx::raw_sql(&sql).execute(&mut *conn).await?;
    }
    Ok(())
}

/// PostgreSQL: writes one chunk in its own transaction on the loading connection.
/// `counts` are the chunk's additions to the per-status-and-technician counters.
async fn pg_write_chunk(
    conn: &mut Conn,
    tickets: Vec<DemoTicket>,
    counts: &[(&'static str, i64, i64)],
) -> Result<()> {
    sqlx::raw_sql("BEGIN").execute(&mut *conn).await?;
    let written = async {
        pg_insert_tickets(conn, tickets).await?;
        add_counts(conn, counts).await
    };
    match written.await {
        Ok(()) => {
            sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
            Ok(())
        }
        Err(e) => {
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
            Err(e)
        }
    }
}

type Rows = Vec<Vec<Val>>;

const TICKET_COLUMNS: [&str; 17] = [
    "id",
    "status",
    "version",
    "subject",
    "body",
    "requester",
    "assignee_id",
    "created_at",
    "updated_at",
    "first_assigned_at",
    "first_response_at",
    "closed_at",
    "closed_by",
    "resolution",
    "last_event_at",
    "last_event_kind",
    "queued_since",
];
const EVENT_COLUMNS: [&str; 6] = ["ticket_id", "at", "actor_id", "actor", "kind", "data"];

/// The rows of the tickets, events and search documents tables.
fn rows_of(tickets: Vec<DemoTicket>) -> (Rows, Rows, Rows) {
    let mut ticket_rows = Vec::with_capacity(tickets.len());
    let mut event_rows = Vec::with_capacity(tickets.len() * 5);
    let mut search_rows = Vec::with_capacity(tickets.len());
    for t in tickets {
        for (at, actor_id, actor, kind, data) in t.events {
            event_rows.push(vec![
                Val::Int(t.id),
                Val::Int(at),
                Val::OptInt(actor_id),
                Val::Text(actor),
                Val::Text(kind.to_string()),
                Val::Text(data),
            ]);
        }
        search_rows.push(vec![Val::Int(t.id), Val::Text(t.doc)]);
        ticket_rows.push(vec![
            Val::Int(t.id),
            Val::Text(t.status.to_string()),
            Val::Int(t.version),
            Val::Text(t.subject),
            Val::Text(t.body),
            Val::Text(t.requester),
            Val::OptInt(t.assignee_id),
            Val::Int(t.created_at),
            Val::Int(t.updated_at),
            Val::OptInt(t.first_assigned_at),
            Val::OptInt(t.first_response_at),
            Val::OptInt(t.closed_at),
            Val::OptInt(t.closed_by),
            Val::OptText(t.resolution),
            Val::Int(t.last_event_at),
            Val::Text(t.last_event_kind.to_string()),
            Val::OptInt(t.queued_since),
        ]);
    }
    (ticket_rows, event_rows, search_rows)
}

/// PostgreSQL: writes the tickets, their events and search documents with
/// literal multi-row statements (SQLite loads through `Loader::Sqlite`).
async fn pg_insert_tickets(conn: &mut Conn, tickets: Vec<DemoTicket>) -> Result<()> {
    let plain = |_: usize, p: String| p;
    let tsv = |c: usize, p: String| {
        if c == 1 {
            format!("to_tsvector('simple', {p})")
        } else {
            p
        }
    };
    let (ticket_rows, event_rows, search_rows) = rows_of(tickets);
    insert_rows(conn, "tickets", &TICKET_COLUMNS, ticket_rows, 2000, &plain).await?;
    insert_rows(
        conn,
        "ticket_events",
        &EVENT_COLUMNS,
        event_rows,
        5000,
        &plain,
    )
    .await?;
    insert_rows(
        conn,
        "ticket_search",
        &["ticket_id", "doc"],
        search_rows,
        2000,
        &tsv,
    )
    .await?;
    Ok(())
}

/// Adds to the per-status-and-technician counters.
async fn add_counts(conn: &mut Conn, counts: &[(&'static str, i64, i64)]) -> Result<()> {
    for (status, assignee, n) in counts {
        sqlx::query(
            "INSERT INTO ticket_counts (status, assignee_id, n) VALUES ($1, $2, $3) \
             ON CONFLICT (status, assignee_id) DO UPDATE SET n = ticket_counts.n + excluded.n",
        )
        .bind(*status)
        .bind(*assignee)
        .bind(*n)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// After explicit ids, PostgreSQL's sequence must move past them.
pub async fn fix_sequences(conn: &mut Conn, backend: Backend) -> Result<()> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT setval('tickets_id_seq', (SELECT COALESCE(MAX(id), 1) FROM tickets))")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The secondary indexes of the bulk-loaded tables worth dropping before a large load, as the
/// database itself defines them (so nothing here repeats the migrations), to be created again
/// after it: building an index from sorted data beats millions of random index inserts.
pub async fn secondary_indexes(conn: &mut Conn, backend: Backend) -> Result<Vec<(String, String)>> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
             AND tbl_name IN ('tickets', 'ticket_events') ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT i.indexname::text AS name, i.indexdef::text AS sql FROM pg_indexes i \
             WHERE i.schemaname = current_schema() AND i.tablename IN ('tickets', 'ticket_events') \
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

pub async fn drop_index(conn: &mut Conn, name: &str) -> Result<()> {
    // Index names come from the database's own catalogue, never from input.
    sqlx::raw_sql(&format!("DROP INDEX {name}"))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn create_index(conn: &mut Conn, definition: &str) -> Result<()> {
    sqlx::raw_sql(definition).execute(conn).await?;
    Ok(())
}

/// For a bulk load on SQLite: a large page cache on the loading connection, and no fsync
/// per chunk (demo data can be generated again; the final commit is made durable by
/// `end_bulk_load`). PostgreSQL needs nothing.
pub async fn begin_bulk_load(conn: &mut Conn, backend: Backend) -> Result<()> {
    if backend == Backend::Sqlite {
        sqlx::raw_sql("PRAGMA cache_size = -262144; PRAGMA synchronous = OFF; PRAGMA threads = 2;")
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Back to the normal settings (and a durable checkpoint of what was loaded).
pub async fn end_bulk_load(conn: &mut Conn, backend: Backend) -> Result<()> {
    if backend == Backend::Sqlite {
        sqlx::raw_sql("PRAGMA synchronous = FULL; PRAGMA cache_size = -2000; PRAGMA threads = 0; PRAGMA wal_checkpoint(TRUNCATE);")
            .execute(conn)
            .await?;
    }
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

/// The connection a bulk load writes through: on SQLite a plain rusqlite connection on a
/// blocking thread (prepared multi-row statements: no SQL to parse and no async round trip
/// per statement) with a background checkpointer, on PostgreSQL a pooled one with literal
/// multi-row statements.
pub enum Loader {
    Sqlite(Option<rusqlite::Connection>, super::native::Checkpointer),
    Pooled(sqlx::pool::PoolConnection<sqlx::Any>),
}

fn bulk(e: impl std::fmt::Display) -> super::StorageError {
    super::StorageError::Bulk(e.to_string())
}

impl Loader {
    pub async fn open(store: &super::Store) -> Result<Loader> {
        match store.backend() {
            super::Backend::Sqlite => {
                // The same file the pool opened (sqlx's own reading of the URL).
                let path = store.sqlite_file().ok_or_else(|| {
                    bulk("a demo load needs a SQLite file, not an in-memory database")
                })?;
                // Most of the copying into the database happens on the core the writer does not use,
                // so the final, durable checkpoint has little left to do.
                let checkpointer = super::native::Checkpointer::start(
                    path.clone(),
                    super::native::CheckpointPolicy {
                        every: std::time::Duration::from_millis(100),
                        durable: false,
                        restart_wait: std::time::Duration::from_millis(100),
                    },
                );
                let conn = tokio::task::spawn_blocking(move || {
                    let conn = rusqlite::Connection::open(&path).map_err(bulk)?;
                    // Foreign keys are not checked while loading rows generated consistent;
                    // no fsync per chunk (demo data can be generated again); a big cache; no
                    // checkpoint on this connection: the `Checkpointer` does it alongside.
                    conn.execute_batch(
                        "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = OFF; \
                         PRAGMA cache_size = -262144; PRAGMA synchronous = OFF; \
                         PRAGMA wal_autocheckpoint = 0;",
                    )
                    .map_err(bulk)?;
                    Ok::<_, super::StorageError>(conn)
                })
                .await
                .map_err(bulk)??;
                Ok(Loader::Sqlite(Some(conn), checkpointer))
            }
            super::Backend::Postgres => Ok(Loader::Pooled(store.read().await?)),
        }
    }

    /// Writes one chunk (tickets, events, search, counters) in one transaction.
    pub async fn write_chunk(
        &mut self,
        tickets: Vec<DemoTicket>,
        counts: Vec<(&'static str, i64, i64)>,
    ) -> Result<()> {
        match self {
            Loader::Pooled(conn) => pg_write_chunk(conn, tickets, &counts).await,
            Loader::Sqlite(slot, _) => {
                let mut conn = slot
                    .take()
                    .ok_or_else(|| bulk("the loader connection was lost"))?;
                let (conn, result) = tokio::task::spawn_blocking(move || {
                    let result = sqlite_chunk(&mut conn, &tickets, &counts);
                    (conn, result)
                })
                .await
                .map_err(bulk)?;
                *slot = Some(conn);
                result
            }
        }
    }

    /// Creates the dropped `indexes` again on the native connection (SQLite; the caller does
    /// it otherwise, see the return value) and, after such a large load, merges the search
    /// index into one segment (otherwise the deliveries after the load would pay for merging
    /// the load's big segments: a one-second stall after ~2,000 commits at a million
    /// tickets); then makes the load durable with one checkpoint and closes the native
    /// connection. Returns whether the indexes were created here.
    pub async fn finish(self, indexes: Vec<(String, String)>) -> Result<bool> {
        let Loader::Sqlite(Some(conn), checkpointer) = self else {
            return Ok(false);
        };
        drop(checkpointer);
        tokio::task::spawn_blocking(move || {
            conn.execute_batch("PRAGMA threads = 2;").map_err(bulk)?;
            for (name, definition) in &indexes {
                let t = std::time::Instant::now();
                conn.execute_batch(definition).map_err(bulk)?;
                tracing::debug!(index = %name, ms = t.elapsed().as_millis() as u64, "demo index rebuilt");
            }
            if !indexes.is_empty() {
                let t = std::time::Instant::now();
                conn.execute_batch("INSERT INTO ticket_search (ticket_search) VALUES ('optimize');")
                    .map_err(bulk)?;
                tracing::debug!(ms = t.elapsed().as_millis() as u64, "demo search index merged");
            }
            let t = std::time::Instant::now();
            conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA wal_checkpoint(TRUNCATE);")
                .map_err(bulk)?;
            tracing::debug!(ms = t.elapsed().as_millis() as u64, "demo checkpoint");
            conn.close().map_err(|(_, e)| bulk(e))
        })
        .await
        .map_err(bulk)??;
        Ok(true)
    }
}

/// Rows per multi-row statement on SQLite. Besides saving a statement per row, this matters
/// for `tickets`: its CHECK and partial-index predicates (`status IN (…)`) make SQLite build
/// small temporary tables once per statement run, which cost more than the row itself.
const SQLITE_ROWS: usize = 64;

fn sqlite_chunk(
    conn: &mut rusqlite::Connection,
    tickets: &[DemoTicket],
    counts: &[(&'static str, i64, i64)],
) -> Result<()> {
    use rusqlite::params;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(bulk)?;
    use super::native::{insert_rows, params_row};
    insert_rows(
        &tx,
        "tickets",
        &TICKET_COLUMNS.join(", "),
        &params_row(TICKET_COLUMNS.len()),
        SQLITE_ROWS,
        tickets,
        |s, i, t| {
            s.raw_bind_parameter(i, t.id)?;
            s.raw_bind_parameter(i + 1, t.status)?;
            s.raw_bind_parameter(i + 2, t.version)?;
            s.raw_bind_parameter(i + 3, &t.subject)?;
            s.raw_bind_parameter(i + 4, &t.body)?;
            s.raw_bind_parameter(i + 5, &t.requester)?;
            s.raw_bind_parameter(i + 6, t.assignee_id)?;
            s.raw_bind_parameter(i + 7, t.created_at)?;
            s.raw_bind_parameter(i + 8, t.updated_at)?;
            s.raw_bind_parameter(i + 9, t.first_assigned_at)?;
            s.raw_bind_parameter(i + 10, t.first_response_at)?;
            s.raw_bind_parameter(i + 11, t.closed_at)?;
            s.raw_bind_parameter(i + 12, t.closed_by)?;
            s.raw_bind_parameter(i + 13, &t.resolution)?;
            s.raw_bind_parameter(i + 14, t.last_event_at)?;
            s.raw_bind_parameter(i + 15, t.last_event_kind)?;
            s.raw_bind_parameter(i + 16, t.queued_since)?;
            Ok(TICKET_COLUMNS.len())
        },
    )?;
    let events: Vec<(i64, &(i64, Option<i64>, String, &'static str, String))> = tickets
        .iter()
        .flat_map(|t| t.events.iter().map(move |e| (t.id, e)))
        .collect();
    insert_rows(
        &tx,
        "ticket_events",
        &EVENT_COLUMNS.join(", "),
        &params_row(EVENT_COLUMNS.len()),
        SQLITE_ROWS,
        &events,
        |s, i, (id, (at, actor_id, actor, kind, data))| {
            s.raw_bind_parameter(i, *id)?;
            s.raw_bind_parameter(i + 1, *at)?;
            s.raw_bind_parameter(i + 2, *actor_id)?;
            s.raw_bind_parameter(i + 3, actor)?;
            s.raw_bind_parameter(i + 4, *kind)?;
            s.raw_bind_parameter(i + 5, data)?;
            Ok(EVENT_COLUMNS.len())
        },
    )?;
    {
        // One row per statement here: FTS5 writes its pending terms to disk at every
        // statement's savepoint, so multi-row statements would make many small segments.
        let mut search = tx
            .prepare_cached("INSERT INTO ticket_search (rowid, doc) VALUES (?1, ?2)")
            .map_err(bulk)?;
        for t in tickets {
            search.execute(params![t.id, t.doc]).map_err(bulk)?;
        }
        let mut count = tx
            .prepare_cached(
                "INSERT INTO ticket_counts (status, assignee_id, n) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (status, assignee_id) DO UPDATE SET n = ticket_counts.n + excluded.n",
            )
            .map_err(bulk)?;
        for (status, assignee, n) in counts {
            count.execute(params![status, assignee, n]).map_err(bulk)?;
        }
    }
    tx.commit().map_err(bulk)
}

//! Dashboard reads of what is true now (counts, the queue, the open backlog, recent handoffs)
//! and the export's reads (keyset chunks, and the streaming read that hands each row to a
//! sink). What is dated in a period comes from `figures`.

use super::{Backend, Conn, Result, StorageError, Store};
use crate::domain::classification::Priority;
use crate::domain::ids::{TicketId, TicketNumber, UserId};
use crate::domain::ticket::Status;
use sqlx::Row;
use std::collections::HashMap;
use std::ops::ControlFlow;

fn aggregate(backend: Backend, expr: &str) -> String {
    match backend {
        Backend::Sqlite => format!("group_concat({expr}, ',')"),
        Backend::Postgres => format!("string_agg(({expr})::text, ',')"),
    }
}

fn parse_numbers(text: Option<String>) -> Result<Vec<i64>> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|n| {
            n.parse()
                .map_err(|_| StorageError::Corrupt(format!("number {n}")))
        })
        .collect()
}

/// A read transaction on `conn` in which every read sees one snapshot (SQLite's read
/// transactions always do; on PostgreSQL, repeatable read, read only, which a replica also
/// serves). Dropped without `commit` it is rolled back.
pub async fn snapshot(
    conn: &mut Conn,
    backend: Backend,
) -> Result<sqlx::Transaction<'_, sqlx::Any>> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    if backend == Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx)
}

/// Where the data the dashboard reads stands: the newest timeline event, the service levels'
/// settings revision and how many recomputes rewrote clocks (they add no event). All only
/// grow; read before the figures, an older stamp than the database's means the figures may
/// be behind.
pub async fn stamp(conn: &mut Conn) -> Result<(i64, i64, i64)> {
    let row = sqlx::query(
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM ticket_events) AS event, \
         (SELECT COALESCE(MAX(revision), 0) FROM sla_revision) AS revision, \
         (SELECT COALESCE(MAX(recomputed), 0) FROM sla_revision) AS recomputed",
    )
    .fetch_one(conn)
    .await?;
    Ok((
        row.try_get("event")?,
        row.try_get("revision")?,
        row.try_get("recomputed")?,
    ))
}

/// Tickets now, per status and technician (0 = nobody).
pub async fn counts(conn: &mut Conn) -> Result<Vec<(Status, Option<UserId>, i64)>> {
    let rows = sqlx::query("SELECT status, assignee_id, n FROM ticket_counts WHERE n <> 0")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            let s: String = r.try_get("status")?;
            let a: i64 = r.try_get("assignee_id")?;
            Ok((
                Status::parse(&s).ok_or_else(|| StorageError::Corrupt(format!("status {s}")))?,
                (a != 0).then_some(UserId(a)),
                r.try_get("n")?,
            ))
        })
        .collect()
}

/// When the ticket that has waited longest in the dispatch queue entered it.
pub async fn oldest_queued(conn: &mut Conn) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT queued_since FROM tickets WHERE status IN ('nuevo', 'devuelto') \
         AND queued_since IS NOT NULL ORDER BY queued_since LIMIT 1",
    )
    .fetch_optional(conn)
    .await?)
}

/// Open tickets' creation instants read per query: one aggregated text value of at most this
/// many numbers at a time.
const OPEN_CHUNK: i64 = 65_536;

/// Creation instants of the open tickets (for backlog ages), in no particular order.
/// Each query aggregates the next `OPEN_CHUNK` of them, in the order of the open tickets'
/// partial index (so the planner reads that index alone, once: the chunk is materialized),
/// into one text value, and says where the chunk ended for the next one's row comparison:
/// the server holds the numbers and one chunk's text, never all of them as text (which, with
/// a few million open tickets, cost the dashboard's computation hundreds of megabytes).
pub async fn open_created(
    conn: &mut Conn,
    backend: Backend,
    technician: Option<UserId>,
) -> Result<Vec<i64>> {
    open_created_by(conn, backend, technician, OPEN_CHUNK).await
}

/// `open_created` with `chunk` numbers per query (the tests take small chunks).
pub async fn open_created_by(
    conn: &mut Conn,
    backend: Backend,
    technician: Option<UserId>,
    chunk: i64,
) -> Result<Vec<i64>> {
    let tech = if technician.is_some() {
        " AND assignee_id = $4"
    } else {
        ""
    };
    let sql = format!(
        "WITH o AS MATERIALIZED (SELECT created_at, id FROM tickets \
           WHERE status IN ('nuevo', 'asignado', 'en_atencion', 'en_espera', 'devuelto'){tech} \
             AND (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT $3), \
         l AS (SELECT created_at, id FROM o ORDER BY created_at DESC, id DESC LIMIT 1) \
         SELECT (SELECT {} FROM o) AS created, \
                (SELECT created_at FROM l) AS last_at, (SELECT id FROM l) AS last_id, \
                (SELECT CAST(COUNT(*) AS BIGINT) FROM o) AS n",
        aggregate(backend, "created_at")
    );
    let mut out = Vec::new();
    let (mut after_at, mut after_id) = (i64::MIN, i64::MIN);
    loop {
        let mut q = sqlx::query(&sql).bind(after_at).bind(after_id).bind(chunk);
        if let Some(t) = technician {
            q = q.bind(t.0);
        }
        let row = q.fetch_one(&mut *conn).await?;
        out.extend(parse_numbers(row.try_get("created")?)?);
        let n: i64 = row.try_get("n")?;
        match (row.try_get("last_at")?, row.try_get("last_id")?) {
            (Some(at), Some(id)) if n >= chunk => (after_at, after_id) = (at, id),
            _ => return Ok(out),
        }
    }
}

/// A return or pass to a colleague, with its reason.
#[derive(Debug, Clone)]
pub struct Handoff {
    pub ticket_id: i64,
    pub kind: String,
    pub actor: String,
    pub at: i64,
    pub data: String,
}

pub async fn recent_handoffs(
    conn: &mut Conn,
    from: i64,
    to: i64,
    technician: Option<UserId>,
    limit: i64,
) -> Result<Vec<Handoff>> {
    let tech = if technician.is_some() {
        " AND actor_id = $4"
    } else {
        ""
    };
    let sql = format!(
        "SELECT ticket_id, kind, actor, at, data FROM ticket_events WHERE kind IN ('returned', 'reassigned') \
         AND at >= $1 AND at < $2{tech} ORDER BY at DESC, id DESC LIMIT $3"
    );
    let mut q = sqlx::query(&sql).bind(from).bind(to).bind(limit);
    if let Some(t) = technician {
        q = q.bind(t.0);
    }
    q.fetch_all(conn)
        .await?
        .iter()
        .map(|r| {
            Ok(Handoff {
                ticket_id: r.try_get("ticket_id")?,
                kind: r.try_get("kind")?,
                actor: r.try_get("actor")?,
                at: r.try_get("at")?,
                data: r.try_get("data")?,
            })
        })
        .collect()
}

/// An open ticket as the dashboard's backlog table shows it.
#[derive(Debug, Clone)]
pub struct OpenTicket {
    pub id: TicketId,
    pub status: Status,
    pub subject: String,
    pub assignee_id: Option<UserId>,
    pub assignee_name: Option<String>,
    pub created_at: i64,
    pub last_event_at: i64,
    pub last_event_kind: String,
}

impl OpenTicket {
    pub fn number(&self) -> TicketNumber {
        TicketNumber(self.id)
    }
}

/// The oldest open tickets (the backlog table), oldest first, read from the open tickets'
/// partial indexes, which hold every column shown (no table lookups).
pub async fn oldest_open(
    conn: &mut Conn,
    technician: Option<UserId>,
    limit: i64,
) -> Result<Vec<OpenTicket>> {
    let tech = if technician.is_some() {
        " AND t.assignee_id = $2"
    } else {
        ""
    };
    let sql = format!(
        "SELECT t.id, t.status, t.subject, t.assignee_id, u.name AS assignee_name, t.created_at, \
                t.last_event_at, t.last_event_kind \
         FROM tickets t LEFT JOIN users u ON u.id = t.assignee_id \
         WHERE t.status IN ('nuevo', 'asignado', 'en_atencion', 'en_espera', 'devuelto'){tech} \
         ORDER BY t.created_at, t.id LIMIT $1"
    );
    let mut q = sqlx::query(&sql).bind(limit);
    if let Some(t) = technician {
        q = q.bind(t.0);
    }
    q.fetch_all(conn)
        .await?
        .iter()
        .map(|r| {
            let status: String = r.try_get("status")?;
            Ok(OpenTicket {
                id: TicketId(r.try_get("id")?),
                status: Status::parse(&status)
                    .ok_or_else(|| StorageError::Corrupt(format!("status {status}")))?,
                subject: r.try_get("subject")?,
                assignee_id: r.try_get::<Option<i64>, _>("assignee_id")?.map(UserId),
                assignee_name: r.try_get("assignee_name")?,
                created_at: r.try_get("created_at")?,
                last_event_at: r.try_get("last_event_at")?,
                last_event_kind: r.try_get("last_event_kind")?,
            })
        })
        .collect()
}

/// A closed ticket as the export shows it.
#[derive(Debug, Clone)]
pub struct ClosedRow {
    pub id: i64,
    pub requester: String,
    pub subject: String,
    pub technician: Option<String>,
    pub created_at: i64,
    pub first_assigned_at: Option<i64>,
    pub first_response_at: Option<i64>,
    pub closed_at: i64,
    pub closed_by: Option<String>,
    pub resolution: Option<String>,
    /// The requester's rating of the close (1–5) and their comment.
    pub rating: Option<i64>,
    pub rating_comment: Option<String>,
    pub priority: Priority,
    pub category: Option<String>,
    /// Per service-level target (`sla::Target::index`): the due instant and the business
    /// seconds counted.
    pub due: [Option<i64>; 3],
    pub secs: [Option<i64>; 3],
}

fn priority_of(text: &str) -> Result<Priority> {
    Priority::parse(text).ok_or_else(|| StorageError::Corrupt(format!("priority {text}")))
}

/// The next chunk of closed tickets after `after_id`, in ticket order (keyset on the id, so a
/// full export reads the table once in primary-key order).
pub async fn closed_chunk(
    conn: &mut Conn,
    from: Option<i64>,
    to: Option<i64>,
    technician: Option<UserId>,
    after_id: i64,
    limit: i64,
) -> Result<Vec<ClosedRow>> {
    let mut sql = String::from(
        "SELECT t.id, t.requester, t.subject, u.name AS technician, t.created_at, t.first_assigned_at, \
                t.first_response_at, t.closed_at, c.name AS closed_by, t.resolution, \
                t.rating, t.rating_comment, \
                t.priority, k.name AS category, t.assignment_due_at, t.assignment_secs, \
                t.response_due_at, t.response_secs, t.resolution_due_at, t.resolution_secs \
         FROM tickets t LEFT JOIN users u ON u.id = t.assignee_id LEFT JOIN users c ON c.id = t.closed_by \
         LEFT JOIN categories k ON k.id = t.category_id \
         WHERE t.id > $1 AND t.status = 'cerrado' AND t.closed_at >= $2 AND t.closed_at < $3",
    );
    if technician.is_some() {
        sql.push_str(" AND t.assignee_id = $5");
    }
    sql.push_str(" ORDER BY t.id LIMIT $4");
    let mut q = sqlx::query(&sql)
        .bind(after_id)
        .bind(from.unwrap_or(i64::MIN))
        .bind(to.unwrap_or(i64::MAX))
        .bind(limit);
    if let Some(t) = technician {
        q = q.bind(t.0);
    }
    q.fetch_all(conn)
        .await?
        .iter()
        .map(|r| {
            Ok(ClosedRow {
                id: r.try_get("id")?,
                requester: r.try_get("requester")?,
                subject: r.try_get("subject")?,
                technician: r.try_get("technician")?,
                created_at: r.try_get("created_at")?,
                first_assigned_at: r.try_get("first_assigned_at")?,
                first_response_at: r.try_get("first_response_at")?,
                closed_at: r
                    .try_get::<Option<i64>, _>("closed_at")?
                    .unwrap_or_default(),
                closed_by: r.try_get("closed_by")?,
                resolution: r.try_get("resolution")?,
                rating: r.try_get("rating")?,
                rating_comment: r.try_get("rating_comment")?,
                priority: priority_of(&r.try_get::<String, _>("priority")?)?,
                category: r.try_get("category")?,
                due: [
                    r.try_get("assignment_due_at")?,
                    r.try_get("response_due_at")?,
                    r.try_get("resolution_due_at")?,
                ],
                secs: [
                    r.try_get("assignment_secs")?,
                    r.try_get("response_secs")?,
                    r.try_get("resolution_secs")?,
                ],
            })
        })
        .collect()
}

impl ClosedRow {
    /// The row as the export's sinks see it.
    pub fn borrowed(&self) -> ClosedRowRef<'_> {
        ClosedRowRef {
            id: self.id,
            requester: &self.requester,
            subject: &self.subject,
            technician: self.technician.as_deref(),
            created_at: self.created_at,
            first_assigned_at: self.first_assigned_at,
            first_response_at: self.first_response_at,
            closed_at: self.closed_at,
            closed_by: self.closed_by.as_deref(),
            resolution: self.resolution.as_deref(),
            rating: self.rating,
            rating_comment: self.rating_comment.as_deref(),
            priority: self.priority,
            category: self.category.as_deref(),
            due: self.due,
            secs: self.secs,
        }
    }
}

/// A closed ticket borrowed from the cursor: valid only during the sink's call, so a million
/// rows cost no allocation.
#[derive(Debug, Clone, Copy)]
pub struct ClosedRowRef<'a> {
    pub id: i64,
    pub requester: &'a str,
    pub subject: &'a str,
    pub technician: Option<&'a str>,
    pub created_at: i64,
    pub first_assigned_at: Option<i64>,
    pub first_response_at: Option<i64>,
    pub closed_at: i64,
    pub closed_by: Option<&'a str>,
    pub resolution: Option<&'a str>,
    pub rating: Option<i64>,
    pub rating_comment: Option<&'a str>,
    pub priority: Priority,
    pub category: Option<&'a str>,
    pub due: [Option<i64>; 3],
    pub secs: [Option<i64>; 3],
}

impl ClosedRowRef<'_> {
    /// Per service-level target: whether it was met (`None` when unknown).
    pub fn met(&self) -> [Option<bool>; 3] {
        let stops = crate::domain::sla::stops(
            self.first_assigned_at,
            self.first_response_at,
            Some(self.closed_at),
        );
        [0, 1, 2].map(|i| match (stops[i], self.due[i]) {
            (Some(stop), Some(due)) => Some(stop <= due),
            _ => None,
        })
    }
}

/// Where `each_closed` puts the rows. `row` runs on a blocking thread (it may block, e.g. on a
/// bounded channel to a slow client); `Break` stops the read.
pub trait ClosedSink: Send + 'static {
    fn row(&mut self, row: &ClosedRowRef<'_>) -> ControlFlow<()>;
}

/// Rows per query on the chunked path.
const EACH_CHUNK: i64 = 5_000;
/// A batch between the reading thread and the sink's goes when it holds this many rows or
/// this much text.
const BATCH_ROWS: usize = 4_096;
const BATCH_TEXT: usize = 256 * 1024;

/// Hands every closed ticket (closing instant in `[from, to)`, the technician's own when
/// given) to `sink` in ticket order, and gives the sink back when done or stopped.
///
/// On a SQLite file: one query on a native read-only connection (sqlx's `Any` driver costs
/// ~15 µs a row; this, well under one). One blocking thread only steps through the rows and
/// copies them into batches; another checks their text, puts the staff's names in and hands
/// them to the sink, so reading and the sink's work (the CSV) run side by side; a few batches
/// in flight, recycled. The query is one read transaction: a consistent snapshot, which also
/// keeps the WAL from being checkpointed past it while a slow client reads. Elsewhere
/// (PostgreSQL, an in-memory SQLite): keyset chunks through the pool, each handed to the sink
/// on a blocking thread.
pub async fn each_closed<S: ClosedSink>(
    store: &Store,
    from: Option<i64>,
    to: Option<i64>,
    technician: Option<UserId>,
    reader: Option<UserId>,
    sink: S,
) -> Result<S> {
    let Some(path) = store.sqlite_file() else {
        if let (Some(url), false) = (store.postgres_url(), store.has_replicas()) {
            return copied_each_closed(url.expose(), from, to, technician, sink).await;
        }
        return chunked_each_closed(store, from, to, technician, reader, sink).await;
    };
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Batch>(2);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Batch>();
    let reader = tokio::task::spawn_blocking(move || {
        sqlite_read_closed(&path, from, to, technician, &full_tx, &empty_rx)
    });
    let delivered = tokio::task::spawn_blocking(move || deliver(&full_rx, &empty_tx, sink)).await;
    // The reader ends once the sink's side has hung up, if not before; a read that failed
    // half-way is an error even though the sink saw the rows stop cleanly.
    let read = reader.await;
    let sink = delivered??;
    read??;
    Ok(sink)
}

/// Rows read and not yet handed to the sink: the text of all of them in one buffer, the rest
/// per row. Recycled: a whole export allocates a handful. The first batch also brings the
/// staff's names, read in the same transaction.
#[derive(Default)]
struct Batch {
    names: Vec<(i64, String)>,
    categories: Vec<(i64, String)>,
    text: Vec<u8>,
    rows: Vec<BatchRow>,
}

/// Requester, subject, resolution and rating comment: one after the other in the batch's text
/// from `start`, each ending at `ends[k]`; `present[k]` is false when the (nullable) value is
/// NULL. The staff are ids here and names on the sink's side.
struct BatchRow {
    id: i64,
    assignee_id: Option<i64>,
    created_at: i64,
    first_assigned_at: Option<i64>,
    first_response_at: Option<i64>,
    closed_at: i64,
    closed_by: Option<i64>,
    rating: Option<i64>,
    start: usize,
    ends: [usize; TEXTS],
    present: [bool; TEXTS],
    priority: Priority,
    category: Option<i64>,
    due: [Option<i64>; 3],
    secs: [Option<i64>; 3],
}

/// The text columns of a closed row: requester, subject, resolution, rating comment.
const TEXTS: usize = 4;

/// The reading side: steps through the rows and sends them in batches; stops quietly when
/// the sink's side has hung up.
fn sqlite_read_closed(
    path: &std::path::Path,
    from: Option<i64>,
    to: Option<i64>,
    technician: Option<UserId>,
    full: &std::sync::mpsc::SyncSender<Batch>,
    empty: &std::sync::mpsc::Receiver<Batch>,
) -> Result<()> {
    use rusqlite::OpenFlags;
    use rusqlite::types::ValueRef;
    let mut conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // One read transaction: the names and the tickets are one snapshot.
    let tx = conn.transaction()?;
    let mut batch = Batch::default();
    {
        // Looked up on the sink's side instead of two joins a row (a few dozen people).
        let mut stmt = tx.prepare("SELECT id, name FROM users")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            batch.names.push((r.get(0)?, r.get(1)?));
        }
        let mut stmt = tx.prepare("SELECT id, name FROM categories")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            batch.categories.push((r.get(0)?, r.get(1)?));
        }
    }
    let corrupt = |e: rusqlite::types::FromSqlError| StorageError::Corrupt(format!("export: {e}"));
    fn text(v: ValueRef<'_>, nullable: bool) -> Result<Option<&[u8]>> {
        match v {
            ValueRef::Text(t) => Ok(Some(t)),
            ValueRef::Null if nullable => Ok(None),
            other => Err(StorageError::Corrupt(format!(
                "export: text expected, found {}",
                other.data_type()
            ))),
        }
    }
    // The same rows and order as `closed_chunk`. `NOT INDEXED`: nearly every ticket is closed,
    // so one pass over the table in id order beats an index walk with a table lookup per
    // row, and never sorts (memory stays flat whatever the filters).
    let mut sql = String::from(
        "SELECT id, requester, subject, assignee_id, created_at, first_assigned_at, \
                first_response_at, closed_at, closed_by, resolution, rating, rating_comment, \
                priority, category_id, assignment_due_at, assignment_secs, response_due_at, \
                response_secs, resolution_due_at, resolution_secs \
         FROM tickets NOT INDEXED \
         WHERE status = 'cerrado' AND closed_at IS NOT NULL",
    );
    // Only the bounds given: fewer comparisons a row (NOT NULL stands in for the open ones).
    let mut params = Vec::new();
    for (bound, clause) in [
        (from, " AND closed_at >= ?"),
        (to, " AND closed_at < ?"),
        (technician.map(|t| t.0), " AND assignee_id = ?"),
    ] {
        if let Some(value) = bound {
            params.push(value);
            sql.push_str(clause);
            sql.push_str(&params.len().to_string());
        }
    }
    sql.push_str(" ORDER BY id");
    {
        let mut stmt = tx.prepare(&sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut hung_up = false;
        while let Some(r) = rows.next()? {
            let start = batch.text.len();
            let mut ends = [0; TEXTS];
            let mut present = [false; TEXTS];
            for (k, v) in [r.get_ref(1)?, r.get_ref(2)?, r.get_ref(9)?, r.get_ref(11)?]
                .into_iter()
                .enumerate()
            {
                if let Some(t) = text(v, k >= 2)? {
                    batch.text.extend_from_slice(t);
                    present[k] = true;
                }
                ends[k] = batch.text.len();
            }
            batch.rows.push(BatchRow {
                id: r.get_ref(0)?.as_i64().map_err(corrupt)?,
                assignee_id: r.get_ref(3)?.as_i64_or_null().map_err(corrupt)?,
                created_at: r.get_ref(4)?.as_i64().map_err(corrupt)?,
                first_assigned_at: r.get_ref(5)?.as_i64_or_null().map_err(corrupt)?,
                first_response_at: r.get_ref(6)?.as_i64_or_null().map_err(corrupt)?,
                closed_at: r
                    .get_ref(7)?
                    .as_i64_or_null()
                    .map_err(corrupt)?
                    .unwrap_or_default(),
                closed_by: r.get_ref(8)?.as_i64_or_null().map_err(corrupt)?,
                rating: r.get_ref(10)?.as_i64_or_null().map_err(corrupt)?,
                start,
                ends,
                present,
                priority: match r.get_ref(12)? {
                    ValueRef::Text(t) => priority_of(std::str::from_utf8(t).unwrap_or(""))?,
                    other => {
                        return Err(StorageError::Corrupt(format!(
                            "export: priority {}",
                            other.data_type()
                        )));
                    }
                },
                category: r.get_ref(13)?.as_i64_or_null().map_err(corrupt)?,
                due: [
                    r.get_ref(14)?.as_i64_or_null().map_err(corrupt)?,
                    r.get_ref(16)?.as_i64_or_null().map_err(corrupt)?,
                    r.get_ref(18)?.as_i64_or_null().map_err(corrupt)?,
                ],
                secs: [
                    r.get_ref(15)?.as_i64_or_null().map_err(corrupt)?,
                    r.get_ref(17)?.as_i64_or_null().map_err(corrupt)?,
                    r.get_ref(19)?.as_i64_or_null().map_err(corrupt)?,
                ],
            });
            if batch.rows.len() >= BATCH_ROWS || batch.text.len() >= BATCH_TEXT {
                let next = empty.try_recv().unwrap_or_default();
                if full.send(std::mem::replace(&mut batch, next)).is_err() {
                    hung_up = true;
                    break;
                }
            }
        }
        if !hung_up
            && (!batch.rows.is_empty() || !batch.names.is_empty() || !batch.categories.is_empty())
        {
            // Fails only if the sink's side is gone, and then nobody needs it.
            let _ = full.send(batch);
        }
    }
    // Ends the read transaction and closes the connection now, not when the thread is reused.
    tx.commit()?;
    conn.close().map_err(|(_, e)| e)?;
    Ok(())
}

/// The staff's names by id (a few dozen people).
struct Names(HashMap<i64, String>);

impl Names {
    fn get(&self, id: Option<i64>) -> Option<&str> {
        self.0.get(&id?).map(String::as_str)
    }
}

/// The sink's side: each batch's rows to the sink, the batch back for reuse. Returning
/// (done, stopped or failed) hangs up, which stops the reader.
fn deliver<S: ClosedSink>(
    full: &std::sync::mpsc::Receiver<Batch>,
    empty: &std::sync::mpsc::Sender<Batch>,
    mut sink: S,
) -> Result<S> {
    let bad = || StorageError::Corrupt("export: text is not UTF-8".to_string());
    let mut names = Names(Default::default());
    let mut categories = Names(Default::default());
    for mut batch in full.iter() {
        if !batch.names.is_empty() {
            names = Names(std::mem::take(&mut batch.names).into_iter().collect());
        }
        if !batch.categories.is_empty() {
            categories = Names(std::mem::take(&mut batch.categories).into_iter().collect());
        }
        for r in &batch.rows {
            // One check per row: its texts are consecutive, and each piece was a whole
            // SQLite value, so the pieces of valid text split on character boundaries.
            let all = batch.text.get(r.start..r.ends[TEXTS - 1]).ok_or_else(bad)?;
            let all = std::str::from_utf8(all).map_err(|_| bad())?;
            let field = |k: usize| {
                let from = if k == 0 { r.start } else { r.ends[k - 1] };
                all.get(from - r.start..r.ends[k] - r.start).ok_or_else(bad)
            };
            let row = ClosedRowRef {
                id: r.id,
                requester: field(0)?,
                subject: field(1)?,
                technician: names.get(r.assignee_id),
                created_at: r.created_at,
                first_assigned_at: r.first_assigned_at,
                first_response_at: r.first_response_at,
                closed_at: r.closed_at,
                closed_by: names.get(r.closed_by),
                resolution: if r.present[2] { Some(field(2)?) } else { None },
                rating: r.rating,
                rating_comment: if r.present[3] { Some(field(3)?) } else { None },
                priority: r.priority,
                category: categories.get(r.category),
                due: r.due,
                secs: r.secs,
            };
            if sink.row(&row).is_break() {
                return Ok(sink);
            }
        }
        batch.text.clear();
        batch.rows.clear();
        // The reader may have finished already.
        let _ = empty.send(batch);
    }
    Ok(sink)
}

/// PostgreSQL without replicas: one `COPY (SELECT …) TO STDOUT` on a connection of its own
/// (one snapshot, rows in text as PostgreSQL writes them, no per-row decoding through sqlx's
/// `Any` driver), parsed here and handed to the sink in batches on a blocking thread. With
/// replicas the export reads keyset chunks where the reader's reads go
/// (`chunked_each_closed`).
async fn copied_each_closed<S: ClosedSink>(
    url: &str,
    from: Option<i64>,
    to: Option<i64>,
    technician: Option<UserId>,
    mut sink: S,
) -> Result<S> {
    use futures_util::TryStreamExt;
    use sqlx::Connection;
    // Only integers are put in the statement (COPY takes no parameters).
    let mut filters = String::new();
    if let Some(from) = from {
        filters += &format!(" AND t.closed_at >= {from}");
    }
    if let Some(to) = to {
        filters += &format!(" AND t.closed_at < {to}");
    }
    if let Some(t) = technician {
        filters += &format!(" AND t.assignee_id = {}", t.0);
    }
    // The names come from two small lookups in the same snapshot, not from three joins a
    // row (PostgreSQL's backend is what limits this export, and the joins were about a
    // quarter of its work).
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut conn)
        .await?;
    let names = |rows: Vec<(i64, String)>| Names(rows.into_iter().collect());
    let people = names(
        sqlx::query_as("SELECT id, name FROM users")
            .fetch_all(&mut conn)
            .await?,
    );
    let categories = names(
        sqlx::query_as("SELECT id, name FROM categories")
            .fetch_all(&mut conn)
            .await?,
    );
    // bench/run.sh times this statement through psql alone (the export's ceiling): keep the
    // two alike.
    let sql = format!(
        "COPY (SELECT t.id, t.requester, t.subject, t.assignee_id, t.created_at, \
                t.first_assigned_at, t.first_response_at, t.closed_at, t.closed_by, t.resolution, \
                t.rating, t.rating_comment, t.priority, t.category_id, t.assignment_due_at, \
                t.assignment_secs, t.response_due_at, t.response_secs, t.resolution_due_at, \
                t.resolution_secs \
         FROM tickets t WHERE t.status = 'cerrado'{filters} ORDER BY t.id) TO STDOUT"
    );
    let mut stream = conn.copy_out_raw(&sql).await?;
    let mut pending: Vec<u8> = Vec::new();
    let mut batch: Vec<ClosedRow> = Vec::with_capacity(BATCH_ROWS);
    let mut done = false;
    while !done {
        let chunk = stream.try_next().await?;
        match &chunk {
            Some(bytes) => pending.extend_from_slice(bytes),
            None => done = true,
        }
        let mut start = 0;
        while let Some(at) = pending[start..].iter().position(|b| *b == b'\n') {
            batch.push(copied_row(
                &pending[start..start + at],
                &people,
                &categories,
            )?);
            start += at + 1;
        }
        pending.drain(..start);
        if batch.len() >= BATCH_ROWS || (done && !batch.is_empty()) {
            let rows = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
            let (back, flow) = hand_over(sink, rows).await?;
            sink = back;
            if flow.is_break() {
                return Ok(sink);
            }
        }
    }
    Ok(sink)
}

/// One row of `COPY`'s text output: fields split by tabs, `\N` for null, backslash escapes.
/// The fields are read in place: only text fields become strings, one allocation each; the
/// technician's, closer's and category's ids are looked up in `people` and `categories`.
fn copied_row(line: &[u8], people: &Names, categories: &Names) -> Result<ClosedRow> {
    let bad = || StorageError::Corrupt("an exported row could not be read".to_string());
    let line = std::str::from_utf8(line).map_err(|_| bad())?;
    let mut fields = [""; 20];
    let mut parts = line.split('\t');
    for f in fields.iter_mut() {
        *f = parts.next().ok_or_else(bad)?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    let int = |i: usize| -> Result<Option<i64>> {
        match fields[i] {
            "\\N" => Ok(None),
            v => v.parse::<i64>().map(Some).map_err(|_| bad()),
        }
    };
    let text = |i: usize| -> Option<String> {
        let f = fields[i];
        if f == "\\N" {
            return None;
        }
        if !f.contains('\\') {
            return Some(f.to_string());
        }
        let mut out = String::with_capacity(f.len());
        let mut chars = f.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('b') => out.push('\u{8}'),
                Some('f') => out.push('\u{c}'),
                Some('v') => out.push('\u{b}'),
                Some(other) => out.push(other),
                None => {}
            }
        }
        Some(out)
    };
    Ok(ClosedRow {
        id: int(0)?.ok_or_else(bad)?,
        requester: text(1).unwrap_or_default(),
        subject: text(2).unwrap_or_default(),
        technician: people.get(int(3)?).map(str::to_string),
        created_at: int(4)?.unwrap_or_default(),
        first_assigned_at: int(5)?,
        first_response_at: int(6)?,
        closed_at: int(7)?.unwrap_or_default(),
        closed_by: people.get(int(8)?).map(str::to_string),
        resolution: text(9),
        rating: int(10)?,
        rating_comment: text(11),
        priority: priority_of(fields[12])?,
        category: categories.get(int(13)?).map(str::to_string),
        due: [int(14)?, int(16)?, int(18)?],
        secs: [int(15)?, int(17)?, int(19)?],
    })
}

/// Hands rows to the sink on a blocking thread (it may block on a slow client); gives it
/// back with whether it wants more.
async fn hand_over<S: ClosedSink>(
    mut sink: S,
    rows: Vec<ClosedRow>,
) -> Result<(S, ControlFlow<()>)> {
    Ok(tokio::task::spawn_blocking(move || {
        let flow = rows.iter().try_for_each(|r| sink.row(&r.borrowed()));
        (sink, flow)
    })
    .await?)
}

async fn chunked_each_closed<S: ClosedSink>(
    store: &Store,
    from: Option<i64>,
    to: Option<i64>,
    technician: Option<UserId>,
    reader: Option<UserId>,
    mut sink: S,
) -> Result<S> {
    let mut after = 0;
    loop {
        // Each chunk from a replica when one may serve the reader; a replica failing half-way
        // is skipped and the chunk read again from the primary.
        let rows = {
            let mut conn = store.read_for(reader).await?;
            let replica = conn.replica();
            match (
                closed_chunk(&mut conn, from, to, technician, after, EACH_CHUNK).await,
                replica,
            ) {
                (Err(e), Some(i)) => {
                    drop(conn);
                    store.replica_failed(i, &e);
                    let mut conn = store.read().await?;
                    closed_chunk(&mut conn, from, to, technician, after, EACH_CHUNK).await?
                }
                (rows, _) => rows?,
            }
        };
        let last = rows.len() < EACH_CHUNK as usize;
        after = rows.last().map(|r| r.id).unwrap_or(after);
        let (back, flow) = hand_over(sink, rows).await?;
        sink = back;
        if last || flow.is_break() {
            return Ok(sink);
        }
    }
}

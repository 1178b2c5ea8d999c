//! Tickets, their timeline, intake keys and the search index.
//! Every change goes through `apply`: the row is updated only if its version is the one the
//! decision was made on, and the events are appended in the same transaction.

use super::{Backend, Conn, Result, StorageError};
use crate::domain::access::TicketScope;
use crate::domain::ids::{TicketId, UserId};
use crate::domain::search::document;
use crate::domain::ticket::{Change, NewTicket, Status, Ticket, TicketFilter};
use crate::domain::timeline::{Event, EventData, EventKind, NewEvent};
use crate::domain::user::Actor;
use sqlx::Row;
use sqlx::any::AnyRow;

pub(crate) const SELECT: &str = "SELECT t.id, t.status, t.version, t.subject, t.body, t.requester, t.assignee_id, \
     u.name AS assignee_name, COALESCE(u.active, 0) AS assignee_active, t.created_at, t.updated_at, \
     t.first_assigned_at, t.first_response_at, t.closed_at, t.closed_by, t.resolution, \
     t.last_event_at, t.last_event_kind, t.queued_since \
     FROM tickets t LEFT JOIN users u ON u.id = t.assignee_id";

pub(crate) fn ticket_from_row(row: &AnyRow) -> Result<Ticket> {
    let status: String = row.try_get("status")?;
    Ok(Ticket {
        id: TicketId(row.try_get("id")?),
        status: Status::parse(&status)
            .ok_or_else(|| StorageError::Corrupt(format!("status {status}")))?,
        version: row.try_get("version")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        requester: row.try_get("requester")?,
        assignee_id: row.try_get::<Option<i64>, _>("assignee_id")?.map(UserId),
        assignee_name: row.try_get("assignee_name")?,
        assignee_active: row.try_get::<i64, _>("assignee_active")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        first_assigned_at: row.try_get("first_assigned_at")?,
        first_response_at: row.try_get("first_response_at")?,
        closed_at: row.try_get("closed_at")?,
        closed_by: row.try_get::<Option<i64>, _>("closed_by")?.map(UserId),
        resolution: row.try_get("resolution")?,
        last_event_at: row.try_get("last_event_at")?,
        last_event_kind: row.try_get("last_event_kind")?,
        queued_since: row.try_get("queued_since")?,
    })
}

/// Numbered parameters for SQL built piece by piece (`$1…$n` work on both backends).
#[derive(Default)]
struct Args(Vec<Arg>);
enum Arg {
    Int(i64),
    Text(String),
}
impl Args {
    fn int(&mut self, v: i64) -> String {
        self.0.push(Arg::Int(v));
        format!("${}", self.0.len())
    }
    fn text(&mut self, v: String) -> String {
        self.0.push(Arg::Text(v));
        format!("${}", self.0.len())
    }
    fn bind<'q>(
        self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for a in self.0 {
            q = match a {
                Arg::Int(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
            };
        }
        q
    }
}

/// The scope as a WHERE fragment; `None` means the actor may see nothing.
fn scope_clause(scope: TicketScope, args: &mut Args) -> Option<String> {
    match scope {
        TicketScope::All => Some(String::new()),
        TicketScope::AssignedTo(user) => Some(format!(" AND t.assignee_id = {}", args.int(user.0))),
        TicketScope::Nothing => None,
    }
}

/// The search document of a new ticket (folded subject, body and sender).
pub(crate) fn new_ticket_document(new: &NewTicket) -> String {
    document(&format!("{} {} {}", new.subject, new.body, new.requester))
}

/// New tickets per Lima day of arrival (the dashboard's daily "created" figures).
pub(crate) fn arrivals_per_day(rows: &[NewRow<'_>]) -> std::collections::BTreeMap<i64, i64> {
    let mut per_day = std::collections::BTreeMap::new();
    for row in rows {
        *per_day
            .entry(crate::domain::figures::created(row.at).day)
            .or_default() += 1;
    }
    per_day
}

/// A ticket about to be created.
#[derive(Debug, Clone, Copy)]
pub struct NewRow<'a> {
    pub new: &'a NewTicket,
    pub actor: &'a Actor,
    pub at: i64,
}

pub async fn insert(
    conn: &mut Conn,
    backend: Backend,
    new: &NewTicket,
    actor: &Actor,
    at: i64,
) -> Result<TicketId> {
    let ids = insert_many(conn, backend, &[NewRow { new, actor, at }]).await?;
    ids.into_iter()
        .next()
        .ok_or_else(|| StorageError::Corrupt("no ticket id was handed out".to_string()))
}

/// Sizes of the multi-row statements: a batch is split into powers of two (largest first, at
/// most 256 rows), so each connection prepares at most nine statement shapes per table and
/// reuses them, and a batch of n rows takes at most ~log2(n) statements.
pub(crate) fn statement_sizes(mut n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut size = 256;
    while n > 0 {
        while n >= size {
            out.push(size);
            n -= size;
        }
        size /= 2;
    }
    out
}

/// `($1, $2, …), (…)`: `rows` groups of `width` placeholders, numbered from `first`; `wrap`
/// puts some columns' placeholder inside an expression (`{}` marks where).
pub(crate) fn placeholders(
    rows: usize,
    width: usize,
    first: usize,
    wrap: &[(usize, &str)],
) -> String {
    let mut out = String::with_capacity(rows * width * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..width {
            if c > 0 {
                out.push_str(", ");
            }
            let p = format!("${}", first + r * width + c);
            match wrap.iter().find(|(col, _)| *col == c) {
                Some((_, f)) => out.push_str(&f.replace("{}", &p)),
                None => out.push_str(&p),
            }
        }
        out.push(')');
    }
    out
}

/// Creates tickets with their "created" events, search documents and counters, a few
/// multi-row statements for the whole batch (intake commits concurrent deliveries together).
/// Ids are handed out in the order given.
pub async fn insert_many(
    conn: &mut Conn,
    backend: Backend,
    rows: &[NewRow<'_>],
) -> Result<Vec<TicketId>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // Ids first, so every statement below can name its rows: SQLite's write transaction is
    // exclusive (the next ids are the max + 1…); PostgreSQL takes them from the sequence.
    let ids: Vec<i64> = match backend {
        Backend::Sqlite => {
            let max: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM tickets")
                .fetch_one(&mut *conn)
                .await?;
            let first = max.unwrap_or(0) + 1;
            (0..rows.len() as i64).map(|i| first + i).collect()
        }
        Backend::Postgres => {
            sqlx::query_scalar("SELECT nextval('tickets_id_seq') FROM generate_series(1, $1)")
                .bind(rows.len() as i64)
                .fetch_all(&mut *conn)
                .await?
        }
    };
    let created = serde_json::to_string(&EventData::default())
        .map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let mut done = 0;
    for size in statement_sizes(rows.len()) {
        let chunk = &rows[done..done + size];
        let chunk_ids = &ids[done..done + size];
        done += size;

        let values: Vec<String> = (0..size)
            .map(|r| {
                let p = |c: usize| format!("${}", r * 6 + c);
                format!(
                    "({}, 'nuevo', 1, {}, {}, {}, {}, {at}, {at}, {at}, 'created', {at})",
                    p(1),
                    p(2),
                    p(3),
                    p(4),
                    p(5),
                    at = p(6)
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO tickets (id, status, version, subject, body, requester, created_by, created_at, \
                                  updated_at, last_event_at, last_event_kind, queued_since) VALUES {}",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for (row, id) in chunk.iter().zip(chunk_ids) {
            q = q
                .bind(*id)
                .bind(&row.new.subject)
                .bind(&row.new.body)
                .bind(&row.new.requester)
                .bind(row.actor.user_id().map(|u| u.0))
                .bind(row.at);
        }
        q.execute(&mut *conn).await?;

        let sql = format!(
            "INSERT INTO ticket_events (ticket_id, at, actor_id, actor, kind, data) VALUES {}",
            placeholders(size, 6, 1, &[])
        );
        let mut q = sqlx::query(&sql);
        for (row, id) in chunk.iter().zip(chunk_ids) {
            q = q
                .bind(*id)
                .bind(row.at)
                .bind(row.actor.user_id().map(|u| u.0))
                .bind(row.actor.label())
                .bind(EventKind::Created.as_str())
                .bind(created.as_str());
        }
        q.execute(&mut *conn).await?;

        let sql = match backend {
            Backend::Sqlite => format!(
                "INSERT INTO ticket_search (rowid, doc) VALUES {}",
                placeholders(size, 2, 1, &[])
            ),
            Backend::Postgres => format!(
                "INSERT INTO ticket_search (ticket_id, doc) VALUES {}",
                placeholders(size, 2, 1, &[(1, "to_tsvector('simple', {})")])
            ),
        };
        let mut q = sqlx::query(&sql);
        for (row, id) in chunk.iter().zip(chunk_ids) {
            q = q.bind(*id).bind(new_ticket_document(row.new));
        }
        q.execute(&mut *conn).await?;
    }
    count(conn, Status::Nuevo, None, rows.len() as i64).await?;
    for (day, n) in arrivals_per_day(rows) {
        super::figures::add_arrivals(conn, day, n).await?;
    }
    Ok(ids.into_iter().map(TicketId).collect())
}

/// Keeps `ticket_counts` (tickets per status and technician) in step with the rows.
async fn count(
    conn: &mut Conn,
    status: Status,
    assignee: Option<UserId>,
    delta: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO ticket_counts (status, assignee_id, n) VALUES ($1, $2, $3) \
         ON CONFLICT (status, assignee_id) DO UPDATE SET n = ticket_counts.n + excluded.n",
    )
    .bind(status.as_str())
    .bind(assignee.map(|u| u.0).unwrap_or(0))
    .bind(delta)
    .execute(conn)
    .await?;
    Ok(())
}

async fn append_event(
    conn: &mut Conn,
    ticket: TicketId,
    actor: &Actor,
    at: i64,
    event: &NewEvent,
) -> Result<()> {
    let data =
        serde_json::to_string(&event.data).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO ticket_events (ticket_id, at, actor_id, actor, kind, data) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(ticket.0)
    .bind(at)
    .bind(actor.user_id().map(|u| u.0))
    .bind(actor.label())
    .bind(event.kind.as_str())
    .bind(data)
    .execute(conn)
    .await?;
    Ok(())
}

async fn append_search(
    conn: &mut Conn,
    backend: Backend,
    ticket: TicketId,
    text: &str,
) -> Result<()> {
    let doc = document(text);
    let sql = match backend {
        Backend::Sqlite => "UPDATE ticket_search SET doc = doc || ' ' || $1 WHERE rowid = $2",
        Backend::Postgres => {
            "UPDATE ticket_search SET doc = doc || to_tsvector('simple', $1) WHERE ticket_id = $2"
        }
    };
    sqlx::query(sql)
        .bind(doc)
        .bind(ticket.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// One ticket, if the scope lets the actor see it.
pub async fn find(conn: &mut Conn, scope: TicketScope, id: TicketId) -> Result<Option<Ticket>> {
    let mut args = Args::default();
    let id_param = args.int(id.0);
    let Some(scope_sql) = scope_clause(scope, &mut args) else {
        return Ok(None);
    };
    let sql = format!("{SELECT} WHERE t.id = {id_param}{scope_sql}");
    let row = args.bind(sqlx::query(&sql)).fetch_optional(conn).await?;
    row.as_ref().map(ticket_from_row).transpose()
}

/// Writes a decided change: the row (only at the version it was decided on), the events and
/// the metric projections, all on the caller's transaction. `Ok(None)` means someone else
/// changed the ticket first.
pub async fn apply(
    conn: &mut Conn,
    backend: Backend,
    ticket: &Ticket,
    change: &Change,
    actor: &Actor,
    at: i64,
) -> Result<Option<i64>> {
    let before = ticket.milestones();
    let (m, queue_wait) = before.after(ticket.status, change, actor, at);
    let figures = crate::domain::figures::deltas(
        crate::domain::figures::Before {
            created_at: ticket.created_at,
            status: ticket.status,
            assignee: ticket.assignee_id,
            milestones: &before,
        },
        change,
        actor,
        at,
        &m,
        queue_wait,
    );
    let last_kind = change
        .events
        .last()
        .map(|e| e.kind.as_str())
        .unwrap_or(ticket.last_event_kind.as_str());
    let updated = sqlx::query(
        "UPDATE tickets SET status = $1, assignee_id = $2, version = version + 1, updated_at = $3, \
             last_event_at = $3, last_event_kind = $4, first_assigned_at = $5, first_response_at = $6, \
             closed_at = $7, closed_by = $8, resolution = $9, queued_since = $12 \
         WHERE id = $10 AND version = $11",
    )
    .bind(change.status.as_str())
    .bind(change.assignee.map(|u| u.0))
    .bind(at)
    .bind(last_kind)
    .bind(m.first_assigned_at)
    .bind(m.first_response_at)
    .bind(m.closed_at)
    .bind(m.closed_by.map(|u| u.0))
    .bind(m.resolution)
    .bind(ticket.id.0)
    .bind(ticket.version)
    .bind(m.queued_since)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() != 1 {
        return Ok(None);
    }
    if (ticket.status, ticket.assignee_id) != (change.status, change.assignee) {
        count(conn, ticket.status, ticket.assignee_id, -1).await?;
        count(conn, change.status, change.assignee, 1).await?;
    }
    super::figures::apply(conn, backend, &figures).await?;
    for event in &change.events {
        append_event(conn, ticket.id, actor, at, event).await?;
        let searchable = event
            .data
            .body
            .as_deref()
            .or(event.data.resolution.as_deref());
        if let Some(text) = searchable {
            append_search(conn, backend, ticket.id, text).await?;
        }
    }
    Ok(Some(ticket.version + 1))
}

pub async fn events(conn: &mut Conn, id: TicketId) -> Result<Vec<Event>> {
    let rows = sqlx::query(
        "SELECT id, kind, actor_id, actor, at, data FROM ticket_events WHERE ticket_id = $1 ORDER BY id",
    )
    .bind(id.0)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get("kind")?;
            let data: String = row.try_get("data")?;
            Ok(Event {
                id: row.try_get("id")?,
                kind: EventKind::parse(&kind)
                    .ok_or_else(|| StorageError::Corrupt(format!("event kind {kind}")))?,
                actor_id: row.try_get::<Option<i64>, _>("actor_id")?.map(UserId),
                actor: row.try_get("actor")?,
                at: row.try_get("at")?,
                data: serde_json::from_str(&data)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))?,
            })
        })
        .collect()
}

/// A page of tickets, newest first (by id: ids are handed out in arrival order), by keyset
/// on the id: no OFFSET, no COUNT. A text search walks the full-text index backwards from the
/// newest match and stops after one page.
pub async fn list(
    conn: &mut Conn,
    backend: Backend,
    scope: TicketScope,
    filter: &TicketFilter,
    limit: i64,
) -> Result<Vec<Ticket>> {
    let mut args = Args::default();
    // The search comes first: on SQLite its parameter goes into the FROM clause.
    let mut from = "FROM tickets t".to_string();
    let mut order = "t.id";
    let mut sql_where = String::new();
    if !filter.terms.is_empty() {
        match backend {
            Backend::Sqlite => {
                let query = filter
                    .terms
                    .iter()
                    .map(|t| format!("\"{t}\"*"))
                    .collect::<Vec<_>>()
                    .join(" ");
                let q = args.text(query);
                let after = match filter.after {
                    Some(id) => format!(" AND rowid < {}", args.int(id)),
                    None => String::new(),
                };
                from = format!(
                    "FROM (SELECT rowid AS rid FROM ticket_search WHERE ticket_search MATCH {q}{after} \
                     ORDER BY rowid DESC) s JOIN tickets t ON t.id = s.rid"
                );
                order = "s.rid";
            }
            Backend::Postgres => {
                let query = filter
                    .terms
                    .iter()
                    .map(|t| format!("{t}:*"))
                    .collect::<Vec<_>>()
                    .join(" & ");
                sql_where += &format!(
                    " AND t.id IN (SELECT ticket_id FROM ticket_search WHERE doc @@ to_tsquery('simple', {}))",
                    args.text(query)
                );
            }
        }
    }
    let Some(scope_sql) = scope_clause(scope, &mut args) else {
        return Ok(Vec::new());
    };
    sql_where += &scope_sql;
    if let Some(status) = filter.status {
        sql_where += &format!(" AND t.status = {}", args.text(status.as_str().to_string()));
    }
    if let Some(tech) = filter.technician {
        sql_where += &format!(" AND t.assignee_id = {}", args.int(tech.0));
    }
    if let Some(from) = filter.from {
        sql_where += &format!(" AND t.created_at >= {}", args.int(from));
    }
    if let Some(to) = filter.to {
        sql_where += &format!(" AND t.created_at < {}", args.int(to));
    }
    if let Some(number) = filter.number {
        sql_where += &format!(" AND t.id = {}", args.int(number.0));
    }
    if let Some(id) = filter.after {
        sql_where += &format!(" AND t.id < {}", args.int(id));
    }
    let lim = args.int(limit);
    let select = SELECT
        .replace("t.body,", "SUBSTR(t.body, 1, 200) AS body,")
        .replace("FROM tickets t", &from);
    let sql = format!("{select} WHERE 1 = 1{sql_where} ORDER BY {order} DESC LIMIT {lim}");
    let rows = args.bind(sqlx::query(&sql)).fetch_all(conn).await?;
    rows.iter().map(ticket_from_row).collect()
}

pub async fn find_intake_key(conn: &mut Conn, key: &str) -> Result<Option<TicketId>> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT ticket_id FROM intake_keys WHERE key = $1")
            .bind(key)
            .fetch_optional(conn)
            .await?
            .map(TicketId),
    )
}

pub async fn insert_intake_key(
    conn: &mut Conn,
    key: &str,
    ticket: TicketId,
    at: i64,
) -> Result<()> {
    insert_intake_keys(conn, &[(key, ticket)], at).await
}

/// The tickets already made by any of these keys.
pub async fn find_intake_keys(
    conn: &mut Conn,
    keys: &[&str],
) -> Result<std::collections::HashMap<String, TicketId>> {
    let mut found = std::collections::HashMap::new();
    let mut done = 0;
    for size in statement_sizes(keys.len()) {
        let list: Vec<String> = (1..=size).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT key, ticket_id FROM intake_keys WHERE key IN ({})",
            list.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for k in &keys[done..done + size] {
            q = q.bind(*k);
        }
        done += size;
        for row in q.fetch_all(&mut *conn).await? {
            found.insert(row.try_get("key")?, TicketId(row.try_get("ticket_id")?));
        }
    }
    Ok(found)
}

pub async fn insert_intake_keys(conn: &mut Conn, keys: &[(&str, TicketId)], at: i64) -> Result<()> {
    let mut done = 0;
    for size in statement_sizes(keys.len()) {
        let sql = format!(
            "INSERT INTO intake_keys (key, ticket_id, created_at) VALUES {}",
            placeholders(size, 3, 1, &[])
        );
        let mut q = sqlx::query(&sql);
        for (k, t) in &keys[done..done + size] {
            q = q.bind(*k).bind(t.0).bind(at);
        }
        done += size;
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Open tickets a technician is working on now (to hand back when they are disabled).
pub async fn open_assigned_to(conn: &mut Conn, user: UserId) -> Result<Vec<Ticket>> {
    let sql = format!(
        "{SELECT} WHERE t.assignee_id = $1 AND t.status IN ('asignado', 'en_atencion') ORDER BY t.id"
    );
    let rows = sqlx::query(&sql).bind(user.0).fetch_all(conn).await?;
    rows.iter().map(ticket_from_row).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn batches_split_into_powers_of_two() {
        assert_eq!(super::statement_sizes(0), Vec::<usize>::new());
        assert_eq!(super::statement_sizes(30), [16, 8, 4, 2]);
        assert_eq!(super::statement_sizes(600), [256, 256, 64, 16, 8]);
        for n in 0..1000 {
            assert_eq!(super::statement_sizes(n).iter().sum::<usize>(), n);
        }
    }
}

//! Dashboard reads of what is true now (counts, the queue, the open backlog, recent handoffs)
//! and the export's reads. What is dated in a period comes from `figures`.

use super::{Backend, Conn, Result, StorageError};
use crate::domain::ids::{TicketId, TicketNumber, UserId};
use crate::domain::ticket::Status;
use sqlx::Row;

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

/// Creation instants of the open tickets (for backlog ages).
pub async fn open_created(
    conn: &mut Conn,
    backend: Backend,
    technician: Option<UserId>,
) -> Result<Vec<i64>> {
    let tech = if technician.is_some() {
        " AND assignee_id = $1"
    } else {
        ""
    };
    // Ordered like the open tickets' partial index, so the planner reads that index alone.
    let sql = format!(
        "SELECT {} FROM (SELECT created_at FROM tickets \
         WHERE status IN ('nuevo', 'asignado', 'en_atencion', 'devuelto'){tech} \
         ORDER BY created_at, id) o",
        aggregate(backend, "created_at")
    );
    let mut q = sqlx::query_scalar::<_, Option<String>>(&sql);
    if let Some(t) = technician {
        q = q.bind(t.0);
    }
    parse_numbers(q.fetch_one(conn).await?)
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
         WHERE t.status IN ('nuevo', 'asignado', 'en_atencion', 'devuelto'){tech} \
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
                t.first_response_at, t.closed_at, c.name AS closed_by, t.resolution \
         FROM tickets t LEFT JOIN users u ON u.id = t.assignee_id LEFT JOIN users c ON c.id = t.closed_by \
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
            })
        })
        .collect()
}

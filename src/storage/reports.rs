//! Dashboard and export reads. Durations come from the milestone projections on `tickets`
//! (written with the timeline) through covering indexes, aggregated into one string per query
//! so a month of a million-ticket database crosses the driver as a single value.

use super::{Backend, Conn, Result, StorageError};
use crate::domain::ids::UserId;
use crate::domain::metrics::Sample;
use crate::domain::ticket::Status;
use sqlx::Row;

/// Which milestone a duration runs to (from the ticket's creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Milestone {
    FirstAssigned,
    FirstResponse,
    Closed,
}

impl Milestone {
    fn column(self) -> &'static str {
        match self {
            Milestone::FirstAssigned => "first_assigned_at",
            Milestone::FirstResponse => "first_response_at",
            Milestone::Closed => "closed_at",
        }
    }
}

fn aggregate(backend: Backend, expr: &str) -> String {
    match backend {
        Backend::Sqlite => format!("group_concat({expr}, ',')"),
        Backend::Postgres => format!("string_agg(({expr})::text, ',')"),
    }
}

fn parse_samples(text: Option<String>) -> Result<Vec<Sample>> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (a, d) = pair
                .split_once(':')
                .ok_or_else(|| StorageError::Corrupt(format!("sample {pair}")))?;
            let a: i64 = a
                .parse()
                .map_err(|_| StorageError::Corrupt(format!("sample {pair}")))?;
            let d: i64 = d
                .parse()
                .map_err(|_| StorageError::Corrupt(format!("sample {pair}")))?;
            Ok(Sample {
                technician: (a != 0).then_some(UserId(a)),
                secs: d,
            })
        })
        .collect()
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

/// Durations from creation to the milestone, for tickets whose milestone fell in `[from, to)`.
pub async fn durations(
    conn: &mut Conn,
    backend: Backend,
    milestone: Milestone,
    from: i64,
    to: i64,
    technician: Option<UserId>,
) -> Result<Vec<Sample>> {
    let col = milestone.column();
    let expr = format!("COALESCE(assignee_id, 0) || ':' || ({col} - created_at)");
    let tech = if technician.is_some() {
        " AND assignee_id = $3"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {} FROM tickets WHERE {col} >= $1 AND {col} < $2{tech}",
        aggregate(backend, &expr)
    );
    let mut q = sqlx::query_scalar::<_, Option<String>>(&sql)
        .bind(from)
        .bind(to);
    if let Some(t) = technician {
        q = q.bind(t.0);
    }
    parse_samples(q.fetch_one(conn).await?)
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

/// Stays in the dispatch queue that ended in `[from, to)`, in seconds.
pub async fn queue_waits(
    conn: &mut Conn,
    backend: Backend,
    from: i64,
    to: i64,
) -> Result<Vec<i64>> {
    let sql = format!(
        "SELECT {} FROM queue_waits WHERE ended_at >= $1 AND ended_at < $2",
        aggregate(backend, "secs")
    );
    parse_numbers(
        sqlx::query_scalar(&sql)
            .bind(from)
            .bind(to)
            .fetch_one(conn)
            .await?,
    )
}

/// When each ticket waiting in the queue now entered it.
pub async fn queued_since(conn: &mut Conn, backend: Backend) -> Result<Vec<i64>> {
    let sql = format!(
        "SELECT {} FROM tickets WHERE status IN ('nuevo', 'devuelto')",
        aggregate(backend, "queued_since")
    );
    parse_numbers(sqlx::query_scalar(&sql).fetch_one(conn).await?)
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
    let sql = format!(
        "SELECT {} FROM tickets WHERE status IN ('nuevo', 'asignado', 'en_atencion', 'devuelto'){tech}",
        aggregate(backend, "created_at")
    );
    let mut q = sqlx::query_scalar::<_, Option<String>>(&sql);
    if let Some(t) = technician {
        q = q.bind(t.0);
    }
    parse_numbers(q.fetch_one(conn).await?)
}

/// Tickets created and closed per Lima day (`(instant − 5 h) / 86 400`; Lima has kept UTC−5
/// without daylight saving since 1994).
pub async fn per_day(
    conn: &mut Conn,
    milestone: Option<Milestone>,
    from: i64,
    to: i64,
    technician: Option<UserId>,
) -> Result<Vec<(i64, i64)>> {
    let col = milestone.map(Milestone::column).unwrap_or("created_at");
    let tech = if technician.is_some() {
        " AND assignee_id = $3"
    } else {
        ""
    };
    let sql = format!(
        "SELECT ({col} - 18000) / 86400 AS day, COUNT(*) AS n FROM tickets \
         WHERE {col} >= $1 AND {col} < $2{tech} GROUP BY ({col} - 18000) / 86400"
    );
    let mut q = sqlx::query(&sql).bind(from).bind(to);
    if let Some(t) = technician {
        q = q.bind(t.0);
    }
    let rows = q.fetch_all(conn).await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<i64, _>("day")?, r.try_get::<i64, _>("n")?)))
        .collect()
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

/// How many returns and passes happened in `[from, to)` (by the technician, if given).
/// One pass over the partial index of handoff events (no GROUP BY, which made SQLite scan
/// every event instead).
pub async fn handoff_counts(
    conn: &mut Conn,
    from: i64,
    to: i64,
    technician: Option<UserId>,
) -> Result<(i64, i64)> {
    let tech = if technician.is_some() {
        " AND actor_id = $3"
    } else {
        ""
    };
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(CASE WHEN kind = 'returned' THEN 1 ELSE 0 END), 0) AS BIGINT) AS returned, \
                CAST(COUNT(*) AS BIGINT) AS total \
         FROM ticket_events WHERE kind IN ('returned', 'reassigned') AND at >= $1 AND at < $2{tech}"
    );
    let mut q = sqlx::query(&sql).bind(from).bind(to);
    if let Some(t) = technician {
        q = q.bind(t.0);
    }
    let row = q.fetch_one(conn).await?;
    let returned: i64 = row.try_get("returned")?;
    let total: i64 = row.try_get("total")?;
    Ok((returned, total - returned))
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

/// The oldest open tickets (the backlog table), oldest first.
pub async fn oldest_open(
    conn: &mut Conn,
    technician: Option<UserId>,
    limit: i64,
) -> Result<Vec<crate::domain::ticket::Ticket>> {
    let tech = if technician.is_some() {
        " AND t.assignee_id = $2"
    } else {
        ""
    };
    let sql = format!(
        "{} WHERE t.status IN ('nuevo', 'asignado', 'en_atencion', 'devuelto'){tech} \
         ORDER BY t.created_at, t.id LIMIT $1",
        super::tickets::SELECT.replace("t.body,", "'' AS body,")
    );
    let mut q = sqlx::query(&sql).bind(limit);
    if let Some(t) = technician {
        q = q.bind(t.0);
    }
    q.fetch_all(conn)
        .await?
        .iter()
        .map(super::tickets::ticket_from_row)
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

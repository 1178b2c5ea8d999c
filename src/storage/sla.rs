//! Service levels in the database: the calendar (`sla_hours`, `sla_holidays`), the targets
//! (`sla_policies`), their revision (`sla_revision`), the categories, the met/missed figures
//! per day (`sla_figures`, packed like `daily_figures`), and the reads that recompute clocks
//! and send warnings: tickets by keyset with their timelines' status changes and notices.
//! Ticket rows are written only by `storage::write` (the one writer).

use super::tickets::{SELECT, ticket_from_row};
use super::{Conn, Result, StorageError, Store};
use crate::domain::classification::{Category, CategoryId, Priority};
use crate::domain::ids::{TicketId, UserId};
use crate::domain::sla::{
    Calendar, Holiday, Hours, Level, Notified, Settings, SlaKey, Tally, Target, Targets, Transition,
};
use crate::domain::ticket::{Status, Ticket};
use crate::domain::timeline::EventKind;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// The current revision of the calendar and policies.
pub async fn revision(conn: &mut Conn) -> Result<i64> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT revision FROM sla_revision WHERE id = 1")
            .fetch_optional(conn)
            .await?
            .unwrap_or(0),
    )
}

/// The calendar and every priority's targets, as stored now.
pub async fn settings(conn: &mut Conn) -> Result<Settings> {
    let revision = revision(&mut *conn).await?;
    let hours =
        sqlx::query("SELECT weekday, from_minute, to_minute FROM sla_hours ORDER BY weekday")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| {
                Ok(Hours {
                    weekday: u8::try_from(r.try_get::<i64, _>("weekday")?)
                        .map_err(|_| StorageError::Corrupt("weekday".into()))?,
                    from: r.try_get("from_minute")?,
                    to: r.try_get("to_minute")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
    let holidays = holidays(&mut *conn).await?;
    let calendar = Calendar::new(&hours, holidays)
        .map_err(|e| StorageError::Corrupt(format!("calendar: {}", e.message())))?;
    let mut policies = Settings::defaults().policies;
    for (p, t) in policies_rows(conn).await? {
        policies[p.code() as usize] = t;
    }
    Ok(Settings {
        revision,
        calendar,
        policies,
    })
}

pub async fn holidays(conn: &mut Conn) -> Result<Vec<Holiday>> {
    sqlx::query("SELECT day, name FROM sla_holidays ORDER BY day")
        .fetch_all(conn)
        .await?
        .iter()
        .map(|r| {
            let day: String = r.try_get("day")?;
            Ok(Holiday {
                date: day
                    .parse()
                    .map_err(|_| StorageError::Corrupt(format!("holiday {day}")))?,
                name: r.try_get("name")?,
            })
        })
        .collect()
}

async fn policies_rows(conn: &mut Conn) -> Result<Vec<(Priority, Targets)>> {
    sqlx::query(
        "SELECT priority, assignment_minutes, first_response_minutes, resolution_minutes \
         FROM sla_policies",
    )
    .fetch_all(conn)
    .await?
    .iter()
    .map(|r| {
        let p: String = r.try_get("priority")?;
        Ok((
            Priority::parse(&p).ok_or_else(|| StorageError::Corrupt(format!("priority {p}")))?,
            [
                r.try_get("assignment_minutes")?,
                r.try_get("first_response_minutes")?,
                r.try_get("resolution_minutes")?,
            ],
        ))
    })
    .collect()
}

async fn bump(tx: &mut super::Tx) -> Result<i64> {
    sqlx::query("UPDATE sla_revision SET revision = revision + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT revision FROM sla_revision WHERE id = 1")
            .fetch_one(&mut **tx)
            .await?,
    )
}

/// Records that a recompute rewrote some tickets' clocks (no timeline event says so), for the
/// dashboard's cache stamp.
pub async fn mark_recomputed(store: &Store) -> Result<()> {
    let mut tx = store.begin_write().await?;
    sqlx::query("UPDATE sla_revision SET recomputed = recomputed + 1 WHERE id = 1")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Replaces the working hours; returns the new revision.
pub async fn save_hours(store: &Store, hours: &[Hours]) -> Result<i64> {
    let mut tx = store.begin_write().await?;
    sqlx::query("DELETE FROM sla_hours")
        .execute(&mut *tx)
        .await?;
    for h in hours {
        sqlx::query("INSERT INTO sla_hours (weekday, from_minute, to_minute) VALUES ($1, $2, $3)")
            .bind(i64::from(h.weekday))
            .bind(h.from)
            .bind(h.to)
            .execute(&mut *tx)
            .await?;
    }
    let revision = bump(&mut tx).await?;
    tx.commit().await?;
    Ok(revision)
}

/// Adds a day off; `None` (nothing written) when that date already is one.
pub async fn add_holiday(store: &Store, h: &Holiday) -> Result<Option<i64>> {
    let mut tx = store.begin_write().await?;
    let done = sqlx::query(
        "INSERT INTO sla_holidays (day, name) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING",
    )
    .bind(h.date.to_string())
    .bind(&h.name)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    let revision = bump(&mut tx).await?;
    tx.commit().await?;
    Ok(Some(revision))
}

/// Removes a day off; `None` when it was not one.
pub async fn remove_holiday(store: &Store, date: jiff::civil::Date) -> Result<Option<i64>> {
    let mut tx = store.begin_write().await?;
    let done = sqlx::query("DELETE FROM sla_holidays WHERE day = $1")
        .bind(date.to_string())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    let revision = bump(&mut tx).await?;
    tx.commit().await?;
    Ok(Some(revision))
}

/// Replaces the targets of every priority given; returns the new revision.
pub async fn save_policies(store: &Store, policies: &[(Priority, Targets)]) -> Result<i64> {
    let mut tx = store.begin_write().await?;
    for (p, t) in policies {
        sqlx::query(
            "INSERT INTO sla_policies (priority, assignment_minutes, first_response_minutes, \
             resolution_minutes) VALUES ($1, $2, $3, $4) ON CONFLICT (priority) DO UPDATE SET \
             assignment_minutes = excluded.assignment_minutes, \
             first_response_minutes = excluded.first_response_minutes, \
             resolution_minutes = excluded.resolution_minutes",
        )
        .bind(p.as_str())
        .bind(t[0])
        .bind(t[1])
        .bind(t[2])
        .execute(&mut *tx)
        .await?;
    }
    let revision = bump(&mut tx).await?;
    tx.commit().await?;
    Ok(revision)
}

// Categories.

fn category_from_row(r: &sqlx::any::AnyRow) -> Result<Category> {
    Ok(Category {
        id: CategoryId(r.try_get("id")?),
        name: r.try_get("name")?,
        active: r.try_get::<i64, _>("active")? != 0,
    })
}

/// Every category, by name.
pub async fn categories(conn: &mut Conn) -> Result<Vec<Category>> {
    sqlx::query("SELECT id, name, active FROM categories ORDER BY name_key, id")
        .fetch_all(conn)
        .await?
        .iter()
        .map(category_from_row)
        .collect()
}

pub async fn category(conn: &mut Conn, id: CategoryId) -> Result<Option<Category>> {
    sqlx::query("SELECT id, name, active FROM categories WHERE id = $1")
        .bind(id.0)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(category_from_row)
        .transpose()
}

/// A new category; a name another one has (folded) is a unique violation.
pub async fn create_category(
    conn: &mut Conn,
    name: &str,
    key: &str,
    at: i64,
) -> Result<CategoryId> {
    Ok(CategoryId(
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO categories (name, name_key, active, created_at) VALUES ($1, $2, 1, $3) \
             RETURNING id",
        )
        .bind(name)
        .bind(key)
        .bind(at)
        .fetch_one(conn)
        .await?,
    ))
}

/// Renames a category; false when there is none with that id.
pub async fn rename_category(
    conn: &mut Conn,
    id: CategoryId,
    name: &str,
    key: &str,
) -> Result<bool> {
    let done = sqlx::query("UPDATE categories SET name = $1, name_key = $2 WHERE id = $3")
        .bind(name)
        .bind(key)
        .bind(id.0)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_category_active(conn: &mut Conn, id: CategoryId, active: bool) -> Result<bool> {
    let done = sqlx::query("UPDATE categories SET active = $1 WHERE id = $2")
        .bind(super::flag(active))
        .bind(id.0)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

// What the clocks read from the timeline.

/// What the clocks need from a ticket's timeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    pub transitions: Vec<Transition>,
    pub notified: Notified,
}

#[derive(serde::Deserialize)]
struct EventBits {
    #[serde(default)]
    to_status: Option<String>,
    #[serde(default)]
    target: Option<String>,
}

/// Adds one stored event to a timeline's facts.
fn read_event(t: &mut Timeline, at: i64, kind: &str, data: &str) -> Result<()> {
    let bits: EventBits =
        serde_json::from_str(data).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    if let Some(to) = bits.to_status {
        t.transitions.push(Transition { at, to });
    }
    let level = match EventKind::parse(kind) {
        Some(EventKind::SlaWarning) => Some(Level::Warning),
        Some(EventKind::SlaBreach) => Some(Level::Breach),
        _ => None,
    };
    if let (Some(level), Some(target)) = (level, bits.target.as_deref().and_then(Target::parse)) {
        t.notified.record(level, target);
    }
    Ok(())
}

/// The timelines' facts of these tickets (one query), by ticket id; a ticket without events
/// has an empty one.
pub async fn timelines(conn: &mut Conn, ids: &[i64]) -> Result<HashMap<i64, Timeline>> {
    let mut out: HashMap<i64, Timeline> = ids.iter().map(|id| (*id, Timeline::default())).collect();
    for chunk in ids.chunks(500) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT ticket_id, at, kind, data FROM ticket_events WHERE ticket_id IN ({}) \
             ORDER BY ticket_id, id",
            list.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let id: i64 = r.try_get("ticket_id")?;
            let kind: String = r.try_get("kind")?;
            let data: String = r.try_get("data")?;
            if let Some(t) = out.get_mut(&id) {
                read_event(t, r.try_get("at")?, &kind, &data)?;
            }
        }
    }
    Ok(out)
}

/// Which tickets a recompute walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Every open ticket.
    Open,
    /// Open tickets whose clocks were computed with another revision than this one.
    Stale(i64),
    /// Every ticket created at or after this instant (closed ones included).
    Since(i64),
}

/// `t.status IN (…every open status…)`: the form the open tickets' partial indexes and the
/// `(status, id)` index answer, whatever statuses there are.
fn open_clause() -> String {
    let list: Vec<String> = Status::ALL
        .iter()
        .filter(|s| s.is_open())
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("t.status IN ({})", list.join(", "))
}

/// The next tickets after `after` (by id) that a recompute walks.
pub async fn tickets_after(
    conn: &mut Conn,
    which: Which,
    after: i64,
    limit: i64,
) -> Result<Vec<Ticket>> {
    let open = open_clause();
    let (clause, bound) = match which {
        Which::Open => (open, None),
        Which::Stale(rev) => (format!("{open} AND t.sla_revision <> $3"), Some(rev)),
        Which::Since(at) => ("t.created_at >= $3".to_string(), Some(at)),
    };
    let sql = format!("{SELECT} WHERE t.id > $1 AND {clause} ORDER BY t.id LIMIT $2");
    let mut q = sqlx::query(&sql).bind(after).bind(limit);
    if let Some(b) = bound {
        q = q.bind(b);
    }
    q.fetch_all(conn)
        .await?
        .iter()
        .map(ticket_from_row)
        .collect()
}

/// Open tickets with a notice due by `now`, the most overdue first.
pub async fn notices_due(conn: &mut Conn, now: i64, limit: i64) -> Result<Vec<Ticket>> {
    let sql = format!(
        "{SELECT} WHERE t.sla_notify_at <= $1 AND {} ORDER BY t.sla_notify_at, t.id LIMIT $2",
        open_clause()
    );
    sqlx::query(&sql)
        .bind(now)
        .bind(limit)
        .fetch_all(conn)
        .await?
        .iter()
        .map(ticket_from_row)
        .collect()
}

// The daily figures of met and missed clocks.

fn u32_of(v: i64, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| StorageError::Corrupt(format!("{what} {v} does not fit")))
}

/// Packs a day's entries: per key, big-endian u32 priority code, category, person, met,
/// breached.
pub fn pack(entries: &BTreeMap<SlaKey, Tally>) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(entries.len() * 20);
    for (k, t) in entries {
        for word in [
            k.priority.code(),
            u32_of(k.category, "category")?,
            u32_of(k.person, "person")?,
            u32_of(t.met, "count")?,
            u32_of(t.breached, "count")?,
        ] {
            out.extend_from_slice(&word.to_be_bytes());
        }
    }
    Ok(out)
}

pub fn unpack(bytes: &[u8]) -> Result<BTreeMap<SlaKey, Tally>> {
    let corrupt = || StorageError::Corrupt(format!("sla figures of {} bytes", bytes.len()));
    if !bytes.len().is_multiple_of(20) {
        return Err(corrupt());
    }
    let mut out = BTreeMap::new();
    for chunk in bytes.chunks_exact(20) {
        let w: Vec<u32> = chunk
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let key = SlaKey {
            priority: Priority::from_code(w[0]).ok_or_else(corrupt)?,
            category: i64::from(w[1]),
            person: i64::from(w[2]),
        };
        out.insert(
            key,
            Tally {
                met: i64::from(w[3]),
                breached: i64::from(w[4]),
            },
        );
    }
    Ok(out)
}

/// Hands every (target, key, met and missed) of the days `[from_day, to_day)` to `each`, read
/// straight from the packed rows (about 90 for a month) without building maps.
pub async fn each_tally(
    conn: &mut Conn,
    from_day: i64,
    to_day: i64,
    mut each: impl FnMut(Target, SlaKey, Tally),
) -> Result<()> {
    let rows = sqlx::query("SELECT target, entries FROM sla_figures WHERE day >= $1 AND day < $2")
        .bind(from_day)
        .bind(to_day)
        .fetch_all(conn)
        .await?;
    for r in &rows {
        let code: i64 = r.try_get("target")?;
        let target = Target::from_code(code)
            .ok_or_else(|| StorageError::Corrupt(format!("target {code}")))?;
        let bytes: Vec<u8> = r.try_get("entries")?;
        if !bytes.len().is_multiple_of(20) {
            return Err(StorageError::Corrupt(format!(
                "sla figures of {} bytes",
                bytes.len()
            )));
        }
        for c in bytes.chunks_exact(20) {
            let w =
                |i: usize| u32::from_be_bytes([c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3]]);
            let priority = Priority::from_code(w(0))
                .ok_or_else(|| StorageError::Corrupt("sla figures priority".into()))?;
            each(
                target,
                SlaKey {
                    priority,
                    category: i64::from(w(1)),
                    person: i64::from(w(2)),
                },
                Tally {
                    met: i64::from(w(3)),
                    breached: i64::from(w(4)),
                },
            );
        }
    }
    Ok(())
}

/// A ticket on the dashboard's list of missed targets.
#[derive(Debug, Clone)]
pub struct Breached {
    pub id: TicketId,
    pub subject: String,
    pub status: Status,
    pub priority: Priority,
    pub assignee_id: Option<UserId>,
    pub assignee_name: Option<String>,
    /// Its first missed due.
    pub at: i64,
}

/// The tickets whose first missed due falls in `[from, to)`, the latest first (at most
/// `limit`); a technician's own when given. Read backwards from the index on the instant.
pub async fn breached(
    conn: &mut Conn,
    from: i64,
    to: i64,
    technician: Option<UserId>,
    limit: i64,
) -> Result<Vec<Breached>> {
    let tech = if technician.is_some() {
        " AND t.assignee_id = $4"
    } else {
        ""
    };
    let sql = format!(
        "SELECT t.id, t.subject, t.status, t.priority, t.assignee_id, u.name AS assignee_name, \
                t.sla_breach_at \
         FROM tickets t LEFT JOIN users u ON u.id = t.assignee_id \
         WHERE t.sla_breach_at >= $1 AND t.sla_breach_at < $2{tech} \
         ORDER BY t.sla_breach_at DESC, t.id DESC LIMIT $3"
    );
    let mut q = sqlx::query(&sql).bind(from).bind(to).bind(limit);
    if let Some(t) = technician {
        q = q.bind(t.0);
    }
    q.fetch_all(conn)
        .await?
        .iter()
        .map(|r| {
            let status: String = r.try_get("status")?;
            let priority: String = r.try_get("priority")?;
            Ok(Breached {
                id: TicketId(r.try_get("id")?),
                subject: r.try_get("subject")?,
                status: Status::parse(&status)
                    .ok_or_else(|| StorageError::Corrupt(format!("status {status}")))?,
                priority: Priority::parse(&priority)
                    .ok_or_else(|| StorageError::Corrupt(format!("priority {priority}")))?,
                assignee_id: r.try_get::<Option<i64>, _>("assignee_id")?.map(UserId),
                assignee_name: r.try_get("assignee_name")?,
                at: r.try_get("sla_breach_at")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_entries_round_trip() {
        let mut m = BTreeMap::new();
        m.insert(
            SlaKey {
                priority: Priority::Critica,
                category: 3,
                person: 7,
            },
            Tally {
                met: 2,
                breached: 5,
            },
        );
        m.insert(
            SlaKey {
                priority: Priority::Baja,
                category: 0,
                person: 0,
            },
            Tally {
                met: 1,
                breached: 0,
            },
        );
        let bytes = pack(&m).unwrap();
        assert_eq!(bytes.len(), 40);
        assert_eq!(unpack(&bytes).unwrap(), m);
        assert!(unpack(&bytes[..19]).is_err());
    }
}

//! The write path, written once for both executors: a batch of `TicketWrite`s becomes
//! statements on the executor's open transaction. The order: keys seen before (a repeated
//! delivery answers with its first ticket), new ids, guards (a failed guard writes nothing of
//! its write), then each table's rows for the whole batch in a few multi-row statements.

use super::super::changes::TicketChanged;
use super::super::figures::{pack, unpack};
use super::super::sla::{pack as sla_pack, unpack as sla_unpack};
use super::super::{Backend, Result, StorageError};
use super::exec::{Exec, Kind, Value};
use super::rows::{self, Guard, Statements, Table, TicketWrite, Written};
use crate::domain::figures::{DailyRow, Delta, Figure};
use crate::domain::ids::{TicketId, UserId};
use crate::domain::projection::CountDelta;
use crate::domain::sla::{SlaDay, SlaDelta, Target};
use crate::domain::ticket::Status;
use std::collections::HashMap;

/// What to do with a write, decided before anything is written.
#[derive(Debug, Clone, Copy)]
enum Plan {
    Write,
    /// Its key made or changed this stored ticket before.
    Stored(TicketId),
    /// Its key is the same as that of an earlier write in this batch.
    Same(usize),
}

/// Writes a batch on the executor's open transaction and returns what became of each write.
/// The order: keys seen before, new ids, guards (a failed guard writes nothing of its write),
/// then every table's rows for the whole batch in a few multi-row statements.
/// What a batch did: each write's answer, the live news of what was written (announced on
/// PostgreSQL inside the transaction when `announce`, published by the caller after the
/// commit on SQLite), and the ids that come next after the ones it handed out.
pub(crate) struct Applied {
    pub answers: Vec<Written>,
    pub news: Vec<TicketChanged>,
    pub next: Next,
}

/// The next ticket id and the next event id the sequences will hand out, where known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Next {
    pub ticket: Option<i64>,
    pub event: Option<i64>,
}

/// How a batch finds its new ids and its repeated keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ids {
    /// Asked for: the keys are looked up and the ids read from the sequences (SQLite: the
    /// tables' largest ids), each an answer the next statements wait for. `lock`: first take
    /// PostgreSQL's lock on the ticket sequences (`soporte_claim_ids`), held until the commit,
    /// so a claim of another instance never meets ids handed out meanwhile.
    Ask { lock: bool },
    /// PostgreSQL, claimed without asking: the serving writer knows the ids that come next
    /// (where its last batch ended) and claims them with the batch's first statement
    /// (`soporte_claim_ids`, migration 0200, which takes the lock and fails, before it moves
    /// the sequences, if another writer took ids since or one of the batch's keys is stored).
    /// The rows go in the same message: the batch is one round trip. A batch that fails this
    /// way is written again with `Ask` by the caller.
    Claim { ticket: i64, event: i64 },
}

/// PostgreSQL's transaction-scoped lock on the ticket and event sequences: the same two keys
/// as `soporte_claim_ids` takes.
const SEQUENCES_LOCK: &str = "SELECT pg_advisory_xact_lock(7565171, 1)";

/// Whether a batch can claim its ids: nothing in it waits for an answer (no guard) and the
/// ids it needs are known.
pub(crate) fn claimable(writes: &[&TicketWrite], next: Next) -> Option<Ids> {
    if writes.iter().any(|w| w.guard.is_some()) {
        return None;
    }
    let tickets = writes.iter().any(|w| w.is_new());
    let events = writes.iter().any(|w| !w.events.is_empty());
    match (next.ticket, next.event) {
        (Some(ticket), Some(event)) => Some(Ids::Claim { ticket, event }),
        (Some(ticket), None) if !events => Some(Ids::Claim { ticket, event: 0 }),
        (None, Some(event)) if !tickets => Some(Ids::Claim { ticket: 0, event }),
        _ => None,
    }
}

pub(crate) async fn apply<E: Exec>(
    e: &mut E,
    sql: &mut Statements,
    writes: &[&TicketWrite],
    announce: bool,
    how: Ids,
) -> Result<Applied> {
    if how == (Ids::Ask { lock: true }) && e.backend() == Backend::Postgres {
        e.later(SEQUENCES_LOCK, &[]).await?;
    }
    let keys: Vec<&str> = writes.iter().filter_map(|w| w.key.as_deref()).collect();
    let known = match how {
        Ids::Ask { .. } => known_keys(e, &keys).await?,
        Ids::Claim { .. } => HashMap::new(),
    };
    let mut first_with_key: HashMap<&str, usize> = HashMap::new();
    let plans: Vec<Plan> = writes
        .iter()
        .enumerate()
        .map(|(i, w)| match w.key.as_deref() {
            Some(k) => match known.get(k) {
                Some(id) => Plan::Stored(*id),
                None => match first_with_key.get(k) {
                    Some(j) => Plan::Same(*j),
                    None => {
                        first_with_key.insert(k, i);
                        Plan::Write
                    }
                },
            },
            None => Plan::Write,
        })
        .collect();

    // Guards: a change at the version seen; a held message nobody released yet.
    let mut live = vec![false; writes.len()];
    for (i, w) in writes.iter().enumerate() {
        if !matches!(plans[i], Plan::Write) {
            continue;
        }
        live[i] = match &w.guard {
            None => true,
            Some(Guard::Version(seen)) => {
                let values = rows::change_values(&w.row, *seen);
                e.run(&rows::change_text(), &values).await? == 1
            }
            Some(Guard::Quarantine { id, .. }) => unreleased(e, *id).await?,
        };
    }

    // Ids for the new tickets that will be written, in order, with no gap.
    let creating = writes
        .iter()
        .zip(&live)
        .filter(|(w, live)| w.is_new() && **live)
        .count();
    let events: usize = writes
        .iter()
        .zip(&live)
        .filter(|(_, live)| **live)
        .map(|(w, _)| w.events.len())
        .sum();
    let (fresh, event_ids) = match how {
        Ids::Ask { .. } => next_ids(e, creating, events).await?,
        Ids::Claim { ticket, event } => {
            let keys: Vec<&str> = writes
                .iter()
                .zip(&plans)
                .filter(|(_, p)| matches!(p, Plan::Write))
                .filter_map(|(w, _)| w.key.as_deref())
                .collect();
            claim_ids(e, (ticket, creating), (event, events), &keys).await?
        }
    };
    let next = Next {
        ticket: fresh.last().map(|id| id + 1),
        event: event_ids.last().map(|id| id + 1),
    };
    let mut fresh = fresh.into_iter();
    let mut ids = Vec::with_capacity(writes.len());
    for (w, live) in writes.iter().zip(&live) {
        ids.push(match live {
            true if w.is_new() => fresh
                .next()
                .ok_or_else(|| StorageError::Corrupt("no ticket id was handed out".into()))?,
            _ => w.row.id,
        });
    }
    let written: Vec<(i64, &TicketWrite)> = writes
        .iter()
        .enumerate()
        .filter(|(i, _)| live[*i])
        .map(|(i, w)| (ids[i], *w))
        .collect();

    insert_tickets(e, sql, &written).await?;
    write_search(e, sql, &written).await?;
    insert_dependents(e, sql, &written, &event_ids).await?;
    add_words(e, &written).await?;
    // The rows every writer shares (counters, daily figures) last, so they stay locked for
    // the shortest time before the commit.
    add_counts(e, written.iter().flat_map(|(_, w)| &w.counts)).await?;
    add_figures(e, written.iter().flat_map(|(_, w)| &w.figures)).await?;
    add_sla_figures(e, written.iter().flat_map(|(_, w)| &w.sla_figures)).await?;
    let news = if announce {
        news_of(&written, &event_ids)
    } else {
        Vec::new()
    };
    if e.backend() == Backend::Postgres {
        notify(e, &news).await?;
    }

    // The answers; repeated keys answer with the ticket's status now.
    let stored: Vec<i64> = plans
        .iter()
        .filter_map(|p| match p {
            Plan::Stored(id) => Some(id.0),
            _ => None,
        })
        .collect();
    let statuses = statuses(e, &stored).await?;
    let mut out: Vec<Written> = Vec::with_capacity(writes.len());
    for (i, w) in writes.iter().enumerate() {
        let answer = match plans[i] {
            Plan::Write if !live[i] => Written::Conflict,
            Plan::Write if w.is_new() => Written::Created(TicketId(ids[i])),
            Plan::Write => Written::Changed {
                id: TicketId(ids[i]),
                version: w.row.version,
            },
            Plan::Stored(id) => Written::Repeated {
                id,
                status: statuses.get(&id.0).copied().unwrap_or(Status::Nuevo),
            },
            Plan::Same(j) => match out.get(j).copied() {
                Some(Written::Conflict) | None => Written::Conflict,
                Some(_) => Written::Repeated {
                    id: TicketId(ids[j]),
                    status: writes[j].row.status,
                },
            },
        };
        out.push(answer);
    }
    Ok(Applied {
        answers: out,
        news,
        next,
    })
}

/// The live news of the written tickets: each write's last event is its sequence number.
fn news_of(written: &[(i64, &TicketWrite)], event_ids: &[i64]) -> Vec<TicketChanged> {
    let mut next = 0;
    let mut news = Vec::with_capacity(written.len());
    for (id, w) in written {
        next += w.events.len();
        let (Some(last), Some(seq)) = (
            w.events.last(),
            next.checked_sub(1).and_then(|i| event_ids.get(i)),
        ) else {
            continue;
        };
        news.push(TicketChanged {
            seq: *seq,
            ticket: TicketId(*id),
            status: w.row.status.as_str().to_string(),
            version: w.row.version,
            assignee: w.row.assignee,
            previous_assignee: w.before_assignee,
            kind: last.kind.as_str().to_string(),
            actor: last.actor.clone(),
            actor_id: last.actor_id,
            created: w.is_new(),
        });
    }
    news
}

/// PostgreSQL: the news goes out with the transaction (`NOTIFY` is delivered at its commit,
/// to every instance listening), in payloads under the 8,000-byte limit.
async fn notify<E: Exec>(e: &mut E, news: &[TicketChanged]) -> Result<()> {
    const MOST: usize = 7_000;
    let mut start = 0;
    while start < news.len() {
        let mut end = start + 1;
        let mut payload = serde_json::to_string(&news[start..end])
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        while end < news.len() {
            let longer = serde_json::to_string(&news[start..end + 1])
                .map_err(|e| StorageError::Corrupt(e.to_string()))?;
            if longer.len() > MOST {
                break;
            }
            payload = longer;
            end += 1;
        }
        e.later(
            "SELECT pg_notify($1, $2)",
            &[
                super::super::changes::CHANNEL.into(),
                payload.as_str().into(),
            ],
        )
        .await?;
        start = end;
    }
    Ok(())
}

/// Rows of N values, one after the other (computed before any statement runs: the row
/// closures never live across a wait).
fn flat<'a, const N: usize>(rows: impl Iterator<Item = [Value<'a>; N]>) -> (usize, Vec<Value<'a>>) {
    let expected = rows.size_hint().0;
    flat_sized(rows, expected)
}

/// `flat` for rows whose number the iterator cannot tell.
fn flat_sized<'a, const N: usize>(
    rows: impl Iterator<Item = [Value<'a>; N]>,
    expected: usize,
) -> (usize, Vec<Value<'a>>) {
    let mut values = Vec::with_capacity(expected * N);
    for row in rows {
        values.extend(row);
    }
    (N, values)
}

/// Inserts rows of `table` (each `width` values in column order) with multi-row statements
/// of the sizes the executor takes.
async fn insert<E: Exec>(
    e: &mut E,
    sql: &mut Statements,
    table: &'static Table,
    (width, values): (usize, Vec<Value<'_>>),
) -> Result<()> {
    if let Some(copied) = e.copy(table, width, &values) {
        return copied;
    }
    let mut done = 0;
    for size in rows::statement_sizes(values.len() / width.max(1), e.max_rows()) {
        let text = sql.insert(table, size, e.backend());
        e.later(text, &values[done * width..(done + size) * width])
            .await?;
        done += size;
    }
    Ok(())
}

/// The tickets already made or changed by any of these keys.
async fn known_keys<E: Exec>(e: &mut E, keys: &[&str]) -> Result<HashMap<String, TicketId>> {
    let mut found = HashMap::new();
    let mut done = 0;
    for size in rows::statement_sizes(keys.len(), e.max_rows()) {
        let list: Vec<String> = (1..=size).map(|i| format!("${i}")).collect();
        let text = format!(
            "SELECT key, ticket_id FROM intake_keys WHERE key IN ({})",
            list.join(", ")
        );
        let args: Vec<Value<'_>> = keys[done..done + size]
            .iter()
            .map(|k| (*k).into())
            .collect();
        done += size;
        for row in e.rows(&text, &args, &[Kind::Text, Kind::Int]).await? {
            if let (Some(k), Some(id)) = (row[0].text(), row[1].int()) {
                found.insert(k.to_string(), TicketId(id));
            }
        }
    }
    Ok(found)
}

/// A table whose ids the writer hands out itself, so the rows that point at a new row can be
/// written in the same batch.
#[derive(Clone, Copy)]
enum Numbered {
    Tickets,
    Events,
}

/// `tickets` new ticket ids and `events` new event ids, in order. SQLite's write transaction
/// is exclusive, so they are the largest + 1, …: the very numbers SQLite itself gives rows
/// inserted in order without one (a rowid table's new row gets the largest rowid + 1), so the
/// rows are inserted without it and SQLite appends them instead of seeking each one
/// (`numbered_by_sqlite`); PostgreSQL takes both from the tables' sequences in one query and
/// they are inserted as they are.
async fn next_ids<E: Exec>(
    e: &mut E,
    tickets: usize,
    events: usize,
) -> Result<(Vec<i64>, Vec<i64>)> {
    if tickets == 0 && events == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    match e.backend() {
        Backend::Sqlite => {
            let mut out = Vec::with_capacity(2);
            for (max, n) in [
                ("SELECT MAX(id) FROM tickets", tickets),
                ("SELECT MAX(id) FROM ticket_events", events),
            ] {
                let max = if n == 0 {
                    0
                } else {
                    e.rows(max, &[], &[Kind::Int])
                        .await?
                        .first()
                        .and_then(|r| r[0].int())
                        .unwrap_or(0)
                };
                out.push((1..=n as i64).map(|i| max + i).collect::<Vec<i64>>());
            }
            let events = out.pop().unwrap_or_default();
            Ok((out.pop().unwrap_or_default(), events))
        }
        Backend::Postgres => {
            let found = e
                .rows(
                    "SELECT CAST(1 AS BIGINT), nextval('tickets_id_seq') FROM generate_series(1, $1) \
                     UNION ALL \
                     SELECT CAST(2 AS BIGINT), nextval('ticket_events_id_seq') FROM generate_series(1, $2)",
                    &[(tickets as i64).into(), (events as i64).into()],
                    &[Kind::Int, Kind::Int],
                )
                .await?;
            let (mut t, mut ev) = (Vec::with_capacity(tickets), Vec::with_capacity(events));
            for row in found {
                match (row[0].int(), row[1].int()) {
                    (Some(1), Some(id)) => t.push(id),
                    (Some(2), Some(id)) => ev.push(id),
                    _ => {}
                }
            }
            // A sequence hands out increasing numbers within one session.
            t.sort_unstable();
            ev.sort_unstable();
            if t.len() != tickets || ev.len() != events {
                return Err(StorageError::Corrupt(
                    "the sequences handed out too few ids".into(),
                ));
            }
            Ok((t, ev))
        }
    }
}

/// PostgreSQL: claims `tickets.1` ids from `tickets.0` on and `events.1` from `events.0` on,
/// with a statement the executor holds and sends with the rows: `soporte_claim_ids` fails
/// the transaction, before it moves the sequences, if they are not where the writer expects
/// them or one of `keys` is stored already.
async fn claim_ids<E: Exec>(
    e: &mut E,
    tickets: (i64, usize),
    events: (i64, usize),
    keys: &[&str],
) -> Result<(Vec<i64>, Vec<i64>)> {
    if e.backend() != Backend::Postgres {
        return Err(StorageError::Corrupt(
            "only PostgreSQL claims ids without asking".into(),
        ));
    }
    let ((ticket, tickets), (event, events)) =
        ((tickets.0, tickets.1 as i64), (events.0, events.1 as i64));
    let keys = serde_json::to_string(keys).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    e.later(
        "SELECT soporte_claim_ids($1, $2, $3, $4, CAST($5 AS JSONB))",
        &[
            ticket.into(),
            tickets.into(),
            event.into(),
            events.into(),
            keys.as_str().into(),
        ],
    )
    .await?;
    Ok((
        (ticket..ticket + tickets).collect(),
        (event..event + events).collect(),
    ))
}

/// Whether a held message is still unreleased, locking its row until the commit.
async fn unreleased<E: Exec>(e: &mut E, id: i64) -> Result<bool> {
    let text = match e.backend() {
        Backend::Sqlite => "SELECT ticket_id FROM mail_quarantine WHERE id = $1",
        Backend::Postgres => "SELECT ticket_id FROM mail_quarantine WHERE id = $1 FOR UPDATE",
    };
    let found = e.rows(text, &[id.into()], &[Kind::Int]).await?;
    Ok(found.first().is_some_and(|r| r[0].int().is_none()))
}

/// The id to bind for a row whose id `next_ids` handed out: none on SQLite (it numbers the
/// row itself, the same way, faster).
fn bound_id(backend: Backend, id: i64) -> Option<i64> {
    (backend == Backend::Postgres).then_some(id)
}

/// After rows numbered by SQLite: the table's largest id must be the last one handed out.
async fn numbered_by_sqlite<E: Exec>(e: &mut E, table: Numbered, last: Option<i64>) -> Result<()> {
    let (Backend::Sqlite, Some(last)) = (e.backend(), last) else {
        return Ok(());
    };
    let max = match table {
        Numbered::Tickets => "SELECT MAX(id) FROM tickets",
        Numbered::Events => "SELECT MAX(id) FROM ticket_events",
    };
    let found = e
        .rows(max, &[], &[Kind::Int])
        .await?
        .first()
        .and_then(|r| r[0].int());
    if found == Some(last) {
        Ok(())
    } else {
        Err(StorageError::Corrupt(format!(
            "rows were numbered up to {found:?}, not {last}"
        )))
    }
}

async fn insert_tickets<E: Exec>(
    e: &mut E,
    sql: &mut Statements,
    written: &[(i64, &TicketWrite)],
) -> Result<()> {
    let backend = e.backend();
    let mut values = Vec::new();
    let mut last = None;
    for (id, w) in written.iter().filter(|(_, w)| w.is_new()) {
        values.push(rows::ticket_row(&w.row, bound_id(backend, *id))?);
        last = Some(*id);
    }
    let values = flat(values.into_iter());
    insert(e, sql, &rows::TICKETS, values).await?;
    numbered_by_sqlite(e, Numbered::Tickets, last).await
}

/// New tickets' search documents and what changes add to theirs.
async fn write_search<E: Exec>(
    e: &mut E,
    sql: &mut Statements,
    written: &[(i64, &TicketWrite)],
) -> Result<()> {
    type Rows<'r, 'w> = Vec<&'r (i64, &'w TicketWrite)>;
    let (new, changed): (Rows<'_, '_>, Rows<'_, '_>) =
        written.iter().partition(|(_, w)| w.is_new());
    let docs: Vec<(i64, String)> = new
        .iter()
        .map(|(id, w)| (*id, w.search.join(" ")))
        .collect();
    match e.backend() {
        Backend::Sqlite => {
            // One row a statement: FTS5 flushes its pending terms at every statement's
            // savepoint, so a multi-row statement would only make more, smaller segments.
            for (id, doc) in &docs {
                e.later(
                    "INSERT INTO ticket_search (rowid, doc) VALUES ($1, $2)",
                    &[(*id).into(), doc.as_str().into()],
                )
                .await?;
            }
        }
        Backend::Postgres => {
            let values = flat(
                docs.iter()
                    .map(|(id, doc)| [Value::from(*id), doc.as_str().into()]),
            );
            insert(e, sql, &rows::SEARCH, values).await?;
        }
    }
    let append = match e.backend() {
        Backend::Sqlite => "UPDATE ticket_search SET doc = doc || ' ' || $1 WHERE rowid = $2",
        Backend::Postgres => {
            "UPDATE ticket_search SET doc = doc || to_tsvector('simple', $1) WHERE ticket_id = $2"
        }
    };
    for (id, w) in changed {
        for text in &w.search {
            e.later(append, &[text.as_str().into(), (*id).into()])
                .await?;
        }
    }
    Ok(())
}

/// PostgreSQL: the words of the batch's new documents (read back as stored: the new tickets'
/// ids are one run) and of the texts added to others, into the search vocabulary
/// (`ticket_search_words`, migration 0250) in the same transaction. In word order, so two
/// instances adding the same new words never wait for each other in a circle; after the
/// batch's rows (the bulk executor copies them all before its first statement).
async fn add_words<E: Exec>(e: &mut E, written: &[(i64, &TicketWrite)]) -> Result<()> {
    if e.backend() != Backend::Postgres {
        return Ok(());
    }
    let mut appended = String::new();
    for (_, w) in written.iter().filter(|(_, w)| !w.is_new()) {
        for text in &w.search {
            appended.push(' ');
            appended.push_str(text);
        }
    }
    let run = written
        .iter()
        .filter(|(_, w)| w.is_new())
        .map(|(id, _)| *id)
        .fold(None, |r: Option<(i64, i64)>, id| match r {
            Some((lo, hi)) => Some((lo.min(id), hi.max(id))),
            None => Some((id, id)),
        });
    // The batch's new documents (one run of ids) as stored, and the texts added to others,
    // parsed as the documents' update parses them; one statement, so its words are locked
    // in one order (most batches are new tickets only: intake, one part).
    let mut parts = Vec::new();
    let mut args: Vec<Value<'_>> = Vec::new();
    if let Some((first, last)) = run {
        args.extend([Value::from(first), Value::from(last)]);
        parts.push(
            "SELECT unnest(tsvector_to_array(doc)) AS w FROM ticket_search \
             WHERE ticket_id >= $1 AND ticket_id <= $2"
                .to_string(),
        );
    }
    if !appended.is_empty() {
        args.push(appended.as_str().into());
        parts.push(format!(
            "SELECT unnest(tsvector_to_array(to_tsvector('simple', ${}))) AS w",
            args.len()
        ));
    }
    if parts.is_empty() {
        return Ok(());
    }
    e.later(
        &format!(
            "INSERT INTO ticket_search_words (word) SELECT DISTINCT w COLLATE \"C\" \
             FROM ({}) x ORDER BY 1 ON CONFLICT DO NOTHING",
            parts.join(" UNION ")
        ),
        &args,
    )
    .await
}

/// Keeps `ticket_counts` (tickets per status and technician) in step with the rows: the
/// batch's changes summed, one statement per status and technician.
async fn add_counts<'a, E: Exec>(
    e: &mut E,
    deltas: impl Iterator<Item = &'a CountDelta>,
) -> Result<()> {
    let mut sums: Vec<((Status, Option<UserId>), i64)> = Vec::new();
    for d in deltas {
        let key = (d.status, d.assignee);
        match sums.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += d.n,
            None => sums.push((key, d.n)),
        }
    }
    // In one order, so that two writers of these rows lock them in the same order (two
    // instances, or a bulk load's lanes) instead of deadlocking.
    sums.sort_by_key(|((status, assignee), _)| (status.as_str(), assignee.map(|u| u.0)));
    for ((status, assignee), n) in sums.into_iter().filter(|(_, n)| *n != 0) {
        e.later(
            "INSERT INTO ticket_counts (status, assignee_id, n) VALUES ($1, $2, $3) \
             ON CONFLICT (status, assignee_id) DO UPDATE SET n = ticket_counts.n + excluded.n",
            &[
                status.as_str().into(),
                assignee.map(|u| u.0).unwrap_or(0).into(),
                n.into(),
            ],
        )
        .await?;
    }
    Ok(())
}

/// Applies the batch's daily-figure deltas: arrivals summed per day into the count in
/// place; each other row read (locked on PostgreSQL; SQLite writers are serialised), changed
/// by its deltas in order, and written back.
async fn add_figures<'a, E: Exec>(
    e: &mut E,
    deltas: impl Iterator<Item = &'a Delta>,
) -> Result<()> {
    let mut arrivals: Vec<(i64, i64)> = Vec::new();
    let mut groups: Vec<((i64, Figure), Vec<&Delta>)> = Vec::new();
    let mut index: HashMap<(i64, Figure), usize> = HashMap::new();
    for d in deltas {
        if d.figure == Figure::Created {
            match arrivals.iter_mut().find(|(day, _)| *day == d.day) {
                Some((_, n)) => *n += d.sign,
                None => arrivals.push((d.day, d.sign)),
            }
            continue;
        }
        let key = (d.day, d.figure);
        let at = *index.entry(key).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(d);
    }
    // Locked in one order (see `add_counts`).
    arrivals.sort_unstable();
    groups.sort_by_key(|((day, figure), _)| (*day, figure.code()));
    for (day, n) in arrivals {
        e.later(
            "INSERT INTO daily_figures (day, figure, n, people) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (day, figure) DO UPDATE SET n = daily_figures.n + excluded.n",
            &[
                day.into(),
                Figure::Created.code().into(),
                n.into(),
                Value::Blob(Some(&[])),
            ],
        )
        .await?;
    }
    let read = match e.backend() {
        Backend::Sqlite => "SELECT n, people FROM daily_figures WHERE day = $1 AND figure = $2",
        Backend::Postgres => {
            "SELECT n, people FROM daily_figures WHERE day = $1 AND figure = $2 FOR UPDATE"
        }
    };
    for ((day, figure), deltas) in groups {
        // The row exists before it is locked, so two writers of a new day's row queue on it
        // instead of both finding nothing and the second overwriting the first.
        e.later(
            "INSERT INTO daily_figures (day, figure, n, people) VALUES ($1, $2, 0, $3) \
             ON CONFLICT (day, figure) DO NOTHING",
            &[day.into(), figure.code().into(), Value::Blob(Some(&[]))],
        )
        .await?;
        let found = e
            .rows(
                read,
                &[day.into(), figure.code().into()],
                &[Kind::Int, Kind::Blob],
            )
            .await?;
        let Some(stored) = found.first() else {
            return Err(StorageError::Corrupt(format!(
                "daily figures of day {day} vanished"
            )));
        };
        let mut row = DailyRow {
            day,
            figure,
            n: stored[0].int().unwrap_or(0),
            people: unpack(figure, stored[1].blob())?,
        };
        for d in deltas {
            if !row.apply(d) {
                tracing::warn!(figure = ?d.figure, day = d.day, "a duration to take back was not in its daily row");
            }
        }
        let packed = pack(figure, &row.people)?;
        e.later(
            "UPDATE daily_figures SET n = $1, people = $2 WHERE day = $3 AND figure = $4",
            &[
                row.n.into(),
                Value::Blob(Some(&packed)),
                day.into(),
                figure.code().into(),
            ],
        )
        .await?;
    }
    Ok(())
}

/// Applies the batch's met/missed clock deltas to `sla_figures`, one row per Lima day and
/// target: each row read (locked on PostgreSQL), changed by its deltas, written back — the
/// way `add_figures` keeps `daily_figures`.
async fn add_sla_figures<'a, E: Exec>(
    e: &mut E,
    deltas: impl Iterator<Item = &'a SlaDelta>,
) -> Result<()> {
    let mut groups: Vec<((i64, Target), Vec<&SlaDelta>)> = Vec::new();
    let mut index: HashMap<(i64, Target), usize> = HashMap::new();
    for d in deltas {
        let key = (d.decided.day, d.decided.target);
        let at = *index.entry(key).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(d);
    }
    groups.sort_by_key(|((day, target), _)| (*day, target.code()));
    let read = match e.backend() {
        Backend::Sqlite => "SELECT n, entries FROM sla_figures WHERE day = $1 AND target = $2",
        Backend::Postgres => {
            "SELECT n, entries FROM sla_figures WHERE day = $1 AND target = $2 FOR UPDATE"
        }
    };
    for ((day, target), deltas) in groups {
        e.later(
            "INSERT INTO sla_figures (day, target, n, entries) VALUES ($1, $2, 0, $3) \
             ON CONFLICT (day, target) DO NOTHING",
            &[day.into(), target.code().into(), Value::Blob(Some(&[]))],
        )
        .await?;
        let found = e
            .rows(
                read,
                &[day.into(), target.code().into()],
                &[Kind::Int, Kind::Blob],
            )
            .await?;
        let Some(stored) = found.first() else {
            return Err(StorageError::Corrupt(format!(
                "sla figures of day {day} vanished"
            )));
        };
        let mut row = SlaDay {
            day,
            target,
            entries: sla_unpack(stored[1].blob())?,
        };
        let mut n = stored[0].int().unwrap_or(0);
        for d in deltas {
            row.apply(d);
            n += d.sign;
        }
        let packed = sla_pack(&row.entries)?;
        e.later(
            "UPDATE sla_figures SET n = $1, entries = $2 WHERE day = $3 AND target = $4",
            &[
                n.into(),
                Value::Blob(Some(&packed)),
                day.into(),
                target.code().into(),
            ],
        )
        .await?;
    }
    Ok(())
}

/// The rows that hang off the written tickets: timeline events, intake keys, notices,
/// attachments, links, and the release of a held message.
async fn insert_dependents<E: Exec>(
    e: &mut E,
    sql: &mut Statements,
    written: &[(i64, &TicketWrite)],
    event_ids: &[i64],
) -> Result<()> {
    let each = || written.iter().map(|(id, w)| (*id, *w));
    // Each write's events take the next ids in order; its first is the one its files go with.
    let mut first_event = Vec::with_capacity(written.len());
    let mut next = 0;
    for (_, w) in written {
        first_event.push(
            event_ids
                .get(next)
                .copied()
                .filter(|_| !w.events.is_empty()),
        );
        next += w.events.len();
    }
    if next != event_ids.len() {
        return Err(StorageError::Corrupt(
            "events and their ids differ in number".into(),
        ));
    }
    let events = flat_sized(
        each()
            .flat_map(|(id, w)| w.events.iter().map(move |ev| (id, ev)))
            .zip(event_ids)
            .map(|((ticket, ev), id)| rows::event_row(bound_id(e.backend(), *id), ticket, ev)),
        event_ids.len(),
    );
    insert(e, sql, &rows::EVENTS, events).await?;
    numbered_by_sqlite(e, Numbered::Events, event_ids.last().copied()).await?;
    let keys =
        flat(each().filter_map(|(id, w)| w.key.as_deref().map(|k| rows::key_row(k, id, w.at))));
    insert(e, sql, &rows::INTAKE_KEYS, keys).await?;
    let texts = each()
        .zip(&first_event)
        .flat_map(|((id, w), event)| {
            w.notices
                .iter()
                .map(move |n| rows::notice_texts(id, *event, n))
        })
        .collect::<Result<Vec<_>>>()?;
    let notices = flat(
        each()
            .flat_map(|(id, w)| w.notices.iter().map(move |n| (id, w.at, n)))
            .zip(&texts)
            .map(|((id, at, n), t)| rows::notice_row(id, n, t, at)),
    );
    insert(e, sql, &rows::OUTBOX, notices).await?;
    let attachments = flat(each().zip(&first_event).flat_map(|((id, w), event)| {
        w.attachments
            .iter()
            .map(move |a| rows::attachment_row(id, a, w.at, *event))
    }));
    insert(e, sql, &rows::ATTACHMENTS, attachments).await?;
    let links = flat(each().flat_map(|(id, w)| {
        w.status_links
            .iter()
            .map(move |h| rows::status_link_row(h, id, w.at))
    }));
    insert(e, sql, &rows::STATUS_LINKS, links).await?;
    let links = flat(each().filter_map(|(id, w)| {
        w.link
            .as_ref()
            .map(|(to, reason)| rows::link_row(id, *to, reason, w.at))
    }));
    insert(e, sql, &rows::LINKS, links).await?;
    let releases: Vec<[Value<'_>; 4]> = each()
        .filter_map(|(id, w)| match &w.guard {
            Some(Guard::Quarantine { id: held, by }) => Some([
                id.into(),
                by.map(|u| u.0).into(),
                w.at.into(),
                (*held).into(),
            ]),
            _ => None,
        })
        .collect();
    for release in releases {
        e.later(
            "UPDATE mail_quarantine SET ticket_id = $1, released_by = $2, released_at = $3 \
             WHERE id = $4",
            &release,
        )
        .await?;
    }
    Ok(())
}

/// The status now of the stored tickets repeated keys answer with.
async fn statuses<E: Exec>(e: &mut E, ids: &[i64]) -> Result<HashMap<i64, Status>> {
    let mut out = HashMap::new();
    for id in ids {
        let found = e
            .rows(
                "SELECT status FROM tickets WHERE id = $1",
                &[(*id).into()],
                &[Kind::Text],
            )
            .await?;
        if let Some(status) = found
            .first()
            .and_then(|r| r[0].text())
            .and_then(Status::parse)
        {
            out.insert(*id, status);
        }
    }
    Ok(out)
}

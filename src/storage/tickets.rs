//! Reading tickets: one through the actor's scope, a page of a list (keyset, full-text
//! search), a timeline, the ticket an intake key made. Every write goes through
//! `storage::write` (the one writer).

use super::{Backend, Conn, Result, StorageError};
use crate::domain::access::TicketScope;
use crate::domain::classification::Priority;
use crate::domain::ids::{TicketId, UserId};
use crate::domain::queue::{ListCursor, Sort};
use crate::domain::sla::{DueFilter, SlaRow, StoredClock};
use crate::domain::ticket::{Channel, Status, Ticket, TicketFilter};
use crate::domain::timeline::{Event, EventKind};
use sqlx::Row;
use sqlx::any::AnyRow;

pub(crate) const SELECT: &str = "SELECT t.id, t.channel, t.status, t.version, t.subject, t.body, t.requester, t.assignee_id, \
     u.name AS assignee_name, COALESCE(u.active, 0) AS assignee_active, t.created_at, t.updated_at, \
     t.first_assigned_at, t.first_response_at, t.closed_at, t.closed_by, t.resolution, \
     t.last_event_at, t.last_event_kind, t.queued_since, t.requester_name, t.waiting_since, \
     t.rating, t.rating_comment, \
     t.priority, t.category_id, c.name AS category_name, \
     t.assignment_target, t.assignment_due_at, t.assignment_secs, \
     t.response_target, t.response_due_at, t.response_secs, \
     t.resolution_target, t.resolution_due_at, t.resolution_secs, \
     t.sla_due_at, t.sla_warn_at, t.sla_breach_at, t.sla_notify_at, t.sla_revision \
     FROM tickets t LEFT JOIN users u ON u.id = t.assignee_id \
     LEFT JOIN categories c ON c.id = t.category_id";

/// A ticket row's priority, category and clocks.
fn sla_from_row(row: &AnyRow) -> Result<SlaRow> {
    let priority: String = row.try_get("priority")?;
    let clock = |prefix: &str| -> Result<StoredClock> {
        Ok(StoredClock {
            target_minutes: row.try_get(format!("{prefix}_target").as_str())?,
            due_at: row.try_get(format!("{prefix}_due_at").as_str())?,
            business_secs: row.try_get(format!("{prefix}_secs").as_str())?,
        })
    };
    Ok(SlaRow {
        priority: Priority::parse(&priority)
            .ok_or_else(|| StorageError::Corrupt(format!("priority {priority}")))?,
        category: row.try_get("category_id")?,
        clocks: [
            clock("assignment")?,
            clock("response")?,
            clock("resolution")?,
        ],
        due_at: row.try_get("sla_due_at")?,
        warn_at: row.try_get("sla_warn_at")?,
        breach_at: row.try_get("sla_breach_at")?,
        notify_at: row.try_get("sla_notify_at")?,
        revision: row.try_get("sla_revision")?,
    })
}

pub(crate) fn ticket_from_row(row: &AnyRow) -> Result<Ticket> {
    let status: String = row.try_get("status")?;
    let channel: String = row.try_get("channel")?;
    Ok(Ticket {
        id: TicketId(row.try_get("id")?),
        channel: Channel::parse(&channel)
            .ok_or_else(|| StorageError::Corrupt(format!("channel {channel}")))?,
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
        requester_name: row.try_get("requester_name")?,
        waiting_since: row.try_get("waiting_since")?,
        rating: row.try_get("rating")?,
        rating_comment: row.try_get("rating_comment")?,
        sla: sla_from_row(row)?,
        category_name: row.try_get("category_name")?,
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

/// The priority's rank as SQL (the same expression as the `tickets_priority_rank` index).
pub(crate) const PRIORITY_RANK: &str =
    "(CASE t.priority WHEN 'critica' THEN 4 WHEN 'alta' THEN 3 WHEN 'media' THEN 2 ELSE 1 END)";

/// A page of tickets in the filter's order, by keyset: no OFFSET, no COUNT. Each order reads
/// an index range from the cursor on (`id`; `last_event_at, id`; the priority rank and id;
/// `sla_due_at, id`), so a page costs the same on the first page and the thousandth. A text
/// search walks the full-text index from the newest match and stops after one page.
///
/// With `filter.cursor.before` the page is the one before the cursor's row (read in the
/// reverse order, then turned around), so the pager goes both ways.
///
/// Ordered by due (`Sort::Due`): first the tickets with a running clock, the next due first
/// (keyset on due and id, read from the partial index on `sla_due_at`), then the rest,
/// newest first. A cursor without a key sits among the rest.
pub async fn list(
    conn: &mut Conn,
    backend: Backend,
    statistics: &SearchStatistics,
    scope: TicketScope,
    filter: &TicketFilter,
    limit: i64,
) -> Result<Vec<Ticket>> {
    let cursor = filter.cursor;
    let before = cursor.is_some_and(|c| c.before);
    if filter.sort != Sort::Due {
        let mut rows = list_part(
            conn,
            backend,
            statistics,
            scope,
            filter,
            Part::Plain,
            before,
            cursor,
            limit,
        )
        .await?;
        if before {
            rows.reverse();
        }
        return Ok(rows);
    }
    // The due order in two parts: the tickets with a due, then the rest.
    let in_due_part = cursor.is_none_or(|c| c.key.is_some());
    if !before {
        let mut out = Vec::new();
        if in_due_part {
            out = list_part(
                conn,
                backend,
                statistics,
                scope,
                filter,
                Part::Due,
                false,
                cursor,
                limit,
            )
            .await?;
            // The due filters only ever match tickets with a running clock.
            if out.len() as i64 >= limit || filter.sla.is_some() {
                return Ok(out);
            }
        }
        if filter.sla.is_some() {
            return Ok(out);
        }
        let rest_cursor = if in_due_part { None } else { cursor };
        let more = list_part(
            conn,
            backend,
            statistics,
            scope,
            filter,
            Part::Undue,
            false,
            rest_cursor,
            limit - out.len() as i64,
        )
        .await?;
        out.extend(more);
        return Ok(out);
    }
    // Backwards: from the cursor towards the start, then turned around.
    let mut out = Vec::new();
    if !in_due_part {
        out = list_part(
            conn,
            backend,
            statistics,
            scope,
            filter,
            Part::Undue,
            true,
            cursor,
            limit,
        )
        .await?;
    }
    if (out.len() as i64) < limit {
        let due_cursor = if in_due_part { cursor } else { None };
        let more = list_part(
            conn,
            backend,
            statistics,
            scope,
            filter,
            Part::Due,
            true,
            due_cursor,
            limit - out.len() as i64,
        )
        .await?;
        out.extend(more);
    }
    out.reverse();
    Ok(out)
}

/// Which part of a list one query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Everything, in the filter's (non-due) order.
    Plain,
    /// Tickets with a running clock, the next due first.
    Due,
    /// The others, newest first.
    Undue,
}

/// The order of one part: its key expression (none: the id alone) and whether it descends.
fn part_order(sort: Sort, part: Part) -> (Option<&'static str>, bool) {
    match (part, sort) {
        (Part::Due, _) => (Some("t.sla_due_at"), false),
        (Part::Undue, _) => (None, true),
        (Part::Plain, Sort::Newest | Sort::Due) => (None, true),
        (Part::Plain, Sort::Oldest) => (None, false),
        (Part::Plain, Sort::Activity) => (Some("t.last_event_at"), true),
        (Part::Plain, Sort::Priority) => (Some(PRIORITY_RANK), true),
    }
}

/// The newest ids a text search checks one by one first. On PostgreSQL, a search whose words
/// are common (`Walk::Rows`) then looks at `WIDER` times as many each time, until a page is
/// full or every ticket was looked at.
const FIRST_WINDOW: i64 = 2_048;
const WIDER: i64 = 16;

/// How many ticket numbers share one of the search index's number-range lexemes on
/// PostgreSQL (`~` and the id shifted right by this many bits, migration 0240). The
/// migration's index expression and `SEARCH_DOC` must say the same.
const RANGE_BITS: u32 = 14;

/// PostgreSQL's indexed search document: the stored document and its number-range lexeme.
/// Written exactly as the index's expression (migration 0240), so the planner uses the index.
/// A read of a window's ranges matches it twice, the words' query and the ranges' query as
/// two conditions (`… @@ words AND … @@ ranges`), never as one query (`words && ranges`): in
/// one query GIN walks every entry of the rarest lexemes until the query cannot match, and
/// each range (16,384 tickets) is rarer than a common word, so it walked every ticket of the
/// window; as two conditions each is a scan key of its own and the words' matches lead, the
/// ranges checked by skipping ahead to them (seen by hand with `EXPLAIN ANALYZE`).
const SEARCH_DOC: &str = "(doc || array_to_tsvector(ARRAY['~' || (ticket_id >> 14)::text]))";

/// Most number ranges one index read of rare words names; a wider window reads every match
/// instead.
const MOST_RANGES: i64 = 64;

/// Most number ranges a walk of common words found scarce among the newest tickets
/// (`scarcer_than_counted`, `scarce_walk`) looks through for the next with a match before it
/// reads every match below at once (16.8 million ids); also the most a read names.
const MOST_RANGES_SCARCE: i64 = 1_024;

/// How much wider each index read's window is than the one before. Smaller than `WIDER`: each
/// match in a window costs a row read, and a window that reaches past where a word's
/// matches begin reads every match below that point.
const INDEX_WIDER: i64 = 4;

/// A rare word's expected matches in the whole index up to which they are all read at once
/// (each match costs a row read; above this, a window of the newest ranges first).
const ALL_MATCHES_MOST: f64 = 2_000.0;

/// How a PostgreSQL search goes on after its first window did not fill the page.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Walk {
    /// Check the newest tickets' documents one by one (the words are common: the page fills
    /// soon).
    Rows,
    /// Read the search index: the matches among the newest `span` ids first (`None`: every
    /// match at once).
    Index { span: Option<i64> },
}

/// What PostgreSQL's statistics say of a search's terms: each term's share of documents
/// (`None`: not among the most common words, so under `rarest`), the share of the least
/// common word listed, and how many documents there are.
#[derive(Debug, Clone, PartialEq)]
struct TermShares {
    terms: Vec<Option<f64>>,
    rarest: f64,
    documents: f64,
}

impl TermShares {
    /// One term's share (an unlisted one: the least common listed word's).
    fn share(&self, t: &Option<f64>) -> f64 {
        t.unwrap_or(self.rarest).clamp(0.0, 1.0)
    }

    /// The share of documents with every term, as if the terms were independent.
    fn together(&self) -> f64 {
        self.terms.iter().map(|t| self.share(t)).product()
    }

    /// The index entries an index read collects: every document of each term.
    fn entries(&self) -> f64 {
        self.terms
            .iter()
            .map(|t| self.share(t) * self.documents)
            .sum()
    }
}

/// Chooses between walking the newest documents and reading the index, by what each would
/// read to find `need` matches: a walk checks about `need / share` documents (the terms'
/// shares multiplied, as if independent); the index is counted as collecting every entry
/// of each term (all the words it begins), about twice the cost of a checked row (measured
/// with `EXPLAIN ANALYZE` at a million tickets, when a term was read as a prefix: ~0.26 µs a
/// checked row, ~0.45 µs an index entry). Since the terms are read as exact words
/// (`words_spelled_out`) GIN skips some of those entries, so this overstates the index's
/// cost: a common word is still walked first, which fills its page soonest. Without
/// statistics (a database never analyzed) the index is read.
fn choose_walk(shares: Option<&TermShares>, need: i64) -> Walk {
    let Some(s) = shares else {
        return Walk::Index { span: None };
    };
    let together = s.together();
    let entries = s.entries();
    let walked = if together > 0.0 {
        (need as f64 / together).min(s.documents)
    } else {
        s.documents
    };
    if walked <= 2.0 * entries {
        return Walk::Rows;
    }
    let matches = together * s.documents;
    if matches <= ALL_MATCHES_MOST || together <= 0.0 {
        return Walk::Index { span: None };
    }
    // A window expected to hold four pages' matches.
    Walk::Index {
        span: Some(((4 * need) as f64 / together).ceil() as i64),
    }
}

/// Whether a window of the newest `looked` ids, checked row by row, found fewer matches
/// (`found`, under a page of `need`) than the statistics' shares would put there by far: at
/// least twice a page expected. The newest tickets are then unlike those the statistics
/// counted (a burst of them without the words since PostgreSQL last analyzed the table), and
/// walking on would check every one of them (at a million tickets, 300,000 new ones without
/// a common word took ~600 ms).
fn scarcer_than_counted(s: &TermShares, looked: i64, found: usize, need: i64) -> bool {
    let expected = s.together() * looked as f64;
    (found as i64) < need && expected >= 2.0 * need as f64
}

/// Bytes of `work_mem` an index read of common words is given per expected document with
/// them, and the most it is given (kB). PostgreSQL collects every entry of a term (a prefix)
/// into a bitmap of the documents' pages before it returns one; past `work_mem` (4 MB by
/// default) the bitmap keeps whole pages instead, and every document of those pages in the
/// window's ranges is then read and checked: at ten million tickets a common word's bitmap
/// went so, and 32 MB kept it exact (`EXPLAIN (ANALYZE, BUFFERS)`, by hand).
const SCARCE_MEMORY_PER_DOCUMENT: f64 = 96.0;
const SCARCE_MEMORY_MOST_KB: i64 = 128 * 1024;
const SCARCE_MEMORY_LEAST_KB: i64 = 4 * 1024;

/// The `work_mem` (kB) for index reads of the terms: enough for an exact bitmap of every
/// document the statistics put them in, within bounds.
fn scarce_memory(s: &TermShares) -> i64 {
    ((s.entries() * SCARCE_MEMORY_PER_DOCUMENT / 1024.0).ceil() as i64)
        .clamp(SCARCE_MEMORY_LEAST_KB, SCARCE_MEMORY_MOST_KB)
}

/// How long the search documents' statistics are kept before they are read again. They
/// change when PostgreSQL analyzes the table (autovacuum, `ANALYZE`), not with each ticket.
const STATISTICS_KEPT: std::time::Duration = std::time::Duration::from_secs(60);

/// PostgreSQL's statistics of the search documents as a search reads them: the most common
/// words (sorted, with their shares), the share of the least common of them and how many
/// documents the table had when last counted.
#[derive(Debug, Clone, PartialEq)]
struct CommonWords {
    words: Vec<(String, f64)>,
    rarest: f64,
    documents: f64,
}

impl CommonWords {
    /// The shares of `terms`: each the sum of the listed words it begins (`None`: none).
    fn shares(&self, terms: &[String]) -> TermShares {
        let terms = terms
            .iter()
            .map(|t| {
                let from = self.words.partition_point(|(w, _)| w.as_str() < t.as_str());
                let listed: Vec<f64> = self.words[from..]
                    .iter()
                    .take_while(|(w, _)| w.starts_with(t.as_str()))
                    .map(|(_, f)| *f)
                    .collect();
                (!listed.is_empty()).then(|| listed.iter().sum())
            })
            .collect();
        TermShares {
            terms,
            rarest: self.rarest,
            documents: self.documents,
        }
    }
}

/// The search documents' statistics of one database, read at most once a `STATISTICS_KEPT`
/// (reading them costs a few milliseconds, most of a rare word's search): one per `Store`.
#[derive(Debug, Default)]
pub struct SearchStatistics {
    kept: std::sync::Mutex<Option<(std::time::Instant, Option<std::sync::Arc<CommonWords>>)>>,
}

impl SearchStatistics {
    /// The shares of `terms`, from statistics read within `STATISTICS_KEPT` (`None`: the
    /// table has none yet).
    async fn shares(&self, conn: &mut Conn, terms: &[String]) -> Result<Option<TermShares>> {
        let fresh = {
            let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            kept.as_ref()
                .filter(|(at, _)| at.elapsed() < STATISTICS_KEPT)
                .map(|(_, words)| words.clone())
        };
        let words = match fresh {
            Some(words) => words,
            None => {
                let words = common_words(conn).await?.map(std::sync::Arc::new);
                *self.kept.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((std::time::Instant::now(), words.clone()));
                words
            }
        };
        Ok(words.map(|w| w.shares(terms)))
    }
}

/// Reads PostgreSQL's statistics of the search documents (`None`: none yet). In `pg_stats`,
/// `most_common_elem_freqs` holds one share per listed word, then the least and the most of
/// them and the share of empty documents.
async fn common_words(conn: &mut Conn) -> Result<Option<CommonWords>> {
    let rows = sqlx::query(
        "SELECT u.e AS word, CAST(u.f AS DOUBLE PRECISION) AS share, \
         CAST(s.most_common_elem_freqs[array_length(s.most_common_elems, 1) + 1] AS DOUBLE PRECISION) AS rarest, \
         CAST(c.reltuples AS DOUBLE PRECISION) AS documents \
         FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace \
         JOIN pg_stats s ON s.schemaname = ns.nspname AND s.tablename = 'ticket_search' AND s.attname = 'doc' \
         CROSS JOIN LATERAL unnest(CAST(CAST(s.most_common_elems AS TEXT) AS TEXT[]), s.most_common_elem_freqs) AS u(e, f) \
         WHERE c.oid = CAST('ticket_search' AS regclass) AND u.e IS NOT NULL",
    )
    .fetch_all(conn)
    .await?;
    let mut words = Vec::with_capacity(rows.len());
    let (mut rarest, mut documents) = (0.0, 0.0);
    for row in &rows {
        words.push((row.try_get::<String, _>("word")?, row.try_get("share")?));
        rarest = row.try_get("rarest")?;
        documents = row.try_get("documents")?;
    }
    // No common words listed, or a table never counted (`reltuples` -1).
    if words.is_empty() || documents <= 0.0 {
        return Ok(None);
    }
    words.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Some(CommonWords {
        words,
        rarest,
        documents,
    }))
}

/// One part of a list. A newest-first text search looks at the newest tickets first. On
/// SQLite the newest 2,048 documents are checked row by row (a cheap way to fill the page of
/// a common word), and if they do not fill the page FTS5's index is walked newest first, each
/// term spelled out as the words it begins (`spelled_out`). On PostgreSQL the same 2,048 are
/// checked row by row; then the terms' shares in the statistics decide (`choose_walk`):
/// common words go on being checked row by row in windows `WIDER` times wider each time (a
/// page of them is near); rare ones are read from the search index, the newest number ranges
/// first (`Look::Index`), instead of checking every newer ticket without them.
#[allow(clippy::too_many_arguments)]
async fn list_part(
    conn: &mut Conn,
    backend: Backend,
    statistics: &SearchStatistics,
    scope: TicketScope,
    filter: &TicketFilter,
    part: Part,
    backward: bool,
    cursor: Option<ListCursor>,
    limit: i64,
) -> Result<Vec<Ticket>> {
    let (key, descending) = part_order(filter.sort, part);
    let desc = descending != backward;
    let windowed = !filter.terms.is_empty() && key.is_none() && desc;
    if !windowed {
        return list_window(
            conn,
            backend,
            scope,
            filter,
            part,
            backward,
            cursor,
            limit,
            Look::Plain,
        )
        .await;
    }
    let top = match cursor {
        Some(c) => c.id,
        None => {
            let max: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM tickets")
                .fetch_one(&mut *conn)
                .await?;
            max.unwrap_or(0) + 1
        }
    };
    let mut span = FIRST_WINDOW;
    let mut walk = Walk::Rows;
    let mut shares: Option<TermShares> = None;
    loop {
        let lower = top.saturating_sub(span);
        let bounded = lower > 0;
        let look = match walk {
            Walk::Rows => Look::Rows(bounded.then_some(lower)),
            Walk::Index { .. } => Look::Index {
                above: bounded.then_some(lower),
                below: top,
                memory: None,
            },
        };
        let rows = list_window(
            conn, backend, scope, filter, part, backward, cursor, limit, look,
        )
        .await?;
        if rows.len() as i64 >= limit || !bounded {
            return Ok(rows);
        }
        let looked = span;
        match backend {
            // SQLite: after the first window, FTS5's own walk.
            Backend::Sqlite => span = i64::MAX,
            Backend::Postgres if span == FIRST_WINDOW => {
                shares = statistics.shares(conn, &filter.terms).await?;
                walk = choose_walk(shares.as_ref(), limit);
                span = match walk {
                    Walk::Rows => span.saturating_mul(WIDER),
                    Walk::Index { span: None } => i64::MAX,
                    Walk::Index { span: Some(s) } => s.max(span.saturating_mul(INDEX_WIDER)),
                };
            }
            Backend::Postgres => {
                span = span.saturating_mul(match walk {
                    Walk::Rows => WIDER,
                    Walk::Index { .. } => INDEX_WIDER,
                })
            }
        }
        // Words the statistics call common, found far less often than they say among the
        // newest tickets (those came after the statistics: a burst of tickets without the
        // words): the rest is read from the index, range by range (`scarce_walk`). Only
        // where the words alone narrow the list: another filter or a technician's own
        // tickets find fewer for their own reason, and a walk stops at the page.
        if walk == Walk::Rows
            && scope == TicketScope::All
            && part == Part::Plain
            && filter.words_only()
            && let Some(s) = shares
                .as_ref()
                .filter(|s| scarcer_than_counted(s, looked, rows.len(), limit))
        {
            let memory = scarce_memory(s);
            let lower = top - looked;
            return scarce_walk(conn, filter, backward, rows, lower, limit, memory).await;
        }
        // An index read naming too many number ranges reads every match instead.
        if matches!(walk, Walk::Index { .. }) && span >> RANGE_BITS > MOST_RANGES {
            span = i64::MAX;
        }
    }
}

/// The rest of a newest-first search of common words found scarce among the newest tickets
/// (`found`: every match above `lower`, fewer than a page): the newest number range below
/// that still holds a match is looked for (`newest_range_with`: each range checked in the
/// index alone, newest first, stopping at the first with one), then only that range's
/// matches are read, and so on until the page is full. A wider window read at once would
/// also read every match of the ranges below the first that has one: thousands of row
/// reads once it reached tickets from before the burst (a common word is in one ticket of
/// twenty there), where one range holds a page or more. Past `MOST_RANGES_SCARCE` ranges
/// without a match, every match below is read at once. Each read gets `memory` as its
/// `work_mem` (`scarce_memory`). Newest first always (`backward`: the oldest-first list's
/// page before a cursor, read newest first and turned around by the caller).
async fn scarce_walk(
    conn: &mut Conn,
    filter: &TicketFilter,
    backward: bool,
    mut found: Vec<Ticket>,
    lower: i64,
    limit: i64,
    memory: i64,
) -> Result<Vec<Ticket>> {
    let Some(spelled) = words_spelled_out(conn, &filter.terms).await? else {
        return Ok(found);
    };
    // The reads below take the tickets under `below`.
    let mut below = lower.saturating_add(1);
    while (found.len() as i64) < limit && below > 1 {
        let from = (below - 1) >> RANGE_BITS;
        let lowest = from.saturating_sub(MOST_RANGES_SCARCE - 1).max(0);
        let (above, top) = match newest_range_with(conn, &spelled, from, lowest, below).await? {
            // The range's matches (the ranges above it, under `below`, hold none).
            Some(r) => (
                Some((r << RANGE_BITS) - 1),
                below.min((r + 1) << RANGE_BITS),
            ),
            None if lowest == 0 => break,
            // None that near: every match below, at once.
            None => (None, below),
        };
        let cursor = ListCursor {
            id: top,
            key: None,
            before: false,
        };
        let rows = list_window(
            conn,
            Backend::Postgres,
            TicketScope::All,
            filter,
            Part::Plain,
            backward,
            Some(cursor),
            limit - found.len() as i64,
            Look::Index {
                above,
                below: top,
                memory: Some(memory),
            },
        )
        .await?;
        found.extend(rows);
        below = match above {
            Some(a) => a + 1,
            None => break,
        };
    }
    found.truncate(limit.max(0) as usize);
    Ok(found)
}

/// The search index's conditions for spelled-out terms, each a scan key of its own (see
/// `SEARCH_DOC`).
fn words_conditions(spelled: &[Spelled], args: &mut Args) -> String {
    spelled
        .iter()
        .map(|t| match t {
            Spelled::Words(q) => {
                format!("{SEARCH_DOC} @@ CAST({} AS tsquery)", args.text(q.clone()))
            }
            Spelled::Prefix(t) => format!(
                "{SEARCH_DOC} @@ to_tsquery('simple', {})",
                args.text(format!("{t}:*"))
            ),
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// PostgreSQL: the newest number range from `from` down to `lowest` with a ticket under
/// `below` that has every term, each range checked in the search index alone, newest first,
/// stopping at the first that has one (`None`: none has). A range without the terms costs
/// the index's entries of that range, no row read.
async fn newest_range_with(
    conn: &mut Conn,
    spelled: &[Spelled],
    from: i64,
    lowest: i64,
    below: i64,
) -> Result<Option<i64>> {
    let mut args = Args::default();
    let words = words_conditions(spelled, &mut args);
    let (from, lowest, below) = (args.int(from), args.int(lowest), args.int(below));
    let sql = format!(
        "SELECT r FROM generate_series(CAST({from} AS BIGINT), CAST({lowest} AS BIGINT), -1) AS r \
         WHERE EXISTS (SELECT 1 FROM ticket_search WHERE {words} \
         AND {SEARCH_DOC} @@ CAST('''~' || r || '''' AS tsquery) AND ticket_id < {below}) LIMIT 1"
    );
    let row = args.bind(sqlx::query(&sql)).fetch_optional(conn).await?;
    Ok(match row {
        Some(r) => Some(r.try_get::<i64, _>(0)?),
        None => None,
    })
}

/// Which tickets one query of a list part looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// All of them, as the planner sees fit.
    Plain,
    /// A search's window, each document checked: the tickets above the id (`None`: all).
    Rows(Option<i64>),
    /// PostgreSQL: a search read from the index, its matches in number order: the tickets
    /// above the id (`None`: all) and below `below`, through the number-range lexemes of the
    /// ranges between; with `memory` (kB), the read's `work_mem` (`scarce_memory`).
    Index {
        above: Option<i64>,
        below: i64,
        memory: Option<i64>,
    },
}

/// Most longer words a search term stands for in `spelled_out` before it is left a prefix.
const MOST_LONGER_WORDS: i64 = 64;

/// SQLite: the FTS5 query for a newest-first walk of the index, each term spelled out as the
/// word itself or one of the indexed words it begins (`("impresora" OR "impresoras")`), all
/// of them required. FTS5 walks a few exact words' lists newest first and stops at the page,
/// where a prefix query (`"impresora"*`) first merges every list of every segment: at ten
/// million tickets, after intake had left a few segments, ~200 ms for a common word against
/// well under one for its words spelled out (PERFORMANCE.md, "Search-index merges of 16 and
/// terms spelled out").
/// The longer words come from the index's vocabulary (`ticket_search_terms`, migration
/// 0231), read from just past the term itself, so the term's own long list is not walked.
/// A term that begins more than `MOST_LONGER_WORDS` words (one or two letters, a number's
/// first digits) stays a prefix query.
async fn spelled_out(conn: &mut Conn, terms: &[String]) -> Result<String> {
    let quoted = |w: &str| format!("\"{}\"", w.replace('"', "\"\""));
    let mut all = Vec::with_capacity(terms.len());
    for t in terms {
        // Every longer word that begins with `t` sorts between `t` followed by U+0001 (no
        // indexed word holds a control character) and `t` followed by the last code point.
        // From `t` itself (`term > t`), the vocabulary would first walk `t`'s own list:
        // tens of milliseconds for a common word at ten million tickets.
        let longer: Vec<String> = sqlx::query_scalar(
            "SELECT term FROM ticket_search_terms WHERE term >= $1 AND term < $2 LIMIT $3",
        )
        .bind(format!("{t}\u{1}"))
        .bind(format!("{t}\u{10FFFF}"))
        .bind(MOST_LONGER_WORDS + 1)
        .fetch_all(&mut *conn)
        .await?;
        if longer.len() as i64 > MOST_LONGER_WORDS {
            all.push(format!("{}*", quoted(t)));
        } else {
            let words: Vec<String> = std::iter::once(quoted(t))
                .chain(longer.iter().map(|w| quoted(w)))
                .collect();
            all.push(format!("({})", words.join(" OR ")));
        }
    }
    Ok(all.join(" AND "))
}

/// A PostgreSQL search term as an index read asks for it.
#[derive(Debug, Clone, PartialEq)]
enum Spelled {
    /// The indexed words it begins, as a `tsquery` of quoted words (`'impresora' |
    /// 'impresoras'`).
    Words(String),
    /// The term itself, left a prefix (it begins more than `MOST_LONGER_WORDS` words).
    Prefix(String),
}

/// PostgreSQL: each term spelled out as the indexed words it begins, from the search
/// vocabulary (`ticket_search_words`, migration 0250, kept in the documents' transactions),
/// for an index read (`Look::Index`). GIN skips through an exact word's list to the window's
/// number ranges, where a prefix query (`impresora:*`) first collects every entry of every
/// word it begins: at ten million tickets, half a million for a common word, in every window
/// (PERFORMANCE.md). `None` when a term begins no indexed word (nothing matches).
async fn words_spelled_out(conn: &mut Conn, terms: &[String]) -> Result<Option<Vec<Spelled>>> {
    // A word inside a `tsquery`'s quotes: quotes doubled, backslashes escaped.
    let quoted = |w: &str| format!("'{}'", w.replace('\\', "\\\\").replace('\'', "''"));
    let mut out = Vec::with_capacity(terms.len());
    for t in terms {
        // The words a term begins are one range in byte order (the column's "C" collation):
        // from the term itself to the term followed by the last code point.
        let words: Vec<String> = sqlx::query_scalar(
            "SELECT word FROM ticket_search_words WHERE word >= $1 AND word < $2 \
             ORDER BY word LIMIT $3",
        )
        .bind(t)
        .bind(format!("{t}\u{10FFFF}"))
        .bind(MOST_LONGER_WORDS + 1)
        .fetch_all(&mut *conn)
        .await?;
        if words.is_empty() {
            return Ok(None);
        }
        out.push(if words.len() as i64 > MOST_LONGER_WORDS {
            Spelled::Prefix(t.clone())
        } else {
            Spelled::Words(
                words
                    .iter()
                    .map(|w| quoted(w))
                    .collect::<Vec<_>>()
                    .join(" | "),
            )
        });
    }
    Ok(Some(out))
}

/// One query of a list part, looking at the tickets `look` says.
#[allow(clippy::too_many_arguments)]
async fn list_window(
    conn: &mut Conn,
    backend: Backend,
    scope: TicketScope,
    filter: &TicketFilter,
    part: Part,
    backward: bool,
    cursor: Option<ListCursor>,
    limit: i64,
    look: Look,
) -> Result<Vec<Ticket>> {
    let (key, descending) = part_order(filter.sort, part);
    // Reading backwards flips the direction of the walk.
    let desc = descending != backward;
    let above = match look {
        Look::Plain => None,
        Look::Rows(a) | Look::Index { above: a, .. } => a,
    };
    let mut args = Args::default();
    // PostgreSQL's read of the search index, ahead of the query (`Look::Index`).
    let mut ahead = String::new();
    // The search comes first: on SQLite its parameter goes into the FROM clause.
    let mut from = "FROM tickets t".to_string();
    let dir = if desc { "DESC" } else { "ASC" };
    let mut order = match key {
        Some(k) => format!("{k} {dir}, t.id {dir}"),
        None => format!("t.id {dir}"),
    };
    let mut sql_where = String::new();
    // The newest-first walk of the FTS5 index: only when the list is by id, descending.
    let newest_search = backend == Backend::Sqlite && key.is_none() && desc;
    // SQLite's «Vencidas» (or due-soon) view in number order, for everyone's tickets and
    // nothing else: a walk of the running clocks by number with the due in the index
    // (`tickets_running_id`, SQLite only), which reads only the page's rows. SQLite is told
    // so: a file that never had `ANALYZE` has no statistics for its planner, which then walks
    // every ticket, and with them it chose this index anyway. Any other filter (a
    // technician's, a status, dates) needs the row of each ticket walked, and is left to the
    // planner.
    if backend == Backend::Sqlite && key.is_none() && filter.only_due() && scope == TicketScope::All
    {
        from = "FROM tickets t INDEXED BY tickets_running_id".to_string();
    }
    // PostgreSQL's: the tickets the due filter finds are read first, by number, from the
    // partial index on the due time (the few running clocks past or near their due), and
    // each looked up by its number until the page is full (a lateral join). Left to itself,
    // the planner walked the newest tickets by number and filtered them: it assumes the
    // overdue ones spread evenly, and after a burst of new tickets, none overdue, it walked
    // every one of them (`EXPLAIN ANALYZE` by hand).
    let running = backend == Backend::Postgres
        && key.is_none()
        && filter.only_due()
        && filter.terms.is_empty()
        && scope == TicketScope::All;
    // The instant the due filter compares with, one parameter for the query's both places.
    let now = filter.sla.map(|_| args.int(filter.now));
    if let (true, Some(sla), Some(now)) = (running, filter.sla, &now) {
        let due = due_condition(sla, "", now);
        ahead = format!(
            "WITH d AS MATERIALIZED (SELECT id FROM tickets WHERE sla_due_at IS NOT NULL AND {due}) "
        );
        from = format!(
            "FROM (SELECT id AS rid FROM d ORDER BY id {dir}) s \
             CROSS JOIN LATERAL (SELECT * FROM tickets x WHERE x.id = s.rid OFFSET 0) t"
        );
        order = format!("s.rid {dir}");
    }
    if !filter.terms.is_empty() {
        if newest_search {
            // In a window, each document is checked as it is (a word starting with each
            // term: the documents are folded words between single spaces, the terms folded
            // alphanumerics, so LIKE needs no escape); otherwise FTS5's index is walked.
            let matching = match above {
                Some(lower) => {
                    let mut checks = format!("rowid > {}", args.int(lower));
                    for t in &filter.terms {
                        checks +=
                            &format!(" AND (' ' || doc) LIKE {}", args.text(format!("% {t}%")));
                    }
                    checks
                }
                None => {
                    let query = spelled_out(conn, &filter.terms).await?;
                    format!("ticket_search MATCH {}", args.text(query))
                }
            };
            let after = match cursor {
                Some(c) => format!(" AND rowid < {}", args.int(c.id)),
                None => String::new(),
            };
            from = format!(
                "FROM (SELECT rowid AS rid FROM ticket_search WHERE {matching}{after} \
                 ORDER BY rowid DESC) s JOIN tickets t ON t.id = s.rid"
            );
            order = "s.rid DESC".to_string();
        } else {
            match backend {
                Backend::Sqlite => {
                    let query = filter
                        .terms
                        .iter()
                        .map(|t| format!("\"{t}\"*"))
                        .collect::<Vec<_>>()
                        .join(" ");
                    sql_where += &format!(
                        " AND t.id IN (SELECT rowid FROM ticket_search WHERE ticket_search MATCH {})",
                        args.text(query)
                    );
                }
                Backend::Postgres => {
                    let query = filter
                        .terms
                        .iter()
                        .map(|t| format!("{t}:*"))
                        .collect::<Vec<_>>()
                        .join(" & ");
                    match look {
                        // The index's matches (of the window's number ranges), read apart
                        // and put in number order; each ticket then looked up by its number
                        // (a lateral join, so the planner cannot walk every ticket instead),
                        // until the page is full.
                        Look::Index { below, .. } => {
                            let first = above.map(|lower| (lower + 1) >> RANGE_BITS);
                            let last = below.saturating_sub(1) >> RANGE_BITS;
                            let ranges = match first {
                                Some(first) if last - first <= MOST_RANGES_SCARCE + 1 => {
                                    sql_where +=
                                        &format!(" AND s.rid >= {}", args.int(first << RANGE_BITS));
                                    let names = (first..=last.max(first))
                                        .map(|r| format!("'~{r}'"))
                                        .collect::<Vec<_>>()
                                        .join(" | ");
                                    // A scan key of its own, not `&&` inside the words'
                                    // query (see `SEARCH_DOC`).
                                    format!(
                                        " AND {SEARCH_DOC} @@ CAST({} AS tsquery)",
                                        args.text(names)
                                    )
                                }
                                // No window, or one wider than a read names: every match.
                                _ => {
                                    if let Some(lower) = above {
                                        sql_where += &format!(" AND s.rid > {}", args.int(lower));
                                    }
                                    String::new()
                                }
                            };
                            // Each term as the indexed words it begins, a scan key of
                            // its own; a term that begins none matches nothing.
                            let Some(spelled) = words_spelled_out(conn, &filter.terms).await?
                            else {
                                return Ok(Vec::new());
                            };
                            let words = words_conditions(&spelled, &mut args);
                            ahead = format!(
                                "WITH m AS MATERIALIZED (SELECT ticket_id FROM ticket_search \
                                 WHERE {words}{ranges}) "
                            );
                            from = "FROM (SELECT ticket_id AS rid FROM m ORDER BY ticket_id DESC) s \
                                    CROSS JOIN LATERAL (SELECT * FROM tickets x WHERE x.id = s.rid OFFSET 0) t"
                                .to_string();
                            order = "s.rid DESC".to_string();
                        }
                        // A window's documents checked one by one: the stored document, which
                        // no index holds, so the planner walks the window's ids.
                        Look::Rows(Some(lower)) => {
                            let lower = args.int(lower);
                            sql_where += &format!(
                                " AND t.id > {lower} AND t.id IN (SELECT ticket_id FROM ticket_search \
                                 WHERE doc @@ to_tsquery('simple', {}) AND ticket_id > {lower})",
                                args.text(query)
                            );
                        }
                        Look::Rows(None) | Look::Plain => {
                            sql_where += &format!(
                                " AND t.id IN (SELECT ticket_id FROM ticket_search WHERE {SEARCH_DOC} @@ to_tsquery('simple', {}))",
                                args.text(query)
                            );
                        }
                    }
                }
            }
        }
    }
    let Some(scope_sql) = scope_clause(scope, &mut args) else {
        return Ok(Vec::new());
    };
    sql_where += &scope_sql;
    if !filter.statuses.is_empty() {
        let list = filter
            .statuses
            .iter()
            .map(|s| args.text(s.as_str().to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        sql_where += &format!(" AND t.status IN ({list})");
    }
    if let Some(requester) = &filter.requester {
        sql_where += &format!(" AND t.requester = {}", args.text(requester.clone()));
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
    if let (Some(sla), Some(now)) = (filter.sla, &now) {
        sql_where += &format!(" AND {}", due_condition(sla, "t.", now));
    }
    match part {
        Part::Due => sql_where += " AND t.sla_due_at IS NOT NULL",
        Part::Undue => sql_where += " AND t.sla_due_at IS NULL",
        Part::Plain => {}
    }
    if let Some(c) = cursor {
        let cmp = if desc { "<" } else { ">" };
        match (key, c.key) {
            // A row comparison: both planners start the walk of the order's index at the
            // cursor. (Written as `k < v OR (k = v AND id < i)`, PostgreSQL only filtered
            // with it and walked every row before the cursor, so a page of `?sort=actividad`
            // cost more the deeper it was.)
            (Some(k), Some(v)) => {
                let (v, i) = (args.int(v), args.int(c.id));
                sql_where += &format!(" AND ({k}, t.id) {cmp} ({v}, {i})");
            }
            // The newest-first search walk has its cursor inside the FROM clause already.
            (None, _) if newest_search && !filter.terms.is_empty() => {}
            (None, _)
                if running || (matches!(look, Look::Index { .. }) && !filter.terms.is_empty()) =>
            {
                sql_where += &format!(" AND s.rid {cmp} {}", args.int(c.id))
            }
            (None, _) => sql_where += &format!(" AND t.id {cmp} {}", args.int(c.id)),
            // A keyed part without a key in the cursor: the cursor is past this part.
            (Some(_), None) => {}
        }
    }
    let lim = args.int(limit);
    // PostgreSQL, a list without a search: the page's numbers (and order keys) are chosen
    // first, from the conditions alone, and only the page's rows are read whole. Left as one
    // query, every ticket the conditions find was read with all its columns (and the body's
    // first characters) before the first of the order were kept (`EXPLAIN ANALYZE` by
    // hand, the dispatcher's queue at ten million demo tickets: thousands unassigned), where
    // the numbers alone come from the (status, id) index (PERFORMANCE.md).
    if backend == Backend::Postgres && filter.terms.is_empty() && !running {
        let (pick, outer) = match key {
            Some(k) => (
                format!("t.id AS rid, {k} AS rkey"),
                format!("s.rkey {dir}, s.rid {dir}"),
            ),
            None => ("t.id AS rid".to_string(), format!("s.rid {dir}")),
        };
        from = format!(
            "FROM (SELECT {pick} FROM tickets t WHERE 1 = 1{sql_where} \
             ORDER BY {order} LIMIT {lim}) s \
             CROSS JOIN LATERAL (SELECT * FROM tickets x WHERE x.id = s.rid OFFSET 0) t"
        );
        sql_where = String::new();
        order = outer;
    }
    let select = SELECT
        .replace("t.body,", "SUBSTR(t.body, 1, 200) AS body,")
        .replace("FROM tickets t", &from);
    let sql = format!("{ahead}{select} WHERE 1 = 1{sql_where} ORDER BY {order} LIMIT {lim}");
    // A window is planned with its bounds in view (not as a cached generic plan).
    let query = args.bind(sqlx::query(&sql).persistent(above.is_none()));
    let rows = match look {
        // The read's own `work_mem`, for its transaction only (`set_config`'s `true`).
        Look::Index {
            memory: Some(kb), ..
        } if backend == Backend::Postgres => {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::query("SELECT set_config('work_mem', $1, true)")
                .bind(format!("{kb}kB"))
                .execute(&mut *tx)
                .await?;
            let rows = query.fetch_all(&mut *tx).await?;
            tx.commit().await?;
            rows
        }
        _ => query.fetch_all(conn).await?,
    };
    rows.iter().map(ticket_from_row).collect()
}

/// The due filter's condition on the running clock of the ticket `t` (`t.`, or empty for
/// the table itself) at the instant `now` (a placeholder): the list's query and
/// PostgreSQL's read of the due-time index ahead of it say the same.
fn due_condition(sla: DueFilter, t: &str, now: &str) -> String {
    match sla {
        DueFilter::Overdue => format!("{t}sla_due_at < {now}"),
        DueFilter::DueSoon => format!("{t}sla_warn_at <= {now} AND {t}sla_due_at >= {now}"),
    }
}

/// How many tickets in the scope have a running clock past its due at `now`: a range of the
/// partial index on `sla_due_at` (with the technician first for a technician's scope).
pub async fn count_overdue(
    conn: &mut Conn,
    scope: TicketScope,
    technician: Option<UserId>,
    now: i64,
) -> Result<i64> {
    let row = due_times(
        conn,
        scope,
        technician,
        now,
        "CAST(COUNT(*) AS BIGINT)",
        "<",
    )
    .await?;
    Ok(match row {
        Some(r) => r.try_get(0)?,
        None => 0,
    })
}

/// The earliest due time at or after `now` among the tickets `count_overdue` would count
/// with these arguments (`None`: no running clock ahead): until then their overdue count
/// cannot grow by time alone.
pub async fn next_due(
    conn: &mut Conn,
    scope: TicketScope,
    technician: Option<UserId>,
    now: i64,
) -> Result<Option<i64>> {
    let row = due_times(conn, scope, technician, now, "MIN(t.sla_due_at)", ">=").await?;
    Ok(match row {
        Some(r) => r.try_get(0)?,
        None => None,
    })
}

/// `select` over the running clocks of the scope (and the technician's) whose due compares
/// with `now` as `cmp` says, from the partial indexes on `sla_due_at`; `None` for a scope
/// that sees nothing.
async fn due_times(
    conn: &mut Conn,
    scope: TicketScope,
    technician: Option<UserId>,
    now: i64,
    select: &str,
    cmp: &str,
) -> Result<Option<AnyRow>> {
    let mut args = Args::default();
    let now = args.int(now);
    let Some(scope_sql) = scope_clause(scope, &mut args) else {
        return Ok(None);
    };
    let tech = match technician {
        Some(t) => format!(" AND t.assignee_id = {}", args.int(t.0)),
        None => String::new(),
    };
    let sql = format!(
        "SELECT {select} FROM tickets t WHERE t.sla_due_at IS NOT NULL \
         AND t.sla_due_at {cmp} {now}{scope_sql}{tech}"
    );
    Ok(Some(args.bind(sqlx::query(&sql)).fetch_one(conn).await?))
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

/// Open tickets a technician is working on now (to hand back when they are disabled).
pub async fn open_assigned_to(conn: &mut Conn, user: UserId) -> Result<Vec<Ticket>> {
    let sql = format!(
        "{SELECT} WHERE t.assignee_id = $1 AND t.status IN ('asignado', 'en_atencion', 'en_espera') ORDER BY t.id"
    );
    let rows = sqlx::query(&sql).bind(user.0).fetch_all(conn).await?;
    rows.iter().map(ticket_from_row).collect()
}

/// A ticket waiting for its requester since before `before`, and whether they were reminded
/// since the wait began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    pub id: TicketId,
    pub since: i64,
    pub reminded: bool,
}

/// The tickets waiting for their requester since before `before`, longest first.
pub async fn waiting_since_before(
    conn: &mut Conn,
    before: i64,
    limit: i64,
) -> Result<Vec<Waiting>> {
    let rows = sqlx::query(
        "SELECT t.id, t.waiting_since, \
                CAST(CASE WHEN EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id \
                     AND e.kind = 'reminded' AND e.at >= t.waiting_since) THEN 1 ELSE 0 END AS BIGINT) AS reminded \
         FROM tickets t WHERE t.status = 'en_espera' AND t.waiting_since <= $1 \
         ORDER BY t.waiting_since LIMIT $2",
    )
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Waiting {
                id: TicketId(r.try_get("id")?),
                since: r.try_get("waiting_since")?,
                reminded: r.try_get::<i64, _>("reminded")? != 0,
            })
        })
        .collect()
}

/// The oldest unassigned ticket (`nuevo` or `devuelto`) other than `except`: the ticket
/// page's "Siguiente sin asignar".
pub async fn next_unassigned(conn: &mut Conn, except: TicketId) -> Result<Option<TicketId>> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT id FROM tickets WHERE status IN ('nuevo', 'devuelto') AND id <> $1 \
         ORDER BY id LIMIT 1",
    )
    .bind(except.0)
    .fetch_optional(conn)
    .await?
    .map(TicketId))
}

/// How many open tickets a technician holds (what disabling them returns to the queue).
pub async fn open_assigned_count(conn: &mut Conn, user: UserId) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM tickets WHERE assignee_id = $1 \
         AND status IN ('asignado', 'en_atencion', 'en_espera')",
    )
    .bind(user.0)
    .fetch_one(conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(terms: &[Option<f64>], rarest: f64, documents: f64) -> TermShares {
        TermShares {
            terms: terms.to_vec(),
            rarest,
            documents,
        }
    }

    #[test]
    fn a_common_word_is_walked_and_a_rare_one_read_from_the_index() {
        // The demo at a million tickets: "impresora" in 5 % of documents, "quispe42" in
        // 0.07 %, the least common listed word at 0.04 %.
        let n = 1_000_000.0;
        assert_eq!(
            choose_walk(Some(&shares(&[Some(0.05)], 0.0004, n)), 26),
            Walk::Rows
        );
        assert_eq!(
            choose_walk(Some(&shares(&[Some(0.0007)], 0.0004, n)), 26),
            Walk::Index { span: None },
            "711 matches are read at once"
        );
        // Ten times the tickets: the rare word's 7,000 matches are read newest ranges first,
        // a window expected to hold four pages of them.
        assert_eq!(
            choose_walk(Some(&shares(&[Some(0.0007)], 0.0004, 10.0 * n)), 26),
            Walk::Index {
                span: Some(148_572)
            }
        );
        // A word the statistics do not list is rarer than the least common listed word.
        assert_eq!(
            choose_walk(Some(&shares(&[None], 0.0004, n)), 26),
            Walk::Index { span: None }
        );
        // Two common words found together are walked; a common one with a rare one is read
        // from the index (a walk would check every document to find them together).
        assert_eq!(
            choose_walk(Some(&shares(&[Some(0.3), Some(0.2)], 0.0004, n)), 26),
            Walk::Rows
        );
        assert_eq!(
            choose_walk(Some(&shares(&[Some(0.05), None], 0.0004, n)), 26),
            Walk::Index { span: None }
        );
        // A prefix of many words (shares summed past one) is as common as can be.
        assert_eq!(
            choose_walk(Some(&shares(&[Some(3.5)], 0.0004, n)), 26),
            Walk::Rows
        );
        // No statistics yet: the index.
        assert_eq!(choose_walk(None, 26), Walk::Index { span: None });
    }

    #[test]
    fn common_words_missing_from_the_newest_tickets_turn_the_walk_to_the_index() {
        let n = 1_000_000.0;
        // "impresora" in 5 % of documents: 102 expected among the newest 2,048.
        let common = shares(&[Some(0.05)], 0.0004, n);
        assert!(scarcer_than_counted(&common, 2_048, 0, 26));
        assert!(scarcer_than_counted(&common, 2_048, 25, 26));
        // A page found ends the walk anyway; fewer expected than two pages says nothing.
        assert!(!scarcer_than_counted(&common, 2_048, 26, 26));
        assert!(!scarcer_than_counted(&common, 1_000, 3, 26));
        // A 1 % word: 20 expected among 2,048 (walk on), 327 among 32,768 (read the index).
        let rarer = shares(&[Some(0.01)], 0.0004, n);
        assert!(!scarcer_than_counted(&rarer, 2_048, 0, 26));
        assert!(scarcer_than_counted(&rarer, 32_768, 10, 26));
        // Two words together: their shares multiplied.
        let both = shares(&[Some(0.3), Some(0.2)], 0.0004, n);
        assert!(!scarcer_than_counted(&both, 512, 0, 26));
        assert!(scarcer_than_counted(&both, 2_048, 0, 26));
    }

    #[test]
    fn an_index_read_of_common_words_gets_memory_for_their_documents() {
        // "impresora" in 5 % of ten million documents: 500,000 of them, ~47 MB.
        let ten = shares(&[Some(0.05)], 0.0004, 10_000_000.0);
        assert_eq!(scarce_memory(&ten), 46_875);
        // Few documents: the default 4 MB; a word nearly everywhere at ten million: the cap.
        assert_eq!(
            scarce_memory(&shares(&[Some(0.05)], 0.0004, 1_000.0)),
            4_096
        );
        assert_eq!(
            scarce_memory(&shares(&[Some(0.9)], 0.0004, 10_000_000.0)),
            128 * 1024
        );
        // Two terms: both words' documents are collected.
        let both = shares(&[Some(0.05), Some(0.05)], 0.0004, 10_000_000.0);
        assert_eq!(scarce_memory(&both), 2 * 46_875);
    }

    #[test]
    fn a_term_counts_every_listed_word_it_begins() {
        let common = CommonWords {
            words: vec![
                ("impreso".to_string(), 0.002),
                ("impresora".to_string(), 0.05),
                ("impresoras".to_string(), 0.01),
                ("quispe42".to_string(), 0.0007),
            ],
            rarest: 0.0004,
            documents: 1_000_000.0,
        };
        let terms = |t: &[&str]| t.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        let got = common.shares(&terms(&["impres", "impresora", "quispe4", "zz", "a"]));
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-9;
        assert!(close(got.terms[0], 0.062), "{got:?}");
        assert!(close(got.terms[1], 0.06), "{got:?}");
        assert!(close(got.terms[2], 0.0007), "{got:?}");
        assert_eq!(got.terms[3..], [None, None]);
        assert_eq!((got.rarest, got.documents), (0.0004, 1_000_000.0));
    }

    /// PostgreSQL: a rare word read from the index, window by window, through the number
    /// ranges' lexemes of migration 0240 (tickets numbered across ranges by moving the id
    /// sequence on, as another writer would), and the statistics `choose_walk` reads.
    #[tokio::test]
    async fn postgresql_reads_a_word_from_the_index_by_number_ranges() {
        use crate::domain::ticket::{Channel, NewTicket};
        use crate::service::{Services, Settings};
        sqlx::any::install_default_drivers();
        let admin = std::env::var("SOPORTE_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
        let pool = match sqlx::AnyPool::connect(&admin).await {
            Ok(p) => p,
            Err(e) if std::env::var("CI").is_ok() => {
                panic!("PostgreSQL is required in CI but {admin} is unreachable: {e}")
            }
            Err(e) => {
                eprintln!("SKIPPED (PostgreSQL at {admin} unreachable, CI unset): {e}");
                return;
            }
        };
        let mut b = [0u8; 6];
        getrandom::fill(&mut b).unwrap();
        let name = format!(
            "soporte_u_{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await
            .unwrap();
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        let store = crate::storage::Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let services = Services::new(store.clone(), Settings::default());
        let new = |subject: &str| NewTicket {
            channel: Channel::Correo,
            requester: "ana@cliente.pe".to_string(),
            requester_name: None,
            subject: subject.to_string(),
            body: "Mensaje".to_string(),
        };
        // Ids 1-5 (range 0), 40,001-40,006 (range 2), 100,001-100,003 (range 6).
        let mut with_word = Vec::new();
        for (from, count, other) in [
            (None, 5, false),
            (Some(40_000), 5, true),
            (Some(100_000), 3, false),
        ] {
            if let Some(from) = from {
                sqlx::query(&format!("SELECT setval('tickets_id_seq', {from})"))
                    .execute(store.pool())
                    .await
                    .unwrap();
            }
            for _ in 0..count {
                let r = services
                    .receive(&new("Zorzales en el techo"), None)
                    .await
                    .unwrap();
                with_word.push(r.id.0);
            }
            if other {
                services.receive(&new("Otra cosa"), None).await.unwrap();
            }
        }
        with_word.reverse();
        assert_eq!(with_word[0], 100_003);
        assert_eq!(with_word[3], 40_005);
        assert_eq!(with_word[12], 1);

        let mut conn = store.pool().acquire().await.unwrap();
        let filter = TicketFilter {
            terms: vec!["zorzal".to_string()],
            ..TicketFilter::default()
        };
        async fn read(
            conn: &mut Conn,
            filter: &TicketFilter,
            look: Look,
            cursor: Option<i64>,
            limit: i64,
        ) -> Vec<i64> {
            let cursor = cursor.map(|id| ListCursor {
                id,
                key: None,
                before: false,
            });
            let rows = list_window(
                conn,
                Backend::Postgres,
                TicketScope::All,
                filter,
                Part::Plain,
                false,
                cursor,
                limit,
                look,
            )
            .await
            .unwrap();
            rows.iter().map(|t| t.id.0).collect()
        }
        let c = &mut *conn;
        let f = &filter;
        // An index read below the newest ticket's number (as `list_part` passes it).
        let index = |above: Option<i64>| Look::Index {
            above,
            below: 100_004,
            memory: None,
        };
        // Every match, newest first; a page of them; the page after a cursor.
        assert_eq!(read(c, f, index(None), None, 50).await, with_word);
        assert_eq!(read(c, f, index(None), None, 2).await, with_word[..2]);
        assert_eq!(
            read(c, f, index(None), Some(40_004), 50).await,
            with_word[5..]
        );
        // A window: the tickets above the id, through the ranges it spans (a range is read
        // whole, so the window reaches down to its range's first id).
        assert_eq!(
            read(c, f, index(Some(99_999)), None, 50).await,
            with_word[..3]
        );
        assert_eq!(
            read(c, f, index(Some(35_000)), None, 50).await,
            with_word[..8]
        );
        assert_eq!(
            read(c, f, index(Some(40_002)), None, 50).await,
            with_word[..8]
        );
        assert_eq!(
            read(c, f, index(Some(50_000)), None, 50).await,
            with_word[..3]
        );
        assert_eq!(
            read(c, f, index(Some(35_000)), Some(40_004), 50).await,
            with_word[5..8]
        );
        assert_eq!(
            read(c, f, index(Some(35_000)), Some(40_001), 50).await,
            Vec::<i64>::new()
        );
        // With its own `work_mem` (a transaction of its own), the same.
        let with_memory = Look::Index {
            above: Some(35_000),
            below: 100_004,
            memory: Some(65_536),
        };
        let work_mem = || sqlx::query_scalar::<_, String>("SELECT current_setting('work_mem')");
        let before = work_mem().fetch_one(&mut *c).await.unwrap();
        assert_eq!(read(c, f, with_memory, None, 50).await, with_word[..8]);
        // The setting ended with the read's transaction.
        assert_eq!(work_mem().fetch_one(&mut *c).await.unwrap(), before);
        // The rows walk and the plain list find the same.
        assert_eq!(
            read(c, f, Look::Rows(Some(35_000)), None, 50).await,
            with_word[..8]
        );
        assert_eq!(read(c, f, Look::Plain, None, 50).await, with_word);

        // The index read uses the index: `SEARCH_DOC` is the index's expression.
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut *conn)
            .await
            .unwrap();
        let plan: Vec<String> = sqlx::query_scalar(&format!(
            "EXPLAIN SELECT ticket_id FROM ticket_search WHERE {SEARCH_DOC} @@ to_tsquery('simple', 'zorzal:*')"
        ))
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert!(plan.join("\n").contains("ticket_search_doc"), "{plan:?}");
        sqlx::query("RESET enable_seqscan")
            .execute(&mut *conn)
            .await
            .unwrap();

        // The statistics: none before ANALYZE; then the word's share, and none for a word
        // they do not list.
        let terms = ["zorzal".to_string(), "nada".to_string()];
        let statistics = SearchStatistics::default();
        assert_eq!(statistics.shares(&mut conn, &terms).await.unwrap(), None);
        sqlx::query("ANALYZE ticket_search")
            .execute(&mut *conn)
            .await
            .unwrap();
        // Kept for a minute: still none; read again by a store opened afterwards.
        assert_eq!(statistics.shares(&mut conn, &terms).await.unwrap(), None);
        let statistics = SearchStatistics::default();
        let shares = statistics.shares(&mut conn, &terms).await.unwrap().unwrap();
        assert_eq!(shares.documents, 14.0);
        assert!(
            (shares.terms[0].unwrap() - 13.0 / 14.0).abs() < 1e-6,
            "{shares:?}"
        );
        assert_eq!(shares.terms[1], None);
        assert!(shares.rarest > 0.0 && shares.rarest <= 1.0, "{shares:?}");

        // A burst of tickets without the word after the statistics (which say nearly every
        // document has it), numbered far above: the newest window finds none of the ~1,900
        // matches the statistics put there, and the search goes on through the index's
        // number ranges, finding the same tickets, newest first, a page at a time.
        sqlx::query("SELECT setval('tickets_id_seq', 300000)")
            .execute(store.pool())
            .await
            .unwrap();
        for _ in 0..3 {
            services.receive(&new("Otra cosa"), None).await.unwrap();
        }
        let shares = statistics
            .shares(&mut conn, &terms[..1])
            .await
            .unwrap()
            .unwrap();
        assert!(scarcer_than_counted(&shares, FIRST_WINDOW, 0, 2));
        for (limit, want) in [
            (2, &with_word[..2]),
            (5, &with_word[..5]),
            (50, &with_word[..]),
        ] {
            let listed = list(
                &mut conn,
                Backend::Postgres,
                &statistics,
                TicketScope::All,
                &filter,
                limit,
            )
            .await
            .unwrap();
            assert_eq!(listed.iter().map(|t| t.id.0).collect::<Vec<_>>(), want);
        }
        // Oldest first, the page before a cursor (read newest first, then turned around):
        // the five newest below it, in the list's order.
        let before = TicketFilter {
            sort: crate::domain::ticket::Sort::Oldest,
            cursor: Some(ListCursor {
                id: 300_001,
                key: None,
                before: true,
            }),
            ..filter.clone()
        };
        let listed = list(
            &mut conn,
            Backend::Postgres,
            &statistics,
            TicketScope::All,
            &before,
            5,
        )
        .await
        .unwrap();
        let mut want = with_word[..5].to_vec();
        want.reverse();
        assert_eq!(listed.iter().map(|t| t.id.0).collect::<Vec<_>>(), want);
        // The walk's look for the newest range with a match: each range alone, newest first.
        let spelled = words_spelled_out(&mut conn, &filter.terms)
            .await
            .unwrap()
            .unwrap();
        for (from, lowest, below, want) in [
            (18, 0, 300_004, Some(6)),
            (5, 0, 98_304, Some(2)),
            (2, 0, 40_001, Some(0)),
            (2, 0, 40_003, Some(2)),
            (5, 3, 98_304, None),
            (1, 1, 40_001, None),
        ] {
            assert_eq!(
                newest_range_with(&mut conn, &spelled, from, lowest, below)
                    .await
                    .unwrap(),
                want,
                "{from} {lowest} {below}"
            );
        }
        // Narrowed by a status too (every ticket here is new), it walks on and finds the same.
        let new_ones = TicketFilter {
            statuses: vec![crate::domain::ticket::Status::Nuevo],
            ..filter.clone()
        };
        let listed = list(
            &mut conn,
            Backend::Postgres,
            &statistics,
            TicketScope::All,
            &new_ones,
            5,
        )
        .await
        .unwrap();
        assert_eq!(
            listed.iter().map(|t| t.id.0).collect::<Vec<_>>(),
            with_word[..5]
        );

        // The vocabulary (migration 0250) holds the new documents' words, kept by the writer.
        let spelled = words_spelled_out(&mut conn, &["zorzal".to_string()])
            .await
            .unwrap();
        assert_eq!(
            spelled,
            Some(vec![Spelled::Words("'zorzales'".to_string())])
        );
        // A term no document holds matches nothing, without reading the index.
        let nothing = TicketFilter {
            terms: vec!["zorzal".to_string(), "golondrina".to_string()],
            ..TicketFilter::default()
        };
        assert_eq!(
            read(&mut conn, &nothing, index(None), None, 50).await,
            Vec::<i64>::new()
        );
        // A note's words go into the vocabulary with the note: found by an index read of an
        // older ticket's range, with the word it begins (a longer one), and with both terms.
        let (admin, _) = services
            .create_user(
                &crate::service::accounts::ProfileInput {
                    name: "Rosa Admin".to_string(),
                    email: "rosa@miempresa.com".to_string(),
                    phone: String::new(),
                    area: String::new(),
                },
                crate::domain::user::Role::Admin,
                crate::service::accounts::InitialPassword::Chosen(
                    "una clave larga 123".to_string(),
                ),
            )
            .await
            .unwrap();
        services
            .act(
                &admin.actor(),
                crate::domain::ids::TicketId(40_002),
                None,
                crate::service::tickets::Action::Comment {
                    body: "Golondrinas en el cableado".to_string(),
                },
            )
            .await
            .unwrap();
        let spelled = words_spelled_out(&mut conn, &["golondrin".to_string()])
            .await
            .unwrap();
        assert_eq!(
            spelled,
            Some(vec![Spelled::Words("'golondrinas'".to_string())])
        );
        for terms in [vec!["golondrin"], vec!["zorzal", "golondrinas"]] {
            let f = TicketFilter {
                terms: terms.iter().map(|t| t.to_string()).collect(),
                ..TicketFilter::default()
            };
            let look = Look::Index {
                above: Some(35_000),
                below: 300_004,
                memory: None,
            };
            assert_eq!(
                read(&mut conn, &f, look, None, 50).await,
                [40_002],
                "{terms:?}"
            );
        }
        // A word with a quote and a backslash is quoted for the query, and a term that begins
        // more words than a read names stays a prefix.
        sqlx::query(
            "INSERT INTO ticket_search_words (word) SELECT 'zz' || n FROM generate_series(1, 70) n \
             UNION ALL SELECT E'qu''o\\\\te'",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
        let spelled = words_spelled_out(&mut conn, &["zz".to_string(), "qu".to_string()])
            .await
            .unwrap();
        assert_eq!(
            spelled,
            Some(vec![
                Spelled::Prefix("zz".to_string()),
                Spelled::Words("'qu''o\\\\te'".to_string())
            ])
        );

        drop(conn);
        store.pool().close().await;
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&pool)
            .await
            .unwrap();
    }
}

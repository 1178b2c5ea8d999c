//! The sqlx executor: statements on a connection of the pool, inside a write transaction. It
//! serves PostgreSQL, and SQLite when there is no file for a native connection to open (an
//! in-memory database).
//!
//! On PostgreSQL it saves round trips: the statements whose answer the write path does not
//! read (`Exec::later`: the rows of a batch, the counters, the news) are held, inlined as typed
//! literals, and go in one message with the next statement that needs an answer or with the
//! `COMMIT` (the simple query protocol takes several statements in one message). A table's
//! rows, from a few on, go as one statement that reads them from a JSON array
//! (`recordset_insert`), which the server parses and plans far faster than a `VALUES` list
//! of inlined literals. A batch
//! that asks for its keys and ids is three round trips whatever its size: `BEGIN` with the
//! look-up of its keys, its new ids, and every row with the `COMMIT`; one that claims them
//! (`apply::Ids::Claim`) is one: `BEGIN`, the claim, every row and the `COMMIT`.

use super::super::{Backend, Conn, Result, StorageError, Store};
use super::exec::{Cell, Exec, Kind, Table, Value};
use futures_util::TryStreamExt;
use sqlx::Row;
use std::fmt::Write as _;

/// A pooled connection with an open write transaction.
pub struct Pooled<'c> {
    conn: &'c mut Conn,
    backend: Backend,
    /// PostgreSQL: statements not sent yet, inlined, each ending in `;`, and how many.
    held: String,
    held_count: usize,
    /// Whether anything was sent on this transaction yet.
    sent: bool,
    /// Messages sent on this transaction (round trips).
    messages: u64,
}

impl<'c> Pooled<'c> {
    /// On a connection whose transaction the caller began (sqlx's `Transaction`).
    pub fn new(conn: &'c mut Conn, backend: Backend) -> Pooled<'c> {
        Pooled {
            conn,
            backend,
            held: String::new(),
            held_count: 0,
            sent: true,
            messages: 0,
        }
    }

    /// PostgreSQL, on a connection outside any transaction: the `BEGIN` is held, to go with
    /// the first statement sent.
    pub fn beginning(conn: &'c mut Conn) -> Pooled<'c> {
        Pooled {
            conn,
            backend: Backend::Postgres,
            held: "BEGIN;".to_string(),
            held_count: 1,
            sent: false,
            messages: 0,
        }
    }

    /// Whether anything was sent on this transaction yet.
    pub fn sent(&self) -> bool {
        self.sent
    }

    /// How many messages (round trips) went out on this transaction.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    fn holds(&self) -> bool {
        self.backend == Backend::Postgres && self.held_count > 0
    }

    /// Sends what is held followed by `sql` (already inlined) in one message; returns the
    /// rows and the count of changed rows of `sql` alone.
    async fn send_with(&mut self, sql: &str) -> Result<(Vec<sqlx::any::AnyRow>, u64)> {
        let skip = self.held_count;
        let mut text = std::mem::take(&mut self.held);
        self.held_count = 0;
        text.push_str(sql);
        self.sent = true;
        self.messages += 1;
        let mut done = 0usize;
        let mut rows = Vec::new();
        let mut changed = 0;
        for item in send(self.conn, &text).await? {
            match item {
                sqlx::Either::Left(result) => {
                    if done == skip {
                        changed = result.rows_affected();
                    }
                    done += 1;
                }
                sqlx::Either::Right(row) if done == skip => rows.push(row),
                sqlx::Either::Right(_) => {}
            }
        }
        Ok((rows, changed))
    }

    /// Sends what is held and `last` (`COMMIT`, say), and ends the transaction with it.
    pub async fn finish(&mut self, last: &str) -> Result<()> {
        self.send_with(last).await.map(|_| ())
    }
}

/// What each statement of a message gave: its rows, then its outcome. (Boxed: the compiler
/// cannot prove the stream's future `Send` for every lifetime inside the writer's future.)
fn send<'a>(
    conn: &'a mut Conn,
    text: &'a str,
) -> futures_util::future::BoxFuture<
    'a,
    std::result::Result<
        Vec<sqlx::Either<sqlx::any::AnyQueryResult, sqlx::any::AnyRow>>,
        sqlx::Error,
    >,
> {
    Box::pin(async move {
        sqlx::Executor::fetch_many(conn, sqlx::raw_sql(text))
            .try_collect()
            .await
    })
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind<'q>(mut q: AnyQuery<'q>, args: &[Value<'q>]) -> AnyQuery<'q> {
    for v in args {
        q = match *v {
            Value::Int(i) => q.bind(i),
            Value::Text(t) => q.bind(t),
            Value::Blob(b) => q.bind(b),
        };
    }
    q
}

/// The rows a query returned, each column read as `kinds` says.
pub(super) fn cells<R>(rows: &[R], kinds: &[Kind]) -> Result<Vec<Vec<Cell>>>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<Vec<u8>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    rows.iter()
        .map(|row| {
            kinds
                .iter()
                .enumerate()
                .map(|(i, kind)| {
                    Ok(match kind {
                        Kind::Int => Cell::Int(row.try_get(i)?),
                        Kind::Text => Cell::Text(row.try_get(i)?),
                        Kind::Blob => Cell::Blob(row.try_get(i)?),
                    })
                })
                .collect()
        })
        .collect()
}

/// `sql` with each `$n` replaced by its value as a typed PostgreSQL literal — the types the
/// bound values have (`int8`, `text`, `bytea`), so the statement means what it means with
/// parameters. Text goes in an escape string (`E'…'`, the same whatever
/// `standard_conforming_strings` says); a NUL, which no PostgreSQL text may hold, is refused.
pub(crate) fn inline(sql: &str, args: &[Value<'_>]) -> Result<String> {
    let mut out = String::with_capacity(sql.len() + args.len() * 12);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            out.push('$');
            rest = after;
            continue;
        }
        let n: usize = after[..digits]
            .parse()
            .map_err(|_| StorageError::Corrupt(format!("bad placeholder in {sql}")))?;
        let value = n
            .checked_sub(1)
            .and_then(|i| args.get(i))
            .ok_or_else(|| StorageError::Corrupt(format!("no value for ${n} in {sql}")))?;
        literal(&mut out, value)?;
        rest = &after[digits..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `E'…'` holding `text`: an escape string, the same whatever `standard_conforming_strings`
/// says. (The caller has refused NULs.)
fn escaped(out: &mut String, text: &str) {
    out.push_str("E'");
    for c in text.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// Fewest rows that go to PostgreSQL as a JSON recordset (`recordset_insert`) instead of a
/// `VALUES` list: measured with pgbench on a ticket row (39 columns), a `VALUES` list is
/// cheaper up to about five rows, the recordset from there on (a third cheaper at 32 rows).
const RECORDSET_FROM: usize = 6;

/// PostgreSQL: the rows of `table` (each `width` values in column order) as one statement,
/// `INSERT … SELECT … FROM json_to_recordset(<the rows as one JSON array>) AS u(c0 int8, …)`:
/// the server parses and plans one short statement and reads the rows with its JSON parser,
/// where a multi-row `VALUES` of inlined literals costs it a parsed, analysed and folded
/// expression for every value (measured: most of the writer's server time on a large batch;
/// see docs/PERFORMANCE.md). Blobs go as hex texts (`decode`). `None` if a column's values
/// are not all of one type (the write path never builds such rows; those then go as
/// `VALUES`).
pub(crate) fn recordset_insert(
    table: &Table,
    width: usize,
    values: &[Value<'_>],
) -> Option<Result<String>> {
    if width == 0 || width != table.columns.len() || !values.len().is_multiple_of(width) {
        return None;
    }
    let firsts = values.get(..width)?;
    let same =
        |c: usize, v: &Value<'_>| std::mem::discriminant(v) == std::mem::discriminant(&firsts[c]);
    if !values.iter().enumerate().all(|(i, v)| same(i % width, v)) {
        return None;
    }
    let mut json = String::with_capacity(values.len() * 12 + 2);
    json.push('[');
    for (r, row) in values.chunks(width).enumerate() {
        json.push_str(if r == 0 { "{" } else { ",{" });
        for (c, v) in row.iter().enumerate() {
            if c > 0 {
                json.push(',');
            }
            let _ = write!(json, "\"c{c}\":");
            match *v {
                Value::Int(Some(i)) => {
                    let _ = write!(json, "{i}");
                }
                Value::Int(None) | Value::Text(None) | Value::Blob(None) => json.push_str("null"),
                Value::Text(Some(t)) => {
                    if t.contains('\0') {
                        return Some(Err(StorageError::Corrupt(
                            "a text to store holds a NUL character".to_string(),
                        )));
                    }
                    match serde_json::to_string(t) {
                        Ok(quoted) => json.push_str(&quoted),
                        Err(e) => return Some(Err(StorageError::Corrupt(e.to_string()))),
                    }
                }
                Value::Blob(Some(b)) => {
                    json.push('"');
                    for byte in b {
                        let _ = write!(json, "{byte:02x}");
                    }
                    json.push('"');
                }
            }
        }
        json.push('}');
    }
    json.push(']');
    let mut select = Vec::with_capacity(width);
    let mut columns = Vec::with_capacity(width);
    for (c, first) in firsts.iter().enumerate() {
        let (kind, plain) = match first {
            Value::Int(_) => ("int8", format!("c{c}")),
            Value::Text(_) => ("text", format!("c{c}")),
            Value::Blob(_) => ("text", format!("decode(c{c}, 'hex')")),
        };
        columns.push(format!("c{c} {kind}"));
        select.push(match table.pg_wrap.iter().find(|(w, _)| *w == c) {
            Some((_, wrap)) => wrap.replace("{}", &plain),
            None => plain,
        });
    }
    let mut rows = String::with_capacity(json.len() + 16);
    escaped(&mut rows, &json);
    Some(Ok(format!(
        "INSERT INTO {} ({}) SELECT {} FROM json_to_recordset({rows}) AS u({})",
        table.name,
        table.columns.join(", "),
        select.join(", "),
        columns.join(", ")
    )))
}

fn literal(out: &mut String, value: &Value<'_>) -> Result<()> {
    match *value {
        Value::Int(None) => out.push_str("NULL::int8"),
        Value::Text(None) => out.push_str("NULL::text"),
        Value::Blob(None) => out.push_str("NULL::bytea"),
        Value::Int(Some(i)) => {
            let _ = write!(out, "({i})::int8");
        }
        Value::Text(Some(t)) => {
            if t.contains('\0') {
                return Err(StorageError::Corrupt(
                    "a text to store holds a NUL character".to_string(),
                ));
            }
            escaped(out, t);
            out.push_str("::text");
        }
        Value::Blob(Some(b)) => {
            out.push_str("decode('");
            for byte in b {
                let _ = write!(out, "{byte:02x}");
            }
            out.push_str("', 'hex')");
        }
    }
    Ok(())
}

impl Exec for Pooled<'_> {
    fn backend(&self) -> Backend {
        self.backend
    }

    fn max_rows(&self) -> usize {
        // PostgreSQL takes at most 65,535 parameters a statement; a ticket row has ~40.
        256
    }

    async fn run(&mut self, sql: &str, args: &[Value<'_>]) -> Result<u64> {
        if self.holds() {
            let text = inline(sql, args)?;
            return Ok(self.send_with(&text).await?.1);
        }
        self.messages += 1;
        let done = bind(sqlx::query(sql), args)
            .execute(&mut *self.conn)
            .await?;
        Ok(done.rows_affected())
    }

    fn copy(
        &mut self,
        table: &'static Table,
        width: usize,
        values: &[Value<'_>],
    ) -> Option<Result<()>> {
        if self.backend != Backend::Postgres || values.len() < RECORDSET_FROM * width {
            return None;
        }
        Some(recordset_insert(table, width, values)?.map(|text| {
            self.held.push_str(&text);
            self.held.push(';');
            self.held_count += 1;
        }))
    }

    async fn later(&mut self, sql: &str, args: &[Value<'_>]) -> Result<()> {
        if self.backend != Backend::Postgres {
            return self.run(sql, args).await.map(|_| ());
        }
        let text = inline(sql, args)?;
        self.held.push_str(&text);
        self.held.push(';');
        self.held_count += 1;
        Ok(())
    }

    async fn rows(
        &mut self,
        sql: &str,
        args: &[Value<'_>],
        kinds: &[Kind],
    ) -> Result<Vec<Vec<Cell>>> {
        if self.holds() {
            let text = inline(sql, args)?;
            let (rows, _) = self.send_with(&text).await?;
            return cells(&rows, kinds);
        }
        self.messages += 1;
        let rows = bind(sqlx::query(sql), args)
            .fetch_all(&mut *self.conn)
            .await?;
        cells(&rows, kinds)
    }
}

/// A pooled PostgreSQL connection for a transaction begun by hand (`Pooled::beginning`):
/// unless the transaction was settled (committed or rolled back), the connection is closed
/// when dropped, never handed back to the pool with a transaction open (a cancelled write,
/// say).
pub struct Settling {
    conn: sqlx::pool::PoolConnection<sqlx::Any>,
    settled: bool,
}

impl Settling {
    pub async fn acquire(store: &Store) -> Result<Settling> {
        Ok(Settling {
            conn: store.pool().acquire().await?,
            settled: false,
        })
    }

    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    /// After the transaction: `ended` if it committed, or failed before anything was sent;
    /// otherwise it is open or aborted and is rolled back (or the connection not reused).
    pub async fn settle(&mut self, ended: bool) {
        self.settled = ended || send(&mut self.conn, "ROLLBACK").await.is_ok();
    }
}

impl Drop for Settling {
    fn drop(&mut self) {
        if !self.settled {
            self.conn.close_on_drop();
        }
    }
}

/// Moves what the search index's pending list holds into the index proper (PostgreSQL).
pub async fn flush_search_pending(store: &super::super::Store) -> Result<()> {
    sqlx::query("SELECT CAST(gin_clean_pending_list('ticket_search_doc'::regclass) AS BIGINT)")
        .fetch_one(store.pool())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inlined_values_are_typed_and_escaped() {
        let sql = "INSERT INTO t (a, b, c, d, e) VALUES ($1, $2, $3, $4, $5), ($10, $1)";
        let args = [
            Value::Int(Some(-7)),
            Value::Text(Some("it's a \\ back'slash")),
            Value::Blob(Some(&[0, 255, 16])),
            Value::Int(None),
            Value::Text(None),
            Value::Int(None),
            Value::Int(None),
            Value::Int(None),
            Value::Int(None),
            Value::Int(Some(12)),
        ];
        assert_eq!(
            inline(sql, &args).unwrap(),
            "INSERT INTO t (a, b, c, d, e) VALUES ((-7)::int8, E'it''s a \\\\ back''slash'::text, \
             decode('00ff10', 'hex'), NULL::int8, NULL::text), ((12)::int8, (-7)::int8)"
        );
    }

    #[test]
    fn rows_go_as_one_json_recordset() {
        const T: Table = Table {
            name: "t",
            columns: &["a", "b", "c"],
            pg_wrap: &[(1, "to_tsvector('simple', {})")],
        };
        let values = [
            Value::Int(Some(1)),
            Value::Text(Some(r#"it's "x" \ ñ"#)),
            Value::Blob(Some(&[0, 255])),
            Value::Int(None),
            Value::Text(None),
            Value::Blob(None),
        ];
        assert_eq!(
            recordset_insert(&T, 3, &values).unwrap().unwrap(),
            r#"INSERT INTO t (a, b, c) SELECT c0, to_tsvector('simple', c1), decode(c2, 'hex') FROM json_to_recordset(E'[{"c0":1,"c1":"it''s \\"x\\" \\\\ ñ","c2":"00ff"},{"c0":null,"c1":null,"c2":null}]') AS u(c0 int8, c1 text, c2 text)"#
        );
        let mut mixed = values;
        mixed[3] = Value::Text(Some("1"));
        assert!(
            recordset_insert(&T, 3, &mixed).is_none(),
            "a column of two types"
        );
        assert!(
            recordset_insert(&T, 2, &values).is_none(),
            "rows of the wrong width"
        );
        let nul = [
            Value::Int(None),
            Value::Text(Some("a\0")),
            Value::Blob(None),
        ];
        assert!(recordset_insert(&T, 3, &nul).unwrap().is_err());
    }

    /// The statement `recordset_insert` builds, run on a real PostgreSQL server (a temporary
    /// table, gone with the session): every text comes back exactly as it went, whatever
    /// SQL strings, JSON or escape strings read specially in it.
    #[tokio::test]
    async fn a_recordset_comes_back_from_postgresql_as_sent() {
        use sqlx::Connection;
        let url = std::env::var("SOPORTE_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
        let mut conn = match sqlx::PgConnection::connect(&url).await {
            Ok(c) => c,
            Err(e) if std::env::var("CI").is_ok() => {
                panic!("PostgreSQL is required in CI but {url} is unreachable: {e}")
            }
            Err(e) => {
                eprintln!("SKIPPED (PostgreSQL at {url} unreachable, CI unset): {e}");
                return;
            }
        };
        const T: Table = Table {
            name: "recordset_check",
            columns: &["n", "t", "b", "doc"],
            pg_wrap: &[(3, "to_tsvector('simple', {})")],
        };
        let texts = [
            r#"O'Brien dice "hola""#,
            r"C:\ruta\{x,y} \\servidor \u0041 \n",
            "NULL",
            r#"{"a": [1, 2], "b": null}"#,
            r"\x00ff E'\\' $1 ?1 '' ;",
            "ñandú ÁÉÍÓÚ 🙂 «comillas» \u{7f}",
            "línea uno\nlínea dos\r\n\ttabulada",
            "",
        ];
        let blobs: [&[u8]; 2] = [&[0, 1, 92, 39, 34, 255], &[]];
        let mut values = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            values.extend([
                Value::Int(Some(i as i64 * 1_000_000_007 - 3)),
                Value::Text(Some(t)),
                Value::Blob(blobs.get(i).copied()),
                Value::Text(Some(t)),
            ]);
        }
        let insert = recordset_insert(&T, 4, &values).unwrap().unwrap();
        sqlx::raw_sql("CREATE TEMP TABLE recordset_check (n int8, t text, b bytea, doc tsvector)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::raw_sql(&insert).execute(&mut conn).await.unwrap();
        type Row = (Option<i64>, Option<String>, Option<Vec<u8>>, bool);
        let back: Vec<Row> = sqlx::query_as(
            "SELECT n, t, b, doc = to_tsvector('simple', t) FROM recordset_check ORDER BY n",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert_eq!(back.len(), texts.len());
        for (i, (n, t, b, doc)) in back.into_iter().enumerate() {
            assert_eq!(n, Some(i as i64 * 1_000_000_007 - 3));
            assert_eq!(t.as_deref(), Some(texts[i]), "text {i}");
            assert_eq!(b.as_deref(), blobs.get(i).copied(), "blob {i}");
            assert!(doc, "search document {i}");
        }
    }

    #[test]
    fn a_nul_or_a_missing_value_is_refused() {
        assert!(inline("SELECT $1", &[Value::Text(Some("a\0b"))]).is_err());
        assert!(inline("SELECT $2", &[Value::Int(Some(1))]).is_err());
        assert_eq!(inline("SELECT 'x$'", &[]).unwrap(), "SELECT 'x$'");
    }
}

//! The bulk executor on PostgreSQL (`soporte demo`): the rows of a batch go in with
//! `COPY … FROM STDIN` in text format, one `COPY` a table, instead of multi-row `INSERT`s
//! PostgreSQL must parse and plan; the few other statements (ids, counters, daily figures) are
//! sent inlined on the same connection. A table whose column is an SQL expression of its value
//! (the search document, `to_tsvector`) is copied into a temporary table of plain values and
//! moved over with one `INSERT … SELECT`.
//!
//! The connection is its own (sqlx's `COPY` is PostgreSQL's, not the `Any` pool's) and does
//! not wait for the disk at each commit (`synchronous_commit = off`): a load that stops
//! half-way is loaded again; the caller makes the finished load durable.

use super::super::{Result, StorageError};
use super::exec::{Cell, Exec, Kind, Table, Value};
use super::pooled::{cells, inline};
use futures_util::future::BoxFuture;
use sqlx::Connection;
use std::fmt::Write as _;

/// Rows waiting for their `COPY`, per table, in the order the tables were first written (a
/// row is copied after the rows it points at).
#[derive(Default)]
pub struct CopyRows {
    tables: Vec<(&'static Table, String)>,
}

impl CopyRows {
    /// Adds rows of `table`, each `width` values in column order.
    pub fn add(&mut self, table: &'static Table, width: usize, values: &[Value<'_>]) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let at = match self.tables.iter().position(|(t, _)| t.name == table.name) {
            Some(at) => at,
            None => {
                self.tables.push((table, String::new()));
                self.tables.len() - 1
            }
        };
        let out = &mut self.tables[at].1;
        for row in values.chunks(width.max(1)) {
            for (i, value) in row.iter().enumerate() {
                if i > 0 {
                    out.push('\t');
                }
                field(out, value)?;
            }
            out.push('\n');
        }
        Ok(())
    }
}

/// One value in `COPY`'s text format: `\N` for null; a backslash, tab, newline or carriage
/// return escaped; bytes as `bytea`'s hex text (`\x…`, its backslash escaped).
fn field(out: &mut String, value: &Value<'_>) -> Result<()> {
    match *value {
        Value::Int(None) | Value::Text(None) | Value::Blob(None) => out.push_str("\\N"),
        Value::Int(Some(i)) => {
            let _ = write!(out, "{i}");
        }
        Value::Text(Some(t)) => {
            for c in t.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\0' => {
                        return Err(StorageError::Corrupt(
                            "a text to store holds a NUL character".to_string(),
                        ));
                    }
                    c => out.push(c),
                }
            }
        }
        Value::Blob(Some(b)) => {
            out.push_str("\\\\x");
            for byte in b {
                let _ = write!(out, "{byte:02x}");
            }
        }
    }
    Ok(())
}

/// A PostgreSQL connection loading in bulk.
pub struct Copying {
    conn: sqlx::PgConnection,
    rows: CopyRows,
    /// Temporary tables made so far (for tables with expression columns).
    staged: Vec<&'static str>,
}

impl Copying {
    pub async fn open(url: &str) -> Result<Copying> {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        exec(&mut conn, "SET synchronous_commit = off").await?;
        Ok(Copying {
            conn,
            rows: CopyRows::default(),
            staged: Vec::new(),
        })
    }

    /// Begins a batch's transaction.
    pub async fn begin(&mut self) -> Result<()> {
        self.rows = CopyRows::default();
        exec(&mut self.conn, "BEGIN").await.map(|_| ())
    }

    /// Ends the batch's transaction: if its statements went well (`ok`), its rows are copied,
    /// table by table, and it commits; otherwise it is rolled back.
    pub async fn end(&mut self, ok: bool) -> Result<()> {
        let copied = match ok {
            true => self.copy_all().await,
            false => Ok(()),
        };
        let end = if ok && copied.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        let ended = exec(&mut self.conn, end).await;
        copied?;
        ended.map(|_| ())
    }

    /// Makes the load durable: a commit that waits for the disk writes the log up to it,
    /// and so every commit of the load before it.
    pub async fn finish(mut self) -> Result<()> {
        exec(
            &mut self.conn,
            "SET synchronous_commit = on; CREATE TEMP TABLE copy_durable (x int)",
        )
        .await?;
        self.conn.close().await?;
        Ok(())
    }

    async fn copy_all(&mut self) -> Result<()> {
        let tables = std::mem::take(&mut self.rows.tables);
        for (table, data) in tables {
            let columns = table.columns.join(", ");
            if table.pg_wrap.is_empty() {
                self.copy(
                    &format!("COPY {} ({columns}) FROM STDIN", table.name),
                    &data,
                )
                .await?;
                continue;
            }
            let stage = format!("copy_{}", table.name);
            if !self.staged.contains(&table.name) {
                // The same columns, the expression ones as the plain values they are made of.
                let plain: Vec<String> = table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| match table.pg_wrap.iter().any(|(w, _)| *w == i) {
                        true => format!("CAST(NULL AS TEXT) AS {c}"),
                        false => c.to_string(),
                    })
                    .collect();
                let create = format!(
                    "CREATE TEMP TABLE {stage} ON COMMIT DELETE ROWS AS SELECT {} FROM {} WITH NO DATA",
                    plain.join(", "),
                    table.name
                );
                exec(&mut self.conn, &create).await?;
                self.staged.push(table.name);
            }
            self.copy(&format!("COPY {stage} ({columns}) FROM STDIN"), &data)
                .await?;
            let select: Vec<String> = table
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| match table.pg_wrap.iter().find(|(w, _)| *w == i) {
                    Some((_, wrap)) => wrap.replace("{}", c),
                    None => c.to_string(),
                })
                .collect();
            let moved = format!(
                "INSERT INTO {} ({columns}) SELECT {} FROM {stage}",
                table.name,
                select.join(", ")
            );
            exec(&mut self.conn, &moved).await?;
        }
        Ok(())
    }

    async fn copy(&mut self, statement: &str, data: &str) -> Result<()> {
        copy_in(&mut self.conn, statement, data).await
    }
}

// The futures below are boxed: inside the writer's future the compiler cannot prove sqlx's
// futures `Send` for every lifetime.

/// Runs statements; how many rows the last changed.
fn exec<'a>(conn: &'a mut sqlx::PgConnection, sql: &'a str) -> BoxFuture<'a, Result<u64>> {
    Box::pin(async move {
        Ok(sqlx::Executor::execute(conn, sqlx::raw_sql(sql))
            .await?
            .rows_affected())
    })
}

fn fetch<'a>(
    conn: &'a mut sqlx::PgConnection,
    sql: &'a str,
) -> BoxFuture<'a, Result<Vec<sqlx::postgres::PgRow>>> {
    Box::pin(async move { Ok(sqlx::Executor::fetch_all(conn, sqlx::raw_sql(sql)).await?) })
}

/// One `COPY … FROM STDIN` of `data` (rows in text format).
fn copy_in<'a>(
    conn: &'a mut sqlx::PgConnection,
    statement: &'a str,
    data: &'a str,
) -> BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        let mut copy = conn.copy_in_raw(statement).await?;
        if let Err(e) = copy.send(data.as_bytes()).await {
            copy.abort("the load failed").await.ok();
            return Err(e.into());
        }
        copy.finish().await?;
        Ok(())
    })
}

impl Exec for Copying {
    fn backend(&self) -> super::super::Backend {
        super::super::Backend::Postgres
    }

    fn max_rows(&self) -> usize {
        256
    }

    fn copy(
        &mut self,
        table: &'static Table,
        width: usize,
        values: &[Value<'_>],
    ) -> Option<Result<()>> {
        Some(self.rows.add(table, width, values))
    }

    async fn run(&mut self, sql: &str, args: &[Value<'_>]) -> Result<u64> {
        // The rows go first: what follows (counters every lane shares) is locked only from
        // there to the commit.
        self.copy_all().await?;
        let text = inline(sql, args)?;
        exec(&mut self.conn, &text).await
    }

    async fn rows(
        &mut self,
        sql: &str,
        args: &[Value<'_>],
        kinds: &[Kind],
    ) -> Result<Vec<Vec<Cell>>> {
        self.copy_all().await?;
        let text = inline(sql, args)?;
        let rows = fetch(&mut self.conn, &text).await?;
        cells(&rows, kinds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_copy_reads_specially() {
        const T: Table = Table {
            name: "t",
            columns: &["a", "b", "c"],
            pg_wrap: &[],
        };
        static TABLE: Table = T;
        let mut rows = CopyRows::default();
        let values = [
            Value::Int(Some(-3)),
            Value::Text(Some("a\tb\\c\nd\re")),
            Value::Blob(Some(&[1, 171])),
            Value::Int(None),
            Value::Text(None),
            Value::Blob(None),
        ];
        rows.add(&TABLE, 3, &values).unwrap();
        assert_eq!(
            rows.tables[0].1,
            "-3\ta\\tb\\\\c\\nd\\re\t\\\\x01ab\n\\N\t\\N\t\\N\n"
        );
        assert!(
            rows.add(
                &TABLE,
                3,
                &[Value::Text(Some("\0")), Value::Int(None), Value::Int(None)]
            )
            .is_err()
        );
    }
}

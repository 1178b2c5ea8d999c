//! The sqlx executor: statements on a connection of the pool, inside the caller's
//! transaction. It serves PostgreSQL, and SQLite when there is no file for a native
//! connection to open (an in-memory database).

use super::super::{Backend, Conn, Result};
use super::exec::{Cell, Exec, Kind, Value};
use sqlx::Row;

/// A pooled connection with an open write transaction.
pub struct Pooled<'c> {
    conn: &'c mut Conn,
    backend: Backend,
}

impl<'c> Pooled<'c> {
    pub fn new(conn: &'c mut Conn, backend: Backend) -> Pooled<'c> {
        Pooled { conn, backend }
    }
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

impl Exec for Pooled<'_> {
    fn backend(&self) -> Backend {
        self.backend
    }

    fn max_rows(&self) -> usize {
        // PostgreSQL takes at most 65,535 parameters a statement; a ticket row has ~20.
        256
    }

    async fn run(&mut self, sql: &str, args: &[Value<'_>]) -> Result<u64> {
        let done = bind(sqlx::query(sql), args)
            .execute(&mut *self.conn)
            .await?;
        Ok(done.rows_affected())
    }

    async fn rows(
        &mut self,
        sql: &str,
        args: &[Value<'_>],
        kinds: &[Kind],
    ) -> Result<Vec<Vec<Cell>>> {
        let rows = bind(sqlx::query(sql), args)
            .fetch_all(&mut *self.conn)
            .await?;
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
}

/// Moves what the search index's pending list holds into the index proper (PostgreSQL).
pub async fn flush_search_pending(store: &super::super::Store) -> Result<()> {
    sqlx::query("SELECT CAST(gin_clean_pending_list('ticket_search_doc'::regclass) AS BIGINT)")
        .fetch_one(store.pool())
        .await?;
    Ok(())
}

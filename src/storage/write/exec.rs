//! What an executor is: something that runs one SQL statement with bound values on an open
//! write transaction. The write path (`write::rows`, `write::apply`) is written once against
//! this trait and runs on both executors: `pooled::Pooled` (a sqlx connection: PostgreSQL, and
//! SQLite without a file) and `native::Native` (a rusqlite connection to a SQLite file).
//!
//! Statements use `$1…$n` placeholders (the native executor reads them as SQLite's `?NNN`).

use super::super::{Backend, Result};
use std::future::Future;

/// A value to bind. Nulls are typed: PostgreSQL checks a parameter's type against its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
    Blob(Option<&'a [u8]>),
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(Some(v))
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Value::Text(v.as_deref())
    }
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(v: &'a [u8]) -> Self {
        Value::Blob(Some(v))
    }
}

/// A table as the write path inserts into it: its name and its columns in binding order;
/// `wrap` puts a column's placeholder inside an SQL expression on PostgreSQL (`{}` marks it).
/// (`write::rows` has the tables.)
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    pub pg_wrap: &'static [(usize, &'static str)],
}

/// The type of a column a query returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    Blob,
}

/// One value a query returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Int(Option<i64>),
    Text(Option<String>),
    Blob(Option<Vec<u8>>),
}

impl Cell {
    pub fn int(&self) -> Option<i64> {
        match self {
            Cell::Int(v) => *v,
            _ => None,
        }
    }

    pub fn text(&self) -> Option<&str> {
        match self {
            Cell::Text(v) => v.as_deref(),
            _ => None,
        }
    }

    pub fn blob(&self) -> &[u8] {
        match self {
            Cell::Blob(Some(v)) => v,
            _ => &[],
        }
    }
}

/// Runs statements on an open write transaction.
pub trait Exec: Send {
    fn backend(&self) -> Backend;

    /// The most rows one multi-row statement of this executor carries.
    fn max_rows(&self) -> usize;

    /// Runs a statement; returns how many rows it changed.
    fn run(&mut self, sql: &str, args: &[Value<'_>]) -> impl Future<Output = Result<u64>> + Send;

    /// Takes rows of `table` (each `width` values in column order) to load them its own way
    /// instead of multi-row `INSERT … VALUES` statements (`copying::Copying`: PostgreSQL's
    /// `COPY`; `pooled::Pooled` on PostgreSQL, from a few rows on: one `INSERT … SELECT FROM
    /// json_to_recordset(…)`, held like `later`); `None` if this executor inserts these rows
    /// with `VALUES` statements.
    fn copy(
        &mut self,
        _table: &'static Table,
        _width: usize,
        _values: &[Value<'_>],
    ) -> Option<Result<()>> {
        None
    }

    /// Runs a statement whose outcome the write path does not read (rows to insert, counters
    /// to add to, news to announce). An executor may hold it and send it with the next
    /// statement that needs an answer, or with the commit; an error it meets then fails that
    /// statement, or the commit, instead.
    fn later(&mut self, sql: &str, args: &[Value<'_>]) -> impl Future<Output = Result<()>> + Send {
        async move { self.run(sql, args).await.map(|_| ()) }
    }

    /// Runs a query; each row's columns are read as `kinds` says.
    fn rows(
        &mut self,
        sql: &str,
        args: &[Value<'_>],
        kinds: &[Kind],
    ) -> impl Future<Output = Result<Vec<Vec<Cell>>>> + Send;
}

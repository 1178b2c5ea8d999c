//! The daily figures table (`daily_figures`): one row per Lima day and figure, holding the
//! total count and, per person, a count and the durations. The per-person part is packed in
//! one blob as segments of big-endian u32: `person, n, then n durations` for duration
//! figures, `person, n` for counts. Written in the transaction of the change it comes from;
//! read by the dashboard a month at a time (about 240 rows).

use super::{Backend, Conn, Result, StorageError};
pub use crate::domain::figures::{DailyRow, Entry};
use crate::domain::figures::{Delta, Figure};
use sqlx::Row;
use std::collections::BTreeMap;

fn u32_of(v: i64, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| StorageError::Corrupt(format!("{what} {v} does not fit")))
}

/// Packs the per-person part.
pub fn pack(figure: Figure, people: &BTreeMap<i64, Entry>) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(people.values().map(|e| 8 + 4 * e.secs.len()).sum::<usize>());
    for (person, e) in people {
        out.extend_from_slice(&u32_of(*person, "person")?.to_be_bytes());
        out.extend_from_slice(&u32_of(e.n, "count")?.to_be_bytes());
        if figure.has_durations() {
            for s in &e.secs {
                out.extend_from_slice(&s.to_be_bytes());
            }
        }
    }
    Ok(out)
}

pub fn unpack(figure: Figure, bytes: &[u8]) -> Result<BTreeMap<i64, Entry>> {
    let corrupt = || StorageError::Corrupt(format!("daily figures of {} bytes", bytes.len()));
    if !bytes.len().is_multiple_of(4) {
        return Err(corrupt());
    }
    let word = |i: usize| -> Option<u32> {
        bytes
            .get(4 * i..4 * i + 4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    };
    let words = bytes.len() / 4;
    let mut people = BTreeMap::new();
    let mut i = 0;
    while i < words {
        let person = word(i).ok_or_else(corrupt)?;
        let n = word(i + 1).ok_or_else(corrupt)? as usize;
        i += 2;
        let mut secs = Vec::new();
        if figure.has_durations() {
            let end = i
                .checked_add(n)
                .filter(|e| *e <= words)
                .ok_or_else(corrupt)?;
            secs = bytes[4 * i..4 * end]
                .chunks_exact(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            i = end;
        }
        people.insert(person as i64, Entry { n: n as i64, secs });
    }
    Ok(people)
}

/// Applies changes on the caller's transaction: arrivals are added to the count in place;
/// anything else reads the row, changes it and writes it back with the row locked
/// (PostgreSQL `FOR UPDATE`; SQLite writers are serialised by `BEGIN IMMEDIATE`).
pub async fn apply(conn: &mut Conn, backend: Backend, deltas: &[Delta]) -> Result<()> {
    for d in deltas {
        if d.figure == Figure::Created {
            add_arrivals(conn, d.day, d.sign).await?;
            continue;
        }
        let mut row = read_locked(conn, backend, d.day, d.figure).await?;
        if !row.apply(d) {
            tracing::warn!(figure = ?d.figure, day = d.day, "a duration to take back was not in its daily row");
            continue;
        }
        write(conn, &row).await?;
    }
    Ok(())
}

/// Adds `n` arrivals to a day.
pub async fn add_arrivals(conn: &mut Conn, day: i64, n: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO daily_figures (day, figure, n, people) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (day, figure) DO UPDATE SET n = daily_figures.n + excluded.n",
    )
    .bind(day)
    .bind(Figure::Created.code())
    .bind(n)
    .bind(Vec::<u8>::new())
    .execute(conn)
    .await?;
    Ok(())
}

async fn read_locked(
    conn: &mut Conn,
    backend: Backend,
    day: i64,
    figure: Figure,
) -> Result<DailyRow> {
    // The row exists before it is locked, so two writers of a new day's row queue on it
    // instead of both finding nothing and the second overwriting the first.
    sqlx::query(
        "INSERT INTO daily_figures (day, figure, n, people) VALUES ($1, $2, 0, $3) \
         ON CONFLICT (day, figure) DO NOTHING",
    )
    .bind(day)
    .bind(figure.code())
    .bind(Vec::<u8>::new())
    .execute(&mut *conn)
    .await?;
    let lock = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE",
    };
    let sql = format!("SELECT n, people FROM daily_figures WHERE day = $1 AND figure = $2{lock}");
    let row = sqlx::query(&sql)
        .bind(day)
        .bind(figure.code())
        .fetch_one(&mut *conn)
        .await?;
    let bytes: Vec<u8> = row.try_get("people")?;
    Ok(DailyRow {
        day,
        figure,
        n: row.try_get("n")?,
        people: unpack(figure, &bytes)?,
    })
}

/// Replaces a row read by `read_locked`.
async fn write(conn: &mut Conn, row: &DailyRow) -> Result<()> {
    sqlx::query("UPDATE daily_figures SET n = $3, people = $4 WHERE day = $1 AND figure = $2")
        .bind(row.day)
        .bind(row.figure.code())
        .bind(row.n)
        .bind(pack(row.figure, &row.people)?)
        .execute(conn)
        .await?;
    Ok(())
}

/// Merges whole rows (from a bulk load) into the table.
pub async fn merge(conn: &mut Conn, backend: Backend, rows: Vec<DailyRow>) -> Result<()> {
    for r in rows {
        if r.figure == Figure::Created {
            add_arrivals(conn, r.day, r.n).await?;
            continue;
        }
        let mut stored = read_locked(conn, backend, r.day, r.figure).await?;
        stored.merge(r);
        write(conn, &stored).await?;
    }
    Ok(())
}

/// Every row of the days `[from_day, to_day)`.
pub async fn read(conn: &mut Conn, from_day: i64, to_day: i64) -> Result<Vec<DailyRow>> {
    let rows = sqlx::query(
        "SELECT day, figure, n, people FROM daily_figures WHERE day >= $1 AND day < $2",
    )
    .bind(from_day)
    .bind(to_day)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let code: i64 = r.try_get("figure")?;
            let figure = Figure::from_code(code)
                .ok_or_else(|| StorageError::Corrupt(format!("figure {code}")))?;
            let bytes: Vec<u8> = r.try_get("people")?;
            Ok(DailyRow {
                day: r.try_get("day")?,
                figure,
                n: r.try_get("n")?,
                people: unpack(figure, &bytes)?,
            })
        })
        .collect()
}

//! The daily figures table (`daily_figures`): one row per Lima day and figure, holding the
//! total count and, per person, a count and the durations. The per-person part is packed in
//! one blob as segments of big-endian u32: `person, n, then n durations` for duration
//! figures, `person, n` for counts. Written with the ticket write it comes from
//! (`storage::write`); read by the dashboard a month at a time (about 240 rows), twice.

use super::{Conn, Result, StorageError};
use crate::domain::figures::Figure;
pub use crate::domain::figures::{DailyRow, Entry};
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

/// Visits every row of the days `[from_day, to_day)` (only figures with durations if
/// `durations_only`) as it arrives, unpacked: at ten million tickets a month of durations
/// is tens of megabytes, and none of it is kept here.
pub async fn each(
    conn: &mut Conn,
    from_day: i64,
    to_day: i64,
    durations_only: bool,
    mut visit: impl FnMut(DailyRow),
) -> Result<()> {
    use futures_util::TryStreamExt;
    let mut rows = sqlx::query(
        "SELECT day, figure, n, people FROM daily_figures WHERE day >= $1 AND day < $2",
    )
    .bind(from_day)
    .bind(to_day)
    .fetch(conn);
    while let Some(r) = rows.try_next().await? {
        let code: i64 = r.try_get("figure")?;
        let figure = Figure::from_code(code)
            .ok_or_else(|| StorageError::Corrupt(format!("figure {code}")))?;
        if durations_only && !figure.has_durations() {
            continue;
        }
        let bytes: &[u8] = r.try_get("people")?;
        visit(DailyRow {
            day: r.try_get("day")?,
            figure,
            n: r.try_get("n")?,
            people: unpack(figure, bytes)?,
        });
    }
    Ok(())
}

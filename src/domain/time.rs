//! Instants and Lima time. Instants are Unix seconds (UTC); people see America/Lima as
//! `dd/mm/aaaa HH:MM`. The zone data is compiled into the binary (jiff's bundled tzdb).

use jiff::civil::Date;
use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, Zoned};
use std::sync::LazyLock;

static LIMA: LazyLock<TimeZone> = LazyLock::new(|| {
    // The bundled database always has it; the fixed offset is Lima's all the same (no DST).
    TimeZone::get("America/Lima").unwrap_or_else(|_| TimeZone::fixed(Offset::constant(-5)))
});

pub fn lima() -> &'static TimeZone {
    &LIMA
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    Timestamp::now().as_second()
}

fn zoned(ts: i64) -> Option<Zoned> {
    Timestamp::from_second(ts)
        .ok()
        .map(|t| t.to_zoned(lima().clone()))
}

/// `dd/mm/aaaa HH:MM` in Lima.
pub fn format_lima(ts: i64) -> String {
    zoned(ts)
        .map(|z| z.strftime("%d/%m/%Y %H:%M").to_string())
        .unwrap_or_default()
}

/// RFC 3339 with Lima's offset, for the API.
pub fn format_rfc3339(ts: i64) -> String {
    zoned(ts)
        .map(|z| z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
        .unwrap_or_default()
}

/// The Lima calendar day of an instant.
pub fn lima_date(ts: i64) -> Option<Date> {
    zoned(ts).map(|z| z.date())
}

/// The first instant of a Lima calendar day.
pub fn lima_day_start(date: Date) -> i64 {
    date.to_zoned(lima().clone())
        .map(|z| z.timestamp().as_second())
        .unwrap_or(0)
}

/// Parses `aaaa-mm-dd` (what `<input type="date">` sends) or `dd/mm/aaaa`.
pub fn parse_date(raw: &str) -> Option<Date> {
    let s = raw.trim();
    if let Ok(d) = s.parse::<Date>() {
        return Some(d);
    }
    let mut parts = s.split('/');
    let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).ok()
}

/// `[from, to)` in instants for an inclusive range of Lima days.
pub fn lima_range(from: Option<Date>, to: Option<Date>) -> (Option<i64>, Option<i64>) {
    let start = from.map(lima_day_start);
    let end = to.and_then(|d| d.tomorrow().ok()).map(lima_day_start);
    (start, end)
}

/// "hace 3 h": an age in words, for lists.
pub fn age_in_words(seconds: i64) -> String {
    let s = seconds.max(0);
    if s < 60 {
        "hace un momento".to_string()
    } else if s < 3600 {
        format!("hace {} min", s / 60)
    } else if s < 86_400 {
        format!("hace {} h", s / 3600)
    } else {
        let days = s / 86_400;
        if days == 1 {
            "hace 1 día".to_string()
        } else {
            format!("hace {days} días")
        }
    }
}

/// A duration as `h:mm` (hours may exceed 24), or `d h` when long, for people.
pub fn duration_words(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m:02} min")
    } else if m > 0 && s % 60 != 0 {
        format!("{m} min {} s", s % 60)
    } else if m > 0 {
        format!("{m} min")
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_utc_is_ten_pm_the_previous_day_in_lima() {
        // 2026-03-15T03:00:00Z
        let ts = "2026-03-15T03:00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_second();
        assert_eq!(format_lima(ts), "14/03/2026 22:00");
        assert_eq!(lima_date(ts), Some(jiff::civil::date(2026, 3, 14)));
    }

    #[test]
    fn lima_day_starts_at_five_utc() {
        let start = lima_day_start(jiff::civil::date(2026, 1, 2));
        assert_eq!(
            start,
            "2026-01-02T05:00:00Z"
                .parse::<Timestamp>()
                .unwrap()
                .as_second()
        );
    }

    #[test]
    fn dates_parse_in_both_forms() {
        assert_eq!(
            parse_date("2026-11-28"),
            Some(jiff::civil::date(2026, 11, 28))
        );
        assert_eq!(
            parse_date("28/11/2026"),
            Some(jiff::civil::date(2026, 11, 28))
        );
        assert_eq!(parse_date("31/02/2026"), None);
        assert_eq!(parse_date("ayer"), None);
    }

    #[test]
    fn ages_read_as_words() {
        assert_eq!(age_in_words(3 * 3600 + 5), "hace 3 h");
        assert_eq!(age_in_words(86_400 * 2), "hace 2 días");
        assert_eq!(duration_words(3600 + 60 * 5), "1 h 05 min");
        assert_eq!(duration_words(450), "7 min 30 s");
        assert_eq!(duration_words(540), "9 min");
    }
}

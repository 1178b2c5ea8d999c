//! Instants and Lima time. Instants are Unix seconds (UTC); people see America/Lima as
//! `dd/mm/aaaa HH:MM`. The zone data is compiled into the binary (jiff's bundled tzdb).

use jiff::civil::{Date, DateTime};
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

/// `format_lima` for many instants in a row (an export's four dates per ticket): the same
/// text, written into a buffer without allocating. It keeps the span between two of Lima's
/// time-zone transitions that the last instant fell in (so its UTC offset, from the tz
/// database) and the `dd/mm/aaaa` text of recently seen Lima days; anything it has not seen
/// goes through `format_lima` once, and an instant it cannot place is written by
/// `format_lima` itself.
#[derive(Debug, Clone)]
pub struct LimaFormatter {
    /// Instants in `[from, until)` are all at `offset` seconds from UTC.
    from: i64,
    until: i64,
    offset: i64,
    /// Direct-mapped by Lima day number (days since 1970-01-01): the day and its text.
    days: Vec<(i64, [u8; 10])>,
}

const DAY_SLOTS: usize = 1024;

impl Default for LimaFormatter {
    fn default() -> Self {
        Self::new()
    }
}

impl LimaFormatter {
    pub fn new() -> LimaFormatter {
        LimaFormatter {
            from: 0,
            until: 0,
            offset: 0,
            days: vec![(i64::MIN, [0; 10]); DAY_SLOTS],
        }
    }

    /// Appends `format_lima(ts)` to `out`.
    #[inline]
    pub fn write(&mut self, ts: i64, out: &mut Vec<u8>) {
        let known = self.from <= ts && ts < self.until;
        if !known && !self.learn_offset(ts) {
            out.extend_from_slice(format_lima(ts).as_bytes());
            return;
        }
        // Both within jiff's range (checked when the span was learnt): no overflow.
        let local = ts + self.offset;
        let day = local.div_euclid(86_400);
        let minute = local.rem_euclid(86_400) / 60;
        let slot = (day as usize) & (DAY_SLOTS - 1);
        if self.days[slot].0 != day && !self.learn_day(ts, day, minute) {
            out.extend_from_slice(format_lima(ts).as_bytes());
            return;
        }
        let (h, m) = ((minute / 60) as u8, (minute % 60) as u8);
        out.extend_from_slice(&self.days[slot].1);
        out.extend_from_slice(&[
            b' ',
            b'0' + h / 10,
            b'0' + h % 10,
            b':',
            b'0' + m / 10,
            b'0' + m % 10,
        ]);
    }

    /// Finds the span of constant offset around `ts`; false if `ts` is outside jiff's range.
    #[cold]
    fn learn_offset(&mut self, ts: i64) -> bool {
        let Ok(t) = Timestamp::from_second(ts) else {
            return false;
        };
        let tz = lima();
        let offset = i64::from(tz.to_offset(t).seconds());
        // The last transition at or before `ts` (those `preceding` yields are strictly before
        // the instant given, hence `ts + 1`) and the first one after it.
        let from = Timestamp::from_second(ts.saturating_add(1))
            .ok()
            .and_then(|next| tz.preceding(next).next())
            .map(|tr| tr.timestamp())
            .unwrap_or(Timestamp::MIN);
        let until = tz
            .following(t)
            .next()
            .map(|tr| tr.timestamp().as_second())
            .unwrap_or(Timestamp::MAX.as_second().saturating_add(1));
        // Trust the span only where the database agrees at its start; else keep just `ts`.
        let from = if i64::from(tz.to_offset(from).seconds()) == offset {
            from.as_second()
        } else {
            ts
        };
        (self.from, self.until, self.offset) = (from, until, offset);
        true
    }

    /// Learns the text of Lima day `day` from `format_lima`, checking that the time of day it
    /// prints is the one computed from the offset; false (nothing kept) if it is not.
    #[cold]
    fn learn_day(&mut self, ts: i64, day: i64, minute: i64) -> bool {
        let text = format_lima(ts);
        let b = text.as_bytes();
        let digits = |i: usize| {
            i64::from(b[i].wrapping_sub(b'0')) * 10 + i64::from(b[i + 1].wrapping_sub(b'0'))
        };
        if b.len() != 16 || b[10] != b' ' || b[13] != b':' || digits(11) * 60 + digits(14) != minute
        {
            return false;
        }
        let mut date = [0; 10];
        date.copy_from_slice(&b[..10]);
        self.days[(day as usize) & (DAY_SLOTS - 1)] = (day, date);
        true
    }
}

/// RFC 3339 with Lima's offset, for the API.
pub fn format_rfc3339(ts: i64) -> String {
    zoned(ts)
        .map(|z| z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
        .unwrap_or_default()
}

/// The Lima wall-clock date and time of an instant — what a clock in Lima showed, by the
/// bundled time-zone database (Lima has been UTC−5 since 1994, but not always before) — for
/// cells that hold a civil time, such as a workbook's dates. `None` outside jiff's range.
pub fn lima_civil(ts: i64) -> Option<DateTime> {
    zoned(ts).map(|z| z.datetime())
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

/// `HH:MM` in Lima ("Bloqueada hasta 10:42").
pub fn format_lima_time(ts: i64) -> String {
    lima_civil(ts)
        .map(|c| c.strftime("%H:%M").to_string())
        .unwrap_or_default()
}

/// A span between two timeline steps or a ticket's whole life, in the two largest units
/// people read at a glance: "45 s", "12 min", "2 h 5 min", "3 días 4 h", "1 día".
pub fn span_words(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    let days = |d: i64| {
        if d == 1 {
            "1 día".to_string()
        } else {
            format!("{d} días")
        }
    };
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => days(d),
        (d, h, _) => format!("{} {h} h", days(d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_in_their_two_largest_units() {
        assert_eq!(span_words(0), "0 s");
        assert_eq!(span_words(45), "45 s");
        assert_eq!(span_words(12 * 60 + 30), "12 min");
        assert_eq!(span_words(2 * 3600), "2 h");
        assert_eq!(span_words(2 * 3600 + 5 * 60 + 59), "2 h 5 min");
        assert_eq!(span_words(86_400 + 59), "1 día");
        assert_eq!(span_words(3 * 86_400 + 4 * 3600 + 600), "3 días 4 h");
        assert_eq!(span_words(-5), "0 s");
    }

    #[test]
    fn lima_time_of_day_is_five_hours_behind_utc() {
        let ts = "2026-03-15T15:42:10Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_second();
        assert_eq!(format_lima_time(ts), "10:42");
    }

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
    fn the_lima_clock_follows_the_tz_database() {
        let at = |utc: &str| utc.parse::<Timestamp>().unwrap().as_second();
        let civil = jiff::civil::datetime;
        assert_eq!(
            lima_civil(at("2026-03-15T03:00:00Z")),
            Some(civil(2026, 3, 14, 22, 0, 0, 0))
        );
        assert_eq!(
            lima_civil(at("2026-11-02T19:00:59Z")),
            Some(civil(2026, 11, 2, 14, 0, 59, 0))
        );
        // Peru kept summer time from 1 January to 1 April 1994: UTC−4, not −5.
        assert_eq!(
            lima_civil(at("1994-02-01T13:00:00Z")),
            Some(civil(1994, 2, 1, 9, 0, 0, 0))
        );
        assert_eq!(
            lima_civil(at("1994-04-05T14:00:00Z")),
            Some(civil(1994, 4, 5, 9, 0, 0, 0))
        );
        // The same clock `format_lima` reads, on both sides of every transition.
        for t in lima()
            .following(Timestamp::MIN)
            .map(|t| t.timestamp().as_second())
            .take_while(|t| *t < 4_000_000_000)
        {
            for ts in [t - 60, t, t + 60] {
                let shown = lima_civil(ts).map(|c| c.strftime("%d/%m/%Y %H:%M").to_string());
                assert_eq!(shown.as_deref(), Some(format_lima(ts).as_str()), "at {ts}");
            }
        }
        assert_eq!(lima_civil(i64::MAX), None);
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

    fn check_formatter(f: &mut LimaFormatter, ts: i64) {
        let mut out = Vec::new();
        f.write(ts, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), format_lima(ts), "at {ts}");
    }

    #[test]
    fn the_cached_formatter_writes_what_format_lima_writes() {
        let mut f = LimaFormatter::new();
        // Around every transition Lima has had (LMT, the 1908 change, the summer times).
        let transitions: Vec<i64> = lima()
            .following(Timestamp::MIN)
            .map(|t| t.timestamp().as_second())
            .take_while(|t| *t < 4_000_000_000)
            .collect();
        assert!(transitions.len() > 5, "{transitions:?}");
        for t in &transitions {
            for d in [-86_401, -3601, -61, -60, -1, 0, 1, 59, 60, 3600, 86_400] {
                check_formatter(&mut f, t + d);
            }
        }
        // Every minute-ish of two years, and random instants in random order (cache misses
        // both ways), within and beyond jiff's range.
        let mut ts = 1_700_000_000;
        while ts < 1_763_000_000 {
            check_formatter(&mut f, ts);
            ts += 59;
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let span = match x % 3 {
                0 => 1 << 24,
                1 => 1 << 33,
                _ => 1 << 40,
            };
            check_formatter(&mut f, 1_750_000_000 + (x >> 8) as i64 % span - span / 2);
        }
        for ts in [
            i64::MIN,
            i64::MAX,
            Timestamp::MIN.as_second(),
            Timestamp::MAX.as_second(),
            0,
            -1,
        ] {
            check_formatter(&mut f, ts);
        }
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

//! Summary statistics over durations: mean, median and 90th percentile.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Summary {
    pub count: usize,
    /// Seconds; `None` when there is nothing to summarise.
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub p90: Option<f64>,
}

/// Mean, median and p90 (nearest rank) of durations in seconds. The order statistics are
/// found by selection (linear time), not by sorting: a month of a busy help-desk has
/// hundreds of thousands of durations.
pub fn summarize(mut values: Vec<i64>) -> Summary {
    if values.is_empty() {
        return Summary::default();
    }
    let n = values.len();
    let mean = values.iter().map(|v| *v as f64).sum::<f64>() / n as f64;
    let upper = *values.select_nth_unstable(n / 2).1;
    let median = if n % 2 == 1 {
        upper as f64
    } else {
        // After the selection everything left of n/2 is ≤ it: the lower middle is their max.
        let lower = values[..n / 2].iter().copied().max().unwrap_or(upper);
        (lower as f64 + upper as f64) / 2.0
    };
    // Nearest rank: the smallest value with at least 90% of values at or below it.
    let rank = ((0.9 * n as f64).ceil() as usize).clamp(1, n);
    let p90 = *values.select_nth_unstable(rank - 1).1;
    Summary {
        count: n,
        mean: Some(mean),
        median: Some(median),
        p90: Some(p90 as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_values() {
        let s = summarize(vec![10, 20, 30, 40, 1000]);
        assert_eq!(s.count, 5);
        assert_eq!(s.mean, Some(220.0));
        assert_eq!(s.median, Some(30.0));
        assert_eq!(s.p90, Some(1000.0));
        let s = summarize(vec![1, 2, 3, 4]);
        assert_eq!(s.median, Some(2.5));
        assert_eq!(summarize(vec![]).mean, None);
    }

    #[test]
    fn selection_agrees_with_sorting() {
        let mut x: u64 = 7;
        for n in 1..200usize {
            let values: Vec<i64> = (0..n)
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((x >> 33) % 50) as i64
                })
                .collect();
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let median = if n % 2 == 1 {
                sorted[n / 2] as f64
            } else {
                (sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0
            };
            let rank = ((0.9 * n as f64).ceil() as usize).clamp(1, n);
            let s = summarize(values);
            assert_eq!(s.median, Some(median), "n = {n}");
            assert_eq!(s.p90, Some(sorted[rank - 1] as f64), "n = {n}");
        }
    }
}

/// A Lima calendar period `[from, to)` in instants, with the days it was asked as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub from_day: jiff::civil::Date,
    pub to_day: jiff::civil::Date,
    pub from: i64,
    pub to: i64,
}

impl Period {
    /// The days `from..=to` (Lima); `to` defaults to today and `from` to 29 days before it.
    pub fn lima_days(
        from: Option<jiff::civil::Date>,
        to: Option<jiff::civil::Date>,
        now: i64,
    ) -> Result<Period, super::DomainError> {
        let today = super::time::lima_date(now).unwrap_or_default();
        let to_day = to.unwrap_or(today);
        let from_day = match from {
            Some(d) => d,
            None => to_day
                .checked_sub(jiff::Span::new().days(29))
                .unwrap_or(to_day),
        };
        if from_day > to_day {
            return Err(super::DomainError::validation(
                "from",
                "La fecha «desde» debe ser anterior o igual a «hasta».",
            ));
        }
        let (from, to) = super::time::lima_range(Some(from_day), Some(to_day));
        Ok(Period {
            from_day,
            to_day,
            from: from.unwrap_or(0),
            to: to.unwrap_or(0),
        })
    }

    /// The Lima days of the period, in order.
    pub fn days(&self) -> Vec<jiff::civil::Date> {
        let mut out = Vec::new();
        let mut d = self.from_day;
        while d <= self.to_day && out.len() < 400 {
            out.push(d);
            match d.tomorrow() {
                Ok(next) => d = next,
                Err(_) => break,
            }
        }
        out
    }
}

/// Durations per person (0 = nobody): summaries overall and per person. Each person's list
/// is summarised in place; the overall one is their concatenation.
pub fn by_person(
    groups: std::collections::BTreeMap<i64, Vec<i64>>,
) -> (Summary, std::collections::BTreeMap<i64, Summary>) {
    let mut all = Vec::with_capacity(groups.values().map(Vec::len).sum());
    for v in groups.values() {
        all.extend_from_slice(v);
    }
    let overall = summarize(all);
    let per = groups
        .into_iter()
        .filter(|(person, _)| *person != 0)
        .map(|(person, v)| (person, summarize(v)))
        .collect();
    (overall, per)
}

/// Age buckets of the open backlog: under a day, 1–3 days, 3–7 days, over a week.
pub fn age_buckets(ages: &[i64]) -> [(&'static str, usize); 4] {
    let mut b = [
        ("Menos de 1 día", 0),
        ("1 a 3 días", 0),
        ("3 a 7 días", 0),
        ("Más de 7 días", 0),
    ];
    for a in ages {
        let i = match *a {
            a if a < 86_400 => 0,
            a if a < 3 * 86_400 => 1,
            a if a < 7 * 86_400 => 2,
            _ => 3,
        };
        b[i].1 += 1;
    }
    b
}

#[cfg(test)]
mod period_tests {
    use super::*;

    #[test]
    fn default_period_is_the_last_thirty_lima_days() {
        // 2026-11-28 12:00 UTC = 07:00 in Lima on the 28th.
        let now = 1_795_867_200;
        let p = Period::lima_days(None, None, now).unwrap();
        assert_eq!(p.to_day, jiff::civil::date(2026, 11, 28));
        assert_eq!(p.from_day, jiff::civil::date(2026, 10, 30));
        assert_eq!(p.days().len(), 30);
        assert_eq!(p.to - p.from, 30 * 86_400);
        assert!(
            Period::lima_days(
                Some(jiff::civil::date(2026, 12, 1)),
                Some(jiff::civil::date(2026, 11, 1)),
                now
            )
            .is_err()
        );
    }

    #[test]
    fn buckets_split_ages() {
        let b = age_buckets(&[10, 86_400, 4 * 86_400, 30 * 86_400, 3 * 86_400 - 1]);
        assert_eq!(b.map(|x| x.1), [1, 2, 1, 1]);
    }
}

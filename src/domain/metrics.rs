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
    fn summaries_over_parts_agree_with_sorting() {
        let mut x: u64 = 11;
        let mut next = |m: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        for n in 1..300usize {
            // Spread over several magnitudes, with repeats, split into uneven parts.
            let values: Vec<u32> = (0..n)
                .map(|_| (next(4) * 1000 + next(7)) as u32 * [1, 3, 700, 90_000][next(4) as usize])
                .collect();
            let cut = next(n as u64 + 1) as usize;
            let parts: [&[u32]; 3] = [&values[..cut], &[], &values[cut..]];
            let expected = summarize(values.iter().map(|v| *v as i64).collect());
            assert_eq!(summarize_parts(&parts), expected, "n = {n}");
        }
        assert_eq!(summarize_parts(&[]), Summary::default());
        // Overall and per person at once: the same as summarising each list alone.
        let a: Vec<u32> = (0..101).map(|i| i * 37 % 1000).collect();
        let b: Vec<u32> = (0..50).map(|i| 100_000 + i * 3).collect();
        let mut groups = std::collections::BTreeMap::new();
        groups.insert(0, vec![&a[..10]]);
        groups.insert(4, vec![&a[10..], &b[..]]);
        let (all, per) = summarize_groups(&groups);
        let mut every: Vec<i64> = a.iter().chain(&b).map(|v| *v as i64).collect();
        assert_eq!(all, summarize(every.clone()));
        every.drain(..10);
        assert_eq!(per[&4], summarize(every));
        assert!(!per.contains_key(&0), "nobody is not a person");
        assert_eq!(
            summarize_parts(&[&[u32::MAX, 0]]).p90,
            Some(u32::MAX as f64)
        );
    }

    #[test]
    fn a_second_pass_that_differs_from_the_first_is_refused() {
        let counted: Vec<u32> = (0..101).map(|i| i * 37 % 1000).collect();
        let mut two = TwoPass::default();
        two.count(4, &counted);
        two.prepare();
        // The median went missing between the passes (the data changed): no summary.
        let without_median: Vec<u32> = counted.iter().copied().filter(|v| *v != 479).collect();
        assert_eq!(without_median.len(), counted.len() - 1);
        two.offer(4, &without_median);
        assert_eq!(two.finish(), None);
        // The same durations both times: the same summary as sorting them.
        let mut two = TwoPass::default();
        two.count(4, &counted);
        two.prepare();
        two.offer(4, &counted);
        let (all, per) = two.finish().unwrap();
        assert_eq!(all, summarize(counted.iter().map(|v| *v as i64).collect()));
        assert_eq!(per[&4], all);
    }

    #[test]
    fn buckets_are_monotonic() {
        let mut last = 0;
        for v in (0..5000u32).chain([u32::MAX / 2, u32::MAX]) {
            assert!(bucket(v) >= last && bucket(v) < BUCKETS, "{v}");
            last = bucket(v);
        }
    }

    #[test]
    fn selection_agrees_with_sorting() {
        let mut x: u64 = 7;
        for n in 1..200usize {
            let values: Vec<i64> = (0..n)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
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

/// A log-scale bucket of a duration: below 64 s each second has its own bucket, above that
/// each power of two is split in 64. Monotonic, so ranks can be located bucket by bucket.
fn bucket(v: u32) -> usize {
    if v < 64 {
        v as usize
    } else {
        let b = 31 - v.leading_zeros();
        (((b - 5) as usize) << 6) | ((v >> (b - 6)) & 63) as usize
    }
}

const BUCKETS: usize = 27 << 6;

/// Where the three wanted ranks (both middles and the nearest-rank p90) fall in a
/// histogram: their bucket and their position inside it.
fn locate(hist: &[u32], n: usize) -> [(usize, usize); 3] {
    let p90_rank = ((0.9 * n as f64).ceil() as usize).clamp(1, n) - 1;
    let ranks = [(n - 1) / 2, n / 2, p90_rank];
    let mut at = [(usize::MAX, 0usize); 3];
    let mut before = 0usize;
    let mut next = 0;
    for (b, count) in hist.iter().enumerate() {
        let c = *count as usize;
        while next < 3 && before + c > ranks[next] {
            at[next] = (b, ranks[next] - before);
            next += 1;
        }
        if next == 3 {
            break;
        }
        before += c;
    }
    at
}

/// One list being summarised: its histogram, then the values of its wanted buckets.
struct Selection {
    n: usize,
    sum: u64,
    hist: Vec<u32>,
    at: [(usize, usize); 3],
    gathered: [Vec<u32>; 3],
}

impl Selection {
    fn new() -> Selection {
        Selection {
            n: 0,
            sum: 0,
            hist: vec![0; BUCKETS],
            at: [(usize::MAX, 0); 3],
            gathered: Default::default(),
        }
    }

    fn count(&mut self, values: &[u32]) {
        self.n += values.len();
        for &v in values {
            self.hist[bucket(v)] += 1;
            self.sum += v as u64;
        }
    }

    fn prepare(&mut self) {
        if self.n > 0 {
            self.at = locate(&self.hist, self.n);
        }
    }

    #[inline]
    fn offer(&mut self, b: usize, v: u32) {
        for i in 0..3 {
            if self.at[i].0 == b {
                self.gathered[i].push(v);
                return;
            }
        }
    }

    /// `None` when a wanted bucket gathered fewer values than its histogram counted.
    fn finish(mut self) -> Option<Summary> {
        if self.n == 0 {
            return Some(Summary::default());
        }
        let mut value = [0u32; 3];
        for (i, v) in value.iter_mut().enumerate() {
            // Ranks in the same bucket share the list gathered for the first of them.
            let src = (0..=i).find(|j| self.at[*j].0 == self.at[i].0).unwrap_or(i);
            let (bucket, within) = self.at[i];
            let gathered = &mut self.gathered[src];
            if bucket >= BUCKETS || gathered.len() != self.hist[bucket] as usize {
                return None;
            }
            *v = *gathered.select_nth_unstable(within).1;
        }
        Some(Summary {
            count: self.n,
            mean: Some(self.sum as f64 / self.n as f64),
            median: Some((value[0] as f64 + value[1] as f64) / 2.0),
            p90: Some(value[2] as f64),
        })
    }
}

/// Exact summaries of durations fed twice, overall and per person (0 = nobody, only
/// counted overall), never holding the durations themselves: the first pass (`count`)
/// builds each person's log-scale histogram and sum (the overall one is their sum);
/// `prepare` locates the wanted ranks; the second pass (`offer`, the same durations again)
/// keeps only the values in the buckets holding them, which `finish` selects exactly.
#[derive(Default)]
pub struct TwoPass {
    each: std::collections::BTreeMap<i64, Selection>,
    all: Option<Selection>,
}

impl TwoPass {
    /// First pass: durations of `person`.
    pub fn count(&mut self, person: i64, values: &[u32]) {
        self.each
            .entry(person)
            .or_insert_with(Selection::new)
            .count(values);
    }

    /// Between the passes.
    pub fn prepare(&mut self) {
        let mut all = Selection::new();
        for sel in self.each.values_mut() {
            all.n += sel.n;
            all.sum += sel.sum;
            for (t, c) in all.hist.iter_mut().zip(&sel.hist) {
                *t += c;
            }
            sel.prepare();
        }
        all.prepare();
        self.all = Some(all);
    }

    /// Second pass: the same durations of `person` as in the first.
    pub fn offer(&mut self, person: i64, values: &[u32]) {
        let (Some(sel), Some(all)) = (self.each.get_mut(&person), self.all.as_mut()) else {
            return;
        };
        for &v in values {
            let b = bucket(v);
            sel.offer(b, v);
            all.offer(b, v);
        }
    }

    /// The summary overall and per person (nobody left out). `None` if the second pass did
    /// not bring back, in a bucket holding a wanted rank, as many durations as the first
    /// counted there (the durations changed between them).
    pub fn finish(self) -> Option<(Summary, std::collections::BTreeMap<i64, Summary>)> {
        let all = match self.all {
            Some(all) => all.finish()?,
            None => Summary::default(),
        };
        let mut per = std::collections::BTreeMap::new();
        for (person, sel) in self.each {
            let summary = sel.finish()?;
            if person != 0 {
                per.insert(person, summary);
            }
        }
        Some((all, per))
    }
}

/// The same summary as `summarize`, exact, overall and per person (0 = nobody, only counted
/// overall), over durations held in slices (one per day and person) that are never copied
/// together (`TwoPass` over them).
pub fn summarize_groups(
    groups: &std::collections::BTreeMap<i64, Vec<&[u32]>>,
) -> (Summary, std::collections::BTreeMap<i64, Summary>) {
    let mut two = TwoPass::default();
    for (person, parts) in groups {
        for part in parts {
            two.count(*person, part);
        }
        if parts.is_empty() {
            two.count(*person, &[]);
        }
    }
    two.prepare();
    for (person, parts) in groups {
        for part in parts {
            two.offer(*person, part);
        }
    }
    // The same slices were offered as were counted: never `None`.
    two.finish().unwrap_or_default()
}

/// `summarize_groups` for one list held in slices.
pub fn summarize_parts(parts: &[&[u32]]) -> Summary {
    let mut groups = std::collections::BTreeMap::new();
    groups.insert(0, parts.to_vec());
    summarize_groups(&groups).0
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

/// The requesters' ratings of closes (1–5) in a period: how many, how many closes they could
/// have rated, the mean and how many of each score.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Csat {
    pub responses: i64,
    pub closes: i64,
    pub by_score: [i64; 5],
}

impl Csat {
    /// Adds ratings (scores outside 1–5 are not ratings and are skipped).
    pub fn add(&mut self, scores: &[u32]) {
        for s in scores {
            if (1..=5).contains(s) {
                self.by_score[(*s - 1) as usize] += 1;
                self.responses += 1;
            }
        }
    }

    pub fn mean(&self) -> Option<f64> {
        (self.responses > 0).then(|| {
            let total: i64 = self
                .by_score
                .iter()
                .enumerate()
                .map(|(i, n)| (i as i64 + 1) * n)
                .sum();
            total as f64 / self.responses as f64
        })
    }

    /// Responses per close rated or not, as a share (0–1).
    pub fn response_rate(&self) -> Option<f64> {
        (self.closes > 0).then(|| self.responses as f64 / self.closes as f64)
    }
}

#[cfg(test)]
mod csat_tests {
    use super::Csat;

    #[test]
    fn ratings_add_up() {
        let mut c = Csat {
            closes: 4,
            ..Csat::default()
        };
        c.add(&[5, 4, 9, 0]);
        c.add(&[2]);
        assert_eq!(c.responses, 3);
        assert_eq!(c.by_score, [0, 1, 0, 1, 1]);
        assert_eq!(c.mean(), Some(11.0 / 3.0));
        assert_eq!(c.response_rate(), Some(0.75));
        assert_eq!(Csat::default().mean(), None);
    }
}

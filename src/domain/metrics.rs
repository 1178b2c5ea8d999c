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

/// Mean, median and p90 (nearest-rank on the sorted list) of durations in seconds.
pub fn summarize(mut values: Vec<i64>) -> Summary {
    if values.is_empty() {
        return Summary::default();
    }
    values.sort_unstable();
    let n = values.len();
    let mean = values.iter().map(|v| *v as f64).sum::<f64>() / n as f64;
    let median = if n % 2 == 1 {
        values[n / 2] as f64
    } else {
        (values[n / 2 - 1] as f64 + values[n / 2] as f64) / 2.0
    };
    // Nearest rank: the smallest value with at least 90% of values at or below it.
    let rank = ((0.9 * n as f64).ceil() as usize).clamp(1, n);
    Summary {
        count: n,
        mean: Some(mean),
        median: Some(median),
        p90: Some(values[rank - 1] as f64),
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
}

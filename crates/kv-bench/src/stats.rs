//! Summaries of repeated runs (median and range) and latency percentiles.

/// The median and range of a figure over several runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The middle run (the mean of the two middle runs for an even count).
    pub median: f64,
    /// The lowest run.
    pub min: f64,
    /// The highest run.
    pub max: f64,
    /// How many runs.
    pub runs: usize,
}

impl Summary {
    /// Summarises `values` (at least one).
    pub fn of(values: &[f64]) -> Self {
        assert!(!values.is_empty(), "a summary needs at least one run");
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Self {
            median,
            min: v[0],
            max: v[n - 1],
            runs: n,
        }
    }

    /// One figure measured once.
    pub fn single(value: f64) -> Self {
        Self::of(&[value])
    }
}

/// The `p`-quantile (`0.0..=1.0`) of `sorted` (ascending, non-empty), nearest rank.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    assert!(!sorted.is_empty(), "a percentile needs at least one sample");
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of the run-by-run ratios `a[i] / b[i]` of two contenders whose runs
/// interleaved (run `i` of each taken back to back), or `None` unless both have the
/// same number of runs, at least three. A burst of load on a shared machine slows
/// both runs of a pair, so it skews this less than the ratio of the two medians.
pub fn paired_ratio(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 3 {
        return None;
    }
    let ratios: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    Some(Summary::of(&ratios).median)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_range() {
        let s = Summary::of(&[5.0, 1.0, 3.0, 9.0, 7.0]);
        assert_eq!((s.median, s.min, s.max, s.runs), (5.0, 1.0, 9.0, 5));
        assert_eq!(Summary::of(&[4.0, 2.0]).median, 3.0);
    }

    #[test]
    fn paired_ratio_is_the_median_of_the_pairs() {
        let r = paired_ratio(&[2.0, 8.0, 3.0], &[1.0, 10.0, 2.0]);
        assert_eq!(r, Some(1.5));
        assert_eq!(paired_ratio(&[2.0, 8.0], &[1.0, 10.0]), None);
        assert_eq!(paired_ratio(&[2.0, 8.0, 3.0], &[1.0, 10.0]), None);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&v, 0.5), 500);
        assert_eq!(percentile(&v, 0.99), 990);
        assert_eq!(percentile(&v, 0.999), 999);
        assert_eq!(percentile(&v, 1.0), 1000);
        assert_eq!(percentile(&[42], 0.999), 42);
    }
}

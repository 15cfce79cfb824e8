//! Zipf-distributed ranks from a precomputed CDF and binary search.

use crate::rng::Rng;

/// Draws ranks in `[0, n)` with `P(rank = k) ∝ 1 / (k + 1)^s`.
///
/// The cumulative distribution is precomputed once (8 bytes per rank), so a draw is
/// one uniform float and a binary search; streams are generated before the timed
/// loop, so the cost of drawing never shows in a measurement.
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n` ranks with exponent `s` (0 is uniform). `n` must be non-zero.
    pub fn new(n: usize, s: f64) -> Self {
        assert!(n > 0, "a Zipf distribution needs at least one rank");
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for k in 0..n {
            sum += 1.0 / ((k + 1) as f64).powf(s);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Self { cdf }
    }

    /// How many ranks there are.
    pub fn len(&self) -> usize {
        self.cdf.len()
    }

    /// Always false: a distribution has at least one rank.
    pub fn is_empty(&self) -> bool {
        self.cdf.is_empty()
    }

    /// One rank; rank 0 is the most popular.
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.next_f64();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn popular_ranks_come_first_in_the_expected_proportion() {
        let z = Zipf::new(1000, 1.0);
        let mut rng = Rng::new(42);
        let mut counts = vec![0u32; 1000];
        let draws = 200_000;
        for _ in 0..draws {
            counts[z.sample(&mut rng)] += 1;
        }
        // H(1000) ≈ 7.485, so rank 0 has p ≈ 0.1336 and rank 1 half of that.
        let p0 = f64::from(counts[0]) / draws as f64;
        assert!((p0 - 0.1336).abs() < 0.01, "p0 = {p0}");
        let ratio = f64::from(counts[0]) / f64::from(counts[1]);
        assert!((ratio - 2.0).abs() < 0.15, "ratio = {ratio}");
        assert!(counts[999] < counts[0] / 100);
    }

    #[test]
    fn exponent_zero_is_uniform() {
        let z = Zipf::new(4, 0.0);
        let mut rng = Rng::new(1);
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[z.sample(&mut rng)] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }
}

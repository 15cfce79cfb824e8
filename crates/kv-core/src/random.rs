//! The cheap per-thread random numbers that eviction sampling and the probabilistic
//! counters use: one wyrand stream per thread, seeded from std's OS-random hasher
//! keys (or by a test, which prints its seed).

use std::cell::Cell;
use std::hash::BuildHasher;

thread_local! {
    // Constant-initialised (no lazy-init check on each use); 0 means "not seeded yet".
    static RNG: Cell<u64> = const { Cell::new(0) };
}

#[cold]
fn seed() -> u64 {
    let state = std::collections::hash_map::RandomState::new();
    state.hash_one(std::thread::current().id()) | 1
}

/// A uniformly distributed `u64` from this thread's wyrand stream. Not for secrets:
/// it picks eviction samples and drives probabilistic counters.
#[inline]
pub(crate) fn random_u64() -> u64 {
    RNG.with(|s| {
        let mut state = s.get();
        if state == 0 {
            state = seed();
        }
        let x = state.wrapping_add(0xA076_1D64_78BD_642F);
        // A state that wraps to 0 would read as unseeded and be reseeded: harmless.
        s.set(x);
        let t = u128::from(x) * u128::from(x ^ 0xE703_7ED1_A0B4_28DB);
        (t >> 64) as u64 ^ t as u64
    })
}

/// A uniformly distributed index below `n` (`n > 0`).
pub(crate) fn random_below(n: usize) -> usize {
    ((random_u64() as u128 * n as u128) >> 64) as usize
}

/// Seeds this thread's stream for a statistical test, from `KV_TEST_SEED` or else at
/// random, and prints the seed (the test harness shows it when the test fails).
/// Returns it, for a test that seeds a cache's hasher too.
#[cfg(test)]
pub(crate) fn seed_for_test() -> u64 {
    let seed = match std::env::var("KV_TEST_SEED") {
        Ok(s) => s.parse().expect("KV_TEST_SEED is a u64"),
        Err(_) => seed(),
    };
    println!("random seed {seed} (rerun with KV_TEST_SEED={seed})");
    RNG.with(|s| s.set(seed.max(1)));
    seed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_below_stays_in_range_and_covers_it() {
        seed_for_test();
        let mut seen = [false; 8];
        for _ in 0..1000 {
            seen[random_below(8)] = true;
        }
        // Each of 8 values missed by 1000 draws: odds 8 * (7/8)^1000, about 1e-57.
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn a_seed_repeats_the_stream() {
        let draw = || (0..4).map(|_| random_u64()).collect::<Vec<_>>();
        RNG.with(|s| s.set(42));
        let a = draw();
        RNG.with(|s| s.set(42));
        assert_eq!(draw(), a);
    }
}

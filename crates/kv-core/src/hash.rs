//! Hashing (keyed, seeded per process) and the cheap per-thread random numbers that
//! sampling and the probabilistic counters use.

use std::cell::Cell;
use std::hash::BuildHasher;

/// The keyed hasher: foldhash with a random per-process seed, so a caller cannot pick
/// keys that collide (no HashDoS). One hash per operation chooses both the shard and
/// the bucket inside it.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyHasher(foldhash::fast::RandomState);

impl KeyHasher {
    #[inline]
    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        self.0.hash_one(key)
    }
}

/// The shard a hash belongs to. Uses bits 32.. of the hash: the shard's index takes
/// the home slot from the low 32 bits and its tag from the top 7, so the three stay
/// independent.
#[inline]
pub(crate) fn shard_of(hash: u64, mask: usize) -> usize {
    (hash >> 32) as usize & mask
}

thread_local! {
    // Constant-initialised (no lazy-init check on each use); 0 means "not seeded yet".
    static RNG: Cell<u64> = const { Cell::new(0) };
}

#[cold]
fn seed() -> u64 {
    let state = std::collections::hash_map::RandomState::new();
    state.hash_one(std::thread::current().id()) | 1
}

/// A uniformly distributed `u64` from a per-thread wyrand stream. Not for secrets:
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_is_stable_within_a_hasher_and_keyed_across_hashers() {
        let a = KeyHasher::default();
        assert_eq!(a.hash(b"k"), a.hash(b"k"));
        assert_ne!(a.hash(b"k"), a.hash(b"l"));
        // Two hashers are seeded differently (per instance and per process).
        let b = KeyHasher::default();
        let differ = (0..16u8).any(|i| a.hash(&[i]) != b.hash(&[i]));
        assert!(differ);
    }

    #[test]
    fn random_below_stays_in_range_and_covers_it() {
        let mut seen = [false; 8];
        for _ in 0..1000 {
            let i = random_below(8);
            seen[i] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}

//! Key hashing: keyed, with a random seed per cache, so that a caller cannot pick keys
//! that collide (no HashDoS). One hash per operation chooses the shard, the home
//! group in the shard's table and the tag.

use std::hash::{BuildHasher, Hasher};

use foldhash::fast::SeedableRandomState;
use foldhash::SharedSeed;

/// The keyed hasher: foldhash with random seeds (per cache and per process).
#[derive(Clone, Debug)]
pub(crate) struct KeyHasher(SeedableRandomState);

impl Default for KeyHasher {
    fn default() -> Self {
        KeyHasher(SeedableRandomState::random())
    }
}

impl KeyHasher {
    /// A hasher whose hashes depend on `seed` only (tests that replay a layout).
    pub(crate) fn seeded(seed: u64) -> Self {
        KeyHasher(SeedableRandomState::with_seed(
            seed,
            SharedSeed::global_fixed(),
        ))
    }

    /// The key's hash: its bytes written once, without the length prefix that
    /// `Hash for [u8]` adds (one key per hash, and foldhash mixes the length into
    /// the bytes' hash itself), which saves a multiplication.
    #[inline]
    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        let mut h = self.0.build_hasher();
        h.write(key);
        h.finish()
    }
}

/// The shard a hash belongs to. Uses bits 32.. of the hash: the shard's index takes
/// the home slot from the low 32 bits and its tag from the top 7, so the three stay
/// independent.
#[inline]
pub(crate) fn shard_of(hash: u64, mask: usize) -> usize {
    (hash >> 32) as usize & mask
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
    fn a_seeded_hasher_repeats_its_hashes() {
        assert_eq!(
            KeyHasher::seeded(7).hash(b"k"),
            KeyHasher::seeded(7).hash(b"k")
        );
        assert_ne!(
            KeyHasher::seeded(7).hash(b"k"),
            KeyHasher::seeded(8).hash(b"k")
        );
    }
}

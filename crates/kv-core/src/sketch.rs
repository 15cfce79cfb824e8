//! The admission filter of [`EvictionPolicy::TinyLfu`](crate::EvictionPolicy): a
//! count-min sketch of how often each key was accessed lately (TinyLFU, as in
//! Caffeine), consulted when a new key needs the room of an eviction victim.
//!
//! Layout: 4-bit counters, sixteen to a `u64` word, in blocks of eight words (one
//! cache line). A key's four counters (the sketch's depth) lie in one block: row `i`
//! takes one of words `2i` and `2i + 1`, and one of its sixteen nibbles, so a record
//! or an estimate costs one cache miss. Counters saturate at 15; after a sample of
//! ten accesses per entry of capacity every counter is halved, so the sketch forgets
//! old popularity.
//!
//! Size: one word per entry of capacity, rounded down to whole blocks (at least one):
//! at most 8 bytes per entry, and 64 bytes for a cache of fewer than eight entries.
//! The sketch is allocated when the cache first fills, from the number of entries it
//! holds then: the entry limit, or what the byte budget admitted. A cache that never
//! evicts never allocates it.
//!
//! Concurrency: reads record under their shard's shared lock, so the words are
//! atomics, updated with a relaxed load and store (no read-modify-write): two threads
//! racing on one word may lose an increment, which an estimate of popularity can
//! afford. A saturated counter is only loaded, so hot keys do not bounce cache lines
//! between readers.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;

use crossbeam_utils::CachePadded;

use crate::random::random_u64;

/// Words per block: one cache line.
const BLOCK_WORDS: usize = 8;
/// Halves every counter (each nibble shifted right, the bit that crossed into the
/// nibble below cleared).
const RESET_MASK: u64 = 0x7777_7777_7777_7777;
/// Accesses between two halvings, per entry of capacity (Caffeine takes 10; 15
/// measured better on the hit-ratio traces of `cargo xtask bench`, with conservative
/// update, whose counters grow more slowly).
const SAMPLE_PER_ENTRY: u64 = 15;
/// A candidate at least this popular that is not more popular than its victim is
/// still admitted one time in [`TIE_ODDS`], so that an attacker who makes a victim
/// look popular (by colliding its counters) cannot keep every new key out; below it,
/// a tie refuses (Caffeine's rule).
const TIE_THRESHOLD: u8 = 6;
/// See [`TIE_THRESHOLD`].
const TIE_ODDS: u64 = 128;

/// The frequency sketch.
pub(crate) struct Sketch {
    words: Box<[AtomicU64]>,
    blocks: u64,
    /// Recorded accesses that moved a counter since the last halving (half the
    /// sample just after one).
    additions: CachePadded<AtomicU64>,
    sample: u64,
}

/// A key's four counters: per row, the word's index and the nibble's shift.
type Slots = [(usize, u32); 4];

impl Sketch {
    /// The words a sketch for `capacity` entries takes (8 bytes each).
    pub(crate) fn words_for(capacity: usize) -> usize {
        (capacity / BLOCK_WORDS).max(1) * BLOCK_WORDS
    }

    /// An empty sketch for a cache of `capacity` entries.
    pub(crate) fn new(capacity: usize) -> Self {
        let words = Self::words_for(capacity);
        Sketch {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            blocks: (words / BLOCK_WORDS) as u64,
            additions: CachePadded::new(AtomicU64::new(0)),
            sample: (capacity.max(1) as u64).saturating_mul(SAMPLE_PER_ENTRY),
        }
    }

    /// Bytes allocated for the counters.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.words)
    }

    /// Where `hash`'s counters lie. The key hash's bits already choose the shard,
    /// the table's group and the tag, so they are mixed again first (the finaliser of
    /// splitmix64): the sketch's positions stay independent of those.
    #[inline]
    fn slots(&self, hash: u64) -> Slots {
        let mut x = hash ^ (hash >> 30);
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 27;
        x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        let block = (((x as u32 as u64) * self.blocks) >> 32) as usize * BLOCK_WORDS;
        let mut slots = [(0, 0); 4];
        for (i, s) in slots.iter_mut().enumerate() {
            // Five bits per row from the high half: one picks the word, four the
            // nibble.
            let bits = (x >> (32 + 5 * i)) as usize;
            *s = (block + 2 * i + (bits & 1), ((bits >> 1) & 15) as u32 * 4);
        }
        slots
    }

    /// Counts one access of the key with this hash, by conservative update: only
    /// the key's smallest counters step (the others already count more, from keys
    /// that share them), which keeps the estimates of rare keys, those admission
    /// decides on, much closer to the truth.
    #[inline]
    pub(crate) fn record(&self, hash: u64) {
        let slots = self.slots(hash);
        let words = slots.map(|(w, _)| self.words[w].load(Relaxed));
        let counts: [u64; 4] = std::array::from_fn(|i| (words[i] >> slots[i].1) & 15);
        let min = counts.iter().copied().min().unwrap_or(15);
        if min == 15 {
            return;
        }
        for i in 0..4 {
            if counts[i] == min {
                self.words[slots[i].0].store(words[i] + (1 << slots[i].1), Relaxed);
            }
        }
        if self.additions.fetch_add(1, Relaxed) + 1 == self.sample {
            self.halve();
        }
    }

    /// How often the key with this hash was accessed lately: 0 to 15.
    pub(crate) fn frequency(&self, hash: u64) -> u8 {
        self.slots(hash)
            .into_iter()
            .map(|(w, shift)| ((self.words[w].load(Relaxed) >> shift) & 15) as u8)
            .min()
            .unwrap_or(0)
    }

    /// Halves every counter, so that the sketch ages: done by the access that
    /// completes a sample (one thread: the count passes the sample once).
    #[cold]
    fn halve(&self) {
        for word in self.words.iter() {
            let v = word.load(Relaxed);
            if v != 0 {
                word.store((v >> 1) & RESET_MASK, Relaxed);
            }
        }
        self.additions.store(self.sample / 2, Relaxed);
    }

    /// Whether a new key with hash `candidate` may take the place of the entry with
    /// hash `victim`: only if it was accessed more often lately (or, rarely, as often
    /// and popular: see [`TIE_THRESHOLD`]).
    pub(crate) fn admits(&self, candidate: u64, victim: u64) -> bool {
        let (c, v) = (self.frequency(candidate), self.frequency(victim));
        c > v || (c >= TIE_THRESHOLD && random_u64() % TIE_ODDS == 0)
    }
}

/// The sketch of a cache under the TinyLFU policy, allocated when it first fills.
#[derive(Default)]
pub(crate) struct Admission {
    sketch: OnceLock<Sketch>,
}

impl Admission {
    /// The sketch, if the cache has filled.
    #[inline]
    pub(crate) fn sketch(&self) -> Option<&Sketch> {
        self.sketch.get()
    }

    /// Counts an access of the key with this hash, once the cache has filled (until
    /// then nothing is recorded: the first eviction starts from an empty sketch).
    #[inline]
    pub(crate) fn record(&self, hash: u64) {
        if let Some(s) = self.sketch.get() {
            s.record(hash);
        }
    }

    /// The sketch, allocated now for `capacity` entries if this is the first time
    /// the cache is full.
    pub(crate) fn filled(&self, capacity: usize) -> &Sketch {
        self.sketch.get_or_init(|| Sketch::new(capacity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::seed_for_test;

    #[test]
    fn the_sketch_takes_at_most_8_bytes_per_entry_of_capacity() {
        for capacity in [8, 9, 15, 16, 100, 1000, 4096, 10_007, 1 << 20] {
            let s = Sketch::new(capacity);
            assert_eq!(s.bytes(), Sketch::words_for(capacity) * 8);
            assert!(s.bytes() <= 8 * capacity, "{capacity}: {} B", s.bytes());
            assert!(s.bytes() > 8 * capacity - 64, "{capacity}: {} B", s.bytes());
        }
        // Below one block, one block.
        for capacity in [0, 1, 7] {
            assert_eq!(Sketch::new(capacity).bytes(), 64);
        }
    }

    #[test]
    fn counts_saturate_and_halve() {
        let s = Sketch::new(1000);
        assert_eq!(s.frequency(42), 0);
        for n in 1..=20u8 {
            s.record(42);
            assert_eq!(s.frequency(42), n.min(15));
        }
        s.halve();
        assert_eq!(s.frequency(42), 7);
        // The slots of a key are four distinct counters of one block.
        let slots = s.slots(42);
        let block = slots[0].0 / BLOCK_WORDS;
        for (i, &(w, shift)) in slots.iter().enumerate() {
            assert_eq!(w / BLOCK_WORDS, block);
            assert_eq!(w % BLOCK_WORDS / 2, i);
            assert!(shift < 64 && shift % 4 == 0);
        }
    }

    #[test]
    fn a_sample_of_accesses_halves_the_counts() {
        let capacity = 64;
        let s = Sketch::new(capacity);
        for _ in 0..8 {
            s.record(7);
        }
        assert_eq!(s.frequency(7), 8);
        // Other keys' accesses complete the sample of 640 additions.
        let mut h = 0u64;
        while s.additions.load(Relaxed) != 0 && s.frequency(7) == 8 {
            h += 1;
            s.record(h.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            assert!(h < 10_000);
        }
        assert!(s.frequency(7) <= 4, "{}", s.frequency(7));
        assert_eq!(s.additions.load(Relaxed), s.sample / 2);
    }

    #[test]
    fn estimates_err_only_upward_and_rarely_by_much() {
        // 1000 keys with known counts (0 to 15) in a sketch for 1000 entries: no
        // estimate is below the truth; few are far above it.
        let seed = seed_for_test();
        let s = Sketch::new(1000);
        let hash = |k: u64| {
            (k ^ seed)
                .wrapping_mul(0xD6E8_FEB8_6659_FD93)
                .rotate_left(29)
        };
        for k in 0..1000u64 {
            for _ in 0..k % 16 {
                s.record(hash(k));
            }
        }
        let mut off = 0;
        for k in 0..1000u64 {
            let f = s.frequency(hash(k));
            assert!(u64::from(f) >= k % 16, "key {k}: {f}");
            if u64::from(f) > k % 16 + 2 {
                off += 1;
            }
        }
        assert!(
            off < 50,
            "{off} of 1000 estimates more than 2 above the truth"
        );
    }

    #[test]
    fn admission_prefers_the_more_popular_and_ties_refuse() {
        seed_for_test();
        let s = Sketch::new(1000);
        let (hot, cold) = (1u64 << 40 | 3, 5u64 << 50 | 11);
        for _ in 0..3 {
            s.record(hot);
        }
        s.record(cold);
        assert!(s.admits(hot, cold));
        assert!(!s.admits(cold, hot));
        assert!(!s.admits(cold, cold));
        // Popular ties are admitted about one time in 128.
        for _ in 0..10 {
            s.record(hot);
        }
        let admitted = (0..12_800).filter(|_| s.admits(hot, hot)).count();
        assert!((40..200).contains(&admitted), "{admitted}");
    }
}

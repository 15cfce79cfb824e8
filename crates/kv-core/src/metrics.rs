//! Counters and [`MetricsSnapshot`]. Each thread counts into counters of its own (a
//! `thread_local::ThreadLocal` per cache, each padded to a cache line), so two threads
//! never count into the same line whatever shard their keys fall in; a snapshot sums
//! them.
//!
//! A thread's counters have one writer, that thread (the crate hands a thread's entry
//! to a later thread only after the first has exited, through a lock that orders the
//! two), so a count is a plain load and store: no locked instruction on the read path.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crossbeam_utils::CachePadded;
use thread_local::ThreadLocal;

#[derive(Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    sets: AtomicU64,
    deletes: AtomicU64,
    evictions: AtomicU64,
    expirations: AtomicU64,
}

/// This thread's counters of one cache.
#[derive(Clone, Copy)]
pub(crate) struct Local<'a> {
    counters: &'a Counters,
}

impl Local<'_> {
    #[inline]
    fn bump(self, counter: &AtomicU64, n: u64) {
        // The only writer: a plain read-modify-write cannot lose a count.
        counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
    }

    #[inline]
    pub(crate) fn hits(self, n: u64) {
        self.bump(&self.counters.hits, n);
    }

    #[inline]
    pub(crate) fn misses(self, n: u64) {
        self.bump(&self.counters.misses, n);
    }

    pub(crate) fn sets(self, n: u64) {
        self.bump(&self.counters.sets, n);
    }

    pub(crate) fn deletes(self, n: u64) {
        self.bump(&self.counters.deletes, n);
    }

    pub(crate) fn evictions(self, n: u64) {
        self.bump(&self.counters.evictions, n);
    }

    pub(crate) fn expirations(self, n: u64) {
        self.bump(&self.counters.expirations, n);
    }
}

#[derive(Default)]
pub(crate) struct Metrics {
    per_thread: ThreadLocal<CachePadded<Counters>>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Metrics::default()
    }

    /// This thread's counters.
    #[inline]
    pub(crate) fn local(&self) -> Local<'_> {
        Local {
            counters: self.per_thread.get_or_default(),
        }
    }

    pub(crate) fn snapshot(&self, entries: u64, bytes: u64) -> MetricsSnapshot {
        let mut m = MetricsSnapshot {
            entries,
            bytes,
            ..MetricsSnapshot::default()
        };
        for s in self.per_thread.iter() {
            m.hits += s.hits.load(Relaxed);
            m.misses += s.misses.load(Relaxed);
            m.sets += s.sets.load(Relaxed);
            m.deletes += s.deletes.load(Relaxed);
            m.evictions += s.evictions.load(Relaxed);
            m.expirations += s.expirations.load(Relaxed);
        }
        m
    }
}

/// The cache's counters at one moment (each read atomically; the set of them not).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Reads (`get` and the lookup of `get_or_insert_with`) that found a live entry.
    pub hits: u64,
    /// Reads that found nothing or an expired entry.
    pub misses: u64,
    /// Successful writes of a value (`set`, `insert`, batch puts, computed inserts).
    pub sets: u64,
    /// Deletes that removed a live entry (`delete`, `remove`, `remove_if_version`,
    /// batch deletes).
    pub deletes: u64,
    /// Entries evicted to make room.
    pub evictions: u64,
    /// Expired entries removed (lazily or by `purge_expired`).
    pub expirations: u64,
    /// Conditional writes refused because their condition did not hold (they changed
    /// nothing): `set_with`, `delete_if` or `expire_if` on a present key.
    pub refused: u64,
    /// Entries held, including expired ones not yet removed.
    pub entries: u64,
    /// Bytes held: key and value bytes, or the entries' memory (`Options::byte_count`).
    pub bytes: u64,
}

impl MetricsSnapshot {
    /// `hits / (hits + misses)`, or 0 before the first read.
    pub fn hit_ratio(&self) -> f64 {
        let reads = self.hits + self.misses;
        if reads == 0 {
            0.0
        } else {
            self.hits as f64 / reads as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_sums_the_counters_of_all_threads() {
        let m = Metrics::new();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        m.local().hits(1);
                    }
                    m.local().misses(1000);
                });
            }
        });
        let snap = m.snapshot(3, 4);
        assert_eq!(snap.hits, 4000);
        assert_eq!(snap.misses, 4000);
        assert_eq!(snap.entries, 3);
        assert_eq!(snap.bytes, 4);
        assert!((snap.hit_ratio() - 0.5).abs() < 1e-9);
        assert_eq!(MetricsSnapshot::default().hit_ratio(), 0.0);
    }

    #[test]
    fn no_count_is_lost_with_many_live_threads_or_reused_entries() {
        const EXCLUSIVE: usize = 64;
        let m = Metrics::new();
        let live = EXCLUSIVE + 36;
        let barrier = std::sync::Barrier::new(live);
        // All alive at once.
        std::thread::scope(|s| {
            for _ in 0..live {
                s.spawn(|| {
                    m.local().sets(1);
                    barrier.wait();
                    for _ in 0..2000 {
                        m.local().hits(1);
                        m.local().deletes(2);
                    }
                });
            }
        });
        // One after another: exited threads' entries are handed on.
        for _ in 0..3 * EXCLUSIVE {
            std::thread::scope(|s| {
                s.spawn(|| m.local().evictions(5));
            });
        }
        let snap = m.snapshot(0, 0);
        assert_eq!(snap.sets, live as u64);
        assert_eq!(snap.hits, 2000 * live as u64);
        assert_eq!(snap.deletes, 4000 * live as u64);
        assert_eq!(snap.evictions, 15 * EXCLUSIVE as u64);
    }
}

//! Counters and [`MetricsSnapshot`]. Counters are striped by thread and padded to a
//! cache line each, so two threads never count into the same line (whatever shard
//! their keys fall in); a snapshot sums the stripes.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crossbeam_utils::CachePadded;

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) sets: AtomicU64,
    pub(crate) deletes: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) expirations: AtomicU64,
}

impl Counters {
    #[inline]
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Relaxed);
        }
    }
}

pub(crate) struct Metrics {
    stripes: Box<[CachePadded<Counters>]>,
}

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Relaxed);
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let n = (cores * 2).next_power_of_two().clamp(2, 64);
        Metrics {
            stripes: (0..n)
                .map(|_| CachePadded::new(Counters::default()))
                .collect(),
        }
    }

    /// This thread's stripe.
    #[inline]
    pub(crate) fn local(&self) -> &Counters {
        let i = STRIPE.with(|s| *s) & (self.stripes.len() - 1);
        &self.stripes[i]
    }

    pub(crate) fn snapshot(&self, entries: u64, bytes: u64) -> MetricsSnapshot {
        let mut m = MetricsSnapshot {
            entries,
            bytes,
            ..MetricsSnapshot::default()
        };
        for s in self.stripes.iter() {
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
    /// Entries held, including expired ones not yet removed.
    pub entries: u64,
    /// Key and value bytes held.
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
    fn snapshot_sums_the_stripes_of_all_threads() {
        let m = Metrics::new();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        Counters::add(&m.local().hits, 1);
                    }
                    Counters::add(&m.local().misses, 1000);
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
}

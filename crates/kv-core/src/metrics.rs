//! Counters and [`MetricsSnapshot`]. Counters are striped by thread and padded to a
//! cache line each, so two threads never count into the same line (whatever shard
//! their keys fall in); a snapshot sums the stripes.
//!
//! Each live thread that counts holds a slot number of its own (handed back when the
//! thread exits), and slot `i` counts into stripe `i`. A stripe thus has one writer at
//! a time, which bumps it with a plain load and store: no locked instruction on the
//! read path, which would stall the memory accesses around it. Threads beyond
//! [`EXCLUSIVE`] live at once share one last stripe and count into it atomically.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use crossbeam_utils::CachePadded;

/// Stripes with a single writer each; one more is shared by any further threads.
const EXCLUSIVE: usize = 64;

#[derive(Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    sets: AtomicU64,
    deletes: AtomicU64,
    evictions: AtomicU64,
    expirations: AtomicU64,
}

/// This thread's stripe of one cache's counters.
#[derive(Clone, Copy)]
pub(crate) struct Local<'a> {
    counters: &'a Counters,
    /// Whether this thread is the stripe's only writer.
    exclusive: bool,
}

impl Local<'_> {
    #[inline]
    fn bump(self, counter: &AtomicU64, n: u64) {
        if n == 0 {
            return;
        }
        if self.exclusive {
            // The only writer: a plain read-modify-write cannot lose a count.
            counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
        } else {
            counter.fetch_add(n, Relaxed);
        }
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

pub(crate) struct Metrics {
    /// `EXCLUSIVE` single-writer stripes, then the shared one.
    stripes: Box<[CachePadded<Counters>]>,
}

/// No slot yet.
const UNSET: usize = usize::MAX;

/// Slot numbers handed back by exited threads.
static FREE_SLOTS: Mutex<Vec<usize>> = Mutex::new(Vec::new());
/// The next never-used slot number.
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Constant-initialised, so reading it is a plain load.
    static SLOT: Cell<usize> = const { Cell::new(UNSET) };
    // Hands the slot back when the thread exits.
    static HOLDER: SlotHolder = const { SlotHolder };
}

struct SlotHolder;

impl Drop for SlotHolder {
    fn drop(&mut self) {
        // From here on this thread counts into the shared stripe.
        let slot = SLOT.with(|s| s.replace(EXCLUSIVE));
        if slot < EXCLUSIVE {
            // The mutex orders this thread's last counts before the next holder's.
            FREE_SLOTS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(slot);
        }
    }
}

/// This thread's slot, taking one on first use: a small number that no other live
/// thread has (below 64) or that threads beyond the 64th share (64). It picks this
/// thread's metrics stripe and shard-lock stripe.
#[inline]
pub(crate) fn thread_slot() -> usize {
    let slot = SLOT.with(Cell::get);
    if slot != UNSET {
        return slot;
    }
    take_slot()
}

#[cold]
fn take_slot() -> usize {
    // Register the holder first: if the thread is already exiting, it cannot hold a
    // slot, and counts into the shared stripe.
    if HOLDER.try_with(|_| ()).is_err() {
        return EXCLUSIVE;
    }
    let freed = FREE_SLOTS.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let slot = freed.unwrap_or_else(|| NEXT_SLOT.fetch_add(1, Relaxed).min(EXCLUSIVE));
    SLOT.with(|s| s.set(slot));
    slot
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Metrics {
            stripes: (0..=EXCLUSIVE)
                .map(|_| CachePadded::new(Counters::default()))
                .collect(),
        }
    }

    /// This thread's stripe.
    #[inline]
    pub(crate) fn local(&self) -> Local<'_> {
        self.local_at(thread_slot())
    }

    /// The stripe of the thread whose slot is `slot` (from [`thread_slot`]).
    #[inline]
    pub(crate) fn local_at(&self, slot: usize) -> Local<'_> {
        Local {
            counters: &self.stripes[slot.min(EXCLUSIVE)],
            exclusive: slot < EXCLUSIVE,
        }
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
    fn no_count_is_lost_with_more_live_threads_than_stripes_or_reused_slots() {
        let m = Metrics::new();
        let live = EXCLUSIVE + 36;
        let barrier = std::sync::Barrier::new(live);
        // All alive at once: some share the last stripe, counting atomically.
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
        // One after another: exited threads' slots are handed on.
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

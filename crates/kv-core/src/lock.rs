//! The shard lock: a reader-writer lock whose readers count on cache lines of their
//! own, so that two threads reading the same shard do not pass a line back and forth.
//!
//! `parking_lot::RwLock` keeps its reader count in one word. Every read locks and
//! unlocks with a locked instruction on that word, and when two cores read the same
//! shard, which under a skewed key distribution they do all the time, each of those
//! instructions first has to fetch the line from the other core. Here a reader
//! increments a counter in one of several padded stripes, chosen by its thread, and
//! then checks a writer flag that only writers store to, so between writes the flag's
//! line stays shared by every reader's cache. A writer raises the flag and waits for
//! every stripe to drain (the design of `crossbeam_utils::sync::ShardedLock` and of
//! per-CPU reader-writer semaphores, with a plain flag instead of a lock per stripe so
//! that a write pays one locked instruction and a few loads instead of a lock and an
//! unlock per stripe).
//!
//! Reads are not recursive: a thread that holds a read lock and asks for it again
//! while a writer waits deadlocks, as with `parking_lot`. Nothing in this crate does.
//!
//! Every atomic access here is `SeqCst`. Entering needs it (a reader's count and a
//! writer's flag form a Dekker pair); leaving would need only release, but on x86 a
//! `SeqCst` decrement is the same instruction. With release decrements and twelve
//! readers on four stripes, Miri's weak-memory emulation (May 2026 nightly) reported
//! a race; we did not find the execution of the C++20 model that allows it (Miri has
//! had such SeqCst corner cases, rust-lang/miri#5104), and with every access `SeqCst`
//! it finds none over 8 seeds. The tests below run under Miri:
//! `cargo +nightly miri test -p kv-core --lib lock::tests`.
//!
//! This is the crate's only module with `unsafe` code: the guards hand out the data
//! in an `UnsafeCell` under the exclusion the counters and the flag provide.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::OnceLock;

use crossbeam_utils::{Backoff, CachePadded};
use parking_lot::{Mutex, MutexGuard};

/// How many reader stripes each lock has: the cores, as a power of two, from 4 to 64.
/// Threads beyond that share stripes (still correct, just contended again).
fn stripes() -> usize {
    static STRIPES: OnceLock<usize> = OnceLock::new();
    *STRIPES.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        cores.next_power_of_two().clamp(4, 64)
    })
}

/// A reader-writer lock with striped reader counts (see the module docs).
pub(crate) struct StripedRwLock<T> {
    /// What only writers change, on a line of its own that readers keep shared.
    control: CachePadded<Control>,
    /// Readers inside, per stripe; a thread always uses the same stripe.
    readers: Box<[CachePadded<AtomicUsize>]>,
    data: UnsafeCell<T>,
}

struct Control {
    /// Raised by a writer from before it waits for the readers until it unlocks.
    writer: AtomicBool,
    /// Held by the writer; a reader that meets a writer waits here for it to finish.
    gate: Mutex<()>,
}

// SAFETY: the lock hands out `&T` to several threads at once only under read locks and
// `&mut T` to one thread only under the write lock, which excludes every reader (see
// `read` and `write`): the same bounds as `std::sync::RwLock`.
unsafe impl<T: Send> Send for StripedRwLock<T> {}
// SAFETY: as above; shared `&T` across threads needs `T: Sync`, handing the `T` to
// the writing thread needs `T: Send`.
unsafe impl<T: Send + Sync> Sync for StripedRwLock<T> {}

impl<T: Default> Default for StripedRwLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> StripedRwLock<T> {
    pub(crate) fn new(data: T) -> Self {
        StripedRwLock {
            control: CachePadded::new(Control {
                writer: AtomicBool::new(false),
                gate: Mutex::new(()),
            }),
            readers: (0..stripes())
                .map(|_| CachePadded::new(AtomicUsize::new(0)))
                .collect(),
            data: UnsafeCell::new(data),
        }
    }

    /// Locks shared. Waits while a writer holds the lock or waits for readers.
    #[inline]
    pub(crate) fn read(&self) -> ReadGuard<'_, T> {
        self.read_in(crate::metrics::thread_slot())
    }

    /// [`read`](Self::read) for a caller that already has its thread's slot
    /// (`metrics::thread_slot`), which picks the reader stripe.
    #[inline]
    pub(crate) fn read_in(&self, slot: usize) -> ReadGuard<'_, T> {
        let stripe = &self.readers[slot & (self.readers.len() - 1)];
        // Announce the reader, then look for a writer. Both are `SeqCst`, as are the
        // writer's store of its flag and its loads of the counts: in their single
        // order, either this increment comes before the writer's load of this stripe
        // (the writer waits for it) or the writer's store comes before this load (the
        // reader backs off). The flag's load also acquires the last writer's release
        // of it, and with it the data.
        stripe.fetch_add(1, SeqCst);
        if !self.control.writer.load(SeqCst) {
            return ReadGuard { lock: self, stripe };
        }
        stripe.fetch_sub(1, SeqCst);
        self.read_slow(stripe)
    }

    /// A read that met a writer: it waits at the gate, and enters while holding it.
    /// No writer is inside then (a writer holds the gate from before it raises its
    /// flag until after it lowers it), and the next writer, which takes the gate
    /// after this reader, sees its count; so this reader cannot be turned away
    /// again.
    #[cold]
    fn read_slow<'a>(&'a self, stripe: &'a AtomicUsize) -> ReadGuard<'a, T> {
        let gate = self.control.gate.lock();
        stripe.fetch_add(1, SeqCst);
        drop(gate);
        ReadGuard { lock: self, stripe }
    }

    /// Locks exclusive. Waits for the writer before it and for the readers inside.
    pub(crate) fn write(&self) -> WriteGuard<'_, T> {
        let gate = self.control.gate.lock();
        self.control.writer.store(true, SeqCst);
        for stripe in self.readers.iter() {
            let backoff = Backoff::new();
            // The readers' releases of their counts happen before this thread's
            // changes to the data.
            while stripe.load(SeqCst) != 0 {
                backoff.snooze();
            }
        }
        WriteGuard {
            lock: self,
            _gate: gate,
        }
    }
}

/// A shared lock on a [`StripedRwLock`]; unlocks when dropped.
pub(crate) struct ReadGuard<'a, T> {
    lock: &'a StripedRwLock<T>,
    stripe: &'a AtomicUsize,
}

impl<T> Deref for ReadGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: this guard's count keeps writers out (a writer waits for it to drop
        // to zero before touching the data, and readers do not enter while the
        // writer's flag is up), so only shared borrows of the data exist.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> Drop for ReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // This reader's reads of the data happen before a waiting writer's changes
        // (release; `SeqCst` like every access of this lock, see the module docs).
        self.stripe.fetch_sub(1, SeqCst);
    }
}

/// An exclusive lock on a [`StripedRwLock`]; unlocks when dropped.
pub(crate) struct WriteGuard<'a, T> {
    lock: &'a StripedRwLock<T>,
    _gate: MutexGuard<'a, ()>,
}

impl<T> Deref for WriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard holds the gate (no other writer) and saw every reader
        // count at zero with the flag raised (no reader inside or entering), so the
        // data is borrowed through this guard only.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only borrow through the
        // guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for WriteGuard<'_, T> {
    fn drop(&mut self) {
        // Lower the flag before opening the gate (the field drops after this), so a
        // reader released by the gate finds the lock free. The changes to the data
        // happen before the next reader that sees the flag down (release; `SeqCst`
        // like every access of this lock, see the module docs).
        self.lock.control.writer.store(false, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::Arc;

    #[test]
    fn readers_share_and_a_writer_excludes_them() {
        let lock = StripedRwLock::new(5);
        {
            let a = lock.read();
            let b = lock.read();
            assert_eq!(*a + *b, 10);
        }
        *lock.write() += 1;
        assert_eq!(*lock.read(), 6);
    }

    #[test]
    fn a_writer_waits_for_a_reader_inside() {
        let lock = Arc::new(StripedRwLock::new(0u64));
        let reader = lock.read();
        let wrote = Arc::new(AtomicBool::new(false));
        let writer = {
            let (lock, wrote) = (Arc::clone(&lock), Arc::clone(&wrote));
            std::thread::spawn(move || {
                *lock.write() = 1;
                wrote.store(true, SeqCst);
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!wrote.load(SeqCst), "the writer got in past a reader");
        assert_eq!(*reader, 0);
        drop(reader);
        writer.join().unwrap();
        assert_eq!(*lock.read(), 1);
    }

    /// Writes per writer: Miri (`cargo +nightly miri test -p kv-core --lib lock`),
    /// which checks these accesses for data races, runs far slower.
    const WRITES: u64 = if cfg!(miri) { 50 } else { 5_000 };
    const READS: u64 = if cfg!(miri) { 20 } else { 1000 };

    /// Writers keep two halves equal; readers must never see them differ, and no
    /// write may be lost. Twelve readers live at once: more than the stripes of a
    /// machine of up to 8 cores, so some share a stripe.
    #[test]
    fn readers_never_see_a_write_half_done() {
        let lock = Arc::new(StripedRwLock::new((0u64, 0u64)));
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..12)
            .map(|_| {
                let (lock, stop) = (Arc::clone(&lock), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let mut reads = 0u64;
                    while !stop.load(Relaxed) || reads < READS {
                        let g = lock.read();
                        assert_eq!(g.0, g.1, "torn read");
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let lock = Arc::clone(&lock);
                std::thread::spawn(move || {
                    for _ in 0..WRITES {
                        let mut g = lock.write();
                        g.0 += 1;
                        std::hint::spin_loop();
                        g.1 += 1;
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Relaxed);
        for r in readers {
            assert!(r.join().unwrap() >= READS);
        }
        assert_eq!(*lock.read(), (2 * WRITES, 2 * WRITES));
    }
}

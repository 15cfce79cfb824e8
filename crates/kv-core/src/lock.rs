//! The shard lock: a reader-writer lock whose readers count on cache lines of their
//! own, so that two threads reading the same shard do not pass a line back and forth,
//! and whose readers, while nobody writes, enter without a locked instruction.
//!
//! `parking_lot::RwLock` keeps its reader count in one word. Every read locks and
//! unlocks with a locked instruction on that word, and when two cores read the same
//! shard, which under a skewed key distribution they do all the time, each of those
//! instructions first has to fetch the line from the other core. Here a reader counts
//! itself in a padded stripe of its own, chosen by its thread (`metrics::thread_slot`),
//! and a writer raises a flag and waits for every stripe to drain (the design of
//! `crossbeam_utils::sync::ShardedLock` and of per-CPU reader-writer semaphores, with a
//! plain flag instead of a lock per stripe).
//!
//! A reader has two ways in:
//!
//! - **Counted** (always correct): increment the stripe with a `SeqCst` read-modify-write,
//!   then load the writer flag. The count and the flag form a Dekker pair: in the
//!   single `SeqCst` order either the writer's load of the stripe sees the count or
//!   the reader's load sees the flag.
//! - **Fast**, while the lock is in fast mode and the thread owns its stripe: a plain
//!   store of the count, a compiler fence, a load of the mode; leaving is a plain
//!   release store. No locked instruction, nothing written outside the thread's own
//!   line. The store-then-load ordering a Dekker pair needs is supplied by the writer
//!   instead: before it waits for readers, a writer that finds the lock in fast mode
//!   turns fast mode off and calls `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`,
//!   which runs a full memory barrier on every thread of the process at some point
//!   between the call and its return. For a fast reader, that point falls either after
//!   its count store (which is then visible to the writer, who waits for it) or before
//!   it (then the reader's load of the mode, after the barrier, sees fast mode off and
//!   the reader backs out and enters counted). Writers that find fast mode already off
//!   need no barrier: a fast reader that still saw it on had its store drained by the
//!   barrier of the writer that turned it off. This is the asymmetric fence of liburcu,
//!   folly and `seize` (Linux `membarrier(2)`).
//!
//! Fast mode comes back when reads dominate: an owning thread that has entered counted
//! `FAST_AFTER` times, during which the lock saw fewer than `QUIET_WRITES` writes,
//! switches it to fast mode, if no writer holds it. The write that ends fast mode
//! costs one `membarrier` call (microseconds, and an interrupt on the other cores), so
//! fast mode is only worth it for a shard read about a thousand times per write; a
//! shard written more often than that stays in counted mode and never pays it. Where
//! `membarrier` is missing (not Linux, old kernels, seccomp filters, Miri), fast mode
//! never starts and every read is counted.
//!
//! Reads are not recursive: a thread that holds a read lock and asks for it again
//! while a writer waits deadlocks, as with `parking_lot`. Nothing in this crate does.
//!
//! The counted path's atomics are all `SeqCst`. Entering needs it; leaving would need
//! only release, but on x86 a `SeqCst` decrement is the same instruction. With release
//! decrements and twelve readers on four shared stripes, Miri's weak-memory emulation
//! (May 2026 nightly) reported a race; we did not find the execution of the C++20
//! model that allows it (Miri has had such SeqCst corner cases, rust-lang/miri#5104),
//! and with every access `SeqCst` it finds none over 8 seeds. Miri cannot emulate
//! `membarrier`, so under Miri only the counted path runs:
//! `cargo +nightly miri test -p kv-core --lib lock::tests`.
//!
//! This is the crate's only module with `unsafe` code: the guards hand out the data
//! in an `UnsafeCell` under the exclusion the counters and the flag provide.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{
    compiler_fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize,
    Ordering::{Acquire, Relaxed, Release, SeqCst},
};
use std::sync::OnceLock;

use crossbeam_utils::{Backoff, CachePadded};
use parking_lot::{Mutex, MutexGuard};

/// How many stripes of their own the threads get in each lock: the cores, as a power
/// of two, from 8 to 64. Threads beyond that share one more stripe and always enter
/// counted (still correct, just contended again).
fn owned_stripes() -> usize {
    static STRIPES: OnceLock<usize> = OnceLock::new();
    *STRIPES.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        cores.next_power_of_two().clamp(8, 64)
    })
}

/// Counted entries by one owning thread after which it switches the lock to fast
/// mode (small in tests, so that they switch back and forth often).
const FAST_AFTER: u32 = if cfg!(test) { 8 } else { 1024 };

/// Fast mode is turned on only if the lock saw fewer writes than this during the
/// `FAST_AFTER` counted entries (each write after it costs a `membarrier`).
const QUIET_WRITES: u64 = 2;

/// A reader-writer lock with striped reader counts (see the module docs).
pub(crate) struct StripedRwLock<T> {
    /// What only writers change, on a line of its own that readers keep shared.
    control: CachePadded<Control>,
    /// One stripe per owning thread slot, then the one every other thread shares.
    readers: Box<[CachePadded<Stripe>]>,
    data: UnsafeCell<T>,
}

struct Control {
    /// Raised by a writer from before it waits for the readers until it unlocks.
    writer: AtomicBool,
    /// Fast mode: owning threads may enter without a locked instruction. Changed only
    /// under `gate`; turned off by a writer before its `membarrier`.
    fast: AtomicBool,
    /// Held by the writer; a reader that meets a writer waits here for it to finish.
    gate: Mutex<()>,
    /// Writes so far (changed under `gate` only), so readers can tell a quiet lock.
    writes: AtomicU64,
    /// Fewer writes than this over `FAST_AFTER` counted entries let fast mode on
    /// (`QUIET_WRITES`; tests raise it to switch often).
    quiet_writes: u64,
    /// How many times fast mode was turned on (for tests).
    #[cfg(test)]
    switches: AtomicUsize,
}

#[derive(Default)]
struct Stripe {
    /// Readers inside. An owned stripe is changed only by its owning thread.
    count: AtomicUsize,
    /// Counted entries of the owning thread since it last tried to switch the lock
    /// to fast mode (touched by that thread only).
    counted: AtomicU32,
    /// The lock's `writes` when the owning thread last tried (touched by it only).
    seen_writes: AtomicU64,
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
                fast: AtomicBool::new(false),
                gate: Mutex::new(()),
                writes: AtomicU64::new(0),
                quiet_writes: QUIET_WRITES,
                #[cfg(test)]
                switches: AtomicUsize::new(0),
            }),
            readers: (0..=owned_stripes())
                .map(|_| CachePadded::new(Stripe::default()))
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
        let shared = self.readers.len() - 1;
        // Slots are unique among live threads, so a slot below `shared` owns its
        // stripe: no other thread changes that count.
        let owned = slot < shared;
        let stripe = &self.readers[slot.min(shared)];
        if owned && self.control.fast.load(Relaxed) {
            let n = stripe.count.load(Relaxed);
            stripe.count.store(n + 1, Relaxed);
            // The load below must not move above the store in the compiled code; the
            // processor may still reorder them, which a writer's `membarrier`
            // resolves (see the module docs). Acquire: fast mode was last turned on
            // under the gate, after the last writer's changes.
            compiler_fence(SeqCst);
            if self.control.fast.load(Acquire) {
                return ReadGuard::new(self, stripe, Exit::Store);
            }
            stripe.count.store(n, Relaxed);
        }
        self.read_counted(stripe, owned)
    }

    /// Enters counted (see the module docs), and now and then switches the lock to
    /// fast mode.
    #[inline]
    fn read_counted<'a>(&'a self, stripe: &'a Stripe, owned: bool) -> ReadGuard<'a, T> {
        // Announce the reader, then look for a writer. Both are `SeqCst`, as are the
        // writer's store of its flag and its loads of the counts: in their single
        // order, either this increment comes before the writer's load of this stripe
        // (the writer waits for it) or the writer's store comes before this load (the
        // reader backs off). The flag's load also acquires the last writer's release
        // of it, and with it the data.
        stripe.count.fetch_add(1, SeqCst);
        if self.control.writer.load(SeqCst) {
            stripe.count.fetch_sub(1, SeqCst);
            return self.read_slow(stripe);
        }
        if owned {
            let counted = stripe.counted.load(Relaxed) + 1;
            if counted < FAST_AFTER {
                stripe.counted.store(counted, Relaxed);
            } else {
                stripe.counted.store(0, Relaxed);
                let writes = self.control.writes.load(Relaxed);
                let since = writes.wrapping_sub(stripe.seen_writes.load(Relaxed));
                stripe.seen_writes.store(writes, Relaxed);
                if since < self.control.quiet_writes {
                    self.go_fast();
                }
            }
        }
        ReadGuard::new(self, stripe, Exit::Decrement)
    }

    /// Switches to fast mode if `membarrier` works and no writer holds the lock
    /// (it never waits for one).
    #[cold]
    fn go_fast(&self) {
        if !barrier::available() {
            return;
        }
        if let Some(_gate) = self.control.gate.try_lock() {
            // Release: with the gate, after every earlier writer's changes.
            self.control.fast.store(true, Release);
            #[cfg(test)]
            self.control.switches.fetch_add(1, Relaxed);
        }
    }

    /// A read that met a writer: it waits at the gate, and enters while holding it.
    /// No writer is inside then (a writer holds the gate from before it raises its
    /// flag until after it lowers it), and the next writer, which takes the gate
    /// after this reader, sees its count; so this reader cannot be turned away
    /// again.
    #[cold]
    fn read_slow<'a>(&'a self, stripe: &'a Stripe) -> ReadGuard<'a, T> {
        let gate = self.control.gate.lock();
        stripe.count.fetch_add(1, SeqCst);
        drop(gate);
        ReadGuard::new(self, stripe, Exit::Decrement)
    }

    /// Locks exclusive. Waits for the writer before it and for the readers inside.
    pub(crate) fn write(&self) -> WriteGuard<'_, T> {
        let gate = self.control.gate.lock();
        self.control.writer.store(true, SeqCst);
        // Only writers change it, one at a time (under the gate).
        let writes = self.control.writes.load(Relaxed);
        self.control.writes.store(writes.wrapping_add(1), Relaxed);
        if self.control.fast.load(Relaxed) {
            // Fast readers stored their counts without a fence: turn fast mode off,
            // then make every thread's earlier stores visible here (module docs).
            self.control.fast.store(false, SeqCst);
            barrier::heavy();
        }
        for stripe in self.readers.iter() {
            let backoff = Backoff::new();
            // The readers' releases of their counts happen before this thread's
            // changes to the data.
            while stripe.count.load(SeqCst) != 0 {
                backoff.snooze();
            }
        }
        WriteGuard {
            lock: self,
            _gate: gate,
        }
    }

    /// Whether the lock is in fast mode (for tests).
    #[cfg(test)]
    fn is_fast(&self) -> bool {
        self.control.fast.load(SeqCst)
    }

    /// How many times fast mode was turned on (for tests).
    #[cfg(test)]
    fn switches(&self) -> usize {
        self.control.switches.load(SeqCst)
    }
}

/// The process-wide half of the asymmetric fence.
mod barrier {
    /// Whether `heavy` works here; registers the process on first use.
    pub(super) fn available() -> bool {
        static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVAILABLE.get_or_init(register)
    }

    #[cfg(all(target_os = "linux", not(miri)))]
    fn register() -> bool {
        use rustix::thread::{membarrier, membarrier_query, MembarrierCommand};
        let supported = membarrier_query();
        supported.contains_command(MembarrierCommand::PrivateExpedited)
            && supported.contains_command(MembarrierCommand::RegisterPrivateExpedited)
            && membarrier(MembarrierCommand::RegisterPrivateExpedited).is_ok()
    }

    #[cfg(not(all(target_os = "linux", not(miri))))]
    fn register() -> bool {
        false
    }

    /// A full memory barrier on every running thread of the process. Only called
    /// after `available` returned true (fast mode is never on otherwise).
    #[cfg(all(target_os = "linux", not(miri)))]
    pub(super) fn heavy() {
        use rustix::thread::{membarrier, MembarrierCommand};
        // Registered above; the call fails only with EPERM if the registration was
        // lost (it is kept across fork), so register again once before giving up.
        if membarrier(MembarrierCommand::PrivateExpedited).is_err() {
            let again = membarrier(MembarrierCommand::RegisterPrivateExpedited)
                .and_then(|()| membarrier(MembarrierCommand::PrivateExpedited));
            // Without the barrier a fast reader could be inside unseen: stopping is
            // the only safe outcome left.
            if let Err(e) = again {
                panic!("membarrier failed after it was registered: {e}");
            }
        }
    }

    #[cfg(not(all(target_os = "linux", not(miri))))]
    pub(super) fn heavy() {
        unreachable!("fast mode is never on without membarrier");
    }
}

/// How a reader leaves: the way it came in.
#[derive(Clone, Copy)]
enum Exit {
    /// Fast: a plain release store (only the owner changes the count).
    Store,
    /// Counted: a `SeqCst` decrement.
    Decrement,
}

/// A shared lock on a [`StripedRwLock`]; unlocks when dropped, on the thread that
/// locked (it is not `Send`: a fast reader's count belongs to its thread).
pub(crate) struct ReadGuard<'a, T> {
    lock: &'a StripedRwLock<T>,
    stripe: &'a Stripe,
    exit: Exit,
    _not_send: PhantomData<*const ()>,
}

impl<'a, T> ReadGuard<'a, T> {
    #[inline]
    fn new(lock: &'a StripedRwLock<T>, stripe: &'a Stripe, exit: Exit) -> Self {
        ReadGuard {
            lock,
            stripe,
            exit,
            _not_send: PhantomData,
        }
    }
}

impl<T> Deref for ReadGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: this guard's count keeps writers out (a writer waits for it to drop
        // to zero before touching the data, and readers do not enter while the
        // writer's flag is up or, on the fast path, once fast mode is off), so only
        // shared borrows of the data exist.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> Drop for ReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // This reader's reads of the data happen before a waiting writer's changes.
        match self.exit {
            Exit::Store => {
                let n = self.stripe.count.load(Relaxed);
                self.stripe.count.store(n - 1, Release);
            }
            // Release; `SeqCst` like every access of the counted path (module docs).
            Exit::Decrement => {
                self.stripe.count.fetch_sub(1, SeqCst);
            }
        }
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
    fn reads_switch_to_fast_mode_and_a_write_switches_back() {
        let lock = StripedRwLock::new(0u64);
        for _ in 0..=FAST_AFTER {
            assert_eq!(*lock.read(), 0);
        }
        // Under Miri, or without membarrier, every read stays counted; so do the
        // reads of a thread without a stripe of its own (other tests' threads hold
        // slots too).
        let owned = crate::metrics::thread_slot() < owned_stripes();
        assert_eq!(lock.is_fast(), barrier::available() && owned);
        {
            let a = lock.read();
            let b = lock.read();
            assert_eq!(*a + *b, 0);
        }
        *lock.write() = 7;
        assert!(!lock.is_fast());
        assert_eq!(*lock.read(), 7);
        // A reader inside, fast or counted, holds a writer off either way.
        for _ in 0..=FAST_AFTER {
            drop(lock.read());
        }
        let reader = lock.read();
        std::thread::scope(|s| {
            let writer = s.spawn(|| *lock.write() = 8);
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(!writer.is_finished(), "the writer got in past a reader");
            assert_eq!(*reader, 7);
            drop(reader);
            writer.join().unwrap();
        });
        assert_eq!(*lock.read(), 8);
    }

    #[test]
    fn a_lock_written_between_reads_stays_counted() {
        let lock = StripedRwLock::new(0u64);
        for _ in 0..4 {
            *lock.write() += 1;
            *lock.write() += 1;
            for _ in 0..=FAST_AFTER {
                drop(lock.read());
            }
            assert!(!lock.is_fast());
        }
        assert_eq!(*lock.read(), 8);
        assert_eq!(lock.switches(), 0);
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
    const WRITES: u64 = if cfg!(miri) { 50 } else { 2_000 };
    const READS: u64 = if cfg!(miri) { 20 } else { 1000 };

    /// Writers keep two halves equal; readers must never see them differ, and no
    /// write may be lost. Twelve readers live at once: more than the owned stripes of
    /// a machine of up to 8 cores, so some share a stripe and always enter counted,
    /// while the others switch the lock to fast mode between writes (every
    /// `FAST_AFTER` counted reads, however many writes) and the writers switch it
    /// back.
    #[test]
    fn readers_never_see_a_write_half_done() {
        let mut lock = StripedRwLock::new((0u64, 0u64));
        // Switch even though writes never stop.
        lock.control.quiet_writes = u64::MAX;
        let lock = Arc::new(lock);
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
                    (reads, crate::metrics::thread_slot() < owned_stripes())
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
        let mut owners = 0;
        for r in readers {
            let (reads, owned) = r.join().unwrap();
            assert!(reads >= READS);
            owners += usize::from(owned);
        }
        assert_eq!(*lock.read(), (2 * WRITES, 2 * WRITES));
        // The fast path was taken (unless no reader had a stripe of its own).
        if barrier::available() && owners > 0 {
            assert!(lock.switches() > 0, "fast mode never came on");
        }
    }
}

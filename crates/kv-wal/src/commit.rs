//! Making appends durable: group commit (one flush for many waiting appenders),
//! poisoning after a failed flush, and the interval flusher thread.
//!
//! One waiter at a time is the leader: it flushes everything appended so far, then
//! wakes every follower with one `notify_all`; a follower checks an atomic on waking,
//! so none queues for the commit lock to learn it is done. Before
//! flushing, a leader gathers: if the last flush released more waiters than are
//! waiting now, the writers it released are most likely appending again, so the
//! leader waits (at most about one flush's time) until as many wait, and its flush
//! covers them all instead of the first one or two back. The follower whose record
//! completes the batch flushes it in the sleeping leader's place, saving a wake-up.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::MutexGuard;

use crate::wal::Shared;
use crate::{Error, Result, Seq};

/// The longest a leader gathers before flushing, whatever the last flush took.
const MAX_GATHER: Duration = Duration::from_millis(1);

/// Who is flushing, and who waits for it.
#[derive(Debug, Default)]
pub(crate) struct Commit {
    /// Whether an appender is leading a flush now (gathering or flushing); the others
    /// wait for it.
    leader: bool,
    /// How many followers wait for the leader's flush.
    waiters: usize,
    /// The leader's thread while it gathers; the follower that completes its batch
    /// takes the flush over and clears this.
    gathering: Option<Thread>,
    /// How many waiters (the leader included) there were when the last flush ended:
    /// the next leader gathers until as many wait.
    last_batch: usize,
    /// How long the last flush took: the next leader gathers at most that long.
    last_flush: Duration,
    /// The gathering leader whose flush a follower took over, woken when it is done.
    taken_from: Option<Thread>,
}

impl Shared {
    /// The error for a poisoned writer, if it is.
    pub(crate) fn check_poison(&self) -> Result<()> {
        match self.poison.get() {
            Some((op, cause)) => Err(Error::Poisoned {
                op,
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Poisons the writer after a failed sync (the first failure is the one kept) and
    /// returns the error every later call will see. Followers need no wake-up: they
    /// wait only while a leader leads, and the leader wakes them all when it is done.
    pub(crate) fn poison(&self, op: &'static str, e: io::Error) -> Error {
        let _ = self.poison.set((op, Arc::new(e)));
        match self.check_poison() {
            Err(e) => e,
            Ok(()) => Error::Closed,
        }
    }

    /// Every record up to this one is durable.
    pub(crate) fn durable(&self) -> Seq {
        Seq(self.durable.load(Ordering::Acquire))
    }

    /// Returns once every record up to `seq` is durable. One waiter at a time becomes
    /// the leader and flushes everything written so far; the others wait, and return
    /// without a flush of their own if the leader's covered them.
    pub(crate) fn wait_durable(&self, seq: Seq) -> Result<()> {
        if self.durable() >= seq {
            return Ok(());
        }
        let mut c = self.commit.lock();
        loop {
            if self.durable() >= seq {
                return Ok(());
            }
            self.check_poison()?;
            // `Some(epoch)`: wait for the flush leading at `epoch`, then look again.
            let wait_for = if c.leader {
                if c.gathering.is_some() && c.waiters + 2 >= c.last_batch {
                    // This record completes the gathering leader's batch: flush it
                    // here, in the leader's place (waking the leader first would cost
                    // a wake-up before the flush). The leader now waits like a
                    // follower, and is woken when the flush is done (it sleeps in
                    // its gathering, where `notify_all` does not reach).
                    c.taken_from = c.gathering.take();
                    c.waiters += 1;
                    None
                } else {
                    c.waiters += 1;
                    Some(self.epoch.load(Ordering::Acquire))
                }
            } else {
                c.leader = true;
                let epoch = self.epoch.load(Ordering::Acquire);
                // If a follower took the flush over, this waiter is counted among
                // those it wakes.
                (!self.gather(&mut c, epoch)).then_some(epoch)
            };
            if let Some(epoch) = wait_for {
                drop(c);
                self.wait_flushed(epoch);
                if self.durable() >= seq {
                    return Ok(());
                }
                c = self.commit.lock();
                continue;
            }
            let started = Instant::now();
            let flushed = MutexGuard::unlocked(&mut c, || self.flush());
            c.last_flush = started.elapsed();
            if let Ok(upto) = flushed {
                self.durable.fetch_max(upto.0, Ordering::AcqRel);
            }
            c.leader = false;
            // Those who came during the flush count too: they show how many write.
            c.last_batch = c.waiters + 1;
            c.waiters = 0;
            // Every follower wakes, covered or not: the uncovered ones elect the next
            // leader among themselves (and see the poison if the flush failed).
            self.epoch.fetch_add(1, Ordering::AcqRel);
            // Taking the lock orders the new epoch before any follower's last check.
            drop(self.parked.lock());
            self.flushed.notify_all();
            // The leader whose flush was taken over may still sleep in its gathering.
            if let Some(leader) = c.taken_from.take() {
                leader.unpark();
            }
            flushed?;
        }
    }

    /// Waits (no lock held) until the flush that was leading when the epoch was
    /// `epoch` has finished. A woken follower whose record is durable then returns
    /// without queueing for the commit lock.
    fn wait_flushed(&self, epoch: u64) {
        let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        while self.epoch.load(Ordering::Acquire) == epoch {
            parked = self
                .flushed
                .wait(parked)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Before a flush, the leader waits (lock released) until as many followers wait
    /// as the last flush released, or about as long as that flush took, whichever
    /// comes first. Nothing is waited for when the last flush had no followers (one
    /// writer). Returns false if a follower completed the batch and took the flush
    /// over (the leadership that began at `epoch` is then that follower's).
    fn gather(&self, c: &mut MutexGuard<'_, Commit>, epoch: u64) -> bool {
        if c.waiters + 1 >= c.last_batch {
            return true;
        }
        let me = std::thread::current();
        let deadline = Instant::now() + c.last_flush.min(MAX_GATHER);
        c.gathering = Some(me.clone());
        loop {
            let still_mine = self.epoch.load(Ordering::Acquire) == epoch
                && c.gathering.as_ref().is_some_and(|t| t.id() == me.id());
            if !still_mine {
                return false;
            }
            let now = Instant::now();
            if c.waiters + 1 >= c.last_batch || now >= deadline {
                c.gathering = None;
                return true;
            }
            MutexGuard::unlocked(c, || std::thread::park_timeout(deadline - now));
        }
    }

    /// Flushes everything appended so far in the active segment (older segments were
    /// flushed when the log rotated away from them); returns the last sequence number
    /// now durable. Only the leader calls it.
    fn flush(&self) -> Result<Seq> {
        let (file, id, from, to, upto) = {
            let st = self.state.lock();
            (
                st.active.file.clone(),
                st.active.id,
                st.active.synced,
                st.active.pos,
                st.next_seq.prev(),
            )
        };
        if to > from {
            self.syncs.fetch_add(1, Ordering::Relaxed);
            file.sync(from, to - from)
                .map_err(|e| self.poison("sync", e))?;
            let mut st = self.state.lock();
            if st.active.id == id {
                st.active.synced = st.active.synced.max(to);
            }
        }
        Ok(upto)
    }
}

/// The background thread of [`SyncPolicy::Interval`](crate::SyncPolicy::Interval).
#[derive(Debug)]
pub(crate) struct Flusher {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl Flusher {
    pub(crate) fn start(shared: Arc<Shared>, every: Duration) -> io::Result<Flusher> {
        let (stop, stopped): (Sender<()>, Receiver<()>) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("kv-wal-flusher".into())
            .spawn(move || loop {
                match stopped.recv_timeout(every) {
                    Err(RecvTimeoutError::Timeout) => {
                        let upto = shared.state.lock().next_seq.prev();
                        if shared.wait_durable(upto).is_err() {
                            return; // poisoned: every later call reports it
                        }
                    }
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            })?;
        Ok(Flusher { stop, thread })
    }

    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

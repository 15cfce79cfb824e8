//! Making appends durable: group commit (one flush for many waiting appenders) and
//! poisoning after a failed flush.
//!
//! Plain leader/follower group commit (raft-engine's `write_barrier.rs` is the
//! model): the first waiter whose record is not durable becomes the leader and
//! flushes everything appended so far, lock released; the others wait on a condition
//! variable while it does, and each returns when a flush covered its record (or
//! leads the next one). Writers that append while a flush runs share the next one.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::{Condvar, MutexGuard};

use crate::wal::Shared;
use crate::{Error, Result, Seq};

/// Whether an appender is flushing now (the leader); the others wait for it.
#[derive(Debug, Default)]
pub(crate) struct Commit {
    leader: bool,
}

/// Signalled (with the [`Commit`] lock) when a flush ends.
#[derive(Debug, Default)]
pub(crate) struct Flushed(Condvar);

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
    /// returns the error every later call will see. Waiters need no wake-up: they
    /// wait only while a leader flushes, and it wakes them all when it is done.
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

    /// Returns once every record up to `seq` (appended already) is durable. One
    /// waiter at a time leads and flushes everything written so far; the others wait,
    /// and return without a flush of their own if the leader's covered them.
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
            if c.leader {
                self.flushed.0.wait(&mut c);
                continue;
            }
            c.leader = true;
            let flushed = MutexGuard::unlocked(&mut c, || self.flush());
            if let Ok(upto) = flushed {
                self.durable.fetch_max(upto.0, Ordering::AcqRel);
            }
            c.leader = false;
            // Every waiter wakes, covered or not: an uncovered one leads the next
            // flush (and each sees the poison if this one failed).
            self.flushed.0.notify_all();
            flushed?;
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

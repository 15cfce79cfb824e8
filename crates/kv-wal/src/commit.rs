//! Making appends durable: group commit (one flush for many waiting appenders),
//! poisoning after a failed flush, and the interval flusher thread.

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::wal::Shared;
use crate::{Error, Result, Seq};

/// Who is flushing, and how far the log is durable.
#[derive(Debug, Default)]
pub(crate) struct Commit {
    /// Every record up to this one is durable.
    pub(crate) durable: Seq,
    /// Whether an appender is flushing now (the others wait for it).
    pub(crate) leader: bool,
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
    /// returns the error every later call will see.
    pub(crate) fn poison(&self, op: &'static str, e: io::Error) -> Error {
        let _ = self.poison.set((op, Arc::new(e)));
        // Wake waiters so they see the poison.
        let _guard = self.commit.lock();
        self.committed.notify_all();
        drop(_guard);
        match self.check_poison() {
            Err(e) => e,
            Ok(()) => Error::Closed,
        }
    }

    /// Returns once every record up to `seq` is durable. One waiter at a time becomes
    /// the leader and flushes everything written so far; the others wait, and return
    /// without a flush of their own if the leader's covered them.
    pub(crate) fn wait_durable(&self, seq: Seq) -> Result<()> {
        let mut c = self.commit.lock();
        loop {
            if c.durable >= seq {
                return Ok(());
            }
            self.check_poison()?;
            if c.leader {
                self.committed.wait(&mut c);
                continue;
            }
            c.leader = true;
            let flushed = parking_lot::MutexGuard::unlocked(&mut c, || self.flush());
            c.leader = false;
            if let Ok(upto) = flushed {
                c.durable = c.durable.max(upto);
            }
            self.committed.notify_all();
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

//! Durable replies without a thread per write: a scope in which this thread's writes
//! return as soon as they are logged and applied, and a wait for the sync that makes
//! them durable, shared by every waiter (group commit).
//!
//! A server answering many clients (kv-server) runs each client's pipeline of
//! commands inside [`Store::without_waiting`], then has one thread of its own call
//! [`Store::wait_durable`] for the highest sequence number any pipeline wrote before
//! it replies: every connection's writes share the log's flushes, and no thread is
//! held per write.

use std::cell::Cell;

use kv_wal::{Op, Seq, Wal};

use crate::store::Inner;
use crate::{Error, Result, Store};

thread_local! {
    /// The store (by address) whose writes this thread does not wait for, and the
    /// highest sequence number they were given.
    static DEFERRED: Cell<(usize, u64)> = const { Cell::new((0, 0)) };
}

impl Inner {
    /// Appends `op` to the log, as durable as the sync policy promises on return; or,
    /// inside [`Store::without_waiting`] on this thread, only appended (the scope
    /// notes its sequence number).
    pub(crate) fn append(&self, wal: &Wal, op: &Op<'_>, now_ms: u64) -> kv_wal::Result<Seq> {
        let me = self as *const Inner as usize;
        let (id, highest) = DEFERRED.with(Cell::get);
        if id != me {
            return wal.append(op, now_ms);
        }
        let seq = wal.append_nowait(op, now_ms)?;
        DEFERRED.with(|d| d.set((id, highest.max(seq.0))));
        Ok(seq)
    }
}

impl Store {
    /// Runs `f`; the writes this thread makes to this store inside it return as soon
    /// as they are logged and applied, without waiting for the sync that
    /// [`SyncPolicy::EveryWrite`](crate::SyncPolicy::EveryWrite) would wait for.
    /// Returns `f`'s result and the highest sequence number those writes were given
    /// (0 if none): pass it to [`Store::wait_durable`] before telling anyone the
    /// writes happened.
    ///
    /// Meanwhile the writes are visible to readers, as Redis's are to its other
    /// clients before its once-per-loop fsync: a crash before the wait returns may
    /// lose them. Nothing else changes: a write the log refuses is still never applied.
    ///
    /// ```
    /// # fn main() -> kv_store::Result<()> {
    /// use kv_store::{Options, Store, SyncPolicy};
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = Store::open(Options::new().dir(dir.path()).sync(SyncPolicy::EveryWrite))?;
    /// let (written, upto) = store.without_waiting(|| -> kv_store::Result<()> {
    ///     store.set(b"a", b"1")?;
    ///     store.incr(b"n", 1)?;
    ///     Ok(())
    /// });
    /// written?;
    /// store.wait_durable(upto)?; // one flush for both
    /// assert!(store.durable_seq() >= upto);
    /// # Ok(()) }
    /// ```
    pub fn without_waiting<R>(&self, f: impl FnOnce() -> R) -> (R, u64) {
        let me = self.inner() as *const Inner as usize;
        let outer = DEFERRED.with(|d| d.replace((me, 0)));
        // Restored also if `f` panics.
        struct Restore((usize, u64));
        impl Drop for Restore {
            fn drop(&mut self) {
                DEFERRED.with(|d| d.set(self.0));
            }
        }
        let restore = Restore(outer);
        let r = f();
        let (_, highest) = DEFERRED.with(Cell::get);
        drop(restore);
        (r, highest)
    }

    /// Blocks until every write up to sequence number `seq` is durable, sharing one
    /// flush with every other waiter (and with writers under
    /// [`SyncPolicy::EveryWrite`](crate::SyncPolicy::EveryWrite)), whatever the sync
    /// policy. Returns at once for 0, for a store without a log, and for writes
    /// already durable. After a failed flush every wait fails (the log is poisoned
    /// until the store is reopened).
    pub fn wait_durable(&self, seq: u64) -> Result<()> {
        let inner = self.inner();
        inner.check_open()?;
        match &inner.wal {
            Some(wal) if seq > 0 => wal
                .wait_durable(Seq(seq))
                .map_err(Error::wal("waiting for the log to be durable")),
            _ => Ok(()),
        }
    }

    /// The sequence number up to which every write is known durable (for a store
    /// without a log, the last one written: there is nothing more to wait for).
    pub fn durable_seq(&self) -> u64 {
        let inner = self.inner();
        match &inner.wal {
            Some(wal) => wal.durable_seq().0,
            None => inner.seq.load(std::sync::atomic::Ordering::Acquire),
        }
    }
}

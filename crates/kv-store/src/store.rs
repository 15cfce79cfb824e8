//! `Store`: the handle, its shared state, open and close.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, RwLock};

use crate::dir_lock::DirLock;
use crate::metrics::Counters;
use crate::recovery::{Access, Opened};
use crate::stripes::Stripes;
use crate::workers::Workers;
use crate::{Error, Options, PersistenceMode, RecoveryReport, Result};

/// An embedded, thread-safe, persistent key-value store.
///
/// `Store` is a cheap handle (`Clone` shares the same store) and is `Send + Sync`.
/// Dropping the last handle closes the store as [`Store::close`] does, reporting any
/// error of that close to [`Options::on_error`].
///
/// Every write is validated, appended to the write-ahead log (and made as durable as
/// the [`SyncPolicy`](crate::SyncPolicy) promises), and only then applied to memory:
/// a write the log refused is never visible, and recovery restores exactly the
/// acknowledged state.
#[derive(Clone)]
pub struct Store {
    pub(crate) handle: Arc<Handle>,
}

/// Closes the store when the last [`Store`] handle goes away. Workers hold the
/// [`Inner`] directly, not a `Handle`, so they do not keep the store open.
pub(crate) struct Handle {
    pub(crate) inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Err(e) = self.inner.close() {
            self.inner.report(&e);
        }
    }
}

/// The shared state of one open store.
pub(crate) struct Inner {
    pub(crate) opts: Options,
    pub(crate) mode: PersistenceMode,
    pub(crate) cache: kv_core::Cache,
    pub(crate) wal: Option<kv_wal::Wal>,
    pub(crate) snaps: Option<kv_snapshot::Snapshots>,
    /// Writers hold the read side from log append through memory apply; the
    /// snapshotter takes the write side just long enough to read the last sequence
    /// number, so that every record up to it is applied.
    pub(crate) gate: RwLock<()>,
    pub(crate) stripes: Stripes,
    /// Sequence numbers without a log (snapshot-only and in-memory stores).
    pub(crate) seq: AtomicU64,
    pub(crate) closed: AtomicBool,
    /// Serializes close.
    pub(crate) closing: Mutex<()>,
    /// One snapshot at a time.
    pub(crate) snapshotting: Mutex<()>,
    pub(crate) workers: Mutex<Workers>,
    pub(crate) kick_snapshot: Option<Sender<()>>,
    pub(crate) kick_rx: Mutex<Option<Receiver<()>>>,
    pub(crate) counters: Counters,
    /// Sequence numbers of the snapshots on disk, oldest first (the log is truncated
    /// through the oldest one kept, so falling back to it still finds its log).
    pub(crate) snapshot_seqs: Mutex<Vec<u64>>,
    pub(crate) recovery: RecoveryReport,
    pub(crate) dir_lock: Mutex<Option<DirLock>>,
    /// Opened with [`Store::open_read_only`]: every write is refused.
    pub(crate) read_only: bool,
}

impl Store {
    /// Opens (or creates) a store: validates `options`, locks and recovers the data
    /// directory, and starts the background workers.
    ///
    /// Fails with [`Error::InvalidOption`] naming a bad option, [`Error::Locked`] when
    /// another store has the directory open (nothing is touched then), or a
    /// wrapped log or snapshot error when the directory cannot be recovered.
    pub fn open(options: Options) -> Result<Self> {
        options.validate()?;
        let opened = crate::recovery::open(&options, Access::Owner)?;
        let inner = Arc::new(Inner::new(options, opened, false));
        crate::background::start(&inner)?;
        Ok(Self {
            handle: Arc::new(Handle { inner }),
        })
    }

    /// Opens the store in `options`' directory read-only, for looking at the data of a
    /// store that may be open and writing in another process: no lock is taken and
    /// nothing in the directory is written, created or truncated.
    ///
    /// The view is the newest snapshot that verifies plus the log up to its last
    /// complete record at the moment of opening (files that a concurrent snapshot
    /// removes meanwhile stay readable through the handles already open). Recovery
    /// decides as [`Store::open`] does (the same replay, the same checks): what this
    /// opens, `open` would open, except that a record still being written by a live
    /// owner is left out as a torn tail. When the owner writes a newer snapshot and
    /// truncates the log between this open's listing the snapshots and reading the
    /// log, the open starts again from the newer snapshot (a few times at most). Every
    /// write returns [`Error::ReadOnly`]; no background worker runs.
    pub fn open_read_only(options: Options) -> Result<Self> {
        options.validate()?;
        if options.dir.is_none() {
            return Err(Error::InvalidOption {
                option: "dir",
                reason: "a read-only open needs the data directory to read".to_owned(),
            });
        }
        let opened = crate::recovery::open(&options, Access::ReadOnly)?;
        Ok(Self {
            handle: Arc::new(Handle {
                inner: Arc::new(Inner::new(options, opened, true)),
            }),
        })
    }

    /// Opens a store that keeps nothing on disk, with the default options: what
    /// `Store::open(Options::new().persistence(PersistenceMode::None))` opens.
    pub fn in_memory() -> Result<Self> {
        Self::open(Options::new().persistence(PersistenceMode::None))
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.handle.inner
    }

    /// Closes the store: stops the workers, takes the final snapshot when configured,
    /// syncs and closes the log, and releases the directory lock. Idempotent; every
    /// later operation returns [`Error::Closed`]. Other handles see the store closed.
    pub fn close(&self) -> Result<()> {
        self.inner().close()
    }

    /// True once the store was closed.
    pub fn is_closed(&self) -> bool {
        self.inner().closed.load(Ordering::Acquire)
    }

    /// What recovery did when this store was opened.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.inner().recovery
    }

    /// The persistence mode in effect.
    pub fn persistence(&self) -> PersistenceMode {
        self.inner().mode
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.inner().opts.dir)
            .field("mode", &self.inner().mode)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn new(opts: Options, opened: Opened, read_only: bool) -> Self {
        let (kick_tx, kick_rx) = crossbeam_channel::bounded(1);
        let counters = Counters::default();
        counters
            .last_snapshot_seq
            .store(opened.report.snapshot_seq, Ordering::Relaxed);
        if let Some(w) = &opened.wal {
            counters
                .wal_bytes_at_snapshot
                .store(w.stats().bytes, Ordering::Relaxed);
        }
        Inner {
            mode: opts.persistence_mode(),
            cache: opened.cache,
            wal: opened.wal,
            snaps: opened.snaps,
            gate: RwLock::new(()),
            stripes: Stripes::new(opts.write_stripes),
            seq: AtomicU64::new(opened.last_seq),
            closed: AtomicBool::new(false),
            closing: Mutex::new(()),
            snapshotting: Mutex::new(()),
            workers: Mutex::new(Workers::new()),
            kick_snapshot: Some(kick_tx),
            kick_rx: Mutex::new(Some(kick_rx)),
            counters,
            snapshot_seqs: Mutex::new(opened.snapshot_seqs),
            recovery: opened.report,
            dir_lock: Mutex::new(opened.dir_lock),
            read_only,
            opts,
        }
    }

    /// Refuses a write on a closed or read-only store, or from inside one of its own
    /// update closures.
    pub(crate) fn check_write(&self) -> Result<()> {
        self.check_open()?;
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        self.check_not_in_closure()
    }

    /// Reports an error that has no caller: tracing, the counter, `on_error`.
    pub(crate) fn report(&self, e: &Error) {
        Counters::add(&self.counters.worker_errors, 1);
        tracing::warn!(target: "kv_store", error = %e, "background error");
        if let Some(f) = &self.opts.on_error {
            f(e);
        }
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    pub(crate) fn close(&self) -> Result<()> {
        let _closing = self.closing.lock();
        if self.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        // No new background work; a worker in the middle of a snapshot finishes it.
        self.workers.lock().stop();
        let mut first_err = None;
        // From here on writers see `closed`; the write side of the gate waits for
        // those already between append and apply, so the final snapshot holds every
        // acknowledged write (it matters for snapshot-only stores).
        self.closed.store(true, Ordering::Release);
        drop(self.gate.write());
        if self.mode.uses_snapshots() && self.opts.snapshot_on_close && !self.read_only {
            if let Err(e) = self.take_snapshot(
                crate::snapshotting::Truncate::KeepFallback,
                crate::snapshotting::Skip::Untouched,
            ) {
                first_err.get_or_insert(e);
            }
        }
        if let Some(wal) = &self.wal {
            if let Err(e) = wal.close() {
                first_err.get_or_insert(Error::Wal {
                    context: "closing the log",
                    source: e,
                });
            }
        }
        // Another handle may outlive the close: the directory is free now anyway.
        self.dir_lock.lock().take();
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(feature = "sim")]
impl Store {
    /// Simulates a process crash for tests (cargo feature `sim`): the store stops
    /// like a killed process would, with no final snapshot, no log sync and no close;
    /// the directory lock is released so the directory can be reopened. Every handle
    /// sees the store closed. Pair it with kv-wal's simulated storage to model a power
    /// loss (its crash image keeps only what was synced).
    pub fn crash(&self) {
        let inner = self.inner();
        let _closing = inner.closing.lock();
        if inner.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        inner.workers.lock().stop();
        drop(inner.gate.write());
        inner.dir_lock.lock().take();
    }
}

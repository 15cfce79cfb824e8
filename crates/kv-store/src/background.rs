//! The store's background workers: expiry cleanup and snapshots (by interval, by the
//! compaction threshold, by log growth), each snapshot followed by log truncation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::metrics::Counters;
use crate::snapshotting::{Skip, Truncate};
use crate::store::Inner;
use crate::{Error, Result};

/// How often the snapshot worker checks its growth triggers.
const GROWTH_CHECK: Duration = Duration::from_secs(1);

/// Starts the workers the options ask for. Interval sync is the log's own flusher
/// (kv-wal runs it for `SyncPolicy::Interval`).
pub(crate) fn start(inner: &Arc<Inner>) -> Result<()> {
    let opts = &inner.opts;
    if !opts.background_workers {
        return Ok(());
    }
    let mut workers = inner.workers.lock();
    let spawn_err = |source| Error::Io {
        op: "start a background worker",
        path: opts.dir.clone().unwrap_or_default(),
        source,
    };
    if let Some(every) = opts.cleanup_interval {
        let w = Arc::clone(inner);
        let p = Arc::clone(inner);
        workers
            .spawn(
                "cleanup",
                Some(every),
                None,
                move || {
                    w.cache.purge_expired(w.opts.cleanup_budget);
                },
                move |name| p.report(&Error::WorkerPanicked { worker: name }),
            )
            .map_err(spawn_err)?;
    }
    if inner.mode.uses_snapshots() {
        let tick = match opts.snapshot_interval {
            Some(every) => every.min(GROWTH_CHECK),
            None => GROWTH_CHECK,
        };
        let w = Arc::clone(inner);
        let p = Arc::clone(inner);
        let kick = inner.kick_rx.lock().take();
        let mut last = Instant::now();
        workers
            .spawn(
                "snapshot",
                Some(tick),
                kick,
                move || {
                    if w.snapshot_due(last) {
                        last = Instant::now();
                        if let Err(e) = w.take_snapshot(Truncate::KeepFallback, Skip::Unwritten) {
                            w.report(&e);
                        }
                    }
                },
                move |name| p.report(&Error::WorkerPanicked { worker: name }),
            )
            .map_err(spawn_err)?;
    }
    Ok(())
}

impl Inner {
    /// Whether a snapshot is due: the interval elapsed, or the compaction threshold
    /// or the log-growth trigger fired.
    fn snapshot_due(&self, last: Instant) -> bool {
        if self
            .opts
            .snapshot_interval
            .is_some_and(|every| last.elapsed() >= every)
        {
            return true;
        }
        if self.compaction_due() {
            return true;
        }
        if let (Some(limit), Some(wal)) =
            (self.opts.wal_growth_trigger(self.cache.bytes()), &self.wal)
        {
            let base = Counters::get(&self.counters.wal_bytes_at_snapshot);
            if wal.stats().bytes.saturating_sub(base) >= limit {
                return true;
            }
        }
        false
    }
}

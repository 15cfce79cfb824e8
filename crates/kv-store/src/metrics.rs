//! `Metrics`: the in-memory map's counters plus the store's log, snapshot and recovery
//! figures.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::RecoveryReport;

/// A point-in-time copy of a store's figures.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Metrics {
    /// The in-memory map's figures: hits, misses, sets, deletes, evictions,
    /// expirations, entries, bytes, hit ratio. Entries loaded by recovery count as
    /// sets.
    pub cache: kv_core::MetricsSnapshot,
    /// Bytes of log on disk (0 without a log).
    pub wal_bytes: u64,
    /// Log segment files on disk.
    pub wal_segments: u64,
    /// The last sequence number written to the log (or assigned, without a log).
    pub last_seq: u64,
    /// Snapshots taken since open.
    pub snapshots_taken: u64,
    /// When the last snapshot was finished, in milliseconds since the Unix epoch
    /// (on the store's clock), if one was taken since open.
    pub last_snapshot_ms: Option<u64>,
    /// The sequence number the newest snapshot covers (0: none).
    pub last_snapshot_seq: u64,
    /// Evictions written to the log (so recovery does not bring those keys back).
    pub evictions_logged: u64,
    /// Errors of background workers since open.
    pub worker_errors: u64,
    /// Conditional writes refused since open (their condition did not hold: a
    /// `set_with` whose condition failed, a `delete_if` or `expire_if` whose condition
    /// failed on a present key, an `update_many` whose closure wrote nothing). They
    /// wrote nothing.
    pub writes_refused: u64,
    /// What recovery did at open.
    pub recovery: RecoveryReport,
}

/// The store's own counters, updated with relaxed atomics.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) snapshots_taken: AtomicU64,
    /// 0 means none yet.
    pub(crate) last_snapshot_ms: AtomicU64,
    pub(crate) last_snapshot_seq: AtomicU64,
    /// The map's hit count when the last snapshot began (reads since change the
    /// access bookkeeping a snapshot keeps).
    pub(crate) hits_at_snapshot: AtomicU64,
    pub(crate) evictions_logged: AtomicU64,
    pub(crate) worker_errors: AtomicU64,
    pub(crate) writes_refused: AtomicU64,
    /// Deletes and evictions logged since the last snapshot began (compaction
    /// threshold).
    pub(crate) deletes_since_snapshot: AtomicU64,
    /// Log bytes (as counted by the log) when the last snapshot began.
    pub(crate) wal_bytes_at_snapshot: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

impl crate::Store {
    /// The store's figures now.
    pub fn metrics(&self) -> Metrics {
        let inner = self.inner();
        let c = &inner.counters;
        let (wal_bytes, wal_segments, last_seq) = match &inner.wal {
            Some(wal) => {
                let s = wal.stats();
                (s.bytes, s.segments as u64, wal.last_seq().0)
            }
            None => (0, 0, inner.seq.load(Ordering::Relaxed)),
        };
        let last = Counters::get(&c.last_snapshot_ms);
        Metrics {
            cache: inner.cache.metrics(),
            wal_bytes,
            wal_segments,
            last_seq,
            snapshots_taken: Counters::get(&c.snapshots_taken),
            last_snapshot_ms: (last != 0).then_some(last),
            last_snapshot_seq: Counters::get(&c.last_snapshot_seq),
            evictions_logged: Counters::get(&c.evictions_logged),
            worker_errors: Counters::get(&c.worker_errors),
            writes_refused: Counters::get(&c.writes_refused),
            recovery: inner.recovery.clone(),
        }
    }
}

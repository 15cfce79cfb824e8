//! Open and recovery: lock the directory, load the newest valid snapshot, replay the
//! log after it, and fill the in-memory map with exact metadata.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Instant;

use kv_core::Timestamp;
use kv_wal::{OwnedBatchOp, OwnedOp, Record};
use parking_lot::{Mutex, RwLock};

use crate::fsutil::ensure_private_dir;
use crate::lock::DirLock;
use crate::metrics::Counters;
use crate::store::Inner;
use crate::stripes::Stripes;
use crate::workers::Workers;
use crate::write::Evicted;
use crate::{Error, Options, RecoveryMode, RecoveryReport, Result};

/// One key's recovered state.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) value: Vec<u8>,
    pub(crate) expires_at: Option<u64>,
    pub(crate) created: u64,
    pub(crate) updated: u64,
    pub(crate) version: u64,
}

/// The state being rebuilt: a plain map with no limits, so replay never evicts on
/// its own (evictions come from the log's `Evict` records, and only those).
#[derive(Default)]
pub(crate) struct Replay {
    pub(crate) map: HashMap<Vec<u8>, Recovered>,
    pub(crate) now: u64,
    /// Entries dropped because they expired while the store was closed.
    pub(crate) expired: u64,
}

impl Replay {
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>, expires_at: Option<u64>, seq: u64, ts: u64) {
        // As the map did at write time: the creation time survives an overwrite of a
        // key that was live then (expired entries are dropped only at the end, since
        // a later record may still overwrite them).
        let created = match self.map.get(&key) {
            Some(old) if old.expires_at.is_none_or(|at| at > ts) => old.created,
            _ => ts,
        };
        self.map.insert(
            key,
            Recovered {
                value,
                expires_at,
                created,
                updated: ts,
                version: seq,
            },
        );
    }

    /// Drops the entries expired at `now` (the end of replay).
    pub(crate) fn drop_expired(&mut self) {
        let now = self.now;
        let before = self.map.len();
        self.map
            .retain(|_, e| e.expires_at.is_none_or(|at| at > now));
        self.expired += (before - self.map.len()) as u64;
    }

    /// Applies one log record: every key's final state is its last record's effect.
    pub(crate) fn apply(&mut self, record: Record) {
        let seq = record.seq.0;
        let ts = record.timestamp_ms;
        match record.op {
            OwnedOp::Put {
                key,
                value,
                expires_at,
            } => self.put(key, value, expires_at, seq, ts),
            OwnedOp::Delete { key } => {
                self.map.remove(&key);
            }
            OwnedOp::Expire { key, expires_at } => {
                if let Some(e) = self.map.get_mut(&key) {
                    e.expires_at = expires_at;
                }
            }
            OwnedOp::Evict { key, version }
                if self.map.get(&key).is_some_and(|e| e.version == version) =>
            {
                self.map.remove(&key);
            }
            OwnedOp::Clear => self.map.clear(),
            OwnedOp::Batch(ops) => {
                for op in ops {
                    match op {
                        OwnedBatchOp::Put {
                            key,
                            value,
                            expires_at,
                        } => self.put(key, value, expires_at, seq, ts),
                        OwnedBatchOp::Delete { key } => {
                            self.map.remove(&key);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// Opens a store: everything but starting the workers.
pub(crate) fn open(opts: Options) -> Result<Inner> {
    opts.validate()?;
    let started = Instant::now();
    let mode = opts.persistence_mode();
    let cache = crate::mem::new_cache(&opts)?;
    let mut report = RecoveryReport::default();
    let (kick_tx, kick_rx) = crossbeam_channel::bounded(1);

    let mut dir_lock = None;
    let mut wal = None;
    let mut snaps = None;
    let mut snapshot_seqs = Vec::new();
    let mut last_seq = 0;
    if let Some(dir) = &opts.dir {
        ensure_private_dir(dir)?;
        // Nothing in the directory is read or written before the lock is held.
        dir_lock = Some(DirLock::acquire(dir)?);
        let now = opts.clock.now().as_millis();
        let mut replay = Replay {
            now,
            ..Replay::default()
        };
        let s = crate::snapshotting::open_snapshots(&opts, dir)?;
        let mut snapshot_seq = 0;
        // Snapshots are read whatever the mode: a directory written in another mode
        // still recovers.
        for (seq, path) in crate::snapshotting::list(&s)? {
            match crate::snapshotting::load(&path, now, &mut replay) {
                Ok(count) => {
                    snapshot_seq = seq;
                    report.snapshot = Some(path);
                    report.snapshot_seq = seq;
                    report.snapshot_entries = count;
                    break;
                }
                Err(e) => {
                    tracing::warn!(
                        target: "kv_store::recovery",
                        file = %path.display(),
                        error = %e,
                        "snapshot unusable; falling back to an older one"
                    );
                    report.snapshots_skipped.push((path, error_chain(&e)));
                    replay.map.clear();
                }
            }
        }
        if report.snapshot.is_some() {
            snapshot_seqs.push(snapshot_seq);
        }
        last_seq = snapshot_seq.max(replay.map.values().map(|e| e.version).max().unwrap_or(0));
        snaps = Some(s);

        if mode.uses_wal() || crate::snapshotting::wal_present(dir) {
            let (w, wal_report) = crate::mem::open_wal(&opts, dir, snapshot_seq)?;
            report.bytes_cut = wal_report.bytes_cut;
            report.cut_at = wal_report.cut_at;
            let first = wal_report.first_seq;
            if report.snapshot.is_some() || !report.snapshots_skipped.is_empty() {
                // The log must continue right after the snapshot, or records are lost.
                if let Some(first) = first {
                    if first > snapshot_seq + 1 && opts.recovery != RecoveryMode::SalvageValid {
                        return Err(Error::Wal {
                            context: "the log does not reach back to the snapshot used; records are missing",
                            source: kv_wal::Error::InvalidOptions {
                                reason: format!(
                                    "snapshot covers up to {snapshot_seq}, log starts at {first}"
                                ),
                            },
                        });
                    }
                }
            }
            for record in w
                .replay_from(kv_wal::Seq(snapshot_seq + 1))
                .map_err(Error::wal("replaying the log"))?
            {
                let record = record.map_err(Error::wal("replaying the log"))?;
                report.records_replayed += 1;
                replay.apply(record);
            }
            last_seq = last_seq.max(w.last_seq().0);
            if mode.uses_wal() {
                wal = Some(w);
            } else {
                // A snapshot-only store opened on a directory with a log: the log's
                // content is now in memory and the next snapshot covers it.
                w.close()
                    .map_err(Error::wal("closing the log of an earlier mode"))?;
            }
        }
        replay.drop_expired();
        report.expired_dropped += replay.expired;
        let (loaded, evicted) = crate::mem::load(&cache, replay)?;
        report.entries = loaded;
        evicted_after_load(&wal, &opts, evicted)?;
    }
    report.duration = started.elapsed();
    if opts.dir.is_some() {
        tracing::info!(
            target: "kv_store::recovery",
            snapshot = ?report.snapshot,
            snapshot_entries = report.snapshot_entries,
            snapshots_skipped = report.snapshots_skipped.len(),
            records_replayed = report.records_replayed,
            bytes_cut = report.bytes_cut,
            entries = report.entries,
            duration_ms = report.duration.as_secs_f64() * 1e3,
            "recovered"
        );
    }
    let counters = Counters::default();
    if let Some(w) = &wal {
        counters.wal_bytes_at_snapshot.store(
            crate::mem::wal_bytes(w),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
    let stripes = Stripes::new(opts.write_stripes);
    Ok(Inner {
        mode,
        cache,
        wal,
        snaps,
        gate: RwLock::new(()),
        stripes,
        seq: AtomicU64::new(last_seq),
        closed: AtomicBool::new(false),
        closing: Mutex::new(()),
        snapshotting: Mutex::new(()),
        workers: Mutex::new(Workers::new()),
        kick_snapshot: Some(kick_tx),
        kick_rx: Mutex::new(Some(kick_rx)),
        counters,
        snapshot_seqs: Mutex::new(snapshot_seqs),
        in_flight: Mutex::new(HashMap::new()),
        recovery: report,
        dir_lock: Mutex::new(dir_lock),
        opts,
    })
}

/// Evictions caused by loading more entries than the (possibly lowered) limits
/// allow are logged, so the next recovery agrees with memory.
fn evicted_after_load(wal: &Option<kv_wal::Wal>, opts: &Options, evicted: Evicted) -> Result<()> {
    let Some(wal) = wal else { return Ok(()) };
    let now = opts.clock.now().as_millis();
    for (key, version) in &evicted {
        wal.append(
            &kv_wal::Op::Evict {
                key,
                version: *version,
            },
            now,
        )
        .map_err(Error::wal("logging an eviction made while loading"))?;
    }
    Ok(())
}

/// An error and its sources, for a report.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The store's timestamps from a recovered entry.
pub(crate) fn ts(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

//! Open and recovery: lock the directory, load the newest valid snapshot, replay the
//! log after it, and fill the in-memory map with exact metadata.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Instant;

use kv_core::Timestamp;
use kv_wal::{OwnedBatchOp, OwnedOp, Record};
use parking_lot::{Mutex, RwLock};

use crate::fsutil::{ensure_dir, narrow_dir};
use crate::lock::DirLock;
use crate::metrics::Counters;
use crate::store::Inner;
use crate::stripes::Stripes;
use crate::workers::Workers;
use crate::write::Evicted;
use crate::{Error, Options, RecoveryMode, RecoveryReport, Result};

/// One key's recovered state.
#[derive(Debug, Clone)]
pub(crate) struct Recovered {
    pub(crate) value: Vec<u8>,
    pub(crate) expires_at: Option<u64>,
    pub(crate) created: u64,
    pub(crate) updated: u64,
    pub(crate) version: u64,
}

/// Snapshot entries already expired at open, kept aside until the log has been
/// replayed (see [`crate::snapshotting::load`]).
pub(crate) type ExpiredBase = HashMap<Vec<u8>, Recovered, foldhash::fast::RandomState>;

/// A key touched by the log: its state after the records replayed so far (`None`:
/// absent) and whether that differs from what the map holds.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) state: Option<Recovered>,
    pub(crate) changed: bool,
}

/// The log replayed over the map loaded from the snapshot: an overlay holding only
/// the keys the log touches, so replay never evicts on its own (evictions come from
/// the log's `Evict` records, and only those), and the snapshot's entries go into
/// the map once, directly.
pub(crate) struct Replay<'c> {
    pub(crate) base: &'c kv_core::Cache,
    /// The snapshot's entries that had expired by the time of opening.
    pub(crate) expired_base: ExpiredBase,
    pub(crate) map: HashMap<Vec<u8>, Slot, foldhash::fast::RandomState>,
    /// A `Clear` record was replayed: the base no longer counts.
    pub(crate) cleared: bool,
    /// The map was empty when replay began.
    pub(crate) base_empty: bool,
    pub(crate) now: u64,
    /// Entries found expired at the end.
    pub(crate) expired: u64,
}

impl<'c> Replay<'c> {
    /// `records` (how many the log holds) sizes the overlay.
    pub(crate) fn new(
        base: &'c kv_core::Cache,
        expired_base: ExpiredBase,
        now: u64,
        records: u64,
    ) -> Self {
        let mut map = HashMap::default();
        map.reserve(records.min(1 << 24) as usize);
        Replay {
            base,
            expired_base,
            map,
            cleared: false,
            // Nothing to look up in an empty map (no snapshot was loaded).
            base_empty: base.is_empty(),
            now,
            expired: 0,
        }
    }

    /// The slot of `key`, fetched from the base map on first touch.
    fn slot(&mut self, key: Vec<u8>) -> &mut Slot {
        let (base, cleared, base_empty) = (self.base, self.cleared, self.base_empty);
        let expired_base = &mut self.expired_base;
        self.map.entry(key).or_insert_with_key(|key| {
            let state = if cleared {
                None
            } else {
                let live = if base_empty {
                    None
                } else {
                    base.get_entry(key).map(|e| Recovered {
                        value: e.value().to_vec(),
                        expires_at: e.expires_at().map(Timestamp::as_millis),
                        created: e.created().as_millis(),
                        updated: e.updated().as_millis(),
                        version: e.version(),
                    })
                };
                live.or_else(|| {
                    if expired_base.is_empty() {
                        None
                    } else {
                        expired_base.remove(key)
                    }
                })
            };
            // (One from the expired base is removed at the end unless a record
            // revives it; either way `finish` sees it.)
            Slot {
                state,
                changed: false,
            }
        })
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>, expires_at: Option<u64>, seq: u64, ts: u64) {
        let slot = self.slot(key);
        // As the map did at write time: the creation time survives an overwrite of a
        // key that was live then (expired entries are dropped only at the end, since
        // a later record may still overwrite them).
        let created = match &slot.state {
            Some(old) if old.expires_at.is_none_or(|at| at > ts) => old.created,
            _ => ts,
        };
        slot.state = Some(Recovered {
            value,
            expires_at,
            created,
            updated: ts,
            version: seq,
        });
        slot.changed = true;
    }

    fn remove(&mut self, key: Vec<u8>) {
        let slot = self.slot(key);
        if slot.state.take().is_some() {
            slot.changed = true;
        }
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
            OwnedOp::Delete { key } => self.remove(key),
            OwnedOp::Expire { key, expires_at } => {
                let slot = self.slot(key);
                if let Some(e) = &mut slot.state {
                    e.expires_at = expires_at;
                    slot.changed = true;
                }
            }
            OwnedOp::Evict { key, version } => {
                let slot = self.slot(key);
                if slot.state.as_ref().is_some_and(|e| e.version == version) {
                    slot.state = None;
                    slot.changed = true;
                }
            }
            OwnedOp::Clear => {
                self.cleared = true;
                self.map.clear();
                self.expired_base.clear();
            }
            OwnedOp::Batch(ops) => {
                for op in ops {
                    match op {
                        OwnedBatchOp::Put {
                            key,
                            value,
                            expires_at,
                        } => self.put(key, value, expires_at, seq, ts),
                        OwnedBatchOp::Delete { key } => self.remove(key),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    /// Writes the overlay into the map: first the clear, then the removals (so the
    /// map never holds more than the final state and never evicts because of the
    /// replay order), then the puts with their exact metadata. Entries that expired
    /// while the store was closed are removed. Returns what the map evicted because
    /// the options' limits are now lower than what was recovered, and how many
    /// entries had expired.
    pub(crate) fn finish(mut self) -> Result<(Evicted, u64)> {
        let cache = self.base;
        // Expired snapshot entries no record touched stay out of the map.
        self.expired += self.expired_base.len() as u64;
        if self.cleared {
            cache.clear();
        }
        let now = self.now;
        for slot in self.map.values_mut() {
            if slot
                .state
                .as_ref()
                .is_some_and(|e| e.expires_at.is_some_and(|at| at <= now))
            {
                slot.state = None;
                slot.changed = true;
                self.expired += 1;
            }
        }
        let mut evictions = Evicted::new();
        for (key, slot) in &self.map {
            if slot.changed && slot.state.is_none() {
                cache.delete(key);
            }
        }
        let puts: Vec<(Vec<u8>, Recovered)> = self
            .map
            .into_iter()
            .filter_map(|(key, slot)| match (slot.changed, slot.state) {
                (true, Some(e)) => Some((key, e)),
                _ => None,
            })
            .collect();
        if self.base_empty || self.cleared {
            // Every put is a new key: size the map's shards once.
            cache.reserve(puts.len());
        }
        for part in insert_parallel(cache, puts) {
            evictions.extend(part?);
        }
        Ok((evictions, self.expired))
    }
}

/// Reads the log on a thread of its own (checksums, decoding) while this one applies
/// what it read, batch by batch, in order; returns how many records were applied.
/// On an error the records before it have been applied.
fn replay_log(log: kv_wal::Replay, replay: &mut Replay<'_>) -> Result<u64> {
    const BATCH: usize = 1024;
    std::thread::scope(|scope| {
        let (tx, rx) = crossbeam_channel::bounded::<Vec<Record>>(4);
        let reader = scope.spawn(move || -> std::result::Result<(), kv_wal::Error> {
            let mut batch = Vec::with_capacity(BATCH);
            for record in log {
                batch.push(record?);
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if tx.send(full).is_err() {
                        return Ok(());
                    }
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            Ok(())
        });
        let mut applied = 0;
        for batch in rx {
            applied += batch.len() as u64;
            for record in batch {
                replay.apply(record);
            }
        }
        match reader.join() {
            Ok(Ok(())) => Ok(applied),
            Ok(Err(e)) => Err(Error::wal("replaying the log")(e)),
            Err(_) => Err(Error::WorkerPanicked {
                worker: "log replay",
            }),
        }
    })
}

/// Recovered entries inserted into the map per bulk call.
const BULK: usize = 4096;

/// Inserts distinct recovered entries into the map, on several threads when there are
/// many (each thread also frees what it inserted).
fn insert_parallel(
    cache: &kv_core::Cache,
    mut puts: Vec<(Vec<u8>, Recovered)>,
) -> Vec<Result<Evicted>> {
    let insert_all = |part: Vec<(Vec<u8>, Recovered)>| -> Result<Evicted> {
        let mut evicted = Evicted::new();
        // Many at a time under one lock per shard while they fit; else one by one,
        // evicting as the limits require.
        for group in part.chunks(BULK) {
            let puts: Vec<kv_core::BulkPut<'_>> = group
                .iter()
                .map(|(key, e)| kv_core::BulkPut {
                    key,
                    value: &e.value,
                    write: crate::mem::exact_write(e.expires_at, e.created, e.updated, e.version),
                })
                .collect();
            let fitted = cache.insert_bulk(&puts).map_err(|source| Error::Replay {
                seq: group.first().map_or(0, |(_, e)| e.version),
                source,
            })?;
            if !fitted {
                for (key, e) in group {
                    evicted.extend(crate::mem::insert_recovered(cache, key, e)?);
                }
            }
        }
        Ok(evicted)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    if threads == 1 || puts.len() < 16 * 1024 {
        return vec![insert_all(puts)];
    }
    let per = puts.len().div_ceil(threads);
    let mut parts = Vec::with_capacity(threads);
    while puts.len() > per {
        let rest = puts.split_off(per);
        parts.push(std::mem::replace(&mut puts, rest));
    }
    parts.push(puts);
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || insert_all(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or(Err(Error::WorkerPanicked { worker: "recovery" }))
            })
            .collect()
    })
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
        ensure_dir(dir)?;
        // Nothing in the directory is read or written before the lock is held.
        dir_lock = Some(DirLock::acquire(dir)?);
        narrow_dir(dir);
        let now = opts.clock.now().as_millis();
        let mut evicted = Evicted::new();
        let mut expired_base = ExpiredBase::default();
        let s = crate::snapshotting::open_snapshots(&opts, dir)?;
        let mut snapshot_seq = 0;
        // Snapshots are read whatever the mode: a directory written in another mode
        // still recovers. A snapshot goes straight into the map; one that fails to
        // verify is cleared out again and the previous one is tried.
        for (seq, path) in crate::snapshotting::list(&s)? {
            match crate::load::load(&path, now, &cache, &mut evicted, &mut expired_base) {
                Ok(loaded) => {
                    snapshot_seq = seq;
                    last_seq = seq.max(loaded.max_version);
                    report.snapshot = Some(path);
                    report.snapshot_seq = seq;
                    report.snapshot_entries = loaded.entries;
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
                    cache.clear();
                    evicted.clear();
                    expired_base.clear();
                }
            }
        }
        if report.snapshot.is_some() {
            snapshot_seqs.push(snapshot_seq);
        } else if !report.snapshots_skipped.is_empty()
            && !mode.uses_wal()
            && !crate::snapshotting::wal_present(dir)
            && opts.recovery != RecoveryMode::SalvageValid
        {
            // Every snapshot is damaged and there is no log to rebuild from.
            return Err(Error::LogGap {
                snapshot_seq: 0,
                log_first_seq: 0,
                snapshots_skipped: report.snapshots_skipped.len(),
            });
        }
        snaps = Some(s);

        if mode.uses_wal() || crate::snapshotting::wal_present(dir) {
            let (w, wal_report) = crate::mem::open_wal(&opts, dir, snapshot_seq)?;
            report.bytes_cut = wal_report.bytes_cut;
            report.cut_at = wal_report.cut_at;
            // The log must continue right after the snapshot used (or start at 1
            // when none was), or records are missing: a snapshot fallback whose log
            // was truncated, or files removed by hand.
            let missing = match wal_report.first_seq {
                Some(first) => first > snapshot_seq.saturating_add(1),
                None => w.last_seq().0 > snapshot_seq,
            };
            // A log that ends before the snapshot would hand out sequence numbers
            // the snapshot already covers, and the next recovery would skip those
            // writes. (A snapshot syncs the log before it is renamed into place, so
            // only files changed by hand lead here.)
            if w.last_seq().0 < snapshot_seq {
                return Err(Error::LogBehindSnapshot {
                    snapshot_seq,
                    log_last_seq: w.last_seq().0,
                });
            }
            if missing && opts.recovery != RecoveryMode::SalvageValid {
                return Err(Error::LogGap {
                    snapshot_seq,
                    log_first_seq: wal_report
                        .first_seq
                        .unwrap_or(w.last_seq().0.saturating_add(1)),
                    snapshots_skipped: report.snapshots_skipped.len(),
                });
            }
            let mut replay = Replay::new(
                &cache,
                std::mem::take(&mut expired_base),
                now,
                wal_report.records,
            );
            let log = w
                .replay_from(kv_wal::Seq(snapshot_seq.saturating_add(1)))
                .map_err(Error::wal("replaying the log"))?;
            report.records_replayed += replay_log(log, &mut replay)?;
            let (more, expired) = replay.finish()?;
            report.expired_dropped += expired;
            evicted.extend(more);
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
        report.expired_dropped += expired_base.len() as u64;
        report.entries = cache.len() as u64;
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
    counters
        .last_snapshot_seq
        .store(report.snapshot_seq, std::sync::atomic::Ordering::Relaxed);
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

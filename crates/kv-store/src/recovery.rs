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

/// Recovered entries to put into the map, with their keys.
type Puts = Vec<(Vec<u8>, Recovered)>;

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

    /// Splits the overlay into `n` covering disjoint keys (by [`part_of`]), to be
    /// fed each its keys' records. Only before any record was applied.
    fn split(self, n: usize) -> Vec<Replay<'c>> {
        debug_assert!(self.map.is_empty() && !self.cleared);
        let mut expired: Vec<ExpiredBase> = (0..n).map(|_| ExpiredBase::default()).collect();
        for (key, e) in self.expired_base {
            expired[part_of(&key, n)].insert(key, e);
        }
        let per = self.map.capacity() / n;
        expired
            .into_iter()
            .map(|expired_base| {
                let mut map = HashMap::default();
                map.reserve(per);
                Replay {
                    base: self.base,
                    expired_base,
                    map,
                    cleared: false,
                    base_empty: self.base_empty,
                    now: self.now,
                    expired: 0,
                }
            })
            .collect()
    }

    /// Drops what expired while the store was closed and hands back the removals and
    /// puts to make, and how many entries had expired.
    fn settle(mut self) -> Settled {
        // Expired snapshot entries no record touched stay out of the map.
        self.expired += self.expired_base.len() as u64;
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
        let mut removals = Vec::new();
        let mut puts = Vec::with_capacity(self.map.len());
        for (key, slot) in self.map {
            match (slot.changed, slot.state) {
                (true, Some(e)) => puts.push((key, e)),
                (true, None) => removals.push(key),
                _ => {}
            }
        }
        Settled {
            cleared: self.cleared,
            all_new: self.base_empty || self.cleared,
            removals,
            puts,
            expired: self.expired,
        }
    }
}

/// One overlay part's outcome, ready to be written into the map.
struct Settled {
    /// A `Clear` record was replayed (it reaches every part).
    cleared: bool,
    /// Every put is of a key the map does not hold.
    all_new: bool,
    removals: Vec<Vec<u8>>,
    puts: Puts,
    expired: u64,
}

/// Writes settled overlays of disjoint keys into the map: first the clear, then the
/// removals (so the map never holds more than the final state and never evicts
/// because of the replay order), then the puts with their exact metadata. Returns
/// what the map evicted because the options' limits are now lower than what was
/// recovered, and how many entries had expired.
fn finish_parts(cache: &kv_core::Cache, parts: Vec<Settled>) -> Result<(Evicted, u64)> {
    if parts.iter().any(|p| p.cleared) {
        cache.clear();
    }
    // Every put is a new key: the map's shards can be sized once.
    let all_new = parts.iter().all(|p| p.all_new);
    let mut expired = 0;
    let mut puts = Vec::with_capacity(parts.len());
    for part in parts {
        for key in &part.removals {
            cache.delete(key);
        }
        expired += part.expired;
        puts.push(part.puts);
    }
    if all_new {
        cache.reserve(puts.iter().map(Vec::len).sum());
    }
    let mut evictions = Evicted::new();
    for part in insert_parallel(cache, puts) {
        evictions.extend(part?);
    }
    Ok((evictions, expired))
}

/// Which of `n` parts the key `key` belongs to (a hash of its own, independent of
/// the maps' hashers).
fn part_of(key: &[u8], n: usize) -> usize {
    use std::hash::BuildHasher;
    let h = foldhash::fast::FixedState::with_seed(0x6b76_2d72_6563_6f76).hash_one(key);
    ((h >> 32) % n as u64) as usize
}

/// Hands `op` (of record `seq`, `ts`) to the parts of its keys: a batch is split by
/// key, a clear goes to every part.
fn route(seq: kv_wal::Seq, ts: u64, op: OwnedOp, out: &mut [Vec<Record>]) {
    let n = out.len();
    let record = |op| Record {
        seq,
        timestamp_ms: ts,
        op,
    };
    let key = match &op {
        OwnedOp::Put { key, .. }
        | OwnedOp::Delete { key }
        | OwnedOp::Expire { key, .. }
        | OwnedOp::Evict { key, .. } => key,
        OwnedOp::Clear => {
            for o in out.iter_mut() {
                o.push(record(OwnedOp::Clear));
            }
            return;
        }
        OwnedOp::Batch(_) => {
            let OwnedOp::Batch(ops) = op else {
                unreachable!("matched above")
            };
            let mut split: Vec<Vec<OwnedBatchOp>> = (0..n).map(|_| Vec::new()).collect();
            for bop in ops {
                let key = match &bop {
                    OwnedBatchOp::Put { key, .. } | OwnedBatchOp::Delete { key } => key,
                    // Replay applies no other batch operation.
                    _ => continue,
                };
                split[part_of(key, n)].push(bop);
            }
            for (o, ops) in out.iter_mut().zip(split) {
                if !ops.is_empty() {
                    o.push(record(OwnedOp::Batch(ops)));
                }
            }
            return;
        }
        // Replay applies no other operation.
        _ => return,
    };
    let p = part_of(key, n);
    out[p].push(record(op));
}

/// Reads the log on a thread of its own (checksums, decoding), splits its records by
/// key over parts of the overlay, each applied on a thread of its own in log order,
/// and writes the result into the map. Returns how many records were read, what the
/// map evicted and how many entries had expired. On an error the map is left
/// partly loaded (the caller gives up).
fn replay_log(
    log: kv_wal::Replay,
    replay: Replay<'_>,
    records: u64,
) -> Result<(u64, Evicted, u64)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    // Small logs are not worth the threads.
    let n = if records < 64 * 1024 { 1 } else { threads };
    replay_in_parts(log, replay, n)
}

/// [`replay_log`] over `n` parts.
fn replay_in_parts(
    log: impl Iterator<Item = std::result::Result<Record, kv_wal::Error>> + Send,
    replay: Replay<'_>,
    n: usize,
) -> Result<(u64, Evicted, u64)> {
    const BATCH: usize = 1024;
    let cache = replay.base;
    let parts = replay.split(n);
    let (read, parts) = std::thread::scope(|scope| -> Result<(u64, Vec<Settled>)> {
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
        let mut senders = Vec::with_capacity(n);
        let mut appliers = Vec::with_capacity(n);
        for mut part in parts {
            let (ptx, prx) = crossbeam_channel::bounded::<Vec<Record>>(4);
            senders.push(ptx);
            appliers.push(scope.spawn(move || {
                for batch in prx {
                    for record in batch {
                        part.apply(record);
                    }
                }
                // Settled here, on the part's own thread.
                part.settle()
            }));
        }
        let mut read = 0;
        for batch in rx {
            read += batch.len() as u64;
            let mut out: Vec<Vec<Record>> = (0..n).map(|_| Vec::with_capacity(BATCH)).collect();
            for record in batch {
                route(record.seq, record.timestamp_ms, record.op, &mut out);
            }
            for (ptx, o) in senders.iter().zip(out) {
                // An applier ends only by panicking, reported below.
                if !o.is_empty() && ptx.send(o).is_err() {
                    break;
                }
            }
        }
        drop(senders);
        let panicked = || Error::WorkerPanicked {
            worker: "log replay",
        };
        let parts = appliers
            .into_iter()
            .map(|h| h.join().map_err(|_| panicked()))
            .collect::<Result<Vec<_>>>()?;
        match reader.join() {
            Ok(Ok(())) => Ok((read, parts)),
            Ok(Err(e)) => Err(Error::wal("replaying the log")(e)),
            Err(_) => Err(panicked()),
        }
    })?;
    let (evicted, expired) = finish_parts(cache, parts)?;
    Ok((read, evicted, expired))
}

/// Recovered entries inserted into the map per bulk call.
const BULK: usize = 4096;

/// Inserts distinct recovered entries (in parts) into the map, on several threads
/// when there are many (each thread also frees what it inserted).
fn insert_parallel(cache: &kv_core::Cache, parts: Vec<Puts>) -> Vec<Result<Evicted>> {
    let insert_all = |part: Puts| -> Result<Evicted> {
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
    let total: usize = parts.iter().map(Vec::len).sum();
    if threads == 1 || total < 16 * 1024 {
        return parts.into_iter().map(insert_all).collect();
    }
    let parts = if parts.len() > 1 {
        parts
    } else {
        let mut puts = parts.into_iter().flatten().collect::<Vec<_>>();
        let per = puts.len().div_ceil(threads);
        let mut split = Vec::with_capacity(threads);
        while puts.len() > per {
            let rest = puts.split_off(per);
            split.push(std::mem::replace(&mut puts, rest));
        }
        split.push(puts);
        split
    };
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
            let replay = Replay::new(
                &cache,
                std::mem::take(&mut expired_base),
                now,
                wal_report.records,
            );
            let log = w
                .replay_from(kv_wal::Seq(snapshot_seq.saturating_add(1)))
                .map_err(Error::wal("replaying the log"))?;
            let (read, more, expired) = replay_log(log, replay, wal_report.records)?;
            report.records_replayed += read;
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

#[cfg(test)]
mod tests {
    use kv_wal::{OwnedBatchOp, OwnedOp, Record, Seq};
    use proptest::prelude::*;

    use super::{replay_in_parts, ExpiredBase, Replay};

    /// A small key space, so that records collide on keys.
    fn key() -> impl Strategy<Value = Vec<u8>> {
        (0u8..12).prop_map(|k| vec![b'k', k])
    }

    fn op() -> impl Strategy<Value = OwnedOp> {
        let expiry = proptest::option::of(900u64..1100);
        prop_oneof![
            6 => (key(), any::<u8>(), expiry.clone()).prop_map(|(key, v, expires_at)| {
                OwnedOp::Put { key, value: vec![v; 3], expires_at }
            }),
            2 => key().prop_map(|key| OwnedOp::Delete { key }),
            1 => (key(), expiry).prop_map(|(key, expires_at)| OwnedOp::Expire { key, expires_at }),
            1 => (key(), 1u64..40).prop_map(|(key, version)| OwnedOp::Evict { key, version }),
            1 => Just(OwnedOp::Clear),
            2 => proptest::collection::vec((key(), any::<bool>(), any::<u8>()), 0..5).prop_map(
                |ops| OwnedOp::Batch(
                    ops.into_iter()
                        .map(|(key, put, v)| if put {
                            OwnedBatchOp::Put { key, value: vec![v], expires_at: None }
                        } else {
                            OwnedBatchOp::Delete { key }
                        })
                        .collect()
                )
            ),
        ]
    }

    /// An entry as the map holds it: key, value, version, created, updated, expiry.
    type Seen = (Vec<u8>, Vec<u8>, u64, u64, u64, Option<u64>);

    /// The map after replaying `ops` over a base holding `base` keys, in `n` parts.
    fn replayed(base: &[(Vec<u8>, u8)], ops: &[OwnedOp], n: usize) -> Vec<Seen> {
        let cache = kv_core::Cache::new(kv_core::Options::default()).unwrap();
        for (i, (k, v)) in base.iter().enumerate() {
            crate::mem::insert_exact(&cache, k, &[*v], None, 5, 5 + i as u64, i as u64 + 1)
                .unwrap();
        }
        let records: Vec<_> = ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                Ok(Record {
                    seq: Seq(100 + i as u64),
                    timestamp_ms: 950 + i as u64,
                    op: op.clone(),
                })
            })
            .collect();
        let replay = Replay::new(&cache, ExpiredBase::default(), 1000, records.len() as u64);
        let (read, _, _) = replay_in_parts(records.into_iter(), replay, n).unwrap();
        assert_eq!(read, ops.len() as u64);
        let mut out: Vec<_> = cache
            .iter()
            .map(|e| {
                (
                    e.key().to_vec(),
                    e.value().to_vec(),
                    e.version(),
                    e.created().as_millis(),
                    e.updated().as_millis(),
                    e.expires_at().map(kv_core::Timestamp::as_millis),
                )
            })
            .collect();
        out.sort();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Splitting the log's records over parts of the overlay by key changes
        /// nothing: clears, batches, expiries and evictions land as in one part.
        #[test]
        fn replay_in_parts_matches_one_part(
            base in proptest::collection::vec((key(), any::<u8>()), 0..8),
            ops in proptest::collection::vec(op(), 0..40),
        ) {
            let one = replayed(&base, &ops, 1);
            for n in [2, 3] {
                prop_assert_eq!(&replayed(&base, &ops, n), &one);
            }
        }
    }
}

//! Open and recovery: lock the directory, load the newest valid snapshot, replay the
//! log after it, and fill the in-memory map with exact metadata.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Instant;

use kv_core::Timestamp;
use kv_wal::Record;
use parking_lot::{Mutex, RwLock};

use crate::fsutil::{ensure_dir, narrow_dir};
use crate::lock::DirLock;
use crate::logops::{Chunk, Router};
use crate::metrics::Counters;
use crate::overlay::Overlay;
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

/// Writes the settled overlay parts (disjoint keys) into the map: first the clear,
/// then the removals (so the map never holds more than the final state and never
/// evicts because of the replay order), then the puts with their exact metadata.
/// Returns what the map evicted because the options' limits are now lower than what
/// was recovered, and how many entries had expired.
fn finish_parts(cache: &kv_core::Cache, parts: &[Overlay<'_>]) -> Result<(Evicted, u64)> {
    if parts.iter().any(Overlay::cleared) {
        cache.clear();
    }
    let mut expired = 0;
    for part in parts {
        for key in part.removals() {
            cache.delete(key);
        }
        expired += part.expired();
    }
    // Every put is a new key: the map's shards can be sized once.
    if parts.iter().all(Overlay::all_new) {
        cache
            .hooks()
            .reserve(parts.iter().map(Overlay::put_count).sum());
    }
    let mut evictions = Evicted::new();
    for part in insert_parallel(cache, parts) {
        evictions.extend(part?);
    }
    Ok((evictions, expired))
}

/// Reads the log on a thread of its own (checksums, decoding, then each key's
/// operations copied into its overlay part's chunk), applies each part on a thread
/// of its own in log order, and writes the result into the map. Returns how many
/// records were read, what the map evicted and how many entries had expired. On an
/// error the map is left partly loaded (the caller gives up).
fn replay_log(
    log: kv_wal::Replay,
    cache: &kv_core::Cache,
    expired_base: ExpiredBase,
    now: u64,
    (records, bytes): (u64, u64),
) -> Result<(u64, Evicted, u64)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    // Small logs are not worth the threads; a batch record holds many operations,
    // so the log's bytes count too.
    let ops = records.max(bytes / 128);
    let n = if ops < 64 * 1024 { 1 } else { threads };
    let parts = Overlay::parts(cache, expired_base, now, n);
    replay_in_parts(log, cache, parts)
}

/// [`replay_log`] over the overlay `parts`.
fn replay_in_parts(
    log: impl Iterator<Item = std::result::Result<Record, kv_wal::Error>> + Send,
    cache: &kv_core::Cache,
    parts: Vec<Overlay<'_>>,
) -> Result<(u64, Evicted, u64)> {
    let n = parts.len();
    let (read, parts) = std::thread::scope(|scope| -> Result<(u64, Vec<Overlay<'_>>)> {
        let mut senders = Vec::with_capacity(n);
        let mut appliers = Vec::with_capacity(n);
        for mut part in parts {
            let (tx, rx) = crossbeam_channel::bounded::<Chunk>(4);
            senders.push(tx);
            appliers.push(scope.spawn(move || {
                for chunk in rx {
                    part.apply(chunk);
                }
                // Settled here, on the part's own thread.
                part.settle();
                part
            }));
        }
        // The log is read and decoded on a thread of its own; this thread copies the
        // records' operations into their parts' chunks (and frees the records).
        let (tx, rx) = crossbeam_channel::bounded::<Vec<Record>>(2);
        let reader = scope.spawn(move || -> std::result::Result<u64, kv_wal::Error> {
            let (mut batch, mut ops, mut read) = (Vec::new(), 0, 0);
            for record in log {
                let record = record?;
                ops += match &record.op {
                    kv_wal::OwnedOp::Batch(ops) => ops.len().max(1),
                    _ => 1,
                };
                batch.push(record);
                read += 1;
                if ops >= ROUTE_OPS {
                    // A failed send means routing stopped on a panic, reported below.
                    if tx.send(std::mem::take(&mut batch)).is_err() {
                        break;
                    }
                    ops = 0;
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            Ok(read)
        });
        let mut router = Router::new(n);
        // A failed send means an applier panicked, reported below.
        let mut send = |p: usize, chunk: Chunk| drop(senders[p].send(chunk));
        for batch in rx {
            for record in batch {
                router.add(record, &mut send);
            }
        }
        router.flush(&mut send);
        drop(senders);
        let read = reader.join();
        let panicked = || Error::WorkerPanicked {
            worker: "log replay",
        };
        let parts = appliers
            .into_iter()
            .map(|h| h.join().map_err(|_| panicked()))
            .collect::<Result<Vec<_>>>()?;
        match read {
            Ok(Ok(read)) => Ok((read, parts)),
            Ok(Err(e)) => Err(Error::wal("replaying the log")(e)),
            Err(_) => Err(panicked()),
        }
    })?;
    let (evicted, expired) = finish_parts(cache, &parts)?;
    Ok((read, evicted, expired))
}

/// Operations the log's reader gathers before handing records on to be routed.
const ROUTE_OPS: usize = 4096;

/// Recovered entries inserted into the map per bulk call.
const BULK: usize = 4096;

/// Inserts the overlay parts' puts (distinct keys) into the map, on several threads
/// when there are many.
fn insert_parallel(cache: &kv_core::Cache, parts: &[Overlay<'_>]) -> Vec<Result<Evicted>> {
    // Slots `range` of one part.
    type Work<'a, 'c> = (&'a Overlay<'c>, std::ops::Range<usize>);
    let insert_all = |(part, range): Work<'_, '_>| -> Result<Evicted> {
        let mut evicted = Evicted::new();
        let mut puts = Vec::with_capacity(BULK);
        let mut i = range.start;
        while i < range.end {
            puts.clear();
            while i < range.end && puts.len() < BULK {
                puts.extend(part.put_at(i));
                i += 1;
            }
            // Many at a time under one lock per shard while they fit; else one by
            // one, evicting as the limits require.
            let fitted = cache
                .hooks()
                .insert_bulk(&puts)
                .map_err(|source| Error::Replay {
                    seq: puts.first().and_then(|p| p.write.version).unwrap_or(0),
                    source,
                })?;
            if !fitted {
                for p in &puts {
                    match cache.hooks().insert(p.key, p.value, p.write) {
                        Ok(out) => evicted.extend(crate::mem::evicted(out.evicted)),
                        Err(source) => {
                            return Err(Error::Replay {
                                seq: p.write.version.unwrap_or(0),
                                source,
                            })
                        }
                    }
                }
            }
        }
        Ok(evicted)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let total: usize = parts.iter().map(Overlay::slot_count).sum();
    if threads == 1 || total < 16 * 1024 {
        return parts
            .iter()
            .map(|p| insert_all((p, 0..p.slot_count())))
            .collect();
    }
    // Each part in pieces of about an equal share of all slots.
    let share = total.div_ceil(threads).max(1);
    let mut work = Vec::new();
    for part in parts {
        let mut start = 0;
        while start < part.slot_count() {
            let end = (start + share).min(part.slot_count());
            work.push((part, start..end));
            start = end;
        }
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .into_iter()
            .map(|w| scope.spawn(move || insert_all(w)))
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
            let log = w
                .replay_from(kv_wal::Seq(snapshot_seq.saturating_add(1)))
                .map_err(Error::wal("replaying the log"))?;
            let (read, more, expired) = replay_log(
                log,
                &cache,
                std::mem::take(&mut expired_base),
                now,
                (wal_report.records, crate::mem::wal_bytes(&w)),
            )?;
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

    use super::{replay_in_parts, ExpiredBase};
    use crate::overlay::Overlay;

    /// A small key space, so that records collide on keys.
    fn key() -> impl Strategy<Value = Vec<u8>> {
        (0u8..12).prop_map(|k| vec![b'k', k])
    }

    fn op() -> impl Strategy<Value = OwnedOp> {
        // Whole seconds, as the map keeps creation and update times.
        let expiry = proptest::option::of((900u64..1100).prop_map(|s| s * 1000));
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

    /// The map after replaying `ops` over a base holding `base` keys, in `n` parts
    /// (which compact their buffers as often as they can when `compact`).
    fn replayed(base: &[(Vec<u8>, u8)], ops: &[OwnedOp], n: usize, compact: bool) -> Vec<Seen> {
        // The map's clock reads the replay's "now", so it hides what replay dropped.
        let clock = kv_core::ManualClock::new(kv_core::Timestamp::from_millis(1_000_000));
        let cache = kv_core::Cache::new(kv_core::Options::default().clock(clock)).unwrap();
        for (i, (k, v)) in base.iter().enumerate() {
            crate::mem::insert_exact(
                &cache,
                k,
                &[*v],
                None,
                5_000,
                (5 + i as u64) * 1000,
                i as u64 + 1,
            )
            .unwrap();
        }
        let records: Vec<_> = ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                Ok(Record {
                    seq: Seq(100 + i as u64),
                    timestamp_ms: (950 + i as u64) * 1000,
                    op: op.clone(),
                })
            })
            .collect();
        let mut parts = Overlay::parts(&cache, ExpiredBase::default(), 1_000_000, n);
        if compact {
            parts.iter_mut().for_each(Overlay::compact_always);
        }
        let (read, _, _) = replay_in_parts(records.into_iter(), &cache, parts).unwrap();
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

    /// What replaying `ops` over `base` must leave, written plainly: each key's
    /// state after its last record, expired entries dropped at the end.
    fn model(base: &[(Vec<u8>, u8)], ops: &[OwnedOp]) -> Vec<Seen> {
        use std::collections::BTreeMap;
        // key -> (value, version, created, updated, expiry)
        type State = (Vec<u8>, u64, u64, u64, Option<u64>);
        let mut map: BTreeMap<Vec<u8>, State> = BTreeMap::new();
        for (i, (k, v)) in base.iter().enumerate() {
            map.insert(
                k.clone(),
                (vec![*v], i as u64 + 1, 5_000, (5 + i as u64) * 1000, None),
            );
        }
        let put =
            |map: &mut BTreeMap<Vec<u8>, State>, key: &Vec<u8>, value: &Vec<u8>, exp, seq, ts| {
                let created = match map.get(key) {
                    Some(old) if old.4.is_none_or(|at| at > ts) => old.2,
                    _ => ts,
                };
                map.insert(key.clone(), (value.clone(), seq, created, ts, exp));
            };
        for (i, op) in ops.iter().enumerate() {
            let (seq, ts) = (100 + i as u64, (950 + i as u64) * 1000);
            match op {
                OwnedOp::Put {
                    key,
                    value,
                    expires_at,
                } => put(&mut map, key, value, *expires_at, seq, ts),
                OwnedOp::Delete { key } => {
                    map.remove(key);
                }
                OwnedOp::Expire { key, expires_at } => {
                    if let Some(e) = map.get_mut(key) {
                        e.4 = *expires_at;
                    }
                }
                OwnedOp::Evict { key, version } => {
                    if map.get(key).is_some_and(|e| e.1 == *version) {
                        map.remove(key);
                    }
                }
                OwnedOp::Clear => map.clear(),
                OwnedOp::Batch(ops) => {
                    for op in ops {
                        match op {
                            OwnedBatchOp::Put {
                                key,
                                value,
                                expires_at,
                            } => put(&mut map, key, value, *expires_at, seq, ts),
                            OwnedBatchOp::Delete { key } => {
                                map.remove(key);
                            }
                            _ => unreachable!("the strategy makes no other batch operation"),
                        }
                    }
                }
                _ => unreachable!("the strategy makes no other operation"),
            }
        }
        map.into_iter()
            .filter(|(_, e)| e.4.is_none_or(|at| at > 1_000_000))
            .map(|(k, (v, version, created, updated, exp))| (k, v, version, created, updated, exp))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Replay leaves exactly each key's last record's effect over the base, with
        /// exact metadata (creation time kept over a live key), expired entries
        /// dropped, evictions only of the logged version.
        #[test]
        fn replay_matches_a_plain_model(
            base in proptest::collection::vec((key(), any::<u8>()), 0..8),
            ops in proptest::collection::vec(op(), 0..40),
        ) {
            let want = model(&base, &ops);
            prop_assert_eq!(&replayed(&base, &ops, 1, false), &want);
            // Compacting the overlay's buffers moves bytes, never changes them.
            prop_assert_eq!(&replayed(&base, &ops, 1, true), &want);
        }

        /// Splitting the log's records over parts of the overlay by key changes
        /// nothing: clears, batches, expiries and evictions land as in one part.
        #[test]
        fn replay_in_parts_matches_one_part(
            base in proptest::collection::vec((key(), any::<u8>()), 0..8),
            ops in proptest::collection::vec(op(), 0..40),
        ) {
            let one = replayed(&base, &ops, 1, false);
            for n in [2, 3] {
                prop_assert_eq!(&replayed(&base, &ops, n, n == 3), &one);
            }
        }
    }
}

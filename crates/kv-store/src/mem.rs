//! The glue to the layers: building the map and the log from the store's options,
//! writing with explicit metadata, undoing a write the map refused, and loading the
//! recovered state into the map.

use std::path::Path;
use std::sync::Arc;

use kv_core::hooks::{BatchOp as CoreOp, Write};
use kv_core::{Cache, Entry, Timestamp};
use kv_wal::{BatchOp as WalOp, Op, Seq, Wal, WalOptions};

use crate::store::Inner;
use crate::write::{Evicted, Stamp};
use crate::{Error, Options, Result};

pub(crate) fn new_cache(opts: &Options) -> Result<Cache> {
    let mut co = kv_core::Options::default()
        .max_key_size(opts.max_key_size)
        .max_value_size(opts.max_value_size)
        .max_entries(opts.max_entries)
        .max_bytes(opts.max_bytes)
        .eviction(opts.eviction)
        .clock(Arc::clone(&opts.clock));
    if let Some(f) = opts.on_evict.clone() {
        co = co.on_evict(move |e, cause| f(e, cause));
    }
    if let Some(f) = opts.on_expire.clone() {
        co = co.on_expire(move |e, cause| f(e, cause));
    }
    if let Some(shards) = opts.shards {
        co = co.shards(shards);
    }
    Ok(Cache::new(co)?)
}

/// What recovery needs from opening the log.
pub(crate) struct WalOpened {
    pub(crate) bytes_cut: u64,
    pub(crate) cut_at: String,
    pub(crate) first_seq: Option<u64>,
    pub(crate) covered_damage: Vec<kv_wal::Damage>,
}

pub(crate) fn open_wal(opts: &Options, dir: &Path, snapshot_seq: u64) -> Result<(Wal, WalOpened)> {
    let sync = match opts.sync {
        crate::SyncPolicy::EveryWrite => kv_wal::SyncPolicy::EveryWrite,
        crate::SyncPolicy::Interval(d) => kv_wal::SyncPolicy::Interval(d),
        crate::SyncPolicy::Never => kv_wal::SyncPolicy::Never,
    };
    let recovery = match opts.recovery {
        crate::RecoveryMode::AbsoluteConsistency => kv_wal::RecoveryMode::AbsoluteConsistency,
        crate::RecoveryMode::TolerateTornTail => kv_wal::RecoveryMode::TolerateTornTail,
        crate::RecoveryMode::SalvageValid => kv_wal::RecoveryMode::SalvageValid,
    };
    let mut wo = WalOptions::default()
        .sync(sync)
        .recovery(recovery)
        // A new log continues after the snapshot it starts from, and damage to the
        // records that snapshot covers does not stop recovery, which needs none of them.
        .first_seq(Seq(snapshot_seq.saturating_add(1)))
        .covered_through(Seq(snapshot_seq));
    if let Some(size) = opts.segment_size {
        wo = wo.segment_size(size);
    }
    #[cfg(feature = "sim")]
    if let Some(storage) = &opts.wal_storage {
        wo = wo.storage(Arc::clone(storage));
    }
    let (wal, report) = Wal::open(dir, wo).map_err(Error::wal("opening the log"))?;
    let cut_at = match report.discarded_at {
        Some((segment, offset)) => format!("{} offset {offset}", segment.file_name()),
        None => String::new(),
    };
    if !report.damage.is_empty() {
        tracing::warn!(
            target: "kv_store::recovery",
            ranges = report.damage.len(),
            "salvage mode skipped damaged log ranges"
        );
    }
    Ok((
        wal,
        WalOpened {
            bytes_cut: report.discarded_bytes,
            cut_at,
            first_seq: report.first_seq.map(|s| s.0),
            covered_damage: report.covered_damage,
        },
    ))
}

pub(crate) fn wal_bytes(wal: &Wal) -> u64 {
    wal.stats().bytes
}

/// The keys and versions of evicted entries, for `Evict` records.
pub(crate) fn evicted(entries: Vec<Entry>) -> Evicted {
    entries
        .into_iter()
        .map(|e| (e.key().to_vec(), e.version()))
        .collect()
}

/// A key and its live entry (with the value handle), if any.
type Current<'k> = (&'k [u8], Option<(Entry, kv_core::Value)>);

impl Inner {
    /// The metadata of a live write: the record's sequence number as version and its
    /// timestamp as update time (creation time kept by the map for a live key).
    pub(crate) fn write_meta(&self, stamp: Stamp, expires_at: Option<Timestamp>) -> Write {
        Write::default()
            .expires_at(expires_at)
            .version(stamp.seq)
            .updated(stamp.now)
    }

    /// Applies a logged batch to the map, with the batch's sequence number as every
    /// put's version.
    pub(crate) fn apply_batch_to_cache(&self, ops: &[WalOp<'_>], stamp: Stamp) -> Result<Evicted> {
        let core: Vec<CoreOp<'_>> = ops
            .iter()
            .filter_map(|op| match *op {
                WalOp::Put {
                    key,
                    value,
                    expires_at,
                } => Some(CoreOp::Put {
                    key,
                    value,
                    write: self.write_meta(stamp, expires_at.map(Timestamp::from_millis)),
                }),
                WalOp::Delete { key } => Some(CoreOp::Delete { key }),
                _ => None,
            })
            .collect();
        let out = self.cache.hooks().apply_batch(&core)?;
        Ok(evicted(out.evicted))
    }

    /// The map refused a write the log already holds (it was full and may not
    /// evict). The map is unchanged, so the keys' current states are logged again, as
    /// one batch record after the refused one, and applied with that record's
    /// sequence number: recovery then ends in the same state as memory. The caller
    /// holds the stripes of `keys` and the gate.
    pub(crate) fn compensate(&self, keys: &[&[u8]], stamp: Stamp) -> Result<()> {
        let Some(wal) = &self.wal else {
            return Ok(());
        };
        let current: Vec<Current<'_>> = keys
            .iter()
            .map(|k| {
                (
                    *k,
                    self.cache.hooks().peek(k).map(|e| {
                        let v = e.value();
                        (e, v)
                    }),
                )
            })
            .collect();
        let ops: Vec<WalOp<'_>> = current
            .iter()
            .map(|(key, entry)| match entry {
                Some((e, v)) => WalOp::Put {
                    key,
                    value: v,
                    expires_at: e.expires_at().map(Timestamp::as_millis),
                },
                None => WalOp::Delete { key },
            })
            .collect();
        let seq = wal
            .append(&Op::Batch(&ops), stamp.now.as_millis())
            .map_err(Error::wal("logging the undo of a refused write"))?;
        // Under the interval and never policies a power loss could keep the refused
        // record and lose its undo: the refused write would come back, which is no
        // prefix of the history. Sync both now (refusals are rare: a full map with
        // no eviction).
        if self.opts.sync != crate::SyncPolicy::EveryWrite {
            wal.sync()
                .map_err(Error::wal("syncing the undo of a refused write"))?;
        }
        let restamp = Stamp {
            seq: seq.0,
            now: stamp.now,
        };
        for (key, entry) in &current {
            if let Some((e, v)) = entry {
                let write = Write::default()
                    .expires_at(e.expires_at())
                    .version(restamp.seq)
                    .created(e.created())
                    .updated(restamp.now);
                // Rewriting a live entry with its own value needs no room.
                self.cache.hooks().insert(key, v, write)?;
            }
        }
        Ok(())
    }
}

//! The write path: validate, lock the key's stripe, append to the log, apply to
//! memory with the record's sequence number as version, log what that evicted.

use std::sync::atomic::Ordering;

use kv_core::hooks::{BatchOp as CoreOp, Write};
use kv_core::{Entry, Timestamp};
use kv_wal::{BatchOp as WalOp, Op};

use crate::metrics::Counters;
use crate::store::Inner;
use crate::{Error, Result};

/// Keys and versions of entries the map evicted, for `Evict` records.
pub(crate) type Evicted = Vec<(Vec<u8>, u64)>;

/// The keys and versions of evicted entries, for `Evict` records.
pub(crate) fn evicted(entries: Vec<Entry>) -> Evicted {
    entries
        .into_iter()
        .map(|e| (e.key().to_vec(), e.version()))
        .collect()
}

/// The sequence number and time of one logged change.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp {
    pub(crate) seq: u64,
    pub(crate) now: Timestamp,
}

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

    /// Validates a key the way the map will, before anything is logged.
    pub(crate) fn check_key(&self, key: &[u8]) -> Result<()> {
        Ok(self.cache.hooks().validate_key(key)?)
    }

    /// Validates a key and value the way the map will, before anything is logged.
    pub(crate) fn check_entry(&self, key: &[u8], value: &[u8]) -> Result<()> {
        Ok(self.cache.hooks().validate(key, value)?)
    }

    /// The expiry `ttl` from now on the store's clock; a zero `ttl` is an error (as
    /// Redis refuses `EX 0`), never a key that vanishes at once.
    pub(crate) fn expiry_after(&self, ttl: std::time::Duration) -> Result<Timestamp> {
        Ok(self.cache.hooks().expiry_after(ttl)?)
    }

    /// Logs `op` and then runs `apply` with its stamp. The caller holds the stripes of
    /// every key `op` touches. `apply` returns the keys (and versions) the map evicted
    /// to make room; they are logged before this returns, so the write is
    /// acknowledged only once its evictions are as durable as the policy promises.
    pub(crate) fn log_and_apply<R>(
        &self,
        op: &Op<'_>,
        apply: impl FnOnce(Stamp) -> Result<(R, Evicted)>,
    ) -> Result<R> {
        let _gate = self.gate.read();
        self.check_write()?;
        let now = self.opts.clock.now();
        let seq = match &self.wal {
            Some(wal) => {
                self.append(wal, op, now.as_millis())
                    .map_err(Error::wal("appending a record; the write was not applied"))?
                    .0
            }
            None => self.seq.fetch_add(1, Ordering::AcqRel).wrapping_add(1),
        };
        let (r, evicted) = apply(Stamp { seq, now })?;
        self.log_evictions(&evicted)?;
        Ok(r)
    }

    /// Writes one `Evict` record per evicted entry (the caller holds the gate).
    pub(crate) fn log_evictions(&self, evicted: &[(Vec<u8>, u64)]) -> Result<()> {
        if evicted.is_empty() {
            return Ok(());
        }
        Counters::add(&self.counters.deletes_since_snapshot, evicted.len() as u64);
        let Some(wal) = &self.wal else {
            return Ok(());
        };
        let now = self.opts.clock.now().as_millis();
        for (key, version) in evicted {
            self.append(
                wal,
                &Op::Evict {
                    key,
                    version: *version,
                },
                now,
            )
            .map_err(Error::wal("logging an eviction"))?;
            Counters::add(&self.counters.evictions_logged, 1);
        }
        self.maybe_kick_snapshot();
        Ok(())
    }

    /// Counts a logged delete towards the compaction threshold.
    pub(crate) fn count_delete(&self, n: u64) {
        Counters::add(&self.counters.deletes_since_snapshot, n);
        self.maybe_kick_snapshot();
    }

    /// Wakes the snapshot worker when the compaction threshold is reached (the log
    /// size trigger is checked by the worker's own ticker).
    pub(crate) fn maybe_kick_snapshot(&self) {
        if !self.mode.uses_snapshots() {
            return;
        }
        if self.compaction_due() {
            if let Some(tx) = &self.kick_snapshot {
                let _ = tx.try_send(());
            }
        }
    }

    /// Whether the deletes and evictions logged since the last snapshot reached the
    /// compaction threshold (scaled with the live entries, see
    /// `Options::snapshot_growth_percent`).
    pub(crate) fn compaction_due(&self) -> bool {
        let deletes = Counters::get(&self.counters.deletes_since_snapshot);
        // The cheap test first: below the fixed threshold nothing else matters.
        if deletes < self.opts.compaction_threshold || self.opts.compaction_threshold == 0 {
            return false;
        }
        self.opts
            .compaction_trigger(self.cache.len() as u64)
            .is_some_and(|t| deletes >= t)
    }
}

//! The one replay: what a snapshot entry and a log record do to the recovered map.
//!
//! `Store::open`, the read-only open (and so every `kv` command that reads a
//! directory) and the recovery tests' oracle all rebuild a store through this fold, in
//! log order, onto the map itself. While it runs, nothing expires: a snapshot entry
//! whose time ran out while the store was closed stays (hidden from reads) until the
//! whole log is replayed, because a later record may overwrite it (keeping its
//! creation time) or give it a later expiry. The limits do not apply either: recovery
//! loads what was acknowledged, and the store is brought within its limits after.

use kv_core::hooks::{Access, Write};
use kv_core::{Cache, Timestamp};
use kv_wal::{OwnedBatchOp, OwnedOp, Record};

use crate::{Error, Result};

/// Log records replayed, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayCounts {
    /// `Put` records (also the results of the conditional writes and increments).
    pub puts: u64,
    /// `Delete` records.
    pub deletes: u64,
    /// `Expire` records (expiry set or removed).
    pub expires: u64,
    /// `Evict` records.
    pub evictions: u64,
    /// `Clear` records.
    pub clears: u64,
    /// Batch records.
    pub batches: u64,
    /// Operations inside those batches.
    pub batch_ops: u64,
}

impl ReplayCounts {
    /// Every record counted.
    pub fn records(&self) -> u64 {
        self.puts + self.deletes + self.expires + self.evictions + self.clears + self.batches
    }
}

/// The metadata of an entry exactly as it was written: no field is left to the map.
pub(crate) fn exact(expires_at: Option<u64>, created: u64, updated: u64, version: u64) -> Write {
    Write::default()
        .expires_at(expires_at.map(Timestamp::from_millis))
        .version(version)
        .created(Timestamp::from_millis(created))
        .updated(Timestamp::from_millis(updated))
}

/// The folding state: the map being rebuilt and what was replayed so far.
pub(crate) struct Replayer<'c> {
    cache: &'c Cache,
    pub(crate) counts: ReplayCounts,
    /// The highest version seen (snapshot entries and records).
    pub(crate) max_version: u64,
}

impl<'c> Replayer<'c> {
    pub(crate) fn new(cache: &'c Cache) -> Self {
        Self {
            cache,
            counts: ReplayCounts::default(),
            max_version: 0,
        }
    }

    /// Makes room in the map for `additional` more entries (a snapshot's count).
    pub(crate) fn reserve(&self, additional: usize) {
        self.cache.hooks().reserve(additional);
    }

    /// Restores one snapshot entry with its exact metadata.
    pub(crate) fn snapshot_entry(&mut self, e: &kv_snapshot::EntryRef<'_>) -> Result<()> {
        self.max_version = self.max_version.max(e.version);
        self.cache
            .hooks()
            .insert_unchecked(
                e.key,
                e.value,
                // A snapshot of an older format has no access bookkeeping: the entry
                // then counts as accessed when it was last written.
                exact(e.expires_at, e.created, e.updated, e.version).access(e.access.map_or(
                    Access::written_at(Timestamp::from_millis(e.updated)),
                    |a| Access {
                        accessed: Timestamp::from_millis(a.accessed),
                        count: a.count,
                        lfu: a.lfu,
                    },
                )),
            )
            .map_err(|source| Error::Replay {
                seq: e.version,
                source,
            })
    }

    /// Applies one log record.
    pub(crate) fn record(&mut self, record: &Record) -> Result<()> {
        let (seq, ts) = (record.seq.0, record.timestamp_ms);
        self.max_version = self.max_version.max(seq);
        let c = &mut self.counts;
        match &record.op {
            OwnedOp::Put {
                key,
                value,
                expires_at,
            } => {
                c.puts += 1;
                self.put(key, value, *expires_at, seq, ts)?;
            }
            OwnedOp::Delete { key } => {
                c.deletes += 1;
                self.cache.hooks().remove_unchecked(key);
            }
            OwnedOp::Expire { key, expires_at } => {
                c.expires += 1;
                self.cache
                    .hooks()
                    .set_expiry_unchecked(key, expires_at.map(Timestamp::from_millis));
            }
            OwnedOp::Evict { key, version } => {
                c.evictions += 1;
                self.cache.hooks().remove_version_unchecked(key, *version);
            }
            OwnedOp::Clear => {
                c.clears += 1;
                self.cache.clear();
            }
            OwnedOp::Batch(ops) => {
                c.batches += 1;
                c.batch_ops += ops.len() as u64;
                for op in ops {
                    match op {
                        OwnedBatchOp::Put {
                            key,
                            value,
                            expires_at,
                        } => self.put(key, value, *expires_at, seq, ts)?,
                        OwnedBatchOp::Delete { key } => {
                            self.cache.hooks().remove_unchecked(key);
                        }
                        _ => return Err(unknown(seq)),
                    }
                }
            }
            _ => return Err(unknown(seq)),
        }
        Ok(())
    }

    /// A put at sequence `seq`, written at `ts`: the key keeps its creation time if
    /// it was live then, as the map does for a live write.
    fn put(&self, key: &[u8], value: &[u8], exp: Option<u64>, seq: u64, ts: u64) -> Result<()> {
        let hooks = self.cache.hooks();
        let created = hooks
            .peek_any(key)
            .filter(|old| old.expires_at().is_none_or(|at| at.as_millis() > ts))
            .map_or(ts, |old| old.created().as_millis());
        // A write is the entry's first access (reads are not logged).
        let write =
            exact(exp, created, ts, seq).access(Access::written_at(Timestamp::from_millis(ts)));
        hooks
            .insert_unchecked(key, value, write)
            .map_err(|source| Error::Replay { seq, source })
    }
}

/// A record kind this build does not know (kv-wal decodes only the kinds it knows,
/// so only a newer kv-wal than this kv-store could hand one over).
fn unknown(seq: u64) -> Error {
    Error::UnknownRecord { seq }
}

//! Taking snapshots (fuzzy snapshot + redo) and reading them back at recovery.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use kv_snapshot::{EntryRef, SnapshotOptions, Snapshots};

use crate::metrics::Counters;
use crate::store::Inner;
use crate::{Error, Options, Result, Store};

/// What a snapshot did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotInfo {
    /// The snapshot file.
    pub path: PathBuf,
    /// Every log record up to this sequence number is reflected in the snapshot.
    pub seq: u64,
    /// Entries written.
    pub entries: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Log truncated through this sequence number afterwards (0: nothing truncated).
    pub truncated_through: u64,
}

/// When a snapshot may be skipped as adding nothing to the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    /// Never: it is asked for.
    Never,
    /// When no record was logged since the last snapshot (the workers' rule: reads
    /// alone do not rewrite a store).
    Unwritten,
    /// When, besides, nothing was read since the last snapshot (close's rule: the
    /// final snapshot also keeps the access bookkeeping, so that a restart keeps the
    /// cache hot).
    Untouched,
}

/// How much log a snapshot lets go of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Truncate {
    /// Through the oldest snapshot still kept, so that falling back to it (when the
    /// newest turns out corrupt) still finds the log after it.
    KeepFallback,
    /// Through the new snapshot: the least disk, no log for a fallback.
    All,
}

pub(crate) fn open_snapshots(opts: &Options, dir: &Path) -> Result<Snapshots> {
    let so = SnapshotOptions::default()
        .keep(opts.snapshots_retained)
        .create_dir(false);
    #[cfg(feature = "sim")]
    let so = match &opts.snapshot_io {
        Some(io) => so.io(io.clone()),
        None => so,
    };
    Snapshots::open(dir, so).map_err(Error::snapshot("opening the snapshots"))
}

/// The snapshots on disk, newest first, as (sequence, path).
pub(crate) fn list(snaps: &Snapshots) -> Result<Vec<(u64, PathBuf)>> {
    Ok(snaps
        .list()
        .map_err(Error::snapshot("listing the snapshots"))?
        .into_iter()
        .map(|f| (f.sequence.get(), f.path))
        .collect())
}

/// True when the directory holds log segments (written by an earlier mode).
pub(crate) fn wal_present(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("wal-"))
        })
        .unwrap_or(false)
}

impl Inner {
    /// Takes a snapshot and truncates the log it covers.
    ///
    /// Fuzzy snapshot + redo: the write side of the gate is held only to read the
    /// last sequence number S (so every record up to S is applied); then the map is
    /// walked one shard at a time while writers go on. Entries may also show effects
    /// of records after S; recovery replays every record after S in order, and each
    /// key's final state is its last record's effect, so that is harmless.
    ///
    /// Nothing is written (`Ok(None)`) when `skip` says the snapshot would add nothing.
    pub(crate) fn take_snapshot(
        &self,
        truncate: Truncate,
        skip: Skip,
    ) -> Result<Option<SnapshotInfo>> {
        let Some(snaps) = self.snaps.as_ref().filter(|_| self.mode.uses_snapshots()) else {
            return Err(Error::Unsupported {
                operation: "snapshot",
                mode: self.mode,
            });
        };
        let _one = self.snapshotting.lock();
        let gate = self.gate.write();
        let seq = match &self.wal {
            Some(wal) => wal.last_seq().0,
            None => self.seq.load(Ordering::Acquire),
        };
        // Reads change the access bookkeeping a snapshot keeps: they count as hits.
        let hits = self.cache.metrics().hits;
        let unwritten = seq == Counters::get(&self.counters.last_snapshot_seq);
        let untouched = unwritten && hits == Counters::get(&self.counters.hits_at_snapshot);
        match skip {
            Skip::Unwritten if unwritten => return Ok(None),
            Skip::Untouched if untouched => return Ok(None),
            _ => {}
        }
        let deletes = self
            .counters
            .deletes_since_snapshot
            .swap(0, Ordering::AcqRel);
        // With a log, writers go on during the walk (fuzzy snapshot + redo). Without
        // one there is no redo: the walk holds the gate so the snapshot is one point
        // in the history (no half batch), at the price of pausing writers meanwhile.
        let hold = match self.wal {
            Some(_) => {
                drop(gate);
                None
            }
            None => Some(gate),
        };
        let result = self.write_snapshot(snaps, seq, truncate, hold);
        if result.is_ok() {
            self.counters
                .hits_at_snapshot
                .store(hits, Ordering::Relaxed);
        } else {
            // The deletes still count towards the next attempt.
            Counters::add(&self.counters.deletes_since_snapshot, deletes);
        }
        result.map(Some)
    }

    fn write_snapshot(
        &self,
        snaps: &Snapshots,
        seq: u64,
        truncate: Truncate,
        hold: Option<parking_lot::RwLockWriteGuard<'_, ()>>,
    ) -> Result<SnapshotInfo> {
        let now = self.opts.clock.now().as_millis();
        let ctx = "writing a snapshot";
        let mut writer = snaps.begin(seq, now).map_err(Error::snapshot(ctx))?;
        let hooks = self.cache.hooks();
        for shard in 0..hooks.shard_count() {
            // One shard's entry handles are copied out under its read lock; the file
            // is written with no lock held.
            for e in hooks.shard_entries(shard) {
                // The access bookkeeping too, so that a restart keeps the cache hot.
                let a = hooks.access_of(&e);
                writer
                    .push(EntryRef {
                        key: e.key(),
                        value: &e.value(),
                        expires_at: e.expires_at().map(|t| t.as_millis()),
                        created: e.created().as_millis(),
                        updated: e.updated().as_millis(),
                        version: e.version(),
                        access: Some(kv_snapshot::Access {
                            accessed: a.accessed.as_millis(),
                            count: a.count,
                            lfu: a.lfu,
                        }),
                    })
                    .map_err(Error::snapshot(ctx))?;
            }
        }
        drop(hold);
        // The walk may have seen effects of records after `seq`; they must be durable
        // before the snapshot can be used (renamed into place), or a power loss could
        // leave a snapshot ahead of the log: not a prefix of the history.
        if let Some(wal) = &self.wal {
            wal.sync()
                .map_err(Error::wal("syncing the log before a snapshot"))?;
        }
        let mut written = writer.finish().map_err(Error::snapshot(ctx))?;
        for source in std::mem::take(&mut written.cleanup_errors) {
            self.report(&Error::Snapshot {
                context: "removing an old snapshot",
                source,
            });
        }
        let mut info = SnapshotInfo {
            path: written.path,
            seq,
            entries: written.header.entry_count,
            bytes: written.bytes,
            truncated_through: 0,
        };
        let through = {
            let mut seqs = self.snapshot_seqs.lock();
            seqs.push(seq);
            seqs.sort_unstable();
            seqs.dedup();
            let keep = self.opts.snapshots_retained;
            if seqs.len() > keep {
                let drop_n = seqs.len() - keep;
                seqs.drain(..drop_n);
            }
            match truncate {
                Truncate::All => seq,
                // With one snapshot on disk (and room for more), keep the whole log:
                // it is the fallback.
                Truncate::KeepFallback if seqs.len() >= 2 || keep == 1 => {
                    seqs.first().copied().unwrap_or(0)
                }
                Truncate::KeepFallback => 0,
            }
        };
        if let Some(wal) = &self.wal {
            if through > 0 {
                wal.truncate_through(kv_wal::Seq(through))
                    .map_err(Error::wal("truncating the log after a snapshot"))?;
                info.truncated_through = through;
            }
            self.counters
                .wal_bytes_at_snapshot
                .store(wal.stats().bytes, Ordering::Relaxed);
        }
        Counters::add(&self.counters.snapshots_taken, 1);
        self.counters
            .last_snapshot_ms
            .store(now.max(1), Ordering::Relaxed);
        self.counters
            .last_snapshot_seq
            .store(seq, Ordering::Relaxed);
        tracing::debug!(target: "kv_store", seq, entries = info.entries, "snapshot taken");
        Ok(info)
    }
}

impl Store {
    /// Takes a snapshot now and truncates the log below the oldest snapshot kept.
    /// Writers keep going meanwhile. Needs a persistence mode with snapshots.
    pub fn snapshot(&self) -> Result<SnapshotInfo> {
        let inner = self.inner();
        inner.check_write()?;
        // Unconditional: `None` (skipped) cannot come back.
        inner
            .take_snapshot(Truncate::KeepFallback, Skip::Never)?
            .ok_or(Error::Unsupported {
                operation: "snapshot",
                mode: inner.mode,
            })
    }

    /// Takes a snapshot and truncates the whole log it covers: the smallest
    /// directory, at the price of having no log behind the previous snapshot.
    pub fn compact(&self) -> Result<SnapshotInfo> {
        let inner = self.inner();
        inner.check_write()?;
        inner
            .take_snapshot(Truncate::All, Skip::Never)?
            .ok_or(Error::Unsupported {
                operation: "compact",
                mode: inner.mode,
            })
    }

    /// Makes every acknowledged write durable now (flush and fsync of the log).
    pub fn sync(&self) -> Result<()> {
        let inner = self.inner();
        inner.check_write()?;
        if let Some(wal) = &inner.wal {
            wal.sync().map_err(Error::wal("syncing the log"))?;
        }
        Ok(())
    }
}

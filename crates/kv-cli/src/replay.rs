//! The live entries of a data directory, rebuilt read-only: the newest snapshot that
//! verifies, then the log after it, as the store's recovery does it, but without
//! opening (and so repairing) anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kv_snapshot::SnapshotReader;
use kv_wal::{OwnedBatchOp, OwnedOp, Record, ScanVisitor, SegmentSummary, Seq, VerifyReport};

use crate::progress::Progress;
use crate::{Error, Result};

/// One live entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Live {
    pub(crate) value: Vec<u8>,
    pub(crate) expires_at: Option<u64>,
    /// The sequence number of the write that set it (evictions name it).
    version: u64,
}

/// How many log records of each kind the replay applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OpCounts {
    pub(crate) puts: u64,
    pub(crate) deletes: u64,
    pub(crate) expires: u64,
    pub(crate) evictions: u64,
    pub(crate) clears: u64,
    pub(crate) batches: u64,
    pub(crate) batch_ops: u64,
    pub(crate) other: u64,
}

/// The rebuilt state and how it was found.
#[derive(Debug)]
pub(crate) struct State {
    /// Live entries, sorted by key.
    pub(crate) entries: BTreeMap<Vec<u8>, Live>,
    /// The snapshot used and the sequence number it covers.
    pub(crate) snapshot: Option<(PathBuf, u64)>,
    /// Entries read from it.
    pub(crate) snapshot_entries: u64,
    /// Newer snapshots that did not verify, with the reason.
    pub(crate) snapshots_skipped: Vec<(PathBuf, String)>,
    /// The log records applied after the snapshot, by kind.
    pub(crate) replayed: OpCounts,
    /// What the scan of the log found (all of it, also below the snapshot).
    pub(crate) wal: VerifyReport,
    /// Entries dropped because they had expired.
    pub(crate) expired: u64,
}

/// Rebuilds the live entries of `dir` at `now_ms` without changing anything.
///
/// Damage the store's default recovery refuses (anything but a torn log tail, or a log
/// that does not reach back to the snapshot) is an [`Error::Damaged`] unless `salvage`,
/// which keeps every record that verifies.
pub(crate) fn rebuild(
    dir: &Path,
    now_ms: u64,
    salvage: bool,
    progress: &Progress,
) -> Result<State> {
    let listing = kv_snapshot::list_dir(dir)?;
    let mut state = State {
        entries: BTreeMap::new(),
        snapshot: None,
        snapshot_entries: 0,
        snapshots_skipped: Vec::new(),
        replayed: OpCounts::default(),
        wal: VerifyReport::default(),
        expired: 0,
    };
    for file in &listing.snapshots {
        progress.message("snapshot");
        match load_snapshot(&file.path, now_ms, &mut state.entries, progress) {
            Ok(n) => {
                state.snapshot = Some((file.path.clone(), file.sequence.get()));
                state.snapshot_entries = n;
                break;
            }
            Err(e) if e.is_unreadable_snapshot() => {
                state.entries.clear();
                state
                    .snapshots_skipped
                    .push((file.path.clone(), crate::error::chain(&e)));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let base = state.snapshot.as_ref().map_or(0, |(_, seq)| *seq);
    progress.message("log");
    let mut replayer = Replayer {
        entries: &mut state.entries,
        counts: OpCounts::default(),
        progress,
    };
    state.wal = kv_wal::scan_dir(
        dir,
        &kv_wal::ScanOptions::new().from(Seq(base + 1)),
        &mut replayer,
    )?;
    state.replayed = replayer.counts;
    if !salvage {
        let mut problems: Vec<String> = state
            .wal
            .problems
            .iter()
            .map(|p| format!("{} at offset {}: {}", p.file, p.offset, p.kind))
            .collect();
        if let Some(first) = state.wal.first_seq {
            if (state.snapshot.is_some() || !state.snapshots_skipped.is_empty())
                && first.0 > base + 1
            {
                problems.push(format!(
                    "the log starts at sequence {first} but the snapshot used covers only up to {base}"
                ));
            }
        }
        if let Some(first) = problems.first() {
            return Err(Error::Damaged {
                dir: dir.to_path_buf(),
                first: first.clone(),
                count: problems.len(),
            });
        }
    }
    let before = state.entries.len();
    state
        .entries
        .retain(|_, e| e.expires_at.is_none_or(|at| at > now_ms));
    state.expired = (before - state.entries.len()) as u64;
    Ok(state)
}

/// Loads one snapshot into `into`; returns its entry count. `into` may hold part of
/// it after an error: the caller clears it.
fn load_snapshot(
    path: &Path,
    now_ms: u64,
    into: &mut BTreeMap<Vec<u8>, Live>,
    progress: &Progress,
) -> Result<u64, kv_snapshot::Error> {
    let mut reader = SnapshotReader::open(path, now_ms)?;
    let mut n = 0u64;
    while let Some(entry) = reader.next_ref() {
        let e = entry?;
        into.insert(
            e.key.to_vec(),
            Live {
                value: e.value.to_vec(),
                expires_at: e.expires_at,
                version: e.version,
            },
        );
        n += 1;
        if n.is_multiple_of(4096) {
            progress.inc(4096);
        }
    }
    reader.verify()?;
    progress.inc(n % 4096);
    Ok(n)
}

/// Applies log records to the entries, as the store's recovery does.
struct Replayer<'a> {
    entries: &'a mut BTreeMap<Vec<u8>, Live>,
    counts: OpCounts,
    progress: &'a Progress,
}

impl Replayer<'_> {
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>, expires_at: Option<u64>, seq: u64) {
        self.entries.insert(
            key,
            Live {
                value,
                expires_at,
                version: seq,
            },
        );
    }
}

impl ScanVisitor for Replayer<'_> {
    fn segment(&mut self, _segment: &SegmentSummary) {}

    fn record(&mut self, record: Record) {
        self.progress.inc(1);
        let seq = record.seq.0;
        let c = &mut self.counts;
        match record.op {
            OwnedOp::Put {
                key,
                value,
                expires_at,
            } => {
                c.puts += 1;
                self.put(key, value, expires_at, seq);
            }
            OwnedOp::Delete { key } => {
                c.deletes += 1;
                self.entries.remove(&key);
            }
            OwnedOp::Expire { key, expires_at } => {
                c.expires += 1;
                if let Some(e) = self.entries.get_mut(&key) {
                    e.expires_at = expires_at;
                }
            }
            OwnedOp::Evict { key, version } => {
                c.evictions += 1;
                if self.entries.get(&key).is_some_and(|e| e.version == version) {
                    self.entries.remove(&key);
                }
            }
            OwnedOp::Clear => {
                c.clears += 1;
                self.entries.clear();
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
                        } => self.put(key, value, expires_at, seq),
                        OwnedBatchOp::Delete { key } => {
                            self.entries.remove(&key);
                        }
                        _ => self.counts.other += 1,
                    }
                }
            }
            _ => c.other += 1,
        }
    }
}

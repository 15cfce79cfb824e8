//! Checking every file of a data directory read-only: each snapshot file, each log
//! segment and record. (Whether the store opens from them is recovery's question:
//! `kv verify` asks it through the read-only open.)

use std::path::{Path, PathBuf};

use kv_snapshot::{ReadSummary, SnapshotReader};
use kv_wal::{Corruption, ScanVisitor, SegmentSummary, VerifyReport};
use serde_json::{json, Value};

use crate::progress::Progress;
use crate::Result;

/// One snapshot file and what reading it completely found.
#[derive(Debug)]
pub(crate) struct SnapshotCheck {
    pub(crate) path: PathBuf,
    pub(crate) sequence: u64,
    pub(crate) bytes: u64,
    pub(crate) result: Result<ReadSummary, kv_snapshot::Error>,
}

impl SnapshotCheck {
    /// The file and what reading it found, for `--json` reports.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "file": self.path.display().to_string(),
            "sequence": self.sequence,
            "bytes": self.bytes,
            "ok": self.result.is_ok(),
            "entries": self.result.as_ref().ok().map(|r| r.entries),
        })
    }
}

/// One problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The file (or the directory, for problems between files).
    pub(crate) file: String,
    /// Where in the file the damage starts.
    pub(crate) offset: u64,
    /// How many bytes are damaged, when known.
    pub(crate) len: Option<u64>,
    /// What is wrong.
    pub(crate) what: String,
    /// True for a torn log tail (the store cuts it on open).
    pub(crate) torn_tail: bool,
}

impl Problem {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "file": self.file,
            "offset": self.offset,
            "len": self.len,
            "what": self.what,
            "torn_tail": self.torn_tail,
        })
    }
}

/// Everything a check of the directory found.
#[derive(Debug)]
pub(crate) struct Inspection {
    /// Newest first.
    pub(crate) snapshots: Vec<SnapshotCheck>,
    pub(crate) snapshot_temps: Vec<PathBuf>,
    pub(crate) wal: VerifyReport,
}

impl Inspection {
    /// Every problem of a file: damaged snapshots, damaged log ranges, a torn tail.
    pub(crate) fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        for s in &self.snapshots {
            if let Err(e) = &s.result {
                let offset = match e {
                    kv_snapshot::Error::Corrupt { offset, .. } => *offset,
                    _ => 0,
                };
                out.push(Problem {
                    file: s.path.display().to_string(),
                    offset,
                    len: None,
                    what: snapshot_reason(e),
                    torn_tail: false,
                });
            }
        }
        for d in &self.wal.problems {
            out.push(Problem {
                file: d.file.clone(),
                offset: d.offset,
                len: (d.len > 0).then_some(d.len),
                what: d.kind.to_string(),
                torn_tail: false,
            });
        }
        if let Some(d) = &self.wal.torn_tail {
            out.push(Problem {
                file: d.file.clone(),
                offset: d.offset,
                len: Some(d.len),
                what: d.kind.to_string(),
                torn_tail: true,
            });
        }
        out
    }

    /// Log records lost to sequence gaps above `covered` (records up to `covered`
    /// are in the snapshot recovery used, so their loss loses nothing); `None` when
    /// whole segments are unreadable or missing, whose records cannot be counted.
    pub(crate) fn records_missing(&self, covered: u64) -> Option<u64> {
        let mut lost = 0;
        for d in &self.wal.problems {
            match d.kind {
                Corruption::SeqGap { expected, found } => {
                    lost += found.0.saturating_sub(expected.0.max(covered + 1));
                }
                Corruption::ShortHeader { .. }
                | Corruption::BadMagic { .. }
                | Corruption::UnsupportedVersion { .. }
                | Corruption::HeaderChecksum { .. }
                | Corruption::SegmentIdMismatch { .. }
                | Corruption::ForeignLog { .. }
                | Corruption::MissingSegment { .. } => return None,
                _ => {}
            }
        }
        Some(lost)
    }
}

/// What a snapshot error says, without the path (printed beside it).
fn snapshot_reason(e: &kv_snapshot::Error) -> String {
    match e {
        kv_snapshot::Error::Corrupt { what, .. } => what.to_string(),
        e => e.to_string(),
    }
}

/// Progress over the log's segments.
struct SegmentTicks<'a>(&'a Progress);

impl ScanVisitor for SegmentTicks<'_> {
    fn segment(&mut self, segment: &SegmentSummary) {
        self.0.inc(segment.file_bytes);
    }
}

/// The total size of the files an inspection reads (for a progress bar).
pub(crate) fn total_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Checks every snapshot and every log record of `dir` without changing anything.
pub(crate) fn inspect(dir: &Path, progress: &Progress) -> Result<Inspection> {
    let listing = kv_snapshot::list_dir(dir)?;
    let mut snapshots = Vec::new();
    for file in &listing.snapshots {
        let bytes = std::fs::metadata(&file.path).map(|m| m.len()).unwrap_or(0);
        // `now` = 0: nothing counts as expired, so every entry is read and counted.
        // A file that cannot be read at all (permissions, I/O) is an error, not damage.
        let result = match SnapshotReader::open(&file.path, 0).and_then(SnapshotReader::verify) {
            // Removed by a running store since the listing: not part of the store now.
            Err(e) if e.is_not_found() => continue,
            Err(e) if !e.is_unreadable_snapshot() => return Err(e.into()),
            r => r,
        };
        progress.inc(bytes);
        snapshots.push(SnapshotCheck {
            path: file.path.clone(),
            sequence: file.sequence.get(),
            bytes,
            result,
        });
    }
    // From sequence 0: every record body is decoded too, not only checksummed.
    let wal = kv_wal::scan_dir(
        dir,
        &kv_wal::ScanOptions::new(),
        &mut SegmentTicks(progress),
    )?;
    Ok(Inspection {
        snapshots,
        snapshot_temps: listing.temp_files,
        wal,
    })
}

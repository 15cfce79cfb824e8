//! Checking a whole data directory read-only: every snapshot file, every log segment
//! and record, and that the log reaches back to the newest good snapshot.

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
    /// Problems between files: the log does not reach back to the newest good snapshot.
    pub(crate) gap: Option<Problem>,
}

impl Inspection {
    /// Every problem: damaged snapshots, damaged log ranges, a torn tail, a gap.
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
        out.extend(self.gap.clone());
        out
    }

    /// The newest snapshot that verified: its sequence number.
    pub(crate) fn good_snapshot(&self) -> Option<u64> {
        self.snapshots
            .iter()
            .find(|s| s.result.is_ok())
            .map(|s| s.sequence)
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
        e => crate::error::chain(e),
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
    let mut inspection = Inspection {
        snapshots,
        snapshot_temps: listing.temp_files,
        wal,
        gap: None,
    };
    // The store recovers from the newest good snapshot plus the log after it: the log
    // must start right after it (or earlier).
    let any_snapshot = !inspection.snapshots.is_empty();
    let base = inspection.good_snapshot().unwrap_or(0);
    if let Some(first) = inspection.wal.first_seq {
        if any_snapshot && first.0 > base + 1 {
            inspection.gap = Some(Problem {
                file: dir.display().to_string(),
                offset: 0,
                len: None,
                what: format!(
                    "records {}..{} are missing: the newest good snapshot covers up to {base} \
                     but the log starts at {first}",
                    base + 1,
                    first.0 - 1
                ),
                torn_tail: false,
            });
        }
    }
    Ok(inspection)
}

//! Read-only inspection of a log directory: every segment header and record checked,
//! every problem listed with its file and offset, and nothing on disk changed.
//!
//! [`Wal::open`](crate::Wal::open) repairs as it recovers (it zero-fills a torn tail,
//! removes leftover temporary files, syncs); tools that must not modify a directory
//! (`kv verify`, `kv stats`, `kv dump`) use [`verify_dir`] and [`scan_dir`] instead.
//! They walk the log as recovery does (`walk.rs`), reading each segment with `pread`,
//! never through a map, and open nothing for writing. A store may be writing the log
//! meanwhile: every segment file is opened before any is read (a truncation removing
//! one then changes nothing), and a record being written is a torn tail.

use std::path::Path;

use crate::error::Corruption;
use crate::fs::FsStorage;
use crate::scan::Damage;
use crate::storage::Storage;
use crate::walk::{self, Walker};
use crate::{Record, RecoveryMode, Result, SegmentId, Seq};

/// One segment file as an inspection found it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentSummary {
    /// The segment file's path.
    pub file: String,
    /// The id in its name.
    pub id: SegmentId,
    /// The first sequence number its header names (`None` if the header is unusable).
    pub first_seq: Option<Seq>,
    /// Valid records found in it.
    pub records: u64,
    /// The last valid record's sequence number, if any.
    pub last_seq: Option<Seq>,
    /// Bytes in use: the offset just after its last valid record (0 when the header
    /// is unusable).
    pub used_bytes: u64,
    /// The file's size (space is allocated ahead of the records, so usually more than
    /// used).
    pub file_bytes: u64,
}

/// What [`verify_dir`] or [`scan_dir`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Every segment file, in id order.
    pub segments: Vec<SegmentSummary>,
    /// Valid records found.
    pub records: u64,
    /// The first valid record's sequence number.
    pub first_seq: Option<Seq>,
    /// The last valid record's sequence number.
    pub last_seq: Option<Seq>,
    /// Damage that recovery in the default mode
    /// ([`RecoveryMode::TolerateTornTail`]) refuses: bad headers, holes, damaged
    /// records, sequence gaps, missing segments. Each names the file and the offset
    /// where it starts; only [`RecoveryMode::SalvageValid`] opens such a log (and
    /// drops these ranges).
    pub problems: Vec<Damage>,
    /// Damage every recovery mode tolerates because each record it lost is at or
    /// below [`ScanOptions::covered_through`]: "damaged, but a snapshot covers it".
    pub covered_damage: Vec<Damage>,
    /// Non-zero bytes after the last valid record of the last segment: a record partly
    /// written when the writer stopped. Recovery cuts it (zero-fills it) on open.
    pub torn_tail: Option<Damage>,
    /// Leftover `wal-*.log.tmp` files of an interrupted segment creation (harmless;
    /// recovery removes them).
    pub temp_files: Vec<String>,
}

impl VerifyReport {
    /// True when every segment and record verified and the log ends cleanly: no
    /// problem, no torn tail, no covered damage.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty() && self.torn_tail.is_none() && self.covered_damage.is_empty()
    }

    /// Bytes in use across all segments.
    pub fn used_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.used_bytes).sum()
    }

    /// Bytes of the segment files on disk.
    pub fn file_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.file_bytes).sum()
    }
}

/// What a [`scan_dir`] caller sees as the scan goes: each segment when it is done and
/// each valid record. Both methods do nothing by default.
pub trait ScanVisitor {
    /// A segment was read and checked (called once per segment file, in id order).
    fn segment(&mut self, segment: &SegmentSummary) {
        let _ = segment;
    }

    /// A valid record at or above the scan's `from` sequence number, in log order.
    fn record(&mut self, record: Record) {
        let _ = record;
    }
}

/// A visitor that ignores everything.
struct Nothing;

impl ScanVisitor for Nothing {}

/// What [`scan_dir`] hands out and how it judges damage. Build with
/// [`ScanOptions::new`] and the setters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScanOptions {
    from: Seq,
    covered_through: Seq,
}

impl ScanOptions {
    /// Every record decoded and handed out; nothing covered.
    pub fn new() -> ScanOptions {
        ScanOptions::default()
    }

    /// Hands the visitor only records at or above `seq` (those below are checked
    /// but not decoded). Default `Seq(0)`: every record.
    #[must_use]
    pub fn from(mut self, seq: Seq) -> ScanOptions {
        self.from = seq;
        self
    }

    /// Records at or below `seq` are covered by a snapshot: damage that lost only such
    /// records goes to [`VerifyReport::covered_damage`] instead of
    /// [`VerifyReport::problems`], as [`WalOptions::covered_through`] makes recovery
    /// tolerate it. Default `Seq(0)`: nothing is covered.
    ///
    /// [`WalOptions::covered_through`]: crate::WalOptions::covered_through
    #[must_use]
    pub fn covered_through(mut self, seq: Seq) -> ScanOptions {
        self.covered_through = seq;
        self
    }
}

/// Checks every segment header and every record checksum of the log in `dir` without
/// changing anything, and lists each problem with its file and offset.
///
/// Corruption is reported in the [`VerifyReport`], not as an error; the error cases
/// are I/O failures (the directory or a segment cannot be read). A directory holding
/// no segment is a clean, empty log.
///
/// ```
/// # fn main() -> Result<(), kv_wal::Error> {
/// # let tmp = std::env::temp_dir().join(format!("kv-wal-verify-doc-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&tmp);
/// let (wal, _) = kv_wal::Wal::open(&tmp, kv_wal::WalOptions::default().segment_size(4096))?;
/// wal.append(&kv_wal::Op::Delete { key: b"k" }, 1)?;
/// wal.close()?;
/// drop(wal);
/// let report = kv_wal::verify_dir(&tmp)?;
/// assert!(report.is_clean());
/// assert_eq!(report.records, 1);
/// # std::fs::remove_dir_all(&tmp).unwrap();
/// # Ok(()) }
/// ```
pub fn verify_dir(dir: impl AsRef<Path>) -> Result<VerifyReport> {
    // From zero: every record body is decoded too, so a record whose checksum matches
    // but whose contents are impossible is found.
    scan_dir(dir, &ScanOptions::new(), &mut Nothing)
}

/// As [`verify_dir`], and hands every valid record with a sequence number at or above
/// [`ScanOptions::from`] to `visitor`, in log order.
///
/// Records are read as [`RecoveryMode::SalvageValid`] would keep them: past damage,
/// the scan goes on with the next record that verifies. A caller that wants what the
/// default recovery would accept checks that [`VerifyReport::problems`] is empty.
///
/// The log may be in use by a writer in another process or thread: the scan sees the
/// log as it was when it listed the directory, up to the last complete record of the
/// last segment (a record being written then is reported as a torn tail). It opens
/// every segment file before reading any, so a truncation meanwhile neither fails the
/// scan nor hides a record of a segment it listed.
pub fn scan_dir(
    dir: impl AsRef<Path>,
    options: &ScanOptions,
    visitor: &mut dyn ScanVisitor,
) -> Result<VerifyReport> {
    let storage = FsStorage::existing(dir.as_ref());
    let listing = walk::list(&storage)?;
    let mut report = VerifyReport {
        temp_files: listing
            .temp_files
            .iter()
            .map(|n| storage.describe(n))
            .collect(),
        ..VerifyReport::default()
    };
    let walker = Walker {
        storage: &storage,
        mode: RecoveryMode::SalvageValid,
        covered: options.covered_through,
        decode_from: Some(options.from),
        live: true,
    };
    let walked = walker.walk(listing.segments, &mut |event| match event {
        walk::Event::Record(r) => visitor.record(r),
        walk::Event::Segment(w) => {
            let summary = SegmentSummary {
                file: w.file.clone(),
                id: w.id,
                first_seq: w.readable.then_some(w.first_seq),
                records: w.records,
                last_seq: w.last_seq,
                used_bytes: if w.readable { w.end } else { 0 },
                file_bytes: w.size,
            };
            visitor.segment(&summary);
            report.segments.push(summary);
        }
    })?;
    for w in &walked.segments {
        report.records += w.records;
        if report.first_seq.is_none() {
            report.first_seq = w.first_record;
        }
        report.last_seq = w.last_seq.or(report.last_seq);
        if let Some((offset, len)) = w.torn {
            report.torn_tail = Some(Damage {
                file: w.file.clone(),
                offset,
                len,
                kind: Corruption::TornTail { bytes: len },
            });
        }
    }
    report.problems = walked.damage;
    report.covered_damage = walked.covered_damage;
    Ok(report)
}

//! Read-only inspection of a log directory: every segment header and record checked,
//! every problem listed with its file and offset, and nothing on disk changed.
//!
//! [`Wal::open`](crate::Wal::open) repairs as it recovers (it zero-fills a torn tail,
//! removes leftover temporary files, syncs); tools that must not modify a directory
//! (`kv verify`, `kv stats`, `kv dump`) use [`verify_dir`] and [`scan_dir`] instead.
//! They read each segment with plain `read` calls, never through a map, and open
//! nothing for writing.

use std::path::Path;

use crate::codec::Seed;
use crate::error::Corruption;
use crate::header::Header;
use crate::scan::{Damage, Scanner};
use crate::{Error, LogId, Record, RecoveryMode, Result, SegmentId, Seq};

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
    /// The file's size (segments are preallocated, so usually more than used).
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
    /// Non-zero bytes after the last valid record of the last segment: a record partly
    /// written when the writer stopped. Recovery cuts it (zero-fills it) on open.
    pub torn_tail: Option<Damage>,
    /// Leftover `wal-*.log.tmp` files of an interrupted segment creation (harmless;
    /// recovery removes them).
    pub temp_files: Vec<String>,
}

impl VerifyReport {
    /// True when every segment and record verified and the log ends cleanly.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty() && self.torn_tail.is_none()
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
    scan_dir(dir, Seq::ZERO, &mut Nothing)
}

/// As [`verify_dir`], and hands every valid record with a sequence number at or above
/// `from` to `visitor`, in log order. Records below `from` are checked but not decoded.
///
/// Records are read as [`RecoveryMode::SalvageValid`] would keep them: past damage,
/// the scan goes on with the next record that verifies. A caller that wants what the
/// default recovery would accept checks that [`VerifyReport::problems`] is empty.
pub fn scan_dir(
    dir: impl AsRef<Path>,
    from: Seq,
    visitor: &mut dyn ScanVisitor,
) -> Result<VerifyReport> {
    let dir = dir.as_ref();
    let desc = |name: &str| dir.join(name).display().to_string();
    let mut report = VerifyReport::default();
    let mut ids = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(|e| Error::io("list", dir.display().to_string(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir.display().to_string(), e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if let Some(id) = SegmentId::parse_file_name(&name) {
            ids.push(id);
        } else if name
            .strip_suffix(".tmp")
            .and_then(SegmentId::parse_file_name)
            .is_some()
        {
            report.temp_files.push(desc(&name));
        }
    }
    ids.sort();
    report.temp_files.sort();

    let mut log: Option<LogId> = None;
    // The last good segment: its id, next sequence number, file and end of records.
    let mut prev: Option<(SegmentId, Seq, String, u64)> = None;
    for (i, &id) in ids.iter().enumerate() {
        let name = id.file_name();
        let file = desc(&name);
        let bytes = std::fs::read(dir.join(&name)).map_err(|e| Error::io("read", &*file, e))?;
        let mut summary = SegmentSummary {
            file: file.clone(),
            id,
            first_seq: None,
            records: 0,
            last_seq: None,
            used_bytes: 0,
            file_bytes: bytes.len() as u64,
        };
        let header = Header::decode(&bytes).and_then(|h| {
            if h.segment != id {
                return Err(Corruption::SegmentIdMismatch {
                    expected: id,
                    found: h.segment,
                });
            }
            match log {
                Some(l) if l != h.log => Err(Corruption::ForeignLog {
                    expected: l.0,
                    found: h.log.0,
                }),
                _ => Ok(h),
            }
        });
        let header = match header {
            Ok(h) => h,
            Err(kind) => {
                report.problems.push(Damage {
                    file,
                    offset: 0,
                    len: bytes.len() as u64,
                    kind,
                });
                visitor.segment(&summary);
                report.segments.push(summary);
                continue;
            }
        };
        summary.first_seq = Some(header.first_seq);
        if let Some((prev_id, prev_next, prev_file, prev_end)) = &prev {
            if let Some(kind) = header.follows(*prev_id, *prev_next, id) {
                // Records missing after the previous segment's last one: the damage is
                // there, where its records end.
                let (file, offset) = match kind {
                    Corruption::SeqGap { found, .. } if found > *prev_next => {
                        (prev_file.clone(), *prev_end)
                    }
                    _ => (file.clone(), 0),
                };
                report.problems.push(Damage {
                    file,
                    offset,
                    len: 0,
                    kind,
                });
            }
        }
        log.get_or_insert(header.log);
        let is_last = i + 1 == ids.len();
        let mut scanner = Scanner::new(
            file.clone(),
            Seed::new(header.log, id),
            RecoveryMode::SalvageValid,
            is_last,
            header.first_seq,
        )
        .skip_below(from);
        while let Some(found) = scanner.next(&bytes) {
            // Salvage mode records damage instead of failing; an error here would be a
            // bug in the scanner, reported rather than hidden.
            let found = found?;
            summary.records += 1;
            summary.last_seq = Some(found.seq);
            report.first_seq.get_or_insert(found.seq);
            report.last_seq = Some(found.seq);
            if let Some(record) = found.record {
                visitor.record(record);
            }
        }
        report.records += summary.records;
        report.problems.append(&mut scanner.damage);
        if let Some((offset, len)) = scanner.torn {
            report.torn_tail = Some(Damage {
                file: file.clone(),
                offset,
                len,
                kind: Corruption::TornTail { bytes: len },
            });
        }
        summary.used_bytes = scanner.end();
        prev = Some((id, scanner.expected(), file.clone(), scanner.end()));
        visitor.segment(&summary);
        report.segments.push(summary);
    }
    Ok(report)
}

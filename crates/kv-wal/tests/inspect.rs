//! Read-only inspection (`verify_dir`, `scan_dir`) on real directories: clean logs,
//! flipped bits, torn tails, damaged headers, several segments; and that nothing on
//! disk changes.

use std::collections::BTreeMap;
use std::path::Path;

use kv_wal::{
    scan_dir, verify_dir, Corruption, Op, OwnedOp, Record, RecoveryMode, ScanOptions, ScanVisitor,
    SegmentId, SegmentSummary, Seq, SyncPolicy, Wal, WalOptions,
};

fn options(segment: u64) -> WalOptions {
    WalOptions::default()
        .segment_size(segment)
        .sync(SyncPolicy::Never)
}

/// Writes `n` puts into a fresh log in `dir` and returns each record's start offset
/// (single-segment logs only: the offsets are read from the log's byte count).
fn write_log(dir: &Path, n: u64, segment: u64) -> Vec<u64> {
    let (wal, _) = Wal::open(dir, options(segment)).unwrap();
    let mut offsets = Vec::new();
    for i in 0..n {
        offsets.push(wal.stats().bytes);
        let key = format!("key-{i}");
        wal.append(
            &Op::Put {
                key: key.as_bytes(),
                value: &[i as u8; 20],
                expires_at: None,
            },
            1_000 + i,
        )
        .unwrap();
    }
    wal.close().unwrap();
    offsets
}

/// Every file's bytes and modification time, to show that nothing changed.
fn snapshot_files(dir: &Path) -> BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            (
                e.file_name().into_string().unwrap(),
                (std::fs::read(e.path()).unwrap(), meta.modified().unwrap()),
            )
        })
        .collect()
}

fn segment_path(dir: &Path, id: u64) -> std::path::PathBuf {
    dir.join(SegmentId(id).file_name())
}

fn flip(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 0x04;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn clean_log_verifies_with_its_counts() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 10, 1 << 16);
    let report = verify_dir(tmp.path()).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.records, 10);
    assert_eq!(report.first_seq, Some(Seq(1)));
    assert_eq!(report.last_seq, Some(Seq(10)));
    assert_eq!(report.segments.len(), 1);
    assert_eq!(report.segments[0].records, 10);
    assert_eq!(report.file_bytes(), 1 << 16);
    assert!(report.used_bytes() > 64 && report.used_bytes() < 1 << 16);
}

#[test]
fn flipped_bit_is_reported_at_its_record_offset_and_nothing_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let offsets = write_log(tmp.path(), 10, 1 << 16);
    let seg = segment_path(tmp.path(), 1);
    // A bit inside the value of the fifth record.
    flip(&seg, offsets[4] + 30);
    let before = snapshot_files(tmp.path());
    let report = verify_dir(tmp.path()).unwrap();
    assert_eq!(
        snapshot_files(tmp.path()),
        before,
        "verify changed the directory"
    );
    assert!(!report.is_clean());
    assert!(report.torn_tail.is_none(), "{report:?}");
    let first = &report.problems[0];
    assert_eq!(first.file, seg.display().to_string());
    assert_eq!(first.offset, offsets[4]);
    assert_eq!(first.len, offsets[5] - offsets[4]);
    assert!(
        matches!(first.kind, Corruption::RecordChecksum { .. }),
        "{first:?}"
    );
    // The records after the damage still verify (and the gap they leave is reported).
    assert_eq!(report.records, 9);
    assert!(report.problems.iter().any(|p| matches!(
        p.kind,
        Corruption::SeqGap {
            expected: Seq(5),
            found: Seq(6)
        }
    )));
    // The default recovery refuses this log, naming the same place.
    let err = Wal::open(tmp.path(), options(1 << 16)).unwrap_err();
    assert!(
        err.to_string().contains(&format!("offset {}", offsets[4])),
        "{err}"
    );
}

#[test]
fn torn_tail_is_reported_apart_from_problems_and_left_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let offsets = write_log(tmp.path(), 5, 1 << 16);
    let end = {
        let r = verify_dir(tmp.path()).unwrap();
        r.used_bytes()
    };
    let seg = segment_path(tmp.path(), 1);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[end as usize..end as usize + 13].copy_from_slice(&[0xab; 13]);
    std::fs::write(&seg, &bytes).unwrap();
    let report = verify_dir(tmp.path()).unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    let torn = report.torn_tail.clone().expect("a torn tail");
    assert_eq!((torn.offset, torn.len), (end, 13));
    assert_eq!(report.records, 5);
    assert!(!report.is_clean());
    assert_eq!(std::fs::read(&seg).unwrap(), bytes, "verify cut the tail");
    // Recovery cuts it; then the log verifies clean.
    let (wal, opened) = Wal::open(tmp.path(), options(1 << 16)).unwrap();
    assert_eq!(opened.discarded_bytes, 13);
    drop(wal);
    assert!(verify_dir(tmp.path()).unwrap().is_clean());
    assert_eq!(offsets.len(), 5);
}

#[test]
fn damaged_header_is_reported_at_offset_zero() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 3, 1 << 16);
    let seg = segment_path(tmp.path(), 1);
    flip(&seg, 20);
    let report = verify_dir(tmp.path()).unwrap();
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert_eq!(report.problems[0].offset, 0);
    assert!(matches!(
        report.problems[0].kind,
        Corruption::HeaderChecksum { .. }
    ));
    assert_eq!(report.records, 0);
    assert_eq!(report.segments[0].first_seq, None);
}

#[derive(Default)]
struct Collect {
    segments: Vec<SegmentSummary>,
    records: Vec<Record>,
}

impl ScanVisitor for Collect {
    fn segment(&mut self, segment: &SegmentSummary) {
        self.segments.push(segment.clone());
    }
    fn record(&mut self, record: Record) {
        self.records.push(record);
    }
}

#[test]
fn scan_visits_records_from_a_sequence_number_across_segments() {
    let tmp = tempfile::tempdir().unwrap();
    // Small segments: the 40 records span several.
    write_log(tmp.path(), 40, 1024);
    let mut seen = Collect::default();
    let report = scan_dir(tmp.path(), &ScanOptions::new().from(Seq(25)), &mut seen).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert!(report.segments.len() > 2, "{}", report.segments.len());
    assert_eq!(seen.segments, report.segments);
    assert_eq!(report.records, 40);
    let seqs: Vec<u64> = seen.records.iter().map(|r| r.seq.0).collect();
    assert_eq!(seqs, (25..=40).collect::<Vec<_>>());
    assert_eq!(
        seen.records[0].op,
        OwnedOp::Put {
            key: b"key-24".to_vec(),
            value: vec![24; 20],
            expires_at: None
        }
    );
    // The same records a real replay gives.
    let (wal, _) = Wal::open(tmp.path(), options(1024)).unwrap();
    let replayed: Vec<Record> = wal
        .replay_from(Seq(25))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(replayed, seen.records);
}

#[test]
fn damage_in_an_older_segment_and_a_missing_segment_are_problems() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 40, 1024);
    let count = verify_dir(tmp.path()).unwrap().segments.len() as u64;
    assert!(count >= 4);
    flip(&segment_path(tmp.path(), 1), 64 + 30);
    std::fs::remove_file(segment_path(tmp.path(), 3)).unwrap();
    let report = verify_dir(tmp.path()).unwrap();
    let first = segment_path(tmp.path(), 1).display().to_string();
    assert!(report
        .problems
        .iter()
        .any(|p| p.file == first && p.offset == 64));
    assert!(report.problems.iter().any(|p| matches!(
        p.kind,
        Corruption::MissingSegment {
            expected: SegmentId(3),
            found: SegmentId(4)
        }
    )));
    // Salvage recovery opens it; the default one does not.
    assert!(Wal::open(tmp.path(), options(1024)).is_err());
    Wal::open(
        tmp.path(),
        options(1024).recovery(RecoveryMode::SalvageValid),
    )
    .unwrap();
}

#[test]
fn leftover_temp_file_is_listed_not_removed_and_missing_dir_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 2, 1 << 16);
    let temp = tmp.path().join(format!("{}.tmp", SegmentId(2).file_name()));
    std::fs::write(&temp, b"partial").unwrap();
    let report = verify_dir(tmp.path()).unwrap();
    assert!(report.is_clean());
    assert_eq!(report.temp_files, vec![temp.display().to_string()]);
    assert!(temp.exists());

    let missing = tmp.path().join("nope");
    let err = verify_dir(&missing).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    assert!(!missing.exists(), "verify created the directory");

    let empty = tempfile::tempdir().unwrap();
    let report = verify_dir(empty.path()).unwrap();
    assert!(report.is_clean() && report.segments.is_empty() && report.records == 0);
}

#[test]
fn a_sequence_gap_at_the_end_of_an_older_segment_is_a_problem_where_its_records_end() {
    let tmp = tempfile::tempdir().unwrap();
    write_log(tmp.path(), 40, 1024);
    let report = verify_dir(tmp.path()).unwrap();
    let first = &report.segments[0];
    assert!(first.records >= 2);
    // Zero the first segment's last record: it ends cleanly, one record short.
    let path = segment_path(tmp.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    let mut at = 64usize;
    let mut starts = Vec::new();
    while at + 8 <= bytes.len() && bytes[at + 4..at + 8] != [0; 4] {
        starts.push(at);
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        at = (at + 8 + len).div_ceil(8) * 8;
    }
    let last = *starts.last().unwrap();
    bytes[last..].fill(0);
    std::fs::write(&path, bytes).unwrap();
    let report = verify_dir(tmp.path()).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let p = &report.problems[0];
    assert_eq!(p.file, path.display().to_string());
    assert_eq!(p.offset, last as u64);
    assert!(matches!(p.kind, Corruption::SeqGap { .. }), "{p:?}");
}

#[test]
fn a_scan_beside_a_live_writer_that_rotates_and_truncates_never_fails_nor_skips_a_record() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    struct Seen(Vec<Record>);
    impl ScanVisitor for Seen {
        fn record(&mut self, record: Record) {
            self.0.push(record);
        }
    }
    let value = |seq: u64| OwnedOp::Put {
        key: seq.to_le_bytes().to_vec(),
        value: vec![seq as u8; 40],
        expires_at: None,
    };
    // On a memory file system where there is one: syncs are free there, so the writer
    // rotates and truncates often enough to race the scans.
    let tmp = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    let (wal, _) = Wal::open(tmp.path(), options(2048)).unwrap();
    let wal = Arc::new(wal);
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (wal, done) = (wal.clone(), done.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !done.load(Ordering::Relaxed) {
                let seq = wal.last_seq().0 + 1;
                let op = value(seq);
                wal.append(&op.as_op(&mut Vec::new()), seq).unwrap();
                n += 1;
                // Keep about 40 records: truncation removes segments all the time.
                if n % 8 == 0 {
                    wal.truncate_through(Seq(seq.saturating_sub(40))).unwrap();
                }
            }
        })
    };
    let mut scans = 0;
    while scans < 2000 {
        let mut seen = Seen(Vec::new());
        let report = scan_dir(tmp.path(), &ScanOptions::new(), &mut seen)
            .unwrap_or_else(|e| panic!("scan {scans} failed: {e}"));
        assert!(report.problems.is_empty(), "scan {scans}: {report:?}");
        assert!(report.covered_damage.is_empty(), "scan {scans}: {report:?}");
        let seqs: Vec<u64> = seen.0.iter().map(|r| r.seq.0).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "scan {scans} skipped a record: {seqs:?}"
        );
        for r in &seen.0 {
            assert_eq!(r.op, value(r.seq.0), "scan {scans}");
        }
        assert_eq!(report.records, seqs.len() as u64);
        scans += 1;
    }
    done.store(true, Ordering::Relaxed);
    writer.join().unwrap();
}

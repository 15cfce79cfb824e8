//! Golden files: a small valid log and a small corrupt one, committed under
//! `tests/data/`, must keep reading the same way as the code changes. Regenerate them
//! (only on purpose, for a new format version) with
//! `cargo test -p kv-wal --test golden -- --ignored`.
//!
//! `tests/data/v1/` keeps the valid log as format version 1 wrote it (before records
//! carried a durable mark): this build refuses it with a clear error in every mode.

use std::path::{Path, PathBuf};

use kv_wal::{
    BatchOp, Corruption, Error, Op, OwnedBatchOp, OwnedOp, RecoveryMode, SegmentId, Seq,
    SyncPolicy, Wal, WalOptions,
};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

const SEGMENT: u64 = 512;

/// What the valid log holds.
fn expected() -> Vec<(u64, u64, OwnedOp)> {
    vec![
        (
            1,
            1_700_000_000_000,
            OwnedOp::Put {
                key: b"alpha".to_vec(),
                value: b"one".to_vec(),
                expires_at: None,
            },
        ),
        (
            2,
            1_700_000_000_001,
            OwnedOp::Put {
                key: b"beta".to_vec(),
                value: b"two".to_vec(),
                expires_at: Some(1_700_000_060_000),
            },
        ),
        (
            3,
            1_700_000_000_002,
            OwnedOp::Delete {
                key: b"alpha".to_vec(),
            },
        ),
        (
            4,
            1_700_000_000_003,
            OwnedOp::Batch(vec![
                OwnedBatchOp::Put {
                    key: b"gamma".to_vec(),
                    value: vec![0xab; 200],
                    expires_at: None,
                },
                OwnedBatchOp::Delete {
                    key: b"beta".to_vec(),
                },
            ]),
        ),
        (
            5,
            1_700_000_000_004,
            OwnedOp::Expire {
                key: b"gamma".to_vec(),
                expires_at: Some(1_700_000_100_000),
            },
        ),
        (
            6,
            1_700_000_000_005,
            OwnedOp::Evict {
                key: b"gamma".to_vec(),
                version: 4,
            },
        ),
        (7, 1_700_000_000_006, OwnedOp::Clear),
    ]
}

/// Copies a fixture directory somewhere writable (opening may zero-fill a tail).
fn copy(name: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(data().join(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    tmp
}

fn options(mode: RecoveryMode) -> WalOptions {
    WalOptions::default()
        .segment_size(SEGMENT)
        .sync(SyncPolicy::Never)
        .recovery(mode)
}

#[test]
fn the_valid_golden_log_reads_back() {
    let dir = copy("valid");
    let (wal, report) = Wal::open(dir.path(), options(RecoveryMode::AbsoluteConsistency)).unwrap();
    assert_eq!(report.segments, 2, "the fixture spans a rotation");
    assert_eq!(report.records, 7);
    assert_eq!(report.discarded_bytes, 0);
    let got: Vec<(u64, u64, OwnedOp)> = wal
        .replay_from(Seq(0))
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.seq.0, r.timestamp_ms, r.op)
        })
        .collect();
    assert_eq!(got, expected());
}

#[test]
fn the_corrupt_golden_log_is_reported_where_it_is_damaged() {
    // Record 2 of the first segment has a flipped byte, with record 3 valid after it.
    let dir = copy("corrupt");
    for mode in [
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::TolerateTornTail,
    ] {
        let err = Wal::open(dir.path(), options(mode)).unwrap_err();
        match &err {
            Error::Corrupt { file, offset, kind } => {
                assert!(file.ends_with(&SegmentId(1).file_name()), "{err}");
                assert_eq!(*offset, 64 + 56, "{err}");
                assert!(matches!(kind, Corruption::Hole { .. }), "{err}");
            }
            other => panic!("expected corruption, got {other}"),
        }
    }
    let (wal, report) = Wal::open(dir.path(), options(RecoveryMode::SalvageValid)).unwrap();
    let seqs: Vec<u64> = wal
        .replay_from(Seq(0))
        .unwrap()
        .map(|r| r.unwrap().seq.0)
        .collect();
    assert_eq!(seqs, vec![1, 3, 4, 5, 6, 7]);
    assert_eq!(report.damage[0].offset, 120);
}

#[test]
fn a_version_1_log_is_refused_as_an_unsupported_version_in_every_mode() {
    let dir = copy("v1");
    let before = std::fs::read(dir.path().join(SegmentId(1).file_name())).unwrap();
    for mode in [
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::TolerateTornTail,
        RecoveryMode::SalvageValid,
    ] {
        let err = Wal::open(dir.path(), options(mode)).unwrap_err();
        match &err {
            Error::Corrupt { file, offset, kind } => {
                assert!(file.ends_with(&SegmentId(1).file_name()), "{err}");
                assert_eq!(*offset, 0, "{err}");
                assert_eq!(*kind, Corruption::UnsupportedVersion { found: 1 }, "{err}");
            }
            other => panic!("expected an unsupported version, got {other}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("unsupported segment format version 1") && text.contains("version 2"),
            "{text}"
        );
    }
    // Nothing was changed or added.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2);
    assert_eq!(
        std::fs::read(dir.path().join(SegmentId(1).file_name())).unwrap(),
        before
    );
}

#[test]
#[ignore = "rewrites the committed fixtures"]
fn regenerate_golden_files() {
    let valid = data().join("valid");
    let corrupt = data().join("corrupt");
    for d in [&valid, &corrupt] {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).unwrap();
    }
    let (wal, _) = Wal::open(&valid, options(RecoveryMode::AbsoluteConsistency)).unwrap();
    for (_, ts, op) in expected() {
        let mut scratch: Vec<BatchOp<'_>> = Vec::new();
        let op: Op<'_> = op.as_op(&mut scratch);
        wal.append(&op, ts).unwrap();
    }
    wal.close().unwrap();
    drop(wal);
    for entry in std::fs::read_dir(&valid).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), corrupt.join(entry.file_name())).unwrap();
    }
    let first = corrupt.join(SegmentId(1).file_name());
    let mut bytes = std::fs::read(&first).unwrap();
    // Record 1 takes 56 bytes (8 frame + 21 fixed + 9 expiry + 8 lengths + 8 key and
    // value, padded to 8), so record 2 starts at 64 + 56 = 120: damage its key.
    bytes[120 + 8 + 21 + 9 + 8] ^= 0x20;
    std::fs::write(&first, bytes).unwrap();
}

//! Golden files: a small valid and a small corrupt snapshot of format version 1,
//! committed under `tests/data/`, must keep reading as they do today. The writer must
//! also still produce the valid one byte for byte.
//!
//! `KV_SNAPSHOT_BLESS=1 cargo test -p kv-snapshot --test golden` rewrites them (only
//! for a deliberate format change, with a new version row in docs/format.md), along
//! with the seed inputs of the `snapshot_decode` fuzz corpus.

mod common;

use std::path::{Path, PathBuf};

use kv_snapshot::{Corruption, EntryRef, Error, Part, SnapshotEntry, SnapshotReader};

const SEQ: u64 = 1234;
const CREATED: u64 = 1_700_000_000_000;

fn golden_entries() -> Vec<SnapshotEntry> {
    vec![
        SnapshotEntry {
            key: b"alpha".to_vec(),
            value: b"first value".to_vec(),
            expires_at: None,
            created: CREATED - 5_000,
            updated: CREATED - 1_000,
            version: 3,
        },
        SnapshotEntry {
            key: b"beta".to_vec(),
            value: Vec::new(),
            expires_at: Some(CREATED + 60_000),
            created: CREATED - 10,
            updated: CREATED - 10,
            version: 1,
        },
        SnapshotEntry {
            key: vec![0, 255, 7],
            value: vec![0xab; 40],
            expires_at: Some(u64::MAX),
            created: 0,
            updated: 1,
            version: u64::MAX,
        },
    ]
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Writes the golden entries with the current writer and returns the bytes.
fn fresh_valid_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = golden_entries();
    // One entry already expired at the writer's time: it must not appear in the file.
    entries.insert(
        1,
        SnapshotEntry {
            key: b"expired".to_vec(),
            expires_at: Some(CREATED),
            ..SnapshotEntry::default()
        },
    );
    let path = common::write(dir.path(), SEQ, CREATED, &entries);
    std::fs::read(path).unwrap()
}

/// The valid file with one payload byte of its second record flipped.
fn corrupt_bytes(valid: &[u8]) -> (Vec<u8>, usize) {
    let offsets = common::record_offsets(valid);
    let second = offsets[1];
    let mut bad = valid.to_vec();
    bad[second + 8 + 3] ^= 0x10;
    (bad, second)
}

fn bless() -> bool {
    std::env::var_os("KV_SNAPSHOT_BLESS").is_some()
}

#[test]
fn the_valid_golden_file_reads_and_the_writer_still_produces_it() {
    let path = data_dir().join("valid-v1.snap");
    let fresh = fresh_valid_bytes();
    if bless() {
        std::fs::create_dir_all(data_dir()).unwrap();
        std::fs::write(&path, &fresh).unwrap();
        write_fuzz_seeds(&fresh);
    }
    let golden = std::fs::read(&path).unwrap();
    assert_eq!(
        golden, fresh,
        "the writer no longer produces the golden bytes"
    );

    let reader = SnapshotReader::open(&path, CREATED).unwrap();
    let h = *reader.header();
    assert_eq!(
        (
            h.format_version,
            h.sequence.get(),
            h.created_ms,
            h.entry_count
        ),
        (1, SEQ, CREATED, 3)
    );
    let got: Result<Vec<_>, _> = reader.collect();
    assert_eq!(got.unwrap(), golden_entries());

    // Read a minute later, the second entry has expired.
    let later: Vec<_> = SnapshotReader::open(&path, CREATED + 60_000)
        .unwrap()
        .map(|e| e.unwrap().key)
        .collect();
    assert_eq!(later, vec![b"alpha".to_vec(), vec![0, 255, 7]]);
}

#[test]
fn the_corrupt_golden_file_fails_naming_file_offset_and_checksum() {
    let path = data_dir().join("corrupt-v1.snap");
    let valid = std::fs::read(data_dir().join("valid-v1.snap")).unwrap();
    let (fresh, offset) = corrupt_bytes(&valid);
    if bless() {
        std::fs::write(&path, &fresh).unwrap();
    }
    assert_eq!(std::fs::read(&path).unwrap(), fresh);

    let mut reader = SnapshotReader::open(&path, CREATED).unwrap();
    // The first entry is intact and comes out; the second is refused.
    assert_eq!(reader.next().unwrap().unwrap(), golden_entries()[0]);
    let err = reader.next().unwrap().unwrap_err();
    match &err {
        Error::Corrupt {
            path: p,
            offset: o,
            what:
                Corruption::ChecksumMismatch {
                    part: Part::Record, ..
                },
        } => {
            assert_eq!(p, &path);
            assert_eq!(*o, offset as u64);
        }
        other => panic!("unexpected error {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("corrupt-v1.snap") && msg.contains("record checksum"),
        "{msg}"
    );
    assert!(reader.next().is_none(), "a reader ends after its error");
}

/// Seeds for the fuzz corpus: the valid golden file and a few damaged variants, so the
/// fuzzer starts from structure it would take long to find.
fn write_fuzz_seeds(valid: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/snapshot_decode");
    std::fs::create_dir_all(&dir).unwrap();
    let mut seeds: Vec<(&str, Vec<u8>)> = vec![("valid", valid.to_vec())];
    let empty = {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::read(common::write(tmp.path(), 1, 0, &[])).unwrap()
    };
    seeds.push(("empty", empty));
    let one = {
        let tmp = tempfile::tempdir().unwrap();
        let e = EntryRef {
            key: b"k",
            value: b"v",
            expires_at: Some(9),
            ..EntryRef::default()
        }
        .to_entry();
        std::fs::read(common::write(tmp.path(), 2, 0, &[e])).unwrap()
    };
    seeds.push(("one-entry", one));
    seeds.push(("corrupt-record", corrupt_bytes(valid).0));
    seeds.push(("truncated-mid-record", valid[..valid.len() / 2].to_vec()));
    seeds.push(("no-footer", valid[..valid.len() - 24].to_vec()));
    let mut trailing = valid.to_vec();
    trailing.extend_from_slice(b"extra");
    seeds.push(("trailing", trailing));
    let mut huge = valid.to_vec();
    huge[48..52].copy_from_slice(&u32::MAX.to_le_bytes());
    seeds.push(("huge-length", huge));
    seeds.push(("header-only", valid[..48].to_vec()));
    for (name, bytes) in seeds {
        std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
}

//! Golden files: a small valid and a small corrupt snapshot of every format version,
//! committed under `tests/data/`, must keep reading as they do today. The writer must
//! also still produce the valid file of the current version byte for byte.
//!
//! `KV_SNAPSHOT_BLESS=1 cargo test -p kv-snapshot --test golden` rewrites the files of
//! the current version (only for a deliberate format change, with a new version row in
//! docs/format.md), along with its seed inputs of the `snapshot_decode` fuzz corpus.
//! The files of older versions are never rewritten: no writer makes them any more.

mod common;

use std::path::{Path, PathBuf};

use kv_snapshot::{Access, Corruption, EntryRef, Error, Part, SnapshotEntry, SnapshotReader};

const SEQ: u64 = 1234;
const CREATED: u64 = 1_700_000_000_000;

/// The entries of every golden file; version 1 files have no access metadata.
fn golden_entries(version: u16) -> Vec<SnapshotEntry> {
    let access = |a: Access| (version >= 2).then_some(a);
    vec![
        SnapshotEntry {
            key: b"alpha".to_vec(),
            value: b"first value".to_vec(),
            expires_at: None,
            created: CREATED - 5_000,
            updated: CREATED - 1_000,
            version: 3,
            access: access(Access {
                accessed: CREATED - 500,
                count: 17,
                lfu: 9,
            }),
        },
        SnapshotEntry {
            key: b"beta".to_vec(),
            value: Vec::new(),
            expires_at: Some(CREATED + 60_000),
            created: CREATED - 10,
            updated: CREATED - 10,
            version: 1,
            access: None,
        },
        SnapshotEntry {
            key: vec![0, 255, 7],
            value: vec![0xab; 40],
            expires_at: Some(u64::MAX),
            created: 0,
            updated: 1,
            version: u64::MAX,
            access: access(Access {
                accessed: u64::MAX,
                count: u64::MAX,
                lfu: 255,
            }),
        },
    ]
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Writes the golden entries with the current writer and returns the bytes.
fn fresh_valid_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = golden_entries(2);
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

/// The valid file with one payload byte of its second record flipped, and the offset
/// of that record.
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

/// The valid golden file of `version` reads to the golden entries, and a minute later
/// without the one that expired by then.
fn assert_valid_file_reads(version: u16) {
    let path = data_dir().join(format!("valid-v{version}.snap"));
    let reader = SnapshotReader::open(&path, CREATED).unwrap();
    let h = *reader.header();
    assert_eq!(
        (
            h.format_version,
            h.sequence.get(),
            h.created_ms,
            h.entry_count
        ),
        (version, SEQ, CREATED, 3)
    );
    let got: Result<Vec<_>, _> = reader.collect();
    assert_eq!(got.unwrap(), golden_entries(version));

    // Read a minute later, the second entry has expired.
    let later: Vec<_> = SnapshotReader::open(&path, CREATED + 60_000)
        .unwrap()
        .map(|e| e.unwrap().key)
        .collect();
    assert_eq!(later, vec![b"alpha".to_vec(), vec![0, 255, 7]]);
}

/// The corrupt golden file of `version` (its valid twin with one payload byte of the
/// second record flipped) yields the first entry, then an error naming the file, the
/// record's offset and the checksum.
fn assert_corrupt_file_fails(version: u16) {
    let path = data_dir().join(format!("corrupt-v{version}.snap"));
    let valid = std::fs::read(data_dir().join(format!("valid-v{version}.snap"))).unwrap();
    let (expected, offset) = corrupt_bytes(&valid);
    assert_eq!(std::fs::read(&path).unwrap(), expected);

    let mut reader = SnapshotReader::open(&path, CREATED).unwrap();
    // The first entry is intact and comes out; the second is refused.
    assert_eq!(reader.next().unwrap().unwrap(), golden_entries(version)[0]);
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
        msg.contains(&format!("corrupt-v{version}.snap"))
            && msg.contains(&format!("offset {offset}"))
            && msg.contains("record checksum"),
        "{msg}"
    );
    assert!(reader.next().is_none(), "a reader ends after its error");
}

#[test]
fn the_valid_version_2_file_reads_and_the_writer_still_produces_it() {
    let path = data_dir().join("valid-v2.snap");
    let fresh = fresh_valid_bytes();
    if bless() {
        std::fs::create_dir_all(data_dir()).unwrap();
        std::fs::write(&path, &fresh).unwrap();
        std::fs::write(data_dir().join("corrupt-v2.snap"), corrupt_bytes(&fresh).0).unwrap();
        write_fuzz_seeds(&fresh);
    }
    let golden = std::fs::read(&path).unwrap();
    assert_eq!(
        golden, fresh,
        "the writer no longer produces the golden bytes"
    );
    assert_valid_file_reads(2);
}

#[test]
fn the_corrupt_version_2_file_fails_naming_file_offset_and_checksum() {
    assert_corrupt_file_fails(2);
}

#[test]
fn the_valid_version_1_file_still_reads_without_access_metadata() {
    assert_valid_file_reads(1);
}

#[test]
fn the_corrupt_version_1_file_still_fails_naming_file_offset_and_checksum() {
    assert_corrupt_file_fails(1);
}

/// Seeds for the fuzz corpus: the valid golden file and a few damaged variants, so the
/// fuzzer starts from structure it would take long to find. Named after the version,
/// so the seeds of older versions stay.
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
            access: Some(Access {
                accessed: 8,
                count: 2,
                lfu: 1,
            }),
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
    let version = u16::from_le_bytes([valid[8], valid[9]]);
    for (name, bytes) in seeds {
        std::fs::write(dir.join(format!("seed-v{version}-{name}")), bytes).unwrap();
    }
}

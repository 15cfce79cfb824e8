//! Reading a damaged snapshot never allocates beyond what the file's size allows: no
//! byte buffer larger than the file, no entry list longer than the records the file
//! can hold. The workspace's counting global allocator (kv-alloc-count) records the
//! largest single allocation made on the test thread.
#![forbid(unsafe_code)]

mod common;

use std::path::Path;

use kv_snapshot::{SnapshotEntry, SnapshotFile, SnapshotOptions, SnapshotReader, Snapshots};

#[global_allocator]
static ALLOC: kv_alloc_count::Counting = kv_alloc_count::Counting;

/// Small fixed allocations (paths, error messages) are allowed below this.
const SLACK: usize = 512;

/// The fewest bytes a record takes in a file of any format version: an 8-byte frame and
/// a 41-byte payload (version 1, empty key and value, no expiry).
const MIN_RECORD: usize = 49;

/// The largest allocation reading a `len`-byte file may make: the file's bytes, or the
/// list of all the entries it can hold (`Snapshots::load`).
fn bound(len: usize) -> usize {
    len.max(len / MIN_RECORD * std::mem::size_of::<SnapshotEntry>())
        .max(SLACK)
}

/// Reads `bytes` as a snapshot file, streaming and with an all-or-nothing load, and
/// returns the largest allocation either made.
fn largest_allocation_reading(path: &Path, bytes: &[u8]) -> usize {
    std::fs::write(path, bytes).unwrap();
    let snaps = Snapshots::open(path.parent().unwrap(), SnapshotOptions::default()).unwrap();
    let file = SnapshotFile {
        sequence: 1.into(),
        path: path.to_path_buf(),
    };
    kv_alloc_count::reset_largest_on_thread();
    let streamed = SnapshotReader::open(path, 0).and_then(|r| r.verify());
    let loaded = snaps.load(&file, 0);
    let largest = kv_alloc_count::largest_on_thread();
    assert_eq!(streamed.is_ok(), loaded.is_ok());
    largest
}

#[test]
fn damaged_files_never_allocate_beyond_their_size() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<_> = (0..8).map(|i| common::entry(i, 50, None)).collect();
    let valid = std::fs::read(common::write(dir.path(), 1, 0, &entries)).unwrap();
    let path = dir.path().join("probe.snap");

    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut huge_len = valid.clone();
    huge_len[48..52].copy_from_slice(&u32::MAX.to_le_bytes());
    inputs.push(("huge record length".into(), huge_len));
    inputs.push((
        "huge entry count".into(),
        common::with_header(&valid, 32, &u64::MAX.to_le_bytes()),
    ));
    for key_len in [u64::MAX, u64::MAX / 2, 1 << 40, valid.len() as u64 * 2] {
        inputs.push((
            format!("key length {key_len}"),
            common::with_lying_key_length(&valid, key_len),
        ));
    }
    for cut in (0..valid.len()).step_by(7) {
        inputs.push((format!("cut at {cut}"), valid[..cut].to_vec()));
    }
    for bit in (0..valid.len() * 8).step_by(5) {
        let mut b = valid.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        inputs.push((format!("bit {bit}"), b));
    }
    for (what, bytes) in inputs {
        let largest = largest_allocation_reading(&path, &bytes);
        assert!(
            largest <= bound(bytes.len()),
            "{what}: allocated {largest} bytes reading a {}-byte file",
            bytes.len()
        );
    }
}

#[test]
fn the_probe_sees_allocations() {
    // Guards the test above against a probe that records nothing.
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<_> = (0..4).map(|i| common::entry(i, 5_000, None)).collect();
    let valid = std::fs::read(common::write(dir.path(), 1, 0, &entries)).unwrap();
    let largest = largest_allocation_reading(&dir.path().join("p.snap"), &valid);
    assert!(largest >= 5_000, "largest allocation seen: {largest}");
}

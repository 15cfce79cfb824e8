//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use kv_snapshot::{SnapshotEntry, SnapshotOptions, Snapshots};

/// A deterministic entry `i`: key `key-<i>`, a value of `value_len` bytes.
pub fn entry(i: u64, value_len: usize, expires_at: Option<u64>) -> SnapshotEntry {
    SnapshotEntry {
        key: format!("key-{i:06}").into_bytes(),
        value: (0..value_len)
            .map(|j| (i as usize * 31 + j) as u8)
            .collect(),
        expires_at,
        created: 1_000 + i,
        updated: 2_000 + i,
        version: i,
    }
}

/// Writes a snapshot of `entries` covering `seq` at `now`, with a small buffer so that
/// even small snapshots span several chunks.
pub fn write(dir: &Path, seq: u64, now: u64, entries: &[SnapshotEntry]) -> PathBuf {
    let snaps =
        Snapshots::open(dir, SnapshotOptions::default().buffer_size(4096).keep(100)).expect("open");
    let mut w = snaps.begin(seq, now).expect("begin");
    for e in entries {
        w.push(e).expect("push");
    }
    w.finish().expect("finish").path
}

/// Names of the files in `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// The offsets at which each record starts, and the footer's offset, of a valid file.
pub fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let count = u64::from_le_bytes(bytes[32..40].try_into().unwrap());
    let mut at = 48;
    let mut v = vec![at];
    for _ in 0..count {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 8 + len;
        v.push(at);
    }
    v
}

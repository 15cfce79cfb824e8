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
        access: None,
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

/// Rewrites header bytes and fixes the header checksum, as a newer writer would.
pub fn with_header(bytes: &[u8], at: usize, field: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at..at + field.len()].copy_from_slice(field);
    let crc = crc32(&b[..44]);
    b[44..48].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Bitwise CRC-32 (IEEE), independent of the crate's implementation.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `bytes` with the first record's payload key length set to `key_len` and the
/// record checksum fixed up, so only the codec can notice.
pub fn with_lying_key_length(bytes: &[u8], key_len: u64) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let len = u32::from_le_bytes(b[48..52].try_into().unwrap()) as usize;
    b[56..64].copy_from_slice(&key_len.to_le_bytes());
    let mut crc_input = b[48..52].to_vec();
    crc_input.extend_from_slice(&b[56..56 + len]);
    let crc = crc32(&crc_input);
    b[52..56].copy_from_slice(&crc.to_le_bytes());
    b
}

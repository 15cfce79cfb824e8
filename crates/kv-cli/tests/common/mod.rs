//! Helpers of the integration tests: running the built `kv` binary, reading a
//! directory's files, finding record offsets in a log segment.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Creates an empty store in `dir` with small log segments (64 KiB), so that the
/// unoptimized test build does not spend its time reading 64 MiB of preallocated
/// zeros on every command. Returns `dir` as a string.
pub fn init(dir: &Path) -> &str {
    let store = kv_store::Store::open(
        kv_store::Options::new()
            .dir(dir)
            .segment_size(64 << 10)
            .snapshot_on_close(false),
    )
    .unwrap();
    store.close().unwrap();
    s(dir)
}

/// Runs `kv` with `args` and no stdin.
pub fn kv<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    kv_in(args, b"")
}

/// Runs `kv` with `args` and `stdin`.
pub fn kv_in<I, S>(args: I, stdin: &[u8]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    assert_cmd::cargo::cargo_bin_cmd!("kv")
        .args(args)
        .write_stdin(stdin.to_vec())
        .output()
        .expect("run kv")
}

/// The exit status.
pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts exit status 0 and returns stdout.
pub fn ok(out: Output) -> String {
    assert_eq!(
        code(&out),
        0,
        "stdout: {}\nstderr: {}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Every file's bytes and modification time.
pub fn files(dir: &Path) -> BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
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

/// The files of `dir` whose names start with `prefix`, sorted.
pub fn named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    v.sort();
    v
}

/// The start offsets of the records in a log segment, and the end of the last one:
/// records follow the 64-byte header, each an 8-byte frame (crc, length) and a body,
/// padded to 8 bytes (docs/format.md, "Write-ahead log").
pub fn record_offsets(segment: &[u8]) -> Vec<usize> {
    let mut offs = vec![64usize];
    loop {
        let at = *offs.last().unwrap();
        if at + 8 > segment.len() {
            break;
        }
        let len = u32::from_le_bytes(segment[at + 4..at + 8].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        offs.push((at + 8 + len).div_ceil(8) * 8);
    }
    offs
}

/// Flips one bit of the file at `at`.
pub fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x10;
    std::fs::write(path, bytes).unwrap();
}

/// A directory path as a string argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

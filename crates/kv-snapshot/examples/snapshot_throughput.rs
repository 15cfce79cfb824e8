//! Snapshot write and load throughput against plain sequential I/O of the same bytes.
//!
//! ```text
//! cargo run --release -p kv-snapshot --example snapshot_throughput [ENTRIES] [VALUE_BYTES] [DIR]
//! ```
//!
//! Defaults: 1,000,000 entries of 100-byte values in a temporary directory. Writes a
//! snapshot (chunks, fsync, rename, directory fsync), loads it three ways, then writes
//! and reads a plain file of the same size (1 MiB chunks, fsync), and prints MB/s for
//! each and the ratios. Run it on the disk you care about (DIR); the page cache is not
//! dropped, so reads of both kinds are usually served from memory alike.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use kv_snapshot::{EntryRef, SnapshotOptions, SnapshotReader, Snapshots};

const ROUNDS: usize = 3;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let entries: usize = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let value_len: usize = args.next().map_or(Ok(100), |a| a.parse())?;
    let tmp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or_else(|| tmp.path().to_path_buf(), Into::into);
    std::fs::create_dir_all(&dir)?;

    // Keys and values live in two arenas; the writer borrows from them, as the store
    // borrows from its map.
    let keys: Vec<u8> = (0..entries)
        .flat_map(|i| format!("key-{i:012}").into_bytes())
        .collect();
    let key_len = keys.len() / entries.max(1);
    let values: Vec<u8> = (0..entries * value_len).map(|i| (i % 251) as u8).collect();

    let snaps = Snapshots::open(dir.join("snapshots"), SnapshotOptions::default())?;
    let mut best = Best::default();
    let mut bytes = 0;
    for round in 0..ROUNDS {
        let t = Instant::now();
        let mut w = snaps.begin(round as u64 + 1, 0)?;
        for i in 0..entries {
            w.push(EntryRef {
                key: &keys[i * key_len..(i + 1) * key_len],
                value: &values[i * value_len..(i + 1) * value_len],
                expires_at: (i % 2 == 0).then_some(u64::MAX),
                created: i as u64,
                updated: i as u64,
                version: 1,
            })?;
        }
        let written = w.finish()?;
        best.write = best.write.min(t.elapsed());
        bytes = written.bytes;

        let file = snaps.list()?.remove(0);
        let t = Instant::now();
        let mut reader = SnapshotReader::open(&file.path, 0)?;
        let mut sum = 0usize;
        while let Some(e) = reader.next_ref() {
            sum += e?.value.len();
        }
        assert!(reader.is_verified() && sum == entries * value_len);
        best.stream = best.stream.min(t.elapsed());

        let t = Instant::now();
        let loaded = snaps.load(&file, 0)?;
        best.load = best.load.min(t.elapsed());
        assert_eq!(loaded.entries.len(), entries);
        let t = Instant::now();
        drop(loaded);
        best.drop_vec = best.drop_vec.min(t.elapsed());

        let plain = dir.join("plain.bin");
        let chunk = vec![0x5au8; 1 << 20];
        let t = Instant::now();
        plain_write(&plain, &chunk, bytes)?;
        best.plain_write = best.plain_write.min(t.elapsed());
        let t = Instant::now();
        let read = plain_read(&plain)?;
        best.plain_read = best.plain_read.min(t.elapsed());
        assert_eq!(read, bytes);
        std::fs::remove_file(&plain)?;
    }

    let mb = bytes as f64 / 1e6;
    let rate = |d: Duration| mb / d.as_secs_f64();
    println!("{entries} entries, {value_len}-byte values, {mb:.1} MB snapshot, best of {ROUNDS}");
    println!(
        "snapshot write (push..finish, fsync+rename): {:8.0} MB/s  {:?}",
        rate(best.write),
        best.write
    );
    println!(
        "plain sequential write + fsync:             {:8.0} MB/s  {:?}",
        rate(best.plain_write),
        best.plain_write
    );
    println!(
        "snapshot streaming read (next_ref, verify): {:8.0} MB/s  {:?}",
        rate(best.stream),
        best.stream
    );
    println!(
        "snapshot load (owned Vec of entries):       {:8.0} MB/s  {:?}  (+{:?} to free it)",
        rate(best.load),
        best.load,
        best.drop_vec
    );
    println!(
        "plain sequential read:                      {:8.0} MB/s  {:?}",
        rate(best.plain_read),
        best.plain_read
    );
    println!(
        "ratios: write {:.2}, streaming read {:.2}, owned load {:.2} (target >= 0.50)",
        best.plain_write.as_secs_f64() / best.write.as_secs_f64(),
        best.plain_read.as_secs_f64() / best.stream.as_secs_f64(),
        best.plain_read.as_secs_f64() / best.load.as_secs_f64(),
    );
    Ok(())
}

struct Best {
    write: Duration,
    stream: Duration,
    load: Duration,
    drop_vec: Duration,
    plain_write: Duration,
    plain_read: Duration,
}

impl Default for Best {
    fn default() -> Self {
        let max = Duration::MAX;
        Best {
            write: max,
            stream: max,
            load: max,
            drop_vec: max,
            plain_write: max,
            plain_read: max,
        }
    }
}

fn plain_write(path: &Path, chunk: &[u8], bytes: u64) -> std::io::Result<()> {
    let mut f = File::create(path)?;
    let mut left = bytes as usize;
    while left > 0 {
        let n = left.min(chunk.len());
        f.write_all(&chunk[..n])?;
        left -= n;
    }
    f.sync_all()
}

fn plain_read(path: &Path) -> std::io::Result<u64> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
    }
}

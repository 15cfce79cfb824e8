//! Snapshot write and load throughput against plain sequential I/O of the same bytes.
//!
//! ```text
//! cargo run --release -p kv-snapshot --example snapshot_throughput [ENTRIES] [VALUE_BYTES] [DIR] [ROUNDS]
//! ```
//!
//! Defaults: 1,000,000 entries of 100-byte values, in a temporary directory (give DIR to
//! measure another disk). Each round writes a snapshot (chunks, fsync, rename, directory
//! fsync) and a plain file of the same size (1 MiB chunks, fsync); then reads both
//! **cold** (page cache dropped through `/proc/sys/vm/drop_caches`, which needs root:
//! the disk's bandwidth) and **warm** (from the page cache: memory bandwidth). Loads
//! are timed two ways: streaming with `SnapshotReader::next_ref` (what a store applying
//! entries into its own map does) and `Snapshots::load` (an owned `Vec` of entries).
//! Prints the best of ROUNDS rounds (default 3) and the ratios to the plain I/O.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use kv_snapshot::{EntryRef, SnapshotFile, SnapshotOptions, SnapshotReader, Snapshots};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let entries: usize = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let value_len: usize = args.next().map_or(Ok(100), |a| a.parse())?;
    let tmp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or_else(|| tmp.path().to_path_buf(), Into::into);
    std::fs::create_dir_all(&dir)?;
    let rounds: usize = args.next().map_or(Ok(3), |a| a.parse())?;

    // Keys and values live in two arenas; the writer borrows from them, as the store
    // borrows from its map.
    let keys: Vec<u8> = (0..entries)
        .flat_map(|i| format!("key-{i:012}").into_bytes())
        .collect();
    let key_len = keys.len() / entries.max(1);
    let values: Vec<u8> = (0..entries * value_len).map(|i| (i % 251) as u8).collect();

    let snaps = Snapshots::open(dir.join("snapshots"), SnapshotOptions::default())?;
    let plain = dir.join("plain.bin");
    let chunk = vec![0x5au8; 1 << 20];
    let cold_ok = drop_caches();
    let mut t = Times::default();
    let mut bytes = 0;
    for round in 0..rounds {
        let start = Instant::now();
        let mut w = snaps.begin(round as u64 + 1, 0)?;
        for i in 0..entries {
            w.push(EntryRef {
                key: &keys[i * key_len..(i + 1) * key_len],
                value: &values[i * value_len..(i + 1) * value_len],
                expires_at: (i % 2 == 0).then_some(u64::MAX),
                created: i as u64,
                updated: i as u64,
                version: 1,
                access: None,
            })?;
        }
        let written = w.finish()?;
        min(&mut t.write, start.elapsed());
        bytes = written.bytes;
        let file = snaps.list()?.remove(0);

        let start = Instant::now();
        plain_write(&plain, &chunk, bytes)?;
        min(&mut t.plain_write, start.elapsed());

        if cold_ok {
            drop_caches();
            min(&mut t.plain_read_cold, time(|| plain_read(&plain, bytes))?);
            drop_caches();
            min(&mut t.stream_cold, time(|| stream(&file, entries))?);
            drop_caches();
            min(&mut t.load_cold, time(|| load(&snaps, &file, entries))?);
        }
        min(&mut t.plain_read_warm, time(|| plain_read(&plain, bytes))?);
        min(&mut t.stream_warm, time(|| stream(&file, entries))?);
        min(&mut t.load_warm, time(|| load(&snaps, &file, entries))?);
        std::fs::remove_file(&plain)?;
    }

    let mb = bytes as f64 / 1e6;
    let rate = |d: Duration| mb / d.as_secs_f64();
    let line = |what: &str, d: Option<Duration>, base: Option<Duration>| {
        let (d, base) = (d.unwrap_or(Duration::MAX), base.unwrap_or(Duration::MAX));
        println!(
            "{what:<44} {:>7.0} MB/s {:>9.1} ms   ratio {:.2}",
            rate(d),
            d.as_secs_f64() * 1e3,
            base.as_secs_f64() / d.as_secs_f64()
        );
    };
    println!(
        "{entries} entries, {value_len}-byte values: {mb:.1} MB snapshot; best of {rounds} rounds; target ratio >= 0.50"
    );
    line(
        "plain sequential write + fsync",
        t.plain_write,
        t.plain_write,
    );
    line("snapshot write (push..finish)", t.write, t.plain_write);
    if cold_ok {
        line(
            "plain sequential read, cold (disk)",
            t.plain_read_cold,
            t.plain_read_cold,
        );
        line(
            "snapshot load, streaming, cold",
            t.stream_cold,
            t.plain_read_cold,
        );
        line(
            "snapshot load, owned Vec, cold",
            t.load_cold,
            t.plain_read_cold,
        );
    } else {
        println!("(cold reads not measured: cannot write /proc/sys/vm/drop_caches)");
    }
    line(
        "plain sequential read, warm (page cache)",
        t.plain_read_warm,
        t.plain_read_warm,
    );
    line(
        "snapshot load, streaming, warm",
        t.stream_warm,
        t.plain_read_warm,
    );
    line(
        "snapshot load, owned Vec, warm",
        t.load_warm,
        t.plain_read_warm,
    );
    Ok(())
}

#[derive(Default)]
struct Times {
    write: Option<Duration>,
    plain_write: Option<Duration>,
    plain_read_cold: Option<Duration>,
    stream_cold: Option<Duration>,
    load_cold: Option<Duration>,
    plain_read_warm: Option<Duration>,
    stream_warm: Option<Duration>,
    load_warm: Option<Duration>,
}

fn min(slot: &mut Option<Duration>, d: Duration) {
    *slot = Some(slot.map_or(d, |s| s.min(d)));
}

fn time(f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed())
}

/// Drops the page cache (root only); whether it worked.
fn drop_caches() -> bool {
    std::fs::write("/proc/sys/vm/drop_caches", b"1").is_ok()
}

fn stream(file: &SnapshotFile, entries: usize) -> anyhow::Result<()> {
    let mut reader = SnapshotReader::open(&file.path, 0)?;
    let mut n = 0;
    while let Some(e) = reader.next_ref() {
        n += usize::from(!e?.key.is_empty());
    }
    anyhow::ensure!(reader.is_verified() && n == entries);
    Ok(())
}

fn load(snaps: &Snapshots, file: &SnapshotFile, entries: usize) -> anyhow::Result<()> {
    let loaded = snaps.load(file, 0)?;
    anyhow::ensure!(loaded.entries.len() == entries);
    Ok(())
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

fn plain_read(path: &Path, bytes: u64) -> anyhow::Result<()> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    anyhow::ensure!(total == bytes);
    Ok(())
}

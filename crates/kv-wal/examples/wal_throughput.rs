//! Quick throughput check of the figures the kv-wal issue asks for (the real
//! benchmarks live in the bench crate):
//!
//! - appends of 100-byte values, one thread, `SyncPolicy::Never` (target: 1 M records/s);
//! - group commit: 8 writers vs 1 with `SyncPolicy::EveryWrite` (target: >= 4x records/s);
//! - replay (target: >= 500 MB/s).
//!
//! `cargo run --release -p kv-wal --example wal_throughput [dir]` (default: a temporary
//! directory under the current one, so it measures the disk you run it on).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use kv_wal::{Op, Seq, SyncPolicy, Wal, WalOptions};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Nanoseconds this thread has spent on a CPU (Linux), so figures can be read
/// independently of how loaded the machine is.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn fresh(base: &std::path::Path, name: &str) -> Result<PathBuf> {
    let dir = base.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(dir)
}

fn append_n(wal: &Wal, thread: u64, n: u64) -> Result<()> {
    let value = [0x5au8; 100];
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&thread.to_be_bytes());
    for i in 0..n {
        key[8..].copy_from_slice(&i.to_be_bytes());
        wal.append(
            &Op::Put {
                key: &key,
                value: &value,
                expires_at: None,
            },
            i,
        )?;
    }
    Ok(())
}

/// Records/s of `threads` writers appending `each` records apiece.
fn every_write(base: &std::path::Path, threads: u64, each: u64) -> Result<f64> {
    let dir = fresh(base, &format!("every-write-{threads}"))?;
    let (wal, _) = Wal::open(&dir, WalOptions::default().sync(SyncPolicy::EveryWrite))?;
    let wal = Arc::new(wal);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || append_n(&wal, t, each).map_err(|e| e.to_string()))
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "writer panicked")??;
    }
    let secs = start.elapsed().as_secs_f64();
    wal.close()?;
    drop(wal);
    std::fs::remove_dir_all(&dir)?;
    Ok((threads * each) as f64 / secs)
}

fn main() -> Result<()> {
    let base = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("wal-throughput-{}", std::process::id())));
    std::fs::create_dir_all(&base)?;

    // 1. Appends, sync=never, one thread.
    let n = 2_000_000u64;
    let dir = fresh(&base, "never")?;
    let (wal, _) = Wal::open(&dir, WalOptions::default().sync(SyncPolicy::Never))?;
    let start = Instant::now();
    let cpu = cpu_ns();
    append_n(&wal, 0, n)?;
    let secs = start.elapsed().as_secs_f64();
    let cpu_secs = cpu_ns().zip(cpu).map(|(b, a)| (b - a) as f64 / 1e9);
    println!(
        "append, 100-byte values, sync=never, 1 thread: {n} records in {secs:.3} s = {:.2} M records/s{}",
        n as f64 / secs / 1e6,
        cpu_secs.map_or(String::new(), |c| format!(" (on-CPU {c:.3} s = {:.2} M records/s)", n as f64 / c / 1e6))
    );
    wal.close()?;
    let bytes = wal.stats().bytes;
    drop(wal);

    // 3. Replay of that log (from the page cache), reopened.
    let (wal, report) = Wal::open(&dir, WalOptions::default().sync(SyncPolicy::Never))?;
    assert_eq!(report.records, n);
    for _ in 0..std::env::var("WAL_REPLAY_WARMUP").map_or(0, |v| v.parse().unwrap_or(0)) {
        wal.replay_from(Seq(0))?.try_for_each(|r| r.map(drop))?;
    }
    let start = Instant::now();
    let cpu = cpu_ns();
    let mut count = 0u64;
    for r in wal.replay_from(Seq(0))? {
        r?;
        count += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu_secs = cpu_ns().zip(cpu).map(|(b, a)| (b - a) as f64 / 1e9);
    assert_eq!(count, n);
    println!(
        "replay: {count} records, {:.1} MB in {secs:.3} s = {:.0} MB/s ({:.2} M records/s){}",
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs,
        count as f64 / secs / 1e6,
        cpu_secs.map_or(String::new(), |c| format!(
            " (on-CPU {c:.3} s = {:.0} MB/s)",
            bytes as f64 / 1e6 / c
        ))
    );
    drop(wal);
    std::fs::remove_dir_all(&dir)?;

    // 2. Group commit: 1 writer vs 8, sync on every write.
    let one = every_write(&base, 1, 2_000)?;
    let eight = every_write(&base, 8, 2_000)?;
    println!(
        "sync=every-write: 1 writer {one:.0} records/s, 8 writers {eight:.0} records/s = {:.1}x",
        eight / one
    );
    std::fs::remove_dir_all(&base)?;
    Ok(())
}

//! The machine's physical limits, measured in the same run as the contenders: sequential
//! write and read bandwidth of the data directory's disk, the rate of 4 KiB overwrites
//! each followed by fdatasync, and memory copy bandwidth.

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use crate::config::Scale;
use crate::results::Results;
use crate::stats::Summary;

/// The report section.
pub(crate) const SECTION: &str = "physical limits";
/// The workload name `--only` matches.
pub(crate) const NAME: &str = "limits";
/// Workload names of the four figures, as stored in [`Results`].
pub(crate) const SEQ_WRITE: &str = "sequential write";
/// Sequential read from a cold page cache.
pub(crate) const SEQ_READ: &str = "sequential read (cold)";
/// 4 KiB overwrite, then fdatasync.
pub(crate) const FSYNC: &str = "4 KiB overwrite + fdatasync";
/// Memory copy.
pub(crate) const MEMCPY: &str = "memory copy";

const CHUNK: usize = 1 << 20;

/// Measures all four limits, writing scratch files in `dir`.
pub(crate) fn run(dir: &Path, scale: &Scale, results: &mut Results) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    eprintln!("physical limits in {}", dir.display());
    let path = dir.join("limits-seq.bin");
    let (write, read) = sequential(&path, scale.seq_bytes)?;
    std::fs::remove_file(&path)?;
    results.push(
        SECTION,
        SEQ_WRITE,
        "1 MiB writes, then fsync",
        "disk",
        false,
        Summary::single(write),
        "B/s",
    );
    results.push(
        SECTION,
        SEQ_READ,
        "1 MiB reads after fadvise(DONTNEED)",
        "disk",
        false,
        Summary::single(read),
        "B/s",
    );
    let path = dir.join("limits-fsync.bin");
    let rate = fdatasync_rate(&path, scale.fsync_seconds)?;
    std::fs::remove_file(&path)?;
    results.push(
        SECTION,
        FSYNC,
        "one thread",
        "disk",
        false,
        Summary::single(rate),
        "ops/s",
    );
    let copies: Vec<f64> = (0..5).map(|_| memcpy(scale.memcpy_bytes)).collect();
    results.push(
        SECTION,
        MEMCPY,
        "one thread",
        "memory",
        false,
        Summary::of(&copies),
        "B/s",
    );
    Ok(())
}

/// Writes `bytes` in 1 MiB writes and fsyncs (bandwidth includes the fsync), drops the
/// file from the page cache, and reads it back. Returns (write, read) in bytes/s.
fn sequential(path: &Path, bytes: u64) -> anyhow::Result<(f64, f64)> {
    let chunk: Vec<u8> = (0..CHUNK).map(|i| (i * 31 % 251) as u8).collect();
    let chunks = bytes.div_ceil(CHUNK as u64);
    // Untimed: writeback left by whatever ran before (a build, earlier workloads)
    // must not run during either measurement, as the snapshot workload does too.
    let settle = |path: &Path| -> anyhow::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        rustix::fs::syncfs(File::open(dir)?)?;
        Ok(())
    };
    settle(path)?;
    let mut f = File::create(path)?;
    let start = Instant::now();
    for _ in 0..chunks {
        f.write_all(&chunk)?;
    }
    f.sync_all()?;
    let write = (chunks * CHUNK as u64) as f64 / start.elapsed().as_secs_f64();
    rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed)?;
    drop(f);
    settle(path)?;
    let mut f = File::open(path)?;
    rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed)?;
    let mut buf = vec![0u8; CHUNK];
    let start = Instant::now();
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    let read = total as f64 / start.elapsed().as_secs_f64();
    Ok((write, read))
}

/// Overwrites the same 4 KiB and fdatasyncs, again and again, for `seconds`.
fn fdatasync_rate(path: &Path, seconds: f64) -> anyhow::Result<f64> {
    let page = vec![0x5Au8; 4096];
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)?;
    f.write_all_at(&page, 0)?;
    f.sync_all()?;
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        f.write_all_at(&page, 0)?;
        f.sync_data()?;
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Copies a `bytes` buffer into another four times; bytes copied per second.
fn memcpy(bytes: usize) -> f64 {
    let src: Vec<u8> = (0..bytes).map(|i| i as u8).collect();
    let mut dst = vec![0u8; bytes];
    dst.copy_from_slice(&src); // fault the pages in before timing
    let rounds = 4;
    let start = Instant::now();
    for _ in 0..rounds {
        dst.copy_from_slice(black_box(&src));
        black_box(&mut dst);
    }
    (rounds * bytes) as f64 / start.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_positive_and_files_are_written() {
        let dir = std::env::temp_dir().join(format!("kv-bench-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (w, r) = sequential(&dir.join("s"), 2 << 20).unwrap();
        assert!(w > 0.0 && r > 0.0);
        assert_eq!(std::fs::metadata(dir.join("s")).unwrap().len(), 2 << 20);
        assert!(fdatasync_rate(&dir.join("f"), 0.01).unwrap() > 0.0);
        assert!(memcpy(1 << 16) > 0.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! kv-snapshot: write and load speed of a snapshot of many entries, against the disk's
//! sequential bandwidth measured in the same run.

use std::time::Instant;

use kv_snapshot::{EntryRef, SnapshotOptions, SnapshotReader, Snapshots};

use crate::config::Options;
use crate::keys::{self, Keys};
use crate::results::{fmt_num, Results};
use crate::stats::Summary;
use crate::suite::durable::REOPEN;

/// The `--only` name of the snapshot workload.
pub(crate) const SNAPSHOT: &str = "snapshot";
const NOW_MS: u64 = 1_700_000_000_000;

/// Writes a snapshot of `reopen_keys` entries (atomic: temp file, fsync, rename,
/// directory fsync, all timed), then loads it back through the streaming reader with a
/// cold page cache, verifying every checksum. Both in bytes of file per second.
///
/// Each timed step starts on a settled disk, as the disk limits are measured at the
/// start of the run: the file system is synced first (untimed), so that writeback of
/// what earlier workloads left unsynced does not share the disk with the step.
pub(crate) fn run(opts: &Options, results: &mut Results) -> anyhow::Result<()> {
    if !opts.selected(SNAPSHOT) {
        return Ok(());
    }
    let n = opts.scale.reopen_keys;
    eprintln!("kv-snapshot: write and load {n} entries");
    let keys = Keys::new(n);
    let value = keys::value();
    let dir = opts.data_dir.join("kv-snapshot");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let snaps = Snapshots::open(&dir, SnapshotOptions::default())?;
    let variant = format!("{} entries", fmt_num(n as f64));
    let mut writes = Vec::new();
    let mut loads = Vec::new();
    let mut size = 0;
    for run in 0..opts.scale.durable_runs {
        settle(&dir)?;
        let start = Instant::now();
        let mut writer = snaps.begin(run as u64 + 1, NOW_MS)?;
        for i in 0..n {
            writer.push(EntryRef {
                key: keys.get(i),
                value: &value,
                expires_at: None,
                created: NOW_MS,
                updated: NOW_MS,
                version: 1,
                access: None,
            })?;
        }
        let written = writer.finish()?;
        writes.push(written.bytes as f64 / start.elapsed().as_secs_f64());
        size = written.bytes;

        settle(&dir)?;
        let file = std::fs::File::open(&written.path)?;
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)?;
        drop(file);
        let start = Instant::now();
        let mut reader = SnapshotReader::open(&written.path, NOW_MS)?;
        let mut count = 0usize;
        while let Some(entry) = reader.next_ref() {
            std::hint::black_box(entry?);
            count += 1;
        }
        anyhow::ensure!(reader.is_verified(), "the snapshot did not verify");
        anyhow::ensure!(count == n, "loaded {count} of {n} entries");
        loads.push(written.bytes as f64 / start.elapsed().as_secs_f64());
    }
    std::fs::remove_dir_all(&dir)?;
    results.push(
        REOPEN,
        "snapshot write",
        &variant,
        "kv-snapshot",
        true,
        Summary::of(&writes),
        "B/s",
    );
    results.push(
        REOPEN,
        "snapshot load (cold cache)",
        &variant,
        "kv-snapshot",
        true,
        Summary::of(&loads),
        "B/s",
    );
    results.push(
        REOPEN,
        "snapshot size",
        &variant,
        "kv-snapshot",
        true,
        Summary::single(size as f64),
        "B",
    );
    Ok(())
}

/// Flushes the file system holding `dir` (syncfs): no writeback left by earlier
/// workloads competes for the disk with the step timed next.
fn settle(dir: &std::path::Path) -> anyhow::Result<()> {
    rustix::fs::syncfs(std::fs::File::open(dir)?)?;
    Ok(())
}

//! Quick figures for the targets (the formal benchmark lives in kv-bench):
//! set throughput with sync=never against the in-memory store, and recovery time of
//! 1 million keys with 100-byte values, from a snapshot and from the log alone.
//!
//! `cargo run --release -p kv-store --example store_figures [keys] [sets]` (`sets`:
//! only the set throughput comparison, e.g. for a profiler)

use std::time::Instant;

use anyhow::Result;
use kv_store::{Options, PersistenceMode, Store, SyncPolicy};

fn keys(n: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("key:{i:012}").into_bytes())
        .collect()
}

/// Sets every key once on one thread; returns sets per second.
fn fill(store: &Store, keys: &[Vec<u8>]) -> Result<f64> {
    let value = [0x5a_u8; 100];
    let t = Instant::now();
    for k in keys {
        store.set(k, &value)?;
    }
    Ok(keys.len() as f64 / t.elapsed().as_secs_f64())
}

fn main() -> Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let keys = keys(n);
    let base = || {
        Options::new()
            .max_entries(n as usize * 2)
            .snapshot_interval(None)
            .snapshot_wal_bytes(None)
            .cleanup_interval(None)
    };

    // The floor under recovery: inserting into kv-core with explicit metadata.
    let cache = kv_core::Cache::new(kv_core::Options::default().max_entries(n as usize * 2))?;
    let t = Instant::now();
    for (i, k) in keys.iter().enumerate() {
        let w = kv_core::hooks::Write::default().version(i as u64 + 1);
        cache.hooks().insert(k, &[0x5a_u8; 100], w)?;
    }
    println!(
        "kv-core insert with explicit metadata, 1 thread: {:.0}/s ({:.0} ms for {n})",
        n as f64 / t.elapsed().as_secs_f64(),
        t.elapsed().as_secs_f64() * 1e3
    );
    drop(cache);

    let mem = Store::open(base())?;
    let mem_rate = fill(&mem, &keys)?;
    mem.close()?;

    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    let disk = || base().dir(&dir).sync(SyncPolicy::Never);
    let store = Store::open(disk().snapshot_on_close(false))?;
    let wal_rate = fill(&store, &keys)?;
    println!(
        "set, 1 thread, {n} keys, 100-byte values: in-memory {:.0}/s, sync=never {:.0}/s ({:.0}%)",
        mem_rate,
        wal_rate,
        100.0 * wal_rate / mem_rate
    );
    if std::env::args().nth(2).as_deref() == Some("sets") {
        return Ok(());
    }
    let wal_bytes = store.metrics().wal_bytes;
    // Close without a snapshot: the next open replays the whole log.
    store.close()?;
    drop(store);
    let t = Instant::now();
    let store = Store::open(disk().snapshot_on_close(true))?;
    let from_log = t.elapsed();
    let r = store.recovery().clone();
    assert_eq!(r.entries, n);
    println!(
        "recovery from the log alone ({} records, {:.0} MB): {:.0} ms",
        r.records_replayed,
        wal_bytes as f64 / 1e6,
        from_log.as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let info = store.compact()?;
    println!(
        "snapshot of {} entries ({:.0} MB): {:.0} ms",
        info.entries,
        info.bytes as f64 / 1e6,
        t.elapsed().as_secs_f64() * 1e3
    );
    store.close()?;
    drop(store);
    let t = Instant::now();
    let store = Store::open(disk().persistence(PersistenceMode::WalAndSnapshots))?;
    let from_snap = t.elapsed();
    let r = store.recovery().clone();
    assert_eq!(r.entries, n);
    println!(
        "recovery from a snapshot ({} entries) + {} log records: {:.0} ms",
        r.snapshot_entries,
        r.records_replayed,
        from_snap.as_secs_f64() * 1e3
    );
    store.close()?;
    Ok(())
}

//! Times reopening a store (for profiling recovery alone): the first run with a new
//! directory fills it with `keys` keys of 100-byte values (no snapshot, so the log
//! holds everything; with `snapshot`, a snapshot too), later runs only reopen.
//!
//! `cargo run --release -p kv-store --example reopen DIR [keys] [log|snapshot]`

use std::time::Instant;

use anyhow::{Context, Result};
use kv_store::{Options, Store, SyncPolicy};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(
        args.next()
            .context("usage: reopen DIR [keys] [log|snapshot]")?,
    );
    let n: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let snapshot = args.next().as_deref() == Some("snapshot");
    let opts = || {
        Options::new()
            .dir(&dir)
            .sync(SyncPolicy::Never)
            .max_entries(n as usize * 2)
            .snapshot_interval(None)
            .snapshot_wal_bytes(None)
            .cleanup_interval(None)
            .snapshot_on_close(false)
    };
    if !dir.exists() {
        let store = Store::open(opts())?;
        let value = [0x5a_u8; 100];
        for i in 0..n {
            store.set(format!("key:{i:012}").as_bytes(), &value)?;
        }
        if snapshot {
            store.compact()?;
        }
        store.close()?;
    }
    if std::env::var_os("REOPEN_WAL").is_some() {
        // The log layer alone: open (scan to the end), then a full replay.
        let t = Instant::now();
        let (wal, _) = kv_wal::Wal::open(&dir, kv_wal::WalOptions::default())?;
        let opened = t.elapsed();
        let mut records = 0u64;
        for r in wal.replay_from(kv_wal::Seq(1))? {
            r?;
            records += 1;
        }
        println!(
            "kv-wal: open {:.0} ms, replay of {records} records {:.0} ms",
            opened.as_secs_f64() * 1e3,
            (t.elapsed() - opened).as_secs_f64() * 1e3
        );
        drop(wal);
    }
    let t = Instant::now();
    let store = Store::open(opts())?;
    let took = t.elapsed();
    let r = store.recovery().clone();
    println!(
        "reopen: {} entries ({} from a snapshot, {} log records) in {:.0} ms",
        r.entries,
        r.snapshot_entries,
        r.records_replayed,
        took.as_secs_f64() * 1e3
    );
    store.close()?;
    Ok(())
}

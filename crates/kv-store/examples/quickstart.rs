//! The README's main job: `cargo run --release --example quickstart`.
//!
//! Opens a store in `./kv-data` (or the directory given as the first argument),
//! shows what it recovered from an earlier run, writes, reads, uses a TTL and a batch,
//! prints the metrics, and closes. Run it twice: the second run recovers the first
//! run's data.

use std::time::Duration;

use anyhow::Result;
use kv_store::{Batch, Options, Store, Ttl};

fn main() -> Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "./kv-data".to_owned());
    let store = Store::open(Options::new().dir(&dir))?;

    let rec = store.recovery();
    println!("opened {dir} in {:.1} ms", rec.duration.as_secs_f64() * 1e3);
    match &rec.snapshot {
        Some(path) => println!(
            "  recovered {} entries from {} (covers sequence {}), then {} log records",
            rec.snapshot_entries,
            path.display(),
            rec.snapshot_seq,
            rec.records_replayed
        ),
        None if rec.records_replayed > 0 => {
            println!(
                "  recovered from the log alone: {} records",
                rec.records_replayed
            )
        }
        None => println!("  nothing to recover: a new store"),
    }
    if rec.bytes_cut > 0 {
        println!(
            "  cut a torn log tail of {} bytes at {}",
            rec.bytes_cut, rec.cut_at
        );
    }
    let runs = match store.get(b"quickstart:runs")? {
        Some(v) => std::str::from_utf8(&v)?.parse::<u64>()? + 1,
        None => 1,
    };
    if let Some(last) = store.get(b"quickstart:greeting")? {
        println!("  the last run left: {}", String::from_utf8_lossy(&last));
    }
    println!("  {} live entries recovered", store.len()?);

    // Writes, each logged before it is visible.
    store.set(b"quickstart:runs", runs.to_string().as_bytes())?;
    store.set(
        b"quickstart:greeting",
        format!("hello from run {runs}").as_bytes(),
    )?;
    for i in 0..1000u32 {
        store.set(
            format!("item:{i:04}").as_bytes(),
            format!("value {i} of run {runs}").as_bytes(),
        )?;
    }
    let item = store.get(b"item:0042")?.expect("just written");
    println!("item:0042 = {}", String::from_utf8_lossy(&item));

    // A key that expires.
    store.set_with_ttl(b"quickstart:session", b"temporary", Duration::from_secs(30))?;
    if let Ttl::Remaining(left) = store.ttl(b"quickstart:session")? {
        println!("quickstart:session expires in {:.0} s", left.as_secs_f64());
    }

    // A batch: all of it or none of it, even across a crash.
    let mut batch = Batch::new();
    batch
        .put(b"account:alice", b"90")
        .put(b"account:bob", b"110")
        .delete(b"item:0000");
    store.apply(&batch)?;
    println!("batch applied: alice=90, bob=110, item:0000 deleted");

    let m = store.metrics();
    println!(
        "metrics: {} entries, {} sets, {} hits, {} misses, hit ratio {:.2}, log {} bytes in {} segment(s), last sequence {}",
        m.cache.entries,
        m.cache.sets,
        m.cache.hits,
        m.cache.misses,
        m.cache.hit_ratio(),
        m.wal_bytes,
        m.wal_segments,
        m.last_seq
    );
    store.close()?;
    println!("closed (final snapshot taken); run again to see it recovered");
    Ok(())
}

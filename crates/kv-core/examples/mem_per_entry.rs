//! Measures kv-core's memory per entry beyond the key and value bytes, with the
//! workspace's counting global allocator (kv-alloc-count: bytes requested and not yet
//! freed).
//!
//! ```text
//! cargo run --release -p kv-core --example mem_per_entry [entries...]
//! ```
//!
//! The figure includes everything the cache allocates for an entry: the entry's
//! allocation (reference count, 32-byte header with version, times, expiry and access
//! bookkeeping, length), the shard's vector slot and hash index slot (at whatever load
//! the tables happen to be at), and the cache's own fixed structures spread over the
//! entries. It does not include the allocator's own rounding and headers.
#![forbid(unsafe_code)]

use std::time::Duration;

use kv_core::{Cache, EvictionPolicy, Options};

/// Counts the bytes requested and not yet freed (kv-alloc-count forwards to `System`).
#[global_allocator]
static ALLOC: kv_alloc_count::Counting = kv_alloc_count::Counting;

/// Live heap bytes, signed so that differences subtract freely.
fn live() -> isize {
    kv_alloc_count::live_bytes() as isize
}

const KEY: usize = 16;
const VALUE: usize = 32;

fn measure(entries: usize, shards: usize) -> f64 {
    let before = live();
    let cache = Cache::new(
        Options::default()
            .max_entries(entries)
            .shards(shards)
            .eviction(EvictionPolicy::Lru),
    )
    .expect("valid options");
    let value = [7u8; VALUE];
    for i in 0..entries as u64 {
        let mut key = [0u8; KEY];
        key[..8].copy_from_slice(&i.to_le_bytes());
        key[8..].copy_from_slice(&(!i).to_le_bytes());
        // Every third entry carries a TTL: the figure includes expiry metadata.
        let out = if i % 3 == 0 {
            cache.set_with_ttl(&key, &value, Duration::from_secs(3600))
        } else {
            cache.set(&key, &value)
        };
        out.expect("fits");
    }
    assert_eq!(cache.len(), entries);
    let used = live() - before;
    let payload = (entries * (KEY + VALUE)) as isize;
    let per_entry = (used - payload) as f64 / entries as f64;
    drop(cache);
    per_entry
}

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let counts = if counts.is_empty() {
        vec![10_000, 100_000, 300_000, 600_000, 1_000_000]
    } else {
        counts
    };
    println!("key {KEY} B, value {VALUE} B; bytes per entry beyond key and value:");
    for shards in [8, 64] {
        for &n in &counts {
            println!(
                "  {n:>9} entries, {shards:>3} shards: {:.1}",
                measure(n, shards)
            );
        }
    }
}

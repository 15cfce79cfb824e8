//! Measures kv-core's memory per entry beyond the key and value bytes, with the
//! workspace's counting global allocator (kv-alloc-count: bytes requested and not yet
//! freed).
//!
//! ```text
//! cargo run --release -p kv-core --example mem_per_entry [entries...]
//! cargo run --release -p kv-core --example mem_per_entry -- --resident
//! ```
//!
//! The figure includes everything the cache allocates for an entry: the entry's
//! allocation (reference count, 32-byte header with version, times, expiry and access
//! bookkeeping, length), the shard's vector slot and hash index slot (at whatever load
//! the tables happen to be at), and the cache's own fixed structures spread over the
//! entries. It does not include the allocator's own rounding and headers.
//!
//! With `--resident` (Linux): for a million entries of 16-byte keys and values of 1
//! to 1,000 bytes, what [`ByteCount::Memory`] counts per entry against the resident
//! memory (`RssAnon`) they added, each measured in a fresh process, so that the
//! allocator's rounding and headers are in.
#![forbid(unsafe_code)]

use std::time::Duration;

use kv_core::{ByteCount, Cache, EvictionPolicy, Options};

/// Counts the bytes requested and not yet freed (kv-alloc-count forwards to `System`).
#[global_allocator]
static ALLOC: kv_alloc_count::Counting = kv_alloc_count::Counting;

/// Live heap bytes, signed so that differences subtract freely.
fn live() -> isize {
    kv_alloc_count::live_bytes() as isize
}

const KEY: usize = 16;
const VALUE: usize = 32;

/// Entry `i`'s key: `i` and its complement, little-endian.
fn key(i: u64) -> [u8; KEY] {
    let mut key = [0u8; KEY];
    key[..8].copy_from_slice(&i.to_le_bytes());
    key[8..].copy_from_slice(&(!i).to_le_bytes());
    key
}

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
        let key = key(i);
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

/// The process's resident anonymous memory, from `/proc/self/status`.
fn resident_anon() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("an RssAnon line");
    kib * 1024
}

/// In a fresh process: fills a cache counting memory with `entries` entries of
/// `value`-byte values and prints what it counts and what became resident, per entry.
fn resident_child(entries: usize, value: usize) {
    let before = resident_anon();
    let cache = Cache::new(
        Options::default()
            .max_entries(entries)
            .byte_count(ByteCount::Memory),
    )
    .expect("valid options");
    let v = vec![7u8; value];
    for i in 0..entries as u64 {
        cache.set(&key(i), &v).expect("fits");
    }
    let grown = resident_anon() - before;
    let n = entries as f64;
    println!("{} {}", cache.bytes() as f64 / n, grown as f64 / n);
}

fn resident() {
    const ENTRIES: usize = 1_000_000;
    println!("{ENTRIES} entries, key {KEY} B: ByteCount::Memory per entry vs resident growth");
    for value in [1, 10, 40, 100, 300, 1000] {
        let out = std::process::Command::new(std::env::current_exe().expect("this example"))
            .args(["--resident-child", &ENTRIES.to_string(), &value.to_string()])
            .output()
            .expect("the child runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut figures = text
            .split_whitespace()
            .map(|f| f.parse::<f64>().unwrap_or(f64::NAN));
        let (counted, grown) = (
            figures.next().unwrap_or(f64::NAN),
            figures.next().unwrap_or(f64::NAN),
        );
        println!(
            "  value {value:>4} B: counted {counted:>7.1}, resident {grown:>7.1} ({:+.1}%)",
            (counted / grown - 1.0) * 100.0
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--resident") => return resident(),
        Some("--resident-child") => {
            let n = |i: usize| args.get(i).and_then(|a| a.parse().ok()).expect("a number");
            return resident_child(n(1), n(2));
        }
        _ => {}
    }
    let counts: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
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

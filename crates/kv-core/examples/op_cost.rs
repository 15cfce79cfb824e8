//! The instruction cost of one read or write on one thread, for callgrind: a warm
//! cache of 100,000 entries (16-byte keys, 100-byte values, default options), then a
//! measured loop of `N` operations on keys in a fixed pseudo-random order.
//!
//! ```text
//! cargo build --release -p kv-core --example op_cost
//! valgrind --tool=callgrind --toggle-collect='*op_cost::measured*' \
//!     --callgrind-out-file=/tmp/get.out target/release/examples/op_cost get 1000000
//! callgrind_annotate /tmp/get.out | head   # total Ir / N = instructions per get
//! ```
//!
//! Workloads: `get` (hits on entries without expiry), `get-ttl` (hits on entries
//! with an expiry, which read the exact time), `miss` (absent keys), `set`
//! (overwrites of present keys with a value of the same size), `incr` (increments
//! of present decimal counters). Instruction counts
//! are repeatable whatever the machine's load, unlike timings; they do not see
//! what a locked instruction or a cache miss costs, which interleaved timed runs
//! (`cargo xtask bench`) do.

use std::hint::black_box;
use std::time::Duration;

use kv_core::{Cache, Options};

const ENTRIES: u64 = 100_000;

fn key(i: u64) -> [u8; 16] {
    let mut k = *b"key-000000000000";
    let digits = format!("{i:012}");
    k[4..].copy_from_slice(digits.as_bytes());
    k
}

/// A fixed pseudo-random order of key indices below `ENTRIES` (xorshift).
fn order(n: usize) -> Vec<u64> {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % ENTRIES
        })
        .collect()
}

/// The measured loop (callgrind collects only inside it).
#[inline(never)]
fn measured(cache: &Cache, workload: &str, keys: &[[u8; 16]], value: &[u8]) -> usize {
    run(cache, workload, keys, value)
}

/// The same loop, not measured: a warm-up pass.
#[inline(never)]
fn warm_up(cache: &Cache, workload: &str, keys: &[[u8; 16]], value: &[u8]) -> usize {
    run(cache, workload, keys, value)
}

#[inline(always)]
fn run(cache: &Cache, workload: &str, keys: &[[u8; 16]], value: &[u8]) -> usize {
    let mut found = 0;
    match workload {
        "get" | "get-ttl" => {
            for k in keys {
                found += usize::from(black_box(cache.get(k)).is_some());
            }
        }
        "miss" => {
            for k in keys {
                let mut absent = *k;
                absent[0] = b'x';
                found += usize::from(black_box(cache.get(&absent)).is_some());
            }
        }
        "set" => {
            for k in keys {
                black_box(cache.set(k, value).expect("set"));
                found += 1;
            }
        }
        "incr" => {
            for k in keys {
                black_box(cache.incr(k, 1).expect("incr"));
                found += 1;
            }
        }
        other => panic!("unknown workload {other} (get, get-ttl, miss, set, incr)"),
    }
    found
}

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| "get".into());
    let n: usize = args.next().map_or(1_000_000, |a| a.parse().expect("N"));
    let cache = Cache::new(Options::default()).expect("options");
    let value = [0x5a_u8; 100];
    for i in 0..ENTRIES {
        let r = if workload == "get-ttl" {
            cache.set_with_ttl(&key(i), &value, Duration::from_secs(3600))
        } else if workload == "incr" {
            cache.set(&key(i), b"0")
        } else {
            cache.set(&key(i), &value)
        };
        r.expect("preload");
    }
    let keys: Vec<[u8; 16]> = order(n).into_iter().map(key).collect();
    // One untimed pass, so that the measured one starts warm.
    warm_up(
        &cache,
        workload.as_str(),
        &keys[..keys.len().min(10_000)],
        &value,
    );
    let found = measured(&cache, workload.as_str(), &keys, &value);
    println!("{workload}: {n} operations, {found} found");
}

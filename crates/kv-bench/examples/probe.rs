//! One contender, one operation, on one thread: a probe to count instructions with
//! callgrind, which is repeatable on a shared, noisy machine where timings are not.
//!
//! ```text
//! cargo build --release -p kv-bench --example probe
//! valgrind --tool=callgrind --toggle-collect='probe::measured*' \
//!     target/release/examples/probe fill kv-core 100000
//! ```
//!
//! `fill N`: N new keys (16 B, 100-byte values) into an empty cache, as the `fill`
//! workload. Only `measured` is collected, so the instruction count divided by N is
//! the cost of one operation; building the cache and generating keys are left out.
//! Contenders: kv-core, kv-store (memory), dashmap, quick_cache, moka.
#![forbid(unsafe_code)]

use std::hint::black_box;

use kv_bench::{each_cache, CacheSpec, CacheVisitor, Keys, KvAdapter};

/// The operation a probe runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Fill,
}

struct Probe {
    op: Op,
    who: String,
    n: usize,
    ran: bool,
}

impl CacheVisitor for Probe {
    fn visit<A: KvAdapter>(&mut self) {
        if A::name() != self.who {
            return;
        }
        let spec = CacheSpec {
            capacity: 2 * self.n as u64,
            ttl: None,
            must_evict: false,
        };
        let Some(cache) = A::build(&spec) else {
            return;
        };
        let keys = Keys::new(self.n);
        let value = kv_bench::value();
        measured(&cache, self.op, &keys, &value);
        assert_eq!(cache.len(), self.n, "{} lost keys", self.who);
        self.ran = true;
    }
}

/// The collected part (callgrind's `--toggle-collect='probe::measured*'`).
#[inline(never)]
fn measured<A: KvAdapter>(cache: &A, op: Op, keys: &Keys, value: &[u8]) {
    match op {
        Op::Fill => {
            for i in 0..keys.len() {
                cache.set(keys.get(i), value);
            }
            cache.settle();
        }
    }
    black_box(cache);
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: probe fill CONTENDER N";
    let op = match args.first().map(String::as_str) {
        Some("fill") => Op::Fill,
        _ => anyhow::bail!("{usage}"),
    };
    let who = args
        .get(1)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("{usage}"))?;
    let n = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{usage}"))?;
    let mut probe = Probe {
        op,
        who,
        n,
        ran: false,
    };
    each_cache(&mut probe);
    anyhow::ensure!(probe.ran, "no contender named `{}`", probe.who);
    println!("{:?} {} x {}: done", probe.op, probe.who, probe.n);
    Ok(())
}

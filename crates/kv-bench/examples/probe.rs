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
//! workload. `incr N`: N keys set to "0", then N increments by 1 over Zipf 0.99 keys,
//! as the `incr` workload. Only `measured` is collected, so the instruction count
//! divided by N is the cost of one operation; building the cache, generating keys and
//! streams, and the increments' prefill are left out.
//! Contenders: kv-core, kv-store (memory), dashmap, quick_cache, moka.
#![forbid(unsafe_code)]

use std::hint::black_box;

use kv_bench::{each_cache, CacheSpec, CacheVisitor, Keys, KvAdapter, Rng, Scatter, Zipf};

/// The operation a probe runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Fill,
    Incr,
}

struct Probe {
    op: Op,
    who: String,
    n: usize,
    ran: bool,
    seconds: f64,
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
        let mut stream = Vec::new();
        if self.op == Op::Incr {
            if cache.incr(keys.get(0), 0).is_none() {
                return;
            }
            for i in 0..self.n {
                cache.set(keys.get(i), b"0");
            }
            let zipf = Zipf::new(self.n, 0.99);
            let scatter = Scatter::new(self.n, 1);
            let mut rng = Rng::new(0xC0FFEE);
            stream = (0..self.n)
                .map(|_| scatter.map(zipf.sample(&mut rng)))
                .collect();
        }
        let start = std::time::Instant::now();
        measured(&cache, self.op, &keys, &value, &stream);
        self.seconds = start.elapsed().as_secs_f64();
        assert_eq!(cache.len(), self.n, "{} lost keys", self.who);
        self.ran = true;
    }
}

/// The collected part (callgrind's `--toggle-collect='probe::measured*'`).
#[inline(never)]
fn measured<A: KvAdapter>(cache: &A, op: Op, keys: &Keys, value: &[u8], stream: &[usize]) {
    match op {
        Op::Fill => {
            for i in 0..keys.len() {
                cache.set(keys.get(i), value);
            }
            cache.settle();
        }
        Op::Incr => {
            for &k in stream {
                black_box(cache.incr(keys.get(k), 1));
            }
        }
    }
    black_box(cache);
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: probe fill|incr CONTENDER N";
    let op = match args.first().map(String::as_str) {
        Some("fill") => Op::Fill,
        Some("incr") => Op::Incr,
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
        seconds: 0.0,
    };
    each_cache(&mut probe);
    anyhow::ensure!(
        probe.ran,
        "no contender named `{}` (or it has no increment)",
        probe.who
    );
    // Wall time, for orientation only: on a shared machine, compare instruction counts.
    println!(
        "{:?} {} x {}: {:.0} ns per operation (wall)",
        probe.op,
        probe.who,
        probe.n,
        1e9 * probe.seconds / probe.n as f64
    );
    Ok(())
}

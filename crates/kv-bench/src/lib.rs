//! kv-bench: kv measured side by side with the stores a user would pick instead.
//!
//! moka, quick_cache and dashmap for in-memory work, fjall and redb when data must
//! survive a restart, all in one process run so that ratios hold on a noisy machine,
//! together with the machine's physical limits (disk bandwidth, fdatasync rate, memory
//! copy bandwidth) measured in the same run. `cargo xtask bench` builds the `kv-bench`
//! binary in release mode, runs it, and regenerates `docs/benchmarks.md` with SVG charts
//! in `docs/bench/`; `--quick` runs every workload at a tiny scale and writes its report
//! under `target/` instead.
//!
//! Every contender sits behind one of two small traits, [`KvAdapter`] (in memory) and
//! [`DurableAdapter`] (on disk); workloads are generic over them, so the timed loops are
//! monomorphised and pay no dynamic dispatch. Key streams are generated before timing:
//!
//! ```
//! use kv_bench::{Rng, Scatter, Summary, Zipf};
//!
//! let zipf = Zipf::new(1000, 0.99);
//! let scatter = Scatter::new(1000, 1);
//! let mut rng = Rng::new(7);
//! let stream: Vec<usize> = (0..10_000).map(|_| scatter.map(zipf.sample(&mut rng))).collect();
//! assert!(stream.iter().all(|&k| k < 1000));
//!
//! let runs = Summary::of(&[3.0, 1.0, 2.0, 5.0, 4.0]);
//! assert_eq!((runs.median, runs.min, runs.max), (3.0, 1.0, 5.0));
//! ```
//!
//! The crate is a tool, not a library for users (`publish = false`), so it reports
//! failures with `anyhow`.
#![forbid(unsafe_code)]

mod adapter;
mod config;
mod contenders;
mod counter;
mod disk_limit;
mod keys;
mod limits;
mod machine;
mod ours;
mod peers;
mod report;
mod results;
mod rng;
mod run;
mod sampled;
mod stats;
mod suite;
mod svg;
mod targets;
mod together;
mod zipf;

pub use adapter::{CacheSpec, DurableAdapter, KvAdapter, SyncMode};
pub use config::{usage, Options, Scale, WORKLOADS};
pub use contenders::{each_cache, each_durable, each_policy, CacheVisitor, DurableVisitor};
pub use disk_limit::DiskLimit;
pub use keys::{value, Keys, Scatter, KEY_LEN, VALUE_LEN};
pub use machine::Machine;
pub use ours::{
    KvCoreAdapter, KvCoreNoTtl, KvCorePolicy, KvStoreAdapter, KvStoreMemAdapter, KvWalAdapter, LFU,
    LRU, RANDOM, TINY_LFU, TTL,
};
pub use peers::{DashMapAdapter, FjallAdapter, MokaAdapter, QuickCacheAdapter, RedbAdapter};
pub use results::{fmt_num, Measurement, Results};
pub use rng::Rng;
pub use run::run;
pub use sampled::{SampledLru, SampledLruPool, SampledRandom};
pub use stats::{paired_ratio, percentile, Summary};
pub use suite::fill::{fill_child, FILL_CHILD};
pub use suite::memory::{child_main, Footprint};
pub use svg::{Chart, Series};
pub use targets::{evaluate, Check, Verdict};
pub use zipf::Zipf;

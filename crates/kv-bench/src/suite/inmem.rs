//! In-memory throughput: get, 75/25 get/set, set and increment over Zipf 0.99 keys all
//! present, and churn (get-or-insert over Zipf 1.0, capacity a tenth of the keys) with
//! and without TTL.

use std::hint::black_box;
use std::time::Duration;

use crate::adapter::{CacheSpec, KvAdapter};
use crate::config::Options;
use crate::contenders::{each_cache, CacheVisitor};
use crate::keys::{self, Keys, Scatter};
use crate::results::Results;
use crate::rng::Rng;
use crate::stats::Summary;
use crate::together::together;
use crate::zipf::Zipf;

/// The report section of throughput figures.
pub(crate) const SECTION: &str = "in-memory";
/// The report section of the churn workloads' hit ratios.
pub(crate) const CHURN_HITS: &str = "churn hit ratio";
/// Thread counts every in-memory workload runs at.
pub(crate) const THREADS: [usize; 2] = [1, 2];
/// The TTL put on every entry in the `churn-ttl` workload: far beyond the run.
pub(crate) const TTL: Duration = Duration::from_secs(3600);

/// The name of the increment workload (in tables and for `--only`).
pub(crate) const INCR: &str = "incr";

/// Marks a set in a mixed stream (key indices stay below 2^31).
const SET_BIT: u32 = 1 << 31;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Get,
    Mixed,
    Set,
    GetOrInsert,
    Incr,
}

#[derive(Debug, Clone, Copy)]
struct Workload {
    name: &'static str,
    mode: Mode,
    zipf: f64,
    keys: usize,
    capacity: u64,
    ttl: bool,
}

impl Workload {
    fn churn(&self) -> bool {
        self.mode == Mode::GetOrInsert
    }
}

/// Runs every selected in-memory workload for every contender.
pub(crate) fn run(opts: &Options, results: &mut Results) {
    let s = &opts.scale;
    let all_present = 2 * s.keys as u64;
    let workloads = [
        Workload {
            name: "get",
            mode: Mode::Get,
            zipf: 0.99,
            keys: s.keys,
            capacity: all_present,
            ttl: false,
        },
        Workload {
            name: "get75-set25",
            mode: Mode::Mixed,
            zipf: 0.99,
            keys: s.keys,
            capacity: all_present,
            ttl: false,
        },
        Workload {
            name: "set",
            mode: Mode::Set,
            zipf: 0.99,
            keys: s.keys,
            capacity: all_present,
            ttl: false,
        },
        Workload {
            name: INCR,
            mode: Mode::Incr,
            zipf: 0.99,
            keys: s.keys,
            capacity: all_present,
            ttl: false,
        },
        Workload {
            name: "churn",
            mode: Mode::GetOrInsert,
            zipf: 1.0,
            keys: s.churn_keys,
            capacity: s.churn_capacity,
            ttl: false,
        },
        Workload {
            name: "churn-ttl",
            mode: Mode::GetOrInsert,
            zipf: 1.0,
            keys: s.churn_keys,
            capacity: s.churn_capacity,
            ttl: true,
        },
    ];
    let selected: Vec<_> = workloads
        .into_iter()
        .filter(|w| opts.selected(w.name))
        .collect();
    if selected.is_empty() {
        return;
    }
    let keys = Keys::new(s.keys.max(s.churn_keys));
    let value = keys::value();
    for w in selected {
        eprintln!("in-memory: {} ({} keys, Zipf {})", w.name, w.keys, w.zipf);
        let streams = streams(&w, THREADS[THREADS.len() - 1], s.ops_per_thread);
        for threads in THREADS {
            // Fresh instances per thread count, so the two figures share no history.
            let mut builder = Builder {
                w,
                threads,
                streams: &streams[..threads],
                keys: &keys,
                value: &value,
                run_seconds: s.run_seconds,
                trials: Vec::new(),
                results: &mut *results,
            };
            each_cache(&mut builder);
            let mut trials = builder.trials;
            // Runs interleave across contenders (run 1 of each, then run 2 of each, ...),
            // so a burst of load on the shared machine hits every contender alike.
            for run in 0..s.runs {
                for trial in &mut trials {
                    trial.run(run);
                }
            }
            for trial in trials {
                trial.finish(results);
            }
        }
    }
}

/// One pre-generated key-index stream per thread, so generation is outside the timed loop.
fn streams(w: &Workload, threads: usize, len: usize) -> Vec<Vec<u32>> {
    let zipf = Zipf::new(w.keys, w.zipf);
    let scatter = Scatter::new(w.keys, 1);
    (0..threads)
        .map(|t| {
            let mut rng = Rng::new(0xC0FFEE + t as u64);
            (0..len)
                .map(|_| {
                    let k = scatter.map(zipf.sample(&mut rng)) as u32;
                    if w.mode == Mode::Mixed && rng.below(4) == 0 {
                        k | SET_BIT
                    } else {
                        k
                    }
                })
                .collect()
        })
        .collect()
}

/// Builds, prefills and warms one instance of every contender for one workload and
/// thread count.
struct Builder<'a, 'r> {
    w: Workload,
    threads: usize,
    streams: &'a [Vec<u32>],
    keys: &'a Keys,
    value: &'a [u8],
    run_seconds: f64,
    trials: Vec<Box<dyn Trial + 'a>>,
    results: &'r mut Results,
}

impl<'a> CacheVisitor for Builder<'a, '_> {
    fn visit<A: KvAdapter>(&mut self) {
        let w = self.w;
        let spec = CacheSpec {
            capacity: w.capacity,
            ttl: w.ttl.then_some(TTL),
            must_evict: w.churn(),
        };
        let Some(cache) = A::build(&spec) else {
            // Ours sit out only as a control (kv-core without TTL, in non-TTL workloads).
            if self.threads == THREADS[0] && !A::ours() {
                self.results.note(format!(
                    "{}: not applicable to `{}` (no bound or no TTL)",
                    A::name(),
                    w.name
                ));
            }
            return;
        };
        if w.mode == Mode::Incr && cache.incr(self.keys.get(0), 0).is_none() {
            if self.threads == THREADS[0] {
                self.results.note(format!(
                    "{}: no atomic increment, so not in `{}`",
                    A::name(),
                    w.name
                ));
            }
            return;
        }
        if !w.churn() {
            // Counters start at 0, in decimal as kv stores them.
            let value = if w.mode == Mode::Incr {
                b"0"
            } else {
                self.value
            };
            prefill(&cache, self.keys, w.keys, value);
            let present = cache.len();
            if present < w.keys {
                self.results.note(format!(
                    "{}: only {present} of {} keys present after prefill in `{}`",
                    A::name(),
                    w.keys,
                    w.name
                ));
            }
        }
        let stream_len = self.streams[0].len();
        // One untimed pass over a quarter of the stream: warms caches, reaches the
        // churn workloads' steady state, and gauges the speed, so that each timed run
        // lasts about `run_seconds` however slow the contender.
        let warm = (stream_len / 4).max(1);
        let (elapsed, _) = run_once(&cache, self.streams, 0..warm, self.keys, self.value, w.mode);
        cache.settle();
        let per_thread = warm as f64 / elapsed.as_secs_f64().max(1e-9);
        let len = ((per_thread * self.run_seconds) as usize).clamp(1, stream_len);
        self.trials.push(Box::new(CacheTrial {
            cache,
            w,
            streams: self.streams,
            keys: self.keys,
            value: self.value,
            warm,
            len,
            rates: Vec::new(),
            hit_ratios: Vec::new(),
        }));
    }
}

/// One contender, ready for timed runs; the loops inside stay monomorphised.
trait Trial {
    /// Timed run number `run`.
    fn run(&mut self, run: usize);
    /// Records the figures.
    fn finish(self: Box<Self>, results: &mut Results);
}

struct CacheTrial<'a, A> {
    cache: A,
    w: Workload,
    streams: &'a [Vec<u32>],
    keys: &'a Keys,
    value: &'a [u8],
    warm: usize,
    len: usize,
    rates: Vec<f64>,
    hit_ratios: Vec<f64>,
}

impl<A: KvAdapter> Trial for CacheTrial<'_, A> {
    fn run(&mut self, run: usize) {
        let stream_len = self.streams[0].len();
        let len = self.len;
        // Each run walks the next window of the streams (wrapping), so no run replays
        // accesses the cache has just seen.
        let start = (self.warm + run * len) % (stream_len - len + 1);
        let (elapsed, hits) = run_once(
            &self.cache,
            self.streams,
            start..start + len,
            self.keys,
            self.value,
            self.w.mode,
        );
        let ops = len * self.streams.len();
        self.rates.push(ops as f64 / elapsed.as_secs_f64());
        self.hit_ratios.push(100.0 * hits as f64 / ops as f64);
    }

    fn finish(self: Box<Self>, results: &mut Results) {
        let w = self.w;
        let threads = self.streams.len();
        let held = self.cache.len() as u64;
        if w.churn() && held > w.capacity + w.capacity / 20 {
            results.note(format!(
                "{}: holds {held} entries after `{}` on {threads} thread(s), above its capacity {}",
                A::name(),
                w.name,
                w.capacity
            ));
        }
        let variant = threads_label(threads);
        results.push_runs(
            SECTION,
            w.name,
            &variant,
            &A::name(),
            A::ours(),
            &self.rates,
            "ops/s",
        );
        if w.churn() {
            results.push(
                CHURN_HITS,
                w.name,
                &variant,
                &A::name(),
                A::ours(),
                Summary::of(&self.hit_ratios),
                "%",
            );
        }
    }
}

/// "1 thread", "2 threads".
pub(crate) fn threads_label(threads: usize) -> String {
    if threads == 1 {
        "1 thread".to_owned()
    } else {
        format!("{threads} threads")
    }
}

fn prefill<A: KvAdapter>(cache: &A, keys: &Keys, n: usize, value: &[u8]) {
    for i in 0..n {
        cache.set(keys.get(i), value);
    }
    cache.settle();
}

/// One timed pass: every thread walks its stream; returns the wall time and the hits.
fn run_once<A: KvAdapter>(
    cache: &A,
    streams: &[Vec<u32>],
    window: std::ops::Range<usize>,
    keys: &Keys,
    value: &[u8],
    mode: Mode,
) -> (Duration, u64) {
    let (wall, hits) = together(streams.len(), |t| {
        walk(cache, &streams[t][window.clone()], keys, value, mode)
    });
    (wall, hits.into_iter().sum())
}

fn walk<A: KvAdapter>(cache: &A, stream: &[u32], keys: &Keys, value: &[u8], mode: Mode) -> u64 {
    let mut hits = 0u64;
    match mode {
        Mode::Get => {
            for &k in stream {
                hits += u64::from(cache.get(keys.get(k as usize)));
            }
        }
        Mode::Set => {
            for &k in stream {
                cache.set(keys.get(k as usize), value);
            }
        }
        Mode::Mixed => {
            for &k in stream {
                if k & SET_BIT != 0 {
                    cache.set(keys.get((k & !SET_BIT) as usize), value);
                } else {
                    hits += u64::from(cache.get(keys.get(k as usize)));
                }
            }
        }
        Mode::GetOrInsert => {
            for &k in stream {
                hits += u64::from(cache.get_or_insert(keys.get(k as usize), value));
            }
        }
        Mode::Incr => {
            let mut sum = 0i64;
            for &k in stream {
                sum = sum.wrapping_add(
                    cache
                        .incr(keys.get(k as usize), 1)
                        .expect("only contenders with an increment run it"),
                );
            }
            black_box(sum);
        }
    }
    black_box(hits)
}

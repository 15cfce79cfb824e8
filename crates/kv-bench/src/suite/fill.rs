//! Fill: N new keys inserted into an empty cache, on 1 and 2 threads (each thread
//! inserts its own share of the keys). Loading data, warming a cache and churn pay
//! this; the Zipf workloads, whose keys are all present, never do.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::adapter::{CacheSpec, KvAdapter};
use crate::config::Options;
use crate::contenders::{each_cache, CacheVisitor};
use crate::keys::{self, Keys};
use crate::results::Results;
use crate::suite::inmem::{threads_label, SECTION, THREADS};

/// The workload's name (in tables and for `--only`).
pub(crate) const NAME: &str = "fill";

/// Runs the fill workload for every contender that takes part, if selected. Each
/// timed run builds a fresh cache, fills it and drops it (building and dropping
/// untimed); runs interleave across contenders, as the other in-memory workloads', so
/// run `i` of each contender pairs with run `i` of the others.
pub(crate) fn run(opts: &Options, results: &mut Results) {
    if !opts.selected(NAME) {
        return;
    }
    let n = opts.scale.keys;
    eprintln!("in-memory: {NAME} ({n} new keys into an empty cache)");
    let keys = Keys::new(n);
    let value = keys::value();
    let spec = spec(n);
    for threads in THREADS {
        let mut v = Collect {
            spec,
            threads,
            keys: &keys,
            value: &value,
            trials: Vec::new(),
        };
        each_cache(&mut v);
        let mut trials = v.trials;
        // Each round starts one contender later than the last, so that none always
        // follows the drop of the same big instance (the allocator's state after a
        // drop of a million entries favours or burdens whoever comes next).
        let k = trials.len();
        for run in 0..opts.scale.fill_runs {
            for j in 0..k {
                trials[(run + j) % k].run(results);
            }
        }
        for trial in trials {
            trial.finish(results);
        }
    }
}

/// What every contender is built with: room for twice the keys (no eviction), no TTL,
/// as the Zipf workloads.
fn spec(n: usize) -> CacheSpec {
    CacheSpec {
        capacity: 2 * n as u64,
        ttl: None,
        must_evict: false,
    }
}

struct Collect<'a> {
    spec: CacheSpec,
    threads: usize,
    keys: &'a Keys,
    value: &'a [u8],
    trials: Vec<Box<dyn Trial + 'a>>,
}

impl<'a> CacheVisitor for Collect<'a> {
    fn visit<A: KvAdapter>(&mut self) {
        // Contenders that sit this spec out (kv-core's no-TTL control) build nothing.
        if A::build(&self.spec).is_none() {
            return;
        }
        self.trials.push(Box::new(FillTrial::<A> {
            spec: self.spec,
            threads: self.threads,
            keys: self.keys,
            value: self.value,
            rates: Vec::new(),
            _contender: std::marker::PhantomData,
        }));
    }
}

trait Trial {
    /// One timed fill of a fresh instance.
    fn run(&mut self, results: &mut Results);
    /// Records the figures.
    fn finish(self: Box<Self>, results: &mut Results);
}

struct FillTrial<'a, A> {
    spec: CacheSpec,
    threads: usize,
    keys: &'a Keys,
    value: &'a [u8],
    rates: Vec<f64>,
    _contender: std::marker::PhantomData<fn() -> A>,
}

impl<A: KvAdapter> Trial for FillTrial<'_, A> {
    fn run(&mut self, results: &mut Results) {
        let cache = A::build(&self.spec).expect("built once already");
        let n = self.keys.len();
        let elapsed = fill(&cache, self.keys, self.value, self.threads);
        self.rates.push(n as f64 / elapsed.as_secs_f64());
        let held = cache.len();
        if held != n {
            results.note(format!(
                "{}: holds {held} of the {n} keys after `{NAME}` on {} thread(s)",
                A::name(),
                self.threads
            ));
        }
        drop(cache);
    }

    fn finish(self: Box<Self>, results: &mut Results) {
        results.push_runs(
            SECTION,
            NAME,
            &threads_label(self.threads),
            &A::name(),
            A::ours(),
            &self.rates,
            "ops/s",
        );
    }
}

/// Inserts every key of `keys` into `cache` from `threads` threads, each a contiguous
/// share; the time from the first thread's start to the last one's end, plus the
/// contender's deferred maintenance (`settle`), so that a cache that defers work is
/// timed until it holds the keys.
pub(crate) fn fill<A: KvAdapter>(cache: &A, keys: &Keys, value: &[u8], threads: usize) -> Duration {
    let n = keys.len();
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                let share = n * t / threads..n * (t + 1) / threads;
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for i in share {
                        cache.set(keys.get(i), value);
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a benchmark thread panicked"))
            .collect()
    });
    let start = spans
        .iter()
        .map(|s| s.0)
        .min()
        .expect("at least one thread");
    let end = spans
        .iter()
        .map(|s| s.1)
        .max()
        .expect("at least one thread");
    let settle = Instant::now();
    cache.settle();
    (end - start) + settle.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::{DashMapAdapter, MokaAdapter};

    #[test]
    fn every_key_is_inserted_once_whatever_the_threads() {
        let keys = Keys::new(1001);
        let value = keys::value();
        for threads in [1, 2, 3] {
            let map = DashMapAdapter::build(&spec(keys.len())).unwrap();
            fill(&map, &keys, &value, threads);
            assert_eq!(map.len(), keys.len(), "{threads} threads");
            let moka = MokaAdapter::build(&spec(keys.len())).unwrap();
            fill(&moka, &keys, &value, threads);
            assert_eq!(moka.len(), keys.len(), "{threads} threads");
        }
    }

    #[test]
    fn runs_interleave_and_report_each_contender() {
        let mut opts =
            Options::parse(&["--quick".to_owned(), "--only".to_owned(), NAME.to_owned()]).unwrap();
        opts.scale.keys = 500;
        let mut r = Results::default();
        run(&opts, &mut r);
        for threads in THREADS {
            let variant = threads_label(threads);
            for who in ["kv-core", "dashmap", "quick_cache", "moka"] {
                let m = r.find(SECTION, NAME, &variant, who).expect(who);
                assert_eq!(m.runs.len(), opts.scale.fill_runs, "{who}");
            }
            assert!(r
                .find(SECTION, NAME, &variant, "kv-core (no TTL)")
                .is_none());
        }
        assert!(r.notes.is_empty(), "{:?}", r.notes);
    }
}

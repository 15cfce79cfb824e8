//! Fill: N new keys inserted into an empty cache, on 1 and 2 threads (each thread
//! inserts its own share of the keys). Loading data, warming a cache and churn pay
//! this; the Zipf workloads, whose keys are all present, never do.
//!
//! Each timed fill runs in a child process of its own (`kv-bench --fill-child`), so
//! that every contender starts from the same pristine heap: in one process, the
//! allocator's state after dropping a million-entry cache slows whoever fills next
//! (measured: kv-core at 0.7-1.0M inserts/s right after moka's drop, 1.5M first in
//! the process), which an order of runs can shift but not remove.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::adapter::{CacheSpec, KvAdapter};
use crate::config::Options;
use crate::contenders::{each_cache, CacheVisitor};
use crate::keys::{self, Keys};
use crate::results::Results;
use crate::suite::inmem::{threads_label, SECTION, THREADS};
use crate::together::together;

/// The workload's name (in tables and for `--only`).
pub(crate) const NAME: &str = "fill";

/// The first argument of `kv-bench` that makes it a fill child: `kv-bench
/// --fill-child CONTENDER THREADS N` fills one fresh cache and prints `fill SECONDS
/// HELD` (tab-separated) on stdout.
pub const FILL_CHILD: &str = "--fill-child";

/// Runs the fill workload for every contender that takes part, if selected, each
/// timed fill in a child process; runs interleave across contenders, as the other
/// in-memory workloads', so run `i` of each contender pairs with run `i` of the others.
pub(crate) fn run(opts: &Options, results: &mut Results) -> anyhow::Result<()> {
    run_with(opts, results, fill_in_child)
}

/// [`run`] with `fill_one(contender, threads, keys)` doing each timed fill and
/// returning its time and the entries held afterwards.
fn run_with(
    opts: &Options,
    results: &mut Results,
    mut fill_one: impl FnMut(&str, usize, usize) -> anyhow::Result<(Duration, usize)>,
) -> anyhow::Result<()> {
    if !opts.selected(NAME) {
        return Ok(());
    }
    let n = opts.scale.keys;
    eprintln!("in-memory: {NAME} ({n} new keys into an empty cache, one child process per run)");
    let mut names = Names(Vec::new());
    each_cache(&mut names);
    for threads in THREADS {
        let mut rates = vec![Vec::new(); names.0.len()];
        for _ in 0..opts.scale.fill_runs {
            for ((name, _), rates) in names.0.iter().zip(&mut rates) {
                let (elapsed, held) = fill_one(name, threads, n)?;
                rates.push(n as f64 / elapsed.as_secs_f64());
                if held != n {
                    results.note(format!(
                        "{name}: holds {held} of the {n} keys after `{NAME}` on {threads} thread(s)"
                    ));
                }
            }
        }
        for ((name, ours), rates) in names.0.iter().zip(&rates) {
            let variant = threads_label(threads);
            results.push_runs(SECTION, NAME, &variant, name, *ours, rates, "ops/s");
        }
    }
    Ok(())
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

/// The contenders that take part (all but those that sit this spec out, such as
/// kv-core's no-TTL control), with whether each is ours.
struct Names(Vec<(String, bool)>);

impl CacheVisitor for Names {
    fn visit<A: KvAdapter>(&mut self) {
        if A::build(&spec(1)).is_some() {
            self.0.push((A::name(), A::ours()));
        }
    }
}

/// One timed fill in a child process: this executable with [`FILL_CHILD`].
fn fill_in_child(name: &str, threads: usize, n: usize) -> anyhow::Result<(Duration, usize)> {
    let exe = std::env::current_exe()?;
    let out = Command::new(&exe)
        .args([FILL_CHILD, name, &threads.to_string(), &n.to_string()])
        .output()
        .with_context(|| format!("running {} {FILL_CHILD}", exe.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "{FILL_CHILD} {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let parsed = stdout.lines().find_map(|line| {
        let mut f = line.split('\t');
        (f.next()? == NAME).then_some(())?;
        let seconds: f64 = f.next()?.parse().ok()?;
        let held: usize = f.next()?.parse().ok()?;
        Some((Duration::from_secs_f64(seconds), held))
    });
    parsed.with_context(|| format!("{FILL_CHILD} {name} printed no figure: {stdout}"))
}

/// The child's side of [`FILL_CHILD`]: `args` are the contender's name, the threads
/// and the number of keys; prints the fill's seconds and the entries held.
pub fn fill_child(args: &[String]) -> anyhow::Result<()> {
    let usage = || anyhow::anyhow!("usage: kv-bench {FILL_CHILD} CONTENDER THREADS N");
    let name = args.first().ok_or_else(usage)?;
    let threads: usize = args.get(1).and_then(|a| a.parse().ok()).ok_or_else(usage)?;
    let n: usize = args.get(2).and_then(|a| a.parse().ok()).ok_or_else(usage)?;
    let (elapsed, held) = fill_named(name, threads, n)?;
    println!("{NAME}\t{}\t{held}", elapsed.as_secs_f64());
    Ok(())
}

/// Builds the contender called `name`, fills it with `n` keys from `threads` threads,
/// and returns the time and the entries it then holds.
fn fill_named(name: &str, threads: usize, n: usize) -> anyhow::Result<(Duration, usize)> {
    struct One<'a> {
        name: &'a str,
        threads: usize,
        keys: Keys,
        value: Vec<u8>,
        out: Option<(Duration, usize)>,
    }
    impl CacheVisitor for One<'_> {
        fn visit<A: KvAdapter>(&mut self) {
            if A::name() != self.name {
                return;
            }
            let Some(cache) = A::build(&spec(self.keys.len())) else {
                return;
            };
            let elapsed = fill(&cache, &self.keys, &self.value, self.threads);
            self.out = Some((elapsed, cache.len()));
        }
    }
    let mut one = One {
        name,
        threads,
        keys: Keys::new(n),
        value: keys::value(),
        out: None,
    };
    each_cache(&mut one);
    one.out
        .with_context(|| format!("no in-memory contender `{name}` takes part in `{NAME}`"))
}

/// Inserts every key of `keys` into `cache` from `threads` threads, each a contiguous
/// share; the time from the first thread's start to the last one's end, plus the
/// contender's deferred maintenance (`settle`), so that a cache that defers work is
/// timed until it holds the keys.
fn fill<A: KvAdapter>(cache: &A, keys: &Keys, value: &[u8], threads: usize) -> Duration {
    let n = keys.len();
    let (wall, _) = together(threads, |t| {
        for i in n * t / threads..n * (t + 1) / threads {
            cache.set(keys.get(i), value);
        }
    });
    let settle = Instant::now();
    cache.settle();
    wall + settle.elapsed()
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
        let mut order = Vec::new();
        run_with(&opts, &mut r, |name, threads, n| {
            order.push(name.to_owned());
            fill_named(name, threads, n)
        })
        .unwrap();
        for threads in THREADS {
            let variant = threads_label(threads);
            for who in [
                "kv-core",
                "kv-store (memory)",
                "dashmap",
                "quick_cache",
                "moka",
            ] {
                let m = r.find(SECTION, NAME, &variant, who).expect(who);
                assert_eq!(m.runs.len(), opts.scale.fill_runs, "{who}");
            }
            assert!(r
                .find(SECTION, NAME, &variant, "kv-core (no TTL)")
                .is_none());
        }
        assert!(r.notes.is_empty(), "{:?}", r.notes);
        // Interleaved: run 1 of every contender before run 2 of any.
        assert_eq!(order[0], order[5]);
        assert_ne!(order[0], order[1]);
        assert!(fill_named("nobody", 1, 10).is_err());
    }
}

//! Persistent workloads: sets under each sync mode at 1 and 8 threads, batch writes,
//! single-set latency percentiles, and reopen time of a store holding many keys.

use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::adapter::{DurableAdapter, SyncMode};
use crate::config::{Options, Scale};
use crate::contenders::{each_durable, DurableVisitor};
use crate::keys::{self, Keys};
use crate::results::Results;
use crate::rng::Rng;
use crate::stats::{percentile, Summary};
use crate::suite::inmem::threads_label;

/// The report section of durable throughput.
pub(crate) const SECTION: &str = "persistent";
/// The report section of latency percentiles.
pub(crate) const LATENCY: &str = "set latency";
/// The report section of reopen times.
pub(crate) const REOPEN: &str = "reopen";
/// Sync modes every durable workload runs with (contenders skip those they lack).
pub(crate) const MODES: [SyncMode; 3] = [
    SyncMode::EveryWrite,
    SyncMode::Interval(Duration::from_millis(100)),
    SyncMode::Never,
];
/// Thread counts for sync-every-write (8 shows group commit); other modes use 1.
pub(crate) const SYNC_THREADS: [usize; 2] = [1, 8];
/// Sets per batch in the batch workload.
pub(crate) const BATCH: usize = 1000;

/// `--only` names of the durable workloads.
pub(crate) const SETS: &str = "durable-sets";
/// Batches.
pub(crate) const BATCHES: &str = "durable-batch";
/// Latency percentiles.
pub(crate) const LATENCIES: &str = "durable-latency";
/// Reopen.
pub(crate) const REOPENS: &str = "reopen";

/// The workload label of a sync mode's sets.
pub(crate) fn sets_workload(mode: SyncMode) -> String {
    format!("sets, sync {}", mode.label())
}

/// Runs every selected durable workload for every durable contender.
pub(crate) fn run(opts: &Options, results: &mut Results) -> anyhow::Result<()> {
    let any = [SETS, BATCHES, LATENCIES, REOPENS]
        .iter()
        .any(|n| opts.selected(n));
    if !any {
        return Ok(());
    }
    let keys = Keys::new(opts.scale.keys.max(opts.scale.reopen_keys));
    let mut v = Durable {
        opts,
        keys: &keys,
        value: keys::value(),
        results,
        error: None,
    };
    each_durable(&mut v);
    match v.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

struct Durable<'a> {
    opts: &'a Options,
    keys: &'a Keys,
    value: Vec<u8>,
    results: &'a mut Results,
    error: Option<anyhow::Error>,
}

impl DurableVisitor for Durable<'_> {
    fn visit<A: DurableAdapter>(&mut self) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.all::<A>() {
            self.error = Some(e.context(format!("durable workloads of {}", A::name())));
        }
    }
}

impl Durable<'_> {
    fn dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = self.opts.data_dir.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    fn all<A: DurableAdapter>(&mut self) -> anyhow::Result<()> {
        let s = self.opts.scale.clone();
        let name = A::name();
        for mode in MODES {
            let Some(how) = A::describe(mode) else {
                continue;
            };
            eprintln!("persistent: {name}, sync {} ({how})", mode.label());
            let threads: &[usize] = if mode == SyncMode::EveryWrite {
                &SYNC_THREADS
            } else {
                &[1]
            };
            if self.opts.selected(SETS) {
                for &t in threads {
                    let dir = self.dir(&format!("{name}-sets"))?;
                    let store = A::open(&dir, mode)?;
                    let rates = (0..s.durable_runs)
                        .map(|run| {
                            timed_sets(&store, self.keys, &self.value, t, s.durable_seconds, run)
                        })
                        .collect::<anyhow::Result<Vec<f64>>>()?;
                    store.close()?;
                    self.results.push(
                        SECTION,
                        &sets_workload(mode),
                        &threads_label(t),
                        &name,
                        A::ours(),
                        Summary::of(&rates),
                        "sets/s",
                    );
                }
            }
            if self.opts.selected(BATCHES) && mode == SyncMode::EveryWrite {
                let dir = self.dir(&format!("{name}-batch"))?;
                let store = A::open(&dir, mode)?;
                let rates = (0..s.durable_runs)
                    .map(|run| {
                        timed_batches(&store, self.keys, &self.value, s.durable_seconds, run)
                    })
                    .collect::<anyhow::Result<Vec<f64>>>()?;
                store.close()?;
                let workload = format!("batches of {BATCH}, sync every batch");
                self.results.push(
                    SECTION,
                    &workload,
                    "1 thread",
                    &name,
                    A::ours(),
                    Summary::of(&rates),
                    "sets/s",
                );
            }
            if self.opts.selected(LATENCIES) {
                let dir = self.dir(&format!("{name}-latency"))?;
                let store = A::open(&dir, mode)?;
                let mut ns = latencies(&store, self.keys, &self.value, s.durable_seconds)?;
                store.close()?;
                ns.sort_unstable();
                for (label, p) in [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)] {
                    let v = percentile(&ns, p) as f64;
                    self.results.push(
                        LATENCY,
                        &mode.label(),
                        label,
                        &name,
                        A::ours(),
                        Summary::single(v),
                        "ns",
                    );
                }
            }
        }
        if self.opts.selected(REOPENS) && A::reads() {
            self.reopen::<A>(&s)?;
        }
        let dir = self.opts.data_dir.join(&name);
        for suffix in ["sets", "batch", "latency", "reopen"] {
            let _ = std::fs::remove_dir_all(dir.with_file_name(format!("{name}-{suffix}")));
        }
        Ok(())
    }

    /// Writes `reopen_keys` keys in batches without sync, closes, and times open plus
    /// one read of the last key.
    fn reopen<A: DurableAdapter>(&mut self, s: &Scale) -> anyhow::Result<()> {
        let name = A::name();
        let dir = self.dir(&format!("{name}-reopen"))?;
        let store = A::open(&dir, SyncMode::Never)?;
        let n = s.reopen_keys;
        let mut i = 0;
        while i < n {
            let end = (i + 10_000).min(n);
            let items: Vec<(&[u8], &[u8])> = (i..end)
                .map(|k| (self.keys.get(k), self.value.as_slice()))
                .collect();
            store.set_batch(&items)?;
            i = end;
        }
        store.close()?;
        let bytes = dir_bytes(&dir)?;
        let mut times = Vec::new();
        for _ in 0..s.durable_runs {
            let start = Instant::now();
            let store = A::open(&dir, SyncMode::Never)?;
            anyhow::ensure!(
                store.get(self.keys.get(n - 1))?,
                "{name}: the last key is missing after reopen"
            );
            times.push(start.elapsed().as_secs_f64());
            store.close()?;
        }
        let variant = format!("{} keys", crate::results::fmt_num(n as f64));
        self.results.push(
            REOPEN,
            "reopen time",
            &variant,
            &name,
            A::ours(),
            Summary::of(&times),
            "s",
        );
        self.results.push(
            REOPEN,
            "files on disk (apparent size)",
            &variant,
            &name,
            A::ours(),
            Summary::single(bytes as f64),
            "B",
        );
        Ok(())
    }
}

/// Sum of the sizes of the files under `dir`.
pub(crate) fn dir_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// `threads` threads each set random keys until `seconds` pass; sets per second.
fn timed_sets<A: DurableAdapter>(
    store: &A,
    keys: &Keys,
    value: &[u8],
    threads: usize,
    seconds: f64,
    run: usize,
) -> anyhow::Result<f64> {
    let barrier = Barrier::new(threads);
    let deadline = Duration::from_secs_f64(seconds);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                let stream = random_stream(keys.len(), 1 << 16, (run * 64 + t) as u64);
                scope.spawn(move || -> anyhow::Result<(Instant, Instant, u64)> {
                    barrier.wait();
                    let start = Instant::now();
                    let mut n = 0u64;
                    for &k in stream.iter().cycle() {
                        store.set(keys.get(k as usize), value)?;
                        n += 1;
                        if n.is_multiple_of(16) && start.elapsed() >= deadline {
                            break;
                        }
                    }
                    Ok((start, Instant::now(), n))
                })
            })
            .collect();
        let mut spans = Vec::with_capacity(threads);
        for h in handles {
            spans.push(h.join().expect("a benchmark thread panicked")?);
        }
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
        let total: u64 = spans.iter().map(|s| s.2).sum();
        Ok(total as f64 / (end - start).as_secs_f64())
    })
}

fn timed_batches<A: DurableAdapter>(
    store: &A,
    keys: &Keys,
    value: &[u8],
    seconds: f64,
    run: usize,
) -> anyhow::Result<f64> {
    let stream = random_stream(keys.len(), 1 << 16, 1000 + run as u64);
    let batches: Vec<Vec<(&[u8], &[u8])>> = stream
        .chunks(BATCH)
        .map(|c| c.iter().map(|&k| (keys.get(k as usize), value)).collect())
        .collect();
    let start = Instant::now();
    let mut n = 0u64;
    for batch in batches.iter().cycle() {
        store.set_batch(batch)?;
        n += batch.len() as u64;
        if start.elapsed().as_secs_f64() >= seconds {
            break;
        }
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Nanoseconds of each single set, one thread, for `seconds`.
fn latencies<A: DurableAdapter>(
    store: &A,
    keys: &Keys,
    value: &[u8],
    seconds: f64,
) -> anyhow::Result<Vec<u64>> {
    let stream = random_stream(keys.len(), 1 << 16, 77);
    let mut ns = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    for &k in stream.iter().cycle() {
        let t = Instant::now();
        store.set(keys.get(k as usize), value)?;
        ns.push(t.elapsed().as_nanos() as u64);
        if ns.len().is_multiple_of(16) && start.elapsed().as_secs_f64() >= seconds {
            break;
        }
    }
    Ok(ns)
}

fn random_stream(n: usize, len: usize, seed: u64) -> Vec<u32> {
    let mut rng = Rng::new(0xD15C + seed);
    (0..len).map(|_| rng.below(n as u64) as u32).collect()
}

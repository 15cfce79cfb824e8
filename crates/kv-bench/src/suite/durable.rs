//! Persistent workloads: sets under each sync mode at 1 and 8 threads, batch writes,
//! single-set latency percentiles, durable increments against durable sets on the same
//! keys, and reopen time of a store holding many keys.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::adapter::{DurableAdapter, SyncMode};
use crate::config::{Options, Scale};
use crate::contenders::{each_durable, DurableVisitor};
use crate::keys::{self, Keys, Scatter};
use crate::ours::kv_store::{KvStoreAdapter, KvStoreNoDiskAdapter};
use crate::results::Results;
use crate::rng::Rng;
use crate::stats::{percentile, Summary};
use crate::suite::inmem::threads_label;
use crate::together::together;
use crate::zipf::Zipf;

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
/// Durable increments against durable sets.
pub(crate) const INCRS: &str = "durable-incr";

/// Threads of the durable increment workload: as many as the group-commit figure of
/// sets, so that increments show whether they share its benefit.
pub(crate) const INCR_THREADS: usize = 8;
/// The Zipf exponent of the durable increments' keys (the in-memory workloads').
const INCR_ZIPF: f64 = 0.99;
/// The workload label of the durable increments.
pub(crate) const INCR_WORKLOAD: &str = "increments, sync every write, Zipf 0.99";
/// The workload label of their control: sets of the same keys in the same run.
pub(crate) const INCR_CONTROL: &str = "sets, sync every write, Zipf 0.99";

/// The workload label of a sync mode's sets.
pub(crate) fn sets_workload(mode: SyncMode) -> String {
    format!("sets, sync {}", mode.label())
}

/// A durable contender with its type erased, for runs that interleave contenders. A
/// virtual call costs nanoseconds; a durable set costs hundreds at the least.
trait Erased: Send + Sync {
    fn set(&self, key: &[u8], value: &[u8]) -> anyhow::Result<()>;
    fn set_batch(&self, items: &[(&[u8], &[u8])]) -> anyhow::Result<()>;
    fn get(&self, key: &[u8]) -> anyhow::Result<bool>;
    fn close(self: Box<Self>) -> anyhow::Result<()>;
}

impl<A: DurableAdapter> Erased for A {
    fn set(&self, key: &[u8], value: &[u8]) -> anyhow::Result<()> {
        DurableAdapter::set(self, key, value)
    }

    fn set_batch(&self, items: &[(&[u8], &[u8])]) -> anyhow::Result<()> {
        DurableAdapter::set_batch(self, items)
    }

    fn get(&self, key: &[u8]) -> anyhow::Result<bool> {
        DurableAdapter::get(self, key)
    }

    fn close(self: Box<Self>) -> anyhow::Result<()> {
        DurableAdapter::close(*self)
    }
}

type Opener = fn(&Path, SyncMode) -> anyhow::Result<Box<dyn Erased>>;

/// What the runs need to know of one durable contender.
struct Kind {
    name: String,
    ours: bool,
    reads: bool,
    describe: fn(SyncMode) -> Option<String>,
    open: Opener,
}

fn open_erased<A: DurableAdapter>(dir: &Path, mode: SyncMode) -> anyhow::Result<Box<dyn Erased>> {
    Ok(Box::new(A::open(dir, mode)?))
}

struct Kinds(Vec<Kind>);

impl DurableVisitor for Kinds {
    fn visit<A: DurableAdapter>(&mut self) {
        self.0.push(Kind {
            name: A::name(),
            ours: A::ours(),
            reads: A::reads(),
            describe: A::describe,
            open: open_erased::<A>,
        });
    }
}

/// Runs every selected durable workload for every durable contender. Within a
/// workload, the contenders' timed runs interleave (run 1 of each, then run 2 of
/// each), so other work on the shared disk weighs on all of them alike.
pub(crate) fn run(opts: &Options, results: &mut Results) -> anyhow::Result<()> {
    let any = [SETS, BATCHES, LATENCIES, REOPENS, INCRS]
        .iter()
        .any(|n| opts.selected(n));
    if !any {
        return Ok(());
    }
    let mut kinds = Kinds(Vec::new());
    each_durable(&mut kinds);
    // kv-store without a directory beside the durable one, where it has a mode
    // (sync never): the same key stream, the same run.
    let mut memory = Kinds(Vec::new());
    memory.visit::<KvStoreNoDiskAdapter>();
    let at = kinds.0.len().min(1);
    kinds.0.splice(at..at, memory.0);
    let d = Durable {
        opts,
        keys: Keys::new(opts.scale.keys.max(opts.scale.reopen_keys)),
        value: keys::value(),
    };
    let s = &opts.scale;
    for mode in MODES {
        let here: Vec<&Kind> = kinds
            .0
            .iter()
            .filter(|k| (k.describe)(mode).is_some())
            .collect();
        let per_mode = [SETS, BATCHES, LATENCIES].iter().any(|n| opts.selected(n));
        for k in here.iter().filter(|_| per_mode) {
            eprintln!(
                "persistent: {}, sync {}: {}",
                k.name,
                mode.label(),
                (k.describe)(mode).unwrap_or_default()
            );
        }
        if opts.selected(SETS) {
            let threads: &[usize] = if mode == SyncMode::EveryWrite {
                &SYNC_THREADS
            } else {
                &[1]
            };
            for &t in threads {
                let rates = d.interleaved(&here, mode, "sets", |store, run| {
                    timed_sets(store, &d.keys, &d.value, t, s.durable_seconds, run)
                })?;
                for (k, r) in here.iter().zip(rates) {
                    results.push(
                        SECTION,
                        &sets_workload(mode),
                        &threads_label(t),
                        &k.name,
                        k.ours,
                        Summary::of(&r),
                        "sets/s",
                    );
                }
            }
        }
        if opts.selected(BATCHES) && mode == SyncMode::EveryWrite {
            let rates = d.interleaved(&here, mode, "batch", |store, run| {
                timed_batches(store, &d.keys, &d.value, s.durable_seconds, run)
            })?;
            let workload = format!("batches of {BATCH}, sync every batch");
            for (k, r) in here.iter().zip(rates) {
                results.push(
                    SECTION,
                    &workload,
                    "1 thread",
                    &k.name,
                    k.ours,
                    Summary::of(&r),
                    "sets/s",
                );
            }
        }
        if opts.selected(LATENCIES) {
            for k in &here {
                let dir = d.dir(&format!("{}-latency", k.name))?;
                let store = (k.open)(&dir, mode)?;
                let mut ns = latencies(store.as_ref(), &d.keys, &d.value, s.durable_seconds)?;
                store.close()?;
                std::fs::remove_dir_all(&dir)?;
                ns.sort_unstable();
                for (label, p) in [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)] {
                    let v = percentile(&ns, p) as f64;
                    results.push(
                        LATENCY,
                        &mode.label(),
                        label,
                        &k.name,
                        k.ours,
                        Summary::single(v),
                        "ns",
                    );
                }
            }
        }
    }
    if opts.selected(INCRS) {
        d.increments(results)?;
    }
    if opts.selected(REOPENS) {
        for k in kinds.0.iter().filter(|k| k.reads) {
            d.reopen(k, s, results)?;
        }
    }
    Ok(())
}

struct Durable<'a> {
    opts: &'a Options,
    keys: Keys,
    value: Vec<u8>,
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

    /// Opens every contender in its own directory, runs `timed` `durable_runs` times for
    /// each in turn, closes them, and returns each contender's figures.
    fn interleaved(
        &self,
        kinds: &[&Kind],
        mode: SyncMode,
        tag: &str,
        timed: impl Fn(&dyn Erased, usize) -> anyhow::Result<f64>,
    ) -> anyhow::Result<Vec<Vec<f64>>> {
        let mut open = Vec::new();
        for k in kinds {
            let dir = self.dir(&format!("{}-{tag}", k.name))?;
            open.push(((k.open)(&dir, mode)?, dir));
        }
        let mut figures = vec![Vec::new(); kinds.len()];
        for run in 0..self.opts.scale.durable_runs {
            for (i, (store, _)) in open.iter().enumerate() {
                figures[i].push(timed(store.as_ref(), run)?);
            }
        }
        for (store, dir) in open {
            store.close()?;
            std::fs::remove_dir_all(&dir)?;
        }
        Ok(figures)
    }

    /// kv-store's increments with `SyncPolicy::EveryWrite` on `INCR_THREADS` threads,
    /// against its sets of the same Zipf 0.99 key streams (the same keys and the same
    /// contention on hot keys' write stripes), each store in its own directory, their
    /// runs interleaved (and in alternating order) so that they share the disk's mood.
    /// Counters start absent (counted as 0); sets write the 100-byte value.
    fn increments(&self, results: &mut Results) -> anyhow::Result<()> {
        let s = &self.opts.scale;
        let mode = SyncMode::EveryWrite;
        eprintln!(
            "persistent: {}, sync every write, {INCR_THREADS} threads: Store::incr against \
             Store::set over the same Zipf {INCR_ZIPF} keys",
            crate::ours::STORE
        );
        let zipf = Zipf::new(self.keys.len(), INCR_ZIPF);
        let scatter = Scatter::new(self.keys.len(), 2);
        let sets_dir = self.dir("kv-store-zipf-sets")?;
        let incr_dir = self.dir("kv-store-incr")?;
        let sets = KvStoreAdapter::open(&sets_dir, mode)?;
        let incrs = KvStoreAdapter::open(&incr_dir, mode)?;
        let (mut set_rates, mut incr_rates) = (Vec::new(), Vec::new());
        for run in 0..s.durable_runs {
            let streams: Vec<Vec<u32>> = (0..INCR_THREADS)
                .map(|t| {
                    let mut rng = Rng::new(0x1AC4 + (run * 64 + t) as u64);
                    (0..1 << 16)
                        .map(|_| scatter.map(zipf.sample(&mut rng)) as u32)
                        .collect()
                })
                .collect();
            let set = || {
                timed(&streams, s.durable_seconds, |k| {
                    DurableAdapter::set(&sets, self.keys.get(k), &self.value)
                })
            };
            let incr = || {
                timed(&streams, s.durable_seconds, |k| {
                    incrs.incr(self.keys.get(k), 1).map(drop)
                })
            };
            if run % 2 == 0 {
                set_rates.push(set()?);
                incr_rates.push(incr()?);
            } else {
                incr_rates.push(incr()?);
                set_rates.push(set()?);
            }
        }
        DurableAdapter::close(sets)?;
        DurableAdapter::close(incrs)?;
        std::fs::remove_dir_all(&sets_dir)?;
        std::fs::remove_dir_all(&incr_dir)?;
        let variant = threads_label(INCR_THREADS);
        for (workload, rates, unit) in [
            (INCR_CONTROL, &set_rates, "sets/s"),
            (INCR_WORKLOAD, &incr_rates, "increments/s"),
        ] {
            results.push_runs(
                SECTION,
                workload,
                &variant,
                crate::ours::STORE,
                true,
                rates,
                unit,
            );
        }
        Ok(())
    }

    /// Writes `reopen_keys` keys in batches without sync, closes, and times open plus
    /// one read of the last key.
    fn reopen(&self, k: &Kind, s: &Scale, results: &mut Results) -> anyhow::Result<()> {
        let name = &k.name;
        let dir = self.dir(&format!("{name}-reopen"))?;
        let store = (k.open)(&dir, SyncMode::Never)?;
        let n = s.reopen_keys;
        let mut i = 0;
        while i < n {
            let end = (i + 10_000).min(n);
            let items: Vec<(&[u8], &[u8])> = (i..end)
                .map(|j| (self.keys.get(j), self.value.as_slice()))
                .collect();
            store.set_batch(&items)?;
            i = end;
        }
        store.close()?;
        let bytes = dir_bytes(&dir)?;
        let mut times = Vec::new();
        for _ in 0..s.durable_runs {
            let start = Instant::now();
            let store = (k.open)(&dir, SyncMode::Never)?;
            anyhow::ensure!(
                store.get(self.keys.get(n - 1))?,
                "{name}: the last key is missing after reopen"
            );
            times.push(start.elapsed().as_secs_f64());
            store.close()?;
        }
        std::fs::remove_dir_all(&dir)?;
        let variant = format!("{} keys", crate::results::fmt_num(n as f64));
        results.push(
            REOPEN,
            "reopen time",
            &variant,
            name,
            k.ours,
            Summary::of(&times),
            "s",
        );
        results.push(
            REOPEN,
            "files on disk (apparent size)",
            &variant,
            name,
            k.ours,
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
fn timed_sets(
    store: &dyn Erased,
    keys: &Keys,
    value: &[u8],
    threads: usize,
    seconds: f64,
    run: usize,
) -> anyhow::Result<f64> {
    let streams: Vec<Vec<u32>> = (0..threads)
        .map(|t| random_stream(keys.len(), 1 << 16, (run * 64 + t) as u64))
        .collect();
    timed(&streams, seconds, |k| store.set(keys.get(k), value))
}

/// One thread per stream, each applying `op` to the key indices of its stream (cycling)
/// until `seconds` pass; operations per second, from the first thread's start to the
/// last one's end.
fn timed(
    streams: &[Vec<u32>],
    seconds: f64,
    op: impl Fn(usize) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<f64> {
    let deadline = Duration::from_secs_f64(seconds);
    let (wall, counts) = together(streams.len(), |t| -> anyhow::Result<u64> {
        let start = Instant::now();
        let mut n = 0u64;
        for &k in streams[t].iter().cycle() {
            op(k as usize)?;
            n += 1;
            if n.is_multiple_of(16) && start.elapsed() >= deadline {
                break;
            }
        }
        Ok(n)
    });
    let mut total = 0;
    for n in counts {
        total += n?;
    }
    Ok(total as f64 / wall.as_secs_f64())
}

fn timed_batches(
    store: &dyn Erased,
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
fn latencies(
    store: &dyn Erased,
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

//! kv-store's `Store`: without a data directory for the in-memory workloads, with one
//! (default persistence: log and snapshots) for the durable workloads, plus recovery of
//! a store whose only file is its log.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use kv_store::{Batch, EvictionPolicy, PersistenceMode, Store, SyncPolicy};

use crate::adapter::{CacheSpec, DurableAdapter, KvAdapter, SyncMode};
use crate::config::Options;
use crate::keys::{self, Keys};
use crate::ours::{STORE, STORE_MEM};
use crate::results::{fmt_num, Results};
use crate::stats::Summary;
use crate::suite::durable::{REOPEN, REOPENS};

/// Entries the durable store may hold: far above the benchmark's key universe, so a
/// full store never turns a set into an error.
const DURABLE_MAX_ENTRIES: usize = 1 << 24;

fn policy(mode: SyncMode) -> SyncPolicy {
    match mode {
        SyncMode::EveryWrite => SyncPolicy::EveryWrite,
        SyncMode::Interval(d) => SyncPolicy::Interval(d),
        SyncMode::Never => SyncPolicy::Never,
    }
}

/// A `Store` with no data directory (persistence none), LFU eviction at the workload's
/// capacity, background workers on (as a user gets it).
pub struct KvStoreMemAdapter {
    store: Store,
    ttl: Option<std::time::Duration>,
}

impl KvAdapter for KvStoreMemAdapter {
    fn name() -> String {
        STORE_MEM.to_owned()
    }

    fn ours() -> bool {
        true
    }

    fn build(spec: &CacheSpec) -> Option<Self> {
        let options = kv_store::Options::new()
            .persistence(PersistenceMode::None)
            .max_entries(usize::try_from(spec.capacity).ok()?)
            .eviction(EvictionPolicy::Lfu);
        Some(Self {
            store: Store::open(options).expect("kv-store rejected the benchmark's options"),
            ttl: spec.ttl,
        })
    }

    fn get(&self, key: &[u8]) -> bool {
        match self.store.get(key).expect("kv-store get failed") {
            Some(v) => {
                black_box(v.as_bytes().len());
                true
            }
            None => false,
        }
    }

    fn set(&self, key: &[u8], value: &[u8]) {
        match self.ttl {
            Some(ttl) => self.store.set_with_ttl(key, value, ttl),
            None => self.store.set(key, value),
        }
        .expect("kv-store refused a benchmark write");
    }

    fn incr(&self, key: &[u8], delta: i64) -> Option<i64> {
        Some(
            self.store
                .incr(key, delta)
                .expect("kv-store refused a benchmark increment"),
        )
    }

    fn len(&self) -> usize {
        self.store.len().expect("kv-store len failed")
    }
}

/// A `Store` in a data directory with the default persistence (log and snapshots) and
/// the sync policy of the workload.
pub struct KvStoreAdapter {
    store: Store,
}

impl KvStoreAdapter {
    fn open_with(dir: &Path, mode: SyncMode, persistence: PersistenceMode) -> anyhow::Result<Self> {
        let options = kv_store::Options::new()
            .dir(dir)
            .persistence(persistence)
            .sync(policy(mode))
            .max_entries(DURABLE_MAX_ENTRIES);
        Ok(Self {
            store: Store::open(options)?,
        })
    }
}

impl KvStoreAdapter {
    /// `Store::incr`: adds `delta` to the decimal counter at `key`, durable per the
    /// store's sync policy; the new value.
    pub(crate) fn incr(&self, key: &[u8], delta: i64) -> anyhow::Result<i64> {
        Ok(self.store.incr(key, delta)?)
    }
}

impl DurableAdapter for KvStoreAdapter {
    fn name() -> String {
        STORE.to_owned()
    }

    fn ours() -> bool {
        true
    }

    fn describe(mode: SyncMode) -> Option<String> {
        Some(format!(
            "set, SyncPolicy::{:?}, log and snapshots",
            policy(mode)
        ))
    }

    fn open(dir: &Path, mode: SyncMode) -> anyhow::Result<Self> {
        Self::open_with(dir, mode, PersistenceMode::WalAndSnapshots)
    }

    fn set(&self, key: &[u8], value: &[u8]) -> anyhow::Result<()> {
        self.store.set(key, value)?;
        Ok(())
    }

    fn set_batch(&self, items: &[(&[u8], &[u8])]) -> anyhow::Result<()> {
        apply_batch(&self.store, items)
    }

    fn get(&self, key: &[u8]) -> anyhow::Result<bool> {
        Ok(self.store.get(key)?.is_some())
    }

    fn close(self) -> anyhow::Result<()> {
        self.store.close()?;
        Ok(())
    }
}

/// Writes `items` as one batch (one log record, one sync under every-write).
fn apply_batch(store: &Store, items: &[(&[u8], &[u8])]) -> anyhow::Result<()> {
    let mut batch = Batch::new();
    for (k, v) in items {
        batch.put(k, v);
    }
    store.apply(&batch)?;
    Ok(())
}

/// A `Store` with no data directory (persistence none) in the durable "sets, sync
/// never" workload: the same options as [`KvStoreAdapter`] but the directory, driven
/// by the same key stream in the same process run, so the durable path's cost is read
/// against memory alone on equal terms (the in-memory `set` workload draws Zipf keys,
/// whose hot entries stay in cache).
pub(crate) struct KvStoreNoDiskAdapter {
    store: Store,
}

impl DurableAdapter for KvStoreNoDiskAdapter {
    fn name() -> String {
        STORE_MEM.to_owned()
    }

    fn ours() -> bool {
        true
    }

    fn reads() -> bool {
        // Nothing survives a reopen: the reopen workload is not for it.
        false
    }

    fn describe(mode: SyncMode) -> Option<String> {
        (mode == SyncMode::Never)
            .then(|| "set, no data directory (persistence none): memory alone".to_owned())
    }

    fn open(_dir: &Path, _mode: SyncMode) -> anyhow::Result<Self> {
        let options = kv_store::Options::new()
            .persistence(PersistenceMode::None)
            .max_entries(DURABLE_MAX_ENTRIES);
        Ok(Self {
            store: Store::open(options)?,
        })
    }

    fn set(&self, key: &[u8], value: &[u8]) -> anyhow::Result<()> {
        self.store.set(key, value)?;
        Ok(())
    }

    fn set_batch(&self, items: &[(&[u8], &[u8])]) -> anyhow::Result<()> {
        apply_batch(&self.store, items)
    }

    fn get(&self, key: &[u8]) -> anyhow::Result<bool> {
        Ok(self.store.get(key)?.is_some())
    }

    fn close(self) -> anyhow::Result<()> {
        self.store.close()?;
        Ok(())
    }
}

/// Recovery from the log alone: `reopen_keys` keys written in batches with
/// `PersistenceMode::WalOnly`, closed, then open plus one read timed; also in bytes of
/// log replayed per second.
pub(crate) fn wal_only_reopen(opts: &Options, results: &mut Results) -> anyhow::Result<()> {
    if !opts.selected(REOPENS) {
        return Ok(());
    }
    let n = opts.scale.reopen_keys;
    eprintln!("kv-store: reopen of {n} keys from the log alone");
    let keys = Keys::new(n);
    let value = keys::value();
    let dir = opts.data_dir.join("kv-store-wal-only");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let store = KvStoreAdapter::open_with(&dir, SyncMode::Never, PersistenceMode::WalOnly)?;
    let mut i = 0;
    while i < n {
        let end = (i + 10_000).min(n);
        let items: Vec<(&[u8], &[u8])> =
            (i..end).map(|k| (keys.get(k), value.as_slice())).collect();
        store.set_batch(&items)?;
        i = end;
    }
    store.close()?;
    // The bytes of log records (segments are preallocated, so file sizes overstate it).
    let bytes = {
        let (wal, _) = kv_wal::Wal::open(&dir, kv_wal::WalOptions::default())?;
        let used = wal.stats().bytes;
        wal.close()?;
        used
    };
    let mut times = Vec::new();
    for _ in 0..opts.scale.durable_runs {
        let start = Instant::now();
        let store = KvStoreAdapter::open_with(&dir, SyncMode::Never, PersistenceMode::WalOnly)?;
        anyhow::ensure!(store.get(keys.get(n - 1))?, "kv-store lost the last key");
        times.push(start.elapsed().as_secs_f64());
        store.close()?;
    }
    std::fs::remove_dir_all(&dir)?;
    let variant = format!("{} keys, log only", fmt_num(n as f64));
    let time = Summary::of(&times);
    results.push(REOPEN, "reopen time", &variant, STORE, true, time, "s");
    results.push(
        REOPEN,
        "log bytes",
        &variant,
        STORE,
        true,
        Summary::single(bytes as f64),
        "B",
    );
    let rates: Vec<f64> = times.iter().map(|t| bytes as f64 / t).collect();
    results.push(
        REOPEN,
        "recovery from the log",
        &variant,
        STORE,
        true,
        Summary::of(&rates),
        "B/s",
    );
    Ok(())
}

//! The two small traits every contender is wrapped in: an in-memory map and a durable store.

use std::path::Path;
use std::time::Duration;

/// How an in-memory contender is built for one workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSpec {
    /// The most entries it may hold (contenders without a bound ignore it).
    pub capacity: u64,
    /// A time-to-live on every entry, far longer than the run, so that only its
    /// bookkeeping is measured.
    pub ttl: Option<Duration>,
    /// Whether an entry must survive until evicted or expired. Unbounded maps can
    /// only take part when this is false or the workload never exceeds capacity.
    pub must_evict: bool,
}

/// An in-memory map or cache, as a benchmark drives it.
///
/// Implementations are thin: they turn borrowed bytes into the owned key and value
/// types the contender stores (every contender pays that copy on a set) and report
/// whether a read found its key.
pub trait KvAdapter: Send + Sync + Sized + 'static {
    /// The name in tables and charts.
    fn name() -> String;

    /// True for our crates (their figures get ratios against the peers).
    fn ours() -> bool {
        false
    }

    /// A fresh instance for `spec`, or `None` when this contender cannot honour it
    /// (no TTL, no capacity bound).
    fn build(spec: &CacheSpec) -> Option<Self>;

    /// Reads `key`; true when it was present.
    fn get(&self, key: &[u8]) -> bool;

    /// Inserts or overwrites `key`.
    fn set(&self, key: &[u8], value: &[u8]);

    /// Reads `key`, inserting `value` when absent; true when it was present.
    fn get_or_insert(&self, key: &[u8], value: &[u8]) -> bool {
        if self.get(key) {
            true
        } else {
            self.set(key, value);
            false
        }
    }

    /// Adds `delta` to the decimal integer stored at `key` (an absent key counts as 0)
    /// as one atomic read-modify-write, so that no concurrent increment is lost, and
    /// returns the new value; `None` when this contender has no such operation (it
    /// sits out the increment workload).
    fn incr(&self, key: &[u8], delta: i64) -> Option<i64> {
        let _ = (key, delta);
        None
    }

    /// Finishes deferred maintenance (a no-op for contenders that have none).
    fn settle(&self) {}

    /// How many entries it holds now.
    fn len(&self) -> usize;

    /// True when it holds nothing.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// When a durable store makes a write survive a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Every write is on disk (fdatasync or equivalent) before it returns.
    EveryWrite,
    /// A background flush at a fixed interval; a crash loses at most that window.
    Interval(Duration),
    /// The store never forces data to disk (it reaches the OS page cache only).
    Never,
}

impl SyncMode {
    /// A short label for tables.
    pub fn label(&self) -> String {
        match self {
            Self::EveryWrite => "every write".to_owned(),
            Self::Interval(d) => format!("interval {} ms", d.as_millis()),
            Self::Never => "never".to_owned(),
        }
    }
}

/// A persistent store, as a benchmark drives it.
pub trait DurableAdapter: Send + Sync + Sized + 'static {
    /// The name in tables and charts.
    fn name() -> String;

    /// True for our crates.
    fn ours() -> bool {
        false
    }

    /// False for contenders that cannot look keys up (a bare log): they skip the reopen
    /// workload.
    fn reads() -> bool {
        true
    }

    /// What this contender does for `mode`, in its own words (e.g. "persist(SyncData)
    /// after each insert"), or `None` when it has no comparable setting.
    fn describe(mode: SyncMode) -> Option<String>;

    /// Opens (creating or recovering) the store in `dir` with `mode`.
    fn open(dir: &Path, mode: SyncMode) -> anyhow::Result<Self>;

    /// One durable-per-`mode` set.
    fn set(&self, key: &[u8], value: &[u8]) -> anyhow::Result<()>;

    /// Many sets made durable together (one commit, one sync under `EveryWrite`).
    fn set_batch(&self, items: &[(&[u8], &[u8])]) -> anyhow::Result<()>;

    /// Reads `key`; true when present.
    fn get(&self, key: &[u8]) -> anyhow::Result<bool>;

    /// Flushes and closes cleanly.
    fn close(self) -> anyhow::Result<()>;
}

//! `Options`: every setting of a `Store`, its default, its meaning, and its validation.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kv_core::{Clock, EvictionPolicy, SystemClock};

use crate::{Error, RecoveryMode, Result, SyncPolicy};
/// Default interval of the interval sync policy (1 s), as in the design documents.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Default interval of the expiry cleanup worker (1 min), as in the design documents.
pub const DEFAULT_CLEANUP_INTERVAL: Duration = Duration::from_secs(60);
/// Default interval between snapshots (5 min), as in the design documents.
pub const DEFAULT_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Default number of deletes (and evictions) logged since the last snapshot that
/// trigger a snapshot and WAL truncation (1000), as in the design documents.
pub const DEFAULT_COMPACTION_THRESHOLD: u64 = 1000;
/// Default WAL growth since the last snapshot that triggers one (64 MiB).
pub const DEFAULT_SNAPSHOT_WAL_BYTES: u64 = 64 * 1024 * 1024;
/// Default growth, in percent of the live data, that the snapshot triggers also wait
/// for (100, as Redis's `auto-aof-rewrite-percentage`): see
/// [`Options::snapshot_growth_percent`].
pub const DEFAULT_SNAPSHOT_GROWTH_PERCENT: u32 = 100;
/// Default number of snapshot files kept (2: the newest and one to fall back to).
pub const DEFAULT_SNAPSHOTS_RETAINED: usize = 2;
/// Default number of entries the cleanup worker may examine per run.
pub const DEFAULT_CLEANUP_BUDGET: usize = 10_000;
/// Default number of write stripes (see [`Options::write_stripes`]).
pub const DEFAULT_WRITE_STRIPES: usize = 1024;

/// What a store keeps on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PersistenceMode {
    /// Nothing: a pure in-memory store; no data directory.
    None,
    /// Every change goes to the write-ahead log before it is visible, and no
    /// snapshot is ever written: the log only grows, and recovery replays all of it.
    /// ([`Store::snapshot`](crate::Store::snapshot) and `compact` return
    /// [`Error::Unsupported`].)
    WalOnly,
    /// Only periodic snapshots (and the final one at close), like Redis RDB: after a
    /// crash, every change since the last snapshot is lost.
    SnapshotsOnly,
    /// The write-ahead log and snapshots: the default when a data directory is given.
    /// Snapshots bound the log's length and recovery time.
    WalAndSnapshots,
}

impl PersistenceMode {
    /// True when changes are written to the log.
    pub fn uses_wal(self) -> bool {
        matches!(self, Self::WalOnly | Self::WalAndSnapshots)
    }

    /// True when snapshots are written.
    pub fn uses_snapshots(self) -> bool {
        matches!(self, Self::SnapshotsOnly | Self::WalAndSnapshots)
    }
}

/// A function called with errors that have no caller to return to (background
/// workers, the final snapshot of a dropped store).
pub type ErrorCallback = Arc<dyn Fn(&Error) + Send + Sync>;

/// Every setting of a [`Store`](crate::Store), built with chained setters.
///
/// A store keeps its data in the directory given with [`Options::dir`] (write-ahead
/// log and snapshots unless [`Options::persistence`] says otherwise). Keeping nothing
/// is a deliberate choice: options with neither a directory nor
/// [`PersistenceMode::None`] are refused, so a forgotten `dir` never yields a store
/// that silently forgets everything ([`Store::in_memory`](crate::Store::in_memory) is
/// the short way to ask for one).
/// Every setter documents its default. [`Store::open`](crate::Store::open) validates
/// the whole set and names the first invalid option.
///
/// ```
/// use std::time::Duration;
/// use kv_store::{Options, SyncPolicy};
///
/// let opts = Options::new()
///     .dir("/tmp/kv-example")
///     .sync(SyncPolicy::EveryWrite)
///     .snapshot_interval(Some(Duration::from_secs(60)));
/// assert!(opts.validate().is_ok());
/// assert!(Options::new().max_key_size(0).validate().is_err());
/// ```
#[derive(Clone)]
pub struct Options {
    pub(crate) dir: Option<PathBuf>,
    pub(crate) persistence: Option<PersistenceMode>,
    pub(crate) sync: SyncPolicy,
    pub(crate) recovery: RecoveryMode,
    pub(crate) cleanup_interval: Option<Duration>,
    pub(crate) cleanup_budget: usize,
    pub(crate) snapshot_interval: Option<Duration>,
    pub(crate) compaction_threshold: u64,
    pub(crate) snapshot_wal_bytes: Option<u64>,
    pub(crate) snapshot_growth_percent: u32,
    pub(crate) snapshots_retained: usize,
    pub(crate) snapshot_on_close: bool,
    pub(crate) segment_size: Option<u64>,
    /// The in-memory map's settings: limits, eviction, shards, callbacks and the
    /// clock (kv-core owns their defaults and their validation).
    pub(crate) cache: kv_core::Options,
    /// The same clock as `cache`'s: the store stamps its records with it.
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) write_stripes: usize,
    pub(crate) on_error: Option<ErrorCallback>,
    pub(crate) background_workers: bool,
    #[cfg(feature = "sim")]
    pub(crate) wal_storage: Option<Arc<dyn kv_wal::Storage>>,
    #[cfg(feature = "sim")]
    pub(crate) snapshot_io: Option<Arc<dyn kv_snapshot::SnapshotIo>>,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("dir", &self.dir)
            .field("persistence", &self.persistence_mode())
            .field("sync", &self.sync)
            .field("recovery", &self.recovery)
            .field("cleanup_interval", &self.cleanup_interval)
            .field("cleanup_budget", &self.cleanup_budget)
            .field("snapshot_interval", &self.snapshot_interval)
            .field("compaction_threshold", &self.compaction_threshold)
            .field("snapshot_wal_bytes", &self.snapshot_wal_bytes)
            .field("snapshot_growth_percent", &self.snapshot_growth_percent)
            .field("snapshots_retained", &self.snapshots_retained)
            .field("snapshot_on_close", &self.snapshot_on_close)
            .field("segment_size", &self.segment_size)
            .field("cache", &self.cache)
            .field("write_stripes", &self.write_stripes)
            .field("background_workers", &self.background_workers)
            .finish_non_exhaustive()
    }
}

impl Options {
    /// The defaults: in memory, no data directory.
    pub fn new() -> Self {
        Self {
            dir: None,
            persistence: None,
            sync: SyncPolicy::Interval(DEFAULT_SYNC_INTERVAL),
            recovery: RecoveryMode::default(),
            cleanup_interval: Some(DEFAULT_CLEANUP_INTERVAL),
            cleanup_budget: DEFAULT_CLEANUP_BUDGET,
            snapshot_interval: Some(DEFAULT_SNAPSHOT_INTERVAL),
            compaction_threshold: DEFAULT_COMPACTION_THRESHOLD,
            snapshot_wal_bytes: Some(DEFAULT_SNAPSHOT_WAL_BYTES),
            snapshot_growth_percent: DEFAULT_SNAPSHOT_GROWTH_PERCENT,
            snapshots_retained: DEFAULT_SNAPSHOTS_RETAINED,
            snapshot_on_close: true,
            segment_size: None,
            cache: kv_core::Options::default(),
            clock: Arc::new(SystemClock),
            write_stripes: DEFAULT_WRITE_STRIPES,
            on_error: None,
            background_workers: true,
            #[cfg(feature = "sim")]
            wal_storage: None,
            #[cfg(feature = "sim")]
            snapshot_io: None,
        }
    }

    /// The data directory (default: none, an in-memory store). It is created with
    /// owner-only permissions if missing, and locked while the store is open.
    /// Giving one makes the default persistence [`PersistenceMode::WalAndSnapshots`].
    pub fn dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// What is kept on disk (default: [`PersistenceMode::WalAndSnapshots`] with a data
    /// directory, [`PersistenceMode::None`] without one). Any mode but `None` needs
    /// [`Options::dir`].
    pub fn persistence(mut self, mode: PersistenceMode) -> Self {
        self.persistence = Some(mode);
        self
    }

    /// When writes reach stable storage (default: every 1 s, see [`SyncPolicy`]).
    pub fn sync(mut self, policy: SyncPolicy) -> Self {
        self.sync = policy;
        self
    }

    /// What recovery does with a damaged log (default:
    /// [`RecoveryMode::TolerateTornTail`]).
    pub fn recovery(mut self, mode: RecoveryMode) -> Self {
        self.recovery = mode;
        self
    }

    /// How often the cleanup worker removes expired entries (default: every minute;
    /// `None`: never in the background; expired entries are still never returned).
    pub fn cleanup_interval(mut self, every: Option<Duration>) -> Self {
        self.cleanup_interval = every;
        self
    }

    /// How many entries one cleanup run may examine (default: 10,000), which bounds
    /// the work (and latency) of one run.
    pub fn cleanup_budget(mut self, entries: usize) -> Self {
        self.cleanup_budget = entries;
        self
    }

    /// How often a snapshot is taken (default: every 5 minutes; `None`: only by the
    /// growth triggers, [`Store::snapshot`](crate::Store::snapshot) and close). Each
    /// snapshot is followed by truncation of the log it covers.
    pub fn snapshot_interval(mut self, every: Option<Duration>) -> Self {
        self.snapshot_interval = every;
        self
    }

    /// Deletes (and evictions) logged since the last snapshot that trigger the next
    /// one (default: 1000, the compaction threshold of the design documents; 0:
    /// never).
    pub fn compaction_threshold(mut self, deletes: u64) -> Self {
        self.compaction_threshold = deletes;
        self
    }

    /// Log bytes written since the last snapshot that trigger the next one (default:
    /// 64 MiB; `None`: never). Bounds disk use and recovery time. For a large data
    /// set the trigger waits longer, see
    /// [`snapshot_growth_percent`](Self::snapshot_growth_percent).
    pub fn snapshot_wal_bytes(mut self, bytes: Option<u64>) -> Self {
        self.snapshot_wal_bytes = bytes;
        self
    }

    /// How far the growth triggers scale with the data (default: 100 percent). A
    /// snapshot rewrites every live entry, so a fixed trigger would rewrite a large
    /// data set again and again for little new data: 1 GiB for every 64 MiB of log.
    /// With `percent`, the log-size trigger waits for at least `percent`% of the live
    /// bytes (key and value bytes, unless [`byte_count`](Self::byte_count) counts
    /// memory) in log bytes, and the compaction threshold for at least
    /// `percent`% of the live entries in deletes and evictions; the fixed figures
    /// stay the minimum. At 100 a snapshot writes at most about as many bytes as the
    /// log did since the last one, and recovery replays a log no larger than the data
    /// (as Redis's `auto-aof-rewrite-percentage`). 0: the fixed figures alone.
    pub fn snapshot_growth_percent(mut self, percent: u32) -> Self {
        self.snapshot_growth_percent = percent;
        self
    }

    /// The log bytes since the last snapshot that trigger the next one, with
    /// `live_bytes` of keys and values held; `None` if the trigger is off.
    pub(crate) fn wal_growth_trigger(&self, live_bytes: u64) -> Option<u64> {
        let fixed = self.snapshot_wal_bytes?;
        Some(fixed.max(scaled(live_bytes, self.snapshot_growth_percent)))
    }

    /// The deletes and evictions since the last snapshot that trigger the next one,
    /// with `live_entries` held; `None` if the threshold is off.
    pub(crate) fn compaction_trigger(&self, live_entries: u64) -> Option<u64> {
        let fixed = self.compaction_threshold;
        (fixed > 0).then(|| fixed.max(scaled(live_entries, self.snapshot_growth_percent)))
    }

    /// How many snapshot files are kept (default: 2, so a corrupt newest snapshot can
    /// fall back to the previous one). At least 1.
    pub fn snapshots_retained(mut self, count: usize) -> Self {
        self.snapshots_retained = count;
        self
    }

    /// Whether close takes a final snapshot when snapshots are enabled (default:
    /// true). Makes the next open fast; the log alone would also recover everything.
    pub fn snapshot_on_close(mut self, yes: bool) -> Self {
        self.snapshot_on_close = yes;
        self
    }

    /// Size of one log segment file, preallocated (default: kv-wal's default,
    /// 64 MiB). Opening a store reads the written part of the active segment (the
    /// never-written rest is skipped where the file system reports it as a hole); a
    /// record must fit in one segment.
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = Some(bytes);
        self
    }

    /// Largest key in bytes (default: 1 KiB, [`kv_core::DEFAULT_MAX_KEY_SIZE`]). Keys
    /// must also be non-empty. (This and the other settings of the in-memory map are
    /// kv-core's; see [`CacheOptions`](crate::CacheOptions) for their limits.)
    pub fn max_key_size(mut self, bytes: usize) -> Self {
        self.cache = self.cache.max_key_size(bytes);
        self
    }

    /// Largest value in bytes (default: 1 MiB, [`kv_core::DEFAULT_MAX_VALUE_SIZE`]).
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.cache = self.cache.max_value_size(bytes);
        self
    }

    /// Largest number of live entries (default: 1,000,000,
    /// [`kv_core::DEFAULT_MAX_ENTRIES`]). A write beyond it evicts per
    /// [`Options::eviction`] or fails with a store-full error. Recovery loads every
    /// acknowledged entry whatever this says, then evicts down to it (or, with no
    /// eviction, stays over it and refuses new keys): see
    /// [`RecoveryReport::limits`](crate::RecoveryReport::limits).
    pub fn max_entries(mut self, entries: usize) -> Self {
        self.cache = self.cache.max_entries(entries);
        self
    }

    /// Largest total of the entries' bytes, as [`byte_count`](Self::byte_count)
    /// counts them: by default their key and value bytes (default: none).
    pub fn max_bytes(mut self, bytes: Option<u64>) -> Self {
        self.cache = self.cache.max_bytes(bytes);
        self
    }

    /// What an entry counts for against [`max_bytes`](Self::max_bytes) and in the
    /// metrics' bytes: its key and value bytes (the default) or the memory it takes
    /// ([`ByteCount`](crate::ByteCount)). The snapshot trigger of
    /// [`snapshot_growth_percent`](Self::snapshot_growth_percent) scales with the same
    /// count.
    pub fn byte_count(mut self, count: crate::ByteCount) -> Self {
        self.cache = self.cache.byte_count(count);
        self
    }

    /// Number of shards of the in-memory map, a power of two (default: chosen by
    /// kv-core from the machine's parallelism, [`kv_core::default_shards`]).
    pub fn shards(mut self, shards: usize) -> Self {
        self.cache = self.cache.shards(shards);
        self
    }

    /// What happens when a limit is reached (default: [`EvictionPolicy::None`], the
    /// write fails). Evictions are logged, so recovery never brings an evicted key
    /// back.
    pub fn eviction(mut self, policy: EvictionPolicy) -> Self {
        self.cache = self.cache.eviction(policy);
        self
    }

    /// Every setting of the in-memory map at once (limits, eviction and its tuning,
    /// shards, callbacks), replacing those set so far; the clock stays the one of
    /// [`Options::clock`].
    pub fn cache(mut self, options: kv_core::Options) -> Self {
        self.cache = options.clock(Arc::clone(&self.clock));
        self
    }

    /// The clock for TTLs and record timestamps (default: the system clock). Tests
    /// pass a [`ManualClock`](crate::ManualClock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.cache = self.cache.clock(Arc::clone(&clock));
        self.clock = clock;
        self
    }

    /// Number of write stripes, a power of two (default: 1024). Writes to keys in the
    /// same stripe are serialized so the log and memory see them in the same order;
    /// more stripes mean fewer false conflicts.
    pub fn write_stripes(mut self, stripes: usize) -> Self {
        self.write_stripes = stripes;
        self
    }

    /// Called with every error of a background worker (default: none; such errors
    /// are also counted in the metrics and logged with `tracing`).
    pub fn on_error(mut self, f: impl Fn(&Error) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(f));
        self
    }

    /// Called after each eviction with the evicted entry, outside every lock (default:
    /// none). The eviction is logged whether or not a callback is set.
    pub fn on_evict(
        mut self,
        f: impl Fn(&crate::Entry, crate::EvictionCause) + Send + Sync + 'static,
    ) -> Self {
        self.cache = self.cache.on_evict(f);
        self
    }

    /// Called after each removal of an expired entry, outside every lock (default:
    /// none).
    pub fn on_expire(
        mut self,
        f: impl Fn(&crate::Entry, crate::ExpiryCause) + Send + Sync + 'static,
    ) -> Self {
        self.cache = self.cache.on_expire(f);
        self
    }

    /// Runs the log on the given storage instead of the data directory's files: the
    /// I/O seam of kv-wal, whose simulated storage injects faults and produces the
    /// disk a crash or power loss would leave. Test-only (cargo feature `sim`).
    #[cfg(feature = "sim")]
    pub fn wal_storage(mut self, storage: Arc<dyn kv_wal::Storage>) -> Self {
        self.wal_storage = Some(storage);
        self
    }

    /// Writes snapshots through the given I/O (kv-snapshot's seam; its simulated I/O
    /// injects failed fsyncs, failed renames and ENOSPC). Test-only (cargo feature
    /// `sim`).
    #[cfg(feature = "sim")]
    pub fn snapshot_io(mut self, io: Arc<dyn kv_snapshot::SnapshotIo>) -> Self {
        self.snapshot_io = Some(io);
        self
    }

    /// Whether background workers run at all (default: true). With `false`, cleanup,
    /// interval snapshots and growth-triggered snapshots happen only when asked for;
    /// interval sync of the log still runs. Useful for deterministic tests.
    pub fn background_workers(mut self, yes: bool) -> Self {
        self.background_workers = yes;
        self
    }

    /// The persistence mode in effect: the one set, else the default for whether a
    /// directory is given.
    pub fn persistence_mode(&self) -> PersistenceMode {
        match (self.persistence, &self.dir) {
            (Some(mode), _) => mode,
            (None, Some(_)) => PersistenceMode::WalAndSnapshots,
            (None, None) => PersistenceMode::None,
        }
    }

    /// Checks every option, returning [`Error::InvalidOption`] naming the first bad
    /// one. The in-memory map's own options (shards, limits) are checked again by
    /// kv-core when the store opens.
    pub fn validate(&self) -> Result<()> {
        fn bad(option: &'static str, reason: impl Into<String>) -> Result<()> {
            Err(Error::InvalidOption {
                option,
                reason: reason.into(),
            })
        }
        if self.persistence.is_none() && self.dir.is_none() {
            // Keeping nothing must be asked for: an Options without a directory is
            // more often a forgotten `dir` than a wish for a store that forgets.
            return bad(
                "dir",
                "no data directory given: set one with `Options::dir`, or ask for a store \
                 that keeps nothing with `Store::in_memory()` or \
                 `Options::persistence(PersistenceMode::None)`",
            );
        }
        let mode = self.persistence_mode();
        if mode != PersistenceMode::None && self.dir.is_none() {
            return bad(
                "dir",
                format!("persistence mode {mode:?} needs a data directory"),
            );
        }
        if mode == PersistenceMode::None && self.dir.is_some() {
            return bad(
                "dir",
                "an in-memory store (persistence None) takes no data directory",
            );
        }
        if let Some(dir) = &self.dir {
            if dir.as_os_str().is_empty() {
                return bad("dir", "must not be empty");
            }
        }
        if let SyncPolicy::Interval(every) = self.sync {
            if every.is_zero() {
                return bad("sync", "the interval must be greater than zero");
            }
        }
        if self.cleanup_interval.is_some_and(|d| d.is_zero()) {
            return bad(
                "cleanup_interval",
                "must be greater than zero (None disables it)",
            );
        }
        if self.cleanup_budget == 0 {
            return bad("cleanup_budget", "must be at least 1");
        }
        if self.snapshot_interval.is_some_and(|d| d.is_zero()) {
            return bad(
                "snapshot_interval",
                "must be greater than zero (None disables it)",
            );
        }
        if self.snapshot_wal_bytes == Some(0) {
            return bad(
                "snapshot_wal_bytes",
                "must be greater than zero (None disables it)",
            );
        }
        if self.snapshots_retained == 0 {
            return bad("snapshots_retained", "must be at least 1");
        }
        if let Some(size) = self.segment_size {
            if !(kv_wal::MIN_SEGMENT_SIZE..=kv_wal::MAX_SEGMENT_SIZE).contains(&size) {
                return bad(
                    "segment_size",
                    format!(
                        "must be from {} to {} bytes, got {size}",
                        kv_wal::MIN_SEGMENT_SIZE,
                        kv_wal::MAX_SEGMENT_SIZE
                    ),
                );
            }
        }
        // The map's own settings are kv-core's to judge.
        match self.cache.validate() {
            Ok(()) => {}
            Err(kv_core::Error::InvalidOption { option, reason }) => return bad(option, reason),
            Err(e) => return Err(e.into()),
        }
        if self.write_stripes == 0
            || !self.write_stripes.is_power_of_two()
            || self.write_stripes > 1 << 16
        {
            return bad(
                "write_stripes",
                format!(
                    "must be a power of two from 1 to 65536, got {}",
                    self.write_stripes
                ),
            );
        }
        Ok(())
    }
}

/// `percent`% of `n`, saturating.
fn scaled(n: u64, percent: u32) -> u64 {
    u64::try_from(u128::from(n) * u128::from(percent) / 100).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Options for a store that keeps nothing (valid unless changed).
    fn mem() -> Options {
        Options::new().persistence(PersistenceMode::None)
    }

    fn option_of(opts: Options) -> &'static str {
        match opts.validate() {
            Err(Error::InvalidOption { option, .. }) => option,
            other => panic!("expected an invalid option, got {other:?}"),
        }
    }

    #[test]
    fn defaults_need_a_directory_or_an_explicit_in_memory_mode() {
        let opts = Options::new();
        let e = opts.validate().unwrap_err();
        assert!(
            matches!(e, Error::InvalidOption { option: "dir", .. }),
            "{e}"
        );
        assert!(e.to_string().contains("Store::in_memory()"), "{e}");
        let opts = opts.persistence(PersistenceMode::None);
        opts.validate().unwrap();
        assert_eq!(opts.persistence_mode(), PersistenceMode::None);
        assert_eq!(opts.sync, SyncPolicy::Interval(Duration::from_secs(1)));
        assert_eq!(opts.cleanup_interval, Some(Duration::from_secs(60)));
        assert_eq!(opts.snapshot_interval, Some(Duration::from_secs(300)));
        assert_eq!(opts.compaction_threshold, 1000);
    }

    #[test]
    fn a_directory_defaults_to_wal_and_snapshots() {
        assert_eq!(
            Options::new().dir("x").persistence_mode(),
            PersistenceMode::WalAndSnapshots
        );
    }

    #[test]
    fn each_invalid_option_is_named() {
        assert_eq!(
            option_of(Options::new().persistence(PersistenceMode::WalOnly)),
            "dir"
        );
        assert_eq!(
            option_of(Options::new().dir("x").persistence(PersistenceMode::None)),
            "dir"
        );
        assert_eq!(
            option_of(mem().sync(SyncPolicy::Interval(Duration::ZERO))),
            "sync"
        );
        assert_eq!(
            option_of(mem().cleanup_interval(Some(Duration::ZERO))),
            "cleanup_interval"
        );
        assert_eq!(option_of(mem().cleanup_budget(0)), "cleanup_budget");
        assert_eq!(
            option_of(mem().snapshot_interval(Some(Duration::ZERO))),
            "snapshot_interval"
        );
        assert_eq!(
            option_of(mem().snapshot_wal_bytes(Some(0))),
            "snapshot_wal_bytes"
        );
        assert_eq!(option_of(mem().snapshots_retained(0)), "snapshots_retained");
        assert_eq!(option_of(mem().segment_size(0)), "segment_size");
        assert_eq!(option_of(mem().segment_size(100)), "segment_size");
        assert_eq!(option_of(mem().max_key_size(0)), "max_key_size");
        assert_eq!(option_of(mem().max_value_size(0)), "max_value_size");
        assert_eq!(option_of(mem().max_entries(0)), "max_entries");
        assert_eq!(option_of(mem().max_bytes(Some(0))), "max_bytes");
        assert_eq!(option_of(mem().shards(3)), "shards");
        assert_eq!(option_of(mem().write_stripes(1000)), "write_stripes");
    }

    #[test]
    fn the_error_message_names_the_option() {
        let err = mem().shards(6).validate().unwrap_err();
        assert!(err.to_string().contains("shards"), "{err}");
    }

    #[test]
    fn growth_triggers_scale_with_the_live_data_above_their_fixed_minimum() {
        let o = Options::new();
        assert_eq!(o.snapshot_growth_percent, 100);
        let mib = 1024 * 1024;
        // Small data: the fixed minimum.
        assert_eq!(o.wal_growth_trigger(10 * mib), Some(64 * mib));
        assert_eq!(o.compaction_trigger(10), Some(1000));
        // Large data: as much log as data, as many deletes as entries.
        assert_eq!(o.wal_growth_trigger(1024 * mib), Some(1024 * mib));
        assert_eq!(o.compaction_trigger(1_000_000), Some(1_000_000));
        let half = Options::new().snapshot_growth_percent(50);
        assert_eq!(half.wal_growth_trigger(1024 * mib), Some(512 * mib));
        let fixed = Options::new().snapshot_growth_percent(0);
        assert_eq!(fixed.wal_growth_trigger(1024 * mib), Some(64 * mib));
        assert_eq!(fixed.compaction_trigger(1_000_000), Some(1000));
        // Off stays off; huge figures saturate.
        let off = Options::new()
            .snapshot_wal_bytes(None)
            .compaction_threshold(0);
        assert_eq!(off.wal_growth_trigger(u64::MAX), None);
        assert_eq!(off.compaction_trigger(u64::MAX), None);
        let big = Options::new().snapshot_growth_percent(u32::MAX);
        assert_eq!(big.wal_growth_trigger(u64::MAX), Some(u64::MAX));
    }
}

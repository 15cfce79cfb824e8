//! [`Options`] with their documented defaults and validation, and [`EvictionPolicy`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::events::{ErrorCallback, EvictCallback, ExpireCallback};
use crate::header::MAX_KEY_LEN;
use crate::{Clock, Entry, Error, EvictionCause, ExpiryCause, SystemClock};

/// Default `max_key_size`: 1 KiB.
pub const DEFAULT_MAX_KEY_SIZE: usize = 1024;
/// Default `max_value_size`: 1 MiB.
pub const DEFAULT_MAX_VALUE_SIZE: usize = 1024 * 1024;
/// Default `max_entries`: one million.
pub const DEFAULT_MAX_ENTRIES: usize = 1_000_000;
/// Default `eviction_samples`: 5, as Redis's `maxmemory-samples`.
pub const DEFAULT_EVICTION_SAMPLES: usize = 5;
/// Default `eviction_samples` under [`EvictionPolicy::TinyLfu`]: 12. Its admission
/// filter gains from a victim closer to the true least-frequent entry (measured on the
/// hit-ratio traces of `cargo xtask bench`).
pub const DEFAULT_TINYLFU_SAMPLES: usize = 12;
/// Default `lfu_log_factor`: 10, as Redis's `lfu-log-factor`.
pub const DEFAULT_LFU_LOG_FACTOR: u32 = 10;
/// Default `lfu_decay`: one minute, as Redis's `lfu-decay-time`.
pub const DEFAULT_LFU_DECAY: Duration = Duration::from_secs(60);
/// Most shards a cache may have.
pub const MAX_SHARDS: usize = 1 << 16;

/// What a write into a full cache does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EvictionPolicy {
    /// Evict nothing: the write fails with [`Error::StoreFull`] and changes nothing.
    /// The default, as in the design documents.
    #[default]
    None,
    /// Evict the least recently read entry (approximated by sampling, to the second).
    Lru,
    /// Evict the least frequently read entry (approximated by sampling: the lowest
    /// logarithmic counter; counters decay with idleness, see `lfu_decay`).
    Lfu,
    /// Evict a random entry.
    Random,
    /// Evict the entry that expires soonest among the samples; entries that never
    /// expire go last (least recently read first among them).
    Ttl,
    /// LFU eviction behind an admission filter (TinyLFU, as in Caffeine); no Redis
    /// policy does this. Once the cache is full, a compact sketch counts every read
    /// of every key, present or not (at most 8 bytes per entry of capacity,
    /// allocated when the cache first fills); writes do not count. A write of a new key into the
    /// full cache compares the key's count with that of the victim LFU chose: the new
    /// entry takes the victim's place only if it was accessed more often lately;
    /// otherwise the write still succeeds but its own entry is evicted at once,
    /// reported as every eviction is (in [`WriteOutcome::evicted`](crate::WriteOutcome),
    /// to `on_evict`, in the metrics). One-time keys (a scan) so never push out the
    /// popular ones: the best hit ratio of these policies on skewed traces. The
    /// other side: once the cache is full, a key never asked for (not even by a
    /// `get` that missed, as cache-aside code does before it writes) does not get
    /// in, so a workload that only writes keeps the entries it had; use
    /// [`Lfu`](Self::Lfu) or [`Lru`](Self::Lru) there.
    TinyLfu,
}

impl fmt::Display for EvictionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EvictionPolicy::None => "none",
            EvictionPolicy::Lru => "lru",
            EvictionPolicy::Lfu => "lfu",
            EvictionPolicy::Random => "random",
            EvictionPolicy::Ttl => "ttl",
            EvictionPolicy::TinyLfu => "tinylfu",
        })
    }
}

/// What each entry counts for in [`Cache::bytes`](crate::Cache::bytes) and against
/// [`Options::max_bytes`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ByteCount {
    /// Its key and value bytes: the budget is the data itself. The default.
    #[default]
    KeyValue,
    /// The memory it takes: its one allocation (key and value behind a 48-byte
    /// header), as the system allocator rounds it (glibc's: 8 bytes of its own, to a
    /// multiple of 16, at least 32), plus its share of its shard's table (11 bytes):
    /// 66 to 80 bytes more than [`KeyValue`](Self::KeyValue). Then `max_bytes` bounds
    /// the memory the entries really hold, as Redis's `maxmemory` bounds Redis's: on
    /// glibc, for a million entries of 16-byte keys and values of 1 to 1,000 bytes,
    /// this came within 1% of the resident memory they added (`RssAnon` in
    /// `/proc/self/status`). Not counted: [`EvictionPolicy::TinyLfu`]'s sketch (up to
    /// 8 bytes per entry of capacity).
    Memory,
}

impl ByteCount {
    /// What an entry of `key_and_value` bytes counts for: to size a budget.
    ///
    /// ```
    /// use kv_core::ByteCount;
    ///
    /// // A 16-byte key with a 100-byte value:
    /// assert_eq!(ByteCount::KeyValue.of(116), 116);
    /// assert_eq!(ByteCount::Memory.of(116), 187);
    /// ```
    #[inline]
    pub fn of(self, key_and_value: usize) -> u64 {
        match self {
            ByteCount::KeyValue => key_and_value as u64,
            ByteCount::Memory => crate::entry::footprint(key_and_value),
        }
    }
}

/// How to build a [`Cache`](crate::Cache). Start from [`Options::default`] and chain
/// the setters (each says its default); [`Cache::new`](crate::Cache::new) validates
/// them and names the first invalid one. Nothing is silently adjusted.
///
/// ```
/// use kv_core::{Cache, EvictionPolicy, Options};
///
/// let cache = Cache::new(
///     Options::default()
///         .max_entries(10_000)
///         .eviction(EvictionPolicy::Lru),
/// )?;
/// assert_eq!(cache.max_entries(), 10_000);
/// # Ok::<(), kv_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Options {
    pub(crate) max_key_size: usize,
    pub(crate) max_value_size: usize,
    pub(crate) max_entries: usize,
    pub(crate) max_bytes: Option<u64>,
    pub(crate) byte_count: ByteCount,
    pub(crate) shards: usize,
    pub(crate) eviction: EvictionPolicy,
    /// `None`: the policy's default.
    pub(crate) eviction_samples: Option<usize>,
    pub(crate) lfu_log_factor: u32,
    pub(crate) lfu_decay: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) on_evict: Option<EvictCallback>,
    pub(crate) on_expire: Option<ExpireCallback>,
    pub(crate) on_error: Option<ErrorCallback>,
    /// The key hasher's seed, fixed by tests that replay a table layout; `None`
    /// (always, outside tests): random.
    pub(crate) hash_seed: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_key_size: DEFAULT_MAX_KEY_SIZE,
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            max_entries: DEFAULT_MAX_ENTRIES,
            max_bytes: None,
            byte_count: ByteCount::KeyValue,
            shards: default_shards(),
            eviction: EvictionPolicy::None,
            eviction_samples: None,
            lfu_log_factor: DEFAULT_LFU_LOG_FACTOR,
            lfu_decay: DEFAULT_LFU_DECAY,
            clock: Arc::new(SystemClock),
            on_evict: None,
            on_expire: None,
            on_error: None,
            hash_seed: None,
        }
    }
}

/// Four shards per available core, as a power of two, at most 256.
pub fn default_shards() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores * 4).next_power_of_two().min(256)
}

impl Options {
    /// Longest key in bytes: 1 to 65,535. Default 1 KiB ([`DEFAULT_MAX_KEY_SIZE`]).
    pub fn max_key_size(mut self, bytes: usize) -> Self {
        self.max_key_size = bytes;
        self
    }

    /// Longest value in bytes: at least 1. Default 1 MiB ([`DEFAULT_MAX_VALUE_SIZE`]).
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }

    /// Most entries the cache holds: 1 to `u32::MAX`. Entries that are expired but not
    /// yet reclaimed count until they are. Default 1,000,000 ([`DEFAULT_MAX_ENTRIES`]).
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = n;
        self
    }

    /// Budget for the bytes of all entries, as [`byte_count`](Self::byte_count)
    /// counts them (by default their key and value bytes); at least 1 when set.
    /// Default `None` (no budget).
    pub fn max_bytes(mut self, n: Option<u64>) -> Self {
        self.max_bytes = n;
        self
    }

    /// What an entry counts for in [`Cache::bytes`](crate::Cache::bytes) and against
    /// [`max_bytes`](Self::max_bytes): its key and value bytes, or the memory it
    /// takes. Default [`ByteCount::KeyValue`].
    pub fn byte_count(mut self, count: ByteCount) -> Self {
        self.byte_count = count;
        self
    }

    /// Number of shards, each with its own lock: a power of two from 1 to
    /// [`MAX_SHARDS`]. Default [`default_shards`]: four per available core, rounded up
    /// to a power of two, at most 256.
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = n;
        self
    }

    /// What a write into a full cache does. Default [`EvictionPolicy::None`].
    pub fn eviction(mut self, policy: EvictionPolicy) -> Self {
        self.eviction = policy;
        self
    }

    /// How many random entries of the writing shard an eviction samples, 1 to 1024;
    /// they are scored together with the shard's pool of up to 16 earlier candidates,
    /// as in Redis. A shard with no more entries than this is scanned whole (exact
    /// choice). Default 5 ([`DEFAULT_EVICTION_SAMPLES`]), as Redis; 12 under
    /// [`EvictionPolicy::TinyLfu`] ([`DEFAULT_TINYLFU_SAMPLES`]).
    pub fn eviction_samples(mut self, n: usize) -> Self {
        self.eviction_samples = Some(n);
        self
    }

    /// The samples per eviction: as set, or the policy's default.
    pub(crate) fn samples(&self) -> usize {
        self.eviction_samples.unwrap_or(match self.eviction {
            EvictionPolicy::TinyLfu => DEFAULT_TINYLFU_SAMPLES,
            _ => DEFAULT_EVICTION_SAMPLES,
        })
    }

    /// The LFU counter's logarithm factor, at most 1,000,000: higher means slower
    /// growth. Default 10 ([`DEFAULT_LFU_LOG_FACTOR`]).
    pub fn lfu_log_factor(mut self, factor: u32) -> Self {
        self.lfu_log_factor = factor;
        self
    }

    /// LFU counters lose one step per this much idle time: whole minutes, zero for no
    /// decay. Default one minute ([`DEFAULT_LFU_DECAY`]).
    pub fn lfu_decay(mut self, period: Duration) -> Self {
        self.lfu_decay = period;
        self
    }

    /// Where time comes from (tests inject a [`ManualClock`](crate::ManualClock)).
    /// Default [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Called after each eviction, outside every lock. Default none.
    pub fn on_evict(mut self, f: impl Fn(&Entry, EvictionCause) + Send + Sync + 'static) -> Self {
        self.on_evict = Some(Arc::new(f));
        self
    }

    /// Called after each removal of an expired entry, outside every lock. Default none.
    pub fn on_expire(mut self, f: impl Fn(&Entry, ExpiryCause) + Send + Sync + 'static) -> Self {
        self.on_expire = Some(Arc::new(f));
        self
    }

    /// Called with each error an operation returns, outside every lock. Default none.
    pub fn on_error(mut self, f: impl Fn(&Error) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(f));
        self
    }

    /// Fixes the key hasher's seed, so that a test replays the same table layout
    /// (and, with its thread's random stream seeded, the same evictions).
    #[cfg(test)]
    pub(crate) fn hash_seed(mut self, seed: u64) -> Self {
        self.hash_seed = Some(seed);
        self
    }

    /// Checks every option; the error names the first invalid one.
    pub fn validate(&self) -> Result<(), Error> {
        fn bad(option: &'static str, reason: String) -> Result<(), Error> {
            Err(Error::InvalidOption { option, reason })
        }
        if self.max_key_size == 0 || self.max_key_size > MAX_KEY_LEN {
            return bad(
                "max_key_size",
                format!("must be 1 to {MAX_KEY_LEN}, got {}", self.max_key_size),
            );
        }
        if self.max_value_size == 0 {
            return bad("max_value_size", "must be at least 1, got 0".into());
        }
        if self.max_entries == 0 || self.max_entries > u32::MAX as usize {
            return bad(
                "max_entries",
                format!("must be 1 to {}, got {}", u32::MAX, self.max_entries),
            );
        }
        if self.max_bytes == Some(0) {
            return bad("max_bytes", "must be at least 1 when set, got 0".into());
        }
        if !self.shards.is_power_of_two() || self.shards > MAX_SHARDS {
            return bad(
                "shards",
                format!(
                    "must be a power of two from 1 to {MAX_SHARDS}, got {}",
                    self.shards
                ),
            );
        }
        if self.samples() == 0 || self.samples() > 1024 {
            return bad(
                "eviction_samples",
                format!("must be 1 to 1024, got {}", self.samples()),
            );
        }
        if self.lfu_log_factor > 1_000_000 {
            return bad(
                "lfu_log_factor",
                format!("must be at most 1000000, got {}", self.lfu_log_factor),
            );
        }
        if self.lfu_decay.as_secs() % 60 != 0 || self.lfu_decay.subsec_nanos() != 0 {
            return bad(
                "lfu_decay",
                format!("must be whole minutes, got {:?}", self.lfu_decay),
            );
        }
        if self.lfu_decay.as_secs() / 60 > u64::from(u32::MAX) {
            return bad("lfu_decay", format!("too long: {:?}", self.lfu_decay));
        }
        Ok(())
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("max_key_size", &self.max_key_size)
            .field("max_value_size", &self.max_value_size)
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .field("byte_count", &self.byte_count)
            .field("shards", &self.shards)
            .field("eviction", &self.eviction)
            .field("eviction_samples", &self.samples())
            .field("lfu_log_factor", &self.lfu_log_factor)
            .field("lfu_decay", &self.lfu_decay)
            .field("on_evict", &self.on_evict.is_some())
            .field("on_expire", &self.on_expire.is_some())
            .field("on_error", &self.on_error.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option_of(o: Options) -> &'static str {
        match o.validate() {
            Err(Error::InvalidOption { option, .. }) => option,
            other => panic!("expected InvalidOption, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_the_documented_ones_and_valid() {
        let o = Options::default();
        assert_eq!(o.max_key_size, 1024);
        assert_eq!(o.max_value_size, 1 << 20);
        assert_eq!(o.max_entries, 1_000_000);
        assert_eq!(o.max_bytes, None);
        assert_eq!(o.eviction, EvictionPolicy::None);
        assert_eq!(o.samples(), 5);
        assert_eq!(o.clone().eviction(EvictionPolicy::TinyLfu).samples(), 12);
        assert_eq!(
            o.clone()
                .eviction_samples(3)
                .eviction(EvictionPolicy::TinyLfu)
                .samples(),
            3
        );
        assert!(o.shards.is_power_of_two() && o.shards <= 256);
        o.validate().unwrap();
    }

    #[test]
    fn each_invalid_option_is_named() {
        let d = Options::default;
        assert_eq!(option_of(d().max_key_size(0)), "max_key_size");
        assert_eq!(option_of(d().max_key_size(70_000)), "max_key_size");
        assert_eq!(option_of(d().max_value_size(0)), "max_value_size");
        assert_eq!(option_of(d().max_entries(0)), "max_entries");
        assert_eq!(
            option_of(d().max_entries(u32::MAX as usize + 1)),
            "max_entries"
        );
        assert_eq!(option_of(d().max_bytes(Some(0))), "max_bytes");
        assert_eq!(option_of(d().shards(3)), "shards");
        assert_eq!(option_of(d().shards(0)), "shards");
        assert_eq!(option_of(d().shards(1 << 17)), "shards");
        assert_eq!(option_of(d().eviction_samples(0)), "eviction_samples");
        assert_eq!(option_of(d().lfu_log_factor(u32::MAX)), "lfu_log_factor");
        assert_eq!(
            option_of(d().lfu_decay(Duration::from_secs(90))),
            "lfu_decay"
        );
    }

    #[test]
    fn policies_print_their_names() {
        assert_eq!(EvictionPolicy::Lfu.to_string(), "lfu");
        assert_eq!(EvictionPolicy::default().to_string(), "none");
    }
}

//! [`Cache`]: the sharded map itself, its construction and its read, delete and
//! expiry operations. Writes live in `write.rs`, batches in `batch.rs`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::entry::{header, key_of, same, size_of, Raw};
use crate::events::Pending;
use crate::eviction::Evictor;
use crate::hash::{shard_of, KeyHasher};
use crate::header::LfuParams;
use crate::metrics::Metrics;
use crate::shard::Shard;
use crate::{
    Entry, EntryInfo, Error, EvictionPolicy, ExpiryCause, MetricsSnapshot, Options, Result,
    StoreLimit, Timestamp, Ttl, Value,
};

/// A concurrent in-memory key-value cache: keys and values are bytes, entries carry
/// metadata and an optional expiry, limits are enforced by an eviction policy.
///
/// `Cache` is a handle: cloning it is a reference-count increment, and every clone
/// reaches the same entries (as with moka's caches). It is `Send + Sync` and every
/// method takes `&self`. The map is split into shards, each behind its own
/// reader-writer lock; a read takes its shard's lock shared, copies out a [`Value`]
/// handle and lets go, so no lock is held while the caller uses the value. Callbacks
/// run after every lock is released.
///
/// ```
/// use kv_core::{Cache, Options};
///
/// let cache = Cache::new(Options::default())?;
/// let other = cache.clone(); // the same cache
/// cache.set(b"user:1", b"Alice")?;
/// assert_eq!(other.get(b"user:1").unwrap(), b"Alice");
/// assert!(other.delete(b"user:1"));
/// assert_eq!(cache.get(b"user:1"), None);
/// # Ok::<(), kv_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Cache {
    pub(crate) inner: Arc<Inner>,
}

/// What every handle of one cache shares.
pub(crate) struct Inner {
    pub(crate) shards: Box<[CachePadded<Shard>]>,
    pub(crate) mask: usize,
    pub(crate) hasher: KeyHasher,
    pub(crate) opts: Options,
    pub(crate) evictor: Evictor,
    pub(crate) len: CachePadded<AtomicUsize>,
    pub(crate) bytes: CachePadded<AtomicU64>,
    pub(crate) metrics: Metrics,
    /// The shard `purge_expired` works on next.
    pub(crate) purge_shard: AtomicUsize,
    /// Conditional writes refused (rare: one shared counter).
    pub(crate) refused: AtomicU64,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("len", &self.len())
            .field("options", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// A new, empty cache; fails with [`Error::InvalidOption`] naming the first invalid
    /// option.
    pub fn new(options: Options) -> Result<Cache> {
        options.validate()?;
        let evictor = Evictor::new(
            options.eviction,
            options.samples(),
            LfuParams::new(
                options.lfu_log_factor,
                (options.lfu_decay.as_secs() / 60) as u32,
            ),
        );
        Ok(Cache {
            inner: Arc::new(Inner {
                shards: (0..options.shards)
                    .map(|_| CachePadded::new(Shard::default()))
                    .collect(),
                mask: options.shards - 1,
                hasher: options
                    .hash_seed
                    .map_or_else(KeyHasher::default, KeyHasher::seeded),
                evictor,
                opts: options,
                len: CachePadded::new(AtomicUsize::new(0)),
                bytes: CachePadded::new(AtomicU64::new(0)),
                metrics: Metrics::new(),
                purge_shard: AtomicUsize::new(0),
                refused: AtomicU64::new(0),
            }),
        })
    }

    /// Most entries the cache holds ([`Options::max_entries`]).
    pub fn max_entries(&self) -> usize {
        self.inner.opts.max_entries
    }

    /// The budget for [`bytes`](Self::bytes), if any ([`Options::max_bytes`]).
    pub fn max_bytes(&self) -> Option<u64> {
        self.inner.opts.max_bytes
    }

    /// What a write into the full cache does ([`Options::eviction`]).
    pub fn eviction_policy(&self) -> EvictionPolicy {
        self.inner.opts.eviction
    }

    /// The current time on the cache's clock.
    pub fn now(&self) -> Timestamp {
        self.inner.opts.clock.now()
    }

    /// Checks a key and value against the size limits, as every write does first.
    pub(crate) fn validate(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.validate_key(key)?;
        if value.len() > self.inner.opts.max_value_size {
            return Err(Error::ValueTooLarge {
                size: value.len(),
                limit: self.inner.opts.max_value_size,
            });
        }
        Ok(())
    }

    /// Checks a key against this cache's limits (non-empty, at most `max_key_size`).
    pub(crate) fn validate_key(&self, key: &[u8]) -> Result<()> {
        if key.is_empty() {
            return Err(Error::EmptyKey);
        }
        if key.len() > self.inner.opts.max_key_size {
            return Err(Error::KeyTooLarge {
                size: key.len(),
                limit: self.inner.opts.max_key_size,
            });
        }
        Ok(())
    }

    /// Reports `e` to `on_error`, then returns it.
    pub(crate) fn fail<T>(&self, e: Error) -> Result<T> {
        if let Some(cb) = &self.inner.opts.on_error {
            cb(&e);
        }
        Err(e)
    }

    pub(crate) fn shard(&self, hash: u64) -> &Shard {
        &self.inner.shards[shard_of(hash, self.inner.mask)]
    }

    /// Runs the callbacks gathered under locks. Call only with no lock held.
    pub(crate) fn dispatch(&self, pending: Pending) {
        if pending.is_empty() {
            return;
        }
        if let Some(cb) = &self.inner.opts.on_evict {
            for (e, cause) in &pending.evicted {
                cb(e, *cause);
            }
        }
        if let Some(cb) = &self.inner.opts.on_expire {
            for (e, cause) in &pending.expired {
                cb(e, *cause);
            }
        }
    }

    /// Takes `entries` entries and `bytes` bytes out of the limits, or says which limit
    /// is in the way.
    pub(crate) fn try_reserve(&self, entries: usize, bytes: u64) -> Result<(), StoreLimit> {
        let max = self.inner.opts.max_entries;
        if entries > 0 {
            self.inner
                .len
                .fetch_update(Relaxed, Relaxed, |n| {
                    (n + entries <= max).then_some(n + entries)
                })
                .map_err(|_| StoreLimit::Entries(max))?;
        }
        if bytes > 0 {
            match self.inner.opts.max_bytes {
                None => {
                    self.inner.bytes.fetch_add(bytes, Relaxed);
                }
                Some(budget) => {
                    let r = self.inner.bytes.fetch_update(Relaxed, Relaxed, |b| {
                        (b + bytes <= budget).then_some(b + bytes)
                    });
                    if r.is_err() {
                        if entries > 0 {
                            self.inner.len.fetch_sub(entries, Relaxed);
                        }
                        return Err(StoreLimit::Bytes(budget));
                    }
                }
            }
        }
        Ok(())
    }

    /// What `raw` counts for against `max_bytes` ([`Options::byte_count`]).
    #[inline]
    pub(crate) fn charge(&self, raw: &Raw) -> u64 {
        self.charge_len(size_of(raw))
    }

    /// What an entry of `key_and_value` bytes counts for against `max_bytes`.
    #[inline]
    pub(crate) fn charge_len(&self, key_and_value: usize) -> u64 {
        self.inner.opts.byte_count.of(key_and_value)
    }

    /// Gives back what entries took from the limits.
    pub(crate) fn release(&self, entries: usize, bytes: u64) {
        if entries > 0 {
            self.inner.len.fetch_sub(entries, Relaxed);
        }
        if bytes > 0 {
            self.inner.bytes.fetch_sub(bytes, Relaxed);
        }
    }

    /// The stored entry for `key`, expired or not, without touching it, and its
    /// shard's logical tick.
    #[inline(always)]
    fn lookup(&self, hash: u64, key: &[u8]) -> Option<(Raw, u8)> {
        let st = self.shard(hash).read();
        st.get(hash, key).map(|raw| (raw.clone(), st.tick))
    }

    /// Removes `raw` if it is still the entry stored for its key, as an expiration.
    pub(crate) fn expire_entry(&self, hash: u64, raw: &Raw, cause: ExpiryCause) {
        let removed = {
            let mut st = self.shard(hash).write();
            match st.find(hash, key_of(raw)) {
                Some(pos) if same(st.at(pos), raw) => {
                    let r = st.remove_at(&self.inner.hasher, pos);
                    self.release(1, self.charge(&r));
                    Some(r)
                }
                _ => None,
            }
        };
        if let Some(r) = removed {
            self.inner.metrics.local().expirations(1);
            if let Some(cb) = &self.inner.opts.on_expire {
                cb(&Entry::new(r), cause);
            }
        }
    }

    /// The live entry for `key` (an expired one is removed on the way), untouched.
    pub(crate) fn live(&self, key: &[u8]) -> Option<Raw> {
        self.live_hashed(self.inner.hasher.hash(key), key)
    }

    /// [`live`](Self::live) with the key's hash already computed.
    pub(crate) fn live_hashed(&self, hash: u64, key: &[u8]) -> Option<Raw> {
        let (raw, _) = self.lookup(hash, key)?;
        if header(&raw).is_expired(self.now()) {
            self.expire_entry(hash, &raw, ExpiryCause::Access);
            return None;
        }
        Some(raw)
    }

    /// A read: the live entry for `key`, touched and counted as a hit or a miss.
    #[inline]
    fn read(&self, key: &[u8]) -> Option<Raw> {
        self.read_hashed(self.inner.hasher.hash(key), key)
    }

    /// [`read`](Self::read) with the key's hash already computed.
    ///
    /// The hot path of the crate; the rare outcomes (a miss, an expired entry) are
    /// out of line.
    #[inline]
    pub(crate) fn read_hashed(&self, hash: u64, key: &[u8]) -> Option<Raw> {
        self.inner.evictor.admission.record(hash);
        let Some((raw, tick)) = self.lookup(hash, key) else {
            return self.read_missed();
        };
        let h = header(&raw);
        // Only an entry that can expire needs the exact time; the access bookkeeping
        // keeps whole seconds, for which the clock's cheap recent time will do.
        let now = if h.expires_at().is_some() {
            let now = self.now();
            if h.is_expired(now) {
                return self.read_expired(hash, &raw);
            }
            now
        } else {
            self.inner.opts.clock.recent()
        };
        h.touch(now, tick, self.inner.evictor.touch_params());
        self.inner.metrics.local().hits(1);
        Some(raw)
    }

    /// A read that found nothing.
    #[cold]
    fn read_missed(&self) -> Option<Raw> {
        self.inner.metrics.local().misses(1);
        None
    }

    /// A read that found `raw` expired: a miss, and the entry goes.
    #[cold]
    fn read_expired(&self, hash: u64, raw: &Raw) -> Option<Raw> {
        self.inner.metrics.local().misses(1);
        self.expire_entry(hash, raw, ExpiryCause::Access);
        None
    }

    /// The value stored for `key`, if there is a live one. Counts a hit or a miss and
    /// records the access (for LRU/LFU and [`EntryInfo`]). Never returns an expired
    /// value; finding one removes it.
    pub fn get(&self, key: &[u8]) -> Option<Value> {
        self.read(key).map(Value::new)
    }

    /// Like [`get`](Self::get), but the whole entry with its metadata.
    pub fn get_entry(&self, key: &[u8]) -> Option<Entry> {
        self.read(key).map(Entry::new)
    }

    /// Whether a live entry exists for `key`. Not counted as a read.
    pub fn exists(&self, key: &[u8]) -> bool {
        self.live(key).is_some()
    }

    /// The metadata of `key`'s live entry. Not counted as a read.
    pub fn info(&self, key: &[u8]) -> Option<EntryInfo> {
        self.live(key).map(|r| Entry::new(r).info())
    }

    /// How long `key` has to live. Not counted as a read.
    pub fn ttl(&self, key: &[u8]) -> Ttl {
        let Some(raw) = self.live(key) else {
            return Ttl::Missing;
        };
        match header(&raw).expires_at() {
            None => Ttl::Persistent,
            Some(at) => Ttl::Remaining(at.saturating_duration_since(self.now())),
        }
    }

    /// Removes `key`'s entry and returns it, if there was a live one.
    pub fn remove(&self, key: &[u8]) -> Option<Entry> {
        self.remove_where(key, |_| true)
    }

    /// Removes `key`; `true` if there was a live entry.
    pub fn delete(&self, key: &[u8]) -> bool {
        self.remove(key).is_some()
    }

    /// Removes `key` only if its live entry has exactly `version`; `true` if it did.
    pub(crate) fn remove_if_version(&self, key: &[u8], version: u64) -> bool {
        self.remove_where(key, |raw| header(raw).version() == version)
            .is_some()
    }

    fn remove_where(&self, key: &[u8], pred: impl Fn(&Raw) -> bool) -> Option<Entry> {
        let hash = self.inner.hasher.hash(key);
        let now = self.now();
        let (removed, expired) = {
            let mut st = self.shard(hash).write();
            let pos = st.find(hash, key)?;
            let raw = st.at(pos);
            let expired = header(raw).is_expired(now);
            if !expired && !pred(raw) {
                return None;
            }
            let r = st.remove_at(&self.inner.hasher, pos);
            self.release(1, self.charge(&r));
            (r, expired)
        };
        let counters = self.inner.metrics.local();
        if expired {
            counters.expirations(1);
            if let Some(cb) = &self.inner.opts.on_expire {
                cb(&Entry::new(removed), ExpiryCause::Access);
            }
            return None;
        }
        counters.deletes(1);
        Some(Entry::new(removed))
    }

    /// Sets (`Some`) or clears (`None`) the absolute expiry of `key`'s live entry,
    /// without changing its value, version or update time. `true` if the key was
    /// there. An instant not after now makes the entry expired at once.
    pub fn expire(&self, key: &[u8], expires_at: Option<Timestamp>) -> bool {
        let hash = self.inner.hasher.hash(key);
        let now = self.now();
        let expired = {
            let st = self.shard(hash).write();
            let Some(pos) = st.find(hash, key) else {
                return false;
            };
            let raw = st.at(pos);
            if header(raw).is_expired(now) {
                raw.clone()
            } else {
                header(raw).set_expires_at(expires_at);
                return true;
            }
        };
        self.expire_entry(hash, &expired, ExpiryCause::Access);
        false
    }

    /// Makes `key` expire `ttl` from now. `true` if the key was there.
    pub fn expire_in(&self, key: &[u8], ttl: Duration) -> bool {
        self.expire(key, Some(self.now().saturating_add(ttl)))
    }

    /// Makes `key` never expire. `true` if the key was there.
    pub fn persist(&self, key: &[u8]) -> bool {
        self.expire(key, None)
    }

    /// Number of entries, including expired ones that no read or purge has removed
    /// yet (what counts against `max_entries`).
    pub fn len(&self) -> usize {
        self.inner.len.load(Relaxed)
    }

    /// Whether [`len`](Self::len) is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes the entries count for against `max_bytes`: their key and value bytes,
    /// or the memory they take, as [`Options::byte_count`] says.
    pub fn bytes(&self) -> u64 {
        self.inner.bytes.load(Relaxed)
    }

    /// Removes every entry, one shard at a time (no callbacks, not counted as
    /// deletes). Writes running at the same time may survive it.
    pub fn clear(&self) {
        for shard in self.inner.shards.iter() {
            let taken = shard.write().take_all();
            let bytes: u64 = taken.iter().map(|r| self.charge(r)).sum();
            self.release(taken.len(), bytes);
            drop(taken);
        }
    }

    /// The counters now.
    pub fn metrics(&self) -> MetricsSnapshot {
        let mut m = self
            .inner
            .metrics
            .snapshot(self.len() as u64, self.inner.bytes.load(Relaxed));
        m.refused = self.inner.refused.load(Relaxed);
        m
    }
}

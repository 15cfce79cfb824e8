//! Storage hooks: what a storage layer such as kv-store needs from the map and a
//! cache user needs none of. Writes with exact metadata (the log's sequence number as
//! version, recovered times), batches, recovery's unchecked inserts and expiries,
//! bringing a recovered map within its limits, and walking the map shard by shard.
//!
//! ```
//! use kv_core::hooks::Write;
//! use kv_core::{Cache, Options, Timestamp};
//!
//! let cache = Cache::new(Options::default().max_entries(1))?;
//! let hooks = cache.hooks();
//! // Recovery restores entries exactly as they were, whatever the limits say ...
//! let exact = Write::default().version(41).created(Timestamp::from_millis(5_000));
//! hooks.insert_unchecked(b"a", b"1", exact)?;
//! hooks.insert_unchecked(b"b", b"2", Write::default().version(42))?;
//! assert_eq!(cache.len(), 2);
//! assert_eq!(hooks.peek(b"a").map(|e| e.version()), Some(41));
//! // ... and then the cache is brought within them (no eviction policy here: the
//! // cache stays over its limit and refuses new keys until deletes make room).
//! assert!(hooks.evict_to_limits().is_empty());
//! assert!(cache.set(b"c", b"3").is_err());
//! # Ok::<(), kv_core::Error>(())
//! ```

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::entry::{header, key_of, same, Raw};
use crate::events::Pending;
use crate::header::MAX_KEY_LEN;
use crate::random::random_below;
use crate::{Cache, Entry, Error, EvictionCause, Result, Timestamp, WriteOutcome};

pub use crate::atomic::InClosure;
pub use crate::batch::{BatchOp, BatchOutcome};
pub use crate::bulk::BulkPut;
pub use crate::write::{Access, Write};

/// The decisions of the atomic updates: one pure function per operation, from the
/// key's live entry to what to do ([`Decision`](decide::Decision)). [`Cache`] runs
/// them under its shard lock; a storage layer runs them under its own per-key lock
/// and logs the outcome before applying it, so both decide alike.
pub mod decide {
    pub use crate::decide::{append, delete, expire, incr, incr_float, set, update};
    pub use crate::decide::{Current, Decision};
}

/// The storage hooks of one [`Cache`], from [`Cache::hooks`]: for a storage layer
/// such as kv-store, which logs each change before applying it and rebuilds the map
/// at recovery. A cache user needs none of this.
#[derive(Clone, Copy, Debug)]
pub struct Hooks<'a> {
    pub(crate) cache: &'a Cache,
}

impl Cache {
    /// The storage hooks (see [`Hooks`]); a cache user needs none of them.
    pub fn hooks(&self) -> Hooks<'_> {
        Hooks { cache: self }
    }
}

impl Hooks<'_> {
    /// Checks a key and value against the size limits, as every write does first
    /// (kv-store checks before logging a write).
    pub fn validate(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.cache.validate(key, value)
    }

    /// Checks a key against the limits (non-empty, at most `max_key_size`) without
    /// touching the map: for deletes and expiry changes checked before logging.
    pub fn validate_key(&self, key: &[u8]) -> Result<()> {
        self.cache.validate_key(key)
    }

    /// Stores `value` under `key` with explicit metadata (see [`Write`]). Limits hold
    /// as for [`Cache::set`]: the policy evicts to make room, or the write fails with
    /// [`Error::StoreFull`] and changes nothing. Counted as a set.
    pub fn insert(&self, key: &[u8], value: &[u8], write: Write) -> Result<WriteOutcome> {
        self.cache.insert(key, value, write)
    }

    /// Applies `ops` in order, atomically with respect to readers: all involved
    /// shards are write-locked (in index order) before the first change and released
    /// after the last. Every op is validated first, and room is made for the net
    /// effect first: an invalid op, or a full cache that may not evict, fails the
    /// whole batch with nothing changed. Evictions never take the batch's own keys.
    pub fn apply_batch(&self, ops: &[BatchOp<'_>]) -> Result<BatchOutcome> {
        self.cache.apply_batch(ops)
    }

    /// The expiry of a write with time to live `ttl` made now, on the cache's clock,
    /// as [`Cache::set_with_ttl`] computes it: [`Error::InvalidTtl`] for a TTL under
    /// one millisecond. A storage layer resolves its TTLs here so that both refuse
    /// alike.
    pub fn expiry_after(&self, ttl: Duration) -> Result<Timestamp> {
        crate::write::expiry_after(self.cache.now(), ttl)
    }

    /// Removes `key` only if its live entry has exactly `version`; `true` if it did.
    /// kv-store replays a logged eviction with it: a newer write must survive.
    pub fn remove_if_version(&self, key: &[u8], version: u64) -> bool {
        self.cache.remove_if_version(key, version)
    }

    /// `key`'s live entry, without counting a read or recording an access; `None` if
    /// absent or expired (an expired entry stays where it is).
    pub fn peek(&self, key: &[u8]) -> Option<Entry> {
        // Only an entry with an expiry needs the time.
        self.peek_any(key)
            .filter(|e| e.expires_at().is_none() || !e.is_expired_at(self.cache.now()))
    }

    /// As [`peek`](Self::peek), but an expired entry not yet reclaimed is returned too
    /// (recovery: a later record may give it a new expiry).
    pub fn peek_any(&self, key: &[u8]) -> Option<Entry> {
        let hash = self.cache.inner.hasher.hash(key);
        let st = self.cache.shard(hash).read();
        st.get(hash, key).map(|raw| Entry::new(raw.clone()))
    }

    /// Recovery's insert: stores `value` under `key` with exactly the metadata of
    /// `write`, replacing any entry of the key (expired or not), with no limit check
    /// (neither `max_entries` and `max_bytes` nor the key and value size options: a
    /// recovered entry was accepted once), no eviction, no callbacks and no metrics.
    /// Follow a recovery with [`evict_to_limits`](Self::evict_to_limits).
    ///
    /// Fails only for a key no entry can hold: empty, or longer than 65,535 bytes.
    pub fn insert_unchecked(&self, key: &[u8], value: &[u8], write: Write) -> Result<()> {
        if key.is_empty() {
            return Err(Error::EmptyKey);
        }
        if key.len() > MAX_KEY_LEN {
            return Err(Error::KeyTooLarge {
                size: key.len(),
                limit: MAX_KEY_LEN,
            });
        }
        let inner = &self.cache.inner;
        let hash = inner.hasher.hash(key);
        let now = self.cache.now();
        let mut raw = write.prebuild(key, value, now);
        let size = self.cache.charge(&raw);
        let old = {
            let mut st = self.cache.shard(hash).write();
            let found = st.find(hash, key);
            // An expired entry's creation time is not kept, as in `insert`.
            let live = found.filter(|&pos| !header(st.at(pos)).is_expired(now));
            st.finish_entry(&mut raw, live, &write, now);
            if let Some(a) = write.access {
                header(&raw).restore_access(a.accessed, a.count, a.lfu);
            }
            match found {
                Some(pos) => Some(st.replace(pos, raw)),
                None => {
                    st.push(&inner.hasher, hash, raw);
                    None
                }
            }
        };
        match &old {
            Some(old) => {
                inner.bytes.fetch_add(size, Relaxed);
                inner.bytes.fetch_sub(self.cache.charge(old), Relaxed);
            }
            None => {
                inner.len.fetch_add(1, Relaxed);
                inner.bytes.fetch_add(size, Relaxed);
            }
        }
        Ok(())
    }

    /// The access bookkeeping of `entry`, for a snapshot to keep (see [`Access`]).
    pub fn access_of(&self, entry: &Entry) -> Access {
        let (accessed, count, lfu) = header(entry.raw()).access_state();
        Access {
            accessed,
            count,
            lfu,
        }
    }

    /// Recovery's delete: removes `key`'s entry, expired or not; `true` if it had one.
    /// No callbacks, no metrics.
    pub fn remove_unchecked(&self, key: &[u8]) -> bool {
        self.remove_unchecked_where(key, |_| true)
    }

    /// Recovery's eviction: removes `key`'s entry, expired or not, only if it has
    /// exactly `version`; `true` if it did. No callbacks, no metrics. (A replayed
    /// `Evict` record names the version that was live when it was logged; an entry of
    /// another version, even one that has expired since, is a newer write and stays.)
    pub fn remove_version_unchecked(&self, key: &[u8], version: u64) -> bool {
        self.remove_unchecked_where(key, |raw| header(raw).version() == version)
    }

    fn remove_unchecked_where(&self, key: &[u8], pred: impl Fn(&Raw) -> bool) -> bool {
        let inner = &self.cache.inner;
        let hash = inner.hasher.hash(key);
        let removed = {
            let mut st = self.cache.shard(hash).write();
            let Some(pos) = st.find(hash, key) else {
                return false;
            };
            if !pred(st.at(pos)) {
                return false;
            }
            st.remove_at(&inner.hasher, pos)
        };
        self.cache.release(1, self.cache.charge(&removed));
        // The entry's memory is freed here, with no lock held.
        drop(removed);
        true
    }

    /// Recovery's expire: sets (`Some`) or clears (`None`) the expiry of `key`'s
    /// entry, expired or not, without changing anything else. `true` if the key had
    /// an entry. No callbacks, no metrics.
    pub fn set_expiry_unchecked(&self, key: &[u8], expires_at: Option<Timestamp>) -> bool {
        let hash = self.cache.inner.hasher.hash(key);
        let st = self.cache.shard(hash).write();
        match st.find(hash, key) {
            Some(pos) => {
                header(st.at(pos)).set_expires_at(expires_at);
                true
            }
            None => false,
        }
    }

    /// Evicts by the eviction policy until the cache is within `max_entries` and
    /// `max_bytes`, and returns the evicted entries (recovery's last step, after the
    /// recovered entries went in unchecked). Each victim is chosen in the fullest
    /// shard, by the policy's sampling as for a write. Each is counted as an eviction and
    /// reported to `on_evict` (after every lock is released), like the evictions of a
    /// write. With [`EvictionPolicy::None`](crate::EvictionPolicy::None) nothing is
    /// evicted: the cache stays over its limit, refusing new keys with
    /// [`Error::StoreFull`] until deletes bring it under.
    ///
    /// Locks every shard (in index order) while it works.
    pub fn evict_to_limits(&self) -> Vec<Entry> {
        let cache = self.cache;
        let inner = &cache.inner;
        let over = || {
            if inner.len.load(Relaxed) > inner.opts.max_entries {
                Some(EvictionCause::Entries)
            } else {
                inner
                    .opts
                    .max_bytes
                    .filter(|&b| inner.bytes.load(Relaxed) > b)
                    .map(|_| EvictionCause::Bytes)
            }
        };
        let mut evicted = Vec::new();
        let mut pending = Pending::default();
        if over().is_none() {
            return evicted;
        }
        let now = cache.now();
        {
            let mut guards: Vec<_> = inner.shards.iter().map(|s| s.write()).collect();
            while let Some(cause) = over() {
                // From the fullest shard: sampling there approximates the policy's
                // choice over the whole cache.
                let Some(st) = guards.iter_mut().max_by_key(|g| g.len()) else {
                    break;
                };
                let Some(pos) = inner.evictor.pick(st, &inner.hasher, now, &|_| false) else {
                    break; // no policy, or nothing left to evict
                };
                let raw = st.remove_at(&inner.hasher, pos);
                cache.release(1, cache.charge(&raw));
                inner.metrics.local().evictions(1);
                let entry = Entry::new(raw);
                if inner.opts.on_evict.is_some() {
                    pending.evicted.push((entry.clone(), cause));
                }
                evicted.push(entry);
            }
        }
        cache.dispatch(pending);
        evicted
    }

    /// Removes every expired entry, with no callbacks and no metrics (recovery's last
    /// step: entries that expired while the store was closed). Returns how many went.
    pub fn drop_expired(&self) -> u64 {
        let inner = &self.cache.inner;
        let now = self.cache.now();
        let mut dropped = 0;
        for shard in inner.shards.iter() {
            let mut st = shard.write();
            let expired: Vec<Raw> = st
                .iter()
                .filter(|r| header(r).is_expired(now))
                .cloned()
                .collect();
            for raw in &expired {
                let key = key_of(raw);
                if let Some(pos) = st.find(inner.hasher.hash(key), key) {
                    if same(st.at(pos), raw) {
                        let r = st.remove_at(&inner.hasher, pos);
                        self.cache.release(1, self.cache.charge(&r));
                        dropped += 1;
                    }
                }
            }
            drop(st);
            // The allocations are freed here, with no lock held.
            drop(expired);
        }
        dropped
    }

    /// How many shards the cache has (see [`shard_entries`](Self::shard_entries)).
    pub fn shard_count(&self) -> usize {
        self.cache.shard_count()
    }

    /// The live entries of shard `shard` (none if out of range), as owned handles
    /// with full metadata. The shard's read lock is held only while the handles are
    /// copied (no bytes are), so walking the cache shard by shard never stops the
    /// world: kv-store's snapshot writer walks it so. Expired entries are skipped.
    pub fn shard_entries(&self, shard: usize) -> Vec<Entry> {
        self.cache.shard_entries(shard)
    }

    /// A live entry chosen at random, roughly uniformly (Redis `RANDOMKEY`): a random
    /// shard, then the first live entry from a random slot on (shards that have none
    /// are passed over). `None` if the cache holds no live entry. Not counted as a
    /// read.
    pub fn random_entry(&self) -> Option<Entry> {
        let inner = &self.cache.inner;
        let now = self.cache.now();
        let n = inner.shards.len();
        let first = random_below(n);
        (0..n).find_map(|i| {
            let st = inner.shards[(first + i) % n].read();
            let slots = st.slot_count();
            if st.len() == 0 {
                return None;
            }
            let start = random_below(slots);
            (0..slots).find_map(|step| {
                st.slot((start + step) % slots)
                    .filter(|r| !header(r).is_expired(now))
                    .map(|r| Entry::new(r.clone()))
            })
        })
    }

    /// Makes room for about `additional` more entries (spread over the shards by key
    /// hash), so that inserting them rebuilds no shard's table on the way; capped at
    /// `max_entries`. Only memory use changes: entries, limits and eviction are
    /// unaffected.
    pub fn reserve(&self, additional: usize) {
        self.cache.reserve(additional);
    }

    /// Inserts `puts` in order (a later put of the same key wins), as many
    /// [`insert`](Self::insert)s would, if they all fit within the limits without
    /// evicting: then each shard is locked once and `Ok(true)` is returned. If they
    /// might not fit, nothing changes and `Ok(false)` says to insert them one by one.
    /// A key or value over its size limit fails the whole call with nothing changed.
    /// No callbacks run, and an expired entry a put replaces goes without an expiry
    /// event.
    pub fn insert_bulk(&self, puts: &[BulkPut<'_>]) -> Result<bool> {
        self.cache.insert_bulk(puts)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::{EvictionPolicy, ManualClock, Options, StoreLimit};

    const START: u64 = 1_700_000_000_000;

    fn cache(opts: Options) -> (Cache, ManualClock) {
        let clock = ManualClock::new(Timestamp::from_millis(START));
        (Cache::new(opts.clock(clock.clone())).unwrap(), clock)
    }

    fn keys(entries: &[Entry]) -> Vec<Vec<u8>> {
        let mut keys: Vec<_> = entries.iter().map(|e| e.key().to_vec()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn unchecked_inserts_past_the_limit_then_lru_evicts_back_within_it() {
        let reported = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&reported);
        let (c, clock) = cache(
            Options::default()
                .max_entries(3)
                .shards(1) // one shard: the eviction order is exact
                .eviction(EvictionPolicy::Lru)
                .on_evict(move |e, cause| sink.lock().unwrap().push((e.key().to_vec(), cause))),
        );
        let h = c.hooks();
        // Accessed one second apart: k0 is the least recently used.
        for i in 0..6u8 {
            let t = Timestamp::from_millis(START - 10_000 + u64::from(i) * 1000);
            let w = Write::default()
                .version(u64::from(i) + 1)
                .updated(t)
                .created(t);
            h.insert_unchecked(&[b'k', b'0' + i], b"v", w).unwrap();
            clock.advance(Duration::from_secs(1));
            c.get(&[b'k', b'0' + i]).unwrap();
        }
        assert_eq!(c.len(), 6);
        let before = c.metrics();
        let evicted = h.evict_to_limits();
        assert_eq!(
            keys(&evicted),
            [b"k0".to_vec(), b"k1".to_vec(), b"k2".to_vec()]
        );
        assert_eq!(c.len(), 3);
        for e in &evicted {
            assert!(h.peek(e.key()).is_none());
        }
        assert_eq!(c.metrics().evictions - before.evictions, 3);
        let reported = reported.lock().unwrap();
        assert_eq!(reported.len(), 3);
        assert!(reported.iter().all(|(_, c)| *c == EvictionCause::Entries));
        // Within limits: nothing more to do.
        assert!(h.evict_to_limits().is_empty());
    }

    #[test]
    fn the_byte_budget_is_restored_too() {
        let (c, _) = cache(
            Options::default()
                .max_bytes(Some(20))
                .eviction(EvictionPolicy::Random),
        );
        let h = c.hooks();
        for i in 0..5u8 {
            h.insert_unchecked(&[b'k', i], b"12345678", Write::default())
                .unwrap();
        }
        assert_eq!(c.bytes(), 50);
        let evicted = h.evict_to_limits();
        assert_eq!(evicted.len(), 3);
        assert_eq!(c.bytes(), 20);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn without_eviction_an_over_full_cache_refuses_new_keys_until_deletes() {
        let (c, _) = cache(Options::default().max_entries(2));
        let h = c.hooks();
        for k in [b"a", b"b", b"c", b"d"] {
            h.insert_unchecked(k, b"v", Write::default()).unwrap();
        }
        assert!(h.evict_to_limits().is_empty());
        assert_eq!(c.len(), 4);
        let full = Error::StoreFull {
            limit: StoreLimit::Entries(2),
        };
        assert_eq!(c.set(b"new", b"v").unwrap_err(), full);
        // Rewriting a key that is there needs no room.
        c.set(b"a", b"w").unwrap();
        assert!(c.delete(b"b"));
        assert!(c.delete(b"c"));
        assert_eq!(c.set(b"new", b"v").unwrap_err(), full);
        assert!(c.delete(b"d"));
        c.set(b"new", b"v").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.metrics().evictions, 0);
    }

    #[test]
    fn unchecked_inserts_keep_exact_metadata_and_count_nothing() {
        let expired = Arc::new(Mutex::new(0));
        let sink = Arc::clone(&expired);
        let (c, _) = cache(
            Options::default()
                .max_value_size(4)
                .on_expire(move |_, _| *sink.lock().unwrap() += 1),
        );
        let h = c.hooks();
        let ts = Timestamp::from_millis;
        let w = Write::default()
            .version(9)
            .created(ts(1_000))
            .updated(ts(2_000))
            .expires_at(ts(START - 1));
        // Larger than max_value_size: recovered as it was accepted once.
        h.insert_unchecked(b"k", b"long value", w).unwrap();
        assert_eq!(c.bytes(), 11);
        assert!(h.peek(b"k").is_none(), "expired already");
        let e = h.peek_any(b"k").unwrap();
        assert_eq!(
            (e.version(), e.created(), e.updated(), e.expires_at()),
            (9, ts(1_000), ts(2_000), Some(ts(START - 1)))
        );
        // Replacing the expired entry: no expiry event, bytes follow the new value.
        let w = Write::default().version(3).updated(ts(4_000));
        h.insert_unchecked(b"k", b"v", w).unwrap();
        let e = h.peek(b"k").unwrap();
        assert_eq!((e.version(), e.value().to_vec()), (3, b"v".to_vec()));
        assert_eq!(
            e.created(),
            ts(4_000),
            "no created time given: the write's updated time"
        );
        assert_eq!((c.len(), c.bytes()), (1, 2));
        let m = c.metrics();
        assert_eq!((m.sets, m.hits, m.misses, m.expirations), (0, 0, 0, 0));
        assert_eq!(*expired.lock().unwrap(), 0);
        assert_eq!(
            h.insert_unchecked(b"", b"v", Write::default()),
            Err(Error::EmptyKey)
        );
        let huge = vec![b'k'; MAX_KEY_LEN + 1];
        assert!(matches!(
            h.insert_unchecked(&huge, b"v", Write::default()),
            Err(Error::KeyTooLarge { .. })
        ));
        // A key longer than max_key_size but within what an entry holds is recovered.
        h.insert_unchecked(&vec![b'k'; 5000], b"v", Write::default())
            .unwrap();
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn unchecked_expiry_revives_an_expired_entry() {
        let (c, clock) = cache(Options::default());
        let h = c.hooks();
        c.set_with_ttl(b"k", b"v", Duration::from_secs(1)).unwrap();
        clock.advance(Duration::from_secs(2));
        assert!(h.peek(b"k").is_none());
        let later = c.now().saturating_add(Duration::from_secs(60));
        assert!(h.set_expiry_unchecked(b"k", Some(later)));
        assert_eq!(h.peek(b"k").unwrap().expires_at(), Some(later));
        assert!(h.set_expiry_unchecked(b"k", None));
        assert_eq!(h.peek(b"k").unwrap().expires_at(), None);
        assert!(!h.set_expiry_unchecked(b"absent", None));
        assert_eq!(c.metrics().expirations, 0);
    }

    #[test]
    fn peeking_counts_no_read_and_records_no_access() {
        let (c, clock) = cache(Options::default());
        let h = c.hooks();
        c.set(b"k", b"v").unwrap();
        c.set_with_ttl(b"t", b"v", Duration::from_secs(1)).unwrap();
        clock.advance(Duration::from_secs(5));
        assert_eq!(h.peek(b"k").unwrap().value(), b"v");
        assert!(h.peek(b"absent").is_none());
        assert!(h.peek(b"t").is_none());
        assert!(h.peek_any(b"t").is_some());
        let info = h.peek(b"k").unwrap().info();
        assert_eq!(info.access_count, 0);
        assert_eq!(info.last_accessed, Timestamp::from_millis(START));
        let m = c.metrics();
        assert_eq!((m.hits, m.misses, m.expirations), (0, 0, 0));
        // The expired entry is still there to be reclaimed.
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn drop_expired_removes_every_expired_entry_silently() {
        let expired = Arc::new(Mutex::new(0));
        let sink = Arc::clone(&expired);
        let (c, clock) = cache(
            Options::default()
                .shards(4)
                .on_expire(move |_, _| *sink.lock().unwrap() += 1),
        );
        let h = c.hooks();
        for i in 0..100u32 {
            let k = i.to_le_bytes();
            match i % 3 {
                0 => c.set(&k, b"v").map(drop).unwrap(),
                _ => c
                    .set_with_ttl(&k, b"v", Duration::from_secs(u64::from(i % 3)))
                    .map(drop)
                    .unwrap(),
            }
        }
        clock.advance(Duration::from_millis(1500));
        assert_eq!(h.drop_expired(), 33);
        assert_eq!(c.len(), 67);
        clock.advance(Duration::from_secs(1));
        assert_eq!(h.drop_expired(), 33);
        assert_eq!((c.len(), c.bytes()), (34, 34 * 5));
        assert_eq!(h.drop_expired(), 0);
        assert_eq!(*expired.lock().unwrap(), 0);
        assert_eq!(c.metrics().expirations, 0);
    }

    #[test]
    fn a_random_entry_is_a_live_one() {
        let seed = crate::random::seed_for_test();
        let (c, clock) = cache(Options::default().shards(8).hash_seed(seed));
        let h = c.hooks();
        assert!(h.random_entry().is_none());
        c.set_with_ttl(b"gone", b"v", Duration::from_secs(1))
            .unwrap();
        clock.advance(Duration::from_secs(1));
        assert!(h.random_entry().is_none());
        for k in [b"a", b"b", b"c"] {
            c.set(k, b"v").unwrap();
        }
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..300 {
            let e = h.random_entry().unwrap();
            assert_ne!(e.key(), b"gone");
            seen.insert(e.key().to_vec());
        }
        // Each is drawn sometimes: a key whose shard precedes another's empty ones
        // is the likelier draw, but none is less likely than 1 in 8 per draw.
        assert_eq!(seen.len(), 3);
        assert_eq!(c.metrics().hits, 0);
    }

    #[test]
    fn a_ttl_under_a_millisecond_is_refused() {
        let errors = Arc::new(Mutex::new(0));
        let sink = Arc::clone(&errors);
        let (c, _) = cache(Options::default().on_error(move |_| *sink.lock().unwrap() += 1));
        for ttl in [Duration::ZERO, Duration::from_micros(999)] {
            assert_eq!(
                c.set_with_ttl(b"k", b"v", ttl).unwrap_err(),
                Error::InvalidTtl { ttl }
            );
            assert_eq!(c.hooks().expiry_after(ttl), Err(Error::InvalidTtl { ttl }));
        }
        assert!(c.is_empty());
        assert_eq!(*errors.lock().unwrap(), 2);
        let at = c.hooks().expiry_after(Duration::from_millis(1)).unwrap();
        assert_eq!(at, Timestamp::from_millis(START + 1));
        c.set_with_ttl(b"k", b"v", Duration::from_millis(1))
            .unwrap();
        assert!(c.exists(b"k"));
    }
}

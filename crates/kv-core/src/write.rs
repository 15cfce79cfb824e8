//! The write path: [`Write`] metadata, [`WriteOutcome`], and the machinery that
//! applies one or many puts and deletes under their shards' write locks, making room
//! by eviction first.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::batch::{BatchOp, BatchOutcome};
use crate::entry::{header, key_of, new_raw, Raw};
use crate::events::Pending;
use crate::hash::shard_of;
use crate::header::Header;
use crate::shard::WriteGuard;
use crate::{
    Cache, Entry, Error, EvictionCause, EvictionPolicy, ExpiryCause, Result, StoreLimit, Timestamp,
};

/// Metadata for a write through the storage hooks. Every field is optional;
/// `Write::default()` is a plain set; the builder methods set each field (the fields
/// are public to read).
///
/// kv-store writes with `version` set to the log's sequence number, and restores
/// entries at recovery with all four fields as they were.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Write {
    /// When the entry expires; `None` (default) means never (a write replaces any
    /// earlier expiry).
    pub expires_at: Option<Timestamp>,
    /// The entry's version. `None` (default): one above the highest version written
    /// in the key's shard so far, so versions of a key grow with each write. A caller
    /// that orders writes itself (kv-store: the log sequence number) supplies it.
    pub version: Option<u64>,
    /// When the key was first written. `None` (default): kept from the live entry
    /// this write replaces, or for a new key the write's `updated` time (now if that
    /// is `None` too).
    pub created: Option<Timestamp>,
    /// When this value was written. `None` (default): now.
    pub updated: Option<Timestamp>,
    /// The access bookkeeping to restore (recovery from a snapshot that kept it).
    /// `None` (default): a write is the entry's first access, now.
    pub access: Option<Access>,
}

/// An entry's access bookkeeping, as a snapshot keeps it so that a restart keeps a
/// cache hot: eviction after a reopen chooses as if the store never stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Access {
    /// The last access (whole seconds).
    pub accessed: Timestamp,
    /// How many reads returned the entry (the counter's estimate).
    pub count: u64,
    /// The LFU policy's counter as stored, before the decay its idle time brings.
    pub lfu: u8,
}

impl Access {
    /// The bookkeeping of an entry written at `at` and not read since (what a write
    /// gives a new entry: recovery replaying a logged write uses it).
    pub fn written_at(at: Timestamp) -> Self {
        Access {
            accessed: at,
            count: 0,
            lfu: crate::header::LFU_INIT,
        }
    }
}

impl Write {
    /// Sets `expires_at` (a [`Timestamp`], or an `Option` of one: `None` never).
    pub fn expires_at(mut self, t: impl Into<Option<Timestamp>>) -> Self {
        self.expires_at = t.into();
        self
    }

    /// Sets `version`.
    pub fn version(mut self, v: u64) -> Self {
        self.version = Some(v);
        self
    }

    /// Sets `created`.
    pub fn created(mut self, t: Timestamp) -> Self {
        self.created = Some(t);
        self
    }

    /// Sets `updated`.
    pub fn updated(mut self, t: Timestamp) -> Self {
        self.updated = Some(t);
        self
    }

    /// Sets `access` (`None`: a fresh access now).
    pub fn access(mut self, a: impl Into<Option<Access>>) -> Self {
        self.access = a.into();
        self
    }

    /// The entry a put of `key` and `value` with this metadata stores, allocated and
    /// filled before its shard is locked; the shard's `finish_entry` sets the rest.
    pub(crate) fn prebuild(&self, key: &[u8], value: &[u8], now: Timestamp) -> Raw {
        new_raw(self.header(key.len(), now), key, value)
    }

    /// The header of the entry this write stores, before the shard gives it its
    /// version, times and tick.
    pub(crate) fn header(&self, key_len: usize, now: Timestamp) -> Header {
        Header::new(key_len, 0, now, now, self.expires_at, now)
    }
}

/// What a successful write did.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct WriteOutcome {
    /// The version the written entry got.
    pub version: u64,
    /// Entries evicted to make room for this write, with their keys, values and
    /// versions (also reported to `on_evict`).
    pub evicted: Vec<Entry>,
}

/// Why applying under the current locks stopped.
pub(crate) enum Stop {
    /// Room is needed and only other shards have entries to evict.
    NeedAllShards,
    /// The write cannot be done.
    Fail(Error),
}

/// What applying a list of operations did.
pub(crate) struct Applied {
    /// The version the last put got (0 without a put).
    pub(crate) version: u64,
    /// The entry the last put created, when asked for (`keep`: it costs a reference).
    pub(crate) last_put: Option<Raw>,
    /// The version of each put, in order (only for more than one operation).
    pub(crate) versions: Vec<u64>,
    pub(crate) deleted: usize,
    pub(crate) evicted: Vec<Entry>,
}

pub(crate) type Guards<'a> = [(usize, WriteGuard<'a>)];

/// What applying under locks hands back to be dealt with after them: the puts'
/// entries built beforehand (each taken when applied), and what the write displaced,
/// expired and evicted.
struct Out<'a> {
    built: &'a mut [Option<Raw>],
    displaced: &'a mut Displaced,
    pending: &'a mut Pending,
    evicted: &'a mut Vec<Entry>,
}

/// What a write under locks leaves to be dealt with once they are released: the
/// entries it displaced (freed then), the callbacks it owes, what it evicted. Declare
/// it before the guards, so that it is dropped after them.
#[derive(Default)]
pub(crate) struct Leftovers {
    displaced: Displaced,
    pub(crate) pending: Pending,
    pub(crate) evicted: Vec<Entry>,
}

/// Entries a write takes out of the table (replaced or deleted), kept to be dropped
/// after its locks are released: the last reference frees the allocation, which
/// need not happen while other threads wait for the shard.
#[derive(Default)]
struct Displaced {
    one: Option<Raw>,
    more: Vec<Raw>,
}

impl Displaced {
    fn push(&mut self, raw: Raw) {
        match self.one {
            None => self.one = Some(raw),
            Some(_) => self.more.push(raw),
        }
    }
}

/// The time a write runs at: the cache's recent time (enough for the entries' stamps,
/// kept in whole seconds), or its exact time (a decided write, whose decision read
/// it). Whether a stored entry has expired is always judged on the exact time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Now {
    /// The time the write stamps its entries with.
    pub(crate) at: Timestamp,
    /// Whether `at` is the exact time.
    exact: bool,
}

impl Now {
    /// The recent time of `cache`'s clock ([`Clock::recent`](crate::Clock::recent)).
    pub(crate) fn recent(cache: &Cache) -> Self {
        Now {
            at: cache.inner.opts.clock.recent(),
            exact: false,
        }
    }

    /// `at`, the exact time.
    pub(crate) fn exact(at: Timestamp) -> Self {
        Now { at, exact: true }
    }

    /// Whether the entry with header `h` has expired: read on the exact time, which
    /// only an entry with an expiry needs.
    pub(crate) fn expired(self, cache: &Cache, h: &Header) -> bool {
        h.expires_at().is_some() && h.is_expired(if self.exact { self.at } else { cache.now() })
    }
}

/// The expiry of a write with time to live `ttl` at `now`; [`Error::InvalidTtl`] for
/// a TTL under one millisecond, the expiry's resolution (as Redis refuses `EX 0`).
pub(crate) fn expiry_after(now: Timestamp, ttl: Duration) -> Result<Timestamp> {
    if ttl.as_millis() == 0 {
        return Err(Error::InvalidTtl { ttl });
    }
    Ok(now.saturating_add(ttl))
}

impl Cache {
    /// Stores `value` under `key` with no expiry (replacing any value and expiry).
    ///
    /// Fails without changing anything if the key or value breaks a size limit, or if
    /// the cache is full and its policy is [`EvictionPolicy::None`]; otherwise evicts
    /// as needed and reports the evicted entries in the outcome.
    pub fn set(&self, key: &[u8], value: &[u8]) -> Result<WriteOutcome> {
        self.insert(key, value, Write::default())
    }

    /// Stores `value` under `key`, expiring `ttl` from now.
    ///
    /// A TTL under one millisecond (the expiry's resolution) fails with
    /// [`Error::InvalidTtl`] and changes nothing, as Redis refuses `SET … EX 0`: such
    /// a key would be gone before anyone could read it.
    pub fn set_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<WriteOutcome> {
        let at = match expiry_after(self.now(), ttl) {
            Ok(at) => at,
            Err(e) => return self.fail(e),
        };
        self.insert(key, value, Write::default().expires_at(at))
    }

    /// Stores `value` under `key` with explicit metadata (see [`Write`]).
    pub(crate) fn insert(&self, key: &[u8], value: &[u8], write: Write) -> Result<WriteOutcome> {
        let op = [BatchOp::Put { key, value, write }];
        let applied = self.apply(&op)?;
        Ok(WriteOutcome {
            version: applied.version,
            evicted: applied.evicted,
        })
    }

    /// Applies `ops` in order, atomically with respect to readers: all involved
    /// shards are write-locked (in index order) before the first change and released
    /// after the last. Every op is validated first, and room is made for the net
    /// effect first: an invalid op, or a full cache that may not evict, fails the
    /// whole batch with nothing changed.
    pub(crate) fn apply_batch(&self, ops: &[BatchOp<'_>]) -> Result<BatchOutcome> {
        let applied = self.apply(ops)?;
        Ok(BatchOutcome {
            versions: match ops {
                [BatchOp::Put { .. }] => vec![applied.version],
                _ => applied.versions,
            },
            deleted: applied.deleted,
            evicted: applied.evicted,
        })
    }

    pub(crate) fn apply(&self, ops: &[BatchOp<'_>]) -> Result<Applied> {
        self.apply_hinted(ops, None, false)
    }

    /// [`apply`](Self::apply), with the hash of a single op's key if already known,
    /// keeping the last put's entry in [`Applied::last_put`] if `keep`.
    pub(crate) fn apply_hinted(
        &self,
        ops: &[BatchOp<'_>],
        hash: Option<u64>,
        keep: bool,
    ) -> Result<Applied> {
        if ops.is_empty() {
            return Ok(Applied {
                version: 0,
                last_put: None,
                versions: Vec::new(),
                deleted: 0,
                evicted: Vec::new(),
            });
        }
        // From inside an update closure of this cache, a write would wait forever
        // for the shard lock the closure's caller holds.
        self.check_not_in_closure()?;
        for op in ops {
            let checked = match op {
                BatchOp::Put { key, value, .. } => self.validate(key, value),
                BatchOp::Delete { key } => self.validate_key(key),
            };
            if let Err(e) = checked {
                return self.fail(e);
            }
        }
        // One hash per key, on the stack for a single write.
        let one: [u64; 1];
        let many: Vec<u64>;
        let hashes: &[u64] = if let [op] = ops {
            one = [hash.unwrap_or_else(|| self.inner.hasher.hash(op.key()))];
            &one
        } else {
            many = ops
                .iter()
                .map(|op| self.inner.hasher.hash(op.key()))
                .collect();
            &many
        };
        // The recent time will do for the entries' stamps (whole seconds); the exact
        // one is read only to tell whether a stored entry with an expiry has expired.
        let now = Now::recent(self);
        let stamp = now.at;
        // Each put's entry is allocated and filled before any lock is taken; under
        // the lock it only gets its version, times and tick.
        let build = |op: &BatchOp<'_>| match op {
            BatchOp::Put { key, value, write } => Some(write.prebuild(key, value, stamp)),
            BatchOp::Delete { .. } => None,
        };
        let mut built_one: [Option<Raw>; 1];
        let mut built_many: Vec<Option<Raw>>;
        let built: &mut [Option<Raw>] = if let [op] = ops {
            built_one = [build(op)];
            &mut built_one
        } else {
            built_many = ops.iter().map(build).collect();
            &mut built_many
        };
        // Declared before the guards, so dropped after them.
        let mut left = Leftovers::default();
        let result = if let [hash] = hashes[..] {
            let si = shard_of(hash, self.inner.mask);
            let mut guards = [(si, self.inner.shards[si].write())];
            self.apply_guarded(&mut guards, ops, hashes, built, now, keep, None, &mut left)
        } else {
            let mut ids: Vec<usize> = hashes
                .iter()
                .map(|&h| shard_of(h, self.inner.mask))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            let mut guards: Vec<_> = ids
                .into_iter()
                .map(|i| (i, self.inner.shards[i].write()))
                .collect();
            self.apply_guarded(&mut guards, ops, hashes, built, now, keep, None, &mut left)
        };
        let result = match result {
            Err(Stop::NeedAllShards) => {
                let mut guards = self.lock_all_shards();
                self.apply_guarded(&mut guards, ops, hashes, built, now, keep, None, &mut left)
            }
            other => other,
        };
        self.finish(result, left)
    }

    /// Every shard's write lock, in index order.
    pub(crate) fn lock_all_shards(&self) -> Vec<(usize, WriteGuard<'_>)> {
        self.inner
            .shards
            .iter()
            .enumerate()
            .map(|(i, s)| (i, s.write()))
            .collect()
    }

    /// After the locks are released: the callbacks a write owes, and its result.
    pub(crate) fn finish(&self, result: Result<Applied, Stop>, left: Leftovers) -> Result<Applied> {
        let evicted = self.settle(left);
        match result {
            Ok(mut applied) => {
                applied.evicted = evicted;
                Ok(applied)
            }
            Err(stop) => self.fail(self.stop_error(stop)),
        }
    }

    /// After the locks are released: runs the callbacks a write owes, frees what it
    /// displaced, and returns what it evicted.
    pub(crate) fn settle(&self, left: Leftovers) -> Vec<Entry> {
        let Leftovers {
            displaced,
            pending,
            evicted,
        } = left;
        self.dispatch(pending);
        drop(displaced);
        evicted
    }

    /// The error a stopped write reports.
    pub(crate) fn stop_error(&self, stop: Stop) -> Error {
        match stop {
            Stop::Fail(e) => e,
            Stop::NeedAllShards => Error::StoreFull {
                limit: StoreLimit::Entries(self.inner.opts.max_entries),
            },
        }
    }

    /// Applies `ops` (each put's entry built in `built`) under `guards`, which hold
    /// the shards of every op's key (`hashes`), as [`apply`](Self::apply) does once it
    /// holds its locks (keeping the last put's entry if `keep`); what is left for
    /// after the locks goes to `left`. `seen` is what the caller already looked up,
    /// under these locks, of a single op's key: `Some(Some(pos))` a live entry at
    /// `pos`, `Some(None)` no entry at all; `None` (or an expired entry, which the
    /// write removes first) makes the write look.
    #[allow(clippy::too_many_arguments)] // all of it is the state of one write
    pub(crate) fn apply_guarded(
        &self,
        guards: &mut Guards<'_>,
        ops: &[BatchOp<'_>],
        hashes: &[u64],
        built: &mut [Option<Raw>],
        now: Now,
        keep: bool,
        seen: Option<Option<usize>>,
        left: &mut Leftovers,
    ) -> Result<Applied, Stop> {
        let mut out = Out {
            built,
            displaced: &mut left.displaced,
            pending: &mut left.pending,
            evicted: &mut left.evicted,
        };
        self.apply_locked(guards, ops, hashes, now, keep, seen, &mut out)
    }

    #[allow(clippy::too_many_arguments)] // all of it is the state of one write
    fn apply_locked(
        &self,
        guards: &mut Guards<'_>,
        ops: &[BatchOp<'_>],
        hashes: &[u64],
        clock: Now,
        keep: bool,
        seen: Option<Option<usize>>,
        out: &mut Out<'_>,
    ) -> Result<Applied, Stop> {
        let now = clock.at;
        let Out {
            built,
            displaced,
            pending,
            evicted,
        } = out;
        let slot = |guards: &Guards<'_>, hash: u64| {
            if guards.len() == 1 {
                return 0;
            }
            let si = shard_of(hash, self.inner.mask);
            guards
                .binary_search_by_key(&si, |(i, _)| *i)
                .unwrap_or_else(|_| unreachable!("every involved shard is locked"))
        };

        // 1. Expired entries of the keys written are gone before anything else. A
        // single write whose key is (now) absent remembers it: eviction never adds
        // an entry, so the key stays absent and need not be looked up again. One
        // whose key is present remembers its position until an eviction may have
        // moved it.
        let single = ops.len() == 1;
        let mut absent = false;
        let mut known = None;
        let seen = if single { seen } else { None };
        match seen {
            Some(Some(pos)) => known = Some(pos),
            Some(None) => absent = true,
            None => {}
        }
        for (op, &hash) in ops.iter().zip(hashes).filter(|_| seen.is_none()) {
            let st = &mut guards[slot(guards, hash)].1;
            match st.find(hash, op.key()) {
                Some(pos) => {
                    if clock.expired(self, header(st.at(pos))) {
                        let r = st.remove_at(&self.inner.hasher, pos);
                        self.release(1, self.charge(&r));
                        self.inner.metrics.local().expirations(1);
                        pending.expired.push((Entry::new(r), ExpiryCause::Write));
                        absent = single;
                    } else if single {
                        known = Some(pos);
                    }
                }
                None => absent = single,
            }
        }

        // 2. The net change in entries and bytes.
        let (mut d_entries, mut d_bytes) = (0i64, 0i64);
        // What each key of a batch holds after the ops so far (a single op needs no
        // map: its key is looked up once).
        let mut sizes: Option<HashMap<&[u8], Option<u64>>> =
            (!single).then(|| HashMap::with_capacity(ops.len()));
        for (op, &hash) in ops.iter().zip(hashes) {
            let key = op.key();
            let before = match sizes.as_ref().and_then(|m| m.get(key)) {
                Some(s) => *s,
                None if absent => None,
                None => {
                    let st = &guards[slot(guards, hash)].1;
                    known
                        .or_else(|| st.find(hash, key))
                        .map(|p| self.charge(st.at(p)))
                }
            };
            let after = match op {
                BatchOp::Put { value, .. } => Some(self.charge_len(key.len() + value.len())),
                BatchOp::Delete { .. } => None,
            };
            d_entries += i64::from(after.is_some()) - i64::from(before.is_some());
            d_bytes += after.unwrap_or(0) as i64 - before.unwrap_or(0) as i64;
            if let Some(m) = &mut sizes {
                m.insert(key, after);
            }
        }
        // What the written keys will hold afterwards: if that alone breaks a limit,
        // fail before evicting anything (eviction never takes the batch's own keys).
        let footprint = match (&sizes, ops[0]) {
            (Some(m), _) => m
                .values()
                .flatten()
                .fold((0, 0), |(n, b), s| (n + 1, b + *s)),
            (None, BatchOp::Put { key, value, .. }) => {
                (1, self.charge_len(key.len() + value.len()))
            }
            (None, BatchOp::Delete { .. }) => (0, 0),
        };
        self.check_fits(footprint)?;

        // 3. Room for it, by eviction if allowed.
        let exclude = |raw: &Raw| !absent && ops.iter().any(|op| op.key() == key_of(raw));
        let evictions = evicted.len();
        // A new key put alone may be refused by the TinyLFU admission filter, once:
        // a retry under every shard's lock that finds evictions already made was
        // admitted by the first attempt.
        let candidate = (absent && evicted.is_empty() && matches!(ops[0], BatchOp::Put { .. }))
            .then_some(hashes[0]);
        let admitted = self.make_room(
            guards,
            d_entries.max(0) as usize,
            d_bytes.max(0) as u64,
            now,
            &exclude,
            candidate,
            pending,
            evicted,
        )?;
        if evicted.len() != evictions {
            // An eviction from the key's shard may have rebuilt its table.
            known = None;
        }

        // 4. The changes themselves.
        let mut version = 0;
        let mut last_put = None;
        let mut versions = Vec::new();
        let mut sets = 0;
        let mut deleted = 0;
        for ((op, &hash), built) in ops.iter().zip(hashes).zip(built.iter_mut()) {
            let st = &mut guards[slot(guards, hash)].1;
            let found = if absent {
                None
            } else {
                known.or_else(|| st.find(hash, op.key()))
            };
            match op {
                BatchOp::Put { write, .. } => {
                    let mut raw = built.take().expect("each put's entry is built once");
                    st.finish_entry(&mut raw, found, write, now);
                    version = header(&raw).version();
                    if !single {
                        versions.push(version);
                    }
                    if keep {
                        last_put = Some(raw.clone());
                    }
                    sets += 1;
                    match found {
                        Some(pos) => displaced.push(st.replace(pos, raw)),
                        None if admitted => drop(st.push(&self.inner.hasher, hash, raw)),
                        None => self.evict_refused(raw, pending, evicted),
                    }
                }
                BatchOp::Delete { .. } => {
                    if let Some(pos) = found {
                        displaced.push(st.remove_at(&self.inner.hasher, pos));
                        deleted += 1;
                    }
                }
            }
        }

        // 5. Give back what the changes freed (step 3 took what they need).
        self.release((-d_entries).max(0) as usize, (-d_bytes).max(0) as u64);
        let counters = self.inner.metrics.local();
        counters.sets(sets);
        counters.deletes(deleted as u64);
        Ok(Applied {
            version,
            last_put,
            versions,
            deleted,
            evicted: Vec::new(),
        })
    }

    /// Fails if `(entries, bytes)` alone exceed the limits.
    fn check_fits(&self, (entries, bytes): (usize, u64)) -> Result<(), Stop> {
        let full = |limit| Stop::Fail(Error::StoreFull { limit });
        if entries > self.inner.opts.max_entries {
            return Err(full(StoreLimit::Entries(self.inner.opts.max_entries)));
        }
        match self.inner.opts.max_bytes {
            Some(budget) if bytes > budget => Err(full(StoreLimit::Bytes(budget))),
            _ => Ok(()),
        }
    }

    /// Reserves `entries` and `bytes` against the limits, evicting from the locked
    /// shards (never an entry `exclude` names) until they fit. `candidate` is the
    /// hash of the new key a single put adds: under TinyLFU, `Ok(false)` says that it
    /// lost to the first victim, so nothing was evicted or reserved and the put's
    /// entry is to be evicted itself.
    #[allow(clippy::too_many_arguments)] // all of it is the state of one write
    fn make_room(
        &self,
        guards: &mut Guards<'_>,
        entries: usize,
        bytes: u64,
        now: Timestamp,
        exclude: &dyn Fn(&Raw) -> bool,
        mut candidate: Option<u64>,
        pending: &mut Pending,
        evicted: &mut Vec<Entry>,
    ) -> Result<bool, Stop> {
        let full = |limit| Stop::Fail(Error::StoreFull { limit });
        loop {
            let limit = match self.try_reserve(entries, bytes) {
                Ok(()) => return Ok(true),
                Err(limit) => limit,
            };
            if self.inner.opts.eviction == EvictionPolicy::None {
                return Err(full(limit));
            }
            // The fullest locked shard first (the only one, for a single write).
            let pick = |g: usize, guards: &mut Guards<'_>| {
                self.inner
                    .evictor
                    .pick(&mut guards[g].1, &self.inner.hasher, now, exclude)
                    .map(|p| (g, p))
            };
            let victim = if guards.len() == 1 {
                pick(0, guards)
            } else {
                let mut order: Vec<usize> = (0..guards.len()).collect();
                order.sort_by_key(|&g| std::cmp::Reverse(guards[g].1.len()));
                order.into_iter().find_map(|g| pick(g, guards))
            };
            let Some((g, pos)) = victim else {
                return Err(if guards.len() == self.inner.shards.len() {
                    full(limit)
                } else {
                    Stop::NeedAllShards
                });
            };
            let st = &mut guards[g].1;
            if let Some(c) = candidate.take() {
                if !self.admits(c, st.at(pos)) {
                    return Ok(false);
                }
            }
            let raw = st.remove_at(&self.inner.hasher, pos);
            let freed = self.charge(&raw);
            // One entry in for one out, with no byte budget: the victim's place in the
            // count passes to the new entry and the bytes move by the difference, in
            // at most one atomic operation (none for equal sizes) instead of a release
            // and a new reservation (these counters are shared by every writing thread).
            let handed_over = entries == 1 && self.inner.opts.max_bytes.is_none();
            if handed_over {
                if bytes > freed {
                    self.inner.bytes.fetch_add(bytes - freed, Relaxed);
                } else if bytes < freed {
                    self.inner.bytes.fetch_sub(freed - bytes, Relaxed);
                }
            } else {
                self.release(1, freed);
            }
            self.inner.metrics.local().evictions(1);
            let cause = match limit {
                StoreLimit::Entries(_) => EvictionCause::Entries,
                StoreLimit::Bytes(_) => EvictionCause::Bytes,
            };
            let entry = Entry::new(raw);
            if self.inner.opts.on_evict.is_some() {
                pending.evicted.push((entry.clone(), cause));
            }
            evicted.push(entry);
            if handed_over {
                return Ok(true);
            }
        }
    }

    /// Whether the new key with hash `candidate` may take `victim`'s place: always,
    /// except under TinyLFU (see `sketch.rs`), whose sketch starts here when the
    /// cache first fills.
    fn admits(&self, candidate: u64, victim: &Raw) -> bool {
        if self.inner.opts.eviction != EvictionPolicy::TinyLfu {
            return true;
        }
        let sketch = self.inner.evictor.admission.filled(self.len());
        sketch.admits(candidate, self.inner.hasher.hash(key_of(victim)))
    }

    /// A put refused admission: its entry is evicted as it is written.
    fn evict_refused(&self, raw: Raw, pending: &mut Pending, evicted: &mut Vec<Entry>) {
        self.inner.metrics.local().evictions(1);
        let entry = Entry::new(raw);
        if self.inner.opts.on_evict.is_some() {
            pending
                .evicted
                .push((entry.clone(), EvictionCause::Entries));
        }
        evicted.push(entry);
    }
}

//! A proptest state machine: random operation sequences against a `BTreeMap` model
//! on a manual clock. Sets (with and without TTL), deletes, expire/persist, reads,
//! clock advances, purges, batches and the atomic updates (conditional set and
//! delete, increment, append, update closure, conditional expire); with every
//! eviction policy and limits small
//! enough to evict. The cache must agree with the model after every step, never
//! exceed its limits, and report every key it dropped that the model still has.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kv_core::hooks::{BatchOp, Write};
use kv_core::{
    ByteCount, Cache, Clock, Condition, Error, EvictionPolicy, ExpireIf, ManualClock, Options,
    SetOptions, Timestamp, Ttl, Update,
};
use proptest::prelude::*;

const START: u64 = 1_700_000_000_000;

#[derive(Clone, Debug)]
enum Op {
    Set(u8, Vec<u8>),
    SetTtl(u8, Vec<u8>, u64),
    Insert(u8, Vec<u8>, u64),
    Delete(u8),
    Get(u8),
    Expire(u8, Option<u64>),
    Advance(u64),
    Purge(usize),
    Batch(Vec<(u8, Option<Vec<u8>>)>),
    /// Condition (0 always, 1 absent, 2 present, 3 current version, 4 stale version,
    /// 5 current value), expiry (0 none, 1 kept, 2 a TTL), TTL, previous asked.
    SetWith(u8, Vec<u8>, u8, u8, u64, bool),
    DeleteIf(u8, bool),
    Incr(u8, i64),
    Append(u8, Vec<u8>),
    /// 0 sets, 1 deletes, 2 keeps.
    Update(u8, u8, Vec<u8>),
    /// TTL (0: clear) and when (0 always, 1 NX, 2 XX, 3 GT, 4 LT).
    ExpireIf(u8, u64, u8),
}

fn op(keys: u8) -> impl Strategy<Value = Op> {
    let key = 0u8..keys;
    let value = proptest::collection::vec(any::<u8>(), 0..6);
    prop_oneof![
        4 => (key.clone(), value.clone()).prop_map(|(k, v)| Op::Set(k, v)),
        2 => (key.clone(), value.clone(), 1u64..5_000).prop_map(|(k, v, t)| Op::SetTtl(k, v, t)),
        1 => (key.clone(), value.clone(), 0u64..1000).prop_map(|(k, v, ver)| Op::Insert(k, v, ver)),
        2 => key.clone().prop_map(Op::Delete),
        4 => key.clone().prop_map(Op::Get),
        1 => (key.clone(), proptest::option::of(0u64..5_000)).prop_map(|(k, t)| Op::Expire(k, t)),
        2 => (0u64..3_000).prop_map(Op::Advance),
        1 => (0usize..20).prop_map(Op::Purge),
        1 => proptest::collection::vec((key.clone(), proptest::option::of(value.clone())), 1..5).prop_map(Op::Batch),
        2 => (key.clone(), value.clone(), 0..6u8, 0..3u8, 1u64..5_000, any::<bool>())
            .prop_map(|(k, v, c, e, t, g)| Op::SetWith(k, v, c, e, t, g)),
        1 => (key.clone(), any::<bool>()).prop_map(|(k, c)| Op::DeleteIf(k, c)),
        2 => (key.clone(), prop_oneof![-3..3i64, Just(i64::MAX)]).prop_map(|(k, d)| Op::Incr(k, d)),
        1 => (key.clone(), value.clone()).prop_map(|(k, v)| Op::Append(k, v)),
        1 => (key.clone(), 0..3u8, value).prop_map(|(k, w, v)| Op::Update(k, w, v)),
        1 => (key, 0u64..5_000, 0..5u8).prop_map(|(k, t, w)| Op::ExpireIf(k, t, w)),
    ]
}

fn policy() -> impl Strategy<Value = EvictionPolicy> {
    prop_oneof![
        Just(EvictionPolicy::None),
        Just(EvictionPolicy::Lru),
        Just(EvictionPolicy::Lfu),
        Just(EvictionPolicy::Random),
        Just(EvictionPolicy::Ttl),
        Just(EvictionPolicy::TinyLfu),
    ]
}

/// The model: key -> (value, expires_at in ms).
#[derive(Default)]
struct Model {
    map: BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>,
    now: u64,
}

impl Model {
    fn live(&self, k: &[u8]) -> Option<&Vec<u8>> {
        match self.map.get(k) {
            Some((v, exp)) if exp.is_none_or(|e| e > self.now) => Some(v),
            _ => None,
        }
    }

    fn live_map(&self) -> BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)> {
        self.map
            .iter()
            .filter(|(k, _)| self.live(k).is_some())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn key(k: u8) -> Vec<u8> {
    vec![b'k', k]
}

struct Run {
    cache: Cache,
    clock: ManualClock,
    model: Model,
    evicted_by_callback: Arc<Mutex<Vec<Vec<u8>>>>,
    evicted_by_outcome: Vec<Vec<u8>>,
    max_entries: usize,
    max_bytes: Option<u64>,
    /// What an entry counts for against `max_bytes`.
    count: ByteCount,
    versions: BTreeMap<Vec<u8>, u64>,
    sets: u64,
    reads: u64,
    refused: u64,
    /// The cache's entry count before the current operation.
    len_before: usize,
}

impl Run {
    /// The model forgets keys the cache reports evicted: they are gone from the
    /// cache, and are not written in this same operation, except under TinyLFU: a
    /// new key written alone into a full cache may be refused admission, its entry
    /// evicted as it is written. Returns whether that happened (the caller then
    /// keeps the write out of the model).
    fn evicted(&mut self, keys: &[Vec<u8>], written: &[Vec<u8>]) -> bool {
        let mut refused = false;
        for k in keys {
            if written.contains(k) {
                assert_eq!(
                    self.cache.eviction_policy(),
                    EvictionPolicy::TinyLfu,
                    "evicted a key it was writing: {k:?}"
                );
                assert_eq!(written.len(), 1, "admission refused in a batch");
                assert!(self.model.live(k).is_none(), "refused a present key");
                assert!(
                    self.len_before >= self.max_entries || self.max_bytes.is_some(),
                    "refused admission into a cache with room"
                );
                assert!(!refused, "the written key reported evicted twice");
                refused = true;
            }
            assert!(self.cache.info(k).is_none());
            self.model.map.remove(k);
            self.evicted_by_outcome.push(k.clone());
        }
        // A refusal evicts nothing else.
        assert!(!refused || keys.len() == 1, "refused, yet evicted {keys:?}");
        refused
    }

    /// What an entry of `k` and `v` counts for against `max_bytes`.
    fn charge(&self, k: &[u8], v: &[u8]) -> u64 {
        self.count.of(k.len() + v.len())
    }

    fn check_version(&mut self, k: &[u8], version: u64, explicit: bool) {
        if !explicit {
            if let Some(prev) = self.versions.get(k) {
                assert!(version > *prev, "version went from {prev} to {version}");
            }
        }
        self.versions.insert(k.to_vec(), version);
    }

    fn write(&mut self, k: Vec<u8>, v: Vec<u8>, w: Write) {
        let explicit = w.version.is_some();
        match self.cache.hooks().insert(&k, &v, w) {
            Ok(out) => {
                let keys: Vec<_> = out.evicted.iter().map(|e| e.key().to_vec()).collect();
                let refused = self.evicted(&keys, std::slice::from_ref(&k));
                self.check_version(&k, out.version, explicit);
                if !refused {
                    self.model
                        .map
                        .insert(k, (v, w.expires_at.map(Timestamp::as_millis)));
                }
                self.sets += 1;
            }
            Err(Error::StoreFull { .. }) => {
                assert_eq!(self.cache.eviction_policy(), EvictionPolicy::None);
                // An overwrite needs no new slot, only the bytes it adds.
                if let Some(old) = self.model.live(&k) {
                    assert!(self.max_bytes.is_some() && self.charge(&k, &v) > self.charge(&k, old));
                }
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    /// After a decided write of `k`: what its evictions took (reported to the
    /// callback only) leaves the model.
    /// Returns whether `k` itself was refused admission (see [`Run::evicted`]).
    fn evicted_since(&mut self, before: usize, k: &[u8]) -> bool {
        let new: Vec<Vec<u8>> = self.evicted_by_callback.lock().unwrap()[before..].to_vec();
        self.evicted(&new, &[k.to_vec()])
    }

    /// Puts `k` in the model unless it was refused admission.
    fn admit(&mut self, refused: bool, k: Vec<u8>, entry: (Vec<u8>, Option<u64>)) {
        if !refused {
            self.model.map.insert(k, entry);
        }
    }

    /// A decided put's outcome: `Ok(true)` written, `Ok(false)` refused by a full cache
    /// that may not evict (the model stays), other errors are failures.
    fn put_result<T>(&mut self, r: &Result<T, Error>, k: &[u8], v: &[u8]) -> bool {
        match r {
            Ok(_) => true,
            // The entry alone is over the byte budget: no eviction helps.
            Err(Error::StoreFull { .. })
                if self.max_bytes.is_some_and(|b| self.charge(k, v) > b) =>
            {
                false
            }
            Err(Error::StoreFull { .. }) => {
                assert_eq!(self.cache.eviction_policy(), EvictionPolicy::None);
                if let Some(old) = self.model.live(k) {
                    assert!(self.max_bytes.is_some() && self.charge(k, v) > self.charge(k, old));
                }
                false
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    fn step(&mut self, op: Op) {
        let now = self.model.now;
        self.len_before = self.cache.len();
        match op {
            Op::Set(k, v) => self.write(key(k), v, Write::default()),
            Op::SetTtl(k, v, ttl) => self.write(
                key(k),
                v,
                Write::default().expires_at(Timestamp::from_millis(now + ttl)),
            ),
            Op::Insert(k, v, version) => self.write(key(k), v, Write::default().version(version)),
            Op::Delete(k) => {
                let k = key(k);
                assert_eq!(self.cache.delete(&k), self.model.live(&k).is_some());
                self.model.map.remove(&k);
            }
            Op::Get(k) => {
                let k = key(k);
                self.reads += 1;
                let got = self.cache.get(&k).map(|v| v.to_vec());
                assert_eq!(got.as_ref(), self.model.live(&k));
            }
            Op::Expire(k, at) => {
                let k = key(k);
                let at_ms = at.map(|t| now + t);
                let present = self.model.live(&k).is_some();
                assert_eq!(
                    self.cache.expire(&k, at_ms.map(Timestamp::from_millis)),
                    present
                );
                if present {
                    self.model.map.get_mut(&k).unwrap().1 = at_ms;
                }
            }
            Op::Advance(ms) => {
                self.clock.advance(Duration::from_millis(ms));
                self.model.now += ms;
            }
            Op::Purge(budget) => {
                let stats = self.cache.purge_expired(budget);
                assert!(stats.examined <= budget);
                assert!(stats.expired <= stats.examined);
            }
            Op::SetWith(k, v, cond, exp, ttl, get) => {
                let k = key(k);
                let live = self.model.live(&k).cloned();
                let version = self.cache.info(&k).map(|i| i.version);
                let cur_value = live.clone().unwrap_or_default();
                let mut o = SetOptions::new();
                let holds = match cond {
                    0 => true,
                    1 => {
                        o = o.if_absent();
                        live.is_none()
                    }
                    2 => {
                        o = o.if_present();
                        live.is_some()
                    }
                    3 => {
                        o = o.if_version(version.unwrap_or(0));
                        live.is_some()
                    }
                    4 => {
                        o = o.if_version(version.unwrap_or(0) + 1_000_000);
                        false
                    }
                    _ => {
                        o = o.if_value(&cur_value);
                        live.is_some()
                    }
                };
                let new_exp = match exp {
                    0 => None,
                    1 => {
                        o = o.keep_ttl();
                        live.as_ref().and_then(|_| self.model.map[&k].1)
                    }
                    _ => {
                        o = o.ttl(Duration::from_millis(ttl));
                        Some(now + ttl)
                    }
                };
                if get {
                    o = o.get();
                }
                let before = self.evicted_by_callback.lock().unwrap().len();
                let r = self.cache.set_with(&k, &v, &o);
                if !holds {
                    let out = r.unwrap();
                    assert!(!out.written);
                    self.refused += 1;
                } else if self.put_result(&r, &k, &v) {
                    let out = r.unwrap();
                    assert!(out.written);
                    assert_eq!(out.previous.map(|p| p.to_vec()), live.filter(|_| get));
                    self.check_version(&k, out.version.unwrap(), false);
                    let refused = self.evicted_since(before, &k);
                    self.admit(refused, k, (v, new_exp));
                    self.sets += 1;
                }
            }
            Op::DeleteIf(k, current) => {
                let k = key(k);
                let live = self.model.live(&k).is_some();
                let version = self.cache.info(&k).map_or(0, |i| i.version);
                let v = if current { version } else { version + 1 };
                let deleted = self.cache.delete_if(&k, Condition::Version(v)).unwrap();
                assert_eq!(deleted, live && current);
                if live && !current {
                    self.refused += 1;
                }
                if deleted {
                    self.model.map.remove(&k);
                }
            }
            Op::Incr(k, d) => {
                let k = key(k);
                let live = self.model.live(&k).cloned();
                let old = match &live {
                    None => Some(0i64),
                    Some(v) => std::str::from_utf8(v)
                        .ok()
                        .filter(|s| !(s.starts_with('+') || s.len() > 1 && s.starts_with('0')))
                        .filter(|s| *s != "-0")
                        .and_then(|s| s.parse::<i64>().ok()),
                };
                let before = self.evicted_by_callback.lock().unwrap().len();
                let r = self.cache.incr(&k, d);
                match old.map(|o| o.checked_add(d)) {
                    None => assert_eq!(r, Err(Error::NotAnInteger)),
                    Some(None) => assert_eq!(r, Err(Error::Overflow)),
                    Some(Some(new)) => {
                        let text = new.to_string().into_bytes();
                        if self.put_result(&r, &k, &text) {
                            assert_eq!(r.unwrap(), new);
                            let exp = live.as_ref().and_then(|_| self.model.map[&k].1);
                            let refused = self.evicted_since(before, &k);
                            self.admit(refused, k, (text, exp));
                            self.sets += 1;
                        }
                    }
                }
            }
            Op::Append(k, v) => {
                let k = key(k);
                let mut new = self.model.live(&k).cloned().unwrap_or_default();
                let exp = self.model.live(&k).and_then(|_| self.model.map[&k].1);
                new.extend_from_slice(&v);
                let before = self.evicted_by_callback.lock().unwrap().len();
                let r = self.cache.append(&k, &v);
                if self.put_result(&r, &k, &new) {
                    assert_eq!(r.unwrap(), new.len());
                    let refused = self.evicted_since(before, &k);
                    self.admit(refused, k, (new, exp));
                    self.sets += 1;
                }
            }
            Op::Update(k, what, v) => {
                let k = key(k);
                let live = self.model.live(&k).cloned();
                let exp = live.as_ref().and_then(|_| self.model.map[&k].1);
                let mut seen = None;
                let before = self.evicted_by_callback.lock().unwrap().len();
                let r = self.cache.update(&k, |cur| {
                    seen = Some(cur.map(<[u8]>::to_vec));
                    match what {
                        0 => Update::Set(v.clone()),
                        1 => Update::Delete,
                        _ => Update::Keep,
                    }
                });
                assert_eq!(seen, Some(live.clone()), "the closure saw");
                match what {
                    0 => {
                        if self.put_result(&r, &k, &v) {
                            assert_eq!(r.unwrap().map(|x| x.to_vec()), Some(v.clone()));
                            let refused = self.evicted_since(before, &k);
                            self.admit(refused, k, (v, exp));
                            self.sets += 1;
                        }
                    }
                    1 => {
                        assert_eq!(r.unwrap(), None);
                        self.model.map.remove(&k);
                    }
                    _ => assert_eq!(r.unwrap().map(|x| x.to_vec()), live),
                }
            }
            Op::ExpireIf(k, ttl, when) => {
                let k = key(k);
                let live = self.model.live(&k).is_some();
                let at = (ttl > 0).then(|| now + ttl);
                let cur = if live { self.model.map[&k].1 } else { None };
                let later = |a: Option<u64>, b: Option<u64>| match (a, b) {
                    (None, _) => b.is_some(),
                    (Some(_), None) => false,
                    (Some(a), Some(b)) => a > b,
                };
                let (w, holds) = match when {
                    0 => (ExpireIf::Always, true),
                    1 => (ExpireIf::NoTtl, cur.is_none()),
                    2 => (ExpireIf::HasTtl, cur.is_some()),
                    3 => (ExpireIf::Later, later(at, cur)),
                    _ => (ExpireIf::Earlier, later(cur, at)),
                };
                let changed = self
                    .cache
                    .expire_if(&k, at.map(Timestamp::from_millis), w)
                    .unwrap();
                assert_eq!(changed, live && holds);
                if live && !holds {
                    self.refused += 1;
                }
                if changed {
                    self.model.map.get_mut(&k).unwrap().1 = at;
                }
            }
            Op::Batch(ops) => {
                let keys: Vec<Vec<u8>> = ops.iter().map(|(k, _)| key(*k)).collect();
                let batch: Vec<BatchOp<'_>> = ops
                    .iter()
                    .zip(&keys)
                    .map(|((_, v), k)| match v {
                        Some(v) => BatchOp::put(k, v),
                        None => BatchOp::delete(k),
                    })
                    .collect();
                match self.cache.hooks().apply_batch(&batch) {
                    Ok(out) => {
                        let evicted: Vec<_> =
                            out.evicted.iter().map(|e| e.key().to_vec()).collect();
                        let refused = self.evicted(&evicted, &keys);
                        let mut versions = out.versions.iter();
                        for ((_, v), k) in ops.iter().zip(&keys) {
                            match v {
                                Some(v) => {
                                    let ver = *versions.next().unwrap();
                                    self.check_version(k, ver, false);
                                    self.admit(refused, k.clone(), (v.clone(), None));
                                    self.sets += 1;
                                }
                                None => {
                                    self.model.map.remove(k);
                                }
                            }
                        }
                    }
                    Err(Error::StoreFull { .. }) => {
                        if self.cache.eviction_policy() != EvictionPolicy::None {
                            // Eviction never takes the batch's own keys, so it fails
                            // only if those alone break a limit.
                            let mut after = BTreeMap::new();
                            for ((_, v), k) in ops.iter().zip(&keys) {
                                after.insert(k.clone(), v.as_ref().map(|v| self.charge(k, v)));
                            }
                            let (n, bytes) = after
                                .values()
                                .flatten()
                                .fold((0, 0), |(n, b), s| (n + 1, b + *s));
                            assert!(
                                n > self.max_entries || self.max_bytes.is_some_and(|m| bytes > m),
                                "a batch of {n} entries, {bytes} bytes should fit"
                            );
                        }
                    }
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
        }
        self.check();
    }

    fn check(&self) {
        // Limits hold.
        assert!(self.cache.len() <= self.max_entries);
        if let Some(b) = self.max_bytes {
            assert!(self.cache.bytes() <= b);
        }
        // The live contents agree exactly, expiry included.
        let now = self.clock.now();
        let mut cached = BTreeMap::new();
        for e in self.cache.iter() {
            assert!(!e.is_expired_at(now));
            cached.insert(
                e.key().to_vec(),
                (e.value().to_vec(), e.expires_at().map(Timestamp::as_millis)),
            );
        }
        assert_eq!(cached, self.model.live_map());
        for (k, (_, exp)) in &cached {
            let ttl = self.cache.ttl(k);
            match exp {
                None => assert_eq!(ttl, Ttl::Persistent),
                Some(e) => assert_eq!(
                    ttl,
                    Ttl::Remaining(Duration::from_millis(e - self.model.now))
                ),
            }
        }
        // Every eviction was reported both ways.
        assert_eq!(
            *self.evicted_by_callback.lock().unwrap(),
            self.evicted_by_outcome
        );
        let m = self.cache.metrics();
        assert_eq!(m.evictions, self.evicted_by_outcome.len() as u64);
        assert_eq!(m.sets, self.sets);
        assert_eq!(m.hits + m.misses, self.reads);
        assert_eq!(m.refused, self.refused);
        assert_eq!(m.entries, self.cache.len() as u64);
    }
}

/// A byte budget and what it counts: key and value bytes, or (`memory`) the entries'
/// memory, for which the budget is scaled up to hold about as many entries (each
/// entry here counts 75: the smallest budget still holds one, as it does counting
/// key and value bytes).
fn budget(key_and_value: Option<u64>, memory: bool) -> (Option<u64>, ByteCount) {
    if memory {
        (key_and_value.map(|b| b * 7), ByteCount::Memory)
    } else {
        (key_and_value, ByteCount::KeyValue)
    }
}

/// 192 cases (about a second in release), or `PROPTEST_CASES` for a longer campaign.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(192)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn the_cache_behaves_like_the_model(
        ops in proptest::collection::vec(op(12), 1..120),
        policy in policy(),
        max_entries in 2usize..8,
        byte_budget in proptest::option::of(12u64..40),
        shards_log2 in 0u32..3,
        // Last, so that the seeds saved before it still draw the same cases.
        memory in any::<bool>(),
    ) {
        check_run(ops, policy, max_entries, budget(byte_budget, memory), shards_log2);
    }

}

proptest! {
    // A quarter of the cases: each runs longer and checks a larger cache every step.
    #![proptest_config(ProptestConfig { cases: cases().div_ceil(4), ..ProptestConfig::default() })]

    /// Larger tables: growth, shrinking, sampled eviction and its candidate pool.
    #[test]
    fn larger_caches_behave_like_the_model(
        ops in proptest::collection::vec(op(200), 1..600),
        policy in policy(),
        max_entries in 20usize..120,
        byte_budget in proptest::option::of(300u64..900),
        shards_log2 in 0u32..3,
        memory in any::<bool>(),
    ) {
        check_run(ops, policy, max_entries, budget(byte_budget, memory), shards_log2);
    }
}

fn check_run(
    ops: Vec<Op>,
    policy: EvictionPolicy,
    max_entries: usize,
    (byte_budget, count): (Option<u64>, ByteCount),
    shards_log2: u32,
) {
    let clock = ManualClock::new(Timestamp::from_millis(START));
    let evicted = Arc::new(Mutex::new(Vec::new()));
    let sink = evicted.clone();
    let cache = Cache::new(
        Options::default()
            .max_entries(max_entries)
            .max_bytes(byte_budget)
            .byte_count(count)
            .shards(1 << shards_log2)
            .eviction(policy)
            .clock(clock.clone())
            .on_evict(move |e, _| sink.lock().unwrap().push(e.key().to_vec())),
    )
    .unwrap();
    let mut run = Run {
        cache,
        clock,
        model: Model {
            now: START,
            ..Model::default()
        },
        evicted_by_callback: evicted,
        evicted_by_outcome: Vec::new(),
        max_entries,
        max_bytes: byte_budget,
        count,
        versions: BTreeMap::new(),
        sets: 0,
        reads: 0,
        refused: 0,
        len_before: 0,
    };
    for op in ops {
        run.step(op);
    }
}

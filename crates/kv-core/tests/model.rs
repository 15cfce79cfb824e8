//! A proptest state machine: random operation sequences against a `BTreeMap` model
//! on a manual clock. Sets (with and without TTL), deletes, expire/persist, reads,
//! clock advances, purges and batches; with every eviction policy and limits small
//! enough to evict. The cache must agree with the model after every step, never
//! exceed its limits, and report every key it dropped that the model still has.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kv_core::hooks::{BatchOp, Write};
use kv_core::{Cache, Clock, Error, EvictionPolicy, ManualClock, Options, Timestamp, Ttl};
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
        1 => proptest::collection::vec((key, proptest::option::of(value)), 1..5).prop_map(Op::Batch),
    ]
}

fn policy() -> impl Strategy<Value = EvictionPolicy> {
    prop_oneof![
        Just(EvictionPolicy::None),
        Just(EvictionPolicy::Lru),
        Just(EvictionPolicy::Lfu),
        Just(EvictionPolicy::Random),
        Just(EvictionPolicy::Ttl),
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
    versions: BTreeMap<Vec<u8>, u64>,
    sets: u64,
    reads: u64,
}

impl Run {
    /// The model forgets keys the cache reports evicted: they must not be written in
    /// this same operation, and are gone from the cache.
    fn evicted(&mut self, keys: &[Vec<u8>], written: &[Vec<u8>]) {
        for k in keys {
            assert!(!written.contains(k), "evicted a key it was writing: {k:?}");
            assert!(self.cache.info(k).is_none());
            self.model.map.remove(k);
            self.evicted_by_outcome.push(k.clone());
        }
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
                self.evicted(&keys, std::slice::from_ref(&k));
                self.check_version(&k, out.version, explicit);
                self.model
                    .map
                    .insert(k, (v, w.expires_at.map(Timestamp::as_millis)));
                self.sets += 1;
            }
            Err(Error::StoreFull { .. }) => {
                assert_eq!(self.cache.eviction_policy(), EvictionPolicy::None);
                // An overwrite needs no new slot, only the bytes it adds.
                if let Some(old) = self.model.live(&k) {
                    assert!(self.max_bytes.is_some() && v.len() > old.len());
                }
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    fn step(&mut self, op: Op) {
        let now = self.model.now;
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
                        self.evicted(&evicted, &keys);
                        let mut versions = out.versions.iter();
                        for ((_, v), k) in ops.iter().zip(&keys) {
                            match v {
                                Some(v) => {
                                    let ver = *versions.next().unwrap();
                                    self.check_version(k, ver, false);
                                    self.model.map.insert(k.clone(), (v.clone(), None));
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
                                after.insert(k.clone(), v.as_ref().map(|v| k.len() + v.len()));
                            }
                            let (n, bytes) = after
                                .values()
                                .flatten()
                                .fold((0, 0), |(n, b), s| (n + 1, b + *s as u64));
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
        assert_eq!(m.entries, self.cache.len() as u64);
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
    ) {
        check_run(ops, policy, max_entries, byte_budget, shards_log2);
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
    ) {
        check_run(ops, policy, max_entries, byte_budget, shards_log2);
    }
}

fn check_run(
    ops: Vec<Op>,
    policy: EvictionPolicy,
    max_entries: usize,
    byte_budget: Option<u64>,
    shards_log2: u32,
) {
    let clock = ManualClock::new(Timestamp::from_millis(START));
    let evicted = Arc::new(Mutex::new(Vec::new()));
    let sink = evicted.clone();
    let cache = Cache::new(
        Options::default()
            .max_entries(max_entries)
            .max_bytes(byte_budget)
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
        versions: BTreeMap::new(),
        sets: 0,
        reads: 0,
    };
    for op in ops {
        run.step(op);
    }
}

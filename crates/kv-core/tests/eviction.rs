//! Which key each eviction policy removes (one shard and a sample size covering it, so
//! the choice is exact), and what a full cache does without eviction.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kv_core::{
    ByteCount, Cache, Error, EvictionCause, EvictionPolicy, ManualClock, Options, StoreLimit,
    Timestamp,
};

const START: u64 = 1_700_000_000_000;

fn cache(policy: EvictionPolicy, max_entries: usize) -> (Cache, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_millis(START));
    let c = Cache::new(
        Options::default()
            .max_entries(max_entries)
            .shards(1)
            .eviction_samples(64)
            .eviction(policy)
            .clock(clock.clone()),
    )
    .unwrap();
    (c, clock)
}

fn evicted_keys(o: &kv_core::WriteOutcome) -> Vec<Vec<u8>> {
    o.evicted.iter().map(|e| e.key().to_vec()).collect()
}

fn sec(clock: &ManualClock) {
    clock.advance(Duration::from_secs(1));
}

#[test]
fn lru_evicts_the_least_recently_read() {
    let (c, clock) = cache(EvictionPolicy::Lru, 4);
    for k in [b"k0", b"k1", b"k2", b"k3"] {
        c.set(k, b"v").unwrap();
    }
    for k in [b"k2", b"k0", b"k3"] {
        sec(&clock);
        c.get(k).unwrap();
    }
    sec(&clock);
    assert_eq!(evicted_keys(&c.set(b"k4", b"v").unwrap()), [b"k1".to_vec()]);
    sec(&clock);
    assert_eq!(evicted_keys(&c.set(b"k5", b"v").unwrap()), [b"k2".to_vec()]);
    sec(&clock);
    c.get(b"k0").unwrap();
    sec(&clock);
    assert_eq!(evicted_keys(&c.set(b"k6", b"v").unwrap()), [b"k3".to_vec()]);
    assert_eq!(c.len(), 4);
    assert!(c.exists(b"k0"));
}

#[test]
fn lfu_evicts_the_least_frequently_read() {
    let (c, clock) = cache(EvictionPolicy::Lfu, 3);
    for k in [b"a", b"b", b"c"] {
        c.set(k, b"v").unwrap();
    }
    for _ in 0..50 {
        c.get(b"a");
    }
    c.get(b"c");
    sec(&clock);
    // b was never read: its counter is still the initial one, below a's and c's.
    assert_eq!(evicted_keys(&c.set(b"d", b"v").unwrap()), [b"b".to_vec()]);
    // d (new, unread) goes before c (read once).
    assert_eq!(evicted_keys(&c.set(b"e", b"v").unwrap()), [b"d".to_vec()]);
}

#[test]
fn lfu_counters_decay_so_yesterdays_hot_keys_can_leave() {
    let (c, clock) = cache(EvictionPolicy::Lfu, 2);
    c.set(b"old-hot", b"v").unwrap();
    for _ in 0..200 {
        c.get(b"old-hot");
    }
    // A day later a new key is read a few times; the old counter has decayed to 0.
    clock.advance(Duration::from_secs(24 * 3600));
    c.set(b"new", b"v").unwrap();
    for _ in 0..3 {
        c.get(b"new");
    }
    assert_eq!(
        evicted_keys(&c.set(b"newer", b"v").unwrap()),
        [b"old-hot".to_vec()]
    );
}

#[test]
fn ttl_evicts_the_soonest_expiring_and_persistent_keys_last() {
    let (c, clock) = cache(EvictionPolicy::Ttl, 4);
    c.set_with_ttl(b"a", b"v", Duration::from_secs(100))
        .unwrap();
    c.set(b"forever", b"v").unwrap();
    c.set_with_ttl(b"b", b"v", Duration::from_secs(10)).unwrap();
    c.set_with_ttl(b"d", b"v", Duration::from_secs(50)).unwrap();
    // The new keys never expire either, but were read (written) more recently.
    let order: Vec<Vec<u8>> = (0..4)
        .flat_map(|i| {
            sec(&clock);
            evicted_keys(&c.set(format!("new{i}").as_bytes(), b"v").unwrap())
        })
        .collect();
    assert_eq!(
        order,
        [
            b"b".to_vec(),
            b"d".to_vec(),
            b"a".to_vec(),
            b"forever".to_vec()
        ]
    );
}

#[test]
fn without_eviction_a_full_cache_refuses_and_changes_nothing() {
    let (c, _clock) = cache(EvictionPolicy::None, 2);
    c.set(b"a", b"1").unwrap();
    c.set(b"b", b"2").unwrap();
    let before = c.metrics();
    let err = c.set(b"c", b"3").unwrap_err();
    assert_eq!(
        err,
        Error::StoreFull {
            limit: StoreLimit::Entries(2)
        }
    );
    assert_eq!(c.len(), 2);
    assert!(!c.exists(b"c"));
    assert_eq!(c.get(b"a").unwrap(), b"1");
    assert_eq!(c.metrics().sets, before.sets);
    // Overwriting a present key needs no new slot.
    c.set(b"a", b"11").unwrap();
    assert_eq!(c.get(b"a").unwrap(), b"11");
    // Deleting makes room again.
    assert!(c.delete(b"b"));
    c.set(b"c", b"3").unwrap();
}

#[test]
fn the_byte_budget_evicts_until_the_write_fits() {
    let clock = ManualClock::new(Timestamp::from_millis(START));
    let causes = Arc::new(Mutex::new(Vec::new()));
    let seen = causes.clone();
    let c = Cache::new(
        Options::default()
            .max_bytes(Some(10))
            .shards(1)
            .eviction_samples(64)
            .eviction(EvictionPolicy::Lru)
            .clock(clock.clone())
            .on_evict(move |e, cause| seen.lock().unwrap().push((e.key().to_vec(), cause))),
    )
    .unwrap();
    c.set(b"a", b"1234").unwrap(); // 5 bytes
    sec(&clock);
    c.set(b"b", b"1234").unwrap(); // 10 bytes
    sec(&clock);
    let out = c.set(b"c", b"123456789").unwrap(); // 10 bytes alone: both go
    assert_eq!(evicted_keys(&out), [b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(c.bytes(), 10);
    assert_eq!(
        *causes.lock().unwrap(),
        [
            (b"a".to_vec(), EvictionCause::Bytes),
            (b"b".to_vec(), EvictionCause::Bytes)
        ]
    );
    // Larger than the whole budget: refused before anything is evicted.
    let err = c.set(b"d", b"1234567890").unwrap_err();
    assert_eq!(
        err,
        Error::StoreFull {
            limit: StoreLimit::Bytes(10)
        }
    );
    assert!(c.exists(b"c"));
}

#[test]
fn a_memory_budget_counts_what_each_entry_takes() {
    // "kN" with 8 value bytes: 10 bytes of data, 91 of memory.
    let each = ByteCount::Memory.of(10);
    assert_eq!(each, 91);
    let c = Cache::new(
        Options::default()
            .max_bytes(Some(3 * each))
            .byte_count(ByteCount::Memory)
            .shards(1),
    )
    .unwrap();
    for k in [b"k1", b"k2", b"k3"] {
        c.set(k, b"12345678").unwrap();
    }
    assert_eq!((c.bytes(), c.metrics().bytes), (3 * each, 3 * each));
    // Counting key and value bytes (30 of 273), a fourth would fit.
    assert_eq!(
        c.set(b"k4", b"12345678").unwrap_err(),
        Error::StoreFull {
            limit: StoreLimit::Bytes(3 * each)
        }
    );
    // A longer value in the same allocation size costs nothing more...
    c.set(b"k1", b"12345678901234567890").unwrap();
    assert_eq!(c.bytes(), 3 * each);
    // ...a larger one does.
    assert!(ByteCount::Memory.of(2 + 30) > each);
    assert!(c.set(b"k1", &[b'x'; 30]).is_err());
    c.delete(b"k2");
    assert_eq!(c.bytes(), 2 * each);
    c.set(b"k1", &[b'x'; 30]).unwrap();
    assert_eq!(c.bytes(), each + ByteCount::Memory.of(32));
    c.clear();
    assert_eq!(c.bytes(), 0);
}

#[test]
fn the_evicted_entries_come_back_with_versions_and_values() {
    let (c, clock) = cache(EvictionPolicy::Lru, 1);
    c.hooks()
        .insert(b"a", b"va", kv_core::hooks::Write::default().version(77))
        .unwrap();
    sec(&clock);
    let out = c.set(b"b", b"vb").unwrap();
    assert_eq!(out.evicted.len(), 1);
    let e = &out.evicted[0];
    assert_eq!((e.key(), e.version()), (&b"a"[..], 77));
    assert_eq!(e.value(), b"va");
    assert_eq!(c.metrics().evictions, 1);
}

#[test]
fn a_write_into_an_empty_shard_of_a_full_cache_evicts_elsewhere() {
    let clock = ManualClock::new(Timestamp::from_millis(START));
    let c = Cache::new(
        Options::default()
            .max_entries(1)
            .shards(16)
            .eviction(EvictionPolicy::Lru)
            .clock(clock),
    )
    .unwrap();
    for i in 0..100u32 {
        let key = i.to_le_bytes();
        let out = c.set(&key, b"v").unwrap();
        assert_eq!(out.evicted.len(), usize::from(i > 0));
        assert_eq!(c.len(), 1);
        assert!(c.exists(&key));
    }
}

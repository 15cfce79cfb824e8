//! The operations one by one: reads, writes with metadata, expiry, versions, batches,
//! iteration, purge, errors and the error callback.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kv_core::hooks::{BatchOp, Write};
use kv_core::{
    Cache, Error, EvictionPolicy, ExpiryCause, ManualClock, Options, StoreLimit, Timestamp, Ttl,
};

const START: u64 = 1_700_000_000_000;

fn ts(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn cache_with(opts: Options) -> (Cache, ManualClock) {
    let clock = ManualClock::new(ts(START));
    (Cache::new(opts.clock(clock.clone())).unwrap(), clock)
}

fn cache() -> (Cache, ManualClock) {
    cache_with(Options::default())
}

#[test]
fn set_get_delete_exists() {
    let (c, _) = cache();
    assert_eq!(c.get(b"k"), None);
    c.set(b"k", b"v1").unwrap();
    assert!(c.exists(b"k"));
    assert_eq!(c.get(b"k").unwrap(), b"v1");
    c.set(b"k", b"v2").unwrap();
    assert_eq!(c.get(b"k").unwrap(), b"v2");
    assert_eq!(c.len(), 1);
    assert_eq!(c.bytes(), 3);
    let removed = c.remove(b"k").unwrap();
    assert_eq!(removed.value(), b"v2");
    assert!(!c.delete(b"k"));
    assert!(!c.exists(b"k"));
    assert!(c.is_empty());
    assert_eq!(c.bytes(), 0);
    // Empty values are values.
    c.set(b"e", b"").unwrap();
    assert_eq!(c.get(b"e").unwrap(), b"");
}

#[test]
fn a_value_handle_outlives_overwrites_and_removal() {
    let (c, _) = cache();
    c.set(b"k", b"old").unwrap();
    let held = c.get(b"k").unwrap();
    c.set(b"k", b"new").unwrap();
    c.clear();
    assert_eq!(held, b"old");
    assert!(c.is_empty());
}

#[test]
fn expired_keys_are_never_returned_and_are_removed_lazily() {
    let expired = Arc::new(Mutex::new(Vec::new()));
    let seen = expired.clone();
    let (c, clock) = cache_with(Options::default().on_expire(move |e, cause| {
        seen.lock().unwrap().push((e.key().to_vec(), cause));
    }));
    c.set_with_ttl(b"k", b"v", Duration::from_millis(1500))
        .unwrap();
    assert_eq!(c.ttl(b"k"), Ttl::Remaining(Duration::from_millis(1500)));
    clock.advance(Duration::from_millis(1499));
    assert_eq!(c.get(b"k").unwrap(), b"v");
    clock.advance(Duration::from_millis(1));
    assert_eq!(c.len(), 1, "not yet reclaimed");
    assert_eq!(c.get(b"k"), None);
    assert_eq!(c.len(), 0);
    assert_eq!(c.ttl(b"k"), Ttl::Missing);
    assert_eq!(
        *expired.lock().unwrap(),
        [(b"k".to_vec(), ExpiryCause::Access)]
    );
    let m = c.metrics();
    assert_eq!((m.hits, m.misses, m.expirations), (1, 1, 1));
}

#[test]
fn expire_persist_and_ttl() {
    let (c, clock) = cache();
    assert!(!c.expire_in(b"k", Duration::from_secs(1)));
    c.set(b"k", b"v").unwrap();
    assert_eq!(c.ttl(b"k"), Ttl::Persistent);
    let version = c.info(b"k").unwrap().version;
    assert!(c.expire_in(b"k", Duration::from_secs(10)));
    assert_eq!(c.ttl(b"k"), Ttl::Remaining(Duration::from_secs(10)));
    assert_eq!(c.info(b"k").unwrap().expires_at, Some(ts(START + 10_000)));
    assert_eq!(
        c.info(b"k").unwrap().version,
        version,
        "expiry is not a write"
    );
    assert!(c.persist(b"k"));
    clock.advance(Duration::from_secs(3600));
    assert_eq!(c.get(b"k").unwrap(), b"v");
    assert!(c.expire(b"k", Some(ts(START + 3_600_000 + 5))));
    clock.advance(Duration::from_millis(5));
    assert!(!c.persist(b"k"), "already expired: too late");
    assert!(!c.exists(b"k"));
    // A plain set clears an earlier expiry.
    c.set_with_ttl(b"t", b"v", Duration::from_secs(1)).unwrap();
    c.set(b"t", b"v").unwrap();
    assert_eq!(c.ttl(b"t"), Ttl::Persistent);
}

#[test]
fn info_reports_times_counts_versions_and_size() {
    let (c, clock) = cache();
    c.set(b"key", b"value").unwrap();
    let first = c.info(b"key").unwrap();
    assert_eq!(first.created, ts(START));
    assert_eq!(first.updated, ts(START));
    assert_eq!(first.last_accessed, ts(START));
    assert_eq!(first.access_count, 0);
    assert_eq!(first.size, 8);
    assert_eq!(first.expires_at, None);
    clock.advance(Duration::from_secs(5));
    for _ in 0..3 {
        c.get(b"key").unwrap();
    }
    clock.advance(Duration::from_secs(5));
    c.set(b"key", b"value2").unwrap();
    let second = c.info(b"key").unwrap();
    assert_eq!(second.created, ts(START), "created survives an overwrite");
    assert_eq!(second.updated, ts(START + 10_000));
    assert!(second.version > first.version);
    assert_eq!(second.access_count, 0, "a new value starts a new count");
    c.get(b"key").unwrap();
    assert_eq!(c.info(b"key").unwrap().access_count, 1);
    assert_eq!(c.get_entry(b"key").unwrap().info().access_count, 2);
    // After a delete the key starts over, but versions keep growing.
    c.delete(b"key");
    clock.advance(Duration::from_secs(1));
    c.set(b"key", b"v").unwrap();
    let third = c.info(b"key").unwrap();
    assert_eq!(third.created, ts(START + 11_000));
    assert!(third.version > second.version);
}

#[test]
fn explicit_metadata_is_kept_exactly() {
    let (c, _) = cache();
    let w = Write::default()
        .version(1234)
        .created(ts(1_600_000_000_000))
        .updated(ts(1_650_000_000_000))
        .expires_at(ts(START + 99_999));
    let out = c.hooks().insert(b"k", b"v", w).unwrap();
    assert_eq!(out.version, 1234);
    let e = c.get_entry(b"k").unwrap();
    assert_eq!(e.version(), 1234);
    assert_eq!(e.created(), ts(1_600_000_000_000));
    assert_eq!(e.updated(), ts(1_650_000_000_000));
    assert_eq!(e.expires_at(), Some(ts(START + 99_999)));
    // Automatic versions continue above explicit ones.
    assert!(c.set(b"k", b"w").unwrap().version > 1234);
    // Restoring an entry read back reproduces it.
    let again = Write::default()
        .version(e.version())
        .created(e.created())
        .updated(e.updated())
        .expires_at(e.expires_at().unwrap());
    c.hooks().insert(b"k", &e.value(), again).unwrap();
    let back = c.get_entry(b"k").unwrap();
    assert_eq!(
        (
            back.version(),
            back.created(),
            back.updated(),
            back.expires_at()
        ),
        (e.version(), e.created(), e.updated(), e.expires_at())
    );
}

#[test]
fn remove_if_version_removes_only_that_version() {
    let (c, _) = cache();
    c.hooks()
        .insert(b"k", b"v", Write::default().version(5))
        .unwrap();
    assert!(!c.hooks().remove_if_version(b"k", 4));
    assert!(c.exists(b"k"));
    assert!(c.hooks().remove_if_version(b"k", 5));
    assert!(!c.exists(b"k"));
    assert!(!c.hooks().remove_if_version(b"k", 5));
}

#[test]
fn invalid_keys_and_values_are_refused_and_reported() {
    let errors = Arc::new(AtomicUsize::new(0));
    let count = errors.clone();
    let (c, _) = cache_with(
        Options::default()
            .max_key_size(4)
            .max_value_size(8)
            .on_error(move |_| {
                count.fetch_add(1, Ordering::SeqCst);
            }),
    );
    assert_eq!(c.set(b"", b"v").unwrap_err(), Error::EmptyKey);
    assert_eq!(
        c.set(b"12345", b"v").unwrap_err(),
        Error::KeyTooLarge { size: 5, limit: 4 }
    );
    assert_eq!(
        c.set(b"k", b"123456789").unwrap_err(),
        Error::ValueTooLarge { size: 9, limit: 8 }
    );
    c.set(b"1234", b"12345678").unwrap();
    assert_eq!(errors.load(Ordering::SeqCst), 3);
    assert_eq!(c.len(), 1);
    assert_eq!(c.get(b""), None);
    assert_eq!(c.get(b"123456"), None);
}

#[test]
fn an_invalid_option_fails_construction_and_is_named() {
    let err = Cache::new(Options::default().shards(6)).unwrap_err();
    match err {
        Error::InvalidOption { option, reason } => {
            assert_eq!(option, "shards");
            assert!(reason.contains('6'), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_batch_applies_in_order_and_reports_versions() {
    let (c, _) = cache_with(Options::default().shards(4));
    c.set(b"gone", b"x").unwrap();
    let w = Write::default().version(40);
    let out = c
        .hooks()
        .apply_batch(&[
            BatchOp::Put {
                key: b"a",
                value: b"1",
                write: w,
            },
            BatchOp::Put {
                key: b"b",
                value: b"2",
                write: w,
            },
            BatchOp::delete(b"gone"),
            BatchOp::Put {
                key: b"a",
                value: b"3",
                write: w,
            },
            BatchOp::delete(b"never"),
        ])
        .unwrap();
    assert_eq!(out.versions, [40, 40, 40]);
    assert_eq!(out.deleted, 1);
    assert_eq!(c.get(b"a").unwrap(), b"3");
    assert_eq!(c.get(b"b").unwrap(), b"2");
    assert!(!c.exists(b"gone"));
    assert_eq!(c.len(), 2);
    assert_eq!(c.bytes(), 4);
    let m = c.metrics();
    assert_eq!((m.sets, m.deletes), (4, 1));
}

#[test]
fn an_empty_batch_does_nothing() {
    let (c, _) = cache();
    let out = c.hooks().apply_batch(&[]).unwrap();
    assert!(out.versions.is_empty() && out.evicted.is_empty());
    assert_eq!(out.deleted, 0);
    assert!(c.is_empty());
}

#[test]
fn an_invalid_or_unfitting_batch_changes_nothing() {
    let (c, _) = cache_with(Options::default().max_entries(3));
    c.set(b"a", b"1").unwrap();
    let err = c
        .hooks()
        .apply_batch(&[BatchOp::put(b"b", b"2"), BatchOp::put(b"", b"3")])
        .unwrap_err();
    assert_eq!(err, Error::EmptyKey);
    assert!(!c.exists(b"b"));
    // Three new keys do not fit beside `a`.
    let err = c
        .hooks()
        .apply_batch(&[
            BatchOp::put(b"b", b"2"),
            BatchOp::put(b"c", b"3"),
            BatchOp::put(b"d", b"4"),
        ])
        .unwrap_err();
    assert_eq!(
        err,
        Error::StoreFull {
            limit: StoreLimit::Entries(3)
        }
    );
    assert_eq!(c.len(), 1);
    assert!(!c.exists(b"b") && !c.exists(b"c") && !c.exists(b"d"));
    // But a batch whose net effect fits does.
    c.hooks()
        .apply_batch(&[
            BatchOp::put(b"b", b"2"),
            BatchOp::put(b"c", b"3"),
            BatchOp::delete(b"a"),
            BatchOp::put(b"d", b"4"),
        ])
        .unwrap();
    assert_eq!(c.len(), 3);
}

#[test]
fn a_batch_with_eviction_never_evicts_its_own_keys() {
    let (c, clock) = cache_with(
        Options::default()
            .max_entries(3)
            .shards(1)
            .eviction_samples(64)
            .eviction(EvictionPolicy::Lru),
    );
    c.set(b"old1", b"v").unwrap();
    c.set(b"old2", b"v").unwrap();
    clock.advance(Duration::from_secs(1));
    c.set(b"a", b"v").unwrap();
    let out = c
        .hooks()
        .apply_batch(&[
            BatchOp::put(b"a", b"w"),
            BatchOp::put(b"b", b"v"),
            BatchOp::put(b"c", b"v"),
        ])
        .unwrap();
    let mut keys: Vec<_> = out.evicted.iter().map(|e| e.key().to_vec()).collect();
    keys.sort();
    assert_eq!(keys, [b"old1".to_vec(), b"old2".to_vec()]);
    assert_eq!(c.len(), 3);
}

#[test]
fn readers_never_see_part_of_a_batch() {
    let (c, _) = cache_with(Options::default().shards(16));
    let keys: Vec<Vec<u8>> = (0..16u8).map(|i| vec![b'k', i]).collect();
    let c = Arc::new(c);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sweeps = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = {
        let (c, keys, stop, sweeps) = (c.clone(), keys.clone(), stop.clone(), sweeps.clone());
        std::thread::spawn(move || {
            let mut checks = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Batches write their generation into every key, in key order. Once a
                // read sees generation g, the whole batch g has been applied (its locks
                // are released only after its last change), so every later read sees
                // g or newer: along a sweep, generations never go down.
                let gens: Vec<u8> = keys.iter().filter_map(|k| c.get(k).map(|v| v[0])).collect();
                assert!(
                    gens.windows(2).all(|w| w[0] <= w[1]),
                    "a read saw part of a batch: {gens:?}"
                );
                checks += 1;
                sweeps.store(checks, Ordering::Relaxed);
            }
            checks
        })
    };
    for generation in 0..200u8 {
        // Every tenth batch waits for the reader to finish a sweep, so that reads and
        // batches do interleave however the threads are scheduled.
        if generation % 10 == 0 {
            let seen = sweeps.load(Ordering::Relaxed);
            while sweeps.load(Ordering::Relaxed) == seen {
                std::thread::yield_now();
            }
        }
        let value = [generation];
        let ops: Vec<BatchOp<'_>> = keys.iter().map(|k| BatchOp::put(k, &value)).collect();
        c.hooks().apply_batch(&ops).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() >= 20);
    // Every batch landed whole.
    for k in &keys {
        assert_eq!(c.get(k).unwrap(), [199u8]);
    }
}

#[test]
fn iteration_yields_each_live_entry_once() {
    let (c, clock) = cache_with(Options::default().shards(8));
    for i in 0..100u32 {
        c.set(&i.to_le_bytes(), &i.to_be_bytes()).unwrap();
    }
    c.set_with_ttl(b"short", b"x", Duration::from_secs(1))
        .unwrap();
    clock.advance(Duration::from_secs(1));
    let mut seen: Vec<u32> = c
        .iter()
        .map(|e| {
            assert_eq!(
                e.value(),
                e.key().iter().rev().copied().collect::<Vec<u8>>()
            );
            u32::from_le_bytes(e.key().try_into().unwrap())
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..100).collect::<Vec<_>>());
    let by_shard: usize = (0..c.hooks().shard_count())
        .map(|s| c.hooks().shard_entries(s).len())
        .sum();
    assert_eq!(by_shard, 100);
    assert!(c.hooks().shard_entries(c.hooks().shard_count()).is_empty());
    // Writing from inside the loop is fine: no lock is held while it runs.
    for e in &c {
        c.set(e.key(), b"rewritten").unwrap();
    }
    assert_eq!(c.get(&7u32.to_le_bytes()).unwrap(), b"rewritten");
}

#[test]
fn purge_reclaims_expired_entries_within_its_budget() {
    let purged = Arc::new(AtomicUsize::new(0));
    let count = purged.clone();
    let (c, clock) = cache_with(Options::default().shards(4).on_expire(move |_, cause| {
        assert_eq!(cause, ExpiryCause::Purge);
        count.fetch_add(1, Ordering::SeqCst);
    }));
    for i in 0..1000u32 {
        let ttl = if i % 2 == 0 {
            Duration::from_secs(10)
        } else {
            Duration::from_secs(1000)
        };
        c.set_with_ttl(&i.to_le_bytes(), b"v", ttl).unwrap();
    }
    assert_eq!(c.purge_expired(10_000).expired, 0);
    clock.advance(Duration::from_secs(10));
    let first = c.purge_expired(100);
    assert_eq!(first.examined, 100);
    assert!(first.expired > 0 && first.expired <= 100);
    let mut total = first.expired;
    for _ in 0..100 {
        total += c.purge_expired(100).expired;
    }
    assert_eq!(total, 500);
    assert_eq!(c.len(), 500);
    assert_eq!(purged.load(Ordering::SeqCst), 500);
    assert_eq!(c.metrics().expirations, 500);
    assert_eq!(c.purge_expired(0), kv_core::PurgeStats::default());
}

#[test]
fn clear_empties_every_shard() {
    let (c, _) = cache_with(Options::default().shards(4));
    for i in 0..50u32 {
        c.set(&i.to_le_bytes(), b"v").unwrap();
    }
    c.clear();
    assert_eq!((c.len(), c.bytes()), (0, 0));
    assert_eq!(c.iter().count(), 0);
    c.set(b"again", b"v").unwrap();
    assert_eq!(c.len(), 1);
}

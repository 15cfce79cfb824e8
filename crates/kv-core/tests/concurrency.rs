//! Many threads at once: mixed operations with a checked final state and metrics,
//! callbacks that call back into the cache, and compute-on-miss coalescing. Each test
//! runs under a watchdog, so a deadlock fails it instead of hanging CI.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, OnceLock, Weak};
use std::time::Duration;

use kv_core::hooks::BatchOp;
use kv_core::{Cache, Error, EvictionPolicy, ManualClock, Options, Timestamp};

const START: u64 = 1_700_000_000_000;

/// Runs `f` on its own thread; fails if it takes longer than `secs`.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let out = f();
        let _ = tx.send(());
        out
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => worker.join().unwrap(),
        // The worker panicked: join to surface its panic.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => worker.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("no progress in {secs} s: deadlock?")
        }
    }
}

/// Waits, yielding (no sleep), until `done` holds (the watchdog of `within` bounds it).
fn until(done: impl Fn() -> bool) {
    while !done() {
        std::thread::yield_now();
    }
}

/// A small deterministic generator per thread.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn shared_value(i: u64) -> Vec<u8> {
    format!("computed-{i}").into_bytes()
}

#[derive(Default)]
struct Tally {
    sets: u64,
    deletes: u64,
    reads: u64,
}

#[test]
fn mixed_operations_from_many_threads_end_in_the_expected_state() {
    within(120, || {
        const THREADS: u64 = 4;
        const OPS: u64 = 20_000;
        let cache = Arc::new(Cache::new(Options::default().shards(8)).unwrap());
        let computed = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (cache, computed) = (cache.clone(), computed.clone());
                std::thread::spawn(move || {
                    let mut rng = Rng(0x9E37_79B9 + t * 7919);
                    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
                    let mut tally = Tally::default();
                    for i in 0..OPS {
                        let k = format!("t{t}:{}", rng.below(200)).into_bytes();
                        match rng.below(20) {
                            0..=9 => {
                                let v = format!("{t}-{i}").into_bytes();
                                cache.set(&k, &v).unwrap();
                                model.insert(k, v);
                                tally.sets += 1;
                            }
                            10..=12 => {
                                let had = model.remove(&k).is_some();
                                assert_eq!(cache.delete(&k), had);
                                tally.deletes += u64::from(had);
                            }
                            13..=16 => {
                                let got = cache.get(&k).map(|v| v.to_vec());
                                assert_eq!(got.as_ref(), model.get(&k));
                                tally.reads += 1;
                            }
                            17..=18 => {
                                // Contended: every thread computes the same shared keys.
                                let s = rng.below(50);
                                let key = format!("shared:{s}").into_bytes();
                                let v = cache
                                    .get_or_insert_with(&key, || {
                                        computed.fetch_add(1, SeqCst);
                                        shared_value(s)
                                    })
                                    .unwrap();
                                assert_eq!(v, shared_value(s));
                                tally.reads += 1;
                            }
                            _ => {
                                let k2 = format!("t{t}:{}", rng.below(200)).into_bytes();
                                let v = format!("batch-{t}-{i}").into_bytes();
                                let out = cache
                                    .hooks()
                                    .apply_batch(&[BatchOp::put(&k, &v), BatchOp::delete(&k2)])
                                    .unwrap();
                                model.insert(k.clone(), v);
                                let had = k2 != k && model.remove(&k2).is_some();
                                if k2 == k {
                                    model.remove(&k);
                                }
                                assert_eq!(out.deleted, usize::from(had || k2 == k));
                                tally.sets += 1;
                                tally.deletes += u64::from(had || k2 == k);
                            }
                        }
                    }
                    (model, tally)
                })
            })
            .collect();
        let mut total = Tally::default();
        let mut expected_len = 0;
        for h in handles {
            let (model, tally) = h.join().unwrap();
            for (k, v) in &model {
                assert_eq!(cache.get(k).unwrap(), *v);
            }
            expected_len += model.len();
            total.sets += tally.sets;
            total.deletes += tally.deletes;
            total.reads += tally.reads + model.len() as u64;
        }
        let computed = computed.load(SeqCst);
        assert_eq!(computed, 50, "each shared key computed exactly once");
        assert_eq!(cache.len(), expected_len + 50);
        let m = cache.metrics();
        assert_eq!(m.sets, total.sets + computed);
        assert_eq!(m.deletes, total.deletes);
        assert_eq!(m.hits + m.misses, total.reads);
        assert_eq!(m.entries, cache.len() as u64);
        assert_eq!((m.evictions, m.expirations), (0, 0));
        let bytes: u64 = cache.iter().map(|e| e.size() as u64).sum();
        assert_eq!(m.bytes, bytes);
    });
}

#[test]
fn callbacks_that_reenter_the_cache_do_not_deadlock() {
    within(120, || {
        const MAX: usize = 64;
        let clock = ManualClock::new(Timestamp::from_millis(START));
        let me: Arc<OnceLock<Weak<Cache>>> = Arc::new(OnceLock::new());
        let evictions = Arc::new(AtomicU64::new(0));
        let expirations = Arc::new(AtomicU64::new(0));
        let callback_sets = Arc::new(AtomicU64::new(0));
        let opts = {
            let (me_e, me_x) = (me.clone(), me.clone());
            let (ev, ex, cs) = (
                evictions.clone(),
                expirations.clone(),
                callback_sets.clone(),
            );
            Options::default()
                .max_entries(MAX)
                .shards(4)
                .eviction(EvictionPolicy::Lru)
                .clock(clock.clone())
                .on_evict(move |e, _| {
                    ev.fetch_add(1, SeqCst);
                    let c = me_e.get().and_then(Weak::upgrade).unwrap();
                    // Reads, writes and deletes from inside the callback.
                    let _ = c.get(e.key());
                    let _ = c.exists(b"from-callback");
                    if c.set(b"from-callback", e.key()).is_ok() {
                        cs.fetch_add(1, SeqCst);
                    }
                    c.delete(b"deleted-by-callback");
                })
                .on_expire(move |e, _| {
                    ex.fetch_add(1, SeqCst);
                    let c = me_x.get().and_then(Weak::upgrade).unwrap();
                    let _ = c.get(e.key());
                    let _ = c.len();
                    let _ = c.purge_expired(4);
                })
        };
        let cache = Arc::new(Cache::new(opts).unwrap());
        me.set(Arc::downgrade(&cache)).unwrap();
        let sets = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (clock, stop) = (clock.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(SeqCst) {
                    clock.advance(Duration::from_millis(250));
                    std::thread::yield_now();
                }
            })
        };
        let workers: Vec<_> = (0..4u64)
            .map(|t| {
                let (cache, sets) = (cache.clone(), sets.clone());
                std::thread::spawn(move || {
                    let mut rng = Rng(0xDEAD_BEEF + t * 104_729);
                    for i in 0..10_000u64 {
                        let k = format!("k{}", rng.below(500)).into_bytes();
                        let ok = match rng.below(10) {
                            0..=3 => cache.set(&k, b"v").is_ok(),
                            4..=5 => cache
                                .set_with_ttl(&k, b"t", Duration::from_millis(rng.below(3000)))
                                .is_ok(),
                            6 => {
                                cache.delete(&k);
                                false
                            }
                            7 => {
                                cache.purge_expired(32);
                                false
                            }
                            8 => {
                                let k2 = format!("k{}", rng.below(500)).into_bytes();
                                if k2 != k {
                                    let out = cache
                                        .hooks()
                                        .apply_batch(&[
                                            BatchOp::put(&k, b"b"),
                                            BatchOp::put(&k2, b"b"),
                                        ])
                                        .unwrap();
                                    sets.fetch_add(out.versions.len() as u64, SeqCst);
                                }
                                false
                            }
                            _ => {
                                let _ = cache.get(&k);
                                let mut ran = false;
                                let _ = cache.get_or_insert_with(&k, || {
                                    ran = true;
                                    i.to_le_bytes()
                                });
                                ran
                            }
                        };
                        if ok {
                            sets.fetch_add(1, SeqCst);
                        }
                        assert!(cache.len() <= MAX);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        stop.store(true, SeqCst);
        ticker.join().unwrap();
        let m = cache.metrics();
        assert!(cache.len() <= MAX);
        assert!(m.evictions > 0 && m.expirations > 0, "{m:?}");
        assert_eq!(m.evictions, evictions.load(SeqCst));
        assert_eq!(m.expirations, expirations.load(SeqCst));
        // Every successful set was counted (the compute-on-miss ones included).
        assert_eq!(m.sets, sets.load(SeqCst) + callback_sets.load(SeqCst));
        assert_eq!(m.entries, cache.len() as u64);
        assert!(cache.iter().count() as u64 <= m.entries);
    });
}

#[test]
fn concurrent_misses_on_one_key_run_the_closure_once() {
    within(60, || {
        let cache = Arc::new(Cache::new(Options::default()).unwrap());
        let runs = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (cache, runs, barrier) = (cache.clone(), runs.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    cache
                        .get_or_insert_with(b"slow", || {
                            runs.fetch_add(1, SeqCst);
                            // Keep the computation in flight until every caller
                            // has missed: the others then wait for this one.
                            until(|| cache.metrics().misses == 8);
                            b"expensive".to_vec()
                        })
                        .unwrap()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), b"expensive");
        }
        assert_eq!(runs.load(SeqCst), 1);
        let m = cache.metrics();
        assert_eq!((m.sets, m.hits, m.misses), (1, 0, 8));
    });
}

#[test]
fn a_panicking_or_failing_closure_does_not_wedge_the_key() {
    within(60, || {
        let cache = Arc::new(Cache::new(Options::default()).unwrap());
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let leader = {
            let cache = cache.clone();
            std::thread::spawn(move || {
                let c = cache.clone();
                cache.get_or_insert_with(b"k", move || -> Vec<u8> {
                    started_tx.send(()).unwrap();
                    // Until the second caller has missed (it then finds this flight
                    // and waits, unless it is slower than this panic: then it leads).
                    until(|| c.metrics().misses == 2);
                    panic!("the computation failed");
                })
            })
        };
        started_rx.recv().unwrap();
        // Waits for the leader, sees it fail, computes itself.
        let v = cache
            .get_or_insert_with(b"k", || b"second".to_vec())
            .unwrap();
        assert_eq!(v, b"second");
        assert!(
            leader.join().is_err(),
            "the leader's panic reaches its caller"
        );
        assert_eq!(cache.get(b"k").unwrap(), b"second");

        // An error goes to the caller, and the next call computes again.
        let err = cache
            .try_get_or_insert_with(b"e", || Err::<Vec<u8>, Error>(Error::EmptyKey))
            .unwrap_err();
        assert_eq!(err, Error::EmptyKey);
        assert!(!cache.exists(b"e"));
        let v = cache
            .try_get_or_insert_with(b"e", || Ok::<_, Error>(b"ok".to_vec()))
            .unwrap();
        assert_eq!(v, b"ok");
        // A value too large is the cache's own error, converted.
        let small = Cache::new(Options::default().max_value_size(2)).unwrap();
        assert_eq!(
            small
                .get_or_insert_with(b"k", || b"toolong".to_vec())
                .unwrap_err(),
            Error::ValueTooLarge { size: 7, limit: 2 }
        );
        assert_eq!(
            small.get_or_insert_with(b"k", || b"ok".to_vec()).unwrap(),
            b"ok"
        );
    });
}

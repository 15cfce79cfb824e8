//! The atomic updates of `Cache` under concurrency: increments from eight threads, a
//! lock built on set-if-absent, a compare-and-swap loop, and an update closure that
//! calls back into the cache.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use kv_core::{Cache, Condition, Error, Options, SetOptions, Update};

fn on_eight_threads(f: impl Fn(u8) + Send + Sync + 'static) {
    let f = Arc::new(f);
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8u8)
        .map(|id| {
            let (f, start) = (f.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                f(id);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn eight_threads_of_ten_thousand_increments_leave_exactly_eighty_thousand() {
    let cache = Cache::new(Options::default()).unwrap();
    let c = cache.clone();
    on_eight_threads(move |_| {
        for _ in 0..10_000 {
            c.incr(b"counter", 1).unwrap();
        }
    });
    assert_eq!(cache.get(b"counter").unwrap(), b"80000");
}

#[test]
fn a_lock_built_on_set_if_absent_never_has_two_holders() {
    let cache = Cache::new(Options::default()).unwrap();
    let holders = Arc::new(AtomicUsize::new(0));
    let entered = Arc::new(AtomicUsize::new(0));
    let (c, h, e) = (cache.clone(), holders.clone(), entered.clone());
    on_eight_threads(move |id| {
        let me = [b'o', id];
        let lease = SetOptions::new().if_absent().ttl(Duration::from_secs(60));
        let mut held = 0;
        while held < 500 {
            if !c.set_with(b"lock", &me, &lease).unwrap().written {
                std::thread::yield_now();
                continue;
            }
            assert_eq!(h.fetch_add(1, Ordering::SeqCst), 0, "two holders");
            e.fetch_add(1, Ordering::SeqCst);
            std::thread::yield_now();
            h.fetch_sub(1, Ordering::SeqCst);
            assert!(c.delete_if(b"lock", Condition::Value(&me)).unwrap());
            held += 1;
        }
    });
    assert_eq!(entered.load(Ordering::SeqCst), 8 * 500);
    assert!(cache.metrics().refused > 0);
}

#[test]
fn a_compare_and_swap_loop_and_an_update_loop_lose_no_update() {
    let cache = Cache::new(Options::default()).unwrap();
    cache.set(b"cas", b"").unwrap();
    let c = cache.clone();
    on_eight_threads(move |id| {
        for _ in 0..500 {
            // Compare-and-swap on the version ...
            loop {
                let version = c.info(b"cas").unwrap().version;
                let mut v = c.get(b"cas").unwrap().to_vec();
                v.push(b'0' + id);
                if c.set_with(b"cas", &v, &SetOptions::new().if_version(version))
                    .unwrap()
                    .written
                {
                    break;
                }
            }
            // ... and the same with an update closure, which never retries.
            c.update(b"upd", |old| {
                let mut v = old.map(<[u8]>::to_vec).unwrap_or_default();
                v.push(b'0' + id);
                Update::Set(v)
            })
            .unwrap();
        }
    });
    for key in [&b"cas"[..], b"upd"] {
        let v = cache.get(key).unwrap().to_vec();
        assert_eq!(v.len(), 8 * 500);
        for id in 0..8u8 {
            assert_eq!(v.iter().filter(|&&b| b == b'0' + id).count(), 500);
        }
    }
}

#[test]
fn a_write_from_inside_an_update_closure_is_refused() {
    let cache = Cache::new(Options::default().shards(1)).unwrap();
    let got = cache
        .update(b"k", |_| {
            assert!(matches!(cache.set(b"other", b"1"), Err(Error::Reentrant)));
            assert_eq!(cache.incr(b"k", 1), Err(Error::Reentrant));
            Update::Set(b"done".to_vec())
        })
        .unwrap();
    assert_eq!(got.unwrap(), b"done");
    // Outside the closure, writes work again.
    cache.set(b"other", b"2").unwrap();
    assert_eq!(cache.get(b"other").unwrap(), b"2");
}

/// An increment of a value nobody else holds rewrites the entry in place; one whose
/// value a reader holds leaves the reader's bytes alone. Either way the entry gets
/// what a new write gives it: a higher version, its creation time kept, its expiry
/// kept.
#[test]
fn an_increment_never_changes_a_value_a_reader_holds() {
    let clock = kv_core::ManualClock::new(kv_core::Timestamp::from_millis(10_000));
    let cache = Cache::new(Options::default().clock(clock.clone())).unwrap();
    cache
        .set_with_ttl(b"n", b"10", Duration::from_secs(100))
        .unwrap();
    let before = cache.info(b"n").unwrap();
    let held = cache.get(b"n").unwrap();
    clock.advance(Duration::from_secs(5));
    assert_eq!(cache.incr(b"n", 1).unwrap(), 11);
    assert_eq!(held.as_bytes(), b"10");
    drop(held);
    assert_eq!(cache.incr(b"n", 1).unwrap(), 12);
    assert_eq!(cache.get(b"n").unwrap().as_bytes(), b"12");
    let after = cache.info(b"n").unwrap();
    assert_eq!(after.version, before.version + 2);
    assert_eq!(after.created, before.created);
    assert_eq!(after.updated, kv_core::Timestamp::from_millis(15_000));
    assert_eq!(after.expires_at, before.expires_at);
    // A new length takes a new entry.
    assert_eq!(cache.incr(b"n", 88).unwrap(), 100);
    assert_eq!(cache.get(b"n").unwrap().as_bytes(), b"100");
}

/// Readers holding values while other threads increment: every value read stays
/// the number it was when read, and the counts come out exact.
#[test]
fn values_held_by_readers_stay_as_read_while_others_increment() {
    let cache = Cache::new(Options::default()).unwrap();
    cache.set(b"n", b"1000000").unwrap();
    let c = cache.clone();
    on_eight_threads(move |id| {
        for _ in 0..5_000 {
            if id % 2 == 0 {
                c.incr(b"n", 1).unwrap();
            } else {
                let v = c.get(b"n").unwrap();
                let read: i64 = std::str::from_utf8(v.as_bytes()).unwrap().parse().unwrap();
                std::hint::spin_loop();
                let again: i64 = std::str::from_utf8(v.as_bytes()).unwrap().parse().unwrap();
                assert_eq!(read, again, "a held value changed under its reader");
            }
        }
    });
    assert_eq!(cache.get(b"n").unwrap().as_bytes(), b"1020000");
}

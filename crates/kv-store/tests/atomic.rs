//! The atomic updates under concurrency and bad input: increments from many threads
//! under sync-every-write, a lock built on set-if-absent, a compare-and-swap loop,
//! refused and failed writes that change nothing (also after a reopen), and update
//! closures that call back into the store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use kv_store::{Condition, CoreError, Error, Options, SetOptions, Store, SyncPolicy, Update};

fn opts(dir: &std::path::Path) -> Options {
    Options::new()
        .dir(dir)
        .sync(SyncPolicy::EveryWrite)
        .background_workers(false)
}

#[test]
fn eight_threads_of_ten_thousand_increments_leave_exactly_eighty_thousand() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path())).unwrap();
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (store, start) = (store.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for _ in 0..10_000 {
                    store.incr(b"counter", 1).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.get(b"counter").unwrap().unwrap(), b"80000");
    store.close().unwrap();
    let store = Store::open(opts(dir.path())).unwrap();
    assert_eq!(store.incr(b"counter", 0).unwrap(), 80_000);
    store.close().unwrap();
}

#[test]
fn a_lock_built_on_set_if_absent_never_has_two_holders() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path()).sync(SyncPolicy::Never)).unwrap();
    let holders = Arc::new(AtomicUsize::new(0));
    let entered = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8u8)
        .map(|id| {
            let (store, holders, entered, start) = (
                store.clone(),
                holders.clone(),
                entered.clone(),
                start.clone(),
            );
            std::thread::spawn(move || {
                start.wait();
                let me = [b'o', id];
                let lease = SetOptions::new().if_absent().ttl(Duration::from_secs(60));
                let mut held = 0;
                while held < 200 {
                    if !store.set_with(b"lock", &me, &lease).unwrap().written {
                        std::thread::yield_now();
                        continue;
                    }
                    // The critical section: nobody else is in it.
                    assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    entered.fetch_add(1, Ordering::SeqCst);
                    std::thread::yield_now();
                    holders.fetch_sub(1, Ordering::SeqCst);
                    // Released by its owner only.
                    assert!(store.delete_if(b"lock", Condition::Value(&me)).unwrap());
                    held += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(entered.load(Ordering::SeqCst), 8 * 200);
    assert!(store.metrics().writes_refused > 0);
    store.close().unwrap();
}

#[test]
fn a_compare_and_swap_loop_from_eight_threads_loses_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path()).sync(SyncPolicy::Never)).unwrap();
    store.set(b"log", b"").unwrap();
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8u8)
        .map(|id| {
            let (store, start) = (store.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for _ in 0..250 {
                    loop {
                        let info = store.info(b"log").unwrap().unwrap();
                        let mut v = store.get(b"log").unwrap().unwrap().to_vec();
                        v.push(b'0' + id);
                        let cas = SetOptions::new().if_version(info.version);
                        if store.set_with(b"log", &v, &cas).unwrap().written {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let log = store.get(b"log").unwrap().unwrap().to_vec();
    assert_eq!(log.len(), 8 * 250);
    for id in 0..8u8 {
        assert_eq!(log.iter().filter(|&&b| b == b'0' + id).count(), 250);
    }
    store.close().unwrap();
    let store = Store::open(opts(dir.path())).unwrap();
    assert_eq!(store.get(b"log").unwrap().unwrap().to_vec(), log);
}

#[test]
fn bad_input_is_a_typed_error_that_changes_nothing_also_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let o = || opts(dir.path()).max_entries(2).max_value_size(24).shards(1);
    let store = Store::open(o()).unwrap();
    store.set(b"text", b"abc").unwrap();
    store.set(b"max", i64::MAX.to_string().as_bytes()).unwrap();
    let seq = store.metrics().last_seq;
    assert!(matches!(
        store.incr(b"text", 1),
        Err(Error::Core(CoreError::NotAnInteger))
    ));
    assert!(matches!(
        store.incr(b"max", 1),
        Err(Error::Core(CoreError::Overflow))
    ));
    assert!(matches!(
        store.incr_float(b"text", 1.0),
        Err(Error::Core(CoreError::NotAFloat))
    ));
    assert!(matches!(
        store.set_with(b"text", &[b'x'; 25], &SetOptions::new().if_present()),
        Err(Error::Core(CoreError::ValueTooLarge { .. }))
    ));
    assert!(matches!(
        store.append(b"text", &[b'x'; 22]),
        Err(Error::Core(CoreError::ValueTooLarge { .. }))
    ));
    // Full, with no eviction: a conditional set of a new key is refused with a typed
    // error, a refused condition is not an error at all.
    assert!(matches!(
        store.set_with(b"third", b"v", &SetOptions::new().if_absent()),
        Err(Error::Core(CoreError::StoreFull { .. }))
    ));
    assert!(
        !store
            .set_with(b"text", b"x", &SetOptions::new().if_absent())
            .unwrap()
            .written
    );
    assert_eq!(
        store.metrics().last_seq,
        seq,
        "a failed or refused write was logged"
    );
    store.close().unwrap();
    let store = Store::open(o()).unwrap();
    assert_eq!(store.get(b"text").unwrap().unwrap(), b"abc");
    assert_eq!(
        store.get(b"max").unwrap().unwrap(),
        i64::MAX.to_string().as_bytes()
    );
    assert!(store.get(b"third").unwrap().is_none());
}

#[test]
fn an_update_closure_may_read_the_store_but_a_write_from_it_is_refused() {
    let store = Store::in_memory().unwrap();
    store.set(b"other", b"1").unwrap();
    let got = store
        .update(b"k", |_| {
            assert_eq!(store.get(b"other").unwrap().unwrap(), b"1");
            assert!(matches!(
                store.set(b"other", b"2"),
                Err(Error::Core(CoreError::Reentrant))
            ));
            assert!(matches!(
                store.incr(b"k", 1),
                Err(Error::Core(CoreError::Reentrant))
            ));
            Update::Set(b"done".to_vec())
        })
        .unwrap();
    assert_eq!(got.as_deref(), Some(&b"done"[..]));
    // Outside the closure, writes work again.
    store.set(b"other", b"3").unwrap();
    assert_eq!(store.get(b"other").unwrap().unwrap(), b"3");
}

/// A decided put may rewrite the key's entry in place, but never a value somebody
/// holds, and what `set_with … GET` and `remove` return is the value before; after a
/// reopen the log agrees.
#[test]
fn increments_leave_held_and_returned_values_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path())).unwrap();
    store.set(b"n", b"10").unwrap();
    let held = store.get(b"n").unwrap().unwrap();
    assert_eq!(store.incr(b"n", 1).unwrap(), 11);
    assert_eq!(held.as_bytes(), b"10");
    drop(held);
    assert_eq!(store.incr(b"n", 1).unwrap(), 12);
    let swapped = store
        .set_with(b"n", b"77", &SetOptions::new().get())
        .unwrap();
    assert_eq!(swapped.previous.as_deref(), Some(&b"12"[..]));
    assert_eq!(store.incr(b"n", 1).unwrap(), 78);
    assert_eq!(store.remove(b"n").unwrap().as_deref(), Some(&b"78"[..]));
    store.set(b"m", b"5").unwrap();
    assert_eq!(store.incr(b"m", 4).unwrap(), 9);
    assert_eq!(store.incr(b"m", 1).unwrap(), 10);
    store.close().unwrap();
    let store = Store::open(opts(dir.path())).unwrap();
    assert_eq!(store.get(b"n").unwrap(), None);
    assert_eq!(store.get(b"m").unwrap().unwrap().as_bytes(), b"10");
}

//! Writers, readers and snapshots at the same time: the fuzzy snapshot plus redo must
//! recover exactly what memory held, metadata included, and writers are never stopped
//! for the length of a snapshot.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kv_store::{Batch, EvictionPolicy, Options, Store, SyncPolicy};

fn state(store: &Store) -> BTreeMap<Vec<u8>, (Vec<u8>, u64, u64, u64)> {
    store
        .iter()
        .unwrap()
        .map(|(k, v)| {
            let i = store.info(&k).unwrap().unwrap();
            (
                k,
                (
                    v.to_vec(),
                    i.version,
                    i.created.as_millis(),
                    i.updated.as_millis(),
                ),
            )
        })
        .collect()
}

/// A write refused because the store is full is fine; anything else is not.
fn ok_or_full(r: kv_store::Result<()>) {
    match r {
        Ok(()) | Err(kv_store::Error::Core(kv_core::Error::StoreFull { .. })) => {}
        Err(e) => panic!("{e}"),
    }
}

fn run(options: impl Fn() -> Options) {
    let store = Store::open(options()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4u64)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut x = t * 7919 + 1;
                for n in 0..1500u64 {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let k = format!("t{t}k{}", (x >> 33) % 40);
                    match (x >> 20) % 8 {
                        0..=4 => ok_or_full(store.set(k.as_bytes(), format!("{n}").as_bytes())),
                        5 => {
                            store.delete(k.as_bytes()).unwrap();
                        }
                        _ => {
                            let mut b = Batch::new();
                            b.put(k.as_bytes(), b"batch")
                                .delete(format!("t{t}k{}", (x >> 40) % 40).as_bytes())
                                .put(format!("t{t}k{}", (x >> 45) % 40).as_bytes(), b"b2");
                            ok_or_full(store.apply(&b));
                        }
                    }
                }
            })
        })
        .collect();
    let snapshotter = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                if n % 3 == 2 {
                    store.compact().unwrap();
                } else {
                    store.snapshot().unwrap();
                }
                n += 1;
            }
            n
        })
    };
    // Readers and iteration keep working meanwhile.
    let deadline = Instant::now() + Duration::from_secs(60);
    for w in writers {
        while !w.is_finished() {
            assert!(Instant::now() < deadline, "writers stalled");
            let _ = store.get(b"t0k1").unwrap();
            let _ = store.iter().unwrap().count();
        }
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(snapshotter.join().unwrap() >= 1);
    let want = state(&store);
    store.crash();
    drop(store);
    let store = Store::open(options()).unwrap();
    assert_eq!(state(&store), want);
    store.close().unwrap();
}

#[test]
fn snapshots_taken_while_writers_run_recover_exactly() {
    let dir = tempfile::tempdir().unwrap();
    run(|| {
        Options::new()
            .dir(dir.path())
            .sync(SyncPolicy::Never)
            .segment_size(16 * 1024)
            .background_workers(false)
    });
}

#[test]
fn evictions_logged_while_snapshots_run_recover_exactly() {
    let dir = tempfile::tempdir().unwrap();
    run(|| {
        Options::new()
            .dir(dir.path())
            .sync(SyncPolicy::Never)
            .segment_size(16 * 1024)
            .max_entries(64)
            .eviction(EvictionPolicy::Random)
            .background_workers(false)
    });
}

/// With no eviction, concurrent writers race for the last free slots: the map may
/// refuse a write the log already accepted, which is then undone by a logged record.
#[test]
fn writes_refused_by_a_full_map_after_logging_recover_exactly() {
    let dir = tempfile::tempdir().unwrap();
    run(|| {
        Options::new()
            .dir(dir.path())
            .sync(SyncPolicy::Never)
            .segment_size(16 * 1024)
            .max_entries(100)
            .background_workers(false)
    });
}

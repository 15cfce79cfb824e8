//! Behaviour of the `Store` facade: ownership of the directory, close, batches,
//! iteration, get_or_insert_with, evictions, expiry across reopen, modes, recovery
//! from damaged files, metrics and permissions.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kv_store::{
    Batch, Error, EvictionPolicy, ManualClock, Options, PersistenceMode, RecoveryMode, Store,
    SyncPolicy, Timestamp, Ttl,
};

fn opts(dir: &std::path::Path) -> Options {
    Options::new()
        .dir(dir)
        .sync(SyncPolicy::EveryWrite)
        // Small segments: opening scans the active one.
        .segment_size(1 << 20)
        .background_workers(false)
}

fn files(dir: &std::path::Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                m.len(),
                m.modified().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn store_is_a_cheap_send_sync_handle() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Store>();
    let store = Store::in_memory().unwrap();
    let other = store.clone();
    other.set(b"k", b"v").unwrap();
    assert_eq!(store.get(b"k").unwrap().unwrap(), b"v");
}

#[test]
fn a_second_open_of_the_directory_fails_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path())).unwrap();
    store.set(b"k", b"v").unwrap();
    let before = files(dir.path());
    let err = Store::open(opts(dir.path())).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(err.to_string().contains("locked"), "{err}");
    assert_eq!(files(dir.path()), before);
    assert_eq!(store.get(b"k").unwrap().unwrap(), b"v");
    store.close().unwrap();
    // Closing released the directory even though a handle is still alive.
    let again = Store::open(opts(dir.path())).unwrap();
    assert_eq!(again.get(b"k").unwrap().unwrap(), b"v");
}

#[test]
fn close_is_idempotent_and_later_operations_fail() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path())).unwrap();
    store.set(b"k", b"v").unwrap();
    let other = store.clone();
    store.close().unwrap();
    store.close().unwrap();
    assert!(other.is_closed());
    assert!(matches!(other.get(b"k"), Err(Error::Closed)));
    assert!(matches!(other.set(b"k", b"w"), Err(Error::Closed)));
    assert!(matches!(other.delete(b"k"), Err(Error::Closed)));
    assert!(matches!(other.apply(&Batch::new()), Err(Error::Closed)));
    assert!(matches!(other.snapshot(), Err(Error::Closed)));
    assert!(matches!(other.sync(), Err(Error::Closed)));
    assert!(matches!(other.iter().map(|_| ()), Err(Error::Closed)));
}

#[test]
fn dropping_the_last_handle_closes_and_unlocks() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(opts(dir.path())).unwrap();
        let clone = store.clone();
        store.set(b"k", b"v").unwrap();
        drop(store);
        // One handle left: still open and locked.
        assert!(matches!(
            Store::open(opts(dir.path())),
            Err(Error::Locked { .. })
        ));
        clone.set(b"k2", b"v2").unwrap();
    }
    let store = Store::open(opts(dir.path())).unwrap();
    assert_eq!(store.get(b"k2").unwrap().unwrap(), b"v2");
    // The final snapshot of the implicit close was taken.
    assert!(store.recovery().snapshot.is_some());
}

#[test]
fn invalid_options_name_the_option() {
    let err = Store::open(Options::new().dir("unused").max_value_size(0)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                option: "max_value_size",
                ..
            }
        ),
        "{err}"
    );
    let err = Store::open(Options::new().persistence(PersistenceMode::WalOnly)).unwrap_err();
    assert!(
        matches!(err, Error::InvalidOption { option: "dir", .. }),
        "{err}"
    );
}

#[test]
fn invalid_writes_are_refused_before_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path()).max_key_size(4).max_value_size(4)).unwrap();
    let seq = store.metrics().last_seq;
    assert!(matches!(
        store.set(b"", b"v"),
        Err(Error::Core(kv_core::Error::EmptyKey))
    ));
    assert!(store.set(b"toolong", b"v").is_err());
    assert!(store.set(b"k", b"toolong").is_err());
    let mut batch = Batch::new();
    batch.put(b"ok", b"v").put(b"k", b"toolong");
    assert!(store.apply(&batch).is_err());
    assert!(store.get(b"ok").unwrap().is_none(), "half a batch applied");
    assert_eq!(
        store.metrics().last_seq,
        seq,
        "a refused write reached the log"
    );
}

#[test]
fn readers_never_see_half_a_batch() {
    let store = Store::open(
        Options::new()
            .dir(tempfile::tempdir().unwrap().keep())
            .sync(SyncPolicy::Never)
            .background_workers(false),
    )
    .unwrap();
    let mut b = Batch::new();
    b.put(b"a", b"0").put(b"b", b"0");
    store.apply(&b).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sweeps = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = {
        let (store, stop, sweeps) = (store.clone(), stop.clone(), sweeps.clone());
        std::thread::spawn(move || {
            let mut checks = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Both keys always carry the same generation.
                let a = store.get(b"a").unwrap().unwrap();
                let b = store.get(b"b").unwrap().unwrap();
                let (a2, b2) = (
                    store.get(b"a").unwrap().unwrap(),
                    store.get(b"b").unwrap().unwrap(),
                );
                assert!(a == b || a2 == b2 || a != a2, "torn batch: a={a:?} b={b:?}");
                checks += 1;
                sweeps.store(checks, Ordering::Relaxed);
            }
            checks
        })
    };
    for i in 1..2000u32 {
        // Every hundredth batch waits for a read sweep, so that reads and batches do
        // interleave however the threads are scheduled.
        if i % 100 == 1 {
            let seen = sweeps.load(Ordering::Relaxed);
            while sweeps.load(Ordering::Relaxed) == seen {
                std::thread::yield_now();
            }
        }
        let v = i.to_string();
        let mut b = Batch::new();
        b.put(b"a", v.as_bytes()).put(b"b", v.as_bytes());
        store.apply(&b).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() >= 20);
    // And the iterator sees the pair consistently at the end.
    let all: Vec<_> = store.iter().unwrap().collect();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].1, all[1].1);
}

#[test]
fn iteration_holds_no_lock_while_the_caller_runs() {
    let store = Store::in_memory().unwrap();
    for i in 0..200u32 {
        store.set(format!("k{i}").as_bytes(), b"v").unwrap();
    }
    let mut seen = 0;
    for (k, v) in store.iter().unwrap() {
        assert_eq!(v, b"v");
        // Writing (even the key being visited) inside the loop would deadlock if a
        // shard lock were held.
        store.set(&k, b"w").unwrap();
        store.delete(b"k0").unwrap();
        seen += 1;
    }
    assert!((199..=200).contains(&seen), "{seen}");
}

#[test]
fn get_or_insert_with_runs_the_closure_once_for_concurrent_misses() {
    let store = Store::in_memory().unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (store, runs) = (store.clone(), runs.clone());
            std::thread::spawn(move || {
                store
                    .get_or_insert_with(b"k", || {
                        runs.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(50));
                        b"computed".to_vec()
                    })
                    .unwrap()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), b"computed");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn a_panicking_get_or_insert_with_closure_does_not_wedge_the_key() {
    let store = Store::in_memory().unwrap();
    let s = store.clone();
    let r =
        std::thread::spawn(move || s.get_or_insert_with(b"k", || -> Vec<u8> { panic!("boom") }))
            .join();
    assert!(r.is_err());
    let v = store.get_or_insert_with(b"k", || b"ok".to_vec()).unwrap();
    assert_eq!(v, b"ok");
}

#[test]
fn get_or_insert_with_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path())).unwrap();
    store.get_or_insert_with(b"k", || b"v".to_vec()).unwrap();
    store.crash();
    drop(store);
    let store = Store::open(opts(dir.path())).unwrap();
    assert_eq!(store.get(b"k").unwrap().unwrap(), b"v");
}

#[test]
fn evicted_keys_do_not_come_back_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let o = || {
        opts(dir.path())
            .max_entries(50)
            .eviction(EvictionPolicy::Lru)
            .shards(1)
    };
    let store = Store::open(o()).unwrap();
    for i in 0..300u32 {
        store
            .set(format!("k{i}").as_bytes(), i.to_string().as_bytes())
            .unwrap();
        if i % 7 == 0 {
            // Reads steer the LRU choice; the point is only that whatever it
            // evicts is logged.
            let _ = store.get(b"k0").unwrap();
        }
    }
    let live: std::collections::BTreeSet<Vec<u8>> = store.keys().unwrap().into_iter().collect();
    assert!(live.len() <= 50);
    assert!(store.metrics().evictions_logged >= 250);
    let infos: Vec<_> = live
        .iter()
        .map(|k| store.info(k).unwrap().unwrap().version)
        .collect();
    store.crash();
    drop(store);
    let store = Store::open(o()).unwrap();
    let back: std::collections::BTreeSet<Vec<u8>> = store.keys().unwrap().into_iter().collect();
    assert_eq!(back, live);
    let infos2: Vec<_> = live
        .iter()
        .map(|k| store.info(k).unwrap().unwrap().version)
        .collect();
    assert_eq!(infos, infos2);
}

#[test]
fn a_full_store_refuses_and_the_refused_write_stays_gone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path()).max_entries(2).shards(1)).unwrap();
    store.set(b"a", b"1").unwrap();
    store.set(b"b", b"2").unwrap();
    let seq = store.metrics().last_seq;
    let err = store.set(b"c", b"3").unwrap_err();
    assert!(
        matches!(err, Error::Core(kv_core::Error::StoreFull { .. })),
        "{err}"
    );
    assert_eq!(
        store.metrics().last_seq,
        seq,
        "a surely refused write was logged"
    );
    // Overwrites still fit.
    store.set(b"a", b"11").unwrap();
    store.crash();
    drop(store);
    let store = Store::open(opts(dir.path()).max_entries(2).shards(1)).unwrap();
    assert!(store.get(b"c").unwrap().is_none());
    assert_eq!(store.get(b"a").unwrap().unwrap(), b"11");
}

#[test]
fn expiry_is_absolute_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(1_000_000));
    let o = || opts(dir.path()).clock(Arc::new(clock.clone()));
    let store = Store::open(o()).unwrap();
    store
        .set_with_ttl(b"short", b"v", Duration::from_secs(10))
        .unwrap();
    store
        .set_with_ttl(b"long", b"v", Duration::from_secs(100))
        .unwrap();
    store.set(b"forever", b"v").unwrap();
    store.expire(b"forever", Duration::from_secs(5)).unwrap();
    store.persist(b"forever").unwrap();
    assert_eq!(
        store.ttl(b"short").unwrap(),
        Ttl::Remaining(Duration::from_secs(10))
    );
    store.crash();
    drop(store);
    clock.advance(Duration::from_secs(50));
    let store = Store::open(o()).unwrap();
    assert!(store.get(b"short").unwrap().is_none());
    assert_eq!(
        store.ttl(b"long").unwrap(),
        Ttl::Remaining(Duration::from_secs(50))
    );
    assert_eq!(store.ttl(b"forever").unwrap(), Ttl::Persistent);
    assert_eq!(store.recovery().expired_dropped, 1);
}

#[test]
fn snapshot_only_mode_loses_what_came_after_the_last_snapshot_on_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let o = || opts(dir.path()).persistence(PersistenceMode::SnapshotsOnly);
    let store = Store::open(o()).unwrap();
    store.set(b"before", b"1").unwrap();
    store.snapshot().unwrap();
    store.set(b"after", b"2").unwrap();
    store.crash();
    drop(store);
    let store = Store::open(o()).unwrap();
    assert_eq!(store.get(b"before").unwrap().unwrap(), b"1");
    assert!(store.get(b"after").unwrap().is_none());
    // A clean close snapshots everything.
    store.set(b"after", b"2").unwrap();
    store.close().unwrap();
    let store = Store::open(o()).unwrap();
    assert_eq!(store.get(b"after").unwrap().unwrap(), b"2");
    assert!(!std::fs::read_dir(dir.path()).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("wal-")));
}

#[test]
fn wal_only_mode_has_no_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let o = || opts(dir.path()).persistence(PersistenceMode::WalOnly);
    let store = Store::open(o()).unwrap();
    store.set(b"k", b"v").unwrap();
    assert!(matches!(store.snapshot(), Err(Error::Unsupported { .. })));
    store.close().unwrap();
    let store = Store::open(o()).unwrap();
    assert_eq!(store.get(b"k").unwrap().unwrap(), b"v");
    assert!(store.recovery().snapshot.is_none());
    assert_eq!(store.recovery().records_replayed, 1);
}

#[test]
fn in_memory_store_works_without_a_directory() {
    let store = Store::in_memory().unwrap();
    store.set(b"k", b"v").unwrap();
    assert!(store.delete(b"k").unwrap());
    assert!(!store.delete(b"k").unwrap());
    assert!(matches!(store.snapshot(), Err(Error::Unsupported { .. })));
    store.sync().unwrap();
    store.close().unwrap();
}

fn newest_snapshot(dir: &std::path::Path) -> std::path::PathBuf {
    let mut snaps: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "snap"))
        .collect();
    snaps.sort();
    snaps.pop().expect("a snapshot")
}

#[test]
fn a_corrupt_newest_snapshot_falls_back_to_the_previous_one_and_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path())).unwrap();
    for i in 0..50u32 {
        store.set(format!("k{i}").as_bytes(), b"first").unwrap();
    }
    store.snapshot().unwrap();
    for i in 25..75u32 {
        store.set(format!("k{i}").as_bytes(), b"second").unwrap();
    }
    store.delete(b"k0").unwrap();
    store.snapshot().unwrap();
    store.set(b"k1", b"third").unwrap();
    let want: Vec<_> = {
        let mut v: Vec<_> = store
            .iter()
            .unwrap()
            .map(|(k, v)| (k, v.to_vec()))
            .collect();
        v.sort();
        v
    };
    store.crash();
    drop(store);
    let newest = newest_snapshot(dir.path());
    let mut bytes = std::fs::read(&newest).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&newest, bytes).unwrap();

    let store = Store::open(opts(dir.path())).unwrap();
    let rec = store.recovery().clone();
    assert_eq!(rec.snapshots_skipped.len(), 1, "{rec:?}");
    assert_eq!(rec.snapshots_skipped[0].0, newest);
    assert!(rec.snapshot.is_some() && rec.snapshot.as_ref() != Some(&newest));
    let mut got: Vec<_> = store
        .iter()
        .unwrap()
        .map(|(k, v)| (k, v.to_vec()))
        .collect();
    got.sort();
    assert_eq!(got, want);
}

/// The single log segment and where its records end.
fn segment(dir: &std::path::Path) -> std::path::PathBuf {
    let mut segs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    segs.sort();
    assert_eq!(segs.len(), 1, "{segs:?}");
    segs.pop().unwrap()
}

#[test]
fn a_torn_log_tail_is_cut_and_reported_and_strict_mode_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path()).persistence(PersistenceMode::WalOnly)).unwrap();
    for i in 0..10u32 {
        store.set(format!("k{i}").as_bytes(), b"v").unwrap();
    }
    let end = store.metrics().wal_bytes;
    store.crash();
    drop(store);
    // Half a record's worth of garbage right after the last record: a torn write.
    let seg = segment(dir.path());
    let mut bytes = std::fs::read(&seg).unwrap();
    for b in &mut bytes[end as usize..end as usize + 13] {
        *b = 0xa5;
    }
    std::fs::write(&seg, &bytes).unwrap();

    let strict = opts(dir.path())
        .persistence(PersistenceMode::WalOnly)
        .recovery(RecoveryMode::AbsoluteConsistency);
    let err = Store::open(strict).unwrap_err();
    let text = format!("{err}: {:?}", std::error::Error::source(&err));
    assert!(text.contains("wal-"), "{text}");

    let store = Store::open(opts(dir.path()).persistence(PersistenceMode::WalOnly)).unwrap();
    let rec = store.recovery();
    assert!(rec.bytes_cut > 0, "{rec:?}");
    assert!(rec.cut_at.contains("wal-"), "{rec:?}");
    assert_eq!(rec.records_replayed, 10);
    assert_eq!(store.len().unwrap(), 10);
}

#[test]
fn corruption_inside_the_log_is_an_error_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path()).persistence(PersistenceMode::WalOnly)).unwrap();
    for i in 0..10u32 {
        store
            .set(format!("k{i}").as_bytes(), b"some value")
            .unwrap();
    }
    let end = store.metrics().wal_bytes;
    store.crash();
    drop(store);
    let seg = segment(dir.path());
    let mut bytes = std::fs::read(&seg).unwrap();
    // A byte in the middle of the records, far from the tail.
    let at = (end / 3) as usize;
    bytes[at] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap();
    let err = Store::open(opts(dir.path()).persistence(PersistenceMode::WalOnly)).unwrap_err();
    // The outermost message names the damage (file and offset) ...
    let text = err.to_string();
    assert!(text.contains("wal-") && text.contains("offset"), "{text}");
    // ... and nothing below it repeats what it already said.
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        assert!(!text.contains(&s.to_string()), "`{s}` repeats in `{text}`");
        source = s.source();
    }
    // The tolerant mode keeps what verifies.
    let store = Store::open(
        opts(dir.path())
            .persistence(PersistenceMode::WalOnly)
            .recovery(RecoveryMode::SalvageValid),
    )
    .unwrap();
    assert!(store.len().unwrap() >= 8);
}

#[test]
fn metrics_show_log_snapshot_and_recovery_figures() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path())).unwrap();
    for i in 0..100u32 {
        store.set(format!("k{i}").as_bytes(), b"v").unwrap();
    }
    let _ = store.get(b"k1").unwrap();
    let _ = store.get(b"nope").unwrap();
    let m = store.metrics();
    assert_eq!(m.cache.entries, 100);
    assert_eq!(m.cache.hits, 1);
    assert_eq!(m.cache.misses, 1);
    assert!(m.wal_bytes > 100 * 10);
    assert_eq!(m.wal_segments, 1);
    assert_eq!(m.last_seq, 100);
    assert_eq!(m.snapshots_taken, 0);
    assert_eq!(m.last_snapshot_ms, None);
    let info = store.snapshot().unwrap();
    assert_eq!(info.seq, 100);
    assert_eq!(info.entries, 100);
    let m = store.metrics();
    assert_eq!(m.snapshots_taken, 1);
    assert!(m.last_snapshot_ms.is_some());
    assert_eq!(m.last_snapshot_seq, 100);
    store.set(b"after", b"v").unwrap();
    store.crash();
    drop(store);
    let store = Store::open(opts(dir.path())).unwrap();
    let m = store.metrics();
    assert_eq!(m.recovery.snapshot_entries, 100);
    assert_eq!(m.recovery.snapshot_seq, 100);
    assert_eq!(m.recovery.records_replayed, 1);
    assert_eq!(m.recovery.entries, 101);
}

#[test]
fn the_compaction_threshold_triggers_a_snapshot_and_log_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        Options::new()
            .dir(dir.path())
            .sync(SyncPolicy::Never)
            .segment_size(4096)
            .snapshot_interval(None)
            .snapshots_retained(1)
            .compaction_threshold(100)
            .snapshot_growth_percent(0),
    )
    .unwrap();
    for i in 0..400u32 {
        store
            .set(format!("key-{i}").as_bytes(), &[7u8; 64])
            .unwrap();
    }
    let segments_before = store.metrics().wal_segments;
    assert!(segments_before > 3, "{segments_before}");
    for i in 0..150u32 {
        store.delete(format!("key-{i}").as_bytes()).unwrap();
    }
    // The worker runs on its own thread: wait (bounded) for it to act.
    let deadline = Instant::now() + Duration::from_secs(20);
    while store.metrics().snapshots_taken == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let m = store.metrics();
    assert!(m.snapshots_taken >= 1);
    assert!(
        m.wal_segments < segments_before,
        "{} vs {segments_before}",
        m.wal_segments
    );
    store.close().unwrap();
    let store = Store::open(Options::new().dir(dir.path())).unwrap();
    assert_eq!(store.len().unwrap(), 250);
}

#[cfg(unix)]
#[test]
fn every_file_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let store = Store::open(opts(&dir)).unwrap();
    store.set(b"k", b"v").unwrap();
    store.snapshot().unwrap();
    store.close().unwrap();
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        let mode = e.metadata().unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "{:?} has mode {:o}",
            e.file_name(),
            mode & 0o777
        );
    }
}

#[test]
fn clear_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path())).unwrap();
    store.set(b"a", b"1").unwrap();
    store.snapshot().unwrap();
    store.set(b"b", b"2").unwrap();
    store.clear().unwrap();
    store.set(b"c", b"3").unwrap();
    store.crash();
    drop(store);
    let store = Store::open(opts(dir.path())).unwrap();
    assert_eq!(store.keys().unwrap(), vec![b"c".to_vec()]);
}

#[test]
fn closing_an_unchanged_store_writes_no_new_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let snapshots = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "snap")
            })
            .count()
    };
    let store = Store::open(opts(dir.path())).unwrap();
    store.set(b"k", b"v").unwrap();
    store.close().unwrap();
    assert_eq!(snapshots(), 1);
    let store = Store::open(opts(dir.path())).unwrap();
    assert_eq!(store.get(b"k").unwrap().unwrap(), b"v");
    store.close().unwrap();
    assert_eq!(snapshots(), 1);
    let store = Store::open(opts(dir.path())).unwrap();
    store.set(b"k", b"w").unwrap();
    store.close().unwrap();
    assert_eq!(snapshots(), 2);
}

#[test]
fn every_snapshot_damaged_and_the_log_truncated_is_an_error_not_silent_loss() {
    let dir = tempfile::tempdir().unwrap();
    let o = || opts(dir.path()).segment_size(4096).snapshots_retained(1);
    let store = Store::open(o()).unwrap();
    for i in 0..200u32 {
        store
            .set(format!("key-{i}").as_bytes(), &[1u8; 40])
            .unwrap();
    }
    // One snapshot kept and the log truncated through it.
    store.compact().unwrap();
    store.crash();
    drop(store);
    let snap = newest_snapshot(dir.path());
    let mut bytes = std::fs::read(&snap).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&snap, bytes).unwrap();
    let err = Store::open(o()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LogGap {
                snapshots_skipped: 1,
                ..
            }
        ),
        "{err}"
    );
    // Salvage recovers what the log still has.
    let store = Store::open(o().recovery(RecoveryMode::SalvageValid)).unwrap();
    assert!(store.len().unwrap() < 200);
}

/// Set in the child of `a_second_open_from_another_process_fails`.
const LOCK_CHILD: &str = "KV_STORE_TEST_LOCK_CHILD";

#[test]
fn a_second_open_from_another_process_fails() {
    if let Some(dir) = std::env::var_os(LOCK_CHILD) {
        // The child: the parent holds the store open.
        let err = Store::open(opts(std::path::Path::new(&dir))).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path())).unwrap();
    store.set(b"k", b"v").unwrap();
    let before = files(dir.path());
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_second_open_from_another_process_fails",
            "--nocapture",
        ])
        .env(LOCK_CHILD, dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "the child could open a locked directory");
    assert_eq!(files(dir.path()), before);
    store.close().unwrap();
}

#[test]
fn remove_returns_the_value_and_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path())).unwrap();
    store.set(b"k", b"v").unwrap();
    assert_eq!(store.remove(b"k").unwrap().unwrap(), b"v");
    assert!(store.remove(b"k").unwrap().is_none());
    store.crash();
    drop(store);
    let store = Store::open(opts(dir.path())).unwrap();
    assert!(store.get(b"k").unwrap().is_none());
}

#[test]
fn a_large_log_replay_recovers_every_entry_exactly() {
    // Enough distinct keys for recovery to insert on several threads.
    let dir = tempfile::tempdir().unwrap();
    let o = || {
        opts(dir.path())
            .persistence(PersistenceMode::WalOnly)
            .sync(SyncPolicy::Never)
            .segment_size(8 << 20)
    };
    let store = Store::open(o()).unwrap();
    for i in 0..40_000u32 {
        store
            .set(format!("key-{i}").as_bytes(), &i.to_le_bytes())
            .unwrap();
    }
    for i in (0..40_000u32).step_by(7) {
        store.delete(format!("key-{i}").as_bytes()).unwrap();
    }
    let state = |s: &Store| -> Vec<(Vec<u8>, Vec<u8>, u64)> {
        let mut v: Vec<_> = s
            .iter()
            .unwrap()
            .map(|(k, v)| {
                let version = s.info(&k).unwrap().unwrap().version;
                (k, v.to_vec(), version)
            })
            .collect();
        v.sort();
        v
    };
    let want = state(&store);
    store.crash();
    drop(store);
    let store = Store::open(o()).unwrap();
    assert_eq!(store.recovery().records_replayed, 40_000 + 40_000 / 7 + 1);
    assert_eq!(state(&store), want);
}

#[test]
fn a_failing_background_snapshot_goes_to_on_error_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let io = kv_snapshot::SimIo::new();
    // Every rename fails: no snapshot can be finished. (A fault fails the call it
    // is due at, counted from the calls its own op has seen since the fault before
    // it fired; so each of these fails the next rename, whenever it comes.)
    for _ in 0..1000 {
        io.fail(kv_snapshot::SimOp::Rename, 0, kv_snapshot::Fault::Eio);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let store = Store::open(
        Options::new()
            .dir(dir.path())
            .segment_size(1 << 20)
            .snapshot_interval(Some(Duration::from_millis(20)))
            .snapshot_on_close(false)
            .snapshot_io(Arc::new(io.clone()))
            .on_error(move |e| {
                let _ = tx.lock().unwrap().send(matches!(e, Error::Snapshot { .. }));
            }),
    )
    .unwrap();
    store.set(b"k", b"v").unwrap();
    let is_snapshot_error = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("on_error never called");
    assert!(
        is_snapshot_error,
        "on_error got another error than a snapshot's"
    );
    let m = store.metrics();
    assert!(m.worker_errors > 0);
    assert_eq!(m.snapshots_taken, 0);
    // The store keeps working.
    store.set(b"k2", b"v2").unwrap();
    assert_eq!(store.get(b"k").unwrap().unwrap(), b"v");
    store.close().unwrap();
}

#[test]
fn a_full_store_accepts_a_key_whose_old_entry_expired() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(1_000_000));
    let store = Store::open(
        opts(dir.path())
            .max_entries(2)
            .shards(1)
            .clock(Arc::new(clock.clone())),
    )
    .unwrap();
    store
        .set_with_ttl(b"a", b"1", Duration::from_secs(1))
        .unwrap();
    store.set(b"b", b"2").unwrap();
    clock.advance(Duration::from_secs(2));
    // `a` expired but still counts until removed; writing `a` again must fit.
    store.set(b"a", b"again").unwrap();
    assert!(store.set(b"c", b"3").is_err());
    store.crash();
    drop(store);
    let store = Store::open(
        opts(dir.path())
            .max_entries(2)
            .shards(1)
            .clock(Arc::new(clock.clone())),
    )
    .unwrap();
    assert_eq!(store.get(b"a").unwrap().unwrap(), b"again");
    assert!(store.get(b"c").unwrap().is_none());
}

#[test]
fn with_growth_scaling_deletes_outnumbering_the_live_entries_trigger_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        Options::new()
            .dir(dir.path())
            .sync(SyncPolicy::Never)
            .snapshot_interval(None)
            .compaction_threshold(100)
            .snapshot_growth_percent(100),
    )
    .unwrap();
    for i in 0..400u32 {
        store
            .set(format!("key-{i}").as_bytes(), &[7u8; 64])
            .unwrap();
    }
    // 300 deletes leave 100 live entries: the threshold is max(100, 100% of them).
    for i in 0..300u32 {
        store.delete(format!("key-{i}").as_bytes()).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while store.metrics().snapshots_taken == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(store.metrics().snapshots_taken >= 1);
    store.close().unwrap();
    let store = Store::open(Options::new().dir(dir.path())).unwrap();
    assert_eq!(store.len().unwrap(), 100);
}

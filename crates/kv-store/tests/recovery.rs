//! Recovery against what a user meets: limits lower than what the directory holds,
//! entries a later record revives after their time ran out, read-only opens beside a
//! writing store.

use std::sync::Arc;
use std::time::Duration;

use kv_store::{
    ByteCount, Clock, Error, EvictionPolicy, Limits, ManualClock, Options, Store, SyncPolicy,
    SystemClock, Timestamp,
};

fn opts(dir: &std::path::Path) -> Options {
    Options::new()
        .dir(dir)
        .sync(SyncPolicy::EveryWrite)
        .segment_size(1 << 20)
        .background_workers(false)
}

/// Writes `n` keys `k0..k{n}` into a store whose limit holds them all.
fn write_keys(dir: &std::path::Path, n: u32, snapshot: bool) {
    let store = Store::open(opts(dir).max_entries(1000).snapshot_on_close(snapshot)).unwrap();
    for i in 0..n {
        store.set(format!("k{i}").as_bytes(), b"v").unwrap();
    }
    store.close().unwrap();
}

#[test]
fn limits_lower_than_the_data_never_block_recovery_without_eviction() {
    for snapshot in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        write_keys(dir.path(), 15, snapshot);
        // Reopened with a lower limit and no eviction: everything acknowledged comes
        // back, and the store says it is over its limit.
        let store = Store::open(opts(dir.path()).max_entries(10)).unwrap();
        assert_eq!(store.len().unwrap(), 15, "snapshot: {snapshot}");
        assert_eq!(
            store.recovery().limits,
            Limits::Over {
                entries: 15,
                bytes: store.metrics().cache.bytes
            }
        );
        // New keys are refused with a clear error; overwrites and reads work.
        let err = store.set(b"new", b"v").unwrap_err();
        assert!(err.to_string().contains("full"), "{err}");
        store.set(b"k0", b"again").unwrap();
        assert_eq!(store.get(b"k3").unwrap().unwrap(), b"v");
        // Back under the limit by deletes, a new key fits again.
        for i in 0..6 {
            assert!(store.delete(format!("k{i}").as_bytes()).unwrap());
        }
        store.set(b"new", b"v").unwrap();
        store.close().unwrap();
        let store = Store::open(opts(dir.path()).max_entries(10)).unwrap();
        assert_eq!(store.len().unwrap(), 10);
        assert_eq!(store.recovery().limits, Limits::Within);
    }
}

#[test]
fn limits_lower_than_the_data_are_met_by_eviction_and_the_evictions_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    write_keys(dir.path(), 15, false);
    let lru = || {
        opts(dir.path())
            .max_entries(10)
            .eviction(EvictionPolicy::Lru)
            .snapshot_on_close(false)
    };
    let store = Store::open(lru()).unwrap();
    assert_eq!(store.recovery().limits, Limits::Evicted { entries: 5 });
    assert_eq!(store.len().unwrap(), 10);
    let kept: std::collections::BTreeSet<Vec<u8>> = store.keys().unwrap().into_iter().collect();
    store.crash();
    drop(store);
    // The evictions were logged: a store with room for all sees the same ten.
    let store = Store::open(opts(dir.path()).max_entries(1000)).unwrap();
    let back: std::collections::BTreeSet<Vec<u8>> = store.keys().unwrap().into_iter().collect();
    assert_eq!(back, kept);
    assert_eq!(store.recovery().limits, Limits::Within);
}

/// Recovery counts bytes as the store it opens says, whatever counted them before:
/// from the log alone and from a snapshot, the same total as while writing.
#[test]
fn recovery_counts_the_bytes_as_the_options_say() {
    for snapshot in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let open = |count| {
            Store::open(
                opts(dir.path())
                    .byte_count(count)
                    .snapshot_on_close(snapshot),
            )
            .unwrap()
        };
        let store = open(ByteCount::Memory);
        let (mut data, mut memory) = (0, 0);
        for i in 0..40usize {
            let (key, value) = (format!("key{i}"), vec![b'v'; i * 7]);
            store.set(key.as_bytes(), &value).unwrap();
            if i % 5 == 0 {
                assert!(store.delete(key.as_bytes()).unwrap());
            } else {
                data += (key.len() + value.len()) as u64;
                memory += ByteCount::Memory.of(key.len() + value.len());
            }
        }
        assert_eq!(store.metrics().cache.bytes, memory);
        store.close().unwrap();
        let store = open(ByteCount::Memory);
        assert_eq!(store.metrics().cache.bytes, memory, "snapshot: {snapshot}");
        store.close().unwrap();
        let store = open(ByteCount::KeyValue);
        assert_eq!(store.metrics().cache.bytes, data, "snapshot: {snapshot}");
        store.close().unwrap();
    }
}

/// The case of issue 14: an entry whose time ran out in the snapshot, revived by an
/// `Expire` record after it, comes back for every reader.
#[test]
fn an_expiry_record_revives_a_snapshot_entry_that_had_run_out() {
    let dir = tempfile::tempdir().unwrap();
    let hour = Duration::from_secs(3600);
    let behind = ManualClock::new(Timestamp::from_millis(
        SystemClock.now().as_millis() - hour.as_millis() as u64,
    ));
    let store = Store::open(
        opts(dir.path())
            .snapshot_on_close(false)
            .clock(Arc::new(behind.clone())),
    )
    .unwrap();
    store
        .set_with_ttl(b"session", b"token", Duration::from_secs(10))
        .unwrap();
    store.snapshot().unwrap();
    assert!(store.expire(b"session", 2 * hour).unwrap());
    store.close().unwrap();
    // On the system clock, an hour later than the writer's: the snapshot's copy ran
    // out long ago, the log's expiry is an hour ahead.
    let store = Store::open(opts(dir.path())).unwrap();
    assert_eq!(store.get(b"session").unwrap().unwrap(), b"token");
    assert_eq!(store.recovery().expired_dropped, 0);
    store.close().unwrap();
    let reader = Store::open_read_only(opts(dir.path())).unwrap();
    assert_eq!(reader.get(b"session").unwrap().unwrap(), b"token");
}

#[test]
fn a_read_only_open_beside_a_writing_store_sees_a_consistent_prefix_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Store::open(opts(dir.path()).snapshots_retained(1)).unwrap();
    for round in 0..20u32 {
        for i in 0..50u32 {
            owner
                .set(format!("k{i}").as_bytes(), round.to_string().as_bytes())
                .unwrap();
        }
        if round % 5 == 4 {
            // Snapshots remove older ones and truncate the log meanwhile.
            owner.compact().unwrap();
        }
        let before: Vec<_> = files_and_sizes(dir.path());
        let reader = Store::open_read_only(opts(dir.path())).unwrap();
        // Whole rounds: every key holds this round's value (appends are synced
        // before the owner's call returns, so all of them are complete records).
        for i in 0..50u32 {
            assert_eq!(
                reader.get(format!("k{i}").as_bytes()).unwrap().unwrap(),
                round.to_string().as_bytes()
            );
        }
        assert!(matches!(reader.set(b"x", b"y"), Err(Error::ReadOnly)));
        assert!(matches!(reader.delete(b"k0"), Err(Error::ReadOnly)));
        assert!(matches!(reader.snapshot(), Err(Error::ReadOnly)));
        reader.close().unwrap();
        assert_eq!(
            files_and_sizes(dir.path()),
            before,
            "the reader changed a file"
        );
    }
    owner.close().unwrap();
}

fn files_and_sizes(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_read_only_open_of_a_missing_directory_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nothing-here");
    assert!(Store::open_read_only(opts(&dir)).is_err());
    assert!(!dir.exists());
}

/// Issue 13 #4: a damaged log record that a valid snapshot covers does not stop the
/// store; it is reported, and its segment goes at the next truncation.
#[test]
fn damage_to_log_records_a_snapshot_covers_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    // One segment file, a snapshot covering all of it, the log kept behind it.
    let store = Store::open(opts(dir.path()).snapshot_on_close(false)).unwrap();
    for i in 0..20u32 {
        store.set(format!("k{i}").as_bytes(), b"value").unwrap();
    }
    store.snapshot().unwrap();
    store.close().unwrap();
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("wal-"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[64 + 8 + 40] ^= 0x20; // inside the first record
    std::fs::write(&seg, &bytes).unwrap();

    for reader in [false, true] {
        let store = if reader {
            Store::open_read_only(opts(dir.path())).unwrap()
        } else {
            Store::open(opts(dir.path()).snapshot_on_close(false)).unwrap()
        };
        assert_eq!(store.len().unwrap(), 20);
        let covered = &store.recovery().covered_damage;
        assert_eq!(covered.len(), 1, "{covered:?}");
        assert!(covered[0].contains("wal-"), "{covered:?}");
        store.close().unwrap();
    }
    // The next truncation through the snapshot removes the damaged segment.
    let store = Store::open(opts(dir.path())).unwrap();
    store.set(b"after", b"v").unwrap();
    store.compact().unwrap();
    store.close().unwrap();
    assert!(!seg.exists(), "the damaged segment is still there");
    let store = Store::open(opts(dir.path())).unwrap();
    assert!(store.recovery().covered_damage.is_empty());
    assert_eq!(store.len().unwrap(), 21);
}

/// Issue 13 #8: a store holding one key keeps a tiny directory (its log segment
/// starts small and grows), so opening it and backing it up cost next to nothing.
#[test]
fn a_store_holding_one_key_takes_at_most_a_mebibyte_on_disk() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    // The default options, segment size included.
    let store = Store::open(Options::new().dir(dir.path())).unwrap();
    store.set(b"key", b"value").unwrap();
    store.close().unwrap();
    let store = Store::open(Options::new().dir(dir.path())).unwrap();
    assert_eq!(store.get(b"key").unwrap().unwrap(), b"value");
    store.close().unwrap();
    let on_disk: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().blocks() * 512)
        .sum();
    assert!(on_disk <= 1 << 20, "{on_disk} bytes on disk");
}

/// A clock whose cheap reading lags its exact one by 5 ms, as the coarse system clock
/// may: across a second boundary the two name different seconds.
struct LaggingClock(ManualClock);

impl Clock for LaggingClock {
    fn now(&self) -> Timestamp {
        self.0.now()
    }

    fn recent(&self) -> Timestamp {
        Timestamp::from_millis(self.0.now().as_millis().saturating_sub(5))
    }
}

#[test]
fn a_new_key_is_created_at_its_record_time_live_and_after_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    // 2 ms past a second: the lagging reading is still in the second before.
    let clock = Arc::new(LaggingClock(ManualClock::new(Timestamp::from_millis(
        1_800_000_000_002,
    ))));
    let open = || Store::open(opts(tmp.path()).clock(clock.clone())).unwrap();
    let store = open();
    store.set(b"new", b"v").unwrap();
    let live = store.info(b"new").unwrap().unwrap();
    store.crash();
    drop(store);
    let store = open();
    let recovered = store.info(b"new").unwrap().unwrap();
    assert_eq!(
        (live.created, live.updated),
        (recovered.created, recovered.updated)
    );
    assert_eq!(live.created, Timestamp::from_millis(1_800_000_000_000));
}

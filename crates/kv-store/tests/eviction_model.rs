//! With a small capacity and every eviction policy: whatever memory holds before a
//! crash (power loss on kv-wal's simulated disk) or a close is exactly what comes back
//! after reopening (keys, values, versions, times, expiry), across snapshots and
//! compaction. Evictions are logged, so no evicted key returns (nor a key TinyLFU's
//! admission filter evicted as it was written).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kv_store::{Batch, EvictionPolicy, ManualClock, Options, Store, SyncPolicy, Timestamp};
use kv_wal::{CrashMode, SimStorage};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Set(u8, u8),
    SetTtl(u8, u8, u64),
    Get(u8),
    Delete(u8),
    Batch(Vec<(u8, Option<u8>)>),
    Advance(u64),
    Snapshot,
    Compact,
    CloseReopen,
    CrashReopen,
}

fn step() -> impl Strategy<Value = Step> {
    let k = || 0..12u8;
    prop_oneof![
        8 => (k(), any::<u8>()).prop_map(|(k, v)| Step::Set(k, v)),
        2 => (k(), any::<u8>(), 1..4_000u64).prop_map(|(k, v, t)| Step::SetTtl(k, v, t)),
        3 => k().prop_map(Step::Get),
        2 => k().prop_map(Step::Delete),
        2 => prop::collection::vec((k(), prop::option::of(any::<u8>())), 1..4).prop_map(Step::Batch),
        2 => (0..2_000u64).prop_map(Step::Advance),
        1 => Just(Step::Snapshot),
        1 => Just(Step::Compact),
        1 => Just(Step::CloseReopen),
        2 => Just(Step::CrashReopen),
    ]
}

fn policy() -> impl Strategy<Value = EvictionPolicy> {
    prop_oneof![
        Just(EvictionPolicy::Lru),
        Just(EvictionPolicy::Lfu),
        Just(EvictionPolicy::Random),
        Just(EvictionPolicy::Ttl),
        // Its admission filter may evict a new key as it is written: logged as a
        // put and an eviction, so it must not come back either.
        Just(EvictionPolicy::TinyLfu),
    ]
}

type Snap = BTreeMap<Vec<u8>, (Vec<u8>, u64, u64, u64, Option<Timestamp>)>;

fn contents(store: &Store) -> Snap {
    store
        .iter()
        .unwrap()
        .filter_map(|(k, v)| {
            let i = store.info(&k).unwrap()?;
            Some((
                k,
                (
                    v.to_vec(),
                    i.version,
                    i.created.as_millis(),
                    i.updated.as_millis(),
                    i.expires_at,
                ),
            ))
        })
        .collect()
}

fn run(policy: EvictionPolicy, steps: &[Step]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let mut disk = SimStorage::new();
    let open = |disk: &SimStorage| {
        Store::open(
            Options::new()
                .dir(dir.path())
                .sync(SyncPolicy::EveryWrite)
                .clock(Arc::new(clock.clone()))
                .segment_size(4096)
                .max_entries(5)
                .shards(1)
                .eviction(policy)
                .background_workers(false)
                .wal_storage(Arc::new(disk.clone())),
        )
        .unwrap()
    };
    let mut store = open(&disk);
    let key = |k: u8| format!("k{k}").into_bytes();
    for s in steps {
        match s {
            Step::Set(k, v) => store.set(&key(*k), &[*v; 3]).unwrap(),
            Step::SetTtl(k, v, t) => store
                .set_with_ttl(&key(*k), &[*v; 2], Duration::from_millis(*t))
                .unwrap(),
            Step::Get(k) => {
                let _ = store.get(&key(*k)).unwrap();
            }
            Step::Delete(k) => {
                store.delete(&key(*k)).unwrap();
            }
            Step::Batch(ops) => {
                let mut b = Batch::new();
                for (k, v) in ops {
                    match v {
                        Some(v) => b.put(&key(*k), &[*v; 4]),
                        None => b.delete(&key(*k)),
                    };
                }
                store.apply(&b).unwrap();
            }
            Step::Advance(ms) => clock.advance(Duration::from_millis(*ms)),
            Step::Snapshot => {
                store.snapshot().unwrap();
            }
            Step::Compact => {
                store.compact().unwrap();
            }
            Step::CloseReopen => {
                let before = contents(&store);
                store.close().unwrap();
                drop(store);
                store = open(&disk);
                prop_assert_eq!(contents(&store), before, "after close + reopen");
            }
            Step::CrashReopen => {
                let before = contents(&store);
                store.crash();
                drop(store);
                disk = disk.crash(CrashMode::DropUnsynced);
                store = open(&disk);
                prop_assert_eq!(contents(&store), before, "after crash + reopen");
            }
        }
        prop_assert!(store.len().unwrap() <= 5);
    }
    store.close().unwrap();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn what_memory_held_comes_back_exactly_under_eviction(
        policy in policy(),
        steps in prop::collection::vec(step(), 1..60),
    ) {
        run(policy, &steps)?;
    }
}

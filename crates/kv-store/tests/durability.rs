//! Power loss and I/O faults, through kv-wal's simulated disk and kv-snapshot's
//! simulated I/O.
//!
//! - Power loss: with the interval and never policies, what recovery yields is an
//!   exact prefix of the operation history, at least as long as the last explicit
//!   sync, whether the unsynced bytes are dropped, kept, or torn at any byte; with
//!   sync-every-write nothing acknowledged is lost.
//! - Faults (disk full, failed fsync, failed rename during rotation and during a
//!   snapshot): the store returns errors, keeps serving reads, and after reopening
//!   has lost nothing acknowledged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kv_store::{Batch, Error, Options, PersistenceMode, Store, SyncPolicy};
use kv_wal::{CrashMode, Fault, SimStorage};
use proptest::prelude::*;

type State = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Debug, Clone)]
enum Step {
    Set(u8, u16),
    Delete(u8),
    Batch(Vec<(u8, Option<u16>)>),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0..8u8, any::<u16>()).prop_map(|(k, v)| Step::Set(k, v)),
        2 => (0..8u8).prop_map(Step::Delete),
        2 => prop::collection::vec((0..8u8, prop::option::of(any::<u16>())), 1..4).prop_map(Step::Batch),
    ]
}

fn key(k: u8) -> Vec<u8> {
    format!("key{k}").into_bytes()
}

fn value(v: u16) -> Vec<u8> {
    format!("value-{v}-{}", "x".repeat(v as usize % 30)).into_bytes()
}

/// What makes the history durable up to a point in [`run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// `Store::sync` (log only, no snapshots).
    Sync,
    /// `Store::snapshot` (log and snapshots; the snapshot must sync the log).
    Snapshot,
}

fn options(dir: &std::path::Path, disk: &SimStorage, sync: SyncPolicy, mark: Mark) -> Options {
    let mode = match mark {
        Mark::Sync => PersistenceMode::WalOnly,
        Mark::Snapshot => PersistenceMode::WalAndSnapshots,
    };
    Options::new()
        .dir(dir)
        .persistence(mode)
        .sync(sync)
        .segment_size(1024)
        .background_workers(false)
        .wal_storage(Arc::new(disk.clone()))
}

fn apply(store: &Store, state: &mut State, step: &Step) -> kv_store::Result<()> {
    match step {
        Step::Set(k, v) => {
            store.set(&key(*k), &value(*v))?;
            state.insert(key(*k), value(*v));
        }
        Step::Delete(k) => {
            store.delete(&key(*k))?;
            state.remove(&key(*k));
        }
        Step::Batch(ops) => {
            let mut b = Batch::new();
            let mut next = state.clone();
            for (k, v) in ops {
                match v {
                    Some(v) => {
                        b.put(&key(*k), &value(*v));
                        next.insert(key(*k), value(*v));
                    }
                    None => {
                        b.delete(&key(*k));
                        next.remove(&key(*k));
                    }
                }
            }
            store.apply(&b)?;
            *state = next;
        }
    }
    Ok(())
}

fn contents(store: &Store) -> State {
    store
        .iter()
        .unwrap()
        .map(|(k, v)| (k, v.to_vec()))
        .collect()
}

/// Runs `steps`, syncing explicitly after step `sync_at`; returns the state after
/// each step (index 0: empty), the disk, and the index the sync covered.
fn run(
    dir: &std::path::Path,
    sync: SyncPolicy,
    mark: Mark,
    steps: &[Step],
    sync_at: usize,
) -> (Vec<State>, SimStorage, usize) {
    let disk = SimStorage::new();
    let store = Store::open(options(dir, &disk, sync, mark)).unwrap();
    let mut states = vec![State::new()];
    let mut state = State::new();
    let mut synced = 0;
    for (i, s) in steps.iter().enumerate() {
        apply(&store, &mut state, s).unwrap();
        states.push(state.clone());
        if i == sync_at {
            match mark {
                Mark::Sync => store.sync().unwrap(),
                Mark::Snapshot => {
                    store.snapshot().unwrap();
                }
            }
            synced = i + 1;
        }
    }
    store.crash();
    (states, disk, synced)
}

/// Reopens the crash image and returns the indexes of the history prefixes it equals
/// (states can repeat, so there may be several).
fn recovered_prefixes(
    dir: &std::path::Path,
    image: &SimStorage,
    sync: SyncPolicy,
    mark: Mark,
    states: &[State],
) -> Result<Vec<usize>, String> {
    let store = Store::open(options(dir, image, sync, mark)).map_err(|e| format!("reopen: {e}"))?;
    let got = contents(&store);
    store.crash();
    let matches: Vec<usize> = (0..states.len()).filter(|&i| states[i] == got).collect();
    if matches.is_empty() {
        return Err(format!("recovered {got:?} is no prefix of the history"));
    }
    Ok(matches)
}

fn check_every_boundary(sync: SyncPolicy, steps: &[Step], sync_at: usize) -> Result<(), String> {
    check_marked(sync, Mark::Sync, steps, sync_at)
}

fn check_marked(
    sync: SyncPolicy,
    mark: Mark,
    steps: &[Step],
    sync_at: usize,
) -> Result<(), String> {
    let tmp = tempfile::tempdir().unwrap();
    let (states, disk, synced) = run(tmp.path(), sync, mark, steps, sync_at);
    let last = states.len() - 1;
    let unsynced = disk.unsynced_bytes();
    let mut modes = vec![CrashMode::DropUnsynced, CrashMode::KeepUnsynced];
    modes.extend((0..=unsynced).map(CrashMode::TornAfter));
    let mut previous = 0;
    for mode in modes {
        let image = disk.crash(mode);
        let ks = recovered_prefixes(tmp.path(), &image, sync, mark, &states)
            .map_err(|e| format!("{mode:?}: {e}"))?;
        if !ks.iter().any(|&k| k >= synced) {
            return Err(format!(
                "{mode:?}: recovered prefixes {ks:?} all before the sync at {synced}"
            ));
        }
        if (sync == SyncPolicy::EveryWrite || mode == CrashMode::KeepUnsynced)
            && !ks.contains(&last)
        {
            return Err(format!(
                "{mode:?}: lost acknowledged writes (prefixes {ks:?} of {last})"
            ));
        }
        if let CrashMode::TornAfter(_) = mode {
            // More surviving bytes never mean a shorter history.
            let Some(&k) = ks.iter().find(|&&k| k >= previous) else {
                return Err(format!(
                    "{mode:?}: prefixes {ks:?} shorter than with fewer bytes ({previous})"
                ));
            };
            previous = k;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn power_loss_with_interval_sync_keeps_an_exact_prefix(
        steps in prop::collection::vec(step(), 1..25),
        sync_at in 0..25usize,
    ) {
        check_every_boundary(SyncPolicy::Interval(Duration::from_secs(3600)), &steps, sync_at)
            .map_err(TestCaseError::fail)?;
    }

    #[test]
    fn power_loss_with_never_sync_keeps_an_exact_prefix(
        steps in prop::collection::vec(step(), 1..25),
        sync_at in 0..25usize,
    ) {
        check_every_boundary(SyncPolicy::Never, &steps, sync_at).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn power_loss_after_a_snapshot_keeps_an_exact_prefix_at_least_up_to_it(
        steps in prop::collection::vec(step(), 1..25),
        snapshot_at in 0..25usize,
    ) {
        check_marked(SyncPolicy::Never, Mark::Snapshot, &steps, snapshot_at)
            .map_err(TestCaseError::fail)?;
    }

    #[test]
    fn power_loss_with_sync_every_write_loses_nothing_acknowledged(
        steps in prop::collection::vec(step(), 1..25),
    ) {
        check_every_boundary(SyncPolicy::EveryWrite, &steps, usize::MAX).map_err(TestCaseError::fail)?;
    }
}

/// Writes distinct keys until one fails, then checks the store keeps serving reads,
/// and that the crash image (only synced bytes) holds every acknowledged write.
fn fault_scenario(fault: Fault) {
    let tmp = tempfile::tempdir().unwrap();
    let disk = SimStorage::new();
    let store = Store::open(options(
        tmp.path(),
        &disk,
        SyncPolicy::EveryWrite,
        Mark::Sync,
    ))
    .unwrap();
    let mut acked = State::new();
    for i in 0..5u16 {
        apply(&store, &mut acked, &Step::Set(i as u8, i)).unwrap();
    }
    disk.inject(fault);
    let mut failed = Vec::new();
    for i in 0..200u16 {
        let k = format!("more{i}").into_bytes();
        match store.set(&k, &value(i)) {
            Ok(()) => {
                acked.insert(k, value(i));
            }
            Err(e) => {
                assert!(matches!(e, Error::Wal { .. }), "{fault:?}: {e}");
                // The top message says what was being done and why it failed, and
                // nothing below it repeats it.
                let text = e.to_string();
                assert!(text.starts_with("appending a record"), "{text}");
                if matches!(fault, Fault::NoSpaceOnCreate { .. }) {
                    assert!(text.contains("No space left on device"), "{text}");
                }
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    assert!(!text.contains(&s.to_string()), "`{s}` repeats in `{text}`");
                    source = s.source();
                }
                assert!(
                    store.get(&k).unwrap().is_none(),
                    "a refused write is visible"
                );
                failed.push(k);
            }
        }
    }
    assert!(!failed.is_empty(), "{fault:?} never fired");
    // Reads keep working, and show exactly the acknowledged writes.
    assert_eq!(contents(&store), acked, "{fault:?}");
    store.crash();
    drop(store);

    let image = disk.crash(CrashMode::DropUnsynced);
    let store = Store::open(options(
        tmp.path(),
        &image,
        SyncPolicy::EveryWrite,
        Mark::Sync,
    ))
    .unwrap();
    let got = contents(&store);
    for (k, v) in &acked {
        assert_eq!(got.get(k), Some(v), "{fault:?}: acknowledged {k:?} lost");
    }
    for k in got.keys() {
        assert!(
            acked.contains_key(k) || failed.contains(k),
            "{fault:?}: {k:?} from nowhere"
        );
    }
    // And the reopened store writes again.
    store.set(b"after", b"reopen").unwrap();
}

#[test]
fn disk_full_at_segment_creation() {
    fault_scenario(Fault::NoSpaceOnCreate { nth: 1 });
}

#[test]
fn failed_fsync() {
    fault_scenario(Fault::SyncFails { nth: 3 });
}

#[test]
fn failed_rename_during_rotation() {
    fault_scenario(Fault::RenameFails { nth: 1 });
}

fn snapshot_fault(op: kv_snapshot::SimOp, fault: kv_snapshot::Fault) {
    let tmp = tempfile::tempdir().unwrap();
    let io = kv_snapshot::SimIo::new();
    let o = || {
        Options::new()
            .dir(tmp.path())
            .sync(SyncPolicy::EveryWrite)
            .background_workers(false)
            .snapshot_io(Arc::new(io.clone()))
    };
    let store = Store::open(o()).unwrap();
    let mut acked = State::new();
    for i in 0..50u16 {
        apply(&store, &mut acked, &Step::Set((i % 20) as u8, i)).unwrap();
    }
    store.snapshot().unwrap();
    for i in 50..80u16 {
        apply(&store, &mut acked, &Step::Set((i % 20) as u8, i)).unwrap();
    }
    io.fail(op, 0, fault);
    let err = store.snapshot().unwrap_err();
    assert!(matches!(err, Error::Snapshot { .. }), "{err}");
    assert_eq!(contents(&store), acked, "reads after a failed snapshot");
    // Writes go on, and the next snapshot works.
    for i in 80..100u16 {
        apply(&store, &mut acked, &Step::Delete((i % 20) as u8)).unwrap();
        apply(&store, &mut acked, &Step::Set((i % 7) as u8, i)).unwrap();
    }
    store.crash();
    drop(store);
    let store = Store::open(o()).unwrap();
    assert_eq!(contents(&store), acked, "after reopening");
    store.snapshot().unwrap();
    store.close().unwrap();
    let store = Store::open(o()).unwrap();
    assert_eq!(contents(&store), acked, "after a later snapshot");
}

#[test]
fn failed_rename_during_snapshot() {
    snapshot_fault(kv_snapshot::SimOp::Rename, kv_snapshot::Fault::Eio);
}

#[test]
fn disk_full_during_snapshot() {
    snapshot_fault(kv_snapshot::SimOp::Write, kv_snapshot::Fault::NoSpace);
}

#[test]
fn failed_fsync_during_snapshot() {
    snapshot_fault(kv_snapshot::SimOp::Sync, kv_snapshot::Fault::Eio);
}

/// Issue 16's durable replies: writes inside `without_waiting` are not synced one by
/// one under `EveryWrite`; the one `wait_durable` after them makes every one of them
/// survive a power loss, and without it a power loss drops them.
#[test]
fn writes_without_waiting_are_durable_once_waited_for_and_only_then() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = SimStorage::new();
    let store = Store::open(options(
        tmp.path(),
        &disk,
        SyncPolicy::EveryWrite,
        Mark::Sync,
    ))
    .unwrap();
    let (written, upto) = store.without_waiting(|| {
        for i in 0..20u16 {
            store
                .set(format!("waited{i}").as_bytes(), &value(i))
                .unwrap();
        }
        store.incr(b"counter", 20).unwrap()
    });
    assert_eq!(written, 20);
    assert!(upto > 0);
    // Visible before they are durable, as Redis's writes are to its other clients.
    assert_eq!(store.get(b"waited3").unwrap().unwrap(), value(3));
    store.wait_durable(upto).unwrap();
    assert!(store.durable_seq() >= upto);
    // Then more writes nobody waits for.
    let ((), later) = store.without_waiting(|| {
        store.set(b"unwaited", b"x").unwrap();
    });
    assert!(later > upto);
    store.crash();
    drop(store);
    let disk = disk.crash(CrashMode::DropUnsynced);
    let store = Store::open(options(
        tmp.path(),
        &disk,
        SyncPolicy::EveryWrite,
        Mark::Sync,
    ))
    .unwrap();
    for i in 0..20u16 {
        assert_eq!(
            store.get(format!("waited{i}").as_bytes()).unwrap().unwrap(),
            value(i)
        );
    }
    assert_eq!(store.incr(b"counter", 0).unwrap(), 20);
    assert!(
        store.get(b"unwaited").unwrap().is_none(),
        "an unsynced write survived"
    );
}

//! Property: any sequence of appends (random sizes and kinds, across rotations,
//! reopenings, syncs and truncations) replays exactly, on the simulated disk and on a
//! real directory.

mod common;

use common::{any_op, append, open_sim, replay_all};
use kv_wal::{OwnedOp, Record, RecoveryMode, Seq, SimStorage, SyncPolicy, Wal, WalOptions};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Append(OwnedOp, u64),
    Reopen,
    Sync,
    Truncate(u8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => (any_op(300), any::<u64>()).prop_map(|(op, ts)| Step::Append(op, ts)),
        1 => Just(Step::Reopen),
        1 => Just(Step::Sync),
        1 => any::<u8>().prop_map(Step::Truncate),
    ]
}

fn policy() -> impl Strategy<Value = SyncPolicy> {
    prop_oneof![Just(SyncPolicy::EveryWrite), Just(SyncPolicy::Never)]
}

/// Runs `steps`, checking the replay against the model after each reopen and at the end.
fn run(steps: &[Step], mut open: impl FnMut() -> Wal) {
    let mut model: Vec<Record> = Vec::new();
    let mut wal = open();
    for s in steps {
        match s {
            Step::Append(op, ts) => {
                let seq = match append(&wal, op, *ts) {
                    // Bigger than a segment: refused, and nothing else changes.
                    Err(kv_wal::Error::RecordTooLarge { .. }) => continue,
                    other => other.unwrap(),
                };
                let expected = model.last().map_or(Seq(1), |r| r.seq.next());
                assert_eq!(seq, expected);
                model.push(Record {
                    seq,
                    timestamp_ms: *ts,
                    op: op.clone(),
                });
            }
            Step::Reopen => {
                wal.close().unwrap();
                drop(wal);
                wal = open();
                assert_eq!(replay_all(&wal), model);
            }
            Step::Sync => wal.sync().unwrap(),
            Step::Truncate(pick) => {
                if let Some(r) = model.get(*pick as usize % (model.len() + 1)) {
                    wal.truncate_through(r.seq).unwrap();
                    // Whatever was removed, everything above the cut is still there.
                    let rest: Vec<Record> =
                        model.iter().filter(|m| m.seq > r.seq).cloned().collect();
                    let replayed: Vec<Record> = wal
                        .replay_from(r.seq.next())
                        .unwrap()
                        .collect::<Result<_, _>>()
                        .unwrap();
                    assert_eq!(replayed, rest);
                    let all = replay_all(&wal);
                    assert!(all.len() <= model.len());
                    assert_eq!(all[..], model[model.len() - all.len()..]);
                    model = all;
                }
            }
        }
    }
    assert_eq!(replay_all(&wal), model);
    assert_eq!(
        wal.last_seq(),
        model.last().map_or(Seq(0), |r| r.seq),
        "last_seq"
    );
    let from = model.len() as u64 / 2;
    let tail: Vec<Record> = wal
        .replay_from(Seq(from))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        tail,
        model
            .iter()
            .filter(|r| r.seq.0 >= from)
            .cloned()
            .collect::<Vec<_>>()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn appends_replay_exactly_on_the_simulated_disk(
        steps in prop::collection::vec(step(), 1..80),
        segment_size in 512u64..4096,
        sync in policy(),
    ) {
        let sim = SimStorage::new();
        run(&steps, || {
            open_sim(&sim, segment_size, sync, RecoveryMode::AbsoluteConsistency).unwrap().0
        });
    }

    #[test]
    fn acknowledged_appends_survive_a_power_loss(
        ops in prop::collection::vec(any_op(300), 1..40),
        segment_size in 512u64..4096,
    ) {
        let sim = SimStorage::new();
        let (wal, _) = open_sim(&sim, segment_size, SyncPolicy::EveryWrite, RecoveryMode::AbsoluteConsistency).unwrap();
        for (i, op) in ops.iter().enumerate() {
            append(&wal, op, i as u64).unwrap();
        }
        // No close: the power goes out with nothing but what appends made durable.
        let after = sim.crash(kv_wal::CrashMode::DropUnsynced);
        drop(wal);
        let (wal, report) = open_sim(&after, segment_size, SyncPolicy::EveryWrite, RecoveryMode::AbsoluteConsistency).unwrap();
        prop_assert_eq!(report.records, ops.len() as u64);
        let got: Vec<OwnedOp> = replay_all(&wal).into_iter().map(|r| r.op).collect();
        prop_assert_eq!(got, ops);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn appends_replay_exactly_on_a_real_directory(
        steps in prop::collection::vec(step(), 1..60),
        segment_size in 4096u64..16384,
    ) {
        let dir = tempfile::tempdir().unwrap();
        run(&steps, || {
            let options = WalOptions::default()
                .segment_size(segment_size)
                .sync(SyncPolicy::Never)
                .recovery(RecoveryMode::AbsoluteConsistency);
            Wal::open(dir.path(), options).unwrap().0
        });
    }
}

//! Power losses where unsynced pages reach the disk in any order (a later record
//! durable, an earlier one not): the default recovery mode opens the log and yields
//! exactly the records before the first one lost, while damage to records that were
//! durable before later ones were written stays corruption.

mod common;

use common::{any_op, append, open_sim, put, replay_all};
use kv_wal::{
    Corruption, CrashMode, Error, OwnedOp, Record, RecoveryMode, SegmentId, Seq, SimStorage,
    SyncPolicy,
};
use proptest::prelude::*;

/// Every record's extent in a log's segments as written (segment name, offset, bytes
/// the checksum covers), in log order, found by following the length fields; durable
/// markers (type 7, written by a close) are passed over.
fn extents(sim: &SimStorage) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    for name in sim.file_names() {
        if SegmentId::parse_file_name(&name).is_none() {
            continue;
        }
        let bytes = sim.file(&name).unwrap();
        let mut at = 64;
        while at + 8 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
            if len == 0 {
                break;
            }
            if bytes[at + 8] != 7 {
                out.push((name.clone(), at, 8 + len));
            }
            at = (at + 8 + len).div_ceil(8) * 8;
        }
    }
    out
}

/// How many records, from the first, reached `crashed` intact from `before`.
fn intact_prefix(before: &SimStorage, crashed: &SimStorage) -> usize {
    extents(before)
        .iter()
        .take_while(|(name, at, len)| {
            let (Some(old), Some(new)) = (before.file(name), crashed.file(name)) else {
                return false;
            };
            new.get(*at..at + len) == Some(&old[*at..at + len])
        })
        .count()
}

#[derive(Debug, Clone)]
enum Step {
    Append(OwnedOp),
    Sync,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            10 => any_op(700).prop_map(Step::Append),
            1 => Just(Step::Sync),
        ],
        1..60,
    )
}

/// One power loss after `steps` on `sim` (whose log holds `model`): checks what the
/// default recovery opens and returns the disk and records it continues with.
fn crash_and_recover(
    sim: SimStorage,
    mut model: Vec<Record>,
    steps: &[Step],
    segment: u64,
    seed: u64,
    block: u64,
) -> Result<(SimStorage, Vec<Record>), TestCaseError> {
    let (wal, _) = open_sim(
        &sim,
        segment,
        SyncPolicy::Never,
        RecoveryMode::AbsoluteConsistency,
    )
    .map_err(|e| TestCaseError::fail(format!("reopen of a recovered log: {e}")))?;
    prop_assert_eq!(replay_all(&wal), model.clone());
    let mut durable = model.len();
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Append(op) => match append(&wal, op, i as u64) {
                Ok(seq) => model.push(Record {
                    seq,
                    timestamp_ms: i as u64,
                    op: op.clone(),
                }),
                Err(Error::RecordTooLarge { .. }) => {}
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            },
            Step::Sync => {
                wal.sync().unwrap();
                durable = model.len();
            }
        }
    }
    let crashed = sim.crash(CrashMode::Scrambled { seed, block });
    prop_assert_eq!(extents(&sim).len(), model.len());
    let intact = intact_prefix(&sim, &crashed);
    prop_assert!(
        intact >= durable,
        "a synced record was lost by the simulator"
    );
    drop(wal);

    // Salvage reads a power-loss hole the same way (on its own copy of the disk).
    let copy = sim.crash(CrashMode::Scrambled { seed, block });
    let (salvaged, _) = open_sim(
        &copy,
        segment,
        SyncPolicy::Never,
        RecoveryMode::SalvageValid,
    )
    .map_err(|e| TestCaseError::fail(format!("salvage: {e}")))?;
    prop_assert_eq!(replay_all(&salvaged), model[..intact].to_vec());

    let (wal, report) = open_sim(
        &crashed,
        segment,
        SyncPolicy::Never,
        RecoveryMode::TolerateTornTail,
    )
    .map_err(|e| TestCaseError::fail(format!("default recovery refused a power loss: {e}")))?;
    prop_assert!(report.damage.is_empty());
    prop_assert_eq!(report.records, intact as u64);
    prop_assert_eq!(replay_all(&wal), model[..intact].to_vec());
    // The log goes on right after the prefix.
    let seq = wal
        .append(&OwnedOp::Clear.as_op(&mut Vec::new()), 0)
        .unwrap();
    prop_assert_eq!(seq, model[..intact].last().map_or(Seq(1), |r| r.seq.next()));
    model.truncate(intact);
    model.push(Record {
        seq,
        timestamp_ms: 0,
        op: OwnedOp::Clear,
    });
    wal.close().unwrap();
    Ok((crashed, model))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Power loss after appends with `SyncPolicy::Never` and occasional syncs (what
    /// `Interval` does in the background), written back in any order by pages,
    /// sectors, or even torn inside a sector (8-byte or single-byte blocks); twice in a
    /// row, the second after appends over a cut tail.
    #[test]
    fn a_scrambled_power_loss_opens_as_the_records_before_the_first_lost_one(
        first in steps(),
        second in steps(),
        segment in prop_oneof![Just(4096u64), Just(16384)],
        block in prop_oneof![Just(1u64), Just(8), Just(512), Just(4096)],
        seed in any::<u64>(),
    ) {
        let sim = SimStorage::new();
        let (sim, model) =
            crash_and_recover(sim, Vec::new(), &first, segment, seed, block)?;
        crash_and_recover(sim, model, &second, segment, seed.rotate_left(17), block)?;
    }
}

/// A single-segment log of `n` puts of `len`-byte values, not closed.
fn unsynced_log(n: u64, len: usize, sync: SyncPolicy) -> (SimStorage, Vec<Record>) {
    let sim = SimStorage::new();
    let (wal, _) = open_sim(&sim, 1 << 16, sync, RecoveryMode::TolerateTornTail).unwrap();
    for i in 0..n {
        append(&wal, &put(i, len), 100 + i).unwrap();
    }
    let records = replay_all(&wal);
    (sim, records)
}

#[test]
fn scrambled_power_losses_leave_holes_and_the_default_mode_opens_every_one() {
    let (sim, records) = unsynced_log(40, 150, SyncPolicy::Never);
    let mut holes = 0;
    for seed in 0..300 {
        let crashed = sim.crash(CrashMode::Scrambled { seed, block: 512 });
        let intact = intact_prefix(&sim, &crashed);
        // The strict mode sees a hole whenever a valid record follows a lost one.
        let strict = sim.crash(CrashMode::Scrambled { seed, block: 512 });
        if let Err(e) = open_sim(
            &strict,
            1 << 16,
            SyncPolicy::Never,
            RecoveryMode::AbsoluteConsistency,
        ) {
            if matches!(
                e,
                Error::Corrupt {
                    kind: Corruption::Hole { .. },
                    ..
                }
            ) {
                holes += 1;
            }
        }
        let (wal, report) = open_sim(
            &crashed,
            1 << 16,
            SyncPolicy::Never,
            RecoveryMode::TolerateTornTail,
        )
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(replay_all(&wal), records[..intact], "seed {seed}");
        if intact < records.len() && report.discarded_bytes > 0 {
            assert_eq!(report.discarded_at.map(|(s, _)| s), Some(SegmentId(1)));
        }
    }
    assert!(holes > 100, "only {holes} holes in 300 power losses");
}

/// The offset of each record of a single-segment log, and the end of the last.
fn offsets(bytes: &[u8], count: usize) -> Vec<usize> {
    let mut offs = vec![64usize];
    for _ in 0..count {
        let at = *offs.last().unwrap();
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        offs.push((at + 8 + len).div_ceil(8) * 8);
    }
    offs
}

fn open_default(bytes: &[u8]) -> kv_wal::Result<(kv_wal::Wal, kv_wal::OpenReport)> {
    let s = SimStorage::new();
    s.set_file(&SegmentId(1).file_name(), bytes);
    open_sim(
        &s,
        1 << 16,
        SyncPolicy::Never,
        RecoveryMode::TolerateTornTail,
    )
}

#[test]
fn a_flipped_bit_in_a_durable_record_followed_by_durable_records_is_corruption() {
    let (sim, records) = unsynced_log(8, 40, SyncPolicy::EveryWrite);
    let bytes = sim
        .crash(CrashMode::DropUnsynced)
        .file(&SegmentId(1).file_name())
        .unwrap();
    let offs = offsets(&bytes, records.len());
    for (victim, &start) in offs.iter().enumerate().take(records.len() - 1) {
        for at in [
            start,
            start + 4,
            start + 9,
            start + 25,
            start + 30,
            offs[victim + 1] - 9,
        ] {
            for bit in [0x01, 0x80] {
                let mut b = bytes.clone();
                b[at] ^= bit;
                let err = open_default(&b).unwrap_err();
                assert!(
                    matches!(&err, Error::Corrupt { offset, .. } if *offset == start as u64),
                    "record {victim}, byte {at}: {err}"
                );
            }
        }
    }
}

#[test]
fn a_zeroed_sector_is_a_lost_write_only_if_nothing_after_it_was_written_once_it_was_durable() {
    // Records of 1 KiB values: each spans whole 512-byte sectors.
    for (sync, lost) in [(SyncPolicy::Never, true), (SyncPolicy::EveryWrite, false)] {
        let (sim, records) = unsynced_log(6, 1024, sync);
        let bytes = sim
            .crash(CrashMode::KeepUnsynced)
            .file(&SegmentId(1).file_name())
            .unwrap();
        let offs = offsets(&bytes, records.len());
        let victim = 2;
        let sector = offs[victim].div_ceil(512) * 512;
        assert!(sector + 512 <= offs[victim + 1]);
        let mut b = bytes.clone();
        b[sector..sector + 512].fill(0);
        match open_default(&b) {
            Ok((wal, report)) => {
                assert!(lost, "{sync:?}: a durable record's damage was cut away");
                assert_eq!(replay_all(&wal), records[..victim]);
                assert_eq!(
                    report.discarded_at,
                    Some((SegmentId(1), offs[victim] as u64))
                );
                let dirty = b.iter().rposition(|&x| x != 0).unwrap() + 1 - offs[victim];
                assert_eq!(report.discarded_bytes, dirty as u64);
            }
            Err(err) => {
                assert!(!lost, "{sync:?}: a lost write refused: {err}");
                assert!(
                    matches!(&err, Error::Corrupt { offset, kind: Corruption::Hole { .. }, .. }
                        if *offset == offs[victim] as u64),
                    "{err}"
                );
            }
        }
    }
}

#[test]
fn after_a_cut_power_loss_hole_the_discarded_records_never_come_back() {
    let (sim, records) = unsynced_log(10, 1024, SyncPolicy::Never);
    let bytes = sim
        .crash(CrashMode::KeepUnsynced)
        .file(&SegmentId(1).file_name())
        .unwrap();
    let offs = offsets(&bytes, records.len());
    let sector = offs[3].div_ceil(512) * 512;
    let mut b = bytes.clone();
    b[sector..sector + 512].fill(0);
    let disk = SimStorage::new();
    disk.set_file(&SegmentId(1).file_name(), &b);
    let (wal, _) = open_sim(
        &disk,
        1 << 16,
        SyncPolicy::Never,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    assert_eq!(replay_all(&wal), records[..3]);
    // One short record after the cut, then a power loss that keeps only what was synced:
    // the records after the hole were zeroed durably and do not reappear.
    wal.append(&OwnedOp::Clear.as_op(&mut Vec::new()), 0)
        .unwrap();
    let after = disk.crash(CrashMode::DropUnsynced);
    drop(wal);
    let (wal, _) = open_sim(
        &after,
        1 << 16,
        SyncPolicy::Never,
        RecoveryMode::AbsoluteConsistency,
    )
    .unwrap();
    assert_eq!(replay_all(&wal), records[..3]);
}

#[test]
fn power_losses_beside_the_interval_flusher_open_as_the_intact_prefix() {
    let sim = SimStorage::new();
    let (wal, _) = open_sim(
        &sim,
        16 << 10,
        SyncPolicy::Interval(std::time::Duration::from_millis(1)),
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    let mut model = Vec::new();
    for i in 0..600u64 {
        let op = put(i, 100 + (i as usize * 37) % 400);
        let seq = append(&wal, &op, i).unwrap();
        model.push(Record {
            seq,
            timestamp_ms: i,
            op,
        });
        if i % 40 != 39 {
            continue;
        }
        // Whatever the flusher had made durable before the crash must survive.
        let durable = wal.stats().durable_seq;
        for seed in 0..4 {
            let crashed = sim.crash(CrashMode::Scrambled {
                seed: seed ^ i,
                block: 512,
            });
            let intact = intact_prefix(&sim, &crashed);
            assert!(
                intact as u64 >= durable.0,
                "the simulator lost a synced record"
            );
            let (w, report) = open_sim(
                &crashed,
                16 << 10,
                SyncPolicy::Never,
                RecoveryMode::TolerateTornTail,
            )
            .unwrap_or_else(|e| panic!("after record {i}, seed {seed}: {e}"));
            assert!(report.damage.is_empty());
            assert_eq!(replay_all(&w), model[..intact], "after record {i}");
        }
    }
    wal.close().unwrap();
}

/// The durable mark of every record of segment `name`, by offset.
fn marks(sim: &SimStorage, name: &str) -> Vec<(usize, u32)> {
    let bytes = sim.file(name).unwrap();
    extents(sim)
        .into_iter()
        .filter(|(n, _, _)| n == name)
        .map(|(_, at, _)| {
            let mark = u32::from_le_bytes(bytes[at + 25..at + 29].try_into().unwrap());
            (at, mark)
        })
        .collect()
}

#[test]
fn each_record_carries_the_end_of_the_last_completed_sync() {
    let sim = SimStorage::new();
    let first = SegmentId(1).file_name();
    let (wal, _) = open_sim(
        &sim,
        4096,
        SyncPolicy::Never,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    for i in 0..3 {
        append(&wal, &put(i, 50), i).unwrap();
    }
    // Nothing synced yet: every mark is the header's end.
    let m = marks(&sim, &first);
    assert_eq!(m.iter().map(|&(_, d)| d).collect::<Vec<_>>(), [64; 3]);
    wal.sync().unwrap();
    let synced_to = wal.stats().bytes as u32;
    for i in 3..5 {
        append(&wal, &put(i, 50), i).unwrap();
    }
    let m = marks(&sim, &first);
    assert_eq!(
        m[3..].iter().map(|&(_, d)| d).collect::<Vec<_>>(),
        [synced_to; 2]
    );
    assert_eq!(
        m[3].0 as u32, synced_to,
        "the sync ended where record 4 starts"
    );
    // Reopened: recovery made everything durable, and the next record says so.
    wal.close().unwrap();
    drop(wal);
    let (wal, _) = open_sim(
        &sim,
        4096,
        SyncPolicy::EveryWrite,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    let reopened_at = wal.stats().bytes as u32;
    append(&wal, &put(5, 50), 5).unwrap();
    // With every write synced, each record's mark is its own offset.
    append(&wal, &put(6, 50), 6).unwrap();
    let m = marks(&sim, &first);
    assert_eq!(m[5], (reopened_at as usize, reopened_at));
    assert_eq!(m[6].1 as usize, m[6].0);
    // A new segment starts over from its header.
    let mut i = 7;
    while wal.stats().segments == 1 {
        append(&wal, &put(i, 50), i).unwrap();
        i += 1;
    }
    assert_eq!(marks(&sim, &SegmentId(2).file_name())[0], (64, 64));
    wal.close().unwrap();
}

/// Offsets of the durable markers of segment `name`.
fn markers(sim: &SimStorage, name: &str) -> Vec<usize> {
    let bytes = sim.file(name).unwrap();
    let mut out = Vec::new();
    let mut at = 64;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        if bytes[at + 8] == 7 {
            out.push(at);
        }
        at = (at + 8 + len).div_ceil(8) * 8;
    }
    out
}

#[test]
fn a_close_marks_the_log_durable_once_per_batch_of_new_records() {
    let sim = SimStorage::new();
    let first = SegmentId(1).file_name();
    let open = |sim: &SimStorage| {
        open_sim(sim, 4096, SyncPolicy::Never, RecoveryMode::TolerateTornTail)
            .unwrap()
            .0
    };
    // Nothing written: nothing to mark.
    let wal = open(&sim);
    wal.close().unwrap();
    drop(wal);
    assert!(markers(&sim, &first).is_empty());
    // Records, then a close: one marker right after them, durable, its mark its offset.
    let wal = open(&sim);
    for i in 0..3 {
        append(&wal, &put(i, 50), i).unwrap();
    }
    let end = wal.stats().bytes as usize;
    wal.close().unwrap();
    wal.close().unwrap();
    drop(wal);
    assert_eq!(markers(&sim, &first), [end]);
    let durable = sim.crash(CrashMode::DropUnsynced);
    assert_eq!(markers(&durable, &first), [end]);
    assert_eq!(marks(&sim, &first).len(), 3, "a marker is no record");
    let bytes = sim.file(&first).unwrap();
    assert_eq!(
        u32::from_le_bytes(bytes[end + 25..end + 29].try_into().unwrap()) as usize,
        end
    );
    // Reopened and closed with nothing new: no second marker.
    let wal = open(&sim);
    assert_eq!(replay_all(&wal).len(), 3);
    wal.close().unwrap();
    drop(wal);
    assert_eq!(markers(&sim, &first), [end]);
    // A writer that stops without closing leaves no marker; the next close after a
    // reopen writes one for the records it recovered.
    let wal = open(&sim);
    append(&wal, &put(3, 50), 3).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let crashed = sim.crash(CrashMode::DropUnsynced);
    assert_eq!(markers(&crashed, &first), [end]);
    let wal = open(&crashed);
    let reopened_at = wal.stats().bytes as usize;
    wal.close().unwrap();
    drop(wal);
    assert_eq!(markers(&crashed, &first), [end, reopened_at]);
    let wal = open(&crashed);
    let seqs: Vec<u64> = replay_all(&wal).iter().map(|r| r.seq.0).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert_eq!(
        wal.append(&OwnedOp::Clear.as_op(&mut Vec::new()), 9)
            .unwrap(),
        Seq(5)
    );
}

#[test]
fn salvage_keeps_its_verdict_across_reopens_when_the_evidence_was_in_the_cut_tail() {
    // X, A, B synced; then Y and Z appended (their marks: the end of B). A power loss
    // keeps Z but loses Y; later a bit of X rots.
    let sim = SimStorage::new();
    let (wal, _) = open_sim(
        &sim,
        1 << 16,
        SyncPolicy::Never,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    for i in 0..3 {
        append(&wal, &put(i, 1024), i).unwrap();
    }
    wal.sync().unwrap();
    for i in 3..5 {
        append(&wal, &put(i, 1024), i).unwrap();
    }
    let records = replay_all(&wal);
    drop(wal);
    let disk = sim.crash(CrashMode::KeepUnsynced);
    let name = SegmentId(1).file_name();
    let mut bytes = disk.file(&name).unwrap();
    let offs = offsets(&bytes, 5);
    bytes[offs[3] + 600] ^= 0x01; // Y lost (any damage will do: nothing proves it durable)
    bytes[offs[0] + 100] ^= 0x01; // X rotted (Z's mark proves it was durable)
    disk.set_file(&name, &bytes);

    let err = open_sim(
        &disk,
        1 << 16,
        SyncPolicy::Never,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { offset, kind: Corruption::Hole { .. }, .. } if *offset == 64),
        "{err}"
    );
    for round in 0..3 {
        let (wal, report) = open_sim(
            &disk,
            1 << 16,
            SyncPolicy::Never,
            RecoveryMode::SalvageValid,
        )
        .unwrap();
        assert_eq!(replay_all(&wal), records[1..3], "round {round}");
        if round == 0 {
            assert_eq!(report.discarded_at, Some((SegmentId(1), offs[3] as u64)));
        } else {
            assert_eq!(report.discarded_bytes, 0, "round {round}");
        }
        assert_eq!(report.damage[0].offset, 64, "round {round}");
        drop(wal);
        // The default mode keeps refusing the rotted record.
        let err = open_sim(
            &disk,
            1 << 16,
            SyncPolicy::Never,
            RecoveryMode::TolerateTornTail,
        )
        .unwrap_err();
        assert!(err.is_corruption(), "{err}");
    }
}

#[test]
fn power_losses_during_group_commits_keep_every_acknowledged_record() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    let sim = SimStorage::new();
    sim.set_sync_latency(std::time::Duration::from_micros(200));
    let (wal, _) = open_sim(
        &sim,
        16 << 10,
        SyncPolicy::EveryWrite,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    let wal = Arc::new(wal);
    // The highest sequence number each writer has had acknowledged.
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..4).map(|_| AtomicU64::new(0)).collect());
    let writers: Vec<_> = (0..4u64)
        .map(|t| {
            let (wal, acked) = (wal.clone(), acked.clone());
            std::thread::spawn(move || {
                for i in 0..150 {
                    let seq =
                        append(&wal, &put(t * 1000 + i, 80 + (i as usize % 7) * 60), i).unwrap();
                    acked[t as usize].store(seq.0, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let mut images = Vec::new();
    let mut seed = 0;
    while writers.iter().any(|w| !w.is_finished()) && images.len() < 60 {
        let floor = acked
            .iter()
            .map(|a| a.load(Ordering::SeqCst))
            .max()
            .unwrap();
        images.push((floor, sim.crash(CrashMode::Scrambled { seed, block: 512 })));
        seed += 1;
        std::thread::yield_now();
    }
    for w in writers {
        w.join().unwrap();
    }
    let all = replay_all(&wal);
    assert_eq!(all.len(), 600);
    // Each writer waits out at least 150 syncs of 200 us: the loop saw them running.
    assert!(!images.is_empty());
    for (floor, image) in images {
        let (w, _) = open_sim(
            &image,
            16 << 10,
            SyncPolicy::Never,
            RecoveryMode::TolerateTornTail,
        )
        .unwrap_or_else(|e| panic!("a power loss during group commits refused: {e}"));
        let got = replay_all(&w);
        assert_eq!(got, all[..got.len()], "not a prefix");
        assert!(
            got.len() as u64 >= floor,
            "acknowledged record {floor} lost (kept {})",
            got.len()
        );
    }
}

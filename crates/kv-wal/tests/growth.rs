//! Segments start small and grow as records arrive (issue 13 #8): a log holding one
//! record takes little room; each growth is allocated and synced before a record
//! goes there, so a power loss never cuts acknowledged records; a full disk while
//! growing is an error like a full disk while rotating, and a failed sync then
//! poisons the writer.

mod common;

use common::{append, open_sim, put, replay_all};
use kv_wal::{
    CrashMode, Error, Fault, Record, RecoveryMode, SegmentId, Seq, SimStorage, SyncPolicy, Wal,
    WalOptions,
};

const SEGMENT: u64 = 1 << 20;

fn record(seq: Seq, i: u64, len: usize) -> Record {
    Record {
        seq,
        timestamp_ms: i,
        op: put(i, len),
    }
}

/// What a power loss now leaves of the log on `sim`, recovered strictly.
fn after_power_loss(sim: &SimStorage) -> Vec<Record> {
    let (wal, _) = open_sim(
        &sim.crash(CrashMode::DropUnsynced),
        SEGMENT,
        SyncPolicy::EveryWrite,
        RecoveryMode::AbsoluteConsistency,
    )
    .unwrap();
    replay_all(&wal)
}

fn first(sim: &SimStorage) -> usize {
    sim.file(&SegmentId(1).file_name()).unwrap().len()
}

#[test]
fn a_log_on_a_real_directory_holding_one_record_takes_little_room() {
    let dir = tempfile::tempdir().unwrap();
    // The default segment size, 64 MiB.
    let (wal, _) = Wal::open(dir.path(), WalOptions::default()).unwrap();
    append(&wal, &put(1, 100), 1).unwrap();
    wal.close().unwrap();
    drop(wal);
    let mut allocated = 0;
    let mut apparent = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        use std::os::unix::fs::MetadataExt;
        let meta = entry.unwrap().metadata().unwrap();
        allocated += meta.blocks() * 512;
        apparent += meta.len();
    }
    assert!(allocated <= 256 << 10, "{allocated} bytes allocated");
    assert!(apparent <= 256 << 10, "{apparent} bytes");
    let (wal, report) = Wal::open(dir.path(), WalOptions::default()).unwrap();
    assert_eq!(report.records, 1);
    assert_eq!(wal.stats().allocated_bytes, apparent);
}

#[test]
fn segments_grow_by_doubling_up_to_the_segment_size_and_keep_every_synced_record() {
    let sim = SimStorage::new();
    let (wal, _) = open_sim(
        &sim,
        SEGMENT,
        SyncPolicy::EveryWrite,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    assert_eq!(first(&sim), 64 << 10, "a new segment starts small");
    let mut acked = Vec::new();
    let mut sizes = vec![first(&sim)];
    let mut i = 0;
    while wal.stats().segments == 1 {
        acked.push(record(append(&wal, &put(i, 900), i).unwrap(), i, 900));
        i += 1;
        if first(&sim) != *sizes.last().unwrap() {
            sizes.push(first(&sim));
            // Grown and synced before the record went there: a power loss now
            // keeps every acknowledged record.
            assert_eq!(after_power_loss(&sim), acked);
        }
    }
    assert_eq!(
        sizes,
        vec![64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20],
        "doubling, up to the segment size"
    );
    assert_eq!(replay_all(&wal), acked);
}

#[test]
fn a_full_disk_while_growing_fails_one_write_and_the_next_one_succeeds() {
    let sim = SimStorage::new();
    let (wal, _) = open_sim(
        &sim,
        SEGMENT,
        SyncPolicy::EveryWrite,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    sim.inject(Fault::NoSpaceOnGrow { nth: 1 });
    sim.inject(Fault::NoSpaceOnGrow { nth: 2 });
    let mut acked = Vec::new();
    let mut full = 0;
    for i in 0..200 {
        match append(&wal, &put(i, 900), i) {
            Ok(seq) => acked.push(record(seq, i, 900)),
            Err(e) => {
                let Error::Io { op, source, .. } = &e else {
                    panic!("unexpected error {e}")
                };
                assert_eq!(*op, "grow segment", "{e}");
                assert_eq!(source.raw_os_error(), Some(28), "{e}");
                assert!(e.to_string().contains("wal-"), "{e}");
                full += 1;
            }
        }
    }
    assert_eq!(full, 2);
    assert!(!wal.stats().poisoned, "a full disk is not a failed sync");
    assert_eq!(acked.len(), 198);
    assert!(acked.windows(2).all(|w| w[1].seq == w[0].seq.next()));
    assert_eq!(replay_all(&wal), acked);
    assert_eq!(after_power_loss(&sim), acked);
}

#[test]
fn a_failed_sync_of_a_grown_segment_poisons_the_writer() {
    let sim = SimStorage::new();
    // No sync but the growth's: the first one fails.
    let (wal, _) = open_sim(
        &sim,
        SEGMENT,
        SyncPolicy::Never,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    sim.inject(Fault::SyncFails { nth: 1 });
    let mut err = None;
    for i in 0..200 {
        if let Err(e) = append(&wal, &put(i, 900), i) {
            err = Some(e);
            break;
        }
    }
    let err = err.expect("the segment grew");
    assert!(
        matches!(
            err,
            Error::Poisoned {
                op: "sync of a grown segment",
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(
        append(&wal, &put(1, 1), 0),
        Err(Error::Poisoned { .. })
    ));
}

#[test]
fn power_losses_around_growths_keep_an_exact_prefix_at_least_up_to_the_last_sync() {
    let sim = SimStorage::new();
    let (wal, _) = open_sim(
        &sim,
        SEGMENT,
        SyncPolicy::Never,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    let mut all = Vec::new();
    let mut synced = 0;
    for i in 0..1500u64 {
        all.push(record(append(&wal, &put(i, 700), i).unwrap(), i, 700));
        if i % 97 == 0 {
            wal.sync().unwrap();
            synced = all.len();
        }
        if i % 61 != 0 {
            continue;
        }
        for mode in [
            CrashMode::DropUnsynced,
            CrashMode::KeepUnsynced,
            CrashMode::Scrambled {
                seed: i,
                block: 4096,
            },
        ] {
            let after = sim.crash(mode);
            let (w, _) = open_sim(
                &after,
                SEGMENT,
                SyncPolicy::Never,
                RecoveryMode::TolerateTornTail,
            )
            .unwrap_or_else(|e| panic!("{mode:?} after {i}: {e}"));
            let got = replay_all(&w);
            assert!(
                got.len() >= synced,
                "{mode:?} after {i}: {} < {synced}",
                got.len()
            );
            assert_eq!(got[..], all[..got.len()], "{mode:?} after {i}");
        }
    }
    assert!(wal.stats().segments >= 2, "several growths and a rotation");
}

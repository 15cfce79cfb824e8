//! Fault injection through the simulated disk: a full disk when a segment is created,
//! failed syncs, failed renames, and power losses at every byte of unsynced data. No
//! panic, no lost acknowledged record, and a poisoned writer after a failed sync.

mod common;

use common::{append, open_sim, put, replay_all};
use kv_wal::{CrashMode, Error, Fault, Record, RecoveryMode, Seq, SimStorage, SyncPolicy};

const SEG: u64 = 1024;

fn assert_no_temp_files(sim: &SimStorage) {
    assert!(
        sim.file_names().iter().all(|n| !n.ends_with(".tmp")),
        "{:?}",
        sim.file_names()
    );
}

/// Recovers `sim` after a power loss and checks the acknowledged records are all
/// there, first, followed by at most `maybe` unacknowledged ones.
fn check_after_crash(sim: &SimStorage, acked: &[Record], maybe: usize) {
    let after = sim.crash(CrashMode::DropUnsynced);
    let (wal, _) = open_sim(
        &after,
        SEG,
        SyncPolicy::EveryWrite,
        RecoveryMode::AbsoluteConsistency,
    )
    .unwrap_or_else(|e| panic!("recovery failed: {e}"));
    let got = replay_all(&wal);
    assert!(
        got.len() >= acked.len() && got.len() <= acked.len() + maybe,
        "{} vs {}",
        got.len(),
        acked.len()
    );
    assert_eq!(&got[..acked.len()], acked);
    // The recovered log is writable.
    let seq = append(&wal, &put(999, 10), 0).unwrap();
    assert_eq!(seq, got.last().map_or(Seq(1), |r| r.seq.next()));
}

fn record(seq: Seq, i: u64, len: usize) -> Record {
    Record {
        seq,
        timestamp_ms: i,
        op: put(i, len),
    }
}

#[test]
fn a_full_disk_at_segment_creation_is_an_error_and_loses_nothing() {
    let sim = SimStorage::new();
    let (wal, _) = open_sim(
        &sim,
        SEG,
        SyncPolicy::EveryWrite,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    sim.inject(Fault::NoSpaceOnCreate { nth: 1 });
    let mut acked = Vec::new();
    let mut failures = 0;
    for i in 0..20 {
        match append(&wal, &put(i, 100), i) {
            Ok(seq) => acked.push(record(seq, i, 100)),
            Err(Error::Io { op, source, .. }) => {
                assert_eq!(op, "create segment");
                assert_eq!(source.raw_os_error(), Some(libc_enospc()));
                failures += 1;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(failures, 1);
    assert!(!wal.stats().poisoned, "a full disk is not a failed sync");
    assert_eq!(acked.len(), 19);
    assert!(acked.windows(2).all(|w| w[1].seq == w[0].seq.next()));
    assert_eq!(replay_all(&wal), acked);
    assert_no_temp_files(&sim);
    check_after_crash(&sim, &acked, 0);

    // A new log on a full disk fails to open, cleanly.
    let empty = SimStorage::new();
    empty.inject(Fault::NoSpaceOnCreate { nth: 1 });
    assert!(open_sim(
        &empty,
        SEG,
        SyncPolicy::Never,
        RecoveryMode::TolerateTornTail
    )
    .is_err());
    assert_no_temp_files(&empty);
    assert!(open_sim(
        &empty,
        SEG,
        SyncPolicy::Never,
        RecoveryMode::TolerateTornTail
    )
    .is_ok());
}

fn libc_enospc() -> i32 {
    std::io::Error::new(std::io::ErrorKind::StorageFull, "")
        .raw_os_error()
        .unwrap_or(28) // ENOSPC on Linux
}

#[test]
fn a_failed_rename_is_an_error_and_loses_nothing() {
    let sim = SimStorage::new();
    let (wal, _) = open_sim(
        &sim,
        SEG,
        SyncPolicy::EveryWrite,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    sim.inject(Fault::RenameFails { nth: 1 });
    let mut acked = Vec::new();
    let mut failed = false;
    for i in 0..20 {
        match append(&wal, &put(i, 100), i) {
            Ok(seq) => acked.push(record(seq, i, 100)),
            Err(Error::Io {
                op: "rename segment",
                ..
            }) => failed = true,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(failed);
    assert!(!wal.stats().poisoned);
    assert_no_temp_files(&sim);
    assert_eq!(replay_all(&wal), acked);
    check_after_crash(&sim, &acked, 0);
}

#[test]
fn a_failed_sync_poisons_the_writer_and_loses_no_acknowledged_record() {
    // Fail each of the first syncs after opening in turn: group-commit flushes, the
    // flush of a segment being sealed, a new segment's header, the directory.
    let mut poisoned_runs = 0;
    for nth in 1..=16 {
        for policy in [SyncPolicy::EveryWrite, SyncPolicy::Never] {
            let sim = SimStorage::new();
            let (wal, _) = open_sim(&sim, SEG, policy, RecoveryMode::TolerateTornTail).unwrap();
            sim.inject(Fault::SyncFails { nth });
            let mut acked = Vec::new();
            let mut written = 0;
            let mut poisoned = None;
            for i in 0..24u64 {
                let r = append(&wal, &put(i, 90), i).and_then(|seq| {
                    written += 1;
                    if policy == SyncPolicy::Never && i % 3 == 2 {
                        wal.sync()?;
                    }
                    Ok(seq)
                });
                match r {
                    Ok(seq) => acked.push(record(seq, i, 90)),
                    Err(e) => {
                        poisoned = Some(e);
                        break;
                    }
                }
            }
            let Some(err) = poisoned else {
                continue; // this many syncs never happened
            };
            poisoned_runs += 1;
            assert!(matches!(err, Error::Poisoned { .. }), "nth {nth}: {err}");
            assert!(std::error::Error::source(&err).is_some());
            // Every later append and sync fails too: never retried as if it had worked.
            assert!(matches!(
                append(&wal, &put(100, 1), 0),
                Err(Error::Poisoned { .. })
            ));
            assert!(matches!(wal.sync(), Err(Error::Poisoned { .. })));
            assert!(matches!(wal.close(), Err(Error::Poisoned { .. })));
            assert!(wal.stats().poisoned);
            if policy == SyncPolicy::Never {
                // Only records covered by a successful sync() were promised.
                let durable = acked.len() / 3 * 3;
                acked.truncate(durable);
            }
            check_after_crash(&sim, &acked, written + 1 - acked.len());
        }
    }
    // Every run with sync on every write hit its fault, and most with explicit syncs.
    assert!(poisoned_runs >= 24, "{poisoned_runs}");
}

#[test]
fn a_power_loss_at_any_byte_keeps_every_synced_record_and_a_prefix_of_the_rest() {
    let sim = SimStorage::new();
    let (wal, _) = open_sim(&sim, SEG, SyncPolicy::Never, RecoveryMode::TolerateTornTail).unwrap();
    let mut all = Vec::new();
    for i in 0..6 {
        let seq = append(&wal, &put(i, 60), i).unwrap();
        all.push(record(seq, i, 60));
    }
    wal.sync().unwrap();
    let synced = all.len();
    for i in 6..14 {
        let seq = append(&wal, &put(i, 60), i).unwrap();
        all.push(record(seq, i, 60));
    }
    let unsynced = sim.unsynced_bytes();
    assert!(unsynced > 0);
    // Sealing a full segment flushes it: those records are durable too.
    let (w, _) = open_sim(
        &sim.crash(CrashMode::DropUnsynced),
        SEG,
        SyncPolicy::Never,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    let synced = replay_all(&w).len().max(synced);
    assert!(synced < all.len());
    let mut seen = std::collections::BTreeSet::new();
    for n in 0..=unsynced {
        let after = sim.crash(CrashMode::TornAfter(n));
        let (wal, report) = open_sim(
            &after,
            SEG,
            SyncPolicy::Never,
            RecoveryMode::TolerateTornTail,
        )
        .unwrap();
        let got = replay_all(&wal);
        assert!(
            got.len() >= synced,
            "lost a synced record at torn point {n}"
        );
        assert_eq!(&got[..], &all[..got.len()]);
        seen.insert(got.len());
        let _ = report;
    }
    // Every prefix length between the synced ones and all of them shows up.
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        (synced..=all.len()).collect::<Vec<_>>()
    );
}

#[test]
fn a_failed_background_flush_poisons_the_writer() {
    let sim = SimStorage::new();
    let (wal, _) = open_sim(
        &sim,
        SEG,
        SyncPolicy::Interval(std::time::Duration::from_millis(1)),
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    sim.inject(Fault::SyncFails { nth: 1 });
    append(&wal, &put(1, 10), 0).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !wal.stats().poisoned {
        assert!(
            std::time::Instant::now() < deadline,
            "the flusher never failed"
        );
        std::thread::yield_now();
    }
    let err = append(&wal, &put(2, 10), 0).unwrap_err();
    assert!(matches!(err, Error::Poisoned { op: "sync", .. }), "{err}");
    assert!(err.to_string().contains("reopen"), "{err}");
    assert!(matches!(wal.sync(), Err(Error::Poisoned { .. })));
}

#[test]
fn a_full_disk_at_segment_creation_leaves_no_temp_file_and_the_next_write_succeeds() {
    // Issue 13 #2: the file system creates the temporary file, then allocating its
    // blocks fails. The leftover `.tmp` made every later rotation fail with "exists".
    let sim = SimStorage::new();
    let (wal, _) = open_sim(&sim, SEG, SyncPolicy::Never, RecoveryMode::TolerateTornTail).unwrap();
    // Three full disks in a row, then space again.
    for nth in 1..=3 {
        sim.inject(Fault::NoSpaceOnCreate { nth });
    }
    let mut acked = Vec::new();
    let mut full = 0;
    for i in 0..40 {
        match append(&wal, &put(i, 100), i) {
            Ok(seq) => acked.push(record(seq, i, 100)),
            Err(e) => {
                let Error::Io { source, .. } = &e else {
                    panic!("unexpected error {e}")
                };
                assert_eq!(source.raw_os_error(), Some(libc_enospc()), "{e}");
                assert_no_temp_files(&sim);
                full += 1;
            }
        }
    }
    assert_eq!(full, 3, "every full disk fails one write, and only one");
    assert_eq!(acked.len(), 37);
    assert!(wal.stats().segments >= 3, "rotations resumed");
    assert_eq!(replay_all(&wal), acked);
    wal.close().unwrap();
    check_after_crash(&sim, &acked, 0);
}

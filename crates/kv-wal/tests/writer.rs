//! The writer: group commit across concurrent appenders, the interval flusher,
//! truncation, close, limits, and the real file system (preallocation, reopening).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{append, append_nowait, open_sim, put, replay_all};
use kv_wal::{
    Error, Fault, Op, OwnedOp, RecoveryMode, SegmentId, Seq, SimStorage, SyncPolicy, Wal,
    WalOptions,
};

#[test]
fn concurrent_appenders_share_flushes_and_lose_nothing() {
    let sim = SimStorage::new();
    // A disk whose flush takes a while, as real ones do.
    sim.set_sync_latency(Duration::from_micros(300));
    let (wal, _) = open_sim(
        &sim,
        4096,
        SyncPolicy::EveryWrite,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    let wal = Arc::new(wal);
    let before = sim.syncs();
    const THREADS: u64 = 8;
    const EACH: u64 = 60;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|i| {
                        let op = put(t * 1000 + i, 20);
                        (append(&wal, &op, t).unwrap(), op)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acked: Vec<(Seq, OwnedOp)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let syncs = sim.syncs() - before;
    let appends = THREADS * EACH;
    assert!(
        syncs * 2 < appends,
        "group commit: {syncs} syncs for {appends} appends"
    );
    // The log counts its own flushes (the disk also saw the syncs of rotations).
    let flushes = wal.stats().syncs;
    assert!(
        flushes <= syncs && flushes * 2 < appends,
        "{flushes} flushes"
    );
    acked.sort_by_key(|(s, _)| *s);
    let seqs: Vec<u64> = acked.iter().map(|(s, _)| s.0).collect();
    assert_eq!(seqs, (1..=appends).collect::<Vec<_>>());
    // Everything acknowledged is durable: a power loss now loses nothing.
    let after = sim.crash(kv_wal::CrashMode::DropUnsynced);
    let (recovered, _) = open_sim(
        &after,
        4096,
        SyncPolicy::EveryWrite,
        RecoveryMode::AbsoluteConsistency,
    )
    .unwrap();
    let got: Vec<(Seq, OwnedOp)> = replay_all(&recovered)
        .into_iter()
        .map(|r| (r.seq, r.op))
        .collect();
    assert_eq!(got, acked);
}

#[test]
fn writers_that_come_and_go_beside_explicit_syncs_lose_no_acknowledged_record() {
    // Group commit under churn: the number of writers changes from round to round
    // (so leaders gather for writers that never come, and followers complete batches
    // and take flushes over), while another thread calls `sync`.
    let sim = SimStorage::new();
    sim.set_sync_latency(Duration::from_micros(100));
    let (wal, _) = open_sim(
        &sim,
        1 << 16,
        SyncPolicy::EveryWrite,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    let wal = Arc::new(wal);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let syncer = {
        let (wal, stop) = (wal.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                wal.sync().unwrap();
                std::thread::yield_now();
            }
        })
    };
    let mut acked: Vec<(Seq, OwnedOp)> = Vec::new();
    for (round, threads) in [8u64, 3, 6, 1, 5, 2].into_iter().enumerate() {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let wal = wal.clone();
                std::thread::spawn(move || {
                    (0..25 + 10 * t)
                        .map(|i| {
                            let op = put(round as u64 * 100_000 + t * 1000 + i, 16);
                            let seq = append(&wal, &op, t).unwrap();
                            // Durable on return, whoever flushed it.
                            assert!(wal.stats().durable_seq >= seq);
                            (seq, op)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            acked.extend(h.join().unwrap());
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    syncer.join().unwrap();
    acked.sort_by_key(|(s, _)| *s);
    let after = sim.crash(kv_wal::CrashMode::DropUnsynced);
    let (recovered, _) = open_sim(
        &after,
        1 << 16,
        SyncPolicy::EveryWrite,
        RecoveryMode::AbsoluteConsistency,
    )
    .unwrap();
    let got: Vec<(Seq, OwnedOp)> = replay_all(&recovered)
        .into_iter()
        .map(|r| (r.seq, r.op))
        .collect();
    assert_eq!(got, acked);
}

#[test]
fn a_single_appender_flushes_once_per_append_and_never_waits_to_gather() {
    let sim = SimStorage::new();
    let (wal, _) = open_sim(
        &sim,
        4096,
        SyncPolicy::EveryWrite,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    for i in 0..20 {
        append(&wal, &put(i, 20), 0).unwrap();
        // Durable on return: nothing is left for a later flush.
        assert_eq!(sim.unsynced_bytes(), 0);
    }
    let stats = wal.stats();
    assert_eq!(
        stats.syncs, 20,
        "one flush per append, none skipped or doubled"
    );
    assert_eq!(stats.durable_seq, Seq(20));
}

#[test]
fn a_failed_flush_releases_every_waiting_appender_with_the_poison() {
    let sim = SimStorage::new();
    sim.set_sync_latency(Duration::from_millis(2));
    let (wal, _) = open_sim(
        &sim,
        4096,
        SyncPolicy::EveryWrite,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    // Warm up group commit with several writers, so the next leader gathers.
    let wal = Arc::new(wal);
    let run = |from: u64| {
        let handles: Vec<_> = (0..6u64)
            .map(|t| {
                let wal = wal.clone();
                std::thread::spawn(move || {
                    (0..10u64)
                        .map(|i| append(&wal, &put(from + t * 100 + i, 20), t).map(|_| ()))
                        .collect::<Result<Vec<()>, Error>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    };
    assert!(run(0).iter().all(Result::is_ok));
    sim.inject(Fault::SyncFails { nth: 1 });
    // Every writer returns (none is left waiting for a flush that will never come)
    // and sees the poison.
    let outcomes = run(10_000);
    assert!(
        outcomes
            .iter()
            .all(|r| matches!(r, Err(Error::Poisoned { .. }))),
        "{outcomes:?}"
    );
    assert!(wal.stats().poisoned);
}

#[test]
fn the_interval_policy_flushes_in_the_background() {
    let sim = SimStorage::new();
    let (wal, _) = open_sim(
        &sim,
        4096,
        SyncPolicy::Interval(Duration::from_millis(2)),
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    append(&wal, &put(1, 100), 0).unwrap();
    assert!(sim.unsynced_bytes() > 0, "append itself does not sync");
    let deadline = Instant::now() + Duration::from_secs(10);
    // The flusher settles the bytes, then records the durable sequence number: wait
    // for both (reading the second right after the first was a race).
    while sim.unsynced_bytes() > 0 || wal.stats().durable_seq < Seq(1) {
        assert!(Instant::now() < deadline, "the flusher never ran");
        std::thread::yield_now();
    }
    assert_eq!(sim.unsynced_bytes(), 0);
    assert_eq!(wal.stats().durable_seq, Seq(1));
    wal.close().unwrap();
    assert!(matches!(wal.append(&Op::Clear, 0), Err(Error::Closed)));
    assert!(wal.close().is_ok(), "closing twice is fine");
}

#[test]
fn truncation_drops_only_segments_wholly_at_or_below_the_sequence() {
    let sim = SimStorage::new();
    let (wal, _) = open_sim(
        &sim,
        1024,
        SyncPolicy::Never,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    for i in 0..40 {
        append(&wal, &put(i, 100), i).unwrap();
    }
    let all = replay_all(&wal);
    let stats = wal.stats();
    assert!(stats.segments >= 5);
    assert_eq!(stats.first_seq, Some(Seq(1)));
    assert_eq!(stats.last_seq, Some(Seq(40)));
    // Nothing is wholly below seq 1... unless the first segment holds only seq 1.
    assert_eq!(wal.truncate_through(Seq(0)).unwrap(), 0);
    let removed = wal.truncate_through(Seq(20)).unwrap();
    assert!(removed >= 1);
    let kept = replay_all(&wal);
    let first = kept[0].seq;
    assert!(first <= Seq(21), "record 21 must survive: first is {first}");
    assert!(first > Seq(1));
    assert_eq!(kept[..], all[(first.0 - 1) as usize..]);
    assert_eq!(wal.stats().segments, stats.segments - removed);
    assert_eq!(sim.file_names().len(), stats.segments - removed);
    // Truncating through the last record keeps the active segment.
    wal.truncate_through(Seq(40)).unwrap();
    assert_eq!(wal.stats().segments, 1);
    assert!(sim
        .file_names()
        .contains(&SegmentId(wal_active_id(&sim)).file_name()));
    let rest = replay_all(&wal);
    assert!(rest.iter().all(|r| r.seq > Seq(20)));
    wal.close().unwrap();
    drop(wal);
    let (wal, report) = open_sim(
        &sim,
        1024,
        SyncPolicy::Never,
        RecoveryMode::AbsoluteConsistency,
    )
    .unwrap();
    assert_eq!(replay_all(&wal), rest);
    assert_eq!(report.last_seq, Some(Seq(40)));
    assert_eq!(append(&wal, &put(41, 1), 0).unwrap(), Seq(41));
}

fn wal_active_id(sim: &SimStorage) -> u64 {
    let names = sim.file_names();
    SegmentId::parse_file_name(names.last().unwrap()).unwrap().0
}

#[test]
fn records_larger_than_a_segment_are_refused_up_front() {
    let sim = SimStorage::new();
    let (wal, _) = open_sim(
        &sim,
        1024,
        SyncPolicy::Never,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    let big = vec![7u8; 2000];
    let err = wal
        .append(
            &Op::Put {
                key: b"k",
                value: &big,
                expires_at: None,
            },
            0,
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::RecordTooLarge { max: 960, .. }),
        "{err}"
    );
    // The largest record that fits does fit.
    // Frame 8, fixed body 21 (type, seq, timestamp, durable mark), expiry 9, lengths 8,
    // key 1.
    let exact = vec![7u8; 960 - 8 - 21 - 9 - 4 - 4 - 1];
    wal.append(
        &Op::Put {
            key: b"k",
            value: &exact,
            expires_at: None,
        },
        0,
    )
    .unwrap();
    assert_eq!(replay_all(&wal).len(), 1);
    assert!(Wal::open("x", WalOptions::default().segment_size(100)).is_err());
}

#[test]
fn a_log_on_a_real_directory_is_preallocated_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions::default()
        .segment_size(64 * 1024)
        .sync(SyncPolicy::EveryWrite);
    let (wal, report) = Wal::open(dir.path(), options.clone()).unwrap();
    assert!(report.created);
    let first = dir.path().join(SegmentId(1).file_name());
    let meta = std::fs::metadata(&first).unwrap();
    assert_eq!(meta.len(), 64 * 1024);
    {
        use std::os::unix::fs::MetadataExt;
        assert!(meta.blocks() * 512 >= 64 * 1024, "segment is sparse");
    }
    let wal = Arc::new(wal);
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                for i in 0..300 {
                    append(&wal, &put(t * 10_000 + i, 200), t).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let all = replay_all(&wal);
    assert_eq!(all.len(), 1200);
    assert!(wal.stats().segments > 1);
    drop(wal); // no close: EveryWrite made everything durable already
    let (wal, report) = Wal::open(
        dir.path(),
        options.recovery(RecoveryMode::AbsoluteConsistency),
    )
    .unwrap();
    assert_eq!(report.records, 1200);
    assert_eq!(report.discarded_bytes, 0);
    assert_eq!(replay_all(&wal), all);
    let tail: Vec<_> = wal
        .replay_from(Seq(1190))
        .unwrap()
        .map(|r| r.unwrap().seq.0)
        .collect();
    assert_eq!(tail, (1190..=1200).collect::<Vec<_>>());
}

#[test]
fn pages_readied_ahead_and_written_back_behind_the_writer_keep_every_byte() {
    // Segments far larger than the pager's window and step, so that it readies pages
    // ahead of the writer and starts writeback behind it, across rotations.
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions::default()
        .segment_size(8 << 20)
        .sync(SyncPolicy::Never);
    let (wal, _) = Wal::open(dir.path(), options.clone()).unwrap();
    let n = 60_000u64; // about 20 MiB of records: three segments
    for i in 0..n {
        append(&wal, &put(i, 300), i).unwrap();
    }
    let all = replay_all(&wal);
    assert_eq!(all.len() as u64, n);
    assert!(wal.stats().segments >= 3);
    wal.close().unwrap();
    drop(wal);
    let (wal, report) = Wal::open(
        dir.path(),
        options.recovery(RecoveryMode::AbsoluteConsistency),
    )
    .unwrap();
    assert_eq!(report.records, n);
    assert_eq!(report.discarded_bytes, 0);
    assert_eq!(replay_all(&wal), all);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.op, put(i as u64, 300));
    }
}

#[test]
fn a_torn_tail_on_a_real_directory_is_cut_and_zero_filled() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions::default()
        .segment_size(8192)
        .sync(SyncPolicy::Never);
    let (wal, _) = Wal::open(dir.path(), options.clone()).unwrap();
    for i in 0..5 {
        append(&wal, &put(i, 50), i).unwrap();
    }
    wal.close().unwrap();
    let end = wal.stats().bytes as usize;
    drop(wal);
    let path = dir.path().join(SegmentId(1).file_name());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[end..end + 13].copy_from_slice(b"half a record");
    std::fs::write(&path, &bytes).unwrap();
    let (wal, report) = Wal::open(dir.path(), options).unwrap();
    assert_eq!(report.records, 5);
    assert_eq!(report.discarded_bytes, 13);
    assert_eq!(report.discarded_at, Some((SegmentId(1), end as u64)));
    drop(wal);
    let bytes = std::fs::read(&path).unwrap();
    // The tail was zero-filled, then a durable marker (type 7, 32 bytes) was written
    // where it began.
    assert_eq!(bytes[end + 8], 7, "a durable marker at the cut");
    assert!(!bytes.windows(13).any(|w| w == b"half a record"));
    assert!(
        bytes[end + 32..].iter().all(|&b| b == 0),
        "tail zero-filled"
    );
}

#[test]
fn replays_and_truncations_run_safely_beside_appenders() {
    let sim = SimStorage::new();
    let (wal, _) = open_sim(
        &sim,
        1024,
        SyncPolicy::EveryWrite,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    let wal = Arc::new(wal);
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                for i in 0..150 {
                    append(&wal, &put(t * 1000 + i, 50), t).unwrap();
                }
            })
        })
        .collect();
    let reader = {
        let wal = wal.clone();
        std::thread::spawn(move || {
            for round in 0..60u64 {
                let records = replay_all(&wal);
                // Whatever was truncated, what is left is contiguous.
                assert!(records.windows(2).all(|w| w[1].seq == w[0].seq.next()));
                if let Some(r) = records.get(records.len() / 2) {
                    if round % 3 == 0 {
                        wal.truncate_through(r.seq).unwrap();
                    }
                }
                std::thread::yield_now();
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    reader.join().unwrap();
    let last = replay_all(&wal);
    assert_eq!(last.last().unwrap().seq, Seq(600));
    assert_eq!(wal.last_seq(), Seq(600));
    // Reopening after all that finds the same records.
    wal.close().unwrap();
    let (reopened, _) = open_sim(
        &sim,
        1024,
        SyncPolicy::EveryWrite,
        RecoveryMode::AbsoluteConsistency,
    )
    .unwrap();
    assert_eq!(replay_all(&reopened), last);
}

#[test]
fn appends_without_waiting_from_several_threads_are_made_durable_by_one_wait() {
    let sim = SimStorage::new();
    let (wal, _) = open_sim(
        &sim,
        1 << 16,
        SyncPolicy::EveryWrite,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    let wal = Arc::new(wal);
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                (0..25u64)
                    .map(|i| {
                        let op = put(t * 100 + i, 20);
                        (append_nowait(&wal, &op, t).unwrap(), op)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut appended: Vec<(Seq, OwnedOp)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    appended.sort_by_key(|(s, _)| *s);
    assert_eq!(wal.stats().syncs, 0, "no append waited for a flush");
    assert!(sim.unsynced_bytes() > 0);
    assert_eq!(wal.durable_seq(), Seq(0));
    let last = appended.last().unwrap().0;
    assert_eq!(last, Seq(100));
    wal.wait_durable(last).unwrap();
    assert_eq!(wal.stats().syncs, 1, "one flush covered them all");
    assert_eq!(sim.unsynced_bytes(), 0);
    assert_eq!(wal.durable_seq(), last);
    // Already durable: no flush. Not appended yet: an error, not a wait.
    wal.wait_durable(Seq(7)).unwrap();
    assert_eq!(wal.stats().syncs, 1);
    let err = wal.wait_durable(Seq(101)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotAppended {
                seq: Seq(101),
                last: Seq(100)
            }
        ),
        "{err}"
    );
    // A power loss now keeps every record.
    let (recovered, _) = open_sim(
        &sim.crash(kv_wal::CrashMode::DropUnsynced),
        1 << 16,
        SyncPolicy::EveryWrite,
        RecoveryMode::AbsoluteConsistency,
    )
    .unwrap();
    let got: Vec<(Seq, OwnedOp)> = replay_all(&recovered)
        .into_iter()
        .map(|r| (r.seq, r.op))
        .collect();
    assert_eq!(got, appended);
}

#[test]
fn a_failed_flush_returns_the_poison_to_the_waiter() {
    let sim = SimStorage::new();
    let (wal, _) = open_sim(
        &sim,
        1 << 16,
        SyncPolicy::EveryWrite,
        RecoveryMode::TolerateTornTail,
    )
    .unwrap();
    let mut last = Seq(0);
    for i in 0..3 {
        last = append_nowait(&wal, &put(i, 20), i).unwrap();
    }
    sim.inject(Fault::SyncFails { nth: 1 });
    let err = wal.wait_durable(last).unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    assert_eq!(wal.durable_seq(), Seq(0), "nothing became durable");
    // For good: the next wait, append and sync say so too.
    assert!(matches!(
        wal.wait_durable(last),
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(
        wal.append_nowait(&Op::Clear, 0),
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(wal.sync(), Err(Error::Poisoned { .. })));
}

//! Crash consistency and injected failures, through `SimIo` (cargo feature `sim`).

mod common;

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use kv_snapshot::{Error, Fault, SimIo, SimOp, SnapshotEntry, SnapshotOptions, Snapshots};

fn entries(n: u64, value_len: usize) -> Vec<SnapshotEntry> {
    (0..n).map(|i| common::entry(i, value_len, None)).collect()
}

fn sim_snaps(dir: &Path, sim: &SimIo) -> Snapshots {
    Snapshots::open(
        dir,
        SnapshotOptions::default()
            .buffer_size(4096)
            .io(Arc::new(sim.clone())),
    )
    .unwrap()
}

/// Writes `new` as snapshot 3 through a sim that crashes after `steps` steps.
/// Returns whether the crash happened before the writer was done.
fn write_with_crash(dir: &Path, steps: usize, new: &[SnapshotEntry]) -> bool {
    let sim = SimIo::new();
    let snaps = sim_snaps(dir, &sim);
    sim.crash_after(steps);
    let result = (|| {
        let mut w = snaps.begin(3, 0)?;
        for e in new {
            w.push(e)?;
        }
        w.finish()
    })();
    let crashed = sim.is_crashed();
    match &result {
        Ok(done) => assert!(
            !crashed || !done.cleanup_errors.is_empty(),
            "a crash must show in the result"
        ),
        Err(e) => assert!(crashed, "failed without a crash: {e}"),
    }
    sim.power_loss().unwrap();
    crashed
}

#[test]
fn a_crash_after_any_step_leaves_the_old_or_the_new_snapshot_set() {
    let old_a = entries(10, 20);
    let old_b = entries(20, 20);
    let new = entries(200, 100); // several 4 KiB chunks
    let mut steps = 0;
    let mut outcomes = std::collections::BTreeSet::new();
    loop {
        let dir = tempfile::tempdir().unwrap();
        common::write(dir.path(), 1, 0, &old_a);
        common::write(dir.path(), 2, 0, &old_b);
        let crashed = write_with_crash(dir.path(), steps, &new);

        // After the reboot: opening removes leftovers; what is there is consistent.
        let snaps = Snapshots::open(dir.path(), SnapshotOptions::default()).unwrap();
        let names = common::names(dir.path());
        assert!(
            names.iter().all(|n| !n.ends_with(".tmp")),
            "step {steps}: leftover {names:?}"
        );
        let seqs: Vec<u64> = snaps
            .list()
            .unwrap()
            .iter()
            .map(|f| f.sequence.get())
            .collect();
        assert!(
            [vec![2, 1], vec![3, 2, 1], vec![3, 2]].contains(&seqs),
            "step {steps}: snapshot set {seqs:?}"
        );
        // Every snapshot present loads completely, with exactly what was written.
        for file in snaps.list().unwrap() {
            let loaded = snaps
                .load(&file, 0)
                .unwrap_or_else(|e| panic!("step {steps}: {e}"));
            let expected = match file.sequence.get() {
                1 => &old_a,
                2 => &old_b,
                _ => &new,
            };
            assert_eq!(&loaded.entries, expected, "step {steps}");
        }
        let latest = snaps.load_latest(0).unwrap().unwrap();
        assert!(latest.rejected.is_empty());
        outcomes.insert(seqs);
        if !crashed {
            break;
        }
        steps += 1;
    }
    // The sweep reached the end (create, chunk writes, header patch, fsync, rename,
    // directory fsync, retention) and saw all three outcomes.
    assert!(steps > 10, "only {steps} steps");
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
}

#[test]
fn the_steps_are_the_documented_ones_in_order() {
    let dir = tempfile::tempdir().unwrap();
    common::write(dir.path(), 1, 0, &entries(1, 1));
    common::write(dir.path(), 2, 0, &entries(1, 1));
    let sim = SimIo::new();
    let snaps = sim_snaps(dir.path(), &sim);
    let mut w = snaps.begin(3, 0).unwrap();
    w.push(&common::entry(1, 10, None)).unwrap();
    w.finish().unwrap();
    let ops: Vec<SimOp> = sim
        .log()
        .into_iter()
        .map(|(op, _)| op)
        .filter(|op| *op != SimOp::List)
        .collect();
    assert_eq!(
        ops,
        vec![
            SimOp::CreateTemp,
            SimOp::Write,
            SimOp::Sync,
            SimOp::Rename,
            SimOp::SyncDir,
            SimOp::Remove, // snapshot 1: only the newest 2 are kept
            SimOp::SyncDir,
        ]
    );
    assert_eq!(
        common::names(dir.path()),
        vec![
            "snapshot-00000000000000000002.snap",
            "snapshot-00000000000000000003.snap"
        ]
    );
}

/// Runs one write with `fault` injected, and checks the failure is reported, the temp
/// file is gone and the previous snapshot is untouched.
fn failed_write(op: SimOp, nth: usize, fault: Fault) -> Error {
    let dir = tempfile::tempdir().unwrap();
    let old = entries(5, 10);
    let old_path = common::write(dir.path(), 1, 0, &old);
    let old_bytes = std::fs::read(&old_path).unwrap();
    let sim = SimIo::new();
    let snaps = sim_snaps(dir.path(), &sim);
    sim.fail(op, nth, fault);
    let err = (|| {
        let mut w = snaps.begin(2, 0)?;
        for entry in entries(100, 100) {
            if let Err(e) = w.push(&entry) {
                // A failed writer refuses everything after its error.
                assert!(matches!(w.push(&entry), Err(Error::WriterFailed { .. })));
                return Err(e);
            }
        }
        w.finish()
    })()
    .expect_err("the injected fault must surface");
    assert_eq!(
        common::names(dir.path()),
        vec!["snapshot-00000000000000000001.snap"],
        "{op:?}: only the old snapshot remains"
    );
    assert_eq!(std::fs::read(&old_path).unwrap(), old_bytes);
    let loaded = snaps.load_latest(0).unwrap().unwrap();
    assert_eq!(loaded.entries, old);
    // The directory accepts a new writer after the failure.
    let mut w = snaps.begin(2, 0).unwrap();
    w.push(&old[0]).unwrap();
    w.finish().unwrap();
    err
}

#[test]
fn a_failed_fsync_fails_the_snapshot_and_is_not_retried() {
    let err = failed_write(SimOp::Sync, 0, Fault::Eio);
    assert!(matches!(&err, Error::Io { op: "fsync", .. }), "{err}");
    assert!(err.to_string().contains(".snap.tmp"));
}

#[test]
fn a_write_failure_at_any_chunk_fails_the_snapshot() {
    // 100 entries of 100 bytes (16 KB) in 4 KiB chunks: three chunk writes, the last
    // write with the footer, and the header patch. Each one failing fails the whole
    // snapshot, whether it happens in `push` or in `finish`.
    for nth in 0..5 {
        let err = failed_write(SimOp::Write, nth, Fault::Eio);
        assert!(
            matches!(&err, Error::Io { op: "write", .. }),
            "write {nth}: {err}"
        );
    }
}

#[test]
fn a_failed_rename_fails_the_snapshot() {
    let err = failed_write(SimOp::Rename, 0, Fault::Eio);
    assert!(matches!(&err, Error::Io { op: "rename", .. }), "{err}");
}

#[test]
fn a_full_disk_fails_the_snapshot() {
    let err = failed_write(SimOp::Write, 3, Fault::NoSpace);
    match &err {
        Error::Io {
            op: "write",
            source,
            ..
        } => {
            assert_eq!(source.raw_os_error(), Some(libc::ENOSPC))
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_failed_create_fails_the_snapshot() {
    let err = failed_write(SimOp::CreateTemp, 0, Fault::NoSpace);
    assert!(matches!(&err, Error::Io { op: "create", .. }), "{err}");
}

#[test]
fn a_failed_directory_fsync_is_reported_but_the_renamed_file_is_whole() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimIo::new();
    let snaps = sim_snaps(dir.path(), &sim);
    sim.fail(SimOp::SyncDir, 0, Fault::Eio);
    let mut w = snaps.begin(4, 0).unwrap();
    let new = entries(3, 3);
    for e in &new {
        w.push(e).unwrap();
    }
    let err = w.finish().unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Io {
                op: "fsync directory",
                ..
            }
        ),
        "{err}"
    );
    // The rename may or may not survive a crash; if it does, the file is complete.
    assert_eq!(snaps.load_latest(0).unwrap().unwrap().entries, new);
}

#[test]
fn dropping_an_unfinished_writer_removes_its_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = Snapshots::open(dir.path(), SnapshotOptions::default().buffer_size(4096)).unwrap();
    let mut w = snaps.begin(1, 0).unwrap();
    for e in entries(100, 100) {
        w.push(&e).unwrap();
    }
    let temp = w.temp_path().to_path_buf();
    assert!(temp.exists());
    drop(w);
    assert!(!temp.exists());
    assert!(common::names(dir.path()).is_empty());
    assert!(snaps.load_latest(0).unwrap().is_none());
}

#[test]
fn one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = Snapshots::open(dir.path(), SnapshotOptions::default()).unwrap();
    let w = snaps.begin(1, 0).unwrap();
    assert!(matches!(
        snaps.clone().begin(2, 0),
        Err(Error::WriterActive { .. })
    ));
    drop(w);
    snaps.begin(2, 0).unwrap().finish().unwrap();
}

#[test]
fn retention_keeps_the_newest_n_and_open_clears_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("snapshot-00000000000000000009.snap.tmp"),
        b"half",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"not ours").unwrap();
    let snaps = Snapshots::open(dir.path(), SnapshotOptions::default().keep(3)).unwrap();
    assert_eq!(common::names(dir.path()), vec!["notes.txt"]);
    for seq in [5u64, 1, 7, 3, 9] {
        let mut w = snaps.begin(seq, 0).unwrap();
        w.push(&common::entry(seq, 4, None)).unwrap();
        w.finish().unwrap();
    }
    let seqs: Vec<u64> = snaps
        .list()
        .unwrap()
        .iter()
        .map(|f| f.sequence.get())
        .collect();
    assert_eq!(seqs, vec![9, 7, 5]);
    assert_eq!(common::names(dir.path()).len(), 4);
    assert!(matches!(
        Snapshots::open(dir.path(), SnapshotOptions::default().keep(0)),
        Err(Error::InvalidOptions { .. })
    ));
}

fn op_strategy() -> impl Strategy<Value = SimOp> {
    prop_oneof![
        Just(SimOp::CreateTemp),
        Just(SimOp::Write),
        Just(SimOp::Sync),
        Just(SimOp::Rename),
        Just(SimOp::SyncDir),
        Just(SimOp::Remove),
        Just(SimOp::List),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any one fault, anywhere: the write either succeeds or reports it, and after a
    /// reopen every snapshot present loads, the newest is the old or the new one, and
    /// no temporary file is left.
    #[test]
    fn any_single_fault_leaves_a_consistent_directory(
        op in op_strategy(),
        nth in 0usize..6,
        no_space in any::<bool>(),
        n in 0u64..150,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let old = entries(7, 30);
        common::write(dir.path(), 1, 0, &old);
        common::write(dir.path(), 2, 0, &old);
        let new = entries(n, 90);
        let sim = SimIo::new();
        let snaps = sim_snaps(dir.path(), &sim);
        sim.fail(op, nth, if no_space { Fault::NoSpace } else { Fault::Eio });
        let result = (|| {
            let mut w = snaps.begin(3, 0)?;
            for e in &new {
                w.push(e)?;
            }
            w.finish()
        })();
        let reopened = Snapshots::open(dir.path(), SnapshotOptions::default()).unwrap();
        let names = common::names(dir.path());
        prop_assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{:?}", names);
        let latest = reopened.load_latest(0).unwrap().unwrap();
        prop_assert!(latest.rejected.is_empty());
        match &result {
            Ok(done) => {
                prop_assert_eq!(latest.header.sequence.get(), 3);
                prop_assert_eq!(&latest.entries, &new);
                // Retention ran unless the fault hit it.
                if done.cleanup_errors.is_empty() {
                    prop_assert_eq!(reopened.list().unwrap().len(), 2);
                }
            }
            Err(_) => {
                // Only a failed directory fsync comes after the rename.
                let expected = if latest.header.sequence.get() == 3 { &new } else { &old };
                prop_assert_eq!(&latest.entries, expected);
                prop_assert!(latest.header.sequence.get() == 2 || op == SimOp::SyncDir);
            }
        }
        for file in reopened.list().unwrap() {
            prop_assert!(reopened.load(&file, 0).is_ok());
        }
    }
}

#[cfg(unix)]
#[test]
fn snapshot_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = common::write(dir.path(), 1, 0, &entries(2, 2));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
}

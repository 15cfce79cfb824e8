//! Reading a directory that a live store keeps writing: a reader reads through the
//! handle it opened, whatever retention removes meanwhile, and a snapshot removed
//! between listing and opening is an error of its own kind, so the caller moves on.

mod common;

use std::io;
use std::path::Path;
use std::sync::Arc;

use kv_snapshot::{
    list_dir, RealIo, SnapshotIo, SnapshotOptions, SnapshotReader, Snapshots, TempFile,
};

/// A store's snapshot directory: a small buffer (so a reader refills from the file many
/// times) and retention of the newest snapshot only.
fn live(dir: &Path) -> Snapshots {
    Snapshots::open(dir, SnapshotOptions::default().buffer_size(4096).keep(1)).unwrap()
}

fn write(snaps: &Snapshots, seq: u64, n: u64) {
    let mut w = snaps.begin(seq, 0).unwrap();
    for i in 0..n {
        w.push(&common::entry(i, 100, None)).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn a_reader_keeps_reading_a_snapshot_that_retention_removed() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = live(dir.path());
    write(&snaps, 1, 2_000);
    let listed = list_dir(dir.path()).unwrap().snapshots;
    let mut reader = snaps.reader(&listed[0], 0).unwrap();
    let first = reader.next_ref().unwrap().unwrap().to_entry();
    assert_eq!(first, common::entry(0, 100, None));

    // The store writes two newer snapshots; retention removes the one being read.
    write(&snaps, 2, 10);
    write(&snaps, 3, 10);
    assert!(!listed[0].path.exists(), "retention kept the old snapshot");

    let mut n = 1;
    while let Some(e) = reader.next_ref() {
        assert_eq!(e.unwrap().to_entry(), common::entry(n, 100, None));
        n += 1;
    }
    assert_eq!(n, 2_000);
    assert!(reader.is_verified());
}

#[test]
fn opening_a_snapshot_removed_after_listing_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = live(dir.path());
    write(&snaps, 1, 5);
    let listed = list_dir(dir.path()).unwrap().snapshots;
    write(&snaps, 2, 5);

    let err = SnapshotReader::open(&listed[0].path, 0).unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(!err.is_unreadable_snapshot(), "{err:?}");
    assert_eq!(err.path(), Some(listed[0].path.as_path()));
    let msg = err.to_string();
    assert!(
        msg.contains("snapshot-00000000000000000001.snap") && msg.contains("open"),
        "{msg}"
    );
    // Damage is not "not found".
    let damaged = dir.path().join("snapshot-00000000000000000009.snap");
    std::fs::write(&damaged, b"not a snapshot").unwrap();
    let err = SnapshotReader::open(&damaged, 0).unwrap_err();
    assert!(
        !err.is_not_found() && err.is_unreadable_snapshot(),
        "{err:?}"
    );
}

/// The real file system, whose listing also names a snapshot that is gone: what a
/// reader sees when retention removes a file between its listing and its open.
#[derive(Debug)]
struct ListsAGhost;

const GHOST: &str = "snapshot-00000000000000000099.snap";

impl SnapshotIo for ListsAGhost {
    fn create_temp(&self, path: &Path) -> io::Result<Box<dyn TempFile>> {
        RealIo.create_temp(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        RealIo.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        RealIo.sync_dir(dir)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        RealIo.remove(path)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = RealIo.list(dir)?;
        names.push(GHOST.to_owned());
        Ok(names)
    }
}

#[test]
fn load_latest_passes_over_a_snapshot_removed_after_listing() {
    let dir = tempfile::tempdir().unwrap();
    write(&live(dir.path()), 4, 3);
    let snaps = Snapshots::open(
        dir.path(),
        SnapshotOptions::default().io(Arc::new(ListsAGhost)),
    )
    .unwrap();
    assert_eq!(snaps.list().unwrap()[0].path, dir.path().join(GHOST));
    let loaded = snaps
        .load_latest(0)
        .unwrap()
        .expect("the snapshot that is there");
    assert_eq!(loaded.header.sequence.get(), 4);
    assert_eq!(loaded.entries.len(), 3);
    assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
}

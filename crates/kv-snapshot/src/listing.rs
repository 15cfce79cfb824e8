//! `list_dir`: the snapshot files of a directory, found without changing anything.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::names;
use crate::snapshots::SnapshotFile;

/// What a snapshot directory holds, as [`list_dir`] found it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotListing {
    /// The validly named snapshots, newest (highest sequence) first.
    pub snapshots: Vec<SnapshotFile>,
    /// Leftover temporary files of interrupted writes (`snapshot-*.snap.tmp`), sorted.
    /// Never part of a snapshot; [`Snapshots::open`](crate::Snapshots::open) removes
    /// them.
    pub temp_files: Vec<PathBuf>,
}

/// Lists the snapshot files in `dir` without creating, removing or opening anything
/// for writing, unlike [`Snapshots::open`](crate::Snapshots::open), which removes
/// leftover temporary files. For tools that must not modify a directory; read each
/// file with [`SnapshotReader`](crate::SnapshotReader), which is read-only too.
///
/// ```
/// # fn main() -> Result<(), kv_snapshot::Error> {
/// # let tmp = tempfile::tempdir().unwrap();
/// let snaps = kv_snapshot::Snapshots::open(tmp.path(), Default::default())?;
/// snaps.begin(9, 0)?.finish()?;
/// let listing = kv_snapshot::list_dir(tmp.path())?;
/// assert_eq!(listing.snapshots[0].sequence.get(), 9);
/// let summary = kv_snapshot::SnapshotReader::open(&listing.snapshots[0].path, 0)?.verify()?;
/// assert_eq!(summary.entries, 0);
/// # Ok(()) }
/// ```
pub fn list_dir(dir: impl AsRef<Path>) -> Result<SnapshotListing, Error> {
    let dir = dir.as_ref();
    let mut listing = SnapshotListing::default();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if let Some(sequence) = names::parse_snapshot_name(&name) {
            listing.snapshots.push(SnapshotFile {
                sequence,
                path: dir.join(&name),
            });
        } else if names::is_temp_name(&name) {
            listing.temp_files.push(dir.join(&name));
        }
    }
    listing
        .snapshots
        .sort_unstable_by_key(|f| std::cmp::Reverse(f.sequence));
    listing.temp_files.sort();
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EntryRef, SnapshotOptions, Snapshots};

    #[test]
    fn lists_newest_first_ignores_strangers_and_leaves_temps_in_place() {
        let tmp = tempfile::tempdir().unwrap();
        let snaps = Snapshots::open(tmp.path(), SnapshotOptions::default().keep(5)).unwrap();
        for seq in [3, 12, 7] {
            let mut w = snaps.begin(seq, 0).unwrap();
            w.push(EntryRef {
                key: b"k",
                value: b"v",
                ..EntryRef::default()
            })
            .unwrap();
            w.finish().unwrap();
        }
        let temp = tmp.path().join("snapshot-00000000000000000020.snap.tmp");
        std::fs::write(&temp, b"half").unwrap();
        std::fs::write(tmp.path().join("notes.txt"), b"x").unwrap();
        std::fs::write(tmp.path().join("snapshot-5.snap"), b"x").unwrap();

        let listing = list_dir(tmp.path()).unwrap();
        let seqs: Vec<u64> = listing.snapshots.iter().map(|f| f.sequence.get()).collect();
        assert_eq!(seqs, [12, 7, 3]);
        assert_eq!(listing.snapshots[0].path, snaps.path_for(12.into()));
        assert_eq!(listing.temp_files, vec![temp.clone()]);
        assert!(temp.exists(), "listing removed a temporary file");
    }

    #[test]
    fn a_missing_directory_is_an_error_and_is_not_created() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("gone");
        let err = list_dir(&missing).unwrap_err();
        assert_eq!(err.path(), Some(missing.as_path()));
        assert!(!missing.exists());
    }
}

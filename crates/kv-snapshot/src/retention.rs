//! Retention: which snapshot files a directory holds, and removal of the old ones and of
//! leftover temporary files.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::io::SnapshotIo;
use crate::names;
use crate::sequence::SequenceNumber;

/// The validly named snapshots in `dir`, newest (highest sequence) first.
pub(crate) fn list(
    io: &dyn SnapshotIo,
    dir: &Path,
) -> Result<Vec<(SequenceNumber, String)>, Error> {
    let names = io.list(dir).map_err(|e| Error::io("list", dir, e))?;
    let mut found: Vec<_> = names
        .into_iter()
        .filter_map(|n| names::parse_snapshot_name(&n).map(|seq| (seq, n)))
        .collect();
    found.sort_unstable_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    Ok(found)
}

/// Removes every leftover temporary file in `dir`; returns what it removed and what it
/// could not.
pub(crate) fn remove_temps(io: &dyn SnapshotIo, dir: &Path) -> (Vec<PathBuf>, Vec<Error>) {
    let mut removed = Vec::new();
    let mut errors = Vec::new();
    match io.list(dir) {
        Ok(names) => {
            for name in names.iter().filter(|n| names::is_temp_name(n)) {
                let path = dir.join(name);
                match io.remove(&path) {
                    Ok(()) => removed.push(path),
                    Err(e) => errors.push(Error::io("remove", &path, e)),
                }
            }
        }
        Err(e) => errors.push(Error::io("list", dir, e)),
    }
    (removed, errors)
}

/// Keeps the newest `keep` snapshots in `dir` and removes the rest and every leftover
/// temporary file, then fsyncs the directory if anything went.
pub(crate) fn apply(io: &dyn SnapshotIo, dir: &Path, keep: usize) -> (Vec<PathBuf>, Vec<Error>) {
    let (mut removed, mut errors) = remove_temps(io, dir);
    match list(io, dir) {
        Ok(found) => {
            for (_, name) in found.iter().skip(keep) {
                let path = dir.join(name);
                match io.remove(&path) {
                    Ok(()) => removed.push(path),
                    Err(e) => errors.push(Error::io("remove", &path, e)),
                }
            }
        }
        Err(e) => errors.push(e),
    }
    if !removed.is_empty() {
        if let Err(e) = io.sync_dir(dir) {
            errors.push(Error::io("fsync directory", dir, e));
        }
    }
    (removed, errors)
}

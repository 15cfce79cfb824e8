//! `Snapshots`: the manager of one snapshot directory — list, write, load, fall back.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::decoder::ReadSummary;
use crate::entry::SnapshotEntry;
use crate::error::Error;
use crate::format::SnapshotHeader;
use crate::names;
use crate::options::SnapshotOptions;
use crate::reader::SnapshotReader;
use crate::retention;
use crate::sequence::SequenceNumber;
use crate::writer::{SnapshotWriter, WriterSetup};

/// A validly named snapshot file in the directory (its contents not yet checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    /// The sequence number in its name.
    pub sequence: SequenceNumber,
    /// Its full path.
    pub path: PathBuf,
}

/// A snapshot read completely and verified.
#[derive(Debug)]
#[non_exhaustive]
pub struct LoadedSnapshot {
    /// The file it came from.
    pub file: SnapshotFile,
    /// Its header.
    pub header: SnapshotHeader,
    /// Its entries not expired at the load's `now`, in file order.
    pub entries: Vec<SnapshotEntry>,
    /// Entries skipped because they had expired.
    pub expired_skipped: u64,
    /// Newer snapshots that were tried first and could not be used, newest first, each
    /// error naming its file and what failed. Empty when the newest one loaded.
    pub rejected: Vec<Error>,
}

/// The snapshots of one directory.
///
/// Cheap to clone; clones share the directory and allow one open writer between them.
/// One process should manage a directory at a time (the store's lock file sees to it).
///
/// ```
/// use kv_snapshot::{EntryRef, SnapshotOptions, Snapshots};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let snaps = Snapshots::open(dir.path(), SnapshotOptions::default())?;
/// let mut w = snaps.begin(7, 1_000)?;
/// w.push(EntryRef { key: b"k", value: b"v", ..EntryRef::default() })?;
/// w.finish()?;
/// let loaded = snaps.load_latest(1_000)?.expect("one snapshot");
/// assert_eq!(loaded.header.sequence.get(), 7);
/// assert_eq!(loaded.entries[0].value, b"v");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Snapshots {
    dir: PathBuf,
    options: SnapshotOptions,
    writer_active: Arc<AtomicBool>,
}

impl Snapshots {
    /// Opens the snapshot directory `dir` (creating it unless
    /// [`create_dir(false)`](SnapshotOptions::create_dir)) and removes temporary files
    /// left by an interrupted write.
    pub fn open(dir: impl Into<PathBuf>, options: SnapshotOptions) -> Result<Self, Error> {
        options.validate()?;
        let dir = dir.into();
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                let e = io::Error::new(io::ErrorKind::NotADirectory, "it is not a directory");
                return Err(Error::io("open directory", &dir, e));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && options.create_dir => {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::io("create directory", &dir, e))?;
            }
            Err(e) => return Err(Error::io("open directory", &dir, e)),
        }
        let snaps = Snapshots {
            dir,
            options,
            writer_active: Arc::new(AtomicBool::new(false)),
        };
        let (removed, _errors) = retention::remove_temps(snaps.options.io.as_ref(), &snaps.dir);
        // A leftover that cannot be removed is harmless: readers ignore temp files and
        // the next write tries again.
        if !removed.is_empty() {
            let _ = snaps.options.io.sync_dir(&snaps.dir);
        }
        Ok(snaps)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The validly named snapshots, newest first. Other files are ignored.
    pub fn list(&self) -> Result<Vec<SnapshotFile>, Error> {
        Ok(retention::list(self.options.io.as_ref(), &self.dir)?
            .into_iter()
            .map(|(sequence, name)| SnapshotFile {
                sequence,
                path: self.dir.join(name),
            })
            .collect())
    }

    /// Starts a snapshot covering `sequence`, taken at `now_ms` (ms since the epoch):
    /// entries expired at `now_ms` are not written. Fails with [`Error::WriterActive`]
    /// while another writer of this `Snapshots` (or a clone) is open.
    ///
    /// Retention keeps the snapshots with the highest sequence numbers, so a snapshot
    /// covering less than the newest N already there is removed as soon as it is made.
    pub fn begin(
        &self,
        sequence: impl Into<SequenceNumber>,
        now_ms: u64,
    ) -> Result<SnapshotWriter, Error> {
        if self
            .writer_active
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(Error::WriterActive {
                dir: self.dir.clone(),
            });
        }
        SnapshotWriter::create(
            WriterSetup {
                io: Arc::clone(&self.options.io),
                dir: self.dir.clone(),
                keep: self.options.keep,
                chunk: self.options.buffer_size,
                active: Arc::clone(&self.writer_active),
            },
            sequence.into(),
            now_ms,
        )
    }

    /// A streaming reader over `file` (see [`SnapshotReader`] for when it is verified).
    pub fn reader(&self, file: &SnapshotFile, now_ms: u64) -> Result<SnapshotReader, Error> {
        SnapshotReader::open_with_buffer(&file.path, now_ms, self.options.buffer_size)
    }

    /// Reads `file` completely; entries are returned only if everything verified.
    pub fn load(&self, file: &SnapshotFile, now_ms: u64) -> Result<LoadedSnapshot, Error> {
        let mut reader = self.reader(file, now_ms)?;
        // Room for the count the header promises: opening refused a count of more
        // records than the file can hold, so the list is bounded by the file's size.
        let capacity = usize::try_from(reader.header().entry_count).unwrap_or(0);
        let mut entries = Vec::with_capacity(capacity);
        for entry in reader.by_ref() {
            entries.push(entry?);
        }
        let ReadSummary {
            header,
            expired_skipped,
            ..
        } = reader.verify()?;
        Ok(LoadedSnapshot {
            file: file.clone(),
            header,
            entries,
            expired_skipped,
            rejected: Vec::new(),
        })
    }

    /// Loads the newest snapshot that verifies, trying older ones when a newer one is
    /// damaged or unreadable (each such failure is kept in
    /// [`LoadedSnapshot::rejected`]). A snapshot removed between listing and opening
    /// it ([`Error::is_not_found`]) is passed over. `Ok(None)` when there is no usable
    /// snapshot and nothing was rejected; an error when snapshots exist but none loads
    /// (the error of the newest), or on an I/O failure that is not about a file's
    /// contents.
    pub fn load_latest(&self, now_ms: u64) -> Result<Option<LoadedSnapshot>, Error> {
        let mut rejected = Vec::new();
        for file in self.list()? {
            match self.load(&file, now_ms) {
                Ok(mut loaded) => {
                    loaded.rejected = rejected;
                    return Ok(Some(loaded));
                }
                Err(e) if e.is_not_found() => continue,
                Err(e) if e.is_unreadable_snapshot() => rejected.push(e),
                Err(e) => return Err(e),
            }
        }
        match rejected.into_iter().next() {
            Some(newest) => Err(newest),
            None => Ok(None),
        }
    }

    /// The highest sequence number of a validly named snapshot, if any.
    pub fn latest_sequence(&self) -> Result<Option<SequenceNumber>, Error> {
        Ok(self.list()?.first().map(|f| f.sequence))
    }

    /// The path the snapshot covering `sequence` has (or would have).
    pub fn path_for(&self, sequence: SequenceNumber) -> PathBuf {
        self.dir.join(names::snapshot_name(sequence))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_path_that_is_a_file_says_so() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("snapshots");
        std::fs::write(&file, b"x").unwrap();
        let err = Snapshots::open(&file, SnapshotOptions::default()).unwrap_err();
        assert_eq!(err.path(), Some(file.as_path()));
        assert!(!err.is_not_found());
        let msg = err.to_string();
        assert!(
            msg.contains("snapshots") && msg.contains("not a directory"),
            "{msg}"
        );
    }

    #[test]
    fn a_missing_directory_is_created_or_not_found() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let no_create = SnapshotOptions::default().create_dir(false);
        assert!(Snapshots::open(&dir, no_create).unwrap_err().is_not_found());
        Snapshots::open(&dir, SnapshotOptions::default()).unwrap();
        assert!(dir.is_dir());
    }
}

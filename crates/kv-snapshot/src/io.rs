//! The I/O seam: every file-system step of writing and retiring snapshots goes through
//! [`SnapshotIo`], so tests can inject failures and crashes. [`RealIo`] is the default.
//!
//! Reading a snapshot does not go through the seam: it only opens and reads one file.
// The seam is public only with feature `sim` (a test seam, out of the default API).
#![cfg_attr(not(feature = "sim"), allow(unreachable_pub))]

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

/// A temporary snapshot file being written.
pub trait TempFile: Send {
    /// Appends `buf` at the end of the file.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Overwrites bytes at `offset` (used once, to patch the header's entry count).
    fn write_all_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()>;
    /// Flushes the file's data and metadata to stable storage (fsync).
    fn sync_all(&mut self) -> io::Result<()>;
}

/// The file-system operations of the snapshot writer and of retention.
///
/// A real implementation is [`RealIo`]; with cargo feature `sim`, `SimIo` injects
/// failures and simulates crashes.
pub trait SnapshotIo: Send + Sync + fmt::Debug {
    /// Creates `path` for writing, truncating a file already there.
    fn create_temp(&self, path: &Path) -> io::Result<Box<dyn TempFile>>;
    /// Renames `from` to `to`, replacing `to` atomically if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// The names of the entries in `dir` (names that are not UTF-8 are left out).
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
}

/// The real file system, through `std::fs`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealIo;

#[derive(Debug)]
struct RealTempFile(File);

impl TempFile for RealTempFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }

    fn write_all_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let end = self.0.stream_position()?;
        self.0.seek(SeekFrom::Start(offset))?;
        self.0.write_all(buf)?;
        self.0.seek(SeekFrom::Start(end))?;
        Ok(())
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
}

impl SnapshotIo for RealIo {
    fn create_temp(&self, path: &Path) -> io::Result<Box<dyn TempFile>> {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        // Snapshots hold the users' data: owner-only (the rename keeps the mode).
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(path)?;
        Ok(Box::new(RealTempFile(file)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        sync_dir(dir)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }
}

/// fsync of a directory: where the platform has it (Unix), it makes renames durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

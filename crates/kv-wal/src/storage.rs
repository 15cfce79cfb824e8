//! The I/O seam: every file operation the log performs goes through [`Storage`] and
//! [`SegmentFile`], so tests can inject faults and simulate crashes.
//!
//! The real implementation is [`FsStorage`](crate::FsStorage) (memory-mapped writes,
//! `msync`, `fallocate`, `pread`); with feature `sim` the seam is public and
//! [`SimStorage`](crate::SimStorage) is an in-memory disk.
#![cfg_attr(not(feature = "sim"), allow(unreachable_pub))]

use std::fmt;
use std::io;
use std::sync::Arc;

/// The directory a log lives in.
pub trait Storage: Send + Sync + fmt::Debug {
    /// The names of the files in the directory (any order).
    fn list(&self) -> io::Result<Vec<String>>;
    /// Creates the file `name`, which must not exist, with `len` bytes really allocated
    /// (not sparse) and reading as zeros, open for writing and growable (with
    /// [`SegmentFile::grow`]) up to `capacity` bytes. A full disk is an error here,
    /// never later.
    fn create(&self, name: &str, len: u64, capacity: u64) -> io::Result<Arc<dyn SegmentFile>>;
    /// Opens the existing file `name`: read-only with `None`; with `Some(capacity)`,
    /// for writing too, growable up to `capacity` bytes (or its size, if larger).
    fn open(&self, name: &str, writable: Option<u64>) -> io::Result<Arc<dyn SegmentFile>>;
    /// Renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// Removes the file `name`.
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Makes creations, renames and removals in the directory durable.
    fn sync_dir(&self) -> io::Result<()>;
    /// How to name `file` in messages (its path, for a real directory).
    fn describe(&self, file: &str) -> String;
}

/// One open segment file. Only [`grow`](SegmentFile::grow) changes its size, and
/// nothing ever shrinks it while it is open.
pub trait SegmentFile: Send + Sync + fmt::Debug {
    /// The file's size in bytes: for a file opened read-only, its size when opened.
    fn size(&self) -> u64;
    /// Grows the file to `len` bytes (nothing happens if it is that large already), at
    /// most the capacity it was created or opened with: the new bytes are really
    /// allocated and read as zeros, so a full disk fails here, never when they are
    /// written. The new size is durable once a later [`sync`](SegmentFile::sync) of
    /// any range returns. One caller at a time (the writer).
    fn grow(&self, len: u64) -> io::Result<()>;
    /// Fills `buf` with the bytes at `offset` (an error if they run past the end).
    /// Reads see every completed [`write_at`](SegmentFile::write_at), synced or not.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// An offset from which every byte of the file reads as zero (a never-written,
    /// preallocated part the file system reports as a hole), or the file's size. A
    /// hint for reading: it may err towards the size, never below a non-zero byte.
    /// The default is the size.
    fn zeros_from(&self) -> u64 {
        self.size()
    }
    /// Writes `data` at `offset`, within the file's size; not durable until synced.
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Makes the bytes in `offset..offset + len` durable.
    fn sync(&self, offset: u64, len: u64) -> io::Result<()>;
}

/// An error for a write or read that does not fit in the file.
pub(crate) fn out_of_bounds(offset: u64, len: usize, size: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("range {offset}+{len} is outside a file of {size} bytes"),
    )
}

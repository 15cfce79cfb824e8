//! The memory map a segment is written through, and preallocation: the only
//! `unsafe` code in kv-wal.
//!
//! The contract that makes writing through a shared map sound:
//! - the file is never truncated while mapped: kv-wal never shrinks a segment, and the
//!   data directory is locked by its user (kv-store holds a lock file) so no other
//!   process of ours touches it; outside tampering is excluded by that lock's contract;
//! - the map covers the segment's capacity (the most it may grow to) from the start,
//!   so it never moves, but the file is smaller until it grows: no byte at or past the
//!   file's size is ever touched (that would be a SIGBUS). Every access (a write, an
//!   `msync`) is bounded by `len`, the file's size, which rises only after
//!   `posix_fallocate` has extended the file and allocated every block below the new
//!   size;
//! - every block below `len` is allocated, so writing a page can never meet a full
//!   disk (which would be a SIGBUS too): a full disk fails the `posix_fallocate`;
//! - no Rust reference into the mapped memory is ever created: writes copy through a
//!   raw pointer while holding `write_lock`, reads use `pread` on the file.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;

use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::{MmapOptions, MmapRaw};
use parking_lot::Mutex;

use crate::storage::out_of_bounds;

/// Allocates real blocks for `0..len` of `file` (growing it to `len`), so a full disk
/// fails here rather than as a SIGBUS when a page of the map is first written.
pub(crate) fn preallocate(file: &File, len: u64) -> io::Result<()> {
    let len = libc::off_t::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "segment too large"))?;
    if len == 0 {
        return Ok(());
    }
    // SAFETY: `posix_fallocate` only reads its integer arguments; the descriptor is
    // open for writing and owned by `file`, which outlives the call.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// A segment file mapped shared and writable, growable up to the mapped capacity.
#[derive(Debug)]
pub(crate) struct MappedFile {
    /// `capacity` bytes of the file, most of them past its end until it grows.
    map: MmapRaw,
    /// The file's size: every block below is allocated, and nothing at or past it is
    /// ever touched through the map.
    len: AtomicU64,
    /// Serializes writes, so two writers can never race on the same bytes.
    write_lock: Mutex<()>,
}

impl MappedFile {
    /// Maps `capacity` bytes of `file` (at least its size, which must not be 0); the
    /// caller allocated the blocks below its size.
    pub(crate) fn new(file: &File, capacity: u64) -> io::Result<MappedFile> {
        let len = file.metadata()?.len();
        let capacity = capacity.max(len);
        let Ok(mapped) = usize::try_from(capacity) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot map an oversized segment",
            ));
        };
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot map an empty segment",
            ));
        }
        let map = MmapOptions::new().len(mapped).map_raw(file)?;
        Ok(MappedFile {
            map,
            len: AtomicU64::new(len),
            write_lock: Mutex::new(()),
        })
    }

    /// Grows `file` (the mapped one) to `len` bytes, at most the mapped capacity,
    /// allocating every block below it before the map may touch them.
    pub(crate) fn grow(&self, file: &File, len: u64) -> io::Result<()> {
        if len <= self.len() {
            return Ok(());
        }
        if len > self.map.len() as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot grow a segment past its capacity of {} bytes",
                    self.map.len()
                ),
            ));
        }
        preallocate(file, len)?;
        self.len.store(len, Ordering::Release);
        Ok(())
    }

    /// Copies `data` into the map at `offset`.
    pub(crate) fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let len = self.len();
        let end = offset.checked_add(data.len() as u64);
        if end.is_none_or(|end| end > len) {
            return Err(out_of_bounds(offset, data.len(), len));
        }
        let _guard = self.write_lock.lock();
        // SAFETY: `offset + data.len() <= len`, the file's size, at most the mapped
        // capacity, so the destination lies inside the live mapping owned by `self.map`
        // and inside the file. The bytes stay backed: the file is never truncated while
        // mapped (kv-wal never shrinks a segment; the data directory is locked by
        // kv-store against other writers), and every block below `len` was allocated by
        // fallocate before `len` rose to cover it (`grow`, or before mapping), so the
        // store can neither run past the end of the file nor meet a full disk: no
        // SIGBUS. No Rust reference into the map exists (reads use pread) and
        // `write_lock` is held, so nothing else touches these bytes concurrently. The
        // source is a distinct Rust slice, so the regions do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.map.as_mut_ptr().add(offset as usize),
                data.len(),
            );
        }
        Ok(())
    }

    /// Flushes `offset..offset + len` of the map to disk (msync, synchronous).
    pub(crate) fn flush(&self, offset: u64, len: u64) -> io::Result<()> {
        let end = offset.saturating_add(len).min(self.len());
        let offset = offset.min(end);
        self.map
            .flush_range(offset as usize, (end - offset) as usize)
    }

    /// The file's size: how far the map may be used.
    pub(crate) fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }
}

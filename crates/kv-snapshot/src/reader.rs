//! `SnapshotReader`: a verified, streaming read of one snapshot file.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use crate::decoder::{Decoder, ReadSummary};
use crate::entry::{EntryRef, SnapshotEntry};
use crate::error::Error;
use crate::format::SnapshotHeader;
use crate::options::DEFAULT_BUFFER_SIZE;

/// Reads one snapshot file entry by entry through a buffer (1 MiB by default, never more
/// than the file), verifying as it goes.
///
/// Opening checks the header (magic, version, codec, checksum, that the entry count
/// fits the file). Each record's length is bounded by what remains of the file before
/// anything is allocated, and its checksum is verified before it is decoded. Entries
/// expired at the reader's `now` are skipped. After the last entry the footer (entry
/// count, checksum over all records) is verified: **only when the iterator has returned
/// `None` without an error is the whole file known good.** A caller that must not act
/// on a partly valid snapshot either applies entries somewhere it can discard, or uses
/// [`Snapshots::load`](crate::Snapshots::load), which returns entries only after that.
///
/// The file is read on the caller's thread, through the one handle opened.
///
/// As an [`Iterator`] it yields owned entries; [`next_ref`](Self::next_ref) lends them
/// without allocating. An error is yielded once, then the reader ends.
#[derive(Debug)]
pub struct SnapshotReader {
    inner: Decoder<File>,
}

impl SnapshotReader {
    /// Opens `path` and verifies its header; entries with `expires_at <= now_ms` will be
    /// skipped.
    pub fn open(path: impl AsRef<Path>, now_ms: u64) -> Result<Self, Error> {
        Self::open_with_buffer(path.as_ref(), now_ms, DEFAULT_BUFFER_SIZE)
    }

    pub(crate) fn open_with_buffer(path: &Path, now_ms: u64, buffer: usize) -> Result<Self, Error> {
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        // Read from start to end: the kernel reads further ahead of a file said to be
        // read so (in the background, while entries are decoded). Only a hint: a
        // failure costs that read-ahead, nothing else.
        #[cfg(target_os = "linux")]
        let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::Sequential);
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        let capacity = buffer.clamp(1, usize::try_from(len).unwrap_or(usize::MAX).max(1));
        let src = BufReader::with_capacity(capacity, file);
        Ok(SnapshotReader {
            inner: Decoder::open(src, len, path, now_ms)?,
        })
    }

    /// The verified header.
    pub fn header(&self) -> &SnapshotHeader {
        self.inner.header()
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        self.inner.path()
    }

    /// The file's size in bytes when it was opened.
    pub fn file_len(&self) -> u64 {
        self.inner.file_len()
    }

    /// The next unexpired entry, borrowed from the reader's buffer until the next call.
    /// `None` once the footer verified (or after an error was returned).
    pub fn next_ref(&mut self) -> Option<Result<EntryRef<'_>, Error>> {
        self.inner.next_ref()
    }

    /// Whether the whole file has been read and verified.
    pub fn is_verified(&self) -> bool {
        self.inner.is_verified()
    }

    /// Entries skipped so far because they had expired.
    pub fn expired_skipped(&self) -> u64 {
        self.inner.expired_skipped()
    }

    /// Reads the rest of the file, verifying it, and returns the counts.
    pub fn verify(mut self) -> Result<ReadSummary, Error> {
        self.inner.verify()
    }

    /// Counts of what was read so far.
    pub fn summary(&self) -> ReadSummary {
        self.inner.summary()
    }
}

impl Iterator for SnapshotReader {
    type Item = Result<SnapshotEntry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next_ref().map(|r| r.map(|e| e.to_entry()))
    }
}

impl std::iter::FusedIterator for SnapshotReader {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_can_move_and_be_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<SnapshotReader>();
    }
}

//! `SnapshotReader`: a verified, streaming read of one snapshot file.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::decoder::{window_for, Decoder, ReadSummary};
use crate::entry::{EntryRef, SnapshotEntry};
use crate::error::Error;
use crate::format::SnapshotHeader;
use crate::options::DEFAULT_BUFFER_SIZE;
use crate::prefetch::Prefetch;
use crate::source::{ReadSource, Source};
use crate::window::Window;

/// Free bytes in front of each read-ahead buffer: a record cut by a chunk boundary is
/// joined to the next chunk by copying its first part there (longer ones are joined
/// by growing the window instead).
const PREFETCH_HEAD: usize = 64 << 10;
/// The most chunks the read-ahead thread may read before the decoder takes them. More
/// buffers than fit a core's cache also make the thread's writes cheaper: a buffer
/// comes back to it after the decoder's core has let go of its lines.
const PREFETCH_DEPTH: usize = 8;
/// Files that hold fewer chunks than this are read on the caller's thread.
const PREFETCH_MIN_CHUNKS: u64 = 3;

/// Reads one snapshot file entry by entry through a chunk buffer (1 MiB by default, never
/// more than the file), verifying as it goes.
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
/// A file of a few chunks or more is read ahead on a thread of the reader's own (it
/// ends when the reader is dropped), so that the disk's reads overlap verifying and
/// decoding; at most nine chunks (of the buffer's size, plus 64 KiB each) are in
/// memory at once, together never more than the file's size (a record longer than 64
/// KiB that spans chunks is gathered in a buffer of its own, no larger than the record
/// and one chunk).
///
/// As an [`Iterator`] it yields owned entries; [`next_ref`](Self::next_ref) lends them
/// without allocating. An error is yielded once, then the reader ends.
#[derive(Debug)]
pub struct SnapshotReader {
    inner: Decoder<FileSource>,
}

/// How the file is read: on the caller's thread (small files) or ahead of it.
#[derive(Debug)]
enum FileSource {
    Direct(ReadSource<File>),
    Ahead(Prefetch),
}

impl Source for FileSource {
    fn refill(&mut self, win: &mut Window, need: usize) -> io::Result<usize> {
        match self {
            FileSource::Direct(s) => s.refill(win, need),
            FileSource::Ahead(s) => s.refill(win, need),
        }
    }
}

impl SnapshotReader {
    /// Opens `path` and verifies its header; entries with `expires_at <= now_ms` will be
    /// skipped.
    pub fn open(path: impl AsRef<Path>, now_ms: u64) -> Result<Self, Error> {
        Self::open_with_buffer(path.as_ref(), now_ms, DEFAULT_BUFFER_SIZE)
    }

    pub(crate) fn open_with_buffer(path: &Path, now_ms: u64, buffer: usize) -> Result<Self, Error> {
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        let buffer = buffer.max(1);
        // Every buffer in flight (one more than the depth) fits in the file.
        let chunks = len / (PREFETCH_HEAD + buffer) as u64;
        let (src, win) = if chunks >= PREFETCH_MIN_CHUNKS {
            let depth =
                usize::try_from(chunks - 1).map_or(PREFETCH_DEPTH, |d| d.min(PREFETCH_DEPTH));
            let ahead = file
                .try_clone()
                .and_then(|f| Prefetch::spawn(f, buffer, PREFETCH_HEAD, depth));
            match ahead {
                Ok(p) => (FileSource::Ahead(p), Window::with_capacity(0)),
                // No thread to be had: read on this one.
                Err(_) => (
                    FileSource::Direct(ReadSource(file)),
                    window_for(len, buffer),
                ),
            }
        } else {
            (
                FileSource::Direct(ReadSource(file)),
                window_for(len, buffer),
            )
        };
        Ok(SnapshotReader {
            inner: Decoder::open(src, win, len, path, now_ms)?,
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
    use proptest::prelude::*;

    use super::*;
    use crate::options::SnapshotOptions;
    use crate::snapshots::Snapshots;

    const BUFFER: usize = 4096;

    /// A snapshot large enough to be read ahead (with a 4 KiB buffer), with records
    /// of many sizes, one longer than the read-ahead headroom, and some expired.
    fn large_snapshot(dir: &Path) -> Vec<u8> {
        let snaps = Snapshots::open(dir, SnapshotOptions::default().keep(100)).unwrap();
        let mut w = snaps.begin(7, 1_000).unwrap();
        for i in 0..3_000u64 {
            let len = match i {
                1_234 => PREFETCH_HEAD * 2 + 17,
                _ => (i as usize * 37) % 300,
            };
            let value: Vec<u8> = (0..len).map(|j| (i as usize + j) as u8).collect();
            let key = format!("key-{i:05}");
            let expires_at = (i % 5 == 0).then_some(2_000 + i);
            w.push(EntryRef {
                key: key.as_bytes(),
                value: &value,
                expires_at,
                created: i,
                updated: i + 1,
                version: i + 2,
            })
            .unwrap();
        }
        std::fs::read(w.finish().unwrap().path).unwrap()
    }

    /// Every entry, then the outcome, reading the file through `SnapshotReader`.
    fn through_file(path: &Path, now: u64) -> (bool, Vec<SnapshotEntry>, String) {
        let mut reader = match SnapshotReader::open_with_buffer(path, now, BUFFER) {
            Ok(r) => r,
            Err(e) => return (false, Vec::new(), format!("{e:?}")),
        };
        let ahead = matches!(reader.inner.source(), FileSource::Ahead(_));
        let mut entries = Vec::new();
        let mut end = None;
        while let Some(e) = reader.next_ref() {
            match e {
                Ok(e) => entries.push(e.to_entry()),
                Err(e) => end = Some(format!("{e:?}")),
            }
        }
        let end = end.unwrap_or_else(|| format!("{:?}", Ok::<_, ()>(reader.summary())));
        (ahead, entries, end)
    }

    /// The same, decoding the bytes on this thread (the path small files and the fuzz
    /// target take).
    fn direct(bytes: &[u8], path: &Path, now: u64) -> (Vec<SnapshotEntry>, String) {
        let len = bytes.len() as u64;
        let mut d = match Decoder::open(ReadSource(bytes), window_for(len, BUFFER), len, path, now)
        {
            Ok(d) => d,
            Err(e) => return (Vec::new(), format!("{e:?}")),
        };
        let mut entries = Vec::new();
        let mut end = None;
        while let Some(e) = d.next_ref() {
            match e {
                Ok(e) => entries.push(e.to_entry()),
                Err(e) => end = Some(format!("{e:?}")),
            }
        }
        let end = end.unwrap_or_else(|| format!("{:?}", Ok::<_, ()>(d.summary())));
        (entries, end)
    }

    fn assert_same(dir: &Path, bytes: &[u8], what: &str) {
        let path = dir.join("probe.snap");
        std::fs::write(&path, bytes).unwrap();
        for now in [0, 2_500] {
            let (ahead, entries, end) = through_file(&path, now);
            let chunks = bytes.len() / (PREFETCH_HEAD + BUFFER);
            assert_eq!(
                ahead,
                chunks >= PREFETCH_MIN_CHUNKS as usize,
                "{what}: read ahead"
            );
            let (want_entries, want_end) = direct(bytes, &path, now);
            assert_eq!(end, want_end, "{what}, now {now}");
            assert!(entries == want_entries, "{what}, now {now}: entries differ");
        }
    }

    #[test]
    fn a_reader_can_move_and_be_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<SnapshotReader>();
    }

    #[test]
    fn reading_ahead_matches_reading_directly() {
        let dir = tempfile::tempdir().unwrap();
        let valid = large_snapshot(dir.path());
        let (entries, end) = direct(&valid, Path::new("x"), 0);
        assert_eq!(entries.len(), 3_000);
        assert!(end.starts_with("Ok"), "{end}");
        assert_same(dir.path(), &valid, "valid");
        let mut trailing = valid.clone();
        trailing.push(0);
        assert_same(dir.path(), &trailing, "a trailing byte");
        let len = valid.len();
        for cut in [len - 1, len - 24, len - 25, len / 2, 300_000, 48] {
            assert_same(dir.path(), &valid[..cut], &format!("cut at {cut}"));
        }
        for at in [60, 70_000, 200_000, len / 2 + 3, len - 30, len - 10] {
            let mut b = valid.clone();
            b[at] ^= 0x10;
            assert_same(dir.path(), &b, &format!("flip at {at}"));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn damage_anywhere_reads_the_same_ahead_and_directly(
            cut in any::<prop::sample::Index>(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..3),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut bytes = large_snapshot(dir.path());
            for (at, mask) in flips {
                let i = at.index(bytes.len());
                bytes[i] ^= mask;
            }
            // Half the cases keep the whole file; the others cut it anywhere.
            let keep = if cut.index(2) == 0 { bytes.len() } else { cut.index(bytes.len()) };
            assert_same(dir.path(), &bytes[..keep], "random damage");
        }
    }
}

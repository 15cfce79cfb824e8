//! `SnapshotWriter`: streams entries into a temporary file in chunks, then makes it the
//! newest snapshot atomically (fsync, rename, directory fsync) and applies retention.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::codec;
use crate::entry::EntryRef;
use crate::error::Error;
use crate::format::{self, SnapshotHeader, FORMAT_VERSION, FRAME_LEN, HEADER_LEN, MAX_PAYLOAD};
use crate::io::{SnapshotIo, TempFile};
use crate::names;
use crate::retention;
use crate::sequence::SequenceNumber;

/// What a successful [`SnapshotWriter::finish`] did.
#[derive(Debug)]
#[non_exhaustive]
pub struct WrittenSnapshot {
    /// The snapshot's final path, `snapshot-<20-digit sequence>.snap`.
    pub path: PathBuf,
    /// The header written.
    pub header: SnapshotHeader,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Entries skipped because they had expired at the writer's `now`.
    pub expired_skipped: u64,
    /// Older snapshots and leftover temporary files removed by retention.
    pub removed: Vec<PathBuf>,
    /// Retention failures. The new snapshot is durable regardless; a file that could not
    /// be removed is retried by the next write or ignored by readers.
    pub cleanup_errors: Vec<Error>,
}

/// Streams the entries of one snapshot to a temporary file.
///
/// Made by [`Snapshots::begin`](crate::Snapshots::begin). Entries go in with
/// [`push`](Self::push), which encodes them into a chunk buffer
/// ([`SnapshotOptions::buffer_size`](crate::SnapshotOptions::buffer_size)), written to
/// the file on the caller's thread each time it fills. [`finish`](Self::finish) makes
/// the snapshot durable and visible.
/// Dropping a writer that did not finish removes its temporary file. After any I/O
/// error the writer is failed: later calls return [`Error::WriterFailed`], and nothing
/// is retried (a failed fsync is never taken as a success).
pub struct SnapshotWriter {
    io: Arc<dyn SnapshotIo>,
    /// The file, until it is renamed or the writer drops.
    file: Option<Box<dyn TempFile>>,
    dir: PathBuf,
    temp_path: PathBuf,
    final_path: PathBuf,
    header: SnapshotHeader,
    keep: usize,
    /// Pending bytes; the first chunk starts with a placeholder header.
    buf: Vec<u8>,
    chunk: usize,
    /// Whether any chunk has gone to the file (then the header is patched in place).
    flushed_any: bool,
    bytes: u64,
    data_crc: crc32fast::Hasher,
    expired_skipped: u64,
    failed: bool,
    renamed: bool,
    active: Arc<AtomicBool>,
}

impl std::fmt::Debug for SnapshotWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotWriter")
            .field("temp_path", &self.temp_path)
            .field("header", &self.header)
            .field("bytes", &self.bytes)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

pub(crate) struct WriterSetup {
    pub(crate) io: Arc<dyn SnapshotIo>,
    pub(crate) dir: PathBuf,
    pub(crate) keep: usize,
    pub(crate) chunk: usize,
    pub(crate) active: Arc<AtomicBool>,
}

impl SnapshotWriter {
    /// Creates the temporary file. `setup.active` must already be claimed; it is
    /// released when the writer finishes or drops.
    pub(crate) fn create(
        setup: WriterSetup,
        sequence: SequenceNumber,
        now_ms: u64,
    ) -> Result<Self, Error> {
        let WriterSetup {
            io,
            dir,
            keep,
            chunk,
            active,
        } = setup;
        let temp_path = dir.join(names::temp_name(sequence));
        let final_path = dir.join(names::snapshot_name(sequence));
        let file = match io.create_temp(&temp_path) {
            Ok(f) => f,
            Err(e) => {
                active.store(false, Ordering::Release);
                // A partial create may have left the file; it is a temp file either way.
                let _ = io.remove(&temp_path);
                return Err(Error::io("create", &temp_path, e));
            }
        };
        let header = SnapshotHeader {
            format_version: FORMAT_VERSION,
            sequence,
            created_ms: now_ms,
            entry_count: 0,
        };
        let mut buf = Vec::with_capacity(chunk + chunk / 8);
        buf.extend_from_slice(&format::encode_header(&header, codec::CODEC_ID));
        Ok(SnapshotWriter {
            io,
            file: Some(file),
            dir,
            temp_path,
            final_path,
            header,
            keep,
            buf,
            chunk,
            flushed_any: false,
            bytes: 0,
            data_crc: crc32fast::Hasher::new(),
            expired_skipped: 0,
            failed: false,
            renamed: false,
            active,
        })
    }

    /// The header as it stands (its entry count grows with each push).
    pub fn header(&self) -> &SnapshotHeader {
        &self.header
    }

    /// The temporary file being written.
    pub fn temp_path(&self) -> &Path {
        &self.temp_path
    }

    /// Adds one entry. Returns `Ok(false)` without writing it if it has expired at the
    /// writer's `now` (`expires_at <= now_ms`), `Ok(true)` once it is buffered.
    ///
    /// Accepts `&SnapshotEntry` or an [`EntryRef`] built over borrowed key and value.
    pub fn push<'a>(&mut self, entry: impl Into<EntryRef<'a>>) -> Result<bool, Error> {
        self.check_live()?;
        let entry = entry.into();
        if entry.is_expired(self.header.created_ms) {
            self.expired_skipped += 1;
            return Ok(false);
        }
        let size = codec::encoded_len(&entry);
        if size > MAX_PAYLOAD {
            return Err(Error::EntryTooLarge {
                size,
                max: MAX_PAYLOAD,
            });
        }
        // Format: one record = u32 payload length | u32 CRC-32 of (length, payload) | payload.
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0u8; FRAME_LEN]);
        if let Err(reason) = codec::encode_into(&mut self.buf, &entry) {
            self.buf.truncate(start);
            // The size was checked above; the codec has no other way to fail on a Vec.
            return Err(Error::Io {
                op: "encode",
                path: self.temp_path.clone(),
                source: std::io::Error::other(reason),
            });
        }
        let len = (self.buf.len() - start - FRAME_LEN) as u32;
        self.buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
        let crc = format::record_crc(&self.buf[start..start + 4], &self.buf[start + FRAME_LEN..]);
        self.buf[start + 4..start + FRAME_LEN].copy_from_slice(&crc.to_le_bytes());
        self.header.entry_count += 1;
        if self.buf.len() >= self.chunk {
            self.flush_chunk()?;
        }
        Ok(true)
    }

    /// Writes the footer, fixes the header's entry count, fsyncs, renames to
    /// `snapshot-<sequence>.snap`, fsyncs the directory, then keeps the newest snapshots
    /// (removing older ones and leftover temporary files).
    ///
    /// On error the temporary file is removed and the previous snapshots are untouched.
    pub fn finish(mut self) -> Result<WrittenSnapshot, Error> {
        self.check_live()?;
        // The data checksum covers the records still buffered: compute it before the
        // footer joins them.
        let data_start = if self.flushed_any { 0 } else { HEADER_LEN };
        self.data_crc.update(&self.buf[data_start..]);
        let data_crc = self.data_crc.clone().finalize();
        let footer_bytes = format::encode_footer(self.header.entry_count, data_crc);
        self.buf.extend_from_slice(&footer_bytes);
        let header_bytes = format::encode_header(&self.header, codec::CODEC_ID);
        if self.flushed_any {
            self.write_pending()?;
            let r = self.file_mut().write_all_at(0, &header_bytes);
            self.step(r, "write")?;
        } else {
            self.buf[..HEADER_LEN].copy_from_slice(&header_bytes);
            self.write_pending()?;
        }
        let r = self.file_mut().sync_all();
        self.step(r, "fsync")?;
        self.file = None;
        let r = self.io.rename(&self.temp_path, &self.final_path);
        self.step(r, "rename")?;
        // From here the temp file is gone: nothing must try to remove it again.
        self.renamed = true;
        self.failed = true;
        self.io
            .sync_dir(&self.dir)
            .map_err(|e| Error::io("fsync directory", &self.dir, e))?;
        let (removed, cleanup_errors) = retention::apply(self.io.as_ref(), &self.dir, self.keep);
        Ok(WrittenSnapshot {
            path: self.final_path.clone(),
            header: self.header,
            bytes: self.bytes,
            expired_skipped: self.expired_skipped,
            removed,
            cleanup_errors,
        })
    }

    fn check_live(&self) -> Result<(), Error> {
        if self.failed || self.file.is_none() {
            return Err(Error::WriterFailed {
                path: self.temp_path.clone(),
            });
        }
        Ok(())
    }

    fn file_mut(&mut self) -> &mut Box<dyn TempFile> {
        self.file.as_mut().expect("checked live")
    }

    /// Sends the buffered chunk to the file.
    fn flush_chunk(&mut self) -> Result<(), Error> {
        let data_start = if self.flushed_any { 0 } else { HEADER_LEN };
        self.data_crc.update(&self.buf[data_start..]);
        self.write_pending()?;
        self.flushed_any = true;
        Ok(())
    }

    /// Writes the pending bytes and empties the buffer.
    fn write_pending(&mut self) -> Result<(), Error> {
        let r = self
            .file
            .as_mut()
            .expect("checked live")
            .write_all(&self.buf);
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
        self.step(r, "write")
    }

    /// Turns a failed step into a failed writer.
    fn step(&mut self, r: std::io::Result<()>, op: &'static str) -> Result<(), Error> {
        r.map_err(|e| {
            self.failed = true;
            Error::io(op, &self.temp_path, e)
        })
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        // Unfinished, or failed before the rename: the temp file goes (best effort; a
        // leftover is ignored by readers and removed by the next open or write).
        if !self.renamed {
            self.file = None;
            let _ = self.io.remove(&self.temp_path);
        }
        self.active.store(false, Ordering::Release);
    }
}

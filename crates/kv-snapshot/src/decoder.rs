//! `Decoder`: reads and verifies a snapshot from any byte source of known length,
//! entry by entry. The file reader and the fuzzing entry point share it.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::codec::{self, Layout};
use crate::entry::EntryRef;
use crate::error::{Corruption, Error, Part};
use crate::format::{self, HeaderError, SnapshotHeader, FOOTER_LEN, FRAME_LEN, HEADER_LEN};

/// Where the decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Records remain, or the footer is next.
    Reading,
    /// The footer checked out: everything verified.
    Verified,
    /// An error was returned; nothing more is read.
    Failed,
}

/// Counts of a complete, verified read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSummary {
    /// The snapshot's header.
    pub header: SnapshotHeader,
    /// Entries returned (not expired at the load's `now`).
    pub entries: u64,
    /// Entries skipped because they had expired at the load's `now`.
    pub expired_skipped: u64,
}

#[derive(Debug)]
pub(crate) struct Decoder<R> {
    src: R,
    path: PathBuf,
    header: SnapshotHeader,
    file_len: u64,
    /// Offset of the next unread byte.
    pos: u64,
    /// Records not yet read.
    left: u64,
    data_crc: crc32fast::Hasher,
    buf: Vec<u8>,
    current: Option<Layout>,
    now_ms: u64,
    returned: u64,
    expired_skipped: u64,
    state: State,
}

impl<R: Read> Decoder<R> {
    /// Reads and verifies the header of a source holding `file_len` bytes.
    pub(crate) fn open(mut src: R, file_len: u64, path: &Path, now_ms: u64) -> Result<Self, Error> {
        let corrupt = |offset, what| Error::Corrupt {
            path: path.to_path_buf(),
            offset,
            what,
        };
        if file_len < HEADER_LEN as u64 {
            return Err(corrupt(
                0,
                Corruption::Truncated {
                    part: Part::Header,
                    needed: HEADER_LEN as u64,
                    available: file_len,
                },
            ));
        }
        let mut hb = [0u8; HEADER_LEN];
        read_exact(&mut src, &mut hb, path, 0, Part::Header, file_len)?;
        let header = format::decode_header(&hb).map_err(|e| match e {
            HeaderError::Corrupt(what) => corrupt(0, what),
            HeaderError::Version(found) => Error::UnsupportedVersion {
                path: path.to_path_buf(),
                found,
                supported: format::FORMAT_VERSION,
            },
            HeaderError::Codec(found) => Error::UnknownCodec {
                path: path.to_path_buf(),
                found,
            },
        })?;
        // Every record takes at least a frame and a minimal payload: a count the file
        // cannot hold is refused before anything trusts it.
        let body = file_len - HEADER_LEN as u64;
        let needed = header
            .entry_count
            .saturating_mul(FRAME_LEN as u64 + codec::MIN_ENCODED_LEN)
            .saturating_add(FOOTER_LEN as u64);
        if needed > body {
            return Err(corrupt(
                HEADER_LEN as u64,
                Corruption::Truncated {
                    part: Part::Record,
                    needed,
                    available: body,
                },
            ));
        }
        Ok(Decoder {
            src,
            path: path.to_path_buf(),
            header,
            file_len,
            pos: HEADER_LEN as u64,
            left: header.entry_count,
            data_crc: crc32fast::Hasher::new(),
            buf: Vec::new(),
            current: None,
            now_ms,
            returned: 0,
            expired_skipped: 0,
            state: State::Reading,
        })
    }

    pub(crate) fn header(&self) -> &SnapshotHeader {
        &self.header
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn is_verified(&self) -> bool {
        self.state == State::Verified
    }

    pub(crate) fn expired_skipped(&self) -> u64 {
        self.expired_skipped
    }

    /// The next entry that has not expired; after the last one, the footer is verified
    /// and `None` returned. An error is returned once, then `None`.
    pub(crate) fn next_ref(&mut self) -> Option<Result<EntryRef<'_>, Error>> {
        match self.advance() {
            Ok(true) => {
                let layout = self.current.as_ref()?;
                Some(Ok(layout.view(&self.buf)))
            }
            Ok(false) => None,
            Err(e) => {
                self.state = State::Failed;
                Some(Err(e))
            }
        }
    }

    /// Reads to the end, verifying everything.
    pub(crate) fn verify(&mut self) -> Result<ReadSummary, Error> {
        while let Some(r) = self.next_ref() {
            r?;
        }
        if self.state == State::Verified {
            Ok(self.summary())
        } else {
            // Only reachable after an error was already handed out and ignored.
            Err(Error::ReaderFailed {
                path: self.path.clone(),
            })
        }
    }

    pub(crate) fn summary(&self) -> ReadSummary {
        ReadSummary {
            header: self.header,
            entries: self.returned,
            expired_skipped: self.expired_skipped,
        }
    }

    /// Loads the next unexpired record into `buf`/`current`; `false` at the end.
    fn advance(&mut self) -> Result<bool, Error> {
        self.current = None;
        if self.state != State::Reading {
            return Ok(false);
        }
        while self.left > 0 {
            let layout = self.read_record()?;
            self.left -= 1;
            if layout.expires_at.is_some_and(|at| at <= self.now_ms) {
                self.expired_skipped += 1;
                continue;
            }
            self.current = Some(layout);
            self.returned += 1;
            return Ok(true);
        }
        self.read_footer()?;
        self.state = State::Verified;
        Ok(false)
    }

    fn read_record(&mut self) -> Result<Layout, Error> {
        let offset = self.pos;
        // Bytes a record may occupy: what is left before the footer.
        let room = self
            .file_len
            .saturating_sub(self.pos)
            .saturating_sub(FOOTER_LEN as u64);
        if room < FRAME_LEN as u64 {
            return Err(self.corrupt(
                offset,
                Corruption::Truncated {
                    part: Part::Record,
                    needed: FRAME_LEN as u64,
                    available: room,
                },
            ));
        }
        let mut frame = [0u8; FRAME_LEN];
        read_exact(
            &mut self.src,
            &mut frame,
            &self.path,
            offset,
            Part::Record,
            room,
        )?;
        let len = u64::from(format::u32_at(&frame, 0));
        let stored = format::u32_at(&frame, 4);
        let max = (room - FRAME_LEN as u64).min(format::MAX_PAYLOAD);
        if len == 0 || len > max {
            return Err(self.corrupt(offset, Corruption::LengthOutOfBounds { len, max }));
        }
        // `len` is bounded by the bytes left in the file: this allocation is too.
        self.buf.clear();
        self.buf.resize(len as usize, 0);
        read_exact(
            &mut self.src,
            &mut self.buf,
            &self.path,
            offset,
            Part::Record,
            room,
        )?;
        let computed = format::record_crc(&frame[..4], &self.buf);
        if computed != stored {
            return Err(self.corrupt(
                offset,
                Corruption::ChecksumMismatch {
                    part: Part::Record,
                    expected: stored,
                    found: computed,
                },
            ));
        }
        self.data_crc.update(&frame);
        self.data_crc.update(&self.buf);
        self.pos += FRAME_LEN as u64 + len;
        codec::decode(&self.buf)
            .map_err(|reason| self.corrupt(offset, Corruption::Decode { reason }))
    }

    fn read_footer(&mut self) -> Result<(), Error> {
        let offset = self.pos;
        let left = self.file_len - self.pos;
        if left < FOOTER_LEN as u64 {
            return Err(self.corrupt(
                offset,
                Corruption::Truncated {
                    part: Part::Footer,
                    needed: FOOTER_LEN as u64,
                    available: left,
                },
            ));
        }
        let mut fb = [0u8; FOOTER_LEN];
        read_exact(
            &mut self.src,
            &mut fb,
            &self.path,
            offset,
            Part::Footer,
            left,
        )?;
        let data_crc = self.data_crc.clone().finalize();
        format::check_footer(&fb, self.header.entry_count, data_crc)
            .map_err(|what| self.corrupt(offset, what))?;
        if left > FOOTER_LEN as u64 {
            return Err(self.corrupt(
                offset + FOOTER_LEN as u64,
                Corruption::TrailingBytes {
                    count: left - FOOTER_LEN as u64,
                },
            ));
        }
        self.pos += FOOTER_LEN as u64;
        Ok(())
    }

    fn corrupt(&self, offset: u64, what: Corruption) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            offset,
            what,
        }
    }
}

/// `read_exact` whose early end of file (the file shrank under us) is a truncation.
fn read_exact<R: Read>(
    src: &mut R,
    buf: &mut [u8],
    path: &Path,
    offset: u64,
    part: Part,
    available: u64,
) -> Result<(), Error> {
    src.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Error::Corrupt {
                path: path.to_path_buf(),
                offset,
                what: Corruption::Truncated {
                    part,
                    needed: buf.len() as u64,
                    available,
                },
            }
        } else {
            Error::io("read", path, e)
        }
    })
}

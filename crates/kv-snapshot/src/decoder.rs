//! `Decoder`: reads and verifies a snapshot from any byte source of known length,
//! entry by entry. The file reader and the fuzzing entry point share it.

use std::io::{self, Read};
use std::ops::Range;
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
#[non_exhaustive]
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
    win: Window,
    /// The current entry: its payload's place in the window and its decoded layout.
    current: Option<(Range<usize>, Layout)>,
    now_ms: u64,
    returned: u64,
    expired_skipped: u64,
    state: State,
}

impl<R: Read> Decoder<R> {
    /// Reads and verifies the header of a source holding `file_len` bytes.
    pub(crate) fn open(
        mut src: R,
        file_len: u64,
        path: &Path,
        now_ms: u64,
        buffer: usize,
    ) -> Result<Self, Error> {
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
        // Never a buffer larger than the rest of the file: reading allocates at most
        // the file's size.
        let capacity = buffer.min(usize::try_from(body).unwrap_or(usize::MAX));
        Ok(Decoder {
            src,
            path: path.to_path_buf(),
            header,
            file_len,
            pos: HEADER_LEN as u64,
            left: header.entry_count,
            data_crc: crc32fast::Hasher::new(),
            win: Window::with_capacity(capacity),
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

    pub(crate) fn file_len(&self) -> u64 {
        self.file_len
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
                let (payload, layout) = self.current.as_ref()?;
                Some(Ok(layout.view(&self.win.buf[payload.clone()])))
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

    /// Reads up to the next unexpired record and points `current` at it; `false` once
    /// the footer verified.
    fn advance(&mut self) -> Result<bool, Error> {
        self.current = None;
        if self.state != State::Reading {
            return Ok(false);
        }
        while self.left > 0 {
            let (payload, layout) = self.read_record()?;
            self.left -= 1;
            if layout.expires_at.is_some_and(|at| at <= self.now_ms) {
                self.expired_skipped += 1;
                continue;
            }
            self.current = Some((payload, layout));
            self.returned += 1;
            return Ok(true);
        }
        self.read_footer()?;
        self.state = State::Verified;
        Ok(false)
    }

    /// Reads the next record, verifies its checksum and decodes it; returns where its
    /// payload lies in the window.
    fn read_record(&mut self) -> Result<(Range<usize>, Layout), Error> {
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
        self.fill(FRAME_LEN, offset)?;
        let at = self.win.start;
        let frame: [u8; FRAME_LEN] = self.win.buf[at..at + FRAME_LEN].try_into().expect("filled");
        let len = u64::from(format::u32_at(&frame, 0));
        let stored = format::u32_at(&frame, 4);
        let max = (room - FRAME_LEN as u64).min(format::MAX_PAYLOAD);
        if len == 0 || len > max {
            return Err(self.corrupt(offset, Corruption::LengthOutOfBounds { len, max }));
        }
        // `len` is bounded by the bytes left in the file: so is the window's growth.
        let total = FRAME_LEN + len as usize;
        self.fill(total, offset)?;
        let at = self.win.start;
        let payload = at + FRAME_LEN..at + total;
        let computed = format::record_crc(&frame[..4], &self.win.buf[payload.clone()]);
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
        self.win.start += total;
        self.pos += total as u64;
        let layout = codec::decode(&self.win.buf[payload.clone()])
            .map_err(|reason| self.corrupt(offset, Corruption::Decode { reason }))?;
        Ok((payload, layout))
    }

    /// Makes at least `need` unread bytes available in the window. Callers bound `need`
    /// by the bytes left before the footer, so the window never outgrows the file.
    fn fill(&mut self, need: usize, offset: u64) -> Result<(), Error> {
        if self.win.unread() >= need {
            return Ok(());
        }
        // Consumed record bytes leave the window: fold them into the data checksum in
        // one large update first.
        self.data_crc
            .update(&self.win.buf[self.win.crc_from..self.win.start]);
        self.win.compact(need);
        let want = self.win.buf.len();
        while self.win.end < need {
            let n = match self.src.read(&mut self.win.buf[self.win.end..want]) {
                Ok(0) => {
                    return Err(self.corrupt(
                        offset,
                        Corruption::Truncated {
                            part: Part::Record,
                            needed: need as u64,
                            available: self.win.end as u64,
                        },
                    ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("read", &self.path, e)),
            };
            self.win.end += n;
        }
        Ok(())
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
        self.data_crc
            .update(&self.win.buf[self.win.crc_from..self.win.start]);
        self.win.crc_from = self.win.start;
        let mut fb = [0u8; FOOTER_LEN];
        let buffered = self.win.unread().min(FOOTER_LEN);
        fb[..buffered].copy_from_slice(&self.win.buf[self.win.start..self.win.start + buffered]);
        self.win.start += buffered;
        self.win.crc_from = self.win.start;
        read_exact(
            &mut self.src,
            &mut fb[buffered..],
            &self.path,
            offset,
            Part::Footer,
            left,
        )?;
        let data_crc = self.data_crc.clone().finalize();
        format::check_footer(&fb, self.header.entry_count, data_crc)
            .map_err(|what| self.corrupt(offset, what))?;
        // Anything still buffered, or still in the source, is past the footer.
        let mut probe = [0u8; 1];
        let more = self.win.unread() > 0
            || loop {
                match self.src.read(&mut probe) {
                    Ok(n) => break n > 0,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Error::io("read", &self.path, e)),
                }
            };
        if left > FOOTER_LEN as u64 || more {
            return Err(self.corrupt(
                offset + FOOTER_LEN as u64,
                Corruption::TrailingBytes {
                    count: (left - FOOTER_LEN as u64).max(1),
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

/// The read buffer: `buf[start..end]` is read but not consumed; `buf[crc_from..start]`
/// is consumed record bytes not yet folded into the data checksum.
#[derive(Debug)]
struct Window {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    crc_from: usize,
}

impl Window {
    fn with_capacity(capacity: usize) -> Self {
        Window {
            buf: vec![0; capacity],
            start: 0,
            end: 0,
            crc_from: 0,
        }
    }

    fn unread(&self) -> usize {
        self.end - self.start
    }

    /// Moves the unread bytes to the front and makes room for at least `need` bytes.
    fn compact(&mut self, need: usize) {
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        self.crc_from = 0;
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
    }
}

//! `Decoder`: reads and verifies a snapshot from any byte source of known length,
//! entry by entry. The file reader and the fuzzing entry point share it.

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::codec::{self, Layout};
use crate::entry::EntryRef;
use crate::error::{Corruption, Error, Part};
use crate::format::{self, HeaderError, SnapshotHeader, FOOTER_LEN, FRAME_LEN, HEADER_LEN};
use crate::sequence::SequenceNumber;
use crate::source::Source;
use crate::window::Window;

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
pub(crate) struct Decoder<S> {
    src: S,
    path: PathBuf,
    header: SnapshotHeader,
    file_len: u64,
    /// Offset of the next unread byte.
    pos: u64,
    /// Records not yet read.
    left: u64,
    data_crc: crc32fast::Hasher,
    /// A new hasher, cloned for each record's checksum (cheaper than making one).
    fresh: crc32fast::Hasher,
    /// The last record decoded: where its key and value lie in its payload, and its
    /// scalar fields.
    layout: Layout,
    win: Window,
    now_ms: u64,
    returned: u64,
    expired_skipped: u64,
    state: State,
}

/// The read buffer for a source holding `file_len` bytes that reads into the window's
/// own buffer: never larger than the file after its header (reading allocates at most
/// the file's size).
pub(crate) fn window_for(file_len: u64, buffer: usize) -> Window {
    let body = file_len.saturating_sub(HEADER_LEN as u64);
    Window::with_capacity(buffer.min(usize::try_from(body).unwrap_or(usize::MAX)))
}

impl<S: Source> Decoder<S> {
    /// Reads and verifies the header of a source holding `file_len` bytes, reading
    /// through `win` (see [`window_for`]).
    pub(crate) fn open(
        src: S,
        win: Window,
        file_len: u64,
        path: &Path,
        now_ms: u64,
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
        let mut d = Decoder {
            src,
            path: path.to_path_buf(),
            header: SnapshotHeader {
                format_version: 0,
                sequence: SequenceNumber::new(0),
                created_ms: 0,
                entry_count: 0,
            },
            file_len,
            pos: 0,
            left: 0,
            data_crc: crc32fast::Hasher::new(),
            fresh: crc32fast::Hasher::new(),
            layout: Layout::default(),
            win,
            now_ms,
            returned: 0,
            expired_skipped: 0,
            state: State::Failed,
        };
        d.fill(HEADER_LEN, 0, Part::Header)?;
        let hb: [u8; HEADER_LEN] = d.win.unread_bytes()[..HEADER_LEN]
            .try_into()
            .expect("filled");
        // The header is not part of the data checksum.
        d.win.start += HEADER_LEN;
        d.win.take_consumed();
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
        d.header = header;
        d.pos = HEADER_LEN as u64;
        d.left = header.entry_count;
        d.state = State::Reading;
        Ok(d)
    }

    /// Where the bytes come from.
    #[cfg(test)]
    pub(crate) fn source(&self) -> &S {
        &self.src
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
            Ok(Some(payload)) => Some(Ok(self.layout.view(&self.win.buf[payload]))),
            Ok(None) => None,
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

    /// Reads up to the next unexpired record: where its payload lies in the window (its
    /// decoded layout is in `layout`); `None` once the footer verified.
    fn advance(&mut self) -> Result<Option<Range<usize>>, Error> {
        if self.state != State::Reading {
            return Ok(None);
        }
        while self.left > 0 {
            let payload = self.read_record()?;
            self.left -= 1;
            if self.layout.expires_at.is_some_and(|at| at <= self.now_ms) {
                self.expired_skipped += 1;
                continue;
            }
            self.returned += 1;
            return Ok(Some(payload));
        }
        self.read_footer()?;
        self.state = State::Verified;
        Ok(None)
    }

    /// Reads the next record, verifies its checksum and decodes it into `layout`;
    /// returns where its payload lies in the window.
    fn read_record(&mut self) -> Result<Range<usize>, Error> {
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
        self.fill(FRAME_LEN, offset, Part::Record)?;
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
        self.fill(total, offset, Part::Record)?;
        let at = self.win.start;
        let payload = at + FRAME_LEN..at + total;
        let computed =
            format::record_crc_from(&self.fresh, &frame[..4], &self.win.buf[payload.clone()]);
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
        if let Err(reason) = codec::decode_into(&self.win.buf[payload.clone()], &mut self.layout) {
            return Err(self.corrupt(offset, Corruption::Decode { reason }));
        }
        Ok(payload)
    }

    /// Makes at least `need` unread bytes available in the window; running out is a
    /// truncation of `part`. Callers bound `need` by the bytes left in the file, so the
    /// window never outgrows the file.
    fn fill(&mut self, need: usize, offset: u64, part: Part) -> Result<(), Error> {
        if self.win.unread() >= need {
            return Ok(());
        }
        // Consumed record bytes may leave the window: fold them into the data checksum
        // in one large update first.
        self.data_crc.update(self.win.take_consumed());
        while self.win.unread() < need {
            let n = self
                .src
                .refill(&mut self.win, need)
                .map_err(|e| Error::io("read", &self.path, e))?;
            if n == 0 {
                return Err(self.corrupt(
                    offset,
                    Corruption::Truncated {
                        part,
                        needed: need as u64,
                        available: self.win.unread() as u64,
                    },
                ));
            }
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
        self.fill(FOOTER_LEN, offset, Part::Footer)?;
        self.data_crc.update(self.win.take_consumed());
        let fb: [u8; FOOTER_LEN] = self.win.unread_bytes()[..FOOTER_LEN]
            .try_into()
            .expect("filled");
        // The footer is not part of the data checksum.
        self.win.start += FOOTER_LEN;
        self.win.take_consumed();
        let data_crc = self.data_crc.clone().finalize();
        format::check_footer(&fb, self.header.entry_count, data_crc)
            .map_err(|what| self.corrupt(offset, what))?;
        // Anything still buffered, or still in the source, is past the footer.
        let more = self.win.unread() > 0
            || self
                .src
                .refill(&mut self.win, 1)
                .map_err(|e| Error::io("read", &self.path, e))?
                > 0;
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

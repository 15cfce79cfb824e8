//! `Decoder`: reads and verifies a snapshot from any byte stream of known length, entry
//! by entry. The file reader and the fuzzing entry point share it.

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::codec::{self, Layout};
use crate::entry::EntryRef;
use crate::error::{Corruption, Error, Part};
use crate::format::{self, HeaderError, SnapshotHeader, FOOTER_LEN, FRAME_LEN, HEADER_LEN};
use crate::sequence::SequenceNumber;

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
    src: BufReader<R>,
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
    /// The last record (frame and payload) when it was not whole in the source's
    /// buffer; never larger than the largest such record.
    record: Vec<u8>,
    /// The length of the last record when it was decoded in place, at the front of the
    /// source's buffer: consumed before the next read.
    in_place: usize,
    /// Where the last record's key and value lie in its payload, and its other fields.
    layout: Layout,
    now_ms: u64,
    returned: u64,
    expired_skipped: u64,
    state: State,
}

impl<R: Read> Decoder<R> {
    /// Reads and verifies the header of `src`, a stream of `file_len` bytes.
    pub(crate) fn open(
        src: BufReader<R>,
        file_len: u64,
        path: &Path,
        now_ms: u64,
    ) -> Result<Self, Error> {
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
            record: Vec::new(),
            in_place: 0,
            layout: Layout::default(),
            now_ms,
            returned: 0,
            expired_skipped: 0,
            state: State::Failed,
        };
        if file_len < HEADER_LEN as u64 {
            return Err(d.corrupt(
                0,
                Corruption::Truncated {
                    part: Part::Header,
                    needed: HEADER_LEN as u64,
                    available: file_len,
                },
            ));
        }
        let mut hb = [0u8; HEADER_LEN];
        d.read_part(&mut hb, Part::Header)?;
        let header = format::decode_header(&hb).map_err(|e| match e {
            HeaderError::Corrupt(what) => d.corrupt(0, what),
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
            .saturating_mul(FRAME_LEN as u64 + codec::min_encoded_len(header.format_version))
            .saturating_add(FOOTER_LEN as u64);
        if needed > body {
            return Err(d.corrupt(
                HEADER_LEN as u64,
                Corruption::Truncated {
                    part: Part::Record,
                    needed,
                    available: body,
                },
            ));
        }
        d.header = header;
        d.left = header.entry_count;
        d.state = State::Reading;
        Ok(d)
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
                let record = match self.in_place {
                    0 => &self.record[..],
                    n => &self.src.buffer()[..n],
                };
                Some(Ok(self.layout.view(&record[FRAME_LEN..])))
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

    /// Reads up to the next unexpired record (`true`: it is in `payload` and `layout`);
    /// `false` once the footer verified.
    fn advance(&mut self) -> Result<bool, Error> {
        if self.state != State::Reading {
            return Ok(false);
        }
        while self.left > 0 {
            self.read_record()?;
            self.left -= 1;
            if self.layout.expires_at.is_some_and(|at| at <= self.now_ms) {
                self.expired_skipped += 1;
                continue;
            }
            self.returned += 1;
            return Ok(true);
        }
        self.read_footer()?;
        self.state = State::Verified;
        Ok(false)
    }

    /// Reads the next record, verifies its checksum and decodes it into `layout`. The
    /// record stays in the source's buffer when it is whole there (`in_place`), else
    /// it is gathered in `record`.
    fn read_record(&mut self) -> Result<(), Error> {
        self.src.consume(std::mem::take(&mut self.in_place));
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
        let buffered = match self.src.fill_buf() {
            Ok(b) => b,
            Err(e) => return Err(Error::io("read", &self.path, e)),
        };
        let peeked = buffered.len() >= FRAME_LEN;
        if peeked {
            frame.copy_from_slice(&buffered[..FRAME_LEN]);
        } else {
            self.read_part(&mut frame, Part::Record)?;
        }
        let len = u64::from(format::u32_at(&frame, 0));
        let stored = format::u32_at(&frame, 4);
        let max = (room - FRAME_LEN as u64).min(format::MAX_PAYLOAD);
        if len == 0 || len > max {
            return Err(self.corrupt(offset, Corruption::LengthOutOfBounds { len, max }));
        }
        let total = FRAME_LEN + len as usize;
        let record = if peeked && self.src.buffer().len() >= total {
            self.pos += total as u64;
            self.in_place = total;
            &self.src.buffer()[..total]
        } else {
            if peeked {
                self.src.consume(FRAME_LEN);
                self.pos += FRAME_LEN as u64;
            }
            // `total` is bounded by the bytes left in the file: so is the buffer
            // (exactly, not rounded up as `resize` alone would).
            if total > self.record.len() {
                self.record.reserve_exact(total - self.record.len());
            }
            self.record.resize(total, 0);
            let mut record = std::mem::take(&mut self.record);
            record[..FRAME_LEN].copy_from_slice(&frame);
            let read = self.read_part(&mut record[FRAME_LEN..], Part::Record);
            self.record = record;
            read?;
            &self.record[..]
        };
        let payload = &record[FRAME_LEN..];
        let computed = format::record_crc_from(&self.fresh, &record[..4], payload);
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
        self.data_crc.update(record);
        if let Err(reason) =
            codec::decode_into(payload, self.header.format_version, &mut self.layout)
        {
            return Err(self.corrupt(offset, Corruption::Decode { reason }));
        }
        Ok(())
    }

    fn read_footer(&mut self) -> Result<(), Error> {
        self.src.consume(std::mem::take(&mut self.in_place));
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
        self.read_part(&mut fb, Part::Footer)?;
        let data_crc = self.data_crc.clone().finalize();
        format::check_footer(&fb, self.header.entry_count, data_crc)
            .map_err(|what| self.corrupt(offset, what))?;
        // Anything after the footer, by the length or in the stream, is damage.
        let more = read_full(&mut self.src, &mut [0u8; 1])
            .map_err(|e| Error::io("read", &self.path, e))?;
        if left > FOOTER_LEN as u64 || more > 0 {
            return Err(self.corrupt(
                offset + FOOTER_LEN as u64,
                Corruption::TrailingBytes {
                    count: (left - FOOTER_LEN as u64).max(1),
                },
            ));
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes of `part` at the current offset, which it advances;
    /// a stream that ends first is a truncation of `part`.
    fn read_part(&mut self, buf: &mut [u8], part: Part) -> Result<(), Error> {
        let offset = self.pos;
        let n = read_full(&mut self.src, buf).map_err(|e| Error::io("read", &self.path, e))?;
        if n < buf.len() {
            return Err(self.corrupt(
                offset,
                Corruption::Truncated {
                    part,
                    needed: buf.len() as u64,
                    available: n as u64,
                },
            ));
        }
        self.pos += n as u64;
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

/// Reads until `buf` is full or the stream ends; the bytes read.
fn read_full(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

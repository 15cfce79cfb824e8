//! The crate's one error type, and the kinds of corruption recovery can find.

use std::fmt;
use std::io;
use std::sync::Arc;

use crate::{SegmentId, Seq};

/// Everything that can go wrong in kv-wal.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation failed.
    Io {
        /// What the log was doing (`"create segment"`, `"read"`, ...).
        op: &'static str,
        /// The file (or directory) involved.
        file: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The log on disk is damaged in a way the chosen
    /// [`RecoveryMode`](crate::RecoveryMode) does not tolerate.
    Corrupt {
        /// The segment file.
        file: String,
        /// Byte offset within the file where the damage starts.
        offset: u64,
        /// What was expected and what was found.
        kind: Corruption,
    },
    /// A record is larger than any segment can hold.
    RecordTooLarge {
        /// The record's size in bytes, framed.
        size: u64,
        /// The largest record a segment of the configured size can hold.
        max: u64,
    },
    /// A flush or sync failed earlier; the writer refuses every later append and sync
    /// until the log is reopened (and recovered). Retrying a failed fsync as if it had
    /// worked would acknowledge writes that may be lost.
    Poisoned {
        /// The operation that failed first.
        op: &'static str,
        /// Its error.
        cause: Arc<io::Error>,
    },
    /// The log was closed.
    Closed,
    /// The options cannot be used.
    InvalidOptions {
        /// Which rule they break.
        reason: String,
    },
    /// No more sequence numbers (the log reached `u64::MAX`).
    SeqExhausted,
    /// [`Wal::wait_durable`](crate::Wal::wait_durable) was asked for a record not
    /// appended yet.
    NotAppended {
        /// The sequence number asked for.
        seq: Seq,
        /// The last record appended.
        last: Seq,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, file: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            op,
            file: file.into(),
            source,
        }
    }

    pub(crate) fn corrupt(file: impl Into<String>, offset: u64, kind: Corruption) -> Error {
        Error::Corrupt {
            file: file.into(),
            offset,
            kind,
        }
    }

    /// Whether this error reports damage on disk.
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corrupt { .. })
    }
}

/// Each message names the cause a user can act on: the operation, the file and the
/// operating system's error for I/O; the file, offset and what is wrong for damage.
/// None repeats itself along [`source`](std::error::Error::source): only
/// [`Error::Poisoned`], whose message says what to do rather than what failed, has a
/// source (the failed sync's error).
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { op, file, source } => write!(f, "{op} `{file}`: {source}"),
            Error::Corrupt { file, offset, kind } => {
                write!(f, "damaged log segment `{file}` at offset {offset}: {kind}")
            }
            Error::RecordTooLarge { size, max } => write!(
                f,
                "a log record of {size} bytes cannot fit in a segment (at most {max} bytes)"
            ),
            Error::Poisoned { op, .. } => write!(
                f,
                "the log refuses writes since an earlier {op} failed; reopen it to recover"
            ),
            Error::Closed => f.write_str("the log is closed"),
            Error::InvalidOptions { reason } => write!(f, "invalid log options: {reason}"),
            Error::SeqExhausted => f.write_str("the log's sequence numbers are exhausted"),
            Error::NotAppended { seq, last } => write!(
                f,
                "cannot wait for log record {seq}: the last one appended is {last}"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Poisoned { cause, .. } => Some(&**cause),
            _ => None,
        }
    }
}

/// What recovery found wrong, with the expected and found values where there are some.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Corruption {
    /// The file is shorter than a segment header.
    ShortHeader {
        /// Bytes a header needs.
        expected: u64,
        /// Bytes the file has.
        found: u64,
    },
    /// The file does not begin with the segment magic.
    BadMagic {
        /// The bytes found.
        found: [u8; 8],
    },
    /// The segment's format version is not one this code reads.
    UnsupportedVersion {
        /// The version found.
        found: u32,
    },
    /// The header's checksum does not match its bytes.
    HeaderChecksum {
        /// The checksum stored.
        expected: u32,
        /// The checksum computed.
        found: u32,
    },
    /// The header names another segment id than the file name.
    SegmentIdMismatch {
        /// The id in the file name.
        expected: SegmentId,
        /// The id in the header.
        found: SegmentId,
    },
    /// The segment belongs to another log.
    ForeignLog {
        /// The log id of the first segment.
        expected: u64,
        /// The log id in this segment.
        found: u64,
    },
    /// Segment ids are not consecutive (a segment file is missing).
    MissingSegment {
        /// The id that should come next.
        expected: SegmentId,
        /// The id found.
        found: SegmentId,
    },
    /// A record's checksum does not match (damaged or stale bytes).
    RecordChecksum {
        /// The checksum stored.
        expected: u32,
        /// The checksum computed.
        found: u32,
    },
    /// A record's length field is impossible.
    RecordLength {
        /// The length found.
        found: u64,
        /// The most the segment allows there.
        max: u64,
    },
    /// A record's checksum matches but its contents cannot be decoded.
    RecordBody {
        /// What is wrong.
        reason: &'static str,
    },
    /// Sequence numbers do not continue by one.
    SeqGap {
        /// The sequence number expected.
        expected: Seq,
        /// The one found.
        found: Seq,
    },
    /// A damaged or zeroed record is followed by valid records, and it cannot have been
    /// lost to a power loss (a later record, or a clean close's marker, says it was
    /// durable by then): a hole, not a torn tail.
    Hole {
        /// The offset of the next valid record.
        next_valid: u64,
    },
    /// Damage in a segment that is not the last one.
    NotAtTail,
    /// The last segment ends in a torn (partly written) record, and the recovery mode is
    /// [`AbsoluteConsistency`](crate::RecoveryMode::AbsoluteConsistency).
    TornTail {
        /// How many bytes after the last valid record are not zero.
        bytes: u64,
    },
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corruption::ShortHeader { expected, found } => write!(
                f,
                "file too short for a header: expected {expected} bytes, found {found}"
            ),
            Corruption::BadMagic { found } => write!(f, "bad magic: found {found:02x?}"),
            Corruption::UnsupportedVersion { found } => write!(
                f,
                "unsupported segment format version {found} (this build reads version {} only)",
                crate::header::VERSION
            ),
            Corruption::HeaderChecksum { expected, found } => write!(
                f,
                "header checksum mismatch: stored {expected:#010x}, computed {found:#010x}"
            ),
            Corruption::SegmentIdMismatch { expected, found } => write!(
                f,
                "segment id mismatch: file name says {expected}, header says {found}"
            ),
            Corruption::ForeignLog { expected, found } => write!(
                f,
                "segment of another log: expected log id {expected:016x}, found {found:016x}"
            ),
            Corruption::MissingSegment { expected, found } => write!(
                f,
                "missing segment: expected segment {expected}, found {found}"
            ),
            Corruption::RecordChecksum { expected, found } => write!(
                f,
                "record checksum mismatch: stored {expected:#010x}, computed {found:#010x}"
            ),
            Corruption::RecordLength { found, max } => {
                write!(f, "impossible record length {found} (at most {max})")
            }
            Corruption::RecordBody { reason } => write!(f, "undecodable record: {reason}"),
            Corruption::SeqGap { expected, found } => write!(
                f,
                "sequence gap: expected sequence {expected}, found {found}"
            ),
            Corruption::Hole { next_valid } => write!(
                f,
                "damaged record followed by a valid record at offset {next_valid}"
            ),
            Corruption::NotAtTail => {
                f.write_str("damaged record in a segment that is not the last")
            }
            Corruption::TornTail { bytes } => {
                write!(f, "torn tail of {bytes} bytes after the last valid record")
            }
        }
    }
}

impl std::error::Error for Corruption {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// One error of every variant.
    fn every() -> Vec<Error> {
        vec![
            Error::io(
                "write",
                "/data/wal-00000000000000000002.log",
                io::Error::from_raw_os_error(28),
            ),
            Error::corrupt(
                "/data/wal-00000000000000000001.log",
                120,
                Corruption::RecordChecksum {
                    expected: 1,
                    found: 2,
                },
            ),
            Error::RecordTooLarge { size: 10, max: 5 },
            Error::Poisoned {
                op: "sync",
                cause: Arc::new(io::Error::from_raw_os_error(5)),
            },
            Error::Closed,
            Error::InvalidOptions {
                reason: "segment_size 1 is too small".into(),
            },
            Error::SeqExhausted,
            Error::NotAppended {
                seq: Seq(9),
                last: Seq(8),
            },
        ]
    }

    #[test]
    fn messages_name_the_cause_and_never_repeat_along_the_source_chain() {
        for e in every() {
            let mut above = vec![e.to_string()];
            let mut cur = e.source();
            while let Some(inner) = cur {
                let text = inner.to_string();
                for outer in &above {
                    assert!(!outer.contains(&text), "`{outer}` repeats `{text}`");
                }
                above.push(text);
                cur = inner.source();
            }
        }
        let [io, corrupt, ..] = &every()[..] else {
            unreachable!()
        };
        assert_eq!(
            io.to_string(),
            "write `/data/wal-00000000000000000002.log`: No space left on device (os error 28)"
        );
        let text = corrupt.to_string();
        assert!(
            text.contains("wal-00000000000000000001.log")
                && text.contains("offset 120")
                && text.contains("checksum"),
            "{text}"
        );
    }
}

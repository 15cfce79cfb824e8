//! The crate's error type: every failure names the file and, for damage, the offset and
//! what was expected against what was found.
//!
//! The `Display` of an [`Error`] is complete: it names the file, the offset and the
//! cause (an I/O error's message included), so `source()` returns nothing that the
//! message already says.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Which part of a snapshot file a [`Corruption`] was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// The fixed-size header at the start of the file.
    Header,
    /// An entry record: its 8-byte frame or its payload.
    Record,
    /// The fixed-size footer at the end of the file.
    Footer,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Header => "header",
            Part::Record => "record",
            Part::Footer => "footer",
        })
    }
}

/// What was wrong with a damaged snapshot, carried by [`Error::Corrupt`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Corruption {
    /// The header or footer does not begin with the expected magic bytes.
    BadMagic {
        /// Header or footer.
        part: Part,
        /// The magic the format prescribes.
        expected: [u8; 8],
        /// The bytes found instead.
        found: [u8; 8],
    },
    /// A stored CRC-32 does not match the bytes it covers.
    ChecksumMismatch {
        /// Header, record or footer (the footer's own checksum, or the data checksum).
        part: Part,
        /// The checksum stored in the file.
        expected: u32,
        /// The checksum computed over the bytes read.
        found: u32,
    },
    /// The file ends before a part that must be there.
    Truncated {
        /// The part that is cut short.
        part: Part,
        /// Bytes the part needs.
        needed: u64,
        /// Bytes left in the file.
        available: u64,
    },
    /// A record's length field is zero or larger than what remains of the file.
    LengthOutOfBounds {
        /// The length field as read.
        len: u64,
        /// The largest length the rest of the file could hold.
        max: u64,
    },
    /// A record's payload passed its checksum but the codec could not decode it.
    Decode {
        /// The codec's explanation.
        reason: String,
    },
    /// The header and footer disagree on the entry count.
    CountMismatch {
        /// Entry count in the header.
        header: u64,
        /// Entry count in the footer.
        footer: u64,
    },
    /// Bytes follow the footer.
    TrailingBytes {
        /// How many bytes follow the footer.
        count: u64,
    },
    /// A reserved header field is not zero.
    ReservedNotZero {
        /// The value found.
        found: u64,
    },
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corruption::BadMagic {
                part,
                expected,
                found,
            } => write!(
                f,
                "{part} magic: expected {:?}, found {:?}",
                expected.escape_ascii().to_string(),
                found.escape_ascii().to_string()
            ),
            Corruption::ChecksumMismatch {
                part,
                expected,
                found,
            } => write!(
                f,
                "{part} checksum mismatch: stored {expected:#010x}, computed {found:#010x}"
            ),
            Corruption::Truncated {
                part,
                needed,
                available,
            } => write!(
                f,
                "truncated {part}: needs {needed} bytes, {available} left in the file"
            ),
            Corruption::LengthOutOfBounds { len, max } => {
                write!(f, "record length {len} out of bounds (1..={max})")
            }
            Corruption::Decode { reason } => write!(f, "record payload does not decode: {reason}"),
            Corruption::CountMismatch { header, footer } => write!(
                f,
                "entry count mismatch: header says {header}, footer says {footer}"
            ),
            Corruption::TrailingBytes { count } => {
                write!(f, "{count} unexpected bytes after the footer")
            }
            Corruption::ReservedNotZero { found } => {
                write!(f, "reserved header field is {found:#x}, expected 0")
            }
        }
    }
}

impl std::error::Error for Corruption {}

/// Everything that can go wrong in kv-snapshot.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation failed. [`Error::is_not_found`] tells a file that is not there
    /// (removed by a concurrent writer's retention, say) from other failures.
    Io {
        /// The operation, e.g. `"fsync"` or `"rename"`.
        op: &'static str,
        /// The file or directory it was applied to.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A snapshot file is damaged.
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset in the file where the damaged part begins.
        offset: u64,
        /// What failed.
        what: Corruption,
    },
    /// The file was written by a format version this build does not know.
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version stored in the header.
        found: u16,
        /// The newest version this build reads.
        supported: u16,
    },
    /// The header names a codec this build does not know.
    UnknownCodec {
        /// The file.
        path: PathBuf,
        /// The codec id stored in the header.
        found: u16,
    },
    /// An entry is too large for one record (the record length field is 32 bits).
    EntryTooLarge {
        /// Size of the encoded entry in bytes.
        size: u64,
        /// The largest encoded entry a record can hold.
        max: u64,
    },
    /// An earlier write, fsync or rename of this writer failed; it accepts nothing more.
    WriterFailed {
        /// The temporary file of the failed writer.
        path: PathBuf,
    },
    /// This reader already returned an error; the snapshot did not verify.
    ReaderFailed {
        /// The snapshot file.
        path: PathBuf,
    },
    /// Another writer of the same [`Snapshots`](crate::Snapshots) is still open.
    WriterActive {
        /// The snapshot directory.
        dir: PathBuf,
    },
    /// A [`SnapshotOptions`](crate::SnapshotOptions) value is out of range.
    InvalidOptions {
        /// Which option and why.
        reason: &'static str,
    },
}

impl Error {
    /// The file or directory the error is about.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. }
            | Error::Corrupt { path, .. }
            | Error::UnsupportedVersion { path, .. }
            | Error::UnknownCodec { path, .. }
            | Error::WriterFailed { path }
            | Error::ReaderFailed { path } => Some(path),
            Error::WriterActive { dir } => Some(dir),
            Error::EntryTooLarge { .. } | Error::InvalidOptions { .. } => None,
        }
    }

    /// Whether the error says that the file or directory was not there: opening a
    /// snapshot that retention removed after it was listed, say. A reader of a
    /// directory a live store writes moves on to the next snapshot it listed.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    /// Whether the error says a snapshot file cannot be used as it is (damaged, or of a
    /// version or codec this build does not read), as opposed to a failure of the
    /// operation itself. A reader falls back to an older snapshot on such errors.
    pub fn is_unreadable_snapshot(&self) -> bool {
        matches!(
            self,
            Error::Corrupt { .. } | Error::UnsupportedVersion { .. } | Error::UnknownCodec { .. }
        )
    }

    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { op, path, source } => {
                write!(f, "snapshot {op} failed on {}: {source}", path.display())
            }
            Error::Corrupt { path, offset, what } => write!(
                f,
                "snapshot {} is corrupt at offset {offset}: {what}",
                path.display()
            ),
            Error::UnsupportedVersion {
                path,
                found,
                supported,
            } => write!(
                f,
                "snapshot {} has format version {found}; this build reads versions 1..={supported}",
                path.display()
            ),
            Error::UnknownCodec { path, found } => {
                write!(f, "snapshot {} uses unknown codec {found}", path.display())
            }
            Error::EntryTooLarge { size, max } => write!(
                f,
                "snapshot entry encodes to {size} bytes, more than the {max} a record holds"
            ),
            Error::WriterFailed { path } => write!(
                f,
                "snapshot writer for {} failed earlier and accepts nothing more",
                path.display()
            ),
            Error::ReaderFailed { path } => write!(
                f,
                "snapshot reader for {} failed earlier; the snapshot did not verify",
                path.display()
            ),
            Error::WriterActive { dir } => write!(
                f,
                "another snapshot writer is still open in {}",
                dir.display()
            ),
            Error::InvalidOptions { reason } => write!(f, "invalid snapshot options: {reason}"),
        }
    }
}

/// No source: the message already names the cause (an I/O error's message, or what
/// was found damaged), and a source would only repeat it.
impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn an_io_error_names_operation_file_and_cause_once() {
        let path = Path::new("/data/snapshot-00000000000000000001.snap");
        let e = Error::io("open", path, io::Error::from_raw_os_error(libc::ENOENT));
        let msg = e.to_string();
        assert_eq!(
            msg,
            "snapshot open failed on /data/snapshot-00000000000000000001.snap: \
             No such file or directory (os error 2)"
        );
        assert!(e.source().is_none(), "the cause is in the message already");
        assert!(e.is_not_found());
        let e = Error::io("fsync", path, io::Error::from_raw_os_error(libc::EIO));
        assert!(!e.is_not_found());
    }

    #[test]
    fn damage_names_file_offset_and_what_failed() {
        let e = Error::Corrupt {
            path: PathBuf::from("/data/s.snap"),
            offset: 4242,
            what: Corruption::ChecksumMismatch {
                part: Part::Record,
                expected: 1,
                found: 2,
            },
        };
        assert_eq!(
            e.to_string(),
            "snapshot /data/s.snap is corrupt at offset 4242: record checksum mismatch: \
             stored 0x00000001, computed 0x00000002"
        );
        assert!(e.source().is_none());
        assert!(e.is_unreadable_snapshot() && !e.is_not_found());
    }
}

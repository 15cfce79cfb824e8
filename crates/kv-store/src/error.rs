//! `Error`: the one error type of the facade, wrapping the layers' errors with context.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::PersistenceMode;

/// Everything that can go wrong in a [`Store`](crate::Store).
///
/// Errors of the layers below are wrapped with what the store was doing. The
/// `Display` of every variant names the cause a user can act on (the layer's own
/// message: file, offset, expected and found values for corruption, the operating
/// system's error), so printing the outermost error is enough; [`std::error::Error::source`]
/// continues below what the message already said, so no text repeats along the chain.
/// The wrapped errors stay reachable by matching on the variants.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The store was closed; no operation works on it any more.
    Closed,
    /// Another `Store` (in this process or another) has the data directory open.
    Locked {
        /// The data directory.
        dir: PathBuf,
    },
    /// An option is out of range or contradicts another one.
    InvalidOption {
        /// The option's name, as spelled by its setter on [`Options`](crate::Options).
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The operation needs a persistence mode the store does not have (for example
    /// [`Store::snapshot`](crate::Store::snapshot) on a log-only store).
    Unsupported {
        /// The operation.
        operation: &'static str,
        /// The store's persistence mode.
        mode: PersistenceMode,
    },
    /// The in-memory map refused the operation (empty or oversized key or value,
    /// store full, invalid map option).
    Core(kv_core::Error),
    /// The write-ahead log failed; the operation did not take effect.
    Wal {
        /// What the store was doing.
        context: &'static str,
        /// The log's error (file, offset and cause for corruption).
        source: kv_wal::Error,
    },
    /// Writing or reading a snapshot failed.
    Snapshot {
        /// What the store was doing.
        context: &'static str,
        /// The snapshot layer's error (file and what failed).
        source: kv_snapshot::Error,
    },
    /// The data directory's path names something that is not a directory (a regular
    /// file, for example).
    NotADirectory {
        /// The path given as data directory.
        path: PathBuf,
    },
    /// An argument is not acceptable (what is wrong is in `reason`).
    InvalidArgument {
        /// What is wrong.
        reason: String,
    },
    /// The store was opened read-only ([`Store::open_read_only`](crate::Store::open_read_only)):
    /// it refuses every write.
    ReadOnly,
    /// A file operation of the store itself (directory, lock file) failed.
    Io {
        /// What the store was doing.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// Recovery cannot rebuild the acknowledged state: the log does not reach back to
    /// the snapshot it would start from (for example every snapshot is damaged and
    /// the log was truncated after them). Opening with
    /// [`RecoveryMode::SalvageValid`](crate::RecoveryMode::SalvageValid) recovers what
    /// is there.
    LogGap {
        /// The sequence number the snapshot used covers (0: no snapshot was usable).
        snapshot_seq: u64,
        /// The first sequence number the log holds (0: no log).
        log_first_seq: u64,
        /// How many snapshots were damaged (see the `tracing` warnings for why).
        snapshots_skipped: usize,
    },
    /// The log ends before the snapshot used: continuing would reuse sequence numbers
    /// the snapshot covers. Only files changed outside kv lead here.
    LogBehindSnapshot {
        /// The sequence number the snapshot covers.
        snapshot_seq: u64,
        /// The last sequence number in the log.
        log_last_seq: u64,
    },
    /// A log record could not be applied on recovery (it names a key the map refuses
    /// under the current options, for example a key larger than `max_key_size`).
    Replay {
        /// The record's sequence number.
        seq: u64,
        /// Why it could not be applied.
        source: kv_core::Error,
    },
    /// A log record of a kind this version of kv does not know (written by a newer
    /// one).
    UnknownRecord {
        /// The record's sequence number.
        seq: u64,
    },
    /// A background worker panicked (a bug); the store keeps serving.
    WorkerPanicked {
        /// The worker's name.
        worker: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("the store is closed"),
            Self::Locked { dir } => write!(
                f,
                "data directory {} is locked: another store (in this process or another) has it open",
                dir.display()
            ),
            Self::InvalidOption { option, reason } => {
                write!(f, "invalid option `{option}`: {reason}")
            }
            Self::Unsupported { operation, mode } => {
                write!(f, "{operation} is not available with persistence mode {mode:?}")
            }
            Self::Core(e) => write!(f, "{e}"),
            Self::Wal { context, source } => write!(f, "{context}: {source}"),
            Self::Snapshot { context, source } => write!(f, "{context}: {source}"),
            Self::NotADirectory { path } => write!(
                f,
                "the data directory {} exists and is not a directory",
                path.display()
            ),
            Self::InvalidArgument { reason } => write!(f, "invalid argument: {reason}"),
            Self::ReadOnly => f.write_str("the store was opened read-only: writes are refused"),
            Self::Io { op, path, source } => {
                write!(f, "cannot {op} {}: {source}", path.display())
            }
            Self::Replay { seq, source } => write!(f, "cannot replay log record {seq}: {source}"),
            Self::LogBehindSnapshot {
                snapshot_seq,
                log_last_seq,
            } => write!(
                f,
                "the log ends at sequence {log_last_seq}, before the snapshot's {snapshot_seq}: files were changed outside kv"
            ),
            Self::LogGap {
                snapshot_seq,
                log_first_seq,
                snapshots_skipped,
            } => write!(
                f,
                "cannot recover: the usable snapshot covers up to sequence {snapshot_seq} but the log starts at {log_first_seq} ({snapshots_skipped} damaged snapshot(s) skipped); records are missing"
            ),
            Self::UnknownRecord { seq } => write!(
                f,
                "log record {seq} is of a kind this version of kv does not know (written by a newer one?)"
            ),
            Self::WorkerPanicked { worker } => write!(f, "background worker `{worker}` panicked"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Each message above already includes its cause's: continue below it.
            Self::Core(e) => e.source(),
            Self::Wal { source, .. } => source.source(),
            Self::Snapshot { source, .. } => source.source(),
            Self::Io { source, .. } => source.source(),
            Self::Replay { source, .. } => source.source(),
            _ => None,
        }
    }
}

impl From<kv_core::Error> for Error {
    fn from(e: kv_core::Error) -> Self {
        Self::Core(e)
    }
}

impl Error {
    pub(crate) fn wal(context: &'static str) -> impl FnOnce(kv_wal::Error) -> Self {
        move |source| Self::Wal { context, source }
    }

    pub(crate) fn snapshot(context: &'static str) -> impl FnOnce(kv_snapshot::Error) -> Self {
        move |source| Self::Snapshot { context, source }
    }
}

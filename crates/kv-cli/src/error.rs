//! `Error`: everything that stops a command, each with a message a person can act on.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a command failed (exit status 2).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The data directory does not exist (and the command does not create one).
    MissingDir {
        /// The directory.
        dir: PathBuf,
    },
    /// The path exists but is not a directory.
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The directory holds files but none of kv's: refusing to treat it as a store.
    ForeignDir {
        /// The directory.
        dir: PathBuf,
    },
    /// Another process (or store) has the directory open.
    Locked {
        /// The directory.
        dir: PathBuf,
    },
    /// The store failed.
    Store(kv_store::Error),
    /// Reading the write-ahead log failed.
    Wal(kv_wal::Error),
    /// Reading a snapshot failed.
    Snapshot(kv_snapshot::Error),
    /// A file operation of the tool itself failed.
    Io {
        /// What the tool was doing.
        op: &'static str,
        /// The path involved (empty for stdin and stdout).
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A line of a `kv load` input is not a valid entry.
    Input {
        /// The line number, from 1.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The directory is damaged in a way the command does not accept (use `kv repair`
    /// or `--salvage`).
    Damaged {
        /// The directory.
        dir: PathBuf,
        /// The first problem, with its file and offset.
        first: String,
        /// How many problems there are.
        count: usize,
    },
    /// The store refused a whole batch of `kv load` (each of its lines was valid).
    Refused {
        /// The batch's first input line.
        first: u64,
        /// Its last input line.
        last: u64,
        /// Why.
        source: kv_store::Error,
    },
    /// The backup path of `kv repair` already exists.
    BackupExists {
        /// The path.
        path: PathBuf,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MissingDir { dir } => write!(
                f,
                "data directory {} does not exist (give one with --dir or as DIR)",
                dir.display()
            ),
            Error::NotADirectory { path } => write!(f, "{} is not a directory", path.display()),
            Error::ForeignDir { dir } => write!(
                f,
                "{} is not a kv data directory: it holds other files and no log, snapshot \
                 or LOCK file; refusing to use it",
                dir.display()
            ),
            Error::Locked { dir } => write!(
                f,
                "data directory {} is locked: another process has the store open, and this \
                 command writes, which needs the directory to itself (stop that process and \
                 try again; get, keys, scan, ttl, exists, stats, verify and dump work beside \
                 it)",
                dir.display()
            ),
            Error::Store(e) if is_damage(e) => write!(
                f,
                "{e}\n(`kv verify DIR` lists the damage; `kv repair DIR` keeps a backup and mends it)"
            ),
            Error::Store(e) => write!(f, "{e}"),
            Error::Wal(e) => write!(f, "{e}"),
            Error::Snapshot(e) => write!(f, "{e}"),
            Error::Io { op, path, source } if path.as_os_str().is_empty() => {
                write!(f, "cannot {op}: {source}")
            }
            Error::Io { op, path, source } => {
                write!(f, "cannot {op} {}: {source}", path.display())
            }
            Error::Input { line, reason } => write!(f, "line {line}: {reason}"),
            Error::Damaged { dir, first, count } => write!(
                f,
                "{} is damaged ({count} problem(s); first: {first}); run `kv verify` for the \
                 list, `kv repair` to mend it, or add --salvage",
                dir.display()
            ),
            Error::Refused {
                first,
                last,
                source,
            } => write!(
                f,
                "the batch of input lines {first}..={last} was refused, none of it loaded: {source}"
            ),
            Error::BackupExists { path } => write!(
                f,
                "backup path {} already exists; choose another with --backup",
                path.display()
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Each message above is the wrapped error's own: continue below it.
            Error::Store(e) => e.source(),
            Error::Wal(e) => e.source(),
            Error::Snapshot(e) => e.source(),
            Error::Io { source, .. } => source.source(),
            Error::Refused { source, .. } => source.source(),
            _ => None,
        }
    }
}

impl From<kv_store::Error> for Error {
    fn from(e: kv_store::Error) -> Self {
        match e {
            kv_store::Error::Locked { dir } => Error::Locked { dir },
            e => Error::Store(e),
        }
    }
}

impl From<kv_wal::Error> for Error {
    fn from(e: kv_wal::Error) -> Self {
        Error::Wal(e)
    }
}

impl From<kv_snapshot::Error> for Error {
    fn from(e: kv_snapshot::Error) -> Self {
        Error::Snapshot(e)
    }
}

impl Error {
    /// An I/O error of the tool itself.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    /// True when the error is a closed pipe on output (`kv dump | head`): not a failure.
    pub(crate) fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// Whether the store failed on damaged or missing files (which `kv repair` mends),
/// rather than on the environment (permissions, I/O, a lock).
pub(crate) fn is_damage(e: &kv_store::Error) -> bool {
    match e {
        kv_store::Error::Wal { source, .. } => source.is_corruption(),
        kv_store::Error::Snapshot { source, .. } => source.is_unreadable_snapshot(),
        kv_store::Error::LogGap { .. }
        | kv_store::Error::LogBehindSnapshot { .. }
        | kv_store::Error::Replay { .. } => true,
        _ => false,
    }
}

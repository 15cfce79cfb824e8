//! Point-in-time snapshots for kv: a full dump of the live entries at a sequence number,
//! after which the write-ahead log below that number can go.
//!
//! A snapshot file is a checksummed header, the entries as length-prefixed records each
//! with its own CRC-32 (payloads encoded with serde and bincode 1.3.3 behind one codec
//! module), and a footer with the entry count and a checksum over all records. The
//! layout is specified byte by byte in the "Snapshots" section of `docs/format.md`.
//!
//! - **Streaming**: [`SnapshotWriter`] writes entry by entry through a chunk buffer and
//!   takes borrowed keys and values ([`EntryRef`]); [`SnapshotReader`] reads the same way,
//!   through a buffer. Both work on the caller's thread: the crate starts no thread.
//! - **Atomic**: a snapshot is written to `snapshot-<seq>.snap.tmp`, fsynced, renamed to
//!   `snapshot-<20-digit seq>.snap` and the directory fsynced; a crash leaves either the
//!   old set of snapshots or the new one. Leftover temporary files are removed; the
//!   newest N snapshots (default 2) are kept.
//! - **Untrusted on read**: magic, version, codec and every checksum are verified, every
//!   length is bounded by what remains of the file before it allocates, and a damaged
//!   file is an [`Error`] naming the file, the offset and what failed, so the caller can
//!   fall back to an older snapshot ([`Snapshots::load_latest`] does).
//! - **Expiry**: entries expired at the writer's `now` are not written; entries expired
//!   at the reader's `now` are skipped.
//! - **Access metadata**: an entry may carry its last access time, access count and LFU
//!   counter ([`Access`]), so that a store restarted from the snapshot evicts as it
//!   would have (format version 2; entries of version 1 files have none).
//! - **Read-only listing**: [`list_dir`] finds a directory's snapshots without
//!   changing anything (for inspection tools); [`SnapshotReader`] only reads.
//! - **I/O seam**: the writer's file-system steps go through an I/O trait; with cargo
//!   feature `sim`, `SimIo` injects failed fsyncs, failed renames, ENOSPC and crashes.
//!
//! kv-snapshot knows nothing of kv-wal or kv-core.
//!
//! ```
//! use kv_snapshot::{Access, EntryRef, SnapshotEntry, SnapshotOptions, Snapshots};
//! # fn main() -> Result<(), kv_snapshot::Error> {
//! # let tmp = tempfile::tempdir().unwrap();
//! let snaps = Snapshots::open(tmp.path().join("snapshots"), SnapshotOptions::default())?;
//!
//! // Write a snapshot covering sequence 42, taken at t = 1000 ms.
//! let mut writer = snaps.begin(42, 1_000)?;
//! let access = Some(Access { accessed: 990, count: 7, lfu: 3 });
//! writer.push(EntryRef { key: b"alpha", value: b"1", created: 900, updated: 950, version: 2, access, ..Default::default() })?;
//! writer.push(EntryRef { key: b"gone", value: b"x", expires_at: Some(1_000), ..Default::default() })?; // expired: skipped
//! writer.push(EntryRef { key: b"later", value: b"", expires_at: Some(5_000), ..Default::default() })?;
//! let written = writer.finish()?;
//! assert_eq!(written.header.entry_count, 2);
//!
//! // Load the newest snapshot that verifies, at t = 2000 ms.
//! let loaded = snaps.load_latest(2_000)?.expect("a snapshot");
//! assert_eq!(loaded.header.sequence.get(), 42);
//! assert_eq!(loaded.entries[0], SnapshotEntry {
//!     key: b"alpha".to_vec(), value: b"1".to_vec(), expires_at: None,
//!     created: 900, updated: 950, version: 2, access,
//! });
//! assert_eq!(loaded.entries.len(), 2);
//! assert!(loaded.rejected.is_empty());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod codec;
mod decoder;
mod entry;
mod error;
mod format;
mod io;
mod listing;
mod names;
mod options;
mod reader;
mod retention;
mod sequence;
mod snapshots;
mod writer;

#[cfg(feature = "sim")]
mod sim;

/// Entry points for fuzz targets (cargo feature `fuzzing`).
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

pub use decoder::ReadSummary;
pub use entry::{Access, EntryRef, SnapshotEntry};
pub use error::{Corruption, Error, Part};
pub use format::SnapshotHeader;
#[cfg(feature = "sim")]
pub use io::{RealIo, SnapshotIo, TempFile};
pub use listing::{list_dir, SnapshotListing};
pub use options::{SnapshotOptions, DEFAULT_BUFFER_SIZE, DEFAULT_KEEP};
pub use reader::SnapshotReader;
pub use sequence::SequenceNumber;
#[cfg(feature = "sim")]
pub use sim::{Fault, SimIo, SimOp};
pub use snapshots::{LoadedSnapshot, SnapshotFile, Snapshots};
pub use writer::{SnapshotWriter, WrittenSnapshot};

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

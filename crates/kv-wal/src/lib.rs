//! The write-ahead log of kv: checksummed records in memory-mapped segment files,
//! with group commit, torn-tail recovery and truncation.
//!
//! A log is a directory of segment files `wal-<20-digit id>.log`. Each is created
//! atomically (temporary name, blocks allocated with `fallocate`, header synced,
//! renamed, directory synced) and written through a shared memory map. A segment
//! starts at 64 KiB and grows as records arrive (allocated and synced before a record
//! goes there) up to the segment size, so a small log stays small. Every record
//! carries a sequence number (strictly increasing by one) and a caller-given
//! timestamp, and a CRC-32 seeded with the log id and segment id, so stale bytes from
//! another segment or log never validate. The byte layout is in `docs/format.md`.
//!
//! - [`Wal::open`] recovers: it finds the end of the log (the first zeroed or torn
//!   record of the last segment, or the first record a power loss dropped while later
//!   ones reached the disk), applies the [`RecoveryMode`], zero-fills a torn tail, and
//!   returns an [`OpenReport`]. Each record carries a durable mark (how far a
//!   completed sync had reached when it was appended), and a clean close writes a
//!   durable marker, so damage to bytes known durable stays an error.
//! - [`Wal::append`] is thread-safe and as durable on return as the [`SyncPolicy`]
//!   says; with [`SyncPolicy::EveryWrite`] concurrent appenders share one flush.
//!   [`Wal::append_nowait`] returns without waiting, and [`Wal::wait_durable`] waits
//!   for every record up to a sequence number with one shared flush (so many writes
//!   can be acknowledged by one fsync); [`Wal::durable_seq`] says how far it is.
//! - A failed flush poisons the writer: every later append and sync fails with
//!   [`Error::Poisoned`] until the log is reopened.
//! - [`Wal::replay_from`] reads records back with `pread`; [`Wal::truncate_through`]
//!   drops segments a snapshot covers.
//! - [`verify_dir`] and [`scan_dir`] inspect a log read-only (for tools): every
//!   problem with its file and offset, nothing on disk changed.
//!
//! With feature `sim`, the I/O seam (`Storage`, `SegmentFile`, the real `FsStorage`)
//! is public, and `SimStorage` simulates faults and crashes in memory; a log is opened
//! on a chosen storage with `WalOptions::storage`.
//!
//! ```
//! use kv_wal::{Op, OwnedOp, Seq, SyncPolicy, Wal, WalOptions};
//!
//! # fn main() -> Result<(), kv_wal::Error> {
//! let dir = std::env::temp_dir().join(format!("kv-wal-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let options = WalOptions::default()
//!     .segment_size(1 << 20)
//!     .sync(SyncPolicy::EveryWrite);
//! let (wal, report) = Wal::open(&dir, options.clone())?;
//! assert!(report.created);
//! let seq = wal.append(&Op::Put { key: b"k", value: b"v", expires_at: None }, 1_700_000_000_000)?;
//! wal.append(&Op::Delete { key: b"k" }, 1_700_000_000_001)?;
//! wal.close()?;
//! drop(wal);
//!
//! let (wal, report) = Wal::open(&dir, options)?;
//! assert_eq!(report.records, 2);
//! let records = wal.replay_from(Seq(0))?.collect::<Result<Vec<_>, _>>()?;
//! assert_eq!(records[0].seq, seq);
//! assert_eq!(records[1].op, OwnedOp::Delete { key: b"k".to_vec() });
//! # drop(wal);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(())
//! # }
//! ```
#![deny(unsafe_code)]

mod codec;
mod commit;
mod error;
mod fs;
#[cfg(any(feature = "fuzzing", test))]
pub mod fuzzing;
mod header;
mod ids;
mod inspect;
mod interval;
mod mmap;
mod op;
mod options;
mod recovery;
mod replay;
mod report;
mod scan;
mod segment;
#[cfg(any(feature = "sim", test))]
mod sim;
mod storage;
mod wal;
mod walk;

pub use error::{Corruption, Error};
pub use ids::{LogId, SegmentId, Seq};
pub use inspect::{scan_dir, verify_dir, ScanOptions, ScanVisitor, SegmentSummary, VerifyReport};
pub use op::{BatchOp, Op, OwnedBatchOp, OwnedOp, Record};
pub use options::{
    RecoveryMode, SyncPolicy, WalOptions, DEFAULT_SEGMENT_SIZE, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE,
};
pub use replay::Replay;
pub use report::{OpenReport, WalStats};
pub use scan::Damage;
pub use wal::Wal;

#[cfg(feature = "sim")]
pub use fs::FsStorage;
#[cfg(feature = "sim")]
pub use sim::{CrashMode, Fault, SimStorage};
#[cfg(feature = "sim")]
pub use storage::{SegmentFile, Storage};

/// The result type of kv-wal.
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! kv: an embedded, thread-safe, persistent key-value store.
//!
//! A [`Store`] keeps every live entry in memory (kv-core's sharded map, with TTL,
//! limits and eviction) and makes it durable with a write-ahead log (kv-wal) and
//! snapshots (kv-snapshot):
//!
//! - **Write path**: validate, append to the log (as durable as the [`SyncPolicy`]
//!   promises; concurrent writers share an fsync), then apply to memory with the
//!   record's sequence number as the entry's version. A write the log refused is never
//!   visible. Deletes, TTL changes, clears and evictions are logged too.
//! - **Recovery** on [`Store::open`]: the newest valid snapshot (falling back to an
//!   older one if it is damaged), then the log after it; a torn log tail is cut and
//!   reported ([`RecoveryReport`]). The acknowledged state comes back exactly: keys,
//!   values, expiry times, versions and timestamps.
//! - **Batches** ([`Batch`]) are one log record: all-or-nothing after a crash, and no
//!   reader sees half of one.
//! - **Background workers** expire entries and take snapshots (by interval, by the
//!   compaction threshold, by log growth; the growth triggers scale with the live
//!   data), each followed by log truncation.
//! - **One owner**: the data directory is locked (`LOCK`); files are owner-only.
//!
//! What each sync policy guarantees after a crash or a power loss is in
//! `docs/durability.md`; the files are specified in `docs/format.md`.
//!
//! ```
//! use std::time::Duration;
//! use kv_store::{Batch, Options, Store, SyncPolicy};
//!
//! # fn main() -> kv_store::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(Options::new().dir(dir.path()).sync(SyncPolicy::EveryWrite))?;
//! store.set(b"user:1", b"Alice")?;
//! store.set_with_ttl(b"session", b"token", Duration::from_secs(60))?;
//! let mut batch = Batch::new();
//! batch.put(b"user:2", b"Bob").delete(b"user:1");
//! store.apply(&batch)?;
//! store.close()?;
//!
//! // Reopening recovers exactly what was acknowledged.
//! let store = Store::open(Options::new().dir(dir.path()))?;
//! assert_eq!(store.get(b"user:2")?.as_deref(), Some(&b"Bob"[..]));
//! assert!(store.get(b"user:1")?.is_none());
//! assert!(store.exists(b"session")?);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod atomic;
mod background;
mod batch;
mod dir_lock;
mod durable;
mod error;
mod fsutil;
mod get_or_insert;
mod iter;
mod keyspace;
mod metrics;
mod ops;
mod options;
mod recovery;
mod replay;
mod report;
mod snapshotting;
mod store;
mod stripes;
mod undo;
mod workers;
mod write;

pub use batch::Batch;
pub use error::Error;
pub use iter::Iter;
pub use keyspace::{KeyspaceStats, SCAN_MAX_PARTS};
// Every type the store's signatures name, so that a user depends on kv-store alone.
pub use dir_lock::ReadLock;
pub use kv_core::{
    ByteCount, Clock, Condition, Entry, EntryInfo, Error as CoreError, EvictionCause,
    EvictionPolicy, ExpireIf, Expiry, ExpiryCause, ManualClock, MetricsSnapshot,
    Options as CacheOptions, SetOptions, SetOutcome, StoreLimit, SystemClock, Timestamp, Ttl,
    Update, Value, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_KEY_SIZE, DEFAULT_MAX_VALUE_SIZE,
};
pub use kv_wal::{RecoveryMode, SyncPolicy};
pub use metrics::Metrics;
pub use options::{
    ErrorCallback, Options, PersistenceMode, DEFAULT_CLEANUP_BUDGET, DEFAULT_CLEANUP_INTERVAL,
    DEFAULT_COMPACTION_THRESHOLD, DEFAULT_SNAPSHOTS_RETAINED, DEFAULT_SNAPSHOT_GROWTH_PERCENT,
    DEFAULT_SNAPSHOT_INTERVAL, DEFAULT_SNAPSHOT_WAL_BYTES, DEFAULT_SYNC_INTERVAL,
    DEFAULT_WRITE_STRIPES,
};
pub use replay::ReplayCounts;
pub use report::{Limits, RecoveryReport};
pub use snapshotting::SnapshotInfo;
pub use store::Store;

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! `RecoveryReport`: what opening a store found on disk and what it did about it.

use std::path::PathBuf;
use std::time::Duration;

use crate::ReplayCounts;

/// Where the store stood against its limits (`max_entries`, `max_bytes`) after
/// recovery. Recovery loads every acknowledged entry whatever the limits of the
/// options it is opened with (they may be lower than the ones the data was written
/// under: the directory does not remember them, see `docs/durability.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limits {
    /// Within the limits: nothing to do.
    #[default]
    Within,
    /// Over them; the eviction policy evicted this many entries (each eviction
    /// logged), and the store is within them now.
    Evicted {
        /// Entries evicted.
        entries: u64,
    },
    /// Over them, and nothing was evicted (`EvictionPolicy::None`, or a read-only
    /// store): the store works, but refuses new keys until deletes bring it under.
    Over {
        /// Entries held.
        entries: u64,
        /// Bytes held, as [`Options::byte_count`](crate::Options::byte_count) counts them.
        bytes: u64,
    },
}

/// What recovery did when the store was opened (all zero for an in-memory store).
///
/// Also emitted as one `tracing::info!` event (target `kv_store::recovery`) and
/// included in [`Metrics`](crate::Metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// The snapshot loaded, if any.
    pub snapshot: Option<PathBuf>,
    /// The sequence number that snapshot covers (0 when none was loaded).
    pub snapshot_seq: u64,
    /// Entries loaded from the snapshot.
    pub snapshot_entries: u64,
    /// Snapshots that failed to load (newest first), with the reason; recovery fell
    /// back to an older one.
    pub snapshots_skipped: Vec<(PathBuf, String)>,
    /// Log records replayed after the snapshot.
    pub records_replayed: u64,
    /// Those records, by kind.
    pub replayed: ReplayCounts,
    /// Bytes cut from a torn log tail (0 when the log ended cleanly).
    pub bytes_cut: u64,
    /// Where the cut began, as the log described it (empty when nothing was cut).
    pub cut_at: String,
    /// Damaged log records that the snapshot used already covers, each as `file at
    /// offset N: what`: recovery did not need them (each is also a `tracing`
    /// warning), and their segment goes at the next log truncation.
    pub covered_damage: Vec<String>,
    /// Live entries after recovery.
    pub entries: u64,
    /// Entries dropped because they had expired while the store was closed.
    pub expired_dropped: u64,
    /// Whether the recovered entries fit the limits, and what was done if not.
    pub limits: Limits,
    /// How long recovery took.
    pub duration: Duration,
}

//! `RecoveryReport`: what opening a store found on disk and what it did about it.

use std::path::PathBuf;
use std::time::Duration;

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
    /// Bytes cut from a torn log tail (0 when the log ended cleanly).
    pub bytes_cut: u64,
    /// Where the cut began, as the log described it (empty when nothing was cut).
    pub cut_at: String,
    /// Live entries after recovery.
    pub entries: u64,
    /// Entries dropped because they had expired while the store was closed.
    pub expired_dropped: u64,
    /// How long recovery took.
    pub duration: Duration,
}

//! What opening a log found ([`OpenReport`]) and what a log holds now ([`WalStats`]).

use crate::{Damage, SegmentId, Seq};

/// What [`Wal::open`](crate::Wal::open) found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenReport {
    /// Whether a new, empty log was created (no segment existed).
    pub created: bool,
    /// Segments in the log after opening.
    pub segments: usize,
    /// Valid records found.
    pub records: u64,
    /// The first record's sequence number, if any record exists.
    pub first_seq: Option<Seq>,
    /// The last record's sequence number, if any record exists.
    pub last_seq: Option<Seq>,
    /// Bytes of a torn tail discarded (zero-filled) after the last valid record. After
    /// a power-loss hole this includes the valid-looking records that followed the
    /// lost one (they were never durable).
    pub discarded_bytes: u64,
    /// Where the discarded tail started: the segment and byte offset.
    pub discarded_at: Option<(SegmentId, u64)>,
    /// Damaged ranges skipped by [`RecoveryMode::SalvageValid`](crate::RecoveryMode::SalvageValid)
    /// (whole unreadable segments have offset 0 and their file's length).
    pub damage: Vec<Damage>,
    /// Damage tolerated, whatever the mode, because every record it lost is covered
    /// by a snapshot ([`WalOptions::covered_through`](crate::WalOptions::covered_through)).
    /// The segments holding it go at the first truncation that covers them.
    pub covered_damage: Vec<Damage>,
    /// Leftover `*.log.tmp` files of an interrupted segment creation, removed.
    pub removed_temp_files: usize,
}

/// A log's shape now, from [`Wal::stats`](crate::Wal::stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalStats {
    /// Segment files in the log, the active one included.
    pub segments: usize,
    /// Bytes used in those segments (headers and records; not preallocated space).
    pub bytes: u64,
    /// Bytes allocated on disk for those segments (their files' sizes: each segment
    /// is allocated a little ahead of its records).
    pub allocated_bytes: u64,
    /// The oldest record still in the log, if any.
    pub first_seq: Option<Seq>,
    /// The newest record, if any.
    pub last_seq: Option<Seq>,
    /// Every record up to this one is known durable.
    pub durable_seq: Seq,
    /// Flushes group commit has made since the log was opened (each covers every
    /// record appended before it started): records appended with
    /// [`SyncPolicy::EveryWrite`](crate::SyncPolicy::EveryWrite) divided by this is
    /// how many records one flush covered on average.
    pub syncs: u64,
    /// Whether a failed sync poisoned the writer.
    pub poisoned: bool,
}

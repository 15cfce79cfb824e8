//! How a log is opened: segment size, sync policy, recovery mode, and (with feature
//! `sim`) the storage it lives on.

use std::sync::Arc;
use std::time::Duration;

use crate::header::HEADER_LEN;
use crate::storage::Storage;
use crate::{Error, Result, Seq};

/// When appended records reach the disk (for a store: when an acknowledged write
/// reaches stable storage; see kv's `docs/durability.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// [`Wal::append`](crate::Wal::append) returns once the record is durable: every
    /// write is on stable storage when its call returns, and nothing acknowledged is
    /// lost, even on a power loss. Concurrent appenders share one flush (group
    /// commit).
    EveryWrite,
    /// A background thread (started by the log for this policy, stopped and joined
    /// when it closes) flushes and syncs every interval. A process crash loses
    /// nothing acknowledged (the bytes are in the page cache); a power loss loses at
    /// most about one interval, and what survives is an exact prefix of the history.
    Interval(Duration),
    /// Nothing syncs on its own: only [`Wal::sync`](crate::Wal::sync), segment
    /// rotation and [`Wal::close`](crate::Wal::close) flush (and, in a store, a
    /// snapshot). A process crash loses nothing acknowledged; a power loss keeps an
    /// exact prefix of the history, of unknown length.
    Never,
}

/// What [`Wal::open`](crate::Wal::open) does with damage it finds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryMode {
    /// Any damage is an error, including a torn (partly written) last record.
    AbsoluteConsistency,
    /// A torn or zeroed tail of the last segment is the end of the log: reported,
    /// zero-filled, and appended over.
    ///
    /// Pages of unsynced records may reach the disk in any order, so a power loss
    /// during a flush (or with [`SyncPolicy::Never`] / [`SyncPolicy::Interval`]) can
    /// leave a later record durable and an earlier one not. Such a *power-loss hole*
    /// in the last segment is a torn tail too: the log is cut before the first lost
    /// record, and the records after it (never known durable) are discarded with the
    /// tail, so the log is always a prefix of what was appended and keeps every
    /// record a completed sync covered. Damage is told apart from a power-loss hole by
    /// each record's durable mark (the point a completed sync had reached when it was
    /// appended) and by the durable marker [`Wal::close`](crate::Wal::close) writes
    /// (see `docs/format.md`).
    ///
    /// Anything else (a damaged record followed by a record written after it was
    /// durable or by a clean close's marker, a sequence gap, damage in an older
    /// segment) is an error. Damage to records that nothing after them proves durable
    /// (appended after the last sync of a writer that stopped without closing) is
    /// taken for a power loss.
    #[default]
    TolerateTornTail,
    /// Keep every record that validates and skip what does not, reporting each
    /// damaged range. Sequence numbers may then have gaps. A power-loss hole in the
    /// last segment is still the end of the log, as in
    /// [`TolerateTornTail`](RecoveryMode::TolerateTornTail): the records after it were
    /// never durable, and keeping them would invent a history. A segment of another
    /// format version is refused, not skipped.
    SalvageValid,
}

/// Options for [`Wal::open`](crate::Wal::open). Build with [`WalOptions::default`] and
/// the setters, or set the public fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WalOptions {
    /// The most bytes a segment file grows to: a new one starts at 64 KiB (or this, if
    /// smaller) and grows as records arrive, each growth allocated and synced before a
    /// record goes there; a record that would not fit goes to the next segment, and
    /// one larger than this is refused. Default 64 MiB; at least 512 bytes, at most
    /// 4 GiB.
    pub segment_size: u64,
    /// When appends reach the disk. Default [`SyncPolicy::EveryWrite`].
    pub sync: SyncPolicy,
    /// What recovery tolerates. Default [`RecoveryMode::TolerateTornTail`].
    pub recovery: RecoveryMode,
    /// The sequence number of the first record of a log created by this open (ignored
    /// when a log exists). Default 1.
    pub first_seq: Seq,
    /// Records at or below this sequence number are covered by a snapshot: recovery
    /// does not need them. Damage all of whose lost records lie at or below it (the
    /// log resumes, after the damage, at a record no later than the one after it) is
    /// tolerated in every [`RecoveryMode`]: reported in
    /// [`OpenReport::covered_damage`](crate::OpenReport::covered_damage), skipped by
    /// replays, and gone once [`Wal::truncate_through`](crate::Wal::truncate_through)
    /// removes the segment holding it (a last segment holding such damage is sealed
    /// at open, so that truncation can). Damage that lost a record above it is judged
    /// by the recovery mode as always. Default `Seq(0)`: nothing is covered.
    pub covered_through: Seq,
    pub(crate) storage: Option<Arc<dyn Storage>>,
}

/// The default segment size: 64 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;
/// The smallest segment size accepted.
pub const MIN_SEGMENT_SIZE: u64 = 512;
/// The largest segment size accepted.
pub const MAX_SEGMENT_SIZE: u64 = 4 << 30;

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
            sync: SyncPolicy::EveryWrite,
            recovery: RecoveryMode::TolerateTornTail,
            first_seq: Seq(1),
            covered_through: Seq::ZERO,
            storage: None,
        }
    }
}

impl WalOptions {
    /// Sets [`WalOptions::segment_size`].
    #[must_use]
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes;
        self
    }

    /// Sets [`WalOptions::sync`].
    #[must_use]
    pub fn sync(mut self, policy: SyncPolicy) -> Self {
        self.sync = policy;
        self
    }

    /// Sets [`WalOptions::recovery`].
    #[must_use]
    pub fn recovery(mut self, mode: RecoveryMode) -> Self {
        self.recovery = mode;
        self
    }

    /// Sets [`WalOptions::first_seq`].
    #[must_use]
    pub fn first_seq(mut self, seq: Seq) -> Self {
        self.first_seq = seq;
        self
    }

    /// Sets [`WalOptions::covered_through`].
    #[must_use]
    pub fn covered_through(mut self, seq: Seq) -> Self {
        self.covered_through = seq;
        self
    }

    /// Opens the log on `storage` (the I/O seam) instead of the real file system; the
    /// directory given to [`Wal::open`](crate::Wal::open) is then only used in messages.
    #[cfg(feature = "sim")]
    #[must_use]
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = Some(storage);
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&self.segment_size) {
            return Err(Error::InvalidOptions {
                reason: format!(
                    "segment_size {} is outside {MIN_SEGMENT_SIZE}..={MAX_SEGMENT_SIZE}",
                    self.segment_size
                ),
            });
        }
        if self.segment_size <= HEADER_LEN {
            return Err(Error::InvalidOptions {
                reason: "segment_size leaves no room for records".into(),
            });
        }
        if let SyncPolicy::Interval(d) = self.sync {
            if d.is_zero() {
                return Err(Error::InvalidOptions {
                    reason: "SyncPolicy::Interval needs a non-zero interval".into(),
                });
            }
        }
        if self.first_seq == Seq::ZERO {
            return Err(Error::InvalidOptions {
                reason: "first_seq must be at least 1".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_do_not() {
        assert!(WalOptions::default().validate().is_ok());
        assert!(WalOptions::default().segment_size(10).validate().is_err());
        assert!(WalOptions::default()
            .segment_size(MAX_SEGMENT_SIZE + 1)
            .validate()
            .is_err());
        assert!(WalOptions::default()
            .sync(SyncPolicy::Interval(Duration::ZERO))
            .validate()
            .is_err());
        assert!(WalOptions::default().first_seq(Seq(0)).validate().is_err());
    }
}

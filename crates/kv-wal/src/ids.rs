//! Newtypes for the quantities the log writes to disk: sequence numbers, segment ids, log ids.

use std::fmt;

/// A record's sequence number: strictly increasing by one across the whole log.
///
/// `Seq(0)` is never given to a record, nor is [`Seq::EXHAUSTED`]; the first record of
/// a new log gets [`WalOptions::first_seq`](crate::WalOptions::first_seq) (1 by
/// default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seq(pub u64);

impl Seq {
    /// The sequence number before any record.
    pub const ZERO: Seq = Seq(0);

    /// `u64::MAX`, never given to a record: an append that would take it fails with
    /// [`Error::SeqExhausted`](crate::Error::SeqExhausted), so that every record's
    /// successor has a number, and a frame on disk carrying it is damage.
    pub const EXHAUSTED: Seq = Seq(u64::MAX);

    /// The next sequence number (saturating at `u64::MAX`).
    #[must_use]
    pub fn next(self) -> Seq {
        Seq(self.0.saturating_add(1))
    }

    /// The previous sequence number (saturating at zero).
    #[must_use]
    pub fn prev(self) -> Seq {
        Seq(self.0.saturating_sub(1))
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The number of a segment file, `wal-<id, 20 digits>.log`; consecutive segments have
/// consecutive ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentId(pub u64);

impl SegmentId {
    /// The id of the segment after this one.
    #[must_use]
    pub fn next(self) -> SegmentId {
        SegmentId(self.0.saturating_add(1))
    }

    /// The segment's file name: `wal-` and the id zero-padded to 20 digits, `.log`.
    pub fn file_name(self) -> String {
        format!("wal-{:020}.log", self.0)
    }

    /// The temporary name a segment has while it is being created.
    pub(crate) fn temp_name(self) -> String {
        format!("wal-{:020}.log.tmp", self.0)
    }

    /// Parses a segment file name written by [`SegmentId::file_name`]; `None` for any
    /// other name.
    pub fn parse_file_name(name: &str) -> Option<SegmentId> {
        let digits = name.strip_prefix("wal-")?.strip_suffix(".log")?;
        if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(SegmentId)
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A random identity chosen when a log is created and written into every segment
/// header; it seeds every record checksum, so a record copied from another log never
/// validates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogId(pub u64);

impl LogId {
    /// A fresh, practically unique id (from the process's random hasher keys, the
    /// clock and the process id; never zero).
    pub(crate) fn generate() -> LogId {
        use std::collections::hash_map::RandomState;
        use std::hash::{BuildHasher, Hasher};
        let mut h = RandomState::new().build_hasher();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        h.write_u128(now);
        h.write_u32(std::process::id());
        LogId(h.finish().max(1))
    }
}

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip_and_sort() {
        let a = SegmentId(9).file_name();
        let b = SegmentId(10).file_name();
        assert_eq!(a, "wal-00000000000000000009.log");
        assert!(a < b);
        assert_eq!(SegmentId::parse_file_name(&b), Some(SegmentId(10)));
        assert_eq!(SegmentId::parse_file_name("wal-1.log"), None);
        assert_eq!(SegmentId::parse_file_name(&SegmentId(3).temp_name()), None);
        assert_eq!(
            SegmentId::parse_file_name("wal-0000000000000000000x.log"),
            None
        );
        assert_eq!(
            SegmentId::parse_file_name(&SegmentId(u64::MAX).file_name()),
            Some(SegmentId(u64::MAX))
        );
        assert_eq!(
            SegmentId::parse_file_name("wal-99999999999999999999.log"),
            None
        );
    }

    #[test]
    fn log_ids_differ() {
        assert_ne!(LogId::generate(), LogId::generate());
    }
}

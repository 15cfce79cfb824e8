//! `SequenceNumber`: the position in the write history a snapshot covers.

use std::fmt;

/// The sequence number a snapshot covers: every change numbered up to and including it
/// is in the snapshot, so the write-ahead log below it can be dropped.
///
/// It names the file (`snapshot-<20 digits>.snap`) and orders snapshots: the newest is
/// the one with the highest sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SequenceNumber(u64);

impl SequenceNumber {
    /// Wraps a raw sequence number.
    pub const fn new(raw: u64) -> Self {
        SequenceNumber(raw)
    }

    /// The raw number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl From<u64> for SequenceNumber {
    fn from(raw: u64) -> Self {
        SequenceNumber(raw)
    }
}

impl From<SequenceNumber> for u64 {
    fn from(seq: SequenceNumber) -> Self {
        seq.0
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

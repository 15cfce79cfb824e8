//! What a caller can learn about one key: [`EntryInfo`] and [`Ttl`].

use std::time::Duration;

use crate::Timestamp;

/// The metadata of one entry, as [`Cache::info`](crate::Cache::info) and
/// [`Entry::info`](crate::Entry::info) report it.
///
/// `created`, `updated` and `last_accessed` have whole-second precision (the
/// milliseconds are zero); `expires_at` keeps milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntryInfo {
    /// When the key was first written (kept across overwrites of a live key).
    pub created: Timestamp,
    /// When the current value was written.
    pub updated: Timestamp,
    /// When the entry was last read by `get` (its write counts as the first access).
    pub last_accessed: Timestamp,
    /// How many times `get` returned the entry: exact up to 15, above that an
    /// unbiased estimate (a probabilistic counter, so that hot keys do not write a
    /// shared cache line on every read).
    pub access_count: u64,
    /// The entry's version.
    pub version: u64,
    /// Key plus value length in bytes.
    pub size: usize,
    /// When the entry expires, or `None` if never.
    pub expires_at: Option<Timestamp>,
}

/// The remaining time to live of a key, as [`Cache::ttl`](crate::Cache::ttl) reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ttl {
    /// The key is absent (or already expired).
    Missing,
    /// The key is present and never expires.
    Persistent,
    /// The key is present and expires after this long.
    Remaining(Duration),
}

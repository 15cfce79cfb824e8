//! The entries a snapshot holds: an owned `SnapshotEntry` and a borrowed `EntryRef`,
//! with the access metadata that lets a restarted cache evict as before (`Access`).

/// How an entry has been used, kept so that a store restarted from the snapshot keeps
/// its eviction order (a cache stays hot across a clean restart).
///
/// Snapshot format version 2 stores it; entries read from a version 1 file have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Access {
    /// When the entry was last read or written, ms since the Unix epoch.
    pub accessed: u64,
    /// How many times the entry has been accessed.
    pub count: u64,
    /// The LFU eviction policy's counter for the entry.
    pub lfu: u8,
}

/// One live entry of the store, as a snapshot keeps it.
///
/// Times are milliseconds since the Unix epoch, on the store's clock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotEntry {
    /// The key.
    pub key: Vec<u8>,
    /// The value (may be empty).
    pub value: Vec<u8>,
    /// Absolute expiry time in ms since the epoch; `None` never expires. An entry with
    /// `expires_at <= now` is neither written nor returned by a load at `now`.
    pub expires_at: Option<u64>,
    /// When the key was first written, ms since the epoch.
    pub created: u64,
    /// When the value was last written, ms since the epoch.
    pub updated: u64,
    /// The entry's version counter.
    pub version: u64,
    /// How the entry was used: `Some` when the writer was given it, `None` when not or
    /// when read from a format version 1 file.
    pub access: Option<Access>,
}

impl SnapshotEntry {
    /// A borrowed view of this entry, as [`SnapshotWriter::push`](crate::SnapshotWriter::push) takes it.
    pub fn as_entry_ref(&self) -> EntryRef<'_> {
        EntryRef {
            key: &self.key,
            value: &self.value,
            expires_at: self.expires_at,
            created: self.created,
            updated: self.updated,
            version: self.version,
            access: self.access,
        }
    }
}

/// A borrowed entry: what the writer takes (so the store need not copy values to
/// snapshot them) and what [`SnapshotReader::next_ref`](crate::SnapshotReader::next_ref)
/// lends (so a loader need not allocate per entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntryRef<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The value (may be empty).
    pub value: &'a [u8],
    /// Absolute expiry time in ms since the epoch; `None` never expires.
    pub expires_at: Option<u64>,
    /// When the key was first written, ms since the epoch.
    pub created: u64,
    /// When the value was last written, ms since the epoch.
    pub updated: u64,
    /// The entry's version counter.
    pub version: u64,
    /// How the entry was used: `Some` when the writer was given it, `None` when not or
    /// when read from a format version 1 file.
    pub access: Option<Access>,
}

impl EntryRef<'_> {
    /// Whether the entry has expired at `now_ms` (`expires_at <= now_ms`).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at.is_some_and(|at| at <= now_ms)
    }

    /// Copies the entry into an owned [`SnapshotEntry`].
    pub fn to_entry(&self) -> SnapshotEntry {
        SnapshotEntry {
            key: self.key.to_vec(),
            value: self.value.to_vec(),
            expires_at: self.expires_at,
            created: self.created,
            updated: self.updated,
            version: self.version,
            access: self.access,
        }
    }
}

impl<'a> From<&'a SnapshotEntry> for EntryRef<'a> {
    fn from(entry: &'a SnapshotEntry) -> Self {
        entry.as_entry_ref()
    }
}

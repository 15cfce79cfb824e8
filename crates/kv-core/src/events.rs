//! Callbacks (eviction, expiry, error) and their causes; and the buffer that holds
//! them until every shard lock is released.

use std::sync::Arc;

use crate::{Entry, Error};

/// Why an entry was evicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvictionCause {
    /// A write needed an entry slot under `Options::max_entries`.
    Entries,
    /// A write needed bytes under `Options::max_bytes`.
    Bytes,
}

/// How an expired entry was found and removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExpiryCause {
    /// A read or an update of the key found it expired (lazy expiry).
    Access,
    /// A write to the key found the old entry expired and replaced it.
    Write,
    /// [`Cache::purge_expired`](crate::Cache::purge_expired) found it.
    Purge,
}

/// Called with each evicted entry and the cause.
pub type EvictCallback = Arc<dyn Fn(&Entry, EvictionCause) + Send + Sync>;
/// Called with each expired entry the cache removes and how it was found.
pub type ExpireCallback = Arc<dyn Fn(&Entry, ExpiryCause) + Send + Sync>;
/// Called with each error a cache operation returns, just before it returns it.
pub type ErrorCallback = Arc<dyn Fn(&Error) + Send + Sync>;

/// Callbacks gathered under a lock, to be called after it is released.
#[derive(Default)]
pub(crate) struct Pending {
    pub(crate) evicted: Vec<(Entry, EvictionCause)>,
    pub(crate) expired: Vec<(Entry, ExpiryCause)>,
}

impl Pending {
    pub(crate) fn is_empty(&self) -> bool {
        self.evicted.is_empty() && self.expired.is_empty()
    }
}

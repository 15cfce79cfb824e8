//! The operations the log records: borrowed for appending, owned for replay.

use crate::Seq;

/// One logged operation, borrowing its keys and values (appends copy straight into
/// the segment, never into an intermediate buffer of the caller's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op<'a> {
    /// Set `key` to `value`, expiring at `expires_at` (ms since the Unix epoch) if any.
    Put {
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
        /// Absolute expiry, ms since the Unix epoch; `None` never expires.
        expires_at: Option<u64>,
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: &'a [u8],
    },
    /// Set or clear the expiry of `key`.
    Expire {
        /// The key.
        key: &'a [u8],
        /// The new absolute expiry (ms since the Unix epoch), or `None` to clear it.
        expires_at: Option<u64>,
    },
    /// Remove `key` only if it still has `version` (an eviction).
    Evict {
        /// The key.
        key: &'a [u8],
        /// The version the evicted entry had.
        version: u64,
    },
    /// Remove every key.
    Clear,
    /// Puts and deletes applied together or not at all.
    Batch(&'a [BatchOp<'a>]),
}

/// One operation inside an [`Op::Batch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchOp<'a> {
    /// As [`Op::Put`].
    Put {
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
        /// Absolute expiry, ms since the Unix epoch.
        expires_at: Option<u64>,
    },
    /// As [`Op::Delete`].
    Delete {
        /// The key.
        key: &'a [u8],
    },
}

/// An owned [`Op`], as replay yields it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OwnedOp {
    /// See [`Op::Put`].
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// Absolute expiry, ms since the Unix epoch.
        expires_at: Option<u64>,
    },
    /// See [`Op::Delete`].
    Delete {
        /// The key.
        key: Vec<u8>,
    },
    /// See [`Op::Expire`].
    Expire {
        /// The key.
        key: Vec<u8>,
        /// The new expiry, or `None` to clear it.
        expires_at: Option<u64>,
    },
    /// See [`Op::Evict`].
    Evict {
        /// The key.
        key: Vec<u8>,
        /// The version the evicted entry had.
        version: u64,
    },
    /// See [`Op::Clear`].
    Clear,
    /// See [`Op::Batch`].
    Batch(Vec<OwnedBatchOp>),
}

/// An owned [`BatchOp`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OwnedBatchOp {
    /// See [`BatchOp::Put`].
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// Absolute expiry, ms since the Unix epoch.
        expires_at: Option<u64>,
    },
    /// See [`BatchOp::Delete`].
    Delete {
        /// The key.
        key: Vec<u8>,
    },
}

/// A record read back from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Its sequence number.
    pub seq: Seq,
    /// The write time the appender gave, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// The operation.
    pub op: OwnedOp,
}

impl Op<'_> {
    /// An owned copy.
    pub fn to_owned_op(&self) -> OwnedOp {
        match *self {
            Op::Put {
                key,
                value,
                expires_at,
            } => OwnedOp::Put {
                key: key.to_vec(),
                value: value.to_vec(),
                expires_at,
            },
            Op::Delete { key } => OwnedOp::Delete { key: key.to_vec() },
            Op::Expire { key, expires_at } => OwnedOp::Expire {
                key: key.to_vec(),
                expires_at,
            },
            Op::Evict { key, version } => OwnedOp::Evict {
                key: key.to_vec(),
                version,
            },
            Op::Clear => OwnedOp::Clear,
            Op::Batch(ops) => OwnedOp::Batch(ops.iter().map(BatchOp::to_owned_op).collect()),
        }
    }
}

impl BatchOp<'_> {
    /// An owned copy.
    pub fn to_owned_op(&self) -> OwnedBatchOp {
        match *self {
            BatchOp::Put {
                key,
                value,
                expires_at,
            } => OwnedBatchOp::Put {
                key: key.to_vec(),
                value: value.to_vec(),
                expires_at,
            },
            BatchOp::Delete { key } => OwnedBatchOp::Delete { key: key.to_vec() },
        }
    }
}

impl OwnedBatchOp {
    /// A borrowed view, for appending.
    pub fn as_batch_op(&self) -> BatchOp<'_> {
        match self {
            OwnedBatchOp::Put {
                key,
                value,
                expires_at,
            } => BatchOp::Put {
                key,
                value,
                expires_at: *expires_at,
            },
            OwnedBatchOp::Delete { key } => BatchOp::Delete { key },
        }
    }
}

impl OwnedOp {
    /// A borrowed view, for appending. A batch needs its operations as a slice of
    /// [`BatchOp`]: `scratch` receives them.
    pub fn as_op<'a>(&'a self, scratch: &'a mut Vec<BatchOp<'a>>) -> Op<'a> {
        match self {
            OwnedOp::Put {
                key,
                value,
                expires_at,
            } => Op::Put {
                key,
                value,
                expires_at: *expires_at,
            },
            OwnedOp::Delete { key } => Op::Delete { key },
            OwnedOp::Expire { key, expires_at } => Op::Expire {
                key,
                expires_at: *expires_at,
            },
            OwnedOp::Evict { key, version } => Op::Evict {
                key,
                version: *version,
            },
            OwnedOp::Clear => Op::Clear,
            OwnedOp::Batch(ops) => {
                scratch.clear();
                scratch.extend(ops.iter().map(OwnedBatchOp::as_batch_op));
                Op::Batch(scratch)
            }
        }
    }
}

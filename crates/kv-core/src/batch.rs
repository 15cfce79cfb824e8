//! Batches: [`BatchOp`] and [`BatchOutcome`] (applied by
//! [`Cache::apply_batch`](crate::Cache::apply_batch)).

use crate::write::Write;
use crate::Entry;

/// One operation of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchOp<'a> {
    /// Store `value` under `key` with the given metadata.
    Put {
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
        /// Expiry, version and times, as for [`Hooks::insert`](crate::Hooks::insert).
        write: Write,
    },
    /// Remove `key` if present.
    Delete {
        /// The key.
        key: &'a [u8],
    },
}

impl<'a> BatchOp<'a> {
    /// A put with default metadata.
    pub fn put(key: &'a [u8], value: &'a [u8]) -> Self {
        BatchOp::Put {
            key,
            value,
            write: Write::default(),
        }
    }

    /// A delete.
    pub fn delete(key: &'a [u8]) -> Self {
        BatchOp::Delete { key }
    }

    /// The key the operation is about.
    pub fn key(&self) -> &'a [u8] {
        match self {
            BatchOp::Put { key, .. } | BatchOp::Delete { key } => key,
        }
    }
}

/// What a successful batch did.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct BatchOutcome {
    /// The version each put got, in the order of the puts.
    pub versions: Vec<u64>,
    /// How many deletes removed an entry.
    pub deleted: usize,
    /// Entries evicted to make room for the batch (never one of its keys).
    pub evicted: Vec<Entry>,
}

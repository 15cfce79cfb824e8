//! `Batch`: puts and deletes applied atomically (one log record, all-or-nothing after
//! a crash, and no reader sees half of it).

use std::time::Duration;

use kv_core::Timestamp;
use kv_wal::{BatchOp, Op};

use crate::{Result, Store};

/// When a put in a batch expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    Never,
    At(Timestamp),
    /// Relative to the moment the batch is applied.
    In(Duration),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        expiry: Expiry,
    },
    Delete {
        key: Vec<u8>,
    },
}

/// A list of puts and deletes that [`Store::apply`] applies atomically, in order (a
/// later operation on the same key wins).
///
/// ```
/// # fn main() -> kv_store::Result<()> {
/// let store = kv_store::Store::in_memory()?;
/// let mut batch = kv_store::Batch::new();
/// batch.put(b"a", b"1").put(b"b", b"2").delete(b"c");
/// store.apply(&batch)?;
/// assert_eq!(store.get(b"b")?.as_deref(), Some(&b"2"[..]));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    entries: Vec<Entry>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put with no expiry.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> &mut Self {
        self.push_put(key, value, Expiry::Never)
    }

    /// Adds a put that expires `ttl` after the batch is applied.
    pub fn put_with_ttl(&mut self, key: &[u8], value: &[u8], ttl: Duration) -> &mut Self {
        self.push_put(key, value, Expiry::In(ttl))
    }

    /// Adds a put that expires at the absolute time `at`.
    pub fn put_with_expiry(&mut self, key: &[u8], value: &[u8], at: Timestamp) -> &mut Self {
        self.push_put(key, value, Expiry::At(at))
    }

    /// Adds a delete.
    pub fn delete(&mut self, key: &[u8]) -> &mut Self {
        self.entries.push(Entry::Delete { key: key.to_vec() });
        self
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn push_put(&mut self, key: &[u8], value: &[u8], expiry: Expiry) -> &mut Self {
        self.entries.push(Entry::Put {
            key: key.to_vec(),
            value: value.to_vec(),
            expiry,
        });
        self
    }

    fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.entries.iter().map(|e| match e {
            Entry::Put { key, .. } | Entry::Delete { key } => key.as_slice(),
        })
    }
}

impl Store {
    /// Applies every operation of `batch` atomically: one log record, so after a crash
    /// either all of it or none of it is there, and readers never observe part of it.
    /// Every operation is validated first; an invalid one fails the whole batch with
    /// nothing changed.
    pub fn apply(&self, batch: &Batch) -> Result<()> {
        let inner = self.inner();
        inner.check_open()?;
        if batch.is_empty() {
            return Ok(());
        }
        for e in &batch.entries {
            match e {
                Entry::Put { key, value, .. } => inner.check_entry(key, value)?,
                Entry::Delete { key } => inner.check_key(key)?,
            }
        }
        let now = inner.opts.clock.now();
        let expiry = |x: Expiry| match x {
            Expiry::Never => None,
            Expiry::At(t) => Some(t),
            Expiry::In(d) => Some(now.saturating_add(d)),
        };
        let ops: Vec<BatchOp<'_>> = batch
            .entries
            .iter()
            .map(|e| match e {
                Entry::Put {
                    key,
                    value,
                    expiry: x,
                } => BatchOp::Put {
                    key,
                    value,
                    expires_at: expiry(*x).map(Timestamp::as_millis),
                },
                Entry::Delete { key } => BatchOp::Delete { key },
            })
            .collect();
        let deletes = ops
            .iter()
            .filter(|op| matches!(op, BatchOp::Delete { .. }))
            .count() as u64;
        let _stripes = inner.stripes.lock_many(batch.keys());
        inner.log_and_apply(&Op::Batch(&ops), |stamp| {
            match inner.apply_batch_to_cache(&ops, stamp) {
                Ok(evicted) => Ok(((), evicted)),
                Err(e) => {
                    let keys: Vec<&[u8]> = batch.keys().collect();
                    inner.compensate(&keys, stamp)?;
                    Err(e)
                }
            }
        })?;
        if deletes > 0 {
            inner.count_delete(deletes);
        }
        Ok(())
    }
}

//! `Batch`: puts and deletes applied atomically (one log record, all-or-nothing after
//! a crash, and no reader sees half of it).

use std::ops::Range;
use std::time::Duration;

use kv_core::Timestamp;
use kv_wal::{BatchOp, Op};

use crate::store::Inner;
use crate::{Result, Store};

/// When a put in a batch expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    Never,
    At(Timestamp),
    /// Relative to the moment the batch is applied.
    In(Duration),
}

/// One operation; its key (and a put's value) live in the batch's byte buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    key: Range<usize>,
    /// `Some` for a put.
    put: Option<(Range<usize>, Expiry)>,
}

/// A list of puts and deletes that [`Store::apply`] applies atomically, in order (a
/// later operation on the same key wins).
///
/// Keys and values are copied once, into one buffer the batch owns (no allocation
/// per operation), and go from there straight into the log record and the map.
/// [`Batch::clear`] empties a batch and keeps its memory, so one batch can be filled
/// and applied again and again.
///
/// ```
/// # fn main() -> kv_store::Result<()> {
/// let store = kv_store::Store::in_memory()?;
/// let mut batch = kv_store::Batch::with_capacity(2, 64);
/// batch.put(b"a", b"1").put(b"b", b"2").delete(b"c");
/// store.apply(&batch)?;
/// assert_eq!(store.get(b"b")?.as_deref(), Some(&b"2"[..]));
/// batch.clear();
/// batch.delete(b"a");
/// store.apply(&batch)?;
/// assert!(store.get(b"a")?.is_none());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    bytes: Vec<u8>,
    ops: Vec<Item>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `ops` operations and `bytes` bytes of keys and
    /// values before it allocates.
    pub fn with_capacity(ops: usize, bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            ops: Vec::with_capacity(ops),
        }
    }

    /// Adds a put with no expiry.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> &mut Self {
        self.push(key, Some((value, Expiry::Never)))
    }

    /// Adds a put that expires `ttl` after the batch is applied (a zero `ttl` makes
    /// [`Store::apply`] fail, as a zero TTL does everywhere).
    pub fn put_with_ttl(&mut self, key: &[u8], value: &[u8], ttl: Duration) -> &mut Self {
        self.push(key, Some((value, Expiry::In(ttl))))
    }

    /// Adds a put that expires at the absolute time `at`.
    pub fn put_with_expiry(&mut self, key: &[u8], value: &[u8], at: Timestamp) -> &mut Self {
        self.push(key, Some((value, Expiry::At(at))))
    }

    /// Adds a delete.
    pub fn delete(&mut self, key: &[u8]) -> &mut Self {
        self.push(key, None)
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True if the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Removes every operation, keeping the memory for the next ones.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ops.clear();
    }

    fn push(&mut self, key: &[u8], put: Option<(&[u8], Expiry)>) -> &mut Self {
        let key = self.keep(key);
        let put = put.map(|(value, expiry)| (self.keep(value), expiry));
        self.ops.push(Item { key, put });
        self
    }

    /// Copies `bytes` into the buffer.
    fn keep(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }

    /// The keys of the operations, in order (a key may repeat).
    pub(crate) fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.ops.iter().map(|op| &self.bytes[op.key.clone()])
    }
}

impl Store {
    /// Applies every operation of `batch` atomically: one log record, so after a crash
    /// either all of it or none of it is there, and readers never observe part of it.
    /// Every operation is validated first; an invalid one fails the whole batch with
    /// nothing changed.
    pub fn apply(&self, batch: &Batch) -> Result<()> {
        let inner = self.inner();
        inner.check_write()?;
        if batch.is_empty() {
            return Ok(());
        }
        let _stripes = inner.stripes.lock_many(batch.keys());
        inner.apply_locked(batch)
    }
}

impl Inner {
    /// Validates, logs and applies `batch`; the caller holds the stripes of its keys.
    pub(crate) fn apply_locked(&self, batch: &Batch) -> Result<()> {
        let mut ops: Vec<BatchOp<'_>> = Vec::with_capacity(batch.ops.len());
        for op in &batch.ops {
            let key = &batch.bytes[op.key.clone()];
            ops.push(match &op.put {
                Some((value, expiry)) => {
                    let value = &batch.bytes[value.clone()];
                    self.check_entry(key, value)?;
                    let at = match *expiry {
                        Expiry::Never => None,
                        Expiry::At(t) => Some(t),
                        Expiry::In(d) => Some(self.expiry_after(d)?),
                    };
                    BatchOp::Put {
                        key,
                        value,
                        expires_at: at.map(Timestamp::as_millis),
                    }
                }
                None => {
                    self.check_key(key)?;
                    BatchOp::Delete { key }
                }
            });
        }
        let deletes = ops
            .iter()
            .filter(|op| matches!(op, BatchOp::Delete { .. }))
            .count() as u64;
        self.log_and_apply(&Op::Batch(&ops), |stamp| {
            match self.apply_batch_to_cache(&ops, stamp) {
                Ok(evicted) => Ok(((), evicted)),
                Err(e) => {
                    let keys: Vec<&[u8]> = batch.keys().collect();
                    self.compensate(&keys, stamp)?;
                    Err(e)
                }
            }
        })?;
        if deletes > 0 {
            self.count_delete(deletes);
        }
        Ok(())
    }
}

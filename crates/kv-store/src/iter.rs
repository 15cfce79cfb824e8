//! Iteration: weakly consistent, one shard at a time, no lock held while the caller's
//! code runs.

use kv_core::{Entry, Value};

use crate::store::Inner;
use crate::{Result, Store};

/// An iterator over a store's live entries, yielding `(key, value)`.
///
/// It copies one shard's entry handles (reference counts, not bytes) under that
/// shard's read lock, releases it, and then yields them: the caller's code never runs
/// under a lock, and may use the store (even write to it) while iterating. Weakly
/// consistent: an entry written or deleted during the iteration may or may not be
/// seen; expired entries are skipped.
pub struct Iter<'a> {
    inner: &'a Inner,
    next_shard: usize,
    buf: std::vec::IntoIter<Entry>,
}

impl Iterator for Iter<'_> {
    type Item = (Vec<u8>, Value);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let now = self.inner.opts.clock.now();
            for e in self.buf.by_ref() {
                if !e.is_expired_at(now) {
                    return Some((e.key().to_vec(), e.value()));
                }
            }
            if self.next_shard >= self.inner.cache.hooks().shard_count() {
                return None;
            }
            self.buf = self
                .inner
                .cache
                .hooks()
                .shard_entries(self.next_shard)
                .into_iter();
            self.next_shard += 1;
        }
    }
}

impl std::fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter")
            .field("next_shard", &self.next_shard)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Iterates over the live entries (see [`Iter`] for the consistency it offers).
    pub fn iter(&self) -> Result<Iter<'_>> {
        let inner = self.inner();
        inner.check_open()?;
        Ok(Iter {
            inner,
            next_shard: 0,
            buf: Vec::new().into_iter(),
        })
    }

    /// The live keys, collected (a convenience over [`Store::iter`]).
    pub fn keys(&self) -> Result<Vec<Vec<u8>>> {
        Ok(self.iter()?.map(|(k, _)| k).collect())
    }
}

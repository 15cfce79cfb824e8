//! Weakly consistent iteration: one shard at a time, entries copied out as handles
//! under the shard's read lock, then yielded with no lock held.

use crate::entry::header;
use crate::{Cache, Entry};

impl Cache {
    /// How many shards the cache has.
    pub(crate) fn shard_count(&self) -> usize {
        self.inner.shards.len()
    }

    /// The live entries of shard `shard` (none if out of range), copied out as
    /// handles under the shard's read lock.
    pub(crate) fn shard_entries(&self, shard: usize) -> Vec<Entry> {
        let Some(s) = self.inner.shards.get(shard) else {
            return Vec::new();
        };
        let now = self.now();
        let st = s.read();
        st.iter()
            .filter(|r| !header(r).is_expired(now))
            .map(|r| Entry::new(r.clone()))
            .collect()
    }

    /// Every live entry, shard by shard. Weakly consistent: an entry present for the
    /// whole iteration is yielded exactly once; one written or removed meanwhile may
    /// or may not be. No lock is held while the caller's code runs.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            cache: self,
            next_shard: 0,
            buffered: Vec::new().into_iter(),
        }
    }
}

/// Iterator over a cache's live entries; see [`Cache::iter`].
#[derive(Debug)]
pub struct Iter<'a> {
    cache: &'a Cache,
    next_shard: usize,
    buffered: std::vec::IntoIter<Entry>,
}

impl Iterator for Iter<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        loop {
            if let Some(e) = self.buffered.next() {
                return Some(e);
            }
            if self.next_shard >= self.cache.shard_count() {
                return None;
            }
            self.buffered = self.cache.shard_entries(self.next_shard).into_iter();
            self.next_shard += 1;
        }
    }
}

impl<'a> IntoIterator for &'a Cache {
    type Item = Entry;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

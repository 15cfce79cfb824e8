//! One shard: a dense vector of entries (so that sampling picks an entry in O(1))
//! and a hash index of positions into it, behind one reader-writer lock.

use std::sync::atomic::AtomicUsize;

use crossbeam_utils::CachePadded;
use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::entry::{key_of, Raw};
use crate::flight::Flight;
use crate::hash::KeyHasher;
use crate::index::Index;

/// A shard: its lock-protected state and the side tables that live outside the lock.
#[derive(Default)]
pub(crate) struct Shard {
    state: RwLock<ShardState>,
    /// Where the next `purge_expired` pass resumes in `entries`.
    pub(crate) purge_cursor: AtomicUsize,
    /// `get_or_insert_with` computations in flight for keys of this shard (on its own
    /// cache line: locking it must not disturb readers of `state`).
    pub(crate) flights: CachePadded<Mutex<Vec<std::sync::Arc<Flight>>>>,
}

/// A shard's state, locked shared.
pub(crate) type ReadGuard<'a> = RwLockReadGuard<'a, ShardState>;
/// A shard's state, locked exclusive.
pub(crate) type WriteGuard<'a> = RwLockWriteGuard<'a, ShardState>;

impl Shard {
    /// Locks the state shared (reads).
    #[inline]
    pub(crate) fn read(&self) -> ReadGuard<'_> {
        self.state.read()
    }

    /// Locks the state exclusive (writes).
    pub(crate) fn write(&self) -> WriteGuard<'_> {
        self.state.write()
    }
}

/// The entries of one shard.
#[derive(Default)]
pub(crate) struct ShardState {
    /// Every entry of the shard, in no particular order.
    pub(crate) entries: Vec<Raw>,
    /// Positions in `entries`, found by the key's hash.
    index: Index,
    /// The highest version written in this shard; automatic versions go above it.
    pub(crate) max_version: u64,
    /// Eviction candidates kept from earlier samples (see `eviction.rs`).
    pub(crate) pool: Vec<Raw>,
    /// Scratch space for scoring eviction candidates (kept to save an allocation).
    pub(crate) scratch: Vec<(u128, Raw)>,
}

impl ShardState {
    /// Position of `key`'s entry.
    #[inline]
    pub(crate) fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find(hash, |pos| key_of(&entries[pos]) == key)
            .map(|(_, pos)| pos)
    }

    /// Adds an entry for a key that is not present; returns its position.
    pub(crate) fn push(&mut self, hasher: &KeyHasher, hash: u64, raw: Raw) -> usize {
        let pos = self.entries.len();
        if pos == self.entries.capacity() {
            // Grow by an eighth, not double: amortized O(1) still, but the spare slots
            // average 6% instead of 50% (memory per entry is a target).
            self.entries.reserve_exact((pos / 8).max(16));
        }
        self.entries.push(raw);
        let entries = &self.entries;
        self.index
            .insert(hash, pos, |p| hasher.hash(key_of(&entries[p])));
        pos
    }

    /// Puts `raw` at `pos` (same key) and returns what was there.
    pub(crate) fn replace(&mut self, pos: usize, raw: Raw) -> Raw {
        std::mem::replace(&mut self.entries[pos], raw)
    }

    /// Removes the entry at `pos`, whose key hashes to `hash`.
    pub(crate) fn remove_at(&mut self, hasher: &KeyHasher, hash: u64, pos: usize) -> Raw {
        if let Some((slot, _)) = self.index.find(hash, |p| p == pos) {
            self.index.remove(slot);
        }
        let raw = self.entries.swap_remove(pos);
        if pos < self.entries.len() {
            // The last entry moved into `pos`: repoint its index slot.
            let moved_from = self.entries.len();
            let moved_hash = hasher.hash(key_of(&self.entries[pos]));
            if let Some((slot, _)) = self.index.find(moved_hash, |p| p == moved_from) {
                self.index.set_pos(slot, pos);
            }
        }
        raw
    }

    /// Removes every entry and returns them.
    pub(crate) fn take_all(&mut self) -> Vec<Raw> {
        self.index.clear();
        self.pool.clear();
        std::mem::take(&mut self.entries)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::new_raw;
    use crate::header::Header;
    use crate::Timestamp;

    fn raw(key: &[u8]) -> Raw {
        let t = Timestamp::EPOCH;
        new_raw(Header::new(key.len(), 1, t, t, None, t), key, b"v")
    }

    #[test]
    fn positions_stay_right_through_swap_removes() {
        let h = KeyHasher::default();
        let mut s = ShardState::default();
        let keys: Vec<Vec<u8>> = (0..200u32).map(|i| i.to_le_bytes().to_vec()).collect();
        for k in &keys {
            s.push(&h, h.hash(k), raw(k));
        }
        // Remove every third key, from the front, so the last entry keeps moving.
        for k in keys.iter().step_by(3) {
            let pos = s.find(h.hash(k), k).unwrap();
            let gone = s.remove_at(&h, h.hash(k), pos);
            assert_eq!(key_of(&gone), &k[..]);
        }
        for (i, k) in keys.iter().enumerate() {
            let found = s.find(h.hash(k), k);
            if i % 3 == 0 {
                assert_eq!(found, None);
            } else {
                assert_eq!(key_of(&s.entries[found.unwrap()]), &k[..]);
            }
        }
        assert_eq!(s.len(), 200 - 67);
        assert_eq!(s.take_all().len(), 133);
        assert_eq!(s.find(h.hash(&keys[1]), &keys[1]), None);
    }
}

//! Write stripes: writes to one key are serialized so the log and memory see them in
//! the same order.

use std::hash::BuildHasher;

use parking_lot::{Mutex, MutexGuard};

/// A fixed array of mutexes indexed by a hash of the key.
///
/// A writer holds its key's stripe from the log append through the memory apply, so
/// two writes to the same key reach memory in log order. Batches and `clear` lock
/// several (or all) stripes, always in index order, so they cannot deadlock with each
/// other.
pub(crate) struct Stripes {
    locks: Box<[Mutex<()>]>,
    mask: usize,
    hasher: foldhash::fast::RandomState,
}

impl Stripes {
    /// `count` must be a power of two (checked by option validation).
    pub(crate) fn new(count: usize) -> Self {
        let count = count.max(1).next_power_of_two();
        Self {
            locks: (0..count).map(|_| Mutex::new(())).collect(),
            mask: count - 1,
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    pub(crate) fn index(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) as usize) & self.mask
    }

    /// Locks the stripe of `key`.
    pub(crate) fn lock(&self, key: &[u8]) -> MutexGuard<'_, ()> {
        self.locks[self.index(key)].lock()
    }

    /// Locks the stripes of all `keys`, each once, in index order.
    pub(crate) fn lock_many<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k [u8]>,
    ) -> Vec<MutexGuard<'_, ()>> {
        let mut idx: Vec<usize> = keys.into_iter().map(|k| self.index(k)).collect();
        idx.sort_unstable();
        idx.dedup();
        idx.into_iter().map(|i| self.locks[i].lock()).collect()
    }

    /// Locks every stripe, in index order.
    pub(crate) fn lock_all(&self) -> Vec<MutexGuard<'_, ()>> {
        self.locks.iter().map(|m| m.lock()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_key_always_maps_to_the_same_stripe() {
        let s = Stripes::new(64);
        assert_eq!(s.index(b"k"), s.index(b"k"));
        assert!(s.index(b"anything") < 64);
    }

    #[test]
    fn lock_many_takes_each_stripe_once() {
        let s = Stripes::new(1);
        // Two keys in the single stripe: locking it twice would deadlock.
        let guards = s.lock_many([&b"a"[..], &b"b"[..]]);
        assert_eq!(guards.len(), 1);
    }

    #[test]
    fn a_held_stripe_blocks_another_writer_of_that_key() {
        let s = Stripes::new(16);
        let g = s.lock(b"k");
        assert!(s.locks[s.index(b"k")].try_lock().is_none());
        drop(g);
        assert!(s.locks[s.index(b"k")].try_lock().is_some());
    }
}

//! One shard: a table of entries (see `table.rs`) and eviction candidates, behind one
//! reader-writer lock.

use std::sync::atomic::AtomicUsize;

use crossbeam_utils::CachePadded;
use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::entry::{has_key, header, key_of, value_of, with_header_mut, Raw};
use crate::hash::KeyHasher;
use crate::single_flight::Flight;
use crate::table::Table;
use crate::write::Write;
use crate::Timestamp;

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
    /// The entries, by key hash.
    table: Table,
    /// The highest version written in this shard; automatic versions go above it.
    pub(crate) max_version: u64,
    /// Eviction candidates kept from earlier samples (see `eviction.rs`).
    pub(crate) pool: Vec<Raw>,
    /// Scratch space for scoring eviction candidates (kept to save an allocation).
    pub(crate) scratch: Vec<(u128, Option<Raw>, usize)>,
    /// Scratch space for the positions an eviction samples.
    pub(crate) sampled: Vec<usize>,
    /// The shard's logical clock for recency within a second: it moves once per
    /// writes numbering a 32nd of the shard's entries, so an entry's tick (set by its
    /// write and by reads) orders accesses finely enough for LRU, a hot key's header
    /// is rewritten by reads only once per tick, and reads of a shard nobody writes
    /// write nothing. Its 8 bits wrap after 8 shard populations of writes.
    pub(crate) tick: u8,
    /// Writes since `tick` last moved.
    tick_writes: usize,
}

impl ShardState {
    /// Position of `key`'s entry.
    #[inline]
    pub(crate) fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        self.table.find(hash, |raw| has_key(raw, key))
    }

    /// `key`'s entry, with its position.
    #[inline]
    pub(crate) fn find_entry(&self, hash: u64, key: &[u8]) -> Option<(usize, &Raw)> {
        self.table.find_entry(hash, |raw| has_key(raw, key))
    }

    /// `key`'s entry.
    #[inline]
    pub(crate) fn get(&self, hash: u64, key: &[u8]) -> Option<&Raw> {
        self.table
            .find_entry(hash, |raw| has_key(raw, key))
            .map(|(_, raw)| raw)
    }

    /// The entry at `pos`, a position [`find`](Self::find) or sampling returned
    /// under the same lock.
    #[inline]
    pub(crate) fn at(&self, pos: usize) -> &Raw {
        self.table
            .slot(pos)
            .expect("a position from find holds an entry")
    }

    /// The entry at `pos`, if that slot holds one (for sampling).
    pub(crate) fn slot(&self, pos: usize) -> Option<&Raw> {
        self.table.slot(pos)
    }

    /// Number of slots: positions run from 0 to this.
    pub(crate) fn slot_count(&self) -> usize {
        self.table.slot_count()
    }

    /// The entries, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Raw> {
        self.table.iter()
    }

    /// Adds an entry for a key that is not present; returns its position.
    pub(crate) fn push(&mut self, hasher: &KeyHasher, hash: u64, raw: Raw) -> usize {
        self.table.insert(hash, raw, |r| hasher.hash(key_of(r)))
    }

    /// Makes room for `additional` more entries (see [`Table::reserve`]).
    pub(crate) fn reserve(&mut self, hasher: &KeyHasher, additional: usize) {
        self.table.reserve(additional, |r| hasher.hash(key_of(r)));
    }

    /// Puts `raw` at `pos` (same key) and returns what was there.
    pub(crate) fn replace(&mut self, pos: usize, raw: Raw) -> Raw {
        self.table
            .replace(pos, raw)
            .expect("a position from find holds an entry")
    }

    /// Removes the entry at `pos` and returns it. Positions found earlier are void
    /// afterwards (the table may shrink).
    pub(crate) fn remove_at(&mut self, hasher: &KeyHasher, pos: usize) -> Raw {
        self.table
            .remove(pos, |r| hasher.hash(key_of(r)))
            .expect("a position from find holds an entry")
    }

    /// Removes every entry and returns them.
    pub(crate) fn take_all(&mut self) -> Vec<Raw> {
        self.pool.clear();
        self.table.take_all()
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// The entry a put of `key` and `value` stores, its metadata from `write` (what it
    /// leaves unset: the next version of the shard, an update time of `now`, the
    /// creation time of the entry at `found` or else the update time), stamped with
    /// the shard's tick.
    pub(crate) fn new_entry(
        &mut self,
        found: Option<usize>,
        key: &[u8],
        value: &[u8],
        write: &Write,
        now: Timestamp,
    ) -> Raw {
        let mut raw = write.prebuild(key, value, now);
        self.finish_entry(&mut raw, found, write, now);
        raw
    }

    /// Finishes `raw`, built outside the lock by [`Write::prebuild`] for a put: the
    /// same metadata as [`new_entry`](Self::new_entry) gives.
    pub(crate) fn finish_entry(
        &mut self,
        raw: &mut Raw,
        found: Option<usize>,
        write: &Write,
        now: Timestamp,
    ) {
        let (version, created, updated) = self.identity(found, write, now);
        with_header_mut(raw, |h| h.set_identity(version, created, updated));
        header(raw).set_tick(self.count_write());
    }

    /// Rewrites the entry at `pos` in place as a put of `value` with this metadata
    /// would replace it (same header, same stamps), when nothing else holds a
    /// reference to it and `value` has the length of its value: no allocation, nothing
    /// to free. False (and nothing changed) otherwise.
    ///
    /// Under the shard's write lock no new reference can be taken, so an entry found
    /// unique stays so until the lock is released.
    pub(crate) fn rewrite(
        &mut self,
        pos: usize,
        value: &[u8],
        write: &Write,
        now: Timestamp,
    ) -> bool {
        let stored = self.at(pos);
        if !stored.with_arc(|a| a.is_unique()) || value_of(stored).len() != value.len() {
            return false;
        }
        let (version, created, updated) = self.identity(Some(pos), write, now);
        let tick = self.count_write();
        let raw = self
            .table
            .slot_mut(pos)
            .expect("a position from find holds an entry");
        let key_len = header(raw).key_len();
        raw.with_arc_mut(|arc| {
            let inner = triomphe::Arc::get_mut(arc).expect("checked unique under the write lock");
            let h = inner.header_mut();
            *h = write.header(key_len, now);
            h.set_identity(version, created, updated);
            inner.slice_mut()[key_len..].copy_from_slice(value);
        });
        header(raw).set_tick(tick);
        true
    }

    /// The version, creation and update time a put gets: what `write` leaves unset
    /// is the next version of the shard, an update time of `now`, and the creation
    /// time of the entry at `found` or else the update time.
    fn identity(
        &mut self,
        found: Option<usize>,
        write: &Write,
        now: Timestamp,
    ) -> (u64, Timestamp, Timestamp) {
        let version = write.version.unwrap_or(self.max_version.saturating_add(1));
        self.max_version = self.max_version.max(version);
        let updated = write.updated.unwrap_or(now);
        // A new key is created when it is written: at the write's own time, so that a
        // caller that supplies it (kv-store: the log record's time) and its replay agree.
        let created = write
            .created
            .unwrap_or_else(|| found.map_or(updated, |p| header(self.at(p)).created()));
        (version, created, updated)
    }

    /// Counts a write for the logical clock; returns the tick to stamp it with.
    pub(crate) fn count_write(&mut self) -> u8 {
        self.tick_writes += 1;
        if self.tick_writes >= (self.len() / 32).max(1) {
            self.tick = self.tick.wrapping_add(1);
            self.tick_writes = 0;
        }
        self.tick
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
    fn find_replace_remove_and_take_all() {
        let h = KeyHasher::default();
        let mut s = ShardState::default();
        let keys: Vec<Vec<u8>> = (0..200u32).map(|i| i.to_le_bytes().to_vec()).collect();
        for k in &keys {
            s.push(&h, h.hash(k), raw(k));
        }
        for k in keys.iter().step_by(3) {
            let pos = s.find(h.hash(k), k).unwrap();
            assert_eq!(key_of(&s.remove_at(&h, pos)), &k[..]);
        }
        let pos = s.find(h.hash(&keys[1]), &keys[1]).unwrap();
        let old = s.replace(pos, raw(&keys[1]));
        assert_eq!(key_of(&old), &keys[1][..]);
        for (i, k) in keys.iter().enumerate() {
            let found = s.find(h.hash(k), k);
            assert_eq!(found.is_some(), i % 3 != 0);
            if let Some(pos) = found {
                assert_eq!(key_of(s.at(pos)), &k[..]);
            }
        }
        assert_eq!(s.len(), 200 - 67);
        assert_eq!(s.iter().count(), 133);
        assert_eq!(s.take_all().len(), 133);
        assert_eq!(s.find(h.hash(&keys[1]), &keys[1]), None);
    }
}

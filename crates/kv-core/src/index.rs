//! A shard's table: open addressing with linear probing over two parallel arrays, one
//! byte of tag per slot and the entry pointer itself.
//!
//! Why not hashbrown: its `HashTable` cannot hand out a random entry, which sampled
//! eviction needs, so the shard would keep a second array of entries for that; and
//! it doubles when 7/8 full. Here a slot costs 9 bytes (a tag byte and a thin
//! pointer), any slot can be sampled in O(1), and the table grows by a quarter when
//! 90% full, so it costs 10 to 12.5 bytes per entry. A probe scans tag bytes (64 to a
//! cache line) and reads an entry only when its 7-bit tag matches.
//!
//! Removal leaves a tombstone (or an empty slot, if the next one is empty);
//! tombstones are dropped when the table is rebuilt. At least 10% of the slots are
//! always empty, so a probe ends.

use crate::entry::Raw;

/// Tag of a never-used slot.
const EMPTY: u8 = 0;
/// Tag of a removed entry's slot.
const TOMB: u8 = 1;

/// The tag of a hash: its top 7 bits, with the high bit set so that it is never
/// `EMPTY` or `TOMB`. (The home slot comes from the low 32 bits of the hash and the
/// shard from bits 32 and up.)
fn tag(hash: u64) -> u8 {
    0x80 | (hash >> 57) as u8
}

#[derive(Default)]
pub(crate) struct Table {
    tags: Vec<u8>,
    slots: Vec<Option<Raw>>,
    live: usize,
    tombs: usize,
}

impl Table {
    fn home(&self, hash: u64) -> usize {
        ((u64::from(hash as u32) * self.tags.len() as u64) >> 32) as usize
    }

    fn next(&self, i: usize) -> usize {
        if i + 1 == self.tags.len() {
            0
        } else {
            i + 1
        }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Number of slots (positions run from 0 to this).
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The entry at `pos`, if the slot holds one.
    #[inline]
    pub(crate) fn slot(&self, pos: usize) -> Option<&Raw> {
        self.slots.get(pos).and_then(Option::as_ref)
    }

    /// The entries, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Raw> {
        self.slots.iter().flatten()
    }

    /// The position of the first entry with this hash that `eq` accepts.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut eq: impl FnMut(&Raw) -> bool) -> Option<usize> {
        if self.tags.is_empty() {
            return None;
        }
        let t = tag(hash);
        let mut i = self.home(hash);
        loop {
            // Both loads are issued before either is looked at, so the tag's and the
            // pointer's cache misses overlap instead of following one another.
            let slot = self.slots[i].as_ref();
            let s = self.tags[i];
            if s == EMPTY {
                return None;
            }
            if s == t {
                if let Some(raw) = slot {
                    if eq(raw) {
                        return Some(i);
                    }
                }
            }
            i = self.next(i);
        }
    }

    /// Adds `raw` under `hash` (its key is not in the table) and returns its position.
    /// `rehash` gives the hash of a stored entry, for when the table is rebuilt.
    pub(crate) fn insert(&mut self, hash: u64, raw: Raw, rehash: impl Fn(&Raw) -> u64) -> usize {
        if (self.live + self.tombs + 1) * 10 > self.tags.len() * 9 {
            self.rebuild(rehash);
        }
        let mut i = self.home(hash);
        loop {
            match self.tags[i] {
                EMPTY => break,
                TOMB => {
                    self.tombs -= 1;
                    break;
                }
                _ => i = self.next(i),
            }
        }
        self.tags[i] = tag(hash);
        self.slots[i] = Some(raw);
        self.live += 1;
        i
    }

    /// Puts `raw` (same key) in place of the entry at `pos` and returns that entry.
    pub(crate) fn replace(&mut self, pos: usize, raw: Raw) -> Option<Raw> {
        self.slots[pos].replace(raw)
    }

    /// Removes the entry at `pos` (from [`find`](Self::find)) and returns it. A table
    /// left less than a quarter full is rebuilt smaller (positions change then), so
    /// that sampling keeps finding entries in few tries.
    pub(crate) fn remove(&mut self, pos: usize, rehash: impl Fn(&Raw) -> u64) -> Option<Raw> {
        let raw = self.slots.get_mut(pos)?.take()?;
        if self.tags[self.next(pos)] == EMPTY {
            self.tags[pos] = EMPTY;
        } else {
            self.tags[pos] = TOMB;
            self.tombs += 1;
        }
        self.live -= 1;
        if self.tags.len() > 64 && self.live * 4 < self.tags.len() {
            self.rebuild(rehash);
        }
        Some(raw)
    }

    /// Makes room for `additional` more entries before the next rebuild (one rebuild
    /// now at most, instead of one per quarter of growth during a bulk load), sized
    /// as a rebuild sizes the table: near 72% full with them all (probes stay short).
    pub(crate) fn reserve(&mut self, additional: usize, rehash: impl Fn(&Raw) -> u64) {
        let want = self.live.saturating_add(additional);
        if want.saturating_add(self.tombs) * 10 > self.tags.len() * 9 {
            self.rebuild_to((want.saturating_add(1) * 25 / 18).max(16), rehash);
        }
    }

    /// Rebuilds the table without tombstones, with room for a quarter more entries
    /// before the 90% limit (so its load ends near 72%).
    fn rebuild(&mut self, rehash: impl Fn(&Raw) -> u64) {
        self.rebuild_to(((self.live + 1) * 25 / 18).max(16), rehash);
    }

    /// Rebuilds the table without tombstones with `cap` slots (more than `live`).
    fn rebuild_to(&mut self, cap: usize, rehash: impl Fn(&Raw) -> u64) {
        let old = std::mem::take(&mut self.slots);
        self.tags = vec![EMPTY; cap];
        self.slots.resize_with(cap, || None);
        self.tombs = 0;
        for raw in old.into_iter().flatten() {
            let hash = rehash(&raw);
            let mut i = self.home(hash);
            while self.tags[i] != EMPTY {
                i = self.next(i);
            }
            self.tags[i] = tag(hash);
            self.slots[i] = Some(raw);
        }
    }

    /// Removes every entry and returns them.
    pub(crate) fn take_all(&mut self) -> Vec<Raw> {
        let slots = std::mem::take(&mut self.slots);
        *self = Table::default();
        slots.into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{key_of, new_raw};
    use crate::hash::KeyHasher;
    use crate::header::Header;
    use crate::Timestamp;

    fn raw(key: &[u8]) -> Raw {
        let t = Timestamp::EPOCH;
        new_raw(Header::new(key.len(), 1, t, t, None, t), key, b"v")
    }

    #[test]
    fn inserts_finds_and_removes_through_rebuilds_and_tombstones() {
        let h = KeyHasher::default();
        let rehash = |r: &Raw| h.hash(key_of(r));
        let mut table = Table::default();
        let mut present = std::collections::BTreeSet::new();
        for round in 0..4u32 {
            for k in round * 1000..round * 1000 + 3000 {
                let key = k.to_le_bytes();
                if present.insert(k) {
                    table.insert(h.hash(&key), raw(&key), rehash);
                }
            }
            let victims: Vec<u32> = present.iter().copied().step_by(2).collect();
            for k in victims {
                let key = k.to_le_bytes();
                let pos = table.find(h.hash(&key), |r| key_of(r) == key).unwrap();
                assert_eq!(key_of(&table.remove(pos, rehash).unwrap()), key);
                present.remove(&k);
            }
            for k in 0..5000u32 {
                let key = k.to_le_bytes();
                let found = table.find(h.hash(&key), |r| key_of(r) == key);
                assert_eq!(found.is_some(), present.contains(&k), "key {k}");
                if let Some(pos) = found {
                    assert_eq!(key_of(table.slot(pos).unwrap()), key);
                }
            }
            assert_eq!(table.len(), present.len());
            assert_eq!(table.iter().count(), present.len());
            // Never more than 90% used, so probes end.
            assert!((table.live + table.tombs) * 10 <= table.tags.len() * 9);
        }
        // Emptied, it shrinks back.
        for k in present.clone() {
            let key = k.to_le_bytes();
            let pos = table.find(h.hash(&key), |r| key_of(r) == key).unwrap();
            table.remove(pos, rehash);
            present.remove(&k);
        }
        assert_eq!(table.len(), 0);
        assert!(
            table.slot_count() <= 64,
            "{} slots left",
            table.slot_count()
        );
        assert_eq!(table.take_all().len(), present.len());
        assert_eq!(table.len(), 0);
        assert_eq!(table.find(h.hash(b"x"), |_| true), None);
    }
}

//! The hash index of a shard: a compact open-addressing table of 32-bit slots, each a
//! 7-bit hash tag and a position in the shard's entry vector.
//!
//! Why not hashbrown: its table keeps a control byte per bucket in a separate array
//! and doubles when 7/8 full, so a lookup touches two arrays and the index costs 5.7
//! to 11.4 bytes per entry. Here a probe reads one `u32` (the tag rejects 127 of 128
//! wrong slots without touching the entry), and the table grows by half when 85%
//! full: 4.7 to 7.1 bytes per entry.
//!
//! Slots are probed linearly from the key's home slot. Removal leaves a tombstone
//! (or an empty slot, if the next one is empty); tombstones are dropped when the
//! table is rebuilt. At least 15% of the slots are always empty, so a probe ends.

/// Slot value of a never-used slot.
const EMPTY: u32 = 0;
/// Slot value of a removed entry's slot.
const TOMB: u32 = 1;
const POS_BITS: u32 = 25;
const POS_MASK: u32 = (1 << POS_BITS) - 1;
/// Largest position a slot can hold: a shard holds fewer entries than this.
pub(crate) const MAX_SHARD_ENTRIES: usize = (POS_MASK - 2) as usize;

/// The tag bits of a hash, in slot position (the top 7 bits of the hash; the home slot
/// comes from the low 32 and the shard from bits 32 and up).
fn tag(hash: u64) -> u32 {
    ((hash >> 57) as u32) << POS_BITS
}

fn encode(hash: u64, pos: usize) -> u32 {
    debug_assert!(pos <= MAX_SHARD_ENTRIES);
    tag(hash) | (pos as u32 + 2)
}

fn pos_of(slot: u32) -> usize {
    ((slot & POS_MASK) - 2) as usize
}

#[derive(Default)]
pub(crate) struct Index {
    slots: Vec<u32>,
    live: usize,
    tombs: usize,
}

impl Index {
    fn home(&self, hash: u64) -> usize {
        ((u64::from(hash as u32) * self.slots.len() as u64) >> 32) as usize
    }

    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots.len() {
            0
        } else {
            i + 1
        }
    }

    /// The slot and position of the first entry with this hash that `eq` accepts.
    #[inline]
    pub(crate) fn find(
        &self,
        hash: u64,
        mut eq: impl FnMut(usize) -> bool,
    ) -> Option<(usize, usize)> {
        if self.slots.is_empty() {
            return None;
        }
        let t = tag(hash);
        let mut i = self.home(hash);
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                return None;
            }
            if s != TOMB && s & !POS_MASK == t && eq(pos_of(s)) {
                return Some((i, pos_of(s)));
            }
            i = self.next(i);
        }
    }

    /// Adds `pos` under `hash` (whose key is not in the index). `rehash` gives the hash
    /// of the entry at a position, for when the table is rebuilt.
    pub(crate) fn insert(&mut self, hash: u64, pos: usize, rehash: impl Fn(usize) -> u64) {
        if (self.live + self.tombs + 1) * 20 > self.slots.len() * 17 {
            self.rebuild(rehash);
        }
        let mut i = self.home(hash);
        loop {
            match self.slots[i] {
                EMPTY => break,
                TOMB => {
                    self.tombs -= 1;
                    break;
                }
                _ => i = self.next(i),
            }
        }
        self.slots[i] = encode(hash, pos);
        self.live += 1;
    }

    /// Removes the entry in `slot` (from [`find`](Self::find)).
    pub(crate) fn remove(&mut self, slot: usize) {
        if self.slots[self.next(slot)] == EMPTY {
            self.slots[slot] = EMPTY;
        } else {
            self.slots[slot] = TOMB;
            self.tombs += 1;
        }
        self.live -= 1;
    }

    /// Points `slot` (from [`find`](Self::find)) at a new position.
    pub(crate) fn set_pos(&mut self, slot: usize, pos: usize) {
        let s = self.slots[slot];
        self.slots[slot] = (s & !POS_MASK) | (pos as u32 + 2);
    }

    /// Rebuilds the table without tombstones, at 1.5 times the room the live entries
    /// need at the 85% limit (so its load ends near 57%).
    fn rebuild(&mut self, rehash: impl Fn(usize) -> u64) {
        let cap = ((self.live + 1) * 30 / 17).max(16);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; cap]);
        self.tombs = 0;
        for s in old {
            if s > TOMB {
                let pos = pos_of(s);
                let hash = rehash(pos);
                let mut i = self.home(hash);
                while self.slots[i] != EMPTY {
                    i = self.next(i);
                }
                self.slots[i] = s;
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = Index::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes from a fixed mixer, so runs are repeatable.
    fn h(x: u64) -> u64 {
        let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn inserts_finds_and_removes_through_rebuilds_and_tombstones() {
        // positions 0..n hold keys k; a model maps key -> position.
        let mut index = Index::default();
        let mut key_at: Vec<u64> = Vec::new();
        let mut present = std::collections::BTreeMap::new();
        for round in 0..4u64 {
            for k in round * 1000..round * 1000 + 3000 {
                if present.contains_key(&k) {
                    continue;
                }
                let pos = key_at.len();
                key_at.push(k);
                let snapshot = key_at.clone();
                index.insert(h(k), pos, |p| h(snapshot[p]));
                present.insert(k, pos);
            }
            // Remove every other key, moving the last position into the hole as the
            // shard does.
            let victims: Vec<u64> = present.keys().copied().step_by(2).collect();
            for k in victims {
                let (slot, pos) = index.find(h(k), |p| key_at[p] == k).unwrap();
                index.remove(slot);
                present.remove(&k);
                let last = key_at.len() - 1;
                key_at.swap_remove(pos);
                if pos < last {
                    let moved = key_at[pos];
                    let (s, _) = index.find(h(moved), |p| p == last).unwrap();
                    index.set_pos(s, pos);
                    present.insert(moved, pos);
                }
            }
            for (k, &pos) in &present {
                assert_eq!(
                    index.find(h(*k), |p| key_at[p] == *k),
                    Some((index.find(h(*k), |p| p == pos).unwrap().0, pos))
                );
            }
            for k in 100_000..100_200u64 {
                assert_eq!(index.find(h(k), |p| key_at[p] == k), None);
            }
            assert_eq!(index.live, present.len());
            // Never more than 85% used, so probes end.
            assert!((index.live + index.tombs) * 20 <= index.slots.len() * 17);
        }
    }

    #[test]
    fn an_empty_index_finds_nothing() {
        let mut index = Index::default();
        assert_eq!(index.find(h(1), |_| true), None);
        index.insert(h(1), 0, |_| h(1));
        assert_eq!(index.find(h(1), |p| p == 0).map(|(_, p)| p), Some(0));
        index.clear();
        assert_eq!(index.find(h(1), |_| true), None);
    }
}

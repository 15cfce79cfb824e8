//! A shard's table: open addressing over groups of seven slots. A group is one cache
//! line holding its slots' tags and entry pointers together, so a probe costs one
//! cache miss for the group and one for the entry whose tag matches.
//!
//! Why not hashbrown: its `HashTable` cannot hand out a random entry, which sampled
//! eviction needs, so the shard would keep a second array of entries for that; it
//! keeps tags and pointers in separate arrays (two misses before the entry); and it
//! doubles when 7/8 full. Here a slot costs 64/7 bytes, any slot can be sampled in
//! O(1), and the table grows by a quarter when 90% full.
//!
//! A key lives in its home group (from its hash) or, when that is full, in one of the
//! groups after it. Instead of tombstones, each group counts the keys that overflowed
//! past it (as in folly's F14): a lookup stops at the first group without a match
//! whose count is zero, and removing an entry decrements the counts along its path, so
//! removal leaves no debris and the table never needs a rebuild to clean up. A count
//! that reaches 255 stays there (a lookup then walks on, which is still correct).

use crate::entry::{key_of, Raw};

/// Slots in a group.
const SLOTS: usize = 7;
/// Tag of an empty slot.
const EMPTY: u8 = 0;
/// An overflow count that has saturated: never decremented again.
const SATURATED: u8 = u8::MAX;
/// The high bit of each slot's control byte (byte 7, the overflow count, excluded).
const HIGH_BITS: u64 = 0x0080_8080_8080_8080;
const LOW_BITS: u64 = 0x0001_0101_0101_0101;
/// Groups whose entries a rebuild touches together before rehashing them (see
/// [`Table::rebuild_to`]): up to 56 entries, enough misses in flight to keep the
/// memory busy.
const REBUILD_BATCH: usize = 8;

/// The tag of a hash: its top 7 bits with the high bit set, so that it is never
/// `EMPTY`. (The home group comes from the low 32 bits of the hash and the shard from
/// bits 32 and up.)
fn tag(hash: u64) -> u8 {
    0x80 | (hash >> 57) as u8
}

/// One cache line: seven control bytes (a slot's tag, or `EMPTY`), the count of keys
/// that overflowed past this group, and seven entry pointers.
#[derive(Default)]
#[repr(C, align(64))]
struct Group {
    ctrl: [u8; 8],
    slots: [Option<Raw>; SLOTS],
}

impl Group {
    /// The control bytes as one word: byte `i` is slot `i`'s tag, byte 7 the count.
    #[inline]
    fn word(&self) -> u64 {
        u64::from_le_bytes(self.ctrl)
    }

    /// Bit `8i + 7` set for each slot `i` whose tag is `t`.
    #[inline]
    fn matching(&self, t: u8) -> u64 {
        let x = self.word() ^ (LOW_BITS * u64::from(t));
        // A byte of `x` is zero exactly where the tag matches; this sets its high bit
        // without the false positives of the shorter borrow trick.
        let low7 = 0x7F7F_7F7F_7F7F_7F7F;
        !(((x & low7).wrapping_add(low7)) | x | low7) & HIGH_BITS
    }

    /// Bit `8i + 7` set for each empty slot `i` (tags have their high bit set).
    #[inline]
    fn empties(&self) -> u64 {
        !self.word() & HIGH_BITS
    }

    fn overflow(&self) -> u8 {
        self.ctrl[SLOTS]
    }

    fn add_overflow(&mut self) {
        self.ctrl[SLOTS] = self.ctrl[SLOTS].saturating_add(1);
    }

    fn sub_overflow(&mut self) {
        let c = &mut self.ctrl[SLOTS];
        if *c != SATURATED {
            *c -= 1;
        }
    }
}

/// The slot index of the lowest bit set in a mask from `matching` or `empties`.
#[inline]
fn first(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

#[derive(Default)]
pub(crate) struct Table {
    groups: Vec<Group>,
    live: usize,
}

/// The most entries `groups` groups take before the table grows: 90% of the slots.
/// (Most keys still sit in their home group; the overflow counts keep the walks of
/// the others and of misses short.)
fn max_live(groups: usize) -> usize {
    groups * SLOTS * 9 / 10
}

/// The groups for `n` entries after a rebuild: they fill 72% of the slots (4/5 of
/// what the table takes before it grows), so the next rebuild is a quarter of growth
/// away.
fn groups_for(n: usize) -> usize {
    n.saturating_mul(25).div_ceil(18 * SLOTS).max(1)
}

impl Table {
    #[inline]
    fn home(&self, hash: u64) -> usize {
        ((u64::from(hash as u32) * self.groups.len() as u64) >> 32) as usize
    }

    #[inline]
    fn next(&self, g: usize) -> usize {
        if g + 1 == self.groups.len() {
            0
        } else {
            g + 1
        }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Number of slots (positions run from 0 to this).
    pub(crate) fn slot_count(&self) -> usize {
        self.groups.len() * SLOTS
    }

    /// The entry at `pos`, if the slot holds one.
    #[inline]
    pub(crate) fn slot(&self, pos: usize) -> Option<&Raw> {
        self.groups
            .get(pos / SLOTS)
            .and_then(|g| g.slots[pos % SLOTS].as_ref())
    }

    /// The entry at `pos`, if the slot holds one, to change in place.
    pub(crate) fn slot_mut(&mut self, pos: usize) -> Option<&mut Raw> {
        self.groups
            .get_mut(pos / SLOTS)
            .and_then(|g| g.slots[pos % SLOTS].as_mut())
    }

    /// The entries, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Raw> {
        self.groups.iter().flat_map(|g| g.slots.iter().flatten())
    }

    /// The position of the first entry with this hash that `eq` accepts.
    #[inline]
    pub(crate) fn find(&self, hash: u64, eq: impl FnMut(&Raw) -> bool) -> Option<usize> {
        self.find_entry(hash, eq).map(|(pos, _)| pos)
    }

    /// The first entry with this hash that `eq` accepts, with its position.
    #[inline(always)]
    pub(crate) fn find_entry(
        &self,
        hash: u64,
        mut eq: impl FnMut(&Raw) -> bool,
    ) -> Option<(usize, &Raw)> {
        let t = tag(hash);
        let mut g = self.home(hash);
        // At most one lap (saturated counts could otherwise send a miss around forever).
        for _ in 0..self.groups.len() {
            let group = &self.groups[g];
            let mut m = group.matching(t);
            while m != 0 {
                let i = first(m);
                if let Some(raw) = &group.slots[i] {
                    if eq(raw) {
                        return Some((g * SLOTS + i, raw));
                    }
                }
                m &= m - 1;
            }
            if group.overflow() == 0 {
                return None;
            }
            g = self.next(g);
        }
        None
    }

    /// Adds `raw` under `hash` (its key is not in the table) and returns its position.
    /// `rehash` gives the hash of a stored entry, for when the table is rebuilt.
    pub(crate) fn insert(&mut self, hash: u64, raw: Raw, rehash: impl Fn(&Raw) -> u64) -> usize {
        if self.live + 1 > max_live(self.groups.len()) {
            self.rebuild_to(groups_for(self.live + 1), rehash);
        }
        self.live += 1;
        self.place(hash, raw)
    }

    /// Puts `raw` in the first empty slot from its home group on, counting the
    /// overflow in each full group it passes. There is room (the load is below 90%).
    fn place(&mut self, hash: u64, raw: Raw) -> usize {
        let mut g = self.home(hash);
        loop {
            let group = &mut self.groups[g];
            let e = group.empties();
            if e != 0 {
                let i = first(e);
                group.ctrl[i] = tag(hash);
                group.slots[i] = Some(raw);
                return g * SLOTS + i;
            }
            group.add_overflow();
            g = self.next(g);
        }
    }

    /// Puts `raw` (same key) in place of the entry at `pos` and returns that entry.
    pub(crate) fn replace(&mut self, pos: usize, raw: Raw) -> Option<Raw> {
        self.groups[pos / SLOTS].slots[pos % SLOTS].replace(raw)
    }

    /// Removes the entry at `pos` (from [`find`](Self::find)) and returns it. A table
    /// left less than a quarter full is rebuilt smaller (positions change then), so
    /// that sampling keeps finding entries in few tries.
    pub(crate) fn remove(&mut self, pos: usize, rehash: impl Fn(&Raw) -> u64) -> Option<Raw> {
        let (g, i) = (pos / SLOTS, pos % SLOTS);
        let raw = self.groups.get_mut(g)?.slots[i].take()?;
        self.groups[g].ctrl[i] = EMPTY;
        // Undo the overflow counts of the groups between the entry's home and here.
        let mut h = self.home(rehash(&raw));
        while h != g {
            self.groups[h].sub_overflow();
            h = self.next(h);
        }
        self.live -= 1;
        if self.groups.len() > 8 && self.live * 4 < self.slot_count() {
            self.rebuild_to(groups_for(self.live), rehash);
        }
        Some(raw)
    }

    /// Makes room for `additional` more entries before the next rebuild (one rebuild
    /// now at most, instead of one per quarter of growth during a bulk load), sized
    /// as a rebuild sizes the table.
    pub(crate) fn reserve(&mut self, additional: usize, rehash: impl Fn(&Raw) -> u64) {
        let want = self.live.saturating_add(additional);
        if want > max_live(self.groups.len()) {
            self.rebuild_to(groups_for(want), rehash);
        }
    }

    /// Rebuilds the table with `groups` groups (room for more than `live` entries).
    ///
    /// Rehashing an entry reads its key, a cache miss per entry once the table
    /// outgrows the cache, and a miss that stalls the hashing behind it. So the
    /// entries go in batches of [`REBUILD_BATCH`] groups: one pass touches the key of
    /// every entry in the batch (independent loads, whose misses overlap), the next
    /// hashes and places them from the cache.
    fn rebuild_to(&mut self, groups: usize, rehash: impl Fn(&Raw) -> u64) {
        let mut old = std::mem::take(&mut self.groups).into_iter();
        self.groups.resize_with(groups, Group::default);
        while !old.as_slice().is_empty() {
            let ahead = &old.as_slice()[..REBUILD_BATCH.min(old.len())];
            let mut touched = 0u8;
            for raw in ahead.iter().flat_map(|g| g.slots.iter().flatten()) {
                touched ^= key_of(raw).first().copied().unwrap_or(0);
            }
            std::hint::black_box(touched);
            for group in old.by_ref().take(REBUILD_BATCH) {
                for raw in group.slots.into_iter().flatten() {
                    let hash = rehash(&raw);
                    self.place(hash, raw);
                }
            }
        }
    }

    /// Removes every entry and returns them.
    pub(crate) fn take_all(&mut self) -> Vec<Raw> {
        let groups = std::mem::take(&mut self.groups);
        *self = Table::default();
        groups
            .into_iter()
            .flat_map(|g| g.slots.into_iter().flatten())
            .collect()
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
    fn inserts_finds_and_removes_through_rebuilds() {
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
            // Never more than 90% used, so an insert finds room.
            assert!(table.live <= max_live(table.groups.len()));
            assert_eq!(std::mem::size_of::<Group>(), 64);
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

    /// Keys whose hashes all pick the same home group overflow into the groups after
    /// it; lookups must find each of them and stop correctly for absent keys, through
    /// saturated counts and any order of removal, and removal must undo the counts.
    #[test]
    fn colliding_keys_overflow_and_removal_undoes_the_counts() {
        // The hash of key `k`: the same low 32 bits (home group) for all, distinct
        // tags for some, so that both tag matches and misses happen.
        let hash_of = |k: u32| (u64::from(k % 5) << 57) | (u64::from(k) << 32) | 7;
        let rehash = |r: &Raw| {
            let k = u32::from_le_bytes(key_of(r).try_into().unwrap());
            hash_of(k)
        };
        let mut table = Table::default();
        // Enough to saturate the home group's count (255) several times over.
        let n = 2500u32;
        for k in 0..n {
            table.insert(hash_of(k), raw(&k.to_le_bytes()), rehash);
        }
        let find = |t: &Table, k: u32| t.find(hash_of(k), |r| key_of(r) == k.to_le_bytes());
        assert!(table.groups.iter().any(|g| g.overflow() == SATURATED));
        for k in 0..n {
            let pos = find(&table, k).unwrap_or_else(|| panic!("key {k} lost"));
            assert_eq!(key_of(table.slot(pos).unwrap()), k.to_le_bytes());
        }
        assert_eq!(find(&table, n + 1), None);
        // Remove every other key, from the far end of the chain first.
        for k in (0..n).rev().step_by(2) {
            let pos = find(&table, k).unwrap();
            table.remove(pos, rehash);
        }
        for k in 0..n {
            assert_eq!(find(&table, k).is_some(), k % 2 != (n - 1) % 2, "key {k}");
        }
        // Remove the rest; with the table empty again, only saturated counts may
        // remain (a rebuild on shrinking clears even those).
        for k in 0..n {
            if let Some(pos) = find(&table, k) {
                table.remove(pos, rehash);
            }
        }
        assert_eq!(table.len(), 0);
        assert!(table
            .groups
            .iter()
            .all(|g| g.overflow() == 0 || g.overflow() == SATURATED));
        assert_eq!(find(&table, 3), None);
    }

    #[test]
    fn control_word_matching_has_no_false_positives() {
        let g = Group {
            ctrl: [0x80, 0x81, 0, 0x81, 0xFF, 0, 0x80, 200],
            ..Group::default()
        };
        assert_eq!(g.matching(0x81), (1 << 15) | (1 << 31));
        assert_eq!(g.matching(0x80), (1 << 7) | (1 << 55));
        assert_eq!(g.matching(0xFF), 1 << 39);
        // Byte 7 (the overflow count, 200 = 0xC8) never matches as a tag.
        assert_eq!(g.matching(200), 0);
        assert_eq!(g.empties(), (1 << 23) | (1 << 47));
        assert_eq!(first(g.empties()), 2);
    }
}

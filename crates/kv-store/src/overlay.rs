//! The log replayed over the map loaded from the snapshot: an overlay of the keys the
//! log touches, each key's state after the records so far, its key and value kept in
//! the chunks they were read into (see [`crate::logops`]).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use kv_core::{Cache, Timestamp};

use crate::logops::{key_hash, part_of, Chunk, Kind, LogOp};
use crate::recovery::ExpiredBase;

/// Where bytes live: a range of one of the overlay's buffers.
#[derive(Debug, Clone, Copy)]
struct Loc {
    buf: u32,
    start: usize,
    len: usize,
}

/// A key's state: present with this value and metadata.
#[derive(Debug, Clone, Copy)]
struct State {
    value: Loc,
    expires_at: Option<u64>,
    created: u64,
    updated: u64,
    version: u64,
}

/// A key touched by the log: its state after the records replayed so far (`None`:
/// absent) and whether that differs from what the map holds.
#[derive(Debug)]
struct Slot {
    key: Loc,
    state: Option<State>,
    changed: bool,
    /// The next slot whose key has the same hash (`NONE`: the last).
    next: u32,
}

const NONE: u32 = u32::MAX;

/// Bytes an overlay part holds before it may compact them.
const COMPACT_MIN: usize = 64 << 20;

/// The overlay's index hashes nothing itself: its keys are [`key_hash`]es already.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// One part of the overlay: the keys of one hash range (see [`part_of`]), replayed
/// on a thread of its own. Evictions come only from the log's `Evict` records, and
/// the snapshot's entries go into the map once, directly.
pub(crate) struct Overlay<'c> {
    base: &'c Cache,
    /// The snapshot's entries that had expired by the time of opening.
    expired_base: ExpiredBase,
    /// Buffer 0 holds values copied from the base; the others are the chunks read.
    bufs: Vec<Vec<u8>>,
    /// Bytes in `bufs`, and how many of them no slot refers to any more (overwritten
    /// values, keys of operations on a key already held): past half of many, the
    /// live bytes are copied out and the rest freed, so a log of many overwrites
    /// needs memory for what is live, not for the whole log.
    held: usize,
    dead: usize,
    /// Fewer bytes held than this are never compacted.
    compact_min: usize,
    /// The first slot of each key hash.
    index: HashMap<u64, u32, BuildHasherDefault<Prehashed>>,
    slots: Vec<Slot>,
    /// A `Clear` record was replayed: the base no longer counts.
    cleared: bool,
    /// The map was empty when replay began.
    base_empty: bool,
    now: u64,
    /// Entries found expired at the end.
    expired: u64,
}

impl<'c> Overlay<'c> {
    /// The overlay over `base` (its expired entries aside in `expired_base`), to be
    /// settled at `now`, split into `n` parts of disjoint keys (by [`part_of`]).
    pub(crate) fn parts(
        base: &'c Cache,
        expired_base: ExpiredBase,
        now: u64,
        n: usize,
    ) -> Vec<Overlay<'c>> {
        let n = n.max(1);
        let mut expired: Vec<ExpiredBase> = (0..n).map(|_| ExpiredBase::default()).collect();
        for (key, e) in expired_base {
            expired[part_of(key_hash(&key), n)].insert(key, e);
        }
        let base_empty = base.is_empty();
        expired
            .into_iter()
            .map(|expired_base| Overlay {
                base,
                expired_base,
                bufs: vec![Vec::new()],
                held: 0,
                dead: 0,
                compact_min: COMPACT_MIN,
                // Grown as keys come: sizing them up front for the log's size measured
                // slower (one large table missed in cache from the first key on).
                index: HashMap::default(),
                slots: Vec::new(),
                cleared: false,
                base_empty,
                now,
                expired: 0,
            })
            .collect()
    }

    /// Compacts whenever more than half of what is held is dead, however little.
    #[cfg(test)]
    pub(crate) fn compact_always(&mut self) {
        self.compact_min = 0;
    }

    fn bytes(&self, loc: Loc) -> &[u8] {
        &self.bufs[loc.buf as usize][loc.start..loc.start + loc.len]
    }

    /// Copies `bytes` into buffer 0.
    fn keep(&mut self, bytes: &[u8]) -> Loc {
        let start = self.bufs[0].len();
        self.bufs[0].extend_from_slice(bytes);
        self.held += bytes.len();
        Loc {
            buf: 0,
            start,
            len: bytes.len(),
        }
    }

    /// The slot of the key at `key`, fetched from the base map on first
    /// touch.
    fn slot(&mut self, key: Loc) -> usize {
        let hash = key_hash(self.bytes(key));
        let i = self.slots.len();
        // The number a new slot goes in the index by. More slots than `u32` counts
        // cannot come from a log the map could hold; such a slot starts no chain.
        let num = u32::try_from(i).ok().filter(|&n| n != NONE);
        let (bufs, slots) = (&self.bufs, &self.slots);
        let bytes = |loc: Loc| &bufs[loc.buf as usize][loc.start..loc.start + loc.len];
        // One probe of the index finds the key's chain and, for a new key, files it.
        let head = match self.index.entry(hash) {
            Entry::Occupied(mut e) => {
                let head = *e.get();
                let mut at = head;
                while at != NONE {
                    let slot = &slots[at as usize];
                    if bytes(slot.key) == bytes(key) {
                        // The operation's copy of the key is not needed.
                        self.dead += key.len;
                        return at as usize;
                    }
                    at = slot.next;
                }
                if let Some(n) = num {
                    e.insert(n);
                }
                head
            }
            Entry::Vacant(e) => {
                if let Some(n) = num {
                    e.insert(n);
                }
                NONE
            }
        };
        let state = if self.cleared {
            None
        } else {
            self.base_state(key)
        };
        self.slots.push(Slot {
            key,
            state,
            changed: false,
            next: head,
        });
        i
    }

    /// The state the map (or the snapshot's expired entries) holds for `key`. One
    /// from the expired entries is dropped at the end unless a record revives it;
    /// either way [`Overlay::settle`] sees it.
    fn base_state(&mut self, key: Loc) -> Option<State> {
        if !self.base_empty {
            if let Some(e) = self.base.get_entry(self.bytes(key)) {
                let value = self.keep(&e.value());
                return Some(State {
                    value,
                    expires_at: e.expires_at().map(Timestamp::as_millis),
                    created: e.created().as_millis(),
                    updated: e.updated().as_millis(),
                    version: e.version(),
                });
            }
        }
        if self.expired_base.is_empty() {
            return None;
        }
        let key = self.bytes(key).to_vec();
        let e = self.expired_base.remove(&key)?;
        let value = self.keep(&e.value);
        Some(State {
            value,
            expires_at: e.expires_at,
            created: e.created,
            updated: e.updated,
            version: e.version,
        })
    }

    /// Applies a chunk of this part's operations, in log order: every key's final
    /// state is its last operation's effect.
    pub(crate) fn apply(&mut self, chunk: Chunk) {
        let Ok(buf) = u32::try_from(self.bufs.len()) else {
            // Four billion chunks are more than any log holds.
            return;
        };
        let Chunk { bytes, ops } = chunk;
        self.held += bytes.len();
        self.bufs.push(bytes);
        for op in &ops {
            self.apply_op(buf, op);
        }
        if self.held > self.compact_min && self.dead > self.held / 2 {
            self.compact();
        }
    }

    /// Copies every slot's key and value into one new buffer and frees the others.
    fn compact(&mut self) {
        let mut fresh = Vec::with_capacity(self.held.saturating_sub(self.dead));
        let bufs = &self.bufs;
        let mut copy = |loc: &mut Loc| {
            let start = fresh.len();
            fresh.extend_from_slice(&bufs[loc.buf as usize][loc.start..loc.start + loc.len]);
            *loc = Loc {
                buf: 1,
                start,
                len: loc.len,
            };
        };
        for slot in &mut self.slots {
            copy(&mut slot.key);
            if let Some(e) = &mut slot.state {
                copy(&mut e.value);
            }
        }
        self.held = fresh.len();
        self.dead = 0;
        self.bufs = vec![Vec::new(), fresh];
    }

    fn apply_op(&mut self, buf: u32, op: &LogOp) {
        let key = Loc {
            buf,
            start: op.key_start,
            len: op.key_len,
        };
        match op.kind {
            Kind::Put => {
                let i = self.slot(key);
                let slot = &mut self.slots[i];
                // As the map did at write time: the creation time survives an
                // overwrite of a key that was live then (expired entries are dropped
                // only at the end, since a later record may still overwrite them).
                let created = match &slot.state {
                    Some(old) if old.expires_at.is_none_or(|at| at > op.ts) => old.created,
                    _ => op.ts,
                };
                self.dead += slot.state.as_ref().map_or(0, |old| old.value.len);
                slot.state = Some(State {
                    value: Loc {
                        buf,
                        start: op.value_start,
                        len: op.value_len,
                    },
                    expires_at: op.expires_at,
                    created,
                    updated: op.ts,
                    version: op.seq,
                });
                slot.changed = true;
            }
            Kind::Delete => {
                let i = self.slot(key);
                let slot = &mut self.slots[i];
                if let Some(old) = slot.state.take() {
                    self.dead += old.value.len;
                    slot.changed = true;
                }
            }
            Kind::Expire => {
                let i = self.slot(key);
                let slot = &mut self.slots[i];
                if let Some(e) = &mut slot.state {
                    e.expires_at = op.expires_at;
                    slot.changed = true;
                }
            }
            Kind::Evict => {
                let i = self.slot(key);
                let slot = &mut self.slots[i];
                if let Some(old) = slot.state.take_if(|e| e.version == op.version) {
                    self.dead += old.value.len;
                    slot.changed = true;
                }
            }
            Kind::Clear => {
                self.cleared = true;
                self.index.clear();
                self.slots.clear();
                self.expired_base.clear();
                // Nothing before the clear is referred to any more.
                self.bufs[0] = Vec::new();
                let current = buf as usize;
                for b in &mut self.bufs[1..current] {
                    *b = Vec::new();
                }
                self.held = self.bufs[current].len();
                self.dead = 0;
            }
        }
    }

    /// Drops what expired while the store was closed; afterwards [`Overlay::removals`]
    /// and [`Overlay::puts`] say what to write into the map.
    pub(crate) fn settle(&mut self) {
        // Expired snapshot entries no record touched stay out of the map.
        self.expired += self.expired_base.len() as u64;
        let now = self.now;
        for slot in &mut self.slots {
            if slot
                .state
                .as_ref()
                .is_some_and(|e| e.expires_at.is_some_and(|at| at <= now))
            {
                slot.state = None;
                slot.changed = true;
                self.expired += 1;
            }
        }
    }

    /// A `Clear` record was replayed (it reaches every part).
    pub(crate) fn cleared(&self) -> bool {
        self.cleared
    }

    /// Every put is of a key the map does not hold.
    pub(crate) fn all_new(&self) -> bool {
        self.base_empty || self.cleared
    }

    /// How many entries were found expired (after [`Overlay::settle`]).
    pub(crate) fn expired(&self) -> u64 {
        self.expired
    }

    /// The keys to remove from the map.
    pub(crate) fn removals(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.slots
            .iter()
            .filter(|s| s.changed && s.state.is_none())
            .map(|s| self.bytes(s.key))
    }

    /// How many puts [`Overlay::put_at`] hands out (after [`Overlay::settle`]).
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The put of slot `i`, if it writes an entry into the map: the key, the value
    /// and the entry's exact metadata.
    pub(crate) fn put_at(&self, i: usize) -> Option<kv_core::hooks::BulkPut<'_>> {
        let slot = self.slots.get(i)?;
        let e = slot.state.as_ref().filter(|_| slot.changed)?;
        Some(kv_core::hooks::BulkPut {
            key: self.bytes(slot.key),
            value: self.bytes(e.value),
            write: crate::mem::exact_write(e.expires_at, e.created, e.updated, e.version),
        })
    }

    /// How many puts there are (after [`Overlay::settle`]).
    pub(crate) fn put_count(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.changed && s.state.is_some())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use kv_wal::{OwnedOp, Record, Seq};

    use super::Overlay;
    use crate::logops::Router;
    use crate::recovery::ExpiredBase;

    #[test]
    fn many_overwrites_hold_memory_for_the_live_keys_only() {
        let cache = kv_core::Cache::new(kv_core::Options::default()).unwrap();
        let mut part = Overlay::parts(&cache, ExpiredBase::default(), 0, 1).remove(0);
        part.compact_always();
        let mut router = Router::new(1);
        let mut chunks = Vec::new();
        for round in 0..200u64 {
            for k in 0..10u8 {
                let record = Record {
                    seq: Seq(round * 10 + u64::from(k) + 1),
                    timestamp_ms: 1000,
                    op: OwnedOp::Put {
                        key: vec![b'k', k],
                        value: vec![round as u8; 1000],
                        expires_at: None,
                    },
                };
                router.add(record, &mut |_, c| chunks.push(c));
            }
            // One chunk per round, applied as it comes.
            router.flush(&mut |_, c| chunks.push(c));
            for c in chunks.drain(..) {
                part.apply(c);
            }
        }
        // 200 rounds wrote 2 MB; ten live values of 1000 bytes stay, with at most
        // as much again dead before the next compaction.
        assert!(part.held <= 4 * 10 * 1002, "held {} bytes", part.held);
        part.settle();
        let puts: Vec<_> = (0..part.slot_count())
            .filter_map(|i| part.put_at(i))
            .map(|p| (p.key.to_vec(), p.value.to_vec(), p.write.version))
            .collect();
        assert_eq!(puts.len(), 10);
        for (k, v, version) in puts {
            assert_eq!(v, vec![199; 1000]);
            assert_eq!(version, Some(1990 + u64::from(k[1]) + 1));
        }
    }
}

//! The key space as a server sees it: a resumable scan with Redis's guarantee, a
//! random key, reads and deletes of several keys at once, an expiry change that
//! returns the value (`GETEX`) or deletes a key given a past time (`EXPIRE`), the
//! count of keys with a TTL, and the store's clock and sync policy.
//!
//! kv-server maps Redis commands onto these; an embedder serving its own protocol
//! needs the same.

use std::hash::Hasher as _;

use kv_core::hooks::decide::{self, Decision};
use kv_core::{Entry, ExpireIf, Expiry, Timestamp, Value};
use kv_wal::SyncPolicy;

use crate::{Batch, Result, Store};

/// Most parts [`Store::scan`] cuts one shard into: the most times a full scan copies
/// a shard's entry handles.
pub const SCAN_MAX_PARTS: u64 = 64;

/// What [`Store::keyspace_stats`] counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyspaceStats {
    /// Live keys.
    pub keys: u64,
    /// Live keys with an expiry (Redis `INFO keyspace` `expires`).
    pub expires: u64,
    /// The mean time those keys have left, in milliseconds (0 if none has a TTL;
    /// Redis `avg_ttl`).
    pub avg_ttl_ms: u64,
}

/// A scan cursor: the shard it is in, the parts that shard is cut into (0: not
/// decided yet, at the start of the shard) and the part to read next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cursor {
    shard: u64,
    parts: u64,
    part: u64,
}

impl Cursor {
    const START: Cursor = Cursor {
        shard: 0,
        parts: 0,
        part: 0,
    };

    // Format: bits 0-7 the part, 8-15 the parts, 16-47 the shard, the rest zero. A
    // cursor in progress is never 0: either its shard is not 0 or its parts are.
    fn encode(self) -> u64 {
        (self.shard << 16) | (self.parts << 8) | self.part
    }

    /// The cursor `n` names, if this store can have handed it out.
    fn decode(n: u64, shards: u64) -> Option<Cursor> {
        let c = Cursor {
            shard: n >> 16,
            parts: (n >> 8) & 0xff,
            part: n & 0xff,
        };
        let valid = c.shard < shards
            && c.parts <= SCAN_MAX_PARTS
            && (c.part < c.parts || (c.parts, c.part) == (0, 0));
        valid.then_some(c)
    }
}

/// The part of a shard `key` falls in, out of `parts`: FNV-1a of the key, a hash that
/// never changes, so a key present throughout a scan is in the same part every time.
fn part_of(key: &[u8], parts: u64) -> u64 {
    struct Fnv(u64);
    impl std::hash::Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 ^= u64::from(b);
                self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.write(key);
    h.finish() % parts
}

impl Store {
    /// The current time on the store's clock (the one expiry times are compared with).
    pub fn now(&self) -> Timestamp {
        self.inner().opts.clock.now()
    }

    /// The sync policy the store was opened with.
    pub fn sync_policy(&self) -> SyncPolicy {
        self.inner().opts.sync
    }

    /// One step of a scan over the live entries, as Redis `SCAN`: start with cursor 0,
    /// pass each returned cursor to the next call, and stop when it is 0 again.
    ///
    /// **Guarantee** (Redis's): a full scan returns every key that is present for the
    /// whole of it, whatever is written meanwhile; a key added or deleted during the
    /// scan may or may not be returned; no key is returned twice unless it is deleted
    /// and written again. The cursor is only meaningful to the store that returned it
    /// while it stays open (an unknown cursor ends the scan: `(0, [])`).
    ///
    /// `count` is a hint, as in Redis: a call returns about `count` entries, more when
    /// a shard is large (at least 1/[`SCAN_MAX_PARTS`] of a shard). How: the cursor
    /// walks kv-core's shards in order; each shard is cut into parts by a fixed hash of
    /// the key (as many as `count` entries each, at most [`SCAN_MAX_PARTS`], decided
    /// when the scan enters the shard and carried in the cursor), and a call returns
    /// whole parts. Each call copies the entry handles of the shards it reads (no bytes)
    /// under the shard's read lock, so it costs O(shard size); a full scan costs at most
    /// [`SCAN_MAX_PARTS`] walks of the store, and never holds a lock across calls.
    pub fn scan(&self, cursor: u64, count: usize) -> Result<(u64, Vec<Entry>)> {
        let inner = self.inner();
        inner.check_open()?;
        let hooks = inner.cache.hooks();
        let shards = hooks.shard_count() as u64;
        let Some(mut at) = Cursor::decode(cursor, shards) else {
            return Ok((0, Vec::new()));
        };
        let count = count.max(1);
        let mut out = Vec::new();
        while at.shard < shards && out.len() < count {
            let entries = hooks.shard_entries(at.shard as usize);
            if at.parts == 0 {
                at.parts = (entries.len() as u64)
                    .div_ceil(count as u64)
                    .clamp(1, SCAN_MAX_PARTS);
            }
            while at.part < at.parts && out.len() < count {
                let (parts, part) = (at.parts, at.part);
                out.extend(
                    entries
                        .iter()
                        .filter(|e| parts == 1 || part_of(e.key(), parts) == part)
                        .cloned(),
                );
                at.part += 1;
            }
            if at.part == at.parts {
                at = Cursor {
                    shard: at.shard + 1,
                    ..Cursor::START
                };
            }
        }
        let next = if at.shard >= shards { 0 } else { at.encode() };
        Ok((next, out))
    }

    /// A live entry chosen at random, roughly uniformly (Redis `RANDOMKEY`); `None` if
    /// the store is empty. O(1) on average; not counted as a read.
    pub fn random_entry(&self) -> Result<Option<Entry>> {
        let inner = self.inner();
        inner.check_open()?;
        Ok(inner.cache.hooks().random_entry())
    }

    /// The live keys and those of them with an expiry (Redis `INFO keyspace`). Walks
    /// the store shard by shard, as [`Store::iter`] does: O(n), no lock held for
    /// longer than copying one shard's entry handles.
    pub fn keyspace_stats(&self) -> Result<KeyspaceStats> {
        let inner = self.inner();
        inner.check_open()?;
        let hooks = inner.cache.hooks();
        let now = self.now();
        let (mut stats, mut ttl_sum) = (KeyspaceStats::default(), 0u128);
        for shard in 0..hooks.shard_count() {
            for e in hooks.shard_entries(shard) {
                stats.keys += 1;
                if let Some(at) = e.expires_at() {
                    stats.expires += 1;
                    ttl_sum += u128::from(at.as_millis().saturating_sub(now.as_millis()));
                }
            }
        }
        if stats.expires > 0 {
            stats.avg_ttl_ms = (ttl_sum / u128::from(stats.expires)) as u64;
        }
        Ok(stats)
    }

    /// The values of `keys`, in order (`None` for an absent key), read as one: no write
    /// to any of them (a [`Batch`] included) is seen half done. Holds the keys' write
    /// stripes while it reads, so writers of these keys wait that long. Each read
    /// counts as a hit or a miss, as [`Store::get`] does.
    pub fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Value>>> {
        let inner = self.inner();
        inner.check_open()?;
        let _stripes = inner.stripes.lock_many(keys.iter().copied());
        Ok(keys.iter().map(|k| inner.cache.get(k)).collect())
    }

    /// How many of `keys` are present (a key named twice counts twice), read as one,
    /// as [`Store::get_many`] reads.
    pub fn count_existing(&self, keys: &[&[u8]]) -> Result<usize> {
        let inner = self.inner();
        inner.check_open()?;
        let _stripes = inner.stripes.lock_many(keys.iter().copied());
        Ok(keys.iter().filter(|k| inner.cache.exists(k)).count())
    }

    /// Deletes every present key of `keys` as one batch (one log record, all or
    /// nothing, never seen half done) and returns how many distinct keys it deleted
    /// (Redis `DEL` of several keys). Nothing is logged if none is present.
    pub fn delete_many(&self, keys: &[&[u8]]) -> Result<usize> {
        let inner = self.inner();
        inner.check_write()?;
        let _stripes = inner.stripes.lock_many(keys.iter().copied());
        let mut present: Vec<&[u8]> = keys
            .iter()
            .copied()
            .filter(|k| inner.cache.exists(k))
            .collect();
        present.sort_unstable();
        present.dedup();
        if present.is_empty() {
            return Ok(0);
        }
        let mut batch = Batch::with_capacity(present.len(), present.iter().map(|k| k.len()).sum());
        for key in &present {
            batch.delete(key);
        }
        inner.apply_locked(&batch)?;
        Ok(present.len())
    }

    /// Returns the value of `key` and changes its expiry as `expiry` says (Redis
    /// `GETEX`), decided under the key's write stripe and logged as one record:
    /// [`Expiry::Keep`] changes nothing (a plain read); [`Expiry::Never`] removes the
    /// expiry if there is one; [`Expiry::In`] and [`Expiry::At`] set it, and an
    /// instant not after now deletes the key. An absent key is `None`, and nothing is
    /// written.
    pub fn get_and_expire(&self, key: &[u8], expiry: Expiry) -> Result<Option<Value>> {
        if expiry == Expiry::Keep {
            return self.get(key);
        }
        let (_, done) = self.inner().decide(key, |current, now| {
            let Some(c) = current else {
                return Ok((Decision::NOOP, ()));
            };
            let decision = match expiry.resolve(c.expires_at, now)? {
                None if c.expires_at.is_none() => Decision::NOOP,
                None => Decision::Expire(None),
                Some(at) if at <= now => Decision::Delete,
                Some(at) => Decision::Expire(Some(at)),
            };
            Ok((decision, ()))
        })?;
        Ok(done.previous)
    }

    /// Gives `key` the expiry `at` if every condition of `when` holds (none: always),
    /// as Redis `EXPIRE … [NX | XX | GT | LT]` (which allows `XX` with `GT` or `LT`); an
    /// `at` not after now deletes the key instead (logged as a delete), as Redis does
    /// with a past time. True if the key changed; an absent key is false. A condition
    /// that does not hold writes nothing and is counted as a refused write.
    pub fn expire_or_delete_if(
        &self,
        key: &[u8],
        at: Timestamp,
        when: &[ExpireIf],
    ) -> Result<bool> {
        let (_, done) = self.inner().decide(key, |current, now| {
            let Some(c) = current else {
                return Ok((Decision::NOOP, ()));
            };
            let holds = when
                .iter()
                .all(|&w| matches!(decide::expire(Some(c), Some(at), w), Decision::Expire(_)));
            let decision = if !holds {
                Decision::REFUSED
            } else if at <= now {
                Decision::Delete
            } else {
                Decision::Expire(Some(at))
            };
            Ok((decision, ()))
        })?;
        Ok(done.written)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::{ManualClock, Options, PersistenceMode};

    const T0: Timestamp = Timestamp::from_millis(1_000_000);

    fn store(shards: usize) -> (Store, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(T0));
        let store = Store::open(
            Options::new()
                .persistence(PersistenceMode::None)
                .shards(shards)
                .clock(clock.clone()),
        )
        .unwrap();
        (store, clock)
    }

    /// Every key a full scan returns, with how many times it was returned; and the
    /// number of calls.
    fn full_scan(
        s: &Store,
        count: usize,
        mut between: impl FnMut(),
    ) -> (HashMap<Vec<u8>, u32>, usize) {
        let (mut seen, mut cursor, mut calls) = (HashMap::new(), 0, 0);
        loop {
            let (next, entries) = s.scan(cursor, count).unwrap();
            calls += 1;
            for e in entries {
                *seen.entry(e.key().to_vec()).or_insert(0) += 1;
            }
            if next == 0 {
                return (seen, calls);
            }
            assert!(calls < 100_000, "the scan does not end");
            cursor = next;
            between();
        }
    }

    #[test]
    fn cursors_round_trip_and_unknown_ones_are_refused() {
        let shards = 8;
        for c in [
            Cursor::START,
            Cursor {
                shard: 3,
                parts: 0,
                part: 0,
            },
            Cursor {
                shard: 7,
                parts: 64,
                part: 63,
            },
            Cursor {
                shard: 0,
                parts: 1,
                part: 0,
            },
        ] {
            assert_eq!(Cursor::decode(c.encode(), shards), Some(c));
        }
        assert_ne!(
            Cursor {
                shard: 0,
                parts: 1,
                part: 0
            }
            .encode(),
            0
        );
        for bad in [8 << 16, (65 << 8) | 1, (4 << 8) | 4, 1, u64::MAX] {
            assert_eq!(Cursor::decode(bad, shards), None, "{bad:#x}");
        }
    }

    #[test]
    fn every_key_has_exactly_one_part() {
        for parts in 1..=SCAN_MAX_PARTS {
            for k in 0..100u32 {
                assert!(part_of(&k.to_le_bytes(), parts) < parts);
            }
        }
    }

    #[test]
    fn a_full_scan_returns_each_key_present_throughout_once_while_others_come_and_go() {
        for (shards, count) in [(1, 10), (8, 10), (8, 1), (4, 1000)] {
            let (s, _) = store(shards);
            let stable = 3_000u32;
            for i in 0..stable {
                s.set(format!("stable:{i}").as_bytes(), b"x").unwrap();
            }
            let mut churn = 0u32;
            let (seen, calls) = full_scan(&s, count, || {
                // Between calls: new keys, deletes of earlier new ones.
                for _ in 0..20 {
                    s.set(format!("churn:{churn}").as_bytes(), b"y").unwrap();
                    if churn >= 10 {
                        s.delete(format!("churn:{}", churn - 10).as_bytes())
                            .unwrap();
                    }
                    churn += 1;
                }
            });
            for i in 0..stable {
                let key = format!("stable:{i}");
                assert_eq!(
                    seen.get(key.as_bytes()),
                    Some(&1),
                    "{key} ({shards} shards, count {count})"
                );
            }
            assert!(seen.values().all(|&n| n == 1), "a key returned twice");
            // The number of calls is bounded by the parts, whatever the count.
            assert!(
                calls as u64 <= shards as u64 * SCAN_MAX_PARTS,
                "{calls} calls"
            );
            if count < 100 {
                assert!(
                    calls > shards,
                    "a small count takes several calls per shard"
                );
            }
        }
    }

    #[test]
    fn a_scan_returns_about_count_entries_per_call() {
        let (s, _) = store(1);
        for i in 0..1_000u32 {
            s.set(&i.to_le_bytes(), b"x").unwrap();
        }
        // 1,000 keys, count 100: 10 parts of about 100.
        let (next, first) = s.scan(0, 100).unwrap();
        assert_ne!(next, 0);
        assert!((40..=250).contains(&first.len()), "{}", first.len());
        // A huge count takes the whole store at once.
        let (next, all) = s.scan(0, 1_000_000).unwrap();
        assert_eq!((next, all.len()), (0, 1_000));
    }

    #[test]
    fn scans_of_an_empty_store_and_unknown_cursors_end_at_once() {
        let (s, _) = store(8);
        let (next, entries) = s.scan(0, 10).unwrap();
        assert_eq!((next, entries.len()), (0, 0));
        s.set(b"k", b"v").unwrap();
        assert_eq!(s.scan(u64::MAX, 10).unwrap().0, 0);
        s.close().unwrap();
        assert!(matches!(s.scan(0, 10), Err(crate::Error::Closed)));
    }

    #[test]
    fn expired_entries_are_neither_scanned_nor_picked_nor_counted() {
        let (s, clock) = store(4);
        assert!(s.random_entry().unwrap().is_none());
        s.set_with_ttl(b"short", b"v", Duration::from_secs(1))
            .unwrap();
        s.set_with_ttl(b"long", b"v", Duration::from_secs(100))
            .unwrap();
        s.set(b"forever", b"v").unwrap();
        let stats = s.keyspace_stats().unwrap();
        assert_eq!(
            (stats.keys, stats.expires, stats.avg_ttl_ms),
            (3, 2, 50_500)
        );
        clock.advance(Duration::from_secs(2));
        let stats = s.keyspace_stats().unwrap();
        assert_eq!(
            (stats.keys, stats.expires, stats.avg_ttl_ms),
            (2, 1, 98_000)
        );
        let (_, entries) = s.scan(0, 1_000).unwrap();
        let mut keys: Vec<Vec<u8>> = entries.iter().map(|e| e.key().to_vec()).collect();
        keys.sort();
        assert_eq!(keys, [b"forever".to_vec(), b"long".to_vec()]);
        for _ in 0..50 {
            let picked = s.random_entry().unwrap().unwrap();
            assert_ne!(picked.key(), b"short");
        }
        assert_eq!(s.now(), Timestamp::from_millis(T0.as_millis() + 2_000));
    }

    #[test]
    fn reads_and_deletes_of_several_keys() {
        let (s, _) = store(4);
        s.set(b"a", b"1").unwrap();
        s.set(b"b", b"2").unwrap();
        let got = s.get_many(&[b"a", b"nope", b"b", b"a"]).unwrap();
        let got: Vec<Option<&[u8]>> = got.iter().map(|v| v.as_deref()).collect();
        assert_eq!(
            got,
            [Some(&b"1"[..]), None, Some(&b"2"[..]), Some(&b"1"[..])]
        );
        assert_eq!(s.count_existing(&[b"a", b"a", b"nope", b"b"]).unwrap(), 3);
        let seq = s.metrics().last_seq;
        assert_eq!(s.delete_many(&[b"a", b"nope", b"a", b"b"]).unwrap(), 2);
        assert_eq!(s.metrics().last_seq, seq + 1, "one record for the batch");
        assert_eq!(s.delete_many(&[b"a", b"b"]).unwrap(), 0);
        assert_eq!(s.metrics().last_seq, seq + 1, "nothing logged for nothing");
        assert!(s.is_empty().unwrap());
    }

    #[test]
    fn a_read_of_several_keys_never_sees_a_batch_half_done() {
        let (s, _) = store(8);
        s.set(b"x", b"0").unwrap();
        s.set(b"y", b"0").unwrap();
        let written = Arc::new(AtomicU64::new(0));
        let writer = {
            let (s, written) = (s.clone(), written.clone());
            std::thread::spawn(move || {
                for i in 1..=20_000u64 {
                    let v = i.to_string();
                    let mut batch = Batch::new();
                    batch.put(b"x", v.as_bytes()).put(b"y", v.as_bytes());
                    s.apply(&batch).unwrap();
                    written.store(i, Ordering::Relaxed);
                }
            })
        };
        // Read for as long as the writer writes (it makes a bounded number of batches).
        let mut reads = 0u64;
        while written.load(Ordering::Relaxed) < 20_000 {
            let got = s.get_many(&[b"x", b"y"]).unwrap();
            assert_eq!(
                got[0].as_deref(),
                got[1].as_deref(),
                "a batch seen half done"
            );
            reads += 1;
        }
        writer.join().unwrap();
        assert!(reads > 0);
    }

    #[test]
    fn get_and_expire_reads_and_changes_the_expiry_as_getex() {
        let (s, clock) = store(4);
        assert_eq!(
            s.get_and_expire(b"nope", Expiry::In(Duration::from_secs(5)))
                .unwrap(),
            None
        );
        assert!(!s.exists(b"nope").unwrap());
        s.set(b"k", b"v").unwrap();
        let v = s
            .get_and_expire(b"k", Expiry::In(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(v.as_deref(), Some(&b"v"[..]));
        assert_eq!(
            s.info(b"k").unwrap().unwrap().expires_at,
            Some(Timestamp::from_millis(T0.as_millis() + 5_000))
        );
        let seq = s.metrics().last_seq;
        s.get_and_expire(b"k", Expiry::Keep).unwrap();
        assert_eq!(s.metrics().last_seq, seq, "KEEP writes nothing");
        s.get_and_expire(b"k", Expiry::Never).unwrap();
        assert_eq!(s.info(b"k").unwrap().unwrap().expires_at, None);
        let seq = s.metrics().last_seq;
        s.get_and_expire(b"k", Expiry::Never).unwrap();
        assert_eq!(
            s.metrics().last_seq,
            seq,
            "nothing to persist: nothing logged"
        );
        assert!(s.get_and_expire(b"k", Expiry::In(Duration::ZERO)).is_err());
        clock.advance(Duration::from_secs(1));
        let v = s.get_and_expire(b"k", Expiry::At(T0)).unwrap();
        assert_eq!(v.as_deref(), Some(&b"v"[..]), "the value before the delete");
        assert!(!s.exists(b"k").unwrap());
        assert_eq!(s.len().unwrap(), 0, "deleted, not left expired");
    }

    #[test]
    fn conditional_expiries_combine_and_a_past_time_deletes() {
        let (s, _) = store(4);
        let at = |secs: u64| Timestamp::from_millis(T0.as_millis() + secs * 1000);
        use ExpireIf::{Earlier, HasTtl, Later, NoTtl};
        assert!(!s.expire_or_delete_if(b"nope", at(10), &[]).unwrap());
        s.set(b"k", b"v").unwrap();
        // XX LT on a key without a TTL: LT alone would hold, XX does not.
        assert!(!s
            .expire_or_delete_if(b"k", at(100), &[HasTtl, Earlier])
            .unwrap());
        assert!(s.expire_or_delete_if(b"k", at(100), &[NoTtl]).unwrap());
        assert!(s
            .expire_or_delete_if(b"k", at(50), &[HasTtl, Earlier])
            .unwrap());
        assert!(!s.expire_or_delete_if(b"k", at(200), &[Earlier]).unwrap());
        assert!(s.expire_or_delete_if(b"k", at(200), &[Later]).unwrap());
        assert_eq!(s.info(b"k").unwrap().unwrap().expires_at, Some(at(200)));
        // A past time that fails its condition changes nothing ...
        assert!(!s.expire_or_delete_if(b"k", T0, &[Later]).unwrap());
        assert!(s.exists(b"k").unwrap());
        // ... and one that meets it deletes the key.
        assert!(s.expire_or_delete_if(b"k", T0, &[Earlier]).unwrap());
        assert_eq!(s.len().unwrap(), 0);
        assert!(s.metrics().writes_refused >= 3);
    }

    #[test]
    fn the_clock_and_the_sync_policy_are_the_stores() {
        let (s, clock) = store(1);
        assert_eq!(s.now(), T0);
        clock.advance(Duration::from_millis(7));
        assert_eq!(s.now().as_millis(), T0.as_millis() + 7);
        let dir = tempfile::tempdir().unwrap();
        let durable =
            Store::open(Options::new().dir(dir.path()).sync(SyncPolicy::EveryWrite)).unwrap();
        assert_eq!(durable.sync_policy(), SyncPolicy::EveryWrite);
        durable.close().unwrap();
    }
}

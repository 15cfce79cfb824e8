//! Bulk loading: sizing every shard's table up front, and inserting many entries
//! with one lock per shard and no eviction bookkeeping per entry.

use crate::hash::shard_of;
use crate::write::Write;
use crate::{Cache, Result};

/// One entry for [`Hooks::insert_bulk`](crate::hooks::Hooks::insert_bulk).
#[derive(Clone, Copy, Debug)]
pub struct BulkPut<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The value.
    pub value: &'a [u8],
    /// Its metadata, as for [`Hooks::insert`](crate::hooks::Hooks::insert).
    pub write: Write,
}

impl Cache {
    /// Makes room for about `additional` more entries (see
    /// [`Hooks::reserve`](crate::hooks::Hooks::reserve)).
    pub(crate) fn reserve(&self, additional: usize) {
        let additional = additional.min(self.inner.opts.max_entries);
        let shards = self.inner.shards.len();
        // Hashes spread keys evenly; a margin of about three standard deviations
        // covers the unevenness, and a shard that still overflows grows as usual.
        let mean = additional.div_ceil(shards);
        let per = mean + 3 * mean.isqrt() + 8;
        for shard in self.inner.shards.iter() {
            shard.write().reserve(&self.inner.hasher, per);
        }
    }
}

impl Cache {
    /// Inserts `puts` if they all fit without evicting (see
    /// [`Hooks::insert_bulk`](crate::hooks::Hooks::insert_bulk)).
    pub(crate) fn insert_bulk(&self, puts: &[BulkPut<'_>]) -> Result<bool> {
        for p in puts {
            if let Err(e) = self.validate(p.key, p.value) {
                return self.fail(e);
            }
        }
        let bytes: u64 = puts
            .iter()
            .map(|p| self.charge_len(p.key.len() + p.value.len()))
            .sum();
        // The most the puts can add; what replaced entries held is given back after.
        if self.try_reserve(puts.len(), bytes).is_err() {
            return Ok(false);
        }
        let mut order: Vec<(usize, u64, usize)> = puts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let hash = self.inner.hasher.hash(p.key);
                (shard_of(hash, self.inner.mask), hash, i)
            })
            .collect();
        // Stable: puts of one key keep their order.
        order.sort_by_key(|&(shard, _, _)| shard);
        let now = self.now();
        let (mut replaced, mut freed) = (0usize, 0u64);
        for group in order.chunk_by(|a, b| a.0 == b.0) {
            let mut st = self.inner.shards[group[0].0].write();
            for &(_, hash, i) in group {
                let BulkPut { key, value, write } = puts[i];
                let found = st.find(hash, key);
                let raw = st.new_entry(found, key, value, &write, now);
                match found {
                    Some(pos) => {
                        let old = st.replace(pos, raw);
                        replaced += 1;
                        freed += self.charge(&old);
                    }
                    None => drop(st.push(&self.inner.hasher, hash, raw)),
                }
            }
        }
        self.release(replaced, freed);
        self.inner.metrics.local().sets(puts.len() as u64);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use crate::hooks::{BulkPut, Write};
    use crate::{Cache, EvictionPolicy, Options, Timestamp};

    #[test]
    fn bulk_insert_matches_single_inserts_and_refuses_what_does_not_fit() {
        let opts = || Options::default().max_entries(100).shards(4);
        let keys: Vec<Vec<u8>> = (0..60u32)
            .map(|i| (i % 50).to_le_bytes().to_vec())
            .collect();
        let puts: Vec<BulkPut<'_>> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| BulkPut {
                key: k,
                value: if i < 50 { b"first" } else { b"second!" },
                write: Write::default()
                    .version(i as u64 + 1)
                    .created(Timestamp::from_millis(1000 * i as u64))
                    .updated(Timestamp::from_millis(2000 * i as u64)),
            })
            .collect();
        let bulk = Cache::new(opts()).unwrap();
        assert!(bulk.insert_bulk(&puts).unwrap());
        let single = Cache::new(opts()).unwrap();
        for p in &puts {
            single.insert(p.key, p.value, p.write).unwrap();
        }
        assert_eq!(bulk.len(), 50);
        assert_eq!(bulk.len(), single.len());
        assert_eq!(bulk.metrics().bytes, single.metrics().bytes);
        for k in &keys {
            let (b, s) = (bulk.get_entry(k).unwrap(), single.get_entry(k).unwrap());
            assert_eq!(b.value().to_vec(), s.value().to_vec());
            assert_eq!(b.version(), s.version());
            assert_eq!(b.created(), s.created());
            assert_eq!(b.updated(), s.updated());
        }
        // 50 live + 60 more might not fit in 100: nothing changes.
        let more: Vec<Vec<u8>> = (100..160u32).map(|i| i.to_le_bytes().to_vec()).collect();
        let more: Vec<BulkPut<'_>> = more
            .iter()
            .map(|k| BulkPut {
                key: k,
                value: b"v",
                write: Write::default(),
            })
            .collect();
        assert!(!bulk.insert_bulk(&more).unwrap());
        assert_eq!(bulk.len(), 50);
        assert_eq!(bulk.metrics().bytes, single.metrics().bytes);
        // An invalid key fails the whole call.
        let bad = [BulkPut {
            key: b"",
            value: b"v",
            write: Write::default(),
        }];
        assert!(bulk.insert_bulk(&bad).is_err());
        assert_eq!(bulk.len(), 50);
    }

    #[test]
    fn reserved_cache_keeps_every_entry_and_its_limits() {
        let cache = Cache::new(
            Options::default()
                .max_entries(1000)
                .shards(4)
                .eviction(EvictionPolicy::Lru),
        )
        .unwrap();
        cache.reserve(5000);
        for i in 0..1500u32 {
            cache
                .insert(&i.to_le_bytes(), b"v", Write::default())
                .unwrap();
        }
        assert_eq!(cache.len(), 1000);
        let cache = Cache::new(Options::default()).unwrap();
        cache.insert(b"before", b"1", Write::default()).unwrap();
        cache.reserve(3000);
        for i in 0..3000u32 {
            cache
                .insert(&i.to_le_bytes(), b"v", Write::default())
                .unwrap();
        }
        assert_eq!(cache.len(), 3001);
        assert_eq!(cache.get(b"before").as_deref(), Some(&b"1"[..]));
        for i in 0..3000u32 {
            assert!(cache.get(&i.to_le_bytes()).is_some());
        }
    }
}

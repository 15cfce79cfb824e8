//! Bulk loading: sizing every shard's table up front before many inserts.

use crate::Cache;

impl Cache {
    /// Makes room for about `additional` more entries (spread over the shards by key
    /// hash), so that inserting them rebuilds no shard's table on the way; capped at
    /// `max_entries`. Loading a snapshot or replaying a log of known size calls it
    /// first. Only memory use changes: entries, limits and eviction are unaffected.
    ///
    /// ```
    /// let cache = kv_core::Cache::new(kv_core::Options::default())?;
    /// cache.reserve(10_000);
    /// cache.insert(b"k", b"v", kv_core::Write::default())?;
    /// assert_eq!(cache.len(), 1);
    /// # Ok::<(), kv_core::Error>(())
    /// ```
    pub fn reserve(&self, additional: usize) {
        let additional = additional.min(self.opts.max_entries);
        let shards = self.shards.len();
        // Hashes spread keys evenly; a margin of about three standard deviations
        // covers the unevenness, and a shard that still overflows grows as usual.
        let mean = additional.div_ceil(shards);
        let per = mean + 3 * mean.isqrt() + 8;
        for shard in self.shards.iter() {
            shard.write().reserve(&self.hasher, per);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Cache, EvictionPolicy, Options, Write};

    #[test]
    fn reserved_cache_keeps_every_entry_and_its_limits() {
        let cache = Cache::new(Options {
            max_entries: 1000,
            shards: 4,
            eviction: EvictionPolicy::Lru,
            ..Options::default()
        })
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

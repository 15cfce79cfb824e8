//! Reference eviction policies for the hit-ratio table: Redis-style sampled LRU
//! (`maxmemory-samples 5`) without and with Redis's 16-candidate eviction pool, and
//! uniformly random eviction.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::adapter::{CacheSpec, KvAdapter};
use crate::rng::Rng;

/// Keys in a dense vector (for O(1) random sampling) plus an index.
struct Sampler {
    index: HashMap<Box<[u8]>, usize>,
    slots: Vec<(Box<[u8]>, u64)>,
    clock: u64,
    rng: Rng,
    capacity: usize,
    samples: usize,
    /// Redis's eviction pool: the best candidates seen so far, ascending by idle time
    /// at sampling; `None` samples afresh for every eviction.
    pool: Option<Vec<(Box<[u8]>, u64)>>,
}

/// Candidates Redis keeps between evictions (`EVPOOL_SIZE`).
const POOL_SIZE: usize = 16;

impl Sampler {
    fn new(capacity: u64, samples: usize, pool: bool) -> Self {
        Self {
            index: HashMap::new(),
            slots: Vec::new(),
            clock: 0,
            rng: Rng::new(0x5EED),
            capacity: capacity.max(1) as usize,
            samples,
            pool: pool.then(Vec::new),
        }
    }

    fn get(&mut self, key: &[u8]) -> bool {
        self.clock += 1;
        match self.index.get(key) {
            Some(&i) => {
                self.slots[i].1 = self.clock;
                true
            }
            None => false,
        }
    }

    fn set(&mut self, key: &[u8]) {
        self.clock += 1;
        if let Some(&i) = self.index.get(key) {
            self.slots[i].1 = self.clock;
            return;
        }
        if self.slots.len() >= self.capacity {
            self.evict();
        }
        self.index.insert(key.into(), self.slots.len());
        self.slots.push((key.into(), self.clock));
    }

    fn evict(&mut self) {
        if self.pool.is_some() {
            self.evict_from_pool();
            return;
        }
        let n = self.slots.len() as u64;
        let mut victim = self.rng.below(n) as usize;
        for _ in 1..self.samples {
            let candidate = self.rng.below(n) as usize;
            if self.slots[candidate].1 < self.slots[victim].1 {
                victim = candidate;
            }
        }
        self.remove_slot(victim);
    }

    /// As Redis: sample, merge the samples into the pool (keeping the 16 most idle),
    /// then evict the most idle pooled key that still exists.
    fn evict_from_pool(&mut self) {
        let n = self.slots.len() as u64;
        loop {
            let mut pool = self.pool.take().unwrap_or_default();
            for _ in 0..self.samples {
                let (key, last) = &self.slots[self.rng.below(n) as usize];
                let idle = self.clock - last;
                if pool.iter().any(|(k, _)| k == key) {
                    continue;
                }
                if pool.len() < POOL_SIZE || idle > pool[0].1 {
                    let at = pool.partition_point(|&(_, i)| i <= idle);
                    pool.insert(at, (key.clone(), idle));
                    if pool.len() > POOL_SIZE {
                        pool.remove(0);
                    }
                }
            }
            let mut victim = None;
            while let Some((key, _)) = pool.pop() {
                if let Some(&i) = self.index.get(&key) {
                    victim = Some(i);
                    break;
                }
            }
            self.pool = Some(pool);
            if let Some(i) = victim {
                self.remove_slot(i);
                return;
            }
        }
    }

    fn remove_slot(&mut self, victim: usize) {
        let (key, _) = self.slots.swap_remove(victim);
        self.index.remove(&key);
        if victim < self.slots.len() {
            let moved = self.slots[victim].0.clone();
            self.index.insert(moved, victim);
        }
    }
}

macro_rules! sampler_adapter {
    ($name:ident, $label:expr, $samples:expr, $pool:expr, $doc:expr) => {
        #[doc = $doc]
        pub struct $name {
            inner: Mutex<Sampler>,
        }

        impl KvAdapter for $name {
            fn name() -> String {
                $label.to_owned()
            }

            fn build(spec: &CacheSpec) -> Option<Self> {
                if spec.ttl.is_some() {
                    return None;
                }
                Some(Self {
                    inner: Mutex::new(Sampler::new(spec.capacity, $samples, $pool)),
                })
            }

            fn get(&self, key: &[u8]) -> bool {
                self.inner
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(key)
            }

            fn set(&self, key: &[u8], _value: &[u8]) {
                self.inner
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .set(key);
            }

            fn len(&self) -> usize {
                self.inner
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .slots
                    .len()
            }
        }
    };
}

sampler_adapter!(
    SampledLru,
    "redis sampled-LRU(5)",
    5,
    false,
    "Redis-style approximate LRU: evicts the least recently used of 5 random keys."
);
sampler_adapter!(
    SampledLruPool,
    "redis LRU(5) + pool",
    5,
    true,
    "Redis's approximate LRU as shipped: 5 samples per eviction merged into a pool of \
     the 16 most idle candidates seen, the most idle of which is evicted."
);
sampler_adapter!(
    SampledRandom,
    "random eviction",
    1,
    false,
    "Evicts one uniformly random key (Redis `allkeys-random`)."
);

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(capacity: u64) -> CacheSpec {
        CacheSpec {
            capacity,
            ttl: None,
            must_evict: true,
        }
    }

    #[test]
    fn stays_within_capacity_and_finds_what_it_kept() {
        let c = SampledLru::build(&spec(10)).unwrap();
        for i in 0..100u32 {
            c.set(&i.to_le_bytes(), b"");
            assert!(c.len() <= 10);
            assert!(c.get(&i.to_le_bytes()), "the newest key is always kept");
        }
        assert_eq!(c.len(), 10);
        let kept = (0..100u32).filter(|i| c.get(&i.to_le_bytes())).count();
        assert_eq!(kept, 10);
    }

    #[test]
    fn the_pool_stays_within_capacity_and_keeps_a_hot_key() {
        let pool = SampledLruPool::build(&spec(50)).unwrap();
        let mut lost = 0;
        for i in 1..5000u32 {
            if !pool.get(b"hot") {
                lost += 1;
                pool.set(b"hot", b"");
            }
            pool.set(&i.to_le_bytes(), b"");
            assert!(pool.len() <= 50);
        }
        // A pooled candidate can go stale (touched after it was pooled), so the hot key
        // may be evicted now and then, but rarely.
        assert!(lost <= 50, "lost {lost} times");
        let newest = (4950..5000u32)
            .filter(|i| pool.get(&i.to_le_bytes()))
            .count();
        assert!(newest >= 25, "kept {newest} of the 50 newest keys");
    }

    #[test]
    fn sampled_lru_keeps_a_hot_key_that_random_eviction_loses() {
        let lru = SampledLru::build(&spec(50)).unwrap();
        let mut lost = 0;
        for i in 1..5000u32 {
            lru.get(b"hot");
            if !lru.get(b"hot") {
                lost += 1;
                lru.set(b"hot", b"");
            }
            lru.set(&i.to_le_bytes(), b"");
        }
        // The hot key is touched every step, so it is never the oldest of a sample.
        assert!(lost <= 1, "lost {lost} times");
    }
}

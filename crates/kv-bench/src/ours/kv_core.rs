//! kv-core's `Cache`: LFU for the throughput workloads, every policy for hit ratio.

use std::hint::black_box;

use kv_core::{Cache, EvictionPolicy, Options};

use crate::adapter::{CacheSpec, KvAdapter};
use crate::ours::CORE;

/// The cache with `policy`, bounded by `spec`, default shards (four per core).
fn build(spec: &CacheSpec, policy: EvictionPolicy) -> Option<Cache> {
    let options = Options::default()
        .max_entries(usize::try_from(spec.capacity).ok()?)
        .eviction(policy);
    Some(Cache::new(options).expect("kv-core rejected the benchmark's options"))
}

/// A `kv_core::Cache` behind the adapter traits, with a TTL on every set when asked.
struct Core {
    cache: Cache,
    ttl: Option<std::time::Duration>,
}

impl Core {
    fn new(spec: &CacheSpec, policy: EvictionPolicy) -> Option<Self> {
        Some(Self {
            cache: build(spec, policy)?,
            ttl: spec.ttl,
        })
    }

    #[inline]
    fn get(&self, key: &[u8]) -> bool {
        match self.cache.get(key) {
            Some(v) => {
                black_box(v.as_bytes().len());
                true
            }
            None => false,
        }
    }

    #[inline]
    fn set(&self, key: &[u8], value: &[u8]) {
        let outcome = match self.ttl {
            Some(ttl) => self.cache.set_with_ttl(key, value, ttl),
            None => self.cache.set(key, value),
        };
        black_box(outcome.expect("kv-core refused a benchmark write"));
    }

    #[inline]
    fn incr(&self, key: &[u8], delta: i64) -> Option<i64> {
        Some(
            self.cache
                .incr(key, delta)
                .expect("kv-core refused a benchmark increment"),
        )
    }
}

/// kv-core with LFU eviction (the policy closest to the peers' admission schemes), as
/// it takes part in the throughput workloads.
pub struct KvCoreAdapter(Core);

impl KvAdapter for KvCoreAdapter {
    fn name() -> String {
        CORE.to_owned()
    }

    fn ours() -> bool {
        true
    }

    fn build(spec: &CacheSpec) -> Option<Self> {
        Core::new(spec, EvictionPolicy::Lfu).map(Self)
    }

    fn get(&self, key: &[u8]) -> bool {
        self.0.get(key)
    }

    fn set(&self, key: &[u8], value: &[u8]) {
        self.0.set(key, value);
    }

    /// `Cache::incr`, decided and applied under the key's shard write lock.
    fn incr(&self, key: &[u8], delta: i64) -> Option<i64> {
        self.0.incr(key, delta)
    }

    fn len(&self) -> usize {
        self.0.cache.len()
    }
}

/// kv-core as in [`KvCoreAdapter`] but without the TTL: the control that runs
/// interleaved with it in TTL workloads, so the TTL's cost is measured under the same
/// load. It takes part only where the workload puts a TTL on every entry.
pub struct KvCoreNoTtl(Core);

impl KvAdapter for KvCoreNoTtl {
    fn name() -> String {
        format!("{CORE} (no TTL)")
    }

    fn ours() -> bool {
        true
    }

    fn build(spec: &CacheSpec) -> Option<Self> {
        spec.ttl?;
        let spec = CacheSpec { ttl: None, ..*spec };
        Core::new(&spec, EvictionPolicy::Lfu).map(Self)
    }

    fn get(&self, key: &[u8]) -> bool {
        self.0.get(key)
    }

    fn set(&self, key: &[u8], value: &[u8]) {
        self.0.set(key, value);
    }

    fn len(&self) -> usize {
        self.0.cache.len()
    }
}

/// Marker for [`KvCorePolicy`]: LRU.
pub const LRU: u8 = 0;
/// Marker for [`KvCorePolicy`]: LFU.
pub const LFU: u8 = 1;
/// Marker for [`KvCorePolicy`]: random.
pub const RANDOM: u8 = 2;
/// Marker for [`KvCorePolicy`]: soonest expiry first (with no TTLs in the traces, it
/// falls back to least recently read).
pub const TTL: u8 = 3;
/// Marker for [`KvCorePolicy`]: LFU behind the TinyLFU admission filter.
pub const TINY_LFU: u8 = 4;

/// kv-core with one eviction policy, named after it, for the hit-ratio table.
pub struct KvCorePolicy<const P: u8>(Core);

impl<const P: u8> KvCorePolicy<P> {
    fn policy() -> (EvictionPolicy, &'static str) {
        match P {
            LRU => (EvictionPolicy::Lru, "LRU"),
            LFU => (EvictionPolicy::Lfu, "LFU"),
            TTL => (EvictionPolicy::Ttl, "TTL"),
            TINY_LFU => (EvictionPolicy::TinyLfu, "TinyLFU"),
            _ => (EvictionPolicy::Random, "random"),
        }
    }
}

impl<const P: u8> KvAdapter for KvCorePolicy<P> {
    fn name() -> String {
        format!("{CORE} {}", Self::policy().1)
    }

    fn ours() -> bool {
        true
    }

    fn build(spec: &CacheSpec) -> Option<Self> {
        Core::new(spec, Self::policy().0).map(Self)
    }

    fn get(&self, key: &[u8]) -> bool {
        self.0.get(key)
    }

    fn set(&self, key: &[u8], value: &[u8]) {
        self.0.set(key, value);
    }

    fn len(&self) -> usize {
        self.0.cache.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_at_capacity_and_reads_back() {
        let spec = CacheSpec {
            capacity: 100,
            ttl: Some(std::time::Duration::from_secs(60)),
            must_evict: true,
        };
        let c = KvCorePolicy::<LRU>::build(&spec).unwrap();
        for i in 0..1000u32 {
            c.set(&i.to_le_bytes(), b"v");
        }
        assert!(c.len() <= 100);
        assert!(c.get(&999u32.to_le_bytes()));
        assert!(!c.get(b"absent"));
        assert_eq!(KvCorePolicy::<RANDOM>::name(), "kv-core random");
        assert_eq!(KvCoreAdapter::name(), "kv-core");
        let no_ttl = CacheSpec { ttl: None, ..spec };
        assert!(
            KvCoreNoTtl::build(&no_ttl).is_none(),
            "the control only joins TTL workloads"
        );
        let control = KvCoreNoTtl::build(&spec).unwrap();
        control.set(b"k", b"v");
        assert!(control.get(b"k"));
    }
}

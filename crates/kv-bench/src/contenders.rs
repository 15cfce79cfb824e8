//! The lists of contenders, walked with a visitor so every loop is monomorphised.

use crate::adapter::{DurableAdapter, KvAdapter};
use crate::peers::{DashMapAdapter, FjallAdapter, MokaAdapter, QuickCacheAdapter, RedbAdapter};

/// Something done once per in-memory contender type.
pub trait CacheVisitor {
    /// Called with each contender type in turn.
    fn visit<A: KvAdapter>(&mut self);
}

/// Something done once per durable contender type.
pub trait DurableVisitor {
    /// Called with each contender type in turn.
    fn visit<A: DurableAdapter>(&mut self);
}

/// Our in-memory engines first, then the peers, for the throughput workloads.
pub fn each_cache(v: &mut impl CacheVisitor) {
    crate::ours::each_cache(v);
    v.visit::<DashMapAdapter>();
    v.visit::<QuickCacheAdapter>();
    v.visit::<MokaAdapter>();
}

/// Every eviction policy of ours, the reference samplers, then the bounded peers, for
/// the hit-ratio workloads.
pub fn each_policy(v: &mut impl CacheVisitor) {
    crate::ours::each_policy(v);
    v.visit::<crate::sampled::SampledLru>();
    v.visit::<crate::sampled::SampledLruPool>();
    v.visit::<crate::sampled::SampledRandom>();
    v.visit::<QuickCacheAdapter>();
    v.visit::<MokaAdapter>();
}

/// Our persistent store first, then the peers, then the disk's own limit (which runs
/// interleaved with them, under the same contention).
pub fn each_durable(v: &mut impl DurableVisitor) {
    crate::ours::each_durable(v);
    v.visit::<FjallAdapter>();
    v.visit::<RedbAdapter>();
    v.visit::<crate::disk_limit::DiskLimit>();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::CacheSpec;

    /// Every contender's increment, from two threads at once on the same few keys,
    /// loses nothing: the workload compares atomic read-modify-writes only.
    struct NoLostIncrements {
        tested: Vec<String>,
    }

    impl CacheVisitor for NoLostIncrements {
        fn visit<A: KvAdapter>(&mut self) {
            let spec = CacheSpec {
                capacity: 1000,
                ttl: None,
                must_evict: false,
            };
            let Some(cache) = A::build(&spec) else {
                return;
            };
            let keys: [&[u8]; 3] = [b"a", b"b", b"c"];
            if cache.incr(keys[0], 0).is_none() {
                return;
            }
            let per_thread = 3000;
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for i in 0..per_thread {
                            cache.incr(keys[i % 3], 1).unwrap();
                        }
                    });
                }
            });
            for k in keys {
                assert_eq!(cache.incr(k, 0), Some(2000), "{}", A::name());
            }
            assert_eq!(cache.incr(b"a", -2001), Some(-1), "{}", A::name());
            self.tested.push(A::name());
        }
    }

    #[test]
    fn increments_are_atomic() {
        let mut v = NoLostIncrements { tested: Vec::new() };
        each_cache(&mut v);
        for peer in [
            "kv-core",
            "kv-store (memory)",
            "dashmap",
            "quick_cache",
            "moka",
        ] {
            assert!(v.tested.iter().any(|t| t == peer), "{peer}: {:?}", v.tested);
        }
    }
}

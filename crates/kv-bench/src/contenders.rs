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

//! Adapters for our own crates, added as each crate's API lands.

mod kv_core;
pub(crate) mod kv_snapshot;
pub(crate) mod kv_store;
pub(crate) mod kv_wal;

pub use self::kv_core::{
    KvCoreAdapter, KvCoreNoTtl, KvCorePolicy, LFU, LRU, RANDOM, TINY_LFU, TTL,
};
pub use self::kv_store::{KvStoreAdapter, KvStoreMemAdapter};
pub use self::kv_wal::KvWalAdapter;

use crate::contenders::{CacheVisitor, DurableVisitor};

/// Our in-memory engine's name in tables.
pub(crate) const CORE: &str = "kv-core";
/// Our store without persistence, in memory.
pub(crate) const STORE_MEM: &str = "kv-store (memory)";
/// Our persistent store.
pub(crate) const STORE: &str = "kv-store";

/// Our in-memory engines for the throughput workloads.
pub(crate) fn each_cache(v: &mut impl CacheVisitor) {
    v.visit::<KvCoreAdapter>();
    v.visit::<KvStoreMemAdapter>();
    v.visit::<KvCoreNoTtl>();
}

/// Each of our eviction policies, for the hit-ratio workloads: TinyLFU first (the
/// one the report compares with the peers).
pub(crate) fn each_policy(v: &mut impl CacheVisitor) {
    v.visit::<KvCorePolicy<TINY_LFU>>();
    v.visit::<KvCorePolicy<LRU>>();
    v.visit::<KvCorePolicy<LFU>>();
    v.visit::<KvCorePolicy<RANDOM>>();
    v.visit::<KvCorePolicy<TTL>>();
}

/// Our persistent store.
pub(crate) fn each_durable(v: &mut impl DurableVisitor) {
    v.visit::<KvStoreAdapter>();
    v.visit::<KvWalAdapter>();
}

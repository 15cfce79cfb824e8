//! Adapters for our own crates, added as each crate's API lands.

use crate::contenders::{CacheVisitor, DurableVisitor};

/// Our in-memory engine's name in tables.
pub(crate) const CORE: &str = "kv-core";
/// Our store without persistence, in memory.
pub(crate) const STORE_MEM: &str = "kv-store (memory)";
/// Our persistent store.
pub(crate) const STORE: &str = "kv-store";

/// Our in-memory engines for the throughput workloads.
pub(crate) fn each_cache(_v: &mut impl CacheVisitor) {}

/// Each of our eviction policies, for the hit-ratio workloads.
pub(crate) fn each_policy(_v: &mut impl CacheVisitor) {}

/// Our persistent store.
pub(crate) fn each_durable(_v: &mut impl DurableVisitor) {}

/// Which of our crates have adapters in this build (for the report's notes).
pub(crate) fn missing() -> Vec<&'static str> {
    vec!["kv-core", "kv-wal", "kv-snapshot", "kv-store"]
}

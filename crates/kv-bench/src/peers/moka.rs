//! moka's synchronous cache (TinyLFU admission, LRU eviction, optional TTL).

use std::sync::Arc;

use moka::sync::Cache;

use crate::adapter::{CacheSpec, KvAdapter};

/// `moka::sync::Cache<Box<[u8]>, Arc<[u8]>>` bounded by entry count.
pub struct MokaAdapter {
    cache: Cache<Box<[u8]>, Arc<[u8]>>,
}

impl KvAdapter for MokaAdapter {
    fn name() -> String {
        "moka".to_owned()
    }

    fn build(spec: &CacheSpec) -> Option<Self> {
        let mut builder = Cache::builder().max_capacity(spec.capacity);
        if let Some(ttl) = spec.ttl {
            builder = builder.time_to_live(ttl);
        }
        Some(Self {
            cache: builder.build(),
        })
    }

    fn get(&self, key: &[u8]) -> bool {
        self.cache.get(key).is_some()
    }

    fn set(&self, key: &[u8], value: &[u8]) {
        self.cache.insert(key.into(), value.into());
    }

    fn settle(&self) {
        self.cache.run_pending_tasks();
    }

    fn len(&self) -> usize {
        self.cache.run_pending_tasks();
        self.cache.entry_count() as usize
    }
}

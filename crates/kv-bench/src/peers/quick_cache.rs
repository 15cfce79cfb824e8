//! quick_cache's synchronous cache (CLOCK-Pro-like eviction; no TTL).

use std::sync::Arc;

use quick_cache::sync::Cache;

use crate::adapter::{CacheSpec, KvAdapter};

/// `quick_cache::sync::Cache<Box<[u8]>, Arc<[u8]>>` bounded by item count.
pub struct QuickCacheAdapter {
    cache: Cache<Box<[u8]>, Arc<[u8]>>,
}

impl KvAdapter for QuickCacheAdapter {
    fn name() -> String {
        "quick_cache".to_owned()
    }

    fn build(spec: &CacheSpec) -> Option<Self> {
        if spec.ttl.is_some() {
            return None;
        }
        let capacity = usize::try_from(spec.capacity).ok()?;
        Some(Self {
            cache: Cache::new(capacity),
        })
    }

    fn get(&self, key: &[u8]) -> bool {
        self.cache.get(key).is_some()
    }

    fn set(&self, key: &[u8], value: &[u8]) {
        self.cache.insert(key.into(), value.into());
    }

    fn len(&self) -> usize {
        self.cache.len()
    }
}

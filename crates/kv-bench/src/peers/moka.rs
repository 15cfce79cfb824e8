//! moka's synchronous cache (TinyLFU admission, LRU eviction, optional TTL).

use std::sync::Arc;

use moka::ops::compute::Op;
use moka::sync::Cache;

use crate::adapter::{CacheSpec, KvAdapter};
use crate::counter::{bump, Decimal};

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

    /// `and_compute_with`, which runs calls on the same key one at a time (a
    /// key-level lock) and puts the closure's new value. moka turns the key into an
    /// `Arc<K>` on every call whichever entry selector is used; `entry` (an owned key)
    /// rather than `entry_by_ref`, because `[u8]` owns into a `Vec`, not the key type.
    fn incr(&self, key: &[u8], delta: i64) -> Option<i64> {
        let mut new = 0;
        self.cache.entry(key.into()).and_compute_with(|current| {
            new = bump(current.as_ref().map(|e| &e.value()[..]), delta);
            Op::Put(Decimal::new(new).as_bytes().into())
        });
        Some(new)
    }

    fn settle(&self) {
        self.cache.run_pending_tasks();
    }

    fn len(&self) -> usize {
        self.cache.run_pending_tasks();
        self.cache.entry_count() as usize
    }
}

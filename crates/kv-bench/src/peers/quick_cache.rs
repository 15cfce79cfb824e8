//! quick_cache's synchronous cache (CLOCK-Pro-like eviction; no TTL).

use std::sync::Arc;

use quick_cache::sync::{Cache, EntryAction, EntryResult};

use crate::adapter::{CacheSpec, KvAdapter};
use crate::counter::{bump, Decimal};

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

    /// quick_cache's atomic read-modify-write is `entry`: the closure replaces the
    /// value under the shard's write lock; a missing key gets a placeholder that other
    /// callers of `entry` wait on until this one inserts, so no increment is lost.
    /// `entry` wants a borrowed key that `ToOwned`s into the key type, and `[u8]`
    /// owns into a `Vec`, not the `Box<[u8]>` of every other workload: so the key is
    /// boxed on each call.
    fn incr(&self, key: &[u8], delta: i64) -> Option<i64> {
        let key: Box<[u8]> = key.into();
        let result = self.cache.entry(&key, None, |_, v| {
            let new = bump(Some(v), delta);
            *v = Decimal::new(new).as_bytes().into();
            EntryAction::Retain(new)
        });
        match result {
            EntryResult::Retained(new) => Some(new),
            EntryResult::Vacant(guard) => {
                let new = bump(None, delta);
                guard
                    .insert(Decimal::new(new).as_bytes().into())
                    .unwrap_or_else(|_| panic!("quick_cache dropped a counter's placeholder"));
                Some(new)
            }
            EntryResult::Removed(..) | EntryResult::Replaced(..) | EntryResult::Timeout => {
                unreachable!("the closure retains, and there is no timeout")
            }
        }
    }

    fn len(&self) -> usize {
        self.cache.len()
    }
}

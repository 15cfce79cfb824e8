//! dashmap with the foldhash hasher (as in the baseline): a concurrent map, not a cache.

use std::hint::black_box;

use dashmap::DashMap;

use crate::adapter::{CacheSpec, KvAdapter};

/// `DashMap<Box<[u8]>, Box<[u8]>, foldhash::fast::RandomState>`; it has no bound and no
/// TTL, so it only takes part in workloads that never exceed capacity.
pub struct DashMapAdapter {
    map: DashMap<Box<[u8]>, Box<[u8]>, foldhash::fast::RandomState>,
}

impl KvAdapter for DashMapAdapter {
    fn name() -> String {
        "dashmap".to_owned()
    }

    fn build(spec: &CacheSpec) -> Option<Self> {
        if spec.must_evict || spec.ttl.is_some() {
            return None;
        }
        Some(Self {
            map: DashMap::with_hasher(foldhash::fast::RandomState::default()),
        })
    }

    fn get(&self, key: &[u8]) -> bool {
        match self.map.get(key) {
            Some(v) => {
                black_box(v.value().len());
                true
            }
            None => false,
        }
    }

    fn set(&self, key: &[u8], value: &[u8]) {
        self.map.insert(key.into(), value.into());
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

//! dashmap with the foldhash hasher (as in the baseline): a concurrent map, not a cache.

use std::cell::Cell;
use std::hint::black_box;

use dashmap::DashMap;

use crate::adapter::{CacheSpec, KvAdapter};
use crate::counter::{bump, Decimal};

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

    /// The decimal value is replaced under the shard's write lock. A present key is
    /// reached with `get_mut` (a borrowed key, as a user keeping counters would);
    /// only a missing one goes through `entry().and_modify().or_insert_with()`, whose
    /// owned key would otherwise cost an allocation on every call.
    fn incr(&self, key: &[u8], delta: i64) -> Option<i64> {
        let new = Cell::new(0);
        let add = |v: &mut Box<[u8]>| {
            new.set(bump(Some(v), delta));
            *v = Decimal::new(new.get()).as_bytes().into();
        };
        if let Some(mut v) = self.map.get_mut(key) {
            add(v.value_mut());
            return Some(new.get());
        }
        self.map
            .entry(key.into())
            .and_modify(add)
            .or_insert_with(|| {
                new.set(bump(None, delta));
                Decimal::new(new.get()).as_bytes().into()
            });
        Some(new.get())
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

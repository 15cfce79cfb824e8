//! `get_or_insert_with`: concurrent misses on one key run the closure once.

use std::sync::Arc;

use kv_core::Value;
use parking_lot::Mutex;

use crate::store::Inner;
use crate::{Result, Store};

/// Removes a key's in-flight slot when its computing caller is done, however it ends
/// (value, error or panic), so a failed closure never wedges the key.
struct SlotGuard<'a> {
    inner: &'a Inner,
    key: &'a [u8],
    slot: Arc<Mutex<()>>,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let mut map = self.inner.in_flight.lock();
        if map
            .get(self.key)
            .is_some_and(|s| Arc::ptr_eq(s, &self.slot))
        {
            map.remove(self.key);
        }
    }
}

impl Store {
    /// The value of `key`; on a miss, `f` computes it and it is stored (logged like a
    /// `set`, no expiry) before it is returned.
    ///
    /// Concurrent misses on the same key run `f` once: the others wait for it and
    /// return its value. If `f` panics, a waiter runs its own `f`; the key is never
    /// wedged. `f` runs with no store lock held, so it may use the store (but must
    /// not wait for another `get_or_insert_with` of the same key). In the rare case
    /// that the stored value is evicted before it could be returned, `f` runs again.
    pub fn get_or_insert_with<V: AsRef<[u8]>>(
        &self,
        key: &[u8],
        f: impl FnOnce() -> V,
    ) -> Result<Value> {
        let inner = self.inner();
        inner.check_write()?;
        inner.check_key(key)?;
        let mut f = Some(f);
        loop {
            if let Some(v) = inner.cache.get(key) {
                return Ok(v);
            }
            let slot = Arc::clone(
                inner
                    .in_flight
                    .lock()
                    .entry(key.into())
                    .or_insert_with(|| Arc::new(Mutex::new(()))),
            );
            let _turn = slot.lock();
            let _guard = SlotGuard {
                inner,
                key,
                slot: Arc::clone(&slot),
            };
            // The caller before us may have stored it.
            if let Some(v) = inner.cache.get(key) {
                return Ok(v);
            }
            let Some(compute) = f.take() else {
                // Ours ran and its value was evicted at once: nothing left to store.
                return Err(crate::Error::Core(kv_core::Error::StoreFull {
                    limit: kv_core::StoreLimit::Entries(inner.opts.max_entries),
                }));
            };
            let value = compute();
            let value = value.as_ref();
            inner.check_entry(key, value)?;
            let _stripe = inner.stripes.lock(key);
            if let Some(v) = inner.cache.get(key) {
                // A plain `set` got there first; it is the newer write.
                return Ok(v);
            }
            inner.put_locked(key, value, None)?;
            if let Some(v) = inner.cache.get(key) {
                return Ok(v);
            }
        }
    }
}

//! `get_or_insert_with`: concurrent misses on one key run the closure once, on
//! kv-core's single flight (`Hooks::get_or_insert_with`), the value going through
//! the store's logged write path.

use kv_core::Value;

use crate::{Result, Store};

impl Store {
    /// The value of `key`; on a miss, `f` computes it and it is stored (logged like a
    /// `set`, no expiry) before it is returned. Counted as one read: a hit if the
    /// value was there, else a miss.
    ///
    /// Concurrent misses on the same key run `f` once: the others wait for it and
    /// return its value. If `f` panics, a waiter runs its own `f`; the key is never
    /// wedged. `f` runs with no store lock held, so it may use the store (but must
    /// not wait for another `get_or_insert_with` of the same key). If a plain write
    /// of the key lands while `f` runs, that newer value is kept and returned.
    pub fn get_or_insert_with<V: AsRef<[u8]>>(
        &self,
        key: &[u8],
        f: impl FnOnce() -> V,
    ) -> Result<Value> {
        let inner = self.inner();
        inner.check_write()?;
        inner.check_key(key)?;
        let hooks = inner.cache.hooks();
        hooks.get_or_insert_with(key, || {
            let value = f();
            let value = value.as_ref();
            inner.check_entry(key, value)?;
            let _stripe = inner.stripes.lock(key);
            if let Some(e) = hooks.peek(key) {
                // A plain `set` got there first; it is the newer write.
                return Ok(e.value());
            }
            inner.put_locked(key, value, None)?;
            // The stored handle, unless an eviction took it already.
            Ok(hooks
                .peek(key)
                .map_or_else(|| Value::from(value), |e| e.value()))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::time::{Duration, Instant};

    use crate::Store;

    #[test]
    fn each_call_counts_one_read_and_concurrent_misses_run_one_closure() {
        const THREADS: u64 = 8;
        let store = Store::in_memory().unwrap();
        let runs = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    let v = store
                        .get_or_insert_with(b"k", || {
                            runs.fetch_add(1, SeqCst);
                            // Every caller has missed, so the others wait for this
                            // closure (yielding, not sleeping; bounded).
                            let start = Instant::now();
                            while store.metrics().cache.misses < THREADS {
                                assert!(start.elapsed() < Duration::from_secs(60));
                                std::thread::yield_now();
                            }
                            b"computed".to_vec()
                        })
                        .unwrap();
                    assert_eq!(v, b"computed");
                });
            }
        });
        assert_eq!(runs.load(SeqCst), 1);
        let m = store.metrics().cache;
        assert_eq!((m.hits, m.misses, m.sets), (0, THREADS, 1));
        let v = store.get_or_insert_with(b"k", || b"again").unwrap();
        assert_eq!(v, b"computed");
        let m = store.metrics().cache;
        assert_eq!((m.hits, m.misses), (1, THREADS));
    }

    #[test]
    fn an_absent_key_counts_one_miss() {
        let store = Store::in_memory().unwrap();
        assert_eq!(store.get_or_insert_with(b"k", || b"v").unwrap(), b"v");
        let m = store.metrics().cache;
        assert_eq!((m.hits, m.misses, m.sets), (0, 1, 1));
        assert_eq!(store.get(b"k").unwrap().unwrap(), b"v");
    }
}

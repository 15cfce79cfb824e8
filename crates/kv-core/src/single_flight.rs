//! Compute-on-miss with single flight: concurrent misses on one key run one
//! computation and the others wait for its value. [`Cache::get_or_insert_with`] and
//! kv-store's `Store::get_or_insert_with` both run on it: the cache stores the
//! computed value itself, kv-store through its logged write path
//! ([`Hooks::get_or_insert_with`]).

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::batch::BatchOp;
use crate::hooks::Hooks;
use crate::write::Write;
use crate::{Cache, Error, Result, Value};

/// One computation in flight for one key, registered in the key's shard.
pub(crate) struct Flight {
    key: Box<[u8]>,
    state: Mutex<FlightState>,
    done: Condvar,
}

enum FlightState {
    Running,
    Done(Value),
    /// The computation failed or panicked, or its value could not be stored:
    /// waiters try again (one of them becomes the new leader).
    Failed,
}

impl Flight {
    /// Waits for the leader; `None` if it failed.
    fn wait(&self) -> Option<Value> {
        let mut state = self.state.lock();
        loop {
            match &*state {
                FlightState::Running => self.done.wait(&mut state),
                FlightState::Done(v) => return Some(v.clone()),
                FlightState::Failed => return None,
            }
        }
    }
}

/// The leader's duty: whatever happens (value, error, panic), unregister the flight
/// and wake its waiters.
struct Leading<'a> {
    cache: &'a Cache,
    hash: u64,
    flight: Arc<Flight>,
    result: Option<Value>,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        self.cache
            .shard(self.hash)
            .flights
            .lock()
            .retain(|f| !Arc::ptr_eq(f, &self.flight));
        let mut state = self.flight.state.lock();
        *state = match self.result.take() {
            Some(v) => FlightState::Done(v),
            None => FlightState::Failed,
        };
        drop(state);
        self.flight.done.notify_all();
    }
}

impl Cache {
    /// The live value for `key`, or else `f()`'s value, stored (with no expiry) and
    /// returned. Concurrent calls that miss on the same key run one closure; the
    /// others wait and get its value. If the closure panics, waiters retry (one runs
    /// its own closure) and the key is not left blocked. The closure runs with no lock
    /// held and may use the cache, except to compute the same key again (that call
    /// would wait for itself). Each call counts one read: a hit if the value was
    /// there, else a miss.
    ///
    /// ```
    /// # let cache = kv_core::Cache::new(kv_core::Options::default())?;
    /// let v = cache.get_or_insert_with(b"k", || b"computed".to_vec())?;
    /// assert_eq!(v, b"computed");
    /// let again = cache.get_or_insert_with(b"k", || -> Vec<u8> { unreachable!() })?;
    /// assert_eq!(again, b"computed");
    /// let m = cache.metrics();
    /// assert_eq!((m.hits, m.misses), (1, 1));
    /// # Ok::<(), kv_core::Error>(())
    /// ```
    pub fn get_or_insert_with<V, F>(&self, key: &[u8], f: F) -> Result<Value>
    where
        V: AsRef<[u8]>,
        F: FnOnce() -> V,
    {
        self.try_get_or_insert_with(key, || Ok::<V, Error>(f()))
    }

    /// Like [`get_or_insert_with`](Self::get_or_insert_with) with a fallible closure.
    /// Its error is returned to this caller only; waiters retry. Errors of the cache
    /// itself (a key too large, a full cache) convert into `E`.
    pub fn try_get_or_insert_with<V, E, F>(&self, key: &[u8], f: F) -> Result<Value, E>
    where
        V: AsRef<[u8]>,
        E: From<Error>,
        F: FnOnce() -> Result<V, E>,
    {
        self.single_flight(key, |hash| {
            let value = f()?;
            let put = [BatchOp::Put {
                key,
                value: value.as_ref(),
                write: Write::default(),
            }];
            let mut applied = self.apply_hinted(&put, Some(hash), true)?;
            let Some(raw) = applied.last_put.take() else {
                unreachable!("a successful put reports its entry");
            };
            Ok(Value::new(raw))
        })
    }

    /// The single flight itself: the live value of `key` (one counted read), or else
    /// the value `insert` (given the key's hash) stores and returns, run by one
    /// caller among those that miss on `key` at once, the others waiting for it.
    pub(crate) fn single_flight<E: From<Error>>(
        &self,
        key: &[u8],
        insert: impl FnOnce(u64) -> Result<Value, E>,
    ) -> Result<Value, E> {
        if let Err(e) = self.validate_key(key) {
            return Err(E::from(self.fail::<()>(e).unwrap_err()));
        }
        let hash = self.inner.hasher.hash(key);
        let mut insert = Some(insert);
        // This call's one counted read; a retry after a failed leader looks again
        // without counting.
        let mut counted = false;
        loop {
            let found = if counted {
                self.live_hashed(hash, key)
            } else {
                counted = true;
                self.read_hashed(hash, key)
            };
            if let Some(raw) = found {
                return Ok(Value::new(raw));
            }
            let (flight, leader) = {
                let mut flights = self.shard(hash).flights.lock();
                match flights.iter().find(|fl| &*fl.key == key) {
                    Some(fl) => (Arc::clone(fl), false),
                    None => {
                        let fl = Arc::new(Flight {
                            key: key.into(),
                            state: Mutex::new(FlightState::Running),
                            done: Condvar::new(),
                        });
                        flights.push(Arc::clone(&fl));
                        (fl, true)
                    }
                }
            };
            if !leader {
                match flight.wait() {
                    Some(v) => return Ok(v),
                    None => continue,
                }
            }
            let mut leading = Leading {
                cache: self,
                hash,
                flight,
                result: None,
            };
            // A write may have landed between the miss and taking the lead.
            if let Some(raw) = self.live_hashed(hash, key) {
                let v = Value::new(raw);
                leading.result = Some(v.clone());
                return Ok(v);
            }
            let Some(insert) = insert.take() else {
                // A caller leads at most once: leading ends in a return.
                unreachable!("the closure was already run");
            };
            let v = insert(hash)?;
            leading.result = Some(v.clone());
            return Ok(v);
        }
    }
}

impl Hooks<'_> {
    /// The single flight of [`Cache::get_or_insert_with`], with the store step given
    /// by the caller: the live value of `key` (counted as one read, a hit), or else
    /// the value `insert` returns, a miss. `insert` runs in one caller among those
    /// that miss on `key` at once, with no lock held, only if the key is still
    /// absent when that caller takes the lead; it computes the value, stores it (a
    /// storage layer logs it first) and returns the handle it stored (or
    /// `Value::from` the bytes if the stored entry is already gone). The others wait
    /// and return the same value. If `insert` fails or panics, its error or panic
    /// goes to its caller only, and a waiter takes the lead with its own `insert`.
    pub fn get_or_insert_with<E: From<Error>>(
        &self,
        key: &[u8],
        insert: impl FnOnce() -> Result<Value, E>,
    ) -> Result<Value, E> {
        self.cache.single_flight(key, |_| insert())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::Options;

    /// Waits (yielding, not sleeping) until `done` holds; fails after a minute.
    fn wait_until(what: &str, done: impl Fn() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(60), "{what}");
            std::thread::yield_now();
        }
    }

    #[test]
    fn waiters_join_the_leaders_flight_and_each_call_counts_one_read() {
        const THREADS: usize = 8;
        let cache = Cache::new(Options::default()).unwrap();
        let runs = AtomicUsize::new(0);
        let values: Vec<Value> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        cache
                            .get_or_insert_with(b"k", || {
                                runs.fetch_add(1, SeqCst);
                                // Every caller has missed: the others are past their
                                // read, and find this flight registered.
                                wait_until("all callers missed", || {
                                    cache.metrics().misses == THREADS as u64
                                });
                                b"computed".to_vec()
                            })
                            .unwrap()
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert!(values.iter().all(|v| v == b"computed"));
        assert_eq!(runs.load(SeqCst), 1);
        let m = cache.metrics();
        assert_eq!((m.hits, m.misses, m.sets), (0, THREADS as u64, 1));
        cache.get_or_insert_with(b"k", || b"again").unwrap();
        assert_eq!(cache.metrics().hits, 1);
    }

    #[test]
    fn a_storage_layer_supplies_the_store_step() {
        let cache = Cache::new(Options::default()).unwrap();
        let hooks = cache.hooks();
        // The storage layer stores it its own way (here: with a version of its own).
        let v = hooks
            .get_or_insert_with(b"k", || {
                let w = Write::default().version(77);
                hooks.insert(b"k", b"v", w)?;
                Ok::<_, Error>(hooks.peek(b"k").unwrap().value())
            })
            .unwrap();
        assert_eq!(v, b"v");
        assert_eq!(hooks.peek(b"k").unwrap().version(), 77);
        // Present: `insert` does not run.
        let v = hooks
            .get_or_insert_with(b"k", || -> Result<Value> { unreachable!() })
            .unwrap();
        assert_eq!(v, b"v");
        let m = cache.metrics();
        assert_eq!((m.hits, m.misses, m.sets), (1, 1, 1));
        // A failed store step reaches its caller and leaves the key free.
        let full = Error::StoreFull {
            limit: crate::StoreLimit::Entries(1),
        };
        let err = hooks
            .get_or_insert_with(b"x", || Err::<Value, _>(full.clone()))
            .unwrap_err();
        assert_eq!(err, full);
        assert!(cache
            .shard(cache.inner.hasher.hash(b"x"))
            .flights
            .lock()
            .is_empty());
    }
}

//! Compute-on-miss: [`Cache::get_or_insert_with`], where concurrent misses on one key
//! run the closure once and the others wait for its result.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::entry::same_flight;
use crate::write::Write;
use crate::{Cache, Error, Result, Value};

/// One computation in flight for one key.
pub(crate) struct Flight {
    key: Box<[u8]>,
    state: Mutex<FlightState>,
    done: Condvar,
}

enum FlightState {
    Running,
    Done(Value),
    /// The closure failed or panicked, or its value could not be stored: waiters try
    /// again (one of them becomes the new leader).
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

/// The leader's duty: whatever happens (value, error, panic), unregister the flight and
/// wake its waiters.
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
            .retain(|f| !same_flight(f, &self.flight));
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
    /// would wait for itself).
    ///
    /// ```
    /// # let cache = kv_core::Cache::new(kv_core::Options::default())?;
    /// let v = cache.get_or_insert_with(b"k", || b"computed".to_vec())?;
    /// assert_eq!(v, b"computed");
    /// let again = cache.get_or_insert_with(b"k", || -> Vec<u8> { unreachable!() })?;
    /// assert_eq!(again, b"computed");
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
        if let Err(e) = self.validate_key(key) {
            return Err(E::from(self.fail::<()>(e).unwrap_err()));
        }
        let hash = self.inner.hasher.hash(key);
        let mut f = Some(f);
        loop {
            if let Some(raw) = self.read_hashed(hash, key) {
                return Ok(Value::new(raw));
            }
            let (flight, leader) = {
                let mut flights = self.shard(hash).flights.lock();
                match flights.iter().find(|fl| &*fl.key == key) {
                    Some(fl) => (fl.clone(), false),
                    None => {
                        let fl = Arc::new(Flight {
                            key: key.into(),
                            state: Mutex::new(FlightState::Running),
                            done: Condvar::new(),
                        });
                        flights.push(fl.clone());
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
            let Some(f) = f.take() else {
                // A caller leads at most once: leading ends in a return.
                unreachable!("the closure was already run");
            };
            let value = f()?;
            let put = [crate::batch::BatchOp::Put {
                key,
                value: value.as_ref(),
                write: Write::default(),
            }];
            let mut applied = self.apply_hinted(&put, Some(hash))?;
            let Some(raw) = applied.last_put.take() else {
                unreachable!("a successful put reports its entry");
            };
            let v = Value::new(raw);
            leading.result = Some(v.clone());
            return Ok(v);
        }
    }
}

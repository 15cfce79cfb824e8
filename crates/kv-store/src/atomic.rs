//! Atomic updates of a [`Store`]: conditional sets and deletes, increments, appends,
//! [`Update`] closures and conditional expiries, and [`Store::update_many`] over
//! several keys.
//!
//! Each is decided by kv-core's decision function for it (the same one
//! [`kv_core::Cache`] uses under its shard lock), here under the key's write stripe,
//! from the key's current entry; the decision (a put, a delete or an expiry: the
//! outcome, never the condition) is logged as **one** record and then applied. A
//! refused condition writes nothing, to the log or the map. A crash keeps a decided
//! write whole or not at all, and recovery replays outcomes without deciding again.
//! The Redis names of these operations are in the table of [`SetOptions`](crate::SetOptions).

use kv_core::hooks::decide::{self, Current, Decision};
use kv_core::hooks::InClosure;
use kv_core::{Condition, Entry, ExpireIf, SetOptions, SetOutcome, Timestamp, Update, Value};
use kv_wal::Op;

use crate::metrics::Counters;
use crate::store::Inner;
use crate::{Batch, Error, Result, Store};

/// What applying a decision did.
pub(crate) struct Done {
    /// Whether the key changed (a put, a delete or an expiry was logged and applied).
    pub(crate) written: bool,
    /// The key's value before, if it had one.
    pub(crate) previous: Option<Value>,
    /// The written entry's version, for a put.
    pub(crate) version: Option<u64>,
}

/// A key's live entry with its value handle, as a decision borrows it.
fn current(entry: &Option<(Entry, Value)>) -> Option<Current<'_>> {
    entry.as_ref().map(|(e, v)| Current {
        value: v,
        expires_at: e.expires_at(),
        version: e.version(),
    })
}

impl Inner {
    /// Refuses a write from inside this store's own update closure (it would wait
    /// forever for the stripe the closure's caller holds).
    pub(crate) fn check_not_in_closure(&self) -> Result<()> {
        if InClosure::is_inside(self.id()) {
            return Err(kv_core::Error::Reentrant.into());
        }
        Ok(())
    }

    /// The address that names this store to [`InClosure`].
    fn id(&self) -> usize {
        self as *const Inner as usize
    }

    /// Decides a write to `key` from its current live entry under the key's stripe
    /// (`decide` gets it and the store's clock), then logs and applies the decision.
    /// Returns what `decide` returned beside its decision, and what was done.
    pub(crate) fn decide<R>(
        &self,
        key: &[u8],
        decide: impl FnOnce(Option<&Current<'_>>, Timestamp) -> Result<(Decision, R)>,
    ) -> Result<(R, Done)> {
        self.check_write()?;
        self.check_key(key)?;
        let _stripe = self.stripes.lock(key);
        // Not a read: no hit or miss is counted, no access recorded.
        let entry = self.cache.hooks().peek(key).map(|e| {
            let v = e.value();
            (e, v)
        });
        let (decision, r) = decide(current(&entry).as_ref(), self.opts.clock.now())?;
        let done = self.apply_decision(key, decision, entry.map(|(_, v)| v))?;
        Ok((r, done))
    }

    /// Logs and applies `decision` for `key`, whose stripe the caller holds.
    fn apply_decision(
        &self,
        key: &[u8],
        decision: Decision,
        previous: Option<Value>,
    ) -> Result<Done> {
        let mut done = Done {
            written: true,
            previous,
            version: None,
        };
        match decision {
            Decision::Put { value, expires_at } => {
                self.check_entry(key, &value)?;
                done.version = Some(self.put_locked(key, &value, expires_at)?);
            }
            Decision::Delete => {
                let removed = self.log_and_apply(&Op::Delete { key }, |_| {
                    Ok((self.cache.delete(key), Vec::new()))
                })?;
                self.count_delete(1);
                done.written = removed;
            }
            Decision::Expire(at) => {
                let op = Op::Expire {
                    key,
                    expires_at: at.map(Timestamp::as_millis),
                };
                done.written =
                    self.log_and_apply(&op, |_| Ok((self.cache.expire(key, at), Vec::new())))?;
            }
            Decision::Nothing { refused } => {
                if refused {
                    Counters::add(&self.counters.writes_refused, 1);
                }
                done.written = false;
            }
            _ => unreachable!("kv-core decides only puts, deletes, expiries and nothing"),
        }
        Ok(done)
    }
}

impl Store {
    /// Sets `key` to `value` as `options` say: only if a condition holds (absent,
    /// present, a version, a value), with the expiry set, kept or removed, and
    /// returning the value it replaces if asked (see [`SetOptions`] and the Redis
    /// table in the docs of [`SetOptions`]). Decided under the key's write stripe and
    /// logged as one record; a refused set writes nothing and is counted in
    /// [`Metrics::writes_refused`](crate::Metrics::writes_refused).
    ///
    /// ```
    /// # fn main() -> kv_store::Result<()> {
    /// use kv_store::{SetOptions, Store};
    /// let store = Store::in_memory()?;
    /// assert!(store.set_with(b"lock", b"me", &SetOptions::new().if_absent())?.written);
    /// assert!(!store.set_with(b"lock", b"you", &SetOptions::new().if_absent())?.written);
    /// let swapped = store.set_with(b"lock", b"next", &SetOptions::new().if_value(b"me").get())?;
    /// assert_eq!(swapped.previous.as_deref(), Some(&b"me"[..]));
    /// # Ok(()) }
    /// ```
    pub fn set_with(
        &self,
        key: &[u8],
        value: &[u8],
        options: &SetOptions<'_>,
    ) -> Result<SetOutcome<Value>> {
        // Checked before the key, as a plain set does: a value over the limit is an
        // error whatever the condition.
        self.inner().check_entry(key, value)?;
        let (_, done) = self.inner().decide(key, |current, now| {
            Ok((decide::set(current, value, options, now)?, ()))
        })?;
        Ok(SetOutcome::new(
            done.written,
            done.previous.filter(|_| options.wants_previous()),
            done.version,
        ))
    }

    /// Deletes `key` only if `condition` holds (its version, or its value, is the one
    /// given: release a lock only by its owner); true if it was deleted. An absent
    /// key is not deleted, and is not counted as a refusal.
    pub fn delete_if(&self, key: &[u8], condition: Condition<'_>) -> Result<bool> {
        let (_, done) = self.inner().decide(key, |current, _| {
            Ok((decide::delete(current, condition), ()))
        })?;
        Ok(done.written)
    }

    /// Adds `delta` to the decimal integer stored at `key` (an absent key counts as
    /// 0; the key keeps its expiry) and returns the new value, as Redis `INCRBY`. A
    /// value that is not a decimal integer within `i64` fails with
    /// [`CoreError::NotAnInteger`](crate::CoreError::NotAnInteger), an overflow with
    /// [`CoreError::Overflow`](crate::CoreError::Overflow); either changes nothing.
    pub fn incr(&self, key: &[u8], delta: i64) -> Result<i64> {
        let (n, _) = self
            .inner()
            .decide(key, |current, _| Ok(decide::incr(current, delta)?))?;
        Ok(n)
    }

    /// Adds `delta` to the decimal number stored at `key` (an absent key counts as 0;
    /// the key keeps its expiry) and returns the new value, as Redis `INCRBYFLOAT`;
    /// the value is stored in the shortest decimal form that reads back as the same
    /// `f64`. A value or delta that is not a finite number fails with
    /// [`CoreError::NotAFloat`](crate::CoreError::NotAFloat), a result that is not
    /// with [`CoreError::Overflow`](crate::CoreError::Overflow); either changes nothing.
    pub fn incr_float(&self, key: &[u8], delta: f64) -> Result<f64> {
        let (n, _) = self
            .inner()
            .decide(key, |current, _| Ok(decide::incr_float(current, delta)?))?;
        Ok(n)
    }

    /// Appends `suffix` to the value of `key` (creating it if absent; the key keeps its
    /// expiry) and returns the new length, as Redis `APPEND`.
    pub fn append(&self, key: &[u8], suffix: &[u8]) -> Result<usize> {
        let (n, _) = self
            .inner()
            .decide(key, |current, _| Ok(decide::append(current, suffix)))?;
        Ok(n)
    }

    /// Maps the value of `key` (or its absence) to a new value, a deletion or no
    /// change, with `f` run exactly once under the key's write stripe, and logs the
    /// result as one record; returns the key's value afterwards. A new value keeps the
    /// key's expiry (none for a new key).
    ///
    /// `f` must not write to this store: it runs while the key's stripe is held, so
    /// such a write would wait forever. It is detected and refused with
    /// [`CoreError::Reentrant`](crate::CoreError::Reentrant) (reads from `f` are fine).
    ///
    /// ```
    /// # fn main() -> kv_store::Result<()> {
    /// use kv_store::{Store, Update};
    /// let store = Store::in_memory()?;
    /// let visits = store.update(b"visits", |old| {
    ///     let n = old.map_or(0, |v| v.len());
    ///     Update::Set(vec![b'*'; n + 1])
    /// })?;
    /// assert_eq!(visits.as_deref(), Some(&b"*"[..]));
    /// # Ok(()) }
    /// ```
    pub fn update(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<&[u8]>) -> Update,
    ) -> Result<Option<Value>> {
        let inner = self.inner();
        let (after, _) = inner.decide(key, |current, _| {
            let asked = {
                let _inside = InClosure::enter(inner.id());
                f(current.map(|c| c.value))
            };
            // The value the key holds once the decision is applied.
            Ok(decide::update(current, asked))
        })?;
        Ok(after)
    }

    /// Sets (`Some`) or clears (`None`) the expiry of `key` if `when` holds (Redis
    /// `EXPIRE … NX | XX | GT | LT`; a key without an expiry counts as never
    /// expiring); true if it changed. An absent key is false, and not counted as a
    /// refusal.
    pub fn expire_if(&self, key: &[u8], at: Option<Timestamp>, when: ExpireIf) -> Result<bool> {
        let (_, done) = self.inner().decide(key, |current, _| {
            Ok((decide::expire(current, at, when), ()))
        })?;
        Ok(done.written)
    }

    /// Reads `keys` and writes a batch decided from them, atomically: the write
    /// stripes of all the keys are taken (in order), `f` sees each key's live entry
    /// (value, expiry, version) or `None`, in the order of `keys`, and the [`Batch`]
    /// it returns (if any) is logged as **one** record and applied. Returns whether a
    /// batch was applied. Every key the batch writes must be one of `keys`.
    ///
    /// This is how the Redis commands over several keys are done: `MSETNX` (write all
    /// only if none exists), `RENAME` (delete one key, put its value and expiry under
    /// another). `f` must not write to this store (see [`Store::update`]).
    pub fn update_many(
        &self,
        keys: &[&[u8]],
        f: impl FnOnce(&[Option<Entry>]) -> Option<Batch>,
    ) -> Result<bool> {
        let inner = self.inner();
        inner.check_write()?;
        for key in keys {
            inner.check_key(key)?;
        }
        let _stripes = inner.stripes.lock_many(keys.iter().copied());
        let current: Vec<Option<Entry>> =
            keys.iter().map(|k| inner.cache.hooks().peek(k)).collect();
        let batch = {
            let _inside = InClosure::enter(inner.id());
            f(&current)
        };
        let Some(batch) = batch else {
            Counters::add(&inner.counters.writes_refused, 1);
            return Ok(false);
        };
        if let Some(stray) = batch.keys().find(|k| !keys.contains(k)) {
            return Err(Error::InvalidArgument {
                reason: format!(
                    "update_many: the batch writes key {:?}, which is not among the keys read",
                    String::from_utf8_lossy(stray)
                ),
            });
        }
        inner.apply_locked(&batch)?;
        Ok(true)
    }
}

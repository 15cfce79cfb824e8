//! The atomic updates of [`Cache`]: each decided by its function of `decide.rs` from
//! the key's live entry while the key's shard is write-locked, and applied before
//! the lock is released, so no other write to the key comes in between.

use std::cell::Cell;
use std::sync::atomic::Ordering::Relaxed;

use crate::decide::{self, Condition, Current, Decision, ExpireIf, SetOptions, SetOutcome, Update};
use crate::entry::{header, value_of, Raw};
use crate::hash::shard_of;
use crate::hooks::{BatchOp, Write};
use crate::write::{Guards, Leftovers, Now, Stop};
use crate::{Cache, Error, Result, Timestamp, Value};

thread_local! {
    /// The cache or store (by address) whose update closure this thread is running:
    /// a write to it from the closure would wait for a lock this thread holds.
    static IN_CLOSURE: Cell<usize> = const { Cell::new(0) };
}

/// Marks this thread as running an update closure of the cache or store at address
/// `id` until dropped (also when the closure panics). For a storage layer that runs
/// closures under its own per-key locks, as kv-store's `update` does.
#[derive(Debug)]
pub struct InClosure(usize);

impl InClosure {
    /// Enters the closure of `id` (any address that names the locking object).
    pub fn enter(id: usize) -> Self {
        Self(IN_CLOSURE.with(|c| c.replace(id)))
    }

    /// Whether this thread is inside a closure of `id`.
    pub fn is_inside(id: usize) -> bool {
        IN_CLOSURE.with(Cell::get) == id
    }
}

impl Drop for InClosure {
    fn drop(&mut self) {
        IN_CLOSURE.with(|c| c.set(self.0));
    }
}

/// What applying a decision did.
struct Done {
    /// Whether the key changed.
    written: bool,
    /// The key's live entry before, when asked for.
    previous: Option<Raw>,
    /// The written entry's version, for a put.
    put: Option<u64>,
}

/// What a decided write needs beyond the key's live entry.
#[derive(Clone, Copy, Default)]
struct Needs {
    /// The live entry before, handed back (a reference kept stops a put from
    /// rewriting the entry in place).
    previous: bool,
    /// The exact time, for a decision that computes or compares expiries. Otherwise
    /// the exact time is read only to tell whether the live entry has expired; the
    /// stamps keep whole seconds, for which the clock's recent time will do.
    exact_time: bool,
}

/// One attempt of a decided write: under the key's shard lock, or under every shard
/// lock when room had to be made in another shard.
enum Attempt<R> {
    Done(R, Done),
    /// The write needs room that only other shards can give.
    NeedAllShards,
}

impl Cache {
    /// Fails with [`Error::Reentrant`] when called from inside one of this cache's
    /// own `update` closures.
    pub(crate) fn check_not_in_closure(&self) -> Result<()> {
        if InClosure::is_inside(std::sync::Arc::as_ptr(&self.inner) as usize) {
            return self.fail(Error::Reentrant);
        }
        Ok(())
    }

    /// Decides a write to `key` from its live entry under the key's shard lock and
    /// applies the decision before letting go. `decide` runs once, or a second time
    /// (under every shard's lock) when making room needs other shards: it must decide
    /// the same way from the same entry.
    fn decide_and_apply<R>(
        &self,
        key: &[u8],
        needs: Needs,
        mut decide: impl FnMut(Option<&Current<'_>>, Timestamp) -> Result<(Decision, R)>,
    ) -> Result<(R, Done)> {
        if let Err(e) = self.validate_key(key).and(self.check_not_in_closure()) {
            return self.fail(e);
        }
        let hash = self.inner.hasher.hash(key);
        let si = shard_of(hash, self.inner.mask);
        // Declared before the guards, so dropped after them.
        let mut left = Leftovers::default();
        let attempt = {
            let mut guards = [(si, self.inner.shards[si].write())];
            self.attempt(&mut guards, 0, key, hash, needs, &mut decide, &mut left)
        };
        let attempt = match attempt {
            Ok(Attempt::NeedAllShards) => {
                let mut guards = self.lock_all_shards();
                self.attempt(&mut guards, si, key, hash, needs, &mut decide, &mut left)
            }
            other => other,
        };
        // Callbacks and frees after every lock is released; errors reported.
        self.settle(left);
        match attempt {
            Ok(Attempt::Done(r, done)) => Ok((r, done)),
            Ok(Attempt::NeedAllShards) => self.fail(self.stop_error(Stop::NeedAllShards)),
            Err(e) => self.fail(e),
        }
    }

    /// One attempt under `guards` (the key's shard is `guards[g]`).
    #[allow(clippy::too_many_arguments)] // all of it is the state of one attempt
    fn attempt<R>(
        &self,
        guards: &mut Guards<'_>,
        g: usize,
        key: &[u8],
        hash: u64,
        needs: Needs,
        decide: &mut impl FnMut(Option<&Current<'_>>, Timestamp) -> Result<(Decision, R)>,
        left: &mut Leftovers,
    ) -> Result<Attempt<R>> {
        let found = guards[g].1.find_entry(hash, key);
        let expires = found.is_some_and(|(_, raw)| header(raw).expires_at().is_some());
        let clock = match needs.exact_time || expires {
            true => Now::exact(self.now()),
            false => Now::recent(self),
        };
        let now = clock.at;
        // What the write need not look up again: the live entry's position, or that
        // there is none (an expired entry it removes first, so it looks itself).
        let seen = match found {
            None => Some(None),
            Some((_, raw)) if clock.expired(self, header(raw)) => None,
            Some((pos, _)) => Some(Some(pos)),
        };
        let live = found.filter(|_| matches!(seen, Some(Some(_))));
        let current = live.map(|(_, raw)| Current {
            value: value_of(raw),
            expires_at: header(raw).expires_at(),
            version: header(raw).version(),
        });
        let (decision, r) = decide(current.as_ref(), now)?;
        // A reference kept only when asked for: without one, a put can rewrite the
        // entry in place.
        let mut done = Done {
            written: true,
            previous: live.filter(|_| needs.previous).map(|(_, raw)| raw.clone()),
            put: None,
        };
        let op = match &decision {
            Decision::Put { value, expires_at } => {
                self.validate(key, value)?;
                let write = Write::default().expires_at(*expires_at);
                // A new value of the same length for a live entry nobody else holds
                // (an increment, mostly) is written over the old one: no allocation,
                // nothing to free, no change in size, so no room to make.
                if let Some(Some(pos)) = seen {
                    let st = &mut guards[g].1;
                    if st.rewrite(pos, value, &write, now) {
                        self.inner.metrics.local().sets(1);
                        done.put = Some(header(st.at(pos)).version());
                        return Ok(Attempt::Done(r, done));
                    }
                }
                BatchOp::Put { key, value, write }
            }
            Decision::Delete => BatchOp::Delete { key },
            Decision::Expire(at) => {
                // Present (the decision says so): only the header changes.
                if let Some((_, raw)) = live {
                    header(raw).set_expires_at(*at);
                }
                return Ok(Attempt::Done(r, done));
            }
            Decision::Nothing { refused } => {
                if *refused {
                    self.inner.refused.fetch_add(1, Relaxed);
                }
                done.written = false;
                return Ok(Attempt::Done(r, done));
            }
        };
        let ops = [op];
        let mut built = [match &ops[0] {
            BatchOp::Put { key, value, write } => Some(write.prebuild(key, value, now)),
            BatchOp::Delete { .. } => None,
        }];
        match self.apply_guarded(guards, &ops, &[hash], &mut built, clock, false, seen, left) {
            Ok(applied) => {
                done.put = matches!(decision, Decision::Put { .. }).then_some(applied.version);
                Ok(Attempt::Done(r, done))
            }
            Err(Stop::NeedAllShards) => Ok(Attempt::NeedAllShards),
            Err(Stop::Fail(e)) => Err(e),
        }
    }

    /// Sets `key` to `value` as `options` say: only if a condition holds (absent,
    /// present, a version, a value), with the expiry set, kept or removed, returning
    /// the value it replaces if asked. Decided and applied under the key's shard lock.
    /// A refused set changes nothing and is counted in [`MetricsSnapshot::refused`](crate::MetricsSnapshot::refused).
    /// See [`SetOptions`] for the Redis mapping.
    ///
    /// ```
    /// use kv_core::{Cache, Options, SetOptions};
    /// let cache = Cache::new(Options::default())?;
    /// assert!(cache.set_with(b"lock", b"me", &SetOptions::new().if_absent())?.written);
    /// assert!(!cache.set_with(b"lock", b"you", &SetOptions::new().if_absent())?.written);
    /// # Ok::<(), kv_core::Error>(())
    /// ```
    pub fn set_with(
        &self,
        key: &[u8],
        value: &[u8],
        options: &SetOptions<'_>,
    ) -> Result<SetOutcome<Value>> {
        if let Err(e) = self.validate(key, value) {
            return self.fail(e);
        }
        let needs = Needs {
            previous: options.wants_previous(),
            exact_time: true,
        };
        let ((), done) = self.decide_and_apply(key, needs, |current, now| {
            Ok((decide::set(current, value, options, now)?, ()))
        })?;
        Ok(SetOutcome::new(
            done.written,
            done.previous
                .filter(|_| options.wants_previous())
                .map(Value::new),
            done.put,
        ))
    }

    /// Deletes `key` only if `condition` holds (its version, or its value, is the one
    /// given); true if it was deleted.
    pub fn delete_if(&self, key: &[u8], condition: Condition<'_>) -> Result<bool> {
        let ((), done) = self.decide_and_apply(key, Needs::default(), |current, _| {
            Ok((decide::delete(current, condition), ()))
        })?;
        Ok(done.written)
    }

    /// Adds `delta` to the decimal integer stored at `key` (absent counts as 0; the
    /// expiry is kept) and returns the new value, as Redis `INCRBY`.
    /// [`Error::NotAnInteger`] or [`Error::Overflow`] change nothing.
    pub fn incr(&self, key: &[u8], delta: i64) -> Result<i64> {
        let (n, _) = self.decide_and_apply(key, Needs::default(), |current, _| {
            decide::incr(current, delta)
        })?;
        Ok(n)
    }

    /// Adds `delta` to the decimal number stored at `key` (absent counts as 0; the
    /// expiry is kept) and returns the new value, as Redis `INCRBYFLOAT`.
    /// [`Error::NotAFloat`] or [`Error::Overflow`] change nothing.
    pub fn incr_float(&self, key: &[u8], delta: f64) -> Result<f64> {
        let (n, _) = self.decide_and_apply(key, Needs::default(), |current, _| {
            decide::incr_float(current, delta)
        })?;
        Ok(n)
    }

    /// Appends `suffix` to the value of `key` (creating it if absent; the expiry is
    /// kept) and returns the new length, as Redis `APPEND`.
    pub fn append(&self, key: &[u8], suffix: &[u8]) -> Result<usize> {
        let (n, _) = self.decide_and_apply(key, Needs::default(), |current, _| {
            Ok(decide::append(current, suffix))
        })?;
        Ok(n)
    }

    /// Maps the value of `key` (or its absence) to a new value, a deletion or no
    /// change; `f` runs exactly once, with the key's shard write-locked, and its
    /// answer is applied before the lock is released. Returns the key's value
    /// afterwards (a new value keeps the key's expiry).
    ///
    /// `f` must not call this cache: a write from it fails with [`Error::Reentrant`];
    /// a read of a key in the same shard would wait forever for the lock `f`'s caller
    /// holds, so do not read from it either.
    ///
    /// In the rare case that making room for the new value needs other shards' locks
    /// and, while they are taken, another writer changes the key, the update fails
    /// with [`Error::StoreFull`] and changes nothing, rather than run `f` again.
    pub fn update(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<&[u8]>) -> Update,
    ) -> Result<Option<Value>> {
        let mut f = Some(f);
        // The first answer, and the version (or absence) it was given.
        let mut asked: Option<(Option<u64>, Update)> = None;
        let me = std::sync::Arc::as_ptr(&self.inner) as usize;
        let (after, _) = self.decide_and_apply(key, Needs::default(), |current, _| {
            let seen = current.map(|c| c.version);
            let answer = match (asked.take(), f.take()) {
                (None, Some(f)) => {
                    let _inside = InClosure::enter(me);
                    f(current.map(|c| c.value))
                }
                // Again under every shard: the same answer, if the key is unchanged.
                (Some((was, answer)), _) if was == seen => answer,
                _ => return Err(self.stop_error(Stop::NeedAllShards)),
            };
            asked = Some((seen, answer.clone()));
            Ok(decide::update(current, answer))
        })?;
        Ok(after)
    }

    /// Sets (`Some`) or clears (`None`) the expiry of `key` if `when` holds (Redis
    /// `EXPIRE … NX | XX | GT | LT`; no expiry counts as never); true if it changed.
    pub fn expire_if(&self, key: &[u8], at: Option<Timestamp>, when: ExpireIf) -> Result<bool> {
        let ((), done) = self.decide_and_apply(key, Needs::default(), |current, _| {
            Ok((decide::expire(current, at, when), ()))
        })?;
        Ok(done.written)
    }
}

//! Single-key operations of [`Store`]: reads, and writes through the logged write path.

use std::time::Duration;

use kv_core::hooks::decide;
use kv_core::{Condition, EntryInfo, EvictionPolicy, ExpireIf, Timestamp, Ttl, Value};
use kv_wal::Op;

use crate::store::Inner;
use crate::{Result, Store};

impl Store {
    /// The value of `key`, or `None` if it is absent or expired. Takes no exclusive
    /// lock; the returned [`Value`] is a cheap handle, not a copy.
    pub fn get(&self, key: &[u8]) -> Result<Option<Value>> {
        let inner = self.inner();
        inner.check_open()?;
        Ok(inner.cache.get(key))
    }

    /// True if `key` is present and not expired.
    pub fn exists(&self, key: &[u8]) -> Result<bool> {
        let inner = self.inner();
        inner.check_open()?;
        Ok(inner.cache.exists(key))
    }

    /// Checks `key` and `value` against this store's limits (empty key, key and value
    /// sizes) as a write would, without writing: the error a `set` would return.
    pub fn validate(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner().check_entry(key, value)
    }

    /// Sets `key` to `value` with no expiry (clearing any earlier one).
    pub fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner().put(key, value, None)
    }

    /// Sets `key` to `value`, expiring `ttl` from now (on the store's clock). A zero
    /// `ttl` is an error (Redis refuses `EX 0` too).
    pub fn set_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        let inner = self.inner();
        let at = inner.expiry_after(ttl)?;
        inner.put(key, value, Some(at))
    }

    /// Sets `key` to `value`, expiring at the absolute time `expires_at` (`None`: never).
    pub fn set_with_expiry(
        &self,
        key: &[u8],
        value: &[u8],
        expires_at: Option<Timestamp>,
    ) -> Result<()> {
        self.inner().put(key, value, expires_at)
    }

    /// Removes `key`; true if it was present. A delete is logged, so the key does not
    /// come back after a crash.
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        self.delete_if(key, Condition::Always)
    }

    /// Removes `key` and returns its value, if it was present (logged like
    /// [`Store::delete`]; Redis `GETDEL`).
    pub fn remove(&self, key: &[u8]) -> Result<Option<Value>> {
        let (_, done) = self.inner().decide(key, |current, _| {
            Ok((decide::delete(current, Condition::Always), ()))
        })?;
        Ok(done.previous.filter(|_| done.written))
    }

    /// Makes `key` expire `ttl` from now; false if the key is absent. A zero `ttl`
    /// is an error (delete the key to remove it now).
    pub fn expire(&self, key: &[u8], ttl: Duration) -> Result<bool> {
        let inner = self.inner();
        let at = inner.expiry_after(ttl)?;
        inner.set_expiry(key, Some(at))
    }

    /// Makes `key` expire at the absolute time `at`; false if the key is absent.
    pub fn expire_at(&self, key: &[u8], at: Timestamp) -> Result<bool> {
        self.inner().set_expiry(key, Some(at))
    }

    /// Removes the expiry of `key`; false if the key is absent.
    pub fn persist(&self, key: &[u8]) -> Result<bool> {
        self.inner().set_expiry(key, None)
    }

    /// The time `key` has left: [`Ttl::Missing`], [`Ttl::Persistent`] or
    /// [`Ttl::Remaining`].
    pub fn ttl(&self, key: &[u8]) -> Result<Ttl> {
        let inner = self.inner();
        inner.check_open()?;
        Ok(inner.cache.ttl(key))
    }

    /// The metadata of `key` (created, updated, version, size, expiry, ...).
    pub fn info(&self, key: &[u8]) -> Result<Option<EntryInfo>> {
        let inner = self.inner();
        inner.check_open()?;
        Ok(inner.cache.info(key))
    }

    /// Number of live entries (expired ones not yet purged may be counted).
    pub fn len(&self) -> Result<usize> {
        let inner = self.inner();
        inner.check_open()?;
        Ok(inner.cache.len())
    }

    /// True if the store holds no entries.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Removes every entry (logged as one record).
    pub fn clear(&self) -> Result<()> {
        let inner = self.inner();
        inner.check_write()?;
        let _all = inner.stripes.lock_all();
        let removed = inner.log_and_apply(&Op::Clear, |_| {
            let n = inner.cache.len();
            inner.cache.clear();
            Ok((n, Vec::new()))
        })?;
        inner.count_delete(removed as u64);
        Ok(())
    }
}

impl Inner {
    /// The logged put.
    pub(crate) fn put(
        &self,
        key: &[u8],
        value: &[u8],
        expires_at: Option<Timestamp>,
    ) -> Result<()> {
        self.check_write()?;
        self.check_entry(key, value)?;
        let _stripe = self.stripes.lock(key);
        self.put_locked(key, value, expires_at).map(drop)
    }

    /// The logged put; the caller holds `key`'s stripe. Returns the written entry's
    /// version (the record's sequence number).
    pub(crate) fn put_locked(
        &self,
        key: &[u8],
        value: &[u8],
        expires_at: Option<Timestamp>,
    ) -> Result<u64> {
        self.refuse_if_surely_full(key)?;
        let op = Op::Put {
            key,
            value,
            expires_at: expires_at.map(Timestamp::as_millis),
        };
        self.log_and_apply(&op, |stamp| {
            match self
                .cache
                .hooks()
                .insert(key, value, self.write_meta(stamp, expires_at))
            {
                Ok(outcome) => Ok((stamp.seq, crate::write::evicted(outcome.evicted))),
                Err(e) => {
                    // The map refused after the log accepted (it filled up meanwhile):
                    // log the key's earlier state again so recovery agrees.
                    self.compensate(&[key], stamp)?;
                    Err(e.into())
                }
            }
        })
    }

    /// A new key in a map at its entry limit that may not evict is refused before
    /// anything is logged (the common case of a full store costs no log record). The
    /// caller holds `key`'s stripe. Other refusals (the byte limit, or a concurrent
    /// writer taking the last slot) are caught after logging and undone.
    fn refuse_if_surely_full(&self, key: &[u8]) -> Result<()> {
        let max = self.cache.max_entries();
        if self.cache.eviction_policy() != EvictionPolicy::None
            || self.cache.len() < max
            || self.cache.hooks().peek(key).is_some()
        {
            return Ok(());
        }
        // An expired entry of this key still counts; the map would drop it first.
        self.cache.delete(key);
        if self.cache.len() >= max {
            return Err(kv_core::Error::StoreFull {
                limit: kv_core::StoreLimit::Entries(max),
            }
            .into());
        }
        Ok(())
    }

    fn set_expiry(&self, key: &[u8], at: Option<Timestamp>) -> Result<bool> {
        let (_, done) = self.decide(key, |current, _| {
            Ok((decide::expire(current, at, ExpireIf::Always), ()))
        })?;
        Ok(done.written)
    }
}

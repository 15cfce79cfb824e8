//! Active expiry: [`Cache::purge_expired`], incremental and bounded, for a background
//! worker to call now and then.

use std::sync::atomic::Ordering::Relaxed;

use crate::entry::{header, key_of, same, Raw};
use crate::events::Pending;
use crate::{Cache, Entry, ExpiryCause};

/// Entries examined under one read lock.
const CHUNK: usize = 64;

/// What one [`Cache::purge_expired`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeStats {
    /// Entries examined.
    pub examined: usize,
    /// Expired entries removed.
    pub expired: usize,
}

impl Cache {
    /// Removes expired entries, examining at most `budget` entries.
    ///
    /// Each shard keeps a cursor over its table's slots, and calls sweep shard after
    /// shard from where the last call stopped, so successive calls cover the whole
    /// cache (unlike random sampling, nothing is missed for long; an entry can be
    /// missed for one pass only if its table was rebuilt meanwhile). Entries are examined under the shard's
    /// read lock, `CHUNK` (64) at a time; only the expired ones found are then removed
    /// under the write lock, briefly. A call stops when its budget is spent or it has
    /// finished a pass over every shard. `on_expire` runs after the locks are released.
    pub fn purge_expired(&self, budget: usize) -> PurgeStats {
        let mut stats = PurgeStats::default();
        let n = self.inner.shards.len();
        let mut finished_shards = 0;
        while stats.examined < budget && finished_shards < n {
            let si = self.inner.purge_shard.load(Relaxed) & self.inner.mask;
            let shard = &self.inner.shards[si];
            let now = self.now();
            let want = (budget - stats.examined).min(CHUNK);
            let (found, finished) = {
                let st = shard.read();
                let slots = st.slot_count();
                let mut pos = shard.purge_cursor.load(Relaxed).min(slots);
                let mut found: Vec<Raw> = Vec::new();
                let mut examined = 0;
                // Empty slots cost next to nothing; entries count against the budget.
                while pos < slots && examined < want {
                    if let Some(raw) = st.slot(pos) {
                        examined += 1;
                        if header(raw).is_expired(now) {
                            found.push(raw.clone());
                        }
                    }
                    pos += 1;
                }
                stats.examined += examined;
                let finished = pos >= slots;
                shard
                    .purge_cursor
                    .store(if finished { 0 } else { pos }, Relaxed);
                (found, finished)
            };
            if finished {
                finished_shards += 1;
                let _ = self.inner.purge_shard.compare_exchange(
                    si,
                    (si + 1) & self.inner.mask,
                    Relaxed,
                    Relaxed,
                );
            }
            if found.is_empty() {
                continue;
            }
            let mut pending = Pending::default();
            {
                let mut st = shard.write();
                for raw in &found {
                    let hash = self.inner.hasher.hash(key_of(raw));
                    if let Some(pos) = st.find(hash, key_of(raw)) {
                        if same(st.at(pos), raw) {
                            let r = st.remove_at(&self.inner.hasher, pos);
                            self.release(1, self.charge(&r));
                            pending.expired.push((Entry::new(r), ExpiryCause::Purge));
                        }
                    }
                }
            }
            stats.expired += pending.expired.len();
            self.inner
                .metrics
                .local()
                .expirations(pending.expired.len() as u64);
            self.dispatch(pending);
        }
        stats
    }
}

//! Choosing what to evict: Redis-style sampling of the writing shard, scored by
//! policy. Reads never take part: they only leave their (coarse) access time and
//! counters in the entry header, which this file reads.

use crate::entry::{header, Raw};
use crate::hash::{random_below, random_u64};
use crate::header::LfuParams;
use crate::shard::ShardState;
use crate::{EvictionPolicy, Timestamp};

/// The eviction settings a cache runs with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Evictor {
    pub(crate) policy: EvictionPolicy,
    pub(crate) samples: usize,
    pub(crate) lfu: LfuParams,
}

impl Evictor {
    /// The LFU bookkeeping reads do, if the policy needs it.
    pub(crate) fn touch_params(&self) -> Option<LfuParams> {
        (self.policy == EvictionPolicy::Lfu).then_some(self.lfu)
    }

    /// Lower is evicted first.
    fn score(&self, raw: &Raw, now: Timestamp) -> u128 {
        let h = header(raw);
        let lru = u128::from(h.accessed_secs());
        match self.policy {
            EvictionPolicy::None | EvictionPolicy::Lru => lru,
            EvictionPolicy::Lfu => (u128::from(h.lfu(now, self.lfu.decay_minutes)) << 64) | lru,
            EvictionPolicy::Ttl => {
                let exp = h.expires_at().map_or(u64::MAX, Timestamp::as_millis);
                (u128::from(exp) << 64) | lru
            }
            EvictionPolicy::Random => u128::from(random_u64()),
        }
    }

    /// Position of the entry to evict from `state`, among those `exclude` does not
    /// reject: the best-scored of `samples` random entries, or of all entries if the
    /// shard has no more than `samples` (then the choice is exact; ties go to the
    /// earlier position).
    pub(crate) fn pick(
        &self,
        state: &ShardState,
        now: Timestamp,
        exclude: &dyn Fn(&Raw) -> bool,
    ) -> Option<usize> {
        let n = state.len();
        if n == 0 || self.policy == EvictionPolicy::None {
            return None;
        }
        let best_of = |positions: &mut dyn Iterator<Item = usize>| {
            let mut best: Option<(u128, usize)> = None;
            for pos in positions {
                let raw = &state.entries[pos];
                if exclude(raw) {
                    continue;
                }
                let s = self.score(raw, now);
                if best.is_none_or(|(b, _)| s < b) {
                    best = Some((s, pos));
                }
            }
            best
        };
        let best = if n <= self.samples {
            best_of(&mut (0..n))
        } else {
            // If every sample was excluded (a batch covering most of a shard), fall
            // back to a scan so that a victim is found if there is one.
            best_of(&mut (0..self.samples).map(|_| random_below(n)))
                .or_else(|| best_of(&mut (0..n)))
        };
        best.map(|(_, pos)| pos)
    }
}

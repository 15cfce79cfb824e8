//! The fixed 32-byte header at the front of every entry's single allocation, its bit
//! packing, and the access bookkeeping a read does (written only when it changes).
//!
//! Layout (all words native-endian, in memory only):
//!
//! ```text
//! version  u64   the entry's version
//! stamps   u64   created seconds (high 32) | updated seconds (low 32)
//! expiry   u64   expires_at milliseconds (high 48, 0 = never) | key length (low 16)
//! access   u64   last access seconds (high 32) | hit counter (16) | LFU counter (8)
//!                | recency tick (8)
//! ```
//!
//! Created, updated and last-accessed times keep whole seconds (until 2106);
//! expiry keeps milliseconds (until the year 10889). Within a second, recency is the
//! shard's logical tick at the last access (see `ShardState::tick`): LRU compares
//! seconds first, then the tick's age.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::random::random_u64;
use crate::Timestamp;

/// Longest key the header can describe.
pub(crate) const MAX_KEY_LEN: usize = u16::MAX as usize;
/// Latest expiry the header can hold, in milliseconds; later ones are clamped to it.
pub(crate) const MAX_EXPIRY_MILLIS: u64 = (1 << 48) - 1;
/// What a new entry's LFU counter starts at (as in Redis), so a newcomer is not the
/// first thing evicted.
pub(crate) const LFU_INIT: u8 = 5;

/// The fixed part of an entry.
#[derive(Debug)]
pub(crate) struct Header {
    version: u64,
    stamps: u64,
    expiry: AtomicU64,
    access: AtomicU64,
}

/// What LFU bookkeeping a touch does; `None` outside the LFU policy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LfuParams {
    pub(crate) log_factor: u32,
    pub(crate) decay_minutes: u32,
    /// The lowest counter whose step odds are at most 1 in `HOT_ODDS` (above 255:
    /// none, as with a log factor of 0, where every access steps).
    hot_counter: u16,
}

impl LfuParams {
    pub(crate) fn new(log_factor: u32, decay_minutes: u32) -> Self {
        // A step is taken with odds 1 / ((counter - LFU_INIT) * log_factor + 1).
        let hot_counter = match log_factor {
            0 => 256,
            f => (u32::from(LFU_INIT) + (HOT_ODDS - 1).div_ceil(f)).min(256) as u16,
        };
        LfuParams {
            log_factor,
            decay_minutes,
            hot_counter,
        }
    }
}

/// A hot entry (both counters stepping with odds of 1 in `HOT_ODDS` or less) has its
/// counters looked at on one read in `HOT_ODDS`, with `HOT_ODDS` times the odds; the
/// other reads only refresh its last access. The expected counts stay the same.
const HOT_SHIFT: u32 = 4;
const HOT_ODDS: u32 = 1 << HOT_SHIFT;
/// The lowest hit counter code whose step odds are 1 in `HOT_ODDS` (exponent 5).
const HOT_HITS: u16 = ((HOT_SHIFT + 1) as u16) << MANTISSA;
/// The access word's two counters (the rest is the second and the tick).
const COUNTERS: u64 = 0xFFFF_FF00;

#[inline]
fn secs(t: Timestamp) -> u64 {
    (t.as_millis() / 1000).min(u64::from(u32::MAX))
}

fn encode_expiry(expires_at: Option<Timestamp>) -> u64 {
    match expires_at {
        None => 0,
        // 0 means "never", so the epoch itself becomes 1 ms: still long past.
        Some(t) => t.as_millis().clamp(1, MAX_EXPIRY_MILLIS),
    }
}

impl Header {
    pub(crate) fn new(
        key_len: usize,
        version: u64,
        created: Timestamp,
        updated: Timestamp,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Self {
        debug_assert!(key_len <= MAX_KEY_LEN);
        Header {
            version,
            stamps: (secs(created) << 32) | secs(updated),
            expiry: AtomicU64::new((encode_expiry(expires_at) << 16) | key_len as u64),
            access: AtomicU64::new((secs(now) << 32) | (u64::from(LFU_INIT) << 8)),
        }
    }

    #[inline]
    pub(crate) fn key_len(&self) -> usize {
        (self.expiry.load(Relaxed) & 0xFFFF) as usize
    }

    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    pub(crate) fn created(&self) -> Timestamp {
        Timestamp::from_millis((self.stamps >> 32) * 1000)
    }

    pub(crate) fn updated(&self) -> Timestamp {
        Timestamp::from_millis((self.stamps & 0xFFFF_FFFF) * 1000)
    }

    #[inline]
    pub(crate) fn expires_at(&self) -> Option<Timestamp> {
        match self.expiry.load(Relaxed) >> 16 {
            0 => None,
            ms => Some(Timestamp::from_millis(ms)),
        }
    }

    /// Changes the expiry. Called under the shard's write lock only.
    pub(crate) fn set_expires_at(&self, expires_at: Option<Timestamp>) {
        let key_len = self.expiry.load(Relaxed) & 0xFFFF;
        self.expiry
            .store((encode_expiry(expires_at) << 16) | key_len, Relaxed);
    }

    /// An entry is expired from its expiry instant on.
    #[inline]
    pub(crate) fn is_expired(&self, now: Timestamp) -> bool {
        let ms = self.expiry.load(Relaxed) >> 16;
        ms != 0 && ms <= now.as_millis()
    }

    pub(crate) fn last_accessed(&self) -> Timestamp {
        Timestamp::from_millis((self.access.load(Relaxed) >> 32) * 1000)
    }

    /// The LRU score (higher is more recent): the second of the last access, then
    /// within it how few ticks of the shard's logical clock (now at `tick`) have
    /// passed since. An age wraps after 256 ticks; the shard's clock moves slowly
    /// enough (see `ShardState::tick`) that entries that old are long gone.
    pub(crate) fn recency(&self, tick: u8) -> u64 {
        let word = self.access.load(Relaxed);
        let age = tick.wrapping_sub(word as u8);
        ((word >> 32) << 8) | u64::from(u8::MAX - age)
    }

    /// Sets what a new entry learns only under its shard's lock: its version and its
    /// created and updated times. Takes `&mut`: the entry is not shared yet.
    pub(crate) fn set_identity(&mut self, version: u64, created: Timestamp, updated: Timestamp) {
        self.version = version;
        self.stamps = (secs(created) << 32) | secs(updated);
    }

    /// Stamps a new entry with the shard's tick (a write is an access).
    pub(crate) fn set_tick(&self, tick: u8) {
        let word = self.access.load(Relaxed);
        self.access.store((word & !0xFF) | u64::from(tick), Relaxed);
    }

    pub(crate) fn access_count(&self) -> u64 {
        hits_value(((self.access.load(Relaxed) >> 16) & 0xFFFF) as u16)
    }

    /// What a snapshot keeps of the access bookkeeping: the last access (whole
    /// seconds), the access count, and the LFU counter as stored (its decay is worked
    /// out from the last access when it is read, so it goes on decaying as if the
    /// store never stopped).
    pub(crate) fn access_state(&self) -> (Timestamp, u64, u8) {
        let word = self.access.load(Relaxed);
        (self.last_accessed(), self.access_count(), (word >> 8) as u8)
    }

    /// Restores what [`access_state`](Self::access_state) returned (the count to the
    /// nearest value the counter holds at or below it); the recency tick stays.
    pub(crate) fn restore_access(&self, accessed: Timestamp, count: u64, lfu: u8) {
        let tick = self.access.load(Relaxed) & 0xFF;
        let word = (secs(accessed) << 32)
            | (u64::from(hits_code(count)) << 16)
            | (u64::from(lfu) << 8)
            | tick;
        self.access.store(word, Relaxed);
    }

    /// The LFU counter as of `now`, after decay: the LFU score.
    pub(crate) fn lfu(&self, now: Timestamp, decay_minutes: u32) -> u8 {
        let word = self.access.load(Relaxed);
        lfu_decayed((word >> 8) as u8, word >> 32, secs(now), decay_minutes)
    }

    /// Records a read at `now` and the shard's `tick`. Writes the shared word only if
    /// something changed: the second or the tick of the last access, or a
    /// probabilistic counter step (rare for hot keys). A lost race drops one update;
    /// these are statistics. (Called under the shard's read lock; writers of the
    /// word hold the write lock, so only touches race with a touch.)
    #[inline]
    pub(crate) fn touch(&self, now: Timestamp, tick: u8, lfu: Option<LfuParams>) {
        let old = self.access.load(Relaxed);
        let now_s = secs(now);
        let stamped = (old & COUNTERS) | (now_s << 32) | u64::from(tick);
        let code = (old >> 16) as u16;
        let counter = (old >> 8) as u8;
        // One draw serves both probabilistic counters: the hit counter takes its low
        // bits, the LFU counter its high half.
        let r = random_u64();
        // A hot entry: most reads only refresh the stamp. (Not when the LFU counter
        // is due to decay: that must happen on this read.)
        let hot = code >= HOT_HITS
            && lfu.is_none_or(|p| {
                u16::from(counter) >= p.hot_counter
                    && (p.decay_minutes == 0 || now_s.saturating_sub(old >> 32) < 60)
            });
        let mut lfu_shift = 32;
        if hot {
            if r & u64::from(HOT_ODDS - 1) != 0 {
                if stamped != old {
                    self.access.store(stamped, Relaxed);
                }
                return;
            }
            // This read stands for `HOT_ODDS`. The hit counter's test sees the gate's
            // zero bits, which multiplies its odds; the LFU draw drops as many bits.
            lfu_shift += HOT_SHIFT;
        }
        let mut new = stamped + (u64::from(hits_step(code, r)) << 16);
        if let Some(p) = lfu {
            let counter = lfu_decayed(counter, old >> 32, now_s, p.decay_minutes);
            let counter = lfu_incr(counter, p.log_factor, (r >> lfu_shift) as u32);
            new = (new & !0xFF00) | (u64::from(counter) << 8);
        }
        if new != old {
            // A plain store, not a compare-and-swap: a locked instruction here would
            // stall the read path's memory accesses. A concurrent touch it overwrites
            // loses one update, as a failed swap would lose this one.
            self.access.store(new, Relaxed);
        }
    }
}

// The hit counter: a 16-bit floating-point counter (13-bit exponent, 3-bit mantissa).
// Exact up to 15; above that each step is taken with probability 1/step, so the
// expected value stays the true count while a key read often writes its header
// rarely (about 8 times in its hits 16 to 1024, not 1000 times): a store marks the
// cache line dirty, and on a big table that write-back costs as much as the read.
const MANTISSA: u32 = 3;
const HITS_MAX: u16 = (61 << MANTISSA) | ((1 << MANTISSA) - 1);

fn hits_value(code: u16) -> u64 {
    let e = u64::from(code >> MANTISSA);
    let m = u64::from(code & ((1 << MANTISSA) - 1));
    if e == 0 {
        m
    } else {
        ((1 << MANTISSA) + m) << (e - 1)
    }
}

/// The largest hit counter code whose value is at most `count`: `hits_value`'s
/// inverse for the values it takes, the nearest below for others.
fn hits_code(count: u64) -> u16 {
    // Codes grow with their values: a binary search over the 16-bit codes that occur.
    let (mut lo, mut hi) = (0u16, HITS_MAX);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if hits_value(mid) <= count {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// Whether the hit counter at `code` takes a step, `r` a uniformly random word: always
/// while exact, with probability 1/step above that, never once full.
#[inline]
fn hits_step(code: u16, r: u64) -> bool {
    let e = u32::from(code >> MANTISSA);
    // `&`, not `&&`: both sides are cheap, and a branch here would be unpredictable.
    (code < HITS_MAX) & (r & ((1u64 << e.saturating_sub(1)) - 1) == 0)
}

/// One step of the hit counter, `r` a uniformly random word.
#[cfg(test)]
fn hits_incr(code: u16, r: u64) -> u16 {
    code + u16::from(hits_step(code, r))
}

// The LFU counter, as in Redis: logarithmic (a step is taken with probability
// 1 / ((counter - LFU_INIT) * log_factor + 1)), and decremented by one per
// `decay_minutes` since the last access, so yesterday's hot keys can leave.
#[inline]
fn lfu_decayed(counter: u8, accessed_s: u64, now_s: u64, decay_minutes: u32) -> u8 {
    let idle_s = now_s.saturating_sub(accessed_s);
    // The common case, an entry read within the last minute, divides nothing.
    if decay_minutes == 0 || idle_s < 60 {
        return counter;
    }
    let idle_minutes = idle_s / 60;
    let periods = idle_minutes / u64::from(decay_minutes);
    counter.saturating_sub(periods.min(255) as u8)
}

/// One step of the LFU counter, `r` a uniformly random 32-bit draw: it is taken when
/// `r / 2^32 < 1 / odds`, that is when `r * odds` stays below `2^32` (no division).
#[inline]
fn lfu_incr(counter: u8, log_factor: u32, r: u32) -> u8 {
    let base = u64::from(counter.saturating_sub(LFU_INIT));
    let odds = base * u64::from(log_factor) + 1;
    // Branch-free: whether a step is taken is a coin flip the CPU cannot predict.
    counter + u8::from((counter != u8::MAX) & (u64::from(r) * odds < 1 << 32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn header_packs_and_unpacks_every_field() {
        let h = Header::new(
            300,
            42,
            ts(1_700_000_000_123),
            ts(1_700_000_005_999),
            Some(ts(1_700_000_100_456)),
            ts(1_700_000_006_000),
        );
        assert_eq!(std::mem::size_of::<Header>(), 32);
        assert_eq!(h.key_len(), 300);
        assert_eq!(h.version(), 42);
        assert_eq!(h.created(), ts(1_700_000_000_000));
        assert_eq!(h.updated(), ts(1_700_000_005_000));
        assert_eq!(h.expires_at(), Some(ts(1_700_000_100_456)));
        assert_eq!(h.last_accessed(), ts(1_700_000_006_000));
        assert_eq!(h.access_count(), 0);
        h.set_expires_at(None);
        assert_eq!(h.expires_at(), None);
        assert_eq!(h.key_len(), 300);
        h.set_expires_at(Some(ts(0)));
        assert_eq!(h.expires_at(), Some(ts(1)));
        h.set_expires_at(Some(ts(u64::MAX)));
        assert_eq!(h.expires_at(), Some(ts(MAX_EXPIRY_MILLIS)));
    }

    #[test]
    fn the_access_state_restores_exactly_what_it_read() {
        let h = Header::new(1, 1, ts(0), ts(0), None, ts(0));
        for count in [0, 1, 15, 16, 17, 40, 1000, 123_456, u64::MAX] {
            h.restore_access(ts(1_700_000_042_000), count, 9);
            let (at, got, lfu) = h.access_state();
            assert_eq!((at, lfu), (ts(1_700_000_042_000), 9));
            assert!(got <= count, "{count}: {got}");
            // What the counter can hold comes back exactly.
            h.restore_access(at, got, lfu);
            assert_eq!(h.access_state(), (at, got, lfu));
        }
        for code in 0..=HITS_MAX {
            assert_eq!(hits_code(hits_value(code)), code);
        }
    }

    #[test]
    fn expiry_starts_at_the_expiry_instant() {
        let h = Header::new(1, 1, ts(0), ts(0), Some(ts(5_000)), ts(0));
        assert!(!h.is_expired(ts(4_999)));
        assert!(h.is_expired(ts(5_000)));
        let never = Header::new(1, 1, ts(0), ts(0), None, ts(0));
        assert!(!never.is_expired(ts(u64::MAX)));
    }

    #[test]
    fn hit_counter_is_exact_while_small_and_unbiased_when_large() {
        crate::random::seed_for_test();
        let mut code = 0u16;
        for i in 1..=600u64 {
            code = hits_incr(code, random_u64());
            if i <= 16 {
                assert_eq!(hits_value(code), i);
            }
        }
        // Continuity across exponent boundaries.
        assert_eq!(hits_value(7), 7);
        assert_eq!(hits_value(8), 8);
        assert_eq!(hits_value(15), 15);
        assert_eq!(hits_value(16), 16);
        assert_eq!(hits_value(23), 30);
        assert_eq!(hits_value(24), 32);
        // Unbiased: the mean of 100 counters after 20k increments each lands within
        // 10% of the truth (one counter's spread is about 20%; the mean's about 2%).
        let mut sum = 0.0;
        for _ in 0..100 {
            let mut code = 0u16;
            for _ in 0..20_000 {
                code = hits_incr(code, random_u64());
            }
            sum += hits_value(code) as f64;
        }
        let mean = sum / 100.0;
        assert!((18_000.0..22_000.0).contains(&mean), "mean estimate {mean}");
        assert_eq!(hits_incr(HITS_MAX, 0), HITS_MAX);
        assert!(hits_value(HITS_MAX) > 1 << 62);
    }

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        crate::random::seed_for_test();
        let mut c = LFU_INIT;
        for _ in 0..1000 {
            c = lfu_incr(c, 10, random_u64() as u32);
        }
        assert!(c > LFU_INIT + 3 && c < 40, "counter {c}");
        assert_eq!(lfu_decayed(20, 0, 59, 1), 20);
        assert_eq!(lfu_decayed(20, 0, 10 * 60, 1), 10);
        assert_eq!(lfu_decayed(20, 0, 10 * 60, 2), 15);
        assert_eq!(lfu_decayed(20, 0, 100 * 60, 1), 0);
        assert_eq!(lfu_decayed(20, 0, 100 * 60, 0), 20);
    }

    #[test]
    fn touch_writes_only_on_change() {
        let h = Header::new(1, 1, ts(0), ts(0), None, ts(1_000));
        let before = h.access.load(Relaxed);
        h.touch(ts(1_500), 0, None);
        // Same second, but the hit counter moved.
        assert_eq!(h.access_count(), 1);
        assert_eq!(h.last_accessed(), ts(1_000));
        h.touch(ts(3_000), 0, None);
        assert_eq!(h.last_accessed(), ts(3_000));
        assert_ne!(before, h.access.load(Relaxed));
    }

    #[test]
    fn recency_orders_by_second_then_by_tick_age() {
        let h = |secs: u64, tick: u8| {
            let h = Header::new(1, 1, ts(0), ts(0), None, ts(secs * 1000));
            h.set_tick(tick);
            h
        };
        // Same second: fewer ticks ago is more recent, across the tick's wrap.
        assert!(h(5, 9).recency(10) > h(5, 3).recency(10));
        assert!(h(5, 254).recency(2) < h(5, 1).recency(2));
        // A later second beats any tick.
        assert!(h(6, 0).recency(200) > h(5, 200).recency(200));
        // A read at a new tick moves the entry up and keeps its counters.
        let e = h(5, 3);
        let before = e.recency(10);
        e.touch(ts(5_000), 10, None);
        assert!(e.recency(10) > before);
        assert_eq!(e.access_count(), 1);
    }

    /// The mean access count and LFU counter of `n` headers after `reads` touches
    /// each, all within one second (no decay).
    fn counts_after(reads: u32, n: u32, lfu: LfuParams) -> (f64, f64) {
        let (mut hits, mut counters) = (0.0, 0.0);
        for _ in 0..n {
            let h = Header::new(1, 1, ts(0), ts(0), None, ts(1_000));
            for _ in 0..reads {
                h.touch(ts(1_500), 0, Some(lfu));
            }
            hits += h.access_count() as f64;
            counters += f64::from(h.lfu(ts(1_500), lfu.decay_minutes));
        }
        (hits / f64::from(n), counters / f64::from(n))
    }

    #[test]
    fn hot_entries_skip_most_counter_work_but_keep_their_expected_counts() {
        crate::random::seed_for_test();
        let lfu = LfuParams::new(1, 1);
        // The LFU counter of the same reads without the hot gate.
        let mut plain = 0.0;
        for _ in 0..100 {
            let mut c = LFU_INIT;
            for _ in 0..20_000 {
                c = lfu_incr(c, lfu.log_factor, random_u64() as u32);
            }
            plain += f64::from(c);
        }
        plain /= 100.0;
        let (hits, counter) = counts_after(20_000, 100, lfu);
        assert!(
            (18_000.0..22_000.0).contains(&hits),
            "mean access count {hits}"
        );
        // The difference of the two means has a standard deviation of about 1.1
        // (measured over 40 repetitions); 5 keeps this test from failing by chance
        // while a gate that lost or doubled its odds would be off by tens.
        assert!(
            (counter - plain).abs() < 5.0,
            "LFU {counter} against {plain}"
        );
        // A log factor of 0 steps on every read: never hot, exact.
        let (_, counter) = counts_after(300, 1, LfuParams::new(0, 1));
        assert_eq!(counter, 255.0);
    }

    #[test]
    fn hot_thresholds_match_the_step_odds() {
        // Odds 1 / ((counter - 5) * factor + 1) reach 1/16 at these counters.
        assert_eq!(LfuParams::new(10, 1).hot_counter, 7);
        assert_eq!(LfuParams::new(1, 1).hot_counter, 20);
        assert_eq!(LfuParams::new(15, 1).hot_counter, 6);
        assert_eq!(LfuParams::new(0, 1).hot_counter, 256);
        // The hit counter's step is 1 in 16 from the hot code on, 1 in 8 just below.
        assert_eq!(hits_value(HOT_HITS + 1) - hits_value(HOT_HITS), 16);
        assert_eq!(hits_value(HOT_HITS) - hits_value(HOT_HITS - 1), 8);
    }
}

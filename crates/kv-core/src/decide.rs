//! Atomic updates: what a conditional set, a conditional delete, an increment, an
//! append, an [`Update`] closure or a conditional expire does to a key, decided from
//! the key's current entry by one pure function each (public through
//! `kv_core::hooks::decide`).
//!
//! [`Cache`](crate::Cache) runs them under the key's shard lock and applies the
//! decision there; kv-store runs the same functions under the key's write stripe and
//! logs the decision (a put, a delete or an expiry: the outcome, never the condition)
//! as one record before applying it. A refused condition decides [`Decision::Nothing`]
//! and writes nothing. So both answer alike, and recovery replays outcomes without
//! deciding anything again.
//!
//! The Redis mapping is in the docs of [`SetOptions`].

use std::time::Duration;

use crate::{Error, Result, Timestamp, Value};

/// What a conditional write or delete requires of the key's current (live) entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Condition<'a> {
    /// Nothing: the write always happens.
    Always,
    /// The key is absent (Redis `NX`).
    Absent,
    /// The key is present (Redis `XX`).
    Present,
    /// The key is present with exactly this version (compare-and-swap on versions).
    Version(u64),
    /// The key is present with exactly this value (Valkey `IFEQ`, `DELIFEQ`).
    Value(&'a [u8]),
}

impl Condition<'_> {
    /// Whether `current` meets the condition.
    pub fn holds(&self, current: Option<&Current<'_>>) -> bool {
        match (self, current) {
            (Condition::Always, _) => true,
            (Condition::Absent, c) => c.is_none(),
            (Condition::Present, c) => c.is_some(),
            (Condition::Version(v), Some(c)) => c.version == *v,
            (Condition::Value(v), Some(c)) => c.value == *v,
            (Condition::Version(_) | Condition::Value(_), None) => false,
        }
    }
}

/// How a write sets the key's expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expiry {
    /// No expiry (the default of a set, as Redis `SET` without options).
    Never,
    /// The expiry the key has now (none for a new key): Redis `KEEPTTL`.
    Keep,
    /// This long from the moment the write is decided; at least one millisecond.
    In(Duration),
    /// At this absolute time.
    At(Timestamp),
}

impl Expiry {
    /// The expiry this gives a key whose current expiry is `current`, at `now`.
    pub fn resolve(self, current: Option<Timestamp>, now: Timestamp) -> Result<Option<Timestamp>> {
        Ok(match self {
            Expiry::Never => None,
            Expiry::Keep => current,
            Expiry::In(ttl) => Some(crate::write::expiry_after(now, ttl)?),
            Expiry::At(at) => Some(at),
        })
    }
}

/// The options of a conditional set: its condition, the expiry it gives the key, and
/// whether it returns the value it replaces. Built from [`SetOptions::new`] (an
/// unconditional set with no expiry, as Redis `SET`).
///
/// The atomic updates of [`Cache`](crate::Cache) (and of kv-store's `Store`, by the
/// same names) against Redis and Valkey:
///
/// | Redis | here |
/// | --- | --- |
/// | `SET k v` | `set_with(k, v, &SetOptions::new())` |
/// | `SET k v NX` / `SETNX k v` | `SetOptions::new().if_absent()` |
/// | `SET k v XX` | `SetOptions::new().if_present()` |
/// | `SET k v GET` / `GETSET k v` | `SetOptions::new().get()` (the previous value in [`SetOutcome::previous`]) |
/// | `SET k v KEEPTTL` | `SetOptions::new().keep_ttl()` |
/// | `SET k v EX s` / `PX ms` | `SetOptions::new().ttl(d)` |
/// | `SET k v EXAT s` / `PXAT ms` | `SetOptions::new().expires_at(t)` |
/// | Valkey `SET k v IFEQ old` | `SetOptions::new().if_value(old)` |
/// | Valkey `DELIFEQ k old` | `delete_if(k, Condition::Value(old))` |
/// | `GETDEL k` | `remove(k)` |
/// | `INCR`, `INCRBY`, `DECR`, `DECRBY` | `incr(k, delta)` |
/// | `INCRBYFLOAT` | `incr_float(k, delta)` |
/// | `APPEND` | `append(k, suffix)` |
/// | `EXPIRE k s NX / XX / GT / LT` | `expire_if(k, Some(at), ExpireIf::NoTtl / HasTtl / Later / Earlier)` |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetOptions<'a> {
    condition: Condition<'a>,
    expiry: Expiry,
    get: bool,
}

impl Default for SetOptions<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> SetOptions<'a> {
    /// An unconditional set with no expiry that returns nothing.
    pub fn new() -> Self {
        Self {
            condition: Condition::Always,
            expiry: Expiry::Never,
            get: false,
        }
    }

    /// Only if the key is absent (Redis `NX`).
    pub fn if_absent(self) -> Self {
        self.condition(Condition::Absent)
    }

    /// Only if the key is present (Redis `XX`).
    pub fn if_present(self) -> Self {
        self.condition(Condition::Present)
    }

    /// Only if the key's current version is `version` (compare-and-swap).
    pub fn if_version(self, version: u64) -> Self {
        self.condition(Condition::Version(version))
    }

    /// Only if the key's current value is `value` (Valkey `IFEQ`).
    pub fn if_value(self, value: &'a [u8]) -> Self {
        self.condition(Condition::Value(value))
    }

    /// Only if `condition` holds.
    pub fn condition(mut self, condition: Condition<'a>) -> Self {
        self.condition = condition;
        self
    }

    /// Expire `ttl` from now (Redis `EX`, `PX`); a TTL under 1 ms is an error.
    pub fn ttl(self, ttl: Duration) -> Self {
        self.expiry(Expiry::In(ttl))
    }

    /// Expire at `at` (Redis `EXAT`, `PXAT`).
    pub fn expires_at(self, at: Timestamp) -> Self {
        self.expiry(Expiry::At(at))
    }

    /// Keep the key's current expiry (Redis `KEEPTTL`).
    pub fn keep_ttl(self) -> Self {
        self.expiry(Expiry::Keep)
    }

    /// No expiry (the default).
    pub fn persist(self) -> Self {
        self.expiry(Expiry::Never)
    }

    /// The expiry the key gets.
    pub fn expiry(mut self, expiry: Expiry) -> Self {
        self.expiry = expiry;
        self
    }

    /// Return the value the set replaces (Redis `GET`), whether or not it writes.
    pub fn get(mut self) -> Self {
        self.get = true;
        self
    }

    /// The condition.
    pub fn condition_of(&self) -> Condition<'a> {
        self.condition
    }

    /// Whether the previous value is asked for.
    pub fn wants_previous(&self) -> bool {
        self.get
    }
}

/// What a conditional set did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetOutcome<V> {
    /// Whether the value was written (the condition held).
    pub written: bool,
    /// The value the key held before, if [`SetOptions::get`] asked for it.
    pub previous: Option<V>,
    /// The written entry's version, if it was written.
    pub version: Option<u64>,
}

impl<V> SetOutcome<V> {
    /// An outcome (for a storage layer that decides a set itself, as kv-store does).
    pub fn new(written: bool, previous: Option<V>, version: Option<u64>) -> Self {
        Self {
            written,
            previous,
            version,
        }
    }
}

/// What a [`Cache::expire_if`](crate::Cache::expire_if) requires of the key's current
/// expiry (Redis `EXPIRE … NX | XX | GT | LT`). A key without an expiry counts as
/// expiring never, later than any time, as in Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExpireIf {
    /// Whatever it is.
    Always,
    /// Only if the key has no expiry (`NX`).
    NoTtl,
    /// Only if the key has one (`XX`).
    HasTtl,
    /// Only if the new expiry is later than the current one (`GT`).
    Later,
    /// Only if the new expiry is earlier than the current one (`LT`).
    Earlier,
}

/// What an [`update`](crate::Cache::update) closure asks for, given the key's
/// current value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Update {
    /// Store this value; the key keeps its expiry (none for a new key).
    Set(Vec<u8>),
    /// Delete the key.
    Delete,
    /// Change nothing.
    Keep,
}

/// A key's live entry as a decision sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Current<'a> {
    /// Its value.
    pub value: &'a [u8],
    /// Its expiry.
    pub expires_at: Option<Timestamp>,
    /// Its version.
    pub version: u64,
}

/// What to do to the key: the outcome a storage layer logs and then applies.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Store this value with this expiry.
    Put {
        /// The new value.
        value: Vec<u8>,
        /// The new expiry.
        expires_at: Option<Timestamp>,
    },
    /// Delete the key.
    Delete,
    /// Set (`Some`) or clear (`None`) the key's expiry, keeping its value.
    Expire(Option<Timestamp>),
    /// Nothing: the condition did not hold (`refused`), or there was nothing to do.
    Nothing {
        /// True when a condition refused the write (counted in the metrics).
        refused: bool,
    },
}

impl Decision {
    /// Nothing, because a condition refused the write.
    pub const REFUSED: Decision = Decision::Nothing { refused: true };
    /// Nothing, and nothing refused (the write was a no-op).
    pub const NOOP: Decision = Decision::Nothing { refused: false };
}

/// A conditional set of `value`.
pub fn set(
    current: Option<&Current<'_>>,
    value: &[u8],
    opts: &SetOptions<'_>,
    now: Timestamp,
) -> Result<Decision> {
    // A bad TTL is an error whether or not the condition holds, as Redis checks its
    // arguments before the key.
    let expires_at = opts
        .expiry
        .resolve(current.and_then(|c| c.expires_at), now)?;
    if !opts.condition.holds(current) {
        return Ok(Decision::REFUSED);
    }
    Ok(Decision::Put {
        value: value.to_vec(),
        expires_at,
    })
}

/// A conditional delete.
pub fn delete(current: Option<&Current<'_>>, condition: Condition<'_>) -> Decision {
    match current {
        None => Decision::NOOP,
        Some(_) if !condition.holds(current) => Decision::REFUSED,
        Some(_) => Decision::Delete,
    }
}

/// An increment by `delta` of the decimal integer stored at the key (absent counts
/// as 0; the expiry is kept). Returns the decision and the new value; a value that is
/// not a decimal integer within `i64`, or an overflow, is an error and changes
/// nothing.
pub fn incr(current: Option<&Current<'_>>, delta: i64) -> Result<(Decision, i64)> {
    let old = match current {
        Some(c) => parse_i64(c.value).ok_or(Error::NotAnInteger)?,
        None => 0,
    };
    let new = old.checked_add(delta).ok_or(Error::Overflow)?;
    Ok((
        Decision::Put {
            value: itoa::Buffer::new().format(new).as_bytes().to_vec(),
            expires_at: current.and_then(|c| c.expires_at),
        },
        new,
    ))
}

/// An increment by `delta` of the decimal number stored at the key (absent counts as
/// 0; the expiry is kept), as Redis `INCRBYFLOAT`. The new value is stored in the
/// shortest decimal form that reads back as the same `f64`. A value that is not a
/// finite decimal number, a `delta` that is not finite, or a result that is not
/// finite, is an error and changes nothing.
pub fn incr_float(current: Option<&Current<'_>>, delta: f64) -> Result<(Decision, f64)> {
    let old = match current {
        Some(c) => parse_f64(c.value).ok_or(Error::NotAFloat)?,
        None => 0.0,
    };
    if !delta.is_finite() {
        return Err(Error::NotAFloat);
    }
    let new = old + delta;
    if !new.is_finite() {
        return Err(Error::Overflow);
    }
    // `-0` would read back as an integer-looking "-0"; Redis prints 0.
    let new = if new == 0.0 { 0.0 } else { new };
    Ok((
        Decision::Put {
            value: new.to_string().into_bytes(),
            expires_at: current.and_then(|c| c.expires_at),
        },
        new,
    ))
}

/// Appends `suffix` to the key's value (creating the key if absent; the expiry is
/// kept). Returns the decision and the new length.
pub fn append(current: Option<&Current<'_>>, suffix: &[u8]) -> (Decision, usize) {
    let mut value = current.map_or_else(Vec::new, |c| {
        let mut v = Vec::with_capacity(c.value.len() + suffix.len());
        v.extend_from_slice(c.value);
        v
    });
    value.extend_from_slice(suffix);
    let len = value.len();
    (
        Decision::Put {
            value,
            expires_at: current.and_then(|c| c.expires_at),
        },
        len,
    )
}

/// What an [`Update`] asks for, as a decision (a set keeps the key's expiry), and the
/// value the key holds once it is applied.
pub fn update(current: Option<&Current<'_>>, update: Update) -> (Decision, Option<Value>) {
    match update {
        Update::Set(value) => {
            let after = Value::from(value.as_slice());
            let put = Decision::Put {
                value,
                expires_at: current.and_then(|c| c.expires_at),
            };
            (put, Some(after))
        }
        Update::Delete if current.is_some() => (Decision::Delete, None),
        Update::Delete => (Decision::NOOP, None),
        Update::Keep => (Decision::NOOP, current.map(|c| Value::from(c.value))),
    }
}

/// A conditional expire: the key gets expiry `at` (`None`: no expiry) if `when`
/// holds. An absent key is a no-op.
pub fn expire(current: Option<&Current<'_>>, at: Option<Timestamp>, when: ExpireIf) -> Decision {
    let Some(c) = current else {
        return Decision::NOOP;
    };
    // No expiry counts as never: later than any time.
    let later = |a: Option<Timestamp>, b: Option<Timestamp>| match (a, b) {
        (None, None) => false,
        (None, Some(_)) => true,
        (Some(_), None) => false,
        (Some(a), Some(b)) => a > b,
    };
    let holds = match when {
        ExpireIf::Always => true,
        ExpireIf::NoTtl => c.expires_at.is_none(),
        ExpireIf::HasTtl => c.expires_at.is_some(),
        ExpireIf::Later => later(at, c.expires_at),
        ExpireIf::Earlier => later(c.expires_at, at),
    };
    if holds {
        Decision::Expire(at)
    } else {
        Decision::REFUSED
    }
}

/// A decimal `i64` as Redis reads one (`string2ll`): an optional `-`, then digits
/// without a leading zero (or a lone `0`), nothing else, no spaces, no `+`.
pub(crate) fn parse_i64(bytes: &[u8]) -> Option<i64> {
    let (neg, digits) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, bytes),
    };
    match digits {
        [] => return None,
        [b'0'] if !neg => return Some(0),
        [b'0', ..] => return None,
        _ => {}
    }
    if digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // At most 19 digits fit a u64; the sign decides the range.
    let magnitude = digits
        .iter()
        .fold(0u64, |m, d| m * 10 + u64::from(d - b'0'));
    if neg {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// A finite decimal `f64` as Redis `INCRBYFLOAT` reads one: no spaces, no `inf` or
/// `nan`, at most 5120 bytes (Redis's limit for a float string).
pub(crate) fn parse_f64(bytes: &[u8]) -> Option<f64> {
    if bytes.is_empty() || bytes.len() > 5120 {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    // Rust's parser takes "inf", "nan" and "infinity", which Redis refuses.
    if !text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(value: &[u8], expires_at: Option<u64>, version: u64) -> Current<'_> {
        Current {
            value,
            expires_at: expires_at.map(Timestamp::from_millis),
            version,
        }
    }

    const NOW: Timestamp = Timestamp::from_millis(1_000_000);

    #[test]
    fn conditions_hold_as_redis_and_valkey_define_them() {
        let c = cur(b"v", None, 7);
        assert!(Condition::Absent.holds(None));
        assert!(!Condition::Absent.holds(Some(&c)));
        assert!(Condition::Present.holds(Some(&c)));
        assert!(!Condition::Present.holds(None));
        assert!(Condition::Version(7).holds(Some(&c)));
        assert!(!Condition::Version(8).holds(Some(&c)));
        assert!(Condition::Value(b"v").holds(Some(&c)));
        assert!(!Condition::Value(b"w").holds(Some(&c)));
        assert!(!Condition::Value(b"v").holds(None));
    }

    #[test]
    fn a_set_resolves_its_expiry_and_refuses_by_its_condition() {
        let c = cur(b"old", Some(5_000_000), 3);
        let keep = set(Some(&c), b"new", &SetOptions::new().keep_ttl(), NOW).unwrap();
        assert_eq!(
            keep,
            Decision::Put {
                value: b"new".to_vec(),
                expires_at: Some(Timestamp::from_millis(5_000_000))
            }
        );
        let ttl = set(
            None,
            b"x",
            &SetOptions::new().ttl(Duration::from_secs(2)),
            NOW,
        )
        .unwrap();
        assert_eq!(
            ttl,
            Decision::Put {
                value: b"x".to_vec(),
                expires_at: Some(Timestamp::from_millis(1_002_000))
            }
        );
        assert_eq!(
            set(Some(&c), b"x", &SetOptions::new().if_absent(), NOW).unwrap(),
            Decision::REFUSED
        );
        assert_eq!(
            set(None, b"x", &SetOptions::new().if_present(), NOW).unwrap(),
            Decision::REFUSED
        );
        // A bad TTL is an error even when the condition would refuse.
        let zero = SetOptions::new().if_absent().ttl(Duration::ZERO);
        assert!(matches!(
            set(Some(&c), b"x", &zero, NOW),
            Err(Error::InvalidTtl { .. })
        ));
    }

    #[test]
    fn increments_parse_as_redis_does_keep_the_ttl_and_refuse_overflow() {
        assert_eq!(incr(None, 5).unwrap().1, 5);
        let c = cur(b"-12", Some(9), 1);
        let (d, n) = incr(Some(&c), 2).unwrap();
        assert_eq!(n, -10);
        assert_eq!(
            d,
            Decision::Put {
                value: b"-10".to_vec(),
                expires_at: Some(Timestamp::from_millis(9))
            }
        );
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"+1",
            b"01",
            b"-0",
            b"1.0",
            b"abc",
            b"9223372036854775808",
            b"99999999999999999999",
        ] {
            assert_eq!(
                incr(Some(&cur(bad, None, 1)), 1),
                Err(Error::NotAnInteger),
                "{bad:?}"
            );
        }
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"0"), Some(0));
        let max = cur(b"9223372036854775807", None, 1);
        assert_eq!(incr(Some(&max), 1), Err(Error::Overflow));
        let min = cur(b"-9223372036854775808", None, 1);
        assert_eq!(incr(Some(&min), -1), Err(Error::Overflow));
    }

    #[test]
    fn float_increments_store_the_shortest_form_and_refuse_non_numbers() {
        let c = cur(b"10.5", None, 1);
        let (d, f) = incr_float(Some(&c), 0.1).unwrap();
        assert_eq!(f, 10.6);
        assert_eq!(
            d,
            Decision::Put {
                value: b"10.6".to_vec(),
                expires_at: None
            }
        );
        assert_eq!(incr_float(None, 3.0).unwrap().0, {
            Decision::Put {
                value: b"3".to_vec(),
                expires_at: None,
            }
        });
        for bad in [&b"inf"[..], b"nan", b" 1", b"1e", b"abc", b""] {
            assert!(
                incr_float(Some(&cur(bad, None, 1)), 1.0).is_err(),
                "{bad:?}"
            );
        }
        assert_eq!(
            incr_float(Some(&cur(b"1.7e308", None, 1)), 1e308),
            Err(Error::Overflow)
        );
        assert_eq!(incr_float(None, f64::NAN), Err(Error::NotAFloat));
    }

    #[test]
    fn appends_create_or_extend_and_keep_the_ttl() {
        let (d, len) = append(None, b"ab");
        assert_eq!(len, 2);
        assert_eq!(
            d,
            Decision::Put {
                value: b"ab".to_vec(),
                expires_at: None
            }
        );
        let c = cur(b"ab", Some(77), 1);
        assert_eq!(append(Some(&c), b"cd").1, 4);
    }

    #[test]
    fn conditional_expiry_treats_no_ttl_as_never() {
        let none = cur(b"v", None, 1);
        let soon = cur(b"v", Some(100), 1);
        let at = Some(Timestamp::from_millis(200));
        assert_eq!(expire(None, at, ExpireIf::Always), Decision::NOOP);
        assert_eq!(
            expire(Some(&none), at, ExpireIf::NoTtl),
            Decision::Expire(at)
        );
        assert_eq!(expire(Some(&soon), at, ExpireIf::NoTtl), Decision::REFUSED);
        assert_eq!(
            expire(Some(&soon), at, ExpireIf::HasTtl),
            Decision::Expire(at)
        );
        assert_eq!(expire(Some(&none), at, ExpireIf::HasTtl), Decision::REFUSED);
        assert_eq!(
            expire(Some(&soon), at, ExpireIf::Later),
            Decision::Expire(at)
        );
        // No TTL is never: nothing is later than it, everything is earlier.
        assert_eq!(expire(Some(&none), at, ExpireIf::Later), Decision::REFUSED);
        assert_eq!(
            expire(Some(&none), at, ExpireIf::Earlier),
            Decision::Expire(at)
        );
        assert_eq!(
            expire(Some(&soon), at, ExpireIf::Earlier),
            Decision::REFUSED
        );
    }

    #[test]
    fn updates_and_conditional_deletes() {
        let c = cur(b"v", Some(5), 2);
        let (d, after) = update(Some(&c), Update::Set(b"w".to_vec()));
        assert_eq!(
            d,
            Decision::Put {
                value: b"w".to_vec(),
                expires_at: Some(Timestamp::from_millis(5))
            }
        );
        assert_eq!(after.unwrap(), b"w");
        assert_eq!(update(None, Update::Delete), (Decision::NOOP, None));
        assert_eq!(update(Some(&c), Update::Delete), (Decision::Delete, None));
        let (d, after) = update(Some(&c), Update::Keep);
        assert_eq!(
            (d, after.unwrap()),
            (Decision::NOOP, Value::from(&b"v"[..]))
        );
        assert_eq!(delete(Some(&c), Condition::Version(2)), Decision::Delete);
        assert_eq!(delete(Some(&c), Condition::Version(3)), Decision::REFUSED);
        assert_eq!(delete(Some(&c), Condition::Value(b"x")), Decision::REFUSED);
        assert_eq!(delete(None, Condition::Always), Decision::NOOP);
    }
}

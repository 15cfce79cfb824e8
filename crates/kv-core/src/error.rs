//! The crate's one error type.

use std::fmt;
use std::time::Duration;

/// Which limit a write ran into when the cache could not make room for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreLimit {
    /// The entry count limit, `Options::max_entries`.
    Entries(usize),
    /// The byte budget, `Options::max_bytes` (the entries' bytes as
    /// `Options::byte_count` counts them).
    Bytes(u64),
}

impl fmt::Display for StoreLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLimit::Entries(max) => write!(f, "max_entries = {max}"),
            StoreLimit::Bytes(max) => write!(f, "max_bytes = {max}"),
        }
    }
}

/// Everything that can go wrong in kv-core.
///
/// Every variant is a caller's mistake or a full cache: kv-core does no I/O, so there
/// is nothing underneath to be the [`source`](std::error::Error::source) of an error.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A key was empty.
    EmptyKey,
    /// A key was longer than `Options::max_key_size`.
    KeyTooLarge {
        /// The key's length in bytes.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A value was longer than `Options::max_value_size`.
    ValueTooLarge {
        /// The value's length in bytes.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A write's time to live is under one millisecond, the expiry's resolution
    /// (zero, say): the key would expire before anyone could read it. Redis refuses
    /// `SET … EX 0` alike. Nothing was changed.
    InvalidTtl {
        /// The TTL given.
        ttl: Duration,
    },
    /// The write needs room that the cache cannot make: the eviction policy is
    /// [`EvictionPolicy::None`](crate::EvictionPolicy::None), or the entry alone is
    /// larger than the byte budget, or nothing could be evicted. Nothing was changed.
    StoreFull {
        /// The limit that was reached.
        limit: StoreLimit,
    },
    /// An increment found a value that is not a decimal integer within `i64` (as
    /// Redis reads one: no sign but `-`, no leading zero, no space). Nothing was
    /// changed.
    NotAnInteger,
    /// A floating-point increment found a value (or was given an increment) that is
    /// not a finite decimal number. Nothing was changed.
    NotAFloat,
    /// An increment would overflow (`i64`, or a float to infinity). Nothing was
    /// changed.
    Overflow,
    /// An [`update`](crate::Cache::update) closure called back into the same cache,
    /// which would deadlock on the key's lock; the closure's write was not done.
    Reentrant,
    /// An option passed to [`Cache::new`](crate::Cache::new) is invalid.
    InvalidOption {
        /// The option's field name in [`Options`](crate::Options).
        option: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::EmptyKey => f.write_str("key is empty"),
            Error::KeyTooLarge { size, limit } => {
                write!(f, "key of {size} bytes exceeds the limit of {limit} bytes")
            }
            Error::ValueTooLarge { size, limit } => {
                write!(
                    f,
                    "value of {size} bytes exceeds the limit of {limit} bytes"
                )
            }
            Error::InvalidTtl { ttl } => write!(
                f,
                "invalid TTL of {ttl:?}: a key must live at least 1 ms (use delete to remove it)"
            ),
            Error::StoreFull { limit } => write!(f, "store is full ({limit})"),
            Error::NotAnInteger => f.write_str("value is not an integer or out of range"),
            Error::NotAFloat => f.write_str("value is not a valid float"),
            Error::Overflow => f.write_str("increment or decrement would overflow"),
            Error::Reentrant => f.write_str(
                "an update closure called the same store: it must not (the key's lock is held)",
            ),
            Error::InvalidOption { option, reason } => {
                write!(f, "invalid option `{option}`: {reason}")
            }
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_sizes_limits_and_options() {
        let e = Error::KeyTooLarge {
            size: 2000,
            limit: 1024,
        };
        assert_eq!(
            e.to_string(),
            "key of 2000 bytes exceeds the limit of 1024 bytes"
        );
        let e = Error::InvalidOption {
            option: "shards",
            reason: "must be a power of two, got 3".into(),
        };
        assert!(e.to_string().contains("`shards`"));
        let e = Error::StoreFull {
            limit: StoreLimit::Entries(10),
        };
        assert_eq!(e.to_string(), "store is full (max_entries = 10)");
    }
}

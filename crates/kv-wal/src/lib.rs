//! The write-ahead log of kv (skeleton: the kv-wal issue fills it in).
//!
//! ```
//! assert_eq!(kv_wal::NAME, "kv-wal");
//! ```
#![deny(unsafe_code)]

/// The crate's name.
pub const NAME: &str = "kv-wal";

//! kv: an embedded, persistent key-value store (skeleton: the kv-store issue fills it in).
//!
//! ```
//! assert_eq!(kv_store::NAME, "kv-store");
//! ```
#![forbid(unsafe_code)]

/// The crate's name.
pub const NAME: &str = "kv-store";

//! Snapshots for kv (skeleton: the kv-snapshot issue fills it in).
//!
//! ```
//! assert_eq!(kv_snapshot::NAME, "kv-snapshot");
//! ```
#![forbid(unsafe_code)]

/// The crate's name.
pub const NAME: &str = "kv-snapshot";

//! The in-memory engine of kv (skeleton: the kv-core issue fills it in).
//!
//! ```
//! assert_eq!(kv_core::NAME, "kv-core");
//! ```
#![forbid(unsafe_code)]

/// The crate's name.
pub const NAME: &str = "kv-core";

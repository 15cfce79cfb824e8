//! Adapters for the stores a user would pick instead of kv.

mod dashmap;
mod fjall;
mod moka;
mod quick_cache;
mod redb;

pub use self::dashmap::DashMapAdapter;
pub use self::fjall::FjallAdapter;
pub use self::moka::MokaAdapter;
pub use self::quick_cache::QuickCacheAdapter;
pub use self::redb::RedbAdapter;

//! The in-memory engine of kv: a concurrent, sharded byte-key/byte-value cache with
//! per-entry metadata, TTL on an injectable clock, size and count limits, eviction
//! policies, callbacks and metrics. It does no file I/O and can be used on its own.
//!
//! ```
//! use std::time::Duration;
//! use kv_core::{Cache, EvictionPolicy, ManualClock, Options, Timestamp, Ttl};
//!
//! let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
//! let cache = Cache::new(
//!     Options::default()
//!         .max_entries(2)
//!         .shards(1) // eviction samples the writing shard: one shard makes LRU exact here
//!         .eviction(EvictionPolicy::Lru)
//!         .clock(clock.clone()),
//! )?;
//!
//! cache.set(b"a", b"1")?;
//! cache.set_with_ttl(b"session", b"x", Duration::from_secs(30))?;
//! assert_eq!(cache.get(b"a").unwrap(), b"1"); // a cheap handle, no copy
//! assert_eq!(cache.ttl(b"session"), Ttl::Remaining(Duration::from_secs(30)));
//!
//! // Full: the least recently read entry makes room, and the write says so.
//! clock.advance(Duration::from_secs(1));
//! cache.get(b"a");
//! let outcome = cache.set(b"b", b"2")?;
//! assert_eq!(outcome.evicted[0].key(), b"session");
//!
//! // Time passes (on the injected clock): expired keys are never returned.
//! clock.advance(Duration::from_secs(1));
//! cache.get(b"b");
//! cache.set_with_ttl(b"short", b"y", Duration::from_secs(5))?; // evicts "a"
//! clock.advance(Duration::from_secs(5));
//! assert_eq!(cache.get(b"short"), None);
//! assert_eq!(cache.get(b"a"), None);
//!
//! let m = cache.metrics();
//! assert_eq!((m.hits, m.misses, m.evictions, m.expirations), (3, 2, 2, 1));
//! # Ok::<(), kv_core::Error>(())
//! ```
//!
//! # Design
//!
//! - **Entries.** One allocation per entry holds a 32-byte header (version, created
//!   and updated seconds, expiry in milliseconds, access bookkeeping), the key and the
//!   value, behind a thin reference-counted pointer. A [`Value`] is that pointer: a hit
//!   copies no bytes and holds no lock.
//! - **Shards.** Keys are hashed once with a keyed hash (foldhash, random seeds); the
//!   hash picks the shard and the slot. A shard is an open-addressing table (groups
//!   of seven slots, each group one cache line of tag bytes and entry pointers, so a
//!   hit costs two cache misses: the group and the entry) behind a `parking_lot`
//!   reader-writer lock: reads take it shared, writes exclusive.
//! - **Memory.** About 58-64 bytes per entry beyond the key and value bytes (measured
//!   by `examples/mem_per_entry.rs`): 48 for the entry's allocation (plus its 8-byte
//!   alignment padding), 10 to 12.7 for its table slot (64/7 bytes per slot, 72% to
//!   90% of the slots in use); with the allocator's rounding, 66 to 80 in resident
//!   memory. A byte budget counts either the key and value bytes or, with
//!   [`ByteCount::Memory`], all of it.
//! - **Reads stay shared.** A read records its access in the entry header only when
//!   something changed: the second of the last access, the shard's logical tick (a
//!   clock that writes to the shard move once per a 32nd of its entries, so LRU sees
//!   order within a second while a shard nobody writes to sees no header writes), or
//!   a step of a probabilistic counter (logarithmic for LFU, floating-point for the
//!   access count), with a plain store. Metrics are counted per thread (the
//!   `thread_local` crate), each thread's counters on a cache line of their own and
//!   written by that thread only, with plain stores.
//! - **Time.** Expiry is decided on the clock's exact time; the access bookkeeping of
//!   an entry without expiry reads the clock's cheap recent time
//!   (`CLOCK_REALTIME_COARSE` on Linux). The crate starts no thread.
//! - **Eviction** is approximated as in Redis: sample `eviction_samples` entries of the
//!   writing shard into a pool of up to 16 candidates kept between evictions, and
//!   evict the best one for the policy (LRU by last access, LFU by a decaying
//!   logarithmic counter, soonest expiry, or random). If that shard has nothing to
//!   give, the write locks every shard (in order) and looks further.
//!   [`EvictionPolicy::TinyLfu`] adds an admission filter to LFU (a frequency sketch
//!   of recent accesses, as in Caffeine): a new key gets into the full cache only if
//!   it was accessed more lately than the victim.
//! - **Expiry** is lazy on access plus [`Cache::purge_expired`], an incremental sweep
//!   with a work budget.
//! - **Callbacks** (`on_evict`, `on_expire`, `on_error`) run after every lock is
//!   released, so they may call back into the cache.
#![forbid(unsafe_code)]

mod atomic;
mod batch;
mod bulk;
mod cache;
mod decide;
mod entry;
mod error;
mod events;
mod eviction;
mod hash;
mod header;
pub mod hooks;
mod info;
mod iter;
mod metrics;
mod options;
mod purge;
mod random;
mod shard;
mod single_flight;
mod sketch;
mod table;
mod time;
mod value;
mod write;

pub use cache::Cache;
pub use decide::{Condition, ExpireIf, Expiry, SetOptions, SetOutcome, Update};
pub use entry::Entry;
pub use error::{Error, StoreLimit};
pub use events::{ErrorCallback, EvictCallback, EvictionCause, ExpireCallback, ExpiryCause};
pub use hooks::Hooks;
pub use info::{EntryInfo, Ttl};
pub use iter::Iter;
pub use metrics::MetricsSnapshot;
pub use options::{
    default_shards, ByteCount, EvictionPolicy, Options, DEFAULT_EVICTION_SAMPLES,
    DEFAULT_LFU_DECAY, DEFAULT_LFU_LOG_FACTOR, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_KEY_SIZE,
    DEFAULT_MAX_VALUE_SIZE, DEFAULT_TINYLFU_SAMPLES, MAX_SHARDS,
};
pub use purge::PurgeStats;
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use value::Value;
pub use write::WriteOutcome;

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

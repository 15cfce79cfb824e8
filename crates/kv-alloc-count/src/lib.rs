//! kv-alloc-count: the one counting global allocator of the workspace, for the tools
//! and tests that measure memory (kv-core's `mem_per_entry` example, kv-bench's
//! `kv-bench-mem`, kv-snapshot's allocation-bound test).
//!
//! [`Counting`] forwards every call to [`std::alloc::System`] unchanged and keeps two
//! figures beside it: the bytes requested and not yet freed by the whole process
//! ([`live_bytes`]), and the largest single request made on the current thread since
//! [`reset_largest_on_thread`] ([`largest_on_thread`]). Sizes are the sizes requested;
//! the system allocator's own rounding and headers are not included. The figures only
//! move when `Counting` is the program's global allocator:
//!
//! ```
//! #[global_allocator]
//! static ALLOC: kv_alloc_count::Counting = kv_alloc_count::Counting;
//!
//! fn main() {
//!     let before = kv_alloc_count::live_bytes();
//!     kv_alloc_count::reset_largest_on_thread();
//!     let v: Vec<u8> = Vec::with_capacity(4096);
//!     assert_eq!(kv_alloc_count::live_bytes() - before, 4096);
//!     assert_eq!(kv_alloc_count::largest_on_thread(), 4096);
//!     drop(v);
//!     assert_eq!(kv_alloc_count::live_bytes(), before);
//! }
//! ```
//!
//! Not published: a measuring aid for this workspace. Its `unsafe` (a `GlobalAlloc`
//! can only be implemented with `unsafe impl`) lives in one module, `counting.rs`.

mod counting;

pub use counting::{largest_on_thread, live_bytes, reset_largest_on_thread, Counting};

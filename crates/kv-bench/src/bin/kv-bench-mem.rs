//! `kv-bench-mem ENTRIES`: memory per entry of every in-memory contender, counted by this
//! binary's global allocator (kv-alloc-count's, which forwards to `System` and counts
//! the bytes requested and not yet freed). Run by `kv-bench`, which reads its stdout.
#![forbid(unsafe_code)]

#[global_allocator]
static GLOBAL: kv_alloc_count::Counting = kv_alloc_count::Counting;

fn main() {
    let entries = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    kv_bench::child_main(entries, kv_alloc_count::live_bytes);
}

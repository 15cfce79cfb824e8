//! The counting allocator: the workspace's one `unsafe impl GlobalAlloc`.
#![allow(unsafe_code)] // `GlobalAlloc` is an unsafe trait; each block says why it holds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Bytes allocated and not yet freed, whole process (sizes as requested).
static LIVE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The largest single request made on this thread since the last reset.
    /// Const-initialised and without a destructor, so touching it from inside the
    /// allocator never allocates and never registers anything.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

/// A global allocator that forwards to [`System`] and counts (see the crate docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Counting;

/// Bytes requested from the allocator and not yet freed by the whole process, while
/// [`Counting`] is the global allocator (0 otherwise).
pub fn live_bytes() -> usize {
    LIVE.load(Relaxed)
}

/// The largest single request (`alloc`, `alloc_zeroed`, or the new size of a
/// `realloc`) made on the current thread since [`reset_largest_on_thread`], while
/// [`Counting`] is the global allocator (0 otherwise).
pub fn largest_on_thread() -> usize {
    LARGEST.with(Cell::get)
}

/// Starts the current thread's [`largest_on_thread`] over from 0.
pub fn reset_largest_on_thread() {
    LARGEST.with(|c| c.set(0));
}

/// Notes a request of `size` bytes on this thread. `try_with`: during thread teardown
/// the slot may be gone, and then there is nothing to note.
fn note(size: usize) {
    let _ = LARGEST.try_with(|c| c.set(c.get().max(size)));
}

// SAFETY: every method calls the same method of `System` with the caller's arguments
// unchanged, so the caller's obligations under `GlobalAlloc`'s contract pass to
// `System` intact and `System`'s guarantees are returned intact. The counting beside
// it touches only an atomic and a const-initialised thread-local `Cell` (no
// allocation, no unwinding, no access to the memory handed out).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded unchanged; `layout` meets `alloc`'s contract by the
        // caller's obligation.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded unchanged, as in `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; the caller guarantees `ptr` came from this
        // allocator (so from `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: forwarded unchanged; the caller guarantees `ptr` and `layout` as in
        // `dealloc` and a valid `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // On failure the old block stays allocated, so nothing changes.
            LIVE.fetch_sub(layout.size(), Relaxed);
            LIVE.fetch_add(new_size, Relaxed);
        }
        p
    }
}

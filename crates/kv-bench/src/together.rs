//! Threads released together by a barrier and timed together: the wall time of a
//! multi-threaded run, from the first thread's start to the last one's end (the main
//! thread's own clock could be descheduled between the barrier and its first reading).

use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Runs `work(t)` on `threads` scoped threads (`t` in `0..threads`), all released at
/// once; returns the wall time and each thread's output, in thread order.
pub(crate) fn together<T: Send>(
    threads: usize,
    work: impl Fn(usize) -> T + Sync,
) -> (Duration, Vec<T>) {
    let barrier = Barrier::new(threads);
    let (barrier, work) = (&barrier, &work);
    let spans: Vec<(Instant, Instant, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let out = work(t);
                    (start, Instant::now(), out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a benchmark thread panicked"))
            .collect()
    });
    let start = spans
        .iter()
        .map(|s| s.0)
        .min()
        .expect("at least one thread");
    let end = spans
        .iter()
        .map(|s| s.1)
        .max()
        .expect("at least one thread");
    (end - start, spans.into_iter().map(|s| s.2).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_thread_runs_once_and_the_span_covers_them_all() {
        let (wall, out) = together(3, |t| {
            std::thread::sleep(Duration::from_millis(5 * t as u64));
            t * 10
        });
        assert_eq!(out, [0, 10, 20]);
        assert!(wall >= Duration::from_millis(10), "{wall:?}");
    }
}

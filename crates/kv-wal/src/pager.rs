//! The pager: two threads that keep page-cache work off the write path. Ahead of the
//! writer it readies the pages the next records will go to (the first write to a page
//! of a preallocated segment otherwise allocates and zeroes it, in the writer); behind
//! it, it unmaps the pages the writer is done with and starts their writeback, so
//! that the sync that seals a segment, or the interval flush, finds little left to
//! write (unmapped first, so writeback need not interrupt the writer to write-protect
//! them).
//!
//! Both are hints to the storage ([`SegmentFile::prepare`] and
//! [`SegmentFile::write_back`]): they change no byte and make nothing durable, so the
//! log's guarantees never depend on this thread, only its speed does.

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::storage::SegmentFile;

/// How far ahead of the writer pages are readied.
pub(crate) const AHEAD: u64 = 4 << 20;
/// How far the writer goes between two requests to the pager.
pub(crate) const STEP: u64 = 1 << 20;
/// Requests that may wait for each of the pager's threads; beyond them the writer
/// drops one (and pays its own page faults, or the next sync writes more, for a
/// while). Ample: a thread can stall for milliseconds behind the disk or a lock.
const QUEUE: usize = 32;
/// How far behind the writer writeback stays, and the boundary it rounds down to:
/// the largest folio the page cache may use for a file.
const LAG: u64 = 2 << 20;

/// One request: ready `ahead`, write back `behind`, both ranges of `file`.
pub(crate) struct Job {
    file: Arc<dyn SegmentFile>,
    ahead: (u64, u64),
    behind: (u64, u64),
}

enum Msg {
    Range(Arc<dyn SegmentFile>, u64, u64),
    Stop,
}

/// What the writer keeps about the pager's progress in its segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paging {
    /// The writer asks the pager again once it writes at or past this offset.
    next_ask: u64,
    /// Everything below this offset was handed to writeback.
    written_back: u64,
    /// The pager was asked to ready everything below this offset.
    readied: u64,
}

impl Paging {
    /// A segment whose next record goes to `pos`: the writer first asks once it has
    /// written a step's worth of records, so a log barely written never wakes the
    /// pager (readying a page as a write would updates the file's modification time,
    /// later than the write that caused it).
    pub(crate) fn new(pos: u64) -> Paging {
        Paging {
            next_ask: pos.saturating_add(STEP),
            written_back: pos - pos % LAG,
            readied: pos,
        }
    }

    /// The request to make now that the writer's next record goes to `pos` in a file
    /// of `size` bytes, if it is time for one.
    pub(crate) fn due(&mut self, file: &Arc<dyn SegmentFile>, pos: u64, size: u64) -> Option<Job> {
        if pos < self.next_ask {
            return None;
        }
        self.next_ask = pos.saturating_add(STEP);
        // Only what the writer left well behind: writeback cleans whole folios (up
        // to 2 MiB), and a cleaned page the writer touches again faults again.
        let done = pos.saturating_sub(LAG);
        let done = (done - done % LAG).max(self.written_back);
        let behind = (self.written_back, done);
        self.written_back = done;
        // Only what no earlier request covered (readied pages stay ready), unless
        // the writer got past it.
        let end = pos.saturating_add(AHEAD).min(size);
        let ahead = (self.readied.clamp(pos, end), end);
        self.readied = end;
        Some(Job {
            file: file.clone(),
            ahead,
            behind,
        })
    }
}

/// One of the pager's two threads: one readies pages, the other starts writeback
/// (which can block for milliseconds when the disk's queue is full, and must not hold
/// up the readying).
#[derive(Debug)]
struct Worker {
    tx: Sender<Msg>,
    thread: JoinHandle<()>,
}

impl Worker {
    fn start(name: &str, hint: fn(&dyn SegmentFile, u64, u64)) -> io::Result<Worker> {
        let (tx, rx): (Sender<Msg>, Receiver<Msg>) = crossbeam_channel::bounded(QUEUE);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while let Ok(Msg::Range(file, from, to)) = rx.recv() {
                    hint(&*file, from, to.saturating_sub(from));
                }
            })?;
        Ok(Worker { tx, thread })
    }

    fn stop(self) {
        let _ = self.tx.send(Msg::Stop);
        let _ = self.thread.join();
    }
}

/// The pager's threads.
#[derive(Debug)]
pub(crate) struct Pager {
    ready: Worker,
    write_back: Worker,
}

/// Hands jobs to the pager without ever waiting for it.
#[derive(Debug, Clone)]
pub(crate) struct PagerHandle {
    ready: Sender<Msg>,
    write_back: Sender<Msg>,
}

impl PagerHandle {
    /// Queues the two halves of `job` unless their thread is behind (then that half
    /// is dropped: it was only a hint, and the writer's own page faults, or the next
    /// sync, do the same work).
    pub(crate) fn send(&self, job: Job) {
        for (tx, (from, to)) in [(&self.ready, job.ahead), (&self.write_back, job.behind)] {
            if from < to {
                match tx.try_send(Msg::Range(job.file.clone(), from, to)) {
                    Ok(()) | Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
                }
            }
        }
    }
}

impl Pager {
    /// Starts the threads.
    pub(crate) fn start() -> io::Result<(Pager, PagerHandle)> {
        let ready = Worker::start("kv-wal-pager", |f, offset, len| f.prepare(offset, len))?;
        let write_back = match Worker::start("kv-wal-writeback", |f, offset, len| {
            f.write_back(offset, len);
        }) {
            Ok(w) => w,
            Err(e) => {
                ready.stop();
                return Err(e);
            }
        };
        let handle = PagerHandle {
            ready: ready.tx.clone(),
            write_back: write_back.tx.clone(),
        };
        Ok((Pager { ready, write_back }, handle))
    }

    /// Stops the threads once the jobs already queued are done, and waits for them.
    pub(crate) fn stop(self) {
        self.ready.stop();
        self.write_back.stop();
    }
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Range(_, from, to) => write!(f, "Range({from}..{to})"),
            Msg::Stop => f.write_str("Stop"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    /// A file that only records the hints it gets.
    #[derive(Debug, Default)]
    struct Hints {
        prepared: Mutex<Vec<(u64, u64)>>,
        written_back: Mutex<Vec<(u64, u64)>>,
    }

    impl SegmentFile for Hints {
        fn size(&self) -> u64 {
            64 << 20
        }
        fn grow(&self, _: u64) -> io::Result<()> {
            Ok(())
        }
        fn read_at(&self, _: u64, _: &mut [u8]) -> io::Result<()> {
            Ok(())
        }
        fn write_at(&self, _: u64, _: &[u8]) -> io::Result<()> {
            Ok(())
        }
        fn sync(&self, _: u64, _: u64) -> io::Result<()> {
            Ok(())
        }
        fn prepare(&self, offset: u64, len: u64) {
            self.prepared.lock().push((offset, len));
        }
        fn write_back(&self, offset: u64, len: u64) {
            self.written_back.lock().push((offset, len));
        }
    }

    #[test]
    fn the_writer_asks_once_per_step_and_writeback_stays_behind_it() {
        let file: Arc<dyn SegmentFile> = Arc::new(Hints::default());
        let size = 16 << 20;
        let mut p = Paging::new(64);
        assert!(
            p.due(&file, 64, size).is_none(),
            "a barely written log never asks"
        );
        assert!(p.due(&file, 63 + STEP, size).is_none());
        let first = p.due(&file, 64 + STEP, size).expect("a step written asks");
        assert_eq!(first.ahead, (64 + STEP, 64 + STEP + AHEAD));
        let mut readied = first.ahead.1;
        assert_eq!(first.behind.0, first.behind.1, "nothing is behind yet");
        assert!(p.due(&file, 63 + 2 * STEP, size).is_none());
        let mut last_end = 0;
        let mut pos = 64 + 2 * STEP;
        while pos < size {
            if let Some(job) = p.due(&file, pos, size) {
                assert_eq!(job.ahead.0, readied.max(pos), "only what is new");
                assert_eq!(job.ahead.1, (pos + AHEAD).min(size));
                readied = job.ahead.1;
                let (from, to) = job.behind;
                assert_eq!(from, last_end, "writeback ranges follow each other");
                assert!(from <= to);
                if from < to {
                    assert!(
                        to + LAG <= pos,
                        "writeback keeps {LAG} bytes behind the writer: {from}..{to} at {pos}"
                    );
                    assert_eq!(to % LAG, 0);
                }
                last_end = to;
            }
            pos += 1000;
        }
        assert!(last_end >= size - 3 * LAG, "writeback follows the writer");
    }

    #[test]
    fn the_pager_hands_every_queued_job_to_the_file_before_it_stops() {
        let hints = Arc::new(Hints::default());
        let file: Arc<dyn SegmentFile> = hints.clone();
        let (pager, handle) = Pager::start().unwrap();
        let mut p = Paging::new(0);
        let (mut ahead, mut behind) = (Vec::new(), Vec::new());
        // Far enough for writeback of what lies more than two folios behind.
        for pos in [STEP, 2 * STEP, 3 * STEP, 4 * STEP, 3 * LAG] {
            let job = p
                .due(&file, pos, file.size())
                .expect("a step further each time");
            ahead.push((job.ahead.0, job.ahead.1 - job.ahead.0));
            if job.behind.0 < job.behind.1 {
                behind.push((job.behind.0, job.behind.1 - job.behind.0));
            }
            handle.send(job);
        }
        assert_eq!(ahead[0], (STEP, AHEAD), "offset and length");
        assert_eq!(behind.first(), Some(&(0, LAG)), "a folio behind");
        pager.stop();
        // All fit in the queues: none was dropped, and each went to its thread.
        assert_eq!(*hints.prepared.lock(), ahead);
        assert_eq!(*hints.written_back.lock(), behind);
        // Once stopped, sending is harmless.
        if let Some(job) = p.due(&file, 4 * LAG, file.size()) {
            handle.send(job);
        }
    }
}

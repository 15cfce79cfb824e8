//! `Prefetch`: a [`Source`] that reads the file ahead of the decoder on a thread of its
//! own, so that the disk's reads (and the kernel's copies out of the page cache)
//! overlap checking and decoding instead of alternating with them.
//!
//! The thread reads fixed-size chunks into a small, fixed set of buffers that travel
//! between it and the decoder: a filled buffer becomes the decoder's window as it is
//! (each keeps `head` free bytes in front, where the few unread bytes of the previous
//! window, a record cut by the chunk boundary, are copied), and the window's old
//! buffer goes back to be filled again. Nothing is copied in bulk; at most
//! `depth + 1` buffers exist, so memory stays bounded whatever the file holds.

use std::fmt;
use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;
use std::thread::JoinHandle;

use crate::source::Source;
use crate::window::Window;

/// What the read-ahead thread sends.
enum Msg {
    /// A buffer whose bytes `head..head + len` are the next `len > 0` bytes of the file.
    Bytes(Vec<u8>, usize),
    /// The end of the file.
    End,
    /// A read failed; nothing follows.
    Failed(io::Error),
}

/// Reads a file ahead of the decoder on a thread of its own.
pub(crate) struct Prefetch {
    /// In a mutex only so that the reader stays `Sync` (reached through `&mut self`
    /// with `get_mut`, never locked).
    filled: Option<Mutex<Receiver<Msg>>>,
    free: Option<SyncSender<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
    head: usize,
    chunk: usize,
    done: bool,
}

impl fmt::Debug for Prefetch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prefetch")
            .field("head", &self.head)
            .field("chunk", &self.chunk)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Prefetch {
    /// Starts a thread reading `src` from its current position to its end in chunks of
    /// `chunk` bytes, at most `depth` chunks ahead of the decoder. Every buffer is
    /// `head + chunk` bytes; `depth + 1` of them at most exist at once.
    pub(crate) fn spawn<R: Read + Send + 'static>(
        src: R,
        chunk: usize,
        head: usize,
        depth: usize,
    ) -> io::Result<Self> {
        let chunk = chunk.max(1);
        let depth = depth.max(1);
        // Room for every buffer and the end marker: the thread never blocks on sending.
        let (filled_tx, filled) = sync_channel(depth + 2);
        let (free, free_rx) = sync_channel(depth + 2);
        for _ in 0..depth {
            free.send(Vec::new()).expect("the receiver is alive");
        }
        let thread = std::thread::Builder::new()
            .name("kv-snapshot-read".to_owned())
            .spawn(move || read_ahead(src, &filled_tx, &free_rx, head, chunk))?;
        Ok(Prefetch {
            filled: Some(Mutex::new(filled)),
            free: Some(free),
            thread: Some(thread),
            head,
            chunk,
            done: false,
        })
    }

    /// Hands a buffer back to be filled again. One that grew past the standard size
    /// (for a long record) is dropped and replaced by an empty one the thread sizes.
    fn recycle(&self, buf: Vec<u8>) {
        let buf = if buf.len() == self.head + self.chunk {
            buf
        } else {
            Vec::new()
        };
        if let Some(free) = &self.free {
            // Fails only when the thread has stopped, after the end or an error.
            let _ = free.send(buf);
        }
    }
}

impl Source for Prefetch {
    fn refill(&mut self, win: &mut Window, _need: usize) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let msg = self
            .filled
            .as_mut()
            .and_then(|rx| rx.get_mut().ok()?.recv().ok())
            .unwrap_or_else(|| Msg::Failed(io::Error::other("the read-ahead thread stopped")));
        match msg {
            Msg::Bytes(buf, len) => {
                let old = if win.unread() <= self.head {
                    win.swap_in(buf, self.head, len)
                } else {
                    // A record longer than the headroom: it grows in the window's own
                    // buffer, chunk by chunk (bounded by the file's bytes).
                    win.append(&buf[self.head..self.head + len]);
                    buf
                };
                self.recycle(old);
                Ok(len)
            }
            Msg::End => {
                self.done = true;
                Ok(0)
            }
            Msg::Failed(e) => {
                self.done = true;
                Err(e)
            }
        }
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        // With both channels closed the thread stops at its next send or receive,
        // after at most one read.
        self.filled = None;
        self.free = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread: fills each free buffer with the next chunk until the end of the file, a
/// failed read, or the decoder going away.
fn read_ahead<R: Read>(
    mut src: R,
    filled: &SyncSender<Msg>,
    free: &Receiver<Vec<u8>>,
    head: usize,
    chunk: usize,
) {
    while let Ok(mut buf) = free.recv() {
        if buf.len() != head + chunk {
            buf = vec![0; head + chunk];
        }
        let mut len = 0;
        while len < chunk {
            match src.read(&mut buf[head + len..head + chunk]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = filled.send(Msg::Failed(e));
                    return;
                }
            }
        }
        if len > 0 && filled.send(Msg::Bytes(buf, len)).is_err() {
            return;
        }
        if len < chunk {
            let _ = filled.send(Msg::End);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per read and fails at `fail_at`.
    struct Dribble {
        data: Vec<u8>,
        at: usize,
        step: usize,
        fail_at: Option<usize>,
    }

    impl Read for Dribble {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.fail_at.is_some_and(|f| self.at >= f) {
                return Err(io::Error::other("injected"));
            }
            let n = buf.len().min(self.step).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn drain(p: &mut Prefetch, keep: usize, need: usize) -> io::Result<Vec<u8>> {
        let mut win = Window::with_capacity(0);
        let mut seen = Vec::new();
        loop {
            let n = p.refill(&mut win, need)?;
            if n == 0 {
                break;
            }
            let k = win.unread().min(keep);
            seen.extend_from_slice(&win.buf[win.start..win.end - k]);
            win.start = win.end - k;
            win.take_consumed();
        }
        seen.extend_from_slice(win.unread_bytes());
        Ok(seen)
    }

    #[test]
    fn every_byte_arrives_once_in_order_whatever_the_sizes() {
        let data: Vec<u8> = (0..5_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for (chunk, head, depth, step, keep) in [
            (64, 16, 1, 64, 3),
            (64, 16, 3, 5, 16),
            // Kept bytes beyond the headroom take the appending path.
            (64, 4, 2, 64, 100),
            (1, 0, 1, 1, 0),
            (4096, 64, 2, 1000, 50),
            (10_000, 8, 3, 10_000, 9),
        ] {
            let src = Dribble {
                data: data.clone(),
                at: 0,
                step,
                fail_at: None,
            };
            let mut p = Prefetch::spawn(src, chunk, head, depth).unwrap();
            let seen = drain(&mut p, keep, keep + 1).unwrap();
            assert_eq!(
                seen, data,
                "chunk {chunk} head {head} depth {depth} step {step}"
            );
            assert_eq!(p.refill(&mut Window::with_capacity(0), 1).unwrap(), 0);
        }
    }

    #[test]
    fn a_failed_read_is_returned_after_the_bytes_before_it() {
        let data = vec![1u8; 1000];
        let src = Dribble {
            data,
            at: 0,
            step: 100,
            fail_at: Some(500),
        };
        let mut p = Prefetch::spawn(src, 100, 8, 2).unwrap();
        let mut win = Window::with_capacity(0);
        let mut got = 0;
        let err = loop {
            match p.refill(&mut win, 1) {
                Ok(n) => {
                    assert!(n > 0, "the end before the failure");
                    got += n;
                    win.start = win.end;
                    win.take_consumed();
                }
                Err(e) => break e,
            }
        };
        assert_eq!(got, 500);
        assert_eq!(err.to_string(), "injected");
        assert_eq!(p.refill(&mut win, 1).unwrap(), 0);
    }

    #[test]
    fn dropping_it_early_stops_the_thread() {
        let src = Dribble {
            data: vec![0; 1 << 20],
            at: 0,
            step: 4096,
            fail_at: None,
        };
        let mut p = Prefetch::spawn(src, 4096, 64, 2).unwrap();
        let mut win = Window::with_capacity(0);
        assert!(p.refill(&mut win, 1).unwrap() > 0);
        drop(p); // joins the thread: returning at all is the assertion
    }
}

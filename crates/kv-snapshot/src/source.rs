//! `Source`: where the decoder's bytes come from. `ReadSource` reads on the caller's
//! thread from any `Read`; `Prefetch` (its own file) reads ahead on a thread of its own.

use std::io::{self, Read};

use crate::window::Window;

/// Supplies the bytes of a file, in order, into the decoder's [`Window`].
pub(crate) trait Source {
    /// Adds at least one byte after the window's unread ones, making room for `need`
    /// unread bytes in all if it reads into the window's own buffer; returns the bytes
    /// added, 0 at the end of the file. Called only with the consumed bytes folded
    /// (`crc_from == start`). `need` is bounded by the bytes the file still holds.
    fn refill(&mut self, win: &mut Window, need: usize) -> io::Result<usize>;
}

/// Reads from `R` on the caller's thread, straight into the window's buffer.
#[derive(Debug)]
pub(crate) struct ReadSource<R>(pub(crate) R);

impl<R: Read> Source for ReadSource<R> {
    fn refill(&mut self, win: &mut Window, need: usize) -> io::Result<usize> {
        if win.buf.len() - win.start < need || win.end == win.buf.len() {
            win.compact(need);
        }
        loop {
            match self.0.read(&mut win.buf[win.end..]) {
                Ok(n) => {
                    win.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_source_fills_the_window_in_order_and_ends_with_zero() {
        let data: Vec<u8> = (0..100u8).collect();
        let mut src = ReadSource(&data[..]);
        let mut win = Window::with_capacity(16);
        let mut seen = Vec::new();
        loop {
            let n = src.refill(&mut win, 10).unwrap();
            if n == 0 {
                break;
            }
            // Consume all but 3 bytes, as a decoder with a record cut short would.
            let keep = win.unread().min(3);
            seen.extend_from_slice(&win.buf[win.start..win.end - keep]);
            win.start = win.end - keep;
            win.take_consumed();
        }
        seen.extend_from_slice(win.unread_bytes());
        assert_eq!(seen, data);
        assert_eq!(win.buf.len(), 16);
    }

    #[test]
    fn a_read_source_grows_the_window_for_a_long_need() {
        let data = [7u8; 40];
        let mut src = ReadSource(&data[..]);
        let mut win = Window::with_capacity(8);
        while win.unread() < 30 {
            assert!(src.refill(&mut win, 30).unwrap() > 0);
        }
        assert_eq!(win.buf.len(), 30);
    }
}

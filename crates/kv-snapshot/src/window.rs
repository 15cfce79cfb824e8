//! `Window`: the decoder's read buffer, the bytes read from the file but not yet
//! consumed, and the consumed record bytes not yet folded into the data checksum.

/// `buf[start..end]` is read but not consumed; `buf[crc_from..start]` is consumed record
/// bytes not yet folded into the data checksum.
///
/// A [`Source`](crate::source::Source) adds bytes after `end`, either by reading into
/// the buffer's spare room or by handing over a buffer of its own that already holds
/// the next bytes; it may only do so once `crc_from == start` (consumed bytes folded),
/// and it keeps the unread bytes, in order, in front of the new ones.
#[derive(Debug)]
pub(crate) struct Window {
    pub(crate) buf: Vec<u8>,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) crc_from: usize,
}

impl Window {
    /// An empty window over a buffer of `capacity` zeroed bytes.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Window {
            buf: vec![0; capacity],
            start: 0,
            end: 0,
            crc_from: 0,
        }
    }

    /// Bytes read but not consumed.
    pub(crate) fn unread(&self) -> usize {
        self.end - self.start
    }

    /// The unread bytes.
    pub(crate) fn unread_bytes(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Consumed bytes not yet folded into the data checksum; afterwards there are none.
    pub(crate) fn take_consumed(&mut self) -> &[u8] {
        let from = self.crc_from;
        self.crc_from = self.start;
        &self.buf[from..self.start]
    }

    /// Moves the unread bytes to the front and makes room for at least `need` bytes in
    /// all. Grows the buffer only to `need`: a caller bounds `need` by the bytes the
    /// file still holds.
    pub(crate) fn compact(&mut self, need: usize) {
        debug_assert_eq!(self.crc_from, self.start, "consumed bytes not folded");
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        self.crc_from = 0;
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
    }

    /// Replaces the buffer with `next`, whose `next[at..at + len]` holds the bytes that
    /// follow the unread ones, and `next[..at]` is free: the unread bytes are copied in
    /// front of the new ones (the caller checked they fit). Returns the old buffer.
    pub(crate) fn swap_in(&mut self, mut next: Vec<u8>, at: usize, len: usize) -> Vec<u8> {
        debug_assert_eq!(self.crc_from, self.start, "consumed bytes not folded");
        let unread = self.unread();
        next[at - unread..at].copy_from_slice(&self.buf[self.start..self.end]);
        self.start = at - unread;
        self.crc_from = self.start;
        self.end = at + len;
        std::mem::replace(&mut self.buf, next)
    }

    /// Appends `bytes` after the unread ones, compacting and growing the buffer to fit.
    pub(crate) fn append(&mut self, bytes: &[u8]) {
        if self.buf.len() - self.end < bytes.len() {
            self.compact(self.unread() + bytes.len());
        }
        self.buf[self.end..self.end + bytes.len()].copy_from_slice(bytes);
        self.end += bytes.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(bytes: &[u8], consumed: usize) -> Window {
        let mut w = Window::with_capacity(bytes.len());
        w.buf.copy_from_slice(bytes);
        w.end = bytes.len();
        w.start = consumed;
        w
    }

    #[test]
    fn consumed_bytes_are_handed_out_once() {
        let mut w = window(b"abcdef", 2);
        assert_eq!(w.take_consumed(), b"ab");
        assert_eq!(w.take_consumed(), b"");
        w.start = 5;
        assert_eq!(w.take_consumed(), b"cde");
        assert_eq!(w.unread_bytes(), b"f");
    }

    #[test]
    fn compact_keeps_the_unread_bytes_and_grows_only_to_need() {
        let mut w = window(b"abcdef", 4);
        w.take_consumed();
        w.compact(3);
        assert_eq!((w.start, w.end, w.buf.len()), (0, 2, 6));
        assert_eq!(w.unread_bytes(), b"ef");
        w.compact(9);
        assert_eq!(w.buf.len(), 9);
        assert_eq!(w.unread_bytes(), b"ef");
    }

    #[test]
    fn swap_in_puts_the_unread_bytes_before_the_new_ones() {
        let mut w = window(b"abcdef", 4);
        w.take_consumed();
        let mut next = vec![0u8; 8];
        next[4..7].copy_from_slice(b"ghi");
        let old = w.swap_in(next, 4, 3);
        assert_eq!(old, b"abcdef");
        assert_eq!(w.unread_bytes(), b"efghi");
        assert_eq!(w.take_consumed(), b"");
    }

    #[test]
    fn append_grows_to_fit() {
        let mut w = window(b"abcd", 1);
        w.take_consumed();
        w.append(b"efghij");
        assert_eq!(w.unread_bytes(), b"bcdefghij");
        assert_eq!(w.buf.len(), 9);
        w.start = w.end;
        w.take_consumed();
        w.append(b"k");
        assert_eq!(w.unread_bytes(), b"k");
    }
}

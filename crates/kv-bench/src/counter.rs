//! Counters stored as decimal ASCII, as Redis and kv store them: what a peer does
//! inside its atomic read-modify-write in the increment workload, so that every
//! contender parses, adds and formats as kv's `incr` does.

/// The decimal text of an `i64`, on the stack (at most 20 bytes: `-9223372036854775808`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decimal {
    buf: [u8; 20],
    start: u8,
}

impl Decimal {
    /// `n` in decimal, with a `-` when negative, without leading zeros.
    pub(crate) fn new(n: i64) -> Self {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        let mut m = n.unsigned_abs();
        loop {
            i -= 1;
            buf[i] = b'0' + (m % 10) as u8;
            m /= 10;
            if m == 0 {
                break;
            }
        }
        if n < 0 {
            i -= 1;
            buf[i] = b'-';
        }
        Self {
            buf,
            start: i as u8,
        }
    }

    /// The digits.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[usize::from(self.start)..]
    }
}

/// `current` read as a decimal integer (absent counts as 0) plus `delta`; `None` when
/// `current` is not a decimal `i64` or the sum overflows.
pub(crate) fn add(current: Option<&[u8]>, delta: i64) -> Option<i64> {
    let old = match current {
        Some(bytes) => std::str::from_utf8(bytes).ok()?.parse::<i64>().ok()?,
        None => 0,
    };
    old.checked_add(delta)
}

/// [`add`] for a benchmark's own counters, which are always integers.
pub(crate) fn bump(current: Option<&[u8]>, delta: i64) -> i64 {
    add(current, delta).expect("a benchmark counter holds a decimal i64 and never overflows")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_every_magnitude_and_sign() {
        for n in [0, 7, -7, 10, 1234567890, i64::MAX, i64::MIN, -1] {
            assert_eq!(Decimal::new(n).as_bytes(), n.to_string().as_bytes());
        }
    }

    #[test]
    fn adds_to_a_decimal_or_to_nothing() {
        assert_eq!(add(None, 5), Some(5));
        assert_eq!(add(Some(b"41"), 1), Some(42));
        assert_eq!(add(Some(b"-3"), -4), Some(-7));
        assert_eq!(add(Some(b"abc"), 1), None);
        assert_eq!(add(Some(b"9223372036854775807"), 1), None);
    }
}

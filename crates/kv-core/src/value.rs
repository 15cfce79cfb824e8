//! [`Value`]: the cheap immutable handle a read returns.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use crate::entry::{value_of, Raw};

/// A stored value: an immutable, reference-counted handle to the value's bytes.
///
/// A hit hands out one of these without copying the bytes: it points at the entry's
/// single allocation (one thin pointer). It holds no lock, so it may be kept as long as
/// needed; a later write to the key makes a new allocation and leaves this one as it
/// was.
#[derive(Clone)]
pub struct Value {
    raw: Raw,
}

impl Value {
    pub(crate) fn new(raw: Raw) -> Self {
        Value { raw }
    }

    /// The value's bytes (also reachable through `Deref`).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        value_of(&self.raw)
    }
}

impl Deref for Value {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Value {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Value {}

impl PartialEq<[u8]> for Value {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialEq<&[u8]> for Value {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_bytes() == *other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Value {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.as_bytes() == other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Value {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.as_bytes() == *other
    }
}

impl PartialEq<Vec<u8>> for Value {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_bytes() == other.as_slice()
    }
}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Bytes(self.as_bytes()), f)
    }
}

/// Shows bytes as an escaped byte string, e.g. `b"user:1\x00"`.
pub(crate) struct Bytes<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::new_raw;
    use crate::header::Header;
    use crate::Timestamp;

    fn value(key: &[u8], v: &[u8]) -> Value {
        let t = Timestamp::EPOCH;
        Value::new(new_raw(Header::new(key.len(), 1, t, t, None, t), key, v))
    }

    #[test]
    fn a_value_compares_and_prints_as_its_bytes() {
        let v = value(b"key", b"val\n");
        assert_eq!(v, *b"val\n");
        assert_eq!(v, b"val\n".to_vec());
        assert_eq!(v, value(b"other", b"val\n"));
        assert_eq!(v.len(), 4);
        assert_eq!(format!("{v:?}"), r#"b"val\n""#);
        assert_eq!(std::mem::size_of::<Value>(), 8);
    }

    #[test]
    fn value_is_send_and_sync() {
        fn check<T: Send + Sync + Clone>() {}
        check::<Value>();
        check::<crate::Entry>();
        fn shared<T: Send + Sync>() {}
        shared::<crate::Cache>();
    }
}

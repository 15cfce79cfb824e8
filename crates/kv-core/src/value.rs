//! [`Value`]: the cheap immutable handle a read returns.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use crate::entry::{new_raw, value_of, Raw};
use crate::header::Header;
use crate::Timestamp;

/// A stored value: an immutable, reference-counted handle to the value's bytes.
///
/// A hit hands out one of these without copying the bytes: it points at the entry's
/// single allocation (one thin pointer). It holds no lock, so it may be kept as long as
/// needed; a later write to the key makes a new allocation and leaves this one as it
/// was. It behaves as its bytes do: it derefs to `[u8]`, compares, orders and hashes
/// as them (so a `HashMap<Value, _>` or `BTreeSet<Value>` can be looked up by `&[u8]`),
/// and converts to and from byte vectors.
///
/// ```
/// use std::collections::BTreeSet;
/// use kv_core::Value;
///
/// let v = Value::from(&b"abc"[..]);
/// assert_eq!(v, b"abc");
/// assert_eq!(b"abc"[..], v);
/// let set = BTreeSet::from([v.clone(), Value::from(b"abd".to_vec())]);
/// assert!(set.contains(&b"abc"[..]));
/// assert_eq!(Vec::from(v), b"abc");
/// ```
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

impl Borrow<[u8]> for Value {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl From<&[u8]> for Value {
    /// A value not stored in any cache, holding a copy of `bytes`.
    fn from(bytes: &[u8]) -> Self {
        let t = Timestamp::EPOCH;
        Value::new(new_raw(Header::new(0, 0, t, t, None, t), &[], bytes))
    }
}

impl From<Vec<u8>> for Value {
    /// A value not stored in any cache, holding a copy of `bytes`.
    fn from(bytes: Vec<u8>) -> Self {
        Value::from(&bytes[..])
    }
}

impl From<Value> for Vec<u8> {
    fn from(v: Value) -> Self {
        v.as_bytes().to_vec()
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Value) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl PartialOrd<[u8]> for Value {
    fn partial_cmp(&self, other: &[u8]) -> Option<Ordering> {
        Some(self.as_bytes().cmp(other))
    }
}

impl PartialEq<Value> for [u8] {
    fn eq(&self, other: &Value) -> bool {
        self == other.as_bytes()
    }
}

impl PartialEq<Value> for &[u8] {
    fn eq(&self, other: &Value) -> bool {
        *self == other.as_bytes()
    }
}

impl PartialEq<Value> for Vec<u8> {
    fn eq(&self, other: &Value) -> bool {
        self.as_slice() == other.as_bytes()
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
    fn a_value_orders_hashes_and_borrows_as_its_bytes() {
        use std::collections::{BTreeSet, HashSet};
        let (a, b) = (value(b"k1", b"abc"), value(b"k2", b"abd"));
        assert!(a < b);
        assert!(a < *b"abd".as_slice());
        assert_eq!(a.cmp(&value(b"other", b"abc")), Ordering::Equal);
        let tree: BTreeSet<Value> = [b.clone(), a.clone()].into();
        assert!(tree.contains(&b"abd"[..]));
        assert_eq!(tree.first(), Some(&a));
        let hashed: HashSet<Value> = [a.clone(), b.clone()].into();
        assert!(hashed.contains(&b"abc"[..]));
        assert!(!hashed.contains(&b"ab"[..]));
        assert_eq!(b"abc"[..], a);
        assert_eq!(b"abc".to_vec(), a);
        assert_eq!(&b"abc"[..], a);
        let detached = Value::from(b"abc".to_vec());
        assert_eq!(detached, a);
        assert_eq!(Vec::from(detached), b"abc");
        assert_eq!(Value::from(&[][..]).len(), 0);
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

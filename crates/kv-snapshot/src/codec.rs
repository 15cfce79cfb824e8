//! The one module that knows the entry payload codec: serde + bincode 1.3.3.
//!
//! Entries are encoded through serde and bincode; they are decoded by a reader of
//! the same bytes written here, held to bincode's own decoding by a test on arbitrary
//! inputs (bincode's serde path was a quarter of a snapshot load's time).
//!
//! Everything else sees `encode_into`, `encoded_len`, `decode` and `CODEC_ID`, so the
//! codec can be replaced by a new format version without touching the framing.

use std::ops::Range;

use bincode::Options;
#[cfg(test)]
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeStruct, Serializer};
#[cfg(test)]
use serde::Deserialize;
use serde::Serialize;

use crate::entry::EntryRef;

/// The codec id stored in the header: bincode 1.3.3, fixed-width little-endian integers.
pub(crate) const CODEC_ID: u16 = 1;

/// Encoded size of everything but the key and value bytes: two u64 lengths, the option
/// tag, the optional expiry, and three u64 fields.
const FIXED_LEN: u64 = 8 + 8 + 1 + 8 * 3;

/// The fewest bytes any entry encodes to (empty key and value, no expiry).
pub(crate) const MIN_ENCODED_LEN: u64 = FIXED_LEN;

/// bincode configured the way the format says: fixint, little-endian, no trailing bytes.
fn base() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
}

/// The bytes `entry` encodes to.
pub(crate) fn encoded_len(entry: &EntryRef<'_>) -> u64 {
    FIXED_LEN
        + entry.key.len() as u64
        + entry.value.len() as u64
        + if entry.expires_at.is_some() { 8 } else { 0 }
}

// Format: the payload of one record, bincode fixint little-endian:
//   u64 key_len | key bytes | u64 value_len | value bytes
//   | u8 expiry tag (0 = none, 1 = some) | [u64 expires_at if tag = 1]
//   | u64 created | u64 updated | u64 version
/// Appends the encoding of `entry` to `out`.
///
/// The caller bounds the size with [`encoded_len`] first, so no bincode limit is set
/// here (with one, bincode would walk the value twice).
pub(crate) fn encode_into(out: &mut Vec<u8>, entry: &EntryRef<'_>) -> Result<(), String> {
    out.reserve(encoded_len(entry) as usize);
    base()
        .serialize_into(out, &Wire(*entry))
        .map_err(|e| e.to_string())
}

/// Where a decoded entry's key and value lie in the payload, and its scalar fields: a
/// form that does not borrow the payload, so the reader can keep reusing its buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    key: Range<usize>,
    value: Range<usize>,
    pub(crate) expires_at: Option<u64>,
    created: u64,
    updated: u64,
    version: u64,
}

impl Layout {
    /// The entry, borrowing key and value from the payload it was decoded from.
    pub(crate) fn view<'a>(&self, payload: &'a [u8]) -> EntryRef<'a> {
        EntryRef {
            key: &payload[self.key.clone()],
            value: &payload[self.value.clone()],
            expires_at: self.expires_at,
            created: self.created,
            updated: self.updated,
            version: self.version,
        }
    }
}

/// Decodes one payload; the whole payload must be consumed.
///
/// The layout above is read field by field rather than through serde: it is bincode's
/// fixint encoding of [`Wire`] byte for byte (a test holds this decoder to bincode's
/// verdict on any input), at a fraction of the cost per entry. Every length is checked
/// against what is left of the payload before it is used; nothing is allocated.
#[cfg(test)]
pub(crate) fn decode(payload: &[u8]) -> Result<Layout, String> {
    let mut out = Layout::default();
    decode_into(payload, &mut out)?;
    Ok(out)
}

/// [`decode`] into `out` (left partly written on an error): the decoder keeps one
/// layout and overwrites it field by field, which is cheaper than moving a new one.
#[inline]
pub(crate) fn decode_into(payload: &[u8], out: &mut Layout) -> Result<(), String> {
    let mut p = Payload {
        bytes: payload,
        at: 0,
    };
    out.key = p.bytes_field("key")?;
    out.value = p.bytes_field("value")?;
    out.expires_at = match p.take::<1>("expiry tag")? {
        [0] => None,
        [1] => Some(p.u64("expiry")?),
        [tag] => return Err(bad_tag(tag)),
    };
    out.created = p.u64("created")?;
    out.updated = p.u64("updated")?;
    out.version = p.u64("version")?;
    let extra = payload.len() - p.at;
    if extra > 0 {
        return Err(trailing(extra));
    }
    Ok(())
}

/// A payload being read front to back.
struct Payload<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Payload<'_> {
    #[inline]
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    #[inline]
    fn take<const N: usize>(&mut self, field: &str) -> Result<[u8; N], String> {
        if self.left() < N {
            return Err(cut_short(field, self.left(), N));
        }
        let b: [u8; N] = self.bytes[self.at..self.at + N]
            .try_into()
            .expect("N bytes");
        self.at += N;
        Ok(b)
    }

    #[inline]
    fn u64(&mut self, field: &str) -> Result<u64, String> {
        self.take::<8>(field).map(u64::from_le_bytes)
    }

    /// A u64 length, then that many bytes: where they lie.
    #[inline]
    fn bytes_field(&mut self, field: &str) -> Result<Range<usize>, String> {
        let len = self.u64(field)?;
        let left = self.left();
        match usize::try_from(len) {
            Ok(n) if n <= left => {
                let start = self.at;
                self.at += n;
                Ok(start..start + n)
            }
            _ => Err(too_long(field, len, left)),
        }
    }
}

// Why a payload is refused: built off the decoding path.

#[cold]
fn cut_short(field: &str, left: usize, needed: usize) -> String {
    format!("the payload ends inside the {field} field ({left} of {needed} bytes)")
}

#[cold]
fn too_long(field: &str, len: u64, left: usize) -> String {
    format!("the {field} length {len} exceeds the {left} bytes left in the payload")
}

#[cold]
fn bad_tag(tag: u8) -> String {
    format!("expiry tag {tag} is neither 0 (none) nor 1 (some)")
}

#[cold]
fn trailing(extra: usize) -> String {
    format!("{extra} bytes follow the version field")
}

/// The serde shape of an entry: a struct of six fields, bytes as bincode byte strings.
struct Wire<'a>(EntryRef<'a>);

const FIELDS: &[&str] = &[
    "key",
    "value",
    "expires_at",
    "created",
    "updated",
    "version",
];

/// A byte string serialized with `serialize_bytes` (one length, then raw bytes).
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl Serialize for Wire<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = &self.0;
        let mut st = s.serialize_struct("Entry", FIELDS.len())?;
        st.serialize_field("key", &Bytes(e.key))?;
        st.serialize_field("value", &Bytes(e.value))?;
        st.serialize_field("expires_at", &e.expires_at)?;
        st.serialize_field("created", &e.created)?;
        st.serialize_field("updated", &e.updated)?;
        st.serialize_field("version", &e.version)?;
        st.end()
    }
}

#[cfg(test)]
impl<'de> Deserialize<'de> for Wire<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct("Entry", FIELDS, WireVisitor)
    }
}

#[cfg(test)]
struct WireVisitor;

#[cfg(test)]
impl<'de> Visitor<'de> for WireVisitor {
    type Value = Wire<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a snapshot entry")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let next = |i: usize| de::Error::invalid_length(i, &"six entry fields");
        let key: &'de [u8] = seq.next_element()?.ok_or_else(|| next(0))?;
        let value: &'de [u8] = seq.next_element()?.ok_or_else(|| next(1))?;
        let expires_at: Option<u64> = seq.next_element()?.ok_or_else(|| next(2))?;
        let created: u64 = seq.next_element()?.ok_or_else(|| next(3))?;
        let updated: u64 = seq.next_element()?.ok_or_else(|| next(4))?;
        let version: u64 = seq.next_element()?.ok_or_else(|| next(5))?;
        Ok(Wire(EntryRef {
            key,
            value,
            expires_at,
            created,
            updated,
            version,
        }))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// bincode's decoding of a payload, the reference `decode` is held to.
    fn bincode_decode(payload: &[u8]) -> Option<Layout> {
        let Wire(e) = base()
            .with_limit(payload.len() as u64)
            .deserialize::<Wire<'_>>(payload)
            .ok()?;
        let range = |part: &[u8]| {
            let start = part.as_ptr() as usize - payload.as_ptr() as usize;
            start..start + part.len()
        };
        Some(Layout {
            key: range(e.key),
            value: range(e.value),
            expires_at: e.expires_at,
            created: e.created,
            updated: e.updated,
            version: e.version,
        })
    }

    fn encoded(e: &EntryRef<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(&mut out, e).unwrap();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// On any bytes, decoding agrees with bincode: the same entry, or both refuse.
        #[test]
        fn decode_agrees_with_bincode_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
            prop_assert_eq!(decode(&bytes).ok(), bincode_decode(&bytes));
        }

        /// On encoded entries, then damaged ones (lengths, tag, cuts, extra bytes),
        /// decoding agrees with bincode and reverses encoding.
        #[test]
        fn decode_agrees_with_bincode_on_damaged_entries(
            key in prop::collection::vec(any::<u8>(), 0..20),
            value in prop::collection::vec(any::<u8>(), 0..40),
            expires_at in any::<Option<u64>>(),
            fields in any::<(u64, u64, u64)>(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            damage in 0u8..4,
        ) {
            let e = EntryRef {
                key: &key,
                value: &value,
                expires_at,
                created: fields.0,
                updated: fields.1,
                version: fields.2,
            };
            let mut b = encoded(&e);
            prop_assert_eq!(decode(&b).unwrap().view(&b), e);
            match damage {
                0 => { let i = at.index(b.len()); b[i] = byte; }
                1 => b.truncate(at.index(b.len())),
                2 => b.push(byte),
                // A small length field: the key or value length, off by a little.
                _ => {
                    let field = if at.index(2) == 0 { 0 } else { 8 + key.len() };
                    let len = u64::from_le_bytes(b[field..field + 8].try_into().unwrap());
                    let fake = len.wrapping_add(u64::from(byte % 5)).wrapping_sub(2);
                    b[field..field + 8].copy_from_slice(&fake.to_le_bytes());
                }
            }
            prop_assert_eq!(decode(&b).ok(), bincode_decode(&b));
        }
    }

    fn sample() -> EntryRef<'static> {
        EntryRef {
            key: b"k1",
            value: b"hello",
            expires_at: Some(7),
            created: 1,
            updated: 2,
            version: 3,
        }
    }

    #[test]
    fn the_layout_is_the_documented_one() {
        let mut out = Vec::new();
        encode_into(&mut out, &sample()).unwrap();
        let mut expected = Vec::new();
        expected.extend_from_slice(&2u64.to_le_bytes());
        expected.extend_from_slice(b"k1");
        expected.extend_from_slice(&5u64.to_le_bytes());
        expected.extend_from_slice(b"hello");
        expected.push(1);
        expected.extend_from_slice(&7u64.to_le_bytes());
        for v in [1u64, 2, 3] {
            expected.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(out, expected);
        assert_eq!(encoded_len(&sample()), out.len() as u64);
    }

    #[test]
    fn decode_reverses_encode_with_and_without_expiry() {
        for expires_at in [None, Some(0), Some(u64::MAX)] {
            let e = EntryRef {
                expires_at,
                ..sample()
            };
            let mut out = Vec::new();
            encode_into(&mut out, &e).unwrap();
            assert_eq!(encoded_len(&e), out.len() as u64);
            assert_eq!(decode(&out).unwrap().view(&out), e);
        }
    }

    #[test]
    fn decode_rejects_short_long_and_lying_payloads() {
        let mut out = Vec::new();
        encode_into(&mut out, &sample()).unwrap();
        for cut in 0..out.len() {
            assert!(decode(&out[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = out.clone();
        long.push(0);
        assert!(decode(&long).is_err());
        // A key length far beyond the payload is refused by the size limit, not allocated.
        let mut lying = out.clone();
        lying[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode(&lying).is_err());
        let mut bad_tag = out;
        bad_tag[2 + 8 + 8 + 5] = 2;
        assert!(decode(&bad_tag).is_err());
    }
}

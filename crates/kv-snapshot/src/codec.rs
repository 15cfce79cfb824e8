//! The one module that knows the entry payload codec: serde + bincode 1.3.3.
//!
//! Entries are encoded through serde and bincode; they are decoded by a reader of
//! the same bytes written here, held to bincode's own decoding by a test on arbitrary
//! inputs (a whole load takes a fifth fewer instructions than with bincode's serde
//! decoding: the figures are in ARCHITECTURE.md).
//!
//! Everything else sees `encode_into`, `encoded_len`, `decode_into`, `min_encoded_len`
//! and `CODEC_ID`, so the codec can be replaced by a new format version without
//! touching the framing.

use std::ops::Range;

use bincode::Options;
use serde::ser::{SerializeStruct, Serializer};
#[cfg(test)]
use serde::Deserialize;
use serde::Serialize;

use crate::entry::{Access, EntryRef};

/// The codec id stored in the header: bincode 1.3.3, fixed-width little-endian integers.
pub(crate) const CODEC_ID: u16 = 1;

/// Encoded size of an access record: two u64 and a u8.
const ACCESS_LEN: u64 = 8 + 8 + 1;

/// The fewest bytes an entry of format `version` encodes to (empty key and value, no
/// expiry, no access): two u64 lengths, the expiry tag, three u64 fields, and from
/// version 2 the access tag.
pub(crate) const fn min_encoded_len(version: u16) -> u64 {
    8 + 8 + 1 + 8 * 3 + if version >= 2 { 1 } else { 0 }
}

/// bincode configured the way the format says: fixint, little-endian, no trailing bytes.
fn base() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
}

/// The bytes `entry` encodes to in the current format version.
pub(crate) fn encoded_len(entry: &EntryRef<'_>) -> u64 {
    let expiry = if entry.expires_at.is_some() { 8 } else { 0 };
    let access = if entry.access.is_some() {
        ACCESS_LEN
    } else {
        0
    };
    min_encoded_len(crate::format::FORMAT_VERSION)
        + entry.key.len() as u64
        + entry.value.len() as u64
        + expiry
        + access
}

// Format: the payload of one record, bincode fixint little-endian:
//   u64 key_len | key bytes | u64 value_len | value bytes
//   | u8 expiry tag (0 = none, 1 = some) | [u64 expires_at if tag = 1]
//   | u64 created | u64 updated | u64 version
//   version 2 adds: | u8 access tag (0 = none, 1 = some)
//   | [u64 accessed | u64 access count | u8 lfu, if tag = 1]
/// Appends the encoding of `entry` (current format version) to `out`.
///
/// The caller bounds the size with [`encoded_len`] first, so no bincode limit is set
/// here (with one, bincode would walk the value twice).
pub(crate) fn encode_into(out: &mut Vec<u8>, entry: &EntryRef<'_>) -> Result<(), String> {
    out.reserve(encoded_len(entry) as usize);
    base()
        .serialize_into(out, &Wire(*entry))
        .map_err(|e| e.to_string())
}

/// Where a decoded entry's key and value lie in the payload, and its other fields: a
/// form that does not borrow the payload, so the reader can keep reusing its buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    key: Range<usize>,
    value: Range<usize>,
    pub(crate) expires_at: Option<u64>,
    created: u64,
    updated: u64,
    version: u64,
    access: Option<Access>,
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
            access: self.access,
        }
    }
}

/// Decodes one payload of format `version`; the whole payload must be consumed.
#[cfg(test)]
pub(crate) fn decode(payload: &[u8], version: u16) -> Result<Layout, String> {
    let mut out = Layout::default();
    decode_into(payload, version, &mut out)?;
    Ok(out)
}

/// Decodes one payload of format `version` into `out` (left partly written on an
/// error); the whole payload must be consumed.
///
/// The layout above is read field by field rather than through serde: it is bincode's
/// fixint encoding of [`Wire`] byte for byte (a test holds this decoder to bincode's
/// verdict on any input). Every length is checked against what is left of the payload
/// before it is used; nothing is allocated.
#[inline]
pub(crate) fn decode_into(payload: &[u8], version: u16, out: &mut Layout) -> Result<(), String> {
    let mut p = Payload {
        bytes: payload,
        at: 0,
    };
    out.key = p.bytes_field("key")?;
    out.value = p.bytes_field("value")?;
    out.expires_at = match p.take::<1>("expiry tag")? {
        [0] => None,
        [1] => Some(p.u64("expiry")?),
        [tag] => return Err(bad_tag("expiry", tag)),
    };
    out.created = p.u64("created")?;
    out.updated = p.u64("updated")?;
    out.version = p.u64("version")?;
    out.access = if version >= 2 {
        match p.take::<1>("access tag")? {
            [0] => None,
            [1] => Some(Access {
                accessed: p.u64("accessed")?,
                count: p.u64("access count")?,
                lfu: p.take::<1>("lfu")?[0],
            }),
            [tag] => return Err(bad_tag("access", tag)),
        }
    } else {
        None
    };
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
fn bad_tag(field: &str, tag: u8) -> String {
    format!("{field} tag {tag} is neither 0 (none) nor 1 (some)")
}

#[cold]
fn trailing(extra: usize) -> String {
    format!("{extra} bytes follow the last field")
}

/// The serde shape of an entry (current format version): a struct of seven fields,
/// bytes as bincode byte strings.
struct Wire<'a>(EntryRef<'a>);

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
        let mut st = s.serialize_struct("Entry", 7)?;
        st.serialize_field("key", &Bytes(e.key))?;
        st.serialize_field("value", &Bytes(e.value))?;
        st.serialize_field("expires_at", &e.expires_at)?;
        st.serialize_field("created", &e.created)?;
        st.serialize_field("updated", &e.updated)?;
        st.serialize_field("version", &e.version)?;
        st.serialize_field("access", &e.access.map(|a| (a.accessed, a.count, a.lfu)))?;
        st.end()
    }
}

/// What bincode decodes a payload of format version 1 to.
#[cfg(test)]
#[derive(Deserialize)]
struct WireV1<'a> {
    key: &'a [u8],
    value: &'a [u8],
    expires_at: Option<u64>,
    created: u64,
    updated: u64,
    version: u64,
}

/// What bincode decodes a payload of format version 2 to.
#[cfg(test)]
#[derive(Deserialize)]
struct WireV2<'a> {
    #[serde(borrow)]
    v1: WireV1<'a>,
    access: Option<(u64, u64, u8)>,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// bincode's decoding of a payload, the reference `decode` is held to.
    fn bincode_decode(payload: &[u8], version: u16) -> Option<Layout> {
        let opts = base().with_limit(payload.len() as u64);
        let (e, access) = match version {
            1 => (opts.deserialize::<WireV1<'_>>(payload).ok()?, None),
            _ => {
                let w = opts.deserialize::<WireV2<'_>>(payload).ok()?;
                (w.v1, w.access)
            }
        };
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
            access: access.map(|(accessed, count, lfu)| Access {
                accessed,
                count,
                lfu,
            }),
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
        fn decode_agrees_with_bincode_on_any_bytes(
            bytes in prop::collection::vec(any::<u8>(), 0..100),
            version in 1u16..=2,
        ) {
            prop_assert_eq!(decode(&bytes, version).ok(), bincode_decode(&bytes, version));
        }

        /// On encoded entries, then damaged ones (lengths, tags, cuts, extra bytes),
        /// decoding agrees with bincode and reverses encoding.
        #[test]
        fn decode_agrees_with_bincode_on_damaged_entries(
            key in prop::collection::vec(any::<u8>(), 0..20),
            value in prop::collection::vec(any::<u8>(), 0..40),
            expires_at in any::<Option<u64>>(),
            fields in any::<(u64, u64, u64)>(),
            access in any::<Option<(u64, u64, u8)>>(),
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
                access: access.map(|(accessed, count, lfu)| Access { accessed, count, lfu }),
            };
            let mut b = encoded(&e);
            prop_assert_eq!(decode(&b, 2).unwrap().view(&b), e);
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
            for version in [1, 2] {
                prop_assert_eq!(decode(&b, version).ok(), bincode_decode(&b, version));
            }
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
            access: Some(Access {
                accessed: 4,
                count: 5,
                lfu: 6,
            }),
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
        expected.push(1);
        for v in [4u64, 5] {
            expected.extend_from_slice(&v.to_le_bytes());
        }
        expected.push(6);
        assert_eq!(out, expected);
        assert_eq!(encoded_len(&sample()), out.len() as u64);
        // Without expiry and access: both tags 0, nothing after them.
        let bare = EntryRef {
            expires_at: None,
            access: None,
            ..sample()
        };
        let out = encoded(&bare);
        assert_eq!(out.len() as u64, min_encoded_len(2) + 2 + 5);
        assert_eq!(out[2 + 8 + 8 + 5], 0);
        assert_eq!(out[out.len() - 1], 0);
    }

    #[test]
    fn decode_reverses_encode_with_and_without_expiry_and_access() {
        for expires_at in [None, Some(0), Some(u64::MAX)] {
            for access in [None, sample().access] {
                let e = EntryRef {
                    expires_at,
                    access,
                    ..sample()
                };
                let out = encoded(&e);
                assert_eq!(encoded_len(&e), out.len() as u64);
                assert_eq!(decode(&out, 2).unwrap().view(&out), e);
            }
        }
    }

    #[test]
    fn a_version_1_payload_decodes_without_access() {
        // Version 1 is version 2 without the access tag.
        let e = EntryRef {
            access: None,
            ..sample()
        };
        let mut v1 = encoded(&e);
        assert_eq!(v1.pop(), Some(0));
        assert_eq!(decode(&v1, 1).unwrap().view(&v1), e);
        assert!(
            decode(&v1, 2).is_err(),
            "a version 2 payload needs its access tag"
        );
        v1.push(0);
        assert!(
            decode(&v1, 1).is_err(),
            "a trailing byte after a version 1 payload"
        );
    }

    #[test]
    fn decode_rejects_short_long_and_lying_payloads() {
        let out = encoded(&sample());
        for cut in 0..out.len() {
            assert!(decode(&out[..cut], 2).is_err(), "cut at {cut}");
        }
        let mut long = out.clone();
        long.push(0);
        assert!(decode(&long, 2).is_err());
        // A key length far beyond the payload is refused by the size limit, not allocated.
        let mut lying = out.clone();
        lying[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode(&lying, 2).is_err());
        let mut bad_tag = out.clone();
        bad_tag[2 + 8 + 8 + 5] = 2;
        assert!(decode(&bad_tag, 2).is_err());
        let mut bad_access_tag = out;
        bad_access_tag[2 + 8 + 8 + 5 + 1 + 8 + 24] = 2;
        assert!(decode(&bad_access_tag, 2).is_err());
    }
}

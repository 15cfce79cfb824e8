//! [`Entry`]: an owned handle to one stored entry, and the single allocation behind it.

use std::fmt;

use triomphe::ThinArc;

use crate::header::Header;
use crate::{EntryInfo, Timestamp, Value};

/// One entry's allocation: reference count, 32-byte header, length, key bytes, value
/// bytes. The table, [`Entry`] and [`Value`] all point at it with one thin pointer.
pub(crate) type Raw = ThinArc<Header, u8>;

/// Builds an entry's allocation from its header, key and value.
pub(crate) fn new_raw(header: Header, key: &[u8], value: &[u8]) -> Raw {
    let total = key.len() + value.len();
    if total <= 256 {
        let mut buf = [0u8; 256];
        buf[..key.len()].copy_from_slice(key);
        buf[key.len()..total].copy_from_slice(value);
        ThinArc::from_header_and_slice(header, &buf[..total])
    } else {
        let mut buf = Vec::with_capacity(total);
        buf.extend_from_slice(key);
        buf.extend_from_slice(value);
        ThinArc::from_header_and_slice(header, &buf)
    }
}

/// The header of an entry that is not shared yet (one reference), to finish it.
pub(crate) fn with_header_mut<R>(raw: &mut Raw, f: impl FnOnce(&mut Header) -> R) -> R {
    raw.with_arc_mut(|arc| {
        let inner = triomphe::Arc::get_mut(arc).expect("an entry being built is not shared");
        f(inner.header_mut())
    })
}

#[inline]
pub(crate) fn header(raw: &Raw) -> &Header {
    &raw.header.header
}

#[inline]
pub(crate) fn key_of(raw: &Raw) -> &[u8] {
    &raw.slice[..header(raw).key_len()]
}

#[inline]
pub(crate) fn value_of(raw: &Raw) -> &[u8] {
    &raw.slice[header(raw).key_len()..]
}

/// Whether the stored key of `raw` is `key`. Keys of up to 16 bytes (the common case)
/// are compared with two overlapping word loads each instead of a call to `memcmp`.
#[inline]
pub(crate) fn has_key(raw: &Raw, key: &[u8]) -> bool {
    let stored = key_of(raw);
    if stored.len() != key.len() {
        return false;
    }
    let n = key.len();
    if (8..=16).contains(&n) {
        let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap());
        return word(stored, 0) == word(key, 0) && word(stored, n - 8) == word(key, n - 8);
    }
    if (4..8).contains(&n) {
        let word = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().unwrap());
        return word(stored, 0) == word(key, 0) && word(stored, n - 4) == word(key, n - 4);
    }
    stored == key
}

/// Key and value bytes of an entry.
pub(crate) fn size_of(raw: &Raw) -> usize {
    raw.slice.len()
}

/// The memory an entry of `key_and_value` bytes takes ([`ByteCount::Memory`]): its
/// allocation as [`new_raw`] makes it (reference count, header and length: 48 bytes,
/// then the bytes), as glibc's allocator rounds it (8 bytes of its own, then up to a
/// multiple of 16, at least 32), and its share of the table (a 64-byte group holds 7
/// slots, filled 72 to 90%: 10 to 13 bytes a slot).
///
/// [`ByteCount::Memory`]: crate::ByteCount::Memory
pub(crate) fn footprint(key_and_value: usize) -> u64 {
    const ALLOCATION_HEADER: u64 = 48;
    const ALLOCATOR_OWN: u64 = 8;
    const TABLE_SHARE: u64 = 11;
    let requested = ALLOCATION_HEADER + key_and_value as u64;
    let chunk = (requested + ALLOCATOR_OWN).div_ceil(16) * 16;
    chunk.max(32) + TABLE_SHARE
}

pub(crate) fn same(a: &Raw, b: &Raw) -> bool {
    a.ptr() == b.ptr()
}

/// An owned handle to one entry as stored: key, value and metadata.
///
/// Cloning it is a reference-count increment; it holds no lock, and the entry's bytes
/// live as long as any handle does, even after the entry leaves the cache. Entries
/// come from iteration ([`Cache::iter`](crate::Cache::iter),
/// [`Hooks::shard_entries`](crate::Hooks::shard_entries)), from
/// [`Cache::get_entry`](crate::Cache::get_entry), from eviction reports and from
/// callbacks.
#[derive(Clone)]
pub struct Entry {
    raw: Raw,
}

impl Entry {
    /// The entry's allocation.
    pub(crate) fn raw(&self) -> &Raw {
        &self.raw
    }

    pub(crate) fn new(raw: Raw) -> Self {
        Entry { raw }
    }

    /// The key's bytes.
    pub fn key(&self) -> &[u8] {
        key_of(&self.raw)
    }

    /// The value, as a cheap handle sharing this entry's allocation.
    pub fn value(&self) -> Value {
        Value::new(self.raw.clone())
    }

    /// The version: it grows with each write to the key (see
    /// [`Write::version`](crate::hooks::Write::version)).
    pub fn version(&self) -> u64 {
        header(&self.raw).version()
    }

    /// When the key was first written (whole seconds).
    pub fn created(&self) -> Timestamp {
        header(&self.raw).created()
    }

    /// When this value was written (whole seconds).
    pub fn updated(&self) -> Timestamp {
        header(&self.raw).updated()
    }

    /// When the entry expires (milliseconds), or `None` if it never does. Read live:
    /// [`Cache::expire`](crate::Cache::expire) on the stored entry shows here.
    pub fn expires_at(&self) -> Option<Timestamp> {
        header(&self.raw).expires_at()
    }

    /// Whether the entry is expired at `now`.
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        header(&self.raw).is_expired(now)
    }

    /// Key plus value length in bytes.
    pub fn size(&self) -> usize {
        size_of(&self.raw)
    }

    /// All the metadata at once.
    pub fn info(&self) -> EntryInfo {
        let h = header(&self.raw);
        EntryInfo {
            created: h.created(),
            updated: h.updated(),
            last_accessed: h.last_accessed(),
            access_count: h.access_count(),
            version: h.version(),
            size: size_of(&self.raw),
            expires_at: h.expires_at(),
        }
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("key", &crate::value::Bytes(self.key()))
            .field("value", &crate::value::Bytes(value_of(&self.raw)))
            .field("version", &self.version())
            .field("expires_at", &self.expires_at())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn footprint_is_the_rounded_allocation_plus_a_table_slot() {
        // 48 + n + 8, up to a multiple of 16, at least 32; then 11 for the slot.
        assert_eq!(footprint(0), 64 + 11);
        assert_eq!(footprint(8), 64 + 11);
        assert_eq!(footprint(9), 80 + 11);
        assert_eq!(footprint(116), 176 + 11);
        assert_eq!(footprint(1016), 1072 + 11);
        // Never less than the bytes themselves, and never decreasing.
        for n in 0..2000 {
            assert!(footprint(n) >= n as u64 + 56);
            assert!(footprint(n + 1) >= footprint(n));
        }
    }

    #[test]
    fn small_and_large_entries_keep_key_and_value_apart() {
        for (klen, vlen) in [(1, 0), (3, 5), (100, 156), (100, 157), (10, 100_000)] {
            let key = vec![b'k'; klen];
            let value: Vec<u8> = (0..vlen).map(|i| i as u8).collect();
            let h = Header::new(klen, 7, ts(1000), ts(2000), None, ts(3000));
            let e = Entry::new(new_raw(h, &key, &value));
            assert_eq!(e.key(), &key[..]);
            assert_eq!(&*e.value(), &value[..]);
            assert_eq!(e.size(), klen + vlen);
            let info = e.info();
            assert_eq!(info.version, 7);
            assert_eq!(info.created, ts(1000));
            assert_eq!(info.updated, ts(2000));
            assert_eq!(info.last_accessed, ts(3000));
        }
    }

    #[test]
    fn has_key_compares_every_byte_of_every_length() {
        let t = Timestamp::EPOCH;
        for len in 1..=40usize {
            let key: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37)).collect();
            let raw = new_raw(Header::new(len, 1, t, t, None, t), &key, b"value");
            assert!(has_key(&raw, &key), "len {len}");
            for flip in 0..len {
                let mut other = key.clone();
                other[flip] ^= 0x10;
                assert!(!has_key(&raw, &other), "len {len}, byte {flip}");
            }
            assert!(!has_key(&raw, &key[..len - 1]));
            let mut longer = key.clone();
            longer.push(0);
            assert!(!has_key(&raw, &longer));
        }
    }
}

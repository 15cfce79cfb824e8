//! The byte layout of a snapshot file: header, record frame, footer, and their checks.
//!
//! The full specification is the "Snapshots" section of `docs/format.md`.

use crate::error::{Corruption, Part};
use crate::sequence::SequenceNumber;

/// The newest format version this build writes and reads.
pub(crate) const FORMAT_VERSION: u16 = 2;

pub(crate) const HEADER_MAGIC: [u8; 8] = *b"KVSNAPSH";
pub(crate) const FOOTER_MAGIC: [u8; 8] = *b"KVSNAPFT";

/// Bytes in the header.
pub(crate) const HEADER_LEN: usize = 48;
/// Bytes in the footer.
pub(crate) const FOOTER_LEN: usize = 24;
/// Bytes in a record frame (length and checksum) before the payload.
pub(crate) const FRAME_LEN: usize = 8;
/// The largest payload a record holds: its length field is a u32.
pub(crate) const MAX_PAYLOAD: u64 = u32::MAX as u64;

/// What a snapshot's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotHeader {
    /// The format version the file was written with.
    pub format_version: u16,
    /// The sequence number the snapshot covers.
    pub sequence: SequenceNumber,
    /// When the snapshot was begun, ms since the epoch (the `now_ms` given to the writer).
    pub created_ms: u64,
    /// Entries in the file (expired ones were never written; a load at a later time may
    /// skip some of these as expired).
    pub entry_count: u64,
}

// Format: header, 48 bytes, all integers little-endian.
//   0..8   magic "KVSNAPSH"
//   8..10  u16 format version (1 or 2)
//   10..12 u16 codec id (1 = bincode 1.3.3, fixint)
//   12..16 u32 flags, 0
//   16..24 u64 created, ms since the epoch
//   24..32 u64 sequence number covered
//   32..40 u64 entry count
//   40..44 u32 reserved, 0
//   44..48 u32 CRC-32 of bytes 0..44
/// Encodes a header for the current version and codec.
pub(crate) fn encode_header(h: &SnapshotHeader, codec: u16) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    b[0..8].copy_from_slice(&HEADER_MAGIC);
    b[8..10].copy_from_slice(&h.format_version.to_le_bytes());
    b[10..12].copy_from_slice(&codec.to_le_bytes());
    b[16..24].copy_from_slice(&h.created_ms.to_le_bytes());
    b[24..32].copy_from_slice(&h.sequence.get().to_le_bytes());
    b[32..40].copy_from_slice(&h.entry_count.to_le_bytes());
    let crc = crc32fast::hash(&b[..44]);
    b[44..48].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Why a header was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    Corrupt(Corruption),
    Version(u16),
    Codec(u16),
}

/// Decodes and verifies a header: magic, then version (so a future version is reported
/// as such even if its layout differs), then checksum, codec and reserved fields.
pub(crate) fn decode_header(b: &[u8; HEADER_LEN]) -> Result<SnapshotHeader, HeaderError> {
    let magic: [u8; 8] = b[0..8].try_into().expect("8 bytes");
    if magic != HEADER_MAGIC {
        return Err(HeaderError::Corrupt(Corruption::BadMagic {
            part: Part::Header,
            expected: HEADER_MAGIC,
            found: magic,
        }));
    }
    let version = u16_at(b, 8);
    if version == 0 || version > FORMAT_VERSION {
        return Err(HeaderError::Version(version));
    }
    let stored = u32_at(b, 44);
    let computed = crc32fast::hash(&b[..44]);
    if stored != computed {
        return Err(HeaderError::Corrupt(Corruption::ChecksumMismatch {
            part: Part::Header,
            expected: stored,
            found: computed,
        }));
    }
    let codec = u16_at(b, 10);
    if codec != crate::codec::CODEC_ID {
        return Err(HeaderError::Codec(codec));
    }
    let reserved = u64::from(u32_at(b, 12)) | u64::from(u32_at(b, 40)) << 32;
    if reserved != 0 {
        return Err(HeaderError::Corrupt(Corruption::ReservedNotZero {
            found: reserved,
        }));
    }
    Ok(SnapshotHeader {
        format_version: version,
        created_ms: u64_at(b, 16),
        sequence: SequenceNumber::new(u64_at(b, 24)),
        entry_count: u64_at(b, 32),
    })
}

// Format: record frame, 8 bytes, then the payload.
//   0..4 u32 payload length n, 1..=u32::MAX
//   4..8 u32 CRC-32 of (bytes 0..4 of the frame, then the n payload bytes)
/// The record checksum: over the length field and the payload.
pub(crate) fn record_crc(len_field: &[u8], payload: &[u8]) -> u32 {
    record_crc_from(&crc32fast::Hasher::new(), len_field, payload)
}

/// [`record_crc`] starting from a clone of `fresh`, a new hasher kept by a caller that
/// checks many records (cloning one is cheaper than making one).
pub(crate) fn record_crc_from(fresh: &crc32fast::Hasher, len_field: &[u8], payload: &[u8]) -> u32 {
    let mut h = fresh.clone();
    h.update(len_field);
    h.update(payload);
    h.finalize()
}

// Format: footer, 24 bytes.
//   0..8   magic "KVSNAPFT"
//   8..16  u64 entry count (equal to the header's)
//   16..20 u32 CRC-32 of every record byte, frames and payloads, in file order
//   20..24 u32 CRC-32 of footer bytes 0..20
/// Encodes a footer.
pub(crate) fn encode_footer(entry_count: u64, data_crc: u32) -> [u8; FOOTER_LEN] {
    let mut b = [0u8; FOOTER_LEN];
    b[0..8].copy_from_slice(&FOOTER_MAGIC);
    b[8..16].copy_from_slice(&entry_count.to_le_bytes());
    b[16..20].copy_from_slice(&data_crc.to_le_bytes());
    let crc = crc32fast::hash(&b[..20]);
    b[20..24].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Verifies a footer against the header's count and the data checksum computed while
/// reading.
pub(crate) fn check_footer(
    b: &[u8; FOOTER_LEN],
    header_count: u64,
    data_crc: u32,
) -> Result<(), Corruption> {
    let magic: [u8; 8] = b[0..8].try_into().expect("8 bytes");
    if magic != FOOTER_MAGIC {
        return Err(Corruption::BadMagic {
            part: Part::Footer,
            expected: FOOTER_MAGIC,
            found: magic,
        });
    }
    let stored = u32_at(b, 20);
    let computed = crc32fast::hash(&b[..20]);
    if stored != computed {
        return Err(Corruption::ChecksumMismatch {
            part: Part::Footer,
            expected: stored,
            found: computed,
        });
    }
    let count = u64_at(b, 8);
    if count != header_count {
        return Err(Corruption::CountMismatch {
            header: header_count,
            footer: count,
        });
    }
    let stored_data = u32_at(b, 16);
    if stored_data != data_crc {
        return Err(Corruption::ChecksumMismatch {
            part: Part::Record,
            expected: stored_data,
            found: data_crc,
        });
    }
    Ok(())
}

pub(crate) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> SnapshotHeader {
        SnapshotHeader {
            format_version: FORMAT_VERSION,
            sequence: SequenceNumber::new(42),
            created_ms: 1_700_000_000_000,
            entry_count: 3,
        }
    }

    #[test]
    fn a_header_round_trips() {
        let b = encode_header(&header(), crate::codec::CODEC_ID);
        assert_eq!(decode_header(&b), Ok(header()));
    }

    #[test]
    fn every_header_bit_flip_is_refused() {
        let b = encode_header(&header(), crate::codec::CODEC_ID);
        for bit in 0..HEADER_LEN * 8 {
            let mut c = b;
            c[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_header(&c).is_err(), "bit {bit}");
        }
    }

    #[test]
    fn a_future_version_is_named_as_such() {
        let h = SnapshotHeader {
            format_version: FORMAT_VERSION + 1,
            ..header()
        };
        let b = encode_header(&h, crate::codec::CODEC_ID);
        assert_eq!(
            decode_header(&b),
            Err(HeaderError::Version(FORMAT_VERSION + 1))
        );
        let b = encode_header(&header(), 9);
        assert_eq!(decode_header(&b), Err(HeaderError::Codec(9)));
    }

    #[test]
    fn a_footer_checks_count_and_data_checksum() {
        let f = encode_footer(3, 0xdead_beef);
        assert_eq!(check_footer(&f, 3, 0xdead_beef), Ok(()));
        assert!(matches!(
            check_footer(&f, 4, 0xdead_beef),
            Err(Corruption::CountMismatch {
                header: 4,
                footer: 3
            })
        ));
        assert!(matches!(
            check_footer(&f, 3, 1),
            Err(Corruption::ChecksumMismatch {
                part: Part::Record,
                ..
            })
        ));
        for bit in 0..FOOTER_LEN * 8 {
            let mut c = f;
            c[bit / 8] ^= 1 << (bit % 8);
            assert!(check_footer(&c, 3, 0xdead_beef).is_err(), "bit {bit}");
        }
    }
}

//! The segment header: what every segment file begins with.

use crate::error::Corruption;
use crate::{LogId, SegmentId, Seq};

/// Bytes of a segment header; the first record starts right after it.
pub(crate) const HEADER_LEN: u64 = 64;
/// The magic every segment begins with.
pub(crate) const MAGIC: [u8; 8] = *b"KVWALSEG";
/// The segment format version this code writes and reads.
pub(crate) const VERSION: u32 = 2;

/// A decoded segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) log: LogId,
    pub(crate) segment: SegmentId,
    pub(crate) first_seq: Seq,
    pub(crate) capacity: u64,
}

impl Header {
    /// Whether this header, found in segment `id`, continues the segment `prev_id`
    /// whose records ended before sequence `prev_next`: the next segment id, starting
    /// at the next sequence number. `None` when it does; else what is wrong.
    pub(crate) fn follows(
        &self,
        prev_id: SegmentId,
        prev_next: Seq,
        id: SegmentId,
    ) -> Option<Corruption> {
        if id != prev_id.next() {
            Some(Corruption::MissingSegment {
                expected: prev_id.next(),
                found: id,
            })
        } else if self.first_seq != prev_next {
            Some(Corruption::SeqGap {
                expected: prev_next,
                found: self.first_seq,
            })
        } else {
            None
        }
    }

    // Format: (little-endian; see docs/format.md, "Write-ahead log")
    //    0  [u8; 8] magic "KVWALSEG"
    //    8  u32     format version (2: records carry a durable mark)
    //   12  u32     header length (64)
    //   16  u64     log id
    //   24  u64     segment id
    //   32  u64     first sequence number of the segment
    //   40  u64     capacity: the file size when created
    //   48  [u8;12] reserved, zero
    //   60  u32     CRC-32 of bytes 0..60
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut b = [0u8; HEADER_LEN as usize];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.log.0.to_le_bytes());
        b[24..32].copy_from_slice(&self.segment.0.to_le_bytes());
        b[32..40].copy_from_slice(&self.first_seq.0.to_le_bytes());
        b[40..48].copy_from_slice(&self.capacity.to_le_bytes());
        let crc = crc32fast::hash(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a header (magic, version, length, checksum); `bytes` is the
    /// start of the file, possibly shorter than a header.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Header, Corruption> {
        if (bytes.len() as u64) < HEADER_LEN {
            return Err(Corruption::ShortHeader {
                expected: HEADER_LEN,
                found: bytes.len() as u64,
            });
        }
        let u32_at =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let u64_at = |i: usize| {
            let mut a = [0; 8];
            a.copy_from_slice(&bytes[i..i + 8]);
            u64::from_le_bytes(a)
        };
        let mut magic = [0; 8];
        magic.copy_from_slice(&bytes[..8]);
        if magic != MAGIC {
            return Err(Corruption::BadMagic { found: magic });
        }
        let stored = u32_at(60);
        let computed = crc32fast::hash(&bytes[..60]);
        if stored != computed {
            return Err(Corruption::HeaderChecksum {
                expected: stored,
                found: computed,
            });
        }
        let version = u32_at(8);
        if version != VERSION || u32_at(12) != HEADER_LEN as u32 {
            return Err(Corruption::UnsupportedVersion { found: version });
        }
        Ok(Header {
            log: LogId(u64_at(16)),
            segment: SegmentId(u64_at(24)),
            first_seq: Seq(u64_at(32)),
            capacity: u64_at(40),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let h = Header {
            log: LogId(0xabc),
            segment: SegmentId(4),
            first_seq: Seq(100),
            capacity: 4096,
        };
        let bytes = h.encode();
        assert_eq!(Header::decode(&bytes), Ok(h));
        assert!(matches!(
            Header::decode(&bytes[..10]),
            Err(Corruption::ShortHeader { .. })
        ));
        for i in 0..bytes.len() {
            let mut bad = bytes;
            bad[i] ^= 0x10;
            assert!(Header::decode(&bad).is_err(), "flip at {i} accepted");
        }
    }
}

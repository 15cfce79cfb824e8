//! Record framing: encoding an [`Op`] into bytes and probing/decoding bytes back.

use crc32fast::Hasher;

use crate::error::Corruption;
use crate::{BatchOp, LogId, Op, OwnedBatchOp, OwnedOp, Record, SegmentId, Seq};

/// Bytes before a record's body: checksum and length.
pub(crate) const FRAME_LEN: u64 = 8;
/// Bytes of a body before its payload: type, sequence number, timestamp, durable mark.
pub(crate) const BODY_FIXED: u64 = 21;
/// Every record starts at a multiple of this many bytes.
pub(crate) const ALIGN: u64 = 8;
/// The fewest bytes a record occupies (frame and fixed body, padded).
pub(crate) const MIN_RECORD: u64 = 32;

const T_PUT: u8 = 1;
const T_DELETE: u8 = 2;
const T_BATCH: u8 = 3;
const T_EXPIRE: u8 = 4;
const T_EVICT: u8 = 5;
const T_CLEAR: u8 = 6;
/// A durable marker: no operation, written by a clean close (see [`encode_marker`]).
const T_MARK: u8 = 7;

const B_PUT: u8 = 1;
const B_DELETE: u8 = 2;

/// Rounds `n` up to the record alignment.
pub(crate) fn align(n: u64) -> u64 {
    n.div_ceil(ALIGN) * ALIGN
}

/// The checksum state seeded with the log id and segment id: every record checksum of
/// a segment continues from it, so bytes from another segment or log never validate.
#[derive(Clone)]
pub(crate) struct Seed(Hasher);

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed")
    }
}

impl Seed {
    pub(crate) fn new(log: LogId, segment: SegmentId) -> Seed {
        let mut h = Hasher::new();
        h.update(&log.0.to_le_bytes());
        h.update(&segment.0.to_le_bytes());
        Seed(h)
    }

    pub(crate) fn checksum(&self, bytes: &[u8]) -> u32 {
        let mut h = self.0.clone();
        h.update(bytes);
        h.finalize()
    }
}

fn expiry_len() -> u64 {
    9
}

fn payload_len(op: &Op<'_>) -> u64 {
    let key = |k: &[u8]| 4 + k.len() as u64;
    match op {
        Op::Put { key: k, value, .. } => expiry_len() + key(k) + 4 + value.len() as u64,
        Op::Delete { key: k } => key(k),
        Op::Expire { key: k, .. } => expiry_len() + key(k),
        Op::Evict { key: k, .. } => 8 + key(k),
        Op::Clear => 0,
        Op::Batch(ops) => {
            4 + ops
                .iter()
                .map(|op| match op {
                    BatchOp::Put { key: k, value, .. } => {
                        1 + expiry_len() + key(k) + 4 + value.len() as u64
                    }
                    BatchOp::Delete { key: k } => 1 + key(k),
                })
                .sum::<u64>()
        }
    }
}

/// The bytes a record of `op` occupies in a segment, padding included.
pub(crate) fn framed_len(op: &Op<'_>) -> u64 {
    align(FRAME_LEN + BODY_FIXED + payload_len(op))
}

fn put_expiry(buf: &mut Vec<u8>, expires_at: Option<u64>) {
    match expires_at {
        Some(t) => {
            buf.push(1);
            buf.extend_from_slice(&t.to_le_bytes());
        }
        None => {
            buf.push(0);
            buf.extend_from_slice(&0u64.to_le_bytes());
        }
    }
}

fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    // Lengths fit: a record is at most a segment, at most 4 GiB (checked by the caller).
    buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    buf.extend_from_slice(bytes);
}

fn put_kv(buf: &mut Vec<u8>, key: &[u8], value: &[u8], expires_at: Option<u64>) {
    put_expiry(buf, expires_at);
    buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
    buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
    buf.extend_from_slice(key);
    buf.extend_from_slice(value);
}

/// Appends the framed record to `buf` (which the caller cleared), padding included.
/// The caller has checked `framed_len(op)` fits in a segment (so in a `u32`).
///
/// `durable` is the segment offset below which every byte was known durable (the end
/// of the last completed sync) when the record was appended; it is at most the
/// record's own offset, so it fits in a `u32` (segments are at most 4 GiB).
///
// Format: (all integers little-endian; see docs/format.md, "Write-ahead log")
//   0  u32  crc    CRC-32 of log id (u64) ++ segment id (u64) ++ bytes 4..8+len
//   4  u32  len    bytes after this field (type .. end of payload), >= 21
//   8  u8   type   1 put, 2 delete, 3 batch, 4 expire, 5 evict, 6 clear,
//                  7 durable marker (no operation; see `encode_marker`)
//   9  u64  seq
//  17  u64  timestamp_ms
//  25  u32  durable  segment offset the log was durable through when this record was
//                    appended (end of the last completed sync); <= the record's offset
//  29  ..   payload (by type):
//       put:    has_expiry u8 (0|1), expires_at u64 (0 if none), key_len u32,
//               value_len u32, key, value
//       delete: key_len u32, key
//       batch:  count u32, then per op: tag u8 (1 put | 2 delete) + put/delete payload
//       expire: has_expiry u8, expires_at u64, key_len u32, key
//       evict:  version u64, key_len u32, key
//       clear:  (empty)
//       marker: (empty)
//   then zero bytes up to the next multiple of 8.
pub(crate) fn encode(
    op: &Op<'_>,
    seq: Seq,
    timestamp_ms: u64,
    durable: u32,
    seed: &Seed,
    buf: &mut Vec<u8>,
) {
    let start = buf.len();
    let body = BODY_FIXED + payload_len(op);
    buf.reserve(align(FRAME_LEN + body) as usize);
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&(body as u32).to_le_bytes());
    let ty = match op {
        Op::Put { .. } => T_PUT,
        Op::Delete { .. } => T_DELETE,
        Op::Batch(_) => T_BATCH,
        Op::Expire { .. } => T_EXPIRE,
        Op::Evict { .. } => T_EVICT,
        Op::Clear => T_CLEAR,
    };
    buf.push(ty);
    buf.extend_from_slice(&seq.0.to_le_bytes());
    buf.extend_from_slice(&timestamp_ms.to_le_bytes());
    buf.extend_from_slice(&durable.to_le_bytes());
    match *op {
        Op::Put {
            key,
            value,
            expires_at,
        } => put_kv(buf, key, value, expires_at),
        Op::Delete { key } => put_bytes(buf, key),
        Op::Expire { key, expires_at } => {
            put_expiry(buf, expires_at);
            put_bytes(buf, key);
        }
        Op::Evict { key, version } => {
            buf.extend_from_slice(&version.to_le_bytes());
            put_bytes(buf, key);
        }
        Op::Clear => {}
        Op::Batch(ops) => {
            buf.extend_from_slice(&(ops.len() as u32).to_le_bytes());
            for op in ops {
                match *op {
                    BatchOp::Put {
                        key,
                        value,
                        expires_at,
                    } => {
                        buf.push(B_PUT);
                        put_kv(buf, key, value, expires_at);
                    }
                    BatchOp::Delete { key } => {
                        buf.push(B_DELETE);
                        put_bytes(buf, key);
                    }
                }
            }
        }
    }
    let crc = seed.checksum(&buf[start + 4..]);
    buf[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    let end = start as u64 + align(FRAME_LEN + body);
    buf.resize(end as usize, 0);
}

/// Appends to `buf` (which the caller cleared) a durable marker: a record of no
/// operation that a clean close writes after its final sync, so that recovery knows
/// every byte before it was durable (`durable` is the marker's own offset then). Its
/// sequence number is the last record's (it takes none of its own: `last` is one less
/// than the next record's), its timestamp 0.
pub(crate) fn encode_marker(last: Seq, durable: u32, seed: &Seed, buf: &mut Vec<u8>) {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&(BODY_FIXED as u32).to_le_bytes());
    buf.push(T_MARK);
    buf.extend_from_slice(&last.0.to_le_bytes());
    buf.extend_from_slice(&0u64.to_le_bytes());
    buf.extend_from_slice(&durable.to_le_bytes());
    let crc = seed.checksum(&buf[start + 4..]);
    buf[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    buf.resize(start + MIN_RECORD as usize, 0);
}

/// What lies at an offset of a segment.
#[derive(Debug)]
pub(crate) enum Probe<'a> {
    /// No record: a zeroed header, or no room for a header before the end.
    End,
    /// A record whose checksum matches.
    Valid(Frame<'a>),
    /// Something that is not a valid record.
    Bad(Corruption),
}

/// A checksummed record, not yet decoded.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    pub(crate) seq: Seq,
    pub(crate) timestamp_ms: u64,
    /// The segment offset the log was durable through when the record was appended.
    pub(crate) durable: u64,
    ty: u8,
    payload: &'a [u8],
    /// Offset of the next record (after padding; may be past the end of the bytes).
    pub(crate) next: u64,
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Looks at the record starting at `off` in `seg` (a whole segment's bytes, or a prefix
/// of them), validating length and checksum before anything is used.
pub(crate) fn probe<'a>(seg: &'a [u8], off: u64, seed: &Seed) -> Probe<'a> {
    let len_total = seg.len() as u64;
    if off.saturating_add(FRAME_LEN) > len_total {
        return if seg[off.min(len_total) as usize..].iter().all(|&b| b == 0) {
            Probe::End
        } else {
            Probe::Bad(Corruption::RecordLength {
                found: 0,
                max: len_total.saturating_sub(off),
            })
        };
    }
    let o = off as usize;
    let stored = le_u32(seg, o);
    let body = u64::from(le_u32(seg, o + 4));
    if stored == 0 && body == 0 {
        return Probe::End;
    }
    let max = len_total - off - FRAME_LEN;
    if body < BODY_FIXED || body > max {
        return Probe::Bad(Corruption::RecordLength { found: body, max });
    }
    let end = o + FRAME_LEN as usize + body as usize;
    let computed = seed.checksum(&seg[o + 4..end]);
    if computed != stored {
        return Probe::Bad(Corruption::RecordChecksum {
            expected: stored,
            found: computed,
        });
    }
    let b = o + FRAME_LEN as usize;
    let durable = u64::from(le_u32(seg, b + 17));
    if durable > off {
        // Nothing after a record can have been durable before it was written.
        return Probe::Bad(Corruption::RecordBody {
            reason: "durable mark past the record's own offset",
        });
    }
    let seq = Seq(le_u64(seg, b + 1));
    if seq == Seq::EXHAUSTED {
        // Never written: a log holding two records numbered so would replay the same
        // number twice, `Seq::next` saturating there.
        return Probe::Bad(Corruption::RecordBody {
            reason: "sequence number 2^64-1, which the log never assigns",
        });
    }
    Probe::Valid(Frame {
        ty: seg[b],
        seq,
        timestamp_ms: le_u64(seg, b + 9),
        durable,
        payload: &seg[b + BODY_FIXED as usize..end],
        next: align(end as u64),
    })
}

/// Reads fields from a payload, never past its end.
struct Reader<'a>(&'a [u8]);

type Field<T> = std::result::Result<T, &'static str>;

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Field<&'a [u8]> {
        if n > self.0.len() {
            return Err("field runs past the end of the record");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Field<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Field<u32> {
        Ok(le_u32(self.take(4)?, 0))
    }
    fn u64(&mut self) -> Field<u64> {
        Ok(le_u64(self.take(8)?, 0))
    }
    fn bytes(&mut self) -> Field<Vec<u8>> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn expiry(&mut self) -> Field<Option<u64>> {
        let flag = self.u8()?;
        let at = self.u64()?;
        match (flag, at) {
            (0, 0) => Ok(None),
            (0, _) => Err("expiry time without the expiry flag"),
            (1, at) => Ok(Some(at)),
            _ => Err("expiry flag is neither 0 nor 1"),
        }
    }
    fn kv(&mut self) -> Field<(Vec<u8>, Vec<u8>, Option<u64>)> {
        let expires_at = self.expiry()?;
        let klen = self.u32()? as usize;
        let vlen = self.u32()? as usize;
        let key = self.take(klen)?.to_vec();
        let value = self.take(vlen)?.to_vec();
        Ok((key, value, expires_at))
    }
}

impl Frame<'_> {
    /// Whether this is a durable marker (with the empty payload it must have).
    pub(crate) fn is_marker(&self) -> bool {
        self.ty == T_MARK && self.payload.is_empty()
    }

    /// Checks that the payload decodes, without decoding it.
    pub(crate) fn check(&self) -> std::result::Result<(), Corruption> {
        check_payload(self.ty, self.payload).map_err(|reason| Corruption::RecordBody { reason })
    }

    /// Decodes the payload into an owned record.
    pub(crate) fn decode(&self) -> std::result::Result<Record, Corruption> {
        decode_payload(self.ty, self.payload)
            .map(|op| Record {
                seq: self.seq,
                timestamp_ms: self.timestamp_ms,
                op,
            })
            .map_err(|reason| Corruption::RecordBody { reason })
    }
}

/// Checks that a payload of record type `ty` decodes, as [`decode_payload`] would,
/// without building the operation (no allocation).
pub(crate) fn check_payload(ty: u8, payload: &[u8]) -> Field<()> {
    let mut r = Reader(payload);
    let bytes = |r: &mut Reader<'_>| -> Field<()> {
        let n = r.u32()? as usize;
        r.take(n).map(drop)
    };
    let kv = |r: &mut Reader<'_>| -> Field<()> {
        r.expiry()?;
        let klen = r.u32()? as usize;
        let vlen = r.u32()? as usize;
        r.take(klen)?;
        r.take(vlen).map(drop)
    };
    match ty {
        T_PUT => kv(&mut r)?,
        T_DELETE => bytes(&mut r)?,
        T_EXPIRE => {
            r.expiry()?;
            bytes(&mut r)?;
        }
        T_EVICT => {
            r.u64()?;
            bytes(&mut r)?;
        }
        T_CLEAR => {}
        T_BATCH => {
            let count = r.u32()?;
            for _ in 0..count {
                match r.u8()? {
                    B_PUT => kv(&mut r)?,
                    B_DELETE => bytes(&mut r)?,
                    _ => return Err("unknown batch operation"),
                }
            }
        }
        _ => return Err("unknown record type"),
    }
    if !r.0.is_empty() {
        return Err("trailing bytes after the payload");
    }
    Ok(())
}

/// Decodes a payload of record type `ty`; every byte must be used.
pub(crate) fn decode_payload(ty: u8, payload: &[u8]) -> Field<OwnedOp> {
    let mut r = Reader(payload);
    let op = match ty {
        T_PUT => {
            let (key, value, expires_at) = r.kv()?;
            OwnedOp::Put {
                key,
                value,
                expires_at,
            }
        }
        T_DELETE => OwnedOp::Delete { key: r.bytes()? },
        T_EXPIRE => {
            let expires_at = r.expiry()?;
            OwnedOp::Expire {
                key: r.bytes()?,
                expires_at,
            }
        }
        T_EVICT => {
            let version = r.u64()?;
            OwnedOp::Evict {
                key: r.bytes()?,
                version,
            }
        }
        T_CLEAR => OwnedOp::Clear,
        T_BATCH => {
            let count = r.u32()? as usize;
            // Each op takes at least 5 bytes: bound the allocation by the payload.
            let mut ops = Vec::with_capacity(count.min(r.0.len() / 5));
            for _ in 0..count {
                ops.push(match r.u8()? {
                    B_PUT => {
                        let (key, value, expires_at) = r.kv()?;
                        OwnedBatchOp::Put {
                            key,
                            value,
                            expires_at,
                        }
                    }
                    B_DELETE => OwnedBatchOp::Delete { key: r.bytes()? },
                    _ => return Err("unknown batch operation"),
                });
            }
            OwnedOp::Batch(ops)
        }
        _ => return Err("unknown record type"),
    };
    if !r.0.is_empty() {
        return Err("trailing bytes after the payload");
    }
    Ok(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Seed {
        Seed::new(LogId(7), SegmentId(3))
    }

    fn round_trip(op: Op<'_>) {
        let mut buf = Vec::new();
        encode(&op, Seq(42), 1234, 0, &seed(), &mut buf);
        assert_eq!(buf.len() as u64, framed_len(&op));
        assert_eq!(buf.len() % 8, 0);
        let Probe::Valid(frame) = probe(&buf, 0, &seed()) else {
            panic!("not valid")
        };
        assert_eq!(frame.next, buf.len() as u64);
        let rec = frame.decode().unwrap();
        assert_eq!(rec.seq, Seq(42));
        assert_eq!(rec.timestamp_ms, 1234);
        assert_eq!(rec.op, op.to_owned_op());
    }

    #[test]
    fn a_record_numbered_u64_max_is_damage() {
        let op = Op::Delete { key: b"k" };
        let mut buf = Vec::new();
        encode(&op, Seq(u64::MAX - 1), 1, 0, &seed(), &mut buf);
        assert!(matches!(probe(&buf, 0, &seed()), Probe::Valid(_)));
        // Checksummed correctly, but a number the writer never gives.
        buf.clear();
        encode(&op, Seq(u64::MAX), 1, 0, &seed(), &mut buf);
        assert!(matches!(
            probe(&buf, 0, &seed()),
            Probe::Bad(Corruption::RecordBody { .. })
        ));
    }

    #[test]
    fn every_op_round_trips() {
        round_trip(Op::Put {
            key: b"k",
            value: b"value",
            expires_at: Some(99),
        });
        round_trip(Op::Put {
            key: b"",
            value: b"",
            expires_at: None,
        });
        round_trip(Op::Delete { key: b"gone" });
        round_trip(Op::Expire {
            key: b"k",
            expires_at: None,
        });
        round_trip(Op::Evict {
            key: b"k",
            version: 5,
        });
        round_trip(Op::Clear);
        round_trip(Op::Batch(&[
            BatchOp::Put {
                key: b"a",
                value: b"1",
                expires_at: Some(1),
            },
            BatchOp::Delete { key: b"b" },
        ]));
        round_trip(Op::Batch(&[]));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// The allocation-free check gives the verdict decoding gives, on garbage
        /// and on damaged encodings alike.
        #[test]
        fn checking_a_payload_agrees_with_decoding_it(
            ty in 0u8..9,
            key in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12),
            garbage in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..48),
            flip in proptest::prelude::any::<(usize, u8)>(),
            cut in proptest::prelude::any::<usize>(),
        ) {
            proptest::prop_assert_eq!(
                check_payload(ty, &garbage),
                decode_payload(ty, &garbage).map(drop)
            );
            let ops = [
                BatchOp::Put { key: &key, value: &garbage, expires_at: Some(3) },
                BatchOp::Delete { key: &key },
            ];
            for op in [
                Op::Put { key: &key, value: &garbage, expires_at: None },
                Op::Delete { key: &key },
                Op::Expire { key: &key, expires_at: Some(9) },
                Op::Evict { key: &key, version: 4 },
                Op::Batch(&ops),
            ] {
                let mut buf = Vec::new();
                encode(&op, Seq(1), 0, 0, &seed(), &mut buf);
                let Probe::Valid(frame) = probe(&buf, 0, &seed()) else {
                    panic!("not valid")
                };
                let mut payload = frame.payload.to_vec();
                proptest::prop_assert_eq!(check_payload(frame.ty, &payload), Ok(()));
                if !payload.is_empty() {
                    let at = flip.0 % payload.len();
                    payload[at] ^= flip.1;
                }
                payload.truncate(cut % (payload.len() + 2));
                proptest::prop_assert_eq!(
                    check_payload(frame.ty, &payload),
                    decode_payload(frame.ty, &payload).map(drop)
                );
            }
        }
    }

    #[test]
    fn another_segment_or_log_does_not_validate() {
        let mut buf = Vec::new();
        encode(&Op::Clear, Seq(1), 0, 0, &seed(), &mut buf);
        for other in [
            Seed::new(LogId(8), SegmentId(3)),
            Seed::new(LogId(7), SegmentId(4)),
        ] {
            assert!(matches!(
                probe(&buf, 0, &other),
                Probe::Bad(Corruption::RecordChecksum { .. })
            ));
        }
    }

    #[test]
    fn the_durable_mark_round_trips_and_never_exceeds_the_record_offset() {
        let mut seg = vec![0u8; 64];
        let mut buf = Vec::new();
        encode(&Op::Delete { key: b"k" }, Seq(3), 9, 24, &seed(), &mut buf);
        seg.extend_from_slice(&buf);
        let Probe::Valid(frame) = probe(&seg, 64, &seed()) else {
            panic!("not valid")
        };
        assert_eq!(frame.durable, 24);
        // The same record placed at an offset below its mark is refused, checksum and all.
        let mut early = vec![0u8; 16];
        early.extend_from_slice(&buf);
        assert!(matches!(
            probe(&early, 16, &seed()),
            Probe::Bad(Corruption::RecordBody { .. })
        ));
    }

    #[test]
    fn a_marker_is_a_minimal_record_with_no_operation() {
        let mut seg = vec![0u8; 64];
        let mut buf = Vec::new();
        encode_marker(Seq(9), 64, &seed(), &mut buf);
        assert_eq!(buf.len() as u64, MIN_RECORD);
        seg.extend_from_slice(&buf);
        let Probe::Valid(frame) = probe(&seg, 64, &seed()) else {
            panic!("not valid")
        };
        assert!(frame.is_marker());
        assert_eq!((frame.seq, frame.durable, frame.next), (Seq(9), 64, 96));
        assert!(frame.decode().is_err(), "a marker is no operation");
        let mut put = Vec::new();
        encode(&Op::Clear, Seq(9), 0, 0, &seed(), &mut put);
        let Probe::Valid(frame) = probe(&put, 0, &seed()) else {
            panic!("not valid")
        };
        assert!(!frame.is_marker());
    }

    #[test]
    fn the_smallest_record_takes_min_record_bytes() {
        assert_eq!(framed_len(&Op::Clear), MIN_RECORD);
    }

    #[test]
    fn zeros_end_and_lengths_are_bounded() {
        assert!(matches!(probe(&[0; 64], 0, &seed()), Probe::End));
        assert!(matches!(probe(&[0; 5], 0, &seed()), Probe::End));
        assert!(matches!(probe(&[1; 5], 0, &seed()), Probe::Bad(_)));
        assert!(matches!(
            probe(&[0xff; 64], 0, &seed()),
            Probe::Bad(Corruption::RecordLength { .. })
        ));
    }

    #[test]
    fn non_canonical_payloads_are_rejected() {
        assert!(decode_payload(T_DELETE, &[1, 0, 0, 0, b'k', 0]).is_err());
        assert!(decode_payload(T_EXPIRE, &[0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(decode_payload(T_EXPIRE, &[2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(decode_payload(99, &[]).is_err());
        assert!(decode_payload(T_BATCH, &[0xff, 0xff, 0xff, 0xff]).is_err());
    }
}

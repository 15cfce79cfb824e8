//! Walking the records of one segment's bytes: where the log ends, torn tails, holes,
//! durable markers, and telling writes a power loss dropped from damage to durable
//! bytes.

use crate::codec::{probe, Probe, Seed, ALIGN, MIN_RECORD};
use crate::error::Corruption;
use crate::header::HEADER_LEN;
use crate::{Error, Record, RecoveryMode, Seq};

/// A range of a segment that [`RecoveryMode::SalvageValid`] skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// The segment file.
    pub file: String,
    /// Where the skipped bytes start.
    pub offset: u64,
    /// How many bytes were skipped (0 for a sequence gap between valid records).
    pub len: u64,
    /// What was wrong there.
    pub kind: Corruption,
}

/// The state of a walk over one segment's records.
#[derive(Debug)]
pub(crate) struct Scanner {
    name: String,
    seed: Seed,
    mode: RecoveryMode,
    /// The last segment may end in a torn tail; others must end cleanly.
    is_last: bool,
    /// Records below this are checked but not decoded (replay skips them).
    skip_below: Seq,
    /// Records are checked to decode but not decoded (the open scan needs no payload).
    check_only: bool,
    off: u64,
    expected: Seq,
    done: bool,
    /// Ranges skipped (salvage only).
    pub(crate) damage: Vec<Damage>,
    /// Non-zero bytes after the last valid record of the last segment: `(offset, len)`.
    pub(crate) torn: Option<(u64, u64)>,
    /// Whether the last valid frame walked was a durable marker.
    pub(crate) ends_with_marker: bool,
}

/// What the scanner hands out: a record (decoded unless skipped) and its offset.
pub(crate) struct Found {
    pub(crate) offset: u64,
    pub(crate) seq: Seq,
    pub(crate) record: Option<Record>,
}

impl Scanner {
    pub(crate) fn new(
        name: String,
        seed: Seed,
        mode: RecoveryMode,
        is_last: bool,
        first_seq: Seq,
    ) -> Scanner {
        Scanner {
            name,
            seed,
            mode,
            is_last,
            skip_below: Seq::ZERO,
            check_only: false,
            off: HEADER_LEN,
            expected: first_seq,
            done: false,
            damage: Vec::new(),
            torn: None,
            ends_with_marker: false,
        }
    }

    pub(crate) fn skip_below(mut self, seq: Seq) -> Scanner {
        self.skip_below = seq;
        self
    }

    /// Hands out records without their payload (`Found::record` is `None`), having
    /// checked that it decodes: a payload that does not is found as it would be when
    /// decoding.
    pub(crate) fn check_only(mut self) -> Scanner {
        self.check_only = true;
        self
    }

    /// Where the next record would go: just after the last valid one.
    pub(crate) fn end(&self) -> u64 {
        self.off
    }

    /// The sequence number the next record should have.
    pub(crate) fn expected(&self) -> Seq {
        self.expected
    }

    fn fail(&mut self, offset: u64, kind: Corruption) -> Option<Result<Found, Error>> {
        self.done = true;
        Some(Err(Error::corrupt(self.name.clone(), offset, kind)))
    }

    fn salvage(&mut self, offset: u64, len: u64, kind: Corruption) {
        self.damage.push(Damage {
            file: self.name.clone(),
            offset,
            len,
            kind,
        });
    }

    /// The next record of `seg` (the segment's bytes from offset 0), an error, or
    /// `None` at the end of the segment's records.
    pub(crate) fn next(&mut self, seg: &[u8]) -> Option<Result<Found, Error>> {
        loop {
            if self.done {
                return None;
            }
            let at = self.off;
            let bad = match probe(seg, at, &self.seed) {
                Probe::Valid(frame) if frame.is_marker() => {
                    // A clean close's durable marker: it names the last record.
                    if frame.seq != self.expected.prev() {
                        let kind = Corruption::SeqGap {
                            expected: self.expected.prev(),
                            found: frame.seq,
                        };
                        if self.mode != RecoveryMode::SalvageValid {
                            return self.fail(at, kind);
                        }
                        self.salvage(at, frame.next - at, kind);
                    }
                    self.off = frame.next;
                    self.ends_with_marker = true;
                    continue;
                }
                Probe::Valid(frame) => {
                    if frame.seq != self.expected {
                        let kind = Corruption::SeqGap {
                            expected: self.expected,
                            found: frame.seq,
                        };
                        if self.mode != RecoveryMode::SalvageValid {
                            return self.fail(at, kind);
                        }
                        if frame.seq < self.expected {
                            // Going backwards: skip this record.
                            self.salvage(at, frame.next - at, kind);
                            self.off = frame.next;
                            continue;
                        }
                        self.salvage(at, 0, kind);
                    }
                    let decoded = if frame.seq < self.skip_below {
                        Ok(None)
                    } else if self.check_only {
                        frame.check().map(|()| None)
                    } else {
                        frame.decode().map(Some)
                    };
                    let record = match decoded {
                        Ok(r) => r,
                        Err(kind) => {
                            if self.mode != RecoveryMode::SalvageValid {
                                return self.fail(at, kind);
                            }
                            self.salvage(at, frame.next - at, kind);
                            self.off = frame.next;
                            continue;
                        }
                    };
                    self.off = frame.next;
                    self.expected = frame.seq.next();
                    self.ends_with_marker = false;
                    return Some(Ok(Found {
                        offset: at,
                        seq: frame.seq,
                        record,
                    }));
                }
                Probe::End => None,
                Probe::Bad(kind) => Some(kind),
            };
            if let Some(next_valid) = next_valid(seg, at, self.expected, &self.seed) {
                if self.mode == RecoveryMode::AbsoluteConsistency {
                    return self.fail(at, Corruption::Hole { next_valid });
                }
                if self.is_last && !durable_after(seg, at, next_valid, self.expected, &self.seed) {
                    // A power loss dropped unsynced writes out of order: the log ends
                    // here, and the records after it (never durable) go with the tail.
                    self.done = true;
                    let rest = seg.get(at as usize..).unwrap_or(&[]);
                    let dirty = last_nonzero(rest).map_or(0, |p| p as u64 + 1);
                    self.torn = Some((at, dirty));
                    return None;
                }
                if self.mode != RecoveryMode::SalvageValid {
                    return self.fail(at, Corruption::Hole { next_valid });
                }
                let kind = bad.unwrap_or(Corruption::Hole { next_valid });
                self.salvage(at, next_valid - at, kind);
                self.off = next_valid;
                continue;
            }
            // The end of this segment's records. What follows must be zeros, unless it
            // is the torn tail of the last segment.
            self.done = true;
            let rest = seg.get(at as usize..).unwrap_or(&[]);
            let last = last_nonzero(rest)?;
            let dirty = last as u64 + 1;
            let kind = bad.unwrap_or(Corruption::TornTail { bytes: dirty });
            match (self.mode, self.is_last) {
                (RecoveryMode::SalvageValid, false) => self.salvage(at, dirty, kind),
                (RecoveryMode::SalvageValid, true) | (RecoveryMode::TolerateTornTail, true) => {
                    self.torn = Some((at, dirty))
                }
                (RecoveryMode::AbsoluteConsistency, true) => {
                    return self.fail(at, Corruption::TornTail { bytes: dirty })
                }
                (_, false) => return self.fail(at, kind),
            }
            return None;
        }
    }
}

/// Whether a valid record (or durable marker) from `first_valid` on carries a durable
/// mark above `at`, following records by their lengths and searching past damage.
///
/// This tells damage at `at` in the last segment, with valid records after it, from
/// unsynced writes a power loss dropped (pages reach the disk in any order). A mark
/// above `at` means a sync covering `at` had completed before that record was
/// appended (or the log was closed cleanly after it): the damage came later, and is
/// corruption. With none, every record after `at` was appended while it was still
/// unsynced, so a power loss can have kept them and lost it: the log ends at `at`.
fn durable_after(seg: &[u8], at: u64, first_valid: u64, expected: Seq, seed: &Seed) -> bool {
    let mut off = first_valid;
    let mut expected = expected;
    loop {
        match probe(seg, off, seed) {
            Probe::Valid(frame) => {
                if frame.durable > at {
                    return true;
                }
                expected = frame.seq.next();
                off = frame.next;
            }
            Probe::End | Probe::Bad(_) => match next_valid(seg, off, expected, seed) {
                Some(next) => off = next,
                None => return false,
            },
        }
    }
}

/// Zero runs are scanned a block at a time (the block's bytes OR-ed together, which
/// the compiler vectorises): the end of a preallocated segment is mostly zeros, and
/// opening a log walks all of them.
const ZERO_BLOCK: usize = 64;

/// The position of the first non-zero byte of `s`.
pub(crate) fn first_nonzero(s: &[u8]) -> Option<usize> {
    let mut skipped = 0;
    for block in s.chunks_exact(ZERO_BLOCK) {
        if block.iter().fold(0, |acc, &b| acc | b) != 0 {
            break;
        }
        skipped += ZERO_BLOCK;
    }
    s[skipped..]
        .iter()
        .position(|&b| b != 0)
        .map(|p| skipped + p)
}

/// The position of the last non-zero byte of `s`.
pub(crate) fn last_nonzero(s: &[u8]) -> Option<usize> {
    let mut end = s.len();
    while end >= ZERO_BLOCK {
        let block = &s[end - ZERO_BLOCK..end];
        if block.iter().fold(0, |acc, &b| acc | b) != 0 {
            break;
        }
        end -= ZERO_BLOCK;
    }
    s[..end].iter().rposition(|&b| b != 0)
}

/// The offset of the first record after `at` whose checksum validates and whose body
/// decodes (or the first durable marker), looking only at aligned offsets near
/// non-zero bytes (a record's length field is never zero, so a run of zeros holds no
/// record start).
///
/// Only records that could continue the sequence count: a known type, and a sequence
/// number from `expected` up to one more than the number of records that fit between
/// `at` and the candidate (every record takes at least 32 bytes). This keeps the
/// checksum work on garbage small.
fn next_valid(seg: &[u8], at: u64, expected: Seq, seed: &Seed) -> Option<u64> {
    let mut from = at + ALIGN;
    while (from as usize) < seg.len() {
        let nz = from as usize + first_nonzero(&seg[from as usize..])?;
        let nz = nz as u64;
        // A record whose header contains byte `nz` starts within 8 bytes before it.
        let mut cand = (nz.saturating_sub(7) / ALIGN * ALIGN).max(from);
        while cand <= nz {
            if plausible(seg, at, cand, expected) {
                if let Probe::Valid(frame) = probe(seg, cand, seed) {
                    if frame.is_marker() || frame.check().is_ok() {
                        return Some(cand);
                    }
                }
            }
            cand += ALIGN;
        }
        from = cand;
    }
    None
}

/// Whether a record starting at `cand` could continue a sequence expecting `expected`
/// at `at`, judging by its type and sequence fields alone.
fn plausible(seg: &[u8], at: u64, cand: u64, expected: Seq) -> bool {
    let c = cand as usize;
    let Some(fields) = seg.get(c + 8..c + 17) else {
        return false;
    };
    if !(1..=7).contains(&fields[0]) {
        return false;
    }
    let mut s = [0; 8];
    s.copy_from_slice(&fields[1..9]);
    let seq = u64::from_le_bytes(s);
    let most = expected.0.saturating_add((cand - at) / MIN_RECORD + 1);
    (expected.0..=most).contains(&seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The block-wise scans agree with the plain byte-wise ones on mostly-zero
        /// bytes of any length, whatever the position of the non-zero bytes.
        #[test]
        fn zero_skipping_finds_the_same_bytes_as_a_plain_scan(
            len in 0usize..600,
            marks in proptest::collection::vec((0usize..600, 1u8..=255), 0..4),
        ) {
            let mut s = vec![0u8; len];
            for (at, b) in marks {
                if at < len {
                    s[at] = b;
                }
            }
            prop_assert_eq!(first_nonzero(&s), s.iter().position(|&b| b != 0));
            prop_assert_eq!(last_nonzero(&s), s.iter().rposition(|&b| b != 0));
        }
    }
}

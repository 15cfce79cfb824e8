//! Walking the records of one segment's bytes: where the log ends, torn tails, holes,
//! durable markers, and telling writes a power loss dropped from damage to durable
//! bytes.

use crate::codec::{probe, Probe, Seed, ALIGN, MIN_RECORD};
use crate::error::Corruption;
use crate::header::HEADER_LEN;
use crate::{Error, Record, RecoveryMode, Seq};

/// A damaged range of a segment that recovery or a scan went past: skipped by
/// [`RecoveryMode::SalvageValid`], or tolerated because a snapshot covers every record
/// it lost ([`WalOptions::covered_through`](crate::WalOptions::covered_through)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Damage {
    /// The segment file.
    pub file: String,
    /// Where the damaged bytes start (for a sequence gap: where the records before the
    /// missing ones end).
    pub offset: u64,
    /// How many bytes were skipped (0 for a sequence gap between valid records).
    pub len: u64,
    /// What was wrong there.
    pub kind: Corruption,
}

/// Whether damage found where record `expected` should come next, after which the log
/// resumes at record `resume`, lost only records at or below `covered` (so recovery
/// needs none of them). A log that resumes at `expected` lost nothing: covered too, if
/// it lies at or below `covered`. Nothing is covered when `covered` is 0.
pub(crate) fn covers(covered: Seq, expected: Seq, resume: Option<Seq>) -> bool {
    covered > Seq::ZERO && expected <= covered && resume.is_some_and(|r| r <= covered.next())
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
    /// Damage that lost only records at or below this is tolerated (see [`covers`]).
    covered: Seq,
    /// The first sequence number of the next segment, when it directly follows this
    /// one: records missing between this segment's last and it are a gap here.
    next_first: Option<Seq>,
    /// The first sequence number of the next segment with a usable header: where the
    /// log resumes after damage at the end of this one.
    resume: Option<Seq>,
    off: u64,
    expected: Seq,
    done: bool,
    /// Ranges skipped (salvage only).
    pub(crate) damage: Vec<Damage>,
    /// Damage tolerated because [`covered`](Scanner::covered) covers what it lost.
    pub(crate) covered_damage: Vec<Damage>,
    /// Non-zero bytes after the last valid record of the last segment: `(offset, len)`.
    pub(crate) torn: Option<(u64, u64)>,
    /// Whether the torn range is a power-loss hole: valid records followed its start.
    pub(crate) cut_hole: bool,
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
            covered: Seq::ZERO,
            next_first: None,
            resume: None,
            off: HEADER_LEN,
            expected: first_seq,
            done: false,
            damage: Vec::new(),
            covered_damage: Vec::new(),
            torn: None,
            cut_hole: false,
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

    /// Tolerates damage that lost only records at or below `covered`.
    pub(crate) fn covered(mut self, covered: Seq) -> Scanner {
        self.covered = covered;
        self
    }

    /// What follows this segment: the first sequence number of the next one if it
    /// directly follows (its id is the next), and of the next one with a usable header.
    pub(crate) fn followed_by(mut self, next_first: Option<Seq>, resume: Option<Seq>) -> Scanner {
        self.next_first = next_first;
        self.resume = resume;
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

    /// The offset of the first damage found (tolerated or not), or of a power-loss
    /// hole that was cut: what a reader racing a live writer re-reads to tell apart.
    pub(crate) fn first_problem(&self) -> Option<u64> {
        let hole = self.torn.filter(|_| self.cut_hole).map(|(at, _)| at);
        self.damage
            .iter()
            .chain(&self.covered_damage)
            .map(|d| d.offset)
            .chain(hole)
            .min()
    }

    fn fail(&mut self, offset: u64, kind: Corruption) -> Option<Result<Found, Error>> {
        self.done = true;
        Some(Err(Error::corrupt(self.name.clone(), offset, kind)))
    }

    /// Damage at `offset`: listed as covered if `covered`, skipped (and listed) in
    /// salvage mode, else the error to return.
    fn damaged(&mut self, offset: u64, len: u64, kind: Corruption, covered: bool) -> Option<Error> {
        let damage = Damage {
            file: self.name.clone(),
            offset,
            len,
            kind,
        };
        if covered {
            self.covered_damage.push(damage);
        } else if self.mode == RecoveryMode::SalvageValid {
            self.damage.push(damage);
        } else {
            self.done = true;
            return Some(Error::corrupt(damage.file, offset, damage.kind));
        }
        None
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
                    let last = self.expected.prev();
                    if frame.seq != last {
                        let kind = Corruption::SeqGap {
                            expected: last,
                            found: frame.seq,
                        };
                        // One naming a later record: the records up to it were lost.
                        let covered = frame.seq > last
                            && covers(self.covered, self.expected, Some(frame.seq.next()));
                        if let Some(e) = self.damaged(at, frame.next - at, kind, covered) {
                            return Some(Err(e));
                        }
                        if covered {
                            self.expected = frame.seq.next();
                        }
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
                        if frame.seq < self.expected {
                            // Going backwards: skip this record.
                            if let Some(e) = self.damaged(at, frame.next - at, kind, false) {
                                return Some(Err(e));
                            }
                            self.off = frame.next;
                            continue;
                        }
                        let covered = covers(self.covered, self.expected, Some(frame.seq));
                        if let Some(e) = self.damaged(at, 0, kind, covered) {
                            return Some(Err(e));
                        }
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
                            // This record is lost; the log resumes after it.
                            let resume = frame.seq.next();
                            let covered = covers(self.covered, self.expected, Some(resume));
                            if let Some(e) = self.damaged(at, frame.next - at, kind, covered) {
                                return Some(Err(e));
                            }
                            if covered {
                                self.expected = resume;
                            }
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
            if let Some((next_valid, resume)) = next_valid(seg, at, self.expected, &self.seed) {
                if covers(self.covered, self.expected, Some(resume)) {
                    // Whatever a snapshot already holds: skipped, whatever the mode.
                    let kind = bad.unwrap_or(Corruption::Hole { next_valid });
                    self.covered_damage.push(Damage {
                        file: self.name.clone(),
                        offset: at,
                        len: next_valid - at,
                        kind,
                    });
                    self.off = next_valid;
                    self.expected = resume;
                    continue;
                }
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
                    self.cut_hole = true;
                    return None;
                }
                if self.mode != RecoveryMode::SalvageValid {
                    return self.fail(at, Corruption::Hole { next_valid });
                }
                let kind = bad.unwrap_or(Corruption::Hole { next_valid });
                self.damaged(at, next_valid - at, kind, false);
                self.off = next_valid;
                continue;
            }
            // The end of this segment's records. What follows must be zeros, unless it
            // is the torn tail of the last segment.
            self.done = true;
            let rest = seg.get(at as usize..).unwrap_or(&[]);
            let Some(last) = last_nonzero(rest) else {
                // A clean end. Records missing before the next segment's first are a
                // gap here, where this segment's records end.
                match self.next_first {
                    Some(next) if next > self.expected => {
                        let kind = Corruption::SeqGap {
                            expected: self.expected,
                            found: next,
                        };
                        let covered = covers(self.covered, self.expected, Some(next));
                        if let Some(e) = self.damaged(at, 0, kind, covered) {
                            return Some(Err(e));
                        }
                        self.expected = next;
                    }
                    _ => {}
                }
                return None;
            };
            let dirty = last as u64 + 1;
            if self.is_last {
                if self.mode == RecoveryMode::AbsoluteConsistency {
                    return self.fail(at, Corruption::TornTail { bytes: dirty });
                }
                self.torn = Some((at, dirty));
                return None;
            }
            // Damage at the end of an older segment: what it held, up to the next
            // segment's first record, is lost.
            let kind = bad.unwrap_or(Corruption::TornTail { bytes: dirty });
            let covered = covers(self.covered, self.expected, self.resume);
            if let Some(e) = self.damaged(at, dirty, kind, covered) {
                return Some(Err(e));
            }
            if let Some(next) = self.next_first.filter(|&n| n > self.expected) {
                self.expected = next;
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
                Some((next, _)) => off = next,
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
/// decodes (or the first durable marker), with the sequence number the log resumes at
/// there (a marker's record's next), looking only at aligned offsets near
/// non-zero bytes (a record's length field is never zero, so a run of zeros holds no
/// record start).
///
/// Only records that could continue the sequence count: a known type, and a sequence
/// number from `expected` up to one more than the number of records that fit between
/// `at` and the candidate (every record takes at least 32 bytes). This keeps the
/// checksum work on garbage small.
fn next_valid(seg: &[u8], at: u64, expected: Seq, seed: &Seed) -> Option<(u64, Seq)> {
    let mut from = at + ALIGN;
    while (from as usize) < seg.len() {
        let nz = from as usize + first_nonzero(&seg[from as usize..])?;
        let nz = nz as u64;
        // A record whose header contains byte `nz` starts within 8 bytes before it.
        let mut cand = (nz.saturating_sub(7) / ALIGN * ALIGN).max(from);
        while cand <= nz {
            if plausible(seg, at, cand, expected) {
                if let Probe::Valid(frame) = probe(seg, cand, seed) {
                    if frame.is_marker() {
                        return Some((cand, frame.seq.next()));
                    }
                    if frame.check().is_ok() {
                        return Some((cand, frame.seq));
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

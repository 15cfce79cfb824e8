//! Walking a log directory's segments in order: listing and opening them, checking
//! each header and how each segment follows the one before, and scanning their
//! records. Recovery (`recovery.rs`) and the read-only scan (`inspect.rs`) are both
//! this walk; they differ in the recovery mode they judge by and in what they do
//! with the result.

use std::io;
use std::sync::Arc;

use crate::codec::Seed;
use crate::error::Corruption;
use crate::header::{Header, HEADER_LEN};
use crate::scan::{covers, Damage, Scanner};
use crate::segment::read_prefix_into;
use crate::storage::{SegmentFile, Storage};
use crate::{Error, LogId, Record, RecoveryMode, Result, SegmentId, Seq};

/// How many times the read-only scan reads the last segment again when what it found
/// there may be a live writer's record caught half-copied (see [`Walk::live`]).
const LIVE_READS: usize = 8;

/// A log directory's segment files, opened, and its leftover temporary files.
pub(crate) struct Listing {
    /// Every segment file, oldest first, each opened (read-only) before any was read.
    pub(crate) segments: Vec<(SegmentId, Arc<dyn SegmentFile>)>,
    /// Names of `wal-<id>.log.tmp` files: creations that never completed.
    pub(crate) temp_files: Vec<String>,
}

/// Lists the directory and opens every segment file, oldest first, before reading any:
/// files a live writer's truncation removes meanwhile stay readable. A file removed
/// between the listing and its opening was truncated, and so were all older ones
/// (truncation removes the oldest first): those are dropped too, so the segments
/// opened are always a contiguous run of the log.
pub(crate) fn list(storage: &dyn Storage) -> Result<Listing> {
    let names = storage
        .list()
        .map_err(|e| Error::io("list", storage.describe("."), e))?;
    let mut ids = Vec::new();
    let mut temp_files = Vec::new();
    for name in names {
        if let Some(id) = SegmentId::parse_file_name(&name) {
            ids.push(id);
        } else if name
            .strip_suffix(".tmp")
            .and_then(SegmentId::parse_file_name)
            .is_some()
        {
            temp_files.push(name);
        }
    }
    ids.sort();
    temp_files.sort();
    let mut segments = Vec::with_capacity(ids.len());
    for id in ids {
        let name = id.file_name();
        match storage.open(&name, None) {
            Ok(file) => segments.push((id, file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => segments.clear(),
            Err(e) => return Err(Error::io("open", storage.describe(&name), e)),
        }
    }
    Ok(Listing {
        segments,
        temp_files,
    })
}

/// One segment as the walk found it.
pub(crate) struct Walked {
    pub(crate) id: SegmentId,
    /// How messages name it.
    pub(crate) file: String,
    pub(crate) handle: Arc<dyn SegmentFile>,
    /// The first sequence number of its header; for an unusable header, the one the
    /// log continues at after it.
    pub(crate) first_seq: Seq,
    /// Whether its header was usable.
    pub(crate) readable: bool,
    /// Whether the walk went past it without reading its records: an unusable header,
    /// or records overlapping the segment before (salvage only).
    pub(crate) skipped: bool,
    /// The sequence number the log continues at after it.
    pub(crate) next_seq: Seq,
    /// The offset after its last valid record (or marker).
    pub(crate) end: u64,
    /// Its size when opened.
    pub(crate) size: u64,
    /// Valid records in it, and the first and last one's sequence numbers.
    pub(crate) records: u64,
    pub(crate) first_record: Option<Seq>,
    pub(crate) last_seq: Option<Seq>,
    /// A torn tail after its last valid record: `(offset, bytes)` (last segment only).
    pub(crate) torn: Option<(u64, u64)>,
    /// Whether it holds records and does not end with a durable marker.
    pub(crate) unmarked: bool,
    /// Whether it holds damage tolerated because a snapshot covers what it lost.
    pub(crate) covered: bool,
}

/// What walking the log found.
#[derive(Default)]
pub(crate) struct Walk {
    /// The log's id, from its first usable header.
    pub(crate) log: Option<LogId>,
    pub(crate) segments: Vec<Walked>,
    /// Damage skipped by salvage.
    pub(crate) damage: Vec<Damage>,
    /// Damage tolerated because it lost only covered records.
    pub(crate) covered_damage: Vec<Damage>,
}

/// What the walk hands out as it goes.
pub(crate) enum Event<'a> {
    /// A valid record at or above [`Walker::decode_from`], in log order.
    Record(Record),
    /// A segment, once walked (every segment, in order).
    Segment(&'a Walked),
}

/// How to walk: the verdicts to apply and what to hand out.
pub(crate) struct Walker<'a> {
    pub(crate) storage: &'a dyn Storage,
    pub(crate) mode: RecoveryMode,
    /// Damage that lost only records at or below this is tolerated.
    pub(crate) covered: Seq,
    /// Records at or above this are decoded and handed out; `None` checks every
    /// payload without decoding any (recovery).
    pub(crate) decode_from: Option<Seq>,
    /// Whether a writer may be appending to the last segment while it is read (the
    /// read-only scan of a store in use): see [`Walker::read_last`].
    pub(crate) live: bool,
}

impl Walker<'_> {
    /// Walks `segments` (from [`list`]) in order, handing each valid record at or
    /// above [`decode_from`](Walker::decode_from), and each segment once walked, to
    /// `visit`.
    pub(crate) fn walk(
        &self,
        segments: Vec<(SegmentId, Arc<dyn SegmentFile>)>,
        visit: &mut dyn FnMut(Event<'_>),
    ) -> Result<Walk> {
        let headers = self.headers(&segments)?;
        let mut out = Walk {
            log: headers.iter().find_map(|h| h.as_ref().ok().map(|h| h.log)),
            ..Walk::default()
        };
        // The last segment walked: its id and the sequence number the log continues at.
        let mut prev: Option<(SegmentId, Seq)> = None;
        let mut bytes = Vec::new();
        let count = segments.len();
        for (i, (id, handle)) in segments.into_iter().enumerate() {
            let expected = prev.map_or(Seq::ZERO, |(_, next)| next);
            let mut walked = Walked {
                id,
                file: self.storage.describe(&id.file_name()),
                size: handle.size(),
                handle,
                first_seq: expected,
                readable: false,
                skipped: true,
                next_seq: expected,
                end: HEADER_LEN,
                records: 0,
                first_record: None,
                last_seq: None,
                torn: None,
                unmarked: false,
                covered: false,
            };
            // The next segment with a usable header, and whether it directly follows.
            let next = headers[i + 1..]
                .iter()
                .enumerate()
                .find_map(|(k, h)| Some((k == 0, h.as_ref().ok()?)));
            let resume = next.map(|(_, h)| h.first_seq);
            match &headers[i] {
                Err(kind) => {
                    // Everything the segment held is lost: tolerable if the log resumes
                    // after it within what is covered.
                    walked.covered = covers(self.covered, expected, resume);
                    let damage = Damage {
                        file: walked.file.clone(),
                        offset: 0,
                        len: walked.size,
                        kind: kind.clone(),
                    };
                    self.judge(&mut out, damage, walked.covered)?;
                    if walked.covered {
                        walked.next_seq = resume.unwrap_or(expected);
                    }
                }
                Ok(header) => {
                    walked.readable = true;
                    walked.first_seq = header.first_seq;
                    let next_first = next.and_then(|(direct, h)| {
                        (direct && h.segment == id.next()).then_some(h.first_seq)
                    });
                    let follows = match prev {
                        Some((prev_id, prev_next)) => {
                            self.follows(&mut out, &mut walked, header, prev_id, prev_next)?
                        }
                        None => true,
                    };
                    if follows {
                        let scan = (i + 1 == count, next_first, resume);
                        self.scan(&mut walked, header, scan, &mut bytes, &mut out, visit)?;
                    }
                }
            }
            if !walked.skipped || walked.covered {
                prev = Some((id, walked.next_seq));
            }
            visit(Event::Segment(&walked));
            out.segments.push(walked);
        }
        Ok(out)
    }

    /// Damage found between or in segment headers: listed as covered if `covered`,
    /// skipped (and listed) in salvage mode, else the error.
    fn judge(&self, out: &mut Walk, damage: Damage, covered: bool) -> Result<()> {
        if covered {
            out.covered_damage.push(damage);
        } else if self.mode == RecoveryMode::SalvageValid {
            out.damage.push(damage);
        } else {
            return Err(Error::corrupt(damage.file, damage.offset, damage.kind));
        }
        Ok(())
    }

    /// Checks how a segment with a usable `header` follows the one before (whose
    /// records end before `prev_next`); whether its records are to be read. A forward
    /// gap is found by the previous segment's scan, where its records end; here only a
    /// missing segment, or a segment starting below the records before it (its header
    /// is what is wrong: salvage skips it).
    fn follows(
        &self,
        out: &mut Walk,
        walked: &mut Walked,
        header: &Header,
        prev_id: SegmentId,
        prev_next: Seq,
    ) -> Result<bool> {
        let backwards = header.first_seq < prev_next;
        let Some(kind) = header
            .follows(prev_id, prev_next, walked.id)
            .filter(|k| backwards || !matches!(k, Corruption::SeqGap { .. }))
        else {
            return Ok(true);
        };
        walked.covered = !backwards && covers(self.covered, prev_next, Some(header.first_seq));
        let damage = Damage {
            file: walked.file.clone(),
            offset: 0,
            len: if backwards { walked.size } else { 0 },
            kind,
        };
        self.judge(out, damage, walked.covered)?;
        Ok(!backwards)
    }

    /// Reads a segment's records. `(is_last, next_first, resume)`: whether it is the
    /// last segment, and what follows it (see [`Scanner::followed_by`]).
    fn scan(
        &self,
        walked: &mut Walked,
        header: &Header,
        (is_last, next_first, resume): (bool, Option<Seq>, Option<Seq>),
        bytes: &mut Vec<u8>,
        out: &mut Walk,
        visit: &mut dyn FnMut(Event<'_>),
    ) -> Result<()> {
        let new_scanner = || {
            let scanner = Scanner::new(
                walked.file.clone(),
                Seed::new(header.log, walked.id),
                self.mode,
                is_last,
                header.first_seq,
            )
            .covered(self.covered)
            .followed_by(next_first, resume);
            match self.decode_from {
                Some(from) => scanner.skip_below(from),
                None => scanner.check_only(),
            }
        };
        let name = walked.id.file_name();
        if self.live && is_last {
            self.read_last(&name, &*walked.handle, bytes, &new_scanner)?;
        } else {
            read_prefix_into(self.storage, &name, &*walked.handle, walked.size, bytes)?;
        }
        let mut scanner = new_scanner();
        while let Some(found) = scanner.next(bytes) {
            let found = found?;
            walked.records += 1;
            walked.first_record.get_or_insert(found.seq);
            walked.last_seq = Some(found.seq);
            if let Some(r) = found.record {
                visit(Event::Record(r));
            }
        }
        out.damage.append(&mut scanner.damage);
        walked.covered |= !scanner.covered_damage.is_empty();
        out.covered_damage.append(&mut scanner.covered_damage);
        walked.skipped = false;
        walked.next_seq = scanner.expected();
        walked.end = scanner.end();
        walked.torn = scanner.torn;
        walked.unmarked = scanner.end() > HEADER_LEN && !scanner.ends_with_marker;
        Ok(())
    }

    /// Reads and checks every segment's header, in order: the log id is the first
    /// usable header's. A segment of another format version is an error whatever the
    /// mode: it is not damage, and skipping it would drop a whole log.
    fn headers(
        &self,
        segments: &[(SegmentId, Arc<dyn SegmentFile>)],
    ) -> Result<Vec<Result<Header, Corruption>>> {
        let mut log: Option<LogId> = None;
        let mut out = Vec::with_capacity(segments.len());
        let mut buf = [0u8; HEADER_LEN as usize];
        for (id, file) in segments {
            let name = id.file_name();
            let len = file.size().min(HEADER_LEN) as usize;
            file.read_at(0, &mut buf[..len])
                .map_err(|e| Error::io("read", self.storage.describe(&name), e))?;
            let header = Header::decode(&buf[..len]).and_then(|h| {
                if h.segment != *id {
                    return Err(Corruption::SegmentIdMismatch {
                        expected: *id,
                        found: h.segment,
                    });
                }
                match log {
                    Some(l) if l != h.log => Err(Corruption::ForeignLog {
                        expected: l.0,
                        found: h.log.0,
                    }),
                    _ => Ok(h),
                }
            });
            if let Err(kind @ Corruption::UnsupportedVersion { .. }) = header {
                return Err(Error::corrupt(self.storage.describe(&name), 0, kind));
            }
            if let Ok(h) = &header {
                log.get_or_insert(h.log);
            }
            out.push(header);
        }
        Ok(out)
    }

    /// Reads the last segment of a log a writer may be appending to. A record the
    /// writer was copying while the read passed it reads torn, and one it copied after
    /// that may already read whole: that looks like damage followed by a valid record.
    /// Every record written before the read reached a later byte is whole on the next
    /// read, so damage found at the same offset by two reads in a row is real, and
    /// damage a re-read no longer shows there was the writer's (the re-read is used).
    fn read_last(
        &self,
        name: &str,
        file: &dyn SegmentFile,
        bytes: &mut Vec<u8>,
        new_scanner: &dyn Fn() -> Scanner,
    ) -> Result<()> {
        let mut last = None;
        for _ in 0..LIVE_READS {
            read_prefix_into(self.storage, name, file, file.size(), bytes)?;
            let mut check = new_scanner().check_only();
            while let Some(found) = check.next(bytes) {
                if found.is_err() {
                    break;
                }
            }
            let problem = check.first_problem();
            if problem.is_none() || problem == last {
                break;
            }
            last = problem;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::sim::SimStorage;
    use crate::{Op, SyncPolicy, Wal, WalOptions};

    /// One segment file whose first full read sees `racy` (a reader that passed a
    /// record before a live writer copied it, and the records after it once they were
    /// copied), and every later read `full`.
    #[derive(Debug)]
    struct Racy {
        racy: Vec<u8>,
        full: Vec<u8>,
        raced: AtomicBool,
    }

    impl SegmentFile for Racy {
        fn size(&self) -> u64 {
            self.full.len() as u64
        }
        fn grow(&self, _: u64) -> io::Result<()> {
            Err(io::ErrorKind::PermissionDenied.into())
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
            let whole = buf.len() as u64 > HEADER_LEN;
            let src = if whole && !self.raced.swap(true, Ordering::Relaxed) {
                &self.racy
            } else {
                &self.full
            };
            let at = offset as usize;
            buf.copy_from_slice(&src[at..at + buf.len()]);
            Ok(())
        }
        fn write_at(&self, _: u64, _: &[u8]) -> io::Result<()> {
            Err(io::ErrorKind::PermissionDenied.into())
        }
        fn sync(&self, _: u64, _: u64) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_record_a_live_writer_was_copying_is_read_again_not_taken_for_damage() {
        let sim = SimStorage::new();
        let options = WalOptions::default()
            .segment_size(4096)
            .sync(SyncPolicy::EveryWrite)
            .storage(Arc::new(sim.clone()));
        let (wal, _) = Wal::open("sim", options).unwrap();
        let mut offsets = Vec::new();
        for i in 0..5u64 {
            offsets.push(wal.stats().bytes as usize);
            wal.append(
                &Op::Delete {
                    key: &i.to_le_bytes(),
                },
                i,
            )
            .unwrap();
        }
        let end = wal.stats().bytes as usize;
        drop(wal);
        let name = SegmentId(1).file_name();
        let full = sim.file(&name).unwrap();
        // Record 3 not copied yet when the reader passed it; 4 and 5 copied by the
        // time it got there (each synced before the next: a durable mark past 3).
        let mut racy = full.clone();
        racy[offsets[2]..offsets[3]].fill(0);
        let walk = |live: bool| {
            let file: Arc<dyn SegmentFile> = Arc::new(Racy {
                racy: racy.clone(),
                full: full.clone(),
                raced: AtomicBool::new(false),
            });
            let walker = Walker {
                storage: &sim,
                mode: RecoveryMode::SalvageValid,
                covered: Seq::ZERO,
                decode_from: Some(Seq::ZERO),
                live,
            };
            let mut seqs = Vec::new();
            let walked = walker
                .walk(vec![(SegmentId(1), file)], &mut |e| {
                    if let Event::Record(r) = e {
                        seqs.push(r.seq.0);
                    }
                })
                .unwrap();
            (walked, seqs)
        };
        // Read once, it looks like damage to a durable record.
        let (once, seqs) = walk(false);
        assert_eq!(once.damage.len(), 2, "a hole, then a gap");
        assert_eq!(once.damage[0].offset, offsets[2] as u64);
        assert_eq!(seqs, [1, 2, 4, 5]);
        // A live scan reads again and finds every record whole.
        let (live, seqs) = walk(true);
        assert!(live.damage.is_empty(), "{:?}", live.damage);
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        assert_eq!(live.segments[0].end, end as u64);
    }
}

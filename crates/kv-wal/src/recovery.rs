//! Opening a log: listing and validating segments, finding the end, applying the
//! recovery mode, zero-filling a torn tail.

use crate::codec::{encode_marker, Seed, MIN_RECORD};
use crate::error::Corruption;
use crate::header::{Header, HEADER_LEN};
use crate::scan::{Damage, Scanner};
use crate::segment::{self, Active, CreateError, Sealed};
use crate::storage::Storage;
use crate::{Error, LogId, OpenReport, RecoveryMode, Result, SegmentId, Seq, WalOptions};

/// A log ready for appends.
pub(crate) struct Recovered {
    pub(crate) log: LogId,
    pub(crate) sealed: Vec<Sealed>,
    pub(crate) active: Active,
    pub(crate) next_seq: Seq,
    pub(crate) report: OpenReport,
}

/// A segment that passed validation.
#[derive(Clone, Copy)]
struct Good {
    id: SegmentId,
    first_seq: Seq,
    next_seq: Seq,
    end: u64,
    size: u64,
    torn: Option<(u64, u64)>,
    /// Whether it holds records and does not end with a durable marker.
    unmarked: bool,
}

fn create_error(storage: &dyn Storage, id: SegmentId, e: CreateError) -> Error {
    match e {
        CreateError::Io(e) => e,
        CreateError::Sync(op, e) => Error::io(op, storage.describe(&id.file_name()), e),
    }
}

/// Opens (or creates) the log on `storage`.
pub(crate) fn recover(storage: &dyn Storage, options: &WalOptions) -> Result<Recovered> {
    let mode = options.recovery;
    let mut report = OpenReport::default();
    let names = storage
        .list()
        .map_err(|e| Error::io("list", storage.describe("."), e))?;
    let mut ids = Vec::new();
    for name in names {
        if let Some(id) = SegmentId::parse_file_name(&name) {
            ids.push(id);
        } else if name
            .strip_suffix(".tmp")
            .and_then(SegmentId::parse_file_name)
            .is_some()
        {
            // An interrupted creation: never renamed, so never part of the log.
            storage
                .remove(&name)
                .map_err(|e| Error::io("remove", storage.describe(&name), e))?;
            report.removed_temp_files += 1;
        }
    }
    if report.removed_temp_files > 0 {
        storage
            .sync_dir()
            .map_err(|e| Error::io("directory sync", storage.describe("."), e))?;
    }
    ids.sort();

    let mut log = None;
    let mut goods: Vec<Good> = Vec::new();
    // The last good segment: its id, next sequence number, file and end of records.
    let mut prev: Option<(SegmentId, Seq, String, u64)> = None;
    let mut bytes = Vec::new();
    for (i, &id) in ids.iter().enumerate() {
        let name = id.file_name();
        let desc = storage.describe(&name);
        let file = storage
            .open(&name, false)
            .map_err(|e| Error::io("open", desc.clone(), e))?;
        segment::read_prefix_into(storage, &name, &*file, file.size(), &mut bytes)?;
        let header = Header::decode(&bytes).and_then(|h| {
            if h.segment != id {
                return Err(Corruption::SegmentIdMismatch {
                    expected: id,
                    found: h.segment,
                });
            }
            match log {
                Some(LogId(l)) if l != h.log.0 => Err(Corruption::ForeignLog {
                    expected: l,
                    found: h.log.0,
                }),
                _ => Ok(h),
            }
        });
        let header = match header {
            Ok(h) => h,
            // A segment of another format version is not damage: salvage must not
            // drop a whole log written by an older (or newer) build.
            Err(kind @ Corruption::UnsupportedVersion { .. }) => {
                return Err(Error::corrupt(desc, 0, kind))
            }
            Err(kind) if mode == RecoveryMode::SalvageValid => {
                report.damage.push(Damage {
                    file: desc,
                    offset: 0,
                    len: bytes.len() as u64,
                    kind,
                });
                continue;
            }
            Err(kind) => return Err(Error::corrupt(desc, 0, kind)),
        };
        if let Some((prev_id, prev_next, prev_desc, prev_end)) = &prev {
            let gap = header.follows(*prev_id, *prev_next, id);
            if let Some(kind) = gap {
                let backwards = header.first_seq < *prev_next;
                // Records missing after the previous segment's last one: the damage is
                // there, where its records end.
                let (file, offset) = match kind {
                    Corruption::SeqGap { .. } if !backwards => (prev_desc.clone(), *prev_end),
                    _ => (desc.clone(), 0),
                };
                if mode != RecoveryMode::SalvageValid {
                    return Err(Error::corrupt(file, offset, kind));
                }
                report.damage.push(Damage {
                    file,
                    offset,
                    len: if backwards { bytes.len() as u64 } else { 0 },
                    kind,
                });
                if backwards {
                    continue;
                }
            }
        }
        log.get_or_insert(header.log);
        let is_last = i + 1 == ids.len();
        let mut scanner = Scanner::new(
            desc.clone(),
            Seed::new(header.log, id),
            mode,
            is_last,
            header.first_seq,
        )
        .check_only();
        while let Some(found) = scanner.next(&bytes) {
            let found = found?;
            report.records += 1;
            report.first_seq.get_or_insert(found.seq);
            report.last_seq = Some(found.seq);
        }
        report.damage.append(&mut scanner.damage);
        prev = Some((id, scanner.expected(), desc, scanner.end()));
        goods.push(Good {
            id,
            first_seq: header.first_seq,
            next_seq: scanner.expected(),
            end: scanner.end(),
            size: bytes.len() as u64,
            torn: scanner.torn,
            unmarked: scanner.end() > HEADER_LEN && !scanner.ends_with_marker,
        });
    }

    let last_id = ids.last().copied();
    let log = log.unwrap_or_else(LogId::generate);
    let (active, next_seq) = match goods.last().copied() {
        Some(last) if Some(last.id) == last_id => {
            let name = last.id.file_name();
            let desc = storage.describe(&name);
            let file = storage
                .open(&name, true)
                .map_err(|e| Error::io("open", desc.clone(), e))?;
            let mut dirty_end = last.end;
            if let Some((at, len)) = last.torn {
                let zeros = vec![0u8; len.min(1 << 16) as usize];
                let mut off = at;
                while off < at + len {
                    let n = (at + len - off).min(zeros.len() as u64);
                    file.write_at(off, &zeros[..n as usize])
                        .map_err(|e| Error::io("zero-fill torn tail", desc.clone(), e))?;
                    off += n;
                }
                dirty_end = at + len;
                report.discarded_bytes = len;
                report.discarded_at = Some((last.id, at));
            }
            // Records read back may still be only in the page cache (the previous
            // process crashed before syncing): make them durable before anyone acts
            // on them.
            file.sync(0, dirty_end)
                .map_err(|e| Error::io("sync", desc.clone(), e))?;
            let (mut end, mut unmarked) = (last.end, last.unmarked);
            if last.torn.is_some() && end + MIN_RECORD <= file.size() {
                // Damage before the cut may have been judged corruption (and salvaged)
                // on the strength of marks the zero-fill just erased: a durable marker,
                // written once the zero-fill is durable, keeps that verdict for every
                // later open (and says truly that all before it is durable now).
                let mut marker = Vec::with_capacity(MIN_RECORD as usize);
                let mark = u32::try_from(end).unwrap_or(0);
                encode_marker(
                    last.next_seq.prev(),
                    mark,
                    &Seed::new(log, last.id),
                    &mut marker,
                );
                file.write_at(end, &marker)
                    .map_err(|e| Error::io("write", desc.clone(), e))?;
                file.sync(end, MIN_RECORD)
                    .map_err(|e| Error::io("sync", desc, e))?;
                end += MIN_RECORD;
                unmarked = false;
            }
            let active = Active::new(log, last.id, last.first_seq, file, end, unmarked);
            goods.pop();
            (active, last.next_seq)
        }
        _ => {
            // No log yet, or (salvage) the last file was unusable: start a new segment.
            let id = last_id.map_or(SegmentId(1), SegmentId::next);
            let first = goods.last().map_or(options.first_seq, |g| g.next_seq);
            report.created = ids.is_empty();
            let active = segment::create(storage, log, id, first, options.segment_size)
                .map_err(|e| create_error(storage, id, e))?;
            (active, first)
        }
    };
    let sealed: Vec<Sealed> = goods
        .iter()
        .map(|g| Sealed {
            id: g.id,
            first_seq: g.first_seq,
            next_seq: g.next_seq,
            end: g.end,
            size: g.size,
        })
        .collect();
    report.segments = sealed.len() + 1;
    debug_assert!(active.pos >= HEADER_LEN);
    Ok(Recovered {
        log,
        sealed,
        active,
        next_seq,
        report,
    })
}

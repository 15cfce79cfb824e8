//! Opening a log: walking its segments (`walk.rs`) under the recovery mode, removing
//! leftover temporary files, zero-filling a torn tail, and choosing the segment
//! appends go to.

use crate::codec::{encode_marker, Seed, MIN_RECORD};
use crate::header::HEADER_LEN;
use crate::segment::{self, Active, CreateError, Sealed};
use crate::storage::Storage;
use crate::walk::{self, Walked, Walker};
use crate::{Error, LogId, OpenReport, Result, SegmentId, Seq, WalOptions};

/// A log ready for appends.
pub(crate) struct Recovered {
    pub(crate) log: LogId,
    pub(crate) sealed: Vec<Sealed>,
    pub(crate) active: Active,
    pub(crate) next_seq: Seq,
    pub(crate) report: OpenReport,
}

fn create_error(storage: &dyn Storage, id: SegmentId, e: CreateError) -> Error {
    match e {
        CreateError::Io(e) => e,
        CreateError::Sync(op, e) => Error::io(op, storage.describe(&id.file_name()), e),
    }
}

/// Opens (or creates) the log on `storage`.
pub(crate) fn recover(storage: &dyn Storage, options: &WalOptions) -> Result<Recovered> {
    let mut report = OpenReport::default();
    let listing = walk::list(storage)?;
    for name in &listing.temp_files {
        // An interrupted creation: never renamed, so never part of the log.
        storage
            .remove(name)
            .map_err(|e| Error::io("remove", storage.describe(name), e))?;
    }
    report.removed_temp_files = listing.temp_files.len();
    if report.removed_temp_files > 0 {
        storage
            .sync_dir()
            .map_err(|e| Error::io("directory sync", storage.describe("."), e))?;
    }
    report.created = listing.segments.is_empty();
    let walker = Walker {
        storage,
        mode: options.recovery,
        covered: options.covered_through,
        decode_from: None,
        live: false,
    };
    let walked = walker.walk(listing.segments, &mut |_| {})?;
    for w in &walked.segments {
        report.records += w.records;
        if report.first_seq.is_none() {
            report.first_seq = w.first_record;
        }
        report.last_seq = w.last_seq.or(report.last_seq);
    }
    report.damage = walked.damage;
    report.covered_damage = walked.covered_damage;
    let log = walked.log.unwrap_or_else(LogId::generate);
    let mut segments = walked.segments;
    let last_id = segments.last().map(|w| w.id);

    let mut active = None;
    if segments.last().is_some_and(|w| !w.skipped) {
        let last = segments.pop().expect("a last segment");
        let covered = last.covered;
        let a = reopen(storage, log, &last, options.segment_size, &mut report)?;
        if covered {
            // Its damage goes at the first truncation that covers it, which never
            // removes the segment appends go to: seal it (it is synced whole).
            segments.push(Walked { end: a.pos, ..last });
        } else {
            active = Some((a, last.next_seq));
        }
    }
    let (active, next_seq) = match active {
        Some(a) => a,
        None => {
            // No log yet, the last segment unusable (salvage), or sealed above: start a
            // new segment.
            let id = last_id.map_or(SegmentId(1), SegmentId::next);
            let first = segments
                .iter()
                .rev()
                .find(|w| !w.skipped || w.covered)
                .map_or(options.first_seq, |w| w.next_seq);
            let active = segment::create(storage, log, id, first, options.segment_size)
                .map_err(|e| create_error(storage, id, e))?;
            (active, first)
        }
    };
    let sealed: Vec<Sealed> = segments
        .iter()
        .filter(|w| !w.skipped || w.covered)
        .map(|w| Sealed {
            id: w.id,
            first_seq: w.first_seq,
            next_seq: w.next_seq,
            end: w.end,
            size: w.size,
            readable: w.readable,
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

/// Opens the last segment for appends: zero-fills a torn tail and marks the cut
/// durable, and syncs what the previous process may have left in the page cache.
fn reopen(
    storage: &dyn Storage,
    log: LogId,
    last: &Walked,
    capacity: u64,
    report: &mut OpenReport,
) -> Result<Active> {
    let name = last.id.file_name();
    let desc = &last.file;
    let file = storage
        .open(&name, Some(capacity))
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
    // Records read back may still be only in the page cache (the previous process
    // crashed before syncing): make them durable before anyone acts on them.
    file.sync(0, dirty_end)
        .map_err(|e| Error::io("sync", desc.clone(), e))?;
    let (mut end, mut unmarked) = (last.end, last.unmarked);
    if last.torn.is_some() && end + MIN_RECORD <= file.size() {
        // Damage before the cut may have been judged corruption (and salvaged) on the
        // strength of marks the zero-fill just erased: a durable marker, written once
        // the zero-fill is durable, keeps that verdict for every later open (and says
        // truly that all before it is durable now).
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
            .map_err(|e| Error::io("sync", desc.clone(), e))?;
        end += MIN_RECORD;
        unmarked = false;
    }
    Ok(Active::new(
        log,
        last.id,
        last.first_seq,
        file,
        end,
        unmarked,
    ))
}

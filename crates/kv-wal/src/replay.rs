//! [`Replay`]: reading records back in order across segments, with `pread`.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::codec::Seed;
use crate::scan::{Found, Scanner};
use crate::segment::read_prefix_into;
use crate::storage::{SegmentFile, Storage};
use crate::{Error, LogId, Record, RecoveryMode, Result, SegmentId, Seq};

/// An iterator over the records of a log from a sequence number on, from
/// [`Wal::replay_from`](crate::Wal::replay_from). It stops after the first error.
#[derive(Debug)]
pub struct Replay {
    storage: Arc<dyn Storage>,
    log: LogId,
    mode: RecoveryMode,
    covered: Seq,
    from: Seq,
    plan: VecDeque<Planned>,
    current: Option<(SegmentId, Scanner)>,
    /// The bytes of the segment being read (reused from segment to segment).
    bytes: Vec<u8>,
    failed: bool,
}

#[derive(Debug)]
struct Planned {
    id: SegmentId,
    first_seq: Seq,
    end: u64,
    file: Arc<dyn SegmentFile>,
}

impl Replay {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        log: LogId,
        mode: RecoveryMode,
        covered: Seq,
        from: Seq,
        plan: Vec<(SegmentId, Seq, u64, Arc<dyn SegmentFile>)>,
    ) -> Replay {
        Replay {
            storage,
            log,
            mode,
            covered,
            from,
            plan: plan
                .into_iter()
                .map(|(id, first_seq, end, file)| Planned {
                    id,
                    first_seq,
                    end,
                    file,
                })
                .collect(),
            current: None,
            bytes: Vec::new(),
            failed: false,
        }
    }

    /// The next record at or above `from` with the segment and offset it was read at.
    pub(crate) fn next_found(&mut self) -> Option<Result<(SegmentId, u64, Record)>> {
        loop {
            if self.failed {
                return None;
            }
            if let Some((id, scanner)) = &mut self.current {
                match scanner.next(&self.bytes) {
                    Some(Ok(Found {
                        offset,
                        record: Some(record),
                        ..
                    })) => return Some(Ok((*id, offset, record))),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => {
                        self.failed = true;
                        return Some(Err(e));
                    }
                    None => self.current = None,
                }
            }
            let seg = self.plan.pop_front()?;
            let name = seg.id.file_name();
            if let Err(e) =
                read_prefix_into(&*self.storage, &name, &*seg.file, seg.end, &mut self.bytes)
            {
                self.failed = true;
                return Some(Err(e));
            }
            // Read each segment as recovery did: only the active one (planned last)
            // may end in a power-loss hole; a hole salvage skipped in a sealed one, or
            // damage a snapshot covers, is skipped again.
            let is_active = self.plan.is_empty();
            let scanner = Scanner::new(
                self.storage.describe(&name),
                Seed::new(self.log, seg.id),
                self.mode,
                is_active,
                seg.first_seq,
            )
            .covered(self.covered)
            .skip_below(self.from);
            self.current = Some((seg.id, scanner));
        }
    }
}

impl Iterator for Replay {
    type Item = Result<Record, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_found()?.map(|(_, _, record)| record))
    }
}

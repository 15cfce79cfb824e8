//! [`Wal`]: opening, appending, rotating, syncing, truncating and closing a log.

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::codec::{encode, encode_marker, framed_len, MIN_RECORD};
use crate::commit::{Commit, Flushed};
use crate::fs::FsStorage;
use crate::header::HEADER_LEN;
use crate::interval::IntervalSyncThread;
use crate::recovery::recover;
use crate::replay::Replay;
use crate::segment::{self, Active, CreateError, Sealed};
use crate::storage::Storage;
use crate::{
    Error, LogId, Op, OpenReport, RecoveryMode, Result, Seq, SyncPolicy, WalOptions, WalStats,
};

/// A segmented write-ahead log. Thread-safe: share it (`&Wal` or `Arc<Wal>`) between
/// appenders.
///
/// See the [crate documentation](crate) for an example.
#[derive(Debug)]
pub struct Wal {
    shared: Arc<Shared>,
    /// The thread of [`SyncPolicy::Interval`], while it runs.
    interval: Mutex<Option<IntervalSyncThread>>,
}

/// What appenders, the interval sync thread and replays share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) segment_size: u64,
    pub(crate) mode: RecoveryMode,
    /// [`WalOptions::covered_through`]: replay skips damage recovery tolerated.
    pub(crate) covered: Seq,
    pub(crate) policy: SyncPolicy,
    pub(crate) log: LogId,
    pub(crate) state: Mutex<State>,
    pub(crate) commit: Mutex<Commit>,
    /// Every record up to this sequence number is durable (raised by the leader).
    pub(crate) durable: AtomicU64,
    /// Waiters for the flush in progress (with `commit`).
    pub(crate) flushed: Flushed,
    /// Syncs of the active segment by group commit, for [`WalStats::syncs`].
    pub(crate) syncs: AtomicU64,
    pub(crate) poison: OnceLock<(&'static str, Arc<io::Error>)>,
    pub(crate) closed: AtomicBool,
}

/// The writer's position; appends hold this lock only while copying into the map.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) active: Active,
    pub(crate) sealed: VecDeque<Sealed>,
    pub(crate) next_seq: Seq,
    buf: Vec<u8>,
}

impl Wal {
    /// Opens the log in `dir` (created if missing), or creates a new one if `dir` holds
    /// no segment. Recovery scans every segment, validates headers and records,
    /// applies [`WalOptions::recovery`], zero-fills a torn tail so new records never
    /// follow garbage, and reports what it found.
    ///
    /// kv-wal takes no lock: the caller must make sure no other process opens the same
    /// directory (kv-store holds a lock file), and that nothing truncates its files.
    pub fn open(dir: impl AsRef<Path>, options: WalOptions) -> Result<(Wal, OpenReport)> {
        options.validate()?;
        let storage: Arc<dyn Storage> = match &options.storage {
            Some(s) => s.clone(),
            None => {
                let dir = dir.as_ref();
                Arc::new(
                    FsStorage::new(dir)
                        .map_err(|e| Error::io("create directory", dir.display().to_string(), e))?,
                )
            }
        };
        let rec = recover(&*storage, &options)?;
        let durable = rec.next_seq.prev();
        let shared = Arc::new(Shared {
            storage,
            segment_size: options.segment_size,
            mode: options.recovery,
            covered: options.covered_through,
            policy: options.sync,
            log: rec.log,
            state: Mutex::new(State {
                active: rec.active,
                sealed: rec.sealed.into(),
                next_seq: rec.next_seq,
                buf: Vec::with_capacity(256),
            }),
            commit: Mutex::new(Commit::default()),
            durable: AtomicU64::new(durable.0),
            flushed: Flushed::default(),
            syncs: AtomicU64::new(0),
            poison: OnceLock::new(),
            closed: AtomicBool::new(false),
        });
        let interval = match options.sync {
            SyncPolicy::Interval(every) => Some(
                IntervalSyncThread::start(shared.clone(), every)
                    .map_err(|e| Error::io("start the interval sync thread", "-", e))?,
            ),
            _ => None,
        };
        Ok((
            Wal {
                shared,
                interval: Mutex::new(interval),
            },
            rec.report,
        ))
    }

    /// Appends `op`, written at `timestamp_ms` (ms since the Unix epoch, kept with the
    /// record), and returns its sequence number once it is as durable as the
    /// [`SyncPolicy`] promises: with [`SyncPolicy::EveryWrite`], durable on return,
    /// sharing one flush with concurrent appenders.
    ///
    /// Errors: [`Error::RecordTooLarge`] if no segment could hold it,
    /// [`Error::Poisoned`] after a failed sync, [`Error::Closed`] after
    /// [`close`](Wal::close), or an I/O error creating the next segment (the record is
    /// then not written; earlier records are untouched).
    pub fn append(&self, op: &Op<'_>, timestamp_ms: u64) -> Result<Seq> {
        let seq = self.append_nowait(op, timestamp_ms)?;
        if self.shared.policy == SyncPolicy::EveryWrite {
            self.shared.wait_durable(seq)?;
        }
        Ok(seq)
    }

    /// Appends `op` as [`append`](Wal::append) does, but returns as soon as the record
    /// is in the log, whatever the [`SyncPolicy`]: a replay sees it, and a process
    /// crash keeps it, but it is durable only once a later sync covers it (a
    /// [`wait_durable`](Wal::wait_durable) for it or a later record, a
    /// [`sync`](Wal::sync), the interval sync thread, a rotation or a close).
    ///
    /// For acknowledging many writes with one flush: append each without waiting,
    /// then wait once for the last (a server does so per batch of requests, on a
    /// thread that may block).
    ///
    /// ```
    /// # fn main() -> Result<(), kv_wal::Error> {
    /// # let dir = std::env::temp_dir().join(format!("kv-wal-nowait-doc-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// use kv_wal::{Op, Wal, WalOptions};
    ///
    /// let (wal, _) = Wal::open(&dir, WalOptions::default().segment_size(1 << 16))?;
    /// let mut last = wal.durable_seq();
    /// for key in [b"a", b"b", b"c"] {
    ///     last = wal.append_nowait(&Op::Delete { key }, 1)?;
    /// }
    /// wal.wait_durable(last)?; // one flush for the three
    /// assert_eq!(wal.durable_seq(), last);
    /// # drop(wal);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok(()) }
    /// ```
    pub fn append_nowait(&self, op: &Op<'_>, timestamp_ms: u64) -> Result<Seq> {
        let sh = &*self.shared;
        if sh.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let framed = framed_len(op);
        let max = sh.segment_size - HEADER_LEN;
        if framed > max {
            return Err(Error::RecordTooLarge { size: framed, max });
        }
        let mut st = sh.state.lock();
        sh.check_poison()?;
        self.make_room(&mut st, framed)?;
        let seq = st.next_seq;
        if seq == Seq::EXHAUSTED {
            return Err(Error::SeqExhausted);
        }
        let State { active, buf, .. } = &mut *st;
        buf.clear();
        // The durable mark is a plain read under the lock already held: the flush
        // raises `synced` under this same lock once a sync has completed. It is at
        // most `pos`, below the segment size, so within a `u32` (were it not, 0 would
        // claim nothing, which recovery reads safely).
        let durable = u32::try_from(active.synced).unwrap_or(0);
        encode(op, seq, timestamp_ms, durable, &active.seed, buf);
        active
            .file
            .write_at(active.pos, buf)
            .map_err(|e| Error::io("write", sh.storage.describe(&active.id.file_name()), e))?;
        active.pos += framed;
        active.unmarked = true;
        st.next_seq = seq.next();
        Ok(seq)
    }

    /// Blocks until every record up to `seq` is durable, whatever the [`SyncPolicy`]:
    /// returns at once if it is already, else joins group commit (one flush serves
    /// every waiter, and covers every record appended when it starts).
    ///
    /// Errors: [`Error::Poisoned`] if a flush failed before `seq` was durable (this
    /// one or an earlier one), [`Error::NotAppended`] if no record `seq` was appended
    /// yet.
    pub fn wait_durable(&self, seq: Seq) -> Result<()> {
        let sh = &*self.shared;
        if sh.durable() >= seq {
            return Ok(());
        }
        let last = sh.state.lock().next_seq.prev();
        if seq > last {
            return Err(Error::NotAppended { seq, last });
        }
        sh.wait_durable(seq)
    }

    /// The sequence number up to which every record is known durable (that of the
    /// last record recovered, when nothing was flushed since opening).
    pub fn durable_seq(&self) -> Seq {
        self.shared.durable()
    }

    /// Makes room for `len` more bytes in the active segment: grows it, within the
    /// segment size, or rotates to the next one.
    fn make_room(&self, st: &mut State, len: u64) -> Result<()> {
        while st.active.pos + len > st.active.file.size() {
            let need = st.active.pos + len;
            if need > self.shared.segment_size {
                self.rotate(st)?;
            } else {
                self.grow(st, need)?;
            }
        }
        Ok(())
    }

    /// Grows the active segment to hold `need` bytes. Its new size is synced before a
    /// record goes there, so that a power loss cannot cut a file whose records a sync
    /// acknowledged. A full disk is an error, as for a rotation (the record is not
    /// written); a failed sync poisons the writer.
    fn grow(&self, st: &mut State, need: u64) -> Result<()> {
        let sh = &*self.shared;
        let a = &st.active;
        let old = a.file.size();
        let new = segment::grown_size(old, need, sh.segment_size);
        a.file
            .grow(new)
            .map_err(|e| Error::io("grow segment", sh.storage.describe(&a.id.file_name()), e))?;
        a.file
            .sync(old, new - old)
            .map_err(|e| sh.poison("sync of a grown segment", e))
    }

    /// Seals the active segment (flushing it completely, so only the last segment can
    /// ever have a torn tail) and creates the next one.
    fn rotate(&self, st: &mut State) -> Result<()> {
        let sh = &*self.shared;
        let a = &st.active;
        if a.pos > a.synced {
            a.file
                .sync(a.synced, a.pos - a.synced)
                .map_err(|e| sh.poison("sync", e))?;
        }
        let next = segment::create(
            &*sh.storage,
            sh.log,
            a.id.next(),
            st.next_seq,
            sh.segment_size,
        )
        .map_err(|e| match e {
            CreateError::Io(e) => e,
            CreateError::Sync(op, e) => sh.poison(op, e),
        })?;
        let old = std::mem::replace(&mut st.active, next);
        st.sealed.push_back(old.seal(st.next_seq));
        Ok(())
    }

    /// Makes every record appended so far durable (shares a flush with concurrent
    /// appenders). After a failure the writer is poisoned.
    pub fn sync(&self) -> Result<()> {
        let sh = &*self.shared;
        sh.check_poison()?;
        let upto = sh.state.lock().next_seq.prev();
        sh.wait_durable(upto)
    }

    /// The sequence number of the last record appended (or recovered). Before any
    /// record, one less than [`WalOptions::first_seq`] (so `Seq(0)` by default).
    pub fn last_seq(&self) -> Seq {
        self.shared.state.lock().next_seq.prev()
    }

    /// The log's identity (random, chosen when it was created).
    pub fn log_id(&self) -> LogId {
        self.shared.log
    }

    /// Reads every record with a sequence number at or above `from`, in order, across
    /// segments, with `pread` (not through the map). The replay sees the records
    /// appended before this call; segments it needs stay readable even if
    /// [`truncate_through`](Wal::truncate_through) removes them meanwhile.
    ///
    /// Records below the oldest segment were truncated: compare `from` with
    /// [`WalStats::first_seq`] if that matters.
    pub fn replay_from(&self, from: Seq) -> Result<Replay> {
        let sh = &self.shared;
        let st = sh.state.lock();
        let mut plan = Vec::new();
        for s in &st.sealed {
            if s.next_seq <= from || !s.readable {
                continue;
            }
            let name = s.id.file_name();
            let file = sh
                .storage
                .open(&name, None)
                .map_err(|e| Error::io("open", sh.storage.describe(&name), e))?;
            plan.push((s.id, s.first_seq, s.end, file));
        }
        let a = &st.active;
        plan.push((a.id, a.first_seq, a.pos, a.file.clone()));
        Ok(Replay::new(
            sh.storage.clone(),
            sh.log,
            sh.mode,
            sh.covered,
            from,
            plan,
        ))
    }

    /// Removes every segment whose records all have sequence numbers at or below
    /// `seq` (once a snapshot covers them), oldest first; never the active segment.
    /// Returns how many segments were removed.
    pub fn truncate_through(&self, seq: Seq) -> Result<usize> {
        let sh = &*self.shared;
        if sh.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let mut st = sh.state.lock();
        let mut removed = 0;
        while let Some(front) = st.sealed.front() {
            if front.next_seq.prev() > seq {
                break;
            }
            let name = front.id.file_name();
            sh.storage
                .remove(&name)
                .map_err(|e| Error::io("remove segment", sh.storage.describe(&name), e))?;
            st.sealed.pop_front();
            removed += 1;
        }
        if removed > 0 {
            sh.storage
                .sync_dir()
                .map_err(|e| sh.poison("directory sync", e))?;
        }
        Ok(removed)
    }

    /// The log's shape now.
    pub fn stats(&self) -> WalStats {
        let sh = &*self.shared;
        let durable_seq = sh.durable();
        let st = sh.state.lock();
        let first = st
            .sealed
            .front()
            .map_or(st.active.first_seq, |s| s.first_seq);
        let any = st.next_seq > first;
        WalStats {
            segments: st.sealed.len() + 1,
            bytes: st.sealed.iter().map(|s| s.end).sum::<u64>() + st.active.pos,
            allocated_bytes: st.sealed.iter().map(|s| s.size).sum::<u64>() + st.active.file.size(),
            first_seq: any.then_some(first),
            last_seq: any.then(|| st.next_seq.prev()),
            durable_seq,
            syncs: sh.syncs.load(Ordering::Relaxed),
            poisoned: sh.poison.get().is_some(),
        }
    }

    /// Flushes everything appended, stops the interval sync thread, and refuses later
    /// appends with [`Error::Closed`]. Closing twice is fine. Dropping a `Wal` without
    /// closing it stops the thread but does not flush.
    ///
    /// After the flush it writes and syncs a durable marker (a record of no operation,
    /// never replayed) saying everything before it is durable: damage found there later
    /// is then corruption, never taken for writes a power loss dropped.
    pub fn close(&self) -> Result<()> {
        let sh = &*self.shared;
        let was_closed = sh.closed.swap(true, Ordering::AcqRel);
        if let Some(f) = self.interval.lock().take() {
            f.stop();
        }
        if was_closed {
            return Ok(());
        }
        sh.check_poison()?;
        let upto = sh.state.lock().next_seq.prev();
        sh.wait_durable(upto)?;
        self.mark_durable()
    }

    /// Writes and syncs a durable marker at the end of the active segment, if records
    /// were written there since its last one and it has room for one (a full segment
    /// goes without: its records keep the marks they carry).
    fn mark_durable(&self) -> Result<()> {
        let sh = &*self.shared;
        let mut st = sh.state.lock();
        sh.check_poison()?;
        let at = st.active.pos;
        let size = st.active.file.size();
        if !st.active.unmarked || at + MIN_RECORD > sh.segment_size.max(size) {
            return Ok(());
        }
        if at + MIN_RECORD > size {
            match self.grow(&mut st, at + MIN_RECORD) {
                Ok(()) => {}
                // No room on the disk: the records keep the marks they carry.
                Err(Error::Io { .. }) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        let State {
            active,
            buf,
            next_seq,
            ..
        } = &mut *st;
        buf.clear();
        // `synced` is at most `at`, within a `u32` as for records.
        let durable = u32::try_from(active.synced).unwrap_or(0);
        encode_marker(next_seq.prev(), durable, &active.seed, buf);
        let name = active.id.file_name();
        active
            .file
            .write_at(at, buf)
            .map_err(|e| Error::io("write", sh.storage.describe(&name), e))?;
        active.pos += MIN_RECORD;
        active
            .file
            .sync(at, MIN_RECORD)
            .map_err(|e| sh.poison("sync", e))?;
        if active.synced == at {
            active.synced = active.pos;
        }
        active.unmarked = false;
        Ok(())
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if let Some(f) = self.interval.get_mut().take() {
            f.stop();
        }
    }
}

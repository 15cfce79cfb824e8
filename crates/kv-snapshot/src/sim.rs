//! `SimIo` (cargo feature `sim`): a [`SnapshotIo`] over the real file system that
//! injects failures and simulates a crash with power loss, for crash-consistency tests.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::io::{RealIo, SnapshotIo, TempFile};

/// The operations of the seam, as [`SimIo`] counts and logs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SimOp {
    /// [`SnapshotIo::create_temp`].
    CreateTemp,
    /// [`TempFile::write_all`] or [`TempFile::write_all_at`].
    Write,
    /// [`TempFile::sync_all`] (fsync of a file).
    Sync,
    /// [`SnapshotIo::rename`].
    Rename,
    /// [`SnapshotIo::sync_dir`].
    SyncDir,
    /// [`SnapshotIo::remove`].
    Remove,
    /// [`SnapshotIo::list`] (not a step: it changes nothing).
    List,
}

/// An injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// `ENOSPC`. On a write, the first half of the buffer is written before it fails.
    NoSpace,
    /// `EIO`, nothing done.
    Eio,
}

impl Fault {
    fn error(self) -> io::Error {
        match self {
            Fault::NoSpace => io::Error::from_raw_os_error(libc::ENOSPC),
            Fault::Eio => io::Error::from_raw_os_error(libc::EIO),
        }
    }
}

#[derive(Debug)]
struct PendingFault {
    op: SimOp,
    /// Operations of this kind still to let through before failing.
    skip: usize,
    fault: Fault,
}

#[derive(Debug, Default, Clone, Copy)]
struct Tracked {
    len: u64,
    synced_len: u64,
}

#[derive(Debug, Default)]
struct State {
    steps: usize,
    crash_after: Option<usize>,
    crashed: bool,
    faults: Vec<PendingFault>,
    log: Vec<(SimOp, PathBuf)>,
    files: HashMap<PathBuf, Tracked>,
    /// Renames not yet made durable by a directory fsync: (from, to).
    unsynced_renames: Vec<(PathBuf, PathBuf)>,
}

/// A [`SnapshotIo`] that runs the real operations but can fail chosen ones and
/// simulate a crash.
///
/// - [`fail`](Self::fail) makes the n-th next operation of a kind fail with a [`Fault`]
///   (a failed fsync, a failed rename, ENOSPC on a write, …).
/// - [`crash_after`](Self::crash_after) lets that many more *steps* (every operation
///   but `List`) succeed; from then on every operation fails, as if the process died.
///   [`power_loss`](Self::power_loss) then applies to the files what a power cut may
///   lose, pessimistically: data appended to a file after its last fsync is cut off,
///   and renames not followed by an fsync of their directory are undone. (Overwrites
///   inside the fsynced range and removals are kept; the writer does neither in a way
///   that matters here.)
///
/// Clones share one state, so a test keeps a clone to steer the one it hands over.
#[derive(Debug, Clone, Default)]
pub struct SimIo {
    state: Arc<Mutex<State>>,
}

impl SimIo {
    /// A simulator with no faults planned.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fails the `nth` (0-based) next operation of kind `op` with `fault`.
    pub fn fail(&self, op: SimOp, nth: usize, fault: Fault) {
        self.lock().faults.push(PendingFault {
            op,
            skip: nth,
            fault,
        });
    }

    /// Lets `steps` more steps succeed, then fails everything: a crash.
    pub fn crash_after(&self, steps: usize) {
        let mut s = self.lock();
        s.crash_after = Some(s.steps + steps);
    }

    /// Whether the simulated crash has happened.
    pub fn is_crashed(&self) -> bool {
        self.lock().crashed
    }

    /// Steps done so far.
    pub fn steps(&self) -> usize {
        self.lock().steps
    }

    /// Every operation attempted, in order, with the path it was applied to.
    pub fn log(&self) -> Vec<(SimOp, PathBuf)> {
        self.lock().log.clone()
    }

    /// Applies a power cut to the real files (see the type's documentation), then
    /// clears the crash and every planned fault, like a machine that rebooted.
    pub fn power_loss(&self) -> io::Result<()> {
        let mut s = self.lock();
        while let Some((from, to)) = s.unsynced_renames.pop() {
            if to.exists() {
                std::fs::rename(&to, &from)?;
            }
            if let Some(t) = s.files.remove(&to) {
                s.files.insert(from, t);
            }
        }
        for (path, t) in &s.files {
            if path.exists() && t.synced_len < t.len {
                OpenOptions::new()
                    .write(true)
                    .open(path)?
                    .set_len(t.synced_len)?;
            }
        }
        *s = State::default();
        Ok(())
    }

    /// Records `op` and decides whether it may run.
    fn begin(&self, op: SimOp, path: &Path) -> Result<(), io::Error> {
        let mut s = self.lock();
        s.log.push((op, path.to_path_buf()));
        if s.crashed {
            return Err(crashed());
        }
        if op != SimOp::List && s.crash_after == Some(s.steps) {
            s.crashed = true;
            return Err(crashed());
        }
        if let Some(i) = s.faults.iter().position(|f| f.op == op) {
            if s.faults[i].skip == 0 {
                let f = s.faults.remove(i);
                return Err(f.fault.error());
            }
            s.faults[i].skip -= 1;
        }
        Ok(())
    }

    fn done(&self) {
        self.lock().steps += 1;
    }
}

fn crashed() -> io::Error {
    io::Error::other("simulated crash: the process is gone")
}

struct SimFile {
    sim: SimIo,
    path: PathBuf,
    inner: Box<dyn TempFile>,
}

impl SimFile {
    fn grow(&self, end: u64) {
        let mut s = self.sim.lock();
        let t = s.files.entry(self.path.clone()).or_default();
        t.len = t.len.max(end);
    }

    fn len(&self) -> u64 {
        self.sim.lock().files.get(&self.path).map_or(0, |t| t.len)
    }
}

impl TempFile for SimFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let start = self.len();
        if let Err(e) = self.sim.begin(SimOp::Write, &self.path) {
            if e.raw_os_error() == Some(libc::ENOSPC) {
                let half = &buf[..buf.len() / 2];
                self.inner.write_all(half)?;
                self.grow(start + half.len() as u64);
            }
            return Err(e);
        }
        self.inner.write_all(buf)?;
        self.grow(start + buf.len() as u64);
        self.sim.done();
        Ok(())
    }

    fn write_all_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.sim.begin(SimOp::Write, &self.path)?;
        self.inner.write_all_at(offset, buf)?;
        self.grow(offset + buf.len() as u64);
        self.sim.done();
        Ok(())
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.sim.begin(SimOp::Sync, &self.path)?;
        self.inner.sync_all()?;
        {
            let mut s = self.sim.lock();
            let t = s.files.entry(self.path.clone()).or_default();
            t.synced_len = t.len;
        }
        self.sim.done();
        Ok(())
    }
}

impl SnapshotIo for SimIo {
    fn create_temp(&self, path: &Path) -> io::Result<Box<dyn TempFile>> {
        self.begin(SimOp::CreateTemp, path)?;
        let inner = RealIo.create_temp(path)?;
        self.lock()
            .files
            .insert(path.to_path_buf(), Tracked::default());
        self.done();
        Ok(Box::new(SimFile {
            sim: self.clone(),
            path: path.to_path_buf(),
            inner,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.begin(SimOp::Rename, from)?;
        RealIo.rename(from, to)?;
        {
            let mut s = self.lock();
            if let Some(t) = s.files.remove(from) {
                s.files.insert(to.to_path_buf(), t);
            }
            s.unsynced_renames
                .push((from.to_path_buf(), to.to_path_buf()));
        }
        self.done();
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.begin(SimOp::SyncDir, dir)?;
        RealIo.sync_dir(dir)?;
        self.lock()
            .unsynced_renames
            .retain(|(_, to)| to.parent() != Some(dir));
        self.done();
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.begin(SimOp::Remove, path)?;
        RealIo.remove(path)?;
        self.lock().files.remove(path);
        self.done();
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.begin(SimOp::List, dir)?;
        RealIo.list(dir)
    }
}

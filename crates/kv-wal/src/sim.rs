//! An in-memory disk for tests: injects faults and produces the disk a crash would
//! leave, where only synced bytes are sure to survive.
#![cfg_attr(not(feature = "sim"), allow(unreachable_pub, dead_code))]

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::storage::{out_of_bounds, SegmentFile, Storage};

/// A fault [`SimStorage`] injects. Counts start from the moment of injection: `nth: 1`
/// is the next such operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The `nth` file creation fails with ENOSPC (disk full), leaving the file behind,
    /// empty, as a real file system does when `fallocate` fails after the file was
    /// created.
    NoSpaceOnCreate {
        /// Which creation, counting from 1.
        nth: u64,
    },
    /// The `nth` sync (of a file or of the directory) fails with EIO, and like Linux
    /// after a failed fsync, the bytes it should have made durable are dropped from
    /// the write-back queue: they stay readable but a crash loses them.
    SyncFails {
        /// Which sync, counting from 1.
        nth: u64,
    },
    /// The `nth` rename fails with EIO and changes nothing.
    RenameFails {
        /// Which rename, counting from 1.
        nth: u64,
    },
    /// The `nth` growth of a file ([`SegmentFile::grow`]) fails with ENOSPC and
    /// changes nothing.
    NoSpaceOnGrow {
        /// Which growth, counting from 1.
        nth: u64,
    },
}

/// What happens to bytes written but not yet synced when [`SimStorage::crash`] is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CrashMode {
    /// They are all lost.
    DropUnsynced,
    /// They all reached the disk.
    KeepUnsynced,
    /// The first `n` of them, in the order they were written, reached the disk; the
    /// rest did not (a write torn at any byte boundary).
    TornAfter(u64),
    /// Write-back in any order, as the page cache does it: each `block`-aligned block
    /// of a file (a sector or a page) independently reached the disk as it was after
    /// some prefix of the unsynced writes to it, chosen at random from `seed` (from
    /// none of them to all). A later block can so survive while an earlier one is
    /// lost. Blocks are whole: never torn inside (`block` 0 counts as 1).
    Scrambled {
        /// Picks which prefix each block keeps; the same seed gives the same disk.
        seed: u64,
        /// The block size in bytes.
        block: u64,
    },
}

/// A 64-bit mix of `x` (splitmix64's finalizer): the simulator's only randomness.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[derive(Debug, Default)]
struct Inode {
    data: Vec<u8>,
    /// What a crash leaves; `None` until the first sync (the file's size is not durable).
    durable: Option<Vec<u8>>,
}

#[derive(Debug)]
struct Pending {
    inode: usize,
    offset: u64,
    data: Vec<u8>,
}

#[derive(Debug, Default)]
struct Disk {
    inodes: Vec<Inode>,
    names: BTreeMap<String, usize>,
    durable_names: BTreeMap<String, usize>,
    /// Unsynced writes, oldest first.
    pending: Vec<Pending>,
    faults: Vec<(Fault, u64)>,
    creates: u64,
    syncs: u64,
    renames: u64,
    grows: u64,
    sync_latency: std::time::Duration,
}

impl Disk {
    /// Whether an injected fault fires for this operation (kind given by `matches`).
    fn fires(&mut self, count: u64, matches: impl Fn(&Fault) -> bool) -> bool {
        let hit = self
            .faults
            .iter()
            .position(|(f, base)| matches(f) && fault_nth(f) + base == count);
        if let Some(i) = hit {
            self.faults.remove(i);
            true
        } else {
            false
        }
    }

    /// Applies (or, if `lose`, drops) the pending writes of `inode` that fall in
    /// `offset..offset + len`.
    fn settle(&mut self, inode: usize, offset: u64, len: u64, lose: bool) {
        let end = offset.saturating_add(len);
        let size = self.inodes[inode].data.len();
        let mut durable = self.inodes[inode].durable.take().unwrap_or_default();
        // Any sync makes the file's size durable (a grown file's zeros included).
        durable.resize(size, 0);
        let mut keep = Vec::with_capacity(self.pending.len());
        for p in std::mem::take(&mut self.pending) {
            let p_end = p.offset + p.data.len() as u64;
            if p.inode != inode || p_end <= offset || p.offset >= end {
                keep.push(p);
                continue;
            }
            let lo = p.offset.max(offset);
            let hi = p_end.min(end);
            if !lose {
                let src = &p.data[(lo - p.offset) as usize..(hi - p.offset) as usize];
                durable[lo as usize..hi as usize].copy_from_slice(src);
            }
            if p.offset < lo {
                keep.push(Pending {
                    inode,
                    offset: p.offset,
                    data: p.data[..(lo - p.offset) as usize].to_vec(),
                });
            }
            if hi < p_end {
                keep.push(Pending {
                    inode,
                    offset: hi,
                    data: p.data[(hi - p.offset) as usize..].to_vec(),
                });
            }
        }
        self.pending = keep;
        self.inodes[inode].durable = Some(durable);
    }
}

impl Disk {
    /// Applies to `inodes` (the durable contents) what [`CrashMode::Scrambled`] keeps
    /// of the pending writes.
    fn scramble(&self, inodes: &mut [Inode], seed: u64, block: u64) {
        // Blocks touched by each pending write, in write order.
        let blocks = |p: &Pending| {
            let (inode, end) = (p.inode, p.offset + p.data.len() as u64);
            (p.offset / block..end.div_ceil(block)).map(move |b| (inode, b))
        };
        let mut writes: BTreeMap<(usize, u64), u64> = BTreeMap::new();
        for p in &self.pending {
            for key in blocks(p) {
                *writes.entry(key).or_default() += 1;
            }
        }
        // How many of its writes each block keeps: 0..=all.
        let kept: BTreeMap<(usize, u64), u64> = writes
            .into_iter()
            .map(|((inode, b), n)| {
                let r = mix(seed ^ mix((inode as u64) << 48 ^ b));
                ((inode, b), r % (n + 1))
            })
            .collect();
        let mut seen: BTreeMap<(usize, u64), u64> = BTreeMap::new();
        for p in &self.pending {
            if self.inodes[p.inode].durable.is_none() {
                continue; // the file's size never reached the disk
            }
            let end = p.offset + p.data.len() as u64;
            for key @ (inode, b) in blocks(p) {
                let nth = seen.entry(key).or_default();
                *nth += 1;
                if *nth > kept[&key] {
                    continue;
                }
                let node = &mut inodes[inode];
                // Bytes past the durable size are lost with the size.
                let lo = (b * block).max(p.offset);
                let hi = ((b + 1) * block).min(end).min(node.data.len() as u64);
                if lo >= hi {
                    continue;
                }
                let src = &p.data[(lo - p.offset) as usize..(hi - p.offset) as usize];
                node.data[lo as usize..hi as usize].copy_from_slice(src);
            }
        }
        for node in inodes.iter_mut() {
            node.durable = Some(node.data.clone());
        }
    }
}

fn fault_nth(f: &Fault) -> u64 {
    match *f {
        Fault::NoSpaceOnCreate { nth }
        | Fault::SyncFails { nth }
        | Fault::RenameFails { nth }
        | Fault::NoSpaceOnGrow { nth } => nth,
    }
}

/// A simulated directory in memory, shareable (`Clone` shares the same disk).
#[derive(Clone, Debug, Default)]
pub struct SimStorage {
    disk: Arc<Mutex<Disk>>,
}

impl SimStorage {
    /// An empty disk.
    pub fn new() -> SimStorage {
        SimStorage::default()
    }

    /// Arms a fault.
    pub fn inject(&self, fault: Fault) {
        let mut d = self.disk.lock();
        let base = match fault {
            Fault::NoSpaceOnCreate { .. } => d.creates,
            Fault::SyncFails { .. } => d.syncs,
            Fault::RenameFails { .. } => d.renames,
            Fault::NoSpaceOnGrow { .. } => d.grows,
        };
        d.faults.push((fault, base));
    }

    /// The disk a power loss would leave now: only durable names and synced bytes, plus
    /// the unsynced bytes `mode` keeps. The result is a separate disk with no faults
    /// armed; handles on this one keep writing to this one.
    pub fn crash(&self, mode: CrashMode) -> SimStorage {
        let d = self.disk.lock();
        let mut inodes: Vec<Inode> = d
            .inodes
            .iter()
            .map(|i| {
                let data = i.durable.clone().unwrap_or_default();
                Inode {
                    durable: Some(data.clone()),
                    data,
                }
            })
            .collect();
        let mut budget = match mode {
            CrashMode::DropUnsynced => 0,
            CrashMode::KeepUnsynced => u64::MAX,
            CrashMode::TornAfter(n) => n,
            CrashMode::Scrambled { seed, block } => {
                d.scramble(&mut inodes, seed, block.max(1));
                0
            }
        };
        for p in &d.pending {
            if budget == 0 {
                break;
            }
            let take = (p.data.len() as u64).min(budget) as usize;
            budget -= take as u64;
            if d.inodes[p.inode].durable.is_none() {
                continue; // the file's size never reached the disk
            }
            let node = &mut inodes[p.inode];
            // Bytes past the durable size are lost with the size.
            let at = (p.offset as usize).min(node.data.len());
            let take = take.min(node.data.len() - at);
            node.data[at..at + take].copy_from_slice(&p.data[..take]);
            node.durable = Some(node.data.clone());
        }
        SimStorage {
            disk: Arc::new(Mutex::new(Disk {
                inodes,
                names: d.durable_names.clone(),
                durable_names: d.durable_names.clone(),
                ..Disk::default()
            })),
        }
    }

    /// Writes a whole file, durably (name and bytes), replacing any file of that name.
    pub fn set_file(&self, name: &str, bytes: &[u8]) {
        let mut d = self.disk.lock();
        let inode = d.inodes.len();
        d.inodes.push(Inode {
            data: bytes.to_vec(),
            durable: Some(bytes.to_vec()),
        });
        d.names.insert(name.to_owned(), inode);
        d.durable_names.insert(name.to_owned(), inode);
    }

    /// The current bytes of a file (synced or not).
    pub fn file(&self, name: &str) -> Option<Vec<u8>> {
        let d = self.disk.lock();
        d.names.get(name).map(|&i| d.inodes[i].data.clone())
    }

    /// The names in the directory now, sorted.
    pub fn file_names(&self) -> Vec<String> {
        self.disk.lock().names.keys().cloned().collect()
    }

    /// How many syncs (of files and of the directory) were asked for so far.
    pub fn syncs(&self) -> u64 {
        self.disk.lock().syncs
    }

    /// Makes every file sync take `latency` (as a disk would), without holding up
    /// other operations meanwhile.
    pub fn set_sync_latency(&self, latency: std::time::Duration) {
        self.disk.lock().sync_latency = latency;
    }

    /// How many written bytes are not yet durable.
    pub fn unsynced_bytes(&self) -> u64 {
        self.disk
            .lock()
            .pending
            .iter()
            .map(|p| p.data.len() as u64)
            .sum()
    }

    fn handle(&self, inode: usize, writable: Option<u64>) -> Arc<dyn SegmentFile> {
        let size = self.disk.lock().inodes[inode].data.len() as u64;
        Arc::new(SimFile {
            disk: self.disk.clone(),
            inode,
            size: AtomicU64::new(size),
            capacity: writable,
        })
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no file `{name}`"))
}

impl Storage for SimStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.file_names())
    }

    fn create(&self, name: &str, len: u64, capacity: u64) -> io::Result<Arc<dyn SegmentFile>> {
        let inode = {
            let mut d = self.disk.lock();
            d.creates += 1;
            let n = d.creates;
            if d.names.contains_key(name) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("`{name}` exists"),
                ));
            }
            if d.fires(n, |f| matches!(f, Fault::NoSpaceOnCreate { .. })) {
                // The file was created; allocating its blocks failed.
                let inode = d.inodes.len();
                d.inodes.push(Inode::default());
                d.names.insert(name.to_owned(), inode);
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let len =
                usize::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::ENOSPC))?;
            let inode = d.inodes.len();
            d.inodes.push(Inode {
                data: vec![0; len],
                durable: None,
            });
            d.names.insert(name.to_owned(), inode);
            inode
        };
        Ok(self.handle(inode, Some(capacity)))
    }

    fn open(&self, name: &str, writable: Option<u64>) -> io::Result<Arc<dyn SegmentFile>> {
        let inode = *self
            .disk
            .lock()
            .names
            .get(name)
            .ok_or_else(|| not_found(name))?;
        Ok(self.handle(inode, writable))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut d = self.disk.lock();
        d.renames += 1;
        let n = d.renames;
        if d.fires(n, |f| matches!(f, Fault::RenameFails { .. })) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        let inode = d.names.remove(from).ok_or_else(|| not_found(from))?;
        d.names.insert(to.to_owned(), inode);
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.disk
            .lock()
            .names
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| not_found(name))
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut d = self.disk.lock();
        d.syncs += 1;
        let n = d.syncs;
        if d.fires(n, |f| matches!(f, Fault::SyncFails { .. })) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        d.durable_names = d.names.clone();
        Ok(())
    }

    fn describe(&self, file: &str) -> String {
        format!("sim:{file}")
    }
}

#[derive(Debug)]
struct SimFile {
    disk: Arc<Mutex<Disk>>,
    inode: usize,
    size: AtomicU64,
    /// How far it may grow; `None` when opened read-only.
    capacity: Option<u64>,
}

fn read_only() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, "opened read-only")
}

impl SegmentFile for SimFile {
    fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    fn grow(&self, len: u64) -> io::Result<()> {
        let capacity = self.capacity.ok_or_else(read_only)?;
        if len <= self.size() {
            return Ok(());
        }
        if len > capacity.max(self.size()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot grow past the capacity of {capacity} bytes"),
            ));
        }
        let mut d = self.disk.lock();
        d.grows += 1;
        let n = d.grows;
        if d.fires(n, |f| matches!(f, Fault::NoSpaceOnGrow { .. })) {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        let data = &mut d.inodes[self.inode].data;
        let len = usize::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::ENOSPC))?;
        if data.len() < len {
            data.resize(len, 0);
        }
        self.size.store(len as u64, Ordering::Release);
        Ok(())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let size = self.size();
        if offset.saturating_add(buf.len() as u64) > size {
            return Err(out_of_bounds(offset, buf.len(), size));
        }
        let d = self.disk.lock();
        let at = offset as usize;
        buf.copy_from_slice(&d.inodes[self.inode].data[at..at + buf.len()]);
        Ok(())
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        if self.capacity.is_none() {
            return Err(read_only());
        }
        let size = self.size();
        if offset.saturating_add(data.len() as u64) > size {
            return Err(out_of_bounds(offset, data.len(), size));
        }
        let mut d = self.disk.lock();
        let at = offset as usize;
        d.inodes[self.inode].data[at..at + data.len()].copy_from_slice(data);
        d.pending.push(Pending {
            inode: self.inode,
            offset,
            data: data.to_vec(),
        });
        Ok(())
    }

    fn sync(&self, offset: u64, len: u64) -> io::Result<()> {
        let latency = self.disk.lock().sync_latency;
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        let mut d = self.disk.lock();
        d.syncs += 1;
        let n = d.syncs;
        if d.fires(n, |f| matches!(f, Fault::SyncFails { .. })) {
            d.settle(self.inode, offset, len, true);
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        d.settle(self.inode, offset, len, false);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_synced_bytes_and_names_survive_a_crash() {
        let sim = SimStorage::new();
        let f = sim.create("a.tmp", 16, 16).unwrap();
        f.write_at(0, b"head").unwrap();
        f.sync(0, 16).unwrap();
        sim.rename("a.tmp", "a").unwrap();
        // The rename is not durable until the directory is synced.
        assert_eq!(
            sim.crash(CrashMode::KeepUnsynced).file_names(),
            Vec::<String>::new()
        );
        sim.sync_dir().unwrap();
        f.write_at(4, b"tail").unwrap();
        assert_eq!(sim.unsynced_bytes(), 4);
        let dropped = sim.crash(CrashMode::DropUnsynced).file("a").unwrap();
        assert_eq!(&dropped[..8], b"head\0\0\0\0");
        let kept = sim.crash(CrashMode::KeepUnsynced).file("a").unwrap();
        assert_eq!(&kept[..8], b"headtail");
        let torn = sim.crash(CrashMode::TornAfter(2)).file("a").unwrap();
        assert_eq!(&torn[..8], b"headta\0\0");
    }

    #[test]
    fn a_scrambled_crash_keeps_a_prefix_of_each_blocks_writes() {
        let sim = SimStorage::new();
        let f = sim.create("a", 64, 64).unwrap();
        f.sync(0, 64).unwrap();
        sim.sync_dir().unwrap();
        // Block 0 gets two writes (the second also fills block 1), block 2 none, and
        // block 3 a write that a later one partly overwrites.
        f.write_at(0, b"AAAA").unwrap();
        f.write_at(4, b"BBBBCCCCCCCC").unwrap();
        f.write_at(24, b"DDDDDDDD").unwrap();
        f.write_at(24, b"EEEE").unwrap();
        let mut outcomes = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let disk = sim.crash(CrashMode::Scrambled { seed, block: 8 });
            let b = disk.file("a").unwrap();
            assert_eq!(
                disk.file("a").unwrap(),
                sim.crash(CrashMode::Scrambled { seed, block: 8 })
                    .file("a")
                    .unwrap(),
                "the seed decides"
            );
            let block0 = &b[0..8];
            assert!(
                [&b"\0\0\0\0\0\0\0\0"[..], b"AAAA\0\0\0\0", b"AAAABBBB"].contains(&block0),
                "{block0:?}"
            );
            assert!([&b"\0\0\0\0\0\0\0\0"[..], b"CCCCCCCC"].contains(&&b[8..16]));
            assert_eq!(&b[16..24], &[0; 8]);
            let block3 = &b[24..32];
            assert!(
                [&b"\0\0\0\0\0\0\0\0"[..], b"DDDDDDDD", b"EEEEDDDD"].contains(&block3),
                "{block3:?}"
            );
            outcomes.insert(b[..32].to_vec());
            // A scrambled disk is settled: crashing it again changes nothing.
            assert_eq!(disk.crash(CrashMode::DropUnsynced).file("a"), Some(b));
        }
        // Later blocks survive without earlier ones, and every combination shows up.
        assert_eq!(outcomes.len(), 3 * 2 * 3);
    }

    #[test]
    fn a_failed_sync_loses_its_bytes_and_faults_fire_once() {
        let sim = SimStorage::new();
        let f = sim.create("a", 8, 8).unwrap();
        sim.sync_dir().unwrap();
        sim.inject(Fault::SyncFails { nth: 2 });
        f.sync(0, 8).unwrap();
        f.write_at(0, b"x").unwrap();
        assert!(f.sync(0, 8).is_err());
        f.sync(0, 8).unwrap();
        let mut b = [0; 1];
        f.read_at(0, &mut b).unwrap();
        assert_eq!(&b, b"x", "still readable");
        assert_eq!(sim.crash(CrashMode::KeepUnsynced).file("a").unwrap()[0], 0);

        sim.inject(Fault::NoSpaceOnCreate { nth: 1 });
        let err = sim.create("b", 8, 8).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        assert_eq!(sim.file("b"), Some(Vec::new()), "left behind, empty");
        sim.remove("b").unwrap();
        assert!(sim.create("b", 8, 8).is_ok());
        sim.inject(Fault::RenameFails { nth: 1 });
        assert!(sim.rename("b", "c").is_err());
        assert!(sim.rename("b", "c").is_ok());
    }
}

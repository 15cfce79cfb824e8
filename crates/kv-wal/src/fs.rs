//! The real storage: segment files in a directory, written through a memory map.
#![cfg_attr(not(feature = "sim"), allow(unreachable_pub))]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::mmap::{preallocate, MappedFile};
use crate::storage::{out_of_bounds, SegmentFile, Storage};

/// Segment files in a real directory: created and grown with `posix_fallocate`,
/// written through a shared memory map of their capacity, synced with `msync`, read
/// with `pread`, the directory fsynced.
#[derive(Debug, Clone)]
pub struct FsStorage {
    dir: PathBuf,
}

impl FsStorage {
    /// Storage in `dir`, created if missing.
    pub fn new(dir: impl AsRef<Path>) -> io::Result<FsStorage> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        Ok(FsStorage { dir })
    }

    /// Storage in `dir`, which is not created: for reading a log without changing
    /// anything (listing a missing directory is then an error).
    pub(crate) fn existing(dir: &Path) -> FsStorage {
        FsStorage {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

#[derive(Debug)]
struct FsFile {
    file: File,
    /// The size when opened read-only (a mapped file knows its own).
    size: u64,
    map: Option<MappedFile>,
}

impl SegmentFile for FsFile {
    fn size(&self) -> u64 {
        self.map.as_ref().map_or(self.size, MappedFile::len)
    }

    fn grow(&self, len: u64) -> io::Result<()> {
        match &self.map {
            Some(map) => map.grow(&self.file, len),
            None => Err(read_only()),
        }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let size = self.size();
        if offset.saturating_add(buf.len() as u64) > size {
            return Err(out_of_bounds(offset, buf.len(), size));
        }
        self.file.read_exact_at(buf, offset)
    }

    fn zeros_from(&self) -> u64 {
        // A hole reads as zeros by contract (the page cache is consulted, so pages
        // written through the map and not yet on disk count as data). Any error, or a
        // file system without holes, gives the size: everything is read.
        match rustix::fs::seek(&self.file, rustix::fs::SeekFrom::Hole(0)) {
            Ok(hole) => hole.min(self.size()),
            Err(_) => self.size(),
        }
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        match &self.map {
            Some(map) => map.write_at(offset, data),
            None => Err(read_only()),
        }
    }

    fn sync(&self, offset: u64, len: u64) -> io::Result<()> {
        match &self.map {
            Some(map) => map.flush(offset, len),
            None => self.file.sync_data(),
        }
    }
}

fn read_only() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, "segment opened read-only")
}

impl FsFile {
    fn writable(file: File, capacity: u64) -> io::Result<FsFile> {
        let map = MappedFile::new(&file, capacity)?;
        Ok(FsFile {
            size: 0,
            file,
            map: Some(map),
        })
    }
}

impl Storage for FsStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn create(&self, name: &str, len: u64, capacity: u64) -> io::Result<Arc<dyn SegmentFile>> {
        let path = self.path(name);
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create_new(true);
        // Segments hold the users' data: owner-only, like the rest of the directory.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(&path)?;
        preallocate(&file, len)?;
        Ok(Arc::new(FsFile::writable(file, capacity)?))
    }

    fn open(&self, name: &str, writable: Option<u64>) -> io::Result<Arc<dyn SegmentFile>> {
        let path = self.path(name);
        if let Some(capacity) = writable {
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            Ok(Arc::new(FsFile::writable(file, capacity)?))
        } else {
            let file = File::open(&path)?;
            let size = file.metadata()?.len();
            Ok(Arc::new(FsFile {
                file,
                size,
                map: None,
            }))
        }
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        std::fs::rename(self.path(from), self.path(to))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        std::fs::remove_file(self.path(name))
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    fn describe(&self, file: &str) -> String {
        self.path(file).display().to_string()
    }
}

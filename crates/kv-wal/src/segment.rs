//! Segment files: creating one atomically, reading one back, and what the log keeps
//! about each.

use std::io;
use std::sync::Arc;

use crate::codec::Seed;
use crate::header::{Header, HEADER_LEN};
use crate::storage::{SegmentFile, Storage};
use crate::{Error, LogId, SegmentId, Seq};

/// A segment the log holds that is no longer written.
#[derive(Clone, Debug)]
pub(crate) struct Sealed {
    pub(crate) id: SegmentId,
    pub(crate) first_seq: Seq,
    /// The sequence number after its last record.
    pub(crate) next_seq: Seq,
    /// The offset after its last record.
    pub(crate) end: u64,
    pub(crate) size: u64,
    /// False for a segment whose header is unusable, kept only because a snapshot
    /// covers every record it held (until a truncation removes it): replay skips it.
    pub(crate) readable: bool,
}

/// The segment appends go to.
#[derive(Debug)]
pub(crate) struct Active {
    pub(crate) id: SegmentId,
    pub(crate) first_seq: Seq,
    pub(crate) file: Arc<dyn SegmentFile>,
    pub(crate) seed: Seed,
    /// Where the next record goes.
    pub(crate) pos: u64,
    /// Everything below this offset is durable: raised (under the writer's lock) only
    /// after a sync completed. Each record carries its value at append time.
    pub(crate) synced: u64,
    /// Whether records were written since the segment's last durable marker (or, for a
    /// recovered segment, whether it holds records and does not end with one): a
    /// clean close then writes a marker.
    pub(crate) unmarked: bool,
}

impl Active {
    pub(crate) fn new(
        log: LogId,
        id: SegmentId,
        first_seq: Seq,
        file: Arc<dyn SegmentFile>,
        pos: u64,
        unmarked: bool,
    ) -> Active {
        Active {
            id,
            first_seq,
            file,
            seed: Seed::new(log, id),
            pos,
            synced: pos,
            unmarked,
        }
    }

    pub(crate) fn seal(&self, next_seq: Seq) -> Sealed {
        Sealed {
            id: self.id,
            first_seq: self.first_seq,
            next_seq,
            end: self.pos,
            size: self.file.size(),
            readable: true,
        }
    }
}

/// The size a new segment file starts at (or the segment size, if smaller): a log
/// holding little takes little room on disk and opens fast. It grows as records
/// arrive ([`grown_size`]), up to the segment size.
pub(crate) const INITIAL_SIZE: u64 = 64 << 10;

/// The size to grow a segment file of `size` bytes to so that it holds `need` bytes:
/// double, and at least `need` rounded up to 4 KiB, but at most `capacity`. Doubling
/// keeps the growths few (ten from 64 KiB to 64 MiB), each an allocation and a sync.
pub(crate) fn grown_size(size: u64, need: u64, capacity: u64) -> u64 {
    const PAGE: u64 = 4096;
    need.div_ceil(PAGE)
        .saturating_mul(PAGE)
        .max(size.saturating_mul(2))
        .min(capacity)
}

/// Why creating a segment failed: a sync failure must poison the writer.
#[derive(Debug)]
pub(crate) enum CreateError {
    /// Creating, preallocating, writing or renaming failed; nothing was acknowledged
    /// on the strength of it, so the writer may try again.
    Io(Error),
    /// A sync failed.
    Sync(&'static str, io::Error),
}

/// Creates segment `id` atomically, growable up to `capacity` bytes: `wal-N.log.tmp`
/// is created with the blocks of its [`INITIAL_SIZE`] allocated, the header written and
/// synced, renamed to `wal-N.log`, and the directory synced. On any error before the rename the temporary file is removed (a file system
/// that cannot allocate the blocks leaves it behind, empty), and a temporary file left
/// by an earlier attempt is removed first: a full disk fails this creation, never a
/// later one.
pub(crate) fn create(
    storage: &dyn Storage,
    log: LogId,
    id: SegmentId,
    first_seq: Seq,
    capacity: u64,
) -> Result<Active, CreateError> {
    let size = INITIAL_SIZE.min(capacity);
    let tmp = id.temp_name();
    let name = id.file_name();
    let io = |op, e| CreateError::Io(Error::io(op, storage.describe(&tmp), e));
    match storage.remove(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("remove leftover", e)),
    }
    let made = (|| {
        let file = storage
            .create(&tmp, size, capacity)
            .map_err(|e| io("create segment", e))?;
        let header = Header {
            log,
            segment: id,
            first_seq,
            capacity: size,
        };
        file.write_at(0, &header.encode())
            .map_err(|e| io("write header", e))?;
        file.sync(0, HEADER_LEN)
            .map_err(|e| CreateError::Sync("sync of a new segment", e))?;
        storage
            .rename(&tmp, &name)
            .map_err(|e| io("rename segment", e))?;
        Ok(file)
    })();
    let file = made.inspect_err(|_| {
        let _ = storage.remove(&tmp);
    })?;
    storage
        .sync_dir()
        .map_err(|e| CreateError::Sync("directory sync", e))?;
    Ok(Active::new(log, id, first_seq, file, HEADER_LEN, false))
}

/// Reads `len` bytes from the start of `file` (bounded by its size) into `buf`,
/// reusing its memory: reading segment after segment then costs no new pages. Bytes
/// the storage reports as never written ([`SegmentFile::zeros_from`]) are not read:
/// a fresh buffer comes zeroed from the allocator (pages the kernel maps only when
/// touched), so the preallocated remainder of an active segment costs next to
/// nothing.
pub(crate) fn read_prefix_into(
    storage: &dyn Storage,
    name: &str,
    file: &dyn SegmentFile,
    len: u64,
    buf: &mut Vec<u8>,
) -> Result<(), Error> {
    let len = len.min(file.size());
    let len = usize::try_from(len).map_err(|_| {
        Error::io(
            "read",
            storage.describe(name),
            io::Error::new(io::ErrorKind::InvalidData, "segment too large for memory"),
        )
    })?;
    let data = usize::try_from(file.zeros_from()).map_or(len, |z| z.min(len));
    if buf.capacity() < len {
        // Zeroed by the allocator (calloc): no page is touched until read.
        *buf = vec![0; len];
    } else {
        buf.clear();
        buf.resize(len, 0);
    }
    file.read_at(0, &mut buf[..data])
        .map_err(|e| Error::io("read", storage.describe(name), e))
}

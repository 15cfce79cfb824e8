//! `SnapshotOptions`: retention, buffer size and the I/O seam, with documented defaults.

use std::sync::Arc;

use crate::error::Error;
use crate::io::{RealIo, SnapshotIo};

/// The default number of snapshots kept after a successful write.
pub const DEFAULT_KEEP: usize = 2;
/// The default size of the write and read buffers: 1 MiB.
pub const DEFAULT_BUFFER_SIZE: usize = 1 << 20;

/// How a [`Snapshots`](crate::Snapshots) directory is managed.
///
/// ```
/// use kv_snapshot::SnapshotOptions;
/// let options = SnapshotOptions::default().keep(3).buffer_size(256 * 1024);
/// assert_eq!(options.keep_count(), 3);
/// ```
#[derive(Debug, Clone)]
pub struct SnapshotOptions {
    pub(crate) keep: usize,
    pub(crate) buffer_size: usize,
    pub(crate) create_dir: bool,
    pub(crate) io: Arc<dyn SnapshotIo>,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions {
            keep: DEFAULT_KEEP,
            buffer_size: DEFAULT_BUFFER_SIZE,
            create_dir: true,
            io: Arc::new(RealIo),
        }
    }
}

impl SnapshotOptions {
    /// How many snapshots to keep after a successful write, newest by sequence number;
    /// older ones are removed. Default [`DEFAULT_KEEP`] (2); at least 1.
    pub fn keep(mut self, n: usize) -> Self {
        self.keep = n;
        self
    }

    /// Size in bytes of the chunks written and of the read buffer. Default
    /// [`DEFAULT_BUFFER_SIZE`] (1 MiB); at least 4096.
    pub fn buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = bytes;
        self
    }

    /// Whether [`Snapshots::open`](crate::Snapshots::open) creates a missing directory
    /// (and its parents). Default `true`.
    pub fn create_dir(mut self, yes: bool) -> Self {
        self.create_dir = yes;
        self
    }

    /// The file-system seam the writer and retention use. Default [`RealIo`], the
    /// real file system. Test-only (cargo feature `sim`).
    #[cfg(feature = "sim")]
    pub fn io(mut self, io: Arc<dyn SnapshotIo>) -> Self {
        self.io = io;
        self
    }

    /// The retention count set.
    pub fn keep_count(&self) -> usize {
        self.keep
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.keep == 0 {
            return Err(Error::InvalidOptions {
                reason: "keep must be at least 1",
            });
        }
        if self.buffer_size < 4096 {
            return Err(Error::InvalidOptions {
                reason: "buffer_size must be at least 4096 bytes",
            });
        }
        Ok(())
    }
}

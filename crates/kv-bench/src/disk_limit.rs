//! The disk's durable-write limit as a pseudo-contender of the persistent workloads:
//! overwrite 4 KiB (or a batch's bytes) in place, then fdatasync. It runs interleaved
//! with the stores, so it sees the same contention from other work on the shared disk.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::adapter::{DurableAdapter, SyncMode};

/// Its name in the tables.
pub(crate) const DISK: &str = "disk: overwrite + fdatasync";

/// One preallocated file overwritten in place and synced after every write.
pub struct DiskLimit {
    file: File,
}

impl DurableAdapter for DiskLimit {
    fn name() -> String {
        DISK.to_owned()
    }

    fn reads() -> bool {
        false
    }

    fn describe(mode: SyncMode) -> Option<String> {
        (mode == SyncMode::EveryWrite).then(|| {
            "the physical limit: pwrite 4 KiB (a batch: its bytes) at offset 0, then fdatasync"
                .to_owned()
        })
    }

    fn open(dir: &Path, _mode: SyncMode) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(dir.join("disk-limit.bin"))?;
        // Written and synced once, so later overwrites change no file metadata.
        file.write_all_at(&vec![0u8; 1 << 20], 0)?;
        file.sync_all()?;
        Ok(Self { file })
    }

    fn set(&self, _key: &[u8], _value: &[u8]) -> anyhow::Result<()> {
        self.file.write_all_at(&[0x5A; 4096], 0)?;
        self.file.sync_data()?;
        Ok(())
    }

    fn set_batch(&self, items: &[(&[u8], &[u8])]) -> anyhow::Result<()> {
        let bytes: Vec<u8> = items
            .iter()
            .flat_map(|(k, v)| k.iter().chain(v.iter()).copied())
            .collect();
        self.file.write_all_at(&bytes, 0)?;
        self.file.sync_data()?;
        Ok(())
    }

    fn get(&self, _key: &[u8]) -> anyhow::Result<bool> {
        anyhow::bail!("the disk limit stores nothing")
    }

    fn close(self) -> anyhow::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_in_place_and_only_under_every_write() {
        let dir = std::env::temp_dir().join(format!("kv-bench-disk-{}", std::process::id()));
        let d = DiskLimit::open(&dir, SyncMode::EveryWrite).unwrap();
        d.set(b"k", b"v").unwrap();
        d.set_batch(&[(b"k", b"v"), (b"k2", b"v2")]).unwrap();
        assert_eq!(
            std::fs::metadata(dir.join("disk-limit.bin")).unwrap().len(),
            1 << 20
        );
        assert!(DiskLimit::describe(SyncMode::Never).is_none());
        assert!(DiskLimit::describe(SyncMode::EveryWrite).is_some());
        d.close().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

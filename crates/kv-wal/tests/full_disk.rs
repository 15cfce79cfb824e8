//! A full disk on a real file system: a tmpfs of a few hundred KiB mounted by the test
//! (root only: elsewhere the test says it skipped; under `CI` it must run). Whatever
//! it mounted is unmounted when the test ends, panicking or not.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{append, put, replay_all};
use kv_wal::{Error, RecoveryMode, Seq, SyncPolicy, Wal, WalOptions};

/// A tmpfs mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `bytes`, or says why not (`None`: the test skips, unless the
    /// environment variable `CI` is set, where it fails).
    fn mount(bytes: u64) -> Option<Tmpfs> {
        let why = match Self::try_mount(bytes) {
            Ok(t) => return Some(t),
            Err(why) => why,
        };
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the full-disk test: {why}"
        );
        eprintln!("skipped: {why}");
        None
    }

    fn try_mount(bytes: u64) -> Result<Tmpfs, String> {
        let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
        let euid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .ok_or("no effective uid in /proc/self/status")?;
        if euid != "0" {
            return Err(format!("mounting a tmpfs needs root (euid {euid})"));
        }
        let parent = tempfile::tempdir().map_err(|e| e.to_string())?;
        let dir = parent.path().join("fs");
        std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            dir,
            _parent: parent,
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Busy (a file still open): detach it now, freed once the last user goes.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// Fills the file system of `dir` with a file, returning its path.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0xeeu8; 4096];
    while f.write_all(&chunk).and_then(|()| f.sync_all()).is_ok() {}
    path
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

/// Appends until three appends in a row failed with ENOSPC (checking each error and
/// that no temporary file is left); returns what was acknowledged and the failed
/// operations.
fn until_full(wal: &Wal, dir: &Path, i: &mut u64, acked: &mut Vec<Seq>) -> Vec<&'static str> {
    let mut failed = Vec::new();
    while failed.len() < 3 {
        match append(wal, &put(*i, 1000), *i) {
            Ok(seq) => {
                assert!(failed.is_empty(), "a write between failures");
                acked.push(seq);
                *i += 1;
            }
            Err(e) => {
                let Error::Io { op, source, .. } = &e else {
                    panic!("unexpected error {e}")
                };
                assert_eq!(source.raw_os_error(), Some(28), "ENOSPC: {e}");
                let text = e.to_string();
                assert!(
                    text.contains("No space left on device") && text.contains("wal-"),
                    "the message names the cause and the file: {text}"
                );
                assert_eq!(temp_files(dir), Vec::<String>::new());
                failed.push(*op);
            }
        }
        assert!(*i < 10_000, "the disk never filled");
    }
    assert!(!wal.stats().poisoned, "a full disk is not a failed sync");
    failed
}

#[test]
fn a_full_tmpfs_fails_writes_cleanly_and_they_resume_once_there_is_space() {
    const SEGMENT: u64 = 256 << 10;
    let Some(fs) = Tmpfs::mount(2 << 20) else {
        return;
    };
    let dir = fs.dir.join("log");
    let options = WalOptions::default()
        .segment_size(SEGMENT)
        .sync(SyncPolicy::Never);
    let (wal, _) = Wal::open(&dir, options.clone()).unwrap();
    let mut acked = Vec::new();
    let mut i = 0;

    // A full disk when the segment must grow: then space again, and the very next
    // write succeeds, without reopening.
    let filler = fill(&fs.dir);
    let failed = until_full(&wal, &dir, &mut i, &mut acked);
    assert_eq!(failed, ["grow segment"; 3]);
    std::fs::remove_file(&filler).unwrap();
    while wal.stats().bytes < SEGMENT - 2000 {
        acked.push(append(&wal, &put(i, 1000), i).unwrap());
        i += 1;
    }
    assert_eq!(wal.stats().segments, 1);

    // A full disk when the next segment must be created: the same.
    let filler = fill(&fs.dir);
    let failed = until_full(&wal, &dir, &mut i, &mut acked);
    assert_eq!(failed, ["create segment"; 3]);
    std::fs::remove_file(&filler).unwrap();
    for _ in 0..(SEGMENT / 1000) {
        acked.push(append(&wal, &put(i, 1000), i).unwrap());
        i += 1;
    }
    assert!(wal.stats().segments > 1, "the log rotated again");

    let got: Vec<Seq> = replay_all(&wal).iter().map(|r| r.seq).collect();
    assert_eq!(got, acked);
    wal.close().unwrap();
    drop(wal);
    let (wal, report) =
        Wal::open(&dir, options.recovery(RecoveryMode::AbsoluteConsistency)).unwrap();
    assert_eq!(report.records, acked.len() as u64);
    drop(wal);
}

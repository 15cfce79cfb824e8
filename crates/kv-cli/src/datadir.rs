//! The data directory from the outside: does it exist, is it kv's, who has it open,
//! and copying it to a backup.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// kv-store's lock file (see "Data directory" in `docs/format.md`): a store holds an
/// exclusive `flock` on it while open.
pub(crate) const LOCK_FILE: &str = "LOCK";

/// Whether a command may start from a directory that does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// The directory must exist.
    Existing,
    /// The store may create it (`set`, `load`).
    MayCreate,
}

/// Checks `dir` before a command uses it: it exists (unless `need` allows creating
/// it), is a directory, and is not someone else's (a non-empty directory without a
/// single kv file).
pub(crate) fn check(dir: &Path, need: Need) -> Result<()> {
    match fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match need {
            Need::Existing => Err(Error::MissingDir {
                dir: dir.to_path_buf(),
            }),
            Need::MayCreate => Ok(()),
        },
        Err(e) => Err(Error::io("inspect", dir)(e)),
        Ok(meta) if !meta.is_dir() => Err(Error::NotADirectory {
            path: dir.to_path_buf(),
        }),
        Ok(_) => {
            if is_foreign(dir)? {
                Err(Error::ForeignDir {
                    dir: dir.to_path_buf(),
                })
            } else {
                Ok(())
            }
        }
    }
}

/// True when `dir` holds files but no log segment, snapshot or lock file.
fn is_foreign(dir: &Path) -> Result<bool> {
    let mut others = false;
    for entry in fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let entry = entry.map_err(Error::io("list", dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if is_kv_file(&name) {
            return Ok(false);
        }
        others = true;
    }
    Ok(others)
}

/// Whether `name` is one of the files a kv data directory holds.
fn is_kv_file(name: &str) -> bool {
    let segment = |n: &str| kv_wal::SegmentId::parse_file_name(n).is_some();
    name == LOCK_FILE
        || segment(name)
        || name.strip_suffix(".tmp").is_some_and(segment)
        || (name.starts_with("snapshot-")
            && (name.ends_with(".snap") || name.ends_with(".snap.tmp")))
}

/// A shared lock on the directory while a read-only command reads it: a store holds
/// the exclusive lock while open, so taking this one fails while a store runs, and a
/// store cannot open the directory until it is released.
#[derive(Debug)]
pub(crate) struct ReadLock {
    _lock: kv_store::ReadLock,
}

/// Takes the shared lock without creating anything (see [`kv_store::ReadLock`]).
pub(crate) fn lock_shared(dir: &Path) -> Result<ReadLock> {
    Ok(ReadLock {
        _lock: kv_store::ReadLock::acquire(dir)?,
    })
}

/// What a backup copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Backup {
    pub(crate) path: PathBuf,
    pub(crate) files: u64,
    pub(crate) bytes: u64,
}

/// The default backup path: `<dir>.backup-<unix seconds>` beside `dir`.
pub(crate) fn default_backup_path(dir: &Path, now_ms: u64) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kv-data".to_owned());
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    parent.join(format!("{name}.backup-{}", now_ms / 1000))
}

/// Copies every regular file of `dir` but the lock file into the new directory `to`
/// (owner-only), syncing each copy and the directory. `progress` gets each file's size.
pub(crate) fn backup(dir: &Path, to: &Path, mut progress: impl FnMut(u64)) -> Result<Backup> {
    if fs::symlink_metadata(to).is_ok() {
        return Err(Error::BackupExists {
            path: to.to_path_buf(),
        });
    }
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(to)
        .map_err(Error::io("create the backup directory", to))?;
    let mut done = Backup {
        path: to.to_path_buf(),
        ..Backup::default()
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let entry = entry.map_err(Error::io("list", dir))?;
        let ty = entry
            .file_type()
            .map_err(Error::io("inspect", entry.path()))?;
        if ty.is_file() && entry.file_name() != LOCK_FILE {
            names.push(entry.file_name());
        }
    }
    names.sort();
    for name in names {
        let src = dir.join(&name);
        let dst = to.join(&name);
        let bytes = fs::copy(&src, &dst).map_err(Error::io("copy", &src))?;
        File::open(&dst)
            .and_then(|f| f.sync_all())
            .map_err(Error::io("sync", &dst))?;
        done.files += 1;
        done.bytes += bytes;
        progress(bytes);
    }
    // A backup lands beside the data directory, often inside a project's work tree:
    // it ignores itself, so that `git status` does not offer to commit a copy of the
    // data.
    let ignore = to.join(".gitignore");
    fs::write(&ignore, "*\n").map_err(Error::io("write", &ignore))?;
    File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(Error::io("sync", to))?;
    Ok(done)
}

/// Milliseconds since the Unix epoch on the system clock (the store's default clock).
pub(crate) fn now_ms() -> u64 {
    use kv_store::Clock;
    kv_store::SystemClock.now().as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_foreign_and_file_paths_are_told_apart() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("missing");
        assert!(matches!(
            check(&missing, Need::Existing),
            Err(Error::MissingDir { .. })
        ));
        assert!(check(&missing, Need::MayCreate).is_ok());
        assert!(!missing.exists());

        let foreign = tmp.path().join("home");
        fs::create_dir(&foreign).unwrap();
        check(&foreign, Need::Existing).unwrap(); // empty: a new store
        fs::write(foreign.join("notes.txt"), b"x").unwrap();
        assert!(matches!(
            check(&foreign, Need::MayCreate),
            Err(Error::ForeignDir { .. })
        ));
        fs::write(foreign.join("snapshot-00000000000000000001.snap"), b"x").unwrap();
        check(&foreign, Need::Existing).unwrap();

        let file = tmp.path().join("file");
        fs::write(&file, b"x").unwrap();
        assert!(matches!(
            check(&file, Need::Existing),
            Err(Error::NotADirectory { .. })
        ));
    }

    #[test]
    fn shared_lock_fails_while_an_exclusive_one_is_held_and_creates_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let _none = lock_shared(tmp.path()).unwrap();
        assert!(!tmp.path().join(LOCK_FILE).exists());
        let lock = File::create(tmp.path().join(LOCK_FILE)).unwrap();
        lock.lock().unwrap();
        assert!(matches!(lock_shared(tmp.path()), Err(Error::Locked { .. })));
        lock.unlock().unwrap();
        let a = lock_shared(tmp.path()).unwrap();
        let b = lock_shared(tmp.path()).unwrap();
        drop((a, b));
    }

    #[test]
    fn backup_copies_files_but_the_lock_and_refuses_an_existing_target() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("wal-00000000000000000001.log"), b"abc").unwrap();
        fs::write(dir.join(LOCK_FILE), b"").unwrap();
        let to = default_backup_path(&dir, 1_700_000_000_123);
        assert_eq!(to, tmp.path().join("data.backup-1700000000"));
        let mut seen = 0;
        let b = backup(&dir, &to, |n| seen += n).unwrap();
        assert_eq!((b.files, b.bytes, seen), (1, 3, 3));
        assert_eq!(
            fs::read(to.join("wal-00000000000000000001.log")).unwrap(),
            b"abc"
        );
        assert!(!to.join(LOCK_FILE).exists());
        assert_eq!(fs::read_to_string(to.join(".gitignore")).unwrap(), "*\n");
        assert!(matches!(
            backup(&dir, &to, |_| {}),
            Err(Error::BackupExists { .. })
        ));
    }
}

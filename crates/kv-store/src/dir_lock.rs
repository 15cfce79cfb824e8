//! The data-directory lock: one `Store` owns a directory at a time.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::fsutil::{owner_only_file, FILE_MODE};
use crate::{Error, Result};

/// Name of the lock file inside the data directory.
pub(crate) const LOCK_FILE: &str = "LOCK";

/// An exclusive `flock` on `<dir>/LOCK`, released when dropped (or when the process
/// dies, however it dies).
///
/// `flock` locks belong to the open file description, so a second `open` of the same
/// directory fails whether it comes from this process or from another one.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock without blocking; fails with [`Error::Locked`] when another
    /// handle holds it. Writes nothing but the (empty) lock file itself.
    pub(crate) fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        owner_only_file(&mut opts);
        let file = opts.open(&path).map_err(|source| Error::Io {
            op: "open the lock file",
            path: path.clone(),
            source,
        })?;
        match with_grace(|| file.try_lock()) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    dir: dir.to_path_buf(),
                })
            }
            Err(TryLockError::Error(source)) => {
                return Err(Error::Io {
                    op: "lock the data directory",
                    path,
                    source,
                })
            }
        }
        // A lock file left by an older run with wider permissions is narrowed.
        restrict(&file).map_err(|source| Error::Io {
            op: "set the lock file's permissions",
            path: path.clone(),
            source,
        })?;
        Ok(Self { _file: file })
    }
}

/// A shared lock on a data directory, for tools that read its files without opening a
/// store (`kv verify`, `kv stats`, `kv dump`).
///
/// A [`Store`](crate::Store) holds the directory's lock exclusively while open, so
/// taking this one fails with [`Error::Locked`] while a store runs, and no store can
/// open the directory until it is dropped. Several readers may hold it at once. It
/// creates nothing: a directory without a lock file was never opened by a store, and
/// then nothing is locked.
#[derive(Debug)]
pub struct ReadLock {
    _file: Option<File>,
}

impl ReadLock {
    /// Takes the shared lock on `dir`, without blocking beyond a short grace period.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self { _file: None }),
            Err(source) => {
                return Err(Error::Io {
                    op: "open the lock file",
                    path,
                    source,
                })
            }
        };
        match with_grace(|| file.try_lock_shared()) {
            Ok(()) => Ok(Self { _file: Some(file) }),
            Err(TryLockError::WouldBlock) => Err(Error::Locked {
                dir: dir.to_path_buf(),
            }),
            Err(TryLockError::Error(source)) => Err(Error::Io {
                op: "lock the data directory (shared)",
                path,
                source,
            }),
        }
    }
}

/// How long a lock that looks taken is retried before the directory is called locked.
///
/// `flock` belongs to the open file description, and a process that forks (any thread
/// of it spawning a child) hands the child a reference to every open description until
/// the child execs, `O_CLOEXEC` or not. So for a moment after a store closes, a child
/// being spawned elsewhere in the process can still hold its lock. A short grace
/// period keeps that moment from reading as "locked"; a directory that is really in use
/// stays locked past it and is reported as such.
const LOCK_GRACE: Duration = Duration::from_millis(250);

/// Retries `try_lock` while it reports `WouldBlock`, for up to [`LOCK_GRACE`].
fn with_grace(
    mut try_lock: impl FnMut() -> std::result::Result<(), TryLockError>,
) -> std::result::Result<(), TryLockError> {
    let deadline = Instant::now() + LOCK_GRACE;
    let mut pause = Duration::from_millis(1);
    loop {
        match try_lock() {
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(32));
            }
            other => return other,
        }
    }
}

#[cfg(unix)]
fn restrict(file: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
}

#[cfg(not(unix))]
fn restrict(_file: &File) -> io::Result<()> {
    let _ = FILE_MODE;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_in_the_same_process_fails_and_first_release_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        assert!(err.to_string().contains("locked"), "{err}");
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn readers_share_the_lock_and_exclude_a_store() {
        let dir = tempfile::tempdir().unwrap();
        // No lock file yet: nothing is locked and nothing is created.
        drop(ReadLock::acquire(dir.path()).unwrap());
        assert!(!dir.path().join(LOCK_FILE).exists());

        let owner = DirLock::acquire(dir.path()).unwrap();
        let err = ReadLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        drop(owner);

        let a = ReadLock::acquire(dir.path()).unwrap();
        let b = ReadLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        drop((a, b));
        DirLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_lock_released_within_the_grace_period_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        // Stands in for a child process that still references the lock's open file
        // description between fork and exec.
        let holder = DirLock::acquire(dir.path()).unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            drop(holder);
        });
        DirLock::acquire(dir.path()).unwrap();
        release.join().unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn lock_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let _lock = DirLock::acquire(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(LOCK_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

//! The data-directory lock: one `Store` owns a directory at a time.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::Path;

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
        match file.try_lock() {
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

//! Directory and permission handling: the data directory is private to its owner.

use std::fs::{DirBuilder, OpenOptions};
use std::path::Path;

use crate::{Error, Result};

/// Permissions of the data directory.
pub(crate) const DIR_MODE: u32 = 0o700;
/// Permissions of every file kv-store creates.
pub(crate) const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and its parents) with owner-only permissions if it does not exist.
/// An existing directory is left as it is (see [`narrow_dir`]).
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir).map_err(|source| Error::Io {
        op: "create the data directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let meta = std::fs::metadata(dir).map_err(|source| Error::Io {
        op: "inspect the data directory",
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(Error::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Removes group and other permissions from `dir` (called once the lock is held, so
/// a refused second open changes nothing). Failing to narrow a directory we do not
/// own is not fatal.
pub(crate) fn narrow_dir(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(dir) {
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                let _ =
                    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o700));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Makes `opts` create files with owner-only permissions.
pub(crate) fn owner_only_file(opts: &mut OpenOptions) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(FILE_MODE);
    }
    #[cfg(not(unix))]
    let _ = opts;
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn new_directory_is_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        ensure_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn existing_open_directory_is_narrowed() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_dir(tmp.path()).unwrap();
        assert_eq!(
            std::fs::metadata(tmp.path()).unwrap().permissions().mode() & 0o777,
            0o755,
            "ensure_dir leaves an existing directory alone"
        );
        narrow_dir(tmp.path());
        let mode = std::fs::metadata(tmp.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn a_file_in_the_way_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let e = ensure_dir(&file).unwrap_err();
        assert!(matches!(e, Error::NotADirectory { .. }), "{e:?}");
        assert!(e.to_string().contains("is not a directory"), "{e}");
    }
}

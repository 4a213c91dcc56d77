//! Files that hold secrets, checked before they are trusted: the data directory, its secret
//! files and database, and a `config.json`. On Unix, a file another user owns, or that
//! other users can write, may have been planted (a review opened `/api` and `/v1` with an
//! `admin_password` and a `client_token` planted in a pre-made 0777 directory): it is
//! refused, naming the file and what to do. One that others can only read is made private
//! again, and the caller logs that it was. Elsewhere (Windows) the ACLs of the user's profile
//! folders keep other users out, and nothing is checked.

use std::path::{Path, PathBuf};

/// Why a file or directory cannot be trusted.
#[derive(Debug, thiserror::Error)]
pub enum Unsafe {
    #[error(
        "{path} belongs to another user (uid {owner}), so what it holds may have been planted; refusing to use it. Remove it, or use a directory of your own"
    )]
    NotOwned { path: PathBuf, owner: u32 },
    #[error(
        "{path} can be written by other users (mode {mode:03o}), so what it holds may have been planted; refusing to use it. If you are sure it is yours, `chmod 600` it; else delete it"
    )]
    Writable { path: PathBuf, mode: u32 },
    #[error("{path} is a symbolic link; refusing to follow it for a file that holds secrets")]
    Symlink { path: PathBuf },
    #[error("checking {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A file or directory that other users could read, now private.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    pub path: PathBuf,
    /// Its permission bits before.
    pub was: u32,
}

impl std::fmt::Display for Repaired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} was readable by other users (mode {:03o}); it is private now. Change any secret it held",
            self.path.display(),
            self.was
        )
    }
}

/// Checks a directory (following a symbolic link to it): it must be the user's; if others
/// have any access, it becomes 0700.
pub fn dir(path: &Path) -> Result<Option<Repaired>, Unsafe> {
    check(path, true)
}

/// Checks a file that holds secrets, if it exists: the user's, not a symbolic link, not
/// writable by others; if others can read it, it becomes 0600.
pub fn file(path: &Path) -> Result<Option<Repaired>, Unsafe> {
    check(path, false)
}

#[cfg(unix)]
fn check(path: &Path, is_dir: bool) -> Result<Option<Repaired>, Unsafe> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let io = |source| Unsafe::Io {
        path: path.to_owned(),
        source,
    };
    let found = if is_dir {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    };
    let meta = match found {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    if meta.file_type().is_symlink() {
        return Err(Unsafe::Symlink {
            path: path.to_owned(),
        });
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(Unsafe::NotOwned {
            path: path.to_owned(),
            owner: meta.uid(),
        });
    }
    let mode = meta.mode() & 0o777;
    // Others writing into the directory can only add files, which are checked one by one.
    if !is_dir && mode & 0o022 != 0 {
        return Err(Unsafe::Writable {
            path: path.to_owned(),
            mode,
        });
    }
    if mode & 0o077 == 0 {
        return Ok(None);
    }
    let private = if is_dir { 0o700 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(private)).map_err(io)?;
    Ok(Some(Repaired {
        path: path.to_owned(),
        was: mode,
    }))
}

#[cfg(not(unix))]
fn check(_path: &Path, _is_dir: bool) -> Result<Option<Repaired>, Unsafe> {
    Ok(None)
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn set(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn readable_by_others_is_repaired_writable_by_others_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        set(tmp.path(), 0o755);
        assert_eq!(dir(tmp.path()).unwrap().unwrap().was, 0o755);
        assert_eq!(mode(tmp.path()), 0o700);
        assert_eq!(dir(tmp.path()).unwrap(), None, "private already");

        let secret = tmp.path().join("secret");
        assert_eq!(file(&secret).unwrap(), None, "a missing file is fine");
        std::fs::write(&secret, "x").unwrap();
        set(&secret, 0o644);
        let repaired = file(&secret).unwrap().unwrap();
        assert_eq!((repaired.was, mode(&secret)), (0o644, 0o600));
        assert!(repaired.to_string().contains("mode 644"), "{repaired}");
        set(&secret, 0o666);
        let refused = file(&secret).unwrap_err();
        assert!(matches!(refused, Unsafe::Writable { mode: 0o666, .. }));
        assert!(refused.to_string().contains("chmod 600"), "{refused}");
        assert_eq!(mode(&secret), 0o666, "left as found");
    }

    #[test]
    fn a_symbolic_link_to_a_secret_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("elsewhere");
        std::fs::write(&target, "x").unwrap();
        let link = tmp.path().join("secret");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(file(&link), Err(Unsafe::Symlink { .. })));
    }

    #[test]
    fn a_file_of_another_user_is_refused_where_the_test_may_hand_one_over() {
        let tmp = tempfile::tempdir().unwrap();
        let planted = tmp.path().join("planted");
        std::fs::write(&planted, "x").unwrap();
        set(&planted, 0o600);
        // Only root can give a file away; elsewhere this case cannot be made.
        if std::os::unix::fs::chown(&planted, Some(4242), None).is_err() {
            return;
        }
        let refused = file(&planted).unwrap_err();
        assert!(matches!(refused, Unsafe::NotOwned { owner: 4242, .. }));
        assert!(refused.to_string().contains("another user"), "{refused}");
    }
}

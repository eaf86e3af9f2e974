//! Resolution and creation of the state directory.
//!
//! `IMAPMIGRATION_HOME`, else `$XDG_DATA_HOME/ImapMigration`, else
//! `~/.local/share/ImapMigration` (`%LOCALAPPDATA%\ImapMigration` on Windows). Every FFI request
//! may carry its own override.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Name of the state directory below the platform's data directory.
pub const APP_DIR: &str = "ImapMigration";
/// Environment variable that overrides the state directory.
pub const HOME_ENV: &str = "IMAPMIGRATION_HOME";
/// The SQLite database inside the state directory.
pub const DB_FILE: &str = "state.db";
/// The key that seals secrets, inside the state directory.
pub const KEY_FILE: &str = "secret.key";
/// The advisory lock held by the one live worker.
pub const WORKER_LOCK_FILE: &str = "worker.lock";

/// Returns the state directory and creates it (mode 0700 on Unix) if it is missing.
///
/// Precedence: `override_dir`, then `IMAPMIGRATION_HOME`, then `$XDG_DATA_HOME/ImapMigration`,
/// then `~/.local/share/ImapMigration` (Windows: `%LOCALAPPDATA%\ImapMigration`). Empty
/// environment variables count as unset. Creation is best effort here (a failure is logged);
/// [`ensure_dir`] reports it, and [`crate::Store::open`] and [`crate::Sealer::open`] call it.
pub fn state_dir(override_dir: Option<&Path>) -> PathBuf {
    let dir = resolve(override_dir, |k| std::env::var_os(k));
    if let Err(e) = ensure_dir(&dir) {
        tracing::warn!(error = %e, "cannot create the state directory");
    }
    dir
}

/// The resolution rule of [`state_dir`] with the environment passed in (for tests).
fn resolve(
    override_dir: Option<&Path>,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> PathBuf {
    if let Some(dir) = override_dir.filter(|d| !d.as_os_str().is_empty()) {
        return dir.to_path_buf();
    }
    let var = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var(HOME_ENV) {
        return dir;
    }
    if cfg!(windows) {
        if let Some(dir) = var("LOCALAPPDATA") {
            return dir.join(APP_DIR);
        }
        if let Some(dir) = var("USERPROFILE") {
            return dir.join("AppData").join("Local").join(APP_DIR);
        }
    } else {
        if let Some(dir) = var("XDG_DATA_HOME") {
            return dir.join(APP_DIR);
        }
        if let Some(dir) = var("HOME") {
            return dir.join(".local").join("share").join(APP_DIR);
        }
    }
    // No home at all (a bare service account): fall back to the working directory rather than
    // guessing a system path we may not be allowed to write.
    PathBuf::from(APP_DIR)
}

/// Mode of the state directory and of the directories in it that hold state (logs, reports).
pub const DIR_MODE: u32 = 0o700;
/// Mode of the state files: `state.db` (+ `-wal`, `-shm`), `secret.key`, logs, reports.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and its parents if missing with mode 0700 on Unix (it holds the key that
/// unseals every stored password); an existing directory that others may enter is tightened
/// to 0700 with a warning (see [`tighten`]).
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        tighten(dir, DIR_MODE);
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    // Unix: owner only. Windows has no mode bits: a directory under the user's profile
    // (%LOCALAPPDATA%) inherits its ACL (the user, SYSTEM, Administrators).
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir).map_err(|source| Error::Io {
        action: "create state directory",
        path: dir.to_path_buf(),
        source,
    })
}

/// Takes every permission outside `mode` away from `path` (group and others, for the modes
/// here). Returns the old mode when it had to change it, and logs a warning then; a path that
/// does not exist, or one this user may not change, is left as it is (also with a warning).
pub fn tighten(path: &Path, mode: u32) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(path).ok()?;
        if meta.file_type().is_symlink() {
            return None;
        }
        let old = meta.permissions().mode() & 0o7777;
        let new = old & mode;
        if old == new {
            return None;
        }
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(new)) {
            Ok(()) => tracing::warn!(
                path = %path.display(),
                "other users could read the state directory's {}: mode {old:o}, tightened to {new:o}",
                if meta.is_dir() { "directory" } else { "file" }
            ),
            Err(e) => tracing::warn!(
                path = %path.display(),
                error = %e,
                "other users can read this state file (mode {old:o}) and it cannot be tightened"
            ),
        }
        Some(old)
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        None
    }
}

/// Tightens what an older version, or a umask, left readable to others in `home`: the
/// database and its WAL files, the key, the logs and the reports (the Maildir store is left as
/// it is: Dovecot must read it). Returns the paths it changed.
pub fn secure_state_dir(home: &Path) -> Vec<PathBuf> {
    let mut changed = Vec::new();
    let mut check = |p: PathBuf, mode: u32| {
        if tighten(&p, mode).is_some() {
            changed.push(p);
        }
    };
    check(home.to_path_buf(), DIR_MODE);
    for name in [
        DB_FILE,
        "state.db-wal",
        "state.db-shm",
        KEY_FILE,
        WORKER_LOCK_FILE,
    ] {
        check(home.join(name), FILE_MODE);
    }
    for dir in [logs_dir(home), home.join("reports")] {
        check(dir.clone(), DIR_MODE);
        walk(&dir, &mut check);
    }
    changed
}

fn walk(dir: &Path, check: &mut impl FnMut(PathBuf, u32)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            check(e.path(), DIR_MODE);
            walk(&e.path(), check);
        } else if kind.is_file() {
            check(e.path(), FILE_MODE);
        }
    }
}

/// Creates `path` empty with mode 0600 unless it exists, so that SQLite (which gives its
/// `-wal` and `-shm` files the database's mode) never creates it under a looser umask.
pub fn create_private_file(path: &Path) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(FILE_MODE);
    }
    opts.open(path).map(drop).map_err(|source| Error::Io {
        action: "create state database",
        path: path.to_path_buf(),
        source,
    })
}

/// `<home>/state.db`.
pub fn db_path(home: &Path) -> PathBuf {
    home.join(DB_FILE)
}

/// `<home>/secret.key`.
pub fn key_path(home: &Path) -> PathBuf {
    home.join(KEY_FILE)
}

/// `<home>/worker.lock`.
pub fn worker_lock_path(home: &Path) -> PathBuf {
    home.join(WORKER_LOCK_FILE)
}

/// `<home>/logs`.
pub fn logs_dir(home: &Path) -> PathBuf {
    home.join("logs")
}

/// `<home>/maildir`, the root of the embedded Maildir target.
pub fn maildir_root(home: &Path) -> PathBuf {
    home.join("maildir")
}

/// The directory of the mailbox of `email` below a Maildir root: the address itself, with
/// path separators and NUL turned into `_` and dot-only names prefixed with `_`, so that it
/// never leaves the root and Dovecot's `mail_location = maildir:<root>/%u` finds ordinary
/// addresses. Two addresses can map to one directory (`a/b@x` and `a_b@x`): batch intake
/// refuses the second ([`crate::csv_import::drop_shared_maildirs`]).
pub fn maildir_dir_name(email: &str) -> String {
    let s: String = email
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c == '\0' {
                '_'
            } else {
                c
            }
        })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        format!("_{s}")
    } else {
        s
    }
}

/// `<home>/reports/<batch-name>`.
pub fn reports_dir(home: &Path, batch_name: &str) -> PathBuf {
    home.join("reports").join(batch_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_never_escape_the_maildir_root() {
        assert_eq!(maildir_dir_name("ann@contoso.com"), "ann@contoso.com");
        assert_eq!(maildir_dir_name("../x"), ".._x");
        assert_eq!(maildir_dir_name(".."), "_..");
        assert_eq!(maildir_dir_name("a/b\\c"), "a_b_c");
    }
    use std::collections::HashMap;
    use std::ffi::OsString;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn override_wins_then_env_then_xdg_then_home() {
        let all = env(&[
            ("IMAPMIGRATION_HOME", "/h"),
            ("XDG_DATA_HOME", "/x"),
            ("HOME", "/home/u"),
            ("LOCALAPPDATA", "C:/L"),
        ]);
        assert_eq!(resolve(Some(Path::new("/o")), &all), PathBuf::from("/o"));
        assert_eq!(resolve(None, &all), PathBuf::from("/h"));
        if cfg!(unix) {
            let e = env(&[
                ("IMAPMIGRATION_HOME", ""),
                ("XDG_DATA_HOME", "/x"),
                ("HOME", "/home/u"),
            ]);
            assert_eq!(resolve(None, e), PathBuf::from("/x/ImapMigration"));
            let e = env(&[("HOME", "/home/u")]);
            assert_eq!(
                resolve(None, e),
                PathBuf::from("/home/u/.local/share/ImapMigration")
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn created_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("a").join("home");
        let got = state_dir(Some(&dir));
        assert_eq!(got, dir);
        let mode = std::fs::metadata(&dir).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

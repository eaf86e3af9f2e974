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

/// Creates `dir` and its parents if missing; a directory we create gets mode 0700 on Unix
/// because it holds the key that unseals every stored password.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| Error::Io {
        action: "create state directory",
        path: dir.to_path_buf(),
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

/// `<home>/reports/<batch-name>`.
pub fn reports_dir(home: &Path, batch_name: &str) -> PathBuf {
    home.join("reports").join(batch_name)
}

#[cfg(test)]
mod tests {
    use super::*;
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

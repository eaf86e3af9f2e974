//! Starting the worker detached, so that it outlives the PowerShell session that asked for it.
//!
//! The library runs `<worker> worker --detach --home <dir>`; that short-lived process starts the
//! real worker in its own process group (no terminal signal of the session reaches it) and exits
//! at once, so the worker is re-parented to init and never lingers as the host's zombie.
//!
//! Both processes start with a clean environment ([`WORKER_ENV`]): the caller's may hold
//! `IMAPMIGRATION_TARGET_PASSWORD`, tokens or anything else a shell session exports, and a
//! long-lived worker would keep it readable in `/proc/<pid>/environ` for days.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::lock;

/// The variables a started worker inherits; every other one is dropped. An entry ending in `_`
/// is a prefix. None of these carries a secret:
/// - `IMAPMIGRATION_HOME`, and `IMAPMIGRATION_STORE`, reserved for the store setting of a
///   shared store (the worker is also given `--home`);
/// - `PATH`, `HOME`, `LANG`, `LC_*`, `TZ`: the locale and time zone reports are written in;
/// - `RUST_LOG` and `IMAPMIGRATION_LOG` (the log filter);
/// - `SSL_CERT_FILE`, `SSL_CERT_DIR`: where the system's trusted CA certificates are, which
///   the TLS layer reads;
/// - `IMAPMIGRATION_TIMEOUT_*`, `IMAPMIGRATION_MIN_RATE`, `IMAPMIGRATION_RETRY_*`: the stall
///   limits and retry numbers (durations and counts), knobs for tests;
/// - `IMAPMIGRATION_MEMORY_BUDGET`: the memory budget, when the config does not set one;
/// - `IMAPMIGRATION_COMPRESS`: `0` turns COMPRESS=DEFLATE off for every endpoint;
/// - `IMAPMIGRATION_VERIFY_CONTENT`: `1` reads back what is appended to every IMAP target;
/// - `IMAPMIGRATION_WORKER_HEARTBEAT_SECS`, `IMAPMIGRATION_WORKER_STALE_SECS`: the heartbeat
///   and staleness of workers ([`super::liveness`]), knobs for tests.
pub const WORKER_ENV: &[&str] = &[
    "IMAPMIGRATION_HOME",
    "IMAPMIGRATION_STORE",
    "PATH",
    "HOME",
    "LANG",
    "LC_",
    "TZ",
    "RUST_LOG",
    "IMAPMIGRATION_LOG",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "IMAPMIGRATION_TIMEOUT_",
    "IMAPMIGRATION_MIN_RATE",
    "IMAPMIGRATION_RETRY_",
    "IMAPMIGRATION_MEMORY_BUDGET",
    "IMAPMIGRATION_COMPRESS",
    "IMAPMIGRATION_VERIFY_CONTENT",
    super::liveness::HEARTBEAT_ENV,
    super::liveness::STALE_ENV,
];

/// What a Windows process needs besides [`WORKER_ENV`] (sockets need `SystemRoot`; the state
/// directory's default is under `LOCALAPPDATA`). Windows compares names case-insensitively.
#[cfg(windows)]
const PLATFORM_ENV: &[&str] = &[
    "SystemRoot",
    "windir",
    "TEMP",
    "TMP",
    "USERPROFILE",
    "LOCALAPPDATA",
    "APPDATA",
    "ProgramData",
    "COMPUTERNAME",
    "PATHEXT",
];
#[cfg(not(windows))]
const PLATFORM_ENV: &[&str] = &[];

/// The subset of `vars` that [`WORKER_ENV`] lets through.
pub fn worker_env(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    vars.into_iter()
        .filter(|(name, _)| {
            let Some(name) = name.to_str() else {
                return false;
            };
            let same = |a: &str, b: &str| {
                if cfg!(windows) {
                    a.eq_ignore_ascii_case(b)
                } else {
                    a == b
                }
            };
            WORKER_ENV
                .iter()
                .chain(PLATFORM_ENV)
                .any(|allowed| match allowed.strip_suffix('_') {
                    Some(_) => {
                        name.len() > allowed.len()
                            && name.get(..allowed.len()).is_some_and(|p| same(p, allowed))
                    }
                    None => same(name, allowed),
                })
        })
        .collect()
}

/// A command for the worker binary with the caller's environment reduced to [`WORKER_ENV`].
fn worker_command(exe: &Path) -> Command {
    let mut cmd = Command::new(exe);
    cmd.env_clear().envs(worker_env(std::env::vars_os()));
    cmd
}

/// Errors of starting a worker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The worker binary is not where the caller said.
    #[error("worker binary {path} not found; run scripts/build or reinstall the module")]
    NotFound {
        /// The path that was tried.
        path: String,
    },
    /// The launcher could not be run, or exited with a failure.
    #[error("cannot start worker {path}: {source}")]
    Start {
        /// The worker binary.
        path: String,
        /// Why it did not start.
        source: std::io::Error,
    },
    /// The launcher ran, but no worker took the lock in time.
    #[error("worker {path} did not take the lock of {home} within {secs} s; see {home}/logs")]
    NoLock {
        /// The worker binary.
        path: String,
        /// The state directory whose lock was watched.
        home: String,
        /// How long it was watched.
        secs: u64,
    },
}

/// Starts a worker for `home` unless one runs already. Returns the worker's pid and whether this
/// call started it.
pub fn ensure_worker(worker: &Path, home: &Path) -> Result<(u32, bool), SpawnError> {
    if let Ok(Some(pid)) = lock::probe(home) {
        return Ok((pid, false));
    }
    if !worker.is_file() {
        return Err(SpawnError::NotFound {
            path: worker.display().to_string(),
        });
    }
    let status = worker_command(worker)
        .arg("worker")
        .arg("--detach")
        .arg("--home")
        .arg(home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|source| SpawnError::Start {
            path: worker.display().to_string(),
            source,
        })?;
    if !status.success() {
        return Err(SpawnError::Start {
            path: worker.display().to_string(),
            source: std::io::Error::other(format!("launcher exited with {status}")),
        });
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(pid)) = lock::probe(home) {
            return Ok((pid, true));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(SpawnError::NoLock {
        path: worker.display().to_string(),
        home: home.display().to_string(),
        secs: 10,
    })
}

/// The `--detach` half: start the real worker in a new process group and return at once.
pub fn detach(self_exe: &Path, home: &Path) -> std::io::Result<u32> {
    let mut command = worker_command(self_exe);
    command
        .arg("worker")
        .arg("--home")
        .arg(home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Linux, macOS: a process group of its own, so signals sent to the session's foreground
    // group (Ctrl+C, SIGHUP when the terminal closes) never reach the worker.
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    // Windows: no console and a process group of its own (DETACHED_PROCESS |
    // CREATE_NEW_PROCESS_GROUP), the same two guarantees. Not built or tested here yet.
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        const DETACHED_PROCESS: u32 = 0x0000_0008;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        command.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP);
    }
    Ok(command.spawn()?.id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_listed_variables_reach_the_worker() {
        let given = [
            ("IMAPMIGRATION_TARGET_PASSWORD", "hunter2"),
            ("AWS_SECRET_ACCESS_KEY", "k"),
            ("IMAPMIGRATION_HOME", "/var/lib/im"),
            ("LC_ALL", "C.UTF-8"),
            ("LC_", "empty suffix"),
            ("LANG", "de_DE.UTF-8"),
            ("LANGUAGE", "de"),
            ("PATH", "/usr/bin"),
            ("IMAPMIGRATION_TIMEOUT_IO_MS", "500"),
            ("IMAPMIGRATION_LOG", "debug"),
            ("IMAPMIGRATION_VERIFY_CONTENT", "1"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let kept: Vec<String> = worker_env(given)
            .into_iter()
            .map(|(k, _)| k.into_string().unwrap())
            .collect();
        assert_eq!(
            kept,
            [
                "IMAPMIGRATION_HOME",
                "LC_ALL",
                "LANG",
                "PATH",
                "IMAPMIGRATION_TIMEOUT_IO_MS",
                "IMAPMIGRATION_LOG",
                "IMAPMIGRATION_VERIFY_CONTENT"
            ]
        );
    }
}

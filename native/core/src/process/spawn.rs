//! Starting the worker detached, so that it outlives the PowerShell session that asked for it.
//!
//! The library runs `<worker> worker --detach --home <dir>`; that short-lived process starts the
//! real worker in its own process group (no terminal signal of the session reaches it) and exits
//! at once, so the worker is re-parented to init and never lingers as the host's zombie.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::lock;

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
    let status = Command::new(worker)
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
    use std::os::unix::process::CommandExt;
    let child = Command::new(self_exe)
        .arg("worker")
        .arg("--home")
        .arg(home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    Ok(child.id())
}

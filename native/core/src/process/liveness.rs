//! Whether the worker that holds a state directory still works, and ending one that hangs.
//!
//! A worker writes its heartbeat every [`heartbeat_secs`] (default
//! `WorkerRecord::HEARTBEAT_SECS`, 5 s); one whose heartbeat is older than
//! [`stale_after_secs`] (default `WorkerRecord::STALE_AFTER_SECS`, 30 s) is not live. A dead one
//! has released `worker.lock` already (the kernel drops it with the process); a hung one (stopped
//! with SIGSTOP, or stuck) still holds it, so no other worker can start until it is gone:
//! [`end_hung_worker`] ends it with SIGKILL, which the kernel carries out even on a stopped
//! process, so it can never write again. The rows it left mid-pass are then verified on the
//! target by the next worker before anything is sent again, as after any kill.
//!
//! Both numbers have environment overrides for tests (whole seconds):
//! `IMAPMIGRATION_WORKER_HEARTBEAT_SECS` and `IMAPMIGRATION_WORKER_STALE_SECS`; a test that
//! shortens the staleness must shorten the heartbeat too, and both pass to a started worker
//! (`WORKER_ENV`).

use std::path::Path;
use std::time::{Duration, Instant};

use imapmigration_store::{Timestamp, WorkerRecord};

/// Environment variable overriding [`WorkerRecord::HEARTBEAT_SECS`] (tests).
pub const HEARTBEAT_ENV: &str = "IMAPMIGRATION_WORKER_HEARTBEAT_SECS";

/// Environment variable overriding [`WorkerRecord::STALE_AFTER_SECS`] (tests).
pub const STALE_ENV: &str = "IMAPMIGRATION_WORKER_STALE_SECS";

fn secs_from_env(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(default)
}

/// Seconds between two heartbeats of a worker.
pub fn heartbeat_secs() -> i64 {
    secs_from_env(HEARTBEAT_ENV, WorkerRecord::HEARTBEAT_SECS)
}

/// Seconds after its last heartbeat at which a worker counts as gone or hung.
pub fn stale_after_secs() -> i64 {
    secs_from_env(STALE_ENV, WorkerRecord::STALE_AFTER_SECS)
}

/// Whether the worker's heartbeat is fresh at `now` ([`stale_after_secs`]).
pub fn alive(w: &WorkerRecord, now: Timestamp) -> bool {
    now.signed_duration_since(w.heartbeat_at).num_seconds() <= stale_after_secs()
}

/// This host's name, as a worker registers it and as a hung one's host is compared with.
pub fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".into())
}

/// Whether the process `pid` is stopped (SIGSTOP, or held by a debugger), from
/// `/proc/<pid>/stat`; `None` where that cannot be read.
pub fn is_stopped(pid: u32) -> Option<bool> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "<pid> (<comm>) <state> ...": the name may hold spaces and parentheses.
    let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
    Some(matches!(state, 'T' | 't'))
}

/// Why a hung worker could not be ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndError {
    /// The lock is held by another process than the one named (it changed hands meanwhile).
    #[error("the lock is now held by another process")]
    NotTheHolder,
    /// The lock is held by this very process (the CLI's scheduler, a test playing the worker).
    #[error("the lock is held by this process")]
    Ourselves,
    /// The signal was refused (another user's process).
    #[error("cannot signal pid {pid}: {source}")]
    Signal {
        /// The worker's pid.
        pid: u32,
        /// What the system said.
        source: std::io::Error,
    },
    /// The lock was still held after the wait.
    #[error("pid {pid} still holds the lock {waited:?} after SIGKILL")]
    StillHeld {
        /// The worker's pid.
        pid: u32,
        /// How long it was waited for.
        waited: Duration,
    },
    /// The lock file could not be read.
    #[error("cannot read the worker lock: {0}")]
    Io(#[from] std::io::Error),
}

/// Ends the worker `pid` that holds the lock of `home` (SIGKILL), and waits up to `patience`
/// for the kernel to release the lock. Only the lock's holder is signalled: the lock is probed
/// first, so a pid that has meanwhile been reused by another program is left alone.
pub fn end_hung_worker(home: &Path, pid: u32, patience: Duration) -> Result<(), EndError> {
    if pid == std::process::id() {
        return Err(EndError::Ourselves);
    }
    if super::probe(home)? != Some(pid) || pid == 0 {
        return Err(EndError::NotTheHolder);
    }
    kill(pid)?;
    let deadline = Instant::now() + patience;
    while super::probe(home)? == Some(pid) {
        if Instant::now() >= deadline {
            return Err(EndError::StillHeld {
                pid,
                waited: patience,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// SIGKILL to `pid`.
#[cfg(unix)]
fn kill(pid: u32) -> Result<(), EndError> {
    let target = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or(EndError::NotTheHolder)?;
    rustix::process::kill_process(target, rustix::process::Signal::KILL).map_err(|e| {
        EndError::Signal {
            pid,
            source: e.into(),
        }
    })
}

/// Elsewhere a hung worker is named, not ended: the Windows equivalent is `TerminateProcess`
/// on a handle opened with `PROCESS_TERMINATE` (what `Stop-Process -Id <pid> -Force` does).
#[cfg(not(unix))]
fn kill(pid: u32) -> Result<(), EndError> {
    Err(EndError::Signal {
        pid,
        source: std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("end it with Stop-Process -Id {pid} -Force"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_process_is_not_stopped() {
        assert_eq!(is_stopped(std::process::id()), Some(false));
        assert_eq!(is_stopped(u32::MAX), None);
    }
}

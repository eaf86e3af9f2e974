//! The worker lock: exactly one live worker owns a state directory.
//!
//! An exclusive advisory lock (`flock`) on `<home>/worker.lock`. The kernel drops it when the
//! process dies, however it dies (`kill -9` included), so a stale lock can never block a new
//! worker; the pid written into the file is informational only.
//!
//! Portable through `std::fs::File::try_lock`: `flock` on Linux and macOS, `LockFileEx` on
//! Windows, which the system also releases when the process ends. Windows locks are mandatory,
//! though: there [`probe`] cannot read the pid while the worker holds the file and reports 0
//! (the pid would go into a second file).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use std::fs::TryLockError;

/// Name of the lock file inside the state directory.
pub const LOCK_FILE: &str = "worker.lock";

/// A held worker lock; released on drop (and by the kernel when the process dies).
#[derive(Debug)]
pub struct WorkerLock {
    file: File,
    path: PathBuf,
}

impl WorkerLock {
    /// Takes the lock without waiting. `Ok(None)` when another live process holds it.
    pub fn try_acquire(home: &Path) -> std::io::Result<Option<WorkerLock>> {
        std::fs::create_dir_all(home)?;
        let path = home.join(LOCK_FILE);
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut file = opts.open(&path)?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0)?;
                file.seek(SeekFrom::Start(0))?;
                writeln!(file, "{}", std::process::id())?;
                file.sync_data()?;
                Ok(Some(WorkerLock { file, path }))
            }
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    /// Like [`WorkerLock::try_acquire`], but keeps trying for `patience`: a cmdlet probing the
    /// lock holds it (shared) for an instant, which must not make a starting worker give up.
    pub fn acquire_within(
        home: &Path,
        patience: std::time::Duration,
    ) -> std::io::Result<Option<WorkerLock>> {
        let deadline = std::time::Instant::now() + patience;
        loop {
            if let Some(lock) = Self::try_acquire(home)? {
                return Ok(Some(lock));
            }
            if std::time::Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
    }

    /// The lock file this lock holds.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkerLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// Whether a live worker holds the lock of `home`, and its pid as it wrote it.
pub fn probe(home: &Path) -> std::io::Result<Option<u32>> {
    let path = home.join(LOCK_FILE);
    let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            Ok(None)
        }
        Err(TryLockError::WouldBlock) => Ok(Some(read_pid(&mut file))),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

fn read_pid(file: &mut File) -> u32 {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    text.trim().parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_in_same_dir_is_refused_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = WorkerLock::try_acquire(dir.path()).unwrap();
        assert!(first.is_some());
        // flock is per open file description: a second open of the same file conflicts even
        // within one process, which is what lets this test stand in for a second worker.
        assert!(WorkerLock::try_acquire(dir.path()).unwrap().is_none());
        assert_eq!(probe(dir.path()).unwrap(), Some(std::process::id()));
        drop(first);
        assert_eq!(probe(dir.path()).unwrap(), None);
        assert!(WorkerLock::try_acquire(dir.path()).unwrap().is_some());
    }
}

//! Process control: which process owns a state directory, and starting the one that should.
//!
//! Both the api (the cmdlets probe and start the worker) and the worker (it takes the lock
//! before it touches the store) need these, so they live below both: neither of those layers
//! has to import the other for them. Only the standard library, the state directory's layout
//! and the store's worker registrations (`liveness`) are known here; nothing of the engine or
//! IMAP.

pub mod liveness;
pub mod lock;
pub mod spawn;

pub use lock::{WorkerLock, probe};
pub use spawn::{SpawnError, WORKER_ENV, detach, ensure_worker, worker_env};

/// Makes every file this process creates from now on owner-only (umask 077): the worker's and
/// the CLI's logs, reports and the embedded Maildir store (which Dovecot then serves as the
/// state directory's owner, or through a default ACL; see the README). The binary calls it for
/// `worker` and `migrate`; the library loaded into PowerShell never changes its host's umask.
/// Windows has no umask: there the state directory's ACL (inherited by what is created in it)
/// keeps others out, and this does nothing.
pub fn restrict_umask() {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

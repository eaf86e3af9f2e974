//! The worker: one process per state directory that runs what the cmdlets recorded.
//!
//! Cmdlets never do long work: they write a requested action or a status into the store and
//! return. The worker polls the store every second, moves batches and users through Exchange's
//! statuses, runs user passes through the engine (bounded by each source endpoint's concurrency
//! limits), retries what a dropped connection or a throttling server interrupted, and writes the
//! batch reports. Its progress lives only in the store, so a worker killed at any point is
//! replaced by a new one that resumes where the store says.

//!
//! Modules: `scheduler` (the loop and each batch's step), `actions` (requested actions),
//! `passes` (running a user's pass), `record` (what a pass's end changes), `jobs` (a user's
//! engine job), `reports` and `notify` (the batch reports on disk and by mail). Every status
//! decision is the store's `lifecycle`.

mod actions;
pub mod jobs;
mod notify;
mod passes;
mod record;
mod reports;
mod scheduler;
mod shared;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use imapmigration_store as store;
use tokio_util::sync::CancellationToken;

use crate::process::lock;

pub use scheduler::Scheduler;

/// Default interval between incremental syncs of a Synced batch (Exchange: 24 hours).
pub const DEFAULT_INCREMENTAL_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// Errors that stop the worker itself (not one user).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The state store could not be opened, read or written.
    #[error("cannot use the state store: {0}")]
    Store(#[from] store::Error),
    /// `worker.lock` could not be opened or locked (not: another worker holds it).
    #[error("cannot take the worker lock in {home}: {source}")]
    Lock {
        /// The state directory.
        home: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another live worker holds `worker.lock` of this state directory.
    #[error("another worker (pid {pid}) owns {home}")]
    Busy {
        /// The state directory.
        home: PathBuf,
        /// The other worker's process id (0 when the lock file does not say).
        pid: u32,
    },
    /// A live worker of another ImapMigration version is registered on the shared
    /// PostgreSQL store: workers of one store must be of one version.
    #[error(
        "a worker of ImapMigration {version} (pid {pid} on host {host}) runs on this PostgreSQL \
         store, and this one is {}: update the older side so every worker of the store is of \
         one version",
        crate::VERSION
    )]
    SharedStoreOtherVersion {
        /// The other worker's host.
        host: String,
        /// Its process id on that host.
        pid: u32,
        /// Its version.
        version: String,
    },
    /// This worker's registration is gone: another worker took the state directory over
    /// (this one was hung and its lock broken). It must stop at once and record nothing.
    #[error("this worker was replaced by another one and stops")]
    Replaced,
}

/// Sets up logging into `<home>/logs/worker.log.<date>`, rotated daily, seven files kept, every
/// line redacted ([`store::redact`]).
pub fn init_logging(home: &Path) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    init_logging_as(home, "worker")
}

/// [`init_logging`] into `<home>/logs/<prefix>.<date>.log` (`migrate` for the CLI's runs).
pub fn init_logging_as(
    home: &Path,
    prefix: &str,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::EnvFilter;
    let dir = store::paths::logs_dir(home);
    let _ = std::fs::create_dir_all(&dir);
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix(prefix)
        .filename_suffix("log")
        .max_log_files(7)
        .build(&dir)
        .ok()?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter =
        EnvFilter::try_from_env("IMAPMIGRATION_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Every line goes through the one redaction step: errors quote servers' replies.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(move || store::redact::RedactingWriter(writer.clone()))
        .try_init();
    Some(guard)
}

/// The daemon: takes the lock (or returns `Busy`), logs to the state directory, runs until
/// `shutdown`.
pub async fn run_daemon(home: &Path, shutdown: CancellationToken) -> Result<(), WorkerError> {
    run_daemon_with(home, shutdown, |_| async {}).await
}

/// [`run_daemon`], with `beside` spawned once the lock is held (the binary serves the web
/// console there, so only the directory's one worker does); its token is cancelled when the
/// worker stops, and the worker waits for it to end.
pub async fn run_daemon_with<F, Fut>(
    home: &Path,
    shutdown: CancellationToken,
    beside: F,
) -> Result<(), WorkerError>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let lock = match lock::WorkerLock::acquire_within(home, Duration::from_secs(2)) {
        Ok(Some(l)) => l,
        Ok(None) => {
            let pid = lock::probe(home).ok().flatten().unwrap_or(0);
            return Err(WorkerError::Busy {
                home: home.to_owned(),
                pid,
            });
        }
        Err(source) => {
            return Err(WorkerError::Lock {
                home: home.to_owned(),
                source,
            });
        }
    };
    let scheduler = Scheduler::new(home, &lock)?;
    let stop_beside = shutdown.child_token();
    let beside = tokio::spawn(beside(stop_beside.clone()));
    let r = scheduler.run(shutdown).await;
    stop_beside.cancel();
    let _ = beside.await;
    drop(lock);
    r
}

/// Kept for the reports module: the current UTC time as the reports print it.
pub(crate) fn utc_now_text() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

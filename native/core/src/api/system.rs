//! `system.*` and `worker.*`: versions, the panic self-test, and starting the worker.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Value, json};

use imapmigration_store as store;

use super::{ApiError, ApiResult, Request};
use crate::ErrorCode;
use crate::process;

pub fn version(req: &Request) -> ApiResult {
    Ok(json!({
        "AbiVersion": crate::ABI_VERSION,
        "Version": crate::VERSION,
        "Home": req.home(),
        // The module checks its error-category table against this list.
        "ErrorCodes": ErrorCode::ALL,
    }))
}

/// Panics on purpose: proves that the ABI's panic boundary turns a panic into an error response
/// instead of aborting the host process.
pub fn panic_for_tests(_req: &Request) -> ApiResult {
    panic!("panic requested through system.panic");
}

/// Returns its arguments: lets hosts check that text survives the boundary unchanged.
pub fn echo(req: &Request) -> ApiResult {
    Ok(Value::Object(req.args.clone()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnsureArgs {
    worker_path: Option<PathBuf>,
}

/// Starts the worker for the request's state directory unless one runs.
pub fn worker_ensure(req: &Request) -> ApiResult {
    let args: EnsureArgs = req.args()?;
    let path = resolve_worker_path(args.worker_path)?;
    let (pid, started) = ensure(req, &path)?;
    Ok(json!({ "Running": pid != 0, "Pid": pid, "Started": started }))
}

/// Reports whether a worker owns the state directory.
pub fn worker_status(req: &Request) -> ApiResult {
    let home = req.home();
    let pid = process::probe(&home).map_err(|e| {
        ApiError::new(
            ErrorCode::Internal,
            format!("cannot read the worker lock in {}: {e}", home.display()),
        )
    })?;
    let store = req.open_store()?;
    let info = latest_worker(&store)?;
    Ok(json!({
        "Running": pid.is_some(),
        "Pid": pid,
        "Version": info.as_ref().map(|w| w.version.clone()),
        "HeartbeatAt": info.as_ref().map(|w| w.heartbeat_at),
    }))
}

fn resolve_worker_path(arg: Option<PathBuf>) -> ApiResult<PathBuf> {
    if let Some(p) = arg {
        return Ok(p);
    }
    if let Ok(p) = std::env::var("IMAPMIGRATION_WORKER") {
        return Ok(PathBuf::from(p));
    }
    Err(ApiError::invalid(
        "workerPath",
        "no worker binary given (workerPath or IMAPMIGRATION_WORKER)",
    ))
}

/// Makes sure a worker of our own version runs for the request's home. On a PostgreSQL store
/// none is started (the workers run on their hosts, see [`shared_store_workers`]): the pid of
/// a live one, or 0 with a warning when none is alive.
pub(crate) fn ensure(req: &Request, worker_path: &std::path::Path) -> ApiResult<(u32, bool)> {
    let home = req.home();
    if let Some(pid) = shared_store_workers(req)? {
        return Ok((pid, false));
    }
    if let Ok(Some(pid)) = process::probe(&home) {
        let store = req.open_store()?;
        if let Some(w) = latest_worker(&store)?
            && w.pid == pid
            && w.version != crate::VERSION
        {
            return Err(ApiError::new(
                    ErrorCode::VersionMismatch,
                    format!(
                        "the worker (pid {pid}) is ImapMigration {} but this module is {}; stop that worker \
                         (kill {pid}) so the module starts its own, or update the older side so both match",
                        w.version,
                        crate::VERSION
                    ),
                )
                .with_details(json!({ "workerVersion": w.version, "moduleVersion": crate::VERSION })));
        }
        return Ok((pid, false));
    }
    process::ensure_worker(worker_path, &home)
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("cannot start the worker: {e}")))
}

/// Starts the worker when the caller gave its path; a missing path only means "not now" (the
/// CLI and some tests drive the worker themselves).
pub(crate) fn maybe_ensure(req: &Request) -> ApiResult<Option<u32>> {
    match worker_path(req) {
        Some(path) => ensure(req, &path).map(|(pid, _)| Some(pid)),
        None => Ok(None),
    }
}

/// The worker binary the request names (`workerPath`), else `IMAPMIGRATION_WORKER`.
fn worker_path(req: &Request) -> Option<PathBuf> {
    match req.args.get("workerPath").and_then(Value::as_str) {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => std::env::var_os("IMAPMIGRATION_WORKER").map(PathBuf::from),
    }
}

/// Notices a batch that needs the worker (work in progress, a requested action, a start or a
/// sync that is due: `Store::batches_needing_attention`) while no live worker holds the state
/// directory, and starts one, once per request, saying so in a warning. "Live" on SQLite: a
/// process holds `worker.lock` and its heartbeat is at most
/// [`process::liveness::stale_after_secs`] old (30 s). A worker that holds the lock with a
/// stale heartbeat is hung (stopped, or stuck): when the caller may start workers and the hung
/// one runs on this host, it is ended ([`process::liveness::end_hung_worker`]: SIGKILL, which
/// a stopped process cannot escape or outlive to write again) and a new one started, both said
/// in the warning; otherwise the warning names it. Never fails the operation: what goes wrong
/// here is a warning too.
pub(crate) fn revive_worker(req: &Request) {
    let home = req.home();
    if is_shared_store(req) {
        // Workers of a shared store are started on their hosts; a batch waiting for one is
        // said in the warning of `shared_store_workers`.
        if let Ok(store) = req.open_store()
            && store
                .batches_needing_attention(store::now())
                .is_ok_and(|w| !w.is_empty())
        {
            let _ = shared_store_workers(req);
        }
        return;
    }
    if !store::paths::db_path(&home).exists() {
        return;
    }
    let Ok(store) = req.open_store() else {
        return;
    };
    let now = store::now();
    let Ok(waiting) = store.batches_needing_attention(now) else {
        return;
    };
    if waiting.is_empty() {
        return;
    }
    let names = waiting
        .iter()
        .map(|b| b.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let workers = store.workers_list().unwrap_or_default();
    let mut replaced = String::new();
    match process::probe(&home) {
        Ok(Some(pid)) => {
            let Some(w) = workers.iter().find(|w| w.pid == pid) else {
                return; // a worker that has just taken the lock and not yet registered
            };
            if process::liveness::alive(w, now) {
                return;
            }
            let silent = now.signed_duration_since(w.heartbeat_at).num_seconds();
            let hung = format!(
                "the worker (pid {pid}) holds {} but has not reported since {} ({silent} s)",
                home.display(),
                rfc3339(w.heartbeat_at),
            );
            let local = w.host == process::liveness::this_host();
            let path = worker_path(req);
            if path.is_none() || !local {
                let how = if local {
                    format!("stop it (kill {pid}) and the next cmdlet starts a new one")
                } else {
                    format!("it runs on {}: stop it there (kill {pid})", w.host)
                };
                req.warn(format!(
                    "{hung}; it may be hung, and the batch(es) {names} wait for it: {how}"
                ));
                return;
            }
            if !still_hung(&store, w) {
                return; // it reported meanwhile (a host that was asleep, a slow store)
            }
            if let Err(e) = process::liveness::end_hung_worker(&home, pid, END_PATIENCE) {
                req.warn(format!(
                    "{hung}; it may be hung and could not be ended ({e}), and the batch(es) {names} wait for it: stop it (kill -9 {pid}) and the next cmdlet starts a new one"
                ));
                return;
            }
            tracing::warn!(pid, silent, "ended a hung worker");
            replaced = format!("{hung}: it was hung and has been ended (SIGKILL)");
        }
        Ok(None) => {}
        Err(_) => return,
    }
    let Some(path) = worker_path(req) else {
        return; // the caller drives the worker itself (the CLI, tests)
    };
    let last = workers
        .first()
        .map(|w| {
            format!(
                " (the last one, pid {}, reported at {})",
                w.pid,
                rfc3339(w.heartbeat_at)
            )
        })
        .unwrap_or_default();
    match ensure(req, &path) {
        Ok((pid, started)) => {
            req.worker_replaced.set(true);
            if started && replaced.is_empty() {
                req.warn(format!(
                    "no worker was running for {}{last}; started one (pid {pid}) to resume the batch(es) {names}",
                    home.display()
                ));
            } else if started {
                req.warn(format!(
                    "{replaced}; started a new one (pid {pid}) to resume the batch(es) {names}"
                ));
            }
        }
        Err(e) if replaced.is_empty() => req.warn(format!(
            "no worker is running for {}{last} and none could be started ({}); the batch(es) {names} wait for one",
            home.display(),
            e.message
        )),
        Err(e) => req.warn(format!(
            "{replaced}; no new one could be started ({}), and the batch(es) {names} wait for one",
            e.message
        )),
    }
}

/// How long the kernel is given to release a killed worker's lock.
const END_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether a worker seen with a stale heartbeat is still silent: a stopped process is at once;
/// one that runs gets two seconds to write a heartbeat (its loop writes one within half a
/// second of waking: a host resumed from sleep shows every heartbeat stale for that long).
fn still_hung(store: &store::Store, seen: &store::WorkerRecord) -> bool {
    if process::liveness::is_stopped(seen.pid) == Some(true) {
        return true;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let fresh = store
            .workers_list()
            .unwrap_or_default()
            .into_iter()
            .find(|w| w.id == seen.id)
            .is_some_and(|w| w.heartbeat_at > seen.heartbeat_at);
        if fresh {
            return false;
        }
    }
    true
}

fn rfc3339(t: store::Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The most recent worker registration (the live worker heartbeats every second).
fn latest_worker(
    store: &imapmigration_store::Store,
) -> ApiResult<Option<imapmigration_store::WorkerRecord>> {
    Ok(store
        .workers_list()?
        .into_iter()
        .max_by_key(|w| w.heartbeat_at))
}

/// Whether the request's state directory is configured for a PostgreSQL store.
fn is_shared_store(req: &Request) -> bool {
    matches!(
        store::location::StoreLocation::resolve(&req.home()),
        Ok(store::location::StoreLocation::Postgres(_))
    )
}

/// On a PostgreSQL store: `Some(pid)` of the live worker with the latest heartbeat, or
/// `Some(0)` with a warning when no worker is alive (a cmdlet never starts one against a
/// shared store: the workers run on their hosts, under systemd). `None` on SQLite.
fn shared_store_workers(req: &Request) -> ApiResult<Option<u32>> {
    if !is_shared_store(req) {
        return Ok(None);
    }
    let store = req.open_store()?;
    let Some(workers) = store.pg_workers(process::liveness::stale_after_secs())? else {
        return Ok(None);
    };
    if let Some(w) = workers.iter().find(|w| w.alive) {
        return Ok(Some(w.pid));
    }
    let last = workers
        .first()
        .map(|w| {
            format!(
                " (the last one, pid {} on {}, reported at {})",
                w.pid,
                w.host,
                rfc3339(w.heartbeat_at)
            )
        })
        .unwrap_or_default();
    req.warn(format!(
        "no worker is alive on this PostgreSQL store{last}; cmdlets do not start workers for a \
         shared store: start `imapmigration worker` on a worker host (its systemd unit), and the \
         batches run there"
    ));
    Ok(Some(0))
}

//! `system.*` and `worker.*`: versions, the panic self-test, and starting the worker.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Value, json};

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
    Ok(json!({ "Running": true, "Pid": pid, "Started": started }))
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

/// Makes sure a worker of our own version runs for the request's home.
pub(crate) fn ensure(req: &Request, worker_path: &std::path::Path) -> ApiResult<(u32, bool)> {
    let home = req.home();
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
    let path = match req.args.get("workerPath").and_then(Value::as_str) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => match std::env::var("IMAPMIGRATION_WORKER") {
            Ok(p) => PathBuf::from(p),
            Err(_) => return Ok(None),
        },
    };
    ensure(req, &path).map(|(pid, _)| Some(pid))
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

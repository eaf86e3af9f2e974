//! Start-, Stop-, Complete-, Remove-MigrationBatch: each records the action for the worker
//! with the status `lifecycle::batch::on_action` shows at once.

use serde::Deserialize;
use serde_json::Value;

use imapmigration_store as store;
use store::lifecycle::{batch as rules, user as user_rules};
use store::{BatchAction, BatchRecord, BatchUpdate, Store};

use super::{ensure_worker, refused, render_one, resolve, worker_running};
use crate::api::{ApiResult, Request, dto};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdArgs {
    identity: Option<String>,
}

/// Records `action` for the worker with the status [`rules::on_batch_action`] shows at once,
/// or refuses it with the batch's status.
fn request(
    store: &Store,
    b: &BatchRecord,
    action: BatchAction,
    users_to_start: bool,
) -> ApiResult<()> {
    let status =
        rules::on_batch_action(b, action, users_to_start).map_err(|r| refused(r, &b.name))?;
    store.update_batch(
        &b.id,
        BatchUpdate {
            status: Some(status),
            requested_action: Some(Some(action)),
            ..Default::default()
        },
    )?;
    Ok(())
}

/// Start-MigrationBatch: starts, resumes, or retries the failed users. A batch whose worker was
/// gone is resumed by the worker the request started ([`rules::on_start_without_worker`]).
pub fn start(req: &Request) -> ApiResult {
    let a: IdArgs = dto::args(req)?;
    let store = req.open_store()?;
    let b = resolve(&store, dto::opt_identity(&a.identity))?;
    let name = &b.name;
    let users_to_start = store.batch_counts(&b.id)?.to_start > 0;
    if req.worker_replaced() && rules::running(b.status) {
        // The worker was gone; the request has started a new one (see `revive_worker`).
        rules::on_start_without_worker(b.status, users_to_start).map_err(|r| refused(r, name))?;
        if rules::resumed_as_it_stands(b.status) {
            ensure_worker(req, &format!("the batch {name} waits for a worker"))?;
            return render_one(&store, &b.id);
        }
    }
    rules::on_batch_action(&b, BatchAction::Start, users_to_start).map_err(|r| refused(r, name))?;
    // The worker re-queues the same users when it takes up the start; doing it here too shows
    // them Queued at once.
    store.transition_users(
        &b.id,
        &user_rules::all_where(user_rules::requeued_by_start),
        |s, passes| {
            user_rules::on_event(s, passes, user_rules::Event::Requeued(BatchAction::Start))
        },
    )?;
    request(&store, &b, BatchAction::Start, users_to_start)?;
    ensure_worker(req, &format!("the batch {name} was marked for start"))?;
    render_one(&store, &b.id)
}

/// Stop-MigrationBatch.
pub fn stop(req: &Request) -> ApiResult {
    let a: IdArgs = dto::args(req)?;
    let store = req.open_store()?;
    let b = resolve(&store, dto::opt_identity(&a.identity))?;
    request(&store, &b, BatchAction::Stop, false)?;
    ensure_worker(
        req,
        &format!("the batch {} was marked for stopping", b.name),
    )?;
    render_one(&store, &b.id)
}

/// Complete-MigrationBatch (our extension: a last incremental pass, then Completed). Exchange
/// has no finalization for IMAP; the module decides whether to offer it.
pub fn complete(req: &Request) -> ApiResult {
    let a: IdArgs = dto::args(req)?;
    let store = req.open_store()?;
    let b = resolve(&store, dto::opt_identity(&a.identity))?;
    request(&store, &b, BatchAction::Complete, false)?;
    ensure_worker(
        req,
        &format!("the batch {} was marked for completion", b.name),
    )?;
    render_one(&store, &b.id)
}

/// Remove-MigrationBatch. Returns null; the batch shows `Removing` until the worker deleted it.
pub fn remove(req: &Request) -> ApiResult {
    let a: IdArgs = dto::args(req)?;
    let store = req.open_store()?;
    let b = resolve(&store, dto::opt_identity(&a.identity))?;
    rules::on_batch_action(&b, BatchAction::Remove, false).map_err(|r| refused(r, &b.name))?;
    if rules::never_started(&b) && !worker_running(req) {
        // Nothing runs and nothing was copied: delete now rather than start a worker for it.
        store.delete_batch(&b.id)?;
        return Ok(Value::Null);
    }
    request(&store, &b, BatchAction::Remove, false)?;
    ensure_worker(req, &format!("the batch {} was marked for removal", b.name))?;
    Ok(Value::Null)
}

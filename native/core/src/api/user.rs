//! `user.*` and `statistics.get`: Get-, Set-, Start-, Stop-, Remove-MigrationUser,
//! Get-MigrationUserStatistics and Get-MigrationStatistics.
//!
//! User rules:
//! - start retries a Failed, IncrementalFailed, Stopped or IncrementalStopped user: it is
//!   re-queued; a batch that is not running is set `Starting` so the worker picks it up (the
//!   worker syncs the queued users only, not every failed one);
//! - stop: a user the worker may be running (batch running) gets `Stopping` plus the `stop`
//!   action; in a batch that is not running the user is stopped at once (`IncrementalStopped`
//!   once it has completed a pass, else `Stopped`);
//! - remove: only a user that is not being migrated (an active user, or a queued one in a running
//!   batch, needs Stop-MigrationBatch first); it is deleted at once with its state. Mail already
//!   on the target stays.

use serde::Deserialize;
use serde_json::{Value, json};

use imapmigration_store as store;
use store::{
    BatchFilter, BatchRecord, BatchStatus, BatchUpdate, StatusSummary, Store, UserAction,
    UserFilter, UserRecord, UserStatus, UserUpdate,
};

use super::batch::ensure_worker;
use super::dto::{self, invalid_state};
use super::{ApiError, ApiResult, Request};
use crate::ErrorCode;

/// Batch statuses in which the worker may be running users.
fn batch_running(s: BatchStatus) -> bool {
    matches!(
        s,
        BatchStatus::Starting
            | BatchStatus::Syncing
            | BatchStatus::IncrementalSyncing
            | BatchStatus::Completing
            | BatchStatus::Stopping
            | BatchStatus::Removing
    )
}

/// The one user an identity (email address or GUID) names.
fn resolve(store: &Store, identity: &str) -> ApiResult<UserRecord> {
    let mut found = store.find_users(identity)?;
    match found.len() {
        0 => Err(ApiError::not_found("migration user", identity)),
        1 => Ok(found.remove(0)),
        _ => {
            let names: Vec<String> = found
                .iter()
                .filter_map(|u| {
                    store
                        .get_batch_by_id(&u.batch_id)
                        .ok()
                        .flatten()
                        .map(|b| b.name)
                })
                .collect();
            Err(ApiError::invalid(
                "identity",
                format!(
                    "{identity} is in several batches ({}); use the Guid from Get-MigrationUser",
                    names.join(", ")
                ),
            )
            .with_details(
                json!({ "parameter": "identity", "identity": identity, "batches": names }),
            ))
        }
    }
}

fn batch_of(store: &Store, u: &UserRecord) -> ApiResult<BatchRecord> {
    store
        .get_batch_by_id(&u.batch_id)?
        .ok_or_else(|| ApiError::not_found("migration batch", &u.batch_id.to_string()))
}

#[derive(Deserialize)]
struct IdArgs {
    identity: Option<String>,
}

/// Get-MigrationUser. An identity that names no user returns every user (Exchange documents
/// this for the Get- cmdlets); the filters combine.
pub fn get(req: &Request) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Args {
        identity: Option<String>,
        batch_id: Option<String>,
        status: Option<String>,
        status_summary: Option<String>,
        email_address: Option<String>,
        mailbox_guid: Option<String>,
        result_size: Option<Value>,
    }
    let a: Args = dto::args(req)?;
    let limit = dto::result_size(&a.result_size)?;
    let store = req.open_store()?;
    let batches = store.list_batches(&BatchFilter::default())?;
    let names = dto::batch_names(&batches);
    let name_of = |u: &UserRecord| names.get(&u.batch_id).cloned().unwrap_or_default();

    if let Some(id) = dto::opt_identity(&a.identity).or(dto::opt_identity(&a.mailbox_guid)) {
        let found = store.find_users(id)?;
        if !found.is_empty() {
            return Ok(Value::Array(
                found.iter().map(|u| dto::user(u, &name_of(u))).collect(),
            ));
        }
    }
    let mut filter = UserFilter {
        limit,
        ..Default::default()
    };
    if let Some(b) = dto::opt_identity(&a.batch_id) {
        let batch = store.get_batch(b)?.ok_or_else(|| {
            ApiError::not_found("migration batch", b)
                .with_details(json!({ "identity": b, "parameter": "batchId" }))
        })?;
        filter.batch_id = Some(batch.id);
    }
    if let Some(s) = dto::opt_identity(&a.status) {
        filter.status = Some(s.parse().map_err(|e: store::ParseEnumError| {
            ApiError::invalid(
                "status",
                format!(
                    "the user status \"{s}\" is not valid; expected one of {}",
                    e.expected
                ),
            )
        })?);
    }
    if let Some(s) = dto::opt_identity(&a.status_summary) {
        let summary: StatusSummary = s.parse().map_err(|e: store::ParseEnumError| {
            ApiError::invalid(
                "statusSummary",
                format!(
                    "the status summary \"{s}\" is not valid; expected one of {}",
                    e.expected
                ),
            )
        })?;
        filter.status_summary = Some(summary);
    }
    filter.email = dto::opt_identity(&a.email_address).map(str::to_owned);
    let users = store.list_users(&filter)?;
    Ok(Value::Array(
        users.iter().map(|u| dto::user(u, &name_of(u))).collect(),
    ))
}

/// Get-MigrationUserStatistics.
pub fn statistics(req: &Request) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Args {
        identity: Option<String>,
        #[serde(default)]
        include_skipped_items: bool,
        #[serde(default)]
        include_report: bool,
        limit_skipped_items_to: Option<Value>,
    }
    let a: Args = dto::args(req)?;
    let identity = dto::required(&a.identity, "identity")?;
    let limit = match &a.limit_skipped_items_to {
        None => None,
        Some(v) => dto::unlimited("limitSkippedItemsTo", v)?.map(|n| n as usize),
    };
    let store = req.open_store()?;
    let u = resolve(&store, identity)?;
    let b = batch_of(&store, &u)?;
    let skipped = if a.include_skipped_items {
        Some(store.list_skipped_items(&u.id, limit)?)
    } else {
        None
    };
    let report = if a.include_report {
        Some(store.events_for_user(&u.id, None)?)
    } else {
        None
    };
    Ok(dto::user_statistics(
        &u,
        &b.name,
        skipped.as_deref(),
        report.as_deref(),
    ))
}

/// Records a start-like user action and makes sure the worker looks at the batch.
fn request_run(
    req: &Request,
    store: &Store,
    u: &UserRecord,
    b: &BatchRecord,
    action: UserAction,
) -> ApiResult<()> {
    store.update_user(
        &u.id,
        UserUpdate {
            status: Some(UserStatus::Queued),
            requested_action: Some(Some(action)),
            last_error: Some(None),
            error_code: Some(None),
            ..Default::default()
        },
    )?;
    if !batch_running(b.status) {
        // The worker only visits batches with work; Starting makes it run the queued user.
        store.update_batch(
            &b.id,
            BatchUpdate {
                status: Some(BatchStatus::Starting),
                ..Default::default()
            },
        )?;
    }
    ensure_worker(req, &format!("the user {} was queued", u.email))
}

fn check_batch_usable(b: &BatchRecord, u: &UserRecord) -> ApiResult<()> {
    match b.status {
        BatchStatus::Created => Err(invalid_state(
            b.status,
            format!(
                "the batch {} of {} has not been started; run Start-MigrationBatch",
                b.name, u.email
            ),
        )),
        BatchStatus::Removing
        | BatchStatus::Completing
        | BatchStatus::Stopping
        | BatchStatus::Corrupted => Err(invalid_state(
            b.status,
            format!(
                "the batch {} of {} is {}; try again later",
                b.name, u.email, b.status
            ),
        )),
        _ => Ok(()),
    }
}

/// Set-MigrationUser.
pub fn set(req: &Request) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Args {
        identity: Option<String>,
        #[serde(default)]
        sync_now: bool,
        #[serde(default)]
        approve_skipped_items: bool,
    }
    let a: Args = dto::args(req)?;
    let identity = dto::required(&a.identity, "identity")?;
    // The store keeps these per batch only; refusing beats silently ignoring them.
    for p in [
        "startAfter",
        "completeAfter",
        "badItemLimit",
        "largeItemLimit",
    ] {
        if req.args.get(p).is_some_and(|v| !v.is_null()) {
            return Err(ApiError::new(
                ErrorCode::Unsupported,
                format!("{p} can't be set per user; set it on the batch with Set-MigrationBatch"),
            )
            .with_details(json!({ "parameter": p })));
        }
    }
    // IMAP migrations need no approval of skipped items (docs/compatibility.md §11).
    let _ = a.approve_skipped_items;
    let store = req.open_store()?;
    let mut u = resolve(&store, identity)?;
    let b = batch_of(&store, &u)?;
    if a.sync_now {
        if !matches!(u.status, UserStatus::Synced | UserStatus::IncrementalFailed) {
            return Err(invalid_state(
                u.status,
                format!(
                    "syncNow needs a user that finished its initial sync (Synced); {} is {}",
                    u.email, u.status
                ),
            ));
        }
        check_batch_usable(&b, &u)?;
        request_run(req, &store, &u, &b, UserAction::SyncNow)?;
        u = store.get_user_by_id(&u.id)?.unwrap_or(u);
    }
    Ok(dto::user(&u, &b.name))
}

/// Start-MigrationUser: retries one failed or stopped user.
pub fn start(req: &Request) -> ApiResult {
    let a: IdArgs = dto::args(req)?;
    let identity = dto::required(&a.identity, "identity")?;
    let store = req.open_store()?;
    let u = resolve(&store, identity)?;
    let b = batch_of(&store, &u)?;
    if !matches!(
        u.status,
        UserStatus::Failed
            | UserStatus::IncrementalFailed
            | UserStatus::Stopped
            | UserStatus::IncrementalStopped
    ) {
        return Err(invalid_state(
            u.status,
            format!(
                "the user {} is {}; only a failed or stopped user can be started",
                u.email, u.status
            ),
        ));
    }
    check_batch_usable(&b, &u)?;
    request_run(req, &store, &u, &b, UserAction::Start)?;
    let u = store.get_user_by_id(&u.id)?.unwrap_or(u);
    Ok(dto::user(&u, &b.name))
}

/// Stop-MigrationUser.
pub fn stop(req: &Request) -> ApiResult {
    let a: IdArgs = dto::args(req)?;
    let identity = dto::required(&a.identity, "identity")?;
    let store = req.open_store()?;
    let u = resolve(&store, identity)?;
    let b = batch_of(&store, &u)?;
    use UserStatus::*;
    match u.status {
        Queued | Starting | Syncing | IncrementalSyncing | Synced | Validating => {}
        Stopped | IncrementalStopped => {
            return Err(invalid_state(
                u.status,
                format!("the user {} is already stopped", u.email),
            ));
        }
        Stopping => {
            return Err(invalid_state(
                u.status,
                format!("the user {} is already stopping", u.email),
            ));
        }
        _ => {
            return Err(invalid_state(
                u.status,
                format!(
                    "the user {} is {}; there is nothing to stop",
                    u.email, u.status
                ),
            ));
        }
    }
    check_batch_usable(&b, &u)?;
    let updated = if batch_running(b.status) {
        let u = store.update_user(
            &u.id,
            UserUpdate {
                status: Some(Stopping),
                requested_action: Some(Some(UserAction::Stop)),
                ..Default::default()
            },
        )?;
        ensure_worker(
            req,
            &format!("the user {} was marked for stopping", u.email),
        )?;
        u
    } else {
        let to = if u.passes > 0 || u.status == Synced {
            IncrementalStopped
        } else {
            Stopped
        };
        store.update_user(
            &u.id,
            UserUpdate {
                status: Some(to),
                requested_action: Some(None),
                ..Default::default()
            },
        )?
    };
    Ok(dto::user(&updated, &b.name))
}

/// Remove-MigrationUser. Returns null.
pub fn remove(req: &Request) -> ApiResult {
    let a: IdArgs = dto::args(req)?;
    let identity = dto::required(&a.identity, "identity")?;
    let store = req.open_store()?;
    let u = resolve(&store, identity)?;
    let b = batch_of(&store, &u)?;
    let busy = match u.status.summary() {
        StatusSummary::Active => u.status != UserStatus::Queued || batch_running(b.status),
        _ => false,
    } || b.status == BatchStatus::Removing;
    if busy {
        return Err(invalid_state(
            u.status,
            format!(
                "the user {} can't be removed while it is {} in batch {} ({}); stop the batch first (Stop-MigrationBatch)",
                u.email, u.status, b.name, b.status
            ),
        ));
    }
    store.delete_user(&u.id)?;
    Ok(Value::Null)
}

/// Get-MigrationStatistics: user counts over every batch.
pub fn migration_statistics(req: &Request) -> ApiResult {
    let store = req.open_store()?;
    let c = store.statistics()?;
    Ok(json!({
        "Identity": "MigrationStatistics",
        "TotalCount": c.total,
        "ActiveCount": c.active,
        "StoppedCount": c.stopped,
        "SyncedCount": c.synced,
        "FinalizedCount": c.finalized,
        "FailedCount": c.failed,
        "PendingCount": c.pending,
        "ProvisionedCount": c.provisioned,
        "MigrationType": "IMAP",
    }))
}

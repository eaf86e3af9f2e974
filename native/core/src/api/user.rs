//! `user.*` and `statistics.get`: Get-, Set-, Start-, Stop-, Remove-MigrationUser,
//! Get-MigrationUserStatistics and Get-MigrationStatistics.
//!
//! User rules are the store's `lifecycle::user::on_action` (docs/compatibility.md §6): start
//! retries a failed or stopped user and sync-now a synced one (re-queued; a batch the worker
//! does not visit is set `Starting` so it runs them, `lifecycle::batch::on_user_queued`); stop
//! marks a user of a running batch `Stopping` for the worker and stops one of an idle batch at
//! once; remove deletes a user that is not being migrated at once with its state. Mail already
//! on the target stays.

use serde::Deserialize;
use serde_json::{Value, json};

use imapmigration_store as store;
use store::lifecycle::{batch as batch_rules, user as rules};
use store::{
    BatchFilter, BatchRecord, BatchUpdate, StatusSummary, Store, UserAction, UserFilter,
    UserRecord, UserStatus, UserUpdate,
};

use super::batch::ensure_worker;
use super::dto::{self, invalid_state};
use super::{ApiError, ApiResult, Request};
use crate::ErrorCode;

/// Asks the lifecycle what `action` does to user `u` of batch `b`, or refuses with
/// `InvalidState` naming the status that refused.
fn decide(u: &UserRecord, b: &BatchRecord, action: UserAction) -> ApiResult<rules::Outcome> {
    rules::on_user_action(u.status, action, b, u.passes)
        .map_err(|r| invalid_state(r.status_name(), r.message(&u.email, &b.name)))
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

/// Get-MigrationUser. An identity, mailbox GUID or address that names no user is `NotFound`,
/// never every user, so that `Get-MigrationUser typo | Remove-MigrationUser` removes nothing; the
/// filters combine.
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

    let named = dto::opt_identity(&a.identity)
        .map(|id| (id, "identity"))
        .or(dto::opt_identity(&a.mailbox_guid).map(|id| (id, "mailboxGuid")));
    if let Some((id, parameter)) = named {
        let found = store.find_users(id)?;
        if found.is_empty() {
            return Err(ApiError::not_found("migration user", id)
                .with_details(json!({ "identity": id, "parameter": parameter })));
        }
        return Ok(Value::Array(
            found.iter().map(|u| dto::user(u, &name_of(u))).collect(),
        ));
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
    if let Some(email) = &filter.email
        && users.is_empty()
        && store.find_users(email)?.is_empty()
    {
        return Err(ApiError::not_found("migration user", email)
            .with_details(json!({ "identity": email, "parameter": "emailAddress" })));
    }
    Ok(Value::Array(
        users.iter().map(|u| dto::user(u, &name_of(u))).collect(),
    ))
}

/// The report lines a user's DiagnosticInfo shows: enough for the last passes and their retries.
const DIAGNOSTIC_EVENTS: usize = 20;

/// Get-MigrationUserStatistics. `Diagnostics` carries the user's most recent report lines and
/// the retries among them, for the module's DiagnosticInfo text.
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
    let recent = store.events_for_user(&u.id, Some(DIAGNOSTIC_EVENTS))?;
    let mut v = dto::user_statistics(&u, &b.name, skipped.as_deref(), report.as_deref());
    if let Value::Object(m) = &mut v {
        m.insert("Diagnostics".into(), dto::diagnostics(&recent));
    }
    Ok(v)
}

/// Records a start-like user action (Start, SyncNow) if the user's and the batch's statuses
/// allow it, and makes sure the worker looks at the batch.
fn request_run(
    req: &Request,
    store: &Store,
    u: &UserRecord,
    b: &BatchRecord,
    action: UserAction,
) -> ApiResult<()> {
    let status = match decide(u, b, action)? {
        rules::Outcome::Becomes(status) => status,
        // Start and SyncNow never remove a user.
        rules::Outcome::Removed => return Ok(()),
    };
    store.update_user(
        &u.id,
        UserUpdate {
            status: Some(status),
            requested_action: Some(Some(action)),
            last_error: Some(None),
            error_code: Some(None),
            ..Default::default()
        },
    )?;
    // The worker only visits batches with work; Starting makes it run the queued user.
    let to = batch_rules::on_user_queued(b.status);
    if to != b.status {
        store.update_batch(
            &b.id,
            BatchUpdate {
                status: Some(to),
                ..Default::default()
            },
        )?;
    }
    ensure_worker(req, &format!("the user {} was queued", u.email))
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
    let updated = match decide(&u, &b, UserAction::Stop)? {
        rules::Outcome::Becomes(to @ UserStatus::Stopping) => {
            // The worker may be running the user: it stops the pass, then the user.
            let u = store.update_user(
                &u.id,
                UserUpdate {
                    status: Some(to),
                    requested_action: Some(Some(UserAction::Stop)),
                    ..Default::default()
                },
            )?;
            ensure_worker(
                req,
                &format!("the user {} was marked for stopping", u.email),
            )?;
            u
        }
        rules::Outcome::Becomes(to) => store.update_user(
            &u.id,
            UserUpdate {
                status: Some(to),
                requested_action: Some(None),
                ..Default::default()
            },
        )?,
        // Stop never removes a user.
        rules::Outcome::Removed => u,
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
    decide(&u, &b, UserAction::Remove)?;
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

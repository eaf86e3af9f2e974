//! Set-MigrationBatch: settings, users from a CSV, the schedule and SyncNow, each as the
//! batch's status allows (`lifecycle::batch::on_set_batch`); every argument is checked before any
//! change is written.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use imapmigration_store as store;
use store::lifecycle::batch as rules;
use store::{BatchAction, BatchUpdate, UserFilter, UserUpdate, ValidationWarning};

use super::{
    check_emails, check_order, drop_users_of_other_batches, ensure_worker, read_csv, refused,
    render_one, resolve, string_list, warnings_message,
};
use crate::api::dto::{self, invalid_state};
use crate::api::{ApiError, ApiResult, Request};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetArgs {
    identity: Option<String>,
    csv_data: Option<String>,
    #[serde(default)]
    add_users: bool,
    allow_unknown_columns_in_csv: Option<bool>,
    start_after: Option<String>,
    complete_after: Option<String>,
    notification_emails: Option<Value>,
    report_interval: Option<Value>,
    skip_reports: Option<bool>,
    #[serde(default)]
    sync_now: bool,
    #[serde(default)]
    update: bool,
    bad_item_limit: Option<Value>,
    large_item_limit: Option<Value>,
    max_message_size: Option<Value>,
}

/// Set-MigrationBatch. Every argument is checked before any change is written.
pub fn set(req: &Request) -> ApiResult {
    let a: SetArgs = dto::args(req)?;
    let identity = dto::required(&a.identity, "identity")?;
    let store = req.open_store()?;
    let b = resolve(&store, Some(identity))?;
    let status = b.status;
    rules::on_set_batch(&b, rules::Change::Settings).map_err(|r| refused(r, &b.name))?;
    let mut u = BatchUpdate::default();
    let now = store::now();

    // CSV: parse now, apply after every other check passed.
    let allow_unknown = a
        .allow_unknown_columns_in_csv
        .unwrap_or(b.allow_unknown_columns);
    let csv = match dto::opt_identity(&a.csv_data) {
        Some(data) => {
            rules::on_set_batch(&b, rules::Change::Users).map_err(|r| refused(r, &b.name))?;
            Some(read_csv(data, allow_unknown)?)
        }
        None if a.add_users => return Err(ApiError::invalid("csvData", "addUsers needs csvData")),
        None => None,
    };
    if let Some(v) = a.allow_unknown_columns_in_csv {
        u.allow_unknown_columns = Some(v);
    }
    let mut start_after = b.start_after;
    if dto::has(req, "startAfter") {
        rules::on_set_batch(&b, rules::Change::StartAfter).map_err(|r| refused(r, &b.name))?;
        start_after = dto::opt_time("startAfter", &a.start_after)?;
        u.start_after = Some(start_after);
    }
    if dto::has(req, "completeAfter") {
        if b.complete_after.is_some_and(|t| t <= now) {
            return Err(invalid_state(
                status,
                format!(
                    "the CompleteAfter time of batch {} has passed; it can't be changed any more",
                    b.name
                ),
            ));
        }
        let c = dto::opt_time("completeAfter", &a.complete_after)?;
        check_order(start_after, c)?;
        u.complete_after = Some(c);
    }
    if dto::has(req, "notificationEmails") {
        let list = string_list("notificationEmails", &a.notification_emails)?.unwrap_or_default();
        check_emails("notificationEmails", &list)?;
        u.notification_emails = Some(list);
    }
    if dto::has(req, "reportInterval") {
        u.report_interval_secs = Some(match &a.report_interval {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                ApiError::invalid(
                    "reportInterval",
                    "reportInterval must be a whole number of seconds (0 = never)",
                )
            })?),
        });
    }
    if let Some(s) = a.skip_reports {
        u.skip_reports = Some(s);
    }
    if let Some(v) = &a.bad_item_limit {
        u.bad_item_limit = Some(dto::unlimited("badItemLimit", v)?);
    }
    if let Some(v) = &a.large_item_limit {
        u.large_item_limit = Some(dto::unlimited("largeItemLimit", v)?);
    }
    if let Some(v) = &a.max_message_size {
        u.max_message_size = Some(dto::byte_limit("maxMessageSize", v)?);
    }
    if a.sync_now {
        rules::on_batch_action(&b, BatchAction::SyncNow, false).map_err(|r| refused(r, &b.name))?;
        u.requested_action = Some(Some(BatchAction::SyncNow));
    }
    // `update` asks Exchange to re-read endpoint, batch and user settings; the worker reads them
    // afresh on every pass, so there is nothing to do.
    let _ = a.update;

    let mut added = 0usize;
    if let Some(parsed) = csv {
        let mut warnings = parsed.warnings;
        let existing: HashMap<String, store::UserRecord> = store
            .list_users(&UserFilter {
                batch_id: Some(b.id),
                ..Default::default()
            })?
            .into_iter()
            .map(|u| (u.email.to_lowercase(), u))
            .collect();
        let mut new_rows = Vec::new();
        let mut updates = Vec::new();
        for r in parsed.rows {
            match existing.get(&r.email_address.to_lowercase()) {
                Some(user) if a.add_users => warnings.push(ValidationWarning {
                    row_index: r.row_index,
                    email_address: r.email_address.clone(),
                    message: format!(
                        "row {}: the user {} is already in this batch",
                        r.row_index, user.email
                    ),
                }),
                Some(user) => updates.push((user.id, r)),
                None => new_rows.push(r),
            }
        }
        let new_rows = drop_users_of_other_batches(
            &store,
            Some(b.id),
            super::maildir_root(&store, &b).as_deref(),
            new_rows,
            &mut warnings,
        )?;
        for (id, r) in &updates {
            store.set_user_password(id, &r.password)?;
            store.update_user(
                id,
                UserUpdate {
                    user_name: Some(r.user_name.clone()),
                    user_root: Some(r.user_root.clone()),
                    ..Default::default()
                },
            )?;
        }
        added = store.add_users(&b.id, &new_rows)?.added.len();
        let all_warnings = if a.add_users {
            let mut w = b.validation_warnings.clone();
            w.extend(warnings);
            w
        } else {
            warnings
        };
        u.message =
            Some((!all_warnings.is_empty()).then(|| warnings_message(all_warnings.len(), true)));
        u.validation_warnings = Some(all_warnings);
        // New users of a batch that is past its initial sync start at once (no Start needed).
        let to = rules::on_users_added(status);
        if added > 0 && to != status {
            u.status = Some(to);
        }
    }
    let wakes_worker = u.requested_action.is_some() || u.status.is_some();
    store.update_batch(&b.id, u)?;
    if wakes_worker {
        ensure_worker(req, &format!("the batch {} was changed", b.name))?;
    }
    tracing::debug!(batch = %b.name, added, "batch changed");
    render_one(&store, &b.id)
}

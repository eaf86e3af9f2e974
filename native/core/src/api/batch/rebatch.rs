//! New-MigrationBatch `-Users` / `-UserIds`: a new batch made of users already migrating in
//! other batches (Exchange's retry idiom `New-MigrationBatch -Name Retry -Users
//! (Get-MigrationUser -Status Failed)`, docs/compatibility.md §4.1). The users move with their
//! progress; nothing they already have on the target is copied again.

use serde_json::{Value, json};

use imapmigration_store as store;
use store::csv_import::CsvUser;
use store::lifecycle::{batch as rules, user as user_rules};
use store::{BatchAction, BatchRecord, Store, UserFilter, UserRecord, UserStatus};
use uuid::Uuid;

use super::{ensure_worker, refused, render_one};
use crate::ErrorCode;
use crate::api::dto::invalid_state;
use crate::api::{ApiError, ApiResult, Request};

/// The scheduling arguments re-batching takes beside the users; the rest (endpoints, folder
/// filters, limits) comes from the users' batch.
pub(super) struct Schedule {
    pub auto_start: bool,
    pub start_after: Option<store::Timestamp>,
    pub complete_after: Option<store::Timestamp>,
    pub notification_emails: Option<Vec<String>>,
    pub report_interval: Option<u64>,
    pub skip_reports: bool,
}

/// Creates the batch `name` from the users `identities` name (email addresses or GUIDs).
/// Everything is checked before anything moves: an unknown or ambiguous user, a user whose
/// pass runs or whose batch is being removed, or users of batches with different endpoints
/// refuse the whole request, naming the users.
pub(super) fn rebatch(req: &Request, name: String, identities: &Value, s: Schedule) -> ApiResult {
    let ids: Vec<String> = match identities {
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.trim().to_owned()),
                _ => Err(ApiError::invalid(
                    "users",
                    "users must be a list of email addresses or GUIDs",
                )),
            })
            .collect::<ApiResult<_>>()?,
        Value::String(one) => vec![one.trim().to_owned()],
        _ => {
            return Err(ApiError::invalid(
                "users",
                "users must be a list of email addresses or GUIDs",
            ));
        }
    };
    if ids.is_empty() || ids.iter().any(String::is_empty) {
        return Err(ApiError::invalid("users", "users names no user"));
    }
    let store = req.open_store()?;
    if store.get_batch(&name)?.is_some() {
        return Err(ApiError::new(
            ErrorCode::AlreadyExists,
            format!("a migration batch named \"{name}\" already exists"),
        )
        .with_details(json!({ "identity": name, "parameter": "name" })));
    }
    let mut users: Vec<UserRecord> = Vec::with_capacity(ids.len());
    for id in &ids {
        let mut found = store.find_users(id)?;
        match found.len() {
            0 => {
                return Err(ApiError::not_found("migration user", id)
                    .with_details(json!({ "identity": id, "parameter": "users" })));
            }
            1 => {
                let u = found.remove(0);
                if !users.iter().any(|x| x.id == u.id) {
                    users.push(u);
                }
            }
            n => {
                return Err(ApiError::invalid(
                    "users",
                    format!("{id} names {n} migration users; give their GUIDs"),
                ));
            }
        }
    }
    // The users' batches: every user must be movable, and all must share the endpoints.
    let mut from: Vec<BatchRecord> = Vec::new();
    for u in &users {
        if !from.iter().any(|b| b.id == u.batch_id) {
            let b = store
                .get_batch_by_id(&u.batch_id)?
                .ok_or_else(|| ApiError::not_found("migration batch", &u.batch_id.to_string()))?;
            from.push(b);
        }
    }
    let batch_of = |u: &UserRecord| from.iter().find(|b| b.id == u.batch_id);
    let busy: Vec<(&UserRecord, &BatchRecord)> = users
        .iter()
        .filter_map(|u| batch_of(u).map(|b| (u, b)))
        .filter(|(u, b)| user_rules::movable(u.status, b).is_err())
        .collect();
    if let Some((_, b)) = busy.first() {
        let names: Vec<String> = busy
            .iter()
            .map(|(u, b)| {
                format!(
                    "{} ({} in batch {}, {})",
                    u.email, u.status, b.name, b.status
                )
            })
            .collect();
        return Err(invalid_state(
            b.status,
            format!(
                "these users can't be moved to batch {name} now: {}; a user moves only while no pass of it runs and its batch is not being removed (stop the batch first), and nothing was moved",
                names.join(", ")
            ),
        )
        .with_details(json!({ "status": b.status.as_str(), "users": busy.iter().map(|(u, _)| u.email.clone()).collect::<Vec<_>>() })));
    }
    let first = &from[0];
    if let Some(other) = from.iter().find(|b| {
        b.source_endpoint_id != first.source_endpoint_id
            || b.target_endpoint_id != first.target_endpoint_id
            || b.target_maildir != first.target_maildir
    }) {
        return Err(ApiError::invalid(
            "users",
            format!(
                "the users come from batches with different endpoints ({} and {}); make one batch per endpoint, nothing was moved",
                first.name, other.name
            ),
        ));
    }

    let mut b = BatchRecord::new(name, first.source_endpoint_id);
    b.target_endpoint_id = first.target_endpoint_id;
    b.target_maildir = first.target_maildir.clone();
    b.time_zone = first.time_zone.clone();
    b.exclude_folders = first.exclude_folders.clone();
    b.include_folders = first.include_folders.clone();
    b.content_filter = first.content_filter.clone();
    b.bad_item_limit = first.bad_item_limit;
    b.large_item_limit = first.large_item_limit;
    b.max_message_size = first.max_message_size;
    b.allow_unknown_columns = first.allow_unknown_columns;
    b.start_after = s.start_after;
    b.complete_after = s.complete_after;
    b.notification_emails = s.notification_emails.unwrap_or_default();
    b.report_interval_secs = s.report_interval;
    b.skip_reports = s.skip_reports;
    b.submitted_by = std::env::var("USER").ok();
    if s.auto_start {
        b.status = rules::on_action(b.status, BatchAction::Start, true)
            .map_err(|r| refused(r, &b.name))?;
        b.requested_action = Some(BatchAction::Start);
        b.started_at = Some(store::now());
        b.auto_start = true;
    }
    let moved: Vec<_> = users.iter().map(|u| u.id).collect();
    // Every moved user waits to run in its new batch; its passes stay, so the next one is
    // incremental.
    store.move_users(&b, &moved, UserStatus::Queued)?;
    if s.auto_start || b.start_after.is_some() {
        ensure_worker(req, &format!("the batch {} was created", b.name))?;
    }
    render_one(&store, &b.id)
}

/// The CSV rows of new users, and the users of other batches to adopt with their rows.
pub(super) type Adoption = (Vec<CsvUser>, Vec<(UserRecord, CsvUser)>);

/// New-MigrationBatch `-AdoptPreexisting`: splits the CSV rows into new users and users of
/// other batches, which the new batch `name` takes over (with their progress and the row's
/// credentials). Refuses the whole request, naming the users, when one of them can't move now
/// (as [`rebatch`]) or is in a batch with another source endpoint.
pub(super) fn adoptable(
    store: &Store,
    name: &str,
    source: Uuid,
    rows: Vec<CsvUser>,
) -> ApiResult<Adoption> {
    let existing = store.list_users(&UserFilter::default())?;
    let batches = store.list_batches(&store::BatchFilter::default())?;
    let mut fresh = Vec::new();
    let mut adopted: Vec<(UserRecord, CsvUser)> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    for row in rows {
        let Some(u) = existing
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(&row.email_address))
        else {
            fresh.push(row);
            continue;
        };
        let Some(b) = batches.iter().find(|b| b.id == u.batch_id) else {
            fresh.push(row);
            continue;
        };
        if b.source_endpoint_id != source {
            refused.push(format!(
                "{} (batch {} has another source endpoint)",
                u.email, b.name
            ));
        } else if user_rules::movable(u.status, b).is_err() {
            refused.push(format!(
                "{} ({} in batch {}, {})",
                u.email, u.status, b.name, b.status
            ));
        } else {
            adopted.push((u.clone(), row));
        }
    }
    if !refused.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidState,
            format!(
                "these users can't be adopted by batch {name} now: {}; a user moves only while no pass of it runs and its batch is not being removed, and nothing was created",
                refused.join(", ")
            ),
        ));
    }
    Ok((fresh, adopted))
}

//! New-MigrationBatch: everything is checked before anything is written; the batch and its
//! users are inserted in one transaction.

use serde::Deserialize;
use serde_json::{Value, json};

use imapmigration_store as store;
use store::lifecycle::batch as rules;
use store::{BatchAction, BatchFilter, BatchRecord};

use super::rebatch::Schedule;
use super::{
    check_content_filter, check_emails, check_order, drop_users_of_other_batches, ensure_worker,
    read_csv, refused, render_one, string_list, warnings_message,
};
use crate::ErrorCode;
use crate::api::{ApiError, ApiResult, Request, config, dto};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewArgs {
    name: Option<String>,
    source_endpoint: Option<String>,
    target_endpoint: Option<String>,
    csv_data: Option<String>,
    #[serde(default)]
    auto_start: bool,
    start_after: Option<String>,
    complete_after: Option<String>,
    time_zone: Option<String>,
    notification_emails: Option<Value>,
    exclude_folders: Option<Value>,
    include_folders: Option<Value>,
    content_filter: Option<String>,
    allow_unknown_columns_in_csv: Option<bool>,
    bad_item_limit: Option<Value>,
    large_item_limit: Option<Value>,
    max_message_size: Option<Value>,
    report_interval: Option<u64>,
    #[serde(default)]
    skip_reports: bool,
    submitted_by: Option<String>,
    /// `-Users` / `-UserIds`: identities of users to move here from their batches.
    users: Option<Value>,
    /// `-AdoptPreexisting`: CSV rows naming users of other batches move them here.
    #[serde(default)]
    adopt_preexisting: bool,
    /// Runs every check and reports what the batch would be (its users and the CSV's
    /// validation warnings) without writing anything; `sourceEndpoint` may be left out (an
    /// endpoint the caller has yet to create), which skips the checks that need it.
    #[serde(default)]
    validate_only: bool,
}

/// The scheduling and report arguments, checked the same way for a batch from a CSV and for
/// a re-batch.
fn schedule(a: &NewArgs) -> ApiResult<Schedule> {
    let start_after = dto::opt_time("startAfter", &a.start_after)?;
    let complete_after = dto::opt_time("completeAfter", &a.complete_after)?;
    if a.auto_start && start_after.is_some() {
        return Err(ApiError::invalid(
            "startAfter",
            "autoStart and startAfter cannot be combined: startAfter already starts the batch at that time",
        ));
    }
    check_order(start_after, complete_after)?;
    let notification_emails = string_list("notificationEmails", &a.notification_emails)?;
    if let Some(list) = &notification_emails {
        check_emails("notificationEmails", list)?;
    }
    Ok(Schedule {
        auto_start: a.auto_start,
        start_after,
        complete_after,
        notification_emails,
        report_interval: a.report_interval,
        skip_reports: a.skip_reports,
    })
}

/// New-MigrationBatch. Everything is checked before anything is written; the batch and its users
/// are inserted in one transaction.
pub fn new(req: &Request) -> ApiResult {
    let a: NewArgs = dto::args(req)?;
    let name = dto::required(&a.name, "name")?.to_owned();
    dto::check_name("name", &name)?;
    if let Some(users) = a.users.as_ref().filter(|v| !v.is_null()) {
        if dto::opt_identity(&a.csv_data).is_some()
            || dto::opt_identity(&a.source_endpoint).is_some()
        {
            return Err(ApiError::invalid(
                "users",
                "users cannot be combined with csvData or sourceEndpoint: the users bring their batch's endpoints",
            ));
        }
        return super::rebatch::rebatch(req, name, users, schedule(&a)?);
    }
    let source_id = if a.validate_only {
        dto::opt_identity(&a.source_endpoint)
    } else {
        Some(dto::required(&a.source_endpoint, "sourceEndpoint")?)
    };
    let csv_data = dto::required(&a.csv_data, "csvData")?;
    let Schedule {
        start_after,
        complete_after,
        notification_emails,
        ..
    } = schedule(&a)?;
    let notification_emails = notification_emails.unwrap_or_default();
    let exclude_folders = string_list("excludeFolders", &a.exclude_folders)?.unwrap_or_default();
    let include_folders = string_list("includeFolders", &a.include_folders)?.unwrap_or_default();
    let content_filter = dto::opt_identity(&a.content_filter).map(str::to_owned);
    check_content_filter(content_filter.as_deref())?;
    let bad_item_limit = a
        .bad_item_limit
        .as_ref()
        .map(|v| dto::unlimited("badItemLimit", v))
        .transpose()?
        .flatten();
    let large_item_limit = a
        .large_item_limit
        .as_ref()
        .map(|v| dto::unlimited("largeItemLimit", v))
        .transpose()?
        .flatten();
    let max_message_size = a
        .max_message_size
        .as_ref()
        .map(|v| dto::byte_limit("maxMessageSize", v))
        .transpose()?
        .flatten();
    let allow_unknown = a.allow_unknown_columns_in_csv.unwrap_or(false);

    let store = req.open_store()?;
    if store
        .get_batch(&name)?
        .is_some_and(|b| b.name.eq_ignore_ascii_case(&name))
    {
        return Err(ApiError::new(
            ErrorCode::AlreadyExists,
            format!("a migration batch named \"{name}\" already exists"),
        )
        .with_details(json!({ "identity": name, "parameter": "name" })));
    }
    let existing = store.list_batches(&BatchFilter::default())?.len();
    if existing >= config::MAX_NUMBER_OF_BATCHES {
        return Err(ApiError::new(
            ErrorCode::InvalidState,
            format!(
                "there are already {existing} migration batches, the most allowed; remove a batch before adding another"
            ),
        ));
    }
    let source = match source_id {
        Some(id) => Some(store.get_endpoint(id)?.ok_or_else(|| {
            ApiError::not_found("endpoint", id)
                .with_details(json!({ "identity": id, "parameter": "sourceEndpoint" }))
        })?),
        None => None,
    };
    let target = match dto::opt_identity(&a.target_endpoint) {
        Some(t) => Some(store.get_endpoint(t)?.ok_or_else(|| {
            ApiError::not_found("endpoint", t)
                .with_details(json!({ "identity": t, "parameter": "targetEndpoint" }))
        })?),
        None => match config::default_target_id(&store)? {
            Some(id) => store.get_endpoint(&id)?,
            None => None,
        },
    };
    if let (Some(t), Some(s)) = (&target, &source)
        && t.id == s.id
    {
        return Err(ApiError::invalid(
            "targetEndpoint",
            format!(
                "the endpoint {} cannot be both the source and the target",
                s.name
            ),
        ));
    }

    let maildir = match &target {
        Some(_) => None,
        None => Some(
            config::maildir_root(&store)?
                .ok_or_else(no_shared_maildir)?
                .display()
                .to_string(),
        ),
    };
    let parsed = read_csv(csv_data, allow_unknown)?;
    let mut warnings = parsed.warnings;
    let (rows, adopted) = if let (true, Some(source)) = (a.adopt_preexisting, &source) {
        let (fresh, adopted) = super::rebatch::adoptable(&store, &name, source.id, parsed.rows)?;
        // New rows may not take a Maildir directory that a user (adopted ones included, who
        // keep theirs) or another new row already has.
        let fresh = match maildir.as_deref() {
            Some(root) => super::drop_maildir_collisions(&store, root, fresh, &mut warnings)?,
            None => fresh,
        };
        (fresh, adopted)
    } else {
        (
            drop_users_of_other_batches(
                &store,
                None,
                maildir.as_deref(),
                parsed.rows,
                &mut warnings,
            )?,
            Vec::new(),
        )
    };

    // A batch with validation warnings waits for the admin to review them (docs/compatibility.md
    // §4.1), even with -AutoStart.
    let start_now = a.auto_start && warnings.is_empty();
    if a.validate_only {
        return Ok(preview(&name, &rows, adopted.len(), &warnings, start_now));
    }
    let Some(source) = source else {
        return Err(ApiError::invalid(
            "sourceEndpoint",
            "the parameter sourceEndpoint is required",
        ));
    };
    let mut b = BatchRecord::new(name, source.id);
    b.target_endpoint_id = target.as_ref().map(|t| t.id);
    b.target_maildir = maildir;
    b.start_after = start_after;
    b.complete_after = complete_after;
    b.time_zone = dto::opt_identity(&a.time_zone).map(str::to_owned);
    b.notification_emails = notification_emails;
    b.exclude_folders = exclude_folders;
    b.include_folders = include_folders;
    b.content_filter = content_filter;
    b.bad_item_limit = bad_item_limit;
    b.large_item_limit = large_item_limit;
    b.max_message_size = max_message_size;
    b.allow_unknown_columns = allow_unknown;
    b.report_interval_secs = a.report_interval;
    b.skip_reports = a.skip_reports;
    b.submitted_by = dto::opt_identity(&a.submitted_by)
        .map(str::to_owned)
        .or_else(|| {
            std::env::var("USER")
                .ok()
                .or_else(|| std::env::var("USERNAME").ok())
        });
    let users_to_start = !rows.is_empty() || !adopted.is_empty();
    b.auto_start = start_now;
    if start_now {
        // Started at once (as Start shows it), so a poller never sees a stale Stopped after
        // -AutoStart.
        b.status = rules::on_action(b.status, BatchAction::Start, users_to_start)
            .map_err(|r| refused(r, &b.name))?;
        b.requested_action = Some(BatchAction::Start);
        // Started from the moment New returns: a Stop before the worker took the batch up
        // leaves a batch that was started, which never restarts on its own.
        b.started_at = Some(store::now());
    }
    if !warnings.is_empty() {
        b.message = Some(warnings_message(warnings.len(), false));
    }
    b.validation_warnings = warnings;
    if adopted.is_empty() {
        store.insert_batch(&b, &rows)?;
    } else {
        let pairs: Vec<_> = adopted.iter().map(|(u, row)| (u.id, row)).collect();
        // An adopted user waits to run in the new batch, with its progress.
        store.insert_batch_adopting(&b, &rows, &pairs, store::UserStatus::Queued)?;
    }
    if start_now || b.start_after.is_some() {
        ensure_worker(req, &format!("the batch {} was created", b.name))?;
    }
    render_one(&store, &b.id)
}

/// What `validateOnly` reports: the batch `name` would take the CSV `rows` (and `adopted`
/// users of other batches), leave out the rows of `warnings`, and start at once or not.
fn preview(
    name: &str,
    rows: &[store::csv_import::CsvUser],
    adopted: usize,
    warnings: &[store::ValidationWarning],
    start_now: bool,
) -> Value {
    let users: Vec<&str> = rows.iter().map(|r| r.email_address.as_str()).collect();
    json!({
        "ValidateOnly": true,
        "Name": name,
        "Users": users,
        "UserCount": rows.len() + adopted,
        "AdoptedCount": adopted,
        "ValidationWarningCount": warnings.len(),
        "ValidationWarnings": warnings,
        "WouldStart": start_now,
        "Message": (!warnings.is_empty()).then(|| warnings_message(warnings.len(), false)),
    })
}

/// A batch without a target endpoint on a PostgreSQL store with no `maildirRoot` configured:
/// each worker host would write the mail into a Maildir of its own.
fn no_shared_maildir() -> ApiError {
    ApiError::invalid(
        "targetEndpoint",
        "this state directory keeps its state in PostgreSQL, shared by worker hosts, and no \
         Maildir root every worker sees is configured: name a target with -TargetEndpoint, set \
         one for every batch with Set-MigrationConfig -DefaultTargetEndpoint, or give the shared \
         Maildir directory with Set-MigrationConfig -MaildirRoot",
    )
    .with_details(json!({ "parameter": "targetEndpoint", "setting": config::KEY_MAILDIR_ROOT }))
}

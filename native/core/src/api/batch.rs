//! `batch.*`: New-, Get-, Set-, Start-, Stop-, Complete-, Remove-MigrationBatch.
//!
//! These operations only record what the admin asked for: they set the status the admin should
//! see at once (`Starting`, `Stopping`, `Completing`, `Removing`) and the `requested_action` the
//! worker carries out, then make sure the worker runs (`system::maybe_ensure`).
//!
//! Status rules (docs/compatibility.md §4.4, §8.2) are the store's `lifecycle::batch`: every
//! operation asks `on_action` / `on_set` whether the batch's status allows it and which status
//! to show, and refuses with `InvalidState` naming the status. Users are `Queued` from the
//! moment they are imported: in a batch that was never started they wait for
//! Start-MigrationBatch, so `PendingCount` equals `TotalCount` until then. A running batch is
//! removed by the worker (Exchange's `Removing`), so `Stop-` before `Remove-` is not required; a
//! batch that was never started is deleted at once when no worker runs (there is nothing to
//! stop). Mail already copied to the target is never touched.

use std::collections::HashMap;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use imapmigration_store as store;
use store::csv_import::{self, CsvUser, ParsedCsv};
use store::lifecycle::{batch as rules, user as user_rules};
use store::{
    BatchAction, BatchFilter, BatchRecord, BatchStatus, BatchUpdate, EndpointRecord, Store,
    UserFilter, UserUpdate, ValidationWarning,
};

use super::dto::{self, invalid_state};
use super::{ApiError, ApiResult, Request, config, system};

// ---- shared helpers ---------------------------------------------------------------------------

/// The batch an identity names. Without an identity, the only batch (legacy single-batch mode,
/// docs/compatibility.md §2.2, §13 item 3).
pub(crate) fn resolve(store: &Store, identity: Option<&str>) -> ApiResult<BatchRecord> {
    match identity {
        Some(id) => store
            .get_batch(id)?
            .ok_or_else(|| ApiError::not_found("migration batch", id)),
        None => {
            let mut all = store.list_batches(&BatchFilter::default())?;
            match all.len() {
                1 => Ok(all.remove(0)),
                0 => Err(ApiError::invalid(
                    "identity",
                    "no migration batch exists; give the batch's identity",
                )),
                n => Err(ApiError::invalid(
                    "identity",
                    format!("{n} migration batches exist; give the identity of the one to act on"),
                )),
            }
        }
    }
}

/// The `InvalidState` error of a refused action on the batch named `name`.
pub(crate) fn refused(r: rules::Refusal, name: &str) -> ApiError {
    invalid_state(r.status, r.message(name))
}

/// Starts the worker when the request carries `workerPath`; a failure says what was recorded.
pub(crate) fn ensure_worker(req: &Request, done: &str) -> ApiResult<()> {
    system::maybe_ensure(req).map(|_| ()).map_err(|e| ApiError {
        message: format!("{done}, but {}", e.message),
        ..e
    })
}

/// Whether a worker holds the lock of the request's state directory (an unreadable lock counts
/// as running, the safe side).
pub(crate) fn worker_running(req: &Request) -> bool {
    !matches!(crate::process::probe(&req.home()), Ok(None))
}

/// Renders batches with their endpoints, counts and scores.
struct Renderer<'a> {
    store: &'a Store,
    req: &'a Request,
    endpoints: HashMap<Uuid, EndpointRecord>,
    scores: HashMap<Uuid, &'static str>,
}

impl<'a> Renderer<'a> {
    fn new(req: &'a Request, store: &'a Store) -> ApiResult<Self> {
        let endpoints = store
            .list_endpoints(None)?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        let mut scores: HashMap<Uuid, &'static str> = HashMap::new();
        for u in store.list_users(&UserFilter::default())? {
            let s = dto::user_score(&u);
            let cur = scores.entry(u.batch_id).or_insert("Perfect");
            *cur = dto::worst_score([*cur, s]);
        }
        Ok(Self {
            store,
            req,
            endpoints,
            scores,
        })
    }

    fn render(&self, b: &BatchRecord, include_report: bool) -> ApiResult {
        let counts = self.store.batch_counts(&b.id)?;
        let report = if include_report {
            Some(self.store.events_for_batch(&b.id, None)?)
        } else {
            None
        };
        let home = self.req.home();
        let cx = dto::BatchContext {
            home: &home,
            counts,
            source: self.endpoints.get(&b.source_endpoint_id),
            target: b
                .target_endpoint_id
                .as_ref()
                .and_then(|id| self.endpoints.get(id)),
            score: self.scores.get(&b.id).copied().unwrap_or("Perfect"),
            report: report.as_deref(),
        };
        Ok(dto::batch(b, &cx))
    }
}

fn render_one(req: &Request, store: &Store, id: &Uuid) -> ApiResult {
    let b = store
        .get_batch_by_id(id)?
        .ok_or_else(|| ApiError::not_found("migration batch", &id.to_string()))?;
    Renderer::new(req, store)?.render(&b, false)
}

/// A MultiValuedProperty argument: an array, or one comma-separated string.
fn string_list(parameter: &str, v: &Option<Value>) -> ApiResult<Option<Vec<String>>> {
    let bad = || ApiError::invalid(parameter, format!("{parameter} must be a list of strings"));
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(
            s.split(',')
                .map(|x| x.trim().to_owned())
                .filter(|x| !x.is_empty())
                .collect(),
        )),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(|s| s.trim().to_owned()).ok_or_else(bad))
            .filter(|r| r.as_ref().map_or(true, |s| !s.is_empty()))
            .collect::<ApiResult<Vec<_>>>()
            .map(Some),
        Some(_) => Err(bad()),
    }
}

fn check_emails(parameter: &str, list: &[String]) -> ApiResult<()> {
    for e in list {
        let ok = e
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
            && !e.chars().any(char::is_whitespace);
        if !ok {
            return Err(ApiError::invalid(
                parameter,
                format!("\"{e}\" in {parameter} is not an email address"),
            ));
        }
    }
    Ok(())
}

fn check_order(
    start: Option<store::Timestamp>,
    complete: Option<store::Timestamp>,
) -> ApiResult<()> {
    if let (Some(s), Some(c)) = (start, complete)
        && s >= c
    {
        return Err(ApiError::invalid(
            "completeAfter",
            format!(
                "completeAfter ({}) must be later than startAfter ({})",
                store::format_timestamp(&c),
                store::format_timestamp(&s)
            ),
        ));
    }
    Ok(())
}

fn check_content_filter(filter: Option<&str>) -> ApiResult<()> {
    if let Some(f) = filter {
        crate::engine::parse_content_filter(f).map_err(|e| {
            ApiError::invalid(
                "contentFilter",
                format!("the content filter is not valid: {e}"),
            )
        })?;
    }
    Ok(())
}

/// Decodes and reads `csvData`; file-level problems are `CsvInvalid` and nothing is created.
fn read_csv(data: &str, allow_unknown: bool) -> ApiResult<ParsedCsv> {
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| {
            ApiError::invalid(
                "csvData",
                "csvData is not valid base64 (send the file's bytes base64-encoded)",
            )
        })?;
    csv_import::parse(&bytes, allow_unknown).map_err(dto::csv_error)
}

/// Leaves out rows whose address is already in another batch (Exchange reports them as
/// validation warnings; two batches must not feed one mailbox at once).
fn drop_users_of_other_batches(
    store: &Store,
    this_batch: Option<Uuid>,
    rows: Vec<CsvUser>,
    warnings: &mut Vec<ValidationWarning>,
) -> ApiResult<Vec<CsvUser>> {
    let batches = store.list_batches(&BatchFilter::default())?;
    let names = dto::batch_names(&batches);
    let mut elsewhere: HashMap<String, Uuid> = HashMap::new();
    for u in store.list_users(&UserFilter::default())? {
        if Some(u.batch_id) != this_batch {
            elsewhere
                .entry(u.email.to_lowercase())
                .or_insert(u.batch_id);
        }
    }
    let mut kept = Vec::with_capacity(rows.len());
    for r in rows {
        match elsewhere.get(&r.email_address.to_lowercase()) {
            Some(other) => warnings.push(ValidationWarning {
                row_index: r.row_index,
                email_address: r.email_address.clone(),
                message: format!(
                    "row {}: the user {} is already in batch {}; remove it there (Remove-MigrationUser) or leave the row out",
                    r.row_index,
                    r.email_address,
                    names.get(other).map_or("(unknown)", String::as_str)
                ),
            }),
            None => kept.push(r),
        }
    }
    warnings.sort_by_key(|w| w.row_index);
    Ok(kept)
}

fn warnings_message(n: usize, started: bool) -> String {
    let tail = if started { "" } else { " and was not started" };
    format!(
        "the batch has {n} validation warning(s){tail}: review ValidationWarnings (those rows were left out), then run Start-MigrationBatch"
    )
}

// ---- operations -------------------------------------------------------------------------------

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
    report_interval: Option<u64>,
    #[serde(default)]
    skip_reports: bool,
    submitted_by: Option<String>,
}

/// New-MigrationBatch. Everything is checked before anything is written; the batch and its users
/// are inserted in one transaction.
pub fn new(req: &Request) -> ApiResult {
    let a: NewArgs = dto::args(req)?;
    let name = dto::required(&a.name, "name")?.to_owned();
    dto::check_name("name", &name)?;
    let source_id = dto::required(&a.source_endpoint, "sourceEndpoint")?;
    let csv_data = dto::required(&a.csv_data, "csvData")?;
    let start_after = dto::opt_time("startAfter", &a.start_after)?;
    let complete_after = dto::opt_time("completeAfter", &a.complete_after)?;
    if a.auto_start && start_after.is_some() {
        return Err(ApiError::invalid(
            "startAfter",
            "autoStart and startAfter cannot be combined: startAfter already starts the batch at that time",
        ));
    }
    check_order(start_after, complete_after)?;
    let notification_emails =
        string_list("notificationEmails", &a.notification_emails)?.unwrap_or_default();
    check_emails("notificationEmails", &notification_emails)?;
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
    let allow_unknown = a.allow_unknown_columns_in_csv.unwrap_or(false);

    let store = req.open_store()?;
    if store
        .get_batch(&name)?
        .is_some_and(|b| b.name.eq_ignore_ascii_case(&name))
    {
        return Err(ApiError::new(
            "AlreadyExists",
            format!("a migration batch named \"{name}\" already exists"),
        )
        .with_details(json!({ "identity": name, "parameter": "name" })));
    }
    let existing = store.list_batches(&BatchFilter::default())?.len();
    if existing >= config::MAX_NUMBER_OF_BATCHES {
        return Err(ApiError::new(
            "InvalidState",
            format!(
                "there are already {existing} migration batches, the most allowed; remove a batch before adding another"
            ),
        ));
    }
    let source = store.get_endpoint(source_id)?.ok_or_else(|| {
        ApiError::not_found("endpoint", source_id)
            .with_details(json!({ "identity": source_id, "parameter": "sourceEndpoint" }))
    })?;
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
    if target.as_ref().is_some_and(|t| t.id == source.id) {
        return Err(ApiError::invalid(
            "targetEndpoint",
            format!(
                "the endpoint {} cannot be both the source and the target",
                source.name
            ),
        ));
    }

    let parsed = read_csv(csv_data, allow_unknown)?;
    let mut warnings = parsed.warnings;
    let rows = drop_users_of_other_batches(&store, None, parsed.rows, &mut warnings)?;

    let mut b = BatchRecord::new(name, source.id);
    b.target_endpoint_id = target.as_ref().map(|t| t.id);
    if target.is_none() {
        b.target_maildir = Some(
            store::paths::maildir_root(store.home())
                .display()
                .to_string(),
        );
    }
    b.start_after = start_after;
    b.complete_after = complete_after;
    b.time_zone = dto::opt_identity(&a.time_zone).map(str::to_owned);
    b.notification_emails = notification_emails;
    b.exclude_folders = exclude_folders;
    b.include_folders = include_folders;
    b.content_filter = content_filter;
    b.bad_item_limit = bad_item_limit;
    b.large_item_limit = large_item_limit;
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
    // A batch with validation warnings waits for the admin to review them (docs/compatibility.md
    // §4.1), even with -AutoStart.
    let start_now = a.auto_start && warnings.is_empty();
    b.auto_start = start_now;
    if start_now {
        // Started at once (as Start shows it), so a poller never sees a stale Created after
        // -AutoStart.
        b.status = rules::on_action(b.status, BatchAction::Start, !rows.is_empty())
            .map_err(|r| refused(r, &b.name))?;
        b.requested_action = Some(BatchAction::Start);
    }
    if !warnings.is_empty() {
        b.message = Some(warnings_message(warnings.len(), false));
    }
    b.validation_warnings = warnings;
    store.insert_batch(&b, &rows)?;
    if start_now || b.start_after.is_some() {
        ensure_worker(req, &format!("the batch {} was created", b.name))?;
    }
    render_one(req, &store, &b.id)
}

/// Get-MigrationBatch. An explicit identity that names no batch is `NotFound` (the M365 docs
/// show the "couldn't be found" error after a removal); without identity every batch matching
/// the filters is returned.
pub fn get(req: &Request) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Args {
        identity: Option<String>,
        endpoint: Option<String>,
        status: Option<String>,
        #[serde(default)]
        include_report: bool,
        result_size: Option<Value>,
    }
    let a: Args = dto::args(req)?;
    let limit = dto::result_size(&a.result_size)?;
    let status: Option<BatchStatus> = match dto::opt_identity(&a.status) {
        Some(s) => Some(s.parse().map_err(|e: store::ParseEnumError| {
            ApiError::invalid(
                "status",
                format!(
                    "the batch status \"{s}\" is not valid; expected one of {}",
                    e.expected
                ),
            )
        })?),
        None => None,
    };
    let identity = dto::opt_identity(&a.identity);
    let endpoint = dto::opt_identity(&a.endpoint);
    if identity.is_some() && endpoint.is_some() {
        return Err(ApiError::invalid(
            "endpoint",
            "identity and endpoint cannot be combined",
        ));
    }
    let store = req.open_store()?;
    let batches: Vec<BatchRecord> = if let Some(id) = identity {
        let b = store
            .get_batch(id)?
            .ok_or_else(|| ApiError::not_found("migration batch", id))?;
        if status.is_some_and(|s| s != b.status) {
            vec![]
        } else {
            vec![b]
        }
    } else {
        let endpoint_id = match endpoint {
            Some(e) => Some(
                store
                    .get_endpoint(e)?
                    .ok_or_else(|| {
                        ApiError::not_found("endpoint", e)
                            .with_details(json!({ "identity": e, "parameter": "endpoint" }))
                    })?
                    .id,
            ),
            None => None,
        };
        store.list_batches(&BatchFilter {
            endpoint_id,
            status,
        })?
    };
    let r = Renderer::new(req, &store)?;
    let out = batches
        .iter()
        .take(limit.unwrap_or(usize::MAX))
        .map(|b| r.render(b, a.include_report))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Value::Array(out))
}

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
}

/// Set-MigrationBatch. Every argument is checked before any change is written.
pub fn set(req: &Request) -> ApiResult {
    let a: SetArgs = dto::args(req)?;
    let identity = dto::required(&a.identity, "identity")?;
    let store = req.open_store()?;
    let b = resolve(&store, Some(identity))?;
    let status = b.status;
    rules::on_set(status, rules::Change::Settings).map_err(|r| refused(r, &b.name))?;
    let mut u = BatchUpdate::default();
    let now = store::now();

    // CSV: parse now, apply after every other check passed.
    let allow_unknown = a
        .allow_unknown_columns_in_csv
        .unwrap_or(b.allow_unknown_columns);
    let csv = match dto::opt_identity(&a.csv_data) {
        Some(data) => {
            rules::on_set(status, rules::Change::Users).map_err(|r| refused(r, &b.name))?;
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
        rules::on_set(status, rules::Change::StartAfter).map_err(|r| refused(r, &b.name))?;
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
    if a.sync_now {
        rules::on_action(status, BatchAction::SyncNow, false).map_err(|r| refused(r, &b.name))?;
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
        let new_rows = drop_users_of_other_batches(&store, Some(b.id), new_rows, &mut warnings)?;
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
    render_one(req, &store, &b.id)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdArgs {
    identity: Option<String>,
}

/// Records `action` for the worker with the status [`rules::on_action`] shows at once, or
/// refuses it with the batch's status.
fn request(
    store: &Store,
    b: &BatchRecord,
    action: BatchAction,
    users_to_start: bool,
) -> ApiResult<()> {
    let status =
        rules::on_action(b.status, action, users_to_start).map_err(|r| refused(r, &b.name))?;
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

/// Start-MigrationBatch: starts, resumes, or retries the failed users.
pub fn start(req: &Request) -> ApiResult {
    let a: IdArgs = dto::args(req)?;
    let store = req.open_store()?;
    let b = resolve(&store, dto::opt_identity(&a.identity))?;
    let name = &b.name;
    let users_to_start = store.batch_counts(&b.id)?.to_start > 0;
    rules::on_action(b.status, BatchAction::Start, users_to_start).map_err(|r| refused(r, name))?;
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
    render_one(req, &store, &b.id)
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
    render_one(req, &store, &b.id)
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
    render_one(req, &store, &b.id)
}

/// Remove-MigrationBatch. Returns null; the batch shows `Removing` until the worker deleted it.
pub fn remove(req: &Request) -> ApiResult {
    let a: IdArgs = dto::args(req)?;
    let store = req.open_store()?;
    let b = resolve(&store, dto::opt_identity(&a.identity))?;
    rules::on_action(b.status, BatchAction::Remove, false).map_err(|r| refused(r, &b.name))?;
    if rules::never_started(&b) && !worker_running(req) {
        // Nothing runs and nothing was copied: delete now rather than start a worker for it.
        store.delete_batch(&b.id)?;
        return Ok(Value::Null);
    }
    request(&store, &b, BatchAction::Remove, false)?;
    ensure_worker(req, &format!("the batch {} was marked for removal", b.name))?;
    Ok(Value::Null)
}

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

mod actions;
mod get;
mod new;
mod rebatch;
mod set;

pub use actions::{complete, remove, start, stop};
pub use get::get;
pub use new::new;
pub use set::set;

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::Value;
use uuid::Uuid;

use imapmigration_store as store;
use store::csv_import::{self, CsvUser, ParsedCsv};
use store::lifecycle::batch as rules;
use store::{BatchFilter, BatchRecord, EndpointRecord, Store, UserFilter, ValidationWarning};

use super::dto::{self, invalid_state};
use super::{ApiError, ApiResult, Request, system};

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
    endpoints: HashMap<Uuid, EndpointRecord>,
    scores: HashMap<Uuid, &'static str>,
}

impl<'a> Renderer<'a> {
    fn new(store: &'a Store) -> ApiResult<Self> {
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
        let reports = self.store.report_files(&b.id, &b.name)?;
        let cx = dto::BatchContext {
            reports: reports.as_ref(),
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

fn render_one(store: &Store, id: &Uuid) -> ApiResult {
    let b = store
        .get_batch_by_id(id)?
        .ok_or_else(|| ApiError::not_found("migration batch", &id.to_string()))?;
    Renderer::new(store)?.render(&b, false)
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
///
/// `maildir` is the Maildir root of the batch when it targets the Maildir store: rows whose
/// directory below it another user (of this file, or of any batch with the same root) already
/// has are left out too ([`csv_import::drop_shared_maildirs`]).
fn drop_users_of_other_batches(
    store: &Store,
    this_batch: Option<Uuid>,
    maildir: Option<&str>,
    rows: Vec<CsvUser>,
    warnings: &mut Vec<ValidationWarning>,
) -> ApiResult<Vec<CsvUser>> {
    let batches = store.list_batches(&BatchFilter::default())?;
    let names = dto::batch_names(&batches);
    let users = store.list_users(&UserFilter::default())?;
    let mut elsewhere: HashMap<String, Uuid> = HashMap::new();
    for u in &users {
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
    let Some(root) = maildir else {
        return Ok(kept);
    };
    drop_maildir_collisions(store, root, kept, warnings)
}

/// Leaves out rows whose directory below the Maildir `root` another row of the file or a
/// user of any batch writing to `root` already has ([`csv_import::drop_shared_maildirs`]).
fn drop_maildir_collisions(
    store: &Store,
    root: &str,
    kept: Vec<CsvUser>,
    warnings: &mut Vec<ValidationWarning>,
) -> ApiResult<Vec<CsvUser>> {
    let batches = store.list_batches(&BatchFilter::default())?;
    let names = dto::batch_names(&batches);
    let users = store.list_users(&UserFilter::default())?;
    let roots: HashMap<Uuid, Option<String>> = batches
        .iter()
        .map(|b| (b.id, maildir_root(store, b)))
        .collect();
    let taken: Vec<csv_import::MaildirOwner> = users
        .iter()
        .filter(|u| roots.get(&u.batch_id).and_then(Option::as_deref) == Some(root))
        .map(|u| csv_import::MaildirOwner {
            email: u.email.clone(),
            row_index: u.row_index,
            batch: names
                .get(&u.batch_id)
                .cloned()
                .unwrap_or_else(|| "(unknown)".into()),
        })
        .collect();
    Ok(csv_import::drop_shared_maildirs(kept, &taken, warnings))
}

/// The Maildir root a batch writes to, `None` when its target is an IMAP server.
fn maildir_root(store: &Store, b: &BatchRecord) -> Option<String> {
    if b.target_endpoint_id.is_some() {
        return None;
    }
    Some(b.target_maildir.clone().unwrap_or_else(|| {
        store::paths::maildir_root(store.home())
            .display()
            .to_string()
    }))
}

fn warnings_message(n: usize, started: bool) -> String {
    let tail = if started { "" } else { " and was not started" };
    format!(
        "the batch has {n} validation warning(s){tail}: review ValidationWarnings (those rows were left out), then run Start-MigrationBatch"
    )
}

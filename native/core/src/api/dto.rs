//! Conversions between store records and the Exchange-shaped JSON of `docs/design.md`, plus the
//! argument helpers every operation shares.
//!
//! Results use Exchange's PascalCase property names. Dates are RFC 3339 UTC strings; each
//! `…DateTime` has a `…DateTimeUTC` twin. Exchange prints the plain one in the batch's time zone;
//! we keep no time-zone database, so both carry the UTC value (the module may convert for
//! display). Nothing here ever emits a secret: records carry passwords only sealed, and the
//! sealed columns are never read by these functions.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use imapmigration_store as store;
use store::csv_import::CsvError;
use store::lifecycle::{batch, user};
use store::{
    BatchRecord, EndpointRecord, Event, SkippedItem, Timestamp, UserCounts, UserRecord,
    format_timestamp,
};

use super::{ApiError, ApiResult, Request};
use crate::ErrorCode;

/// Default `-ResultSize` of the Get- cmdlets (Exchange: 1000).
pub const DEFAULT_RESULT_SIZE: usize = 1000;

// ---- errors -----------------------------------------------------------------------------------

/// Maps a store error to the ABI's stable codes.
pub fn store_error(e: store::Error) -> ApiError {
    use store::Error as E;
    match e {
        E::NotFound { kind, identity } => ApiError::new(ErrorCode::NotFound, format!("the {kind} \"{identity}\" couldn't be found"))
            .with_details(json!({ "identity": identity })),
        E::AlreadyExists { kind, name } => {
            ApiError::new(ErrorCode::AlreadyExists, format!("a {kind} named \"{name}\" already exists"))
                .with_details(json!({ "identity": name }))
        }
        E::InUse { endpoint, batches } => ApiError::new(
            ErrorCode::InvalidState,
            format!(
                "cannot remove endpoint \"{endpoint}\": it is used by batch(es) {}; remove those batches first",
                batches.join(", ")
            ),
        )
        .with_details(json!({ "identity": endpoint, "batches": batches })),
        e @ E::SchemaTooNew { .. } => ApiError::new(ErrorCode::VersionMismatch, e.to_string()),
        e @ E::InvalidArgument { .. } => ApiError::new(ErrorCode::InvalidArgument, e.to_string()),
        e @ (E::Unseal { .. } | E::KeyFile { .. }) => ApiError::new(
            ErrorCode::Internal,
            format!(
                "{e}; the key file secret.key of the state directory does not match the stored secrets \
                 (was the state directory copied without it?)"
            ),
        ),
        other => ApiError::new(ErrorCode::Internal, other.to_string()),
    }
}

/// Maps a file-level CSV problem to `CsvInvalid` with the line or column in `details`.
pub fn csv_error(e: CsvError) -> ApiError {
    let details = match &e {
        CsvError::WrongColumnCount {
            line,
            expected,
            actual,
        } => {
            json!({ "parameter": "csvData", "line": line, "row": line, "expected": expected, "actual": actual })
        }
        CsvError::Malformed { line, .. } => {
            json!({ "parameter": "csvData", "line": line, "row": line })
        }
        CsvError::MissingColumns { columns } | CsvError::UnknownColumns { columns } => {
            json!({ "parameter": "csvData", "column": columns.join(", "), "columns": columns })
        }
        CsvError::DuplicateColumn { column } => json!({ "parameter": "csvData", "column": column }),
        _ => json!({ "parameter": "csvData" }),
    };
    ApiError::new(ErrorCode::CsvInvalid, e.to_string()).with_details(details)
}

/// An `InvalidState` error carrying the current status.
pub fn invalid_state(status: impl std::fmt::Display, message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidState, message)
        .with_details(json!({ "status": status.to_string() }))
}

// ---- arguments --------------------------------------------------------------------------------

/// Deserializes the request's arguments: [`Request::args`], whose errors never quote a value.
pub fn args<T: DeserializeOwned>(req: &Request) -> ApiResult<T> {
    req.args()
}

/// Whether the request names `key` at all (even as `null`): lets Set- operations tell "leave
/// alone" from "clear".
pub fn has(req: &Request, key: &str) -> bool {
    req.args.contains_key(key)
}

/// A present `key` whose value is `null` (or an empty string): the caller asks to clear it.
pub fn is_clear(req: &Request, key: &str) -> bool {
    matches!(req.args.get(key), Some(Value::Null))
        || matches!(req.args.get(key), Some(Value::String(s)) if s.trim().is_empty())
}

/// An optional identity argument: `None` for absent, null or blank.
pub fn opt_identity(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A required, non-blank string argument.
pub fn required<'a>(value: &'a Option<String>, parameter: &str) -> ApiResult<&'a str> {
    opt_identity(value).ok_or_else(|| {
        ApiError::invalid(parameter, format!("the parameter {parameter} is required"))
    })
}

/// Reads an Exchange `Unlimited` value: a non-negative integer, or `unlimited`/null for none.
pub fn unlimited(parameter: &str, value: &Value) -> ApiResult<Option<u32>> {
    let bad = || {
        ApiError::invalid(
            parameter,
            format!("the value of {parameter} must be a non-negative integer or \"Unlimited\""),
        )
    };
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .map(Some)
            .ok_or_else(bad),
        Value::String(s) if s.trim().eq_ignore_ascii_case("unlimited") => Ok(None),
        Value::String(s) => s.trim().parse::<u32>().map(Some).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// A size limit in bytes (`-MaxMessageSize`): a positive number of bytes, or `null` /
/// `"Unlimited"` for none.
pub fn byte_limit(parameter: &str, value: &Value) -> ApiResult<Option<u64>> {
    let bad = || {
        ApiError::invalid(
            parameter,
            format!("the value of {parameter} must be a positive number of bytes or \"Unlimited\""),
        )
    };
    let n = match value {
        Value::Null => return Ok(None),
        Value::String(s) if s.trim().eq_ignore_ascii_case("unlimited") => return Ok(None),
        Value::Number(n) => n.as_u64().ok_or_else(bad)?,
        Value::String(s) => s.trim().parse::<u64>().map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    if n == 0 {
        return Err(bad());
    }
    Ok(Some(n))
}

/// `-ResultSize`: default 1000, `unlimited` for everything.
pub fn result_size(value: &Option<Value>) -> ApiResult<Option<usize>> {
    match value {
        None => Ok(Some(DEFAULT_RESULT_SIZE)),
        Some(v) => Ok(unlimited("resultSize", v)?.map(|n| n as usize)),
    }
}

/// Reads a date argument. RFC 3339 with a zone or offset is converted to UTC; a date and time
/// without a zone is read as UTC, as Exchange reads it (docs/compatibility.md §2.4).
pub fn parse_time(parameter: &str, text: &str) -> ApiResult<Timestamp> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc).trunc_subsecs_compat());
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, f) {
            return Ok(Utc.from_utc_datetime(&n).trunc_subsecs_compat());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d")
        && let Some(n) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(Utc.from_utc_datetime(&n));
    }
    Err(ApiError::invalid(
        parameter,
        format!(
            "the value of {parameter} is not a date and time (expected ISO 8601, e.g. 2026-11-26T16:34:07Z): {t}"
        ),
    ))
}

/// Optional date argument from a tri-state field: `Ok(None)` when absent or null.
pub fn opt_time(parameter: &str, value: &Option<String>) -> ApiResult<Option<Timestamp>> {
    match opt_identity(value) {
        None => Ok(None),
        Some(t) => parse_time(parameter, t).map(Some),
    }
}

trait TruncSecs {
    fn trunc_subsecs_compat(self) -> Self;
}

impl TruncSecs for Timestamp {
    fn trunc_subsecs_compat(self) -> Self {
        use chrono::SubsecRound;
        self.trunc_subsecs(0)
    }
}

/// Checks a name used as an identity and as a directory name (reports/<name>/).
pub fn check_name(parameter: &str, name: &str) -> ApiResult<()> {
    if name.is_empty() {
        return Err(ApiError::invalid(
            parameter,
            format!("the parameter {parameter} is required"),
        ));
    }
    if name.chars().count() > 64 {
        return Err(ApiError::invalid(
            parameter,
            format!(
                "the {parameter} \"{name}\" is {} characters long; the limit is 64",
                name.chars().count()
            ),
        ));
    }
    if name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return Err(ApiError::invalid(
            parameter,
            format!(
                "the {parameter} \"{}\" contains a character that is not allowed (/, \\ or a control character)",
                name.escape_debug()
            ),
        ));
    }
    Ok(())
}

// ---- output -----------------------------------------------------------------------------------

/// A timestamp as an RFC 3339 UTC string, or null.
pub fn ts(t: &Option<Timestamp>) -> Value {
    t.as_ref()
        .map_or(Value::Null, |t| Value::String(format_timestamp(t)))
}

fn put_time(m: &mut Map<String, Value>, name: &str, t: &Option<Timestamp>) {
    // Local and UTC carry the same value: see the module documentation.
    m.insert(name.to_owned(), ts(t));
    m.insert(format!("{name}UTC"), ts(t));
}

/// An `Unlimited` value: the number, or the string `Unlimited`.
pub fn unlimited_out(v: Option<u32>) -> Value {
    v.map_or_else(|| json!("Unlimited"), |n| json!(n))
}

/// A MigrationEndpoint (never a secret: only whether credentials are stored, and the user name).
pub fn endpoint(e: &EndpointRecord) -> Value {
    json!({
        "Identity": { "Id": e.name, "Guid": e.id },
        "Name": e.name,
        "Guid": e.id,
        "EndpointType": e.endpoint_type,
        "RemoteServer": e.remote_server,
        "Port": e.port,
        "Security": e.security.as_str(),
        "Authentication": e.authentication.as_str(),
        "AcceptUntrustedCertificates": e.accept_untrusted,
        "MaxConcurrentMigrations": e.max_concurrent_migrations,
        "MaxConcurrentIncrementalSyncs": e.max_concurrent_incremental_syncs,
        "MaxConnectionsPerUser": e.max_connections_per_user,
        "PreserveOrder": e.preserve_order,
        "DisableCompression": e.disable_compression,
        "VerifyContent": e.verify_content,
        "MailboxPermission": "Admin",
        "CaFile": e.ca_file,
        "HasCredentials": e.admin_secret.is_some(),
        "AdminUserName": e.admin_user,
        "TargetLogin": e.target_login.map(|t| t.as_str()),
        "MasterUserSeparator": e.master_user_separator,
        "OAuthTokenEndpoint": e.oauth_token_endpoint,
        "OAuthClientId": e.oauth_client_id,
        "OAuthScope": e.oauth_scope,
        "TargetUserTemplate": e.target_user_template,
        "CreationDateTime": format_timestamp(&e.created_at),
        "CreationDateTimeUTC": format_timestamp(&e.created_at),
    })
}

/// Exchange's DataConsistencyScore from item counts: `Perfect` with no skipped item, `Good` when
/// fewer than 1 % of the synced items were skipped, `Investigate` otherwise. (`Poor` is
/// Exchange's verdict on items it failed to account for; every item we skip is recorded, so we
/// never give it.)
pub fn consistency_score(synced: u64, skipped: u64) -> &'static str {
    if skipped == 0 {
        "Perfect"
    } else if skipped.saturating_mul(100) < synced {
        "Good"
    } else {
        "Investigate"
    }
}

fn score_rank(s: &str) -> u8 {
    match s {
        "Perfect" => 0,
        "Good" => 1,
        _ => 2,
    }
}

/// The worst of several scores (Exchange: a batch scores as its worst user).
pub fn worst_score<'a>(scores: impl IntoIterator<Item = &'a str>) -> &'a str {
    scores
        .into_iter()
        .max_by_key(|s| score_rank(s))
        .unwrap_or("Perfect")
}

fn report_lines(events: &[Event]) -> Value {
    Value::Array(
        events
            .iter()
            .map(|e| {
                json!({
                    "CreationTime": format_timestamp(&e.at),
                    "CreationTimeUTC": format_timestamp(&e.at),
                    "Level": e.level.as_str(),
                    "Message": e.message,
                })
            })
            .collect(),
    )
}

/// The report links of a batch: its report files in this state directory
/// (`reports/<name>/`, copied from the store when this host has no current copy).
fn reports(files: Option<&store::ReportFiles>) -> Value {
    let Some(f) = files else {
        return json!([]);
    };
    json!([{
        "CreationTimeUTC": format_timestamp(&f.created_at),
        "SuccessUrl": f.statistics.display().to_string(),
        "ErrorUrl": f.errors.as_ref().map(|e| e.display().to_string()),
    }])
}

/// Everything [`batch`] needs besides the record.
pub struct BatchContext<'a> {
    /// The batch's report files ([`store::Store::report_files`]).
    pub reports: Option<&'a store::ReportFiles>,
    pub counts: UserCounts,
    pub source: Option<&'a EndpointRecord>,
    pub target: Option<&'a EndpointRecord>,
    /// The batch's DataConsistencyScore (worst user).
    pub score: &'a str,
    /// `Some` only with `-IncludeReport`.
    pub report: Option<&'a [Event]>,
}

/// A MigrationBatch.
pub fn batch(b: &BatchRecord, cx: &BatchContext<'_>) -> Value {
    let c = &cx.counts;
    let mut m = Map::new();
    let identity = json!({ "Id": b.name, "Name": b.name, "JobId": b.id });
    m.insert("Identity".into(), identity);
    m.insert("Name".into(), json!(b.name));
    m.insert("BatchGuid".into(), json!(b.id));
    m.insert("Status".into(), json!(b.status.as_str()));
    m.insert("State".into(), json!(batch::state(b.status).as_str()));
    m.insert("Flags".into(), json!(batch::flags(b.requested_action)));
    let stage = if batch::never_started(b) {
        "Validation"
    } else {
        "Processing"
    };
    m.insert("WorkflowStage".into(), json!(stage));
    m.insert("MigrationType".into(), json!("IMAP"));
    m.insert("BatchDirection".into(), json!("Onboarding"));
    m.insert("TotalCount".into(), json!(c.total));
    m.insert("ActiveCount".into(), json!(c.active));
    m.insert("StoppedCount".into(), json!(c.stopped));
    m.insert("SyncedCount".into(), json!(c.synced));
    m.insert("FinalizedCount".into(), json!(c.finalized));
    m.insert("FailedCount".into(), json!(c.failed));
    m.insert("FailedInitialSyncCount".into(), json!(c.failed_initial));
    m.insert(
        "FailedIncrementalSyncCount".into(),
        json!(c.failed_incremental),
    );
    m.insert(
        "CompletedWithWarningCount".into(),
        json!(c.completed_with_warnings),
    );
    m.insert("PendingCount".into(), json!(c.pending));
    m.insert("ProvisionedCount".into(), json!(c.provisioned));
    m.insert(
        "ValidationWarningCount".into(),
        json!(b.validation_warnings.len()),
    );
    m.insert("ValidationWarnings".into(), json!(b.validation_warnings));
    m.insert("Message".into(), json!(b.message));
    m.insert("DataConsistencyScore".into(), json!(cx.score));
    put_time(&mut m, "CreationDateTime", &Some(b.created_at));
    put_time(&mut m, "StartDateTime", &b.started_at);
    put_time(&mut m, "InitialSyncDateTime", &b.initial_sync_at);
    put_time(&mut m, "LastSyncedDateTime", &b.last_synced_at);
    put_time(&mut m, "FinalizedDateTime", &b.completed_at);
    put_time(&mut m, "StartAfter", &b.start_after);
    put_time(&mut m, "CompleteAfter", &b.complete_after);
    put_time(&mut m, "NextSyncDateTime", &b.next_sync_at);
    m.insert(
        "TimeZone".into(),
        json!(b.time_zone.as_deref().unwrap_or("UTC")),
    );
    m.insert("SubmittedByUser".into(), json!(b.submitted_by));
    m.insert("NotificationEmails".into(), json!(b.notification_emails));
    m.insert("ExcludedFolders".into(), json!(b.exclude_folders));
    m.insert("IncludedFolders".into(), json!(b.include_folders));
    m.insert("ContentFilter".into(), json!(b.content_filter));
    m.insert("BadItemLimit".into(), unlimited_out(b.bad_item_limit));
    m.insert("LargeItemLimit".into(), unlimited_out(b.large_item_limit));
    m.insert(
        "MaxMessageSize".into(),
        b.max_message_size
            .map_or_else(|| json!("Unlimited"), |n| json!(n)),
    );
    m.insert(
        "AllowUnknownColumnsInCsv".into(),
        json!(b.allow_unknown_columns),
    );
    m.insert("ReportInterval".into(), json!(b.report_interval_secs));
    m.insert("SkipReports".into(), json!(b.skip_reports));
    m.insert("AutoStart".into(), json!(b.auto_start));
    m.insert(
        "SourceEndpoint".into(),
        cx.source.map_or(Value::Null, endpoint),
    );
    m.insert(
        "TargetEndpoint".into(),
        cx.target.map_or(Value::Null, endpoint),
    );
    m.insert("TargetMaildir".into(), json!(b.target_maildir));
    m.insert("TargetDeliveryDomain".into(), Value::Null);
    m.insert(
        "SupportedActions".into(),
        json!(batch::supported_actions(b.status, c.to_start > 0).to_string()),
    );
    m.insert("Reports".into(), reports(cx.reports));
    if let Some(events) = cx.report {
        m.insert("Report".into(), report_lines(events));
    }
    m.insert("ItemsSynced".into(), json!(c.items_synced));
    m.insert("ItemsSkipped".into(), json!(c.items_skipped));
    m.insert("ItemsTotal".into(), json!(c.items_total));
    m.insert("BytesSynced".into(), json!(c.bytes_synced));
    Value::Object(m)
}

/// The user's DataConsistencyScore.
pub fn user_score(u: &UserRecord) -> &'static str {
    consistency_score(u.items_synced, u.items_skipped)
}

/// A MigrationUser. `batch_name` is the name of the user's batch (Identity of `BatchId`).
pub fn user(u: &UserRecord, batch_name: &str) -> Value {
    let mut m = Map::new();
    m.insert(
        "Identity".into(),
        json!({ "Id": u.email, "JobItemGuid": u.id }),
    );
    m.insert("Guid".into(), json!(u.id));
    m.insert("EmailAddress".into(), json!(u.email));
    m.insert("Identifier".into(), json!(u.email));
    m.insert("UserName".into(), json!(u.user_name));
    m.insert("UserRoot".into(), json!(u.user_root));
    m.insert("RowIndex".into(), json!(u.row_index));
    m.insert(
        "BatchId".into(),
        json!({ "Id": batch_name, "Name": batch_name, "JobId": u.batch_id }),
    );
    m.insert("Status".into(), json!(u.status.as_str()));
    m.insert("StatusSummary".into(), json!(u.status.summary().as_str()));
    m.insert("State".into(), json!(user::state(u.status).as_str()));
    m.insert("Flags".into(), json!(user::flags(u.requested_action)));
    m.insert("RecipientType".into(), json!("Mailbox"));
    m.insert("MigrationType".into(), json!("IMAP"));
    m.insert("SyncedItemCount".into(), json!(u.items_synced));
    m.insert("SkippedItemCount".into(), json!(u.items_skipped));
    m.insert(
        "TotalItemsInSourceMailboxCount".into(),
        json!(u.items_total),
    );
    m.insert("LastSuccessfulSyncTime".into(), ts(&u.last_success_at));
    m.insert("LastSubscriptionCheckTime".into(), ts(&u.last_sync_start));
    m.insert("InitialSyncTime".into(), ts(&u.initial_sync_at));
    m.insert("StartTime".into(), ts(&u.started_at));
    m.insert("ErrorSummary".into(), json!(u.last_error));
    m.insert("ErrorType".into(), json!(u.error_code));
    m.insert("DataConsistencyScore".into(), json!(user_score(u)));
    m.insert("HasUnapprovedSkippedItems".into(), json!(false));
    m.insert("SyncedFolderCount".into(), json!(u.folders_synced));
    m.insert("SyncPasses".into(), json!(u.passes));
    Value::Object(m)
}

/// A MigrationUserStatistics: the user plus transfer figures, and the skipped items and report
/// lines when asked for (empty arrays otherwise, as Exchange prints `{}`).
/// The worker's recent view of a user, from its last report lines (oldest first): the lines
/// with their time and level, how many of them are retries, and the last retry's text.
pub fn diagnostics(recent: &[Event]) -> Value {
    let retries: Vec<&Event> = recent
        .iter()
        .filter(|e| crate::engine::retry::is_retry_line(&e.message))
        .collect();
    json!({
        "Retries": retries.len(),
        "LastRetry": retries.last().map(|e| e.message.as_str()),
        "Events": recent
            .iter()
            .map(|e| format!("{} {} {}", format_timestamp(&e.at), e.level.as_str(), e.message))
            .collect::<Vec<_>>(),
    })
}

pub fn user_statistics(
    u: &UserRecord,
    batch_name: &str,
    skipped: Option<&[SkippedItem]>,
    report: Option<&[Event]>,
) -> Value {
    let mut v = user(u, batch_name);
    let done = u
        .items_synced
        .saturating_add(u.items_skipped)
        .saturating_mul(100);
    let percent = if let Some(p) = done.checked_div(u.items_total) {
        p.min(100)
    } else if matches!(
        user::phase(u.status),
        store::StatusSummary::Synced | store::StatusSummary::Completed
    ) {
        100
    } else {
        0
    };
    let skipped_items: Vec<Value> = skipped
        .unwrap_or_default()
        .iter()
        .map(|s| {
            json!({
                "Kind": s.kind.as_str(),
                "FolderName": s.folder,
                "Subject": s.subject,
                "Sender": s.sender,
                "Recipient": s.recipients,
                "DateSent": s.date_sent,
                "DateReceived": s.date_received,
                "MessageSize": s.size,
                "Failure": s.reason,
                "CreationTime": format_timestamp(&s.created_at),
            })
        })
        .collect();
    if let Value::Object(m) = &mut v {
        m.insert("BytesTransferred".into(), json!(u.bytes_synced));
        m.insert("EstimatedTotalTransferSize".into(), json!(u.bytes_total));
        m.insert("EstimatedTotalTransferCount".into(), json!(u.items_total));
        m.insert("PercentageComplete".into(), json!(percent));
        m.insert("Error".into(), json!(u.last_error));
        m.insert("SkippedItems".into(), Value::Array(skipped_items));
        m.insert(
            "Report".into(),
            report.map_or_else(|| json!([]), report_lines),
        );
    }
    v
}

/// Batch names by id, for the `BatchId` of users.
pub fn batch_names(batches: &[BatchRecord]) -> HashMap<Uuid, String> {
    batches.iter().map(|b| (b.id, b.name.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_limits_take_bytes_or_unlimited() {
        assert_eq!(byte_limit("m", &json!(36700160)).unwrap(), Some(36700160));
        assert_eq!(byte_limit("m", &json!("1024")).unwrap(), Some(1024));
        assert_eq!(byte_limit("m", &json!("Unlimited")).unwrap(), None);
        assert_eq!(byte_limit("m", &Value::Null).unwrap(), None);
        for bad in [json!(0), json!(-1), json!("35 MB"), json!(true)] {
            let e = byte_limit("maxMessageSize", &bad).unwrap_err();
            assert!(e.message.contains("maxMessageSize"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn diagnostics_count_the_retries_among_the_recent_lines() {
        let line = |level, message: &str| {
            store::Event::new(Some(Uuid::new_v4()), None, level, message.to_string())
        };
        let recent = [
            line(
                store::EventLevel::Warning,
                "ann@contoso.test: attempt 1 interrupted (connection reset by the source); retrying in 1 s",
            ),
            line(
                store::EventLevel::Warning,
                "ann@contoso.test: 1 message skipped",
            ),
            line(
                store::EventLevel::Warning,
                "ann@contoso.test: attempt 2 interrupted (the target said: NO [OVERQUOTA]); retrying in 2 s",
            ),
            line(
                store::EventLevel::Info,
                "ann@contoso.test: pass 1 finished: 3 copied; 2 source and 1 target sessions",
            ),
        ];
        let d = diagnostics(&recent);
        assert_eq!(d["Retries"], json!(2));
        assert!(
            d["LastRetry"].as_str().unwrap().contains("OVERQUOTA"),
            "{d}"
        );
        let events = d["Events"].as_array().unwrap();
        assert_eq!(events.len(), 4);
        assert!(
            events[3]
                .as_str()
                .unwrap()
                .contains(" Info ann@contoso.test: pass 1"),
            "{d}"
        );
        assert_eq!(diagnostics(&[])["LastRetry"], Value::Null);
    }

    #[test]
    fn times_without_zone_are_utc() {
        let t = parse_time("startAfter", "2026-07-30T21:00:00").unwrap();
        assert_eq!(format_timestamp(&t), "2026-07-30T21:00:00Z");
        let t = parse_time("startAfter", "2026-07-30T21:00:00-07:00").unwrap();
        assert_eq!(format_timestamp(&t), "2026-07-31T04:00:00Z");
        assert!(parse_time("startAfter", "tomorrow").is_err());
    }

    #[test]
    fn scores() {
        assert_eq!(consistency_score(0, 0), "Perfect");
        assert_eq!(consistency_score(1000, 5), "Good");
        assert_eq!(consistency_score(100, 5), "Investigate");
        assert_eq!(
            worst_score(["Perfect", "Investigate", "Good"]),
            "Investigate"
        );
    }

    #[test]
    fn unlimited_values() {
        assert_eq!(unlimited("x", &json!("Unlimited")).unwrap(), None);
        assert_eq!(unlimited("x", &json!(5)).unwrap(), Some(5));
        assert_eq!(unlimited("x", &json!("7")).unwrap(), Some(7));
        assert!(unlimited("x", &json!(-1)).is_err());
    }
}

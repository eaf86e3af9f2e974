//! Batch details and user details: per-user status, items synced / skipped / total, bytes,
//! errors in the server's words, skipped items and the user's report, with server-side SVG
//! bars of each user's progress and charts of messages copied over time (`chart`).

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};

use super::auth::Session;
use super::call::call;
use super::chart;
use super::dashboard;
use super::web::ConsoleState;
use crate::api::ApiError;

#[derive(Serialize)]
struct UserRow {
    guid: String,
    email: String,
    status: String,
    synced: u64,
    skipped: u64,
    total: u64,
    percent: u64,
    /// Width in the SVG bar (0..=200 px).
    bar: u64,
    last_sync: Option<String>,
    error: Option<String>,
}

fn num(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

fn user_row(u: &Value) -> UserRow {
    let (synced, total) = (
        num(u, "SyncedItemCount"),
        num(u, "TotalItemsInSourceMailboxCount"),
    );
    let percent = (synced.min(total) * 100)
        .checked_div(total)
        .unwrap_or_else(|| {
            if u.get("Status").and_then(Value::as_str) == Some("Synced") {
                100
            } else {
                0
            }
        });
    UserRow {
        guid: text(u, "Guid").unwrap_or_default(),
        email: text(u, "EmailAddress").unwrap_or_default(),
        status: text(u, "Status").unwrap_or_default(),
        synced,
        skipped: num(u, "SkippedItemCount"),
        total,
        percent,
        bar: percent * 2,
        last_sync: text(u, "LastSuccessfulSyncTime"),
        error: text(u, "ErrorSummary").filter(|e| !e.is_empty()),
    }
}

async fn users_of(state: &ConsoleState, name: &str) -> Result<Vec<UserRow>, ApiError> {
    let v = call(state.home(), "user.get", json!({ "batchId": name })).await;
    match v {
        Ok(v) => Ok(v
            .as_array()
            .map(|a| a.iter().map(user_row).collect())
            .unwrap_or_default()),
        // A batch without users answers NotFound, as Get-MigrationUser does.
        Err(e) if e.code == crate::ErrorCode::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// `GET /batches/{name}`: the batch's settings, counts and users.
pub(super) async fn batch(
    State(state): State<ConsoleState>,
    Path(name): Path<String>,
    s: Session,
) -> Response {
    let b = match call(
        state.home(),
        "batch.get",
        json!({ "identity": name, "includeReport": true }),
    )
    .await
    {
        Ok(v) => v.get(0).cloned().unwrap_or(Value::Null),
        Err(e) => return state.api_error(Some(&s.csrf), &e),
    };
    let users = match users_of(&state, &name).await {
        Ok(u) => u,
        Err(e) => return state.api_error(Some(&s.csrf), &e),
    };
    let row = dashboard::row(&b);
    let warnings = b.get("ValidationWarnings").cloned().unwrap_or(json!([]));
    state.render(
        "batch.html",
        minijinja::context! {
            csrf => &s.csrf, page => "dashboard", b => row, users => users,
            warnings => warnings,
            source => b.pointer("/SourceEndpoint/Name"),
            target => b.pointer("/TargetEndpoint/Name"),
            maildir => b.get("TargetMaildir"),
            message => b.get("Message"),
            excluded => b.get("ExcludedFolders"),
            notify => b.get("NotificationEmails"),
            created => b.get("CreationDateTime"),
            started => b.get("StartDateTime"),
            chart => chart::chart(b.get("Report"), b.get("StartDateTime")),
        },
    )
}

/// `GET /fragments/batches/{name}/users`: the user rows alone, for the live refresh.
pub(super) async fn user_rows(
    State(state): State<ConsoleState>,
    Path(name): Path<String>,
    s: Session,
) -> Response {
    match users_of(&state, &name).await {
        Ok(users) => state.render("user_rows.html", minijinja::context! { users => users }),
        Err(e) => state.api_error(Some(&s.csrf), &e),
    }
}

/// `GET /fragments/batches/{name}/row`: the batch's own row on its page (status, counts and
/// the actions it allows now), for the live refresh.
pub(super) async fn batch_row(
    State(state): State<ConsoleState>,
    Path(name): Path<String>,
    s: Session,
) -> Response {
    match call(state.home(), "batch.get", json!({ "identity": name })).await {
        Ok(v) => {
            let row = dashboard::row(&v.get(0).cloned().unwrap_or(Value::Null));
            let back = format!("/batches/{}", super::wizard::url_escape(&name));
            state.render(
                "batch_rows.html",
                minijinja::context! { csrf => &s.csrf, batches => [row], back => back },
            )
        }
        Err(e) => state.api_error(Some(&s.csrf), &e),
    }
}

/// `GET /users/{id}`: Get-MigrationUserStatistics with skipped items and report.
pub(super) async fn user(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    s: Session,
) -> Response {
    let u = match call(
        state.home(),
        "user.statistics",
        json!({ "identity": id, "includeSkippedItems": true, "includeReport": true }),
    )
    .await
    {
        Ok(v) => v,
        Err(e) => return state.api_error(Some(&s.csrf), &e),
    };
    let row = user_row(&u);
    state.render(
        "user.html",
        minijinja::context! {
            csrf => &s.csrf, page => "dashboard", u => row,
            batch => u.pointer("/BatchId/Name"),
            bytes => u.get("BytesTransferred"),
            estimated => u.get("EstimatedTotalTransferSize"),
            folders => u.get("SyncedFolderCount"),
            error => u.get("Error"),
            error_type => u.get("ErrorType"),
            skipped_items => u.get("SkippedItems"),
            report => u.get("Report"),
            chart => chart::chart(u.get("Report"), u.get("StartTime")),
        },
    )
}

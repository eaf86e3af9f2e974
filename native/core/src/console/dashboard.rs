//! The migration dashboard: every batch with its status, user counts, progress and last sync,
//! the actions the batch allows, and its reports; the rows refresh live.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::auth::{Posted, Session};
use super::call::call;
use super::web::ConsoleState;
use crate::api::ApiError;

/// One dashboard row, from `batch.get`.
#[derive(Serialize)]
pub(super) struct BatchRow {
    name: String,
    status: String,
    total: u64,
    synced: u64,
    failed: u64,
    /// Items synced of the items found, 0..=100.
    percent: u64,
    items_synced: u64,
    items_total: u64,
    last_synced: Option<String>,
    actions: Vec<&'static str>,
    has_report: bool,
    has_errors: bool,
}

fn num(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

/// The actions the page offers for a batch: what `SupportedActions` lists, plus Complete for
/// the statuses the api completes and Sync now for synced batches. The api still decides:
/// an action it refuses shows its error.
fn actions_of(b: &Value) -> Vec<&'static str> {
    // "Start, Set, Remove", as Exchange prints the flags.
    let supported: Vec<&str> = b
        .get("SupportedActions")
        .and_then(Value::as_str)
        .map(|a| a.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let status = b.get("Status").and_then(Value::as_str).unwrap_or("");
    let mut out = Vec::new();
    if supported.contains(&"Start") {
        out.push("start");
    }
    if supported.contains(&"Stop") {
        out.push("stop");
    }
    if matches!(status, "Synced" | "SyncedWithErrors") {
        out.push("syncnow");
    }
    if matches!(status, "Synced" | "SyncedWithErrors" | "Stopped") {
        out.push("complete");
    }
    if supported.contains(&"Remove") {
        out.push("remove");
    }
    out
}

pub(super) fn row(b: &Value) -> BatchRow {
    let items_total = num(b, "ItemsTotal");
    let items_synced = num(b, "ItemsSynced");
    let percent = match text(b, "Status").as_deref() {
        Some("Synced" | "Completed") => 100,
        _ => (items_synced.min(items_total) * 100)
            .checked_div(items_total)
            .unwrap_or(0),
    };
    let reports = b.get("Reports").and_then(Value::as_array);
    let first = reports.and_then(|r| r.first());
    BatchRow {
        name: text(b, "Name")
            .or_else(|| {
                b.pointer("/Identity/Name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default(),
        status: text(b, "Status").unwrap_or_default(),
        total: num(b, "TotalCount"),
        synced: num(b, "SyncedCount") + num(b, "FinalizedCount"),
        failed: num(b, "FailedCount"),
        percent,
        items_synced,
        items_total,
        last_synced: text(b, "LastSyncedDateTime"),
        actions: actions_of(b),
        has_report: first.is_some(),
        has_errors: first.is_some_and(|r| r.get("ErrorUrl").is_some_and(Value::is_string)),
    }
}

async fn rows_of(state: &ConsoleState) -> Result<Vec<BatchRow>, ApiError> {
    let v = call(state.home(), "batch.get", json!({})).await?;
    Ok(v.as_array()
        .map(|a| a.iter().map(row).collect())
        .unwrap_or_default())
}

async fn render(state: &ConsoleState, s: &Session, message: Option<String>) -> Response {
    match rows_of(state).await {
        Ok(rows) => state.render_status(
            if message.is_some() {
                StatusCode::CONFLICT
            } else {
                StatusCode::OK
            },
            "dashboard.html",
            minijinja::context! { csrf => &s.csrf, batches => rows, error => message, page => "dashboard" },
        ),
        Err(e) => state.api_error(Some(&s.csrf), &e),
    }
}

/// `GET /`: the dashboard.
pub(super) async fn page(State(state): State<ConsoleState>, s: Session) -> Response {
    render(&state, &s, None).await
}

/// `GET /fragments/batches`: the dashboard's rows alone, for the live refresh.
pub(super) async fn rows(State(state): State<ConsoleState>, s: Session) -> Response {
    match rows_of(&state).await {
        Ok(rows) => state.render(
            "batch_rows.html",
            minijinja::context! { csrf => &s.csrf, batches => rows },
        ),
        Err(e) => state.api_error(Some(&s.csrf), &e),
    }
}

/// The api operation and arguments of a dashboard action on batch `name`.
fn operation(action: &str, name: &str) -> Option<(&'static str, Value)> {
    Some(match action {
        "start" => ("batch.start", json!({ "identity": name })),
        "stop" => ("batch.stop", json!({ "identity": name })),
        "complete" => ("batch.complete", json!({ "identity": name })),
        "remove" => ("batch.remove", json!({ "identity": name })),
        "syncnow" => ("batch.set", json!({ "identity": name, "syncNow": true })),
        _ => return None,
    })
}

/// `POST /batches/{name}/action/{action}`: Start (Resume), Stop, Complete, Delete, Sync now,
/// through the cmdlets' operations; an action the api refuses shows its error.
pub(super) async fn action(
    State(state): State<ConsoleState>,
    Path((name, action)): Path<(String, String)>,
    posted: Posted<std::collections::HashMap<String, String>>,
) -> Response {
    let Some((op, args)) = operation(&action, &name) else {
        return state.render_status(
            StatusCode::NOT_FOUND,
            "error.html",
            minijinja::context! { csrf => &posted.session.csrf, code => "NotFound", message => format!("there is no batch action \"{action}\"") },
        );
    };
    match call(state.home(), op, args).await {
        Ok(_) => {
            let back = posted
                .form
                .get("back")
                // Only a path of this console: "//host" and "/\\host" leave it.
                .filter(|b| b.starts_with('/') && !b.starts_with("//") && !b.contains('\\'))
                .cloned()
                .unwrap_or_else(|| "/".into());
            let back = if action == "remove" { "/".into() } else { back };
            Redirect::to(&back).into_response()
        }
        Err(e) => render(&state, &posted.session, Some(e.message)).await,
    }
}

/// `GET /batches/{name}/reports/{statistics|errors}`: the batch's MigrationStatistics.csv or
/// MigrationErrors.csv, at the path `batch.get` reports.
pub(super) async fn report(
    State(state): State<ConsoleState>,
    Path((name, kind)): Path<(String, String)>,
    s: Session,
) -> Response {
    let (key, file) = match kind.as_str() {
        "statistics" => ("SuccessUrl", "MigrationStatistics.csv"),
        "errors" => ("ErrorUrl", "MigrationErrors.csv"),
        _ => {
            return state.render_status(
                StatusCode::NOT_FOUND,
                "error.html",
                minijinja::context! { csrf => &s.csrf, code => "NotFound", message => "there is no such report" },
            );
        }
    };
    let batch = match call(state.home(), "batch.get", json!({ "identity": name })).await {
        Ok(v) => v,
        Err(e) => return state.api_error(Some(&s.csrf), &e),
    };
    let path = batch
        .pointer("/0/Reports/0")
        .and_then(|r| r.get(key))
        .and_then(Value::as_str)
        .map(std::path::PathBuf::from);
    let Some(path) = path else {
        return state.render_status(
            StatusCode::NOT_FOUND,
            "error.html",
            minijinja::context! { csrf => &s.csrf, code => "NotFound", message => format!("the batch \"{name}\" has no {file} yet: the worker writes it after a pass") },
        );
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{file}\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => state.render_status(
            StatusCode::NOT_FOUND,
            "error.html",
            minijinja::context! { csrf => &s.csrf, code => "NotFound", message => format!("cannot read {}: {e}", path.display()) },
        ),
    }
}

//! The new batch wizard, as the EAC lays it out: migration type (IMAP), the users (CSV
//! upload), the IMAP configuration (an existing endpoint, or a new one with Test connection),
//! the move configuration (batch name, excluded folders, target), and start (now or later,
//! notification emails).
//!
//! One multipart form without JavaScript: the Test connection button posts it with
//! `op=test`, Check the users with `op=preview` (`batch.new` with `validateOnly`: the rows the
//! batch would take and Exchange's validation warnings per row, nothing written), and the page
//! comes back with the result and everything typed except passwords (the uploaded CSV is kept
//! sealed in a hidden field; its passwords are never rendered). Create first runs the same
//! validate-only `batch.new`, so a bad CSV or a name in use is refused before anything is
//! written or any server contacted, then `endpoint.new` (a new endpoint, verified as
//! New-MigrationEndpoint verifies it) and `batch.new`; when the batch is refused after all, an
//! endpoint created for it is removed again, so a refused form creates nothing.

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use serde::Serialize;
use serde_json::{Value, json};

use super::auth::{Session, csrf_refused};
use super::call::call;
use super::endpoints::EndpointForm;
use super::web::{ConsoleState, status_of};

/// Largest request body (the CSV upload).
pub(super) const MAX_UPLOAD: usize = 16 * 1024 * 1024;

/// The wizard's fields as posted. `csv` is the upload sealed by `console.keep` (base64): the
/// page carries it to the next step as a hidden field that shows nothing of the file.
#[derive(Serialize, Default)]
struct WizardForm {
    source: String,
    endpoint: EndpointForm,
    batch_name: String,
    exclude_folders: String,
    target: String,
    auto_start: bool,
    notification_emails: String,
    csv: String,
    csv_name: String,
}

fn list(text: &str) -> Vec<String> {
    text.split([',', ';', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn endpoints(state: &ConsoleState) -> Value {
    call(state.home(), "endpoint.get", json!({}))
        .await
        .unwrap_or_else(|_| json!([]))
}

/// What a posted step brings back to the page besides the form.
#[derive(Default)]
struct Outcome {
    error: Option<String>,
    status: Option<StatusCode>,
    test: Option<Value>,
    preview: Option<Value>,
}

impl Outcome {
    /// The api's error, with the HTTP status its code maps to.
    fn refused(e: &crate::api::ApiError) -> Self {
        Outcome {
            error: Some(e.message.clone()),
            status: Some(status_of(e)),
            ..Default::default()
        }
    }
}

async fn render(state: &ConsoleState, s: &Session, f: &WizardForm, out: Outcome) -> Response {
    let status = out.status.unwrap_or(if out.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    });
    state.render_status(
        status,
        "wizard.html",
        minijinja::context! {
            csrf => &s.csrf, page => "new", f => f, endpoints => endpoints(state).await,
            error => out.error, test => out.test, preview => out.preview,
        },
    )
}

/// `GET /new`.
pub(super) async fn page(State(state): State<ConsoleState>, s: Session) -> Response {
    let f = WizardForm {
        auto_start: true,
        ..Default::default()
    };
    render(&state, &s, &f, Outcome::default()).await
}

/// `POST /new` (multipart): Test connection (`op=test`), Check the users (`op=preview`) or
/// Create (`op=create`).
pub(super) async fn submit(
    State(state): State<ConsoleState>,
    s: Session,
    mut mp: Multipart,
) -> Response {
    let mut f = WizardForm::default();
    let (mut csrf, mut op, mut kept) = (String::new(), String::new(), String::new());
    loop {
        let field = match mp.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!("the form could not be read: {e}"),
                )
                    .into_response();
            }
        };
        let name = field.name().unwrap_or("").to_owned();
        if name == "csv_file" {
            let file = field.file_name().unwrap_or("").to_owned();
            match field.bytes().await {
                Ok(b) if !b.is_empty() => {
                    f.csv = base64::engine::general_purpose::STANDARD.encode(&b);
                    f.csv_name = file;
                }
                Ok(_) => {}
                Err(e) => {
                    return (
                        StatusCode::BAD_REQUEST,
                        format!("the upload could not be read: {e}"),
                    )
                        .into_response();
                }
            }
            continue;
        }
        let Ok(value) = field.text().await else {
            return (StatusCode::BAD_REQUEST, "the form could not be read").into_response();
        };
        let e = &mut f.endpoint;
        match name.as_str() {
            "csrf" => csrf = value,
            "op" => op = value,
            "source" => f.source = value,
            "endpoint_name" => e.name = value,
            "remote_server" => e.remote_server = value,
            "port" => e.port = value,
            "security" => e.security = value,
            "authentication" => e.authentication = value,
            "accept_untrusted" => e.accept_untrusted = Some(value),
            "batch_name" => f.batch_name = value,
            "exclude_folders" => f.exclude_folders = value,
            "target" => f.target = value,
            "auto_start" => f.auto_start = true,
            "notification_emails" => f.notification_emails = value,
            "csv_kept" => kept = value,
            "csv_name_kept" if f.csv_name.is_empty() => f.csv_name = value,
            _ => {}
        }
    }
    if !s.csrf_ok(&csrf) {
        return csrf_refused();
    }
    // The upload travels between steps sealed (`console.keep`), never as its text.
    let csv_data = if !f.csv.is_empty() {
        f.csv.clone()
    } else if !kept.is_empty() {
        match call(state.home(), "console.kept", json!({ "kept": kept })).await {
            Ok(v) => v
                .get("Data")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            Err(e) => return render(&state, &s, &f, Outcome::refused(&e)).await,
        }
    } else {
        String::new()
    };
    f.csv = String::new();
    if !csv_data.is_empty() {
        match call(state.home(), "console.keep", json!({ "data": csv_data })).await {
            Ok(v) => {
                f.csv = v
                    .get("Kept")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            }
            Err(e) => return render(&state, &s, &f, Outcome::refused(&e)).await,
        }
    }
    let new_endpoint = f.source.is_empty() || f.source == "__new__";
    if op == "test" {
        let args = if new_endpoint {
            f.endpoint.test_args()
        } else {
            json!({ "endpoint": f.source })
        };
        let out = match call(state.home(), "endpoint.test", args).await {
            Ok(v) => Outcome {
                test: Some(v),
                ..Default::default()
            },
            Err(e) => Outcome::refused(&e),
        };
        return render(&state, &s, &f, out).await;
    }
    // Preview, and the first step of Create: every check of New-MigrationBatch, nothing
    // written (a new endpoint is not there yet, so the checks that need it wait for Create).
    let source = (!new_endpoint).then(|| f.source.clone());
    let preview = match call(
        state.home(),
        "batch.new",
        batch_args(&f, source.as_deref(), &csv_data, true),
    )
    .await
    {
        Ok(v) => v,
        Err(e) => return render(&state, &s, &f, Outcome::refused(&e)).await,
    };
    if op == "preview" {
        let out = Outcome {
            preview: Some(preview),
            ..Default::default()
        };
        return render(&state, &s, &f, out).await;
    }
    // Create: the endpoint first (when new), then the batch; a refused batch takes the new
    // endpoint with it.
    let source = match source {
        Some(s) => s,
        None => match call(state.home(), "endpoint.new", f.endpoint.args(true)).await {
            Ok(v) => v
                .get("Name")
                .and_then(Value::as_str)
                .unwrap_or(&f.endpoint.name)
                .to_owned(),
            Err(e) => return render(&state, &s, &f, Outcome::refused(&e)).await,
        },
    };
    match call(
        state.home(),
        "batch.new",
        batch_args(&f, Some(&source), &csv_data, false),
    )
    .await
    {
        Ok(b) => {
            let name = b
                .get("Name")
                .and_then(Value::as_str)
                .unwrap_or(f.batch_name.trim())
                .to_owned();
            let path = format!("/batches/{}", url_escape(&name));
            Redirect::to(&path).into_response()
        }
        Err(e) => {
            if new_endpoint
                && let Err(r) = call(
                    state.home(),
                    "endpoint.remove",
                    json!({ "identity": source }),
                )
                .await
            {
                tracing::warn!(error = %r, "cannot remove the endpoint of a refused batch");
            }
            render(&state, &s, &f, Outcome::refused(&e)).await
        }
    }
}

/// The `batch.new` arguments of the form: `source` is the endpoint's name (`None` only for a
/// validate-only call before a new endpoint exists).
fn batch_args(f: &WizardForm, source: Option<&str>, csv_data: &str, validate_only: bool) -> Value {
    let mut args = json!({
        "name": f.batch_name.trim(),
        "csvData": csv_data,
        "autoStart": f.auto_start,
        "excludeFolders": list(&f.exclude_folders),
        "notificationEmails": list(&f.notification_emails),
    });
    if let Some(source) = source {
        args["sourceEndpoint"] = json!(source);
    }
    if !f.target.is_empty() {
        args["targetEndpoint"] = json!(f.target);
    }
    if validate_only {
        args["validateOnly"] = json!(true);
    }
    args
}

/// A path segment with everything but unreserved characters percent-encoded (RFC 3986 §2.3).
pub(super) fn url_escape(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

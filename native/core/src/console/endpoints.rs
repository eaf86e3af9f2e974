//! Endpoints: list, create, edit, test and remove, through `endpoint.*`. A form the api refuses
//! is shown again with the api's error and what was typed, except passwords.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::auth::{Posted, Session};
use super::call::call;
use super::web::{ConsoleState, status_of};

/// The endpoint form as posted; `password` is never sent back to the page.
#[derive(Deserialize, Serialize, Default, Clone)]
pub(super) struct EndpointForm {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) remote_server: String,
    #[serde(default)]
    pub(super) port: String,
    #[serde(default)]
    pub(super) security: String,
    #[serde(default)]
    pub(super) authentication: String,
    #[serde(default)]
    pub(super) accept_untrusted: Option<String>,
    #[serde(default)]
    pub(super) skip_verification: Option<String>,
    #[serde(default)]
    pub(super) admin_user: String,
    #[serde(default, skip_serializing)]
    pub(super) admin_password: String,
    #[serde(default)]
    pub(super) target_login: String,
}

impl EndpointForm {
    /// The `endpoint.new` (`with_name`) / `endpoint.set` arguments of the form (blank fields
    /// left out, so the api's defaults apply).
    pub(super) fn args(&self, with_name: bool) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: &str| {
            if !v.trim().is_empty() {
                m.insert(k.into(), json!(v.trim()));
            }
        };
        if with_name {
            put("name", &self.name);
        }
        put("remoteServer", &self.remote_server);
        put("port", &self.port);
        put("security", &self.security);
        put("authentication", &self.authentication);
        put("targetLogin", &self.target_login);
        m.insert(
            "acceptUntrustedCertificates".into(),
            json!(self.accept_untrusted.is_some()),
        );
        if self.skip_verification.is_some() {
            m.insert("skipVerification".into(), json!(true));
        }
        // Editing (no name), a blank password leaves the stored credentials as they are.
        let unchanged = !with_name && self.admin_password.is_empty();
        if !self.admin_user.trim().is_empty() && !unchanged {
            let mut c = json!({ "userName": self.admin_user.trim() });
            if !self.admin_password.is_empty() {
                c["password"] = json!(self.admin_password);
            }
            m.insert("credentials".into(), c);
        }
        Value::Object(m)
    }

    /// The `endpoint.test` arguments: the same check as Test-MigrationServerAvailability.
    pub(super) fn test_args(&self) -> Value {
        let mut a = json!({
            "remoteServer": self.remote_server.trim(),
            "acceptUntrustedCertificates": self.accept_untrusted.is_some(),
        });
        if !self.port.trim().is_empty() {
            a["port"] = json!(self.port.trim());
        }
        if !self.security.trim().is_empty() {
            a["security"] = json!(self.security.trim());
        }
        a
    }
}

async fn list_page(
    state: &ConsoleState,
    s: &Session,
    form: Option<&EndpointForm>,
    error: Option<String>,
    notice: Option<Value>,
) -> Response {
    let endpoints = match call(state.home(), "endpoint.get", json!({})).await {
        Ok(v) => v,
        Err(e) if e.code == crate::ErrorCode::NotFound => json!([]),
        Err(e) => return state.api_error(Some(&s.csrf), &e),
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    state.render_status(
        status,
        "endpoints.html",
        minijinja::context! {
            csrf => &s.csrf, page => "endpoints", endpoints => endpoints,
            form => form.cloned().unwrap_or_default(), error => error, test => notice,
        },
    )
}

/// `GET /endpoints`.
pub(super) async fn list(State(state): State<ConsoleState>, s: Session) -> Response {
    list_page(&state, &s, None, None, None).await
}

/// `POST /endpoints`: New-MigrationEndpoint.
pub(super) async fn create(State(state): State<ConsoleState>, p: Posted<EndpointForm>) -> Response {
    match call(state.home(), "endpoint.new", p.form.args(true)).await {
        Ok(_) => Redirect::to("/endpoints").into_response(),
        Err(e) => list_page(&state, &p.session, Some(&p.form), Some(e.message), None).await,
    }
}

/// `POST /endpoints/test`: tests the typed server before creating anything.
pub(super) async fn test_new(
    State(state): State<ConsoleState>,
    p: Posted<EndpointForm>,
) -> Response {
    match call(state.home(), "endpoint.test", p.form.test_args()).await {
        Ok(v) => list_page(&state, &p.session, Some(&p.form), None, Some(v)).await,
        Err(e) => list_page(&state, &p.session, Some(&p.form), Some(e.message), None).await,
    }
}

/// `POST /endpoints/{name}/test`: Test-MigrationServerAvailability -Endpoint.
pub(super) async fn test(
    State(state): State<ConsoleState>,
    Path(name): Path<String>,
    p: Posted<std::collections::HashMap<String, String>>,
) -> Response {
    match call(state.home(), "endpoint.test", json!({ "endpoint": name })).await {
        Ok(mut v) => {
            v["Endpoint"] = json!(name);
            list_page(&state, &p.session, None, None, Some(v)).await
        }
        Err(e) => list_page(&state, &p.session, None, Some(e.message), None).await,
    }
}

/// `POST /endpoints/{name}/remove`: Remove-MigrationEndpoint.
pub(super) async fn remove(
    State(state): State<ConsoleState>,
    Path(name): Path<String>,
    p: Posted<std::collections::HashMap<String, String>>,
) -> Response {
    match call(state.home(), "endpoint.remove", json!({ "identity": name })).await {
        Ok(_) => Redirect::to("/endpoints").into_response(),
        Err(e) => list_page(&state, &p.session, None, Some(e.message), None).await,
    }
}

fn form_of(e: &Value) -> EndpointForm {
    let t = |k: &str| match e.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    EndpointForm {
        name: t("Name"),
        remote_server: t("RemoteServer"),
        port: t("Port"),
        security: t("Security"),
        authentication: t("Authentication"),
        accept_untrusted: (e.get("AcceptUntrustedCertificates") == Some(&json!(true)))
            .then(|| "on".into()),
        skip_verification: None,
        admin_user: t("AdminUserName"),
        admin_password: String::new(),
        target_login: t("TargetLogin"),
    }
}

/// `GET /endpoints/{name}`: the edit form.
pub(super) async fn edit(
    State(state): State<ConsoleState>,
    Path(name): Path<String>,
    s: Session,
) -> Response {
    match call(state.home(), "endpoint.get", json!({ "identity": name })).await {
        Ok(v) => {
            let e = v.get(0).cloned().unwrap_or(Value::Null);
            state.render(
                "endpoint_edit.html",
                minijinja::context! { csrf => &s.csrf, page => "endpoints", form => form_of(&e), name => name },
            )
        }
        Err(e) => state.api_error(Some(&s.csrf), &e),
    }
}

/// `POST /endpoints/{name}`: Set-MigrationEndpoint.
pub(super) async fn update(
    State(state): State<ConsoleState>,
    Path(name): Path<String>,
    p: Posted<EndpointForm>,
) -> Response {
    let mut args = p.form.args(false);
    args["identity"] = json!(name);
    match call(state.home(), "endpoint.set", args).await {
        Ok(_) => Redirect::to("/endpoints").into_response(),
        Err(e) => state.render_status(
            status_of(&e),
            "endpoint_edit.html",
            minijinja::context! {
                csrf => &p.session.csrf, page => "endpoints", form => &p.form, name => name,
                error => e.message,
            },
        ),
    }
}

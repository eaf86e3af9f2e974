//! Migration settings: what `Set-MigrationConfig` sets for every batch (the default target,
//! the Maildir root, the incremental sync interval, the concurrency cap and the SMTP relay the
//! batch reports are mailed through), through `config.get` / `config.set`. Only the settings
//! the admin changed are sent, so a value set with the cmdlet meanwhile, or left at its
//! default, stays as it is. The relay's password is never shown; left blank it is kept.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::auth::{Posted, Session};
use super::call::call;
use super::web::ConsoleState;

/// The settings form as posted; `smtp_password` is never sent back to the page.
#[derive(Deserialize, Serialize, Default, Clone, PartialEq)]
pub(super) struct SettingsForm {
    #[serde(default)]
    default_target: String,
    #[serde(default)]
    maildir_root: String,
    #[serde(default)]
    incremental_hours: String,
    #[serde(default)]
    max_concurrent: String,
    #[serde(default)]
    smtp_server: String,
    #[serde(default)]
    smtp_port: String,
    #[serde(default)]
    smtp_from: String,
    #[serde(default)]
    smtp_security: String,
    #[serde(default)]
    smtp_user: String,
    #[serde(default, skip_serializing)]
    smtp_password: String,
    #[serde(default)]
    smtp_off: Option<String>,
}

/// A number of hours as the form shows it: whole hours without a fraction.
fn hours(secs: u64) -> String {
    let h = secs as f64 / 3600.0;
    if h.fract() == 0.0 {
        format!("{h:.0}")
    } else {
        format!("{h}")
    }
}

impl SettingsForm {
    /// The form filled from `config.get`.
    fn of(config: &Value) -> SettingsForm {
        let text = |v: Option<&Value>| match v {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let relay = config.get("SmtpRelay").filter(|r| r.is_object());
        let at = |k: &str| text(relay.and_then(|r| r.get(k)));
        SettingsForm {
            default_target: text(config.get("DefaultTargetEndpoint")),
            maildir_root: text(config.get("MaildirRoot")),
            incremental_hours: config
                .get("IncrementalSyncIntervalSecs")
                .and_then(Value::as_u64)
                .map(hours)
                .unwrap_or_default(),
            max_concurrent: match config.get("MaxConcurrentMigrations") {
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            },
            smtp_server: at("Server"),
            smtp_port: at("Port"),
            smtp_from: at("From"),
            smtp_security: at("Security"),
            smtp_user: at("UserName"),
            smtp_password: String::new(),
            smtp_off: None,
        }
    }

    /// The `config.set` arguments for what differs from `current` (blank fields clear a
    /// setting back to its default); an error names a field the form cannot read.
    fn changes(&self, current: &SettingsForm) -> Result<Value, String> {
        let mut m = Map::new();
        let trimmed = |s: &str| s.trim().to_owned();
        let or_null = |s: &str| {
            let s = s.trim();
            if s.is_empty() { Value::Null } else { json!(s) }
        };
        if trimmed(&self.default_target) != trimmed(&current.default_target) {
            m.insert(
                "defaultTargetEndpoint".into(),
                or_null(&self.default_target),
            );
        }
        if trimmed(&self.maildir_root) != trimmed(&current.maildir_root) {
            m.insert("maildirRoot".into(), or_null(&self.maildir_root));
        }
        if trimmed(&self.incremental_hours) != trimmed(&current.incremental_hours) {
            let h = self.incremental_hours.trim();
            let v = if h.is_empty() {
                Value::Null
            } else {
                let n: f64 = h
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite() && *n > 0.0)
                    .ok_or_else(|| {
                        format!("the incremental sync interval \"{h}\" is not a number of hours")
                    })?;
                json!((n * 3600.0).round() as u64)
            };
            m.insert("incrementalSyncIntervalSecs".into(), v);
        }
        if trimmed(&self.max_concurrent) != trimmed(&current.max_concurrent) {
            let t = self.max_concurrent.trim();
            let v = match t.parse::<u64>() {
                Ok(n) => json!(n),
                Err(_) if t.is_empty() => Value::Null,
                // The api names what it accepts.
                Err(_) => json!(t),
            };
            m.insert("maxConcurrentMigrations".into(), v);
        }
        if self.smtp_off.is_some() {
            if !current.smtp_server.is_empty() {
                m.insert("smtpRelay".into(), Value::Null);
            }
        } else {
            // The encryption list always has a choice: without a relay it alone changes nothing.
            let relay_changed = [
                (&self.smtp_server, &current.smtp_server),
                (&self.smtp_port, &current.smtp_port),
                (&self.smtp_from, &current.smtp_from),
                (&self.smtp_user, &current.smtp_user),
            ]
            .iter()
            .any(|(a, b)| a.trim() != b.trim())
                || !self.smtp_password.is_empty()
                || (!current.smtp_server.is_empty()
                    && self.smtp_security.trim() != current.smtp_security);
            if relay_changed {
                let mut r = Map::new();
                let mut put = |k: &str, v: &str| {
                    if !v.trim().is_empty() {
                        r.insert(k.into(), json!(v.trim()));
                    }
                };
                put("server", &self.smtp_server);
                put("from", &self.smtp_from);
                put("security", &self.smtp_security);
                put("userName", &self.smtp_user);
                let port = self.smtp_port.trim();
                if !port.is_empty() {
                    let p: u16 = port
                        .parse()
                        .map_err(|_| format!("the smtp port \"{port}\" must be from 1 to 65535"))?;
                    r.insert("port".into(), json!(p));
                }
                if !self.smtp_password.is_empty() {
                    r.insert("password".into(), json!(self.smtp_password));
                }
                m.insert("smtpRelay".into(), Value::Object(r));
            }
        }
        Ok(Value::Object(m))
    }
}

async fn page(
    state: &ConsoleState,
    s: &Session,
    form: Option<&SettingsForm>,
    error: Option<String>,
    saved: bool,
) -> Response {
    let config = match call(state.home(), "config.get", json!({})).await {
        Ok(v) => v,
        Err(e) => return state.api_error(Some(&s.csrf), &e),
    };
    let endpoints = match call(state.home(), "endpoint.get", json!({})).await {
        Ok(v) => v,
        Err(e) if e.code == crate::ErrorCode::NotFound => json!([]),
        Err(e) => return state.api_error(Some(&s.csrf), &e),
    };
    let has_password = config
        .pointer("/SmtpRelay/HasPassword")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    state.render_status(
        status,
        "settings.html",
        minijinja::context! {
            csrf => &s.csrf, page => "settings", endpoints => endpoints,
            form => form.cloned().unwrap_or_else(|| SettingsForm::of(&config)),
            has_password => has_password, error => error, saved => saved,
        },
    )
}

/// `GET /settings`.
pub(super) async fn show(State(state): State<ConsoleState>, s: Session) -> Response {
    page(&state, &s, None, None, false).await
}

/// `GET /settings/saved`: the page after a successful save.
pub(super) async fn saved(State(state): State<ConsoleState>, s: Session) -> Response {
    page(&state, &s, None, None, true).await
}

/// `POST /settings`: Set-MigrationConfig with what the admin changed.
pub(super) async fn save(State(state): State<ConsoleState>, p: Posted<SettingsForm>) -> Response {
    let current = match call(state.home(), "config.get", json!({})).await {
        Ok(v) => SettingsForm::of(&v),
        Err(e) => return state.api_error(Some(&p.session.csrf), &e),
    };
    let args = match p.form.changes(&current) {
        Ok(a) => a,
        Err(message) => return page(&state, &p.session, Some(&p.form), Some(message), false).await,
    };
    if args.as_object().is_some_and(Map::is_empty) {
        return Redirect::to("/settings/saved").into_response();
    }
    match call(state.home(), "config.set", args).await {
        Ok(_) => Redirect::to("/settings/saved").into_response(),
        Err(e) => page(&state, &p.session, Some(&p.form), Some(e.message), false).await,
    }
}

//! `config.*`: Get- and Set-MigrationConfig, with our settings beside Exchange's.
//!
//! Stored keys (JSON values in the `config` table; the worker reads the same keys):
//! - `defaultTargetEndpoint`: GUID string of the endpoint new batches target when they name none;
//! - `smtpRelay`: `{server, port, from, security, userName?, passwordSealed?}` where
//!   `passwordSealed` is the base64 of the sealed password (unseal with `Store::unseal`);
//! - `incrementalSyncIntervalSecs`: seconds between incremental syncs (default 86400, ≥ 60);
//! - `maxConcurrentMigrations`: users the worker runs at once over all batches (absent = the
//!   worker's default);
//! - `memoryBudget`: bytes of message bodies the worker (or the CLI) holds at once over all
//!   users and folders (absent = `IMAPMIGRATION_MEMORY_BUDGET`, else 256 MiB; see
//!   `engine::budget`); read when the worker starts;
//! - `connectTimeout`, `greetingTimeout`, `tlsTimeout`, `loginTimeout`, `idleTimeout`
//!   (seconds) and `minTransferRate` (bytes per second): the stall limits of every connection
//!   (`engine::server::TIMEOUT_SETTINGS`; absent = the defaults; the `IMAPMIGRATION_TIMEOUT_*`
//!   and `IMAPMIGRATION_MIN_RATE` variables override them); read for every pass;
//! - `maildirRoot`: the absolute path of the embedded Maildir target's root for new batches
//!   without a target endpoint (absent = `<home>/maildir` on SQLite; on PostgreSQL there is no
//!   default, since every worker host must see the same directory, and such a batch is refused).

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use imapmigration_store as store;
use store::Store;

use super::dto;
use super::{ApiError, ApiResult, Request};
use crate::ErrorCode;
use crate::engine::budget::{self, MEMORY_BUDGET_KEY};
use crate::engine::server::{self as server_settings, TIMEOUT_SETTINGS};

pub(crate) const KEY_DEFAULT_TARGET: &str = "defaultTargetEndpoint";
pub(crate) const KEY_SMTP_RELAY: &str = "smtpRelay";
pub(crate) const KEY_INCREMENTAL_INTERVAL: &str = "incrementalSyncIntervalSecs";
pub(crate) const KEY_MAX_CONCURRENT: &str = "maxConcurrentMigrations";
pub(crate) const KEY_MAILDIR_ROOT: &str = "maildirRoot";

/// Exchange: incremental syncs once every 24 hours.
pub(crate) const DEFAULT_INCREMENTAL_INTERVAL_SECS: u64 = 86_400;
const MIN_INCREMENTAL_INTERVAL_SECS: u64 = 60;
/// Batches a state directory may hold (Get-MigrationConfig `MaxNumberOfBatches`); New-MigrationBatch
/// refuses more.
pub(crate) const MAX_NUMBER_OF_BATCHES: usize = 1000;

/// The configured default target endpoint's GUID, if any.
pub(crate) fn default_target_id(store: &Store) -> ApiResult<Option<String>> {
    Ok(store
        .config_get(KEY_DEFAULT_TARGET)?
        .and_then(|v| v.as_str().map(str::to_owned))
        .filter(|s| !s.is_empty()))
}

/// The root of the embedded Maildir target for a new batch without a target endpoint: the
/// configured `maildirRoot`, else `<home>/maildir` on SQLite. `None` on a PostgreSQL store
/// without the setting: the workers of other hosts would each write into a directory of their
/// own, so such a batch has no Maildir target every worker sees.
pub(crate) fn maildir_root(store: &Store) -> ApiResult<Option<std::path::PathBuf>> {
    if let Some(root) = store
        .config_get(KEY_MAILDIR_ROOT)?
        .and_then(|v| v.as_str().map(str::to_owned))
        .filter(|s| !s.is_empty())
    {
        return Ok(Some(root.into()));
    }
    Ok((!store.is_postgres()).then(|| store::paths::maildir_root(store.home())))
}

/// Checks a `maildirRoot` value: an absolute path (every worker host resolves it the same way).
fn check_maildir_root(v: &Value) -> ApiResult<String> {
    let path = v
        .as_str()
        .ok_or_else(|| setting(KEY_MAILDIR_ROOT, "maildirRoot must be a path"))?;
    if path.contains('\0') || !std::path::Path::new(path).is_absolute() {
        return Err(setting(
            KEY_MAILDIR_ROOT,
            format!(
                "the Maildir root \"{path}\" (-MaildirRoot) is not an absolute path; give the directory every worker host mounts, e.g. /srv/imapmigration/maildir"
            ),
        ));
    }
    let trimmed = path.trim_end_matches('/');
    Ok(if trimmed.is_empty() { "/" } else { trimmed }.to_owned())
}

fn setting(name: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidArgument, message)
        .with_details(json!({ "setting": name, "parameter": name }))
}

fn config_value(store: &Store) -> ApiResult {
    let default_target = match default_target_id(store)? {
        Some(id) => store.get_endpoint(&id)?.map(|e| e.name),
        None => None,
    };
    let smtp = store.config_get(KEY_SMTP_RELAY)?.map(|v| {
        json!({
            "Server": v.get("server"),
            "Port": v.get("port"),
            "From": v.get("from"),
            "Security": v.get("security"),
            "UserName": v.get("userName"),
            "HasPassword": v.get("passwordSealed").is_some_and(|p| !p.is_null()),
        })
    });
    let interval = store
        .config_get(KEY_INCREMENTAL_INTERVAL)?
        .and_then(|v| v.as_u64())
        .unwrap_or(DEFAULT_INCREMENTAL_INTERVAL_SECS);
    let max_concurrent = store
        .config_get(KEY_MAX_CONCURRENT)?
        .and_then(|v| v.as_u64())
        .map_or_else(|| json!("Unlimited"), |n| json!(n));
    let memory_budget = store
        .config_get(MEMORY_BUDGET_KEY)?
        .and_then(|v| v.as_u64())
        .or_else(budget::budget_from_env)
        .unwrap_or(budget::DEFAULT_MEMORY_BUDGET);
    let timeouts = server_settings::configured_timeouts(store);
    let batches = store.list_batches(&store::BatchFilter::default())?.len();
    let mut value = json!({
        "Identity": "MigrationConfig",
        "MaxNumberOfBatches": MAX_NUMBER_OF_BATCHES,
        "MaxConcurrentMigrations": max_concurrent,
        "Features": "MultiBatch, Endpoints",
        "CanSubmitNewBatch": batches < MAX_NUMBER_OF_BATCHES,
        "SupportsCutover": false,
        "DefaultTargetEndpoint": default_target,
        "SmtpRelay": smtp,
        "IncrementalSyncIntervalSecs": interval,
        "MemoryBudget": memory_budget,
        "MaildirRoot": maildir_root(store)?,
        // Seconds (the module shows them as TimeSpans) and bytes per second: the limits in
        // force, stored or default, under the environment's overrides.
        "ConnectTimeout": timeouts.connect.as_secs_f64(),
        "GreetingTimeout": timeouts.greeting.as_secs_f64(),
        "TlsTimeout": timeouts.tls.as_secs_f64(),
        "LoginTimeout": timeouts.login.as_secs_f64(),
        "IdleTimeout": timeouts.idle.as_secs_f64(),
        "MinTransferRate": timeouts.min_rate,
        "Home": store.home(),
        "Workers": workers(store)?,
    });
    if let (Some(v), Value::Object(console)) =
        (value.as_object_mut(), super::console::config_out(store)?)
    {
        v.extend(console);
    }
    Ok(value)
}

/// The registered workers, most recent heartbeat first (`Workers`): a worker writes its row
/// every few seconds and removes it when it stops; `Alive` is false once the heartbeat is
/// stale (the worker was killed or hangs). On a PostgreSQL store every worker of every host is
/// listed, alive by the database's clock, with `UsersHeld`, the users it holds leases on.
fn workers(store: &Store) -> ApiResult {
    if let Some(workers) = store.pg_workers(crate::process::liveness::stale_after_secs())? {
        return Ok(Value::Array(
            workers
                .into_iter()
                .map(|w| {
                    json!({
                        "Id": w.id,
                        "Host": w.host,
                        "Pid": w.pid,
                        "Version": w.version,
                        "StartTime": w.started_at,
                        "HeartbeatTime": w.heartbeat_at,
                        "Alive": w.alive,
                        "UsersHeld": w.users_held,
                    })
                })
                .collect(),
        ));
    }
    let now = store::now();
    Ok(Value::Array(
        store
            .workers_list()?
            .into_iter()
            .map(|w| {
                json!({
                    "Host": w.host,
                    "Pid": w.pid,
                    "Version": w.version,
                    "StartTime": w.started_at,
                    "HeartbeatTime": w.heartbeat_at,
                    "Alive": crate::process::liveness::alive(&w, now),
                })
            })
            .collect(),
    ))
}

/// Get-MigrationConfig.
pub fn get(req: &Request) -> ApiResult {
    let store = req.open_store()?;
    config_value(&store)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SmtpArgs {
    server: Option<String>,
    port: Option<u16>,
    from: Option<String>,
    security: Option<String>,
    user_name: Option<String>,
    password: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Args {
    default_target_endpoint: Option<String>,
    smtp_relay: Option<SmtpArgs>,
    incremental_sync_interval_secs: Option<Value>,
    max_concurrent_migrations: Option<Value>,
    memory_budget: Option<Value>,
    maildir_root: Option<Value>,
}

/// Set-MigrationConfig: validates every given setting before writing any.
pub fn set(req: &Request) -> ApiResult {
    let a: Args = dto::args(req)?;
    let store = req.open_store()?;

    // Each entry: the key and its new value (None = delete).
    let mut writes: Vec<(&str, Option<Value>)> = Vec::new();

    if dto::has(req, KEY_DEFAULT_TARGET) {
        match dto::opt_identity(&a.default_target_endpoint) {
            None => writes.push((KEY_DEFAULT_TARGET, None)),
            Some(id) => {
                let e = store.get_endpoint(id)?.ok_or_else(|| {
                    ApiError::not_found("endpoint", id)
                        .with_details(json!({ "identity": id, "setting": KEY_DEFAULT_TARGET, "parameter": KEY_DEFAULT_TARGET }))
                })?;
                writes.push((KEY_DEFAULT_TARGET, Some(json!(e.id.to_string()))));
            }
        }
    }

    if dto::has(req, KEY_INCREMENTAL_INTERVAL) {
        match &a.incremental_sync_interval_secs {
            None | Some(Value::Null) => writes.push((KEY_INCREMENTAL_INTERVAL, None)),
            Some(v) => {
                let secs = v.as_u64().ok_or_else(|| {
                    setting(
                        KEY_INCREMENTAL_INTERVAL,
                        "incrementalSyncIntervalSecs must be a whole number of seconds",
                    )
                })?;
                if secs < MIN_INCREMENTAL_INTERVAL_SECS {
                    return Err(setting(
                        KEY_INCREMENTAL_INTERVAL,
                        format!(
                            "incrementalSyncIntervalSecs is {secs}; it must be at least {MIN_INCREMENTAL_INTERVAL_SECS}"
                        ),
                    ));
                }
                writes.push((KEY_INCREMENTAL_INTERVAL, Some(json!(secs))));
            }
        }
    }

    if dto::has(req, KEY_MAX_CONCURRENT) {
        let v = a.max_concurrent_migrations.clone().unwrap_or(Value::Null);
        match dto::unlimited(KEY_MAX_CONCURRENT, &v)? {
            None => writes.push((KEY_MAX_CONCURRENT, None)),
            Some(0) => {
                return Err(setting(
                    KEY_MAX_CONCURRENT,
                    "maxConcurrentMigrations must be at least 1",
                ));
            }
            Some(n) => writes.push((KEY_MAX_CONCURRENT, Some(json!(n)))),
        }
    }

    if dto::has(req, MEMORY_BUDGET_KEY) {
        match &a.memory_budget {
            None | Some(Value::Null) => writes.push((MEMORY_BUDGET_KEY, None)),
            Some(v) => {
                let bytes = v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(budget::parse_size))
                    .ok_or_else(|| {
                        setting(
                            MEMORY_BUDGET_KEY,
                            "memoryBudget must be a size in bytes (or with KB, MB or GB)",
                        )
                    })?;
                if !(budget::MIN_MEMORY_BUDGET..=u64::from(u32::MAX)).contains(&bytes) {
                    return Err(setting(
                        MEMORY_BUDGET_KEY,
                        format!(
                            "memoryBudget is {bytes} bytes; it must be from {} MB to 4 GB",
                            budget::MIN_MEMORY_BUDGET >> 20
                        ),
                    ));
                }
                writes.push((MEMORY_BUDGET_KEY, Some(json!(bytes))));
            }
        }
    }

    if dto::has(req, KEY_MAILDIR_ROOT) {
        match &a.maildir_root {
            None | Some(Value::Null) => writes.push((KEY_MAILDIR_ROOT, None)),
            Some(Value::String(s)) if s.is_empty() => writes.push((KEY_MAILDIR_ROOT, None)),
            Some(v) => writes.push((KEY_MAILDIR_ROOT, Some(json!(check_maildir_root(v)?)))),
        }
    }

    for s in &TIMEOUT_SETTINGS {
        match req.args.get(s.key) {
            None => {}
            Some(Value::Null) => writes.push((s.key, None)),
            Some(v) => {
                let stored = server_settings::check_timeout_setting(s.key, v)
                    .map_err(|message| setting(s.key, message))?;
                writes.push((s.key, Some(stored)));
            }
        }
    }

    if dto::is_clear(req, KEY_SMTP_RELAY) {
        writes.push((KEY_SMTP_RELAY, None));
    } else if let Some(s) = &a.smtp_relay {
        let server = dto::opt_identity(&s.server)
            .ok_or_else(|| setting(KEY_SMTP_RELAY, "smtpRelay needs a server"))?;
        if server.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(setting(
                KEY_SMTP_RELAY,
                format!("the smtp server \"{server}\" is not a host name"),
            ));
        }
        let from = dto::opt_identity(&s.from)
            .ok_or_else(|| setting(KEY_SMTP_RELAY, "smtpRelay needs a from address"))?;
        if !from.contains('@') || from.chars().any(char::is_whitespace) {
            return Err(setting(
                KEY_SMTP_RELAY,
                format!("the from address \"{from}\" is not an email address"),
            ));
        }
        let security: store::SecurityMode = match dto::opt_identity(&s.security) {
            None => store::SecurityMode::Tls,
            Some(v) => v.parse().map_err(|_| {
                setting(
                    KEY_SMTP_RELAY,
                    format!("the smtp security \"{v}\" is not valid; use None, Ssl or Tls"),
                )
            })?,
        };
        let port = match s.port {
            Some(0) => {
                return Err(setting(
                    KEY_SMTP_RELAY,
                    "the smtp port must be from 1 to 65535",
                ));
            }
            Some(p) => p,
            None if security == store::SecurityMode::Ssl => 465,
            None => 587,
        };
        let user = dto::opt_identity(&s.user_name).map(str::to_owned);
        let old = store.config_get(KEY_SMTP_RELAY)?;
        let sealed = match &s.password {
            Some(Value::String(p)) if !p.is_empty() => {
                let sealed = store.seal(&store::SecretString::from(p.as_str()));
                Some(json!(
                    base64::engine::general_purpose::STANDARD.encode(sealed.as_bytes())
                ))
            }
            Some(Value::Null) => None,
            Some(_) => {
                return Err(setting(
                    KEY_SMTP_RELAY,
                    "the smtp password must be a string",
                ));
            }
            // No password given: keep the stored one when the user name is unchanged.
            None => old
                .as_ref()
                .filter(|o| o.get("userName").and_then(Value::as_str) == user.as_deref())
                .and_then(|o| o.get("passwordSealed").cloned())
                .filter(|p| !p.is_null()),
        };
        if sealed.is_some() && user.is_none() {
            return Err(setting(KEY_SMTP_RELAY, "an smtp password needs a userName"));
        }
        writes.push((
            KEY_SMTP_RELAY,
            Some(json!({
                "server": server,
                "port": port,
                "from": from,
                "security": security.as_str(),
                "userName": user,
                "passwordSealed": sealed,
            })),
        ));
    }

    writes.extend(super::console::config_writes(req, &store)?);

    for (key, value) in writes {
        match value {
            Some(v) => store.config_set(key, &v)?,
            None => {
                store.config_delete(key)?;
            }
        }
    }
    super::console::after_writes(req, &store)?;
    config_value(&store)
}

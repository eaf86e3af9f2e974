//! Operations behind the C ABI, one function per `op`, on JSON in and JSON out.
//!
//! The cmdlets call these through [`crate::ffi`]; the CLI and the tests call them directly.
//! Results use Exchange's property names (see `docs/design.md`), so the PowerShell module only
//! adds type names. Every operation returns quickly: long work is the worker's.

mod batch;
mod config;
mod dto;
mod endpoint;
mod system;
mod user;

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use imapmigration_store as store;

/// An error as the ABI reports it: a stable code, a message and optional details.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
        }
    }
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
    pub fn invalid(parameter: &str, message: impl Into<String>) -> Self {
        Self::new("InvalidArgument", message).with_details(json!({ "parameter": parameter }))
    }
    pub fn not_found(kind: &str, identity: &str) -> Self {
        Self::new(
            "NotFound",
            format!("the {kind} \"{identity}\" couldn't be found"),
        )
        .with_details(json!({ "identity": identity }))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> Self {
        dto::store_error(e)
    }
}

pub type ApiResult<T = Value> = Result<T, ApiError>;

/// The process-wide runtime for operations that do I/O (endpoint tests). Built on first use;
/// calls from several host threads share it.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("imapmigration-ffi")
            .enable_all()
            .build()
            // Building a runtime only fails when the OS refuses threads or an epoll handle: there
            // is no sensible way to serve any request then.
            .expect("cannot start the tokio runtime")
    })
}

/// A parsed request: the operation, the state directory and the arguments.
pub struct Request {
    pub op: String,
    pub home: Option<PathBuf>,
    pub args: Map<String, Value>,
}

impl Request {
    pub fn args<T: for<'de> Deserialize<'de>>(&self) -> ApiResult<T> {
        serde_json::from_value(Value::Object(self.args.clone())).map_err(|e| {
            ApiError::new(
                "InvalidArgument",
                format!("invalid arguments for {}: {e}", self.op),
            )
        })
    }

    pub fn home(&self) -> PathBuf {
        store::paths::state_dir(self.home.as_deref())
    }

    pub fn open_store(&self) -> ApiResult<store::Store> {
        let home = self.home();
        Ok(store::Store::open(&home)?)
    }
}

/// Serialises an error into the response envelope.
pub fn error_envelope(code: &str, message: &str, details: Option<Value>) -> Value {
    let mut error = json!({ "code": code, "message": message });
    if let Some(d) = details {
        error["details"] = d;
    }
    json!({ "ok": false, "error": error })
}

/// Handles one request given as JSON text and returns the response envelope.
pub fn handle_json(text: &str) -> Value {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return error_envelope(
                "InvalidArgument",
                &format!("request is not valid JSON: {e}"),
                None,
            );
        }
    };
    let Value::Object(mut map) = value else {
        return error_envelope("InvalidArgument", "request must be a JSON object", None);
    };
    let op = match map.remove("op") {
        Some(Value::String(op)) => op,
        _ => return error_envelope("InvalidArgument", "request has no \"op\" string", None),
    };
    let home = match map.remove("home") {
        Some(Value::String(h)) if !h.is_empty() => Some(PathBuf::from(h)),
        _ => None,
    };
    map.remove("v");
    let request = Request {
        op,
        home,
        args: map,
    };
    match dispatch(&request) {
        Ok(result) => json!({ "ok": true, "result": result }),
        Err(e) => error_envelope(e.code, &e.message, e.details),
    }
}

/// Routes a request to its operation.
pub fn dispatch(req: &Request) -> ApiResult {
    match req.op.as_str() {
        "system.version" => system::version(req),
        "system.panic" => system::panic_for_tests(req),
        "system.echo" => system::echo(req),
        "endpoint.new" => endpoint::new(req),
        "endpoint.get" => endpoint::get(req),
        "endpoint.set" => endpoint::set(req),
        "endpoint.remove" => endpoint::remove(req),
        "endpoint.test" => endpoint::test(req),
        "batch.new" => batch::new(req),
        "batch.get" => batch::get(req),
        "batch.set" => batch::set(req),
        "batch.start" => batch::start(req),
        "batch.stop" => batch::stop(req),
        "batch.complete" => batch::complete(req),
        "batch.remove" => batch::remove(req),
        "user.get" => user::get(req),
        "user.statistics" => user::statistics(req),
        "user.set" => user::set(req),
        "user.start" => user::start(req),
        "user.stop" => user::stop(req),
        "user.remove" => user::remove(req),
        "statistics.get" => user::migration_statistics(req),
        "config.get" => config::get(req),
        "config.set" => config::set(req),
        "worker.ensure" => system::worker_ensure(req),
        "worker.status" => system::worker_status(req),
        other => Err(
            ApiError::new("InvalidArgument", format!("unknown operation \"{other}\""))
                .with_details(json!({ "op": other })),
        ),
    }
}

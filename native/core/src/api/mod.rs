//! Operations behind the C ABI, one function per `op`, on JSON in and JSON out.
//!
//! The cmdlets call these through [`crate::ffi`]; the CLI and the tests call them directly.
//! Results use Exchange's property names (see `docs/design.md`), so the PowerShell module only
//! adds type names. Every operation returns quickly: long work is the worker's.

mod batch;
mod config;
mod console;
mod dto;
mod endpoint;
mod system;
mod user;

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use imapmigration_store as store;

use crate::ErrorCode;

/// An error as the ABI reports it: a stable code, a message and optional details.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The stable code: `error.code` of the response, the module's `FullyQualifiedErrorId`.
    pub code: ErrorCode,
    /// What failed and what to do, lowercase; never a secret or a request value.
    pub message: String,
    /// `error.details`: `parameter`, `identity`, `row`, `status`, ... (docs/design.md).
    pub details: Option<Value>,
}

impl ApiError {
    /// An error with `code` and `message` and no details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
        }
    }
    /// Attaches `details`, replacing any.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
    /// `InvalidArgument` naming the argument in `details.parameter`.
    pub fn invalid(parameter: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
            .with_details(json!({ "parameter": parameter }))
    }
    /// `NotFound` for the `kind` of object named `identity` (Exchange's "couldn't be found").
    pub fn not_found(kind: &str, identity: &str) -> Self {
        Self::new(
            ErrorCode::NotFound,
            format!("the {kind} \"{identity}\" couldn't be found"),
        )
        .with_details(json!({ "identity": identity }))
    }
}

impl ApiError {
    /// This error with its message and every string of its details redacted.
    pub fn redacted(mut self) -> Self {
        fn walk(v: &mut Value) {
            match v {
                Value::String(s) => *s = store::redact::clean(s),
                Value::Array(a) => a.iter_mut().for_each(walk),
                Value::Object(o) => o.values_mut().for_each(walk),
                _ => {}
            }
        }
        self.message = store::redact::clean(&self.message);
        if let Some(d) = self.details.as_mut() {
            walk(d);
        }
        self
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

/// What an operation returns: its JSON result (the response's `result`), or the error the
/// envelope carries.
pub type ApiResult<T = Value> = Result<T, ApiError>;

/// The process-wide runtime for operations that do I/O (endpoint tests). Built on first use;
/// calls from several host threads share it.
#[allow(
    clippy::expect_used,
    reason = "no request can be served without a runtime; the panic boundary reports it"
)]
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

/// A parsed request: the operation, the state directory and the arguments, and what the
/// operation reports beside its result.
pub struct Request {
    /// The operation's name, such as `batch.new` (the request's `op`).
    pub op: String,
    /// The state directory the request names (`home`); `None` for the default one
    /// (see [`store::paths::state_dir`]).
    pub home: Option<PathBuf>,
    /// Every other member of the request object: the operation's camelCase arguments.
    pub args: Map<String, Value>,
    /// The response's `warnings`: what the operation did or found on the side (a worker
    /// started for a batch whose worker was gone), shown by the module as warnings.
    warnings: RefCell<Vec<String>>,
    /// Whether [`system::revive_worker`] found the state directory's worker gone while a
    /// batch needed one, and a new one runs now.
    worker_replaced: Cell<bool>,
}

impl Request {
    /// A request for `op` on `home` (None: the default state directory) with `args`.
    pub fn new(op: impl Into<String>, home: Option<PathBuf>, args: Map<String, Value>) -> Self {
        Request {
            op: op.into(),
            home,
            args,
            warnings: RefCell::new(Vec::new()),
            worker_replaced: Cell::new(false),
        }
    }

    /// Adds a warning to the response.
    pub fn warn(&self, message: impl Into<String>) {
        self.warnings.borrow_mut().push(message.into());
    }

    /// The warnings added so far, in order.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.borrow().clone()
    }

    /// Whether the request found no live worker for a batch that needs one and a new worker
    /// runs now (see [`system::revive_worker`]).
    pub(crate) fn worker_replaced(&self) -> bool {
        self.worker_replaced.get()
    }

    /// Deserializes the arguments into `T`. A failure names the argument (its path, such as
    /// `credentials.password`) and what was expected, never the value given: serde's own
    /// message quotes it, and it may be a password or a line of a CSV file.
    pub fn args<T: for<'de> Deserialize<'de>>(&self) -> ApiResult<T> {
        serde_path_to_error::deserialize(Value::Object(self.args.clone()))
            .map_err(|e| self.args_error(&e))
    }

    fn args_error(&self, e: &serde_path_to_error::Error<serde_json::Error>) -> ApiError {
        let mut what = expectation(&e.inner().to_string());
        if quotes_a_value(&what, &self.args) {
            what = "invalid value".into();
        }
        let op = &self.op;
        let path = e.path().to_string();
        let (message, parameter) = if path == "." {
            let field = what.split('`').nth(1).filter(|_| what.contains(" field `"));
            (
                format!("invalid arguments for {op}: {what}"),
                field.map(str::to_owned),
            )
        } else {
            (
                format!("invalid argument {path} for {op}: {what}"),
                Some(path),
            )
        };
        let error = ApiError::new(ErrorCode::InvalidArgument, message);
        match parameter {
            Some(p) => error.with_details(json!({ "parameter": p })),
            None => error,
        }
    }

    /// The state directory this request works on: `home`, or the default one.
    pub fn home(&self) -> PathBuf {
        store::paths::state_dir(self.home.as_deref())
    }

    /// Opens (creating on first use) the state store of [`Request::home`]; a state file that
    /// other users could read is made owner-only, and the response warns about it.
    pub fn open_store(&self) -> ApiResult<store::Store> {
        let home = self.home();
        let store = store::Store::open(&home)?;
        for path in store.tightened() {
            self.warn(format!(
                "other users could read {}; it is now readable by its owner only",
                path.display()
            ));
        }
        Ok(store)
    }
}

/// What serde expected, without what it found.
///
/// serde's messages name the value they refused: "invalid type: string \"hunter2\", expected
/// a boolean", "invalid value: ..., expected ...", "unknown variant `..`, expected one of ..",
/// and custom ones such as "unknown SecurityMode value \"..\", expected one of: ..". The text
/// after the last ", expected " is the expectation, which comes from our types; the kind of
/// value found is kept for a wrong type. Field messages ("missing field `name`") name fields
/// only. Anything else is replaced whole.
fn expectation(message: &str) -> String {
    const FIELD: [&str; 3] = ["missing field `", "duplicate field `", "unknown field `"];
    if FIELD.iter().any(|p| message.starts_with(p)) {
        return message.to_owned();
    }
    let Some(at) = message.rfind(", expected ") else {
        return "invalid value".into();
    };
    let expected = &message[at + 2..];
    if expected.contains('"') {
        return "invalid value".into();
    }
    let found = message
        .strip_prefix("invalid type: ")
        .and_then(|rest| {
            // serde's names for kinds of values; a value itself follows in quotes.
            [
                ("string", "a string"),
                ("integer", "an integer"),
                ("floating point", "a number with a fraction"),
                ("boolean", "a boolean"),
                ("null", "null"),
                ("map", "an object"),
                ("sequence", "an array"),
                ("unit value", "null"),
            ]
            .into_iter()
            .find(|(kind, _)| {
                rest.strip_prefix(kind)
                    .is_some_and(|r| r.starts_with([' ', ',']))
            })
        })
        .map(|(_, found)| found);
    match found {
        Some(found) => format!("{expected}, found {found}"),
        None => expected.to_owned(),
    }
}

/// Whether `text` contains a string value of the arguments (three characters or more), at any
/// depth: the last guard against a message shape [`expectation`] does not know.
fn quotes_a_value(text: &str, args: &Map<String, Value>) -> bool {
    fn any_in(v: &Value, text: &str) -> bool {
        match v {
            Value::String(s) => s.chars().count() >= 3 && text.contains(s.as_str()),
            Value::Array(a) => a.iter().any(|v| any_in(v, text)),
            Value::Object(o) => o.values().any(|v| any_in(v, text)),
            _ => false,
        }
    }
    args.values().any(|v| any_in(v, text))
}

/// Serialises an error into the response envelope.
pub fn error_envelope(code: ErrorCode, message: &str, details: Option<Value>) -> Value {
    let mut error = json!({ "code": code.as_str(), "message": message });
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
                ErrorCode::InvalidArgument,
                &format!("request is not valid JSON: {e}"),
                None,
            );
        }
    };
    let Value::Object(mut map) = value else {
        return error_envelope(
            ErrorCode::InvalidArgument,
            "request must be a JSON object",
            None,
        );
    };
    let op = match map.remove("op") {
        Some(Value::String(op)) => op,
        _ => {
            return error_envelope(
                ErrorCode::InvalidArgument,
                "request has no \"op\" string",
                None,
            );
        }
    };
    let home = match map.remove("home") {
        Some(Value::String(h)) if !h.is_empty() => Some(PathBuf::from(h)),
        _ => None,
    };
    map.remove("v");
    let request = Request::new(op, home, map);
    let mut response = match dispatch(&request) {
        Ok(result) => json!({ "ok": true, "result": result }),
        Err(e) => error_envelope(e.code, &e.message, e.details),
    };
    let warnings = request.warnings();
    if !warnings.is_empty() {
        response["warnings"] = json!(warnings);
    }
    response
}

/// The operations that read or change batches or their users: each first makes sure a batch
/// that needs the worker has one ([`system::revive_worker`]).
const WATCHES_THE_WORKER: &[&str] = &[
    "batch.new",
    "batch.get",
    "batch.set",
    "batch.start",
    "batch.stop",
    "batch.complete",
    "batch.remove",
    "user.get",
    "user.statistics",
    "user.set",
    "user.start",
    "user.stop",
    "user.remove",
    "statistics.get",
];

/// Routes a request to its operation. An error's message and details go through the one
/// redaction step ([`store::redact`]): they may quote a server's reply or a CSV cell.
pub fn dispatch(req: &Request) -> ApiResult {
    if WATCHES_THE_WORKER.contains(&req.op.as_str()) {
        system::revive_worker(req);
    }
    route(req).map_err(ApiError::redacted)
}

fn route(req: &Request) -> ApiResult {
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
        "console.settings" => console::settings(req),
        "console.listening" => console::listening(req),
        "console.status" => console::status(req),
        "console.open" => console::open(req),
        "console.login" => console::login(req),
        "console.session" => console::session(req),
        "console.logout" => console::logout(req),
        "console.keep" => console::keep(req),
        "console.kept" => console::kept(req),
        "worker.ensure" => system::worker_ensure(req),
        "worker.status" => system::worker_status(req),
        other => Err(ApiError::new(
            ErrorCode::InvalidArgument,
            format!("unknown operation \"{other}\""),
        )
        .with_details(json!({ "op": other }))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "Hunter2-Secret-Value";

    fn request(args: Value) -> Request {
        let Value::Object(args) = args else {
            panic!("args must be an object")
        };
        Request::new("test.op", None, args)
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Args {
        port: Option<u16>,
        skip: Option<bool>,
        security: Option<store::SecurityMode>,
        inner: Option<Inner>,
        items: Option<Vec<u32>>,
        name: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Inner {
        user_name: String,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Required {
        name: String,
    }

    fn error_of<T: for<'de> Deserialize<'de> + std::fmt::Debug>(args: Value) -> ApiError {
        let err = request(args)
            .args::<T>()
            .expect_err("the arguments are wrongly typed");
        assert_eq!(err.code, "InvalidArgument");
        assert!(!err.message.contains(PW), "value quoted: {}", err.message);
        assert!(
            !err.details
                .as_ref()
                .is_some_and(|d| d.to_string().contains(PW)),
            "value in details: {:?}",
            err.details
        );
        err
    }

    #[test]
    fn a_wrong_type_names_the_argument_and_the_expectation_only() {
        let e = error_of::<Args>(json!({ "port": PW }));
        assert_eq!(
            e.message,
            "invalid argument port for test.op: expected u16, found a string"
        );
        assert_eq!(e.details, Some(json!({ "parameter": "port" })));
        let e = error_of::<Args>(json!({ "skip": PW }));
        assert_eq!(
            e.message,
            "invalid argument skip for test.op: expected a boolean, found a string"
        );
        let e = error_of::<Args>(json!({ "port": 70000 }));
        assert!(
            e.message
                .starts_with("invalid argument port for test.op: expected u16")
        );
        assert!(!e.message.contains("70000"), "{}", e.message);
    }

    #[test]
    fn nested_arguments_are_named_by_their_path() {
        let e = error_of::<Args>(json!({ "inner": { "userName": 5 } }));
        assert_eq!(
            e.message,
            "invalid argument inner.userName for test.op: expected a string, found an integer"
        );
        let e = error_of::<Args>(json!({ "items": [1, PW] }));
        assert_eq!(
            e.message,
            "invalid argument items[1] for test.op: expected u32, found a string"
        );
        let e = error_of::<Args>(json!({ "inner": PW }));
        assert_eq!(
            e.message,
            "invalid argument inner for test.op: expected struct Inner, found a string"
        );
    }

    #[test]
    fn a_custom_message_keeps_the_expectation_without_the_value() {
        // SecurityMode's own parser says `unknown SecurityMode value "<value>", expected one
        // of: ..`.
        let e = error_of::<Args>(json!({ "security": PW }));
        assert_eq!(
            e.message,
            "invalid argument security for test.op: expected one of: None, Ssl, Tls"
        );
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        let e = error_of::<Required>(json!({}));
        assert_eq!(
            e.message,
            "invalid arguments for test.op: missing field `name`"
        );
        assert_eq!(e.details, Some(json!({ "parameter": "name" })));
    }

    #[test]
    fn expectation_drops_every_value_shape_serde_uses() {
        for (message, expected) in [
            (
                "invalid type: string \"hunter2\", expected u16",
                "expected u16, found a string",
            ),
            (
                "invalid type: string \"a, expected b\", expected a boolean",
                "expected a boolean, found a string",
            ),
            (
                "invalid value: integer `70000`, expected u16",
                "expected u16",
            ),
            (
                "unknown variant `hunter2`, expected one of `A`, `B`",
                "expected one of `A`, `B`",
            ),
            (
                "invalid length 3, expected 2 elements",
                "expected 2 elements",
            ),
            ("something \"hunter2\" happened", "invalid value"),
            ("bad, expected x but got \"hunter2\"", "invalid value"),
            ("missing field `name`", "missing field `name`"),
        ] {
            assert_eq!(expectation(message), expected, "{message}");
        }
    }

    #[test]
    fn a_message_that_still_holds_a_value_is_replaced() {
        let args = json!({ "a": { "b": ["x", "Zq9-Value"] } });
        let Value::Object(args) = args else {
            unreachable!()
        };
        assert!(quotes_a_value("expected Zq9-Value", &args));
        assert!(!quotes_a_value("expected u16", &args));
    }
}

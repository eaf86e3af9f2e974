//! `console.*`: the web console's settings, its login tokens and sessions, and the address it
//! is served on. The console (served by the worker, `crate::console`) and
//! `Open-MigrationConsole` both come here, so the rules below exist once.
//!
//! Stored keys (JSON values in the `config` table, set by Set-MigrationConfig):
//! - `consoleListen`: `host:port` the worker serves the console on (port 0: any free port);
//! - `consoleCertificate`, `consoleKey`: PEM files; with both the console speaks HTTPS;
//! - `consolePasswordHash`: the admin password as an Argon2id PHC string (never the password).
//!
//! Tokens and session ids are 32 random bytes (base64url); the store keeps only their SHA-256
//! digests (`console_tokens`).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use chrono::{Duration, Utc};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use imapmigration_store as store;
use store::{ConsoleListener, ConsoleTokenKind, Store};

use super::{ApiError, ApiResult, Request, dto};
use crate::ErrorCode;

pub(crate) const KEY_LISTEN: &str = "consoleListen";
pub(crate) const KEY_CERTIFICATE: &str = "consoleCertificate";
pub(crate) const KEY_KEY: &str = "consoleKey";
pub(crate) const KEY_PASSWORD_HASH: &str = "consolePasswordHash";
/// The Set-MigrationConfig argument that sets (or, given null, clears) the admin password.
pub(crate) const ARG_PASSWORD: &str = "consolePassword";

/// How long a one-time login link stays valid.
const LOGIN_TOKEN_TTL: Duration = Duration::minutes(15);
/// How long a session lasts from login.
const SESSION_TTL: Duration = Duration::hours(12);
/// Shortest admin password accepted.
const MIN_PASSWORD_CHARS: usize = 8;

fn setting(name: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidArgument, message)
        .with_details(json!({ "setting": name, "parameter": name }))
}

/// Resolves `listen` (`ip:port`, `[ipv6]:port` or `localhost:port`) and refuses a non-loopback
/// address without TLS: anyone on the network could read the session cookie and the tokens.
pub(crate) fn check_listen(listen: &str, tls: bool) -> ApiResult<SocketAddr> {
    let listen = listen.trim();
    let addr: SocketAddr = match listen.parse() {
        Ok(a) => a,
        Err(_) => {
            let (host, _) = listen.rsplit_once(':').ok_or_else(|| {
                setting(
                    KEY_LISTEN,
                    format!("the console address \"{listen}\" has no port; give host:port such as 127.0.0.1:8440"),
                )
            })?;
            if !host.eq_ignore_ascii_case("localhost") {
                return Err(setting(
                    KEY_LISTEN,
                    format!(
                        "the console address \"{listen}\" is not an IP address with a port (or localhost:port)"
                    ),
                ));
            }
            listen
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.find(|a| a.ip().is_loopback()))
                .ok_or_else(|| {
                    setting(
                        KEY_LISTEN,
                        format!("the console address \"{listen}\" does not resolve to a loopback address"),
                    )
                })?
        }
    };
    if !tls && !addr.ip().is_loopback() {
        return Err(setting(
            KEY_LISTEN,
            format!(
                "the console would listen on {addr}, which is reachable from other machines, without TLS; \
                 give -ConsoleCertificate and -ConsoleKey (PEM files) so it serves HTTPS, or listen on \
                 127.0.0.1"
            ),
        ));
    }
    Ok(addr)
}

fn check_pem_file(name: &str, path: &str) -> ApiResult<()> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err(setting(
            name,
            format!("{name} must be an absolute path, not \"{path}\""),
        ));
    }
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(setting(name, format!("{name} \"{path}\" is not a file"))),
        Err(e) => Err(setting(name, format!("cannot read {name} \"{path}\": {e}"))),
    }
}

/// The console's settings from `config.set`'s arguments, as `(key, value or None = delete)`
/// writes, checked together with what is stored: `consoleListen`, `consoleCertificate`,
/// `consoleKey` (both or neither) and `consolePassword` (hashed here).
pub(crate) fn config_writes(
    req: &Request,
    store: &Store,
) -> ApiResult<Vec<(&'static str, Option<Value>)>> {
    let mut writes = Vec::new();
    let mut current = |key: &'static str| -> ApiResult<Option<String>> {
        if dto::has(req, key) {
            let v = match req.args.get(key) {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                Some(Value::Null) | Some(Value::String(_)) | None => None,
                Some(_) => return Err(setting(key, format!("{key} must be a string"))),
            };
            writes.push((key, v.clone().map(Value::String)));
            Ok(v)
        } else {
            Ok(store
                .config_get(key)?
                .and_then(|v| v.as_str().map(str::to_owned)))
        }
    };
    let listen = current(KEY_LISTEN)?;
    let cert = current(KEY_CERTIFICATE)?;
    let key = current(KEY_KEY)?;
    let touched = [KEY_LISTEN, KEY_CERTIFICATE, KEY_KEY]
        .iter()
        .any(|k| dto::has(req, k));
    if touched {
        match (&cert, &key) {
            (Some(c), Some(k)) => {
                check_pem_file(KEY_CERTIFICATE, c)?;
                check_pem_file(KEY_KEY, k)?;
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(setting(
                    KEY_KEY,
                    "a console certificate needs its private key (-ConsoleKey)",
                ));
            }
            (None, Some(_)) => {
                return Err(setting(
                    KEY_CERTIFICATE,
                    "a console private key needs its certificate (-ConsoleCertificate)",
                ));
            }
        }
        if let Some(l) = &listen {
            check_listen(l, cert.is_some())?;
        }
    }
    if dto::has(req, ARG_PASSWORD) {
        match req.args.get(ARG_PASSWORD) {
            Some(Value::Null) => writes.push((KEY_PASSWORD_HASH, None)),
            Some(Value::String(p)) => {
                let password = SecretString::from(p.as_str());
                writes.push((KEY_PASSWORD_HASH, Some(json!(hash_password(&password)?))));
            }
            Some(_) => {
                return Err(setting(ARG_PASSWORD, "consolePassword must be a string"));
            }
            None => {}
        }
    }
    Ok(writes)
}

/// After `config.set` wrote the console's settings: a new (or cleared) admin password ends
/// every session.
pub(crate) fn after_writes(req: &Request, store: &Store) -> ApiResult<()> {
    if dto::has(req, ARG_PASSWORD) {
        store.console_tokens_clear(ConsoleTokenKind::Session)?;
    }
    Ok(())
}

fn hash_password(password: &SecretString) -> ApiResult<String> {
    if password.expose_secret().chars().count() < MIN_PASSWORD_CHARS {
        return Err(setting(
            ARG_PASSWORD,
            format!("the console password must have at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2::Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| {
            ApiError::new(
                ErrorCode::Internal,
                format!("cannot hash the console password: {e}"),
            )
        })
}

/// The console's settings for `Get-MigrationConfig` (paths and whether a password is set).
pub(crate) fn config_out(store: &Store) -> ApiResult<Value> {
    let get = |k| -> ApiResult<Value> { Ok(store.config_get(k)?.unwrap_or(Value::Null)) };
    Ok(json!({
        "ConsoleListen": get(KEY_LISTEN)?,
        "ConsoleCertificate": get(KEY_CERTIFICATE)?,
        "ConsoleKey": get(KEY_KEY)?,
        "HasConsolePassword": store.config_get(KEY_PASSWORD_HASH)?.is_some_and(|v| v.is_string()),
    }))
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

fn not_served() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidState,
        "no worker serves the console: turn it on with Set-MigrationConfig -ConsoleListen 127.0.0.1:8440 \
         (the worker picks it up within seconds; start one with Start-MigrationBatch or \
         `imapmigration worker`), or run `imapmigration worker --console 127.0.0.1:8440`",
    )
}

/// The address the console is served on, if a live process serves it.
fn live_listener(store: &Store) -> ApiResult<Option<ConsoleListener>> {
    Ok(store.console_listener_get()?.filter(|l| alive(l.pid)))
}

fn base_url(l: &ConsoleListener) -> String {
    let scheme = if l.tls { "https" } else { "http" };
    match l.address.parse::<SocketAddr>() {
        // A wildcard bind has no address to browse to; the machine's own name is the best guess.
        Ok(a) if a.ip().is_unspecified() => format!("{scheme}://localhost:{}", a.port()),
        _ => format!("{scheme}://{}", l.address),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingsArgs {
    listen: Option<String>,
}

/// `console.settings`: what the console should serve: `{Listen, Certificate, Key, Tls}`
/// (`Listen` null: off), from `listen` (the worker's `--console`) or the configuration, checked
/// as `config.set` checks them.
pub fn settings(req: &Request) -> ApiResult {
    let a: SettingsArgs = dto::args(req)?;
    let store = req.open_store()?;
    let get = |k| -> ApiResult<Option<String>> {
        Ok(store
            .config_get(k)?
            .and_then(|v| v.as_str().map(str::to_owned)))
    };
    let listen = match dto::opt_identity(&a.listen) {
        Some(l) => Some(l.to_owned()),
        None => get(KEY_LISTEN)?,
    };
    let (cert, key) = (get(KEY_CERTIFICATE)?, get(KEY_KEY)?);
    let tls = cert.is_some() && key.is_some();
    let addr = listen
        .as_deref()
        .map(|l| check_listen(l, tls))
        .transpose()?;
    Ok(json!({
        "Listen": addr.map(|a| a.to_string()),
        "Certificate": cert.filter(|_| tls),
        "Key": key.filter(|_| tls),
        "Tls": tls,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListeningArgs {
    address: Option<String>,
    tls: Option<bool>,
    pid: Option<u32>,
}

/// `console.listening`: the serving process records the address it bound (`address` null: it
/// stopped serving).
pub fn listening(req: &Request) -> ApiResult {
    let a: ListeningArgs = dto::args(req)?;
    let store = req.open_store()?;
    let listener = match dto::opt_identity(&a.address) {
        Some(address) => {
            let address: SocketAddr = address.parse().map_err(|_| {
                ApiError::invalid("address", "address must be an IP address with a port")
            })?;
            Some(ConsoleListener {
                address: address.to_string(),
                tls: a.tls.unwrap_or(false),
                pid: a.pid.unwrap_or_else(std::process::id),
                bound_at: Utc::now(),
            })
        }
        None => None,
    };
    store.console_listener_set(listener.as_ref())?;
    status_value(&store)
}

fn status_value(store: &Store) -> ApiResult {
    let l = live_listener(store)?;
    Ok(json!({
        "Serving": l.is_some(),
        "Address": l.as_ref().map(|l| l.address.clone()),
        "Tls": l.as_ref().is_some_and(|l| l.tls),
        "Pid": l.as_ref().map(|l| l.pid),
        "Url": l.as_ref().map(base_url),
        "HasPassword": store.config_get(KEY_PASSWORD_HASH)?.is_some_and(|v| v.is_string()),
    }))
}

/// `console.status`: `{Serving, Address, Tls, Pid, Url, HasPassword}`.
pub fn status(req: &Request) -> ApiResult {
    let store = req.open_store()?;
    status_value(&store)
}

/// `console.open` (Open-MigrationConsole): a one-time login link to the served console,
/// `{Url, Address, ExpiresAt}`; `InvalidState` saying how to turn the console on when no live
/// process serves it.
pub fn open(req: &Request) -> ApiResult {
    let store = req.open_store()?;
    let listener = live_listener(&store)?.ok_or_else(not_served)?;
    let token = random_token();
    let now = Utc::now();
    let expires = now + LOGIN_TOKEN_TTL;
    store.console_token_insert(&digest(&token), ConsoleTokenKind::Login, &now, &expires)?;
    Ok(json!({
        "Url": format!("{}/login?token={token}", base_url(&listener)),
        "Address": listener.address,
        "Tls": listener.tls,
        "ExpiresAt": dto::ts(&Some(expires)),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginArgs {
    token: Option<String>,
    password: Option<String>,
}

fn login_refused() -> ApiError {
    ApiError::new(
        ErrorCode::AuthenticationFailed,
        "the login link or password is not valid (a link works once, for 15 minutes)",
    )
}

/// `console.login`: exchanges a one-time `token` or the admin `password` for a session,
/// `{Session, ExpiresAt}`; `AuthenticationFailed` otherwise.
pub fn login(req: &Request) -> ApiResult {
    let a: LoginArgs = dto::args(req)?;
    let store = req.open_store()?;
    let now = Utc::now();
    let ok = if let Some(token) = dto::opt_identity(&a.token) {
        store.console_token_take(&digest(token), ConsoleTokenKind::Login, &now)?
    } else if let Some(password) = a.password.filter(|p| !p.is_empty()) {
        let password = SecretString::from(password);
        match store
            .config_get(KEY_PASSWORD_HASH)?
            .and_then(|v| v.as_str().map(str::to_owned))
        {
            Some(hash) => {
                let parsed = PasswordHash::new(&hash).map_err(|e| {
                    ApiError::new(
                        ErrorCode::Internal,
                        format!("the stored console password hash is unreadable: {e}"),
                    )
                })?;
                argon2::Argon2::default()
                    .verify_password(password.expose_secret().as_bytes(), &parsed)
                    .is_ok()
            }
            None => false,
        }
    } else {
        return Err(ApiError::invalid(
            "token",
            "console.login needs a token or a password",
        ));
    };
    if !ok {
        return Err(login_refused());
    }
    let session = random_token();
    let expires = now + SESSION_TTL;
    store.console_token_insert(&digest(&session), ConsoleTokenKind::Session, &now, &expires)?;
    Ok(json!({ "Session": session, "ExpiresAt": dto::ts(&Some(expires)) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionArgs {
    session: Option<String>,
}

/// `console.session`: `{ExpiresAt}` of a live session; `AuthenticationFailed` for an unknown
/// or expired one.
pub fn session(req: &Request) -> ApiResult {
    let a: SessionArgs = dto::args(req)?;
    let session = dto::required(&a.session, "session")?;
    let store = req.open_store()?;
    match store.console_token_expiry(&digest(session), ConsoleTokenKind::Session, &Utc::now())? {
        Some(expires) => Ok(json!({ "ExpiresAt": dto::ts(&Some(expires)) })),
        None => Err(ApiError::new(
            ErrorCode::AuthenticationFailed,
            "the console session has expired or was ended; log in again",
        )),
    }
}

/// `console.logout`: ends a session.
pub fn logout(req: &Request) -> ApiResult {
    let a: SessionArgs = dto::args(req)?;
    let session = dto::required(&a.session, "session")?;
    let store = req.open_store()?;
    store.console_token_delete(&digest(session))?;
    Ok(Value::Null)
}

/// What a kept upload's sealed text starts with, so `console.kept` opens nothing else that was
/// sealed with the state directory's key (endpoint or SMTP passwords).
const KEPT_PREFIX: &str = "imapmigration-console-upload:";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeepArgs {
    data: Option<String>,
    kept: Option<String>,
}

/// `console.keep`: seals an uploaded file (`data`, base64) so a form can carry it to its next
/// step without its passwords in the page: `{Kept}` (base64 of the sealed bytes).
pub fn keep(req: &Request) -> ApiResult {
    let a: KeepArgs = dto::args(req)?;
    let data = dto::required(&a.data, "data")?;
    let store = req.open_store()?;
    let sealed = store.seal(&SecretString::from(format!("{KEPT_PREFIX}{data}")));
    Ok(json!({ "Kept": base64::engine::general_purpose::STANDARD.encode(sealed.as_bytes()) }))
}

/// `console.kept`: the file `console.keep` sealed, `{Data}` (base64); `InvalidArgument` for
/// anything else.
pub fn kept(req: &Request) -> ApiResult {
    let a: KeepArgs = dto::args(req)?;
    let kept = dto::required(&a.kept, "kept")?;
    let refused = || {
        ApiError::invalid(
            "kept",
            "the kept upload is not valid; upload the file again",
        )
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(kept)
        .map_err(|_| refused())?;
    let store = req.open_store()?;
    let text = store.unseal(&store::Sealed(bytes)).map_err(|_| refused())?;
    let data = text
        .expose_secret()
        .strip_prefix(KEPT_PREFIX)
        .ok_or_else(refused)?
        .to_owned();
    Ok(json!({ "Data": data }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(home: &Path, op: &str, args: Value) -> Request {
        let Value::Object(args) = args else {
            panic!("args must be an object")
        };
        Request::new(op, Some(home.to_owned()), args)
    }

    #[test]
    fn a_kept_upload_opens_and_no_other_sealed_secret_does() {
        let dir = tempfile::tempdir().unwrap();
        let kept = keep(&request(
            dir.path(),
            "console.keep",
            json!({ "data": "QUJD" }),
        ))
        .unwrap();
        let kept = kept["Kept"].as_str().unwrap().to_owned();
        assert!(!kept.contains("QUJD"));
        let back = super::kept(&request(
            dir.path(),
            "console.kept",
            json!({ "kept": kept }),
        ))
        .unwrap();
        assert_eq!(back["Data"], json!("QUJD"));
        // An endpoint password sealed with the same key is not a kept upload.
        let store = Store::open(dir.path()).unwrap();
        let other = store.seal(&SecretString::from("Endpoint-Password"));
        let other = base64::engine::general_purpose::STANDARD.encode(other.as_bytes());
        let e = super::kept(&request(
            dir.path(),
            "console.kept",
            json!({ "kept": other }),
        ))
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArgument);
        assert!(!e.message.contains("Endpoint-Password"));
    }

    #[test]
    fn loopback_binds_without_tls_and_nothing_else_does() {
        assert!(check_listen("127.0.0.1:8440", false).is_ok());
        assert!(check_listen("[::1]:0", false).is_ok());
        assert_eq!(
            check_listen("localhost:8440", false)
                .map(|a| a.ip().is_loopback())
                .ok(),
            Some(true)
        );
        let e = check_listen("0.0.0.0:8440", false).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArgument);
        assert!(e.message.contains("without TLS"), "{}", e.message);
        assert!(check_listen("0.0.0.0:8440", true).is_ok());
        assert!(check_listen("10.1.2.3:8440", false).is_err());
        assert!(check_listen("console.example.com:8440", true).is_err());
        assert!(check_listen("127.0.0.1", false).is_err());
    }
}

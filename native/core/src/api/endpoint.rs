//! `endpoint.*`: New-, Get-, Set-, Remove-MigrationEndpoint and Test-MigrationServerAvailability.
//!
//! Creating or changing an endpoint checks that the server is reachable unless `skipVerification`
//! says otherwise, as Exchange does: TCP connect, the TLS handshake the security mode asks for
//! (implicit for `Ssl`, STARTTLS for `Tls`) and the IMAP greeting. It never logs in
//! (docs/compatibility.md §5.4: the server's FQDN and port only, no login).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use imapmigration_store as store;
use store::{AuthenticationMethod, EndpointRecord, EndpointUpdate, SecurityMode, TargetLogin};

use super::dto::{self, is_clear};
use super::{ApiError, ApiResult, Request, config};
use crate::{ErrorCode, engine};

/// How long the reachability check waits at most for each step (connect, handshake, greeting)
/// unless a limit was set for the state directory (`Set-MigrationConfig -ConnectTimeout`...).
const PROBE_STEP_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Credentials {
    user_name: Option<String>,
    password: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct EndpointArgs {
    identity: Option<String>,
    name: Option<String>,
    endpoint_type: Option<String>,
    remote_server: Option<String>,
    port: Option<Value>,
    security: Option<String>,
    authentication: Option<String>,
    accept_untrusted_certificates: Option<bool>,
    max_concurrent_migrations: Option<Value>,
    max_concurrent_incremental_syncs: Option<Value>,
    max_connections_per_user: Option<Value>,
    preserve_order: Option<bool>,
    disable_compression: Option<bool>,
    verify_content: Option<bool>,
    #[serde(default)]
    skip_verification: bool,
    ca_file: Option<String>,
    credentials: Option<Credentials>,
    target_login: Option<String>,
    master_user_separator: Option<String>,
    oauth_token_endpoint: Option<String>,
    oauth_client_id: Option<String>,
    oauth_scope: Option<String>,
    target_user_template: Option<String>,
}

fn parse_security(v: &str) -> ApiResult<SecurityMode> {
    v.parse().map_err(|_| {
        ApiError::invalid(
            "security",
            format!("the security \"{v}\" is not valid; use None, Ssl or Tls"),
        )
    })
}

fn parse_authentication(v: &str) -> ApiResult<AuthenticationMethod> {
    v.parse().map_err(|_| {
        ApiError::invalid(
            "authentication",
            format!(
                "the authentication method \"{v}\" is not valid for IMAP; use Basic, Ntlm or OAuth2"
            ),
        )
    })
}

fn parse_target_login(v: &str) -> ApiResult<Option<TargetLogin>> {
    if v.trim().eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| {
        ApiError::invalid(
            "targetLogin",
            format!("the target login \"{v}\" is not valid; use MasterUser, AuthorizationId, OAuth2 or None"),
        )
    })
}

fn parse_port(v: &Value) -> ApiResult<u16> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n {
        Some(p) if (1..=65535).contains(&p) => Ok(p as u16),
        // Only a number is quoted back: a mistyped argument could hold anything.
        Some(p) => Err(ApiError::invalid(
            "port",
            format!("the port {p} is not valid; use a number from 1 to 65535"),
        )),
        None => Err(ApiError::invalid(
            "port",
            "the port is not a number; use a number from 1 to 65535",
        )),
    }
}

fn parse_concurrency(parameter: &str, v: &Value) -> ApiResult<u32> {
    match dto::unlimited(parameter, v)? {
        Some(0) => Err(ApiError::invalid(
            parameter,
            format!("{parameter} must be at least 1"),
        )),
        Some(n) => Ok(n),
        // "Unlimited" has no meaning for a connection limit: take the largest value.
        None => Ok(u32::MAX),
    }
}

/// Standard port for a security mode: 993 for implicit TLS, else 143.
pub(crate) fn default_port(security: SecurityMode) -> u16 {
    if security == SecurityMode::Ssl {
        993
    } else {
        143
    }
}

fn check_server(server: &str) -> ApiResult<()> {
    if server.is_empty() {
        return Err(ApiError::invalid(
            "remoteServer",
            "the parameter remoteServer is required",
        ));
    }
    if server
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(ApiError::invalid(
            "remoteServer",
            format!(
                "the remote server \"{}\" is not a host name or IP address",
                server.escape_debug()
            ),
        ));
    }
    Ok(())
}

fn check_template(t: &str) -> ApiResult<()> {
    let mut rest = t;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            return Err(ApiError::invalid(
                "targetUserTemplate",
                format!("the template \"{t}\" has an unclosed {{"),
            ));
        };
        let ph = &rest[start..start + len + 1];
        if !matches!(ph, "{EmailAddress}" | "{UserName}" | "{LocalPart}") {
            return Err(ApiError::invalid(
                "targetUserTemplate",
                format!(
                    "the template \"{t}\" uses the unknown placeholder {ph}; use {{EmailAddress}}, {{UserName}} or {{LocalPart}}"
                ),
            ));
        }
        rest = &rest[start + len + 1..];
    }
    if !t.contains('{') && t.trim().is_empty() {
        return Err(ApiError::invalid(
            "targetUserTemplate",
            "the target user template is empty",
        ));
    }
    Ok(())
}

/// Checks the combination of fields of an endpoint as it will be stored.
fn check_record(e: &EndpointRecord) -> ApiResult<()> {
    check_server(&e.remote_server)?;
    if e.max_concurrent_incremental_syncs > e.max_concurrent_migrations {
        return Err(ApiError::invalid(
            "maxConcurrentIncrementalSyncs",
            format!(
                "MaxConcurrentIncrementalSyncs ({}) must not be greater than MaxConcurrentMigrations ({})",
                e.max_concurrent_incremental_syncs, e.max_concurrent_migrations
            ),
        ));
    }
    if let Some(ca) = &e.ca_file
        && !Path::new(ca).is_file()
    {
        return Err(ApiError::invalid(
            "caFile",
            format!("the CA file {ca} does not exist or is not a file"),
        ));
    }
    if e.master_user_separator.is_empty()
        || e.master_user_separator.chars().any(char::is_whitespace)
    {
        return Err(ApiError::invalid(
            "masterUserSeparator",
            "the master user separator must be one or more characters without white space",
        ));
    }
    match e.target_login {
        Some(TargetLogin::MasterUser) | Some(TargetLogin::AuthorizationId)
            if e.admin_secret.is_none() =>
        {
            return Err(ApiError::invalid(
                "credentials",
                format!(
                    "target login {} needs the administrator's credentials {{userName, password}}",
                    e.target_login.map(|t| t.as_str()).unwrap_or_default()
                ),
            ));
        }
        Some(TargetLogin::OAuth2)
            if e.oauth_token_endpoint.is_none()
                || e.oauth_client_id.is_none()
                || e.admin_secret.is_none() =>
        {
            return Err(ApiError::invalid(
                "oauthTokenEndpoint",
                "target login OAuth2 needs oauthTokenEndpoint, oauthClientId and the client secret as credentials.password",
            ));
        }
        _ => {}
    }
    if let Some(url) = &e.oauth_token_endpoint
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(ApiError::invalid(
            "oauthTokenEndpoint",
            format!("the token endpoint {url} is not an http(s) URL"),
        ));
    }
    if let Some(t) = &e.target_user_template {
        check_template(t)?;
    }
    Ok(())
}

/// Seals `credentials` into (user, secret); passwords are checked without ever quoting them.
fn seal_credentials(
    store: &store::Store,
    c: &Credentials,
) -> ApiResult<(Option<String>, Option<store::Sealed>)> {
    let user = dto::opt_identity(&c.user_name)
        .ok_or_else(|| ApiError::invalid("credentials", "credentials need a userName"))?
        .to_owned();
    let password = match &c.password {
        Some(Value::String(p)) if !p.is_empty() => p,
        _ => {
            return Err(ApiError::invalid(
                "credentials",
                "credentials need a non-empty password string",
            ));
        }
    };
    Ok((
        Some(user),
        Some(store.seal(&store::SecretString::from(password.as_str()))),
    ))
}

fn optional_string(req: &Request, key: &str, value: &Option<String>) -> Option<Option<String>> {
    if is_clear(req, key) {
        Some(None)
    } else {
        value.as_ref().map(|v| Some(v.trim().to_owned()))
    }
}

/// New-MigrationEndpoint.
pub fn new(req: &Request) -> ApiResult {
    let a: EndpointArgs = dto::args(req)?;
    if let Some(t) = dto::opt_identity(&a.endpoint_type)
        && !t.eq_ignore_ascii_case("IMAP")
    {
        return Err(ApiError::new(
            ErrorCode::Unsupported,
            format!("endpoint type {t} is not supported; only IMAP endpoints exist"),
        )
        .with_details(json!({ "parameter": "endpointType" })));
    }
    let name = dto::required(&a.name, "name")?.to_owned();
    dto::check_name("name", &name)?;
    let server = dto::required(&a.remote_server, "remoteServer")?.to_owned();
    let store = req.open_store()?;

    let mut e = EndpointRecord::new(name.clone(), server);
    if let Some(s) = dto::opt_identity(&a.security) {
        e.security = parse_security(s)?;
    }
    e.port = match &a.port {
        Some(v) if !v.is_null() => parse_port(v)?,
        _ => default_port(e.security),
    };
    if let Some(s) = dto::opt_identity(&a.authentication) {
        e.authentication = parse_authentication(s)?;
    }
    e.accept_untrusted = a.accept_untrusted_certificates.unwrap_or(false);
    if let Some(v) = &a.max_concurrent_migrations {
        e.max_concurrent_migrations = parse_concurrency("maxConcurrentMigrations", v)?;
    }
    e.max_concurrent_incremental_syncs = match &a.max_concurrent_incremental_syncs {
        Some(v) => parse_concurrency("maxConcurrentIncrementalSyncs", v)?,
        // The documented default is 20; a smaller MaxConcurrentMigrations lowers it.
        None => e
            .max_concurrent_incremental_syncs
            .min(e.max_concurrent_migrations),
    };
    if let Some(v) = &a.max_connections_per_user {
        e.max_connections_per_user = parse_concurrency("maxConnectionsPerUser", v)?;
    }
    e.preserve_order = a.preserve_order.unwrap_or(false);
    e.disable_compression = a.disable_compression.unwrap_or(false);
    e.verify_content = a.verify_content.unwrap_or(false);
    e.ca_file = dto::opt_identity(&a.ca_file).map(str::to_owned);
    if let Some(c) = &a.credentials {
        (e.admin_user, e.admin_secret) = seal_credentials(&store, c)?;
    }
    if let Some(t) = dto::opt_identity(&a.target_login) {
        e.target_login = parse_target_login(t)?;
    }
    if let Some(s) = &a.master_user_separator {
        e.master_user_separator = s.trim().to_owned();
    }
    e.oauth_token_endpoint = dto::opt_identity(&a.oauth_token_endpoint).map(str::to_owned);
    e.oauth_client_id = dto::opt_identity(&a.oauth_client_id).map(str::to_owned);
    e.oauth_scope = dto::opt_identity(&a.oauth_scope).map(str::to_owned);
    e.target_user_template = dto::opt_identity(&a.target_user_template).map(str::to_owned);
    check_record(&e)?;

    if store
        .get_endpoint(&name)?
        .is_some_and(|x| x.name.eq_ignore_ascii_case(&name))
    {
        return Err(ApiError::new(
            ErrorCode::AlreadyExists,
            format!("an endpoint named \"{name}\" already exists"),
        )
        .with_details(json!({ "identity": name, "parameter": "name" })));
    }
    if !a.skip_verification {
        verify(&e, &store)?;
    }
    store.insert_endpoint(&e)?;
    Ok(dto::endpoint(&e))
}

/// Get-MigrationEndpoint. No identity lists every endpoint (of `type`, when given); an identity
/// that names no endpoint is `NotFound`, never every endpoint.
pub fn get(req: &Request) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Args {
        identity: Option<String>,
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    let a: Args = dto::args(req)?;
    let store = req.open_store()?;
    let kind = dto::opt_identity(&a.kind);
    if let Some(id) = dto::opt_identity(&a.identity) {
        let e = store.get_endpoint(id)?.ok_or_else(|| {
            ApiError::not_found("migration endpoint", id)
                .with_details(json!({ "identity": id, "parameter": "identity" }))
        })?;
        let matches = kind.is_none_or(|k| k.eq_ignore_ascii_case(&e.endpoint_type));
        return Ok(json!(if matches {
            vec![dto::endpoint(&e)]
        } else {
            vec![]
        }));
    }
    let list = store.list_endpoints(kind)?;
    Ok(Value::Array(list.iter().map(dto::endpoint).collect()))
}

/// Set-MigrationEndpoint. Re-checks reachability when a connection setting changes (unless
/// `skipVerification`); other changes apply from the next time a batch runs.
pub fn set(req: &Request) -> ApiResult {
    let a: EndpointArgs = dto::args(req)?;
    let identity = dto::required(&a.identity, "identity")?;
    let store = req.open_store()?;
    let old = store
        .get_endpoint(identity)?
        .ok_or_else(|| ApiError::not_found("endpoint", identity))?;
    let mut u = EndpointUpdate::default();
    let mut e = old.clone();
    if let Some(n) = dto::opt_identity(&a.name) {
        dto::check_name("name", n)?;
        if !n.eq_ignore_ascii_case(&old.name)
            && let Some(other) = store.get_endpoint(n)?
            && other.id != old.id
        {
            return Err(ApiError::new(
                ErrorCode::AlreadyExists,
                format!("an endpoint named \"{n}\" already exists"),
            )
            .with_details(json!({ "identity": n, "parameter": "name" })));
        }
        e.name = n.to_owned();
        u.name = Some(n.to_owned());
    }
    if let Some(s) = dto::opt_identity(&a.remote_server) {
        e.remote_server = s.to_owned();
        u.remote_server = Some(s.to_owned());
    }
    if let Some(s) = dto::opt_identity(&a.security) {
        e.security = parse_security(s)?;
        u.security = Some(e.security);
    }
    match &a.port {
        Some(v) if !v.is_null() => {
            e.port = parse_port(v)?;
            u.port = Some(e.port);
        }
        // A port left at the old mode's standard value follows the new mode.
        _ if e.security != old.security && old.port == default_port(old.security) => {
            e.port = default_port(e.security);
            u.port = Some(e.port);
        }
        _ => {}
    }
    if let Some(s) = dto::opt_identity(&a.authentication) {
        e.authentication = parse_authentication(s)?;
        u.authentication = Some(e.authentication);
    }
    if let Some(b) = a.accept_untrusted_certificates {
        e.accept_untrusted = b;
        u.accept_untrusted = Some(b);
    }
    if let Some(v) = &a.max_concurrent_migrations {
        e.max_concurrent_migrations = parse_concurrency("maxConcurrentMigrations", v)?;
        u.max_concurrent_migrations = Some(e.max_concurrent_migrations);
    }
    if let Some(v) = &a.max_concurrent_incremental_syncs {
        e.max_concurrent_incremental_syncs = parse_concurrency("maxConcurrentIncrementalSyncs", v)?;
        u.max_concurrent_incremental_syncs = Some(e.max_concurrent_incremental_syncs);
    }
    if let Some(v) = &a.max_connections_per_user {
        e.max_connections_per_user = parse_concurrency("maxConnectionsPerUser", v)?;
        u.max_connections_per_user = Some(e.max_connections_per_user);
    }
    if let Some(b) = a.preserve_order {
        e.preserve_order = b;
        u.preserve_order = Some(b);
    }
    if let Some(b) = a.disable_compression {
        e.disable_compression = b;
        u.disable_compression = Some(b);
    }
    if let Some(b) = a.verify_content {
        e.verify_content = b;
        u.verify_content = Some(b);
    }
    if a.max_concurrent_incremental_syncs.is_none()
        && e.max_concurrent_incremental_syncs > e.max_concurrent_migrations
    {
        // Lowering MaxConcurrentMigrations alone pulls the incremental limit down with it.
        e.max_concurrent_incremental_syncs = e.max_concurrent_migrations;
        u.max_concurrent_incremental_syncs = Some(e.max_concurrent_migrations);
    }
    if let Some(v) = optional_string(req, "caFile", &a.ca_file) {
        e.ca_file = v.clone();
        u.ca_file = Some(v);
    }
    if is_clear(req, "credentials") {
        e.admin_user = None;
        e.admin_secret = None;
        u.admin_user = Some(None);
        u.admin_secret = Some(None);
    } else if let Some(c) = &a.credentials {
        let (user, secret) = seal_credentials(&store, c)?;
        e.admin_user = user.clone();
        e.admin_secret = secret.clone();
        u.admin_user = Some(user);
        u.admin_secret = Some(secret);
    }
    if is_clear(req, "targetLogin") {
        e.target_login = None;
        u.target_login = Some(None);
    } else if let Some(t) = dto::opt_identity(&a.target_login) {
        e.target_login = parse_target_login(t)?;
        u.target_login = Some(e.target_login);
    }
    if let Some(s) = &a.master_user_separator {
        e.master_user_separator = s.trim().to_owned();
        u.master_user_separator = Some(e.master_user_separator.clone());
    }
    if let Some(v) = optional_string(req, "oauthTokenEndpoint", &a.oauth_token_endpoint) {
        e.oauth_token_endpoint = v.clone();
        u.oauth_token_endpoint = Some(v);
    }
    if let Some(v) = optional_string(req, "oauthClientId", &a.oauth_client_id) {
        e.oauth_client_id = v.clone();
        u.oauth_client_id = Some(v);
    }
    if let Some(v) = optional_string(req, "oauthScope", &a.oauth_scope) {
        e.oauth_scope = v.clone();
        u.oauth_scope = Some(v);
    }
    if let Some(v) = optional_string(req, "targetUserTemplate", &a.target_user_template) {
        e.target_user_template = v.clone();
        u.target_user_template = Some(v);
    }
    check_record(&e)?;
    let connection_changed = e.remote_server != old.remote_server
        || e.port != old.port
        || e.security != old.security
        || e.accept_untrusted != old.accept_untrusted
        || e.ca_file != old.ca_file;
    if connection_changed && !a.skip_verification {
        verify(&e, &store)?;
    }
    let updated = store.update_endpoint(&old.id.to_string(), u)?;
    Ok(dto::endpoint(&updated))
}

/// Remove-MigrationEndpoint: refused while a batch uses the endpoint or while it is the
/// configured default target.
pub fn remove(req: &Request) -> ApiResult {
    #[derive(Deserialize)]
    struct Args {
        identity: Option<String>,
    }
    let a: Args = dto::args(req)?;
    let identity = dto::required(&a.identity, "identity")?;
    let store = req.open_store()?;
    let e = store
        .get_endpoint(identity)?
        .ok_or_else(|| ApiError::not_found("endpoint", identity))?;
    let users: Vec<String> = store
        .list_batches(&store::BatchFilter {
            endpoint_id: Some(e.id),
            status: None,
        })?
        .into_iter()
        .map(|b| b.name)
        .collect();
    if !users.is_empty() {
        return Err(dto::store_error(store::Error::InUse {
            endpoint: e.name,
            batches: users,
        }));
    }
    if config::default_target_id(&store)?.is_some_and(|id| id == e.id.to_string()) {
        return Err(ApiError::new(
            ErrorCode::InvalidState,
            format!(
                "cannot remove endpoint \"{}\": it is the default target endpoint; change or clear defaultTargetEndpoint with Set-MigrationConfig first",
                e.name
            ),
        )
        .with_details(json!({ "identity": e.name, "setting": "defaultTargetEndpoint" })));
    }
    store.delete_endpoint(&e.id.to_string())?;
    Ok(Value::Null)
}

/// Test-MigrationServerAvailability: a failed connection is a `Failed` result, not an error.
pub fn test(req: &Request) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Args {
        endpoint: Option<String>,
        remote_server: Option<String>,
        port: Option<Value>,
        security: Option<String>,
        accept_untrusted_certificates: Option<bool>,
        ca_file: Option<String>,
    }
    let a: Args = dto::args(req)?;
    // The state directory's stall limits apply to the check, as to a pass.
    let store = req.open_store()?;
    let target = if let Some(id) = dto::opt_identity(&a.endpoint) {
        store
            .get_endpoint(id)?
            .ok_or_else(|| ApiError::not_found("endpoint", id))?
    } else {
        let server = dto::opt_identity(&a.remote_server).ok_or_else(|| {
            ApiError::invalid(
                "remoteServer",
                "give either endpoint or remoteServer (with port and security)",
            )
        })?;
        check_server(server)?;
        let mut e = EndpointRecord::new("test", server);
        if let Some(s) = dto::opt_identity(&a.security) {
            e.security = parse_security(s)?;
        }
        e.port = match &a.port {
            Some(v) if !v.is_null() => parse_port(v)?,
            _ => default_port(e.security),
        };
        e.accept_untrusted = a.accept_untrusted_certificates.unwrap_or(false);
        e.ca_file = dto::opt_identity(&a.ca_file).map(str::to_owned);
        e
    };
    let settings = json!({
        "RemoteServer": target.remote_server,
        "Port": target.port,
        "Security": target.security.as_str(),
        "AcceptUntrustedCertificates": target.accept_untrusted,
    });
    Ok(match verify(&target, &store) {
        Ok(greeting) => {
            let mut message = format!(
                "connected to {}:{} ({}) and received the IMAP greeting",
                target.remote_server,
                target.port,
                target.security.as_str()
            );
            if target.security == SecurityMode::None {
                message.push_str("; the connection is not encrypted");
            }
            json!({
                "Result": "Success",
                "Message": message,
                "ErrorDetail": null,
                "Greeting": store::redact::clean(&greeting),
                "ConnectionSettings": settings,
                "SupportsCutover": false,
            })
        }
        Err(e) => json!({
            "Result": "Failed",
            "Message": store::redact::clean(&e.message),
            "ErrorDetail": e.code,
            "ConnectionSettings": null,
            "SupportsCutover": false,
        }),
    })
}

// ---- reachability check --------------------------------------------------------------------

/// Connects as the endpoint's security says (TCP, TLS or STARTTLS with the endpoint's certificate
/// rules) and reads the greeting, without logging in; returns the capabilities the server
/// advertised. The IMAP layer does the work, so the check trusts exactly what a migration would.
/// The stall limits are those set for the state directory of `store`, else the defaults capped
/// at [`PROBE_STEP_TIMEOUT`] ([`engine::server::check_timeouts`]).
fn verify(e: &EndpointRecord, store: &store::Store) -> ApiResult<String> {
    let mut cfg = crate::engine::server_config(e);
    cfg.timeouts = engine::server::check_timeouts(store, PROBE_STEP_TIMEOUT);
    let result = super::runtime().block_on(imapmigration_imap::probe(&cfg));
    match result {
        Ok(caps) => Ok(caps.iter().collect::<Vec<_>>().join(" ")),
        Err(err) => Err(probe_error(&e.remote_server, e.port, err)),
    }
}

/// Maps a failed reachability check to the ABI's codes, keeping the server's words. The code is
/// the engine's ([`engine::imap_code`]): a pass and the check report one failure alike.
fn probe_error(host: &str, port: u16, err: imapmigration_imap::Error) -> ApiError {
    let details = json!({ "host": host, "port": port });
    let code = engine::imap_code(&err);
    let message = match code {
        ErrorCode::EndpointUnreachable => {
            format!("cannot reach the IMAP server {host} on port {port}: {err}")
        }
        ErrorCode::TlsError => format!("tls with {host} on port {port} failed: {err}"),
        ErrorCode::ServerRefused | ErrorCode::Unsupported => {
            format!("the IMAP server {host} on port {port} refused the connection: {err}")
        }
        ErrorCode::Protocol => {
            format!("the server {host} on port {port} does not answer as an IMAP server: {err}")
        }
        _ => format!("cannot check the IMAP server {host} on port {port}: {err}"),
    };
    let mut e = ApiError::new(code, message).with_details(details);
    if let Some(reply) = err.code()
        && let Some(d) = e.details.as_mut()
    {
        d["serverReply"] = json!(reply);
    }
    e
}

//! A tiny OAuth2 authorization server on 127.0.0.1 (HTTP/1.1, std only).
//!
//! - `POST /token` (client credentials grant, RFC 6749 §4.4): form
//!   `grant_type=client_credentials&client_id=..&client_secret=..&scope=..` (or the client in an
//!   HTTP Basic header) → `{"access_token", "token_type": "Bearer", "expires_in": 3599}`;
//!   400 `invalid_request`/`unsupported_grant_type`, 401 `invalid_client` otherwise.
//! - `POST /introspect` (RFC 7662): form `token=..` → `{"active": true, ..}` for tokens this
//!   server issued and has not revoked, `{"active": false}` otherwise.
//!
//! Tokens are app-only: valid for every mailbox, as an Exchange Online `IMAP.AccessAsApp` token
//! is. Dovecot's oauth2 passdb asks `/introspect` on every XOAUTH2/OAUTHBEARER login.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use rand::RngCore;

use crate::error::{Error, Result};

/// Lifetime the token endpoint reports, as Entra ID does.
pub const EXPIRES_IN: u64 = 3599;

#[derive(Default)]
struct State {
    client_id: String,
    client_secret: String,
    tokens: Mutex<HashSet<String>>,
    issued: AtomicU64,
    introspections: AtomicU64,
    rejected: AtomicU64,
    stop: AtomicBool,
}

/// The running server; stops on drop.
pub struct OAuthServer {
    addr: SocketAddr,
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for OAuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthServer")
            .field("addr", &self.addr)
            .field("client_id", &self.state.client_id)
            .field("client_secret", &"***")
            .finish()
    }
}

impl OAuthServer {
    /// Starts on a free port of 127.0.0.1.
    pub fn start(client_id: &str, client_secret: &str) -> Result<OAuthServer> {
        Self::start_on(0, client_id, client_secret)
    }

    /// Starts on the given port of 127.0.0.1 (0 = any free port).
    pub fn start_on(port: u16, client_id: &str, client_secret: &str) -> Result<OAuthServer> {
        let listener =
            TcpListener::bind(("127.0.0.1", port)).map_err(Error::net("bind the oauth server"))?;
        let addr = listener
            .local_addr()
            .map_err(Error::net("read the oauth server address"))?;
        let state = Arc::new(State {
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            ..State::default()
        });
        let st = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("testkit-oauth".into())
            .spawn(move || accept_loop(listener, st))
            .map_err(Error::net("spawn the oauth server thread"))?;
        Ok(OAuthServer {
            addr,
            state,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>/token`.
    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// `http://127.0.0.1:<port>/introspect`.
    pub fn introspection_url(&self) -> String {
        format!("http://{}/introspect", self.addr)
    }

    /// The client id `/token` accepts.
    pub fn client_id(&self) -> &str {
        &self.state.client_id
    }

    /// The client secret `/token` accepts.
    pub fn client_secret(&self) -> &str {
        &self.state.client_secret
    }

    /// How many tokens were issued (by `/token` or [`OAuthServer::issue_token`]).
    pub fn tokens_issued(&self) -> u64 {
        self.state.issued.load(Ordering::SeqCst)
    }

    /// How many introspection requests arrived (one per XOAUTH2 login Dovecot checks).
    pub fn introspections(&self) -> u64 {
        self.state.introspections.load(Ordering::SeqCst)
    }

    /// How many `/token` requests were refused.
    pub fn token_requests_rejected(&self) -> u64 {
        self.state.rejected.load(Ordering::SeqCst)
    }

    /// Issues a token without an HTTP round trip.
    pub fn issue_token(&self) -> String {
        issue(&self.state)
    }

    /// Forgets every issued token: later logins with them fail, as with expired tokens.
    pub fn revoke_all(&self) {
        if let Ok(mut t) = self.state.tokens.lock() {
            t.clear();
        }
    }
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn issue(state: &State) -> String {
    let mut raw = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = format!("tk-{}", hex::encode(raw));
    if let Ok(mut t) = state.tokens.lock() {
        t.insert(token.clone());
    }
    state.issued.fetch_add(1, Ordering::SeqCst);
    token
}

fn accept_loop(listener: TcpListener, state: Arc<State>) {
    for conn in listener.incoming() {
        if state.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(conn) = conn else { continue };
        let st = Arc::clone(&state);
        let _ = std::thread::Builder::new()
            .name("testkit-oauth-conn".into())
            .spawn(move || {
                let _ = serve_connection(conn, &st);
            });
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(conn: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 64 * 1024 {
            return Err(std::io::Error::other("request head too large"));
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("expect") && v.eq_ignore_ascii_case("100-continue"))
    {
        conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    while body.len() < len {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

fn serve_connection(mut conn: TcpStream, state: &State) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    // One request per connection; `Connection: close` tells the client not to reuse it.
    let Some(req) = read_request(&mut conn)? else {
        return Ok(());
    };
    let (status, body) = route(&req, state);
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(resp.as_bytes())?;
    conn.flush()
}

fn route(req: &Request, state: &State) -> (u16, String) {
    let path = req.path.split('?').next().unwrap_or_default();
    if req.method != "POST" {
        return (
            405,
            r#"{"error":"invalid_request","error_description":"use POST"}"#.into(),
        );
    }
    let form = parse_form(&req.body);
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match path {
        "/token" => {
            let (mut id, mut secret) = (get("client_id"), get("client_secret"));
            if let Some((bid, bsecret)) = req.header("authorization").and_then(basic_credentials) {
                id = Some(bid);
                secret = Some(bsecret);
            }
            let fail = |status: u16, error: &str, desc: &str| {
                state.rejected.fetch_add(1, Ordering::SeqCst);
                (
                    status,
                    serde_json::json!({"error": error, "error_description": desc}).to_string(),
                )
            };
            match get("grant_type").as_deref() {
                Some("client_credentials") => {}
                Some(_) => {
                    return fail(
                        400,
                        "unsupported_grant_type",
                        "only client_credentials is supported",
                    );
                }
                None => return fail(400, "invalid_request", "grant_type is missing"),
            }
            let (Some(id), Some(secret)) = (id, secret) else {
                return fail(
                    400,
                    "invalid_request",
                    "client_id and client_secret are required",
                );
            };
            if id != state.client_id || secret != state.client_secret {
                return fail(401, "invalid_client", "client authentication failed");
            }
            let token = issue(state);
            let scope = get("scope").unwrap_or_default();
            (
                200,
                serde_json::json!({"access_token": token, "token_type": "Bearer", "expires_in": EXPIRES_IN, "scope": scope})
                    .to_string(),
            )
        }
        "/introspect" => {
            state.introspections.fetch_add(1, Ordering::SeqCst);
            let token = get("token").unwrap_or_default();
            let active = state
                .tokens
                .lock()
                .map(|t| t.contains(&token))
                .unwrap_or(false);
            if active {
                (
                    200,
                    serde_json::json!({"active": true, "client_id": state.client_id, "token_type": "Bearer", "sub": state.client_id})
                        .to_string(),
                )
            } else {
                (200, r#"{"active":false}"#.into())
            }
        }
        _ => (404, r#"{"error":"not_found"}"#.into()),
    }
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn basic_credentials(header: &str) -> Option<(String, String)> {
    let b64 = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (id, secret) = s.split_once(':')?;
    Some((percent_decode(id), percent_decode(secret)))
}

/// `application/x-www-form-urlencoded` pairs.
pub(crate) fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_handles_plus_and_percent() {
        let f = parse_form(b"grant_type=client_credentials&scope=https%3A%2F%2Fx%2F.default+y&z=%");
        assert_eq!(f[0], ("grant_type".into(), "client_credentials".into()));
        assert_eq!(f[1].1, "https://x/.default y");
        assert_eq!(f[2].1, "%");
    }
}

//! Login (one-time link or admin password), sessions, CSRF and the login rate limit.
//!
//! The session id lives in an `HttpOnly; SameSite=Strict` cookie (`Secure` under TLS); the api
//! keeps only its digest (`console.session`). Every form carries a CSRF token derived from the
//! session id (SHA-256 under a fixed label): a page can only have it if it was rendered for
//! that session, and nothing more is stored.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, RequestExt as _};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::call::call;
use super::web::ConsoleState;

/// The session cookie's name.
pub(super) const COOKIE: &str = "imapmig_session";
/// Failed logins allowed per client address within [`WINDOW`].
pub(super) const MAX_FAILURES: u32 = 5;
/// Failed logins allowed from all addresses together within [`WINDOW`]: a guesser spread over
/// many addresses (a console bound off loopback) is held back too. Past it every login waits
/// for the window's end, the admin's included; that is the price of not being guessed.
pub(super) const MAX_FAILURES_ALL: u32 = 50;
/// The window failed logins are counted in; a limited client waits until it ends.
const WINDOW: Duration = Duration::from_secs(300);

/// Failed logins in one window.
struct Failures {
    count: u32,
    since: Instant,
}

/// Failed logins of this process: per client address and in all. Kept for the process, not
/// per console: a console started again (a new address, certificate or password in
/// `Set-MigrationConfig`) and every session and link share one count.
struct Limiter {
    by_client: HashMap<IpAddr, Failures>,
    all: Option<Failures>,
}

static LIMITER: LazyLock<Mutex<Limiter>> = LazyLock::new(|| {
    Mutex::new(Limiter {
        by_client: HashMap::new(),
        all: None,
    })
});

fn limiter() -> std::sync::MutexGuard<'static, Limiter> {
    LIMITER.lock().unwrap_or_else(|p| p.into_inner())
}

/// Seconds until `f`'s window ends (at least 1).
fn wait_of(f: &Failures, now: Instant) -> u64 {
    WINDOW
        .saturating_sub(now.duration_since(f.since))
        .as_secs()
        .max(1)
}

/// The CSRF token of session `session`.
pub(super) fn csrf_of(session: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"imapmigration console csrf\0");
    h.update(session.as_bytes());
    hex::encode(h.finalize())
}

/// A logged-in admin: the request carried a live session cookie.
pub(super) struct Session {
    /// The CSRF token forms of this session carry.
    pub(super) csrf: String,
    session: String,
}

impl Session {
    /// Whether `token` is this session's CSRF token (constant-time).
    pub(super) fn csrf_ok(&self, token: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(token.as_bytes()))
    }
}

/// What a request without a live session gets: the login page.
pub(super) struct LoginRequired;

impl IntoResponse for LoginRequired {
    fn into_response(self) -> Response {
        Redirect::to("/login").into_response()
    }
}

impl FromRequestParts<ConsoleState> for Session {
    type Rejection = LoginRequired;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let session = jar
            .get(COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|s| !s.is_empty())
            .ok_or(LoginRequired)?;
        call(
            state.home(),
            "console.session",
            json!({ "session": session }),
        )
        .await
        .map_err(|_| LoginRequired)?;
        Ok(Session {
            csrf: csrf_of(&session),
            session,
        })
    }
}

/// A state-changing form post: a live session and that session's CSRF token in the `csrf`
/// field, then the form `T`. Without a session: the login page; with a wrong or missing
/// token: 403 and nothing done.
pub(super) struct Posted<T> {
    pub(super) session: Session,
    pub(super) form: T,
}

#[derive(Deserialize)]
struct WithCsrf<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: T,
}

/// The response to a post without this session's CSRF token.
pub(super) fn csrf_refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        "the form did not come from this console session (missing or wrong CSRF token); reload the page and try again",
    )
        .into_response()
}

impl<T: DeserializeOwned + Send + 'static> FromRequest<ConsoleState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let req = Request::from_parts(parts, body);
        let Form(f): Form<WithCsrf<T>> = req
            .extract()
            .await
            .map_err(|_| (StatusCode::BAD_REQUEST, "the form could not be read").into_response())?;
        if !session.csrf_ok(&f.csrf) {
            return Err(csrf_refused());
        }
        Ok(Posted {
            session,
            form: f.form,
        })
    }
}

/// The client's address (the connection's peer; unspecified when there is none, in tests).
fn client(parts_ext: &axum::http::Extensions) -> IpAddr {
    parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

impl ConsoleState {
    /// Whether `ip` may try to log in now; `Err(seconds to wait)` when it, or all clients
    /// together, failed too often.
    fn login_allowed(&self, ip: IpAddr) -> Result<(), u64> {
        let mut l = limiter();
        let now = Instant::now();
        l.by_client
            .retain(|_, v| now.duration_since(v.since) < WINDOW);
        if l.all
            .as_ref()
            .is_some_and(|a| now.duration_since(a.since) >= WINDOW)
        {
            l.all = None;
        }
        if let Some(a) = l.all.as_ref().filter(|a| a.count >= MAX_FAILURES_ALL) {
            return Err(wait_of(a, now));
        }
        match l.by_client.get(&ip) {
            Some(v) if v.count >= MAX_FAILURES => Err(wait_of(v, now)),
            _ => Ok(()),
        }
    }

    fn login_failed(&self, ip: IpAddr) {
        let mut l = limiter();
        let now = Instant::now();
        l.by_client
            .entry(ip)
            .or_insert(Failures {
                count: 0,
                since: now,
            })
            .count += 1;
        l.all
            .get_or_insert(Failures {
                count: 0,
                since: now,
            })
            .count += 1;
    }

    fn session_cookie(&self, value: String) -> Cookie<'static> {
        let mut c = Cookie::new(COOKIE, value);
        c.set_http_only(true);
        c.set_same_site(SameSite::Strict);
        c.set_secure(self.inner.tls);
        c.set_path("/");
        c
    }

    /// Tries a login (`console.login` with a token or a password) for client `ip`.
    async fn login(&self, ip: IpAddr, jar: CookieJar, args: serde_json::Value) -> Response {
        if let Err(wait) = self.login_allowed(ip) {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, wait.to_string())],
                self.render_status(
                    StatusCode::TOO_MANY_REQUESTS,
                    "login.html",
                    minijinja::context! {
                        error => format!("too many failed logins from this address; try again in {wait} s"),
                    },
                ),
            )
                .into_response();
        }
        match call(self.home(), "console.login", args).await {
            Ok(v) => {
                let session = v
                    .get("Session")
                    .and_then(|s| s.as_str())
                    .unwrap_or_default()
                    .to_owned();
                let jar = jar.add(self.session_cookie(session));
                (jar, Redirect::to("/")).into_response()
            }
            Err(e) => {
                if e.code == crate::ErrorCode::AuthenticationFailed {
                    self.login_failed(ip);
                }
                self.render_status(
                    super::web::status_of(&e),
                    "login.html",
                    minijinja::context! { error => e.message },
                )
            }
        }
    }
}

#[derive(Deserialize)]
pub(super) struct LoginQuery {
    token: Option<String>,
}

/// `GET /login`: the password form, or, with `?token=`, the one-time link's login.
pub(super) async fn login_page(
    State(state): State<ConsoleState>,
    jar: CookieJar,
    Query(q): Query<LoginQuery>,
    req: Request,
) -> Response {
    match q.token.filter(|t| !t.is_empty()) {
        Some(token) => {
            let ip = client(req.extensions());
            state.login(ip, jar, json!({ "token": token })).await
        }
        None => state.render("login.html", minijinja::context! {}),
    }
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    password: String,
}

/// `POST /login`: the admin password.
pub(super) async fn login_password(
    State(state): State<ConsoleState>,
    jar: CookieJar,
    req: Request,
) -> Response {
    let ip = client(req.extensions());
    let Ok(Form(f)) = req.extract::<Form<PasswordForm>, _>().await else {
        return (StatusCode::BAD_REQUEST, "the form could not be read").into_response();
    };
    state
        .login(ip, jar, json!({ "password": f.password }))
        .await
}

/// `POST /logout`: ends the session.
pub(super) async fn logout(
    State(state): State<ConsoleState>,
    jar: CookieJar,
    posted: Posted<std::collections::HashMap<String, String>>,
) -> Response {
    let _ = call(
        state.home(),
        "console.logout",
        json!({ "session": posted.session.session }),
    )
    .await;
    let gone = Cookie::build(COOKIE).path("/");
    (jar.remove(gone), Redirect::to("/login")).into_response()
}

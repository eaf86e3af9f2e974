//! What every page shares: the state, the embedded templates and assets, the security headers
//! and the error pages.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

use crate::ErrorCode;
use crate::api::ApiError;

/// The console's shared state: the state directory and the templates (the login limiter is
/// the process's: `auth::LIMITER`).
#[derive(Clone)]
pub struct ConsoleState {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) home: PathBuf,
    pub(super) tls: bool,
    pub(super) templates: Environment<'static>,
}

/// The templates, embedded in the binary (admins run the console on isolated networks).
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("dashboard.html", include_str!("templates/dashboard.html")),
    ("batch_rows.html", include_str!("templates/batch_rows.html")),
    ("batch.html", include_str!("templates/batch.html")),
    ("user_rows.html", include_str!("templates/user_rows.html")),
    ("user.html", include_str!("templates/user.html")),
    ("endpoints.html", include_str!("templates/endpoints.html")),
    (
        "endpoint_form.html",
        include_str!("templates/endpoint_form.html"),
    ),
    (
        "endpoint_edit.html",
        include_str!("templates/endpoint_edit.html"),
    ),
    ("wizard.html", include_str!("templates/wizard.html")),
    ("settings.html", include_str!("templates/settings.html")),
    ("chart.html", include_str!("templates/chart.html")),
    ("error.html", include_str!("templates/error.html")),
];

/// The assets, embedded: `(name, content type, body)`.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("assets/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    ),
];

impl ConsoleState {
    /// The state over `home`; `tls` marks cookies `Secure`.
    pub fn new(home: PathBuf, tls: bool) -> Self {
        let mut env = Environment::new();
        for (name, text) in TEMPLATES {
            // A template that does not parse is a build defect every console test shows at
            // once; the page that uses it reports the error.
            if let Err(e) = env.add_template(name, text) {
                tracing::error!(template = name, error = %e, "console template does not parse");
            }
        }
        Self {
            inner: Arc::new(Inner {
                home,
                tls,
                templates: env,
            }),
        }
    }

    /// The state directory.
    pub(super) fn home(&self) -> &std::path::Path {
        &self.inner.home
    }

    /// Renders template `name` with `ctx` as a page.
    pub(super) fn render<S: Serialize>(&self, name: &str, ctx: S) -> Response {
        self.render_status(StatusCode::OK, name, ctx)
    }

    /// Renders template `name` with `ctx` and `status`.
    pub(super) fn render_status<S: Serialize>(
        &self,
        status: StatusCode,
        name: &str,
        ctx: S,
    ) -> Response {
        match self
            .inner
            .templates
            .get_template(name)
            .and_then(|t| t.render(ctx))
        {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(template = name, error = %e, "cannot render a console page");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot render the page; the worker log says why",
                )
                    .into_response()
            }
        }
    }

    /// The error page for an api error, in the operation's own words.
    pub(super) fn api_error(&self, csrf: Option<&str>, e: &ApiError) -> Response {
        self.render_status(
            status_of(e),
            "error.html",
            minijinja::context! { csrf => csrf, code => e.code.as_str(), message => &e.message },
        )
    }
}

/// The HTTP status a page shows for an api error.
pub(super) fn status_of(e: &ApiError) -> StatusCode {
    match e.code {
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::AlreadyExists | ErrorCode::InvalidState => StatusCode::CONFLICT,
        ErrorCode::InvalidArgument | ErrorCode::CsvInvalid => StatusCode::BAD_REQUEST,
        ErrorCode::AuthenticationFailed => StatusCode::FORBIDDEN,
        ErrorCode::EndpointUnreachable | ErrorCode::TlsError | ErrorCode::ServerRefused => {
            StatusCode::BAD_GATEWAY
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `GET /assets/{name}`: an embedded stylesheet or script (no data, so no session needed).
pub(super) async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, ty, body)) => ([(header::CONTENT_TYPE, *ty)], *body).into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

/// Any other path.
pub(super) async fn not_found(State(state): State<ConsoleState>) -> Response {
    state.render_status(
        StatusCode::NOT_FOUND,
        "error.html",
        minijinja::context! { code => "NotFound", message => "there is no such page" },
    )
}

/// The Content-Security-Policy of every response: nothing inline, nothing from elsewhere.
pub(super) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

/// Adds the security headers to every response. `Referrer-Policy: no-referrer` keeps the
/// one-time token of a login URL from leaking; `no-store` keeps pages out of caches.
pub(super) async fn security_headers(req: Request<Body>, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

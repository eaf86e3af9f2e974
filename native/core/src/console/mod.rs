//! The web console: the Exchange admin center's migration pages, served by the worker.
//!
//! Every page and action calls the same JSON operations as the cmdlets ([`crate::api`], through
//! [`call`]); the console keeps no state of its own beyond an in-memory login rate limit, so
//! what it does is visible to `Get-MigrationBatch` at once and the other way round.
//!
//! Modules: `call` (the api from async handlers), `web` (state, templates, security headers,
//! error pages), `auth` (login, sessions, CSRF, rate limit), `dashboard` (batches and their
//! actions, reports), `details` (batch and user pages), `endpoints`, `wizard` (new batch),
//! `settings` (Set-MigrationConfig's migration settings).
//!
//! Off by default: [`serve`] watches `console.settings` (Set-MigrationConfig -ConsoleListen, or
//! the worker's `--console`) and binds, rebinds or stops as they change, recording the bound
//! address with `console.listening`.

mod auth;
mod call;
mod chart;
mod dashboard;
mod details;
mod endpoints;
mod settings;
mod web;
mod wizard;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub use web::ConsoleState;

/// How often [`serve`] re-reads the console's settings.
const SETTINGS_POLL: Duration = Duration::from_secs(2);

/// Why the console cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// The settings were refused (the api's message: a non-loopback address without TLS...).
    #[error("{0}")]
    Settings(String),
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate or key could not be loaded.
    #[error("cannot load the console's TLS certificate and key: {0}")]
    Tls(String),
}

/// What the console serves, as `console.settings` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    listen: Option<SocketAddr>,
    certificate: Option<PathBuf>,
    key: Option<PathBuf>,
}

async fn settings(home: &std::path::Path, listen: Option<&str>) -> Result<Settings, ConsoleError> {
    let v = call::call(home, "console.settings", json!({ "listen": listen }))
        .await
        .map_err(|e| ConsoleError::Settings(e.message))?;
    let path = |k: &str| v.get(k).and_then(Value::as_str).map(PathBuf::from);
    Ok(Settings {
        listen: v
            .get("Listen")
            .and_then(Value::as_str)
            .and_then(|a| a.parse().ok()),
        certificate: path("Certificate"),
        key: path("Key"),
    })
}

/// Checks the worker's `--console ADDR` (and the stored settings) before the worker starts:
/// the error names what to change.
pub async fn check(home: &std::path::Path, listen: Option<&str>) -> Result<(), ConsoleError> {
    let s = settings(home, listen).await?;
    if let (Some(c), Some(k)) = (&s.certificate, &s.key) {
        tls::load(c, k)?;
    }
    Ok(())
}

mod tls {
    //! The console's HTTPS configuration from PEM files (rustls with the ring provider, as the
    //! IMAP client uses).
    use std::path::Path;
    use std::sync::Arc;

    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    use super::ConsoleError;

    pub(super) fn load(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ConsoleError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .and_then(|i| i.collect::<Result<_, _>>())
            .map_err(|e| ConsoleError::Tls(format!("{}: {e}", cert.display())))?;
        if certs.is_empty() {
            return Err(ConsoleError::Tls(format!(
                "{}: no certificate in the file",
                cert.display()
            )));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| ConsoleError::Tls(format!("{}: {e}", key.display())))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConsoleError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| ConsoleError::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The console's routes over the state directory `home`. `tls` marks cookies `Secure`.
pub fn router(home: PathBuf, tls: bool) -> Router {
    let state = ConsoleState::new(home, tls);
    Router::new()
        .route("/login", get(auth::login_page).post(auth::login_password))
        .route("/logout", post(auth::logout))
        .route("/assets/{name}", get(web::asset))
        .route("/", get(dashboard::page))
        .route("/fragments/batches", get(dashboard::rows))
        .route("/batches/{name}/action/{action}", post(dashboard::action))
        .route("/batches/{name}/reports/{kind}", get(dashboard::report))
        .route("/batches/{name}", get(details::batch))
        .route("/fragments/batches/{name}/users", get(details::user_rows))
        .route("/fragments/batches/{name}/row", get(details::batch_row))
        .route("/users/{email}", get(details::user))
        .route("/endpoints", get(endpoints::list).post(endpoints::create))
        .route("/endpoints/test", post(endpoints::test_new))
        .route(
            "/endpoints/{name}",
            get(endpoints::edit).post(endpoints::update),
        )
        .route("/endpoints/{name}/test", post(endpoints::test))
        .route("/endpoints/{name}/remove", post(endpoints::remove))
        .route("/new", get(wizard::page).post(wizard::submit))
        .route("/settings", get(settings::show).post(settings::save))
        .route("/settings/saved", get(settings::saved))
        .fallback(web::not_found)
        .layer(axum::middleware::from_fn(web::security_headers))
        .layer(axum::extract::DefaultBodyLimit::max(wizard::MAX_UPLOAD))
        .with_state(state)
}

/// One bound console: its server task and how to stop it.
struct Running {
    settings: Settings,
    handle: axum_server::Handle,
    task: tokio::task::JoinHandle<()>,
}

async fn start(home: &std::path::Path, s: &Settings) -> Result<Option<Running>, ConsoleError> {
    let Some(addr) = s.listen else {
        return Ok(None);
    };
    let tls = match (&s.certificate, &s.key) {
        (Some(c), Some(k)) => Some(tls::load(c, k)?),
        _ => None,
    };
    let listener = std::net::TcpListener::bind(addr).map_err(|source| ConsoleError::Bind {
        address: addr.to_string(),
        source,
    })?;
    let bound = listener.local_addr().map_err(|source| ConsoleError::Bind {
        address: addr.to_string(),
        source,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ConsoleError::Bind {
            address: addr.to_string(),
            source,
        })?;
    let app =
        router(home.to_owned(), tls.is_some()).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    let task = match tls {
        Some(config) => {
            let config = axum_server::tls_rustls::RustlsConfig::from_config(config);
            tokio::spawn(async move {
                if let Err(e) = axum_server::from_tcp_rustls(listener, config)
                    .handle(h)
                    .serve(app)
                    .await
                {
                    tracing::error!(error = %e, "the console stopped serving");
                }
            })
        }
        None => tokio::spawn(async move {
            if let Err(e) = axum_server::from_tcp(listener).handle(h).serve(app).await {
                tracing::error!(error = %e, "the console stopped serving");
            }
        }),
    };
    let tls = s.certificate.is_some();
    call::call(
        home,
        "console.listening",
        json!({ "address": bound.to_string(), "tls": tls, "pid": std::process::id() }),
    )
    .await
    .map_err(|e| ConsoleError::Settings(e.message))?;
    tracing::info!(address = %bound, tls, "the console is served");
    Ok(Some(Running {
        settings: s.clone(),
        handle,
        task,
    }))
}

async fn stop(home: &std::path::Path, r: Running) {
    r.handle.graceful_shutdown(Some(Duration::from_secs(2)));
    let _ = r.task.await;
    if let Err(e) = call::call(home, "console.listening", json!({ "address": null })).await {
        tracing::warn!(error = %e, "cannot clear the console's address");
    }
}

/// Serves the console for `home` until `shutdown`, following its settings: `listen` (the
/// worker's `--console`) wins over Set-MigrationConfig -ConsoleListen. Settings that cannot be
/// served are logged and retried when they change.
pub async fn serve(home: PathBuf, listen: Option<String>, shutdown: CancellationToken) {
    let home = Arc::new(home);
    let mut running: Option<Running> = None;
    let mut failed: Option<Settings> = None;
    loop {
        match settings(&home, listen.as_deref()).await {
            Ok(s) => {
                let current = running.as_ref().map(|r| &r.settings);
                if current != Some(&s) && failed.as_ref() != Some(&s) {
                    if let Some(r) = running.take() {
                        stop(&home, r).await;
                    }
                    match start(&home, &s).await {
                        Ok(r) => {
                            running = r;
                            failed = None;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "the console cannot be served");
                            failed = Some(s);
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the console's settings"),
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(SETTINGS_POLL) => {}
        }
    }
    if let Some(r) = running.take() {
        stop(&home, r).await;
    }
}

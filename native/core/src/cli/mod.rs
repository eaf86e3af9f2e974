//! The `migrate` subcommand: an Exchange IMAP CSV migrated now, in the foreground, with a
//! progress bar and a summary; the same engine, scheduler and state store as the cmdlets.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

mod resume;
mod summary;
mod url;

use base64::Engine as _;
use clap::Args;
use imapmigration::api::{self, Request};
use imapmigration::engine::Progress;
use imapmigration::process::WorkerLock;
use imapmigration::worker::Scheduler;
use imapmigration_store::{BatchRecord, BatchUpdate, Store, UserFilter, redact};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use resume::Target;
use url::{Url, parse_url};

#[derive(Args)]
pub struct MigrateArgs {
    /// The CSV: EmailAddress,UserName,Password[,UserRoot], as for New-MigrationBatch -CSVData.
    #[arg(long)]
    csv: PathBuf,
    /// Source server: imaps://host[:993] (implicit TLS), imap://host[:143] (plain, or STARTTLS
    /// with --starttls).
    #[arg(long)]
    source: String,
    /// Upgrade a plain imap:// source with STARTTLS.
    #[arg(long)]
    starttls: bool,
    /// Accept any certificate from the source (self-signed test servers).
    #[arg(long)]
    accept_untrusted: bool,
    /// Extra CA certificate (PEM) trusted for the source and the target.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Target: maildir:/path (default: the embedded store in the state directory) or
    /// imap(s)://host[:port].
    #[arg(long)]
    target: Option<String>,
    /// Upgrade a plain imap:// target with STARTTLS.
    #[arg(long)]
    target_starttls: bool,
    /// How to log in on an IMAP target for each user: user (the CSV credentials), master
    /// (<user><sep><admin>), authzid (SASL PLAIN authorization identity).
    #[arg(long, default_value = "user")]
    target_login: String,
    /// Admin login for --target-login master|authzid; its password is read from the
    /// environment variable IMAPMIGRATION_TARGET_PASSWORD, never from the command line.
    #[arg(long)]
    target_admin: Option<String>,
    /// Master-user separator.
    #[arg(long, default_value = "*")]
    master_separator: String,
    /// Batch name. Default: `cli-` and a hash of the CSV's path, the source and the target, so
    /// the same command run again continues the same batch.
    #[arg(long)]
    name: Option<String>,
    /// State directory.
    #[arg(long)]
    home: Option<PathBuf>,
    /// Folders to skip (Exchange -ExcludeFolders syntax); repeatable.
    #[arg(long)]
    exclude_folder: Vec<String>,
    /// Folders to copy (Exchange -IncludeFolders syntax); repeatable.
    #[arg(long)]
    include_folder: Vec<String>,
    /// Users migrated at once.
    #[arg(long, default_value_t = 8)]
    concurrency: u32,
    /// Connections one user may hold on the target at once (-MaxConnectionsPerUser); on a
    /// target without LITERAL+ or MULTIAPPEND the spare ones append into a folder in parallel.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    connections_per_user: u32,
    /// Append into each folder over one connection, keeping the source's order
    /// (-PreserveOrder).
    #[arg(long)]
    preserve_order: bool,
    /// Never turn on COMPRESS=DEFLATE, on the source nor on the target (-DisableCompression;
    /// also IMAPMIGRATION_COMPRESS=0). On by default where a server offers it.
    #[arg(long)]
    no_compress: bool,
    /// On an IMAP target, read back every message appended and compare its SHA-256 with the
    /// bytes sent; a difference is reported as a ChangedItem (-VerifyContent; also
    /// IMAPMIGRATION_VERIFY_CONTENT=1). Off by default: it doubles the target traffic.
    #[arg(long)]
    verify_content: bool,
    /// Seconds connecting may take (Set-MigrationConfig -ConnectTimeout; default 15). The stall
    /// limits given here win over the stored ones and the IMAPMIGRATION_TIMEOUT_* variables.
    #[arg(long, value_name = "SECS")]
    connect_timeout: Option<f64>,
    /// Seconds the greeting may take once connected (-GreetingTimeout; default 30).
    #[arg(long, value_name = "SECS")]
    greeting_timeout: Option<f64>,
    /// Seconds a TLS handshake may take (-TlsTimeout; default 30).
    #[arg(long, value_name = "SECS")]
    tls_timeout: Option<f64>,
    /// Seconds capabilities, STARTTLS and authentication may take (-LoginTimeout; default 60).
    #[arg(long, value_name = "SECS")]
    login_timeout: Option<f64>,
    /// Seconds without a byte within a response (-IdleTimeout; default 60).
    #[arg(long, value_name = "SECS")]
    idle_timeout: Option<f64>,
    /// Slowest response rate over each idle period, bytes per second or a size such as 1KB
    /// (-MinTransferRate; default 1024; 0: off).
    #[arg(long, value_name = "BYTES")]
    min_rate: Option<String>,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
    /// Ignore CSV columns Exchange does not define (New-MigrationBatch
    /// -AllowUnknownColumnsInCsv).
    #[arg(long)]
    allow_unknown_columns: bool,
}

fn call(home: &Option<PathBuf>, op: &str, args: Value) -> Result<Value, String> {
    call_api(home, op, args).map_err(|e| e.message)
}

fn call_api(home: &Option<PathBuf>, op: &str, args: Value) -> Result<Value, api::ApiError> {
    let Value::Object(args) = args else {
        return Err(api::ApiError::new(
            imapmigration::ErrorCode::Internal,
            "internal: arguments must be an object",
        ));
    };
    let req = Request::new(op, home.clone(), args);
    let r = api::dispatch(&req);
    for w in req.warnings() {
        eprintln!("warning: {}", redact::clean(&w));
    }
    r
}

fn endpoint_args(
    name: &str,
    url: &Url,
    starttls: bool,
    accept_untrusted: bool,
    ca: &Option<PathBuf>,
) -> Map<String, Value> {
    let security = if url.tls {
        "Ssl"
    } else if starttls {
        "Tls"
    } else {
        "None"
    };
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert("remoteServer".into(), json!(url.host));
    m.insert("port".into(), json!(url.port_or_default()));
    m.insert("security".into(), json!(security));
    m.insert(
        "acceptUntrustedCertificates".into(),
        json!(accept_untrusted),
    );
    m.insert("skipVerification".into(), json!(true));
    if let Some(ca) = ca {
        m.insert("caFile".into(), json!(ca));
    }
    m
}

/// Creates the endpoint, or updates the one of that name a former run left; returns whether
/// it created it (so a run that fails later removes it again). Any other refusal (a bad port,
/// an unknown security mode) is the error.
fn put_endpoint(home: &Option<PathBuf>, args: Map<String, Value>) -> Result<bool, String> {
    let name = args["name"].as_str().unwrap_or_default().to_owned();
    match call_api(home, "endpoint.new", Value::Object(args.clone())) {
        Ok(_) => Ok(true),
        Err(e) if e.code == imapmigration::ErrorCode::AlreadyExists => {
            let mut set = args;
            set.remove("name");
            set.insert("identity".into(), json!(name));
            call(home, "endpoint.set", Value::Object(set)).map(|_| false)
        }
        Err(e) => Err(e.message),
    }
}

/// Removes the endpoints this run created, when it fails before its batch exists.
fn remove_endpoints(home: &Option<PathBuf>, created: &[String]) {
    for name in created {
        let _ = call(home, "endpoint.remove", json!({ "identity": name }));
    }
}

/// Draws one bar for all users of the batch.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn folder_started(&self, _folder: &str, to_copy: u64, _bytes: u64) {
        self.0.inc_length(to_copy);
    }
    fn copied(&self, items: u64, _bytes: u64) {
        self.0.inc(items);
    }
    fn skipped(&self, n: u64) {
        self.0.inc(n);
    }
}

/// Runs `migrate`: exit 0 when every user ended synced, 1 when a user did not or a CSV row was
/// refused, 2 when nothing could start (see [`summary`]); the reasons go to stderr.
pub fn migrate(a: MigrateArgs) -> ExitCode {
    match run(a) {
        Ok(code) => code,
        Err(e) => summary::exit(summary::NOT_STARTED, &[e]),
    }
}

/// What the options say, checked before anything is touched.
struct Plan {
    home: PathBuf,
    csv: Vec<u8>,
    name: String,
    source: Url,
    target: Target,
    /// For `--target-login master|authzid`: (TargetLogin, admin, password).
    target_admin: Option<(&'static str, String, String)>,
}

fn plan(a: &MigrateArgs) -> Result<Plan, String> {
    let home = imapmigration_store::paths::state_dir(a.home.as_deref());
    let csv = std::fs::read(&a.csv).map_err(|e| format!("cannot read {}: {e}", a.csv.display()))?;
    // The file is checked before anything is created from it.
    imapmigration_store::csv_import::parse(&csv, a.allow_unknown_columns).map_err(|e| {
        let hint = match e {
            imapmigration_store::csv_import::CsvError::UnknownColumns { .. } => {
                " (--allow-unknown-columns)"
            }
            _ => "",
        };
        format!("{}: {e}{hint}", a.csv.display())
    })?;
    let source = parse_url(&a.source, "--source")?;
    let target = match a.target.as_deref() {
        None => Target::Home,
        Some(t) if t.starts_with("maildir:") => {
            Target::Maildir(PathBuf::from(&t["maildir:".len()..]))
        }
        Some(t) => Target::Imap(parse_url(t, "--target")?),
    };
    let login = match a.target_login.as_str() {
        "user" => None,
        "master" => Some("MasterUser"),
        "authzid" => Some("AuthorizationId"),
        other => {
            return Err(format!(
                "--target-login must be user, master or authzid (got {other:?})"
            ));
        }
    };
    let target_admin = match (login, &target) {
        (Some(login), Target::Imap(_)) => {
            let admin = a
                .target_admin
                .clone()
                .ok_or("--target-login master|authzid needs --target-admin")?;
            let password = std::env::var("IMAPMIGRATION_TARGET_PASSWORD")
                .map_err(|_| "set the target admin password in IMAPMIGRATION_TARGET_PASSWORD")?;
            Some((login, admin, password))
        }
        _ => None,
    };
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| resume::derived_name(&a.csv, &source, &target));
    Ok(Plan {
        home,
        csv,
        name,
        source,
        target,
        target_admin,
    })
}

/// Checks that `url` answers as an IMAP server, the way Test-MigrationServerAvailability does
/// (`endpoint.test`: connect, TLS as configured, the greeting; no login).
fn precheck(
    home: &Option<PathBuf>,
    what: &str,
    url: &Url,
    starttls: bool,
    a: &MigrateArgs,
) -> Result<(), String> {
    let mut args = endpoint_args("check", url, starttls, a.accept_untrusted, &a.ca_file);
    args.remove("name");
    args.remove("skipVerification");
    let r = call(home, "endpoint.test", Value::Object(args))?;
    if r["Result"] == "Success" {
        return Ok(());
    }
    Err(format!(
        "the {what} {}:{} failed the server check ({}): {}",
        url.host,
        url.port_or_default(),
        r["ErrorDetail"].as_str().unwrap_or("Failed"),
        r["Message"].as_str().unwrap_or("no reason given")
    ))
}

/// The stall limits given on the command line, checked as Set-MigrationConfig checks them, for
/// this process only (they are not stored).
fn stall_limits(a: &MigrateArgs) -> Result<(), String> {
    use imapmigration::engine::server::{
        TIMEOUT_SETTINGS, check_timeout_setting, set_process_timeouts,
    };
    let given = [
        (a.connect_timeout.map(|v| json!(v)), "--connect-timeout"),
        (a.greeting_timeout.map(|v| json!(v)), "--greeting-timeout"),
        (a.tls_timeout.map(|v| json!(v)), "--tls-timeout"),
        (a.login_timeout.map(|v| json!(v)), "--login-timeout"),
        (a.idle_timeout.map(|v| json!(v)), "--idle-timeout"),
        (a.min_rate.as_ref().map(|v| json!(v)), "--min-rate"),
    ];
    let mut values = Vec::new();
    for (setting, (value, flag)) in TIMEOUT_SETTINGS.iter().zip(given) {
        let Some(value) = value else { continue };
        // The check names the config key; the command line knows the flag.
        let checked = check_timeout_setting(setting.key, &value)
            .map_err(|e| e.replacen(setting.key, flag, 1))?;
        values.push((setting.key, checked));
    }
    if !values.is_empty() {
        set_process_timeouts(values);
    }
    Ok(())
}

fn run(a: MigrateArgs) -> Result<ExitCode, String> {
    stall_limits(&a)?;
    let p = plan(&a)?;
    // The run's log, as the worker keeps one (IMAPMIGRATION_LOG sets the filter).
    let _log = imapmigration::worker::init_logging_as(&p.home, "migrate");
    let home = Some(p.home.clone());
    // Both servers checked at once; the source's failure is the one reported.
    let (source, target) = std::thread::scope(|scope| {
        let target = scope.spawn(|| match &p.target {
            Target::Imap(url) => precheck(&home, "target", url, a.target_starttls, &a),
            _ => Ok(()),
        });
        let source = precheck(&home, "source", &p.source, a.starttls, &a);
        let target = target
            .join()
            .unwrap_or_else(|_| Err("the target check stopped unexpectedly".into()));
        (source, target)
    });
    source?;
    target?;

    let lock = WorkerLock::acquire_within(&p.home, std::time::Duration::from_secs(1))
        .map_err(|e| format!("cannot take the worker lock: {e}"))?
        .ok_or("a background worker owns this state directory; manage it with the cmdlets, or stop it first")?;

    let name = &p.name;
    let src_name = format!("{name}-source");
    let mut src = endpoint_args(
        &src_name,
        &p.source,
        a.starttls,
        a.accept_untrusted,
        &a.ca_file,
    );
    src.insert(
        "maxConcurrentMigrations".into(),
        json!(a.concurrency.max(1)),
    );
    src.insert(
        "maxConcurrentIncrementalSyncs".into(),
        json!(a.concurrency.max(1)),
    );
    src.insert("disableCompression".into(), json!(a.no_compress));
    let mut created = Vec::new();
    if put_endpoint(&home, src)? {
        created.push(src_name.clone());
    }
    let mut target_name: Option<String> = None;
    if let Target::Imap(url) = &p.target {
        let tn = format!("{name}-target");
        let mut args = endpoint_args(&tn, url, a.target_starttls, a.accept_untrusted, &a.ca_file);
        args.insert(
            "maxConnectionsPerUser".into(),
            json!(a.connections_per_user),
        );
        args.insert("preserveOrder".into(), json!(a.preserve_order));
        args.insert("disableCompression".into(), json!(a.no_compress));
        args.insert("verifyContent".into(), json!(a.verify_content));
        if let Some((login, admin, password)) = &p.target_admin {
            args.insert("targetLogin".into(), json!(login));
            args.insert("masterUserSeparator".into(), json!(a.master_separator));
            args.insert(
                "credentials".into(),
                json!({"userName": admin, "password": password}),
            );
        }
        match put_endpoint(&home, args) {
            Ok(true) => created.push(tn.clone()),
            Ok(false) => {}
            Err(e) => {
                remove_endpoints(&home, &created);
                return Err(e);
            }
        }
        target_name = Some(tn);
    }

    let store = Store::open(&p.home).map_err(|e| e.to_string())?;
    let batch = match store.get_batch(name).map_err(|e| e.to_string())? {
        Some(b) => {
            let src_id = store
                .get_endpoint(&src_name)
                .map_err(|e| e.to_string())?
                .map(|e| e.id);
            if src_id != Some(b.source_endpoint_id) {
                return Err(format!(
                    "the batch {name} exists but was not made by migrate from this source; give another --name"
                ));
            }
            eprintln!(
                "continuing the batch {name} ({}, {} user(s))",
                b.status.as_str(),
                store.batch_counts(&b.id).map_err(|e| e.to_string())?.total
            );
            b
        }
        None => create_batch(&store, &home, &p, &a, &src_name, target_name.as_deref())
            .inspect_err(|_| remove_endpoints(&home, &created))?,
    };
    if let Target::Maildir(m) = &p.target {
        store
            .update_batch(
                &batch.id,
                BatchUpdate {
                    target_maildir: Some(Some(m.display().to_string())),
                    ..Default::default()
                },
            )
            .map_err(|e| e.to_string())?;
    }
    let users_to_start = store
        .batch_counts(&batch.id)
        .map_err(|e| e.to_string())?
        .to_start
        > 0;
    if let Some(action) = resume::resume_action(&batch, users_to_start)? {
        store
            .request_batch_action(&batch.id, action)
            .map_err(|e| e.to_string())?;
    }

    // From here on the batch runs: a failure is reported as the run's outcome (exit 1).
    let bar = ProgressBar::new(0);
    if a.quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} messages ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let rt =
        tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    let shutdown = CancellationToken::new();
    let settled = rt.block_on(async {
        cancel_on_signals(shutdown.clone());
        let mut scheduler = Scheduler::new(&p.home, &lock)
            .map_err(|e| e.to_string())?
            .with_progress(Arc::new(Bar(bar.clone())));
        scheduler
            .run_until_settled(batch.id, shutdown.clone())
            .await
            .map_err(|e| e.to_string())
    });
    bar.finish_and_clear();
    let status = match settled {
        Ok(s) => s,
        Err(e) => {
            return Ok(summary::exit(
                summary::INCOMPLETE,
                &[format!("the run of batch {name} stopped: {e}")],
            ));
        }
    };
    let users = store
        .list_users(&UserFilter {
            batch_id: Some(batch.id),
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
    let batch = store
        .get_batch_by_id(&batch.id)
        .map_err(|e| e.to_string())?
        .ok_or("the batch was removed while it ran")?;
    summary::print(name, status, started.elapsed().as_secs_f64(), &users);
    let (code, why) = summary::outcome(&batch, &users, shutdown.is_cancelled());
    Ok(summary::exit(code, &why))
}

/// New-MigrationBatch for the run. A CSV with no row to migrate creates nothing.
fn create_batch(
    store: &Store,
    home: &Option<PathBuf>,
    p: &Plan,
    a: &MigrateArgs,
    src_name: &str,
    target_name: Option<&str>,
) -> Result<BatchRecord, String> {
    let mut batch = json!({
        "name": p.name,
        "sourceEndpoint": src_name,
        "csvData": base64::engine::general_purpose::STANDARD.encode(&p.csv),
        "excludeFolders": a.exclude_folder,
        "includeFolders": a.include_folder,
        "allowUnknownColumnsInCsv": a.allow_unknown_columns,
    });
    if let Some(t) = target_name {
        batch["targetEndpoint"] = json!(t);
    }
    let created = call(home, "batch.new", batch)?;
    let warnings: Vec<String> = created["ValidationWarnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .map(|v| {
                    format!(
                        "row {} ({}): {}",
                        v["RowIndex"],
                        v["EmailAddress"].as_str().unwrap_or(""),
                        v["LocalizedErrorMessage"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    for w in &warnings {
        eprintln!("warning: {}", redact::clean(w));
    }
    let b = store
        .get_batch(&p.name)
        .map_err(|e| e.to_string())?
        .ok_or("the batch vanished")?;
    if store.batch_counts(&b.id).map_err(|e| e.to_string())?.total == 0 {
        store.delete_batch(&b.id).map_err(|e| e.to_string())?;
        return Err(format!(
            "no row of {} can be migrated ({} refused); nothing was started",
            a.csv.display(),
            warnings.len()
        ));
    }
    Ok(b)
}

/// Cancels `token` on SIGINT or SIGTERM (Windows: Ctrl+C / Ctrl+Break) so running passes stop
/// at a safe point.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
        }
        token.cancel();
    });
}

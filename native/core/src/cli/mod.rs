//! The `migrate` subcommand: an Exchange IMAP CSV migrated now, in the foreground, with a
//! progress bar and a summary; the same engine, scheduler and state store as the cmdlets.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use clap::Args;
use imapmigration::api::{self, Request};
use imapmigration::engine::Progress;
use imapmigration::process::WorkerLock;
use imapmigration::worker::Scheduler;
use imapmigration_store::{BatchStatus, BatchUpdate, Store, UserFilter, UserRecord};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

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
    /// Batch name (default: cli-<time>).
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
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

struct Url {
    tls: bool,
    host: String,
    port: Option<u16>,
}

fn parse_url(s: &str, what: &str) -> Result<Url, String> {
    let (tls, rest) = if let Some(r) = s.strip_prefix("imaps://") {
        (true, r)
    } else if let Some(r) = s.strip_prefix("imap://") {
        (false, r)
    } else {
        return Err(format!(
            "{what} must start with imap:// or imaps:// (got {s:?})"
        ));
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, p) = r
            .split_once(']')
            .ok_or_else(|| format!("{what}: unclosed [ in {s:?}"))?;
        (h.to_owned(), p.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (rest.to_owned(), None),
        }
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .map_err(|_| format!("{what}: invalid port {p:?}"))
        })
        .transpose()?;
    if host.is_empty() {
        return Err(format!("{what}: no host in {s:?}"));
    }
    Ok(Url { tls, host, port })
}

fn call(home: &Option<PathBuf>, op: &str, args: Value) -> Result<Value, String> {
    let Value::Object(args) = args else {
        return Err("internal: arguments must be an object".into());
    };
    let req = Request {
        op: op.into(),
        home: home.clone(),
        args,
    };
    api::dispatch(&req).map_err(|e| e.message)
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
    m.insert(
        "port".into(),
        json!(url.port.unwrap_or(if url.tls { 993 } else { 143 })),
    );
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

fn put_endpoint(home: &Option<PathBuf>, args: Map<String, Value>) -> Result<(), String> {
    let name = args["name"].as_str().unwrap_or_default().to_owned();
    match call(home, "endpoint.new", Value::Object(args.clone())) {
        Ok(_) => Ok(()),
        Err(_) => {
            let mut set = args;
            set.remove("name");
            set.insert("identity".into(), json!(name));
            call(home, "endpoint.set", Value::Object(set)).map(|_| ())
        }
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

pub fn migrate(a: MigrateArgs) -> ExitCode {
    match run(a) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(a: MigrateArgs) -> Result<ExitCode, String> {
    let home = Some(imapmigration_store::paths::state_dir(a.home.as_deref()));
    let csv = std::fs::read(&a.csv).map_err(|e| format!("cannot read {}: {e}", a.csv.display()))?;
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("cli-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S")));
    let source = parse_url(&a.source, "--source")?;

    let lock = WorkerLock::acquire_within(home.as_deref().unwrap_or(std::path::Path::new(".")), std::time::Duration::from_secs(1))
        .map_err(|e| format!("cannot take the worker lock: {e}"))?
        .ok_or("a background worker owns this state directory; manage it with the cmdlets, or stop it first")?;

    let src_name = format!("{name}-source");
    let mut src = endpoint_args(
        &src_name,
        &source,
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
    put_endpoint(&home, src)?;

    let mut maildir: Option<PathBuf> = None;
    let mut target_name: Option<String> = None;
    match a.target.as_deref() {
        None => {}
        Some(t) if t.starts_with("maildir:") => {
            maildir = Some(PathBuf::from(&t["maildir:".len()..]))
        }
        Some(t) => {
            let url = parse_url(t, "--target")?;
            let tn = format!("{name}-target");
            let mut args =
                endpoint_args(&tn, &url, a.target_starttls, a.accept_untrusted, &a.ca_file);
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
            if let Some(login) = login {
                let admin = a
                    .target_admin
                    .clone()
                    .ok_or("--target-login master|authzid needs --target-admin")?;
                let password = std::env::var("IMAPMIGRATION_TARGET_PASSWORD").map_err(
                    |_| "set the target admin password in IMAPMIGRATION_TARGET_PASSWORD",
                )?;
                args.insert("targetLogin".into(), json!(login));
                args.insert("masterUserSeparator".into(), json!(a.master_separator));
                args.insert(
                    "credentials".into(),
                    json!({"userName": admin, "password": password}),
                );
            }
            put_endpoint(&home, args)?;
            target_name = Some(tn);
        }
    }

    let mut batch = json!({
        "name": name,
        "sourceEndpoint": src_name,
        "csvData": base64::engine::general_purpose::STANDARD.encode(&csv),
        "excludeFolders": a.exclude_folder,
        "includeFolders": a.include_folder,
    });
    if let Some(t) = &target_name {
        batch["targetEndpoint"] = json!(t);
    }
    let created = call(&home, "batch.new", batch)?;
    if let Some(w) = created["ValidationWarnings"]
        .as_array()
        .filter(|w| !w.is_empty())
    {
        for v in w {
            eprintln!(
                "warning: row {}: {}: {}",
                v["RowIndex"],
                v["EmailAddress"].as_str().unwrap_or(""),
                v["LocalizedErrorMessage"].as_str().unwrap_or("")
            );
        }
    }
    let home_dir = home.clone().unwrap_or_default();
    let store = Store::open(&home_dir).map_err(|e| e.to_string())?;
    let batch = store
        .get_batch(&name)
        .map_err(|e| e.to_string())?
        .ok_or("the batch vanished")?;
    if let Some(m) = &maildir {
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
    store
        .request_batch_action(&batch.id, imapmigration_store::BatchAction::Start)
        .map_err(|e| e.to_string())?;

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
    let status = rt.block_on(async {
        let shutdown = CancellationToken::new();
        cancel_on_signals(shutdown.clone());
        let mut scheduler = Scheduler::new(&home_dir, &lock)
            .map_err(|e| e.to_string())?
            .with_progress(Arc::new(Bar(bar.clone())));
        scheduler
            .run_until_settled(batch.id, shutdown)
            .await
            .map_err(|e| e.to_string())
    })?;
    bar.finish_and_clear();

    let users = store
        .list_users(&UserFilter {
            batch_id: Some(batch.id),
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
    print_summary(&name, status, started.elapsed().as_secs_f64(), &users);
    Ok(match status {
        BatchStatus::Synced | BatchStatus::Completed => ExitCode::SUCCESS,
        BatchStatus::SyncedWithErrors | BatchStatus::CompletedWithErrors => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    })
}

/// The result on stdout: one line per user (address, status, messages synced and skipped, last
/// error), then the batch's totals. `elapsed` is in seconds.
#[allow(
    clippy::print_stdout,
    reason = "the summary is the subcommand's output"
)]
fn print_summary(name: &str, status: BatchStatus, elapsed: f64, users: &[UserRecord]) {
    let (mut items, mut bytes, mut skipped) = (0u64, 0u64, 0u64);
    println!(
        "{:<40} {:<20} {:>10} {:>10}  error",
        "EmailAddress", "Status", "Synced", "Skipped"
    );
    for u in users {
        items += u.items_synced;
        bytes += u.bytes_synced;
        skipped += u.items_skipped;
        println!(
            "{:<40} {:<20} {:>10} {:>10}  {}",
            u.email,
            u.status.as_str(),
            u.items_synced,
            u.items_skipped,
            u.last_error.as_deref().unwrap_or("")
        );
    }
    println!(
        "batch {name}: {} in {elapsed:.1} s; {items} messages ({:.1} MB) on the target, {skipped} skipped",
        status.as_str(),
        bytes as f64 / 1e6
    );
}

/// Cancels `token` on SIGINT or SIGTERM so running passes stop at a safe point.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
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
        token.cancel();
    });
}

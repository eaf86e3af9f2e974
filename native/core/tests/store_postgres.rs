//! A batch run end to end on a PostgreSQL store: the state directory's `store.conf` names a
//! database in a private cluster, the cmdlets' operations (`api::handle_json`) create and start
//! a batch of two users (warning that no worker is alive, and starting none), the worker
//! started as on a worker host copies them from a real Dovecot into the embedded
//! Maildir target, and `batch.get` (Get-MigrationBatch) reports the numbers the store holds. A
//! second host's worker starts beside the first; one beside a worker of another version does not.
//! Skipped when PostgreSQL is not installed, unless IMAPMIGRATION_REQUIRE_POSTGRES=1.

#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use imapmigration_testkit::{
    Dovecot, DovecotOptions, Postgres, SeedFolder, SeedMessage, maildir_snapshot,
};
use serde_json::{Value, json};

const WORKER: &str = env!("CARGO_BIN_EXE_imapmigration");

/// A state directory configured for a PostgreSQL store; its worker is killed at the end.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn call(&self, op: &str, mut args: Value) -> Value {
        args["op"] = json!(op);
        args["home"] = json!(self.path());
        args["workerPath"] = json!(WORKER);
        imapmigration::api::handle_json(&args.to_string())
    }
    fn ok(&self, op: &str, args: Value) -> Value {
        let r = self.call(op, args);
        assert_eq!(r["ok"], json!(true), "{op} failed: {r}");
        r["result"].clone()
    }
    fn batch(&self, name: &str) -> Value {
        let r = self.ok("batch.get", json!({"identity": name}));
        r.as_array()
            .and_then(|a| a.first())
            .cloned()
            .expect("batch exists")
    }
    fn log_tail(&self) -> String {
        let mut out = String::new();
        if let Ok(entries) = std::fs::read_dir(self.path().join("logs")) {
            for e in entries.flatten() {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                out.push_str(&lines[lines.len().saturating_sub(40)..].join("\n"));
            }
        }
        out
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        if let Ok(Some(pid)) = imapmigration::process::probe(self.path()) {
            let _ = std::process::Command::new("kill")
                .arg("-9")
                .arg(pid.to_string())
                .status();
        }
    }
}

fn message(user: &str, folder: &str, i: usize) -> SeedMessage {
    let body = format!(
        "Message-ID: <{i}.{folder}.{user}@pg.test>\r\nDate: Mon, 2 Mar 2026 10:{:02}:00 +0000\r\nFrom: s{i}@example.test\r\nTo: {user}@example.test\r\nSubject: {folder} message {i}\r\n\r\nbody {i} of {folder} for {user}\r\n",
        i % 60
    );
    let flags: &[&str] = if i.is_multiple_of(2) {
        &["\\Seen"]
    } else {
        &[]
    };
    SeedMessage::new(body.into_bytes(), flags, 1_767_000_000 + (i as i64) * 60)
}

#[test]
fn a_batch_runs_on_a_postgresql_store_and_get_migrationbatch_reports_it() {
    let Some(pg) = Postgres::start_or_skip() else {
        return;
    };
    let url = pg.create_database("mig").expect("create database");
    let dovecot = Dovecot::start(
        DovecotOptions::default()
            .user("ann", "pw-ann")
            .user("bob", "pw-bob"),
    )
    .expect("dovecot");
    let users = [("ann", 12usize, 5usize), ("bob", 7, 3)];
    for (user, inbox, archive) in users {
        let folders = [("INBOX", inbox), ("Archive", archive)]
            .iter()
            .map(|(f, n)| SeedFolder::new(*f, (0..*n).map(|i| message(user, f, i)).collect()))
            .collect::<Vec<_>>();
        dovecot.seed(user, &folders).expect("seed");
    }

    let home = Home {
        dir: tempfile::tempdir().expect("temp dir"),
    };
    std::fs::write(home.path().join("store.conf"), format!("store = {url}\n")).expect("store.conf");
    home.ok(
        "endpoint.new",
        json!({"name": "src", "remoteServer": "127.0.0.1", "port": dovecot.imap_addr().port(),
               "security": "None", "skipVerification": true}),
    );
    let csv = base64::engine::general_purpose::STANDARD.encode(
        "EmailAddress,UserName,Password\r\nann@contoso.test,ann,pw-ann\r\nbob@contoso.test,bob,pw-bob\r\n",
    );
    // Without a target endpoint the mail would land in the creating host's own Maildir, which
    // the worker hosts do not see: refused, naming the settings, and nothing is created.
    let r = home.call(
        "batch.new",
        json!({"name": "PgBatch", "sourceEndpoint": "src", "csvData": csv, "autoStart": true}),
    );
    assert_eq!(r["error"]["code"], json!("InvalidArgument"), "{r}");
    assert_eq!(
        r["error"]["details"]["parameter"],
        json!("targetEndpoint"),
        "{r}"
    );
    let message = r["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("-TargetEndpoint") && message.contains("-MaildirRoot"),
        "{message}"
    );
    assert_eq!(home.ok("batch.get", json!({})), json!([]));
    assert_eq!(home.ok("config.get", json!({}))["MaildirRoot"], Value::Null);
    let r = home.call("config.set", json!({"maildirRoot": "relative/maildir"}));
    assert_eq!(
        r["error"]["details"]["setting"],
        json!("maildirRoot"),
        "{r}"
    );

    // The directory every worker host mounts.
    let shared = tempfile::tempdir().expect("temp dir");
    let shared_root = shared.path().join("maildir");
    let config = home.ok("config.set", json!({"maildirRoot": shared_root}));
    assert_eq!(config["MaildirRoot"], json!(shared_root), "{config}");

    // The cmdlet starts no worker against a shared store (the request names the binary, as
    // the module's do): it says none is alive.
    let r = home.call(
        "batch.new",
        json!({"name": "PgBatch", "sourceEndpoint": "src", "csvData": csv, "autoStart": true}),
    );
    assert_eq!(r["ok"], json!(true), "{r}");
    assert_eq!(r["result"]["TargetMaildir"], json!(shared_root), "{r}");
    assert!(
        r["warnings"]
            .to_string()
            .contains("no worker is alive on this PostgreSQL store"),
        "{r}"
    );
    assert_eq!(
        imapmigration::process::probe(home.path()).expect("probe"),
        None,
        "a cmdlet started a worker"
    );
    // The worker host's worker (its own state directory with the same key and store.conf), as
    // its systemd unit runs it.
    let worker_host = Home {
        dir: tempfile::tempdir().expect("temp dir"),
    };
    for f in ["secret.key", "store.conf"] {
        std::fs::copy(home.path().join(f), worker_host.path().join(f)).expect("copy");
    }
    std::process::Command::new(WORKER)
        .arg("worker")
        .arg("--home")
        .arg(worker_host.path())
        .arg("--detach")
        .status()
        .expect("start the worker");

    let deadline = Instant::now() + Duration::from_secs(180);
    let b = loop {
        let b = home.batch("PgBatch");
        let status = b["Status"].as_str().unwrap_or_default().to_owned();
        if ["Synced", "SyncedWithErrors", "Failed"].contains(&status.as_str()) {
            break b;
        }
        assert!(
            Instant::now() < deadline,
            "batch still {status}; log:\n{}",
            worker_host.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        b["Status"],
        json!("Synced"),
        "{b}\n{}",
        worker_host.log_tail()
    );
    assert_eq!(b["TotalCount"], json!(2), "{b}");
    assert_eq!(b["SyncedCount"], json!(2), "{b}");
    assert_eq!(b["FailedCount"], json!(0), "{b}");

    // Byte-identical copies, and per-user counts as the store recorded them.
    for (user, inbox, archive) in users {
        let email = format!("{user}@contoso.test");
        let expected = dovecot
            .snapshot(user)
            .expect("source")
            .without_empty_folders();
        let actual = maildir_snapshot(&shared_root.join(&email))
            .expect("target")
            .without_empty_folders();
        let diff = expected.diff(&actual);
        assert!(diff.is_empty(), "{email}: {diff}");
        let s = home.ok("user.statistics", json!({"identity": email}));
        assert_eq!(
            s["SyncedItemCount"].as_u64(),
            Some((inbox + archive) as u64),
            "{s}"
        );
    }
    // Nothing was kept in a local state database, and no host wrote mail of its own.
    for h in [home.path(), worker_host.path()] {
        assert!(!h.join("state.db").exists());
        assert!(!h.join("maildir").exists());
    }
    // The reports the worker host wrote reach the admin host through the store, as files of
    // its own state directory.
    let report = &b["Reports"][0];
    let success = report["SuccessUrl"].as_str().expect("a success report");
    assert!(Path::new(success).starts_with(home.path()), "{report}");
    let text = std::fs::read_to_string(success).expect("read the report");
    for (user, ..) in users {
        assert!(
            text.contains(&format!("{user}@contoso.test,Synced,")),
            "{text}"
        );
    }
    let worker_copy = worker_host
        .path()
        .join("reports/PgBatch/MigrationStatistics.csv");
    assert_eq!(
        std::fs::read_to_string(worker_copy).expect("worker's copy"),
        text
    );

    // A third host's worker on the same store starts beside the first: users are handed out by
    // leases.
    let running = imapmigration::process::probe(worker_host.path())
        .expect("probe")
        .expect("the first worker runs");
    let other = tempfile::tempdir().expect("temp dir");
    for f in ["secret.key", "store.conf"] {
        std::fs::copy(home.path().join(f), other.path().join(f)).expect("copy");
    }
    let lock = imapmigration::process::WorkerLock::try_acquire(other.path())
        .expect("lock")
        .expect("free");
    let second = imapmigration::worker::Scheduler::new(other.path(), &lock)
        .expect("a second worker of the same version starts");
    drop(second);
    let workers = home.ok("config.get", json!({}))["Workers"].clone();
    let pids: Vec<u64> = workers
        .as_array()
        .map(|w| w.iter().filter_map(|w| w["Pid"].as_u64()).collect())
        .unwrap_or_default();
    assert!(pids.contains(&u64::from(running)), "{workers}");
    assert_eq!(pids.len(), 2, "{workers}");
    assert!(
        workers
            .as_array()
            .is_some_and(|w| w.iter().all(|w| w["UsersHeld"] == json!(0))),
        "{workers}"
    );

    // A live worker of another version on the store: a new worker refuses to start beside
    // it, naming it and the side to update.
    let pg_store = imapmigration_store::pg::PgStore::open(
        other.path(),
        &imapmigration_store::location::PgLocation::new(
            &url,
            imapmigration_store::location::Setting::Env,
        )
        .expect("location"),
    )
    .expect("open");
    pg_store
        .worker_register("old-worker", 4242, "old-host", "0.0.1")
        .expect("register");
    let err = imapmigration::worker::Scheduler::new(other.path(), &lock)
        .err()
        .expect("a worker beside another version is refused");
    let text = err.to_string();
    assert!(
        matches!(
            err,
            imapmigration::worker::WorkerError::SharedStoreOtherVersion { pid: 4242, .. }
        ),
        "{text}"
    );
    assert!(
        text.contains("ImapMigration 0.0.1")
            && text.contains("old-host")
            && text.contains("update the older side"),
        "{text}"
    );
}

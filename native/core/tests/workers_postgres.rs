//! Three worker processes (the real binary, each with a state directory of its own, as on three
//! hosts: the same `secret.key` and `store.conf`) run one batch of 30 users from a PostgreSQL
//! store. Users are handed out by leases: every user is copied by one pass, byte-identical;
//! the worker copying the large mailbox is SIGKILLed mid-copy, and another takes the user
//! over once the lease expired and finishes it with no duplicate and no gap; the store's own
//! lease records show no user ever held by two workers at once.
//! Skipped when PostgreSQL is not installed, unless IMAPMIGRATION_REQUIRE_POSTGRES=1.

#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]
#![allow(
    unsafe_code,
    reason = "the environment is set once, before this process starts any thread of its own"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use imapmigration_store::location::{PgLocation, Setting};
use imapmigration_store::pg::{PgStore, overlapping_leases};
use imapmigration_testkit::{
    DelayProxy, Dovecot, DovecotOptions, Postgres, SeedFolder, SeedMessage, maildir_snapshot,
};
use serde_json::{Value, json};

const WORKER: &str = env!("CARGO_BIN_EXE_imapmigration");

/// Small users, and the one large mailbox whose worker is killed.
const SMALL_USERS: usize = 29;
const SMALL_MESSAGES: usize = 4;
const BIG_MESSAGES: usize = 400;
const BIG: &str = "big";
/// The source endpoint's MaxConcurrentMigrations, which holds over all three workers together
/// (each would run four users at once on its own).
const ENDPOINT_LIMIT: usize = 3;

/// Workers started by the test, SIGKILLed when it ends however it ends.
struct Workers(Vec<(PathBuf, Child)>);

impl Drop for Workers {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Workers {
    /// The tail of every worker's log, for failure messages.
    fn logs(&self) -> String {
        let mut out = String::new();
        for (home, _) in &self.0 {
            out.push_str(&format!("--- {}\n", home.display()));
            for e in std::fs::read_dir(home.join("logs"))
                .into_iter()
                .flatten()
                .flatten()
            {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                out.push_str(&lines[lines.len().saturating_sub(25)..].join("\n"));
                out.push('\n');
            }
            out.push_str(&std::fs::read_to_string(home.join("stderr")).unwrap_or_default());
        }
        out
    }
}

fn call(home: &Path, op: &str, mut args: Value) -> Value {
    // No workerPath: the admin's calls never start a worker of their own.
    args["op"] = json!(op);
    args["home"] = json!(home);
    let r = imapmigration::api::handle_json(&args.to_string());
    assert_eq!(r["ok"], json!(true), "{op} failed: {r}");
    r["result"].clone()
}

fn message(user: &str, folder: &str, i: usize, size: usize) -> SeedMessage {
    let mut body = format!(
        "Message-ID: <{i}.{folder}.{user}@workers.test>\r\nDate: Mon, 2 Mar 2026 10:{:02}:00 +0000\r\nFrom: s{i}@example.test\r\nTo: {user}@example.test\r\nSubject: {folder} {i} for {user}\r\n\r\n",
        i % 60
    )
    .into_bytes();
    while body.len() < size {
        body.extend_from_slice(
            format!("line of message {i} in {folder} for {user}\r\n").as_bytes(),
        );
    }
    let flags: &[&str] = if i.is_multiple_of(2) {
        &["\\Seen"]
    } else {
        &[]
    };
    SeedMessage::new(body, flags, 1_767_000_000 + (i as i64) * 60)
}

/// Files in the `cur/` directories under `root`: what landed on the Maildir target.
fn landed(root: &Path) -> usize {
    let mut n = 0;
    let mut dirs = vec![root.to_owned()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if d.file_name().is_some_and(|f| f == "cur") {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn three_workers_share_a_batch_by_leases_and_one_killed_mid_user_is_taken_over() {
    // SAFETY: the only test of this binary, before it starts any thread; the workers inherit
    // these short clocks (heartbeat 1 s, lease and staleness 3 s), and Get-MigrationConfig's
    // `Alive` here uses them too.
    unsafe {
        std::env::set_var("IMAPMIGRATION_WORKER_HEARTBEAT_SECS", "1");
        std::env::set_var("IMAPMIGRATION_WORKER_STALE_SECS", "3");
    }
    let Some(pg) = Postgres::start_or_skip() else {
        return;
    };
    let url = pg.create_database("workers").expect("create database");
    let small: Vec<String> = (0..SMALL_USERS).map(|i| format!("u{i:02}")).collect();
    let mut options = DovecotOptions::default().user(BIG, "pw");
    for u in &small {
        options = options.user(u, "pw");
    }
    let dovecot = Dovecot::start(options).expect("dovecot");
    let big_folders = vec![SeedFolder::new(
        "INBOX",
        (0..BIG_MESSAGES)
            .map(|i| message(BIG, "INBOX", i, 6_000))
            .collect(),
    )];
    dovecot.seed(BIG, &big_folders).expect("seed");
    for u in &small {
        let folders = [("INBOX", SMALL_MESSAGES), ("Archive", 2)]
            .iter()
            .map(|(f, n)| SeedFolder::new(*f, (0..*n).map(|i| message(u, f, i, 300)).collect()))
            .collect::<Vec<_>>();
        dovecot.seed(u, &folders).expect("seed");
    }
    // Latency on every source round trip, so the large mailbox takes seconds to copy.
    let link = DelayProxy::start(dovecot.imap_addr(), Duration::from_millis(15)).expect("proxy");

    // The admin's state directory: the batch is created here, the mail goes to its `maildir`.
    let admin = tempfile::tempdir().expect("temp dir");
    std::fs::write(admin.path().join("store.conf"), format!("store = {url}\n")).expect("conf");
    call(
        admin.path(),
        "endpoint.new",
        json!({"name": "src", "remoteServer": "127.0.0.1", "port": link.port(),
               "security": "None", "skipVerification": true,
               "maxConcurrentMigrations": ENDPOINT_LIMIT}),
    );
    // Four passes at a time per worker: the users spread over the three. The Maildir target
    // stands for the directory every host mounts.
    call(
        admin.path(),
        "config.set",
        json!({"maxConcurrentMigrations": 4, "maildirRoot": admin.path().join("maildir")}),
    );
    let mut csv = "EmailAddress,UserName,Password\r\n".to_owned();
    for u in std::iter::once(BIG).chain(small.iter().map(String::as_str)) {
        csv.push_str(&format!("{u}@contoso.test,{u},pw\r\n"));
    }
    let csv = base64::engine::general_purpose::STANDARD.encode(csv);
    call(
        admin.path(),
        "batch.new",
        json!({"name": "Shared", "sourceEndpoint": "src", "csvData": csv}),
    );

    // Three "hosts": their own state directories with the deployment's key and store.conf.
    let hosts: Vec<tempfile::TempDir> = (0..3)
        .map(|_| {
            let d = tempfile::tempdir().expect("temp dir");
            for f in ["secret.key", "store.conf"] {
                std::fs::copy(admin.path().join(f), d.path().join(f)).expect("copy");
            }
            d
        })
        .collect();
    let mut workers = Workers(Vec::new());
    for h in &hosts {
        let stderr = std::fs::File::create(h.path().join("stderr")).expect("stderr file");
        let child = Command::new(WORKER)
            .arg("worker")
            .arg("--home")
            .arg(h.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start a worker");
        workers.0.push((h.path().to_owned(), child));
    }
    let location = PgLocation::new(&url, Setting::Env).expect("location");
    let store = PgStore::open(admin.path(), &location).expect("open the store");
    let deadline = Instant::now() + Duration::from_secs(30);
    while store
        .workers()
        .expect("workers")
        .iter()
        .filter(|w| w.alive)
        .count()
        < 3
    {
        assert!(
            Instant::now() < deadline,
            "three workers did not register:\n{}",
            workers.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    call(admin.path(), "batch.start", json!({"identity": "Shared"}));

    // The worker copying the large mailbox is killed mid-copy.
    let mailbox = |u: &str| {
        admin
            .path()
            .join("maildir")
            .join(format!("{u}@contoso.test"))
    };
    let big_mailbox = mailbox(BIG);
    let deadline = Instant::now() + Duration::from_secs(30);
    while landed(&big_mailbox) < 40 {
        assert!(
            Instant::now() < deadline,
            "the large mailbox is not being copied:\n{}",
            workers.logs()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let holder = store
        .workers()
        .expect("workers")
        .into_iter()
        .find(|w| w.users_held > 0 && store.holds(&w.id, &big_user_id(&pg, &url)).expect("holds"))
        .expect("a worker holds the large mailbox");
    let (_, child) = workers
        .0
        .iter_mut()
        .find(|(_, c)| c.id() == holder.pid)
        .expect("the holder is one of ours");
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let at_kill = landed(&big_mailbox);
    assert!(
        at_kill < BIG_MESSAGES,
        "the large mailbox was copied before the kill"
    );

    let deadline = Instant::now() + Duration::from_secs(45);
    let b = loop {
        let b = call(admin.path(), "batch.get", json!({"identity": "Shared"}))[0].clone();
        let status = b["Status"].as_str().unwrap_or_default().to_owned();
        if ["Synced", "SyncedWithErrors", "Failed"].contains(&status.as_str()) {
            break b;
        }
        assert!(
            Instant::now() < deadline,
            "batch still {status}: {b}\n{}",
            workers.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(b["Status"], json!("Synced"), "{b}\n{}", workers.logs());
    assert_eq!(b["TotalCount"], json!(SMALL_USERS + 1), "{b}");
    assert_eq!(b["SyncedCount"], json!(SMALL_USERS + 1), "{b}");

    // Every user byte-identical, copied by one finished pass, nothing twice.
    for u in std::iter::once(BIG).chain(small.iter().map(String::as_str)) {
        let expected = dovecot.snapshot(u).expect("source").without_empty_folders();
        let actual = maildir_snapshot(&mailbox(u))
            .expect("target")
            .without_empty_folders();
        let diff = expected.diff(&actual);
        assert!(diff.is_empty(), "{u}: {diff}");
        let want = if u == BIG {
            BIG_MESSAGES
        } else {
            SMALL_MESSAGES + 2
        };
        assert_eq!(landed(&mailbox(u)), want, "{u}: duplicates on the target");
    }
    let passes = pg
        .psql(
            "workers",
            "SELECT count(*) FROM users WHERE passes <> 1 OR lease_worker IS NOT NULL",
        )
        .expect("psql");
    assert_eq!(passes.trim(), "0", "a user ran more or fewer than one pass");

    // The store's own records: no user held by two workers at once; the large mailbox was
    // held by the killed worker and then by another; the work was spread.
    let history = store.lease_history().expect("lease history");
    let overlaps = overlapping_leases(&history);
    assert!(overlaps.is_empty(), "{overlaps:?}");
    let big_id = big_user_id(&pg, &url);
    let big_holders: Vec<&str> = history
        .iter()
        .filter(|s| s.user_id == big_id)
        .map(|s| s.worker_id.as_str())
        .collect();
    assert_eq!(
        big_holders.first(),
        Some(&holder.id.as_str()),
        "{history:?}"
    );
    assert!(
        big_holders.iter().any(|w| *w != holder.id),
        "no other worker took the large mailbox over: {history:?}"
    );
    // The endpoint's limit held over all workers: never more users held at once than it
    // allows (a dead worker's lease counts until it expired), and it was reached.
    let most = most_held_at_once(&history);
    assert!(
        (2..=ENDPOINT_LIMIT).contains(&most),
        "{most} users held at once: {history:?}"
    );
    let mut ran: Vec<&str> = history.iter().map(|s| s.worker_id.as_str()).collect();
    ran.sort_unstable();
    ran.dedup();
    assert_eq!(ran.len(), 3, "every worker ran users: {history:?}");

    // Get-MigrationConfig lists the workers of every host: two alive, the killed one not.
    let listed = call(admin.path(), "config.get", json!({}))["Workers"].clone();
    let alive = listed
        .as_array()
        .map(|w| w.iter().filter(|w| w["Alive"] == json!(true)).count())
        .unwrap_or_default();
    assert_eq!(alive, 2, "{listed}");
    assert!(
        listed
            .as_array()
            .is_some_and(|w| w.iter().all(|w| w["UsersHeld"] == json!(0)
                && w["Host"].is_string()
                && w["Version"].is_string())),
        "{listed}"
    );
}

/// The id of the large mailbox's user row.
fn big_user_id(pg: &Postgres, _url: &str) -> String {
    pg.psql(
        "workers",
        &format!("SELECT id FROM users WHERE email = '{BIG}@contoso.test'"),
    )
    .expect("psql")
    .trim()
    .to_owned()
}

/// The largest number of leases held at one moment.
fn most_held_at_once(history: &[imapmigration_store::pg::LeaseSpan]) -> usize {
    // Ends sort before starts at the same instant: a lease released and another taken in the
    // same microsecond were not held together.
    let mut edges: Vec<(imapmigration_store::Timestamp, i32)> = Vec::new();
    for s in history {
        edges.push((s.acquired_at, 1));
        edges.push((
            s.ended_at
                .unwrap_or(imapmigration_store::Timestamp::MAX_UTC),
            -1,
        ));
    }
    edges.sort();
    let (mut held, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        held += d;
        most = most.max(held);
    }
    usize::try_from(most).unwrap_or_default()
}

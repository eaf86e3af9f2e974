//! Shared set-up of the `workers_*` tests: a deployment of several worker processes (the real
//! binary, each with a state directory of its own, as on separate hosts: the same `secret.key`
//! and `store.conf`) on one PostgreSQL store, running a batch from each of one or more real
//! Dovecot servers behind delaying links into a Maildir target every "host" sees, and the
//! checks that every user was copied exactly once.
//!
//! Included by each `workers_*.rs` with `#[path = "workers_support.rs"] mod support;`; compiled
//! on its own as well, as an empty test crate.
#![allow(
    dead_code,
    reason = "each workers_* test crate uses only some of the helpers"
)]
#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use imapmigration_store::location::{PgLocation, Setting};
use imapmigration_store::pg::{LeaseSpan, PgStore};
use imapmigration_testkit::{
    DelayProxy, Dovecot, DovecotOptions, Postgres, SeedFolder, SeedMessage, maildir_snapshot,
};
use serde_json::{Value, json};

/// The worker binary.
pub const WORKER: &str = env!("CARGO_BIN_EXE_imapmigration");

/// The user with the large mailbox, which takes seconds to copy.
pub const BIG: &str = "big";
/// Messages of every small user: in INBOX, plus two in Archive.
pub const SMALL_MESSAGES: usize = 4;
/// The short clocks the workers run with: a beat every second, leases and staleness 3 s.
pub const CLOCKS: [(&str, &str); 2] = [
    ("IMAPMIGRATION_WORKER_HEARTBEAT_SECS", "1"),
    ("IMAPMIGRATION_WORKER_STALE_SECS", "3"),
];

/// What a deployment is made of.
pub struct Shape {
    /// The PostgreSQL database's name.
    pub database: &'static str,
    /// Source servers, each with an endpoint and a batch of its own (`Shared0`, `Shared1`...);
    /// [`BIG`] is on the first.
    pub sources: usize,
    /// Users besides [`BIG`], spread over the sources in turn.
    pub small_users: usize,
    /// Messages in [`BIG`]'s INBOX.
    pub big_messages: usize,
    /// Worker processes.
    pub workers: usize,
    /// Each source endpoint's MaxConcurrentMigrations.
    pub endpoint_limit: usize,
}

/// Workers started by the test, SIGKILLed when it ends however it ends.
pub struct Workers(pub Vec<(PathBuf, Child)>);

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
    pub fn logs(&self) -> String {
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

    /// The workers that exited, with their exit status.
    pub fn exited(&mut self) -> Vec<String> {
        self.0
            .iter_mut()
            .filter_map(|(home, c)| match c.try_wait() {
                Ok(Some(status)) => Some(format!("{}: {status}", home.display())),
                _ => None,
            })
            .collect()
    }
}

/// A cmdlet's operation in the admin's state directory; panics unless it succeeded.
pub fn call(home: &Path, op: &str, mut args: Value) -> Value {
    // No workerPath: the admin's calls never start a worker of their own.
    args["op"] = json!(op);
    args["home"] = json!(home);
    let r = imapmigration::api::handle_json(&args.to_string());
    assert_eq!(r["ok"], json!(true), "{op} failed: {r}");
    r["result"].clone()
}

/// A message of `size` bytes or a little more, every other one `\Seen`.
pub fn message(user: &str, folder: &str, i: usize, size: usize) -> SeedMessage {
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

pub use imapmigration_testkit::landed_in_maildir as landed;

/// The largest number of users held for a pass at one moment (not counting the moments a
/// worker held a dead worker's user only to queue it again).
pub fn most_held_at_once(history: &[LeaseSpan]) -> usize {
    // Ends sort before starts at the same instant: a lease released and another taken in the
    // same microsecond were not held together.
    let mut edges: Vec<(imapmigration_store::Timestamp, i32)> = Vec::new();
    for s in history
        .iter()
        .filter(|s| s.end_reason.as_deref() != Some("requeued"))
    {
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

/// One source server with its endpoint and batch.
pub struct Source {
    /// The server.
    pub dovecot: Dovecot,
    /// The delaying link the workers reach it through.
    pub link: DelayProxy,
    /// Its endpoint's name (`src0`, `src1`...).
    pub endpoint: String,
    /// Its batch's name (`Shared0`, `Shared1`...).
    pub batch: String,
    /// Its users, in CSV order.
    pub users: Vec<String>,
}

/// A running deployment; everything is stopped when it is dropped.
pub struct Deployment {
    /// What was started.
    pub shape: Shape,
    /// The source servers.
    pub sources: Vec<Source>,
    /// The admin's state directory: the batches are created here, the mail goes to its
    /// `maildir`, which stands for the directory every host mounts.
    pub admin: tempfile::TempDir,
    /// The workers' state directories.
    pub hosts: Vec<tempfile::TempDir>,
    /// The worker processes, one per host.
    pub workers: Workers,
    /// The test's own handle on the shared store.
    pub store: PgStore,
    /// The store's connection string.
    pub url: String,
    /// The database; last, so that the workers are killed before it goes.
    pub pg: Postgres,
}

impl Deployment {
    /// Starts PostgreSQL, the sources with their users seeded, their endpoints and batches
    /// (not started) and the workers, and waits until every worker registered. `None` when
    /// PostgreSQL is not installed (and not required).
    pub fn start(shape: Shape) -> Option<Deployment> {
        let pg = Postgres::start_or_skip()?;
        let url = pg.create_database(shape.database).expect("create database");
        let admin = tempfile::tempdir().expect("temp dir");
        std::fs::write(admin.path().join("store.conf"), format!("store = {url}\n")).expect("conf");
        // Four passes at a time per worker: the users spread over the workers.
        call(
            admin.path(),
            "config.set",
            json!({"maxConcurrentMigrations": 4, "maildirRoot": admin.path().join("maildir")}),
        );
        let mut sources = Vec::new();
        for n in 0..shape.sources.max(1) {
            let mut users: Vec<String> = (0..shape.small_users)
                .filter(|i| i % shape.sources.max(1) == n)
                .map(|i| format!("u{i:02}"))
                .collect();
            if n == 0 {
                users.insert(0, BIG.to_owned());
            }
            let mut options = DovecotOptions::default();
            for u in &users {
                options = options.user(u, "pw");
            }
            let dovecot = Dovecot::start(options).expect("dovecot");
            for u in &users {
                let folders = if u == BIG {
                    vec![SeedFolder::new(
                        "INBOX",
                        (0..shape.big_messages)
                            .map(|i| message(BIG, "INBOX", i, 6_000))
                            .collect(),
                    )]
                } else {
                    [("INBOX", SMALL_MESSAGES), ("Archive", 2)]
                        .iter()
                        .map(|(f, k)| {
                            SeedFolder::new(*f, (0..*k).map(|i| message(u, f, i, 300)).collect())
                        })
                        .collect()
                };
                dovecot.seed(u, &folders).expect("seed");
            }
            // Latency on every source round trip and 1 MB/s per connection, so that the large
            // mailbox (2.4 MB) takes seconds to copy however few round trips the copy waits for.
            let link = DelayProxy::start_limited(
                dovecot.imap_addr(),
                Duration::from_millis(15),
                1_000_000,
            )
            .expect("proxy");
            let endpoint = format!("src{n}");
            call(
                admin.path(),
                "endpoint.new",
                json!({"name": endpoint, "remoteServer": "127.0.0.1", "port": link.port(),
                       "security": "None", "skipVerification": true,
                       "maxConcurrentMigrations": shape.endpoint_limit}),
            );
            let mut csv = "EmailAddress,UserName,Password\r\n".to_owned();
            for u in &users {
                csv.push_str(&format!("{u}@contoso.test,{u},pw\r\n"));
            }
            let csv = base64::engine::general_purpose::STANDARD.encode(csv);
            let batch = format!("Shared{n}");
            call(
                admin.path(),
                "batch.new",
                json!({"name": batch, "sourceEndpoint": endpoint, "csvData": csv}),
            );
            sources.push(Source {
                dovecot,
                link,
                endpoint,
                batch,
                users,
            });
        }

        // The "hosts": their own state directories with the deployment's key and store.conf.
        let hosts: Vec<tempfile::TempDir> = (0..shape.workers)
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
                .envs(CLOCKS)
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
            < shape.workers
        {
            assert!(
                Instant::now() < deadline,
                "the workers did not register:\n{}",
                workers.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Deployment {
            shape,
            sources,
            admin,
            hosts,
            workers,
            store,
            url,
            pg,
        })
    }

    /// The admin's state directory.
    pub fn admin(&self) -> &Path {
        self.admin.path()
    }

    /// Starts every batch, as Start-MigrationBatch does.
    pub fn start_batches(&self) {
        for s in &self.sources {
            call(self.admin(), "batch.start", json!({"identity": s.batch}));
        }
    }

    /// The Maildir mailbox of `user` on the target.
    pub fn mailbox(&self, user: &str) -> PathBuf {
        self.admin()
            .join("maildir")
            .join(format!("{user}@contoso.test"))
    }

    /// Waits until at least `n` messages of [`BIG`] landed.
    pub fn wait_until_big_has(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while landed(&self.mailbox(BIG)) < n {
            assert!(
                Instant::now() < deadline,
                "the large mailbox is not being copied:\n{}",
                self.workers.logs()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every batch once it stopped running, within `limit`.
    pub fn wait_for_batches_end(&self, limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        self.sources
            .iter()
            .map(|s| {
                loop {
                    let b =
                        call(self.admin(), "batch.get", json!({"identity": s.batch}))[0].clone();
                    let status = b["Status"].as_str().unwrap_or_default().to_owned();
                    if ["Synced", "SyncedWithErrors", "Failed"].contains(&status.as_str()) {
                        break b;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "batch {} still {status}: {b}\n{}",
                        s.batch,
                        self.workers.logs()
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
            .collect()
    }

    /// Every batch is Synced with every user, each byte-identical with its source, copied by
    /// one finished pass with nothing twice, and no lease left.
    pub fn check_every_user_copied_once(&self, batches: &[Value]) {
        for (s, b) in self.sources.iter().zip(batches) {
            let total = s.users.len();
            assert_eq!(b["Status"], json!("Synced"), "{b}\n{}", self.workers.logs());
            assert_eq!(b["TotalCount"], json!(total), "{b}");
            assert_eq!(b["SyncedCount"], json!(total), "{b}");
            for u in &s.users {
                let expected = s
                    .dovecot
                    .snapshot(u)
                    .expect("source")
                    .without_empty_folders();
                let actual = maildir_snapshot(&self.mailbox(u))
                    .expect("target")
                    .without_empty_folders();
                let diff = expected.diff(&actual);
                assert!(diff.is_empty(), "{u}: {diff}");
                let want = if u == BIG {
                    self.shape.big_messages
                } else {
                    SMALL_MESSAGES + 2
                };
                assert_eq!(
                    landed(&self.mailbox(u)),
                    want,
                    "{u}: duplicates on the target"
                );
            }
        }
        let passes = self
            .pg
            .psql(
                self.shape.database,
                "SELECT count(*) FROM users WHERE passes <> 1 OR lease_worker IS NOT NULL",
            )
            .expect("psql");
        assert_eq!(passes.trim(), "0", "a user ran more or fewer than one pass");
    }

    /// The ids of the user rows of `batch`.
    pub fn user_ids_of(&self, batch: &str) -> Vec<String> {
        self.pg
            .psql(
                self.shape.database,
                &format!(
                    "SELECT u.id FROM users u JOIN batches b ON b.id = u.batch_id WHERE b.name = '{batch}'"
                ),
            )
            .expect("psql")
            .lines()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// The id of [`BIG`]'s user row.
    pub fn big_user_id(&self) -> String {
        self.pg
            .psql(
                self.shape.database,
                &format!("SELECT id FROM users WHERE email = '{BIG}@contoso.test'"),
            )
            .expect("psql")
            .trim()
            .to_owned()
    }
}

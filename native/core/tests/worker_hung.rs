//! A hung worker: stopped with SIGSTOP mid-pass, it keeps `worker.lock` but writes no heartbeat.
//! The next batch operation names it, ends it and starts a new worker, which runs the batch to
//! Synced with every message on the target exactly once; the stopped worker never runs again.
//!
//! Its own test binary: it shortens the heartbeat and the staleness of workers through the
//! environment (`IMAPMIGRATION_WORKER_HEARTBEAT_SECS`, `IMAPMIGRATION_WORKER_STALE_SECS`) for
//! the whole process, which must not reach the workers of other tests.

#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]
#![allow(
    unsafe_code,
    reason = "the environment is set once, before this process starts any thread of its own"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use imapmigration_testkit::{Dovecot, DovecotOptions, SeedFolder, SeedMessage, maildir_snapshot};
use serde_json::{Value, json};

const WORKER: &str = env!("CARGO_BIN_EXE_imapmigration");

struct Home {
    dir: tempfile::TempDir,
    /// Every worker pid seen, killed at the end (a stopped one too).
    seen: std::cell::RefCell<Vec<u32>>,
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
    fn worker_pid(&self) -> Option<u32> {
        let pid = imapmigration::process::probe(self.path()).ok().flatten();
        if let Some(p) = pid {
            self.seen.borrow_mut().push(p);
        }
        pid
    }
    fn user(&self, email: &str) -> Value {
        self.ok("user.statistics", json!({"identity": email}))
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        for pid in self.seen.borrow().iter() {
            signal("-KILL", *pid);
        }
    }
}

fn signal(which: &str, pid: u32) -> bool {
    std::process::Command::new("kill")
        .arg(which)
        .arg(pid.to_string())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether every thread of `pid` is stopped (state `T` in `/proc/<pid>/task/*/stat`).
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|t| {
        std::fs::read_to_string(t.path().join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, rest)| rest.trim_start().chars().next())
            })
            .is_some_and(|state| state == 'T' || state == 't')
    })
}

fn message(folder: &str, i: usize) -> SeedMessage {
    let mut body = format!(
        "Message-ID: <{i}.{folder}@hung.test>\r\nDate: Mon, 2 Mar 2026 10:{:02}:00 +0000\r\nFrom: s{i}@example.test\r\nTo: una@example.test\r\nSubject: {folder} {i}\r\n\r\n",
        i % 60
    )
    .into_bytes();
    while body.len() < 8_000 {
        body.extend_from_slice(format!("line of message {i} in {folder}\r\n").as_bytes());
    }
    SeedMessage::new(body, &["\\Seen"], 1_767_000_000 + (i as i64) * 60)
}

use imapmigration_testkit::landed_in_maildir as landed;

#[test]
fn a_hung_worker_is_named_ended_and_replaced_and_nothing_is_copied_twice() {
    // SAFETY: no other thread of this process runs yet (one test in this binary, and the
    // harness's own thread waits for it); every worker started later inherits these.
    unsafe {
        std::env::set_var("IMAPMIGRATION_WORKER_HEARTBEAT_SECS", "1");
        std::env::set_var("IMAPMIGRATION_WORKER_STALE_SECS", "3");
    }
    let dovecot = Dovecot::start(DovecotOptions::default().user("una", "pw-una")).expect("dovecot");
    let folders = [("INBOX", 700usize), ("Archive", 500), ("Sent", 300)];
    let seeded: Vec<SeedFolder> = folders
        .iter()
        .map(|(f, n)| SeedFolder::new(*f, (0..*n).map(|i| message(f, i)).collect()))
        .collect();
    dovecot.seed("una", &seeded).expect("seed");
    // 100 ms each way: the pass takes many seconds, so the worker is stopped mid-copy.
    let link =
        imapmigration_testkit::DelayProxy::start(dovecot.imap_addr(), Duration::from_millis(100))
            .expect("delay proxy");
    let home = Home {
        dir: tempfile::tempdir().expect("temp dir"),
        seen: Default::default(),
    };
    home.ok(
        "endpoint.new",
        json!({"name": "src", "remoteServer": "127.0.0.1", "port": link.port(), "security": "None", "skipVerification": true}),
    );
    let csv = base64::engine::general_purpose::STANDARD
        .encode("EmailAddress,UserName,Password\r\nuna@contoso.test,una,pw-una\r\n");
    home.ok(
        "batch.new",
        json!({"name": "Hung", "sourceEndpoint": "src", "csvData": csv, "autoStart": true}),
    );
    let mailbox = home.path().join("maildir").join("una@contoso.test");
    let deadline = Instant::now() + Duration::from_secs(120);
    while landed(&mailbox) < 100 {
        assert!(Instant::now() < deadline, "the copy did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let hung = home.worker_pid().expect("a worker runs");
    assert!(signal("-STOP", hung), "SIGSTOP {hung}");
    // The kernel stops each thread as it next runs: under load a thread can still finish what
    // it was doing after `kill` returned. Counted once every thread is stopped.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !all_threads_stopped(hung) {
        assert!(Instant::now() < deadline, "{hung} did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
    let stopped_at = landed(&mailbox);
    assert!(stopped_at < 1500, "the copy finished before the stop");

    // Past the staleness (3 s here): the worker still holds the lock, and shows not Alive.
    std::thread::sleep(Duration::from_millis(4_500));
    assert_eq!(
        home.worker_pid(),
        Some(hung),
        "a stopped worker keeps its lock"
    );
    let workers = home.ok("config.get", json!({}))["Workers"].clone();
    assert_eq!(workers[0]["Pid"], json!(hung), "{workers}");
    assert_eq!(workers[0]["Alive"], json!(false), "{workers}");
    assert_eq!(landed(&mailbox), stopped_at, "a stopped worker wrote");

    // The next batch operation names it, ends it and starts a new one, once.
    let r = home.call("batch.get", json!({"identity": "Hung"}));
    assert_eq!(r["ok"], json!(true), "{r}");
    let warnings = r["warnings"].to_string();
    assert!(
        warnings.contains(&format!("the worker (pid {hung})"))
            && warnings.contains("has not reported since")
            && warnings.contains("it was hung and has been ended")
            && warnings.contains("started a new one (pid")
            && warnings.contains("to resume the batch(es) Hung"),
        "{r}"
    );
    let new = home.worker_pid().expect("the call started a worker");
    assert_ne!(new, hung);
    let again = home.call("batch.get", json!({"identity": "Hung"}));
    assert_eq!(again.get("warnings"), None, "warned twice: {again}");
    // The stopped worker is gone for good: continuing it does nothing.
    let gone = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{hung}")).exists() && Instant::now() < gone {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !Path::new(&format!("/proc/{hung}")).exists(),
        "the hung worker still exists"
    );
    assert!(!signal("-CONT", hung), "the hung worker could be continued");

    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let b = home.ok("batch.get", json!({"identity": "Hung"}));
        let status = b[0]["Status"].as_str().unwrap_or_default().to_owned();
        if status == "Synced" || status == "SyncedWithErrors" {
            assert_eq!(status, "Synced", "{b}");
            break;
        }
        assert!(Instant::now() < deadline, "still {status}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        home.user("una@contoso.test")["SyncedItemCount"],
        json!(1500)
    );
    let diff = dovecot
        .snapshot("una")
        .expect("source")
        .without_empty_folders()
        .diff(
            &maildir_snapshot(&mailbox)
                .expect("target")
                .without_empty_folders(),
        );
    assert!(diff.is_empty(), "{diff}");
    assert_eq!(landed(&mailbox), 1500, "duplicates on the target");
    let workers = home.ok("config.get", json!({}))["Workers"].clone();
    let pids: Vec<u64> = workers
        .as_array()
        .map(|w| w.iter().filter_map(|w| w["Pid"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(pids, [u64::from(new)], "{workers}");
}

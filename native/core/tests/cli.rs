//! The `imapmigration migrate` subcommand: the same engine and store as the cmdlets, driven from
//! a shell, against a real Dovecot.

#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

use std::process::Command;
use std::time::{Duration, Instant};

use imapmigration_testkit::{Dovecot, DovecotOptions, SeedFolder, SeedMessage, maildir_snapshot};

const BIN: &str = env!("CARGO_BIN_EXE_imapmigration");

fn message(i: usize) -> SeedMessage {
    let body = format!(
        "Message-ID: <{i}@cli.test>\r\nDate: Tue, 3 Mar 2026 09:00:00 +0000\r\nFrom: a@example.test\r\nTo: b@example.test\r\nSubject: cli {i}\r\n\r\nbody {i}\r\n{}\r\n",
        "x".repeat(i * 37 % 4000)
    );
    SeedMessage::new(
        body,
        if i.is_multiple_of(2) {
            &["\\Seen"]
        } else {
            &[]
        },
        1_770_000_000 + i as i64,
    )
}

fn seed(d: &Dovecot, user: &str) {
    d.seed(
        user,
        &[
            SeedFolder::new("INBOX", (0..40).map(message).collect()),
            SeedFolder::new("Projects/Ré", (40..55).map(message).collect()),
        ],
    )
    .expect("seed");
}

#[test]
fn migrate_copies_a_csv_into_a_maildir_and_reports_a_summary() {
    let d = Dovecot::start(
        DovecotOptions::default()
            .user("ann", "pw-ann-77")
            .user("bob", "pw-bob-77"),
    )
    .expect("dovecot");
    seed(&d, "ann");
    seed(&d, "bob");
    let work = tempfile::tempdir().expect("tmp");
    let csv = work.path().join("users.csv");
    std::fs::write(&csv, "EmailAddress,UserName,Password\r\nann@contoso.test,ann,pw-ann-77\r\nbob@contoso.test,bob,pw-bob-77\r\n").unwrap();
    let target = work.path().join("mail");
    let out = Command::new(BIN)
        // Every command traced: the log names each command, never its arguments.
        .env("IMAPMIGRATION_LOG", "trace")
        .args(["migrate", "--quiet", "--name", "CliBatch", "--csv"])
        .arg(&csv)
        .arg("--source")
        .arg(format!("imap://127.0.0.1:{}", d.imap_port()))
        .arg("--target")
        .arg(format!("maildir:{}", target.display()))
        .arg("--home")
        .arg(work.path().join("state"))
        .output()
        .expect("run migrate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "migrate failed: {stdout}\n{stderr}");
    assert!(stdout.contains("batch CliBatch: Synced"), "{stdout}");
    assert!(stdout.contains("110 messages"), "{stdout}");
    assert!(
        !stdout.contains("pw-ann-77") && !stderr.contains("pw-ann-77"),
        "a password leaked"
    );
    // The run keeps a log in the state directory, as the worker does.
    let logs: Vec<_> = std::fs::read_dir(work.path().join("state/logs"))
        .expect("a logs directory")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("migrate."))
        .collect();
    assert_eq!(logs.len(), 1, "one migrate log");
    let log = std::fs::read_to_string(logs[0].path()).unwrap();
    assert!(log.contains("batch CliBatch started"), "{log}");
    assert!(log.contains("command=\"LOGIN\""), "{log}");
    assert!(
        !log.contains("pw-ann-77") && !log.contains("pw-bob-77"),
        "a password in the log"
    );
    for u in ["ann", "bob"] {
        let expected = d.snapshot(u).unwrap().without_empty_folders();
        let actual = maildir_snapshot(&target.join(format!("{u}@contoso.test")))
            .unwrap()
            .without_empty_folders();
        let diff = expected.diff(&actual);
        assert!(diff.is_empty(), "{diff}");
    }

    // The same command run again continues the same batch: nothing is copied twice, the
    // summary still counts every message, and the exit code is 0.
    let again = Command::new(BIN)
        .args(["migrate", "--quiet", "--name", "CliBatch", "--csv"])
        .arg(&csv)
        .arg("--source")
        .arg(format!("imap://127.0.0.1:{}", d.imap_port()))
        .arg("--target")
        .arg(format!("maildir:{}", target.display()))
        .arg("--home")
        .arg(work.path().join("state"))
        .output()
        .expect("run migrate");
    let stdout = String::from_utf8_lossy(&again.stdout);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("continuing the batch CliBatch (Synced, 2 user(s))"),
        "{stderr}"
    );
    assert!(stdout.contains("batch CliBatch: Synced"), "{stdout}");
    assert!(stdout.contains("110 messages"), "{stdout}");
    for u in ["ann", "bob"] {
        let expected = d.snapshot(u).unwrap().without_empty_folders();
        let actual = maildir_snapshot(&target.join(format!("{u}@contoso.test")))
            .unwrap()
            .without_empty_folders();
        let diff = expected.diff(&actual);
        assert!(diff.is_empty(), "{diff}");
    }
}

#[test]
fn migrate_to_an_imap_target_with_a_master_user() {
    let src = Dovecot::start(DovecotOptions::default().user("cy", "pw-cy")).expect("source");
    let dst = Dovecot::start(DovecotOptions::default().user("cy@contoso.test", "unknown-to-us"))
        .expect("target");
    seed(&src, "cy");
    let work = tempfile::tempdir().expect("tmp");
    let csv = work.path().join("users.csv");
    std::fs::write(
        &csv,
        "EmailAddress,UserName,Password\ncy@contoso.test,cy,pw-cy\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["migrate", "--quiet", "--csv"])
        .arg(&csv)
        .arg("--source")
        .arg(format!("imap://127.0.0.1:{}", src.imap_port()))
        .arg("--target")
        .arg(format!("imaps://127.0.0.1:{}", dst.imaps_port()))
        .arg("--ca-file")
        .arg(dst.ca_file())
        .args([
            "--target-login",
            "master",
            "--target-admin",
            dst.master_user(),
            "--verify-content",
        ])
        .env("IMAPMIGRATION_TARGET_PASSWORD", dst.master_password())
        .arg("--home")
        .arg(work.path().join("state"))
        .output()
        .expect("run migrate");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let diff = src.snapshot("cy").unwrap().without_empty_folders().diff(
        &dst.snapshot("cy@contoso.test")
            .unwrap()
            .without_empty_folders(),
    );
    assert!(diff.is_empty(), "{diff}");
    // --verify-content is the target endpoint's -VerifyContent; the source's stays off.
    let store = imapmigration_store::Store::open(&work.path().join("state")).expect("store");
    let endpoints = store.list_endpoints(None).expect("endpoints");
    let verified: Vec<(bool, bool)> = endpoints
        .iter()
        .map(|e| (e.name.ends_with("-target"), e.verify_content))
        .collect();
    assert_eq!(verified.len(), 2, "{verified:?}");
    assert!(verified.iter().all(|(t, v)| t == v), "{verified:?}");
}

/// `--verify-content` reaches the pass the worker runs: a target that rewrites one message at
/// the same size (a proxy overwriting `body 7`) has it reported as a ChangedItem, the run
/// still exits 0 (skipped items are reported, not failures), and the summary counts it.
#[test]
fn migrate_verify_content_reports_a_message_the_target_rewrote() {
    use imapmigration_testkit::{Refusal, RefusingProxy};
    let src = Dovecot::start(DovecotOptions::default().user("cy", "pw-cy")).expect("source");
    let dst = Dovecot::start(DovecotOptions::default().user("cy@contoso.test", "unknown-to-us"))
        .expect("target");
    seed(&src, "cy");
    let proxy = RefusingProxy::start(dst.imap_addr(), Refusal::RewriteAppended("body 7".into()))
        .expect("proxy");
    let work = tempfile::tempdir().expect("tmp");
    let csv = work.path().join("users.csv");
    std::fs::write(
        &csv,
        "EmailAddress,UserName,Password\ncy@contoso.test,cy,pw-cy\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["migrate", "--quiet", "--csv"])
        .arg(&csv)
        .arg("--source")
        .arg(format!("imap://127.0.0.1:{}", src.imap_port()))
        .arg("--target")
        .arg(format!("imap://127.0.0.1:{}", proxy.port()))
        .args([
            "--target-login",
            "master",
            "--target-admin",
            dst.master_user(),
            "--verify-content",
        ])
        .env("IMAPMIGRATION_TARGET_PASSWORD", dst.master_password())
        .arg("--home")
        .arg(work.path().join("state"))
        .output()
        .expect("run migrate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(proxy.refused(), 1, "the proxy rewrote one message");
    assert!(stdout.contains("1 skipped"), "{stdout}");
    let store = imapmigration_store::Store::open(&work.path().join("state")).expect("store");
    let users = store
        .list_users(&imapmigration_store::UserFilter::default())
        .expect("users");
    assert_eq!(users.len(), 1);
    let items = store
        .list_skipped_items(&users[0].id, None)
        .expect("skipped items");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].kind, imapmigration_store::SkippedKind::ChangedItem);
    assert_eq!(items[0].subject.as_deref(), Some("cli 7"));
}

/// A source that cannot be reached fails the pre-check (as Test-MigrationServerAvailability
/// would): exit 2, the server named on stderr, and no batch is created.
#[test]
fn an_unreachable_server_fails_fast_with_a_clear_error() {
    // A port nothing listens on: bind one, note it, let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let work = tempfile::tempdir().expect("tmp");
    let csv = work.path().join("users.csv");
    std::fs::write(
        &csv,
        "EmailAddress,UserName,Password\ndee@contoso.test,dee,pw\n",
    )
    .unwrap();
    let home = work.path().join("state");
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["migrate", "--quiet", "--csv"])
        .arg(&csv)
        .arg("--source")
        .arg(format!("imap://127.0.0.1:{port}"))
        .arg("--home")
        .arg(&home)
        .output()
        .expect("run migrate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "nothing could start: {stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")) && stderr.contains("EndpointUnreachable"),
        "the error names the server and the reason: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let batches = imapmigration::api::handle_json(
        &serde_json::json!({"op": "batch.get", "home": home}).to_string(),
    );
    assert_eq!(batches["result"], serde_json::json!([]), "{batches}");
}

/// The stall limits given to `migrate` win for its run: a source that accepts and never greets
/// is reported naming the greeting and the flag's limit (1 s here, 30 s by default), and a
/// limit out of range is refused naming the flag, before anything is created.
#[test]
fn migrate_stall_limit_flags_apply_and_bad_ones_are_refused() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    // Accepts every connection and never says a word.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in silent.incoming().flatten() {
            held.push(c);
        }
    });
    let work = tempfile::tempdir().expect("tmp");
    let csv = csv_file(work.path(), &["dee@contoso.test,dee,pw,"]);
    let run = |extra: &[&str]| {
        Command::new(BIN)
            .args(["migrate", "--quiet", "--csv"])
            .arg(&csv)
            .arg("--source")
            .arg(format!("imap://127.0.0.1:{port}"))
            .arg("--home")
            .arg(work.path().join("state"))
            .args(extra)
            .output()
            .expect("run migrate")
    };
    let out = run(&["--greeting-timeout", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}"))
            && stderr.contains("greeting within 1")
            && !stderr.contains("within 15"),
        "{stderr}"
    );
    for (flag, value) in [
        ("--connect-timeout", "0"),
        ("--idle-timeout", "7200"),
        ("--min-rate", "fast"),
    ] {
        let out = run(&[flag, value]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}: {stderr}");
        assert!(stderr.contains(flag), "{flag}: {stderr}");
    }
    let batches = imapmigration::api::handle_json(
        &serde_json::json!({"op": "batch.get", "home": work.path().join("state")}).to_string(),
    );
    assert_eq!(batches["result"], serde_json::json!([]), "{batches}");
}

/// A message the target refuses (over its quota) is skipped; the CLI summary, the cmdlets'
/// statistics and `MigrationStatistics.csv` show the same counts, and the transfer estimate is
/// every source byte: what was transferred plus what was skipped.
#[test]
fn skipped_items_and_the_transfer_estimate_agree_in_every_report() {
    let src = Dovecot::start(DovecotOptions::default().user("dee", "pw-dee")).expect("source");
    let mut opts = DovecotOptions::default().user("dee@contoso.test", "unknown-to-us");
    opts.extra_config = "mail_plugins = $mail_plugins quota\nplugin {\n  quota = count:User quota\n  quota_rule = *:storage=200K\n  quota_vsizes = yes\n}\n".into();
    let dst = Dovecot::start(opts).expect("quota target");
    let mut big = "Message-ID: <big@cli.test>\r\nDate: Tue, 3 Mar 2026 09:00:00 +0000\r\nFrom: a@example.test\r\nSubject: over the quota\r\n\r\n".to_owned();
    big.push_str(&"z".repeat(300_000));
    big.push_str("\r\n");
    let mut msgs = vec![SeedMessage::new(big, &[], 1_770_000_000)];
    msgs.extend((1..5).map(message));
    src.seed("dee", &[SeedFolder::new("INBOX", msgs)])
        .expect("seed");
    let work = tempfile::tempdir().expect("tmp");
    let csv = work.path().join("users.csv");
    std::fs::write(
        &csv,
        "EmailAddress,UserName,Password\r\ndee@contoso.test,dee,pw-dee\r\n",
    )
    .unwrap();
    let home = work.path().join("state");
    let out = Command::new(BIN)
        .args(["migrate", "--quiet", "--name", "Quota", "--csv"])
        .arg(&csv)
        .arg("--source")
        .arg(format!("imap://127.0.0.1:{}", src.imap_port()))
        .arg("--target")
        .arg(format!("imaps://127.0.0.1:{}", dst.imaps_port()))
        .arg("--ca-file")
        .arg(dst.ca_file())
        .args([
            "--target-login",
            "master",
            "--target-admin",
            dst.master_user(),
        ])
        .env("IMAPMIGRATION_TARGET_PASSWORD", dst.master_password())
        .arg("--home")
        .arg(&home)
        .output()
        .expect("run migrate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The CLI summary: the user's line, then the batch's totals.
    let line: Vec<&str> = stdout
        .lines()
        .find(|l| l.starts_with("dee@contoso.test"))
        .unwrap_or_else(|| panic!("no line for the user: {stdout}"))
        .split_whitespace()
        .collect();
    assert_eq!(&line[1..4], ["Synced", "4", "1"], "{stdout}");
    assert!(stdout.contains("4 messages"), "{stdout}");
    assert!(stdout.contains(", 1 skipped"), "{stdout}");

    // Get-MigrationUserStatistics, through the same library the module calls.
    let r = imapmigration::api::handle_json(
        &serde_json::json!({"op": "user.statistics", "home": home,
            "identity": "dee@contoso.test", "includeSkippedItems": true})
        .to_string(),
    );
    let st = &r["result"];
    assert_eq!(st["SkippedItemCount"], serde_json::json!(1), "{r}");
    assert_eq!(st["SyncedItemCount"], serde_json::json!(4), "{r}");
    let skipped_size = st["SkippedItems"][0]["MessageSize"].as_u64().unwrap_or(0);
    assert!(skipped_size > 300_000, "{r}");
    let transferred = st["BytesTransferred"].as_u64().unwrap_or(0);
    assert!(transferred > 0, "{r}");
    assert_eq!(
        st["EstimatedTotalTransferSize"].as_u64(),
        Some(transferred + skipped_size),
        "{r}"
    );
    let batch = imapmigration::api::handle_json(
        &serde_json::json!({"op": "batch.get", "home": home, "identity": "Quota"}).to_string(),
    );
    assert_eq!(
        batch["result"][0]["ItemsSkipped"],
        serde_json::json!(1),
        "{batch}"
    );

    // MigrationStatistics.csv.
    let report = std::fs::read_to_string(home.join("reports/Quota/MigrationStatistics.csv"))
        .expect("success report");
    assert!(
        report.lines().any(|l| l == "dee@contoso.test,Synced,4,1"),
        "{report}"
    );
}

use imapmigration_testkit::landed_in_maildir as landed;

/// A CSV file of `rows` (EmailAddress, UserName, Password[, UserRoot]).
fn csv_file(dir: &std::path::Path, rows: &[&str]) -> std::path::PathBuf {
    let path = dir.join("users.csv");
    let mut text = String::from("EmailAddress,UserName,Password,UserRoot\r\n");
    for r in rows {
        text.push_str(r);
        text.push_str("\r\n");
    }
    std::fs::write(&path, text).expect("write csv");
    path
}

/// Messages on the target at which `migrate` is killed: 1, 400 and 900 of 1,500; in the long mode
/// (`scripts/test --long`, or `IMAPMIGRATION_LONG=1`) ten increasing points below 1,400 drawn
/// from a seed printed for a rerun (`IMAPMIGRATION_KILL_SEED`).
fn kill_thresholds() -> Vec<usize> {
    if !std::env::var("IMAPMIGRATION_LONG").is_ok_and(|v| v == "1") {
        return vec![1, 400, 900];
    }
    let seed = std::env::var("IMAPMIGRATION_KILL_SEED")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("kill points from IMAPMIGRATION_KILL_SEED={seed}");
    let mut x = seed | 1;
    // One point in each tenth of the first 1,400 messages.
    (0..10)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            1 + i * 140 + (x % 139) as usize
        })
        .collect()
}

/// The same `migrate` command line against `source_port`, into a Maildir under `work`.
fn migrate_command(work: &std::path::Path, csv: &std::path::Path, source_port: u16) -> Command {
    let mut c = Command::new(BIN);
    c.args(["migrate", "--quiet", "--csv"])
        .arg(csv)
        .arg("--source")
        .arg(format!("imap://127.0.0.1:{source_port}"))
        .arg("--target")
        .arg(format!("maildir:{}", work.join("mail").display()))
        .arg("--home")
        .arg(work.join("state"));
    c
}

/// `migrate` killed with SIGKILL at three points of the copy (once the first message, 400 and
/// then 900 messages are on the target; in the long mode at ten points drawn from a printed
/// seed, [`kill_thresholds`]) and run again with the same command line, without
/// `--name`: every run continues the one batch, and the last ends with exit 0 and every source
/// message on the target exactly once.
#[test]
fn migrate_killed_three_times_and_rerun_copies_every_message_once() {
    let d = Dovecot::start(DovecotOptions::default().user("kit", "pw-kit-9")).expect("dovecot");
    let folders = [("INBOX", 700usize), ("Archive/2025", 500), ("Sent", 300)];
    let mut next = 0;
    let seeded: Vec<SeedFolder> = folders
        .iter()
        .map(|(name, n)| {
            let msgs = (next..next + n).map(message).collect();
            next += n;
            SeedFolder::new(*name, msgs)
        })
        .collect();
    d.seed("kit", &seeded).expect("seed");
    // 50 ms each way: each 200-message FETCH takes a round trip, so the copy takes seconds.
    let link = imapmigration_testkit::DelayProxy::start(d.imap_addr(), Duration::from_millis(50))
        .expect("delay proxy");
    let work = tempfile::tempdir().expect("tmp");
    let csv = csv_file(work.path(), &["kit@contoso.test,kit,pw-kit-9,"]);
    let mailbox = work.path().join("mail").join("kit@contoso.test");

    let mut kills = 0;
    let mut before = 0;
    let thresholds = kill_thresholds();
    let points = thresholds.len();
    for threshold in thresholds {
        let mut child = migrate_command(work.path(), &csv, link.port())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start migrate");
        let deadline = Instant::now() + Duration::from_secs(120);
        let finished = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            if landed(&mailbox) >= threshold || Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if let Some(status) = finished {
            panic!("migrate ended ({status}) before {threshold} messages landed");
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        kills += 1;
        let now = landed(&mailbox);
        assert!(now >= before, "messages vanished: {before} then {now}");
        assert!(
            now < 1500,
            "the copy finished before kill {kills} ({now} landed)"
        );
        before = now;
    }
    assert_eq!(kills, points);

    let out = migrate_command(work.path(), &csv, link.port())
        .output()
        .expect("run migrate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("continuing the batch cli-"), "{stderr}");
    assert!(stdout.contains(": Synced in"), "{stdout}");
    assert!(stdout.contains("1500 messages"), "{stdout}");
    let diff = d
        .snapshot("kit")
        .unwrap()
        .without_empty_folders()
        .diff(&maildir_snapshot(&mailbox).unwrap().without_empty_folders());
    assert!(diff.is_empty(), "{diff}");
    assert_eq!(landed(&mailbox), 1500, "duplicates on the target");
    // One batch for all four runs.
    let batches = imapmigration::api::handle_json(
        &serde_json::json!({"op": "batch.get", "home": work.path().join("state")}).to_string(),
    );
    assert_eq!(
        batches["result"].as_array().map(Vec::len),
        Some(1),
        "{batches}"
    );
}

/// Exit codes: 1 when a user failed or a CSV row was refused (the rest is migrated, the reasons
/// are on stderr), 2 when no row can be migrated or the command line is wrong.
#[test]
fn exit_codes_say_whether_every_user_synced() {
    let d = Dovecot::start(
        DovecotOptions::default()
            .user("ann", "pw-ann-5")
            .user("bob", "pw-bob-5"),
    )
    .expect("dovecot");
    seed(&d, "ann");
    seed(&d, "bob");

    // A wrong password and a refused row: the good user is copied, exit 1.
    let work = tempfile::tempdir().expect("tmp");
    let csv = csv_file(
        work.path(),
        &[
            "ann@contoso.test,ann,pw-ann-5,",
            "bob@contoso.test,bob,wrong-password,",
            "not-an-address,cy,pw,",
        ],
    );
    let out = migrate_command(work.path(), &csv, d.imap_port())
        .output()
        .expect("run migrate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("error: bob@contoso.test is Failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: row 3 (not-an-address) was not imported"),
        "{stderr}"
    );
    assert!(!stderr.contains("ann@contoso.test is"), "{stderr}");
    assert!(!stderr.contains("wrong-password") && !stdout.contains("wrong-password"));
    let diff = d.snapshot("ann").unwrap().without_empty_folders().diff(
        &maildir_snapshot(&work.path().join("mail/ann@contoso.test"))
            .unwrap()
            .without_empty_folders(),
    );
    assert!(diff.is_empty(), "{diff}");

    // A UserRoot under which the source has no folder: the user fails, exit 1.
    let work = tempfile::tempdir().expect("tmp");
    let csv = csv_file(work.path(), &["ann@contoso.test,ann,pw-ann-5,NoSuchRoot"]);
    let out = migrate_command(work.path(), &csv, d.imap_port())
        .output()
        .expect("run migrate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ann@contoso.test is Failed") && stderr.contains("NoSuchRoot"),
        "{stderr}"
    );

    // Every row refused: nothing starts, nothing is created, exit 2.
    let work = tempfile::tempdir().expect("tmp");
    let csv = csv_file(work.path(), &["not-an-address,ann,pw,", "also-not,bob,pw,"]);
    let out = migrate_command(work.path(), &csv, d.imap_port())
        .output()
        .expect("run migrate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nothing was started"), "{stderr}");
    let batches = imapmigration::api::handle_json(
        &serde_json::json!({"op": "batch.get", "home": work.path().join("state")}).to_string(),
    );
    assert_eq!(batches["result"], serde_json::json!([]), "{batches}");

    // An IMAP target that cannot be reached fails the check: exit 2, nothing created.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let csv = csv_file(work.path(), &["ann@contoso.test,ann,pw-ann-5,"]);
    let out = Command::new(BIN)
        .args(["migrate", "--quiet", "--csv"])
        .arg(&csv)
        .arg("--source")
        .arg(format!("imap://127.0.0.1:{}", d.imap_port()))
        .arg("--target")
        .arg(format!("imap://127.0.0.1:{closed}"))
        .arg("--home")
        .arg(work.path().join("state"))
        .output()
        .expect("run migrate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the target 127.0.0.1:{closed} failed the server check"
        )),
        "{stderr}"
    );
    let batches = imapmigration::api::handle_json(
        &serde_json::json!({"op": "batch.get", "home": work.path().join("state")}).to_string(),
    );
    assert_eq!(batches["result"], serde_json::json!([]), "{batches}");

    // A CSV that cannot be read, and a wrong option: exit 2.
    let out = migrate_command(work.path(), &work.path().join("missing.csv"), d.imap_port())
        .output()
        .expect("run migrate");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    let out = Command::new(BIN)
        .args(["migrate", "--source", "imap://127.0.0.1:1"])
        .output()
        .expect("run migrate");
    assert_eq!(out.status.code(), Some(2));
}

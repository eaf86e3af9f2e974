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
    for u in ["ann", "bob"] {
        let expected = d.snapshot(u).unwrap().without_empty_folders();
        let actual = maildir_snapshot(&target.join(format!("{u}@contoso.test")))
            .unwrap()
            .without_empty_folders();
        let diff = expected.diff(&actual);
        assert!(diff.is_empty(), "{diff}");
    }

    // A second run of the same batch name is refused: the batch exists; the state is kept.
    let again = Command::new(BIN)
        .args(["migrate", "--quiet", "--name", "CliBatch", "--csv"])
        .arg(&csv)
        .arg("--source")
        .arg(format!("imap://127.0.0.1:{}", d.imap_port()))
        .arg("--home")
        .arg(work.path().join("state"))
        .output()
        .expect("run migrate");
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
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
}

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
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["migrate", "--quiet", "--csv"])
        .arg(&csv)
        .arg("--source")
        .arg(format!("imap://127.0.0.1:{port}"))
        .arg("--home")
        .arg(work.path().join("state"))
        .output()
        .expect("run migrate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "expected SyncedWithErrors: {stdout}"
    );
    assert!(
        stdout.contains(&format!("127.0.0.1:{port}")),
        "the error names the server: {stdout}"
    );
    assert!(stdout.contains("Failed"), "{stdout}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
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

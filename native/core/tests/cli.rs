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

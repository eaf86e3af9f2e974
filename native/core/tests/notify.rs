//! Report mail (`-NotificationEmails` + `Set-MigrationConfig -SmtpRelay`) through the real worker
//! process, against a real Dovecot source and the testkit's SMTP sink: what the admin receives
//! when a pass ends, and that a missing or broken relay never holds a batch back.

#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use imapmigration_testkit::{
    Dovecot, DovecotOptions, ReceivedMessage, SeedFolder, SeedMessage, SmtpSink,
};
use serde_json::{Value, json};

const WORKER: &str = env!("CARGO_BIN_EXE_imapmigration");
const ADMIN: &str = "admin@contoso.test";

/// A state directory whose worker is killed when the test ends, pass or fail.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        Home {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn ok(&self, op: &str, mut args: Value) -> Value {
        args["op"] = json!(op);
        args["home"] = json!(self.path());
        args["workerPath"] = json!(WORKER);
        let r = imapmigration::api::handle_json(&args.to_string());
        assert_eq!(r["ok"], json!(true), "{op} failed: {r}");
        r["result"].clone()
    }
    fn batch(&self, name: &str) -> Value {
        let r = self.ok(
            "batch.get",
            json!({"identity": name, "includeReport": true}),
        );
        r.as_array()
            .and_then(|a| a.first())
            .cloned()
            .expect("batch exists")
    }
    fn wait_status(&self, batch: &str, wanted: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let b = self.batch(batch);
            if b["Status"] == json!(wanted) {
                return b;
            }
            assert!(
                Instant::now() < deadline,
                "batch {batch} is still {} , wanted {wanted}; log:\n{}",
                b["Status"],
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    /// Waits for a batch event at `level` whose message contains `needle`.
    fn wait_event(&self, batch: &str, level: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let b = self.batch(batch);
            let found = b["Report"].as_array().and_then(|lines| {
                lines.iter().find_map(|l| {
                    let m = l["Message"].as_str().unwrap_or_default();
                    (l["Level"] == json!(level) && m.contains(needle)).then(|| m.to_owned())
                })
            });
            if let Some(m) = found {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no {level} event with \"{needle}\" on {batch}; report: {}\nlog:\n{}",
                b["Report"],
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    /// Every worker log line so far.
    fn logs(&self) -> String {
        let mut out = String::new();
        if let Ok(entries) = std::fs::read_dir(self.path().join("logs")) {
            for e in entries.flatten() {
                out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        out
    }
    fn report_file(&self, batch: &str, name: &str) -> String {
        let path = self.path().join("reports").join(batch).join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        if let Some(pid) = imapmigration::process::probe(self.path()).ok().flatten() {
            let _ = std::process::Command::new("kill")
                .arg("-9")
                .arg(pid.to_string())
                .status();
        }
    }
}

/// A Dovecot with `kim` (3 messages) and `lee` (2 messages).
fn source() -> Dovecot {
    let dovecot = Dovecot::start(
        DovecotOptions::default()
            .user("kim", "pw-kim")
            .user("lee", "pw-lee"),
    )
    .expect("dovecot");
    for (user, n) in [("kim", 3), ("lee", 2)] {
        let messages = (0..n)
            .map(|i| {
                let body = format!(
                    "Message-ID: <{i}.{user}@notify.test>\r\nDate: Mon, 2 Mar 2026 10:0{i}:00 +0000\r\nFrom: s@example.test\r\nTo: {user}@example.test\r\nSubject: message {i}\r\n\r\nbody {i}\r\n"
                );
                SeedMessage::new(body.into_bytes(), &["\\Seen"], 1_767_000_000 + i * 60)
            })
            .collect();
        dovecot
            .seed(user, &[SeedFolder::new("INBOX", messages)])
            .expect("seed");
    }
    dovecot
}

/// Endpoint `src` on the Dovecot, and batch `name` for kim and lee, started at once.
fn start_batch(home: &Home, dovecot: &Dovecot, name: &str, notify: bool) {
    home.ok(
        "endpoint.new",
        json!({"name": "src", "remoteServer": "127.0.0.1", "port": dovecot.imap_addr().port(), "security": "None", "skipVerification": true}),
    );
    let csv = "EmailAddress,UserName,Password\r\nkim@contoso.test,kim,pw-kim\r\nlee@contoso.test,lee,pw-lee\r\n";
    let mut args = json!({
        "name": name,
        "sourceEndpoint": "src",
        "csvData": base64::engine::general_purpose::STANDARD.encode(csv),
        "autoStart": true,
    });
    if notify {
        args["notificationEmails"] = json!([ADMIN]);
    }
    home.ok("batch.new", args);
}

fn relay(home: &Home, port: u16, login: Option<(&str, &str)>) {
    let mut relay = json!({"server": "127.0.0.1", "port": port, "from": "migration@contoso.test", "security": "None"});
    if let Some((user, password)) = login {
        relay["userName"] = json!(user);
        relay["password"] = json!(password);
    }
    home.ok("config.set", json!({ "smtpRelay": relay }));
}

/// The decoded body of the attachment named `filename` in a MIME message (base64 parts).
fn attachment(message: &ReceivedMessage, filename: &str) -> String {
    let text = message.text();
    let marker = format!("filename=\"{filename}\"");
    let at = text
        .find(&marker)
        .unwrap_or_else(|| panic!("no attachment {filename} in:\n{text}"));
    let part = &text[at..];
    let body_start = part.find("\r\n\r\n").expect("part headers end") + 4;
    let b64: String = part[body_start..]
        .lines()
        .take_while(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .concat();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .expect("attachment is base64");
    String::from_utf8(bytes).expect("utf-8 csv")
}

/// The text/plain part, decoded if it is quoted-printable or base64 (lettre picks).
fn summary(message: &ReceivedMessage) -> String {
    let text = message.text();
    let at = text.find("Content-Type: text/plain").expect("a text part");
    let part = &text[at..];
    let headers_end = part.find("\r\n\r\n").expect("part headers end");
    let headers = &part[..headers_end];
    let body: String = part[headers_end + 4..]
        .lines()
        .take_while(|l| !l.starts_with("--"))
        .map(|l| format!("{l}\n"))
        .collect();
    if headers.contains("Content-Transfer-Encoding: base64") {
        let b64: String = body.split_whitespace().collect();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("base64 text part"),
        )
        .expect("utf-8 text")
    } else {
        // Quoted-printable soft line breaks; the summary is ASCII.
        body.replace("=\n", "").replace("=3D", "=")
    }
}

#[test]
fn synced_batch_mails_summary_and_both_reports_to_notification_emails() {
    let dovecot = source();
    let sink = SmtpSink::start().expect("smtp sink");
    let home = Home::new();
    relay(&home, sink.port(), None);
    start_batch(&home, &dovecot, "MailMe", true);
    home.wait_status("MailMe", "Synced");

    let received = sink.wait_for(1, Duration::from_secs(30));
    assert_eq!(received.len(), 1, "one report per pass: {received:?}");
    let m = &received[0];
    assert_eq!(m.rcpt_to, vec![ADMIN.to_owned()]);
    assert_eq!(m.mail_from, "migration@contoso.test");
    assert_eq!(m.auth_user, None);
    let text = m.text();
    assert!(
        text.contains("Subject: Migration batch MailMe: Synced"),
        "{text}"
    );

    let body = summary(m);
    assert!(body.contains("Batch:           MailMe"), "{body}");
    assert!(body.contains("Status:          Synced"), "{body}");
    assert!(body.contains("kim@contoso.test, Synced, 3, 0"), "{body}");
    assert!(body.contains("lee@contoso.test, Synced, 2, 0"), "{body}");
    assert!(body.contains("Items migrated:  5"), "{body}");

    let stats = attachment(m, "MigrationStatistics.csv");
    let lines: Vec<&str> = stats.lines().collect();
    assert_eq!(lines[0], "EmailAddress,Status,ItemsMigrated,ItemsSkipped");
    assert!(lines.contains(&"kim@contoso.test,Synced,3,0"), "{stats}");
    assert!(lines.contains(&"lee@contoso.test,Synced,2,0"), "{stats}");
    // The attachment is the file the worker keeps, byte for byte.
    assert_eq!(stats, home.report_file("MailMe", "MigrationStatistics.csv"));
    let errors = attachment(m, "MigrationErrors.csv");
    assert_eq!(
        errors.lines().next(),
        Some("RowIndex,EmailAddress,ErrorMessage")
    );
    assert_eq!(errors.lines().count(), 1, "no errors: {errors}");

    home.wait_event("MailMe", "Info", "mailed to admin@contoso.test");
}

#[test]
fn relay_login_is_used_and_its_password_never_shows() {
    const PASSWORD: &str = "Relay-Pa55-9f3c";
    const WRONG: &str = "Wrong-Pa55-77aa";
    let dovecot = source();
    let sink = SmtpSink::start_with_auth("relayuser", PASSWORD).expect("smtp sink");
    let home = Home::new();
    relay(&home, sink.port(), Some(("relayuser", PASSWORD)));
    start_batch(&home, &dovecot, "AuthMail", true);
    home.wait_status("AuthMail", "Synced");
    let received = sink.wait_for(1, Duration::from_secs(30));
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].auth_user.as_deref(), Some("relayuser"));
    home.wait_event("AuthMail", "Info", "mailed to admin@contoso.test");

    // A password the relay refuses: the next pass still ends Synced, with a warning.
    relay(&home, sink.port(), Some(("relayuser", WRONG)));
    home.ok(
        "batch.set",
        json!({"identity": "AuthMail", "syncNow": true}),
    );
    let warning = home.wait_event("AuthMail", "Warning", "cannot mail the batch report");
    assert!(warning.contains("535"), "{warning}");
    home.wait_status("AuthMail", "Synced");
    assert_eq!(sink.messages().len(), 1);

    let report = home.batch("AuthMail")["Report"].to_string();
    let logs = home.logs();
    for secret in [PASSWORD, WRONG] {
        assert!(!report.contains(secret), "password in events: {report}");
        assert!(!logs.contains(secret), "password in the log:\n{logs}");
    }
    let config = home.ok("config.get", json!({})).to_string();
    assert!(
        !config.contains(PASSWORD) && !config.contains(WRONG),
        "{config}"
    );
}

#[test]
fn without_a_relay_the_batch_syncs_and_keeps_its_report_files() {
    let dovecot = source();
    let home = Home::new();
    start_batch(&home, &dovecot, "NoRelay", true);
    let b = home.wait_status("NoRelay", "Synced");
    assert_eq!(b["NotificationEmails"], json!([ADMIN]));
    let stats = home.report_file("NoRelay", "MigrationStatistics.csv");
    assert!(stats.contains("kim@contoso.test,Synced,3,0"), "{stats}");
    assert!(stats.contains("lee@contoso.test,Synced,2,0"), "{stats}");
    let errors = home.report_file("NoRelay", "MigrationErrors.csv");
    assert!(
        errors.starts_with("RowIndex,EmailAddress,ErrorMessage"),
        "{errors}"
    );
    let warnings: Vec<&Value> = b["Report"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter(|l| l["Level"] == json!("Warning"))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        warnings.is_empty(),
        "no relay is not a problem: {warnings:?}"
    );
}

#[test]
fn unreachable_relay_leaves_a_warning_and_the_batch_synced() {
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let dovecot = source();
    let home = Home::new();
    relay(&home, port, None);
    start_batch(&home, &dovecot, "DeadRelay", true);
    home.wait_status("DeadRelay", "Synced");
    let warning = home.wait_event("DeadRelay", "Warning", "cannot mail the batch report");
    assert!(warning.contains(&format!("127.0.0.1:{port}")), "{warning}");
    assert_eq!(home.batch("DeadRelay")["Status"], json!("Synced"));
    assert!(
        home.report_file("DeadRelay", "MigrationStatistics.csv")
            .contains("kim@contoso.test,Synced,3,0")
    );
}

#[test]
fn batch_without_notification_emails_sends_nothing() {
    let dovecot = source();
    let sink = SmtpSink::start().expect("smtp sink");
    let home = Home::new();
    relay(&home, sink.port(), None);
    start_batch(&home, &dovecot, "Quiet", false);
    home.wait_status("Quiet", "Synced");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sink.sessions(), 0, "{:?}", sink.messages());
}

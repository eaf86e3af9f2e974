//! The JSON operations behind the cmdlets, called as the C ABI calls them (`handle_json`), each
//! test on its own state directory. No worker runs here: the tests check what the operations
//! record, not what the worker does with it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

use std::io::Write;
use std::net::TcpListener;
use std::sync::Mutex;

use base64::Engine as _;
use serde_json::{Value, json};

/// A password distinctive enough that any occurrence in a response is a leak.
const PASSWORD: &str = "Zq9-UniquePass-7731";
const ADMIN_SECRET: &str = "Adm1n-Sekret-4402";

struct Home {
    dir: tempfile::TempDir,
    /// Every response seen, to check that no secret ever leaves.
    seen: Mutex<Vec<String>>,
}

impl Home {
    fn new() -> Self {
        Home {
            dir: tempfile::tempdir().expect("temp dir"),
            seen: Mutex::new(Vec::new()),
        }
    }

    fn call(&self, mut req: Value) -> Value {
        req["home"] = json!(self.dir.path());
        let resp = imapmigration::api::handle_json(&req.to_string());
        let text = resp.to_string();
        assert!(!text.contains(PASSWORD), "a password leaked: {text}");
        assert!(
            !text.contains(ADMIN_SECRET),
            "an admin secret leaked: {text}"
        );
        self.seen.lock().unwrap().push(text);
        resp
    }

    fn ok(&self, req: Value) -> Value {
        let r = self.call(req.clone());
        assert_eq!(r["ok"], json!(true), "{req} failed: {r}");
        r["result"].clone()
    }

    /// Calls and expects an error with `code`; returns the error object.
    fn err(&self, req: Value, code: &str) -> Value {
        let r = self.call(req.clone());
        assert_eq!(r["ok"], json!(false), "{req} should fail with {code}: {r}");
        assert_eq!(r["error"]["code"], json!(code), "{req}: {r}");
        r["error"].clone()
    }

    fn endpoint(&self, name: &str) -> Value {
        self.ok(
            json!({"op": "endpoint.new", "name": name, "remoteServer": "imap.example.test",
                       "skipVerification": true}),
        )
    }

    fn batch(&self, name: &str, csv: &str) -> Value {
        self.ok(
            json!({"op": "batch.new", "name": name, "sourceEndpoint": "src", "csvData": b64(csv)}),
        )
    }

    fn batch_status(&self, name: &str) -> String {
        let r = self.ok(json!({"op": "batch.get", "identity": name}));
        r[0]["Status"].as_str().unwrap().to_owned()
    }
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

fn csv(users: &[&str]) -> String {
    let mut s = String::from("EmailAddress,UserName,Password\r\n");
    for u in users {
        s.push_str(&format!("{u}@contoso.test,{u},{PASSWORD}\r\n"));
    }
    s
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A one-connection plain-text "IMAP server" that sends `greeting` and waits.
fn fake_server(greeting: &'static str) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = s.write_all(greeting.as_bytes());
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    });
    port
}

// ---- endpoints --------------------------------------------------------------------------------

#[test]
fn endpoint_new_applies_exchange_defaults_and_refuses_duplicates() {
    let h = Home::new();
    let e = h.endpoint("IMAPEndpoint");
    assert_eq!(e["Identity"]["Id"], json!("IMAPEndpoint"));
    assert_eq!(e["EndpointType"], json!("IMAP"));
    assert_eq!(e["Port"], json!(993));
    assert_eq!(e["Security"], json!("Ssl"));
    assert_eq!(e["Authentication"], json!("Basic"));
    assert_eq!(e["MaxConcurrentMigrations"], json!(100));
    assert_eq!(e["MaxConcurrentIncrementalSyncs"], json!(20));
    assert_eq!(e["MailboxPermission"], json!("Admin"));

    let tls = h.ok(json!({"op": "endpoint.new", "name": "tls", "remoteServer": "imap.example.test",
                          "security": "Tls", "maxConcurrentMigrations": 10, "skipVerification": true}));
    assert_eq!(tls["Port"], json!(143));
    assert_eq!(tls["MaxConcurrentIncrementalSyncs"], json!(10));

    let err = h.err(
        json!({"op": "endpoint.new", "name": "imapendpoint", "remoteServer": "x.test", "skipVerification": true}),
        "AlreadyExists",
    );
    assert!(err["message"].as_str().unwrap().contains("imapendpoint"));
    let long = "n".repeat(65);
    let err = h.err(
        json!({"op": "endpoint.new", "name": long, "remoteServer": "x.test", "skipVerification": true}),
        "InvalidArgument",
    );
    assert_eq!(err["details"]["parameter"], json!("name"));
    let err = h.err(
        json!({"op": "endpoint.new", "name": "p", "remoteServer": "x.test", "port": 70000, "skipVerification": true}),
        "InvalidArgument",
    );
    assert!(err["message"].as_str().unwrap().contains("70000"));
}

#[test]
fn incremental_syncs_above_migrations_is_refused_quoting_both() {
    let h = Home::new();
    let err = h.err(
        json!({"op": "endpoint.new", "name": "e", "remoteServer": "x.test", "maxConcurrentMigrations": 5,
               "maxConcurrentIncrementalSyncs": 6, "skipVerification": true}),
        "InvalidArgument",
    );
    let m = err["message"].as_str().unwrap();
    assert!(m.contains('5') && m.contains('6'), "{m}");
    assert_eq!(
        err["details"]["parameter"],
        json!("maxConcurrentIncrementalSyncs")
    );
    h.endpoint("e");
    h.err(
        json!({"op": "endpoint.set", "identity": "e", "maxConcurrentIncrementalSyncs": 500}),
        "InvalidArgument",
    );
}

#[test]
fn connections_per_user_and_preserve_order_are_kept_with_the_endpoint() {
    let h = Home::new();
    let e = h.endpoint("t");
    assert_eq!(e["MaxConnectionsPerUser"], json!(8));
    assert_eq!(e["PreserveOrder"], json!(false));
    h.ok(json!({"op": "endpoint.set", "identity": "t", "maxConnectionsPerUser": 15, "preserveOrder": true}));
    let got = &h.ok(json!({"op": "endpoint.get", "identity": "t"}))[0];
    assert_eq!(got["MaxConnectionsPerUser"], json!(15));
    assert_eq!(got["PreserveOrder"], json!(true));
    // Another change leaves them alone.
    h.ok(json!({"op": "endpoint.set", "identity": "t", "maxConcurrentMigrations": 50}));
    let got = &h.ok(json!({"op": "endpoint.get", "identity": "t"}))[0];
    assert_eq!(got["MaxConnectionsPerUser"], json!(15));
    assert_eq!(got["PreserveOrder"], json!(true));
    let err = h.err(
        json!({"op": "endpoint.new", "name": "z", "remoteServer": "x.test", "maxConnectionsPerUser": 0,
               "skipVerification": true}),
        "InvalidArgument",
    );
    assert_eq!(err["details"]["parameter"], json!("maxConnectionsPerUser"));
}

/// `-VerifyContent` (extension): off unless named, kept with the endpoint, and left alone by
/// another change.
#[test]
fn verify_content_is_kept_with_the_endpoint() {
    let h = Home::new();
    let e = h.endpoint("t");
    assert_eq!(e["VerifyContent"], json!(false));
    let n = h.ok(
        json!({"op": "endpoint.new", "name": "v", "remoteServer": "x.test",
                        "verifyContent": true, "skipVerification": true}),
    );
    assert_eq!(n["VerifyContent"], json!(true));
    h.ok(json!({"op": "endpoint.set", "identity": "t", "verifyContent": true}));
    h.ok(json!({"op": "endpoint.set", "identity": "t", "maxConcurrentMigrations": 50}));
    let got = &h.ok(json!({"op": "endpoint.get", "identity": "t"}))[0];
    assert_eq!(got["VerifyContent"], json!(true));
    h.ok(json!({"op": "endpoint.set", "identity": "t", "verifyContent": false}));
    let got = &h.ok(json!({"op": "endpoint.get", "identity": "t"}))[0];
    assert_eq!(got["VerifyContent"], json!(false));
}

#[test]
fn endpoint_get_by_name_guid_unknown_and_type() {
    let h = Home::new();
    let a = h.endpoint("a");
    h.endpoint("b");
    assert_eq!(
        h.ok(json!({"op": "endpoint.get", "identity": "A"}))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let by_guid = h.ok(json!({"op": "endpoint.get", "identity": a["Guid"]}));
    assert_eq!(by_guid[0]["Name"], json!("a"));
    // An identity that names nothing is NotFound, never every endpoint.
    let e = h.err(
        json!({"op": "endpoint.get", "identity": "nope"}),
        "NotFound",
    );
    assert_eq!(e["details"]["identity"], json!("nope"));
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("\"nope\" couldn't be found"),
        "{e}"
    );
    assert_eq!(
        h.ok(json!({"op": "endpoint.get"}))
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        h.ok(json!({"op": "endpoint.get", "type": "IMAP"}))
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        h.ok(json!({"op": "endpoint.get", "type": "ExchangeRemoteMove"}))
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn endpoint_credentials_are_sealed_and_never_returned() {
    let h = Home::new();
    let e = h.ok(
        json!({"op": "endpoint.new", "name": "target", "remoteServer": "imap.example.test",
                        "credentials": {"userName": "admin", "password": ADMIN_SECRET},
                        "targetLogin": "MasterUser", "skipVerification": true}),
    );
    assert_eq!(e["HasCredentials"], json!(true));
    assert_eq!(e["AdminUserName"], json!("admin"));
    assert_eq!(e["TargetLogin"], json!("MasterUser"));
    // MasterUser without credentials makes no sense.
    h.err(
        json!({"op": "endpoint.new", "name": "t2", "remoteServer": "x.test", "targetLogin": "MasterUser",
               "skipVerification": true}),
        "InvalidArgument",
    );
    // A wrongly typed password is refused without echoing it.
    let err = h.err(
        json!({"op": "endpoint.new", "name": "t3", "remoteServer": "x.test",
               "credentials": {"userName": "admin", "password": 12345}, "skipVerification": true}),
        "InvalidArgument",
    );
    assert!(!err.to_string().contains("12345"));
    let state = std::fs::read(h.dir.path().join("state.db")).unwrap();
    assert!(
        !state
            .windows(ADMIN_SECRET.len())
            .any(|w| w == ADMIN_SECRET.as_bytes()),
        "secret stored in clear"
    );
}

#[test]
fn endpoint_set_and_remove() {
    let h = Home::new();
    h.endpoint("e");
    let s = h.ok(json!({"op": "endpoint.set", "identity": "e", "maxConcurrentMigrations": 10}));
    assert_eq!(s["MaxConcurrentMigrations"], json!(10));
    // Switching to STARTTLS moves a default port along.
    let s = h.ok(
        json!({"op": "endpoint.set", "identity": "e", "security": "Tls", "skipVerification": true}),
    );
    assert_eq!(s["Port"], json!(143));
    h.err(
        json!({"op": "endpoint.set", "identity": "nope", "port": 1}),
        "NotFound",
    );
    h.ok(json!({"op": "endpoint.remove", "identity": "e"}));
    h.err(
        json!({"op": "endpoint.remove", "identity": "e"}),
        "NotFound",
    );
}

#[test]
fn unreachable_server_creates_nothing_and_test_reports_failed() {
    let h = Home::new();
    let port = closed_port();
    let err = h.err(
        json!({"op": "endpoint.new", "name": "down", "remoteServer": "127.0.0.1", "port": port, "security": "None"}),
        "EndpointUnreachable",
    );
    let m = err["message"].as_str().unwrap();
    assert!(
        m.contains("127.0.0.1") && m.contains(&port.to_string()),
        "{m}"
    );
    assert!(
        h.ok(json!({"op": "endpoint.get"}))
            .as_array()
            .unwrap()
            .is_empty()
    );

    let t = h.ok(json!({"op": "endpoint.test", "remoteServer": "127.0.0.1", "port": port, "security": "None"}));
    assert_eq!(t["Result"], json!("Failed"));
    assert_eq!(t["SupportsCutover"], json!(false));
    assert!(t["Message"].as_str().unwrap().contains("127.0.0.1"));
}

#[test]
fn reachable_server_is_verified_without_login() {
    let h = Home::new();
    let port = fake_server("* OK [CAPABILITY IMAP4rev1] ready\r\n");
    let e = h.ok(
        json!({"op": "endpoint.new", "name": "up", "remoteServer": "127.0.0.1", "port": port,
                        "security": "None"}),
    );
    assert_eq!(e["Port"], json!(port));
    let t = h.ok(json!({"op": "endpoint.test", "endpoint": "up"}));
    assert_eq!(t["Result"], json!("Success"), "{t}");
    assert_eq!(t["ConnectionSettings"]["Port"], json!(port));

    let bye = fake_server("* BYE go away\r\n");
    let t = h.ok(json!({"op": "endpoint.test", "remoteServer": "127.0.0.1", "port": bye, "security": "None"}));
    assert_eq!(t["Result"], json!("Failed"));
    assert_eq!(t["ErrorDetail"], json!("ServerRefused"));
    // STARTTLS refused by a server that does not offer it.
    let plain = fake_server("* OK ready\r\n");
    let t = h.ok(json!({"op": "endpoint.test", "remoteServer": "127.0.0.1", "port": plain, "security": "Tls"}));
    assert_eq!(t["Result"], json!("Failed"));
    h.err(
        json!({"op": "endpoint.test", "endpoint": "missing"}),
        "NotFound",
    );
}

/// A server that accepts connections and never says a word (and keeps them open).
fn silent_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

/// Test-MigrationServerAvailability waits as long as `Set-MigrationConfig` says a pass would:
/// a greeting limit of 1 s set for the state directory ends the check after 1 s, naming it.
#[test]
fn the_check_uses_the_stall_limits_set_for_the_state_directory() {
    let h = Home::new();
    let port = silent_server();
    h.ok(json!({"op": "config.set", "greetingTimeout": 1}));
    let t = h.ok(json!({"op": "endpoint.test", "remoteServer": "127.0.0.1", "port": port, "security": "None"}));
    assert_eq!(t["Result"], json!("Failed"), "{t}");
    let m = t["Message"].as_str().unwrap();
    // Without the setting the check's own cap (15 s) would have ended it.
    assert!(m.contains("sent no greeting within 1 s"), "{m}");
    // The same limit holds for the check New-MigrationEndpoint runs.
    let e = h.err(
        json!({"op": "endpoint.new", "name": "mute", "remoteServer": "127.0.0.1", "port": port, "security": "None"}),
        "EndpointUnreachable",
    );
    assert!(e["message"].as_str().unwrap().contains("within 1 s"), "{e}");
}

/// A server that lacks STARTTLS is `Unsupported` for security Tls, in the check and on create:
/// the same code a migration pass reports for it.
#[test]
fn a_server_without_starttls_is_unsupported_for_security_tls() {
    let h = Home::new();
    let port = fake_server("* OK [CAPABILITY IMAP4rev1] ready\r\n");
    let t = h.ok(json!({"op": "endpoint.test", "remoteServer": "127.0.0.1", "port": port, "security": "Tls"}));
    assert_eq!(t["Result"], json!("Failed"));
    assert_eq!(t["ErrorDetail"], json!("Unsupported"), "{t}");
    assert!(t["Message"].as_str().unwrap().contains("STARTTLS"), "{t}");
    h.err(
        json!({"op": "endpoint.new", "name": "plain", "remoteServer": "127.0.0.1", "port": port, "security": "Tls"}),
        "Unsupported",
    );
    assert!(
        h.ok(json!({"op": "endpoint.get"}))
            .as_array()
            .unwrap()
            .is_empty()
    );
}

// ---- batches ----------------------------------------------------------------------------------

#[test]
fn batch_new_imports_users_as_queued_with_consistent_counts() {
    let h = Home::new();
    h.endpoint("src");
    let b = h.batch("IMAPBatch1", &csv(&["ann", "bob", "cid"]));
    assert_eq!(b["Identity"]["Name"], json!("IMAPBatch1"));
    assert_eq!(b["Status"], json!("Stopped"));
    assert_eq!(b["MigrationType"], json!("IMAP"));
    assert_eq!(b["TotalCount"], json!(3));
    assert_eq!(b["PendingCount"], json!(3));
    assert_eq!(b["ActiveCount"], json!(0));
    assert_eq!(b["BadItemLimit"], json!("Unlimited"));
    assert_eq!(b["DataConsistencyScore"], json!("Perfect"));
    assert_eq!(b["SourceEndpoint"]["Identity"]["Id"], json!("src"));
    assert_eq!(b["TargetEndpoint"], Value::Null);
    let maildir = h.dir.path().join("maildir");
    assert_eq!(b["TargetMaildir"], json!(maildir.display().to_string()));
    assert!(b["SupportedActions"].as_str().unwrap().contains("Start"));
    assert_eq!(b["CreationDateTime"], b["CreationDateTimeUTC"]);

    let users = h.ok(json!({"op": "user.get", "batchId": "IMAPBatch1"}));
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 3);
    assert!(
        users
            .iter()
            .all(|u| u["Status"] == json!("Queued") && u["StatusSummary"] == json!("Active"))
    );
    assert_eq!(users[0]["BatchId"]["Name"], json!("IMAPBatch1"));

    let stats = h.ok(json!({"op": "statistics.get"}));
    assert_eq!(stats["TotalCount"], json!(3));
    assert_eq!(stats["PendingCount"], json!(3));
}

#[test]
fn csv_errors_and_unknown_endpoints_create_nothing() {
    let h = Home::new();
    h.endpoint("src");
    let err = h.err(
        json!({"op": "batch.new", "name": "b", "sourceEndpoint": "src", "csvData": b64("EmailAddress,Password\r\na@b.test,x\r\n")}),
        "CsvInvalid",
    );
    assert!(err["message"].as_str().unwrap().contains("UserName"));
    assert_eq!(err["details"]["column"], json!("UserName"));
    let err = h.err(
        json!({"op": "batch.new", "name": "b", "sourceEndpoint": "src",
               "csvData": b64(&format!("EmailAddress,UserName,Password\r\na@b.test,a,{PASSWORD}\r\nc@d.test,c\r\n"))}),
        "CsvInvalid",
    );
    assert!(
        err["details"]["line"].as_u64().is_some_and(|l| l >= 2),
        "{err}"
    );
    h.err(
        json!({"op": "batch.new", "name": "b", "sourceEndpoint": "src", "csvData": "%%%"}),
        "InvalidArgument",
    );
    let err = h.err(
        json!({"op": "batch.new", "name": "b", "sourceEndpoint": "nope", "csvData": b64(&csv(&["ann"]))}),
        "NotFound",
    );
    assert_eq!(err["details"]["parameter"], json!("sourceEndpoint"));
    let err = h.err(
        json!({"op": "batch.new", "name": "b", "sourceEndpoint": "src", "targetEndpoint": "nope", "csvData": b64(&csv(&["ann"]))}),
        "NotFound",
    );
    assert_eq!(err["details"]["parameter"], json!("targetEndpoint"));
    h.err(
        json!({"op": "batch.new", "name": "b", "sourceEndpoint": "src", "csvData": b64(&csv(&["ann"])),
               "autoStart": true, "startAfter": "2030-01-01T00:00:00Z"}),
        "InvalidArgument",
    );
    h.err(
        json!({"op": "batch.new", "name": "b", "sourceEndpoint": "src", "csvData": b64(&csv(&["ann"])),
               "contentFilter": "Subject -eq 'x'"}),
        "InvalidArgument",
    );
    assert!(
        h.ok(json!({"op": "batch.get"}))
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        h.ok(json!({"op": "user.get"}))
            .as_array()
            .unwrap()
            .is_empty()
    );
    h.err(json!({"op": "batch.get", "identity": "b"}), "NotFound");

    h.batch("b", &csv(&["ann"]));
    h.err(json!({"op": "batch.new", "name": "B", "sourceEndpoint": "src", "csvData": b64(&csv(&["bob"]))}), "AlreadyExists");
    let err = h.err(
        json!({"op": "endpoint.remove", "identity": "src"}),
        "InvalidState",
    );
    assert!(err["message"].as_str().unwrap().contains('b'));
}

#[test]
fn row_warnings_keep_the_batch_from_auto_starting() {
    let h = Home::new();
    h.endpoint("src");
    h.batch("first", &csv(&["ann"]));
    let text = format!(
        "EmailAddress,UserName,Password\r\nbob@contoso.test,bob,{PASSWORD}\r\nnot-an-address,x,{PASSWORD}\r\nann@contoso.test,ann,{PASSWORD}\r\n"
    );
    let b = h.ok(json!({"op": "batch.new", "name": "second", "sourceEndpoint": "src", "csvData": b64(&text), "autoStart": true}));
    assert_eq!(b["Status"], json!("Stopped"));
    assert_eq!(b["TotalCount"], json!(1));
    assert_eq!(b["ValidationWarningCount"], json!(2));
    let w = b["ValidationWarnings"].as_array().unwrap();
    assert_eq!(w[0]["RowIndex"], json!(2));
    assert_eq!(w[1]["EmailAddress"], json!("ann@contoso.test"));
    assert!(
        w[1]["LocalizedErrorMessage"]
            .as_str()
            .unwrap()
            .contains("first")
    );
    assert!(
        b["Message"]
            .as_str()
            .unwrap()
            .contains("Start-MigrationBatch")
    );
}

#[test]
fn auto_start_shows_starting_at_once() {
    let h = Home::new();
    h.endpoint("src");
    let b = h.ok(json!({"op": "batch.new", "name": "b", "sourceEndpoint": "src", "csvData": b64(&csv(&["ann"])), "autoStart": true}));
    assert_eq!(b["Status"], json!("Starting"));
    assert_eq!(b["Flags"], json!("Start"));
    h.err(
        json!({"op": "batch.start", "identity": "b"}),
        "InvalidState",
    );
}

/// A worker that holds the state directory's lock but has not written its heartbeat for over
/// 30 s is named as hung in the warnings of every operation on batches, with what to do; while
/// its heartbeat is fresh nothing is said. A hung worker is not replaced, so Start on a
/// Starting batch is still refused.
#[test]
fn a_worker_with_a_stale_heartbeat_is_reported_as_hung() {
    let h = Home::new();
    h.endpoint("src");
    h.ok(json!({"op": "batch.new", "name": "b", "sourceEndpoint": "src", "csvData": b64(&csv(&["ann"])), "autoStart": true}));
    // This process plays the worker: it holds the lock and registers under its own pid.
    let _lock = imapmigration::process::WorkerLock::try_acquire(h.dir.path())
        .unwrap()
        .expect("the lock is free");
    let store = imapmigration_store::Store::open(h.dir.path()).unwrap();
    let now = imapmigration_store::now();
    let mut w = imapmigration_store::WorkerRecord {
        id: "w".into(),
        pid: std::process::id(),
        host: "host".into(),
        version: imapmigration::VERSION.into(),
        started_at: now - chrono::Duration::seconds(120),
        heartbeat_at: now - chrono::Duration::seconds(10),
    };
    store.worker_heartbeat(&w).unwrap();
    let fresh = h.call(json!({"op": "batch.get", "identity": "b"}));
    assert_eq!(fresh.get("warnings"), None, "{fresh}");

    w.heartbeat_at = now - chrono::Duration::seconds(45);
    store.worker_heartbeat(&w).unwrap();
    for req in [
        json!({"op": "batch.get", "identity": "b"}),
        json!({"op": "user.get", "identity": "ann@contoso.test"}),
        json!({"op": "statistics.get"}),
    ] {
        let op = req["op"].clone();
        let r = h.call(req);
        assert_eq!(r["ok"], json!(true), "{op}: {r}");
        let warnings = r["warnings"].to_string();
        assert!(
            warnings.contains(&format!("the worker (pid {}) holds", std::process::id()))
                && warnings.contains("it may be hung")
                && warnings.contains("the batch(es) b wait for it"),
            "{op}: {r}"
        );
    }
    h.err(
        json!({"op": "batch.start", "identity": "b"}),
        "InvalidState",
    );
    let cfg = h.ok(json!({"op": "config.get"}));
    assert_eq!(cfg["Workers"][0]["Pid"], json!(std::process::id()), "{cfg}");
    assert_eq!(cfg["Workers"][0]["Alive"], json!(false), "{cfg}");
}

#[test]
fn default_target_endpoint_comes_from_config() {
    let h = Home::new();
    h.endpoint("src");
    h.endpoint("dst");
    h.err(
        json!({"op": "config.set", "defaultTargetEndpoint": "nope"}),
        "NotFound",
    );
    let c = h.ok(json!({"op": "config.set", "defaultTargetEndpoint": "dst"}));
    assert_eq!(c["DefaultTargetEndpoint"], json!("dst"));
    let b = h.batch("b", &csv(&["ann"]));
    assert_eq!(b["TargetEndpoint"]["Name"], json!("dst"));
    assert_eq!(b["TargetMaildir"], Value::Null);
    let e = h.err(
        json!({"op": "endpoint.remove", "identity": "dst"}),
        "InvalidState",
    );
    assert!(e["message"].as_str().unwrap().contains('b'));
    h.err(
        json!({"op": "batch.new", "name": "self", "sourceEndpoint": "src", "targetEndpoint": "src", "csvData": b64(&csv(&["x"]))}),
        "InvalidArgument",
    );
}

#[test]
fn batch_lifecycle_transitions_and_refusals() {
    let h = Home::new();
    h.endpoint("src");
    h.batch("b", &csv(&["ann", "bob"]));
    h.err(json!({"op": "batch.stop", "identity": "b"}), "InvalidState");
    h.err(
        json!({"op": "batch.complete", "identity": "b"}),
        "InvalidState",
    );
    h.err(
        json!({"op": "batch.set", "identity": "b", "syncNow": true}),
        "InvalidState",
    );
    // Identity may be left out while exactly one batch exists.
    let s = h.ok(json!({"op": "batch.start"}));
    assert_eq!(s["Status"], json!("Starting"));
    assert!(s["SupportedActions"].as_str().unwrap().contains("Stop"));
    let e = h.err(
        json!({"op": "batch.start", "identity": "b"}),
        "InvalidState",
    );
    assert_eq!(e["details"]["status"], json!("Starting"));
    h.err(
        json!({"op": "batch.set", "identity": "b", "startAfter": "2030-01-01T00:00:00Z"}),
        "InvalidState",
    );
    h.err(
        json!({"op": "batch.set", "identity": "b", "csvData": b64(&csv(&["cid"]))}),
        "InvalidState",
    );
    let s = h.ok(json!({"op": "batch.stop", "identity": "b"}));
    assert_eq!(s["Status"], json!("Stopping"));
    h.err(json!({"op": "batch.stop", "identity": "b"}), "InvalidState");
    h.err(
        json!({"op": "batch.start", "identity": "b"}),
        "InvalidState",
    );
    assert!(
        h.ok(json!({"op": "batch.remove", "identity": "b"}))
            .is_null()
    );
    assert_eq!(h.batch_status("b"), "Removing");
    h.err(
        json!({"op": "batch.remove", "identity": "b"}),
        "InvalidState",
    );
    h.err(
        json!({"op": "batch.set", "identity": "b", "notificationEmails": ["a@b.test"]}),
        "InvalidState",
    );

    h.batch("c", &csv(&["cid"]));
    let e = h.err(json!({"op": "batch.start"}), "InvalidArgument");
    assert_eq!(e["details"]["parameter"], json!("identity"));
    h.err(json!({"op": "batch.start", "identity": "zzz"}), "NotFound");
}

#[test]
fn a_new_batch_is_stopped_and_status_created_finds_it_until_it_starts() {
    let h = Home::new();
    h.endpoint("src");
    let b = h.batch("never", &csv(&["ann"]));
    assert_eq!(b["Status"], json!("Stopped"));
    assert_eq!(b["State"], json!("Stopped"));
    assert_eq!(b["StartDateTime"], Value::Null);
    assert_eq!(b["WorkflowStage"], json!("Validation"));
    let auto = h.ok(
        json!({"op": "batch.new", "name": "auto", "sourceEndpoint": "src",
        "csvData": b64(&csv(&["bob"])), "autoStart": true}),
    );
    assert_eq!(auto["Status"], json!("Starting"));
    assert_ne!(auto["StartDateTime"], Value::Null);
    let names = |status: &str| -> Vec<String> {
        h.ok(json!({"op": "batch.get", "status": status}))
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["Name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names("Created"), ["never"]);
    assert_eq!(names("Stopped"), ["never"]);
    assert_eq!(
        h.ok(json!({"op": "batch.get", "identity": "never", "status": "Created"}))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Never started, so -StartAfter may still be set; Stop has nothing to stop.
    h.ok(json!({"op": "batch.set", "identity": "never", "startAfter": "2030-01-01T00:00:00Z"}));
    let e = h.err(
        json!({"op": "batch.stop", "identity": "never"}),
        "InvalidState",
    );
    assert_eq!(e["details"]["status"], json!("Stopped"));
    h.ok(json!({"op": "batch.stop", "identity": "auto"}));
    assert!(names("Created").contains(&"never".to_owned()));
    assert!(
        !names("Created").contains(&"auto".to_owned()),
        "auto was started"
    );
    h.ok(json!({"op": "batch.start", "identity": "never"}));
    assert!(
        names("Created").is_empty(),
        "a started batch is no longer Created"
    );
}

#[test]
fn removing_a_never_started_batch_deletes_it_at_once() {
    let h = Home::new();
    h.endpoint("src");
    h.batch("b", &csv(&["ann"]));
    h.ok(json!({"op": "batch.remove", "identity": "b"}));
    h.err(json!({"op": "batch.get", "identity": "b"}), "NotFound");
    assert!(
        h.ok(json!({"op": "user.get"}))
            .as_array()
            .unwrap()
            .is_empty()
    );
    h.ok(json!({"op": "endpoint.remove", "identity": "src"}));
}

#[test]
fn batch_get_filters() {
    let h = Home::new();
    h.endpoint("src");
    h.endpoint("other");
    h.batch("a", &csv(&["ann"]));
    h.batch("b", &csv(&["bob"]));
    h.ok(json!({"op": "batch.start", "identity": "b"}));
    assert_eq!(
        h.ok(json!({"op": "batch.get"})).as_array().unwrap().len(),
        2
    );
    let by_status = h.ok(json!({"op": "batch.get", "status": "Starting"}));
    assert_eq!(by_status.as_array().unwrap().len(), 1);
    assert_eq!(by_status[0]["Name"], json!("b"));
    assert_eq!(
        h.ok(json!({"op": "batch.get", "endpoint": "other"}))
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        h.ok(json!({"op": "batch.get", "endpoint": "src"}))
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        h.ok(json!({"op": "batch.get", "resultSize": 1}))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    h.err(
        json!({"op": "batch.get", "status": "Exploded"}),
        "InvalidArgument",
    );
    let with_report = h.ok(json!({"op": "batch.get", "identity": "a", "includeReport": true}));
    assert!(with_report[0]["Report"].is_array());
    assert!(
        h.ok(json!({"op": "batch.get", "identity": "a"}))[0]
            .get("Report")
            .is_none()
    );
}

#[test]
fn batch_set_adds_users_and_replaces_passwords() {
    let h = Home::new();
    h.endpoint("src");
    h.batch("b", &csv(&["ann", "bob"]));
    let b = h.ok(json!({"op": "batch.set", "identity": "b", "addUsers": true, "csvData": b64(&csv(&["bob", "cid"]))}));
    assert_eq!(b["TotalCount"], json!(3));
    assert_eq!(b["ValidationWarningCount"], json!(1));
    assert!(
        b["ValidationWarnings"][0]["LocalizedErrorMessage"]
            .as_str()
            .unwrap()
            .contains("bob")
    );

    let text = "EmailAddress,UserName,Password\r\nann@contoso.test,ann.new,Other-Pass-1\r\ndan@contoso.test,dan,Other-Pass-2\r\n";
    let b = h.ok(json!({"op": "batch.set", "identity": "b", "csvData": b64(text)}));
    assert_eq!(b["TotalCount"], json!(4));
    assert_eq!(b["ValidationWarningCount"], json!(0));
    let ann = h.ok(json!({"op": "user.get", "identity": "ann@contoso.test"}));
    assert_eq!(ann[0]["UserName"], json!("ann.new"));

    let b = h.ok(json!({"op": "batch.set", "identity": "b", "notificationEmails": ["x@contoso.test", "y@contoso.test"],
                        "badItemLimit": 10, "largeItemLimit": "Unlimited", "startAfter": "2031-01-01T00:00:00Z",
                        "update": true}));
    assert_eq!(
        b["NotificationEmails"],
        json!(["x@contoso.test", "y@contoso.test"])
    );
    assert_eq!(b["BadItemLimit"], json!(10));
    assert_eq!(b["StartAfter"], json!("2031-01-01T00:00:00Z"));
    assert_eq!(b["StartAfterUTC"], json!("2031-01-01T00:00:00Z"));
    h.err(
        json!({"op": "batch.set", "identity": "b", "completeAfter": "2030-01-01T00:00:00Z"}),
        "InvalidArgument",
    );
    h.err(
        json!({"op": "batch.set", "identity": "b", "notificationEmails": ["nope"]}),
        "InvalidArgument",
    );
    h.err(
        json!({"op": "batch.set", "identity": "b", "addUsers": true}),
        "InvalidArgument",
    );
    h.err(
        json!({"op": "batch.set", "identity": "b", "csvData": b64("EmailAddress\r\nx@y.test\r\n")}),
        "CsvInvalid",
    );
}

// ---- users ------------------------------------------------------------------------------------

#[test]
fn user_get_statistics_and_removal() {
    let h = Home::new();
    h.endpoint("src");
    h.batch("b", &csv(&["ann", "bob"]));
    let ann = h.ok(json!({"op": "user.get", "identity": "ANN@contoso.test"}));
    assert_eq!(ann.as_array().unwrap().len(), 1);
    let guid = ann[0]["Guid"].clone();
    assert_eq!(ann[0]["Identity"]["Id"], json!("ann@contoso.test"));
    assert_eq!(
        h.ok(json!({"op": "user.get", "identity": guid}))[0]["EmailAddress"],
        json!("ann@contoso.test")
    );
    // An identity, GUID or address that names nobody is NotFound, never everyone (a typo piped
    // into Remove-MigrationUser must remove nothing).
    let e = h.err(
        json!({"op": "user.get", "identity": "zed@contoso.test"}),
        "NotFound",
    );
    assert_eq!(e["details"]["parameter"], json!("identity"));
    let e = h.err(
        json!({"op": "user.get", "mailboxGuid": "6f1c2a8e-1d2b-4c3d-9e4f-5a6b7c8d9e0f"}),
        "NotFound",
    );
    assert_eq!(e["details"]["parameter"], json!("mailboxGuid"));
    let e = h.err(
        json!({"op": "user.get", "emailAddress": "zed@contoso.test"}),
        "NotFound",
    );
    assert_eq!(e["details"]["parameter"], json!("emailAddress"));
    assert_eq!(
        h.ok(json!({"op": "user.get", "emailAddress": "bob@contoso.test"}))[0]["EmailAddress"],
        json!("bob@contoso.test")
    );
    assert_eq!(
        h.ok(json!({"op": "user.get", "status": "Queued"}))
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        h.ok(json!({"op": "user.get", "statusSummary": "Failed"}))
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        h.ok(json!({"op": "user.get", "emailAddress": "bob@contoso.test"}))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        h.ok(json!({"op": "user.get", "resultSize": 1}))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    h.err(json!({"op": "user.get", "batchId": "nope"}), "NotFound");
    h.err(
        json!({"op": "user.get", "status": "Dancing"}),
        "InvalidArgument",
    );

    let st = h.ok(
        json!({"op": "user.statistics", "identity": "ann@contoso.test", "includeSkippedItems": true,
                         "includeReport": true, "limitSkippedItemsTo": 5}),
    );
    assert_eq!(st["SyncedItemCount"], json!(0));
    assert_eq!(st["PercentageComplete"], json!(0));
    assert_eq!(st["SkippedItems"], json!([]));
    assert_eq!(st["Report"], json!([]));
    assert_eq!(st["BytesTransferred"], json!(0));
    h.err(
        json!({"op": "user.statistics", "identity": "zed@contoso.test"}),
        "NotFound",
    );
    h.err(json!({"op": "user.statistics"}), "InvalidArgument");

    h.err(
        json!({"op": "user.start", "identity": "ann@contoso.test"}),
        "InvalidState",
    );
    h.err(
        json!({"op": "user.stop", "identity": "ann@contoso.test"}),
        "InvalidState",
    );
    h.err(
        json!({"op": "user.set", "identity": "ann@contoso.test", "syncNow": true}),
        "InvalidState",
    );
    h.err(json!({"op": "user.set", "identity": "ann@contoso.test", "startAfter": "2030-01-01T00:00:00Z"}), "Unsupported");
    let u = h.ok(json!({"op": "user.set", "identity": "ann@contoso.test"}));
    assert_eq!(u["Status"], json!("Queued"));

    // A queued user of a running batch is being migrated: stop the batch first.
    h.ok(json!({"op": "batch.start", "identity": "b"}));
    let e = h.err(
        json!({"op": "user.remove", "identity": "bob@contoso.test"}),
        "InvalidState",
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("stop the batch first")
    );
    let stopping = h.ok(json!({"op": "user.stop", "identity": "bob@contoso.test"}));
    assert_eq!(stopping["Status"], json!("Stopping"));
    h.err(
        json!({"op": "user.stop", "identity": "bob@contoso.test"}),
        "InvalidState",
    );
}

#[test]
fn user_remove_in_an_idle_batch_keeps_counts_consistent() {
    let h = Home::new();
    h.endpoint("src");
    h.batch("b", &csv(&["ann", "bob"]));
    assert!(
        h.ok(json!({"op": "user.remove", "identity": "ann@contoso.test"}))
            .is_null()
    );
    h.err(
        json!({"op": "user.remove", "identity": "ann@contoso.test"}),
        "NotFound",
    );
    let b = h.ok(json!({"op": "batch.get", "identity": "b"}));
    assert_eq!(b[0]["TotalCount"], json!(1));
    assert_eq!(b[0]["PendingCount"], json!(1));
}

// ---- configuration ----------------------------------------------------------------------------

#[test]
fn config_validates_and_never_returns_the_smtp_password() {
    let h = Home::new();
    let c = h.ok(json!({"op": "config.get"}));
    assert_eq!(c["IncrementalSyncIntervalSecs"], json!(86400));
    assert_eq!(c["SupportsCutover"], json!(false));
    assert_eq!(c["DefaultTargetEndpoint"], Value::Null);
    let e = h.err(
        json!({"op": "config.set", "incrementalSyncIntervalSecs": 30}),
        "InvalidArgument",
    );
    assert_eq!(
        e["details"]["setting"],
        json!("incrementalSyncIntervalSecs")
    );
    let c = h.ok(json!({"op": "config.set", "incrementalSyncIntervalSecs": 3600, "maxConcurrentMigrations": 8,
                        "smtpRelay": {"server": "smtp.contoso.test", "from": "migration@contoso.test",
                                      "userName": "relay", "password": ADMIN_SECRET}}));
    assert_eq!(c["IncrementalSyncIntervalSecs"], json!(3600));
    assert_eq!(c["MaxConcurrentMigrations"], json!(8));
    assert_eq!(c["SmtpRelay"]["Server"], json!("smtp.contoso.test"));
    assert_eq!(c["SmtpRelay"]["Port"], json!(587));
    assert_eq!(c["SmtpRelay"]["HasPassword"], json!(true));
    // Changing only the port keeps the stored password.
    let c = h.ok(json!({"op": "config.set", "smtpRelay": {"server": "smtp.contoso.test", "port": 25,
                        "from": "migration@contoso.test", "userName": "relay", "security": "None"}}));
    assert_eq!(c["SmtpRelay"]["HasPassword"], json!(true));
    h.err(
        json!({"op": "config.set", "smtpRelay": {"server": "smtp.contoso.test", "from": "nope"}}),
        "InvalidArgument",
    );
    let c = h.ok(json!({"op": "config.set", "smtpRelay": null}));
    assert_eq!(c["SmtpRelay"], Value::Null);
}

#[test]
fn the_memory_budget_is_stored_in_bytes_checked_and_cleared() {
    let h = Home::new();
    let c = h.ok(json!({"op": "config.get"}));
    assert_eq!(c["MemoryBudget"], json!(256u64 << 20));
    let c = h.ok(json!({"op": "config.set", "memoryBudget": "512MB"}));
    assert_eq!(c["MemoryBudget"], json!(512u64 << 20));
    let c = h.ok(json!({"op": "config.set", "memoryBudget": 64u64 << 20}));
    assert_eq!(c["MemoryBudget"], json!(64u64 << 20));
    for bad in [json!(1024), json!("lots"), json!(8u64 << 30), json!(true)] {
        let e = h.err(
            json!({"op": "config.set", "memoryBudget": bad}),
            "InvalidArgument",
        );
        assert_eq!(e["details"]["setting"], json!("memoryBudget"), "{bad}");
    }
    let c = h.ok(json!({"op": "config.set", "memoryBudget": null}));
    assert_eq!(c["MemoryBudget"], json!(256u64 << 20));
}

#[test]
fn stall_limits_are_stored_checked_shown_and_cleared() {
    let h = Home::new();
    let c = h.ok(json!({"op": "config.get"}));
    let shown = |c: &Value| {
        [
            "ConnectTimeout",
            "GreetingTimeout",
            "TlsTimeout",
            "LoginTimeout",
            "IdleTimeout",
            "MinTransferRate",
        ]
        .map(|k| c[k].as_f64().unwrap_or(-1.0))
    };
    // The tests run without the IMAPMIGRATION_TIMEOUT_* overrides: the defaults show.
    assert_eq!(shown(&c), [15.0, 30.0, 30.0, 60.0, 60.0, 1024.0]);
    let c = h.ok(
        json!({"op": "config.set", "connectTimeout": 5, "greetingTimeout": 12.5,
        "tlsTimeout": 20, "loginTimeout": 90, "idleTimeout": 120, "minTransferRate": "4 KB"}),
    );
    assert_eq!(shown(&c), [5.0, 12.5, 20.0, 90.0, 120.0, 4096.0]);
    assert_eq!(shown(&h.ok(json!({"op": "config.get"}))), shown(&c));
    for (key, bad) in [
        ("connectTimeout", json!(0)),
        ("greetingTimeout", json!(-3)),
        ("tlsTimeout", json!(86_400)),
        ("loginTimeout", json!("a minute")),
        ("idleTimeout", json!(true)),
        ("minTransferRate", json!(-1)),
        ("minTransferRate", json!("quick")),
        ("minTransferRate", json!(1u64 << 40)),
    ] {
        let mut req = json!({"op": "config.set"});
        req[key] = bad.clone();
        let e = h.err(req, "InvalidArgument");
        assert_eq!(e["details"]["parameter"], json!(key), "{bad}");
        assert!(
            e["message"].as_str().unwrap_or_default().starts_with(key),
            "{e}"
        );
    }
    // A refused value changes nothing, the other settings of the call included.
    let e = h.err(
        json!({"op": "config.set", "connectTimeout": 7, "idleTimeout": 0}),
        "InvalidArgument",
    );
    assert_eq!(e["details"]["parameter"], json!("idleTimeout"));
    let c = h.ok(json!({"op": "config.get"}));
    assert_eq!(c["ConnectTimeout"], json!(5.0));
    let c = h.ok(json!({"op": "config.set", "connectTimeout": null, "minTransferRate": 0}));
    assert_eq!(c["ConnectTimeout"], json!(15.0));
    assert_eq!(c["MinTransferRate"], json!(0));
    assert_eq!(c["IdleTimeout"], json!(120.0));
}

#[test]
fn no_response_ever_carries_a_password() {
    let h = Home::new();
    h.ok(json!({"op": "endpoint.new", "name": "src", "remoteServer": "imap.example.test", "skipVerification": true,
                "credentials": {"userName": "admin", "password": ADMIN_SECRET}}));
    h.batch("b", &csv(&["ann", "bob"]));
    h.call(json!({"op": "batch.new", "name": "broken", "sourceEndpoint": "src",
                  "csvData": b64(&format!("EmailAddress,UserName,Password,Extra\r\na@b.test,a,{PASSWORD},1\r\n"))}));
    h.call(json!({"op": "batch.new", "name": "rows", "sourceEndpoint": "src",
                  "csvData": b64(&format!("EmailAddress,UserName,Password\r\nbad,a,{PASSWORD}\r\n,b,{PASSWORD}\r\n"))}));
    h.call(json!({"op": "batch.set", "identity": "b", "csvData": b64(&csv(&["ann", "eve"]))}));
    h.call(json!({"op": "batch.get", "includeReport": true}));
    h.call(json!({"op": "user.get"}));
    h.call(json!({"op": "user.statistics", "identity": "ann@contoso.test", "includeReport": true, "includeSkippedItems": true}));
    h.call(json!({"op": "endpoint.get"}));
    h.call(json!({"op": "endpoint.set", "identity": "src", "port": PASSWORD}));
    h.call(json!({"op": "config.set", "smtpRelay": {"server": "s.test", "from": "a@b.test", "userName": "u", "password": PASSWORD}}));
    h.call(json!({"op": "config.get"}));
    // Home::call asserts on every response; make sure they were all seen.
    assert!(h.seen.lock().unwrap().len() >= 12);
}

// ---- batches the worker has moved on ----------------------------------------------------------

/// Puts batch `name` into `status` and sets one user's status and counters, as the worker would.
fn worker_did(
    h: &Home,
    name: &str,
    status: &str,
    user: &str,
    user_status: &str,
    synced: u64,
    skipped: u64,
) {
    use imapmigration_store::{BatchUpdate, Store, UserUpdate};
    let store = Store::open(h.dir.path()).unwrap();
    let b = store.get_batch(name).unwrap().unwrap();
    store
        .update_batch(
            &b.id,
            BatchUpdate {
                status: Some(status.parse().unwrap()),
                requested_action: Some(None),
                ..Default::default()
            },
        )
        .unwrap();
    let u = store.find_users(user).unwrap().remove(0);
    store
        .update_user(
            &u.id,
            UserUpdate {
                status: Some(user_status.parse().unwrap()),
                items_total: Some(synced + skipped),
                items_synced: Some(synced),
                items_skipped: Some(skipped),
                passes: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
}

#[test]
fn synced_batches_retry_sync_and_complete() {
    let h = Home::new();
    h.endpoint("src");
    h.batch("b", &csv(&["ann", "bob"]));
    worker_did(&h, "b", "Synced", "ann@contoso.test", "Synced", 1000, 5);
    worker_did(&h, "b", "Synced", "bob@contoso.test", "Synced", 10, 0);
    let b = h.ok(json!({"op": "batch.get", "identity": "b"}));
    assert_eq!(b[0]["SyncedCount"], json!(2));
    assert_eq!(b[0]["ItemsSynced"], json!(1010));
    assert_eq!(b[0]["ItemsSkipped"], json!(5));
    assert_eq!(b[0]["DataConsistencyScore"], json!("Good"));
    // Nothing failed: nothing to retry.
    h.err(
        json!({"op": "batch.start", "identity": "b"}),
        "InvalidState",
    );
    let st = h.ok(json!({"op": "user.statistics", "identity": "ann@contoso.test"}));
    assert_eq!(st["PercentageComplete"], json!(100));
    assert_eq!(st["DataConsistencyScore"], json!("Good"));

    let s = h.ok(json!({"op": "batch.set", "identity": "b", "syncNow": true}));
    assert_eq!(s["Flags"], json!("Start"));
    assert_eq!(s["Status"], json!("Synced"));

    // A Synced user stops at once while the batch is idle.
    let u = h.ok(json!({"op": "user.stop", "identity": "bob@contoso.test"}));
    assert_eq!(u["Status"], json!("IncrementalStopped"));
    let u = h.ok(json!({"op": "user.start", "identity": "bob@contoso.test"}));
    assert_eq!(u["Status"], json!("Queued"));
    assert_eq!(u["Flags"], json!("Start"));
    assert_eq!(h.batch_status("b"), "Starting");

    worker_did(
        &h,
        "b",
        "SyncedWithErrors",
        "bob@contoso.test",
        "Failed",
        0,
        0,
    );
    let s = h.ok(json!({"op": "batch.start", "identity": "b"}));
    assert_eq!(s["Status"], json!("Starting"));
    let bob = h.ok(json!({"op": "user.get", "identity": "bob@contoso.test"}));
    assert_eq!(bob[0]["Status"], json!("Queued"));

    worker_did(&h, "b", "Synced", "bob@contoso.test", "Synced", 10, 0);
    let u = h.ok(json!({"op": "user.set", "identity": "bob@contoso.test", "syncNow": true}));
    assert_eq!(u["Flags"], json!("Start"));
    worker_did(&h, "b", "Synced", "bob@contoso.test", "Synced", 10, 0);
    let c = h.ok(json!({"op": "batch.complete", "identity": "b"}));
    assert_eq!(c["Status"], json!("Completing"));
    h.err(
        json!({"op": "batch.complete", "identity": "b"}),
        "InvalidState",
    );

    worker_did(&h, "b", "Completed", "bob@contoso.test", "Completed", 10, 0);
    h.err(
        json!({"op": "batch.start", "identity": "b"}),
        "InvalidState",
    );
    h.err(
        json!({"op": "batch.set", "identity": "b", "skipReports": true}),
        "InvalidState",
    );
    h.err(json!({"op": "batch.stop", "identity": "b"}), "InvalidState");
}

#[test]
fn users_added_to_a_synced_batch_start_without_start_batch() {
    let h = Home::new();
    h.endpoint("src");
    h.batch("b", &csv(&["ann"]));
    worker_did(&h, "b", "Synced", "ann@contoso.test", "Synced", 3, 0);
    let b = h.ok(json!({"op": "batch.set", "identity": "b", "addUsers": true, "csvData": b64(&csv(&["bob"]))}));
    assert_eq!(b["Status"], json!("Starting"));
    assert_eq!(b["PendingCount"], json!(1));
    assert_eq!(b["SyncedCount"], json!(1));
}

#[test]
fn reports_written_by_the_worker_are_linked() {
    let h = Home::new();
    h.endpoint("src");
    h.batch("b", &csv(&["ann"]));
    let b = h.ok(json!({"op": "batch.get", "identity": "b"}));
    assert_eq!(
        b[0]["Reports"],
        json!([]),
        "no report before the first pass"
    );
    // As the worker keeps them after a pass.
    let store = imapmigration_store::Store::open(h.dir.path()).unwrap();
    let id: uuid::Uuid = b[0]["BatchGuid"].as_str().unwrap().parse().unwrap();
    let text = "EmailAddress,Status,ItemsMigrated,ItemsSkipped\r\nann@contoso.com,Synced,3,0\r\n";
    store
        .reports_put(
            &id,
            "b",
            &[(imapmigration_store::ReportKind::Statistics, text.as_bytes())],
            &imapmigration_store::now(),
        )
        .unwrap();
    let dir = h.dir.path().join("reports").join("b");
    std::fs::remove_dir_all(&dir).unwrap();
    // Linked as files of this state directory, copied again from the store when gone.
    let b = h.ok(json!({"op": "batch.get", "identity": "b"}));
    let r = &b[0]["Reports"][0];
    let success = r["SuccessUrl"].as_str().unwrap();
    assert_eq!(
        success,
        dir.join("MigrationStatistics.csv").display().to_string()
    );
    assert_eq!(std::fs::read_to_string(success).unwrap(), text);
    assert_eq!(r["ErrorUrl"], Value::Null);
    assert!(r["CreationTimeUTC"].is_string());
}

// ---- argument errors ----------------------------------------------------------------------------

/// A password given where another type belongs is refused naming the argument and what it
/// expected; the value appears nowhere in the response (`Home::call` checks every response for
/// `PASSWORD` too).
#[test]
fn wrongly_typed_arguments_are_named_and_never_quoted() {
    let h = Home::new();
    let cases = [
        (
            json!({"op": "endpoint.new", "name": "e", "remoteServer": "imap.example.test",
                   "skipVerification": PASSWORD}),
            "skipVerification",
            "invalid argument skipVerification for endpoint.new: expected a boolean, found a string",
        ),
        (
            json!({"op": "endpoint.new", "name": "e", "remoteServer": "imap.example.test",
                   "credentials": {"userName": {"name": PASSWORD}, "password": PASSWORD}}),
            "credentials.userName",
            "invalid argument credentials.userName for endpoint.new: expected a string, found an object",
        ),
        (
            json!({"op": "endpoint.new", "name": "e", "remoteServer": "imap.example.test",
                   "credentials": PASSWORD}),
            "credentials",
            "invalid argument credentials for endpoint.new: expected struct Credentials, found a string",
        ),
        (
            json!({"op": "batch.new", "name": "b", "sourceEndpoint": "src",
                   "reportInterval": PASSWORD}),
            "reportInterval",
            "invalid argument reportInterval for batch.new: expected u64, found a string",
        ),
        (
            json!({"op": "config.set", "smtpRelay": {"server": "smtp.example.test",
                   "port": PASSWORD, "userName": "relay", "password": PASSWORD}}),
            "smtpRelay.port",
            "invalid argument smtpRelay.port for config.set: expected u16, found a string",
        ),
        (
            json!({"op": "user.statistics", "identity": "ann@contoso.test",
                   "includeReport": PASSWORD}),
            "includeReport",
            "invalid argument includeReport for user.statistics: expected a boolean, found a string",
        ),
    ];
    for (req, parameter, message) in cases {
        let e = h.err(req.clone(), "InvalidArgument");
        assert_eq!(e["message"], json!(message), "{req}");
        assert_eq!(e["details"]["parameter"], json!(parameter), "{req}");
        assert!(!e.to_string().contains(PASSWORD), "{req}: {e}");
    }
    // Nothing was created on the way.
    assert_eq!(h.ok(json!({"op": "endpoint.get"})), json!([]));
}

#[test]
fn users_are_moved_only_when_no_pass_runs_and_their_batch_stays() {
    let h = Home::new();
    h.endpoint("src");
    h.batch("b", &csv(&["ann", "bob"]));
    worker_did(&h, "b", "Removing", "ann@contoso.test", "Synced", 10, 0);
    let users = json!(["ann@contoso.test", "bob@contoso.test"]);
    let e = h.err(
        json!({"op": "batch.new", "name": "Retry", "users": users}),
        "InvalidState",
    );
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("ann@contoso.test") && msg.contains("being removed"),
        "{msg}"
    );
    assert!(msg.contains("nothing was moved"), "{msg}");
    h.err(json!({"op": "batch.get", "identity": "Retry"}), "NotFound");

    // A user whose pass runs does not move either; its batch-mate neither.
    worker_did(&h, "b", "Syncing", "ann@contoso.test", "Syncing", 10, 0);
    let e = h.err(
        json!({"op": "batch.new", "name": "Retry", "users": users}),
        "InvalidState",
    );
    assert_eq!(
        e["details"]["users"],
        json!(["ann@contoso.test", "bob@contoso.test"])
    );
    let names = |batch: &str| -> Vec<String> {
        h.ok(json!({"op": "user.get", "batchId": batch}))
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["EmailAddress"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names("b").len(), 2);

    // Idle again: both move, keep their counts, and wait for Start in a Stopped batch.
    worker_did(
        &h,
        "b",
        "SyncedWithErrors",
        "ann@contoso.test",
        "Synced",
        10,
        0,
    );
    worker_did(
        &h,
        "b",
        "SyncedWithErrors",
        "bob@contoso.test",
        "Failed",
        3,
        0,
    );
    let r = h.ok(json!({"op": "batch.new", "name": "Retry", "users": users}));
    assert_eq!(r["Status"], json!("Stopped"));
    assert_eq!(r["TotalCount"], json!(2));
    assert_eq!(names("Retry").len(), 2);
    assert!(names("b").is_empty());
    let ann = h.ok(json!({"op": "user.statistics", "identity": "ann@contoso.test"}));
    assert_eq!(ann["Status"], json!("Queued"));
    assert_eq!(ann["SyncedItemCount"], json!(10));
    assert_eq!(ann["SyncPasses"], json!(1));
    h.err(
        json!({"op": "batch.new", "name": "Again", "users": ["ann@contoso.test"], "csvData": b64(&csv(&["cid"]))}),
        "InvalidArgument",
    );
}

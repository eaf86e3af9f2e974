//! Bounds a hostile server, a careless CSV or a crowded state directory must not break: a
//! server that echoes the password and sends terminal escapes, the worker's environment, the
//! modes of the state files.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_imapmigration");

/// The password every scripted login uses; the server sends it back in its refusals.
const PASSWORD: &str = "Echo-Pw-7431";

/// A scripted IMAP source on 127.0.0.1: it accepts any login, lists INBOX, and refuses to open
/// it with a reply that quotes the LOGIN command it received (the password with it) and carries
/// terminal escape sequences and a forged line break.
fn echoing_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for sock in listener.incoming().flatten() {
            std::thread::spawn(move || serve(sock));
        }
    });
    port
}

fn serve(sock: TcpStream) {
    let mut w = sock.try_clone().unwrap();
    let mut r = BufReader::new(sock);
    let _ = w.write_all(b"* OK [CAPABILITY IMAP4rev1] scripted echo server ready\r\n");
    let mut login = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end().to_string();
        let (tag, rest) = line.split_once(' ').unwrap_or((&line, ""));
        let verb = rest
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "CAPABILITY" => format!("* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n"),
            "LOGIN" => {
                login = rest.to_string();
                format!("{tag} OK [CAPABILITY IMAP4rev1] logged in\r\n")
            }
            "NAMESPACE" => format!("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n{tag} OK done\r\n"),
            "LIST" => format!("* LIST () \"/\" INBOX\r\n{tag} OK done\r\n"),
            "EXAMINE" | "SELECT" | "STATUS" => format!(
                "{tag} NO [CANNOT] mailbox locked by {login} \x1b[2J\x1b]0;owned\x07 \u{202e}gpj.exe\r\n"
            ),
            "LOGOUT" => format!("* BYE bye\r\n{tag} OK done\r\n"),
            _ => format!("{tag} OK done\r\n"),
        };
        if w.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn csv_bytes() -> Vec<u8> {
    format!("EmailAddress,UserName,Password\r\nann@contoso.test,ann,{PASSWORD}\r\n").into_bytes()
}

/// Every file below `dir`, with its bytes.
fn files_below(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_below(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((p, bytes));
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// No file of the state directory holds the password (sealed blobs are ciphertext), and the
/// texts that admins read hold no raw escape character.
fn assert_state_clean(home: &Path) {
    let files = files_below(home);
    assert!(
        files.iter().any(|(p, _)| p.ends_with("state.db")),
        "no state.db in {}",
        home.display()
    );
    for (path, bytes) in &files {
        assert!(
            !contains(bytes, PASSWORD.as_bytes()),
            "{} holds the password",
            path.display()
        );
        let text_file = path.extension().is_some_and(|e| e == "csv")
            || path.to_string_lossy().contains("/logs/");
        if text_file {
            assert!(
                !bytes.iter().any(|&b| b == 0x1b || b == 0x07),
                "{} holds a raw control character",
                path.display()
            );
        }
    }
    let store = imapmigration_store::Store::open(home).unwrap();
    let users = store.list_users(&Default::default()).unwrap();
    assert_eq!(users.len(), 1);
    let error = users[0]
        .last_error
        .clone()
        .expect("the user failed with an error");
    assert!(error.contains("mailbox locked by"), "{error}");
    assert!(error.contains("***"), "the password is not masked: {error}");
    assert!(
        error.contains("\\u{1b}[2J") && error.contains("\\u{202e}"),
        "escapes are not shown escaped: {error}"
    );
    assert!(!error.chars().any(char::is_control), "{error}");
    let events = store.events_for_user(&users[0].id, None).unwrap();
    assert!(!events.is_empty());
    for e in events {
        assert!(!e.message.contains(PASSWORD), "{}", e.message);
        assert!(!e.message.chars().any(char::is_control), "{}", e.message);
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The state directory and every state file in it are the owner's alone: 0700 directories,
/// 0600 files (the Maildir store aside, which Dovecot serves).
fn assert_owner_only(home: &Path) {
    assert_eq!(mode(home), 0o700, "{}", home.display());
    let mut seen = Vec::new();
    for (path, _) in files_below(home) {
        if path.starts_with(home.join("maildir")) {
            continue;
        }
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| d.starts_with(home)) {
            assert_eq!(mode(d), 0o700, "{}", d.display());
            dir = d.parent();
        }
        seen.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    for name in ["state.db", "secret.key", "MigrationErrors.csv"] {
        assert!(seen.iter().any(|s| s == name), "no {name} in {seen:?}");
    }
}

fn migration_errors_csv(home: &Path, batch: &str) -> String {
    let path = home.join("reports").join(batch).join("MigrationErrors.csv");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_server_echoing_the_password_leaks_it_nowhere_through_the_cli() {
    let port = echoing_server();
    let work = tempfile::tempdir().unwrap();
    let csv = work.path().join("users.csv");
    std::fs::write(&csv, csv_bytes()).unwrap();
    let home = work.path().join("state");
    let out = Command::new(BIN)
        .args(["migrate", "--quiet", "--name", "Echo", "--csv"])
        .arg(&csv)
        .arg("--source")
        .arg(format!("imap://127.0.0.1:{port}"))
        .arg("--home")
        .arg(&home)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("ann@contoso.test"), "{stdout}");
    assert!(stdout.contains("mailbox locked by"), "{stdout}");
    for text in [&stdout, &stderr] {
        assert!(!text.contains(PASSWORD), "the password was printed: {text}");
        assert!(
            !text.contains('\x1b') && !text.contains('\x07') && !text.contains('\u{202e}'),
            "a raw control character was printed: {text:?}"
        );
    }
    assert_state_clean(&home);
    assert_owner_only(&home);
    let report = migration_errors_csv(&home, "Echo");
    assert!(report.contains("mailbox locked by"), "{report}");
    assert!(!report.contains(PASSWORD), "{report}");
}

fn call(home: &Path, op: &str, mut args: Value) -> Value {
    args["op"] = json!(op);
    args["home"] = json!(home);
    args["workerPath"] = json!(BIN);
    imapmigration::api::handle_json(&args.to_string())
}

fn ok(home: &Path, op: &str, args: Value) -> Value {
    let r = call(home, op, args);
    assert_eq!(r["ok"], json!(true), "{op} failed: {r}");
    r["result"].clone()
}

/// Stops the worker of `home` (SIGTERM, so its log is flushed), waiting until it is gone.
fn stop_worker(home: &Path) {
    if let Some(pid) = imapmigration::process::probe(home).ok().flatten() {
        let _ = Command::new("kill").arg(pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while imapmigration::process::probe(home).ok().flatten().is_some()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

struct StopOnDrop(PathBuf);
impl Drop for StopOnDrop {
    fn drop(&mut self) {
        stop_worker(&self.0);
    }
}

#[test]
fn a_server_echoing_the_password_leaks_it_nowhere_through_the_worker() {
    let port = echoing_server();
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("state");
    let _stop = StopOnDrop(home.clone());
    // A state directory an older version left readable to everyone.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(home.join("logs")).unwrap();
        std::fs::write(home.join("logs/worker.log.2026-01-01"), "old\n").unwrap();
        drop(imapmigration_store::Store::open(&home).unwrap());
        for (p, m) in [
            (home.clone(), 0o755),
            (home.join("logs"), 0o755),
            (home.join("logs/worker.log.2026-01-01"), 0o644),
            (home.join("state.db"), 0o644),
        ] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap();
        }
    }
    let r = call(
        &home,
        "endpoint.new",
        json!({"name": "echo", "remoteServer": "127.0.0.1", "port": port, "security": "None", "skipVerification": true}),
    );
    assert_eq!(r["ok"], json!(true), "{r}");
    // The admin is told what was tightened.
    let warned = r["warnings"].to_string();
    for name in ["state.db", "logs", "worker.log.2026-01-01"] {
        assert!(warned.contains(name), "no warning about {name}: {r}");
    }
    ok(
        &home,
        "batch.new",
        json!({"name": "EchoBatch", "sourceEndpoint": "echo", "autoStart": true,
               "csvData": base64::engine::general_purpose::STANDARD.encode(csv_bytes())}),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let user = loop {
        let u = ok(
            &home,
            "user.statistics",
            json!({"identity": "ann@contoso.test", "includeReport": true}),
        );
        if u["Status"] == json!("Failed") {
            break u;
        }
        assert!(Instant::now() < deadline, "the user never failed: {u}");
        std::thread::sleep(Duration::from_millis(100));
    };
    // What the cmdlets show: the user's error and report lines.
    let shown = user.to_string();
    assert!(shown.contains("mailbox locked by"), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(
        !shown.contains('\x1b') && !shown.contains("\\u001b"),
        "{shown}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !home.join("reports/EchoBatch/MigrationErrors.csv").exists() {
        assert!(Instant::now() < deadline, "no report was written");
        std::thread::sleep(Duration::from_millis(100));
    }
    stop_worker(&home);
    let logs: String = files_below(&home.join("logs"))
        .into_iter()
        .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
        .collect();
    assert!(
        logs.contains("folder failed") && logs.contains("mailbox locked by"),
        "the log does not record the failure:\n{logs}"
    );
    assert_state_clean(&home);
    assert_owner_only(&home);
    assert!(!migration_errors_csv(&home, "EchoBatch").contains(PASSWORD));
}

#[test]
fn the_detached_worker_inherits_no_secret_from_the_caller() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("state");
    let _stop = StopOnDrop(home.clone());
    let status = Command::new(BIN)
        .args(["worker", "--detach", "--home"])
        .arg(&home)
        .env("IMAPMIGRATION_TARGET_PASSWORD", "Env-Secret-1234")
        .env("SOME_API_TOKEN", "Env-Token-5678")
        .env("LANG", "C.UTF-8")
        .env("TZ", "Europe/Berlin")
        .env("IMAPMIGRATION_LOG", "debug")
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let pid = loop {
        if let Some(pid) = imapmigration::process::probe(&home).ok().flatten() {
            break pid;
        }
        assert!(Instant::now() < deadline, "no worker took the lock");
        std::thread::sleep(Duration::from_millis(20));
    };
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let vars: Vec<String> = environ
        .split(|&b| b == 0)
        .filter(|v| !v.is_empty())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert!(
        !contains(&environ, b"Env-Secret-1234") && !contains(&environ, b"Env-Token-5678"),
        "a secret reached the worker: {vars:?}"
    );
    for kept in [
        "LANG=C.UTF-8",
        "TZ=Europe/Berlin",
        "IMAPMIGRATION_LOG=debug",
    ] {
        assert!(vars.iter().any(|v| v == kept), "{kept} missing: {vars:?}");
    }
    for v in &vars {
        let name = v.split('=').next().unwrap_or_default();
        assert!(
            imapmigration::process::WORKER_ENV
                .iter()
                .any(|a| name == *a || (a.ends_with('_') && name.starts_with(a))),
            "{name} is not on the list"
        );
    }
}

fn csv_of(rows: &[&str]) -> String {
    let mut s = String::from("EmailAddress,UserName,Password\r\n");
    for email in rows {
        s.push_str(&format!(
            "{email},{},pw-x1\r\n",
            email.replace(['/', '@'], "-")
        ));
    }
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn warnings(batch: &Value) -> Vec<(u64, String, String)> {
    batch["ValidationWarnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["RowIndex"].as_u64().unwrap(),
                w["EmailAddress"].as_str().unwrap().to_owned(),
                w["LocalizedErrorMessage"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn emails(home: &Path, batch: &str) -> Vec<String> {
    let users = ok(home, "user.get", json!({"batchId": batch}));
    let mut v: Vec<String> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["EmailAddress"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn two_addresses_sharing_a_maildir_directory_are_refused_at_intake() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("state");
    ok(
        &home,
        "endpoint.new",
        json!({"name": "src", "remoteServer": "127.0.0.1", "port": 1, "security": "None", "skipVerification": true}),
    );
    // Within one file: the second address of a pair is left out, naming the first's row.
    let first = ok(
        &home,
        "batch.new",
        json!({"name": "One", "sourceEndpoint": "src",
               "csvData": csv_of(&["ann@contoso.test", "a/b@contoso.test", "a_b@contoso.test"])}),
    );
    let w = warnings(&first);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!((w[0].0, w[0].1.as_str()), (3, "a_b@contoso.test"));
    assert!(
        w[0].2.contains("row 3") && w[0].2.contains("a/b@contoso.test (row 2)"),
        "{}",
        w[0].2
    );
    assert_eq!(
        emails(&home, "One"),
        ["a/b@contoso.test", "ann@contoso.test"]
    );
    // Against another batch of the state directory, both rows named.
    let second = ok(
        &home,
        "batch.new",
        json!({"name": "Two", "sourceEndpoint": "src",
               "csvData": csv_of(&["bea@contoso.test", "A_B@contoso.test"])}),
    );
    let w = warnings(&second);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, 2);
    assert!(
        w[0].2.contains("row 2") && w[0].2.contains("a/b@contoso.test (row 2 of batch One)"),
        "{}",
        w[0].2
    );
    assert_eq!(emails(&home, "Two"), ["bea@contoso.test"]);
    // Set-MigrationBatch -CSVData is checked the same way.
    let set = ok(
        &home,
        "batch.set",
        json!({"identity": "Two", "csvData": csv_of(&["bea@contoso.test", "a_b@contoso.test"])}),
    );
    let w = warnings(&set);
    assert!(
        w.iter().any(|(row, email, m)| *row == 2
            && email == "a_b@contoso.test"
            && m.contains("row 2 of batch One")),
        "{w:?}"
    );
    assert_eq!(emails(&home, "Two"), ["bea@contoso.test"]);
}

#[test]
fn adopting_users_keeps_new_rows_out_of_their_maildir_directories() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("state");
    ok(
        &home,
        "endpoint.new",
        json!({"name": "src", "remoteServer": "127.0.0.1", "port": 1, "security": "None", "skipVerification": true}),
    );
    ok(
        &home,
        "batch.new",
        json!({"name": "One", "sourceEndpoint": "src",
               "csvData": csv_of(&["a/b@contoso.test", "d_ee@contoso.test"])}),
    );
    // a/b is taken over with its directory; a_b would share it, d/ee would share d_ee's.
    let two = ok(
        &home,
        "batch.new",
        json!({"name": "Two", "sourceEndpoint": "src", "adoptPreexisting": true,
               "csvData": csv_of(&["a/b@contoso.test", "a_b@contoso.test", "d/ee@contoso.test", "cy@contoso.test"])}),
    );
    let w = warnings(&two);
    let refused: Vec<&str> = w.iter().map(|(_, e, _)| e.as_str()).collect();
    assert_eq!(refused, ["a_b@contoso.test", "d/ee@contoso.test"], "{w:?}");
    assert!(
        w.iter()
            .all(|(row, _, m)| m.contains(&format!("row {row}"))),
        "{w:?}"
    );
    assert_eq!(
        emails(&home, "Two"),
        ["a/b@contoso.test", "cy@contoso.test"]
    );
    assert_eq!(emails(&home, "One"), ["d_ee@contoso.test"]);
}

/// Runs `imapmigration migrate` on a CSV with these bytes; returns (exit code, stdout, stderr)
/// and the endpoints the state directory holds afterwards.
fn migrate_csv(csv: &[u8], source: &str, extra: &[&str]) -> (i32, String, String, Vec<String>) {
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("users.csv");
    std::fs::write(&path, csv).unwrap();
    let home = work.path().join("state");
    let out = Command::new(BIN)
        .args(["migrate", "--quiet", "--name", "Csv", "--csv"])
        .arg(&path)
        .arg("--source")
        .arg(source)
        .arg("--home")
        .arg(&home)
        .args(extra)
        .output()
        .unwrap();
    let endpoints = imapmigration_store::Store::open(&home)
        .unwrap()
        .list_endpoints(None)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        endpoints,
    )
}

#[test]
fn the_cli_names_what_is_wrong_with_a_csv_and_creates_nothing_from_it() {
    let src = "imap://127.0.0.1:9";
    let (code, _, err, eps) = migrate_csv(b"", src, &[]);
    assert_eq!(code, 2, "nothing could start");
    assert!(err.contains("it is empty or has no data rows"), "{err}");
    assert!(!err.contains("csvData"), "{err}");
    assert!(eps.is_empty(), "orphan endpoints: {eps:?}");

    // Excel's CRLF: the short row is on line 3, as an editor counts.
    let (code, _, err, eps) = migrate_csv(
        b"EmailAddress,UserName,Password\r\nann@contoso.test,ann,pw\r\nbob@contoso.test,bob\r\n",
        src,
        &[],
    );
    assert_eq!(code, 2, "nothing could start");
    assert!(err.contains("line 3 has 2 columns"), "{err}");
    assert!(eps.is_empty(), "orphan endpoints: {eps:?}");

    // The advice names a flag the CLI has.
    let unknown = b"EmailAddress,UserName,Password,Colour\r\nann@contoso.test,ann,pw,red\r\n";
    let (code, _, err, eps) = migrate_csv(unknown, src, &[]);
    assert_eq!(code, 2, "nothing could start");
    assert!(err.contains("--allow-unknown-columns"), "{err}");
    assert!(eps.is_empty(), "orphan endpoints: {eps:?}");
    let port = echoing_server();
    let (code, out, err, _) = migrate_csv(
        unknown,
        &format!("imap://127.0.0.1:{port}"),
        &["--allow-unknown-columns"],
    );
    assert_eq!(code, 1, "the user did not sync: {out}\n{err}");
    assert!(out.contains("ann@contoso.test"), "{out}");

    // A bad port is named as such.
    let (code, _, err, eps) = migrate_csv(&csv_bytes(), "imap://127.0.0.1:0", &[]);
    assert_eq!(code, 2, "nothing could start");
    assert!(err.contains("invalid port \"0\""), "{err}");
    assert!(eps.is_empty(), "orphan endpoints: {eps:?}");

    // Excel's sep= line.
    let (code, out, err, _) = migrate_csv(
        b"sep=;\r\nEmailAddress;UserName;Password\r\nann@contoso.test;ann;pw\r\n",
        &format!("imap://127.0.0.1:{port}"),
        &[],
    );
    assert_eq!(code, 1, "the user did not sync: {out}\n{err}");
    assert!(out.contains("ann@contoso.test"), "{out}");
}

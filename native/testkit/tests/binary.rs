//! The `imapmig-testkit` binary: detached start (with the OAuth helper), seed, snapshot, stop.

#![allow(clippy::expect_used, reason = "test")]

use std::process::Command;

use imapmigration_testkit::probe::ImapProbe;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_imapmig-testkit"))
}

fn run_json(args: &[&str]) -> serde_json::Value {
    let out = bin().args(args).output().expect("run binary");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json output")
}

#[test]
fn detached_start_serves_logins_and_oauth_until_stop() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("dc");
    let d = dir.to_str().expect("utf-8 path");
    let info = run_json(&[
        "start",
        "--dir",
        d,
        "--users",
        "alice:secret,bob:pw",
        "--seed",
        "small",
        "--json",
    ]);
    let port = info["imapPort"].as_u64().expect("port") as u16;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(info["users"][0]["name"], "alice");
    assert!(std::path::Path::new(info["caFile"].as_str().expect("ca")).exists());

    // Still running after the command returned; seeded.
    let mut p = ImapProbe::connect(addr).expect("connect");
    assert!(p.login("bob", "pw").expect("login").is_ok());
    let r = p.command("STATUS INBOX (MESSAGES)").expect("status");
    assert!(r.lines.join(" ").contains("MESSAGES 20"), "{r:?}");
    p.logout();

    // The OAuth helper issues tokens Dovecot accepts.
    let token_url = info["oauthTokenUrl"]
        .as_str()
        .expect("token url")
        .to_string();
    let hostport = token_url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("host")
        .to_string();
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=x",
        info["oauthClientId"].as_str().expect("id"),
        info["oauthClientSecret"].as_str().expect("secret")
    );
    let mut s = std::net::TcpStream::connect(&hostport).expect("oauth");
    use std::io::{Read, Write};
    write!(s, "POST /token HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}", body.len())
        .expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let json: serde_json::Value =
        serde_json::from_str(resp.split_once("\r\n\r\n").expect("body").1).expect("json");
    let token = json["access_token"].as_str().expect("token");
    let mut p = ImapProbe::connect(addr).expect("connect");
    let r = p.authenticate_xoauth2("alice", token).expect("auth");
    assert!(r.is_ok(), "{r:?}");
    p.logout();

    // Seed another profile, add a user, snapshot.
    let out = bin()
        .args(["add-user", "--dir", d, "--user", "carol", "--password", "c"])
        .output()
        .expect("add-user");
    assert!(out.status.success());
    let seeded = run_json(&["seed", "--dir", d, "--user", "carol", "--profile", "small"]);
    assert_eq!(seeded["messages"], 60);
    let counts = run_json(&["snapshot", "--dir", d, "--user", "carol", "--counts"]);
    assert_eq!(counts["messageCount"], 60);
    assert_eq!(counts["folders"]["Résumé/Ünter"], 5);
    let maildir = dir.join("mail/carol/Maildir");
    let snap = run_json(&["snapshot", "--maildir", maildir.to_str().expect("utf-8")]);
    assert_eq!(snap["INBOX"].as_array().expect("inbox").len(), 20);
    let mut p = ImapProbe::connect(addr).expect("connect");
    assert!(p.login("carol", "c").expect("login").is_ok());
    p.logout();

    let oauth_pid = info["oauthPid"].as_u64().expect("oauth pid");
    let out = bin().args(["stop", "--dir", d]).output().expect("stop");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::net::TcpStream::connect(addr).is_err());
    // The token endpoint is gone. Other tests running in parallel may already have been given
    // the freed port, so "gone" means: nothing there, or whatever is there issues no token for
    // our client.
    if let Ok(mut s) = std::net::TcpStream::connect(&hostport) {
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
        let _ = write!(
            s,
            "POST /token HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        assert!(
            !resp.contains("access_token"),
            "the token endpoint still answers: {resp}"
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let stat = std::fs::read_to_string(format!("/proc/{oauth_pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z"),
        "oauth helper still alive: {stat}"
    );
}

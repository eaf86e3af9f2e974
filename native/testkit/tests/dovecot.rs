//! The harness against a real Dovecot: start/stop, logins of every kind, users added live.

#![allow(clippy::expect_used, reason = "test")]

use std::io::{Read, Write};
use std::net::TcpStream;

use imapmigration_testkit::probe::{ImapProbe, TlsMode, openssl_session};
use imapmigration_testkit::{Dovecot, DovecotOptions, SpecialUseNames};

fn start() -> Dovecot {
    Dovecot::start(
        DovecotOptions::default()
            .user("alice", "secret")
            .user("bob", "bobpass"),
    )
    .expect("dovecot starts")
}

#[test]
fn start_and_stop_frees_the_port() {
    let mut dc = start();
    let addr = dc.imap_addr();
    assert!(TcpStream::connect(addr).is_ok());
    assert_eq!(dc.host(), "127.0.0.1");
    assert!(dc.ca_file().exists());
    assert!(dc.log_path().exists());
    let pid = dc.master_pid().expect("master pid");
    dc.stop().expect("stops");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || TcpStream::connect(addr).is_err()
    );
    assert!(
        TcpStream::connect(addr).is_err(),
        "port still open after stop"
    );
}

#[test]
fn drop_stops_the_server_and_removes_the_temp_dir() {
    let dc = start();
    let (addr, dir) = (dc.imap_addr(), dc.dir().to_path_buf());
    drop(dc);
    assert!(TcpStream::connect(addr).is_err());
    assert!(!dir.exists());
}

#[test]
fn plain_login_and_wrong_password() {
    let dc = start();
    let mut p = ImapProbe::connect(dc.imap_addr()).expect("connect");
    assert!(p.greeting.contains("STARTTLS"), "{}", p.greeting);
    assert!(!p.login("alice", "wrong").expect("reply").is_ok());
    let r = p.login("alice", "secret").expect("reply");
    assert!(r.is_ok(), "{r:?}");
    let r = p.command("SELECT INBOX").expect("reply");
    assert!(r.is_ok(), "{r:?}");
    p.logout();
}

#[test]
fn tls_and_starttls_verify_against_the_test_ca() {
    let dc = start();
    let script = "a1 LOGIN alice secret\r\na2 STATUS INBOX (MESSAGES)\r\na3 LOGOUT\r\n";
    let out =
        openssl_session(dc.imaps_addr(), TlsMode::Implicit, &dc.ca_file(), script).expect("imaps");
    assert!(out.contains("a1 OK"), "{out}");
    assert!(out.contains("* STATUS INBOX (MESSAGES 0)"), "{out}");
    let out = openssl_session(dc.imap_addr(), TlsMode::StartTls, &dc.ca_file(), script)
        .expect("starttls");
    assert!(out.contains("a1 OK"), "{out}");
}

#[test]
fn master_user_logs_in_as_the_user_both_ways() {
    let dc = start();
    dc.seed(
        "bob",
        &[imapmigration_testkit::SeedFolder::new(
            "INBOX",
            vec![imapmigration_testkit::SeedMessage::new(
                &b"Subject: x\r\n\r\nhi\r\n"[..],
                &[],
                1_700_000_000,
            )],
        )],
    )
    .expect("seed");

    let mut p = ImapProbe::connect(dc.imap_addr()).expect("connect");
    let r = p
        .login(&dc.master_login("bob"), "adminpass")
        .expect("reply");
    assert!(r.is_ok(), "{r:?}");
    let r = p.command("STATUS INBOX (MESSAGES)").expect("reply");
    assert!(r.lines.iter().any(|l| l.contains("MESSAGES 1")), "{r:?}");
    p.logout();

    let mut p = ImapProbe::connect(dc.imap_addr()).expect("connect");
    let r = p
        .authenticate_plain("bob", "admin", "adminpass")
        .expect("reply");
    assert!(r.is_ok(), "{r:?}");
    let r = p.command("STATUS INBOX (MESSAGES)").expect("reply");
    assert!(r.lines.iter().any(|l| l.contains("MESSAGES 1")), "{r:?}");
    p.logout();

    let mut p = ImapProbe::connect(dc.imap_addr()).expect("connect");
    assert!(
        !p.login(&dc.master_login("bob"), "wrong")
            .expect("reply")
            .is_ok()
    );
    assert!(
        !p.authenticate_plain("bob", "admin", "wrong")
            .expect("reply")
            .is_ok()
    );
    // A plain user cannot act for another one.
    assert!(
        !p.authenticate_plain("bob", "alice", "secret")
            .expect("reply")
            .is_ok()
    );
}

#[test]
fn users_added_while_running_can_log_in() {
    let dc = start();
    for i in 0..3 {
        let name = format!("late{i}");
        dc.add_user(&name, "pw").expect("add user");
        let mut p = ImapProbe::connect(dc.imap_addr()).expect("connect");
        let r = p.login(&name, "pw").expect("reply");
        assert!(r.is_ok(), "{name}: {r:?}");
        p.logout();
    }
}

fn http_post(url: &str, body: &str) -> (u16, serde_json::Value) {
    let rest = url.strip_prefix("http://").expect("http url");
    let (hostport, path) = rest.split_once('/').expect("path");
    let mut s = TcpStream::connect(hostport).expect("connect oauth");
    write!(
        s,
        "POST /{path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let status: u16 = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let json = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or("null");
    (status, serde_json::from_str(json).expect("json body"))
}

#[test]
fn xoauth2_login_with_a_client_credentials_token() {
    let dc = start();
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Foutlook.office365.com%2F.default",
        dc.oauth_client_id(),
        dc.oauth_client_secret()
    );
    let (status, json) = http_post(&dc.oauth_token_url(), &form);
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"], 3599);
    let token = json["access_token"].as_str().expect("token").to_string();
    assert_eq!(dc.oauth_tokens_issued(), 1);

    let (status, json) = http_post(
        &dc.oauth_token_url(),
        "grant_type=client_credentials&client_id=x&client_secret=y",
    );
    assert_eq!(status, 401, "{json}");
    assert_eq!(json["error"], "invalid_client");
    let (status, _) = http_post(&dc.oauth_token_url(), "grant_type=password");
    assert_eq!(status, 400);

    // App-only: the same token opens any mailbox.
    for user in ["alice", "bob"] {
        let mut p = ImapProbe::connect(dc.imap_addr()).expect("connect");
        let r = p.authenticate_xoauth2(user, &token).expect("reply");
        assert!(
            r.is_ok(),
            "{user}: {r:?}\n{}",
            std::fs::read_to_string(dc.log_path()).unwrap_or_default()
        );
        let r = p.command("SELECT INBOX").expect("reply");
        assert!(r.is_ok(), "{r:?}");
        p.logout();
    }

    let mut p = ImapProbe::connect(dc.imap_addr()).expect("connect");
    let r = p
        .authenticate_xoauth2("alice", "tk-not-issued")
        .expect("reply");
    assert!(!r.is_ok(), "{r:?}");
    // LOGIN still goes to the passwd-file passdb.
    assert!(p.login("alice", "secret").expect("reply").is_ok());
    assert!(dc.oauth_server().expect("in-process").introspections() >= 3);
}

#[test]
fn exchange_like_special_use_names() {
    let dc = Dovecot::start(
        DovecotOptions::default()
            .user("carol", "pw")
            .special_use(SpecialUseNames::ExchangeLike),
    )
    .expect("start");
    let mut p = ImapProbe::connect(dc.imap_addr()).expect("connect");
    assert!(p.login("carol", "pw").expect("reply").is_ok());
    let r = p.command("LIST (SPECIAL-USE) \"\" \"*\"").expect("reply");
    let text = r.lines.join("\n");
    for (name, attr) in [
        ("Sent Items", "\\Sent"),
        ("Deleted Items", "\\Trash"),
        ("Junk Email", "\\Junk"),
        ("Drafts", "\\Drafts"),
        ("Archive", "\\Archive"),
    ] {
        assert!(
            text.lines().any(|l| l.contains(attr)
                && (l.ends_with(&format!(" \"{name}\"")) || l.ends_with(&format!(" {name}")))),
            "{name}: {text}"
        );
    }
    assert!(text.contains("\"/\""), "{text}");
}

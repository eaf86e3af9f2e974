//! Server profiles advertise their lists, and the strict proxy catches a client that sends
//! what the server did not advertise (and lets through one that keeps to it).

#![allow(clippy::expect_used, reason = "test")]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use imapmigration_testkit::probe::ImapProbe;
use imapmigration_testkit::{Dovecot, DovecotOptions, ServerProfile, StrictProxy};

fn start(profile: ServerProfile) -> Dovecot {
    Dovecot::start(
        DovecotOptions::default()
            .user("alice", "secret")
            .profile(profile),
    )
    .expect("dovecot starts")
}

fn set(words: &str) -> BTreeSet<String> {
    words
        .split_ascii_whitespace()
        .map(|w| w.to_ascii_uppercase())
        .collect()
}

#[test]
fn each_profile_advertises_its_list_after_login() {
    for profile in ServerProfile::ALL {
        let dc = start(profile);
        assert_eq!(dc.profile(), profile);
        let mut p = ImapProbe::connect(dc.imap_addr()).expect("connect");
        assert!(p.login("alice", "secret").expect("login").is_ok());
        let r = p.command("CAPABILITY").expect("capability");
        let line = r
            .lines
            .iter()
            .find_map(|l| l.strip_prefix("* CAPABILITY "))
            .expect("a CAPABILITY line")
            .to_string();
        let got = set(&line);
        let want: BTreeSet<String> = match profile.capabilities() {
            Some(list) => list.iter().map(|c| c.to_ascii_uppercase()).collect(),
            None => {
                // Dovecot's own: the profile's view of it must be what this Dovecot says.
                for cap in [
                    "LITERAL+",
                    "MULTIAPPEND",
                    "UIDPLUS",
                    "CONDSTORE",
                    "SPECIAL-USE",
                ] {
                    assert!(profile.advertises(cap), "{cap}");
                }
                got.iter()
                    .filter(|c| profile.advertises(c))
                    .cloned()
                    .collect()
            }
        };
        assert_eq!(got, want, "profile {profile}");
        p.logout();
    }
}

/// A raw connection through the proxy: writes exactly what it is given.
struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Raw {
    fn connect(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect(addr).expect("connect");
        // As a real client does: Nagle would hold a second small write for the first's ACK.
        s.set_nodelay(true).expect("nodelay");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let writer = s.try_clone().expect("clone");
        let mut r = Raw {
            reader: BufReader::new(s),
            writer,
        };
        r.line();
        r
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.reader.read_line(&mut l).expect("read");
        assert!(!l.is_empty(), "connection closed");
        l
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
    }

    /// Reads up to the line tagged `tag` and returns it.
    fn until(&mut self, tag: &str) -> String {
        loop {
            let l = self.line();
            if l.starts_with(&format!("{tag} ")) {
                return l;
            }
        }
    }

    fn run(&mut self, tag: &str, command: &str) -> String {
        self.send(format!("{tag} {command}\r\n").as_bytes());
        self.until(tag)
    }

    /// A synchronizing APPEND done right: the literal waits for `+`.
    fn append_sync(&mut self, tag: &str, body: &[u8]) -> String {
        self.send(format!("{tag} APPEND INBOX {{{}}}\r\n", body.len()).as_bytes());
        let l = self.line();
        assert!(l.starts_with('+'), "{l}");
        self.send(body);
        self.send(b"\r\n");
        self.until(tag)
    }
}

fn body(size: usize) -> Vec<u8> {
    let mut b = b"Subject: t\r\n\r\n".to_vec();
    b.resize(size - 2, b'x');
    b.extend_from_slice(b"\r\n");
    b
}

#[test]
fn gmail_like_allows_small_non_sync_literals_only() {
    let dc = start(ServerProfile::GmailLike);
    let proxy = StrictProxy::start(dc.imap_addr()).expect("proxy");
    let mut c = Raw::connect(proxy.addr());
    assert!(c.run("a1", "LOGIN alice secret").contains("OK"));
    let small = body(4096);
    c.send(format!("a2 APPEND INBOX {{{}+}}\r\n", small.len()).as_bytes());
    c.send(&small);
    c.send(b"\r\n");
    let ok = c.until("a2");
    assert!(ok.contains("OK [APPENDUID"), "UIDPLUS is advertised: {ok}");
    assert!(c.append_sync("a3", &body(10_000)).contains("OK"));
    assert!(c.run("a4", "SELECT INBOX (CONDSTORE)").contains("OK"));
    assert!(c.run("a5", "UNSELECT").contains("OK"));
    proxy.assert_clean("within the Gmail-like list");
    let t = proxy.traffic();
    assert_eq!((t.sync_literals, t.non_sync_literals), (1, 1), "{t:?}");
    assert_eq!((t.count("APPEND"), t.appended_messages), (2, 2));

    let big = body(4097);
    c.send(format!("a6 APPEND INBOX {{{}+}}\r\n", big.len()).as_bytes());
    c.send(&big);
    c.send(b"\r\n");
    assert!(c.until("a6").contains("OK"), "Dovecot itself accepts it");
    let v = proxy.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].rule.contains("over LITERAL-'s limit"), "{}", v[0]);
    assert!(!v[0].command.contains("secret"));
}

#[test]
fn bare_imap4rev1_catches_extensions_and_hides_appenduid() {
    let dc = start(ServerProfile::Imap4rev1);
    let proxy = StrictProxy::start(dc.imap_addr()).expect("proxy");
    let mut c = Raw::connect(proxy.addr());
    assert!(c.run("a1", "LOGIN alice secret").contains("OK"));
    let ok = c.append_sync("a2", &body(100));
    assert!(
        ok.starts_with("a2 OK ") && !ok.contains("APPENDUID"),
        "{ok}"
    );
    assert!(c.run("a3", "SELECT INBOX").contains("OK"));
    proxy.assert_clean("plain IMAP4rev1 so far");

    // A literal sent without waiting for the `+`.
    let b = body(50);
    c.send(format!("a4 APPEND INBOX {{{}}}\r\n", b.len()).as_bytes());
    c.send(&b);
    c.send(b"\r\n");
    let done = c.until("a4");
    assert!(done.contains("OK"), "{done}");
    for cmd in [
        "a5 UNSELECT",
        "a6 NAMESPACE",
        "a7 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1)",
        "a8 ENABLE CONDSTORE",
        "a9 ID NIL",
        "b1 LIST \"\" \"*\" RETURN (SPECIAL-USE)",
        "b2 UID EXPUNGE 1",
    ] {
        let tag = cmd.split(' ').next().expect("tag");
        c.run(tag, &cmd[tag.len() + 1..]);
    }
    let rules: Vec<String> = proxy.violations().into_iter().map(|v| v.rule).collect();
    assert_eq!(rules.len(), 9, "{rules:#?}");
    for want in [
        "before the server's continuation request",
        "UNSELECT without UNSELECT",
        "NAMESPACE without NAMESPACE",
        "CHANGEDSINCE in UID FETCH without CONDSTORE",
        "ENABLE without ENABLE",
        "ID without ID",
        "without LIST-EXTENDED",
        "LIST RETURN (SPECIAL-USE) without SPECIAL-USE",
        "UID EXPUNGE without UIDPLUS",
    ] {
        assert!(rules.iter().any(|r| r.contains(want)), "{want}: {rules:#?}");
    }
}

#[test]
fn exchange_like_catches_multiappend_and_sync_refusals_keep_the_stream() {
    let dc = start(ServerProfile::ExchangeLike);
    let proxy = StrictProxy::start(dc.imap_addr()).expect("proxy");
    let mut c = Raw::connect(proxy.addr());
    assert!(c.run("a1", "LOGIN alice secret").contains("OK"));
    // A synchronizing literal the server refuses before it is sent: the client sends no
    // literal and goes on with its next command, which must be read as a command.
    c.send(b"a2 APPEND NoSuchFolder {10}\r\n");
    let refused = c.line();
    assert!(refused.starts_with("a2 NO"), "{refused}");
    assert!(c.run("a3", "NOOP").contains("OK"));
    proxy.assert_clean("a refused synchronizing literal");

    let (m1, m2) = (body(30), body(40));
    c.send(format!("a4 APPEND INBOX {{{}+}}\r\n", m1.len()).as_bytes());
    c.send(&m1);
    c.send(format!(" {{{}+}}\r\n", m2.len()).as_bytes());
    c.send(&m2);
    c.send(b"\r\n");
    assert!(c.until("a4").contains("OK"));
    let v = proxy.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].rule.contains("without MULTIAPPEND"), "{}", v[0]);
    assert_eq!(proxy.traffic().appended_messages, 2);
}

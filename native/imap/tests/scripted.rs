//! Protocol behaviour against scripted servers on 127.0.0.1: what a real server will not do
//! on demand (withhold STARTTLS, stall, hold completions back, refuse one message).

#![allow(clippy::unwrap_used, reason = "test")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::DateTime;
use imapmigration_imap::{
    Credentials, Error, RefusalKind, SearchKey, SecretString, Security, ServerConfig, SpecialUse,
    UidSet, connect,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One command as the server received it.
#[derive(Debug, Clone)]
struct Cmd {
    tag: String,
    line: String,
    literal: Option<Vec<u8>>,
    /// Every literal of the command, in order.
    literals: Vec<Vec<u8>>,
}

/// Serves one connection: sends `greeting`, then hands each command to `on_cmd` and writes
/// what it returns. Every received byte is recorded.
async fn serve(
    greeting: &'static str,
    on_cmd: impl FnMut(&Cmd) -> Vec<u8> + Send + 'static,
) -> (u16, Arc<Mutex<Vec<u8>>>) {
    serve_hooked(greeting, |_, _| Vec::new(), on_cmd).await
}

/// Like [`serve`], with `on_literal(tag, literal)` called as each literal has been read, before
/// the command has ended; what it returns is written at once (an early completion).
async fn serve_hooked(
    greeting: &'static str,
    mut on_literal: impl FnMut(&str, &[u8]) -> Vec<u8> + Send + 'static,
    mut on_cmd: impl FnMut(&Cmd) -> Vec<u8> + Send + 'static,
) -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = seen.clone();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (r, mut w) = sock.into_split();
        let mut r = BufReader::new(r);
        w.write_all(greeting.as_bytes()).await.unwrap();
        loop {
            let mut line = Vec::new();
            if r.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
                return;
            }
            rec.lock().unwrap().extend_from_slice(&line);
            let mut text = String::from_utf8_lossy(&line).trim_end().to_string();
            let mut literals = Vec::new();
            // A command may carry several literals (MULTIAPPEND, RFC 3502): after each one
            // the line goes on until a bare CRLF.
            let mut tail = text.clone();
            while let Some(open) = tail.rfind('{')
                && tail.ends_with('}')
            {
                let spec = &tail[open + 1..tail.len() - 1];
                let sync = !spec.ends_with('+');
                let n: usize = spec.trim_end_matches('+').parse().unwrap();
                if sync {
                    w.write_all(b"+ go ahead\r\n").await.unwrap();
                }
                let mut buf = vec![0; n];
                r.read_exact(&mut buf).await.unwrap();
                rec.lock().unwrap().extend_from_slice(&buf);
                let tag = text.split(' ').next().unwrap_or("").to_string();
                let early = on_literal(&tag, &buf);
                if !early.is_empty() {
                    w.write_all(&early).await.unwrap();
                }
                let mut more = Vec::new();
                r.read_until(b'\n', &mut more).await.unwrap();
                rec.lock().unwrap().extend_from_slice(&more);
                literals.push(buf);
                tail = String::from_utf8_lossy(&more).trim_end().to_string();
                text.push_str(&tail);
            }
            let literal = literals.first().cloned();
            let (tag, rest) = text.split_once(' ').unwrap_or((&text, ""));
            let cmd = Cmd {
                tag: tag.to_string(),
                line: rest.to_string(),
                literal,
                literals,
            };
            let out = on_cmd(&cmd);
            if !out.is_empty() {
                w.write_all(&out).await.unwrap();
            }
        }
    });
    (port, seen)
}

fn cfg(port: u16, security: Security) -> ServerConfig {
    let mut c = ServerConfig::new("127.0.0.1", port, security);
    c.timeouts = c.timeouts.at_most(Duration::from_secs(3));
    c
}

fn login(user: &str, pw: &str) -> Credentials {
    Credentials::Login {
        user: user.into(),
        password: SecretString::from(pw),
    }
}

/// Answers LOGIN, CAPABILITY, SELECT; everything else goes to `rest`.
fn basic(
    caps: &'static str,
    mut rest: impl FnMut(&Cmd) -> Vec<u8> + Send,
) -> impl FnMut(&Cmd) -> Vec<u8> + Send {
    move |c| {
        let verb = c.line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "CAPABILITY" => format!("* CAPABILITY {caps}\r\n{} OK done\r\n", c.tag).into_bytes(),
            "LOGIN" => format!("{} OK [CAPABILITY {caps}] Logged in\r\n", c.tag).into_bytes(),
            "SELECT" | "EXAMINE" => format!(
                "* FLAGS (\\Seen)\r\n* 0 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n* OK [UIDNEXT 1] x\r\n* OK [PERMANENTFLAGS (\\Seen \\*)] x\r\n{} OK [READ-WRITE] done\r\n",
                c.tag
            )
            .into_bytes(),
            "LOGOUT" => format!("* BYE bye\r\n{} OK done\r\n", c.tag).into_bytes(),
            _ => rest(c),
        }
    }
}

#[tokio::test]
async fn tls_required_without_starttls_never_sends_the_password() {
    let (port, seen) = serve(
        "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\r\n",
        basic("IMAP4rev1 AUTH=PLAIN", |c| {
            format!("{} BAD no\r\n", c.tag).into_bytes()
        }),
    )
    .await;
    let err = connect(&cfg(port, Security::Tls), &login("alice", "s3cret-pw"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("STARTTLS"), "{err}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let seen = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    assert!(
        !seen.contains("s3cret-pw"),
        "password went out in clear: {seen}"
    );
    assert!(!seen.to_ascii_uppercase().contains("LOGIN"), "{seen}");
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (_sock, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let mut c = cfg(port, Security::None);
    c.timeouts.greeting = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let err = connect(&c, &login("a", "b")).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = connect(&cfg(port, Security::None), &login("a", "b"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Connect { port: p, .. } if p == port),
        "{err}"
    );
}

#[tokio::test]
async fn appends_are_pipelined_and_refusals_are_per_message() {
    // The server answers nothing until it has received all 5 APPENDs: a client that waited
    // for each completion would time out.
    let mut pending = Vec::new();
    let (port, seen) = serve(
        "* OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS] fake ready\r\n",
        basic("IMAP4rev1 LITERAL+ UIDPLUS", move |c| {
            if c.line.starts_with("APPEND") {
                let body = c.literal.as_deref().unwrap_or_default();
                assert!(body.starts_with(b"Subject: m"), "literal lost: {body:?}");
                pending.push(c.clone());
                if pending.len() < 5 {
                    return Vec::new();
                }
                let mut out = Vec::new();
                for (i, p) in pending.drain(..).enumerate() {
                    if i == 1 {
                        out.extend(format!("{} NO [OVERQUOTA] Quota exceeded\r\n", p.tag).bytes());
                    } else {
                        out.extend(
                            format!("{} OK [APPENDUID 7 {}] done\r\n", p.tag, 100 + i).bytes(),
                        );
                    }
                }
                return out;
            }
            format!("{} BAD unexpected\r\n", c.tag).into_bytes()
        }),
    )
    .await;
    let mut s = connect(&cfg(port, Security::None), &login("a", "b"))
        .await
        .unwrap();
    let date = DateTime::parse_from_rfc3339("2024-02-29T23:59:58+01:00").unwrap();
    let mut outcomes = Vec::new();
    {
        let mut app = s.appender("Entwürfe", 1 << 20, 16);
        for i in 0..5u64 {
            let body = format!("Subject: m{i}\r\n\r\n\u{e4}\u{f6}\u{fc} \x01\x7f body\r\n");
            let flags = vec!["\\Seen".to_string(), "\\Recent".to_string()];
            outcomes.extend(app.push(i, body.as_bytes(), &flags, date).await.unwrap());
        }
        outcomes.extend(app.finish().await.unwrap());
    }
    outcomes.sort_by_key(|o| o.id);
    assert_eq!(outcomes.len(), 5);
    assert_eq!(outcomes[0].result, Ok(Some(100)));
    let refusal = outcomes[1].result.clone().unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::No);
    assert_eq!(refusal.code.as_deref(), Some("OVERQUOTA"));
    assert_eq!(outcomes[4].result, Ok(Some(104)));
    let seen = seen.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&seen);
    assert!(
        text.contains("APPEND \"Entw&APw-rfe\" (\\Seen) \"29-Feb-2024 23:59:58 +0100\" {"),
        "{text}"
    );
    assert!(!text.contains("\\Recent"));
    // 8-bit bytes went out raw, not re-encoded.
    let needle = "\u{e4}\u{f6}\u{fc} \x01\x7f body".as_bytes();
    assert!(seen.windows(needle.len()).any(|w| w == needle));
    // The session is still usable after a per-message refusal.
    s.select("INBOX").await.unwrap();
}

const MULTI_CAPS: &str = "IMAP4rev1 LITERAL+ MULTIAPPEND UIDPLUS";

fn multi_greeting() -> &'static str {
    "* OK [CAPABILITY IMAP4rev1 LITERAL+ MULTIAPPEND UIDPLUS] fake ready\r\n"
}

#[tokio::test]
async fn multiappend_carries_many_messages_per_command_and_maps_appenduid_sets() {
    // No completion comes before a command has ended, so a client that waited for one
    // per message would time out; each command must carry many literals.
    const FULL: usize = imapmigration_imap::MULTIAPPEND_MAX_MESSAGES;
    let mut commands = 0;
    let (port, seen) = serve(
        multi_greeting(),
        basic(MULTI_CAPS, move |c| {
            if c.line.starts_with("APPEND") {
                commands += 1;
                for (i, lit) in c.literals.iter().enumerate() {
                    assert!(lit.starts_with(b"Subject: m"), "literal {i} lost: {lit:?}");
                }
                let n = c.literals.len();
                let code = match commands {
                    // A full group's UIDs as ranges and single UIDs, in order.
                    1 => {
                        assert_eq!(n, FULL);
                        format!("APPENDUID 7 100:104,200,301:{}", 300 + FULL - 6)
                    }
                    // Fewer UIDs than messages: none may be paired with a wrong one.
                    _ => {
                        assert_eq!(n, 6);
                        "APPENDUID 7 500:502".to_string()
                    }
                };
                return format!("{} OK [{code}] done\r\n", c.tag).into_bytes();
            }
            format!("{} BAD unexpected\r\n", c.tag).into_bytes()
        }),
    )
    .await;
    let mut s = connect(&cfg(port, Security::None), &login("a", "b"))
        .await
        .unwrap();
    let date = DateTime::parse_from_rfc3339("2024-02-29T23:59:58+01:00").unwrap();
    let mut outcomes = Vec::new();
    {
        let mut app = s.appender("Entwürfe", 1 << 24, 16);
        for i in 0..(FULL as u64 + 6) {
            let body = format!("Subject: m{i}\r\n\r\n\u{e4}\u{f6}\u{fc} body {i}\r\n");
            let flags = if i % 2 == 0 {
                vec!["\\Seen".to_string()]
            } else {
                Vec::new()
            };
            outcomes.extend(app.push(i, body.as_bytes(), &flags, date).await.unwrap());
        }
        outcomes.extend(app.finish().await.unwrap());
    }
    outcomes.sort_by_key(|o| o.id);
    assert_eq!(outcomes.len(), FULL + 6);
    let expected: Vec<u32> = (100..=104)
        .chain([200])
        .chain(301..=(300 + FULL as u32 - 6))
        .collect();
    assert_eq!(expected.len(), FULL);
    for (o, uid) in outcomes.iter().zip(&expected) {
        assert_eq!(o.result, Ok(Some(*uid)), "message {}", o.id);
    }
    assert!(outcomes[FULL..].iter().all(|o| o.result == Ok(None)));
    let seen = seen.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&seen);
    assert_eq!(text.matches(" APPEND ").count(), 2, "{text}");
    assert!(
        text.contains("APPEND \"Entw&APw-rfe\" (\\Seen) \"29-Feb-2024 23:59:58 +0100\" {"),
        "{text}"
    );
    // Each further message of a command brings its own flags and date.
    assert!(
        text.contains("body 0\r\n () \"29-Feb-2024 23:59:58 +0100\" {"),
        "{text}"
    );
    let needle = "\u{e4}\u{f6}\u{fc} body 261".as_bytes();
    assert!(seen.windows(needle.len()).any(|w| w == needle));
    s.select("INBOX").await.unwrap();
}

/// The number a test body ends with (`... good 3`).
fn body_number(literal: &[u8]) -> u32 {
    let body = String::from_utf8_lossy(literal);
    body.trim_end().rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn refused_multiappend_is_sent_again_one_by_one_and_only_the_bad_message_fails() {
    let (port, seen) = serve(
        multi_greeting(),
        basic(MULTI_CAPS, move |c| {
            if c.line.starts_with("APPEND") {
                let bad = c.literals.iter().any(|l| l.windows(3).any(|w| w == b"bad"));
                if bad && c.literals.len() > 1 {
                    // Atomic (RFC 3502): nothing of this command was appended.
                    return format!("{} NO [LIMIT] message too large\r\n", c.tag).into_bytes();
                }
                if bad {
                    return format!("{} NO [LIMIT] message too large\r\n", c.tag).into_bytes();
                }
                let i = body_number(&c.literals[0]);
                return format!("{} OK [APPENDUID 7 {}] done\r\n", c.tag, 100 + i).into_bytes();
            }
            format!("{} BAD unexpected\r\n", c.tag).into_bytes()
        }),
    )
    .await;
    let mut s = connect(&cfg(port, Security::None), &login("a", "b"))
        .await
        .unwrap();
    let date = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap();
    let mut outcomes = Vec::new();
    {
        let mut app = s.appender("INBOX", 1 << 20, 16);
        for i in 0..5u64 {
            let kind = if i == 2 { "bad" } else { "good" };
            let body = format!("Subject: x\r\n\r\n{kind} {i}\r\n");
            outcomes.extend(
                app.push(i, body.as_bytes(), &["\\Flagged".to_string()], date)
                    .await
                    .unwrap(),
            );
        }
        outcomes.extend(app.finish().await.unwrap());
    }
    outcomes.sort_by_key(|o| o.id);
    assert_eq!(outcomes.len(), 5);
    for o in &outcomes {
        if o.id == 2 {
            let r = o.result.clone().unwrap_err();
            assert_eq!(r.kind, RefusalKind::No);
            assert_eq!(r.code.as_deref(), Some("LIMIT"));
        } else {
            assert_eq!(o.result, Ok(Some(100 + o.id as u32)), "message {}", o.id);
        }
    }
    let text = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    // One MULTIAPPEND with all five, then five single APPENDs keeping flags and date.
    assert_eq!(text.matches(" APPEND ").count(), 6, "{text}");
    assert_eq!(
        text.matches("APPEND INBOX (\\Flagged) \"01-Jan-2024 00:00:00 +0000\" {")
            .count(),
        6,
        "{text}"
    );
    s.select("INBOX").await.unwrap();
}

#[tokio::test]
async fn a_multiappend_refused_before_its_end_is_still_ended_and_its_messages_sent_again() {
    // As Dovecot does: the tagged NO goes out as soon as one message fails, and the server
    // goes on reading the command (its literals cannot be skipped otherwise) until the final
    // CRLF; only then does it read the next command. A client that took the NO for the end
    // of the command and started the next one without that CRLF would wait for ever.
    let refused = Arc::new(Mutex::new(String::new()));
    let early = refused.clone();
    let (port, seen) = serve_hooked(
        multi_greeting(),
        move |tag, lit| {
            if lit.windows(3).any(|w| w == b"bad") {
                *early.lock().unwrap() = tag.to_string();
                return format!("{tag} NO [OVERQUOTA] Quota exceeded\r\n").into_bytes();
            }
            Vec::new()
        },
        basic(MULTI_CAPS, {
            let refused = refused.clone();
            move |c| {
                if !c.line.starts_with("APPEND") {
                    return format!("{} BAD unexpected\r\n", c.tag).into_bytes();
                }
                if *refused.lock().unwrap() == c.tag {
                    // Answered already; the rest of the command was read and dropped.
                    return Vec::new();
                }
                let uids: Vec<String> = c
                    .literals
                    .iter()
                    .map(|l| (100 + body_number(l)).to_string())
                    .collect();
                format!("{} OK [APPENDUID 7 {}] done\r\n", c.tag, uids.join(",")).into_bytes()
            }
        }),
    )
    .await;
    let mut s = connect(&cfg(port, Security::None), &login("a", "b"))
        .await
        .unwrap();
    let date = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap();
    let mut outcomes = Vec::new();
    {
        let mut app = s.appender("INBOX", 1 << 20, 16);
        for i in 0..5u64 {
            let kind = if i == 0 { "bad" } else { "good" };
            let body = format!("Subject: x\r\n\r\n{kind} {i}\r\n");
            outcomes.extend(app.push(i, body.as_bytes(), &[], date).await.unwrap());
            if i == 0 {
                // The NO arrives while the command is still open.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        outcomes.extend(app.finish().await.unwrap());
    }
    outcomes.sort_by_key(|o| o.id);
    let got: Vec<_> = outcomes
        .iter()
        .map(|o| (o.id, o.result.clone().ok()))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, None),
            (1, Some(Some(101))),
            (2, Some(Some(102))),
            (3, Some(Some(103))),
            (4, Some(Some(104)))
        ]
    );
    let r = outcomes[0].result.clone().unwrap_err();
    assert_eq!(r.code.as_deref(), Some("OVERQUOTA"), "{r:?}");
    let text = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    // The refused command, ended by its CRLF, then one command with the other four: the NO
    // answered the only message sent before it.
    assert_eq!(text.matches(" APPEND ").count(), 2, "{text}");
    assert!(text.contains("bad 0\r\n\r\n"), "{text}");
    s.select("INBOX").await.unwrap();
}

#[tokio::test]
async fn pushed_bytes_are_sent_unchanged_resent_after_a_refusal_and_released() {
    let received = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let rec = received.clone();
    let (port, _seen) = serve(
        multi_greeting(),
        basic(MULTI_CAPS, move |c| {
            if c.line.starts_with("APPEND") {
                // The first command (several messages) is refused; singles are taken.
                if c.literals.len() > 1 {
                    return format!("{} NO [OVERQUOTA] try singly\r\n", c.tag).into_bytes();
                }
                rec.lock().unwrap().push(c.literals[0].clone());
                let n = rec.lock().unwrap().len();
                return format!("{} OK [APPENDUID 7 {n}] done\r\n", c.tag).into_bytes();
            }
            format!("{} BAD unexpected\r\n", c.tag).into_bytes()
        }),
    )
    .await;
    let mut s = connect(&cfg(port, Security::None), &login("a", "b"))
        .await
        .unwrap();
    let date = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap();
    // A small body and one above the coalescing size, both with 8-bit bytes and bare CR/LF.
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    big.extend((0..300_000u32).map(|i| (i % 251) as u8));
    let bodies = [
        bytes::Bytes::from(b"Subject: s\r\n\r\n\xe4\xf6\xfc\r\x00\n end\r\n".to_vec()),
        bytes::Bytes::from(big),
    ];
    let mut outcomes = Vec::new();
    {
        let mut app = s.appender("INBOX", 1 << 24, 16);
        for (i, b) in bodies.iter().enumerate() {
            outcomes.extend(
                app.push_bytes(i as u64, b.clone(), &[], date)
                    .await
                    .unwrap(),
            );
        }
        outcomes.extend(app.finish().await.unwrap());
    }
    outcomes.sort_by_key(|o| o.id);
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], bodies[0][..]);
    assert_eq!(got[1], bodies[1][..]);
    // Nothing of the appender holds on to the bodies once their outcomes are in.
    for b in bodies {
        assert!(b.is_unique(), "body still shared");
    }
}

#[tokio::test]
async fn unselect_is_sent_only_when_offered_and_something_is_selected() {
    let (port, seen) = serve(
        "* OK [CAPABILITY IMAP4rev1 UNSELECT] fake ready\r\n",
        basic("IMAP4rev1 UNSELECT", |c| {
            format!("{} OK done\r\n", c.tag).into_bytes()
        }),
    )
    .await;
    let mut s = connect(&cfg(port, Security::None), &login("a", "b"))
        .await
        .unwrap();
    assert!(!s.unselect().await.unwrap(), "nothing selected yet");
    s.select("INBOX").await.unwrap();
    assert!(s.unselect().await.unwrap());
    assert!(!s.unselect().await.unwrap(), "already unselected");
    let text = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    assert_eq!(text.matches(" UNSELECT").count(), 1, "{text}");

    // A server without UNSELECT is left as it is (CLOSE would expunge).
    let (port, seen) = serve(
        multi_greeting(),
        basic(MULTI_CAPS, |c| format!("{} BAD no\r\n", c.tag).into_bytes()),
    )
    .await;
    let mut s = connect(&cfg(port, Security::None), &login("a", "b"))
        .await
        .unwrap();
    s.select("INBOX").await.unwrap();
    assert!(!s.unselect().await.unwrap());
    let text = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    assert!(
        !text.contains("UNSELECT") && !text.contains("CLOSE"),
        "{text}"
    );
}

#[tokio::test]
async fn a_dropped_appender_leaves_no_multiappend_open() {
    let (port, seen) = serve(
        multi_greeting(),
        basic(MULTI_CAPS, move |c| {
            if c.line.starts_with("APPEND") {
                assert_eq!(c.literals.len(), 2);
                return format!("{} OK [APPENDUID 7 1:2] done\r\n", c.tag).into_bytes();
            }
            format!("{} BAD unexpected\r\n", c.tag).into_bytes()
        }),
    )
    .await;
    let mut s = connect(&cfg(port, Security::None), &login("a", "b"))
        .await
        .unwrap();
    let date = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap();
    {
        let mut app = s.appender("INBOX", 1 << 20, 16);
        app.push(1, b"a\r\n", &[], date).await.unwrap();
        app.push(2, b"b\r\n", &[], date).await.unwrap();
        assert_eq!(app.in_flight(), 2);
        // Dropped without finish, as an error elsewhere would.
    }
    // The next command ends the open one first instead of being read as part of it.
    s.select("INBOX").await.unwrap();
    let text = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    assert!(text.contains("b\r\n\r\n"), "{text}");
}

#[tokio::test]
async fn without_literal_plus_each_append_waits_for_continuation() {
    let (port, seen) = serve(
        "* OK [CAPABILITY IMAP4rev1] fake ready\r\n",
        basic("IMAP4rev1", |c| {
            if c.line.starts_with("APPEND") {
                assert!(
                    c.line.ends_with('}') && !c.line.ends_with("+}"),
                    "{}",
                    c.line
                );
                return format!("{} OK done\r\n", c.tag).into_bytes();
            }
            format!("{} BAD unexpected\r\n", c.tag).into_bytes()
        }),
    )
    .await;
    let mut s = connect(&cfg(port, Security::None), &login("a", "b"))
        .await
        .unwrap();
    let date = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap();
    let mut app = s.appender("INBOX", 1 << 20, 16);
    let mut outcomes = Vec::new();
    for i in 0..3u64 {
        outcomes.extend(
            app.push(i, b"Subject: x\r\n\r\nhi\r\n", &[], date)
                .await
                .unwrap(),
        );
    }
    outcomes.extend(app.finish().await.unwrap());
    assert_eq!(outcomes.len(), 3);
    assert!(outcomes.iter().all(|o| o.result == Ok(None)));
    let text = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    assert_eq!(text.matches("APPEND INBOX () ").count(), 3, "{text}");
}

#[tokio::test]
async fn bye_during_append_is_an_error() {
    let (port, _) = serve(
        "* OK [CAPABILITY IMAP4rev1 LITERAL+] fake ready\r\n",
        basic("IMAP4rev1 LITERAL+", |c| {
            if c.line.starts_with("APPEND") {
                return b"* BYE [UNAVAILABLE] shutting down\r\n".to_vec();
            }
            format!("{} BAD unexpected\r\n", c.tag).into_bytes()
        }),
    )
    .await;
    let mut s = connect(&cfg(port, Security::None), &login("a", "b"))
        .await
        .unwrap();
    let date = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap();
    let mut app = s.appender("INBOX", 1 << 20, 1);
    let mut result = app.push(1, b"x\r\n", &[], date).await.map(|_| ());
    if result.is_ok() {
        result = app.finish().await.map(|_| ());
    }
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Bye { .. }), "{err}");
    assert!(err.is_retryable());
    assert!(!s.is_usable());
}

#[tokio::test]
async fn tagged_no_and_bad_on_fetch_store_search_are_errors() {
    let (port, _) = serve(
        "* OK [CAPABILITY IMAP4rev1] fake ready\r\n",
        basic("IMAP4rev1", |c| {
            if c.line.starts_with("UID FETCH") {
                return format!(
                    "{} BAD Error in IMAP command UID FETCH: Invalid uidset\r\n",
                    c.tag
                )
                .into_bytes();
            }
            if c.line.starts_with("UID STORE") {
                return format!("{} NO [CANNOT] read-only\r\n", c.tag).into_bytes();
            }
            if c.line.starts_with("UID SEARCH") {
                return format!("{} NO [UNAVAILABLE] try later\r\n", c.tag).into_bytes();
            }
            format!("{} BAD unexpected\r\n", c.tag).into_bytes()
        }),
    )
    .await;
    let mut s = connect(&cfg(port, Security::None), &login("a", "b"))
        .await
        .unwrap();
    s.select("INBOX").await.unwrap();
    let err = s.fetch_meta(&UidSet::all()).await.unwrap_err();
    assert!(matches!(err, Error::Bad { .. }), "{err}");
    assert!(err.to_string().contains("Invalid uidset"), "{err}");
    use futures::StreamExt;
    let items: Vec<_> = s.fetch_bodies(&UidSet::all()).collect().await;
    assert_eq!(items.len(), 1);
    assert!(matches!(items[0], Err(Error::Bad { .. })));
    let err = s
        .uid_store_flags(
            &UidSet::from(1),
            imapmigration_imap::FlagOp::Add,
            &["\\Seen".into()],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("CANNOT"));
    let err = s.uid_search(&SearchKey::All).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(s.is_usable());
}

#[tokio::test]
async fn search_values_go_quoted_or_as_a_utf8_literal_that_waits_for_continuation() {
    for (caps, announce) in [("IMAP4rev1", "{6}"), ("IMAP4rev1 LITERAL+", "{6+}")] {
        let (port, seen) = serve(
            if caps.contains("LITERAL+") {
                "* OK [CAPABILITY IMAP4rev1 LITERAL+] fake ready\r\n"
            } else {
                "* OK [CAPABILITY IMAP4rev1] fake ready\r\n"
            },
            basic(caps, |c| {
                if c.line.starts_with("UID SEARCH") {
                    let hit = match c.literals.as_slice() {
                        [] if c.line.ends_with("\"<a\\\"b@x>\"") => "4",
                        [l] if l.as_slice() == "<ü@x>".as_bytes() => "5 9",
                        _ => "",
                    };
                    return format!("* SEARCH {hit}\r\n{} OK done\r\n", c.tag).into_bytes();
                }
                format!("{} BAD unexpected\r\n", c.tag).into_bytes()
            }),
        )
        .await;
        let mut s = connect(&cfg(port, Security::None), &login("a", "b"))
            .await
            .unwrap();
        s.select("INBOX").await.unwrap();
        let quoted = s
            .uid_search(&SearchKey::header("Message-ID", "<a\"b@x>"))
            .await
            .unwrap();
        assert_eq!(quoted, vec![4], "{caps}");
        let literal = s
            .uid_search(&SearchKey::header("Message-ID", "<ü@x>"))
            .await
            .unwrap();
        assert_eq!(literal, vec![5, 9], "{caps}");
        let text = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
        assert!(
            text.contains("UID SEARCH HEADER Message-ID \"<a\\\"b@x>\"\r\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "UID SEARCH CHARSET UTF-8 HEADER Message-ID {announce}\r\n<ü@x>\r\n"
            )),
            "{text}"
        );
        assert!(s.is_usable());
    }
}

/// Without LITERAL+, each APPEND still waits for its `+`, but not for the completion of the
/// one before: this server answers an APPEND only once the next one has arrived (and the last
/// two together), which a client waiting for each completion would never see (io timeout).
#[tokio::test]
async fn synchronizing_appends_do_not_wait_for_the_previous_completion() {
    let mut pending: Option<String> = None;
    let mut n = 0;
    let (port, seen) = serve(
        "* OK [CAPABILITY IMAP4rev1 UIDPLUS] fake ready\r\n",
        basic("IMAP4rev1 UIDPLUS", move |c| {
            if !c.line.starts_with("APPEND") {
                return format!("{} BAD unexpected\r\n", c.tag).into_bytes();
            }
            n += 1;
            let mut out = String::new();
            if let Some(prev) = pending.take() {
                out.push_str(&format!("{prev} OK [APPENDUID 7 {}] done\r\n", n - 1));
            }
            if n == 3 {
                out.push_str(&format!("{} OK [APPENDUID 7 3] done\r\n", c.tag));
            } else {
                pending = Some(c.tag.clone());
            }
            out.into_bytes()
        }),
    )
    .await;
    let mut s = connect(&cfg(port, Security::None), &login("a", "b"))
        .await
        .unwrap();
    let date = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap();
    let mut app = s.appender("INBOX", 1 << 20, 16);
    let mut outcomes = Vec::new();
    for i in 1..=3u64 {
        outcomes.extend(
            app.push(i, b"Subject: x\r\n\r\nhi\r\n", &[], date)
                .await
                .unwrap(),
        );
    }
    outcomes.extend(app.finish().await.unwrap());
    outcomes.sort_by_key(|o| o.id);
    let uids: Vec<_> = outcomes.iter().map(|o| o.result.clone()).collect();
    assert_eq!(uids, vec![Ok(Some(1)), Ok(Some(2)), Ok(Some(3))]);
    let text = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    assert_eq!(text.matches("APPEND INBOX () ").count(), 3, "{text}");
    assert!(!text.contains("+}"), "synchronizing literals only: {text}");
}

/// A server that disables LOGIN in clear text and offers no SASL PLAIN there: the error names
/// the fix (STARTTLS or implicit TLS), and no password was sent.
#[tokio::test]
async fn logindisabled_in_clear_text_suggests_tls() {
    let (port, seen) = serve(
        "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] fake ready\r\n",
        basic("IMAP4rev1 STARTTLS LOGINDISABLED", |c| {
            format!("{} BAD unexpected\r\n", c.tag).into_bytes()
        }),
    )
    .await;
    let err = connect(&cfg(port, Security::None), &login("alice", "pw-secret"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("LOGINDISABLED"), "{text}");
    assert!(text.contains("STARTTLS") && text.contains("Ssl"), "{text}");
    let sent = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    assert!(!sent.contains("pw-secret"), "{sent}");
}

/// A refused authorization identity: the error names the admin and the user it acted for,
/// and never the password.
#[tokio::test]
async fn refused_authzid_names_the_admin_and_the_user() {
    let (port, _) = serve(
        "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] fake ready\r\n",
        basic("IMAP4rev1 AUTH=PLAIN SASL-IR", |c| {
            if c.line.starts_with("AUTHENTICATE") {
                return format!("{} NO [AUTHORIZATIONFAILED] not allowed\r\n", c.tag).into_bytes();
            }
            format!("{} BAD unexpected\r\n", c.tag).into_bytes()
        }),
    )
    .await;
    let creds = Credentials::Plain {
        authcid: "cyrusadmin".into(),
        authzid: Some("alice".into()),
        password: SecretString::from("pw-secret"),
    };
    let err = connect(&cfg(port, Security::None), &creds)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("cyrusadmin acting for alice") && text.contains("not allowed"),
        "{text}"
    );
    assert!(!text.contains("pw-secret"), "{text}");
}

#[tokio::test]
async fn a_server_refusing_the_multiappend_it_advertises_gets_single_appends_on_that_connection() {
    let (port, seen) = serve(
        multi_greeting(),
        basic(MULTI_CAPS, move |c| {
            if c.line.starts_with("APPEND") {
                if c.literals.len() > 1 {
                    return format!("{} BAD only one message per APPEND\r\n", c.tag).into_bytes();
                }
                return format!("{} OK done\r\n", c.tag).into_bytes();
            }
            format!("{} BAD unexpected\r\n", c.tag).into_bytes()
        }),
    )
    .await;
    let mut s = connect(&cfg(port, Security::None), &login("a", "b"))
        .await
        .unwrap();
    let date = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap();
    // Two folders' appenders on the same connection.
    for folder in ["INBOX", "Sent"] {
        let mut outcomes = Vec::new();
        let mut app = s.appender(folder, 1 << 20, 16);
        for i in 0..5u64 {
            let body = format!("Subject: x\r\n\r\nmessage {i}\r\n");
            outcomes.extend(app.push(i, body.as_bytes(), &[], date).await.unwrap());
        }
        outcomes.extend(app.finish().await.unwrap());
        assert_eq!(outcomes.len(), 5, "{folder}");
        assert!(
            outcomes.iter().all(|o| o.result.is_ok()),
            "{folder}: {outcomes:?}"
        );
    }
    let text = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    // One refused MULTIAPPEND, its five messages again one by one, then the second folder's
    // five one by one: MULTIAPPEND is not tried again on this connection.
    assert_eq!(text.matches(" APPEND ").count(), 11, "{text}");
}

/// Creating folders in one round trip: a server that answers nothing before it has every
/// CREATE with its SUBSCRIBE (a client waiting for each answer would stall here), answers them
/// out of order, and each folder gets its own outcome: an attribute refused with [USEATTR] is
/// created again without it and subscribed again where its first SUBSCRIBE failed (Cyrus
/// refuses to subscribe what does not exist), [ALREADYEXISTS] is success, [CANNOT] fails only
/// that folder, whose subscription (Dovecot takes any name) is taken back.
#[tokio::test]
async fn folders_are_created_pipelined_and_each_gets_its_own_answer() {
    const CAPS: &str = "IMAP4rev1 CREATE-SPECIAL-USE";
    let mut held: Vec<Cmd> = Vec::new();
    let mut received = 0;
    let (port, seen) = serve(
        "* OK [CAPABILITY IMAP4rev1 CREATE-SPECIAL-USE] fake ready\r\n",
        basic(CAPS, move |c| {
            let verb = c.line.split(' ').next().unwrap_or("").to_ascii_uppercase();
            if !matches!(verb.as_str(), "CREATE" | "SUBSCRIBE" | "UNSUBSCRIBE") {
                return format!("{} BAD unexpected\r\n", c.tag).into_bytes();
            }
            // Round 1: four CREATEs, each with its SUBSCRIBE; round 2: the plain CREATE of D;
            // round 3: SUBSCRIBE D again and UNSUBSCRIBE A. Nothing is answered before the
            // whole round has arrived.
            received += 1;
            let wait_for = match received {
                1..=8 => 8,
                9 => 1,
                _ => 2,
            };
            held.push(Cmd {
                tag: c.tag.clone(),
                line: c.line.clone(),
                literal: None,
                literals: Vec::new(),
            });
            if held.len() < wait_for {
                return Vec::new();
            }
            let mut out = String::new();
            for h in held.drain(..).rev() {
                let answer = if h.line == "SUBSCRIBE \"D\"" && received <= 8 {
                    "NO [NONEXISTENT] no such mailbox"
                } else if h.line.starts_with("SUBSCRIBE")
                    || h.line.starts_with("UNSUBSCRIBE")
                    || h.line == "CREATE \"D\""
                {
                    "OK done"
                } else if h.line.contains("\"A\"") {
                    "NO [CANNOT] that name is not allowed"
                } else if h.line.contains("\"B\"") {
                    "OK created"
                } else if h.line.contains("\"C\"") {
                    "NO [ALREADYEXISTS] there already"
                } else {
                    "NO [USEATTR] not that attribute"
                };
                out.push_str(&format!("{} {answer}\r\n", h.tag));
            }
            out.into_bytes()
        }),
    )
    .await;
    let mut s = connect(&cfg(port, Security::None), &login("a", "b"))
        .await
        .unwrap();
    let folders = [
        ("A".to_owned(), None),
        ("B".to_owned(), Some(SpecialUse::Sent)),
        ("C".to_owned(), None),
        ("D".to_owned(), Some(SpecialUse::Trash)),
    ];
    let results = s.create_folders(&folders).await.unwrap();
    assert!(
        matches!(&results[0], Err(Error::No { code: Some(c), .. }) if c == "CANNOT"),
        "{:?}",
        results[0]
    );
    assert!(results[1..].iter().all(Result::is_ok), "{results:?}");
    let text = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    assert!(text.contains("CREATE \"B\" (USE (\\Sent))"), "{text}");
    assert!(text.contains("CREATE \"D\" (USE (\\Trash))"), "{text}");
    assert_eq!(text.matches("CREATE \"D\"\r\n").count(), 1, "{text}");
    for f in ["B", "C"] {
        assert_eq!(
            text.matches(&format!(" SUBSCRIBE \"{f}\"")).count(),
            1,
            "{text}"
        );
    }
    assert_eq!(text.matches(" SUBSCRIBE \"D\"").count(), 2, "{text}");
    assert_eq!(text.matches(" UNSUBSCRIBE \"A\"").count(), 1, "{text}");
    assert!(s.is_usable());
}

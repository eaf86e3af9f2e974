//! Behaviour against a real Dovecot started by the testkit.

#![allow(clippy::expect_used, reason = "test")]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeZone};
use futures::TryStreamExt;
use imapmigration_imap::{
    ClientCredentialsTokens, Credentials, Error, FlagOp, SearchKey, SecretString, Security,
    ServerConfig, SpecialUse, UidSet, connect, filter_flags_for_target, master_user_login,
};
use imapmigration_testkit::{Dovecot, DovecotOptions, SeedFolder, SeedMessage};
use sha2::{Digest, Sha256};

fn start() -> Dovecot {
    Dovecot::start(DovecotOptions::default()).expect("start dovecot (needs dovecot-imapd)")
}

fn cfg(d: &Dovecot, security: Security) -> ServerConfig {
    let port = match security {
        Security::Ssl => d.imaps_port(),
        _ => d.imap_port(),
    };
    let mut c = ServerConfig::new(d.host(), port, security);
    c.ca_file = Some(d.ca_file());
    c.timeouts.idle = Duration::from_secs(20);
    c
}

fn login(user: &str, pw: &str) -> Credentials {
    Credentials::Login {
        user: user.into(),
        password: SecretString::from(pw),
    }
}

fn seed_msg(i: u32, flags: &[&str]) -> SeedMessage {
    let body = format!(
        "Message-ID: <seed-{i}@example.org>\r\nFrom: a@example.org\r\nTo: b@example.org\r\nSubject: seed {i}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nbody {i}\r\n"
    );
    SeedMessage::new(body.into_bytes(), flags, 1_704_103_200 + i as i64)
}

#[tokio::test]
async fn login_over_plain_starttls_and_ssl_with_the_test_ca() {
    let d = start();
    d.add_user("u1", "pw1").unwrap();
    for security in [Security::None, Security::Tls, Security::Ssl] {
        let mut s = connect(&cfg(&d, security), &login("u1", "pw1"))
            .await
            .unwrap_or_else(|e| panic!("{security:?}: {e}"));
        let caps = s.capabilities();
        assert!(
            caps.has("UIDPLUS") && caps.has("literal+"),
            "{security:?}: {caps:?}"
        );
        assert!(!caps.has("STARTTLS") || security == Security::None);
        let info = s.examine("INBOX").await.unwrap();
        assert!(info.uid_validity > 0);
        s.logout().await.unwrap();
    }
}

#[tokio::test]
async fn tls_with_an_untrusted_ca_fails_and_accept_untrusted_connects() {
    let d = start();
    d.add_user("u2", "pw2").unwrap();
    for security in [Security::Ssl, Security::Tls] {
        // System roots only: the test CA is not among them.
        let mut c = cfg(&d, security);
        c.ca_file = None;
        let err = connect(&c, &login("u2", "pw2")).await.unwrap_err();
        assert!(matches!(err, Error::Tls { .. }), "{security:?}: {err}");
        // A CA file holding some other CA.
        let other = std::fs::read_dir("/etc/ssl/certs")
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "pem"))
            .expect("a system CA certificate");
        c.ca_file = Some(other);
        let err = connect(&c, &login("u2", "pw2")).await.unwrap_err();
        assert!(matches!(err, Error::Tls { .. }), "{security:?}: {err}");
        c.ca_file = None;
        c.accept_untrusted = true;
        let s = connect(&c, &login("u2", "pw2")).await.unwrap();
        s.logout().await.unwrap();
    }
}

#[tokio::test]
async fn wrong_password_is_an_auth_error_with_the_server_reply_and_without_the_password() {
    let d = start();
    d.add_user("u3", "right-pw").unwrap();
    let err = connect(&cfg(&d, Security::Ssl), &login("u3", "Wr0ng-Passw0rd"))
        .await
        .unwrap_err();
    let Error::Auth { text, code, .. } = &err else {
        panic!("expected Auth, got {err}")
    };
    assert_eq!(code.as_deref(), Some("AUTHENTICATIONFAILED"), "{err}");
    assert!(text.contains("Authentication failed"), "{err}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("Wr0ng-Passw0rd"), "{shown}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn master_user_and_plain_authzid_open_the_users_mailbox() {
    let d = start();
    d.add_user("alice", "alicepw").unwrap();
    d.seed(
        "alice",
        &[SeedFolder::new("INBOX", vec![seed_msg(1, &["\\Seen"])])],
    )
    .unwrap();
    let logins = [
        master_user_login("alice", "*", "admin", SecretString::from("adminpass")),
        Credentials::Plain {
            authcid: "admin".into(),
            authzid: Some("alice".into()),
            password: SecretString::from("adminpass"),
        },
    ];
    for creds in logins {
        let mut s = connect(&cfg(&d, Security::Ssl), &creds)
            .await
            .unwrap_or_else(|e| panic!("{creds:?}: {e}"));
        s.examine("INBOX").await.unwrap();
        let meta = s.fetch_meta(&UidSet::all()).await.unwrap();
        assert_eq!(meta.len(), 1, "{creds:?}");
        assert_eq!(meta[0].message_id.as_deref(), Some("<seed-1@example.org>"));
        assert_eq!(meta[0].flags, vec!["\\Seen".to_string()]);
        assert_eq!(meta[0].internal_date.timestamp(), 1_704_103_201);
        s.logout().await.unwrap();
    }
}

#[tokio::test]
async fn xoauth2_with_client_credentials_tokens() {
    let d = start();
    d.add_user("oauthuser", "unused-pw").unwrap();
    let tokens = ClientCredentialsTokens::new(
        d.oauth_token_url(),
        d.oauth_client_id(),
        SecretString::from(d.oauth_client_secret()),
        Some("https://outlook.office365.com/.default".into()),
    )
    .unwrap();
    let tokens = Arc::new(tokens);
    let creds = Credentials::XOAuth2 {
        user: "oauthuser".into(),
        token: tokens.clone(),
    };
    for _ in 0..2 {
        let mut s = connect(&cfg(&d, Security::Ssl), &creds).await.unwrap();
        s.examine("INBOX").await.unwrap();
        s.logout().await.unwrap();
    }
    assert_eq!(d.oauth_tokens_issued(), 1, "the token is cached");

    let bad = Credentials::XOAuth2 {
        user: "oauthuser".into(),
        token: Arc::new(imapmigration_imap::StaticToken(SecretString::from(
            "not-a-token",
        ))),
    };
    let err = connect(&cfg(&d, Security::Ssl), &bad).await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert!(!err.to_string().contains("not-a-token"));

    let wrong_secret = ClientCredentialsTokens::new(
        d.oauth_token_url(),
        d.oauth_client_id(),
        SecretString::from("wrong"),
        None,
    )
    .unwrap();
    let err = imapmigration_imap::TokenSource::token(&wrong_secret)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OAuth { .. }), "{err}");
}

#[tokio::test]
async fn namespaces_list_special_use_and_non_ascii_folders_round_trip() {
    let d = start();
    d.add_user("folders", "pw").unwrap();
    let mut s = connect(&cfg(&d, Security::Ssl), &login("folders", "pw"))
        .await
        .unwrap();
    let ns = s.namespaces().await.unwrap();
    assert_eq!(ns.personal.len(), 1, "{ns:?}");
    assert_eq!(ns.personal[0].delimiter, Some('/'));

    let odd = "Entwürfe & Co/Grüße \"quoted\" 😀";
    s.create_folder(odd).await.unwrap();
    s.create_folder(odd).await.unwrap(); // already exists: fine
    s.create_folder("Отправленные").await.unwrap();
    let folders = s.list_folders().await.unwrap();
    let f = folders
        .iter()
        .find(|f| f.name == odd)
        .unwrap_or_else(|| panic!("{odd} missing from {folders:#?}"));
    assert_eq!(f.raw, imapmigration_imap::mutf7::encode(odd));
    assert_eq!(f.delimiter, Some('/'));
    assert!(!f.noselect);
    let parent = folders.iter().find(|f| f.name == "Entwürfe & Co").unwrap();
    assert!(
        parent
            .attributes
            .iter()
            .any(|a| a.eq_ignore_ascii_case("\\HasChildren"))
    );
    assert!(folders.iter().any(|f| f.name == "Отправленные"));
    let sent = folders
        .iter()
        .find(|f| f.special_use == Some(SpecialUse::Sent));
    assert_eq!(sent.map(|f| f.name.as_str()), Some("Sent"), "{folders:#?}");
    assert!(folders.iter().any(|f| f.name == "INBOX"));
    assert!(folders.iter().filter(|f| f.special_use.is_some()).count() >= 4);

    let info = s.select(odd).await.unwrap();
    assert_eq!(info.exists, 0);
    assert!(info.allows_keywords);
    assert!(info.highest_modseq.is_some(), "CONDSTORE enabled");
    let err = s.examine("Does Not Exist").await.unwrap_err();
    assert!(matches!(err, Error::No { .. }), "{err}");
    s.logout().await.unwrap();
}

fn tricky_body(i: u32) -> Vec<u8> {
    let mut b = format!(
        "Message-ID: <pipe-{i}@example.org>\r\nFrom: =?utf-8?q?J=C3=B6rg?= <j@example.org>\r\nSubject: Grüße 8-bit header {i}\r\nX-Raw: ünïcödé\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    .into_bytes();
    // Every byte value except NUL and bare CR/LF, in a varying order, plus CRLF lines.
    for k in 0..(200 + i as usize * 37) {
        let v = ((k * 7 + i as usize) % 253 + 1) as u8;
        b.push(if v == b'\r' || v == b'\n' { b'x' } else { v });
        if k % 60 == 59 {
            b.extend_from_slice(b"\r\n");
        }
    }
    b.extend_from_slice(b"\r\n");
    b
}

#[tokio::test]
async fn pipelined_append_of_200_messages_round_trips_byte_identical() {
    let d = start();
    d.add_user("bulk", "pw").unwrap();
    let mut s = connect(&cfg(&d, Security::Ssl), &login("bulk", "pw"))
        .await
        .unwrap();
    s.create_folder("Import/Ä").await.unwrap();
    let target = s.select("Import/Ä").await.unwrap();
    let tz = FixedOffset::east_opt(2 * 3600).unwrap();
    let mut sent = Vec::new();
    for i in 0..200u32 {
        let flags: Vec<String> = match i % 4 {
            0 => vec![],
            1 => vec!["\\Seen".into()],
            2 => vec!["\\Seen".into(), "\\Flagged".into(), "$Label1".into()],
            _ => vec!["\\Answered".into(), "\\Recent".into(), "Junk".into()],
        };
        let date: DateTime<FixedOffset> = tz
            .with_ymd_and_hms(2020, 1 + (i % 12), 1 + (i % 28), 10, i % 60, 7)
            .unwrap();
        sent.push((
            tricky_body(i),
            filter_flags_for_target(&flags, &target),
            date,
        ));
    }
    let mut outcomes = Vec::new();
    {
        let mut app = s.appender("Import/Ä", 256 * 1024, 32);
        for (i, (body, flags, date)) in sent.iter().enumerate() {
            outcomes.extend(app.push(i as u64, body, flags, *date).await.unwrap());
        }
        outcomes.extend(app.finish().await.unwrap());
    }
    assert_eq!(outcomes.len(), 200);
    outcomes.sort_by_key(|o| o.id);
    let uids: Vec<u32> = outcomes
        .iter()
        .map(|o| o.result.clone().unwrap().expect("APPENDUID"))
        .collect();
    let mut sorted = uids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 200, "distinct uids");

    let info = s.examine("Import/Ä").await.unwrap();
    assert_eq!(info.exists, 200);
    let bodies: Vec<_> = s.fetch_bodies(&UidSet::all()).try_collect().await.unwrap();
    assert_eq!(bodies.len(), 200);
    for b in &bodies {
        let i = uids
            .iter()
            .position(|u| *u == b.uid)
            .expect("uid from APPENDUID");
        let (body, flags, date) = &sent[i];
        assert_eq!(
            hex::encode(Sha256::digest(&b.body)),
            hex::encode(Sha256::digest(body)),
            "body of message {i}"
        );
        let mut got = b.flags.clone();
        got.retain(|f| f != "\\Recent");
        got.sort();
        let mut want = flags.clone();
        want.sort();
        assert_eq!(got, want, "flags of message {i}");
        assert_eq!(b.internal_date, *date, "date of message {i}");
    }
    let meta = s.fetch_meta(&UidSet::all()).await.unwrap();
    assert_eq!(meta.len(), 200);
    assert!(meta.iter().all(|m| {
        m.message_id
            .as_deref()
            .is_some_and(|id| id.starts_with("<pipe-"))
    }));
    s.logout().await.unwrap();
}

#[tokio::test]
async fn bad_uid_sets_and_search_are_errors_not_empty_results() {
    let d = start();
    d.add_user("errs", "pw").unwrap();
    d.seed(
        "errs",
        &[SeedFolder::new(
            "INBOX",
            vec![seed_msg(1, &[]), seed_msg(2, &[])],
        )],
    )
    .unwrap();
    let mut s = connect(&cfg(&d, Security::Ssl), &login("errs", "pw"))
        .await
        .unwrap();
    s.examine("INBOX").await.unwrap();
    let err = s.fetch_meta(&UidSet::from(0)).await.unwrap_err();
    assert!(matches!(err, Error::Bad { .. }), "{err}");
    let err = s
        .fetch_bodies(&UidSet::range(0, u32::MAX))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Bad { .. }), "{err}");
    let err = s
        .uid_search(&SearchKey::Uid(UidSet::from(0)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Bad { .. }), "{err}");
    // The connection is still fine afterwards.
    assert_eq!(s.uid_search(&SearchKey::All).await.unwrap(), vec![1, 2]);
    assert_eq!(
        s.fetch_meta(&UidSet::from(2)).await.unwrap()[0]
            .message_id
            .as_deref(),
        Some("<seed-2@example.org>")
    );
    // An abandoned stream does not confuse the next command.
    {
        let mut st = Box::pin(s.fetch_bodies(&UidSet::all()));
        let first = st.try_next().await.unwrap().unwrap();
        assert_eq!(first.uid, 1);
    }
    assert_eq!(s.fetch_meta(&UidSet::all()).await.unwrap().len(), 2);
    s.logout().await.unwrap();
}

#[tokio::test]
async fn store_flags_and_changed_since() {
    let d = start();
    d.add_user("flags", "pw").unwrap();
    d.seed(
        "flags",
        &[SeedFolder::new(
            "INBOX",
            vec![seed_msg(1, &[]), seed_msg(2, &["\\Seen"])],
        )],
    )
    .unwrap();
    let mut s = connect(&cfg(&d, Security::Ssl), &login("flags", "pw"))
        .await
        .unwrap();
    let before = s.select("INBOX").await.unwrap();
    let modseq = before.highest_modseq.expect("CONDSTORE");
    s.uid_store_flags(
        &UidSet::from(1),
        FlagOp::Add,
        &["\\Flagged".into(), "$Work".into()],
    )
    .await
    .unwrap();
    s.uid_store_flags(&UidSet::from(2), FlagOp::Remove, &["\\Seen".into()])
        .await
        .unwrap();
    let mut changed = s.fetch_flags_changed_since(modseq).await.unwrap();
    changed.sort_by_key(|c| c.0);
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert!(changed[0].1.contains(&"\\Flagged".to_string()));
    assert!(changed[0].1.contains(&"$Work".to_string()));
    assert!(!changed[1].1.contains(&"\\Seen".to_string()));
    assert!(changed.iter().all(|c| c.2 > modseq));
    s.uid_store_flags(&UidSet::from(1), FlagOp::Replace, &["\\Answered".into()])
        .await
        .unwrap();
    let meta = s.fetch_meta(&UidSet::from(1)).await.unwrap();
    assert_eq!(meta[0].flags, vec!["\\Answered".to_string()]);
    s.logout().await.unwrap();
}

#[tokio::test]
async fn refusals_from_dovecot_are_per_message_and_8bit_passwords_use_plain() {
    let d = start();
    d.add_user("edge", "pässwörd-ü").unwrap();
    // LOGIN cannot carry 8-bit in a quoted string: AUTHENTICATE PLAIN is used instead.
    let mut s = connect(&cfg(&d, Security::Ssl), &login("edge", "pässwörd-ü"))
        .await
        .unwrap();
    let date = FixedOffset::east_opt(0)
        .unwrap()
        .with_ymd_and_hms(2024, 5, 1, 12, 0, 0)
        .unwrap();
    // APPEND to a mailbox that does not exist: NO [TRYCREATE] for each message, session fine.
    let mut outcomes = Vec::new();
    {
        let mut app = s.appender("Missing", 1 << 20, 8);
        for i in 0..3u64 {
            outcomes.extend(
                app.push(i, b"Subject: x\r\n\r\nx\r\n", &[], date)
                    .await
                    .unwrap(),
            );
        }
        outcomes.extend(app.finish().await.unwrap());
    }
    assert_eq!(outcomes.len(), 3);
    for o in &outcomes {
        let r = o.result.clone().unwrap_err();
        assert_eq!(r.code.as_deref(), Some("TRYCREATE"), "{r}");
    }
    // NUL is not allowed in a plain literal (RFC 3501 §4.3): refused or stored altered,
    // never a dead session.
    let nul = b"Subject: nul\r\n\r\nbefore\0after\r\n";
    let mut app = s.appender("INBOX", 1 << 20, 8);
    let mut out = app.push(9, nul, &[], date).await.unwrap();
    out.extend(app.finish().await.unwrap());
    assert_eq!(out.len(), 1);
    assert!(s.is_usable());
    let info = s.examine("INBOX").await.unwrap();
    if let Ok(Some(uid)) = out[0].result {
        let got: Vec<_> = s
            .fetch_bodies(&UidSet::from(uid))
            .try_collect()
            .await
            .unwrap();
        // Dovecot stores NUL as 0x80 (BODY[] cannot carry NUL without BINARY, RFC 3516).
        assert_eq!(got[0].body.len(), nul.len());
    }
    assert!(info.exists <= 1);
    s.logout().await.unwrap();
}

#[tokio::test]
async fn a_connection_cut_mid_fetch_is_a_retryable_error_and_pipelining_survives_latency() {
    use imapmigration_testkit::{DelayProxy, FaultProxy};
    let d = start();
    d.add_user("cut", "pw").unwrap();
    let msgs: Vec<SeedMessage> = (0..50).map(|i| seed_msg(i, &[])).collect();
    d.seed("cut", &[SeedFolder::new("INBOX", msgs)]).unwrap();

    let proxy = FaultProxy::start(d.imap_addr()).unwrap();
    let mut c = ServerConfig::new("127.0.0.1", proxy.port(), Security::None);
    c.timeouts.idle = Duration::from_secs(10);
    let mut s = connect(&c, &login("cut", "pw")).await.unwrap();
    s.examine("INBOX").await.unwrap();
    proxy.cut_all();
    let err = s
        .fetch_bodies(&UidSet::all())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(!s.is_usable());
    // Used again, it says what broke it: a dropped connection, tried again like any other.
    let err = s.uid_search(&SearchKey::All).await.unwrap_err();
    assert!(
        matches!(err, Error::Io { .. }) && err.is_retryable(),
        "{err}"
    );

    // 20 ms round trip: 60 pipelined APPENDs complete, with APPENDUIDs, through the delay.
    let slow = DelayProxy::start(d.imap_addr(), Duration::from_millis(10)).unwrap();
    let c = ServerConfig::new("127.0.0.1", slow.port(), Security::None);
    let mut s = connect(&c, &login("cut", "pw")).await.unwrap();
    s.create_folder("Slow").await.unwrap();
    let date = FixedOffset::east_opt(0)
        .unwrap()
        .with_ymd_and_hms(2024, 5, 1, 12, 0, 0)
        .unwrap();
    let started = std::time::Instant::now();
    let mut outcomes = Vec::new();
    {
        let mut app = s.appender("Slow", 1 << 20, 64);
        for i in 0..60u64 {
            let body = format!("Subject: slow {i}\r\n\r\nbody\r\n");
            outcomes.extend(app.push(i, body.as_bytes(), &[], date).await.unwrap());
        }
        outcomes.extend(app.finish().await.unwrap());
    }
    eprintln!(
        "60 appends over a 20 ms round trip took {:?}",
        started.elapsed()
    );
    assert_eq!(outcomes.len(), 60);
    assert!(outcomes.iter().all(|o| matches!(o.result, Ok(Some(_)))));
    s.logout().await.unwrap();
}

#[tokio::test]
async fn typed_search_keys_find_messages_by_message_id_size_and_uid() {
    let d = start();
    d.add_user("search", "pw").unwrap();
    let msg = |id: &str, pad: usize| {
        let body = format!(
            "Message-ID: {id}\r\nFrom: a@example.org\r\nSubject: s\r\n\r\n{}\r\n",
            "x".repeat(pad)
        );
        SeedMessage::new(body.into_bytes(), &[], 1_704_103_200)
    };
    d.seed(
        "search",
        &[SeedFolder::new(
            "INBOX",
            vec![
                msg("<plain@example.org>", 10),
                msg("<q\"uote@example.org>", 20),
                msg("<grüße@example.org>", 30),
                msg("<plain@example.org>", 40),
            ],
        )],
    )
    .unwrap();
    let mut s = connect(&cfg(&d, Security::Ssl), &login("search", "pw"))
        .await
        .unwrap();
    s.examine("INBOX").await.unwrap();
    let by_id = |id: &str| SearchKey::header("Message-ID", id);
    assert_eq!(
        s.uid_search(&by_id("<plain@example.org>")).await.unwrap(),
        vec![1, 4]
    );
    assert_eq!(
        s.uid_search(&by_id("<q\"uote@example.org>")).await.unwrap(),
        vec![2]
    );
    // 8-bit: a literal with CHARSET UTF-8.
    assert_eq!(
        s.uid_search(&by_id("<grüße@example.org>")).await.unwrap(),
        vec![3]
    );
    let meta = s.fetch_meta(&UidSet::from(4)).await.unwrap();
    let size = meta[0].size;
    assert_eq!(s.uid_search(&SearchKey::size(size)).await.unwrap(), vec![4]);
    let both = SearchKey::And(vec![by_id("<plain@example.org>"), SearchKey::size(size)]);
    assert_eq!(s.uid_search(&both).await.unwrap(), vec![4]);
    let some: UidSet = [1, 3, 4].into_iter().collect();
    assert_eq!(
        s.uid_search(&SearchKey::Uid(some.clone())).await.unwrap(),
        vec![1, 3, 4]
    );
    assert_eq!(s.fetch_meta(&some).await.unwrap().len(), 3);
    assert!(s.fetch_meta(&UidSet::new()).await.unwrap().is_empty());
    s.logout().await.unwrap();
}

//! Logins against a real Cyrus IMAP 3.6 started by the testkit: a server without master users
//! refuses Dovecot's master-user login, and the refusal says what it takes instead. Skipped when
//! Cyrus is not installed, unless IMAPMIGRATION_REQUIRE_CYRUS=1 (scripts/test sets it).

#![allow(clippy::expect_used, reason = "test")]

use imapmigration_imap::master_user_login;
use imapmigration_imap::{Credentials, Error, SecretString, Security, ServerConfig, connect};
use imapmigration_testkit::{
    CYRUS_ADMIN, CYRUS_ADMIN_PASSWORD, Cyrus, CyrusOptions, cyrus_available,
};

fn cyrus() -> Option<Cyrus> {
    if !cyrus_available() {
        assert_ne!(
            std::env::var("IMAPMIGRATION_REQUIRE_CYRUS").as_deref(),
            Ok("1"),
            "Cyrus is required here but not installed (scripts/common.sh ensure_cyrus)"
        );
        eprintln!("skipped: Cyrus is not installed (scripts/common.sh ensure_cyrus)");
        return None;
    }
    Some(Cyrus::start(CyrusOptions::default().user("alice", "secret")).expect("start cyrus"))
}

#[tokio::test]
async fn a_master_user_login_refused_by_cyrus_names_the_authorization_identity() {
    let Some(c) = cyrus() else {
        return;
    };
    let cfg = ServerConfig::new(c.host(), c.port(), Security::None);
    let master = master_user_login(
        "alice",
        "*",
        CYRUS_ADMIN,
        SecretString::from(CYRUS_ADMIN_PASSWORD),
    );
    let err = connect(&cfg, &master)
        .await
        .expect_err("Cyrus has no master users");
    let Error::Auth { user, text, .. } = &err else {
        panic!("expected Auth, got {err}")
    };
    assert_eq!(user, &format!("alice*{CYRUS_ADMIN}"));
    assert!(text.contains("-TargetLogin AuthorizationId"), "{err}");
    assert!(!format!("{err} {err:?}").contains(CYRUS_ADMIN_PASSWORD));

    // What the message suggests works on the same server.
    let authzid = Credentials::Plain {
        authcid: CYRUS_ADMIN.into(),
        authzid: Some("alice".into()),
        password: SecretString::from(CYRUS_ADMIN_PASSWORD),
    };
    let mut s = connect(&cfg, &authzid)
        .await
        .expect("authorization identity");
    s.examine("INBOX").await.expect("examine");
    s.logout().await.expect("logout");
}

/// Cyrus offers `DIGEST=SHA1`, and the size check of what landed fetches the digest with the
/// size: a message stored as sent has the SHA-1 of the bytes sent; with `munge8bit: yes` (the
/// default) a message with 8-bit header bytes has the same size and another SHA-1. The answer
/// is read the same when sent ahead behind EXAMINE.
#[tokio::test]
async fn sizes_come_with_the_sha1_of_what_cyrus_stores() {
    use imapmigration_imap::UidSet;
    use sha1::Digest;
    if cyrus().is_none() {
        return;
    }
    let mut opts = CyrusOptions::default().user("alice", "secret");
    opts.munge8bit = true;
    let c = Cyrus::start(opts).expect("start cyrus");
    let cfg = ServerConfig::new(c.host(), c.port(), Security::None);
    let creds = Credentials::Login {
        user: "alice".into(),
        password: SecretString::from("secret"),
    };
    let mut s = connect(&cfg, &creds).await.expect("login");
    assert!(s.offers_sha1_digest());
    let plain: &[u8] = b"Subject: plain\r\nFrom: a@example.com\r\n\r\nbody\r\n";
    let eight: &[u8] =
        "Subject: Gr\u{fc}\u{df}e\r\nFrom: J\u{fc}rgen <a@example.com>\r\n\r\nbody\r\n".as_bytes();
    let date = chrono::DateTime::parse_from_rfc3339("2023-11-14T22:13:20+00:00").expect("date");
    let mut outcomes = Vec::new();
    {
        let mut app = s.appender("INBOX", 1 << 20, 8);
        for (i, body) in [plain, eight].into_iter().enumerate() {
            outcomes.extend(app.push(i as u64, body, &[], date).await.expect("push"));
        }
        outcomes.extend(app.finish().await.expect("finish"));
    }
    outcomes.sort_by_key(|o| o.id);
    let uids: Vec<u32> = outcomes
        .iter()
        .map(|o| o.result.clone().expect("appended").expect("APPENDUID"))
        .collect();
    let set = UidSet::from_iter(&uids);
    s.prefetch_examine("INBOX").await.expect("ahead");
    s.prefetch_fetch_sizes(&set).await.expect("ahead");
    s.examine("INBOX").await.expect("examine");
    let mut got = s.fetch_sizes(&set).await.expect("sizes");
    got.sort_by_key(|g| g.uid);
    assert_eq!(got.len(), 2, "{got:?}");
    let sha1 = |b: &[u8]| hex::encode(sha1::Sha1::digest(b));
    assert_eq!(got[0].uid, uids[0]);
    assert_eq!(got[0].size as usize, plain.len());
    assert_eq!(got[0].sha1.as_deref(), Some(sha1(plain).as_str()));
    assert_eq!(
        got[1].size as usize,
        eight.len(),
        "munge8bit keeps the size"
    );
    let stored = got[1].sha1.as_deref().expect("a digest");
    assert_eq!(stored.len(), 40);
    assert_ne!(stored, sha1(eight), "munge8bit changed the bytes");
    s.logout().await.expect("logout");
}

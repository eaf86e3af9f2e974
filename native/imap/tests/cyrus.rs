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

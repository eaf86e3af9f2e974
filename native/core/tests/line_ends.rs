//! A source that sends messages with bare LF (and 8-bit bytes) into targets that store them
//! with CRLF (Dovecot, Cyrus), so that the target reports another RFC822.SIZE than the source:
//! a rerun with the state lost, and a pass resumed with the rows left in flight, still find
//! the copies. No duplicate either way.

#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

#[path = "engine_support.rs"]
mod support;

use imapmigration::engine::{self, SourceSpec, TargetSpec, UserJob};
use imapmigration_imap as imap;
use imapmigration_store::MessageState;
use imapmigration_testkit::{
    Cyrus, CyrusOptions, HostileImap, HostileMode, SpecialUseNames, cyrus_available,
};
use support::*;

/// Bare LF throughout: with a Message-ID, without one (matched by the body hash), and with
/// 8-bit headers and body.
fn mailbox() -> Vec<Vec<u8>> {
    vec![
        b"Message-ID: <lf-1@test.example>\nSubject: bare LF with an id\nFrom: x@example.com\n\nline one\nline two\nline three\n".to_vec(),
        b"Subject: bare LF and no Message-ID\nFrom: x@example.com\n\nline one\nline two\n".to_vec(),
        "Message-ID: <lf-8bit@test.example>\nSubject: Grüße aus Köln\nFrom: Jürgen <j@example.com>\n\nKörper mit Umlauten: äöüß\n"
            .as_bytes()
            .to_vec(),
    ]
}

fn job(env: &Env, source: &HostileImap, target: TargetSpec) -> UserJob {
    let mut job = UserJob {
        user_id: env.user_id.clone(),
        email: "alice@example.com".into(),
        source: SourceSpec {
            server: imap::ServerConfig::new("127.0.0.1", source.port(), imap::Security::None),
            credentials: creds("alice", PASSWORD),
            user_root: None,
            include_other_namespaces: false,
        },
        target,
        options: engine::SyncOptions::default(),
    };
    job.options.in_flight_settle = std::time::Duration::from_millis(200);
    job
}

/// Messages in the target's INBOX.
async fn on_target(target: &TargetSpec) -> u32 {
    let TargetSpec::Imap {
        server,
        credentials,
    } = target
    else {
        unreachable!("IMAP targets only");
    };
    let mut s = imap::connect(server, credentials)
        .await
        .expect("connect to the target");
    s.examine("INBOX").await.expect("examine").exists
}

/// First copy, then a pass resumed with every row in flight, then two reruns with the state
/// lost: the target holds each message once.
async fn no_duplicates_into(target: TargetSpec) {
    let n = mailbox().len() as u32;
    let source = HostileImap::start(HostileMode::Honest, mailbox()).expect("source");
    let env = env();
    let j = job(&env, &source, target.clone());
    let first = sync(&env, &j).await;
    assert_eq!(first.items_copied, u64::from(n), "{first:?}");
    assert_eq!(on_target(&target).await, n);

    // What an interrupted pass leaves: the messages landed, their rows still in flight.
    let uid = uuid::Uuid::parse_str(&env.user_id).expect("uuid");
    let inbox = env
        .store
        .folder_get(&uid, "INBOX")
        .expect("folder")
        .expect("recorded")
        .id;
    let rows: Vec<_> = env
        .store
        .messages_for_folder(inbox)
        .expect("rows")
        .into_iter()
        .map(|mut r| {
            r.state = MessageState::InFlight;
            r.dst_uid = None;
            r
        })
        .collect();
    env.store.messages_begin(inbox, &rows).expect("in flight");
    let resumed = sync(&env, &j).await;
    assert_eq!(resumed.items_copied, 0, "found in flight: {resumed:?}");
    assert_eq!(on_target(&target).await, n);

    for round in 0..2 {
        let lost = support::env();
        let j = job(&lost, &source, target.clone());
        let rerun = sync(&lost, &j).await;
        assert_eq!(
            rerun.items_copied, 0,
            "rerun {round} with the state lost: {rerun:?}"
        );
        assert_eq!(on_target(&target).await, n, "rerun {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_lf_messages_into_dovecot_are_never_copied_twice() {
    let dst = dovecot(SpecialUseNames::Standard, &["alice"]);
    no_duplicates_into(TargetSpec::Imap {
        server: server(&dst),
        credentials: creds("alice", PASSWORD),
    })
    .await;
}

/// Skipped when Cyrus is not installed, unless IMAPMIGRATION_REQUIRE_CYRUS=1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_lf_messages_into_cyrus_are_never_copied_twice() {
    if !cyrus_available() {
        assert_ne!(
            std::env::var("IMAPMIGRATION_REQUIRE_CYRUS").as_deref(),
            Ok("1"),
            "Cyrus is required here but not installed (scripts/common.sh ensure_cyrus)"
        );
        eprintln!("skipped: Cyrus is not installed (scripts/common.sh ensure_cyrus)");
        return;
    }
    let cy = Cyrus::start(CyrusOptions::default().user("alice", PASSWORD)).expect("start cyrus");
    let addr = cy.imap_addr();
    no_duplicates_into(TargetSpec::Imap {
        server: imap::ServerConfig::new("127.0.0.1", addr.port(), imap::Security::None),
        credentials: creds("alice", PASSWORD),
    })
    .await;
}

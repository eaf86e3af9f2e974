//! Folder-level failures: a target that refuses one folder (CREATE and SELECT answered
//! `NO [CANNOT]`, as Cyrus refuses a name) and a source whose message bodies in one folder
//! cannot be fetched, however often asked. The other folders are copied byte-identically; the
//! failed folder's messages are skipped items of kind BadItem with the server's words, counted
//! against `-BadItemLimit`; the user is synced (Failed only past the limit). A refusal about a
//! character of the name puts the folder under a safe name instead. A target that stores a
//! message changed (another size after APPEND) has it reported as a ChangedItem; one that
//! changes bytes at the same size is reported only with content verification on.

#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

#[path = "engine_support.rs"]
mod support;

use imapmigration::engine::{self, TargetSpec};
use imapmigration_imap as imap;
use imapmigration_store::SkippedKind;
use imapmigration_testkit::snapshot::served_sha256;
use imapmigration_testkit::{
    CHANGED_HEADER, Dovecot, Refusal, RefusingProxy, SeedFolder, SeedMessage, SpecialUseNames,
};
use support::*;
use tokio_util::sync::CancellationToken;

fn mailbox() -> Vec<SeedFolder> {
    vec![
        SeedFolder::new(
            "INBOX",
            (1..4).map(|i| seed_msg(i, "inbox", &["\\Seen"])).collect(),
        ),
        SeedFolder::new(
            "Projects",
            (4..8).map(|i| seed_msg(i, "projects", &[])).collect(),
        ),
        SeedFolder::new(
            "Refused",
            (8..13).map(|i| seed_msg(i, "refused", &[])).collect(),
        ),
    ]
}

/// Uncompressed (Cyrus offers COMPRESS=DEFLATE): the proxy reads the commands.
fn through(proxy: &RefusingProxy) -> imap::ServerConfig {
    let mut s = imap::ServerConfig::new("127.0.0.1", proxy.port(), imap::Security::None);
    s.compress = false;
    s
}

/// The target's mailbox as it should be: the source's without `dropped`, `renamed` applied.
#[track_caller]
fn expect_copied(src: &Dovecot, dst: &Dovecot, dropped: &str, renames: &[(&str, &str)]) {
    let mut expected = src.snapshot("alice").expect("src").rename_folders(renames);
    expected.folders.remove(dropped);
    let expected = expected.without_empty_folders();
    let actual = dst.snapshot("alice").expect("dst").without_empty_folders();
    assert!(
        expected.diff(&actual).is_empty(),
        "{}",
        expected.diff(&actual)
    );
}

fn skipped(env: &Env) -> Vec<imapmigration_store::SkippedItem> {
    let uid = uuid::Uuid::parse_str(&env.user_id).expect("uuid");
    env.store.list_skipped_items(&uid, None).expect("skipped")
}

fn items_skipped_counter(env: &Env) -> u64 {
    let uid = uuid::Uuid::parse_str(&env.user_id).expect("uuid");
    env.store
        .get_user_by_id(&uid)
        .expect("user")
        .expect("user row")
        .items_skipped
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_the_target_refuses_becomes_skipped_items() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let dst = dovecot(SpecialUseNames::Standard, &["alice"]);
    src.seed("alice", &mailbox()).expect("seed");
    let proxy =
        RefusingProxy::start(dst.imap_addr(), Refusal::Create("Refused".into())).expect("proxy");
    let env = env();
    let mut job = imap_job(&env, &src, "alice", &dst, "alice");
    job.target = TargetSpec::Imap {
        server: through(&proxy),
        credentials: creds("alice", PASSWORD),
    };
    let out = sync(&env, &job).await;
    assert_eq!(
        (out.items_copied, out.items_skipped, out.items_total),
        (7, 5, 12),
        "{out:?}"
    );
    expect_copied(&src, &dst, "Refused", &[]);
    let items = skipped(&env);
    assert_eq!(items.len(), 5, "{items:?}");
    for i in &items {
        assert_eq!(i.kind, SkippedKind::BadItem);
        assert_eq!(i.folder, "Refused");
        assert!(
            i.reason.contains("NO [CANNOT]") || i.reason.contains("not permitted"),
            "{}",
            i.reason
        );
        assert!(
            i.subject.as_deref().is_some_and(|s| s.contains("refused")),
            "{i:?}"
        );
    }
    assert_eq!(items_skipped_counter(&env), 5);
    assert!(proxy.refused() > 0);

    // A rerun copies nothing and reports nothing twice.
    let again = sync(&env, &job).await;
    assert_eq!(
        (again.items_copied, again.items_skipped),
        (0, 0),
        "{again:?}"
    );
    assert_eq!(skipped(&env).len(), 5);

    // Past the limit the user fails, and says why.
    let env2 = support::env();
    let mut job2 = job.clone();
    job2.user_id = env2.user_id.clone();
    job2.options.bad_item_limit = Some(4);
    let dst2 = dovecot(SpecialUseNames::Standard, &["alice"]);
    let proxy2 =
        RefusingProxy::start(dst2.imap_addr(), Refusal::Create("Refused".into())).expect("proxy");
    job2.target = TargetSpec::Imap {
        server: through(&proxy2),
        credentials: creds("alice", PASSWORD),
    };
    let e = engine::sync_user(
        &job2,
        &env2.store,
        &CancellationToken::new(),
        &Counting::default(),
    )
    .await
    .expect_err("past the bad item limit");
    assert!(e.to_string().contains("bad item limit of 4"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_name_refused_for_a_character_is_created_under_a_safe_name() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let dst = dovecot(SpecialUseNames::Standard, &["alice"]);
    src.seed(
        "alice",
        &[
            SeedFolder::new("INBOX", vec![seed_msg(1, "inbox", &[])]),
            SeedFolder::new(
                "v1.2 Notes",
                (2..5).map(|i| seed_msg(i, "notes", &[])).collect(),
            ),
        ],
    )
    .expect("seed");
    let proxy = RefusingProxy::start(dst.imap_addr(), Refusal::Create(".".into())).expect("proxy");
    let env = env();
    let mut job = imap_job(&env, &src, "alice", &dst, "alice");
    job.target = TargetSpec::Imap {
        server: through(&proxy),
        credentials: creds("alice", PASSWORD),
    };
    let out = sync(&env, &job).await;
    assert_eq!((out.items_copied, out.items_skipped), (4, 0), "{out:?}");
    expect_copied(&src, &dst, "", &[("v1.2 Notes", "v1_2 Notes")]);
    let uid = uuid::Uuid::parse_str(&env.user_id).expect("uuid");
    let events = env.store.events_for_user(&uid, None).expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.message.contains("v1.2 Notes") && e.message.contains("v1_2 Notes")),
        "the rename is reported: {events:?}"
    );
    let again = sync(&env, &job).await;
    assert_eq!(again.items_copied, 0, "{again:?}");
    // Reported once, on the pass that made the folder, not on every pass after it.
    let events = env.store.events_for_user(&uid, None).expect("events");
    let warned = events
        .iter()
        .filter(|e| e.message.contains("v1.2 Notes") && e.message.contains("v1_2 Notes"))
        .count();
    assert_eq!(warned, 1, "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_whose_bodies_cannot_be_fetched_becomes_skipped_items() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let dst = dovecot(SpecialUseNames::Standard, &["alice"]);
    src.seed("alice", &mailbox()).expect("seed");
    let proxy = RefusingProxy::start(src.imap_addr(), Refusal::FetchBodies("Refused".into()))
        .expect("proxy");
    let env = env();
    let mut job = imap_job(&env, &src, "alice", &dst, "alice");
    job.source.server = through(&proxy);
    let out = sync(&env, &job).await;
    assert_eq!((out.items_copied, out.items_skipped), (7, 5), "{out:?}");
    expect_copied(&src, &dst, "Refused", &[]);
    let items = skipped(&env);
    assert_eq!(items.len(), 5, "{items:?}");
    assert!(
        items.iter().all(|i| i.kind == SkippedKind::BadItem
            && i.folder == "Refused"
            && i.reason.contains("SERVERBUG")),
        "{items:?}"
    );
    assert_eq!(items_skipped_counter(&env), 5);
}

/// Checking what landed: a target that stores one message with a header line added (another
/// RFC822.SIZE after APPEND) has that message reported as a ChangedItem naming the folder,
/// the subject and both sizes, counted as a skipped item; a bare-LF message, which the target
/// stores with CRLF, is no change; every other message is byte-identical on the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_target_changes_is_reported_and_the_others_copy_cleanly() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let dst = dovecot(SpecialUseNames::Standard, &["alice"]);
    let mut folders = mailbox();
    let changed = message(40, "changed here");
    folders[0].messages.push(SeedMessage::new(
        changed.clone(),
        &["\\Seen"],
        T0 + 40 * 3600,
    ));
    let bare_lf = b"Message-ID: <lf.41@test.example>\nSubject: bare lf\nFrom: a@example.com\n\nline one\nline two\n".to_vec();
    folders[1]
        .messages
        .push(SeedMessage::new(bare_lf, &[], T0 + 41 * 3600));
    src.seed("alice", &folders).expect("seed");
    let proxy = RefusingProxy::start(
        dst.imap_addr(),
        Refusal::ChangeAppended("Subject: changed here".into()),
    )
    .expect("proxy");
    let env = env();
    let mut job = imap_job(&env, &src, "alice", &dst, "alice");
    job.target = TargetSpec::Imap {
        server: through(&proxy),
        credentials: creds("alice", PASSWORD),
    };
    let out = sync(&env, &job).await;
    assert_eq!(proxy.refused(), 1, "the proxy changed one message");
    assert_eq!((out.items_copied, out.items_skipped), (14, 1), "{out:?}");

    let items = skipped(&env);
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    assert_eq!(item.kind, SkippedKind::ChangedItem);
    assert_eq!(item.folder, "INBOX");
    assert_eq!(item.subject.as_deref(), Some("changed here"));
    let (sent, stored) = (changed.len(), changed.len() + CHANGED_HEADER.len());
    assert!(
        item.reason.contains("changed by the target")
            && item.reason.contains(&format!("stores {stored} bytes"))
            && item.reason.contains(&format!("has {sent}")),
        "{}",
        item.reason
    );
    assert_eq!(items_skipped_counter(&env), 1);

    // Everything else byte-identical: the source's mailbox with just that one message changed.
    let mut with_header = CHANGED_HEADER.to_vec();
    with_header.extend_from_slice(&changed);
    let (was, now) = (served_sha256(&changed), served_sha256(&with_header));
    let mut expected = src.snapshot("alice").expect("src");
    let inbox = expected.folders.get_mut("INBOX").expect("inbox");
    let m = inbox.iter_mut().find(|m| m.sha256 == was).expect("seeded");
    m.sha256 = now;
    inbox.sort();
    let expected = expected.without_empty_folders();
    let actual = dst.snapshot("alice").expect("dst").without_empty_folders();
    assert!(
        expected.diff(&actual).is_empty(),
        "{}",
        expected.diff(&actual)
    );

    // A second pass neither copies nor reports it again.
    let again = sync(&env, &job).await;
    assert_eq!(
        (again.items_copied, again.items_skipped),
        (0, 0),
        "{again:?}"
    );
    assert_eq!(skipped(&env).len(), 1);
}

/// Content verification (`-VerifyContent`): a target that overwrites bytes of one message and
/// keeps its size passes the RFC822.SIZE check, so without verification the copy counts as
/// clean; with it the message is read back and reported as a ChangedItem naming the folder,
/// the subject and both SHA-256, counted against `-BadItemLimit`, once. The other messages
/// (a bare-LF one among them, stored with CRLF) are no change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_rewritten_at_the_same_size_is_caught_only_by_content_verification() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let mut folders = mailbox();
    let rewritten = message(42, "rewritten here");
    folders[0].messages.push(SeedMessage::new(
        rewritten.clone(),
        &["\\Seen"],
        T0 + 42 * 3600,
    ));
    let bare_lf = b"Message-ID: <lf.43@test.example>\nSubject: bare lf\nFrom: a@example.com\n\nline one\nline two\n".to_vec();
    folders[1]
        .messages
        .push(SeedMessage::new(bare_lf, &[], T0 + 43 * 3600));
    src.seed("alice", &folders).expect("seed");
    let marker = "rewritten here";
    let as_stored = String::from_utf8(rewritten.clone())
        .expect("ascii")
        .replacen(marker, &"X".repeat(marker.len()), 1)
        .into_bytes();
    let (sent_sha, stored_sha) = (served_sha256(&rewritten), served_sha256(&as_stored));

    let run = |verify: bool, limit: Option<u64>| {
        let dst = dovecot(SpecialUseNames::Standard, &["alice"]);
        let proxy = RefusingProxy::start(dst.imap_addr(), Refusal::RewriteAppended(marker.into()))
            .expect("proxy");
        let env = env();
        let mut job = imap_job(&env, &src, "alice", &dst, "alice");
        job.target = TargetSpec::Imap {
            server: through(&proxy),
            credentials: creds("alice", PASSWORD),
        };
        job.options.verify_content = verify;
        job.options.bad_item_limit = limit;
        (dst, proxy, env, job)
    };

    // Off (the default): the size matches, nothing is reported.
    let (_dst, proxy, env, job) = run(false, None);
    let out = sync(&env, &job).await;
    assert_eq!(proxy.refused(), 1, "the proxy rewrote one message");
    assert_eq!((out.items_copied, out.items_skipped), (14, 0), "{out:?}");
    assert!(skipped(&env).is_empty(), "{:?}", skipped(&env));

    // On: reported, once.
    let (dst, proxy, env, job) = run(true, None);
    let out = sync(&env, &job).await;
    assert_eq!(proxy.refused(), 1, "the proxy rewrote one message");
    assert_eq!((out.items_copied, out.items_skipped), (14, 1), "{out:?}");
    let items = skipped(&env);
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    assert_eq!(item.kind, SkippedKind::ChangedItem);
    assert_eq!(item.folder, "INBOX");
    assert_eq!(item.subject.as_deref(), Some("rewritten here"));
    assert_eq!(
        item.reason,
        format!(
            "changed by the target server: the target stored different bytes (SHA-256 {stored_sha}) than were sent (SHA-256 {sent_sha}), at the same size of {} bytes",
            rewritten.len()
        )
    );
    assert_eq!(items_skipped_counter(&env), 1);
    // The copy stays: the source's mailbox with just that message rewritten.
    let mut expected = src.snapshot("alice").expect("src");
    let inbox = expected.folders.get_mut("INBOX").expect("inbox");
    let m = inbox
        .iter_mut()
        .find(|m| m.sha256 == sent_sha)
        .expect("seeded");
    m.sha256 = stored_sha.clone();
    inbox.sort();
    let expected = expected.without_empty_folders();
    let actual = dst.snapshot("alice").expect("dst").without_empty_folders();
    assert!(
        expected.diff(&actual).is_empty(),
        "{}",
        expected.diff(&actual)
    );
    let again = sync(&env, &job).await;
    assert_eq!(
        (again.items_copied, again.items_skipped),
        (0, 0),
        "{again:?}"
    );
    assert_eq!(skipped(&env).len(), 1);

    // Counted against -BadItemLimit.
    let (_dst, _proxy, env, job) = run(true, Some(0));
    let e = engine::sync_user(
        &job,
        &env.store,
        &CancellationToken::new(),
        &Counting::default(),
    )
    .await
    .expect_err("past the bad item limit");
    assert!(e.to_string().contains("bad item limit of 0"), "{e}");
}

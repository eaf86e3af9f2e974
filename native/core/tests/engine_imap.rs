//! The engine between two real Dovecot servers: the target names its special-use folders as
//! Exchange does ("Sent Items", "Deleted Items", "Junk Email").

#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

#[path = "engine_support.rs"]
mod support;

use imapmigration::engine;
use imapmigration_store::MessageState;
use imapmigration_testkit::{MessageRef, SeedFolder, SeedMessage, Snapshot, SpecialUseNames};
use support::*;
use tokio_util::sync::CancellationToken;

const RENAMES: [(&str, &str); 3] = [
    ("Sent", "Sent Items"),
    ("Trash", "Deleted Items"),
    ("Junk", "Junk Email"),
];

fn expect_same(src: &Snapshot, dst: &Snapshot) {
    let expected = src.without_empty_folders().rename_folders(&RENAMES);
    let actual = dst.without_empty_folders();
    assert!(
        expected.diff(&actual).is_empty(),
        "{}",
        expected.diff(&actual)
    );
}

fn folder_id(env: &Env, name: &str) -> i64 {
    let uid = uuid::Uuid::parse_str(&env.user_id).expect("uuid");
    env.store
        .folder_get(&uid, name)
        .expect("folder")
        .expect("recorded")
        .id
}

/// Full copy onto Exchange-like special-use names, incremental passes, and flags a user set
/// on the target that the source never changed are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_copy_between_dovecots_maps_special_use_and_keeps_target_changes() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let dst = dovecot(SpecialUseNames::ExchangeLike, &["alice"]);
    src.seed("alice", &rich_mailbox()).expect("seed");
    let env = env();
    let job = imap_job(&env, &src, "alice", &dst, "alice");

    let first = sync(&env, &job).await;
    assert_eq!(first.items_copied, 16, "{first:?}");
    expect_same(
        &src.snapshot("alice").expect("src"),
        &dst.snapshot("alice").expect("dst"),
    );
    let listed = dst.mailbox_list("alice").expect("list");
    for f in [
        "Sent Items",
        "Deleted Items",
        "Archive/2023",
        "Übung/Größe",
        "a.b",
        "Empty/Leaf",
    ] {
        assert!(
            listed.iter().any(|l| l == f),
            "{f} missing on the target: {listed:?}"
        );
    }
    assert!(
        !listed.iter().any(|l| l == "Sent"),
        "Sent went to Sent Items: {listed:?}"
    );
    // Everything on the served side too (APPEND kept bytes, flags, dates).
    assert_eq!(
        normalize(&served(&src, "alice", PASSWORD).await, &RENAMES),
        normalize(&served(&dst, "alice", PASSWORD).await, &[])
    );

    let again = sync(&env, &job).await;
    assert_eq!(
        (again.items_copied, again.flags_updated),
        (0, 0),
        "{again:?}"
    );

    // The user flags a message on the target; on the source the same message gets answered.
    let inbox = folder_id(&env, "INBOX");
    let rows = env.store.messages_for_folder(inbox).expect("rows");
    let row = rows
        .iter()
        .find(|r| r.msg_key == "<m1.hello@test.example>")
        .expect("row of message 1");
    let dst_uid = row.dst_uid.expect("APPENDUID recorded");
    dst.set_flags(
        "alice",
        "INBOX",
        MessageRef::Uid(dst_uid),
        &["\\Seen", "\\Flagged"],
    )
    .expect("target flags");
    src.set_flags(
        "alice",
        "INBOX",
        MessageRef::Index(0),
        &["\\Seen", "\\Answered"],
    )
    .expect("source flags");
    src.append_message("alice", "Sent", &seed_msg(70, "sent later", &["\\Seen"]))
        .expect("append");
    let third = sync(&env, &job).await;
    assert_eq!(
        (third.items_copied, third.flags_updated),
        (1, 1),
        "{third:?}"
    );
    let served_dst = served(&dst, "alice", PASSWORD).await;
    let m1 = served_dst["INBOX"]
        .iter()
        .filter(|(_, f, _)| {
            f.contains(&"\\Answered".to_string()) && f.contains(&"\\Flagged".to_string())
        })
        .count();
    assert_eq!(
        m1, 1,
        "the source's \\Answered is added, the user's \\Flagged kept: {:?}",
        served_dst["INBOX"]
    );
    assert_eq!(served_dst["Sent Items"].len(), 3);
}

/// Rows left in state 0 on an IMAP target are found by Message-ID + size + date (or by hash
/// without a Message-ID), counting multiplicity; the missing ones are copied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_rows_are_searched_on_the_imap_target() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let dst = dovecot(SpecialUseNames::ExchangeLike, &["alice"]);
    src.seed("alice", &rich_mailbox()).expect("seed");
    let env = env();
    let job = imap_job(&env, &src, "alice", &dst, "alice");
    sync(&env, &job).await;

    let inbox = folder_id(&env, "INBOX");
    let rows = env.store.messages_for_folder(inbox).expect("rows");
    // Landed but never committed: all of INBOX, including both twins and the message
    // without a Message-ID.
    env.store.messages_begin(inbox, &rows).expect("begin");
    // Never landed: one twin and two others, expunged from the target.
    let twin = rows
        .iter()
        .find(|r| r.msg_key == "<m900.twice@test.example>")
        .expect("twin");
    let nomid = rows
        .iter()
        .find(|r| r.msg_key.starts_with("sha256:"))
        .expect("hashed");
    let other = rows
        .iter()
        .find(|r| r.msg_key == "<m3.unread@test.example>")
        .expect("m3");
    for r in [twin, nomid, other] {
        let uid = r.dst_uid.expect("dst uid").to_string();
        dst.doveadm(&["expunge", "-u", "alice", "mailbox", "INBOX", "uid", &uid])
            .expect("expunge");
    }
    let out = sync(&env, &job).await;
    assert_eq!(out.items_copied, 3, "{out:?}");
    assert!(env.store.in_flight(inbox).expect("in flight").is_empty());
    expect_same(
        &src.snapshot("alice").expect("src"),
        &dst.snapshot("alice").expect("dst"),
    );
}

/// A pass aborted mid-folder (the task dropped, as a killed worker would stop) resumes
/// without a duplicate or a gap on the IMAP target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_pass_resumes_on_the_imap_target() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let dst = dovecot(SpecialUseNames::ExchangeLike, &["alice"]);
    let msgs: Vec<SeedMessage> = (0..2000)
        .map(|i| seed_msg(i, "bulk", &["\\Seen"]))
        .collect();
    src.seed("alice", &[SeedFolder::new("INBOX", msgs)])
        .expect("seed");
    let env = env();
    let mut job = imap_job(&env, &src, "alice", &dst, "alice");
    job.options.chunk = 50;
    let store = env.store.clone();
    let progress = std::sync::Arc::new(Counting::default());
    let (p, j) = (progress.clone(), job.clone());
    let task = tokio::spawn(async move {
        engine::sync_user(&j, &store, &CancellationToken::new(), p.as_ref()).await
    });
    while progress.copied.load(std::sync::atomic::Ordering::SeqCst) < 300 {
        assert!(!task.is_finished(), "finished before it could be aborted");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    task.abort();
    let _ = task.await;
    let inbox = folder_id(&env, "INBOX");
    let left = env.store.in_flight(inbox).expect("in flight").len();

    let out = sync(&env, &job).await;
    assert!(
        out.items_copied < 2000,
        "resumed, not restarted: {out:?} ({left} were in flight)"
    );
    expect_same(
        &src.snapshot("alice").expect("src"),
        &dst.snapshot("alice").expect("dst"),
    );
    let rows = env.store.messages_for_folder(inbox).expect("rows");
    let unsettled: Vec<_> = rows
        .iter()
        .filter(|r| r.state != MessageState::Copied || r.dst_uid.is_none())
        .map(|r| (r.src_uid, r.state, r.dst_uid))
        .collect();
    assert!(
        unsettled.is_empty(),
        "{} of {} rows not copied with a target uid ({left} were in flight): {unsettled:?}",
        unsettled.len(),
        rows.len()
    );
}

/// A target server goes on executing the APPENDs it had received on a connection after the
/// client is gone (an aborted pass, a killed process, a cut link): the next pass finds rows in
/// flight whose messages are not on the target yet but land a moment later. They are waited
/// for, not sent a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_messages_that_land_late_are_not_sent_again() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let dst = std::sync::Arc::new(dovecot(SpecialUseNames::ExchangeLike, &["alice"]));
    let msgs: Vec<SeedMessage> = (0..30).map(|i| seed_msg(i, "late", &["\\Seen"])).collect();
    src.seed("alice", &[SeedFolder::new("INBOX", msgs.clone())])
        .expect("seed");
    let env = env();
    let job = imap_job(&env, &src, "alice", &dst, "alice");
    let first = sync(&env, &job).await;
    assert_eq!(first.items_copied, 30, "{first:?}");

    // What an interrupted pass leaves: every row in flight, the messages not on the target
    // yet, and the server about to commit them for a connection that is gone.
    let inbox = folder_id(&env, "INBOX");
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
    env.store
        .messages_begin(inbox, &rows)
        .expect("rows in flight");
    dst.doveadm(&["expunge", "-u", "alice", "mailbox", "INBOX", "all"])
        .expect("expunge");
    let late = {
        let (dst, msgs) = (dst.clone(), msgs.clone());
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(std::time::Duration::from_secs(1));
            for m in &msgs {
                dst.append_message("alice", "INBOX", m)
                    .expect("late append");
            }
        })
    };

    let out = sync(&env, &job).await;
    late.await.expect("late appends");
    assert_eq!(out.items_copied, 0, "found landed, not sent again: {out:?}");
    expect_same(
        &src.snapshot("alice").expect("src"),
        &dst.snapshot("alice").expect("dst"),
    );
    let rows = env.store.messages_for_folder(inbox).expect("rows");
    assert_eq!(rows.len(), 30);
    assert!(
        rows.iter()
            .all(|r| r.state == MessageState::Copied && r.dst_uid.is_some()),
        "{rows:?}"
    );
}

/// A target that goes down for a few seconds mid-run (connections cut, new ones closed at
/// once) is a drop, not an unreachable server: the pass waits it out on the drop budget and
/// finishes with every message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_down_for_seconds_mid_run_is_waited_out() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let dst = dovecot(SpecialUseNames::ExchangeLike, &["alice"]);
    let msgs: Vec<SeedMessage> = (0..2000).map(|i| seed_msg(i, "outage", &[])).collect();
    src.seed("alice", &[SeedFolder::new("INBOX", msgs)])
        .expect("seed");
    let proxy = imapmigration_testkit::FaultProxy::start(dst.imaps_addr()).expect("proxy");
    let env = env();
    let mut job = imap_job(&env, &src, "alice", &dst, "alice");
    if let engine::TargetSpec::Imap { server, .. } = &mut job.target {
        server.port = proxy.port();
    }
    job.options.chunk = 50;
    // A small byte window keeps most of the mailbox still to send when the target goes down.
    job.options.window_bytes = 64 * 1024;
    // The policy's rules with short waits: 3 attempts would be over in well under a second,
    // so only the drop budget carries the pass through the outage.
    let policy = engine::RetryPolicy {
        first_backoff: std::time::Duration::from_millis(100),
        max_backoff: std::time::Duration::from_millis(400),
        drop_budget: std::time::Duration::from_secs(60),
        ..engine::RetryPolicy::standard()
    };
    let store = env.store.clone();
    let progress = std::sync::Arc::new(Counting::default());
    let (p, j) = (progress.clone(), job.clone());
    let task = tokio::spawn(async move {
        engine::sync_user_with_retries(&j, &store, &CancellationToken::new(), p.as_ref(), &policy)
            .await
    });
    while progress.copied.load(std::sync::atomic::Ordering::SeqCst) < 100 {
        if task.is_finished() {
            panic!("finished before the outage: {:?}", task.await);
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    proxy.set_refusing(true);
    proxy.cut_all();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    proxy.set_refusing(false);
    let out = task
        .await
        .expect("task")
        .expect("the pass outlasts the outage");
    assert!(
        proxy.refused() > 0,
        "connections were refused during the outage: {} cut, {} forwarded, {out:?}",
        proxy.cuts(),
        proxy.connections()
    );
    assert_eq!(out.items_total, 2000, "{out:?}");
    expect_same(
        &src.snapshot("alice").expect("src"),
        &dst.snapshot("alice").expect("dst"),
    );
    let rows = env
        .store
        .messages_for_folder(folder_id(&env, "INBOX"))
        .expect("rows");
    assert_eq!(rows.len(), 2000);
    assert!(rows.iter().all(|r| r.state == MessageState::Copied));
}

/// UIDVALIDITY changes: on the source (folder recreated with the same mail plus one) nothing
/// is copied twice; on the target (folder deleted there) everything is copied again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uidvalidity_changes_on_either_side() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let dst = dovecot(SpecialUseNames::ExchangeLike, &["alice"]);
    let twin = SeedMessage::new(message(7, "same"), &["\\Seen"], T0 + 7);
    let mut msgs: Vec<SeedMessage> = (0..6).map(|i| seed_msg(i, "work", &["\\Seen"])).collect();
    msgs.extend([
        twin.clone(),
        twin,
        SeedMessage::new(b"Subject: no id\r\n\r\nx\r\n".to_vec(), &[], T0),
    ]);
    src.seed("alice", &[SeedFolder::new("Work", msgs.clone())])
        .expect("seed");
    let env = env();
    let job = imap_job(&env, &src, "alice", &dst, "alice");
    sync(&env, &job).await;

    src.doveadm(&["mailbox", "delete", "-u", "alice", "Work"])
        .expect("delete");
    msgs.push(seed_msg(50, "new", &[]));
    src.seed("alice", &[SeedFolder::new("Work", msgs)])
        .expect("reseed");
    let out = sync(&env, &job).await;
    assert_eq!(out.items_copied, 1, "{out:?}");
    expect_same(
        &src.snapshot("alice").expect("src"),
        &dst.snapshot("alice").expect("dst"),
    );

    dst.doveadm(&["mailbox", "delete", "-u", "alice", "Work"])
        .expect("delete target folder");
    let out = sync(&env, &job).await;
    assert_eq!(out.items_copied, 10, "{out:?}");
    expect_same(
        &src.snapshot("alice").expect("src"),
        &dst.snapshot("alice").expect("dst"),
    );
    let quiet = sync(&env, &job).await;
    assert_eq!(
        (quiet.items_copied, quiet.flags_updated),
        (0, 0),
        "{quiet:?}"
    );
}

/// A 40 MB message crosses IMAP to IMAP with memory bounded by about the message itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_megabyte_message_between_dovecots() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let dst = dovecot(SpecialUseNames::ExchangeLike, &["alice"]);
    let mut big = message(1, "huge");
    let line = [b'B'; 76];
    while big.len() < 40 * 1024 * 1024 {
        big.extend_from_slice(&line);
        big.extend_from_slice(b"\r\n");
    }
    let mut msgs = vec![SeedMessage::new(big, &["\\Seen"], T0)];
    msgs.extend((2..50).map(|i| seed_msg(i, "small", &[])));
    src.seed("alice", &[SeedFolder::new("INBOX", msgs)])
        .expect("seed");
    let env = env();
    let job = imap_job(&env, &src, "alice", &dst, "alice");
    let before = peak_rss();
    let out = sync(&env, &job).await;
    let grew = peak_rss().saturating_sub(before);
    assert_eq!(out.items_copied, 49, "{out:?}");
    expect_same(
        &src.snapshot("alice").expect("src"),
        &dst.snapshot("alice").expect("dst"),
    );
    // Other tests run in this process too; the bound is loose but catches a copy per stage.
    assert!(
        grew < 400 * 1024 * 1024,
        "peak memory grew by {} MiB",
        grew >> 20
    );
}

/// A message the target refuses (here: over the target's quota) is skipped as BadItem with the
/// server's words; past the bad item limit the user fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_messages_are_bad_items() {
    use imapmigration_store::SkippedKind;
    use imapmigration_testkit::{Dovecot, DovecotOptions};
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let mut opts = DovecotOptions::default()
        .special_use(SpecialUseNames::ExchangeLike)
        .user("alice", PASSWORD);
    opts.extra_config = "mail_plugins = $mail_plugins quota\nplugin {\n  quota = count:User quota\n  quota_rule = *:storage=200K\n  quota_vsizes = yes\n}\n".into();
    let dst = Dovecot::start(opts).expect("start quota dovecot");
    let mut big = message(1, "too big for the quota");
    big.extend(std::iter::repeat_n(b'z', 300_000));
    big.extend_from_slice(b"\r\n");
    let mut msgs = vec![SeedMessage::new(big, &[], T0 + 100 * 3600)];
    msgs.extend((2..6).map(|i| seed_msg(i, "fits", &["\\Seen"])));
    src.seed("alice", &[SeedFolder::new("INBOX", msgs)])
        .expect("seed");

    let env = env();
    let job = imap_job(&env, &src, "alice", &dst, "alice");
    let out = sync(&env, &job).await;
    assert_eq!((out.items_copied, out.items_skipped), (4, 1), "{out:?}");
    let uid = uuid::Uuid::parse_str(&env.user_id).expect("uuid");
    let items = env.store.list_skipped_items(&uid, None).expect("skipped");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].kind, SkippedKind::BadItem);
    assert!(
        items[0].reason.to_ascii_lowercase().contains("quota"),
        "{}",
        items[0].reason
    );
    assert_eq!(items[0].subject.as_deref(), Some("too big for the quota"));
    // The refusal is recorded: the next pass neither retries nor reports it again.
    let again = sync(&env, &job).await;
    assert_eq!(
        (again.items_copied, again.items_skipped),
        (0, 0),
        "{again:?}"
    );

    let env2 = support::env();
    let dst2_user = "bob";
    dst.add_user(dst2_user, PASSWORD).expect("user");
    let mut job2 = imap_job(&env2, &src, "alice", &dst, dst2_user);
    job2.options.bad_item_limit = Some(0);
    let err = engine::sync_user(
        &job2,
        &env2.store,
        &CancellationToken::new(),
        &Counting::default(),
    )
    .await
    .expect_err("over the bad item limit");
    assert!(
        matches!(
            err,
            engine::Error::BadItemLimitExceeded { limit: 0, count: 1 }
        ),
        "{err}"
    );
    assert_eq!(err.code(), "ServerRefused");
}

//! The engine against a real Dovecot source and the Maildir++ target, checked both on disk
//! and through a Dovecot serving the written tree.

#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

#[path = "engine_support.rs"]
mod support;

use imapmigration::engine::{self, SyncOptions, parse_content_filter};
use imapmigration_store::{MessageRow, SkippedKind};
use imapmigration_testkit::{
    Dovecot, DovecotOptions, MessageRef, SeedFolder, SeedMessage, SpecialUseNames, maildir_snapshot,
};
use support::*;
use tokio_util::sync::CancellationToken;

/// Full copy, then what a user of the result sees: Dovecot serving the Maildir lists the same
/// folders and serves byte-identical bodies with the same flags and dates; a second pass copies
/// nothing; new mail and flag changes are carried over exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_copy_to_maildir_is_served_identically_and_reruns_are_incremental() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    src.seed("alice", &rich_mailbox()).expect("seed");
    let env = env();
    let tree = env.dir.path().join("maildir");
    let root = tree.join("alice");
    let job = maildir_job(&env, &src, "alice", &root);

    let untouched = src
        .snapshot("alice")
        .expect("snapshot")
        .without_empty_folders();
    let first = sync(&env, &job).await;
    // The source is only examined and read with BODY.PEEK[]: not even \Seen changes.
    assert_eq!(
        src.snapshot("alice")
            .expect("snapshot")
            .without_empty_folders(),
        untouched
    );
    assert_eq!(first.items_copied, 16, "{first:?}");
    assert_eq!(first.items_total, 16);
    assert_eq!(first.items_skipped, 0);

    // On disk: the same messages, flags and dates as the source's own Maildir.
    let expected = src
        .snapshot("alice")
        .expect("snapshot")
        .without_empty_folders();
    let actual = maildir_snapshot(&root)
        .expect("snapshot")
        .without_empty_folders();
    assert!(
        expected.diff(&actual).is_empty(),
        "{}",
        expected.diff(&actual)
    );
    assert!(
        root.join(".Empty.Leaf/maildirfolder").exists(),
        "empty folders are created too"
    );
    assert!(
        root.join(".a\\2eb").is_dir(),
        "a dot inside a name is escaped"
    );
    assert!(
        root.join(".&ANw-bung.Gr&APYA3w-e").is_dir(),
        "names are stored in modified UTF-7"
    );

    // A second pass copies nothing.
    let again = sync(&env, &job).await;
    assert_eq!(
        (again.items_copied, again.flags_updated),
        (0, 0),
        "{again:?}"
    );

    // New mail and flag changes on the source: exactly those are carried over.
    src.append_message("alice", "INBOX", &seed_msg(60, "new one", &[]))
        .expect("append");
    src.append_message(
        "alice",
        "Archive/2023",
        &seed_msg(61, "new two", &["\\Seen"]),
    )
    .expect("append");
    src.set_flags(
        "alice",
        "INBOX",
        MessageRef::Index(2),
        &["\\Seen", "\\Flagged"],
    )
    .expect("flags");
    src.set_flags("alice", "INBOX", MessageRef::Index(0), &[])
        .expect("flags");
    let third = sync(&env, &job).await;
    assert_eq!(third.items_copied, 2, "{third:?}");
    assert_eq!(third.flags_updated, 2, "{third:?}");
    let expected = src
        .snapshot("alice")
        .expect("snapshot")
        .without_empty_folders();
    let actual = maildir_snapshot(&root)
        .expect("snapshot")
        .without_empty_folders();
    assert!(
        expected.diff(&actual).is_empty(),
        "{}",
        expected.diff(&actual)
    );

    // Through Dovecot: folder tree, bodies, flags, dates.
    let served_src = served(&src, "alice", PASSWORD).await;
    let dst = Dovecot::serve_maildir(&tree, DovecotOptions::default()).expect("serve maildir");
    let served_dst = served(&dst, "alice", "secret").await;
    let folders = |s: &Served| s.keys().cloned().collect::<Vec<_>>();
    let src_folders: Vec<String> = folders(&served_src);
    for f in &src_folders {
        assert!(
            served_dst.contains_key(f),
            "folder {f} missing on the target: {:?}",
            folders(&served_dst)
        );
    }
    assert_eq!(normalize(&served_src, &[]), normalize(&served_dst, &[]));
    let subscribed = dst
        .doveadm(&["mailbox", "list", "-s", "-u", "alice"])
        .expect("list subscribed");
    for f in ["INBOX", "Sent", "a.b", "Übung/Größe", "Empty/Leaf"] {
        assert!(
            subscribed.lines().any(|l| l == f),
            "{f} not subscribed: {subscribed}"
        );
    }
}

/// Rows left in state 0 (the APPEND may or may not have landed) are verified on the target
/// before anything is sent again: no duplicate, no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_rows_are_verified_before_copying_again() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let msgs: Vec<SeedMessage> = (0..40).map(|i| seed_msg(i, "crash", &["\\Seen"])).collect();
    src.seed("alice", &[SeedFolder::new("INBOX", msgs)])
        .expect("seed");
    let env = env();
    let root = env.dir.path().join("alice");
    let job = maildir_job(&env, &src, "alice", &root);
    sync(&env, &job).await;

    // A crash after the APPENDs of a chunk, before its commit: rows back to state 0.
    let fid = env
        .store
        .folder_get(&uuid(&env), "INBOX")
        .expect("folder")
        .expect("recorded")
        .id;
    let rows = env.store.messages_for_folder(fid).expect("rows");
    let landed: Vec<MessageRow> = rows[..10].to_vec();
    env.store.messages_begin(fid, &landed).expect("begin");
    // A crash before the APPENDs: rows in state 0 whose files never got written.
    let lost: Vec<MessageRow> = rows[10..15].to_vec();
    env.store.messages_begin(fid, &lost).expect("begin");
    for r in &lost {
        let name = std::fs::read_dir(root.join("cur"))
            .expect("cur")
            .filter_map(|e| e.ok())
            .find(|e| {
                e.file_name()
                    .to_string_lossy()
                    .contains(&format!("_{}.imapmig", r.src_uid))
            })
            .expect("file of row");
        std::fs::remove_file(name.path()).expect("remove");
    }
    assert_eq!(env.store.in_flight(fid).expect("in flight").len(), 15);

    let out = sync(&env, &job).await;
    assert_eq!(
        out.items_copied, 5,
        "only the lost ones are copied again: {out:?}"
    );
    assert!(env.store.in_flight(fid).expect("in flight").is_empty());
    let expected = src
        .snapshot("alice")
        .expect("snapshot")
        .without_empty_folders();
    let actual = maildir_snapshot(&root)
        .expect("snapshot")
        .without_empty_folders();
    assert!(
        expected.diff(&actual).is_empty(),
        "{}",
        expected.diff(&actual)
    );
}

/// Cancelling mid-folder stops the pass with `Cancelled`; the next pass completes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_mid_folder_then_resume() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let msgs: Vec<SeedMessage> = (0..3000)
        .map(|i| seed_msg(i, "bulk", &["\\Seen"]))
        .collect();
    src.seed("alice", &[SeedFolder::new("INBOX", msgs)])
        .expect("seed");
    let env = env();
    let root = env.dir.path().join("alice");
    let mut job = maildir_job(&env, &src, "alice", &root);
    job.options.chunk = 100;
    let token = CancellationToken::new();
    let progress = Counting {
        cancel_after: Some((300, token.clone())),
        ..Default::default()
    };
    let err = engine::sync_user(&job, &env.store, &token, &progress)
        .await
        .expect_err("cancelled");
    assert_eq!(err.code(), "Cancelled", "{err}");
    let partial = maildir_snapshot(&root).expect("snapshot").message_count();
    assert!(partial < 3000, "stopped early ({partial})");

    let out = sync(&env, &job).await;
    assert_eq!(out.items_copied as usize + partial, 3000, "{out:?}");
    let expected = src
        .snapshot("alice")
        .expect("snapshot")
        .without_empty_folders();
    let actual = maildir_snapshot(&root)
        .expect("snapshot")
        .without_empty_folders();
    assert!(
        expected.diff(&actual).is_empty(),
        "{}",
        expected.diff(&actual)
    );
}

/// Aborting the task (as a killed process would stop) mid-folder leaves state the next pass
/// resumes from without duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_task_then_resume() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let msgs: Vec<SeedMessage> = (0..3000).map(|i| seed_msg(i, "bulk", &[])).collect();
    src.seed("alice", &[SeedFolder::new("INBOX", msgs)])
        .expect("seed");
    let env = env();
    let root = env.dir.path().join("alice");
    let mut job = maildir_job(&env, &src, "alice", &root);
    job.options.chunk = 64;
    let store = env.store.clone();
    let progress = std::sync::Arc::new(Counting::default());
    let (p, j) = (progress.clone(), job.clone());
    let task = tokio::spawn(async move {
        engine::sync_user(&j, &store, &CancellationToken::new(), p.as_ref()).await
    });
    while progress.copied.load(std::sync::atomic::Ordering::SeqCst) < 200 {
        assert!(!task.is_finished(), "finished before it could be aborted");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    task.abort();
    let _ = task.await;

    sync(&env, &job).await;
    let expected = src
        .snapshot("alice")
        .expect("snapshot")
        .without_empty_folders();
    let actual = maildir_snapshot(&root)
        .expect("snapshot")
        .without_empty_folders();
    assert!(
        expected.diff(&actual).is_empty(),
        "{}",
        expected.diff(&actual)
    );
}

/// The source folder is recreated (new UIDVALIDITY, same messages plus one): the rows are
/// rebuilt by msg_key + size + date, identical messages stay two, only the new one is copied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uidvalidity_change_on_the_source_copies_no_duplicates() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let dup = SeedMessage::new(message(7, "same"), &["\\Seen"], T0 + 7);
    let nomid = SeedMessage::new(b"Subject: no id\r\n\r\nx\r\n".to_vec(), &[], T0 + 8);
    let mut msgs: Vec<SeedMessage> = (0..5).map(|i| seed_msg(i, "work", &["\\Seen"])).collect();
    msgs.extend([dup.clone(), dup, nomid]);
    src.seed("alice", &[SeedFolder::new("Work", msgs.clone())])
        .expect("seed");
    let env = env();
    let root = env.dir.path().join("alice");
    let job = maildir_job(&env, &src, "alice", &root);
    sync(&env, &job).await;
    let before = src
        .mailbox_status("alice", "Work")
        .expect("status")
        .uidvalidity;

    src.doveadm(&["mailbox", "delete", "-u", "alice", "Work"])
        .expect("delete folder");
    msgs.push(seed_msg(99, "arrived later", &[]));
    src.seed("alice", &[SeedFolder::new("Work", msgs)])
        .expect("reseed");
    let after = src
        .mailbox_status("alice", "Work")
        .expect("status")
        .uidvalidity;
    assert_ne!(before, after, "the folder must have a new UIDVALIDITY");

    let out = sync(&env, &job).await;
    assert_eq!(out.items_copied, 1, "{out:?}");
    let expected = src
        .snapshot("alice")
        .expect("snapshot")
        .without_empty_folders();
    let actual = maildir_snapshot(&root)
        .expect("snapshot")
        .without_empty_folders();
    assert!(
        expected.diff(&actual).is_empty(),
        "{}",
        expected.diff(&actual)
    );
    // And the pass after that is quiet.
    let quiet = sync(&env, &job).await;
    assert_eq!(
        (quiet.items_copied, quiet.flags_updated),
        (0, 0),
        "{quiet:?}"
    );
}

/// `max_message_size` skips into skipped_items (LargeItem); the filter and folder selection
/// leave the rest out; a later pass does not report the same item again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_filters_and_selection() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let mut big = message(1, "big");
    big.extend(std::iter::repeat_n(b'x', 20_000));
    big.extend_from_slice(b"\r\n");
    src.seed(
        "alice",
        &[
            SeedFolder::new(
                "INBOX",
                vec![
                    SeedMessage::new(big, &[], T0 + 10 * 86_400),
                    seed_msg(2, "recent", &[]),
                    SeedMessage::new(message(3, "ancient"), &[], 1_000_000_000),
                ],
            ),
            SeedFolder::new("Trash", vec![seed_msg(4, "binned", &[])]),
            SeedFolder::new("Projects/Old", vec![seed_msg(5, "old project", &[])]),
            SeedFolder::new("Projects/New", vec![seed_msg(6, "new project", &[])]),
        ],
    )
    .expect("seed");
    let env = env();
    let root = env.dir.path().join("alice");
    let mut job = maildir_job(&env, &src, "alice", &root);
    job.options = SyncOptions {
        max_message_size: Some(10_000),
        received_filter: Some(parse_content_filter("Received -gt '1/1/2020'").expect("filter")),
        exclude_folders: vec!["#DeletedItems#".into(), "projects/old".into()],
        ..SyncOptions::default()
    };
    let out = sync(&env, &job).await;
    assert_eq!((out.items_copied, out.items_skipped), (2, 1), "{out:?}");
    let snap = maildir_snapshot(&root)
        .expect("snapshot")
        .without_empty_folders();
    assert_eq!(
        snap.keys().cloned().collect::<Vec<_>>(),
        ["INBOX", "Projects/New"]
    );
    let uid = uuid(&env);
    let items = env.store.list_skipped_items(&uid, None).expect("skipped");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].kind, SkippedKind::LargeItem);
    assert!(items[0].size.is_some_and(|s| s > 20_000));
    assert_eq!(items[0].folder, "INBOX");
    // The report describes the item as Exchange's SkippedItems do.
    assert_eq!(items[0].subject.as_deref(), Some("big"));
    assert_eq!(
        items[0].sender.as_deref(),
        Some("Sender 1 <sender1@example.com>")
    );
    assert!(
        items[0]
            .date_sent
            .as_deref()
            .is_some_and(|d| d.contains("14 Nov 2023")),
        "{:?}",
        items[0].date_sent
    );

    let again = sync(&env, &job).await;
    assert_eq!(
        (again.items_copied, again.items_skipped),
        (0, 0),
        "{again:?}"
    );
    assert_eq!(
        env.store
            .list_skipped_items(&uid, None)
            .expect("skipped")
            .len(),
        1
    );

    // Past the large item limit the user fails.
    let env2 = support::env();
    let mut job2 = maildir_job(&env2, &src, "alice", &env2.dir.path().join("alice"));
    job2.options = SyncOptions {
        max_message_size: Some(10_000),
        large_item_limit: Some(0),
        ..SyncOptions::default()
    };
    let err = engine::sync_user(
        &job2,
        &env2.store,
        &CancellationToken::new(),
        &Counting::default(),
    )
    .await
    .expect_err("over the limit");
    assert!(
        matches!(
            err,
            engine::Error::LargeItemLimitExceeded { limit: 0, count: 1 }
        ),
        "{err}"
    );
}

/// A wrong source password fails the user with AuthenticationFailed, naming the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_source_password_is_an_auth_error() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let env = env();
    let mut job = maildir_job(&env, &src, "alice", &env.dir.path().join("alice"));
    job.source.credentials = creds("alice", "wrong");
    let err = engine::sync_user(
        &job,
        &env.store,
        &CancellationToken::new(),
        &Counting::default(),
    )
    .await
    .expect_err("must fail");
    assert_eq!(err.code(), "AuthenticationFailed", "{err}");
    assert_eq!(err.side(), Some(engine::Side::Source));
    assert!(!err.is_retryable());
}

/// A 40 MB message copies, with memory bounded by about the message itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_megabyte_message_copies() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let mut big = message(1, "huge attachment");
    big.truncate(big.len() - 2);
    let line = [b'A'; 76];
    while big.len() < 40 * 1024 * 1024 {
        big.extend_from_slice(&line);
        big.extend_from_slice(b"\r\n");
    }
    src.seed(
        "alice",
        &[SeedFolder::new(
            "INBOX",
            vec![
                SeedMessage::new(big, &["\\Seen"], T0),
                seed_msg(2, "small", &[]),
            ],
        )],
    )
    .expect("seed");
    let env = env();
    let root = env.dir.path().join("alice");
    let job = maildir_job(&env, &src, "alice", &root);
    let out = sync(&env, &job).await;
    assert_eq!(out.items_copied, 2);
    assert!(out.bytes_copied > 40 * 1024 * 1024);
    let expected = src
        .snapshot("alice")
        .expect("snapshot")
        .without_empty_folders();
    let actual = maildir_snapshot(&root)
        .expect("snapshot")
        .without_empty_folders();
    assert!(
        expected.diff(&actual).is_empty(),
        "{}",
        expected.diff(&actual)
    );
}

fn uuid(env: &Env) -> uuid::Uuid {
    uuid::Uuid::parse_str(&env.user_id).expect("uuid")
}

/// A source that refuses connections fails the pass on its third attempt (not after minutes of
/// backoff), each retry recorded as a warning event of the user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_source_fails_the_pass_on_its_third_attempt() {
    let env = env();
    // Bound but not listening: connections are refused, and no other test can take the port.
    let closed = tokio::net::TcpSocket::new_v4().expect("socket");
    closed.bind("127.0.0.1:0".parse().unwrap()).expect("bind");
    let port = closed.local_addr().expect("addr").port();
    let mut server = imapmigration_imap::ServerConfig::new(
        "127.0.0.1",
        port,
        imapmigration_imap::Security::None,
    );
    server.timeouts.connect = std::time::Duration::from_secs(5);
    let job = engine::UserJob {
        user_id: env.user_id.clone(),
        email: "alice@example.com".into(),
        source: engine::SourceSpec {
            server,
            credentials: creds("alice", PASSWORD),
            user_root: None,
            include_other_namespaces: false,
        },
        target: engine::TargetSpec::Maildir {
            root: env.dir.path().join("alice"),
        },
        options: SyncOptions::default(),
    };
    let started = std::time::Instant::now();
    let err = engine::sync_user_with_retries(
        &job,
        &env.store,
        &CancellationToken::new(),
        &Counting::default(),
        &engine::RetryPolicy::default(),
    )
    .await
    .expect_err("must fail");
    assert_eq!(err.code(), "EndpointUnreachable", "{err}");
    // Waits of 1 s and 2 s between the three attempts.
    let took = started.elapsed();
    assert!(took >= std::time::Duration::from_secs(3), "{took:?}");
    let uid = env.user_id.parse().expect("uuid");
    let mut events = env.store.events_for_user(&uid, None).expect("events");
    events.sort_by_key(|e| e.id);
    let warnings: Vec<String> = events
        .into_iter()
        .filter(|e| e.level == imapmigration_store::EventLevel::Warning)
        .map(|e| e.message)
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    for (i, w) in warnings.iter().enumerate() {
        let n = i + 1;
        assert!(
            w.starts_with(&format!(
                "alice@example.com: attempt {n} interrupted (cannot connect to the source server"
            )) && w.ends_with(&format!("); retrying in {n} s")),
            "{w}"
        );
        // What the user's DiagnosticInfo counts as a retry.
        assert!(engine::retry::is_retry_line(w), "{w}");
    }
}

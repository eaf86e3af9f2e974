//! The Maildir target's file-system bound: a folder path longer than a file name may be (one
//! Maildir++ folder is one directory entry) is still copied, under a stable shortened name,
//! with its messages, and the other folders are untouched.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

#[path = "engine_support.rs"]
mod support;

use chrono::DateTime;
use imapmigration_imap as imap;
use imapmigration_testkit::{Dovecot, DovecotOptions};
use support::{PASSWORD, T0, creds, env, maildir_job, message, normalize, served, server, sync};

/// Four levels of 75 Cyrillic characters: 303 characters with the separators. A source that
/// keeps one directory per level (`LAYOUT=fs`) holds it; as one Maildir++ name it is about 820
/// bytes.
fn long_path() -> String {
    ["Документация", "Переписка", "Договоры", "Протоколы"]
        .map(|w| w.chars().cycle().take(75).collect::<String>())
        .join("/")
}

async fn append(s: &mut imap::Session, folder: &str, first: usize, n: usize) {
    s.create_folder(folder).await.expect("create");
    let mut a = s.appender(folder, 1 << 20, 4);
    for i in first..first + n {
        let date = DateTime::from_timestamp(T0 + i as i64 * 3600, 0)
            .unwrap()
            .fixed_offset();
        a.push(i as u64, &message(i, folder), &["\\Seen".to_string()], date)
            .await
            .expect("append");
    }
    a.finish().await.expect("append");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300_character_folder_name_is_copied_with_its_messages() {
    let mut opts = DovecotOptions::default().user("alice", PASSWORD);
    opts.extra_config = "mail_location = maildir:~/Maildir:LAYOUT=fs\n".into();
    let src = Dovecot::start(opts).expect("start dovecot (apt-get install dovecot-imapd)");
    let long = long_path();
    assert!(long.chars().count() >= 300);
    {
        let mut s = imap::connect(&server(&src), &creds("alice", PASSWORD))
            .await
            .expect("connect");
        append(&mut s, &long, 0, 3).await;
        append(&mut s, "Normal", 3, 2).await;
        append(&mut s, "INBOX", 5, 1).await;
        let _ = s.logout().await;
    }

    let env = env();
    let tree = env.dir.path().join("maildir");
    let root = tree.join("alice");
    let job = maildir_job(&env, &src, "alice", &root);
    let first = sync(&env, &job).await;
    assert_eq!(first.items_copied, 6, "{first:?}");

    // Every folder is on disk within the file-name limit.
    for e in std::fs::read_dir(&root).unwrap().flatten() {
        assert!(e.file_name().len() <= 255, "{:?}", e.file_name());
    }
    // What a user of the result sees through Dovecot: the long folder under its short name,
    // with the same messages, flags and dates.
    let dst = Dovecot::serve_maildir(&tree, DovecotOptions::default()).expect("serve");
    let want = normalize(&served(&src, "alice", PASSWORD).await, &[]);
    let got = normalize(&served(&dst, "alice", "secret").await, &[]);
    let short: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert_eq!(short.len(), 1, "source {want:?}\ntarget {got:?}");
    let short = short[0].clone();
    let first_level = long.split('/').next().unwrap();
    assert!(
        short.starts_with(&format!("{first_level}/")) && short.contains('~'),
        "{short}"
    );
    let renamed = normalize(&got, &[(short.as_str(), long.as_str())]);
    assert_eq!(renamed, want);

    // Reported, naming the folder and its name on disk.
    let events = env
        .store
        .events_for_user(&uuid::Uuid::parse_str(&env.user_id).unwrap(), None)
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.message.contains(&long) && e.message.contains("it is stored as")),
        "{events:?}"
    );

    // The same name on every pass: a second pass copies nothing and finds every message.
    let again = sync(&env, &job).await;
    assert_eq!((again.items_copied, again.items_total), (0, 6), "{again:?}");
}

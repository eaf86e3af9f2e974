//! Folder names that servers allow and file systems or other servers do not: `R&D` (modified
//! UTF-7 `R&-D`), non-ASCII, `..`, `.hidden`, a trailing space or dot, names differing only in
//! case, `a/b` `a//b` `//` `/` on a server whose separator is `.`, and hierarchies whose
//! separator differs between source and target. Each source is a real Dovecot (separator `/` or
//! `.`) whose folders were made with CREATE and filled with APPEND; each is copied into the
//! Maildir target, into a Dovecot target with the other separator and into Cyrus. The target
//! must hold each folder once under a name that a second pass finds again (nothing copied
//! twice, no folder added), with byte-identical messages; a name the target cannot take gets
//! its safe name and a warning event naming both.
#![allow(clippy::expect_used, reason = "tests fail by panicking")]

#[path = "engine_support.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, FixedOffset};
use imapmigration_imap as imap;
use imapmigration_testkit::{Dovecot, DovecotOptions, maildir_snapshot};
use support::*;

/// The folders of the source whose separator is `/`.
const SLASH_FOLDERS: &[&str] = &[
    "R&D",
    "Ünïcödé",
    "..",
    ".hidden",
    "trail ",
    "trail.",
    "Case",
    "CASE",
    "P/C",
];

/// Each folder of [`SLASH_FOLDERS`] and its name on a target whose separator is `.`.
const SLASH_ONTO_DOT: &[(&str, &str)] = &[
    ("R&D", "R&D"),
    ("Ünïcödé", "Ünïcödé"),
    ("..", "__"),
    (".hidden", "_hidden"),
    ("trail ", "trail "),
    ("trail.", "trail_"),
    ("Case", "Case"),
    ("CASE", "CASE"),
    ("P/C", "P.C"),
];

/// The folders of the source whose separator is `.`.
const DOT_FOLDERS: &[&str] = &["R&D", "a/b", "a//b", "//", "/", "Case", "CASE", "P.C"];

fn start(separator: char) -> Dovecot {
    Dovecot::start(
        DovecotOptions::default()
            .user("alice", PASSWORD)
            .separator(separator),
    )
    .expect("start dovecot (apt-get install dovecot-imapd)")
}

/// Creates each folder over IMAP and appends two messages of its own to it (and one to INBOX).
async fn fill(d: &Dovecot, folders: &[&str]) {
    let mut s = imap::connect(&server(d), &creds("alice", PASSWORD))
        .await
        .expect("connect");
    let date: DateTime<FixedOffset> = chrono::DateTime::from_timestamp(T0, 0)
        .expect("date")
        .fixed_offset();
    let mut n = 0;
    for f in std::iter::once(&"INBOX").chain(folders) {
        if *f != "INBOX" {
            s.create_folder(f).await.expect("create folder");
        }
        let mut a = s.appender(f, 1 << 20, 8);
        let mut outs = Vec::new();
        for _ in 0..2 {
            n += 1;
            let body = message(n, &format!("in folder {f}"));
            outs.extend(a.push(n as u64, &body, &[], date).await.expect("append"));
        }
        outs.extend(a.finish().await.expect("append"));
        assert!(
            outs.iter().all(|o| o.result.is_ok()),
            "append into {f:?}: {outs:?}"
        );
    }
    let _ = s.logout().await;
}

/// Folder name -> SHA-256 of each message body, sorted; empty folders left out.
type Bodies = BTreeMap<String, Vec<String>>;

fn bodies(v: &Served) -> Bodies {
    v.iter()
        .filter(|(_, m)| !m.is_empty())
        .map(|(k, m)| (k.clone(), m.iter().map(|x| x.0.clone()).collect()))
        .collect()
}

fn maildir_bodies(root: &Path) -> Bodies {
    maildir_snapshot(root)
        .expect("snapshot")
        .folders
        .into_iter()
        .filter(|(_, m)| !m.is_empty())
        .map(|(k, m)| {
            let mut h: Vec<String> = m.into_iter().map(|x| x.sha256).collect();
            h.sort();
            (k, h)
        })
        .collect()
}

/// The on-disk Maildir++ folder directories under `root`.
fn maildir_dirs(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root)
        .expect("read maildir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && root.join(n).join("cur").is_dir())
        .collect()
}

/// Checks that each source folder's messages are, byte for byte, those of its target folder
/// and that the target holds no other folder with messages.
fn assert_copied(src: &Bodies, dst: &Bodies, names: &[(&str, &str)]) {
    for (s, t) in names {
        assert_eq!(
            src.get(*s).map(Vec::len),
            Some(2),
            "source folder {s:?} missing: {:?}",
            src.keys()
        );
        assert_eq!(
            dst.get(*t),
            src.get(*s),
            "source folder {s:?} -> target folder {t:?}; target has {:?}",
            dst.keys()
        );
    }
    let want: BTreeSet<&str> = names.iter().map(|(_, t)| *t).chain(["INBOX"]).collect();
    let have: BTreeSet<&str> = dst.keys().map(String::as_str).collect();
    assert_eq!(have, want, "target folders");
    assert_eq!(dst.get("INBOX"), src.get("INBOX"));
}

fn renames(env: &Env) -> Vec<String> {
    let uid = uuid::Uuid::parse_str(&env.user_id).expect("uuid");
    env.store
        .events_for_user(&uid, None)
        .expect("events")
        .into_iter()
        .map(|e| e.message)
        .filter(|m| m.contains("cannot take this name"))
        .collect()
}

/// Runs a pass, then a second one that must find everything in place.
async fn two_passes(env: &Env, job: &imapmigration::engine::UserJob, messages: u64) {
    let first = sync(env, job).await;
    assert_eq!(first.items_copied, messages, "first pass: {first:?}");
    let second = sync(env, job).await;
    assert_eq!(
        second.items_copied, 0,
        "second pass copies nothing: {second:?}"
    );
    assert_eq!(second.items_total, messages, "second pass: {second:?}");
}

fn messages_of(folders: &[&str]) -> u64 {
    2 * (folders.len() as u64 + 1)
}

#[tokio::test]
async fn odd_names_from_a_slash_source_into_maildir() {
    let src = start('/');
    fill(&src, SLASH_FOLDERS).await;
    let env = env();
    let tree = env.dir.path().join("maildir");
    let root = tree.join("alice");
    let job = maildir_job(&env, &src, "alice", &root);
    two_passes(&env, &job, messages_of(SLASH_FOLDERS)).await;
    let before = maildir_dirs(&root);
    let names: Vec<(&str, &str)> = SLASH_FOLDERS.iter().map(|f| (*f, *f)).collect();
    let src_bodies = bodies(&served(&src, "alice", PASSWORD).await);
    assert_copied(&src_bodies, &maildir_bodies(&root), &names);
    // On disk as Dovecot's listescape keeps them; every name fits the target as it is.
    for d in [
        ".R&-D",
        ".&ANw-n&AO8-c&APY-d&AOk-",
        ".\\2e\\2e",
        ".\\2ehidden",
        ".trail ",
        ".trail\\2e",
        ".Case",
        ".CASE",
        ".P.C",
    ] {
        assert!(before.contains(d), "{d} not in {before:?}");
    }
    assert!(renames(&env).is_empty(), "{:?}", renames(&env));
    // Dovecot serving the target lists the same names.
    let served_dst = Dovecot::serve_maildir(&tree, DovecotOptions::default()).expect("serve");
    assert_copied(
        &src_bodies,
        &bodies(&served(&served_dst, "alice", "secret").await),
        &names,
    );
}

#[tokio::test]
async fn odd_names_from_a_dot_source_into_maildir() {
    let src = start('.');
    fill(&src, DOT_FOLDERS).await;
    let env = env();
    let root = env.dir.path().join("maildir");
    let job = maildir_job(&env, &src, "alice", &root);
    two_passes(&env, &job, messages_of(DOT_FOLDERS)).await;
    let dirs = maildir_dirs(&root);
    // A `/` inside a name stays inside it (`\2f`); the `.` hierarchy becomes Maildir++'s.
    for d in [
        ".R&-D",
        ".a\\2fb",
        ".a\\2f\\2fb",
        ".\\2f\\2f",
        ".\\2f",
        ".Case",
        ".CASE",
        ".P.C",
    ] {
        assert!(dirs.contains(d), "{d} not in {dirs:?}");
    }
    // The snapshot reads a directory's name back with `/` between levels.
    let names = [
        ("R&D", "R&D"),
        ("a/b", "a/b"),
        ("a//b", "a//b"),
        ("//", "//"),
        ("/", "/"),
        ("Case", "Case"),
        ("CASE", "CASE"),
        ("P.C", "P/C"),
    ];
    let src_bodies = bodies(&served(&src, "alice", PASSWORD).await);
    assert_copied(&src_bodies, &maildir_bodies(&root), &names);
    assert!(renames(&env).is_empty(), "{:?}", renames(&env));
}

#[tokio::test]
async fn odd_names_from_a_slash_source_into_a_dot_target() {
    let src = start('/');
    fill(&src, SLASH_FOLDERS).await;
    let dst = start('.');
    let env = env();
    let job = imap_job(&env, &src, "alice", &dst, "alice");
    two_passes(&env, &job, messages_of(SLASH_FOLDERS)).await;
    let src_bodies = bodies(&served(&src, "alice", PASSWORD).await);
    assert_copied(
        &src_bodies,
        &bodies(&served(&dst, "alice", PASSWORD).await),
        SLASH_ONTO_DOT,
    );
    let warned = renames(&env);
    assert_eq!(
        warned.len(),
        3,
        "one warning per renamed folder, once: {warned:?}"
    );
    for (from, to) in [("..", "__"), (".hidden", "_hidden"), ("trail.", "trail_")] {
        assert!(
            warned
                .iter()
                .any(|w| w.contains(&format!("{from:?}")) && w.contains(&format!("{to:?}"))),
            "{from} -> {to} not reported: {warned:?}"
        );
    }
}

#[tokio::test]
async fn odd_names_from_a_dot_source_into_a_slash_target() {
    let src = start('.');
    fill(&src, DOT_FOLDERS).await;
    let dst = start('/');
    let env = env();
    let job = imap_job(&env, &src, "alice", &dst, "alice");
    two_passes(&env, &job, messages_of(DOT_FOLDERS)).await;
    let names = [
        ("R&D", "R&D"),
        ("a/b", "a_b"),
        ("a//b", "a__b"),
        ("//", "__"),
        ("/", "_"),
        ("Case", "Case"),
        ("CASE", "CASE"),
        ("P.C", "P/C"),
    ];
    let src_bodies = bodies(&served(&src, "alice", PASSWORD).await);
    assert_copied(
        &src_bodies,
        &bodies(&served(&dst, "alice", PASSWORD).await),
        &names,
    );
    let warned = renames(&env);
    assert_eq!(
        warned.len(),
        4,
        "one warning per renamed folder, once: {warned:?}"
    );
}

/// Every selectable folder's message hashes on an IMAP server, read over `cfg`.
async fn bodies_at(cfg: &imap::ServerConfig) -> Bodies {
    let mut s = imap::connect(cfg, &creds("alice", PASSWORD))
        .await
        .expect("connect");
    let mut out = Bodies::new();
    for f in s.list_folders().await.expect("list") {
        if f.noselect {
            continue;
        }
        let info = s.examine(&f.name).await.expect("examine");
        if info.exists == 0 {
            continue;
        }
        let mut hashes = Vec::new();
        let mut st = std::pin::pin!(s.fetch_bodies(&imap::UidSet::all()));
        while let Some(b) = futures::StreamExt::next(&mut st).await {
            let b = b.expect("fetch");
            hashes.push(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&b.body)));
        }
        hashes.sort();
        out.insert(f.name.clone(), hashes);
    }
    let _ = s.logout().await;
    out
}

/// The same into Cyrus with `.` as its separator, which takes every safe name as Dovecot does.
/// Skipped when Cyrus is not installed, unless IMAPMIGRATION_REQUIRE_CYRUS=1.
#[tokio::test]
async fn odd_names_from_a_slash_source_into_cyrus() {
    use imapmigration_testkit::{Cyrus, CyrusOptions, cyrus_available};
    if !cyrus_available() {
        assert_ne!(
            std::env::var("IMAPMIGRATION_REQUIRE_CYRUS").as_deref(),
            Ok("1"),
            "Cyrus is required here but not installed (scripts/common.sh ensure_cyrus)"
        );
        eprintln!("skipped: Cyrus is not installed (scripts/common.sh ensure_cyrus)");
        return;
    }
    let src = start('/');
    fill(&src, SLASH_FOLDERS).await;
    let cy = Cyrus::start(
        CyrusOptions::default()
            .user("alice", PASSWORD)
            .separator('.'),
    )
    .expect("start cyrus");
    let cfg = imap::ServerConfig::new("127.0.0.1", cy.imap_addr().port(), imap::Security::None);
    let env = env();
    let mut job = imap_job(&env, &src, "alice", &src, "alice");
    job.target = imapmigration::engine::TargetSpec::Imap {
        server: cfg.clone(),
        credentials: creds("alice", PASSWORD),
    };
    two_passes(&env, &job, messages_of(SLASH_FOLDERS)).await;
    let src_bodies = bodies(&served(&src, "alice", PASSWORD).await);
    assert_copied(&src_bodies, &bodies_at(&cfg).await, SLASH_ONTO_DOT);
    let warned = renames(&env);
    assert_eq!(
        warned.len(),
        3,
        "one warning per renamed folder, once: {warned:?}"
    );
}

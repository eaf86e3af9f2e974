//! The process's memory budget holds whatever the mailbox: one user's folders copied in
//! parallel, each with a message larger than a quarter of the budget, peak within the budget
//! plus 64 MiB. Memory is a correctness property here, read from /proc (VmHWM); nextest runs
//! each test in a process of its own, and the peak is reset after seeding.

#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

#[path = "engine_support.rs"]
mod support;

use imapmigration::engine;
use imapmigration_testkit::{SeedMessage, SpecialUseNames};
use support::*;

const MIB: u64 = 1 << 20;

/// Resets this process's VmHWM to its current resident size (Linux `clear_refs` 5).
fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
}

/// A message of about `bytes`, every line numbered so that a misplaced chunk shows.
fn big_message(n: usize, bytes: usize) -> Vec<u8> {
    use std::io::Write as _;
    let mut m = message(n, "large");
    m.reserve(bytes + 128);
    let mut i = 0u64;
    while m.len() < bytes {
        let _ = write!(m, "{n:02}-{i:012}-");
        m.extend_from_slice(&[b'A' + (i % 26) as u8; 58]);
        m.extend_from_slice(b"\r\n");
        i += 1;
    }
    m
}

/// Four folders copied at once, each holding one 100 MB message, under a 128 MiB budget:
/// without the budget each folder's connection held its message whole (400 MB and more).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_large_folders_in_parallel_stay_within_the_memory_budget() {
    let budget = 128 * MIB;
    assert!(engine::set_memory_budget(budget), "budget set first");
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let dst = dovecot(SpecialUseNames::Standard, &["alice"]);
    let folders = ["INBOX", "One", "Two", "Three"];
    for (i, f) in folders.iter().enumerate() {
        let body = big_message(i + 1, 100_000_000);
        src.append_message(
            "alice",
            f,
            &SeedMessage::new(body, &["\\Seen"], T0 + i as i64),
        )
        .expect("seed");
    }
    let env = env();
    let mut job = imap_job(&env, &src, "alice", &dst, "alice");
    job.options.folder_parallelism = 4;
    reset_peak_rss();
    let out = sync(&env, &job).await;
    let peak = peak_rss();
    assert_eq!(out.items_copied, 4, "{out:?}");
    eprintln!("peak RSS {} MiB (budget {} MiB)", peak / MIB, budget / MIB);
    assert!(
        peak < budget + 64 * MIB,
        "peak RSS {} MiB over the {} MiB budget + 64 MiB",
        peak / MIB,
        budget / MIB
    );
    let (s, d) = (
        src.snapshot("alice").expect("src"),
        dst.snapshot("alice").expect("dst"),
    );
    let (s, d) = (s.without_empty_folders(), d.without_empty_folders());
    assert!(s.diff(&d).is_empty(), "{}", s.diff(&d));
}

/// [`big_message`] without a Message-ID: its identity is the hash of its body, which a rebuild
/// reads on both sides.
fn big_message_without_id(n: usize, bytes: usize) -> Vec<u8> {
    let m = big_message(n, bytes);
    let start = m
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("a header line")
        + 2;
    m[start..].to_vec()
}

const FOLDERS: [&str; 4] = ["INBOX", "One", "Two", "Three"];

/// Four folders rebuilt at once (the state lost, the target already holding the mail), each
/// with one 100 MB message without a Message-ID, under a 128 MiB budget: the rebuild hashes
/// every body on the source and on an IMAP target, and before the hashing fetches were under
/// the budget each folder held its bodies whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_large_folders_rebuilt_at_once_stay_within_the_memory_budget() {
    let budget = 128 * MIB;
    assert!(engine::set_memory_budget(budget), "budget set first");
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let dst = dovecot(SpecialUseNames::Standard, &["alice"]);
    for (i, f) in FOLDERS.iter().enumerate() {
        let m = SeedMessage::new(
            big_message_without_id(i + 1, 100_000_000),
            &["\\Seen"],
            T0 + i as i64,
        );
        src.append_message("alice", f, &m).expect("seed");
        dst.append_message("alice", f, &m).expect("seed");
    }
    let env = env();
    let mut job = imap_job(&env, &src, "alice", &dst, "alice");
    job.options.folder_parallelism = 4;
    reset_peak_rss();
    let out = sync(&env, &job).await;
    let peak = peak_rss();
    assert_eq!(
        out.items_copied, 0,
        "every message found on the target: {out:?}"
    );
    assert_eq!(out.items_total, 4, "{out:?}");
    eprintln!(
        "rebuild: peak RSS {} MiB (budget {} MiB)",
        peak / MIB,
        budget / MIB
    );
    assert!(
        peak < budget + 64 * MIB,
        "peak RSS {} MiB over the {} MiB budget + 64 MiB",
        peak / MIB,
        budget / MIB
    );
    let rebuilt = env
        .store
        .events_for_user(&uuid::Uuid::parse_str(&env.user_id).expect("uuid"), None)
        .expect("events")
        .into_iter()
        .filter(|e| {
            e.message
                .contains("1 of 1 source messages found on the target")
        })
        .count();
    assert_eq!(
        rebuilt, 4,
        "each folder rebuilt, its message matched by its hash"
    );
    let d = dst.snapshot("alice").expect("dst").without_empty_folders();
    assert_eq!(d.message_count(), 4, "nothing appended twice");
}

/// The same into the Maildir target, whose files are hashed in pieces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_large_maildir_folders_rebuilt_at_once_stay_within_the_memory_budget() {
    let budget = 128 * MIB;
    assert!(engine::set_memory_budget(budget), "budget set first");
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let env = env();
    let root = env.dir.path().join("maildir").join("alice");
    let mut seeded = Vec::new();
    for (i, f) in FOLDERS.iter().enumerate() {
        let m = SeedMessage::new(
            big_message_without_id(i + 1, 100_000_000),
            &["\\Seen"],
            T0 + i as i64,
        );
        src.append_message("alice", f, &m).expect("seed");
        seeded.push(imapmigration_testkit::SeedFolder::new(*f, vec![m]));
    }
    imapmigration_testkit::maildir::write_folders(&root, &seeded).expect("seed target");
    drop(seeded);
    let mut job = maildir_job(&env, &src, "alice", &root);
    job.options.folder_parallelism = 4;
    reset_peak_rss();
    let out = sync(&env, &job).await;
    let peak = peak_rss();
    assert_eq!(
        out.items_copied, 0,
        "every message found on the target: {out:?}"
    );
    eprintln!(
        "maildir rebuild: peak RSS {} MiB (budget {} MiB)",
        peak / MIB,
        budget / MIB
    );
    assert!(
        peak < budget + 64 * MIB,
        "peak RSS {} MiB over the {} MiB budget + 64 MiB",
        peak / MIB,
        budget / MIB
    );
    let snap = imapmigration_testkit::maildir_snapshot(&root).expect("snapshot");
    assert_eq!(snap.without_empty_folders().message_count(), 4);
}

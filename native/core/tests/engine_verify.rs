//! Content verification (`-VerifyContent`, `SyncOptions::verify_content`): after a folder's
//! appends the engine reads the target's copies back (`UID FETCH BODY.PEEK[]`) and compares
//! their SHA-256 with the bytes sent. Cyrus IMAP with its default `munge8bit: yes` rewrites
//! 8-bit header bytes on APPEND and keeps the size, which the RFC822.SIZE check cannot see:
//! with verification on that message is a ChangedItem, with it off the copy counts as clean.
//! And what verification costs: time and bytes read from the target, off against on.

#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

#[path = "engine_support.rs"]
mod support;

use std::time::{Duration, Instant};

use imapmigration::engine::TargetSpec;
use imapmigration_imap as imap;
use imapmigration_store::SkippedKind;
use imapmigration_testkit::{
    Cyrus, CyrusOptions, DelayProxy, Dovecot, DovecotOptions, SeedFolder, SeedMessage,
    ServerProfile, SpecialUseNames, StrictProxy, cyrus_available,
};
use support::*;

/// Cyrus with `munge8bit: yes` (its default) and `alice`; `None` (the test skipped) when Cyrus
/// is not installed, unless IMAPMIGRATION_REQUIRE_CYRUS=1.
fn munging_cyrus() -> Option<Cyrus> {
    if !cyrus_available() {
        assert_ne!(
            std::env::var("IMAPMIGRATION_REQUIRE_CYRUS").as_deref(),
            Ok("1"),
            "Cyrus is required here but not installed (scripts/common.sh ensure_cyrus)"
        );
        eprintln!("skipped: Cyrus is not installed (scripts/common.sh ensure_cyrus)");
        return None;
    }
    let mut opts = CyrusOptions::default().user("alice", PASSWORD);
    opts.munge8bit = true;
    Some(Cyrus::start(opts).expect("start cyrus"))
}

/// The message whose 8-bit Subject and From Cyrus' munge8bit rewrites.
const EIGHT_BIT_HEADER: &str = "Message-ID: <umlaut-header@test.example>\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\nFrom: J\u{fc}rgen M\u{fc}ller <jm@example.com>\r\nTo: alice@example.com\r\nSubject: Gr\u{fc}\u{df}e aus K\u{f6}ln\r\n\r\nPlain body.\r\n";

/// INBOX: three ASCII messages and one with raw UTF-8 in its Subject and From; Projects: two
/// messages, one with 8-bit bytes in its body only (munge8bit leaves bodies alone).
fn mailbox() -> Vec<SeedFolder> {
    let eight_bit_header = EIGHT_BIT_HEADER;
    let eight_bit_body = "Message-ID: <umlaut-body@test.example>\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\nFrom: jm@example.com\r\nTo: alice@example.com\r\nSubject: body only\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nK\u{f6}rper mit Umlauten: \u{e4}\u{f6}\u{fc}\u{df}\r\n";
    let mut inbox: Vec<SeedMessage> = (1..4).map(|i| seed_msg(i, "inbox", &["\\Seen"])).collect();
    inbox.push(SeedMessage::new(
        eight_bit_header.as_bytes().to_vec(),
        &[],
        T0 + 10 * 3600,
    ));
    vec![
        SeedFolder::new("INBOX", inbox),
        SeedFolder::new(
            "Projects",
            vec![
                seed_msg(20, "projects", &[]),
                SeedMessage::new(eight_bit_body.as_bytes().to_vec(), &[], T0 + 21 * 3600),
            ],
        ),
    ]
}

fn skipped(env: &Env) -> Vec<imapmigration_store::SkippedItem> {
    let uid = uuid::Uuid::parse_str(&env.user_id).expect("uuid");
    env.store.list_skipped_items(&uid, None).expect("skipped")
}

/// Dovecot to Cyrus with `munge8bit: yes`: Cyrus stores the message with 8-bit header bytes
/// rewritten, at the same size, so the RFC822.SIZE check matches. Cyrus offers `DIGEST.SHA1`,
/// which the same check fetches: with content verification off as well as on, that message
/// alone is a ChangedItem naming the folder, the subject and both SHA-1 (the one of the bytes
/// sent), reported once however often the user is synced again. (A target without a digest
/// that changes bytes at the same size is caught only by verification: engine_refusals.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cyrus_munge8bit_is_reported_by_its_digest_with_or_without_verification() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    src.seed("alice", &mailbox()).expect("seed");
    let expected = src.snapshot("alice").expect("src").without_empty_folders();
    for verify in [false, true] {
        let Some(cy) = munging_cyrus() else {
            return;
        };
        let env = env();
        let mut job = imap_job(&env, &src, "alice", &src, "alice");
        let mut server = imap::ServerConfig::new("127.0.0.1", cy.port(), imap::Security::None);
        server.compress = false;
        job.target = TargetSpec::Imap {
            server,
            credentials: creds("alice", PASSWORD),
        };
        job.options.verify_content = verify;
        let out = sync(&env, &job).await;
        assert_eq!(out.items_copied, 6, "verify {verify}: {out:?}");

        // Cyrus did change exactly that message: one differs, in INBOX.
        let actual = cy
            .snapshot("alice", PASSWORD)
            .expect("cyrus")
            .without_empty_folders();
        let diff = expected.diff(&actual);
        assert!(!diff.is_empty(), "munge8bit changed nothing?");
        let inbox_src = &expected.folders["INBOX"];
        let inbox_dst = &actual.folders["INBOX"];
        let changed = inbox_src.iter().filter(|m| !inbox_dst.contains(m)).count();
        assert_eq!(changed, 1, "{diff}");
        assert_eq!(
            expected.folders["Projects"], actual.folders["Projects"],
            "8-bit bodies are kept"
        );

        let items = skipped(&env);
        assert_eq!(out.items_skipped, 1, "verify {verify}: {out:?}");
        assert_eq!(items.len(), 1, "{items:?}");
        let item = &items[0];
        assert_eq!(item.kind, SkippedKind::ChangedItem);
        assert_eq!(item.folder, "INBOX");
        assert!(
            item.subject.as_deref().is_some_and(|s| s.contains("aus K")),
            "{item:?}"
        );
        assert!(
            item.reason.starts_with(
                "changed by the target server: the target stored different bytes (SHA-1 "
            ),
            "{}",
            item.reason
        );
        let sent = {
            use sha1::Digest;
            hex::encode(sha1::Sha1::digest(EIGHT_BIT_HEADER.as_bytes()))
        };
        assert!(
            item.reason
                .contains(&format!("than were sent (SHA-1 {sent})")),
            "{}",
            item.reason
        );
        let again = sync(&env, &job).await;
        assert_eq!(
            (again.items_copied, again.items_skipped),
            (0, 0),
            "{again:?}"
        );
        assert_eq!(skipped(&env).len(), 1);
    }
}

/// 300 messages of 8-20 KB in one folder.
fn one_mailbox() -> Vec<SeedFolder> {
    let messages = (0..300)
        .map(|n| {
            let mut m = message(5000 + n, &format!("letter {n}"));
            m.truncate(m.len() - 2);
            for line in 0..(100 + (n % 13) * 20) {
                m.extend_from_slice(
                    format!("{line:04} {n:04} lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\r\n")
                        .as_bytes(),
                );
            }
            SeedMessage::new(m, &["\\Seen"], T0 + n as i64 * 60)
        })
        .collect();
    vec![SeedFolder {
        name: "INBOX".into(),
        messages,
    }]
}

/// What verification costs on one mailbox between two Dovecots, with a counting proxy in
/// front of the target (no delay, then a 20 ms round trip over one 16 MB/s link each way):
/// copy time and bytes read from the target, off and on. The figures are printed
/// (`--no-capture`), never asserted as timings; what is asserted is that with verification
/// on every message crossed back from the target, and with it off not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_verification_reads_every_message_back_and_what_it_costs() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let folders = one_mailbox();
    let mail: u64 = folders[0]
        .messages
        .iter()
        .map(|m| m.bytes.len() as u64)
        .sum();
    src.seed("alice", &folders).expect("seed");
    let mut figures = Vec::new();
    let links = [
        ("local", Duration::ZERO, 0),
        ("20 ms RTT, 16 MB/s", Duration::from_millis(10), 16_000_000),
    ];
    let runs = links
        .iter()
        .flat_map(|l| [(l, false), (l, true)])
        .collect::<Vec<_>>();
    for ((link, one_way, rate), verify) in runs {
        let dst = dovecot(SpecialUseNames::Standard, &["alice"]);
        let proxy = DelayProxy::start_shared_link(dst.imap_addr(), *one_way, *rate).expect("proxy");
        let env = env();
        let mut job = imap_job(&env, &src, "alice", &dst, "alice");
        job.target = TargetSpec::Imap {
            server: imap::ServerConfig::new("127.0.0.1", proxy.port(), imap::Security::None),
            credentials: creds("alice", PASSWORD),
        };
        job.options.verify_content = verify;
        let t = Instant::now();
        let out = sync(&env, &job).await;
        let took = t.elapsed();
        assert_eq!((out.items_copied, out.items_skipped), (300, 0), "{out:?}");
        let read = proxy.bytes_to_client();
        let sent = proxy.bytes_to_server();
        eprintln!(
            "{link}, verify {}: {mail} bytes of mail in 300 messages; copy {:.3} s; {read} bytes read from the target, {sent} sent to it",
            if verify { "on " } else { "off" },
            took.as_secs_f64()
        );
        figures.push((verify, read));
        let (a, b) = (
            src.snapshot("alice").expect("src").without_empty_folders(),
            dst.snapshot("alice").expect("dst").without_empty_folders(),
        );
        assert!(a.diff(&b).is_empty(), "{}", a.diff(&b));
    }
    for (verify, read) in figures {
        if verify {
            assert!(
                read > mail,
                "verify on: {read} bytes read for {mail} of mail"
            );
        } else {
            assert!(
                read * 4 < mail,
                "verify off: {read} bytes read for {mail} of mail"
            );
        }
    }
}

/// A target without UIDPLUS names no UIDs for what was appended, so nothing can be read back:
/// the copy goes on as without verification, and each folder pass that appended says so once,
/// as a warning event naming the folder, rather than letting the admin assume it was checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_uidplus_the_copy_is_said_to_be_unverified() {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    src.seed("alice", &mailbox()).expect("seed");
    let dst = Dovecot::start(
        DovecotOptions::default()
            .profile(ServerProfile::Imap4rev1)
            .user("alice", PASSWORD),
    )
    .expect("start dovecot");
    // The strict proxy also takes APPENDUID out of the answers, as such a server sends none.
    let proxy = StrictProxy::start(dst.imap_addr()).expect("strict proxy");
    let env = env();
    let mut job = imap_job(&env, &src, "alice", &dst, "alice");
    let mut server = imap::ServerConfig::new("127.0.0.1", proxy.port(), imap::Security::None);
    server.compress = false;
    job.target = TargetSpec::Imap {
        server,
        credentials: creds("alice", PASSWORD),
    };
    job.options.verify_content = true;
    let out = sync(&env, &job).await;
    assert_eq!((out.items_copied, out.items_skipped), (6, 0), "{out:?}");
    let uid = uuid::Uuid::parse_str(&env.user_id).expect("uuid");
    let events = env.store.events_for_user(&uid, None).expect("events");
    let unverified: Vec<&str> = events
        .iter()
        .map(|e| e.message.as_str())
        .filter(|m| m.contains("not read back to verify"))
        .collect();
    assert_eq!(unverified.len(), 2, "one per folder: {events:?}");
    assert!(
        unverified
            .iter()
            .any(|m| m.contains("\"INBOX\"") && m.contains("the 4 messages")),
        "{unverified:?}"
    );
    let again = sync(&env, &job).await;
    assert_eq!(again.items_copied, 0, "{again:?}");
    let events = env.store.events_for_user(&uid, None).expect("events");
    assert_eq!(
        events
            .iter()
            .filter(|e| e.message.contains("not read back to verify"))
            .count(),
        2,
        "a pass that appends nothing says nothing"
    );
}

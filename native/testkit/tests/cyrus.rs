//! The Cyrus harness: starts with either separator, seeds over IMAP and reads back the same
//! bytes, flags and dates; an admin acts for a user through the SASL authorization identity.
//! Skipped when Cyrus is not installed, unless IMAPMIGRATION_REQUIRE_CYRUS=1 (scripts/test
//! sets it after ensure_cyrus), where a missing Cyrus fails the test.

#![allow(clippy::expect_used, reason = "test")]

use imapmigration_testkit::probe::ImapProbe;
use imapmigration_testkit::{
    CYRUS_ADMIN, CYRUS_ADMIN_PASSWORD, Cyrus, CyrusOptions, SeedFolder, SeedMessage,
    cyrus_available,
};

fn cyrus(opts: CyrusOptions) -> Option<Cyrus> {
    if !cyrus_available() {
        assert_ne!(
            std::env::var("IMAPMIGRATION_REQUIRE_CYRUS").as_deref(),
            Ok("1"),
            "Cyrus is required here but not installed (scripts/common.sh ensure_cyrus)"
        );
        eprintln!("skipped: Cyrus is not installed (scripts/common.sh ensure_cyrus)");
        return None;
    }
    Some(Cyrus::start(opts).expect("start cyrus"))
}

fn mailbox() -> Vec<SeedFolder> {
    let t0 = 1_700_000_000;
    vec![
        SeedFolder::new(
            "INBOX",
            vec![
                SeedMessage::new(
                    b"Message-ID: <1@x>\r\nSubject: one\r\n\r\nbody\r\n".to_vec(),
                    &["\\Seen"],
                    t0,
                ),
                SeedMessage::new(
                    "Message-ID: <2@x>\r\nSubject: Grüße\r\n\r\nKörper\r\n"
                        .as_bytes()
                        .to_vec(),
                    &["\\Flagged", "$Label1"],
                    t0 + 3600,
                ),
            ],
        ),
        SeedFolder::new(
            "Archive/2023",
            vec![SeedMessage::new(
                b"Message-ID: <3@x>\r\nSubject: old\r\n\r\nold\r\n".to_vec(),
                &[],
                t0 + 7200,
            )],
        ),
        SeedFolder::new("Übung", Vec::new()),
    ]
}

#[test]
fn seeded_mail_reads_back_with_either_separator() {
    for sep in ['/', '.'] {
        let Some(c) = cyrus(
            CyrusOptions::default()
                .user("alice", "secret")
                .separator(sep),
        ) else {
            return;
        };
        assert_eq!(c.seed("alice", "secret", &mailbox()).expect("seed"), 3);
        let snap = c.snapshot("alice", "secret").expect("snapshot");
        assert_eq!(snap.message_count(), 3, "{sep}: {snap:?}");
        assert_eq!(snap["Archive/2023"].len(), 1, "{sep}: {snap:?}");
        let inbox = &snap["INBOX"];
        assert!(
            inbox
                .iter()
                .any(|m| m.flags == ["$Label1", "\\Flagged"] && m.internal_date == 1_700_003_600),
            "{sep}: {inbox:?}"
        );
        let list = c.mailbox_list("alice", "secret").expect("list");
        assert!(list.iter().any(|f| f == "Übung"), "{sep}: {list:?}");
        let mut p = ImapProbe::connect(c.imap_addr()).expect("connect");
        let r = p.command("CAPABILITY").expect("capability");
        assert!(r.is_ok());
        p.logout();
    }
}

#[test]
fn admin_acts_for_a_user_through_the_authorization_identity() {
    let Some(c) = cyrus(CyrusOptions::default().user("alice", "secret")) else {
        return;
    };
    c.seed("alice", "secret", &mailbox()).expect("seed");
    let mut p = ImapProbe::connect(c.imap_addr()).expect("connect");
    let r = p
        .authenticate_plain("alice", CYRUS_ADMIN, CYRUS_ADMIN_PASSWORD)
        .expect("authenticate");
    assert!(r.is_ok(), "{r:?}");
    let r = p.command("SELECT INBOX").expect("select");
    assert!(r.lines.iter().any(|l| l.contains("2 EXISTS")), "{r:?}");
    p.logout();
    let mut p = ImapProbe::connect(c.imap_addr()).expect("connect");
    let r = p
        .authenticate_plain("alice", "alice", "wrong")
        .expect("authenticate");
    assert!(!r.is_ok(), "{r:?}");
    p.logout();
}

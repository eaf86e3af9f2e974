//! Seeding by writing Maildir files, read back by Dovecot and by the snapshot reader.

use std::collections::BTreeMap;

use imapmigration_testkit::probe::ImapProbe;
use imapmigration_testkit::snapshot::served_sha256;
use imapmigration_testkit::{
    Dovecot, DovecotOptions, MessageRef, MessageView, SeedFolder, SeedMessage, Snapshot,
};

fn msg(i: usize, flags: &[&str]) -> SeedMessage {
    let body = format!(
        "Message-ID: <m{i}@test>\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\nFrom: a@example.com\r\nTo: b@example.com\r\nSubject: message {i}\r\n\r\nbody {i}\r\n"
    );
    SeedMessage::new(body.into_bytes(), flags, 1_700_000_000 + i as i64 * 60)
}

fn expected(folders: &[SeedFolder]) -> Snapshot {
    let mut map = BTreeMap::new();
    for f in folders {
        let mut v: Vec<MessageView> = f
            .messages
            .iter()
            .map(|m| {
                let mut flags: Vec<String> = m
                    .flags
                    .iter()
                    .filter(|f| *f != "\\Recent")
                    .cloned()
                    .collect();
                flags.sort();
                MessageView {
                    sha256: served_sha256(&m.bytes),
                    flags,
                    internal_date: m.internal_date,
                }
            })
            .collect();
        v.sort();
        map.insert(f.name.clone(), v);
    }
    Snapshot { folders: map }
}

fn folders() -> Vec<SeedFolder> {
    vec![
        SeedFolder::new(
            "INBOX",
            (0..5)
                .map(|i| msg(i, if i % 2 == 0 { &["\\Seen"] } else { &[] }))
                .collect(),
        ),
        SeedFolder::new(
            "Projects/2024",
            (5..8)
                .map(|i| msg(i, &["\\Seen", "\\Flagged", "$Forwarded"]))
                .collect(),
        ),
        SeedFolder::new("a.b", vec![msg(8, &["\\Answered"])]),
        SeedFolder::new("Résumé/Ünter", vec![msg(9, &["\\Draft"]), msg(10, &[])]),
        SeedFolder::new(
            "Sent",
            vec![SeedMessage::new(
                &b"Subject: bare lf\nFrom: x@y\n\nline\n"[..],
                &["\\Seen"],
                1_600_000_000,
            )],
        ),
    ]
}

#[test]
fn seeded_folders_are_what_dovecot_counts_and_the_snapshot_reads() {
    let dc = Dovecot::start(DovecotOptions::default().user("alice", "secret")).expect("start");
    let seed = folders();
    assert_eq!(dc.seed("alice", &seed).expect("seed"), 12);

    for f in &seed {
        let st = dc.mailbox_status("alice", &f.name).expect("status");
        assert_eq!(st.messages as usize, f.messages.len(), "{}", f.name);
        assert_eq!(st.uidnext as usize, f.messages.len() + 1, "{}", f.name);
    }
    let list = dc.mailbox_list("alice").expect("list");
    for name in [
        "INBOX",
        "Projects",
        "Projects/2024",
        "a.b",
        "Résumé",
        "Résumé/Ünter",
        "Sent",
        "Drafts",
        "Trash",
    ] {
        assert!(list.iter().any(|l| l == name), "{name} not in {list:?}");
    }

    let snap = dc.snapshot("alice").expect("snapshot");
    let want = expected(&seed);
    let diff = want.diff(&snap.without_empty_folders());
    assert!(diff.is_empty(), "{diff}");
    assert_eq!(snap.message_count(), 12);

    // Over IMAP: flags, dates and the bytes served match.
    let mut p = ImapProbe::connect(dc.imap_addr()).expect("connect");
    assert!(p.login("alice", "secret").expect("login").is_ok());
    let r = p.command("SELECT \"Projects/2024\"").expect("select");
    assert!(r.is_ok(), "{r:?}");
    let r = p
        .command("UID FETCH 1 (FLAGS INTERNALDATE)")
        .expect("fetch");
    let line = r.lines.join(" ");
    assert!(
        line.contains("\\Seen") && line.contains("\\Flagged") && line.contains("$Forwarded"),
        "{line}"
    );
    assert!(line.contains("14-Nov-2023 22:18:20 +0000"), "{line}");
    let r = p.command("EXAMINE Sent").expect("examine");
    assert!(r.is_ok(), "{r:?}");
    let r = p.command("UID FETCH 1 BODY.PEEK[]").expect("fetch");
    let served = r.lines.join("\r\n");
    let start = served.find("}\r\n").expect("literal") + 3;
    let body = &served.as_bytes()[start..served.rfind(')').expect("close")];
    assert_eq!(served_sha256(body), snap["Sent"][0].sha256);
    assert_eq!(body, b"Subject: bare lf\r\nFrom: x@y\r\n\r\nline\r\n");
    let r = p.command("CREATE \"x.y\"").expect("create");
    assert!(r.is_ok(), "{r:?}");
    let r = p.command("CREATE \"Caf&AOk-/N&AOk-\"").expect("create");
    assert!(r.is_ok(), "{r:?}");
    p.logout();
    let snap = dc.snapshot("alice").expect("snapshot");
    assert!(
        snap.contains_key("x.y") && snap.contains_key("Café/Né"),
        "{:?}",
        snap.keys().collect::<Vec<_>>()
    );
}

#[test]
fn append_and_set_flags_while_running() {
    let dc = Dovecot::start(DovecotOptions::default().user("bob", "pw")).expect("start");
    dc.seed(
        "bob",
        &[SeedFolder::new("INBOX", vec![msg(1, &[]), msg(2, &[])])],
    )
    .expect("seed");
    assert_eq!(
        dc.mailbox_status("bob", "INBOX").expect("status").messages,
        2
    );

    dc.append_message("bob", "INBOX", &msg(3, &["\\Seen"]))
        .expect("append");
    dc.append_message("bob", "New/Folder", &msg(4, &[]))
        .expect("append to a new folder");
    assert_eq!(
        dc.mailbox_status("bob", "INBOX").expect("status").messages,
        3
    );
    assert_eq!(
        dc.mailbox_status("bob", "New/Folder")
            .expect("status")
            .messages,
        1
    );

    dc.set_flags("bob", "INBOX", MessageRef::Uid(1), &["\\Flagged", "Work"])
        .expect("flags by uid");
    dc.set_flags("bob", "INBOX", MessageRef::Index(1), &["\\Seen"])
        .expect("flags by index");
    let out = dc
        .doveadm(&["fetch", "-u", "bob", "uid flags", "mailbox", "INBOX"])
        .expect("fetch");
    // doveadm lists \Recent too: the snapshot never does.
    assert!(
        out.contains("uid: 1\nflags: \\Flagged \\Recent Work\n"),
        "{out}"
    );
    assert!(out.contains("uid: 2\nflags: \\Seen \\Recent\n"), "{out}");
    assert!(out.contains("uid: 3\nflags: \\Seen \\Recent\n"), "{out}");
    let snap = dc.snapshot("bob").expect("snapshot");
    assert!(
        snap["INBOX"]
            .iter()
            .any(|m| m.flags == ["Work", "\\Flagged"]),
        "{snap:?}"
    );
}

#[test]
fn serve_maildir_reads_a_tree_written_by_hand() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("maildir");
    let user_root = root.join("carol@example.com");
    // By hand, as a Maildir writer would: INBOX at the root, `.Folder` dirs, listescape, mUTF-7.
    for (dir, files) in [
        (
            "",
            vec![(
                "1700000000.M1P1.host,S=30:2,S",
                "Subject: one\r\n\r\nfirst\r\n",
            )],
        ),
        (
            ".Archive",
            vec![("1700000001.M2P1.host:2,", "Subject: two\r\n\r\nsecond\r\n")],
        ),
        (
            ".a\\2eb",
            vec![(
                "1700000002.M3P1.host:2,FS",
                "Subject: three\r\n\r\nthird\r\n",
            )],
        ),
        (
            ".R&AOk-sum&AOk-.&ANw-nter",
            vec![("1700000003.M4P1.host:2,", "Subject: four\r\n\r\nfourth\r\n")],
        ),
    ] {
        let d = user_root.join(dir);
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        if !dir.is_empty() {
            std::fs::write(d.join("maildirfolder"), b"").expect("marker");
        }
        for (name, body) in files {
            std::fs::write(d.join("cur").join(name), body).expect("write");
        }
    }
    let before = imapmigration_testkit::maildir_snapshot(&user_root).expect("snapshot");
    assert_eq!(
        before.keys().cloned().collect::<Vec<_>>(),
        ["Archive", "INBOX", "Résumé/Ünter", "a.b"]
    );

    let dc = Dovecot::serve_maildir(&root, DovecotOptions::default()).expect("serve");
    assert_eq!(dc.users(), ["carol@example.com"]);
    for (folder, n) in [
        ("INBOX", 1),
        ("Archive", 1),
        ("a.b", 1),
        ("Résumé/Ünter", 1),
    ] {
        assert_eq!(
            dc.mailbox_status("carol@example.com", folder)
                .expect("status")
                .messages,
            n,
            "{folder}"
        );
    }
    let mut p = ImapProbe::connect(dc.imap_addr()).expect("connect");
    assert!(
        p.login("carol@example.com", "secret")
            .expect("login")
            .is_ok()
    );
    let r = p.command("LIST \"\" \"*\"").expect("list");
    let text = r.lines.join("\n");
    assert!(
        text.contains("\"/\" a.b\n") && text.contains("R&AOk-sum&AOk-/&ANw-nter"),
        "{text}"
    );
    let r = p.command("EXAMINE \"a.b\"").expect("examine");
    assert!(r.is_ok(), "{r:?}");
    let r = p.command("FETCH 1 (FLAGS)").expect("fetch");
    assert!(r.lines.join(" ").contains("\\Flagged \\Seen"), "{r:?}");
    p.logout();
    // Dovecot's own files do not change what the snapshot sees.
    let after = dc.snapshot("carol@example.com").expect("snapshot");
    assert_eq!(before.diff(&after.without_empty_folders()), "");
}

#[test]
fn profile_one_seeds_2500_messages_that_dovecot_counts() {
    let dc = Dovecot::start(DovecotOptions::default().user("bench", "pw")).expect("start");
    let spec = imapmigration_testkit::mail::one();
    let folders = imapmigration_testkit::mail::generate_mailbox(&spec);
    let t = std::time::Instant::now();
    assert_eq!(dc.seed("bench", &folders).expect("seed"), 2500);
    eprintln!("seeded 2500 messages in {:?}", t.elapsed());
    for (name, count) in &spec.folders {
        assert_eq!(
            dc.mailbox_status("bench", name).expect("status").messages as usize,
            *count,
            "{name}"
        );
    }
    let snap = dc.snapshot("bench").expect("snapshot");
    let diff = expected(&folders).diff(&snap.without_empty_folders());
    assert!(diff.is_empty(), "{diff}");
    // The duplicate pair is two entries with one hash.
    let inbox = &snap["INBOX"];
    assert_eq!(inbox.len(), 1000);
    assert!(inbox.windows(2).any(|w| w[0] == w[1]));
}

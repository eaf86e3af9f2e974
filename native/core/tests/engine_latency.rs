//! A far server gets more folders copied at once: each folder waits a few round trips of its
//! own (open, first messages, last confirmation) that more folders at once hide. A near one
//! keeps the default, so that a LAN migration does not hold more of the servers' connections
//! than it gains from.

#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

#[path = "engine_support.rs"]
mod support;

use std::time::Duration;

use imapmigration::engine::{self, SyncOptions};
use imapmigration_testkit::{DelayProxy, SeedFolder, SpecialUseNames};
use support::*;

/// Copies alice's seven folders with the source behind a proxy of `one_way` delay; returns
/// how many connections the copy opened to the source.
async fn source_connections(one_way: Duration) -> u64 {
    let names = SpecialUseNames::Standard;
    let (src, dst) = (dovecot(names, &["alice"]), dovecot(names, &["alice"]));
    let folders: Vec<SeedFolder> = (0..7)
        .map(|f| {
            let msgs = (0..5)
                .map(|n| seed_msg(f * 100 + n, &format!("folder {f} message {n}"), &["\\Seen"]))
                .collect();
            let name = match f {
                0 => "INBOX".to_string(),
                _ => format!("Folder{f}"),
            };
            SeedFolder::new(&name, msgs)
        })
        .collect();
    src.seed("alice", &folders).expect("seed");
    let proxy = DelayProxy::start(src.imaps_addr(), one_way).expect("proxy");
    let env = env();
    let mut job = imap_job(&env, &src, "alice", &dst, "alice");
    job.source.server.port = proxy.port();
    let outcome = sync(&env, &job).await;
    assert_eq!(outcome.items_copied, 35, "{outcome:?}");
    let (a, b) = (
        src.snapshot("alice").expect("src"),
        dst.snapshot("alice").expect("dst"),
    );
    assert!(a.diff(&b).is_empty(), "{}", a.diff(&b));
    proxy.connections()
}

#[tokio::test]
async fn a_far_source_gets_more_folders_at_once_than_a_near_one() {
    let defaults = SyncOptions::default();
    assert!(defaults.far_folder_parallelism > defaults.folder_parallelism);
    // A greeting within FAR_SERVER: the default number of folder workers, one source
    // connection each.
    assert_eq!(
        source_connections(Duration::ZERO).await,
        defaults.folder_parallelism as u64
    );
    // 40 ms each way: an 80 ms round trip, a far server.
    assert!(engine::FAR_SERVER <= Duration::from_millis(40));
    assert_eq!(
        source_connections(Duration::from_millis(40)).await,
        defaults.far_folder_parallelism as u64
    );
}

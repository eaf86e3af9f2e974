//! Three worker processes (the real binary, each with a state directory of its own, as on three
//! hosts: the same `secret.key` and `store.conf`) run 60 users from two source servers (a batch
//! each) on a PostgreSQL store. Users are handed out by leases: every user is copied by one
//! pass, byte-identical;
//! the worker copying the large mailbox is SIGKILLed mid-copy, and another takes the user
//! over once the lease expired and finishes it with no duplicate and no gap; the store's own
//! lease records show no user ever held by two workers at once, and never more users of one
//! source held at once than its endpoint allows.
//! Skipped when PostgreSQL is not installed, unless IMAPMIGRATION_REQUIRE_POSTGRES=1.

#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]
#![allow(
    unsafe_code,
    reason = "the environment is set once, before this process starts any thread of its own"
)]

#[path = "workers_support.rs"]
mod support;

use std::time::Duration;

use imapmigration_store::pg::overlapping_leases;
use serde_json::json;
use support::{BIG, CLOCKS, Deployment, Shape, call, landed, most_held_at_once};

/// The large mailbox, whose worker is killed.
const BIG_MESSAGES: usize = 400;
/// Each source endpoint's MaxConcurrentMigrations, which holds over all three workers together
/// (each would run four users at once on its own).
const ENDPOINT_LIMIT: usize = 5;

#[test]
fn three_workers_share_60_users_of_two_sources_and_one_killed_mid_user_is_taken_over() {
    // SAFETY: the only test of this binary, before it starts any thread; the workers get
    // these short clocks too (heartbeat 1 s, lease and staleness 3 s), and here they are what
    // Get-MigrationConfig's `Alive` uses.
    unsafe {
        for (k, v) in CLOCKS {
            std::env::set_var(k, v);
        }
    }
    let Some(mut d) = Deployment::start(Shape {
        database: "workers",
        sources: 2,
        small_users: 59,
        big_messages: BIG_MESSAGES,
        workers: 3,
        endpoint_limit: ENDPOINT_LIMIT,
    }) else {
        return;
    };
    d.start_batches();

    // The worker copying the large mailbox is killed mid-copy.
    d.wait_until_big_has(40);
    let big_id = d.big_user_id();
    let holder = d
        .store
        .workers()
        .expect("workers")
        .into_iter()
        .find(|w| w.users_held > 0 && d.store.holds(&w.id, &big_id).expect("holds"))
        .expect("a worker holds the large mailbox");
    let (_, child) = d
        .workers
        .0
        .iter_mut()
        .find(|(_, c)| c.id() == holder.pid)
        .expect("the holder is one of ours");
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let at_kill = landed(&d.mailbox(BIG));
    assert!(
        at_kill < BIG_MESSAGES,
        "the large mailbox was copied before the kill"
    );

    let batches = d.wait_for_batches_end(Duration::from_secs(60));
    d.check_every_user_copied_once(&batches);

    // The store's own records: no user held by two workers at once; the large mailbox was
    // held by the killed worker and then by another; the work was spread.
    let history = d.store.lease_history().expect("lease history");
    let overlaps = overlapping_leases(&history);
    assert!(overlaps.is_empty(), "{overlaps:?}");
    let big_holders: Vec<&str> = history
        .iter()
        .filter(|s| s.user_id == big_id)
        .map(|s| s.worker_id.as_str())
        .collect();
    assert_eq!(
        big_holders.first(),
        Some(&holder.id.as_str()),
        "{history:?}"
    );
    assert!(
        big_holders.iter().any(|w| *w != holder.id),
        "no other worker took the large mailbox over: {history:?}"
    );
    // Each endpoint's limit held over all workers: never more of its users held at once than
    // it allows (a dead worker's lease counts until it expired), and it was reached.
    for s in &d.sources {
        let ids = d.user_ids_of(&s.batch);
        let spans: Vec<_> = history
            .iter()
            .filter(|h| ids.contains(&h.user_id))
            .cloned()
            .collect();
        let most = most_held_at_once(&spans);
        assert!(
            (2..=ENDPOINT_LIMIT).contains(&most),
            "{most} users of {} held at once: {spans:?}",
            s.endpoint
        );
    }
    let mut ran: Vec<&str> = history.iter().map(|s| s.worker_id.as_str()).collect();
    ran.sort_unstable();
    ran.dedup();
    assert_eq!(ran.len(), 3, "every worker ran users: {history:?}");

    // Get-MigrationConfig lists the workers of every host: two alive, the killed one not.
    let listed = call(d.admin(), "config.get", json!({}))["Workers"].clone();
    let alive = listed
        .as_array()
        .map(|w| w.iter().filter(|w| w["Alive"] == json!(true)).count())
        .unwrap_or_default();
    assert_eq!(alive, 2, "{listed}");
    assert!(
        listed
            .as_array()
            .is_some_and(|w| w.iter().all(|w| w["UsersHeld"] == json!(0)
                && w["Host"].is_string()
                && w["Version"].is_string())),
        "{listed}"
    );
}

//! The shared PostgreSQL store goes away mid-batch: two worker processes are copying (one of
//! them the large mailbox) when the database stops for longer than a lease lasts, then comes
//! back. The workers stay up, reconnect and finish the batch: every user byte-identical,
//! copied by one finished pass with nothing twice, no user held by two workers at once.
//! Skipped when PostgreSQL is not installed, unless IMAPMIGRATION_REQUIRE_POSTGRES=1.

#![allow(
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

#[path = "workers_support.rs"]
mod support;

use std::time::Duration;

use imapmigration_store::pg::overlapping_leases;
use support::{BIG, Deployment, Shape, landed};

const BIG_MESSAGES: usize = 400;

#[test]
fn workers_resume_a_batch_after_the_database_was_down() {
    let Some(mut d) = Deployment::start(Shape {
        database: "restart",
        sources: 1,
        small_users: 9,
        big_messages: BIG_MESSAGES,
        workers: 2,
        endpoint_limit: 20,
    }) else {
        return;
    };
    d.start_batches();
    d.wait_until_big_has(40);

    // Down for twice the lease (3 s): every lease has run out when it is back.
    d.pg.stop().expect("stop the database");
    let at_stop = landed(&d.mailbox(BIG));
    std::thread::sleep(Duration::from_secs(6));
    let exited = d.workers.exited();
    assert!(
        exited.is_empty(),
        "workers exited without their database: {exited:?}"
    );
    d.pg.start_again().expect("start the database");
    assert!(
        at_stop < BIG_MESSAGES,
        "the large mailbox was copied before the stop"
    );

    let batches = d.wait_for_batches_end(Duration::from_secs(90));
    d.check_every_user_copied_once(&batches);
    // The test's own connection was cut too: its first call may fail, then it reconnects.
    let history = d
        .store
        .lease_history()
        .or_else(|_| d.store.lease_history())
        .expect("lease history");
    let overlaps = overlapping_leases(&history);
    assert!(overlaps.is_empty(), "{overlaps:?}");
    // The pass of the large mailbox did not outlive its lease: it was dropped and the user
    // claimed again once the database was back.
    let big_id = d.big_user_id();
    let big_leases = history.iter().filter(|s| s.user_id == big_id).count();
    assert!(
        big_leases >= 2,
        "one lease for the whole outage: {history:?}"
    );
    let exited = d.workers.exited();
    assert!(
        exited.is_empty(),
        "workers exited: {exited:?}\n{}",
        d.workers.logs()
    );
}

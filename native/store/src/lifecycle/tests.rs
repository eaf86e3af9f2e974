//! The status model checked against tables written out by hand: every status against every
//! action and event. A cell is the status expected, `!Reason` for a refusal, `=` for "stays".
//! The tables are the specification; the code under test computes none of them.

use std::path::Path;

use super::batch::{self, Change, Event as BatchEvent, Step};
use super::user::{self, Event as UserEvent, Outcome, PassEnd};
use super::{MigrationState, render_markdown};
use crate::types::{BatchAction, BatchStatus, StatusSummary, UserAction, UserStatus};

fn batch_status(name: &str) -> BatchStatus {
    name.parse().unwrap_or_else(|e| panic!("{e}"))
}

fn user_status(name: &str) -> UserStatus {
    name.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// Every status appears exactly once, in declaration order, so no status is left out.
fn check_rows<T: PartialEq + std::fmt::Debug + Copy>(
    names: &[&str],
    all: &[T],
    parse: fn(&str) -> T,
) {
    let listed: Vec<T> = names.iter().map(|n| parse(n)).collect();
    assert_eq!(
        listed, all,
        "the table must list every status once, in order"
    );
}

fn batch_cell(r: Result<BatchStatus, batch::Refusal>, from: BatchStatus) -> String {
    match r {
        Ok(s) if s == from => "=".into(),
        Ok(s) => s.to_string(),
        Err(refusal) => {
            assert_eq!(refusal.status, from, "a refusal names the batch's status");
            format!("!{:?}", refusal.reason)
        }
    }
}

fn set_cell(r: Result<(), batch::Refusal>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(refusal) => format!("!{:?}", refusal.reason),
    }
}

fn user_cell(r: Result<Outcome, user::Refusal>) -> String {
    match r {
        Ok(Outcome::Becomes(s)) => s.to_string(),
        Ok(Outcome::Removed) => "removed".into(),
        Err(refusal) => format!("!{:?}", refusal.reason),
    }
}

fn same(to: UserStatus, from: UserStatus) -> String {
    if to == from {
        "=".into()
    } else {
        to.to_string()
    }
}

// ---- batches ----------------------------------------------------------------------------------

#[test]
fn every_batch_status_and_action() {
    // users_to_start = false; Synced with users to start is the next test.
    #[rustfmt::skip]
    let table: &[(&str, [&str; 5])] = &[
        // status               Start                Stop                Complete           Remove              SyncNow
        ("Created",             ["Starting",         "!NotStarted",      "!NotCompletable", "Removing",         "!NotSynced"]),
        ("Starting",            ["!AlreadyStarted",  "Stopping",         "!NotCompletable", "Removing",         "!NotSynced"]),
        ("Syncing",             ["=",                "Stopping",         "!NotCompletable", "Removing",         "!NotSynced"]),
        ("Synced",              ["!NothingToRetry",  "Stopping",         "Completing",      "Removing",         "="]),
        ("SyncedWithErrors",    ["Starting",         "Stopping",         "Completing",      "Removing",         "="]),
        ("Stopping",            ["!StillStopping",   "!AlreadyStopping", "!NotCompletable", "Removing",         "!NotSynced"]),
        ("Stopped",             ["Starting",         "!AlreadyStopped",  "Completing",      "Removing",         "!NotSynced"]),
        ("Completing",          ["!BeingCompleted",  "!NotStoppable",    "!NotCompletable", "Removing",         "!NotSynced"]),
        ("Completed",           ["!CompletedCleanly","!NotStoppable",    "!NotCompletable", "Removing",         "!NotSynced"]),
        ("CompletedWithErrors", ["Starting",         "!NotStoppable",    "!NotCompletable", "Removing",         "!NotSynced"]),
        ("Removing",            ["!BeingRemoved",    "!NotStoppable",    "!NotCompletable", "!AlreadyRemoving", "!NotSynced"]),
        ("Failed",              ["Starting",         "!NotStoppable",    "!NotCompletable", "Removing",         "!NotSynced"]),
        ("IncrementalSyncing",  ["=",                "Stopping",         "!NotCompletable", "Removing",         "!NotSynced"]),
        ("Waiting",             ["!AlreadyStarted",  "Stopping",         "!NotCompletable", "Removing",         "!NotSynced"]),
        ("Corrupted",           ["!OnlyRemovable",   "!OnlyRemovable",   "!NotCompletable", "Removing",         "!NotSynced"]),
    ];
    let actions = [
        BatchAction::Start,
        BatchAction::Stop,
        BatchAction::Complete,
        BatchAction::Remove,
        BatchAction::SyncNow,
    ];
    assert_eq!(
        actions.len(),
        BatchAction::ALL.len(),
        "every action has a column"
    );
    let names: Vec<&str> = table.iter().map(|(s, _)| *s).collect();
    check_rows(&names, BatchStatus::ALL, batch_status);
    for (name, expected) in table {
        let s = batch_status(name);
        for (action, want) in actions.iter().zip(expected) {
            assert_eq!(
                batch_cell(batch::on_action(s, *action, false), s),
                *want,
                "{s} x {action}"
            );
        }
    }
}

#[test]
fn users_to_start_decide_start_of_a_synced_batch_only() {
    for &s in BatchStatus::ALL {
        for &a in BatchAction::ALL {
            let (with, without) = (batch::on_action(s, a, true), batch::on_action(s, a, false));
            if (s, a) == (BatchStatus::Synced, BatchAction::Start) {
                assert_eq!(with, Ok(BatchStatus::Starting));
                assert!(without.is_err());
            } else {
                assert_eq!(with, without, "{s} x {a}");
            }
        }
    }
}

#[test]
fn every_batch_status_and_set_change() {
    #[rustfmt::skip]
    let table: &[(&str, [&str; 3])] = &[
        // status               Settings                  Users (CSV)               StartAfter
        ("Created",             ["ok",                     "ok",                     "ok"]),
        ("Starting",            ["ok",                     "!UsersFixed",            "!StartAfterFixed"]),
        ("Syncing",             ["ok",                     "!UsersFixed",            "!StartAfterFixed"]),
        ("Synced",              ["ok",                     "ok",                     "!StartAfterFixed"]),
        ("SyncedWithErrors",    ["ok",                     "ok",                     "!StartAfterFixed"]),
        ("Stopping",            ["ok",                     "!UsersFixed",            "!StartAfterFixed"]),
        ("Stopped",             ["ok",                     "ok",                     "!StartAfterFixed"]),
        ("Completing",          ["ok",                     "!UsersFixed",            "!StartAfterFixed"]),
        ("Completed",           ["!CompletedUnchangeable", "!CompletedUnchangeable", "!CompletedUnchangeable"]),
        ("CompletedWithErrors", ["!CompletedUnchangeable", "!CompletedUnchangeable", "!CompletedUnchangeable"]),
        ("Removing",            ["!Unchangeable",          "!Unchangeable",          "!Unchangeable"]),
        ("Failed",              ["ok",                     "!UsersFixed",            "ok"]),
        ("IncrementalSyncing",  ["ok",                     "!UsersFixed",            "!StartAfterFixed"]),
        ("Waiting",             ["ok",                     "!UsersFixed",            "!StartAfterFixed"]),
        ("Corrupted",           ["!OnlyRemovable",         "!OnlyRemovable",         "!OnlyRemovable"]),
    ];
    let names: Vec<&str> = table.iter().map(|(s, _)| *s).collect();
    check_rows(&names, BatchStatus::ALL, batch_status);
    assert_eq!(Change::ALL.len(), 3);
    for (name, expected) in table {
        let s = batch_status(name);
        for (change, want) in Change::ALL.iter().zip(expected) {
            assert_eq!(
                set_cell(batch::on_set(s, *change)),
                *want,
                "{s} x {change:?}"
            );
        }
    }
}

/// Start-MigrationBatch on a batch whose worker is gone: a batch the dead worker was starting,
/// syncing or completing stays as it is and the new worker resumes it; a stopping or removing
/// one is finished by the new worker first; the rest as with a live worker.
#[test]
fn every_batch_status_and_start_without_a_live_worker() {
    #[rustfmt::skip]
    let table: &[(&str, &str, &str, bool)] = &[
        // status               no users to start     users to start   resumed as it stands
        ("Created",             "Starting",           "Starting",      false),
        ("Starting",            "=",                  "=",             true),
        ("Syncing",             "=",                  "=",             false),
        ("Synced",              "!NothingToRetry",    "Starting",      false),
        ("SyncedWithErrors",    "Starting",           "Starting",      false),
        ("Stopping",            "!StillStopping",     "!StillStopping", false),
        ("Stopped",             "Starting",           "Starting",      false),
        ("Completing",          "=",                  "=",             true),
        ("Completed",           "!CompletedCleanly",  "!CompletedCleanly", false),
        ("CompletedWithErrors", "Starting",           "Starting",      false),
        ("Removing",            "!BeingRemoved",      "!BeingRemoved", false),
        ("Failed",              "Starting",           "Starting",      false),
        ("IncrementalSyncing",  "=",                  "=",             false),
        ("Waiting",             "!AlreadyStarted",    "!AlreadyStarted", false),
        ("Corrupted",           "!OnlyRemovable",     "!OnlyRemovable", false),
    ];
    let names: Vec<&str> = table.iter().map(|r| r.0).collect();
    check_rows(&names, BatchStatus::ALL, batch_status);
    for (name, without, with, stands) in table {
        let s = batch_status(name);
        assert_eq!(
            batch_cell(batch::on_start_without_worker(s, false), s),
            *without,
            "{s}"
        );
        assert_eq!(
            batch_cell(batch::on_start_without_worker(s, true), s),
            *with,
            "{s} with users to start"
        );
        assert_eq!(batch::resumed_as_it_stands(s), *stands, "{s}");
    }
}

#[test]
fn every_batch_status_supported_actions_state_and_worker_step() {
    #[rustfmt::skip]
    let table: &[(&str, &str, &str, Step, [bool; 5])] = &[
        // status               SupportedActions (no users to start)  State        worker step            running synced settled completed finished a pass
        ("Created",             "Start, Set, Remove, Append",       "Waiting",   Step::StartWhenDue,   [false, false, false, false, false]),
        ("Starting",            "Stop, Set, Remove",                "Active",    Step::PickUp,         [true,  false, false, false, false]),
        ("Syncing",             "Start, Stop, Set, Remove",         "Active",    Step::RunPasses,      [true,  false, false, false, false]),
        ("Synced",              "Stop, Set, Remove, Append",        "Active",    Step::SyncWhenDue,    [false, true,  true,  false, true]),
        ("SyncedWithErrors",    "Start, Stop, Set, Remove, Append", "Active",    Step::SyncWhenDue,    [false, true,  true,  false, true]),
        ("Stopping",            "Set, Remove",                      "Active",    Step::StopWhenIdle,   [true,  false, false, false, false]),
        ("Stopped",             "Start, Set, Remove, Append",       "Stopped",   Step::Nothing,        [false, false, true,  false, false]),
        ("Completing",          "Set, Remove",                      "Active",    Step::RunPasses,      [true,  false, false, false, false]),
        ("Completed",           "Remove",                           "Completed", Step::Nothing,        [false, false, true,  true,  true]),
        ("CompletedWithErrors", "Start, Remove",                    "Completed", Step::Nothing,        [false, false, true,  true,  true]),
        ("Removing",            "None",                             "Active",    Step::RemoveWhenIdle, [true,  false, false, false, false]),
        ("Failed",              "Start, Set, Remove",               "Failed",    Step::Nothing,        [false, false, true,  false, false]),
        ("IncrementalSyncing",  "Start, Stop, Set, Remove",         "Active",    Step::RunPasses,      [true,  false, false, false, false]),
        ("Waiting",             "Stop, Set, Remove",                "Waiting",   Step::Nothing,        [false, false, false, false, false]),
        ("Corrupted",           "Remove",                           "Corrupted", Step::Nothing,        [false, false, false, false, false]),
    ];
    let names: Vec<&str> = table.iter().map(|r| r.0).collect();
    check_rows(&names, BatchStatus::ALL, batch_status);
    for (name, actions, state, step, [running, synced, settled, completed, finished]) in table {
        let s = batch_status(name);
        assert_eq!(
            batch::supported_actions(s, false).to_string(),
            *actions,
            "{s}"
        );
        assert_eq!(batch::state(s).as_str(), *state, "{s}");
        assert_eq!(batch::worker_step(s), *step, "{s}");
        assert_eq!(
            [
                batch::running(s),
                batch::synced(s),
                batch::settled(s),
                batch::completed(s),
                batch::finished_pass(s)
            ],
            [*running, *synced, *settled, *completed, *finished],
            "{s}: running, synced, settled, completed, finished a pass"
        );
    }
    assert_eq!(
        batch::supported_actions(BatchStatus::Synced, true).to_string(),
        "Start, Stop, Set, Remove, Append"
    );
}

#[test]
fn every_batch_status_and_worker_event() {
    use BatchEvent::*;
    let events = [
        Handled {
            action: BatchAction::Start,
            work: false,
        },
        Handled {
            action: BatchAction::Stop,
            work: false,
        },
        Handled {
            action: BatchAction::Complete,
            work: false,
        },
        Handled {
            action: BatchAction::Remove,
            work: false,
        },
        Handled {
            action: BatchAction::SyncNow,
            work: true,
        },
        Handled {
            action: BatchAction::SyncNow,
            work: false,
        },
        PickedUp,
        PassesDone { failed: false },
        PassesDone { failed: true },
        PassesStopped,
        SyncDue { queued: true },
        SyncDue { queued: false },
        SourceMissing,
    ];
    #[rustfmt::skip]
    let table: &[(&str, [&str; 13])] = &[
        // status             handled: start  stop        complete      remove      syncnow+work syncnow  picked up  done ok        done failed            stopped    due+queued due  source gone
        ("Created",             ["Syncing", "Stopping", "Completing", "Removing", "Syncing", "=", "=",       "=",          "=",                   "=",       "=",       "=", "Failed"]),
        ("Starting",            ["Syncing", "Stopping", "Completing", "Removing", "Syncing", "=", "Syncing", "=",          "=",                   "=",       "=",       "=", "Failed"]),
        ("Syncing",             ["=",       "Stopping", "Completing", "Removing", "=",       "=", "=",       "Synced",     "SyncedWithErrors",    "=",       "=",       "=", "Failed"]),
        ("Synced",              ["Syncing", "Stopping", "Completing", "Removing", "Syncing", "=", "=",       "=",          "=",                   "=",       "Syncing", "=", "Failed"]),
        ("SyncedWithErrors",    ["Syncing", "Stopping", "Completing", "Removing", "Syncing", "=", "=",       "=",          "=",                   "=",       "Syncing", "=", "Failed"]),
        ("Stopping",            ["Syncing", "=",        "Completing", "Removing", "Syncing", "=", "=",       "=",          "=",                   "Stopped", "=",       "=", "Failed"]),
        ("Stopped",             ["Syncing", "Stopping", "Completing", "Removing", "Syncing", "=", "=",       "=",          "=",                   "=",       "=",       "=", "Failed"]),
        ("Completing",          ["Syncing", "Stopping", "=",          "Removing", "Syncing", "=", "=",       "Completed",  "CompletedWithErrors", "=",       "=",       "=", "Failed"]),
        ("Completed",           ["Syncing", "Stopping", "Completing", "Removing", "Syncing", "=", "=",       "=",          "=",                   "=",       "=",       "=", "Failed"]),
        ("CompletedWithErrors", ["Syncing", "Stopping", "Completing", "Removing", "Syncing", "=", "=",       "=",          "=",                   "=",       "=",       "=", "Failed"]),
        ("Removing",            ["Syncing", "Stopping", "Completing", "=",        "Syncing", "=", "=",       "=",          "=",                   "=",       "=",       "=", "Failed"]),
        ("Failed",              ["Syncing", "Stopping", "Completing", "Removing", "Syncing", "=", "=",       "=",          "=",                   "=",       "=",       "=", "="]),
        ("IncrementalSyncing",  ["Syncing", "Stopping", "Completing", "Removing", "Syncing", "=", "=",       "Synced",     "SyncedWithErrors",    "=",       "=",       "=", "Failed"]),
        ("Waiting",             ["Syncing", "Stopping", "Completing", "Removing", "Syncing", "=", "=",       "=",          "=",                   "=",       "=",       "=", "Failed"]),
        ("Corrupted",           ["Syncing", "Stopping", "Completing", "Removing", "Syncing", "=", "=",       "=",          "=",                   "=",       "=",       "=", "Failed"]),
    ];
    let names: Vec<&str> = table.iter().map(|(s, _)| *s).collect();
    check_rows(&names, BatchStatus::ALL, batch_status);
    for (name, expected) in table {
        let s = batch_status(name);
        for (event, want) in events.iter().zip(expected) {
            assert_eq!(
                batch_cell(Ok(batch::on_event(s, *event)), s),
                *want,
                "{s} x {event:?}"
            );
        }
    }
}

#[test]
fn batch_api_wakes_and_statuses_entered() {
    #[rustfmt::skip]
    let table: &[(&str, &str, &str)] = &[
        // status               a user queued   users added
        ("Created",             "Starting",     "="),
        ("Starting",            "=",            "="),
        ("Syncing",             "=",            "="),
        ("Synced",              "Starting",     "Starting"),
        ("SyncedWithErrors",    "Starting",     "Starting"),
        ("Stopping",            "=",            "="),
        ("Stopped",             "Starting",     "="),
        ("Completing",          "=",            "="),
        ("Completed",           "Starting",     "="),
        ("CompletedWithErrors", "Starting",     "="),
        ("Removing",            "=",            "="),
        ("Failed",              "Starting",     "="),
        ("IncrementalSyncing",  "=",            "="),
        ("Waiting",             "Starting",     "="),
        ("Corrupted",           "Starting",     "="),
    ];
    let names: Vec<&str> = table.iter().map(|r| r.0).collect();
    check_rows(&names, BatchStatus::ALL, batch_status);
    for (name, queued, added) in table {
        let s = batch_status(name);
        assert_eq!(batch_cell(Ok(batch::on_user_queued(s)), s), *queued, "{s}");
        assert_eq!(batch_cell(Ok(batch::on_users_added(s)), s), *added, "{s}");
    }
    let never: Vec<BatchStatus> = BatchStatus::ALL
        .iter()
        .copied()
        .filter(|s| !batch::entered().contains(s))
        .collect();
    assert_eq!(
        never,
        [
            BatchStatus::Created,
            BatchStatus::IncrementalSyncing,
            BatchStatus::Waiting,
            BatchStatus::Corrupted
        ]
    );
}

#[test]
fn batch_refusals_name_the_batch_and_the_statuses_that_accept() {
    let msg = |s, a| {
        batch::on_action(s, a, false)
            .expect_err("refused")
            .message("B1")
    };
    assert_eq!(
        msg(BatchStatus::Created, BatchAction::Complete),
        "the batch B1 can be completed only when it is Synced, SyncedWithErrors or Stopped; it is Created"
    );
    assert_eq!(
        msg(BatchStatus::Stopped, BatchAction::SyncNow),
        "syncNow needs a Synced or SyncedWithErrors batch; B1 is Stopped"
    );
    assert_eq!(
        msg(BatchStatus::Starting, BatchAction::Start),
        "the batch B1 has already been started (Starting)"
    );
    let set = |s, c| batch::on_set(s, c).expect_err("refused").message("B1");
    assert_eq!(
        set(BatchStatus::Syncing, Change::Users),
        "the batch B1 is Syncing; users can be added or changed only while it is Created, Synced, SyncedWithErrors or Stopped"
    );
    assert_eq!(
        set(BatchStatus::Stopped, Change::StartAfter),
        "startAfter can be changed only while the batch is Created or Failed; B1 is Stopped"
    );
}

#[test]
fn a_new_batch_is_stopped_and_told_apart_by_never_having_started() {
    let mut b = crate::types::BatchRecord::new("B1", uuid::Uuid::new_v4());
    assert_eq!(
        b.status,
        BatchStatus::Stopped,
        "Exchange Online shows a new batch Stopped"
    );
    assert_eq!(
        batch::on_action(b.status, BatchAction::Start, true),
        Ok(BatchStatus::Starting),
        "-AutoStart"
    );
    assert!(batch::never_started(&b));
    assert_eq!(batch::rules_status(&b), BatchStatus::Created);
    assert!(batch::shown_as(&b, BatchStatus::Created));
    assert!(batch::shown_as(&b, BatchStatus::Stopped));
    assert!(batch::on_set_batch(&b, Change::StartAfter).is_ok());
    let never = |a| {
        let r = batch::on_batch_action(&b, a, false).expect_err("refused");
        assert_eq!(r.status, BatchStatus::Stopped, "names the status shown");
        r.reason
    };
    assert_eq!(never(BatchAction::Stop), batch::Reason::NotStarted);
    assert_eq!(never(BatchAction::Complete), batch::Reason::NeverStarted);
    assert_eq!(never(BatchAction::SyncNow), batch::Reason::NeverStarted);
    let r = user::on_user_action(UserStatus::Queued, UserAction::Stop, &b, 0).expect_err("waits");
    assert_eq!(
        (r.reason, r.status_name()),
        (user::Reason::BatchNotStarted, "Stopped")
    );
    let now = crate::types::now();
    assert!(!batch::start_due(&b, now), "no StartAfter: waits for Start");
    b.start_after = Some(now + chrono::Duration::hours(1));
    assert!(!batch::start_due(&b, now));
    b.start_after = Some(now);
    assert!(batch::start_due(&b, now), "StartAfter has come");
    b.start_after = None;
    b.auto_start = true;
    assert!(batch::start_due(&b, now), "flagged AutoStart");

    // Started once (New-MigrationBatch -AutoStart sets started_at), then stopped: a plain
    // Stopped batch.
    b.started_at = Some(now);
    b.start_after = Some(now);
    assert!(!batch::never_started(&b));
    assert_eq!(batch::rules_status(&b), BatchStatus::Stopped);
    assert_eq!(
        batch::on_batch_action(&b, BatchAction::Complete, false),
        Ok(BatchStatus::Completing)
    );
    assert!(!batch::shown_as(&b, BatchStatus::Created));
    assert!(batch::shown_as(&b, BatchStatus::Stopped));
    assert!(
        !batch::start_due(&b, now),
        "a stopped batch never restarts on its own"
    );
    let refusal = batch::on_set_batch(&b, Change::StartAfter).expect_err("refused");
    assert_eq!(refusal.status, BatchStatus::Stopped);
}

#[test]
fn batch_flags_show_the_pending_request() {
    let table = [
        (None, "None"),
        (Some(BatchAction::Start), "Start"),
        (Some(BatchAction::Stop), "Stop"),
        (Some(BatchAction::Complete), "None"),
        (Some(BatchAction::Remove), "Remove"),
        (Some(BatchAction::SyncNow), "Start"),
    ];
    for (a, want) in table {
        assert_eq!(batch::flags(a), want, "{a:?}");
    }
}

// ---- users ------------------------------------------------------------------------------------

#[test]
fn every_user_status_and_action() {
    let idle = BatchStatus::Synced;
    let running = BatchStatus::Syncing;
    #[rustfmt::skip]
    let table: &[(&str, [&str; 7])] = &[
        // status                 Start            Stop idle, 0 passes  idle, 1 pass           batch running       SyncNow        Remove idle  Remove running
        ("Queued",                ["!NotStartable", "Stopped",          "IncrementalStopped",  "Stopping",         "!NotSynced",  "removed",   "!Busy"]),
        ("Starting",              ["!NotStartable", "Stopped",          "IncrementalStopped",  "Stopping",         "!NotSynced",  "!Busy",     "!Busy"]),
        ("Syncing",               ["!NotStartable", "Stopped",          "IncrementalStopped",  "Stopping",         "!NotSynced",  "!Busy",     "!Busy"]),
        ("Synced",                ["!NotStartable", "Stopped",          "IncrementalStopped",  "Stopping",         "Queued",      "removed",   "removed"]),
        ("IncrementalSyncing",    ["!NotStartable", "Stopped",          "IncrementalStopped",  "Stopping",         "!NotSynced",  "!Busy",     "!Busy"]),
        ("Failed",                ["Queued",        "!NothingToStop",   "!NothingToStop",      "!NothingToStop",   "!NotSynced",  "removed",   "removed"]),
        ("IncrementalFailed",     ["Queued",        "!NothingToStop",   "!NothingToStop",      "!NothingToStop",   "Queued",      "removed",   "removed"]),
        ("Stopping",              ["!NotStartable", "!AlreadyStopping", "!AlreadyStopping",    "!AlreadyStopping", "!NotSynced",  "!Busy",     "!Busy"]),
        ("Stopped",               ["Queued",        "!AlreadyStopped",  "!AlreadyStopped",     "!AlreadyStopped",  "!NotSynced",  "removed",   "removed"]),
        ("IncrementalStopped",    ["Queued",        "!AlreadyStopped",  "!AlreadyStopped",     "!AlreadyStopped",  "!NotSynced",  "removed",   "removed"]),
        ("Completing",            ["!NotStartable", "!NothingToStop",   "!NothingToStop",      "!NothingToStop",   "!NotSynced",  "!Busy",     "!Busy"]),
        ("Completed",             ["!NotStartable", "!NothingToStop",   "!NothingToStop",      "!NothingToStop",   "!NotSynced",  "removed",   "removed"]),
        ("CompletedWithWarnings", ["!NotStartable", "!NothingToStop",   "!NothingToStop",      "!NothingToStop",   "!NotSynced",  "removed",   "removed"]),
        ("Removing",              ["!NotStartable", "!NothingToStop",   "!NothingToStop",      "!NothingToStop",   "!NotSynced",  "!Busy",     "!Busy"]),
        ("Validating",            ["!NotStartable", "Stopped",          "IncrementalStopped",  "Stopping",         "!NotSynced",  "!Busy",     "!Busy"]),
    ];
    let names: Vec<&str> = table.iter().map(|(s, _)| *s).collect();
    check_rows(&names, UserStatus::ALL, user_status);
    for (name, want) in table {
        let s = user_status(name);
        let got = [
            user_cell(user::on_action(s, UserAction::Start, idle, 0)),
            user_cell(user::on_action(s, UserAction::Stop, idle, 0)),
            user_cell(user::on_action(s, UserAction::Stop, idle, 1)),
            user_cell(user::on_action(s, UserAction::Stop, running, 0)),
            user_cell(user::on_action(s, UserAction::SyncNow, idle, 1)),
            user_cell(user::on_action(s, UserAction::Remove, idle, 0)),
            user_cell(user::on_action(s, UserAction::Remove, running, 0)),
        ];
        assert_eq!(got, want.map(String::from), "{s}");
    }
}

#[test]
fn every_batch_status_gates_user_actions() {
    #[rustfmt::skip]
    let table: &[(&str, [&str; 4])] = &[
        // batch status         Start a Failed user   Stop a Synced user (1 pass)  SyncNow a Synced user  Remove a Stopped user
        ("Created",             ["!BatchNotStarted",  "!BatchNotStarted",          "!BatchNotStarted",    "removed"]),
        ("Starting",            ["Queued",            "Stopping",                  "Queued",              "removed"]),
        ("Syncing",             ["Queued",            "Stopping",                  "Queued",              "removed"]),
        ("Synced",              ["Queued",            "IncrementalStopped",        "Queued",              "removed"]),
        ("SyncedWithErrors",    ["Queued",            "IncrementalStopped",        "Queued",              "removed"]),
        ("Stopping",            ["!BatchBusy",        "!BatchBusy",                "!BatchBusy",          "removed"]),
        ("Stopped",             ["Queued",            "IncrementalStopped",        "Queued",              "removed"]),
        ("Completing",          ["!BatchBusy",        "!BatchBusy",                "!BatchBusy",          "removed"]),
        ("Completed",           ["Queued",            "IncrementalStopped",        "Queued",              "removed"]),
        ("CompletedWithErrors", ["Queued",            "IncrementalStopped",        "Queued",              "removed"]),
        ("Removing",            ["!BatchBusy",        "!BatchBusy",                "!BatchBusy",          "!Busy"]),
        ("Failed",              ["Queued",            "IncrementalStopped",        "Queued",              "removed"]),
        ("IncrementalSyncing",  ["Queued",            "Stopping",                  "Queued",              "removed"]),
        ("Waiting",             ["Queued",            "IncrementalStopped",        "Queued",              "removed"]),
        ("Corrupted",           ["!BatchBusy",        "!BatchBusy",                "!BatchBusy",          "removed"]),
    ];
    let names: Vec<&str> = table.iter().map(|(s, _)| *s).collect();
    check_rows(&names, BatchStatus::ALL, batch_status);
    for (name, want) in table {
        let b = batch_status(name);
        let got = [
            user_cell(user::on_action(UserStatus::Failed, UserAction::Start, b, 0)),
            user_cell(user::on_action(UserStatus::Synced, UserAction::Stop, b, 1)),
            user_cell(user::on_action(
                UserStatus::Synced,
                UserAction::SyncNow,
                b,
                1,
            )),
            user_cell(user::on_action(
                UserStatus::Stopped,
                UserAction::Remove,
                b,
                0,
            )),
        ];
        assert_eq!(got, want.map(String::from), "batch {b}");
    }
    // A refusal about the batch names the batch's status, one about the user the user's.
    let r = user::on_action(
        UserStatus::Failed,
        UserAction::Start,
        BatchStatus::Stopping,
        0,
    )
    .expect_err("refused");
    assert_eq!(r.status_name(), "Stopping");
    assert_eq!(
        r.message("ann@contoso.test", "B1"),
        "the batch B1 of ann@contoso.test is Stopping; try again later"
    );
    let r = user::on_action(
        UserStatus::Completed,
        UserAction::Start,
        BatchStatus::Synced,
        0,
    )
    .expect_err("refused");
    assert_eq!(r.status_name(), "Completed");
}

#[test]
fn every_user_status_and_worker_event() {
    use UserEvent::*;
    #[rustfmt::skip]
    let table: &[(&str, [&str; 11])] = &[
        // status                 re-queued by: start complete  syncnow   stop remove  restart    batch stop, 0 passes / 1 pass     stop 0 passes / 1 pass (own, cancelled pass)
        ("Queued",                ["=",      "=",      "=",      "=", "=",  "=",       "Stopped", "IncrementalStopped", "Stopped", "IncrementalStopped", "="]),
        ("Starting",              ["Queued", "=",      "=",      "=", "=",  "Queued",  "Stopped", "IncrementalStopped", "Stopped", "IncrementalStopped", "Queued"]),
        ("Syncing",               ["=",      "=",      "=",      "=", "=",  "Queued",  "Stopped", "IncrementalStopped", "Stopped", "IncrementalStopped", "Queued"]),
        ("Synced",                ["=",      "Queued", "Queued", "=", "=",  "=",       "=",       "=",                  "Stopped", "IncrementalStopped", "Queued"]),
        ("IncrementalSyncing",    ["=",      "=",      "=",      "=", "=",  "Queued",  "Stopped", "IncrementalStopped", "Stopped", "IncrementalStopped", "Queued"]),
        ("Failed",                ["Queued", "=",      "=",      "=", "=",  "=",       "=",       "=",                  "=",       "=",                  "Queued"]),
        ("IncrementalFailed",     ["Queued", "=",      "=",      "=", "=",  "=",       "=",       "=",                  "=",       "=",                  "Queued"]),
        ("Stopping",              ["Queued", "=",      "=",      "=", "=",  "=",       "Stopped", "IncrementalStopped", "Stopped", "IncrementalStopped", "Queued"]),
        ("Stopped",               ["Queued", "Queued", "=",      "=", "=",  "=",       "=",       "=",                  "=",       "=",                  "Queued"]),
        ("IncrementalStopped",    ["Queued", "Queued", "=",      "=", "=",  "=",       "=",       "=",                  "=",       "=",                  "Queued"]),
        ("Completing",            ["=",      "=",      "=",      "=", "=",  "Queued",  "=",       "=",                  "Stopped", "IncrementalStopped", "Queued"]),
        ("Completed",             ["=",      "=",      "=",      "=", "=",  "=",       "=",       "=",                  "=",       "=",                  "Queued"]),
        ("CompletedWithWarnings", ["=",      "=",      "=",      "=", "=",  "=",       "=",       "=",                  "=",       "=",                  "Queued"]),
        ("Removing",              ["=",      "=",      "=",      "=", "=",  "=",       "=",       "=",                  "Stopped", "IncrementalStopped", "Queued"]),
        ("Validating",            ["=",      "=",      "=",      "=", "=",  "=",       "=",       "=",                  "Stopped", "IncrementalStopped", "Queued"]),
    ];
    // The last column: the worker handled the user's own Start or SyncNow.
    let names: Vec<&str> = table.iter().map(|(s, _)| *s).collect();
    check_rows(&names, UserStatus::ALL, user_status);
    for (name, want) in table {
        let s = user_status(name);
        let got = [
            same(user::on_event(s, 0, Requeued(BatchAction::Start)), s),
            same(user::on_event(s, 0, Requeued(BatchAction::Complete)), s),
            same(user::on_event(s, 0, Requeued(BatchAction::SyncNow)), s),
            same(user::on_event(s, 0, Requeued(BatchAction::Stop)), s),
            same(user::on_event(s, 0, Requeued(BatchAction::Remove)), s),
            same(user::on_event(s, 0, WorkerRestarted), s),
            same(user::on_event(s, 0, BatchStopped), s),
            same(user::on_event(s, 1, BatchStopped), s),
            same(user::on_event(s, 0, Handled(UserAction::Stop)), s),
            same(user::on_event(s, 1, Handled(UserAction::Stop)), s),
            same(user::on_event(s, 1, Handled(UserAction::SyncNow)), s),
        ];
        assert_eq!(got, want.map(String::from), "{s}");
        // A stop means the same whoever asks, and whether a pass was cancelled or not.
        for passes in [0, 1] {
            assert_eq!(
                user::on_event(s, passes, Handled(UserAction::Stop)),
                user::on_event(
                    s,
                    passes,
                    PassEnded {
                        end: PassEnd::Stopped,
                        completing: false
                    }
                ),
                "{s}"
            );
            assert_eq!(
                user::on_event(s, passes, Handled(UserAction::Stop)),
                user::on_stop(s, passes),
                "{s}"
            );
        }
        assert_eq!(user::on_event(s, 0, Handled(UserAction::Remove)), s, "{s}");
    }
}

#[test]
fn a_pass_starts_and_ends() {
    use UserEvent::*;
    let synced = PassEnd::Synced {
        skipped_items: false,
    };
    let skipped = PassEnd::Synced {
        skipped_items: true,
    };
    #[rustfmt::skip]
    let table: &[(UserEvent, u32, &str)] = &[
        (PassStarted { completing: false },                       0, "Syncing"),
        (PassStarted { completing: false },                       1, "IncrementalSyncing"),
        (PassStarted { completing: true },                        0, "Completing"),
        (PassStarted { completing: true },                        1, "Completing"),
        (PassEnded { end: synced, completing: false },            0, "Synced"),
        (PassEnded { end: synced, completing: false },            1, "Synced"),
        (PassEnded { end: skipped, completing: false },           1, "Synced"),
        (PassEnded { end: synced, completing: true },             1, "Completed"),
        (PassEnded { end: skipped, completing: true },            1, "CompletedWithWarnings"),
        (PassEnded { end: PassEnd::Failed, completing: false },   0, "Failed"),
        (PassEnded { end: PassEnd::Failed, completing: false },   1, "IncrementalFailed"),
        (PassEnded { end: PassEnd::Failed, completing: true },    1, "IncrementalFailed"),
        (PassEnded { end: PassEnd::Stopped, completing: false },  0, "Stopped"),
        (PassEnded { end: PassEnd::Stopped, completing: false },  1, "IncrementalStopped"),
        (PassEnded { end: PassEnd::Interrupted, completing: false }, 1, "Queued"),
        (PassEnded { end: PassEnd::Interrupted, completing: true },  0, "Queued"),
    ];
    for (event, passes, want) in table {
        // A pass starts for a user waiting to run and ends for one whose pass runs.
        let from: &[UserStatus] = match event {
            PassStarted { .. } => &[UserStatus::Queued],
            _ => &[
                UserStatus::Syncing,
                UserStatus::IncrementalSyncing,
                UserStatus::Completing,
                UserStatus::Stopping,
            ],
        };
        for &from in from {
            assert_eq!(
                user::on_event(from, *passes, *event).as_str(),
                *want,
                "{from} x {event:?} after {passes} passes"
            );
        }
    }
}

#[test]
fn every_user_status_summary_state_and_sets() {
    #[rustfmt::skip]
    let table: &[(&str, &str, &str, [bool; 6])] = &[
        // status                 summary      state        runnable startable syncable interrupted stopped-with-batch to-start
        ("Queued",                "Active",    "Waiting",   [true,  false, false, false, true,  true]),
        ("Starting",              "Active",    "Active",    [true,  false, false, true,  true,  true]),
        ("Syncing",               "Active",    "Active",    [false, false, false, true,  true,  false]),
        ("Synced",                "Synced",    "Active",    [false, false, true,  false, false, false]),
        ("IncrementalSyncing",    "Synced",    "Active",    [false, false, false, true,  true,  false]),
        ("Failed",                "Failed",    "Failed",    [false, true,  false, false, false, true]),
        ("IncrementalFailed",     "Failed",    "Failed",    [false, true,  true,  false, false, true]),
        ("Stopping",              "Active",    "Active",    [false, false, false, false, true,  true]),
        ("Stopped",               "Stopped",   "Stopped",   [false, true,  false, false, false, true]),
        ("IncrementalStopped",    "Stopped",   "Stopped",   [false, true,  false, false, false, true]),
        ("Completing",            "Active",    "Active",    [false, false, false, true,  false, false]),
        ("Completed",             "Completed", "Completed", [false, false, false, false, false, false]),
        ("CompletedWithWarnings", "Failed",    "Completed", [false, false, false, false, false, false]),
        ("Removing",              "Active",    "Active",    [false, false, false, false, false, false]),
        ("Validating",            "Active",    "Active",    [false, false, false, false, false, false]),
    ];
    let names: Vec<&str> = table.iter().map(|r| r.0).collect();
    check_rows(&names, UserStatus::ALL, user_status);
    for (name, summary, state, sets) in table {
        let s = user_status(name);
        assert_eq!(user::summary(s).as_str(), *summary, "{s}");
        assert_eq!(s.summary().as_str(), *summary, "{s}");
        assert_eq!(user::state(s).as_str(), *state, "{s}");
        let got = [
            user::runnable(s),
            user::startable(s),
            user::syncable(s),
            user::interrupted(s),
            user::stopped_with_batch(s),
            user::to_start(s),
        ];
        assert_eq!(got, *sets, "{s}");
    }
    assert_eq!(
        StatusSummary::Stopped.statuses(),
        [UserStatus::Stopped, UserStatus::IncrementalStopped]
    );
    // The rules' grouping keeps a running incremental sync in progress and a completion with
    // warnings completed: neither is removable mid-pass nor retried by Start.
    assert_eq!(
        user::phase(UserStatus::IncrementalSyncing),
        StatusSummary::Active
    );
    assert_eq!(
        user::phase(UserStatus::CompletedWithWarnings),
        StatusSummary::Completed
    );
    let never: Vec<UserStatus> = UserStatus::ALL
        .iter()
        .copied()
        .filter(|s| !user::entered().contains(s))
        .collect();
    assert_eq!(
        never,
        [
            UserStatus::Starting,
            UserStatus::Removing,
            UserStatus::Validating
        ]
    );
    assert_eq!(MigrationState::Waiting.to_string(), "Waiting");
}

#[test]
fn the_worker_rule_decides_incremental_stopped() {
    // A synced user that never completed a pass (state edited by hand, or from an older
    // build) is Stopped, whoever stops it: the api and the worker once disagreed here.
    assert_eq!(
        user::on_action(UserStatus::Synced, UserAction::Stop, BatchStatus::Synced, 0),
        Ok(Outcome::Becomes(UserStatus::Stopped))
    );
    assert_eq!(user::on_stop(UserStatus::Synced, 0), UserStatus::Stopped);
    // Batch Start re-queues the worker's six statuses, from the api as from the worker.
    assert_eq!(
        user::all_where(user::requeued_by_start),
        [
            UserStatus::Starting,
            UserStatus::Failed,
            UserStatus::IncrementalFailed,
            UserStatus::Stopping,
            UserStatus::Stopped,
            UserStatus::IncrementalStopped,
        ]
    );
}

// ---- docs -------------------------------------------------------------------------------------

const BEGIN: &str = "<!-- lifecycle:begin -->\n";
const END: &str = "<!-- lifecycle:end -->";

#[test]
fn design_md_states_the_rendered_model() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/design.md");
    let text = std::fs::read_to_string(&path).expect("read docs/design.md");
    let start = text
        .find(BEGIN)
        .expect("docs/design.md has <!-- lifecycle:begin -->")
        + BEGIN.len();
    let end = start
        + text[start..]
            .find(END)
            .expect("docs/design.md has <!-- lifecycle:end -->");
    let rendered = render_markdown();
    if std::env::var("IMAPMIGRATION_BLESS_DOCS").as_deref() == Ok("1") {
        let blessed = format!("{}{rendered}{}", &text[..start], &text[end..]);
        if blessed != text {
            std::fs::write(&path, blessed).expect("write docs/design.md");
        }
        return;
    }
    assert!(
        text[start..end] == rendered,
        "docs/design.md (\"Statuses\") differs from lifecycle::render_markdown(); \
         run `IMAPMIGRATION_BLESS_DOCS=1 cargo test -p imapmigration-store design_md` to rewrite it.\n\
         --- rendered ---\n{rendered}"
    );
}

#[test]
fn rendering_covers_every_status() {
    let md = render_markdown();
    for s in BatchStatus::ALL {
        assert!(md.contains(&format!("| `{s}` |")), "{s}");
    }
    for s in UserStatus::ALL {
        assert!(md.contains(&format!("| `{s}` |")), "{s}");
    }
}

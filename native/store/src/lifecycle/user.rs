//! User statuses: what Start-, Stop-, Remove-MigrationUser and Set-MigrationUser -SyncNow do,
//! how passes and batch actions move a user, and the `StatusSummary` and `State` roll-ups
//! (docs/compatibility.md §8.3 to §8.5).

use super::{MigrationState, batch};
use crate::types::{BatchAction, BatchRecord, BatchStatus, StatusSummary, UserAction, UserStatus};

use UserStatus::*;

/// Every user status for which `pred` holds, in declaration order.
pub fn all_where(pred: impl Fn(UserStatus) -> bool) -> Vec<UserStatus> {
    UserStatus::ALL
        .iter()
        .copied()
        .filter(|s| pred(*s))
        .collect()
}

// ---- roll-ups ---------------------------------------------------------------------------------

/// The `StatusSummary` a status rolls up into (docs/compatibility.md §8.4), as Exchange groups
/// them: an incremental sync in progress is `Synced` (the user has finished its initial sync),
/// a completion with warnings is `Failed`. Every other status is in its [`phase`].
pub fn summary(status: UserStatus) -> StatusSummary {
    match status {
        IncrementalSyncing => StatusSummary::Synced,
        CompletedWithWarnings => StatusSummary::Failed,
        s => phase(s),
    }
}

/// Where a status is in the migration, as the rules and the batch counters group it: every
/// status in progress is `Active` (`Validating` too: the user is being worked on), `Synced`
/// waits for the next sync, completed ones (with or without warnings) are `Completed`. It
/// differs from [`summary`] where Exchange's roll-up is not a statement about progress: a
/// user in an incremental sync has a pass running, and one completed with warnings needs no
/// retry.
pub fn phase(status: UserStatus) -> StatusSummary {
    match status {
        Queued | Starting | Syncing | IncrementalSyncing | Completing | Stopping | Removing
        | Validating => StatusSummary::Active,
        Synced => StatusSummary::Synced,
        Failed | IncrementalFailed => StatusSummary::Failed,
        Stopped | IncrementalStopped => StatusSummary::Stopped,
        Completed | CompletedWithWarnings => StatusSummary::Completed,
    }
}

impl UserStatus {
    /// The `StatusSummary` this status rolls up into ([`summary`]).
    pub fn summary(self) -> StatusSummary {
        summary(self)
    }
}

impl StatusSummary {
    /// The user statuses that roll up into this summary.
    pub fn statuses(self) -> Vec<UserStatus> {
        all_where(|s| summary(s) == self)
    }
}

/// The `State` of a user (docs/compatibility.md §8.5): as its batch's would be, `Queued` being
/// `Waiting` and `Synced` `Active` (incremental syncs follow).
pub fn state(status: UserStatus) -> MigrationState {
    match phase(status) {
        StatusSummary::Active if status == Queued => MigrationState::Waiting,
        StatusSummary::Active | StatusSummary::Synced => MigrationState::Active,
        StatusSummary::Failed => MigrationState::Failed,
        StatusSummary::Stopped => MigrationState::Stopped,
        StatusSummary::Completed => MigrationState::Completed,
    }
}

/// The `Flags` of a user: the pending admin request (`Start` also for SyncNow).
pub fn flags(action: Option<UserAction>) -> &'static str {
    match action {
        Some(UserAction::Start | UserAction::SyncNow) => "Start",
        Some(UserAction::Stop) => "Stop",
        Some(UserAction::Remove) => "Remove",
        None => "None",
    }
}

// ---- which users a step touches ----------------------------------------------------------------

/// Whether a user's next pass is incremental: it has completed a pass before.
pub fn incremental(passes: u32) -> bool {
    passes > 0
}

/// Users the worker runs as soon as a slot is free: `Queued`, or `Starting` (picked, then
/// interrupted before its pass began).
pub fn runnable(status: UserStatus) -> bool {
    matches!(status, Queued | Starting)
}

/// A failed or stopped user: one Start-MigrationUser retries.
pub fn startable(status: UserStatus) -> bool {
    matches!(
        phase(status),
        StatusSummary::Failed | StatusSummary::Stopped
    )
}

/// A user Set-MigrationUser -SyncNow syncs again: one whose initial sync finished (`Synced`),
/// or whose last incremental sync failed.
pub fn syncable(status: UserStatus) -> bool {
    matches!(status, Synced | IncrementalFailed)
}

/// Whether the worker's handling of the batch action `action` re-queues a user in `status`:
/// - Start: the failed and stopped users, and those a stop or a start left half-way
///   (`Stopping`, `Starting`);
/// - Complete: the synced and stopped users, for a last incremental pass;
/// - SyncNow (and the incremental schedule): the synced users.
pub fn requeued_by(action: BatchAction, status: UserStatus) -> bool {
    match action {
        BatchAction::Start => startable(status) || matches!(status, Stopping | Starting),
        BatchAction::Complete => matches!(status, Synced | Stopped | IncrementalStopped),
        BatchAction::SyncNow => status == Synced,
        BatchAction::Stop | BatchAction::Remove => false,
    }
}

/// [`requeued_by`] Start-MigrationBatch.
pub fn requeued_by_start(status: UserStatus) -> bool {
    requeued_by(BatchAction::Start, status)
}

/// A user Start-MigrationBatch acts on: one it re-queues, or one already waiting to run.
pub fn to_start(status: UserStatus) -> bool {
    requeued_by_start(status) || runnable(status)
}

/// A user whose pass a dead worker left running: the next worker re-queues it, and the
/// engine's state rows make the pass resume without duplicates.
pub fn interrupted(status: UserStatus) -> bool {
    matches!(status, Starting | Syncing | IncrementalSyncing | Completing)
}

/// A user a batch's Stop stops (once no pass runs): every user waiting, running or stopping.
/// Synced users stay `Synced`: stopping the batch ends their incremental syncs.
pub fn stopped_with_batch(status: UserStatus) -> bool {
    matches!(
        status,
        Queued | Starting | Syncing | IncrementalSyncing | Stopping
    )
}

/// The status a stop leaves a user in (its own Stop, its batch's, or a cancelled pass):
/// `IncrementalStopped` once it has completed a pass, else `Stopped`. A failed, stopped or
/// completed user keeps its status.
pub fn on_stop(status: UserStatus, passes: u32) -> UserStatus {
    match phase(status) {
        StatusSummary::Active | StatusSummary::Synced if incremental(passes) => IncrementalStopped,
        StatusSummary::Active | StatusSummary::Synced => Stopped,
        StatusSummary::Failed | StatusSummary::Stopped | StatusSummary::Completed => status,
    }
}

// ---- what the worker does ---------------------------------------------------------------------

/// How a user's pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PassEnd {
    /// The pass copied everything it planned; `skipped_items`: whether the user has skipped
    /// items.
    Synced {
        /// Whether items were skipped (recorded in `skipped_items`).
        skipped_items: bool,
    },
    /// The pass (or building its job) failed.
    Failed,
    /// An admin's Stop cancelled it.
    Stopped,
    /// The worker shut down; the next one resumes the pass.
    Interrupted,
}

/// Something the worker did that moves a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// The worker handled the batch action (see [`requeued_by`]).
    Requeued(BatchAction),
    /// A new worker took over from a dead one (see [`interrupted`]).
    WorkerRestarted,
    /// The user's batch stopped and no pass of it runs (see [`stopped_with_batch`]).
    BatchStopped,
    /// The worker handled the user's own requested action while no pass of the user ran.
    /// Remove deletes the user; its status does not change before.
    Handled(UserAction),
    /// The user's pass starts; `completing`: in a Completing batch.
    PassStarted {
        /// Whether the batch is Completing (the user's last pass).
        completing: bool,
    },
    /// The user's pass ended; `completing`: in a Completing batch.
    PassEnded {
        /// How.
        end: PassEnd,
        /// Whether the batch is Completing.
        completing: bool,
    },
}

/// The status of a user in `status` with `passes` completed passes after `event`. An event
/// that does not concern the user's status leaves it alone.
pub fn on_event(status: UserStatus, passes: u32, event: Event) -> UserStatus {
    match event {
        Event::Requeued(action) if requeued_by(action, status) => Queued,
        Event::WorkerRestarted if interrupted(status) => Queued,
        Event::BatchStopped if stopped_with_batch(status) => on_stop(status, passes),
        Event::Handled(UserAction::Start | UserAction::SyncNow) => Queued,
        Event::Handled(UserAction::Stop) => on_stop(status, passes),
        Event::PassStarted { completing: true } => Completing,
        Event::PassStarted { .. } if incremental(passes) => IncrementalSyncing,
        Event::PassStarted { .. } => Syncing,
        Event::PassEnded { end, completing } => match end {
            PassEnd::Synced { skipped_items } if completing => {
                if skipped_items {
                    CompletedWithWarnings
                } else {
                    Completed
                }
            }
            PassEnd::Synced { .. } => Synced,
            PassEnd::Failed if incremental(passes) => IncrementalFailed,
            PassEnd::Failed => Failed,
            PassEnd::Stopped => on_stop(status, passes),
            PassEnd::Interrupted => Queued,
        },
        _ => status,
    }
}

// ---- what the admin may do --------------------------------------------------------------------

/// Why an admin's action on a user is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// SyncNow: the user has not finished its initial sync.
    NotSynced,
    /// Start: the user is neither failed nor stopped.
    NotStartable,
    /// Stop: the user is stopped already.
    AlreadyStopped,
    /// Stop: a Stop is under way.
    AlreadyStopping,
    /// Stop: the user is failed, completed or being removed.
    NothingToStop,
    /// Remove: the user is being migrated (a pass runs, or it is queued in a running batch).
    Busy,
    /// The user's batch was never started.
    BatchNotStarted,
    /// The user's batch is on its way to another status.
    BatchBusy,
}

impl Reason {
    /// Whether the refusal is about the batch (its status is the one to name).
    pub fn about_batch(self) -> bool {
        matches!(self, Reason::BatchNotStarted | Reason::BatchBusy)
    }
}

/// A refused admin action on a user: the user's and its batch's status, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Refusal {
    /// The user's status.
    pub status: UserStatus,
    /// Its batch's status.
    pub batch: BatchStatus,
    /// Why.
    pub reason: Reason,
}

impl Refusal {
    /// The status the refusal names: the batch's when the batch refused, else the user's.
    pub fn status_name(&self) -> &'static str {
        if self.reason.about_batch() {
            self.batch.as_str()
        } else {
            self.status.as_str()
        }
    }

    /// The refusal as the admin reads it, for user `email` of batch `batch_name`.
    pub fn message(&self, email: &str, batch_name: &str) -> String {
        let (s, b) = (self.status, self.batch);
        match self.reason {
            Reason::NotSynced => format!(
                "syncNow needs a user that finished its initial sync (Synced); {email} is {s}"
            ),
            Reason::NotStartable => {
                format!("the user {email} is {s}; only a failed or stopped user can be started")
            }
            Reason::AlreadyStopped => format!("the user {email} is already stopped"),
            Reason::AlreadyStopping => format!("the user {email} is already stopping"),
            Reason::NothingToStop => {
                format!("the user {email} is {s}; there is nothing to stop")
            }
            Reason::Busy => format!(
                "the user {email} can't be removed while it is {s} in batch {batch_name} ({b}); stop the batch first (Stop-MigrationBatch)"
            ),
            Reason::BatchNotStarted => format!(
                "the batch {batch_name} of {email} has not been started; run Start-MigrationBatch"
            ),
            Reason::BatchBusy => {
                format!("the batch {batch_name} of {email} is {b}; try again later")
            }
        }
    }
}

/// What an admin's action leaves of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The user now has this status (with the action recorded for the worker where the worker
    /// has something left to do: `Queued`, `Stopping`).
    Becomes(UserStatus),
    /// The user is deleted at once with its state; mail on the target stays.
    Removed,
}

/// Whether a user of a batch in `batch` may be started, stopped or synced now.
pub fn batch_allows(batch: BatchStatus) -> Result<(), Reason> {
    match batch {
        BatchStatus::Created => Err(Reason::BatchNotStarted),
        BatchStatus::Removing
        | BatchStatus::Completing
        | BatchStatus::Stopping
        | BatchStatus::Corrupted => Err(Reason::BatchBusy),
        _ => Ok(()),
    }
}

/// What Start-, Stop-, Remove-MigrationUser and Set-MigrationUser -SyncNow do to a user in
/// `status` with `passes` completed passes, in a batch in `batch`.
/// - Start retries a failed or stopped user, SyncNow syncs a synced one again: it is
///   `Queued` (the api then wakes the batch, [`batch::on_user_queued`]);
/// - Stop: in a running batch the user is `Stopping` until the worker stopped its pass; in
///   an idle one it is stopped at once ([`on_stop`]);
/// - Remove: only a user that is not being migrated.
pub fn on_action(
    status: UserStatus,
    action: UserAction,
    batch: BatchStatus,
    passes: u32,
) -> Result<Outcome, Refusal> {
    let refuse = |reason| Refusal {
        status,
        batch,
        reason,
    };
    let own = |ok: bool, reason| if ok { Ok(()) } else { Err(refuse(reason)) };
    match action {
        UserAction::SyncNow => {
            own(syncable(status), Reason::NotSynced)?;
            batch_allows(batch).map_err(refuse)?;
            Ok(Outcome::Becomes(Queued))
        }
        UserAction::Start => {
            own(startable(status), Reason::NotStartable)?;
            batch_allows(batch).map_err(refuse)?;
            Ok(Outcome::Becomes(Queued))
        }
        UserAction::Stop => {
            match status {
                Queued | Starting | Syncing | IncrementalSyncing | Synced | Validating => {}
                Stopped | IncrementalStopped => return Err(refuse(Reason::AlreadyStopped)),
                Stopping => return Err(refuse(Reason::AlreadyStopping)),
                Failed
                | IncrementalFailed
                | Completing
                | Completed
                | CompletedWithWarnings
                | Removing => return Err(refuse(Reason::NothingToStop)),
            }
            batch_allows(batch).map_err(refuse)?;
            Ok(Outcome::Becomes(if batch::running(batch) {
                Stopping
            } else {
                on_stop(status, passes)
            }))
        }
        UserAction::Remove => {
            let busy = phase(status) == StatusSummary::Active
                && (status != Queued || batch::running(batch))
                || batch == BatchStatus::Removing;
            own(!busy, Reason::Busy)?;
            Ok(Outcome::Removed)
        }
    }
}

/// [`on_action`] for a user of the batch `b`, by the rules of the batch's
/// [`batch::rules_status`] (the users of a batch never started wait for
/// Start-MigrationBatch); a refusal names the status `b` shows.
pub fn on_user_action(
    status: UserStatus,
    action: UserAction,
    b: &BatchRecord,
    passes: u32,
) -> Result<Outcome, Refusal> {
    on_action(status, action, batch::rules_status(b), passes).map_err(|r| Refusal {
        batch: b.status,
        ..r
    })
}

/// Whether re-batching (New-MigrationBatch `-Users`, `-UserIds`) may move a user in `status`
/// out of the batch `b`: exactly when Remove-MigrationUser could take it out, i.e. no pass of
/// it runs or may start, and its batch is not being removed.
pub fn movable(status: UserStatus, b: &BatchRecord) -> Result<(), Refusal> {
    on_user_action(status, UserAction::Remove, b, 0).map(|_| ())
}

/// The statuses a user can move to from `from` by one admin action or worker event.
fn successors(from: UserStatus) -> Vec<UserStatus> {
    let mut out = Vec::new();
    for passes in [0, 1] {
        for &action in UserAction::ALL {
            for &b in BatchStatus::ALL {
                if let Ok(Outcome::Becomes(to)) = on_action(from, action, b, passes) {
                    out.push(to);
                }
            }
            out.push(on_event(from, passes, Event::Handled(action)));
        }
        let mut events: Vec<Event> = BatchAction::ALL
            .iter()
            .map(|a| Event::Requeued(*a))
            .collect();
        events.extend([Event::WorkerRestarted, Event::BatchStopped]);
        let running_pass = matches!(from, Syncing | IncrementalSyncing | Completing | Stopping);
        for completing in [false, true] {
            if runnable(from) {
                events.push(Event::PassStarted { completing });
            }
            if !running_pass {
                continue;
            }
            for end in [
                PassEnd::Synced {
                    skipped_items: false,
                },
                PassEnd::Synced {
                    skipped_items: true,
                },
                PassEnd::Failed,
                PassEnd::Stopped,
                PassEnd::Interrupted,
            ] {
                events.push(Event::PassEnded { end, completing });
            }
        }
        out.extend(events.into_iter().map(|e| on_event(from, passes, e)));
    }
    out
}

/// The user statuses ImapMigration enters: `Queued` (every user starts there, from the CSV)
/// and every status the actions and worker events lead to from there. A pass starts only from
/// a runnable status and ends only from a running one, so those events count from there only.
pub fn entered() -> Vec<UserStatus> {
    let reached = super::reachable(vec![Queued], successors);
    all_where(|s| reached.contains(&s))
}

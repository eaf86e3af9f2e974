//! Batch statuses: what each admin action does in each status, what the batch offers
//! (`SupportedActions`), and how the worker moves it along (docs/compatibility.md §4.4, §8.1,
//! §8.2).

use std::fmt;

use super::{MigrationState, or_list};
use crate::types::{BatchAction, BatchRecord, BatchStatus};

use BatchStatus::*;

/// Every batch status for which `pred` holds, in declaration order.
pub fn all_where(pred: impl Fn(BatchStatus) -> bool) -> Vec<BatchStatus> {
    BatchStatus::ALL
        .iter()
        .copied()
        .filter(|s| pred(*s))
        .collect()
}

// ---- what the worker does ---------------------------------------------------------------------

/// What the worker does with a batch in a status on each of its rounds, after it has handled
/// the batch's requested action (if any) and its users' actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Starts the batch as Start would once its `StartAfter` has come, or at once when it is
    /// flagged `AutoStart` without one ([`start_due`]); otherwise waits for
    /// Start-MigrationBatch. The step of a batch never started ([`rules_status`]).
    StartWhenDue,
    /// Picks up a batch an admin started: [`Event::PickedUp`].
    PickUp,
    /// Runs the passes of the users waiting to run ([`super::user::runnable`]), as the
    /// endpoint's concurrency allows; once none waits and none runs: [`Event::PassesDone`].
    RunPasses,
    /// Once no pass of the batch runs any more, stops its users
    /// ([`super::user::stopped_with_batch`]) and the batch: [`Event::PassesStopped`].
    StopWhenIdle,
    /// Once no pass of the batch runs any more, deletes the batch with its users and their
    /// state (mail on the target stays).
    RemoveWhenIdle,
    /// When `NextSyncDateTime` has come, re-queues the synced users for an incremental pass:
    /// [`Event::SyncDue`].
    SyncWhenDue,
    /// Nothing until an admin acts.
    Nothing,
}

/// The worker's step for a batch in `status`.
pub fn worker_step(status: BatchStatus) -> Step {
    match status {
        Created => Step::StartWhenDue,
        Starting => Step::PickUp,
        Syncing | IncrementalSyncing | Completing => Step::RunPasses,
        Stopping => Step::StopWhenIdle,
        Removing => Step::RemoveWhenIdle,
        Synced | SyncedWithErrors => Step::SyncWhenDue,
        Stopped | Completed | CompletedWithErrors | Failed | Waiting | Corrupted => Step::Nothing,
    }
}

/// Whether the worker may be running passes of the batch's users, or has work to do for it
/// whatever the clock says (also after a worker restart).
pub fn running(status: BatchStatus) -> bool {
    matches!(
        worker_step(status),
        Step::PickUp | Step::RunPasses | Step::StopWhenIdle | Step::RemoveWhenIdle
    )
}

/// Whether the batch has finished its initial sync: its users sync again on the incremental
/// schedule and on `-SyncNow`.
pub fn synced(status: BatchStatus) -> bool {
    worker_step(status) == Step::SyncWhenDue
}

/// Whether the batch has settled: nothing happens until an admin acts or the incremental
/// schedule comes. A poller's end condition (docs/compatibility.md §8.2).
pub fn settled(status: BatchStatus) -> bool {
    !running(status) && !matches!(status, Created | Waiting | Corrupted)
}

/// Whether the batch has completed (our Complete extension), with or without errors.
pub fn completed(status: BatchStatus) -> bool {
    matches!(status, Completed | CompletedWithErrors)
}

/// Whether the batch's passes have just ended or it waits for the next sync: the statuses
/// [`Event::PassesDone`] leads to. The batch reports are written and mailed then.
pub fn finished_pass(status: BatchStatus) -> bool {
    synced(status) || completed(status)
}

/// Something the worker saw or did that moves a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// The worker takes up the batch's requested action. `work` matters for `SyncNow` only:
    /// whether it re-queued a user or a pass of the batch still runs.
    Handled {
        /// The action the api recorded.
        action: BatchAction,
        /// For `SyncNow`: something to sync.
        work: bool,
    },
    /// The worker picks up a batch that was started.
    PickedUp,
    /// No user of the batch waits to run and no pass runs; `failed`: some user is failed.
    PassesDone {
        /// Whether some user of the batch failed.
        failed: bool,
    },
    /// No pass of a stopping batch runs any more.
    PassesStopped,
    /// The incremental schedule came; `queued`: whether it re-queued a user.
    SyncDue {
        /// Whether some user was re-queued.
        queued: bool,
    },
    /// The batch's source endpoint no longer exists.
    SourceMissing,
}

/// The status a batch in `status` has after `event`. An event that means nothing in a status
/// leaves it alone.
pub fn on_event(status: BatchStatus, event: Event) -> BatchStatus {
    match event {
        Event::Handled { action, work } => match action {
            BatchAction::Start => Syncing,
            BatchAction::Stop => Stopping,
            BatchAction::Complete => Completing,
            BatchAction::Remove => Removing,
            BatchAction::SyncNow if work => Syncing,
            BatchAction::SyncNow => status,
        },
        Event::PickedUp if status == Starting => Syncing,
        Event::PassesDone { failed } if worker_step(status) == Step::RunPasses => {
            match (status == Completing, failed) {
                (true, false) => Completed,
                (true, true) => CompletedWithErrors,
                (false, false) => Synced,
                (false, true) => SyncedWithErrors,
            }
        }
        Event::PassesStopped if status == Stopping => Stopped,
        Event::SyncDue { queued: true } if synced(status) => Syncing,
        Event::SourceMissing => Failed,
        _ => status,
    }
}

/// The status the api gives a batch when it queues one of its users (Start-, Set-MigrationUser
/// -SyncNow): a batch the worker does not visit is set `Starting` so the worker runs the user.
pub fn on_user_queued(status: BatchStatus) -> BatchStatus {
    if running(status) { status } else { Starting }
}

/// The status a batch takes when Set-MigrationBatch adds users: a batch past its initial sync
/// starts them at once (no Start needed); any other waits for Start as before.
pub fn on_users_added(status: BatchStatus) -> BatchStatus {
    if synced(status) { Starting } else { status }
}

/// The status New-MigrationBatch gives a batch created without `-AutoStart` (with it, the
/// batch is [`on_action`] Start of this: `Starting`). Exchange Online's "Manage migration
/// batches" page: "Stopped: Either the migration batch has been created but hasn't been
/// started, or it has been stopped" (docs/compatibility.md §8.1). `Created` is never shown:
/// a never-started batch is told apart by [`never_started`], not by its status.
pub const NEW: BatchStatus = Stopped;

/// A batch never started and with no request pending: shown [`NEW`] (or `Created`, by older
/// versions) with no `started_at` (the worker sets it when it takes up a Start or picks the
/// batch up, before any pass runs; New-MigrationBatch `-AutoStart` sets it at once), so
/// nothing was copied. Such a batch follows the `Created` row of the rules
/// ([`rules_status`]): Remove may delete it at once when no worker runs, `-StartAfter` may
/// still be set, Stop and Complete have nothing to act on, its users wait for
/// Start-MigrationBatch, and `-Status Created` finds it ([`shown_as`]).
pub fn never_started(b: &BatchRecord) -> bool {
    matches!(b.status, NEW | Created) && b.started_at.is_none() && b.requested_action.is_none()
}

/// The status whose rules `b` follows: `Created` for a batch never started
/// ([`never_started`]), else its own. Only the rules see it: a batch is never stored or shown
/// `Created`, and a refusal names the status the batch shows ([`on_batch_action`],
/// [`on_set_batch`]).
pub fn rules_status(b: &BatchRecord) -> BatchStatus {
    if never_started(b) { Created } else { b.status }
}

/// [`on_action`] for the batch `b`, by the rules of its [`rules_status`]; a refusal names the
/// status `b` shows. Complete and SyncNow on a batch never started are refused as such
/// ([`Reason::NeverStarted`]), not as if the batch were a stopped one.
pub fn on_batch_action(
    b: &BatchRecord,
    action: BatchAction,
    users_to_start: bool,
) -> Result<BatchStatus, Refusal> {
    let rules = rules_status(b);
    on_action(rules, action, users_to_start).map_err(|r| Refusal {
        status: b.status,
        reason: match r.reason {
            Reason::NotCompletable | Reason::NotSynced if rules == Created => Reason::NeverStarted,
            reason => reason,
        },
    })
}

/// Whether the worker starts `b` on its own now, as if Start-MigrationBatch had been run: a
/// batch never started whose `StartAfter` has come, or one flagged `AutoStart` without a
/// `StartAfter`. (New-MigrationBatch `-AutoStart` starts the batch itself and sets its
/// `started_at`, so a batch stopped before the worker took it up never restarts on its own.)
pub fn start_due(b: &BatchRecord, now: crate::types::Timestamp) -> bool {
    never_started(b) && b.start_after.map_or(b.auto_start, |t| t <= now)
}

/// Whether `-Status filter` finds `b`: its status, or `Created` for a batch never started
/// (docs/compatibility.md §8.1).
pub fn shown_as(b: &BatchRecord, filter: BatchStatus) -> bool {
    b.status == filter || (filter == Created && never_started(b))
}

// ---- what the admin may do --------------------------------------------------------------------

/// Why a batch refuses an admin's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Start: a Start is under way (`Starting`), or the batch waits (`Waiting`).
    AlreadyStarted,
    /// Start: a Stop is still under way.
    StillStopping,
    /// Start: a Remove is under way.
    BeingRemoved,
    /// Start: a Complete is under way.
    BeingCompleted,
    /// Start: the batch completed without errors.
    CompletedCleanly,
    /// Start: the batch is synced and no user is failed, stopped or waiting.
    NothingToRetry,
    /// Every action but Remove: the batch is Corrupted.
    OnlyRemovable,
    /// Stop: the batch is stopped already.
    AlreadyStopped,
    /// Stop: a Stop is under way.
    AlreadyStopping,
    /// Stop: the batch was never started.
    NotStarted,
    /// Complete, SyncNow: the batch was never started ([`on_batch_action`]).
    NeverStarted,
    /// Stop: the batch neither runs nor is synced.
    NotStoppable,
    /// Complete: only a synced or stopped batch can be completed.
    NotCompletable,
    /// Remove: a Remove is under way.
    AlreadyRemoving,
    /// SyncNow: only a synced batch syncs again.
    NotSynced,
    /// Set: the batch is being removed.
    Unchangeable,
    /// Set: the batch has completed.
    CompletedUnchangeable,
    /// Set users (CSV): not while the batch runs or is done.
    UsersFixed,
    /// Set StartAfter: only before the batch has run.
    StartAfterFixed,
}

/// A refused admin action: the batch's status and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Refusal {
    /// The status that refused.
    pub status: BatchStatus,
    /// Why.
    pub reason: Reason,
}

impl Refusal {
    /// The refusal as the admin reads it, for the batch named `name`.
    pub fn message(&self, name: &str) -> String {
        let s = self.status;
        match self.reason {
            Reason::AlreadyStarted => format!("the batch {name} has already been started ({s})"),
            Reason::StillStopping => {
                format!("the batch {name} is still stopping; start it again once it is Stopped")
            }
            Reason::BeingRemoved => format!("the batch {name} is being removed"),
            Reason::BeingCompleted => format!("the batch {name} is being completed"),
            Reason::CompletedCleanly => format!(
                "the batch {name} has already completed with no errors; there is nothing to retry"
            ),
            Reason::NothingToRetry => {
                format!("the batch {name} is {s} and has no failed or stopped users to retry")
            }
            Reason::OnlyRemovable => format!("the batch {name} is {s}; it can only be removed"),
            Reason::AlreadyStopped => format!("the batch {name} is already stopped"),
            Reason::AlreadyStopping => format!("the batch {name} is already stopping"),
            Reason::NotStarted => {
                format!("the batch {name} has not been started; there is nothing to stop")
            }
            Reason::NeverStarted => {
                format!("the batch {name} has not been started; run Start-MigrationBatch first")
            }
            Reason::NotStoppable => format!("the batch {name} can't be stopped while it is {s}"),
            Reason::NotCompletable => format!(
                "the batch {name} can be completed only when it is {}; it is {s}",
                or_list(&accepting(BatchAction::Complete))
            ),
            Reason::AlreadyRemoving => format!("the batch {name} is already being removed"),
            Reason::NotSynced => format!(
                "syncNow needs a {} batch; {name} is {s}",
                or_list(&accepting(BatchAction::SyncNow))
            ),
            Reason::Unchangeable => {
                format!("the batch {name} is being removed and can't be changed")
            }
            Reason::CompletedUnchangeable => {
                format!("the batch {name} is {s}; a completed batch can't be changed")
            }
            Reason::UsersFixed => format!(
                "the batch {name} is {s}; users can be added or changed only while it is {}",
                or_list(&all_where(|s| on_set(s, Change::Users).is_ok()))
            ),
            Reason::StartAfterFixed => format!(
                "startAfter can be changed only while the batch is {}; {name} is {s}",
                or_list(&all_where(|s| on_set(s, Change::StartAfter).is_ok()))
            ),
        }
    }
}

/// The statuses in which `action` is accepted (Start counted with users to start).
fn accepting(action: BatchAction) -> Vec<BatchStatus> {
    all_where(|s| on_action(s, action, true).is_ok())
}

/// What Start-, Stop-, Complete-, Remove-MigrationBatch and Set-MigrationBatch -SyncNow do to a
/// batch in `status`: the status shown at once (the worker then carries the action out, see
/// [`Event::Handled`]), or why it is refused.
///
/// `users_to_start`: whether Start would act on some user (one it re-queues or one waiting to
/// run, see `UserCounts::to_start`); it decides Start on a `Synced` batch only.
pub fn on_action(
    status: BatchStatus,
    action: BatchAction,
    users_to_start: bool,
) -> Result<BatchStatus, Refusal> {
    let refuse = |reason| Err(Refusal { status, reason });
    match action {
        BatchAction::Start => match status {
            Created | Stopped | Failed | SyncedWithErrors | CompletedWithErrors => Ok(Starting),
            // Exchange documents Start as the way to retry a batch's failed users at any time:
            // a running batch keeps running, and the worker re-queues its failed and stopped
            // users (`user::requeued_by`).
            Syncing | IncrementalSyncing => Ok(status),
            Synced if users_to_start => Ok(Starting),
            Synced => refuse(Reason::NothingToRetry),
            Starting | Waiting => refuse(Reason::AlreadyStarted),
            Stopping => refuse(Reason::StillStopping),
            Removing => refuse(Reason::BeingRemoved),
            Completing => refuse(Reason::BeingCompleted),
            Completed => refuse(Reason::CompletedCleanly),
            Corrupted => refuse(Reason::OnlyRemovable),
        },
        BatchAction::Stop => match status {
            Starting | Syncing | IncrementalSyncing | Synced | SyncedWithErrors | Waiting => {
                Ok(Stopping)
            }
            Stopped => refuse(Reason::AlreadyStopped),
            Stopping => refuse(Reason::AlreadyStopping),
            Created => refuse(Reason::NotStarted),
            Corrupted => refuse(Reason::OnlyRemovable),
            Removing | Completing | Completed | CompletedWithErrors | Failed => {
                refuse(Reason::NotStoppable)
            }
        },
        BatchAction::Complete => match status {
            Synced | SyncedWithErrors | Stopped => Ok(Completing),
            _ => refuse(Reason::NotCompletable),
        },
        BatchAction::Remove => match status {
            Removing => refuse(Reason::AlreadyRemoving),
            _ => Ok(Removing),
        },
        // The status stays: the worker shows Syncing once it re-queued the users.
        BatchAction::SyncNow if synced(status) => Ok(status),
        BatchAction::SyncNow => refuse(Reason::NotSynced),
    }
}

/// Whether a batch in `status` whose worker is gone is resumed as it stands by the next worker,
/// with no action recorded: one the worker was starting (it picks the batch up again) or
/// completing (its passes run on, and end in `Completed*`). A syncing batch is too, and Start
/// there also re-queues the failed users, as [`on_action`] says.
pub fn resumed_as_it_stands(status: BatchStatus) -> bool {
    matches!(status, Starting | Completing)
}

/// Start-MigrationBatch on a batch whose worker is gone (the api found no live worker for the
/// state directory while the batch needed one, and has started one): a batch [`resumed_as_it_stands`] keeps its status, the new worker resumes it
/// and re-queues the users the dead one left mid-pass (`user::interrupted`); every other
/// status follows [`on_action`] (a batch still stopping or being removed is finished by the
/// new worker first).
pub fn on_start_without_worker(
    status: BatchStatus,
    users_to_start: bool,
) -> Result<BatchStatus, Refusal> {
    if resumed_as_it_stands(status) {
        Ok(status)
    } else {
        on_action(status, BatchAction::Start, users_to_start)
    }
}

/// A part of Set-MigrationBatch with a rule of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// Any setting (notification, report, limit and schedule parameters).
    Settings,
    /// `-CSVData` (with or without `-AddUsers`): users added or their CSV data replaced.
    Users,
    /// `-StartAfter`.
    StartAfter,
}

impl Change {
    /// Every part, in the order Set-MigrationBatch checks them.
    pub const ALL: &'static [Change] = &[Change::Settings, Change::Users, Change::StartAfter];

    /// The part as the docs name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Settings => "Set",
            Change::Users => "Set -CSVData",
            Change::StartAfter => "Set -StartAfter",
        }
    }
}

/// [`on_set`] for the batch `b`, by the rules of its [`rules_status`] (a batch never started
/// takes a new `StartAfter`); a refusal names the status `b` shows.
pub fn on_set_batch(b: &BatchRecord, change: Change) -> Result<(), Refusal> {
    on_set(rules_status(b), change).map_err(|r| Refusal {
        status: b.status,
        ..r
    })
}

/// Whether Set-MigrationBatch may make `change` to a batch in `status`. Every change first
/// needs what [`Change::Settings`] needs.
pub fn on_set(status: BatchStatus, change: Change) -> Result<(), Refusal> {
    let refuse = |reason| Err(Refusal { status, reason });
    match status {
        Removing => return refuse(Reason::Unchangeable),
        Corrupted => return refuse(Reason::OnlyRemovable),
        Completed | CompletedWithErrors => return refuse(Reason::CompletedUnchangeable),
        _ => {}
    }
    match change {
        Change::Settings => Ok(()),
        Change::Users => match status {
            Created | Synced | SyncedWithErrors | Stopped => Ok(()),
            _ => refuse(Reason::UsersFixed),
        },
        Change::StartAfter => match status {
            Created | Failed => Ok(()),
            _ => refuse(Reason::StartAfterFixed),
        },
    }
}

/// One of Exchange's batch `SupportedActions` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SupportedAction {
    /// Start-MigrationBatch.
    Start,
    /// Stop-MigrationBatch.
    Stop,
    /// Set-MigrationBatch.
    Set,
    /// Remove-MigrationBatch.
    Remove,
    /// Set-MigrationBatch -CSVData (users added).
    Append,
}

impl SupportedAction {
    /// Every flag, in the order Exchange prints them.
    pub const ALL: &'static [SupportedAction] = &[
        SupportedAction::Start,
        SupportedAction::Stop,
        SupportedAction::Set,
        SupportedAction::Remove,
        SupportedAction::Append,
    ];

    /// The flag's name.
    pub fn as_str(self) -> &'static str {
        match self {
            SupportedAction::Start => "Start",
            SupportedAction::Stop => "Stop",
            SupportedAction::Set => "Set",
            SupportedAction::Remove => "Remove",
            SupportedAction::Append => "Append",
        }
    }

    /// Whether a batch in `status` accepts the action the flag stands for.
    fn accepted(self, status: BatchStatus, users_to_start: bool) -> bool {
        match self {
            SupportedAction::Start => on_action(status, BatchAction::Start, users_to_start).is_ok(),
            SupportedAction::Stop => on_action(status, BatchAction::Stop, users_to_start).is_ok(),
            SupportedAction::Remove => {
                on_action(status, BatchAction::Remove, users_to_start).is_ok()
            }
            SupportedAction::Set => on_set(status, Change::Settings).is_ok(),
            SupportedAction::Append => on_set(status, Change::Users).is_ok(),
        }
    }
}

impl fmt::Display for SupportedAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A batch's `SupportedActions`; `Display` prints it as a .NET flags value prints
/// (`Start, Set, Remove`, or `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportedActions(pub Vec<SupportedAction>);

impl fmt::Display for SupportedActions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("None");
        }
        let names: Vec<&str> = self.0.iter().map(|a| a.as_str()).collect();
        f.write_str(&names.join(", "))
    }
}

/// What a batch in `status` accepts, as Exchange's `SupportedActions` flags: exactly the
/// actions [`on_action`] and [`on_set`] accept. Complete is never offered, as in Exchange for
/// IMAP (docs/compatibility.md §7.3), although our `batch.complete` extension accepts it.
pub fn supported_actions(status: BatchStatus, users_to_start: bool) -> SupportedActions {
    SupportedActions(
        SupportedAction::ALL
            .iter()
            .copied()
            .filter(|a| a.accepted(status, users_to_start))
            .collect(),
    )
}

/// The `State` of a batch (docs/compatibility.md §8.5).
pub fn state(status: BatchStatus) -> MigrationState {
    match status {
        Created | Waiting => MigrationState::Waiting,
        Stopped => MigrationState::Stopped,
        Completed | CompletedWithErrors => MigrationState::Completed,
        Failed => MigrationState::Failed,
        Corrupted => MigrationState::Corrupted,
        Starting | Syncing | IncrementalSyncing | Synced | SyncedWithErrors | Completing
        | Stopping | Removing => MigrationState::Active,
    }
}

/// The `Flags` of a batch: the pending admin request as Exchange names it (`Start` also for
/// SyncNow; a pending Complete shows `None`).
pub fn flags(action: Option<BatchAction>) -> &'static str {
    match action {
        Some(BatchAction::Start | BatchAction::SyncNow) => "Start",
        Some(BatchAction::Stop) => "Stop",
        Some(BatchAction::Remove) => "Remove",
        Some(BatchAction::Complete) | None => "None",
    }
}

/// The statuses a batch in `from` can move to by one admin action or worker event.
fn successors(from: BatchStatus) -> Vec<BatchStatus> {
    let mut out = Vec::new();
    for &action in BatchAction::ALL {
        for flag in [false, true] {
            out.extend(on_action(from, action, flag));
            out.push(on_event(from, Event::Handled { action, work: flag }));
        }
    }
    for event in [
        Event::PickedUp,
        Event::PassesDone { failed: false },
        Event::PassesDone { failed: true },
        Event::PassesStopped,
        Event::SyncDue { queued: true },
        Event::SourceMissing,
    ] {
        out.push(on_event(from, event));
    }
    out.push(on_user_queued(from));
    out.push(on_users_added(from));
    out
}

/// The batch statuses ImapMigration enters: [`NEW`] and `Starting` (New-MigrationBatch
/// without and with `-AutoStart`) and every status the actions and worker events lead to from
/// there. The others exist for `-Status` filters and Exchange's enum only.
pub fn entered() -> Vec<BatchStatus> {
    let mut start = vec![NEW];
    start.extend(on_action(NEW, BatchAction::Start, true));
    let reached = super::reachable(start, successors);
    all_where(|s| reached.contains(&s))
}

//! The status model as markdown: the "Statuses" section of docs/design.md is this output, so
//! the documentation cannot drift from the rules (a test compares them).

use std::fmt::Write as _;

use super::batch::{self, Change, Step};
use super::user::{self, PassEnd};
use crate::types::{BatchAction, BatchStatus, UserAction, UserStatus};

/// The transition tables of batches and users, as markdown (no trailing blank line).
pub fn render_markdown() -> String {
    let mut out = String::new();
    batch_table(&mut out);
    worker_actions_table(&mut out);
    user_table(&mut out);
    pass_table(&mut out);
    out
}

fn code<T: std::fmt::Display>(s: T) -> String {
    format!("`{s}`")
}

fn codes<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".into();
    }
    items.iter().map(code).collect::<Vec<_>>().join(", ")
}

fn batch_reason(r: batch::Reason) -> &'static str {
    use batch::Reason::*;
    match r {
        AlreadyStarted => "already started",
        StillStopping => "still stopping",
        BeingRemoved => "being removed",
        BeingCompleted => "being completed",
        CompletedCleanly => "completed, nothing to retry",
        NothingToRetry => "nothing to retry",
        OnlyRemovable => "can only be removed",
        AlreadyStopped => "already stopped",
        AlreadyStopping => "already stopping",
        NotStarted => "not started",
        NeverStarted => "not started",
        NotStoppable => "not running",
        NotCompletable => "not synced or stopped",
        AlreadyRemoving => "already removing",
        NotSynced => "not synced",
        Unchangeable => "being removed",
        CompletedUnchangeable => "completed",
        UsersFixed => "not now",
        StartAfterFixed => "already ran",
    }
}

fn user_reason(r: user::Reason) -> &'static str {
    use user::Reason::*;
    match r {
        NotSynced => "not synced",
        NotStartable => "not failed or stopped",
        AlreadyStopped => "already stopped",
        AlreadyStopping => "already stopping",
        NothingToStop => "nothing to stop",
        Busy => "being migrated",
        BatchNotStarted => "batch not started",
        BatchBusy => "batch busy",
    }
}

fn batch_result(r: Result<BatchStatus, batch::Refusal>, status: BatchStatus) -> String {
    match r {
        Ok(to) if to == status => "stays".into(),
        Ok(to) => format!("→ {}", code(to)),
        Err(refusal) => format!("refused: {}", batch_reason(refusal.reason)),
    }
}

fn set_result(r: Result<(), batch::Refusal>) -> String {
    match r {
        Ok(()) => "yes".into(),
        Err(refusal) => format!("refused: {}", batch_reason(refusal.reason)),
    }
}

fn worker_step(s: BatchStatus) -> String {
    use batch::Event;
    match batch::worker_step(s) {
        Step::StartWhenDue => format!(
            "at `StartAfter`, or at once if flagged `AutoStart`: as Start, → {}",
            code(batch::on_event(
                s,
                Event::Handled {
                    action: BatchAction::Start,
                    work: true
                }
            ))
        ),
        Step::PickUp => format!("→ {}", code(batch::on_event(s, Event::PickedUp))),
        Step::RunPasses => format!(
            "runs the users' passes; when none is left → {}, {} if a user failed",
            code(batch::on_event(s, Event::PassesDone { failed: false })),
            code(batch::on_event(s, Event::PassesDone { failed: true })),
        ),
        Step::StopWhenIdle => format!(
            "once no pass runs: stops its users, → {}",
            code(batch::on_event(s, Event::PassesStopped))
        ),
        Step::RemoveWhenIdle => "once no pass runs: deletes it".into(),
        Step::SyncWhenDue => format!(
            "at `NextSyncDateTime`: re-queues the synced users, → {}",
            code(batch::on_event(s, Event::SyncDue { queued: true }))
        ),
        Step::Nothing => "nothing".into(),
    }
}

fn batch_table(out: &mut String) {
    let _ = writeln!(
        out,
        "Batches. New-MigrationBatch gives {new}, or {auto} with `-AutoStart`. A batch never \
         started (no `StartDateTime`) shows {new}, as Exchange Online shows it, and follows the \
         {created} row; `-Status Created` finds it. An action's cell is \
         the status shown at once (the worker then carries the action out); \"refused\" is an \
         `InvalidState` error naming the status. Complete is our extension and never in \
         `SupportedActions`. \"Start, worker gone\": Start-MigrationBatch when the state \
         directory's worker was gone (no process held its lock) and the operation has started \
         a new one, as every operation on batches does; a batch that stays is resumed by it.\n",
        new = code(batch::NEW),
        auto = code(batch::on_action(batch::NEW, BatchAction::Start, true).unwrap_or(batch::NEW)),
        created = code(BatchStatus::Created),
    );
    let actions = [
        BatchAction::Start,
        BatchAction::Stop,
        BatchAction::Complete,
        BatchAction::Remove,
        BatchAction::SyncNow,
    ];
    let mut header = vec!["Status", "State", "SupportedActions"];
    header.extend(["Start", "Stop", "Complete", "Remove", "SyncNow"]);
    header.extend(Change::ALL.iter().map(|c| c.as_str()));
    header.push("Worker");
    header.push("Start, worker gone");
    row(out, &header);
    row(out, &vec!["---"; header.len()]);
    for &s in BatchStatus::ALL {
        let mut cells = vec![code(s), batch::state(s).to_string()];
        let (with, without) = (
            batch::supported_actions(s, true),
            batch::supported_actions(s, false),
        );
        let extra: Vec<&str> = with
            .0
            .iter()
            .filter(|a| !without.0.contains(a))
            .map(|a| a.as_str())
            .collect();
        cells.push(if extra.is_empty() {
            with.to_string()
        } else {
            format!("{without} (+ {} with users to start)", extra.join(", "))
        });
        for a in actions {
            let (with, without) = (
                batch_result(batch::on_action(s, a, true), s),
                batch_result(batch::on_action(s, a, false), s),
            );
            cells.push(if with == without {
                with
            } else {
                format!("{with} with users to start, else {without}")
            });
        }
        cells.extend(Change::ALL.iter().map(|c| set_result(batch::on_set(s, *c))));
        cells.push(worker_step(s));
        let (with, without) = (
            batch_result(batch::on_start_without_worker(s, true), s),
            batch_result(batch::on_start_without_worker(s, false), s),
        );
        cells.push(if with == without {
            with
        } else {
            format!("{with} with users to start, else {without}")
        });
        row(out, &cells);
    }
    let never: Vec<BatchStatus> = batch::all_where(|s| !batch::entered().contains(&s));
    let _ = writeln!(
        out,
        "\n\"Users to start\": a user Start re-queues or one waiting to run ({}). Never shown \
         (they exist for `-Status` and Exchange's enum): {}.\n",
        codes(&user::all_where(user::to_start)),
        codes(&never)
    );
}

fn worker_actions_table(out: &mut String) {
    use batch::Event;
    let _ = writeln!(out, "The worker carrying out a batch's requested action:\n");
    row(
        out,
        &["Requested action", "Batch becomes", "Users re-queued"],
    );
    row(out, &["---"; 3]);
    for &a in BatchAction::ALL {
        let with = batch::on_event(
            BatchStatus::Synced,
            Event::Handled {
                action: a,
                work: true,
            },
        );
        let without = batch::on_event(
            BatchStatus::Synced,
            Event::Handled {
                action: a,
                work: false,
            },
        );
        let becomes = if with == without {
            code(with)
        } else {
            format!(
                "{} when it re-queued a user or a pass runs, else unchanged",
                code(with)
            )
        };
        let requeued = user::all_where(|s| user::requeued_by(a, s));
        row(out, &[code(a), becomes, codes(&requeued)]);
    }
    let _ = writeln!(
        out,
        "\nThe incremental schedule (`NextSyncDateTime`) re-queues what SyncNow does.\n"
    );
}

/// `X`, or `X` / `Y` after a completed pass when the number of passes matters.
fn by_passes(f: impl Fn(u32) -> String) -> String {
    let (first, later) = (f(0), f(1));
    if first == later {
        first
    } else {
        format!("{first}; {later} after a pass")
    }
}

fn user_result(r: Result<user::Outcome, user::Refusal>) -> String {
    match r {
        Ok(user::Outcome::Becomes(s)) => format!("→ {}", code(s)),
        Ok(user::Outcome::Removed) => "removed".into(),
        Err(refusal) => format!("refused: {}", user_reason(refusal.reason)),
    }
}

/// A user action's cell: its result in a running batch and in an idle one, with and without
/// a completed pass.
fn user_action(s: UserStatus, a: UserAction) -> String {
    let idle = by_passes(|p| user_result(user::on_action(s, a, BatchStatus::Synced, p)));
    let running = by_passes(|p| user_result(user::on_action(s, a, BatchStatus::Syncing, p)));
    if idle == running {
        idle
    } else {
        format!("batch running: {running}; idle: {idle}")
    }
}

fn user_table(out: &mut String) {
    use user::Event;
    let _ = writeln!(
        out,
        "Users. Start, Stop and SyncNow also need the user's batch to allow them: refused while \
         it is {} (not started) or {} (busy).\n",
        codes(&batch::all_where(
            |b| user::batch_allows(b) == Err(user::Reason::BatchNotStarted)
        )),
        codes(&batch::all_where(
            |b| user::batch_allows(b) == Err(user::Reason::BatchBusy)
        )),
    );
    let actions = [
        UserAction::Start,
        UserAction::Stop,
        UserAction::SyncNow,
        UserAction::Remove,
    ];
    row(
        out,
        &[
            "Status",
            "StatusSummary",
            "State",
            "Start",
            "Stop",
            "SyncNow",
            "Remove",
            "Re-queued by",
            "Worker restart",
            "Batch Stop",
        ],
    );
    row(out, &["---"; 10]);
    for &s in UserStatus::ALL {
        let mut cells = vec![
            code(s),
            user::summary(s).to_string(),
            user::state(s).to_string(),
        ];
        cells.extend(actions.iter().map(|a| user_action(s, *a)));
        let by: Vec<BatchAction> = BatchAction::ALL
            .iter()
            .copied()
            .filter(|a| user::requeued_by(*a, s))
            .collect();
        cells.push(if by.is_empty() {
            "—".into()
        } else {
            codes(&by)
        });
        let moved = |e: Event| {
            by_passes(|p| {
                let to = user::on_event(s, p, e);
                if to == s {
                    "—".into()
                } else {
                    format!("→ {}", code(to))
                }
            })
        };
        cells.push(moved(Event::WorkerRestarted));
        cells.push(moved(Event::BatchStopped));
        row(out, &cells);
    }
    let never: Vec<UserStatus> = user::all_where(|s| !user::entered().contains(&s));
    let _ = writeln!(
        out,
        "\nEvery user starts {}. Never entered: {}.\n",
        code(UserStatus::Queued),
        codes(&never)
    );
}

fn pass_table(out: &mut String) {
    use user::Event;
    let _ = writeln!(
        out,
        "A user's pass. It starts for a user waiting to run ({}); \"after a pass\": the user has \
         completed one before.\n",
        codes(&user::all_where(user::runnable))
    );
    row(out, &["Event", "Batch syncing", "Batch Completing"]);
    row(out, &["---"; 3]);
    let cell = |from: UserStatus, e: &dyn Fn(bool) -> Event| -> [String; 2] {
        [false, true].map(|completing| by_passes(|p| code(user::on_event(from, p, e(completing)))))
    };
    let started = cell(UserStatus::Queued, &|completing| Event::PassStarted {
        completing,
    });
    row(
        out,
        &["pass starts".into(), started[0].clone(), started[1].clone()],
    );
    for (name, end) in [
        (
            "pass synced",
            PassEnd::Synced {
                skipped_items: false,
            },
        ),
        (
            "pass synced, items skipped",
            PassEnd::Synced {
                skipped_items: true,
            },
        ),
        ("pass failed", PassEnd::Failed),
        ("pass stopped", PassEnd::Stopped),
        ("worker shut down", PassEnd::Interrupted),
    ] {
        let ended = cell(UserStatus::Syncing, &|completing| Event::PassEnded {
            end,
            completing,
        });
        row(out, &[name.into(), ended[0].clone(), ended[1].clone()]);
    }
}

fn row<T: AsRef<str>>(out: &mut String, cells: &[T]) {
    let cells: Vec<&str> = cells.iter().map(AsRef::as_ref).collect();
    let _ = writeln!(out, "| {} |", cells.join(" | "));
}

//! A pass's outcome, recorded: the user's status and counters after it, and the batch's once
//! its last pass ended (then its reports are written and mailed).

use imapmigration_store::lifecycle::batch::{self, Event as BatchEvent};
use imapmigration_store::lifecycle::user::{self, Event as UserEvent, PassEnd};
use imapmigration_store::{
    self as store, BatchRecord, BatchStatus, BatchUpdate, EventLevel, UserAction, UserUpdate,
};
use uuid::Uuid;

use super::passes::{CancelReason, PassResult, Running};
use super::scheduler::Scheduler;
use super::{WorkerError, notify, reports};
use crate::ErrorCode;

impl Scheduler {
    pub(super) fn record(
        &mut self,
        user_id: Uuid,
        r: &Running,
        result: PassResult,
    ) -> Result<(), WorkerError> {
        // On a shared store the outcome is this worker's to record only while it holds the
        // user: after a lost lease the user is another worker's.
        if r.reason == Some(CancelReason::LeaseLost) || !self.holds(&user_id) {
            tracing::warn!(user = %user_id, "the pass ended after its lease was lost; nothing recorded");
            return Ok(());
        }
        let Some(user) = self.store.get_user_by_id(&user_id)? else {
            return Ok(());
        };
        let batch = self.store.get_batch_by_id(&r.batch_id)?;
        let now = store::now();
        let counts = self.store.refresh_user_counters(&user_id)?;
        let completing = batch
            .as_ref()
            .is_some_and(|b| b.status == BatchStatus::Completing);
        let result = no_folder_under_user_root(&user, result);
        let ended = |end| {
            user::on_event(
                user.status,
                user.passes,
                UserEvent::PassEnded { end, completing },
            )
        };
        match result {
            PassResult::Done(outcome) => {
                let status = ended(PassEnd::Synced {
                    skipped_items: counts.skipped_items > 0,
                });
                self.store.update_user(
                    &user_id,
                    UserUpdate {
                        status: Some(status),
                        last_error: Some(None),
                        error_code: Some(None),
                        items_total: Some(outcome.items_total),
                        last_success_at: Some(Some(now)),
                        initial_sync_at: Some(Some(user.initial_sync_at.unwrap_or(now))),
                        passes: Some(user.passes + 1),
                        ..Default::default()
                    },
                )?;
                self.event(
                    Some(user_id),
                    Some(r.batch_id),
                    EventLevel::Info,
                    format!(
                        "{}: pass {} finished: {} copied, {} flag updates, {} skipped; {} of {} items on the target; {} source and {} target sessions",
                        user.email,
                        user.passes + 1,
                        outcome.items_copied,
                        outcome.flags_updated,
                        outcome.items_skipped,
                        counts.copied_items,
                        outcome.items_total,
                        outcome.source_sessions,
                        outcome.target_sessions
                    ),
                );
            }
            PassResult::Failed { code, message } => {
                let status = ended(PassEnd::Failed);
                self.store
                    .set_user_status(&user_id, status, Some((code.as_str(), &message)))?;
                self.event(
                    Some(user_id),
                    Some(r.batch_id),
                    EventLevel::Error,
                    format!("{}: {message}", user.email),
                );
            }
            PassResult::Cancelled => match r.reason.unwrap_or(CancelReason::Shutdown) {
                CancelReason::Stop => {
                    let to = ended(PassEnd::Stopped);
                    self.store.update_user(
                        &user_id,
                        UserUpdate {
                            status: Some(to),
                            requested_action: Some(None),
                            ..Default::default()
                        },
                    )?;
                    self.event(
                        Some(user_id),
                        Some(r.batch_id),
                        EventLevel::Info,
                        format!("{}: stopped", user.email),
                    );
                }
                CancelReason::Remove => {
                    if user.requested_action == Some(UserAction::Remove) {
                        self.store.delete_user(&user_id)?;
                    }
                }
                CancelReason::LeaseLost => {}
                CancelReason::Shutdown => {
                    self.store
                        .set_user_status(&user_id, ended(PassEnd::Interrupted), None)?;
                }
            },
        }
        Ok(())
    }

    pub(super) fn finalize(&mut self, b: &BatchRecord) -> Result<(), WorkerError> {
        let counts = self.store.batch_counts(&b.id)?;
        let now = store::now();
        let status = batch::on_event(
            b.status,
            BatchEvent::PassesDone {
                failed: counts.failed > 0,
            },
        );
        // A completed batch syncs no more; a synced one again after the interval.
        let (next, completed) = if batch::completed(status) {
            (None, Some(now))
        } else {
            (Some(now + self.incremental_interval()), None)
        };
        self.store.update_batch(
            &b.id,
            BatchUpdate {
                status: Some(status),
                last_synced_at: Some(Some(now)),
                initial_sync_at: Some(Some(b.initial_sync_at.unwrap_or(now))),
                next_sync_at: Some(next),
                completed_at: Some(completed.or(b.completed_at)),
                ..Default::default()
            },
        )?;
        self.event(
            None,
            Some(b.id),
            EventLevel::Info,
            format!("batch {} is {}", b.name, status.as_str()),
        );
        if let Err(e) = reports::write(&self.store, b) {
            tracing::warn!(error = %e, "cannot write the batch reports");
        }
        notify::spawn(&self.store, &self.home, b.id);
        Ok(())
    }
}

/// A pass that found no folder under the user's `UserRoot` copied nothing because the CSV names
/// a root the source does not have (a typo, or the wrong server): a failure naming the root,
/// not a user synced with an empty mailbox.
fn no_folder_under_user_root(user: &store::UserRecord, result: PassResult) -> PassResult {
    let root = user.user_root.as_deref().map(str::trim).unwrap_or("");
    match result {
        PassResult::Done(outcome) if outcome.folders == 0 && !root.is_empty() => {
            PassResult::Failed {
                code: ErrorCode::NotFound,
                message: format!(
                    "the source has no folder under the UserRoot \"{root}\" (or the folder filters left none); check the CSV's UserRoot column"
                ),
            }
        }
        other => other,
    }
}

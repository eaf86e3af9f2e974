//! The admins' requests, carried out: a batch's requested action (Start, Stop, Complete,
//! Remove, SyncNow) and each user's (Start, SyncNow, Stop, Remove), as the lifecycle rules say.

use imapmigration_store::lifecycle::batch::{self, Event as BatchEvent};
use imapmigration_store::lifecycle::user::{self, Event as UserEvent};
use imapmigration_store::{
    self as store, BatchAction, BatchRecord, BatchUpdate, EventLevel, UserAction, UserRecord,
    UserUpdate,
};

use super::WorkerError;
use super::passes::CancelReason;
use super::scheduler::Scheduler;

impl Scheduler {
    /// Carries out a batch's requested action: re-queues the users it re-queues
    /// ([`user::requeued_by`]), cancels running passes for Stop and Remove, and moves the batch
    /// ([`BatchEvent::Handled`]).
    pub(super) fn apply_batch_action(
        &mut self,
        b: &BatchRecord,
        action: BatchAction,
    ) -> Result<(), WorkerError> {
        let now = store::now();
        let requeued = self.requeue_users(&b.id, UserEvent::Requeued(action), |s| {
            user::requeued_by(action, s)
        })?;
        match action {
            BatchAction::Stop => self.cancel_batch(b.id, CancelReason::Stop),
            BatchAction::Remove => self.cancel_batch(b.id, CancelReason::Remove),
            BatchAction::Start | BatchAction::Complete | BatchAction::SyncNow => {}
        }
        let work = requeued > 0 || self.batch_busy(b.id);
        let status = batch::on_event(b.status, BatchEvent::Handled { action, work });
        self.store.update_batch(
            &b.id,
            BatchUpdate {
                status: Some(status),
                requested_action: Some(None),
                started_at: (action == BatchAction::Start)
                    .then_some(Some(b.started_at.unwrap_or(now))),
                ..Default::default()
            },
        )?;
        let said = match action {
            BatchAction::Start => format!("batch {} started", b.name),
            BatchAction::Complete => format!("final incremental sync of batch {} started", b.name),
            BatchAction::Stop | BatchAction::Remove | BatchAction::SyncNow => return Ok(()),
        };
        self.event(None, Some(b.id), EventLevel::Info, said);
        Ok(())
    }

    /// Carries out the requested actions of batch `b`'s users: Start and SyncNow queue the
    /// user (waking the batch if the worker does not visit it), Stop and Remove cancel a
    /// running pass or act at once ([`UserEvent::Handled`]).
    pub(super) fn apply_user_actions(&mut self, b: &BatchRecord) -> Result<(), WorkerError> {
        // Only users with a pending action: `users_to_run` includes them, and it spares this
        // per-tick pass from reading every user of a large batch.
        let users = self.store.users_to_run(&b.id)?;
        let pending: Vec<&UserRecord> = users
            .iter()
            .filter(|u| u.requested_action.is_some())
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        // On a shared store, a user another worker runs is that worker's to act on.
        let elsewhere = self.held_elsewhere(b.id)?;
        for u in pending.into_iter().filter(|u| !elsewhere.contains(&u.id)) {
            let Some(action) = u.requested_action else {
                continue;
            };
            match action {
                UserAction::Start | UserAction::SyncNow => {
                    if !self.running.contains_key(&u.id) {
                        self.handled_at_once(u, action)?;
                        // A batch the worker does not visit wakes up, and is picked up at once.
                        let to =
                            batch::on_event(batch::on_user_queued(b.status), BatchEvent::PickedUp);
                        if to != b.status {
                            self.store.set_batch_status(&b.id, to)?;
                        }
                    }
                }
                UserAction::Stop => {
                    if let Some(r) = self.running.get_mut(&u.id) {
                        r.reason = Some(CancelReason::Stop);
                        r.cancel.cancel();
                    } else {
                        self.handled_at_once(u, action)?;
                    }
                }
                UserAction::Remove => {
                    if let Some(r) = self.running.get_mut(&u.id) {
                        r.reason = Some(CancelReason::Remove);
                        r.cancel.cancel();
                    } else {
                        self.store.delete_user(&u.id)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A user action with no pass to wait for: the user takes the status the lifecycle gives
    /// it, and the request is cleared.
    fn handled_at_once(&self, u: &UserRecord, action: UserAction) -> Result<(), WorkerError> {
        self.store.update_user(
            &u.id,
            UserUpdate {
                status: Some(user::on_event(
                    u.status,
                    u.passes,
                    UserEvent::Handled(action),
                )),
                requested_action: Some(None),
                ..Default::default()
            },
        )?;
        Ok(())
    }
}

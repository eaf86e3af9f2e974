//! The scheduler: the worker's loop over the store. Each round it collects finished passes,
//! handles requested actions (`actions`), takes each batch one step further
//! (`lifecycle::batch::worker_step`), starts queued users as the endpoints' limits allow
//! (`passes`) and records their outcomes (`record`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use imapmigration_store::lifecycle::batch::{self, Event as BatchEvent, Step};
use imapmigration_store::lifecycle::user::{self, Event as UserEvent};
use imapmigration_store::{
    self as store, BatchAction, BatchFilter, BatchRecord, BatchStatus, BatchUpdate, Event,
    EventLevel, Store, UserRecord, UserStatus, WorkerRecord,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::passes::{CancelReason, Running};
use super::shared::Shared;
use super::{DEFAULT_INCREMENTAL_INTERVAL, WorkerError, jobs};
use crate::engine::Progress;
use crate::process::{liveness, lock};

/// Runs batches from one state directory. The daemon and the CLI's foreground mode both drive it.
pub struct Scheduler {
    pub(super) store: Arc<Store>,
    pub(super) home: PathBuf,
    pub(super) worker: WorkerRecord,
    pub(super) running: HashMap<Uuid, Running>,
    pub(super) tokens: jobs::TokenCache,
    /// Progress sink of the CLI (a progress bar); the daemon has none.
    pub(super) sink: Option<Arc<dyn Progress>>,
    /// Cap on simultaneous user passes from this worker, on top of the endpoints' limits.
    pub(super) max_parallel_users: usize,
    /// Signalled by a pass when it ends, so its outcome is recorded (and the next user started)
    /// at once rather than at the next poll.
    pub(super) done: Arc<tokio::sync::Notify>,
    /// On a PostgreSQL store: the leases and the heartbeat shared with other workers.
    pub(super) shared: Option<Shared>,
}

impl Scheduler {
    /// Opens the store of `home` and registers this worker. The caller must hold the worker lock.
    pub fn new(home: &Path, _lock: &lock::WorkerLock) -> Result<Self, WorkerError> {
        let store = Arc::new(Store::open(home)?);
        let now = store::now();
        let worker = WorkerRecord {
            id: Uuid::new_v4().to_string(),
            pid: std::process::id(),
            host: crate::process::liveness::this_host(),
            version: crate::VERSION.to_owned(),
            started_at: now,
            heartbeat_at: now,
        };
        // The lock is this host's: on a shared store the workers of other hosts run beside
        // this one, each on the users it holds leases on (`shared`).
        let shared = if store.is_postgres() {
            Some(Shared::open(home, &store, &worker)?)
        } else {
            store.worker_heartbeat(&worker)?;
            // The caller holds the state directory's lock: every other registration is of a
            // worker that died without unregistering (killed, or the host went down).
            let stale = store.worker_remove_others(&worker.id)?;
            if stale > 0 {
                tracing::info!(stale, "removed the registrations of dead workers");
            }
            None
        };
        // One memory budget for every user this worker copies at once.
        crate::engine::configure_memory_budget(&store);
        let max_parallel_users = store
            .config_get("maxConcurrentMigrations")?
            .and_then(|v| v.as_u64())
            .map(|v| v.clamp(1, 1000) as usize)
            .unwrap_or(16);
        let mut s = Scheduler {
            store,
            home: home.to_owned(),
            worker,
            running: HashMap::new(),
            tokens: jobs::TokenCache::default(),
            sink: None,
            max_parallel_users,
            done: Arc::new(tokio::sync::Notify::new()),
            shared,
        };
        // On a shared store the users a dead worker left are re-queued batch by batch, once
        // their leases expired (`shared`).
        if s.shared.is_none() {
            s.recover()?;
        }
        Ok(s)
    }

    /// Attaches a progress sink (the CLI's progress bar).
    pub fn with_progress(mut self, sink: Arc<dyn Progress>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// The store this scheduler works on.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Users a dead worker left mid-pass go back to the queue; the engine's state rows make the
    /// next pass resume without duplicates.
    fn recover(&mut self) -> Result<(), WorkerError> {
        for b in self.store.list_batches(&BatchFilter::default())? {
            let n = self.requeue_users(&b.id, UserEvent::WorkerRestarted, user::interrupted)?;
            if n > 0 {
                self.event(
                    None,
                    Some(b.id),
                    EventLevel::Warning,
                    format!("resumed {n} user(s) interrupted by a worker restart"),
                );
            }
        }
        Ok(())
    }

    /// Runs until `shutdown` is cancelled, then cancels running passes (they resume next time).
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), WorkerError> {
        tracing::info!(home = %self.home.display(), pid = self.worker.pid, "worker started");
        loop {
            match self.tick().await {
                Ok(()) => {}
                Err(WorkerError::Replaced) => {
                    tracing::error!(
                        "this worker's registration is gone: another worker has taken over the state directory; stopping without recording anything"
                    );
                    for r in self.running.values() {
                        r.cancel.cancel();
                    }
                    return Err(WorkerError::Replaced);
                }
                Err(e) => tracing::error!(error = %e, "worker tick failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                // The pass signals just before its task returns: give it a moment to finish.
                _ = self.done.notified() => tokio::time::sleep(Duration::from_millis(2)).await,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
        self.shutdown().await;
        match self.shared.as_mut() {
            Some(shared) => shared.close(&self.worker.id),
            None => {
                let _ = self.store.worker_remove(&self.worker.id);
            }
        }
        tracing::info!("worker stopped");
        Ok(())
    }

    /// Runs until the batch settles ([`batch::settled`]: Synced, SyncedWithErrors, Stopped,
    /// Failed, Completed*) or `shutdown` fires. Used by the CLI.
    pub async fn run_until_settled(
        &mut self,
        batch_id: Uuid,
        shutdown: CancellationToken,
    ) -> Result<BatchStatus, WorkerError> {
        loop {
            self.tick().await?;
            let status = match self.store.get_batch_by_id(&batch_id)? {
                Some(b) => b.status,
                None => return Ok(BatchStatus::Removing),
            };
            if !self.batch_busy(batch_id) && batch::settled(status) {
                return Ok(status);
            }
            tokio::select! {
                _ = shutdown.cancelled() => { self.shutdown().await; return Ok(status); }
                _ = self.done.notified() => tokio::time::sleep(Duration::from_millis(2)).await,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }

    async fn shutdown(&mut self) {
        for r in self.running.values_mut() {
            r.reason.get_or_insert(CancelReason::Shutdown);
            r.cancel.cancel();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.running.is_empty() && Instant::now() < deadline {
            self.reap().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One round: heartbeat (every [`liveness::heartbeat_secs`], 5 s), collect finished passes,
    /// act on every batch. Fails with [`WorkerError::Replaced`] when another worker took over.
    pub async fn tick(&mut self) -> Result<(), WorkerError> {
        let now = store::now();
        if self.shared.is_some() {
            // The heartbeat thread beats; here the passes whose leases it lost stop.
            self.drop_lost_leases();
        } else if now
            .signed_duration_since(self.worker.heartbeat_at)
            .num_seconds()
            >= liveness::heartbeat_secs()
        {
            // Only a worker that holds the lock removes other registrations: ours gone means
            // this one was taken for hung and replaced. Nothing more is recorded, not even the
            // passes that end now, and no heartbeat re-registers it.
            if !self
                .store
                .workers_list()?
                .iter()
                .any(|w| w.id == self.worker.id)
            {
                return Err(WorkerError::Replaced);
            }
            self.worker.heartbeat_at = now;
            self.store.worker_heartbeat(&self.worker)?;
        }
        self.reap().await;
        for batch in self.store.list_batches(&BatchFilter::default())? {
            let out = if self.shared.is_some() {
                self.handle_shared_batch(batch)
            } else {
                self.handle_batch(batch)
            };
            if let Err(e) = out {
                tracing::error!(error = %e, "cannot process batch");
            }
        }
        Ok(())
    }

    pub(super) fn event(
        &self,
        user: Option<Uuid>,
        batch: Option<Uuid>,
        level: EventLevel,
        message: String,
    ) {
        match level {
            EventLevel::Error => tracing::error!(%message),
            EventLevel::Warning => tracing::warn!(%message),
            _ => tracing::info!(%message),
        }
        if let Err(e) = self
            .store
            .insert_event(&Event::new(user, batch, level, message))
        {
            tracing::warn!(error = %e, "cannot record event");
        }
    }

    pub(super) fn cancel_batch(&mut self, batch_id: Uuid, reason: CancelReason) {
        for r in self
            .running
            .values_mut()
            .filter(|r| r.batch_id == batch_id && r.reason != Some(CancelReason::LeaseLost))
        {
            r.reason = Some(reason);
            r.cancel.cancel();
        }
    }

    pub(super) fn handle_batch(&mut self, mut b: BatchRecord) -> Result<(), WorkerError> {
        let now = store::now();
        if let Some(action) = b.requested_action {
            self.apply_batch_action(&b, action)?;
            b = match self.store.get_batch_by_id(&b.id)? {
                Some(b) => b,
                None => return Ok(()),
            };
        }
        self.apply_user_actions(&b)?;
        let idle = !self.batch_busy(b.id);
        match batch::worker_step(batch::rules_status(&b)) {
            // A batch never started whose -StartAfter has come starts as if Start-MigrationBatch
            // had been run then.
            Step::StartWhenDue if batch::start_due(&b, now) => {
                self.apply_batch_action(&b, BatchAction::Start)?;
            }
            Step::PickUp => {
                self.store.update_batch(
                    &b.id,
                    BatchUpdate {
                        status: Some(batch::on_event(b.status, BatchEvent::PickedUp)),
                        started_at: Some(Some(b.started_at.unwrap_or(now))),
                        ..Default::default()
                    },
                )?;
            }
            Step::RunPasses => {
                if b.start_after.is_some_and(|t| t > now) {
                    return Ok(());
                }
                let waiting = self.schedule_users(&b)?;
                if !self.batch_busy(b.id) && !waiting {
                    self.finalize(&b)?;
                }
            }
            Step::StopWhenIdle if idle => {
                self.store.transition_users(
                    &b.id,
                    &user::all_where(user::stopped_with_batch),
                    |s, passes| user::on_event(s, passes, UserEvent::BatchStopped),
                )?;
                let status = batch::on_event(b.status, BatchEvent::PassesStopped);
                self.store.set_batch_status(&b.id, status)?;
                self.event(
                    None,
                    Some(b.id),
                    EventLevel::Info,
                    format!("batch {} stopped", b.name),
                );
            }
            Step::RemoveWhenIdle if idle => {
                self.store.delete_batch(&b.id)?;
                tracing::info!(batch = %b.name, "batch removed");
            }
            Step::SyncWhenDue if b.next_sync_at.is_some_and(|t| t <= now) => {
                let n =
                    self.requeue_users(&b.id, UserEvent::Requeued(BatchAction::SyncNow), |s| {
                        user::requeued_by(BatchAction::SyncNow, s)
                    })?;
                let status = batch::on_event(b.status, BatchEvent::SyncDue { queued: n > 0 });
                if status != b.status {
                    self.store.set_batch_status(&b.id, status)?;
                    self.event(
                        None,
                        Some(b.id),
                        EventLevel::Info,
                        format!("incremental sync of {n} user(s) started"),
                    );
                } else {
                    let next = now + self.incremental_interval();
                    self.store.update_batch(
                        &b.id,
                        BatchUpdate {
                            next_sync_at: Some(Some(next)),
                            ..Default::default()
                        },
                    )?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Moves the users of batch `batch_id` that `which` selects as `event` says; returns how
    /// many moved.
    pub(super) fn requeue_users(
        &self,
        batch_id: &Uuid,
        event: UserEvent,
        which: impl Fn(UserStatus) -> bool,
    ) -> Result<usize, WorkerError> {
        Ok(self
            .store
            .transition_users(batch_id, &user::all_where(which), |s, passes| {
                user::on_event(s, passes, event)
            })?)
    }

    pub(super) fn incremental_interval(&self) -> chrono::Duration {
        let secs = self
            .store
            .config_get("incrementalSyncIntervalSecs")
            .ok()
            .flatten()
            .and_then(|v| v.as_u64())
            .unwrap_or(DEFAULT_INCREMENTAL_INTERVAL.as_secs());
        chrono::Duration::seconds(secs.max(1) as i64)
    }

    /// Starts queued users of `b` as the concurrency limits allow. Returns whether the batch had
    /// users waiting to run (queued, or with a pending action) when it looked: a batch with
    /// none and nothing running has finished its pass.
    fn schedule_users(&mut self, b: &BatchRecord) -> Result<bool, WorkerError> {
        let to_run = self.store.users_to_run(&b.id)?;
        let waiting = !to_run.is_empty();
        let queued: Vec<UserRecord> = to_run
            .into_iter()
            .filter(|u| user::runnable(u.status) && !self.running.contains_key(&u.id))
            .collect();
        if queued.is_empty() {
            return Ok(waiting);
        }
        let endpoint = match self.store.get_endpoint(&b.source_endpoint_id.to_string())? {
            Some(e) => e,
            None => {
                self.store.update_batch(
                    &b.id,
                    BatchUpdate {
                        status: Some(batch::on_event(b.status, BatchEvent::SourceMissing)),
                        message: Some(Some("the source endpoint was removed".into())),
                        ..Default::default()
                    },
                )?;
                return Ok(true);
            }
        };
        if self.shared.is_some() {
            self.claim_and_start(b, &endpoint, queued)?;
            return Ok(true);
        }
        for u in queued {
            let incremental = user::incremental(u.passes);
            let limit = if incremental {
                endpoint.max_concurrent_incremental_syncs
            } else {
                endpoint.max_concurrent_migrations
            } as usize;
            let same_kind = self
                .running
                .values()
                .filter(|r| r.endpoint_id == endpoint.id && r.incremental == incremental)
                .count();
            if same_kind >= limit.max(1) || self.running.len() >= self.max_parallel_users {
                break;
            }
            self.start_user(b, &u, endpoint.id, incremental)?;
        }
        Ok(true)
    }

    /// The shared store's [`Self::schedule_users`]: claims, in CSV order, the queued users
    /// whose kind (initial or incremental) the endpoint's limits leave room for, and starts
    /// each it gets.
    fn claim_and_start(
        &mut self,
        b: &BatchRecord,
        endpoint: &store::EndpointRecord,
        mut queued: Vec<UserRecord>,
    ) -> Result<(), WorkerError> {
        while self.running.len() < self.max_parallel_users {
            let room = |incremental: bool| {
                let limit = if incremental {
                    endpoint.max_concurrent_incremental_syncs
                } else {
                    endpoint.max_concurrent_migrations
                } as usize;
                let same_kind = self
                    .running
                    .values()
                    .filter(|r| r.endpoint_id == endpoint.id && r.incremental == incremental)
                    .count();
                same_kind < limit.max(1)
            };
            let candidates: Vec<&UserRecord> = queued
                .iter()
                .filter(|u| room(user::incremental(u.passes)))
                .collect();
            if candidates.is_empty() {
                break;
            }
            let Some(u) = self.claim_one(b, endpoint, &candidates)? else {
                break;
            };
            queued.retain(|q| q.id != u.id);
            let incremental = user::incremental(u.passes);
            self.start_user(b, &u, endpoint.id, incremental)?;
            if !self.running.contains_key(&u.id) {
                // The job could not be built: the user failed at once.
                self.release(&u.id);
            }
        }
        Ok(())
    }
}

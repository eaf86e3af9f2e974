//! The worker: one process per state directory that runs what the cmdlets recorded.
//!
//! Cmdlets never do long work: they write a requested action or a status into the store and
//! return. The worker polls the store every second, moves batches and users through Exchange's
//! statuses, runs user passes through the engine (bounded by each source endpoint's concurrency
//! limits), retries what a dropped connection or a throttling server interrupted, and writes the
//! batch reports. Its progress lives only in the store, so a worker killed at any point is
//! replaced by a new one that resumes where the store says.

pub mod jobs;
mod notify;
mod reports;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use imapmigration_store::lifecycle::batch::{self, Event as BatchEvent, Step};
use imapmigration_store::lifecycle::user::{self, Event as UserEvent, PassEnd};
use imapmigration_store::{
    self as store, BatchAction, BatchFilter, BatchRecord, BatchStatus, BatchUpdate, Event,
    EventLevel, Store, UserAction, UserRecord, UserStatus, UserUpdate, WorkerRecord,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::engine::{self, Progress, UserOutcome};
use crate::process::lock;

/// Default interval between incremental syncs of a Synced batch (Exchange: 24 hours).
pub const DEFAULT_INCREMENTAL_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// Errors that stop the worker itself (not one user).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    #[error("cannot use the state store: {0}")]
    Store(#[from] store::Error),
    #[error("cannot take the worker lock in {home}: {source}")]
    Lock {
        home: PathBuf,
        source: std::io::Error,
    },
    #[error("another worker (pid {pid}) owns {home}")]
    Busy { home: PathBuf, pid: u32 },
}

/// Why a running pass was cancelled: decides the user's status afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CancelReason {
    Stop,
    Remove,
    Shutdown,
}

/// The result of one user pass.
enum PassResult {
    Done(UserOutcome),
    Failed { code: String, message: String },
    Cancelled,
}

struct Running {
    batch_id: Uuid,
    endpoint_id: Uuid,
    incremental: bool,
    cancel: CancellationToken,
    reason: Option<CancelReason>,
    handle: JoinHandle<PassResult>,
}

/// Records progress in the store at most once a second, so statistics move during a pass
/// without a transaction per message.
struct StoreProgress {
    store: Arc<Store>,
    user_id: Uuid,
    last: Mutex<Instant>,
    sink: Option<Arc<dyn Progress>>,
}

impl StoreProgress {
    fn maybe_refresh(&self, force: bool) {
        let due = {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if force || last.elapsed() >= Duration::from_secs(1) {
                *last = Instant::now();
                true
            } else {
                false
            }
        };
        if due && let Err(e) = self.store.refresh_user_counters(&self.user_id) {
            tracing::warn!(error = %e, "cannot refresh user counters");
        }
    }
}

impl Progress for StoreProgress {
    fn folder_started(&self, folder: &str, to_copy: u64, bytes: u64) {
        if let Some(s) = &self.sink {
            s.folder_started(folder, to_copy, bytes);
        }
        self.maybe_refresh(false);
    }
    fn copied(&self, items: u64, bytes: u64) {
        if let Some(s) = &self.sink {
            s.copied(items, bytes);
        }
        self.maybe_refresh(false);
    }
    fn skipped(&self, n: u64) {
        if let Some(s) = &self.sink {
            s.skipped(n);
        }
        self.maybe_refresh(false);
    }
}

/// Runs batches from one state directory. The daemon and the CLI's foreground mode both drive it.
pub struct Scheduler {
    store: Arc<Store>,
    home: PathBuf,
    worker: WorkerRecord,
    running: HashMap<Uuid, Running>,
    tokens: jobs::TokenCache,
    /// Progress sink of the CLI (a progress bar); the daemon has none.
    sink: Option<Arc<dyn Progress>>,
    /// Cap on simultaneous user passes from this worker, on top of the endpoints' limits.
    max_parallel_users: usize,
    /// Signalled by a pass when it ends, so its outcome is recorded (and the next user started)
    /// at once rather than at the next poll.
    done: Arc<tokio::sync::Notify>,
}

impl Scheduler {
    /// Opens the store of `home` and registers this worker. The caller must hold the worker lock.
    pub fn new(home: &Path, _lock: &lock::WorkerLock) -> Result<Self, WorkerError> {
        let store = Arc::new(Store::open(home)?);
        let now = store::now();
        let worker = WorkerRecord {
            id: Uuid::new_v4().to_string(),
            pid: std::process::id(),
            host: hostname(),
            version: crate::VERSION.to_owned(),
            started_at: now,
            heartbeat_at: now,
        };
        store.worker_heartbeat(&worker)?;
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
        };
        s.recover()?;
        Ok(s)
    }

    /// Attaches a progress sink (the CLI's progress bar).
    pub fn with_progress(mut self, sink: Arc<dyn Progress>) -> Self {
        self.sink = Some(sink);
        self
    }

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
            if let Err(e) = self.tick().await {
                tracing::error!(error = %e, "worker tick failed");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                // The pass signals just before its task returns: give it a moment to finish.
                _ = self.done.notified() => tokio::time::sleep(Duration::from_millis(2)).await,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
        self.shutdown().await;
        let _ = self.store.worker_remove(&self.worker.id);
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
            let busy = self.running.values().any(|r| r.batch_id == batch_id);
            if !busy && batch::settled(status) {
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

    /// One round: collect finished passes, act on every batch, heartbeat.
    pub async fn tick(&mut self) -> Result<(), WorkerError> {
        self.reap().await;
        self.worker.heartbeat_at = store::now();
        self.store.worker_heartbeat(&self.worker)?;
        for batch in self.store.list_batches(&BatchFilter::default())? {
            if let Err(e) = self.handle_batch(batch) {
                tracing::error!(error = %e, "cannot process batch");
            }
        }
        Ok(())
    }

    fn event(&self, user: Option<Uuid>, batch: Option<Uuid>, level: EventLevel, message: String) {
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

    fn cancel_batch(&mut self, batch_id: Uuid, reason: CancelReason) {
        for r in self.running.values_mut().filter(|r| r.batch_id == batch_id) {
            r.reason = Some(reason);
            r.cancel.cancel();
        }
    }

    fn batch_busy(&self, batch_id: Uuid) -> bool {
        self.running.values().any(|r| r.batch_id == batch_id)
    }

    fn handle_batch(&mut self, mut b: BatchRecord) -> Result<(), WorkerError> {
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
        match batch::worker_step(b.status) {
            // A batch created with -StartAfter (or flagged to start on its own) starts when its
            // time has come, as if Start-MigrationBatch had been run then.
            Step::StartWhenDue if b.start_after.map_or(b.auto_start, |t| t <= now) => {
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
    fn requeue_users(
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

    /// Carries out a batch's requested action: re-queues the users it re-queues
    /// ([`user::requeued_by`]), cancels running passes for Stop and Remove, and moves the batch
    /// ([`BatchEvent::Handled`]).
    fn apply_batch_action(
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

    fn apply_user_actions(&mut self, b: &BatchRecord) -> Result<(), WorkerError> {
        // Only users with a pending action: `users_to_run` includes them, and it spares this
        // per-tick pass from reading every user of a large batch.
        let users = self.store.users_to_run(&b.id)?;
        for u in users.iter().filter(|u| u.requested_action.is_some()) {
            let Some(action) = u.requested_action else {
                continue;
            };
            match action {
                UserAction::Start | UserAction::SyncNow => {
                    if !self.running.contains_key(&u.id) {
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

    fn incremental_interval(&self) -> chrono::Duration {
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

    fn start_user(
        &mut self,
        b: &BatchRecord,
        u: &UserRecord,
        endpoint_id: Uuid,
        incremental: bool,
    ) -> Result<(), WorkerError> {
        let job = match jobs::build(&self.store, &mut self.tokens, b, u) {
            Ok(job) => job,
            Err(e) => {
                let status = user::on_event(
                    u.status,
                    u.passes,
                    UserEvent::PassEnded {
                        end: PassEnd::Failed,
                        completing: b.status == BatchStatus::Completing,
                    },
                );
                self.store.set_user_status(
                    &u.id,
                    status,
                    Some(("InvalidArgument", &e.to_string())),
                )?;
                self.event(
                    Some(u.id),
                    Some(b.id),
                    EventLevel::Error,
                    format!("{}: {e}", u.email),
                );
                return Ok(());
            }
        };
        let now = store::now();
        let status = user::on_event(
            u.status,
            u.passes,
            UserEvent::PassStarted {
                completing: b.status == BatchStatus::Completing,
            },
        );
        self.store.update_user(
            &u.id,
            UserUpdate {
                status: Some(status),
                requested_action: Some(None),
                started_at: Some(Some(u.started_at.unwrap_or(now))),
                last_sync_start: Some(Some(now)),
                ..Default::default()
            },
        )?;
        let cancel = CancellationToken::new();
        let store = Arc::clone(&self.store);
        let progress = Arc::new(StoreProgress {
            store: Arc::clone(&store),
            user_id: u.id,
            last: Mutex::new(Instant::now()),
            sink: self.sink.clone(),
        });
        let token = cancel.clone();
        let email = u.email.clone();
        let done = Arc::clone(&self.done);
        let handle = tokio::spawn(async move {
            let span = tracing::info_span!("user", email = %email);
            let _enter = span.enter();
            drop(_enter);
            let r = run_pass(&store, &job, &token, progress.as_ref()).await;
            progress.maybe_refresh(true);
            done.notify_one();
            r
        });
        self.running.insert(
            u.id,
            Running {
                batch_id: b.id,
                endpoint_id,
                incremental,
                cancel,
                reason: None,
                handle,
            },
        );
        Ok(())
    }

    /// Collects finished passes and records their outcome.
    async fn reap(&mut self) {
        let done: Vec<Uuid> = self
            .running
            .iter()
            .filter(|(_, r)| r.handle.is_finished())
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            let Some(mut r) = self.running.remove(&id) else {
                continue;
            };
            let handle =
                std::mem::replace(&mut r.handle, tokio::spawn(async { PassResult::Cancelled }));
            let result = match handle.await {
                Ok(res) => res,
                Err(e) => PassResult::Failed {
                    code: "Internal".into(),
                    message: format!("the copy task ended abnormally: {e}"),
                },
            };
            if let Err(e) = self.record(id, &r, result) {
                tracing::error!(error = %e, "cannot record the outcome of a pass");
            }
        }
    }

    fn record(
        &mut self,
        user_id: Uuid,
        r: &Running,
        result: PassResult,
    ) -> Result<(), WorkerError> {
        let Some(user) = self.store.get_user_by_id(&user_id)? else {
            return Ok(());
        };
        let batch = self.store.get_batch_by_id(&r.batch_id)?;
        let now = store::now();
        let counts = self.store.refresh_user_counters(&user_id)?;
        let completing = batch
            .as_ref()
            .is_some_and(|b| b.status == BatchStatus::Completing);
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
                        "{}: pass {} finished: {} copied, {} flag updates, {} skipped; {} of {} items on the target",
                        user.email,
                        user.passes + 1,
                        outcome.items_copied,
                        outcome.flags_updated,
                        outcome.items_skipped,
                        counts.copied_items,
                        outcome.items_total
                    ),
                );
            }
            PassResult::Failed { code, message } => {
                let status = ended(PassEnd::Failed);
                self.store
                    .set_user_status(&user_id, status, Some((&code, &message)))?;
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
                CancelReason::Shutdown => {
                    self.store
                        .set_user_status(&user_id, ended(PassEnd::Interrupted), None)?;
                }
            },
        }
        Ok(())
    }

    fn finalize(&mut self, b: &BatchRecord) -> Result<(), WorkerError> {
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
        if let Err(e) = reports::write(&self.store, &self.home, b) {
            tracing::warn!(error = %e, "cannot write the batch reports");
        }
        notify::spawn(&self.store, &self.home, b.id);
        Ok(())
    }
}

/// One pass over a user's mailbox with the engine's retries (dropped connections, timeouts
/// and throttling back off and resume; see `engine::retry`), as the worker records it.
async fn run_pass(
    store: &Store,
    job: &engine::UserJob,
    cancel: &CancellationToken,
    progress: &dyn Progress,
) -> PassResult {
    let policy = engine::RetryPolicy::default();
    match engine::sync_user_with_retries(job, store, cancel, progress, &policy).await {
        Ok(outcome) => PassResult::Done(outcome),
        Err(_) if cancel.is_cancelled() => PassResult::Cancelled,
        Err(e) => PassResult::Failed {
            code: e.code().to_owned(),
            message: e.to_string(),
        },
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".into())
}

/// Sets up logging into `<home>/logs/worker.log.<date>`, rotated daily, seven files kept.
pub fn init_logging(home: &Path) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::EnvFilter;
    let dir = store::paths::logs_dir(home);
    let _ = std::fs::create_dir_all(&dir);
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("worker")
        .filename_suffix("log")
        .max_log_files(7)
        .build(&dir)
        .ok()?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter =
        EnvFilter::try_from_env("IMAPMIGRATION_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(writer)
        .try_init();
    Some(guard)
}

/// The daemon: takes the lock (or returns `Busy`), logs to the state directory, runs until
/// `shutdown`.
pub async fn run_daemon(home: &Path, shutdown: CancellationToken) -> Result<(), WorkerError> {
    let lock = match lock::WorkerLock::acquire_within(home, Duration::from_secs(2)) {
        Ok(Some(l)) => l,
        Ok(None) => {
            let pid = lock::probe(home).ok().flatten().unwrap_or(0);
            return Err(WorkerError::Busy {
                home: home.to_owned(),
                pid,
            });
        }
        Err(source) => {
            return Err(WorkerError::Lock {
                home: home.to_owned(),
                source,
            });
        }
    };
    let scheduler = Scheduler::new(home, &lock)?;
    let r = scheduler.run(shutdown).await;
    drop(lock);
    r
}

/// Kept for the reports module: the current UTC time as the reports print it.
pub(crate) fn utc_now_text() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

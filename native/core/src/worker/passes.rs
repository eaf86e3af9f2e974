//! One user's pass: started as a task when a slot is free, its progress written to the store
//! as it goes, its result collected when it ends (then recorded, see `record`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use imapmigration_store::lifecycle::user::{self, Event as UserEvent, PassEnd};
use imapmigration_store::{
    self as store, BatchRecord, BatchStatus, EventLevel, Store, UserRecord, UserUpdate,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::scheduler::Scheduler;
use super::{WorkerError, jobs};
use crate::ErrorCode;
use crate::engine::{self, Progress, UserOutcome};

/// Why a running pass was cancelled: decides the user's status afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CancelReason {
    Stop,
    Remove,
    Shutdown,
    /// The user's lease was lost (shared store): another worker takes it over, so the pass
    /// records nothing.
    LeaseLost,
}

/// The result of one user pass.
pub(super) enum PassResult {
    Done(UserOutcome),
    Failed { code: ErrorCode, message: String },
    Cancelled,
}

pub(super) struct Running {
    pub(super) batch_id: Uuid,
    pub(super) endpoint_id: Uuid,
    pub(super) incremental: bool,
    pub(super) cancel: CancellationToken,
    pub(super) reason: Option<CancelReason>,
    pub(super) handle: JoinHandle<PassResult>,
    /// When the pass was started (after its lease was claimed).
    pub(super) started: Instant,
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
    pub(super) fn maybe_refresh(&self, force: bool) {
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

impl Scheduler {
    pub(super) fn start_user(
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
                    Some((ErrorCode::InvalidArgument.as_str(), &e.to_string())),
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
                started: Instant::now(),
            },
        );
        Ok(())
    }

    /// Collects finished passes and records their outcome.
    pub(super) async fn reap(&mut self) {
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
                    code: ErrorCode::Internal,
                    message: format!("the copy task ended abnormally: {e}"),
                },
            };
            if let Err(e) = self.record(id, &r, result) {
                tracing::error!(error = %e, "cannot record the outcome of a pass");
            }
            self.release(&id);
        }
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
            code: e.code(),
            message: e.to_string(),
        },
    }
}

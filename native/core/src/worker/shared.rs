//! Several workers on one PostgreSQL store: leases on users, and one worker at a time per
//! batch for the batch-level steps.
//!
//! A worker registers itself and beats on a thread of its own (`pg::Heartbeat`, every
//! [`liveness::heartbeat_secs`]), which pushes each of its leases [`liveness::stale_after_secs`]
//! ahead. It starts a user only after claiming the user's lease (`FOR UPDATE SKIP LOCKED`, the
//! status checked again in the claim), releases it once the pass's outcome is recorded, and
//! cancels a pass at once when its lease is lost: the last beat failed, did not renew that
//! user, or is too old to trust. A pass cancelled so records nothing: the user belongs to the
//! worker that took it over.
//!
//! Batch-level work (requested actions, status moves, the finish with its reports and mail,
//! re-queuing the users of a dead worker) runs under the batch's advisory lock
//! (`PgStore::try_lock_batch`), on the batch as read after taking it; a worker that does not
//! get the lock leaves the batch for its next round. "Busy" and "idle" count the passes of
//! every worker (their unexpired leases), not only this one's.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use imapmigration_store::lifecycle::batch::{self, Step};
use imapmigration_store::lifecycle::user::{self, Event as UserEvent};
use imapmigration_store::location::StoreLocation;
use imapmigration_store::pg::{EndReason, EndpointLimits, Heartbeat, PgStore};
use imapmigration_store::{
    BatchRecord, EndpointRecord, EventLevel, Store, UserRecord, WorkerRecord,
};
use uuid::Uuid;

use super::WorkerError;
use super::passes::CancelReason;
use super::scheduler::Scheduler;
use crate::process::liveness;

/// This worker's hold on a shared store.
pub(super) struct Shared {
    pub(super) pg: Arc<PgStore>,
    heartbeat: Option<Heartbeat>,
    /// Since when this worker beats (a first beat that never succeeds loses every lease).
    since: Instant,
}

impl Shared {
    /// Registers `worker` on the shared store of `home` and starts its heartbeat. Refuses to
    /// run beside a live worker of another version.
    pub(super) fn open(
        home: &std::path::Path,
        store: &Store,
        worker: &WorkerRecord,
    ) -> Result<Shared, WorkerError> {
        let now = imapmigration_store::now();
        if let Some(other) = store
            .workers_list()?
            .into_iter()
            .find(|w| w.version != worker.version && liveness::alive(w, now))
        {
            return Err(WorkerError::SharedStoreOtherVersion {
                host: other.host,
                pid: other.pid,
                version: other.version,
            });
        }
        let StoreLocation::Postgres(location) = StoreLocation::resolve(home)? else {
            return Err(WorkerError::Store(
                imapmigration_store::Error::StoreConfig {
                    setting: imapmigration_store::location::STORE_ENV.into(),
                    reason: "the store stopped being PostgreSQL while the worker started".into(),
                },
            ));
        };
        let pg = Arc::new(PgStore::open(home, &location)?.with_lease_secs(lease_secs()));
        pg.worker_register(&worker.id, worker.pid, &worker.host, &worker.version)?;
        let heartbeat = Heartbeat::start(
            Arc::clone(&pg),
            &worker.id,
            Duration::from_secs(liveness::heartbeat_secs().max(1) as u64),
        );
        Ok(Shared {
            pg,
            heartbeat: Some(heartbeat),
            since: Instant::now(),
        })
    }

    /// Stops beating and unregisters, giving back every lease still held.
    pub(super) fn close(&mut self, worker: &str) {
        drop(self.heartbeat.take());
        if let Err(e) = self.pg.worker_remove(worker) {
            tracing::warn!(error = %e, "cannot unregister the worker");
        }
    }

    /// The users whose leases this worker can still trust, or `None` when it can trust none
    /// (the last beat failed, or the last good one is older than the lease less one beat).
    /// `Some((since, users))`: `users` were renewed by a beat that began at `since`.
    fn trusted(&self) -> Option<(Instant, HashSet<Uuid>)> {
        let state = self.heartbeat.as_ref()?.state();
        let margin = Duration::from_secs((lease_secs() - liveness::heartbeat_secs()).max(1) as u64);
        let last_ok = state.last_ok;
        let fresh = last_ok.unwrap_or(self.since).elapsed() < margin;
        if state.last_error.is_some() || !fresh {
            return None;
        }
        let held = state
            .held_users
            .iter()
            .filter_map(|u| Uuid::parse_str(u).ok())
            .collect();
        Some((last_ok.unwrap_or(self.since), held))
    }
}

/// How long a lease lasts without renewal: the workers' staleness (30 s;
/// `IMAPMIGRATION_WORKER_STALE_SECS` in tests).
fn lease_secs() -> i64 {
    liveness::stale_after_secs()
}

impl Scheduler {
    /// Cancels every pass whose lease this worker may have lost ([`Shared::trusted`]). The
    /// pass stops at its next message and records nothing.
    pub(super) fn drop_lost_leases(&mut self) {
        let Some(shared) = &self.shared else {
            return;
        };
        let trusted = shared.trusted();
        for (id, r) in self.running.iter_mut() {
            if r.reason == Some(CancelReason::LeaseLost) {
                continue;
            }
            let lost = match &trusted {
                None => true,
                // A pass claimed after that beat began is not in it yet.
                Some((since, held)) => r.started < *since && !held.contains(id),
            };
            if lost {
                tracing::warn!(user = %id, "the lease on this user was lost: its pass stops and another worker resumes it");
                r.reason = Some(CancelReason::LeaseLost);
                r.cancel.cancel();
            }
        }
    }

    /// Whether this worker still holds `user_id` (always on SQLite).
    pub(super) fn holds(&self, user_id: &Uuid) -> bool {
        match &self.shared {
            None => true,
            Some(s) => {
                s.pg.holds(&self.worker.id, &user_id.to_string())
                    .unwrap_or(false)
            }
        }
    }

    /// Gives a user's lease back (its pass's outcome is recorded).
    pub(super) fn release(&self, user_id: &Uuid) {
        if let Some(s) = &self.shared
            && let Err(e) = s.pg.release(&self.worker.id, &user_id.to_string())
        {
            tracing::warn!(user = %user_id, error = %e, "cannot release the lease; it expires on its own");
        }
    }

    /// Whether any worker runs a pass of batch `batch_id` (on SQLite: this one). A store
    /// that cannot be read counts as busy, the safe side.
    pub(super) fn batch_busy(&self, batch_id: Uuid) -> bool {
        if self.running.values().any(|r| r.batch_id == batch_id) {
            return true;
        }
        match &self.shared {
            None => false,
            Some(s) => {
                s.pg.batch_leases(&batch_id.to_string())
                    .map(|l| !l.is_empty())
                    .unwrap_or(true)
            }
        }
    }

    /// The users of `batch_id` another worker holds (none on SQLite): their requested
    /// actions are that worker's to carry out.
    pub(super) fn held_elsewhere(&self, batch_id: Uuid) -> Result<HashSet<Uuid>, WorkerError> {
        let Some(s) = &self.shared else {
            return Ok(HashSet::new());
        };
        Ok(s.pg
            .batch_leases(&batch_id.to_string())?
            .into_iter()
            .filter(|(_, w)| *w != self.worker.id)
            .filter_map(|(u, _)| Uuid::parse_str(&u).ok())
            .collect())
    }

    /// One batch's round on a shared store: this worker's passes of a stopping or removed
    /// batch are cancelled; the rest runs under the batch's lock, on the batch as read then.
    pub(super) fn handle_shared_batch(&mut self, b: BatchRecord) -> Result<(), WorkerError> {
        match batch::worker_step(batch::rules_status(&b)) {
            Step::StopWhenIdle => self.cancel_batch(b.id, CancelReason::Stop),
            Step::RemoveWhenIdle => self.cancel_batch(b.id, CancelReason::Remove),
            _ => {}
        }
        let Some(pg) = self.shared.as_ref().map(|s| Arc::clone(&s.pg)) else {
            return Ok(());
        };
        let key = b.id.to_string();
        if !pg.try_lock_batch(&key)? {
            return Ok(());
        }
        let out = match self.store.get_batch_by_id(&b.id) {
            Ok(Some(b)) => self
                .requeue_orphans(&pg, &b)
                .and_then(|()| self.handle_batch(b)),
            Ok(None) => Ok(()),
            Err(e) => Err(e.into()),
        };
        let unlocked = pg.unlock_batch(&key);
        out?;
        unlocked?;
        Ok(())
    }

    /// Users a dead worker left mid-pass (their leases expired, or they hold none) go back to
    /// the queue; the engine's state rows make the next pass resume without duplicates.
    fn requeue_orphans(&mut self, pg: &PgStore, b: &BatchRecord) -> Result<(), WorkerError> {
        let statuses = user::all_where(user::interrupted);
        let key = b.id.to_string();
        // Each claim takes one user; the bound only guards against a loop that never ends.
        for _ in 0..10_000 {
            let Some(lease) = pg.claim_user(&self.worker.id, Some(&key), &statuses)? else {
                break;
            };
            let id = Uuid::parse_str(&lease.user_id).ok();
            let user: Option<UserRecord> = match id {
                Some(id) => self.store.get_user_by_id(&id)?,
                None => None,
            };
            if let Some(u) = &user
                && !self.running.contains_key(&u.id)
            {
                let to = user::on_event(u.status, u.passes, UserEvent::WorkerRestarted);
                self.store.set_user_status(&u.id, to, None)?;
                let from = lease
                    .took_over_from
                    .map(|w| format!(" (worker {w} stopped renewing its lease)"))
                    .unwrap_or_default();
                self.event(
                    Some(u.id),
                    Some(b.id),
                    EventLevel::Warning,
                    format!("{}: resumed after its worker stopped{from}", u.email),
                );
            }
            let _ = pg.release_as(&self.worker.id, &lease.user_id, EndReason::Requeued);
        }
        Ok(())
    }

    /// Claims one of `candidates` (in their order) for a pass; `None` when every one was
    /// claimed or run by another worker meanwhile. Returns the user as read after the claim.
    /// The source endpoint's limits hold over all workers (`EndpointLimits`): a user is
    /// claimed only while fewer of its kind on that endpoint are held by any worker.
    pub(super) fn claim_one(
        &self,
        b: &BatchRecord,
        endpoint: &EndpointRecord,
        candidates: &[&UserRecord],
    ) -> Result<Option<UserRecord>, WorkerError> {
        let Some(s) = &self.shared else {
            return Ok(candidates.first().map(|u| (*u).clone()));
        };
        let ids: Vec<String> = candidates.iter().map(|u| u.id.to_string()).collect();
        let statuses = user::all_where(user::runnable);
        let limits = EndpointLimits {
            endpoint_id: endpoint.id.to_string(),
            initial: i64::from(endpoint.max_concurrent_migrations),
            incremental: i64::from(endpoint.max_concurrent_incremental_syncs),
        };
        let Some(lease) = s.pg.claim_user_among(
            &self.worker.id,
            &b.id.to_string(),
            &ids,
            &statuses,
            Some(&limits),
        )?
        else {
            return Ok(None);
        };
        let user = match Uuid::parse_str(&lease.user_id) {
            Ok(id) => self.store.get_user_by_id(&id)?,
            Err(_) => None,
        };
        if user.is_none() {
            let _ = s.pg.release(&self.worker.id, &lease.user_id);
        }
        Ok(user)
    }
}

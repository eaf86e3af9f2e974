//! The PostgreSQL backend: one database shared by the workers of several hosts.
//!
//! [`PgStore::open`] connects ([`crate::location`] says where from), brings the schema
//! ([`schema`]) forward inside one transaction under an advisory lock (so hosts starting at
//! once migrate once), refuses a schema newer than this build, and checks that this host's
//! `<home>/secret.key` opens the secrets sealed in the database: the first host records a
//! sealed check value, every later one must open it. Any of these failing leaves the database
//! as it was.
//!
//! Leases: a worker claims a user with `SELECT ... FOR UPDATE SKIP LOCKED`, so workers polling
//! at once never wait on or take the same row, and holds it until `lease_expires_at`, which its
//! heartbeat ([`PgStore::heartbeat`], every [`HEARTBEAT_SECS`]) pushes [`LEASE_SECS`] ahead.
//! A worker that dies or loses the database stops renewing; once the lease has expired another
//! worker's claim takes the user over ([`Lease::took_over_from`]) and resumes it from the
//! committed checkpoints. Times are the database's clock. Every holding is kept in the
//! `leases` table for [`PgStore::lease_history`].

pub(crate) mod conn;
mod schema;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::location::PgLocation;
use crate::paths;
use crate::secret::{ExposeSecret, Sealer, SecretString};
use crate::types::{Timestamp, UserStatus};
use conn::{Failure, PgConn};

/// The PostgreSQL schema version this build writes and understands.
pub const PG_SCHEMA_VERSION: i64 = schema::MIGRATIONS.len() as i64;

/// How long a lease lasts without a heartbeat, in seconds (the SQLite worker's stale limit).
pub const LEASE_SECS: i64 = crate::types::WorkerRecord::STALE_AFTER_SECS;

/// How often a worker renews its heartbeat and its leases, in seconds.
pub const HEARTBEAT_SECS: i64 = crate::types::WorkerRecord::HEARTBEAT_SECS;

/// Key of the advisory lock that serialises migrations.
const MIGRATE_LOCK: i64 = 0x1A4D_1647;

/// First key of the advisory locks of batches ([`PgStore::try_lock_batch`]).
const BATCH_LOCK_CLASS: i32 = 0x1A4D_1648;

/// Key of the advisory locks of source endpoints, taken for the length of a claim so that
/// claims on one endpoint count its holders one after the other ([`EndpointLimits`]).
const ENDPOINT_LOCK_CLASS: i32 = 0x1A4D_1649;

/// The plaintext sealed as `meta.key_check`.
const KEY_CHECK: &str = "imapmigration key check v1";

/// A handle on the shared database plus the sealer of this host's `<home>/secret.key`.
pub struct PgStore {
    conn: PgConn,
    sealer: Sealer,
    home: PathBuf,
    lease_secs: i64,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", self.conn.location())
            .field("home", &self.home)
            .finish()
    }
}

/// A worker as the shared store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgWorker {
    /// A fresh identity per worker process.
    pub id: String,
    /// Its process id on `host`.
    pub pid: u32,
    /// The host it runs on.
    pub host: String,
    /// Its ImapMigration version.
    pub version: String,
    /// When it started.
    pub started_at: Timestamp,
    /// Its last heartbeat (the database's clock).
    pub heartbeat_at: Timestamp,
    /// Whether that heartbeat is younger than [`LEASE_SECS`].
    pub alive: bool,
    /// How many users it holds unexpired leases on.
    pub users_held: u32,
}

/// The concurrency limits of one source endpoint over all workers of a shared store:
/// `MaxConcurrentMigrations` (users in their initial sync) and
/// `MaxConcurrentIncrementalSyncs` (users past their first pass), counted from the unexpired
/// leases on users of every batch migrating from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointLimits {
    /// The source endpoint's id.
    pub endpoint_id: String,
    /// Users in their initial sync at once.
    pub initial: i64,
    /// Users in an incremental sync at once.
    pub incremental: i64,
}

/// A user claimed by a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The user.
    pub user_id: String,
    /// Its batch.
    pub batch_id: String,
    /// The worker whose lease on it had expired, when this claim took the user over: the
    /// caller then verifies the in-flight messages as after a crash.
    pub took_over_from: Option<String>,
}

/// One holding of a user by a worker, from the `leases` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSpan {
    /// The user.
    pub user_id: String,
    /// The worker.
    pub worker_id: String,
    /// When the claim was made.
    pub acquired_at: Timestamp,
    /// When it was released or expired (taken over); `None` while held.
    pub ended_at: Option<Timestamp>,
    /// Why it ended: `released` (a pass ended), `requeued` (held only to put a dead worker's
    /// user back in the queue), `expired` (taken over after it ran out); `None` while held.
    pub end_reason: Option<String>,
}

/// Why a worker gave a user back ([`PgStore::release_as`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The pass ended.
    Released,
    /// The user was held only to put it back in the queue (a dead worker's user): no pass ran.
    Requeued,
}

impl EndReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Released => "released",
            Self::Requeued => "requeued",
        }
    }
}

impl PgStore {
    /// Connects, migrates and checks the key; see the module documentation.
    pub fn open(home: &Path, location: &PgLocation) -> Result<PgStore> {
        let conn = PgConn::open(location)?;
        let key_path = paths::key_path(home);
        let key_exists = key_path.exists();
        let recorded = read_key_check(&conn)?;
        if !key_exists && recorded.is_some() {
            // Creating a fresh key here would only produce a key that cannot match.
            return Err(Error::KeyMismatch {
                path: key_path,
                location: location.to_string(),
            });
        }
        let sealer = Sealer::open(home)?;
        let check = sealer.seal(&SecretString::from(KEY_CHECK.to_owned()));
        let location_text = location.to_string();
        let check_sealer = sealer.clone();
        conn.try_call("migrate the schema", move |c| {
            // A session lock taken before the transaction begins: the transaction's start then
            // sees the catalog as the previous holder committed it (an advisory lock taken
            // inside would not refresh the catalog caches).
            c.execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK])?;
            let out = migrate_locked(c, &location_text, &check_sealer, &check);
            let unlocked = c.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK]);
            out?;
            unlocked?;
            Ok(())
        })
        .map_err(|e| match e {
            Error::KeyMismatch { location, .. } => Error::KeyMismatch {
                path: paths::key_path(home),
                location,
            },
            other => other,
        })?;
        Ok(PgStore {
            conn,
            sealer,
            home: home.to_path_buf(),
            lease_secs: LEASE_SECS,
        })
    }

    /// The connection and the sealer, for the [`crate::Store`] over this database.
    pub(crate) fn into_parts(self) -> (PgConn, Sealer) {
        (self.conn, self.sealer)
    }

    /// Shortens the lease (tests of takeover); the heartbeat must stay well inside it.
    pub fn with_lease_secs(mut self, secs: i64) -> PgStore {
        self.lease_secs = secs.max(1);
        self
    }

    /// The lease length in seconds.
    pub fn lease_secs(&self) -> i64 {
        self.lease_secs
    }

    /// The state directory (key file, logs) of this host.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The sealer over this host's key, which matches the store's (checked at open).
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// The schema version recorded in the database.
    pub fn schema_version(&self) -> Result<i64> {
        self.conn.try_call("read the schema version", |c| {
            let mut tx = c.transaction()?;
            let v = schema_version_in(&mut tx)?;
            tx.commit()?;
            Ok(v)
        })
    }

    /// Registers a worker (or refreshes it) with the database's clock as its heartbeat.
    pub fn worker_register(&self, id: &str, pid: u32, host: &str, version: &str) -> Result<()> {
        let (id, host, version) = (id.to_owned(), host.to_owned(), version.to_owned());
        let pid = i64::from(pid);
        self.conn.call("register the worker", move |c| {
            c.execute(
                "INSERT INTO workers (id, pid, host, version, started_at, heartbeat_at, heartbeat_db) \
                 VALUES ($1, $2, $3, $4, $5, $5, now()) ON CONFLICT (id) DO UPDATE SET \
                 pid = excluded.pid, host = excluded.host, version = excluded.version, \
                 heartbeat_at = excluded.heartbeat_at, heartbeat_db = now()",
                &[&id, &pid, &host, &version, &db_now_text()],
            )
            .map(|_| ())
        })
    }

    /// The worker's heartbeat: records it alive and pushes every lease it holds
    /// [`Self::lease_secs`] ahead. Returns how many leases it still holds; a lease that expired
    /// meanwhile (the worker was cut off) is not renewed, since another worker may hold it now.
    pub fn heartbeat(&self, worker: &str) -> Result<u32> {
        Ok(self.heartbeat_held(worker)?.len() as u32)
    }

    /// [`Self::heartbeat`], returning the users whose leases it renewed: a user the worker is
    /// copying and that is not among them is no longer its own.
    pub fn heartbeat_held(&self, worker: &str) -> Result<Vec<String>> {
        let worker = worker.to_owned();
        let secs = self.lease_secs as f64;
        self.conn.call("record the worker heartbeat", move |c| {
            let mut tx = c.transaction()?;
            tx.execute(
                "UPDATE workers SET heartbeat_db = now(), heartbeat_at = $2 WHERE id = $1",
                &[&worker, &db_now_text()],
            )?;
            let rows = tx.query(
                "UPDATE users SET lease_expires_at = now() + make_interval(secs => $2) \
                 WHERE lease_worker = $1 AND lease_expires_at > now() RETURNING id",
                &[&worker, &secs],
            )?;
            tx.commit()?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    /// [`Self::claim_user`] restricted to `candidates`, taken in their order: the scheduler
    /// names the users its concurrency limits leave room for. The status is checked again in
    /// the claim, so a user another worker ran meanwhile is not run twice. With `limits`, a
    /// user is claimed only while fewer users of its kind (initial or incremental) on that
    /// source endpoint are held by all workers together than the endpoint allows.
    pub fn claim_user_among(
        &self,
        worker: &str,
        batch_id: &str,
        candidates: &[String],
        statuses: &[UserStatus],
        limits: Option<&EndpointLimits>,
    ) -> Result<Option<Lease>> {
        if candidates.is_empty() {
            return Ok(None);
        }
        self.claim(worker, Some(batch_id), Some(candidates), statuses, limits)
    }

    /// The unexpired leases on users of `batch_id`: `(user, worker)`.
    pub fn batch_leases(&self, batch_id: &str) -> Result<Vec<(String, String)>> {
        let batch = batch_id.to_owned();
        let rows = self.conn.call("read a batch's leases", move |c| {
            c.query(
                "SELECT id, lease_worker FROM users WHERE batch_id = $1 \
                 AND lease_worker IS NOT NULL AND lease_expires_at > now()",
                &[&batch],
            )
        })?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Takes the batch-level lock of `batch_id` without waiting: the one worker that holds it
    /// moves the batch's status, handles its requested actions and writes its reports; the
    /// others leave the batch alone until their next round. A session lock of this
    /// connection, so a worker that dies or loses the database loses it too. Released by
    /// [`Self::unlock_batch`].
    pub fn try_lock_batch(&self, batch_id: &str) -> Result<bool> {
        let batch = batch_id.to_owned();
        self.conn.call("lock a batch", move |c| {
            let row = c.query_one(
                "SELECT pg_try_advisory_lock($1::int, hashtext($2))",
                &[&BATCH_LOCK_CLASS, &batch],
            )?;
            Ok(row.get(0))
        })
    }

    /// Releases the lock [`Self::try_lock_batch`] took.
    pub fn unlock_batch(&self, batch_id: &str) -> Result<()> {
        let batch = batch_id.to_owned();
        self.conn.call("unlock a batch", move |c| {
            c.query_one(
                "SELECT pg_advisory_unlock($1::int, hashtext($2))",
                &[&BATCH_LOCK_CLASS, &batch],
            )
            .map(|_| ())
        })
    }

    /// Claims one user of `batch_id` (any batch when `None`) whose status is one of
    /// `statuses` and that no worker holds (or whose lease expired), in CSV order. Rows
    /// another worker is claiming at this moment are skipped, not waited for.
    pub fn claim_user(
        &self,
        worker: &str,
        batch_id: Option<&str>,
        statuses: &[UserStatus],
    ) -> Result<Option<Lease>> {
        self.claim(worker, batch_id, None, statuses, None)
    }

    fn claim(
        &self,
        worker: &str,
        batch_id: Option<&str>,
        candidates: Option<&[String]>,
        statuses: &[UserStatus],
        limits: Option<&EndpointLimits>,
    ) -> Result<Option<Lease>> {
        let worker = worker.to_owned();
        let batch = batch_id.map(str::to_owned);
        let candidates: Option<Vec<String>> = candidates.map(<[String]>::to_vec);
        let statuses: Vec<String> = statuses.iter().map(|s| s.as_str().to_owned()).collect();
        let limits = limits.cloned();
        let secs = self.lease_secs as f64;
        self.conn.call("claim a user", move |c| {
            // READ COMMITTED (the default): each statement below sees what the claims before
            // this one committed, the endpoint's lock included. The times are the clock's at
            // each statement, not the transaction's start (`now()`), which comes before the
            // wait for the endpoint's lock: a lease is recorded as taken when it was.
            let mut tx = c.transaction()?;
            let (initial_room, incremental_room) = match &limits {
                None => (true, true),
                Some(l) => {
                    tx.execute(
                        "SELECT pg_advisory_xact_lock($1::int, hashtext($2))",
                        &[&ENDPOINT_LOCK_CLASS, &l.endpoint_id],
                    )?;
                    let held = tx.query_one(
                        "SELECT count(*) FILTER (WHERE NOT u.lease_incremental), count(*) FILTER (WHERE u.lease_incremental) \
                         FROM users u JOIN batches b ON b.id = u.batch_id \
                         WHERE b.source_endpoint_id = $1 AND u.lease_worker IS NOT NULL \
                           AND u.lease_expires_at > clock_timestamp()",
                        &[&l.endpoint_id],
                    )?;
                    let (initial, incremental): (i64, i64) = (held.get(0), held.get(1));
                    (initial < l.initial.max(1), incremental < l.incremental.max(1))
                }
            };
            if !initial_room && !incremental_room {
                tx.commit()?;
                return Ok(None);
            }
            let row = tx.query_opt(
                "SELECT id, batch_id, lease_worker, lease_expires_at IS NOT NULL AND lease_expires_at <= clock_timestamp() \
                 FROM users \
                 WHERE status = ANY($1) AND ($2::text IS NULL OR batch_id = $2) \
                   AND ($3::text[] IS NULL OR id = ANY($3)) \
                   AND (lease_worker IS NULL OR lease_expires_at <= clock_timestamp()) \
                   AND CASE WHEN passes = 0 THEN $4::boolean ELSE $5::boolean END \
                 ORDER BY batch_id, \
                   CASE WHEN $3::text[] IS NULL THEN row_index ELSE array_position($3, id) END \
                 LIMIT 1 \
                 FOR UPDATE SKIP LOCKED",
                &[&statuses, &batch, &candidates, &initial_room, &incremental_room],
            )?;
            let Some(row) = row else {
                tx.commit()?;
                return Ok(None);
            };
            let user_id: String = row.get(0);
            let batch_id: String = row.get(1);
            let previous: Option<String> = row.get(2);
            let expired: bool = row.get(3);
            let took_over_from = previous.filter(|_| expired);
            if took_over_from.is_some() {
                // The old holding ended when its lease ran out.
                tx.execute(
                    "UPDATE leases SET ended_at = u.lease_expires_at, end_reason = 'expired' \
                     FROM users u WHERE u.id = $1 AND leases.user_id = u.id \
                       AND leases.worker_id = u.lease_worker AND leases.ended_at IS NULL",
                    &[&user_id],
                )?;
            }
            tx.execute(
                "UPDATE users SET lease_worker = $2, lease_expires_at = clock_timestamp() + make_interval(secs => $3), \
                 lease_incremental = passes > 0 WHERE id = $1",
                &[&user_id, &worker, &secs],
            )?;
            tx.execute(
                "INSERT INTO leases (user_id, worker_id, acquired_at, took_over_from) \
                 VALUES ($1, $2, clock_timestamp(), $3)",
                &[&user_id, &worker, &took_over_from],
            )?;
            tx.commit()?;
            Ok(Some(Lease {
                user_id,
                batch_id,
                took_over_from,
            }))
        })
    }

    /// Whether `worker` holds an unexpired lease on `user_id`: checked before every write of
    /// copied mail, so a worker that was cut off long enough to lose its lease stops.
    pub fn holds(&self, worker: &str, user_id: &str) -> Result<bool> {
        let (worker, user) = (worker.to_owned(), user_id.to_owned());
        self.conn.call("check a lease", move |c| {
            let row = c.query_one(
                "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND lease_worker = $2 \
                 AND lease_expires_at > now())",
                &[&user, &worker],
            )?;
            Ok(row.get(0))
        })
    }

    /// Gives a user back (its pass ended); returns whether `worker` still held it.
    pub fn release(&self, worker: &str, user_id: &str) -> Result<bool> {
        self.release_as(worker, user_id, EndReason::Released)
    }

    /// [`Self::release`] recording why the holding ended.
    pub fn release_as(&self, worker: &str, user_id: &str, reason: EndReason) -> Result<bool> {
        let (worker, user) = (worker.to_owned(), user_id.to_owned());
        let reason = reason.as_str();
        self.conn.call("release a user", move |c| {
            let mut tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE users SET lease_worker = NULL, lease_expires_at = NULL \
                 WHERE id = $1 AND lease_worker = $2 AND lease_expires_at > now()",
                &[&user, &worker],
            )?;
            if n > 0 {
                tx.execute(
                    "UPDATE leases SET ended_at = now(), end_reason = $3 \
                     WHERE user_id = $1 AND worker_id = $2 AND ended_at IS NULL",
                    &[&user, &worker, &reason],
                )?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }

    /// Unregisters a worker on a clean shutdown, giving back every user it holds.
    pub fn worker_remove(&self, worker: &str) -> Result<()> {
        let worker = worker.to_owned();
        self.conn.call("remove the worker", move |c| {
            let mut tx = c.transaction()?;
            tx.execute(
                "UPDATE leases SET ended_at = now(), end_reason = 'released' \
                 WHERE worker_id = $1 AND ended_at IS NULL \
                   AND user_id IN (SELECT id FROM users WHERE lease_worker = $1 AND lease_expires_at > now())",
                &[&worker],
            )?;
            tx.execute(
                "UPDATE users SET lease_worker = NULL, lease_expires_at = NULL \
                 WHERE lease_worker = $1 AND lease_expires_at > now()",
                &[&worker],
            )?;
            tx.execute("DELETE FROM workers WHERE id = $1", &[&worker])?;
            tx.commit()
        })
    }

    /// The registered workers, most recent heartbeat first (`Get-MigrationConfig` `Workers`).
    pub fn workers(&self) -> Result<Vec<PgWorker>> {
        workers_on(&self.conn, self.lease_secs)
    }

    /// Every holding of every user, oldest first, from the store's own records.
    pub fn lease_history(&self) -> Result<Vec<LeaseSpan>> {
        let rows = self.conn.call("read the lease history", |c| {
            c.query(
                "SELECT user_id, worker_id, \
                        to_char(acquired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
                        to_char(ended_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
                        end_reason \
                 FROM leases ORDER BY user_id, acquired_at, id",
                &[],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(LeaseSpan {
                    user_id: r.get(0),
                    worker_id: r.get(1),
                    acquired_at: parse_ts(r.get(2))?,
                    ended_at: r.get::<_, Option<String>>(3).map(parse_ts).transpose()?,
                    end_reason: r.get(4),
                })
            })
            .collect()
    }

    /// Runs SQL as is (tests and the harness: seeding users, reading counts).
    #[doc(hidden)]
    pub fn execute_raw(&self, sql: &str) -> Result<()> {
        let sql = sql.to_owned();
        self.conn
            .call("run a statement", move |c| c.batch_execute(&sql))
    }
}

/// A worker's heartbeat on a thread of its own: every `interval` it calls
/// [`PgStore::heartbeat`], so the worker stays listed alive and its leases stay ahead of
/// expiry while it copies. Stops when dropped.
pub struct Heartbeat {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    state: std::sync::Arc<std::sync::Mutex<HeartbeatState>>,
}

/// What the last beat saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeartbeatState {
    /// Beats that reached the database.
    pub beats: u64,
    /// Leases held after the last successful beat.
    pub held: u32,
    /// The last beat's error (the database was unreachable), cleared by the next success.
    pub last_error: Option<String>,
    /// The users whose leases the last successful beat renewed.
    pub held_users: Vec<String>,
    /// When the last successful beat began: its renewals run from no earlier than this.
    pub last_ok: Option<std::time::Instant>,
}

impl Heartbeat {
    /// Starts beating for `worker` every `interval` (normally [`HEARTBEAT_SECS`]); the first
    /// beat is immediate.
    pub fn start(
        store: std::sync::Arc<PgStore>,
        worker: &str,
        interval: std::time::Duration,
    ) -> Heartbeat {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let state = std::sync::Arc::new(std::sync::Mutex::new(HeartbeatState::default()));
        let seen = state.clone();
        let worker = worker.to_owned();
        let thread = std::thread::Builder::new()
            .name("imapmigration-heartbeat".into())
            .spawn(move || {
                loop {
                    let began = std::time::Instant::now();
                    let out = store.heartbeat_held(&worker);
                    {
                        let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
                        match out {
                            Ok(held) => {
                                s.beats += 1;
                                s.held = held.len() as u32;
                                s.held_users = held;
                                s.last_error = None;
                                s.last_ok = Some(began);
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "worker heartbeat failed");
                                s.last_error = Some(e.to_string());
                            }
                        }
                    }
                    match rx.recv_timeout(interval) {
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        _ => break,
                    }
                }
            })
            .ok();
        Heartbeat {
            stop: Some(tx),
            thread,
            state,
        }
    }

    /// What the last beat saw.
    pub fn state(&self) -> HeartbeatState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Pairs of holdings of one user that overlap in time: empty when no user was ever held by
/// two workers at once.
pub fn overlapping_leases(history: &[LeaseSpan]) -> Vec<(LeaseSpan, LeaseSpan)> {
    let mut out = Vec::new();
    for (i, a) in history.iter().enumerate() {
        for b in &history[i + 1..] {
            if a.user_id != b.user_id {
                continue;
            }
            let a_end = a.ended_at.unwrap_or(Timestamp::MAX_UTC);
            let b_end = b.ended_at.unwrap_or(Timestamp::MAX_UTC);
            if a.acquired_at < b_end && b.acquired_at < a_end {
                out.push((a.clone(), b.clone()));
            }
        }
    }
    out
}

/// The registered workers on `conn`, most recent heartbeat first; alive while the heartbeat is
/// younger than `lease_secs`.
pub(crate) fn workers_on(conn: &PgConn, lease_secs: i64) -> Result<Vec<PgWorker>> {
    let secs = lease_secs as f64;
    let rows = conn.call("list workers", move |c| {
        c.query(
            "SELECT w.id, w.pid, w.host, w.version, w.started_at, \
                    to_char(w.heartbeat_db AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
                    w.heartbeat_db > now() - make_interval(secs => $1), \
                    (SELECT count(*) FROM users u WHERE u.lease_worker = w.id AND u.lease_expires_at > now()) \
             FROM workers w ORDER BY w.heartbeat_db DESC, w.id",
            &[&secs],
        )
    })?;
    rows.iter()
        .map(|r| {
            Ok(PgWorker {
                id: r.get(0),
                pid: u32::try_from(r.get::<_, i64>(1)).unwrap_or(0),
                host: r.get(2),
                version: r.get(3),
                started_at: parse_ts(r.get(4))?,
                heartbeat_at: parse_ts(r.get(5))?,
                alive: r.get(6),
                users_held: u32::try_from(r.get::<_, i64>(7)).unwrap_or(0),
            })
        })
        .collect()
}

/// The migration and the key check, in one transaction, under the migration lock.
fn migrate_locked(
    c: &mut postgres::Client,
    location_text: &str,
    sealer: &Sealer,
    check: &crate::secret::Sealed,
) -> std::result::Result<(), Failure> {
    let mut tx = c.transaction()?;
    let found = schema_version_in(&mut tx)?;
    if found > PG_SCHEMA_VERSION {
        return Err(Failure::Store(Error::PgSchemaTooNew {
            found,
            supported: PG_SCHEMA_VERSION,
            location: location_text.to_owned(),
        }));
    }
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(found as usize) {
        tracing::info!(from = i, to = i + 1, "migrating the PostgreSQL store");
        tx.batch_execute(sql)?;
    }
    let upsert = "INSERT INTO meta (key, value) VALUES ($1, $2) \
                  ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    tx.execute(upsert, &[&"schema_version", &PG_SCHEMA_VERSION.to_string()])?;
    tx.execute(upsert, &[&"app_version", &env!("CARGO_PKG_VERSION")])?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('key_check', $1) ON CONFLICT (key) DO NOTHING",
        &[&hex::encode(check.as_bytes())],
    )?;
    let row = tx.query_one("SELECT value FROM meta WHERE key = 'key_check'", &[])?;
    let stored: String = row.get(0);
    if !key_opens(sealer, &stored) {
        return Err(Failure::Store(Error::KeyMismatch {
            path: PathBuf::new(),
            location: location_text.to_owned(),
        }));
    }
    tx.commit()?;
    Ok(())
}

fn read_key_check(conn: &PgConn) -> Result<Option<String>> {
    conn.call("read the key check", |c| {
        let has_meta: bool = c
            .query_one("SELECT to_regclass('meta') IS NOT NULL", &[])?
            .get(0);
        if !has_meta {
            return Ok(None);
        }
        Ok(
            c.query_opt("SELECT value FROM meta WHERE key = 'key_check'", &[])?
                .map(|r| r.get(0)),
        )
    })
}

fn key_opens(sealer: &Sealer, stored_hex: &str) -> bool {
    hex::decode(stored_hex)
        .ok()
        .and_then(|bytes| sealer.unseal(&bytes).ok())
        .is_some_and(|s| s.expose_secret() == KEY_CHECK)
}

fn schema_version_in(tx: &mut postgres::Transaction<'_>) -> std::result::Result<i64, Failure> {
    let has_meta: bool = tx
        .query_one("SELECT to_regclass('meta') IS NOT NULL", &[])?
        .get(0);
    if !has_meta {
        return Ok(0);
    }
    let value: Option<String> = tx
        .query_opt("SELECT value FROM meta WHERE key = 'schema_version'", &[])?
        .map(|r| r.get(0));
    match value {
        None => Ok(0),
        Some(v) => v.trim().parse().map_err(|_| {
            Failure::Store(Error::Corrupt {
                what: "meta.schema_version",
                reason: format!("not an integer: {v:?}"),
            })
        }),
    }
}

/// This host's clock as stored text, for the columns shared with the SQLite schema.
fn db_now_text() -> String {
    crate::types::format_timestamp(&crate::types::now())
}

fn parse_ts(s: String) -> Result<Timestamp> {
    crate::types::parse_timestamp(&s).ok_or(Error::Corrupt {
        what: "timestamp",
        reason: format!("not an RFC 3339 timestamp: {s:?}"),
    })
}

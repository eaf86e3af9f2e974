//! `users`: the users of a batch (Get-, Set-, Start-, Stop-, Remove-MigrationUser,
//! Set-MigrationBatch -AddUsers) and their counters.

use rusqlite::params;
use rusqlite::types::Value;
use uuid::Uuid;

use super::{
    Db, Optional, Row, Store, get_opt_ts, get_sealed, get_ts, get_uuid, identity_guid, opt_ts, set,
    sql_in, ts, uid, unique_violation,
};
use crate::csv_import::CsvUser;
use crate::error::{DbContext, Error, Result};
use crate::lifecycle;
use crate::redact;
use crate::secret::{Sealed, SecretString};
use crate::types::{StatusSummary, Timestamp, UserAction, UserRecord, UserStatus, now};

pub(super) const COLS: &str = "id, batch_id, email, user_name, password, user_root, row_index, \
    status, requested_action, last_error, error_code, items_total, items_synced, items_skipped, \
    bytes_total, bytes_synced, folders_synced, created_at, started_at, last_sync_start, \
    last_success_at, initial_sync_at, passes";

pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: get_uuid(r, 0)?,
        batch_id: get_uuid(r, 1)?,
        email: r.get(2)?,
        user_name: r.get(3)?,
        password: get_sealed(r, 4)?,
        user_root: r.get(5)?,
        row_index: r.get(6)?,
        status: r.get(7)?,
        requested_action: r.get(8)?,
        last_error: r.get(9)?,
        error_code: r.get(10)?,
        items_total: r.get(11)?,
        items_synced: r.get(12)?,
        items_skipped: r.get(13)?,
        bytes_total: r.get(14)?,
        bytes_synced: r.get(15)?,
        folders_synced: r.get(16)?,
        created_at: get_ts(r, 17)?,
        started_at: get_opt_ts(r, 18)?,
        last_sync_start: get_opt_ts(r, 19)?,
        last_success_at: get_opt_ts(r, 20)?,
        initial_sync_at: get_opt_ts(r, 21)?,
        passes: r.get(22)?,
    })
}

/// A `Queued` user built from a CSV row, with its password already sealed.
pub(super) fn new_user_record(batch_id: Uuid, u: &CsvUser, password: Sealed) -> UserRecord {
    UserRecord {
        id: Uuid::new_v4(),
        batch_id,
        email: u.email_address.clone(),
        user_name: u.user_name.clone(),
        password,
        user_root: u.user_root.clone(),
        row_index: u.row_index,
        status: UserStatus::Queued,
        requested_action: None,
        last_error: None,
        error_code: None,
        items_total: 0,
        items_synced: 0,
        items_skipped: 0,
        bytes_total: 0,
        bytes_synced: 0,
        folders_synced: 0,
        created_at: now(),
        started_at: None,
        last_sync_start: None,
        last_success_at: None,
        initial_sync_at: None,
        passes: 0,
    }
}

const INSERT_SQL: &str = "INSERT INTO users (id, batch_id, email, user_name, password, user_root, \
    row_index, status, requested_action, last_error, error_code, items_total, items_synced, \
    items_skipped, bytes_total, bytes_synced, folders_synced, created_at, started_at, \
    last_sync_start, last_success_at, initial_sync_at, passes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, \
    ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)";

// Same numbering as INSERT_SQL; ?2 (batch) and ?18 (created_at) are bound but unused.
const UPDATE_SQL: &str = "UPDATE users SET email = ?3, user_name = ?4, password = ?5, \
    user_root = ?6, row_index = ?7, status = ?8, requested_action = ?9, last_error = ?10, \
    error_code = ?11, items_total = ?12, items_synced = ?13, items_skipped = ?14, \
    bytes_total = ?15, bytes_synced = ?16, folders_synced = ?17, started_at = ?19, \
    last_sync_start = ?20, last_success_at = ?21, initial_sync_at = ?22, passes = ?23 \
    WHERE id = ?1";

fn run_user_sql(conn: &Db<'_>, sql: &str, u: &UserRecord) -> super::DbResult<usize> {
    conn.prepare_cached(sql)?.execute(params![
        uid(&u.id),
        uid(&u.batch_id),
        u.email,
        u.user_name,
        u.password.as_bytes(),
        u.user_root,
        u.row_index,
        u.status,
        u.requested_action,
        redact::clean_opt(u.last_error.as_deref()),
        u.error_code,
        u.items_total,
        u.items_synced,
        u.items_skipped,
        u.bytes_total,
        u.bytes_synced,
        u.folders_synced,
        ts(&u.created_at),
        opt_ts(&u.started_at),
        opt_ts(&u.last_sync_start),
        opt_ts(&u.last_success_at),
        opt_ts(&u.initial_sync_at),
        u.passes,
    ])
}

pub(super) fn insert_user(conn: &Db<'_>, u: &UserRecord) -> Result<()> {
    run_user_sql(conn, INSERT_SQL, u)
        .map_err(|e| unique_violation(e, "user", &u.email, "insert user"))?;
    Ok(())
}

fn get_by_id(conn: &Db<'_>, id: &Uuid) -> Result<Option<UserRecord>> {
    conn.prepare_cached(&format!("SELECT {COLS} FROM users WHERE id = ?1"))
        .and_then(|mut s| s.query_row([uid(id)], from_row).optional())
        .ctx("read user")
}

/// Whether batch `id` exists (asked here, not of the batches module, which builds on this one).
fn batch_exists(conn: &Db<'_>, id: &Uuid) -> Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM batches WHERE id = ?1)")
        .and_then(|mut s| s.query_row([uid(id)], |r| r.get(0)))
        .ctx("read batch")
}

fn require(conn: &Db<'_>, id: &Uuid) -> Result<UserRecord> {
    get_by_id(conn, id)?.ok_or_else(|| Error::NotFound {
        kind: "user",
        identity: id.to_string(),
    })
}

/// Result of [`Store::add_users`].
#[derive(Debug, Clone, Default)]
pub struct AddedUsers {
    /// The users created, `Queued`.
    pub added: Vec<UserRecord>,
    /// Addresses skipped because the batch already has them (Exchange reports these as
    /// validation warnings).
    pub already_in_batch: Vec<String>,
}

/// Filters of [`Store::list_users`] (Get-MigrationUser); all given filters must match.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Users of this batch (`-BatchId`).
    pub batch_id: Option<Uuid>,
    /// Users in exactly this status (`-Status`).
    pub status: Option<UserStatus>,
    /// Users whose status rolls up into this summary (`-StatusSummary`).
    pub status_summary: Option<StatusSummary>,
    /// Case-insensitive exact match.
    pub email: Option<String>,
    /// At most this many users (`-ResultSize`).
    pub limit: Option<usize>,
}

/// Changes to a user. `None` leaves a field alone; for nullable columns `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    /// Sets [`UserRecord::user_name`].
    pub user_name: Option<String>,
    /// Sets [`UserRecord::user_root`]; `Some(None)` clears it.
    pub user_root: Option<Option<String>>,
    /// Sets [`UserRecord::status`].
    pub status: Option<UserStatus>,
    /// Sets [`UserRecord::requested_action`]; `Some(None)` clears it.
    pub requested_action: Option<Option<UserAction>>,
    /// Sets [`UserRecord::last_error`]; `Some(None)` clears it.
    pub last_error: Option<Option<String>>,
    /// Sets [`UserRecord::error_code`]; `Some(None)` clears it.
    pub error_code: Option<Option<String>>,
    /// Sets [`UserRecord::items_total`].
    pub items_total: Option<u64>,
    /// Sets [`UserRecord::items_synced`].
    pub items_synced: Option<u64>,
    /// Sets [`UserRecord::items_skipped`].
    pub items_skipped: Option<u64>,
    /// Sets [`UserRecord::bytes_total`].
    pub bytes_total: Option<u64>,
    /// Sets [`UserRecord::bytes_synced`].
    pub bytes_synced: Option<u64>,
    /// Sets [`UserRecord::folders_synced`].
    pub folders_synced: Option<u64>,
    /// Sets [`UserRecord::started_at`]; `Some(None)` clears it.
    pub started_at: Option<Option<Timestamp>>,
    /// Sets [`UserRecord::last_sync_start`]; `Some(None)` clears it.
    pub last_sync_start: Option<Option<Timestamp>>,
    /// Sets [`UserRecord::last_success_at`]; `Some(None)` clears it.
    pub last_success_at: Option<Option<Timestamp>>,
    /// Sets [`UserRecord::initial_sync_at`]; `Some(None)` clears it.
    pub initial_sync_at: Option<Option<Timestamp>>,
    /// Sets [`UserRecord::passes`].
    pub passes: Option<u32>,
}

impl UserUpdate {
    fn apply(self, u: &mut UserRecord) {
        set(&mut u.user_name, self.user_name);
        set(&mut u.user_root, self.user_root);
        set(&mut u.status, self.status);
        set(&mut u.requested_action, self.requested_action);
        set(&mut u.last_error, self.last_error);
        set(&mut u.error_code, self.error_code);
        set(&mut u.items_total, self.items_total);
        set(&mut u.items_synced, self.items_synced);
        set(&mut u.items_skipped, self.items_skipped);
        set(&mut u.bytes_total, self.bytes_total);
        set(&mut u.bytes_synced, self.bytes_synced);
        set(&mut u.folders_synced, self.folders_synced);
        set(&mut u.started_at, self.started_at);
        set(&mut u.last_sync_start, self.last_sync_start);
        set(&mut u.last_success_at, self.last_success_at);
        set(&mut u.initial_sync_at, self.initial_sync_at);
        set(&mut u.passes, self.passes);
    }
}

impl Store {
    /// Adds CSV users to an existing batch in one transaction (Set-MigrationBatch -AddUsers,
    /// or a new CSV). Addresses the batch already has are skipped and reported, not errors.
    pub fn add_users(&self, batch_id: &Uuid, users: &[CsvUser]) -> Result<AddedUsers> {
        let records: Vec<UserRecord> = users
            .iter()
            .map(|u| new_user_record(*batch_id, u, self.seal(&u.password)))
            .collect();
        self.write("add users", |tx| {
            if !batch_exists(tx, batch_id)? {
                return Err(Error::NotFound {
                    kind: "batch",
                    identity: batch_id.to_string(),
                });
            }
            let mut out = AddedUsers::default();
            let mut exists = tx
                .prepare_cached(if tx.is_pg() {
                    "SELECT EXISTS (SELECT 1 FROM users WHERE batch_id = ?1 AND lower(email) = lower(?2))"
                } else {
                    "SELECT EXISTS (SELECT 1 FROM users WHERE batch_id = ?1 AND email = ?2)"
                })
                .ctx("add users")?;
            for u in records.iter().cloned() {
                let present: bool = exists
                    .query_row(params![uid(batch_id), u.email], |r| r.get(0))
                    .ctx("add users")?;
                if present {
                    out.already_in_batch.push(u.email);
                } else {
                    insert_user(tx, &u)?;
                    out.added.push(u);
                }
            }
            Ok(out)
        })
    }

    /// Replaces a user's sealed password (a new CSV with a changed password).
    pub fn set_user_password(&self, user_id: &Uuid, password: &SecretString) -> Result<()> {
        let sealed = self.seal(password);
        self.write("set user password", |tx| {
            let n = tx
                .execute(
                    "UPDATE users SET password = ?2 WHERE id = ?1",
                    params![uid(user_id), sealed.as_bytes()],
                )
                .ctx("set user password")?;
            if n == 0 {
                return Err(Error::NotFound {
                    kind: "user",
                    identity: user_id.to_string(),
                });
            }
            Ok(())
        })
    }

    /// Unseals a user's password for logging in to the source.
    pub fn user_password(&self, user: &UserRecord) -> Result<SecretString> {
        self.unseal(&user.password)
    }

    /// The user with this id.
    pub fn get_user_by_id(&self, id: &Uuid) -> Result<Option<UserRecord>> {
        self.read("read", |conn| get_by_id(conn, id))
    }

    /// Users matching a MigrationUserIdParameter: a GUID (one user) or an email address (the
    /// same address may be in several batches: all of them, oldest first).
    pub fn find_users(&self, identity: &str) -> Result<Vec<UserRecord>> {
        if let Some(guid) = identity_guid(identity) {
            let found = self.read("read", |conn| {
                conn.prepare_cached(&format!("SELECT {COLS} FROM users WHERE id = ?1"))
                    .and_then(|mut s| s.query_row([guid], from_row).optional())
                    .ctx("read user")
            })?;
            if let Some(u) = found {
                return Ok(vec![u]);
            }
        }
        self.list_users(&UserFilter {
            email: Some(identity.trim().to_owned()),
            ..Default::default()
        })
    }

    /// Users matching `filter`, ordered by batch creation, then CSV row.
    pub fn list_users(&self, filter: &UserFilter) -> Result<Vec<UserRecord>> {
        let mut sql = format!(
            "SELECT {} FROM users u JOIN batches b ON b.id = u.batch_id WHERE 1 = 1",
            COLS.split(", ")
                .map(|c| format!("u.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut args: Vec<Value> = Vec::new();
        if let Some(b) = &filter.batch_id {
            args.push(Value::Text(uid(b)));
            sql.push_str(&format!(" AND u.batch_id = ?{}", args.len()));
        }
        if let Some(s) = filter.status {
            args.push(Value::Text(s.as_str().to_owned()));
            sql.push_str(&format!(" AND u.status = ?{}", args.len()));
        }
        if let Some(summary) = filter.status_summary {
            let mut marks = Vec::new();
            for s in summary.statuses() {
                args.push(Value::Text(s.as_str().to_owned()));
                marks.push(format!("?{}", args.len()));
            }
            sql.push_str(&format!(" AND u.status IN ({})", marks.join(", ")));
        }
        if let Some(e) = &filter.email {
            args.push(Value::Text(e.trim().to_owned()));
            // SQLite compares the column case-insensitively (COLLATE NOCASE, indexed);
            // PostgreSQL has the index on lower(email).
            sql.push_str(&if self.is_postgres() {
                format!(" AND lower(u.email) = lower(?{})", args.len())
            } else {
                format!(" AND u.email = ?{}", args.len())
            });
        }
        sql.push_str(" ORDER BY b.created_at, lower(b.name), b.name, u.row_index, lower(u.email)");
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        self.read("read", |conn| {
            let mut stmt = conn.prepare_cached(&sql).ctx("list users")?;
            stmt.query_map(args, from_row)
                .and_then(|rows| rows.collect())
                .ctx("list users")
        })
    }

    /// Applies `update` to user `id` in one transaction and returns the result.
    pub fn update_user(&self, id: &Uuid, update: UserUpdate) -> Result<UserRecord> {
        self.write("update user", |tx| {
            let mut u = require(tx, id)?;
            update.clone().apply(&mut u);
            run_user_sql(tx, UPDATE_SQL, &u).ctx("update user")?;
            Ok(u)
        })
    }

    /// Sets a user's status and error in one step (`error = None` clears it).
    pub fn set_user_status(
        &self,
        id: &Uuid,
        status: UserStatus,
        error: Option<(&str, &str)>,
    ) -> Result<UserRecord> {
        self.update_user(
            id,
            UserUpdate {
                status: Some(status),
                error_code: Some(error.map(|(code, _)| code.to_owned())),
                last_error: Some(error.map(|(_, msg)| msg.to_owned())),
                ..Default::default()
            },
        )
    }

    /// Moves every user of a batch whose status is in `from` to `to` (e.g. Start-MigrationBatch
    /// re-queues `Failed` users; Stop stops the active ones). Returns how many changed.
    pub fn set_users_status(
        &self,
        batch_id: &Uuid,
        from: &[UserStatus],
        to: UserStatus,
    ) -> Result<usize> {
        if from.is_empty() {
            return Ok(0);
        }
        let marks: Vec<String> = (0..from.len()).map(|i| format!("?{}", i + 3)).collect();
        let sql = format!(
            "UPDATE users SET status = ?2 WHERE batch_id = ?1 AND status IN ({})",
            marks.join(", ")
        );
        let mut args: Vec<Value> = vec![
            Value::Text(uid(batch_id)),
            Value::Text(to.as_str().to_owned()),
        ];
        args.extend(from.iter().map(|s| Value::Text(s.as_str().to_owned())));
        self.write("set users status", |tx| {
            tx.execute(&sql, &args).ctx("set users status")
        })
    }

    /// Moves every user of a batch whose status is in `from` to `to(status, passes)`, in one
    /// transaction (e.g. a batch's Stop: [`lifecycle::user::on_stop`], which depends on whether
    /// the user completed a pass). Returns how many changed.
    pub fn transition_users(
        &self,
        batch_id: &Uuid,
        from: &[UserStatus],
        to: impl Fn(UserStatus, u32) -> UserStatus + Sync,
    ) -> Result<usize> {
        if from.is_empty() {
            return Ok(0);
        }
        let select = format!(
            "SELECT id, status, passes FROM users WHERE batch_id = ?1 AND status IN ({})",
            sql_in(from.iter().map(|s| s.as_str()))
        );
        self.write("set users status", |tx| {
            let rows: Vec<(String, UserStatus, u32)> = tx
                .prepare_cached(&select)
                .and_then(|mut s| {
                    s.query_map([uid(batch_id)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect()
                })
                .ctx("set users status")?;
            let mut update = tx
                .prepare_cached("UPDATE users SET status = ?2 WHERE id = ?1")
                .ctx("set users status")?;
            let mut changed = 0;
            for (id, status, passes) in rows {
                let next = to(status, passes);
                if next != status {
                    update.execute(params![id, next]).ctx("set users status")?;
                    changed += 1;
                }
            }
            Ok(changed)
        })
    }

    /// Records an action for the worker on one user (Start-, Stop-, Remove-MigrationUser,
    /// Set-MigrationUser -SyncNow).
    pub fn request_user_action(&self, id: &Uuid, action: UserAction) -> Result<UserRecord> {
        self.update_user(
            id,
            UserUpdate {
                requested_action: Some(Some(action)),
                ..Default::default()
            },
        )
    }

    /// Clears the user's requested action if it is still `expected`; returns whether it did.
    pub fn clear_user_action(&self, id: &Uuid, expected: UserAction) -> Result<bool> {
        self.write("clear user action", |tx| {
            let n = tx
                .execute(
                    "UPDATE users SET requested_action = NULL \
                     WHERE id = ?1 AND requested_action = ?2",
                    params![uid(id), expected],
                )
                .ctx("clear user action")?;
            Ok(n > 0)
        })
    }

    /// Users of a batch the worker should pick up now, by CSV row: those waiting to run
    /// ([`lifecycle::user::runnable`]: `Queued`, or `Starting` when interrupted before the pass
    /// began), or any user with a pending requested action.
    pub fn users_to_run(&self, batch_id: &Uuid) -> Result<Vec<UserRecord>> {
        self.read("read", |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {COLS} FROM users WHERE batch_id = ?1 \
                 AND (status IN ({}) OR requested_action IS NOT NULL) \
                 ORDER BY row_index, lower(email)",
                    sql_in(
                        lifecycle::user::all_where(lifecycle::user::runnable)
                            .iter()
                            .map(|s| s.as_str())
                    )
                ))
                .ctx("list users to run")?;
            stmt.query_map([uid(batch_id)], from_row)
                .and_then(|rows| rows.collect())
                .ctx("list users to run")
        })
    }

    /// Adds to a user's running counters in one short transaction (deltas may be negative;
    /// results are clamped at zero).
    pub fn add_progress(
        &self,
        user_id: &Uuid,
        items_synced_delta: i64,
        bytes_delta: i64,
        items_skipped_delta: i64,
    ) -> Result<()> {
        self.write("add progress", |tx| {
            tx.prepare_cached(
                "UPDATE users SET \
                 items_synced = CASE WHEN items_synced + ?2 < 0 THEN 0 ELSE items_synced + ?2 END, \
                 bytes_synced = CASE WHEN bytes_synced + ?3 < 0 THEN 0 ELSE bytes_synced + ?3 END, \
                 items_skipped = CASE WHEN items_skipped + ?4 < 0 THEN 0 ELSE items_skipped + ?4 END \
                 WHERE id = ?1",
            )
            .and_then(|mut s| {
                s.execute(params![
                    uid(user_id),
                    items_synced_delta,
                    bytes_delta,
                    items_skipped_delta
                ])
            })
            .ctx("add progress")?;
            Ok(())
        })
    }

    /// Deletes one user with its folders, messages, skipped items and events
    /// (Remove-MigrationUser). Returns whether it existed.
    pub fn delete_user(&self, id: &Uuid) -> Result<bool> {
        self.write("delete user", |tx| {
            let n = tx
                .execute("DELETE FROM users WHERE id = ?1", [uid(id)])
                .ctx("delete user")?;
            Ok(n > 0)
        })
    }
}

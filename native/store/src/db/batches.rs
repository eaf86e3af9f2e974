//! `batches`: New-, Get-, Set-, Start-, Stop-, Remove-MigrationBatch and the worker's polling.

use rusqlite::params;
use uuid::Uuid;

use super::users::{insert_user, new_user_record};
use super::{
    Db, Optional, Row, Store, get_json, get_opt_ts, get_opt_uuid, get_ts, get_uuid, identity_guid,
    json, opt_ts, set, sql_in, ts, uid, unique_violation,
};
use crate::csv_import::CsvUser;
use crate::error::{DbContext, Error, Result};
use crate::lifecycle::batch;
use crate::redact;
use crate::types::{
    BatchAction, BatchRecord, BatchStatus, Timestamp, UserRecord, UserStatus, ValidationWarning,
};

pub(super) const COLS: &str = "id, name, source_endpoint_id, target_endpoint_id, target_maildir, \
    status, requested_action, auto_start, start_after, complete_after, time_zone, \
    notification_emails, exclude_folders, include_folders, content_filter, bad_item_limit, \
    large_item_limit, max_message_size, allow_unknown_columns, report_interval_secs, \
    skip_reports, validation_warnings, message, submitted_by, created_at, started_at, \
    initial_sync_at, last_synced_at, completed_at, next_sync_at";

pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<BatchRecord> {
    Ok(BatchRecord {
        id: get_uuid(r, 0)?,
        name: r.get(1)?,
        source_endpoint_id: get_uuid(r, 2)?,
        target_endpoint_id: get_opt_uuid(r, 3)?,
        target_maildir: r.get(4)?,
        status: r.get(5)?,
        requested_action: r.get(6)?,
        auto_start: r.get(7)?,
        start_after: get_opt_ts(r, 8)?,
        complete_after: get_opt_ts(r, 9)?,
        time_zone: r.get(10)?,
        notification_emails: get_json(r, 11)?,
        exclude_folders: get_json(r, 12)?,
        include_folders: get_json(r, 13)?,
        content_filter: r.get(14)?,
        bad_item_limit: r.get(15)?,
        large_item_limit: r.get(16)?,
        max_message_size: r.get(17)?,
        allow_unknown_columns: r.get(18)?,
        report_interval_secs: r.get(19)?,
        skip_reports: r.get(20)?,
        validation_warnings: get_json(r, 21)?,
        message: r.get(22)?,
        submitted_by: r.get(23)?,
        created_at: get_ts(r, 24)?,
        started_at: get_opt_ts(r, 25)?,
        initial_sync_at: get_opt_ts(r, 26)?,
        last_synced_at: get_opt_ts(r, 27)?,
        completed_at: get_opt_ts(r, 28)?,
        next_sync_at: get_opt_ts(r, 29)?,
    })
}

/// Filters of [`Store::list_batches`] (Get-MigrationBatch `-Endpoint`, `-Status`).
#[derive(Debug, Clone, Default)]
pub struct BatchFilter {
    /// Batches whose source or target is this endpoint.
    pub endpoint_id: Option<Uuid>,
    /// Batches in this status; `Created` also finds the batches never started, shown `Stopped`
    /// ([`batch::shown_as`]).
    pub status: Option<BatchStatus>,
}

/// Changes to a batch (Set-MigrationBatch, and the worker's status bookkeeping). `None` leaves
/// a field alone; for nullable columns `Some(None)` clears it. Name, source endpoint and
/// creation time never change.
#[derive(Debug, Clone, Default)]
pub struct BatchUpdate {
    /// Sets [`BatchRecord::status`].
    pub status: Option<BatchStatus>,
    /// Sets [`BatchRecord::requested_action`]; `Some(None)` clears it.
    pub requested_action: Option<Option<BatchAction>>,
    /// Sets [`BatchRecord::target_endpoint_id`]; `Some(None)` clears it.
    pub target_endpoint_id: Option<Option<Uuid>>,
    /// Sets [`BatchRecord::target_maildir`]; `Some(None)` clears it.
    pub target_maildir: Option<Option<String>>,
    /// Sets [`BatchRecord::auto_start`].
    pub auto_start: Option<bool>,
    /// Sets [`BatchRecord::start_after`]; `Some(None)` clears it.
    pub start_after: Option<Option<Timestamp>>,
    /// Sets [`BatchRecord::complete_after`]; `Some(None)` clears it.
    pub complete_after: Option<Option<Timestamp>>,
    /// Sets [`BatchRecord::time_zone`]; `Some(None)` clears it.
    pub time_zone: Option<Option<String>>,
    /// Sets [`BatchRecord::notification_emails`].
    pub notification_emails: Option<Vec<String>>,
    /// Sets [`BatchRecord::exclude_folders`].
    pub exclude_folders: Option<Vec<String>>,
    /// Sets [`BatchRecord::include_folders`].
    pub include_folders: Option<Vec<String>>,
    /// Sets [`BatchRecord::content_filter`]; `Some(None)` clears it.
    pub content_filter: Option<Option<String>>,
    /// Sets [`BatchRecord::bad_item_limit`]; `Some(None)` clears it.
    pub bad_item_limit: Option<Option<u32>>,
    /// Sets [`BatchRecord::large_item_limit`]; `Some(None)` clears it.
    pub large_item_limit: Option<Option<u32>>,
    /// Sets [`BatchRecord::max_message_size`]; `Some(None)` clears it.
    pub max_message_size: Option<Option<u64>>,
    /// Sets [`BatchRecord::allow_unknown_columns`].
    pub allow_unknown_columns: Option<bool>,
    /// Sets [`BatchRecord::report_interval_secs`]; `Some(None)` clears it.
    pub report_interval_secs: Option<Option<u64>>,
    /// Sets [`BatchRecord::skip_reports`].
    pub skip_reports: Option<bool>,
    /// Sets [`BatchRecord::validation_warnings`].
    pub validation_warnings: Option<Vec<ValidationWarning>>,
    /// Sets [`BatchRecord::message`]; `Some(None)` clears it.
    pub message: Option<Option<String>>,
    /// Sets [`BatchRecord::started_at`]; `Some(None)` clears it.
    pub started_at: Option<Option<Timestamp>>,
    /// Sets [`BatchRecord::initial_sync_at`]; `Some(None)` clears it.
    pub initial_sync_at: Option<Option<Timestamp>>,
    /// Sets [`BatchRecord::last_synced_at`]; `Some(None)` clears it.
    pub last_synced_at: Option<Option<Timestamp>>,
    /// Sets [`BatchRecord::completed_at`]; `Some(None)` clears it.
    pub completed_at: Option<Option<Timestamp>>,
    /// Sets [`BatchRecord::next_sync_at`]; `Some(None)` clears it.
    pub next_sync_at: Option<Option<Timestamp>>,
}

impl BatchUpdate {
    fn apply(self, b: &mut BatchRecord) {
        set(&mut b.status, self.status);
        set(&mut b.requested_action, self.requested_action);
        set(&mut b.target_endpoint_id, self.target_endpoint_id);
        set(&mut b.target_maildir, self.target_maildir);
        set(&mut b.auto_start, self.auto_start);
        set(&mut b.start_after, self.start_after);
        set(&mut b.complete_after, self.complete_after);
        set(&mut b.time_zone, self.time_zone);
        set(&mut b.notification_emails, self.notification_emails);
        set(&mut b.exclude_folders, self.exclude_folders);
        set(&mut b.include_folders, self.include_folders);
        set(&mut b.content_filter, self.content_filter);
        set(&mut b.bad_item_limit, self.bad_item_limit);
        set(&mut b.large_item_limit, self.large_item_limit);
        set(&mut b.max_message_size, self.max_message_size);
        set(&mut b.allow_unknown_columns, self.allow_unknown_columns);
        set(&mut b.report_interval_secs, self.report_interval_secs);
        set(&mut b.skip_reports, self.skip_reports);
        set(&mut b.validation_warnings, self.validation_warnings);
        set(&mut b.message, self.message);
        set(&mut b.started_at, self.started_at);
        set(&mut b.initial_sync_at, self.initial_sync_at);
        set(&mut b.last_synced_at, self.last_synced_at);
        set(&mut b.completed_at, self.completed_at);
        set(&mut b.next_sync_at, self.next_sync_at);
    }
}

pub(super) fn get_by_id(conn: &Db<'_>, id: &Uuid) -> Result<Option<BatchRecord>> {
    conn.prepare_cached(&format!("SELECT {COLS} FROM batches WHERE id = ?1"))
        .and_then(|mut s| s.query_row([uid(id)], from_row).optional())
        .ctx("read batch")
}

fn require(conn: &Db<'_>, id: &Uuid) -> Result<BatchRecord> {
    get_by_id(conn, id)?.ok_or_else(|| Error::NotFound {
        kind: "batch",
        identity: id.to_string(),
    })
}

fn endpoint_exists(conn: &Db<'_>, id: &Uuid) -> Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM endpoints WHERE id = ?1)")
        .and_then(|mut s| s.query_row([uid(id)], |r| r.get(0)))
        .ctx("read endpoint")
}

fn check_endpoints(conn: &Db<'_>, b: &BatchRecord) -> Result<()> {
    for id in std::iter::once(&b.source_endpoint_id).chain(b.target_endpoint_id.as_ref()) {
        if !endpoint_exists(conn, id)? {
            return Err(Error::NotFound {
                kind: "endpoint",
                identity: id.to_string(),
            });
        }
    }
    Ok(())
}

impl Store {
    /// Creates a batch and its users in one transaction (New-MigrationBatch): either all of
    /// it exists afterwards or none of it. Users start `Queued` with their CSV row index;
    /// passwords are sealed before the transaction so it stays short.
    ///
    /// Fails with [`Error::AlreadyExists`] for a taken batch name or an email address listed
    /// twice, and [`Error::NotFound`] when an endpoint does not exist.
    pub fn insert_batch(&self, batch: &BatchRecord, users: &[CsvUser]) -> Result<Vec<UserRecord>> {
        let records: Vec<UserRecord> = users
            .iter()
            .map(|u| new_user_record(batch.id, u, self.seal(&u.password)))
            .collect();
        self.write("insert batch", |tx| {
            check_endpoints(tx, batch)?;
            insert_batch_row(tx, batch)?;
            for u in &records {
                insert_user(tx, u)?;
            }
            Ok(())
        })?;
        Ok(records)
    }

    /// Inserts `batch` and moves the users `moved` into it, in one transaction (re-batching:
    /// New-MigrationBatch `-Users`, `-UserIds`). A moved user keeps its progress (its folders,
    /// messages and skipped items are recorded by user, not by batch) and its passes, so its
    /// next pass in the new batch is incremental and copies nothing twice; it waits there as
    /// `status`, with no request pending. Fails with `NotFound`, and moves nothing, if one of
    /// the users no longer exists.
    pub fn move_users(
        &self,
        batch: &BatchRecord,
        moved: &[Uuid],
        status: UserStatus,
    ) -> Result<()> {
        self.write("move users", |tx| {
            check_endpoints(tx, batch)?;
            insert_batch_row(tx, batch)?;
            move_users_in(tx, &batch.id, moved, status)
        })
    }

    /// New-MigrationBatch `-AdoptPreexisting`: inserts `batch` with the new CSV rows `users`,
    /// and moves each of `adopted` (a user of another batch and its row in this CSV) into it
    /// with its progress, taking the row's login, password and user root, all in one
    /// transaction. The moved users wait as `status` (see [`Store::move_users`]).
    pub fn insert_batch_adopting(
        &self,
        batch: &BatchRecord,
        users: &[CsvUser],
        adopted: &[(Uuid, &CsvUser)],
        status: UserStatus,
    ) -> Result<Vec<UserRecord>> {
        let records: Vec<UserRecord> = users
            .iter()
            .map(|u| new_user_record(batch.id, u, self.seal(&u.password)))
            .collect();
        let sealed: Vec<_> = adopted
            .iter()
            .map(|(id, row)| (*id, *row, self.seal(&row.password)))
            .collect();
        self.write("insert batch", |tx| {
            check_endpoints(tx, batch)?;
            insert_batch_row(tx, batch)?;
            for u in &records {
                insert_user(tx, u)?;
            }
            let ids: Vec<Uuid> = sealed.iter().map(|(id, _, _)| *id).collect();
            move_users_in(tx, &batch.id, &ids, status)?;
            for (id, row, password) in &sealed {
                tx.execute(
                    "UPDATE users SET user_name = ?2, password = ?3, user_root = ?4, \
                     row_index = ?5 WHERE id = ?1",
                    params![
                        uid(id),
                        row.user_name,
                        password.as_bytes(),
                        row.user_root,
                        row.row_index
                    ],
                )
                .ctx("adopt user")?;
            }
            Ok(())
        })?;
        Ok(records)
    }

    /// The batch whose GUID or name (case-insensitive) is `identity`; a GUID match wins.
    pub fn get_batch(&self, identity: &str) -> Result<Option<BatchRecord>> {
        let guid = identity_guid(identity);
        self.read("read", |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLS} FROM batches WHERE id = ?1 OR lower(name) = lower(?2) \
             ORDER BY id = ?1 DESC LIMIT 1"
            ))
            .and_then(|mut s| {
                s.query_row(params![guid, identity.trim()], from_row)
                    .optional()
            })
            .ctx("read batch")
        })
    }

    /// The batch with this id.
    pub fn get_batch_by_id(&self, id: &Uuid) -> Result<Option<BatchRecord>> {
        self.read("read", |conn| get_by_id(conn, id))
    }

    /// Batches matching `filter`, oldest first.
    pub fn list_batches(&self, filter: &BatchFilter) -> Result<Vec<BatchRecord>> {
        self.read("read", |conn| {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLS} FROM batches \
                 WHERE (CAST(?1 AS TEXT) IS NULL OR source_endpoint_id = ?1 OR target_endpoint_id = ?1) \
                   AND (CAST(?2 AS TEXT) IS NULL OR status = ?2 OR (?2 = '{created}' AND {never_started})) \
                 ORDER BY created_at, lower(name), name",
                created = BatchStatus::Created.as_str(),
                never_started = NEVER_STARTED_SQL.replace("{waiting}", &waiting_list()),
            ))
            .ctx("list batches")?;
        stmt.query_map(
            params![filter.endpoint_id.as_ref().map(uid), filter.status],
            from_row,
        )
        .and_then(|rows| rows.collect())
        .ctx("list batches")
})
    }

    /// Applies `update` to batch `id` in one transaction (read and write under the write
    /// lock, so a cmdlet and the worker never lose each other's changes) and returns the
    /// result.
    pub fn update_batch(&self, id: &Uuid, update: BatchUpdate) -> Result<BatchRecord> {
        self.write("update batch", |tx| {
            let mut b = require(tx, id)?;
            update.clone().apply(&mut b);
            check_endpoints(tx, &b)?;
            write_batch_row(tx, &b)?;
            Ok(b)
        })
    }

    /// Sets the status of batch `id`.
    pub fn set_batch_status(&self, id: &Uuid, status: BatchStatus) -> Result<BatchRecord> {
        self.update_batch(
            id,
            BatchUpdate {
                status: Some(status),
                ..Default::default()
            },
        )
    }

    /// Records an action for the worker (Start-, Stop-, Remove-MigrationBatch,
    /// Set-MigrationBatch -SyncNow); a later request replaces an earlier unhandled one.
    pub fn request_batch_action(&self, id: &Uuid, action: BatchAction) -> Result<BatchRecord> {
        self.update_batch(
            id,
            BatchUpdate {
                requested_action: Some(Some(action)),
                ..Default::default()
            },
        )
    }

    /// Clears the requested action if it is still `expected`; returns whether it did. The
    /// worker uses this after handling an action so a newer request made meanwhile survives.
    pub fn clear_batch_action(&self, id: &Uuid, expected: BatchAction) -> Result<bool> {
        self.write("clear batch action", |tx| {
            let n = tx
                .execute(
                    "UPDATE batches SET requested_action = NULL \
                     WHERE id = ?1 AND requested_action = ?2",
                    params![uid(id), expected],
                )
                .ctx("clear batch action")?;
            Ok(n > 0)
        })
    }

    /// Deletes batch `id` with its users and everything recorded for them (folders,
    /// messages, skipped items, events) in one transaction. Returns whether it existed.
    pub fn delete_batch(&self, id: &Uuid) -> Result<bool> {
        self.write("delete batch", |tx| {
            let n = tx
                .execute("DELETE FROM batches WHERE id = ?1", [uid(id)])
                .ctx("delete batch")?;
            Ok(n > 0)
        })
    }

    /// Batches the worker must look at now, oldest first:
    /// - a pending `requested_action`;
    /// - a status with work in progress, also after a worker restart
    ///   ([`batch::running`]: `Starting`, `Syncing`, `IncrementalSyncing`, `Completing`,
    ///   `Stopping`, `Removing`);
    /// - synced ([`batch::synced`]: `Synced`, `SyncedWithErrors`) with `next_sync_at` due
    ///   (`<= now`);
    /// - never started ([`batch::never_started`]) with `start_after` due, or with
    ///   `auto_start` and no `start_after` ([`batch::start_due`]).
    pub fn batches_needing_attention(&self, now: Timestamp) -> Result<Vec<BatchRecord>> {
        let list = |pred: fn(BatchStatus) -> bool| {
            sql_in(batch::all_where(pred).iter().map(|s| s.as_str()))
        };
        self.read("read", |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {COLS} FROM batches WHERE requested_action IS NOT NULL \
                 OR status IN ({running}) \
                 OR (status IN ({synced}) AND next_sync_at <= ?1) \
                 OR ({never_started} AND (start_after <= ?1 \
                      OR (auto_start = 1 AND start_after IS NULL))) \
                 ORDER BY created_at, lower(name), name",
                    running = list(batch::running),
                    synced = list(batch::synced),
                    never_started = NEVER_STARTED_SQL.replace("{waiting}", &waiting_list()),
                ))
                .ctx("find batches needing attention")?;
            stmt.query_map([ts(&now)], from_row)
                .and_then(|rows| rows.collect())
                .ctx("find batches needing attention")
        })
    }
}

/// Moves the users `moved` into batch `to`, waiting as `status` with no request pending.
fn move_users_in(conn: &Db<'_>, to: &Uuid, moved: &[Uuid], status: UserStatus) -> Result<()> {
    let mut update = conn
        .prepare_cached(
            "UPDATE users SET batch_id = ?2, status = ?3, requested_action = NULL WHERE id = ?1",
        )
        .ctx("move users")?;
    for id in moved {
        let n = update
            .execute(params![uid(id), uid(to), status])
            .ctx("move users")?;
        if n == 0 {
            return Err(Error::NotFound {
                kind: "user",
                identity: id.to_string(),
            });
        }
    }
    Ok(())
}

/// [`batch::never_started`] in SQL; `{waiting}` is [`waiting_list`].
const NEVER_STARTED_SQL: &str =
    "(status IN ({waiting}) AND started_at IS NULL AND requested_action IS NULL)";

/// The statuses a batch never started shows ([`batch::never_started`]), as an SQL list.
fn waiting_list() -> String {
    let probe = |status| {
        let mut b = BatchRecord::new("", Uuid::nil());
        b.status = status;
        batch::never_started(&b)
    };
    sql_in(batch::all_where(probe).iter().map(|s| s.as_str()))
}

const INSERT_SQL: &str = "INSERT INTO batches (id, name, source_endpoint_id, target_endpoint_id, \
    target_maildir, status, requested_action, auto_start, start_after, complete_after, time_zone, \
    notification_emails, exclude_folders, include_folders, content_filter, bad_item_limit, \
    large_item_limit, max_message_size, allow_unknown_columns, report_interval_secs, \
    skip_reports, validation_warnings, message, submitted_by, created_at, started_at, \
    initial_sync_at, last_synced_at, completed_at, next_sync_at) VALUES (?1, ?2, ?3, ?4, ?5, \
    ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, \
    ?25, ?26, ?27, ?28, ?29, ?30)";

// Shares the parameter numbering of INSERT_SQL; ?2 (name), ?3 (source) and ?25 (created_at)
// are bound but unused, which SQLite allows (the parameter count is the highest index).
const UPDATE_SQL: &str = "UPDATE batches SET target_endpoint_id = ?4, target_maildir = ?5, \
    status = ?6, requested_action = ?7, auto_start = ?8, start_after = ?9, complete_after = ?10, \
    time_zone = ?11, notification_emails = ?12, exclude_folders = ?13, include_folders = ?14, \
    content_filter = ?15, bad_item_limit = ?16, large_item_limit = ?17, max_message_size = ?18, \
    allow_unknown_columns = ?19, report_interval_secs = ?20, skip_reports = ?21, \
    validation_warnings = ?22, message = ?23, submitted_by = ?24, started_at = ?26, \
    initial_sync_at = ?27, last_synced_at = ?28, completed_at = ?29, next_sync_at = ?30 \
    WHERE id = ?1";

fn batch_params(
    b: &BatchRecord,
    f: impl FnOnce(&[&dyn rusqlite::ToSql]) -> super::DbResult<usize>,
) -> super::DbResult<usize> {
    f(params![
        uid(&b.id),
        b.name,
        uid(&b.source_endpoint_id),
        b.target_endpoint_id.as_ref().map(uid),
        b.target_maildir,
        b.status,
        b.requested_action,
        b.auto_start,
        opt_ts(&b.start_after),
        opt_ts(&b.complete_after),
        b.time_zone,
        json(&b.notification_emails),
        json(&b.exclude_folders),
        json(&b.include_folders),
        b.content_filter,
        b.bad_item_limit,
        b.large_item_limit,
        b.max_message_size,
        b.allow_unknown_columns,
        b.report_interval_secs,
        b.skip_reports,
        json(&redacted_warnings(&b.validation_warnings)),
        redact::clean_opt(b.message.as_deref()),
        b.submitted_by,
        ts(&b.created_at),
        opt_ts(&b.started_at),
        opt_ts(&b.initial_sync_at),
        opt_ts(&b.last_synced_at),
        opt_ts(&b.completed_at),
        opt_ts(&b.next_sync_at),
    ])
}

fn insert_batch_row(conn: &Db<'_>, b: &BatchRecord) -> Result<()> {
    batch_params(b, |p| {
        conn.prepare_cached(INSERT_SQL)
            .and_then(|mut s| s.execute(p))
    })
    .map_err(|e| unique_violation(e, "batch", &b.name, "insert batch"))?;
    Ok(())
}

fn write_batch_row(conn: &Db<'_>, b: &BatchRecord) -> Result<()> {
    batch_params(b, |p| {
        conn.prepare_cached(UPDATE_SQL)
            .and_then(|mut s| s.execute(p))
    })
    .ctx("update batch")?;
    Ok(())
}

/// Validation warnings quote CSV cells: they are stored through the one redaction step.
fn redacted_warnings(warnings: &[ValidationWarning]) -> Vec<ValidationWarning> {
    warnings
        .iter()
        .map(|w| ValidationWarning {
            row_index: w.row_index,
            email_address: redact::clean(&w.email_address),
            message: redact::clean(&w.message),
        })
        .collect()
}

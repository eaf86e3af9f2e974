//! Skipped items, report events, configuration, worker heartbeats and statistics.

use rusqlite::params;
use uuid::Uuid;

use super::{Db, Optional, Row, Store, get_json, get_opt_uuid, get_ts, get_uuid, json, ts, uid};
use crate::error::{DbContext, Error, Result};
use crate::lifecycle;
use crate::redact;
use crate::types::{ConfigRecord, Event, SkippedItem, StatusSummary, UserStatus, WorkerRecord};

const SKIPPED_COLS: &str = "id, user_id, folder, src_uid, kind, subject, sender, date_sent, \
    date_received, size, reason, created_at, recipients";

fn skipped_from_row(r: &Row<'_>) -> rusqlite::Result<SkippedItem> {
    Ok(SkippedItem {
        id: r.get(0)?,
        user_id: get_uuid(r, 1)?,
        folder: r.get(2)?,
        src_uid: r.get(3)?,
        kind: r.get(4)?,
        subject: r.get(5)?,
        sender: r.get(6)?,
        date_sent: r.get(7)?,
        date_received: r.get(8)?,
        size: r.get(9)?,
        reason: r.get(10)?,
        created_at: get_ts(r, 11)?,
        recipients: get_json(r, 12)?,
    })
}

const EVENT_COLS: &str = "id, user_id, batch_id, at, level, message";

fn event_from_row(r: &Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        id: r.get(0)?,
        user_id: get_opt_uuid(r, 1)?,
        batch_id: get_opt_uuid(r, 2)?,
        at: get_ts(r, 3)?,
        level: r.get(4)?,
        message: r.get(5)?,
    })
}

const WORKER_COLS: &str = "id, pid, host, version, started_at, heartbeat_at";

fn worker_from_row(r: &Row<'_>) -> rusqlite::Result<WorkerRecord> {
    Ok(WorkerRecord {
        id: r.get(0)?,
        pid: r.get(1)?,
        host: r.get(2)?,
        version: r.get(3)?,
        started_at: get_ts(r, 4)?,
        heartbeat_at: get_ts(r, 5)?,
    })
}

/// User counts and item totals of one batch or of every batch (Get-MigrationBatch counts,
/// Get-MigrationStatistics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserCounts {
    /// Every user counted (`TotalCount`).
    pub total: u64,
    /// Being worked on: summary `Active` except `Queued`.
    pub active: u64,
    /// `Queued`: waiting for the batch to start or for a free slot.
    pub pending: u64,
    /// `Stopped` and `IncrementalStopped`.
    pub stopped: u64,
    /// `Synced`.
    pub synced: u64,
    /// `Completed` and `CompletedWithWarnings`.
    pub finalized: u64,
    /// `CompletedWithWarnings`.
    pub completed_with_warnings: u64,
    /// `Failed` and `IncrementalFailed`.
    pub failed: u64,
    /// `Failed` (the initial sync failed).
    pub failed_initial: u64,
    /// `IncrementalFailed`.
    pub failed_incremental: u64,
    /// Always 0: IMAP migrations provision nothing.
    pub provisioned: u64,
    /// Users Start-MigrationBatch acts on ([`lifecycle::user::to_start`]): those it re-queues
    /// and those already waiting to run. Decides whether a `Synced` batch may be started.
    pub to_start: u64,
    /// Sum of the users' [`UserRecord::items_total`](crate::types::UserRecord::items_total).
    pub items_total: u64,
    /// Sum of the users' [`UserRecord::items_synced`](crate::types::UserRecord::items_synced).
    pub items_synced: u64,
    /// Sum of the users' [`UserRecord::items_skipped`](crate::types::UserRecord::items_skipped).
    pub items_skipped: u64,
    /// Sum of the users' [`UserRecord::bytes_total`](crate::types::UserRecord::bytes_total).
    pub bytes_total: u64,
    /// Sum of the users' [`UserRecord::bytes_synced`](crate::types::UserRecord::bytes_synced).
    pub bytes_synced: u64,
}

fn user_counts_in(conn: &Db<'_>, batch_id: Option<&Uuid>) -> Result<UserCounts> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT status, count(*), CAST(sum(items_total) AS BIGINT), \
             CAST(sum(items_synced) AS BIGINT), CAST(sum(items_skipped) AS BIGINT), \
             CAST(sum(bytes_total) AS BIGINT), CAST(sum(bytes_synced) AS BIGINT) FROM users \
             WHERE CAST(?1 AS TEXT) IS NULL OR batch_id = ?1 GROUP BY status",
        )
        .ctx("count users")?;
    let rows = stmt
        .query_map([batch_id.map(uid)], |r| {
            Ok((
                r.get::<UserStatus>(0)?,
                r.get::<u64>(1)?,
                [
                    r.get::<u64>(2)?,
                    r.get::<u64>(3)?,
                    r.get::<u64>(4)?,
                    r.get::<u64>(5)?,
                    r.get::<u64>(6)?,
                ],
            ))
        })
        .and_then(|rows| rows.collect::<super::DbResult<Vec<_>>>())
        .ctx("count users")?;
    let mut c = UserCounts::default();
    for (status, n, sums) in rows {
        use UserStatus::*;
        c.total += n;
        c.items_total += sums[0];
        c.items_synced += sums[1];
        c.items_skipped += sums[2];
        c.bytes_total += sums[3];
        c.bytes_synced += sums[4];
        if lifecycle::user::to_start(status) {
            c.to_start += n;
        }
        // The counters follow the users' phase (a user in an incremental sync is active, one
        // completed with warnings is finalized, as Exchange's CompletedWithWarningCount is part
        // of FinalizedCount); within it, `Queued` users are the pending ones and the failed and
        // completed ones are told apart as Exchange does.
        match lifecycle::user::phase(status) {
            StatusSummary::Active if status == Queued => c.pending += n,
            StatusSummary::Active => c.active += n,
            StatusSummary::Synced => c.synced += n,
            StatusSummary::Stopped => c.stopped += n,
            StatusSummary::Completed => {
                c.finalized += n;
                if status == CompletedWithWarnings {
                    c.completed_with_warnings += n;
                }
            }
            StatusSummary::Failed => {
                c.failed += n;
                if status == Failed {
                    c.failed_initial += n;
                } else {
                    c.failed_incremental += n;
                }
            }
        }
    }
    Ok(c)
}

impl Store {
    /// Records an item that was not migrated; returns its id (`item.id` is ignored), or `None`
    /// when the same source message (`src_uid`) of the same folder is already recorded for the
    /// user: a pass retried after a dropped connection, or resumed after a crash, meets a
    /// refused message again before its `messages` row says Skipped, and it must be reported
    /// (and counted against `-BadItemLimit`) once.
    pub fn insert_skipped_item(&self, item: &SkippedItem) -> Result<Option<i64>> {
        self.write("record skipped item", |tx| {
            tx.prepare_cached(
                // The casts give PostgreSQL the integer columns' types for the selected values.
                "INSERT INTO skipped_items (user_id, folder, src_uid, kind, subject, sender, \
                 date_sent, date_received, size, reason, created_at, recipients) \
                 SELECT ?1, ?2, CAST(?3 AS BIGINT), ?4, ?5, ?6, ?7, ?8, CAST(?9 AS BIGINT), \
                   ?10, ?11, ?12 \
                 WHERE ?3 IS NULL OR NOT EXISTS (SELECT 1 FROM skipped_items \
                   WHERE user_id = ?1 AND folder = ?2 AND src_uid = ?3) \
                 RETURNING id",
            )
            .and_then(|mut s| {
                s.query_row(
                    params![
                        uid(&item.user_id),
                        redact::clean(&item.folder),
                        item.src_uid,
                        item.kind,
                        redact::clean_opt(item.subject.as_deref()),
                        redact::clean_opt(item.sender.as_deref()),
                        item.date_sent,
                        item.date_received,
                        item.size,
                        redact::clean(&item.reason),
                        ts(&item.created_at),
                        json(
                            &item
                                .recipients
                                .iter()
                                .map(|r| redact::clean(r))
                                .collect::<Vec<_>>()
                        ),
                    ],
                    |r| r.get(0),
                )
                .optional()
            })
            .ctx("record skipped item")
        })
    }

    /// A user's skipped items in the order they were recorded, at most `limit`
    /// (`-LimitSkippedItemsTo`).
    pub fn list_skipped_items(
        &self,
        user_id: &Uuid,
        limit: Option<usize>,
    ) -> Result<Vec<SkippedItem>> {
        self.read("read", |conn| {
            conn.prepare_cached(&format!(
                "SELECT {SKIPPED_COLS} FROM skipped_items WHERE user_id = ?1 ORDER BY id LIMIT ?2"
            ))
            .and_then(|mut s| {
                s.query_map(params![uid(user_id), sql_limit(limit)], skipped_from_row)?
                    .collect()
            })
            .ctx("list skipped items")
        })
    }

    /// Appends a report line; returns its id (`event.id` is ignored).
    pub fn insert_event(&self, event: &Event) -> Result<i64> {
        self.write("record event", |tx| {
            tx.prepare_cached(
                "INSERT INTO events (user_id, batch_id, at, level, message) \
                 VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
            )
            .and_then(|mut s| {
                s.query_row(
                    params![
                        event.user_id.as_ref().map(uid),
                        event.batch_id.as_ref().map(uid),
                        ts(&event.at),
                        event.level,
                        redact::clean(&event.message),
                    ],
                    |r| r.get(0),
                )
            })
            .ctx("record event")
        })
    }

    /// A user's report lines in chronological order; with `limit`, the most recent ones.
    pub fn events_for_user(&self, user_id: &Uuid, limit: Option<usize>) -> Result<Vec<Event>> {
        self.events_where("user_id = ?1", uid(user_id), limit)
    }

    /// A batch's report lines, including those of its users, in chronological order; with
    /// `limit`, the most recent ones.
    pub fn events_for_batch(&self, batch_id: &Uuid, limit: Option<usize>) -> Result<Vec<Event>> {
        self.events_where(
            "batch_id = ?1 OR user_id IN (SELECT id FROM users WHERE batch_id = ?1)",
            uid(batch_id),
            limit,
        )
    }

    fn events_where(&self, cond: &str, id: String, limit: Option<usize>) -> Result<Vec<Event>> {
        self.read("read", |conn| {
            let mut events: Vec<Event> = conn
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLS} FROM events WHERE {cond} ORDER BY id DESC LIMIT ?2"
                ))
                .and_then(|mut s| {
                    s.query_map(params![id, sql_limit(limit)], event_from_row)?
                        .collect()
                })
                .ctx("list events")?;
            events.reverse();
            Ok(events)
        })
    }

    /// A configuration value.
    pub fn config_get(&self, key: &str) -> Result<Option<serde_json::Value>> {
        self.read("read", |conn| {
            let raw: Option<String> = conn
                .query_row("SELECT value FROM config WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()
                .ctx("read config")?;
            raw.map(|s| {
                serde_json::from_str(&s).map_err(|e| Error::Corrupt {
                    what: "config value",
                    reason: format!("{key}: {e}"),
                })
            })
            .transpose()
        })
    }

    /// Sets a configuration value (`null` is stored as JSON null; see [`Store::config_delete`]).
    pub fn config_set(&self, key: &str, value: &serde_json::Value) -> Result<()> {
        let text = json(value);
        self.write("write config", |tx| {
            tx.execute(
                "INSERT INTO config (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, text],
            )
            .ctx("write config")?;
            Ok(())
        })
    }

    /// Removes a configuration value; returns whether it existed.
    pub fn config_delete(&self, key: &str) -> Result<bool> {
        self.write("delete config", |tx| {
            Ok(tx
                .execute("DELETE FROM config WHERE key = ?1", [key])
                .ctx("delete config")?
                > 0)
        })
    }

    /// Every configuration entry, by key.
    pub fn config_list(&self) -> Result<Vec<ConfigRecord>> {
        self.read("read", |conn| {
            let raw: Vec<(String, String)> = conn
                .prepare_cached("SELECT key, value FROM config ORDER BY key")
                .and_then(|mut s| {
                    s.query_map(params![], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect()
                })
                .ctx("list config")?;
            raw.into_iter()
                .map(|(key, value)| {
                    let value = serde_json::from_str(&value).map_err(|e| Error::Corrupt {
                        what: "config value",
                        reason: format!("{key}: {e}"),
                    })?;
                    Ok(ConfigRecord { key, value })
                })
                .collect()
        })
    }

    /// Registers a worker or refreshes its heartbeat (insert or update by id).
    pub fn worker_heartbeat(&self, w: &WorkerRecord) -> Result<()> {
        self.write("record worker heartbeat", |tx| {
            tx.prepare_cached(
                "INSERT INTO workers (id, pid, host, version, started_at, heartbeat_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO UPDATE SET \
                 pid = excluded.pid, host = excluded.host, version = excluded.version, \
                 started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at",
            )
            .and_then(|mut s| {
                s.execute(params![
                    w.id,
                    w.pid,
                    w.host,
                    w.version,
                    ts(&w.started_at),
                    ts(&w.heartbeat_at)
                ])
            })
            .ctx("record worker heartbeat")?;
            Ok(())
        })
    }

    /// The worker registered under `id`.
    pub fn worker_get(&self, id: &str) -> Result<Option<WorkerRecord>> {
        self.read("read", |conn| {
            conn.prepare_cached(&format!("SELECT {WORKER_COLS} FROM workers WHERE id = ?1"))
                .and_then(|mut s| s.query_row([id], worker_from_row).optional())
                .ctx("read worker")
        })
    }

    /// Registered workers, most recent heartbeat first.
    pub fn workers_list(&self) -> Result<Vec<WorkerRecord>> {
        self.read("read", |conn| {
            conn.prepare_cached(&format!(
                "SELECT {WORKER_COLS} FROM workers ORDER BY heartbeat_at DESC, id"
            ))
            .and_then(|mut s| s.query_map(params![], worker_from_row)?.collect())
            .ctx("list workers")
        })
    }

    /// Unregisters every worker but `keep`: a worker that holds the state directory's lock
    /// knows that no other lives. Returns how many were removed.
    pub fn worker_remove_others(&self, keep: &str) -> Result<usize> {
        self.write("remove stale workers", |tx| {
            tx.execute("DELETE FROM workers WHERE id <> ?1", [keep])
                .ctx("remove stale workers")
        })
    }

    /// Unregisters a worker (clean shutdown); returns whether it was registered.
    pub fn worker_remove(&self, id: &str) -> Result<bool> {
        self.write("remove worker", |tx| {
            Ok(tx
                .execute("DELETE FROM workers WHERE id = ?1", [id])
                .ctx("remove worker")?
                > 0)
        })
    }

    /// User counts of one batch.
    pub fn batch_counts(&self, batch_id: &Uuid) -> Result<UserCounts> {
        self.read("read", |conn| user_counts_in(conn, Some(batch_id)))
    }

    /// User counts across every batch (Get-MigrationStatistics).
    pub fn statistics(&self) -> Result<UserCounts> {
        self.read("read", |conn| user_counts_in(conn, None))
    }
}

/// A LIMIT value; no limit is the largest one (SQLite reads -1 as none, PostgreSQL refuses it).
fn sql_limit(limit: Option<usize>) -> i64 {
    limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX))
}

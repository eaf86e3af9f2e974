//! `folders` and `messages`: the engine's per-folder sync state.
//!
//! These calls sit on the copy path, so each takes one short transaction for a whole chunk
//! (the engine passes ~100-500 messages at a time) and reuses cached prepared statements. A
//! crash therefore replays at most one chunk, whose rows are left in state 0 (in flight) and
//! verified on the target before any re-APPEND.

use rusqlite::params;
use uuid::Uuid;

use super::{Db, Optional, Row, Store, get_uuid, uid};
use crate::error::{DbContext, Error, Result};
use crate::types::{FolderRecord, MessageRow, MessageState};

const FOLDER_COLS: &str =
    "id, user_id, source_name, target_name, src_uidvalidity, src_highest_modseq, dst_uidvalidity";

fn folder_from_row(r: &Row<'_>) -> rusqlite::Result<FolderRecord> {
    Ok(FolderRecord {
        id: r.get(0)?,
        user_id: get_uuid(r, 1)?,
        source_name: r.get(2)?,
        target_name: r.get(3)?,
        src_uidvalidity: r.get(4)?,
        src_highest_modseq: r.get(5)?,
        dst_uidvalidity: r.get(6)?,
    })
}

const MESSAGE_COLS: &str = "src_uid, state, dst_uid, size, internal_date, msg_key, flags";

fn message_from_row(r: &Row<'_>) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        src_uid: r.get(0)?,
        state: r.get(1)?,
        dst_uid: r.get(2)?,
        size: r.get(3)?,
        internal_date: r.get(4)?,
        msg_key: r.get(5)?,
        flags: r.get(6)?,
    })
}

fn messages_where(conn: &Db<'_>, folder_id: i64, extra: &str) -> Result<Vec<MessageRow>> {
    conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLS} FROM messages WHERE folder_id = ?1 {extra} ORDER BY src_uid"
    ))
    .and_then(|mut s| s.query_map([folder_id], message_from_row)?.collect())
    .ctx("read messages")
}

/// What is recorded as verified on the target for one user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounts {
    /// Folders known for the user.
    pub folders: u64,
    /// Messages in state 1 (the target confirmed them).
    pub copied_items: u64,
    /// Sum of their sizes.
    pub copied_bytes: u64,
    /// Messages in state 2.
    pub skipped_items: u64,
    /// Messages in state 0 (APPEND not yet confirmed).
    pub in_flight_items: u64,
}

const UPSERT_MESSAGE: &str = "INSERT INTO messages \
    (folder_id, src_uid, state, dst_uid, size, internal_date, msg_key, flags) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
    ON CONFLICT (folder_id, src_uid) DO UPDATE SET state = excluded.state, \
    dst_uid = excluded.dst_uid, size = excluded.size, internal_date = excluded.internal_date, \
    msg_key = excluded.msg_key, flags = excluded.flags";

impl Store {
    /// Returns the id of the user's folder `source_name`, creating it if needed; an existing
    /// folder keeps its sync state and gets `target_name` (the mapping may change between runs).
    pub fn folder_upsert(
        &self,
        user_id: &Uuid,
        source_name: &str,
        target_name: &str,
    ) -> Result<i64> {
        self.write("record folder", |tx| {
            tx.prepare_cached(
                "INSERT INTO folders (user_id, source_name, target_name) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (user_id, source_name) DO UPDATE SET target_name = excluded.target_name \
                 RETURNING id",
            )
            .and_then(|mut s| s.query_row(params![uid(user_id), source_name, target_name], |r| r.get(0)))
            .ctx("record folder")
        })
    }

    /// The user's folder `source_name`.
    pub fn folder_get(&self, user_id: &Uuid, source_name: &str) -> Result<Option<FolderRecord>> {
        self.read("read", |conn| {
            conn.prepare_cached(&format!(
                "SELECT {FOLDER_COLS} FROM folders WHERE user_id = ?1 AND source_name = ?2"
            ))
            .and_then(|mut s| {
                s.query_row(params![uid(user_id), source_name], folder_from_row)
                    .optional()
            })
            .ctx("read folder")
        })
    }

    /// The folder with this id.
    pub fn folder_by_id(&self, folder_id: i64) -> Result<Option<FolderRecord>> {
        self.read("read", |conn| {
            conn.prepare_cached(&format!("SELECT {FOLDER_COLS} FROM folders WHERE id = ?1"))
                .and_then(|mut s| s.query_row([folder_id], folder_from_row).optional())
                .ctx("read folder")
        })
    }

    /// Every folder recorded for a user, by source name.
    pub fn folders_for_user(&self, user_id: &Uuid) -> Result<Vec<FolderRecord>> {
        self.read("read", |conn| {
            conn.prepare_cached(&format!(
                "SELECT {FOLDER_COLS} FROM folders WHERE user_id = ?1 ORDER BY source_name"
            ))
            .and_then(|mut s| s.query_map([uid(user_id)], folder_from_row)?.collect())
            .ctx("list folders")
        })
    }

    /// Records the UIDVALIDITY (RFC 9051 §2.3.1.1) and HIGHESTMODSEQ (RFC 7162 §3.1.2.1) seen
    /// on the source and the target's UIDVALIDITY for a folder.
    pub fn folder_set_validity(
        &self,
        folder_id: i64,
        src_uidvalidity: Option<u32>,
        src_highest_modseq: Option<u64>,
        dst_uidvalidity: Option<u32>,
    ) -> Result<()> {
        self.write("record folder validity", |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE folders SET src_uidvalidity = ?2, src_highest_modseq = ?3, \
                     dst_uidvalidity = ?4 WHERE id = ?1",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        folder_id,
                        src_uidvalidity,
                        src_highest_modseq,
                        dst_uidvalidity
                    ])
                })
                .ctx("record folder validity")?;
            if n == 0 {
                return Err(folder_not_found(folder_id));
            }
            Ok(())
        })
    }

    /// Starts a folder over after the source's UIDVALIDITY changed: deletes its message rows
    /// and forgets the source UIDVALIDITY and HIGHESTMODSEQ, in one transaction. Returns the
    /// deleted rows so the engine can match the renumbered messages by msg_key + size + date
    /// (respecting multiplicity) and re-record them with [`Store::messages_insert`] instead of
    /// copying them again.
    pub fn folder_reset(&self, folder_id: i64) -> Result<Vec<MessageRow>> {
        self.write("reset folder", |tx| {
            let old = messages_where(tx, folder_id, "")?;
            tx.execute("DELETE FROM messages WHERE folder_id = ?1", [folder_id])
                .ctx("reset folder")?;
            let n = tx
                .execute(
                    "UPDATE folders SET src_uidvalidity = NULL, src_highest_modseq = NULL \
                     WHERE id = ?1",
                    [folder_id],
                )
                .ctx("reset folder")?;
            if n == 0 {
                return Err(folder_not_found(folder_id));
            }
            Ok(old)
        })
    }

    /// Deletes a folder and its message rows (the folder vanished from the source).
    pub fn folder_delete(&self, folder_id: i64) -> Result<bool> {
        self.write("delete folder", |tx| {
            let n = tx
                .execute("DELETE FROM folders WHERE id = ?1", [folder_id])
                .ctx("delete folder")?;
            Ok(n > 0)
        })
    }

    /// Every message row of a folder, by source UID.
    pub fn messages_for_folder(&self, folder_id: i64) -> Result<Vec<MessageRow>> {
        self.read("read", |conn| messages_where(conn, folder_id, ""))
    }

    /// Rows left in state 0: their APPEND may or may not have landed, so the engine verifies
    /// them on the target before copying again.
    pub fn in_flight(&self, folder_id: i64) -> Result<Vec<MessageRow>> {
        self.read("read", |conn| {
            messages_where(conn, folder_id, "AND state = 0")
        })
    }

    /// Records a chunk of messages as in flight (state 0, whatever `rows[i].state` says)
    /// before their APPENDs are sent, in one transaction. Existing rows are overwritten.
    pub fn messages_begin(&self, folder_id: i64, rows: &[MessageRow]) -> Result<()> {
        self.upsert_messages(
            "begin messages",
            folder_id,
            rows,
            Some(MessageState::InFlight),
        )
    }

    /// Records a chunk of messages exactly as given (any state), in one transaction; used to
    /// re-record matches after [`Store::folder_reset`].
    pub fn messages_insert(&self, folder_id: i64, rows: &[MessageRow]) -> Result<()> {
        self.upsert_messages("insert messages", folder_id, rows, None)
    }

    fn upsert_messages(
        &self,
        action: &'static str,
        folder_id: i64,
        rows: &[MessageRow],
        force_state: Option<MessageState>,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.write(action, |tx| {
            let mut stmt = tx.prepare_cached(UPSERT_MESSAGE).ctx(action)?;
            for m in rows {
                stmt.execute(params![
                    folder_id,
                    m.src_uid,
                    force_state.unwrap_or(m.state),
                    m.dst_uid,
                    m.size,
                    m.internal_date,
                    m.msg_key,
                    m.flags,
                ])
                .ctx(action)?;
            }
            Ok(())
        })
    }

    /// Records the outcome of a chunk: `(src_uid, state, dst_uid, flags)` per message, in one
    /// transaction. Returns how many rows were updated (rows never begun are ignored).
    pub fn messages_commit<S: AsRef<str> + Sync>(
        &self,
        folder_id: i64,
        rows: &[(u32, MessageState, Option<u32>, S)],
    ) -> Result<usize> {
        if rows.is_empty() {
            return Ok(0);
        }
        self.write("commit messages", |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE messages SET state = ?3, dst_uid = ?4, flags = ?5 \
                     WHERE folder_id = ?1 AND src_uid = ?2",
                )
                .ctx("commit messages")?;
            let mut n = 0;
            for (src_uid, state, dst_uid, flags) in rows {
                n += stmt
                    .execute(params![folder_id, src_uid, state, dst_uid, flags.as_ref()])
                    .ctx("commit messages")?;
            }
            Ok(n)
        })
    }

    /// Records the flags now applied on the target: `(src_uid, flags)` per message, in one
    /// transaction. Returns how many rows were updated.
    pub fn messages_update_flags<S: AsRef<str> + Sync>(
        &self,
        folder_id: i64,
        rows: &[(u32, S)],
    ) -> Result<usize> {
        if rows.is_empty() {
            return Ok(0);
        }
        self.write("update message flags", |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE messages SET flags = ?3 WHERE folder_id = ?1 AND src_uid = ?2",
                )
                .ctx("update message flags")?;
            let mut n = 0;
            for (src_uid, flags) in rows {
                n += stmt
                    .execute(params![folder_id, src_uid, flags.as_ref()])
                    .ctx("update message flags")?;
            }
            Ok(n)
        })
    }

    /// Deletes the rows of these source UIDs (expunged on the source, or abandoned in flight).
    pub fn delete_message_rows(&self, folder_id: i64, src_uids: &[u32]) -> Result<usize> {
        if src_uids.is_empty() {
            return Ok(0);
        }
        self.write("delete message rows", |tx| {
            let mut stmt = tx
                .prepare_cached("DELETE FROM messages WHERE folder_id = ?1 AND src_uid = ?2")
                .ctx("delete message rows")?;
            let mut n = 0;
            for src_uid in src_uids {
                n += stmt
                    .execute(params![folder_id, src_uid])
                    .ctx("delete message rows")?;
            }
            Ok(n)
        })
    }

    /// Counts what the `messages` table says is on the target for a user.
    pub fn sync_counts(&self, user_id: &Uuid) -> Result<SyncCounts> {
        self.read("read", |conn| sync_counts_in(conn, user_id))
    }

    /// Sets the user's counters from what is recorded, so every report (the cmdlets, the CLI
    /// summary, `MigrationStatistics.csv`) shows the same numbers and none is a running total:
    /// - `items_synced`, `bytes_synced` and `folders_synced` from the `messages` table (what
    ///   the target confirmed);
    /// - `items_skipped` from the `skipped_items` rows (`SkippedItemCount`, the items
    ///   `-IncludeSkippedItems` lists);
    /// - `bytes_total` from the sizes of every source message the engine planned, copied or
    ///   skipped (`EstimatedTotalTransferSize`).
    ///
    /// Returns the message counts.
    pub fn refresh_user_counters(&self, user_id: &Uuid) -> Result<SyncCounts> {
        self.write("refresh user counters", |tx| {
            let c = sync_counts_in(tx, user_id)?;
            tx.execute(
                "UPDATE users SET items_synced = ?2, bytes_synced = ?3, folders_synced = ?4, \
                   items_skipped = (SELECT count(*) FROM skipped_items WHERE user_id = ?1), \
                   bytes_total = (SELECT CAST(coalesce(sum(m.size), 0) AS BIGINT) FROM messages m \
                                  JOIN folders f ON f.id = m.folder_id WHERE f.user_id = ?1) \
                 WHERE id = ?1",
                params![uid(user_id), c.copied_items, c.copied_bytes, c.folders],
            )
            .ctx("refresh user counters")?;
            Ok(c)
        })
    }
}

fn sync_counts_in(conn: &Db<'_>, user_id: &Uuid) -> Result<SyncCounts> {
    conn.prepare_cached(
        "SELECT \
           (SELECT count(*) FROM folders WHERE user_id = ?1), \
           CAST(coalesce(sum(CASE WHEN m.state = 1 THEN 1 ELSE 0 END), 0) AS BIGINT), \
           CAST(coalesce(sum(CASE WHEN m.state = 1 THEN m.size ELSE 0 END), 0) AS BIGINT), \
           CAST(coalesce(sum(CASE WHEN m.state = 2 THEN 1 ELSE 0 END), 0) AS BIGINT), \
           CAST(coalesce(sum(CASE WHEN m.state = 0 THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM messages m JOIN folders f ON f.id = m.folder_id WHERE f.user_id = ?1",
    )
    .and_then(|mut s| {
        s.query_row([uid(user_id)], |r| {
            Ok(SyncCounts {
                folders: r.get(0)?,
                copied_items: r.get(1)?,
                copied_bytes: r.get(2)?,
                skipped_items: r.get(3)?,
                in_flight_items: r.get(4)?,
            })
        })
    })
    .ctx("count synced messages")
}

fn folder_not_found(folder_id: i64) -> Error {
    Error::NotFound {
        kind: "folder",
        identity: folder_id.to_string(),
    }
}

//! In-flight verification. Rows left in state 0 by an interrupted pass are verified on the
//! target before anything is sent again: the APPEND (or delivery) may have landed after all,
//! and sending it again would duplicate the message. Found ones are committed (state 1), the
//! rest are forgotten, so the pass copies them again.
//!
//! "Not found" is not yet "lost" on an IMAP target: a server goes on executing the commands it
//! had received on a connection after that connection is gone (Dovecot commits a MULTIAPPEND
//! whose bytes it holds tens of milliseconds after the client closed, while a new connection's
//! SEARCH already answers). A pass resumed at once after an abort, a crash or a dropped link
//! would re-send those messages and the late commit would add them a second time. So rows
//! not found are looked for again after the folder had time to settle
//! ([`SyncOptions::in_flight_settle`](crate::engine::SyncOptions)), and again while a wait
//! still turned up messages; only then are they forgotten.
//!
//! Also the end-of-pass check ([`check_complete`]): a folder pass is complete only when every
//! message listed for it is confirmed on the target or recorded as skipped.

use std::collections::HashSet;

use imapmigration_store::{MessageRow, MessageState};

use super::super::error::Error;
use super::context::{FolderPass, st};
use super::stream::uid_list;
use super::target::TargetFolder;

/// Rounds of waiting for late arrivals before rows not found are forgotten. Each round after
/// the first is taken only when the previous wait turned up messages.
const SETTLE_ROUNDS: u32 = 5;

/// Verifies the folder's rows in state 0 on the target (`rows` is all of the folder's rows).
pub(super) async fn verify_in_flight<F: TargetFolder>(
    pass: &FolderPass<'_>,
    rows: &[MessageRow],
    dst: &mut F,
) -> Result<(), Error> {
    let ctx = pass.ctx;
    let store = ctx.store;
    let settle = ctx.opts.in_flight_settle;
    let mut current: Option<Vec<MessageRow>> = None;
    let mut round = 0;
    loop {
        let rows = current.as_deref().unwrap_or(rows);
        if !rows.iter().any(|r| r.state == MessageState::InFlight) {
            return Ok(());
        }
        let located = dst.locate_in_flight(pass, rows).await?;
        tracing::info!(
            landed = located.found.len(),
            missing = located.lost.len(),
            round,
            "verified messages left in flight"
        );
        if !located.found.is_empty() {
            store
                .messages_commit(pass.folder_id, &located.found)
                .map_err(st("commit messages"))?;
        }
        if located.lost.is_empty() {
            return Ok(());
        }
        // Wait at least once, and again while waiting still turned up messages: an earlier
        // connection's commands are still being executed.
        let settling = round == 0 || !located.found.is_empty();
        if !dst.lands_late() || settle.is_zero() || !settling || round >= SETTLE_ROUNDS {
            store
                .delete_message_rows(pass.folder_id, &located.lost)
                .map_err(st("forget messages"))?;
            return Ok(());
        }
        round += 1;
        tracing::info!(
            missing = located.lost.len(),
            wait = ?settle,
            "messages in flight not on the target yet; looking again once it settled"
        );
        tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => return Err(Error::Cancelled),
            _ = tokio::time::sleep(settle) => {}
        }
        dst.refresh().await?;
        current = Some(
            store
                .messages_for_folder(pass.folder_id)
                .map_err(st("read messages"))?,
        );
    }
}

/// The invariant of a folder pass, checked once at its end: every message the source listed
/// for the pass (`listed`: to copy, or over the size limit) is on the target as the target
/// confirmed (state 1, by APPENDUID or a check) or recorded as a skipped item with its reason
/// (state 2). Anything else, whatever went unnoticed on the way, means the pass is not
/// complete and the folder must not be reported as synced.
pub(super) fn check_complete(pass: &FolderPass<'_>, listed: &[u32]) -> Result<(), Error> {
    if listed.is_empty() {
        return Ok(());
    }
    let rows = pass
        .ctx
        .store
        .messages_for_folder(pass.folder_id)
        .map_err(st("read messages"))?;
    let settled: HashSet<u32> = rows
        .iter()
        .filter(|r| matches!(r.state, MessageState::Copied | MessageState::Skipped))
        .map(|r| r.src_uid)
        .collect();
    let missing: Vec<u32> = listed
        .iter()
        .copied()
        .filter(|u| !settled.contains(u))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::Incomplete {
        listed: listed.len() as u64,
        missing: missing.len() as u64,
        uids: uid_list(&missing),
    })
}

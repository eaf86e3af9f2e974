//! One folder pass.
//!
//! Order of work, each step safe to interrupt at any point:
//! 1. EXAMINE the source (never SELECT: the source is not modified), open the target folder.
//! 2. If the stored UIDVALIDITY of either side no longer holds, or we have no record of a
//!    folder whose target is not empty, rebuild the rows by matching the source's messages to
//!    the target's by msg_key + size + INTERNALDATE, respecting multiplicity (`rebuild`).
//! 3. Rows left in state 0 by an interrupted pass are verified on the target: found ones are
//!    committed, the rest are forgotten and copied again (`verify`).
//! 4. Flag changes on the source since the last pass are applied as a difference (`flag_sync`).
//! 5. New messages are streamed newest first (`stream`): one source connection fetches
//!    `BODY.PEEK[]` in batches into a channel bounded by bytes (`window`), the target side
//!    writes rows in state 0 per group, appends (pipelined, `imap_target`) or delivers
//!    (`maildir_target`), and commits state 1 in chunks. Messages over the size limit and
//!    messages the target refuses are recorded as skipped items (`skipped`).
//! 6. The pass is complete only when every message listed for it is confirmed on the target
//!    or recorded as skipped (`verify::check_complete`); a FETCH that leaves out requested
//!    messages, sends others or cannot be parsed fails the folder before that (`stream`).
//! 7. The folder's UIDVALIDITY and HIGHESTMODSEQ are recorded for the next pass.
//!
//! The steps that depend on the target kind go through [`target::TargetFolder`], implemented
//! once per kind; `context` holds what they share.

mod context;
mod flag_sync;
mod hashes;
mod imap_target;
mod lanes;
mod listing;
mod maildir_target;
mod rebuild;
mod refused;
mod skipped;
mod stream;
mod target;
mod verify;
mod window;

use std::collections::HashSet;

use imapmigration_imap as imap;
use imapmigration_store::{FolderRecord, MessageRow, MessageState};

use super::error::Error;
use super::folders::FolderPlan;
use super::plan::plan_new;
use context::{FolderPass, send_opening, src_err, st};
use imap_target::ImapFolder;
use maildir_target::MaildirFolder;
use target::TargetFolder;

pub(super) use context::{Ctx, NextHint, Stats, blocking};
pub(super) use lanes::Lanes;
pub(super) use refused::skip_folder;
pub(super) use target::Target;
pub(super) use window::ByteWindow;

/// Copies one source folder of `group` (the source folders sharing its target folder).
pub(super) async fn copy_folder(
    ctx: &Ctx<'_>,
    plan: &FolderPlan,
    group: &[FolderPlan],
    src: &mut imap::Session,
    dst: &mut Target,
    hint: &dyn NextHint,
) -> Result<(), Error> {
    let tname = ctx.layout.join(&plan.target);
    let folder_id = ctx
        .store
        .folder_upsert(&ctx.user_id, &plan.source_name, &tname)
        .map_err(st("record folder"))?;
    let rec = ctx
        .store
        .folder_by_id(folder_id)
        .map_err(st("read folder"))?
        .ok_or_else(|| Error::Internal(format!("folder {folder_id} vanished")))?;
    if plan.renamed && rec.src_uidvalidity.is_none() {
        report_rename(ctx, plan, &tname);
    }
    // Already on its way when the pass before asked for it (`FolderPass::source_done`).
    send_opening(src, &plan.source_name, rec.src_uidvalidity.is_none())
        .await
        .map_err(src_err("examine folder"))?;
    let pass = |sinfo: &imap::MailboxInfo| FolderPass {
        ctx,
        plan,
        group,
        folder_id,
        src_validity: sinfo.uid_validity,
        hint: Some(hint),
        next: std::sync::OnceLock::new(),
    };
    match dst {
        Target::Imap(s) => {
            // A message over the target's APPENDLIMIT is never sent: it is a LargeItem,
            // planned from the listing like one over -MaxMessageSize.
            let limit = match (ctx.opts.max_message_size, s.capabilities().append_limit()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            // Both folders opened at once: two round trips on two connections that need not
            // wait for each other. The source's failure is the one reported when both fail.
            let (sinfo, folder) =
                tokio::join!(src.examine(&plan.source_name), ImapFolder::open(s, &tname));
            let sinfo = sinfo.map_err(src_err("examine folder"))?;
            let folder = folder?;
            run(&pass(&sinfo), &rec, &sinfo, src, folder, limit).await
        }
        Target::Maildir(m) => {
            let sinfo = src
                .examine(&plan.source_name)
                .await
                .map_err(src_err("examine folder"))?;
            let folder = MaildirFolder::open(m, &plan.target).await?;
            let max = ctx.opts.max_message_size;
            run(&pass(&sinfo), &rec, &sinfo, src, folder, max).await
        }
    }
}

/// A folder whose name the target cannot take as it is (`folders::TargetLayout::safe_segment`)
/// is reported once, on its first pass, naming both names.
fn report_rename(ctx: &Ctx<'_>, plan: &FolderPlan, tname: &str) {
    let msg = format!(
        "folder {:?}: the target cannot take this name as it is (an empty level, or the target's separator {:?} inside a name); it is copied to the folder {tname:?}",
        plan.display(),
        ctx.layout.delimiter.to_string(),
    );
    tracing::warn!("{msg}");
    let _ = ctx.store.insert_event(&imapmigration_store::Event::new(
        Some(ctx.user_id),
        None,
        imapmigration_store::EventLevel::Warning,
        msg,
    ));
}

/// Steps 2 to 7 on an open target folder.
async fn run<F: TargetFolder>(
    pass: &FolderPass<'_>,
    rec: &FolderRecord,
    sinfo: &imap::MailboxInfo,
    src: &mut imap::Session,
    mut dst: F,
    max_size: Option<u64>,
) -> Result<(), Error> {
    let ctx = pass.ctx;
    let src_changed = rec.src_uidvalidity.is_some_and(|v| v != sinfo.uid_validity);
    let (rows, rebuilt) = settle_rows(pass, rec, sinfo, src_changed, src, &mut dst).await?;

    // HIGHESTMODSEQ of the last pass holds only for the rows it was recorded with.
    let changed_since = rec.src_highest_modseq.filter(|_| !rebuilt && !src_changed);
    let listing = listing::list_source(src, sinfo, &rows, changed_since).await?;
    flag_sync::sync_flags(pass, &rows, &listing.flags, &mut dst).await?;

    let has_row: HashSet<u32> = rows.iter().map(|r| r.src_uid).collect();
    let planned = plan_new(&listing.new, |u| has_row.contains(&u), ctx.filter, max_size);
    let passing = listing.new.len() as u64 - planned.filtered;
    ctx.stats
        .totals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(pass.folder_id, listing.still_there + passing);
    skipped::record_large(pass, src, &planned.too_large, max_size.unwrap_or_default()).await?;

    let bytes: u64 = planned.copy.iter().map(|m| m.size).sum();
    ctx.progress
        .folder_started(&pass.plan.display(), planned.copy.len() as u64, bytes);
    tracing::info!(
        new = planned.copy.len(),
        bytes,
        filtered = planned.filtered,
        "copying"
    );
    if planned.copy.is_empty() {
        pass.source_done(src).await;
    } else {
        stream::copy_messages(pass, &planned.copy, src, &mut dst).await?;
    }
    let listed: Vec<u32> = planned
        .copy
        .iter()
        .chain(&planned.too_large)
        .map(|m| m.uid)
        .collect();
    verify::check_complete(pass, &listed)?;

    ctx.store
        .folder_set_validity(
            pass.folder_id,
            Some(sinfo.uid_validity),
            sinfo.highest_modseq,
            dst.uid_validity(),
        )
        .map_err(st("record folder validity"))?;
    let _ = ctx.store.refresh_user_counters(&ctx.user_id);
    Ok(())
}

/// Steps 2 and 3: rows that can be trusted, rebuilt or verified as needed. Also says whether
/// they were rebuilt.
async fn settle_rows<F: TargetFolder>(
    pass: &FolderPass<'_>,
    rec: &FolderRecord,
    sinfo: &imap::MailboxInfo,
    src_changed: bool,
    src: &mut imap::Session,
    dst: &mut F,
) -> Result<(Vec<MessageRow>, bool), Error> {
    let store = pass.ctx.store;
    let read = || {
        store
            .messages_for_folder(pass.folder_id)
            .map_err(st("read messages"))
    };
    let mut rows = read()?;
    let dst_validity = dst.uid_validity();
    let dst_changed =
        matches!((dst_validity, rec.dst_uidvalidity), (Some(now), Some(was)) if now != was);
    let unknown = rec.src_uidvalidity.is_none() && rows.is_empty() && !dst.is_empty().await?;
    let rebuilt = src_changed || dst_changed || unknown;
    if rebuilt {
        tracing::warn!(
            src_was = ?rec.src_uidvalidity, src_now = sinfo.uid_validity,
            dst_was = ?rec.dst_uidvalidity, dst_now = ?dst_validity, unknown,
            "rebuilding folder state from the target's contents"
        );
        rebuild::rebuild(pass, &rows, sinfo, src, dst).await?;
        rows = read()?;
    } else if rec.src_uidvalidity.is_none() || rec.dst_uidvalidity != dst_validity {
        // Before the first row is written: rows always belong to a known UIDVALIDITY.
        store
            .folder_set_validity(
                pass.folder_id,
                Some(sinfo.uid_validity),
                rec.src_highest_modseq,
                dst_validity,
            )
            .map_err(st("record folder validity"))?;
    }
    // Never send again what may have landed: rows in state 0 are verified first.
    if rows.iter().any(|r| r.state == MessageState::InFlight) {
        verify::verify_in_flight(pass, &rows, dst).await?;
        rows = read()?;
    }
    Ok((rows, rebuilt))
}

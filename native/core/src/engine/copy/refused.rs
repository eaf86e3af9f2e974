//! A folder whose messages cannot be copied: the target refuses it (CREATE, SELECT or APPEND
//! refused for its name, quota or permissions) or the source keeps failing to hand out its
//! messages after the retries. Its messages become skipped items of kind BadItem with the
//! server's words, each counted against `-BadItemLimit`, and the user goes on with its other
//! folders. The folder's pass is then complete in the one sense that counts: every message the
//! source lists for it is either on the target or a skipped item (`verify::check_complete`).

use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use imapmigration_imap as imap;
use imapmigration_store::{MessageRow, MessageState};

use super::super::error::{Error, Side};
use super::super::folders::FolderPlan;
use super::super::plan::plan_new;
use super::context::{Ctx, FolderPass, src_err, st};
use super::listing::{fetch_meta_uids, meta_of};
use super::skipped::{Refused, large_item_headers, record_bad_because, record_large};
use super::verify;

/// Records the messages of `plan` not yet on the target as skipped items with `reason`;
/// returns how many were recorded in this pass. Fails when the source folder cannot be listed
/// (then nothing is known about its messages), or past a limit.
pub(in crate::engine) async fn skip_folder(
    ctx: &Ctx<'_>,
    plan: &FolderPlan,
    group: &[FolderPlan],
    src: &mut imap::Session,
    reason: &str,
) -> Result<u64, Error> {
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
    let sinfo = src
        .examine(&plan.source_name)
        .await
        .map_err(src_err("examine folder"))?;
    if rec.src_uidvalidity.is_some_and(|v| v != sinfo.uid_validity) {
        // The rows belong to another generation of the folder: nothing can be said about
        // which of its messages are on the target.
        return Err(Error::Protocol {
            side: Side::Source,
            command: "EXAMINE".into(),
            detail: format!(
                "the folder's UIDVALIDITY changed while it could not be copied ({reason})"
            ),
        });
    }
    let pass = FolderPass {
        ctx,
        plan,
        group,
        folder_id,
        src_validity: sinfo.uid_validity,
        hint: None,
        next: OnceLock::new(),
    };
    let mut rows = ctx
        .store
        .messages_for_folder(folder_id)
        .map_err(st("read messages"))?;
    // Messages in flight may or may not have landed; with the folder out of reach they are
    // reported as not copied rather than assumed copied.
    let in_flight: Vec<u32> = rows
        .iter()
        .filter(|r| r.state == MessageState::InFlight)
        .map(|r| r.src_uid)
        .collect();
    if !in_flight.is_empty() {
        ctx.store
            .delete_message_rows(folder_id, &in_flight)
            .map_err(st("forget messages"))?;
        rows.retain(|r| r.state != MessageState::InFlight);
    }
    let all = if sinfo.exists == 0 {
        Vec::new()
    } else {
        src.uid_search(&imap::SearchKey::All)
            .await
            .map_err(src_err("search messages"))?
    };
    let has_row: std::collections::HashSet<u32> = rows.iter().map(|r| r.src_uid).collect();
    let new_uids: Vec<u32> = all
        .iter()
        .copied()
        .filter(|u| !has_row.contains(u))
        .collect();
    let still_there = (all.len() - new_uids.len()) as u64;
    let metas: Vec<_> = fetch_meta_uids(src, &new_uids, Side::Source)
        .await?
        .iter()
        .map(meta_of)
        .collect();
    let planned = plan_new(&metas, |_| false, ctx.filter, ctx.opts.max_message_size);
    ctx.stats
        .totals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            folder_id,
            still_there + (planned.copy.len() + planned.too_large.len()) as u64,
        );
    if rec.src_uidvalidity.is_none() {
        ctx.store
            .folder_set_validity(
                folder_id,
                Some(sinfo.uid_validity),
                None,
                rec.dst_uidvalidity,
            )
            .map_err(st("record folder validity"))?;
    }
    record_large(
        &pass,
        src,
        &planned.too_large,
        ctx.opts.max_message_size.unwrap_or_default(),
    )
    .await?;

    let headers = large_item_headers(src, &planned.copy).await;
    let rows: Vec<MessageRow> = planned
        .copy
        .iter()
        .map(|m| MessageRow {
            src_uid: m.uid,
            state: MessageState::Skipped,
            dst_uid: None,
            size: m.size,
            internal_date: m.date,
            msg_key: m
                .message_id
                .clone()
                .unwrap_or_else(|| format!("bad:{}", m.uid)),
            flags: String::new(),
        })
        .collect();
    ctx.store
        .messages_insert(folder_id, &rows)
        .map_err(st("record skipped messages"))?;
    let before = ctx.stats.skipped.load(Ordering::Relaxed);
    for m in &planned.copy {
        let item = Refused {
            uid: m.uid,
            size: m.size,
            date: m.date,
            headers: headers.get(&m.uid).cloned().unwrap_or_default(),
        };
        record_bad_because(
            &pass,
            item,
            format!("the folder could not be copied: {reason}"),
        )?;
    }
    let listed: Vec<u32> = planned
        .copy
        .iter()
        .chain(&planned.too_large)
        .map(|m| m.uid)
        .collect();
    verify::check_complete(&pass, &listed)?;
    let _ = ctx.store.refresh_user_counters(&ctx.user_id);
    Ok(ctx.stats.skipped.load(Ordering::Relaxed) - before)
}

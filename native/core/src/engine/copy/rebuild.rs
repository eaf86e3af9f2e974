//! Rebuilding a folder's rows when the stored UIDs cannot be trusted (UIDVALIDITY changed on
//! either side, RFC 3501 §2.3.1.1, or no record of a folder whose target is not empty): a
//! source message whose (msg_key, size, INTERNALDATE) is on the target, not claimed by another
//! row, is recorded as copied; the rest is copied by the pass. Matching respects multiplicity.
//! The flags last applied carry over from the old rows where they match, and deliberate skips
//! stay skipped.

use std::collections::{HashMap, HashSet, VecDeque};

use futures::StreamExt;
use imapmigration_imap as imap;
use imapmigration_store::{Event, EventLevel, MessageRow, MessageState};

use super::super::budget::memory_budget;
use super::super::error::{Error, Side};
use super::super::plan::{Ident, SourceMeta, match_with_multiplicity, normalized_size};
use super::context::{FolderPass, src_err, st};
use super::hashes::body_keys;
use super::listing::list_all;
use super::target::{Siblings, TargetFolder, TargetMessage};

/// Replaces the folder's rows by what matching the source against the target finds.
pub(super) async fn rebuild<F: TargetFolder>(
    pass: &FolderPass<'_>,
    old_rows: &[MessageRow],
    sinfo: &imap::MailboxInfo,
    src: &mut imap::Session,
    dst: &mut F,
) -> Result<(), Error> {
    let ctx = pass.ctx;
    let (mut left, want_hash) = source_identities(pass, sinfo, src).await?;
    // The target: every message not claimed by another source folder sharing it.
    let dst_validity = dst.uid_validity();
    let siblings = Siblings::load(pass, dst_validity)?;
    let right = dst.inventory(pass, &siblings, want_hash).await?;
    let right_idx: Vec<(usize, Ident)> = right
        .iter()
        .enumerate()
        .map(|(i, m)| (i, m.ident.clone()))
        .collect();
    let mut matches = match_with_multiplicity(&left, &right_idx);
    if normalize_sizes(pass, src, &mut left, &right_idx, &matches).await? {
        matches = match_with_multiplicity(&left, &right_idx);
    }
    let (new_rows, adopted) = rows_from_matches::<F>(dst, old_rows, &left, &right, matches);
    dst.adopt(pass, adopted).await?;

    let matched = new_rows
        .iter()
        .filter(|r| r.state == MessageState::Copied)
        .count();
    ctx.store
        .folder_reset(pass.folder_id)
        .map_err(st("reset folder"))?;
    for c in new_rows.chunks(ctx.opts.chunk.max(1) * 4) {
        ctx.store
            .messages_insert(pass.folder_id, c)
            .map_err(st("record matched messages"))?;
    }
    ctx.store
        .folder_set_validity(pass.folder_id, Some(sinfo.uid_validity), None, dst_validity)
        .map_err(st("record folder validity"))?;
    let msg = format!(
        "folder {}: message identities rebuilt (source UIDVALIDITY {}, target UIDVALIDITY {}); {} of {} source messages found on the target",
        pass.plan.display(),
        sinfo.uid_validity,
        dst_validity.map_or_else(|| "n/a".to_string(), |v| v.to_string()),
        matched,
        left.len()
    );
    tracing::warn!("{msg}");
    let _ = ctx.store.insert_event(&Event::new(
        Some(ctx.user_id),
        None,
        EventLevel::Warning,
        msg,
    ));
    Ok(())
}

/// Every source message with its identity; bodies without a Message-ID are hashed (except
/// those over the size limit, which are never copied). Also says whether any was hashed, so
/// the target hashes its own such bodies too.
async fn source_identities(
    pass: &FolderPass<'_>,
    sinfo: &imap::MailboxInfo,
    src: &mut imap::Session,
) -> Result<(Vec<(u32, Ident)>, bool), Error> {
    let metas: Vec<SourceMeta> = list_all(src, sinfo).await?;
    let max = pass.ctx.opts.max_message_size;
    let need_hash: Vec<(u32, u64)> = metas
        .iter()
        .filter(|m| m.message_id.is_none() && max.is_none_or(|x| m.size <= x))
        .map(|m| (m.uid, m.size))
        .collect();
    let hashed = body_keys(pass.ctx, src, Side::Source, &need_hash).await?;
    let left = metas
        .iter()
        .map(|m| {
            let key = m
                .message_id
                .clone()
                .or_else(|| hashed.get(&m.uid).cloned())
                .unwrap_or_else(|| format!("large:{}", m.uid));
            (
                m.uid,
                Ident {
                    key,
                    size: m.size,
                    date: m.date,
                },
            )
        })
        .collect();
    Ok((left, !need_hash.is_empty()))
}

/// A target that stores messages with CRLF reports another size for a message the source
/// sent with bare LF. Source messages left unmatched whose msg_key and INTERNALDATE are on the
/// target under another size are fetched, and take their normalized size
/// ([`normalized_size`]), the one definition the rows use too. Says whether any changed.
async fn normalize_sizes(
    pass: &FolderPass<'_>,
    src: &mut imap::Session,
    left: &mut [(u32, Ident)],
    right: &[(usize, Ident)],
    matches: &[(u32, Option<usize>)],
) -> Result<bool, Error> {
    let used: HashSet<usize> = matches.iter().filter_map(|(_, r)| *r).collect();
    let unmatched_right: HashSet<(&str, i64)> = right
        .iter()
        .filter(|(i, _)| !used.contains(i))
        .map(|(_, id)| (id.key.as_str(), id.date))
        .collect();
    let unmatched_left: HashSet<u32> = matches
        .iter()
        .filter(|(_, r)| r.is_none())
        .map(|(u, _)| *u)
        .collect();
    let candidates: Vec<(u32, u64)> = left
        .iter()
        .filter(|(u, id)| {
            unmatched_left.contains(u)
                && !id.key.starts_with("large:")
                && unmatched_right.contains(&(id.key.as_str(), id.date))
        })
        .map(|(u, id)| (*u, id.size))
        .collect();
    if candidates.is_empty() {
        return Ok(false);
    }
    let budget = memory_budget();
    let mut sizes: HashMap<u32, u64> = HashMap::new();
    for (uid, size) in candidates {
        // One at a time, within the memory budget: a rare path, not worth a batch.
        let _share = tokio::select! {
            biased;
            _ = pass.ctx.cancel.cancelled() => return Err(Error::Cancelled),
            r = budget.reserve(size) => r?,
        };
        let set = imap::UidSet::from_iter(&[uid]);
        let mut stream = std::pin::pin!(src.fetch_bodies(&set));
        while let Some(b) = stream.next().await {
            let b = b.map_err(src_err("fetch messages"))?;
            sizes.insert(b.uid, normalized_size(&b.body));
        }
    }
    let mut changed = false;
    for (uid, id) in left.iter_mut() {
        if let Some(n) = sizes.get(uid).filter(|n| **n != id.size) {
            id.size = *n;
            changed = true;
        }
    }
    Ok(changed)
}

/// The new rows from the matches, and the target messages taken as copies.
fn rows_from_matches<F: TargetFolder>(
    dst: &F,
    old_rows: &[MessageRow],
    left: &[(u32, Ident)],
    right: &[TargetMessage<F::Found>],
    matches: Vec<(u32, Option<usize>)>,
) -> (Vec<MessageRow>, Vec<(F::Found, u32)>) {
    let policy = dst.flag_policy();
    // Old rows by identity: flags we applied, and deliberate skips.
    let mut pool: HashMap<Ident, VecDeque<&MessageRow>> = HashMap::new();
    for r in old_rows {
        pool.entry(Ident {
            key: r.msg_key.clone(),
            size: r.size,
            date: r.internal_date,
        })
        .or_default()
        .push_back(r);
    }
    let ident_of: HashMap<u32, &Ident> = left.iter().map(|(u, i)| (*u, i)).collect();
    let mut new_rows: Vec<MessageRow> = Vec::new();
    let mut adopted = Vec::new();
    for (uid, hit) in matches {
        let Some(ident) = ident_of.get(&uid).copied() else {
            continue;
        };
        let old = pool.get_mut(ident).and_then(|q| q.pop_front());
        match hit.and_then(|i| right.get(i)) {
            Some(t) => {
                let flags = match old {
                    Some(o) if o.state != MessageState::Skipped => o.flags.clone(),
                    _ => policy.restrict(&t.flags).to_stored(),
                };
                new_rows.push(MessageRow {
                    src_uid: uid,
                    state: MessageState::Copied,
                    dst_uid: F::target_uid(&t.found),
                    size: ident.size,
                    internal_date: ident.date,
                    msg_key: ident.key.clone(),
                    flags,
                });
                adopted.push((t.found.clone(), uid));
            }
            None => {
                if let Some(o) = old.filter(|o| o.state == MessageState::Skipped) {
                    new_rows.push(MessageRow {
                        src_uid: uid,
                        ..o.clone()
                    });
                }
            }
        }
    }
    (new_rows, adopted)
}

//! What the source folder holds now: metadata of messages we have no row for, and the flags of
//! those that may have changed since the last pass.

use std::collections::{HashMap, HashSet};

use imapmigration_imap as imap;
use imapmigration_store::MessageRow;

use super::super::error::{Error, Side};
use super::super::plan::{SourceMeta, normalize_message_id};
use super::context::src_err;

/// UIDs per metadata FETCH / STORE command, keeping command lines short.
pub(super) const META_BATCH: usize = 1000;

/// The source side of a pass.
#[derive(Debug, Default)]
pub(super) struct SourceListing {
    /// Messages without a row yet.
    pub new: Vec<SourceMeta>,
    /// Flags now, of messages whose flags may have changed (all of them on a first pass).
    pub flags: HashMap<u32, Vec<String>>,
    /// Messages with a row that are still on the source.
    pub still_there: u64,
}

/// Lists the source folder against the folder's rows. `changed_since` is the HIGHESTMODSEQ
/// of the last pass when it can be trusted (CONDSTORE, RFC 7162 §3.1.4.1): then only flags
/// changed since are fetched, else every known message's.
pub(super) async fn list_source(
    src: &mut imap::Session,
    sinfo: &imap::MailboxInfo,
    rows: &[MessageRow],
    changed_since: Option<u64>,
) -> Result<SourceListing, Error> {
    let mut out = SourceListing::default();
    if sinfo.exists > 0 {
        if rows.is_empty() {
            out.new = list_all(src, sinfo).await?;
        } else {
            let has_row: HashSet<u32> = rows.iter().map(|r| r.src_uid).collect();
            let all = src
                .uid_search(&imap::SearchKey::All)
                .await
                .map_err(src_err("search messages"))?;
            let (known, new_uids): (Vec<u32>, Vec<u32>) =
                all.iter().partition(|u| has_row.contains(u));
            out.still_there = known.len() as u64;
            out.new = fetch_meta_uids(src, &new_uids, Side::Source)
                .await?
                .iter()
                .map(meta_of)
                .collect();
            check_listing(out.new.len(), new_uids.len())?;
            match (changed_since, sinfo.highest_modseq) {
                (Some(was), Some(now)) => {
                    if now != was {
                        for (uid, flags, _) in src
                            .fetch_flags_changed_since(was)
                            .await
                            .map_err(src_err("fetch changed flags"))?
                        {
                            out.flags.insert(uid, flags);
                        }
                    }
                }
                _ => {
                    for m in fetch_meta_uids(src, &known, Side::Source).await? {
                        out.flags.insert(m.uid, m.flags);
                    }
                }
            }
        }
    }
    if rows.is_empty() {
        for m in &out.new {
            out.flags.insert(m.uid, m.flags.clone());
        }
    }
    Ok(out)
}

/// Every message of the source folder, refusing a short listing.
pub(super) async fn list_all(
    src: &mut imap::Session,
    sinfo: &imap::MailboxInfo,
) -> Result<Vec<SourceMeta>, Error> {
    if sinfo.exists == 0 {
        return Ok(Vec::new());
    }
    let all = src
        .fetch_meta(&imap::UidSet::all())
        .await
        .map_err(src_err("fetch message list"))?;
    check_listing(all.len(), sinfo.exists as usize)?;
    Ok(all.iter().map(meta_of).collect())
}

/// A source listing with fewer messages than the server says the folder holds means responses
/// went missing (or mail was expunged meanwhile): never plan a pass on it. The folder is tried
/// again on a fresh connection, like a dropped one.
fn check_listing(listed: usize, expected: usize) -> Result<(), Error> {
    if listed >= expected {
        return Ok(());
    }
    Err(Error::imap(
        Side::Source,
        "list messages",
        imap::Error::Io {
            action: "listing messages".into(),
            source: std::io::Error::other(format!(
                "the server listed {listed} messages where the folder holds {expected}"
            )),
        },
    ))
}

pub(super) fn meta_of(m: &imap::MessageMeta) -> SourceMeta {
    SourceMeta {
        uid: m.uid,
        size: u64::from(m.size),
        date: m.internal_date.timestamp(),
        message_id: m
            .message_id
            .as_deref()
            .map(normalize_message_id)
            .filter(|s| !s.is_empty()),
        flags: m.flags.clone(),
    }
}

/// `UID FETCH` metadata for UIDs in bounded commands.
pub(super) async fn fetch_meta_uids(
    s: &mut imap::Session,
    uids: &[u32],
    side: Side,
) -> Result<Vec<imap::MessageMeta>, Error> {
    let mut out = Vec::with_capacity(uids.len());
    for c in uids.chunks(META_BATCH) {
        let got = s
            .fetch_meta(&imap::UidSet::from_iter(c))
            .await
            .map_err(|e| Error::imap(side, "fetch message list", e))?;
        // A message not asked for would be planned on the server's word alone.
        let asked: HashSet<u32> = c.iter().copied().collect();
        if let Some(m) = got.iter().find(|m| !asked.contains(&m.uid)) {
            return Err(Error::Protocol {
                side,
                command: "UID FETCH".into(),
                detail: format!("it listed uid {}, which was not requested", m.uid),
            });
        }
        out.extend(got);
    }
    Ok(out)
}

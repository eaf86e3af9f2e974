//! One folder pass.
//!
//! Order of work, each step safe to interrupt at any point:
//! 1. EXAMINE the source (never SELECT: the source is not modified), open the target folder.
//! 2. If the stored UIDVALIDITY of either side no longer holds, or we have no record of a
//!    folder whose target is not empty, rebuild the rows by matching the source's messages to
//!    the target's by msg_key + size + INTERNALDATE, respecting multiplicity (`rebuild`).
//! 3. Rows left in state 0 by an interrupted pass are verified on the target: found ones are
//!    committed, the rest are forgotten and copied again (`verify_in_flight`).
//! 4. Flag changes on the source since the last pass are applied as a difference (`flags`).
//! 5. New messages are streamed newest first: one source connection fetches `BODY.PEEK[]` in
//!    batches into a channel bounded by bytes, the target side writes rows in state 0 per
//!    group, appends (pipelined) or delivers (Maildir), and commits state 1 in chunks.
//! 6. The folder's UIDVALIDITY and HIGHESTMODSEQ are recorded for the next pass.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Utc};
use futures::StreamExt;
use imapmigration_imap as imap;
use imapmigration_store::{
    Event, EventLevel, MessageRow, MessageState, SkippedItem, SkippedKind, Store,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::error::{Error, Side};
use super::filter::ReceivedFilter;
use super::flags::{FlagDelta, FlagSet, delta};
use super::folders::{FolderPlan, TargetLayout};
use super::maildir::{Delivery, FileEntry, FileKey, Keywords, MaildirTarget};
use super::plan::{
    Ident, SourceMeta, body_key, match_with_multiplicity, normalize_message_id, plan_new,
};
use super::{Progress, SyncOptions};

/// UIDs per UID FETCH of bodies: enough to keep the server streaming, few enough that a retry
/// after a dropped connection repeats little.
const FETCH_BATCH: usize = 200;
/// UIDs per metadata FETCH / STORE command, keeping command lines short.
const META_BATCH: usize = 1000;
/// APPEND commands in flight on one connection (each may carry many messages with
/// MULTIAPPEND).
const APPEND_WINDOW: usize = 64;

/// Counters of one user's pass, shared by the folder workers.
#[derive(Debug, Default)]
pub(super) struct Stats {
    pub total: AtomicU64,
    pub copied: AtomicU64,
    pub skipped: AtomicU64,
    pub bytes: AtomicU64,
    pub flags_updated: AtomicU64,
    pub bad_items: AtomicU64,
    pub large_items: AtomicU64,
    pub folder_errors: Mutex<Vec<Error>>,
}

/// What every folder pass of a user shares.
pub(super) struct Ctx<'a> {
    pub user_id: Uuid,
    pub store: &'a Store,
    pub opts: &'a SyncOptions,
    pub filter: Option<&'a ReceivedFilter>,
    pub cancel: &'a CancellationToken,
    pub progress: &'a dyn Progress,
    pub layout: &'a TargetLayout,
    pub stats: &'a Stats,
    /// The user's byte window, shared by all its folders.
    pub window: &'a ByteWindow,
}

/// Bytes of message bodies a user's copies hold between source reader and target writer,
/// shared by the folders copied at once, so that memory does not grow with the number of
/// folders in parallel. A message larger than the window takes all of it and passes alone.
pub(super) struct ByteWindow {
    bytes: usize,
    sem: Arc<Semaphore>,
}

impl ByteWindow {
    pub fn new(bytes: usize) -> Self {
        // Permits are counted in u32 by `acquire_many_owned`.
        let bytes = bytes.clamp(1 << 20, u32::MAX as usize);
        ByteWindow {
            bytes,
            sem: Arc::new(Semaphore::new(bytes)),
        }
    }

    /// The window's size in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes currently free.
    #[cfg(test)]
    pub fn available(&self) -> usize {
        self.sem.available_permits()
    }

    /// Waits until `size` bytes (at most the whole window) are free and takes them.
    pub async fn acquire(&self, size: usize) -> Result<OwnedSemaphorePermit, Error> {
        let want = size.clamp(1, self.bytes) as u32;
        self.sem
            .clone()
            .acquire_many_owned(want)
            .await
            .map_err(|_| Error::Internal("byte window closed".into()))
    }
}

/// A target connection.
pub(super) enum Dst {
    Imap(Box<imap::Session>),
    Maildir(MaildirTarget),
}

impl Dst {
    pub fn is_usable(&self) -> bool {
        match self {
            Dst::Imap(s) => s.is_usable(),
            Dst::Maildir(_) => true,
        }
    }
}

/// Runs blocking file I/O off the async threads.
pub(super) async fn blocking<T, F>(f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("file task failed: {e}")))?
}

/// Which flags the open target folder keeps.
#[derive(Debug, Clone)]
struct FlagPolicy {
    keywords: bool,
    permanent: FlagSet,
}

impl FlagPolicy {
    fn restrict(&self, f: &FlagSet) -> FlagSet {
        f.for_target(self.keywords, &self.permanent)
    }
}

/// The target folder opened for this pass.
enum Open {
    Imap {
        name: String,
        info: imap::MailboxInfo,
    },
    Maildir {
        dir: PathBuf,
        keywords: Keywords,
    },
}

fn st(action: &'static str) -> impl FnOnce(imapmigration_store::Error) -> Error {
    move |e| Error::store(action, e)
}

fn src_err(action: impl Into<String>) -> impl FnOnce(imap::Error) -> Error {
    let a = action.into();
    move |e| Error::imap(Side::Source, a, e)
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

fn dst_err(action: impl Into<String>) -> impl FnOnce(imap::Error) -> Error {
    let a = action.into();
    move |e| Error::imap(Side::Target, a, e)
}

fn rfc3339(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .map(|d| d.to_rfc3339())
        .unwrap_or_default()
}

fn meta_of(m: &imap::MessageMeta) -> SourceMeta {
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
async fn fetch_meta_uids(
    s: &mut imap::Session,
    uids: &[u32],
    side: Side,
) -> Result<Vec<imap::MessageMeta>, Error> {
    let mut out = Vec::with_capacity(uids.len());
    for c in uids.chunks(META_BATCH) {
        out.extend(
            s.fetch_meta(&imap::UidSet::from_iter(c))
                .await
                .map_err(|e| Error::imap(side, "fetch message list", e))?,
        );
    }
    Ok(out)
}

/// Copies one source folder.
pub(super) async fn copy_folder(
    ctx: &Ctx<'_>,
    plan: &FolderPlan,
    group: &[FolderPlan],
    src: &mut imap::Session,
    dst: &mut Dst,
) -> Result<(), Error> {
    let store = ctx.store;
    let tname = ctx.layout.join(&plan.target);
    let folder_id = store
        .folder_upsert(&ctx.user_id, &plan.source_name, &tname)
        .map_err(st("record folder"))?;
    let rec = store
        .folder_by_id(folder_id)
        .map_err(st("read folder"))?
        .ok_or_else(|| Error::Internal(format!("folder {folder_id} vanished")))?;
    let sinfo = src
        .examine(&plan.source_name)
        .await
        .map_err(src_err("examine folder"))?;

    let mut open = match dst {
        Dst::Imap(s) => {
            let info = s
                .select(&tname)
                .await
                .map_err(dst_err(format!("select folder {tname}")))?;
            Open::Imap {
                name: tname.clone(),
                info,
            }
        }
        Dst::Maildir(m) => {
            let m = m.clone();
            let segs = plan.target.clone();
            let root = m.root().to_path_buf();
            let (dir, keywords) = blocking(move || {
                let dir = m.create_folder(&segs)?;
                m.clean_tmp(&dir)?;
                let kw = Keywords::load(&dir);
                Ok((dir, kw))
            })
            .await
            .map_err(|e| Error::maildir("open folder in", root, e))?;
            Open::Maildir { dir, keywords }
        }
    };
    let (dst_validity, policy) = match &open {
        Open::Imap { info, .. } => (
            Some(info.uid_validity),
            FlagPolicy {
                keywords: info.allows_keywords,
                permanent: FlagSet::from_flags(&info.permanent_flags),
            },
        ),
        Open::Maildir { .. } => (
            None,
            FlagPolicy {
                keywords: true,
                permanent: FlagSet::default(),
            },
        ),
    };

    let mut rows = store
        .messages_for_folder(folder_id)
        .map_err(st("read messages"))?;
    let src_changed = rec.src_uidvalidity.is_some_and(|v| v != sinfo.uid_validity);
    let dst_changed =
        matches!((dst_validity, rec.dst_uidvalidity), (Some(now), Some(was)) if now != was);
    let target_empty = match (&open, &*dst) {
        (Open::Imap { info, .. }, _) => info.exists == 0,
        (Open::Maildir { dir, .. }, Dst::Maildir(m)) => {
            let (m, d) = (m.clone(), dir.clone());
            let scan = blocking(move || m.scan(&d))
                .await
                .map_err(|e| Error::maildir("list", dir.clone(), e))?;
            scan.ours.is_empty() && scan.foreign.is_empty()
        }
        _ => true,
    };
    let unknown = rec.src_uidvalidity.is_none() && rows.is_empty() && !target_empty;
    let mut rebuilt = false;
    if src_changed || dst_changed || unknown {
        tracing::warn!(
            src_was = ?rec.src_uidvalidity, src_now = sinfo.uid_validity,
            dst_was = ?rec.dst_uidvalidity, dst_now = ?dst_validity, unknown,
            "rebuilding folder state from the target's contents"
        );
        rebuild(
            ctx,
            plan,
            group,
            folder_id,
            &rows,
            &sinfo,
            dst_validity,
            &policy,
            src,
            dst,
            &mut open,
        )
        .await?;
        rows = store
            .messages_for_folder(folder_id)
            .map_err(st("read messages"))?;
        rebuilt = true;
    } else if rec.src_uidvalidity.is_none() || rec.dst_uidvalidity != dst_validity {
        // Before the first row is written: rows always belong to a known UIDVALIDITY.
        store
            .folder_set_validity(
                folder_id,
                Some(sinfo.uid_validity),
                rec.src_highest_modseq,
                dst_validity,
            )
            .map_err(st("record folder validity"))?;
    }

    if rows.iter().any(|r| r.state == MessageState::InFlight) {
        verify_in_flight(
            ctx,
            plan,
            group,
            folder_id,
            &rows,
            sinfo.uid_validity,
            dst_validity,
            dst,
            &open,
        )
        .await?;
        rows = store
            .messages_for_folder(folder_id)
            .map_err(st("read messages"))?;
    }

    // What the source holds now: metadata of messages we have no row for, and the flags of
    // those that may have changed since the last pass.
    let by_uid: HashMap<u32, &MessageRow> = rows.iter().map(|r| (r.src_uid, r)).collect();
    let mut new_metas: Vec<SourceMeta> = Vec::new();
    let mut src_flags: HashMap<u32, Vec<String>> = HashMap::new();
    let mut still_there = 0u64;
    if sinfo.exists > 0 {
        if rows.is_empty() {
            let all = src
                .fetch_meta(&imap::UidSet::all())
                .await
                .map_err(src_err("fetch message list"))?;
            check_listing(all.len(), sinfo.exists as usize)?;
            new_metas = all.iter().map(meta_of).collect();
        } else {
            let all = src
                .uid_search(&imap::SearchKey::All)
                .await
                .map_err(src_err("search messages"))?;
            let new_uids: Vec<u32> = all
                .iter()
                .copied()
                .filter(|u| !by_uid.contains_key(u))
                .collect();
            still_there = (all.len() - new_uids.len()) as u64;
            new_metas = fetch_meta_uids(src, &new_uids, Side::Source)
                .await?
                .iter()
                .map(meta_of)
                .collect();
            check_listing(new_metas.len(), new_uids.len())?;
            match (rec.src_highest_modseq, sinfo.highest_modseq) {
                (Some(was), Some(now)) if !rebuilt && !src_changed => {
                    if now != was {
                        for (uid, flags, _) in src
                            .fetch_flags_changed_since(was)
                            .await
                            .map_err(src_err("fetch changed flags"))?
                        {
                            src_flags.insert(uid, flags);
                        }
                    }
                }
                _ => {
                    let known: Vec<u32> = all
                        .iter()
                        .copied()
                        .filter(|u| by_uid.contains_key(u))
                        .collect();
                    for m in fetch_meta_uids(src, &known, Side::Source).await? {
                        src_flags.insert(m.uid, m.flags);
                    }
                }
            }
        }
    }
    if rows.is_empty() {
        for m in &new_metas {
            src_flags.insert(m.uid, m.flags.clone());
        }
    }

    if !src_flags.is_empty() && rows.iter().any(|r| r.state == MessageState::Copied) {
        apply_flag_changes(
            ctx,
            folder_id,
            sinfo.uid_validity,
            &rows,
            &src_flags,
            &policy,
            dst,
            &mut open,
        )
        .await?;
    }

    let planned = plan_new(
        &new_metas,
        |u| by_uid.contains_key(&u),
        ctx.filter,
        ctx.opts.max_message_size,
    );
    let passing = new_metas.len() as u64 - planned.filtered;
    ctx.stats
        .total
        .fetch_add(still_there + passing, Ordering::Relaxed);
    drop(by_uid);

    let large_headers = large_item_headers(src, &planned.too_large).await;
    record_large(ctx, plan, folder_id, &planned.too_large, &large_headers)?;

    let bytes: u64 = planned.copy.iter().map(|m| m.size).sum();
    ctx.progress
        .folder_started(&plan.display(), planned.copy.len() as u64, bytes);
    tracing::info!(
        new = planned.copy.len(),
        bytes,
        filtered = planned.filtered,
        "copying"
    );
    if !planned.copy.is_empty() {
        copy_messages(
            ctx,
            plan,
            folder_id,
            sinfo.uid_validity,
            &planned.copy,
            &policy,
            src,
            dst,
            &mut open,
        )
        .await?;
    }

    store
        .folder_set_validity(
            folder_id,
            Some(sinfo.uid_validity),
            sinfo.highest_modseq,
            dst_validity,
        )
        .map_err(st("record folder validity"))?;
    let _ = store.refresh_user_counters(&ctx.user_id);
    Ok(())
}

/// Records messages over `max_message_size` as LargeItem (rows in state 2, so they are not
/// reconsidered every pass).
/// Subject, sender and sent date of messages too large to copy, for the skipped-items report
/// (Exchange's SkippedItems show them). A failure here only leaves the report thinner.
async fn large_item_headers(
    src: &mut imap::Session,
    large: &[SourceMeta],
) -> HashMap<u32, Headers> {
    let mut out = HashMap::new();
    if large.is_empty() {
        return out;
    }
    let uids: Vec<u32> = large.iter().map(|m| m.uid).collect();
    for c in uids.chunks(FETCH_BATCH) {
        match src
            .fetch_headers(&imap::UidSet::from_iter(c), &["SUBJECT", "FROM", "DATE"])
            .await
        {
            Ok(v) => {
                for (uid, raw) in v {
                    out.insert(uid, summary_headers(&raw));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the headers of large messages");
                break;
            }
        }
    }
    out
}

type Headers = (Option<String>, Option<String>, Option<String>);

fn record_large(
    ctx: &Ctx<'_>,
    plan: &FolderPlan,
    folder_id: i64,
    large: &[SourceMeta],
    headers: &HashMap<u32, Headers>,
) -> Result<(), Error> {
    if large.is_empty() {
        return Ok(());
    }
    let max = ctx.opts.max_message_size.unwrap_or_default();
    let rows: Vec<MessageRow> = large
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
                .unwrap_or_else(|| format!("large:{}", m.uid)),
            flags: String::new(),
        })
        .collect();
    ctx.store
        .messages_insert(folder_id, &rows)
        .map_err(st("record skipped messages"))?;
    for m in large {
        let (subject, sender, date_sent) = headers.get(&m.uid).cloned().unwrap_or_default();
        let item = SkippedItem {
            id: 0,
            user_id: ctx.user_id,
            folder: plan.display(),
            src_uid: Some(m.uid),
            kind: SkippedKind::LargeItem,
            subject,
            sender,
            date_sent,
            date_received: Some(rfc3339(m.date)),
            size: Some(m.size),
            reason: format!(
                "the message is {} bytes, larger than the maximum message size of {max} bytes",
                m.size
            ),
            created_at: Utc::now(),
        };
        ctx.store
            .insert_skipped_item(&item)
            .map_err(st("record skipped item"))?;
    }
    let n = large.len() as u64;
    ctx.stats.skipped.fetch_add(n, Ordering::Relaxed);
    ctx.progress.skipped(n);
    let count = ctx.stats.large_items.fetch_add(n, Ordering::Relaxed) + n;
    if let Some(limit) = ctx.opts.large_item_limit
        && count > limit
    {
        return Err(Error::LargeItemLimitExceeded { limit, count });
    }
    Ok(())
}

/// Subject, sender and Date header of a message, for skipped-item reports.
fn summary_headers(body: &[u8]) -> (Option<String>, Option<String>, Option<String>) {
    let head_end = body
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| body.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(body.len().min(64 * 1024));
    let text = String::from_utf8_lossy(&body[..head_end.min(64 * 1024)]);
    let (mut subject, mut from, mut date) = (None, None, None);
    let mut current: Option<(String, String)> = None;
    let mut flush = |c: Option<(String, String)>| {
        if let Some((name, value)) = c {
            let v = Some(value.trim().to_string());
            match name.as_str() {
                "subject" if subject.is_none() => subject = v,
                "from" if from.is_none() => from = v,
                "date" if date.is_none() => date = v,
                _ => {}
            }
        }
    };
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = current.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        flush(current.take());
        if let Some((n, v)) = line.split_once(':') {
            current = Some((n.trim().to_ascii_lowercase(), v.to_string()));
        }
    }
    flush(current.take());
    (subject, from, date)
}

/// One message on its way from the source reader to the target writer. The permit holds its
/// share of the byte window until the body has been written.
struct Item {
    uid: u32,
    body: Bytes,
    date: DateTime<FixedOffset>,
    flags: FlagSet,
    key: String,
    _permit: OwnedSemaphorePermit,
}

/// Streams `msgs` (newest first) from the source into the target.
#[allow(clippy::too_many_arguments)]
async fn copy_messages(
    ctx: &Ctx<'_>,
    plan: &FolderPlan,
    folder_id: i64,
    src_validity: u32,
    msgs: &[SourceMeta],
    policy: &FlagPolicy,
    src: &mut imap::Session,
    dst: &mut Dst,
    open: &mut Open,
) -> Result<(), Error> {
    let window = ctx.window.bytes();
    let chunk = ctx.opts.chunk.max(1);
    let (tx, rx) = mpsc::channel::<Item>(chunk.max(16) * 2);
    let ids: HashMap<u32, Option<&str>> = msgs
        .iter()
        .map(|m| (m.uid, m.message_id.as_deref()))
        .collect();
    let order: Vec<u32> = msgs.iter().map(|m| m.uid).collect();

    let reader = async {
        for batch in order.chunks(FETCH_BATCH) {
            let set = imap::UidSet::from_iter(batch);
            let mut stream = std::pin::pin!(src.fetch_bodies(&set));
            loop {
                let next = tokio::select! {
                    biased;
                    _ = ctx.cancel.cancelled() => return Err(Error::Cancelled),
                    n = stream.next() => n,
                };
                let Some(fb) = next else { break };
                let fb = fb.map_err(src_err("fetch messages"))?;
                let key = match ids.get(&fb.uid) {
                    Some(Some(id)) => (*id).to_string(),
                    Some(None) => body_key(&fb.body),
                    // Not asked for (unsolicited): ignore.
                    None => continue,
                };
                let permit = tokio::select! {
                    biased;
                    _ = ctx.cancel.cancelled() => return Err(Error::Cancelled),
                    p = ctx.window.acquire(fb.body.len()) => p?,
                };
                let item = Item {
                    uid: fb.uid,
                    flags: policy.restrict(&FlagSet::from_flags(&fb.flags)),
                    date: fb.internal_date,
                    body: fb.body,
                    key,
                    _permit: permit,
                };
                if tx.send(item).await.is_err() {
                    // The writer stopped; its error is the one to report.
                    return Ok(());
                }
            }
        }
        drop(tx);
        Ok(())
    };
    let writer = async {
        match (dst, open) {
            (Dst::Imap(s), Open::Imap { name, .. }) => {
                write_imap(ctx, plan, folder_id, s, name, rx, window, chunk).await
            }
            (Dst::Maildir(m), Open::Maildir { dir, keywords }) => {
                write_maildir(
                    ctx,
                    plan,
                    folder_id,
                    src_validity,
                    m,
                    dir,
                    keywords,
                    rx,
                    window,
                    chunk,
                )
                .await
            }
            _ => Err(Error::Internal(
                "target connection and folder disagree".into(),
            )),
        }
    };
    let (r, w) = tokio::join!(reader, writer);
    w?;
    r
}

/// Takes the next group of messages: waits for one, then whatever is ready, up to `chunk`
/// messages or half the byte window. One state transaction covers a group.
async fn next_group(
    rx: &mut mpsc::Receiver<Item>,
    chunk: usize,
    window: usize,
) -> Option<Vec<Item>> {
    let first = rx.recv().await?;
    let mut bytes = first.body.len();
    let mut group = vec![first];
    while group.len() < chunk && bytes < window / 2 {
        match rx.try_recv() {
            Ok(it) => {
                bytes += it.body.len();
                group.push(it);
            }
            Err(_) => {
                // Give a slower source a moment to fill the group, rather than paying a
                // transaction per message.
                match tokio::time::timeout(std::time::Duration::from_millis(5), rx.recv()).await {
                    Ok(Some(it)) => {
                        bytes += it.body.len();
                        group.push(it);
                    }
                    _ => break,
                }
            }
        }
    }
    Some(group)
}

fn begin_rows(group: &[Item]) -> Vec<MessageRow> {
    group
        .iter()
        .map(|it| MessageRow {
            src_uid: it.uid,
            state: MessageState::InFlight,
            dst_uid: None,
            size: it.body.len() as u64,
            internal_date: it.date.timestamp(),
            msg_key: it.key.clone(),
            flags: it.flags.to_stored(),
        })
        .collect()
}

type Commit = (u32, MessageState, Option<u32>, String);

/// Commits confirmed messages and reports them.
fn commit(
    ctx: &Ctx<'_>,
    folder_id: i64,
    pending: &mut Vec<Commit>,
    sizes: &mut HashMap<u32, u64>,
) -> Result<(), Error> {
    if pending.is_empty() {
        return Ok(());
    }
    ctx.store
        .messages_commit(folder_id, pending)
        .map_err(st("commit messages"))?;
    let (mut n, mut b) = (0u64, 0u64);
    for (uid, state, _, _) in pending.iter() {
        let size = sizes.remove(uid).unwrap_or_default();
        if *state == MessageState::Copied {
            n += 1;
            b += size;
        }
    }
    ctx.stats.copied.fetch_add(n, Ordering::Relaxed);
    ctx.stats.bytes.fetch_add(b, Ordering::Relaxed);
    ctx.progress.copied(n, b);
    pending.clear();
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn write_imap(
    ctx: &Ctx<'_>,
    plan: &FolderPlan,
    folder_id: i64,
    s: &mut imap::Session,
    name: &str,
    mut rx: mpsc::Receiver<Item>,
    window: usize,
    chunk: usize,
) -> Result<(), Error> {
    struct Sent {
        size: u64,
        flags: String,
        date: i64,
        headers: (Option<String>, Option<String>, Option<String>),
    }
    // Nothing below needs the target folder selected; appending to a folder that is not
    // selected spares the server from updating this session's view of it after every
    // command.
    s.unselect().await.map_err(dst_err("unselect folder"))?;
    // The appender keeps what is in flight (to send a refused MULTIAPPEND again message by
    // message) after the message's share of the window is released: not a copy but the
    // FETCH's own buffer, so a message is never in memory twice. A quarter of the window lets
    // MULTIAPPEND commands grow large (Dovecot's cost per command grows with the folder, so
    // fewer commands keep a 50,000-message folder linear) while the total stays near the window.
    let mut appender = s.appender(name, (window / 4).max(1), APPEND_WINDOW);
    let mut sent: HashMap<u32, Sent> = HashMap::new();
    let mut sizes: HashMap<u32, u64> = HashMap::new();
    let mut pending: Vec<Commit> = Vec::new();
    let mut retry_later: Option<imap::ServerRefusal> = None;
    let mut cancelled = false;

    let handle = |outs: Vec<imap::AppendOutcome>,
                  sent: &mut HashMap<u32, Sent>,
                  sizes: &mut HashMap<u32, u64>,
                  pending: &mut Vec<Commit>,
                  retry_later: &mut Option<imap::ServerRefusal>|
     -> Result<(), Error> {
        for o in outs {
            let uid = o.id as u32;
            let Some(info) = sent.remove(&uid) else {
                continue;
            };
            match o.result {
                Ok(dst_uid) => {
                    sizes.insert(uid, info.size);
                    pending.push((uid, MessageState::Copied, dst_uid, info.flags));
                }
                // Temporary: the row stays in state 0 and the folder is tried again.
                Err(r) if r.is_retryable() => *retry_later = Some(r),
                Err(r) => {
                    tracing::warn!(uid, refusal = %r, "target refused message");
                    pending.push((uid, MessageState::Skipped, None, info.flags));
                    let (subject, sender, date_sent) = info.headers;
                    ctx.store
                        .insert_skipped_item(&SkippedItem {
                            id: 0,
                            user_id: ctx.user_id,
                            folder: plan.display(),
                            src_uid: Some(uid),
                            kind: SkippedKind::BadItem,
                            subject,
                            sender,
                            date_sent,
                            date_received: Some(rfc3339(info.date)),
                            size: Some(info.size),
                            reason: format!("the target refused the message: {r}"),
                            created_at: Utc::now(),
                        })
                        .map_err(st("record skipped item"))?;
                    ctx.stats.skipped.fetch_add(1, Ordering::Relaxed);
                    ctx.progress.skipped(1);
                    let count = ctx.stats.bad_items.fetch_add(1, Ordering::Relaxed) + 1;
                    if let Some(limit) = ctx.opts.bad_item_limit
                        && count > limit
                    {
                        return Err(Error::BadItemLimitExceeded { limit, count });
                    }
                }
            }
        }
        Ok(())
    };

    let mut limit_err = None;
    while let Some(group) = next_group(&mut rx, chunk, window).await {
        if ctx.cancel.is_cancelled() {
            cancelled = true;
            break;
        }
        ctx.store
            .messages_begin(folder_id, &begin_rows(&group))
            .map_err(st("begin messages"))?;
        for it in group {
            let flags: Vec<String> = it.flags.iter().map(str::to_string).collect();
            // Recorded before sending: a fast server's answer can arrive within the push.
            sent.insert(
                it.uid,
                Sent {
                    size: it.body.len() as u64,
                    flags: it.flags.to_stored(),
                    date: it.date.timestamp(),
                    headers: summary_headers(&it.body),
                },
            );
            let outs = appender
                .push_bytes(u64::from(it.uid), it.body, &flags, it.date)
                .await
                .map_err(dst_err("append messages"))?;
            if let Err(e) = handle(outs, &mut sent, &mut sizes, &mut pending, &mut retry_later) {
                limit_err = Some(e);
                break;
            }
        }
        if limit_err.is_some() {
            break;
        }
        // When nothing more is at hand, end the MULTIAPPEND command being filled so its
        // messages complete (and can be committed) without waiting for the source. While
        // messages keep coming, the command goes on: a server commits its mailbox once per
        // command, at a cost that grows with the mailbox.
        let outs = if rx.is_empty() {
            appender.flush().await.map_err(dst_err("append messages"))?
        } else {
            Vec::new()
        };
        if let Err(e) = handle(outs, &mut sent, &mut sizes, &mut pending, &mut retry_later) {
            limit_err = Some(e);
            break;
        }
        if pending.len() >= chunk {
            commit(ctx, folder_id, &mut pending, &mut sizes)?;
        }
    }
    // Settle what is in flight, also when stopping: confirmed copies are recorded now rather
    // than verified on the next pass.
    let outs = appender
        .finish()
        .await
        .map_err(dst_err("append messages"))?;
    let r = handle(outs, &mut sent, &mut sizes, &mut pending, &mut retry_later);
    commit(ctx, folder_id, &mut pending, &mut sizes)?;
    if let Some(e) = limit_err {
        return Err(e);
    }
    r?;
    if cancelled {
        return Err(Error::Cancelled);
    }
    if let Some(r) = retry_later {
        return Err(Error::imap(
            Side::Target,
            "append messages",
            imap::Error::No {
                command: "APPEND".into(),
                code: r.code,
                text: r.text,
            },
        ));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn write_maildir(
    ctx: &Ctx<'_>,
    plan: &FolderPlan,
    folder_id: i64,
    src_validity: u32,
    m: &MaildirTarget,
    dir: &Path,
    keywords: &mut Keywords,
    mut rx: mpsc::Receiver<Item>,
    window: usize,
    chunk: usize,
) -> Result<(), Error> {
    let mut dropped_kw: HashSet<String> = HashSet::new();
    while let Some(group) = next_group(&mut rx, chunk, window).await {
        if ctx.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        ctx.store
            .messages_begin(folder_id, &begin_rows(&group))
            .map_err(st("begin messages"))?;
        let mut pending: Vec<Commit> = Vec::with_capacity(group.len());
        let mut sizes = HashMap::new();
        let mut deliveries = Vec::with_capacity(group.len());
        let mut permits = Vec::with_capacity(group.len());
        for it in group {
            sizes.insert(it.uid, it.body.len() as u64);
            pending.push((it.uid, MessageState::Copied, None, it.flags.to_stored()));
            deliveries.push(Delivery {
                key: FileKey {
                    folder_id,
                    uidvalidity: src_validity,
                    uid: it.uid,
                },
                body: it.body,
                flags: it.flags,
                date: it.date.timestamp(),
            });
            permits.push(it._permit);
        }
        let (t, d) = (m.clone(), dir.to_path_buf());
        let mut kw = std::mem::take(keywords);
        let (kw, res) = blocking(move || {
            let r = t.deliver(&d, &mut kw, &deliveries);
            drop(permits);
            Ok((kw, r))
        })
        .await
        .map_err(|e| Error::maildir("deliver into", dir, e))?;
        *keywords = kw;
        let dropped = res.map_err(|e| Error::maildir("deliver into", dir, e))?;
        dropped_kw.extend(dropped.into_iter().flatten());
        commit(ctx, folder_id, &mut pending, &mut sizes)?;
    }
    if !dropped_kw.is_empty() {
        let mut v: Vec<String> = dropped_kw.into_iter().collect();
        v.sort();
        let msg = format!(
            "folder {}: keywords beyond the 26 a Maildir folder can hold were not kept: {}",
            plan.display(),
            v.join(" ")
        );
        tracing::warn!("{msg}");
        let _ = ctx.store.insert_event(&Event::new(
            Some(ctx.user_id),
            None,
            EventLevel::Warning,
            msg,
        ));
    }
    Ok(())
}

/// Rows of the other source folders that share this target folder, with their folder ids.
fn sibling_rows(
    ctx: &Ctx<'_>,
    plan: &FolderPlan,
    group: &[FolderPlan],
    dst_validity: Option<u32>,
) -> Result<(HashSet<i64>, HashSet<u32>), Error> {
    let mut ids = HashSet::new();
    let mut claimed = HashSet::new();
    for g in group.iter().filter(|g| g.source_name != plan.source_name) {
        let Some(rec) = ctx
            .store
            .folder_get(&ctx.user_id, &g.source_name)
            .map_err(st("read folder"))?
        else {
            continue;
        };
        ids.insert(rec.id);
        if dst_validity.is_some() && rec.dst_uidvalidity == dst_validity {
            for r in ctx
                .store
                .messages_for_folder(rec.id)
                .map_err(st("read messages"))?
            {
                if let Some(u) = r.dst_uid {
                    claimed.insert(u);
                }
            }
        }
    }
    Ok((ids, claimed))
}

/// How to find candidates for a row in state 0 on the target: by Message-ID when the key is
/// one in printable US-ASCII (the only charset every server must search, RFC 3501 §6.4.4),
/// else by size; candidates are then compared on size, date and key.
fn search_key(ident: &Ident) -> imap::SearchKey {
    let printable = ident.key.bytes().all(|b| (0x20..0x7f).contains(&b));
    if printable && !ident.key.starts_with("sha256:") {
        imap::SearchKey::header("Message-ID", ident.key.clone())
    } else {
        imap::SearchKey::size(u32::try_from(ident.size).unwrap_or(u32::MAX))
    }
}

/// Finds rows in state 0 on the target. A row counts as landed when an unclaimed target
/// message has its msg_key, size and INTERNALDATE; identical rows need as many messages.
#[allow(clippy::too_many_arguments)]
async fn verify_in_flight(
    ctx: &Ctx<'_>,
    plan: &FolderPlan,
    group: &[FolderPlan],
    folder_id: i64,
    rows: &[MessageRow],
    src_validity: u32,
    dst_validity: Option<u32>,
    dst: &mut Dst,
    open: &Open,
) -> Result<(), Error> {
    let inflight: Vec<&MessageRow> = rows
        .iter()
        .filter(|r| r.state == MessageState::InFlight)
        .collect();
    let mut found: Vec<Commit> = Vec::new();
    let mut lost: Vec<u32> = Vec::new();
    match (dst, open) {
        (Dst::Maildir(m), Open::Maildir { dir, .. }) => {
            let (t, d) = (m.clone(), dir.clone());
            let scan = blocking(move || t.scan(&d))
                .await
                .map_err(|e| Error::maildir("list", dir.clone(), e))?;
            for r in inflight {
                let key = FileKey {
                    folder_id,
                    uidvalidity: src_validity,
                    uid: r.src_uid,
                };
                if scan.ours.contains_key(&key) {
                    found.push((r.src_uid, MessageState::Copied, None, r.flags.clone()));
                } else {
                    lost.push(r.src_uid);
                }
            }
        }
        (Dst::Imap(s), Open::Imap { .. }) => {
            let (_, mut claimed) = sibling_rows(ctx, plan, group, dst_validity)?;
            claimed.extend(
                rows.iter()
                    .filter(|r| r.state == MessageState::Copied)
                    .filter_map(|r| r.dst_uid),
            );
            let mut by_ident: BTreeMap<Ident, Vec<&MessageRow>> = BTreeMap::new();
            for r in inflight {
                by_ident
                    .entry(Ident {
                        key: r.msg_key.clone(),
                        size: r.size,
                        date: r.internal_date,
                    })
                    .or_default()
                    .push(r);
            }
            for (ident, want) in by_ident {
                let criteria = search_key(&ident);
                let cands: Vec<u32> = s
                    .uid_search(&criteria)
                    .await
                    .map_err(dst_err("search the target"))?
                    .into_iter()
                    .filter(|u| !claimed.contains(u))
                    .collect();
                let mut hits: Vec<u32> = Vec::new();
                if !cands.is_empty() {
                    let metas = fetch_meta_uids(s, &cands, Side::Target).await?;
                    let mut sized: Vec<&imap::MessageMeta> = metas
                        .iter()
                        .filter(|m| {
                            u64::from(m.size) == ident.size
                                && m.internal_date.timestamp() == ident.date
                        })
                        .collect();
                    sized.sort_by_key(|m| m.uid);
                    if ident.key.starts_with("sha256:") {
                        let uids: Vec<u32> = sized.iter().map(|m| m.uid).collect();
                        for c in uids.chunks(FETCH_BATCH) {
                            let set = imap::UidSet::from_iter(c);
                            let mut stream = std::pin::pin!(s.fetch_bodies(&set));
                            while let Some(b) = stream.next().await {
                                let b = b.map_err(dst_err("fetch messages"))?;
                                if body_key(&b.body) == ident.key {
                                    hits.push(b.uid);
                                }
                            }
                        }
                    } else {
                        hits = sized
                            .iter()
                            .filter(|m| {
                                m.message_id.as_deref().map(normalize_message_id).as_deref()
                                    == Some(ident.key.as_str())
                            })
                            .map(|m| m.uid)
                            .collect();
                    }
                }
                let mut hits = hits.into_iter();
                for r in want {
                    match hits.next() {
                        Some(u) => {
                            claimed.insert(u);
                            found.push((r.src_uid, MessageState::Copied, Some(u), r.flags.clone()));
                        }
                        None => lost.push(r.src_uid),
                    }
                }
            }
        }
        _ => {
            return Err(Error::Internal(
                "target connection and folder disagree".into(),
            ));
        }
    }
    tracing::info!(
        landed = found.len(),
        missing = lost.len(),
        "verified messages left in flight"
    );
    if !found.is_empty() {
        ctx.store
            .messages_commit(folder_id, &found)
            .map_err(st("commit messages"))?;
    }
    if !lost.is_empty() {
        ctx.store
            .delete_message_rows(folder_id, &lost)
            .map_err(st("forget messages"))?;
    }
    Ok(())
}

/// Applies flag changes made on the source since the last pass, as the difference between
/// what we applied then (the row's `flags`) and the source's flags now.
#[allow(clippy::too_many_arguments)]
async fn apply_flag_changes(
    ctx: &Ctx<'_>,
    folder_id: i64,
    src_validity: u32,
    rows: &[MessageRow],
    src_flags: &HashMap<u32, Vec<String>>,
    policy: &FlagPolicy,
    dst: &mut Dst,
    open: &mut Open,
) -> Result<(), Error> {
    let mut by_delta: BTreeMap<FlagDelta, Vec<&MessageRow>> = BTreeMap::new();
    let mut now_of: HashMap<u32, String> = HashMap::new();
    for r in rows.iter().filter(|r| r.state == MessageState::Copied) {
        let Some(f) = src_flags.get(&r.src_uid) else {
            continue;
        };
        let now = policy.restrict(&FlagSet::from_flags(f));
        let d = delta(&FlagSet::parse(&r.flags), &now);
        if !d.is_empty() {
            now_of.insert(r.src_uid, now.to_stored());
            by_delta.entry(d).or_default().push(r);
        }
    }
    if by_delta.is_empty() {
        return Ok(());
    }
    let mut applied: Vec<(u32, String)> = Vec::new();
    match (dst, open) {
        (Dst::Imap(s), Open::Imap { .. }) => {
            for (d, rs) in &by_delta {
                let located: Vec<&&MessageRow> =
                    rs.iter().filter(|r| r.dst_uid.is_some()).collect();
                if located.len() < rs.len() {
                    tracing::debug!(
                        n = rs.len() - located.len(),
                        "no target UID known (no UIDPLUS): flags not updated"
                    );
                }
                let uids: Vec<u32> = located.iter().filter_map(|r| r.dst_uid).collect();
                for c in uids.chunks(META_BATCH) {
                    let set = imap::UidSet::from_iter(c);
                    if !d.add.is_empty() {
                        let add: Vec<String> = d.add.iter().map(str::to_string).collect();
                        s.uid_store_flags(&set, imap::FlagOp::Add, &add)
                            .await
                            .map_err(dst_err("store flags"))?;
                    }
                    if !d.remove.is_empty() {
                        let rm: Vec<String> = d.remove.iter().map(str::to_string).collect();
                        s.uid_store_flags(&set, imap::FlagOp::Remove, &rm)
                            .await
                            .map_err(dst_err("store flags"))?;
                    }
                }
                applied.extend(
                    located
                        .iter()
                        .map(|r| (r.src_uid, now_of[&r.src_uid].clone())),
                );
            }
        }
        (Dst::Maildir(m), Open::Maildir { dir, keywords }) => {
            let work: Vec<(FlagDelta, Vec<u32>)> = by_delta
                .iter()
                .map(|(d, rs)| (d.clone(), rs.iter().map(|r| r.src_uid).collect()))
                .collect();
            let (t, dd) = (m.clone(), dir.clone());
            let mut kw = std::mem::take(keywords);
            let (kw, done) = blocking(move || {
                let scan = t.scan(&dd)?;
                let mut done = Vec::new();
                for (d, uids) in work {
                    for uid in uids {
                        let key = FileKey {
                            folder_id,
                            uidvalidity: src_validity,
                            uid,
                        };
                        let Some(e) = scan.ours.get(&key) else {
                            continue;
                        };
                        let new = d.apply(&kw.flags(&e.letters));
                        match t.set_flags(&dd, &mut kw, e, &new) {
                            Ok(_) => done.push(uid),
                            // Renamed meanwhile (a user's client): it is picked up next pass.
                            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                            Err(err) => return Err(err),
                        }
                    }
                }
                Ok((kw, done))
            })
            .await
            .map_err(|e| Error::maildir("set flags in", dir.clone(), e))?;
            *keywords = kw;
            applied.extend(done.into_iter().map(|u| (u, now_of[&u].clone())));
        }
        _ => {
            return Err(Error::Internal(
                "target connection and folder disagree".into(),
            ));
        }
    }
    let n = ctx
        .store
        .messages_update_flags(folder_id, &applied)
        .map_err(st("record flags"))?;
    ctx.stats
        .flags_updated
        .fetch_add(n as u64, Ordering::Relaxed);
    tracing::info!(messages = n, "flags updated");
    Ok(())
}

/// What a target message is, for matching.
#[derive(Debug, Clone)]
enum TargetRef {
    Uid(u32),
    File(FileEntry, Option<FileKey>),
}

/// Rebuilds a folder's rows from the source's messages and the target's contents, when the
/// stored UIDs cannot be trusted: a source message whose (msg_key, size, INTERNALDATE) is on
/// the target, not claimed by another row, is recorded as copied; the rest is copied by the
/// pass. The flags last applied carry over from the old rows where they match.
#[allow(clippy::too_many_arguments)]
async fn rebuild(
    ctx: &Ctx<'_>,
    plan: &FolderPlan,
    group: &[FolderPlan],
    folder_id: i64,
    old_rows: &[MessageRow],
    sinfo: &imap::MailboxInfo,
    dst_validity: Option<u32>,
    policy: &FlagPolicy,
    src: &mut imap::Session,
    dst: &mut Dst,
    open: &mut Open,
) -> Result<(), Error> {
    // The source: every message with its identity.
    let metas: Vec<SourceMeta> = if sinfo.exists > 0 {
        let all = src
            .fetch_meta(&imap::UidSet::all())
            .await
            .map_err(src_err("fetch message list"))?;
        check_listing(all.len(), sinfo.exists as usize)?;
        all.iter().map(meta_of).collect()
    } else {
        Vec::new()
    };
    let max = ctx.opts.max_message_size;
    let need_hash: Vec<u32> = metas
        .iter()
        .filter(|m| m.message_id.is_none() && max.is_none_or(|x| m.size <= x))
        .map(|m| m.uid)
        .collect();
    let mut hashed: HashMap<u32, String> = HashMap::new();
    for c in need_hash.chunks(FETCH_BATCH) {
        let set = imap::UidSet::from_iter(c);
        let mut stream = std::pin::pin!(src.fetch_bodies(&set));
        while let Some(b) = stream.next().await {
            let b = b.map_err(src_err("fetch messages"))?;
            hashed.insert(b.uid, body_key(&b.body));
        }
    }
    let left: Vec<(u32, Ident)> = metas
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
    let want_hash = !need_hash.is_empty();

    // The target: every message not claimed by another source folder sharing it.
    let (sibling_ids, claimed) = sibling_rows(ctx, plan, group, dst_validity)?;
    let mut right: Vec<(TargetRef, Ident)> = Vec::new();
    let mut target_flags: HashMap<usize, FlagSet> = HashMap::new();
    match (&mut *dst, &*open) {
        (Dst::Imap(s), Open::Imap { info, .. }) => {
            if info.exists > 0 {
                let tm = s
                    .fetch_meta(&imap::UidSet::all())
                    .await
                    .map_err(dst_err("fetch message list"))?;
                let tm: Vec<&imap::MessageMeta> =
                    tm.iter().filter(|m| !claimed.contains(&m.uid)).collect();
                let mut thash: HashMap<u32, String> = HashMap::new();
                if want_hash {
                    let uids: Vec<u32> = tm
                        .iter()
                        .filter(|m| m.message_id.is_none())
                        .map(|m| m.uid)
                        .collect();
                    for c in uids.chunks(FETCH_BATCH) {
                        let set = imap::UidSet::from_iter(c);
                        let mut stream = std::pin::pin!(s.fetch_bodies(&set));
                        while let Some(b) = stream.next().await {
                            let b = b.map_err(dst_err("fetch messages"))?;
                            thash.insert(b.uid, body_key(&b.body));
                        }
                    }
                }
                for m in tm {
                    let key = m
                        .message_id
                        .as_deref()
                        .map(normalize_message_id)
                        .or_else(|| thash.get(&m.uid).cloned())
                        .unwrap_or_else(|| format!("unknown:{}", m.uid));
                    target_flags.insert(right.len(), FlagSet::from_flags(&m.flags));
                    right.push((
                        TargetRef::Uid(m.uid),
                        Ident {
                            key,
                            size: u64::from(m.size),
                            date: m.internal_date.timestamp(),
                        },
                    ));
                }
            }
        }
        (Dst::Maildir(m), Open::Maildir { dir, keywords }) => {
            let (t, d, kw) = (m.clone(), dir.clone(), keywords.clone());
            let inv = blocking(move || t.inventory(&d, &kw, want_hash))
                .await
                .map_err(|e| Error::maildir("read", dir.clone(), e))?;
            for i in inv {
                if i.key.is_some_and(|k| sibling_ids.contains(&k.folder_id)) {
                    continue;
                }
                let key = i
                    .message_id
                    .clone()
                    .unwrap_or_else(|| format!("unknown:{}", i.entry.name));
                target_flags.insert(right.len(), i.flags.clone());
                right.push((
                    TargetRef::File(i.entry, i.key),
                    Ident {
                        key,
                        size: i.size,
                        date: i.date,
                    },
                ));
            }
        }
        _ => {
            return Err(Error::Internal(
                "target connection and folder disagree".into(),
            ));
        }
    }
    let right_idx: Vec<(usize, Ident)> = right
        .iter()
        .enumerate()
        .map(|(i, (_, id))| (i, id.clone()))
        .collect();
    let matches = match_with_multiplicity(&left, &right_idx);

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
    let mut rekeys: Vec<(FileEntry, FileKey)> = Vec::new();
    for (uid, hit) in matches {
        let ident = ident_of[&uid];
        let old = pool.get_mut(ident).and_then(|q| q.pop_front());
        match hit {
            Some(i) => {
                let flags = match old {
                    Some(o) if o.state != MessageState::Skipped => o.flags.clone(),
                    _ => policy
                        .restrict(&target_flags.get(&i).cloned().unwrap_or_default())
                        .to_stored(),
                };
                let dst_uid = match &right[i].0 {
                    TargetRef::Uid(u) => Some(*u),
                    TargetRef::File(e, k) => {
                        let want = FileKey {
                            folder_id,
                            uidvalidity: sinfo.uid_validity,
                            uid,
                        };
                        if *k != Some(want) {
                            rekeys.push((e.clone(), want));
                        }
                        None
                    }
                };
                new_rows.push(MessageRow {
                    src_uid: uid,
                    state: MessageState::Copied,
                    dst_uid,
                    size: ident.size,
                    internal_date: ident.date,
                    msg_key: ident.key.clone(),
                    flags,
                });
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
    if !rekeys.is_empty()
        && let (Dst::Maildir(m), Open::Maildir { dir, .. }) = (&*dst, &*open)
    {
        let (t, d) = (m.clone(), dir.clone());
        blocking(move || {
            for (e, k) in rekeys {
                match t.rekey(&d, &e, k) {
                    Ok(_) => {}
                    Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                    Err(err) => return Err(err),
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| Error::maildir("rename files in", dir.clone(), e))?;
    }
    let matched = new_rows
        .iter()
        .filter(|r| r.state == MessageState::Copied)
        .count();
    ctx.store
        .folder_reset(folder_id)
        .map_err(st("reset folder"))?;
    for c in new_rows.chunks(ctx.opts.chunk.max(1) * 4) {
        ctx.store
            .messages_insert(folder_id, c)
            .map_err(st("record matched messages"))?;
    }
    ctx.store
        .folder_set_validity(folder_id, Some(sinfo.uid_validity), None, dst_validity)
        .map_err(st("record folder validity"))?;
    let msg = format!(
        "folder {}: message identities rebuilt (source UIDVALIDITY {}, target UIDVALIDITY {}); {} of {} source messages found on the target",
        plan.display(),
        sinfo.uid_validity,
        dst_validity.map_or_else(|| "n/a".to_string(), |v| v.to_string()),
        matched,
        metas.len()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn folders_share_one_window_and_a_large_message_takes_all_of_it() {
        let w = ByteWindow::new(4 << 20);
        assert_eq!(w.bytes(), 4 << 20);
        // Two folders' readers draw from the same window.
        let a = w.acquire(3 << 20).await.unwrap();
        let b = w.acquire(1 << 20).await.unwrap();
        assert_eq!(w.available(), 0);
        // A third message waits until one of them is written.
        let blocked =
            tokio::time::timeout(std::time::Duration::from_millis(20), w.acquire(1)).await;
        assert!(blocked.is_err());
        drop(a);
        let c = w.acquire(1).await.unwrap();
        drop((b, c));
        // A message larger than the window takes all of it, alone.
        let big = w.acquire(100 << 20).await.unwrap();
        assert_eq!(w.available(), 0);
        drop(big);
        assert_eq!(w.available(), 4 << 20);
        // Too small a window is raised to 1 MiB.
        assert_eq!(ByteWindow::new(10).bytes(), 1 << 20);
    }

    #[test]
    fn summary_headers_unfold() {
        let (s, f, d) = summary_headers(
            b"From: A <a@x>\r\nSubject: hello\r\n world\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nSubject: no",
        );
        assert_eq!(s.as_deref(), Some("hello world"));
        assert_eq!(f.as_deref(), Some("A <a@x>"));
        assert_eq!(d.as_deref(), Some("Mon, 1 Jan 2024 00:00:00 +0000"));
    }

    #[test]
    fn in_flight_rows_are_searched_by_printable_message_id_else_by_size() {
        let id = |key: &str| Ident {
            key: key.into(),
            size: 120,
            date: 0,
        };
        assert_eq!(
            search_key(&id("<a\"b@x>")),
            imap::SearchKey::header("Message-ID", "<a\"b@x>")
        );
        assert_eq!(search_key(&id("<ü@x>")), imap::SearchKey::size(120));
        assert_eq!(search_key(&id("sha256:00")), imap::SearchKey::size(120));
    }
}

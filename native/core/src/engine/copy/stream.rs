//! The streaming copy: one source reader fetches `BODY.PEEK[]` in batches into a channel
//! bounded by the user's byte window; the target folder's writer takes groups off it, writes
//! their rows in state 0, sends them, and commits state 1 once the target confirmed.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};
use futures::StreamExt;
use imapmigration_imap as imap;
use imapmigration_store::{MessageRow, MessageState};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::super::error::Error;
use super::super::flags::FlagSet;
use super::super::plan::{SourceMeta, body_key};
use super::context::{Ctx, FolderPass, src_err, st};
use super::target::TargetFolder;

/// UIDs per UID FETCH of bodies: enough to keep the server streaming, few enough that a retry
/// after a dropped connection repeats little.
pub(super) const FETCH_BATCH: usize = 200;

/// One message on its way from the source reader to the target writer. The permit holds its
/// share of the byte window until the body has been written.
pub(super) struct Item {
    pub uid: u32,
    pub body: Bytes,
    pub date: DateTime<FixedOffset>,
    pub flags: FlagSet,
    pub key: String,
    pub permit: OwnedSemaphorePermit,
}

/// A row's outcome: (source UID, new state, target UID, flags applied).
pub(super) type Commit = (u32, MessageState, Option<u32>, String);

/// Streams `msgs` (newest first) from the source into the target folder.
pub(super) async fn copy_messages<F: TargetFolder>(
    pass: &FolderPass<'_>,
    msgs: &[SourceMeta],
    src: &mut imap::Session,
    dst: &mut F,
) -> Result<(), Error> {
    let ctx = pass.ctx;
    let chunk = ctx.opts.chunk.max(1);
    let (tx, rx) = mpsc::channel::<Item>(chunk.max(16) * 2);
    let ids: HashMap<u32, Option<&str>> = msgs
        .iter()
        .map(|m| (m.uid, m.message_id.as_deref()))
        .collect();
    let order: Vec<u32> = msgs.iter().map(|m| m.uid).collect();
    let policy = dst.flag_policy().clone();

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
                    permit,
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
    let (r, w) = tokio::join!(reader, dst.write(pass, rx));
    w?;
    r
}

/// Takes the next group of messages: waits for one, then whatever is ready, up to `chunk`
/// messages or half the byte window. One state transaction covers a group.
pub(super) async fn next_group(
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
                match tokio::time::timeout(Duration::from_millis(5), rx.recv()).await {
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

/// Rows in state 0 for a group, written before anything of it is sent: whatever happens next,
/// a later pass knows these messages may be on the target and verifies before sending again.
pub(super) fn begin_rows(group: &[Item]) -> Vec<MessageRow> {
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

/// Commits confirmed messages (state 1) and reports them.
pub(super) fn commit(
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

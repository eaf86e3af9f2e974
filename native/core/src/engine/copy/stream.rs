//! The streaming copy: one source reader fetches `BODY.PEEK[]` in batches into a channel
//! bounded by the user's byte window; the target folder's writer takes groups off it, writes
//! their rows in state 0, sends them, and commits state 1 once the target confirmed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};
use imapmigration_imap as imap;
use imapmigration_store::{MessageRow, MessageState};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::super::budget::{Reservation, memory_budget, take};
use super::super::error::{Error, Side};
use super::super::flags::FlagSet;
use super::super::plan::{SourceMeta, body_key, normalized_size};
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
    /// The message's share of the process's memory budget, reserved before it was fetched;
    /// held until the target has the message.
    pub reserved: Option<Reservation>,
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
    let policy = dst.flag_policy().clone();
    let budget = memory_budget();

    let reader = async {
        let batches = fetch_batches(msgs, |m| m.size, FETCH_BATCH, budget.bytes());
        // Batches asked for and not yet completed, oldest first: at most two, so that the
        // server goes on streaming the next while the last messages of one are read.
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let mut next = batches.iter().peekable();
        loop {
            while in_flight.len() < MAX_IN_FLIGHT
                && let Some(metas) = next.peek()
            {
                let declared: u64 = metas.iter().map(|m| m.size).sum();
                // A batch's bytes are reserved before anything of it is read, all at once.
                // The one behind another only when its bytes are free now: waiting for them
                // while a batch is unread could hold up every folder of the process.
                let reserved = match in_flight.is_empty() {
                    true => tokio::select! {
                        biased;
                        _ = ctx.cancel.cancelled() => return Err(Error::Cancelled),
                        r = budget.reserve(declared) => r?,
                    },
                    false => match budget.try_reserve(declared) {
                        Some(r) => r,
                        None => break,
                    },
                };
                let batch: Vec<u32> = metas.iter().map(|m| m.uid).collect();
                let set = imap::UidSet::from_iter(&batch);
                let tag = src
                    .send_fetch_bodies(&set, !in_flight.is_empty())
                    .await
                    .map_err(src_err("fetch messages"))?;
                // What was reserved may be allocated at once for a body, rather than grown.
                let largest = metas.iter().map(|m| m.size).max().unwrap_or_default();
                src.reserve_literals_up_to(largest.min(budget.bytes() as u64) as usize);
                in_flight.push_back(InFlight {
                    tag,
                    answer: FetchAnswer::new(batch),
                    reserved: Some(reserved),
                });
                next.next();
            }
            if in_flight.is_empty() {
                break;
            }
            let tags: Vec<String> = in_flight.iter().map(|b| b.tag.clone()).collect();
            let event = tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => return Err(Error::Cancelled),
                e = src.next_body_of(&tags) => e.map_err(src_err("fetch messages"))?,
            };
            let fb = match event {
                imap::BodyEvent::Done { tag, text } => {
                    if let Some(i) = in_flight.iter().position(|b| b.tag == tag) {
                        in_flight[i].answer.complete(Some(&text))?;
                        in_flight.remove(i);
                    }
                    continue;
                }
                imap::BodyEvent::Body(fb) => fb,
            };
            // Answers of fetches in flight together may interleave: the UID says whose it is.
            let Some(b) = in_flight.iter_mut().find(|b| b.answer.asked(fb.uid)) else {
                return Err(protocol(format!(
                    "it sent uid {}, which was not requested",
                    fb.uid
                )));
            };
            b.answer.received(fb.uid)?;
            let key = match ids.get(&fb.uid) {
                Some(Some(id)) => (*id).to_string(),
                Some(None) => body_key(&fb.body),
                None => return Err(Error::Internal(format!("uid {} unplanned", fb.uid))),
            };
            let share = take(&mut b.reserved, fb.body.len());
            let permit = tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => return Err(Error::Cancelled),
                p = ctx.window.acquire(fb.body.len()) => p?,
            };
            let item = Item {
                reserved: share,
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
        drop(tx);
        pass.source_done(src).await;
        Ok(())
    };
    let (r, w) = tokio::join!(reader, dst.write(pass, rx, msgs.len()));
    w?;
    r
}

/// Messages (with their declared sizes, `size`) cut into fetches within a memory budget of
/// `budget` bytes: at most `count` messages and, unless one message alone is larger, a
/// quarter of the budget in declared bytes each (a large message is fetched on its own, so
/// that its reservation does not hold back the small ones around it). Every body fetch uses
/// it: the copy, and the hashing of bodies for a rebuild or the in-flight check.
pub(super) fn fetch_batches<T>(
    msgs: &[T],
    size: impl Fn(&T) -> u64,
    count: usize,
    budget: usize,
) -> Vec<&[T]> {
    let bytes = (budget / 4) as u64;
    let mut out = Vec::new();
    let (mut start, mut sum) = (0, 0u64);
    for (i, m) in msgs.iter().enumerate() {
        if i > start && (i - start >= count || sum + size(m) > bytes) {
            out.push(&msgs[start..i]);
            (start, sum) = (i, 0);
        }
        sum += size(m);
    }
    if start < msgs.len() {
        out.push(&msgs[start..]);
    }
    out
}

/// Body fetches in flight at once on the source connection.
const MAX_IN_FLIGHT: usize = 2;

/// A batch's body fetch sent and not yet completed.
struct InFlight {
    tag: String,
    answer: FetchAnswer,
    /// What is left of the batch's share of the memory budget.
    reserved: Option<Reservation>,
}

/// What one `UID FETCH ... BODY.PEEK[]` of a batch has answered so far. RFC 3501 §6.4.8: the
/// server returns each requested message that exists; a message the listing just showed and
/// the answer leaves out, a UID not asked for, or one sent twice (a second APPEND: a
/// duplicate) means the answer cannot be trusted. Each is a protocol error of the folder,
/// tried again on a new connection, never a message quietly not copied.
struct FetchAnswer {
    requested: Vec<u32>,
    wanted: HashSet<u32>,
    seen: HashSet<u32>,
}

const COMMAND: &str = "UID FETCH BODY.PEEK[]";

impl FetchAnswer {
    fn new(requested: Vec<u32>) -> Self {
        FetchAnswer {
            wanted: requested.iter().copied().collect(),
            seen: HashSet::with_capacity(requested.len()),
            requested,
        }
    }

    /// Whether this fetch asked for `uid`.
    fn asked(&self, uid: u32) -> bool {
        self.wanted.contains(&uid)
    }

    fn received(&mut self, uid: u32) -> Result<(), Error> {
        let detail = if !self.wanted.contains(&uid) {
            format!("it sent uid {uid}, which was not requested")
        } else if !self.seen.insert(uid) {
            format!("it sent uid {uid} twice")
        } else {
            return Ok(());
        };
        Err(protocol(detail))
    }

    /// The server completed the command with OK: every requested message must have come.
    fn complete(&self, server_said: Option<&str>) -> Result<(), Error> {
        let missing: Vec<u32> = self
            .requested
            .iter()
            .copied()
            .filter(|u| !self.seen.contains(u))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(protocol(format!(
            "it completed with OK ({:?}) after {} of {} requested messages; missing uids {}",
            server_said.unwrap_or_default(),
            self.seen.len(),
            self.requested.len(),
            uid_list(&missing)
        )))
    }
}

fn protocol(detail: String) -> Error {
    Error::Protocol {
        side: Side::Source,
        command: COMMAND.into(),
        detail,
    }
}

/// The first UIDs of `uids`, comma-separated, "..." after 20.
pub(super) fn uid_list(uids: &[u32]) -> String {
    let mut s: Vec<String> = uids.iter().take(20).map(u32::to_string).collect();
    if uids.len() > 20 {
        s.push("...".into());
    }
    s.join(",")
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
            // What the target will report when it stores the message with CRLF.
            size: normalized_size(&it.body),
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

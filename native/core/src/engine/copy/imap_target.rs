//! The IMAP target folder: SELECTed for the pass, written with the pipelined appender
//! (MULTIAPPEND where offered), searched for rows left in flight, flags changed with UID STORE.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use imapmigration_imap as imap;
use imapmigration_store::{MessageRow, MessageState};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use super::super::budget::Reservation;
use super::super::error::{Error, Side};
use super::super::flags::FlagSet;
use super::super::plan::{Ident, body_key, crlf_body, normalize_message_id};
use super::context::{FolderPass, dst_err, st};
use super::hashes::body_keys;
use super::lanes::{LANE_GROUP, Lanes, lanes_for};
use super::listing::{META_BATCH, fetch_meta_uids};
use super::skipped::{Change, Headers, Refused, record_bad, record_changed, summary_headers};
use super::stream::{Commit, Item, begin_rows, commit, next_group};
use super::target::{FlagPolicy, FlagWork, Located, Siblings, TargetFolder, TargetMessage};

/// APPEND commands in flight on one connection (each may carry many messages with
/// MULTIAPPEND).
const APPEND_WINDOW: usize = 64;

/// A folder on the IMAP target, selected on the user's target session.
pub(super) struct ImapFolder<'s> {
    session: &'s mut imap::Session,
    name: String,
    info: imap::MailboxInfo,
    policy: FlagPolicy,
}

impl<'s> ImapFolder<'s> {
    /// SELECTs `name` (read-write: flags are stored here).
    pub async fn open(session: &'s mut imap::Session, name: &str) -> Result<Self, Error> {
        let info = session
            .select(name)
            .await
            .map_err(dst_err(format!("select folder {name}")))?;
        let policy = FlagPolicy {
            keywords: info.allows_keywords,
            permanent: FlagSet::from_flags(&info.permanent_flags),
        };
        Ok(ImapFolder {
            session,
            name: name.to_string(),
            info,
            policy,
        })
    }

    /// Target UIDs of unclaimed messages with this identity, in UID order.
    async fn find(
        &mut self,
        pass: &FolderPass<'_>,
        ident: &Ident,
        claimed: &HashSet<u32>,
    ) -> Result<Vec<u32>, Error> {
        let s = &mut *self.session;
        let cands: Vec<u32> = s
            .uid_search(&search_key(ident))
            .await
            .map_err(dst_err("search the target"))?
            .into_iter()
            .filter(|u| !claimed.contains(u))
            .collect();
        if cands.is_empty() {
            return Ok(Vec::new());
        }
        let metas = fetch_meta_uids(s, &cands, Side::Target).await?;
        let mut sized: Vec<&imap::MessageMeta> = metas
            .iter()
            .filter(|m| {
                u64::from(m.size) == ident.size && m.internal_date.timestamp() == ident.date
            })
            .collect();
        sized.sort_by_key(|m| m.uid);
        if !ident.key.starts_with("sha256:") {
            return Ok(sized
                .iter()
                .filter(|m| {
                    m.message_id.as_deref().map(normalize_message_id).as_deref()
                        == Some(ident.key.as_str())
                })
                .map(|m| m.uid)
                .collect());
        }
        let wanted: Vec<(u32, u64)> = sized.iter().map(|m| (m.uid, u64::from(m.size))).collect();
        let keys = body_keys(pass.ctx, s, Side::Target, &wanted).await?;
        Ok(wanted
            .iter()
            .filter(|(u, _)| keys.get(u) == Some(&ident.key))
            .map(|(u, _)| *u)
            .collect())
    }
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

impl TargetFolder for ImapFolder<'_> {
    type Found = u32;

    fn uid_validity(&self) -> Option<u32> {
        Some(self.info.uid_validity)
    }

    fn flag_policy(&self) -> &FlagPolicy {
        &self.policy
    }

    async fn is_empty(&mut self) -> Result<bool, Error> {
        Ok(self.info.exists == 0)
    }

    fn lands_late(&self) -> bool {
        true
    }

    async fn refresh(&mut self) -> Result<(), Error> {
        self.session
            .noop()
            .await
            .map_err(dst_err(format!("check folder {}", self.name)))
    }

    /// A row counts as landed when an unclaimed target message has its msg_key, size and
    /// INTERNALDATE; identical rows need as many messages.
    async fn locate_in_flight(
        &mut self,
        pass: &FolderPass<'_>,
        rows: &[MessageRow],
    ) -> Result<Located, Error> {
        let mut claimed = Siblings::load(pass, self.uid_validity())?.claimed;
        claimed.extend(
            rows.iter()
                .filter(|r| r.state == MessageState::Copied)
                .filter_map(|r| r.dst_uid),
        );
        let mut by_ident: BTreeMap<Ident, Vec<&MessageRow>> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.state == MessageState::InFlight) {
            by_ident
                .entry(Ident {
                    key: r.msg_key.clone(),
                    size: r.size,
                    date: r.internal_date,
                })
                .or_default()
                .push(r);
        }
        let mut out = Located::default();
        for (ident, want) in by_ident {
            let mut hits = self.find(pass, &ident, &claimed).await?.into_iter();
            for r in want {
                match hits.next() {
                    Some(u) => {
                        claimed.insert(u);
                        out.found
                            .push((r.src_uid, MessageState::Copied, Some(u), r.flags.clone()));
                    }
                    None => out.lost.push(r.src_uid),
                }
            }
        }
        Ok(out)
    }

    async fn apply_flags(
        &mut self,
        pass: &FolderPass<'_>,
        work: &FlagWork<'_>,
    ) -> Result<Vec<u32>, Error> {
        // Rows copied without APPENDUID (a target without UIDPLUS) have no target UID: find
        // their messages the way rows left in flight are found.
        let mut found: HashMap<u32, u32> = HashMap::new();
        let unlocated: Vec<&MessageRow> = work
            .values()
            .flatten()
            .filter(|r| r.dst_uid.is_none())
            .copied()
            .collect();
        if !unlocated.is_empty() {
            let mut claimed = Siblings::load(pass, self.uid_validity())?.claimed;
            let mut by_ident: BTreeMap<Ident, Vec<u32>> = BTreeMap::new();
            for r in unlocated {
                by_ident
                    .entry(Ident {
                        key: r.msg_key.clone(),
                        size: r.size,
                        date: r.internal_date,
                    })
                    .or_default()
                    .push(r.src_uid);
            }
            for (ident, srcs) in by_ident {
                let hits = self.find(pass, &ident, &claimed).await?;
                for (src, uid) in srcs.into_iter().zip(hits) {
                    claimed.insert(uid);
                    found.insert(src, uid);
                }
            }
        }
        let mut applied = Vec::new();
        for (d, rs) in work {
            let located: Vec<(u32, u32)> = rs
                .iter()
                .filter_map(|r| {
                    let uid = r.dst_uid.or_else(|| found.get(&r.src_uid).copied())?;
                    Some((r.src_uid, uid))
                })
                .collect();
            if located.len() < rs.len() {
                tracing::debug!(
                    n = rs.len() - located.len(),
                    "message not found on the target (no UIDPLUS): flags not updated"
                );
            }
            let uids: Vec<u32> = located.iter().map(|(_, u)| *u).collect();
            let add: Vec<String> = d.add.iter().map(str::to_string).collect();
            let rm: Vec<String> = d.remove.iter().map(str::to_string).collect();
            for c in uids.chunks(META_BATCH) {
                let set = imap::UidSet::from_iter(c);
                if !add.is_empty() {
                    self.session
                        .uid_store_flags(&set, imap::FlagOp::Add, &add)
                        .await
                        .map_err(dst_err("store flags"))?;
                }
                if !rm.is_empty() {
                    self.session
                        .uid_store_flags(&set, imap::FlagOp::Remove, &rm)
                        .await
                        .map_err(dst_err("store flags"))?;
                }
            }
            applied.extend(located.iter().map(|(src, _)| *src));
        }
        Ok(applied)
    }

    async fn inventory(
        &mut self,
        pass: &FolderPass<'_>,
        siblings: &Siblings,
        want_hash: bool,
    ) -> Result<Vec<TargetMessage<u32>>, Error> {
        if self.info.exists == 0 {
            return Ok(Vec::new());
        }
        let s = &mut *self.session;
        let tm = s
            .fetch_meta(&imap::UidSet::all())
            .await
            .map_err(dst_err("fetch message list"))?;
        let tm: Vec<&imap::MessageMeta> = tm
            .iter()
            .filter(|m| !siblings.claimed.contains(&m.uid))
            .collect();
        let mut thash: HashMap<u32, String> = HashMap::new();
        if want_hash {
            let wanted: Vec<(u32, u64)> = tm
                .iter()
                .filter(|m| m.message_id.is_none())
                .map(|m| (m.uid, u64::from(m.size)))
                .collect();
            thash = body_keys(pass.ctx, s, Side::Target, &wanted).await?;
        }
        Ok(tm
            .into_iter()
            .map(|m| {
                let key = m
                    .message_id
                    .as_deref()
                    .map(normalize_message_id)
                    .or_else(|| thash.get(&m.uid).cloned())
                    .unwrap_or_else(|| format!("unknown:{}", m.uid));
                TargetMessage {
                    found: m.uid,
                    ident: Ident {
                        key,
                        size: u64::from(m.size),
                        date: m.internal_date.timestamp(),
                    },
                    flags: FlagSet::from_flags(&m.flags),
                }
            })
            .collect())
    }

    fn target_uid(found: &u32) -> Option<u32> {
        Some(*found)
    }

    async fn adopt(&mut self, _: &FolderPass<'_>, _: Vec<(u32, u32)>) -> Result<(), Error> {
        Ok(())
    }

    async fn write(
        &mut self,
        pass: &FolderPass<'_>,
        rx: mpsc::Receiver<Item>,
        expected: usize,
    ) -> Result<(), Error> {
        // Nothing below needs the target folder selected; appending to a folder that is not
        // selected spares the server from updating this session's view of it after every
        // command.
        self.session
            .unselect()
            .await
            .map_err(dst_err("unselect folder"))?;
        if pass.ctx.opts.verify_content && !self.session.capabilities().has("UIDPLUS") {
            report_unverifiable(pass, expected);
        }
        let lanes = pass.ctx.lanes;
        let permits = if Lanes::wanted(self.session.capabilities()) {
            lanes.take(lanes_for(expected))
        } else {
            Vec::new()
        };
        let rx = Mutex::new(rx);
        let halt = CancellationToken::new();
        let landed = std::sync::Mutex::new(Vec::new());
        let name = self.name.as_str();
        if permits.is_empty() {
            let group = pass.ctx.opts.chunk.max(1);
            write_messages(pass, self.session, name, &rx, group, &halt, &landed).await?;
            let landed = landed.into_inner().unwrap_or_else(|p| p.into_inner());
            return check_landed(pass, self.session, name, landed).await;
        }
        tracing::debug!(extra = permits.len(), "appending over more connections");
        let (rx, halt, shared) = (&rx, &halt, &landed);
        let main = write_messages(pass, self.session, name, rx, LANE_GROUP, halt, shared);
        let extra = permits.into_iter().map(|p| async move {
            // The first lane starts at once; the others join as they log in.
            let Some((mut s, permit)) = lanes.open(pass.ctx, p).await else {
                return Ok(());
            };
            let r = write_messages(pass, &mut s, name, rx, LANE_GROUP, halt, shared).await;
            if r.is_ok() {
                // Not waited for: the folder's check need not wait a round trip for it. The
                // lane's room is given back once the server has answered.
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(10), s.logout()).await;
                    drop(permit);
                });
            }
            r
        });
        let (first, others) = tokio::join!(main, futures::future::join_all(extra));
        // The first failure is the one to report; the lanes it stopped say only "halted".
        first?;
        others.into_iter().collect::<Result<Vec<()>, Error>>()?;
        let landed = landed.into_inner().unwrap_or_else(|p| p.into_inner());
        check_landed(pass, self.session, name, landed).await
    }
}

/// Content verification reads back messages by the UIDs the target confirmed (APPENDUID); a
/// target without UIDPLUS names none, so what is appended there is not verified. Said once
/// per folder pass, as a warning event of the user, rather than left for the admin to assume.
fn report_unverifiable(pass: &FolderPass<'_>, expected: usize) {
    let msg = format!(
        "folder {:?}: the target does not return the UIDs of appended messages (no UIDPLUS), so the {expected} messages copied into it are not read back to verify their content (-VerifyContent)",
        pass.plan.display()
    );
    tracing::warn!("{msg}");
    let _ = pass
        .ctx
        .store
        .insert_event(&imapmigration_store::Event::new(
            Some(pass.ctx.user_id),
            None,
            imapmigration_store::EventLevel::Warning,
            msg,
        ));
}

/// A message the target confirmed with its UID (APPENDUID), to check what landed.
struct Landed {
    src_uid: u32,
    dst_uid: u32,
    /// Bytes sent: the source's message with CRLF line ends.
    sent: u64,
    /// The source's size as listed.
    size: u64,
    date: i64,
    headers: Headers,
    /// [`body_key`] of the bytes sent, kept when the content is verified
    /// ([`SyncOptions::verify_content`](crate::engine::SyncOptions)).
    digest: Option<String>,
    /// SHA-1 (hex) of the bytes sent, kept where the target offers `DIGEST.SHA1`.
    sha1: Option<String>,
}

impl Landed {
    fn item(self) -> Refused {
        Refused {
            uid: self.src_uid,
            size: self.size,
            date: self.date,
            headers: self.headers,
        }
    }
}

/// Checks what landed: the target's `RFC822.SIZE` of every message it confirmed with a UID
/// (UIDPLUS), one `UID FETCH` per 1,000 messages, against the bytes sent; where the target
/// offers `DIGEST.SHA1` (Cyrus), the same fetch also returns the SHA-1 of what it stores,
/// compared with that of the bytes sent. Those are the source's message with CRLF line ends,
/// the form a target stores a bare-LF message in, so line-end normalization is no difference;
/// any other difference is a message the server changed (Cyrus' `munge8bit` rewriting 8-bit
/// headers keeps the size: only the digest sees it), reported per item as ChangedItem. The
/// copy stays on the target and stays recorded.
///
/// With content verification on, the messages whose size (and digest) matched are then read
/// back ([`verify_content`]): a target that changes bytes without changing the size, and
/// offers no digest, is caught there.
async fn check_landed(
    pass: &FolderPass<'_>,
    s: &mut imap::Session,
    name: &str,
    landed: Vec<Landed>,
) -> Result<(), Error> {
    if landed.is_empty() {
        return Ok(());
    }
    let mut by_dst: HashMap<u32, Landed> = landed.into_iter().map(|l| (l.dst_uid, l)).collect();
    let mut uids: Vec<u32> = by_dst.keys().copied().collect();
    uids.sort_unstable();
    // The (first) sizes asked for right behind EXAMINE: one round trip for the check, not two.
    // The next folder's SELECT goes right behind them when nothing else is sent for this one.
    let last = uids.len() <= META_BATCH && !pass.ctx.opts.verify_content;
    let ahead = async {
        s.prefetch_examine(name).await?;
        if let Some(c) = uids.chunks(META_BATCH).next() {
            s.prefetch_fetch_sizes(&imap::UidSet::from_iter(c)).await?;
        }
        if last && let Some(next) = pass.next_folder() {
            s.prefetch_select(&next.target).await?;
        }
        Ok::<_, imap::Error>(())
    };
    ahead
        .await
        .map_err(dst_err(format!("examine folder {name}")))?;
    s.examine(name)
        .await
        .map_err(dst_err(format!("examine folder {name}")))?;
    let mut same_size = Vec::new();
    for c in uids.chunks(META_BATCH) {
        let got = s
            .fetch_sizes(&imap::UidSet::from_iter(c))
            .await
            .map_err(dst_err("fetch the sizes of appended messages"))?;
        for stored in got {
            let Some(l) = by_dst.remove(&stored.uid) else {
                continue;
            };
            if u64::from(stored.size) != l.sent {
                let change = Change::Size {
                    sent: l.sent,
                    stored: u64::from(stored.size),
                };
                record_changed(pass, l.item(), change)?;
            } else if let (Some(sent), Some(got)) = (&l.sha1, &stored.sha1)
                && sent != got
            {
                let change = Change::Content {
                    algorithm: "SHA-1",
                    size: l.sent,
                    sent: sent.clone(),
                    stored: got.clone(),
                };
                record_changed(pass, l.item(), change)?;
            } else if l.digest.is_some() {
                same_size.push(l);
            }
        }
    }
    if !by_dst.is_empty() {
        // Expunged meanwhile by someone else: nothing to compare.
        tracing::warn!(
            missing = by_dst.len(),
            "messages the target confirmed are no longer in the folder"
        );
    }
    verify_content(pass, s, same_size).await
}

/// Content verification: reads back `landed` (in the selected folder, their size already
/// matched) with `UID FETCH BODY.PEEK[]`, 1,000 messages at a time, each fetch under the
/// process's memory budget and each body dropped as soon as it is hashed (`hashes::body_keys`),
/// and compares the SHA-256 of what the target stores with that of the bytes sent (CRLF line
/// ends, so line-end normalization is no difference). A difference is a ChangedItem (Cyrus'
/// `munge8bit` rewriting 8-bit header bytes keeps the size and is caught only here).
async fn verify_content(
    pass: &FolderPass<'_>,
    s: &mut imap::Session,
    landed: Vec<Landed>,
) -> Result<(), Error> {
    let mut landed = landed;
    landed.sort_unstable_by_key(|l| l.dst_uid);
    let mut unread = 0usize;
    let mut rest = landed.into_iter().peekable();
    while rest.peek().is_some() {
        let batch: Vec<Landed> = rest.by_ref().take(META_BATCH).collect();
        let wanted: Vec<(u32, u64)> = batch.iter().map(|l| (l.dst_uid, l.sent)).collect();
        let stored = body_keys(pass.ctx, s, Side::Target, &wanted).await?;
        for l in batch {
            let Some(sent) = l.digest.clone() else {
                continue;
            };
            match stored.get(&l.dst_uid) {
                Some(got) if *got == sent => {}
                Some(got) => {
                    let change = Change::Content {
                        algorithm: "SHA-256",
                        size: l.sent,
                        sent,
                        stored: got.clone(),
                    };
                    record_changed(pass, l.item(), change)?;
                }
                None => unread += 1,
            }
        }
    }
    if unread > 0 {
        tracing::warn!(
            missing = unread,
            "messages the target confirmed could not be read back to verify them"
        );
    }
    Ok(())
}

/// The SHA-1 of `body` in lower-case hex, as a target's `DIGEST.SHA1` gives it.
fn sha1_hex(body: &[u8]) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(body))
}

/// A message sent and not yet confirmed.
struct Sent {
    /// The message's share of the memory budget: the appender keeps its body until the
    /// command completes, so the share is released only then.
    _reserved: Option<Reservation>,
    size: u64,
    /// Bytes sent (CRLF line ends).
    sent: u64,
    flags: String,
    date: i64,
    headers: Headers,
    /// [`body_key`] of the bytes sent, when the content is verified.
    digest: Option<String>,
    /// SHA-1 (hex) of the bytes sent, where the target offers `DIGEST.SHA1`.
    sha1: Option<String>,
}

/// The writer's book of messages in flight and outcomes not yet committed.
#[derive(Default)]
struct Book {
    sent: HashMap<u32, Sent>,
    sizes: HashMap<u32, u64>,
    pending: Vec<Commit>,
    /// Messages confirmed with a UID, for [`check_landed`].
    landed: Vec<Landed>,
    /// A temporary refusal: the row stays in state 0 and the folder is tried again.
    retry_later: Option<imap::ServerRefusal>,
}

impl Book {
    /// Books the outcomes the appender returned; a refusal over `-BadItemLimit` is an error.
    fn settle(
        &mut self,
        pass: &FolderPass<'_>,
        outs: Vec<imap::AppendOutcome>,
    ) -> Result<(), Error> {
        for o in outs {
            let uid = o.id as u32;
            let Some(info) = self.sent.remove(&uid) else {
                continue;
            };
            match o.result {
                Ok(dst_uid) => {
                    self.sizes.insert(uid, info.size);
                    self.pending
                        .push((uid, MessageState::Copied, dst_uid, info.flags));
                    if let Some(dst_uid) = dst_uid {
                        self.landed.push(Landed {
                            src_uid: uid,
                            dst_uid,
                            sent: info.sent,
                            size: info.size,
                            date: info.date,
                            headers: info.headers,
                            digest: info.digest,
                            sha1: info.sha1,
                        });
                    }
                }
                Err(r) if r.is_retryable() => self.retry_later = Some(r),
                Err(r) => {
                    tracing::warn!(uid, refusal = %r, "target refused message");
                    self.pending
                        .push((uid, MessageState::Skipped, None, info.flags));
                    let item = Refused {
                        uid,
                        size: info.size,
                        date: info.date,
                        headers: info.headers,
                    };
                    record_bad(pass, item, &r)?;
                }
            }
        }
        Ok(())
    }
}

/// Appends what the reader sends into the unselected folder `name`, taking up to `group`
/// messages at a time off `rx` (which other connections into the folder may share). Stops
/// taking messages when `halt` is cancelled, and cancels it when it fails itself. Adds the
/// messages confirmed with a UID to `landed`.
async fn write_messages(
    pass: &FolderPass<'_>,
    s: &mut imap::Session,
    name: &str,
    rx: &Mutex<mpsc::Receiver<Item>>,
    group: usize,
    halt: &CancellationToken,
    landed: &std::sync::Mutex<Vec<Landed>>,
) -> Result<(), Error> {
    let r = write_lane(pass, s, name, rx, group, halt, landed).await;
    if r.is_err() {
        halt.cancel();
    }
    r
}

async fn write_lane(
    pass: &FolderPass<'_>,
    s: &mut imap::Session,
    name: &str,
    rx: &Mutex<mpsc::Receiver<Item>>,
    group_max: usize,
    halt: &CancellationToken,
    landed: &std::sync::Mutex<Vec<Landed>>,
) -> Result<(), Error> {
    let ctx = pass.ctx;
    let (window, chunk) = (ctx.window.bytes(), ctx.opts.chunk.max(1));
    let group_max = group_max.clamp(1, chunk);
    // The appender keeps what is in flight (to send a refused MULTIAPPEND again message by
    // message) after the message's share of the window is released: not a copy but the
    // FETCH's own buffer, so a message is never in memory twice, and each still holds its share
    // of the process's memory budget. Up to a window in flight, in MULTIAPPEND commands of a
    // quarter of it: large commands (Dovecot's cost per command grows with the folder, so
    // fewer commands keep a 50,000-message folder linear), several of them on the way at once
    // so that a long round trip does not stop the stream after each.
    let sha1_of = s
        .offers_sha1_digest()
        .then_some(sha1_hex as fn(&[u8]) -> String);
    let mut appender = s.appender(name, window.max(1), APPEND_WINDOW);
    let mut book = Book::default();
    let mut cancelled = false;
    let mut limit_err = None;
    loop {
        if halt.is_cancelled() {
            break;
        }
        // Another lane failing ends this one after what it has sent: those rows are settled.
        let next = {
            let mut rx = rx.lock().await;
            tokio::select! {
                biased;
                _ = halt.cancelled() => None,
                g = next_group(&mut rx, group_max, window) => g,
            }
        };
        let Some(group) = next else { break };
        if ctx.cancel.is_cancelled() {
            cancelled = true;
            break;
        }
        ctx.store
            .messages_begin(pass.folder_id, &begin_rows(&group))
            .map_err(st("begin messages"))?;
        for it in group {
            let flags: Vec<String> = it.flags.iter().map(str::to_string).collect();
            let (size, headers) = (it.body.len() as u64, summary_headers(&it.body));
            // Sent with CRLF line ends (as the row's size says): a target stores them so, or
            // refuses bare newlines.
            let body = match crlf_body(&it.body) {
                Some(b) => bytes::Bytes::from(b),
                None => it.body,
            };
            let digest = ctx.opts.verify_content.then(|| body_key(&body));
            let sha1 = sha1_of.map(|f| f(&body));
            // Recorded before sending: a fast server's answer can arrive within the push.
            book.sent.insert(
                it.uid,
                Sent {
                    _reserved: it.reserved,
                    size,
                    sent: body.len() as u64,
                    flags: it.flags.to_stored(),
                    date: it.date.timestamp(),
                    headers,
                    digest,
                    sha1,
                },
            );
            let outs = appender
                .push_bytes(u64::from(it.uid), body, &flags, it.date)
                .await
                .map_err(dst_err("append messages"))?;
            if let Err(e) = book.settle(pass, outs) {
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
        // A lane waiting on the reader holds the receiver: nothing is at hand then either.
        let at_hand = rx.try_lock().is_ok_and(|r| !r.is_empty());
        if !at_hand {
            let outs = appender.flush().await.map_err(dst_err("append messages"))?;
            if let Err(e) = book.settle(pass, outs) {
                limit_err = Some(e);
                break;
            }
        }
        if book.pending.len() >= chunk {
            commit(ctx, pass.folder_id, &mut book.pending, &mut book.sizes)?;
        }
    }
    // Settle what is in flight, also when stopping: confirmed copies are recorded now rather
    // than verified on the next pass.
    let outs = appender
        .finish()
        .await
        .map_err(dst_err("append messages"))?;
    let r = book.settle(pass, outs);
    commit(ctx, pass.folder_id, &mut book.pending, &mut book.sizes)?;
    landed
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .append(&mut book.landed);
    if let Some(e) = limit_err {
        return Err(e);
    }
    r?;
    if cancelled {
        return Err(Error::Cancelled);
    }
    if let Some(r) = book.retry_later {
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

#[cfg(test)]
mod tests {
    use super::*;

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

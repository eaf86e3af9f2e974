//! Message commands on the selected mailbox: UID FETCH (status-checked and streaming),
//! UID SEARCH, UID STORE (RFC 3501 §6.4), CONDSTORE CHANGEDSINCE (RFC 7162 §3.1.4).
//!
//! Unlike async-imap (issue #95), a tagged NO or BAD here is always an error, never an
//! empty result.

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};
use futures::{Stream, StreamExt};
use imap_proto::{AttributeValue, MailboxDatum, Response};
use tracing::Instrument;

use crate::error::{Error, Result};
use crate::response::{Msg, classify, unparsed_name};
use crate::search::SearchKey;
use crate::sequence::UidSet;
use crate::session::Session;
use crate::wire::{flag_list, is_recent, parse_internal_date};

/// What the engine needs to plan a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    /// The message's UID in the selected mailbox (valid under its UIDVALIDITY).
    pub uid: u32,
    /// System flags and keywords as the server sent them, without `\Recent`.
    pub flags: Vec<String>,
    /// INTERNALDATE (RFC 3501 §2.3.3): when the server received the message, with its
    /// zone offset; APPEND sets it on the target so the date survives the copy.
    pub internal_date: DateTime<FixedOffset>,
    /// RFC822.SIZE in octets.
    pub size: u32,
    /// The Message-ID header value (with angle brackets), unfolded and trimmed.
    pub message_id: Option<String>,
}

/// One message with its full content (`BODY.PEEK[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedBody {
    /// The message's UID in the selected mailbox.
    pub uid: u32,
    /// The exact bytes of the message, sharing the receive buffer.
    pub body: Bytes,
    /// INTERNALDATE, with the server's zone offset.
    pub internal_date: DateTime<FixedOffset>,
    /// System flags and keywords, without `\Recent`.
    pub flags: Vec<String>,
}

/// What the server stores of a message it holds ([`Session::fetch_sizes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSize {
    /// The message's UID in the selected mailbox.
    pub uid: u32,
    /// `RFC822.SIZE` in octets.
    pub size: u32,
    /// `DIGEST.SHA1` as 40 lowercase hex digits: the SHA-1 of the bytes the server stores,
    /// asked for where it advertises `DIGEST=SHA1` (Cyrus IMAP). `None` elsewhere.
    pub sha1: Option<String>,
}

/// How `uid_store_flags` changes flags (RFC 3501 §6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// `+FLAGS.SILENT`: set these flags, keep the others.
    Add,
    /// `-FLAGS.SILENT`: clear these flags, keep the others.
    Remove,
    /// `FLAGS.SILENT`: the message ends up with exactly these flags.
    Replace,
}

/// The Message-ID from a `HEADER.FIELDS (MESSAGE-ID)` section.
pub(crate) fn message_id_from_header(header: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(header);
    let mut value: Option<String> = None;
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        match &mut value {
            Some(v) if line.starts_with([' ', '\t']) => {
                v.push(' ');
                v.push_str(line.trim());
            }
            Some(_) => break,
            None => {
                if let Some((name, rest)) = line.split_once(':')
                    && name.trim().eq_ignore_ascii_case("message-id")
                {
                    value = Some(rest.trim().to_string());
                }
            }
        }
    }
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Fetched flags without `\Recent`: it is per-session state, never copied (RFC 3501 §2.3.2).
fn flags_of(v: &[std::borrow::Cow<'_, str>]) -> Vec<String> {
    v.iter()
        .filter(|f| !is_recent(f))
        .map(|f| f.to_string())
        .collect()
}

/// A FETCH line that cannot be parsed, in the answer to `command`: an error, never skipped
/// (the message it describes would silently not be copied). Other unparsed lines are left
/// alone: an unknown untagged response is no reason to fail.
fn refuse_garbled_fetch(m: &Msg<'_>, command: &str) -> Result<()> {
    match m {
        Msg::Unparsed(raw) if unparsed_name(raw).as_deref() == Some("FETCH") => {
            Err(Error::malformed(command, raw))
        }
        _ => Ok(()),
    }
}

/// Collected attributes of one FETCH response.
#[derive(Default)]
struct Parts {
    uid: Option<u32>,
    flags: Option<Vec<String>>,
    date: Option<String>,
    size: Option<u32>,
    modseq: Option<u64>,
    header: Option<Vec<u8>>,
    body: Option<(usize, usize)>,
}

fn collect(attrs: &[AttributeValue<'_>], frame: &[u8]) -> Parts {
    let mut p = Parts::default();
    for a in attrs {
        match a {
            AttributeValue::Uid(u) => p.uid = Some(*u),
            AttributeValue::Flags(f) => p.flags = Some(flags_of(f)),
            AttributeValue::InternalDate(d) => p.date = Some(d.to_string()),
            AttributeValue::Rfc822Size(s) => p.size = Some(*s),
            AttributeValue::ModSeq(m) => p.modseq = Some(*m),
            AttributeValue::BodySection {
                section: None,
                data: Some(d),
                ..
            }
            | AttributeValue::Rfc822(Some(d)) => {
                // The literal borrows the frame: remember where, to slice without copying.
                let start = d.as_ptr() as usize - frame.as_ptr() as usize;
                p.body = Some((start, start + d.len()));
            }
            AttributeValue::BodySection {
                section: Some(_),
                data,
                ..
            } => p.header = Some(data.as_deref().unwrap_or_default().to_vec()),
            _ => {}
        }
    }
    p
}

/// What body fetches in flight answered next ([`Session::next_body_of`]).
#[derive(Debug)]
pub enum BodyEvent {
    /// One message.
    Body(FetchedBody),
    /// The command `tag` completed with OK; `text` is the server's, with its response code in
    /// brackets when it sent one.
    Done {
        /// The completed command's tag.
        tag: String,
        /// The server's completion text.
        text: String,
    },
}

/// The message in a FETCH response to a body fetch, or None for an unsolicited FETCH (a flag
/// change by another client).
fn fetched_body(
    attrs: &[imap_proto::AttributeValue<'_>],
    frame: &Bytes,
) -> Result<Option<FetchedBody>> {
    let p = collect(attrs, frame);
    let (Some(uid), Some((start, end))) = (p.uid, p.body) else {
        if p.body.is_some() {
            // A message without a usable UID: it could not be told apart from the others, nor
            // recorded.
            return Err(Error::malformed("UID FETCH BODY.PEEK[]", frame));
        }
        return Ok(None);
    };
    let date = p
        .date
        .ok_or_else(|| Error::Protocol(format!("FETCH of uid {uid} lacks INTERNALDATE")))?;
    Ok(Some(FetchedBody {
        uid,
        body: frame.slice(start..end),
        internal_date: parse_internal_date(&date)?,
        flags: p.flags.unwrap_or_default(),
    }))
}

fn meta_line(uids: &UidSet) -> String {
    format!(
        "UID FETCH {uids} (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
    )
}

fn sizes_line(uids: &UidSet, digest: bool) -> String {
    match digest {
        true => format!("UID FETCH {uids} (UID RFC822.SIZE DIGEST.SHA1)"),
        false => format!("UID FETCH {uids} (UID RFC822.SIZE)"),
    }
}

/// The items of a one-line FETCH response that imap-proto cannot parse (it knows no
/// `DIGEST.SHA1`): `* 7 FETCH (UID 7 DIGEST.SHA1 5d35... RFC822.SIZE 52)` gives
/// `[("UID", "7"), ("DIGEST.SHA1", "5d35..."), ("RFC822.SIZE", "52")]`, names in upper case.
/// A parenthesized value (FLAGS) or a quoted one is kept whole; `None` for anything else: a
/// literal, unbalanced parentheses, another response.
fn simple_fetch_items(frame: &[u8]) -> Option<Vec<(String, String)>> {
    let line = std::str::from_utf8(frame)
        .ok()?
        .trim_end_matches(['\r', '\n']);
    let rest = line.strip_prefix("* ")?;
    let (seq, rest) = rest.split_once(' ')?;
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (name, rest) = rest.split_once(' ')?;
    if !name.eq_ignore_ascii_case("FETCH") || rest.contains('{') {
        return None;
    }
    let inner = rest.trim_end().strip_prefix('(')?.strip_suffix(')')?;
    let mut tokens = Vec::new();
    let mut chars = inner.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c == ' ' {
            chars.next();
            continue;
        }
        let mut depth = 0i32;
        let mut quoted = false;
        let mut end = inner.len();
        while let Some(&(i, c)) = chars.peek() {
            match c {
                '"' => quoted = !quoted,
                '\\' if quoted => {
                    chars.next();
                }
                '(' if !quoted => depth += 1,
                ')' if !quoted => depth -= 1,
                ' ' if !quoted && depth == 0 => {
                    end = i;
                    break;
                }
                _ => {}
            }
            if depth < 0 {
                return None;
            }
            chars.next();
        }
        if depth != 0 || quoted {
            return None;
        }
        tokens.push(&inner[start..end]);
    }
    if tokens.len() % 2 != 0 {
        return None;
    }
    Some(
        tokens
            .chunks(2)
            .map(|p| (p[0].to_ascii_uppercase(), p[1].to_string()))
            .collect(),
    )
}

/// A `DIGEST.SHA1` value: 40 hex digits, returned in lower case.
fn sha1_hex(v: &str) -> Option<String> {
    (v.len() == 40 && v.bytes().all(|b| b.is_ascii_hexdigit())).then(|| v.to_ascii_lowercase())
}

fn bodies_line(uids: &UidSet) -> String {
    format!("UID FETCH {uids} (UID FLAGS INTERNALDATE BODY.PEEK[])")
}

impl Session {
    fn require_selected(&self, what: &str) -> Result<()> {
        if self.selected.is_none() {
            return Err(Error::InvalidInput(format!(
                "{what} needs a selected mailbox (call examine or select first)"
            )));
        }
        Ok(())
    }

    /// Sends [`Session::fetch_meta`] of `uids` ahead ([`Session::prefetch`]), behind an
    /// EXAMINE sent ahead for instance; `fetch_meta` with the same set reads its answer.
    pub async fn prefetch_fetch_meta(&mut self, uids: &UidSet) -> Result<()> {
        match uids.is_empty() {
            true => Ok(()),
            false => self.prefetch(meta_line(uids)).await,
        }
    }

    /// Sends [`Session::fetch_sizes`] of `uids` ahead ([`Session::prefetch`]).
    pub async fn prefetch_fetch_sizes(&mut self, uids: &UidSet) -> Result<()> {
        match uids.is_empty() {
            true => Ok(()),
            false => {
                let line = sizes_line(uids, self.offers_sha1_digest());
                self.prefetch(line).await
            }
        }
    }

    /// Whether the server offers the `DIGEST.SHA1` fetch item (capability `DIGEST=SHA1`).
    pub fn offers_sha1_digest(&self) -> bool {
        self.capabilities().has("DIGEST=SHA1")
    }

    /// Sends `UID FETCH uids (UID FLAGS INTERNALDATE BODY.PEEK[])` and returns its tag, for
    /// [`Session::next_body_of`] to read; with `behind`, right behind body fetches of the
    /// caller's still in flight (the next batch asked for while one streams, so that the
    /// server never waits a round trip for it), else after finishing anything outstanding.
    /// Servers may run such fetches at once and interleave their answers (Dovecot does):
    /// each message says its UID, and `next_body_of` names the command each completion ends.
    pub async fn send_fetch_bodies(&mut self, uids: &UidSet, behind: bool) -> Result<String> {
        self.require_selected("UID FETCH")?;
        if uids.is_empty() {
            return Err(Error::InvalidInput("a body fetch of no message".into()));
        }
        let line = bodies_line(uids);
        match behind {
            true => self.send_behind(&line).await,
            false => self.send(&line).await,
        }
    }

    /// The next answer to the body fetches `tags` ([`Session::send_fetch_bodies`]): a
    /// message, or the completion of one of them. A completion with NO or BAD is an error.
    pub async fn next_body_of<T: AsRef<str>>(&mut self, tags: &[T]) -> Result<BodyEvent> {
        loop {
            let frame = self.read_frame().await?;
            match classify(&frame) {
                Msg::Tagged(t) => {
                    self.outstanding.retain(|x| *x != t.tag);
                    if tags.iter().any(|x| x.as_ref() == t.tag) {
                        let text = match &t.code {
                            Some(c) => format!("[{c}] {}", t.text),
                            None => t.text.clone(),
                        };
                        let tag = t.tag.clone();
                        t.into_result("UID FETCH BODY.PEEK[]")?;
                        return Ok(BodyEvent::Done { tag, text });
                    }
                }
                Msg::Bye { code, text } => return Err(self.note(Error::Bye { code, text })),
                m @ Msg::Unparsed(_) => refuse_garbled_fetch(&m, "UID FETCH BODY.PEEK[]")?,
                Msg::Data(Response::Fetch(_, attrs)) => {
                    if let Some(b) = fetched_body(&attrs, &frame)? {
                        return Ok(BodyEvent::Body(b));
                    }
                }
                _ => {}
            }
        }
    }

    /// `UID FETCH uids (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])`.
    /// An empty set returns nothing without asking the server.
    pub async fn fetch_meta(&mut self, uids: &UidSet) -> Result<Vec<MessageMeta>> {
        let span = self.span.clone();
        async move {
            self.require_selected("UID FETCH")?;
            if uids.is_empty() {
                return Ok(Vec::new());
            }
            let line = meta_line(uids);
            let mut out = Vec::new();
            let mut bad = None;
            self.run(&line, "UID FETCH", |m, frame| {
                refuse_garbled_fetch(m, "UID FETCH")?;
                if let Msg::Data(Response::Fetch(_, attrs)) = m {
                    let p = collect(attrs, &[]);
                    let has_data = p.date.is_some() || p.size.is_some() || p.header.is_some();
                    let (Some(uid), Some(date), Some(size)) = (p.uid, p.date, p.size) else {
                        if has_data {
                            // Message data without a usable UID (or half of it): a message
                            // this listing would silently lack.
                            return Err(Error::malformed("UID FETCH", frame));
                        }
                        // Unsolicited FETCH (e.g. a flag change by another client).
                        return Ok(());
                    };
                    match parse_internal_date(&date) {
                        Ok(internal_date) => out.push(MessageMeta {
                            uid,
                            flags: p.flags.unwrap_or_default(),
                            internal_date,
                            size,
                            message_id: p.header.as_deref().and_then(message_id_from_header),
                        }),
                        Err(e) => bad = Some(e),
                    }
                }
                Ok(())
            })
            .await?;
            match bad {
                Some(e) => Err(e),
                None => Ok(out),
            }
        }
        .instrument(span)
        .await
    }

    /// `UID FETCH uids (UID RFC822.SIZE)` (RFC 3501 §6.4.5): the size the server stores of
    /// each message, to check what landed after APPEND; with `DIGEST.SHA1` too where the
    /// server offers it ([`Session::offers_sha1_digest`]), the SHA-1 of what it stores, so a
    /// change that keeps the size is seen without reading the message back. An empty set
    /// returns nothing without asking the server.
    pub async fn fetch_sizes(&mut self, uids: &UidSet) -> Result<Vec<StoredSize>> {
        let span = self.span.clone();
        async move {
            self.require_selected("UID FETCH")?;
            if uids.is_empty() {
                return Ok(Vec::new());
            }
            let digest = self.offers_sha1_digest();
            let line = sizes_line(uids, digest);
            let mut out = Vec::new();
            self.run(&line, "UID FETCH", |m, frame| {
                refuse_garbled_fetch(m, "UID FETCH")?;
                let Msg::Data(Response::Fetch(_, attrs)) = m else {
                    return Ok(());
                };
                let p = collect(attrs, &[]);
                let (uid, size) = (p.uid, p.size);
                // imap-proto reads DIGEST.SHA1 as an item it does not know and drops its
                // value: the digest is taken from the line itself.
                let unknown = attrs.iter().any(|a| matches!(a, AttributeValue::Unknown));
                let sha1 = match (digest && unknown, uid.and(size)) {
                    (true, Some(_)) => {
                        let items = simple_fetch_items(frame)
                            .ok_or_else(|| Error::malformed("UID FETCH", frame))?;
                        match items.iter().find(|(k, _)| k == "DIGEST.SHA1") {
                            Some((_, v)) if v.eq_ignore_ascii_case("NIL") => None,
                            Some((_, v)) => Some(
                                sha1_hex(v).ok_or_else(|| Error::malformed("UID FETCH", frame))?,
                            ),
                            None => None,
                        }
                    }
                    _ => None,
                };
                match (uid, size) {
                    (Some(uid), Some(size)) => out.push(StoredSize { uid, size, sha1 }),
                    (None, Some(_)) => return Err(Error::malformed("UID FETCH", frame)),
                    // Unsolicited FETCH (e.g. a flag change by another client).
                    _ => {}
                }
                Ok(())
            })
            .await?;
            Ok(out)
        }
        .instrument(span)
        .await
    }

    /// Selected header fields of messages, without touching their flags:
    /// `UID FETCH uids (UID BODY.PEEK[HEADER.FIELDS (fields)])` (RFC 3501 §6.4.5). Returns
    /// (uid, the raw header lines). Used to describe messages that are not copied.
    pub async fn fetch_headers(
        &mut self,
        uids: &UidSet,
        fields: &[&str],
    ) -> Result<Vec<(u32, Vec<u8>)>> {
        let span = self.span.clone();
        async move {
            self.require_selected("UID FETCH")?;
            if fields.is_empty()
                || fields.iter().any(|f| {
                    f.is_empty() || !f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
            {
                return Err(Error::InvalidInput(format!(
                    "invalid header field list {fields:?}"
                )));
            }
            if uids.is_empty() {
                return Ok(Vec::new());
            }
            let line = format!(
                "UID FETCH {uids} (UID BODY.PEEK[HEADER.FIELDS ({})])",
                fields.join(" ")
            );
            let mut out = Vec::new();
            self.run(&line, "UID FETCH", |m, _| {
                refuse_garbled_fetch(m, "UID FETCH")?;
                if let Msg::Data(Response::Fetch(_, attrs)) = m {
                    let p = collect(attrs, &[]);
                    if let Some(uid) = p.uid {
                        out.push((uid, p.header.unwrap_or_default()));
                    }
                }
                Ok(())
            })
            .await?;
            Ok(out)
        }
        .instrument(span)
        .await
    }

    /// Flags of messages whose MODSEQ is above `modseq`: (uid, flags, modseq).
    /// `UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE modseq)`, RFC 7162 §3.1.4.1.
    pub async fn fetch_flags_changed_since(
        &mut self,
        modseq: u64,
    ) -> Result<Vec<(u32, Vec<String>, u64)>> {
        let span = self.span.clone();
        async move {
            if !self.capabilities().has("CONDSTORE") {
                return Err(Error::Unsupported {
                    what: "CONDSTORE".into(),
                });
            }
            self.require_selected("UID FETCH")?;
            let line = format!("UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE {modseq})");
            let mut out = Vec::new();
            self.run(&line, "UID FETCH CHANGEDSINCE", |m, _| {
                refuse_garbled_fetch(m, "UID FETCH CHANGEDSINCE")?;
                if let Msg::Data(Response::Fetch(_, attrs)) = m {
                    let p = collect(attrs, &[]);
                    if let (Some(uid), Some(flags), Some(ms)) = (p.uid, p.flags, p.modseq) {
                        out.push((uid, flags, ms));
                    }
                }
                Ok(())
            })
            .await?;
            Ok(out)
        }
        .instrument(span)
        .await
    }

    /// Streams `UID FETCH uids (UID FLAGS INTERNALDATE BODY.PEEK[])`, one message at a time.
    /// The stream ends with an error if the server completes the command with NO or BAD.
    /// Dropping it early is fine: the next command first reads the rest. An empty set yields
    /// nothing without asking the server.
    pub fn fetch_bodies(&mut self, uids: &UidSet) -> impl Stream<Item = Result<FetchedBody>> + '_ {
        enum State {
            Start(String),
            Running(String),
            Done,
        }
        let start = match self.require_selected("UID FETCH") {
            Ok(()) if uids.is_empty() => State::Done,
            Ok(()) => State::Start(bodies_line(uids)),
            Err(e) => {
                return futures::stream::once(async { Err(e) }).left_stream();
            }
        };
        futures::stream::unfold((self, start), |(session, state)| async move {
            let tag = match state {
                State::Done => return None,
                State::Running(tag) => tag,
                State::Start(line) => match session.send(&line).await {
                    Ok(tag) => tag,
                    Err(e) => return Some((Err(e), (session, State::Done))),
                },
            };
            match session.next_body(&tag).await {
                Ok(Some(b)) => Some((Ok(b), (session, State::Running(tag)))),
                Ok(None) => None,
                Err(e) => Some((Err(e), (session, State::Done))),
            }
        })
        .right_stream()
    }

    async fn next_body(&mut self, tag: &str) -> Result<Option<FetchedBody>> {
        match self.next_body_of(&[tag]).await? {
            BodyEvent::Body(b) => Ok(Some(b)),
            BodyEvent::Done { .. } => Ok(None),
        }
    }

    /// `UID SEARCH key` (RFC 3501 §6.4.4): the UIDs of the matching messages, sorted.
    pub async fn uid_search(&mut self, key: &SearchKey) -> Result<Vec<u32>> {
        let span = self.span.clone();
        async move {
            let cmd = key.command()?;
            self.require_selected("UID SEARCH")?;
            let mut out = Vec::new();
            self.run_command(&cmd, "UID SEARCH", |m, _| {
                if let Msg::Data(Response::MailboxData(MailboxDatum::Search(ids))) = m {
                    out.extend_from_slice(ids);
                }
                Ok(())
            })
            .await?;
            out.sort_unstable();
            out.dedup();
            Ok(out)
        }
        .instrument(span)
        .await
    }

    /// `UID STORE uids (+|-)FLAGS.SILENT (flags)` (RFC 3501 §6.4.6). `\Recent` is dropped.
    /// An empty set changes nothing and sends nothing.
    pub async fn uid_store_flags(
        &mut self,
        uids: &UidSet,
        op: FlagOp,
        flags: &[String],
    ) -> Result<()> {
        let span = self.span.clone();
        async move {
            self.require_selected("UID STORE")?;
            let item = match op {
                FlagOp::Add => "+FLAGS.SILENT",
                FlagOp::Remove => "-FLAGS.SILENT",
                FlagOp::Replace => "FLAGS.SILENT",
            };
            let list = flag_list(flags)?;
            if uids.is_empty() || (list == "()" && op != FlagOp::Replace) {
                return Ok(());
            }
            self.run(
                &format!("UID STORE {uids} {item} {list}"),
                "UID STORE",
                |_, _| Ok(()),
            )
            .await?;
            Ok(())
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_is_found_and_unfolded() {
        assert_eq!(
            message_id_from_header(b"Message-ID: <a@b>\r\n\r\n").as_deref(),
            Some("<a@b>")
        );
        assert_eq!(
            message_id_from_header(b"message-id:\r\n <long@x>\r\n\r\n").as_deref(),
            Some("<long@x>")
        );
        assert_eq!(message_id_from_header(b"\r\n"), None);
        assert_eq!(message_id_from_header(b"Message-ID: \r\n\r\n"), None);
    }

    #[test]
    fn digest_fetch_items_are_read_in_any_order_and_odd_lines_are_refused() {
        let cyrus = b"* 1 FETCH (UID 1 DIGEST.SHA1 5D35aab503701a7a323fd4d58a016d5e35d7efd9 RFC822.SIZE 52)\r\n";
        // imap-proto drops the value of an item it does not know.
        let Msg::Data(Response::Fetch(_, attrs)) = classify(cyrus) else {
            panic!("not a FETCH")
        };
        assert!(matches!(attrs[1], AttributeValue::Unknown));
        let items = simple_fetch_items(cyrus).unwrap();
        assert_eq!(
            items,
            [
                ("UID".to_string(), "1".to_string()),
                (
                    "DIGEST.SHA1".into(),
                    "5D35aab503701a7a323fd4d58a016d5e35d7efd9".into()
                ),
                ("RFC822.SIZE".into(), "52".into()),
            ]
        );
        assert_eq!(
            sha1_hex(&items[1].1).as_deref(),
            Some("5d35aab503701a7a323fd4d58a016d5e35d7efd9")
        );
        assert_eq!(sha1_hex("5d35"), None);
        assert_eq!(sha1_hex(&"g".repeat(40)), None);
        // A flag list (another client's change reported in the same line) is one value.
        let flags = simple_fetch_items(
            b"* 2 FETCH (FLAGS (\\Seen \\Answered) UID 9 RFC822.SIZE 3 DIGEST.SHA1 NIL)\r\n",
        )
        .unwrap();
        assert_eq!(flags[0].1, "(\\Seen \\Answered)");
        assert_eq!(flags[1], ("UID".into(), "9".into()));
        assert_eq!(flags[3].1, "NIL");
        // A literal, an odd item count, unbalanced parentheses or another response: none.
        assert_eq!(
            simple_fetch_items(b"* 1 FETCH (UID 1 BODY[] {3}\r\nabc)\r\n"),
            None
        );
        assert_eq!(
            simple_fetch_items(b"* 1 FETCH (UID 1 RFC822.SIZE)\r\n"),
            None
        );
        assert_eq!(
            simple_fetch_items(b"* 1 FETCH (UID (1 RFC822.SIZE 2)\r\n"),
            None
        );
        assert_eq!(simple_fetch_items(b"* 1 EXISTS\r\n"), None);
    }

    #[test]
    fn body_is_sliced_from_the_frame() {
        let frame: &[u8] =
            b"* 1 FETCH (UID 7 FLAGS (\\Seen) INTERNALDATE \" 5-Nov-2023 22:13:20 +0100\" BODY[] {4}\r\n\xff\x00\r\n)\r\n";
        let Msg::Data(Response::Fetch(_, attrs)) = classify(frame) else {
            panic!()
        };
        let p = collect(&attrs, frame);
        let (s, e) = p.body.unwrap();
        assert_eq!(&frame[s..e], b"\xff\x00\r\n");
        assert_eq!(p.uid, Some(7));
    }

    #[test]
    fn a_body_without_a_uid_is_seen() {
        // imap-proto reads `UID three` as an unknown attribute and goes on.
        let frame: &[u8] = b"* 1 FETCH (UID three BODY[] {2}\r\nab)\r\n";
        let Msg::Data(Response::Fetch(_, attrs)) = classify(frame) else {
            panic!()
        };
        let p = collect(&attrs, frame);
        assert!(p.uid.is_none() && p.body.is_some());
    }
}

//! Pipelined APPEND (RFC 3501 §6.3.11) with non-synchronizing literals (LITERAL+ / LITERAL-,
//! RFC 7888), MULTIAPPEND (RFC 3502) and UIDPLUS APPENDUID (RFC 4315 §3).
//!
//! With MULTIAPPEND and LITERAL+ consecutive messages share one command,
//! `TAG APPEND mbox (flags) "date" {n+}` CRLF bytes, then ` (flags) "date" {n+}` CRLF bytes
//! for each further message, and a final CRLF. A server commits its mailbox index once per
//! command, so this is much cheaper for it than one command per message. The command is
//! atomic (RFC 3502 §6.3.11): a refusal means none of its messages was appended, so they are
//! sent again one per command, and the one the server does not take is refused on its own.
//! APPENDUID then carries one UID per message, in order.
//!
//! With LITERAL+ alone each message goes out as its own command without waiting, up to a
//! window of commands and bytes in flight; completions are read as they arrive. Without it
//! (or over LITERAL-'s 4,096 bytes), each literal waits for the server's `+`, and the
//! completions of earlier commands are read while it waits: one round trip per message.
//! Literals are written as raw bytes, so 8-bit content passes unchanged.

use std::collections::HashMap;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};
use tracing::Instrument;

use crate::error::{Error, Result, ServerRefusal};
use crate::response::{Msg, Tagged, classify};
use crate::session::Session;
use crate::wire::{flag_list, format_internal_date, mailbox_arg};

/// Messages per MULTIAPPEND command. Large enough to amortise the server's per-command
/// commit; small enough that a refused command costs little to send again.
pub const MULTIAPPEND_MAX_MESSAGES: usize = 4096;

/// Literal bytes per MULTIAPPEND command (one larger message may still start a command).
const MULTI_MAX_BYTES: usize = 8 * 1024 * 1024;

/// Messages up to this size are written together with their command text in one write,
/// which keeps packets and TLS records few.
const COALESCE_MAX: usize = 64 * 1024;

/// Whether a refused MULTIAPPEND command is a refusal of MULTIAPPEND itself (BAD, or NO
/// without a code that one of its messages explains: size, quota, a limit, a temporary
/// condition), after which the connection stops using it.
fn refuses_multiappend(r: &ServerRefusal) -> bool {
    let per_message = matches!(
        r.code.as_deref().map(str::to_ascii_uppercase).as_deref(),
        Some("TOOBIG" | "OVERQUOTA" | "LIMIT" | "INUSE" | "UNAVAILABLE" | "SERVERBUG")
    );
    r.kind == crate::error::RefusalKind::Bad || !(per_message || r.is_retryable())
}

/// The fate of one pushed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The caller's id from [`Appender::push`].
    pub id: u64,
    /// `Ok(Some(uid))` with APPENDUID, `Ok(None)` without UIDPLUS, `Err` when the server
    /// refused this message (too big, over quota, ...); the connection stays usable.
    pub result: std::result::Result<Option<u32>, ServerRefusal>,
}

/// One message of a command in flight. Messages of a MULTIAPPEND command keep their body
/// until the command completes, to be sent again one by one should it be refused. The body
/// is the caller's shared buffer (see [`Appender::push_bytes`]), not a copy.
#[derive(Debug)]
struct Part {
    id: u64,
    size: usize,
    resend: Option<Resend>,
}

#[derive(Debug)]
struct Resend {
    body: Bytes,
    flags: String,
    date: String,
}

#[derive(Debug)]
struct InFlight {
    parts: Vec<Part>,
    size: usize,
}

/// Appends many messages to one mailbox over one connection. Create with
/// [`Session::appender`]; call [`finish`](Appender::finish) to collect the last outcomes.
#[derive(Debug)]
pub struct Appender<'a> {
    session: &'a mut Session,
    folder: String,
    /// The quoted mailbox argument, or why the name cannot be sent.
    mailbox: std::result::Result<String, String>,
    window_bytes: usize,
    window_msgs: usize,
    in_flight: HashMap<String, InFlight>,
    bytes_in_flight: usize,
    /// Messages of refused MULTIAPPEND commands, to be sent again one per command.
    refused: Vec<Part>,
    uid_validity: Option<u32>,
}

impl Session {
    /// A pipelined appender into `folder`. At most `window_msgs` commands and about
    /// `window_bytes` of literal data are in flight at once (one message always may be).
    /// With MULTIAPPEND and LITERAL+ a command carries up to MULTIAPPEND_MAX_MESSAGES messages
    /// and a quarter of `window_bytes`.
    pub fn appender(
        &mut self,
        folder: &str,
        window_bytes: usize,
        window_msgs: usize,
    ) -> Appender<'_> {
        Appender {
            mailbox: mailbox_arg(folder).map_err(|e| match e {
                Error::InvalidInput(m) => m,
                other => other.to_string(),
            }),
            folder: folder.to_string(),
            session: self,
            window_bytes: window_bytes.max(1),
            window_msgs: window_msgs.max(1),
            in_flight: HashMap::new(),
            bytes_in_flight: 0,
            refused: Vec::new(),
            uid_validity: None,
        }
    }
}

impl Appender<'_> {
    /// Sends one message. Returns the outcomes of earlier messages that completed meanwhile;
    /// waits only as long as needed to stay within the window.
    ///
    /// With MULTIAPPEND the appender keeps the message until its command completes, which
    /// takes a copy of `body` here; [`push_bytes`](Appender::push_bytes) shares the caller's
    /// buffer instead.
    pub async fn push(
        &mut self,
        id: u64,
        body: &[u8],
        flags: &[String],
        internal_date: DateTime<FixedOffset>,
    ) -> Result<Vec<AppendOutcome>> {
        self.push_inner(id, body, None, flags, internal_date).await
    }

    /// Like [`push`](Appender::push), for a body held in shared [`Bytes`]: what the
    /// appender keeps of an in-flight message is a reference to this buffer, never a copy,
    /// so a large message is in memory once. The buffer is released when the message's
    /// outcome has been returned.
    pub async fn push_bytes(
        &mut self,
        id: u64,
        body: Bytes,
        flags: &[String],
        internal_date: DateTime<FixedOffset>,
    ) -> Result<Vec<AppendOutcome>> {
        let view = body.clone();
        self.push_inner(id, &view, Some(body), flags, internal_date)
            .await
    }

    async fn push_inner(
        &mut self,
        id: u64,
        body: &[u8],
        owned: Option<Bytes>,
        flags: &[String],
        internal_date: DateTime<FixedOffset>,
    ) -> Result<Vec<AppendOutcome>> {
        let span = self.session.span.clone();
        async move {
            let mailbox = match &self.mailbox {
                Ok(m) => m.clone(),
                Err(e) => {
                    return Err(Error::InvalidInput(format!(
                        "cannot append to {:?}: {e}",
                        self.folder
                    )));
                }
            };
            let flags = flag_list(flags)?;
            let date = format_internal_date(&internal_date);
            let caps = self.session.capabilities();
            let literal_plus = caps.has("LITERAL+");
            let multi =
                literal_plus && caps.has("MULTIAPPEND") && !self.session.multiappend_refused;
            let non_sync = caps.allows_non_sync_literal(body.len());
            let mut done = Vec::new();
            if self.in_flight.is_empty() {
                // First use (or after a pause): settle anything another command left behind.
                self.session.drain_outstanding().await?;
            }
            self.collect_ready(&mut done)?;
            self.resend_refused(&mailbox, &mut done).await?;
            if multi {
                let owned = owned.unwrap_or_else(|| Bytes::copy_from_slice(body));
                self.push_multi(&mailbox, id, owned, flags, date, &mut done)
                    .await?;
                return Ok(done);
            }
            self.wait_for_room(body.len(), &mut done).await?;
            let tag = self.session.new_tag();
            let plus = if non_sync { "+" } else { "" };
            let head = format!(
                "{tag} APPEND {mailbox} {flags} {date} {{{}{plus}}}\r\n",
                body.len()
            );
            self.track(&tag, id, body.len(), None);
            self.session.outstanding.push(tag.clone());
            if non_sync {
                self.write_literal(head.as_bytes(), body).await?;
                self.collect_ready(&mut done)?;
            } else {
                // A synchronizing literal waits for the server's `+` (one round trip), but not
                // for the command's completion: that is read while the next message waits for
                // its own `+`, so a message costs one round trip, not two.
                self.session.write(&[head.as_bytes()]).await?;
                if self.wait_continuation(&tag, &mut done).await? {
                    self.session.write(&[body, b"\r\n"]).await?;
                }
                self.collect_ready(&mut done)?;
            }
            Ok(done)
        }
        .instrument(span)
        .await
    }

    /// Ends the MULTIAPPEND command being filled, so that its messages complete without
    /// waiting for more; call it when no further message is at hand for now. Returns the
    /// outcomes that arrived meanwhile, without waiting for any.
    pub async fn flush(&mut self) -> Result<Vec<AppendOutcome>> {
        let span = self.session.span.clone();
        async move {
            let mut done = Vec::new();
            self.close_open().await?;
            self.collect_ready(&mut done)?;
            Ok(done)
        }
        .instrument(span)
        .await
    }

    /// Waits for every message still in flight and returns their outcomes.
    pub async fn finish(mut self) -> Result<Vec<AppendOutcome>> {
        let span = self.session.span.clone();
        async move {
            let mut done = Vec::new();
            self.close_open().await?;
            loop {
                if !self.refused.is_empty() {
                    let mailbox = match &self.mailbox {
                        Ok(m) => m.clone(),
                        // Unreachable in practice: nothing was sent without a mailbox.
                        Err(e) => return Err(Error::InvalidInput(e.clone())),
                    };
                    self.resend_refused(&mailbox, &mut done).await?;
                }
                if self.in_flight.is_empty() {
                    break;
                }
                self.read_one(&mut done).await?;
            }
            if let Some(v) = self.uid_validity {
                tracing::debug!(folder = %self.folder, uid_validity = v, "append finished");
            }
            Ok(done)
        }
        .instrument(span)
        .await
    }

    /// Number of messages sent whose outcome is not known yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight
            .values()
            .map(|f| f.parts.len())
            .sum::<usize>()
            + self.refused.len()
    }

    /// UIDVALIDITY of the target mailbox as reported by APPENDUID, once known.
    pub fn uid_validity(&self) -> Option<u32> {
        self.uid_validity
    }

    /// Adds one message to the open MULTIAPPEND command, or starts one.
    async fn push_multi(
        &mut self,
        mailbox: &str,
        id: u64,
        body: Bytes,
        flags: String,
        date: String,
        done: &mut Vec<AppendOutcome>,
    ) -> Result<()> {
        if let Some(tag) = &self.session.unterminated {
            // A command holds at most a quarter of the window, so that the next ones stream
            // while its completion is on the way back: one command the size of the window
            // would leave the link idle for a round trip after each.
            let cap = MULTI_MAX_BYTES.min(self.window_bytes / 4).max(1);
            let full = self.in_flight.get(tag).is_none_or(|f| {
                f.parts.len() >= MULTIAPPEND_MAX_MESSAGES || f.size + body.len() > cap
            });
            if full || self.bytes_in_flight + body.len() > self.window_bytes {
                self.close_open().await?;
            }
        }
        let resend = Some(Resend {
            body: body.clone(),
            flags: flags.clone(),
            date: date.clone(),
        });
        match self.session.unterminated.clone() {
            Some(tag) => {
                let head = format!(" {flags} {date} {{{}+}}\r\n", body.len());
                self.track(&tag, id, body.len(), resend);
                self.write_literal_open(head.as_bytes(), &body).await?;
            }
            None => {
                self.wait_for_room(body.len(), done).await?;
                let tag = self.session.new_tag();
                let head = format!(
                    "{tag} APPEND {mailbox} {flags} {date} {{{}+}}\r\n",
                    body.len()
                );
                self.track(&tag, id, body.len(), resend);
                self.session.outstanding.push(tag.clone());
                self.session.unterminated = Some(tag);
                self.write_literal_open(head.as_bytes(), &body).await?;
            }
        }
        self.collect_ready(done)
    }

    /// Waits for completions until a new command of `size` bytes fits the window.
    async fn wait_for_room(&mut self, size: usize, done: &mut Vec<AppendOutcome>) -> Result<()> {
        while !self.in_flight.is_empty()
            && (self.in_flight.len() >= self.window_msgs
                || self.bytes_in_flight + size > self.window_bytes)
        {
            if self.session.unterminated.is_some() {
                self.close_open().await?;
            }
            self.read_one(done).await?;
        }
        Ok(())
    }

    fn track(&mut self, tag: &str, id: u64, size: usize, resend: Option<Resend>) {
        let f = self.in_flight.entry(tag.to_string()).or_insert(InFlight {
            parts: Vec::new(),
            size: 0,
        });
        f.parts.push(Part { id, size, resend });
        f.size += size;
        self.bytes_in_flight += size;
    }

    /// Writes a complete command ending in a literal.
    async fn write_literal(&mut self, head: &[u8], body: &[u8]) -> Result<()> {
        if body.len() <= COALESCE_MAX {
            let mut buf = Vec::with_capacity(head.len() + body.len() + 2);
            buf.extend_from_slice(head);
            buf.extend_from_slice(body);
            buf.extend_from_slice(b"\r\n");
            self.session.write(&[&buf]).await
        } else {
            self.session.write(&[head, body, b"\r\n"]).await
        }
    }

    /// Writes one message of an open MULTIAPPEND command (no final CRLF).
    async fn write_literal_open(&mut self, head: &[u8], body: &[u8]) -> Result<()> {
        if body.len() <= COALESCE_MAX {
            let mut buf = Vec::with_capacity(head.len() + body.len());
            buf.extend_from_slice(head);
            buf.extend_from_slice(body);
            self.session.write(&[&buf]).await
        } else {
            self.session.write(&[head, body]).await
        }
    }

    /// Sends the final CRLF of the open MULTIAPPEND command, if any.
    async fn close_open(&mut self) -> Result<()> {
        self.session.terminate_append().await
    }

    /// Sends the messages of refused MULTIAPPEND commands again, one per command, so that
    /// only a message the server will not take is refused.
    async fn resend_refused(&mut self, mailbox: &str, done: &mut Vec<AppendOutcome>) -> Result<()> {
        if self.refused.is_empty() {
            return Ok(());
        }
        self.close_open().await?;
        for part in std::mem::take(&mut self.refused) {
            let Some(r) = part.resend else { continue };
            self.wait_for_room(part.size, done).await?;
            let tag = self.session.new_tag();
            let head = format!(
                "{tag} APPEND {mailbox} {} {} {{{}+}}\r\n",
                r.flags,
                r.date,
                r.body.len()
            );
            self.track(&tag, part.id, part.size, None);
            self.session.outstanding.push(tag);
            self.write_literal(head.as_bytes(), &r.body).await?;
        }
        self.collect_ready(done)
    }

    /// Waits for `+` (true) or for the command's own completion (false: refused before
    /// the literal was sent).
    async fn wait_continuation(
        &mut self,
        tag: &str,
        done: &mut Vec<AppendOutcome>,
    ) -> Result<bool> {
        loop {
            let frame = self.session.read_frame().await?;
            match classify(&frame) {
                Msg::Continue(_) => return Ok(true),
                Msg::Tagged(t) => {
                    let own = t.tag == tag;
                    self.complete(t, done);
                    if own {
                        return Ok(false);
                    }
                }
                Msg::Bye { code, text } => {
                    return Err(self.session.note(Error::Bye { code, text }));
                }
                _ => {}
            }
        }
    }

    fn handle(&mut self, frame: &[u8], done: &mut Vec<AppendOutcome>) -> Result<()> {
        match classify(frame) {
            Msg::Tagged(t) => self.complete(t, done),
            Msg::Bye { code, text } => {
                return Err(self.session.note(Error::Bye { code, text }));
            }
            Msg::Continue(_) => {
                return Err(self.session.note(Error::Protocol(
                    "unexpected continuation request during APPEND".into(),
                )));
            }
            _ => {}
        }
        Ok(())
    }

    async fn read_one(&mut self, done: &mut Vec<AppendOutcome>) -> Result<()> {
        let frame = self.session.read_frame().await?;
        self.handle(&frame, done)
    }

    fn collect_ready(&mut self, done: &mut Vec<AppendOutcome>) -> Result<()> {
        loop {
            let frame = match self.session.conn.try_read_frame() {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(()),
                Err(e) => return Err(self.session.note(e)),
            };
            self.handle(&frame, done)?;
        }
    }

    fn complete(&mut self, t: Tagged, done: &mut Vec<AppendOutcome>) {
        self.session.outstanding.retain(|x| *x != t.tag);
        let Some(f) = self.in_flight.remove(&t.tag) else {
            tracing::debug!(tag = %t.tag, "discarding completion of an abandoned command");
            return;
        };
        // A completion can come before the command's final CRLF was sent: Dovecot answers NO
        // as soon as one message of a MULTIAPPEND fails and goes on reading the command (its
        // non-synchronizing literals cannot be skipped otherwise) up to that CRLF. So the
        // command stays open to be ended (`unterminated`), and nothing more is added to it:
        // `push_multi` finds it no longer in flight and ends it before starting the next.
        self.bytes_in_flight -= f.size;
        match t.refusal() {
            Some(r) if f.parts.len() > 1 => {
                // MULTIAPPEND is atomic: none of these messages was appended.
                tracing::debug!(
                    messages = f.parts.len(),
                    refusal = %r,
                    "server refused a MULTIAPPEND command; sending its messages one by one"
                );
                if refuses_multiappend(&r) && !self.session.multiappend_refused {
                    // Logged once per connection, not per command or message.
                    tracing::warn!(
                        refusal = %r,
                        "the server advertises MULTIAPPEND but refused it; this connection \
                         appends one message per command"
                    );
                    self.session.multiappend_refused = true;
                }
                self.refused.extend(f.parts);
            }
            Some(r) => {
                for p in f.parts {
                    tracing::debug!(id = p.id, refusal = %r, "server refused message");
                    done.push(AppendOutcome {
                        id: p.id,
                        result: Err(r.clone()),
                    });
                }
            }
            None => {
                if let Some((validity, _)) = &t.append_uid {
                    self.uid_validity = Some(*validity);
                }
                let uids = t.append_uids(f.parts.len());
                if uids.is_none() && t.append_uid.is_some() {
                    tracing::debug!(
                        tag = %t.tag,
                        messages = f.parts.len(),
                        "APPENDUID does not name one UID per message; UIDs left unknown"
                    );
                }
                for (i, p) in f.parts.into_iter().enumerate() {
                    done.push(AppendOutcome {
                        id: p.id,
                        result: Ok(uids.as_ref().map(|u| u[i])),
                    });
                }
            }
        }
    }
}

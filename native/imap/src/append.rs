//! Pipelined APPEND (RFC 3501 §6.3.11) with non-synchronizing literals (LITERAL+ / LITERAL-,
//! RFC 7888) and UIDPLUS APPENDUID (RFC 4315 §3).
//!
//! With LITERAL+ each message goes out as `TAG APPEND mbox (flags) "date" {n+}` CRLF bytes
//! CRLF without waiting, up to a window of messages and bytes in flight; completions are
//! read as they arrive. Without it, each literal waits for the server's `+`. The literal is
//! written as raw bytes, so 8-bit content passes unchanged.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset};
use tracing::Instrument;

use crate::error::{Error, Result, ServerRefusal};
use crate::response::{Msg, Tagged, classify};
use crate::session::Session;
use crate::wire::{flag_list, format_internal_date, mailbox_arg};

/// LITERAL- allows non-synchronizing literals up to this size (RFC 7888 §4).
const LITERAL_MINUS_MAX: usize = 4096;

/// The fate of one pushed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The caller's id from [`Appender::push`].
    pub id: u64,
    /// `Ok(Some(uid))` with APPENDUID, `Ok(None)` without UIDPLUS, `Err` when the server
    /// refused this message (too big, over quota, ...); the connection stays usable.
    pub result: std::result::Result<Option<u32>, ServerRefusal>,
}

#[derive(Debug)]
struct InFlight {
    id: u64,
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
    uid_validity: Option<u32>,
}

impl Session {
    /// A pipelined appender into `folder`. At most `window_msgs` commands and about
    /// `window_bytes` of literal data are in flight at once (one message always may be).
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
            uid_validity: None,
        }
    }
}

impl Appender<'_> {
    /// Sends one message. Returns the outcomes of earlier messages that completed meanwhile;
    /// waits only as long as needed to stay within the window.
    pub async fn push(
        &mut self,
        id: u64,
        body: &[u8],
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
            let non_sync =
                caps.has("LITERAL+") || (caps.has("LITERAL-") && body.len() <= LITERAL_MINUS_MAX);
            let mut done = Vec::new();
            if self.in_flight.is_empty() {
                // First use (or after a pause): settle anything another command left behind.
                self.session.drain_outstanding().await?;
            }
            self.collect_ready(&mut done)?;
            while !self.in_flight.is_empty()
                && (self.in_flight.len() >= self.window_msgs
                    || self.bytes_in_flight + body.len() > self.window_bytes)
            {
                self.read_one(&mut done).await?;
            }
            let tag = self.session.new_tag();
            let plus = if non_sync { "+" } else { "" };
            let head = format!(
                "{tag} APPEND {mailbox} {flags} {date} {{{}{plus}}}\r\n",
                body.len()
            );
            self.in_flight.insert(
                tag.clone(),
                InFlight {
                    id,
                    size: body.len(),
                },
            );
            self.bytes_in_flight += body.len();
            self.session.outstanding.push(tag.clone());
            if non_sync {
                // One write for small messages keeps packets and TLS records few.
                if body.len() <= 64 * 1024 {
                    let mut buf = Vec::with_capacity(head.len() + body.len() + 2);
                    buf.extend_from_slice(head.as_bytes());
                    buf.extend_from_slice(body);
                    buf.extend_from_slice(b"\r\n");
                    self.session.write(&[&buf]).await?;
                } else {
                    self.session
                        .write(&[head.as_bytes(), body, b"\r\n"])
                        .await?;
                }
                self.collect_ready(&mut done)?;
            } else {
                self.session.write(&[head.as_bytes()]).await?;
                if self.wait_continuation(&tag, &mut done).await? {
                    self.session.write(&[body, b"\r\n"]).await?;
                }
                while self.in_flight.contains_key(&tag) {
                    self.read_one(&mut done).await?;
                }
            }
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
            while !self.in_flight.is_empty() {
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
        self.in_flight.len()
    }

    /// UIDVALIDITY of the target mailbox as reported by APPENDUID, once known.
    pub fn uid_validity(&self) -> Option<u32> {
        self.uid_validity
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
        self.bytes_in_flight -= f.size;
        let result = match t.refusal() {
            Some(r) => {
                tracing::debug!(id = f.id, refusal = %r, "server refused message");
                Err(r)
            }
            None => {
                if let Some((validity, _)) = t.append_uid {
                    self.uid_validity = Some(validity);
                }
                Ok(t.append_uid.map(|(_, uid)| uid))
            }
        };
        done.push(AppendOutcome { id: f.id, result });
    }
}

//! Connecting, logging in, and the command/response loop every command uses.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use imap_proto::{Response, Status};
use tokio::net::TcpStream;
use tracing::{Instrument, Span};

use crate::auth::{Credentials, plain_payload, xoauth2_payload};
use crate::config::{Security, ServerConfig};
use crate::error::{Error, Result};
use crate::response::{Msg, Tagged, capability_name, classify, code_and_text};
use crate::secret::{ExposeSecret, SecretString};
use crate::tls;
use crate::transport::{Conn, Limits, Stream};
use crate::wire::{Command, is_quotable, quote};

/// LITERAL- allows non-synchronizing literals up to this size (RFC 7888 §4).
const LITERAL_MINUS_MAX: usize = 4096;

/// Capabilities the server advertised (RFC 3501 §7.2.1), upper-cased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities(BTreeSet<String>);

impl Capabilities {
    /// Whether `name` (e.g. `LITERAL+`, `UIDPLUS`, `AUTH=PLAIN`) is advertised.
    pub fn has(&self, name: &str) -> bool {
        self.0.contains(&name.to_ascii_uppercase())
    }

    /// Whether SASL mechanism `mech` is advertised (`AUTH=<mech>`).
    pub fn has_auth(&self, mech: &str) -> bool {
        self.has(&format!("AUTH={mech}"))
    }

    /// Whether a literal of `len` bytes may be sent without waiting for the server's `+`:
    /// always with LITERAL+, up to 4,096 bytes with LITERAL- (RFC 7888 §4).
    pub fn allows_non_sync_literal(&self, len: usize) -> bool {
        self.has("LITERAL+") || (self.has("LITERAL-") && len <= LITERAL_MINUS_MAX)
    }

    /// The largest message the server accepts for APPEND, from `APPENDLIMIT=<n>` (RFC 7889);
    /// `None` when it names no limit (also a bare `APPENDLIMIT`, which puts the limit per
    /// mailbox in STATUS/LIST).
    pub fn append_limit(&self) -> Option<u64> {
        self.0
            .iter()
            .find_map(|c| c.strip_prefix("APPENDLIMIT="))
            .and_then(|n| n.parse().ok())
    }

    /// All capabilities.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub(crate) fn from_names<I: IntoIterator<Item = String>>(names: I) -> Self {
        Capabilities(names.into_iter().map(|n| n.to_ascii_uppercase()).collect())
    }
}

/// An authenticated IMAP connection. One command at a time, except the pipelined
/// [`Appender`](crate::Appender).
#[derive(Debug)]
pub struct Session {
    pub(crate) conn: Conn,
    caps: Capabilities,
    next_tag: u64,
    /// Tags sent whose completion we have not read yet (a dropped stream or appender).
    pub(crate) outstanding: Vec<String>,
    /// Commands sent ahead of the call that reads their answer ([`Session::prefetch`]), in the
    /// order sent: (tag, command line).
    ahead: VecDeque<(String, String)>,
    /// A MULTIAPPEND command whose final CRLF has not been sent (RFC 3502): the appender
    /// keeps adding messages to it. Any other command terminates it first.
    pub(crate) unterminated: Option<String>,
    /// The server advertised MULTIAPPEND and refused a command of several messages for a
    /// reason none of them explains: this connection appends one message per command.
    pub(crate) multiappend_refused: bool,
    /// Why the connection cannot be used any more, and whether it was the connection that
    /// failed (I/O, a stall, BYE) rather than the server breaking the protocol.
    broken: Option<(String, bool)>,
    pub(crate) span: Span,
    pub(crate) selected: Option<String>,
    /// How long the greeting took once the connection was up ([`Session::greeting_wait`]).
    greeting_wait: Duration,
}

/// Opens a connection, secures it as `cfg.security` says, and logs in (RFC 3501 §6.2).
pub async fn connect(cfg: &ServerConfig, creds: &Credentials) -> Result<Session> {
    let span = tracing::info_span!(
        "imap",
        host = %cfg.host,
        port = cfg.port,
        security = ?cfg.security,
        user = %creds.user()
    );
    connect_inner(cfg, Some(creds), span.clone())
        .instrument(span)
        .await
}

/// Checks that an endpoint is reachable the way Exchange's Test-MigrationServerAvailability
/// does for IMAP: TCP connect, TLS (implicit or STARTTLS as `cfg.security` says, with the same
/// certificate checks as a real session) and the server's greeting, without logging in. Returns
/// the capabilities the server advertises before login.
pub async fn probe(cfg: &ServerConfig) -> Result<Capabilities> {
    let span = tracing::info_span!("imap-probe", host = %cfg.host, port = cfg.port, security = ?cfg.security);
    let s = connect_inner(cfg, None, span.clone())
        .instrument(span)
        .await?;
    let caps = s.caps.clone();
    // The answer to LOGOUT tells nothing more: not waited for (a round trip on a far server).
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
    });
    Ok(caps)
}

async fn connect_inner(
    cfg: &ServerConfig,
    creds: Option<&Credentials>,
    span: Span,
) -> Result<Session> {
    tls::install_default_provider();
    let tls_config = match cfg.security {
        Security::None => None,
        Security::Tls | Security::Ssl => {
            if cfg.accept_untrusted {
                tracing::warn!(
                    host = %cfg.host,
                    "accepting any server certificate for this connection (accept_untrusted)"
                );
            }
            Some(Arc::new(tls::client_config(
                &cfg.host,
                cfg.accept_untrusted,
                cfg.ca_file.as_deref(),
            )?))
        }
    };
    let t = cfg.timeouts;
    let limits = Limits {
        peer: cfg.peer(),
        idle: t.idle,
        min_rate: t.min_rate,
    };
    let tcp = match tokio::time::timeout(
        t.connect,
        TcpStream::connect((
            cfg.host.trim_start_matches('[').trim_end_matches(']'),
            cfg.port,
        )),
    )
    .await
    {
        Err(_) => {
            return Err(Error::Timeout {
                action: format!("{} accepted no connection", cfg.peer()),
                after: t.connect,
            });
        }
        Ok(Err(source)) => {
            return Err(Error::Connect {
                host: cfg.host.clone(),
                port: cfg.port,
                source,
            });
        }
        Ok(Ok(tcp)) => tcp,
    };
    // Tag, command and literal go out as separate writes; Nagle would delay each by an RTT.
    tcp.set_nodelay(true).map_err(|source| Error::Connect {
        host: cfg.host.clone(),
        port: cfg.port,
        source,
    })?;
    let stream = match (&tls_config, cfg.security) {
        (Some(tc), Security::Ssl) => tls_handshake(cfg, tc.clone(), tcp).await?,
        _ => Stream::Plain(tcp),
    };
    let mut s = Session {
        conn: Conn::new(stream, limits),
        caps: Capabilities::default(),
        next_tag: 0,
        outstanding: Vec::new(),
        ahead: VecDeque::new(),
        unterminated: None,
        multiappend_refused: false,
        broken: None,
        span,
        selected: None,
        greeting_wait: Duration::ZERO,
    };
    let up = std::time::Instant::now();
    let greeted = tokio::time::timeout(t.greeting, s.read_greeting()).await;
    s.greeting_wait = up.elapsed();
    let preauth = match greeted {
        Ok(r) => r.map_err(|e| greeting_error(cfg, e))?,
        Err(_) => {
            return Err(Error::Timeout {
                action: format!("{} sent no greeting", cfg.peer()),
                after: t.greeting,
            });
        }
    };
    match tokio::time::timeout(t.login, log_in(cfg, creds, tls_config, preauth, s)).await {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout {
            action: format!("login at {} did not complete", cfg.peer()),
            after: t.login,
        }),
    }
}

/// A greeting that is not IMAP names the server: a TLS or HTTP port given as plain IMAP.
fn greeting_error(cfg: &ServerConfig, e: Error) -> Error {
    match e {
        Error::Protocol(what) => Error::Protocol(format!("{}: {what}", cfg.peer())),
        other => other,
    }
}

/// From the greeting to logged in: capabilities, STARTTLS, authentication.
async fn log_in(
    cfg: &ServerConfig,
    creds: Option<&Credentials>,
    tls_config: Option<Arc<rustls::ClientConfig>>,
    preauth: bool,
    mut s: Session,
) -> Result<Session> {
    if s.caps.0.is_empty() {
        s.refresh_capabilities().await?;
    }
    if cfg.security == Security::Tls {
        if !s.caps.has("STARTTLS") {
            return Err(Error::Unsupported {
                what: "STARTTLS, which security Tls requires (nothing was sent in clear)".into(),
            });
        }
        s.run("STARTTLS", "STARTTLS", |_, _| Ok(())).await?;
        let tc = tls_config.ok_or_else(|| Error::Protocol("tls config missing".into()))?;
        let Session {
            conn,
            span,
            greeting_wait,
            ..
        } = s;
        let limits = conn.limits();
        let tcp = conn.into_plain()?;
        let stream = tls_handshake(cfg, tc, tcp).await?;
        s = Session {
            conn: Conn::new(stream, limits),
            caps: Capabilities::default(),
            next_tag: 100,
            outstanding: Vec::new(),
            ahead: VecDeque::new(),
            unterminated: None,
            multiappend_refused: false,
            broken: None,
            span,
            selected: None,
            greeting_wait,
        };
        // RFC 3501 §6.2.1: capabilities before STARTTLS must be discarded.
        s.refresh_capabilities().await?;
    }
    match creds {
        None => return Ok(s),
        Some(_) if preauth => tracing::info!("server pre-authenticated the connection"),
        Some(creds) => s.authenticate(cfg, creds).await?,
    }
    tracing::debug!(capabilities = ?s.caps, "logged in");
    if cfg.compress && s.caps.has("COMPRESS=DEFLATE") {
        s = s.start_compression().await?;
    }
    Ok(s)
}

async fn tls_handshake(
    cfg: &ServerConfig,
    config: Arc<rustls::ClientConfig>,
    tcp: TcpStream,
) -> Result<Stream> {
    let name = tls::server_name(&cfg.host)?;
    let connector = tokio_rustls::TlsConnector::from(config);
    match tokio::time::timeout(cfg.timeouts.tls, connector.connect(name, tcp)).await {
        Err(_) => Err(Error::Timeout {
            action: format!("tls handshake with {} did not complete", cfg.peer()),
            after: cfg.timeouts.tls,
        }),
        // The server closing or resetting the connection mid-handshake is a dropped
        // connection (worth another try), not a certificate or protocol problem.
        Ok(Err(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            ) =>
        {
            Err(Error::io(format!("tls handshake with {}", cfg.peer()), e))
        }
        Ok(Err(e)) => Err(Error::Tls {
            host: cfg.host.clone(),
            message: e.to_string(),
        }),
        Ok(Ok(tls)) => Ok(Stream::Tls(Box::new(tls))),
    }
}

impl Session {
    /// How long the server's greeting took once the connection was up (TCP, or the TLS
    /// handshake of implicit TLS): about one round trip, since a server greets as it accepts.
    /// A far server is worth more connections at once (`engine`'s folder workers).
    pub fn greeting_wait(&self) -> Duration {
        self.greeting_wait
    }

    /// Capabilities as advertised after login.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Refuses, before reading it, any literal larger than `max` bytes: a server announcing a
    /// message larger than the size limit the listing was planned with is not believed.
    pub fn limit_literals(&mut self, max: u64) {
        self.conn
            .limit_literals(usize::try_from(max).unwrap_or(usize::MAX));
    }

    /// Lets a fetched body of up to `bytes` be allocated whole as soon as the server announces
    /// it (by default at most 64 MiB is, so that a server announcing a gigabyte gets nothing
    /// allocated before sending): for a caller that has set that much memory aside.
    pub fn reserve_literals_up_to(&mut self, bytes: usize) {
        self.conn.reserve_literals_up_to(bytes);
    }

    /// Whether `COMPRESS=DEFLATE` (RFC 4978) is on for this connection.
    pub fn is_compressed(&self) -> bool {
        self.conn.is_compressed()
    }

    /// `COMPRESS DEFLATE` (RFC 4978 §3): on OK both directions are deflated from the next
    /// byte on. A NO or BAD leaves the connection as it was: compression is an optimization,
    /// never a reason to fail.
    async fn start_compression(mut self) -> Result<Session> {
        let tag = self.send("COMPRESS DEFLATE").await?;
        let done = self.finish_raw(&tag, |_, _| Ok(())).await?;
        if done.status != Status::Ok {
            tracing::info!(reply = %done.text, "server refused COMPRESS DEFLATE; going on uncompressed");
            return Ok(self);
        }
        self.conn = self.conn.into_deflate();
        tracing::debug!("COMPRESS=DEFLATE on");
        Ok(self)
    }

    /// Whether the connection can still be used (no I/O error, timeout or BYE so far).
    pub fn is_usable(&self) -> bool {
        self.broken.is_none()
    }

    /// Ends the session politely (LOGOUT, RFC 3501 §6.1.3).
    pub async fn logout(mut self) -> Result<()> {
        let span = self.span.clone();
        async move {
            if self.broken.is_some() {
                return Ok(());
            }
            let r = self.run("LOGOUT", "LOGOUT", |_, _| Ok(())).await;
            self.conn.shutdown().await;
            match r {
                Ok(_) | Err(Error::Bye { .. }) | Err(Error::Io { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        }
        .instrument(span)
        .await
    }

    /// `NOOP` (RFC 3501 §6.1.2): lets the server report what changed in the selected
    /// mailbox meanwhile, such as messages another connection appended.
    pub async fn noop(&mut self) -> Result<()> {
        let span = self.span.clone();
        async move { self.run("NOOP", "NOOP", |_, _| Ok(())).await.map(|_| ()) }
            .instrument(span)
            .await
    }

    pub(crate) fn new_tag(&mut self) -> String {
        self.next_tag += 1;
        format!("im{}", self.next_tag)
    }

    fn check_usable(&self) -> Result<()> {
        match &self.broken {
            // Reported as what broke it: a dropped connection is tried again like any other.
            Some((why, true)) => Err(Error::Io {
                action: "using the connection again".into(),
                source: std::io::Error::new(std::io::ErrorKind::NotConnected, why.clone()),
            }),
            Some((why, false)) => Err(Error::Protocol(format!("connection is unusable: {why}"))),
            None => Ok(()),
        }
    }

    /// Records that the connection is dead after `e`, if `e` means that.
    pub(crate) fn note(&mut self, e: Error) -> Error {
        if matches!(
            e,
            Error::Io { .. } | Error::Timeout { .. } | Error::Bye { .. } | Error::Protocol(_)
        ) && self.broken.is_none()
        {
            self.broken = Some((e.to_string(), !matches!(e, Error::Protocol(_))));
        }
        e
    }

    /// Reads one response, poisoning the session on I/O failure.
    pub(crate) async fn read_frame(&mut self) -> Result<Bytes> {
        match self.conn.read_frame().await {
            Ok(f) => Ok(f),
            Err(e) => Err(self.note(e)),
        }
    }

    /// Writes raw bytes, poisoning the session on failure.
    pub(crate) async fn write(&mut self, parts: &[&[u8]]) -> Result<()> {
        match self.conn.write_all(parts).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.note(e)),
        }
    }

    /// Ends an open MULTIAPPEND command (a dropped appender may leave one), so that the
    /// next command is not read as part of it.
    pub(crate) async fn terminate_append(&mut self) -> Result<()> {
        if self.unterminated.take().is_some() {
            self.check_usable()?;
            self.write(&[b"\r\n"]).await?;
        }
        Ok(())
    }

    /// Reads and discards the rest of commands whose reader went away, and of commands sent
    /// ahead that no call took.
    pub(crate) async fn drain_outstanding(&mut self) -> Result<()> {
        self.check_usable()?;
        self.terminate_append().await?;
        let skipped: Vec<_> = self.ahead.drain(..).collect();
        self.forget_ahead(&skipped);
        self.discard_answers_before(None).await
    }

    /// Reads and discards the answers of outstanding commands sent before `tag` (all of them
    /// without one), so that what is read next is `tag`'s.
    async fn discard_answers_before(&mut self, tag: Option<&str>) -> Result<()> {
        while self
            .outstanding
            .first()
            .is_some_and(|t| Some(t.as_str()) != tag)
        {
            let frame = self.read_frame().await?;
            match classify(&frame) {
                Msg::Tagged(t) => self.outstanding.retain(|x| *x != t.tag),
                Msg::Bye { code, text } => return Err(self.note(Error::Bye { code, text })),
                _ => {}
            }
        }
        Ok(())
    }

    /// Runs `lines` pipelined: all sent at once (one round trip for all of them, not one each),
    /// then every completion read, in whatever order the server sends them. Each result is
    /// the command's completion as [`Self::run`] gives it (`what` names them in errors); the
    /// outer error is the connection's. Untagged data is ignored: for commands that answer
    /// only with a completion (CREATE, SUBSCRIBE).
    pub(crate) async fn run_pipelined(
        &mut self,
        lines: &[String],
        what: &[String],
    ) -> Result<Vec<Result<Tagged>>> {
        self.drain_outstanding().await?;
        let mut tags = Vec::with_capacity(lines.len());
        let mut out = Vec::new();
        for line in lines {
            let tag = self.new_tag();
            tracing::trace!(%tag, command = verb(line.as_bytes()), "send");
            out.extend_from_slice(tag.as_bytes());
            out.push(b' ');
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
            tags.push(tag);
        }
        if tags.is_empty() {
            return Ok(Vec::new());
        }
        self.write(&[&out]).await?;
        self.outstanding.extend(tags.iter().cloned());
        let done = self.finish_each(&tags, |_, _| Ok(())).await?;
        Ok(done
            .into_iter()
            .zip(what)
            .map(|(t, w)| t.into_result(w))
            .collect())
    }

    /// Reads until every command of `tags` has completed, in whatever order the server
    /// completes them, handing all untagged data to `on_data` (commands sent together may
    /// interleave their answers, so `on_data` tells them apart by kind). The completions are
    /// returned in the order of `tags`, as they are (OK, NO or BAD); BYE and EOF are errors.
    pub(crate) async fn finish_each(
        &mut self,
        tags: &[String],
        mut on_data: impl FnMut(&Msg<'_>, &[u8]) -> Result<()>,
    ) -> Result<Vec<Tagged>> {
        let mut done: Vec<Option<Tagged>> = tags.iter().map(|_| None).collect();
        while done.iter().any(Option::is_none) {
            let frame = self.read_frame().await?;
            match classify(&frame) {
                Msg::Tagged(t) => {
                    self.outstanding.retain(|x| *x != t.tag);
                    match tags.iter().position(|x| *x == t.tag) {
                        Some(i) => done[i] = Some(t),
                        None => {
                            tracing::debug!(tag = %t.tag, "discarding completion of an abandoned command");
                        }
                    }
                }
                Msg::Bye { code, text } => return Err(self.note(Error::Bye { code, text })),
                Msg::Continue(_) => {
                    return Err(
                        self.note(Error::Protocol("unexpected continuation request".into()))
                    );
                }
                msg => on_data(&msg, &frame)?,
            }
        }
        Ok(done.into_iter().flatten().collect())
    }

    /// Sends `line` now, behind whatever was sent ahead before it, without waiting for any
    /// answer: the call that would send the same line next ([`Self::send`]) reads its answer
    /// instead, so a command that depends on the one before it (a FETCH right after EXAMINE)
    /// costs no round trip of its own. A server never runs a command that selects a mailbox
    /// at the same time as others (RFC 3501 §5.5), so the answers of an EXAMINE and of one
    /// command behind it are read in turn; two FETCHes may run at once and interleave
    /// (Dovecot's do), so no more than one follows an EXAMINE this way. A call that sends
    /// anything else first reads and discards what was sent ahead: a hint, never a change of
    /// what the calls do.
    pub(crate) async fn prefetch(&mut self, line: String) -> Result<()> {
        if self.ahead.iter().any(|(_, l)| *l == line) {
            // Already on its way (sent ahead by the pass before, say).
            return self.check_usable();
        }
        if self.ahead.is_empty() {
            self.drain_outstanding().await?;
        }
        let tag = self.send_behind(&line).await?;
        self.ahead.push_back((tag, line));
        Ok(())
    }

    /// Commands sent ahead that no call took: an EXAMINE or SELECT among them may have
    /// changed the selected mailbox, so none is known to be selected any more.
    fn forget_ahead(&mut self, skipped: &[(String, String)]) {
        if skipped
            .iter()
            .any(|(_, l)| l.starts_with("EXAMINE ") || l.starts_with("SELECT "))
        {
            self.selected = None;
        }
    }

    /// Sends `line` right behind commands of the caller's still in flight, without reading
    /// anything; the caller reads the answers of all of them.
    pub(crate) async fn send_behind(&mut self, line: &str) -> Result<String> {
        self.check_usable()?;
        self.write_command(line, "send behind").await
    }

    /// Writes `tag SP line CRLF` under a new tag, outstanding until its completion is read;
    /// `how` names the send in the trace.
    async fn write_command(&mut self, line: &str, how: &'static str) -> Result<String> {
        let tag = self.new_tag();
        tracing::trace!(%tag, command = verb(line.as_bytes()), "{how}");
        self.write(&[tag.as_bytes(), b" ", line.as_bytes(), b"\r\n"])
            .await?;
        self.outstanding.push(tag.clone());
        Ok(tag)
    }

    /// Sends `tag SP line CRLF` after finishing anything outstanding; returns the tag. When
    /// the same line was sent ahead ([`Self::prefetch`]), its tag is returned instead and
    /// nothing is sent; what was sent ahead before it is read and discarded.
    pub(crate) async fn send(&mut self, line: &str) -> Result<String> {
        if let Some(i) = self.ahead.iter().position(|(_, l)| l == line) {
            self.check_usable()?;
            // What was sent ahead of it and not taken is read and discarded first.
            let skipped: Vec<_> = self.ahead.drain(..i).collect();
            self.forget_ahead(&skipped);
            if let Some((tag, _)) = self.ahead.pop_front() {
                self.discard_answers_before(Some(&tag)).await?;
                return Ok(tag);
            }
        }
        self.drain_outstanding().await?;
        self.write_command(line, "send").await
    }

    /// Reads until the completion of `tag`, handing untagged data to `on_data`. The
    /// completion is returned as is (OK, NO or BAD); BYE and EOF are errors.
    pub(crate) async fn finish_raw(
        &mut self,
        tag: &str,
        mut on_data: impl FnMut(&Msg<'_>, &[u8]) -> Result<()>,
    ) -> Result<Tagged> {
        loop {
            let frame = self.read_frame().await?;
            match classify(&frame) {
                Msg::Tagged(t) => {
                    self.outstanding.retain(|x| *x != t.tag);
                    if t.tag == tag {
                        return Ok(t);
                    }
                    tracing::debug!(tag = %t.tag, "discarding completion of an abandoned command");
                }
                Msg::Bye { code, text } => return Err(self.note(Error::Bye { code, text })),
                Msg::Continue(_) => {
                    return Err(
                        self.note(Error::Protocol("unexpected continuation request".into()))
                    );
                }
                msg => on_data(&msg, &frame)?,
            }
        }
    }

    /// Runs one command and requires a tagged OK. `what` names it in errors (no secrets).
    pub(crate) async fn run(
        &mut self,
        line: &str,
        what: &str,
        on_data: impl FnMut(&Msg<'_>, &[u8]) -> Result<()>,
    ) -> Result<Tagged> {
        let tag = self.send(line).await?;
        self.finish_raw(&tag, on_data).await?.into_result(what)
    }

    /// Runs one command built from typed arguments and requires a tagged OK. Each literal in
    /// it waits for the server's `+` unless [`Capabilities::allows_non_sync_literal`]; a server
    /// that answers the announcement with a completion instead has refused the command.
    pub(crate) async fn run_command(
        &mut self,
        cmd: &Command,
        what: &str,
        mut on_data: impl FnMut(&Msg<'_>, &[u8]) -> Result<()>,
    ) -> Result<Tagged> {
        self.drain_outstanding().await?;
        let tag = self.new_tag();
        let segments = cmd.segments(|len| self.caps.allows_non_sync_literal(len));
        tracing::trace!(%tag, command = verb(segments.first().map_or(&[][..], |s| &s[..])), "send");
        self.outstanding.push(tag.clone());
        let last = segments.len() - 1;
        for (i, seg) in segments.iter().enumerate() {
            if i == 0 {
                self.write(&[tag.as_bytes(), b" ", seg]).await?;
            } else {
                self.write(&[seg]).await?;
            }
            if i < last
                && let Some(done) = self.await_continuation(&tag, &mut on_data).await?
            {
                return done.into_result(what);
            }
        }
        self.finish_raw(&tag, on_data).await?.into_result(what)
    }

    /// Reads until the server's `+` (None) or the completion of `tag` (the command was refused
    /// before its literal).
    async fn await_continuation(
        &mut self,
        tag: &str,
        on_data: &mut impl FnMut(&Msg<'_>, &[u8]) -> Result<()>,
    ) -> Result<Option<Tagged>> {
        loop {
            let frame = self.read_frame().await?;
            match classify(&frame) {
                Msg::Continue(_) => return Ok(None),
                Msg::Tagged(t) => {
                    self.outstanding.retain(|x| *x != t.tag);
                    if t.tag == tag {
                        return Ok(Some(t));
                    }
                    tracing::debug!(tag = %t.tag, "discarding completion of an abandoned command");
                }
                Msg::Bye { code, text } => return Err(self.note(Error::Bye { code, text })),
                msg => on_data(&msg, &frame)?,
            }
        }
    }

    async fn read_greeting(&mut self) -> Result<bool> {
        let frame = self.read_frame().await?;
        let msg = classify(&frame);
        match msg {
            Msg::Data(Response::Data { status, outcome }) => {
                if let Some(imap_proto::ResponseCode::Capabilities(c)) = &outcome.code {
                    self.caps = Capabilities::from_names(c.iter().map(capability_name));
                }
                match status {
                    Status::Ok => Ok(false),
                    Status::PreAuth => Ok(true),
                    _ => {
                        let (code, text) =
                            code_and_text(outcome.code.as_ref(), outcome.information.as_deref());
                        Err(self.note(Error::Bye { code, text }))
                    }
                }
            }
            Msg::Bye { code, text } => Err(self.note(Error::Bye { code, text })),
            _ => Err(self.note(Error::Protocol(format!(
                "server sent no IMAP greeting but {:?}",
                String::from_utf8_lossy(&frame[..frame.len().min(200)])
            )))),
        }
    }

    /// CAPABILITY (RFC 3501 §6.1.1).
    pub(crate) async fn refresh_capabilities(&mut self) -> Result<()> {
        let mut caps = Vec::new();
        self.run("CAPABILITY", "CAPABILITY", |m, _| {
            if let Msg::Data(Response::Capabilities(c)) = m {
                caps.extend(c.iter().map(capability_name));
            }
            Ok(())
        })
        .await?;
        self.caps = Capabilities::from_names(caps);
        Ok(())
    }

    async fn authenticate(&mut self, cfg: &ServerConfig, creds: &Credentials) -> Result<()> {
        if cfg.security != Security::None && !self.conn.is_tls() {
            return Err(Error::Insecure {
                action: "send credentials".into(),
                reason: "the connection is not encrypted".into(),
            });
        }
        let done = match creds {
            Credentials::Login { user, password } => {
                self.login_or_plain(cfg, user, password).await?
            }
            Credentials::Master {
                user,
                login,
                password,
            } => match self.login_or_plain(cfg, login, password).await {
                Err(Error::Auth {
                    user: who,
                    mechanism,
                    code,
                    text,
                }) => {
                    return Err(Error::Auth {
                        user: who,
                        mechanism,
                        code,
                        text: format!(
                            "{text}; the server took no master-user login for {user} \
                                 ({login}): Dovecot needs the master user in a master passdb \
                                 with this separator; a server without master users (Cyrus) \
                                 takes an authorization identity instead (-TargetLogin \
                                 AuthorizationId)"
                        ),
                    });
                }
                r => r?,
            },
            Credentials::Plain {
                authcid,
                authzid,
                password,
            } => {
                let payload = plain_payload(authzid.as_deref(), authcid, password);
                match (self.sasl("PLAIN", authcid, &payload).await, authzid) {
                    // Name both identities and what the server must allow.
                    (Err(Error::Auth { code, text, .. }), Some(z)) if !z.is_empty() => {
                        return Err(Error::Auth {
                            user: format!("{authcid} acting for {z}"),
                            mechanism: "PLAIN".into(),
                            code,
                            text: format!(
                                "{text}; the server must accept {authcid}'s password and allow \
                                 {authcid} to act for {z} (Dovecot: a master passdb; Cyrus: \
                                 admins or proxyservers)"
                            ),
                        });
                    }
                    (r, _) => r?,
                }
            }
            Credentials::XOAuth2 { user, token } => {
                let token = token.token().await?;
                self.sasl("XOAUTH2", user, &xoauth2_payload(user, &token))
                    .await?
            }
        };
        match done.capabilities {
            Some(c) => self.caps = Capabilities::from_names(c),
            None => self.refresh_capabilities().await?,
        }
        Ok(())
    }

    /// `LOGIN`, or `AUTHENTICATE PLAIN` where the server disabled LOGIN or a value cannot be
    /// quoted.
    async fn login_or_plain(
        &mut self,
        cfg: &ServerConfig,
        user: &str,
        password: &SecretString,
    ) -> Result<Tagged> {
        let quotable = is_quotable(user) && is_quotable(password.expose_secret());
        if self.caps.has("LOGINDISABLED") || !quotable {
            if !self.caps.has_auth("PLAIN") {
                return Err(Error::Unsupported {
                    what: if quotable && cfg.security == Security::None {
                        "LOGIN in clear text (LOGINDISABLED) nor AUTH=PLAIN: connect \
                         with STARTTLS (security Tls) or implicit TLS (security Ssl, \
                         usually port 993)"
                            .into()
                    } else if quotable {
                        "LOGIN here (LOGINDISABLED) nor AUTH=PLAIN".into()
                    } else {
                        "AUTH=PLAIN, needed for 8-bit credentials".into()
                    },
                });
            }
            self.sasl("PLAIN", user, &plain_payload(None, user, password))
                .await
        } else {
            self.login(user, password).await
        }
    }

    async fn login(&mut self, user: &str, password: &SecretString) -> Result<Tagged> {
        let line = format!(
            "LOGIN {} {}",
            quote(user)?,
            quote(password.expose_secret())?
        );
        let tag = self.send(&line).await?;
        let done = self.finish_raw(&tag, |_, _| Ok(())).await?;
        auth_result(done, user, "LOGIN", None)
    }

    /// AUTHENTICATE (RFC 3501 §6.2.2) with SASL-IR (RFC 4959) when offered.
    async fn sasl(&mut self, mech: &str, user: &str, payload: &[u8]) -> Result<Tagged> {
        let encoded = B64.encode(payload);
        let ir = self.caps.has("SASL-IR");
        let line = if ir {
            format!(
                "AUTHENTICATE {mech} {}",
                if encoded.is_empty() { "=" } else { &encoded }
            )
        } else {
            format!("AUTHENTICATE {mech}")
        };
        let tag = self.send(&line).await?;
        let mut sent = ir;
        let mut detail = None;
        loop {
            let frame = self.read_frame().await?;
            match classify(&frame) {
                Msg::Continue(challenge) => {
                    if !sent {
                        sent = true;
                        self.write(&[encoded.as_bytes(), b"\r\n"]).await?;
                    } else {
                        // A second challenge is the server's error report (XOAUTH2 sends
                        // base64 JSON); answer with an empty response (XOAUTH2) or cancel.
                        detail = B64
                            .decode(challenge.trim())
                            .ok()
                            .map(|d| String::from_utf8_lossy(&d).into_owned());
                        let reply: &[u8] = if mech == "XOAUTH2" { b"\r\n" } else { b"*\r\n" };
                        self.write(&[reply]).await?;
                    }
                }
                Msg::Tagged(t) if t.tag == tag => {
                    self.outstanding.retain(|x| *x != t.tag);
                    return auth_result(t, user, mech, detail);
                }
                Msg::Bye { code, text } => return Err(self.note(Error::Bye { code, text })),
                _ => {}
            }
        }
    }
}

fn auth_result(done: Tagged, user: &str, mech: &str, detail: Option<String>) -> Result<Tagged> {
    if done.status == Status::Ok {
        return Ok(done);
    }
    let text = match detail {
        Some(d) if !d.is_empty() => format!("{} ({d})", done.text),
        _ => done.text,
    };
    Err(Error::Auth {
        user: user.to_string(),
        mechanism: mech.to_string(),
        code: done.code,
        text,
    })
}

/// The command's name, for the trace (`UID FETCH`, `LOGIN`): never its arguments, which may be
/// credentials.
fn verb(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let mut words = text.split_ascii_whitespace();
    match (words.next(), words.next()) {
        (Some(uid), Some(cmd)) if uid.eq_ignore_ascii_case("UID") => format!("{uid} {cmd}"),
        (Some(cmd), _) => cmd.to_owned(),
        (None, _) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_limit_is_read_from_the_capability() {
        let caps = |l: &[&str]| Capabilities::from_names(l.iter().map(|s| s.to_string()));
        assert_eq!(
            caps(&["IMAP4rev1", "APPENDLIMIT=35651584"]).append_limit(),
            Some(35_651_584)
        );
        assert_eq!(caps(&["IMAP4rev1", "APPENDLIMIT"]).append_limit(), None);
        assert_eq!(caps(&["IMAP4rev1"]).append_limit(), None);
    }

    #[test]
    fn the_trace_names_the_command_and_never_its_arguments() {
        assert_eq!(verb(b"LOGIN alice secret"), "LOGIN");
        assert_eq!(
            verb(b"AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA=="),
            "AUTHENTICATE"
        );
        assert_eq!(verb(b"uid fetch 1:* (FLAGS)"), "uid fetch");
        assert_eq!(verb(b""), "");
    }
}

//! The floor: the least work an IMAP-to-IMAP copy can do, to show what the server allows.
//!
//! Per folder one source connection sends a single `UID FETCH 1:* (FLAGS INTERNALDATE
//! BODY.PEEK[])` and one target connection writes the messages as they arrive into pipelined
//! MULTIAPPEND commands (RFC 3502) with non-synchronizing literals (LITERAL+, RFC 7888 §3), so
//! no message waits for a round trip. Folders (of all mailboxes) run in parallel, bounded by a
//! connection budget. No state, no resume, no retries, no TLS (everything is loopback plain):
//! a bare copier, not a migration tool.
//!
//! The wire handling is a tiny scanner: responses are read line by line, and a line ending in
//! `{n}` is followed by n literal bytes (RFC 3501 §4.3). That is all the parsing FETCH, LIST and
//! tagged completions need.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// What went wrong in the floor copier.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FloorError {
    /// The TCP connection could not be opened.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The server address dialled.
        addr: SocketAddr,
        /// What the operating system reported.
        source: io::Error,
    },
    /// Reading from or writing to a connection failed.
    #[error("cannot {action} ({peer}): {source}")]
    Io {
        /// The failed operation as a verb phrase ("set TCP_NODELAY").
        action: &'static str,
        /// `<address> as <login>`: which connection.
        peer: String,
        /// What the operating system reported.
        source: io::Error,
    },
    /// A command ended with a tagged `NO` or `BAD`.
    #[error("{action} refused by {peer}: {line}")]
    Refused {
        /// The command that was refused (`LOGIN`, `SELECT`, `APPEND`, ...).
        action: String,
        /// `<address> as <login>`: which connection.
        peer: String,
        /// The server's completion line without CRLF.
        line: String,
    },
    /// The server closed the connection or sent something the scanner cannot use.
    #[error("protocol error ({peer}): {message}")]
    Protocol {
        /// `<address> as <login>`: which connection.
        peer: String,
        /// What was wrong ("connection closed", "no INTERNALDATE in ...").
        message: String,
    },
    /// A folder copy task panicked or was cancelled, or a semaphore (connection slots, the
    /// in-flight byte window) was closed under it.
    #[error("copy task failed: {0}")]
    Task(String),
}

type Result<T, E = FloorError> = std::result::Result<T, E>;

/// An IMAP login on a plain (loopback) port.
#[derive(Debug, Clone)]
pub struct Account {
    /// The server's plain IMAP address.
    pub addr: SocketAddr,
    /// The name given to LOGIN.
    pub login: String,
    /// The password given to LOGIN, sent in clear (loopback only).
    pub password: String,
}

/// One mailbox to copy: every folder of `source` into `target`.
#[derive(Debug, Clone)]
pub struct Pair {
    /// Where the mail is read from.
    pub source: Account,
    /// Where it is appended; folders are created there as needed.
    pub target: Account,
}

/// What was copied.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Stats {
    /// Mailboxes (source/target pairs) handled.
    pub mailboxes: u64,
    /// Folders listed on the sources, over all mailboxes; each was copied, or the copy failed.
    pub folders: u64,
    /// Messages appended to the targets.
    pub messages: u64,
    /// Message bytes appended (the literals, not the protocol around them).
    pub bytes: u64,
}

/// Tuning knobs; the defaults are what the bench uses.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Folder copies (each a source and a target connection) running at once, over all mailboxes.
    pub parallel: usize,
    /// Messages per MULTIAPPEND command.
    pub batch_messages: usize,
    /// Bytes per MULTIAPPEND command (a command is closed after the message that crosses it).
    pub batch_bytes: usize,
    /// Bytes fetched but not yet written, per folder copy (bounds memory; a larger message
    /// takes the whole window).
    pub window_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            parallel: 16,
            batch_messages: 100,
            batch_bytes: 32 << 20,
            window_bytes: 32 << 20,
        }
    }
}

/// One response: its lines concatenated, each literal replaced by its `{n}` marker, and the
/// literals themselves in order.
#[derive(Debug, Default)]
struct Resp {
    text: Vec<u8>,
    literals: Vec<Vec<u8>>,
}

/// A connection, logged in.
struct Conn {
    r: BufReader<OwnedReadHalf>,
    w: BufWriter<OwnedWriteHalf>,
    next_tag: u32,
    peer: String,
}

/// `{n}` or `{n+}` at the end of a line (CRLF already stripped).
fn literal_len(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"}")?;
    let open = line.iter().rposition(|&b| b == b'{')?;
    let digits = &line[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn strip_crlf(mut line: &[u8]) -> &[u8] {
    if let Some(l) = line.strip_suffix(b"\n") {
        line = l;
    }
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// IMAP quoted string (RFC 3501 §4.3): backslash and double quote escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl Conn {
    async fn open(acc: &Account) -> Result<Conn> {
        let tcp = TcpStream::connect(acc.addr)
            .await
            .map_err(|source| FloorError::Connect {
                addr: acc.addr,
                source,
            })?;
        let peer = format!("{} as {}", acc.addr, acc.login);
        tcp.set_nodelay(true).map_err(|source| FloorError::Io {
            action: "set TCP_NODELAY",
            peer: peer.clone(),
            source,
        })?;
        let (r, w) = tcp.into_split();
        let mut c = Conn {
            r: BufReader::with_capacity(256 << 10, r),
            w: BufWriter::with_capacity(256 << 10, w),
            next_tag: 1,
            peer,
        };
        let greeting = c.line().await?;
        if !greeting.starts_with(b"* OK") {
            return Err(c.refused("greeting", &greeting));
        }
        c.command(&format!(
            "LOGIN {} {}",
            quote(&acc.login),
            quote(&acc.password)
        ))
        .await?;
        Ok(c)
    }

    fn refused(&self, action: impl Into<String>, line: &[u8]) -> FloorError {
        FloorError::Refused {
            action: action.into(),
            peer: self.peer.clone(),
            line: String::from_utf8_lossy(strip_crlf(line)).into_owned(),
        }
    }

    fn io(&self, action: &'static str) -> impl FnOnce(io::Error) -> FloorError + use<> {
        let peer = self.peer.clone();
        move |source| FloorError::Io {
            action,
            peer,
            source,
        }
    }

    fn tag(&mut self) -> String {
        let t = format!("f{}", self.next_tag);
        self.next_tag += 1;
        t
    }

    /// One line including its CRLF; EOF is an error.
    async fn line(&mut self) -> Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(128);
        let n = self
            .r
            .read_until(b'\n', &mut buf)
            .await
            .map_err(self.io("read a response"))?;
        if n == 0 {
            return Err(FloorError::Protocol {
                peer: self.peer.clone(),
                message: "connection closed".into(),
            });
        }
        Ok(buf)
    }

    async fn literal(&mut self, n: usize) -> Result<Vec<u8>> {
        let mut body = vec![0u8; n];
        self.r
            .read_exact(&mut body)
            .await
            .map_err(self.io("read a literal"))?;
        Ok(body)
    }

    /// One whole response (a line and whatever literals continue it).
    async fn response(&mut self) -> Result<Resp> {
        let mut resp = Resp::default();
        loop {
            let line = self.line().await?;
            let l = strip_crlf(&line);
            resp.text.extend_from_slice(l);
            match literal_len(l) {
                Some(n) => {
                    let lit = self.literal(n).await?;
                    resp.literals.push(lit);
                }
                None => return Ok(resp),
            }
        }
    }

    /// Sends a command and collects its untagged responses; anything but a tagged OK is an error.
    async fn command(&mut self, cmd: &str) -> Result<Vec<Resp>> {
        let tag = self.tag();
        let line = format!("{tag} {cmd}\r\n");
        self.w
            .write_all(line.as_bytes())
            .await
            .map_err(self.io("send a command"))?;
        self.w.flush().await.map_err(self.io("send a command"))?;
        let mut untagged = Vec::new();
        loop {
            let resp = self.response().await?;
            if resp.text.starts_with(tag.as_bytes()) && resp.text.get(tag.len()) == Some(&b' ') {
                let status = &resp.text[tag.len() + 1..];
                if status.starts_with(b"OK") {
                    return Ok(untagged);
                }
                let verb = cmd.split(' ').next().unwrap_or(cmd).to_string();
                return Err(self.refused(verb, &resp.text));
            }
            untagged.push(resp);
        }
    }
}

/// A folder as LIST names it (still in modified UTF-7, as the target wants it too).
fn parse_list(resp: &Resp) -> Option<String> {
    let t = std::str::from_utf8(&resp.text).ok()?;
    let rest = t.strip_prefix("* LIST (")?;
    let (attrs, rest) = rest.split_once(')')?;
    let a = attrs.to_ascii_lowercase();
    if a.contains("\\noselect") || a.contains("\\nonexistent") {
        return None;
    }
    let rest = rest.trim_start();
    // Delimiter: a quoted character or NIL.
    let rest = if let Some(r) = rest.strip_prefix("NIL") {
        r
    } else {
        let r = rest.strip_prefix('"')?;
        let r = if let Some(r2) = r.strip_prefix('\\') {
            &r2[1..]
        } else {
            &r[1..]
        };
        r.strip_prefix('"')?
    };
    let name = rest.trim_start();
    if literal_len(name.as_bytes()).is_some() {
        return resp
            .literals
            .first()
            .map(|l| String::from_utf8_lossy(l).into_owned());
    }
    if let Some(q) = name.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = q.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.extend(chars.next()),
                '"' => break,
                c => out.push(c),
            }
        }
        return Some(out);
    }
    Some(name.to_string())
}

/// The text of a parenthesised list following `key` in a FETCH response (`FLAGS (\Seen)`).
fn fetch_item<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(key)? + key.len();
    let rest = text[at..].trim_start();
    if let Some(r) = rest.strip_prefix('(') {
        let end = r.find(')')?;
        Some(&r[..end])
    } else if let Some(r) = rest.strip_prefix('"') {
        // Keep the quotes: APPEND takes the date as the same quoted string.
        let end = r.find('"')? + 2;
        Some(&rest[..end])
    } else {
        None
    }
}

/// A message on its way from the source to the target.
struct Msg {
    flags: String,
    date: String,
    body: Vec<u8>,
    _window: OwnedSemaphorePermit,
}

/// Fetches every message of the selected folder and hands each to `tx` as it arrives.
async fn fetch_folder(
    src: &mut Conn,
    window: Arc<Semaphore>,
    window_bytes: usize,
    tx: mpsc::Sender<Msg>,
) -> Result<()> {
    let tag = src.tag();
    let cmd = format!("{tag} UID FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[])\r\n");
    src.w
        .write_all(cmd.as_bytes())
        .await
        .map_err(src.io("send UID FETCH"))?;
    src.w.flush().await.map_err(src.io("send UID FETCH"))?;
    loop {
        let resp = src.response().await?;
        if resp.text.starts_with(tag.as_bytes()) {
            if resp.text[tag.len()..].starts_with(b" OK") {
                return Ok(());
            }
            return Err(src.refused("UID FETCH", &resp.text));
        }
        if !resp.text.starts_with(b"* ") || resp.literals.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(&resp.text);
        if !text.contains(" FETCH ") {
            continue;
        }
        let flags = fetch_item(&text, "FLAGS")
            .unwrap_or("")
            .split_ascii_whitespace()
            .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
            .collect::<Vec<_>>()
            .join(" ");
        let date = fetch_item(&text, "INTERNALDATE")
            .ok_or_else(|| FloorError::Protocol {
                peer: src.peer.clone(),
                message: format!("no INTERNALDATE in {text}"),
            })?
            .to_string();
        let mut literals = resp.literals;
        let body = literals.swap_remove(0);
        let permits = body.len().clamp(1, window_bytes) as u32;
        let permit = window
            .clone()
            .acquire_many_owned(permits)
            .await
            .map_err(|e| FloorError::Task(e.to_string()))?;
        if tx
            .send(Msg {
                flags,
                date,
                body,
                _window: permit,
            })
            .await
            .is_err()
        {
            // The writer stopped; its error is the one to report.
            return Ok(());
        }
    }
}

/// Writes what arrives on `rx` as pipelined MULTIAPPEND commands into `mailbox`; returns
/// (messages, bytes) once the target confirmed every command.
async fn append_folder(
    dst: &mut Conn,
    mailbox: &str,
    opts: Options,
    mut rx: mpsc::Receiver<Msg>,
) -> Result<(u64, u64)> {
    let qbox = quote(mailbox);
    let (mut open, mut in_cmd, mut cmd_bytes) = (false, 0usize, 0usize);
    let (mut messages, mut bytes, mut commands) = (0u64, 0u64, 0u64);
    loop {
        let msg = match rx.try_recv() {
            Ok(m) => Some(m),
            Err(mpsc::error::TryRecvError::Empty) => {
                // Nothing queued: let the server have what we wrote so far while we wait.
                dst.w.flush().await.map_err(dst.io("send APPEND"))?;
                rx.recv().await
            }
            Err(mpsc::error::TryRecvError::Disconnected) => None,
        };
        let Some(msg) = msg else { break };
        if !open {
            let tag = dst.tag();
            dst.w
                .write_all(format!("{tag} APPEND {qbox}").as_bytes())
                .await
                .map_err(dst.io("send APPEND"))?;
            open = true;
            commands += 1;
        }
        let head = format!(" ({}) {} {{{}+}}\r\n", msg.flags, msg.date, msg.body.len());
        dst.w
            .write_all(head.as_bytes())
            .await
            .map_err(dst.io("send APPEND"))?;
        dst.w
            .write_all(&msg.body)
            .await
            .map_err(dst.io("send APPEND"))?;
        in_cmd += 1;
        cmd_bytes += msg.body.len();
        messages += 1;
        bytes += msg.body.len() as u64;
        if in_cmd >= opts.batch_messages || cmd_bytes >= opts.batch_bytes {
            dst.w
                .write_all(b"\r\n")
                .await
                .map_err(dst.io("send APPEND"))?;
            (open, in_cmd, cmd_bytes) = (false, 0, 0);
        }
    }
    if open {
        dst.w
            .write_all(b"\r\n")
            .await
            .map_err(dst.io("send APPEND"))?;
    }
    // Pipelined commands complete in order: once the NOOP is done, every APPEND is.
    let _ = commands;
    dst.command("NOOP").await.map_err(|e| match e {
        FloorError::Refused { peer, line, .. } => FloorError::Refused {
            action: "APPEND".into(),
            peer,
            line,
        },
        e => e,
    })?;
    Ok((messages, bytes))
}

async fn copy_folder(pair: Arc<Pair>, folder: String, opts: Options) -> Result<(u64, u64)> {
    let (mut src, mut dst) = tokio::try_join!(Conn::open(&pair.source), Conn::open(&pair.target))?;
    src.command(&format!("EXAMINE {}", quote(&folder))).await?;
    if !folder.eq_ignore_ascii_case("INBOX")
        && let Err(e) = dst.command(&format!("CREATE {}", quote(&folder))).await
    {
        // Special-use folders exist already on a fresh Dovecot user.
        let exists = matches!(&e, FloorError::Refused { line, .. } if line.contains("ALREADYEXISTS") || line.to_ascii_lowercase().contains("exists"));
        if !exists {
            return Err(e);
        }
    }
    let (tx, rx) = mpsc::channel(1024);
    let window = Arc::new(Semaphore::new(opts.window_bytes));
    let (_, copied) = tokio::try_join!(
        fetch_folder(&mut src, window, opts.window_bytes, tx),
        append_folder(&mut dst, &folder, opts, rx)
    )?;
    let _ = tokio::join!(src.command("LOGOUT"), dst.command("LOGOUT"));
    Ok(copied)
}

/// Copies every folder of every pair; folders of all mailboxes share `opts.parallel` slots.
pub async fn copy(pairs: Vec<Pair>, opts: Options) -> Result<Stats> {
    let slots = Arc::new(Semaphore::new(opts.parallel.max(1)));
    let mut stats = Stats::default();
    let mut tasks = tokio::task::JoinSet::new();
    for pair in pairs {
        let pair = Arc::new(pair);
        let mut ctl = Conn::open(&pair.source).await?;
        let list = ctl.command("LIST \"\" \"*\"").await?;
        let _ = ctl.command("LOGOUT").await;
        stats.mailboxes += 1;
        for folder in list.iter().filter_map(parse_list) {
            stats.folders += 1;
            let permit = slots
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| FloorError::Task(e.to_string()))?;
            let pair = pair.clone();
            tasks.spawn(async move {
                let r = copy_folder(pair, folder, opts).await;
                drop(permit);
                r
            });
        }
    }
    while let Some(r) = tasks.join_next().await {
        let (m, b) = r.map_err(|e| FloorError::Task(e.to_string()))??;
        stats.messages += m;
        stats.bytes += b;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_markers() {
        assert_eq!(literal_len(b"* 1 FETCH (UID 1 BODY[] {123}"), Some(123));
        assert_eq!(literal_len(b"A APPEND x {5+}"), Some(5));
        assert_eq!(literal_len(b"* OK done"), None);
        assert_eq!(literal_len(b"* OK {x}"), None);
    }

    #[test]
    fn list_names() {
        let r = |s: &str| Resp {
            text: s.as_bytes().to_vec(),
            literals: vec![],
        };
        assert_eq!(
            parse_list(&r("* LIST (\\HasNoChildren) \"/\" INBOX")).as_deref(),
            Some("INBOX")
        );
        assert_eq!(
            parse_list(&r("* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"")).as_deref(),
            Some("Sent Items")
        );
        assert_eq!(parse_list(&r("* LIST (\\Noselect) \"/\" Archive")), None);
        assert_eq!(
            parse_list(&r("* LIST () NIL \"a\\\"b\"")).as_deref(),
            Some("a\"b")
        );
        let lit = Resp {
            text: b"* LIST () \"/\" {3}".to_vec(),
            literals: vec![b"x/y".to_vec()],
        };
        assert_eq!(parse_list(&lit).as_deref(), Some("x/y"));
    }

    #[test]
    fn fetch_items() {
        let t = "* 3 FETCH (UID 7 FLAGS (\\Seen \\Recent $Label1) INTERNALDATE \"14-Nov-2023 22:13:20 +0000\" BODY[] {10})";
        assert_eq!(fetch_item(t, "FLAGS"), Some("\\Seen \\Recent $Label1"));
        assert_eq!(
            fetch_item(t, "INTERNALDATE"),
            Some("\"14-Nov-2023 22:13:20 +0000\"")
        );
    }
}

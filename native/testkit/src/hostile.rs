//! A scripted IMAP source that lies, on 127.0.0.1 (std threads, no runtime): what no real
//! server does on demand, to show that the engine never reports mail as copied that is not.
//!
//! It serves one user's INBOX of the given messages (UIDs 1..=n, UIDVALIDITY 42) with just
//! the IMAP the engine's source side uses: greeting, CAPABILITY, LOGIN (any credentials,
//! plain text), LIST, EXAMINE/SELECT, UID SEARCH, UID FETCH of metadata, headers and bodies,
//! NOOP, LOGOUT. Everything else is answered `BAD`. [`HostileMode`] says how it lies; with
//! [`HostileImap::heal_after`] it lies only on the first connections, so that a retry on a
//! new connection gets honest answers.
//!
//! It also stalls, as [`HostileMode`] says: a greeting that is not IMAP, none at all, a line
//! that never ends, a response trickled at one byte per second, a huge announced literal.
//!
//! Bounded lifetime: it stops accepting after [`LIFETIME`] or when dropped, a connection
//! silent for [`IDLE`] is closed, and a stalling one is held at most until the server stops.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long a server accepts connections at most.
pub const LIFETIME: Duration = Duration::from_secs(120);
/// How long a connection may stay silent before it is closed.
pub const IDLE: Duration = Duration::from_secs(30);

/// How the server lies. Only the body FETCH (`BODY.PEEK[]`) and LIST lie; the listing of
/// messages (metadata, UID SEARCH) is honest, so the engine plans to copy every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostileMode {
    /// No lies: the control case.
    Honest,
    /// `UID FETCH ... BODY.PEEK[]` leaves out every requested UID divisible by 3, then
    /// completes with OK.
    OmitFetched,
    /// `UID FETCH ... BODY.PEEK[]` answers each requested message under a UID 100 higher,
    /// which was not asked for.
    UnrequestedFetched,
    /// `UID FETCH ... BODY.PEEK[]` answers with FETCH lines whose UID is not a number.
    MalformedFetch,
    /// `UID FETCH ... BODY.PEEK[]` answers with lines that are not FETCH syntax at all.
    GarbageFetch,
    /// `LIST "" "*"` answers with a line that cannot be parsed, then OK.
    MalformedList,
    /// Greets with what an HTTP server answers (an `imap://` URL pointing at a web port).
    GarbageGreeting,
    /// Accepts the connection and never says a word.
    SilentGreeting,
    /// Greets with a line that never ends: `* OK ` and then `x` without a CRLF, fast, 4 MiB
    /// in all.
    EndlessLine,
    /// Answers `UID FETCH ... BODY.PEEK[]` one byte per second ([`TRICKLE`]).
    TrickleLine,
    /// Answers `UID FETCH ... BODY.PEEK[]` announcing a 1 GB literal, then sends it one byte
    /// per second.
    HugeLiteral,
}

/// The pace of the trickling modes.
pub const TRICKLE: Duration = Duration::from_secs(1);

/// Writes `bytes` one at a time, [`TRICKLE`] apart, until done, stopped or the client left.
fn trickle(w: &mut TcpStream, bytes: &[u8], stop: &AtomicBool) -> std::io::Result<()> {
    for b in bytes {
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        w.write_all(&[*b])?;
        std::thread::sleep(TRICKLE);
    }
    Ok(())
}

/// Holds the connection open, saying nothing, until stopped or [`LIFETIME`] is over.
fn hold(stop: &AtomicBool) {
    let until = Instant::now() + LIFETIME;
    while !stop.load(Ordering::SeqCst) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running hostile server; stops on drop.
pub struct HostileImap {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

struct Script {
    mode: HostileMode,
    /// Connections (counted from 0) at or after this index get honest answers.
    heal_after: Option<usize>,
    messages: Vec<Vec<u8>>,
}

impl HostileImap {
    /// Serves `messages` as INBOX, lying as `mode` says on every connection.
    pub fn start(mode: HostileMode, messages: Vec<Vec<u8>>) -> Result<HostileImap> {
        Self::spawn(Script {
            mode,
            heal_after: None,
            messages,
        })
    }

    /// Like [`HostileImap::start`], but only the first `lying` connections get lies.
    pub fn heal_after(
        mode: HostileMode,
        messages: Vec<Vec<u8>>,
        lying: usize,
    ) -> Result<HostileImap> {
        Self::spawn(Script {
            mode,
            heal_after: Some(lying),
            messages,
        })
    }

    fn spawn(script: Script) -> Result<HostileImap> {
        let l = TcpListener::bind("127.0.0.1:0").map_err(Error::net("bind a hostile port"))?;
        let addr = l
            .local_addr()
            .map_err(Error::net("read the hostile address"))?;
        l.set_nonblocking(true)
            .map_err(Error::net("make the hostile listener non-blocking"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let (st, count) = (Arc::clone(&stop), Arc::clone(&connections));
        let script = Arc::new(script);
        let thread = std::thread::Builder::new()
            .name("hostile-imap".into())
            .spawn(move || {
                let until = Instant::now() + LIFETIME;
                while !st.load(Ordering::SeqCst) && Instant::now() < until {
                    match l.accept() {
                        Ok((sock, _)) => {
                            let index = count.fetch_add(1, Ordering::SeqCst);
                            let script = Arc::clone(&script);
                            let st = Arc::clone(&st);
                            let _ = std::thread::Builder::new()
                                .name("hostile-imap-conn".into())
                                .spawn(move || {
                                    let lying = script.heal_after.is_none_or(|n| index < n);
                                    let _ = serve(sock, &script, lying, &st);
                                });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
            .map_err(Error::net("spawn the hostile thread"))?;
        Ok(HostileImap {
            addr,
            stop,
            connections,
            thread: Some(thread),
        })
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for HostileImap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const DATE: &str = "14-Nov-2023 22:13:20 +0000";

fn serve(sock: TcpStream, script: &Script, lying: bool, stop: &AtomicBool) -> std::io::Result<()> {
    sock.set_read_timeout(Some(IDLE))?;
    let _ = sock.set_nodelay(true);
    let mut w = sock.try_clone()?;
    let mut r = BufReader::new(sock);
    let mode = if lying {
        script.mode
    } else {
        HostileMode::Honest
    };
    match mode {
        HostileMode::GarbageGreeting => {
            w.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")?;
            hold(stop);
            return Ok(());
        }
        HostileMode::SilentGreeting => {
            hold(stop);
            return Ok(());
        }
        HostileMode::EndlessLine => {
            w.write_all(b"* OK ")?;
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..64 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                w.write_all(&chunk)?;
            }
            hold(stop);
            return Ok(());
        }
        _ => w.write_all(b"* OK [CAPABILITY IMAP4rev1 UIDPLUS] hostile server ready\r\n")?,
    }
    let n = script.messages.len() as u32;
    while !stop.load(Ordering::SeqCst) {
        let Some(line) = read_command(&mut r, &mut w)? else {
            return Ok(());
        };
        let (tag, rest) = line.split_once(' ').unwrap_or((&line, ""));
        let (verb, args) = rest.split_once(' ').unwrap_or((rest, ""));
        let mut out = Vec::new();
        match verb.to_ascii_uppercase().as_str() {
            "CAPABILITY" => out.extend_from_slice(b"* CAPABILITY IMAP4rev1 UIDPLUS\r\n"),
            "LOGIN" | "NOOP" | "UNSELECT" => {}
            "LOGOUT" => {
                w.write_all(format!("* BYE bye\r\n{tag} OK done\r\n").as_bytes())?;
                return Ok(());
            }
            "LIST" if args.ends_with("\"\"") && !args.ends_with("\"*\"") => {
                out.extend_from_slice(b"* LIST (\\Noselect) \"/\" \"\"\r\n")
            }
            "LIST" if mode == HostileMode::MalformedList => {
                out.extend_from_slice(b"* LIST (\\HasNoChildren \"/\" INBOX\r\n")
            }
            "LIST" => out.extend_from_slice(b"* LIST (\\HasNoChildren) \"/\" INBOX\r\n"),
            "EXAMINE" | "SELECT" => {
                out.extend_from_slice(
                    format!(
                        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
                         * OK [PERMANENTFLAGS ()] none\r\n* {n} EXISTS\r\n* 0 RECENT\r\n\
                         * OK [UIDVALIDITY 42] ok\r\n* OK [UIDNEXT {}] ok\r\n",
                        n + 1
                    )
                    .as_bytes(),
                );
                w.write_all(&out)?;
                w.write_all(format!("{tag} OK [READ-ONLY] done\r\n").as_bytes())?;
                continue;
            }
            "UID" => {
                let (sub, args) = args.split_once(' ').unwrap_or((args, ""));
                match sub.to_ascii_uppercase().as_str() {
                    "SEARCH" => {
                        let uids: Vec<String> = (1..=n).map(|u| u.to_string()).collect();
                        out.extend_from_slice(
                            format!("* SEARCH {}\r\n", uids.join(" ")).as_bytes(),
                        );
                    }
                    "FETCH" if args.to_ascii_uppercase().contains("BODY.PEEK[]") => match mode {
                        HostileMode::TrickleLine => {
                            fetch(&mut out, script, mode, args);
                            return trickle(&mut w, &out, stop);
                        }
                        HostileMode::HugeLiteral => {
                            let head = format!(
                                "* 1 FETCH (UID 1 FLAGS (\\Seen) INTERNALDATE \"{DATE}\" BODY[] {{1000000000}}\r\n"
                            );
                            w.write_all(head.as_bytes())?;
                            return trickle(&mut w, &[b'x'; 4096], stop);
                        }
                        _ => fetch(&mut out, script, mode, args),
                    },
                    "FETCH" => fetch(&mut out, script, mode, args),
                    _ => {
                        w.write_all(format!("{tag} BAD unknown command\r\n").as_bytes())?;
                        continue;
                    }
                }
            }
            _ => {
                w.write_all(format!("{tag} BAD unknown command\r\n").as_bytes())?;
                continue;
            }
        }
        out.extend_from_slice(format!("{tag} OK done\r\n").as_bytes());
        w.write_all(&out)?;
    }
    Ok(())
}

/// One command line, with any literals read in (answering `+` to synchronising ones).
fn read_command(
    r: &mut BufReader<TcpStream>,
    w: &mut TcpStream,
) -> std::io::Result<Option<String>> {
    let mut text = String::new();
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        let part = String::from_utf8_lossy(&line).trim_end().to_string();
        text.push_str(&part);
        let Some(open) = part.rfind('{').filter(|_| part.ends_with('}')) else {
            return Ok(Some(text));
        };
        let spec = &part[open + 1..part.len() - 1];
        let Ok(len) = spec.trim_end_matches('+').parse::<usize>() else {
            return Ok(Some(text));
        };
        if !spec.ends_with('+') {
            w.write_all(b"+ go ahead\r\n")?;
        }
        let mut buf = vec![0; len];
        r.read_exact(&mut buf)?;
        text.push_str(&String::from_utf8_lossy(&buf));
    }
}

/// `UID FETCH set (items)`: metadata, header fields or bodies, as the items ask.
fn fetch(out: &mut Vec<u8>, script: &Script, mode: HostileMode, args: &str) {
    let (set, items) = args.split_once(' ').unwrap_or((args, ""));
    let n = script.messages.len() as u32;
    let uids = parse_set(set, n);
    let items = items.to_ascii_uppercase();
    for uid in uids {
        let Some(msg) = script.messages.get(uid as usize - 1) else {
            continue;
        };
        let seq = uid;
        if items.contains("BODY.PEEK[]") {
            let head = match mode {
                HostileMode::OmitFetched if uid % 3 == 0 => continue,
                HostileMode::UnrequestedFetched => format!("* {seq} FETCH (UID {}", uid + 100),
                HostileMode::MalformedFetch => format!("* {seq} FETCH (UID x{uid}"),
                HostileMode::GarbageFetch => {
                    out.extend_from_slice(
                        format!("* {seq} FETCH UID {uid} )(garbage\r\n").as_bytes(),
                    );
                    continue;
                }
                _ => format!("* {seq} FETCH (UID {uid}"),
            };
            out.extend_from_slice(
                format!(
                    "{head} FLAGS (\\Seen) INTERNALDATE \"{DATE}\" BODY[] {{{}}}\r\n",
                    msg.len()
                )
                .as_bytes(),
            );
            out.extend_from_slice(msg);
            out.extend_from_slice(b")\r\n");
        } else if items.contains("RFC822.SIZE") {
            let id = header_field(msg, "message-id");
            out.extend_from_slice(
                format!(
                    "* {seq} FETCH (UID {uid} FLAGS (\\Seen) INTERNALDATE \"{DATE}\" RFC822.SIZE {} \
                     BODY[HEADER.FIELDS (MESSAGE-ID)] {{{}}}\r\n{id})\r\n",
                    msg.len(),
                    id.len()
                )
                .as_bytes(),
            );
        } else if items.contains("HEADER.FIELDS") {
            out.extend_from_slice(
                format!(
                    "* {seq} FETCH (UID {uid} BODY[HEADER.FIELDS (SUBJECT)] {{2}}\r\n\r\n)\r\n"
                )
                .as_bytes(),
            );
        } else {
            out.extend_from_slice(
                format!("* {seq} FETCH (UID {uid} FLAGS (\\Seen))\r\n").as_bytes(),
            );
        }
    }
}

/// The header line `name: ...` (with its CRLF) followed by the blank line, as a
/// `HEADER.FIELDS` section returns it; just the blank line when the message has none.
fn header_field(msg: &[u8], name: &str) -> String {
    let text = String::from_utf8_lossy(msg);
    for line in text.split("\r\n") {
        if line.is_empty() {
            break;
        }
        if line
            .split_once(':')
            .is_some_and(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            return format!("{line}\r\n\r\n");
        }
    }
    "\r\n".into()
}

/// A UID set (`1:9`, `3,5:7`, `1:*`) against messages 1..=n, in ascending order.
fn parse_set(set: &str, n: u32) -> Vec<u32> {
    let num = |s: &str| if s == "*" { Some(n) } else { s.parse().ok() };
    let mut out = Vec::new();
    for part in set.split(',') {
        let (a, b) = part.split_once(':').unwrap_or((part, part));
        if let (Some(a), Some(b)) = (num(a), num(b)) {
            out.extend(a.min(b)..=a.max(b).min(n));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_read() {
        assert_eq!(parse_set("1:3,7", 9), vec![1, 2, 3, 7]);
        assert_eq!(parse_set("8:*", 9), vec![8, 9]);
        assert_eq!(parse_set("9,2:1", 9), vec![1, 2, 9]);
    }
}

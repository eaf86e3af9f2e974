//! A proxy on 127.0.0.1 in front of a real IMAP server that refuses chosen folders the way
//! field servers do, forwarding everything else untouched:
//! - [`Refusal::Create`]: `CREATE` and `SELECT` of a folder whose name contains a string are
//!   answered `NO [CANNOT]` (Cyrus refusing a character, a target refusing a name or a quota);
//! - [`Refusal::FetchBodies`]: `UID FETCH ... BODY.PEEK[]` in a folder whose name contains a
//!   string is answered `NO [SERVERBUG]` every time (a source that cannot hand out its mail).
//! - [`Refusal::ChangeAppended`]: an appended message (a non-synchronizing literal) that
//!   contains a string is stored with a header line added in front, [`CHANGED_HEADER`] (a
//!   target that rewrites what it is given, under another size).
//! - [`Refusal::RewriteAppended`]: in an appended message that contains a string, the string
//!   is overwritten with as many `X` (a target that rewrites bytes keeping the size, as Cyrus'
//!   `munge8bit` does with 8-bit header bytes).
//!
//! Only commands on one line are refused (never one carrying a literal); literals the client
//! sends are forwarded as they are, but for the change above. Stops listening and closes its
//! connections on drop.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, Result};

/// What the proxy refuses.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// CREATE and SELECT of folders whose name contains the string.
    Create(String),
    /// Message bodies of folders whose name contains the string.
    FetchBodies(String),
    /// Appended messages containing the string get [`CHANGED_HEADER`] added in front.
    ChangeAppended(String),
    /// Appended messages containing the string have its first occurrence overwritten with
    /// `X`, one for each byte: other bytes, the same size.
    RewriteAppended(String),
}

/// The header line [`Refusal::ChangeAppended`] adds to a message.
pub const CHANGED_HEADER: &[u8] = b"X-Changed-By: testkit-proxy\r\n";

/// The refusing proxy.
pub struct RefusingProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    refused: Arc<AtomicU64>,
}

impl RefusingProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream` (a plain IMAP port).
    pub fn start(upstream: SocketAddr, refusal: Refusal) -> Result<RefusingProxy> {
        let l = TcpListener::bind("127.0.0.1:0").map_err(Error::net("bind a proxy port"))?;
        let addr = l
            .local_addr()
            .map_err(Error::net("read the proxy address"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let refused = Arc::new(AtomicU64::new(0));
        let (st, cs, rf) = (Arc::clone(&stop), Arc::clone(&conns), Arc::clone(&refused));
        let thread = std::thread::Builder::new()
            .name("testkit-refusing-proxy".into())
            .spawn(move || {
                for conn in l.incoming() {
                    if st.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = conn else { continue };
                    let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5))
                    else {
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    if let (Ok(c), Ok(s), Ok(mut list)) =
                        (client.try_clone(), server.try_clone(), cs.lock())
                    {
                        list.push(c);
                        list.push(s);
                    }
                    let (refusal, rf) = (refusal.clone(), Arc::clone(&rf));
                    let _ = std::thread::Builder::new()
                        .name("testkit-refusing-conn".into())
                        .spawn(move || serve(client, server, &refusal, &rf));
                }
            })
            .map_err(Error::net("spawn the proxy thread"))?;
        Ok(RefusingProxy {
            addr,
            stop,
            thread: Some(thread),
            conns,
            refused,
        })
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Commands it answered with a refusal (or messages it changed) so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }
}

impl Drop for RefusingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Ok(list) = self.conns.lock() {
            for s in list.iter() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(client: TcpStream, server: TcpStream, refusal: &Refusal, refused: &AtomicU64) {
    let (Ok(mut from_server), Ok(to_client)) = (server.try_clone(), client.try_clone()) else {
        return;
    };
    // Both directions write to the client: the server's bytes and the proxy's refusals.
    let to_client = Arc::new(Mutex::new(to_client));
    let down = Arc::clone(&to_client);
    let pump = std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from_server.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let Ok(mut w) = down.lock() else { break };
                    if w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        if let Ok(w) = down.lock() {
            let _ = w.shutdown(Shutdown::Both);
        }
    });
    let _ = client_side(client, server, refusal, refused, &to_client);
    let _ = pump.join();
}

fn client_side(
    mut from: TcpStream,
    mut to: TcpStream,
    refusal: &Refusal,
    refused: &AtomicU64,
    to_client: &Mutex<TcpStream>,
) -> std::io::Result<()> {
    let mut selected = String::new();
    let mut line: Vec<u8> = Vec::new();
    let mut literal: u64 = 0;
    let mut continued = false;
    // A non-synchronizing literal held back whole, to be changed: its line and its bytes.
    let mut held: Option<(Vec<u8>, Vec<u8>)> = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            let _ = to.shutdown(Shutdown::Both);
            return Ok(());
        }
        let mut data = &buf[..n];
        while !data.is_empty() {
            if literal > 0 {
                let k = (literal as usize).min(data.len());
                match &mut held {
                    Some((_, body)) => body.extend_from_slice(&data[..k]),
                    None => to.write_all(&data[..k])?,
                }
                literal -= k as u64;
                data = &data[k..];
                if literal == 0
                    && let Some((head, body)) = held.take()
                {
                    let (head, body) = change(head, body, refusal, refused);
                    to.write_all(&head)?;
                    to.write_all(&body)?;
                }
                continue;
            }
            let Some(end) = data.iter().position(|&b| b == b'\n') else {
                line.extend_from_slice(data);
                break;
            };
            line.extend_from_slice(&data[..=end]);
            data = &data[end + 1..];
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            if let Some(size) = trailing_literal(&text) {
                let appending = continued
                    || text
                        .split(' ')
                        .nth(1)
                        .is_some_and(|v| v.eq_ignore_ascii_case("APPEND"));
                if matches!(
                    refusal,
                    Refusal::ChangeAppended(_) | Refusal::RewriteAppended(_)
                ) && appending
                    && text.ends_with("+}")
                    && size > 0
                {
                    held = Some((std::mem::take(&mut line), Vec::new()));
                } else {
                    to.write_all(&line)?;
                }
                line.clear();
                literal = size;
                continued = true;
                continue;
            }
            let answer = if continued {
                None
            } else {
                judge(&text, refusal, &mut selected)
            };
            continued = false;
            match answer {
                Some(reply) => {
                    refused.fetch_add(1, Ordering::SeqCst);
                    let mut w = to_client
                        .lock()
                        .map_err(|_| std::io::Error::other("client writer poisoned"))?;
                    w.write_all(reply.as_bytes())?;
                }
                None => to.write_all(&line)?,
            }
            line.clear();
        }
    }
}

/// A held literal as [`Refusal::ChangeAppended`] forwards it: with [`CHANGED_HEADER`] in front
/// and its announcement grown to match when it contains the string, else as it came. With
/// [`Refusal::RewriteAppended`], the string overwritten in place.
fn change(
    head: Vec<u8>,
    mut body: Vec<u8>,
    refusal: &Refusal,
    changed: &AtomicU64,
) -> (Vec<u8>, Vec<u8>) {
    let marker = match refusal {
        Refusal::ChangeAppended(m) => m,
        Refusal::RewriteAppended(m) => {
            let at = (!m.is_empty())
                .then(|| body.windows(m.len()).position(|w| w == m.as_bytes()))
                .flatten();
            if let Some(at) = at {
                changed.fetch_add(1, Ordering::SeqCst);
                body[at..at + m.len()].fill(b'X');
            }
            return (head, body);
        }
        _ => return (head, body),
    };
    let found = !marker.is_empty() && body.windows(marker.len()).any(|w| w == marker.as_bytes());
    let Some(open) = head.iter().rposition(|&b| b == b'{') else {
        return (head, body);
    };
    if !found {
        return (head, body);
    }
    changed.fetch_add(1, Ordering::SeqCst);
    let mut new_body = CHANGED_HEADER.to_vec();
    new_body.extend_from_slice(&body);
    let mut new_head = head[..open].to_vec();
    new_head.extend_from_slice(format!("{{{}+}}\r\n", new_body.len()).as_bytes());
    (new_head, new_body)
}

/// The refusal for one complete command line, if it is refused; tracks the selected folder.
fn judge(line: &str, refusal: &Refusal, selected: &mut String) -> Option<String> {
    let mut parts = line.splitn(3, ' ');
    let tag = parts.next()?;
    let verb = parts.next()?.to_ascii_uppercase();
    let rest = parts.next().unwrap_or_default();
    match (refusal, verb.as_str()) {
        (Refusal::Create(s), "CREATE" | "SELECT") if mailbox(rest).contains(s.as_str()) => {
            Some(format!(
                "{tag} NO [CANNOT] The mailbox name {} is not permitted here\r\n",
                mailbox(rest)
            ))
        }
        (_, "SELECT" | "EXAMINE") => {
            *selected = mailbox(rest);
            None
        }
        (Refusal::FetchBodies(s), "UID")
            if selected.contains(s.as_str())
                && rest.to_ascii_uppercase().starts_with("FETCH ")
                && rest.to_ascii_uppercase().contains("BODY.PEEK[]") =>
        {
            Some(format!(
                "{tag} NO [SERVERBUG] Internal error reading the message bodies\r\n"
            ))
        }
        _ => None,
    }
}

/// The first argument as a mailbox name: a quoted string (unescaped) or an atom.
fn mailbox(rest: &str) -> String {
    if let Some(q) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut esc = false;
        for c in q.chars() {
            match (esc, c) {
                (true, c) => {
                    out.push(c);
                    esc = false;
                }
                (false, '\\') => esc = true,
                (false, '"') => break,
                (false, c) => out.push(c),
            }
        }
        out
    } else {
        rest.split(' ').next().unwrap_or_default().to_string()
    }
}

/// The size of a literal announced at the end of a line (`{n}`, `{n+}`, `~{n}`).
fn trailing_literal(line: &str) -> Option<u64> {
    let s = line.strip_suffix('}')?;
    let open = s.rfind('{')?;
    let inner = &s[open + 1..];
    let digits = inner.strip_suffix('+').unwrap_or(inner);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_only_the_named_folder() {
        let r = Refusal::Create(".".into());
        let mut sel = String::new();
        assert!(judge("a1 CREATE \"v1.2 Notes\"", &r, &mut sel).is_some());
        assert!(judge("a2 CREATE \"v1_2 Notes\"", &r, &mut sel).is_none());
        let f = Refusal::FetchBodies("Broken".into());
        assert!(judge("a3 EXAMINE Broken", &f, &mut sel).is_none());
        assert!(judge("a4 UID FETCH 1:* (UID RFC822.SIZE)", &f, &mut sel).is_none());
        assert!(judge("a5 UID FETCH 1:3 (UID BODY.PEEK[])", &f, &mut sel).is_some());
        assert!(judge("a6 EXAMINE INBOX", &f, &mut sel).is_none());
        assert!(judge("a7 UID FETCH 1:3 (UID BODY.PEEK[])", &f, &mut sel).is_none());
        assert_eq!(trailing_literal("a APPEND x {12+}"), Some(12));
    }

    #[test]
    fn a_rewrite_keeps_the_size() {
        let n = AtomicU64::new(0);
        let r = Refusal::RewriteAppended("here".into());
        let head = b"a APPEND INBOX {15+}\r\n".to_vec();
        let (h, b) = change(head.clone(), b"Subject: here\r\n".to_vec(), &r, &n);
        assert_eq!((h, b), (head.clone(), b"Subject: XXXX\r\n".to_vec()));
        let (_, b) = change(head, b"Subject: there\r\n".to_vec(), &r, &n);
        assert_eq!(b, b"Subject: tXXXX\r\n".to_vec());
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }
}

//! A tiny SMTP sink on 127.0.0.1 for tests of outgoing mail (std threads, no runtime).
//!
//! It speaks just enough of RFC 5321 for a submission client: `EHLO`/`HELO`, `AUTH PLAIN` and
//! `AUTH LOGIN` (RFC 4954 §4; RFC 4616 for PLAIN), `MAIL FROM`, `RCPT TO`, `DATA` (with
//! dot-unstuffing, RFC 5321 §4.5.2), `RSET`, `NOOP` and `QUIT`. No TLS: a test that needs
//! STARTTLS wants a real server. Every accepted message is recorded with its envelope and raw
//! bytes, to be read back with [`SmtpSink::messages`] or [`SmtpSink::wait_for`].
//!
//! With [`SmtpSink::start_with_auth`] the sink advertises `AUTH PLAIN LOGIN`, refuses `MAIL`
//! before a successful login (530) and refuses wrong credentials (535).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::error::{Error, Result};

/// One message the sink accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The name the client gave in `EHLO`/`HELO`.
    pub helo: String,
    /// The user the client authenticated as, if it did.
    pub auth_user: Option<String>,
    /// The reverse path of `MAIL FROM` (without the angle brackets).
    pub mail_from: String,
    /// The forward paths of every accepted `RCPT TO`, in order.
    pub rcpt_to: Vec<String>,
    /// The message as sent after `DATA`, dot-unstuffed, without the terminating `.` line.
    pub data: Vec<u8>,
}

impl ReceivedMessage {
    /// The message bytes as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

type Credentials = Option<(String, String)>;

/// A listening SMTP sink. Stops listening on drop; open sessions end with their clients.
pub struct SmtpSink {
    addr: SocketAddr,
    messages: Arc<Mutex<Vec<ReceivedMessage>>>,
    sessions: Arc<Mutex<u64>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SmtpSink {
    /// Listens on a free port of 127.0.0.1 and accepts mail without authentication.
    pub fn start() -> Result<SmtpSink> {
        Self::listen(None)
    }

    /// Listens on a free port of 127.0.0.1 and accepts mail only after `AUTH PLAIN` or
    /// `AUTH LOGIN` with these credentials.
    pub fn start_with_auth(user: &str, password: &str) -> Result<SmtpSink> {
        Self::listen(Some((user.to_owned(), password.to_owned())))
    }

    fn listen(credentials: Credentials) -> Result<SmtpSink> {
        let l = TcpListener::bind("127.0.0.1:0").map_err(Error::net("bind an smtp port"))?;
        let addr = l
            .local_addr()
            .map_err(Error::net("read the smtp sink address"))?;
        let messages = Arc::new(Mutex::new(Vec::new()));
        let sessions = Arc::new(Mutex::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (msgs, count, st) = (
            Arc::clone(&messages),
            Arc::clone(&sessions),
            Arc::clone(&stop),
        );
        let credentials = Arc::new(credentials);
        let thread = std::thread::Builder::new()
            .name("testkit-smtp-sink".into())
            .spawn(move || {
                for conn in l.incoming() {
                    if st.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    if let Ok(mut n) = count.lock() {
                        *n += 1;
                    }
                    let (msgs, creds) = (Arc::clone(&msgs), Arc::clone(&credentials));
                    let _ = std::thread::Builder::new()
                        .name("testkit-smtp-session".into())
                        .spawn(move || {
                            let _ = session(conn, &creds, &msgs);
                        });
                }
            })
            .map_err(Error::net("spawn the smtp sink thread"))?;
        Ok(SmtpSink {
            addr,
            messages,
            sessions,
            stop,
            thread: Some(thread),
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far (with or without a message).
    pub fn sessions(&self) -> u64 {
        self.sessions.lock().map(|n| *n).unwrap_or(0)
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        self.messages.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Waits until at least `n` messages arrived or `timeout` passed; returns what arrived.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() >= deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Envelope of the transaction in progress.
#[derive(Default)]
struct Transaction {
    from: Option<String>,
    rcpt: Vec<String>,
}

/// One client connection, until QUIT, EOF or an I/O error.
fn session(
    conn: TcpStream,
    credentials: &Credentials,
    messages: &Mutex<Vec<ReceivedMessage>>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut out = conn.try_clone()?;
    let mut input = BufReader::new(conn);
    let reply = |out: &mut TcpStream, text: &str| out.write_all(format!("{text}\r\n").as_bytes());
    reply(&mut out, "220 sink.test ESMTP testkit")?;
    let mut helo = String::new();
    let mut user: Option<String> = None;
    let mut tx = Transaction::default();
    loop {
        let Some(line) = read_line(&mut input)? else {
            return Ok(());
        };
        let (verb, arg) = match line.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_owned()),
            None => (line.to_ascii_uppercase(), String::new()),
        };
        match verb.as_str() {
            "EHLO" => {
                helo = arg;
                tx = Transaction::default();
                let mut lines = vec!["250-sink.test", "250-8BITMIME", "250-PIPELINING"];
                if credentials.is_some() {
                    lines.push("250-AUTH PLAIN LOGIN");
                }
                lines.push("250 SMTPUTF8");
                reply(&mut out, &lines.join("\r\n"))?;
            }
            "HELO" => {
                helo = arg;
                tx = Transaction::default();
                reply(&mut out, "250 sink.test")?;
            }
            "AUTH" => {
                let Some(expected) = credentials else {
                    reply(&mut out, "502 5.5.1 AUTH not offered")?;
                    continue;
                };
                if user.is_some() {
                    reply(&mut out, "503 5.5.1 already authenticated")?;
                    continue;
                }
                let given = match auth_exchange(&arg, &mut input, &mut out)? {
                    Some(given) => given,
                    None => {
                        reply(&mut out, "501 5.5.2 malformed AUTH")?;
                        continue;
                    }
                };
                if given == *expected {
                    user = Some(given.0);
                    reply(&mut out, "235 2.7.0 authentication successful")?;
                } else {
                    reply(&mut out, "535 5.7.8 authentication credentials invalid")?;
                }
            }
            "MAIL" => {
                if credentials.is_some() && user.is_none() {
                    reply(&mut out, "530 5.7.0 authentication required")?;
                } else if let Some(path) = path_after(&arg, "FROM:") {
                    tx = Transaction {
                        from: Some(path),
                        rcpt: Vec::new(),
                    };
                    reply(&mut out, "250 2.1.0 ok")?;
                } else {
                    reply(&mut out, "501 5.5.4 syntax: MAIL FROM:<address>")?;
                }
            }
            "RCPT" => {
                if tx.from.is_none() {
                    reply(&mut out, "503 5.5.1 need MAIL first")?;
                } else if let Some(path) = path_after(&arg, "TO:") {
                    tx.rcpt.push(path);
                    reply(&mut out, "250 2.1.5 ok")?;
                } else {
                    reply(&mut out, "501 5.5.4 syntax: RCPT TO:<address>")?;
                }
            }
            "DATA" => {
                if tx.rcpt.is_empty() {
                    reply(&mut out, "503 5.5.1 need RCPT first")?;
                    continue;
                }
                reply(&mut out, "354 end data with <CR><LF>.<CR><LF>")?;
                let data = read_data(&mut input)?;
                let tx = std::mem::take(&mut tx);
                if let Ok(mut m) = messages.lock() {
                    m.push(ReceivedMessage {
                        helo: helo.clone(),
                        auth_user: user.clone(),
                        mail_from: tx.from.unwrap_or_default(),
                        rcpt_to: tx.rcpt,
                        data,
                    });
                }
                reply(&mut out, "250 2.0.0 queued")?;
            }
            "RSET" => {
                tx = Transaction::default();
                reply(&mut out, "250 2.0.0 ok")?;
            }
            "NOOP" => reply(&mut out, "250 2.0.0 ok")?,
            "QUIT" => {
                reply(&mut out, "221 2.0.0 bye")?;
                return Ok(());
            }
            _ => reply(&mut out, "502 5.5.2 command not recognized")?,
        }
    }
}

/// Runs the AUTH exchange for `arg` (`PLAIN [initial]` or `LOGIN [initial]`); returns the
/// credentials the client gave, or None when the exchange is malformed.
fn auth_exchange(
    arg: &str,
    input: &mut BufReader<TcpStream>,
    out: &mut TcpStream,
) -> std::io::Result<Option<(String, String)>> {
    let mut parts = arg.split_whitespace();
    let mechanism = parts.next().unwrap_or_default().to_ascii_uppercase();
    let initial = parts.next().map(str::to_owned);
    // Asks for one more base64 line (334 + the base64 of `prompt`).
    let mut ask = |prompt: &str| -> std::io::Result<Option<Vec<u8>>> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(prompt);
        out.write_all(format!("334 {b64}\r\n").as_bytes())?;
        Ok(read_line(input)?.and_then(|l| decode(&l)))
    };
    match mechanism.as_str() {
        // RFC 4616 §2: [authzid] NUL authcid NUL passwd.
        "PLAIN" => {
            let raw = match initial {
                Some(i) => decode(&i),
                None => ask("")?,
            };
            let Some(raw) = raw else { return Ok(None) };
            let fields: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
            let [_, user, password] = fields.as_slice() else {
                return Ok(None);
            };
            Ok(Some((
                String::from_utf8_lossy(user).into_owned(),
                String::from_utf8_lossy(password).into_owned(),
            )))
        }
        "LOGIN" => {
            let user = match initial {
                Some(i) => decode(&i),
                None => ask("Username:")?,
            };
            let Some(user) = user else { return Ok(None) };
            let Some(password) = ask("Password:")? else {
                return Ok(None);
            };
            Ok(Some((
                String::from_utf8_lossy(&user).into_owned(),
                String::from_utf8_lossy(&password).into_owned(),
            )))
        }
        _ => Ok(None),
    }
}

fn decode(b64: &str) -> Option<Vec<u8>> {
    if b64 == "=" {
        return Some(Vec::new());
    }
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()
}

/// `FROM:<a@b> SIZE=1` -> `a@b`.
fn path_after(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some(rest[..end].to_owned())
}

/// One command line without its CRLF; None at EOF.
fn read_line(input: &mut BufReader<TcpStream>) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    if input.read_until(b'\n', &mut buf)? == 0 {
        return Ok(None);
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// The message after DATA up to the `.` line, dot-unstuffed (RFC 5321 §4.5.2).
fn read_data(input: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let mut line = Vec::new();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed during DATA",
            ));
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(data);
        }
        let line = line.strip_prefix(b".").unwrap_or(&line);
        data.extend_from_slice(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn expect(r: &mut BufReader<TcpStream>, code: &str) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).expect("read reply");
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                break;
            }
        }
        assert!(all.starts_with(code), "wanted {code}, got {all}");
        all
    }

    #[test]
    fn records_envelope_and_unstuffed_data_after_auth_plain() {
        let sink = SmtpSink::start_with_auth("relay", "s3cret").expect("sink");
        let mut w = TcpStream::connect(sink.addr()).expect("connect");
        let mut r = BufReader::new(w.try_clone().expect("clone"));
        expect(&mut r, "220");
        w.write_all(b"EHLO client.test\r\n").unwrap();
        assert!(expect(&mut r, "250").contains("AUTH PLAIN LOGIN"));
        w.write_all(b"MAIL FROM:<a@x.test>\r\n").unwrap();
        expect(&mut r, "530");
        let bad = base64::engine::general_purpose::STANDARD.encode("\0relay\0wrong");
        w.write_all(format!("AUTH PLAIN {bad}\r\n").as_bytes())
            .unwrap();
        expect(&mut r, "535");
        let good = base64::engine::general_purpose::STANDARD.encode("\0relay\0s3cret");
        w.write_all(format!("AUTH PLAIN {good}\r\n").as_bytes())
            .unwrap();
        expect(&mut r, "235");
        w.write_all(b"MAIL FROM:<a@x.test> BODY=8BITMIME\r\nRCPT TO:<b@y.test>\r\nDATA\r\n")
            .unwrap();
        expect(&mut r, "250");
        expect(&mut r, "250");
        expect(&mut r, "354");
        w.write_all(b"Subject: t\r\n\r\n..dot\r\nend\r\n.\r\nQUIT\r\n")
            .unwrap();
        expect(&mut r, "250");
        expect(&mut r, "221");
        let mut rest = Vec::new();
        let _ = r.read_to_end(&mut rest);
        let m = sink.wait_for(1, Duration::from_secs(5));
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].helo, "client.test");
        assert_eq!(m[0].auth_user.as_deref(), Some("relay"));
        assert_eq!(m[0].mail_from, "a@x.test");
        assert_eq!(m[0].rcpt_to, vec!["b@y.test".to_owned()]);
        assert_eq!(m[0].data, b"Subject: t\r\n\r\n.dot\r\nend\r\n");
    }

    #[test]
    fn auth_login_challenge_response() {
        let sink = SmtpSink::start_with_auth("relay", "pw").expect("sink");
        let mut w = TcpStream::connect(sink.addr()).expect("connect");
        let mut r = BufReader::new(w.try_clone().expect("clone"));
        expect(&mut r, "220");
        w.write_all(b"HELO c\r\nAUTH LOGIN\r\n").unwrap();
        expect(&mut r, "250");
        expect(&mut r, "334 VXNlcm5hbWU6");
        w.write_all(b"cmVsYXk=\r\n").unwrap();
        expect(&mut r, "334 UGFzc3dvcmQ6");
        w.write_all(b"cHc=\r\n").unwrap();
        expect(&mut r, "235");
    }
}

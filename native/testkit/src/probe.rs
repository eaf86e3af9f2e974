//! Minimal blocking IMAP over plain TCP, and `openssl s_client` for TLS, for smoke checks of a
//! test server. Not a client library: no parsing beyond lines, literals and tagged status.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::error::{Error, Result};

/// The end of one command: untagged lines (literals inlined) and the tagged status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Untagged and continuation lines, without CRLF.
    pub lines: Vec<String>,
    /// `OK`, `NO` or `BAD`.
    pub status: String,
    /// The rest of the tagged line.
    pub text: String,
}

impl Reply {
    /// Did the command succeed?
    pub fn is_ok(&self) -> bool {
        self.status == "OK"
    }
}

/// A plain-TCP IMAP connection.
pub struct ImapProbe {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
    /// The server greeting.
    pub greeting: String,
}

impl ImapProbe {
    /// Connects and reads the greeting.
    pub fn connect(addr: SocketAddr) -> Result<ImapProbe> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(Error::net(format!("connect to {addr}")))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(Error::net("set a read timeout"))?;
        let writer = s.try_clone().map_err(Error::net("clone a socket"))?;
        let mut p = ImapProbe {
            reader: BufReader::new(s),
            writer,
            tag: 0,
            greeting: String::new(),
        };
        p.greeting = p.read_line()?;
        Ok(p)
    }

    fn read_line(&mut self) -> Result<String> {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = self
                .reader
                .read_until(b'\n', &mut line)
                .map_err(Error::net("read from the server"))?;
            if n == 0 {
                return Err(Error::Protocol("connection closed by the server".into()));
            }
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                line.pop();
            }
            // A literal `{n}` at the end of the line: read n bytes, then the rest of the line.
            let lit = std::str::from_utf8(&line).ok().and_then(|s| {
                let s = s.strip_suffix('}')?;
                let open = s.rfind('{')?;
                s[open + 1..].trim_end_matches('+').parse::<usize>().ok()
            });
            out.extend_from_slice(&line);
            match lit {
                Some(len) => {
                    let mut buf = vec![0u8; len];
                    self.reader
                        .read_exact(&mut buf)
                        .map_err(Error::net("read a literal"))?;
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(&buf);
                }
                None => return Ok(String::from_utf8_lossy(&out).into_owned()),
            }
        }
    }

    /// Sends `tag command` and reads up to the tagged reply. A continuation request (`+`) is
    /// answered with an empty line (what a SASL client does after a failure challenge).
    pub fn command(&mut self, command: &str) -> Result<Reply> {
        self.tag += 1;
        let tag = format!("p{}", self.tag);
        self.writer
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .map_err(Error::net("write to the server"))?;
        let mut lines = Vec::new();
        loop {
            let line = self.read_line()?;
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                let (status, text) = rest.split_once(' ').unwrap_or((rest, ""));
                return Ok(Reply {
                    lines,
                    status: status.to_string(),
                    text: text.to_string(),
                });
            }
            if line.starts_with('+') {
                self.writer
                    .write_all(b"\r\n")
                    .map_err(Error::net("write to the server"))?;
            }
            lines.push(line);
        }
    }

    /// `LOGIN user password` (quoted).
    pub fn login(&mut self, user: &str, password: &str) -> Result<Reply> {
        self.command(&format!("LOGIN {} {}", quote(user), quote(password)))
    }

    /// `AUTHENTICATE PLAIN` with an initial response (RFC 4616; authzid may be empty).
    pub fn authenticate_plain(
        &mut self,
        authzid: &str,
        authcid: &str,
        password: &str,
    ) -> Result<Reply> {
        let raw = format!("{authzid}\0{authcid}\0{password}");
        self.command(&format!("AUTHENTICATE PLAIN {}", b64(raw.as_bytes())))
    }

    /// `AUTHENTICATE XOAUTH2` with an initial response.
    pub fn authenticate_xoauth2(&mut self, user: &str, token: &str) -> Result<Reply> {
        self.command(&format!(
            "AUTHENTICATE XOAUTH2 {}",
            b64(xoauth2_payload(user, token).as_bytes())
        ))
    }

    /// `LOGOUT`, ignoring errors.
    pub fn logout(mut self) {
        let _ = self.command("LOGOUT");
    }
}

/// `user=<user>^Aauth=Bearer <token>^A^A`.
pub fn xoauth2_payload(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// An IMAP quoted string.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// How `openssl s_client` reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (port 993 style).
    Implicit,
    /// Plain, then `STARTTLS` (s_client's `-starttls imap`).
    StartTls,
}

/// Sends `script` (CRLF-terminated tagged commands, ending with LOGOUT) over TLS with
/// `openssl s_client`, verifying the certificate against `ca_file` for host `localhost`, and
/// returns everything the server said. Fails if verification fails.
pub fn openssl_session(
    addr: SocketAddr,
    mode: TlsMode,
    ca_file: &Path,
    script: &str,
) -> Result<String> {
    let mut cmd = Command::new("openssl");
    cmd.arg("s_client")
        .arg("-connect")
        .arg(addr.to_string())
        .arg("-CAfile")
        .arg(ca_file)
        .args([
            "-verify_hostname",
            "localhost",
            "-verify_return_error",
            "-quiet",
        ]);
    if mode == TlsMode::StartTls {
        cmd.args(["-starttls", "imap"]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Command {
            command: "openssl s_client".into(),
            status: "not started".into(),
            stderr: e.to_string(),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(script.as_bytes());
    }
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > Duration::from_secs(20) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Protocol(
                    "openssl s_client did not finish within 20 s".into(),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(Error::net("wait for openssl")(e)),
        }
    }
    let out = child
        .wait_with_output()
        .map_err(Error::net("read openssl output"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() || stderr.contains("verify error") {
        return Err(Error::Command {
            command: "openssl s_client".into(),
            status: out.status.to_string(),
            stderr,
        });
    }
    Ok(stdout)
}

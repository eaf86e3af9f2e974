//! Mail in and out of a [`Cyrus`] instance over IMAP (Cyrus has no doveadm): seeding with
//! CREATE + APPEND (synchronizing literals, flags and INTERNALDATE kept), and reading every
//! folder back into a [`Snapshot`] comparable with a Dovecot one.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use crate::cyrus::Cyrus;
use crate::error::{Error, Result};
use crate::maildir::{SeedFolder, decode_mutf7, encode_mutf7};
use crate::probe::quote;
use crate::snapshot::{MessageView, Snapshot, served_sha256};

/// One response line with its literals (`{n}` CRLF bytes), as read.
struct Line {
    text: String,
    literals: Vec<Vec<u8>>,
}

/// A blocking IMAP connection to a Cyrus instance, logged in.
pub struct CyrusClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
    separator: char,
}

impl CyrusClient {
    /// Connects and logs in as `user`.
    pub fn login(cyrus: &Cyrus, user: &str, password: &str) -> Result<CyrusClient> {
        let s = TcpStream::connect_timeout(&cyrus.imap_addr(), Duration::from_secs(5))
            .map_err(Error::net("connect to cyrus"))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(Error::net("set a read timeout"))?;
        let _ = s.set_nodelay(true);
        let writer = s.try_clone().map_err(Error::net("clone a socket"))?;
        let mut c = CyrusClient {
            reader: BufReader::new(s),
            writer,
            tag: 0,
            separator: cyrus.separator(),
        };
        c.read_line()?;
        c.run(&format!("LOGIN {} {}", quote(user), quote(password)))?;
        Ok(c)
    }

    fn read_line(&mut self) -> Result<Line> {
        let mut text = Vec::new();
        let mut literals = Vec::new();
        loop {
            let mut part = Vec::new();
            let n = self
                .reader
                .read_until(b'\n', &mut part)
                .map_err(Error::net("read from cyrus"))?;
            if n == 0 {
                return Err(Error::Protocol("cyrus closed the connection".into()));
            }
            while part.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                part.pop();
            }
            let lit = std::str::from_utf8(&part).ok().and_then(|s| {
                let s = s.strip_suffix('}')?;
                let open = s.rfind('{')?;
                s[open + 1..].parse::<usize>().ok()
            });
            text.extend_from_slice(&part);
            match lit {
                Some(len) => {
                    let mut buf = vec![0u8; len];
                    self.reader
                        .read_exact(&mut buf)
                        .map_err(Error::net("read a literal"))?;
                    literals.push(buf);
                }
                None => {
                    return Ok(Line {
                        text: String::from_utf8_lossy(&text).into_owned(),
                        literals,
                    });
                }
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.writer
            .write_all(bytes)
            .map_err(Error::net("write to cyrus"))
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("c{}", self.tag)
    }

    /// Reads to the tagged completion of `tag`; an error unless OK.
    fn complete(&mut self, tag: &str, what: &str) -> Result<Vec<Line>> {
        let mut lines = Vec::new();
        loop {
            let l = self.read_line()?;
            if let Some(rest) = l.text.strip_prefix(&format!("{tag} ")) {
                if rest.starts_with("OK") {
                    return Ok(lines);
                }
                return Err(Error::Protocol(format!("cyrus refused {what}: {rest}")));
            }
            lines.push(l);
        }
    }

    fn run(&mut self, command: &str) -> Result<Vec<Line>> {
        let tag = self.next_tag();
        self.send(format!("{tag} {command}\r\n").as_bytes())?;
        let what = command.split(' ').next().unwrap_or("").to_string();
        self.complete(&tag, &what)
    }

    fn wire_name(&self, name: &str) -> String {
        quote(&encode_mutf7(
            &name.replace('/', &self.separator.to_string()),
        ))
    }

    /// Creates the folders (INBOX exists) and appends their messages in order.
    pub fn seed(&mut self, folders: &[SeedFolder]) -> Result<usize> {
        let mut n = 0;
        for f in folders {
            let name = self.wire_name(&f.name);
            if !f.name.eq_ignore_ascii_case("INBOX") {
                self.run(&format!("CREATE {name}"))?;
            }
            for m in &f.messages {
                let flags: Vec<&str> = m
                    .flags
                    .iter()
                    .map(String::as_str)
                    .filter(|x| !x.eq_ignore_ascii_case("\\Recent"))
                    .collect();
                let date = Utc
                    .timestamp_opt(m.internal_date, 0)
                    .single()
                    .ok_or_else(|| Error::InvalidArgument("internal date out of range".into()))?
                    .format("%d-%b-%Y %H:%M:%S +0000");
                let tag = self.next_tag();
                self.send(
                    format!(
                        "{tag} APPEND {name} ({}) \"{date}\" {{{}}}\r\n",
                        flags.join(" "),
                        m.bytes.len()
                    )
                    .as_bytes(),
                )?;
                let go = self.read_line()?;
                if !go.text.starts_with('+') {
                    return Err(Error::Protocol(format!(
                        "cyrus refused APPEND to {name}: {}",
                        go.text
                    )));
                }
                self.send(&m.bytes)?;
                self.send(b"\r\n")?;
                self.complete(&tag, "APPEND")?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Every folder's name (UTF-8, `/`-separated), selectable or not.
    pub fn folders(&mut self) -> Result<Vec<(String, bool)>> {
        Ok(self
            .list("LIST \"\" \"*\"")?
            .into_iter()
            .map(|(n, attrs)| {
                let noselect = attrs.iter().any(|a| a.eq_ignore_ascii_case("\\Noselect"));
                (n, noselect)
            })
            .collect())
    }

    /// Every folder with its special-use attributes (`LIST ... RETURN (SPECIAL-USE)`).
    pub fn special_use(&mut self) -> Result<Vec<(String, Vec<String>)>> {
        Ok(self
            .list("LIST \"\" \"*\" RETURN (SPECIAL-USE)")?
            .into_iter()
            .map(|(n, attrs)| {
                let special = attrs
                    .into_iter()
                    .filter(|a| {
                        [
                            "\\Sent",
                            "\\Trash",
                            "\\Junk",
                            "\\Drafts",
                            "\\Archive",
                            "\\All",
                        ]
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(a))
                    })
                    .collect();
                (n, special)
            })
            .collect())
    }

    fn list(&mut self, command: &str) -> Result<Vec<(String, Vec<String>)>> {
        let lines = self.run(command)?;
        let mut out = Vec::new();
        for l in lines {
            let Some(rest) = l.text.strip_prefix("* LIST (") else {
                continue;
            };
            let Some((attrs, rest)) = rest.split_once(") ") else {
                continue;
            };
            let attrs: Vec<String> = attrs.split_ascii_whitespace().map(str::to_string).collect();
            // rest: "<sep>" <name> (quoted, atom or a literal)
            let raw = match l.literals.first() {
                Some(lit) => String::from_utf8_lossy(lit).into_owned(),
                None => {
                    let name = rest.split_once(' ').map(|(_, n)| n).unwrap_or(rest);
                    name.trim_matches('"')
                        .replace("\\\"", "\"")
                        .replace("\\\\", "\\")
                }
            };
            let name = decode_mutf7(&raw).replace(self.separator, "/");
            out.push((name, attrs));
        }
        Ok(out)
    }

    /// Every selectable folder with its messages (bytes with bare LF read as CRLF, flags
    /// without `\Recent`, INTERNALDATE).
    pub fn snapshot(&mut self) -> Result<Snapshot> {
        let mut folders = BTreeMap::new();
        for (name, noselect) in self.folders()? {
            if noselect {
                continue;
            }
            let wire = self.wire_name(&name);
            self.run(&format!("EXAMINE {wire}"))?;
            let lines = self.run("UID FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[])")?;
            let mut msgs = Vec::new();
            for l in lines {
                if !l.text.contains(" FETCH (") {
                    continue;
                }
                let body = l.literals.first().cloned().unwrap_or_default();
                msgs.push(MessageView {
                    sha256: served_sha256(&body),
                    flags: parse_flags(&l.text),
                    internal_date: parse_internal_date(&l.text)?,
                });
            }
            msgs.sort();
            folders.insert(name, msgs);
        }
        Ok(Snapshot { folders })
    }

    /// Ends the session.
    pub fn logout(mut self) {
        let _ = self.run("LOGOUT");
    }
}

fn parse_flags(text: &str) -> Vec<String> {
    let Some(at) = text.find("FLAGS (") else {
        return Vec::new();
    };
    let rest = &text[at + "FLAGS (".len()..];
    let inner = &rest[..rest.find(')').unwrap_or(rest.len())];
    let mut flags: Vec<String> = inner
        .split_ascii_whitespace()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .map(str::to_string)
        .collect();
    flags.sort();
    flags
}

fn parse_internal_date(text: &str) -> Result<i64> {
    let at = text
        .find("INTERNALDATE \"")
        .ok_or_else(|| Error::Protocol(format!("no INTERNALDATE in {text:?}")))?;
    let rest = &text[at + "INTERNALDATE \"".len()..];
    let raw = &rest[..rest.find('"').unwrap_or(rest.len())];
    DateTime::parse_from_str(raw.trim(), "%d-%b-%Y %H:%M:%S %z")
        .map(|d| d.timestamp())
        .map_err(|e| Error::Protocol(format!("INTERNALDATE {raw:?}: {e}")))
}

impl Cyrus {
    /// Seeds `user`'s mailbox over IMAP; returns the number of messages appended.
    pub fn seed(&self, user: &str, password: &str, folders: &[SeedFolder]) -> Result<usize> {
        let mut c = CyrusClient::login(self, user, password)?;
        let n = c.seed(folders)?;
        c.logout();
        Ok(n)
    }

    /// `user`'s mailbox as a [`Snapshot`] (folder names `/`-separated whatever the separator).
    pub fn snapshot(&self, user: &str, password: &str) -> Result<Snapshot> {
        let mut c = CyrusClient::login(self, user, password)?;
        let s = c.snapshot()?;
        c.logout();
        Ok(s)
    }

    /// `user`'s folders with their special-use attributes.
    pub fn special_use(&self, user: &str, password: &str) -> Result<Vec<(String, Vec<String>)>> {
        let mut c = CyrusClient::login(self, user, password)?;
        let f = c.special_use()?;
        c.logout();
        Ok(f)
    }

    /// `user`'s folder names (UTF-8, `/`-separated).
    pub fn mailbox_list(&self, user: &str, password: &str) -> Result<Vec<String>> {
        let mut c = CyrusClient::login(self, user, password)?;
        let f = c.folders()?.into_iter().map(|(n, _)| n).collect();
        c.logout();
        Ok(f)
    }
}

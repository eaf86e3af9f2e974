//! Reading both directions of a connection as IMAP: lines and the literals they announce.

use std::sync::{Arc, Mutex};

use super::rules::{self, Literal};
use super::{ConnState, Shared, SyncState};

/// Longest line kept for analysis; a longer one is checked from its first part only.
const MAX_LINE: usize = 1 << 20;

fn lock(state: &Mutex<ConnState>) -> std::sync::MutexGuard<'_, ConnState> {
    match state.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// A literal announced at the end of `line` (`{n}`, `{n+}`, `~{n}`, `~{n+}`).
pub(crate) fn trailing_literal(line: &[u8]) -> Option<Literal> {
    let s = std::str::from_utf8(line).ok()?;
    let s = s.strip_suffix('}')?;
    let open = s.rfind('{')?;
    let inner = &s[open + 1..];
    let (digits, non_sync) = match inner.strip_suffix('+') {
        Some(d) => (d, true),
        None => (inner, false),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let size = digits.parse().ok()?;
    Some(Literal {
        size,
        non_sync,
        binary: s[..open].ends_with('~'),
    })
}

enum Mode {
    Line,
    Literal { remaining: u64 },
}

/// The client's side: assembles commands, checks each literal as it is announced and each
/// command once complete.
pub(crate) struct ClientParser {
    id: u64,
    state: Arc<Mutex<ConnState>>,
    shared: Arc<Shared>,
    mode: Mode,
    line: Vec<u8>,
    /// The command so far: its lines (CRLF removed), literal contents left out.
    command: String,
    /// Messages of the APPEND being read.
    messages: u64,
    /// A synchronizing literal was announced: its first byte must wait for the `+`.
    check_sync: bool,
}

impl ClientParser {
    pub fn new(id: u64, state: Arc<Mutex<ConnState>>, shared: Arc<Shared>) -> Self {
        ClientParser {
            id,
            state,
            shared,
            mode: Mode::Line,
            line: Vec::new(),
            command: String::new(),
            messages: 0,
            check_sync: false,
        }
    }

    /// A synchronizing literal was announced and none of its bytes has come yet.
    pub fn awaits_continuation(&self) -> bool {
        self.check_sync
    }

    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if lock(&self.state).opaque {
                return;
            }
            if self.check_sync {
                self.check_sync = false;
                let s = std::mem::take(&mut lock(&self.state).sync);
                match s {
                    SyncState::Granted | SyncState::Idle => {}
                    SyncState::Awaiting(_) => self.violate(
                        "literal data sent before the server's continuation request (a \
                         synchronizing literal must wait for `+`)"
                            .into(),
                    ),
                    SyncState::Refused => {
                        // The server completed the command: what follows is a new command.
                        self.mode = Mode::Line;
                        self.reset();
                    }
                }
            }
            match self.mode {
                Mode::Literal { remaining } => {
                    let take = remaining.min(data.len() as u64) as usize;
                    data = &data[take..];
                    let left = remaining - take as u64;
                    self.mode = if left == 0 {
                        Mode::Line
                    } else {
                        Mode::Literal { remaining: left }
                    };
                }
                Mode::Line => match data.iter().position(|b| *b == b'\n') {
                    Some(i) => {
                        self.push_line(&data[..=i]);
                        data = &data[i + 1..];
                        let line = std::mem::take(&mut self.line);
                        self.line_done(&line);
                    }
                    None => {
                        self.push_line(data);
                        data = &[];
                    }
                },
            }
        }
    }

    fn push_line(&mut self, part: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.line.len());
        self.line.extend_from_slice(&part[..part.len().min(room)]);
    }

    fn reset(&mut self) {
        self.command.clear();
        self.messages = 0;
    }

    fn violate(&self, rule: String) {
        self.shared
            .violate(self.id, &rules::excerpt(&self.command), rule);
    }

    fn line_done(&mut self, raw: &[u8]) {
        let mut line = raw;
        while let [rest @ .., b'\r' | b'\n'] = line {
            line = rest;
        }
        {
            let st = lock(&self.state);
            if self.command.is_empty() && st.auth_tag.is_some() {
                return; // SASL response data
            }
            if self.command.is_empty()
                && st.idle_tag.is_some()
                && line.eq_ignore_ascii_case(b"DONE")
            {
                return;
            }
        }
        self.command.push_str(&String::from_utf8_lossy(line));
        let Some(lit) = trailing_literal(line) else {
            let command = std::mem::take(&mut self.command);
            let messages = std::mem::take(&mut self.messages);
            self.command_done(&command, messages);
            return;
        };
        let caps = lock(&self.state).caps.clone();
        let tokens = rules::tokens(&self.command);
        let verb = rules::verb(&tokens);
        let is_message = verb == "APPEND" && tokens.len() > 3;
        if is_message {
            self.messages += 1;
        }
        for rule in rules::literal_rules(&caps, &lit, is_message.then_some(self.messages)) {
            self.violate(rule);
        }
        if lit.non_sync {
            self.shared.traffic(|t| {
                t.non_sync_literals += 1;
                t.largest_non_sync = t.largest_non_sync.max(lit.size);
            });
        } else {
            self.shared.traffic(|t| t.sync_literals += 1);
            lock(&self.state).sync =
                SyncState::Awaiting(tokens.first().cloned().unwrap_or_default());
            self.check_sync = true;
        }
        self.mode = Mode::Literal {
            remaining: lit.size,
        };
    }

    fn command_done(&mut self, command: &str, messages: u64) {
        let tokens = rules::tokens(command);
        if tokens.len() < 2 {
            if !command.trim().is_empty() {
                self.shared.violate(
                    self.id,
                    &rules::excerpt(command),
                    "not a command (no tag and name)".into(),
                );
            }
            return;
        }
        let verb = rules::verb(&tokens);
        let tag = tokens[0].clone();
        let caps = {
            let mut st = lock(&self.state);
            match verb.as_str() {
                "AUTHENTICATE" => st.auth_tag = Some(tag.clone()),
                "IDLE" => st.idle_tag = Some(tag.clone()),
                "STARTTLS" | "COMPRESS" => st.opaque_after = Some(tag.clone()),
                _ => {}
            }
            st.caps.clone()
        };
        self.shared.traffic(|t| {
            *t.commands.entry(verb.clone()).or_default() += 1;
            if verb == "APPEND" {
                t.appended_messages += messages;
                t.append_connections.insert(self.id);
            }
        });
        for rule in rules::command_rules(&caps, &verb, &tokens) {
            self.shared.violate(self.id, &rules::excerpt(command), rule);
        }
    }
}

/// The server's side: tracks capabilities, continuation requests and completions, and removes
/// response codes of extensions the server did not advertise.
pub(crate) struct ServerParser {
    state: Arc<Mutex<ConnState>>,
    mode: Mode,
    line: Vec<u8>,
}

impl ServerParser {
    pub fn new(state: Arc<Mutex<ConnState>>) -> Self {
        ServerParser {
            state,
            mode: Mode::Line,
            line: Vec::new(),
        }
    }

    /// Appends to `out` what the client should receive for `data`.
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        while !data.is_empty() {
            if lock(&self.state).opaque {
                out.extend_from_slice(&self.line);
                self.line.clear();
                out.extend_from_slice(data);
                return;
            }
            match self.mode {
                Mode::Literal { remaining } => {
                    let take = remaining.min(data.len() as u64) as usize;
                    out.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    let left = remaining - take as u64;
                    self.mode = if left == 0 {
                        Mode::Line
                    } else {
                        Mode::Literal { remaining: left }
                    };
                }
                Mode::Line => match data.iter().position(|b| *b == b'\n') {
                    Some(i) => {
                        self.line.extend_from_slice(&data[..=i]);
                        data = &data[i + 1..];
                        let line = std::mem::take(&mut self.line);
                        self.line_done(&line, out);
                    }
                    None => {
                        self.line.extend_from_slice(data);
                        data = &[];
                    }
                },
            }
        }
    }

    fn line_done(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        let mut body = raw;
        while let [rest @ .., b'\r' | b'\n'] = body {
            body = rest;
        }
        if let Some(lit) = trailing_literal(body) {
            self.mode = Mode::Literal {
                remaining: lit.size,
            };
            out.extend_from_slice(raw);
            return;
        }
        let text = String::from_utf8_lossy(body).into_owned();
        let mut st = lock(&self.state);
        if text.starts_with('+') {
            if matches!(st.sync, SyncState::Awaiting(_)) {
                st.sync = SyncState::Granted;
            }
            drop(st);
            out.extend_from_slice(raw);
            return;
        }
        if let Some(caps) = rules::advertised(&text) {
            st.caps = caps;
        }
        let mut words = text.splitn(3, ' ');
        let (tag, status) = (
            words.next().unwrap_or_default(),
            words.next().unwrap_or_default().to_ascii_uppercase(),
        );
        if tag != "*" && matches!(status.as_str(), "OK" | "NO" | "BAD") {
            if st.sync == SyncState::Awaiting(tag.to_string()) {
                st.sync = SyncState::Refused;
            }
            if st.auth_tag.as_deref() == Some(tag) {
                st.auth_tag = None;
            }
            if st.idle_tag.as_deref() == Some(tag) {
                st.idle_tag = None;
            }
            if st.opaque_after.as_deref() == Some(tag) {
                st.opaque_after = None;
                st.opaque = status == "OK";
            }
        }
        let rewritten = rules::strip_unadvertised_codes(&st.caps, &text);
        drop(st);
        match rewritten {
            Some(t) => {
                out.extend_from_slice(t.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            None => out.extend_from_slice(raw),
        }
    }
}

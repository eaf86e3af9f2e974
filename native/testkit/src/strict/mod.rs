//! A checking proxy between an IMAP client and a server (plain TCP on 127.0.0.1): it forwards
//! everything, reads both directions as IMAP, and records a [`Violation`] whenever the client
//! sends something the server did not advertise. Tests assert [`StrictProxy::violations`] is
//! empty.
//!
//! The capabilities checked against are the ones the server advertised last on that connection
//! (greeting, `CAPABILITY` responses, `[CAPABILITY ...]` codes), so the proxy works in front of
//! any server; a Dovecot started with a [`ServerProfile`](crate::ServerProfile) advertises the
//! profile's list. What is checked (`rules.rs`):
//! - literals: `{n+}` needs LITERAL+, or LITERAL- with n ≤ 4,096 (RFC 7888); a synchronizing
//!   literal's bytes must wait for the server's `+`; `~{n}` needs BINARY;
//! - commands beyond IMAP4rev1 need their extension: UNSELECT, MOVE, ENABLE, ID, COMPRESS,
//!   NAMESPACE, IDLE, UID EXPUNGE (UIDPLUS), quota, ACL, METADATA, SORT, THREAD, XLIST;
//! - arguments: a second message in one APPEND (MULTIAPPEND), a message over APPENDLIMIT,
//!   CONDSTORE/QRESYNC items (`(CONDSTORE)`, `MODSEQ`, `CHANGEDSINCE`, `UNCHANGEDSINCE`,
//!   `HIGHESTMODSEQ`, `VANISHED`), LIST-EXTENDED/LIST-STATUS/SPECIAL-USE options of LIST,
//!   `CREATE ... (USE ...)`, `SEARCH RETURN`, `STATUS ... SIZE`, AUTHENTICATE mechanisms and
//!   SASL-IR, LOGIN under LOGINDISABLED.
//!
//! The server's answers are also made to match what it advertised: without UIDPLUS the
//! `APPENDUID`/`COPYUID` codes are removed, without CONDSTORE the `HIGHESTMODSEQ`/`NOMODSEQ`
//! codes, so a client that relies on them without the capability is caught by the results.
//! STARTTLS and COMPRESS end the checking for that connection (the bytes are no longer IMAP
//! text) and count as violations: strict tests run in clear text.

mod parse;
mod rules;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, Result};
use parse::{ClientParser, ServerParser};

/// Something the client sent that the server did not advertise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Connection number (0 for the first accepted).
    pub connection: u64,
    /// The command, shortened, with LOGIN/AUTHENTICATE arguments left out.
    pub command: String,
    /// What was wrong, naming the capability it needed.
    pub rule: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "connection {}: {} ({})",
            self.connection, self.rule, self.command
        )
    }
}

/// Counts of what passed through, for tests that check how the client adapted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Commands by name (`APPEND`, `UID FETCH`, ...), upper-cased.
    pub commands: std::collections::BTreeMap<String, u64>,
    /// Messages appended (one APPEND may carry several with MULTIAPPEND).
    pub appended_messages: u64,
    /// Synchronizing literals (`{n}`) the client sent.
    pub sync_literals: u64,
    /// Non-synchronizing literals (`{n+}`) the client sent.
    pub non_sync_literals: u64,
    /// Largest non-synchronizing literal sent.
    pub largest_non_sync: u64,
    /// The connections (numbered as in [`Violation::connection`]) that sent APPEND.
    pub append_connections: BTreeSet<u64>,
}

impl Traffic {
    /// How many times `name` was sent.
    pub fn count(&self, name: &str) -> u64 {
        self.commands
            .get(&name.to_ascii_uppercase())
            .copied()
            .unwrap_or(0)
    }
}

/// What both directions of one connection share.
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    /// The capabilities advertised last, upper-cased.
    pub caps: BTreeSet<String>,
    /// A synchronizing literal announced and not yet answered.
    pub sync: SyncState,
    /// Tag of an AUTHENTICATE whose exchange is under way (client lines are SASL data).
    pub auth_tag: Option<String>,
    /// Tag of an IDLE under way (the client's next line is `DONE`).
    pub idle_tag: Option<String>,
    /// Tag of a STARTTLS or COMPRESS command: after its OK the bytes are opaque.
    pub opaque_after: Option<String>,
    /// The bytes are no longer IMAP text (STARTTLS or COMPRESS succeeded).
    pub opaque: bool,
}

/// Where a synchronizing literal stands.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) enum SyncState {
    /// None announced.
    #[default]
    Idle,
    /// Announced by command `tag`, waiting for the server's `+` or a tagged refusal.
    Awaiting(String),
    /// The server sent `+`: the literal may follow.
    Granted,
    /// The server completed the command instead: no literal follows.
    Refused,
}

#[derive(Default)]
pub(crate) struct Shared {
    pub violations: Mutex<Vec<Violation>>,
    pub traffic: Mutex<Traffic>,
}

impl Shared {
    pub fn violate(&self, connection: u64, command: &str, rule: String) {
        if let Ok(mut v) = self.violations.lock() {
            v.push(Violation {
                connection,
                command: command.to_string(),
                rule,
            });
        }
    }

    pub fn traffic(&self, f: impl FnOnce(&mut Traffic)) {
        if let Ok(mut t) = self.traffic.lock() {
            f(&mut t);
        }
    }
}

/// The checking proxy. Stops listening and closes every connection on drop.
pub struct StrictProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    connections: Arc<AtomicU64>,
    live: Arc<AtomicU64>,
    peak: Arc<AtomicU64>,
}

impl StrictProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream` (a plain IMAP port).
    pub fn start(upstream: SocketAddr) -> Result<StrictProxy> {
        let l = TcpListener::bind("127.0.0.1:0").map_err(Error::net("bind a proxy port"))?;
        let addr = l
            .local_addr()
            .map_err(Error::net("read the proxy address"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared::default());
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let connections = Arc::new(AtomicU64::new(0));
        let live = Arc::new(AtomicU64::new(0));
        let peak = Arc::new(AtomicU64::new(0));
        let pk = Arc::clone(&peak);
        let (st, sh, cs, count, lv) = (
            Arc::clone(&stop),
            Arc::clone(&shared),
            Arc::clone(&conns),
            Arc::clone(&connections),
            Arc::clone(&live),
        );
        let thread = std::thread::Builder::new()
            .name("testkit-strict-proxy".into())
            .spawn(move || {
                for conn in l.incoming() {
                    if st.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = conn else { continue };
                    let id = count.fetch_add(1, Ordering::SeqCst);
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
                    let (sh, conn_live) = (Arc::clone(&sh), Arc::clone(&lv));
                    let now = lv.fetch_add(1, Ordering::SeqCst) + 1;
                    pk.fetch_max(now, Ordering::SeqCst);
                    let spawned = std::thread::Builder::new()
                        .name("testkit-strict-conn".into())
                        .spawn(move || {
                            serve(id, client, server, sh);
                            conn_live.fetch_sub(1, Ordering::SeqCst);
                        });
                    if spawned.is_err() {
                        lv.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            })
            .map_err(Error::net("spawn the proxy thread"))?;
        Ok(StrictProxy {
            addr,
            stop,
            thread: Some(thread),
            shared,
            conns,
            connections,
            live,
            peak,
        })
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    /// Connections still open on either side (the server may still be executing what a
    /// client that went away had sent).
    pub fn live_connections(&self) -> u64 {
        self.live.load(Ordering::SeqCst)
    }

    /// The most connections that were open at once.
    pub fn peak_connections(&self) -> u64 {
        self.peak.load(Ordering::SeqCst)
    }

    /// Waits until every connection has ended on both sides; false after `timeout`.
    pub fn wait_until_idle(&self, timeout: Duration) -> bool {
        let start = std::time::Instant::now();
        while self.live_connections() > 0 {
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// Everything the client sent that the server had not advertised, in order.
    pub fn violations(&self) -> Vec<Violation> {
        self.shared
            .violations
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// Counts of commands, appended messages and literals seen so far.
    pub fn traffic(&self) -> Traffic {
        self.shared
            .traffic
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default()
    }

    /// Panics with every violation listed, if there is any (for tests).
    #[track_caller]
    pub fn assert_clean(&self, what: &str) {
        let v = self.violations();
        assert!(
            v.is_empty(),
            "{what}: the client sent what the server did not advertise:\n{}",
            v.iter().map(|x| format!("  {x}\n")).collect::<String>()
        );
    }
}

impl Drop for StrictProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Ok(mut list) = self.conns.lock() {
            for s in list.drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

/// How long the proxy waits, after a synchronizing literal's announcement and before it
/// passes the announcement on, for bytes the client should not send yet. Bytes that arrive
/// then were sent before the server could have answered: a client that does not wait for
/// the `+` is caught whatever the scheduling. Costs this much per synchronizing literal.
const EARLY_LITERAL_WINDOW: Duration = Duration::from_millis(5);

/// Runs one connection: a thread per direction, each parsing what it forwards.
fn serve(id: u64, client: TcpStream, server: TcpStream, shared: Arc<Shared>) {
    let state = Arc::new(Mutex::new(ConnState::default()));
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let (st, sh) = (Arc::clone(&state), Arc::clone(&shared));
    let up = std::thread::spawn(move || client_pump(ClientParser::new(id, st, sh), client, server));
    let mut parser = ServerParser::new(state);
    let mut from = s2;
    let mut to = c2;
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(64 * 1024);
    let mut client_gone = false;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if client_gone {
            // Keep reading until the server closes: it may still be executing commands the
            // client sent before it went away, and the connection counts as live until then.
            continue;
        }
        out.clear();
        parser.feed(&buf[..n], &mut out);
        if to.write_all(&out).is_err() {
            client_gone = true;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = up.join();
}

/// Client to server: each chunk is parsed before it is forwarded, so that the state the
/// server's answers are read against is already there when they come. (Only this thread
/// reads the client socket, so its read timeout is this thread's to set.)
fn client_pump(mut parser: ClientParser, mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut held: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                // The window passed without early bytes: pass the announcement on.
                let _ = from.set_read_timeout(None);
                if to.write_all(&held).is_err() {
                    break;
                }
                held.clear();
                continue;
            }
            Err(_) => break,
        };
        parser.feed(&buf[..n]);
        held.extend_from_slice(&buf[..n]);
        if parser.awaits_continuation() {
            let _ = from.set_read_timeout(Some(EARLY_LITERAL_WINDOW));
            continue;
        }
        let _ = from.set_read_timeout(None);
        if to.write_all(&held).is_err() {
            break;
        }
        held.clear();
    }
    let _ = to.write_all(&held);
    let _ = to.shutdown(Shutdown::Write);
}

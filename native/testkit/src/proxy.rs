//! TCP proxies on 127.0.0.1 for latency and failure tests (std threads, no runtime).
//!
//! - [`DelayProxy`] holds every chunk for a one-way delay in both directions, in order, which is
//!   how our CI emulates WAN latency without `tc netem` (a round trip costs 2 × `one_way`).
//! - [`FaultProxy`] forwards untouched until told to cut: every live connection now
//!   ([`FaultProxy::cut_all`]) or the next connection after n bytes from the server
//!   ([`FaultProxy::cut_after_bytes`]); it can also refuse connections.
//!
//! Both stop listening and close every connection on drop.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Live connections (client side and upstream side), by id, so they can be cut from outside.
#[derive(Default)]
struct Registry {
    conns: Mutex<HashMap<u64, (TcpStream, TcpStream)>>,
    next_id: AtomicU64,
}

impl Registry {
    fn add(&self, client: &TcpStream, upstream: &TcpStream) -> Option<u64> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let pair = (client.try_clone().ok()?, upstream.try_clone().ok()?);
        self.conns.lock().ok()?.insert(id, pair);
        Some(id)
    }

    fn remove(&self, id: u64) {
        if let Ok(mut c) = self.conns.lock() {
            c.remove(&id);
        }
    }

    fn cut(&self, id: u64) {
        if let Ok(mut c) = self.conns.lock()
            && let Some((a, b)) = c.remove(&id)
        {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
    }

    fn cut_all(&self) -> usize {
        let drained: Vec<(TcpStream, TcpStream)> = match self.conns.lock() {
            Ok(mut c) => c.drain().map(|(_, v)| v).collect(),
            Err(_) => Vec::new(),
        };
        for (a, b) in &drained {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
        drained.len()
    }

    fn live(&self) -> usize {
        self.conns.lock().map(|c| c.len()).unwrap_or(0)
    }
}

struct Listener {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    fn start(name: &str, on_conn: impl Fn(TcpStream) + Send + 'static) -> Result<Listener> {
        let l = TcpListener::bind("127.0.0.1:0").map_err(Error::net("bind a proxy port"))?;
        let addr = l
            .local_addr()
            .map_err(Error::net("read the proxy address"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for conn in l.incoming() {
                    if st.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(c) = conn {
                        let _ = c.set_nodelay(true);
                        on_conn(c);
                    }
                }
            })
            .map_err(Error::net("spawn the proxy thread"))?;
        Ok(Listener {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn connect_upstream(upstream: SocketAddr) -> Option<TcpStream> {
    let s = TcpStream::connect_timeout(&upstream, Duration::from_secs(5)).ok()?;
    let _ = s.set_nodelay(true);
    Some(s)
}

// ---------------------------------------------------------------------------------------------

/// Adds a fixed one-way delay to everything passing through, both ways, optionally at a
/// limited rate; counts the bytes each way.
pub struct DelayProxy {
    listener: Listener,
    registry: Arc<Registry>,
    connections: Arc<AtomicU64>,
    one_way: Duration,
    traffic: Arc<Traffic>,
}

/// Bytes forwarded, per direction.
#[derive(Default)]
struct Traffic {
    to_server: AtomicU64,
    to_client: AtomicU64,
}

/// How one direction of a [`DelayProxy`] connection is paced.
#[derive(Clone)]
struct Pace {
    delay: Duration,
    /// Bytes per second, each direction of each connection; 0: unlimited.
    rate: u64,
    /// When set, `rate` is the capacity of one link that every connection shares in this
    /// direction: the instant the link is free again, reserved chunk by chunk.
    link: Option<Arc<Mutex<Instant>>>,
}

impl Pace {
    /// When a chunk of `len` bytes due at `due` may be written, given this connection's own
    /// `free_at`; moves whichever clock the rate applies to past the chunk.
    fn slot(&self, due: Instant, len: usize, free_at: &mut Instant) -> Instant {
        if self.rate == 0 {
            return due;
        }
        let takes = Duration::from_secs_f64(len as f64 / self.rate as f64);
        match &self.link {
            Some(link) => {
                let mut link = link.lock().unwrap_or_else(|e| e.into_inner());
                let start = due.max(*link).max(Instant::now());
                *link = start + takes;
                start
            }
            None => {
                let start = due.max(*free_at);
                *free_at = start.max(Instant::now()) + takes;
                start
            }
        }
    }
}

impl DelayProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`.
    pub fn start(upstream: SocketAddr, one_way: Duration) -> Result<DelayProxy> {
        Self::start_limited(upstream, one_way, 0)
    }

    /// As [`DelayProxy::start`], and each direction of each connection carries at most
    /// `bytes_per_sec` (0: no limit): a slow link, where compression pays.
    pub fn start_limited(
        upstream: SocketAddr,
        one_way: Duration,
        bytes_per_sec: u64,
    ) -> Result<DelayProxy> {
        Self::start_paced(upstream, one_way, bytes_per_sec, false)
    }

    /// As [`DelayProxy::start`], over one link of `bytes_per_sec` each way that all connections
    /// share (as a client's access line is shared by every connection it opens), so a tool that
    /// opens more connections does not get more bandwidth.
    pub fn start_shared_link(
        upstream: SocketAddr,
        one_way: Duration,
        bytes_per_sec: u64,
    ) -> Result<DelayProxy> {
        Self::start_paced(upstream, one_way, bytes_per_sec, true)
    }

    fn start_paced(
        upstream: SocketAddr,
        one_way: Duration,
        bytes_per_sec: u64,
        shared: bool,
    ) -> Result<DelayProxy> {
        let registry = Arc::new(Registry::default());
        let connections = Arc::new(AtomicU64::new(0));
        let traffic = Arc::new(Traffic::default());
        let link = || shared.then(|| Arc::new(Mutex::new(Instant::now())));
        let (up_pace, down_pace) = (
            Pace {
                delay: one_way,
                rate: bytes_per_sec,
                link: link(),
            },
            Pace {
                delay: one_way,
                rate: bytes_per_sec,
                link: link(),
            },
        );
        let (reg, count, tr) = (
            Arc::clone(&registry),
            Arc::clone(&connections),
            Arc::clone(&traffic),
        );
        let listener = Listener::start("testkit-delay-proxy", move |client| {
            let tr = Arc::clone(&tr);
            count.fetch_add(1, Ordering::SeqCst);
            let Some(server) = connect_upstream(upstream) else {
                return;
            };
            let Some(id) = reg.add(&client, &server) else {
                return;
            };
            let reg = Arc::clone(&reg);
            let (up_pace, down_pace) = (up_pace.clone(), down_pace.clone());
            let _ = std::thread::Builder::new()
                .name("testkit-delay-conn".into())
                .spawn(move || {
                    let (c2, s2) = match (client.try_clone(), server.try_clone()) {
                        (Ok(c), Ok(s)) => (c, s),
                        _ => return,
                    };
                    let up_tr = Arc::clone(&tr);
                    let up = std::thread::spawn(move || {
                        delayed_pump(client, server, up_pace, &up_tr.to_server)
                    });
                    delayed_pump(s2, c2, down_pace, &tr.to_client);
                    let _ = up.join();
                    reg.remove(id);
                });
        })?;
        Ok(DelayProxy {
            listener,
            registry,
            connections,
            one_way,
            traffic,
        })
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.listener.addr.port()
    }
    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        self.listener.addr
    }
    /// The configured one-way delay.
    pub fn one_way(&self) -> Duration {
        self.one_way
    }
    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
    /// Bytes forwarded from clients to the server so far (all connections).
    pub fn bytes_to_server(&self) -> u64 {
        self.traffic.to_server.load(Ordering::SeqCst)
    }
    /// Bytes forwarded from the server to clients so far (all connections).
    pub fn bytes_to_client(&self) -> u64 {
        self.traffic.to_client.load(Ordering::SeqCst)
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.listener.stop();
        self.registry.cut_all();
    }
}

/// Reads chunks from `from` and writes each to `to` once it is `delay` old, in order, and no
/// faster than the rate allows. A reader thread stamps chunks so that a slow writer does not
/// add its own delay on top.
fn delayed_pump(mut from: TcpStream, mut to: TcpStream, pace: Pace, counted: &AtomicU64) {
    let delay = pace.delay;
    let (tx, rx) = mpsc::channel::<(Instant, Option<Vec<u8>>)>();
    let mut to_writer = match to.try_clone() {
        Ok(t) => t,
        Err(_) => return,
    };
    let writer = std::thread::spawn(move || {
        // When the link is free again at the limited rate.
        let mut free_at = Instant::now();
        for (due, chunk) in rx {
            let len = chunk.as_ref().map_or(0, Vec::len);
            let start = pace.slot(due, len, &mut free_at);
            let now = Instant::now();
            if start > now {
                std::thread::sleep(start - now);
            }
            match chunk {
                Some(c) => {
                    if to_writer.write_all(&c).is_err() {
                        break;
                    }
                }
                None => {
                    let _ = to_writer.shutdown(Shutdown::Write);
                    break;
                }
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = tx.send((Instant::now() + delay, None));
                break;
            }
            Ok(n) => {
                counted.fetch_add(n as u64, Ordering::SeqCst);
                if tx
                    .send((Instant::now() + delay, Some(buf[..n].to_vec())))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.join();
    let _ = to.flush();
}

// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct FaultState {
    /// Armed byte limit for the next connection (u64::MAX = not armed).
    cut_after: Mutex<Option<u64>>,
    refusing: AtomicBool,
    connections: AtomicU64,
    cuts: AtomicU64,
    refused: AtomicU64,
}

/// Forwards untouched until told to break connections.
pub struct FaultProxy {
    listener: Listener,
    registry: Arc<Registry>,
    state: Arc<FaultState>,
}

impl FaultProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`.
    pub fn start(upstream: SocketAddr) -> Result<FaultProxy> {
        let registry = Arc::new(Registry::default());
        let state = Arc::new(FaultState::default());
        let (reg, st) = (Arc::clone(&registry), Arc::clone(&state));
        let listener = Listener::start("testkit-fault-proxy", move |client| {
            if st.refusing.load(Ordering::SeqCst) {
                st.refused.fetch_add(1, Ordering::SeqCst);
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
            st.connections.fetch_add(1, Ordering::SeqCst);
            let limit = st.cut_after.lock().ok().and_then(|mut g| g.take());
            let Some(server) = connect_upstream(upstream) else {
                return;
            };
            let Some(id) = reg.add(&client, &server) else {
                return;
            };
            let (reg, st) = (Arc::clone(&reg), Arc::clone(&st));
            let _ = std::thread::Builder::new()
                .name("testkit-fault-conn".into())
                .spawn(move || {
                    let (c2, s2) = match (client.try_clone(), server.try_clone()) {
                        (Ok(c), Ok(s)) => (c, s),
                        _ => return,
                    };
                    let up = std::thread::spawn(move || pump(client, server, None));
                    let cut = pump(s2, c2, limit);
                    if cut {
                        st.cuts.fetch_add(1, Ordering::SeqCst);
                        reg.cut(id);
                    }
                    let _ = up.join();
                    reg.remove(id);
                });
        })?;
        Ok(FaultProxy {
            listener,
            registry,
            state,
        })
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.listener.addr.port()
    }
    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        self.listener.addr
    }

    /// Drops every live connection now (both sockets shut down); returns how many.
    pub fn cut_all(&self) -> usize {
        let n = self.registry.cut_all();
        self.state.cuts.fetch_add(n as u64, Ordering::SeqCst);
        n
    }

    /// Arms a cut: the next connection is dropped once `n` bytes have gone server → client
    /// (exactly `n` bytes are delivered). One-shot; arming again replaces the limit.
    pub fn cut_after_bytes(&self, n: u64) {
        if let Ok(mut g) = self.state.cut_after.lock() {
            *g = Some(n);
        }
    }

    /// While on, new connections are accepted and closed at once (endpoint "down").
    pub fn set_refusing(&self, on: bool) {
        self.state.refusing.store(on, Ordering::SeqCst);
    }

    /// Connections forwarded so far (refused ones not counted).
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }
    /// Connections open right now.
    pub fn live_connections(&self) -> usize {
        self.registry.live()
    }
    /// Connections cut so far (by `cut_all` or an armed byte limit).
    pub fn cuts(&self) -> u64 {
        self.state.cuts.load(Ordering::SeqCst)
    }
    /// Connections refused while [`FaultProxy::set_refusing`] was on.
    pub fn refused(&self) -> u64 {
        self.state.refused.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.listener.stop();
        self.registry.cut_all();
    }
}

/// Copies until EOF or error; with a limit, stops after exactly that many bytes and returns true.
fn pump(mut from: TcpStream, mut to: TcpStream, limit: Option<u64>) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent: u64 = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut take = n;
        if let Some(l) = limit {
            take = take.min((l - sent) as usize);
        }
        if to.write_all(&buf[..take]).is_err() {
            break;
        }
        sent += take as u64;
        if limit.is_some_and(|l| sent >= l) {
            return true;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    false
}

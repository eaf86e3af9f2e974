//! The delaying and fault-injecting proxies against a local echo server.

#![allow(clippy::expect_used, reason = "test")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use imapmigration_testkit::{DelayProxy, FaultProxy};

/// Echoes everything back; a line "big N" is answered with N bytes of 'x'.
fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let s = String::from_utf8_lossy(&buf[..n]).to_string();
                    if let Some(k) = s.trim().strip_prefix("big ") {
                        let k: usize = k.parse().unwrap_or(0);
                        if c.write_all(&vec![b'x'; k]).is_err() {
                            break;
                        }
                    } else if c.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn round_trip(s: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    s.write_all(msg).expect("write");
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got).expect("read");
    got
}

#[test]
fn delay_proxy_adds_the_delay_each_way_and_keeps_order() {
    let up = echo_server();
    let p = DelayProxy::start(up, Duration::from_millis(50)).expect("proxy");
    let mut s = TcpStream::connect(("127.0.0.1", p.port())).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let t = Instant::now();
    assert_eq!(round_trip(&mut s, b"hello"), b"hello");
    let rtt = t.elapsed();
    assert!(rtt >= Duration::from_millis(100), "{rtt:?}");
    assert!(rtt < Duration::from_millis(1000), "{rtt:?}");
    // Pipelined writes arrive in order, and the delay does not add up per chunk.
    let t = Instant::now();
    for i in 0..20 {
        s.write_all(format!("{i:03}").as_bytes()).expect("write");
    }
    let mut got = vec![0u8; 60];
    s.read_exact(&mut got).expect("read");
    let expected: String = (0..20).map(|i| format!("{i:03}")).collect();
    assert_eq!(String::from_utf8_lossy(&got), expected);
    assert!(
        t.elapsed() < Duration::from_millis(600),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(p.connections(), 1);
}

#[test]
fn fault_proxy_cuts_all_live_connections() {
    let up = echo_server();
    let p = FaultProxy::start(up).expect("proxy");
    let mut a = TcpStream::connect(p.addr()).expect("connect");
    let mut b = TcpStream::connect(p.addr()).expect("connect");
    for s in [&mut a, &mut b] {
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        assert_eq!(round_trip(s, b"ping"), b"ping");
    }
    assert_eq!(p.live_connections(), 2);
    assert_eq!(p.cut_all(), 2);
    let mut buf = [0u8; 8];
    for s in [&mut a, &mut b] {
        let _ = s.write_all(b"again");
        assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    }
    // New connections still work.
    let mut c = TcpStream::connect(p.addr()).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    assert_eq!(round_trip(&mut c, b"after"), b"after");
    assert_eq!(p.connections(), 3);
}

#[test]
fn fault_proxy_cuts_the_next_connection_after_n_bytes() {
    let up = echo_server();
    let p = FaultProxy::start(up).expect("proxy");
    p.cut_after_bytes(1000);
    let mut s = TcpStream::connect(p.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"big 5000\n").expect("write");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert_eq!(got.len(), 1000);
    assert_eq!(p.cuts(), 1);
    // One-shot: the next connection is whole.
    let mut s = TcpStream::connect(p.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"big 5000\n").expect("write");
    let mut got = vec![0u8; 5000];
    s.read_exact(&mut got).expect("all bytes");

    p.set_refusing(true);
    let mut r = TcpStream::connect(p.addr()).expect("tcp accept");
    r.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 4];
    assert!(matches!(r.read(&mut buf), Ok(0) | Err(_)));
    assert_eq!(p.refused(), 1);
}

/// Reads `n` bytes of the "big" answer on each of `k` connections at once; the time it took.
fn download_in_parallel(port: u16, k: usize, n: usize) -> Duration {
    let t = Instant::now();
    let handles: Vec<_> = (0..k)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(10)))
                    .expect("timeout");
                s.write_all(format!("big {n}\n").as_bytes()).expect("write");
                let mut got = vec![0u8; n];
                s.read_exact(&mut got).expect("read");
            })
        })
        .collect();
    for h in handles {
        h.join().expect("download thread");
    }
    t.elapsed()
}

#[test]
fn a_shared_link_gives_two_connections_the_rate_of_one() {
    let up = echo_server();
    // 400 KB at 1 MB/s: 0.4 s on one link of its own, 0.8 s when two share it.
    let (rate, n) = (1_000_000, 400_000);
    let own = DelayProxy::start_limited(up, Duration::ZERO, rate).expect("proxy");
    let apart = download_in_parallel(own.port(), 2, n);
    let link = DelayProxy::start_shared_link(up, Duration::ZERO, rate).expect("proxy");
    let shared = download_in_parallel(link.port(), 2, n);
    assert!(apart >= Duration::from_millis(300), "{apart:?}");
    assert!(apart < Duration::from_millis(700), "{apart:?}");
    assert!(shared >= Duration::from_millis(700), "{shared:?}");
    assert_eq!(link.bytes_to_client(), 2 * n as u64);
}

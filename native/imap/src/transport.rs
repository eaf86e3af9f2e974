//! The byte stream under a session: TCP or TLS, response framing, timeouts.
//!
//! Framing is ours rather than async-imap's: async-imap closes the connection on any
//! response imap-proto cannot parse (NAMESPACE, RFC 2342, is one), while we must survive
//! unknown untagged data. A frame is one complete response: a line, plus any literals
//! (`{n}` / `~{n}`, RFC 3501 §4.3, RFC 3516) and the lines that follow them.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::compress::Deflate;
use crate::error::{Error, Result};

/// Largest single response we buffer (a message body is one response).
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// Longest line outside literals: no IMAP response line comes near it, so a longer one is a
/// server sending an endless line (or not speaking IMAP), not data to buffer.
pub(crate) const MAX_LINE: usize = 1 << 20;

/// The most a literal's announced size reserves at once; a larger one grows as it arrives, so
/// that a server announcing a gigabyte does not get it allocated before sending a byte.
const MAX_RESERVE: usize = 64 << 20;

/// TCP or TLS, either with COMPRESS=DEFLATE over it.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Deflate(Box<Deflate<Stream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Deflate(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Deflate(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Deflate(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Deflate(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Where the scanner stands in the buffer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Start of the line being scanned (a literal's announcement is read from the whole line).
    pub line: usize,
    /// Offset before which that line is known to hold no CRLF: a line arriving a byte at a
    /// time is searched once, not from its start on every read.
    pub searched: usize,
}

/// Outcome of scanning the buffer for one frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Framed {
    /// A complete frame of this many bytes.
    Complete(usize),
    /// More bytes needed; the scan resumes at `resume`. `need` is the length the buffer must
    /// reach at least (known once a literal is announced; else the current length), `literal`
    /// the size of the literal being waited for, if one is.
    Partial {
        resume: Scan,
        need: usize,
        literal: Option<usize>,
    },
}

/// Finds the end of the first response in `buf`, starting at `from` (a previous `resume`).
/// Refuses a line longer than [`MAX_LINE`] and a literal that would make the frame larger
/// than `max_literal` allows.
pub(crate) fn scan_frame(buf: &[u8], from: Scan, max_literal: usize) -> Result<Framed> {
    let mut line = from.line;
    let mut search = from.searched.max(line);
    loop {
        let Some(nl) = buf[search..].windows(2).position(|w| w == b"\r\n") else {
            if buf.len() - line > MAX_LINE {
                return Err(Error::Protocol(format!(
                    "server sent a line of more than {} bytes without ending it",
                    MAX_LINE
                )));
            }
            // The last byte may be the CR of a CRLF split across reads.
            return Ok(Framed::Partial {
                resume: Scan {
                    line,
                    searched: buf.len().saturating_sub(1).max(line),
                },
                need: buf.len(),
                literal: None,
            });
        };
        let line_end = search + nl;
        if line_end - line > MAX_LINE {
            return Err(Error::Protocol(format!(
                "server sent a line of more than {MAX_LINE} bytes"
            )));
        }
        match literal_len(&buf[line..line_end])? {
            Some(n) => {
                if n > max_literal {
                    return Err(Error::Protocol(format!(
                        "server announced a literal of {n} bytes, more than the {max_literal} accepted"
                    )));
                }
                let next = line_end + 2 + n;
                if next > MAX_FRAME {
                    return Err(Error::Protocol(format!(
                        "server announced a literal of {n} bytes, more than we accept"
                    )));
                }
                if buf.len() < next {
                    return Ok(Framed::Partial {
                        resume: Scan {
                            line,
                            searched: line,
                        },
                        need: next,
                        literal: Some(n),
                    });
                }
                line = next;
                search = next;
            }
            None => return Ok(Framed::Complete(line_end + 2)),
        }
    }
}

/// `{123}` or `{123+}` at the end of a line (the `~` of literal8 precedes the brace).
fn literal_len(line: &[u8]) -> Result<Option<usize>> {
    let Some(body) = line.strip_suffix(b"}") else {
        return Ok(None);
    };
    let Some(open) = body.iter().rposition(|&b| b == b'{') else {
        return Ok(None);
    };
    let digits = &body[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 12 || !digits.iter().all(u8::is_ascii_digit) {
        return Ok(None);
    }
    // Invariant: only ASCII digits, at most 12 of them, so both conversions succeed.
    let n = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse::<usize>().ok())
        .ok_or_else(|| Error::Protocol("bad literal length".into()))?;
    Ok(Some(n))
}

/// How long a connection may stall once it is established (see [`crate::Timeouts`]).
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// `host:port`, for the errors.
    pub peer: String,
    /// No byte for this long is a stall.
    pub idle: Duration,
    /// Bytes per second a response must arrive at, averaged over `idle`; 0: no such limit.
    pub min_rate: u64,
}

/// Progress of the frame being read.
#[derive(Debug, Default)]
struct Progress {
    /// When the current rate window began, and the bytes received in it.
    window: Option<(Instant, u64)>,
    /// The literal being waited for and the time by which it must have arrived.
    literal: Option<(usize, Instant)>,
}

/// A connection with its read buffer.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: Stream,
    buf: BytesMut,
    /// Length the buffer must reach for the frame being read (a literal's announced end).
    need: usize,
    /// The size of the literal being waited for, if one is.
    literal: Option<usize>,
    scan: Scan,
    limits: Limits,
    /// Largest literal accepted (a message-size limit), [`MAX_FRAME`] by default.
    max_literal: usize,
    /// How much of an announced literal may be allocated at once: [`MAX_RESERVE`], or more
    /// when the caller has set memory aside for the bodies it fetches.
    reserve: usize,
    progress: Progress,
}

impl Conn {
    pub(crate) fn new(stream: Stream, limits: Limits) -> Self {
        Conn {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
            need: 0,
            literal: None,
            scan: Scan::default(),
            limits,
            max_literal: MAX_FRAME,
            reserve: MAX_RESERVE,
            progress: Progress::default(),
        }
    }

    /// Refuses literals larger than `max` bytes before reading them.
    pub(crate) fn limit_literals(&mut self, max: usize) {
        self.max_literal = max.min(MAX_FRAME);
    }

    /// Lets a literal of up to `bytes` be allocated whole when announced (at least
    /// [`MAX_RESERVE`]): a caller that reserved memory for the bodies it fetches gets each
    /// in one allocation of its size rather than grown step by step, copied on each growth.
    pub(crate) fn reserve_literals_up_to(&mut self, bytes: usize) {
        self.reserve = bytes.clamp(MAX_RESERVE, MAX_FRAME);
    }

    /// The next complete response, waiting for it (each wait bounded by the stall limits).
    pub(crate) async fn read_frame(&mut self) -> Result<Bytes> {
        loop {
            if let Some(frame) = self.take_frame()? {
                return Ok(frame);
            }
            self.fill().await?;
        }
    }

    /// A complete response if one is already here or arrives without waiting.
    pub(crate) fn try_read_frame(&mut self) -> Result<Option<Bytes>> {
        if let Some(frame) = self.take_frame()? {
            return Ok(Some(frame));
        }
        if self.buf.capacity() - self.buf.len() < 16 * 1024 {
            self.buf.reserve(64 * 1024);
        }
        // `read_buf` is cancel-safe: a poll that returns Pending has read nothing.
        match self.stream.read_buf(&mut self.buf).now_or_never() {
            None => Ok(None),
            Some(Ok(0)) => Err(closed()),
            Some(Ok(n)) => {
                self.progressed(n)?;
                self.take_frame()
            }
            Some(Err(e)) => Err(Error::io("reading a response", e)),
        }
    }

    fn take_frame(&mut self) -> Result<Option<Bytes>> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        match scan_frame(&self.buf, self.scan, self.max_literal)? {
            Framed::Complete(n) => {
                self.scan = Scan::default();
                self.need = 0;
                self.literal = None;
                self.progress = Progress::default();
                Ok(Some(split_frame(&mut self.buf, n)))
            }
            Framed::Partial {
                resume,
                need,
                literal,
            } => {
                self.scan = resume;
                self.need = need;
                self.literal = literal;
                Ok(None)
            }
        }
    }

    /// Books `n` bytes received for the frame in progress; a response arriving slower than
    /// the minimum rate over a whole idle period is a stall.
    fn progressed(&mut self, n: usize) -> Result<()> {
        let now = Instant::now();
        let l = &self.limits;
        if l.min_rate == 0 {
            return Ok(());
        }
        let (start, bytes) = self.progress.window.get_or_insert((now, 0));
        *bytes += n as u64;
        let elapsed = now.duration_since(*start);
        if elapsed >= l.idle {
            let want = (l.min_rate as f64 * elapsed.as_secs_f64()) as u64;
            if *bytes < want {
                return Err(Error::Timeout {
                    action: format!(
                        "{} sent {} bytes of a response, under the {} bytes/s required,",
                        l.peer, bytes, l.min_rate
                    ),
                    after: elapsed,
                });
            }
            self.progress.window = Some((now, 0));
        }
        Ok(())
    }

    async fn fill(&mut self) -> Result<()> {
        if self.buf.len() >= MAX_FRAME {
            return Err(Error::Protocol("response larger than we accept".into()));
        }
        // A literal being read is given its announced size at once (up to MAX_RESERVE): one
        // allocation of the right size, rather than growing (and copying) a body step by step.
        let want = self
            .need
            .saturating_sub(self.buf.len())
            .clamp(64 * 1024, self.reserve);
        if self.buf.capacity() - self.buf.len() < want.min(16 * 1024)
            || self.need.min(self.buf.len() + self.reserve) > self.buf.capacity()
        {
            self.buf.reserve(want);
        }
        let now = Instant::now();
        let l = &self.limits;
        // A literal is due within the idle limit plus its size at the minimum rate.
        let mut wait = l.idle;
        let mut waiting_for = None;
        if let Some(n) = self.literal.filter(|_| l.min_rate > 0) {
            let due = match self.progress.literal {
                Some((m, due)) if m == n => due,
                _ => {
                    let due = now + l.idle + Duration::from_secs_f64(n as f64 / l.min_rate as f64);
                    self.progress.literal = Some((n, due));
                    due
                }
            };
            let left = due.saturating_duration_since(now);
            if left < wait {
                wait = left;
                waiting_for = Some((n, due));
            }
        }
        match tokio::time::timeout(wait, self.stream.read_buf(&mut self.buf)).await {
            Err(_) => Err(match waiting_for {
                Some((n, _)) => Error::Timeout {
                    action: format!(
                        "{} did not send the {n} bytes of a literal it announced",
                        self.limits.peer
                    ),
                    after: self.limits.idle
                        + Duration::from_secs_f64(n as f64 / self.limits.min_rate as f64),
                },
                None => Error::Timeout {
                    action: format!("{} sent nothing", self.limits.peer),
                    after: wait,
                },
            }),
            Ok(Ok(0)) => Err(closed()),
            Ok(Ok(n)) => self.progressed(n),
            Ok(Err(e)) => Err(Error::io("reading a response", e)),
        }
    }

    /// Writes all parts and flushes, bounded by the I/O timeout.
    pub(crate) async fn write_all(&mut self, parts: &[&[u8]]) -> Result<()> {
        let stream = &mut self.stream;
        let io = async {
            for p in parts {
                stream.write_all(p).await?;
            }
            stream.flush().await
        };
        match tokio::time::timeout(self.limits.idle, io).await {
            Err(_) => Err(Error::Timeout {
                action: format!("{} took none of a command", self.limits.peer),
                after: self.limits.idle,
            }),
            Ok(Err(e)) => Err(Error::io("sending a command", e)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// The stall limits, to carry over a STARTTLS upgrade.
    pub(crate) fn limits(&self) -> Limits {
        self.limits.clone()
    }

    /// The TCP stream for a STARTTLS upgrade. Buffered bytes after the STARTTLS reply would
    /// be plaintext injected before the handshake (CVE-2011-0411 class), so they are refused.
    pub(crate) fn into_plain(self) -> Result<TcpStream> {
        if !self.buf.is_empty() {
            return Err(Error::Protocol(
                "server sent data after its STARTTLS reply".into(),
            ));
        }
        match self.stream {
            Stream::Plain(s) => Ok(s),
            Stream::Tls(_) => Err(Error::Protocol("connection already uses tls".into())),
            Stream::Deflate(_) => Err(Error::Protocol("connection is compressed".into())),
        }
    }

    /// The connection with COMPRESS=DEFLATE on (RFC 4978), after the server's OK: bytes
    /// already buffered after that reply are the start of the server's compressed stream.
    pub(crate) fn into_deflate(self) -> Conn {
        let Conn {
            stream,
            buf,
            limits,
            max_literal,
            reserve,
            ..
        } = self;
        let mut conn = Conn::new(
            Stream::Deflate(Box::new(Deflate::with_input(stream, buf.to_vec()))),
            limits,
        );
        conn.max_literal = max_literal;
        conn.reserve = reserve;
        conn
    }

    pub(crate) fn is_tls(&self) -> bool {
        match &self.stream {
            Stream::Plain(_) => false,
            Stream::Tls(_) => true,
            Stream::Deflate(s) => matches!(s.get_ref(), Stream::Tls(_)),
        }
    }

    /// Whether COMPRESS=DEFLATE is on.
    pub(crate) fn is_compressed(&self) -> bool {
        matches!(self.stream, Stream::Deflate(_))
    }

    pub(crate) async fn shutdown(&mut self) {
        let _ = tokio::time::timeout(self.limits.idle, self.stream.shutdown()).await;
    }
}

fn closed() -> Error {
    Error::io(
        "reading a response",
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "server closed the connection",
        ),
    )
}

/// A frame larger than this does not leave the rest of the read buffer in its allocation.
const OWN_ALLOCATION_ABOVE: usize = 1 << 20;

/// Takes the first `n` bytes of `buf` as a frame. The rest of the buffer would go on sharing
/// the frame's allocation, and so keep a large body's memory (a 100 MB literal) alive for as
/// long as the connection lives, after the caller dropped the body and released its share of
/// the memory budget: after a large frame the rest (at most what one read brought along) moves
/// to an allocation of its own.
fn split_frame(buf: &mut BytesMut, n: usize) -> Bytes {
    let frame = buf.split_to(n).freeze();
    if n > OWN_ALLOCATION_ABOVE {
        let mut rest = BytesMut::with_capacity(buf.len().max(64 * 1024));
        rest.extend_from_slice(buf);
        *buf = rest;
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_frame_keeps_its_allocation_to_itself() {
        let big = OWN_ALLOCATION_ABOVE + 10;
        let mut buf = BytesMut::with_capacity(big + 100);
        buf.extend_from_slice(&vec![b'x'; big]);
        buf.extend_from_slice(b"* 2 FETCH");
        let frame = split_frame(&mut buf, big);
        assert_eq!(frame.len(), big);
        assert!(
            frame.is_unique(),
            "the buffer no longer shares the body's memory"
        );
        assert_eq!(&buf[..], b"* 2 FETCH");
        // Small frames stay in the buffer's allocation: no copy per response line.
        let mut buf = BytesMut::from(&b"* OK\r\nA1 OK\r\n"[..]);
        let frame = split_frame(&mut buf, 6);
        assert!(!frame.is_unique());
        assert_eq!(&buf[..], b"A1 OK\r\n");
    }

    #[test]
    fn single_line_frame() {
        assert_eq!(
            scan_frame(b"* OK hi\r\nA1 OK", Scan::default(), MAX_FRAME).unwrap(),
            Framed::Complete(9)
        );
        assert!(matches!(
            scan_frame(b"* OK hi\r", Scan::default(), MAX_FRAME).unwrap(),
            Framed::Partial { .. }
        ));
    }

    #[test]
    fn literal_frame_needs_all_bytes() {
        let full = b"* 1 FETCH (BODY[] {5}\r\nab\r\nc UID 4)\r\nrest";
        assert_eq!(
            scan_frame(full, Scan::default(), MAX_FRAME).unwrap(),
            Framed::Complete(full.len() - 4)
        );
        for cut in 1..full.len() - 4 {
            assert!(
                matches!(
                    scan_frame(&full[..cut], Scan::default(), MAX_FRAME).unwrap(),
                    Framed::Partial { .. }
                ),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn an_announced_literal_tells_how_much_the_frame_needs() {
        // 23 bytes of line, then a literal of 1,000,000 bytes.
        let head = b"* 1 FETCH (BODY[] {1000000}\r\n";
        let mut buf = head.to_vec();
        buf.extend_from_slice(b"partial");
        assert_eq!(
            scan_frame(&buf, Scan::default(), MAX_FRAME).unwrap(),
            Framed::Partial {
                resume: Scan::default(),
                need: head.len() + 1_000_000,
                literal: Some(1_000_000),
            }
        );
    }

    #[test]
    fn resume_point_is_reusable() {
        let full = b"* LIST () \"/\" {3}\r\na\r\n\r\n";
        let Framed::Partial { resume, .. } =
            scan_frame(&full[..20], Scan::default(), MAX_FRAME).unwrap()
        else {
            panic!("expected partial")
        };
        assert_eq!(
            scan_frame(full, resume, MAX_FRAME).unwrap(),
            Framed::Complete(full.len())
        );
    }

    #[test]
    fn literal8_and_two_literals() {
        let full = b"* 2 FETCH (BINARY[] ~{2}\r\n\0\x01 BODY[1] {1}\r\nx)\r\n";
        assert_eq!(
            scan_frame(full, Scan::default(), MAX_FRAME).unwrap(),
            Framed::Complete(full.len())
        );
    }

    #[test]
    fn a_literal_marker_split_across_reads_is_still_a_literal() {
        let full = b"* 906 FETCH (UID 906 BODY[HEADER.FIELDS (MESSAGE-ID)] {5}\r\nabcde)\r\n* 907 FETCH (UID 907)\r\n";
        // Feed the bytes the way reads may split them: every split point in turn.
        for cut in 1..full.len() {
            let mut resume = Scan::default();
            if let Framed::Partial { resume: r, .. } =
                scan_frame(&full[..cut], Scan::default(), MAX_FRAME).unwrap()
            {
                resume = r;
            }
            let n = match scan_frame(full, resume, MAX_FRAME).unwrap() {
                Framed::Complete(n) => n,
                other => panic!("cut at {cut}: {other:?}"),
            };
            assert_eq!(
                n,
                full.len() - b"* 907 FETCH (UID 907)\r\n".len(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn braces_in_text_without_digits_are_not_literals() {
        let full = b"* OK see {here}\r\n";
        assert_eq!(
            scan_frame(full, Scan::default(), MAX_FRAME).unwrap(),
            Framed::Complete(full.len())
        );
    }

    #[test]
    fn absurd_literal_is_refused() {
        assert!(
            scan_frame(
                b"* 1 FETCH (BODY[] {999999999999}\r\n",
                Scan::default(),
                MAX_FRAME
            )
            .is_err()
        );
    }

    #[test]
    fn an_endless_line_is_refused_once_past_the_cap() {
        let mut buf = b"* OK ".to_vec();
        buf.resize(MAX_LINE, b'x');
        assert!(matches!(
            scan_frame(&buf, Scan::default(), MAX_FRAME).unwrap(),
            Framed::Partial { .. }
        ));
        buf.extend_from_slice(b"xx");
        let err = scan_frame(&buf, Scan::default(), MAX_FRAME).unwrap_err();
        assert!(err.to_string().contains("without ending it"), "{err}");
    }

    #[test]
    fn a_line_arriving_byte_by_byte_is_searched_once() {
        let full = b"* OK a line that trickles in\r\n";
        let mut scan = Scan::default();
        for cut in 1..full.len() {
            match scan_frame(&full[..cut], scan, MAX_FRAME).unwrap() {
                Framed::Partial { resume, .. } => {
                    // The search goes on from the last byte seen (which may be the CR).
                    assert_eq!(
                        resume,
                        Scan {
                            line: 0,
                            searched: cut - 1
                        }
                    );
                    scan = resume;
                }
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        assert_eq!(
            scan_frame(full, scan, MAX_FRAME).unwrap(),
            Framed::Complete(full.len())
        );
    }

    #[test]
    fn a_literal_over_the_size_limit_is_refused_before_it_is_read() {
        let err = scan_frame(b"* 1 FETCH (BODY[] {5000}\r\n", Scan::default(), 4096).unwrap_err();
        assert!(err.to_string().contains("5000 bytes"), "{err}");
        assert!(scan_frame(b"* 1 FETCH (BODY[] {4096}\r\n", Scan::default(), 4096).is_ok());
    }
}

//! The byte stream under a session: TCP or TLS, response framing, timeouts.
//!
//! Framing is ours rather than async-imap's: async-imap closes the connection on any
//! response imap-proto cannot parse (NAMESPACE, RFC 2342, is one), while we must survive
//! unknown untagged data. A frame is one complete response: a line, plus any literals
//! (`{n}` / `~{n}`, RFC 3501 §4.3, RFC 3516) and the lines that follow them.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::error::{Error, Result};

/// Largest single response we buffer (a message body is one response).
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// TCP or TLS.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
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
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Where the scanner stands in the buffer.
#[derive(Debug, Default)]
struct Scan {
    /// Offset up to which the current frame is known to extend.
    pos: usize,
}

/// Outcome of scanning the buffer for one frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Framed {
    /// A complete frame of this many bytes.
    Complete(usize),
    /// More bytes needed; the scan can resume at `resume`. `need` is the length the buffer
    /// must reach at least (known once a literal is announced; else the current length).
    Partial { resume: usize, need: usize },
}

/// Finds the end of the first response in `buf`, starting at `from` (a previous `resume`).
pub(crate) fn scan_frame(buf: &[u8], from: usize) -> Result<Framed> {
    let mut pos = from;
    loop {
        let Some(nl) = buf[pos..].windows(2).position(|w| w == b"\r\n") else {
            // Resume at the start of this line, not where the bytes ran out: whether the line
            // announces a literal (`{n}` at its end) can only be told from the whole line.
            return Ok(Framed::Partial {
                resume: pos,
                need: buf.len(),
            });
        };
        let line_end = pos + nl;
        match literal_len(&buf[pos..line_end])? {
            Some(n) => {
                let next = line_end + 2 + n;
                if next > MAX_FRAME {
                    return Err(Error::Protocol(format!(
                        "server announced a literal of {n} bytes, more than we accept"
                    )));
                }
                if buf.len() < next {
                    return Ok(Framed::Partial {
                        resume: pos,
                        need: next,
                    });
                }
                pos = next;
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

/// A connection with its read buffer.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: Stream,
    buf: BytesMut,
    /// Length the buffer must reach for the frame being read (a literal's announced end).
    need: usize,
    scan: Scan,
    io_timeout: Duration,
}

impl Conn {
    pub(crate) fn new(stream: Stream, io_timeout: Duration) -> Self {
        Conn {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
            need: 0,
            scan: Scan::default(),
            io_timeout,
        }
    }

    /// The next complete response, waiting for it (each read bounded by the I/O timeout).
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
            Some(Ok(_)) => self.take_frame(),
            Some(Err(e)) => Err(Error::io("reading a response", e)),
        }
    }

    fn take_frame(&mut self) -> Result<Option<Bytes>> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        match scan_frame(&self.buf, self.scan.pos)? {
            Framed::Complete(n) => {
                self.scan.pos = 0;
                self.need = 0;
                Ok(Some(self.buf.split_to(n).freeze()))
            }
            Framed::Partial { resume, need } => {
                self.scan.pos = resume;
                self.need = need;
                Ok(None)
            }
        }
    }

    async fn fill(&mut self) -> Result<()> {
        if self.buf.len() >= MAX_FRAME {
            return Err(Error::Protocol("response larger than we accept".into()));
        }
        // A literal being read is given its whole announced size at once: one allocation of
        // the right size, rather than growing (and copying) a large body step by step.
        let want = self.need.saturating_sub(self.buf.len()).max(64 * 1024);
        if self.buf.capacity() - self.buf.len() < want.min(16 * 1024)
            || self.need > self.buf.capacity()
        {
            self.buf.reserve(want);
        }
        match tokio::time::timeout(self.io_timeout, self.stream.read_buf(&mut self.buf)).await {
            Err(_) => Err(Error::Timeout {
                action: "waiting for the server".into(),
                after: self.io_timeout,
            }),
            Ok(Ok(0)) => Err(closed()),
            Ok(Ok(_)) => Ok(()),
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
        match tokio::time::timeout(self.io_timeout, io).await {
            Err(_) => Err(Error::Timeout {
                action: "sending to the server".into(),
                after: self.io_timeout,
            }),
            Ok(Err(e)) => Err(Error::io("sending a command", e)),
            Ok(Ok(())) => Ok(()),
        }
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
        }
    }

    pub(crate) fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    pub(crate) async fn shutdown(&mut self) {
        let _ = tokio::time::timeout(self.io_timeout, self.stream.shutdown()).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_frame() {
        assert_eq!(
            scan_frame(b"* OK hi\r\nA1 OK", 0).unwrap(),
            Framed::Complete(9)
        );
        assert!(matches!(
            scan_frame(b"* OK hi\r", 0).unwrap(),
            Framed::Partial { .. }
        ));
    }

    #[test]
    fn literal_frame_needs_all_bytes() {
        let full = b"* 1 FETCH (BODY[] {5}\r\nab\r\nc UID 4)\r\nrest";
        assert_eq!(
            scan_frame(full, 0).unwrap(),
            Framed::Complete(full.len() - 4)
        );
        for cut in 1..full.len() - 4 {
            assert!(
                matches!(scan_frame(&full[..cut], 0).unwrap(), Framed::Partial { .. }),
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
            scan_frame(&buf, 0).unwrap(),
            Framed::Partial {
                resume: 0,
                need: head.len() + 1_000_000
            }
        );
    }

    #[test]
    fn resume_point_is_reusable() {
        let full = b"* LIST () \"/\" {3}\r\na\r\n\r\n";
        let Framed::Partial { resume, .. } = scan_frame(&full[..20], 0).unwrap() else {
            panic!("expected partial")
        };
        assert_eq!(
            scan_frame(full, resume).unwrap(),
            Framed::Complete(full.len())
        );
    }

    #[test]
    fn literal8_and_two_literals() {
        let full = b"* 2 FETCH (BINARY[] ~{2}\r\n\0\x01 BODY[1] {1}\r\nx)\r\n";
        assert_eq!(scan_frame(full, 0).unwrap(), Framed::Complete(full.len()));
    }

    #[test]
    fn a_literal_marker_split_across_reads_is_still_a_literal() {
        let full = b"* 906 FETCH (UID 906 BODY[HEADER.FIELDS (MESSAGE-ID)] {5}\r\nabcde)\r\n* 907 FETCH (UID 907)\r\n";
        // Feed the bytes the way reads may split them: every split point in turn.
        for cut in 1..full.len() {
            let mut resume = 0;
            if let Framed::Partial { resume: r, .. } = scan_frame(&full[..cut], 0).unwrap() {
                resume = r;
            }
            let n = match scan_frame(full, resume).unwrap() {
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
        assert_eq!(scan_frame(full, 0).unwrap(), Framed::Complete(full.len()));
    }

    #[test]
    fn absurd_literal_is_refused() {
        assert!(scan_frame(b"* 1 FETCH (BODY[] {999999999999}\r\n", 0).is_err());
    }
}

//! `COMPRESS=DEFLATE` (RFC 4978): raw DEFLATE (RFC 1951, no zlib header) both ways, under the
//! response framing and over TLS when TLS is on (the RFC's order: TLS, then compression).
//!
//! Writes are deflated into a buffer; each flush ends them with a sync flush (an empty stored
//! block, RFC 4978 §4), so the server can inflate every command we sent without waiting for
//! more. Reads inflate whatever the server sent into the caller's buffer; a poll that has
//! nothing to inflate and nothing to read returns Pending as the stream under it does, so the
//! framing's non-blocking reads keep working.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Deflate level for what we send: level 1 costs a third of the CPU of the default level 6
/// for a few percent more bytes; what we send in bulk (APPEND bodies) is text that compresses
/// well at any level.
const LEVEL: u32 = 1;

/// Compressed bytes read per read of the stream under.
const READ_CHUNK: usize = 64 * 1024;

/// Inflated bytes handed out per read at most.
const INFLATE_CHUNK: usize = 256 * 1024;

/// Compressed bytes buffered for sending before a write waits for the stream under to take
/// some of them.
const WRITE_HIGH_WATER: usize = 256 * 1024;

/// A stream with RFC 4978 compression on both directions.
#[derive(Debug)]
pub(crate) struct Deflate<S> {
    inner: S,
    inflate: Decompress,
    deflate: Compress,
    /// Compressed bytes read and not yet inflated (`in_pos..`).
    input: Vec<u8>,
    in_pos: usize,
    /// Compressed bytes to send (`out_pos..`).
    output: Vec<u8>,
    out_pos: usize,
    /// Data was deflated since the last sync flush.
    unflushed: bool,
    /// The server ended its deflate stream (it must not: RFC 4978 §4 keeps it open).
    ended: bool,
}

impl<S> Deflate<S> {
    #[cfg(test)]
    pub(crate) fn new(inner: S) -> Self {
        Self::with_input(inner, Vec::new())
    }

    /// Over `inner`, with `input` the server's compressed bytes already read from it.
    pub(crate) fn with_input(inner: S, input: Vec<u8>) -> Self {
        Deflate {
            inner,
            inflate: Decompress::new(false),
            deflate: Compress::new(Compression::new(LEVEL), false),
            input,
            in_pos: 0,
            output: Vec::new(),
            out_pos: 0,
            unflushed: false,
            ended: false,
        }
    }

    pub(crate) fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Deflates `data` (or, with `Sync`, ends what was deflated so far) into the send buffer.
    fn deflate_into(&mut self, data: &[u8], flush: FlushCompress) -> std::io::Result<()> {
        let mut taken = 0;
        loop {
            let room = (data.len() - taken) / 2 + 1024;
            self.output.reserve(room);
            let before_in = self.deflate.total_in();
            self.deflate
                .compress_vec(&data[taken..], &mut self.output, flush)
                .map_err(std::io::Error::other)?;
            taken += (self.deflate.total_in() - before_in) as usize;
            // Done when all input was taken and the output did not fill its room (a full
            // buffer may mean the flush has more to write).
            if taken == data.len() && self.output.len() < self.output.capacity() {
                return Ok(());
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> Deflate<S> {
    /// Sends buffered compressed bytes until none are left or the stream under is not ready.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.out_pos < self.output.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.output[self.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
        self.output.clear();
        self.out_pos = 0;
        // A large body deflated at once leaves no large allocation behind.
        if self.output.capacity() > 4 * WRITE_HIGH_WATER {
            self.output = Vec::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deflate<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            // Inflate what is here first: also with no input left, as the inflater may hold
            // output that did not fit the caller's buffer last time.
            if !this.ended {
                // The caller's buffer may be a large literal's reservation: zero (and fill)
                // only a slice of it per read.
                let out = buf.initialize_unfilled_to(buf.remaining().min(INFLATE_CHUNK));
                let (before_in, before_out) = (this.inflate.total_in(), this.inflate.total_out());
                let status = this
                    .inflate
                    .decompress(&this.input[this.in_pos..], out, FlushDecompress::Sync)
                    .map_err(|e| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!(
                                "server sent data that does not inflate (COMPRESS=DEFLATE): {e}"
                            ),
                        )
                    })?;
                let consumed = (this.inflate.total_in() - before_in) as usize;
                let produced = (this.inflate.total_out() - before_out) as usize;
                this.in_pos += consumed;
                if status == Status::StreamEnd {
                    this.ended = true;
                }
                if produced > 0 {
                    buf.advance(produced);
                    return Poll::Ready(Ok(()));
                }
                if consumed > 0 && this.in_pos < this.input.len() {
                    continue;
                }
            } else if this.in_pos < this.input.len() {
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "server sent data after ending its compressed stream",
                )));
            }
            // All input inflated: read more.
            this.input.clear();
            this.in_pos = 0;
            this.input.resize(READ_CHUNK, 0);
            let mut rb = ReadBuf::new(&mut this.input);
            let polled = Pin::new(&mut this.inner).poll_read(cx, &mut rb);
            let n = rb.filled().len();
            this.input.truncate(n);
            match polled {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                // End of the stream under: end of ours (the caller sees 0 bytes).
                Poll::Ready(Ok(())) if n == 0 => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {}
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deflate<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.output.len() - this.out_pos >= WRITE_HIGH_WATER {
            ready!(this.poll_drain(cx))?;
        }
        this.deflate_into(data, FlushCompress::None)?;
        this.unflushed |= !data.is_empty();
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.unflushed {
            this.deflate_into(&[], FlushCompress::Sync)?;
            this.unflushed = false;
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{Framed, MAX_FRAME, Scan, scan_frame};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// What a server sends: `parts` deflated, each ended with a sync flush, as one byte string.
    fn server_side(parts: &[&[u8]]) -> Vec<u8> {
        let mut c = Compress::new(Compression::default(), false);
        let mut out = Vec::new();
        for p in parts {
            let mut taken = 0;
            loop {
                out.reserve(p.len() + 1024);
                let before = c.total_in();
                c.compress_vec(&p[taken..], &mut out, FlushCompress::Sync)
                    .unwrap();
                taken += (c.total_in() - before) as usize;
                if taken == p.len() && out.len() < out.capacity() {
                    break;
                }
            }
        }
        out
    }

    fn inflate_all(data: &[u8]) -> Vec<u8> {
        let mut d = Decompress::new(false);
        let mut out = Vec::with_capacity(4 << 20);
        d.decompress_vec(data, &mut out, FlushDecompress::Sync)
            .unwrap();
        out
    }

    #[tokio::test]
    async fn what_is_written_and_flushed_inflates_to_the_same_bytes() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut z = Deflate::new(a);
        let body: Vec<u8> = (0..200_000u32)
            .map(|i| b"From: a\r\nSubject: x\r\n\r\nline of text\r\n"[(i % 37) as usize])
            .collect();
        z.write_all(b"im1 APPEND INBOX {200000+}\r\n")
            .await
            .unwrap();
        z.write_all(&body).await.unwrap();
        z.write_all(b"\r\n").await.unwrap();
        z.flush().await.unwrap();
        drop(z);
        let mut wire = Vec::new();
        b.read_to_end(&mut wire).await.unwrap();
        assert!(
            wire.len() < body.len() / 4,
            "compressed: {} bytes",
            wire.len()
        );
        // A sync flush ends with an empty stored block: the server can inflate it all now.
        assert!(wire.ends_with(&[0, 0, 0xff, 0xff]));
        let mut want = b"im1 APPEND INBOX {200000+}\r\n".to_vec();
        want.extend_from_slice(&body);
        want.extend_from_slice(b"\r\n");
        let got = inflate_all(&wire);
        assert!(
            got == want,
            "inflated {} bytes, sent {}",
            got.len(),
            want.len()
        );
    }

    #[tokio::test]
    async fn each_flush_makes_its_command_readable_without_more_data() {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let mut z = Deflate::new(a);
        z.write_all(b"im1 NOOP\r\n").await.unwrap();
        z.flush().await.unwrap();
        let mut wire = vec![0; 1024];
        let n = b.read(&mut wire).await.unwrap();
        assert_eq!(inflate_all(&wire[..n]), b"im1 NOOP\r\n");
        // A flush with nothing written sends nothing.
        z.flush().await.unwrap();
        z.write_all(b"im2 NOOP\r\n").await.unwrap();
        z.flush().await.unwrap();
        drop(z);
        let mut rest = Vec::new();
        b.read_to_end(&mut rest).await.unwrap();
        assert!(
            rest.len() < 20,
            "{} bytes for one short command",
            rest.len()
        );
    }

    #[tokio::test]
    async fn a_frame_split_across_deflate_blocks_and_reads_is_framed_once_whole() {
        let frame: &[u8] = b"* 1 FETCH (UID 7 BODY[] {12}\r\nHello\r\nWorld)\r\n";
        // The server flushes in the middle of the literal and of the line that follows it.
        let wire = server_side(&[
            b"* OK [CAPABILITY IMAP4rev1] hi\r\n* 1 FETCH (UID 7 BO",
            b"DY[] {12}\r\nHel",
            b"lo\r\nWorld)",
            b"\r\nim1 OK done\r\n",
        ]);
        let (mut a, b) = tokio::io::duplex(7);
        let mut z = Deflate::new(b);
        // Fed a few compressed bytes at a time.
        let feed = tokio::spawn(async move {
            for chunk in wire.chunks(3) {
                a.write_all(chunk).await.unwrap();
            }
        });
        let mut buf = Vec::new();
        let mut scan = Scan::default();
        let mut frames = Vec::new();
        while frames.len() < 3 {
            // A small reader buffer: the inflater's output comes out over several reads.
            let mut chunk = [0u8; 5];
            let n = z.read(&mut chunk).await.unwrap();
            assert!(n > 0, "stream ended early");
            buf.extend_from_slice(&chunk[..n]);
            while let Framed::Complete(len) = scan_frame(&buf, scan, MAX_FRAME).unwrap() {
                frames.push(buf.drain(..len).collect::<Vec<u8>>());
                scan = Scan::default();
                if buf.is_empty() {
                    break;
                }
            }
            if let Ok(Framed::Partial { resume, .. }) = scan_frame(&buf, scan, MAX_FRAME) {
                scan = resume;
            }
        }
        feed.await.unwrap();
        assert_eq!(frames[0], b"* OK [CAPABILITY IMAP4rev1] hi\r\n");
        assert_eq!(frames[1], frame);
        assert_eq!(frames[2], b"im1 OK done\r\n");
    }

    #[tokio::test]
    async fn garbage_from_the_server_is_an_error_naming_compression() {
        let (mut a, b) = tokio::io::duplex(64);
        let mut z = Deflate::new(b);
        a.write_all(&[0xff; 16]).await.unwrap();
        let mut buf = [0u8; 64];
        let err = z.read(&mut buf).await.unwrap_err();
        assert!(err.to_string().contains("COMPRESS=DEFLATE"), "{err}");
    }
}

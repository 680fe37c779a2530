//! A lingering close: the REST connection that refused a body unread reads and drops the rest
//! of it before it closes.
//!
//! A request refused before its body is read (no token, not JSON, a length past 64 KiB) is
//! answered and its connection closed. Closing a socket with bytes still coming makes the
//! kernel answer them with a reset, and a client still sending its body (a chunked upload of
//! megabytes, or a large `Content-Length`) then lost the answer: Node reported `EPIPE`
//! instead of the 400. [`Lingering`] wraps a connection's stream; when the reply said
//! `Connection: close` for an unread body ([`Lingering::wanted`]), its shutdown sends the end
//! of the server's side first and then reads and drops what the client still sends, until
//! the client closes too, [`LINGER`] passes or [`LINGER_BYTES`] are dropped, as web servers
//! do (nginx's `lingering_close`). So does a close while bytes read are still unanswered: a
//! head too large to parse (hyper answers it 431 and closes mid-head), once a reply is
//! written. A connection closed between requests (the client's end, a graceful stop of an
//! idle connection, one that sent only empty lines since its last reply) is closed at once,
//! and so is one whose bytes got no reply (a head cut by its timeout or by a graceful stop:
//! there is no reply to save).
//!
//! Absent by design: nothing read here reaches a handler, and a connection lingers at most
//! [`LINGER`] (it still counts against the connection limits meanwhile).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest a connection lingers.
pub(super) const LINGER: Duration = Duration::from_secs(3);

/// The most bytes a lingering connection reads and drops.
pub(super) const LINGER_BYTES: usize = 64 << 20;

/// A connection's stream that lingers at its close when asked to (see the module docs).
pub(super) struct Lingering<S> {
    io: S,
    state: Arc<Replies>,
    /// Whether bytes were written since a request began unanswered: such a close lingers
    /// only to save that reply (a head cut short at a graceful stop has none).
    replied: bool,
    phase: Phase,
}

/// What the connection's last request came to, shared by its stream and its service.
#[derive(Default)]
pub(super) struct Replies(AtomicU8);

/// Answered, its body read: the close does not linger.
const ANSWERED: u8 = 0;
/// Answered with `Connection: close`, its body unread: the close lingers.
const BODY_UNREAD: u8 = 1;
/// Bytes of a request read and not answered by the service (hyper may answer it: a head
/// too large is 431): the close lingers once a reply was written.
const UNANSWERED: u8 = 2;

impl Replies {
    /// Called by the service with each reply: whether it left the request's body unread.
    pub(super) fn answered(&self, body_unread: bool) {
        let state = if body_unread { BODY_UNREAD } else { ANSWERED };
        self.0.store(state, Ordering::Relaxed);
    }
}

enum Phase {
    Open,
    Draining {
        until: Pin<Box<tokio::time::Sleep>>,
        left: usize,
    },
    Closed,
}

impl<S> Lingering<S> {
    /// `io`, and what its requests came to, which the connection's service sets with each
    /// reply ([`Replies::answered`]).
    pub(super) fn new(io: S) -> (Lingering<S>, Arc<Replies>) {
        let state = Arc::new(Replies::default());
        let stream = Lingering {
            io,
            state: state.clone(),
            replied: false,
            phase: Phase::Open,
        };
        (stream, state)
    }

    /// Whether the close will linger: a reply left its body unread, or bytes read since the
    /// last reply got one from hyper.
    pub(super) fn wanted(&self) -> bool {
        match self.state.0.load(Ordering::Relaxed) {
            BODY_UNREAD => true,
            UNANSWERED => self.replied,
            _ => false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Lingering<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        // Bytes read and not yet answered: a close now (a head too large to parse, answered
        // 431 by hyper) lingers too. The service's reply clears it. The empty lines a client
        // may send between requests (RFC 9112 §2.2) are no request.
        if buf.filled()[before..]
            .iter()
            .any(|b| !matches!(b, b'\r' | b'\n'))
        {
            // A request begins after an answer (the bytes read after a reply that left its
            // body unread are that body).
            let began = this.state.0.compare_exchange(
                ANSWERED,
                UNANSWERED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            if began.is_ok() {
                this.replied = false;
            }
        }
        read
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Lingering<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let wrote = Pin::new(&mut this.io).poll_write(cx, buf);
        this.replied |= matches!(wrote, Poll::Ready(Ok(n)) if n > 0);
        wrote
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let wrote = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.replied |= matches!(wrote, Poll::Ready(Ok(n)) if n > 0);
        wrote
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.phase {
                Phase::Open => {
                    ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
                    this.phase = if this.wanted() {
                        Phase::Draining {
                            until: Box::pin(tokio::time::sleep(LINGER)),
                            left: LINGER_BYTES,
                        }
                    } else {
                        Phase::Closed
                    };
                }
                Phase::Draining { until, left } => {
                    if until.as_mut().poll(cx).is_ready() || *left == 0 {
                        this.phase = Phase::Closed;
                        continue;
                    }
                    let mut scratch = [0u8; 16 * 1024];
                    let mut buf = ReadBuf::new(&mut scratch);
                    match Pin::new(&mut this.io).poll_read(cx, &mut buf) {
                        Poll::Pending => return Poll::Pending,
                        // The client's end, or its connection gone: nothing left to wait for.
                        Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                            this.phase = Phase::Closed
                        }
                        Poll::Ready(Err(_)) => this.phase = Phase::Closed,
                        Poll::Ready(Ok(())) => *left = left.saturating_sub(buf.filled().len()),
                    }
                }
                Phase::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Bytes read and answered ask for a lingering close; the empty lines a client may send
    /// between requests do not, nor bytes not answered (both held a graceful stop for the
    /// whole [`LINGER`]).
    #[tokio::test]
    async fn bytes_read_ask_to_linger_but_empty_lines_do_not() {
        let (mut client, server) = tokio::io::duplex(64);
        let (mut server, replies) = Lingering::new(server);
        let mut buf = [0u8; 16];
        client.write_all(b"\r\n\r\n").await.unwrap();
        assert_eq!(server.read(&mut buf).await.unwrap(), 4);
        assert!(!server.wanted());
        client.write_all(b"\r\nGET").await.unwrap();
        assert_eq!(server.read(&mut buf).await.unwrap(), 5);
        // Nothing answered yet (a head cut short at a graceful stop): no reply to save.
        assert!(!server.wanted());
        // A reply written (hyper's 431 to a head too large) is saved.
        server.write_all(b"HTTP/1.1 431").await.unwrap();
        assert!(server.wanted());
        // The service's reply clears it; a request read after it is unanswered again.
        replies.answered(false);
        assert!(!server.wanted());
        client.write_all(b"GET /x").await.unwrap();
        assert_eq!(server.read(&mut buf).await.unwrap(), 6);
        assert!(!server.wanted());
        // A reply that left the body unread lingers, and the body read after it (hyper
        // reading on) keeps it so.
        replies.answered(true);
        assert!(server.wanted());
        client.write_all(b"body").await.unwrap();
        assert_eq!(server.read(&mut buf).await.unwrap(), 4);
        assert!(server.wanted());
    }
}

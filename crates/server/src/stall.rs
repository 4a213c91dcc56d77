//! A client connection that gives up on a reader who reads nothing.
//!
//! Once a write has waited `stream_write_timeout` for room in the socket, it fails, and hyper
//! closes the connection and drops the answer it was writing: a stream's relay, and with it
//! the upstream call and the slot it held. The timer exists only while a write waits, so a
//! client that keeps up costs nothing, and a stream's bytes go from the upstream to the
//! socket in the connection's own task, with no queue and no second task between them.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

pub struct StallLimit<T> {
    io: T,
    limit: Duration,
    /// Running while a write waits for room; gone once one goes through.
    waiting: Option<Pin<Box<Sleep>>>,
}

impl<T> StallLimit<T> {
    pub fn new(io: T, limit: Duration) -> Self {
        Self {
            io,
            limit,
            waiting: None,
        }
    }

    fn limit<R>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            self.waiting = None;
            return poll;
        }
        let limit = self.limit;
        let waiting = self
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if waiting.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.waiting = None;
        tracing::info!("a client read nothing for stream_write_timeout; its connection is cut");
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client read nothing for stream_write_timeout",
        )))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallLimit<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallLimit<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.limit(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.limit(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.limit(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test(start_paused = true)]
    async fn a_write_that_waits_past_the_limit_fails_and_one_that_goes_through_resets_it() {
        // A pipe with 64 bytes of room, whose reader reads nothing.
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut io = StallLimit::new(ours, Duration::from_secs(60));
        io.write_all(&[0; 64]).await.unwrap();
        // The reader takes the bytes after 59 s: the write waiting for them goes through,
        // and the next wait starts from nothing.
        let reader = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(59)).await;
            let mut seen = [0; 64];
            tokio::io::AsyncReadExt::read_exact(&mut theirs, &mut seen)
                .await
                .unwrap();
            theirs
        });
        io.write_all(&[1; 64]).await.unwrap();
        let _theirs = reader.await.unwrap();
        let began = tokio::time::Instant::now();
        let error = io.write_all(&[2; 64]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(began.elapsed(), Duration::from_secs(60));
    }
}

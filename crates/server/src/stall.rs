//! A client connection that gives up on a reader who reads nothing.
//!
//! Once a write has waited `stream_write_timeout` for room in the socket, it fails, and hyper
//! closes the connection and drops the answer it was writing: a stream's relay, and with it
//! the upstream call and the slot it held. The timer exists only while a write waits, so a
//! client that keeps up costs nothing, and a stream's bytes go from the upstream to the
//! socket in the connection's own task, with no queue and no second task between them. The
//! limit is read when a wait begins, so a changed setting reaches connections already open.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

pub struct StallLimit<T, L> {
    io: T,
    /// The limit now (the live setting).
    limit: L,
    /// Running while a write waits for room; gone once one goes through.
    waiting: Option<Pin<Box<Sleep>>>,
}

impl<T, L: Fn() -> Duration> StallLimit<T, L> {
    pub fn new(io: T, limit: L) -> Self {
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
        let limit = &self.limit;
        let waiting = self
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit())));
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

impl<T: AsyncRead + Unpin, L: Unpin> AsyncRead for StallLimit<T, L> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin, L: Fn() -> Duration + Unpin> AsyncWrite for StallLimit<T, L> {
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
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_write_that_waits_past_the_limit_fails_one_that_goes_through_resets_it() {
        // A pipe with 64 bytes of room, whose reader reads nothing; the limit is a live
        // setting, 60 s at first.
        let limit = Arc::new(AtomicU64::new(60));
        let (ours, mut theirs) = tokio::io::duplex(64);
        let setting = limit.clone();
        let mut io = StallLimit::new(ours, move || {
            Duration::from_secs(setting.load(Ordering::Relaxed))
        });
        io.write_all(&[0; 64]).await.unwrap();
        // The reader takes the bytes after 59 s: the write waiting for them goes through.
        let reader = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(59)).await;
            theirs.read_exact(&mut [0; 64]).await.unwrap();
            theirs
        });
        io.write_all(&[1; 64]).await.unwrap();
        let _theirs = reader.await.unwrap();
        // The setting changes on an open connection; the next wait starts from nothing and
        // fails after the new limit.
        limit.store(30, Ordering::Relaxed);
        let began = tokio::time::Instant::now();
        let stalled = tokio::time::timeout(Duration::from_secs(3600), io.write_all(&[2; 64]));
        let error = stalled
            .await
            .expect("the stalled write never failed")
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(began.elapsed(), Duration::from_secs(30));
    }
}

//! Running the server in-process and stopping it gracefully: what the headless binary and
//! the desktop shell share.
//!
//! - [`bind`] tells a port that is taken from one that is not allowed (Windows' reserved
//!   ranges answer "access denied", os error 10013) so the caller can say which, and
//!   [`next_free_port`] finds the nearest free one to offer instead.
//! - [`Running`] is a started server: [`Running::shutdown`] stops accepting, drains the
//!   requests in flight and writes every queued usage row before it returns.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::bootstrap::Opened;

/// Why a listener could not be had.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("port {} on {} is already in use", .addr.port(), .addr.ip())]
    InUse { addr: SocketAddr },
    /// Privileged ports, or a range the OS reserves (Windows: os error 10013).
    #[error("port {} on {} is not allowed for this user or is reserved by the system", .addr.port(), .addr.ip())]
    NotAllowed { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Other { addr: SocketAddr, source: io::Error },
}

impl BindError {
    pub fn addr(&self) -> SocketAddr {
        match self {
            Self::InUse { addr } | Self::NotAllowed { addr } | Self::Other { addr, .. } => *addr,
        }
    }
}

pub async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| match source.kind() {
            io::ErrorKind::AddrInUse => BindError::InUse { addr },
            io::ErrorKind::PermissionDenied => BindError::NotAllowed { addr },
            _ => BindError::Other { addr, source },
        })
}

/// The first port after `after` (within 200) that can be bound on `host` right now.
pub async fn next_free_port(host: IpAddr, after: u16) -> Option<u16> {
    for port in after.saturating_add(1)..=after.saturating_add(200) {
        if port >= 1024 && TcpListener::bind(SocketAddr::new(host, port)).await.is_ok() {
            return Some(port);
        }
    }
    None
}

/// A server running on a tokio task.
pub struct Running {
    pub state: AppState,
    /// Where it listens (the real port when 0 was asked for).
    pub local: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<io::Result<()>>,
    writer: ondemand_core::store::writer::UsageWriter,
}

impl Running {
    /// Serves `opened` on `listener` until [`Running::shutdown`].
    pub fn start(opened: Opened, listener: TcpListener) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let stop = CancellationToken::new();
        let state = opened.state;
        let server_stop = stop.clone();
        let task = tokio::spawn(crate::serve(listener, state.clone(), async move {
            server_stop.cancelled().await;
        }));
        Ok(Self {
            state,
            local,
            stop,
            task,
            writer: opened.writer,
        })
    }

    /// `http://127.0.0.1:PORT`: the address clients and the UI use.
    pub fn base_url(&self) -> String {
        let ip = if self.local.ip().is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            self.local.ip()
        };
        format!("http://{}", SocketAddr::new(ip, self.local.port()))
    }

    /// Runs until `signal` (or until the server fails), then shuts down gracefully.
    pub async fn until(mut self, signal: impl Future<Output = ()>) -> io::Result<()> {
        tokio::select! {
            () = signal => self.shutdown().await,
            ended = &mut self.task => {
                self.writer.close().await;
                ended.map_err(io::Error::other)?
            }
        }
    }

    /// Stops accepting, drains requests in flight, writes the queued usage.
    pub async fn shutdown(self) -> io::Result<()> {
        self.stop.cancel();
        let served = self.task.await.map_err(io::Error::other)?;
        self.writer.close().await;
        served
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_taken_port_is_named_and_a_free_one_offered() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let err = bind(addr).await.unwrap_err();
        assert!(matches!(err, BindError::InUse { .. }), "{err}");
        assert!(err.to_string().contains(&addr.port().to_string()));
        let free = next_free_port(addr.ip(), addr.port()).await.unwrap();
        assert!(free > addr.port());
        assert!(bind(SocketAddr::new(addr.ip(), free)).await.is_ok());
    }
}

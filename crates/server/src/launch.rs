//! Running the server in-process and stopping it gracefully: what the headless binary and
//! the desktop shell share.
//!
//! - [`bind`] tells a port that is taken from one that is not allowed (Windows' reserved
//!   ranges answer "access denied", os error 10013) so the caller can say which, and
//!   [`next_free_port`] finds the nearest free one to offer instead.
//! - [`Running`] is a started server: [`Running::rebind`] moves it to another listener
//!   (the same state, so nothing is rebuilt and nothing is copied), and
//!   [`Running::shutdown`] stops accepting, drains the requests in flight and writes every
//!   queued usage row before it returns.

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

/// Listens on `addr` with a queue of `backlog` connections waiting to be accepted (the
/// standard library's 128, or tokio's 1,024, overflow when thousands of clients arrive at
/// once).
pub fn bind(addr: SocketAddr, backlog: u32) -> Result<TcpListener, BindError> {
    let listen = || {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        // As `TcpListener::bind` does: a restart may take the port its predecessor's
        // connections still hold in TIME_WAIT.
        #[cfg(unix)]
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(backlog)
    };
    listen().map_err(|source| match source.kind() {
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

/// One listener's task, and how to stop it.
struct Listening {
    local: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<io::Result<()>>,
}

impl Listening {
    fn start(state: &AppState, listener: TcpListener) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let stop = CancellationToken::new();
        let until = stop.clone();
        let task = tokio::spawn(crate::listen(listener, state.clone(), async move {
            until.cancelled().await;
        }));
        Ok(Self { local, stop, task })
    }

    /// Stops accepting and waits for the requests in flight.
    async fn drain(self) -> io::Result<()> {
        self.stop.cancel();
        self.task.await.map_err(io::Error::other)?
    }
}

/// A server running on tokio tasks: one listener (replaceable), and the background upkeep.
pub struct Running {
    pub state: AppState,
    /// `None` between [`Running::release`] and [`Running::rebind`].
    listening: Option<Listening>,
    upkeep: (CancellationToken, tokio::task::JoinHandle<()>),
    writer: ondemand_core::store::writer::UsageWriter,
}

impl Running {
    /// Serves `opened` on `listener` until [`Running::shutdown`].
    pub fn start(opened: Opened, listener: TcpListener) -> io::Result<Self> {
        let state = opened.state;
        // A demo account added from the dashboard before a restart needs its simulated
        // upstream again.
        if state.engine().has_simulated_accounts()
            && let Err(error) = state.simulate()
        {
            tracing::warn!(%error, "the simulated upstream for demo accounts could not start; they will fail");
        }
        let listening = Listening::start(&state, listener)?;
        let stop = CancellationToken::new();
        let upkeep = {
            let (state, stop) = (state.clone(), stop.clone());
            tokio::spawn(async move { state.app().run_upkeep(|| stop.cancelled()).await })
        };
        Ok(Self {
            state,
            listening: Some(listening),
            upkeep: (stop, upkeep),
            writer: opened.writer,
        })
    }

    /// Where it listens (the real port when 0 was asked for), if it does.
    pub fn local(&self) -> Option<SocketAddr> {
        self.listening.as_ref().map(|l| l.local)
    }

    /// `http://127.0.0.1:PORT`: the address clients and the UI use.
    pub fn base_url(&self) -> String {
        let local = self
            .local()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        crate::clients::client_origin(local)
    }

    /// Serves on `listener` from now on; the previous listener stops accepting and drains
    /// in the background. The state, its pause and its background tasks carry on.
    pub fn rebind(&mut self, listener: TcpListener) -> io::Result<()> {
        let next = Listening::start(&self.state, listener)?;
        if let Some(previous) = self.listening.replace(next) {
            tokio::spawn(async move {
                if let Err(error) = previous.drain().await {
                    tracing::warn!(%error, "the previous listener did not stop cleanly");
                }
            });
        }
        Ok(())
    }

    /// Stops listening (draining the requests in flight) but keeps the server, for a move
    /// to the same port on another address; [`Running::rebind`] listens again.
    pub async fn release(&mut self) -> io::Result<()> {
        match self.listening.take() {
            Some(listening) => listening.drain().await,
            None => Ok(()),
        }
    }

    /// Runs until `signal` (or until the server fails), then shuts down gracefully.
    pub async fn until(mut self, signal: impl Future<Output = ()>) -> io::Result<()> {
        let Some(listening) = self.listening.as_mut() else {
            return self.shutdown().await;
        };
        tokio::select! {
            () = signal => self.shutdown().await,
            ended = &mut listening.task => {
                self.listening = None;
                let shut = self.shutdown().await;
                ended.map_err(io::Error::other)?.and(shut)
            }
        }
    }

    /// Stops accepting, drains requests in flight, stops the background tasks (which
    /// write the sessions and account states once more), and writes the queued usage.
    pub async fn shutdown(mut self) -> io::Result<()> {
        let served = self.release().await;
        let (stop, upkeep) = self.upkeep;
        stop.cancel();
        let upkept = upkeep.await.map_err(io::Error::other);
        self.writer.close().await;
        served.and(upkept)
    }
}

/// Resolves on SIGINT or SIGTERM (on Windows: Ctrl-C, Ctrl-Break, the console closed, sign-out
/// or shutdown). The handlers are installed when this is called, not when
/// it is first awaited, so a signal that arrives while the server starts is not lost (and
/// does not kill the process before usage is written).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    // Listening from now on, before the future is first polled.
    #[cfg(windows)]
    let windows_events = {
        use tokio::signal::windows as w;
        (
            w::ctrl_c().ok(),
            w::ctrl_break().ok(),
            w::ctrl_close().ok(),
            w::ctrl_logoff().ok(),
            w::ctrl_shutdown().ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {},
                () = wait(terminate) => {},
            }
        }
        // Ctrl-C or Ctrl-Break in the console, the console window closed, the user signing
        // out, or Windows shutting down. After a close, a sign-out or a shutdown, Windows
        // gives a console program about 5 s: enough to write the usage rows
        // (`shutdown_grace` still bounds the streams in flight).
        #[cfg(windows)]
        {
            let (c, brk, close, logoff, shutdown) = windows_events;
            macro_rules! on {
                ($listener:expr) => {
                    async {
                        match $listener {
                            Some(mut listener) => {
                                listener.recv().await;
                            }
                            None => std::future::pending::<()>().await,
                        }
                    }
                };
            }
            tokio::select! {
                () = on!(c) => {},
                () = on!(brk) => {},
                () = on!(close) => {},
                () = on!(logoff) => {},
                () = on!(shutdown) => {},
            }
        }
        #[cfg(not(any(unix, windows)))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("asked to stop: finishing requests in flight and writing usage");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_taken_port_is_named_and_a_free_one_offered() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let err = bind(addr, 64).unwrap_err();
        assert!(matches!(err, BindError::InUse { .. }), "{err}");
        assert!(err.to_string().contains(&addr.port().to_string()));
        let free = next_free_port(addr.ip(), addr.port()).await.unwrap();
        assert!(free > addr.port());
        assert!(bind(SocketAddr::new(addr.ip(), free), 64).is_ok());
    }

    #[tokio::test]
    async fn a_rebind_moves_the_same_state_to_another_port_and_frees_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let config = ondemand_core::config::Config {
            api_access_token: None,
            admin_password: None,
            metrics_token: None,
            accounts: Vec::new(),
            host: [127, 0, 0, 1].into(),
            port: 0,
            data_dir: Some(dir.path().to_owned()),
            settings: Default::default(),
            pinned: Default::default(),
            file: None,
            unknown_keys: Vec::new(),
            file_repaired: None,
        };
        let opened = crate::bootstrap::open(&config, dir.path()).unwrap();
        let first = bind("127.0.0.1:0".parse().unwrap(), 64).unwrap();
        let mut running = Running::start(opened, first).unwrap();
        let old = running.local().unwrap();
        running.state.set_paused(true);
        let state = running.state.clone();
        running
            .rebind(bind("127.0.0.1:0".parse().unwrap(), 64).unwrap())
            .unwrap();
        let new = running.local().unwrap();
        assert_ne!(old, new);
        assert!(running.state.paused(), "the same state, pause and all");
        assert!(std::ptr::eq(state.engine(), running.state.engine()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while bind(old, 64).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the old port stays taken"
            );
            tokio::task::yield_now().await;
        }
        let answer = reqwest::get(format!("http://{new}/health")).await.unwrap();
        assert_eq!(answer.status(), 200);
        running.release().await.unwrap();
        assert!(running.local().is_none());
        assert!(bind(new, 64).is_ok(), "released");
        running.shutdown().await.unwrap();
    }
}

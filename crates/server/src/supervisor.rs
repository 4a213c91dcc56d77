//! The proxy server hosted by an app (the desktop shell): started on the preferred port,
//! moved to another one when the person picks it (the same running server, rebound),
//! stopped gracefully on quit. All of it is [`bootstrap`] and [`launch`], the same code
//! the headless binary runs; [`crate::glance`] is what a tray shows of it.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ondemand_core::config::Config;
use serde::Serialize;

use crate::desktop::confirm::{Confirmer, Question};
use crate::launch::{self, BindError, Running};
use crate::{AppState, bootstrap};

/// The web origins of this app's webview, allowed to call the API (CORS).
const WEBVIEW_ORIGINS: [&str; 2] = ["tauri://localhost", "http://tauri.localhost"];

/// What the window needs to know about the server.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Status {
    Running {
        base_url: String,
        /// The app's own admin credential ([`crate::admin::auth::AdminAuth::app_key`]).
        #[serde(skip)]
        credential: String,
    },
    /// It could not start; the window says why and offers `suggestion`.
    Failed {
        port: u16,
        /// `in_use`, `not_allowed` or `other`.
        reason: &'static str,
        message: String,
        suggestion: Option<u16>,
    },
    Stopped,
}

pub struct Supervisor {
    config: Config,
    data_dir: PathBuf,
    running: Mutex<Option<Running>>,
    status: Mutex<Status>,
    /// The app's native dialog (see [`Supervisor::confirm`]).
    confirmer: Mutex<Option<Arc<Confirmer>>>,
}

impl Supervisor {
    pub fn new(config: Config, data_dir: PathBuf) -> Self {
        Self {
            config,
            data_dir,
            running: Mutex::new(None),
            status: Mutex::new(Status::Stopped),
            confirmer: Mutex::new(None),
        }
    }

    /// How the app asks the person at the machine: the preferences that expose the proxy
    /// or start it at login, and the server's own questions (an agent's config rewritten).
    pub fn set_confirmer(&self, confirmer: Confirmer) {
        let confirmer = Arc::new(confirmer);
        if let Some(state) = self.state() {
            state.set_confirmer(confirmer.clone());
        }
        *self.confirmer.lock().unwrap_or_else(|e| e.into_inner()) = Some(confirmer);
    }

    fn confirmer(&self) -> Option<Arc<Confirmer>> {
        self.confirmer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Asks natively; `false` unless the person said yes, and with no way to ask.
    pub async fn confirm(&self, question: Question) -> bool {
        match self.confirmer() {
            Some(confirmer) => confirmer.ask(question).await,
            None => false,
        }
    }

    /// A supervisor of the server configured as the headless one is by the environment
    /// (no config file: an app has its own preferences), keeping its data in `data_dir`. It
    /// raises the open-file limit first, as the headless server does ([`crate::fds`]).
    pub fn from_environment(data_dir: PathBuf) -> Result<Self, ondemand_core::config::ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        let config = ondemand_core::config::load(ondemand_core::config::Sources {
            file: None,
            default_file: None,
            env: &env,
            flags: vec![],
        })?;
        crate::fds::log(crate::fds::raise_limit());
        Ok(Self::new(config, data_dir))
    }

    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_status(&self, status: Status) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
    }

    fn running(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The running server's state (for the tray's figures).
    pub fn state(&self) -> Option<AppState> {
        self.running().as_ref().map(|r| r.state.clone())
    }

    /// Where it listens, when it runs.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.running().as_ref().and_then(Running::local)
    }

    /// The app's own admin credential, while it runs.
    pub fn credential(&self) -> Option<String> {
        match self.status() {
            Status::Running { credential, .. } => Some(credential),
            _ => None,
        }
    }

    /// The `default` client token, for "copy a client token".
    pub fn client_token(&self) -> Option<String> {
        self.state().map(|s| s.client_token().expose().to_owned())
    }

    /// Paused, from the tray or the window's dashboard.
    pub fn paused(&self) -> bool {
        self.state().is_some_and(|s| s.paused())
    }

    /// Pauses or resumes `/v1/*` (the window's dashboard and admin API go on).
    pub fn set_paused(&self, paused: bool) {
        if let Some(state) = self.state() {
            state.set_paused(paused);
        }
    }

    /// Listens on `host:port` instead of the current address. The new address is bound
    /// before the running server lets the old one go, so a port that cannot be had leaves
    /// it where it was (the answer is `Failed`, naming the port, with the next free port to
    /// offer). Only a move to the same port on another address lets the old address go
    /// first, and takes it back if the new one fails. Either way the same running server
    /// moves: its state, pause and background tasks are not rebuilt.
    pub async fn start(&self, host: IpAddr, port: u16) -> Status {
        let addr = SocketAddr::new(host, port);
        let previous = self.local_addr();
        let mut released = None;
        let listener = match launch::bind(addr, self.config.settings.listen_backlog) {
            Err(BindError::InUse { .. }) if previous.is_some_and(|p| p.port() == port) => {
                let running = self.running().take();
                if let Some(mut running) = running {
                    if let Err(error) = running.release().await {
                        tracing::warn!(%error, "the previous listener did not stop cleanly");
                    }
                    *self.running() = Some(running);
                    released = previous;
                }
                launch::bind(addr, self.config.settings.listen_backlog)
            }
            other => other,
        };
        match listener {
            Ok(listener) => self.listen_on(listener),
            Err(error) => {
                tracing::warn!(%error, "the proxy could not listen");
                let failed = Status::Failed {
                    port,
                    reason: match error {
                        BindError::InUse { .. } => "in_use",
                        BindError::NotAllowed { .. } => "not_allowed",
                        BindError::Other { .. } => "other",
                    },
                    message: error.to_string(),
                    suggestion: launch::next_free_port(host, port.max(1023)).await,
                };
                let back = match released {
                    Some(previous) => {
                        match launch::bind(previous, self.config.settings.listen_backlog) {
                            Ok(listener) => {
                                matches!(self.listen_on(listener), Status::Running { .. })
                            }
                            Err(_) => false,
                        }
                    }
                    None => previous.is_some(),
                };
                if !back {
                    self.set_status(failed.clone());
                }
                failed
            }
        }
    }

    /// Serves on `listener`: the running server moves there, or a new one starts.
    fn listen_on(&self, listener: tokio::net::TcpListener) -> Status {
        let port = listener.local_addr().map_or(0, |a| a.port());
        let mut running = self.running();
        let moved = running.is_some();
        let started = match running.as_mut() {
            Some(running) => running.rebind(listener).map_err(|e| e.to_string()),
            None => {
                let origins = WEBVIEW_ORIGINS.iter().map(|o| (*o).to_owned()).collect();
                bootstrap::open_with(&self.config, &self.data_dir, origins)
                    .map_err(|e| e.to_string())
                    .inspect(|opened| {
                        if let Some(confirmer) = self.confirmer() {
                            opened.state.set_confirmer(confirmer);
                        }
                    })
                    .and_then(|opened| Running::start(opened, listener).map_err(|e| e.to_string()))
                    .map(|started| *running = Some(started))
            }
        };
        let status = match (started, running.as_ref()) {
            (Ok(()), Some(running)) => {
                let url = running.base_url();
                if moved {
                    tracing::info!(%url, "proxy moved");
                } else {
                    tracing::info!(%url, "proxy started");
                }
                Status::Running {
                    base_url: url,
                    credential: running.state.admin().app_key().expose().to_owned(),
                }
            }
            (Err(message), _) => Status::Failed {
                port,
                reason: "other",
                message,
                suggestion: None,
            },
            (Ok(()), None) => Status::Stopped,
        };
        drop(running);
        self.set_status(status.clone());
        status
    }

    /// Drains requests in flight and writes the queued usage.
    pub async fn stop(&self) {
        let running = self.running().take();
        if let Some(running) = running {
            if let Err(error) = running.shutdown().await {
                tracing::warn!(%error, "the proxy did not stop cleanly");
            }
            self.set_status(Status::Stopped);
        }
    }
}

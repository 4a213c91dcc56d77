//! The proxy server in this process: started on the preferred port, restarted on another
//! one when the person picks it, stopped gracefully on quit. All of it is
//! `ondemand_proxy::{bootstrap, launch}`, the same code the headless binary runs.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Mutex;

use ondemand_core::config::Config;
use ondemand_proxy::bootstrap;
use ondemand_proxy::launch::{self, BindError, Running};
use serde::Serialize;

/// The web origins of this app's webview, allowed to call the API (CORS).
const WEBVIEW_ORIGINS: [&str; 2] = ["tauri://localhost", "http://tauri.localhost"];

/// What the window needs to know about the server.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Status {
    Running {
        base_url: String,
        #[serde(skip)]
        admin_password: String,
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

pub struct Server {
    config: Config,
    data_dir: PathBuf,
    running: Mutex<Option<Running>>,
    status: Mutex<Status>,
}

impl Server {
    pub fn new(config: Config, data_dir: PathBuf) -> Self {
        Self {
            config,
            data_dir,
            running: Mutex::new(None),
            status: Mutex::new(Status::Stopped),
        }
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

    /// The `default` client token, for "copy a client token".
    pub fn client_token(&self) -> Option<String> {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running
            .as_ref()
            .map(|r| r.state.client_token().expose().to_owned())
    }

    /// Starts on `host:port` (stopping a running server first). A port that cannot be had
    /// leaves a `Failed` status naming it, with the next free port to offer.
    pub async fn start(&self, host: IpAddr, port: u16) -> Status {
        self.stop().await;
        let addr = SocketAddr::new(host, port);
        let status = match launch::bind(addr).await {
            Err(error) => {
                tracing::warn!(%error, "the proxy could not listen");
                Status::Failed {
                    port,
                    reason: match error {
                        BindError::InUse { .. } => "in_use",
                        BindError::NotAllowed { .. } => "not_allowed",
                        BindError::Other { .. } => "other",
                    },
                    message: error.to_string(),
                    suggestion: launch::next_free_port(host, port.max(1023)).await,
                }
            }
            Ok(listener) => {
                let origins = WEBVIEW_ORIGINS.iter().map(|o| (*o).to_owned()).collect();
                match bootstrap::open_with(&self.config, &self.data_dir, origins)
                    .map_err(|e| e.to_string())
                    .and_then(|opened| Running::start(opened, listener).map_err(|e| e.to_string()))
                {
                    Ok(running) => {
                        let status = Status::Running {
                            base_url: running.base_url(),
                            admin_password: running.state.admin().password().expose().to_owned(),
                        };
                        tracing::info!(url = %running.base_url(), "proxy started");
                        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = Some(running);
                        status
                    }
                    Err(message) => Status::Failed {
                        port,
                        reason: "other",
                        message,
                        suggestion: None,
                    },
                }
            }
        };
        self.set_status(status.clone());
        status
    }

    /// Drains requests in flight and writes the queued usage.
    pub async fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(running) = running {
            if let Err(error) = running.shutdown().await {
                tracing::warn!(%error, "the proxy did not stop cleanly");
            }
            self.set_status(Status::Stopped);
        }
    }
}

//! A problem every account on the same way meets alike (the upstream's firewall refuses this
//! machine, the base URL is wrong, the certificate is not trusted, the proxy is down), shown
//! on the dashboard and the tray until a request succeeds again; and the connection test that
//! helps find its cause.

use super::Engine;
use crate::upstream::error::{NetworkKind, UpstreamError};
use crate::upstream::probe::Probe;

/// What kind of proxy-wide problem the upstream shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The upstream's firewall refuses this machine or user agent (a 403 that is not the
    /// API's own answer).
    Firewall,
    /// The upstream has no such route: the base URL is wrong.
    Route,
    /// The upstream's certificate is not trusted (TLS inspection without its CA).
    Certificate,
    /// The outbound proxy refused or failed.
    Proxy,
    /// The upstream's name was not found.
    Dns,
}

/// A problem that no other account can get around, shown on the dashboard and the tray.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct UpstreamProblem {
    pub kind: ProblemKind,
    pub message: String,
    /// When it was first seen (Unix ms), and last.
    pub since_ms: i64,
    pub last_ms: i64,
}

impl Engine {
    /// The proxy-wide upstream problem, if one stands.
    pub fn problem(&self) -> Option<UpstreamProblem> {
        self.routing
            .problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn set_problem(&self, error: &UpstreamError) {
        let kind = match error {
            UpstreamError::Firewall { .. } => ProblemKind::Firewall,
            UpstreamError::Network(fault) => match fault.kind {
                NetworkKind::Certificate => ProblemKind::Certificate,
                NetworkKind::Proxy => ProblemKind::Proxy,
                NetworkKind::Dns => ProblemKind::Dns,
            },
            _ => ProblemKind::Route,
        };
        let now = crate::clock::now_ms();
        let mut problem = self
            .routing
            .problem
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let since_ms = problem
            .as_ref()
            .filter(|p| p.kind == kind)
            .map_or(now, |p| p.since_ms);
        if problem.is_none() {
            tracing::error!(%error, "every account on this way to on-demand.io fails alike; no account is set aside for it");
        }
        *problem = Some(UpstreamProblem {
            kind,
            message: error.to_string(),
            since_ms,
            last_ms: now,
        });
    }

    pub(super) fn clear_problem(&self) {
        let mut problem = self
            .routing
            .problem
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if problem.take().is_some() {
            tracing::info!("on-demand.io answers again; the proxy-wide problem is over");
        }
    }

    /// Tests the way to on-demand.io: the account `name`'s way (its proxy, its key for the
    /// catalogue), or without a name the settings' own. `None` when no such account exists.
    pub async fn probe_connection(&self, name: Option<&str>) -> Option<Probe> {
        let settings = self.settings();
        let Some(name) = name else {
            return Some(self.routing.upstream.probe(None, &settings).await);
        };
        let accounts = self.routing.pool.accounts();
        let account = accounts.iter().find(|a| a.name == name)?;
        Some(
            self.routing
                .upstream
                .probe(Some(account.caller()), &settings)
                .await,
        )
    }
}

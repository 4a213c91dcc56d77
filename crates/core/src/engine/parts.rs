//! The engine's parts, grouped by who needs them: the request path's routing, upstream
//! sessions and images (the engine's own), and the client side and the watchers (read by the
//! server as well).

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::UpstreamProblem;
use crate::client_tokens::TokenRegistry;
use crate::endpoints::EndpointCatalog;
use crate::janitor::{Janitor, JanitorQueue};
use crate::limits::{Gate, RateLimiter};
use crate::models::ModelCatalog;
use crate::pool::Pool;
use crate::sessions::SessionCache;
use crate::store::Store;
use crate::store::live::LiveFeed;
use crate::telemetry::Telemetry;
use crate::upstream::UpstreamClient;

/// Where a request goes: the upstream client, the accounts, the catalogues a model resolves
/// against, the cap on requests in flight, and a problem every account meets alike.
#[derive(Debug)]
pub struct Routing {
    pub(super) upstream: UpstreamClient,
    /// The on-demand.io accounts requests are spread over.
    pub pool: Pool,
    /// Live model aliases; swapped whole when edited.
    pub(super) catalog: ArcSwap<ModelCatalog>,
    /// The live endpoint catalogue (§14.1); swapped whole after each read.
    pub(super) endpoints: ArcSwap<EndpointCatalog>,
    /// The cap on upstream requests in flight over all accounts.
    pub(super) gate: Arc<Gate>,
    /// A problem every account meets alike (the upstream's firewall refuses this machine, the
    /// base URL is wrong), until a request succeeds again.
    pub(super) problem: std::sync::Mutex<Option<UpstreamProblem>>,
    /// Wakes the catalogue task to read the accounts in `catalogue_due`.
    pub(super) catalogue_wake: tokio::sync::Notify,
    pub(super) catalogue_due: std::sync::Mutex<Vec<String>>,
}

impl Routing {
    pub(super) fn new(upstream: UpstreamClient, pool: Pool, catalog: ModelCatalog) -> Self {
        Self {
            upstream,
            pool,
            catalog: ArcSwap::from_pointee(catalog),
            endpoints: ArcSwap::default(),
            gate: Arc::new(Gate::default()),
            problem: std::sync::Mutex::default(),
            catalogue_wake: tokio::sync::Notify::new(),
            catalogue_due: std::sync::Mutex::default(),
        }
    }
}

/// Upstream sessions: reuse mode's conversations, and the janitor that deletes finished ones.
#[derive(Debug)]
pub struct Sessions {
    /// Reuse mode: which upstream session holds which conversation.
    pub cache: SessionCache,
    pub(super) janitor: Janitor,
    /// The janitor's queue, until [`super::Engine::run_janitor`] takes it.
    pub(super) janitor_queue: std::sync::Mutex<Option<JanitorQueue>>,
}

impl Default for Sessions {
    fn default() -> Self {
        let (janitor, queue) = Janitor::new();
        Self {
            cache: SessionCache::default(),
            janitor,
            janitor_queue: std::sync::Mutex::new(Some(queue)),
        }
    }
}

/// A request's images: fetched by URL (never from a private address), their descriptions
/// kept in the store (without one, nothing is cached).
#[derive(Debug)]
pub(super) struct ImageDesk {
    pub(super) fetcher: crate::images::fetch::Fetcher,
    pub(super) store: Option<Arc<Store>>,
}

/// Who may ask, and how often: the client tokens allowed on `/v1/*` with their limits, and
/// each token's requests per minute.
#[derive(Debug, Default)]
pub struct Clients {
    pub tokens: TokenRegistry,
    pub rate_limiter: RateLimiter,
}

/// What is watched: finished requests and running totals for the live dashboard, and what
/// `/metrics` shows (requests, timings, pool waits, failovers).
#[derive(Debug, Default, Clone)]
pub struct Watch {
    pub live: Arc<LiveFeed>,
    pub telemetry: Arc<Telemetry>,
}

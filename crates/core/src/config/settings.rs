//! The settings that can change while the proxy runs, and their built-in defaults.

use std::time::Duration;

pub const DEFAULT_BASE_URL: &str = "https://api.on-demand.io";
pub const DEFAULT_AUTH_BASE_URL: &str = "https://gateway.on-demand.io";
/// Where email/password accounts chat (`/chat/v1/client/*`): the 2026 dashboard calls the
/// gateway host; 2025 proxies used `api.on-demand.io` (§14.3).
pub const DEFAULT_CLIENT_BASE_URL: &str = "https://gateway.on-demand.io";
/// A browser-like agent: Cloudflare in front of the upstream bans bare agents (§1).
pub const DEFAULT_USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36";

/// Settings that can change while the proxy runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Idle time after which a reused upstream session is dropped (`reuse` mode); set in
    /// minutes (`session_timeout_minutes`).
    pub session_timeout: Duration,
    /// How conversations map onto upstream sessions.
    pub session_mode: SessionMode,
    /// Most conversations remembered in `reuse` mode; the least recently used go first.
    pub session_cache_size: usize,
    /// Extra upstream attempts after the first failed one.
    pub max_retries: u32,
    /// Pause before an account that already failed this request is tried again.
    pub retry_delay: Duration,
    /// Bound on a whole non-stream request, retries included.
    pub request_timeout: Duration,
    /// Bound on waiting for a stream's first content (generous: reasoning models think first).
    pub stream_timeout: Duration,
    /// Requests per minute per client token; 0 turns the limit off.
    pub rate_limit: u32,
    pub debug_mode: bool,
    pub base_url: String,
    pub auth_base_url: String,
    /// Host of the chat routes for email/password accounts (`/chat/v1/client/*`).
    pub client_base_url: String,
    pub user_agent: String,
    /// The proxy every upstream call takes (`None`: the environment's, or none).
    pub upstream_proxy: Option<super::ProxyUrl>,
    /// A PEM file of roots trusted beside the system's (empty: none).
    pub upstream_ca_file: String,
    /// How often every account's endpoint catalogue is read again.
    pub catalogue_refresh: Duration,
    /// Delete each upstream session the proxy has finished with, in the background (§14.3).
    pub delete_sessions: bool,
    /// Forward `max_tokens` upstream; off by default because it is undocumented there and
    /// reported to empty the answers (§3.3).
    pub forward_max_tokens: bool,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Bound on a client sending its request head; a connection that takes longer is closed.
    pub header_read_timeout: Duration,
    /// Bound on a client sending its request body (408 past it).
    pub body_read_timeout: Duration,
    /// Bound on a client reading a stream: one that reads nothing for this long is cut off,
    /// and the upstream slot it held is freed.
    pub stream_write_timeout: Duration,
    /// On shutdown, how long requests in flight may take to finish before the rest are cut.
    pub shutdown_grace: Duration,
    /// Connections the kernel queues for the proxy before it accepts them (the system caps
    /// it at `net.core.somaxconn`); read when the proxy binds its port.
    pub listen_backlog: u32,
    /// How the pool spreads requests over accounts.
    pub pool_strategy: Strategy,
    /// Cooldowns, circuit breaking and re-checks of accounts.
    pub health: HealthPolicy,
    /// How long a request may wait for a resting account before a 503 with `Retry-After`.
    pub no_account_wait: Duration,
    /// Bound on silence inside a stream once it has begun (`stream_timeout` bounds the wait
    /// for its first byte).
    pub stream_idle_timeout: Duration,
    /// While a stream waits for its first content, an SSE comment goes to the client this
    /// often (the first one after this long), so the client's own timeouts do not fire.
    pub stream_keepalive: Duration,
    /// Upstream requests in flight at once, over all accounts; 0 is unlimited.
    pub max_concurrent_upstream: u32,
    /// Write a usage row per request (off: nothing about requests is stored).
    pub record_usage: bool,
    /// Count requests, timings and failovers for `GET /metrics` (off: `/metrics` is 404).
    pub metrics: bool,
    /// Days raw usage rows are kept; hourly rollups are kept for good.
    pub usage_retention_days: u32,
    /// What becomes of an image in a request: described by on-demand.io's image agent, or
    /// refused with a 400.
    pub image_input: ImageInput,
    /// Largest image taken (decoded, or fetched from its URL).
    pub image_max_bytes: usize,
    /// Most different images one request may carry.
    pub image_max_count: usize,
    /// Days an image's description is kept for the same image sent again.
    pub image_cache_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            session_timeout: Duration::from_secs(30 * 60),
            session_mode: SessionMode::Stateless,
            session_cache_size: 10_000,
            max_retries: 3,
            retry_delay: Duration::from_secs(1),
            request_timeout: Duration::from_secs(120),
            stream_timeout: Duration::from_secs(180),
            rate_limit: 60,
            debug_mode: false,
            base_url: DEFAULT_BASE_URL.to_owned(),
            auth_base_url: DEFAULT_AUTH_BASE_URL.to_owned(),
            client_base_url: DEFAULT_CLIENT_BASE_URL.to_owned(),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            upstream_proxy: None,
            upstream_ca_file: String::new(),
            catalogue_refresh: Duration::from_secs(6 * 3600),
            delete_sessions: true,
            forward_max_tokens: false,
            max_body_bytes: 10 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            stream_write_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
            listen_backlog: 4096,
            pool_strategy: Strategy::RoundRobin,
            health: HealthPolicy::default(),
            no_account_wait: Duration::from_secs(10),
            stream_idle_timeout: Duration::from_secs(90),
            stream_keepalive: Duration::from_secs(5),
            max_concurrent_upstream: 256,
            record_usage: true,
            metrics: true,
            usage_retention_days: 90,
            image_input: ImageInput::Describe,
            image_max_bytes: 5 * 1024 * 1024,
            image_max_count: 8,
            image_cache_days: 30,
        }
    }
}

/// What becomes of an image in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageInput {
    /// Uploaded to on-demand.io's image agent; its description goes into the query.
    #[default]
    Describe,
    /// Refused with a 400 naming the part.
    Refuse,
}

impl ImageInput {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Describe => "describe",
            Self::Refuse => "refuse",
        }
    }
}

/// How conversations map onto upstream sessions (upstream contract §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionMode {
    /// A fresh upstream session per request, carrying the whole transcript.
    #[default]
    Stateless,
    /// Keep an upstream session per conversation and send only the new turn while the
    /// history matches exactly; anything else falls back to a fresh session.
    Reuse,
}

impl SessionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stateless => "stateless",
            Self::Reuse => "reuse",
        }
    }
}

/// How the pool spreads requests over accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    #[default]
    RoundRobin,
    LeastInFlight,
    Weighted,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RoundRobin => "round_robin",
            Self::LeastInFlight => "least_in_flight",
            Self::Weighted => "weighted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "round_robin" => Some(Self::RoundRobin),
            "least_in_flight" => Some(Self::LeastInFlight),
            "weighted" => Some(Self::Weighted),
            _ => None,
        }
    }
}

/// How an account's health reacts to failures ([`crate::health`]): durations and
/// thresholds, from the live settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthPolicy {
    /// First 429 cooldown; each further 429 in a row doubles it.
    pub cooldown_base: Duration,
    pub cooldown_max: Duration,
    /// Consecutive transient failures that open the circuit.
    pub circuit_failures: u32,
    /// How long an open circuit rests before its half-open probe.
    pub circuit_open: Duration,
    /// First re-check of an account that needs attention; doubles per failed re-check.
    pub recheck_base: Duration,
    pub recheck_max: Duration,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            cooldown_base: Duration::from_secs(60),
            cooldown_max: Duration::from_secs(15 * 60),
            circuit_failures: 3,
            circuit_open: Duration::from_secs(30),
            recheck_base: Duration::from_secs(60),
            recheck_max: Duration::from_secs(60 * 60),
        }
    }
}

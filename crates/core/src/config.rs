//! Configuration: the original Flask proxy's `config.json` and environment names, extended.
//!
//! Sources, lowest precedence first: built-in defaults < `config.json` < environment < CLI
//! flags. Every value is validated once, at start, and an error names the field, where the
//! value came from and why it is wrong; nothing starts half-configured. Keys the proxy does
//! not know (the original's `stats_file_path`, say) are reported, not fatal, so old files
//! keep working.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::health::HealthPolicy;
use crate::pool::Strategy;
use crate::secret::Secret;

pub const DEFAULT_BASE_URL: &str = "https://api.on-demand.io";
pub const DEFAULT_AUTH_BASE_URL: &str = "https://gateway.on-demand.io";
/// Where email/password accounts chat (`/chat/v1/client/*`): the 2026 dashboard calls the
/// gateway host; 2025 proxies used `api.on-demand.io` (§14.3).
pub const DEFAULT_CLIENT_BASE_URL: &str = "https://gateway.on-demand.io";
/// A browser-like agent: Cloudflare in front of the upstream bans bare agents (§1).
pub const DEFAULT_USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36";
pub const DEFAULT_PORT: u16 = 8787;

/// Tokens published in the original proxy's sources and docs; anyone could guess them.
const PUBLIC_SAMPLE_TOKENS: [&str; 1] = ["sk-2api-ondemand-access-token-2025"];

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
    /// Delete each upstream session the proxy has finished with, in the background (§14.3).
    pub delete_sessions: bool,
    /// Forward `max_tokens` upstream; off by default because it is undocumented there and
    /// reported to empty the answers (§3.3).
    pub forward_max_tokens: bool,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
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
    /// Days raw usage rows are kept; hourly rollups are kept for good.
    pub usage_retention_days: u32,
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
            delete_sessions: true,
            forward_max_tokens: false,
            max_body_bytes: 10 * 1024 * 1024,
            pool_strategy: Strategy::RoundRobin,
            health: HealthPolicy::default(),
            no_account_wait: Duration::from_secs(10),
            stream_idle_timeout: Duration::from_secs(90),
            stream_keepalive: Duration::from_secs(5),
            max_concurrent_upstream: 256,
            record_usage: true,
            usage_retention_days: 90,
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

/// One upstream account as configured.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountConfig {
    ApiKey {
        name: String,
        api_key: Secret,
        options: AccountOptions,
    },
    /// Email/password: the dashboard's sign-in flow (§2.2), experimental.
    Password {
        name: String,
        email: String,
        password: Secret,
        options: AccountOptions,
    },
}

/// How the pool treats an account, whatever its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountOptions {
    /// Share of traffic under the `weighted` strategy.
    pub weight: u32,
    /// Cap on this account's concurrent requests; `None` is unlimited.
    pub max_concurrent: Option<u32>,
    pub enabled: bool,
}

impl Default for AccountOptions {
    fn default() -> Self {
        Self {
            weight: 1,
            max_concurrent: None,
            enabled: true,
        }
    }
}

impl AccountConfig {
    pub fn name(&self) -> &str {
        match self {
            Self::ApiKey { name, .. } | Self::Password { name, .. } => name,
        }
    }

    /// `api_key` or `email_password`, as stored and shown.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ApiKey { .. } => "api_key",
            Self::Password { .. } => "email_password",
        }
    }

    /// The sign-in email of an email/password account.
    pub fn email(&self) -> Option<&str> {
        match self {
            Self::ApiKey { .. } => None,
            Self::Password { email, .. } => Some(email),
        }
    }

    /// The API key, or the password.
    pub fn secret(&self) -> &Secret {
        match self {
            Self::ApiKey { api_key, .. } => api_key,
            Self::Password { password, .. } => password,
        }
    }

    pub fn options(&self) -> &AccountOptions {
        match self {
            Self::ApiKey { options, .. } | Self::Password { options, .. } => options,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The client token; `None` means "generate one on first run".
    pub api_access_token: Option<Secret>,
    /// The admin credential for `/api/*`; `None` means "generate one on first run".
    pub admin_password: Option<Secret>,
    pub accounts: Vec<AccountConfig>,
    pub host: IpAddr,
    pub port: u16,
    pub data_dir: Option<PathBuf>,
    pub settings: Settings,
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
    /// Keys of the config file this version does not use.
    pub unknown_keys: Vec<String>,
    /// The settings given in the file, env or flags: they win over the dashboard's.
    pub pinned: Pinned,
}

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Saved through the admin API (the `settings` table).
    Stored,
    File(PathBuf),
    Env(&'static str),
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stored => f.write_str("in the settings saved from the dashboard"),
            Self::File(path) => write!(f, "in {}", path.display()),
            Self::Env(name) => write!(f, "from environment variable {name}"),
            Self::Flag(flag) => write!(f, "from flag {flag}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("invalid `{field}` {origin}: {reason}")]
    Invalid {
        field: String,
        origin: Origin,
        reason: String,
    },
}

/// One configurable key and its names in each source.
pub struct Field {
    pub key: &'static str,
    pub env: &'static str,
    pub flag: &'static str,
    pub help: &'static str,
    /// A switch: the flag takes no value and means `true`.
    pub switch: bool,
}

const fn value(
    key: &'static str,
    env: &'static str,
    flag: &'static str,
    help: &'static str,
) -> Field {
    Field {
        key,
        env,
        flag,
        help,
        switch: false,
    }
}

const fn switch(
    key: &'static str,
    env: &'static str,
    flag: &'static str,
    help: &'static str,
) -> Field {
    Field {
        key,
        env,
        flag,
        help,
        switch: true,
    }
}

/// Every key but `accounts`, which has its own shape. The CLI's flags are made from this.
pub const FIELDS: &[Field] = &[
    value(
        "api_access_token",
        "API_ACCESS_TOKEN",
        "--api-access-token",
        "The client token named default for /v1/* (visible in the process list: prefer the env var)",
    ),
    value(
        "admin_password",
        "ADMIN_PASSWORD",
        "--admin-password",
        "Admin password for /api and the dashboard (prefer the env var) [default: generated, stored in the data dir]",
    ),
    value(
        "host",
        "LISTEN_HOST",
        "--host",
        "Address to listen on [default: 127.0.0.1]; anything but loopback exposes the proxy",
    ),
    value(
        "port",
        "LISTEN_PORT",
        "--port",
        "Port to listen on; 0 picks a free one [default: 8787]",
    ),
    value(
        "data_dir",
        "DATA_DIR",
        "--data-dir",
        "Where the credentials and the database live [default: the OS data dir]",
    ),
    value(
        "session_timeout_minutes",
        "SESSION_TIMEOUT_MINUTES",
        "--session-timeout-minutes",
        "Idle minutes before a reused upstream session is dropped [default: 30]",
    ),
    value(
        "session_mode",
        "SESSION_MODE",
        "--session-mode",
        "stateless (a fresh upstream session per request) or reuse [default: stateless]",
    ),
    value(
        "session_cache_size",
        "SESSION_CACHE_SIZE",
        "--session-cache-size",
        "Most conversations remembered in reuse mode [default: 10000]",
    ),
    value(
        "max_retries",
        "MAX_RETRIES",
        "--max-retries",
        "Extra upstream attempts after a failed one [default: 3]",
    ),
    value(
        "retry_delay",
        "RETRY_DELAY",
        "--retry-delay",
        "Seconds before re-trying an account that already failed this request [default: 1]",
    ),
    value(
        "request_timeout",
        "REQUEST_TIMEOUT",
        "--request-timeout",
        "Seconds a whole non-stream request may take [default: 120]",
    ),
    value(
        "stream_timeout",
        "STREAM_TIMEOUT",
        "--stream-timeout",
        "Seconds a stream may wait for its first content [default: 180]",
    ),
    value(
        "stream_idle_timeout",
        "STREAM_IDLE_TIMEOUT",
        "--stream-idle-timeout",
        "Seconds a started stream may stay silent [default: 90]",
    ),
    value(
        "stream_keepalive",
        "STREAM_KEEPALIVE",
        "--stream-keepalive",
        "Seconds between keep-alive comments while a stream waits [default: 5]",
    ),
    value(
        "rate_limit",
        "RATE_LIMIT",
        "--rate-limit",
        "Requests per minute per client token; 0 = unlimited [default: 60]",
    ),
    value(
        "max_concurrent_upstream",
        "MAX_CONCURRENT_UPSTREAM",
        "--max-concurrent-upstream",
        "Upstream requests in flight at once; 0 = unlimited [default: 256]",
    ),
    value(
        "pool_strategy",
        "POOL_STRATEGY",
        "--pool-strategy",
        "round_robin, least_in_flight or weighted [default: round_robin]",
    ),
    value(
        "cooldown_seconds",
        "COOLDOWN_SECONDS",
        "--cooldown-seconds",
        "First cooldown after a 429; doubles per 429 in a row [default: 60]",
    ),
    value(
        "cooldown_max_seconds",
        "COOLDOWN_MAX_SECONDS",
        "--cooldown-max-seconds",
        "Longest 429 cooldown [default: 900]",
    ),
    value(
        "circuit_failures",
        "CIRCUIT_FAILURES",
        "--circuit-failures",
        "Failures in a row that rest an account [default: 3]",
    ),
    value(
        "circuit_open_seconds",
        "CIRCUIT_OPEN_SECONDS",
        "--circuit-open-seconds",
        "How long a failing account rests before a probe [default: 30]",
    ),
    value(
        "recheck_seconds",
        "RECHECK_SECONDS",
        "--recheck-seconds",
        "First re-check of an account that needs attention; doubles [default: 60]",
    ),
    value(
        "recheck_max_seconds",
        "RECHECK_MAX_SECONDS",
        "--recheck-max-seconds",
        "Longest wait between re-checks [default: 3600]",
    ),
    value(
        "no_account_wait",
        "NO_ACCOUNT_WAIT",
        "--no-account-wait",
        "Seconds a request may wait for a resting account before a 503 [default: 10]",
    ),
    value(
        "record_usage",
        "RECORD_USAGE",
        "--record-usage",
        "Write a usage row per request to the database (true/false) [default: true]",
    ),
    value(
        "usage_retention_days",
        "USAGE_RETENTION_DAYS",
        "--usage-retention-days",
        "Days raw usage rows are kept; hourly totals are kept for good [default: 90]",
    ),
    switch("debug_mode", "DEBUG_MODE", "--debug", "Verbose logs"),
    value(
        "base_url",
        "ONDEMAND_BASE_URL",
        "--base-url",
        "on-demand.io chat API [default: https://api.on-demand.io]",
    ),
    value(
        "auth_base_url",
        "ONDEMAND_AUTH_BASE_URL",
        "--auth-base-url",
        "Sign-in service for email/password accounts [default: https://gateway.on-demand.io]",
    ),
    value(
        "client_base_url",
        "ONDEMAND_CLIENT_BASE_URL",
        "--client-base-url",
        "Chat host for email/password accounts [default: https://gateway.on-demand.io]",
    ),
    value(
        "delete_sessions",
        "DELETE_SESSIONS",
        "--delete-sessions",
        "Delete finished upstream sessions in the background (true/false) [default: true]",
    ),
    value(
        "user_agent",
        "ONDEMAND_USER_AGENT",
        "--user-agent",
        "User-Agent sent upstream [default: a desktop Chrome string]",
    ),
    switch(
        "forward_max_tokens",
        "FORWARD_MAX_TOKENS",
        "--forward-max-tokens",
        "Forward max_tokens upstream (undocumented there)",
    ),
    value(
        "max_body_bytes",
        "MAX_BODY_BYTES",
        "--max-body-bytes",
        "Largest request body in bytes [default: 10485760]",
    ),
];

const ACCOUNTS_ENV: &str = "ONDEMAND_ACCOUNTS";

/// Keys of [`FIELDS`] that are not settings: where to listen, where the data lives, and the
/// two credentials. They are read at start only.
const START_ONLY: [&str; 5] = [
    "api_access_token",
    "admin_password",
    "host",
    "port",
    "data_dir",
];

/// Settings that apply at the next start only, so the admin API does not offer them.
const RESTART_SETTINGS: [&str; 1] = ["debug_mode"];

/// Whether `key` is a setting (a [`Settings`] field).
pub fn is_setting(key: &str) -> bool {
    FIELDS.iter().any(|f| f.key == key) && !START_ONLY.contains(&key)
}

/// Whether the admin API may change `key` (a setting that applies live).
pub fn is_live_setting(key: &str) -> bool {
    is_setting(key) && !RESTART_SETTINGS.contains(&key)
}

/// Which settings `config.json`, the environment or flags gave, and where: they win over
/// the dashboard's.
#[derive(Debug, Clone, Default)]
pub struct Pinned(BTreeMap<&'static str, Origin>);

impl Pinned {
    /// Where `key` was pinned, if it was.
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        self.0.get(key)
    }
}

/// `base` (the settings the configuration gave, which `pinned` names) with `stored` (the
/// dashboard's) over every key that is not pinned. `stored` keys that are not live
/// settings are refused, naming the key.
pub fn settings_with(
    base: &Settings,
    pinned: &Pinned,
    stored: &Map<String, Value>,
) -> Result<Settings, ConfigError> {
    let mut layered = Layered {
        values: BTreeMap::new(),
    };
    for (key, value) in stored {
        let Some(field) = FIELDS
            .iter()
            .find(|f| f.key == key && is_live_setting(f.key))
        else {
            return Err(invalid(
                key,
                &Origin::Stored,
                "not a setting that can be changed here",
            ));
        };
        if pinned.origin(key).is_none() {
            layered
                .values
                .insert(field.key, (Raw::Json(value.clone()), Origin::Stored));
        }
    }
    build_settings(&mut layered, base.clone())
}

/// Every setting as `config.json` would write it (minutes, seconds, names).
pub fn settings_json(s: &Settings) -> Map<String, Value> {
    let secs = |d: Duration| Value::from(d.as_secs_f64());
    let h = &s.health;
    let pairs = [
        (
            "session_timeout_minutes",
            Value::from(s.session_timeout.as_secs() / 60),
        ),
        ("session_mode", Value::from(s.session_mode.as_str())),
        ("session_cache_size", Value::from(s.session_cache_size)),
        ("max_retries", Value::from(s.max_retries)),
        ("retry_delay", secs(s.retry_delay)),
        ("request_timeout", secs(s.request_timeout)),
        ("stream_timeout", secs(s.stream_timeout)),
        ("stream_idle_timeout", secs(s.stream_idle_timeout)),
        ("stream_keepalive", secs(s.stream_keepalive)),
        ("rate_limit", Value::from(s.rate_limit)),
        (
            "max_concurrent_upstream",
            Value::from(s.max_concurrent_upstream),
        ),
        ("pool_strategy", Value::from(s.pool_strategy.as_str())),
        ("cooldown_seconds", secs(h.cooldown_base)),
        ("cooldown_max_seconds", secs(h.cooldown_max)),
        ("circuit_failures", Value::from(h.circuit_failures)),
        ("circuit_open_seconds", secs(h.circuit_open)),
        ("recheck_seconds", secs(h.recheck_base)),
        ("recheck_max_seconds", secs(h.recheck_max)),
        ("no_account_wait", secs(s.no_account_wait)),
        ("record_usage", Value::from(s.record_usage)),
        ("usage_retention_days", Value::from(s.usage_retention_days)),
        ("debug_mode", Value::from(s.debug_mode)),
        ("base_url", Value::from(s.base_url.as_str())),
        ("auth_base_url", Value::from(s.auth_base_url.as_str())),
        ("client_base_url", Value::from(s.client_base_url.as_str())),
        ("delete_sessions", Value::from(s.delete_sessions)),
        ("user_agent", Value::from(s.user_agent.as_str())),
        ("forward_max_tokens", Value::from(s.forward_max_tokens)),
        ("max_body_bytes", Value::from(s.max_body_bytes)),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The inputs to [`load`]. `env` is a function so tests never touch the process environment.
pub struct Sources<'a> {
    /// A file named explicitly (`--config`); it must exist.
    pub file: Option<&'a Path>,
    /// Read when `file` is `None` and it exists (the original proxy read `./config.json`).
    pub default_file: Option<&'a Path>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// `(key, raw value)` pairs from the command line, keys as in [`FIELDS`].
    pub flags: Vec<(&'static str, String)>,
}

/// A value before typing: JSON from the file, text from env and flags.
#[derive(Debug, Clone)]
enum Raw {
    Json(Value),
    Text(String),
}

struct Layered {
    values: BTreeMap<&'static str, (Raw, Origin)>,
}

impl Layered {
    fn take(&mut self, key: &str) -> Option<(Raw, Origin)> {
        self.values.remove(key)
    }
}

fn invalid(field: &str, origin: &Origin, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.to_owned(),
        origin: origin.clone(),
        reason: reason.into(),
    }
}

fn describe(raw: &Raw) -> String {
    match raw {
        Raw::Json(v) => v.to_string(),
        Raw::Text(t) => format!("{t:?}"),
    }
}

fn number(key: &str, raw: &Raw, origin: &Origin) -> Result<f64, ConfigError> {
    let n = match raw {
        Raw::Json(Value::Number(n)) => n.as_f64(),
        Raw::Json(Value::String(s)) | Raw::Text(s) => s.trim().parse::<f64>().ok(),
        Raw::Json(_) => None,
    };
    n.filter(|n| n.is_finite()).ok_or_else(|| {
        invalid(
            key,
            origin,
            format!("expected a number, got {}", describe(raw)),
        )
    })
}

fn whole(key: &str, raw: &Raw, origin: &Origin, lo: u64, hi: u64) -> Result<u64, ConfigError> {
    let n = number(key, raw, origin)?;
    if n.fract() != 0.0 || n < lo as f64 || n > hi as f64 {
        return Err(invalid(
            key,
            origin,
            format!(
                "expected a whole number from {lo} to {hi}, got {}",
                describe(raw)
            ),
        ));
    }
    Ok(n as u64)
}

fn seconds(
    key: &str,
    raw: &Raw,
    origin: &Origin,
    lo: f64,
    hi: f64,
) -> Result<Duration, ConfigError> {
    let n = number(key, raw, origin)?;
    if n < lo || n > hi {
        return Err(invalid(
            key,
            origin,
            format!("expected seconds from {lo} to {hi}, got {}", describe(raw)),
        ));
    }
    Ok(Duration::from_secs_f64(n))
}

fn boolean(key: &str, raw: &Raw, origin: &Origin) -> Result<bool, ConfigError> {
    let text = match raw {
        Raw::Json(Value::Bool(b)) => return Ok(*b),
        Raw::Json(Value::String(s)) | Raw::Text(s) => s.trim().to_ascii_lowercase(),
        Raw::Json(_) => String::new(),
    };
    match text.as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(
            key,
            origin,
            format!("expected true or false, got {}", describe(raw)),
        )),
    }
}

fn text(key: &str, raw: &Raw, origin: &Origin) -> Result<String, ConfigError> {
    match raw {
        Raw::Json(Value::String(s)) | Raw::Text(s) if !s.trim().is_empty() => {
            Ok(s.trim().to_owned())
        }
        _ => Err(invalid(
            key,
            origin,
            format!("expected a non-empty string, got {}", describe(raw)),
        )),
    }
}

fn url(key: &str, raw: &Raw, origin: &Origin) -> Result<String, ConfigError> {
    let value = text(key, raw, origin)?;
    match reqwest::Url::parse(&value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Ok(value.trim_end_matches('/').to_owned())
        }
        _ => Err(invalid(
            key,
            origin,
            format!("expected an http(s) URL, got {value:?}"),
        )),
    }
}

/// A stable, non-reversible short name for an unnamed API key, so it can be told apart in
/// logs and keeps its identity across restarts (FNV-1a).
pub fn key_fingerprint(key: &Secret) -> String {
    let hash = key
        .expose()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    format!("key-{:08x}", hash >> 32)
}

fn parse_accounts(raw: &Raw, origin: &Origin) -> Result<Vec<AccountConfig>, ConfigError> {
    let value = match raw {
        Raw::Json(v) => v.clone(),
        Raw::Text(t) => serde_json::from_str(t)
            .map_err(|e| invalid("accounts", origin, format!("not valid JSON: {e}")))?,
    };
    let list = match value {
        Value::Array(list) => list,
        Value::Object(mut obj) => match obj.remove("accounts") {
            Some(Value::Array(list)) => list,
            _ => {
                return Err(invalid(
                    "accounts",
                    origin,
                    "expected {\"accounts\": [...]} or a JSON array",
                ));
            }
        },
        _ => {
            return Err(invalid(
                "accounts",
                origin,
                "expected a JSON array of accounts",
            ));
        }
    };
    let mut accounts: Vec<AccountConfig> = Vec::with_capacity(list.len());
    for (i, item) in list.into_iter().enumerate() {
        let field = format!("accounts[{i}]");
        let Value::Object(obj) = item else {
            return Err(invalid(&field, origin, "expected an object"));
        };
        let get = |k: &str| {
            obj.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let name = get("name").map(str::to_owned);
        let options = account_options(&obj, &field, origin)?;
        let account = match (
            get("api_key").or_else(|| get("apikey")),
            get("email"),
            get("password"),
        ) {
            (Some(key), None, None) => {
                let api_key = Secret::new(key);
                AccountConfig::ApiKey {
                    name: name.unwrap_or_else(|| key_fingerprint(&api_key)),
                    api_key,
                    options,
                }
            }
            (None, Some(email), Some(password)) => AccountConfig::Password {
                name: name.unwrap_or_else(|| email.to_owned()),
                email: email.to_owned(),
                password: Secret::new(password),
                options,
            },
            (None, Some(_), None) => {
                return Err(invalid(&field, origin, "has an email but no password"));
            }
            (Some(_), Some(_), _) => {
                return Err(invalid(
                    &field,
                    origin,
                    "has both api_key and email; use one kind per account",
                ));
            }
            _ => {
                return Err(invalid(
                    &field,
                    origin,
                    "needs either \"api_key\", or \"email\" and \"password\"",
                ));
            }
        };
        if accounts.iter().any(|a| a.name() == account.name()) {
            return Err(invalid(
                &field,
                origin,
                format!("duplicate account name {:?}", account.name()),
            ));
        }
        accounts.push(account);
    }
    Ok(accounts)
}

fn account_options(
    obj: &Map<String, Value>,
    field: &str,
    origin: &Origin,
) -> Result<AccountOptions, ConfigError> {
    let mut options = AccountOptions::default();
    if let Some(v) = obj.get("weight") {
        options.weight = whole(
            &format!("{field}.weight"),
            &Raw::Json(v.clone()),
            origin,
            1,
            1000,
        )? as u32;
    }
    if let Some(v) = obj.get("max_concurrent") {
        let cap = whole(
            &format!("{field}.max_concurrent"),
            &Raw::Json(v.clone()),
            origin,
            0,
            100_000,
        )? as u32;
        options.max_concurrent = (cap > 0).then_some(cap);
    }
    if let Some(v) = obj.get("enabled") {
        options.enabled = boolean(&format!("{field}.enabled"), &Raw::Json(v.clone()), origin)?;
    }
    Ok(options)
}

fn read_file(path: &Path) -> Result<Map<String, Value>, ConfigError> {
    let err = |reason: String| ConfigError::File {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(err("expected a JSON object at the top level".into())),
        Err(e) => Err(err(format!("not valid JSON: {e}"))),
    }
}

/// Reads and validates the whole configuration.
pub fn load(sources: Sources<'_>) -> Result<Config, ConfigError> {
    let file = match (sources.file, sources.default_file) {
        (Some(path), _) => Some(path.to_owned()),
        (None, Some(path)) if path.is_file() => Some(path.to_owned()),
        _ => None,
    };
    let mut layered = Layered {
        values: BTreeMap::new(),
    };
    let mut unknown_keys = Vec::new();
    if let Some(path) = &file {
        for (key, value) in read_file(path)? {
            let known = FIELDS
                .iter()
                .map(|f| f.key)
                .chain(["accounts"])
                .find(|k| *k == key);
            match known {
                Some(k) => {
                    layered
                        .values
                        .insert(k, (Raw::Json(value), Origin::File(path.clone())));
                }
                None => unknown_keys.push(key),
            }
        }
    }
    for field in FIELDS {
        if let Some(value) = (sources.env)(field.env) {
            layered
                .values
                .insert(field.key, (Raw::Text(value), Origin::Env(field.env)));
        }
    }
    if let Some(value) = (sources.env)(ACCOUNTS_ENV) {
        layered
            .values
            .insert("accounts", (Raw::Text(value), Origin::Env(ACCOUNTS_ENV)));
    }
    for (key, value) in sources.flags {
        if let Some(field) = FIELDS.iter().find(|f| f.key == key) {
            layered
                .values
                .insert(field.key, (Raw::Text(value), Origin::Flag(field.flag)));
        }
    }
    build(layered, file, unknown_keys)
}

fn build(
    mut l: Layered,
    file: Option<PathBuf>,
    unknown_keys: Vec<String>,
) -> Result<Config, ConfigError> {
    let pinned = Pinned(
        l.values
            .iter()
            .filter(|(key, _)| is_setting(key))
            .map(|(key, (_, origin))| (*key, origin.clone()))
            .collect(),
    );
    let settings = build_settings(&mut l, Settings::default())?;
    finish(l, settings, pinned, file, unknown_keys)
}

/// Types and validates every setting present in `l` over `base`.
fn build_settings(l: &mut Layered, base: Settings) -> Result<Settings, ConfigError> {
    let mut s = base;
    if let Some((raw, o)) = l.take("session_timeout_minutes") {
        s.session_timeout =
            Duration::from_secs(60 * whole("session_timeout_minutes", &raw, &o, 1, 7 * 24 * 60)?);
    }
    if let Some((raw, o)) = l.take("session_mode") {
        let mode = text("session_mode", &raw, &o)?;
        s.session_mode = match mode.as_str() {
            "stateless" => SessionMode::Stateless,
            "reuse" => SessionMode::Reuse,
            _ => {
                return Err(invalid(
                    "session_mode",
                    &o,
                    format!("expected stateless or reuse, got {mode:?}"),
                ));
            }
        };
    }
    if let Some((raw, o)) = l.take("session_cache_size") {
        s.session_cache_size = whole("session_cache_size", &raw, &o, 1, 10_000_000)? as usize;
    }
    if let Some((raw, o)) = l.take("max_retries") {
        s.max_retries = whole("max_retries", &raw, &o, 0, 10)? as u32;
    }
    if let Some((raw, o)) = l.take("retry_delay") {
        s.retry_delay = seconds("retry_delay", &raw, &o, 0.0, 60.0)?;
    }
    if let Some((raw, o)) = l.take("request_timeout") {
        s.request_timeout = seconds("request_timeout", &raw, &o, 0.001, 3600.0)?;
    }
    if let Some((raw, o)) = l.take("stream_timeout") {
        s.stream_timeout = seconds("stream_timeout", &raw, &o, 0.001, 3600.0)?;
    }
    if let Some((raw, o)) = l.take("rate_limit") {
        s.rate_limit = whole("rate_limit", &raw, &o, 0, 1_000_000)? as u32;
    }
    if let Some((raw, o)) = l.take("debug_mode") {
        s.debug_mode = boolean("debug_mode", &raw, &o)?;
    }
    if let Some((raw, o)) = l.take("base_url") {
        s.base_url = url("base_url", &raw, &o)?;
    }
    if let Some((raw, o)) = l.take("auth_base_url") {
        s.auth_base_url = url("auth_base_url", &raw, &o)?;
    }
    if let Some((raw, o)) = l.take("client_base_url") {
        s.client_base_url = url("client_base_url", &raw, &o)?;
    }
    if let Some((raw, o)) = l.take("delete_sessions") {
        s.delete_sessions = boolean("delete_sessions", &raw, &o)?;
    }
    if let Some((raw, o)) = l.take("user_agent") {
        s.user_agent = text("user_agent", &raw, &o)?;
    }
    if let Some((raw, o)) = l.take("forward_max_tokens") {
        s.forward_max_tokens = boolean("forward_max_tokens", &raw, &o)?;
    }
    if let Some((raw, o)) = l.take("stream_idle_timeout") {
        s.stream_idle_timeout = seconds("stream_idle_timeout", &raw, &o, 0.001, 3600.0)?;
    }
    if let Some((raw, o)) = l.take("stream_keepalive") {
        s.stream_keepalive = seconds("stream_keepalive", &raw, &o, 0.01, 600.0)?;
    }
    if let Some((raw, o)) = l.take("max_concurrent_upstream") {
        s.max_concurrent_upstream =
            whole("max_concurrent_upstream", &raw, &o, 0, 1_000_000)? as u32;
    }
    if let Some((raw, o)) = l.take("pool_strategy") {
        let name = text("pool_strategy", &raw, &o)?;
        s.pool_strategy = Strategy::parse(&name).ok_or_else(|| {
            invalid(
                "pool_strategy",
                &o,
                format!("expected round_robin, least_in_flight or weighted, got {name:?}"),
            )
        })?;
    }
    let h = &mut s.health;
    for (key, target, lo, hi) in [
        ("cooldown_seconds", &mut h.cooldown_base, 0.001, 86_400.0),
        ("cooldown_max_seconds", &mut h.cooldown_max, 0.001, 86_400.0),
        ("circuit_open_seconds", &mut h.circuit_open, 0.001, 86_400.0),
        ("recheck_seconds", &mut h.recheck_base, 0.001, 86_400.0),
        (
            "recheck_max_seconds",
            &mut h.recheck_max,
            0.001,
            7.0 * 86_400.0,
        ),
    ] {
        if let Some((raw, o)) = l.take(key) {
            *target = seconds(key, &raw, &o, lo, hi)?;
        }
    }
    if let Some((raw, o)) = l.take("circuit_failures") {
        h.circuit_failures = whole("circuit_failures", &raw, &o, 1, 1000)? as u32;
    }
    if let Some((raw, o)) = l.take("no_account_wait") {
        s.no_account_wait = seconds("no_account_wait", &raw, &o, 0.0, 3600.0)?;
    }
    if let Some((raw, o)) = l.take("record_usage") {
        s.record_usage = boolean("record_usage", &raw, &o)?;
    }
    if let Some((raw, o)) = l.take("usage_retention_days") {
        s.usage_retention_days = whole("usage_retention_days", &raw, &o, 1, 36_500)? as u32;
    }
    if let Some((raw, o)) = l.take("max_body_bytes") {
        s.max_body_bytes = whole("max_body_bytes", &raw, &o, 1024, 1 << 30)? as usize;
    }
    Ok(s)
}

fn finish(
    mut l: Layered,
    settings: Settings,
    pinned: Pinned,
    file: Option<PathBuf>,
    unknown_keys: Vec<String>,
) -> Result<Config, ConfigError> {
    let api_access_token = match l.take("api_access_token") {
        None => None,
        Some((raw, o)) => {
            let token = text("api_access_token", &raw, &o)?;
            if token.chars().any(char::is_whitespace) {
                return Err(invalid("api_access_token", &o, "must not contain spaces"));
            }
            if PUBLIC_SAMPLE_TOKENS.contains(&token.as_str()) {
                return Err(invalid(
                    "api_access_token",
                    &o,
                    "this is the original proxy's published sample token, which anyone can guess; \
                     remove it to get a random one, or choose your own",
                ));
            }
            Some(Secret::new(token))
        }
    };
    let admin_password = match l.take("admin_password") {
        None => None,
        Some((raw, o)) => {
            let password = text("admin_password", &raw, &o)?;
            if password.chars().count() < 12 {
                return Err(invalid(
                    "admin_password",
                    &o,
                    "must be at least 12 characters",
                ));
            }
            Some(Secret::new(password))
        }
    };
    let host = match l.take("host") {
        None => IpAddr::from([127, 0, 0, 1]),
        Some((raw, o)) => {
            let value = text("host", &raw, &o)?;
            if value.eq_ignore_ascii_case("localhost") {
                IpAddr::from([127, 0, 0, 1])
            } else {
                value.parse().map_err(|_| {
                    invalid("host", &o, format!("expected an IP address, got {value:?}"))
                })?
            }
        }
    };
    let port = match l.take("port") {
        None => DEFAULT_PORT,
        Some((raw, o)) => whole("port", &raw, &o, 0, 65535)? as u16,
    };
    let data_dir = match l.take("data_dir") {
        None => None,
        Some((raw, o)) => Some(PathBuf::from(text("data_dir", &raw, &o)?)),
    };
    let accounts = match l.take("accounts") {
        None => Vec::new(),
        Some((raw, o)) => parse_accounts(&raw, &o)?,
    };
    Ok(Config {
        api_access_token,
        admin_password,
        accounts,
        host,
        port,
        data_dir,
        settings,
        pinned,
        file,
        unknown_keys,
    })
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;

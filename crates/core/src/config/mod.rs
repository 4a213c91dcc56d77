//! Configuration: the original Flask proxy's `config.json` and environment names, extended.
//!
//! Sources, lowest precedence first: built-in defaults < `config.json` < environment < CLI
//! flags. Every value is validated once, at start, and an error names the field, where the
//! value came from and why it is wrong; nothing starts half-configured. Keys the proxy does
//! not know (the original's `stats_file_path`, say) are reported, not fatal, so old files
//! keep working.

mod accounts;
mod list;
mod network;
mod settings;
mod table;
mod values;

pub use accounts::{
    AccountConfig, AccountKind, AccountOptions, SIMULATED_KEY_PREFIX, key_fingerprint,
};
pub use list::SETTINGS;
pub use network::{PASSWORD_MASK, ProxyUrl, read_ca_file};
pub use settings::{
    DEFAULT_AUTH_BASE_URL, DEFAULT_BASE_URL, DEFAULT_CLIENT_BASE_URL, DEFAULT_USER_AGENT,
    HealthPolicy, ImageInput, SessionMode, Settings, Strategy,
};
pub use table::{Choice, Group, Kind, KindName, Setting, Words, setting};
pub use values::header_safe;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::secret::Secret;
use accounts::parse_accounts;
use values::{Raw, invalid, text, whole};

pub const DEFAULT_PORT: u16 = 8787;

/// Tokens published in the original proxy's sources and docs; anyone could guess them.
/// The shortest client token accepted when listening on anything but loopback.
pub const MIN_EXPOSED_TOKEN: usize = 24;

const PUBLIC_SAMPLE_TOKENS: [&str; 1] = ["sk-2api-ondemand-access-token-2025"];

#[derive(Debug, Clone)]
pub struct Config {
    /// The client token; `None` means "generate one on first run".
    pub api_access_token: Option<Secret>,
    /// The admin credential for `/api/*`; `None` means "generate one on first run".
    pub admin_password: Option<Secret>,
    /// A bearer token that opens `GET /metrics` alone (for a Prometheus server); without
    /// one, `/metrics` takes the admin credential.
    pub metrics_token: Option<Secret>,
    pub accounts: Vec<AccountConfig>,
    pub host: IpAddr,
    pub port: u16,
    pub data_dir: Option<PathBuf>,
    pub settings: Settings,
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
    /// Keys of the config file this version does not use.
    pub unknown_keys: Vec<String>,
    /// The config file was readable by other users and is private now (to log).
    pub file_repaired: Option<crate::private::Repaired>,
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

/// The names of one key that is read at start only (not a setting).
pub struct Field {
    pub key: &'static str,
    pub env: &'static str,
    pub flag: &'static str,
    pub help: &'static str,
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
    }
}

/// Where to listen, where the data lives, and the two credentials: read at start only.
pub const START_FIELDS: &[Field] = &[
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
        "metrics_token",
        "METRICS_TOKEN",
        "--metrics-token",
        "A token that opens GET /metrics alone, for a Prometheus server (at least 16 characters) [default: /metrics takes the admin password]",
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
];

/// A key's names in each source, and whether its flag is a switch: the start fields, then
/// every setting. The CLI's flags and the README check are made from this.
pub struct Names {
    pub key: &'static str,
    pub env: &'static str,
    pub flag: &'static str,
    pub switch: bool,
    /// Where the CLI help comes from.
    source: Result<&'static Setting, &'static str>,
}

impl Names {
    /// The flag's help text: a setting's English help with its default.
    pub fn help(&self) -> String {
        match self.source {
            Err(help) => help.to_owned(),
            Ok(s) if s.switch => s.help.en.to_owned(),
            Ok(s) => format!("{} [default: {}]", s.help.en, s.default_text()),
        }
    }
}

pub fn all_names() -> impl Iterator<Item = Names> {
    let start = START_FIELDS.iter().map(|f| Names {
        key: f.key,
        env: f.env,
        flag: f.flag,
        switch: false,
        source: Err(f.help),
    });
    let settings = SETTINGS.iter().map(|s| Names {
        key: s.key,
        env: s.env,
        flag: s.flag,
        switch: s.switch,
        source: Ok(s),
    });
    start.chain(settings)
}

const ACCOUNTS_ENV: &str = "ONDEMAND_ACCOUNTS";

/// Whether `key` is a setting (a [`Settings`] field).
pub fn is_setting(key: &str) -> bool {
    setting(key).is_some()
}

/// Whether the admin API may change `key` (a setting that applies live).
pub fn is_live_setting(key: &str) -> bool {
    setting(key).is_some_and(|s| s.live)
}

/// Which settings `config.json`, the environment or flags gave, and where: they win over
/// the dashboard's.
#[derive(Debug, Clone, Default)]
pub struct Pinned(BTreeMap<&'static str, Origin>);

impl Pinned {
    /// Pins `key`: it comes from `origin` and the dashboard cannot change it.
    pub fn pin(&mut self, key: &'static str, origin: Origin) {
        self.0.insert(key, origin);
    }

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
        let Some(field) = SETTINGS.iter().find(|s| s.key == key && s.live) else {
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
    SETTINGS
        .iter()
        .map(|setting| (setting.key.to_owned(), (setting.get)(s)))
        .collect()
}

/// The inputs to [`load`]. `env` is a function so tests never touch the process environment.
pub struct Sources<'a> {
    /// A file named explicitly (`--config`); it must exist.
    pub file: Option<&'a Path>,
    /// Read when `file` is `None` and it exists (the original proxy read `./config.json`).
    pub default_file: Option<&'a Path>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// `(key, raw value)` pairs from the command line, keys as in [`all_names`].
    pub flags: Vec<(&'static str, String)>,
}

struct Layered {
    values: BTreeMap<&'static str, (Raw, Origin)>,
}

impl Layered {
    fn take(&mut self, key: &str) -> Option<(Raw, Origin)> {
        self.values.remove(key)
    }
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
    // It may hold account keys and the upstream's address: refused if it may have been
    // planted, made private if others could read it.
    let file_repaired = match &file {
        Some(path) => crate::private::file(path).map_err(|e| ConfigError::File {
            path: path.clone(),
            reason: e.to_string(),
        })?,
        None => None,
    };
    if let Some(path) = &file {
        for (key, value) in read_file(path)? {
            let known = all_names()
                .map(|n| n.key)
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
    for field in all_names() {
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
        if let Some(field) = all_names().find(|f| f.key == key) {
            layered
                .values
                .insert(field.key, (Raw::Text(value), Origin::Flag(field.flag)));
        }
    }
    let mut config = build(layered, file, unknown_keys)?;
    config.file_repaired = file_repaired;
    Ok(config)
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
    for setting in SETTINGS {
        if let Some((raw, origin)) = l.take(setting.key) {
            let value = setting.parse(&raw, &origin)?;
            (setting.set)(&mut s, value);
        }
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
            Some((Secret::new(token), o))
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
    let metrics_token = match l.take("metrics_token") {
        None => None,
        Some((raw, o)) => {
            let token = text("metrics_token", &raw, &o)?;
            if token.chars().count() < 16 || token.chars().any(char::is_whitespace) {
                return Err(invalid(
                    "metrics_token",
                    &o,
                    "must be at least 16 characters, without spaces",
                ));
            }
            Some(Secret::new(token))
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
    // On any address but loopback the token is all that stands between the network and the
    // accounts: a short one is an open proxy to whoever guesses it.
    if let Some((token, o)) = &api_access_token
        && !host.is_loopback()
        && token.expose().chars().count() < MIN_EXPOSED_TOKEN
    {
        return Err(invalid(
            "api_access_token",
            o,
            format!(
                "is {} characters, too short to guard a proxy listening on {host}: anyone who \
                 guesses it can use your accounts. Use at least {MIN_EXPOSED_TOKEN} random \
                 characters, or leave it unset to have one generated",
                token.expose().chars().count()
            ),
        ));
    }
    let api_access_token = api_access_token.map(|(token, _)| token);
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
        metrics_token,
        accounts,
        host,
        port,
        data_dir,
        settings,
        pinned,
        file,
        unknown_keys,
        file_repaired: None,
    })
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

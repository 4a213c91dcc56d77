//! What a person chooses in an app that hosts the proxy (the desktop shell): the port and
//! address, window behaviour, language and theme. Validated here, whole, so a bad change
//! changes nothing and the rules are tested without a window; the app keeps them.

use std::net::IpAddr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const DEFAULT_PORT: u16 = ondemand_core::config::DEFAULT_PORT;
/// The languages the UI has.
pub const LANGUAGES: [&str; 2] = ["en", "zh-CN"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    /// Follow the system.
    #[default]
    Auto,
    Light,
    Dark,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prefs {
    pub port: u16,
    /// The address to listen on: loopback unless the person confirmed otherwise.
    pub host: IpAddr,
    /// Closing the window hides it to the tray instead of quitting.
    pub close_to_tray: bool,
    pub start_minimised: bool,
    /// `en` or `zh-CN`; `None` follows the system.
    pub language: Option<String>,
    pub theme: Theme,
}

impl Default for Prefs {
    fn default() -> Self {
        Self {
            port: DEFAULT_PORT,
            host: IpAddr::from([127, 0, 0, 1]),
            close_to_tray: true,
            start_minimised: false,
            language: None,
            theme: Theme::Auto,
        }
    }
}

/// A change to some preferences; what is absent stays.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Changes {
    pub port: Option<u16>,
    pub host: Option<String>,
    pub close_to_tray: Option<bool>,
    pub start_minimised: Option<bool>,
    /// `Some(None)` (JSON null) goes back to following the system.
    #[serde(default, deserialize_with = "present")]
    pub language: Option<Option<String>>,
    pub theme: Option<Theme>,
    pub launch_at_login: Option<bool>,
}

impl Changes {
    /// Only the port (the port-problem screen's choice).
    pub fn port(port: u16) -> Self {
        Self {
            port: Some(port),
            ..Self::default()
        }
    }
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Why a change was refused, as the app's window reads it: a code, the field at fault, a
/// message, and for a port that cannot be had, the next free one.
#[derive(Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub code: &'static str,
    pub field: &'static str,
    pub message: String,
    pub suggestion: Option<u16>,
}

impl Invalid {
    pub fn new(code: &'static str, field: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            field,
            message: message.into(),
            suggestion: None,
        }
    }
}

impl Prefs {
    /// These preferences with `changes` applied, or why not. Listening beyond loopback
    /// needs `exposure_confirmed`: a yes from the person at the machine, which the shell
    /// asks for natively (the page has no way to say it).
    pub fn with(&self, changes: &Changes, exposure_confirmed: bool) -> Result<Prefs, Invalid> {
        let mut next = self.clone();
        if let Some(port) = changes.port {
            next.port = valid_port(port)?;
        }
        if let Some(host) = &changes.host {
            next.host = host.trim().parse().map_err(|_| {
                Invalid::new(
                    "invalid_host",
                    "host",
                    format!("`{host}` is not an IP address (try 127.0.0.1 or 0.0.0.0)."),
                )
            })?;
            if !next.host.is_loopback() && !next.host.is_unspecified() {
                return Err(Invalid::new(
                    "invalid_host",
                    "host",
                    "Listen on loopback (127.0.0.1) or on every interface (0.0.0.0).",
                ));
            }
            if !next.host.is_loopback() && !exposure_confirmed && next.host != self.host {
                return Err(Invalid::new(
                    "confirmation_required",
                    "host",
                    format!(
                        "Listening on {} lets other machines reach the proxy; confirm to go on.",
                        next.host
                    ),
                ));
            }
        }
        if let Some(language) = &changes.language {
            if let Some(code) = language
                && !LANGUAGES.contains(&code.as_str())
            {
                return Err(Invalid::new(
                    "invalid_language",
                    "language",
                    format!("`{code}` is not a language of the app (en, zh-CN)."),
                ));
            }
            next.language = language.clone();
        }
        if let Some(theme) = changes.theme {
            next.theme = theme;
        }
        if let Some(flag) = changes.close_to_tray {
            next.close_to_tray = flag;
        }
        if let Some(flag) = changes.start_minimised {
            next.start_minimised = flag;
        }
        Ok(next)
    }

    /// The language to speak: the chosen one, else the system's (`LANG`), else English.
    pub fn language(&self) -> &str {
        match &self.language {
            Some(code) => code,
            None if std::env::var("LANG").is_ok_and(|l| l.starts_with("zh")) => "zh-CN",
            None => "en",
        }
    }
}

pub fn valid_port(port: u16) -> Result<u16, Invalid> {
    if port < 1024 {
        return Err(Invalid::new(
            "invalid_port",
            "port",
            format!("Port {port} is reserved; choose 1024 or above."),
        ));
    }
    Ok(port)
}

impl Prefs {
    /// The preferences as kept, one value per key (`get` reads a key); a missing or invalid
    /// value is its default, so one bad value never costs the others.
    pub fn from_stored(get: impl Fn(&str) -> Option<Value>) -> Prefs {
        fn read<T: DeserializeOwned>(get: &impl Fn(&str) -> Option<Value>, key: &str) -> Option<T> {
            get(key).and_then(|v| serde_json::from_value(v).ok())
        }
        let defaults = Prefs::default();
        Prefs {
            port: read(&get, "port")
                .and_then(|p| valid_port(p).ok())
                .unwrap_or(defaults.port),
            host: read(&get, "host").unwrap_or(defaults.host),
            close_to_tray: read(&get, "close_to_tray").unwrap_or(defaults.close_to_tray),
            start_minimised: read(&get, "start_minimised").unwrap_or(defaults.start_minimised),
            language: read::<String>(&get, "language").filter(|l| LANGUAGES.contains(&l.as_str())),
            theme: read(&get, "theme").unwrap_or(defaults.theme),
        }
    }

    /// The preferences to keep, one value per key.
    pub fn to_stored(&self) -> serde_json::Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Default::default(),
        }
    }
}

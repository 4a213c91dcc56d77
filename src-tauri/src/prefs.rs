//! Desktop preferences, kept with tauri-plugin-store in `preferences.json` in the app's
//! config directory ([`PrefsFile`], managed at start). Language and theme live here too, so
//! the tray speaks the window's language and the window starts in the chosen theme.
//! "Launch at login" is not stored here: the autostart entry itself is the truth.

use std::net::IpAddr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_store::StoreExt;

pub const FILE: &str = "preferences.json";
pub const DEFAULT_PORT: u16 = ondemand_core::config::DEFAULT_PORT;
/// The languages the UI has.
pub const LANGUAGES: [&str; 2] = ["en", "zh-CN"];

/// Where the preferences are kept; without it, defaults are used and nothing is saved.
pub struct PrefsFile(pub std::path::PathBuf);

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
    /// Required to listen on anything but loopback: the window's warning was accepted.
    #[serde(default)]
    pub confirm_exposed: bool,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Why a change was refused, naming the field.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub field: &'static str,
    pub message: String,
}

impl Prefs {
    /// These preferences with `changes` applied, or why not.
    pub fn with(&self, changes: &Changes) -> Result<Prefs, Invalid> {
        let mut next = self.clone();
        if let Some(port) = changes.port {
            next.port = valid_port(port)?;
        }
        if let Some(host) = &changes.host {
            next.host = host.trim().parse().map_err(|_| Invalid {
                code: "invalid_host",
                field: "host",
                message: format!("`{host}` is not an IP address (try 127.0.0.1 or 0.0.0.0)."),
            })?;
            if !next.host.is_loopback() && !next.host.is_unspecified() {
                return Err(Invalid {
                    code: "invalid_host",
                    field: "host",
                    message: "Listen on loopback (127.0.0.1) or on every interface (0.0.0.0)."
                        .into(),
                });
            }
            if !next.host.is_loopback() && !changes.confirm_exposed && next.host != self.host {
                return Err(Invalid {
                    code: "confirmation_required",
                    field: "host",
                    message: format!(
                        "Listening on {} lets other machines reach the proxy; confirm to go on.",
                        next.host
                    ),
                });
            }
        }
        if let Some(language) = &changes.language {
            if let Some(code) = language
                && !LANGUAGES.contains(&code.as_str())
            {
                return Err(Invalid {
                    code: "invalid_language",
                    field: "language",
                    message: format!("`{code}` is not a language of the app (en, zh-CN)."),
                });
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
        return Err(Invalid {
            code: "invalid_port",
            field: "port",
            message: format!("Port {port} is reserved; choose 1024 or above."),
        });
    }
    Ok(port)
}

fn store<R: Runtime>(app: &AppHandle<R>) -> Option<std::sync::Arc<tauri_plugin_store::Store<R>>> {
    let file = app.try_state::<PrefsFile>()?;
    match app.store(file.0.clone()) {
        Ok(store) => Some(store),
        Err(error) => {
            tracing::warn!(%error, "the preferences could not be read; using defaults");
            None
        }
    }
}

/// The saved preferences; a missing or unreadable value is its default.
pub fn load<R: Runtime>(app: &AppHandle<R>) -> Prefs {
    let defaults = Prefs::default();
    let Some(store) = store(app) else {
        return defaults;
    };
    fn get<T: DeserializeOwned>(
        store: &tauri_plugin_store::Store<impl Runtime>,
        key: &str,
    ) -> Option<T> {
        store.get(key).and_then(|v| serde_json::from_value(v).ok())
    }
    Prefs {
        port: get(&store, "port")
            .and_then(|p| valid_port(p).ok())
            .unwrap_or(defaults.port),
        host: get(&store, "host").unwrap_or(defaults.host),
        close_to_tray: get(&store, "close_to_tray").unwrap_or(defaults.close_to_tray),
        start_minimised: get(&store, "start_minimised").unwrap_or(defaults.start_minimised),
        language: get::<String>(&store, "language").filter(|l| LANGUAGES.contains(&l.as_str())),
        theme: get(&store, "theme").unwrap_or(defaults.theme),
    }
}

pub fn save<R: Runtime>(app: &AppHandle<R>, prefs: &Prefs) {
    let Some(store) = store(app) else {
        return;
    };
    let Ok(Value::Object(map)) = serde_json::to_value(prefs) else {
        return;
    };
    for (key, value) in map {
        store.set(key, value);
    }
    if let Err(error) = store.save() {
        tracing::warn!(%error, "saving the preferences failed");
    }
}

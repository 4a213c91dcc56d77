//! Desktop preferences, kept with tauri-plugin-store in `preferences.json` in the app's
//! config directory ([`PrefsFile`], managed at start). The UI's own preferences (language,
//! theme) live in its storage.

use serde_json::Value;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_store::StoreExt;

pub const FILE: &str = "preferences.json";

/// Where the preferences are kept; without it, defaults are used and nothing is saved.
pub struct PrefsFile(pub std::path::PathBuf);

fn store<R: Runtime>(app: &AppHandle<R>) -> Option<std::sync::Arc<tauri_plugin_store::Store<R>>> {
    let file = app.try_state::<PrefsFile>()?;
    app.store(file.0.clone()).ok()
}
pub const DEFAULT_PORT: u16 = ondemand_core::config::DEFAULT_PORT;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefs {
    pub port: u16,
    /// Closing the window hides it to the tray instead of quitting.
    pub close_to_tray: bool,
    pub start_minimised: bool,
}

impl Default for Prefs {
    fn default() -> Self {
        Self {
            port: DEFAULT_PORT,
            close_to_tray: true,
            start_minimised: false,
        }
    }
}

pub fn load<R: Runtime>(app: &AppHandle<R>) -> Prefs {
    let defaults = Prefs::default();
    let Some(store) = store(app) else {
        return defaults;
    };
    let port = store
        .get("port")
        .and_then(|v| v.as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(defaults.port);
    let flag =
        |key: &str, default: bool| store.get(key).and_then(|v| v.as_bool()).unwrap_or(default);
    Prefs {
        port,
        close_to_tray: flag("close_to_tray", defaults.close_to_tray),
        start_minimised: flag("start_minimised", defaults.start_minimised),
    }
}

pub fn save_port<R: Runtime>(app: &AppHandle<R>, port: u16) {
    if let Some(store) = store(app) {
        store.set("port", Value::from(port));
        if let Err(error) = store.save() {
            tracing::warn!(%error, "saving the preferences failed");
        }
    }
}

//! The desktop preferences ([`Prefs`], validated in `ondemand_proxy::preferences`), kept
//! with tauri-plugin-store in `preferences.json` in the app's config directory
//! ([`PrefsFile`], managed at start). "Launch at login" is not kept here: the autostart
//! entry itself is the truth.

use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_store::StoreExt;

pub use ondemand_proxy::preferences::{Changes, Prefs};

pub const FILE: &str = "preferences.json";

/// Where the preferences are kept; without it, defaults are used and nothing is saved.
pub struct PrefsFile(pub std::path::PathBuf);

fn store<R: Runtime>(app: &AppHandle<R>) -> Option<std::sync::Arc<tauri_plugin_store::Store<R>>> {
    let file = app.try_state::<PrefsFile>()?;
    app.store(file.0.clone())
        .inspect_err(|error| tracing::warn!(%error, "the preferences could not be read"))
        .ok()
}

/// The saved preferences; a missing or unreadable value is its default.
pub fn load<R: Runtime>(app: &AppHandle<R>) -> Prefs {
    store(app).map_or_else(Prefs::default, |s| Prefs::from_stored(|key| s.get(key)))
}

pub fn save<R: Runtime>(app: &AppHandle<R>, prefs: &Prefs) {
    let Some(store) = store(app) else {
        return;
    };
    for (key, value) in prefs.to_stored() {
        store.set(key, value);
    }
    if let Err(error) = store.save() {
        tracing::warn!(%error, "saving the preferences failed");
    }
}

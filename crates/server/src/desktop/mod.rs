//! What the desktop shell does that needs no window, here so that it is tested headless:
//! the preferences flow ([`apply`], over a [`Host`] the shell implements with Tauri), the
//! native questions ([`confirm`]), the tray's menu ([`tray`]), and what the window is
//! given and how it is built ([`bootstrap_script`], [`window`]).

pub mod confirm;
pub mod tray;
pub mod window;

use std::future::Future;
use std::path::PathBuf;

use serde::Serialize;

use crate::logging::LogGuards;
use crate::preferences::{Changes, Invalid, Prefs};
use crate::supervisor::{Status, Supervisor};
use confirm::Question;

/// What the preferences flow needs of the app around it.
pub trait Host: Sync {
    /// The saved preferences (defaults where none are saved).
    fn load(&self) -> Prefs;
    fn save(&self, prefs: &Prefs);
    /// Asks the person at the machine natively; `false` unless they said yes.
    fn ask(&self, question: Question) -> impl Future<Output = bool> + Send;
    /// Whether the app starts at login; `None` where the login item cannot be read.
    fn launches_at_login(&self) -> Option<bool>;
    fn set_launch_at_login(&self, on: bool) -> Result<(), String>;
    /// The language changed: redraw what shows it outside the page (the tray).
    fn language_changed(&self);
    /// The server moved: rebuild the window on its new address.
    fn reopen(&self, status: Status, prefs: Prefs) -> impl Future<Output = ()> + Send;
    /// Where the app keeps its data, to show.
    fn data_dir(&self) -> Option<String>;
}

/// The desktop preferences, as the window's settings page shows them.
#[derive(Debug, Serialize)]
pub struct PrefsView {
    #[serde(flatten)]
    pub prefs: Prefs,
    /// `None` where the login item cannot be read (no autostart support).
    pub launch_at_login: Option<bool>,
    pub data_dir: Option<String>,
}

impl PrefsView {
    pub fn of(host: &impl Host, prefs: Prefs) -> Self {
        Self {
            prefs,
            launch_at_login: host.launches_at_login(),
            data_dir: host.data_dir(),
        }
    }
}

/// Changes preferences: validated whole first (a bad value changes nothing); listening
/// beyond loopback and launching at login are then asked natively, and a no changes
/// nothing either; a new port or address is taken before the old one is let go, and the
/// window reopens on it.
pub async fn apply(
    host: &impl Host,
    server: &Supervisor,
    changes: &Changes,
) -> Result<Prefs, Invalid> {
    let current = host.load();
    let language = current.language();
    let next = match current.with(changes, false) {
        Err(refused) if refused.code == "confirmation_required" => {
            if !host.ask(Question::about("expose", language)).await {
                return Err(declined("host"));
            }
            current.with(changes, true)?
        }
        other => other?,
    };
    if changes.launch_at_login == Some(true)
        && host.launches_at_login() != Some(true)
        && !host.ask(Question::about("launch", language)).await
    {
        return Err(declined("launch_at_login"));
    }
    let moved = (changes.port.is_some() || changes.host.is_some())
        && server.local_addr() != Some((next.host, next.port).into());
    if moved
        && let Status::Failed {
            message,
            suggestion,
            ..
        } = server.start(next.host, next.port).await
    {
        let field = if changes.port.is_some() {
            "port"
        } else {
            "host"
        };
        let refused = Invalid::new("port_unavailable", field, message);
        return Err(Invalid {
            suggestion,
            ..refused
        });
    }
    host.save(&next);
    if next.language != current.language {
        host.language_changed();
    }
    if let Some(on) = changes.launch_at_login {
        host.set_launch_at_login(on)
            .map_err(|message| Invalid::new("autostart_failed", "launch_at_login", message))?;
    }
    if moved {
        host.reopen(server.status(), next.clone()).await;
    }
    Ok(next)
}

/// A question asked natively was answered no: nothing changed.
fn declined(field: &'static str) -> Invalid {
    Invalid::new("declined", field, "Not confirmed; nothing was changed.")
}

/// What the UI reads at start (`window.__ODP__`): where the server is, or why there is no
/// server; and the language and theme. No secret: this script runs in every page the
/// window loads (the admin credential is asked for over IPC). JSON-encoded, so nothing in
/// it can break the script.
pub fn bootstrap_script(status: &Status, prefs: &Prefs) -> String {
    let mut value = match status {
        Status::Running { base_url, .. } => {
            serde_json::json!({ "baseUrl": base_url, "shell": true })
        }
        other => serde_json::json!({ "baseUrl": "", "shell": true, "shellError": other }),
    };
    value["language"] = serde_json::json!(prefs.language);
    value["theme"] = serde_json::json!(prefs.theme);
    format!("window.__ODP__ = {value};")
}

/// Makes the app's data, config and cache directories private (owner-only, existing
/// installs included) before anything is written there (logs, preferences, the webview's
/// storage), then starts logging into `data/logs`. A directory that cannot be made private
/// is logged, not fatal.
pub fn prepare_dirs(data: Option<PathBuf>, others: [Option<PathBuf>; 2]) -> LogGuards {
    let unprotected: Vec<String> = std::iter::once(data.clone())
        .chain(others)
        .flatten()
        .filter_map(|dir| {
            let error = crate::bootstrap::private_dir(&dir).err()?;
            Some(format!("{}: {error}", dir.display()))
        })
        .collect();
    let guards = crate::logging::init(false, data.map(|d| d.join("logs")));
    for problem in unprotected {
        tracing::warn!(%problem, "an app directory could not be made private");
    }
    guards
}

#[cfg(test)]
mod tests;

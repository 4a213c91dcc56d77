//! The OnDemand Proxy desktop app, glue only: the proxy server in-process (the headless
//! binary's `ondemand_proxy`), and what only a desktop app has: a window, a tray, native
//! questions, preferences, a single instance and a graceful quit.

mod confirm;
mod prefs;
mod tray;

use std::sync::Arc;

use ondemand_proxy::desktop::window::{self, Navigation};
use ondemand_proxy::desktop::{Host, PrefsView, apply, bootstrap_script, prepare_dirs};
use ondemand_proxy::preferences::Invalid;
use ondemand_proxy::supervisor::{Status, Supervisor};
use tauri::{AppHandle, Manager, RunEvent, Runtime, WebviewUrl, WebviewWindowBuilder, WindowEvent};
use tauri_plugin_autostart::AutoLaunchManager;
use tauri_plugin_window_state::{self as window_state, StateFlags};

const MAIN_WINDOW: &str = "main";
/// Passed by the login item, so a start at login goes straight to the tray.
const MINIMISED_ARG: &str = "--minimised";

/// How the in-process server is doing.
#[tauri::command]
fn shell_status(server: tauri::State<'_, Arc<Supervisor>>) -> Status {
    server.status()
}

/// The app's own admin credential (not the password: never throttled), for its page. Asked
/// for over IPC, which the capability grants the app's own origin only: no page the window
/// might load could read it, as it could a value put in every page by an init script.
#[tauri::command]
fn admin_credential(server: tauri::State<'_, Arc<Supervisor>>) -> Option<String> {
    server.credential()
}

/// The `default` client token, for Connect to reveal and copy (as the tray copies it): over
/// IPC only, which the capability grants the app's own origin.
#[tauri::command]
fn client_token(server: tauri::State<'_, Arc<Supervisor>>) -> Option<String> {
    server.client_token()
}

/// The app around the preferences flow ([`ondemand_proxy::desktop::apply`]).
struct Shell<'a, R: Runtime>(&'a AppHandle<R>);

impl<R: Runtime> Host for Shell<'_, R> {
    fn load(&self) -> prefs::Prefs {
        prefs::load(self.0)
    }
    fn save(&self, prefs: &prefs::Prefs) {
        prefs::save(self.0, prefs);
    }
    async fn ask(&self, question: confirm::Question) -> bool {
        self.0.state::<Arc<Supervisor>>().confirm(question).await
    }
    fn launches_at_login(&self) -> Option<bool> {
        self.0.try_state::<AutoLaunchManager>()?.is_enabled().ok()
    }
    fn set_launch_at_login(&self, on: bool) -> Result<(), String> {
        let manager = self.0.try_state::<AutoLaunchManager>();
        let manager = manager.ok_or("Launch at login is not available here.")?;
        let change = [AutoLaunchManager::disable, AutoLaunchManager::enable][usize::from(on)];
        change(&manager).map_err(|e| format!("The login item could not be changed: {e}"))
    }
    fn language_changed(&self) {
        tray::poke(self.0);
    }
    async fn reopen(&self, status: Status, prefs: prefs::Prefs) {
        reopen_window(self.0, &status, &prefs).await;
    }
    fn data_dir(&self) -> Option<String> {
        Some(self.0.path().app_data_dir().ok()?.display().to_string())
    }
}

#[tauri::command]
fn get_preferences<R: Runtime>(app: AppHandle<R>) -> PrefsView {
    PrefsView::of(&Shell(&app), prefs::load(&app))
}

/// Changes preferences ([`ondemand_proxy::desktop::apply`]: validated whole, what exposes
/// the proxy or starts it at login asked natively, a move taken before the old address is
/// let go).
#[tauri::command]
async fn set_preferences<R: Runtime>(
    app: AppHandle<R>,
    server: tauri::State<'_, Arc<Supervisor>>,
    changes: prefs::Changes,
) -> Result<PrefsView, Invalid> {
    let shell = Shell(&app);
    let prefs = apply(&shell, &server, &changes).await?;
    Ok(PrefsView::of(&shell, prefs))
}

/// The main window: sized for a first run on `screen` ([`window::size`]; later the
/// window-state plugin restores its size), in the theme's colour until the page paints.
fn open_window<R: Runtime>(
    app: &AppHandle<R>,
    status: &Status,
    prefs: &prefs::Prefs,
    (visible, screen): (bool, Option<(f64, f64)>),
) -> tauri::Result<()> {
    let (width, height) = window::size(screen);
    let mut builder =
        WebviewWindowBuilder::new(app, MAIN_WINDOW, WebviewUrl::App("index.html".into()))
            .title("OnDemand Proxy")
            .inner_size(width, height)
            .min_inner_size(window::MIN.0, window::MIN.1)
            .visible(visible)
            .initialization_script(bootstrap_script(status, prefs))
            .on_navigation({
                let app = app.clone();
                move |url| {
                    let go = window::navigation(url.scheme(), url.host_str());
                    if go == Navigation::Browser {
                        use tauri_plugin_opener::OpenerExt;
                        let _ = app.opener().open_url(url.as_str(), None::<&str>);
                    }
                    go == Navigation::Stay
                }
            });
    if let Some((r, g, b)) = window::background(prefs) {
        builder = builder.background_color(tauri::window::Color(r, g, b, 255));
    }
    builder.build()?;
    Ok(())
}

/// Rebuilds the window for a new server address. The old window goes first, and its label
/// is free only once the event loop has let it go: until then the new one waits.
async fn reopen_window<R: Runtime>(app: &AppHandle<R>, status: &Status, prefs: &prefs::Prefs) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW)
        && let Err(error) = window.destroy()
    {
        tracing::warn!(%error, "closing the window failed");
    }
    for _ in 0..200 {
        if app.get_webview_window(MAIN_WINDOW).is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    if let Err(error) = open_window(app, status, prefs, (true, None)) {
        tracing::error!(%error, "opening the window failed");
    }
}

/// Shows the window, building it again if it was released in the tray.
pub(crate) fn show_window<R: Runtime>(app: &AppHandle<R>) {
    let Some(window) = app.get_webview_window(MAIN_WINDOW) else {
        let status = app.state::<Arc<Supervisor>>().status();
        if let Err(error) = open_window(app, &status, &prefs::load(app), (true, None)) {
            tracing::error!(%error, "opening the window failed");
        }
        return;
    };
    let _ = window.unminimize();
    let _ = window.show();
    let _ = window.set_focus();
}

/// Stops the server gracefully (requests in flight drain, usage is written), then exits.
/// The drain runs while the event loop keeps turning: a task that needs the main thread
/// (the tray's refresh) must not wait on a main thread that waits on it.
pub(crate) fn quit<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Some(server) = app.try_state::<Arc<Supervisor>>() {
            server.stop().await;
        }
        app.exit(0);
    });
}

/// Adds the shell's commands and window behaviour to a builder of any runtime (the tests
/// use the mock one).
pub fn configure<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_store::Builder::new().build())
        .invoke_handler(tauri::generate_handler![
            shell_status,
            admin_credential,
            client_token,
            get_preferences,
            set_preferences
        ])
        // Closed to the tray, the window goes, and its webview's memory with it: the app
        // lives on in the tray ([`RunEvent::ExitRequested`] is refused) and [`show_window`]
        // builds it again.
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { .. } = event
                && !prefs::load(window.app_handle()).close_to_tray
            {
                quit(window.app_handle());
            }
        })
}

pub fn run() {
    let minimised = std::env::args().any(|a| a == MINIMISED_ARG);
    // The single-instance plugin goes first, so a second launch stops before anything else.
    let builder =
        tauri::Builder::default().plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            tracing::info!("a second launch: showing this window instead");
            show_window(app);
        }));
    let app = configure(builder)
        .plugin(
            window_state::Builder::new()
                .with_state_flags(!StateFlags::VISIBLE)
                .build(),
        )
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .arg(MINIMISED_ARG)
                .build(),
        )
        .plugin(tauri_plugin_clipboard_manager::init())
        // Used from Rust only, for the questions the page must not answer (its commands
        // are not in the window's capability).
        .plugin(tauri_plugin_dialog::init())
        // Used from Rust only (the tray opens the data folder): its script that sends the
        // page's `_blank` links to `open_url`, a command the window may not call, stays out.
        .plugin(
            tauri_plugin_opener::Builder::new()
                .open_js_links_on_click(false)
                .build(),
        )
        .setup(move |app| {
            let handle = app.handle().clone();
            let path = app.path();
            let dirs = [path.app_config_dir().ok(), path.app_cache_dir().ok()];
            app.manage(prepare_dirs(path.app_data_dir().ok(), dirs));
            app.manage(prefs::PrefsFile(
                app.path().app_config_dir()?.join(prefs::FILE),
            ));
            let prefs = prefs::load(&handle);
            let server = Arc::new(Supervisor::from_environment(app.path().app_data_dir()?)?);
            server.set_confirmer(confirm::native(handle.clone()));
            let status = tauri::async_runtime::block_on(server.start(prefs.host, prefs.port));
            app.manage(server);
            let monitor = app.primary_monitor()?;
            let screen = monitor.map(|m| m.size().to_logical(m.scale_factor()));
            let shown = !(minimised || prefs.start_minimised);
            open_window(
                &handle,
                &status,
                &prefs,
                (shown, screen.map(|s| (s.width, s.height))),
            )?;
            tray::install(&handle)?;
            // SIGTERM or SIGINT (a logout, `kill`, Ctrl-C) quit as gracefully as the tray.
            tauri::async_runtime::spawn(async move {
                ondemand_proxy::launch::shutdown_signal().await;
                quit(&handle);
            });
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(%error, "the desktop app could not start");
            std::process::exit(1);
        }
    };
    app.run(|app, event| {
        // The app ends by `quit` only (the tray, a signal, or closing the window when it
        // does not close to the tray). The last window going away is not an end: the
        // window is rebuilt when the server moves, and a hidden app lives in the tray.
        if let RunEvent::ExitRequested {
            code: None, api, ..
        } = &event
        {
            api.prevent_exit();
        }
        if let RunEvent::Exit = event {
            // Stopped by `quit` already; this is for an exit that did not go through it.
            if let Some(server) = app.try_state::<Arc<Supervisor>>() {
                tauri::async_runtime::block_on(server.stop());
            }
            if let Some(logs) = app.try_state::<ondemand_proxy::logging::LogGuards>() {
                logs.flush();
            }
        }
    });
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

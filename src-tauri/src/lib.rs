//! The OnDemand Proxy desktop app: glue only. It starts the proxy server in-process (the
//! same `ondemand_proxy` the headless binary runs), hands its window the server's address
//! and the admin password, and adds what only a desktop app has: a tray, preferences, a
//! single instance, close-to-tray and a graceful quit. No proxy logic lives here.

mod prefs;
mod server;

use std::sync::Arc;

use serde::Serialize;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, RunEvent, Runtime, WebviewUrl, WebviewWindowBuilder, WindowEvent};
use tauri_plugin_clipboard_manager::ClipboardExt;
use tauri_plugin_opener::OpenerExt;

use crate::server::{Server, Status};

const MAIN_WINDOW: &str = "main";

/// A command's error, as the window reads it.
#[derive(Debug, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    code: &'static str,
    message: String,
}

/// How the in-process server is doing.
#[tauri::command]
fn shell_status(server: tauri::State<'_, Arc<Server>>) -> Status {
    server.status()
}

/// Starts the server on `port` (the one the port-problem screen offered), remembers it,
/// and reopens the window on the new address.
#[tauri::command]
async fn use_port<R: Runtime>(
    app: AppHandle<R>,
    server: tauri::State<'_, Arc<Server>>,
    port: u16,
) -> Result<Status, CommandError> {
    if port < 1024 {
        return Err(CommandError {
            code: "invalid_port",
            message: format!("Port {port} is reserved; choose 1024 or above."),
        });
    }
    let status = server.start(loopback(), port).await;
    if matches!(status, Status::Running { .. }) {
        prefs::save_port(&app, port);
        reopen_window(&app, &status);
    }
    Ok(status)
}

fn loopback() -> std::net::IpAddr {
    std::net::IpAddr::from([127, 0, 0, 1])
}

/// What the UI reads at start (`window.__ODP__`): where the server is and the admin
/// password, or why there is no server. JSON-encoded, so nothing in it can break the script.
fn bootstrap_script(status: &Status) -> String {
    let value = match status {
        Status::Running {
            base_url,
            admin_password,
        } => {
            serde_json::json!({ "baseUrl": base_url, "adminPassword": admin_password, "shell": true })
        }
        other => serde_json::json!({ "baseUrl": "", "shell": true, "shellError": other }),
    };
    format!("window.__ODP__ = {value};")
}

fn open_window<R: Runtime>(
    app: &AppHandle<R>,
    status: &Status,
    visible: bool,
) -> tauri::Result<()> {
    WebviewWindowBuilder::new(app, MAIN_WINDOW, WebviewUrl::App("index.html".into()))
        .title("OnDemand Proxy")
        .inner_size(900.0, 600.0)
        .min_inner_size(720.0, 480.0)
        .visible(visible)
        .initialization_script(bootstrap_script(status))
        .build()?;
    Ok(())
}

fn reopen_window<R: Runtime>(app: &AppHandle<R>, status: &Status) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW)
        && let Err(error) = window.destroy()
    {
        tracing::warn!(%error, "closing the window failed");
    }
    if let Err(error) = open_window(app, status, true) {
        tracing::error!(%error, "opening the window failed");
    }
}

fn show_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Stops the server gracefully (requests drain, usage is written), then exits.
fn quit<R: Runtime>(app: &AppHandle<R>) {
    let server = app.state::<Arc<Server>>().inner().clone();
    tauri::async_runtime::block_on(server.stop());
    app.exit(0);
}

fn tray<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open", "Open window", true, None::<&str>)?;
    let copy_url = MenuItem::with_id(app, "copy_url", "Copy base URL", true, None::<&str>)?;
    let copy_token = MenuItem::with_id(app, "copy_token", "Copy client token", true, None::<&str>)?;
    let data = MenuItem::with_id(app, "data", "Open data folder", true, None::<&str>)?;
    let quit_item = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let separator = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(
        app,
        &[&open, &copy_url, &copy_token, &data, &separator, &quit_item],
    )?;
    let server = app.state::<Arc<Server>>().inner().clone();
    let tooltip = match server.status() {
        Status::Running { base_url, .. } => format!("OnDemand Proxy: {base_url}/v1"),
        _ => "OnDemand Proxy: not running".to_owned(),
    };
    let mut builder = TrayIconBuilder::with_id("main")
        .menu(&menu)
        .tooltip(tooltip);
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder
        .on_menu_event(move |app, event| match event.id.as_ref() {
            "open" => show_window(app),
            "copy_url" => {
                if let Status::Running { base_url, .. } = server.status() {
                    let _ = app.clipboard().write_text(format!("{base_url}/v1"));
                }
            }
            "copy_token" => {
                if let Some(token) = server.client_token() {
                    let _ = app.clipboard().write_text(token);
                }
            }
            "data" => {
                if let Ok(dir) = app.path().app_data_dir() {
                    let _ = app.opener().open_path(dir.to_string_lossy(), None::<&str>);
                }
            }
            "quit" => quit(app),
            _ => {}
        })
        .build(app)?;
    Ok(())
}

/// The configuration: defaults and the environment, as the headless server reads them, with
/// the port from the desktop preferences and the data in the app's data directory.
fn config<R: Runtime>(
    app: &AppHandle<R>,
    port: u16,
) -> Result<(ondemand_core::config::Config, std::path::PathBuf), String> {
    let env = |name: &str| std::env::var(name).ok();
    let mut config = ondemand_core::config::load(ondemand_core::config::Sources {
        file: None,
        default_file: None,
        env: &env,
        flags: vec![],
    })
    .map_err(|e| e.to_string())?;
    config.port = port;
    config.host = loopback();
    let data_dir = app.path().app_data_dir().map_err(|e| e.to_string())?;
    Ok((config, data_dir))
}

/// Adds the shell's commands and window behaviour to a builder of any runtime (the tests
/// use the mock one).
pub fn configure<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_store::Builder::new().build())
        .invoke_handler(tauri::generate_handler![shell_status, use_port])
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { api, .. } = event
                && prefs::load(window.app_handle()).close_to_tray
            {
                api.prevent_close();
                let _ = window.hide();
            }
        })
}

pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let app = configure(tauri::Builder::default())
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            show_window(app)
        }))
        .plugin(tauri_plugin_window_state::Builder::new().build())
        .plugin(tauri_plugin_autostart::Builder::new().build())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_opener::init())
        .setup(|app| {
            let handle = app.handle().clone();
            app.manage(prefs::PrefsFile(
                app.path().app_config_dir()?.join(prefs::FILE),
            ));
            let prefs = prefs::load(&handle);
            let (config, data_dir) = config(&handle, prefs.port)?;
            let server = Arc::new(Server::new(config, data_dir));
            let status = tauri::async_runtime::block_on(server.start(loopback(), prefs.port));
            app.manage(server);
            open_window(&handle, &status, !prefs.start_minimised)?;
            tray(&handle)?;
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
        if let RunEvent::Exit = event
            && let Some(server) = app.try_state::<Arc<Server>>()
        {
            tauri::async_runtime::block_on(server.stop());
        }
    });
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

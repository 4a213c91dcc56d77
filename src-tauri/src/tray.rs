//! The tray icon: a badge for the state (running, paused, a problem), the glance's headline
//! as the tooltip, and the menu. What it shows and does is `ondemand_proxy::glance` and
//! `ondemand_proxy::desktop::tray`; this draws it and performs what needs the desktop.

use std::sync::Arc;

use ondemand_proxy::desktop::tray::{Action, Line, View, keep_current};
use ondemand_proxy::glance::{Light, draw_badge};
use ondemand_proxy::supervisor::{Status, Supervisor};
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_clipboard_manager::ClipboardExt;
use tauri_plugin_opener::OpenerExt;

use crate::prefs;

/// The app icon with a round badge in the state's colour in its lower right corner.
pub fn badged(icon: &Image<'_>, light: Light) -> Image<'static> {
    let mut rgba = icon.rgba().to_vec();
    draw_badge(&mut rgba, icon.width(), icon.height(), light);
    Image::new_owned(rgba, icon.width(), icon.height())
}

fn draw_menu<R: Runtime>(app: &AppHandle<R>, lines: Vec<Line>) -> tauri::Result<Menu<R>> {
    let menu = Menu::new(app)?;
    for line in lines {
        match line {
            Line::Item { id, text, enabled } => {
                menu.append(&MenuItem::with_id(app, id, text, enabled, None::<&str>)?)?
            }
            Line::Separator => menu.append(&PredefinedMenuItem::separator(app)?)?,
        }
    }
    Ok(menu)
}

/// Wakes the tray's refresh loop early (after the language or the pause changed).
struct Poke(Arc<tokio::sync::Notify>);

/// Builds the tray and keeps it current until the app exits ([`keep_current`]).
pub fn install<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let server = app.state::<Arc<Supervisor>>().inner().clone();
    // The app's own icon, owned: the badge is drawn on a copy.
    let icon = app
        .default_window_icon()
        .map(|i| Image::new_owned(i.rgba().to_vec(), i.width(), i.height()));
    let mut builder = TrayIconBuilder::with_id("main");
    if let Some(icon) = &icon {
        builder = builder.icon(icon.clone());
    }
    let menu_server = server.clone();
    let tray = builder
        .on_menu_event(move |app, event| on_menu(app, &menu_server, event.id.as_ref()))
        .build(app)?;
    let poked = Arc::new(tokio::sync::Notify::new());
    app.manage(Poke(poked.clone()));
    let (app, reader) = (app.clone(), app.clone());
    let language = move || prefs::load(&reader).language().to_owned();
    tauri::async_runtime::spawn(keep_current(server, language, poked, move |shown, next| {
        redraw(&app, &tray, icon.as_ref(), shown, next);
    }));
    Ok(())
}

/// Draws `next` where it differs from `shown` (the icon's badge only when its light
/// changed).
fn redraw<R: Runtime>(
    app: &AppHandle<R>,
    tray: &TrayIcon<R>,
    icon: Option<&Image<'static>>,
    shown: Option<&View>,
    (glance, language): &View,
) {
    if shown.map(|(shown, _)| shown.light()) != Some(glance.light())
        && let Some(icon) = icon
    {
        let _ = tray.set_icon(Some(badged(icon, glance.light())));
    }
    let _ = tray.set_tooltip(Some(glance.tooltip(language)));
    let menu = ondemand_proxy::desktop::tray::menu(glance, language);
    match draw_menu(app, menu) {
        Ok(menu) => {
            let _ = tray.set_menu(Some(menu));
        }
        Err(error) => tracing::warn!(%error, "drawing the tray menu failed"),
    }
}

/// Redraws the tray at once (after the language or the pause changed).
pub fn poke<R: Runtime>(app: &AppHandle<R>) {
    if let Some(poke) = app.try_state::<Poke>() {
        poke.0.notify_one();
    }
}

fn on_menu<R: Runtime>(app: &AppHandle<R>, server: &Supervisor, id: &str) {
    match Action::from_id(id) {
        Some(Action::Open) => crate::show_window(app),
        Some(Action::CopyUrl) => {
            if let Status::Running { base_url, .. } = server.status() {
                let _ = app.clipboard().write_text(format!("{base_url}/v1"));
            }
        }
        Some(Action::CopyToken) => {
            if let Some(token) = server.client_token() {
                let _ = app.clipboard().write_text(token);
            }
        }
        Some(Action::Pause) => {
            server.set_paused(!server.paused());
            poke(app);
        }
        Some(Action::OpenData) => {
            if let Ok(dir) = app.path().app_data_dir() {
                let _ = app.opener().open_path(dir.to_string_lossy(), None::<&str>);
            }
        }
        Some(Action::Quit) => crate::quit(app),
        None => {}
    }
}

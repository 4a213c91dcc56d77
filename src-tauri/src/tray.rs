//! The tray icon: a badge for the state (running, paused, a problem), the glance's headline
//! (as the tooltip, and as the menu's first line, since Linux tray hosts show no tooltips),
//! and the menu. It refreshes every two seconds, touching the tray only when something
//! changed. What it shows and says is `ondemand_proxy::glance`.

use std::sync::Arc;
use std::time::Duration;

use ondemand_proxy::glance::{Glance, Light, Today, draw_badge, word};
use ondemand_proxy::supervisor::{Status, Supervisor};
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_clipboard_manager::ClipboardExt;
use tauri_plugin_opener::OpenerExt;

use crate::prefs;

const ID: &str = "main";
const EVERY: Duration = Duration::from_secs(2);

/// What the tray shows, in which language; it is redrawn when this changes.
type View = (Glance, String);

async fn view<R: Runtime>(app: &AppHandle<R>, server: &Supervisor, today: &mut Today) -> View {
    let language = prefs::load(app).language().to_owned();
    (server.glance(today).await, language)
}

/// The app icon with a round badge in the state's colour in its lower right corner.
pub fn badged(icon: &Image<'_>, light: Light) -> Image<'static> {
    let mut rgba = icon.rgba().to_vec();
    draw_badge(&mut rgba, icon.width(), icon.height(), light);
    Image::new_owned(rgba, icon.width(), icon.height())
}

/// The app's own icon, owned (the badge is drawn on a copy).
fn app_icon<R: Runtime>(app: &AppHandle<R>) -> Option<Image<'static>> {
    app.default_window_icon()
        .map(|i| Image::new_owned(i.rgba().to_vec(), i.width(), i.height()))
}

fn menu<R: Runtime>(app: &AppHandle<R>, (glance, language): &View) -> tauri::Result<Menu<R>> {
    let item = |id: &str, text: String, enabled: bool| {
        MenuItem::with_id(app, id, text, enabled, None::<&str>)
    };
    let w = |key| word(language, key);
    let menu = Menu::with_items(app, &[&item("status", glance.headline(language), false)?])?;
    if let Some(detail) = glance.detail(language) {
        menu.append(&item("detail", detail, false)?)?;
    }
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    let running = glance.url.is_some();
    let pause = if glance.paused { "resume" } else { "pause" };
    for (id, key, enabled) in [
        ("open", "open", true),
        ("copy_url", "copy_url", running),
        ("copy_token", "copy_token", running),
        ("pause", pause, running),
        ("data", "data", true),
    ] {
        menu.append(&item(id, w(key), enabled)?)?;
    }
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    menu.append(&item("quit", w("quit"), true)?)?;
    Ok(menu)
}

/// Wakes the tray's refresh loop early (after the language or the pause changed).
struct Poke(Arc<tokio::sync::Notify>);

/// Builds the tray and keeps it current until the app exits: every two seconds, or at once
/// when poked, it reads the view and touches the tray only where the view changed.
pub fn install<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let server = app.state::<Arc<Supervisor>>().inner().clone();
    let mut today = Today::default();
    let first = tauri::async_runtime::block_on(view(app, &server, &mut today));
    let icon = app_icon(app);
    let mut builder = TrayIconBuilder::with_id(ID)
        .menu(&menu(app, &first)?)
        .tooltip(first.0.tooltip(&first.1));
    if let Some(icon) = &icon {
        builder = builder.icon(badged(icon, first.0.light()));
    }
    let menu_server = server.clone();
    let tray = builder
        .on_menu_event(move |app, event| on_menu(app, &menu_server, event.id.as_ref()))
        .build(app)?;
    let poked = Arc::new(tokio::sync::Notify::new());
    app.manage(Poke(poked.clone()));
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let mut shown = first;
        loop {
            tokio::select! {
                () = tokio::time::sleep(EVERY) => {}
                () = poked.notified() => {}
            }
            let next = view(&app, &server, &mut today).await;
            redraw(&app, &tray, icon.as_ref(), &shown, &next);
            shown = next;
        }
    });
    Ok(())
}

fn redraw<R: Runtime>(
    app: &AppHandle<R>,
    tray: &TrayIcon<R>,
    icon: Option<&Image<'static>>,
    shown: &View,
    next: &View,
) {
    if shown == next {
        return;
    }
    if shown.0.light() != next.0.light()
        && let Some(icon) = icon
    {
        let _ = tray.set_icon(Some(badged(icon, next.0.light())));
    }
    let _ = tray.set_tooltip(Some(next.0.tooltip(&next.1)));
    match menu(app, next) {
        Ok(menu) => {
            let _ = tray.set_menu(Some(menu));
        }
        Err(error) => tracing::warn!(%error, "rebuilding the tray menu failed"),
    }
}

/// Redraws the tray at once (after the language or the pause changed).
pub fn poke<R: Runtime>(app: &AppHandle<R>) {
    if let Some(poke) = app.try_state::<Poke>() {
        poke.0.notify_one();
    }
}

fn on_menu<R: Runtime>(app: &AppHandle<R>, server: &Supervisor, id: &str) {
    match id {
        "open" => crate::show_window(app),
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
        "pause" => {
            server.set_paused(!server.paused());
            poke(app);
        }
        "data" => {
            if let Ok(dir) = app.path().app_data_dir() {
                let _ = app.opener().open_path(dir.to_string_lossy(), None::<&str>);
            }
        }
        "quit" => crate::quit(app),
        _ => {}
    }
}

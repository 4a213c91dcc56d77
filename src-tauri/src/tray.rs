//! The tray icon: a badge for the state (running, paused, a problem), the address and
//! today's request count (as the tooltip, and as the menu's first line, since Linux tray
//! hosts show no tooltips), and the menu. It refreshes every two seconds, touching the tray
//! only when something changed.

use std::sync::Arc;
use std::time::Duration;

use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_clipboard_manager::ClipboardExt;
use tauri_plugin_opener::OpenerExt;

use ondemand_core::engine::ProblemKind;

use crate::prefs;
use crate::server::{Server, Status};

const ID: &str = "main";
const EVERY: Duration = Duration::from_secs(2);

/// What the tray shows; it is redrawn when this changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub state: State,
    pub language: String,
    /// `http://127.0.0.1:8787/v1` while running.
    pub url: Option<String>,
    pub today: u64,
    /// Why there is a problem.
    pub detail: Option<String>,
    /// Paused (the menu then offers Resume, whatever the state shows).
    pub paused: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    Paused,
    Problem,
}

impl State {
    /// The badge's colour.
    fn colour(self) -> [u8; 3] {
        match self {
            State::Running => [0x2f, 0x9e, 0x44],
            State::Paused => [0xf0, 0x8c, 0x00],
            State::Problem => [0xe0, 0x31, 0x31],
        }
    }
}

/// The tray's words, in the app's two languages: the `tray` section of the web UI's
/// translation files, so one set of files holds every string the app shows.
#[derive(Debug, Default, serde::Deserialize)]
struct Words {
    open: String,
    copy_url: String,
    copy_token: String,
    pause: String,
    resume: String,
    data: String,
    quit: String,
    running: String,
    paused: String,
    problem: String,
    /// With `{{n}}` for today's count, as i18next writes placeholders.
    today: String,
    no_account: String,
    attention: String,
    firewall: String,
    no_route: String,
}

fn parse_words(file: &str) -> Words {
    serde_json::from_str::<serde_json::Value>(file)
        .ok()
        .and_then(|all| serde_json::from_value(all.get("tray")?.clone()).ok())
        .unwrap_or_default()
}

static EN: std::sync::LazyLock<Words> =
    std::sync::LazyLock::new(|| parse_words(include_str!("../../ui/src/i18n/en.json")));
static ZH: std::sync::LazyLock<Words> =
    std::sync::LazyLock::new(|| parse_words(include_str!("../../ui/src/i18n/zh-CN.json")));

fn words(language: &str) -> &'static Words {
    if language == "zh-CN" { &ZH } else { &EN }
}

impl View {
    /// The first line: the state, the address and today's count.
    pub fn headline(&self) -> String {
        let w = words(&self.language);
        let state = match self.state {
            State::Running => &w.running,
            State::Paused => &w.paused,
            State::Problem => &w.problem,
        };
        match &self.url {
            Some(url) => format!(
                "{state} · {url} · {}",
                w.today.replace("{{n}}", &self.today.to_string())
            ),
            None => state.clone(),
        }
    }

    pub fn tooltip(&self) -> String {
        match &self.detail {
            Some(detail) => format!("OnDemand Proxy: {}\n{detail}", self.headline()),
            None => format!("OnDemand Proxy: {}", self.headline()),
        }
    }
}

/// Today's request count as last read, with what it was read for: it is read again only
/// when the day, the server or its number of finished requests changed.
#[derive(Debug, Default)]
pub struct Today(Option<((chrono::NaiveDate, std::net::SocketAddr, u64), u64)>);

/// Reads the state of `server` into what the tray shows.
pub async fn view(server: &Server, language: &str, today: &mut Today) -> View {
    let status = server.status();
    let running = match (&status, server.state(), server.local_addr()) {
        (Status::Running { base_url, .. }, Some(state), Some(addr)) => {
            Some((base_url, state, addr))
        }
        _ => None,
    };
    let (url, count, health) = match running {
        Some((base_url, state, addr)) => {
            let count = requests_today(&state, addr, today).await;
            (Some(format!("{base_url}/v1")), count, Some(state.summary()))
        }
        None => (None, 0, None),
    };
    let w = words(language);
    let (state, detail) = match (status, health) {
        (Status::Failed { message, .. }, _) => (State::Problem, Some(message)),
        (_, None) => (State::Problem, None),
        (_, Some(h)) if h.is_problem() => {
            let detail = if let Some(kind) = h.upstream_problem {
                match kind {
                    ProblemKind::Firewall => w.firewall.clone(),
                    ProblemKind::Route => w.no_route.clone(),
                }
            } else if h.pool.needs_attention > 0 {
                format!(
                    "{}/{} {}",
                    h.pool.needs_attention, h.pool.accounts, w.attention
                )
            } else {
                w.no_account.clone()
            };
            (State::Problem, Some(detail))
        }
        (_, Some(h)) if h.paused => (State::Paused, None),
        _ => (State::Running, None),
    };
    View {
        state,
        language: language.to_owned(),
        url,
        today: count,
        detail,
        paused: health.is_some_and(|h| h.paused),
    }
}

/// Requests since local midnight, from the hourly rollups (cheap at any volume), read
/// again only when requests finished since the last read or the day turned.
async fn requests_today(
    state: &ondemand_proxy::AppState,
    addr: std::net::SocketAddr,
    today: &mut Today,
) -> u64 {
    let now = chrono::Local::now();
    let key = (now.date_naive(), addr, state.engine().live.seq());
    if let Some((read_for, count)) = today.0
        && read_for == key
    {
        return count;
    }
    let midnight = key
        .0
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(chrono::Local).earliest())
        .map_or(now.timestamp_millis(), |t| t.timestamp_millis());
    match state.app().requests_since(midnight).await {
        Ok(requests) => {
            today.0 = Some((key, requests));
            requests
        }
        Err(error) => {
            tracing::warn!(%error, "reading today's request count failed");
            today.0.map_or(0, |(_, count)| count)
        }
    }
}

/// The app icon with a round badge in the state's colour in its lower right corner.
pub fn badged(icon: &Image<'_>, state: State) -> Image<'static> {
    let (w, h) = (icon.width(), icon.height());
    let mut rgba = icon.rgba().to_vec();
    let size = w.min(h) as f32;
    let radius = size * 0.22;
    let ring = size * 0.05;
    let (cx, cy) = (w as f32 - radius - ring, h as f32 - radius - ring);
    let [r, g, b] = state.colour();
    for y in 0..h {
        for x in 0..w {
            let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
            let colour = if d <= radius {
                [r, g, b]
            } else if d <= radius + ring {
                [0xff, 0xff, 0xff]
            } else {
                continue;
            };
            let i = ((y * w + x) * 4) as usize;
            if let Some(px) = rgba.get_mut(i..i + 4) {
                px.copy_from_slice(&[colour[0], colour[1], colour[2], 0xff]);
            }
        }
    }
    Image::new_owned(rgba, w, h)
}

/// The app's own icon, owned (the badge is drawn on a copy).
fn app_icon<R: Runtime>(app: &AppHandle<R>) -> Option<Image<'static>> {
    app.default_window_icon()
        .map(|i| Image::new_owned(i.rgba().to_vec(), i.width(), i.height()))
}

fn menu<R: Runtime>(app: &AppHandle<R>, view: &View) -> tauri::Result<Menu<R>> {
    let w = words(&view.language);
    let headline = MenuItem::with_id(app, "status", view.headline(), false, None::<&str>)?;
    let detail = view
        .detail
        .as_ref()
        .map(|d| MenuItem::with_id(app, "detail", d, false, None::<&str>))
        .transpose()?;
    let running = view.url.is_some();
    let open = MenuItem::with_id(app, "open", &w.open, true, None::<&str>)?;
    let copy_url = MenuItem::with_id(app, "copy_url", &w.copy_url, running, None::<&str>)?;
    let copy_token = MenuItem::with_id(app, "copy_token", &w.copy_token, running, None::<&str>)?;
    let pause = MenuItem::with_id(
        app,
        "pause",
        if view.paused { &w.resume } else { &w.pause },
        running,
        None::<&str>,
    )?;
    let data = MenuItem::with_id(app, "data", &w.data, true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", &w.quit, true, None::<&str>)?;
    let (s1, s2) = (
        PredefinedMenuItem::separator(app)?,
        PredefinedMenuItem::separator(app)?,
    );
    let menu = Menu::with_items(app, &[&headline])?;
    if let Some(detail) = &detail {
        menu.append(detail)?;
    }
    menu.append_items(&[
        &s1,
        &open,
        &copy_url,
        &copy_token,
        &pause,
        &data,
        &s2,
        &quit,
    ])?;
    Ok(menu)
}

/// Wakes the tray's refresh loop early (after the language or the pause changed).
struct Poke(Arc<tokio::sync::Notify>);

/// Builds the tray and keeps it current until the app exits: every two seconds, or at once
/// when poked, it reads the view and touches the tray only where the view changed.
pub fn install<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let server = app.state::<Arc<Server>>().inner().clone();
    let mut today = Today::default();
    let first =
        tauri::async_runtime::block_on(view(&server, prefs::load(app).language(), &mut today));
    let icon = app_icon(app);
    let mut builder = TrayIconBuilder::with_id(ID)
        .menu(&menu(app, &first)?)
        .tooltip(first.tooltip());
    if let Some(icon) = &icon {
        builder = builder.icon(badged(icon, first.state));
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
            let next = view(&server, prefs::load(&app).language(), &mut today).await;
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
    if shown.state != next.state
        && let Some(icon) = icon
    {
        let _ = tray.set_icon(Some(badged(icon, next.state)));
    }
    let _ = tray.set_tooltip(Some(next.tooltip()));
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

fn on_menu<R: Runtime>(app: &AppHandle<R>, server: &Server, id: &str) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tray_words_come_from_the_ui_translations_in_both_languages() {
        for words in [&*EN, &*ZH] {
            let all = [
                &words.open,
                &words.copy_url,
                &words.copy_token,
                &words.pause,
                &words.resume,
                &words.data,
                &words.quit,
                &words.running,
                &words.paused,
                &words.problem,
                &words.today,
                &words.no_account,
                &words.attention,
                &words.firewall,
                &words.no_route,
            ];
            assert!(all.iter().all(|w| !w.is_empty()), "{words:?}");
            assert!(words.today.contains("{{n}}"));
        }
        assert_eq!(words("zh-CN").quit, "退出 OnDemand Proxy");
        assert_eq!(words("en").pause, "Pause proxy");
    }
}

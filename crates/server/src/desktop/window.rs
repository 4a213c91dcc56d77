//! The main window as the shell builds it: its size on a first run, its colour before the
//! page paints, and where it may go. (Later runs get back the size the person left it at:
//! the window-state plugin restores it.)

use crate::preferences::{Prefs, Theme};

/// The size a first run opens at, when the screen has room.
const SIZE: (f64, f64) = (1200.0, 800.0);
/// Below this the pages no longer fit.
pub const MIN: (f64, f64) = (720.0, 480.0);

/// The window's size in logical pixels on a screen of `screen` (logical pixels; `None`
/// unknown): 1200×800, or 80 % of a smaller screen, never below [`MIN`].
pub fn size(screen: Option<(f64, f64)>) -> (f64, f64) {
    let (width, height) = screen.map_or(SIZE, |(w, h)| (SIZE.0.min(w * 0.8), SIZE.1.min(h * 0.8)));
    (width.max(MIN.0), height.max(MIN.1))
}

/// The colour the window shows before the page paints (the page's own background, so a
/// dark theme does not open on a blank white window); `None` follows the system.
pub fn background(prefs: &Prefs) -> Option<(u8, u8, u8)> {
    match prefs.theme {
        // Mantine's dark body colour (--mantine-color-dark-7) and its light one.
        Theme::Dark => Some((0x24, 0x24, 0x24)),
        Theme::Light => Some((0xff, 0xff, 0xff)),
        Theme::Auto => None,
    }
}

/// What to do when the window is asked to go to a page.
#[derive(Debug, PartialEq, Eq)]
pub enum Navigation {
    /// One of the app's own pages: it loads.
    Stay,
    /// A web page: it opens in the system browser instead.
    Browser,
    /// Anything else never loads.
    Refuse,
}

/// Where the window may go: only the app's own pages load in it.
pub fn navigation(scheme: &str, host: Option<&str>) -> Navigation {
    let own = scheme == "tauri"
        || (scheme == "http" && host == Some("tauri.localhost"))
        || scheme == "about";
    if own {
        return Navigation::Stay;
    }
    tracing::warn!(scheme, host, "the window was kept from leaving the app");
    match scheme {
        "https" => Navigation::Browser,
        _ => Navigation::Refuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_window_fits_the_pages_and_the_screen() {
        assert_eq!(size(None), (1200.0, 800.0));
        assert_eq!(size(Some((2560.0, 1440.0))), (1200.0, 800.0));
        assert_eq!(
            size(Some((1280.0, 800.0))),
            (1024.0, 640.0),
            "80 % of a small screen"
        );
        assert_eq!(
            size(Some((800.0, 500.0))),
            MIN,
            "never below what the pages need"
        );
    }

    #[test]
    fn the_background_follows_the_stored_theme() {
        let with = |theme| Prefs {
            theme,
            ..Prefs::default()
        };
        assert_eq!(background(&with(Theme::Dark)), Some((0x24, 0x24, 0x24)));
        assert_eq!(background(&with(Theme::Light)), Some((0xff, 0xff, 0xff)));
        assert_eq!(background(&with(Theme::Auto)), None);
    }

    #[test]
    fn only_the_apps_own_pages_load_and_web_links_go_to_the_browser() {
        assert_eq!(navigation("tauri", Some("localhost")), Navigation::Stay);
        assert_eq!(
            navigation("http", Some("tauri.localhost")),
            Navigation::Stay
        );
        assert_eq!(
            navigation("https", Some("app.on-demand.io")),
            Navigation::Browser
        );
        assert_eq!(navigation("http", Some("127.0.0.1")), Navigation::Refuse);
        assert_eq!(
            navigation("http", Some("tauri.localhost.evil.example")),
            Navigation::Refuse
        );
        assert_eq!(navigation("file", None), Navigation::Refuse);
    }
}

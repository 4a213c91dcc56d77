//! The tray's menu as data: its lines in order ([`menu`]), and what each line does
//! ([`Action`]). The shell draws the lines with `tauri::menu` and performs the actions that
//! need the desktop (the clipboard, the window, the file manager).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::glance::{Glance, Today, word};
use crate::supervisor::Supervisor;

/// What the tray shows, in which language; it is redrawn when this changes.
pub type View = (Glance, String);

/// How often the tray looks again.
const EVERY: Duration = Duration::from_secs(2);

/// One line of the tray menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A line to read or click: its id (an [`Action`]'s, or `status`/`detail`), its text,
    /// and whether it can be clicked.
    Item {
        id: &'static str,
        text: String,
        enabled: bool,
    },
    Separator,
}

/// What a click on the menu asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Open,
    CopyUrl,
    CopyToken,
    Pause,
    OpenData,
    Quit,
}

impl Action {
    const ALL: [(Action, &'static str); 6] = [
        (Action::Open, "open"),
        (Action::CopyUrl, "copy_url"),
        (Action::CopyToken, "copy_token"),
        (Action::Pause, "pause"),
        (Action::OpenData, "data"),
        (Action::Quit, "quit"),
    ];

    pub fn id(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(action, _)| *action == self)
            .map_or("", |(_, id)| id)
    }

    /// The action of a menu line's id; `None` for the lines that only inform.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, known)| *known == id)
            .map(|(action, _)| *action)
    }
}

/// The menu for what the glance shows, in `language`: the headline (Linux tray hosts show
/// no tooltips) and the problem if any, then the actions (those that need a running server
/// disabled without one), then *Quit*.
pub fn menu(glance: &Glance, language: &str) -> Vec<Line> {
    let info = |id, text| Line::Item {
        id,
        text,
        enabled: false,
    };
    let mut lines = vec![info("status", glance.headline(language))];
    if let Some(detail) = glance.detail(language) {
        lines.push(info("detail", detail));
    }
    lines.push(Line::Separator);
    let running = glance.url.is_some();
    let pause = if glance.paused { "resume" } else { "pause" };
    for (action, key, enabled) in [
        (Action::Open, "open", true),
        (Action::CopyUrl, "copy_url", running),
        (Action::CopyToken, "copy_token", running),
        (Action::Pause, pause, running),
        (Action::OpenData, "data", true),
    ] {
        lines.push(Line::Item {
            id: action.id(),
            text: word(language, key),
            enabled,
        });
    }
    lines.push(Line::Separator);
    lines.push(Line::Item {
        id: Action::Quit.id(),
        text: word(language, "quit"),
        enabled: true,
    });
    lines
}

/// Keeps a tray current until the app exits: at once, then every two seconds or when
/// `poked` (the language or the pause changed), it reads the view, and calls
/// `redraw(shown, next)` only when the view changed (`shown` is `None` the first time).
/// `language` reads the language the tray speaks.
pub async fn keep_current(
    server: Arc<Supervisor>,
    language: impl Fn() -> String,
    poked: Arc<Notify>,
    mut redraw: impl FnMut(Option<&View>, &View),
) {
    let mut today = Today::default();
    let mut shown: Option<View> = None;
    loop {
        let next = (server.glance(&mut today).await, language());
        if shown.as_ref() != Some(&next) {
            redraw(shown.as_ref(), &next);
            shown = Some(next);
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            () = poked.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn stopped() -> Glance {
        Glance {
            url: None,
            today: 0,
            paused: false,
            problem: None,
        }
    }

    fn running(paused: bool) -> Glance {
        Glance {
            url: Some("http://127.0.0.1:8787/v1".into()),
            paused,
            ..stopped()
        }
    }

    #[test]
    fn every_clickable_line_names_an_action_and_back() {
        for glance in [stopped(), running(true)] {
            let lines = menu(&glance, "en");
            let clickable: Vec<_> = lines
                .iter()
                .filter_map(|line| match line {
                    Line::Item { id, .. } => Action::from_id(id),
                    Line::Separator => None,
                })
                .collect();
            assert_eq!(clickable.len(), 6, "{lines:?}");
            for action in clickable {
                assert_eq!(Action::from_id(action.id()), Some(action));
            }
            assert_eq!(Action::from_id("status"), None);
        }
    }

    #[test]
    fn what_needs_a_server_is_disabled_without_one_and_pause_reads_as_its_state() {
        let enabled = |lines: &[Line], want: &str| {
            lines.iter().find_map(|line| match line {
                Line::Item { id, text, enabled } if *id == want => Some((text.clone(), *enabled)),
                _ => None,
            })
        };
        let stopped = menu(&stopped(), "en");
        assert!(!enabled(&stopped, "copy_token").unwrap().1);
        assert!(enabled(&stopped, "open").unwrap().1 && enabled(&stopped, "quit").unwrap().1);
        let lines = menu(&running(true), "zh-CN");
        let (pause, on) = enabled(&lines, "pause").unwrap();
        assert!(on);
        assert_eq!(pause, word("zh-CN", "resume"));
    }
}

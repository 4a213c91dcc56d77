//! The proxy at a glance, as a tray (or any small status display) shows it: the address,
//! today's request count, paused, and why no request can be served when none can; in the
//! app's two languages, with the words of the `tray` section of the web UI's translation
//! files, so one set of files holds every string the app shows.

use std::net::SocketAddr;
use std::sync::LazyLock;

use ondemand_core::engine::ProblemKind;
use serde_json::Value;

use crate::AppState;
use crate::supervisor::{Status, Supervisor};

/// The sections of the web UI's translation files that the shell shows natively: the
/// tray's words, and the questions of its native dialogs.
static WORDS: LazyLock<[Value; 2]> = LazyLock::new(|| {
    let parse = |file: &str| {
        let mut all = serde_json::from_str::<Value>(file).unwrap_or_default();
        serde_json::json!({ "tray": all["tray"].take(), "dialog": all["dialog"].take() })
    };
    [
        parse(include_str!("../../../ui/src/i18n/en.json")),
        parse(include_str!("../../../ui/src/i18n/zh-CN.json")),
    ]
});

fn lookup(language: &str, section: &str, key: &str) -> String {
    let words = &WORDS[usize::from(language == "zh-CN")][section];
    words[key].as_str().unwrap_or(key).to_owned()
}

/// The tray's word for `key` in `language` (`en` or `zh-CN`; anything else is English).
pub fn word(language: &str, key: &str) -> String {
    lookup(language, "tray", key)
}

/// A native dialog's text for `key` in `language`, as [`word`].
pub fn dialog_word(language: &str, key: &str) -> String {
    lookup(language, "dialog", key)
}

/// The light a status display shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Light {
    Running,
    Paused,
    Problem,
}

/// The proxy at a glance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glance {
    /// The OpenAI base URL (`http://127.0.0.1:8787/v1`) while it runs.
    pub url: Option<String>,
    /// Requests since local midnight.
    pub today: u64,
    /// `/v1/*` is paused.
    pub paused: bool,
    /// Why no request can be served, when none can.
    pub problem: Option<Problem>,
}

/// Why no request can be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The server is not running; the reason, if it failed to start.
    NotRunning(Option<String>),
    /// The upstream's firewall refuses this machine.
    Firewall,
    /// The upstream has no such route: the base URL is wrong.
    NoRoute,
    /// The way to on-demand.io fails: its certificate, the proxy, or the name lookup.
    Network(ProblemKind),
    /// Every usable account needs attention.
    NeedsAttention { accounts: usize, of: usize },
    /// No account is enabled.
    NoAccount,
}

/// Today's request count as last read, with what it was read for: it is read again only
/// when the day, the server or its number of finished requests changed.
#[derive(Debug, Default)]
pub struct Today(Option<((chrono::NaiveDate, SocketAddr, u64), u64)>);

impl Glance {
    pub fn light(&self) -> Light {
        match self {
            Glance {
                problem: Some(_), ..
            } => Light::Problem,
            Glance { paused: true, .. } => Light::Paused,
            _ => Light::Running,
        }
    }

    /// Why there is a problem, in `language`.
    pub fn detail(&self, language: &str) -> Option<String> {
        let w = |key| word(language, key);
        Some(match self.problem.as_ref()? {
            Problem::NotRunning(reason) => return reason.clone(),
            Problem::Firewall => w("firewall"),
            Problem::NoRoute => w("no_route"),
            Problem::Network(ProblemKind::Certificate) => w("certificate"),
            Problem::Network(ProblemKind::Proxy) => w("proxy"),
            Problem::Network(_) => w("dns"),
            Problem::NeedsAttention { accounts, of } => {
                format!("{accounts}/{of} {}", w("attention"))
            }
            Problem::NoAccount => w("no_account"),
        })
    }

    /// One line: the state, the address and today's count.
    pub fn headline(&self, language: &str) -> String {
        let w = |key| word(language, key);
        let state = w(match self.light() {
            Light::Running => "running",
            Light::Paused => "paused",
            Light::Problem => "problem",
        });
        match &self.url {
            Some(url) => {
                let today = w("today").replace("{{n}}", &self.today.to_string());
                format!("{state} · {url} · {today}")
            }
            None => state,
        }
    }

    pub fn tooltip(&self, language: &str) -> String {
        match self.detail(language) {
            Some(detail) => format!("OnDemand Proxy: {}\n{detail}", self.headline(language)),
            None => format!("OnDemand Proxy: {}", self.headline(language)),
        }
    }
}

impl Supervisor {
    /// What a tray shows: the address, today's count, paused, and any problem.
    pub async fn glance(&self, today: &mut Today) -> Glance {
        let status = self.status();
        let running = match (&status, self.state(), self.local_addr()) {
            (Status::Running { base_url, .. }, Some(state), Some(addr)) => {
                Some((format!("{base_url}/v1"), state, addr))
            }
            _ => None,
        };
        let Some((url, state, addr)) = running else {
            let reason = match status {
                Status::Failed { message, .. } => Some(message),
                _ => None,
            };
            return Glance {
                url: None,
                today: 0,
                paused: false,
                problem: Some(Problem::NotRunning(reason)),
            };
        };
        let summary = state.summary();
        let problem = match summary.upstream_problem {
            _ if !summary.is_problem() => None,
            Some(ProblemKind::Firewall) => Some(Problem::Firewall),
            Some(ProblemKind::Route) => Some(Problem::NoRoute),
            Some(kind @ (ProblemKind::Certificate | ProblemKind::Proxy | ProblemKind::Dns)) => {
                Some(Problem::Network(kind))
            }
            None if summary.pool.needs_attention > 0 => Some(Problem::NeedsAttention {
                accounts: summary.pool.needs_attention,
                of: summary.pool.accounts,
            }),
            None => Some(Problem::NoAccount),
        };
        Glance {
            url: Some(url),
            today: requests_today(&state, addr, today).await,
            paused: summary.paused,
            problem,
        }
    }
}

/// Requests since local midnight, from the hourly rollups (cheap at any volume), read
/// again only when requests finished since the last read or the day turned.
async fn requests_today(state: &AppState, addr: SocketAddr, today: &mut Today) -> u64 {
    let now = chrono::Local::now();
    let key = (now.date_naive(), addr, state.engine().watch.live.seq());
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

impl Light {
    /// The badge's colour.
    fn colour(self) -> [u8; 3] {
        match self {
            Light::Running => [0x2f, 0x9e, 0x44],
            Light::Paused => [0xf0, 0x8c, 0x00],
            Light::Problem => [0xe0, 0x31, 0x31],
        }
    }
}

/// Draws a round badge in the light's colour, ringed in white, in the lower right corner of
/// an RGBA image `width` × `height` (the app icon, for a tray).
pub fn draw_badge(rgba: &mut [u8], width: u32, height: u32, light: Light) {
    let size = width.min(height) as f32;
    let radius = size * 0.22;
    let ring = size * 0.05;
    let (cx, cy) = (width as f32 - radius - ring, height as f32 - radius - ring);
    let [r, g, b] = light.colour();
    for y in 0..height {
        for x in 0..width {
            let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
            let colour = if d <= radius {
                [r, g, b, 0xff]
            } else if d <= radius + ring {
                [0xff; 4]
            } else {
                continue;
            };
            let i = ((y * width + x) * 4) as usize;
            if let Some(px) = rgba.get_mut(i..i + 4) {
                px.copy_from_slice(&colour);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_come_from_the_ui_translations_in_both_languages() {
        let keys = [
            "open",
            "copy_url",
            "copy_token",
            "pause",
            "resume",
            "data",
            "quit",
            "running",
            "paused",
            "problem",
            "today",
            "no_account",
            "attention",
            "firewall",
            "no_route",
            "certificate",
            "proxy",
            "dns",
        ];
        for words in WORDS.iter() {
            let words = &words["tray"];
            for key in keys {
                assert!(
                    words[key].as_str().is_some_and(|w| !w.is_empty()),
                    "{key}: {words}"
                );
            }
            assert!(words["today"].as_str().is_some_and(|w| w.contains("{{n}}")));
        }
        for language in ["en", "zh-CN"] {
            for key in [
                "exposeTitle",
                "exposeMessage",
                "exposeYes",
                "launchTitle",
                "launchMessage",
                "launchYes",
                "cancel",
            ] {
                assert_ne!(dialog_word(language, key), key, "{language}: {key}");
            }
        }
        assert_eq!(dialog_word("zh-CN", "cancel"), "取消");
        assert_eq!(word("zh-CN", "quit"), "退出 OnDemand Proxy");
        assert_eq!(word("en", "pause"), "Pause proxy");
    }

    #[test]
    fn a_glance_reads_in_either_language() {
        let mut glance = Glance {
            url: Some("http://127.0.0.1:8787/v1".into()),
            today: 3,
            paused: true,
            problem: None,
        };
        assert_eq!(glance.light(), Light::Paused);
        assert_eq!(
            glance.headline("en"),
            "Paused · http://127.0.0.1:8787/v1 · 3 requests today"
        );
        glance.problem = Some(Problem::NeedsAttention { accounts: 2, of: 3 });
        assert_eq!(
            glance.light(),
            Light::Problem,
            "a problem outranks the pause"
        );
        assert!(
            glance.tooltip("zh-CN").contains("2/3"),
            "{}",
            glance.tooltip("zh-CN")
        );
        glance.problem = Some(Problem::NotRunning(Some("port 80 is reserved".into())));
        assert_eq!(
            glance.detail("zh-CN").as_deref(),
            Some("port 80 is reserved")
        );
    }
}

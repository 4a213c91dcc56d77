//! Every setting, declared once: its names (config key, environment variable, flag), what
//! values it takes, its group, whether it changes live, its label and help in English and
//! 简体中文, and how it reads and writes [`Settings`]. Parsing and validation, the CLI's
//! flags, `GET /api/settings`, the dashboard's Settings page and the README's table all come
//! from the list in `list.rs` ([`SETTINGS`]).

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::list::SETTINGS;
use super::settings::Settings;
use super::values::{Raw, boolean, ca_file, invalid, proxy, seconds, text, url, whole};
use super::{ConfigError, Origin};

/// Text in each language the dashboard offers.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Words {
    pub en: &'static str,
    #[serde(rename = "zh-CN")]
    pub zh: &'static str,
}

/// One value a choice setting takes.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[schema(as = SettingChoice)]
pub struct Choice {
    pub value: &'static str,
    pub label: Words,
}

/// What values a setting takes.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Whole {
        min: u64,
        max: u64,
    },
    Seconds {
        min: f64,
        max: f64,
    },
    Bool,
    Text,
    Url,
    /// An outbound proxy URL, or empty for none; its password is masked when shown.
    Proxy,
    /// A PEM file of certificates, or empty for none; read when set.
    CaFile,
    Choice(&'static [Choice]),
}

/// A kind as the admin API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = SettingKind)]
pub enum KindName {
    Integer,
    Seconds,
    Boolean,
    Text,
    Choice,
}

impl Kind {
    pub fn name(self) -> KindName {
        match self {
            Self::Whole { .. } => KindName::Integer,
            Self::Seconds { .. } => KindName::Seconds,
            Self::Bool => KindName::Boolean,
            Self::Text | Self::Url | Self::Proxy | Self::CaFile => KindName::Text,
            Self::Choice(_) => KindName::Choice,
        }
    }

    /// The range of a number, as `(min, max)`.
    pub fn range(self) -> Option<(f64, f64)> {
        match self {
            Self::Whole { min, max } => Some((min as f64, max as f64)),
            Self::Seconds { min, max } => Some((min, max)),
            _ => None,
        }
    }

    pub fn choices(self) -> &'static [Choice] {
        match self {
            Self::Choice(choices) => choices,
            _ => &[],
        }
    }
}

/// Where a setting shows on the dashboard, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = SettingGroup)]
pub enum Group {
    Conversations,
    Retries,
    Limits,
    Pool,
    Usage,
    Images,
    Upstream,
}

/// A value of the setting's kind, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    Whole(u64),
    Seconds(Duration),
    Bool(bool),
    Text(String),
}

impl Typed {
    pub(super) fn whole(&self) -> u64 {
        match self {
            Self::Whole(n) => *n,
            _ => 0,
        }
    }
    pub(super) fn seconds(&self) -> Duration {
        match self {
            Self::Seconds(d) => *d,
            _ => Duration::ZERO,
        }
    }
    pub(super) fn bool(&self) -> bool {
        matches!(self, Self::Bool(true))
    }
    pub(super) fn text(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            _ => String::new(),
        }
    }
}

pub struct Setting {
    pub key: &'static str,
    pub env: &'static str,
    pub flag: &'static str,
    pub kind: Kind,
    pub group: Group,
    /// Changes apply at once; otherwise at the next start (the admin API does not offer it).
    pub live: bool,
    /// The flag takes no value and means `true`.
    pub switch: bool,
    pub label: Words,
    pub help: Words,
    /// The value as `config.json` would write it (minutes, seconds, names).
    pub get: fn(&Settings) -> Value,
    pub set: fn(&mut Settings, Typed),
}

impl Setting {
    /// Validates a raw value for this setting; errors name the field and the source.
    pub(super) fn parse(&self, raw: &Raw, origin: &Origin) -> Result<Typed, ConfigError> {
        let key = self.key;
        Ok(match self.kind {
            Kind::Whole { min, max } => Typed::Whole(whole(key, raw, origin, min, max)?),
            Kind::Seconds { min, max } => Typed::Seconds(seconds(key, raw, origin, min, max)?),
            Kind::Bool => Typed::Bool(boolean(key, raw, origin)?),
            Kind::Text => Typed::Text(text(key, raw, origin)?),
            Kind::Url => Typed::Text(url(key, raw, origin)?),
            Kind::Proxy => Typed::Text(proxy(key, raw, origin)?),
            Kind::CaFile => Typed::Text(ca_file(key, raw, origin)?),
            Kind::Choice(choices) => {
                let value = text(key, raw, origin)?;
                if !choices.iter().any(|c| c.value == value) {
                    let names: Vec<&str> = choices.iter().map(|c| c.value).collect();
                    let (last, rest) = names.split_last().unwrap_or((&"", &[]));
                    return Err(invalid(
                        key,
                        origin,
                        format!("expected {} or {last}, got {value:?}", rest.join(", ")),
                    ));
                }
                Typed::Text(value)
            }
        })
    }

    /// The built-in default, as text (`30`, `stateless`, `true`).
    pub fn default_text(&self) -> String {
        match (self.get)(&Settings::default()) {
            Value::String(s) => s,
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 => format!("{}", f as i64),
                _ => n.to_string(),
            },
            other => other.to_string(),
        }
    }
}

/// The setting named `key`.
pub fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key).copied()
}

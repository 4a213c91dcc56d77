//! Every setting, declared once: its names (config key, environment variable, flag), what
//! values it takes, its group, whether it changes live, its label and help in English and
//! 简体中文, and how it reads and writes [`Settings`]. Parsing and validation, the CLI's
//! flags, `GET /api/settings`, the dashboard's Settings page and the README's table all come
//! from [`SETTINGS`].

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::settings::{SessionMode, Settings};
use super::values::{Raw, boolean, invalid, seconds, text, url, whole};
use super::{ConfigError, Origin};
use crate::pool::Strategy;

/// Text in each language the dashboard offers.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Words {
    pub en: &'static str,
    #[serde(rename = "zh-CN")]
    pub zh: &'static str,
}

const fn words(en: &'static str, zh: &'static str) -> Words {
    Words { en, zh }
}

/// One value a choice setting takes.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Choice {
    pub value: &'static str,
    pub label: Words,
}

/// What values a setting takes.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Whole { min: u64, max: u64 },
    Seconds { min: f64, max: f64 },
    Bool,
    Text,
    Url,
    Choice(&'static [Choice]),
}

impl Kind {
    /// The kind's name in the admin API.
    pub fn name(self) -> &'static str {
        match self {
            Self::Whole { .. } => "integer",
            Self::Seconds { .. } => "seconds",
            Self::Bool => "boolean",
            Self::Text | Self::Url => "text",
            Self::Choice(_) => "choice",
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Conversations,
    Retries,
    Limits,
    Pool,
    Usage,
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
    fn whole(&self) -> u64 {
        match self {
            Self::Whole(n) => *n,
            _ => 0,
        }
    }
    fn seconds(&self) -> Duration {
        match self {
            Self::Seconds(d) => *d,
            _ => Duration::ZERO,
        }
    }
    fn bool(&self) -> bool {
        matches!(self, Self::Bool(true))
    }
    fn text(&self) -> String {
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

const fn secs(min: f64, max: f64) -> Kind {
    Kind::Seconds { min, max }
}

const fn whole_in(min: u64, max: u64) -> Kind {
    Kind::Whole { min, max }
}

fn seconds_value(d: Duration) -> Value {
    Value::from(d.as_secs_f64())
}

const DAY: f64 = 86_400.0;

/// Every setting, in the dashboard's order.
pub static SETTINGS: &[Setting] = &[
    Setting {
        key: "session_mode",
        env: "SESSION_MODE",
        flag: "--session-mode",
        kind: Kind::Choice(&[
            Choice {
                value: "stateless",
                label: words("Stateless", "无状态"),
            },
            Choice {
                value: "reuse",
                label: words("Reuse sessions", "复用会话"),
            },
        ]),
        group: Group::Conversations,
        live: true,
        switch: false,
        label: words("Conversation mode", "对话模式"),
        help: words(
            "Stateless: every request opens a fresh on-demand.io session carrying the whole conversation; simple and robust. Reuse: a conversation keeps its session and only the new turn is sent while the history matches exactly; fewer tokens upstream, and anything unexpected falls back to a fresh session.",
            "无状态：每个请求都新开一个 on-demand.io 会话并携带完整对话，简单可靠。复用：对话保留自己的会话，历史完全一致时只发送新的一轮；上游消耗更少，任何意外都会回退到新会话。",
        ),
        get: |s| Value::from(s.session_mode.as_str()),
        set: |s, v| {
            s.session_mode = match v.text().as_str() {
                "reuse" => SessionMode::Reuse,
                _ => SessionMode::Stateless,
            }
        },
    },
    Setting {
        key: "session_timeout_minutes",
        env: "SESSION_TIMEOUT_MINUTES",
        flag: "--session-timeout-minutes",
        kind: whole_in(1, 7 * 24 * 60),
        group: Group::Conversations,
        live: true,
        switch: false,
        label: words("Session idle timeout (minutes)", "会话空闲超时（分钟）"),
        help: words(
            "Idle time before a reused upstream session is forgotten.",
            "空闲超过此时长的复用会话会被遗忘。",
        ),
        get: |s| Value::from(s.session_timeout.as_secs() / 60),
        set: |s, v| s.session_timeout = Duration::from_secs(60 * v.whole()),
    },
    Setting {
        key: "session_cache_size",
        env: "SESSION_CACHE_SIZE",
        flag: "--session-cache-size",
        kind: whole_in(1, 10_000_000),
        group: Group::Conversations,
        live: true,
        switch: false,
        label: words("Sessions remembered", "记住的会话数"),
        help: words(
            "Most conversations remembered in reuse mode; the least recently used go first.",
            "复用模式下最多保留的对话数；最久未用的先被移除。",
        ),
        get: |s| Value::from(s.session_cache_size),
        set: |s, v| s.session_cache_size = v.whole() as usize,
    },
    Setting {
        key: "delete_sessions",
        env: "DELETE_SESSIONS",
        flag: "--delete-sessions",
        kind: Kind::Bool,
        group: Group::Conversations,
        live: true,
        switch: false,
        label: words("Delete finished upstream sessions", "删除已结束的上游会话"),
        help: words(
            "Delete each on-demand.io session once the proxy is done with it, in the background, so your on-demand.io history does not fill with one session per request. Reuse mode keeps a session while it may continue.",
            "代理用完每个 on-demand.io 会话后在后台删除它，避免你的 on-demand.io 历史记录中每个请求都留下一个会话。复用模式下，会话在可能继续时会被保留。",
        ),
        get: |s| Value::from(s.delete_sessions),
        set: |s, v| s.delete_sessions = v.bool(),
    },
    Setting {
        key: "max_retries",
        env: "MAX_RETRIES",
        flag: "--max-retries",
        kind: whole_in(0, 10),
        group: Group::Retries,
        live: true,
        switch: false,
        label: words("Retries", "重试次数"),
        help: words(
            "Extra attempts after a failed one, on other accounts first.",
            "失败后额外尝试的次数，优先换其他账号。",
        ),
        get: |s| Value::from(s.max_retries),
        set: |s, v| s.max_retries = v.whole() as u32,
    },
    Setting {
        key: "retry_delay",
        env: "RETRY_DELAY",
        flag: "--retry-delay",
        kind: secs(0.0, 60.0),
        group: Group::Retries,
        live: true,
        switch: false,
        label: words("Retry delay", "重试间隔"),
        help: words(
            "Seconds to wait before trying an account that already failed this request again (switching to a fresh account is immediate).",
            "再次尝试本请求已失败过的账号前等待的秒数（换用新账号不等待）。",
        ),
        get: |s| seconds_value(s.retry_delay),
        set: |s, v| s.retry_delay = v.seconds(),
    },
    Setting {
        key: "request_timeout",
        env: "REQUEST_TIMEOUT",
        flag: "--request-timeout",
        kind: secs(0.001, 3600.0),
        group: Group::Retries,
        live: true,
        switch: false,
        label: words("Request timeout", "请求超时"),
        help: words(
            "Seconds a whole non-stream request may take, retries included.",
            "非流式请求（含重试）最长可用的秒数。",
        ),
        get: |s| seconds_value(s.request_timeout),
        set: |s, v| s.request_timeout = v.seconds(),
    },
    Setting {
        key: "stream_timeout",
        env: "STREAM_TIMEOUT",
        flag: "--stream-timeout",
        kind: secs(0.001, 3600.0),
        group: Group::Retries,
        live: true,
        switch: false,
        label: words("Stream first-content timeout", "流式首内容超时"),
        help: words(
            "Seconds a stream may wait for its first content (reasoning models think first).",
            "流式请求等待首个内容的最长秒数（推理模型会先思考）。",
        ),
        get: |s| seconds_value(s.stream_timeout),
        set: |s, v| s.stream_timeout = v.seconds(),
    },
    Setting {
        key: "stream_idle_timeout",
        env: "STREAM_IDLE_TIMEOUT",
        flag: "--stream-idle-timeout",
        kind: secs(0.001, 3600.0),
        group: Group::Retries,
        live: true,
        switch: false,
        label: words("Stream idle timeout", "流式空闲超时"),
        help: words(
            "Seconds a stream may stay silent once it has begun.",
            "已开始的流最长可沉默的秒数。",
        ),
        get: |s| seconds_value(s.stream_idle_timeout),
        set: |s, v| s.stream_idle_timeout = v.seconds(),
    },
    Setting {
        key: "stream_keepalive",
        env: "STREAM_KEEPALIVE",
        flag: "--stream-keepalive",
        kind: secs(0.01, 600.0),
        group: Group::Retries,
        live: true,
        switch: false,
        label: words("Stream keep-alive", "流式保活间隔"),
        help: words(
            "Seconds between keep-alive comments while a stream waits for its first content.",
            "流等待首个内容时，向客户端发送保活注释的间隔秒数。",
        ),
        get: |s| seconds_value(s.stream_keepalive),
        set: |s, v| s.stream_keepalive = v.seconds(),
    },
    Setting {
        key: "no_account_wait",
        env: "NO_ACCOUNT_WAIT",
        flag: "--no-account-wait",
        kind: secs(0.0, 3600.0),
        group: Group::Retries,
        live: true,
        switch: false,
        label: words("Wait for a resting account", "等待休息中的账号"),
        help: words(
            "Seconds a request may wait for a resting account before a 503.",
            "请求在返回 503 前最多等待账号恢复的秒数。",
        ),
        get: |s| seconds_value(s.no_account_wait),
        set: |s, v| s.no_account_wait = v.seconds(),
    },
    Setting {
        key: "rate_limit",
        env: "RATE_LIMIT",
        flag: "--rate-limit",
        kind: whole_in(0, 1_000_000),
        group: Group::Limits,
        live: true,
        switch: false,
        label: words("Rate limit (requests/min)", "速率限制（次/分钟）"),
        help: words(
            "Requests per minute per client token (unless the token has its own rpm); 0 is unlimited.",
            "按客户端令牌计的每分钟请求数（令牌有自己的限额时以其为准）；0 表示不限。",
        ),
        get: |s| Value::from(s.rate_limit),
        set: |s, v| s.rate_limit = v.whole() as u32,
    },
    Setting {
        key: "max_concurrent_upstream",
        env: "MAX_CONCURRENT_UPSTREAM",
        flag: "--max-concurrent-upstream",
        kind: whole_in(0, 1_000_000),
        group: Group::Limits,
        live: true,
        switch: false,
        label: words("Upstream requests at once", "上游并发上限"),
        help: words(
            "Upstream requests in flight over all accounts; 0 is unlimited.",
            "所有账号合计的上游并发请求数；0 表示不限。",
        ),
        get: |s| Value::from(s.max_concurrent_upstream),
        set: |s, v| s.max_concurrent_upstream = v.whole() as u32,
    },
    Setting {
        key: "max_body_bytes",
        env: "MAX_BODY_BYTES",
        flag: "--max-body-bytes",
        kind: whole_in(1024, 1 << 30),
        group: Group::Limits,
        live: true,
        switch: false,
        label: words("Largest request body (bytes)", "最大请求体（字节）"),
        help: words(
            "Largest request body; larger ones get a 413.",
            "最大请求体；更大的请求返回 413。",
        ),
        get: |s| Value::from(s.max_body_bytes),
        set: |s, v| s.max_body_bytes = v.whole() as usize,
    },
    Setting {
        key: "forward_max_tokens",
        env: "FORWARD_MAX_TOKENS",
        flag: "--forward-max-tokens",
        kind: Kind::Bool,
        group: Group::Limits,
        live: true,
        switch: false,
        label: words("Forward max_tokens", "转发 max_tokens"),
        help: words(
            "Pass max_tokens upstream as modelConfigs.maxTokens. Off by default: it is undocumented there and reported to empty answers.",
            "将 max_tokens 作为 modelConfigs.maxTokens 传给上游。默认关闭：上游未公开此参数，且有报告称会导致空回答。",
        ),
        get: |s| Value::from(s.forward_max_tokens),
        set: |s, v| s.forward_max_tokens = v.bool(),
    },
    Setting {
        key: "pool_strategy",
        env: "POOL_STRATEGY",
        flag: "--pool-strategy",
        kind: Kind::Choice(&[
            Choice {
                value: "round_robin",
                label: words("Round robin", "轮询"),
            },
            Choice {
                value: "least_in_flight",
                label: words("Least in flight", "最少在途"),
            },
            Choice {
                value: "weighted",
                label: words("Weighted", "按权重"),
            },
        ]),
        group: Group::Pool,
        live: true,
        switch: false,
        label: words("Account strategy", "账号策略"),
        help: words(
            "How requests are spread over the accounts.",
            "请求如何分摊到各账号。",
        ),
        get: |s| Value::from(s.pool_strategy.as_str()),
        set: |s, v| s.pool_strategy = Strategy::parse(&v.text()).unwrap_or_default(),
    },
    Setting {
        key: "cooldown_seconds",
        env: "COOLDOWN_SECONDS",
        flag: "--cooldown-seconds",
        kind: secs(0.001, DAY),
        group: Group::Pool,
        live: true,
        switch: false,
        label: words("Cooldown after a 429", "429 后冷却"),
        help: words(
            "First cooldown after a 429; doubles per 429 in a row.",
            "账号被限流后首次休息的秒数；连续 429 时翻倍。",
        ),
        get: |s| seconds_value(s.health.cooldown_base),
        set: |s, v| s.health.cooldown_base = v.seconds(),
    },
    Setting {
        key: "cooldown_max_seconds",
        env: "COOLDOWN_MAX_SECONDS",
        flag: "--cooldown-max-seconds",
        kind: secs(0.001, DAY),
        group: Group::Pool,
        live: true,
        switch: false,
        label: words("Longest cooldown", "最长冷却"),
        help: words("Longest 429 cooldown.", "429 冷却的上限。"),
        get: |s| seconds_value(s.health.cooldown_max),
        set: |s, v| s.health.cooldown_max = v.seconds(),
    },
    Setting {
        key: "circuit_failures",
        env: "CIRCUIT_FAILURES",
        flag: "--circuit-failures",
        kind: whole_in(1, 1000),
        group: Group::Pool,
        live: true,
        switch: false,
        label: words("Failures before resting", "休息前失败次数"),
        help: words(
            "Server errors, timeouts or broken streams in a row that rest an account.",
            "连续多少次服务器错误、超时或断流后让账号休息。",
        ),
        get: |s| Value::from(s.health.circuit_failures),
        set: |s, v| s.health.circuit_failures = v.whole() as u32,
    },
    Setting {
        key: "circuit_open_seconds",
        env: "CIRCUIT_OPEN_SECONDS",
        flag: "--circuit-open-seconds",
        kind: secs(0.001, DAY),
        group: Group::Pool,
        live: true,
        switch: false,
        label: words("Rest after failures", "失败后休息"),
        help: words(
            "How long a failing account rests before one probe request.",
            "出错账号在一次探测请求前休息的秒数。",
        ),
        get: |s| seconds_value(s.health.circuit_open),
        set: |s, v| s.health.circuit_open = v.seconds(),
    },
    Setting {
        key: "recheck_seconds",
        env: "RECHECK_SECONDS",
        flag: "--recheck-seconds",
        kind: secs(0.001, DAY),
        group: Group::Pool,
        live: true,
        switch: false,
        label: words("First re-check", "首次重新检查"),
        help: words(
            "First background re-check of an account that needs attention; doubles each time.",
            "需要处理的账号首次后台重新检查的秒数；之后每次翻倍。",
        ),
        get: |s| seconds_value(s.health.recheck_base),
        set: |s, v| s.health.recheck_base = v.seconds(),
    },
    Setting {
        key: "recheck_max_seconds",
        env: "RECHECK_MAX_SECONDS",
        flag: "--recheck-max-seconds",
        kind: secs(0.001, 7.0 * DAY),
        group: Group::Pool,
        live: true,
        switch: false,
        label: words("Longest re-check interval", "最长检查间隔"),
        help: words(
            "Longest wait between re-checks; also how long an account skips a model it was refused.",
            "两次重新检查之间的最长等待；也是账号跳过被拒模型的时长。",
        ),
        get: |s| seconds_value(s.health.recheck_max),
        set: |s, v| s.health.recheck_max = v.seconds(),
    },
    Setting {
        key: "record_usage",
        env: "RECORD_USAGE",
        flag: "--record-usage",
        kind: Kind::Bool,
        group: Group::Usage,
        live: true,
        switch: false,
        label: words("Record usage", "记录用量"),
        help: words(
            "Write one usage row per request to the database (never prompts or answers); off stores nothing about requests.",
            "每个请求向数据库写一行用量（从不存提示词或回答）；关闭后不存储任何请求信息。",
        ),
        get: |s| Value::from(s.record_usage),
        set: |s, v| s.record_usage = v.bool(),
    },
    Setting {
        key: "usage_retention_days",
        env: "USAGE_RETENTION_DAYS",
        flag: "--usage-retention-days",
        kind: whole_in(1, 36_500),
        group: Group::Usage,
        live: true,
        switch: false,
        label: words("Keep request rows (days)", "请求记录保留天数"),
        help: words(
            "Days raw usage rows are kept; hourly and daily totals are kept for good.",
            "原始用量记录保留的天数；每小时和每天的汇总永久保留。",
        ),
        get: |s| Value::from(s.usage_retention_days),
        set: |s, v| s.usage_retention_days = v.whole() as u32,
    },
    Setting {
        key: "base_url",
        env: "ONDEMAND_BASE_URL",
        flag: "--base-url",
        kind: Kind::Url,
        group: Group::Upstream,
        live: true,
        switch: false,
        label: words("on-demand.io API", "on-demand.io API"),
        help: words(
            "The on-demand.io chat API.",
            "on-demand.io 聊天 API 的地址。",
        ),
        get: |s| Value::from(s.base_url.as_str()),
        set: |s, v| s.base_url = v.text(),
    },
    Setting {
        key: "auth_base_url",
        env: "ONDEMAND_AUTH_BASE_URL",
        flag: "--auth-base-url",
        kind: Kind::Url,
        group: Group::Upstream,
        live: true,
        switch: false,
        label: words("Sign-in service", "登录服务"),
        help: words(
            "Sign-in service for email/password accounts.",
            "邮箱/密码账号使用的登录服务。",
        ),
        get: |s| Value::from(s.auth_base_url.as_str()),
        set: |s, v| s.auth_base_url = v.text(),
    },
    Setting {
        key: "client_base_url",
        env: "ONDEMAND_CLIENT_BASE_URL",
        flag: "--client-base-url",
        kind: Kind::Url,
        group: Group::Upstream,
        live: true,
        switch: false,
        label: words(
            "Chat host for email/password accounts",
            "邮箱/密码账号的聊天地址",
        ),
        help: words(
            "Where email/password accounts chat (/chat/v1/client/*): the 2026 dashboard uses the gateway host; set https://api.on-demand.io for the host 2025 proxies used.",
            "邮箱/密码账号的聊天接口（/chat/v1/client/*）所在的主机：2026 年的控制台使用 gateway 主机；设为 https://api.on-demand.io 即 2025 年代理使用的主机。",
        ),
        get: |s| Value::from(s.client_base_url.as_str()),
        set: |s, v| s.client_base_url = v.text(),
    },
    Setting {
        key: "user_agent",
        env: "ONDEMAND_USER_AGENT",
        flag: "--user-agent",
        kind: Kind::Text,
        group: Group::Upstream,
        live: true,
        switch: false,
        label: words("User-Agent", "User-Agent"),
        help: words(
            "Sent upstream; Cloudflare in front of on-demand.io bans bare agents. The default is a desktop Chrome string.",
            "发往上游；on-demand.io 前的 Cloudflare 会拦截简陋的 UA。默认是桌面版 Chrome 的 UA。",
        ),
        get: |s| Value::from(s.user_agent.as_str()),
        set: |s, v| s.user_agent = v.text(),
    },
    Setting {
        key: "debug_mode",
        env: "DEBUG_MODE",
        flag: "--debug",
        kind: Kind::Bool,
        group: Group::Upstream,
        live: false,
        switch: true,
        label: words("Verbose logs", "详细日志"),
        help: words(
            "Verbose logs; applies at the next start (RUST_LOG overrides).",
            "详细日志；下次启动时生效（RUST_LOG 优先）。",
        ),
        get: |s| Value::from(s.debug_mode),
        set: |s, v| s.debug_mode = v.bool(),
    },
];

/// The setting named `key`.
pub fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

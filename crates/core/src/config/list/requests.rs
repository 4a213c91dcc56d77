//! Settings of conversations and retries.

use std::time::Duration;

use serde_json::Value;

use super::{seconds_value, secs, whole_in, words};
use crate::config::settings::SessionMode;
use crate::config::table::{Choice, Group, Kind, Setting};

pub static SESSION_MODE: Setting = Setting {
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
};

pub static SESSION_TIMEOUT_MINUTES: Setting = Setting {
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
};

pub static SESSION_CACHE_SIZE: Setting = Setting {
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
};

pub static DELETE_SESSIONS: Setting = Setting {
    key: "delete_sessions",
    env: "DELETE_SESSIONS",
    flag: "--delete-sessions",
    kind: Kind::Bool,
    group: Group::Conversations,
    live: true,
    switch: false,
    label: words("Delete finished upstream sessions", "删除已结束的上游会话"),
    help: words(
        "Delete each on-demand.io session once the proxy is done with it, in the background, so your on-demand.io history does not fill with one session per request; and each image uploaded for a description. Reuse mode keeps a session while it may continue.",
        "代理用完每个 on-demand.io 会话后在后台删除它，避免你的 on-demand.io 历史记录中每个请求都留下一个会话；为生成描述而上传的图片也一并删除。复用模式下，会话在可能继续时会被保留。",
    ),
    get: |s| Value::from(s.delete_sessions),
    set: |s, v| s.delete_sessions = v.bool(),
};

pub static MAX_RETRIES: Setting = Setting {
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
};

pub static RETRY_DELAY: Setting = Setting {
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
};

pub static REQUEST_TIMEOUT: Setting = Setting {
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
};

pub static STREAM_TIMEOUT: Setting = Setting {
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
};

pub static STREAM_IDLE_TIMEOUT: Setting = Setting {
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
};

pub static STREAM_KEEPALIVE: Setting = Setting {
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
};

pub static NO_ACCOUNT_WAIT: Setting = Setting {
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
};

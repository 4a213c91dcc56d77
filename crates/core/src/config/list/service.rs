//! Settings of usage records, images and the upstream service.

use serde_json::Value;

use super::{DAY, seconds_value, secs, whole_in, words};
use crate::config::ProxyUrl;
use crate::config::settings::ImageInput;
use crate::config::table::{Choice, Group, Kind, Setting};

pub static RECORD_USAGE: Setting = Setting {
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
};

pub static METRICS: Setting = Setting {
    key: "metrics",
    env: "METRICS",
    flag: "--metrics",
    kind: Kind::Bool,
    group: Group::Usage,
    live: true,
    switch: false,
    label: words("Prometheus metrics", "Prometheus 指标"),
    help: words(
        "Count requests, timings, failovers and pool waits for GET /metrics (read with the admin password or METRICS_TOKEN); off answers 404 there.",
        "为 GET /metrics 统计请求、耗时、故障转移与账号等待（用管理员密码或 METRICS_TOKEN 读取）；关闭后该地址返回 404。",
    ),
    get: |s| Value::from(s.metrics),
    set: |s, v| s.metrics = v.bool(),
};

pub static USAGE_RETENTION_DAYS: Setting = Setting {
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
};

pub static IMAGE_INPUT: Setting = Setting {
    key: "image_input",
    env: "IMAGE_INPUT",
    flag: "--image-input",
    kind: Kind::Choice(&[
        Choice {
            value: "describe",
            label: words("Describe them", "描述图片"),
        },
        Choice {
            value: "refuse",
            label: words("Refuse them", "拒绝图片"),
        },
    ]),
    group: Group::Images,
    live: true,
    switch: false,
    label: words("Images in requests", "请求中的图片"),
    help: words(
        "Describe: each image (PNG or JPEG) is uploaded to on-demand.io's image agent and its text description goes into the conversation where the image was; the model reads the description, not the image, so small text and fine detail may be lost. Refuse: a request with an image gets a 400.",
        "描述：每张图片（PNG 或 JPEG）上传给 on-demand.io 的图片智能体，其文字描述放进对话中图片所在的位置；模型读到的是描述而不是图片本身，细小文字和细节可能丢失。拒绝：带图片的请求返回 400。",
    ),
    get: |s| Value::from(s.image_input.as_str()),
    set: |s, v| {
        s.image_input = match v.text().as_str() {
            "refuse" => ImageInput::Refuse,
            _ => ImageInput::Describe,
        }
    },
};

pub static IMAGE_MAX_BYTES: Setting = Setting {
    key: "image_max_bytes",
    env: "IMAGE_MAX_BYTES",
    flag: "--image-max-bytes",
    kind: whole_in(1024, 64 << 20),
    group: Group::Images,
    live: true,
    switch: false,
    label: words("Largest image (bytes)", "最大图片（字节）"),
    help: words(
        "Largest image taken, decoded or fetched from its URL; a larger one gets a 400. An image in the request body also counts towards max_body_bytes (base64 adds a third).",
        "可接受的最大图片（解码后或从 URL 下载后）；更大的返回 400。请求体中的图片也计入 max_body_bytes（base64 会多出三分之一）。",
    ),
    get: |s| Value::from(s.image_max_bytes),
    set: |s, v| s.image_max_bytes = v.whole() as usize,
};

pub static IMAGE_MAX_COUNT: Setting = Setting {
    key: "image_max_count",
    env: "IMAGE_MAX_COUNT",
    flag: "--image-max-count",
    kind: whole_in(1, 64),
    group: Group::Images,
    live: true,
    switch: false,
    label: words("Most images per request", "每个请求最多图片数"),
    help: words(
        "Most different images one request may carry; more get a 400 before anything is uploaded. Each new image costs one of on-demand.io's Media API uploads (the free plan allows 5 a minute per account).",
        "一个请求最多可携带的不同图片数；超出时在上传任何图片前返回 400。每张新图片都会消耗一次 on-demand.io Media API 上传（免费套餐每个账号每分钟 5 次）。",
    ),
    get: |s| Value::from(s.image_max_count),
    set: |s, v| s.image_max_count = v.whole() as usize,
};

pub static IMAGE_CACHE_DAYS: Setting = Setting {
    key: "image_cache_days",
    env: "IMAGE_CACHE_DAYS",
    flag: "--image-cache-days",
    kind: whole_in(1, 3650),
    group: Group::Images,
    live: true,
    switch: false,
    label: words("Keep image descriptions (days)", "图片描述保留天数"),
    help: words(
        "Days a description is kept for the same image sent again (clients resend every earlier image on every turn, and uploads are rate limited). Only the description and a hash of the image are kept, never the image.",
        "同一张图片再次发送时复用描述的天数（客户端每一轮都会重发之前的图片，而上传有频率限制）。只保存描述和图片的哈希，从不保存图片本身。",
    ),
    get: |s| Value::from(s.image_cache_days),
    set: |s, v| s.image_cache_days = v.whole() as u32,
};

pub static BASE_URL: Setting = Setting {
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
};

pub static AUTH_BASE_URL: Setting = Setting {
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
};

pub static CLIENT_BASE_URL: Setting = Setting {
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
};

pub static CATALOGUE_REFRESH_SECONDS: Setting = Setting {
    key: "catalogue_refresh_seconds",
    env: "CATALOGUE_REFRESH_SECONDS",
    flag: "--catalogue-refresh-seconds",
    kind: secs(600.0, 7.0 * DAY),
    group: Group::Upstream,
    live: true,
    switch: false,
    label: words("Catalogue refresh (seconds)", "模型目录刷新间隔（秒）"),
    help: words(
        "How often every account's list of on-demand.io models is read again (it is also read at start, when an account is added, and on Refresh).",
        "多久重新读取一次每个账号的 on-demand.io 模型列表（启动时、添加账号时和点击刷新时也会读取）。",
    ),
    get: |s| seconds_value(s.catalogue_refresh),
    set: |s, v| s.catalogue_refresh = v.seconds(),
};

pub static USER_AGENT: Setting = Setting {
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
};

pub static UPSTREAM_PROXY: Setting = Setting {
    key: "upstream_proxy",
    env: "ONDEMAND_PROXY",
    flag: "--proxy",
    kind: Kind::Proxy,
    group: Group::Upstream,
    live: true,
    switch: false,
    label: words("Proxy", "代理"),
    help: words(
        "Every call to on-demand.io goes through this proxy: http://host:port, https://…, socks5://host:port or socks5h://host:port (names resolved by the proxy), with user:password@ if it asks. Empty: HTTPS_PROXY or ALL_PROXY from the environment if set, else none. An account's own proxy overrides it.",
        "所有发往 on-demand.io 的请求都经过此代理：http://主机:端口、https://…、socks5://主机:端口 或 socks5h://主机:端口（由代理解析域名），需要认证时写 user:password@。留空：使用环境变量 HTTPS_PROXY 或 ALL_PROXY（若有），否则直连。账号自己的代理优先。",
    ),
    get: |s| {
        Value::from(
            s.upstream_proxy
                .as_ref()
                .map(ProxyUrl::masked)
                .unwrap_or_default(),
        )
    },
    set: |s, v| s.upstream_proxy = ProxyUrl::parse(&v.text()).ok(),
};

pub static UPSTREAM_CA_FILE: Setting = Setting {
    key: "upstream_ca_file",
    env: "ONDEMAND_CA_FILE",
    flag: "--ca-file",
    kind: Kind::CaFile,
    group: Group::Upstream,
    live: true,
    switch: false,
    label: words("Extra CA certificates", "额外的 CA 证书"),
    help: words(
        "A PEM file of root certificates to trust beside the system's, for a company proxy or firewall that inspects TLS. It is read when set and at start.",
        "除系统证书外额外信任的根证书（PEM 文件），用于会检查 TLS 的公司代理或防火墙。设置时和启动时读取。",
    ),
    get: |s| Value::from(s.upstream_ca_file.as_str()),
    set: |s, v| s.upstream_ca_file = v.text(),
};

pub static DEBUG_MODE: Setting = Setting {
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
};

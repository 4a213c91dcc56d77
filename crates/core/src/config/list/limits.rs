//! Settings of limits and the account pool.

use serde_json::Value;

use super::{DAY, seconds_value, secs, whole_in, words};
use crate::config::Strategy;
use crate::config::table::{Choice, Group, Kind, Setting};

pub static RATE_LIMIT: Setting = Setting {
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
};

pub static MAX_CONCURRENT_UPSTREAM: Setting = Setting {
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
};

pub static MAX_BODY_BYTES: Setting = Setting {
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
};

pub static HEADER_READ_TIMEOUT: Setting = Setting {
    key: "header_read_timeout",
    env: "HEADER_READ_TIMEOUT",
    flag: "--header-read-timeout",
    kind: secs(1.0, 600.0),
    group: Group::Limits,
    live: true,
    switch: false,
    label: words("Request head time-out", "请求头超时"),
    help: words(
        "Seconds a client may take to send a request's head; a slower connection is closed (new connections use a change).",
        "客户端发送请求头的最长秒数；更慢的连接会被关闭（修改后对新连接生效）。",
    ),
    get: |s| seconds_value(s.header_read_timeout),
    set: |s, v| s.header_read_timeout = v.seconds(),
};

pub static BODY_READ_TIMEOUT: Setting = Setting {
    key: "body_read_timeout",
    env: "BODY_READ_TIMEOUT",
    flag: "--body-read-timeout",
    kind: secs(1.0, 3600.0),
    group: Group::Limits,
    live: true,
    switch: false,
    label: words("Request body time-out", "请求体超时"),
    help: words(
        "Seconds a client may take to send a request's body; past it the request gets a 408.",
        "客户端发送请求体的最长秒数；超过则返回 408。",
    ),
    get: |s| seconds_value(s.body_read_timeout),
    set: |s, v| s.body_read_timeout = v.seconds(),
};

pub static STREAM_WRITE_TIMEOUT: Setting = Setting {
    key: "stream_write_timeout",
    env: "STREAM_WRITE_TIMEOUT",
    flag: "--stream-write-timeout",
    kind: secs(1.0, 3600.0),
    group: Group::Limits,
    live: true,
    switch: false,
    label: words("Slow reader time-out", "慢速读取超时"),
    help: words(
        "Seconds a client may read nothing of an answer (a stream, most often) before its connection is cut and the upstream slot freed.",
        "客户端在此秒数内未读取回答（多为流式）的任何数据时，其连接会被切断并释放上游占位。",
    ),
    get: |s| seconds_value(s.stream_write_timeout),
    set: |s, v| s.stream_write_timeout = v.seconds(),
};

pub static SHUTDOWN_GRACE: Setting = Setting {
    key: "shutdown_grace",
    env: "SHUTDOWN_GRACE",
    flag: "--shutdown-grace",
    kind: secs(0.0, 600.0),
    group: Group::Limits,
    live: true,
    switch: false,
    label: words("Shutdown grace period", "关闭宽限期"),
    help: words(
        "Seconds requests in flight may take to finish when the proxy stops or moves to another port; the rest are cut.",
        "代理停止或更换端口时，进行中的请求可用于完成的秒数；其余的会被中断。",
    ),
    get: |s| seconds_value(s.shutdown_grace),
    set: |s, v| s.shutdown_grace = v.seconds(),
};

pub static LISTEN_BACKLOG: Setting = Setting {
    key: "listen_backlog",
    env: "LISTEN_BACKLOG",
    flag: "--listen-backlog",
    kind: whole_in(64, 65_535),
    group: Group::Limits,
    live: false,
    switch: false,
    label: words("Listen backlog", "监听队列长度"),
    help: words(
        "Connections the system queues for the proxy before it accepts them, for bursts of thousands of clients (the system caps it at net.core.somaxconn); applies when the proxy next binds its port.",
        "代理接受连接之前由系统排队的连接数，用于成千上万客户端同时到来的情况（系统上限为 net.core.somaxconn）；在代理下次绑定端口时生效。",
    ),
    get: |s| Value::from(s.listen_backlog),
    set: |s, v| s.listen_backlog = v.whole() as u32,
};

pub static FORWARD_MAX_TOKENS: Setting = Setting {
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
};

pub static POOL_STRATEGY: Setting = Setting {
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
};

pub static COOLDOWN_SECONDS: Setting = Setting {
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
};

pub static COOLDOWN_MAX_SECONDS: Setting = Setting {
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
};

pub static CIRCUIT_FAILURES: Setting = Setting {
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
};

pub static CIRCUIT_OPEN_SECONDS: Setting = Setting {
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
};

pub static RECHECK_SECONDS: Setting = Setting {
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
};

pub static RECHECK_MAX_SECONDS: Setting = Setting {
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
};

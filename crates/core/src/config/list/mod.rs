//! The list of every setting ([`SETTINGS`]): adding a setting is one `static` in the file of
//! its group, and its place here (and its field in `Settings`).

mod limits;
mod requests;
mod service;

use std::time::Duration;

use serde_json::Value;

use super::table::{Kind, Setting, Words};

const fn words(en: &'static str, zh: &'static str) -> Words {
    Words { en, zh }
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
pub static SETTINGS: &[&Setting] = &[
    &requests::SESSION_MODE,
    &requests::SESSION_TIMEOUT_MINUTES,
    &requests::SESSION_CACHE_SIZE,
    &requests::DELETE_SESSIONS,
    &requests::MAX_RETRIES,
    &requests::RETRY_DELAY,
    &requests::REQUEST_TIMEOUT,
    &requests::STREAM_TIMEOUT,
    &requests::STREAM_IDLE_TIMEOUT,
    &requests::STREAM_KEEPALIVE,
    &requests::NO_ACCOUNT_WAIT,
    &limits::RATE_LIMIT,
    &limits::MAX_CONCURRENT_UPSTREAM,
    &limits::MAX_BODY_BYTES,
    &limits::HEADER_READ_TIMEOUT,
    &limits::BODY_READ_TIMEOUT,
    &limits::STREAM_WRITE_TIMEOUT,
    &limits::SHUTDOWN_GRACE,
    &limits::LISTEN_BACKLOG,
    &limits::FORWARD_MAX_TOKENS,
    &limits::POOL_STRATEGY,
    &limits::COOLDOWN_SECONDS,
    &limits::COOLDOWN_MAX_SECONDS,
    &limits::CIRCUIT_FAILURES,
    &limits::CIRCUIT_OPEN_SECONDS,
    &limits::RECHECK_SECONDS,
    &limits::RECHECK_MAX_SECONDS,
    &service::RECORD_USAGE,
    &service::METRICS,
    &service::USAGE_RETENTION_DAYS,
    &service::IMAGE_INPUT,
    &service::IMAGE_MAX_BYTES,
    &service::IMAGE_MAX_COUNT,
    &service::IMAGE_CACHE_DAYS,
    &service::BASE_URL,
    &service::AUTH_BASE_URL,
    &service::CLIENT_BASE_URL,
    &service::CATALOGUE_REFRESH_SECONDS,
    &service::USER_AGENT,
    &service::UPSTREAM_PROXY,
    &service::UPSTREAM_CA_FILE,
    &service::DEBUG_MODE,
];

//! Usage events: one row per request, and the hourly rollups and client tokens' use counters
//! kept in the same transaction (`write`); the admin API's queries over them (`read`).

use std::collections::HashMap;

mod read;
mod write;

pub use read::*;
pub use write::*;

use rusqlite::{Connection, Transaction, params};

use crate::tools::CallSummary;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;

/// One request, however it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct UsageEvent {
    /// Unix ms when the request arrived.
    pub ts: i64,
    /// The client token's name.
    pub client_token: String,
    /// The account that served it (the last one tried), if any was.
    pub account: Option<String>,
    /// The model as requested.
    pub model: String,
    /// The bounded name it is counted under in `/metrics` and the rollups, once it resolved
    /// (see [`crate::models::ModelCatalog::label`]); not stored with the row.
    #[serde(skip)]
    pub model_label: Option<String>,
    pub endpoint_id: Option<String>,
    pub stream: bool,
    /// The HTTP status the client got (200 for a stream that began, even if it broke).
    pub status: u16,
    /// Why it failed, for failures: an error code (`upstream_timeout`,
    /// `upstream_stream_error`, `client_disconnected`, …).
    pub error_class: Option<String>,
    pub attempts: u32,
    pub latency_ms: u32,
    /// Time to the first content, for streams that got one.
    pub ttft_ms: Option<u32>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// The token counts are the proxy's estimate, not the upstream's metrics.
    pub tokens_estimated: bool,
    /// Reuse mode continued an upstream session.
    pub session_reused: bool,
    /// The attempts that failed before the outcome, in order (failover's trail).
    pub failed_attempts: Vec<FailedAttempt>,
    /// What the proxy changed about the request to suit its endpoint (e.g. a dropped
    /// `reasoning_effort`), one note per line.
    pub notes: Option<String>,
    /// Tools the request offered (0: none, or `tool_choice: none`).
    pub tools: u32,
    /// The calls the answer made: names and argument sizes, never the arguments.
    pub tool_calls: Vec<CallSummary>,
    /// A corrective follow-up was needed: the answer left out a call it had to make,
    /// arguments did not follow a strict tool's schema, or the answer did not fit its format.
    pub corrected: bool,
    /// The answer format asked for: `json_object` or `json_schema` (`None`: text).
    pub response_format: Option<String>,
    /// The API dialect: `chat`, `messages`, `responses` or `completions`.
    pub dialect: String,
    /// The client family, from the user agent: `claude_code`, `codex`, `cherry_studio`,
    /// `openai_sdk`, `anthropic_sdk`, `cline`, `roo_code`, `curl` or `other`.
    pub client: String,
    /// Images described by on-demand.io's image agent for this request.
    pub images_described: u32,
    /// Images whose description came from the cache.
    pub images_cached: u32,
    /// Uploads to the Media API it made, failed ones included.
    pub images_uploaded: u32,
}

/// One upstream attempt that failed: on which account, and how.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct FailedAttempt {
    pub account: String,
    /// The upstream's HTTP status, when it answered with one.
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
}

/// A list as the JSON column keeps it (`NULL` when empty).
fn json_list<T: serde::Serialize>(items: &[T]) -> Option<String> {
    (!items.is_empty())
        .then(|| serde_json::to_string(items).ok())
        .flatten()
}

/// The error class of a stream whose client went away before its end.
pub const CLIENT_LEFT: &str = "client_disconnected";

/// What requests whose model did not resolve are counted under.
pub const UNRESOLVED: &str = "unresolved";

impl UsageEvent {
    /// The model as `/metrics` and the rollups count it: a bounded set of names.
    pub fn counted_model(&self) -> &str {
        self.model_label.as_deref().unwrap_or(UNRESOLVED)
    }

    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status) && self.error_class.is_none()
    }

    /// Whether it counts against its token's request quota: answered, or a stream whose
    /// client went away after the upstream answered (it could close just before the last
    /// chunk and get every answer for free).
    pub fn counts_as_request(&self) -> bool {
        self.succeeded() || (self.status == 200 && self.error_class.as_deref() == Some(CLIENT_LEFT))
    }

    /// Answered with an error before anything went upstream (a rate limit, a quota, a bad
    /// request): the kind of row a client can make by the thousand.
    pub fn refused(&self) -> bool {
        self.attempts == 0 && self.status >= 400
    }
}

#[cfg(test)]
mod tests;

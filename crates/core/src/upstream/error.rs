//! Typed upstream failures, each knowing who is to blame (§6, §10).
//!
//! The blame decides what the proxy does next: a request the upstream rejected for its own
//! content goes back to the client as a 400 and costs the account nothing; an account fault
//! sets the account aside and tries another; a transient fault retries elsewhere.

use std::fmt;

/// Longest upstream message passed on; the rest is cut (bodies can be HTML error pages).
const MAX_MESSAGE_CHARS: usize = 300;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpstreamError {
    /// A non-2xx answer with the `{message, errorCode}` envelope (or whatever body came).
    #[error("on-demand.io answered HTTP {status}{}: {message}", code_suffix(.code))]
    Status {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// An `[ERROR]:` frame (or an error-shaped frame) inside a stream.
    #[error("on-demand.io reported an error in the stream{}: {message}", code_suffix(.code))]
    Stream {
        code: Option<String>,
        message: String,
    },
    #[error("on-demand.io did not answer in time ({0})")]
    Timeout(TimeoutPhase),
    #[error("could not reach on-demand.io: {0}")]
    Connect(String),
    /// The stream ended (cleanly or not) without `[DONE]`: never a success (§10).
    #[error("on-demand.io ended the stream before it was complete")]
    Truncated,
    #[error("on-demand.io sent an answer the proxy could not read: {0}")]
    Protocol(String),
    /// Email/password account: sign-in (after a failed refresh) was refused.
    #[error("sign-in to on-demand.io failed: {0}")]
    SignIn(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// Waiting for the response headers or the whole non-stream answer.
    Response,
    /// A stream went quiet for longer than the idle limit.
    StreamIdle,
}

impl fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Response => "waiting for the answer",
            Self::StreamIdle => "the stream went quiet",
        })
    }
}

/// Who caused a failure, which decides retry and account bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The request itself (too long, bad parameter): no retry, no penalty, the client gets a 400.
    Request,
    /// The account's credentials or standing (401, 403, no credit, sign-in refused).
    AccountUnusable,
    /// The account is rate limited (429).
    AccountRateLimited,
    /// The upstream failed for this attempt (5xx, timeout, broken stream): retry elsewhere.
    Transient,
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_deref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default()
}

fn clip(message: &str) -> String {
    let message = message.trim();
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message.to_owned(),
    }
}

/// Upstream messages that mean "this account cannot be used", whatever the status says.
fn names_account_problem(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "subscribe",
        "credit",
        "quota",
        "insufficient",
        "suspended",
        "banned",
    ]
    .iter()
    .any(|w| m.contains(w))
}

impl UpstreamError {
    /// Builds a status error from an upstream body, reading the `{message, errorCode}`
    /// envelope when there is one.
    pub fn from_status(status: u16, body: &[u8]) -> Self {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let field = |key: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(key))
                .and_then(serde_json::Value::as_str)
                .map(clip)
        };
        let message = field("message")
            .or_else(|| field("error_msg"))
            .unwrap_or_else(|| match std::str::from_utf8(body) {
                Ok(text) if !text.trim().is_empty() && parsed.is_some() => clip(text),
                _ => format!("HTTP {status} with no readable error message"),
            });
        Self::Status {
            status,
            code: field("errorCode"),
            message,
        }
    }

    pub fn stream_error(code: Option<String>, message: Option<String>) -> Self {
        Self::Stream {
            code,
            message: message
                .map(|m| clip(&m))
                .unwrap_or_else(|| "no message".to_owned()),
        }
    }

    pub fn blame(&self) -> Blame {
        match self {
            Self::Status {
                status,
                code,
                message,
            } => match status {
                401..=403 => Blame::AccountUnusable,
                429 => Blame::AccountRateLimited,
                400 | 413 | 422 if names_account_problem(message) => Blame::AccountUnusable,
                400 | 413 | 422 => Blame::Request,
                _ if code.as_deref() == Some("context_length_exceeded") => Blame::Request,
                _ => Blame::Transient,
            },
            Self::Stream { code, message } => match code.as_deref() {
                Some("context_length_exceeded" | "invalid_request") => Blame::Request,
                Some("unauthenticated" | "unauthorized") => Blame::AccountUnusable,
                Some("rate_limit_exceeded") => Blame::AccountRateLimited,
                _ if names_account_problem(message) => Blame::AccountUnusable,
                _ => Blame::Transient,
            },
            Self::SignIn(_) => Blame::AccountUnusable,
            Self::Timeout(_) | Self::Connect(_) | Self::Truncated | Self::Protocol(_) => {
                Blame::Transient
            }
        }
    }

    /// Whether another attempt (on another account) may succeed.
    pub fn retryable(&self) -> bool {
        self.blame() != Blame::Request
    }

    /// The upstream no longer knows the session (404): a reused session expired or vanished.
    pub fn session_gone(&self) -> bool {
        matches!(self, Self::Status { status: 404, .. })
    }

    /// The upstream's HTTP status, when it answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The upstream's `errorCode`, when it gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Status { code, .. } | Self::Stream { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The upstream's own message, when it gave one (for 400s passed through to the client).
    pub fn upstream_message(&self) -> Option<&str> {
        match self {
            Self::Status { message, .. } | Self::Stream { message, .. } => Some(message),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_envelope_in_any_key_order() {
        let e = UpstreamError::from_status(
            429,
            br#"{"errorCode":"rate_limit_exceeded","message":"Too many"}"#,
        );
        assert_eq!(
            e,
            UpstreamError::Status {
                status: 429,
                code: Some("rate_limit_exceeded".into()),
                message: "Too many".into()
            }
        );
        assert_eq!(e.blame(), Blame::AccountRateLimited);
    }

    #[test]
    fn html_bodies_are_not_passed_on() {
        let e = UpstreamError::from_status(403, b"<html>error code: 1010</html>");
        assert_eq!(
            e.upstream_message(),
            Some("HTTP 403 with no readable error message")
        );
        assert_eq!(e.blame(), Blame::AccountUnusable);
    }

    #[test]
    fn blame_table() {
        let status = |s, code: &str, msg: &str| UpstreamError::Status {
            status: s,
            code: Some(code.into()),
            message: msg.into(),
        };
        assert_eq!(
            status(400, "context_length_exceeded", "x").blame(),
            Blame::Request
        );
        assert_eq!(
            status(400, "invalid_request", "bad").blame(),
            Blame::Request
        );
        assert_eq!(
            status(
                400,
                "invalid_request",
                "Please subscribe to the service to use it"
            )
            .blame(),
            Blame::AccountUnusable
        );
        assert_eq!(
            status(401, "unauthenticated", "x").blame(),
            Blame::AccountUnusable
        );
        assert_eq!(
            status(403, "unauthorized", "x").blame(),
            Blame::AccountUnusable
        );
        assert_eq!(status(404, "not_found", "x").blame(), Blame::Transient);
        assert_eq!(status(500, "model_error", "x").blame(), Blame::Transient);
        assert_eq!(
            status(503, "resource_unavailable", "x").blame(),
            Blame::Transient
        );
        assert_eq!(
            status(504, "plugin_execution_timeout", "x").blame(),
            Blame::Transient
        );
        assert!(!status(400, "invalid_request", "bad").retryable());
        assert!(UpstreamError::Truncated.retryable());
        let stream = UpstreamError::stream_error(Some("context_length_exceeded".into()), None);
        assert_eq!(stream.blame(), Blame::Request);
    }

    #[test]
    fn long_messages_are_clipped() {
        let body = format!(r#"{{"message":"{}"}}"#, "é".repeat(1000));
        let e = UpstreamError::from_status(500, body.as_bytes());
        assert_eq!(e.upstream_message().map(|m| m.chars().count()), Some(301));
    }
}

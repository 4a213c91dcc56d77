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
    /// on-demand.io closed the connection under the call (an HTTP/2 GOAWAY) or refused its
    /// stream unprocessed: another connection will do.
    #[error("on-demand.io closed the connection under the call: {0}")]
    ConnectionLost(String),
    /// The way to on-demand.io failed before it answered: its certificate is not trusted,
    /// the proxy failed, or its name was not found. Every account on the same way would
    /// meet the same.
    #[error("{0}")]
    Network(NetworkFault),
    /// The stream ended (cleanly or not) without `[DONE]`: never a success (§10).
    #[error("on-demand.io ended the stream before it was complete")]
    Truncated,
    #[error("on-demand.io sent an answer the proxy could not read: {0}")]
    Protocol(String),
    /// Email/password account: sign-in (after a failed refresh) was refused.
    #[error("sign-in to on-demand.io failed: {0}")]
    SignIn(String),
    /// A 403 that is not the upstream's JSON envelope: its firewall (Cloudflare, e.g. error
    /// 1010) refused this machine or user agent. Every account would get the same (§14.2).
    #[error(
        "on-demand.io's firewall refuses this machine or user agent (HTTP {status}{}); check user_agent and the network, not the accounts",
        detail_suffix(.detail)
    )]
    Firewall { status: u16, detail: Option<String> },
    /// A 404 from the gateway rather than the chat API (`no Route matched…`): the base URL
    /// is wrong, not a session lost (§14.2).
    #[error(
        "on-demand.io has no such route (HTTP 404: {message}); check base_url (and client_base_url for email/password accounts)"
    )]
    NoRoute { message: String },
    /// The Media API refused this account an upload for now (429: the free plan allows 5
    /// a minute). Its chat is not affected.
    #[error("on-demand.io limits this account's image uploads (HTTP 429): {message}")]
    UploadsLimited { message: String },
    /// This account cannot upload (it signs in by email and password; the Media API takes
    /// API keys), or its uploads are resting after a 429.
    #[error("this account cannot describe images now: {0}")]
    NoUploads(&'static str),
    /// The image agent answered without a description (still `processing`, or failed).
    #[error(
        "on-demand.io's image agent gave no description of the image at {at} (actionStatus: {status})"
    )]
    NoDescription { at: String, status: String },
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

/// What failed on the way to on-demand.io.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkKind {
    /// The upstream's certificate is not trusted (or the trust settings are unusable).
    Certificate,
    /// The proxy refused, failed or could not reach the upstream.
    Proxy,
    /// The upstream's name was not found.
    Dns,
}

impl NetworkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Certificate => "certificate",
            Self::Proxy => "proxy",
            Self::Dns => "dns",
        }
    }
}

/// A failure of the way to on-demand.io, with what to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkFault {
    pub kind: NetworkKind,
    /// The cause, as the TLS library or the proxy put it (never a password).
    pub detail: String,
    /// The proxy taken, masked.
    pub proxy: Option<String>,
}

impl fmt::Display for NetworkFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let via = self
            .proxy
            .as_deref()
            .map(|p| format!(" (through the proxy {p})"))
            .unwrap_or_default();
        match self.kind {
            NetworkKind::Certificate => write!(
                f,
                "on-demand.io's certificate is not trusted{via}: {}. If a proxy or firewall inspects TLS, add its root certificate with the upstream_ca_file setting (ONDEMAND_CA_FILE, --ca-file)",
                self.detail
            ),
            NetworkKind::Proxy => write!(
                f,
                "the proxy {} failed: {}. Check the upstream_proxy setting (ONDEMAND_PROXY, --proxy) and that the proxy runs",
                self.proxy.as_deref().unwrap_or("(none)"),
                self.detail
            ),
            NetworkKind::Dns => write!(
                f,
                "the name of on-demand.io was not found{via}: {}. Check the network and its DNS",
                self.detail
            ),
        }
    }
}

/// Who caused a failure, which decides retry and account bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The request itself (too long, bad parameter, a content-policy refusal): no retry, no
    /// penalty, the client gets a 400.
    Request,
    /// Something every account would meet alike (the upstream's firewall refuses this
    /// machine, the base URL is wrong): no retry, no account penalty, a proxy-wide problem.
    Proxy,
    /// This account may not use this model (a plan or premium refusal): skip the account
    /// for this model only and try another.
    ModelRefused,
    /// The account's credentials or standing (401, 403, no credit, sign-in refused).
    AccountUnusable,
    /// The account is rate limited (429).
    AccountRateLimited,
    /// The upstream failed for this attempt (5xx, timeout, broken stream): retry elsewhere.
    Transient,
    /// This account cannot upload images now (rate limited for uploads, or no API key):
    /// another may; its chat health is untouched.
    Uploads,
    /// The way to on-demand.io failed (certificate, proxy, name lookup): no account is to
    /// blame, and accounts on the same way are not tried.
    Network,
    /// The connection the call went on was closed under it: another attempt goes on a new
    /// one, and no account is to blame.
    Connection,
}

impl Blame {
    /// The blame's name in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Proxy => "proxy",
            Self::ModelRefused => "model_refused",
            Self::AccountUnusable => "account_unusable",
            Self::AccountRateLimited => "account_rate_limited",
            Self::Transient => "transient",
            Self::Uploads => "uploads",
            Self::Network => "network",
            Self::Connection => "connection",
        }
    }
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_deref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default()
}

fn detail_suffix(detail: &Option<String>) -> String {
    detail
        .as_deref()
        .map(|d| format!(", {d}"))
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
    ["credit", "quota", "insufficient", "suspended", "banned"]
        .iter()
        .any(|w| m.contains(w))
}

/// Plan wording: whether it means "this model" or "this account" is unknown upstream, so
/// the proxy assumes the narrower "this account cannot use this model" (§14.2).
fn names_plan_refusal(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "subscribe",
        "subscription",
        "premium",
        "upgrade",
        "your plan",
    ]
    .iter()
    .any(|w| m.contains(w))
}

/// The upstream's error code for a refusal of the prompt's content (§14.2).
pub const CONTENT_POLICY: &str = "content_policy_violation";

/// A gateway's own 404 body (Kong's `no Route matched`, `404 Route Not Found`), as opposed
/// to the chat API's `{message, errorCode}` answer for an unknown session.
fn is_gateway_404(parsed: Option<&serde_json::Value>) -> bool {
    let Some(value) = parsed else {
        return true;
    };
    let text = |key: &str| value.get(key).and_then(serde_json::Value::as_str);
    if text("error_msg").is_some() {
        return true;
    }
    let route = text("message").is_some_and(|m| m.to_ascii_lowercase().contains("route"));
    route || (text("errorCode").is_none() && text("message").is_none())
}

/// Cloudflare's error number in an HTML block page (`error code: 1010`), if it shows one.
fn cloudflare_code(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]).to_ascii_lowercase();
    let at = text.find("error code")?;
    let digits: String = text[at + "error code".len()..]
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then(|| format!("Cloudflare error {digits}"))
}

impl UpstreamError {
    /// Builds a status error from an upstream body, reading the `{message, errorCode}`
    /// envelope when there is one.
    pub fn from_status(status: u16, body: &[u8]) -> Self {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(body)
            .ok()
            .filter(serde_json::Value::is_object);
        let enveloped = parsed.as_ref().is_some_and(|v| {
            v.get("message").is_some_and(serde_json::Value::is_string)
                || v.get("errorCode").is_some_and(serde_json::Value::is_string)
        });
        if status == 403 && !enveloped {
            return Self::Firewall {
                status,
                detail: cloudflare_code(body),
            };
        }
        if status == 404 && is_gateway_404(parsed.as_ref()) {
            let message = parsed
                .as_ref()
                .and_then(|v| v.get("message").or_else(|| v.get("error_msg")))
                .and_then(serde_json::Value::as_str)
                .map_or_else(|| "not the chat API's answer".to_owned(), clip);
            return Self::NoRoute { message };
        }
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
                _ if code.as_deref() == Some(CONTENT_POLICY) => Blame::Request,
                400 | 402 | 403 if names_plan_refusal(message) => Blame::ModelRefused,
                401..=403 => Blame::AccountUnusable,
                429 => Blame::AccountRateLimited,
                400 | 413 | 422 if names_account_problem(message) => Blame::AccountUnusable,
                400 | 413 | 422 => Blame::Request,
                _ if code.as_deref() == Some("context_length_exceeded") => Blame::Request,
                _ => Blame::Transient,
            },
            Self::Stream { code, message } => match code.as_deref() {
                Some("context_length_exceeded" | CONTENT_POLICY) => Blame::Request,
                _ if names_plan_refusal(message) => Blame::ModelRefused,
                Some("invalid_request") => Blame::Request,
                Some("unauthenticated" | "unauthorized") => Blame::AccountUnusable,
                Some("rate_limit_exceeded") => Blame::AccountRateLimited,
                _ if names_account_problem(message) => Blame::AccountUnusable,
                _ => Blame::Transient,
            },
            Self::SignIn(_) => Blame::AccountUnusable,
            Self::UploadsLimited { .. } | Self::NoUploads(_) => Blame::Uploads,
            Self::NoDescription { .. } => Blame::Transient,
            Self::Firewall { .. } | Self::NoRoute { .. } => Blame::Proxy,
            Self::Network(_) => Blame::Network,
            Self::ConnectionLost(_) => Blame::Connection,
            Self::Timeout(_) | Self::Connect(_) | Self::Truncated | Self::Protocol(_) => {
                Blame::Transient
            }
        }
    }

    /// Whether another attempt (on another account) may succeed.
    pub fn retryable(&self) -> bool {
        !matches!(self.blame(), Blame::Request | Blame::Proxy | Blame::Network)
    }

    /// The upstream no longer knows the session (404): a reused session expired or vanished.
    pub fn session_gone(&self) -> bool {
        matches!(self, Self::Status { status: 404, .. })
    }

    /// The upstream's HTTP status, when it answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } | Self::Firewall { status, .. } => Some(*status),
            Self::NoRoute { .. } => Some(404),
            Self::UploadsLimited { .. } => Some(429),
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
        let e = UpstreamError::from_status(502, b"<html>bad gateway</html>");
        assert_eq!(
            e.upstream_message(),
            Some("HTTP 502 with no readable error message")
        );
        assert_eq!(e.blame(), Blame::Transient);
    }

    #[test]
    fn a_403_without_the_envelope_is_the_firewall_not_the_account() {
        let e = UpstreamError::from_status(
            403,
            b"<!DOCTYPE html><title>Access denied</title><span>Error code: 1010</span>",
        );
        assert_eq!(
            e,
            UpstreamError::Firewall {
                status: 403,
                detail: Some("Cloudflare error 1010".into())
            }
        );
        assert_eq!(e.blame(), Blame::Proxy);
        assert!(!e.retryable());
        assert!(e.to_string().contains("user agent"), "{e}");
        let json_but_not_ours = UpstreamError::from_status(403, br#"{"title":"blocked"}"#);
        assert_eq!(json_but_not_ours.blame(), Blame::Proxy);
        let ours = UpstreamError::from_status(
            403,
            br#"{"message":"Forbidden","errorCode":"unauthorized"}"#,
        );
        assert_eq!(ours.blame(), Blame::AccountUnusable);
    }

    #[test]
    fn content_policy_refusals_are_the_requests() {
        let e = UpstreamError::from_status(
            403,
            br#"{"errorCode":"content_policy_violation","message":"The prompt was refused"}"#,
        );
        assert_eq!(e.blame(), Blame::Request);
        assert_eq!(e.code(), Some(CONTENT_POLICY));
        assert!(!e.retryable());
    }

    #[test]
    fn a_gateway_404_is_a_wrong_base_url_not_a_lost_session() {
        for body in [
            &br#"{"message":"no Route matched with those values","request_id":"x"}"#[..],
            br#"{"error_msg":"404 Route Not Found"}"#,
            br#"{"message":"Route not found","errorCode":"not_found"}"#,
            b"<html>Not Found</html>",
        ] {
            let e = UpstreamError::from_status(404, body);
            assert!(matches!(e, UpstreamError::NoRoute { .. }), "{e:?}");
            assert!(!e.session_gone());
            assert_eq!(e.blame(), Blame::Proxy);
        }
        let lost = UpstreamError::from_status(
            404,
            br#"{"message":"Session not found","errorCode":"not_found"}"#,
        );
        assert!(lost.session_gone());
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
            Blame::ModelRefused
        );
        assert_eq!(
            status(403, "unauthorized", "This model requires a premium plan").blame(),
            Blame::ModelRefused
        );
        assert_eq!(
            status(400, "invalid_request", "Insufficient credits").blame(),
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
        assert_eq!(
            status(404, "not_found", "Session not found").blame(),
            Blame::Transient
        );
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

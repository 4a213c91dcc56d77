//! Every error a client of `/v1/*` sees, in the OpenAI envelope
//! `{"error": {"message", "type", "param", "code"}}` with a fitting status.
//!
//! Internal detail is logged once where the error is made; the message sent is written for
//! the client and never carries a secret.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ondemand_core::chat::PlanError;
use ondemand_core::control::ControlError;
use ondemand_core::engine::DispatchError;
use ondemand_core::openai::{ErrorEnvelope, ErrorObject};
use ondemand_core::tokens::Refusal;
use ondemand_core::upstream::error::{Blame, NetworkKind, UpstreamError};

/// The error a response answers with, kept on the response (an extension) so that a dialect
/// with another envelope renders it again from the typed value, never by reading the body back.
#[derive(Debug, Clone)]
pub struct Carried(pub ErrorObject);

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: ErrorObject,
    /// Sent as `Retry-After` (whole seconds, at least 1).
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        code: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error: ErrorObject {
                message: message.into(),
                kind,
                param: None,
                code: code.map(str::to_owned),
            },
            retry_after: None,
        }
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.error.param = Some(param.into());
        self
    }

    /// A failure of the proxy's own (a panic, the database): 500 `server_error`, with `code`
    /// (`internal_error`, `store_error`) and a message that points at the log.
    pub fn internal(code: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            Some(code),
            message,
        )
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            message,
        )
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("invalid_api_key"),
            message,
        )
    }

    /// No entry with that id or name.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("not_found"),
            message,
        )
    }

    pub fn not_found_route(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("unknown_url"),
            format!("Unknown request URL: {method} {path}. Please check the URL for typos."),
        )
    }

    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            Some("method_not_allowed"),
            format!("Method {method} is not allowed for {path}."),
        )
    }

    pub fn rate_limited(rpm: u32, wait: Duration) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "requests",
            Some("rate_limit_exceeded"),
            format!(
                "Rate limit reached: {rpm} requests per minute for this client token (setting rate_limit). Try again shortly."
            ),
        );
        e.retry_after = Some(wait);
        e
    }

    /// Someone paused the proxy (desktop tray or dashboard); nothing goes upstream.
    pub fn paused() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            Some("proxy_paused"),
            "The proxy is paused. Resume it from the OnDemand Proxy tray menu or dashboard.",
        )
    }

    /// The client token's model allow-list leaves this model out.
    pub fn model_not_allowed(model: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            Some("model_not_allowed"),
            format!("This client token may not use the model `{model}`."),
        )
        .with_param("model")
    }

    /// A body over `limit` bytes; `setting` names the setting that sets the limit, if one does.
    pub fn too_large(limit: usize, setting: Option<&str>) -> Self {
        let set_by = setting
            .map(|s| format!(" (setting {s})"))
            .unwrap_or_default();
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            Some("request_too_large"),
            format!("The request body is larger than the limit of {limit} bytes{set_by}."),
        )
    }

    /// A body that did not arrive in time (`body_read_timeout`, when `setting`).
    pub fn body_timeout(limit: Duration, setting: bool) -> Self {
        let set_by = if setting {
            " (setting body_read_timeout)"
        } else {
            ""
        };
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            Some("request_timeout"),
            format!(
                "The request body did not arrive within {} s{set_by}.",
                limit.as_secs_f64()
            ),
        )
    }

    /// A body that is not JSON, or JSON of the wrong shape; `param` is the offending path.
    pub fn bad_body(error: &serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = error.path().to_string();
        let inner = error.inner();
        let message = if inner.is_syntax() || inner.is_eof() {
            format!("We could not parse the JSON body of your request: {inner}.")
        } else {
            format!("Invalid request body: {inner}.")
        };
        let mut e = Self::invalid(message);
        if path != "." && !inner.is_syntax() && !inner.is_eof() {
            e.error.param = Some(path);
        }
        e
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        let message = e.to_string();
        match e {
            ControlError::NotFound { .. } => Self::not_found(message),
            ControlError::ReadOnly { .. } => Self::new(
                StatusCode::FORBIDDEN,
                "invalid_request_error",
                Some("managed_by_config"),
                message,
            ),
            ControlError::Conflict { field, .. } => Self::new(
                StatusCode::CONFLICT,
                "invalid_request_error",
                Some("conflict"),
                message,
            )
            .with_param(field),
            ControlError::Invalid { field, .. } => Self::invalid(message).with_param(field),
            ControlError::Store(error) => {
                tracing::error!(%error, "a change could not be stored");
                Self::internal(
                    "store_error",
                    "The database could not store the change; see the log.",
                )
            }
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let message = refusal.to_string();
        match refusal {
            Refusal::Unknown | Refusal::Disabled | Refusal::Expired => Self::unauthorized(&message),
            Refusal::Concurrency(_) => {
                let mut e = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "requests",
                    Some(refusal.kind()),
                    message,
                );
                e.retry_after = Some(Duration::from_secs(1));
                e
            }
            Refusal::RequestQuota(_) | Refusal::TokenQuota(_) | Refusal::PromptOverQuota { .. } => {
                Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "insufficient_quota",
                    Some("insufficient_quota"),
                    message,
                )
            }
        }
    }
}

impl From<PlanError> for ApiError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Invalid { message, param } => {
                let mut error = Self::invalid(message);
                error.error.param = param;
                error
            }
            PlanError::UnknownModel(unknown) => Self::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                Some("model_not_found"),
                unknown.to_string(),
            )
            .with_param("model"),
            PlanError::ContextLength(message) => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("context_length_exceeded"),
                message,
            )
            .with_param("messages"),
        }
    }
}

/// How an upstream failure that ended a request maps to a status.
fn upstream_status(error: &UpstreamError) -> (StatusCode, &'static str) {
    match (error, error.blame()) {
        (UpstreamError::Timeout(_), _) => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
        (UpstreamError::UploadsLimited { .. }, _) => {
            (StatusCode::TOO_MANY_REQUESTS, "image_uploads_limited")
        }
        (UpstreamError::NoUploads(_), _) => {
            (StatusCode::SERVICE_UNAVAILABLE, "image_uploads_unavailable")
        }
        (UpstreamError::NoDescription { .. }, _) => {
            (StatusCode::BAD_GATEWAY, "image_not_described")
        }
        (UpstreamError::Network(fault), _) => (
            StatusCode::BAD_GATEWAY,
            match fault.kind {
                NetworkKind::Certificate => "upstream_certificate_untrusted",
                NetworkKind::Proxy => "upstream_proxy_failed",
                NetworkKind::Dns => "upstream_name_not_found",
            },
        ),
        (_, Blame::ModelRefused) => (StatusCode::FORBIDDEN, "model_not_available"),
        (_, Blame::AccountUnusable | Blame::AccountRateLimited) => {
            (StatusCode::SERVICE_UNAVAILABLE, "upstream_unavailable")
        }
        _ => (StatusCode::BAD_GATEWAY, "upstream_error"),
    }
}

impl From<DispatchError> for ApiError {
    fn from(e: DispatchError) -> Self {
        match e {
            DispatchError::NoAccounts => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                Some("no_accounts"),
                "No enabled on-demand.io account yet. Add or enable one on the dashboard's Accounts page \
                 (headless: config.json `accounts` or ONDEMAND_ACCOUNTS); to try the proxy without a key, \
                 use Try the demo there (headless: `serve --demo`).",
            ),
            DispatchError::Rejected { error, .. } => {
                let code = error.code().unwrap_or("invalid_request").to_owned();
                let message = error
                    .upstream_message()
                    .unwrap_or("on-demand.io rejected the request")
                    .to_owned();
                Self::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    Some(&code),
                    format!("on-demand.io rejected the request: {message}"),
                )
            }
            DispatchError::Proxy { error, .. } => {
                let code = match error {
                    UpstreamError::Firewall { .. } => "upstream_blocked",
                    _ => "upstream_misconfigured",
                };
                Self::new(
                    StatusCode::BAD_GATEWAY,
                    "server_error",
                    Some(code),
                    format!(
                        "{error}. Every account would get the same answer, so none was tried or set aside."
                    ),
                )
            }
            DispatchError::ModelRefused { endpoint_id, last } => {
                let why = last.map_or_else(
                    || "none of the accounts sees it in its catalogue, or each was refused it earlier".to_owned(),
                    |e| format!("the last refusal: {e}"),
                );
                Self::new(
                    StatusCode::FORBIDDEN,
                    "invalid_request_error",
                    Some("model_not_available"),
                    format!(
                        "No on-demand.io account may use {endpoint_id} ({why}). Pick another model, or use an account whose plan includes it."
                    ),
                )
                .with_param("model")
            }
            DispatchError::Exhausted { last, attempts, .. } => {
                let (status, code) = upstream_status(&last);
                let tries = if attempts == 1 {
                    "1 attempt".to_owned()
                } else {
                    format!("{attempts} attempts")
                };
                let mut e = Self::new(
                    status,
                    "server_error",
                    Some(code),
                    format!("on-demand.io request failed after {tries}: {last}"),
                );
                // The Media API's limit is per minute.
                if status == StatusCode::TOO_MANY_REQUESTS {
                    e.retry_after = Some(std::time::Duration::from_secs(60));
                }
                e
            }
            DispatchError::BadImage { param, message } => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("invalid_image"),
                message,
            )
            .with_param(param),
            // Attempts were made and failed: the last failure says best what went wrong.
            DispatchError::Unavailable {
                retry_after,
                last: Some(last),
            } => {
                let (status, code) = upstream_status(&last);
                let mut e = Self::new(
                    status,
                    "server_error",
                    Some(code),
                    format!(
                        "on-demand.io request failed: {last}. No other account is available right now."
                    ),
                );
                e.retry_after = retry_after;
                e
            }
            DispatchError::Unavailable {
                retry_after,
                last: None,
            } => {
                let mut e = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    Some("accounts_unavailable"),
                    "Every on-demand.io account is resting or busy; try again later.",
                );
                e.retry_after = retry_after;
                e
            }
            DispatchError::Timeout { attempts } => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "server_error",
                Some("upstream_timeout"),
                format!(
                    "on-demand.io did not answer within request_timeout ({attempts} attempts started)."
                ),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let carried = Carried(self.error.clone());
        let mut response =
            (self.status, axum::Json(ErrorEnvelope { error: self.error })).into_response();
        response.extensions_mut().insert(carried);
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(wait) = self.retry_after {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_blame_decides_the_status() {
        let status = |e: UpstreamError| {
            ApiError::from(DispatchError::Exhausted {
                last: e,
                attempts: 2,
                account: "a".into(),
            })
            .status
        };
        let http = |s: u16, code: &str| UpstreamError::Status {
            status: s,
            code: Some(code.into()),
            message: "m".into(),
        };
        assert_eq!(status(http(500, "model_error")), StatusCode::BAD_GATEWAY);
        assert_eq!(
            status(http(401, "unauthenticated")),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(http(429, "rate_limit_exceeded")),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(status(UpstreamError::Truncated), StatusCode::BAD_GATEWAY);
        assert_eq!(
            status(UpstreamError::Timeout(
                ondemand_core::upstream::error::TimeoutPhase::Response
            )),
            StatusCode::GATEWAY_TIMEOUT
        );
    }
}

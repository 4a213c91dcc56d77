//! Every error a client sees, in the OpenAI envelope
//! `{"error": {"message", "type", "param", "code"}}` (or a dialect's own, rendered from the
//! same value), its status, type and code decided by its [`ErrorKind`].
//!
//! Internal detail is logged once where the error is made; the message sent is written for
//! the client and never carries a secret.

mod from;
mod kind;

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ondemand_core::openai::{ErrorEnvelope, ErrorObject};

pub use kind::ErrorKind;

/// The error a response answers with, kept on the response (an extension) so that a dialect
/// with another envelope renders it again from the typed value, never by reading the body back.
#[derive(Debug, Clone)]
pub struct Carried(pub ErrorObject);

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub error: ErrorObject,
    /// Sent as `Retry-After` (whole seconds, at least 1).
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// An error of `kind` (its status, type and code) saying `message` to the client.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            error: ErrorObject {
                message: message.into(),
                kind: kind.openai_type(),
                param: None,
                code: kind.code().map(str::to_owned),
            },
            retry_after: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// Passes on the upstream's own code for what it refused.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.error.code = Some(code.into());
        self
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.error.param = Some(param.into());
        self
    }

    /// Sent with `Retry-After`.
    pub fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(ErrorKind::InvalidApiKey, message)
    }

    /// No entry with that id or name.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn not_found_route(method: &str, path: &str) -> Self {
        Self::new(
            ErrorKind::UnknownUrl,
            format!("Unknown request URL: {method} {path}. Please check the URL for typos."),
        )
    }

    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            ErrorKind::MethodNotAllowed,
            format!("Method {method} is not allowed for {path}."),
        )
    }

    pub fn rate_limited(rpm: u32, wait: Duration) -> Self {
        Self::new(
            ErrorKind::RateLimitExceeded,
            format!(
                "Rate limit reached: {rpm} requests per minute for this client token (setting rate_limit). Try again shortly."
            ),
        )
        .retry_after(wait)
    }

    /// Someone paused the proxy (desktop tray or dashboard); nothing goes upstream.
    pub fn paused() -> Self {
        Self::new(
            ErrorKind::ProxyPaused,
            "The proxy is paused. Resume it from the OnDemand Proxy tray menu or dashboard.",
        )
    }

    /// The client token's model allow-list leaves this model out.
    pub fn model_not_allowed(model: &str) -> Self {
        Self::new(
            ErrorKind::ModelNotAllowed,
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
            ErrorKind::RequestTooLarge,
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
            ErrorKind::RequestTimeout,
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let carried = Carried(self.error.clone());
        let mut response =
            (status, axum::Json(ErrorEnvelope { error: self.error })).into_response();
        response.extensions_mut().insert(carried);
        if status == StatusCode::UNAUTHORIZED {
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

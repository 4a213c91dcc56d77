//! The domain's errors as a client is told them: each maps to one [`ErrorKind`] and a message.

use std::time::Duration;

use ondemand_core::chat::PlanError;
use ondemand_core::client_tokens::Refusal;
use ondemand_core::control::ControlError;
use ondemand_core::engine::DispatchError;
use ondemand_core::upstream::error::{Blame, NetworkKind, UpstreamError};

use super::{ApiError, ErrorKind};

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        let message = e.to_string();
        match e {
            ControlError::NotFound { .. } => Self::not_found(message),
            ControlError::ReadOnly { .. } => Self::new(ErrorKind::ManagedByConfig, message),
            ControlError::Conflict { field, .. } => {
                Self::new(ErrorKind::Conflict, message).with_param(field)
            }
            ControlError::Invalid { field, .. } => Self::invalid(message).with_param(field),
            ControlError::Store(error) => {
                tracing::error!(%error, "a change could not be stored");
                Self::new(
                    ErrorKind::StoreError,
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
            Refusal::Concurrency(_) => Self::new(ErrorKind::TooManyConcurrentRequests, message)
                .retry_after(Duration::from_secs(1)),
            Refusal::RequestQuota(_) | Refusal::TokenQuota(_) | Refusal::PromptOverQuota { .. } => {
                Self::new(ErrorKind::InsufficientQuota, message)
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
            PlanError::UnknownModel(unknown) => {
                Self::new(ErrorKind::ModelNotFound, unknown.to_string()).with_param("model")
            }
            PlanError::ContextLength(message) => {
                Self::new(ErrorKind::ContextLengthExceeded, message).with_param("messages")
            }
        }
    }
}

/// The kind of an upstream failure that ended a request.
fn upstream_kind(error: &UpstreamError) -> ErrorKind {
    match (error, error.blame()) {
        (UpstreamError::Timeout(_), _) => ErrorKind::UpstreamTimeout,
        (UpstreamError::UploadsLimited { .. }, _) => ErrorKind::ImageUploadsLimited,
        (UpstreamError::NoUploads(_), _) => ErrorKind::ImageUploadsUnavailable,
        (UpstreamError::NoDescription { .. }, _) => ErrorKind::ImageNotDescribed,
        (UpstreamError::Network(fault), _) => match fault.kind {
            NetworkKind::Certificate => ErrorKind::UpstreamCertificateUntrusted,
            NetworkKind::Proxy => ErrorKind::UpstreamProxyFailed,
            NetworkKind::Dns => ErrorKind::UpstreamNameNotFound,
        },
        (_, Blame::ModelRefused) => ErrorKind::ModelNotAvailable,
        (_, Blame::AccountUnusable | Blame::AccountRateLimited) => ErrorKind::UpstreamUnavailable,
        _ => ErrorKind::UpstreamError,
    }
}

impl From<DispatchError> for ApiError {
    fn from(e: DispatchError) -> Self {
        match e {
            DispatchError::NoAccounts => Self::new(
                ErrorKind::NoAccounts,
                "No enabled on-demand.io account yet. Add or enable one on the dashboard's Accounts page \
                 (headless: config.json `accounts` or ONDEMAND_ACCOUNTS); to try the proxy without a key, \
                 use Try the demo there (headless: `serve --demo`).",
            ),
            DispatchError::Rejected { error, .. } => {
                let message = error
                    .upstream_message()
                    .unwrap_or("on-demand.io rejected the request");
                let refused = Self::new(
                    ErrorKind::UpstreamRejected,
                    format!("on-demand.io rejected the request: {message}"),
                );
                match error.code() {
                    Some(code) => refused.with_code(code),
                    None => refused,
                }
            }
            DispatchError::Proxy { error, .. } => {
                let kind = match error {
                    UpstreamError::Firewall { .. } => ErrorKind::UpstreamBlocked,
                    _ => ErrorKind::UpstreamMisconfigured,
                };
                Self::new(
                    kind,
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
                    ErrorKind::ModelNotAvailable,
                    format!(
                        "No on-demand.io account may use {endpoint_id} ({why}). Pick another model, or use an account whose plan includes it."
                    ),
                )
                .with_param("model")
            }
            DispatchError::Exhausted { last, attempts, .. } => {
                let kind = upstream_kind(&last);
                let tries = if attempts == 1 {
                    "1 attempt".to_owned()
                } else {
                    format!("{attempts} attempts")
                };
                let e = Self::new(
                    kind,
                    format!("on-demand.io request failed after {tries}: {last}"),
                );
                // The Media API's limit is per minute.
                if kind == ErrorKind::ImageUploadsLimited {
                    e.retry_after(Duration::from_secs(60))
                } else {
                    e
                }
            }
            DispatchError::BadImage { param, message } => {
                Self::new(ErrorKind::InvalidImage, message).with_param(param)
            }
            // Attempts were made and failed: the last failure says best what went wrong.
            DispatchError::Unavailable {
                retry_after,
                last: Some(last),
            } => Self {
                retry_after,
                ..Self::new(
                    upstream_kind(&last),
                    format!(
                        "on-demand.io request failed: {last}. No other account is available right now."
                    ),
                )
            },
            DispatchError::Unavailable {
                retry_after,
                last: None,
            } => Self {
                retry_after,
                ..Self::new(
                    ErrorKind::AccountsUnavailable,
                    "Every on-demand.io account is resting or busy; try again later.",
                )
            },
            DispatchError::Timeout { attempts } => Self::new(
                ErrorKind::UpstreamTimeout,
                format!(
                    "on-demand.io did not answer within request_timeout ({attempts} attempts started)."
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn upstream_blame_decides_the_status() {
        let status = |e: UpstreamError| {
            ApiError::from(DispatchError::Exhausted {
                last: e,
                attempts: 2,
                account: "a".into(),
            })
            .status()
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

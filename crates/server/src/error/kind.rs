//! Every kind of error the proxy answers with, in one table: its HTTP status, its OpenAI
//! `type`, and its `code` (what a client branches on). The message is written where the error
//! is made; the kind decides everything else, in every dialect.

use axum::http::StatusCode;

macro_rules! kinds {
    ($($(#[$doc:meta])* $kind:ident = $status:ident, $type:expr, $code:expr;)*) => {
        /// What went wrong, as a client is told ([`ErrorKind::status`], [`ErrorKind::openai_type`],
        /// [`ErrorKind::code`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorKind {
            $($(#[$doc])* $kind,)*
        }

        impl ErrorKind {
            pub fn status(self) -> StatusCode {
                match self {
                    $(Self::$kind => StatusCode::$status,)*
                }
            }

            /// The OpenAI envelope's `type`.
            pub fn openai_type(self) -> &'static str {
                match self {
                    $(Self::$kind => $type,)*
                }
            }

            /// The envelope's `code`; `None` for a plain invalid request.
            pub fn code(self) -> Option<&'static str> {
                match self {
                    $(Self::$kind => $code,)*
                }
            }

            /// Every kind, for the table's own test.
            #[cfg(test)]
            pub const ALL: &'static [ErrorKind] = &[$(Self::$kind,)*];
        }
    };
}

const INVALID: &str = "invalid_request_error";
const SERVER: &str = "server_error";

kinds! {
    // The request itself.
    /// A request that is not valid; the message and `param` say why.
    Invalid = BAD_REQUEST, INVALID, None;
    ContextLengthExceeded = BAD_REQUEST, INVALID, Some("context_length_exceeded");
    InvalidImage = BAD_REQUEST, INVALID, Some("invalid_image");
    /// on-demand.io refused the request itself (its own code replaces this one when it gives one).
    UpstreamRejected = BAD_REQUEST, INVALID, Some("invalid_request");
    RequestTimeout = REQUEST_TIMEOUT, INVALID, Some("request_timeout");
    RequestTooLarge = PAYLOAD_TOO_LARGE, INVALID, Some("request_too_large");
    NotFound = NOT_FOUND, INVALID, Some("not_found");
    UnknownUrl = NOT_FOUND, INVALID, Some("unknown_url");
    MethodNotAllowed = METHOD_NOT_ALLOWED, INVALID, Some("method_not_allowed");
    ModelNotFound = NOT_FOUND, INVALID, Some("model_not_found");
    ModelNotAllowed = FORBIDDEN, INVALID, Some("model_not_allowed");
    /// No account may use the model (a plan or premium refusal).
    ModelNotAvailable = FORBIDDEN, INVALID, Some("model_not_available");

    // Who asks.
    /// A client token that is unknown, disabled or expired, or none at all.
    InvalidApiKey = UNAUTHORIZED, INVALID, Some("invalid_api_key");
    AdminAuthRequired = UNAUTHORIZED, INVALID, Some("admin_auth_required");
    ClientTokenNotAdmin = UNAUTHORIZED, INVALID, Some("client_token_not_admin");
    WrongPassword = UNAUTHORIZED, INVALID, Some("wrong_password");
    HostNotAllowed = FORBIDDEN, INVALID, Some("host_not_allowed");
    CrossSiteRequest = FORBIDDEN, INVALID, Some("cross_site_request");

    // Limits.
    RateLimitExceeded = TOO_MANY_REQUESTS, "requests", Some("rate_limit_exceeded");
    TooManyConcurrentRequests = TOO_MANY_REQUESTS, "requests", Some("too_many_concurrent_requests");
    TooManyAttempts = TOO_MANY_REQUESTS, "requests", Some("too_many_attempts");
    InsufficientQuota = TOO_MANY_REQUESTS, "insufficient_quota", Some("insufficient_quota");
    /// on-demand.io's Media API limits uploads per minute: a rate limit like the others.
    ImageUploadsLimited = TOO_MANY_REQUESTS, "requests", Some("image_uploads_limited");

    // Changes made through the admin API.
    ManagedByConfig = FORBIDDEN, INVALID, Some("managed_by_config");
    Declined = FORBIDDEN, INVALID, Some("declined");
    Conflict = CONFLICT, INVALID, Some("conflict");
    AccountNotRunning = CONFLICT, INVALID, Some("account_not_running");
    DemoBesideReal = CONFLICT, INVALID, Some("demo_beside_real");
    DoctorRunning = CONFLICT, INVALID, Some("doctor_running");
    AccountResting = CONFLICT, INVALID, Some("account_resting");
    NoAccount = CONFLICT, INVALID, Some("no_account");
    MetricsOff = NOT_FOUND, INVALID, Some("metrics_off");
    NotConnected = NOT_FOUND, INVALID, Some("not_connected");
    ConfigNotEditable = UNPROCESSABLE_ENTITY, INVALID, Some("config_not_editable");

    // The proxy and the upstream.
    InternalError = INTERNAL_SERVER_ERROR, SERVER, Some("internal_error");
    StoreError = INTERNAL_SERVER_ERROR, SERVER, Some("store_error");
    ConfigNotWritten = INTERNAL_SERVER_ERROR, SERVER, Some("config_not_written");
    ProxyPaused = SERVICE_UNAVAILABLE, "service_unavailable", Some("proxy_paused");
    DemoUnavailable = SERVICE_UNAVAILABLE, SERVER, Some("demo_unavailable");
    NoAccounts = SERVICE_UNAVAILABLE, SERVER, Some("no_accounts");
    AccountsUnavailable = SERVICE_UNAVAILABLE, SERVER, Some("accounts_unavailable");
    /// Every account is refused alike for its own reasons (credit, sign-in, 429s).
    UpstreamUnavailable = SERVICE_UNAVAILABLE, SERVER, Some("upstream_unavailable");
    ImageUploadsUnavailable = SERVICE_UNAVAILABLE, SERVER, Some("image_uploads_unavailable");
    UpstreamError = BAD_GATEWAY, SERVER, Some("upstream_error");
    UpstreamBlocked = BAD_GATEWAY, SERVER, Some("upstream_blocked");
    UpstreamMisconfigured = BAD_GATEWAY, SERVER, Some("upstream_misconfigured");
    UpstreamCertificateUntrusted = BAD_GATEWAY, SERVER, Some("upstream_certificate_untrusted");
    UpstreamProxyFailed = BAD_GATEWAY, SERVER, Some("upstream_proxy_failed");
    UpstreamNameNotFound = BAD_GATEWAY, SERVER, Some("upstream_name_not_found");
    ImageNotDescribed = BAD_GATEWAY, SERVER, Some("image_not_described");
    UpstreamTimeout = GATEWAY_TIMEOUT, SERVER, Some("upstream_timeout");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_names_one_kind_and_statuses_match_types() {
        let mut codes = std::collections::HashSet::new();
        for kind in ErrorKind::ALL {
            if let Some(code) = kind.code() {
                assert!(codes.insert(code), "{code} names two kinds");
            }
            assert_eq!(
                kind.status().is_server_error(),
                matches!(kind.openai_type(), "server_error" | "service_unavailable"),
                "{kind:?}: a 5xx is a server error, and only a 5xx is"
            );
        }
    }
}

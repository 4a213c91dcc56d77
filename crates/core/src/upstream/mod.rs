//! The on-demand.io client: create a session, submit a query (sync or stream), with either
//! credential kind (§2, §3, §10 of the upstream contract).
//!
//! The client holds no settings of its own: base URLs, agent and timeouts come with each
//! call from the live [`Settings`], so a settings change applies to the next request.

pub mod auth;
pub mod doctor;
pub mod error;
mod events;
mod media;
pub mod probe;
pub mod sse;
pub mod transport;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use self::auth::{AuthEndpoint, Credential, JwtSession};
use self::error::{TimeoutPhase, UpstreamError};
pub use self::events::{Answer, EventStream};
pub use self::media::Upload;
use self::transport::{Lease, Outgoing, Route, Transports};
use crate::config::{ProxyUrl, Settings};
use crate::usage::Metrics;

/// Largest non-stream answer body read from the upstream.
pub(super) const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// Bound on one read of the endpoint catalogue (a background task; never a request's wait),
/// or `request_timeout` if that is shorter.
const CATALOGUE_TIMEOUT: Duration = Duration::from_secs(20);

/// The query body (§3.3). Field names are the upstream's.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryBody<'a> {
    pub query: std::borrow::Cow<'a, str>,
    pub endpoint_id: &'a str,
    /// Always empty: the proxy is a chat relay, and plugins cost credits and latency (§8).
    pub plugin_ids: [&'a str; 0],
    pub response_mode: ResponseMode,
    pub fulfillment_only: bool,
    #[serde(skip_serializing_if = "is_default_configs")]
    pub model_configs: &'a ModelConfigs,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<&'a str>,
}

fn is_default_configs(c: &&ModelConfigs) -> bool {
    **c == ModelConfigs::default()
}

/// The upstream's `modelConfigs` object (§3.3); absent fields are not sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelConfigs {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseMode {
    Sync,
    Stream,
}

/// A non-stream answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncAnswer {
    pub answer: String,
    /// Reasoning, when the answer came as a stream (email/password route variant).
    pub reasoning: String,
    pub metrics: Option<Metrics>,
}

/// Describes a transport error by kind and cause chain, without the URL reqwest prints.
pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "broken response body"
    } else {
        "request failed"
    };
    let mut message = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    message
}

/// Who calls on-demand.io, and which way: an account's credential and its own proxy (`None`
/// takes `upstream_proxy`).
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub credential: &'a Credential,
    pub proxy: Option<&'a ProxyUrl>,
}

#[derive(Debug, Default)]
pub struct UpstreamClient {
    /// The clients of each way out (proxy and trust), built from the live settings.
    transports: Transports,
    /// Where simulated accounts' calls go (the in-process demo upstream), once it runs.
    simulated: arc_swap::ArcSwapOption<String>,
}

pub use crate::config::SIMULATED_KEY_PREFIX;

/// A new simulated account's key.
pub fn simulated_key() -> crate::Secret {
    crate::Secret::random(SIMULATED_KEY_PREFIX)
}

/// Whether an API key is a simulated account's.
pub fn is_simulated(key: &crate::Secret) -> bool {
    key.expose().starts_with(SIMULATED_KEY_PREFIX)
}

#[derive(Clone, Copy)]
enum Call<'a> {
    CreateSession,
    Query(&'a str),
    DeleteSession(&'a str),
}

impl Call<'_> {
    /// The method and path, with `/client` for the email/password routes (§2.2).
    fn request(self, client: bool) -> (reqwest::Method, String) {
        let prefix = if client {
            "/chat/v1/client"
        } else {
            "/chat/v1"
        };
        match self {
            Self::CreateSession => (reqwest::Method::POST, format!("{prefix}/sessions")),
            Self::Query(id) => (
                reqwest::Method::POST,
                format!("{prefix}/sessions/{id}/query"),
            ),
            Self::DeleteSession(id) => (reqwest::Method::DELETE, format!("{prefix}/sessions/{id}")),
        }
    }
}

impl UpstreamClient {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds each way out again from the settings at the next call: after a settings change,
    /// a new proxy or CA file applies to the next request.
    pub fn settings_changed(&self) {
        self.transports.reset();
    }

    /// Sends simulated accounts' calls to `url` (the in-process demo upstream) from now on.
    pub fn simulate_at(&self, url: String) {
        self.simulated.store(Some(Arc::new(url)));
    }

    /// Whether the demo upstream runs (simulated accounts' calls go somewhere).
    pub fn simulating(&self) -> bool {
        self.simulated.load().is_some()
    }

    /// The way out and the URL of `path` for `key`'s account: `base_url` through the
    /// settings' route, or the demo upstream (directly, never through a proxy) for a
    /// simulated account's key. A simulated key with no demo upstream running goes nowhere
    /// (an address that refuses at once), never to on-demand.io.
    fn target(
        &self,
        key: &crate::Secret,
        proxy: Option<&ProxyUrl>,
        settings: &Settings,
        path: &str,
    ) -> Result<(Arc<Route>, String), UpstreamError> {
        if is_simulated(key) {
            let simulated = self.simulated.load();
            let base = simulated
                .as_deref()
                .map_or("http://127.0.0.1:9", String::as_str);
            return Ok((self.transports.direct(settings)?, format!("{base}{path}")));
        }
        Ok((
            self.transports.route(settings, proxy)?,
            format!("{}{path}", settings.base_url),
        ))
    }

    /// A call on `base_url` with an API key (the routes that have no email/password twin:
    /// the catalogue and the Media API), asking for JSON.
    fn keyed(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &crate::Secret,
        proxy: Option<&ProxyUrl>,
        settings: &Settings,
    ) -> Result<(Arc<Route>, Outgoing), UpstreamError> {
        let (route, url) = self.target(key, proxy, settings, path)?;
        let call = route.request(method, &url)?.map(|request| {
            request
                .header("apikey", key.expose())
                .header("user-agent", &settings.user_agent)
                .header("accept", "application/json")
        });
        Ok((route, call))
    }

    /// Sends one authenticated call. For an email/password account a 401 renews the login
    /// once and the call is repeated with the new token.
    async fn send(
        &self,
        caller: Caller<'_>,
        settings: &Settings,
        call: Call<'_>,
        body: Option<&(impl Serialize + ?Sized)>,
        stream: bool,
    ) -> Result<reqwest::Response, UpstreamError> {
        match caller.credential {
            Credential::ApiKey(key) => {
                let (method, path) = call.request(false);
                let (route, url) = self.target(key, caller.proxy, settings, &path)?;
                let request = route
                    .request(method, &url)?
                    .map(|request| request.header("apikey", key.expose()));
                check_status(
                    self.dispatch(&route, request, settings, body, stream)
                        .await?,
                )
                .await
            }
            Credential::Password(login) => {
                let route = self.transports.route(settings, caller.proxy)?;
                let ep = AuthEndpoint {
                    route: &route,
                    auth_base_url: &settings.auth_base_url,
                    user_agent: &settings.user_agent,
                };
                let (method, path) = call.request(true);
                let url = format!("{}{path}", settings.client_base_url);
                let with_jwt = |session: &JwtSession| {
                    Ok::<_, UpstreamError>(route.request(method.clone(), &url)?.map(|request| {
                        let request = request
                            .header(
                                "authorization",
                                format!("Bearer {}", session.token.expose()),
                            )
                            .header("x-company-id", &session.company_id);
                        match call {
                            Call::CreateSession => request.header("x-user-id", &session.user_id),
                            Call::Query(_) | Call::DeleteSession(_) => request,
                        }
                    }))
                };
                let session = login.session(&ep).await?;
                let response = self
                    .dispatch(&route, with_jwt(&session)?, settings, body, stream)
                    .await?;
                if response.status() != reqwest::StatusCode::UNAUTHORIZED {
                    return check_status(response).await;
                }
                let renewed = login.renew(&ep, Some(&session)).await?;
                check_status(
                    self.dispatch(&route, with_jwt(&renewed)?, settings, body, stream)
                        .await?,
                )
                .await
            }
        }
    }

    async fn dispatch(
        &self,
        route: &Route,
        call: Outgoing,
        settings: &Settings,
        body: Option<&(impl Serialize + ?Sized)>,
        stream: bool,
    ) -> Result<reqwest::Response, UpstreamError> {
        let accept = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        let wait = if stream {
            settings.stream_timeout
        } else {
            settings.request_timeout
        };
        let call = call.map(|request| {
            let request = request
                .header("user-agent", &settings.user_agent)
                .header("accept", accept);
            match body {
                Some(body) => request.json(body),
                None => request,
            }
        });
        send_within(route, call, wait).await
    }

    /// `POST /chat/v1/sessions` → the new session's id (`data.id`, any 2xx).
    pub async fn create_session(
        &self,
        caller: Caller<'_>,
        settings: &Settings,
        external_user_id: &str,
    ) -> Result<String, UpstreamError> {
        let body = serde_json::json!({"externalUserId": external_user_id, "pluginIds": []});
        let response = self
            .send(caller, settings, Call::CreateSession, Some(&body), false)
            .await?;
        let body = read_body(response, settings.request_timeout, MAX_ANSWER_BYTES).await?;
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| UpstreamError::Protocol(format!("session answer is not JSON ({e})")))?;
        value["data"]["id"]
            .as_str()
            .or_else(|| value["id"].as_str())
            .filter(|id| {
                !id.is_empty()
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
            .map(str::to_owned)
            .ok_or_else(|| UpstreamError::Protocol("session answer has no usable data.id".into()))
    }

    /// `DELETE /chat/v1/sessions/{id}` (§14.3): any 2xx is a success.
    pub async fn delete_session(
        &self,
        caller: Caller<'_>,
        settings: &Settings,
        session_id: &str,
    ) -> Result<(), UpstreamError> {
        let response = self
            .send(
                caller,
                settings,
                Call::DeleteSession(session_id),
                None::<&()>,
                false,
            )
            .await?;
        finish(response).await;
        Ok(())
    }

    /// `GET /config/v1/public/endpoints` (§14.1) with an API key: the endpoints this key
    /// sees. Email/password accounts have no such route.
    pub async fn list_endpoints(
        &self,
        caller: Caller<'_>,
        settings: &Settings,
        now_ms: i64,
    ) -> Result<Vec<crate::endpoints::Endpoint>, UpstreamError> {
        let Credential::ApiKey(key) = caller.credential else {
            return Err(UpstreamError::Protocol(
                "email/password accounts have no endpoint catalogue".into(),
            ));
        };
        let (route, request) = self.keyed(
            reqwest::Method::GET,
            "/config/v1/public/endpoints",
            key,
            caller.proxy,
            settings,
        )?;
        let wait = settings.request_timeout.min(CATALOGUE_TIMEOUT);
        let response = check_status(send_within(&route, request, wait).await?).await?;
        let body = read_body(response, wait, crate::endpoints::MAX_CATALOGUE_BYTES).await?;
        crate::endpoints::parse(&body, now_ms).map_err(UpstreamError::Protocol)
    }

    /// A sync query. Tolerates an SSE body (the email/password route may stream even in
    /// sync mode, §2.2.5) and an answer without metrics.
    pub async fn query_sync(
        &self,
        caller: Caller<'_>,
        settings: &Settings,
        session_id: &str,
        body: &QueryBody<'_>,
    ) -> Result<SyncAnswer, UpstreamError> {
        let response = self
            .send(caller, settings, Call::Query(session_id), Some(body), false)
            .await?;
        let is_sse = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        let bytes = read_body(response, settings.request_timeout, MAX_ANSWER_BYTES).await?;
        let looks_sse = bytes.starts_with(b"event:") || bytes.starts_with(b"data:");
        if is_sse || looks_sse {
            return events::collect_sse(&bytes);
        }
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| UpstreamError::Protocol(format!("query answer is not JSON ({e})")))?;
        let data = &value["data"];
        if data["status"].as_str() == Some("failed") {
            return Err(UpstreamError::Status {
                status: 200,
                code: Some("query_failed".into()),
                message: "on-demand.io reported the query as failed".into(),
            });
        }
        let Some(answer) = data["answer"].as_str() else {
            return Err(UpstreamError::Protocol(
                "query answer has no data.answer".into(),
            ));
        };
        Ok(SyncAnswer {
            answer: answer.to_owned(),
            reasoning: String::new(),
            metrics: data.get("metrics").and_then(Metrics::from_json),
        })
    }

    /// A stream query: returns once the upstream answered 2xx; events follow.
    pub async fn query_stream(
        &self,
        caller: Caller<'_>,
        settings: &Settings,
        session_id: &str,
        body: &QueryBody<'_>,
    ) -> Result<EventStream, UpstreamError> {
        let mut response = self
            .send(caller, settings, Call::Query(session_id), Some(body), true)
            .await?;
        // The body outlives the answer's head: the lane stays held until the stream ends.
        let lease = response.extensions_mut().remove::<Lease>();
        Ok(EventStream::new(response.bytes_stream(), settings.stream_idle_timeout).holding(lease))
    }
}

pub(super) async fn check_status(
    response: reqwest::Response,
) -> Result<reqwest::Response, UpstreamError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = tokio::time::timeout(Duration::from_secs(10), response.bytes())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    Err(UpstreamError::from_status(status.as_u16(), &body))
}

/// Sends `request` on `route`, bounded by `wait`; transport failures are typed (the way's
/// faults apart), the status unchecked.
pub(super) async fn send_within(
    route: &Route,
    call: Outgoing,
    wait: Duration,
) -> Result<reqwest::Response, UpstreamError> {
    match tokio::time::timeout(wait, call.send()).await {
        Err(_) => Err(UpstreamError::Timeout(TimeoutPhase::Response)),
        Ok(Err(e)) => Err(route.failure(&e)),
        Ok(Ok(response)) => Ok(response),
    }
}

/// Reads an answer whose body is not needed to its end (a few bytes; bounded in size and
/// time). Dropping it unread would reset its HTTP/2 stream, and a server that sees many
/// resets on a connection closes it (h2's servers after 1,024), failing every call on it.
pub(super) async fn finish(response: reqwest::Response) {
    let _ = read_body(response, Duration::from_secs(5), 64 * 1024).await;
}

/// The whole body, bounded by `wait`; one that says it is larger than `limit` is refused
/// unread.
pub(super) async fn read_body(
    response: reqwest::Response,
    wait: Duration,
    limit: usize,
) -> Result<Bytes, UpstreamError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(UpstreamError::Protocol(format!(
            "answer larger than {} MiB",
            limit >> 20
        )));
    }
    match tokio::time::timeout(wait, response.bytes()).await {
        Err(_) => Err(UpstreamError::Timeout(TimeoutPhase::Response)),
        Ok(Err(e)) => Err(UpstreamError::Connect(describe_reqwest(&e))),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

//! The fake's HTTP routes: upstream API, email/password flow, and `/_fake/` control.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::wire::{Frames, answer_for, deltas, metrics_json, tokens_for};
use crate::{Behaviour, FakeOptions, Recorded, Session, Shared, Stage};

/// The state every handler shares.
type Fake = Arc<Shared>;

pub(crate) fn router(shared: Fake) -> Router {
    Router::new()
        .route("/chat/v1/sessions", post(create_session))
        .route("/chat/v1/sessions/{id}", get(get_session))
        .route("/chat/v1/sessions/{id}/query", post(query))
        .route("/chat/v1/client/sessions", post(create_client_session))
        .route("/chat/v1/client/sessions/{id}/query", post(client_query))
        .route("/config/v1/public/endpoints", get(endpoints))
        .route("/v1/auth/user/signin", post(sign_in))
        .route("/v1/auth/user/refresh_token", post(refresh))
        .route(
            "/_fake/requests",
            get(control_requests).delete(control_clear),
        )
        .route("/_fake/behaviour", put(control_default_behaviour))
        .route("/_fake/behaviour/{credential}", put(control_behaviour))
        .route("/_fake/options", put(control_options))
        .fallback(not_found)
        .with_state(shared)
}

fn upstream_error(status: u16, code: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        axum::Json(json!({"message": message, "errorCode": code})),
    )
        .into_response()
}

/// An upstream error answer, small enough to return in a `Result`.
struct Reject(u16, &'static str, &'static str);

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        upstream_error(self.0, self.1, self.2)
    }
}

fn default_message(code: &str) -> &'static str {
    match code {
        "unauthenticated" => "Invalid API Key",
        "unauthorized" => "You are not authorized to access this resource",
        "rate_limit_exceeded" => "Rate limit exceeded",
        "model_error" => "Model failed to generate a response",
        "resource_unavailable" => "Resource unavailable",
        "context_length_exceeded" => "Model context length exceeded",
        "not_found" => "Not found",
        _ => "Input params are missing or invalid",
    }
}

async fn not_found(
    State(shared): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&shared, &method, &uri, &headers, &body, None);
    upstream_error(404, "not_found", "Route not found")
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn record(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    credential: Option<&str>,
) {
    let mut state = shared.lock();
    if !state.options.record {
        return;
    }
    let headers = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect::<HashMap<_, _>>();
    state.recorded.push(Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        headers,
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
        credential: credential.map(str::to_owned),
    });
}

/// The API key of a request, if the fake knows it.
fn api_key(shared: &Shared, headers: &HeaderMap) -> Result<String, Reject> {
    let key = headers
        .get("apikey")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    let state = shared.lock();
    if !key.is_empty() && (state.options.accept_any_key || state.keys.contains(key)) {
        Ok(key.to_owned())
    } else {
        Err(Reject(401, "unauthenticated", "Invalid API Key"))
    }
}

/// The email behind a request's JWT, checking the company header too.
fn jwt_user(shared: &Shared, headers: &HeaderMap) -> Result<String, Reject> {
    let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(Reject(401, "unauthenticated", "No Authorization header"));
    };
    let Some(token) = auth.strip_prefix("Bearer ").filter(|t| !t.is_empty()) else {
        return Err(Reject(401, "unauthenticated", "Token missing from Bearer"));
    };
    let state = shared.lock();
    let Some(email) = state.tokens.get(token) else {
        return Err(Reject(401, "unauthenticated", "Invalid Token"));
    };
    let company = headers.get("x-company-id").and_then(|v| v.to_str().ok());
    match state.users.get(email) {
        Some(user) if company == Some(user.company_id.as_str()) => Ok(email.clone()),
        _ => Err(Reject(403, "unauthorized", "Company mismatch")),
    }
}

fn scripted_failure(shared: &Shared, credential: &str, stage: Stage) -> Option<Response> {
    shared.take_failure(credential, stage).map(|f| {
        let message = f
            .message
            .unwrap_or_else(|| default_message(&f.error_code).to_owned());
        upstream_error(f.status, &f.error_code, &message)
    })
}

async fn create_session(
    State(shared): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = match api_key(&shared, &headers) {
        Ok(key) => key,
        Err(response) => {
            record(&shared, &method, &uri, &headers, &body, None);
            return response.into_response();
        }
    };
    record(&shared, &method, &uri, &headers, &body, Some(&key));
    session_create(&shared, &key, &body)
}

async fn create_client_session(
    State(shared): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let email = match jwt_user(&shared, &headers) {
        Ok(email) => email,
        Err(response) => {
            record(&shared, &method, &uri, &headers, &body, None);
            return response.into_response();
        }
    };
    record(&shared, &method, &uri, &headers, &body, Some(&email));
    if headers.get("x-user-id").is_none() {
        return upstream_error(400, "invalid_request", "x-user-id header is required");
    }
    session_create(&shared, &email, &body)
}

fn session_create(shared: &Shared, owner: &str, body: &[u8]) -> Response {
    if let Some(response) = scripted_failure(shared, owner, Stage::Session) {
        return response;
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return upstream_error(
            400,
            "invalid_request",
            "Input params are missing or invalid",
        );
    };
    let Some(external_user_id) = body.get("externalUserId").and_then(Value::as_str) else {
        return upstream_error(400, "invalid_request", "externalUserId is required");
    };
    let plugin_ids = body
        .get("pluginIds")
        .or_else(|| body.get("agentIds"))
        .cloned()
        .unwrap_or(json!([]));
    if !plugin_ids.is_array() || plugin_ids.as_array().is_some_and(|a| a.len() > 20) {
        return upstream_error(
            400,
            "invalid_request",
            "pluginIds must be an array of at most 20 ids",
        );
    }
    let id = shared.object_id();
    let created_at = now_rfc3339();
    shared.lock().sessions.insert(
        id.clone(),
        Session {
            owner: owner.to_owned(),
            external_user_id: external_user_id.to_owned(),
            created_at: created_at.clone(),
            queries: 0,
        },
    );
    let data = json!({
        "id": id, "companyId": "6a5e00000000000000000001", "externalUserId": external_user_id,
        "pluginIds": plugin_ids, "title": "", "createdBy": owner_id(owner),
        "createdAt": created_at, "updatedAt": created_at,
    });
    (
        StatusCode::CREATED,
        axum::Json(json!({"message": "Chat session created successfully", "data": data})),
    )
        .into_response()
}

/// Never echo a credential back: the owner is shown as a short opaque id.
fn owner_id(owner: &str) -> String {
    format!(
        "{:024x}",
        owner
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
    )
}

async fn get_session(
    State(shared): State<Fake>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let key = match api_key(&shared, &headers) {
        Ok(key) => key,
        Err(response) => return response.into_response(),
    };
    record(&shared, &method, &uri, &headers, &[], Some(&key));
    let state = shared.lock();
    match state.sessions.get(&id) {
        Some(s) if s.owner == key => axum::Json(json!({
            "message": "Chat session fetched successfully",
            "data": {"id": id, "externalUserId": s.external_user_id, "pluginIds": [], "title": "",
                     "createdAt": s.created_at, "updatedAt": s.created_at}
        }))
        .into_response(),
        _ => upstream_error(404, "not_found", "Session not found"),
    }
}

async fn query(
    State(shared): State<Fake>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = match api_key(&shared, &headers) {
        Ok(key) => key,
        Err(response) => {
            record(&shared, &method, &uri, &headers, &body, None);
            return response.into_response();
        }
    };
    record(&shared, &method, &uri, &headers, &body, Some(&key));
    run_query(shared, key, id, &body, false).await
}

async fn client_query(
    State(shared): State<Fake>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let email = match jwt_user(&shared, &headers) {
        Ok(email) => email,
        Err(response) => {
            record(&shared, &method, &uri, &headers, &body, None);
            return response.into_response();
        }
    };
    record(&shared, &method, &uri, &headers, &body, Some(&email));
    run_query(shared, email, id, &body, true).await
}

fn endpoint_ok(options: &FakeOptions, endpoint: &str) -> bool {
    let well_formed = ["predefined-", "byoi-"].iter().any(|p| {
        endpoint.strip_prefix(p).is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
    });
    well_formed
        && options
            .known_endpoints
            .as_ref()
            .is_none_or(|known| known.iter().any(|k| k == endpoint))
}

async fn run_query(
    shared: Fake,
    owner: String,
    session_id: String,
    body: &[u8],
    client_route: bool,
) -> Response {
    let behaviour = shared.behaviour(&owner);
    if behaviour.header_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(behaviour.header_delay_ms)).await;
    }
    if let Some(response) = scripted_failure(&shared, &owner, Stage::Query) {
        return response;
    }
    let options = shared.lock().options.clone();
    {
        let mut state = shared.lock();
        match state.sessions.get_mut(&session_id) {
            Some(s) if s.owner == owner => s.queries += 1,
            _ => return upstream_error(404, "not_found", "Session not found"),
        }
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return upstream_error(
            400,
            "invalid_request",
            "Input params are missing or invalid",
        );
    };
    let text = |k: &str| body.get(k).and_then(Value::as_str);
    let (Some(query), Some(endpoint), Some(mode)) =
        (text("query"), text("endpointId"), text("responseMode"))
    else {
        return upstream_error(
            400,
            "invalid_request",
            "Input params are missing or invalid",
        );
    };
    if query.is_empty() || !matches!(mode, "sync" | "stream" | "webhook") {
        return upstream_error(
            400,
            "invalid_request",
            "Input params are missing or invalid",
        );
    }
    if !endpoint_ok(&options, endpoint) {
        return upstream_error(
            400,
            "invalid_request",
            &format!("Invalid endpointId: {endpoint}"),
        );
    }
    let effort = body.get("reasoningEffort");
    if effort.is_some_and(|e| !matches!(e.as_str(), Some("low" | "medium" | "max"))) {
        return upstream_error(
            400,
            "invalid_request",
            "reasoningEffort must be one of low, medium, max",
        );
    }
    let too_long = query.contains("FAKE_CONTEXT_LENGTH_EXCEEDED")
        || query.chars().count() > options.max_query_chars;
    let message_id = shared.object_id();
    let answer = answer_for(&options.answer_prefix, query);
    let thinking = behaviour.thinking || effort.is_some() || endpoint.contains("deepseek-r1");
    match mode {
        "webhook" => axum::Json(json!({
            "message": "Chat query submitted successfully",
            "data": {"sessionId": session_id, "messageId": message_id, "status": "processing"}
        }))
        .into_response(),
        "stream" => stream_response(
            &shared,
            &behaviour,
            &Turn {
                session_id: &session_id,
                message_id: &message_id,
                query,
                answer: &answer,
                too_long,
                thinking,
            },
        ),
        _ if too_long => upstream_error(
            400,
            "context_length_exceeded",
            "Model context length exceeded",
        ),
        _ if client_route && options.client_sync_as_sse => stream_response(
            &shared,
            &behaviour,
            &Turn {
                session_id: &session_id,
                message_id: &message_id,
                query,
                answer: &answer,
                too_long: false,
                thinking,
            },
        ),
        _ => {
            let metrics = (options.sync_metrics && !behaviour.no_metrics)
                .then(|| metrics_json(tokens_for(query), tokens_for(&answer)));
            let body = format!(
                "{{\"message\":\"Chat query submitted successfully\",\"data\":{{\"sessionId\":\"{session_id}\",\"messageId\":\"{message_id}\",\"answer\":{}{},\"status\":\"completed\"}}}}",
                serde_json::Value::from(answer.as_str()),
                metrics
                    .map(|m| format!(",\"metrics\":{m}"))
                    .unwrap_or_default()
            );
            (
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                body,
            )
                .into_response()
        }
    }
}

/// Builds the frame sequence of §4.1 (and §4.2 with thinking), with the behaviour's faults.
/// One query's facts, as the stream builders need them.
struct Turn<'a> {
    session_id: &'a str,
    message_id: &'a str,
    query: &'a str,
    answer: &'a str,
    /// The query exceeds the context: answer with an `[ERROR]` frame.
    too_long: bool,
    thinking: bool,
}

fn stream_frames(b: &Behaviour, turn: &Turn<'_>) -> Vec<String> {
    let Turn {
        session_id,
        message_id,
        query,
        answer,
        too_long,
        thinking,
    } = *turn;
    let time = now_rfc3339();
    let f = Frames {
        session_id,
        message_id,
        time: &time,
    };
    let mut out = vec![
        f.status(1, "fulfilling", "Fulfilling the prompt...", None),
        f.heartbeat(),
    ];
    if b.unknown_events {
        out.push(f.unknown(2));
    }
    if b.malformed_frame {
        out.push(f.malformed());
    }
    if too_long {
        out.push(f.error("context_length_exceeded", "Model context length exceeded"));
        return out;
    }
    let mut index = 1;
    let mut thinking_index = 0;
    for (n, delta) in deltas(answer).into_iter().enumerate() {
        if b.error_after_deltas == Some(n) {
            let code = b.stream_error_code.as_deref().unwrap_or("model_error");
            out.push(f.error(code, "Model failed to generate a response"));
            return out;
        }
        if thinking {
            thinking_index += 1;
            out.push(f.thinking(thinking_index, &format!("Thinking about part {n}. ")));
        }
        index += 1;
        out.push(f.fulfillment(index, delta));
    }
    if b.error_after_deltas
        .is_some_and(|k| k >= deltas(answer).len())
    {
        let code = b.stream_error_code.as_deref().unwrap_or("model_error");
        out.push(f.error(code, "Model failed to generate a response"));
        return out;
    }
    if b.unknown_events {
        out.push(f.unknown(index + 1));
    }
    out.push(f.status(
        index + 1,
        "fulfillment_completed",
        "Fulfillment completed",
        Some(answer),
    ));
    if !b.no_metrics {
        out.push(f.metrics(index + 2, tokens_for(query), tokens_for(answer)));
    }
    out.push(f.heartbeat());
    out.push(f.done());
    out
}

fn stream_response(shared: &Fake, b: &Behaviour, turn: &Turn<'_>) -> Response {
    let mut frames = stream_frames(b, turn);
    let mut abort = false;
    if let Some(k) = b.cut_after_frames {
        frames.truncate(k);
        abort = b.cut_abruptly;
    }
    let frame_delay = Duration::from_millis(b.frame_delay_ms);
    let split = b.split_writes.filter(|n| *n > 0);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let open = OpenStream::new(shared.clone());
    tokio::spawn(async move {
        let _open = open;
        for (i, frame) in frames.into_iter().enumerate() {
            if i > 0 && !frame_delay.is_zero() {
                tokio::time::sleep(frame_delay).await;
            }
            let bytes = Bytes::from(frame);
            let pieces: Vec<Bytes> = match split {
                Some(n) => (0..bytes.len())
                    .step_by(n)
                    .map(|s| bytes.slice(s..(s + n).min(bytes.len())))
                    .collect(),
                None => vec![bytes],
            };
            for piece in pieces {
                if tx.send(Ok(piece)).await.is_err() {
                    return; // the client went away
                }
            }
        }
        if abort {
            let _ = tx
                .send(Err(std::io::Error::other(
                    "connection dropped by fault injection",
                )))
                .await;
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| upstream_error(500, "server_error", "fake failed to build a stream"))
}

/// Counts a stream writer as open until it is dropped, however it ends.
struct OpenStream(Fake);

impl OpenStream {
    fn new(shared: Fake) -> Self {
        shared
            .open_streams
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(shared)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0
            .open_streams
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn endpoints(State(shared): State<Fake>) -> Response {
    let known = shared
        .lock()
        .options
        .known_endpoints
        .clone()
        .unwrap_or_else(|| {
            [
                "predefined-openai-gpt4o",
                "predefined-claude-3.7-sonnet",
                "predefined-deepseek-r1",
            ]
            .map(String::from)
            .to_vec()
        });
    let data: Vec<Value> = known
        .iter()
        .map(|id| {
            json!({"endpoint_id": id, "endpoint_name": id, "model_id": id, "status": "active",
                   "streaming_supported": true,
                   "reasoning_efforts": if id.contains("r1") { json!(["low", "medium", "max"]) } else { Value::Null }})
        })
        .collect();
    axum::Json(json!({"message": "Endpoints fetched successfully", "data": data})).into_response()
}

fn issue_tokens(shared: &Shared, email: &str) -> (String, String) {
    let token = format!("jwt.{}.{}", shared.object_id(), shared.object_id());
    let refresh = format!("rt.{}", shared.object_id());
    let mut state = shared.lock();
    state.tokens.insert(token.clone(), email.to_owned());
    state
        .refresh_tokens
        .insert(refresh.clone(), email.to_owned());
    (token, refresh)
}

async fn sign_in(
    State(shared): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let Some((email, password)) = basic.as_deref().and_then(|b| b.split_once(':')) else {
        record(&shared, &method, &uri, &headers, &body, None);
        return upstream_error(401, "unauthenticated", "No Authorization header");
    };
    record(&shared, &method, &uri, &headers, &body, Some(email));
    if let Some(response) = scripted_failure(&shared, email, Stage::SignIn) {
        return response;
    }
    let user = shared.lock().users.get(email).cloned();
    let Some(user) = user.filter(|u| u.password == password) else {
        return upstream_error(401, "unauthenticated", "Invalid email or password");
    };
    let (token, refresh) = issue_tokens(&shared, email);
    axum::Json(json!({
        "message": "Signed in successfully",
        "data": {
            "tokenData": {"token": token, "refreshToken": refresh},
            "user": {"userId": user.user_id, "default_company_id": user.company_id, "email": email}
        }
    }))
    .into_response()
}

async fn refresh(
    State(shared): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let rt = parsed["data"]["refreshToken"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let email = shared.lock().refresh_tokens.get(&rt).cloned();
    record(&shared, &method, &uri, &headers, &body, email.as_deref());
    let Some(email) = email else {
        return upstream_error(401, "unauthenticated", "Invalid refresh token");
    };
    if shared.lock().options.fail_refresh {
        return upstream_error(401, "unauthenticated", "Refresh token expired");
    }
    if let Some(response) = scripted_failure(&shared, &email, Stage::Refresh) {
        return response;
    }
    shared.lock().refresh_tokens.remove(&rt);
    let (token, refresh) = issue_tokens(&shared, &email);
    axum::Json(
        json!({"message": "Token refreshed", "data": {"token": token, "refreshToken": refresh}}),
    )
    .into_response()
}

async fn control_requests(State(shared): State<Fake>) -> Response {
    axum::Json(shared.lock().recorded.clone()).into_response()
}

async fn control_clear(State(shared): State<Fake>) -> StatusCode {
    shared.lock().recorded.clear();
    StatusCode::NO_CONTENT
}

async fn control_behaviour(
    State(shared): State<Fake>,
    Path(credential): Path<String>,
    axum::Json(b): axum::Json<Behaviour>,
) -> StatusCode {
    shared.lock().behaviours.insert(credential, b);
    StatusCode::NO_CONTENT
}

async fn control_default_behaviour(
    State(shared): State<Fake>,
    axum::Json(b): axum::Json<Behaviour>,
) -> StatusCode {
    shared.lock().default_behaviour = b;
    StatusCode::NO_CONTENT
}

async fn control_options(
    State(shared): State<Fake>,
    axum::Json(o): axum::Json<FakeOptions>,
) -> StatusCode {
    shared.lock().options = o;
    StatusCode::NO_CONTENT
}

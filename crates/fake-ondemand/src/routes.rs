//! The fake's HTTP routes: the API-key chat API, the endpoint catalogue, and `/_fake/` control.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use crate::caller::{ApiKey, Caller, Jwt, Seen};
use crate::query::{client_query, query};
use crate::{Behaviour, FakeOptions, Session, Shared, Stage};
use crate::{auth, media};

/// The state every handler shares.
pub(crate) type Fake = Arc<Shared>;

pub(crate) fn router(shared: Fake) -> Router {
    let upstream = Router::new()
        .route("/chat/v1/sessions", post(create_session))
        .route(
            "/chat/v1/sessions/{id}",
            get(get_session).delete(delete_session),
        )
        .route(
            "/chat/v1/client/sessions/{id}",
            axum::routing::delete(delete_client_session),
        )
        .route("/chat/v1/sessions/{id}/query", post(query))
        .route("/chat/v1/client/sessions", post(create_client_session))
        .route("/chat/v1/client/sessions/{id}/query", post(client_query))
        .route("/config/v1/public/endpoints", get(endpoints))
        .route(
            "/media/v1/public/file/raw",
            post(media::upload_raw).layer(axum::extract::DefaultBodyLimit::max(64 << 20)),
        )
        .route("/media/v1/public/file", post(media::upload_url))
        .route(
            "/media/v1/public/file/{id}",
            axum::routing::delete(media::delete),
        )
        .route(
            "/media/v1/client/{*rest}",
            axum::routing::any(media::client_route),
        )
        .route(
            "/v1/chat/completions",
            post(crate::openai::chat_completions),
        )
        .route("/v1/auth/user/signin", post(auth::sign_in))
        .route("/v1/auth/user/refresh_token", post(auth::refresh));
    // The control routes read every recorded prompt and script the answers: only for tests
    // and benchmarks, never in the demo, where any local user could reach them.
    let routes = if shared.lock().options.control_routes {
        upstream
            .route(
                "/_fake/requests",
                get(control_requests).delete(control_clear),
            )
            .route("/_fake/behaviour", put(control_default_behaviour))
            .route("/_fake/behaviour/{credential}", put(control_behaviour))
            .route("/_fake/options", put(control_options))
    } else {
        upstream
    };
    routes
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            firewall,
        ))
        .with_state(shared)
}

/// Cloudflare's block page for a banned machine or user agent (error 1010, §1, §14.2).
const FIREWALL_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Access denied | api.on-demand.io used Cloudflare to restrict access</title></head>\n<body><h1>Error 1010</h1><p>Access denied</p><span class=\"cf-error-code\">1010</span><p>The owner of this website (api.on-demand.io) has banned your access based on your browser's signature (browser_signature_banned).</p><p>Error code: 1010</p></body></html>\n";

async fn firewall(
    State(shared): State<Fake>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let blocked = shared.lock().options.firewall && !request.uri().path().starts_with("/_fake/");
    if !blocked {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let seen = Seen {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
    };
    seen.record(&shared, None);
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html; charset=UTF-8")],
        FIREWALL_PAGE,
    )
        .into_response()
}

pub(crate) fn upstream_error(status: u16, code: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        axum::Json(json!({"message": message, "errorCode": code})),
    )
        .into_response()
}

/// An upstream error answer, small enough to return in a `Result`.
pub(crate) struct Reject(
    pub(crate) u16,
    pub(crate) &'static str,
    pub(crate) &'static str,
);

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

async fn not_found(State(shared): State<Fake>, seen: Seen) -> Response {
    seen.record(&shared, None);
    gateway_404(&shared)
}

/// The gateway in front of the API answers unknown routes itself (Kong, §1).
fn gateway_404(shared: &Shared) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({
            "message": "no Route matched with those values",
            "request_id": shared.object_id(),
        })),
    )
        .into_response()
}

pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

pub(crate) fn scripted_failure(
    shared: &Shared,
    credential: &str,
    stage: Stage,
) -> Option<Response> {
    shared.take_failure(credential, stage).map(|f| {
        let message = f
            .message
            .unwrap_or_else(|| default_message(&f.error_code).to_owned());
        upstream_error(f.status, &f.error_code, &message)
    })
}

async fn create_session(
    State(shared): State<Fake>,
    Caller { who: key, seen, .. }: Caller<ApiKey>,
) -> Response {
    session_create(&shared, &key, &seen.body)
}

async fn create_client_session(
    State(shared): State<Fake>,
    Caller {
        who: email, seen, ..
    }: Caller<Jwt>,
) -> Response {
    if seen.headers.get("x-user-id").is_none() {
        return upstream_error(400, "invalid_request", "x-user-id header is required");
    }
    session_create(&shared, &email, &seen.body)
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
            tools: None,
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
    Caller { who: key, .. }: Caller<ApiKey>,
) -> Response {
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

async fn delete_session(
    State(shared): State<Fake>,
    Path(id): Path<String>,
    Caller { who: key, .. }: Caller<ApiKey>,
) -> Response {
    session_delete(&shared, &key, &id).await
}

async fn delete_client_session(
    State(shared): State<Fake>,
    Path(id): Path<String>,
    Caller {
        who: email,
        seen: _,
        ..
    }: Caller<Jwt>,
) -> Response {
    session_delete(&shared, &email, &id).await
}

/// `DELETE /chat/v1/sessions/{id}` (§14.3): 200 and the session is gone.
async fn session_delete(shared: &Shared, owner: &str, id: &str) -> Response {
    let delay = shared.lock().options.delete_delay_ms;
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut state = shared.lock();
    let not_found = state.options.delete_not_found;
    match state.sessions.get(id) {
        Some(s) if s.owner == owner => {
            state.sessions.remove(id);
            if not_found {
                return upstream_error(404, "not_found", "Session not found");
            }
            axum::Json(json!({"message": "Chat session deleted successfully"})).into_response()
        }
        _ => upstream_error(404, "not_found", "Session not found"),
    }
}

/// `GET /config/v1/public/endpoints` (§14.1): the catalogue this key sees.
async fn endpoints(
    State(shared): State<Fake>,
    Caller { who: key, .. }: Caller<ApiKey>,
) -> Response {
    let options = shared.lock().options.clone();
    if options.no_catalogue_route {
        return gateway_404(&shared);
    }
    if options.catalogue_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(options.catalogue_delay_ms)).await;
    }
    if options.catalogue_fails {
        return upstream_error(500, "server_error", "Internal server error");
    }
    let hidden = shared.behaviour(&key).hidden_endpoints;
    let visible: Vec<crate::FakeEndpoint> = options
        .endpoints
        .into_iter()
        .filter(|e| !hidden.contains(&e.id))
        .collect();
    axum::Json(crate::catalogue::answer(
        &visible,
        options.catalogue_envelope,
    ))
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

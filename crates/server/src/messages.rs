//! The Anthropic Messages routes: `POST /v1/messages` and `POST /v1/messages/count_tokens`.
//! A request is admitted and planned as every dialect's is; this module only translates.
//! Every error on these routes, the client token's refusal included, is answered in
//! Anthropic's envelope, and every answer carries a `request-id`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ondemand_core::anthropic::encode::{self, MessageEncoder};
use ondemand_core::anthropic::{self, MessagesRequest};
use ondemand_core::chat::{self, PlanError};
use ondemand_core::openai::ErrorObject;
use ondemand_core::tokens::ClientToken;
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::read_json;
use crate::v1::body_limit;
use crate::v1::{self, Asking};

impl Asking for MessagesRequest {
    const DIALECT: &'static str = "messages";
    fn model(&self) -> &str {
        &self.model
    }
    fn stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }
}

/// The chat request a Messages request stands for, with its notes, or the refusal.
fn decode(request: MessagesRequest) -> Result<anthropic::Decoded, ApiError> {
    anthropic::decode(request).map_err(|e| ApiError::from(anthropic::in_dialect(e)))
}

pub async fn messages(
    State(state): State<AppState>,
    Extension(token): Extension<Arc<ClientToken>>,
    request: Request,
) -> Response {
    let (mut record, parsed) = match v1::admit::<MessagesRequest>(&state, &token, request).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let decoded = match decode(parsed) {
        Ok(decoded) => decoded,
        Err(e) => return v1::refuse(&mut record, e),
    };
    match v1::plan(&state, &token, &mut record, decoded.request) {
        Ok(mut plan) => {
            if !decoded.notes.is_empty() {
                plan.notes.extend(decoded.notes);
                record.event.notes = Some(plan.notes.join("\n"));
            }
            v1::answer(&state, plan, record, MessageEncoder::new, |plan, done| {
                std::future::ready(Json(encode::message(plan, &done)).into_response())
            })
            .await
        }
        Err(e) => v1::refuse(&mut record, ApiError::from(anthropic::in_dialect(e))),
    }
}

/// The tokens the request's prompt would take, as the proxy sends it upstream (its tools
/// and system part included). Nothing goes upstream and no usage is recorded.
pub async fn count_tokens(
    State(state): State<AppState>,
    Extension(token): Extension<Arc<ClientToken>>,
    request: Request,
) -> Response {
    let settings = state.engine().settings();
    // Counting is a request like any other: it takes its turn under the token's rate limit.
    let rpm = token.limits.rpm.unwrap_or(settings.rate_limit);
    if let Err(wait) =
        state
            .engine()
            .rate_limiter
            .check(&token.name, rpm, std::time::Instant::now())
    {
        return ApiError::rate_limited(rpm, wait).into_response();
    }
    let parsed: MessagesRequest = match read_json(request, body_limit(&settings)).await {
        Ok(parsed) => parsed,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = chat::check_model(&parsed.model) {
        return ApiError::from(e).into_response();
    }
    if !token.allows(&parsed.model) {
        return ApiError::model_not_allowed(&parsed.model).into_response();
    }
    let planned = decode(parsed).and_then(|decoded| {
        let engine = state.engine();
        chat::plan(
            decoded.request,
            &engine.catalog(),
            &engine.endpoints(),
            &settings,
            &token.name,
        )
        .map_err(|e: PlanError| ApiError::from(anthropic::in_dialect(e)))
    });
    let query = match planned {
        Ok(plan) => plan.query,
        Err(e) => return e.into_response(),
    };
    // Counting a long prompt is CPU work: off the runtime's threads.
    match tokio::task::spawn_blocking(move || ondemand_core::usage::count_tokens(&query)).await {
        Ok(tokens) => Json(json!({"input_tokens": tokens})).into_response(),
        Err(_) => {
            ApiError::internal("internal_error", "The tokens could not be counted.").into_response()
        }
    }
}

/// Largest error body converted (every error the proxy writes is far smaller).
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// Answers on these routes in Anthropic's terms: an error in the OpenAI envelope (from the
/// shared admission, the token check, a body limit) becomes Anthropic's envelope with the
/// same status and headers; every answer gets a `request-id`.
pub async fn in_anthropic_terms(response: Response) -> Response {
    let status = response.status();
    let mut response = if status.is_client_error() || status.is_server_error() {
        let (mut parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_ERROR_BYTES)
            .await
            .unwrap_or_default();
        let error: Option<ErrorObject> = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                let e = v.get("error")?;
                Some(ErrorObject {
                    message: e.get("message")?.as_str()?.to_owned(),
                    kind: "error",
                    param: e.get("param").and_then(|p| p.as_str()).map(str::to_owned),
                    code: None,
                })
            });
        let error = error.unwrap_or_else(|| ErrorObject {
            message: String::from_utf8_lossy(&bytes).into_owned(),
            kind: "error",
            param: None,
            code: None,
        });
        let body = encode::error_body(status.as_u16(), &error).to_string();
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Response::from_parts(parts, Body::from(body))
    } else {
        response
    };
    let id = format!("req_{}", encode::message_id().trim_start_matches("msg_"));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("request-id", value);
    }
    response
}

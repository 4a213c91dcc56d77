//! The Anthropic Messages routes: `POST /v1/messages` and `POST /v1/messages/count_tokens`.
//! A request is admitted and planned as every dialect's is; this module only translates.
//! Every error on these routes, the client token's refusal included, is answered in
//! Anthropic's envelope (rendered from the typed error, [`in_anthropic_terms`]), and every
//! answer carries a `request-id`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ondemand_core::anthropic::encode::{self, MessageEncoder};
use ondemand_core::anthropic::{self, MessagesRequest};
use serde_json::json;

use super::pipeline::{Admitted, Answering, Counting};
use crate::AppState;
use crate::error::{ApiError, Carried, ErrorKind};

pub async fn messages(
    State(state): State<AppState>,
    Admitted(request, mut admission): Answering<MessagesRequest>,
) -> Result<Response, Response> {
    let decoded = anthropic::decode(request).map_err(|e| admission.refuse_plan(e))?;
    let mut plan = admission.plan(&state, decoded.request)?;
    if !decoded.notes.is_empty() {
        plan.notes.extend(decoded.notes);
        admission.keeping.event.notes = Some(plan.notes.join("\n"));
    }
    let whole =
        |plan: &_, done| std::future::ready(Json(encode::message(plan, &done)).into_response());
    Ok(admission
        .answer(&state, plan, MessageEncoder::new, whole)
        .await)
}

/// The tokens the request's prompt would take, as the proxy sends it upstream (its tools
/// and system part included). Admitted as every request is, under the token's rate limit;
/// nothing goes upstream, nothing is reserved and no usage is recorded.
pub async fn count_tokens(
    State(state): State<AppState>,
    Admitted(request, mut admission): Admitted<Counting, MessagesRequest>,
) -> Result<Response, Response> {
    let decoded = anthropic::decode(request).map_err(|e| admission.refuse_plan(e))?;
    let query = admission.plan(&state, decoded.request)?.query;
    // Counting a long prompt is CPU work: off the runtime's threads.
    match tokio::task::spawn_blocking(move || ondemand_core::usage::count_tokens(&query)).await {
        Ok(tokens) => Ok(Json(json!({"input_tokens": tokens})).into_response()),
        Err(_) => Err(
            ApiError::new(ErrorKind::InternalError, "The tokens could not be counted.")
                .into_response(),
        ),
    }
}

/// Answers on these routes in Anthropic's terms: an error (from admission, the token check,
/// a body limit, the handler) is rendered again in Anthropic's envelope from the typed error
/// it carries, with the same status and headers; every answer gets a `request-id`.
pub async fn in_anthropic_terms(mut response: Response) -> Response {
    if let Some(Carried(error)) = response.extensions_mut().remove::<Carried>() {
        let body = encode::error_body(response.status().as_u16(), &error).to_string();
        let headers = response.headers_mut();
        headers.remove(header::CONTENT_LENGTH);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        *response.body_mut() = Body::from(body);
    }
    let id = format!("req_{}", encode::message_id().trim_start_matches("msg_"));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("request-id", value);
    }
    response
}

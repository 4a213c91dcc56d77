//! The OpenAI routes: `GET /v1/models`, `GET /v1/models/{id}`, `POST /v1/chat/completions`.

use std::collections::VecDeque;
use std::time::Instant;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ondemand_core::chat::{self, ChatPlan};
use ondemand_core::engine::OpenedStream;
use ondemand_core::openai::{ChatCompletionRequest, ErrorObject, ModelEntry, ModelList};
use ondemand_core::relay::{self, ChunkEncoder};
use ondemand_core::upstream::EventStream;
use ondemand_core::upstream::sse::UpstreamEvent;
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;

/// Models are listed with a fixed creation time: the upstream publishes none.
const MODEL_CREATED: u64 = 1_735_689_600;

pub async fn index() -> Response {
    Json(json!({
        "service": "OnDemand Proxy",
        "openai_base_url": "/v1",
        "docs": "Point an OpenAI client at this server's /v1 with the proxy's client token."
    }))
    .into_response()
}

pub async fn health() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

fn model_entry(id: &str) -> ModelEntry {
    ModelEntry {
        id: id.to_owned(),
        object: "model",
        created: MODEL_CREATED,
        owned_by: "on-demand.io",
    }
}

pub async fn list_models(State(state): State<AppState>) -> Response {
    let catalog = state.engine().catalog();
    let data = catalog
        .aliases()
        .map(|(alias, _)| model_entry(alias))
        .collect();
    Json(ModelList {
        object: "list",
        data,
    })
    .into_response()
}

pub async fn get_model(State(state): State<AppState>, Path(model): Path<String>) -> Response {
    match state.engine().catalog().resolve(&model) {
        Ok(_) => Json(model_entry(&model)).into_response(),
        Err(e) => ApiError::from(chat::PlanError::from(e)).into_response(),
    }
}

/// Reads and parses the body under the live size limit, whatever the content type
/// (curl users often forget it), naming the offending field on a type error.
async fn read_request(
    state: &AppState,
    request: Request,
) -> Result<ChatCompletionRequest, ApiError> {
    let limit = state.engine().settings().max_body_bytes;
    let bytes = axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|_| ApiError::too_large(limit))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "The request body is empty; send a JSON chat completion request.",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| ApiError::bad_body(&e))
}

pub async fn chat_completions(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let parsed = match read_request(&state, request).await {
        Ok(parsed) => parsed,
        Err(e) => return e.into_response(),
    };
    let plan = match chat::plan(
        parsed,
        &state.engine().catalog(),
        &state.engine().settings(),
    ) {
        Ok(plan) => plan,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if plan.stream {
        match state.engine().open_stream(&plan).await {
            Ok(opened) => stream_response(plan, opened, started),
            Err(e) => {
                tracing::warn!(model = %plan.model, error = %e, "stream request failed before any content");
                ApiError::from(e).into_response()
            }
        }
    } else {
        match state.engine().complete(&plan).await {
            Ok(done) => {
                let body = relay::completion(&plan, done.answer);
                tracing::info!(
                    model = %plan.model, account = %done.account.name, attempts = done.attempts,
                    prompt_tokens = body.usage.prompt_tokens, completion_tokens = body.usage.completion_tokens,
                    estimated = body.usage.estimated, ms = started.elapsed().as_millis() as u64, "chat completion"
                );
                Json(body).into_response()
            }
            Err(e) => {
                tracing::warn!(model = %plan.model, error = %e, "chat completion failed");
                ApiError::from(e).into_response()
            }
        }
    }
}

/// The state of one relayed stream.
struct Relay {
    plan: ChatPlan,
    encoder: ChunkEncoder,
    first: VecDeque<UpstreamEvent>,
    rest: EventStream,
    account: String,
    started: Instant,
    opened: bool,
    finished: bool,
}

impl Relay {
    /// The next bytes for the client, or `None` when the stream is over.
    async fn next(&mut self) -> Option<Bytes> {
        if self.finished {
            return None;
        }
        if !self.opened {
            self.opened = true;
            return Some(self.encoder.start());
        }
        loop {
            let event = match self.first.pop_front() {
                Some(event) => Ok(event),
                None => self.rest.next().await.unwrap_or(Err(
                    ondemand_core::upstream::error::UpstreamError::Truncated,
                )),
            };
            match event {
                Ok(UpstreamEvent::Done) => {
                    self.finished = true;
                    let usage = self.encoder.usage(&self.plan.query);
                    tracing::info!(
                        model = %self.plan.model, account = %self.account, prompt_tokens = usage.prompt_tokens,
                        completion_tokens = usage.completion_tokens, estimated = usage.estimated,
                        ms = self.started.elapsed().as_millis() as u64, "chat stream"
                    );
                    return Some(self.encoder.finish(&self.plan.query));
                }
                Ok(event) => {
                    if let Some(bytes) = self.encoder.event(event) {
                        return Some(bytes);
                    }
                }
                Err(error) => {
                    self.finished = true;
                    tracing::warn!(model = %self.plan.model, account = %self.account, %error, "stream failed after content was sent");
                    return Some(self.encoder.fail(ErrorObject {
                        message: format!(
                            "The on-demand.io stream failed after the answer had started: {error}"
                        ),
                        kind: "server_error",
                        param: None,
                        code: Some("upstream_stream_error".into()),
                    }));
                }
            }
        }
    }
}

fn stream_response(plan: ChatPlan, opened: OpenedStream, started: Instant) -> Response {
    let relay = Relay {
        encoder: ChunkEncoder::new(&plan),
        plan,
        first: opened.first.into(),
        rest: opened.rest,
        account: opened.account.name.clone(),
        started,
        opened: false,
        finished: false,
    };
    // Dropping the body (client gone) drops the relay and with it the upstream connection.
    let body = futures_util::stream::unfold(relay, |mut relay| async move {
        relay
            .next()
            .await
            .map(|bytes| (Ok::<_, std::convert::Infallible>(bytes), relay))
    });
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

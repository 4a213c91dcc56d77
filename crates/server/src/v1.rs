//! The OpenAI routes: `GET /v1/models`, `GET /v1/models/{id}`, `POST /v1/chat/completions`,
//! `POST /v1/completions`;
//! and what every dialect's request goes through: admission, planning, answering (whole, or
//! streamed through the dialect's [`Encoder`]).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ondemand_core::Engine;
use ondemand_core::chat::{self, ChatPlan};
use ondemand_core::completions::{self, CompletionRequest, TextEncoder};
use ondemand_core::engine::{ChatStream, Completion, Refusal, StreamEvent};
use ondemand_core::openai::{ChatCompletionRequest, ModelEntry, ModelList};
use ondemand_core::record::{self, RequestRecord};
use ondemand_core::relay::{self, ChunkEncoder, Encoder};
use ondemand_core::tokens::ClientToken;
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{PathText, read_json};

/// Models are listed with a fixed creation time: the upstream publishes none.
const MODEL_CREATED: u64 = 1_735_689_600;

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

/// The aliases this token may use.
pub async fn list_models(
    State(state): State<AppState>,
    Extension(token): Extension<Arc<ClientToken>>,
) -> Response {
    let catalog = state.engine().catalog();
    let data = catalog
        .listed(&state.engine().endpoints())
        .iter()
        .filter(|name| token.allows(name))
        .map(|name| model_entry(name))
        .collect();
    Json(ModelList {
        object: "list",
        data,
    })
    .into_response()
}

pub async fn get_model(
    State(state): State<AppState>,
    Extension(token): Extension<Arc<ClientToken>>,
    PathText(model): PathText,
) -> Response {
    if let Err(e) = chat::check_model(&model) {
        return ApiError::from(e).into_response();
    }
    if !token.allows(&model) {
        return ApiError::model_not_allowed(&model).into_response();
    }
    match state
        .engine()
        .catalog()
        .resolve_live(&model, &state.engine().endpoints())
    {
        Ok(_) => Json(model_entry(&model)).into_response(),
        Err(e) => ApiError::from(chat::PlanError::from(e)).into_response(),
    }
}

/// The bound on a `/v1` request's body, from the settings.
pub(crate) fn body_limit(
    settings: &ondemand_core::config::Settings,
) -> crate::extract::BodyLimit<'static> {
    crate::extract::BodyLimit {
        bytes: settings.max_body_bytes,
        setting: Some("max_body_bytes"),
        time: settings.body_read_timeout,
    }
}

/// A request body of some dialect: what admission reads before the dialect's own checks.
pub(crate) trait Asking: serde::de::DeserializeOwned {
    /// The dialect's name in the usage log.
    const DIALECT: &'static str;
    fn model(&self) -> &str;
    fn stream(&self) -> bool;
}

impl Asking for ChatCompletionRequest {
    const DIALECT: &'static str = "chat";
    fn model(&self) -> &str {
        &self.model
    }
    fn stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }
}

/// What every dialect's request goes through first: the token's quota reserved, its rate
/// limit, the body read within `max_body_bytes`, the model named and allowed. Any refusal is
/// noted on the request's record (written when it drops) and answered.
pub(crate) async fn admit<T: Asking>(
    state: &AppState,
    token: &Arc<ClientToken>,
    request: Request,
) -> Result<(RequestRecord, T), Response> {
    let engine = state.engine();
    let settings = engine.settings();
    let sink = settings.record_usage.then(|| state.usage().clone());
    let mut record = engine.record(sink, &settings, token.clone());
    record.event.client = client_of(request.headers()).into();
    record.event.dialect = T::DIALECT.into();
    let shared = engine.tokens.len() > 1;
    if let Err(refusal) = record.reserve(settings.max_concurrent_upstream, shared) {
        return Err(refuse(&mut record, ApiError::from(refusal)));
    }
    let rpm = token.limits.rpm.unwrap_or(settings.rate_limit);
    if let Err(wait) = engine
        .rate_limiter
        .check(&token.name, rpm, std::time::Instant::now())
    {
        return Err(refuse(&mut record, ApiError::rate_limited(rpm, wait)));
    }
    let parsed: T = match read_json(request, body_limit(&settings)).await {
        Ok(parsed) => parsed,
        Err(e) => return Err(refuse(&mut record, e)),
    };
    record.event.stream = parsed.stream();
    // Checked before the name is stored or echoed anywhere.
    if let Err(e) = chat::check_model(parsed.model()) {
        return Err(refuse(&mut record, ApiError::from(e)));
    }
    record.event.model = parsed.model().to_owned();
    if !token.allows(parsed.model()) {
        return Err(refuse(
            &mut record,
            ApiError::model_not_allowed(parsed.model()),
        ));
    }
    Ok((record, parsed))
}

/// The client family a request's headers show.
fn client_of(headers: &axum::http::HeaderMap) -> &'static str {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let title = [header("x-title"), header("http-referer")].join(" ");
    record::client_family(header("user-agent"), &title)
}

/// Plans a request (in Chat Completions' terms, whatever its dialect) for this token.
pub(crate) fn plan(
    state: &AppState,
    token: &ClientToken,
    record: &mut RequestRecord,
    request: ChatCompletionRequest,
) -> Result<ChatPlan, chat::PlanError> {
    let engine = state.engine();
    let plan = chat::plan(
        request,
        &engine.catalog(),
        &engine.endpoints(),
        &engine.settings(),
        &token.name,
    )?;
    record.event.endpoint_id = Some(plan.endpoint_id.clone());
    record.event.model_label = Some(plan.model_label.clone());
    record.event.notes = (!plan.notes.is_empty()).then(|| plan.notes.join("\n"));
    Ok(plan)
}

/// Answers a planned request, once its prompt's tokens are reserved of the token's quota: a
/// stream through the dialect's `encoder`, or the whole answer through `whole`.
pub(crate) async fn answer<E, W>(
    state: &AppState,
    plan: ChatPlan,
    mut record: RequestRecord,
    encoder: impl FnOnce(&ChatPlan) -> E,
    whole: impl FnOnce(&ChatPlan, Completion) -> W,
) -> Response
where
    E: Encoder,
    W: Future<Output = Response>,
{
    let engine = state.engine();
    if let Err(refusal) = record.reserve_tokens(&plan.query) {
        return refuse(&mut record, ApiError::from(refusal));
    }
    if plan.stream {
        let settings = engine.settings();
        let encoder = encoder(&plan);
        let keepalive = settings.stream_keepalive;
        return stream(state.engine_arc(), plan, record, keepalive, encoder).await;
    }
    match engine.complete(&plan, record).await {
        Ok(done) => whole(&plan, done).await,
        Err(Refusal { error, record: r }) => {
            record = r;
            refuse(&mut record, ApiError::from(error))
        }
    }
}

pub async fn chat_completions(
    State(state): State<AppState>,
    Extension(token): Extension<Arc<ClientToken>>,
    request: Request,
) -> Response {
    let (mut record, parsed) = match admit::<ChatCompletionRequest>(&state, &token, request).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    match plan(&state, &token, &mut record, parsed) {
        Ok(plan) => {
            answer(&state, plan, record, ChunkEncoder::new, |plan, done| {
                std::future::ready(Json(relay::completion(plan, done)).into_response())
            })
            .await
        }
        Err(e) => refuse(&mut record, ApiError::from(e)),
    }
}

/// Notes the refusal on the request's record (written when it drops) and answers with it.
pub(crate) fn refuse(record: &mut RequestRecord, error: ApiError) -> Response {
    record.refused(error.status.as_u16(), error.error.code.clone());
    error.into_response()
}

type Opening = Pin<Box<dyn Future<Output = Result<ChatStream, Refusal>> + Send>>;

/// A stream request. A quick answer or failure (within one keep-alive interval) gets a
/// normal response, with a real status on failure. A slow one is committed as `200` and
/// kept alive with SSE comments until the upstream's first content; a failure after that
/// arrives as an error event.
async fn stream<E: Encoder>(
    engine: Arc<Engine>,
    plan: ChatPlan,
    mut record: RequestRecord,
    keepalive: Duration,
    encoder: E,
) -> Response {
    let mut opening: Opening = Box::pin(async move { engine.open_stream(plan, record).await });
    let phase = match tokio::time::timeout(keepalive, &mut opening).await {
        Ok(Ok(stream)) => Phase::Open(Box::new(stream), false),
        Ok(Err(Refusal { error, record: r })) => {
            record = r;
            return refuse(&mut record, ApiError::from(error));
        }
        // Committed from here on: a failure is an error event inside a 200.
        Err(_) => Phase::Waiting(opening),
    };
    let relay = Relay {
        phase,
        encoder,
        keepalive,
    };
    // The client's connection pulls the relay as it writes: a client that goes away drops it
    // at once, and one that reads nothing for `stream_write_timeout` has its connection cut
    // (`stall`), which drops it too, with the core stream and the upstream slot it held.
    let body = futures_util::stream::unfold(relay, |mut relay| async move {
        let bytes = relay.next().await?;
        Some((Ok::<_, std::convert::Infallible>(bytes), relay))
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

enum Phase {
    /// Committed, still waiting for the upstream's first content.
    Waiting(Opening),
    /// Streaming; the flag says whether the role chunk went out.
    Open(Box<ChatStream>, bool),
    Done,
}

/// The HTTP side of one relayed stream: keep-alives while waiting, then the encoder.
struct Relay<E> {
    phase: Phase,
    encoder: E,
    keepalive: Duration,
}

impl<E: Encoder> Relay<E> {
    /// The next bytes for the client, or `None` when the stream is over.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            match &mut self.phase {
                Phase::Done => return None,
                Phase::Waiting(opening) => {
                    let mut tick = tokio::time::interval_at(
                        tokio::time::Instant::now() + self.keepalive,
                        self.keepalive,
                    );
                    tokio::select! {
                        result = opening => match result {
                            Ok(stream) => self.phase = Phase::Open(Box::new(stream), false),
                            Err(Refusal { error, mut record }) => {
                                let error = ApiError::from(error);
                                // The 200 went out already; the row keeps the real failure.
                                record.refused(200, error.error.code.clone());
                                self.phase = Phase::Done;
                                return Some(self.encoder.refused(error.status.as_u16(), error.error));
                            }
                        },
                        _ = tick.tick() => return Some(self.encoder.keepalive()),
                    }
                }
                Phase::Open(stream, role_sent) => {
                    if !*role_sent {
                        *role_sent = true;
                        return Some(self.encoder.start());
                    }
                    let event = stream.next().await?;
                    if matches!(event, StreamEvent::Done { .. } | StreamEvent::Failed(_)) {
                        let bytes = self.encoder.event(&event);
                        self.phase = Phase::Done;
                        // What the answer leaves behind (a stored response) is in place
                        // before the client hears it is complete.
                        if let Some(settling) = self.encoder.settle() {
                            settling.await;
                        }
                        return Some(bytes);
                    }
                    return Some(self.encoder.event(&event));
                }
            }
        }
    }
}

impl Asking for CompletionRequest {
    const DIALECT: &'static str = "completions";
    fn model(&self) -> &str {
        &self.model
    }
    fn stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }
}

/// Legacy completions: a prompt in, `text_completion` objects out.
pub async fn completions(
    State(state): State<AppState>,
    Extension(token): Extension<Arc<ClientToken>>,
    request: Request,
) -> Response {
    let (mut record, parsed) = match admit::<CompletionRequest>(&state, &token, request).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let decoded = match completions::decode(parsed) {
        Ok(decoded) => decoded,
        Err(e) => return refuse(&mut record, ApiError::from(e)),
    };
    let echo = decoded.echo;
    match plan(&state, &token, &mut record, decoded.request) {
        Ok(plan) => {
            let whole_echo = echo.clone();
            answer(
                &state,
                plan,
                record,
                move |plan| TextEncoder::new(plan, echo),
                move |plan, done| {
                    let body = completions::completion(plan, whole_echo.as_deref(), &done);
                    std::future::ready(Json(body).into_response())
                },
            )
            .await
        }
        Err(e) => refuse(&mut record, ApiError::from(e)),
    }
}

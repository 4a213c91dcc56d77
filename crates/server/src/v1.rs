//! The OpenAI routes: `GET /v1/models`, `GET /v1/models/{id}`, `POST /v1/chat/completions`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::{Body, Bytes};
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ondemand_core::chat::{self, ChatPlan};
use ondemand_core::engine::{Attempts, DispatchError, Hold, OpenedStream, SessionUse};
use ondemand_core::openai::{ChatCompletionRequest, ErrorObject, ModelEntry, ModelList};
use ondemand_core::relay::{self, ChunkEncoder};
use ondemand_core::store::usage::UsageEvent;
use ondemand_core::tokens::ClientToken;
use ondemand_core::upstream::EventStream;
use ondemand_core::upstream::error::UpstreamError;
use ondemand_core::upstream::sse::UpstreamEvent;
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;

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
    Path(model): Path<String>,
) -> Response {
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

/// Reads and parses the body under the live size limit, whatever the content type
/// (curl users often forget it), naming the offending field on a type error.
async fn read_request(limit: usize, request: Request) -> Result<ChatCompletionRequest, ApiError> {
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

pub async fn chat_completions(
    State(state): State<AppState>,
    Extension(token): Extension<Arc<ClientToken>>,
    request: Request,
) -> Response {
    let settings = state.engine().settings();
    let mut usage = UsageGuard::new(&state, token.clone(), settings.record_usage);
    let rpm = token.limits.rpm.unwrap_or(settings.rate_limit);
    if let Err(wait) =
        state
            .engine()
            .rate_limiter
            .check(&token.name, rpm, std::time::Instant::now())
    {
        return usage.refuse(ApiError::rate_limited(rpm, wait));
    }
    let parsed = match read_request(settings.max_body_bytes, request).await {
        Ok(parsed) => parsed,
        Err(e) => return usage.refuse(e),
    };
    usage.event.model = parsed.model.clone();
    usage.event.stream = parsed.stream.unwrap_or(false);
    if !token.allows(&parsed.model) {
        return usage.refuse(ApiError::model_not_allowed(&parsed.model));
    }
    let engine = state.engine();
    let planned = chat::plan(
        parsed,
        &engine.catalog(),
        &engine.endpoints(),
        &settings,
        &token.name,
    );
    let plan = match planned {
        Ok(plan) => plan,
        Err(e) => return usage.refuse(ApiError::from(e)),
    };
    usage.event.endpoint_id = Some(plan.endpoint_id.clone());
    usage.event.notes = (!plan.notes.is_empty()).then(|| plan.notes.join("\n"));
    if plan.stream {
        return stream(state, plan, usage, settings.stream_keepalive).await;
    }
    match state.engine().complete(&plan, &usage.attempts).await {
        Ok(done) => {
            let body = relay::completion(&plan, done.answer);
            let e = &mut usage.event;
            (e.status, e.error_class) = (200, None);
            e.account = Some(done.account.name.clone());
            e.attempts = done.attempts;
            e.session_reused = done.reused;
            e.input_tokens = body.usage.prompt_tokens;
            e.output_tokens = body.usage.completion_tokens;
            e.tokens_estimated = body.usage.estimated;
            Json(body).into_response()
        }
        Err(e) => {
            tracing::warn!(model = %plan.model, error = %e, "chat completion failed");
            usage.dispatch_failed(&e);
            usage.refuse(ApiError::from(e))
        }
    }
}

/// Records one request's usage when dropped, however the request ended: answered, refused,
/// failed upstream, broken mid-stream, or abandoned by the client.
struct UsageGuard {
    /// `None` when `record_usage` is off: nothing about the request is stored.
    sink: Option<ondemand_core::store::writer::UsageSink>,
    /// The client token, whose quotas count the request.
    token: Arc<ClientToken>,
    /// The dashboard's live feed, for what the usage writer will not publish.
    live: Arc<ondemand_core::live::LiveFeed>,
    /// The upstream attempts, shared with the engine while it dispatches.
    attempts: Arc<Attempts>,
    event: UsageEvent,
    started: Instant,
}

impl UsageGuard {
    fn new(state: &AppState, token: Arc<ClientToken>, record: bool) -> Self {
        Self {
            sink: record.then(|| state.usage().clone()),
            live: state.engine().live.clone(),
            event: UsageEvent {
                ts: ondemand_core::store::now_ms(),
                client_token: token.name.clone(),
                // Overwritten on every path that finishes; a panic leaves this behind.
                status: 500,
                error_class: Some("internal_error".into()),
                ..UsageEvent::default()
            },
            started: Instant::now(),
            attempts: Arc::default(),
            token,
        }
    }

    /// Records a refusal and answers with it.
    fn refuse(&mut self, error: ApiError) -> Response {
        self.event.status = error.status.as_u16();
        self.event.error_class = error.error.code.clone();
        error.into_response()
    }

    fn dispatch_failed(&mut self, error: &DispatchError) {
        match error {
            DispatchError::Rejected { account, .. } | DispatchError::Proxy { account, .. } => {
                self.event.account = Some(account.clone());
                self.event.attempts = 1;
            }
            DispatchError::Exhausted {
                account, attempts, ..
            } => {
                self.event.account = Some(account.clone());
                self.event.attempts = *attempts;
            }
            DispatchError::Timeout { attempts } => self.event.attempts = *attempts,
            DispatchError::NoAccounts
            | DispatchError::Unavailable { .. }
            | DispatchError::ModelRefused { .. } => self.event.attempts = self.attempts.count(),
        }
    }

    fn opened(&mut self, opened: &OpenedStream) {
        let e = &mut self.event;
        e.status = 200;
        // Until the stream ends one way or the other, a drop means the client left.
        e.error_class = Some("client_disconnected".into());
        e.account = Some(opened.hold.account().name.clone());
        e.attempts = opened.attempts;
        e.session_reused = opened.session.reused;
        e.ttft_ms = Some(self.started.elapsed().as_millis() as u32);
    }
}

impl Drop for UsageGuard {
    fn drop(&mut self) {
        let e = &mut self.event;
        e.latency_ms = self.started.elapsed().as_millis() as u32;
        e.failed_attempts = self.attempts.take_failed();
        tracing::info!(
            model = %e.model, stream = e.stream, status = e.status, error = e.error_class.as_deref().unwrap_or(""),
            account = e.account.as_deref().unwrap_or(""), attempts = e.attempts, reused = e.session_reused,
            prompt_tokens = e.input_tokens, completion_tokens = e.output_tokens, estimated = e.tokens_estimated,
            ms = e.latency_ms, "request"
        );
        self.token.record_use(
            e.succeeded(),
            e.input_tokens + e.output_tokens,
            e.ts + i64::from(e.latency_ms),
        );
        // The writer shows a row live once it is committed; what is not stored shows now.
        match &self.sink {
            Some(sink) => {
                if let Err(event) = sink.record(std::mem::take(e)) {
                    self.live.publish(&event);
                }
            }
            None => self.live.publish(e),
        }
    }
}

type Opening =
    Pin<Box<dyn Future<Output = (ChatPlan, Result<OpenedStream, DispatchError>)> + Send>>;

/// A stream request. A quick answer or failure (within one keep-alive interval) gets a
/// normal response, with a real status on failure. A slow one is committed as `200` and
/// kept alive with SSE comments until the upstream's first content; a failure after that
/// arrives as an error event.
async fn stream(
    state: AppState,
    plan: ChatPlan,
    mut usage: UsageGuard,
    keepalive: Duration,
) -> Response {
    let engine = state.clone();
    let attempts = usage.attempts.clone();
    let mut opening: Opening = Box::pin(async move {
        let result = engine.engine().open_stream(&plan, &attempts).await;
        (plan, result)
    });
    let phase = match tokio::time::timeout(keepalive, &mut opening).await {
        Ok((plan, Ok(opened))) => {
            usage.opened(&opened);
            Phase::Open(Box::new(OpenRelay::new(plan, opened)))
        }
        Ok((plan, Err(e))) => {
            tracing::warn!(model = %plan.model, error = %e, "stream request failed before any content");
            usage.dispatch_failed(&e);
            return usage.refuse(ApiError::from(e));
        }
        Err(_) => {
            // Committed from here on: a failure is an error event inside a 200.
            usage.event.status = 200;
            Phase::Waiting(opening)
        }
    };
    let relay = Relay {
        state,
        phase,
        usage,
        keepalive,
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

enum Phase {
    /// Committed, still waiting for the upstream's first content.
    Waiting(Opening),
    Open(Box<OpenRelay>),
    Done,
}

/// The state of one relayed stream.
struct Relay {
    state: AppState,
    phase: Phase,
    usage: UsageGuard,
    keepalive: Duration,
}

/// A stream whose first content has arrived.
struct OpenRelay {
    plan: ChatPlan,
    encoder: ChunkEncoder,
    first: VecDeque<UpstreamEvent>,
    rest: EventStream,
    /// The account, held (in flight) until the stream ends.
    hold: Hold,
    /// The upstream session, remembered in reuse mode once the answer is complete.
    session: SessionUse,
    role_sent: bool,
}

impl OpenRelay {
    fn new(plan: ChatPlan, opened: OpenedStream) -> Self {
        Self {
            encoder: ChunkEncoder::new(&plan),
            plan,
            first: opened.first.into(),
            rest: opened.rest,
            hold: opened.hold,
            session: opened.session,
            role_sent: false,
        }
    }
}

enum Step {
    Send(Bytes),
    End(Bytes),
}

impl Relay {
    /// The next bytes for the client, or `None` when the stream is over.
    async fn next(&mut self) -> Option<Bytes> {
        let step = match &mut self.phase {
            Phase::Done => return None,
            Phase::Waiting(opening) => {
                let mut tick = tokio::time::interval_at(
                    tokio::time::Instant::now() + self.keepalive,
                    self.keepalive,
                );
                tokio::select! {
                    (plan, result) = opening => match result {
                        Ok(opened) => {
                            self.usage.opened(&opened);
                            self.phase = Phase::Open(Box::new(OpenRelay::new(plan, opened)));
                            return Box::pin(self.next()).await;
                        }
                        Err(e) => {
                            tracing::warn!(model = %plan.model, error = %e, "stream failed before any content");
                            self.usage.dispatch_failed(&e);
                            let error = ApiError::from(e);
                            self.usage.event.error_class = error.error.code.clone();
                            Step::End(relay::error_event(error.error))
                        }
                    },
                    _ = tick.tick() => Step::Send(Bytes::from_static(relay::KEEPALIVE)),
                }
            }
            Phase::Open(open) => open.next(&self.state, &mut self.usage.event).await,
        };
        Some(match step {
            Step::Send(bytes) => bytes,
            Step::End(bytes) => {
                self.phase = Phase::Done;
                bytes
            }
        })
    }
}

impl OpenRelay {
    async fn next(&mut self, state: &AppState, usage: &mut UsageEvent) -> Step {
        if !self.role_sent {
            self.role_sent = true;
            return Step::Send(self.encoder.start());
        }
        loop {
            let event = match self.first.pop_front() {
                Some(event) => Ok(event),
                None => self
                    .rest
                    .next()
                    .await
                    .unwrap_or(Err(UpstreamError::Truncated)),
            };
            match event {
                Ok(UpstreamEvent::Done) => {
                    state.engine().remember(
                        &self.plan,
                        self.encoder.content(),
                        &mut self.session,
                        self.hold.account(),
                    );
                    self.count(usage);
                    usage.error_class = None;
                    return Step::End(self.encoder.finish(&self.plan.query));
                }
                Ok(event) => {
                    if let Some(bytes) = self.encoder.event(event) {
                        return Step::Send(bytes);
                    }
                }
                Err(error) => {
                    tracing::warn!(model = %self.plan.model, account = %self.hold.account().name, %error, "stream failed after content was sent");
                    state
                        .engine()
                        .record_stream_end(self.hold.account(), Err(&error));
                    self.count(usage);
                    usage.error_class = Some("upstream_stream_error".into());
                    return Step::End(relay::error_event(ErrorObject {
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

    /// Puts the tokens so far on the usage event (estimated unless metrics came).
    fn count(&self, usage: &mut UsageEvent) {
        let tokens = self.encoder.usage(&self.plan.query);
        usage.input_tokens = tokens.prompt_tokens;
        usage.output_tokens = tokens.completion_tokens;
        usage.tokens_estimated = tokens.estimated;
    }
}

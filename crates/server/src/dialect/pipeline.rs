//! What every dialect's request goes through: admission ([`Admitted`]), planning
//! ([`plan`]), and answering ([`answer`]): whole, or streamed through the dialect's
//! [`Encoder`] with keep-alives while the upstream is silent.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ondemand_core::Engine;
use ondemand_core::anthropic::MessagesRequest;
use ondemand_core::chat::{self, ChatPlan, PlanError};
use ondemand_core::client_tokens::ClientToken;
use ondemand_core::completions::CompletionRequest;
use ondemand_core::config::Settings;
use ondemand_core::engine::{ChatStream, Completion, Refusal, StreamEvent};
use ondemand_core::openai::ChatCompletionRequest;
use ondemand_core::record::{self, RequestRecord};
use ondemand_core::relay::Encoder;
use ondemand_core::responses::ResponsesRequest;

use crate::AppState;
use crate::error::{ApiError, ErrorKind};
use crate::extract::read_json;

/// The bound on a `/v1` request's body, from the settings.
fn body_limit(settings: &Settings) -> crate::extract::BodyLimit<'static> {
    crate::extract::BodyLimit {
        bytes: settings.max_body_bytes,
        setting: Some("max_body_bytes"),
        time: settings.body_read_timeout,
    }
}

/// A request body of some dialect: what admission reads before the dialect's own checks.
pub(crate) trait Asking: serde::de::DeserializeOwned + Send {
    /// The dialect's name in the usage log.
    const DIALECT: &'static str;
    fn model(&self) -> &str;
    fn stream(&self) -> bool;
    /// A refusal of the request's decoding or planning, in the dialect's words.
    fn in_dialect(error: PlanError) -> PlanError;
}

/// Every dialect's request type, with its name in the usage log and how it words a refusal
/// (each has a `model` and an optional `stream`).
macro_rules! asking {
    ($($request:ty => $name:literal, $in_dialect:path;)*) => {$(
        impl Asking for $request {
            const DIALECT: &'static str = $name;
            fn model(&self) -> &str {
                &self.model
            }
            fn stream(&self) -> bool {
                self.stream.unwrap_or(false)
            }
            fn in_dialect(error: PlanError) -> PlanError {
                $in_dialect(error)
            }
        }
    )*};
}

asking! {
    ChatCompletionRequest => "chat", std::convert::identity;
    CompletionRequest => "completions", std::convert::identity;
    MessagesRequest => "messages", ondemand_core::anthropic::in_dialect;
    ResponsesRequest => "responses", ondemand_core::responses::in_dialect;
}

/// What keeps account of a request while it is admitted and planned: its [`RequestRecord`]
/// (a request to be answered), or [`Counting`] (one only counted, which reserves nothing and
/// leaves no row).
pub(crate) trait Keeping: Sized + Send {
    fn open(state: &AppState, token: &Arc<ClientToken>, headers: &HeaderMap, dialect: &str)
    -> Self;
    /// Takes the token's share: its request quota and its concurrency cap.
    fn reserve(&mut self, settings: &Settings, shared: bool) -> Result<(), ApiError>;
    /// What admission learned: whether a stream was asked for, and the model, once checked.
    fn saw(&mut self, stream: bool, model: Option<&str>);
    fn planned(&mut self, plan: &ChatPlan);
    /// Notes the refusal and answers with it.
    fn refuse(&mut self, error: ApiError) -> Response;
}

impl Keeping for RequestRecord {
    fn open(
        state: &AppState,
        token: &Arc<ClientToken>,
        headers: &HeaderMap,
        dialect: &str,
    ) -> Self {
        let engine = state.engine();
        let settings = engine.settings();
        let sink = settings.record_usage.then(|| state.usage().clone());
        let mut record = engine.record(sink, &settings, token.clone());
        record.event.client = client_of(headers).into();
        record.event.dialect = dialect.into();
        record
    }

    fn reserve(&mut self, settings: &Settings, shared: bool) -> Result<(), ApiError> {
        RequestRecord::reserve(self, settings.max_concurrent_upstream, shared)
            .map_err(ApiError::from)
    }

    fn saw(&mut self, stream: bool, model: Option<&str>) {
        self.event.stream = stream;
        if let Some(model) = model {
            self.event.model = model.to_owned();
        }
    }

    fn planned(&mut self, plan: &ChatPlan) {
        self.event.endpoint_id = Some(plan.endpoint_id.clone());
        self.event.model_label = Some(plan.model_label.clone());
        self.event.notes = (!plan.notes.is_empty()).then(|| plan.notes.join("\n"));
    }

    fn refuse(&mut self, error: ApiError) -> Response {
        refuse(self, error)
    }
}

/// A request that is only counted (`count_tokens`): it takes its turn under the token's rate
/// limit and passes every check, but nothing goes upstream, nothing is reserved, and no usage
/// is recorded.
pub(crate) struct Counting;

impl Keeping for Counting {
    fn open(_: &AppState, _: &Arc<ClientToken>, _: &HeaderMap, _: &str) -> Self {
        Self
    }
    fn reserve(&mut self, _: &Settings, _: bool) -> Result<(), ApiError> {
        Ok(())
    }
    fn saw(&mut self, _: bool, _: Option<&str>) {}
    fn planned(&mut self, _: &ChatPlan) {}
    fn refuse(&mut self, error: ApiError) -> Response {
        error.into_response()
    }
}

/// A dialect request admitted: the token's quota and concurrency reserved, its rate limit
/// passed, the body read within `max_body_bytes`, the model named and allowed. Any refusal is
/// noted (a record writes its row when it drops) and answered. Every dialect route takes its
/// request through this extractor; the client token comes from the auth layer.
pub(crate) struct Admitted<K, T>(pub T, pub Admission<K, T>);

/// A request to be answered: admitted with its record.
pub(crate) type Answering<T> = Admitted<RequestRecord, T>;

/// What an admitted request carries on through planning and answering.
pub(crate) struct Admission<K, T> {
    pub keeping: K,
    pub token: Arc<ClientToken>,
    dialect: PhantomData<fn() -> T>,
}

impl<K: Keeping, T: Asking> FromRequest<AppState> for Admitted<K, T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let Some(token) = request.extensions().get::<Arc<ClientToken>>().cloned() else {
            return Err(ApiError::new(
                ErrorKind::InternalError,
                "The client token was not checked.",
            )
            .into_response());
        };
        let engine = state.engine();
        let settings = engine.settings();
        let mut keeping = K::open(state, &token, request.headers(), T::DIALECT);
        if let Err(e) = keeping.reserve(&settings, engine.clients.tokens.len() > 1) {
            return Err(keeping.refuse(e));
        }
        let rpm = token.limits.rpm.unwrap_or(settings.rate_limit);
        if let Err(wait) =
            engine
                .clients
                .rate_limiter
                .check(&token.name, rpm, std::time::Instant::now())
        {
            return Err(keeping.refuse(ApiError::rate_limited(rpm, wait)));
        }
        let parsed: T = match read_json(request, body_limit(&settings)).await {
            Ok(parsed) => parsed,
            Err(e) => return Err(keeping.refuse(e)),
        };
        keeping.saw(parsed.stream(), None);
        // Checked before the name is stored or echoed anywhere.
        if let Err(e) = chat::check_model(parsed.model()) {
            return Err(keeping.refuse(ApiError::from(e)));
        }
        keeping.saw(parsed.stream(), Some(parsed.model()));
        if !token.allows(parsed.model()) {
            return Err(keeping.refuse(ApiError::model_not_allowed(parsed.model())));
        }
        let admission = Admission {
            keeping,
            token,
            dialect: PhantomData,
        };
        Ok(Self(parsed, admission))
    }
}

// The refusal is the response, answered at once; boxing it would only add an allocation.
#[allow(clippy::result_large_err)]
impl<K: Keeping, T: Asking> Admission<K, T> {
    /// Notes the refusal and answers with it.
    pub fn refuse(&mut self, error: ApiError) -> Response {
        self.keeping.refuse(error)
    }

    /// Refuses a request the dialect could not decode or the planner could not plan, in the
    /// dialect's words.
    pub fn refuse_plan(&mut self, error: PlanError) -> Response {
        self.refuse(ApiError::from(T::in_dialect(error)))
    }

    /// Plans the request (in Chat Completions' terms, whatever its dialect) for this token.
    pub fn plan(
        &mut self,
        state: &AppState,
        request: ChatCompletionRequest,
    ) -> Result<ChatPlan, Response> {
        let engine = state.engine();
        let planned = chat::plan(
            request,
            &engine.catalog(),
            &engine.endpoints(),
            &engine.settings(),
            &self.token.name,
        );
        match planned {
            Ok(plan) => {
                self.keeping.planned(&plan);
                Ok(plan)
            }
            Err(e) => Err(self.refuse_plan(e)),
        }
    }
}

impl<T: Asking> Admission<RequestRecord, T> {
    /// Answers the planned request, once its prompt's tokens are reserved of the token's
    /// quota: a stream through the dialect's `encoder`, or the whole answer through `whole`.
    pub async fn answer<E, W>(
        self,
        state: &AppState,
        plan: ChatPlan,
        encoder: impl FnOnce(&ChatPlan) -> E,
        whole: impl FnOnce(&ChatPlan, Completion) -> W,
    ) -> Response
    where
        E: Encoder,
        W: Future<Output = Response>,
    {
        let mut record = self.keeping;
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
        // Boxed: held inline, a whole answer's call (8 KiB) would size the future of every
        // request, streams included, for as long as each waits for the upstream.
        match Box::pin(engine.complete(&plan, record)).await {
            Ok(done) => whole(&plan, done).await,
            Err(Refusal { error, record: r }) => {
                record = r;
                refuse(&mut record, ApiError::from(error))
            }
        }
    }
}

/// The client family a request's headers show.
fn client_of(headers: &HeaderMap) -> &'static str {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let title = [header("x-title"), header("http-referer")].join(" ");
    record::client_family(header("user-agent"), &title)
}

/// Notes the refusal on the request's record (written when it drops) and answers with it.
fn refuse(record: &mut RequestRecord, error: ApiError) -> Response {
    record.refused(error.status().as_u16(), error.error.code.clone());
    error.into_response()
}

type Opening = Pin<Box<dyn Future<Output = Result<ChatStream, Refusal>> + Send>>;

/// A stream request. A quick answer or failure (within one keep-alive interval) gets a
/// normal response, with a real status on failure. A slow one is committed as `200` and
/// kept alive with SSE comments until the upstream's first content; a failure after that
/// arrives as an error event.
///
/// The plan and the record move into the opening call at once, so this future holds
/// neither while it waits.
fn stream<E: Encoder>(
    engine: Arc<Engine>,
    plan: ChatPlan,
    record: RequestRecord,
    keepalive: Duration,
    encoder: E,
) -> impl Future<Output = Response> {
    let mut opening: Opening = Box::pin(engine.open_stream(plan, record));
    async move {
        let phase = match tokio::time::timeout(keepalive, &mut opening).await {
            Ok(Ok(stream)) => Phase::Open(Box::new(stream), false),
            Ok(Err(Refusal { error, mut record })) => {
                return refuse(&mut record, ApiError::from(error));
            }
            // Committed from here on: a failure is an error event inside a 200.
            Err(_) => Phase::Waiting(opening),
        };
        let pump = StreamBody {
            phase,
            encoder,
            keepalive,
        };
        // The client's connection pulls the body as it writes: a client that goes away drops it
        // at once, and one that reads nothing for `stream_write_timeout` has its connection cut
        // (`stall`), which drops it too, with the core stream and the upstream slot it held.
        let body = futures_util::stream::unfold(pump, |mut pump| async move {
            let bytes = pump.next().await?;
            Some((Ok::<_, std::convert::Infallible>(bytes), pump))
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
}

enum Phase {
    /// Committed, still waiting for the upstream's first content.
    Waiting(Opening),
    /// Streaming; the flag says whether the role chunk went out.
    Open(Box<ChatStream>, bool),
    Done,
}

/// A stream's response body: keep-alives while waiting for the upstream, then the encoder's
/// bytes for each event.
struct StreamBody<E> {
    phase: Phase,
    encoder: E,
    keepalive: Duration,
}

impl<E: Encoder> StreamBody<E> {
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
                                return Some(self.encoder.refused(error.status().as_u16(), error.error));
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

//! The OpenAI-compatible HTTP server: `/v1/*` routes, client auth, error mapping.
//!
//! A library so that the headless binary, the desktop shell and the tests all drive the
//! same server: build an [`AppState`], then [`serve`] it on a listener the caller bound,
//! until the caller's shutdown future resolves.

pub mod admin;
pub mod auth;
pub mod bootstrap;
pub mod clients;
#[cfg(feature = "demo")]
pub mod demo;
pub mod desktop;
mod dialect;
pub mod doctor;
pub mod error;
pub mod extract;
pub mod fds;
pub mod glance;
pub mod launch;
pub mod logging;
mod metrics;
pub mod preferences;
mod stall;
pub mod supervisor;
pub mod ui;
mod unread;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::OriginalUri;
use axum::http::Method;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
use ondemand_core::store::Store;
use ondemand_core::store::writer::UsageSink;

use crate::admin::auth::AdminAuth;
use ondemand_core::control::Control;
use ondemand_core::{App, Engine, Secret};
use tokio::net::TcpListener;

use crate::error::{ApiError, ErrorKind};

/// The application state, built once and shared by every request (cheap to clone).
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    /// The domain and its control plane, usage sink and store.
    app: App,
    /// The `default` client token (config or generated), for the desktop shell to hand out.
    client_token: Secret,
    /// Web origins allowed to call the API from a browser (CORS): none by default; the
    /// desktop shell names its own webview's origin.
    allowed_origins: Vec<String>,
    /// The admin password and browser sessions for `/api/*`.
    admin: AdminAuth,
    /// The token that opens `/metrics` alone, if one is set.
    metrics_token: Option<Secret>,
    /// Paused: `/v1/*` answers 503 `proxy_paused`; the dashboard and admin API go on.
    paused: AtomicBool,
    /// `--demo`: the upstream is simulated in-process; the dashboard says so.
    demo: AtomicBool,
    /// The in-process demo upstream that simulated accounts talk to, while it runs.
    simulated: std::sync::Mutex<Option<Box<dyn std::any::Any + Send>>>,
    /// Held while the demo account is added or removed, so two clicks at the same moment
    /// add one account, not one and a conflict.
    demo_change: tokio::sync::Mutex<()>,
    /// Held while a doctor run goes on: one at a time.
    doctor: Arc<tokio::sync::Mutex<()>>,
    /// Where the listener serving now listens (the address clients are pointed at).
    listening: std::sync::Mutex<Option<std::net::SocketAddr>>,
    /// The desktop app's native questions: what only the person at the machine may allow
    /// (an agent's config rewritten). `None` headless, where the admin credential suffices.
    confirmer: std::sync::Mutex<Option<Arc<desktop::confirm::Confirmer>>>,
    /// Cancelled when a listener begins to shut down: endless answers (the live event
    /// stream) end then, so a graceful shutdown does not wait on an open dashboard. A fresh
    /// one takes its place for the listeners that go on (a move to another port).
    closing: std::sync::Mutex<tokio_util::sync::CancellationToken>,
}

/// Everything an [`AppState`] is built from.
pub struct Services {
    pub engine: Engine,
    pub control: Control,
    pub allowed_origins: Vec<String>,
    pub client_token: Secret,
    pub admin_password: Secret,
    pub metrics_token: Option<Secret>,
    pub usage: UsageSink,
    pub store: Arc<Store>,
}

impl AppState {
    pub fn new(services: Services) -> Self {
        let Services {
            engine,
            control,
            allowed_origins,
            client_token,
            admin_password,
            metrics_token,
            usage,
            store,
        } = services;
        Self(Arc::new(Inner {
            app: App {
                engine: Arc::new(engine),
                control,
                usage,
                store,
            },
            client_token,
            allowed_origins,
            admin: AdminAuth::new(admin_password),
            metrics_token,
            paused: AtomicBool::new(false),
            demo: AtomicBool::new(false),
            simulated: std::sync::Mutex::default(),
            demo_change: tokio::sync::Mutex::default(),
            doctor: Arc::default(),
            listening: std::sync::Mutex::default(),
            confirmer: std::sync::Mutex::default(),
            closing: std::sync::Mutex::default(),
        }))
    }

    /// The base URL clients use (`http://127.0.0.1:8787`), while a listener serves.
    pub fn origin(&self) -> Option<String> {
        let listening = *self.0.listening.lock().unwrap_or_else(|e| e.into_inner());
        listening.map(clients::client_origin)
    }

    pub(crate) fn set_listening(&self, local: std::net::SocketAddr) {
        *self.0.listening.lock().unwrap_or_else(|e| e.into_inner()) = Some(local);
    }

    /// Asks the person at the machine through the desktop app's native dialog; `None`
    /// where there is none to ask (headless).
    pub fn confirmer(&self) -> Option<Arc<desktop::confirm::Confirmer>> {
        self.0
            .confirmer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_confirmer(&self, confirmer: Arc<desktop::confirm::Confirmer>) {
        *self.0.confirmer.lock().unwrap_or_else(|e| e.into_inner()) = Some(confirmer);
    }

    /// Resolves when the listener serving this request begins to shut down.
    pub fn closing(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.closing_token().clone().cancelled_owned()
    }

    fn closing_token(&self) -> std::sync::MutexGuard<'_, tokio_util::sync::CancellationToken> {
        self.0.closing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the endless answers open now (a listener is shutting down).
    fn end_streams(&self) {
        std::mem::take(&mut *self.closing_token()).cancel();
    }

    /// Whether `/v1/*` is paused (the desktop tray's and the dashboard's pause).
    pub fn paused(&self) -> bool {
        self.0.paused.load(Ordering::Acquire)
    }

    /// Marks this server as running against the simulated upstream (`--demo`).
    pub fn set_demo(&self) {
        self.0.demo.store(true, Ordering::Release);
    }

    /// Whether the upstream is the simulated one (`--demo`).
    pub fn demo(&self) -> bool {
        self.0.demo.load(Ordering::Acquire)
    }

    /// Sends simulated accounts' calls to the demo upstream at `url`, which `keep` keeps
    /// running for as long as this state lives.
    pub fn simulate_with(&self, url: String, keep: Box<dyn std::any::Any + Send>) {
        let mut simulated = self.0.simulated.lock().unwrap_or_else(|e| e.into_inner());
        self.engine().simulate_at(url);
        *simulated = Some(keep);
    }

    /// The lock a doctor run holds (`try_lock` it: a second run is refused, not queued).
    pub(crate) fn doctor_running(&self) -> Arc<tokio::sync::Mutex<()>> {
        self.0.doctor.clone()
    }

    /// Taken while the demo account is added or removed (one change at a time).
    pub(crate) async fn demo_change(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.0.demo_change.lock().await
    }

    /// Starts the in-process demo upstream for simulated accounts, unless it runs already
    /// (decided under the lock, so two callers at once start one). Only builds with the
    /// `demo` feature have one.
    pub fn simulate(&self) -> std::io::Result<()> {
        #[cfg_attr(not(feature = "demo"), allow(unused_mut))]
        let mut simulated = self.0.simulated.lock().unwrap_or_else(|e| e.into_inner());
        if simulated.is_some() {
            return Ok(());
        }
        #[cfg(feature = "demo")]
        {
            let fake = demo::upstream()?;
            self.engine().simulate_at(fake.url());
            *simulated = Some(Box::new(fake));
            tracing::info!("the simulated upstream for demo accounts is running");
            Ok(())
        }
        #[cfg(not(feature = "demo"))]
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "this build has no simulated upstream (the demo feature)",
        ))
    }

    pub fn set_paused(&self, paused: bool) {
        if self.0.paused.swap(paused, Ordering::AcqRel) != paused {
            tracing::info!(
                paused,
                "the proxy was {}",
                if paused { "paused" } else { "resumed" }
            );
        }
    }

    /// How the proxy is doing, in a few figures: for the dashboard's overview and live
    /// tick, and the desktop tray.
    pub fn summary(&self) -> ProxySummary {
        ProxySummary {
            paused: self.paused(),
            pool: self
                .engine()
                .routing
                .pool
                .summary(std::time::Instant::now()),
            upstream_problem: self.engine().problem().map(|p| p.kind),
        }
    }

    pub fn admin(&self) -> &AdminAuth {
        &self.0.admin
    }

    /// The application (the domain, its control plane, usage sink and store).
    pub fn app(&self) -> &App {
        &self.0.app
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.0.app.store
    }

    pub fn usage(&self) -> &UsageSink {
        &self.0.app.usage
    }

    pub fn engine(&self) -> &Engine {
        &self.0.app.engine
    }

    /// The engine, for what outlives a request handler (a stream's body).
    pub fn engine_arc(&self) -> Arc<Engine> {
        self.0.app.engine.clone()
    }

    pub fn control(&self) -> &Control {
        &self.0.app.control
    }

    /// The `default` client token.
    pub fn client_token(&self) -> &Secret {
        &self.0.client_token
    }

    /// The data directory: where the database, the doctor's report and the agents'
    /// backups are.
    pub fn data_dir(&self) -> Option<std::path::PathBuf> {
        self.store().path().parent().map(std::path::Path::to_owned)
    }
}

/// The proxy at a glance ([`AppState::summary`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxySummary {
    pub paused: bool,
    pub pool: ondemand_core::pool::PoolSummary,
    /// The upstream refuses every account alike (its firewall, a wrong base URL).
    pub upstream_problem: Option<ondemand_core::engine::ProblemKind>,
}

impl ProxySummary {
    /// No request can be served: no account can (none at all, all disabled, or all needing
    /// attention), or the upstream refuses the proxy itself.
    pub fn is_problem(&self) -> bool {
        self.pool.usable == 0 || self.upstream_problem.is_some()
    }
}

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    let client_token = || middleware::from_fn_with_state(state.clone(), auth::require_client_token);
    // Anthropic's routes answer in Anthropic's terms, the token check's refusals included.
    let anthropic = Router::new()
        .route(
            "/messages",
            axum::routing::post(dialect::anthropic::messages),
        )
        .route(
            "/messages/count_tokens",
            axum::routing::post(dialect::anthropic::count_tokens),
        )
        .route_layer(client_token())
        .layer(middleware::map_response(
            dialect::anthropic::in_anthropic_terms,
        ));
    let v1 = Router::new()
        .route("/models", get(dialect::openai::list_models))
        .route("/models/{*model}", get(dialect::openai::get_model))
        .route(
            "/chat/completions",
            axum::routing::post(dialect::openai::chat_completions),
        )
        .route(
            "/completions",
            axum::routing::post(dialect::completions::completions),
        )
        .route(
            "/responses",
            axum::routing::post(dialect::responses::create),
        )
        .route(
            "/responses/{id}",
            get(dialect::responses::retrieve).delete(dialect::responses::delete),
        )
        .route_layer(client_token())
        .merge(anthropic)
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(unknown_route);
    let cors = cors(&state.0.allowed_origins);
    Router::new()
        .nest("/v1", v1)
        .merge(admin::router(state.clone()))
        .route("/", get(ui::index))
        .route("/index.html", get(ui::index))
        .route("/assets/{*path}", get(ui::asset))
        .route("/favicon.svg", get(ui::favicon))
        .route("/health", get(dialect::openai::health))
        .merge(metrics::router(state.clone()))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(unknown_route)
        .layer(middleware::from_fn(unread::close_if_unread))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            internal_error,
        ))
        .layer(cors)
        .with_state(state)
}

/// CORS for exactly the named origins (none: no CORS headers at all, so no other web
/// origin can read an answer). Credentials travel as a bearer header, never cookies.
fn cors(
    origins: &[String],
) -> tower::util::Either<tower_http::cors::CorsLayer, tower::layer::util::Identity> {
    use axum::http::{HeaderValue, header};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return tower::util::Either::Right(tower::layer::util::Identity::new());
    }
    tower::util::Either::Left(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods(tower_http::cors::Any)
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::HeaderName::from_static("x-api-key"),
                header::HeaderName::from_static("anthropic-version"),
                header::HeaderName::from_static("anthropic-beta"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// A bug must still answer in the OpenAI envelope, not drop the connection.
fn internal_error(_panic: Box<dyn std::any::Any + Send>) -> axum::response::Response {
    tracing::error!("a request handler panicked; answered 500");
    ApiError::new(
        ErrorKind::InternalError,
        "The proxy hit an internal error; it has been logged.",
    )
    .into_response()
}

async fn unknown_route(method: Method, OriginalUri(uri): OriginalUri) -> impl IntoResponse {
    ApiError::not_found_route(method.as_str(), uri.path())
}

async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> impl IntoResponse {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}

/// Serves until `shutdown` resolves, then stops accepting and drains requests in flight.
/// The background tasks (account re-checks, usage retention, persisting sessions and
/// account states, deleting finished upstream sessions, reading the endpoint catalogue)
/// run alongside and stop with it.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = tokio_util::sync::CancellationToken::new();
    let stop_upkeep = stop.clone();
    let (served, ()) = tokio::join!(
        listen(listener, state.clone(), async move {
            shutdown.await;
            stop_upkeep.cancel();
        }),
        state.app().run_upkeep(|| stop.cancelled()),
    );
    served
}

/// Answers requests on `listener` until `shutdown` resolves, then stops accepting, lets the
/// requests in flight finish within `shutdown_grace`, and cuts the rest. The background tasks
/// are not its business: a running server may move to another listener
/// ([`launch::Running::rebind`]) and keep them.
///
/// Each connection gets `header_read_timeout` to send each request head (a half-sent head
/// no longer holds a connection, or the shutdown, for ever), and is cut when it reads nothing
/// of an answer for `stream_write_timeout` ([`stall`]). Connections past
/// [`fds::connection_cap`] are closed at once.
pub async fn listen(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    if let Ok(local) = listener.local_addr() {
        state.set_listening(local);
    }
    let app = router(state.clone());
    let (closing, closed) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        if connections.len() >= fds::connection_cap() {
            // Closed at once: the descriptors left are for upstream calls, the database and
            // the log, and for the connections already open (which time out when idle).
            drop(stream);
            if ondemand_core::quiet::REFUSALS.first("connection_cap", std::time::Instant::now()) {
                tracing::warn!(
                    cap = fds::connection_cap(),
                    "too many client connections: new ones are closed until some end"
                );
            }
            continue;
        }
        let _ = stream.set_nodelay(true);
        let settings = state.engine().settings();
        let header_read_timeout = settings.header_read_timeout;
        let engine = state.engine_arc();
        let stream = stall::StallLimit::new(stream, move || engine.settings().stream_write_timeout);
        let service =
            app.clone()
                .map_request(move |request: http::Request<hyper::body::Incoming>| {
                    let mut request = request.map(axum::body::Body::new);
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    request
                });
        let service = hyper_util::service::TowerToHyperService::new(service);
        let mut closed = closed.clone();
        connections.spawn(async move {
            // HTTP/1.1 only: no client needs cleartext HTTP/2 (h2c) here, and hyper's h2
            // server has no head or idle time-out, so idle h2c connections stayed open. An
            // h2c preface is refused as a bad request head.
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = closed.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    // Endless answers (the live event stream) end now; the rest get the grace period.
    state.end_streams();
    let _ = closing.send(true);
    let grace = state.engine().settings().shutdown_grace;
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drained).await.is_err() {
        tracing::warn!(
            left = connections.len(),
            "requests still in flight after the shutdown grace period were cut"
        );
        connections.abort_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_panic_answers_500_in_the_openai_envelope() {
        let response = super::internal_error(Box::new("boom"));
        assert_eq!(response.status(), 500);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["error"]["code"], "internal_error");
        assert_eq!(value["error"]["type"], "server_error");
    }
}

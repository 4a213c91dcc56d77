//! A faithful fake of the on-demand.io chat API (§11 of the upstream contract), for tests,
//! benchmarks and the proxy's demo mode. It never talks to the network beyond its own
//! loopback listener.
//!
//! - Routes: API-key session create / get / query (sync, stream, webhook), the endpoint
//!   catalogue, and the email/password flow (sign-in, refresh, `/chat/v1/client/...`).
//! - Wire formats as recorded (§4): Python-style `fulfillment` frames, compact JSON for the
//!   rest, heartbeats, `fulfillment_completed` repeating the answer, `metricsLog`, `[DONE]`.
//! - Deterministic: the answer is `answer_prefix` + the query's last non-empty line; metrics
//!   are `ceil(chars / 4)` of query and answer.
//! - Faults per API key or account email ([`Behaviour`]): a status and errorCode (always, or
//!   the next N times), delays, cut or broken streams, `[ERROR]:` frames, split writes, no
//!   metrics, malformed or unknown frames, thinking frames.
//! - Every request is recorded (headers and JSON body) for tests to assert on.
//! - Control over HTTP under `/_fake/` so out-of-process users (benchmarks) can steer it.
//! - Plain HTTP/1.1 by default; [`FakeOnDemand::serve_tls`] serves HTTPS with HTTP/2 as the
//!   real service's Cloudflare front does ([`tls`]).

mod auth;
mod caller;
mod catalogue;
pub mod media;
mod openai;
mod query;
mod routes;
mod stream;
pub mod tls;
pub mod tools;
mod wire;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use catalogue::{Envelope, FakeEndpoint, record_2026_09_18};
pub use wire::{answer_for, py_json_string, tokens_for};

/// Global behaviour of the fake.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct FakeOptions {
    /// Accept any non-empty `apikey` (demo mode, benchmarks); otherwise only added keys.
    pub accept_any_key: bool,
    /// Prepended to every answer (`"Echo: "` by default).
    pub answer_prefix: String,
    /// Include `data.metrics` in sync answers (undocumented upstream, so switchable).
    pub sync_metrics: bool,
    /// Queries longer than this many characters fail with `context_length_exceeded`.
    pub max_query_chars: usize,
    /// The client (email/password) route answers sync queries as SSE, a variant P1 suggests.
    pub client_sync_as_sse: bool,
    /// Refresh always fails, forcing a fresh sign-in.
    pub fail_refresh: bool,
    /// The endpoint catalogue served and enforced (§14.1); the 2026-09-18 record by default.
    pub endpoints: Vec<FakeEndpoint>,
    /// Accept any well-formed `predefined-*`/`byoi-*` id that the catalogue lacks (as the
    /// fake did before the catalogue; benchmarks use it). Inactive ones are refused anyway.
    pub accept_unlisted: bool,
    /// The status a query to an inactive or unknown endpoint gets: the real one is not
    /// known (§13.5, §14.1), so tests play each (400 `invalid_request`, 404 `not_found`, …).
    pub inactive_endpoint_status: u16,
    /// How the catalogue answer is wrapped.
    pub catalogue_envelope: Envelope,
    /// The catalogue route is missing: it answers the gateway's 404.
    pub no_catalogue_route: bool,
    /// Wait this long before answering the catalogue (to play a time-out).
    pub catalogue_delay_ms: u64,
    /// The catalogue route answers 500 (a failed refresh).
    pub catalogue_fails: bool,
    /// Every request gets Cloudflare's HTML 403 (error 1010): the machine or user agent is
    /// banned (§1, §14.2).
    pub firewall: bool,
    /// Wait this long before answering a session delete (proves deletes are off the
    /// request path).
    pub delete_delay_ms: u64,
    /// Keep a record of every request (turn off for long benchmarks).
    pub record: bool,
    /// A session delete answers 404 (the session still goes).
    pub delete_not_found: bool,
    /// Serve the `/_fake/` control routes (recorded requests, scripted behaviour, options).
    /// Off in the demo: the routes have no authentication.
    pub control_routes: bool,
    /// Media uploads per key per minute; the next one gets 429 (the free plan's 5).
    pub media_uploads_per_minute: u32,
    /// Wait this long before answering an upload (the real agent takes 6–7 s).
    pub media_delay_ms: u64,
    /// Uploads answer `actionStatus: "processing"` with no description yet.
    pub media_processing: bool,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            accept_any_key: false,
            answer_prefix: "Echo: ".into(),
            sync_metrics: true,
            max_query_chars: 200_000,
            client_sync_as_sse: false,
            fail_refresh: false,
            endpoints: record_2026_09_18(),
            accept_unlisted: false,
            inactive_endpoint_status: 400,
            catalogue_envelope: Envelope::Data,
            no_catalogue_route: false,
            catalogue_delay_ms: 0,
            catalogue_fails: false,
            firewall: false,
            delete_delay_ms: 0,
            record: true,
            delete_not_found: false,
            control_routes: true,
            media_uploads_per_minute: 5,
            media_delay_ms: 0,
            media_processing: false,
        }
    }
}

/// Where a scripted failure fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Session create and query alike.
    #[default]
    Any,
    Session,
    Query,
    SignIn,
    Refresh,
    /// Media uploads (never fired by `Any`, which is the chat API's).
    Media,
}

/// A scripted HTTP failure: `status` with the upstream error envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub status: u16,
    pub error_code: String,
    #[serde(default)]
    pub message: Option<String>,
    /// Fire this many times, then stop; `None` fires forever.
    #[serde(default)]
    pub times: Option<u32>,
    #[serde(default)]
    pub stage: Stage,
}

impl Failure {
    pub fn new(status: u16, error_code: &str) -> Self {
        Self {
            status,
            error_code: error_code.into(),
            message: None,
            times: None,
            stage: Stage::Any,
        }
    }
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }
    pub fn at(mut self, stage: Stage) -> Self {
        self.stage = stage;
        self
    }
    pub fn message(mut self, message: &str) -> Self {
        self.message = Some(message.into());
        self
    }
}

/// How the fake treats one credential (API key or email), or all of them by default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Behaviour {
    pub failure: Option<Failure>,
    /// Wait before answering (before the headers).
    pub header_delay_ms: u64,
    /// Wait between stream frames.
    pub frame_delay_ms: u64,
    /// Pause once for `stall_ms` after this many frames (an idle stall mid-stream).
    pub stall_after_frames: Option<usize>,
    pub stall_ms: u64,
    /// Stop the stream after this many frames, before `[DONE]`.
    pub cut_after_frames: Option<usize>,
    /// With `cut_after_frames`: break the connection instead of ending the body cleanly.
    pub cut_abruptly: bool,
    /// After this many `fulfillment` frames, send `[ERROR]:` with `stream_error_code`.
    pub error_after_deltas: Option<usize>,
    pub stream_error_code: Option<String>,
    /// Write the stream in pieces of this many bytes (1 splits inside UTF-8 sequences).
    pub split_writes: Option<usize>,
    /// Leave `metricsLog` (stream) and `data.metrics` (sync) out.
    pub no_metrics: bool,
    /// Send a frame that is not valid JSON before the content.
    pub malformed_frame: bool,
    /// Interleave `fulfillment_thinking` frames with the answer.
    pub thinking: bool,
    /// Send frames of an unknown `eventType`, which clients must ignore.
    pub unknown_events: bool,
    /// Every query is refused with `403 content_policy_violation` (§14.2).
    pub content_policy: bool,
    /// Queries to premium endpoints are refused with this status and plan wording (§14.2).
    pub refuse_premium: Option<u16>,
    /// Endpoint ids this credential's catalogue leaves out (and its queries to them fail).
    pub hidden_endpoints: Vec<String>,
    /// Streams carry no `statusLog` frames (some 2026 accounts, §14.3).
    pub no_status_log: bool,
    /// The `fulfillment_completed` status log carries no `answer` (§14.3).
    pub completed_without_answer: bool,
    /// Streams end after the metrics without `[DONE]`.
    pub no_done: bool,
    /// Every frame but `fulfillment` is spaced JSON (`", "`), as only `fulfillment` frames
    /// are in captures (§4).
    pub spaced_json: bool,
    /// Answer with exactly this text (e.g. tool calls in some format) instead of the echo.
    pub answer: Option<String>,
    /// Stream the answer in pieces of this many characters instead of word by word (so a
    /// tool call splits anywhere).
    pub delta_chars: Option<usize>,
}

/// One request as the fake received it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Lower-case header names.
    pub headers: HashMap<String, String>,
    /// The JSON body (`null` when there was none or it was not JSON).
    pub body: serde_json::Value,
    /// The API key or email the request authenticated as, if any.
    pub credential: Option<String>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

#[derive(Debug, Clone)]
struct User {
    password: String,
    user_id: String,
    company_id: String,
}

#[derive(Debug, Clone)]
struct Session {
    owner: String,
    external_user_id: String,
    created_at: String,
    /// Queries answered in this session, for `GET` and the reuse-mode tests.
    queries: u32,
    /// The tools block of the first query that offered tools (a model keeps its
    /// instructions for the whole session).
    tools: Option<String>,
}

/// An uploaded file.
#[derive(Debug, Clone)]
struct MediaItem {
    owner: String,
    session_id: Option<String>,
    deleted: bool,
}

#[derive(Debug, Default)]
struct State {
    options: FakeOptions,
    keys: HashSet<String>,
    users: HashMap<String, User>,
    /// Valid JWT → email.
    tokens: HashMap<String, String>,
    /// Valid refresh token → email.
    refresh_tokens: HashMap<String, String>,
    sessions: HashMap<String, Session>,
    behaviours: HashMap<String, Behaviour>,
    default_behaviour: Behaviour,
    recorded: Vec<Recorded>,
    /// Uploaded files by id.
    media: HashMap<String, MediaItem>,
    /// Each key's uploads in the last minute.
    uploads: HashMap<String, Vec<std::time::Instant>>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    ids: AtomicU64,
    /// Streams still being written; falls when a client goes away (disconnect tests).
    open_streams: AtomicUsize,
    /// TLS connections accepted, by the protocol ALPN chose: `[h2, http/1.1]`.
    tls_connections: [AtomicUsize; 2],
    /// Wakes every TLS connection to close gracefully ([`FakeOnDemand::go_away`]).
    go_away: tokio::sync::Notify,
}

impl Shared {
    fn with(options: FakeOptions) -> Arc<Self> {
        let shared = Arc::new(Self::default());
        shared.lock().options = options;
        shared
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh 24-hex id, like the upstream's Mongo ObjectIds.
    fn object_id(&self) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        format!("6a5e{:08x}{:012x}", rand::random::<u32>(), n)
    }

    fn behaviour(&self, credential: &str) -> Behaviour {
        let state = self.lock();
        state
            .behaviours
            .get(credential)
            .unwrap_or(&state.default_behaviour)
            .clone()
    }

    /// The failure that fires now for `credential` at `stage`, consuming one use.
    fn take_failure(&self, credential: &str, stage: Stage) -> Option<Failure> {
        let mut state = self.lock();
        let State {
            behaviours,
            default_behaviour,
            ..
        } = &mut *state;
        let behaviour = behaviours.get_mut(credential).unwrap_or(default_behaviour);
        let failure = behaviour.failure.as_mut()?;
        if failure.stage != Stage::Any && failure.stage != stage {
            return None;
        }
        if matches!(
            (failure.stage, stage),
            (Stage::Any, Stage::SignIn | Stage::Refresh | Stage::Media)
        ) {
            return None;
        }
        let fired = failure.clone();
        match &mut failure.times {
            Some(0) => return None,
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    behaviour.failure = None;
                }
            }
            None => {}
        }
        Some(fired)
    }
}

/// A running fake. Dropping it stops the server.
pub struct FakeOnDemand {
    addr: SocketAddr,
    /// The CA's PEM when serving HTTPS.
    ca_pem: Option<String>,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FakeOnDemand {
    /// Starts on `127.0.0.1:0`.
    pub async fn start(options: FakeOptions) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::serve(listener, options)
    }

    /// Serves plain HTTP/1.1 on a listener the caller bound.
    pub fn serve(listener: TcpListener, options: FakeOptions) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let shared = Shared::with(options);
        let (tx, rx) = oneshot::channel::<()>();
        let app = routes::router(shared.clone());
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "fake on-demand.io server failed");
            }
        });
        Ok(Self {
            addr,
            ca_pem: None,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Starts HTTPS (HTTP/2 or HTTP/1.1 by ALPN) on `127.0.0.1:0`, with a CA of its own.
    pub async fn start_tls(options: FakeOptions) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::serve_tls(listener, options)
    }

    /// Serves HTTPS on a listener the caller bound, with a CA and certificate made now; a
    /// client trusts [`Self::ca_pem`] to reach it.
    pub fn serve_tls(listener: TcpListener, options: FakeOptions) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let certificates = tls::Certificates::generate()?;
        let shared = Shared::with(options);
        let (tx, rx) = oneshot::channel::<()>();
        let app = routes::router(shared.clone());
        let ca_pem = certificates.ca_pem.clone();
        let tls_shared = shared.clone();
        let task = tokio::spawn(async move {
            tls::serve(listener, &certificates, app, tls_shared, rx).await;
        });
        Ok(Self {
            addr,
            ca_pem: Some(ca_pem),
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The CA a client must trust, when serving HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to configure as `base_url` and `auth_base_url`: `https://` when serving
    /// HTTPS (the certificate names `127.0.0.1` and `localhost`), else `http://`.
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    pub fn add_key(&self, key: &str) {
        self.shared.lock().keys.insert(key.to_owned());
    }

    pub fn add_user(&self, email: &str, password: &str) {
        let user = User {
            password: password.to_owned(),
            user_id: self.shared.object_id(),
            company_id: self.shared.object_id(),
        };
        self.shared.lock().users.insert(email.to_owned(), user);
    }

    pub fn set_options(&self, options: FakeOptions) {
        self.shared.lock().options = options;
    }

    /// Sets how the fake treats one API key or email.
    pub fn set_behaviour(&self, credential: &str, behaviour: Behaviour) {
        self.shared
            .lock()
            .behaviours
            .insert(credential.to_owned(), behaviour);
    }

    /// Sets how the fake treats every credential without a behaviour of its own.
    pub fn set_default_behaviour(&self, behaviour: Behaviour) {
        self.shared.lock().default_behaviour = behaviour;
    }

    /// Invalidates every JWT (refresh tokens stay valid), as an expiry would.
    pub fn expire_tokens(&self) {
        self.shared.lock().tokens.clear();
    }

    /// Forgets every session, as if they had expired upstream: queries to them get 404.
    pub fn forget_sessions(&self) {
        self.shared.lock().sessions.clear();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().recorded.clone()
    }

    /// Recorded requests whose path ends with `suffix` (e.g. `/query`, `/sessions`).
    pub fn requests_to(&self, suffix: &str) -> Vec<Recorded> {
        self.shared
            .lock()
            .recorded
            .iter()
            .filter(|r| r.path.ends_with(suffix))
            .cloned()
            .collect()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().recorded.clear();
    }

    /// TLS connections accepted so far, as `(h2, http/1.1)` by what ALPN chose.
    /// Closes every open TLS connection gracefully, as Cloudflare's edge does when it
    /// recycles connections: HTTP/2 ones get a GOAWAY, so the streams in flight finish and
    /// new calls need a new connection; HTTP/1.1 ones close once their answer is out.
    pub fn go_away(&self) {
        self.shared.go_away.notify_waiters();
    }

    pub fn tls_connections(&self) -> (usize, usize) {
        let [h2, h1] = &self.shared.tls_connections;
        (h2.load(Ordering::SeqCst), h1.load(Ordering::SeqCst))
    }

    /// Streams whose frames are still being written.
    pub fn open_streams(&self) -> usize {
        self.shared.open_streams.load(Ordering::SeqCst)
    }

    /// Whether the session still exists (it was not deleted).
    pub fn has_session(&self, session_id: &str) -> bool {
        self.shared.lock().sessions.contains_key(session_id)
    }

    /// Number of queries each session has answered.
    pub fn session_queries(&self, session_id: &str) -> Option<u32> {
        self.shared
            .lock()
            .sessions
            .get(session_id)
            .map(|s| s.queries)
    }

    /// Uploaded media: `(id, owner, session id, deleted)`, in no order.
    pub fn media(&self) -> Vec<(String, String, Option<String>, bool)> {
        self.shared
            .lock()
            .media
            .iter()
            .map(|(id, m)| (id.clone(), m.owner.clone(), m.session_id.clone(), m.deleted))
            .collect()
    }

    /// Forgets the upload counts, as a minute passing would.
    pub fn reset_upload_limits(&self) {
        self.shared.lock().uploads.clear();
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeOnDemand {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

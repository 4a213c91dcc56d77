//! The request path after planning: select an account → send → classify the outcome →
//! retry on another account or answer.
//!
//! Retry rules (§6, §10): an error the request caused (a 400 such as
//! `context_length_exceeded`) goes straight back to the client and costs the account nothing.
//! Any other error is recorded in the account's health (cooldown, needs attention, circuit)
//! and the next usable account is tried at once; re-trying an account that already failed
//! this request waits `retry_delay` first. At most `1 + max_retries` attempts are made. When
//! every account is resting, the request waits for the earliest one up to `no_account_wait`,
//! then gets [`DispatchError::Unavailable`] with a retry hint. Accounts that need attention
//! are re-checked in the background by [`Engine::run_rechecks`].
//!
//! Streams are not answered until the upstream's first content event has arrived, so that a
//! failure before it can still fail over without the client seeing anything.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::chat::ChatPlan;
use crate::config::Settings;
use crate::endpoints::EndpointCatalog;
use crate::janitor::{Janitor, JanitorQueue, SessionTicket};
use crate::limits::{Gate, GatePermit, RateLimiter};
use crate::live::LiveFeed;
use crate::models::ModelCatalog;
use crate::pool::{Account, Lease, NoPick, Pool};
use crate::sessions::{SessionCache, SessionEntry};
use crate::store::usage::FailedAttempt;
use crate::tokens::TokenRegistry;
use crate::upstream::auth::Credential;
use crate::upstream::error::{Blame, TimeoutPhase, UpstreamError};
use crate::upstream::sse::UpstreamEvent;
use crate::upstream::{EventStream, QueryBody, ResponseMode, SyncAnswer, UpstreamClient};

/// The domain core shared by the server and the desktop shell.
#[derive(Debug)]
pub struct Engine {
    upstream: UpstreamClient,
    /// The on-demand.io accounts requests are spread over.
    pub pool: Pool,
    /// Live model aliases; swapped whole when edited.
    catalog: ArcSwap<ModelCatalog>,
    /// The live endpoint catalogue (§14.1); swapped whole after each read.
    endpoints: ArcSwap<EndpointCatalog>,
    /// A problem every account meets alike (the upstream's firewall refuses this machine, the
    /// base URL is wrong), until a request succeeds again.
    problem: std::sync::Mutex<Option<UpstreamProblem>>,
    /// Deletes finished upstream sessions in the background.
    janitor: Janitor,
    /// The janitor's queue, until [`Engine::run_janitor`] takes it.
    janitor_queue: std::sync::Mutex<Option<JanitorQueue>>,
    /// Wakes the catalogue task for the accounts in `catalogue_due` (or all, if empty).
    catalogue_wake: tokio::sync::Notify,
    catalogue_due: std::sync::Mutex<Vec<String>>,
    /// Live settings; each request reads one consistent snapshot.
    settings: ArcSwap<Settings>,
    /// The cap on upstream requests in flight over all accounts.
    gate: Arc<Gate>,
    /// Requests per minute per client token.
    pub rate_limiter: RateLimiter,
    /// Reuse mode: which upstream session holds which conversation.
    pub sessions: SessionCache,
    /// The client tokens allowed on `/v1/*`, with their limits.
    pub tokens: TokenRegistry,
    /// Finished requests and running totals, for the live dashboard.
    pub live: Arc<LiveFeed>,
}

/// What kind of proxy-wide problem the upstream shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The upstream's firewall refuses this machine or user agent (a 403 that is not the
    /// API's own answer).
    Firewall,
    /// The upstream has no such route: the base URL is wrong.
    Route,
}

/// A problem that no other account can get around, shown on the dashboard and the tray.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UpstreamProblem {
    pub kind: ProblemKind,
    pub message: String,
    /// When it was first seen (Unix ms), and last.
    pub since_ms: i64,
    pub last_ms: i64,
}

/// Why no answer could be had.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DispatchError {
    #[error("no enabled on-demand.io account is configured")]
    NoAccounts,
    /// A proxy-wide problem (firewall, wrong base URL): no other account can help.
    #[error("{error}")]
    Proxy {
        error: UpstreamError,
        account: String,
    },
    /// No account may use this model: none sees it, or each was refused it (a plan or
    /// premium refusal); `last` is that refusal, if one came during this request.
    #[error("no on-demand.io account may use {endpoint_id}")]
    ModelRefused {
        endpoint_id: String,
        last: Option<UpstreamError>,
    },
    /// The upstream refused the request itself; retrying elsewhere cannot help.
    #[error("{error}")]
    Rejected {
        error: UpstreamError,
        account: String,
    },
    /// Every attempt failed; `last` is the final one's error.
    #[error("{last}")]
    Exhausted {
        last: UpstreamError,
        attempts: u32,
        account: String,
    },
    #[error("the request did not finish within request_timeout")]
    Timeout { attempts: u32 },
    /// Every account is resting (or the upstream cap is full) for longer than the request
    /// may wait. `retry_after` is when one should be usable, if known.
    #[error("no on-demand.io account is available right now")]
    Unavailable {
        retry_after: Option<Duration>,
        last: Option<UpstreamError>,
    },
}

/// One request's attempts: how many were made, and the trail of those that failed (for
/// its usage row), kept by the caller so a timeout or failure can still report them.
#[derive(Debug, Default)]
pub struct Attempts {
    count: AtomicU32,
    failed: std::sync::Mutex<Vec<FailedAttempt>>,
}

impl Attempts {
    pub fn count(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }

    fn failed(&self, account: &str, error: &UpstreamError) {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(FailedAttempt {
                account: account.to_owned(),
                status: error.status(),
                code: error.code().map(str::to_owned),
                message: error.to_string(),
            });
    }

    /// The failed attempts, in order.
    pub fn take_failed(&self) -> Vec<FailedAttempt> {
        std::mem::take(&mut *self.failed.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// An attempt's hold on its account (and on a slot of the upstream cap), released on drop.
#[derive(Debug)]
pub struct Hold {
    lease: Lease,
    _permit: Option<GatePermit>,
}

impl Hold {
    pub fn account(&self) -> &Arc<Account> {
        self.lease.account()
    }
}

/// The upstream session an answer came from. Dropped, it queues the session for deletion
/// unless reuse mode remembered it ([`Engine::remember`]).
#[derive(Debug)]
pub struct SessionUse {
    pub id: String,
    /// Reuse mode continued an existing session (only the new turn was sent).
    pub reused: bool,
    ticket: SessionTicket,
}

/// A finished non-stream answer.
#[derive(Debug, Clone)]
pub struct Completion {
    pub answer: SyncAnswer,
    pub account: Arc<Account>,
    pub attempts: u32,
    /// Reuse mode continued an existing upstream session.
    pub reused: bool,
}

/// A stream whose first content event has arrived. It holds its account until dropped.
pub struct OpenedStream {
    pub hold: Hold,
    /// Events up to and including the first content-bearing one, to send before `rest`.
    pub first: Vec<UpstreamEvent>,
    pub rest: EventStream,
    pub attempts: u32,
    pub session: SessionUse,
}

impl Engine {
    pub fn new(
        upstream: UpstreamClient,
        pool: Pool,
        catalog: ModelCatalog,
        settings: Settings,
    ) -> Self {
        let (janitor, janitor_queue) = Janitor::new();
        Self {
            upstream,
            pool,
            catalog: ArcSwap::from_pointee(catalog),
            endpoints: ArcSwap::default(),
            problem: std::sync::Mutex::default(),
            janitor,
            janitor_queue: std::sync::Mutex::new(Some(janitor_queue)),
            catalogue_wake: tokio::sync::Notify::new(),
            catalogue_due: std::sync::Mutex::default(),
            settings: ArcSwap::from_pointee(settings),
            gate: Arc::new(Gate::default()),
            rate_limiter: RateLimiter::default(),
            sessions: SessionCache::default(),
            tokens: TokenRegistry::default(),
            live: Arc::default(),
        }
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    pub fn set_settings(&self, settings: Settings) {
        self.settings.store(Arc::new(settings));
    }

    pub fn catalog(&self) -> Arc<ModelCatalog> {
        self.catalog.load_full()
    }

    pub fn set_catalog(&self, catalog: ModelCatalog) {
        self.catalog.store(Arc::new(catalog));
    }

    /// The live endpoint catalogue (empty until a read succeeds).
    pub fn endpoints(&self) -> Arc<EndpointCatalog> {
        self.endpoints.load_full()
    }

    pub fn set_endpoints(&self, endpoints: EndpointCatalog) {
        self.endpoints.store(Arc::new(endpoints));
    }

    /// The proxy-wide upstream problem, if one stands.
    pub fn problem(&self) -> Option<UpstreamProblem> {
        self.problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_problem(&self, error: &UpstreamError) {
        let kind = match error {
            UpstreamError::Firewall { .. } => ProblemKind::Firewall,
            _ => ProblemKind::Route,
        };
        let now = crate::store::now_ms();
        let mut problem = self.problem.lock().unwrap_or_else(|e| e.into_inner());
        let since_ms = problem
            .as_ref()
            .filter(|p| p.kind == kind)
            .map_or(now, |p| p.since_ms);
        if problem.is_none() {
            tracing::error!(%error, "on-demand.io refuses every request alike; no account is set aside for it");
        }
        *problem = Some(UpstreamProblem {
            kind,
            message: error.to_string(),
            since_ms,
            last_ms: now,
        });
    }

    fn clear_problem(&self) {
        let mut problem = self.problem.lock().unwrap_or_else(|e| e.into_inner());
        if problem.take().is_some() {
            tracing::info!("on-demand.io answers again; the proxy-wide problem is over");
        }
    }

    /// What the session janitor has done.
    pub fn janitor_stats(&self) -> crate::janitor::JanitorStats {
        self.janitor.stats()
    }

    /// A ticket for a session this account opened: deleted when dropped, if cleanup is on.
    fn ticket(&self, settings: &Settings, account: &str, session_id: &str) -> SessionTicket {
        if settings.delete_sessions {
            self.janitor.ticket(account, session_id)
        } else {
            SessionTicket::none()
        }
    }

    /// Queues reuse-mode sessions that left the cache for deletion.
    fn sessions_left(&self, left: Vec<SessionEntry>) {
        if self.settings().delete_sessions {
            for entry in left {
                self.janitor.finished(&entry.account, &entry.session_id);
            }
        }
    }

    /// A non-stream completion, bounded as a whole by `request_timeout`. `attempts` keeps
    /// the trail of failed attempts, whatever the outcome.
    pub async fn complete(
        &self,
        plan: &ChatPlan,
        attempts: &Attempts,
    ) -> Result<Completion, DispatchError> {
        let settings = self.settings();
        let settings = &*settings;
        let resume = self.resume(plan, settings);
        let run =
            self.with_failover(
                settings,
                plan,
                attempts,
                resume,
                |account, session| async move {
                    self.attempt_sync(&account, plan, settings, session).await
                },
            );
        match tokio::time::timeout(settings.request_timeout, run).await {
            Ok(Ok(((answer, mut session), hold, attempts))) => {
                self.remember(plan, &answer.answer, &mut session, hold.account());
                Ok(Completion {
                    answer,
                    account: hold.account().clone(),
                    attempts,
                    reused: session.reused,
                })
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(DispatchError::Timeout {
                attempts: attempts.count(),
            }),
        }
    }

    /// Opens a stream on the first account that produces content.
    pub async fn open_stream(
        &self,
        plan: &ChatPlan,
        attempts: &Attempts,
    ) -> Result<OpenedStream, DispatchError> {
        let settings = self.settings();
        let settings = &*settings;
        let resume = self.resume(plan, settings);
        let ((first, rest, session), hold, attempts) = self
            .with_failover(
                settings,
                plan,
                attempts,
                resume,
                |account, session| async move {
                    self.attempt_stream(&account, plan, settings, session).await
                },
            )
            .await?;
        Ok(OpenedStream {
            hold,
            first,
            rest,
            attempts,
            session,
        })
    }

    /// A real minimal query through one account, whatever its health or turn (a person's
    /// "test" button). Success puts the account back in rotation; a failure only reports.
    pub async fn test_account(
        &self,
        account: &Account,
        plan: &ChatPlan,
    ) -> Result<SyncAnswer, UpstreamError> {
        let settings = self.settings();
        let attempt = self.attempt_sync(account, plan, &settings, None);
        match tokio::time::timeout(settings.request_timeout, attempt).await {
            Ok(Ok((answer, _session))) => {
                account.reset();
                Ok(answer)
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(UpstreamError::Timeout(TimeoutPhase::Response)),
        }
    }

    /// Records how a stream that had begun ended, for the account's health.
    pub fn record_stream_end(&self, account: &Account, outcome: Result<(), &UpstreamError>) {
        match outcome {
            Ok(()) => account.record_success(),
            Err(error) => {
                account.record_failure(
                    error.blame(),
                    &error.to_string(),
                    Instant::now(),
                    &self.settings().health,
                );
                Self::log_set_aside(account);
            }
        }
    }

    /// Reuse mode: the session and account that hold this request's history, if it is still
    /// fresh and its account usable now. Anything else means a fresh session.
    fn resume(&self, plan: &ChatPlan, settings: &Settings) -> Option<(Lease, String)> {
        let key = plan.conversation.as_ref()?.resume_key.as_ref()?;
        let now = Instant::now();
        let entry = self.sessions.take_any(key)?;
        if now.saturating_duration_since(entry.last_used) > settings.session_timeout {
            self.sessions_left(vec![entry]);
            return None;
        }
        let serves = |a: &Account| self.serves(a, &plan.endpoint_id, now);
        match self
            .pool
            .pick_named(&entry.account, now)
            .filter(|l| serves(l.account()))
        {
            Some(lease) => Some((lease, entry.session_id)),
            None => {
                tracing::debug!(account = %entry.account, "the conversation's account is not usable; starting a fresh session");
                self.sessions_left(vec![entry]);
                None
            }
        }
    }

    /// Whether `account` may serve `endpoint_id`: the live catalogue does not hide it from
    /// the account, and the account was not refused it.
    fn serves(&self, account: &Account, endpoint_id: &str, now: Instant) -> bool {
        !account.model_blocked(endpoint_id, now)
            && self.endpoints.load().visible_to(endpoint_id, &account.name)
    }

    /// Reuse mode: remembers which session now holds the conversation including `answer`
    /// (and keeps it from deletion). In stateless mode the session stays due for deletion.
    pub fn remember(
        &self,
        plan: &ChatPlan,
        answer: &str,
        session: &mut SessionUse,
        account: &Account,
    ) {
        let Some(conversation) = &plan.conversation else {
            return;
        };
        session.ticket.disarm();
        let settings = self.settings();
        let entry = SessionEntry {
            session_id: session.id.clone(),
            account: account.name.clone(),
            last_used: Instant::now(),
        };
        let left = self.sessions.put(
            conversation.history.key_after(answer),
            entry,
            settings.session_cache_size,
            settings.session_timeout,
        );
        self.sessions_left(left);
    }

    fn query_body<'a>(plan: &'a ChatPlan, query: &'a str, mode: ResponseMode) -> QueryBody<'a> {
        QueryBody {
            query,
            endpoint_id: &plan.endpoint_id,
            plugin_ids: [],
            response_mode: mode,
            fulfillment_only: true,
            model_configs: &plan.model_configs,
            reasoning_effort: plan.reasoning_effort,
        }
    }

    /// The new turn alone when resuming, else the whole transcript.
    fn query_for(plan: &ChatPlan, reused: bool) -> &str {
        match (&plan.conversation, reused) {
            (Some(conversation), true) => &conversation.turn_query,
            _ => &plan.query,
        }
    }

    async fn attempt_sync(
        &self,
        account: &Account,
        plan: &ChatPlan,
        settings: &Settings,
        resume: Option<String>,
    ) -> Result<(SyncAnswer, SessionUse), UpstreamError> {
        let credential = &account.credential;
        self.on_session(
            account,
            plan,
            settings,
            resume,
            ResponseMode::Sync,
            |id, body| async move {
                self.upstream
                    .query_sync(credential, settings, &id, &body)
                    .await
            },
        )
        .await
    }

    async fn attempt_stream(
        &self,
        account: &Account,
        plan: &ChatPlan,
        settings: &Settings,
        resume: Option<String>,
    ) -> Result<(Vec<UpstreamEvent>, EventStream, SessionUse), UpstreamError> {
        let credential = &account.credential;
        let (stream, session) = self
            .on_session(
                account,
                plan,
                settings,
                resume,
                ResponseMode::Stream,
                |id, body| async move {
                    self.upstream
                        .query_stream(credential, settings, &id, &body)
                        .await
                },
            )
            .await?;
        let (first, rest) = Self::first_content(stream, settings).await?;
        Ok((first, rest, session))
    }

    /// Sends `query` on the session to `resume` with only the new turn; if the upstream lost
    /// that session (404), or there is none, on a fresh session with the full transcript.
    async fn on_session<'a, T, F, Fut>(
        &self,
        account: &Account,
        plan: &'a ChatPlan,
        settings: &Settings,
        resume: Option<String>,
        mode: ResponseMode,
        query: F,
    ) -> Result<(T, SessionUse), UpstreamError>
    where
        F: Fn(String, QueryBody<'a>) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        if let Some(id) = resume {
            let mut ticket = self.ticket(settings, &account.name, &id);
            match query(
                id.clone(),
                Self::query_body(plan, Self::query_for(plan, true), mode),
            )
            .await
            {
                Ok(answer) => {
                    let reused = SessionUse {
                        id,
                        reused: true,
                        ticket,
                    };
                    return Ok((answer, reused));
                }
                Err(e) if e.session_gone() => {
                    ticket.disarm();
                    tracing::info!(account = %account.name, "the reused session is gone; starting a fresh one");
                }
                Err(e) => return Err(e),
            }
        }
        let id = self
            .upstream
            .create_session(&account.credential, settings, &plan.external_user_id)
            .await?;
        let ticket = self.ticket(settings, &account.name, &id);
        let answer = query(
            id.clone(),
            Self::query_body(plan, Self::query_for(plan, false), mode),
        )
        .await?;
        Ok((
            answer,
            SessionUse {
                id,
                reused: false,
                ticket,
            },
        ))
    }

    /// Reads a stream up to its first content-bearing event. Reasoning models may think for
    /// a long time first; that wait is bounded by `stream_timeout`, silences after it by
    /// `stream_idle_timeout`.
    async fn first_content(
        mut stream: EventStream,
        settings: &Settings,
    ) -> Result<(Vec<UpstreamEvent>, EventStream), UpstreamError> {
        let read = async {
            let mut first = Vec::new();
            loop {
                match stream.next().await {
                    Some(Ok(UpstreamEvent::Other)) => {}
                    Some(Ok(event)) => {
                        let committed = match &event {
                            UpstreamEvent::Content(text) | UpstreamEvent::Reasoning(text) => {
                                !text.is_empty()
                            }
                            UpstreamEvent::CompletedAnswer(_) | UpstreamEvent::Done => true,
                            UpstreamEvent::Metrics(_) | UpstreamEvent::Other => false,
                        };
                        first.push(event);
                        if committed {
                            return Ok(first);
                        }
                    }
                    Some(Err(e)) => return Err(e),
                    None => return Err(UpstreamError::Truncated),
                }
            }
        };
        match tokio::time::timeout(settings.stream_timeout, read).await {
            Ok(Ok(first)) => Ok((first, stream)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(UpstreamError::Timeout(TimeoutPhase::Response)),
        }
    }

    /// Runs `attempt` on accounts in turn until one succeeds or the rules say stop.
    /// `attempts` counts as it goes, so a caller's timeout can still report it.
    /// `resume` is reuse mode's first choice: a lease on the conversation's account and the
    /// session to continue; the attempt gets the session id, later attempts `None`.
    async fn with_failover<T, F, Fut>(
        &self,
        settings: &Settings,
        plan: &ChatPlan,
        attempts: &Attempts,
        mut resume: Option<(Lease, String)>,
        mut attempt: F,
    ) -> Result<(T, Hold, u32), DispatchError>
    where
        F: FnMut(Arc<Account>, Option<String>) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let mut tried: Vec<String> = Vec::new();
        let mut last: Option<(UpstreamError, String)> = None;
        let wait_until = Instant::now() + settings.no_account_wait;
        let endpoint = plan.endpoint_id.as_str();
        while attempts.count() <= settings.max_retries {
            let now = Instant::now();
            let serves = |a: &Account| self.serves(a, endpoint, now);
            let (lease, session) = match resume.take() {
                Some((lease, session)) => (lease, Some(session)),
                None => match self
                    .pool
                    .pick_for(settings.pool_strategy, &tried, now, &serves)
                {
                    Ok(lease) => (lease, None),
                    Err(NoPick::Empty) => break,
                    Err(NoPick::NoneForModel) => {
                        return Err(DispatchError::ModelRefused {
                            endpoint_id: plan.endpoint_id.clone(),
                            last: last.map(|(e, _)| e),
                        });
                    }
                    Err(NoPick::Unavailable { earliest: Some(at) }) if at <= wait_until => {
                        tokio::time::sleep_until(at.max(now + Duration::from_millis(1)).into())
                            .await;
                        continue;
                    }
                    Err(NoPick::Unavailable { earliest }) => {
                        let retry_after = earliest
                            .map(|at| at.saturating_duration_since(now))
                            .or(Some(settings.health.recheck_base));
                        return Err(DispatchError::Unavailable {
                            retry_after,
                            last: last.map(|(e, _)| e),
                        });
                    }
                },
            };
            let account = lease.account().clone();
            if tried.contains(&account.name) && !settings.retry_delay.is_zero() {
                tokio::time::sleep(settings.retry_delay).await;
            }
            let Ok(permit) = self
                .gate
                .acquire(settings.max_concurrent_upstream, wait_until.into())
                .await
            else {
                tracing::warn!(
                    in_flight = self.gate.in_flight(),
                    "the upstream concurrency cap stayed full"
                );
                return Err(DispatchError::Unavailable {
                    retry_after: Some(Duration::from_secs(1)),
                    last: last.map(|(e, _)| e),
                });
            };
            let n = attempts.count.fetch_add(1, Ordering::Relaxed) + 1;
            match attempt(account.clone(), session).await {
                Ok(value) => {
                    account.record_success();
                    self.clear_problem();
                    return Ok((
                        value,
                        Hold {
                            lease,
                            _permit: permit,
                        },
                        n,
                    ));
                }
                Err(error) => {
                    let blame = error.blame();
                    tracing::warn!(account = %account.name, attempt = n, ?blame, %error, "upstream attempt failed");
                    attempts.failed(&account.name, &error);
                    match blame {
                        Blame::Request => {
                            return Err(DispatchError::Rejected {
                                error,
                                account: account.name.clone(),
                            });
                        }
                        Blame::Proxy => {
                            self.set_problem(&error);
                            return Err(DispatchError::Proxy {
                                error,
                                account: account.name.clone(),
                            });
                        }
                        Blame::ModelRefused => {
                            tracing::warn!(account = %account.name, endpoint, "this account may not use this model; it serves the others");
                            account.block_model(
                                endpoint,
                                &error.to_string(),
                                Instant::now() + settings.health.recheck_max,
                            );
                        }
                        _ => {}
                    }
                    account.record_failure(
                        blame,
                        &error.to_string(),
                        Instant::now(),
                        &settings.health,
                    );
                    Self::log_set_aside(&account);
                    if !tried.contains(&account.name) {
                        tried.push(account.name.clone());
                    }
                    last = Some((error, account.name.clone()));
                }
            }
        }
        match last {
            Some((last, account)) => Err(DispatchError::Exhausted {
                last,
                attempts: attempts.count(),
                account,
            }),
            None => Err(DispatchError::NoAccounts),
        }
    }

    /// Says so when a failure took an account out of rotation, with why and for how long:
    /// until the admin API shows states, the log is where a headless user sees them.
    fn log_set_aside(account: &Account) {
        let status = account.status(Instant::now());
        if !matches!(status.state, "healthy" | "disabled") {
            tracing::warn!(
                account = %account.name,
                state = status.state,
                reason = status.reason.as_deref().unwrap_or(""),
                retry_in_s = status.retry_in.map(|d| d.as_secs_f64()),
                "account set aside"
            );
        }
    }

    /// Reads the endpoint catalogue for every API-key account (or those `only` names), all
    /// at once. Email/password accounts have no catalogue route and are left out.
    pub async fn read_endpoints(
        &self,
        only: Option<&[String]>,
    ) -> Vec<(String, Result<Vec<crate::endpoints::Endpoint>, String>)> {
        let settings = self.settings();
        let now = crate::store::now_ms();
        let accounts = self.pool.accounts();
        let reads = accounts.iter().filter_map(|account| {
            let Credential::ApiKey(key) = &account.credential else {
                return None;
            };
            if only.is_some_and(|names| !names.contains(&account.name)) {
                return None;
            }
            let settings = settings.clone();
            Some(async move {
                let read = self
                    .upstream
                    .list_endpoints(key, &settings, now)
                    .await
                    .map_err(|e| e.to_string());
                (account.name.clone(), read)
            })
        });
        futures_util::future::join_all(reads).await
    }

    /// The names of the accounts that can read the catalogue (API-key accounts).
    pub fn catalogue_accounts(&self) -> Vec<String> {
        self.pool
            .accounts()
            .iter()
            .filter(|a| matches!(a.credential, Credential::ApiKey(_)))
            .map(|a| a.name.clone())
            .collect()
    }

    /// Asks the catalogue task to read these accounts' catalogues soon (an account was
    /// added, or its key changed).
    pub fn wake_catalogue(&self, accounts: &[String]) {
        self.catalogue_due
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(accounts.iter().cloned());
        self.catalogue_wake.notify_one();
    }

    /// Waits for [`Engine::wake_catalogue`] and returns the accounts it named.
    pub async fn catalogue_woken(&self) -> Vec<String> {
        self.catalogue_wake.notified().await;
        std::mem::take(&mut *self.catalogue_due.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Deletes finished upstream sessions (queued by their tickets) until `stop` resolves.
    /// Runs once: a second call returns at once.
    pub async fn run_janitor(&self, stop: impl Future<Output = ()>) {
        let queue = self
            .janitor_queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(queue) = queue else {
            return;
        };
        let delete = |job: crate::janitor::Finished| async move {
            let settings = self.settings();
            if !settings.delete_sessions {
                return Ok(());
            }
            let account = self
                .pool
                .accounts()
                .iter()
                .find(|a| a.name == job.account)
                .cloned()
                .ok_or_else(|| format!("account {} is gone", job.account))?;
            self.upstream
                .delete_session(&account.credential, &settings, &job.session_id)
                .await
                .map_err(|e| e.to_string())
        };
        queue.run(delete, stop).await;
    }

    /// Re-checks accounts that need attention, each when its backoff says, until `stop`
    /// resolves. A re-check is the cheapest real call: creating a session.
    pub async fn run_rechecks(&self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let settings = self.settings();
            let tick = (settings.health.recheck_base / 4)
                .clamp(Duration::from_millis(10), Duration::from_secs(1));
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(tick) => {}
            }
            for account in self.pool.accounts().iter() {
                if !account.enabled || !account.recheck_due(Instant::now()) {
                    continue;
                }
                match self
                    .upstream
                    .create_session(&account.credential, &settings, "ondemand-proxy-recheck")
                    .await
                {
                    Ok(_) => {
                        tracing::info!(account = %account.name, "account re-check succeeded; back in rotation");
                        account.reset();
                    }
                    Err(error) => {
                        tracing::info!(account = %account.name, %error, "account re-check failed; will try again later");
                        account.record_recheck_failure(
                            &error.to_string(),
                            Instant::now(),
                            &settings.health,
                        );
                    }
                }
            }
        }
    }
}

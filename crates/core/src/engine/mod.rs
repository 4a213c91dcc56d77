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
//! failure before it can still fail over without the client seeing anything. From then on a
//! [`ChatStream`] yields dialect-neutral [`StreamEvent`]s and does the bookkeeping itself
//! (the account's health, reuse mode's memory, the usage record), however the stream ends.
//!
//! - [`failover`]: the loop over accounts and its decisions;
//! - [`session`]: one attempt on one account, on a fresh or a resumed upstream session;
//! - [`stream`]: the stream after its first content;
//! - [`upkeep`]: the background work (re-checks, the catalogue, deleting sessions).

mod doctor;
mod failover;
mod images;
mod parts;
mod problem;
mod session;
mod shape;
#[cfg(test)]
mod size_tests;
mod stream;
mod upkeep;

pub use doctor::DoctorRefusal;
use parts::ImageDesk;
pub use parts::{Clients, Routing, Sessions, Watch};
pub use problem::{ProblemKind, UpstreamProblem};
pub use stream::{ChatStream, Finish, StreamEvent, StreamFailure};

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;

use crate::chat::ChatPlan;
use crate::config::Settings;
use crate::endpoints::EndpointCatalog;
use crate::janitor::SessionTicket;
use crate::limits::GatePermit;
use crate::models::ModelCatalog;
use crate::pool::{Account, Lease, Pool};
use crate::record::{Attempts, RequestRecord};
use crate::sessions::SessionEntry;
use crate::tools::ToolCall;
use crate::upstream::error::{TimeoutPhase, UpstreamError};
use crate::upstream::{ResponseMode, SyncAnswer, UpstreamClient};
use crate::usage::TokenUsage;

/// The domain core shared by the server and the desktop shell.
#[derive(Debug)]
pub struct Engine {
    /// Live settings; each request reads one consistent snapshot.
    settings: ArcSwap<Settings>,
    /// Where requests go: the client, the accounts, the catalogues, the cap.
    pub routing: Routing,
    /// Upstream sessions: reuse mode's cache and the janitor.
    pub sessions: Sessions,
    /// Images given by URL, and their descriptions kept.
    images: ImageDesk,
    /// Who may ask on `/v1/*`, and how often.
    pub clients: Clients,
    /// The live dashboard's feed and `/metrics`.
    pub watch: Watch,
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
    /// An image could not be used: its URL could not be fetched, or its bytes are not PNG
    /// or JPEG. The client's fault, found before any account was tried.
    #[error("{message}")]
    BadImage { param: String, message: String },
    /// Every account is resting (or the upstream cap is full) for longer than the request
    /// may wait. `retry_after` is when one should be usable, if known.
    #[error("no on-demand.io account is available right now")]
    Unavailable {
        retry_after: Option<std::time::Duration>,
        last: Option<UpstreamError>,
    },
}

impl DispatchError {
    /// Notes on `record` which account the failure ended on, and after how many attempts.
    pub(crate) fn note_on(&self, record: &mut RequestRecord) {
        let event = &mut record.event;
        match self {
            Self::Rejected { account, .. } | Self::Proxy { account, .. } => {
                event.account = Some(account.clone());
                event.attempts = 1;
            }
            Self::Exhausted {
                account, attempts, ..
            } => {
                event.account = Some(account.clone());
                event.attempts = *attempts;
            }
            Self::Timeout { attempts } => event.attempts = *attempts,
            Self::NoAccounts
            | Self::Unavailable { .. }
            | Self::BadImage { .. }
            | Self::ModelRefused { .. } => event.attempts = record.attempts.count(),
        }
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

/// A finished non-stream answer; its record has been written.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The answer; with tools offered, its text outside the calls.
    pub answer: SyncAnswer,
    /// The calls the answer made (tools offered only).
    pub calls: Vec<crate::tools::ToolCall>,
    /// Exact when the upstream sent metrics, else estimated.
    pub usage: TokenUsage,
    /// The stop sequence (its index in the plan's) the proxy cut the answer at: the upstream
    /// did not honour it.
    pub stop: Option<usize>,
}

/// A request the engine could not answer. The caller answers the client and tells the
/// record with what status ([`RequestRecord::refused`]) before dropping it.
#[derive(Debug)]
pub struct Refusal {
    pub error: DispatchError,
    pub record: RequestRecord,
}

impl Engine {
    /// An engine over `pool` through `upstream`, shown to `watch`; image descriptions are
    /// kept in `image_store` (without one, nothing is cached).
    pub fn new(
        upstream: UpstreamClient,
        pool: Pool,
        catalog: ModelCatalog,
        settings: Settings,
        watch: Watch,
        image_store: Option<Arc<crate::store::Store>>,
    ) -> Self {
        Self {
            settings: ArcSwap::from_pointee(settings),
            routing: Routing::new(upstream, pool, catalog),
            sessions: Sessions::default(),
            images: ImageDesk {
                fetcher: crate::images::fetch::Fetcher::default(),
                store: image_store,
            },
            clients: Clients::default(),
            watch,
        }
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    /// A record for one request of `token`, shown live and counted in `/metrics` as
    /// `settings` say; `sink` is `None` when usage is not recorded.
    pub fn record(
        &self,
        sink: Option<crate::store::writer::UsageSink>,
        settings: &Settings,
        token: Arc<crate::client_tokens::ClientToken>,
    ) -> RequestRecord {
        let telemetry = settings.metrics.then(|| self.watch.telemetry.clone());
        RequestRecord::new(sink, self.watch.live.clone(), telemetry, token)
    }

    /// Sends simulated accounts' calls to the demo upstream at `url` from now on.
    pub fn simulate_at(&self, url: String) {
        self.routing.upstream.simulate_at(url);
    }

    /// Whether any account is simulated (its key says so).
    pub fn has_simulated_accounts(&self) -> bool {
        self.routing.pool.accounts().iter().any(|a| a.simulated())
    }

    pub fn set_settings(&self, settings: Settings) {
        self.settings.store(Arc::new(settings));
        self.routing.upstream.settings_changed();
    }

    pub fn catalog(&self) -> Arc<ModelCatalog> {
        self.routing.catalog.load_full()
    }

    pub fn set_catalog(&self, catalog: ModelCatalog) {
        self.routing.catalog.store(Arc::new(catalog));
    }

    /// The live endpoint catalogue (empty until a read succeeds).
    pub fn endpoints(&self) -> Arc<EndpointCatalog> {
        self.routing.endpoints.load_full()
    }

    pub fn set_endpoints(&self, endpoints: EndpointCatalog) {
        self.routing.endpoints.store(Arc::new(endpoints));
    }

    /// What the session janitor has done.
    pub fn janitor_stats(&self) -> crate::janitor::JanitorStats {
        self.sessions.janitor.stats()
    }

    /// A ticket for a session this account opened: deleted when dropped, if cleanup is on.
    fn ticket(&self, settings: &Settings, account: &str, session_id: &str) -> SessionTicket {
        if settings.delete_sessions {
            self.sessions.janitor.ticket(account, session_id)
        } else {
            SessionTicket::none()
        }
    }

    /// Queues reuse-mode sessions that left the cache for deletion.
    fn sessions_left(&self, left: Vec<SessionEntry>) {
        if self.settings().delete_sessions {
            for entry in left {
                self.sessions
                    .janitor
                    .finished(&entry.account, &entry.session_id);
            }
        }
    }

    /// A non-stream completion, bounded as a whole by `request_timeout`. The record is
    /// filled in and written on success; a refusal hands it back.
    pub async fn complete(
        &self,
        plan: &ChatPlan,
        mut record: RequestRecord,
    ) -> Result<Completion, Refusal> {
        let settings = self.settings();
        let settings = &*settings;
        record.asked(plan);
        let resume = self.resume(plan, settings);
        let attempts = &record.attempts;
        let run = async {
            self.prepare_images(plan, settings).await?;
            self.with_failover(
                settings,
                plan,
                attempts,
                resume,
                |account, session| async move {
                    self.attempt_sync(&account, plan, settings, session).await
                },
            )
            .await
        };
        let result = match tokio::time::timeout(settings.request_timeout, run).await {
            Ok(result) => result,
            Err(_) => Err(DispatchError::Timeout {
                attempts: attempts.count(),
            }),
        };
        record.images(plan);
        match result {
            Ok(((mut answer, mut session), hold, attempts)) => {
                let mut usage = TokenUsage::resolve(
                    answer.metrics,
                    &plan.query,
                    &answer.answer,
                    &answer.reasoning,
                );
                let calls = match shape::Shaper::new(plan) {
                    Some(mut shaper) => {
                        shaper.whole(&answer.answer);
                        if let Some(correction) = shaper.review()
                            && let Some((second, more)) = self
                                .correct(
                                    plan,
                                    &correction,
                                    hold.account(),
                                    &record.attempts,
                                    settings,
                                    &session.id,
                                )
                                .await
                        {
                            record.event.corrected = true;
                            usage = usage + more;
                            shaper.restart();
                            shaper.whole(&second.answer);
                        }
                        if let Some(why) = shaper.unfit() {
                            record.note(&format!("response_format not met: {why}"));
                        }
                        let (content, calls) = shaper.content();
                        answer.answer = content;
                        calls
                    }
                    None => Vec::new(),
                };
                record.event.tool_calls = calls.iter().map(ToolCall::summary).collect();
                let history = crate::conversation::answer_turn(&answer.answer, &calls);
                self.remember(plan, &history, &mut session, hold.account());
                record.answered_by(&hold.account().name, attempts, session.reused);
                record.count(&usage);
                // A stop sequence the upstream did not honour ends the prose there.
                let stop =
                    match crate::stops::cut(&answer.answer, &plan.model_configs.stop_sequences) {
                        Some((at, i)) if calls.is_empty() => {
                            answer.answer.truncate(at);
                            Some(i)
                        }
                        _ => None,
                    };
                Ok(Completion {
                    answer,
                    calls,
                    usage,
                    stop,
                })
            }
            Err(error) => {
                tracing::warn!(model = %plan.model, %error, "chat completion failed");
                error.note_on(&mut record);
                Err(Refusal { error, record })
            }
        }
    }

    /// The corrective follow-up, on the session the answer came from: one more query that
    /// asks for what the answer owes (a required call, valid arguments, JSON that fits). Its answer and usage, or `None` if it failed
    /// (the first answer then stands).
    async fn correct(
        &self,
        plan: &ChatPlan,
        correction: &str,
        account: &Account,
        attempts: &Attempts,
        settings: &Settings,
        session_id: &str,
    ) -> Option<(SyncAnswer, TokenUsage)> {
        let body = Self::query_body(plan, correction, ResponseMode::Sync);
        let second = attempts
            .upstream(self.routing.upstream.query_sync(
                account.caller(),
                settings,
                session_id,
                &body,
            ))
            .await;
        match second {
            Ok(second) => {
                let usage = TokenUsage::resolve(
                    second.metrics,
                    correction,
                    &second.answer,
                    &second.reasoning,
                );
                Some((second, usage))
            }
            Err(error) => {
                tracing::warn!(model = %plan.model, %error, "the corrective follow-up failed; the first answer stands");
                None
            }
        }
    }

    /// Opens a stream on the first account that produces content. The stream owns the
    /// plan and the record from then on; a refusal hands the record back.
    ///
    /// An `async` block rather than an `async fn`, which would keep its arguments twice
    /// (as given, and as its locals) while the stream waits for the upstream.
    pub fn open_stream(
        self: &Arc<Self>,
        plan: ChatPlan,
        mut record: RequestRecord,
    ) -> impl Future<Output = Result<ChatStream, Refusal>> + Send + 'static {
        let engine = self.clone();
        async move {
            let this = &engine;
            let settings = this.settings();
            let settings = &*settings;
            record.asked(&plan);
            let resume = this.resume(&plan, settings);
            let plan_ref = &plan;
            let attempts = &record.attempts;
            let opened = async {
                this.prepare_images(plan_ref, settings).await?;
                this.with_failover(
                    settings,
                    plan_ref,
                    attempts,
                    resume,
                    |account, session| async move {
                        this.attempt_stream(&account, plan_ref, settings, session)
                            .await
                    },
                )
                .await
            }
            .await;
            record.images(&plan);
            match opened {
                Ok(((first, rest, session), hold, attempts)) => {
                    record.answered_by(&hold.account().name, attempts, session.reused);
                    record.stream_began();
                    Ok(ChatStream::new(
                        engine, plan, hold, session, first, rest, record,
                    ))
                }
                Err(error) => {
                    tracing::warn!(model = %plan.model, %error, "stream request failed before any content");
                    error.note_on(&mut record);
                    Err(Refusal { error, record })
                }
            }
        }
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
    fn record_stream_end(&self, account: &Account, outcome: Result<(), &UpstreamError>) {
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
}

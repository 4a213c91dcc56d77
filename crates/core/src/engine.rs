//! The request path after planning: select an account → send → classify the outcome →
//! retry on another account or answer.
//!
//! Retry rules (§6, §10): an error the request caused (a 400 such as
//! `context_length_exceeded`) goes straight back to the client. Any other error tries the
//! next account at once; an account that failed for its credentials is not tried again in
//! this request; re-trying an account that already failed waits `retry_delay` first. At most
//! `1 + max_retries` attempts are made.
//!
//! Streams are not answered until the upstream's first content event has arrived, so that a
//! failure before it can still fail over without the client seeing anything.

use std::future::Future;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::chat::ChatPlan;
use crate::config::Settings;
use crate::models::ModelCatalog;
use crate::pool::{Account, Pool};
use crate::upstream::error::{Blame, UpstreamError};
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
    /// Live settings; each request reads one consistent snapshot.
    settings: ArcSwap<Settings>,
}

/// Why no answer could be had.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DispatchError {
    #[error("no on-demand.io account is configured")]
    NoAccounts,
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
}

/// A finished non-stream answer.
#[derive(Debug, Clone)]
pub struct Completion {
    pub answer: SyncAnswer,
    pub account: Arc<Account>,
    pub attempts: u32,
}

/// A stream whose first content event has arrived.
pub struct OpenedStream {
    pub account: Arc<Account>,
    /// Events up to and including the first content-bearing one, to send before `rest`.
    pub first: Vec<UpstreamEvent>,
    pub rest: EventStream,
    pub attempts: u32,
}

impl Engine {
    pub fn new(
        upstream: UpstreamClient,
        pool: Pool,
        catalog: ModelCatalog,
        settings: Settings,
    ) -> Self {
        Self {
            upstream,
            pool,
            catalog: ArcSwap::from_pointee(catalog),
            settings: ArcSwap::from_pointee(settings),
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

    /// A non-stream completion, bounded as a whole by `request_timeout`.
    pub async fn complete(&self, plan: &ChatPlan) -> Result<Completion, DispatchError> {
        let settings = self.settings();
        let settings = &*settings;
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let run = self.with_failover(settings, &attempts, |account| async move {
            let answer = self.attempt_sync(&account, plan, settings).await?;
            Ok((account, answer))
        });
        match tokio::time::timeout(settings.request_timeout, run).await {
            Ok(Ok(((account, answer), attempts))) => Ok(Completion {
                answer,
                account,
                attempts,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(DispatchError::Timeout {
                attempts: attempts.into_inner(),
            }),
        }
    }

    /// Opens a stream on the first account that produces content.
    pub async fn open_stream(&self, plan: &ChatPlan) -> Result<OpenedStream, DispatchError> {
        let settings = self.settings();
        let settings = &*settings;
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let ((account, first, rest), attempts) = self
            .with_failover(settings, &attempts, |account| async move {
                let (first, rest) = self.attempt_stream(&account, plan, settings).await?;
                Ok((account, first, rest))
            })
            .await?;
        Ok(OpenedStream {
            account,
            first,
            rest,
            attempts,
        })
    }

    fn query_body<'a>(plan: &'a ChatPlan, mode: ResponseMode) -> QueryBody<'a> {
        QueryBody {
            query: &plan.query,
            endpoint_id: &plan.endpoint_id,
            plugin_ids: [],
            response_mode: mode,
            fulfillment_only: true,
            model_configs: &plan.model_configs,
            reasoning_effort: plan.reasoning_effort,
        }
    }

    async fn attempt_sync(
        &self,
        account: &Account,
        plan: &ChatPlan,
        settings: &Settings,
    ) -> Result<SyncAnswer, UpstreamError> {
        let session = self
            .upstream
            .create_session(&account.credential, settings, &plan.external_user_id)
            .await?;
        let body = Self::query_body(plan, ResponseMode::Sync);
        self.upstream
            .query_sync(&account.credential, settings, &session, &body)
            .await
    }

    async fn attempt_stream(
        &self,
        account: &Account,
        plan: &ChatPlan,
        settings: &Settings,
    ) -> Result<(Vec<UpstreamEvent>, EventStream), UpstreamError> {
        let session = self
            .upstream
            .create_session(&account.credential, settings, &plan.external_user_id)
            .await?;
        let body = Self::query_body(plan, ResponseMode::Stream);
        let mut stream = self
            .upstream
            .query_stream(&account.credential, settings, &session, &body)
            .await?;
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
                        return Ok((first, stream));
                    }
                }
                Some(Err(e)) => return Err(e),
                None => return Err(UpstreamError::Truncated),
            }
        }
    }

    /// Runs `attempt` on accounts in turn until one succeeds or the rules say stop.
    /// `attempts` counts as it goes, so a caller's timeout can still report it.
    async fn with_failover<T, F, Fut>(
        &self,
        settings: &Settings,
        attempts: &std::sync::atomic::AtomicU32,
        mut attempt: F,
    ) -> Result<(T, u32), DispatchError>
    where
        F: FnMut(Arc<Account>) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        use std::sync::atomic::Ordering::Relaxed;
        let mut tried: Vec<String> = Vec::new();
        let mut unusable: Vec<String> = Vec::new();
        let mut last: Option<(UpstreamError, String)> = None;
        for _ in 0..=settings.max_retries {
            let Some(pick) = self.pool.pick(&tried, &unusable) else {
                break;
            };
            if !pick.fresh && !settings.retry_delay.is_zero() {
                tokio::time::sleep(settings.retry_delay).await;
            }
            let account = pick.account;
            let n = attempts.fetch_add(1, Relaxed) + 1;
            match attempt(account.clone()).await {
                Ok(value) => return Ok((value, n)),
                Err(error) => {
                    let blame = error.blame();
                    tracing::warn!(account = %account.name, attempt = n, ?blame, %error, "upstream attempt failed");
                    match blame {
                        Blame::Request => {
                            return Err(DispatchError::Rejected {
                                error,
                                account: account.name.clone(),
                            });
                        }
                        Blame::AccountUnusable => unusable.push(account.name.clone()),
                        Blame::AccountRateLimited | Blame::Transient => {}
                    }
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
                attempts: attempts.load(Relaxed),
                account,
            }),
            // The first pick only fails when the pool is empty.
            None => Err(DispatchError::NoAccounts),
        }
    }
}

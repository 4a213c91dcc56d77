//! One attempt on one account: a fresh upstream session with the whole transcript, or
//! reuse mode's session with only the new turn; and reading a stream up to its first content.

use std::borrow::Cow;
use std::future::Future;
use std::time::Instant;

use super::{Engine, SessionUse};
use crate::chat::ChatPlan;
use crate::config::Settings;
use crate::pool::{Account, Lease};
use crate::sessions::SessionEntry;
use crate::upstream::error::{TimeoutPhase, UpstreamError};
use crate::upstream::sse::UpstreamEvent;
use crate::upstream::{EventStream, QueryBody, ResponseMode, SyncAnswer};

impl Engine {
    /// Reuse mode: the session and account that hold this request's history, if it is still
    /// fresh and its account usable now. Anything else means a fresh session.
    pub(super) fn resume(&self, plan: &ChatPlan, settings: &Settings) -> Option<(Lease, String)> {
        let key = plan.conversation.as_ref()?.resume_key.as_ref()?;
        let now = Instant::now();
        let entry = self.sessions.cache.take_any(key)?;
        if now.saturating_duration_since(entry.last_used) > settings.session_timeout {
            self.sessions_left(vec![entry]);
            return None;
        }
        let serves = |a: &Account| self.serves(a, &plan.endpoint_id, now);
        match self
            .routing
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
    pub(super) fn serves(&self, account: &Account, endpoint_id: &str, now: Instant) -> bool {
        !account.model_blocked(endpoint_id, now)
            && self
                .routing
                .endpoints
                .load()
                .visible_to(endpoint_id, &account.name)
    }

    /// Reuse mode: remembers which session now holds the conversation including `answer`
    /// (and keeps it from deletion). In stateless mode the session stays due for deletion.
    pub(super) fn remember(
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
        let left = self.sessions.cache.put(
            conversation.history.key_after(answer),
            entry,
            settings.session_cache_size,
            settings.session_timeout,
        );
        self.sessions_left(left);
    }

    pub(super) fn query_body<'a>(
        plan: &'a ChatPlan,
        query: impl Into<Cow<'a, str>>,
        mode: ResponseMode,
    ) -> QueryBody<'a> {
        QueryBody {
            query: query.into(),
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

    pub(super) async fn attempt_sync(
        &self,
        account: &Account,
        plan: &ChatPlan,
        settings: &Settings,
        resume: Option<String>,
    ) -> Result<(SyncAnswer, SessionUse), UpstreamError> {
        let caller = account.caller();
        self.on_session(
            account,
            plan,
            settings,
            resume,
            ResponseMode::Sync,
            |id, body| async move {
                self.routing
                    .upstream
                    .query_sync(caller, settings, &id, &body)
                    .await
            },
        )
        .await
    }

    pub(super) async fn attempt_stream(
        &self,
        account: &Account,
        plan: &ChatPlan,
        settings: &Settings,
        resume: Option<String>,
    ) -> Result<(Vec<UpstreamEvent>, EventStream, SessionUse), UpstreamError> {
        let caller = account.caller();
        let (stream, session) = self
            .on_session(
                account,
                plan,
                settings,
                resume,
                ResponseMode::Stream,
                |id, body| async move {
                    self.routing
                        .upstream
                        .query_stream(caller, settings, &id, &body)
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
            let text = Self::query_for(plan, true);
            self.may_describe(account, plan, text)?;
            let mut ticket = self.ticket(settings, &account.name, &id);
            let text = self.described(account, plan, settings, &id, text).await?;
            match query(id.clone(), Self::query_body(plan, text, mode)).await {
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
        let text = Self::query_for(plan, false);
        self.may_describe(account, plan, text)?;
        let id = self
            .routing
            .upstream
            .create_session(account.caller(), settings, &plan.external_user_id)
            .await?;
        let ticket = self.ticket(settings, &account.name, &id);
        let text = self.described(account, plan, settings, &id, text).await?;
        let answer = query(id.clone(), Self::query_body(plan, text, mode)).await?;
        Ok((
            answer,
            SessionUse {
                id,
                reused: false,
                ticket,
            },
        ))
    }

    /// Refuses the attempt before a session is made when `text` holds an image still to
    /// describe and `account` cannot upload it now.
    fn may_describe(
        &self,
        account: &Account,
        plan: &ChatPlan,
        text: &str,
    ) -> Result<(), UpstreamError> {
        match &plan.images {
            Some(images) if images.pending_in(text) => Self::can_upload(account, Instant::now()),
            _ => Ok(()),
        }
    }

    /// `text` as sent: with its images' descriptions, when it has images.
    async fn described<'a>(
        &self,
        account: &Account,
        plan: &ChatPlan,
        settings: &Settings,
        session_id: &str,
        text: &'a str,
    ) -> Result<Cow<'a, str>, UpstreamError> {
        match &plan.images {
            Some(images) => Ok(Cow::Owned(
                self.describe_in(account, settings, session_id, images, text)
                    .await?,
            )),
            None => Ok(Cow::Borrowed(text)),
        }
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
}
